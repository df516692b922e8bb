// An exact map from process id to a value, for the per-line process tables.
//
// `capmap summary` looks up the accessing pid once per access line. Behind a
// hash the few hundred pids of a kmap cost a hash, a probe and, for a small
// direct-mapped cache in front, frequent misses when two pids share a slot:
// parsing a generated kmap in memory, that lookup added 3.5 to 5 ns to a
// line of 23 ns, and 1.3 ns through this map. A pid below PID_MAX_LIMIT
// finds its row through one index entry, without hashing. The index
// spans all such pids (16 MiB of address space) but is mapped zero-filled
// on demand, so memory is taken only for the 4 KiB pages of the index
// that hold pids the kmap has: the kernel hands pids out in sequence, so
// they fill few pages. Larger keys, and Legacy10's unknown pid, go through
// a hash table behind a memo of the last such key (Legacy10 has it on
// every access line).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "capmap/flat_map.hpp"

namespace capmap {

template <class Value>
class PidMap {
public:
	// PID_MAX_LIMIT of 64-bit Linux; the kmap format allows pids up to
	// 2^31 - 1, and kUnknownPid.
	static constexpr uint64_t kIndexedPids = uint64_t{1} << 22;

	PidMap() : index_(new_index()) {}
	PidMap(PidMap &&) noexcept = default;
	PidMap &operator=(PidMap &&) noexcept = default;
	// A copy rebuilds its index from the rows, touching only their pages.
	PidMap(const PidMap &other)
	    : index_(new_index()), large_(other.large_), rows_(other.rows_), last_large_pid_(other.last_large_pid_),
	      last_large_at_(other.last_large_at_)
	{
		for (size_t i = 0; i < rows_.size(); ++i)
			if (rows_[i].first < kIndexedPids)
				index_[rows_[i].first] = static_cast<uint32_t>(i + 1);
	}
	PidMap &operator=(const PidMap &other)
	{
		if (this != &other)
			*this = PidMap(other);
		return *this;
	}

	// Returns the value for pid, inserting a value-initialized one if absent.
	// The reference is valid until the next insertion.
	[[gnu::always_inline]] Value &operator[](uint64_t pid)
	{
		if (pid < kIndexedPids) [[likely]] {
			uint32_t at = index_[pid];
			if (at != 0) [[likely]]
				return rows_[at - 1].second;
		} else if (pid == last_large_pid_) {
			return rows_[last_large_at_ - 1].second;
		}
		return insert(pid);
	}

	const Value *find(uint64_t pid) const
	{
		uint32_t at = position(pid);
		return at == 0 ? nullptr : &rows_[at - 1].second;
	}

	size_t size() const { return rows_.size(); }
	bool empty() const { return rows_.empty(); }

	// Calls fn(pid, value) for every entry, in the order they were added.
	template <class Fn>
	void for_each(Fn &&fn) const
	{
		for (const auto &[pid, value] : rows_)
			fn(pid, value);
	}

	std::vector<std::pair<uint64_t, Value>> entries() const { return rows_; }

private:
	struct FreeIndex {
		void operator()(uint32_t *index) const { std::free(index); }
	};
	using Index = std::unique_ptr<uint32_t[], FreeIndex>;

	// calloc: an allocation this large is mapped fresh, and its pages are
	// zero-filled on first touch rather than cleared up front.
	static Index new_index()
	{
		auto *index = static_cast<uint32_t *>(std::calloc(kIndexedPids, sizeof(uint32_t)));
		if (!index)
			throw std::bad_alloc();
		return Index(index);
	}

	// 1 + the row of pid, or 0.
	uint32_t position(uint64_t pid) const
	{
		if (pid < kIndexedPids)
			return index_[pid];
		const uint32_t *at = large_.find(pid);
		return at ? *at : 0;
	}

	[[gnu::noinline]] Value &insert(uint64_t pid)
	{
		uint32_t *slot = pid < kIndexedPids ? &index_[pid] : &large_[pid];
		if (*slot == 0) {
			rows_.emplace_back(pid, Value{});
			*slot = static_cast<uint32_t>(rows_.size());
		}
		if (pid >= kIndexedPids) {
			last_large_pid_ = pid;
			last_large_at_ = *slot;
		}
		return rows_[*slot - 1].second;
	}

	Index index_;                               // pid -> 1 + row, 0: absent; pids below kIndexedPids
	FlatMap<uint64_t, uint32_t> large_;          // the same for pids from kIndexedPids on
	std::vector<std::pair<uint64_t, Value>> rows_;
	uint64_t last_large_pid_ = 0; // below kIndexedPids: no memo yet
	uint32_t last_large_at_ = 0;
};

} // namespace capmap
