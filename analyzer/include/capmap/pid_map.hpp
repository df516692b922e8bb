// An exact map from process id to a value, for the per-line process tables.
//
// `capmap summary` looks up the accessing pid once per access line. Behind a
// hash the few hundred pids of a kmap cost a hash, a probe and, for a small
// direct-mapped cache in front, frequent misses when two pids share a slot:
// parsing a generated kmap in memory, that lookup added 3.5 to 5 ns to a
// line of 23 ns, and 1.3 ns through this map. A pid below PID_MAX_LIMIT
// finds its value through a two-level index, with two dependent loads and
// no hashing. The index is allocated in blocks of 4096 pids (16 KiB) as
// they are seen: the kernel hands pids out in sequence, so a kmap's pids
// fill few blocks; the most a map can take is 1024 blocks, 16 MiB. Larger
// keys, and Legacy10's unknown pid, go through a hash table behind a memo
// of the last such key (Legacy10 has it on every access line).
#pragma once

#include <cstdint>
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
	static constexpr unsigned kBlockBits = 12;

	PidMap() : blocks_(kIndexedPids >> kBlockBits) {}

	// Returns the value for pid, inserting a value-initialized one if absent.
	// The reference is valid until the next insertion.
	[[gnu::always_inline]] Value &operator[](uint64_t pid)
	{
		if (pid < kIndexedPids) [[likely]] {
			uint32_t at = indexed_position(pid);
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
	static constexpr uint64_t kBlockMask = (uint64_t{1} << kBlockBits) - 1;

	// 1 + the row of pid, or 0; indexed_position() for pids below kIndexedPids.
	[[gnu::always_inline]] uint32_t indexed_position(uint64_t pid) const
	{
		const std::vector<uint32_t> &block = blocks_[pid >> kBlockBits];
		return block.empty() ? 0 : block[pid & kBlockMask];
	}
	uint32_t position(uint64_t pid) const
	{
		if (pid < kIndexedPids)
			return indexed_position(pid);
		const uint32_t *at = large_.find(pid);
		return at ? *at : 0;
	}

	[[gnu::noinline]] Value &insert(uint64_t pid)
	{
		uint32_t *slot;
		if (pid < kIndexedPids) {
			std::vector<uint32_t> &block = blocks_[pid >> kBlockBits];
			if (block.empty())
				block.assign(kBlockMask + 1, 0);
			slot = &block[pid & kBlockMask];
		} else {
			slot = &large_[pid];
		}
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

	std::vector<std::vector<uint32_t>> blocks_; // pid >> kBlockBits -> 1 + row, 0: absent
	FlatMap<uint64_t, uint32_t> large_;          // the same for pids from kIndexedPids on
	std::vector<std::pair<uint64_t, Value>> rows_;
	uint64_t last_large_pid_ = 0; // below kIndexedPids: no memo yet
	uint32_t last_large_at_ = 0;
};

} // namespace capmap
