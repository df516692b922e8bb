// Error types and the exit codes they map to.
#pragma once

#include <stdexcept>
#include <string>

namespace capmap {

// Exit codes of the capmap command line tools (documented in capmap.rst).
enum ExitCode : int {
	kExitOk = 0,
	kExitUsage = 1,    // bad command line
	kExitBadInput = 2, // malformed kmap, symbols file or compressed stream
	kExitIo = 3,       // cannot open, read or write a file
};

// The input is malformed. The message already names the file and line.
class DataError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

// The operating system refused an operation (open, read, write, mmap).
class IoError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

// The command line is wrong.
class UsageError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

} // namespace capmap
