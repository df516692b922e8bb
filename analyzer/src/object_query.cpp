#include "capmap/object_query.hpp"

#include <algorithm>
#include <tuple>

#include <fmt/format.h>

#include "capmap/text.hpp"

namespace capmap {

void ObjectQueryVisitor::on_object(const ObjectRecord &o)
{
	// A zero-sized object still "contains" its own address.
	uint64_t extent = o.size == 0 ? 1 : o.size;
	collecting_ = address_ >= o.va && address_ - o.va < extent;
	if (!collecting_)
		return;
	FoundObject f;
	static_cast<ObjectFields &>(f) = o;
	f.allocator = o.allocator;
	f.comm = o.comm;
	f.slab_cache = o.slab_cache;
	found.push_back(std::move(f));
}

void ObjectQueryVisitor::on_access(const AccessRecord &access)
{
	if (collecting_)
		found.back().accesses.push_back(access);
}

void ObjectQueryVisitor::merge(const ObjectQueryVisitor &other)
{
	found.insert(found.end(), other.found.begin(), other.found.end());
}

void ObjectQueryVisitor::finish()
{
	std::sort(found.begin(), found.end(), [](const FoundObject &a, const FoundObject &b) {
		return std::tie(a.alloc_jiffies, a.va, a.alloc_ip, a.size) < std::tie(b.alloc_jiffies, b.va, b.alloc_ip, b.size);
	});
}

namespace {

std::string pid_text(uint32_t pid) { return pid == kUnknownPid ? std::string("-") : fmt::format("{}", pid); }

std::string render_text(const ObjectQueryVisitor &q, uint64_t address, const SymbolTable *symbols)
{
	fmt::memory_buffer out;
	auto it = std::back_inserter(out);
	fmt::format_to(it, "objects containing {}: {}\n", hex_address(address), q.found.size());
	for (size_t i = 0; i < q.found.size(); ++i) {
		const FoundObject &f = q.found[i];
		fmt::format_to(it, "\nobject {}: va {} size {} (address is at +0x{:x})\n", i + 1, hex_address(f.va), f.size,
			       address - f.va);
		fmt::format_to(it, "  allocated  jiffies {} by pid {} ({}) at {} ({}, cache {})\n", f.alloc_jiffies,
			       f.alloc_pid, f.comm, site_label(f.alloc_ip, symbols), f.allocator, f.slab_cache);
		if (f.free_jiffies == 0)
			fmt::format_to(it, "  freed      no (live when the kmap was written)\n");
		else
			fmt::format_to(it, "  freed      jiffies {} at {} (lived {} jiffies)\n", f.free_jiffies,
				       site_label(f.free_ip, symbols), f.free_jiffies - f.alloc_jiffies);
		fmt::format_to(it, "  accessed by {} (ip, pid):\n", f.accesses.size());
		uint64_t reads = 0, writes = 0;
		for (const AccessRecord &a : f.accesses) {
			fmt::format_to(it, "    {:<40} pid {:>7}  reads {:>10}  writes {:>10}\n", site_label(a.ip, symbols),
				       pid_text(a.pid), a.reads, a.writes);
			reads += a.reads;
			writes += a.writes;
		}
		fmt::format_to(it, "    {:<40} {:>11}  reads {:>10}  writes {:>10}\n", "total", "", reads, writes);
	}
	return fmt::to_string(out);
}

std::string render_json(const ObjectQueryVisitor &q, uint64_t address, const ScanStats &stats, const SymbolTable *symbols)
{
	fmt::memory_buffer out;
	auto it = std::back_inserter(out);
	fmt::format_to(it, "{{\n  \"input\": {},\n  \"address\": \"{}\",\n  \"objects\": [", input_json(stats),
		       hex_address(address));
	for (size_t i = 0; i < q.found.size(); ++i) {
		const FoundObject &f = q.found[i];
		fmt::format_to(it, "{}\n    {{{}, \"comm\": {}, \"allocator\": {}, \"cache\": {}, \"accesses\": [",
			       i ? "," : "", object_fields_json(f, symbols), json_string(f.comm), json_string(f.allocator),
			       json_string(f.slab_cache));
		for (size_t j = 0; j < f.accesses.size(); ++j) {
			const AccessRecord &a = f.accesses[j];
			fmt::format_to(it, "{}\n      {{\"ip\": \"{}\", \"code\": {}, \"pid\": {}, \"reads\": {}, \"writes\": {}}}",
				       j ? "," : "", hex_address(a.ip), json_string(site_label(a.ip, symbols)),
				       a.pid == kUnknownPid ? std::string("null") : fmt::format("{}", a.pid), a.reads,
				       a.writes);
		}
		fmt::format_to(it, "]}}");
	}
	fmt::format_to(it, "]\n}}\n");
	return fmt::to_string(out);
}

} // namespace

std::string render_objects(const ObjectQueryVisitor &query, uint64_t address, const ScanStats &stats,
			   OutputFormat format, const SymbolTable *symbols)
{
	if (format == OutputFormat::Json)
		return render_json(query, address, stats, symbols);
	return render_text(query, address, symbols);
}

} // namespace capmap
