// capmap-gen: writes a synthetic kmap (see generator.hpp) to a file or stdout.
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
	std::string size = "1M";
	std::string layout = "v1";
	std::string output = "-";
	po::options_description desc("usage: capmap-gen [OPTIONS]\n\nWrites a synthetic kmap.\n\noptions");
	desc.add_options()("help,h", "show this help")("size", po::value(&size)->default_value("1M"),
						       "approximate output size (K, M, G suffixes)")(
		"objects", po::value(&o.max_objects)->default_value(0), "stop after this many objects (0: no limit)")(
		"seed", po::value(&o.seed)->default_value(1), "random seed")(
		"layout", po::value(&layout)->default_value("v1"), "v1, legacy10 or legacy11")(
		"sites", po::value(&o.sites)->default_value(3000), "distinct allocation sites")(
		"access-ips", po::value(&o.access_ips)->default_value(40000), "distinct accessing instructions")(
		"processes", po::value(&o.processes)->default_value(400), "distinct processes")(
		"mean-accesses", po::value(&o.mean_accesses)->default_value(6.0), "mean access lines per object")(
		"untracked-every", po::value(&o.untracked_every)->default_value(20000),
		"one pseudo-object of untracked accesses per N objects (0: none)")(
		"no-header", "omit the '# memorizer kmap v1' line")("output,o", po::value(&output)->default_value("-"),
								      "output file ('-': standard output)");
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
	capmap::generate_kmap(o, [&](std::string_view chunk) {
		ok = ok && fwrite(chunk.data(), 1, chunk.size(), file) == chunk.size();
	});
	ok = fflush(file) == 0 && ok;
	if (file != stdout)
		ok = fclose(file) == 0 && ok;
	if (!ok) {
		fmt::print(stderr, "capmap-gen: {}: write failed\n", output);
		return 3;
	}
	return 0;
}
