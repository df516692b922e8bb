#include "capmap/scan.hpp"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <cstring>
#include <mutex>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>

#include "capmap/errors.hpp"

namespace capmap {

unsigned worker_count(const ScanOptions &options)
{
	if (options.threads > 0)
		return options.threads;
	unsigned n = std::thread::hardware_concurrency();
	return n == 0 ? 1 : n;
}

namespace {

bool starts_access_or_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// First position >= from that starts a line which is not an access line (or
// text.size()).
size_t next_piece_start(std::string_view text, size_t from)
{
	size_t i = from;
	while (i < text.size()) {
		const void *nl = memchr(text.data() + i - 1, '\n', text.size() - (i - 1));
		if (!nl)
			return text.size();
		size_t start = static_cast<size_t>(static_cast<const char *>(nl) - text.data()) + 1;
		if (start >= text.size() || !starts_access_or_blank(text[start]))
			return start;
		i = start + 1;
	}
	return text.size();
}

// Redraws "capmap: 42% 1.9 GB 1.1 GB/s" on stderr while a scan runs, but only
// once the scan has taken a second: small inputs never show it.
class ProgressBar {
public:
	ProgressBar(const Input &input, bool enabled, const std::atomic<uint64_t> &parsed)
	    : input_(input), parsed_(parsed)
	{
		if (enabled)
			thread_ = std::thread([this] { run(); });
	}
	~ProgressBar()
	{
		if (!thread_.joinable())
			return;
		{
			std::lock_guard lock(mutex_);
			done_ = true;
		}
		wake_.notify_all();
		thread_.join();
	}

private:
	void run()
	{
		auto start = std::chrono::steady_clock::now();
		bool drawn = false;
		std::unique_lock lock(mutex_);
		while (!wake_.wait_for(lock, std::chrono::milliseconds(drawn ? 250 : 1000), [this] { return done_; })) {
			double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
			uint64_t parsed = parsed_.load(std::memory_order_relaxed);
			std::string line;
			if (input_.disk_size() > 0) {
				uint64_t consumed = input_.is_mapped() ? parsed : input_.disk_consumed();
				line = fmt::format("capmap: {:3.0f}% ", 100.0 * static_cast<double>(consumed) /
									 static_cast<double>(input_.disk_size()));
			} else {
				line = "capmap: ";
			}
			line += fmt::format("{:.2f} GB parsed, {:.0f} MB/s   \r", static_cast<double>(parsed) / 1e9,
					    static_cast<double>(parsed) / 1e6 / seconds);
			if (write(STDERR_FILENO, line.data(), line.size()) < 0)
				break;
			drawn = true;
		}
		if (drawn) {
			static const char kClear[] = "\r\033[K";
			if (write(STDERR_FILENO, kClear, sizeof(kClear) - 1) < 0)
				return;
		}
	}

	const Input &input_;
	const std::atomic<uint64_t> &parsed_;
	std::mutex mutex_;
	std::condition_variable wake_;
	bool done_ = false;
	std::thread thread_;
};

// What the end of one block leaves for the next: an object whose access lines
// may continue, and (lenient) whether that object's line was skipped.
struct Carry {
	bool object_open = false;
	bool skipping_object = false;
};

// Adds the result of a run of lines to the result of the lines before it.
void append_result(PieceResult &total, const PieceResult &r)
{
	if ((r.skipped > 0 || r.orphaned > 0) && total.skipped == 0 && total.orphaned == 0) {
		total.first_skip_line = total.lines + r.first_skip_line;
		total.first_skip = r.first_skip;
	}
	if (r.failed) {
		total.failed = true;
		total.error_line = total.lines + r.error_line;
		total.error = r.error;
	}
	total.stopped |= r.stopped;
	total.lines += r.lines;
	total.skipped += r.skipped;
	total.orphaned += r.orphaned;
	total.object_open = r.object_open;
	total.skipping_object = r.skipping_object;
}

// A read buffer that is not zero-filled first (that would cost a pass over
// it and, in some virtual machines, a fault per page up front).
class Buffer {
public:
	explicit Buffer(size_t capacity) : data_(new char[capacity]), capacity_(capacity) {}
	char *data() { return data_.get(); }
	size_t size() const { return capacity_; }

private:
	std::unique_ptr<char[]> data_;
	size_t capacity_;
};

class Scanner {
public:
	Scanner(Input &input, const ScanOptions &options, unsigned workers, const PieceParser &parse)
	    : input_(input), options_(options), workers_(workers == 0 ? 1 : workers), parse_(parse)
	{
		stats_.name = input.name();
		stats_.compression = std::string(input.compression());
	}

