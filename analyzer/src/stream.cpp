#include "capmap/stream.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "capmap/errors.hpp"
#include "capmap/flat_map.hpp"
#include "capmap/text.hpp"

namespace capmap {

namespace {

using mzs::load;

// isgraph() of the kernel's lib/ctype.c: ASCII '!'..'~' and Latin-1
// 0xa1..0xff.
constexpr bool kernel_isgraph(unsigned char c) { return (c > 0x20 && c < 0x7f) || c > 0xa0; }

// The kmap printer's rules for comm and cache names (debugfs.c
// memorizer_print_comm): up to the NUL or `limit` bytes, ',' and
// non-graphic bytes as '_', "-" when empty. Returns the length written.
size_t clean_name(const char *in, size_t limit, char *out)
{
	size_t n = 0;
	for (; n < limit && in[n] != '\0'; ++n) {
		auto c = static_cast<unsigned char>(in[n]);
		out[n] = (c == ',' || !kernel_isgraph(c)) ? '_' : static_cast<char>(c);
	}
	if (n == 0)
		out[n++] = '-';
	return n;
}

constexpr std::array<const char *, 5> kAllocators = {"KMALLOC", "KMEM_CACHE", "KMALLOC_LARGE", "PAGE", "GLOBAL"};

constexpr size_t kObjectSize = sizeof(mzs::ObjectRecord);
constexpr size_t kAccessesSize = sizeof(mzs::AccessesRecord);
constexpr size_t kEntrySize = sizeof(mzs::AccessEntry);

std::string type_name(uint16_t type)
{
	switch (type) {
	case mzs::kStream:
		return "STREAM";
	case mzs::kCache:
		return "CACHE";
	case mzs::kObject:
		return "OBJECT";
	case mzs::kAccesses:
		return "ACCESSES";
	case mzs::kLost:
		return "LOST";
	case mzs::kPad:
		return "PAD";
	default:
		return fmt::format("type {}", type);
	}
}

} // namespace

struct StreamParser::State {
	// The allocation an OBJECT record describes: LIVE records of it are
	// snapshots that a later (or, across CPUs, earlier) record supersedes.
	struct Key {
		uint64_t va = 0, alloc_ip = 0, alloc_jiffies = 0;
		bool operator==(const Key &) const = default;
	};
	struct KeyHash {
		uint64_t operator()(const Key &k) const
		{
			return mix64(k.va ^ mix64(k.alloc_ip + 0x9e3779b97f4a7c15ULL) ^ (k.alloc_jiffies << 17));
		}
	};
	// The LIVE record of an allocation that currently wins.
	struct LiveSlot {
		uint64_t offset = 0; // of its OBJECT record
		uint64_t weight = 0; // reads + writes of that record's entries
		uint32_t nr_accesses = 0;
		uint32_t held = kNone; // one pass: its copy in `held`
		bool active = false;   // false: superseded by a non-live record
	};
	static constexpr uint32_t kNone = UINT32_MAX;

	// An object kept past its OBJECT record: it waits for ACCESSES
	// records, or (one pass) it is LIVE and waits for the end. Without
	// `copy` only its entry count is kept, to check the ACCESSES records.
	struct Held {
		ObjectFields fields;
		uint64_t id = 0;
		uint32_t nr_accesses = 0;
		uint32_t received = 0;
		uint16_t cache_id = 0;
		uint8_t allocator = 0;
		uint8_t comm_length = 0;
		char comm[16] = {};
		bool live = false;
		bool copy = false;
		bool done = false; // emitted or superseded: nothing more to emit
		uint64_t complete_at = 0; // offset of the record with its last entry
		std::vector<AccessRecord> entries;
	};

	// An OBJECT record's fields, decoded.
	struct Decoded {
		ObjectFields fields;
		uint64_t id = 0;
		uint32_t nr_accesses = 0, nr_entries = 0;
		uint16_t cache_id = 0;
		uint8_t allocator = 0;
		uint8_t comm_length = 0;
		bool live = false;
		Key key() const { return Key{fields.va, fields.alloc_ip, fields.alloc_jiffies}; }
	};

	State(std::string file, bool lenient_, bool two_passes_, StreamSink &sink_)
	    : name(std::move(file)), lenient(lenient_), two_passes(two_passes_), sink(sink_)
	{
		for (size_t i = 0; i < allocator_names.size(); ++i)
			allocator_names[i] = i < kAllocators.size() ? std::string(kAllocators[i]) : fmt::format("ALLOCATOR_{}", i);
	}

	std::string name;
	bool lenient;
	bool two_passes; // LIVE records are emitted by second_pass(), not copied
	StreamSink &sink;
	StreamStats stats;
	uint64_t consumed = 0;
	size_t wanted = 0;
	bool stopped = false;
	bool seen_stream = false;
	uint64_t skipped = 0, orphaned = 0;
	std::string first_skip;

