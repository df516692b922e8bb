// capmap diff A B: totals and per-site / cache / allocator / accessor changes.
#pragma once

#include <string>

#include "capmap/report.hpp"
#include "capmap/scan.hpp"
#include "capmap/summary.hpp"

namespace capmap {

struct DiffOptions {
	OutputFormat format = OutputFormat::Text;
	size_t top = 10; // rows per table, 0 = all changed rows
	const SymbolTable *symbols = nullptr;
};

// a and b must have been built with SummaryOptions::accessors set.
std::string render_diff(const SummaryVisitor &a, const ScanStats &a_stats, const SummaryVisitor &b,
			const ScanStats &b_stats, const DiffOptions &options);

} // namespace capmap
