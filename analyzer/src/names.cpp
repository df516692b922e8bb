#include "capmap/names.hpp"

#include "capmap/errors.hpp"

namespace capmap {

uint64_t NameTable::intern(std::string_view text)
{
	uint64_t key = hash_name(text);
	std::string &stored = names_[key];
	if (stored.empty() && !text.empty())
		stored.assign(text);
	else if (stored != text)
		throw DataError("names '" + stored + "' and '" + std::string(text) + "' have the same 64-bit hash");
	return key;
}

std::string_view NameTable::lookup(uint64_t key) const
{
	const std::string *text = names_.find(key);
	return text ? std::string_view(*text) : std::string_view("?");
}

void NameTable::merge(const NameTable &other)
{
	other.names_.for_each([&](uint64_t, const std::string &text) { intern(text); });
}

} // namespace capmap
