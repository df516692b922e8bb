// FlatMap keeps its entries as it grows; names compare by their bytes and
// intern to their hash.
#include <gtest/gtest.h>

#include <string>

#include "capmap/flat_map.hpp"
#include "capmap/names.hpp"

namespace capmap {
namespace {

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

TEST(NameBytes, EqualExactlyForTheSameShortName)
{
	// Every length up to the limit, and names that differ in one byte at
	// each position (the loads for short names overlap).
	for (size_t n = 0; n <= NameBytes::kMaxLength; ++n) {
		std::string name(n, 'a');
		for (size_t i = 0; i < n; ++i)
			name[i] = static_cast<char>('a' + i);
		EXPECT_EQ(NameBytes::of(name), NameBytes::of(std::string(name))) << n;
		EXPECT_TRUE(NameBytes::of(name).valid());
		for (size_t i = 0; i < n; ++i) {
			std::string other = name;
			other[i] = '_';
			EXPECT_FALSE(NameBytes::of(name) == NameBytes::of(other)) << n << " " << i;
		}
		EXPECT_FALSE(NameBytes::of(name) == NameBytes::of(name + "a")) << n;
	}
	// A name too long to hold equals no name, not even itself, nor the
	// default value that stands for "no name yet".
	std::string long_name(NameBytes::kMaxLength + 1, 'x');
	EXPECT_FALSE(NameBytes::of(long_name).valid());
	EXPECT_FALSE(NameBytes::of(long_name) == NameBytes{});
	EXPECT_FALSE(NameBytes{}.valid());
	EXPECT_FALSE(NameBytes::of("") == NameBytes{});
}

TEST(NameTable, InternThroughTheCacheGivesTheHashKey)
{
	NameTable names;
	NameCache cache;
	for (int round = 0; round < 2; ++round)
		for (std::string name : {"kmalloc-64", "kmalloc-128", "-", "kernfs_node_cache", "a_slab_cache_name_of_29_bytes"})
			EXPECT_EQ(names.intern(name, cache), hash_name(name)) << name;
	EXPECT_EQ(names.lookup(hash_name("kernfs_node_cache")), "kernfs_node_cache");
}

} // namespace
} // namespace capmap
