// FlatMap and the LookupCache in front of it: values stay where the map put
// them, and a cache never hands out a pointer into slots that moved.
#include <gtest/gtest.h>

#include <memory>

#include "capmap/flat_map.hpp"

namespace capmap {
namespace {

using Table = FlatMap<uint64_t, uint64_t>;

TEST(FlatMap, KeepsEveryKeyAcrossGrowthAtEachLoadLimit)
{
	FlatMap<uint64_t, uint64_t, U64Hash, 50> half;
	FlatMap<uint64_t, uint64_t, U64Hash, 75> three_quarters;
	for (uint64_t k = 0; k < 5000; ++k) {
		half[k * 7919] = k;
		three_quarters[k * 7919] = k;
	}
	EXPECT_EQ(half.size(), 5000u);
	EXPECT_EQ(three_quarters.size(), 5000u);
	// Grown at half and at three quarters of their slots.
	EXPECT_EQ(half.capacity(), 16384u);
	EXPECT_EQ(three_quarters.capacity(), 8192u);
	for (uint64_t k = 0; k < 5000; ++k) {
		ASSERT_NE(half.find(k * 7919), nullptr);
		EXPECT_EQ(*half.find(k * 7919), k);
		EXPECT_EQ(*three_quarters.find(k * 7919), k);
	}
	EXPECT_EQ(half.find(1), nullptr);
}

TEST(LookupCache, FollowsTheMapWhenItGrows)
{
	Table table;
	LookupCache<Table, 16> cache;
	// Far more keys than cache slots and than the table's first capacity:
	// every growth moves the values the cache pointed at.
	for (int round = 0; round < 3; ++round)
		for (uint64_t k = 0; k < 1000; ++k)
			cache.get(table, k) += k;
	ASSERT_EQ(table.size(), 1000u);
	for (uint64_t k = 0; k < 1000; ++k)
		EXPECT_EQ(*table.find(k), 3 * k) << k;
}

TEST(LookupCache, CopyDoesNotTrustAReusedAddress)
{
	LookupCache<Table, 16> copy;
	{
		auto gone = std::make_unique<Table>();
		LookupCache<Table, 16> cache;
		cache.get(*gone, 5) = 50;
		copy = cache;
	}
	// The allocator commonly hands the freed slot array to the next table
	// of the same size: a copy that kept the pointers and the address would
	// write into it without the table knowing the key.
	Table next;
	copy.get(next, 5) += 1;
	ASSERT_NE(next.find(5), nullptr);
	EXPECT_EQ(*next.find(5), 1u);
	EXPECT_EQ(next.size(), 1u);
}

TEST(LookupCache, ForgetAfterGrowthOutsideTheCache)
{
	Table table;
	LookupCache<Table, 16> cache;
	cache.get(table, 1) = 10;
	for (uint64_t k = 100; k < 1100; ++k) // grows the table without the cache
		table[k] = k;
	cache.forget();
	cache.get(table, 1) += 1;
	EXPECT_EQ(*table.find(1), 11u);
}

} // namespace
} // namespace capmap
