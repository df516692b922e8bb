#include "capmap/cli.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>

#include <unistd.h>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "capmap/diff.hpp"
#include "capmap/errors.hpp"
#include "capmap/graph.hpp"
#include "capmap/numbers.hpp"
#include "capmap/object_query.hpp"
#include "capmap/report.hpp"
#include "capmap/scan.hpp"
#include "capmap/stream.hpp"
#include "capmap/summary.hpp"
#include "capmap/symbols.hpp"

namespace po = boost::program_options;

namespace capmap {

namespace {

constexpr const char *kVersion = "capmap 1.0";

constexpr const char *kMainUsage = R"(usage: capmap COMMAND [OPTIONS] ARGS

Analyzes a Memorizer kmap (CAPMAP): which code accesses which kernel objects.

commands:
  summary KMAP        totals and top allocation sites, caches, allocators,
                      processes and objects
  graph KMAP          access graph: code -> object groups, with read and
                      write counts (DOT, GraphML, JSON, CSV)
  object ADDR KMAP    every object seen at an address, its lifetime and who
                      accessed it
  diff A B            what changed between two kmaps
  convert STREAM      kmap text from a Memorizer stream file (.mzs)

KMAP may be a kmap or a Memorizer stream file (.mzs, recognised by its
content), or '-' for standard input; gzip and zstd input is recognised.
'capmap COMMAND --help' lists the options of a command.

exit status: 0 success, 1 usage error, 2 malformed input, 3 I/O error
)";

struct CommonOptions {
	ScanOptions scan; // the options bind to its fields directly
	std::string input_format = "auto";
	std::string symbols_path;
	std::string format = "text";
	size_t top = 10;
	bool no_progress = false;
	bool no_mmap = false;

	std::optional<SymbolTable> symbols;
	OutputFormat output = OutputFormat::Text;
};

void add_input_options(po::options_description &desc, CommonOptions &o)
{
	desc.add_options()("help,h", "show this help")(
		"input-format", po::value(&o.input_format)->default_value("auto"),
		"kmap layout: auto, v1, legacy10 or legacy11")("lenient", po::bool_switch(&o.scan.lenient),
							       "skip malformed lines, count them and report at the end")(
		"threads,j", po::value(&o.scan.threads)->default_value(0), "parser threads (0: one per CPU)")(
		"symbols,s", po::value(&o.symbols_path), "System.map or saved /proc/kallsyms: show ips as function+offset")(
		"no-progress", po::bool_switch(&o.no_progress), "never draw the progress bar on stderr");
}

// Options for tests: small pieces and buffers exercise the splitting code.
void add_hidden_options(po::options_description &desc, CommonOptions &o)
{
	desc.add_options()("piece-size", po::value(&o.scan.piece_size)->default_value(8u << 20), "bytes per work item")(
		"block-size", po::value(&o.scan.block_size)->default_value(32u << 20), "stream read buffer")(
		"chunk-size", po::value(&o.scan.chunk_size)->default_value(128u << 10),
		"per-thread copy buffer for mapped files (0: parse the mapping in place)")(
		"no-mmap", po::bool_switch(&o.no_mmap), "read files with read() instead of mapping them");
}

void finish_common(CommonOptions &o, std::initializer_list<std::string_view> formats)
{
	auto layout = layout_from_name(o.input_format);
	if (!layout)
		throw UsageError(fmt::format("unknown --input-format '{}' (auto, v1, legacy10, legacy11)", o.input_format));
	o.scan.layout = *layout;
	o.scan.progress = !o.no_progress && isatty(STDERR_FILENO);
	bool format_ok = false;
	for (std::string_view f : formats)
		format_ok |= f == o.format;
	auto output = output_format_from_name(o.format);
	if (!format_ok || !output)
		throw UsageError(fmt::format("unknown --format '{}'", o.format));
	o.output = *output;
	if (o.scan.piece_size < 1 || o.scan.block_size < 1)
		throw UsageError("--piece-size and --block-size must be positive");
	if (!o.symbols_path.empty())
		o.symbols = SymbolTable::load(o.symbols_path);
}

void report_skips(const ScanStats &stats)
{
	if (stats.stream && (stats.skipped || stats.orphaned))
		fmt::print(stderr,
			   "capmap: {}: skipped {} malformed records and {} ACCESSES records of skipped objects; first: {}\n",
			   stats.name, stats.skipped, stats.orphaned, stats.first_skip);
	else if (stats.skipped || stats.orphaned)
		fmt::print(stderr, "capmap: {}: skipped {} malformed lines and {} access lines of skipped objects; first: {}\n",
			   stats.name, stats.skipped, stats.orphaned, stats.first_skip);
}

// A stream file other than standard input can be read a second time.
Reopen reopen_of(const std::string &path, const CommonOptions &o)
{
	if (path == "-")
		return {};
	return [path, use_mmap = !o.no_mmap] { return Input::open(path, use_mmap); };
}

// Parses one kmap into a visitor per thread and merges them in thread order.
template <class Visitor, class Make>
Visitor scan_file(const std::string &path, const CommonOptions &o, Make make, ScanStats &stats)
{
	auto input = Input::open(path, !o.no_mmap);
	unsigned n = worker_count(o.scan);
	std::vector<Visitor> visitors;
	visitors.reserve(n);
	for (unsigned i = 0; i < n; ++i)
		visitors.push_back(make());
	if (is_stream_file(input->peek(kStreamSniffBytes)))
		stats = scan_stream(*input, o.scan, visitors, reopen_of(path, o));
	else
		stats = scan_kmap(*input, o.scan, visitors);
	try {
		for (unsigned i = 1; i < n; ++i) {
			Visitor merged_away = std::move(visitors[i]); // freed right after its merge
			visitors[0].merge(merged_away);
		}
	} catch (const DataError &e) {
		throw DataError(fmt::format("{}: {}", input->name(), e.what()));
	}
	report_skips(stats);
	return std::move(visitors[0]);
}

void write_stdout(std::string_view text)
{
	if (fwrite(text.data(), 1, text.size(), stdout) != text.size() || fflush(stdout) != 0)
		throw IoError("standard output: write failed");
}

// A subcommand's options: the visible ones for --help, plus hidden test
// options and the positional arguments.
class Command {
public:
	Command(const char *usage, CommonOptions &o, bool input_options = true) : visible_(usage)
	{
		if (input_options)
			add_input_options(visible_, o);
		else
			visible_.add_options()("help,h", "show this help");
		add_hidden_options(hidden_, o);
	}