	std::array<std::string, 256> allocator_names;
	std::vector<std::string> cache_names; // by cache id; empty: not named yet
	std::unordered_set<uint64_t> sessions;
	std::unordered_set<uint32_t> cpus;

	FlatMap<Key, LiveSlot, KeyHash, 75> live;
	size_t live_active = 0;
	// One bit per hash of an active LIVE key: most non-live records skip
	// the table.
	std::vector<uint64_t> filter = std::vector<uint64_t>(1);
	uint64_t filter_mask = 63;
	size_t filter_keys = 0;

	std::vector<Held> held;                          // in file order
	std::unordered_map<uint64_t, uint32_t> waiting;  // id -> index in held: expects ACCESSES records
	std::unordered_set<uint64_t> skipped_ids;        // lenient: ids of skipped OBJECT records
	std::unordered_set<uint64_t> skipped_offsets;    // lenient: records skipped, left alone by the second pass

	// The second pass.
	uint64_t second_consumed = 0;
	bool second_done = false;
	std::unordered_map<uint64_t, Held> second_waiting; // id -> LIVE object that expects ACCESSES records
	std::vector<uint64_t> second_order;                 // their ids, in file order

	std::vector<AccessRecord> scratch;
	char comm_buffer[16] = {};

	[[noreturn]] void fail(uint64_t offset, const std::string &what) const
	{
		throw DataError(fmt::format("{}: byte offset {}: {}", name, offset, what));
	}

	// A record whose contents are wrong: an error, or (lenient) skipped.
	void bad_record(uint64_t offset, const std::string &what)
	{
		if (!lenient)
			fail(offset, what);
		if (skipped == 0 && orphaned == 0)
			first_skip = fmt::format("{}: byte offset {}: {}", name, offset, what);
		++skipped;
		skipped_offsets.insert(offset);
	}

	// A header that leaves the next record unknown: an error, or
	// (lenient) the end of what is read.
	void bad_header(uint64_t offset, const std::string &what)
	{
		bad_record(offset, what);
		stopped = true;
	}

	std::string_view cache_name(uint16_t id) const
	{
		return id == 0 ? std::string_view("-") : std::string_view(cache_names[id]);
	}

	bool cache_known(uint16_t id) const { return id == 0 || (id < cache_names.size() && !cache_names[id].empty()); }

	void emit(const ObjectFields &fields, uint8_t allocator, std::string_view comm, uint16_t cache_id,
		  const AccessRecord *accesses, size_t count)
	{
		capmap::ObjectRecord o;
		static_cast<ObjectFields &>(o) = fields;
		o.allocator = allocator_names[allocator];
		o.comm = comm;
		o.slab_cache = cache_name(cache_id);
		sink.object(o, accesses, count);
	}

	void emit_held(const Held &h)
	{
		if (h.received < h.nr_accesses) {
			++stats.incomplete;
			stats.missing_entries += h.nr_accesses - h.received;
		}
		emit(h.fields, h.allocator, std::string_view(h.comm, h.comm_length), h.cache_id, h.entries.data(),
		     h.entries.size());
	}

	Held held_copy(const Decoded &d) const
	{
		Held h;
		h.fields = d.fields;
		h.id = d.id;
		h.nr_accesses = d.nr_accesses;
		h.received = d.nr_entries;
		h.cache_id = d.cache_id;
		h.allocator = d.allocator;
		h.comm_length = d.comm_length;
		memcpy(h.comm, comm_buffer, d.comm_length);
		h.live = d.live;
		h.copy = true;
		h.entries.assign(scratch.begin(), scratch.end());
		return h;
	}

	// Keeps an object that expects ACCESSES records; without copy only to
	// check them.
	uint32_t hold(const Decoded &d, bool copy, bool expects_more)
	{
		Held h = copy ? held_copy(d) : Held{};
		if (!copy) {
			h.id = d.id;
			h.nr_accesses = d.nr_accesses;
			h.received = d.nr_entries;
			h.live = d.live;
			h.done = true;
		}
		auto index = static_cast<uint32_t>(held.size());
		held.push_back(std::move(h));
		if (expects_more)
			waiting.emplace(d.id, index);
		return index;
	}

	void filter_add(const Key &key)
	{
		if (++filter_keys * 16 > filter.size() * 64) {
			// Grow to 32 bits per key and put the active keys back.
			size_t words = std::max<size_t>(1, std::bit_ceil(filter_keys * 32 / 64));
			filter.assign(words, 0);
			filter_mask = words * 64 - 1;
			live.for_each([&](const Key &k, const LiveSlot &slot) {
				if (slot.active)
					filter_set(k);
			});
		}
		filter_set(key);
	}
	void filter_set(const Key &key)
	{
		uint64_t bit = (KeyHash{}(key) >> 20) & filter_mask;
		filter[bit / 64] |= uint64_t{1} << (bit % 64);
	}
	bool maybe_live(const Key &key) const
	{
		if (live_active == 0)
			return false;
		uint64_t bit = (KeyHash{}(key) >> 20) & filter_mask;
		return (filter[bit / 64] >> (bit % 64)) & 1;
	}

