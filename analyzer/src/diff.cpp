#include "capmap/diff.hpp"

#include <algorithm>
#include <tuple>

#include <fmt/format.h>

#include "capmap/text.hpp"

namespace capmap {

namespace {

enum class Change { Added, Removed, Changed };

struct DiffRow {
	uint64_t key = 0;
	std::string label;
	Change change = Change::Changed;
	Counts a, b;
};

struct DiffTable {
	std::string name;
	std::string key_title;
	size_t added = 0, removed = 0, changed = 0, unchanged = 0;
	std::vector<DiffRow> rows;
};

uint64_t distance(uint64_t x, uint64_t y) { return x > y ? x - y : y - x; }

std::string delta(uint64_t from, uint64_t to)
{
	return to >= from ? fmt::format("+{}", to - from) : fmt::format("-{}", from - to);
}

template <class LabelFn>
DiffTable diff_table(std::string name, std::string key_title, const FlatMap<uint64_t, Counts> &a,
		     const FlatMap<uint64_t, Counts> &b, size_t top, LabelFn &&label)
{
	DiffTable t;
	t.name = std::move(name);
	t.key_title = std::move(key_title);
	std::vector<DiffRow> rows;
	a.for_each([&](uint64_t key, const Counts &ca) {
		const Counts *cb = b.find(key);
		if (!cb) {
			++t.removed;
			rows.push_back({key, {}, Change::Removed, ca, {}});
		} else if (!(*cb == ca)) {
			++t.changed;
			rows.push_back({key, {}, Change::Changed, ca, *cb});
		} else {
			++t.unchanged;
		}
	});
	b.for_each([&](uint64_t key, const Counts &cb) {
		if (!a.find(key)) {
			++t.added;
			rows.push_back({key, {}, Change::Added, {}, cb});
		}
	});
	std::sort(rows.begin(), rows.end(), [](const DiffRow &x, const DiffRow &y) {
		uint64_t dx = distance(x.a.accesses(), x.b.accesses()), dy = distance(y.a.accesses(), y.b.accesses());
		if (dx != dy)
			return dx > dy;
		uint64_t ox = distance(x.a.objects, x.b.objects), oy = distance(y.a.objects, y.b.objects);
		if (ox != oy)
			return ox > oy;
		return x.key < y.key;
	});
	if (top && rows.size() > top)
		rows.resize(top);
	for (DiffRow &r : rows)
		r.label = label(r.key);
	t.rows = std::move(rows);
	return t;
}

std::vector<DiffTable> diff_tables(const SummaryVisitor &a, const SummaryVisitor &b, const DiffOptions &o)
{
	auto name = [&](uint64_t key) {
		std::string_view n = a.names.lookup(key);
		return std::string(n == "?" ? b.names.lookup(key) : n);
	};
	auto code = [&](uint64_t ip) { return site_label(ip, o.symbols); };
	std::vector<DiffTable> tables;
	tables.push_back(diff_table("sites", "allocation site", a.sites, b.sites, o.top, code));
	tables.push_back(diff_table("caches", "slab cache", a.caches, b.caches, o.top, name));
	tables.push_back(diff_table("allocators", "allocator", a.allocators, b.allocators, o.top, name));
	tables.push_back(diff_table("accessors", "access ip", a.accessors, b.accessors, o.top, code));
	return tables;
}

const char *change_name(Change c)
{
	switch (c) {
	case Change::Added:
		return "added";
	case Change::Removed:
		return "removed";
	case Change::Changed:
		break;
	}
	return "changed";
}

std::string render_text(const SummaryVisitor &a, const ScanStats &as, const SummaryVisitor &b, const ScanStats &bs,
			const std::vector<DiffTable> &tables)
{
	fmt::memory_buffer out;
	auto it = std::back_inserter(out);
	fmt::format_to(it, "a: {} ({} {})\nb: {} ({} {})\n\n", as.name, as.lines, as.stream ? "records" : "lines", bs.name,
		       bs.lines, bs.stream ? "records" : "lines");
	fmt::format_to(it, "  {:<16} {:>14} {:>14} {:>14}\n", "totals", "a", "b", "b - a");
	auto total = [&](const char *what, uint64_t x, uint64_t y) {
		fmt::format_to(it, "  {:<16} {:>14} {:>14} {:>14}\n", what, x, y, delta(x, y));
	};
	total("objects", a.totals.objects, b.totals.objects);
	total("live", a.totals.live, b.totals.live);
	total("bytes", a.totals.bytes, b.totals.bytes);
	total("access records", a.totals.records, b.totals.records);
	total("reads", a.totals.reads, b.totals.reads);
	total("writes", a.totals.writes, b.totals.writes);
	total("untracked", a.untracked.accesses(), b.untracked.accesses());
	for (const DiffTable &t : tables) {
		fmt::format_to(it, "\n{}: {} added, {} removed, {} changed, {} unchanged{}\n", t.name, t.added, t.removed,
			       t.changed, t.unchanged,
			       t.rows.size() < t.added + t.removed + t.changed ? fmt::format(" (top {} by access change)", t.rows.size())
									       : std::string());
		if (t.rows.empty())
			continue;
		size_t width = t.key_title.size();
		for (const DiffRow &r : t.rows)
			width = std::min<size_t>(60, std::max(width, r.label.size()));
		fmt::format_to(it, "    {:<{}} {:>22} {:>30} {:>30}\n", t.key_title, width, "objects a -> b",
			       "reads a -> b", "writes a -> b");
		for (const DiffRow &r : t.rows) {
			char mark = r.change == Change::Added ? '+' : r.change == Change::Removed ? '-' : '~';
			auto cell = [](uint64_t x, uint64_t y) { return fmt::format("{} -> {} ({})", x, y, delta(x, y)); };
			fmt::format_to(it, "  {} {:<{}} {:>22} {:>30} {:>30}\n", mark, r.label, width,
				       cell(r.a.objects, r.b.objects), cell(r.a.reads, r.b.reads), cell(r.a.writes, r.b.writes));
		}
	}
	return fmt::to_string(out);
}

std::string render_json(const SummaryVisitor &a, const ScanStats &as, const SummaryVisitor &b, const ScanStats &bs,
			const std::vector<DiffTable> &tables)
{
	fmt::memory_buffer out;
	auto it = std::back_inserter(out);
	fmt::format_to(it, "{{\n  \"a\": {},\n  \"b\": {},\n", input_json(as), input_json(bs));
	fmt::format_to(it, "  \"totals\": {{\"a\": {{{}}}, \"b\": {{{}}}}},\n", counts_json(a.totals), counts_json(b.totals));
	fmt::format_to(it, "  \"untracked\": {{\"a\": {{{}}}, \"b\": {{{}}}}}", counts_json(a.untracked),
		       counts_json(b.untracked));
	for (const DiffTable &t : tables) {
		fmt::format_to(it, ",\n  \"{}\": {{\"added\": {}, \"removed\": {}, \"changed\": {}, \"unchanged\": {}, \"rows\": [",
			       t.name, t.added, t.removed, t.changed, t.unchanged);
		for (size_t i = 0; i < t.rows.size(); ++i) {
			const DiffRow &r = t.rows[i];
			std::string key = t.name == "sites" || t.name == "accessors" ? hex_address(r.key) : r.label;
			fmt::format_to(it, "{}\n    {{\"key\": {}, \"label\": {}, \"change\": \"{}\", \"a\": {{{}}}, \"b\": {{{}}}}}",
				       i ? "," : "", json_string(key), json_string(r.label), change_name(r.change),
				       counts_json(r.a), counts_json(r.b));
		}
		fmt::format_to(it, "]}}");
	}
	fmt::format_to(it, "\n}}\n");
	return fmt::to_string(out);
}

} // namespace

std::string render_diff(const SummaryVisitor &a, const ScanStats &a_stats, const SummaryVisitor &b,
			const ScanStats &b_stats, const DiffOptions &options)
{
	std::vector<DiffTable> tables = diff_tables(a, b, options);
	if (options.format == OutputFormat::Json)
		return render_json(a, a_stats, b, b_stats, tables);
	return render_text(a, a_stats, b, b_stats, tables);
}

} // namespace capmap
