#include "capmap/input.hpp"

#include <cerrno>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <zlib.h>
#include <zstd.h>

#include "capmap/errors.hpp"

namespace capmap {

namespace {

constexpr size_t kCompressedChunk = 256 * 1024;

std::string errno_text(int error) { return std::strerror(error); }

// Reads a file descriptor, after first handing out bytes that were already
// read to sniff the compression magic.
class FdStream final : public ByteStream {
public:
	FdStream(int fd, std::string name, std::string pending, std::shared_ptr<std::atomic<uint64_t>> consumed)
	    : fd_(fd), name_(std::move(name)), pending_(std::move(pending)), consumed_(std::move(consumed))
	{
	}

	size_t read(char *buffer, size_t n) override
	{
		if (pending_pos_ < pending_.size()) {
			size_t k = std::min(n, pending_.size() - pending_pos_);
			memcpy(buffer, pending_.data() + pending_pos_, k);
			pending_pos_ += k;
			return k;
		}
		for (;;) {
			ssize_t got = ::read(fd_, buffer, n);
			if (got >= 0) {
				consumed_->fetch_add(static_cast<uint64_t>(got), std::memory_order_relaxed);
				return static_cast<size_t>(got);
			}
			if (errno != EINTR)
				throw IoError(fmt::format("{}: read failed: {}", name_, errno_text(errno)));
		}
	}

private:
	int fd_;
	std::string name_;
	std::string pending_;
	size_t pending_pos_ = 0;
	std::shared_ptr<std::atomic<uint64_t>> consumed_;
};

class GzipStream final : public ByteStream {
public:
	GzipStream(std::unique_ptr<ByteStream> raw, std::string name) : raw_(std::move(raw)), name_(std::move(name)), in_(kCompressedChunk)
	{
		memset(&z_, 0, sizeof(z_));
		// 15 + 32: any window size, gzip or zlib header detected.
		if (inflateInit2(&z_, 15 + 32) != Z_OK)
			throw IoError(name_ + ": cannot initialise zlib");
	}
	~GzipStream() override { inflateEnd(&z_); }

	size_t read(char *buffer, size_t n) override
	{
		z_.next_out = reinterpret_cast<Bytef *>(buffer);
		z_.avail_out = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
		while (z_.avail_out == static_cast<uInt>(std::min<size_t>(n, 1u << 30))) {
			if (z_.avail_in == 0) {
				size_t got = raw_->read(in_.data(), in_.size());
				if (got == 0) {
					if (member_done_)
						return 0;
					throw DataError(name_ + ": gzip stream is truncated (unexpected end of file)");
				}
				z_.next_in = reinterpret_cast<Bytef *>(in_.data());
				z_.avail_in = static_cast<uInt>(got);
			}
			if (member_done_) {
				// Another gzip member follows (concatenated .gz files).
				if (inflateReset(&z_) != Z_OK)
					throw DataError(name_ + ": corrupt gzip stream");
				member_done_ = false;
			}
			int rc = inflate(&z_, Z_NO_FLUSH);
			if (rc == Z_STREAM_END)
				member_done_ = true;
			else if (rc != Z_OK && rc != Z_BUF_ERROR)
				throw DataError(fmt::format("{}: corrupt gzip stream: {}", name_, z_.msg ? z_.msg : "error"));
		}
		return static_cast<size_t>(reinterpret_cast<char *>(z_.next_out) - buffer);
	}

private:
	std::unique_ptr<ByteStream> raw_;
	std::string name_;
	std::vector<char> in_;
	z_stream z_;
	bool member_done_ = false;
};

class ZstdStream final : public ByteStream {
public:
	ZstdStream(std::unique_ptr<ByteStream> raw, std::string name)
	    : raw_(std::move(raw)), name_(std::move(name)), in_(ZSTD_DStreamInSize()), ctx_(ZSTD_createDStream())
	{
		if (!ctx_)
			throw IoError(name_ + ": cannot initialise zstd");
		// Bound the decoder's window so a hostile frame cannot demand gigabytes.
		ZSTD_DCtx_setParameter(ctx_, ZSTD_d_windowLogMax, 27);
	}
	~ZstdStream() override { ZSTD_freeDStream(ctx_); }