	// The LIVE record of slot is left out.
	void supersede(LiveSlot &slot)
	{
		slot.active = false;
		--live_active;
		++stats.superseded;
		if (slot.held != kNone) {
			Held &h = held[slot.held];
			h.done = true;
			h.entries.clear();
			h.entries.shrink_to_fit();
			slot.held = kNone;
		}
	}

	// Decodes n entries into scratch; false (after bad_record) if one is
	// malformed.
	bool decode_entries(const char *p, uint32_t n, uint32_t first_index, uint64_t offset)
	{
		scratch.resize(n);
		for (uint32_t i = 0; i < n; ++i, p += kEntrySize) {
			AccessRecord &a = scratch[i];
			a.ip = load<uint64_t>(p + offsetof(mzs::AccessEntry, ip));
			a.writes = load<uint64_t>(p + offsetof(mzs::AccessEntry, writes));
			a.reads = load<uint64_t>(p + offsetof(mzs::AccessEntry, reads));
			int32_t pid = load<int32_t>(p + offsetof(mzs::AccessEntry, pid));
			if (pid < 0) [[unlikely]] {
				bad_record(offset, fmt::format("access entry {} has a negative pid ({})", first_index + i, pid));
				return false;
			}
			a.pid = static_cast<uint32_t>(pid);
		}
		return true;
	}

	// The fields of an OBJECT record whose size was checked; its comm goes
	// to comm_buffer.
	Decoded decode_object(const char *p, uint16_t flags)
	{
		Decoded d;
		d.live = (flags & mzs::kObjectLive) != 0;
		d.id = load<uint64_t>(p + offsetof(mzs::ObjectRecord, id));
		d.nr_entries = load<uint32_t>(p + offsetof(mzs::ObjectRecord, nr_entries));
		d.nr_accesses = load<uint32_t>(p + offsetof(mzs::ObjectRecord, nr_accesses));
		ObjectFields &f = d.fields;
		f.alloc_ip = load<uint64_t>(p + offsetof(mzs::ObjectRecord, alloc_ip));
		f.va = load<uint64_t>(p + offsetof(mzs::ObjectRecord, va));
		f.size = load<uint64_t>(p + offsetof(mzs::ObjectRecord, size));
		f.alloc_jiffies = load<uint64_t>(p + offsetof(mzs::ObjectRecord, alloc_jiffies));
		f.free_jiffies = d.live ? 0 : load<uint64_t>(p + offsetof(mzs::ObjectRecord, free_jiffies));
		f.free_ip = d.live ? 0 : load<uint64_t>(p + offsetof(mzs::ObjectRecord, free_ip));
		f.alloc_pid = static_cast<uint32_t>(load<int32_t>(p + offsetof(mzs::ObjectRecord, pid)));
		d.cache_id = load<uint16_t>(p + offsetof(mzs::ObjectRecord, cache_id));
		d.allocator = load<uint8_t>(p + offsetof(mzs::ObjectRecord, allocator));
		d.comm_length = static_cast<uint8_t>(clean_name(p + offsetof(mzs::ObjectRecord, comm), 15, comm_buffer));
		return d;
	}

	void record(uint16_t type, uint16_t flags, std::string_view rec, uint64_t offset)
	{
		++stats.records;
		if (!seen_stream && type != mzs::kStream) {
			bad_record(offset, fmt::format("expected a STREAM record first, found a record of type {} ({})",
						       type_name(type), type));
			return;
		}
		switch (type) {
		case mzs::kObject:
			return object(flags, rec, offset);
		case mzs::kAccesses:
			return accesses(rec, offset);
		case mzs::kCache:
			return cache(rec, offset);
		case mzs::kLost:
			return lost(rec, offset);
		case mzs::kStream:
			return stream(rec, offset);
		case mzs::kPad:
			++stats.pad_records;
			return;
		default:
			++stats.unknown_records;
			return;
		}
	}

	bool fixed_size(std::string_view rec, size_t size, const char *what, uint64_t offset)
	{
		if (rec.size() == size)
			return true;
		bad_record(offset, fmt::format("{} record size is not {} ({})", what, size, rec.size()));
		return false;
	}

