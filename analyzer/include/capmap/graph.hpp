// capmap graph: who (code) accesses what (object groups), with counts.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "capmap/flat_map.hpp"
#include "capmap/kmap.hpp"
#include "capmap/names.hpp"
#include "capmap/report.hpp"
#include "capmap/scan.hpp"
#include "capmap/symbols.hpp"

namespace capmap {

enum class Grouping { Site, Cache, Object };
std::optional<Grouping> grouping_from_name(std::string_view name);
std::string_view grouping_name(Grouping grouping);

struct GraphOptions {
	Grouping grouping = Grouping::Site;
	std::optional<uint32_t> pid;      // keep accesses by this pid
	std::optional<std::string> comm;  // keep objects allocated by tasks of this name
	std::optional<std::string> cache; // keep objects of this slab cache
};

struct TripleKey {
	uint64_t a = 0, b = 0, c = 0;
	bool operator==(const TripleKey &) const = default;
};
struct TripleKeyHash {
	uint64_t operator()(const TripleKey &k) const { return mix64(k.a ^ mix64(k.b ^ mix64(k.c))); }
};

struct EdgeCounts {
	uint64_t records = 0;
	uint64_t reads = 0;
	uint64_t writes = 0;
	void add(const EdgeCounts &o)
	{
		records += o.records;
		reads += o.reads;
		writes += o.writes;
	}
	uint64_t accesses() const { return reads + writes; }
};

// What a group node stands for. For Site: site = alloc ip; Cache: cache key;
// Object: one allocation (va, alloc_jiffies) with its details.
struct GroupInfo {
	uint64_t objects = 0;
	uint64_t bytes = 0;
	uint64_t site = 0;
	uint64_t cache = 0; // NameTable key
	uint64_t comm = 0;  // NameTable key (Object grouping)
	uint64_t free_jiffies = 0;
};

// Millions of entries: memory comes before probe length.
using EdgeTable = FlatMap<uint64_t, EdgeCounts, U64Hash, 75>;

class alignas(kVisitorAlignment) GraphVisitor {
public:
	explicit GraphVisitor(const GraphOptions &options);

	void on_object(const ObjectRecord &object);
	void on_access(const AccessRecord &access);
	void on_object_end() {}
	void merge(const GraphVisitor &other);

	size_t edge_count() const { return edges_.size(); }
	const EdgeCounts *find_edge(uint64_t ip, PairKey group) const;
	size_t group_count() const { return groups_.size(); }
	const GroupInfo *find_group(PairKey group) const;

	// Calls fn(edge key, counts) for every edge; edge_ip() and edge_group()
	// tell what a key stands for.
	template <class Fn>
	void for_each_edge(Fn &&fn) const
	{
		edges_.for_each(fn);
	}
	uint64_t edge_ip(uint64_t key) const { return ips_[key >> 32]; }
	PairKey edge_group(uint64_t key) const { return groups_[key & 0xffffffffu]; }

	NameTable names;

private:
	uint32_t ip_id(uint64_t ip);
	uint32_t group_id(PairKey group);

	GraphOptions options_;
	NameCache comm_cache_, cache_cache_;
	std::optional<uint64_t> comm_filter_;
	std::optional<uint64_t> cache_filter_;
	bool keep_current_ = false;
	uint32_t current_group_ = 0;
	// A synthetic 5 GB kmap has 8 million distinct edges, so they are kept
	// compact: access ips and groups get 32-bit ids, and an edge is one
	// 64-bit key (ip id, group id) with its counts, 32 bytes a slot, in a
	// table filled to 75% before it grows.
	FlatMap<uint64_t, uint32_t> ip_ids_;
	std::vector<uint64_t> ips_;
	FlatMap<PairKey, uint32_t, PairKeyHash> group_ids_;
	std::vector<PairKey> groups_;
	std::vector<GroupInfo> group_info_;
	EdgeTable edges_;
	uint64_t last_ip_ = 0;
	uint32_t last_ip_id_ = UINT32_MAX; // none yet
};

struct GraphReportOptions {
	OutputFormat format = OutputFormat::Dot;
	Grouping grouping = Grouping::Site;
	size_t top = 0; // heaviest edges kept, 0 = all
	const SymbolTable *symbols = nullptr;
	std::optional<std::string> function; // keep code of this function (or ip)
};

using OutputSink = std::function<void(std::string_view)>;

// Writes the graph to sink in chunks of about 1 MiB.
void render_graph(const GraphVisitor &graph, const ScanStats &stats, const GraphReportOptions &options,
		  const OutputSink &sink);
std::string render_graph(const GraphVisitor &graph, const ScanStats &stats, const GraphReportOptions &options);

} // namespace capmap
