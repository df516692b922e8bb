// Synthetic kmaps with realistic shapes (a few hot allocation sites, caches
// and accessors, most objects freed, a handful of access lines each), for
// benchmarks and tests.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string_view>

#include "capmap/kmap.hpp"

namespace capmap {

struct GeneratorOptions {
	uint64_t target_bytes = 1u << 20; // stop after the object that crosses this size
	uint64_t max_objects = 0;         // 0: no limit
	uint64_t seed = 1;
	Layout layout = Layout::V1;
	unsigned sites = 3000;
	unsigned access_ips = 40000;
	unsigned processes = 400;
	double mean_accesses = 6.0;
	uint64_t untracked_every = 20000; // one pseudo-object of untracked accesses per N objects (0: none)
	bool header = true;
};

// Calls write(chunk) with consecutive pieces of the kmap; returns the bytes written.
uint64_t generate_kmap(const GeneratorOptions &options, const std::function<void(std::string_view)> &write);

} // namespace capmap
