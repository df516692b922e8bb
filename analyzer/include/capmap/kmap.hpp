// The kmap line parser.
//
// A kmap is text: optional '#' header lines, then object lines (not
// indented), each followed by the access lines (indented) of that object.
// parse_piece() parses a run of complete lines and calls a visitor:
//
//   void on_object(const ObjectRecord &);   // an object line
//   void on_access(const AccessRecord &);   // an access line of that object
//   void on_object_end();                   // no more access lines follow
//
// String fields of ObjectRecord point into the input and are valid only
// during the call. The visitor may throw DataError (e.g. a sum overflows);
// that stops the parse with an error at the current line even in lenient mode.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "capmap/errors.hpp"
#include "capmap/numbers.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace capmap {

enum class Layout {
	Auto,     // detect from the input
	V1,       // this project: 10 object fields, access ip,pid,writes,reads
	Legacy10, // original Memorizer: 10 object fields, access ip,writes,reads
	Legacy11, // original Memorizer: 11 object fields, access ip,writes,reads,pid
};

std::string_view layout_name(Layout layout);
std::optional<Layout> layout_from_name(std::string_view name);

// Decides the layout from the first lines of a kmap (complete lines). An
// input without object or access lines is V1 (all layouts read it the same).
// Throws DataError if the lines fit no layout.
Layout detect_layout(std::string_view head, const std::string &file_name);

// Each worker thread feeds a visitor of its own, and the visitors sit side
// by side in a vector: a visitor class is declared alignas(kVisitorAlignment)
// so that no two workers write to one cache line (or to the adjacent line
// that the prefetcher pairs with it). Without it, two workers of `capmap
// summary` used 7.5 CPU-seconds on a 5 GB kmap where one used 4.8.
inline constexpr size_t kVisitorAlignment = 128;

inline constexpr uint32_t kUnknownPid = 0xffffffffu;
inline constexpr uint64_t kMaxPid = 0x7fffffffu;
// Longer lines are malformed; this bounds memory when reading a stream.
inline constexpr size_t kMaxLineLength = 64 * 1024;

// The numeric fields of an object line; the analyses copy them as a whole.
struct ObjectFields {
	uint64_t alloc_ip = 0;
	uint64_t va = 0;
	uint64_t size = 0;
	uint64_t alloc_jiffies = 0;
	uint64_t free_jiffies = 0; // 0: still live when the kmap was written
	uint64_t free_ip = 0;
	uint32_t alloc_pid = 0;
	bool live() const { return free_jiffies == 0; }
};

struct ObjectRecord : ObjectFields {
	std::string_view allocator;
	std::string_view comm;
	std::string_view slab_cache; // "-" when the object is not from a slab cache
	std::string_view kind;       // Legacy11 only
};

struct AccessRecord {
	uint64_t ip = 0;
	uint64_t writes = 0;
	uint64_t reads = 0;
	uint32_t pid = kUnknownPid; // Legacy10 has no accessor pid
};

// Accesses to memory the kernel did not track are reported inside
// pseudo-objects; these allocator names mark them (the original Memorizer's
// MEM_UFO_* kinds, and UNTRACKED/UNKNOWN).
bool is_untracked_allocator(std::string_view allocator);

struct PieceResult {
	uint64_t lines = 0;          // complete lines consumed
	uint64_t skipped = 0;        // lenient: malformed lines skipped
	uint64_t orphaned = 0;       // lenient: access lines of a skipped object line
	bool object_open = false;    // the last object may continue in the next piece
	bool skipping_object = false; // lenient: ...and its object line was skipped (its access lines are orphans)
	bool failed = false;         // stopped at error_line
	bool stopped = false;        // gave up because an earlier piece failed
	uint64_t error_line = 0;     // 1-based within the piece
	std::string error;           // "expected ..., found '...'"
	uint64_t first_skip_line = 0; // lenient: first skipped line, 1-based within the piece
	std::string first_skip;
};

namespace detail {

// Quotes the text at a failure point for the "found '...'" part.
std::string describe_found(const char *at, const char *line_end);
std::string line_too_long(size_t length);

struct Cursor {
	const char *p;
	const char *limit; // end of readable memory (for 8-byte loads)
	const char *fail_at = nullptr;
	const char *fail_what = nullptr;