	size_t read(char *buffer, size_t n) override
	{
		ZSTD_outBuffer out{buffer, n, 0};
		while (out.pos == 0) {
			if (input_.pos == input_.size) {
				size_t got = raw_->read(in_.data(), in_.size());
				if (got == 0) {
					if (frame_done_)
						return 0;
					throw DataError(name_ + ": zstd stream is truncated (unexpected end of file)");
				}
				input_ = ZSTD_inBuffer{in_.data(), got, 0};
			}
			size_t rc = ZSTD_decompressStream(ctx_, &out, &input_);
			if (ZSTD_isError(rc))
				throw DataError(fmt::format("{}: corrupt zstd stream: {}", name_, ZSTD_getErrorName(rc)));
			frame_done_ = rc == 0;
		}
		return out.pos;
	}

private:
	std::unique_ptr<ByteStream> raw_;
	std::string name_;
	std::vector<char> in_;
	ZSTD_DStream *ctx_;
	ZSTD_inBuffer input_{nullptr, 0, 0};
	bool frame_done_ = true;
};

class MemoryStream final : public ByteStream {
public:
	explicit MemoryStream(std::string_view bytes) : bytes_(bytes) {}
	size_t read(char *buffer, size_t n) override
	{
		size_t k = std::min(n, bytes_.size());
		memcpy(buffer, bytes_.data(), k);
		bytes_.remove_prefix(k);
		return k;
	}

private:
	std::string_view bytes_;
};

// Hands out bytes read ahead (by Input::peek), then reads on.
class ReplayStream final : public ByteStream {
public:
	ReplayStream(std::string pending, std::unique_ptr<ByteStream> inner)
	    : pending_(std::move(pending)), inner_(std::move(inner))
	{
	}
	size_t read(char *buffer, size_t n) override
	{
		if (pos_ < pending_.size()) {
			size_t k = std::min(n, pending_.size() - pos_);
			memcpy(buffer, pending_.data() + pos_, k);
			pos_ += k;
			return k;
		}
		return inner_->read(buffer, n);
	}

private:
	std::string pending_;
	size_t pos_ = 0;
	std::unique_ptr<ByteStream> inner_;
};

bool is_gzip(std::string_view head) { return head.size() >= 2 && head[0] == '\x1f' && head[1] == '\x8b'; }
bool is_zstd(std::string_view head) { return head.size() >= 4 && head.substr(0, 4) == std::string_view("\x28\xb5\x2f\xfd", 4); }

} // namespace

std::unique_ptr<Input> Input::open(const std::string &path, bool use_mmap)
{
	std::unique_ptr<Input> in(new Input());
	in->name_ = path == "-" ? std::string("<stdin>") : path;
	if (path == "-") {
		in->fd_ = STDIN_FILENO;
	} else {
		in->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
		if (in->fd_ < 0)
			throw IoError(fmt::format("{}: cannot open: {}", path, errno_text(errno)));
	}
	struct stat st {};
	if (fstat(in->fd_, &st) != 0)
		throw IoError(fmt::format("{}: cannot stat: {}", in->name_, errno_text(errno)));
	if (S_ISDIR(st.st_mode))
		throw IoError(fmt::format("{}: is a directory", in->name_));
	bool regular = S_ISREG(st.st_mode);
	if (regular)
		in->disk_size_ = static_cast<uint64_t>(st.st_size);

	// Sniff the first bytes; for pipes they are kept and replayed.
	std::string head(4, '\0');
	size_t head_size = 0;
	while (head_size < head.size()) {
		ssize_t got = ::read(in->fd_, head.data() + head_size, head.size() - head_size);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			throw IoError(fmt::format("{}: read failed: {}", in->name_, errno_text(errno)));
		if (got == 0)
			break;
		head_size += static_cast<size_t>(got);
	}
	head.resize(head_size);
	bool compressed = is_gzip(head) || is_zstd(head);

	if (use_mmap && regular && !compressed && st.st_size > 0) {
		void *map = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, in->fd_, 0);
		if (map != MAP_FAILED) {
			madvise(map, static_cast<size_t>(st.st_size), MADV_SEQUENTIAL);
			in->map_ = map;
			in->map_size_ = static_cast<size_t>(st.st_size);
			in->mapped_ = std::string_view(static_cast<const char *>(map), in->map_size_);
			return in;
		}
		// Fall back to read(): some file systems cannot map.
	}
	if (regular && head_size == 0)
		return in; // empty file: mapped_ stays empty

