// Maps instruction pointers to function+offset using a System.map or a saved
// /proc/kallsyms ("ffffffff81000000 T _stext", modules add "\t[name]").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace capmap {

struct Symbol {
	uint64_t address = 0;
	std::string name; // "func" or "func [module]"
};

class SymbolTable {
public:
	SymbolTable() = default;
	// Throws IoError if the file cannot be read, DataError on a malformed line.
	static SymbolTable load(const std::string &path);
	static SymbolTable parse(std::string_view text, const std::string &file_name);

	bool empty() const { return symbols_.empty(); }
	size_t size() const { return symbols_.size(); }
	// The function containing ip (the nearest text symbol at or below it).
	const Symbol *find(uint64_t ip) const;
	// "func+0x1a", or the hexadecimal ip when no symbol covers it.
	std::string describe(uint64_t ip) const;

private:
	std::vector<Symbol> symbols_; // text symbols, sorted by address
};

// "ffffffff81234567": how capmap prints addresses everywhere.
std::string hex_address(uint64_t value);

} // namespace capmap
