#include "capmap/report.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "capmap/text.hpp"

namespace capmap {

std::optional<OutputFormat> output_format_from_name(std::string_view name)
{
	if (name == "text")
		return OutputFormat::Text;
	if (name == "json")
		return OutputFormat::Json;
	if (name == "csv")
		return OutputFormat::Csv;
	if (name == "dot")
		return OutputFormat::Dot;
	if (name == "graphml")
		return OutputFormat::Graphml;
	return std::nullopt;
}

std::optional<SortKey> sort_key_from_name(std::string_view name)
{
	if (name == "accesses")
		return SortKey::Accesses;
	if (name == "objects")
		return SortKey::Objects;
	if (name == "bytes")
		return SortKey::Bytes;
	return std::nullopt;
}

std::string site_label(uint64_t ip, const SymbolTable *symbols)
{
	return symbols ? symbols->describe(ip) : hex_address(ip);
}

namespace {

uint64_t sort_value(const Counts &c, SortKey sort)
{
	switch (sort) {
	case SortKey::Objects:
		return c.objects;
	case SortKey::Bytes:
		return c.bytes;
	case SortKey::Accesses:
		break;
	}
	return c.accesses();
}

} // namespace

namespace {

// Builds a table from per-key counts; label(key) names a row.
template <class CountsTable, class LabelFn>
Table make_table(std::string name, std::string key_title, const CountsTable &counts, size_t top,
		 SortKey sort, LabelFn &&label)
{
	Table table;
	table.name = std::move(name);
	table.key_title = std::move(key_title);
	table.distinct = counts.size();
	auto entries = counts.entries();
	std::sort(entries.begin(), entries.end(), [&](const auto &a, const auto &b) {
		uint64_t va = sort_value(a.second, sort), vb = sort_value(b.second, sort);
		if (va != vb)
			return va > vb;
		if (a.second.accesses() != b.second.accesses())
			return a.second.accesses() > b.second.accesses();
		if (a.second.objects != b.second.objects)
			return a.second.objects > b.second.objects;
		return a.first < b.first;
	});
	size_t shown = top == 0 ? entries.size() : std::min(top, entries.size());
	for (size_t i = 0; i < entries.size(); ++i) {
		table.total.add(entries[i].second);
		if (i < shown)
			table.rows.push_back({entries[i].first, label(entries[i].first), entries[i].second});
		else
			table.others.add(entries[i].second);
	}
	table.other_rows = entries.size() - shown;
	return table;
}

} // namespace

std::vector<Table> summary_tables(const SummaryVisitor &s, const SummaryReportOptions &o)
{
	std::vector<Table> tables;
	tables.push_back(make_table("sites", "allocation site", s.sites, o.top, o.sort,
				    [&](uint64_t ip) { return site_label(ip, o.symbols); }));
	tables.push_back(make_table("caches", "slab cache", s.caches, o.top, o.sort,
				    [&](uint64_t key) { return std::string(s.names.lookup(key)); }));
	tables.push_back(make_table("allocators", "allocator", s.allocators, o.top, o.sort,
				    [&](uint64_t key) { return std::string(s.names.lookup(key)); }));
	tables.push_back(make_table("processes", "pid comm", s.processes, o.top, o.sort, [&](uint64_t pid) {
		const uint64_t *comm = s.process_comm.find(pid);
		std::string id = pid == kUnknownPid ? std::string("-") : fmt::format("{}", pid);
		return comm ? fmt::format("{} {}", id, s.names.lookup(*comm)) : id + " -";
	}));
	if (!s.accessors.empty())
		tables.push_back(make_table("accessors", "access ip", s.accessors, o.top, o.sort,
					    [&](uint64_t ip) { return site_label(ip, o.symbols); }));
	return tables;
}

std::string counts_json(const Counts &c)
{
	return fmt::format("\"objects\": {}, \"live\": {}, \"bytes\": {}, \"access_records\": {}, \"reads\": {}, "
			   "\"writes\": {}",
			   c.objects, c.live, c.bytes, c.records, c.reads, c.writes);
}

std::string object_fields_json(const ObjectFields &f, const SymbolTable *symbols)
{
	return fmt::format("\"va\": \"{}\", \"size\": {}, \"alloc_ip\": \"{}\", \"site\": {}, \"alloc_pid\": {}, "
			   "\"alloc_jiffies\": {}, \"free_jiffies\": {}, \"free_ip\": \"{}\"",
			   hex_address(f.va), f.size, hex_address(f.alloc_ip), json_string(site_label(f.alloc_ip, symbols)),
			   f.alloc_pid, f.alloc_jiffies, f.free_jiffies, hex_address(f.free_ip));
}

std::string input_json(const ScanStats &st)
{
	if (st.stream) {
		const StreamStats &ss = st.stream_stats;
		return fmt::format(
			"{{\"file\": {}, \"format\": \"stream\", \"version\": {}, \"compression\": \"{}\", \"bytes\": {}, "
			"\"records\": {}, \"cpus\": {}, \"sessions\": {}, \"release\": {}, \"lost_objects\": {}, "
			"\"lost_entries\": {}, \"incomplete_objects\": {}, \"missing_entries\": {}, "
			"\"live_records\": {}, \"superseded_live_records\": {}, \"second_pass\": {}, \"unknown_records\": {}, "
			"\"skipped_records\": {}, \"orphaned_access_records\": {}}}",
			json_string(st.name), ss.version, st.compression, st.bytes, st.lines, ss.cpus, ss.sessions,
			json_string(ss.release), ss.lost_objects, ss.lost_entries, ss.incomplete, ss.missing_entries,
			ss.live_records, ss.superseded, ss.second_pass ? "true" : "false", ss.unknown_records, st.skipped,
			st.orphaned);
	}
	return fmt::format("{{\"file\": {}, \"layout\": \"{}\", \"compression\": \"{}\", \"bytes\": {}, \"lines\": {}, "
			   "\"skipped_lines\": {}, \"orphaned_access_lines\": {}}}",
			   json_string(st.name), layout_name(st.layout), st.compression, st.bytes, st.lines, st.skipped,
			   st.orphaned);
}

namespace {

std::string object_label(const SummaryVisitor &s, const ObjectRow &row, const SymbolTable *symbols)
{
	return fmt::format("{} {} {}", s.names.lookup(row.cache), s.names.lookup(row.comm), site_label(row.alloc_ip, symbols));
}

void text_table(fmt::memory_buffer &out, const Table &t)
{
	size_t width = t.key_title.size();
	for (const TableRow &r : t.rows)
		width = std::max(width, r.label.size());
	std::string others = fmt::format("({} others)", t.other_rows);
	if (t.other_rows)
		width = std::max(width, others.size());
	width = std::min<size_t>(width, 60);
	fmt::format_to(std::back_inserter(out), "\n{}: {} distinct{}\n", t.name, t.distinct,
		       t.other_rows ? fmt::format(", top {} shown", t.rows.size()) : std::string());
	auto row = [&](std::string_view label, const Counts &c) {
		fmt::format_to(std::back_inserter(out), "  {:<{}} {:>10} {:>8} {:>12} {:>10} {:>12} {:>12}\n", label,
			       width, c.objects, c.live, c.bytes, c.records, c.reads, c.writes);
	};
	fmt::format_to(std::back_inserter(out), "  {:<{}} {:>10} {:>8} {:>12} {:>10} {:>12} {:>12}\n", t.key_title,
		       width, "objects", "live", "bytes", "records", "reads", "writes");
	for (const TableRow &r : t.rows)
		row(r.label, r.counts);
	if (t.other_rows)
		row(others, t.others);
	row("total", t.total);
}

std::string render_text(const SummaryVisitor &s, const ScanStats &st, const std::vector<Table> &tables,
			const SummaryReportOptions &o)
{
	fmt::memory_buffer out;
	auto it = std::back_inserter(out);
	const Counts &t = s.totals;
	const std::string compression = st.compression == "none" ? std::string() : ", " + st.compression;
	const StreamStats &ss = st.stream_stats;
	if (st.stream)
		fmt::format_to(it, "stream     {} (version {}{}, {} CPUs, {} records, {} bytes, {} LIVE records superseded{})\n",
			       st.name, ss.version, compression, ss.cpus, st.lines, st.bytes, ss.superseded,
			       ss.second_pass || ss.live_records == 0 ? "" : " by later records only: read once");
	else
		fmt::format_to(it, "kmap       {} (layout {}{}, {} lines, {} bytes)\n", st.name, layout_name(st.layout),
			       compression, st.lines, st.bytes);
	fmt::format_to(it, "objects    {} (live {}, freed {}), {} bytes\n", t.objects, t.live, t.objects - t.live,
		       t.bytes);
	fmt::format_to(it, "accesses   {} records: {} reads, {} writes\n", t.records, t.reads, t.writes);
	fmt::format_to(it, "untracked  {} records: {} reads, {} writes (in {} pseudo-objects, included above)\n",
		       s.untracked.records, s.untracked.reads, s.untracked.writes, s.untracked.objects);
	if (st.stream) {
		fmt::format_to(it, "lost       {} objects, {} access entries (the stream's LOST records)\n", ss.lost_objects,
			       ss.lost_entries);
		fmt::format_to(it, "incomplete {} objects lack {} access entries (included above with the entries that came)\n",
			       ss.incomplete, ss.missing_entries);
	}
	for (const Table &table : tables)
		text_table(out, table);
	fmt::format_to(it, "\nmost accessed objects: top {}\n", s.top_objects.size());
	fmt::format_to(it, "  {:<16} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12}  {}\n", "va", "size", "alloc", "free",
		       "records", "reads", "writes", "cache comm site");
	for (const ObjectRow &r : s.top_objects)
		fmt::format_to(it, "  {:<16} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12}  {}\n", hex_address(r.va), r.size,
			       r.alloc_jiffies, r.free_jiffies == 0 ? std::string("live") : fmt::format("{}", r.free_jiffies),
			       r.records, r.reads, r.writes, object_label(s, r, o.symbols));
	if (st.stream && (st.skipped || st.orphaned))
		fmt::format_to(it, "\nskipped    {} malformed records and {} ACCESSES records of skipped objects (first: {})\n",
			       st.skipped, st.orphaned, st.first_skip);
	else if (st.skipped || st.orphaned)
		fmt::format_to(it, "\nskipped    {} malformed lines and {} access lines of skipped objects (first: {})\n",
			       st.skipped, st.orphaned, st.first_skip);
	return fmt::to_string(out);
}

// Machine-readable key of a row: the address, the pid or the name.
std::string row_key(const Table &t, const TableRow &r)
{
	if (t.name == "sites" || t.name == "accessors")
		return hex_address(r.key);
	if (t.name == "processes")
		return r.key == kUnknownPid ? std::string("-") : fmt::format("{}", r.key);
	return r.label;
}

std::string render_json(const SummaryVisitor &s, const ScanStats &st, const std::vector<Table> &tables,
			const SummaryReportOptions &o)
{
	fmt::memory_buffer out;
	auto it = std::back_inserter(out);
	fmt::format_to(it, "{{\n  \"input\": {},\n", input_json(st));
	fmt::format_to(it, "  \"totals\": {{{}, \"freed\": {}}},\n", counts_json(s.totals), s.totals.objects - s.totals.live);
	fmt::format_to(it, "  \"untracked\": {{{}}},\n", counts_json(s.untracked));
	for (const Table &t : tables) {
		fmt::format_to(it, "  {}: {{\"distinct\": {}, \"rows\": [", json_string(t.name), t.distinct);
		for (size_t i = 0; i < t.rows.size(); ++i)
			fmt::format_to(it, "{}\n    {{\"key\": {}, \"label\": {}, {}}}", i ? "," : "",
				       json_string(row_key(t, t.rows[i])),
				       json_string(t.rows[i].label), counts_json(t.rows[i].counts));
		fmt::format_to(it, "],\n    \"others\": {{\"rows\": {}, {}}},\n    \"total\": {{{}}}}},\n", t.other_rows,
			       counts_json(t.others), counts_json(t.total));
	}
	fmt::format_to(it, "  \"objects\": [");
	for (size_t i = 0; i < s.top_objects.size(); ++i) {
		const ObjectRow &r = s.top_objects[i];
		fmt::format_to(it,
			       "{}\n    {{{}, \"comm\": {}, \"cache\": {}, \"allocator\": {}, \"access_records\": {}, "
			       "\"reads\": {}, \"writes\": {}}}",
			       i ? "," : "", object_fields_json(r, o.symbols), json_string(s.names.lookup(r.comm)),
			       json_string(s.names.lookup(r.cache)), json_string(s.names.lookup(r.allocator)), r.records, r.reads,
			       r.writes);
	}
	fmt::format_to(it, "]\n}}\n");
	return fmt::to_string(out);
}

std::string render_csv(const SummaryVisitor &s, const std::vector<Table> &tables, const SummaryReportOptions &o)
{
	fmt::memory_buffer out;
	auto it = std::back_inserter(out);
	fmt::format_to(it, "table,label,objects,live,bytes,access_records,reads,writes\n");
	auto row = [&](std::string_view table, std::string_view label, const Counts &c) {
		fmt::format_to(it, "{},{},{},{},{},{},{},{}\n", table, csv_field(label), c.objects, c.live, c.bytes,
			       c.records, c.reads, c.writes);
	};
	row("totals", "total", s.totals);
	row("untracked", "total", s.untracked);
	for (const Table &t : tables) {
		for (const TableRow &r : t.rows)
			row(t.name, r.label, r.counts);
		if (t.other_rows)
			row(t.name, fmt::format("({} others)", t.other_rows), t.others);
	}
	for (const ObjectRow &r : s.top_objects) {
		Counts c{1, r.free_jiffies == 0 ? 1u : 0u, r.size, r.records, r.reads, r.writes};
		row("objects", fmt::format("{} {}", hex_address(r.va), object_label(s, r, o.symbols)), c);
	}
	return fmt::to_string(out);
}

} // namespace

std::string render_summary(const SummaryVisitor &summary, const ScanStats &stats, const SummaryReportOptions &options)
{
	std::vector<Table> tables = summary_tables(summary, options);
	switch (options.format) {
	case OutputFormat::Json:
		return render_json(summary, stats, tables, options);
	case OutputFormat::Csv:
		return render_csv(summary, tables, options);
	default:
		return render_text(summary, stats, tables, options);
	}
}

} // namespace capmap
