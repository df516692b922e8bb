#include "capmap/summary.hpp"

#include <algorithm>

#include "capmap/errors.hpp"

namespace capmap {

namespace {

} // namespace

void SummaryVisitor::total_overflow(const char *what)
{
	throw DataError(std::string("expected the total of ") + what + " to fit in 64 bits, found an overflow");
}

namespace {

[[gnu::always_inline]] inline void add_checked(uint64_t &sum, uint64_t value, const char *what)
{
	if (__builtin_add_overflow(sum, value, &sum)) [[unlikely]]
		SummaryVisitor::total_overflow(what);
}

} // namespace

void SummaryVisitor::count_accessor(const AccessRecord &access)
{
	Counts &code = accessors[access.ip];
	++code.records;
	code.reads += access.reads;
	code.writes += access.writes;
}

void Counts::add(const Counts &other)
{
	objects += other.objects;
	live += other.live;
	bytes += other.bytes;
	records += other.records;
	reads += other.reads;
	writes += other.writes;
}

bool heavier(const ObjectRow &a, const ObjectRow &b)
{
	if (a.accesses() != b.accesses())
		return a.accesses() > b.accesses();
	if (a.va != b.va)
		return a.va < b.va;
	if (a.alloc_jiffies != b.alloc_jiffies)
		return a.alloc_jiffies < b.alloc_jiffies;
	return a.alloc_ip < b.alloc_ip;
}

void SummaryVisitor::note_comm(uint32_t pid, uint64_t comm_key)
{
	uint64_t &stored = process_comm[pid];
	if (stored == comm_key)
		return;
	if (stored == 0 || (stored != comm_key && names.lookup(comm_key) < names.lookup(stored)))
		stored = comm_key;
}

void SummaryVisitor::on_object(const ObjectRecord &object)
{
	ObjectRow &row = current_;
	row = ObjectRow{};
	static_cast<ObjectFields &>(row) = object;
	row.comm = names.intern(object.comm, comm_cache_);
	row.cache = names.intern(object.slab_cache, cache_cache_);
	row.allocator = names.intern(object.allocator, allocator_cache_);
	row.untracked = is_untracked_allocator(object.allocator);
	has_current_ = true;

	add_checked(totals.bytes, object.size, "object sizes");
	++totals.objects;
	uint64_t live = object.live() ? 1 : 0;
	totals.live += live;
	Counts &process = processes[object.alloc_pid];
	++process.objects;
	process.live += live;
	process.bytes += object.size;
	// Pseudo-objects of untracked memory carry no real task name.
	if (!row.untracked)
		note_comm(object.alloc_pid, row.comm);
}

void SummaryVisitor::on_object_end()
{
	if (!has_current_)
		return;
	has_current_ = false;
	const ObjectRow &row = current_;
	Counts c;
	c.objects = 1;
	c.live = row.live() ? 1 : 0;
	c.bytes = row.size;
	c.records = row.records;
	c.reads = row.reads;
	c.writes = row.writes;
	add_checked(totals.records, c.records, "access records");
	add_checked(totals.reads, c.reads, "reads");
	add_checked(totals.writes, c.writes, "writes");
	if (row.untracked)
		untracked.add(c);
	sites[row.alloc_ip].add(c);
	cache_lookup_.get(caches, row.cache).add(c);
	allocator_lookup_.get(allocators, row.allocator).add(c);
	keep_top(row);
}

void SummaryVisitor::keep_top(const ObjectRow &row)
{
	if (options_.top_objects == 0)
		return;
	if (top_objects.size() < options_.top_objects) {
		top_objects.push_back(row);
		std::push_heap(top_objects.begin(), top_objects.end(), heavier);
	} else if (heavier(row, top_objects.front())) {
		// The heap's front is the lightest kept object.
		std::pop_heap(top_objects.begin(), top_objects.end(), heavier);
		top_objects.back() = row;
		std::push_heap(top_objects.begin(), top_objects.end(), heavier);
	}
}

void SummaryVisitor::merge(const SummaryVisitor &other)
{
	add_checked(totals.objects, other.totals.objects, "objects");
	add_checked(totals.bytes, other.totals.bytes, "object sizes");
	add_checked(totals.records, other.totals.records, "access records");
	add_checked(totals.reads, other.totals.reads, "reads");
	add_checked(totals.writes, other.totals.writes, "writes");
	totals.live += other.totals.live;
	untracked.add(other.untracked);
	names.merge(other.names);
	auto merge_table = [](auto &into, const auto &from) {
		from.for_each([&](uint64_t key, const Counts &c) { into[key].add(c); });
	};
	merge_table(sites, other.sites);
	merge_table(caches, other.caches);
	merge_table(allocators, other.allocators);
	merge_table(processes, other.processes);
	merge_table(accessors, other.accessors);
	// The tables grew outside the lookup caches.
	cache_lookup_.forget();
	allocator_lookup_.forget();
	other.process_comm.for_each([&](uint64_t pid, uint64_t comm) { note_comm(static_cast<uint32_t>(pid), comm); });
	for (const ObjectRow &row : other.top_objects)
		keep_top(row);
}

void SummaryVisitor::finish()
{
	uint64_t sum;
	if (__builtin_add_overflow(totals.reads, totals.writes, &sum))
		throw DataError("expected the total of reads and writes to fit in 64 bits, found an overflow");
	std::sort(top_objects.begin(), top_objects.end(), heavier);
}

} // namespace capmap
