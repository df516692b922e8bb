// Memorizer's binary stream files (.mzs): the records that memorizer-stream
// copies from the kernel's relay buffers (Documentation/stream.rst, "The
// record format" and "The output file").
//
// A file is a sequence of records, each starting with an 8-byte header
// (u16 type, u16 flags, u32 size; sizes are multiples of 8), the first a
// STREAM record. The parser turns it into the calls a kmap visitor gets
// (kmap.hpp: on_object, on_access..., on_object_end), with the fields as
// the kernel prints them in a kmap, so that every analysis gives the same
// result for a stream as for the kmap `capmap convert` writes from it:
//
// * An object is emitted when it is complete: at its OBJECT record, or at
//   the ACCESSES record that brings its last entry.
// * A LIVE object (flags bit 0) has free_jiffies and free_ip 0. A non-live
//   OBJECT record of the same allocation (same va, alloc_ip and
//   alloc_jiffies) supersedes it: the LIVE one was a dump_live snapshot of
//   an object freed later. Records of different CPUs interleave a
//   sub-buffer at a time, so the free may come first in the file. Of
//   several LIVE records of one allocation the one with the most access
//   entries (then reads + writes in its OBJECT record, then the last)
//   stays: accesses only grow. So LIVE objects come out after the rest:
//   from a file, in a second pass over it (in file order), which also finds
//   the frees before them; from a pipe, which is read once, at the end,
//   and only records after a LIVE one supersede it.
// * Then come the objects whose ACCESSES records never arrived
//   (incomplete: emitted with the entries that did, and counted).
// * comm and cache names are cleaned as the kernel's kmap printer does:
//   ',' and bytes that are not isgraph() in the kernel's ctype become '_',
//   an empty name is "-". Allocator values above 4 are named ALLOCATOR_<n>.
//
// Malformed input throws DataError "FILE: byte offset N: what (value)".
// With lenient, a record whose contents are wrong is skipped and counted
// (and the ACCESSES records of a skipped OBJECT are counted as orphaned);
// a record whose header is wrong (the records after it cannot be found)
// ends the parse there, counted as one skipped record.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "capmap/input.hpp"
#include "capmap/kmap.hpp"
#include "capmap/scan.hpp"

namespace capmap {

// The records of include/uapi/linux/memorizer_stream.h, version 1. The
// fields are little-endian in the file; the parser reads them at these
// structs' offsets and never casts the file's bytes to them.
namespace mzs {

inline constexpr uint16_t kVersion = 1;
inline constexpr uint32_t kStreamMagic = 0x54535a4du; // "MZST"

enum RecordType : uint16_t {
	kPad = 1,
	kStream = 2,
	kCache = 3,
	kObject = 4,
	kAccesses = 5,
	kLost = 6,
};

inline constexpr uint16_t kObjectLive = 0x1; // OBJECT flags

// A record never outgrows the largest sub-buffer the kernel allows.
inline constexpr uint32_t kMaxRecordSize = 64u << 20;

struct RecordHeader {
	uint16_t type;
	uint16_t flags;
	uint32_t size;
};

struct StreamRecord {
	RecordHeader rec;
	uint32_t magic;
	uint16_t version;
	uint16_t cpu;
	uint32_t nr_cpu_ids;
	uint16_t object_size;
	uint16_t access_size;
	uint32_t subbuf_size;
	uint32_t n_subbufs;
	uint32_t hz;
	uint32_t reserved;
	uint64_t session;
	uint64_t jiffies;
	uint64_t stext;
	char release[72];
};

struct CacheRecord {
	RecordHeader rec;
	uint16_t cache_id;
	uint16_t reserved[3];
	char name[32];
};

struct AccessEntry {
	uint64_t ip;
	uint64_t writes;
	uint64_t reads;
	int32_t pid;
	uint32_t reserved;
};

struct ObjectRecord {
	RecordHeader rec;
	uint64_t id;
	uint64_t va;
	uint64_t size;
	uint64_t alloc_ip;
	uint64_t free_ip;
	uint64_t alloc_jiffies;
	uint64_t free_jiffies;
	int32_t pid;
	uint16_t cache_id;
	uint8_t allocator;
	uint8_t reserved;
	uint32_t alloc_stack;
	uint32_t free_stack;
	uint32_t nr_accesses;
	uint32_t nr_entries;
	char comm[16];
};

struct AccessesRecord {
	RecordHeader rec;
	uint64_t id;
	uint32_t first;
	uint32_t nr_entries;
};

struct LostRecord {
	RecordHeader rec;
	uint64_t objects;
	uint64_t entries;
};

static_assert(sizeof(RecordHeader) == 8);
static_assert(sizeof(StreamRecord) == 136);
static_assert(sizeof(CacheRecord) == 48);
static_assert(sizeof(ObjectRecord) == 104);
static_assert(sizeof(AccessesRecord) == 24);
static_assert(sizeof(AccessEntry) == 32);
static_assert(sizeof(LostRecord) == 24);
static_assert(offsetof(StreamRecord, magic) == 8 && offsetof(StreamRecord, session) == 40 &&
	      offsetof(StreamRecord, release) == 64);
static_assert(offsetof(ObjectRecord, pid) == 64 && offsetof(ObjectRecord, nr_entries) == 84 &&
	      offsetof(ObjectRecord, comm) == 88);

// Little-endian loads, whatever the host.
template <class T>
inline T load(const char *p)
{
	T value;
	memcpy(&value, p, sizeof(value));
	if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) {
		using U = std::make_unsigned_t<T>;
		U u = static_cast<U>(value);
		U swapped = 0;
		for (size_t i = 0; i < sizeof(T); ++i)
			swapped = static_cast<U>((swapped << 8) | ((u >> (8 * i)) & 0xff));
		value = static_cast<T>(swapped);
	}
	return value;
}

} // namespace mzs