	void stream(std::string_view rec, uint64_t offset)
	{
		if (!fixed_size(rec, sizeof(mzs::StreamRecord), "STREAM", offset))
			return;
		const char *p = rec.data();
		auto magic = load<uint32_t>(p + offsetof(mzs::StreamRecord, magic));
		auto version = load<uint16_t>(p + offsetof(mzs::StreamRecord, version));
		auto object_size = load<uint16_t>(p + offsetof(mzs::StreamRecord, object_size));
		auto access_size = load<uint16_t>(p + offsetof(mzs::StreamRecord, access_size));
		if (magic != mzs::kStreamMagic)
			return bad_record(offset, fmt::format("STREAM record has the wrong magic (0x{:08x}, expected 0x{:08x})",
							      magic, mzs::kStreamMagic));
		if (version != mzs::kVersion)
			return bad_record(offset, fmt::format("unsupported stream version ({}, this capmap reads {})", version,
							      mzs::kVersion));
		if (object_size != kObjectSize)
			return bad_record(offset, fmt::format("STREAM record's object_size is not {} ({})", kObjectSize,
							      object_size));
		if (access_size != kEntrySize)
			return bad_record(offset, fmt::format("STREAM record's access_size is not {} ({})", kEntrySize,
							      access_size));
		if (!seen_stream) {
			stats.version = version;
			const char *release = p + offsetof(mzs::StreamRecord, release);
			stats.release.assign(release, strnlen(release, sizeof(mzs::StreamRecord::release)));
			for (char &c : stats.release)
				if (!kernel_isgraph(static_cast<unsigned char>(c)))
					c = '_';
		}
		seen_stream = true;
		sessions.insert(load<uint64_t>(p + offsetof(mzs::StreamRecord, session)));
		cpus.insert(load<uint16_t>(p + offsetof(mzs::StreamRecord, cpu)));
		stats.sessions = sessions.size();
		stats.cpus = cpus.size();
	}

	void cache(std::string_view rec, uint64_t offset)
	{
		if (!fixed_size(rec, sizeof(mzs::CacheRecord), "CACHE", offset))
			return;
		auto id = load<uint16_t>(rec.data() + offsetof(mzs::CacheRecord, cache_id));
		if (id == 0)
			return bad_record(offset, "CACHE record names cache id 0, which stands for no cache (0)");
		char clean[sizeof(mzs::CacheRecord::name)];
		size_t n = clean_name(rec.data() + offsetof(mzs::CacheRecord, name), sizeof(clean), clean);
		std::string_view name_text(clean, n);
		if (cache_known(id)) {
			if (cache_names[id] != name_text)
				bad_record(offset, fmt::format("CACHE record renames cache id {} from '{}' to '{}' ({})", id,
							       cache_names[id], name_text, id));
			return;
		}
		if (id >= cache_names.size())
			cache_names.resize(static_cast<size_t>(id) + 1);
		cache_names[id] = name_text;
	}

	void lost(std::string_view rec, uint64_t offset)
	{
		if (!fixed_size(rec, sizeof(mzs::LostRecord), "LOST", offset))
			return;
		auto objects = load<uint64_t>(rec.data() + offsetof(mzs::LostRecord, objects));
		auto entries = load<uint64_t>(rec.data() + offsetof(mzs::LostRecord, entries));
		uint64_t o, e;
		if (__builtin_add_overflow(stats.lost_objects, objects, &o) ||
		    __builtin_add_overflow(stats.lost_entries, entries, &e))
			return bad_record(offset, fmt::format("LOST totals overflow 64 bits ({} objects, {} entries)", objects,
							      entries));
		stats.lost_objects = o;
		stats.lost_entries = e;
	}

	void object_skipped(uint64_t id, uint64_t offset, const std::string &what)
	{
		bad_record(offset, what);
		skipped_ids.insert(id);
	}

