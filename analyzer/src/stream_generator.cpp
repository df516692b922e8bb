// Synthetic Memorizer stream files (generator.hpp, generate_stream).
#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "capmap/generator.hpp"
#include "rng.hpp"

namespace capmap {

namespace {

using detail::Rng;

// Little-endian fields, whatever the host.
template <class T>
void put(std::string &out, T value)
{
	auto u = static_cast<std::make_unsigned_t<T>>(value);
	for (size_t i = 0; i < sizeof(T); ++i)
		out.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
}

// A NUL-terminated text field of `width` bytes.
void put_text(std::string &out, std::string_view text, size_t width)
{
	std::string field(width, '\0');
	memcpy(field.data(), text.data(), std::min(text.size(), width - 1));
	out += field;
}

void put_header(std::string &out, uint16_t type, uint16_t flags, uint32_t size)
{
	put<uint16_t>(out, type);
	put<uint16_t>(out, flags);
	put<uint32_t>(out, size);
}

struct GenEntry {
	uint64_t ip, writes, reads;
	uint32_t pid;
};

struct GenObject {
	uint64_t va = 0, size = 0, alloc_ip = 0, free_ip = 0, alloc_jiffies = 0, free_jiffies = 0;
	uint32_t pid = 0;
	uint16_t cache_id = 0;
	uint8_t allocator = 0;
	std::string comm;
	std::vector<GenEntry> entries;
	bool incomplete = false; // its last ACCESSES record is dropped
};

class StreamWriter {
public:
	StreamWriter(const StreamGeneratorOptions &o, const std::function<void(std::string_view)> &sink)
	    : o_(o), sink_(sink), cpus_(std::max(o.cpus, 1u))
	{
		out_.reserve(kFlush + o.subbuf_size);
	}

	uint64_t written() const
	{
		uint64_t n = flushed_ + out_.size();
		for (const Cpu &c : cpus_)
			n += c.subbuf.size();
		return n;
	}

	unsigned cpu_count() const { return static_cast<unsigned>(cpus_.size()); }

	// The kernel's global cache name table: ids from 1.
	uint16_t cache_id(const std::string &name)
	{
		auto [it, added] = cache_ids_.emplace(name, static_cast<uint16_t>(cache_ids_.size() + 1));
		if (added)
			cache_names_.push_back(name);
		return it->second;
	}

	// Writes one object on a CPU as the kernel does: the CPU's STREAM
	// record first, a LOST record if it dropped something since, the
	// cache's name before its first object on this CPU, the OBJECT record
	// and its ACCESSES records. Or drops it (lost_every).
	void object(unsigned cpu, const GenObject &obj, bool live)
	{
		Cpu &c = cpus_[cpu];
		if (o_.lost_every && ++objects_seen_ % o_.lost_every == 0) {
			++c.lost_objects;
			return;
		}
		if (!c.started)
			stream_record(cpu);
		if (c.lost_objects || c.lost_entries) {
			std::string rec;
			put_header(rec, 6, 0, 24);
			put<uint64_t>(rec, c.lost_objects);
			put<uint64_t>(rec, c.lost_entries);
			append(cpu, rec);
			c.lost_objects = c.lost_entries = 0;
		}
		if (obj.cache_id && !c.caches.contains(obj.cache_id)) {
			std::string rec;
			put_header(rec, 3, 0, 48);
			put<uint16_t>(rec, obj.cache_id);
			for (int i = 0; i < 3; ++i)
				put<uint16_t>(rec, 0);
			put_text(rec, cache_names_[obj.cache_id - 1u], 32);
			append(cpu, rec);
			c.caches.insert(obj.cache_id);
		}
		const uint64_t id = (uint64_t{cpu} << 48) | ++c.next_id;
		const auto n = static_cast<uint32_t>(obj.entries.size());
		const uint32_t first = std::min<uint32_t>(n, 124);
		std::string rec;
		put_header(rec, 4, live ? 1 : 0, 104 + 32 * first);
		put<uint64_t>(rec, id);
		put<uint64_t>(rec, obj.va);
		put<uint64_t>(rec, obj.size);
		put<uint64_t>(rec, obj.alloc_ip);
		put<uint64_t>(rec, live ? 0 : obj.free_ip);
		put<uint64_t>(rec, obj.alloc_jiffies);
		put<uint64_t>(rec, live ? 0 : obj.free_jiffies);
		put<int32_t>(rec, static_cast<int32_t>(obj.pid));
		put<uint16_t>(rec, obj.cache_id);
		put<uint8_t>(rec, obj.allocator);
		put<uint8_t>(rec, 0);
		put<uint32_t>(rec, 0); // alloc_stack
		put<uint32_t>(rec, 0); // free_stack
		put<uint32_t>(rec, n);
		put<uint32_t>(rec, first);
		put_text(rec, obj.comm, 16);
		entries(rec, obj, 0, first);
		append(cpu, rec);
		// Continuations of an earlier object that were held back come
		// after this object, as when the worker's records of a large
		// object and the free path's records interleave.
		for (const std::string &later : c.deferred)
			append(cpu, later);
		c.deferred.clear();
		const bool defer = (id & 1) == 0;
		for (uint32_t done = first; done < n;) {
			uint32_t k = std::min<uint32_t>(n - done, 127);
			if (obj.incomplete && done + k == n) {
				c.lost_entries += n - done; // the reader stalled: the rest is dropped
				break;
			}
			std::string more;
			put_header(more, 5, 0, 24 + 32 * k);
			put<uint64_t>(more, id);
			put<uint32_t>(more, done);
			put<uint32_t>(more, k);
			entries(more, obj, done, k);
			if (defer)
				c.deferred.push_back(std::move(more));
			else
				append(cpu, more);
			done += k;
		}
	}

