// Hand-written number parsers for the kmap hot loop. Each takes a pointer to
// the first character of a field inside a buffer that ends with '\n' (so a
// scan always stops), and returns the position after the digits, or nullptr
// when there are no digits or the value does not fit in 64 bits.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
[[gnu::always_inline]] inline const char *parse_hex(const char *p, uint64_t &out)
{
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	const char *first = p;
	uint64_t value = 0;
	int digit;
	while ((digit = detail::kHexDigit[static_cast<unsigned char>(*p)]) >= 0) {
		value = (value << 4) | static_cast<uint64_t>(digit);
		++p;
	}
	if (p - first > 16) [[unlikely]] {
		// Only leading zeros may make a field longer than 16 digits.
		while (*first == '0' && p - first > 1)
			++first;
		if (p - first > 16)
			return nullptr;
	}
	if (p == first)
		return nullptr;
	out = value;
	return p;
}

namespace detail {

constexpr uint64_t kOnes = 0x0101010101010101ULL;
inline constexpr uint64_t kPowersOf10[8] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};
constexpr uint64_t kHighBits = 0x8080808080808080ULL;

// High bit set in each byte of x with lo < byte < hi (bytes >= 0x80 never
// match). Exact per byte: the 7-bit sums cannot carry into the next byte.
[[gnu::always_inline]] constexpr uint64_t bytes_between(uint64_t x, uint64_t lo, uint64_t hi)
{
	uint64_t low7 = x & (kOnes * 127);
	return (kOnes * (127 + hi) - low7) & ~x & (low7 + kOnes * (127 - lo)) & kHighBits;
}

// How many of the 8 characters in x (first character in the low byte) are
// hexadecimal digits before the first one that is not.
[[gnu::always_inline]] inline unsigned leading_hex_digits(uint64_t x)
{
	uint64_t hex = bytes_between(x, 0x2f, 0x3a) | bytes_between(x | (kOnes * 0x20), 0x60, 0x67);
	uint64_t other = ~hex & kHighBits;
	return other ? static_cast<unsigned>(__builtin_ctzll(other)) / 8 : 8;
}

// Value of 8 hexadecimal digits (first in the low byte); zero bytes count as
// leading '0' digits.
[[gnu::always_inline]] inline uint64_t hex8_value(uint64_t x)
{
	uint64_t letter = (x & (kOnes * 0x40)) >> 6;
	x = (x & (kOnes * 0x0f)) + letter * 9;
	x = ((x << 4) | (x >> 8)) & 0x00ff00ff00ff00ffULL;
	x = ((x << 8) | (x >> 16)) & 0x0000ffff0000ffffULL;
	return ((x << 16) | (x >> 32)) & 0xffffffffULL;
}

[[gnu::always_inline]] inline uint64_t load8(const char *p)
{
	uint64_t x;
	memcpy(&x, p, 8);
	return x;
}

#if defined(__SSE2__)
// 0xff in each byte of v from lo to hi (lo <= hi), else 0, in two steps:
// adding 0x80 - lo moves the range to the bottom of the signed bytes, where
// one compare finds it. Exact for all 256 byte values (the addition wraps).
[[gnu::always_inline]] inline __m128i bytes_in_range(__m128i v, char lo, char hi)
{
	const __m128i shifted = _mm_add_epi8(v, _mm_set1_epi8(static_cast<char>(0x80 - lo)));
	return _mm_cmpgt_epi8(_mm_set1_epi8(static_cast<char>(-128 + (hi - lo) + 1)), shifted);
}