	bool fail(const char *what)
	{
		fail_at = p;
		fail_what = what;
		return false;
	}
	[[gnu::always_inline]] bool hex(uint64_t &value, const char *what)
	{
		const char *q = parse_hex_wide(p, limit, value);
		if (!q)
			return fail(what);
		p = q;
		return true;
	}
	[[gnu::always_inline]] bool dec(uint64_t &value, const char *what)
	{
		const char *q = parse_dec_wide(p, limit, value);
		if (!q)
			return fail(what);
		p = q;
		return true;
	}
	[[gnu::always_inline]] bool pid(uint32_t &value, const char *what)
	{
		uint64_t v;
		const char *q = parse_dec_wide(p, limit, v);
		if (!q || v > kMaxPid)
			return fail(what);
		value = static_cast<uint32_t>(v);
		p = q;
		return true;
	}
	[[gnu::always_inline]] bool comma(const char *what)
	{
		if (*p != ',')
			return fail(what);
		++p;
		return true;
	}
	[[gnu::always_inline]] bool end_of_line(const char *what)
	{
		if (*p == '\r')
			++p;
		if (*p != '\n')
			return fail(what);
		return true;
	}
};

// Parses an access line after its indentation; on success c.p is at '\n'.
template <Layout L>
[[gnu::always_inline]] inline bool parse_access(Cursor &c, AccessRecord &a)
{
	if constexpr (L == Layout::V1) {
		return c.hex(a.ip, "access_ip (hexadecimal)") && c.comma("',' after access_ip") &&
		       c.pid(a.pid, "access_pid (decimal, at most 2147483647)") && c.comma("',' after access_pid") &&
		       c.dec(a.writes, "writes (decimal, at most 2^64-1)") && c.comma("',' after writes") &&
		       c.dec(a.reads, "reads (decimal, at most 2^64-1)") &&
		       c.end_of_line("end of line after reads (access lines of this layout have 4 fields)");
	} else if constexpr (L == Layout::Legacy10) {
		return c.hex(a.ip, "access_ip (hexadecimal)") && c.comma("',' after access_ip") &&
		       c.dec(a.writes, "writes (decimal, at most 2^64-1)") && c.comma("',' after writes") &&
		       c.dec(a.reads, "reads (decimal, at most 2^64-1)") &&
		       c.end_of_line("end of line after reads (access lines of this layout have 3 fields)");
	} else {
		return c.hex(a.ip, "access_ip (hexadecimal)") && c.comma("',' after access_ip") &&
		       c.dec(a.writes, "writes (decimal, at most 2^64-1)") && c.comma("',' after writes") &&
		       c.dec(a.reads, "reads (decimal, at most 2^64-1)") && c.comma("',' after reads") &&
		       c.pid(a.pid, "access_pid (decimal, at most 2147483647)") &&
		       c.end_of_line("end of line after access_pid (access lines of this layout have 4 fields)");
	}
}

// Bytes that the fast path reads from the start of an access line: the 64
// it classifies and an 8-byte load at the start of the last field of a
// line that ends within them.
inline constexpr ptrdiff_t kFastAccessReach = 72;

#if defined(__SSE2__)
inline constexpr bool kHaveFastAccessParser = true;

// Bit i of each mask says what byte i of the 64 bytes at p is.
struct ByteClasses {
	uint64_t comma = 0;
	uint64_t newline = 0;
	uint64_t digit = 0; // 0-9
	uint64_t hex = 0;   // 0-9, a-f, A-F

	// The classes of the bytes from n (below 64) on: bit 0 is byte n.
	// Bytes past the 64 classified have no class.
	ByteClasses from(unsigned n) const { return {comma >> n, newline >> n, digit >> n, hex >> n}; }
};

// Classifies the 16 bytes at `at` into bits shift..shift+15.
[[gnu::always_inline]] inline void classify16(const char *at, unsigned shift, ByteClasses &out)
{
	const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(at));
	const __m128i digit = bytes_in_range(v, '0', '9');
	const __m128i letter = bytes_in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 'f');
	auto bits = [](__m128i m) __attribute__((always_inline)) {
		return static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(m)));
	};
	out.comma |= bits(_mm_cmpeq_epi8(v, _mm_set1_epi8(','))) << shift;
	out.newline |= bits(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))) << shift;
	out.digit |= bits(digit) << shift;
	out.hex |= bits(_mm_or_si128(digit, letter)) << shift;
}

// 64 bytes: the longest access line of the fast path (two spaces, 16 hex
// digits and three fields of 8 digits) has 46, and the common ones, of
// about 28, come two to a window (see parse_lines). With 32 bytes, one
// access line in ten of a generated kmap (a 5-digit pid and counts in the
// thousands) took the field-by-field path.
[[gnu::always_inline]] inline ByteClasses classify64(const char *p)
{
	ByteClasses classes;
	classify16(p, 0, classes);
	classify16(p + 16, 16, classes);
	classify16(p + 32, 32, classes);
	classify16(p + 48, 48, classes);
	return classes;
}

