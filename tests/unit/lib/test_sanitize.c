/* test_sanitize.c: unit tests for lib/sanitize.c.
 * Exact output for printable text, controls, 8-bit bytes, quotes and backslash, NUL bytes,
 * and the SANITIZE_MAX cap with "..." (never writing past SANITIZE_MAX + 4 bytes). */
#include <fcntl.h>

#include "unit.h"

#include "lib/sanitize.h"

static const struct {
	const char *name;
	const char *in;
	size_t len;
	const char *want;
} cases_exact[] = {
	{ "empty", "", 0, "" },
	{ "printable", "HELO mx.example.com", 19, "HELO mx.example.com" },
	{ "all_punct", "<a@b> ~!{}'", 11, "<a@b> ~!{}'" },
	{ "crlf", "QUIT\r\n", 6, "QUIT\\x0d\\x0a" },
	{ "tab", "a\tb", 3, "a\\x09b" },
	{ "nul", "a\0b", 3, "a\\x00b" },
	{ "escape_seq", "\x1b[31mred", 8, "\\x1b[31mred" },
	{ "del", "\x7f", 1, "\\x7f" },
	{ "eight_bit", "caf\xc3\xa9", 5, "caf\\xc3\\xa9" },
	{ "high_byte", "\xff", 1, "\\xff" },
	{ "double_quote", "say \"hi\"", 8, "say \\x22hi\\x22" },
	{ "backslash", "a\\b", 3, "a\\x5cb" },
	{ "space_kept", " ", 1, " " },
	{ "len_stops_early", "abcdef", 3, "abc" },
	{ "fake_escape", "\\x41", 4, "\\x5cx41" },
};

static void
test_exact(void)
{
	for (size_t i = 0; i < sizeof(cases_exact) / sizeof(cases_exact[0]); i++) {
		char dst[SANITIZE_MAX + 4];
		char *r = sanitize(dst, cases_exact[i].in, cases_exact[i].len);

		CHECK(r == dst, "%s: did not return dst", cases_exact[i].name);
		CHECK(strcmp(dst, cases_exact[i].want) == 0, "%s: got \"%s\", want \"%s\"",
		    cases_exact[i].name, dst, cases_exact[i].want);
	}
}

/* Builds n copies of c followed by tail; returns the total length. */
static size_t
fill(char *p, char c, size_t n, const char *tail)
{
	size_t t = strlen(tail);

	memset(p, c, n);
	memcpy(p + n, tail, t);
	return n + t;
}

static const struct {
	const char *name;
	size_t n_plain;	       /* printable 'a' bytes first */
	const char *tail;      /* then these bytes */
	size_t want_kept;      /* output: this many 'a' ... */
	const char *want_tail; /* ... followed by this */
} cap_cases[] = {
	{ "just_under", SANITIZE_MAX - 1, "", SANITIZE_MAX - 1, "" },
	{ "exactly_max", SANITIZE_MAX, "", SANITIZE_MAX, "" },
	{ "one_over", SANITIZE_MAX + 1, "", SANITIZE_MAX, "..." },
	{ "far_over", 4 * SANITIZE_MAX, "", SANITIZE_MAX, "..." },
	/* An escape that fits exactly. */
	{ "escape_fits", SANITIZE_MAX - 4, "\n", SANITIZE_MAX - 4, "\\x0a" },
	/* An escape one byte too long is not split: cut before it. */
	{ "escape_cut", SANITIZE_MAX - 3, "\n", SANITIZE_MAX - 3, "..." },
	{ "escape_cut_at_max", SANITIZE_MAX, "\n", SANITIZE_MAX, "..." },
	{ "escape_then_more", SANITIZE_MAX - 4, "\nb", SANITIZE_MAX - 4, "\\x0a..." },
};

static void
test_cap(void)
{
	for (size_t i = 0; i < sizeof(cap_cases) / sizeof(cap_cases[0]); i++) {
		char in[8 * SANITIZE_MAX];
		char want[SANITIZE_MAX + 16];
		/* Guard bytes after the documented SANITIZE_MAX + 4. */
		char dst[SANITIZE_MAX + 4 + 16];
		size_t len = fill(in, 'a', cap_cases[i].n_plain, cap_cases[i].tail);
		size_t wlen = fill(want, 'a', cap_cases[i].want_kept, cap_cases[i].want_tail);

		want[wlen] = '\0';
		memset(dst, 'G', sizeof(dst));
		sanitize(dst, in, len);
		CHECK(strcmp(dst, want) == 0,
		    "%s: got %zu bytes ending \"%s\", want %zu ending \"%s\"", cap_cases[i].name,
		    strlen(dst), dst + (strlen(dst) > 8 ? strlen(dst) - 8 : 0), wlen,
		    want + (wlen > 8 ? wlen - 8 : 0));
		CHECK(strlen(dst) <= SANITIZE_MAX + 3, "%s: output %zu > SANITIZE_MAX + 3",
		    cap_cases[i].name, strlen(dst));
		for (size_t j = SANITIZE_MAX + 4; j < sizeof(dst); j++)
			if (dst[j] != 'G') {
				CHECK(0, "%s: wrote past SANITIZE_MAX + 4 at %zu",
				    cap_cases[i].name, j);
				break;
			}
	}
}

/* Worst case: every byte needs an escape; output still capped. */
static void
test_cap_all_escaped(void)
{
	char in[1000];
	char dst[SANITIZE_MAX + 4 + 16];
	size_t o;

	memset(in, '\x01', sizeof(in));
	memset(dst, 'G', sizeof(dst));
	sanitize(dst, in, sizeof(in));
	o = strlen(dst);
	CHECK_INT(o, SANITIZE_MAX / 4 * 4 + 3);
	CHECK_STR(dst + o - 7, "\\x01...");
	CHECK(dst[sizeof(dst) - 1] == 'G', "wrote past the documented size");
}

/* Every byte value maps to either itself or a 4-byte escape. */
static void
test_every_byte(void)
{
	for (int c = 0; c < 256; c++) {
		char in[1] = { (char)c };
		char dst[SANITIZE_MAX + 4];
		int plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
		char want[8];

		if (plain) {
			want[0] = (char)c;
			want[1] = '\0';
		} else {
			snprintf(want, sizeof(want), "\\x%02x", c);
		}
		sanitize(dst, in, 1);
		CHECK(strcmp(dst, want) == 0, "byte 0x%02x: got \"%s\", want \"%s\"", c, dst, want);
	}
}

static const struct unit_case cases[] = {
	{ "exact", test_exact },
	{ "cap", test_cap },
	{ "cap_all_escaped", test_cap_all_escaped },
	{ "every_byte", test_every_byte },
};

UNIT_MAIN(cases)
