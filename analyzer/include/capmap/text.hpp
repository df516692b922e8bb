// Escaping for the output formats, and the numbers of kmap text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace capmap {

std::string json_string(std::string_view text); // with quotes
std::string csv_field(std::string_view text);   // quoted when needed
std::string xml_text(std::string_view text);    // for attributes and content
std::string dot_string(std::string_view text);  // with quotes

// Append a number as the kernel's kmap printer writes it: lowercase hex
// without "0x", or decimal.
void append_hex(std::string &out, uint64_t value);
void append_dec(std::string &out, uint64_t value);

} // namespace capmap
