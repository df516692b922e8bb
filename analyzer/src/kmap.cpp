#include "capmap/kmap.hpp"

#include <fmt/format.h>

namespace capmap {

std::string_view layout_name(Layout layout)
{
	switch (layout) {
	case Layout::Auto:
		return "auto";
	case Layout::V1:
		return "v1";
	case Layout::Legacy10:
		return "legacy10";
	case Layout::Legacy11:
		return "legacy11";
	}
	return "?";
}

std::optional<Layout> layout_from_name(std::string_view name)
{
	for (Layout layout : {Layout::Auto, Layout::V1, Layout::Legacy10, Layout::Legacy11})
		if (layout_name(layout) == name)
			return layout;
	return std::nullopt;
}

bool is_untracked_allocator(std::string_view allocator)
{
	return allocator.starts_with("MEM_UFO") || allocator.starts_with("UFO") || allocator == "UNTRACKED" ||
	       allocator == "UNKNOWN";
}

namespace {
size_t count_commas(std::string_view line)
{
	size_t n = 0;
	for (char c : line)
		n += c == ',';
	return n;
}
} // namespace

Layout detect_layout(std::string_view head, const std::string &file_name)
{
	// Object lines: the fewest commas wins, because comm may contain commas.
	size_t object_commas = SIZE_MAX;
	size_t first_object_line = 0;
	size_t objects_seen = 0;
	size_t access_commas = SIZE_MAX;
	size_t line_no = 0;
	while (!head.empty() && objects_seen < 1000) {
		size_t eol = head.find('\n');
		std::string_view line = head.substr(0, eol);
		head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 1);
		++line_no;
		if (line.empty() || line == "\r")
			continue;
		if (line[0] == '#') {
			if (line.find("kmap v1") != std::string_view::npos)
				return Layout::V1;
			continue;
		}
		if (line[0] == ' ' || line[0] == '\t') {
			if (access_commas == SIZE_MAX)
				access_commas = count_commas(line);
			continue;
		}
		size_t commas = count_commas(line);
		if (commas < object_commas) {
			object_commas = commas;
			first_object_line = line_no;
		}
		++objects_seen;
	}
	if (object_commas == SIZE_MAX)
		return Layout::V1;
	if (object_commas < 9)
		throw DataError(fmt::format("{}:{}: expected an object line of 10 or 11 comma-separated fields, found {} "
					    "fields (cannot detect the kmap layout)",
					    file_name, first_object_line, object_commas + 1));
	if (access_commas == 2)
		return Layout::Legacy10;
	if (object_commas >= 10 && access_commas != SIZE_MAX)
		return Layout::Legacy11;
	return Layout::V1;
}

namespace detail {

std::string describe_found(const char *at, const char *line_end)
{
	if (at >= line_end || *at == '\r')
		return "end of line";
	// Show the field at the failure point; at a stray ',' show the field after it.
	const char *stop = *at == ',' ? at + 1 : at;
	while (stop < line_end && *stop != ',' && *stop != '\r')
		++stop;
	constexpr size_t kShown = 40;
	bool cut = static_cast<size_t>(stop - at) > kShown;
	if (cut)
		stop = at + kShown;
	std::string out = "'";
	for (const char *p = at; p < stop; ++p) {
		auto ch = static_cast<unsigned char>(*p);
		if (ch < 0x20 || ch >= 0x7f || ch == '\'' || ch == '\\')
			out += fmt::format("\\x{:02x}", ch);
		else
			out += static_cast<char>(ch);
	}
	out += cut ? "...'" : "'";
	return out;
}

std::string line_too_long(size_t length)
{
	return fmt::format("expected a line of at most {} bytes, found a line of {} bytes", kMaxLineLength, length);
}

} // namespace detail
} // namespace capmap
