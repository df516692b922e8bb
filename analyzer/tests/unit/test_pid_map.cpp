// PidMap: exact for every pid the kmap format allows, indexed or hashed.
#include <gtest/gtest.h>

#include <map>

#include "capmap/kmap.hpp"
#include "capmap/pid_map.hpp"

namespace capmap {
namespace {

TEST(PidMap, AgreesWithStdMapOnIndexedAndLargePids)
{
	PidMap<uint64_t> pids;
	std::map<uint64_t, uint64_t> expected;
	// Pids on several pages of the index, the last indexed pid, the first hashed
	// one, the largest the format allows, and the unknown pid.
	const uint64_t edges[] = {0, 1, 4095, 4096, PidMap<uint64_t>::kIndexedPids - 1, PidMap<uint64_t>::kIndexedPids,
				  kMaxPid, kUnknownPid};
	uint64_t seed = 99;
	auto next = [&] { return seed = seed * 6364136223846793005ULL + 1442695040888963407ULL, seed >> 33; };
	for (int round = 0; round < 20000; ++round) {
		uint64_t pid = round % 5 == 0 ? edges[next() % std::size(edges)] : next() % 70000;
		uint64_t add = next() % 1000;
		pids[pid] += add;
		expected[pid] += add;
	}
	EXPECT_EQ(pids.size(), expected.size());
	for (const auto &[pid, value] : expected) {
		ASSERT_NE(pids.find(pid), nullptr) << pid;
		EXPECT_EQ(*pids.find(pid), value) << pid;
	}
	size_t visited = 0;
	pids.for_each([&](uint64_t pid, uint64_t value) {
		++visited;
		EXPECT_EQ(expected.at(pid), value);
	});
	EXPECT_EQ(visited, expected.size());
	EXPECT_EQ(pids.find(70001), nullptr);
	EXPECT_EQ(pids.find(kMaxPid - 1), nullptr);
}

TEST(PidMap, FindDoesNotInsertAndCopiesAreIndependent)
{
	PidMap<int> a;
	EXPECT_EQ(a.find(5), nullptr);
	EXPECT_TRUE(a.empty());
	a[5] = 1;
	a[kUnknownPid] = 2;
	PidMap<int> b = a;
	b[5] = 10;
	b[6] = 11;
	EXPECT_EQ(*a.find(5), 1);
	EXPECT_EQ(a.find(6), nullptr);
	EXPECT_EQ(*b.find(5), 10);
	EXPECT_EQ(*b.find(kUnknownPid), 2);
	EXPECT_EQ(a.size(), 2u);
	EXPECT_EQ(b.size(), 3u);
}

} // namespace
} // namespace capmap
