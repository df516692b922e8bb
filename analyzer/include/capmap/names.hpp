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

// The bytes of a name of up to 24 bytes (task comms, slab caches and
// allocator kinds nearly all fit) in three words and a length, so that two
// names compare with three loads and compares instead of a hash. Longer
// names have no NameBytes: of() returns one that equals no other.
struct NameBytes {
	static constexpr size_t kMaxLength = 24;

	uint64_t first = 0;
	uint64_t middle = 0;
	uint64_t last = 0;
	uint32_t length = kNone;

	// Loads that overlap for shorter names read only the name's bytes.
	[[gnu::always_inline]] static NameBytes of(std::string_view text)
	{
		const char *p = text.data();
		const size_t n = text.size();
		NameBytes b;
		if (n > kMaxLength) [[unlikely]] {
			b.length = kTooLong;
			return b;
		}
		b.length = static_cast<uint32_t>(n);
		if (n >= 8) {
			memcpy(&b.first, p, 8);
			memcpy(&b.last, p + n - 8, 8);
			if (n > 16)
				memcpy(&b.middle, p + 8, 8);
		} else if (n >= 4) {
			uint32_t head, tail;
			memcpy(&head, p, 4);
			memcpy(&tail, p + n - 4, 4);
			b.first = head | (uint64_t{tail} << 32);
		} else if (n > 0) {
			b.first = static_cast<unsigned char>(p[0]) | (static_cast<unsigned char>(p[n / 2]) << 8) |
				  (static_cast<unsigned char>(p[n - 1]) << 16);
		}
		return b;
	}

	// False for a name longer than kMaxLength and for the default value.
	bool valid() const { return length <= kMaxLength; }
	bool operator==(const NameBytes &) const = default;

private:
	// The default value (no name yet) and a name too long to hold differ,
	// so that neither ever matches a name.
	static constexpr uint32_t kNone = UINT32_MAX;
	static constexpr uint32_t kTooLong = UINT32_MAX - 1;
};

// Remembers recently seen names of one call site by their bytes: objects
// cycle through a few dozen task names, caches and allocators, so most
// lookups cost a few loads and compares instead of hashing the name and
// probing the table.
class NameCache {
public:
	// The key remembered for text, or nullptr.
	const uint64_t *find(const NameBytes &text)
	{
		Slot &slot = slot_for(text);
		return slot.text == text ? &slot.key : nullptr;
	}
	// Remembers key for text (a valid NameBytes).
	void remember(const NameBytes &text, uint64_t key) { slot_for(text) = Slot{text, key}; }

private:
	struct Slot {
		NameBytes text;
		uint64_t key = 0;
	};

	Slot &slot_for(const NameBytes &text)
	{
		uint64_t hash = (text.first * 0x9e3779b97f4a7c15ULL) ^ (text.last * 0xbf58476d1ce4e5b9ULL) ^
				text.middle ^ text.length;
		return slots_[(hash >> 40) % kSlots];
	}

	static constexpr size_t kSlots = 64;
	Slot slots_[kSlots];
};

class NameTable {
public:
	// Returns the key of text, remembering text on first sight. Throws
	// DataError if two different names share a hash (never seen in practice,
	// but a silent merge of two rows would be wrong).
	uint64_t intern(std::string_view text);
	uint64_t intern(std::string_view text, NameCache &cache) { return intern(text, NameBytes::of(text), cache); }
	// The same, for a caller that already has NameBytes::of(text).
	uint64_t intern(std::string_view text, const NameBytes &bytes, NameCache &cache)
	{
		if (!bytes.valid())
			return intern(text);
		if (const uint64_t *key = cache.find(bytes))
			return *key;
		uint64_t key = intern(text);
		cache.remember(bytes, key);
		return key;
	}

	// The name behind key, or "?" if it was never interned.
	std::string_view lookup(uint64_t key) const;

	void merge(const NameTable &other);

private:
	FlatMap<uint64_t, std::string> names_;
};

} // namespace capmap
