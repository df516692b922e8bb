// graph, object and diff on small kmaps, plus symbols and compressed input.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "capmap/diff.hpp"
#include "capmap/generator.hpp"
#include "capmap/graph.hpp"
#include "capmap/object_query.hpp"
#include "capmap/symbols.hpp"
#include "helpers.hpp"

namespace capmap {
namespace {

const char *const kKmap = "# memorizer kmap v1\n"
			  "ffffffff81000010,100,ffff888000001000,64,10,20,ffffffff81000f00,KMALLOC,cat,kmalloc-64\n"
			  "  ffffffff81000a00,100,2,5\n"
			  "  ffffffff81000b00,200,1,0\n"
			  "ffffffff81000010,100,ffff888000002000,64,11,0,0,KMALLOC,cat,kmalloc-64\n"
			  "  ffffffff81000a04,100,0,3\n"
			  "ffffffff81000020,200,ffff888000001000,192,30,0,0,KMEM_CACHE,sh,dentry\n"
			  "  ffffffff81000b00,200,1,1\n";

const char *const kMap = "ffffffff81000000 T _stext\n"
			 "ffffffff81000010 T alloc_thing\n"
			 "ffffffff81000a00 t reader_fn\n"
			 "ffffffff81000b00 T writer_fn\n"
			 "ffffffff81000c00 d some_data\n"
			 "ffffffffc0001000 t mod_fn\t[mymod]\n";

GraphVisitor graph_of(const GraphOptions &options, unsigned threads = 1)
{
	return test::scan_text<GraphVisitor>(kKmap, {.threads = threads, .piece_size = 50},
					     [&] { return GraphVisitor(options); });
}

TEST(Graph, EdgesBySiteCarryReadAndWriteCounts)
{
	GraphVisitor g = graph_of({}, 2);
	EXPECT_EQ(g.edge_count(), 4u);
	const EdgeCounts *e = g.find_edge(0xffffffff81000b00, {0xffffffff81000010, 0});
	ASSERT_NE(e, nullptr);
	EXPECT_EQ(e->writes, 1u);
	EXPECT_EQ(e->reads, 0u);
	e = g.find_edge(0xffffffff81000b00, {0xffffffff81000020, 0});
	ASSERT_NE(e, nullptr);
	EXPECT_EQ(e->reads, 1u);
	EXPECT_EQ(g.find_group({0xffffffff81000010, 0})->objects, 2u);
}

TEST(Graph, FiltersByPidCommAndCache)
{
	GraphOptions by_pid;
	by_pid.pid = 200;
	EXPECT_EQ(graph_of(by_pid).edge_count(), 2u);
	GraphOptions by_comm;
	by_comm.comm = "sh";
	EXPECT_EQ(graph_of(by_comm).edge_count(), 1u);
	GraphOptions by_cache;
	by_cache.cache = "kmalloc-64";
	GraphVisitor g = graph_of(by_cache);
	EXPECT_EQ(g.edge_count(), 3u);
	by_cache.grouping = Grouping::Object;
	EXPECT_EQ(graph_of(by_cache).group_count(), 2u);
}

TEST(Graph, SymbolsMergeIpsOfOneFunction)
{
	SymbolTable symbols = SymbolTable::parse(kMap, "test.map");
	GraphOptions o;
	o.grouping = Grouping::Cache;
	GraphVisitor g = graph_of(o);
	GraphReportOptions ro;
	ro.format = OutputFormat::Csv;
	ro.grouping = Grouping::Cache;
	ro.symbols = &symbols;
	std::string csv = render_graph(g, {}, ro);
	// a00 and a04 are both reader_fn: one edge with 2 records.
	EXPECT_NE(csv.find("cffffffff81000a00,reader_fn,k"), std::string::npos) << csv;
	EXPECT_NE(csv.find(",cache,kmalloc-64,2,8,2\n"), std::string::npos) << csv;
	ro.function = "writer_fn";
	csv = render_graph(g, {}, ro);
	EXPECT_EQ(csv.find("reader_fn"), std::string::npos) << csv;
	EXPECT_NE(csv.find("writer_fn"), std::string::npos) << csv;
}

TEST(Object, FindsEveryObjectContainingTheAddress)
{
	ObjectQueryVisitor q = test::scan_text<ObjectQueryVisitor>(kKmap, {.threads = 2, .piece_size = 10},
								   [] { return ObjectQueryVisitor(0xffff888000001010); });
	q.finish();
	ASSERT_EQ(q.found.size(), 2u);
	EXPECT_EQ(q.found[0].alloc_jiffies, 10u);
	EXPECT_EQ(q.found[0].comm, "cat");
	ASSERT_EQ(q.found[0].accesses.size(), 2u);
	EXPECT_EQ(q.found[0].accesses[1].ip, 0xffffffff81000b00u);
	EXPECT_EQ(q.found[1].slab_cache, "dentry");
	EXPECT_EQ(q.found[1].accesses.size(), 1u);
	// Past the end of the 64-byte object only the 192-byte one remains.
	ObjectQueryVisitor past = test::scan_text<ObjectQueryVisitor>(kKmap, {}, [] { return ObjectQueryVisitor(0xffff888000001040); });
	EXPECT_EQ(past.found.size(), 1u);
}

TEST(Diff, ReportsAddedRemovedAndChanged)
{
	SummaryVisitor a = test::summarize(kKmap);
	std::string b_text = std::string(kKmap) + "ffffffff81000030,5,ffff888000009000,8,40,0,0,KMALLOC,ls,kmalloc-8\n"
						  "  ffffffff81000a00,5,0,4\n";
	SummaryVisitor b = test::summarize(b_text);
	DiffOptions o;
	o.format = OutputFormat::Json;
	std::string json = render_diff(a, {}, b, {}, o);
	EXPECT_NE(json.find("\"sites\": {\"added\": 1, \"removed\": 0, \"changed\": 0, \"unchanged\": 2"), std::string::npos)
		<< json;
	EXPECT_NE(json.find("\"caches\": {\"added\": 1, \"removed\": 0, \"changed\": 0"), std::string::npos) << json;
	EXPECT_NE(json.find("\"accessors\": {\"added\": 0, \"removed\": 0, \"changed\": 1"), std::string::npos) << json;
	std::string reverse = render_diff(b, {}, a, {}, o);
	EXPECT_NE(reverse.find("\"sites\": {\"added\": 0, \"removed\": 1"), std::string::npos) << reverse;
}

TEST(Symbols, SystemMapAndKallsyms)
{
	SymbolTable s = SymbolTable::parse(kMap, "test.map");
	EXPECT_EQ(s.size(), 5u); // the data symbol is not code
	EXPECT_EQ(s.describe(0xffffffff81000a1f), "reader_fn+0x1f");
	EXPECT_EQ(s.describe(0xffffffff81000010), "alloc_thing+0x0");
	EXPECT_EQ(s.describe(0xffffffffc0001004), "mod_fn [mymod]+0x4");
	EXPECT_EQ(s.describe(0x1000), "1000");
}

TEST(Symbols, MalformedAndUnprivilegedFilesAreErrors)
{
	try {
		SymbolTable::parse("ffffffff81000000 T ok\nnot a symbol line\n", "bad.map");
		FAIL();
	} catch (const DataError &e) {
		EXPECT_STREQ(e.what(), "bad.map:2: expected 'ADDRESS TYPE NAME' (System.map or kallsyms), found 'not a symbol line'");
	}
	EXPECT_THROW(SymbolTable::parse("0000000000000000 T a\n0000000000000000 T b\n", "k"), DataError);
}

std::string gzip(std::string_view text, size_t cut = 0)
{
	std::string out(compressBound(text.size()) + 64, '\0');
	z_stream z{};
	deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(text.data()));
	z.avail_in = static_cast<uInt>(text.size());
	z.next_out = reinterpret_cast<Bytef *>(out.data());
	z.avail_out = static_cast<uInt>(out.size());
	deflate(&z, Z_FINISH);
	out.resize(z.total_out - cut);
	deflateEnd(&z);
	return out;
}

TEST(Input, GzipAndZstdGiveTheSameSummary)
{
	SummaryVisitor plain = test::summarize(kKmap);
	std::string gz = gzip(kKmap);
	// Two concatenated gzip members are one stream (like cat a.gz b.gz).
	SummaryVisitor twice = test::summarize(gz + gz);
	EXPECT_EQ(twice.totals.objects, 2 * plain.totals.objects);
	std::string zst(ZSTD_compressBound(strlen(kKmap)), '\0');
	zst.resize(ZSTD_compress(zst.data(), zst.size(), kKmap, strlen(kKmap), 3));
	ScanStats stats;
	EXPECT_EQ(test::summarize(zst, {}, &stats).totals, plain.totals);
	EXPECT_EQ(stats.compression, "zstd");
}

TEST(Input, TruncatedOrCorruptCompressedInputIsAnError)
{
	EXPECT_EQ(test::summary_error(gzip(kKmap, 5)), "test.kmap: gzip stream is truncated (unexpected end of file)");
	std::string corrupt = gzip(kKmap);
	corrupt[20] ^= 0x55;
	EXPECT_NE(test::summary_error(corrupt).find("test.kmap: "), std::string::npos);
	std::string zst(ZSTD_compressBound(strlen(kKmap)), '\0');
	zst.resize(ZSTD_compress(zst.data(), zst.size(), kKmap, strlen(kKmap), 3) - 4);
	EXPECT_EQ(test::summary_error(zst), "test.kmap: zstd stream is truncated (unexpected end of file)");
}

// A mapped file is parsed through small pread() copies; whatever the copy
// size (lines longer than it, access runs cut anywhere, lenient skips across
// a cut), the result must be that of parsing the mapping in place.
TEST(Input, MappedFileReadInCopiesMatchesTheMapping)
{
	GeneratorOptions g;
	g.target_bytes = 200000;
	g.untracked_every = 50;
	std::string text = test::generated_kmap(g);
	std::string lenient_text = text;
	// A bad object line with access lines (orphans), and a line longer than the copies.
	size_t at = lenient_text.find("\nffff", lenient_text.size() / 2) + 1;
	lenient_text.insert(at, "xyz,1,2,3\n  ffffffff81000000,1,2,3\n  ffffffff81000000,1,2,3\n" +
					std::string(3000, 'q') + "\n");
	std::string strict_error_text = text;
	strict_error_text.insert(strict_error_text.find("\n  ", text.size() * 3 / 4) + 1, "  12,bad\n");

	char path[] = "/tmp/capmap-unit-XXXXXX";
	int fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	close(fd);
	auto scan_file = [&](const std::string &content, size_t chunk_size, unsigned threads, bool lenient,
			     ScanStats &stats) {
		std::ofstream(path, std::ios::binary) << content;
		std::unique_ptr<Input> input = Input::open(path);
		ScanOptions o;
		o.threads = threads;
		o.lenient = lenient;
		o.piece_size = 40000;
		o.chunk_size = chunk_size;
		SummaryOptions so;
		so.accessors = true;
		std::vector<SummaryVisitor> visitors(threads, SummaryVisitor(so));
		stats = scan_kmap(*input, o, visitors);
		for (unsigned i = 1; i < threads; ++i)
			visitors[0].merge(visitors[i]);
		visitors[0].finish();
		return std::move(visitors[0]);
	};
	for (bool lenient : {false, true}) {
		const std::string &content = lenient ? lenient_text : text;
		ScanStats want_stats;
		SummaryVisitor want = scan_file(content, 0, 1, lenient, want_stats);
		for (size_t chunk_size : {64u, 1000u, 4096u, 128u << 10})
			for (unsigned threads : {1u, 2u}) {
				SCOPED_TRACE(fmt::format("lenient {} chunk {} threads {}", lenient, chunk_size, threads));
				ScanStats stats;
				SummaryVisitor got = scan_file(content, chunk_size, threads, lenient, stats);
				EXPECT_EQ(got.totals, want.totals);
				EXPECT_EQ(got.sites.size(), want.sites.size());
				EXPECT_EQ(got.accessors.size(), want.accessors.size());
				EXPECT_EQ(stats.lines, want_stats.lines);
				EXPECT_EQ(stats.skipped, want_stats.skipped);
				EXPECT_EQ(stats.orphaned, want_stats.orphaned);
				EXPECT_EQ(stats.first_skip, want_stats.first_skip);
			}
		if (lenient) {
			EXPECT_EQ(want_stats.orphaned, 2u);
		}
	}
	ScanStats ignored;
	std::string want_error;
	try {
		scan_file(strict_error_text, 0, 1, false, ignored);
	} catch (const DataError &e) {
		want_error = e.what();
	}
	EXPECT_NE(want_error.find(": expected"), std::string::npos);
	for (size_t chunk_size : {64u, 4096u})
		EXPECT_THROW(
			{
				try {
					scan_file(strict_error_text, chunk_size, 2, false, ignored);
				} catch (const DataError &e) {
					EXPECT_EQ(std::string(e.what()), want_error);
					throw;
				}
			},
			DataError);
	std::remove(path);
}

} // namespace
} // namespace capmap
