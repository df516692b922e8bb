// capmap-gen: writes a synthetic kmap or Memorizer stream file (see
// generator.hpp) to a file or stdout.
#include <cstdio>
#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "capmap/generator.hpp"

namespace po = boost::program_options;

namespace {

// "5G", "300M", "64K" or plain bytes.
uint64_t parse_size(const std::string &text)
{
	size_t used = 0;
	uint64_t value = std::stoull(text, &used);
	std::string suffix = text.substr(used);
	if (suffix.empty())
		return value;
	if (suffix == "K" || suffix == "k")
		return value << 10;
	if (suffix == "M" || suffix == "m")
		return value << 20;
	if (suffix == "G" || suffix == "g")
		return value << 30;
	throw std::invalid_argument("bad size suffix");
}

} // namespace

int main(int argc, char **argv)
{
	capmap::GeneratorOptions o;
	capmap::StreamGeneratorOptions so;
	std::string size = "1M";
	std::string layout = "v1";
	std::string format = "kmap";
	std::string output = "-";
	po::options_description desc("usage: capmap-gen [OPTIONS]\n\nWrites a synthetic kmap or stream file.\n\noptions");
	desc.add_options()("help,h", "show this help")(
		"format", po::value(&format)->default_value("kmap"), "kmap, or stream (a Memorizer stream file, .mzs)")(
		"size", po::value(&size)->default_value("1M"), "approximate output size (K, M, G suffixes)")(
		"objects", po::value(&o.max_objects)->default_value(0), "stop after this many objects (0: no limit)")(
		"seed", po::value(&o.seed)->default_value(1), "random seed")(
		"layout", po::value(&layout)->default_value("v1"), "kmap: v1, legacy10 or legacy11")(
		"sites", po::value(&o.sites)->default_value(3000), "distinct allocation sites")(
		"access-ips", po::value(&o.access_ips)->default_value(40000), "distinct accessing instructions")(
		"processes", po::value(&o.processes)->default_value(400), "distinct processes")(
		"mean-accesses", po::value(&o.mean_accesses)->default_value(6.0), "mean access lines per object")(
		"untracked-every", po::value(&o.untracked_every)->default_value(20000),
		"kmap: one pseudo-object of untracked accesses per N objects (0: none)")(
		"no-header", "kmap: omit the '# memorizer kmap v1' line")(
		"cpus", po::value(&so.cpus)->default_value(2), "stream: CPUs whose records interleave")(
		"subbuf-size", po::value(&so.subbuf_size)->default_value(262144), "stream: bytes per sub-buffer")(
		"live-fraction", po::value(&so.live_fraction)->default_value(0.3), "stream: objects never freed")(
		"large-every", po::value(&so.large_every)->default_value(5000),
		"stream: one object with 125-624 entries (ACCESSES records) per N (0: none)")(
		"snapshot-every", po::value(&so.snapshot_every)->default_value(0),
		"stream: LIVE records of the objects live then (dump_live) per N objects (0: none)")(
		"lost-every", po::value(&so.lost_every)->default_value(0),
		"stream: one object dropped (LOST record) per N (0: none)")(
		"incomplete-every", po::value(&so.incomplete_every)->default_value(0),
		"stream: one large object's last ACCESSES record dropped per N large ones (0: none)")(
		"unknown-every", po::value(&so.unknown_every)->default_value(0),
		"stream: a record of an unknown type and a PAD record per N objects (0: none)")(
		"output,o", po::value(&output)->default_value("-"), "output file ('-': standard output)");
	try {
		po::variables_map vm;
		po::store(po::parse_command_line(argc, argv, desc), vm);
		po::notify(vm);
		if (vm.count("help")) {
			std::cout << desc << "\n";
			return 0;
		}
		o.header = vm.count("no-header") == 0;
		o.target_bytes = parse_size(size);
		auto parsed = capmap::layout_from_name(layout);
		if (!parsed || *parsed == capmap::Layout::Auto)
			throw std::invalid_argument("--layout must be v1, legacy10 or legacy11");
		o.layout = *parsed;
		if (format != "kmap" && format != "stream")
			throw std::invalid_argument("--format must be kmap or stream");
		if (so.subbuf_size < 8192)
			throw std::invalid_argument("--subbuf-size must be at least 8192");
		so.target_bytes = o.target_bytes;
		so.max_objects = o.max_objects;
		so.seed = o.seed;
		so.sites = o.sites;
		so.access_ips = o.access_ips;
		so.processes = o.processes;
		so.mean_accesses = o.mean_accesses;
	} catch (const std::exception &e) {
		fmt::print(stderr, "capmap-gen: {}\n", e.what());
		return 1;
	}
	FILE *file = output == "-" ? stdout : fopen(output.c_str(), "wb");
	if (!file) {
		fmt::print(stderr, "capmap-gen: {}: cannot create\n", output);
		return 3;
	}
	bool ok = true;
	auto sink = [&](std::string_view chunk) { ok = ok && fwrite(chunk.data(), 1, chunk.size(), file) == chunk.size(); };
	if (format == "stream")
		capmap::generate_stream(so, sink);
	else
		capmap::generate_kmap(o, sink);
	ok = fflush(file) == 0 && ok;
	if (file != stdout)
		ok = fclose(file) == 0 && ok;
	if (!ok) {
		fmt::print(stderr, "capmap-gen: {}: write failed\n", output);
		return 3;
	}
	return 0;
}