	ScanStats run()
	{
		auto start = std::chrono::steady_clock::now();
		{
			ProgressBar bar(input_, options_.progress, parsed_);
			if (input_.is_mapped())
				scan_mapped();
			else
				scan_stream();
		}
		stats_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
		return stats_;
	}

private:
	void set_layout(std::string_view head)
	{
		stats_.layout = options_.layout == Layout::Auto ? detect_layout(head, input_.name()) : options_.layout;
	}

	void scan_mapped()
	{
		if (input_.can_read_copy() && options_.chunk_size > 0)
			for (unsigned w = 0; w < workers_; ++w)
				chunk_buffers_.push_back(std::make_unique<Buffer>(options_.chunk_size));
		std::string_view all = input_.mapped();
		size_t complete = all.rfind('\n');
		complete = complete == std::string_view::npos ? 0 : complete + 1;
		std::string_view text = all.substr(0, complete);
		std::string_view head = text.substr(0, std::min<size_t>(text.size(), 4u << 20));
		set_layout(head.substr(0, head.rfind('\n') + 1));
		Carry carry = parse_block(text, Carry{}, true);
		if (complete < all.size())
			truncated_last_line(carry.object_open);
	}

	void scan_stream()
	{
		const size_t block = std::max<size_t>(options_.block_size, 2 * kMaxLineLength);
		// A block's first and last piece stay with worker 0, so a block must
		// hold many pieces for the other workers to have work: with 8 MiB
		// pieces in 16 MiB blocks, standard input was parsed by one thread.
		piece_size_ = std::min(options_.piece_size, std::max<size_t>(1, block / (8 * workers_)));
		Buffer buffers[2] = {Buffer(block), Buffer(block)};
		size_t filled = fill(buffers[0], 0);
		bool layout_known = false;
		Carry carry;
		int current = 0;
		for (;;) {
			Buffer &buf = buffers[current];
			Buffer &next = buffers[1 - current];
			std::string_view data(buf.data(), filled);
			size_t cut = data.rfind('\n');
			if (cut == std::string_view::npos) {
				if (filled < buf.size()) { // end of input, no newline in the rest
					if (!layout_known)
						set_layout({});
					if (filled > 0)
						truncated_last_line(carry.object_open);
					else if (carry.object_open)
						close_open_object();
					return;
				}
				// A full buffer without a newline: the line is far too long.
				if (carry.object_open)
					close_open_object();
				carry = Carry{};
				filled = fill(buf, drop_overlong_line(buf, filled));
				continue;
			}
			std::string_view text = data.substr(0, cut + 1);
			if (!layout_known) {
				set_layout(text);
				layout_known = true;
			}
			size_t rest = filled - (cut + 1);
			memcpy(next.data(), buf.data() + cut + 1, rest);
			// Parse this block while the next one is read.
			std::exception_ptr failure;
			Carry carry_after;
			std::thread parser([&] {
				try {
					carry_after = parse_block(text, carry, false);
				} catch (...) {
					failure = std::current_exception();
				}
			});
			size_t next_filled = 0;
			std::exception_ptr read_failure;
			try {
				next_filled = fill(next, rest);
			} catch (...) {
				read_failure = std::current_exception();
			}
			parser.join();
			if (failure)
				std::rethrow_exception(failure);
			if (read_failure)
				std::rethrow_exception(read_failure);
			carry = carry_after;
			filled = next_filled;
			current = 1 - current;
		}
	}

