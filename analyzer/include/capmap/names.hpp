// Interned strings (task names, slab caches, allocator kinds) keyed by a
// 64-bit hash, so the aggregation tables can use integer keys.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "capmap/flat_map.hpp"

namespace capmap {

// FNV-1a, then mixed: names are short (task comm is at most 15 bytes).
inline uint64_t hash_name(std::string_view text)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (unsigned char c : text) {
		h ^= c;
		h *= 0x100000001b3ULL;
	}
	return mix64(h);
}

// Remembers recently seen names of one call site by their bytes: objects
// cycle through a few dozen task names, caches and allocators, so most
// lookups cost two loads and a compare instead of hashing the name and
// probing the table. Only names of up to 16 bytes are cached.
class NameCache {
public:
	static constexpr size_t kMaxLength = 16;

	// The key remembered for text, or nullptr.
	const uint64_t *find(std::string_view text)
	{
		Slot &slot = slot_for(text);
		return slot.length == text.size() && slot.head == head_ && slot.tail == tail_ ? &slot.key : nullptr;
	}
	// Remembers key for the text of the last find().
	void remember(std::string_view text, uint64_t key)
	{
		Slot &slot = slot_for(text);
		slot = Slot{head_, tail_, static_cast<uint32_t>(text.size()), key};
	}

private:
	struct Slot {
		uint64_t head = 0;
		uint64_t tail = 0;
		uint32_t length = UINT32_MAX; // matches no name
		uint64_t key = 0;
	};

	// Two words that, with the length, identify a name of up to 16 bytes
	// (loads that overlap for shorter names read only the name's bytes).
	Slot &slot_for(std::string_view text)
	{
		const char *p = text.data();
		size_t n = text.size();
		uint64_t head = 0, tail = 0;
		if (n >= 8) {
			memcpy(&head, p, 8);
			memcpy(&tail, p + n - 8, 8);
		} else if (n >= 4) {
			uint32_t first, last;
			memcpy(&first, p, 4);
			memcpy(&last, p + n - 4, 4);
			head = first | (uint64_t{last} << 32);
		} else if (n > 0) {
			head = static_cast<unsigned char>(p[0]) | (static_cast<unsigned char>(p[n / 2]) << 8) |
			       (static_cast<unsigned char>(p[n - 1]) << 16);
		}
		head_ = head;
		tail_ = tail;
		uint64_t hash = (head * 0x9e3779b97f4a7c15ULL) ^ (tail * 0xbf58476d1ce4e5b9ULL) ^ n;
		return slots_[(hash >> 40) % kSlots];
	}

	static constexpr size_t kSlots = 64;
	Slot slots_[kSlots];
	uint64_t head_ = 0, tail_ = 0;
};

class NameTable {
public:
	// Returns the key of text, remembering text on first sight. Throws
	// DataError if two different names share a hash (never seen in practice,
	// but a silent merge of two rows would be wrong).
	uint64_t intern(std::string_view text);
	uint64_t intern(std::string_view text, NameCache &cache)
	{
		if (text.size() > NameCache::kMaxLength)
			return intern(text);
		if (const uint64_t *key = cache.find(text))
			return *key;
		uint64_t key = intern(text);
		cache.remember(text, key);
		return key;
	}

	// The name behind key, or "?" if it was never interned.
	std::string_view lookup(uint64_t key) const;

	void merge(const NameTable &other);

private:
	FlatMap<uint64_t, std::string> names_;
};

} // namespace capmap
