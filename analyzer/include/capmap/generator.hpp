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

// A synthetic Memorizer stream file (.mzs, see stream.hpp) as the kernel
// and memorizer-stream write one: each CPU's records go into sub-buffers
// that are copied out, interleaved, as they fill; a CPU's first record is
// STREAM, a CACHE record names a cache before the CPU's first object of
// it, objects are written when freed (not in allocation order) and those
// still live at the end are written marked LIVE.
struct StreamGeneratorOptions {
	uint64_t target_bytes = 1u << 20; // stop allocating after the object that crosses this size
	uint64_t max_objects = 0;         // 0: no limit
	uint64_t seed = 1;
	unsigned cpus = 2;
	uint32_t subbuf_size = 262144;
	unsigned sites = 3000;
	unsigned access_ips = 40000;
	unsigned processes = 400;
	double mean_accesses = 6.0;
	double live_fraction = 0.3;       // objects never freed (written LIVE at the end)
	uint64_t large_every = 5000;      // one object with 125-624 entries (ACCESSES records) per N (0: none)
	uint64_t snapshot_every = 0;      // a dump_live of the objects live then, per N objects (0: none)
	uint64_t lost_every = 0;          // one object dropped (a LOST record follows) per N written (0: none)
	uint64_t incomplete_every = 0;    // one large object's last ACCESSES record dropped per N large ones (0: none)
	uint64_t unknown_every = 0;       // one record of an unknown type and one PAD record per N objects (0: none)
};

// Calls write(chunk) with consecutive pieces of the stream; returns the bytes written.
uint64_t generate_stream(const StreamGeneratorOptions &options, const std::function<void(std::string_view)> &write);

} // namespace capmap