	// Reads into buf after the first `have` bytes until it is full or the
	// input ends.
	size_t fill(Buffer &buf, size_t have)
	{
		while (have < buf.size()) {
			size_t got = input_.stream().read(buf.data() + have, buf.size() - have);
			if (got == 0)
				break;
			have += got;
		}
		return have;
	}

	// Reports a line longer than a whole read buffer; in lenient mode skips
	// it and returns how many bytes after it were kept at the buffer start.
	size_t drop_overlong_line(Buffer &buf, size_t filled)
	{
		std::string message = fmt::format("{}:{}: expected a line of at most {} bytes, found a line of more than {} bytes",
						  input_.name(), stats_.lines + 1, kMaxLineLength, filled);
		if (!options_.lenient)
			throw DataError(message);
		note_skip(message);
		++stats_.lines;
		for (;;) {
			size_t got = input_.stream().read(buf.data(), buf.size());
			if (got == 0)
				return 0;
			const void *nl = memchr(buf.data(), '\n', got);
			if (nl) {
				size_t after = static_cast<size_t>(static_cast<const char *>(nl) - buf.data()) + 1;
				memmove(buf.data(), buf.data() + after, got - after);
				return got - after;
			}
		}
	}

	void note_skip(const std::string &message)
	{
		if (stats_.skipped == 0 && stats_.orphaned == 0)
			stats_.first_skip = message;
		++stats_.skipped;
	}

	void truncated_last_line(bool open)
	{
		std::string message = fmt::format(
			"{}:{}: expected a newline at the end of the last line, found end of file (truncated kmap?)",
			input_.name(), stats_.lines + 1);
		if (!options_.lenient)
			throw DataError(message);
		note_skip(message);
		++stats_.lines;
		if (open)
			close_open_object();
	}

	void close_open_object()
	{
		PieceResult r = parse_(0, stats_.layout, {}, true, true, false, nullptr);
		if (r.failed)
			throw DataError(fmt::format("{}:{}: {}", input_.name(), stats_.lines, r.error));
	}

	// Parses one piece of a mapped file through a small per-worker copy
	// made with pread(). Reading a page-cache-backed mapping directly costs
	// a page fault and TLB misses per page: the parse ran at about half the
	// speed (a bare line count over the mapping took 5.2 CPU-seconds for 5
	// GB, with pread into a cached buffer 1.9). The mapping stays the
	// source of truth: a line longer than the buffer, or a failed read, is
	// parsed straight from it.
	PieceResult parse_piece_copied(unsigned worker, std::string_view piece, Carry carry, bool close_at_end,
				       const std::atomic<bool> *stop)
	{
		Buffer &buffer = *chunk_buffers_[worker];
		PieceResult total;
		total.object_open = carry.object_open;
		total.skipping_object = carry.skipping_object;
		size_t pos = 0;
		while (pos < piece.size()) {
			std::string_view rest = piece.substr(pos);
			std::string_view chunk;
			size_t want = std::min(buffer.size(), rest.size());
			if (input_.read_copy(rest.substr(0, want), buffer.data())) {
				std::string_view copied(buffer.data(), want);
				// Complete lines only: the piece itself ends with '\n'.
				size_t cut = want == rest.size() ? want : copied.rfind('\n') + 1;
				chunk = copied.substr(0, cut);
			}
			if (chunk.empty()) {
				const char *nl = static_cast<const char *>(memchr(rest.data(), '\n', rest.size()));
				chunk = rest.substr(0, static_cast<size_t>(nl - rest.data()) + 1);
			}
			pos += chunk.size();
			bool last = pos == piece.size();
			PieceResult r = parse_(worker, stats_.layout, chunk, total.object_open, last && close_at_end,
					       total.skipping_object, stop);
			append_result(total, r);
			if (r.failed || r.stopped)
				break;
		}
		return total;
	}

