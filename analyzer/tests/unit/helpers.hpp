// Shared helpers: run the real scanner over in-memory kmaps.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "capmap/generator.hpp"
#include "capmap/input.hpp"
#include "capmap/scan.hpp"
#include "capmap/summary.hpp"

namespace capmap::test {

// A generated kmap, whole, in memory.
inline std::string generated_kmap(const GeneratorOptions &g)
{
	std::string text;
	generate_kmap(g, [&](std::string_view chunk) { text.append(chunk); });
	return text;
}

struct ScanSetup {
	Layout layout = Layout::Auto;
	bool lenient = false;
	unsigned threads = 1;
	size_t piece_size = 8u << 20;
	size_t block_size = 16u << 20;
	bool stream = false; // read through the stream path instead of the mapped one
};

inline ScanOptions to_options(const ScanSetup &s)
{
	ScanOptions o;
	o.layout = s.layout;
	o.lenient = s.lenient;
	o.threads = s.threads;
	o.piece_size = s.piece_size;
	o.block_size = s.block_size;
	return o;
}

// Runs visitors of type V over text and merges them, like the CLI does.
template <class V, class Make>
V scan_text(std::string_view text, const ScanSetup &setup, Make make, ScanStats *stats_out = nullptr)
{
	std::unique_ptr<Input> input = setup.stream ? Input::from_memory_stream(text, "test.kmap")
						    : Input::from_memory(text, "test.kmap");
	std::vector<V> visitors;
	for (unsigned i = 0; i < setup.threads; ++i)
		visitors.push_back(make());
	ScanStats stats = scan_kmap(*input, to_options(setup), visitors);
	for (unsigned i = 1; i < setup.threads; ++i)
		visitors[0].merge(visitors[i]);
	if (stats_out)
		*stats_out = stats;
	return std::move(visitors[0]);
}

inline SummaryVisitor summarize(std::string_view text, const ScanSetup &setup = {}, ScanStats *stats = nullptr)
{
	SummaryOptions so;
	so.accessors = true;
	SummaryVisitor s = scan_text<SummaryVisitor>(text, setup, [&] { return SummaryVisitor(so); }, stats);
	s.finish();
	return s;
}

// The message of the DataError that summarizing text throws, or "" if none.
inline std::string summary_error(std::string_view text, const ScanSetup &setup = {})
{
	try {
		summarize(text, setup);
	} catch (const DataError &e) {
		return e.what();
	}
	return "";
}

} // namespace capmap::test
