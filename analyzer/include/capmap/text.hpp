// Escaping for the output formats.
#pragma once

#include <string>
#include <string_view>

namespace capmap {

std::string json_string(std::string_view text); // with quotes
std::string csv_field(std::string_view text);   // quoted when needed
std::string xml_text(std::string_view text);    // for attributes and content
std::string dot_string(std::string_view text);  // with quotes

} // namespace capmap
