// Aggregations: hand-checked figures on a small kmap, and every table adding
// up to the totals on generated ones.
#include <gtest/gtest.h>

#include "capmap/generator.hpp"
#include "capmap/names.hpp"
#include "helpers.hpp"

namespace capmap {
namespace {

const char *const kSmall = "# memorizer kmap v1\n"
			   "ffffffff81000010,100,ffff888000001000,64,10,20,ffffffff81000f00,KMALLOC,cat,kmalloc-64\n"
			   "  ffffffff81000a00,100,2,5\n"
			   "  ffffffff81000b00,200,1,0\n"
			   "ffffffff81000010,100,ffff888000002000,64,11,0,0,KMALLOC,cat,kmalloc-64\n"
			   "  ffffffff81000a00,100,0,3\n"
			   "ffffffff81000020,200,ffff888000003000,192,12,0,0,KMEM_CACHE,sh,dentry\n"
			   "0,0,0,0,0,0,0,UNTRACKED,-,-\n"
			   "  ffffffff81000c00,300,4,6\n";

Counts counts(uint64_t objects, uint64_t live, uint64_t bytes, uint64_t records, uint64_t reads, uint64_t writes)
{
	return Counts{objects, live, bytes, records, reads, writes};
}

TEST(Summary, SmallKmapByHand)
{
	SummaryVisitor s = test::summarize(kSmall);
	EXPECT_EQ(s.totals, counts(4, 3, 320, 4, 14, 7));
	EXPECT_EQ(s.untracked, counts(1, 1, 0, 1, 6, 4));

	EXPECT_EQ(s.sites.size(), 3u);
	EXPECT_EQ(*s.sites.find(0xffffffff81000010), counts(2, 1, 128, 3, 8, 3));
	EXPECT_EQ(*s.sites.find(0xffffffff81000020), counts(1, 1, 192, 0, 0, 0));
	EXPECT_EQ(*s.sites.find(0), counts(1, 1, 0, 1, 6, 4));

	EXPECT_EQ(*s.caches.find(hash_name("kmalloc-64")), counts(2, 1, 128, 3, 8, 3));
	EXPECT_EQ(*s.caches.find(hash_name("-")), counts(1, 1, 0, 1, 6, 4));
	EXPECT_EQ(*s.allocators.find(hash_name("KMEM_CACHE")), counts(1, 1, 192, 0, 0, 0));

	// Processes: objects by allocating pid, accesses by accessing pid.
	EXPECT_EQ(*s.processes.find(100), counts(2, 1, 128, 2, 8, 2));
	EXPECT_EQ(*s.processes.find(200), counts(1, 1, 192, 1, 0, 1));
	EXPECT_EQ(*s.processes.find(300), counts(0, 0, 0, 1, 6, 4));
	EXPECT_EQ(*s.processes.find(0), counts(1, 1, 0, 0, 0, 0));
	EXPECT_EQ(s.names.lookup(*s.process_comm.find(100)), "cat");
	EXPECT_EQ(s.process_comm.find(300), nullptr);

	EXPECT_EQ(*s.accessors.find(0xffffffff81000a00), counts(0, 0, 0, 2, 8, 2));

	ASSERT_EQ(s.top_objects.size(), 4u);
	EXPECT_EQ(s.top_objects[0].va, 0u); // the untracked pseudo-object: 10 accesses
	EXPECT_EQ(s.top_objects[1].va, 0xffff888000001000u);
	EXPECT_EQ(s.top_objects[1].accesses(), 8u);
	EXPECT_EQ(s.top_objects[3].accesses(), 0u);
}

// One allocation site handing out objects of several caches in turn, names
// too long to compare by their bytes, and a pid whose task name changes:
// each object still lands in the row of its own names.
TEST(Summary, ObjectsOfOneSiteWithDifferentNames)
{
	const std::string long_cache = "a_slab_cache_with_a_long_name_" + std::string(20, 'x');
	const std::string long_comm = "a task name longer than 24 bytes";
	const std::string text = "ffffffff81000010,7,ffff888000001000,64,1,0,0,KMALLOC,zsh,kmalloc-64\n"
				 "  a,7,1,2\n"
				 "ffffffff81000010,7,ffff888000002000,100,2,0,0,KMALLOC,zsh,kmalloc-128\n"
				 "  a,7,0,4\n"
				 "ffffffff81000010,7,ffff888000003000,64,3,0,0,KMALLOC,bash,kmalloc-64\n"
				 "ffffffff81000010,7,ffff888000004000,8,4,0,0,KMEM_CACHE,zsh,kmalloc-64\n"
				 "ffffffff81000030,8,ffff888000005000,512,5,0,0,KMEM_CACHE," +
				 long_comm + "," + long_cache + "\n"
					     "  b,8,3,3\n"
					     "ffffffff81000030,8,ffff888000006000,512,6,9,c,KMEM_CACHE," +
				 long_comm + "," + long_cache + "\n"
					     "0,9,0,0,0,0,0,UNTRACKED,aaa,-\n"
					     "  c,9,1,1\n"
					     "ffffffff81000030,9,ffff888000007000,512,7,0,0,KMEM_CACHE,zzz," +
				 long_cache + "\n";
	for (test::ScanSetup setup : {test::ScanSetup{}, test::ScanSetup{.threads = 3, .piece_size = 1}}) {
		SummaryVisitor s = test::summarize(text, setup);
		EXPECT_EQ(s.totals, counts(8, 7, 1772, 4, 10, 5));
		EXPECT_EQ(*s.sites.find(0xffffffff81000010), counts(4, 4, 236, 2, 6, 1));
		EXPECT_EQ(*s.sites.find(0xffffffff81000030), counts(3, 2, 1536, 1, 3, 3));
		EXPECT_EQ(*s.caches.find(hash_name("kmalloc-64")), counts(3, 3, 136, 1, 2, 1));
		EXPECT_EQ(*s.caches.find(hash_name("kmalloc-128")), counts(1, 1, 100, 1, 4, 0));
		EXPECT_EQ(*s.caches.find(hash_name(long_cache)), counts(3, 2, 1536, 1, 3, 3));
		EXPECT_EQ(*s.allocators.find(hash_name("KMALLOC")), counts(3, 3, 228, 2, 6, 1));
		EXPECT_EQ(*s.allocators.find(hash_name("KMEM_CACHE")), counts(4, 3, 1544, 1, 3, 3));
		EXPECT_EQ(s.untracked, counts(1, 1, 0, 1, 1, 1));
		// The alphabetically first name each pid allocated under; the
		// untracked pseudo-object's "aaa" is no task's name.
		EXPECT_EQ(s.names.lookup(*s.process_comm.find(7)), "bash");
		EXPECT_EQ(s.names.lookup(*s.process_comm.find(8)), long_comm);
		EXPECT_EQ(s.names.lookup(*s.process_comm.find(9)), "zzz");
		ASSERT_GE(s.top_objects.size(), 2u);
		EXPECT_EQ(s.top_objects[0].va, 0xffff888000005000u);
		EXPECT_EQ(s.names.lookup(s.top_objects[0].cache), long_cache);
		EXPECT_EQ(s.names.lookup(s.top_objects[0].comm), long_comm);
		EXPECT_EQ(s.top_objects[1].va, 0xffff888000002000u);
		EXPECT_EQ(s.names.lookup(s.top_objects[1].cache), "kmalloc-128");
		EXPECT_EQ(s.names.lookup(s.top_objects[1].allocator), "KMALLOC");
	}
}

template <class CountsTable>
Counts sum(const CountsTable &table)
{
	Counts total;
	table.for_each([&](uint64_t, const Counts &c) { total.add(c); });
	return total;
}

TEST(Summary, EveryTableAddsUpToTheTotals)
{
	for (Layout layout : {Layout::V1, Layout::Legacy10, Layout::Legacy11}) {
		GeneratorOptions g;
		g.layout = layout;
		g.target_bytes = 200000;
		g.untracked_every = 30;
		std::string text = test::generated_kmap(g);
		SummaryVisitor s = test::summarize(text, {.threads = 3, .piece_size = 4000});
		EXPECT_GT(s.untracked.records, 0u);
		EXPECT_EQ(sum(s.sites), s.totals);
		EXPECT_EQ(sum(s.caches), s.totals);
		EXPECT_EQ(sum(s.allocators), s.totals);
		EXPECT_EQ(sum(s.processes), s.totals);
		Counts code = sum(s.accessors);
		EXPECT_EQ(code.records, s.totals.records);
		EXPECT_EQ(code.reads, s.totals.reads);
		EXPECT_EQ(code.writes, s.totals.writes);
	}
}

TEST(Summary, TopObjectsKeepsTheHeaviestInOrder)
{
	std::string text;
	for (int i = 0; i < 50; ++i)
		text += "1,2," + std::to_string(1000 + i) + ",8,1,0,0,A,c,-\n  a,1,0," + std::to_string((i * 37) % 50) + "\n";
	SummaryOptions so;
	so.top_objects = 5;
	SummaryVisitor s = test::scan_text<SummaryVisitor>(text, {.threads = 2, .piece_size = 100},
							   [&] { return SummaryVisitor(so); });
	s.finish();
	ASSERT_EQ(s.top_objects.size(), 5u);
	for (size_t i = 0; i < 5; ++i)
		EXPECT_EQ(s.top_objects[i].reads, 49u - i);
}

} // namespace
} // namespace capmap
