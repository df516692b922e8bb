// Hand-written number parsers for the kmap hot loop. Each takes a pointer to
// the first character of a field inside a buffer that ends with '\n' (so a
// scan always stops), and returns the position after the digits, or nullptr
// when there are no digits or the value does not fit in 64 bits.
#pragma once

#include <array>
#include <cstdint>

namespace capmap {

namespace detail {
constexpr std::array<int8_t, 256> make_hex_table()
{
	std::array<int8_t, 256> table{};
	for (auto &v : table)
		v = -1;
	for (int c = '0'; c <= '9'; ++c)
		table[c] = static_cast<int8_t>(c - '0');
	for (int c = 'a'; c <= 'f'; ++c)
		table[c] = static_cast<int8_t>(c - 'a' + 10);
	for (int c = 'A'; c <= 'F'; ++c)
		table[c] = static_cast<int8_t>(c - 'A' + 10);
	return table;
}
inline constexpr std::array<int8_t, 256> kHexDigit = make_hex_table();
} // namespace detail

// Hexadecimal, optional 0x prefix, leading zeros allowed.
inline const char *parse_hex(const char *p, uint64_t &out)
{
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	const char *first = p;
	while (*p == '0')
		++p;
	const char *significant = p;
	uint64_t value = 0;
	int digit;
	while ((digit = detail::kHexDigit[static_cast<unsigned char>(*p)]) >= 0) {
		value = (value << 4) | static_cast<uint64_t>(digit);
		++p;
	}
	if (p == first || p - significant > 16)
		return nullptr;
	out = value;
	return p;
}

// Unsigned decimal.
inline const char *parse_dec(const char *p, uint64_t &out)
{
	const char *first = p;
	uint64_t value = 0;
	unsigned digit;
	while ((digit = static_cast<unsigned>(static_cast<unsigned char>(*p) - '0')) < 10) {
		if (__builtin_mul_overflow(value, 10u, &value) || __builtin_add_overflow(value, digit, &value))
			return nullptr;
		++p;
	}
	if (p == first)
		return nullptr;
	out = value;
	return p;
}

} // namespace capmap
