// libFuzzer target: the stream (.mzs) parser, strict and lenient, mapped and
// read through small buffers, read once or twice, into the summary and into
// the kmap writer, must never crash, hang or trip a sanitizer, whatever the
// bytes; and the kmap text it writes must parse back.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "capmap/errors.hpp"
#include "capmap/input.hpp"
#include "capmap/stream.hpp"
#include "capmap/summary.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	using namespace capmap;
	if (size == 0)
		return 0;
	const uint8_t config = data[0];
	std::string_view bytes(reinterpret_cast<const char *>(data) + 1, size - 1);
	ScanOptions options;
	options.lenient = (config & 1) != 0;
	const bool stream = (config & 2) != 0;
	options.block_size = (config & 4) ? 1 + (config >> 5) : 1u << 16;
	Reopen reopen;
	if (config & 16)
		reopen = [bytes] { return Input::from_memory_stream(bytes, "fuzz.mzs"); };
	auto input = stream ? Input::from_memory_stream(bytes, "fuzz.mzs") : Input::from_memory(bytes, "fuzz.mzs");
	try {
		if (config & 8) {
			std::string text;
			KmapWriter writer([&](std::string_view chunk) { text.append(chunk); });
			VisitorSink<KmapWriter> sink(writer);
			scan_stream_input(*input, options, sink, reopen);
			writer.flush();
			// What convert writes is a valid kmap.
			struct Ignore {
				void on_object(const ObjectRecord &) {}
				void on_access(const AccessRecord &) {}
				void on_object_end() {}
			} ignore;
			PieceResult r = parse_piece(text, Layout::V1, false, false, true, ignore);
			if (r.failed)
				__builtin_trap();
		} else {
			SummaryOptions so;
			so.accessors = true;
			so.top_objects = 3;
			std::vector<SummaryVisitor> visitors(1, SummaryVisitor(so));
			scan_stream(*input, options, visitors, reopen);
			visitors[0].finish();
		}
	} catch (const DataError &) {
		// Malformed input is expected; anything else escapes and is a finding.
	}
	return 0;
}
