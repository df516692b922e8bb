// The stream (.mzs) parser: records, continuations, LIVE snapshots, losses,
// every malformed case, both input paths, and agreement with the kmap that
// `capmap convert` writes.
#include <gtest/gtest.h>

#include <cstdio>
#include <unistd.h>

#include <fmt/format.h>
#include <zlib.h>

#include "capmap/generator.hpp"
#include "capmap/stream.hpp"
#include "helpers.hpp"

namespace capmap {
namespace {

// Little-endian record bytes, built by hand.
class Builder {
public:
	template <class T>
	Builder &put(T value)
	{
		auto u = static_cast<std::make_unsigned_t<T>>(value);
		for (size_t i = 0; i < sizeof(T); ++i)
			bytes_.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
		return *this;
	}
	Builder &text(std::string_view s, size_t width)
	{
		std::string field(width, '\0');
		memcpy(field.data(), s.data(), std::min(s.size(), width));
		bytes_ += field;
		return *this;
	}
	Builder &header(uint16_t type, uint16_t flags, uint32_t size)
	{
		return put<uint16_t>(type).put<uint16_t>(flags).put<uint32_t>(size);
	}
	Builder &stream(uint16_t cpu = 0, uint32_t magic = mzs::kStreamMagic, uint16_t version = 1,
			uint16_t object_size = 104, uint64_t session = 1)
	{
		header(mzs::kStream, 0, 136).put<uint32_t>(magic).put<uint16_t>(version).put<uint16_t>(cpu);
		put<uint32_t>(2).put<uint16_t>(object_size).put<uint16_t>(32).put<uint32_t>(262144).put<uint32_t>(16);
		put<uint32_t>(1000).put<uint32_t>(0).put<uint64_t>(session).put<uint64_t>(4294667296ULL);
		put<uint64_t>(0xffffffff81000000ULL);
		return text("6.12.0-test", 72);
	}
	Builder &cache(uint16_t id, std::string_view name)
	{
		header(mzs::kCache, 0, 48).put<uint16_t>(id).put<uint16_t>(0).put<uint16_t>(0).put<uint16_t>(0);
		return text(name, 32);
	}
	struct Entry {
		uint64_t ip;
		int32_t pid;
		uint64_t writes, reads;
	};
	struct Object {
		uint64_t id = 1;
		uint64_t va = 0xffff888000001000ULL;
		uint64_t size = 64;
		uint64_t alloc_ip = 0xffffffff81000010ULL;
		uint64_t free_ip = 0xffffffff81000f00ULL;
		uint64_t alloc_jiffies = 10;
		uint64_t free_jiffies = 20;
		int32_t pid = 100;
		uint16_t cache_id = 0;
		uint8_t allocator = 0;
		uint32_t nr_accesses = 0; // 0: the number of entries
		std::string comm = "cat";
		std::vector<Entry> entries;
		bool live = false;
	};
	Builder &object(const Object &o, int size_delta = 0)
	{
		auto n = static_cast<uint32_t>(o.entries.size());
		header(mzs::kObject, o.live ? 1 : 0, static_cast<uint32_t>(104 + 32 * n + size_delta));
		put<uint64_t>(o.id).put<uint64_t>(o.va).put<uint64_t>(o.size).put<uint64_t>(o.alloc_ip);
		put<uint64_t>(o.free_ip).put<uint64_t>(o.alloc_jiffies).put<uint64_t>(o.free_jiffies);
		put<int32_t>(o.pid).put<uint16_t>(o.cache_id).put<uint8_t>(o.allocator).put<uint8_t>(0);
		put<uint32_t>(0).put<uint32_t>(0).put<uint32_t>(o.nr_accesses ? o.nr_accesses : n).put<uint32_t>(n);
		text(o.comm, 16);
		for (const Entry &e : o.entries)
			entry(e);
		for (int i = 0; i < size_delta; ++i)
			bytes_.push_back(0);
		return *this;
	}
	Builder &accesses(uint64_t id, uint32_t first, const std::vector<Entry> &entries, uint32_t nr = UINT32_MAX)
	{
		auto n = static_cast<uint32_t>(entries.size());
		header(mzs::kAccesses, 0, 24 + 32 * n).put<uint64_t>(id).put<uint32_t>(first).put<uint32_t>(nr == UINT32_MAX ? n : nr);
		for (const Entry &e : entries)
			entry(e);
		return *this;
	}
	Builder &lost(uint64_t objects, uint64_t entries) { return header(mzs::kLost, 0, 24).put<uint64_t>(objects).put<uint64_t>(entries); }
	Builder &raw(std::string_view b)
	{
		bytes_ += b;
		return *this;
	}
	size_t size() const { return bytes_.size(); }
	const std::string &bytes() const { return bytes_; }

private:
	Builder &entry(const Entry &e)
	{
		return put<uint64_t>(e.ip).put<uint64_t>(e.writes).put<uint64_t>(e.reads).put<int32_t>(e.pid).put<uint32_t>(0);
	}
	std::string bytes_;
};

using Object = Builder::Object;
using Entry = Builder::Entry;

// Records the visitor calls as kmap-like text lines.
struct Recorder {
	std::vector<std::string> events;
	void on_object(const ObjectRecord &o)
	{
		events.push_back(fmt::format("{:x},{},{:x},{},{},{},{:x},{},{},{}", o.alloc_ip, o.alloc_pid, o.va, o.size,
					     o.alloc_jiffies, o.free_jiffies, o.free_ip, o.allocator, o.comm, o.slab_cache));
	}
	void on_access(const AccessRecord &a) { events.push_back(fmt::format("  {:x},{},{},{}", a.ip, a.pid, a.writes, a.reads)); }
	void on_object_end() { events.push_back("end"); }
	void merge(const Recorder &) {}
};

struct StreamSetup {
	bool lenient = false;
	bool stream = false;      // through a ByteStream instead of the "mapped" bytes
	size_t block_size = 1 << 20;
	bool reopen = false;      // the stream path may read the bytes a second time
};

struct Result {
	std::vector<std::string> events;
	ScanStats stats;
	std::string error;
};

Result parse(std::string_view bytes, const StreamSetup &setup = {})
{
	Result r;
	auto input = setup.stream ? Input::from_memory_stream(bytes, "test.mzs") : Input::from_memory(bytes, "test.mzs");
	ScanOptions o;
	o.lenient = setup.lenient;
	o.block_size = setup.block_size;
	std::vector<Recorder> visitors(1);
	Reopen reopen;
	if (setup.reopen)
		reopen = [bytes] { return Input::from_memory_stream(bytes, "test.mzs"); };
	try {
		r.stats = scan_stream(*input, o, visitors, reopen);
	} catch (const DataError &e) {
		r.error = e.what();
	}
	r.events = visitors[0].events;
	return r;
}

std::string error_of(const Builder &b, const StreamSetup &setup = {}) { return parse(b.bytes(), setup).error; }

// The kmap text convert writes.
std::string convert(std::string_view bytes)
{
	std::string text;
	KmapWriter writer([&](std::string_view chunk) { text.append(chunk); });
	VisitorSink<KmapWriter> sink(writer);
	auto input = Input::from_memory(bytes, "test.mzs");
	ScanOptions o;
	scan_stream_input(*input, o, sink);
	writer.flush();
	return text;
}

std::vector<std::string> kmap_events(std::string_view text)
{
	Recorder r;
	PieceResult res = parse_piece(text, Layout::V1, false, false, true, r);
	EXPECT_FALSE(res.failed) << res.error_line << ": " << res.error;
	return r.events;
}

Builder basic()
{
	Builder b;
	b.stream().cache(3, "kmalloc-64");
	Object o;
	o.cache_id = 3;
	o.entries = {{0xffffffff81000a00ULL, 100, 2, 5}, {0xffffffff81000b00ULL, 200, 1, 0}};
	b.object(o);
	return b;
}

TEST(Stream, DetectsStreamFilesByContent)
{
	Builder b;
	b.stream();
	EXPECT_TRUE(is_stream_file(b.bytes()));
	EXPECT_TRUE(is_stream_file(b.bytes().substr(0, kStreamSniffBytes)));
	EXPECT_FALSE(is_stream_file(b.bytes().substr(0, kStreamSniffBytes - 1)));
	EXPECT_FALSE(is_stream_file("# memorizer kmap v1\nffffffff81000010,1,1,1,1,0,0,KMALLOC,sh,-\n"));
	EXPECT_FALSE(is_stream_file(""));
	Builder wrong_magic;
	wrong_magic.stream(0, 0x12345678);
	EXPECT_FALSE(is_stream_file(wrong_magic.bytes()));
	Builder wrong_size;
	wrong_size.header(mzs::kStream, 0, 128).put<uint32_t>(mzs::kStreamMagic);
	EXPECT_FALSE(is_stream_file(wrong_size.bytes()));
}

TEST(Stream, ObjectWithEntriesAsTheKmapShowsIt)
{
	Result r = parse(basic().bytes());
	ASSERT_EQ(r.error, "");
	std::vector<std::string> expected = {
		"ffffffff81000010,100,ffff888000001000,64,10,20,ffffffff81000f00,KMALLOC,cat,kmalloc-64",
		"  ffffffff81000a00,100,2,5", // ip, pid, writes, reads
		"  ffffffff81000b00,200,1,0", "end"};
	EXPECT_EQ(r.events, expected);
	EXPECT_TRUE(r.stats.stream);
	EXPECT_EQ(r.stats.lines, 3u);
	EXPECT_EQ(r.stats.bytes, basic().size());
	EXPECT_EQ(r.stats.stream_stats.version, 1u);
	EXPECT_EQ(r.stats.stream_stats.cpus, 1u);
	EXPECT_EQ(r.stats.stream_stats.sessions, 1u);
	EXPECT_EQ(r.stats.stream_stats.release, "6.12.0-test");
}

TEST(Stream, NamesAreCleanedAsTheKernelPrintsThem)
{
	Builder b;
	b.stream().cache(1, "my cache,x").cache(2, "");
	Object o;
	o.allocator = 1;
	o.cache_id = 1;
	o.comm = "a,b c\x01\x80\xa0\xa1\xff";
	b.object(o);
	o.comm = "";
	o.cache_id = 2;
	o.allocator = 4;
	b.object(o);
	o.comm = std::string(16, 'x'); // no NUL: 15 characters, as the kernel prints
	o.cache_id = 0;
	o.allocator = 7;
	b.object(o);
	Result r = parse(b.bytes());
	ASSERT_EQ(r.error, "");
	ASSERT_EQ(r.events.size(), 6u);
	EXPECT_EQ(r.events[0], "ffffffff81000010,100,ffff888000001000,64,10,20,ffffffff81000f00,KMEM_CACHE,"
			       "a_b_c___\xa1\xff,my_cache_x");
	EXPECT_EQ(r.events[2], "ffffffff81000010,100,ffff888000001000,64,10,20,ffffffff81000f00,GLOBAL,-,-");
	EXPECT_EQ(r.events[4], "ffffffff81000010,100,ffff888000001000,64,10,20,ffffffff81000f00,ALLOCATOR_7," +
				       std::string(15, 'x') + ",-");
	// And the kmap text of them parses back to the same.
	EXPECT_EQ(kmap_events(convert(b.bytes())), r.events);
}

TEST(Stream, AllocatorNames)
{
	const char *names[] = {"KMALLOC", "KMEM_CACHE", "KMALLOC_LARGE", "PAGE", "GLOBAL", "ALLOCATOR_5"};
	for (uint8_t a = 0; a < 6; ++a) {
		Builder b;
		Object o;
		o.allocator = a;
		b.stream().object(o);
		Result r = parse(b.bytes());
		ASSERT_EQ(r.events.size(), 2u);
		EXPECT_NE(r.events[0].find(std::string(",") + names[a] + ","), std::string::npos) << r.events[0];
	}
}

TEST(Stream, ContinuationsCompleteAnObjectLater)
{
	Builder b;
	b.stream();
	Object big;
	big.id = 7;
	big.nr_accesses = 5;
	big.entries = {{0xa, 1, 0, 1}, {0xb, 1, 0, 2}};
	b.object(big);
	Object other;
	other.id = 8;
	other.va = 0xffff888000002000ULL;
	b.object(other);
	b.accesses(7, 2, {{0xc, 2, 1, 3}});
	b.raw(Builder().stream(1).bytes()); // another CPU's records in between
	b.accesses(7, 3, {{0xd, 2, 1, 4}, {0xe, 3, 0, 5}});
	Result r = parse(b.bytes());
	ASSERT_EQ(r.error, "");
	std::vector<std::string> expected = {
		"ffffffff81000010,100,ffff888000002000,64,10,20,ffffffff81000f00,KMALLOC,cat,-", "end",
		"ffffffff81000010,100,ffff888000001000,64,10,20,ffffffff81000f00,KMALLOC,cat,-",
		"  a,1,0,1", "  b,1,0,2", "  c,2,1,3", "  d,2,1,4", "  e,3,0,5", "end"};
	EXPECT_EQ(r.events, expected);
	EXPECT_EQ(r.stats.stream_stats.incomplete, 0u);
	EXPECT_EQ(r.stats.stream_stats.cpus, 2u);
}

TEST(Stream, LiveObjectsComeLastAsLiveAndLaterRecordsSupersedeThem)
{
	Builder b;
	b.stream();
	Object snap; // a dump_live snapshot of an object freed later
	snap.id = 1;
	snap.live = true;
	snap.entries = {{0xa, 1, 0, 1}};
	b.object(snap);
	Object kept; // live, never superseded: free fields are cleared
	kept.id = 2;
	kept.va = 0xffff888000003000ULL;
	kept.live = true;
	b.object(kept);
	Object again = kept; // a second snapshot of it
	again.id = 3;
	again.entries = {{0xb, 1, 0, 9}};
	Object freed = snap; // the free of the first
	freed.id = 4;
	freed.live = false;
	freed.free_jiffies = 30;
	freed.entries = {{0xa, 1, 0, 4}, {0xc, 1, 1, 1}};
	b.object(freed).object(again);
	Object other_jiffies = kept; // another allocation at the same address
	other_jiffies.id = 5;
	other_jiffies.alloc_jiffies = 11;
	other_jiffies.live = false;
	b.object(other_jiffies);
	Result r = parse(b.bytes());
	ASSERT_EQ(r.error, "");
	std::vector<std::string> expected = {
		"ffffffff81000010,100,ffff888000001000,64,10,30,ffffffff81000f00,KMALLOC,cat,-", "  a,1,0,4", "  c,1,1,1",
		"end",
		"ffffffff81000010,100,ffff888000003000,64,11,20,ffffffff81000f00,KMALLOC,cat,-", "end",
		// at the end: the last snapshot of the live object
		"ffffffff81000010,100,ffff888000003000,64,10,0,0,KMALLOC,cat,-", "  b,1,0,9", "end"};
	EXPECT_EQ(r.events, expected);
	EXPECT_EQ(r.stats.stream_stats.live_records, 3u);
	EXPECT_EQ(r.stats.stream_stats.superseded, 2u);
	EXPECT_EQ(kmap_events(convert(b.bytes())), r.events);
}

// Another CPU's sub-buffer with a dump_live snapshot can reach the file
// after the sub-buffer with the object's free.
TEST(Stream, LiveRecordAfterTheFreeOfItsObjectIsLeftOut)
{
	Builder b;
	b.stream();
	Object freed;
	freed.id = 1;
	freed.entries = {{0xa, 1, 0, 4}};
	Object snap = freed;
	snap.id = (uint64_t{1} << 48) | 1;
	snap.live = true;
	snap.entries = {{0xa, 1, 0, 2}};
	Object other;
	other.id = 2;
	other.va = 0xffff888000002000ULL;
	other.live = true;
	b.object(freed).raw(Builder().stream(1).bytes()).object(snap).object(other);
	std::vector<std::string> expected = {
		"ffffffff81000010,100,ffff888000001000,64,10,20,ffffffff81000f00,KMALLOC,cat,-", "  a,1,0,4", "end",
		"ffffffff81000010,100,ffff888000002000,64,10,0,0,KMALLOC,cat,-", "end"};
	for (int path = 0; path < 3; ++path) {
		StreamSetup s;
		s.stream = path > 0;
		s.reopen = path == 2;
		Result r = parse(b.bytes(), s);
		ASSERT_EQ(r.error, "");
		if (path == 1) {
			// Read once (standard input): only later records supersede.
			EXPECT_FALSE(r.stats.stream_stats.second_pass);
			EXPECT_EQ(r.events.size(), expected.size() + 3);
			EXPECT_EQ(r.stats.stream_stats.superseded, 0u);
		} else {
			EXPECT_TRUE(r.stats.stream_stats.second_pass) << path;
			EXPECT_EQ(r.events, expected) << path;
			EXPECT_EQ(r.stats.stream_stats.superseded, 1u);
		}
	}
}

TEST(Stream, OfTwoSnapshotsTheOneWithMoreAccessesStays)
{
	Builder b;
	b.stream();
	Object newer;
	newer.id = 1;
	newer.live = true;
	newer.nr_accesses = 3;
	newer.entries = {{0xa, 1, 0, 4}, {0xb, 1, 0, 1}};
	Object older = newer; // on another CPU, copied out later
	older.id = (uint64_t{1} << 48) | 1;
	older.nr_accesses = 2;
	older.entries = {{0xa, 1, 0, 2}};
	b.object(newer).raw(Builder().stream(1).bytes()).object(older);
	b.accesses(older.id, 1, {{0xb, 1, 0, 0}}).accesses(1, 2, {{0xc, 1, 0, 1}});
	Result r = parse(b.bytes());
	ASSERT_EQ(r.error, "");
	std::vector<std::string> expected = {"ffffffff81000010,100,ffff888000001000,64,10,0,0,KMALLOC,cat,-", "  a,1,0,4",
					     "  b,1,0,1", "  c,1,0,1", "end"};
	EXPECT_EQ(r.events, expected);
	EXPECT_EQ(r.stats.stream_stats.superseded, 1u);
	EXPECT_EQ(r.stats.stream_stats.incomplete, 0u);
	// The left-out one's ACCESSES records are still checked.
	Builder bad = b;
	bad.accesses(older.id, 1, {{0xb, 1, 0, 0}});
	EXPECT_NE(error_of(bad), "");
}

TEST(Stream, SupersededLiveObjectStillTakesItsContinuations)
{
	Builder b;
	b.stream();
	Object snap;
	snap.id = 1;
	snap.live = true;
	snap.nr_accesses = 2;
	snap.entries = {{0xa, 1, 0, 1}};
	Object freed = snap;
	freed.id = 2;
	freed.live = false;
	freed.nr_accesses = 0;
	b.object(snap).object(freed).accesses(1, 1, {{0xb, 1, 0, 1}});
	Result r = parse(b.bytes());
	ASSERT_EQ(r.error, "");
	EXPECT_EQ(r.events.size(), 3u);
	EXPECT_EQ(r.stats.stream_stats.superseded, 1u);
	EXPECT_EQ(r.stats.stream_stats.incomplete, 0u);
}

TEST(Stream, LostRecordsAndIncompleteObjectsAreCounted)
{
	Builder b;
	b.stream().lost(3, 10);
	Object cut;
	cut.id = 1;
	cut.nr_accesses = 200;
	cut.entries = {{0xa, 1, 0, 1}};
	b.object(cut).accesses(1, 1, {{0xb, 1, 0, 1}});
	Object fine;
	fine.id = 2;
	fine.va = 0xffff888000002000ULL;
	b.object(fine).lost(1, 198);
	Result r = parse(b.bytes());
	ASSERT_EQ(r.error, "");
	const StreamStats &s = r.stats.stream_stats;
	EXPECT_EQ(s.lost_objects, 4u);
	EXPECT_EQ(s.lost_entries, 208u);
	EXPECT_EQ(s.incomplete, 1u);
	EXPECT_EQ(s.missing_entries, 198u);
	// The incomplete object comes at the end with the entries that came.
	std::vector<std::string> expected = {
		"ffffffff81000010,100,ffff888000002000,64,10,20,ffffffff81000f00,KMALLOC,cat,-", "end",
		"ffffffff81000010,100,ffff888000001000,64,10,20,ffffffff81000f00,KMALLOC,cat,-", "  a,1,0,1", "  b,1,0,1",
		"end"};
	EXPECT_EQ(r.events, expected);
	EXPECT_EQ(stream_loss_text(s), "lost 4 objects and 208 access entries (LOST records); 1 incomplete objects lack "
				       "198 access entries");
}

TEST(Stream, UnknownAndPadRecordsAreSkipped)
{
	Builder b;
	b.stream().header(99, 0, 24).put<uint64_t>(1).put<uint64_t>(2).header(mzs::kPad, 0, 8);
	b.raw(basic().bytes().substr(136));
	Result r = parse(b.bytes());
	ASSERT_EQ(r.error, "");
	EXPECT_EQ(r.events.size(), 4u);
	EXPECT_EQ(r.stats.stream_stats.unknown_records, 1u);
	EXPECT_EQ(r.stats.stream_stats.pad_records, 1u);
	EXPECT_EQ(r.stats.lines, 5u);
}

TEST(Stream, EmptyObjectList)
{
	Builder b;
	b.stream();
	Result r = parse(b.bytes());
	EXPECT_EQ(r.error, "");
	EXPECT_TRUE(r.events.empty());
	EXPECT_EQ(convert(b.bytes()), "# memorizer kmap v1\n");
}

// Each malformed record, strict: the error names the file, the record's
// byte offset, what is wrong and the value.
TEST(Stream, MalformedInputIsAnErrorWithItsOffset)
{
	const size_t after = basic().size(); // offset of a record appended to basic()
	struct Case {
		const char *what;
		Builder bytes;
		std::string error;
	};
	std::vector<Case> cases;
	auto add = [&](const char *what, Builder b, std::string error) { cases.push_back({what, std::move(b), std::move(error)}); };
	auto at = [&](size_t offset, std::string what) { return fmt::format("test.mzs: byte offset {}: {}", offset, what); };
	add("truncated header", basic().raw(std::string(4, '\x04')), at(after, "truncated record header (4 bytes left)"));
	add("truncated record", basic().header(mzs::kObject, 0, 104).raw(std::string(40, '\0')),
	    at(after, "OBJECT record runs past the end of the file (size 104, 48 bytes left)"));
	add("size not a multiple of 8", basic().header(mzs::kObject, 0, 13).raw(std::string(8, '\0')),
	    at(after, "record size is not a multiple of 8 (13)"));
	add("size below the header", basic().header(mzs::kObject, 0, 0), at(after, "record size is smaller than the 8-byte record header (0)"));
	add("size beyond any sub-buffer", basic().header(7, 0, 0xfffffff8u),
	    at(after, "record size is larger than the largest sub-buffer, 67108864 bytes (4294967288)"));
	add("wrong magic", Builder().stream(0, 0x11111111),
	    at(0, "STREAM record has the wrong magic (0x11111111, expected 0x54535a4d)"));
	add("wrong version", Builder().stream(0, mzs::kStreamMagic, 2), at(0, "unsupported stream version (2, this capmap reads 1)"));
	add("wrong object size", Builder().stream(0, mzs::kStreamMagic, 1, 96), at(0, "STREAM record's object_size is not 104 (96)"));
	add("later STREAM of the wrong size", basic().header(mzs::kStream, 0, 16).put<uint64_t>(0),
	    at(after, "STREAM record size is not 136 (16)"));
	add("not a STREAM first", Builder().lost(1, 1), at(0, "expected a STREAM record first, found a record of type LOST (6)"));
	{
		Object o;
		o.entries = {{1, 1, 1, 1}};
		add("OBJECT size and nr_entries disagree", Builder().stream().object(o, 8),
		    at(136, "OBJECT record of 144 bytes does not hold exactly nr_entries entries of 32 bytes (1)"));
		add("OBJECT too small", Builder().stream().header(mzs::kObject, 0, 96).raw(std::string(88, '\0')),
		    at(136, "OBJECT record size is smaller than 104 (96)"));
		o.nr_accesses = 0;
		Builder b;
		b.stream().header(mzs::kObject, 0, 136).put<uint64_t>(1).raw(std::string(48, '\0')).put<int32_t>(1);
		b.put<uint32_t>(0).put<uint32_t>(0).put<uint32_t>(0).put<uint32_t>(0).put<uint32_t>(1).text("x", 16);
		b.raw(std::string(32, '\0'));
		add("nr_entries above nr_accesses", b, at(136, "OBJECT nr_entries is larger than nr_accesses (1 > 0)"));
		Object neg;
		neg.pid = -1;
		add("negative pid", Builder().stream().object(neg), at(136, "OBJECT has a negative pid (-1)"));
		Object neg_entry;
		neg_entry.entries = {{1, 1, 1, 1}, {2, -5, 1, 1}};
		add("negative access pid", Builder().stream().object(neg_entry), at(136, "access entry 1 has a negative pid (-5)"));
		Object unnamed;
		unnamed.cache_id = 9;
		add("unnamed cache", Builder().stream().object(unnamed),
		    at(136, "OBJECT names a cache id that no CACHE record before it named (9)"));
		Object waiting;
		waiting.nr_accesses = 3;
		waiting.entries = {{1, 1, 1, 1}};
		add("duplicate waiting id", Builder().stream().object(waiting).object(waiting),
		    at(136 + 136, "OBJECT id is already waiting for ACCESSES records (0x1)"));
		add("ACCESSES for an unknown id", Builder().stream().object(waiting).accesses(5, 1, {{2, 1, 1, 1}}),
		    at(272, "ACCESSES record for an id that no OBJECT record before it left incomplete (0x5)"));
		add("ACCESSES for a complete object", basic().accesses(1, 2, {{2, 1, 1, 1}}),
		    at(after, "ACCESSES record for an id that no OBJECT record before it left incomplete (0x1)"));
		add("ACCESSES overlapping", Builder().stream().object(waiting).accesses(1, 0, {{2, 1, 1, 1}}),
		    at(272, "ACCESSES record overlaps the 1 entries already received (first 0)"));
		add("ACCESSES leaving a gap", Builder().stream().object(waiting).accesses(1, 2, {{2, 1, 1, 1}}),
		    at(272, "ACCESSES record leaves a gap after the 1 entries received (first 2)"));
		add("ACCESSES past nr_accesses",
		    Builder().stream().object(waiting).accesses(1, 1, {{2, 1, 1, 1}, {3, 1, 1, 1}, {4, 1, 1, 1}}),
		    at(272, "ACCESSES record runs past the object's nr_accesses 3 (first 1, nr_entries 3)"));
		add("ACCESSES size and nr_entries disagree", Builder().stream().object(waiting).accesses(1, 1, {{2, 1, 1, 1}}, 2),
		    at(272, "ACCESSES record of 56 bytes does not hold exactly nr_entries entries of 32 bytes (2)"));
		add("ACCESSES too small", Builder().stream().header(mzs::kAccesses, 0, 16).put<uint64_t>(1),
		    at(136, "ACCESSES record size is smaller than 24 (16)"));
	}
	add("CACHE for id 0", Builder().stream().cache(0, "x"), at(136, "CACHE record names cache id 0, which stands for no cache (0)"));
	add("CACHE renaming", Builder().stream().cache(4, "a").cache(4, "b"), at(184, "CACHE record renames cache id 4 from 'a' to 'b' (4)"));
	add("CACHE size", Builder().stream().header(mzs::kCache, 0, 16).put<uint64_t>(1), at(136, "CACHE record size is not 48 (16)"));
	add("LOST size", Builder().stream().header(mzs::kLost, 0, 16).put<uint64_t>(1), at(136, "LOST record size is not 24 (16)"));
	add("LOST overflow", Builder().stream().lost(UINT64_MAX, 0).lost(1, 0),
	    at(160, "LOST totals overflow 64 bits (1 objects, 0 entries)"));
	for (const Case &c : cases) {
		for (bool stream : {false, true}) {
			StreamSetup s;
			s.stream = stream;
			s.block_size = stream ? 16 : 1 << 20;
			EXPECT_EQ(error_of(c.bytes, s), c.error) << c.what << (stream ? " (stream)" : "");
		}
	}
	// CACHE records repeating a name are fine (one per CPU).
	EXPECT_EQ(error_of(Builder().stream().cache(4, "a").stream(1).cache(4, "a")), "");
}

TEST(Stream, LenientSkipsBadRecordsAndTheirContinuations)
{
	Builder b;
	b.stream();
	Object bad;
	bad.id = 1;
	bad.cache_id = 9; // never named
	bad.nr_accesses = 3;
	bad.entries = {{1, 1, 1, 1}};
	b.object(bad).accesses(1, 1, {{2, 1, 1, 1}, {3, 1, 1, 1}});
	b.header(mzs::kLost, 0, 16).put<uint64_t>(1); // wrong size
	b.raw(basic().bytes().substr(136));
	StreamSetup s;
	s.lenient = true;
	Result r = parse(b.bytes(), s);
	ASSERT_EQ(r.error, "");
	EXPECT_EQ(r.events.size(), 4u); // basic()'s object
	EXPECT_EQ(r.stats.skipped, 2u);
	EXPECT_EQ(r.stats.orphaned, 1u);
	EXPECT_EQ(r.stats.first_skip, "test.mzs: byte offset 136: OBJECT names a cache id that no CACHE record before it named (9)");
}

TEST(Stream, LenientStopsAtABrokenHeaderAndKeepsWhatCameBefore)
{
	Builder b = basic();
	Object waiting;
	waiting.id = 2;
	waiting.nr_accesses = 3;
	waiting.entries = {{1, 1, 1, 1}};
	b.object(waiting);
	b.header(mzs::kObject, 0, 12).raw(std::string(64, '\x55')); // the rest cannot be framed
	for (bool stream : {false, true}) {
		StreamSetup s;
		s.lenient = true;
		s.stream = stream;
		s.block_size = 24;
		Result r = parse(b.bytes(), s);
		ASSERT_EQ(r.error, "");
		EXPECT_EQ(r.events.size(), 4u + 3u); // and the incomplete one
		EXPECT_EQ(r.stats.skipped, 1u);
		EXPECT_EQ(r.stats.stream_stats.incomplete, 1u);
		EXPECT_EQ(r.stats.first_skip,
			  fmt::format("test.mzs: byte offset {}: record size is not a multiple of 8 (12)", basic().size() + 136));
	}
	StreamSetup s;
	s.lenient = true;
	EXPECT_EQ(parse(basic().raw("\x01\x02").bytes(), s).stats.first_skip,
		  fmt::format("test.mzs: byte offset {}: truncated record header (2 bytes left)", basic().size()));
}

StreamGeneratorOptions busy_stream(uint64_t seed, uint64_t size = 300u << 10)
{
	StreamGeneratorOptions g;
	g.seed = seed;
	g.target_bytes = size;
	g.cpus = 3;
	g.subbuf_size = 8192;
	g.sites = 200;
	g.access_ips = 500;
	g.processes = 50;
	g.large_every = 97;
	g.snapshot_every = 400;
	g.lost_every = 301;
	g.incomplete_every = 3;
	g.unknown_every = 50;
	return g;
}

std::string generated_stream(const StreamGeneratorOptions &g)
{
	std::string bytes;
	generate_stream(g, [&](std::string_view chunk) { bytes.append(chunk); });
	return bytes;
}

TEST(Stream, GeneratorIsDeterministicAndSeedDependent)
{
	std::string a = generated_stream(busy_stream(1));
	EXPECT_EQ(a, generated_stream(busy_stream(1)));
	EXPECT_NE(a, generated_stream(busy_stream(2)));
	EXPECT_TRUE(is_stream_file(a));
	EXPECT_GE(a.size(), 300u << 10);
}

// The whole point: what the analyses see from a stream is exactly what they
// see from the kmap convert writes from it.
TEST(Stream, GeneratedStreamsAgreeWithTheirConvertedKmaps)
{
	for (uint64_t seed : {1, 2, 3}) {
		std::string bytes = generated_stream(busy_stream(seed));
		Result r = parse(bytes);
		ASSERT_EQ(r.error, "") << seed;
		const StreamStats &s = r.stats.stream_stats;
		EXPECT_GT(s.superseded, 0u);
		EXPECT_GT(s.lost_objects, 0u);
		EXPECT_GT(s.lost_entries, 0u);
		EXPECT_GT(s.incomplete, 0u);
		EXPECT_GT(s.unknown_records, 0u);
		EXPECT_GT(s.pad_records, 0u);
		EXPECT_EQ(s.cpus, 3u);
		std::string text = convert(bytes);
		std::vector<std::string> from_kmap = kmap_events(text);
		ASSERT_EQ(from_kmap.size(), r.events.size()) << seed;
		EXPECT_TRUE(from_kmap == r.events) << seed;
		// Summaries agree too, also with the kmap parsed by two threads.
		test::ScanSetup two;
		two.threads = 2;
		two.piece_size = 4096;
		SummaryVisitor a = test::summarize(text, two);
		SummaryOptions so;
		so.accessors = true;
		auto input = Input::from_memory(bytes, "s.mzs");
		std::vector<SummaryVisitor> v(1, SummaryVisitor(so));
		scan_stream(*input, ScanOptions{}, v);
		v[0].finish();
		EXPECT_EQ(a.totals, v[0].totals);
		EXPECT_EQ(a.sites.size(), v[0].sites.size());
		EXPECT_EQ(a.accessors.size(), v[0].accessors.size());
	}
}

// Buffers of any size, mapped or read: the same objects.
TEST(Stream, BufferSizesAndInputPathsDoNotChangeTheResult)
{
	std::string bytes = generated_stream(busy_stream(4, 120u << 10));
	std::vector<std::string> expected = parse(bytes).events;
	for (size_t block : {size_t{1}, size_t{7}, size_t{100}, size_t{4096}, size_t{1} << 20}) {
		StreamSetup s;
		s.stream = true;
		s.reopen = true;
		s.block_size = block;
		Result r = parse(bytes, s);
		ASSERT_EQ(r.error, "") << block;
		EXPECT_TRUE(r.events == expected) << block;
	}
	// A file on disk: mapped and copied with pread() in small chunks, and read().
	char path[] = "/tmp/capmap-test-XXXXXX";
	int fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
	close(fd);
	for (size_t chunk : {size_t{0}, size_t{64}, size_t{5000}, size_t{128} << 10}) {
		for (bool use_mmap : {true, false}) {
			auto input = Input::open(path, use_mmap);
			ASSERT_TRUE(is_stream_file(input->peek(kStreamSniffBytes)));
			ScanOptions o;
			o.chunk_size = chunk;
			o.block_size = chunk + 1;
			std::vector<Recorder> v(1);
			ScanStats st = scan_stream(*input, o, v, [&] { return Input::open(path, use_mmap); });
			EXPECT_EQ(st.bytes, bytes.size());
			EXPECT_TRUE(v[0].events == expected) << chunk << " " << use_mmap;
		}
	}
	unlink(path);
}

// Read once (a pipe), LIVE objects are copied and come out at the end, in
// the order a second pass gives; without dump_live snapshots (so no free
// can come before a LIVE record of its object) the result is the same.
TEST(Stream, OnePassGivesTheSameObjectsInTheSameOrder)
{
	StreamGeneratorOptions g = busy_stream(6, 200u << 10);
	g.snapshot_every = 0;
	std::string bytes = generated_stream(g);
	Result two = parse(bytes);
	StreamSetup once;
	once.stream = true;
	once.block_size = 333;
	Result one = parse(bytes, once);
	ASSERT_EQ(one.error, "");
	EXPECT_TRUE(two.stats.stream_stats.second_pass);
	EXPECT_FALSE(one.stats.stream_stats.second_pass);
	EXPECT_GT(one.stats.stream_stats.live_records, 100u);
	EXPECT_GT(one.stats.stream_stats.incomplete, 0u);
	EXPECT_TRUE(one.events == two.events);
}

TEST(Stream, CompressedStreamsAreRecognizedAfterDecompression)
{
	std::string bytes = generated_stream(busy_stream(5, 50u << 10));
	z_stream z{};
	ASSERT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	std::string gz(compressBound(static_cast<uLong>(bytes.size())) + 64, '\0');
	z.next_in = reinterpret_cast<Bytef *>(bytes.data());
	z.avail_in = static_cast<uInt>(bytes.size());
	z.next_out = reinterpret_cast<Bytef *>(gz.data());
	z.avail_out = static_cast<uInt>(gz.size());
	ASSERT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
	gz.resize(z.total_out);
	deflateEnd(&z);
	auto input = Input::from_memory(gz, "test.mzs.gz");
	ASSERT_FALSE(input->is_mapped());
	ASSERT_TRUE(is_stream_file(input->peek(kStreamSniffBytes)));
	std::vector<Recorder> v(1);
	ScanStats st = scan_stream(*input, ScanOptions{}, v, [&] { return Input::from_memory(gz, "test.mzs.gz"); });
	EXPECT_EQ(st.compression, "gzip");
	EXPECT_TRUE(st.stream_stats.second_pass);
	EXPECT_EQ(st.bytes, bytes.size());
	EXPECT_TRUE(v[0].events == parse(bytes).events);
}

TEST(Stream, PeekReplaysTheBytesItRead)
{
	std::string text = "# memorizer kmap v1\n1,1,1,1,1,0,0,KMALLOC,sh,-\n";
	auto input = Input::from_memory_stream(text, "x");
	EXPECT_EQ(input->peek(4), "# me");
	EXPECT_EQ(input->peek(2), "# ");
	std::string all(100, '\0');
	size_t got = 0, n;
	while ((n = input->stream().read(all.data() + got, 3)) > 0)
		got += n;
	EXPECT_EQ(all.substr(0, got), text);
}

TEST(Stream, KmapWriterPrintsLikeTheKernel)
{
	std::string text;
	KmapWriter w([&](std::string_view chunk) { text.append(chunk); });
	ObjectRecord o;
	o.alloc_ip = 0xffffffff8139b0f5ULL;
	o.alloc_pid = 97;
	o.va = 0xffff8880035a2800ULL;
	o.size = 1024;
	o.alloc_jiffies = 4294939130ULL;
	o.free_jiffies = 4294939132ULL;
	o.free_ip = 0;
	o.allocator = "KMALLOC";
	o.comm = "ls";
	o.slab_cache = "kmalloc-1k";
	w.on_object(o);
	AccessRecord a;
	a.ip = 0xffffffff81510e2dULL;
	a.pid = 97;
	a.writes = 0;
	a.reads = 12;
	w.on_access(a);
	w.on_object_end();
	w.flush();
	EXPECT_EQ(text, "# memorizer kmap v1\n"
			"ffffffff8139b0f5,97,ffff8880035a2800,1024,4294939130,4294939132,0,KMALLOC,ls,kmalloc-1k\n"
			"  ffffffff81510e2d,97,0,12\n");
}

} // namespace
} // namespace capmap