// The common access line in one step, without a branch per field: two
// spaces, then up to the '\n' a hexadecimal ip of 1-16 digits and the
// decimal fields of the layout with 1-8 digits each, all among the bytes
// that `classes` describes (bit 0 is p[0]). Returns false on anything else
// (0x prefixes, tabs, long numbers, '\r', a line longer than the classified
// bytes, errors); parse_access() then takes the line field by field. p[0]
// is ' '; besides the classified bytes, it reads p[1] and 8 bytes from the
// start of each decimal field. Without WithIp, the ip is checked but not
// converted (a.ip stays 0).
template <Layout L, bool WithIp = true>
[[gnu::always_inline]] inline bool parse_access_fast(const char *p, const ByteClasses &classes, AccessRecord &a,
						     const char *&eol)
{
	if (classes.newline == 0 || p[1] != ' ')
		return false;
	const unsigned newline = static_cast<unsigned>(__builtin_ctzll(classes.newline));
	const uint64_t line = (uint64_t{1} << newline) - 1;
	// The field ends: the commas, then the newline. Bits 60-63 stand for
	// ends past the line, so that the (at most 4) ctz below never see 0.
	uint64_t ends = (classes.comma & line) | (uint64_t{1} << newline) | (uint64_t{0xf} << 60);
	auto next_end = [&ends]() __attribute__((always_inline)) {
		auto at = static_cast<unsigned>(__builtin_ctzll(ends));
		ends &= ends - 1;
		return at;
	};
	const unsigned ip_end = next_end();
	const unsigned end1 = next_end();
	const unsigned end2 = next_end();
	const unsigned end3 = L == Layout::Legacy10 ? end2 : next_end();
	// Exactly the layout's commas: the newline must be the last end taken.
	const bool fields_ok = (L == Layout::Legacy10 ? end2 : end3) == newline && ip_end - 3 < 16 &&
			       (end1 - ip_end - 2) < 8 && (end2 - end1 - 2) < 8 &&
			       (L == Layout::Legacy10 || (end3 - end2 - 2) < 8);
	const uint64_t ip_bits = ((uint64_t{1} << ip_end) - 1) & ~uint64_t{3};
	const uint64_t decimal_bits = line & ~((uint64_t{2} << ip_end) - 1);
	const uint64_t commas = classes.comma & line;
	if (!fields_ok || (classes.hex & ip_bits) != ip_bits || ((classes.digit | commas) & decimal_bits) != decimal_bits)
		return false;
	if constexpr (WithIp)
		a.ip = hex_value(p + 2, ip_end - 2);
	const uint64_t first = dec8_value(load8(p + ip_end + 1), end1 - ip_end - 1);
	const uint64_t second = dec8_value(load8(p + end1 + 1), end2 - end1 - 1);
	if constexpr (L == Layout::V1) {
		a.pid = static_cast<uint32_t>(first); // at most 8 digits: always <= kMaxPid
		a.writes = second;
		a.reads = dec8_value(load8(p + end2 + 1), end3 - end2 - 1);
	} else if constexpr (L == Layout::Legacy10) {
		a.writes = first;
		a.reads = second;
	} else {
		a.writes = first;
		a.reads = second;
		a.pid = static_cast<uint32_t>(dec8_value(load8(p + end2 + 1), end3 - end2 - 1));
	}
	eol = p + newline;
	return true;
}
#else
inline constexpr bool kHaveFastAccessParser = false;
struct ByteClasses {
	ByteClasses from(unsigned) const { return {}; }
};
inline ByteClasses classify64(const char *) { return {}; }
template <Layout L, bool WithIp = true>
inline bool parse_access_fast(const char *, const ByteClasses &, AccessRecord &, const char *&)
{
	return false;
}
#endif

// Text fields must be printable; this rejects binary garbage early.
inline bool printable(std::string_view text)
{
	for (unsigned char ch : text)
		if (ch < 0x20 || ch == 0x7f)
			return false;
	return true;
}