	// Parses one block of complete lines. Returns what is still open at
	// its end (only when !final).
	Carry parse_block(std::string_view text, Carry carry_in, bool final)
	{
		std::vector<size_t> starts{0};
		for (size_t pos = piece_size_; pos < text.size();) {
			size_t start = next_piece_start(text, std::max<size_t>(pos, 1));
			if (start >= text.size())
				break;
			starts.push_back(start);
			pos = start + piece_size_;
		}
		const size_t n = starts.size();
		starts.push_back(text.size());
		std::vector<PieceResult> results(n);
		std::vector<std::atomic<bool>> stop(n);
		for (auto &s : stop)
			s.store(false);

		auto run_piece = [&](unsigned worker, size_t i) {
			if (stop[i].load(std::memory_order_relaxed)) {
				results[i].stopped = true;
				return;
			}
			std::string_view piece = text.substr(starts[i], starts[i + 1] - starts[i]);
			bool last = i + 1 == n;
			Carry carry = i == 0 ? carry_in : Carry{};
			bool close = last ? final : true;
			if (!chunk_buffers_.empty()) {
				results[i] = parse_piece_copied(worker, piece, carry, close, &stop[i]);
			} else {
				input_.prefetch(piece);
				results[i] = parse_(worker, stats_.layout, piece, carry.object_open, close,
						    carry.skipping_object, &stop[i]);
			}
			if (results[i].failed)
				for (size_t j = i + 1; j < n; ++j)
					stop[j].store(true, std::memory_order_relaxed);
			parsed_.fetch_add(piece.size(), std::memory_order_relaxed);
			input_.release(piece);
		};

		const unsigned workers = static_cast<unsigned>(std::min<size_t>(workers_, n));
		if (workers <= 1) {
			for (size_t i = 0; i < n; ++i)
				run_piece(0, i);
		} else {
			std::atomic<size_t> next_middle{1};
			auto take_middle = [&](unsigned worker) {
				for (size_t i; (i = next_middle.fetch_add(1)) + 1 < n;)
					run_piece(worker, i);
			};
			std::vector<std::thread> threads;
			for (unsigned w = 1; w < workers; ++w)
				threads.emplace_back([&, w] { take_middle(w); });
			run_piece(0, 0);
			take_middle(0);
			run_piece(0, n - 1);
			for (auto &t : threads)
				t.join();
		}

		uint64_t line_base = stats_.lines;
		for (size_t i = 0; i < n; ++i) {
			const PieceResult &r = results[i];
			if (r.failed)
				throw DataError(fmt::format("{}:{}: {}", input_.name(), line_base + r.error_line, r.error));
			if ((r.skipped > 0 || r.orphaned > 0) && stats_.skipped == 0 && stats_.orphaned == 0)
				stats_.first_skip = fmt::format("{}:{}: {}", input_.name(), line_base + r.first_skip_line,
								r.first_skip);
			stats_.skipped += r.skipped;
			stats_.orphaned += r.orphaned;
			line_base += r.lines;
		}
		stats_.lines = line_base;
		stats_.bytes += text.size();
		return Carry{results[n - 1].object_open, results[n - 1].skipping_object};
	}

	Input &input_;
	const ScanOptions &options_;
	unsigned workers_;
	const PieceParser &parse_;
	ScanStats stats_;
	size_t piece_size_ = options_.piece_size; // smaller for streams
	std::atomic<uint64_t> parsed_{0};
	std::vector<std::unique_ptr<Buffer>> chunk_buffers_; // per worker, when mapped pages are read by copy
};

} // namespace

struct ProgressScope::Impl {
	ProgressBar bar;
	Impl(const Input &input, bool enabled, const std::atomic<uint64_t> &parsed) : bar(input, enabled, parsed) {}
};

ProgressScope::ProgressScope(const Input &input, bool enabled, const std::atomic<uint64_t> &parsed)
    : impl_(enabled ? std::make_unique<Impl>(input, true, parsed) : nullptr)
{
}

ProgressScope::~ProgressScope() = default;

ScanStats scan_input(Input &input, const ScanOptions &options, unsigned workers, const PieceParser &parse)
{
	Scanner scanner(input, options, workers, parse);
	return scanner.run();
}

} // namespace capmap
