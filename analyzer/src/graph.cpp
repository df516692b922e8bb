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

void GraphVisitor::on_object(const ObjectRecord &object)
{
	uint64_t cache = names.intern(object.slab_cache, cache_cache_);
	uint64_t comm = names.intern(object.comm, comm_cache_);
	keep_current_ = (!comm_filter_ || *comm_filter_ == comm) && (!cache_filter_ || *cache_filter_ == cache);
	if (!keep_current_)
		return;
	switch (options_.grouping) {
	case Grouping::Site:
		current_group_ = {object.alloc_ip, 0};
		break;
	case Grouping::Cache:
		current_group_ = {cache, 0};
		break;
	case Grouping::Object:
		current_group_ = {object.va, object.alloc_jiffies};
		break;
	}
	GroupInfo &info = groups[current_group_];
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
	EdgeCounts &edge = edges[TripleKey{access.ip, current_group_.first, current_group_.second}];
	++edge.records;
	edge.reads += access.reads;
	edge.writes += access.writes;
}

void GraphVisitor::merge(const GraphVisitor &other)
{
	names.merge(other.names);
	other.edges.for_each([&](const TripleKey &k, const EdgeCounts &e) { edges[k].add(e); });
	other.groups.for_each([&](const PairKey &k, const GroupInfo &g) {
		GroupInfo &into = groups[k];
		uint64_t objects = into.objects + g.objects;
		uint64_t bytes = into.bytes + g.bytes;
		into = g;
		into.objects = objects;
		into.bytes = bytes;
	});
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
	size_t source;
	size_t target;
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
	std::vector<std::pair<TripleKey, EdgeCounts>> edges;
	if (!o.symbols && !o.function) {
		edges = g.edges.entries();
	} else {
		// Several ips of one function become one edge.
		FlatMap<TripleKey, EdgeCounts, TripleKeyHash> merged;
		g.edges.for_each([&](const TripleKey &k, const EdgeCounts &e) {
			uint64_t code = code_key(k.a);
			if (o.function && code_label(code) != *o.function && hex_address(k.a) != *o.function)
				return;
			merged[TripleKey{code, k.b, k.c}].add(e);
		});
		edges = merged.entries();
	}
	BuiltGraph out;
	out.all_edges = edges.size();
	for (const auto &e : edges)
		out.all_counts.add(e.second);
	// Heaviest first; the key breaks ties so thread scheduling cannot change the output.
	std::sort(edges.begin(), edges.end(), [](const auto &x, const auto &y) {
		if (x.second.accesses() != y.second.accesses())
			return x.second.accesses() > y.second.accesses();
		return std::tie(x.first.a, x.first.b, x.first.c) < std::tie(y.first.a, y.first.b, y.first.c);
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
		const GroupInfo *info = g.groups.find(group);
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
	for (const auto &[key, counts] : edges) {
		size_t source = code_node(key.a);
		size_t target = group_node(PairKey{key.b, key.c});
		out.edges.push_back({source, target, counts});
		out.shown_counts.add(counts);
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
