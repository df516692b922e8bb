// Renders the summary in text, JSON or CSV.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capmap/scan.hpp"
#include "capmap/summary.hpp"
#include "capmap/symbols.hpp"

namespace capmap {

enum class OutputFormat { Text, Json, Csv, Dot, Graphml };
std::optional<OutputFormat> output_format_from_name(std::string_view name);

enum class SortKey { Accesses, Objects, Bytes };
std::optional<SortKey> sort_key_from_name(std::string_view name);

struct TableRow {
	uint64_t key = 0;
	std::string label;
	Counts counts;
};

// A summary table cut to its top rows; `others` holds the sum of the rest so
// that rows + others == total.
struct Table {
	std::string name;      // "sites", "caches", ...
	std::string key_title; // column heading of the label
	size_t distinct = 0;
	std::vector<TableRow> rows;
	size_t other_rows = 0;
	Counts others;
	Counts total;
};

struct SummaryReportOptions {
	OutputFormat format = OutputFormat::Text;
	size_t top = 10; // rows per table, 0 = all
	SortKey sort = SortKey::Accesses;
	const SymbolTable *symbols = nullptr;
};

std::vector<Table> summary_tables(const SummaryVisitor &summary, const SummaryReportOptions &options);
std::string render_summary(const SummaryVisitor &summary, const ScanStats &stats,
			   const SummaryReportOptions &options);

// Shared pieces for the other reports.
std::string site_label(uint64_t ip, const SymbolTable *symbols);
std::string counts_json(const Counts &c);
std::string input_json(const ScanStats &stats);
// "va": ..., "size": ..., ... of an object, without braces.
std::string object_fields_json(const ObjectFields &fields, const SymbolTable *symbols);

} // namespace capmap
