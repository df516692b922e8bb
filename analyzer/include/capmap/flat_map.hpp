// Open-addressing hash map for small trivially copyable keys.
//
// The aggregations touch one of these per parsed line, so it avoids the node
// allocations of std::unordered_map: slots live in one array, lookups probe
// linearly and the table doubles at MaxLoadPercent. Half load, the default,
// keeps probe runs short: at 75%, a third of the time `capmap summary` spent
// in its tables went to probing. The graph's edge tables, which can hold
// millions of entries, trade that for memory at 75%.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

namespace capmap {

// splitmix64 finalizer: spreads sequential keys (addresses, pids) over the table.
constexpr uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

struct U64Hash {
	uint64_t operator()(uint64_t key) const { return mix64(key); }
};

struct PairKey {
	uint64_t first = 0;
	uint64_t second = 0;
	bool operator==(const PairKey &) const = default;
};

struct PairKeyHash {
	uint64_t operator()(const PairKey &key) const { return mix64(key.first ^ mix64(key.second + 0x9e3779b97f4a7c15ULL)); }
};

template <class Key, class Value, class Hash = U64Hash, unsigned MaxLoadPercent = 50>
class FlatMap {
	static_assert(MaxLoadPercent >= 10 && MaxLoadPercent <= 90);

public:
	struct Slot {
		Key key{};
		Value value{};
	};

	FlatMap() { rehash(16); }

	// Returns the value for key, inserting a value-initialized one if absent.
	Value &operator[](const Key &key)
	{
		size_t i = find_slot(key);
		if (used_[i])
			return slots_[i].value;
		if ((size_ + 1) * 100 > slots_.size() * MaxLoadPercent) {
			rehash(slots_.size() * 2);
			i = find_slot(key);
		}
		used_[i] = 1;
		slots_[i].key = key;
		++size_;
		return slots_[i].value;
	}

	const Value *find(const Key &key) const
	{
		size_t i = find_slot(key);
		return used_[i] ? &slots_[i].value : nullptr;
	}

	Value *find(const Key &key)
	{
		size_t i = find_slot(key);
		return used_[i] ? &slots_[i].value : nullptr;
	}

	size_t size() const { return size_; }
	// Pointers to values stay valid while the capacity does not change.
	size_t capacity() const { return slots_.size(); }
	bool empty() const { return size_ == 0; }

	// Calls fn(key, value) for every entry, in table order.
	template <class Fn>
	void for_each(Fn &&fn) const
	{
		for (size_t i = 0; i < slots_.size(); ++i)
			if (used_[i])
				fn(slots_[i].key, slots_[i].value);
	}

	template <class Fn>
	void for_each(Fn &&fn)
	{
		for (size_t i = 0; i < slots_.size(); ++i)
			if (used_[i])
				fn(slots_[i].key, slots_[i].value);
	}

	// Copies the entries out, for sorting before output.
	std::vector<std::pair<Key, Value>> entries() const
	{
		std::vector<std::pair<Key, Value>> out;
		out.reserve(size_);
		for_each([&](const Key &k, const Value &v) { out.emplace_back(k, v); });
		return out;
	}

private:
	size_t find_slot(const Key &key) const
	{
		size_t i = static_cast<size_t>(Hash{}(key)) & mask_;
		while (used_[i] && !(slots_[i].key == key))
			i = (i + 1) & mask_;
		return i;
	}

	void rehash(size_t capacity)
	{
		std::vector<Slot> old_slots = std::move(slots_);
		std::vector<uint8_t> old_used = std::move(used_);
		slots_.assign(capacity, Slot{});
		used_.assign(capacity, 0);
		mask_ = capacity - 1;
		for (size_t i = 0; i < old_slots.size(); ++i) {
			if (!old_used[i])
				continue;
			size_t j = find_slot(old_slots[i].key);
			used_[j] = 1;
			slots_[j] = std::move(old_slots[i]);
		}
	}

	std::vector<Slot> slots_;
	std::vector<uint8_t> used_;
	size_t size_ = 0;
	size_t mask_ = 0;
};

} // namespace capmap