	void object(uint16_t flags, std::string_view rec, uint64_t offset)
	{
		++stats.object_records;
		if (rec.size() < kObjectSize)
			return bad_record(offset, fmt::format("OBJECT record size is smaller than {} ({})", kObjectSize,
							      rec.size()));
		const char *p = rec.data();
		auto nr_entries = load<uint32_t>(p + offsetof(mzs::ObjectRecord, nr_entries));
		auto nr_accesses = load<uint32_t>(p + offsetof(mzs::ObjectRecord, nr_accesses));
		if ((rec.size() - kObjectSize) / kEntrySize != nr_entries || (rec.size() - kObjectSize) % kEntrySize != 0)
			return bad_record(offset, fmt::format("OBJECT record of {} bytes does not hold exactly nr_entries "
							      "entries of {} bytes ({})",
							      rec.size(), kEntrySize, nr_entries));
		auto id = load<uint64_t>(p + offsetof(mzs::ObjectRecord, id));
		if (nr_entries > nr_accesses)
			return object_skipped(id, offset, fmt::format("OBJECT nr_entries is larger than nr_accesses ({} > {})",
								      nr_entries, nr_accesses));
		auto pid = load<int32_t>(p + offsetof(mzs::ObjectRecord, pid));
		if (pid < 0)
			return object_skipped(id, offset, fmt::format("OBJECT has a negative pid ({})", pid));
		auto cache_id = load<uint16_t>(p + offsetof(mzs::ObjectRecord, cache_id));
		if (!cache_known(cache_id))
			return object_skipped(
				id, offset,
				fmt::format("OBJECT names a cache id that no CACHE record before it named ({})", cache_id));
		const bool complete = nr_entries == nr_accesses;
		if (!complete && waiting.contains(id))
			return object_skipped(id, offset,
					      fmt::format("OBJECT id is already waiting for ACCESSES records (0x{:x})", id));
		if (!decode_entries(p + kObjectSize, nr_entries, 0, offset)) {
			skipped_ids.insert(id);
			return;
		}
		if (!complete)
			skipped_ids.erase(id); // a reused id (another session) is known again
		const Decoded d = decode_object(p, flags);
		const Key key = d.key();
		if (!d.live) {
			// A free supersedes the LIVE records of its object before it.
			if (maybe_live(key)) {
				LiveSlot *slot = live.find(key);
				if (slot && slot->active)
					supersede(*slot);
			}
			if (complete)
				emit(d.fields, d.allocator, std::string_view(comm_buffer, d.comm_length), d.cache_id,
				     scratch.data(), scratch.size());
			else
				hold(d, true, true);
			return;
		}
		++stats.live_records;
		uint64_t weight = 0;
		for (const AccessRecord &a : scratch)
			weight += a.reads + a.writes; // no overflow check: only compared
		LiveSlot &slot = live[key];
		const bool fresh = !slot.active && slot.offset == 0 && slot.nr_accesses == 0 && slot.weight == 0 &&
				   slot.held == kNone;
		if (!fresh) {
			// Of two snapshots the one with more accesses stays; after a
			// free (a dead slot) none.
			bool wins = slot.active && std::pair(nr_accesses, weight) >= std::pair(slot.nr_accesses, slot.weight);
			if (!wins) {
				++stats.superseded;
				if (!complete)
					hold(d, false, true);
				return;
			}
			supersede(slot);
		}
		slot.offset = offset;
		slot.weight = weight;
		slot.nr_accesses = nr_accesses;
		slot.active = true;
		slot.held = kNone;
		++live_active;
		filter_add(key);
		if (two_passes) {
			if (!complete)
				hold(d, false, true);
		} else {
			slot.held = hold(d, true, !complete);
			held[slot.held].complete_at = offset;
		}
	}

	void accesses(std::string_view rec, uint64_t offset)
	{
		if (rec.size() < kAccessesSize)
			return bad_record(offset, fmt::format("ACCESSES record size is smaller than {} ({})", kAccessesSize,
							      rec.size()));
		const char *p = rec.data();
		auto id = load<uint64_t>(p + offsetof(mzs::AccessesRecord, id));
		auto first = load<uint32_t>(p + offsetof(mzs::AccessesRecord, first));
		auto n = load<uint32_t>(p + offsetof(mzs::AccessesRecord, nr_entries));
		if ((rec.size() - kAccessesSize) / kEntrySize != n || (rec.size() - kAccessesSize) % kEntrySize != 0)
			return bad_record(offset, fmt::format("ACCESSES record of {} bytes does not hold exactly nr_entries "
							      "entries of {} bytes ({})",
							      rec.size(), kEntrySize, n));
		auto it = waiting.find(id);
		if (it == waiting.end()) {
			if (skipped_ids.contains(id)) {
				++orphaned;
				skipped_offsets.insert(offset);
				return;
			}
			return bad_record(offset, fmt::format("ACCESSES record for an id that no OBJECT record before it "
							      "left incomplete (0x{:x})",
							      id));
		}
		Held &h = held[it->second];
		if (first < h.received)
			return bad_record(offset, fmt::format("ACCESSES record overlaps the {} entries already received "
							      "(first {})",
							      h.received, first));
		if (first > h.received)
			return bad_record(offset, fmt::format("ACCESSES record leaves a gap after the {} entries received "
							      "(first {})",
							      h.received, first));
		if (n > h.nr_accesses - first)
			return bad_record(offset, fmt::format("ACCESSES record runs past the object's nr_accesses {} (first {}, "
							      "nr_entries {})",
							      h.nr_accesses, first, n));
		if (!decode_entries(p + kAccessesSize, n, first, offset))
			return;
		h.received += n;
		if (!h.done)
			h.entries.insert(h.entries.end(), scratch.begin(), scratch.end());
		if (h.received < h.nr_accesses)
			return;
		waiting.erase(it);
		h.complete_at = offset;
		if (!h.done && !h.live) {
			emit_held(h);
			h.done = true;
			h.entries.clear();
			h.entries.shrink_to_fit();
		}
	}