	in->disk_consumed_->store(head_size);
	auto raw = std::make_unique<FdStream>(in->fd_, in->name_, head, in->disk_consumed_);
	if (is_gzip(head)) {
		in->compression_ = "gzip";
		in->stream_ = std::make_unique<GzipStream>(std::move(raw), in->name_);
	} else if (is_zstd(head)) {
		in->compression_ = "zstd";
		in->stream_ = std::make_unique<ZstdStream>(std::move(raw), in->name_);
	} else {
		in->stream_ = std::move(raw);
	}
	return in;
}

std::unique_ptr<Input> Input::from_memory(std::string_view bytes, std::string name)
{
	std::unique_ptr<Input> in(new Input());
	in->name_ = std::move(name);
	in->disk_size_ = bytes.size();
	if (is_gzip(bytes)) {
		in->compression_ = "gzip";
		in->stream_ = std::make_unique<GzipStream>(std::make_unique<MemoryStream>(bytes), in->name_);
	} else if (is_zstd(bytes)) {
		in->compression_ = "zstd";
		in->stream_ = std::make_unique<ZstdStream>(std::make_unique<MemoryStream>(bytes), in->name_);
	} else {
		in->mapped_ = bytes;
	}
	return in;
}

std::unique_ptr<Input> Input::from_memory_stream(std::string_view bytes, std::string name)
{
	std::unique_ptr<Input> in = from_memory(bytes, std::move(name));
	if (!in->stream_)
		in->stream_ = std::make_unique<MemoryStream>(bytes);
	return in;
}

std::string_view Input::peek(size_t n)
{
	if (!stream_)
		return mapped_.substr(0, std::min(n, mapped_.size()));
	if (!peek_done_) {
		peek_done_ = true;
		peeked_.resize(n);
		size_t have = 0;
		while (have < n) {
			size_t got = stream_->read(peeked_.data() + have, n - have);
			if (got == 0)
				break;
			have += got;
		}
		peeked_.resize(have);
		stream_ = std::make_unique<ReplayStream>(peeked_, std::move(stream_));
	}
	return std::string_view(peeked_).substr(0, std::min(n, peeked_.size()));
}

Input::~Input()
{
	if (map_)
		munmap(map_, map_size_);
	if (fd_ > STDIN_FILENO)
		::close(fd_);
}

namespace {
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 // Linux 5.14
#endif

// The page-aligned span of a range inside the mapping.
std::pair<void *, size_t> page_span(std::string_view range)
{
	const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
	auto begin = reinterpret_cast<uintptr_t>(range.data()) & ~(page - 1);
	auto end = reinterpret_cast<uintptr_t>(range.data() + range.size());
	return {reinterpret_cast<void *>(begin), end - begin};
}
} // namespace

void Input::prefetch(std::string_view range) const
{
	if (!map_ || range.empty())
		return;
	auto [start, length] = page_span(range);
	// Older kernels reject the advice; faults then map the pages as usual.
	madvise(start, length, MADV_POPULATE_READ);
}

bool Input::read_copy(std::string_view range, char *buffer) const
{
	if (!can_read_copy())
		return false;
	auto offset = static_cast<off_t>(range.data() - static_cast<const char *>(map_));
	size_t done = 0;
	while (done < range.size()) {
		ssize_t got = ::pread(fd_, buffer + done, range.size() - done, offset + static_cast<off_t>(done));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return false;
		done += static_cast<size_t>(got);
	}
	return true;
}

void Input::release(std::string_view range) const
{
	if (!map_ || range.empty())
		return;
	auto [start, length] = page_span(range);
	// Pages are re-read from the page cache if another thread still needs
	// one at a piece boundary: the mapping is private and never written.
	madvise(start, length, MADV_DONTNEED);
}

} // namespace capmap
