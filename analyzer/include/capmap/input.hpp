// Opens a kmap for reading: a regular uncompressed file is mapped into
// memory; standard input ("-"), pipes and gzip or zstd compressed files are
// read as a stream (the compression is recognised by its magic bytes).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace capmap {

class ByteStream {
public:
	virtual ~ByteStream() = default;
	// Reads up to n bytes; returns 0 only at the end of the data. Throws
	// IoError or DataError (corrupt or truncated compressed data).
	virtual size_t read(char *buffer, size_t n) = 0;
};

class Input {
public:
	// Throws IoError if the file cannot be opened. With use_mmap false a
	// regular file is read with read() like a pipe.
	static std::unique_ptr<Input> open(const std::string &path, bool use_mmap = true);
	// An input over bytes held by the caller (tests, fuzzing).
	static std::unique_ptr<Input> from_memory(std::string_view bytes, std::string name);
	// The same bytes, but always read through the stream path (tests).
	static std::unique_ptr<Input> from_memory_stream(std::string_view bytes, std::string name);
	~Input();

	Input(const Input &) = delete;
	Input &operator=(const Input &) = delete;

	const std::string &name() const { return name_; }
	// The whole input when it is mapped (or in memory); nullptr otherwise.
	bool is_mapped() const { return stream_ == nullptr; }
	std::string_view mapped() const { return mapped_; }
	ByteStream &stream() { return *stream_; }
	// The first n bytes (fewer if the input is shorter) without consuming
	// them: a stream replays them to its first reads. Call it before the
	// first read of stream(); may throw like ByteStream::read.
	std::string_view peek(size_t n);
	// Lets the kernel drop mapped pages that were parsed, so the resident
	// set does not grow with the file.
	void release(std::string_view range) const;
	// Maps the pages of a range in one call instead of one fault per page.
	void prefetch(std::string_view range) const;
	// Whether the mapped bytes can also be read with pread() (a mapped file).
	bool can_read_copy() const { return map_ != nullptr && fd_ >= 0; }
	// Copies the mapped bytes of range into buffer with pread(): returns
	// false (and the caller uses the mapping) if the read fails or is short.
	bool read_copy(std::string_view range, char *buffer) const;

	// For the progress bar: size of the file on disk (0 when unknown) and
	// bytes of it consumed so far.
	uint64_t disk_size() const { return disk_size_; }
	uint64_t disk_consumed() const { return disk_consumed_->load(std::memory_order_relaxed); }
	void add_consumed(uint64_t n) const { disk_consumed_->fetch_add(n, std::memory_order_relaxed); }
	std::string_view compression() const { return compression_; }

private:
	Input() = default;

	std::string name_;
	int fd_ = -1;
	void *map_ = nullptr;
	size_t map_size_ = 0;
	std::string_view mapped_;
	std::unique_ptr<ByteStream> stream_;
	uint64_t disk_size_ = 0;
	std::shared_ptr<std::atomic<uint64_t>> disk_consumed_ = std::make_shared<std::atomic<uint64_t>>(0);
	std::string compression_ = "none";
	std::string peeked_; // stream inputs: the bytes peek() read
	bool peek_done_ = false;
};

} // namespace capmap
