#include "capmap/text.hpp"

#include <fmt/format.h>

namespace capmap {

std::string json_string(std::string_view text)
{
	std::string out = "\"";
	for (unsigned char c : text) {
		switch (c) {
		case '"':
			out += "\\\"";
			break;
		case '\\':
			out += "\\\\";
			break;
		case '\n':
			out += "\\n";
			break;
		case '\t':
			out += "\\t";
			break;
		default:
			// Bytes >= 0x80 are passed as \u00XX so any input gives valid UTF-8.
			if (c < 0x20 || c >= 0x7f)
				out += fmt::format("\\u{:04x}", c);
			else
				out += static_cast<char>(c);
		}
	}
	out += '"';
	return out;
}

std::string csv_field(std::string_view text)
{
	if (text.find_first_of(",\"\n\r") == std::string_view::npos)
		return std::string(text);
	std::string out = "\"";
	for (char c : text) {
		if (c == '"')
			out += '"';
		out += c;
	}
	out += '"';
	return out;
}

std::string xml_text(std::string_view text)
{
	std::string out;
	for (unsigned char c : text) {
		switch (c) {
		case '<':
			out += "&lt;";
			break;
		case '>':
			out += "&gt;";
			break;
		case '&':
			out += "&amp;";
			break;
		case '"':
			out += "&quot;";
			break;
		case '\'':
			out += "&apos;";
			break;
		default:
			// XML 1.0 forbids most control characters even escaped.
			if (c < 0x20 || c >= 0x7f)
				out += fmt::format("&#x{:x};", c < 0x20 ? 0xfffdu : c);
			else
				out += static_cast<char>(c);
		}
	}
	return out;
}

std::string dot_string(std::string_view text)
{
	std::string out = "\"";
	for (unsigned char c : text) {
		if (c == '"' || c == '\\')
			out += '\\';
		if (c == '\n')
			out += "\\n";
		else if (c < 0x20 || c >= 0x7f)
			out += fmt::format("\\\\x{:02x}", c);
		else
			out += static_cast<char>(c);
	}
	out += '"';
	return out;
}

void append_hex(std::string &out, uint64_t value)
{
	char digits[16];
	int n = 0;
	do {
		digits[n++] = "0123456789abcdef"[value & 15];
		value >>= 4;
	} while (value);
	while (n)
		out.push_back(digits[--n]);
}

void append_dec(std::string &out, uint64_t value)
{
	char digits[20];
	int n = 0;
	do {
		digits[n++] = static_cast<char>('0' + value % 10);
		value /= 10;
	} while (value);
	while (n)
		out.push_back(digits[--n]);
}

} // namespace capmap