	po::options_description_easy_init add() { return visible_.add_options(); }
	// --format with its default and the accepted names, e.g. "text or json".
	po::options_description_easy_init format(CommonOptions &o, const char *initial, const char *names)
	{
		return visible_.add_options()("format,f", po::value(&o.format)->default_value(initial), names);
	}
	void positional(const char *name, std::string &value)
	{
		hidden_.add_options()(name, po::value(&value));
		positional_.add(name, 1);
	}
	// Returns false when --help was asked for (and printed).
	bool parse(const std::vector<std::string> &args)
	{
		po::options_description all;
		all.add(visible_).add(hidden_);
		po::variables_map vm;
		po::store(po::command_line_parser(args).options(all).positional(positional_).run(), vm);
		po::notify(vm);
		if (vm.count("help")) {
			std::cout << visible_ << "\n";
			return false;
		}
		return true;
	}

private:
	po::options_description visible_;
	po::options_description hidden_;
	po::positional_options_description positional_;
};

void require(const std::string &value, const char *what)
{
	if (value.empty())
		throw UsageError(what);
}

const SymbolTable *symbols_of(const CommonOptions &o) { return o.symbols ? &*o.symbols : nullptr; }

int cmd_summary(const std::vector<std::string> &args)
{
	CommonOptions o;
	std::string kmap;
	std::string sort = "accesses";
	Command cmd("usage: capmap summary [OPTIONS] KMAP\n\n"
		    "Totals, then the top allocation sites, slab caches, allocator kinds,\n"
		    "processes and most accessed objects. Each table's rows plus its\n"
		    "'others' row add up to the totals.\n\noptions",
		    o);
	cmd.format(o, "text", "text, json or csv")(
		"top,n", po::value(&o.top)->default_value(10), "rows per table (0: all rows)")(
		"sort", po::value(&sort)->default_value("accesses"), "order rows by accesses, objects or bytes");
	cmd.positional("kmap", kmap);
	if (!cmd.parse(args))
		return kExitOk;
	require(kmap, "summary needs a KMAP argument");
	finish_common(o, {"text", "json", "csv"});
	auto sort_key = sort_key_from_name(sort);
	if (!sort_key)
		throw UsageError(fmt::format("unknown --sort '{}' (accesses, objects, bytes)", sort));
	ScanStats stats;
	SummaryOptions so;
	so.top_objects = o.top == 0 ? 100 : o.top;
	SummaryVisitor summary = scan_file<SummaryVisitor>(kmap, o, [&] { return SummaryVisitor(so); }, stats);
	summary.finish();
	SummaryReportOptions ro;
	ro.format = o.output;
	ro.top = o.top;
	ro.sort = *sort_key;
	ro.symbols = symbols_of(o);
	write_stdout(render_summary(summary, stats, ro));
	return kExitOk;
}

int cmd_graph(const std::vector<std::string> &args)
{
	CommonOptions o;
	std::string kmap, objects = "site", comm, cache, function;
	int64_t pid = -1;
	Command cmd("usage: capmap graph [OPTIONS] KMAP\n\n"
		    "The access graph: an edge from code (access ip, or its function with\n"
		    "--symbols) to a group of objects, with read and write counts.\n\noptions",
		    o);
	cmd.format(o, "dot", "dot, graphml, json or csv")(
		"objects", po::value(&objects)->default_value("site"), "group objects by allocation site, cache or object")(
		"top,n", po::value(&o.top)->default_value(0), "keep the N heaviest edges (0: all)")(
		"pid", po::value(&pid), "only accesses made by this pid")(
		"comm", po::value(&comm), "only objects allocated by tasks of this name")(
		"cache", po::value(&cache), "only objects of this slab cache ('-': none)")(
		"function", po::value(&function), "only code of this function (needs --symbols) or this hex ip");
	cmd.positional("kmap", kmap);
	if (!cmd.parse(args))
		return kExitOk;
	require(kmap, "graph needs a KMAP argument");
	finish_common(o, {"dot", "graphml", "json", "csv"});
	auto grouping = grouping_from_name(objects);
	if (!grouping)
		throw UsageError(fmt::format("unknown --objects '{}' (site, cache, object)", objects));
	GraphOptions go;
	go.grouping = *grouping;
	if (pid >= 0) {
		if (static_cast<uint64_t>(pid) > kMaxPid)
			throw UsageError("--pid is out of range");
		go.pid = static_cast<uint32_t>(pid);
	}
	if (!comm.empty())
		go.comm = comm;
	if (!cache.empty())
		go.cache = cache;
	ScanStats stats;
	GraphVisitor graph = scan_file<GraphVisitor>(kmap, o, [&] { return GraphVisitor(go); }, stats);
	GraphReportOptions ro;
	ro.format = o.output;
	ro.grouping = go.grouping;
	ro.top = o.top;
	ro.symbols = symbols_of(o);
	if (!function.empty())
		ro.function = function;
	render_graph(graph, stats, ro, [](std::string_view chunk) { write_stdout(chunk); });
	return kExitOk;
}

uint64_t parse_address(const std::string &text)
{
	std::string terminated = text + "\n";
	uint64_t value = 0;
	const char *end = parse_hex(terminated.c_str(), value);
	if (!end || *end != '\n')
		throw UsageError(fmt::format("expected a hexadecimal address, found '{}'", text));
	return value;
}

int cmd_object(const std::vector<std::string> &args)
{
	CommonOptions o;
	std::string address, kmap;
	Command cmd("usage: capmap object [OPTIONS] ADDR KMAP\n\n"
		    "Every object whose extent [va, va+size) contains the hexadecimal\n"
		    "address ADDR, in allocation order: lifetime and accesses.\n\noptions",
		    o);
	cmd.format(o, "text", "text or json");
	cmd.positional("address", address);
	cmd.positional("kmap", kmap);
	if (!cmd.parse(args))
		return kExitOk;
	require(kmap, "object needs ADDR and KMAP arguments");
	finish_common(o, {"text", "json"});
	uint64_t addr = parse_address(address);
	ScanStats stats;
	ObjectQueryVisitor query = scan_file<ObjectQueryVisitor>(kmap, o, [&] { return ObjectQueryVisitor(addr); }, stats);
	query.finish();
	write_stdout(render_objects(query, addr, stats, o.output, symbols_of(o)));
	return kExitOk;
}

int cmd_diff(const std::vector<std::string> &args)
{
	CommonOptions o;
	std::string a_path, b_path;
	Command cmd("usage: capmap diff [OPTIONS] A B\n\n"
		    "What changed from kmap A to kmap B: totals, and allocation sites,\n"
		    "caches, allocators and accessing code that were added, removed or\n"
		    "changed, largest change in accesses first.\n\noptions",
		    o);
	cmd.format(o, "text", "text or json")(
		"top,n", po::value(&o.top)->default_value(10), "rows per table (0: all changed rows)");
	cmd.positional("a", a_path);
	cmd.positional("b", b_path);
	if (!cmd.parse(args))
		return kExitOk;
	require(b_path, "diff needs two KMAP arguments");
	finish_common(o, {"text", "json"});
	SummaryOptions so;
	so.accessors = true;
	so.top_objects = 0;
	auto summarize = [&](const std::string &path, ScanStats &stats) {
		SummaryVisitor s = scan_file<SummaryVisitor>(path, o, [&] { return SummaryVisitor(so); }, stats);
		s.finish();
		return s;
	};
	ScanStats a_stats, b_stats;
	SummaryVisitor a = summarize(a_path, a_stats);
	SummaryVisitor b = summarize(b_path, b_stats);
	DiffOptions d;
	d.format = o.output;
	d.top = o.top;
	d.symbols = symbols_of(o);
	write_stdout(render_diff(a, a_stats, b, b_stats, d));
	return kExitOk;
}

// Writes to a file, or to standard output for "-"; a file is removed again
// if the command fails before commit().
class OutputFile {
public:
	explicit OutputFile(const std::string &path) : path_(path)
	{
		if (path == "-") {
			file_ = stdout;
			return;
		}
		file_ = fopen(path.c_str(), "wb");
		if (!file_)
			throw IoError(fmt::format("{}: cannot create: {}", path, strerror(errno)));
	}
	~OutputFile()
	{
		if (file_ && file_ != stdout) {
			fclose(file_);
			remove(path_.c_str());
		}
	}
	OutputFile(const OutputFile &) = delete;
	OutputFile &operator=(const OutputFile &) = delete;

