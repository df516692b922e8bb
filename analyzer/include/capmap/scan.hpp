// Drives the parser over an Input: one streaming pass, split across threads.
//
// The input is cut into blocks (the whole file when it is mapped, otherwise
// read buffers) and each block into pieces that start at object lines, so a
// piece never needs state from another. Worker w feeds visitor w; the caller
// merges the visitors afterwards. Worker 0 always takes the first and the last
// piece of a block, so an object whose access lines run past the end of a
// read buffer stays with one visitor.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "capmap/input.hpp"
#include "capmap/kmap.hpp"

namespace capmap {

struct ScanOptions {
	Layout layout = Layout::Auto;
	bool lenient = false;
	unsigned threads = 0;             // 0: one per CPU
	size_t piece_size = 8u << 20;     // bytes per work item (at most; streams use smaller ones)
	size_t block_size = 32u << 20;    // read buffer for streams (two of them)
	size_t chunk_size = 128u << 10;   // per-worker read buffer for mapped files (0: parse the mapping itself)
	bool progress = false;            // draw a progress bar on stderr
};

// What a Memorizer stream file (.mzs, see stream.hpp) said besides its
// objects.
struct StreamStats {
	uint64_t records = 0;         // records read, of every type
	uint64_t object_records = 0;  // OBJECT records
	uint64_t live_records = 0;    // OBJECT records marked LIVE
	uint64_t superseded = 0;      // LIVE records left out: a later record of the same object followed
	uint64_t lost_objects = 0;    // sums of the LOST records
	uint64_t lost_entries = 0;
	uint64_t incomplete = 0;      // objects emitted without all their access entries
	uint64_t missing_entries = 0; // entries those objects lack (nr_accesses minus entries received)
	uint64_t unknown_records = 0; // records of types this reader does not know, skipped
	uint64_t pad_records = 0;
	uint64_t sessions = 0;        // distinct session numbers of the STREAM records
	uint64_t cpus = 0;            // distinct CPUs of the STREAM records
	bool second_pass = false;     // the LIVE records were checked against the whole file (stream.hpp)
	uint16_t version = 0;         // of the first STREAM record
	std::string release;          // of the first STREAM record
};

struct ScanStats {
	std::string name;
	bool stream = false; // a Memorizer stream file: lines counts records, skipped and orphaned records
	StreamStats stream_stats;
	Layout layout = Layout::V1;
	std::string compression;
	uint64_t bytes = 0;    // uncompressed bytes parsed
	uint64_t lines = 0;
	uint64_t skipped = 0;  // lenient: malformed lines
	uint64_t orphaned = 0; // lenient: access lines of skipped object lines
	std::string first_skip; // lenient: "FILE:LINE: message" of the first one
	double seconds = 0;
};

unsigned worker_count(const ScanOptions &options);

// Draws the progress bar of ScanOptions::progress on stderr while it lives:
// `parsed` bytes of input, after the scan has taken a second.
class ProgressScope {
public:
	ProgressScope(const Input &input, bool enabled, const std::atomic<uint64_t> &parsed);
	~ProgressScope();
	ProgressScope(const ProgressScope &) = delete;
	ProgressScope &operator=(const ProgressScope &) = delete;

private:
	struct Impl;
	std::unique_ptr<Impl> impl_;
};

using PieceParser = std::function<PieceResult(unsigned worker, Layout layout, std::string_view text, bool object_open,
					      bool close_at_end, bool skipping_object, const std::atomic<bool> *stop)>;

// Throws DataError ("FILE:LINE: ...") on malformed input in strict mode,
// IoError on read errors.
ScanStats scan_input(Input &input, const ScanOptions &options, unsigned workers, const PieceParser &parse);

// Parses input into visitors (one per worker, visitors.size() workers).
template <class Visitor>
ScanStats scan_kmap(Input &input, const ScanOptions &options, std::vector<Visitor> &visitors)
{
	return scan_input(input, options, static_cast<unsigned>(visitors.size()),
			  [&](unsigned worker, Layout layout, std::string_view text, bool open, bool close, bool skipping,
			      const std::atomic<bool> *stop) {
				  return parse_piece(text, layout, options.lenient, open, close, visitors[worker], stop,
						     skipping);
			  });
}

} // namespace capmap