// Value of the 16 hexadecimal digits at p, or false if the 16 bytes are not
// all digits. Kernel addresses have 16: in one step this is a fifth of the
// instructions of two 8-digit conversions.
[[gnu::always_inline]] inline bool hex16_value(const char *p, uint64_t &out)
{
	const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
	const __m128i digit = bytes_in_range(v, '0', '9');
	const __m128i letter = bytes_in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 'f');
	if (_mm_movemask_epi8(_mm_or_si128(digit, letter)) != 0xffff)
		return false;
	// Nibbles: '0'-'9' are 0x30-0x39, 'a'-'f' 0x61-0x66 and 'A'-'F' 0x41-0x46.
	const __m128i nibble = _mm_add_epi8(_mm_and_si128(v, _mm_set1_epi8(0x0f)), _mm_and_si128(letter, _mm_set1_epi8(9)));
	// Each 16-bit lane holds two digits, the first in its low byte.
	const __m128i pairs = _mm_and_si128(_mm_or_si128(_mm_slli_epi16(nibble, 4), _mm_srli_epi16(nibble, 8)),
					    _mm_set1_epi16(0x00ff));
	const uint64_t big_endian = static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_packus_epi16(pairs, pairs)));
	out = __builtin_bswap64(big_endian);
	return true;
}

// How many of the 16 bytes at p are decimal digits before the first one
// that is not (16: all of them).
[[gnu::always_inline]] inline unsigned leading_decimal_digits16(const char *p)
{
	const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
	const auto digits = static_cast<uint32_t>(_mm_movemask_epi8(bytes_in_range(bytes, '0', '9')));
	return static_cast<unsigned>(__builtin_ctz(~digits));
}

// dec8_value of two numbers at once, one per 64-bit lane, in vector steps
// of pairs, fours and eights: (value of x, value of y).
[[gnu::always_inline]] inline std::pair<uint64_t, uint64_t> dec8x2_value(uint64_t x, unsigned n, uint64_t y,
									unsigned m)
{
	// Each number's digits at the top of its lane, zero bytes before them.
	const uint64_t a = (x - kOnes * '0') << (8 * (8 - n));
	const uint64_t b = (y - kOnes * '0') << (8 * (8 - m));
	const __m128i d = _mm_set_epi64x(static_cast<long long>(b), static_cast<long long>(a));
	// 16-bit lanes: 10 * first digit + second.
	const __m128i pairs = _mm_add_epi16(_mm_mullo_epi16(_mm_and_si128(d, _mm_set1_epi16(0x00ff)), _mm_set1_epi16(10)),
					    _mm_srli_epi16(d, 8));
	// 32-bit lanes: four digits each; 64-bit lanes: eight.
	const __m128i fours = _mm_madd_epi16(pairs, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
	const __m128i eights = _mm_add_epi64(_mm_mul_epu32(fours, _mm_set1_epi32(10000)), _mm_srli_epi64(fours, 32));
	return {static_cast<uint64_t>(_mm_cvtsi128_si64(eights)),
		static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(eights, eights)))};
}
#endif

} // namespace detail

// parse_hex for the hot loop: reads 8 bytes at a time when at least 24 bytes
// at p are readable (limit), else falls back to parse_hex.
[[gnu::always_inline]] inline const char *parse_hex_wide(const char *p, const char *limit, uint64_t &out)
{
	if (limit - p < 24) [[unlikely]]
		return parse_hex(p, out);
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
#if defined(__SSE2__)
	if (detail::hex16_value(p, out) && detail::kHexDigit[static_cast<unsigned char>(p[16])] < 0)
		return p + 16;
#endif
	uint64_t x0 = detail::load8(p);
	unsigned n0 = detail::leading_hex_digits(x0);
	if (n0 < 8) {
		if (n0 == 0)
			return nullptr;
		out = detail::hex8_value(x0 << (8 * (8 - n0)));
		return p + n0;
	}
	uint64_t x1 = detail::load8(p + 8);
	unsigned n1 = detail::leading_hex_digits(x1);
	if (n1 == 8) [[unlikely]] {
		if (detail::kHexDigit[static_cast<unsigned char>(p[16])] >= 0)
			return parse_hex(p, out); // more than 16 digits: leading zeros or overflow
		out = (detail::hex8_value(x0) << 32) | detail::hex8_value(x1);
		return p + 16;
	}
	uint64_t high = detail::hex8_value(x0);
	out = n1 == 0 ? high : (high << (4 * n1)) | detail::hex8_value(x1 << (8 * (8 - n1)));
	return p + 8 + n1;
}