	void write(std::string_view text)
	{
		if (fwrite(text.data(), 1, text.size(), file_) != text.size())
			fail();
	}
	void commit()
	{
		if (fflush(file_) != 0)
			fail();
		if (file_ != stdout) {
			FILE *f = file_;
			file_ = nullptr;
			if (fclose(f) != 0) {
				remove(path_.c_str());
				throw IoError(fmt::format("{}: write failed", path_));
			}
		}
	}

private:
	[[noreturn]] void fail() const
	{
		throw IoError(fmt::format("{}: write failed", file_ == stdout ? std::string("standard output") : path_));
	}
	std::string path_;
	FILE *file_ = nullptr;
};

int cmd_convert(const std::vector<std::string> &args)
{
	CommonOptions o;
	std::string path, output = "-";
	Command cmd("usage: capmap convert [OPTIONS] STREAM\n\n"
		    "Writes the objects of a Memorizer stream file (.mzs) as kmap text,\n"
		    "as the kernel prints a kmap. What the stream lost is reported on\n"
		    "standard error.\n\noptions",
		    o, false);
	cmd.add()("output,o", po::value(&output)->default_value("-"), "output file ('-': standard output)")(
		"lenient", po::bool_switch(&o.scan.lenient), "skip malformed records, count them and report at the end")(
		"no-progress", po::bool_switch(&o.no_progress), "never draw the progress bar on stderr");
	cmd.positional("stream", path);
	if (!cmd.parse(args))
		return kExitOk;
	require(path, "convert needs a STREAM argument");
	o.scan.progress = !o.no_progress && isatty(STDERR_FILENO);
	if (o.scan.block_size < 1)
		throw UsageError("--block-size must be positive");
	auto input = Input::open(path, !o.no_mmap);
	if (!is_stream_file(input->peek(kStreamSniffBytes)))
		throw DataError(fmt::format("{}: byte offset 0: not a Memorizer stream file (it must start with a STREAM "
					    "record)",
					    input->name()));
	OutputFile out(output);
	KmapWriter writer([&](std::string_view chunk) { out.write(chunk); });
	VisitorSink<KmapWriter> sink(writer);
	ScanStats stats = scan_stream_input(*input, o.scan, sink, reopen_of(path, o));
	writer.flush();
	out.commit();
	report_skips(stats);
	const StreamStats &st = stats.stream_stats;
	if (st.lost_objects || st.lost_entries || st.incomplete)
		fmt::print(stderr, "capmap: {}: {}\n", stats.name, stream_loss_text(st));
	return kExitOk;
}

} // namespace