inline bool identifier(std::string_view text)
{
	if (text.empty())
		return false;
	for (unsigned char ch : text)
		if (!(ch == '_' || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
			return false;
	return true;
}

template <Layout L>
[[gnu::always_inline]] inline bool parse_object_numbers(Cursor &c, ObjectRecord &o)
{
	return c.hex(o.alloc_ip, "alloc_ip (hexadecimal)") && c.comma("',' after alloc_ip") &&
	       c.pid(o.alloc_pid, "alloc_pid (decimal, at most 2147483647)") && c.comma("',' after alloc_pid") &&
	       c.hex(o.va, "va (hexadecimal)") && c.comma("',' after va") &&
	       c.dec(o.size, "size (decimal, at most 2^64-1)") && c.comma("',' after size") &&
	       c.dec(o.alloc_jiffies, "alloc_jiffies (decimal)") && c.comma("',' after alloc_jiffies") &&
	       c.dec(o.free_jiffies, "free_jiffies (decimal)") && c.comma("',' after free_jiffies") &&
	       c.hex(o.free_ip, "free_ip (hexadecimal)") && c.comma("',' after free_ip");
}

inline constexpr std::array<bool, 256> kIdentifierChar = [] {
	std::array<bool, 256> table{};
	for (int ch = 0; ch < 256; ++ch)
		table[ch] = ch == '_' || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
	return table;
}();

// The common case in one pass over the line, finding its end on the way.
// Returns false on anything unusual; parse_object_slow() then explains.
template <Layout L>
[[gnu::always_inline]] inline bool parse_object_fast(Cursor &c, ObjectRecord &o, const char *&eol)
{
	if (!parse_object_numbers<L>(c, o))
		return false;
	const char *q = c.p;
#if defined(__SSE2__)
	// The allocator (at most 15 characters here) and its comma in one step.
	if (c.limit - q >= 16) [[likely]] {
		const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(q));
		const __m128i word = _mm_or_si128(
			_mm_or_si128(bytes_in_range(v, '0', '9'), bytes_in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 'z')),
			_mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
		const auto not_word = static_cast<uint32_t>(~_mm_movemask_epi8(word));
		// The first character that is no letter, digit or '_' ends it.
		q += __builtin_ctz(not_word | 0x10000u);
	}
#endif
	while (kIdentifierChar[static_cast<unsigned char>(*q)])
		++q;
	if (*q != ',' || q == c.p)
		return false;
	o.allocator = std::string_view(c.p, static_cast<size_t>(q - c.p));
	const char *rest = ++q;
	const char *last = nullptr, *previous = nullptr;
	bool control = false;
	// The text fields run from `rest` to `end`, cut at the last comma (and,
	// for Legacy11, the one before it); none may be empty.
	auto cut_text_fields = [&](const char *end) __attribute__((always_inline)) {
		if (!last || last + 1 == end)
			return false;
		if constexpr (L == Layout::Legacy11) {
			if (!previous || previous + 1 == last)
				return false;
			o.kind = std::string_view(last + 1, static_cast<size_t>(end - last - 1));
			o.slab_cache = std::string_view(previous + 1, static_cast<size_t>(last - previous - 1));
			o.comm = std::string_view(rest, static_cast<size_t>(previous - rest));
		} else {
			o.slab_cache = std::string_view(last + 1, static_cast<size_t>(end - last - 1));
			o.comm = std::string_view(rest, static_cast<size_t>(last - rest));
		}
		return true;
	};
#if defined(__SSE2__)
	// 16 bytes a step: the last two commas before the '\n', and no control
	// characters (a '\r' too: CRLF lines take the slow path).
	for (; c.limit - q >= 16; q += 16) {
		const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(q));
		auto bits = [](__m128i m) __attribute__((always_inline)) { return static_cast<uint32_t>(_mm_movemask_epi8(m)); };
		uint32_t newline = bits(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')));
		uint32_t commas = bits(_mm_cmpeq_epi8(v, _mm_set1_epi8(',')));
		uint32_t controls = bits(_mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v),
						      _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f))));
		uint32_t before = newline ? (newline & -newline) - 1 : 0xffff;
		if ((controls & before & ~newline) != 0)
			return false;
		commas &= before;
		if (commas) {
			unsigned top = 31 - static_cast<unsigned>(__builtin_clz(commas));
			commas &= ~(1u << top);
			previous = commas ? q + 31 - __builtin_clz(commas) : last;
			last = q + top;
		}
		if (newline) {
			eol = q + __builtin_ctz(newline);
			return cut_text_fields(eol);
		}
	}
