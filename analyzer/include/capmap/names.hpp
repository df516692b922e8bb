// Interned strings (task names, slab caches, allocator kinds) keyed by a
// 64-bit hash, so the aggregation tables can use integer keys.
#pragma once

#include <cstdint>
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

// Remembers the last name seen at one call site: consecutive objects mostly
// share their comm, cache and allocator, so most lookups skip the hash.
struct NameCache {
	uint64_t key = 0;
	std::string text;
	bool valid = false;
};

class NameTable {
public:
	// Returns the key of text, remembering text on first sight. Throws
	// DataError if two different names share a hash (never seen in practice,
	// but a silent merge of two rows would be wrong).
	uint64_t intern(std::string_view text);
	uint64_t intern(std::string_view text, NameCache &cache)
	{
		if (cache.valid && text == cache.text)
			return cache.key;
		cache.key = intern(text);
		cache.text.assign(text);
		cache.valid = true;
		return cache.key;
	}

	// The name behind key, or "?" if it was never interned.
	std::string_view lookup(uint64_t key) const;

	void merge(const NameTable &other);

private:
	FlatMap<uint64_t, std::string> names_;
};

} // namespace capmap