	size_t parse(std::string_view data, bool at_end)
	{
		wanted = 0;
		if (stopped)
			return data.size();
		size_t pos = 0;
		while (pos < data.size()) {
			const size_t left = data.size() - pos;
			const uint64_t offset = consumed + pos;
			const char *p = data.data() + pos;
			if (left < sizeof(mzs::RecordHeader)) {
				if (!at_end) {
					wanted = sizeof(mzs::RecordHeader);
					break;
				}
				bad_header(offset, fmt::format("truncated record header ({} bytes left)", left));
				pos = data.size();
				break;
			}
			auto type = load<uint16_t>(p);
			auto flags = load<uint16_t>(p + 2);
			auto size = load<uint32_t>(p + 4);
			const char *wrong = nullptr;
			if (size < sizeof(mzs::RecordHeader))
				wrong = "record size is smaller than the 8-byte record header";
			else if (size % 8 != 0)
				wrong = "record size is not a multiple of 8";
			else if (size > mzs::kMaxRecordSize)
				wrong = "record size is larger than the largest sub-buffer, 67108864 bytes";
			if (wrong) {
				bad_header(offset, fmt::format("{} ({})", wrong, size));
				pos = data.size();
				break;
			}
			if (size > left) {
				if (!at_end) {
					wanted = size;
					break;
				}
				bad_header(offset, fmt::format("{} record runs past the end of the file (size {}, {} bytes left)",
							       type_name(type), size, left));
				pos = data.size();
				break;
			}
			record(type, flags, data.substr(pos, size), offset);
			pos += size;
		}
		consumed += pos;
		return pos;
	}

	bool wants_second_pass() const { return two_passes && !second_done && live_active > 0; }

	// Walks the records again (two_passes): a non-live OBJECT record
	// supersedes the LIVE records of its object after it (a CPU's
	// sub-buffer with a dump_live snapshot can be copied out after another
	// CPU's with the object's free); the LIVE records that still win are
	// emitted where they are.
	size_t second_pass(std::string_view data)
	{
		wanted = 0;
		size_t pos = 0;
		while (pos < data.size()) {
			const uint64_t offset = second_consumed + pos;
			if (offset >= consumed || (live_active == 0 && second_waiting.empty())) {
				second_done = true;
				break;
			}
			const size_t left = std::min<uint64_t>(data.size() - pos, consumed - offset);
			if (left < sizeof(mzs::RecordHeader)) {
				wanted = sizeof(mzs::RecordHeader);
				break;
			}
			const char *p = data.data() + pos;
			auto type = load<uint16_t>(p);
			auto flags = load<uint16_t>(p + 2);
			auto size = load<uint32_t>(p + 4);
			if (size < sizeof(mzs::RecordHeader) || size % 8 != 0 || size > mzs::kMaxRecordSize ||
			    offset + size > consumed) {
				second_done = true; // where the first pass stopped (lenient)
				break;
			}
			if (size > left) {
				wanted = size;
				break;
			}
			pos += size;
			if ((type != mzs::kObject && type != mzs::kAccesses) ||
			    (!skipped_offsets.empty() && skipped_offsets.contains(offset)))
				continue;
			if (type == mzs::kAccesses) {
				auto it = second_waiting.find(load<uint64_t>(p + offsetof(mzs::AccessesRecord, id)));
				if (it == second_waiting.end())
					continue;
				auto n = load<uint32_t>(p + offsetof(mzs::AccessesRecord, nr_entries));
				decode_entries(p + kAccessesSize, n, 0, offset); // checked by the first pass
				Held &h = it->second;
				h.received += n;
				h.entries.insert(h.entries.end(), scratch.begin(), scratch.end());
				if (h.received == h.nr_accesses) {
					emit_held(h);
					second_waiting.erase(it);
				}
				continue;
			}
			const Key key{load<uint64_t>(p + offsetof(mzs::ObjectRecord, va)),
				      load<uint64_t>(p + offsetof(mzs::ObjectRecord, alloc_ip)),
				      load<uint64_t>(p + offsetof(mzs::ObjectRecord, alloc_jiffies))};
			if (!maybe_live(key))
				continue;
			LiveSlot *slot = live.find(key);
			if (!slot || !slot->active)
				continue;
			if (!(flags & mzs::kObjectLive)) {
				if (slot->offset > offset)
					supersede(*slot);
				continue;
			}
			if (slot->offset != offset)
				continue;
			// The winning LIVE record: it comes out now.
			slot->active = false;
			--live_active;
			const Decoded d = decode_object(p, flags);
			decode_entries(p + kObjectSize, d.nr_entries, 0, offset);
			if (d.nr_entries == d.nr_accesses) {
				emit(d.fields, d.allocator, std::string_view(comm_buffer, d.comm_length), d.cache_id,
				     scratch.data(), scratch.size());
			} else {
				second_waiting.emplace(d.id, held_copy(d));
				second_order.push_back(d.id);
			}
		}
		if (second_done) {
			second_consumed = consumed;
			return data.size();
		}
		second_consumed += pos;
		return pos;
	}