#endif
	for (;; ++q) {
		unsigned char ch = static_cast<unsigned char>(*q);
		if (ch == '\n')
			break;
		if (ch == ',') {
			previous = last;
			last = q;
		}
		control |= (ch < 0x20 && !(ch == '\r' && q[1] == '\n')) || ch == 0x7f;
	}
	eol = q;
	const char *content_end = (q > rest && q[-1] == '\r') ? q - 1 : q;
	return !control && cut_text_fields(content_end);
}

// Parses an object line [c.p, eol) (eol points at '\n' or at a '\r' before
// it) field by field, saying exactly what is wrong.
template <Layout L>
inline bool parse_object_slow(Cursor &c, const char *eol, ObjectRecord &o)
{
	if (!parse_object_numbers<L>(c, o))
		return false;
	const char *comma = static_cast<const char *>(memchr(c.p, ',', static_cast<size_t>(eol - c.p)));
	if (!comma)
		return c.fail("allocator name followed by ',' and comm");
	o.allocator = std::string_view(c.p, static_cast<size_t>(comma - c.p));
	if (!identifier(o.allocator))
		return c.fail("allocator name (letters, digits, '_')");
	c.p = comma + 1;
	// comm may contain commas: take the trailing fixed fields from the right.
	const char *rest_end = eol;
	auto take_last = [&](std::string_view &field, const char *what) {
		const char *last = static_cast<const char *>(memrchr(c.p, ',', static_cast<size_t>(rest_end - c.p)));
		if (!last)
			return c.fail(what);
		field = std::string_view(last + 1, static_cast<size_t>(rest_end - last - 1));
		if (field.empty() || !printable(field)) {
			c.p = last + 1;
			return c.fail(what);
		}
		rest_end = last;
		return true;
	};
	if constexpr (L == Layout::Legacy11) {
		if (!take_last(o.kind, "',' and allocation kind as the 11th field"))
			return false;
	}
	if (!take_last(o.slab_cache, "',' and slab_cache name (or '-') after comm"))
		return false;
	o.comm = std::string_view(c.p, static_cast<size_t>(rest_end - c.p));
	if (!printable(o.comm))
		return c.fail("comm (printable text)");
	return true;
}