int run_cli(int argc, char **argv)
{
	std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
	try {
		if (args.empty()) {
			fmt::print(stderr, "{}", kMainUsage);
			return kExitUsage;
		}
		std::string command = args.front();
		args.erase(args.begin());
		if (command == "--help" || command == "-h" || command == "help") {
			fmt::print("{}", kMainUsage);
			return kExitOk;
		}
		if (command == "--version") {
			fmt::print("{}\n", kVersion);
			return kExitOk;
		}
		if (command == "summary")
			return cmd_summary(args);
		if (command == "graph")
			return cmd_graph(args);
		if (command == "object")
			return cmd_object(args);
		if (command == "diff")
			return cmd_diff(args);
		if (command == "convert")
			return cmd_convert(args);
		throw UsageError(fmt::format("unknown command '{}'", command));
	} catch (const UsageError &e) {
		fmt::print(stderr, "capmap: {}\nTry 'capmap --help'.\n", e.what());
		return kExitUsage;
	} catch (const po::error &e) {
		fmt::print(stderr, "capmap: {}\nTry 'capmap --help'.\n", e.what());
		return kExitUsage;
	} catch (const DataError &e) {
		// Already "FILE:LINE: expected ..., found '...'", like a compiler.
		fmt::print(stderr, "{}\n", e.what());
		return kExitBadInput;
	} catch (const IoError &e) {
		fmt::print(stderr, "capmap: {}\n", e.what());
		return kExitIo;
	} catch (const std::bad_alloc &) {
		fmt::print(stderr, "capmap: out of memory\n");
		return kExitIo;
	}
}

} // namespace capmap