	// A record of a type version 1 does not define, and a PAD record.
	void unknown(unsigned cpu)
	{
		if (!cpus_[cpu].started)
			stream_record(cpu);
		std::string rec;
		put_header(rec, 9, 0, 32);
		put<uint64_t>(rec, 0x1122334455667788ULL);
		put<uint64_t>(rec, 42);
		put<uint64_t>(rec, 0);
		append(cpu, rec);
		rec.clear();
		put_header(rec, 1, 0, 16);
		put<uint64_t>(rec, 0);
		append(cpu, rec);
	}

	// Streaming stops: every CPU's last sub-buffer is completed.
	void finish()
	{
		for (unsigned cpu = 0; cpu < cpus_.size(); ++cpu) {
			for (const std::string &later : cpus_[cpu].deferred)
				append(cpu, later);
			cpus_[cpu].deferred.clear();
			complete(cpu);
		}
		flush();
	}

private:
	struct Cpu {
		bool started = false;
		std::string subbuf; // the records of the current sub-buffer
		std::unordered_set<uint16_t> caches;
		uint64_t next_id = 0;
		uint64_t lost_objects = 0, lost_entries = 0;
		std::vector<std::string> deferred;
	};

	static void entries(std::string &rec, const GenObject &obj, uint32_t from, uint32_t n)
	{
		for (uint32_t i = from; i < from + n; ++i) {
			const GenEntry &e = obj.entries[i];
			put<uint64_t>(rec, e.ip);
			put<uint64_t>(rec, e.writes);
			put<uint64_t>(rec, e.reads);
			put<int32_t>(rec, static_cast<int32_t>(e.pid));
			put<uint32_t>(rec, 0);
		}
	}

	void stream_record(unsigned cpu)
	{
		cpus_[cpu].started = true;
		std::string rec;
		put_header(rec, 2, 0, 136);
		put<uint32_t>(rec, 0x54535a4du);
		put<uint16_t>(rec, 1);
		put<uint16_t>(rec, static_cast<uint16_t>(cpu));
		put<uint32_t>(rec, static_cast<uint32_t>(cpus_.size()));
		put<uint16_t>(rec, 104);
		put<uint16_t>(rec, 32);
		put<uint32_t>(rec, o_.subbuf_size);
		put<uint32_t>(rec, 16);
		put<uint32_t>(rec, 1000); // hz
		put<uint32_t>(rec, 0);
		put<uint64_t>(rec, 1); // session
		put<uint64_t>(rec, 4294667296ULL);
		put<uint64_t>(rec, 0xffffffff81000000ULL);
		put_text(rec, "6.12.0-memorizer", 72);
		append(cpu, rec);
	}