template <Layout L, bool WithIp, class Visitor>
PieceResult parse_lines(std::string_view text, bool lenient, bool object_open, bool close_at_end,
			Visitor &visitor, const std::atomic<bool> *stop, bool skipping_object)
{
	PieceResult r;
	uint64_t lines = 0; // r.lines, in a register
	const char *p = text.data();
	const char *const end = p + text.size();
	// skipping_object (lenient): the current object line was bad
	auto record_error = [&](const char *line_start, std::string message) {
		if (!lenient) {
			r.failed = true;
			r.error_line = lines;
			r.error = std::move(message);
			return false;
		}
		if (r.skipped == 0 && r.orphaned == 0) {
			r.first_skip_line = lines;
			r.first_skip = std::move(message);
		}
		++r.skipped;
		(void)line_start;
		return true;
	};
	try {
		while (p < end) {
			++lines;
			// <= 1: the pair of access lines below adds one more line.
			if ((lines & 0xffff) <= 1 && stop && stop->load(std::memory_order_relaxed)) {
				r.stopped = true;
				break;
			}
			const char first = *p;
			// Most lines: access lines of an open object, in one step, and
			// two at a time if the next line ends within the same 64
			// classified bytes: the start of each line waits for the
			// classification of its bytes, so a pair halves that wait.
			if (kHaveFastAccessParser && first == ' ' && object_open && end - p >= kFastAccessReach) [[likely]] {
				AccessRecord a;
				const char *eol;
				const ByteClasses classes = classify64(p);
				if (parse_access_fast<L, WithIp>(p, classes, a, eol)) [[likely]] {
					visitor.on_access(a);
					const char *second = eol + 1; // at most p + 47
					const auto offset = static_cast<unsigned>(second - p);
					p = second;
					if (*second == ' ' && parse_access_fast<L, WithIp>(second, classes.from(offset), a, eol)) {
						++lines;
						visitor.on_access(a);
						p = eol + 1;
					}
					continue;
				}
			}
			if (first == ' ' || first == '\t') {
				AccessRecord a;
				Cursor c{p, end};
				while (*c.p == ' ' || *c.p == '\t')
					++c.p;
				if (!parse_access<L>(c, a)) [[unlikely]] {
					const char *eol = static_cast<const char *>(memchr(p, '\n', static_cast<size_t>(end - p)));
					size_t length = static_cast<size_t>(eol - p);
					std::string message = length > kMaxLineLength ? line_too_long(length)
										      : std::string("expected ") + c.fail_what +
												", found " + describe_found(c.fail_at, eol);
					if (!record_error(p, std::move(message)))
						break;
					p = eol + 1;
					continue;
				}
				p = c.p + 1;
				if (object_open) [[likely]] {
					visitor.on_access(a);
				} else if (skipping_object) {
					++r.orphaned;
				} else {
					if (!record_error(p, "expected an object line before the first access line, found an "
							     "indented access line"))
						break;
				}
				continue;
			}
			if (first == '#' || first == '\n' || first == '\r') {
				const char *eol = static_cast<const char *>(memchr(p, '\n', static_cast<size_t>(end - p)));
				if (first != '\r' || eol == p + 1) {
					p = eol + 1; // header, comment or blank line
					continue;
				}
			}
			if (object_open) {
				visitor.on_object_end();
				object_open = false;
			}
			skipping_object = false;
			ObjectRecord o;
			const char *eol = nullptr;
			Cursor fast{p, end};
			if (parse_object_fast<L>(fast, o, eol) && static_cast<size_t>(eol - p) <= kMaxLineLength) [[likely]] {
				visitor.on_object(o);
				object_open = true;
				p = eol + 1;
				continue;
			}
			eol = static_cast<const char *>(memchr(p, '\n', static_cast<size_t>(end - p)));
			size_t length = static_cast<size_t>(eol - p);
			if (length > kMaxLineLength) [[unlikely]] {
				if (!record_error(p, line_too_long(length)))
					break;
				skipping_object = true;
				p = eol + 1;
				continue;
			}
			const char *content_end = (length > 0 && eol[-1] == '\r') ? eol - 1 : eol;
			Cursor c{p, end};
			o = ObjectRecord{};
			if (!parse_object_slow<L>(c, content_end, o)) {
				if (!record_error(p, std::string("expected ") + c.fail_what + ", found " +
							     describe_found(c.fail_at, eol)))
					break;
				skipping_object = true;
				p = eol + 1;
				continue;
			}
			visitor.on_object(o);
			object_open = true;
			p = eol + 1;
		}
		if (object_open && close_at_end && !r.failed && !r.stopped) {
			visitor.on_object_end();
			object_open = false;
		}
	} catch (const DataError &e) {
		r.failed = true;
		r.error_line = lines;
		r.error = e.what();
	}
	r.lines = lines;
	r.object_open = object_open;
	r.skipping_object = skipping_object;
	return r;
}

template <bool WithIp, class Visitor>
PieceResult parse_piece_as(std::string_view text, Layout layout, bool lenient, bool object_open, bool close_at_end,
			   Visitor &visitor, const std::atomic<bool> *stop, bool skipping_object)
{
	switch (layout) {
	case Layout::Legacy10:
		return parse_lines<Layout::Legacy10, WithIp>(text, lenient, object_open, close_at_end, visitor, stop,
							     skipping_object);
	case Layout::Legacy11:
		return parse_lines<Layout::Legacy11, WithIp>(text, lenient, object_open, close_at_end, visitor, stop,
							     skipping_object);
	case Layout::V1:
	case Layout::Auto:
		break;
	}
	return parse_lines<Layout::V1, WithIp>(text, lenient, object_open, close_at_end, visitor, stop, skipping_object);
}

} // namespace detail

// Parses complete lines (text is empty or ends with '\n'). object_open says
// the first access lines continue an object of the previous piece;
// close_at_end says the last object ends with this piece. skipping_object
// (lenient) says that object's line was skipped: the previous piece's
// PieceResult::skipping_object, so that a run of lines cut anywhere parses
// as if it were one piece.
//
// A visitor that has `bool wants_access_ip() const` may say it does not use
// AccessRecord::ip: the parser then checks the ip's digits but leaves out
// their conversion, which took 8% of the time of `capmap summary`.
template <class Visitor>
PieceResult parse_piece(std::string_view text, Layout layout, bool lenient, bool object_open, bool close_at_end,
			Visitor &visitor, const std::atomic<bool> *stop = nullptr, bool skipping_object = false)
{
	if constexpr (requires { visitor.wants_access_ip(); }) {
		if (!visitor.wants_access_ip())
			return detail::parse_piece_as<false>(text, layout, lenient, object_open, close_at_end, visitor,
							     stop, skipping_object);
	}
	return detail::parse_piece_as<true>(text, layout, lenient, object_open, close_at_end, visitor, stop,
					     skipping_object);
}

} // namespace capmap
