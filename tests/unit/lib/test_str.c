/* test_str.c: unit tests for lib/str.c.
 * str_lcpy truncation and its strlcpy return value, str_fmt reporting truncation as -1,
 * ASCII-only str_lower, str_ct_equal, and str_split with its field limit. */
#include <fcntl.h>

#include "unit.h"

#include "lib/str.h"

static const struct {
	const char *name;
	const char *src;
	size_t dstsize;
	const char *want;
	size_t want_ret;
} lcpy_cases[] = {
	{ "fits", "abc", 8, "abc", 3 },
	{ "exact_fit", "abc", 4, "abc", 3 },
	{ "truncated_by_one", "abcd", 4, "abc", 4 },
	{ "truncated_much", "abcdefghij", 3, "ab", 10 },
	{ "size_one", "abc", 1, "", 3 },
	{ "empty_src", "", 5, "", 0 },
	{ "empty_src_size_one", "", 1, "", 0 },
};

static void
test_lcpy(void)
{
	for (size_t i = 0; i < sizeof(lcpy_cases) / sizeof(lcpy_cases[0]); i++) {
		char dst[16];
		size_t r;

		memset(dst, 'X', sizeof(dst));
		r = str_lcpy(dst, lcpy_cases[i].src, lcpy_cases[i].dstsize);
		CHECK(r == lcpy_cases[i].want_ret, "%s: return got %zu, want %zu",
		    lcpy_cases[i].name, r, lcpy_cases[i].want_ret);
		CHECK(strcmp(dst, lcpy_cases[i].want) == 0, "%s: got \"%s\", want \"%s\"",
		    lcpy_cases[i].name, dst, lcpy_cases[i].want);
		/* Nothing written past dstsize. */
		CHECK(dst[lcpy_cases[i].dstsize] == 'X', "%s: wrote past dstsize",
		    lcpy_cases[i].name);
		CHECK((r >= lcpy_cases[i].dstsize) ==
			(strlen(lcpy_cases[i].src) != strlen(lcpy_cases[i].want)),
		    "%s: truncation test disagrees", lcpy_cases[i].name);
	}
}

/* dstsize 0: nothing is written, the source length is still returned. */
static void
test_lcpy_size_zero(void)
{
	char dst[4] = "XYZ";

	CHECK_INT(str_lcpy(dst, "hello", 0), 5);
	CHECK_STR(dst, "XYZ");
}

static void
test_fmt(void)
{
	static const struct {
		const char *name;
		size_t size;
		int want_rc;
		const char *want;
	} c[] = {
		{ "fits", 32, 0, "id=42 host=mx" },
		{ "exact_fit", 14, 0, "id=42 host=mx" },
		{ "truncated_by_one", 13, -1, "id=42 host=m" },
		{ "truncated_much", 4, -1, "id=" },
		{ "size_one", 1, -1, "" },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char dst[64];
		int rc;

		memset(dst, 'X', sizeof(dst));
		rc = str_fmt(dst, c[i].size, "id=%d host=%s", 42, "mx");
		CHECK(rc == c[i].want_rc, "%s: rc got %d, want %d", c[i].name, rc, c[i].want_rc);
		CHECK(strcmp(dst, c[i].want) == 0, "%s: got \"%s\", want \"%s\"", c[i].name, dst,
		    c[i].want);
		CHECK(dst[c[i].size] == 'X', "%s: wrote past size", c[i].name);
	}
}

static void
test_fmt_size_zero(void)
{
	char dst[4] = "XYZ";

	CHECK_INT(str_fmt(dst, 0, "%s", "a"), -1);
	CHECK_STR(dst, "XYZ");
	/* Even the empty string does not fit in zero bytes (no room for the NUL). */
	CHECK_INT(str_fmt(dst, 0, "%s", ""), -1);
	CHECK_INT(str_fmt(dst, 1, "%s", ""), 0);
	CHECK_STR(dst, "");
}

static const struct {
	const char *name;
	const char *in;
	const char *want;
} lower_cases[] = {
	{ "upper", "EXAMPLE.COM", "example.com" },
	{ "mixed", "Mx1.Example-Host.ORG", "mx1.example-host.org" },
	{ "already_lower", "abc", "abc" },
	{ "empty", "", "" },
	{ "digits_punct", "A-Z[\\]^_`@", "a-z[\\]^_`@" },
	/* 8-bit bytes are left alone (ASCII only, not locale-dependent). */
	{ "eight_bit", "\xc3\x84X\xdf", "\xc3\x84x\xdf" },
};

