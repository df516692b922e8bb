// The kmap parser: every layout, detection, and every kind of malformed input.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "capmap/generator.hpp"
#include "capmap/kmap.hpp"
#include "capmap/numbers.hpp"
#include "helpers.hpp"

namespace capmap {
namespace {

// Records the visitor calls as text, to compare whole parses.
struct Recorder {
	std::vector<std::string> events;
	void on_object(const ObjectRecord &o)
	{
		events.push_back(fmt::format("object {:x} pid={} va={:x} size={} alloc={} free={} free_ip={:x} {} [{}] {} {}",
					     o.alloc_ip, o.alloc_pid, o.va, o.size, o.alloc_jiffies, o.free_jiffies,
					     o.free_ip, o.allocator, o.comm, o.slab_cache, o.kind));
	}
	void on_access(const AccessRecord &a)
	{
		events.push_back(fmt::format("access {:x} pid={} w={} r={}", a.ip, a.pid == kUnknownPid ? -1 : int(a.pid),
					     a.writes, a.reads));
	}
	void on_object_end() { events.push_back("end"); }
};

PieceResult parse(std::string_view text, Layout layout, Recorder &r, bool lenient = false)
{
	return parse_piece(text, layout, lenient, false, true, r);
}

TEST(Numbers, HexAcceptsPrefixLeadingZerosAndRejectsOverflow)
{
	uint64_t v = 0;
	EXPECT_NE(parse_hex("ffffffff81000000,", v), nullptr);
	EXPECT_EQ(v, 0xffffffff81000000ULL);
	EXPECT_NE(parse_hex("0xABC\n", v), nullptr);
	EXPECT_EQ(v, 0xabcu);
	EXPECT_NE(parse_hex("0000000000000000000001\n", v), nullptr);
	EXPECT_EQ(v, 1u);
	EXPECT_EQ(parse_hex("1ffffffffffffffff\n", v), nullptr);
	EXPECT_EQ(parse_hex(",", v), nullptr);
	EXPECT_EQ(parse_hex("0x,", v), nullptr);
}

#if defined(__SSE2__)
TEST(Numbers, BytesInRangeIsExactForEveryByte)
{
	const std::pair<char, char> ranges[] = {{'0', '9'}, {'a', 'f'}, {'a', 'z'}, {'_', '_'}, {0, 0x7f}};
	for (auto [lo, hi] : ranges)
		for (int value = 0; value < 256; ++value) {
			const __m128i bytes = _mm_set1_epi8(static_cast<char>(value));
			const int mask = _mm_movemask_epi8(detail::bytes_in_range(bytes, lo, hi));
			const auto byte = static_cast<unsigned char>(value);
			const bool inside = byte >= static_cast<unsigned char>(lo) && byte <= static_cast<unsigned char>(hi);
			EXPECT_EQ(mask, inside ? 0xffff : 0) << value << " in " << int(lo) << ".." << int(hi);
		}
}
#endif

// The 8-bytes-at-a-time parser must agree with the simple one on every
// length, letter case and terminator.
TEST(Numbers, WideHexAgreesWithSimpleHex)
{
	const std::string digits = "0123456789abcdefABCDEF";
	const std::string stops = ",\n g:\x80\xff/@`G";
	uint64_t seed = 12345;
	auto next = [&] { return seed = seed * 6364136223846793005ULL + 1442695040888963407ULL, seed >> 33; };
	for (int round = 0; round < 20000; ++round) {
		std::string text = round % 7 == 0 ? "0x" : "";
		size_t length = next() % 21;
		for (size_t i = 0; i < length; ++i)
			text += digits[next() % digits.size()];
		text += stops[next() % stops.size()];
		text += std::string(32, '\n');
		uint64_t simple = 1, wide = 2;
		const char *a = parse_hex(text.c_str(), simple);
		const char *b = parse_hex_wide(text.c_str(), text.c_str() + text.size(), wide);
		ASSERT_EQ(a, b) << text;
		if (a) {
			ASSERT_EQ(simple, wide) << text;
		}
	}
}

TEST(Numbers, WideDecimalAgreesWithSimpleDecimal)
{
	const std::string stops = ",\n x/:\x80\xff";
	uint64_t seed = 777;
	auto next = [&] { return seed = seed * 6364136223846793005ULL + 1442695040888963407ULL, seed >> 33; };
	for (int round = 0; round < 20000; ++round) {
		std::string text;
		size_t length = next() % 23;
		for (size_t i = 0; i < length; ++i)
			text += static_cast<char>('0' + next() % 10);
		text += stops[next() % stops.size()];
		std::string padded = text + std::string(16, '\n');
		for (const std::string *t : {&text, &padded}) {
			uint64_t simple = 1, wide = 2;
			const char *a = parse_dec(t->c_str(), simple);
			const char *b = parse_dec_wide(t->c_str(), t->c_str() + t->size(), wide);
			ASSERT_EQ(a, b) << *t;
			if (a) {
				ASSERT_EQ(simple, wide) << *t;
			}
		}
	}
}

// The one-step access line parser must accept exactly what the field by
// field one accepts, with the same values, in every layout: as the first
// line of a pair and as the second, with the classified bytes ending
// anywhere in it.
TEST(Parser, FastAccessLinesAgreeWithFieldByField)
{
	const std::string pieces[] = {"0", "7", "ff", "ffffffff81000000", "0x1f", "1ffffffffffffffff", "12345678",
				      "123456789", "2147483648", "", "a", ",", " ", "\t", "\r", "x", "99999999"};
	uint64_t seed = 4242;
	auto next = [&] { return seed = seed * 6364136223846793005ULL + 1442695040888963407ULL, seed >> 33; };
	for (Layout layout : {Layout::V1, Layout::Legacy10, Layout::Legacy11}) {
		const char *object = layout == Layout::Legacy11 ? "1,1,1,1,1,0,0,KMALLOC,sh,-,7\n" : "1,1,1,1,1,0,0,KMALLOC,sh,-\n";
		for (int round = 0; round < 20000; ++round) {
			std::string line = next() % 8 == 0 ? " \t" : "  ";
			size_t fields = 2 + next() % 4;
			for (size_t i = 0; i < fields; ++i) {
				if (i)
					line += next() % 16 == 0 ? pieces[next() % std::size(pieces)] : ",";
				line += next() % 3 == 0 ? pieces[next() % std::size(pieces)] : std::to_string(next() % 100000);
			}
			line += "\n";
			std::string filler = layout == Layout::Legacy10 ? "  1,1,1\n" : "  1,1,1,1\n";
			// Before the line: nothing, or a first line of the pair of
			// 8 to 46 bytes.
			std::string before;
			if (round % 3 != 0) {
				before = "  " + std::string(1 + next() % 16, 'f') + "," + std::to_string(next() % 100000000) +
					 "," + std::to_string(next() % 100000000);
				if (layout != Layout::Legacy10)
					before += "," + std::to_string(next() % 100000000);
				before += "\n";
			}
			// Enough lines after it that the fast path always has its
			// kFastAccessReach bytes.
			std::string after;
			for (int i = 0; i < 8; ++i)
				after += filler;
			std::string text = object + before + line + after;
			Recorder fast;
			PieceResult r = parse_piece(text, layout, true, false, true, fast);
			// The careful parser alone, on the same line.
			std::string expected = "skipped";
			detail::Cursor c{line.c_str(), line.c_str() + line.size()};
			while (*c.p == ' ' || *c.p == '\t')
				++c.p;
			AccessRecord a;
			bool ok = layout == Layout::V1	       ? detail::parse_access<Layout::V1>(c, a)
				  : layout == Layout::Legacy10 ? detail::parse_access<Layout::Legacy10>(c, a)
							       : detail::parse_access<Layout::Legacy11>(c, a);
			if (ok) {
				Recorder one;
				one.on_access(a);
				expected = one.events[0];
			}
			std::string got = r.skipped ? "skipped" : fast.events.at(before.empty() ? 1 : 2);
			ASSERT_EQ(got, expected) << layout_name(layout) << ": " << line;
		}
	}
}

TEST(Numbers, DecimalRejectsOverflowAndEmpty)
{
	uint64_t v = 0;
	EXPECT_NE(parse_dec("18446744073709551615\n", v), nullptr);
	EXPECT_EQ(v, 18446744073709551615ULL);
	EXPECT_EQ(parse_dec("18446744073709551616\n", v), nullptr);
	EXPECT_EQ(parse_dec("-1\n", v), nullptr);
	EXPECT_EQ(parse_dec("\n", v), nullptr);
}

TEST(Parser, V1ObjectWithAccesses)
{
	Recorder r;
	auto res = parse("# memorizer kmap v1\n"
			 "ffffffff81234567,42,ffff888001234000,64,4294967000,4294967100,ffffffff81230000,KMALLOC,cat,kmalloc-64\n"
			 "  ffffffff81111111,42,3,7\n"
			 "  0xffffffff81222222,7,0,1\n"
			 "ffffffff81234568,0,ffff888001235000,4096,5,0,0,PAGE,swapper/0,-\n",
			 Layout::V1, r);
	EXPECT_FALSE(res.failed);
	EXPECT_EQ(res.lines, 5u);
	std::vector<std::string> expected = {
		"object ffffffff81234567 pid=42 va=ffff888001234000 size=64 alloc=4294967000 free=4294967100 "
		"free_ip=ffffffff81230000 KMALLOC [cat] kmalloc-64 ",
		"access ffffffff81111111 pid=42 w=3 r=7",
		"access ffffffff81222222 pid=7 w=0 r=1",
		"end",
		"object ffffffff81234568 pid=0 va=ffff888001235000 size=4096 alloc=5 free=0 free_ip=0 PAGE [swapper/0] - ",
		"end"};
	EXPECT_EQ(r.events, expected);
}

// The events of a parse that must succeed.
std::vector<std::string> events_of(std::string_view text, Layout layout)
{
	Recorder r;
	PieceResult res = parse(text, layout, r);
	EXPECT_FALSE(res.failed) << res.error;
	return r.events;
}

TEST(Parser, Legacy10AccessesHaveNoPid)
{
	auto events = events_of("1,2,3,4,5,6,7,KMEM_CACHE,bash,dentry\n  a,1,2\n", Layout::Legacy10);
	ASSERT_EQ(events.size(), 3u);
	EXPECT_EQ(events[1], "access a pid=-1 w=1 r=2");
}

TEST(Parser, Legacy11HasKindAndPidLast)
{
	auto events = events_of("1,2,3,4,5,6,7,KMEM_CACHE,bash,dentry,9\n  a,1,2,77\n", Layout::Legacy11);
	ASSERT_EQ(events.size(), 3u);
	EXPECT_EQ(events[0], "object 1 pid=2 va=3 size=4 alloc=5 free=6 free_ip=7 KMEM_CACHE [bash] dentry 9");
	EXPECT_EQ(events[1], "access a pid=77 w=1 r=2");
}

TEST(Parser, CommMayContainSpacesAndCommas)
{
	auto events = events_of("1,2,3,4,5,6,7,KMALLOC,my worker, v2,kmalloc-8\r\n  a,1,2,3\r\n", Layout::V1);
	ASSERT_EQ(events.size(), 3u);
	EXPECT_EQ(events[0], "object 1 pid=2 va=3 size=4 alloc=5 free=6 free_ip=7 KMALLOC [my worker, v2] kmalloc-8 ");
}

TEST(Parser, BlankLinesAndCommentsAreIgnored)
{
	EXPECT_EQ(events_of("#x\n\n1,2,3,4,5,6,7,A,c,-\n  a,1,2,3\n\n", Layout::V1).size(), 3u);
}

TEST(Parser, EmptyKmapIsValid)
{
	ScanStats stats;
	SummaryVisitor s = test::summarize("", {}, &stats);
	EXPECT_EQ(s.totals, Counts{});
	EXPECT_EQ(stats.lines, 0u);
	s = test::summarize("# memorizer kmap v1\n", {}, &stats);
	EXPECT_EQ(s.totals.objects, 0u);
	EXPECT_EQ(stats.lines, 1u);
}

TEST(Detect, LayoutFromFieldCounts)
{
	EXPECT_EQ(detect_layout("# memorizer kmap v1\n1,2,3,4,5,6,7,A,c,-,x\n", "f"), Layout::V1);
	EXPECT_EQ(detect_layout("1,2,3,4,5,6,7,A,c,-\n  a,1,2,3\n", "f"), Layout::V1);
	EXPECT_EQ(detect_layout("1,2,3,4,5,6,7,A,c,-\n  a,1,2\n", "f"), Layout::Legacy10);
	EXPECT_EQ(detect_layout("1,2,3,4,5,6,7,A,c,-,9\n  a,1,2,3\n", "f"), Layout::Legacy11);
	// One comm with a comma does not fool it: the fewest fields count.
	EXPECT_EQ(detect_layout("1,2,3,4,5,6,7,A,c,d,-\n1,2,3,4,5,6,7,A,c,-\n  a,1,2,3\n", "f"), Layout::V1);
	EXPECT_EQ(detect_layout("", "f"), Layout::V1);
	EXPECT_THROW(detect_layout("1,2,3\n", "f"), DataError);
}

TEST(Detect, GeneratedLegacyLayoutsAreRecognised)
{
	for (Layout layout : {Layout::V1, Layout::Legacy10, Layout::Legacy11}) {
		GeneratorOptions g;
		g.layout = layout;
		g.target_bytes = 20000;
		std::string text = test::generated_kmap(g);
		ScanStats stats;
		SummaryVisitor s = test::summarize(text, {}, &stats);
		EXPECT_EQ(stats.layout, layout) << layout_name(layout);
		EXPECT_GT(s.totals.records, 0u);
	}
}

struct Malformed {
	const char *name;
	std::string text;
	std::string error; // expected message after "test.kmap:"
};

void PrintTo(const Malformed &m, std::ostream *os) { *os << m.name; }

class MalformedInput : public testing::TestWithParam<Malformed> {};

TEST_P(MalformedInput, StopsWithFileLineExpectedFound)
{
	const Malformed &m = GetParam();
	EXPECT_EQ(test::summary_error(m.text, {.layout = Layout::V1}), "test.kmap:" + m.error);
	// The stream path reports the same.
	EXPECT_EQ(test::summary_error(m.text, {.layout = Layout::V1, .stream = true}), "test.kmap:" + m.error);
}

TEST_P(MalformedInput, LenientSkipsAndCounts)
{
	const Malformed &m = GetParam();
	ScanStats stats;
	test::ScanSetup setup{.layout = Layout::V1, .lenient = true};
	SummaryVisitor s = test::summarize(m.text, setup, &stats);
	EXPECT_EQ(stats.skipped, 1u);
	EXPECT_EQ(stats.first_skip, "test.kmap:" + m.error);
}

const std::string kGood = "1,2,3,4,5,6,7,KMALLOC,cat,kmalloc-8\n  a,1,2,3\n";

INSTANTIATE_TEST_SUITE_P(
	Parser, MalformedInput,
	testing::Values(
		Malformed{"bad_hex", kGood + "zz,2,3,4,5,6,7,A,c,-\n", "3: expected alloc_ip (hexadecimal), found 'zz'"},
		Malformed{"missing_field", kGood + "1,2,3,4,5,6,7,A\n",
			  "3: expected allocator name followed by ',' and comm, found 'A'"},
		Malformed{"no_cache", kGood + "1,2,3,4,5,6,7,A,comm\n",
			  "3: expected ',' and slab_cache name (or '-') after comm, found 'comm'"},
		Malformed{"pid_too_big", kGood + "1,99999999999,3,4,5,6,7,A,c,-\n",
			  "3: expected alloc_pid (decimal, at most 2147483647), found '99999999999'"},
		Malformed{"size_overflow", kGood + "1,2,3,99999999999999999999999,5,6,7,A,c,-\n",
			  "3: expected size (decimal, at most 2^64-1), found '99999999999999999999999'"},
		Malformed{"access_extra_field", kGood + "  a,1,2,3,4\n",
			  "3: expected end of line after reads (access lines of this layout have 4 fields), found ',4'"},
		Malformed{"access_short", kGood + "  a,1,2\n", "3: expected ',' after writes, found end of line"},
		Malformed{"access_negative", kGood + "  a,1,-2,3\n",
			  "3: expected writes (decimal, at most 2^64-1), found '-2'"},
		Malformed{"access_first", "  a,1,2,3\n" + kGood,
			  "1: expected an object line before the first access line, found an indented access line"},
		Malformed{"binary", kGood + std::string("\x7f\x45\x4c\x46\x02\x01\x01\x00,x\n", 11),
			  "3: expected alloc_ip (hexadecimal), found '\\x7fELF\\x02\\x01\\x01\\x00'"},
		Malformed{"bad_allocator", kGood + "1,2,3,4,5,6,7,K M,c,-\n",
			  "3: expected allocator name (letters, digits, '_'), found 'K M'"},
		Malformed{"truncated", kGood + "1,2,3,4,5,6,7,KMALLOC,cat,kmal",
			  "3: expected a newline at the end of the last line, found end of file (truncated kmap?)"},
		Malformed{"long_line", kGood + std::string(200000, 'a') + "\n",
			  "3: expected a line of at most 65536 bytes, found a line of 200000 bytes"},
		Malformed{"long_access_line", kGood + "  " + std::string(100000, '1') + "\n",
			  "3: expected a line of at most 65536 bytes, found a line of 100002 bytes"}),
	[](const testing::TestParamInfo<Malformed> &param_info) { return std::string(param_info.param.name); });

TEST(Parser, TenMegabyteLineIsAnError)
{
	std::string text = kGood + "1,2,3,4,5,6,7,KMALLOC," + std::string(10u << 20, 'c') + ",-\n" + kGood;
	std::string expected = "test.kmap:3: expected a line of at most 65536 bytes, found a line of 10485784 bytes";
	EXPECT_EQ(test::summary_error(text, {.layout = Layout::V1}), expected);
	EXPECT_EQ(test::summary_error(text, {.layout = Layout::V1, .threads = 2, .piece_size = 1000}), expected);
	EXPECT_EQ(test::summary_error(text, {.layout = Layout::V1, .stream = true}), expected);
}

TEST(Parser, LineTooLongForTheStreamBufferIsAnError)
{
	std::string text = kGood + std::string(300000, 'a') + "\n" + kGood;
	test::ScanSetup setup{.layout = Layout::V1, .block_size = 1000, .stream = true};
	EXPECT_EQ(test::summary_error(text, setup),
		  "test.kmap:3: expected a line of at most 65536 bytes, found a line of more than 131072 bytes");
	setup.lenient = true;
	ScanStats stats;
	SummaryVisitor s = test::summarize(text, setup, &stats);
	EXPECT_EQ(stats.skipped, 1u);
	EXPECT_EQ(s.totals.objects, 2u);
	EXPECT_EQ(stats.lines, 5u);
}

TEST(Parser, LenientCountsAccessLinesOfSkippedObjects)
{
	ScanStats stats;
	SummaryVisitor s = test::summarize(kGood + "x,2,3,4,5,6,7,A,c,-\n  a,1,2,3\n  b,1,2,3\n" + kGood,
					   {.layout = Layout::V1, .lenient = true}, &stats);
	EXPECT_EQ(stats.skipped, 1u);
	EXPECT_EQ(stats.orphaned, 2u);
	EXPECT_EQ(s.totals.objects, 2u);
	EXPECT_EQ(s.totals.records, 2u);
}

TEST(Parser, SumOverflowIsAnErrorEvenWhenLenient)
{
	std::string text = "1,2,3,4,5,6,7,A,c,-\n  a,1,1,18446744073709551615\n  a,1,1,1\n";
	EXPECT_EQ(test::summary_error(text, {.layout = Layout::V1, .lenient = true}),
		  "test.kmap:3: expected the total of reads to fit in 64 bits, found an overflow");
}

// Splitting into pieces, threads and stream blocks must not change anything.
TEST(Parser, SplittingDoesNotChangeTheResult)
{
	GeneratorOptions g;
	g.target_bytes = 300000;
	g.untracked_every = 50;
	std::string text = test::generated_kmap(g);
	ScanStats reference_stats;
	SummaryVisitor reference = test::summarize(text, {}, &reference_stats);
	ASSERT_GT(reference.totals.objects, 100u);
	for (test::ScanSetup setup : {test::ScanSetup{.threads = 3, .piece_size = 1000},
				      test::ScanSetup{.threads = 2, .piece_size = 1},
				      test::ScanSetup{.threads = 4, .piece_size = 5000, .block_size = 20000, .stream = true},
				      test::ScanSetup{.threads = 1, .block_size = 1, .stream = true}}) {
		ScanStats stats;
		SummaryVisitor s = test::summarize(text, setup, &stats);
		EXPECT_EQ(stats.lines, reference_stats.lines);
		EXPECT_EQ(s.totals, reference.totals);
		EXPECT_EQ(s.untracked, reference.untracked);
		EXPECT_EQ(s.sites.size(), reference.sites.size());
		reference.sites.for_each([&](uint64_t key, const Counts &c) {
			const Counts *other = s.sites.find(key);
			ASSERT_NE(other, nullptr);
			EXPECT_EQ(*other, c);
		});
		ASSERT_EQ(s.top_objects.size(), reference.top_objects.size());
		for (size_t i = 0; i < s.top_objects.size(); ++i)
			EXPECT_EQ(s.top_objects[i].va, reference.top_objects[i].va);
	}
}

// An object whose access lines span several stream blocks keeps all of them.
TEST(Parser, ObjectSpanningStreamBlocksStaysWhole)
{
	std::string text = "1,2,3,4,5,6,7,A,c,-\n";
	for (int i = 0; i < 20000; ++i)
		text += "  a,1,1,1\n";
	text += "2,2,3,4,5,6,7,A,c,-\n  b,1,0,5\n";
	SummaryVisitor s = test::summarize(text, {.threads = 2, .piece_size = 1000, .block_size = 4096, .stream = true});
	EXPECT_EQ(s.totals.records, 20001u);
	ASSERT_FALSE(s.top_objects.empty());
	EXPECT_EQ(s.top_objects[0].records, 20000u);
	EXPECT_EQ(s.top_objects[0].reads, 20000u);
}

TEST(Parser, ErrorLineNumbersAreGlobalAcrossPieces)
{
	std::string text;
	for (int i = 0; i < 1000; ++i)
		text += kGood;
	text += "oops\n";
	for (int i = 0; i < 1000; ++i)
		text += kGood;
	std::string expected = "test.kmap:2001: expected alloc_ip (hexadecimal), found 'oops'";
	EXPECT_EQ(test::summary_error(text, {.layout = Layout::V1, .threads = 3, .piece_size = 700}), expected);
	EXPECT_EQ(test::summary_error(text, {.layout = Layout::V1, .threads = 2, .piece_size = 300, .block_size = 2000,
					     .stream = true}),
		  expected);
}

} // namespace
} // namespace capmap