	// Emits what is left, in the order of a second pass: LIVE objects by
	// the record that completed them (one pass: they were kept), then
	// incomplete LIVE objects, then incomplete others, in file order.
	void finish()
	{
		std::vector<uint32_t> complete_live;
		for (uint32_t i = 0; i < held.size(); ++i)
			if (!held[i].done && held[i].live && held[i].received == held[i].nr_accesses)
				complete_live.push_back(i);
		std::sort(complete_live.begin(), complete_live.end(),
			  [&](uint32_t a, uint32_t b) { return held[a].complete_at < held[b].complete_at; });
		for (uint32_t i : complete_live) {
			emit_held(held[i]);
			held[i].done = true;
		}
		for (uint64_t id : second_order) {
			auto it = second_waiting.find(id);
			if (it != second_waiting.end())
				emit_held(it->second);
		}
		second_waiting.clear();
		for (bool live_pass : {true, false})
			for (Held &h : held)
				if (!h.done && h.live == live_pass)
					emit_held(h);
		held.clear();
		waiting.clear();
	}
};

StreamParser::StreamParser(std::string name, bool lenient, StreamSink &sink, bool two_passes)
    : state_(std::make_unique<State>(std::move(name), lenient, two_passes, sink))
{
}

StreamParser::~StreamParser() = default;

size_t StreamParser::parse(std::string_view data, bool at_end) { return state_->parse(data, at_end); }
size_t StreamParser::wanted() const { return state_->wanted; }
bool StreamParser::wants_second_pass() const { return state_->wants_second_pass(); }
size_t StreamParser::second_pass(std::string_view data) { return state_->second_pass(data); }
bool StreamParser::stopped() const { return state_->stopped; }
void StreamParser::finish() { state_->finish(); }
const StreamStats &StreamParser::stats() const { return state_->stats; }
uint64_t StreamParser::bytes() const { return state_->consumed; }
uint64_t StreamParser::skipped() const { return state_->skipped; }
uint64_t StreamParser::orphaned() const { return state_->orphaned; }
const std::string &StreamParser::first_skip() const { return state_->first_skip; }

namespace {

// A buffer that keeps its bytes when it grows, not zero-filled first.
class GrowBuffer {
public:
	explicit GrowBuffer(size_t capacity) : data_(new char[capacity]), capacity_(capacity) {}
	char *data() { return data_.get(); }
	size_t size() const { return capacity_; }
	void grow(size_t capacity, size_t keep)
	{
		if (capacity <= capacity_)
			return;
		std::unique_ptr<char[]> bigger(new char[capacity]);
		memcpy(bigger.get(), data_.get(), keep);
		data_ = std::move(bigger);
		capacity_ = capacity;
	}

private:
	std::unique_ptr<char[]> data_;
	size_t capacity_;
};

// A record is at most 4 KiB in practice; a larger one grows the buffer.
constexpr size_t kMaxStreamBuffer = 4u << 20;

// One pass over the bytes of an input: step(data, at_end) consumes complete
// records at the start of data and returns how many bytes; wanted() says
// how many the next one needs.
using Step = std::function<size_t(std::string_view, bool)>;

void walk_mapped(Input &input, const ScanOptions &options, const Step &step, const std::function<size_t()> &wanted,
		 std::atomic<uint64_t> *parsed)
{
	std::string_view all = input.mapped();
	if (!input.can_read_copy() || options.chunk_size == 0) {
		step(all, true);
		if (parsed)
			parsed->store(all.size(), std::memory_order_relaxed);
		return;
	}
	// Copies with pread(), like the kmap path: faster than faulting in
	// the mapping's pages (see capmap.rst).
	GrowBuffer buffer(std::min(std::max<size_t>(options.chunk_size, 1), kMaxStreamBuffer));
	size_t pos = 0;
	while (pos < all.size()) {
		size_t want = std::min(buffer.size(), all.size() - pos);
		std::string_view chunk = all.substr(pos, want);
		if (input.read_copy(chunk, buffer.data()))
			chunk = std::string_view(buffer.data(), want);
		else
			chunk = all.substr(pos); // the mapping is the source of truth
		bool at_end = pos + chunk.size() == all.size();
		size_t used = step(chunk, at_end);
		pos += used;
		if (parsed)
			parsed->fetch_add(used, std::memory_order_relaxed);
		if (at_end || (used == 0 && wanted() == 0))
			break;
		if (wanted() > buffer.size())
			buffer.grow(wanted(), 0);
	}
}

void walk_stream(Input &input, const ScanOptions &options, const Step &step, const std::function<size_t()> &wanted,
		 std::atomic<uint64_t> *parsed)
{
	GrowBuffer buffer(std::min(std::max<size_t>(options.block_size, 1), kMaxStreamBuffer));
	size_t have = 0;
	for (;;) {
		bool at_end = false;
		while (have < buffer.size()) {
			size_t got = input.stream().read(buffer.data() + have, buffer.size() - have);
			if (got == 0) {
				at_end = true;
				break;
			}
			have += got;
		}
		size_t used = step(std::string_view(buffer.data(), have), at_end);
		if (parsed)
			parsed->fetch_add(used, std::memory_order_relaxed);
		memmove(buffer.data(), buffer.data() + used, have - used);
		have -= used;
		if (at_end || (used == 0 && wanted() == 0))
			return;
		if (wanted() > buffer.size())
			buffer.grow(wanted(), have);
	}
}

void walk(Input &input, const ScanOptions &options, const Step &step, const std::function<size_t()> &wanted,
	  std::atomic<uint64_t> *parsed)
{
	if (input.is_mapped())
		walk_mapped(input, options, step, wanted, parsed);
	else
		walk_stream(input, options, step, wanted, parsed);
}

} // namespace

ScanStats scan_stream_input(Input &input, const ScanOptions &options, StreamSink &sink, const Reopen &reopen)
{
	auto start = std::chrono::steady_clock::now();
	ScanStats stats;
	stats.name = input.name();
	stats.compression = std::string(input.compression());
	stats.stream = true;
	stats.layout = Layout::V1;
	const bool two_passes = input.is_mapped() || static_cast<bool>(reopen);
	StreamParser parser(input.name(), options.lenient, sink, two_passes);
	std::atomic<uint64_t> parsed{0};
	auto wanted = [&] { return parser.wanted(); };
	{
		ProgressScope progress(input, options.progress, parsed);
		walk(input, options, [&](std::string_view data, bool at_end) { return parser.parse(data, at_end); }, wanted,
		     &parsed);
	}
	if (parser.wants_second_pass()) {
		auto step = [&](std::string_view data, bool) { return parser.second_pass(data); };
		if (input.is_mapped()) {
			walk(input, options, step, wanted, nullptr);
		} else {
			std::unique_ptr<Input> again = reopen();
			walk(*again, options, step, wanted, nullptr);
		}
	}
	parser.finish();
	stats.stream_stats = parser.stats();
	stats.stream_stats.second_pass = two_passes;
	stats.bytes = parser.bytes();
	stats.lines = parser.stats().records;
	stats.skipped = parser.skipped();
	stats.orphaned = parser.orphaned();
	stats.first_skip = parser.first_skip();
	stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
	return stats;
}

KmapWriter::KmapWriter(std::function<void(std::string_view)> write) : write_(std::move(write))
{
	buffer_.reserve((1u << 20) + 8192);
	buffer_ += "# memorizer kmap v1\n";
}

KmapWriter::~KmapWriter() = default;

void KmapWriter::flush()
{
	if (!buffer_.empty())
		write_(buffer_);
	buffer_.clear();
}

void KmapWriter::hex(uint64_t v)
{
	append_hex(buffer_, v);
}

void KmapWriter::dec(uint64_t v)
{
	append_dec(buffer_, v);
}

void KmapWriter::on_object(const ObjectRecord &o)
{
	if (buffer_.size() >= (1u << 20))
		flush();
	hex(o.alloc_ip);
	buffer_.push_back(',');
	dec(o.alloc_pid);
	buffer_.push_back(',');
	hex(o.va);
	buffer_.push_back(',');
	dec(o.size);
	buffer_.push_back(',');
	dec(o.alloc_jiffies);
	buffer_.push_back(',');
	dec(o.free_jiffies);
	buffer_.push_back(',');
	hex(o.free_ip);
	buffer_.push_back(',');
	buffer_.append(o.allocator);
	buffer_.push_back(',');
	buffer_.append(o.comm);
	buffer_.push_back(',');
	buffer_.append(o.slab_cache);
	buffer_.push_back('\n');
}

// "  %lx,%d,%llu,%llu\n": ip, pid, writes, reads.
void KmapWriter::on_access(const AccessRecord &a)
{
	if (buffer_.size() >= (1u << 20))
		flush();
	buffer_ += "  ";
	hex(a.ip);
	buffer_.push_back(',');
	dec(a.pid);
	buffer_.push_back(',');
	dec(a.writes);
	buffer_.push_back(',');
	dec(a.reads);
	buffer_.push_back('\n');
}

std::string stream_loss_text(const StreamStats &s)
{
	return fmt::format("lost {} objects and {} access entries (LOST records); {} incomplete objects lack {} access "
			   "entries",
			   s.lost_objects, s.lost_entries, s.incomplete, s.missing_entries);
}

} // namespace capmap
