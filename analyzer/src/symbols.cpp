#include "capmap/symbols.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "capmap/errors.hpp"
#include "capmap/kmap.hpp"
#include "capmap/numbers.hpp"

namespace capmap {

std::string hex_address(uint64_t value) { return fmt::format("{:x}", value); }

SymbolTable SymbolTable::load(const std::string &path)
{
	std::ifstream file(path, std::ios::binary);
	if (!file)
		throw IoError(fmt::format("{}: cannot open symbols file", path));
	std::ostringstream text;
	text << file.rdbuf();
	if (file.bad())
		throw IoError(fmt::format("{}: read failed", path));
	return parse(text.str(), path);
}

SymbolTable SymbolTable::parse(std::string_view text, const std::string &file_name)
{
	SymbolTable table;
	size_t line_no = 0;
	bool any_nonzero = false;
	size_t total = 0;
	while (!text.empty()) {
		size_t eol = text.find('\n');
		std::string_view line = text.substr(0, eol);
		text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
		++line_no;
		if (!line.empty() && line.back() == '\r')
			line.remove_suffix(1);
		if (line.empty())
			continue;
		// "ADDRESS TYPE NAME" optionally followed by "\t[module]".
		std::string address_text(line.substr(0, line.find(' ')));
		address_text += '\n'; // parse_hex needs a terminator that is not a digit
		uint64_t address = 0;
		const char *after = parse_hex(address_text.c_str(), address);
		size_t space1 = line.find(' ');
		size_t space2 = space1 == std::string_view::npos ? space1 : line.find(' ', space1 + 1);
		if (!after || *after != '\n' || space1 == std::string_view::npos || space2 != space1 + 2 ||
		    space2 + 1 >= line.size() || line.size() > kMaxLineLength)
			throw DataError(fmt::format("{}:{}: expected 'ADDRESS TYPE NAME' (System.map or kallsyms), found {}",
						    file_name, line_no,
						    detail::describe_found(line.data(), line.data() + std::min<size_t>(line.size(), 60))));
		++total;
		any_nonzero |= address != 0;
		char type = line[space1 + 1];
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		std::string_view name = line.substr(space2 + 1);
		std::string stored;
		size_t tab = name.find('\t');
		if (tab != std::string_view::npos) {
			stored = std::string(name.substr(0, tab)) + " " + std::string(name.substr(tab + 1));
		} else {
			stored = std::string(name);
		}
		table.symbols_.push_back({address, std::move(stored)});
	}
	if (total > 0 && !any_nonzero)
		throw DataError(fmt::format("{}: all symbol addresses are 0 (kallsyms saved without root?)", file_name));
	std::stable_sort(table.symbols_.begin(), table.symbols_.end(),
			 [](const Symbol &a, const Symbol &b) { return a.address < b.address; });
	return table;
}

const Symbol *SymbolTable::find(uint64_t ip) const
{
	auto it = std::upper_bound(symbols_.begin(), symbols_.end(), ip,
				   [](uint64_t value, const Symbol &s) { return value < s.address; });
	if (it == symbols_.begin())
		return nullptr;
	return &*(it - 1);
}

std::string SymbolTable::describe(uint64_t ip) const
{
	const Symbol *s = find(ip);
	if (!s)
		return hex_address(ip);
	return fmt::format("{}+0x{:x}", s->name, ip - s->address);
}

} // namespace capmap