	// A record goes into its CPU's sub-buffer; one that does not fit
	// completes the sub-buffer (the reader copies it out) first.
	void append(unsigned cpu, std::string_view rec)
	{
		Cpu &c = cpus_[cpu];
		const size_t usable = std::max<size_t>(o_.subbuf_size, 8192) - 16;
		if (!c.subbuf.empty() && c.subbuf.size() + rec.size() > usable)
			complete(cpu);
		c.subbuf.append(rec);
	}

	void complete(unsigned cpu)
	{
		out_ += cpus_[cpu].subbuf;
		cpus_[cpu].subbuf.clear();
		if (out_.size() >= kFlush)
			flush();
	}

	void flush()
	{
		if (!out_.empty())
			sink_(out_);
		flushed_ += out_.size();
		out_.clear();
	}

	static constexpr size_t kFlush = 1u << 20;
	const StreamGeneratorOptions &o_;
	const std::function<void(std::string_view)> &sink_;
	std::vector<Cpu> cpus_;
	std::map<std::string, uint16_t> cache_ids_;
	std::vector<std::string> cache_names_;
	std::string out_;
	uint64_t flushed_ = 0;
	uint64_t objects_seen_ = 0;
};

constexpr std::array<const char *, 10> kCaches = {"dentry", "inode_cache", "task_struct", "filp", "vm_area_struct",
						  "anon_vma", "buffer_head", "mm_struct", "radix_tree_node",
						  "skbuff_head_cache"};

// Task names as the kernel keeps them, spaces, commas and all (the kmap
// printer cleans them), and an empty one.
constexpr std::array<const char *, 18> kComms = {"swapper/0", "systemd", "kworker/0:1", "kworker/1:2", "ksoftirqd/0",
						 "rcu_sched", "sh", "bash", "dropbear", "bats", "cat", "ls", "insmod",
						 "my worker", "a,b", "", "kthreadd", "a-very-long-task-name"};

struct Site {
	uint64_t ip;
	uint8_t allocator; // 0 KMALLOC, 1 KMEM_CACHE, 2 KMALLOC_LARGE, 3 PAGE, 4 GLOBAL
	uint16_t cache_id;
	uint64_t size;
};

struct Task {
	uint32_t pid;
	std::string comm;
};

} // namespace

uint64_t generate_stream(const StreamGeneratorOptions &o, const std::function<void(std::string_view)> &write)
{
	Rng rng(o.seed);
	StreamWriter out(o, write);
	std::vector<Site> sites;
	for (unsigned i = 0; i < std::max(o.sites, 1u); ++i) {
		Site s{0xffffffff81000000ULL + rng.below(0x1000000), 0, 0, 0};
		double kind = rng.uniform();
		if (kind < 0.6) {
			unsigned shift = 3 + static_cast<unsigned>(rng.skewed(10, 1.5));
			s.size = (1ull << shift) - rng.below(1ull << (shift - 1));
			s.cache_id = out.cache_id("kmalloc-" + std::to_string(1ull << shift));
		} else if (kind < 0.9) {
			s.allocator = 1;
			s.size = 64 + 8 * rng.below(200);
			s.cache_id = out.cache_id(kCaches[rng.below(kCaches.size())]);
		} else if (kind < 0.94) {
			s.allocator = 2;
			s.size = 8192ull << rng.below(3);
		} else if (kind < 0.98) {
			s.allocator = 3;
			s.size = 4096ull << rng.below(3);
		} else {
			s.allocator = 4;
			s.size = 8 + rng.below(4096);
		}
		sites.push_back(s);
	}
	std::vector<Task> tasks;
	for (unsigned i = 0; i < std::max(o.processes, 1u); ++i)
		tasks.push_back({static_cast<uint32_t>(i == 0 ? 0 : 1 + rng.below(32768)),
				 i == 0 ? std::string("swapper/0") : std::string(kComms[rng.skewed(kComms.size(), 1.5)])});
	std::vector<uint64_t> code(std::max(o.access_ips, 1u));
	for (uint64_t &ip : code)
		ip = 0xffffffff81000000ULL + rng.below(0x1000000);

	struct Due {
		uint64_t step;
		GenObject obj;
	};
	std::deque<Due> freeing;        // allocated, freed at `step`
	std::vector<GenObject> forever; // never freed
	uint64_t va = 0xffff888000000000ULL;
	uint64_t jiffies = 4294667296ULL; // the kernel starts jiffies just below 2^32
	uint64_t large = 0;
	const double continue_p = o.mean_accesses / (1.0 + o.mean_accesses);
	const unsigned cpus = out.cpu_count();

	// dump_live: the objects live now, with half the accesses they will have.
	auto snapshot = [&](unsigned cpu) {
		auto early = [](const GenObject &obj) {
			GenObject e = obj;
			e.entries.resize(obj.entries.size() / 2);
			for (GenEntry &entry : e.entries)
				entry.reads = entry.reads / 2 + 1;
			e.incomplete = false;
			return e;
		};
		for (const GenObject &obj : forever)
			out.object(cpu, early(obj), true);
		for (const Due &d : freeing)
			out.object(cpu, early(d.obj), true);
	};

	for (uint64_t n = 0; out.written() < o.target_bytes && (o.max_objects == 0 || n < o.max_objects); ++n) {
		const uint64_t site_index = rng.skewed(sites.size());
		const Site &site = sites[site_index];
		const Task &task = tasks[rng.skewed(tasks.size(), 2.0)];
		jiffies += rng.below(3);
		va += (site.size + 63) & ~63ull;
		GenObject obj;
		obj.va = va;
		obj.size = site.size;
		obj.alloc_ip = site.ip;
		obj.alloc_jiffies = jiffies;
		obj.pid = task.pid;
		obj.comm = task.comm;
		obj.cache_id = site.cache_id;
		obj.allocator = site.allocator;
		size_t count = 0;
		if (o.large_every && n % o.large_every == o.large_every - 1) {
			count = 125 + rng.below(500);
			++large;
			obj.incomplete = o.incomplete_every && large % o.incomplete_every == 0;
		} else {
			while (rng.uniform() < continue_p)
				++count;
		}
		for (size_t i = 0; i < count; ++i) {
			// Code touches the objects of a few sites and, now and then, anything.
			uint64_t ip = rng.uniform() < 0.9 ? code[(site_index * 97 + rng.skewed(128, 2.0)) % code.size()]
							  : code[rng.skewed(code.size())];
			uint32_t pid = rng.uniform() < 0.8 ? task.pid : tasks[rng.below(tasks.size())].pid;
			uint64_t writes = rng.skewed(200, 4.0);
			obj.entries.push_back({ip, writes, 1 + rng.skewed(2000, 4.0), pid});
		}
		if (rng.uniform() < o.live_fraction) {
			forever.push_back(std::move(obj));
		} else {
			obj.free_ip = code[rng.skewed(code.size())];
			freeing.push_back({n + rng.below(16), std::move(obj)});
		}
		// Frees in the order they happen, each on some CPU.
		for (auto it = freeing.begin(); it != freeing.end();) {
			if (it->step > n) {
				++it;
				continue;
			}
			it->obj.free_jiffies = jiffies + 1;
			out.object(static_cast<unsigned>(rng.below(cpus)), it->obj, false);
			it = freeing.erase(it);
		}
		if (o.snapshot_every && n % o.snapshot_every == o.snapshot_every - 1)
			snapshot(static_cast<unsigned>(rng.below(cpus)));
		if (o.unknown_every && n % o.unknown_every == o.unknown_every / 2)
			out.unknown(static_cast<unsigned>(rng.below(cpus)));
	}
	// Streaming stops: every object still live is written, marked LIVE.
	for (const Due &d : freeing)
		out.object(static_cast<unsigned>(rng.below(cpus)), d.obj, true);
	for (const GenObject &obj : forever)
		out.object(static_cast<unsigned>(rng.below(cpus)), obj, true);
	out.finish();
	return out.written();
}

} // namespace capmap
