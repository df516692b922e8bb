#include "capmap/summary.hpp"

#include <algorithm>

#include "capmap/errors.hpp"

namespace capmap {

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

uint32_t SummaryVisitor::site_row_for(const ObjectRecord &object)
{
	uint32_t &last_row = last_site_row_[object.alloc_ip];
	const NameBytes allocator = NameBytes::of(object.allocator);
	const NameBytes cache = NameBytes::of(object.slab_cache);
	if (last_row != 0) [[likely]] {
		const SiteRow &row = site_rows_[last_row - 1];
		if (row.allocator_text == allocator && row.cache_text == cache) [[likely]]
			return last_row - 1;
	}
	return find_site_row(last_row, object, allocator, cache);
}

uint32_t SummaryVisitor::find_site_row(uint32_t &last_row, const ObjectRecord &object, const NameBytes &allocator,
				       const NameBytes &cache)
{
	SiteKey key{object.alloc_ip, names.intern(object.slab_cache, cache, cache_cache_),
		    names.intern(object.allocator, allocator, allocator_cache_)};
	uint32_t row = site_row_of(key, is_untracked_allocator(object.allocator), allocator, cache);
	last_row = row + 1;
	return row;
}

uint32_t SummaryVisitor::site_row_of(const SiteKey &key, bool untracked_allocator, const NameBytes &allocator,
				     const NameBytes &cache)
{
	uint32_t &index = site_row_index_[key];
	if (index == 0) {
		SiteRow row;
		// A name too long for NameBytes keeps the default, which no
		// object's names equal: such objects always take the lookup.
		if (allocator.valid() && cache.valid()) {
			row.allocator_text = allocator;
			row.cache_text = cache;
		}
		row.untracked = untracked_allocator;
		row.key = key;
		site_rows_.push_back(row);
		index = static_cast<uint32_t>(site_rows_.size());
	}
	return index - 1;
}

uint64_t SummaryVisitor::comm_key_for(const ObjectRecord &object)
{
	CommMemo &remembered = comm_memo_[object.alloc_pid];
	const NameBytes text = NameBytes::of(object.comm);
	if (remembered.text == text) [[likely]]
		return remembered.key;
	return add_comm(remembered, object, text);
}

uint64_t SummaryVisitor::add_comm(CommMemo &remembered, const ObjectRecord &object, const NameBytes &text)
{
	uint64_t key = names.intern(object.comm, text, comm_cache_);
	note_comm(object.alloc_pid, key);
	if (text.valid())
		remembered = CommMemo{text, key};
	return key;
}

void SummaryVisitor::on_object(const ObjectRecord &object)
{
	ObjectRow &row = current_;
	// Field by field: `row = ObjectRow{}` compiled to a slow `rep stos`.
	static_cast<ObjectFields &>(row) = object;
	row.cache = row.allocator = 0;
	row.records = row.reads = row.writes = 0;
	current_site_row_ = site_row_for(object);
	// The name keys are filled in only for the top table (keep_top).
	row.untracked = site_rows_[current_site_row_].untracked;
	// Pseudo-objects of untracked memory carry no real task name: their
	// comm is not the pid's, so it bypasses the pid's memo.
	row.comm = row.untracked ? names.intern(object.comm, comm_cache_) : comm_key_for(object);
	has_current_ = true;

	add_checked(totals.bytes, object.size, "object sizes");
	++totals.objects;
	uint64_t live = object.live() ? 1 : 0;
	totals.live += live;
	Counts &process = processes[object.alloc_pid];
	++process.objects;
	process.live += live;
	process.bytes += object.size;
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
	// No sum of a row can overflow: each is at most the checked total.
	SiteRow &site = site_rows_[current_site_row_];
	site.counts.add(c);
	if (may_keep(row)) {
		current_.cache = site.key.cache;
		current_.allocator = site.key.allocator;
		keep_top(current_);
	}
}

bool SummaryVisitor::may_keep(const ObjectRow &row) const
{
	return options_.top_objects > 0 &&
	       (top_objects.size() < options_.top_objects || heavier(row, top_objects.front()));
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
	for (const SiteRow &row : other.site_rows_)
		site_rows_[site_row_of(row.key, row.untracked, row.allocator_text, row.cache_text)].counts.add(row.counts);
	auto merge_table = [](auto &into, const auto &from) {
		from.for_each([&](uint64_t key, const Counts &c) { into[key].add(c); });
	};
	// Non-empty only if other was finished.
	merge_table(sites, other.sites);
	merge_table(caches, other.caches);
	merge_table(allocators, other.allocators);
	merge_table(processes, other.processes);
	merge_table(accessors, other.accessors);
	other.process_comm.for_each([&](uint64_t pid, uint64_t comm) { note_comm(static_cast<uint32_t>(pid), comm); });
	for (const ObjectRow &row : other.top_objects)
		keep_top(row);
}

void SummaryVisitor::fold_site_rows()
{
	for (const SiteRow &row : site_rows_) {
		sites[row.key.alloc_ip].add(row.counts);
		caches[row.key.cache].add(row.counts);
		allocators[row.key.allocator].add(row.counts);
		if (row.untracked)
			untracked.add(row.counts);
	}
	site_rows_.clear();
	site_row_index_ = {};
	last_site_row_ = {};
}

void SummaryVisitor::finish()
{
	fold_site_rows();
	uint64_t sum;
	if (__builtin_add_overflow(totals.reads, totals.writes, &sum))
		throw DataError("expected the total of reads and writes to fit in 64 bits, found an overflow");
	std::sort(top_objects.begin(), top_objects.end(), heavier);
}

} // namespace capmap