// Bytes is_stream_file() needs to decide.
inline constexpr size_t kStreamSniffBytes = 12;

// A stream file starts with a STREAM record header (type 2, size 136) and
// the stream magic: the content decides, not the file name.
inline bool is_stream_file(std::string_view head)
{
	return head.size() >= kStreamSniffBytes && mzs::load<uint16_t>(head.data()) == mzs::kStream &&
	       mzs::load<uint32_t>(head.data() + 4) == sizeof(mzs::StreamRecord) &&
	       mzs::load<uint32_t>(head.data() + 8) == mzs::kStreamMagic;
}

// Receives each object the parser emits, with all its accesses.
class StreamSink {
public:
	virtual ~StreamSink() = default;
	virtual void object(const ObjectRecord &object, const AccessRecord *accesses, size_t count) = 0;
};

// Feeds a kmap visitor.
template <class Visitor>
class VisitorSink final : public StreamSink {
public:
	explicit VisitorSink(Visitor &visitor) : visitor_(visitor) {}
	void object(const ObjectRecord &object, const AccessRecord *accesses, size_t count) override
	{
		visitor_.on_object(object);
		for (size_t i = 0; i < count; ++i)
			visitor_.on_access(accesses[i]);
		visitor_.on_object_end();
	}

private:
	Visitor &visitor_;
};

// The record parser. Feed it the file's bytes in order with parse(); it
// emits objects to the sink as they complete. With two_passes the caller
// then gives it the same bytes again, from the start, with second_pass()
// while wants_second_pass(): LIVE objects come out there (and need no
// copies); without, they are copied and come out in finish().
class StreamParser {
public:
	StreamParser(std::string name, bool lenient, StreamSink &sink, bool two_passes = false);
	~StreamParser();
	StreamParser(const StreamParser &) = delete;
	StreamParser &operator=(const StreamParser &) = delete;

	// Parses the complete records at the start of data, which starts at
	// the first byte not consumed so far, and returns how many bytes it
	// consumed. at_end: nothing follows data, so an incomplete record at
	// its end is truncated. Throws DataError.
	size_t parse(std::string_view data, bool at_end);
	// Bytes the record at the start of the unconsumed data needs (its
	// size, or a header's 8) when parse() or second_pass() stopped before it.
	size_t wanted() const;
	// Whether a header error in lenient mode ended the parse.
	bool stopped() const;
	bool wants_second_pass() const;
	// Like parse(), over the bytes parse() consumed.
	size_t second_pass(std::string_view data);
	// After the last parse() and second_pass(): emits the objects still
	// held (incomplete ones, and LIVE ones of a single pass).
	void finish();

	const StreamStats &stats() const;
	uint64_t bytes() const;           // consumed
	uint64_t skipped() const;         // lenient: malformed records
	uint64_t orphaned() const;        // lenient: ACCESSES records of skipped objects
	const std::string &first_skip() const;

private:
	struct State;
	std::unique_ptr<State> state_;
};

// Parses a stream file into sink (one thread: the records are binary, and
// the objects' order stays that of the file). The stats' layout is V1,
// lines the number of records. A mapped input is read twice when it holds
// LIVE records (see above); another is read again through reopen, if
// given.
using Reopen = std::function<std::unique_ptr<Input>()>;
ScanStats scan_stream_input(Input &input, const ScanOptions &options, StreamSink &sink, const Reopen &reopen = {});

// Parses a stream file into visitors[0] (the others stay empty, so that
// the caller's merge works as for a kmap).
template <class Visitor>
ScanStats scan_stream(Input &input, const ScanOptions &options, std::vector<Visitor> &visitors, const Reopen &reopen = {})
{
	VisitorSink<Visitor> sink(visitors.at(0));
	return scan_stream_input(input, options, sink, reopen);
}

// A kmap visitor that writes kmap text (v1) as the kernel prints it, with
// the "# memorizer kmap v1" header first.
class KmapWriter {
public:
	// write(chunk) gets the text in pieces of about 1 MiB.
	explicit KmapWriter(std::function<void(std::string_view)> write);
	~KmapWriter();
	KmapWriter(const KmapWriter &) = delete;
	KmapWriter &operator=(const KmapWriter &) = delete;

	void on_object(const ObjectRecord &object);
	void on_access(const AccessRecord &access);
	void on_object_end() {}
	// Writes what is buffered.
	void flush();

private:
	void hex(uint64_t value);
	void dec(uint64_t value);
	std::function<void(std::string_view)> write_;
	std::string buffer_;
};

// One line for people: "lost N objects and N access entries (LOST records);
// N incomplete objects lack N access entries".
std::string stream_loss_text(const StreamStats &stats);

} // namespace capmap
