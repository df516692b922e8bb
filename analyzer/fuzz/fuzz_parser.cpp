// libFuzzer target: the kmap parser and scanner (mapped and stream paths,
// strict and lenient, split into small pieces across threads), the
// gzip/zstd readers and the symbols parser must never crash, hang or trip a
// sanitizer, whatever the bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "capmap/errors.hpp"
#include "capmap/input.hpp"
#include "capmap/scan.hpp"
#include "capmap/summary.hpp"
#include "capmap/symbols.hpp"

namespace {

void scan(std::string_view bytes, uint8_t config)
{
	using namespace capmap;
	ScanOptions options;
	constexpr Layout kLayouts[] = {Layout::Auto, Layout::V1, Layout::Legacy10, Layout::Legacy11};
	options.layout = kLayouts[config & 3];
	options.lenient = (config & 4) != 0;
	options.threads = (config & 8) ? 2 : 1;
	options.piece_size = (config & 16) ? 7 : 1u << 20;
	options.block_size = 1;
	std::unique_ptr<Input> input = (config & 32) ? Input::from_memory_stream(bytes, "fuzz") : Input::from_memory(bytes, "fuzz");
	SummaryOptions so;
	so.accessors = (config & 64) != 0;
	so.top_objects = 3;
	std::vector<SummaryVisitor> visitors(options.threads, SummaryVisitor(so));
	try {
		scan_kmap(*input, options, visitors);
		for (size_t i = 1; i < visitors.size(); ++i)
			visitors[0].merge(visitors[i]);
		visitors[0].finish();
	} catch (const DataError &) {
		// Malformed input is expected; anything else escapes and is a finding.
	}
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	std::string_view bytes(reinterpret_cast<const char *>(data) + 1, size - 1);
	uint8_t config = data[0];
	if (config == 0xff) {
		try {
			capmap::SymbolTable::parse(bytes, "fuzz.map");
		} catch (const capmap::DataError &) {
		}
		return 0;
	}
	scan(bytes, config);
	return 0;
}
