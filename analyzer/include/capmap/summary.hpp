// capmap summary: totals and per-site / cache / allocator / process tables in
// which every object and every access is counted exactly once, so each
// table's rows add up to the totals.
#pragma once

#include <cstdint>
#include <vector>

#include "capmap/flat_map.hpp"
#include "capmap/kmap.hpp"
#include "capmap/names.hpp"
#include "capmap/pid_map.hpp"

namespace capmap {

struct Counts {
	uint64_t objects = 0;
	uint64_t live = 0;
	uint64_t bytes = 0;
	uint64_t records = 0; // access lines
	uint64_t reads = 0;
	uint64_t writes = 0;

	uint64_t accesses() const { return reads + writes; }
	void add(const Counts &other);
	bool operator==(const Counts &) const = default;
};

// One object of the "most accessed objects" table.
struct ObjectRow : ObjectFields {
	uint64_t comm = 0;      // NameTable keys
	uint64_t cache = 0;
	uint64_t allocator = 0;
	uint64_t records = 0;
	uint64_t reads = 0;
	uint64_t writes = 0;
	bool untracked = false;

	uint64_t accesses() const { return reads + writes; }
};

// Orders objects for the top table: most accesses first, then by address
// and time so the result does not depend on thread scheduling.
bool heavier(const ObjectRow &a, const ObjectRow &b);

struct SummaryOptions {
	size_t top_objects = 10;
	bool accessors = false; // also count accesses per access ip (diff needs it)
};

class alignas(kVisitorAlignment) SummaryVisitor {
public:
	explicit SummaryVisitor(const SummaryOptions &options = {}) : options_(options) {}

	// The access ip is only counted for diff; the parser may skip it otherwise.
	bool wants_access_ip() const { return options_.accessors; }
	void on_object(const ObjectRecord &object);
	// Inline: it runs once per access line.
	[[gnu::always_inline]] void on_access(const AccessRecord &access)
	{
		ObjectRow &row = current_;
		if (__builtin_add_overflow(row.reads, access.reads, &row.reads)) [[unlikely]]
			total_overflow("reads");
		if (__builtin_add_overflow(row.writes, access.writes, &row.writes)) [[unlikely]]
			total_overflow("writes");
		++row.records;
		Counts &process = processes[access.pid];
		++process.records;
		process.reads += access.reads;
		process.writes += access.writes;
		if (options_.accessors)
			count_accessor(access);
	}
	void on_object_end();

	// Adds other into this; throws DataError if a total overflows 64 bits.
	void merge(const SummaryVisitor &other);
	// Fills the site, cache, allocator and untracked tables, checks that
	// reads + writes fits 64 bits and sorts the object table.
	void finish();
	// Throws the DataError for a sum of `what` that overflows 64 bits.
	[[noreturn, gnu::cold]] static void total_overflow(const char *what);

	Counts totals;
	// Filled by finish():
	Counts untracked; // part of totals: accesses to pseudo-objects of untracked memory
	FlatMap<uint64_t, Counts> sites;      // by alloc_ip
	FlatMap<uint64_t, Counts> caches;     // by name key
	FlatMap<uint64_t, Counts> allocators; // by name key
	// by pid: objects/live/bytes of objects it allocated, records/reads/writes of its accesses
	PidMap<Counts> processes;
	PidMap<uint64_t> process_comm; // pid -> name key (alphabetically first seen)
	FlatMap<uint64_t, Counts> accessors;      // by access ip, when options.accessors
	NameTable names;
	std::vector<ObjectRow> top_objects; // heap of at most top_objects, sorted by finish()

private:
	// Objects of one allocation site and name pair (allocator kind, slab
	// cache). finish() sums them into sites, caches, allocators and
	// untracked; until then on_object_end() adds each object to one of
	// these rows instead of to four tables.
	struct SiteKey {
		uint64_t alloc_ip = 0;
		uint64_t cache = 0; // name keys
		uint64_t allocator = 0;
		bool operator==(const SiteKey &) const = default;
	};
	struct SiteKeyHash {
		uint64_t operator()(const SiteKey &k) const
		{
			return mix64(k.alloc_ip ^ mix64(k.cache + 0x9e3779b97f4a7c15ULL) ^ (k.allocator << 1));
		}
	};
	// The names are the row's own, by their bytes (or no NameBytes if too
	// long), so that an object compares its names with those of its
	// site's last row without hashing them. The first cache line holds
	// what on_object() reads, the second what on_object_end() adds to.
	struct alignas(64) SiteRow {
		NameBytes allocator_text;
		NameBytes cache_text;
		Counts counts;
		bool untracked = false;
		SiteKey key;
	};
	// The last comm an allocating pid's objects had, and its key.
	struct CommMemo {
		NameBytes text;
		uint64_t key = 0;
	};

	uint32_t site_row_for(const ObjectRecord &object);
	uint32_t find_site_row(uint32_t &last_row, const ObjectRecord &object, const NameBytes &allocator,
			       const NameBytes &cache);
	uint32_t site_row_of(const SiteKey &key, bool untracked_allocator, const NameBytes &allocator,
			     const NameBytes &cache);
	uint64_t comm_key_for(const ObjectRecord &object);
	uint64_t add_comm(CommMemo &remembered, const ObjectRecord &object, const NameBytes &text);
	void fold_site_rows();
	void count_accessor(const AccessRecord &access);
	void note_comm(uint32_t pid, uint64_t comm_key);
	bool may_keep(const ObjectRow &row) const;
	void keep_top(const ObjectRow &row);

	SummaryOptions options_;
	NameCache comm_cache_, cache_cache_, allocator_cache_;
	ObjectRow current_;
	uint32_t current_site_row_ = 0;
	bool has_current_ = false;
	std::vector<SiteRow> site_rows_;
	FlatMap<SiteKey, uint32_t, SiteKeyHash> site_row_index_; // -> 1 + index in site_rows_
	FlatMap<uint64_t, uint32_t> last_site_row_;              // alloc_ip -> 1 + index of its last row
	PidMap<CommMemo> comm_memo_;                             // by alloc_pid
};

} // namespace capmap
