#include "capmap/graph.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>

#include <fmt/format.h>

#include "capmap/text.hpp"

namespace capmap {

std::optional<Grouping> grouping_from_name(std::string_view name)
{
	if (name == "site")
		return Grouping::Site;
	if (name == "cache")
		return Grouping::Cache;
	if (name == "object")
		return Grouping::Object;
	return std::nullopt;
}

std::string_view grouping_name(Grouping grouping)
{
	switch (grouping) {
	case Grouping::Cache:
		return "cache";
	case Grouping::Object:
		return "object";
	case Grouping::Site:
		break;
	}
	return "site";
}

GraphVisitor::GraphVisitor(const GraphOptions &options) : options_(options)
{
	if (options.comm)
		comm_filter_ = hash_name(*options.comm);
	if (options.cache)
		cache_filter_ = hash_name(*options.cache);
}

uint32_t GraphVisitor::ip_id(uint64_t ip)
{
	uint32_t &id = ip_ids_[ip];
	if (id == 0) {
		ips_.push_back(ip);
		id = static_cast<uint32_t>(ips_.size()); // stored +1 so that 0 means "new"
	}
	return id - 1;
}

uint32_t GraphVisitor::group_id(PairKey group)
{
	uint32_t &id = group_ids_[group];
	if (id == 0) {
		groups_.push_back(group);
		group_info_.emplace_back();
		id = static_cast<uint32_t>(groups_.size());
	}
	return id - 1;
}

const EdgeCounts *GraphVisitor::find_edge(uint64_t ip, PairKey group) const
{
	const uint32_t *ip_plus_one = ip_ids_.find(ip);
	const uint32_t *group_plus_one = group_ids_.find(group);
	if (!ip_plus_one || !group_plus_one)
		return nullptr;
	return edges_.find((uint64_t{*ip_plus_one - 1} << 32) | (*group_plus_one - 1));
}

const GroupInfo *GraphVisitor::find_group(PairKey group) const
{
	const uint32_t *id = group_ids_.find(group);
	return id ? &group_info_[*id - 1] : nullptr;
}

void GraphVisitor::on_object(const ObjectRecord &object)
{
	uint64_t cache = names.intern(object.slab_cache, cache_cache_);
	uint64_t comm = names.intern(object.comm, comm_cache_);
	keep_current_ = (!comm_filter_ || *comm_filter_ == comm) && (!cache_filter_ || *cache_filter_ == cache);
	if (!keep_current_)
		return;
	PairKey group;
	switch (options_.grouping) {
	case Grouping::Site:
		group = {object.alloc_ip, 0};
		break;
	case Grouping::Cache:
		group = {cache, 0};
		break;
	case Grouping::Object:
		group = {object.va, object.alloc_jiffies};
		break;
	}
	current_group_ = group_id(group);
	GroupInfo &info = group_info_[current_group_];
	++info.objects;
	info.bytes += object.size;
	info.site = object.alloc_ip;
	info.cache = cache;
	info.comm = comm;
	info.free_jiffies = object.free_jiffies;
}

void GraphVisitor::on_access(const AccessRecord &access)
{
	if (!keep_current_ || (options_.pid && *options_.pid != access.pid))
		return;
	// Consecutive access lines often come from the same instruction.
	if (access.ip != last_ip_ || last_ip_id_ == UINT32_MAX) {
		last_ip_id_ = ip_id(access.ip);
		last_ip_ = access.ip;
	}
	EdgeCounts &edge = edges_[(uint64_t{last_ip_id_} << 32) | current_group_];
	++edge.records;
	edge.reads += access.reads;
	edge.writes += access.writes;
}

void GraphVisitor::merge(const GraphVisitor &other)
{
	names.merge(other.names);
	// Ids are per visitor: translate other's into this one's.
	std::vector<uint32_t> ip_map(other.ips_.size());
	for (size_t i = 0; i < other.ips_.size(); ++i)
		ip_map[i] = ip_id(other.ips_[i]);
	std::vector<uint32_t> group_map(other.groups_.size());
	for (size_t i = 0; i < other.groups_.size(); ++i) {
		uint32_t id = group_id(other.groups_[i]);
		group_map[i] = id;
		GroupInfo &into = group_info_[id];
		const GroupInfo &g = other.group_info_[i];
		uint64_t objects = into.objects + g.objects;
		uint64_t bytes = into.bytes + g.bytes;
		into = g;
		into.objects = objects;
		into.bytes = bytes;
	}
	other.edges_.for_each([&](uint64_t key, const EdgeCounts &e) {
		edges_[(uint64_t{ip_map[key >> 32]} << 32) | group_map[key & 0xffffffffu]].add(e);
	});
	last_ip_id_ = UINT32_MAX;
}

namespace {

struct Node {
	std::string id;
	std::string kind; // "code", "site", "cache", "object"
	std::string label;
	uint64_t objects = 0;
	uint64_t bytes = 0;
};

struct Edge {
	uint32_t source; // index in nodes
	uint32_t target;
	EdgeCounts counts;
};

struct BuiltGraph {
	std::vector<Node> nodes;
	std::vector<Edge> edges;
	size_t all_edges = 0;
	EdgeCounts all_counts;
	EdgeCounts shown_counts;
};

BuiltGraph build(const GraphVisitor &g, const GraphReportOptions &o)
{
	// Code nodes: the function (with symbols) or the ip.
	auto code_key = [&](uint64_t ip) -> uint64_t {
		if (o.symbols)
			if (const Symbol *s = o.symbols->find(ip))
				return s->address;
		return ip;
	};
	auto code_label = [&](uint64_t key) -> std::string {
		if (o.symbols)
			if (const Symbol *s = o.symbols->find(key); s && s->address == key)
				return s->name;
		return hex_address(key);
	};
	// Edges stay compact while they are sorted: (code id << 32 | group id).
	struct CompactEdge {
		uint64_t key;
		EdgeCounts counts;
	};
	std::vector<CompactEdge> edges;
	std::vector<uint64_t> codes; // code id -> code key, when codes are not the visitor's ips
	const bool by_ip = !o.symbols && !o.function;
	if (by_ip) {
		edges.reserve(g.edge_count());
		g.for_each_edge([&](uint64_t key, const EdgeCounts &e) { edges.push_back({key, e}); });
	} else {
		// Several ips of one function become one edge.
		FlatMap<uint64_t, uint32_t> code_ids;
		EdgeTable merged;
		g.for_each_edge([&](uint64_t key, const EdgeCounts &e) {
			uint64_t ip = g.edge_ip(key);
			uint64_t code = code_key(ip);
			if (o.function && code_label(code) != *o.function && hex_address(ip) != *o.function)
				return;
			uint32_t &id = code_ids[code];
			if (id == 0) {
				codes.push_back(code);
				id = static_cast<uint32_t>(codes.size()); // stored +1 so that 0 means "new"
			}
			merged[(uint64_t{id - 1} << 32) | (key & 0xffffffffu)].add(e);
		});
		edges.reserve(merged.size());
		merged.for_each([&](uint64_t key, const EdgeCounts &e) { edges.push_back({key, e}); });
	}
	auto code_of = [&](uint64_t key) { return by_ip ? g.edge_ip(key) : codes[key >> 32]; };
	BuiltGraph out;
	out.all_edges = edges.size();
	for (const auto &e : edges)
		out.all_counts.add(e.counts);
	// Heaviest first; the key breaks ties so thread scheduling cannot change the output.
	std::sort(edges.begin(), edges.end(), [&](const CompactEdge &x, const CompactEdge &y) {
		if (x.counts.accesses() != y.counts.accesses())
			return x.counts.accesses() > y.counts.accesses();
		PairKey gx = g.edge_group(x.key), gy = g.edge_group(y.key);
		return std::tuple(code_of(x.key), gx.first, gx.second) < std::tuple(code_of(y.key), gy.first, gy.second);
	});
	if (o.top && edges.size() > o.top)
		edges.resize(o.top);

	// Node index by (0, code) or (1, group key); labels are made once per node.
	FlatMap<TripleKey, size_t, TripleKeyHash> index;
	auto code_node = [&](uint64_t code) {
		size_t &slot = index[TripleKey{0, code, 0}];
		if (slot == 0) {
			out.nodes.push_back({"c" + hex_address(code), "code", code_label(code), 0, 0});
			slot = out.nodes.size(); // stored +1 so that 0 means "new"
		}
		return slot - 1;
	};
	auto group_node = [&](PairKey group) {
		size_t &slot = index[TripleKey{1, group.first, group.second}];
		if (slot != 0)
			return slot - 1;
		const GroupInfo *info = g.find_group(group);
		GroupInfo gi = info ? *info : GroupInfo{};
		Node target;
		target.objects = gi.objects;
		target.bytes = gi.bytes;
		switch (o.grouping) {
		case Grouping::Site:
			target.id = "s" + hex_address(group.first);
			target.kind = "site";
			target.label = site_label(group.first, o.symbols);
			break;
		case Grouping::Cache:
			target.id = "k" + hex_address(group.first);
			target.kind = "cache";
			target.label = std::string(g.names.lookup(group.first));
			break;
		case Grouping::Object:
			target.id = fmt::format("o{:x}_{}", group.first, group.second);
			target.kind = "object";
			target.label = fmt::format("{} {} {}B @{}", hex_address(group.first), g.names.lookup(gi.cache),
						   gi.bytes, site_label(gi.site, o.symbols));
			break;
		}
		out.nodes.push_back(std::move(target));
		slot = out.nodes.size();
		return slot - 1;
	};
	out.edges.reserve(edges.size());
	for (const CompactEdge &e : edges) {
		auto source = static_cast<uint32_t>(code_node(code_of(e.key)));
		auto target = static_cast<uint32_t>(group_node(g.edge_group(e.key)));
		out.edges.push_back({source, target, e.counts});
		out.shown_counts.add(e.counts);
	}
	return out;
}

// Output handed to the sink in chunks, so a graph of millions of edges is
// never held as one string.
class ChunkedOutput {
public:
	explicit ChunkedOutput(const OutputSink &sink) : sink_(sink) {}
	fmt::memory_buffer buffer;
	void maybe_flush()
	{
		if (buffer.size() >= (1u << 20))
			flush();
	}
	void flush()
	{
		sink_(std::string_view(buffer.data(), buffer.size()));
		buffer.clear();
	}

private:
	const OutputSink &sink_;
};

void render_dot(const BuiltGraph &g, const GraphReportOptions &o, ChunkedOutput &out)
{
	auto it = std::back_inserter(out.buffer);
	fmt::format_to(it, "digraph capmap {{\n  rankdir=LR;\n  node [fontname=\"monospace\", fontsize=10];\n");
	fmt::format_to(it, "  // {} of {} edges, grouped by {}\n", g.edges.size(), g.all_edges, grouping_name(o.grouping));
	for (const Node &n : g.nodes) {
		if (n.kind == "code")
			fmt::format_to(it, "  {} [shape=box, label={}];\n", dot_string(n.id), dot_string(n.label));
		else
			fmt::format_to(it, "  {} [shape=ellipse, style=filled, fillcolor=\"#e8f0ff\", label={}];\n",
				       dot_string(n.id),
				       dot_string(fmt::format("{}\n{} objects, {} bytes", n.label, n.objects, n.bytes)));
	}
	uint64_t heaviest = 1;
	for (const Edge &e : g.edges)
		heaviest = std::max(heaviest, e.counts.accesses());
	for (const Edge &e : g.edges) {
		double width = 1.0 + 4.0 * std::log1p(static_cast<double>(e.counts.accesses())) /
					     std::log1p(static_cast<double>(heaviest));
		const char *color = e.counts.writes == 0 ? "#2060c0" : e.counts.reads == 0 ? "#c02020" : "#806080";
		fmt::format_to(it, "  {} -> {} [label=\"R {} / W {}\", penwidth={:.2f}, color=\"{}\"];\n",
			       dot_string(g.nodes[e.source].id), dot_string(g.nodes[e.target].id), e.counts.reads,
			       e.counts.writes, width, color);
		out.maybe_flush();
	}
	fmt::format_to(it, "}}\n");
	out.flush();
}

void render_graphml(const BuiltGraph &g, ChunkedOutput &out)
{
	auto it = std::back_inserter(out.buffer);
	fmt::format_to(it, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			   "<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n"
			   "  <key id=\"label\" for=\"node\" attr.name=\"label\" attr.type=\"string\"/>\n"
			   "  <key id=\"kind\" for=\"node\" attr.name=\"kind\" attr.type=\"string\"/>\n"
			   "  <key id=\"objects\" for=\"node\" attr.name=\"objects\" attr.type=\"long\"/>\n"
			   "  <key id=\"bytes\" for=\"node\" attr.name=\"bytes\" attr.type=\"long\"/>\n"
			   "  <key id=\"reads\" for=\"edge\" attr.name=\"reads\" attr.type=\"long\"/>\n"
			   "  <key id=\"writes\" for=\"edge\" attr.name=\"writes\" attr.type=\"long\"/>\n"
			   "  <key id=\"records\" for=\"edge\" attr.name=\"records\" attr.type=\"long\"/>\n"
			   "  <key id=\"weight\" for=\"edge\" attr.name=\"weight\" attr.type=\"double\"/>\n"
			   "  <graph id=\"capmap\" edgedefault=\"directed\">\n");
	for (const Node &n : g.nodes) {
		fmt::format_to(it,
			       "    <node id=\"{}\"><data key=\"label\">{}</data><data key=\"kind\">{}</data>"
			       "<data key=\"objects\">{}</data><data key=\"bytes\">{}</data></node>\n",
			       xml_text(n.id), xml_text(n.label), n.kind, n.objects, n.bytes);
		out.maybe_flush();
	}
	for (const Edge &e : g.edges) {
		fmt::format_to(it,
			       "    <edge source=\"{}\" target=\"{}\"><data key=\"reads\">{}</data><data key=\"writes\">{}</data>"
			       "<data key=\"records\">{}</data><data key=\"weight\">{}</data></edge>\n",
			       xml_text(g.nodes[e.source].id), xml_text(g.nodes[e.target].id), e.counts.reads,
			       e.counts.writes, e.counts.records, e.counts.accesses());
		out.maybe_flush();
	}
	fmt::format_to(it, "  </graph>\n</graphml>\n");
	out.flush();
}

void render_json_graph(const BuiltGraph &g, const ScanStats &stats, const GraphReportOptions &o, ChunkedOutput &out)
{
	auto it = std::back_inserter(out.buffer);
	fmt::format_to(it, "{{\n  \"input\": {},\n  \"grouping\": \"{}\",\n", input_json(stats), grouping_name(o.grouping));
	fmt::format_to(it, "  \"edges_total\": {}, \"edges_shown\": {},\n", g.all_edges, g.edges.size());
	fmt::format_to(it, "  \"all\": {{\"access_records\": {}, \"reads\": {}, \"writes\": {}}},\n", g.all_counts.records,
		       g.all_counts.reads, g.all_counts.writes);
	fmt::format_to(it, "  \"shown\": {{\"access_records\": {}, \"reads\": {}, \"writes\": {}}},\n",
		       g.shown_counts.records, g.shown_counts.reads, g.shown_counts.writes);
	fmt::format_to(it, "  \"nodes\": [");
	for (size_t i = 0; i < g.nodes.size(); ++i) {
		const Node &n = g.nodes[i];
		fmt::format_to(it, "{}\n    {{\"id\": {}, \"kind\": \"{}\", \"label\": {}, \"objects\": {}, \"bytes\": {}}}",
			       i ? "," : "", json_string(n.id), n.kind, json_string(n.label), n.objects, n.bytes);
		out.maybe_flush();
	}
	fmt::format_to(it, "],\n  \"edges\": [");
	for (size_t i = 0; i < g.edges.size(); ++i) {
		const Edge &e = g.edges[i];
		fmt::format_to(it,
			       "{}\n    {{\"source\": {}, \"target\": {}, \"access_records\": {}, \"reads\": {}, \"writes\": {}}}",
			       i ? "," : "", json_string(g.nodes[e.source].id), json_string(g.nodes[e.target].id),
			       e.counts.records, e.counts.reads, e.counts.writes);
		out.maybe_flush();
	}
	fmt::format_to(it, "]\n}}\n");
	out.flush();
}

void render_csv_graph(const BuiltGraph &g, ChunkedOutput &out)
{
	auto it = std::back_inserter(out.buffer);
	fmt::format_to(it, "source,source_label,target,target_kind,target_label,access_records,reads,writes\n");
	for (const Edge &e : g.edges) {
		const Node &s = g.nodes[e.source];
		const Node &t = g.nodes[e.target];
		fmt::format_to(it, "{},{},{},{},{},{},{},{}\n", csv_field(s.id), csv_field(s.label), csv_field(t.id), t.kind,
			       csv_field(t.label), e.counts.records, e.counts.reads, e.counts.writes);
		out.maybe_flush();
	}
	out.flush();
}

} // namespace

void render_graph(const GraphVisitor &graph, const ScanStats &stats, const GraphReportOptions &options,
		  const OutputSink &sink)
{
	BuiltGraph g = build(graph, options);
	ChunkedOutput out(sink);
	switch (options.format) {
	case OutputFormat::Graphml:
		return render_graphml(g, out);
	case OutputFormat::Json:
		return render_json_graph(g, stats, options, out);
	case OutputFormat::Csv:
		return render_csv_graph(g, out);
	default:
		return render_dot(g, options, out);
	}
}

std::string render_graph(const GraphVisitor &graph, const ScanStats &stats, const GraphReportOptions &options)
{
	std::string text;
	render_graph(graph, stats, options, [&](std::string_view chunk) { text.append(chunk); });
	return text;
}

} // namespace capmap