// Unsigned decimal.
[[gnu::always_inline]] inline const char *parse_dec(const char *p, uint64_t &out)
{
	const char *first = p;
	uint64_t value = 0;
	unsigned digit;
	// 19 digits always fit in 64 bits; only a 20th needs an overflow check.
	while ((digit = static_cast<unsigned>(static_cast<unsigned char>(*p) - '0')) < 10) {
		value = value * 10 + digit;
		++p;
	}
	if (p - first >= 20) [[unlikely]] {
		while (*first == '0' && p - first > 1)
			++first;
		if (p - first > 20)
			return nullptr;
		if (p - first == 20) {
			uint64_t head = 0;
			for (const char *q = first; q < p - 1; ++q)
				head = head * 10 + static_cast<unsigned>(*q - '0');
			if (__builtin_mul_overflow(head, 10u, &value) ||
			    __builtin_add_overflow(value, static_cast<unsigned>(p[-1] - '0'), &value))
				return nullptr;
		}
	}
	if (p == first)
		return nullptr;
	out = value;
	return p;
}

namespace detail {

// Value of the first n (1..8) decimal digits of x (first character in the
// low byte); the bytes after them may hold anything. A borrow from a later
// non-digit byte only runs upwards, into bytes that the shift drops.
[[gnu::always_inline]] inline uint64_t dec8_value(uint64_t x, unsigned n)
{
	uint64_t v = (x - kOnes * '0') << (8 * (8 - n));
	v = (v * 10) + (v >> 8);
	return (((v & 0x000000ff000000ffULL) * (100 + (1000000ULL << 32))) +
		(((v >> 16) & 0x000000ff000000ffULL) * (1 + (10000ULL << 32)))) >>
	       32;
}

// How many of the 8 characters in x (first in the low byte) are decimal
// digits before the first one that is not.
[[gnu::always_inline]] inline unsigned leading_decimal_digits(uint64_t x)
{
	uint64_t other = ~bytes_between(x, 0x2f, 0x3a) & kHighBits;
	return other ? static_cast<unsigned>(__builtin_ctzll(other)) / 8 : 8u;
}

// Value of n (1..16) hexadecimal digits at p, already known to be digits;
// reads 8 bytes at p and, for more than 8 digits, 8 at p + n - 8.
[[gnu::always_inline]] inline uint64_t hex_value(const char *p, unsigned n)
{
	if (n <= 8)
		return hex8_value(load8(p) << (8 * (8 - n)));
	unsigned high = n - 8;
	return (hex8_value(load8(p) << (8 * (8 - high))) << 32) | hex8_value(load8(p + high));
}

} // namespace detail

// parse_dec for the hot loop: numbers of up to 15 digits are converted from
// two 8-byte loads without a loop, so their varying length costs no branch
// mispredictions. Needs 16 readable bytes at p (limit); else parse_dec.
[[gnu::always_inline]] inline const char *parse_dec_wide(const char *p, const char *limit, uint64_t &out)
{
	if (limit - p < 16) [[unlikely]]
		return parse_dec(p, out);
	using detail::leading_decimal_digits;
	uint64_t x0 = detail::load8(p);
	unsigned n0 = leading_decimal_digits(x0);
	if (n0 < 8) [[likely]] {
		if (n0 == 0)
			return nullptr;
		out = detail::dec8_value(x0, n0);
		return p + n0;
	}
#if defined(__SSE2__)
	// Jiffies have 10 digits: the first 8 and the rest converted together.
	const unsigned n = detail::leading_decimal_digits16(p);
	if (n > 8 && n < 16) [[likely]] {
		const auto [high, low] = detail::dec8x2_value(x0, 8, detail::load8(p + 8), n - 8);
		out = high * detail::kPowersOf10[n - 8] + low;
		return p + n;
	}
#endif
	uint64_t x1 = detail::load8(p + 8);
	unsigned n1 = leading_decimal_digits(x1);
	if (n1 == 8) [[unlikely]]
		return parse_dec(p, out); // 16 digits or more: leading zeros or overflow
	uint64_t high = detail::dec8_value(x0, 8);
	out = n1 == 0 ? high : high * detail::kPowersOf10[n1] + detail::dec8_value(x1, n1);
	return p + 8 + n1;
}

} // namespace capmap