static void
test_lower(void)
{
	for (size_t i = 0; i < sizeof(lower_cases) / sizeof(lower_cases[0]); i++) {
		char buf[64];
		char *r;

		str_lcpy(buf, lower_cases[i].in, sizeof(buf));
		r = str_lower(buf);
		CHECK(r == buf, "%s: did not return its argument", lower_cases[i].name);
		CHECK(strcmp(buf, lower_cases[i].want) == 0, "%s: got \"%s\", want \"%s\"",
		    lower_cases[i].name, buf, lower_cases[i].want);
	}
}

static const struct {
	const char *name;
	const char *a;
	const char *b;
	size_t n;
	int want; /* 0 equal, 1 different */
} ct_cases[] = {
	{ "equal", "secret-token", "secret-token", 12, 0 },
	{ "first_byte", "Xecret-token", "secret-token", 12, 1 },
	{ "last_byte", "secret-tokeX", "secret-token", 12, 1 },
	{ "only_n_compared", "abcX", "abcY", 3, 0 },
	{ "zero_length", "a", "b", 0, 0 },
	{ "embedded_nul", "a\0b", "a\0c", 3, 1 },
	{ "embedded_nul_equal", "a\0b", "a\0b", 3, 0 },
	{ "high_bit", "\x80", "\x00", 1, 1 },
};

static void
test_ct_equal(void)
{
	for (size_t i = 0; i < sizeof(ct_cases) / sizeof(ct_cases[0]); i++) {
		int r = str_ct_equal(ct_cases[i].a, ct_cases[i].b, ct_cases[i].n);

		CHECK((r != 0) == ct_cases[i].want, "%s: got %d, want %s", ct_cases[i].name, r,
		    ct_cases[i].want ? "non-zero" : "0");
	}
}

static const struct {
	const char *name;
	const char *in;
	const char *seps;
	int max;
	int want_n;
	const char *want[5];
} split_cases[] = {
	{ "simple", "a b c", " ", 5, 3, { "a", "b", "c" } },
	{ "skips_empty", "  a,, b ,c  ", " ,", 5, 3, { "a", "b", "c" } },
	{ "exact_max", "a b c", " ", 3, 3, { "a", "b", "c" } },
	{ "over_max", "a b c d", " ", 3, -1, { "a", "b", "c" } },
	{ "max_zero_empty", "   ", " ", 0, 0, { NULL } },
	{ "max_zero_one_field", "x", " ", 0, -1, { NULL } },
	{ "empty", "", " ", 5, 0, { NULL } },
	{ "only_seps", " \t \t", " \t", 5, 0, { NULL } },
	{ "one_field", "single", " ", 1, 1, { "single" } },
	{ "tabs", "key\t=\tvalue", "\t=", 5, 2, { "key", "value" } },
};

static void
test_split(void)
{
	for (size_t i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
		char buf[64];
		char *fields[5] = { NULL };
		int n, stored;

		str_lcpy(buf, split_cases[i].in, sizeof(buf));
		n = str_split(buf, split_cases[i].seps, fields, split_cases[i].max);
		CHECK(n == split_cases[i].want_n, "%s: count got %d, want %d", split_cases[i].name,
		    n, split_cases[i].want_n);
		stored = n < 0 ? split_cases[i].max : n;
		for (int j = 0; j < stored && j < 5; j++)
			CHECK(fields[j] != NULL && split_cases[i].want[j] != NULL &&
				strcmp(fields[j], split_cases[i].want[j]) == 0,
			    "%s: field %d got \"%s\", want \"%s\"", split_cases[i].name, j,
			    fields[j] ? fields[j] : "(null)",
			    split_cases[i].want[j] ? split_cases[i].want[j] : "(null)");
		/* Never more than max pointers stored. */
		for (int j = split_cases[i].max; j < 5; j++)
			CHECK(fields[j] == NULL, "%s: field %d stored beyond max",
			    split_cases[i].name, j);
	}
}

/* Fields point into the input, which is split in place. */
static void
test_split_in_place(void)
{
	char buf[] = "one two";
	char *f[2];

	CHECK_INT(str_split(buf, " ", f, 2), 2);
	CHECK(f[0] == buf && f[1] == buf + 4, "fields do not point into the input");
	CHECK(buf[3] == '\0', "separator not replaced by NUL");
}

static const struct unit_case cases[] = {
	{ "lcpy", test_lcpy },
	{ "lcpy_size_zero", test_lcpy_size_zero },
	{ "fmt", test_fmt },
	{ "fmt_size_zero", test_fmt_size_zero },
	{ "lower", test_lower },
	{ "ct_equal", test_ct_equal },
	{ "split", test_split },
	{ "split_in_place", test_split_in_place },
};

UNIT_MAIN(cases)
