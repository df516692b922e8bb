#include "capmap/generator.hpp"

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "capmap/text.hpp"
#include "rng.hpp"

namespace capmap {

namespace {

using detail::Rng;

struct Site {
	uint64_t ip;
	const char *allocator;
	std::string cache;
	uint64_t size;
};

struct Task {
	uint32_t pid;
	std::string comm;
};

class Writer {
public:
	explicit Writer(const std::function<void(std::string_view)> &sink) : sink_(sink) { buf_.reserve(kFlush + 4096); }
	~Writer() { flush(); }
	void flush()
	{
		if (!buf_.empty())
			sink_(buf_);
		written_ += buf_.size();
		buf_.clear();
	}
	uint64_t written() const { return written_ + buf_.size(); }
	void text(std::string_view s)
	{
		buf_.append(s);
		maybe_flush();
	}
	void ch(char c) { buf_.push_back(c); }
	void hex(uint64_t v) { append_hex(buf_, v); }
	void dec(uint64_t v) { append_dec(buf_, v); }
	void maybe_flush()
	{
		if (buf_.size() >= kFlush)
			flush();
	}

private:
	static constexpr size_t kFlush = 1u << 20;
	const std::function<void(std::string_view)> &sink_;
	std::string buf_;
	uint64_t written_ = 0;
};

constexpr std::array<const char *, 14> kNamedCaches = {"dentry", "inode_cache", "task_struct", "filp",
						       "vm_area_struct", "anon_vma", "buffer_head", "mm_struct",
						       "sighand_cache", "files_cache", "kernfs_node_cache", "radix_tree_node",
						       "skbuff_head_cache", "proc_inode_cache"};
constexpr std::array<const char *, 16> kComms = {"swapper/0", "systemd", "kworker/0:1", "kworker/1:2", "ksoftirqd/0",
						 "rcu_sched", "sh", "bash", "dropbear", "bats", "cat", "ls",
						 "insmod", "modprobe", "kthreadd", "my worker"};

std::vector<Site> make_sites(Rng &rng, unsigned count)
{
	std::vector<Site> sites;
	for (unsigned i = 0; i < count; ++i) {
		Site s;
		s.ip = 0xffffffff81000000ULL + rng.below(0x1000000);
		double kind = rng.uniform();
		if (kind < 0.6) {
			s.allocator = "KMALLOC";
			unsigned shift = 3 + static_cast<unsigned>(rng.skewed(10, 1.5));
			s.size = (1ull << shift) - rng.below(1ull << (shift - 1));
			s.cache = "kmalloc-" + std::to_string(1ull << shift);
		} else if (kind < 0.9) {
			s.allocator = "KMEM_CACHE";
			s.cache = kNamedCaches[rng.below(kNamedCaches.size())];
			s.size = 64 + 8 * rng.below(200);
		} else if (kind < 0.95) {
			s.allocator = "PAGE";
			s.cache = "-";
			s.size = 4096ull << rng.below(3);
		} else if (kind < 0.98) {
			s.allocator = "VMALLOC";
			s.cache = "-";
			s.size = 4096 * (1 + rng.below(64));
		} else {
			s.allocator = "GLOBAL";
			s.cache = "-";
			s.size = 8 + rng.below(4096);
		}
		sites.push_back(std::move(s));
	}
	return sites;
}

std::vector<Task> make_tasks(Rng &rng, unsigned count)
{
	std::vector<Task> tasks;
	for (unsigned i = 0; i < count; ++i)
		tasks.push_back({static_cast<uint32_t>(i == 0 ? 0 : 1 + rng.below(32768)),
				 i == 0 ? std::string("swapper/0") : std::string(kComms[rng.skewed(kComms.size(), 1.5)])});
	return tasks;
}

} // namespace

uint64_t generate_kmap(const GeneratorOptions &o, const std::function<void(std::string_view)> &write)
{
	Rng rng(o.seed);
	std::vector<Site> sites = make_sites(rng, o.sites == 0 ? 1 : o.sites);
	std::vector<Task> tasks = make_tasks(rng, o.processes == 0 ? 1 : o.processes);
	std::vector<uint64_t> code(o.access_ips == 0 ? 1 : o.access_ips);
	for (uint64_t &ip : code)
		ip = 0xffffffff81000000ULL + rng.below(0x1000000);
	Writer out(write);
	if (o.header && o.layout == Layout::V1)
		out.text("# memorizer kmap v1\n");
	uint64_t va = 0xffff888000000000ULL;
	uint64_t jiffies = 4294667296ULL; // the kernel starts jiffies just below 2^32
	// Mean of a geometric number of access lines: p = 1 / (1 + mean).
	const double continue_p = o.mean_accesses / (1.0 + o.mean_accesses);
	for (uint64_t n = 0; out.written() < o.target_bytes && (o.max_objects == 0 || n < o.max_objects); ++n) {
		bool untracked = o.untracked_every && n % o.untracked_every == o.untracked_every - 1;
		const uint64_t site_index = rng.skewed(sites.size());
		const Site &site = sites[site_index];
		const Task &task = tasks[rng.skewed(tasks.size(), 2.0)];
		jiffies += rng.below(3);
		uint64_t size = untracked ? 0 : site.size;
		va += (size + 63) & ~63ull;
		bool freed = !untracked && rng.uniform() < 0.7;
		out.hex(untracked ? 0 : site.ip);
		out.ch(',');
		out.dec(untracked ? 0 : task.pid);
		out.ch(',');
		out.hex(untracked ? 0 : va);
		out.ch(',');
		out.dec(size);
		out.ch(',');
		out.dec(untracked ? 0 : jiffies);
		out.ch(',');
		out.dec(freed ? jiffies + 1 + rng.skewed(10000) : 0);
		out.ch(',');
		out.hex(freed ? code[rng.skewed(code.size())] : 0);
		out.ch(',');
		out.text(untracked ? "UNTRACKED" : site.allocator);
		out.ch(',');
		out.text(untracked ? "-" : task.comm);
		out.ch(',');
		out.text(untracked ? "-" : site.cache);
		if (o.layout == Layout::Legacy11) {
			out.ch(',');
			out.dec(untracked ? 21 : 7);
		}
		out.ch('\n');
		uint64_t lines = 0;
		while (rng.uniform() < continue_p || (untracked && lines < 20)) {
			++lines;
			// Code touches the objects of a few sites (its own data
			// structures) and, now and then, anything.
			uint64_t ip = rng.uniform() < 0.9 ? code[(site_index * 97 + rng.skewed(128, 2.0)) % code.size()]
							  : code[rng.skewed(code.size())];
			uint32_t pid = rng.uniform() < 0.8 ? task.pid : tasks[rng.below(tasks.size())].pid;
			uint64_t writes = rng.skewed(200, 4.0);
			uint64_t reads = 1 + rng.skewed(2000, 4.0);
			out.text("  ");
			out.hex(ip);
			out.ch(',');
			if (o.layout == Layout::V1) {
				out.dec(pid);
				out.ch(',');
			}
			out.dec(writes);
			out.ch(',');
			out.dec(reads);
			if (o.layout == Layout::Legacy11) {
				out.ch(',');
				out.dec(pid);
			}
			out.ch('\n');
		}
		out.maybe_flush();
	}
	out.flush();
	return out.written();
}

} // namespace capmap
