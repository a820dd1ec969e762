/* test_buf.c: unit tests for lib/buf.c (struct buf and struct slice).
 * Covers the max cap (an append past max fails and leaves the buffer unchanged), growth,
 * printf, consume, steal, reset, and every slice helper. Table-driven where the inputs vary. */
#include <fcntl.h>
#include <stdint.h>

#include "unit.h"

#include "lib/buf.h"
#include "lib/xalloc.h"

/* The buffer invariants every operation must keep. */
static void
check_invariants(const struct buf *b, const char *what)
{
	CHECK(b->len <= b->max, "%s: len %zu > max %zu", what, b->len, b->max);
	if (b->data != NULL) {
		CHECK(b->cap >= b->len + 1, "%s: cap %zu < len %zu + 1", what, b->cap, b->len);
		CHECK(b->cap <= b->max + 1 || b->max == SIZE_MAX, "%s: cap %zu > max %zu + 1", what,
		    b->cap, b->max);
		CHECK(b->data[b->len] == '\0', "%s: not NUL-terminated", what);
	}
}

static void
test_init_empty(void)
{
	struct buf b;
	struct slice s;

	buf_init(&b, 100);
	CHECK(b.data == NULL, "data: got %p, want NULL", (void *)b.data);
	CHECK_INT(b.len, 0);
	CHECK_INT(b.max, 100);
	s = buf_slice(&b);
	CHECK(s.p != NULL, "slice of empty buf has NULL p");
	CHECK_INT(s.len, 0);
	buf_reset(&b);
	CHECK_INT(b.len, 0);
	buf_free(&b);
	buf_free(&b);
	CHECK(b.data == NULL, "double free left data");
}

/* Appends against a cap: name, max, pieces appended in order, expected results and content. */
static const struct {
	const char *name;
	size_t max;
	const char *pieces[4];
	int want_rc[4];
	const char *want;
} cap_cases[] = {
	{ "fits", 10, { "abc", "def" }, { 0, 0 }, "abcdef" },
	{ "exactly_max", 6, { "abc", "def" }, { 0, 0 }, "abcdef" },
	{ "one_past_max", 5, { "abc", "def" }, { 0, -1 }, "abc" },
	{ "first_too_big", 2, { "abc", "x" }, { -1, 0 }, "x" },
	{ "fail_then_fit", 4, { "abc", "de", "d" }, { 0, -1, 0 }, "abcd" },
	{ "max_zero", 0, { "", "a" }, { 0, -1 }, "" },
	{ "max_zero_empty_ok", 0, { "", "" }, { 0, 0 }, "" },
};

static void
test_cap(void)
{
	for (size_t i = 0; i < sizeof(cap_cases) / sizeof(cap_cases[0]); i++) {
		struct buf b;

		buf_init(&b, cap_cases[i].max);
		for (int j = 0; j < 4 && cap_cases[i].pieces[j] != NULL; j++) {
			size_t before = b.len;
			int rc = buf_append_str(&b, cap_cases[i].pieces[j]);

			CHECK(rc == cap_cases[i].want_rc[j], "%s piece %d: got %d, want %d",
			    cap_cases[i].name, j, rc, cap_cases[i].want_rc[j]);
			if (rc < 0)
				CHECK(b.len == before, "%s: failed append changed len %zu -> %zu",
				    cap_cases[i].name, before, b.len);
			check_invariants(&b, cap_cases[i].name);
		}
		CHECK(strcmp(buf_slice(&b).p, cap_cases[i].want) == 0,
		    "%s: got \"%s\", want \"%s\"", cap_cases[i].name, buf_slice(&b).p,
		    cap_cases[i].want);
		buf_free(&b);
	}
}

static void
test_cap_char_and_printf(void)
{
	struct buf b;

	buf_init(&b, 3);
	CHECK_INT(buf_append_char(&b, 'a'), 0);
	CHECK_INT(buf_append_char(&b, 'b'), 0);
	CHECK_INT(buf_append_char(&b, 'c'), 0);
	CHECK_INT(buf_append_char(&b, 'd'), -1);
	CHECK_STR(b.data, "abc");
	buf_reset(&b);
	CHECK_INT(buf_printf(&b, "%d", 1234), -1);
	CHECK_INT(b.len, 0);
	CHECK_INT(buf_printf(&b, "%d", 123), 0);
	CHECK_STR(b.data, "123");
	CHECK_INT(buf_printf(&b, "%s", ""), 0);
	CHECK_INT(buf_printf(&b, "x"), -1);
	CHECK_STR(b.data, "123");
	check_invariants(&b, "printf cap");
	buf_free(&b);
}

/* A failed append must not touch data: previous content stays byte for byte. */
static void
test_cap_unchanged(void)
{
	struct buf b;
	char big[200];

	memset(big, 'z', sizeof(big));
	buf_init(&b, 150);
	CHECK_INT(buf_append(&b, "hello", 5), 0);
	CHECK_INT(buf_append(&b, big, sizeof(big)), -1);
	CHECK_INT(b.len, 5);
	CHECK_STR(b.data, "hello");
	CHECK_INT(buf_reserve(&b, 146), -1);
	CHECK_INT(buf_reserve(&b, 145), 0);
	CHECK(b.cap >= 151, "reserve 145: cap %zu < 151", b.cap);
	CHECK_INT(buf_reserve(&b, SIZE_MAX), -1);
	CHECK_INT(buf_append(&b, big, SIZE_MAX), -1);
	CHECK_STR(b.data, "hello");
	buf_free(&b);
}

static void
test_growth(void)
{
	struct buf b;
	char want[5001];

	buf_init(&b, 1 << 20);
	for (int i = 0; i < 5000; i++) {
		want[i] = (char)('a' + i % 26);
		if (buf_append_char(&b, want[i]) < 0) {
			CHECK(0, "append %d failed", i);
			break;
		}
	}
	want[5000] = '\0';
	CHECK_INT(b.len, 5000);
	CHECK_STR(b.data, want);
	check_invariants(&b, "growth");
	buf_free(&b);
}

/* Growth stops at max + 1 bytes of allocation, never beyond. */
static void
test_growth_clamped(void)
{
	struct buf b;

	buf_init(&b, 100);
	CHECK_INT(buf_append(&b, "0123456789", 10), 0);
	for (int i = 0; i < 9; i++)
		CHECK_INT(buf_append(&b, "0123456789", 10), 0);
	CHECK_INT(b.len, 100);
	CHECK_INT(b.cap, 101);
	CHECK_INT(buf_append_char(&b, 'x'), -1);
	check_invariants(&b, "clamped");
	buf_free(&b);
}

/* max = SIZE_MAX means "no cap"; max + 1 wraps to 0 and must not shrink the allocation. */
static void
test_unlimited(void)
{
	struct buf b;

	buf_init(&b, SIZE_MAX);
	CHECK_INT(buf_append_str(&b, "hello, world"), 0);
	CHECK_STR(b.data, "hello, world");
	check_invariants(&b, "unlimited");
	CHECK_INT(buf_printf(&b, " %d", 42), 0);
	CHECK_STR(b.data, "hello, world 42");
	check_invariants(&b, "unlimited printf");
	buf_free(&b);
}

static void
test_binary_safe(void)
{
	struct buf b;
	static const char bin[] = { 'a', '\0', 'b', '\0', '\xff' };

	buf_init(&b, 64);
	CHECK_INT(buf_append(&b, bin, sizeof(bin)), 0);
	CHECK_INT(buf_append_char(&b, '\0'), 0);
	CHECK_INT(b.len, 6);
	CHECK(memcmp(b.data, bin, sizeof(bin)) == 0 && b.data[5] == '\0' && b.data[6] == '\0',
	    "binary content mangled");
	CHECK_INT(buf_append(&b, NULL, 0), 0);
	CHECK_INT(b.len, 6);
	buf_free(&b);
}

static const struct {
	const char *name;
	const char *prefix;
	const char *want;
} printf_cases[] = {
	{ "empty_buf", "", "n=42 s=abc" },
	{ "append_after", "x:", "x:n=42 s=abc" },
};

static void
test_printf(void)
{
	for (size_t i = 0; i < sizeof(printf_cases) / sizeof(printf_cases[0]); i++) {
		struct buf b;

		buf_init(&b, 1000);
		CHECK_INT(buf_append_str(&b, printf_cases[i].prefix), 0);
		CHECK_INT(buf_printf(&b, "n=%d s=%s", 42, "abc"), 0);
		CHECK(strcmp(b.data, printf_cases[i].want) == 0, "%s: got \"%s\", want \"%s\"",
		    printf_cases[i].name, b.data, printf_cases[i].want);
		check_invariants(&b, printf_cases[i].name);
		buf_free(&b);
	}
}

static void
test_printf_large(void)
{
	struct buf b;
	char *big = xmalloc(3001);

	memset(big, 'q', 3000);
	big[3000] = '\0';
	buf_init(&b, 10000);
	CHECK_INT(buf_append_str(&b, "<"), 0);
	CHECK_INT(buf_printf(&b, "%s>%05d", big, 7), 0);
	CHECK_INT(b.len, 3007);
	CHECK(b.data[0] == '<' && b.data[1] == 'q' && b.data[3000] == 'q', "large printf content");
	CHECK_STR(b.data + 3001, ">00007");
	check_invariants(&b, "printf large");
	buf_free(&b);
	/* Exactly to max, then one past. */
	buf_init(&b, 3000);
	CHECK_INT(buf_printf(&b, "%s", big), 0);
	CHECK_INT(b.len, 3000);
	buf_reset(&b);
	CHECK_INT(buf_printf(&b, "%s!", big), -1);
	CHECK_INT(b.len, 0);
	buf_free(&b);
	xfree(big);
}

static const struct {
	const char *name;
	const char *start;
	size_t n;
	const char *want;
} consume_cases[] = {
	{ "none", "abcdef", 0, "abcdef" },
	{ "some", "abcdef", 2, "cdef" },
	{ "all_but_one", "abcdef", 5, "f" },
	{ "all", "abcdef", 6, "" },
	{ "more_than_len", "abcdef", 100, "" },
	{ "empty", "", 0, "" },
};

static void
test_consume(void)
{
	for (size_t i = 0; i < sizeof(consume_cases) / sizeof(consume_cases[0]); i++) {
		struct buf b;
		struct slice s;

		buf_init(&b, 64);
		CHECK_INT(buf_append_str(&b, consume_cases[i].start), 0);
		buf_consume(&b, consume_cases[i].n);
		s = buf_slice(&b);
		CHECK(s.len == strlen(consume_cases[i].want) &&
			strcmp(s.p, consume_cases[i].want) == 0,
		    "%s: got \"%.*s\", want \"%s\"", consume_cases[i].name, (int)s.len, s.p,
		    consume_cases[i].want);
		check_invariants(&b, consume_cases[i].name);
		/* The buffer is still usable after consume. */
		CHECK_INT(buf_append_str(&b, "Z"), 0);
		CHECK(b.data[b.len - 1] == 'Z', "%s: append after consume", consume_cases[i].name);
		buf_free(&b);
	}
}

/* consume on a buffer that never allocated must not crash. */
static void
test_consume_unallocated(void)
{
	struct buf b;

	buf_init(&b, 10);
	buf_consume(&b, 0);
	buf_consume(&b, 5);
	CHECK_INT(b.len, 0);
	buf_free(&b);
}

static void
test_steal(void)
{
	struct buf b;
	char *p;

	buf_init(&b, 50);
	CHECK_INT(buf_append_str(&b, "owned"), 0);
	p = buf_steal(&b);
	CHECK_STR(p, "owned");
	CHECK(b.data == NULL, "after steal data is %p, want NULL", (void *)b.data);
	CHECK_INT(b.len, 0);
	CHECK_INT(b.max, 50);
	xfree(p);
	/* Steal from an empty, never-allocated buffer gives an owned "". */
	p = buf_steal(&b);
	CHECK_STR(p, "");
	xfree(p);
	/* Still usable and still capped. */
	CHECK_INT(buf_append(&b, "0123456789012345678901234567890123456789012345678901", 51), -1);
	CHECK_INT(buf_append_str(&b, "again"), 0);
	CHECK_STR(b.data, "again");
	buf_free(&b);
}

static void
test_reset_keeps_allocation(void)
{
	struct buf b;
	char *before;

	buf_init(&b, 100);
	CHECK_INT(buf_append_str(&b, "some data"), 0);
	before = b.data;
	buf_reset(&b);
	CHECK_INT(b.len, 0);
	CHECK(b.data == before, "reset moved the allocation");
	CHECK_STR(b.data, "");
	buf_free(&b);
}

static void
test_slice_lit_and_from_str(void)
{
	struct slice a = SLICE_LIT("hello");
	struct slice b = slice_from_str("hello");
	struct slice e = slice_from_str("");

	CHECK_INT(a.len, 5);
	CHECK_INT(b.len, 5);
	CHECK(memcmp(a.p, b.p, 5) == 0, "slices differ");
	CHECK_INT(e.len, 0);
}

static const struct {
	const char *name;
	const char *s;
	size_t len; /* slice length (may stop before the NUL) */
	const char *other;
	int want_eq;
	int want_prefix;
} slice_cmp_cases[] = {
	{ "equal", "HELO", 4, "helo", 1, 1 },
	{ "mixed_case", "HeLo", 4, "hElO", 1, 1 },
	{ "prefix_only", "HELO example", 4, "helo", 1, 1 },
	{ "longer_slice", "HELO example", 12, "helo", 0, 1 },
	{ "shorter_slice", "HEL", 3, "helo", 0, 0 },
	{ "different", "EHLO", 4, "helo", 0, 0 },
	{ "empty_vs_empty", "", 0, "", 1, 1 },
	{ "empty_prefix", "abc", 3, "", 0, 1 },
	{ "cut_slice", "MAIL FROM:", 4, "mail from:", 0, 0 },
	{ "prefix_cut", "MAIL FROM:", 10, "mail from:", 1, 1 },
};

static void
test_slice_compare(void)
{
	for (size_t i = 0; i < sizeof(slice_cmp_cases) / sizeof(slice_cmp_cases[0]); i++) {
		struct slice s = { slice_cmp_cases[i].s, slice_cmp_cases[i].len };
		int eq = slice_eq_ci(s, slice_cmp_cases[i].other);
		int pre = slice_has_prefix_ci(s, slice_cmp_cases[i].other);

		CHECK(eq == slice_cmp_cases[i].want_eq, "%s: eq got %d, want %d",
		    slice_cmp_cases[i].name, eq, slice_cmp_cases[i].want_eq);
		CHECK(pre == slice_cmp_cases[i].want_prefix, "%s: prefix got %d, want %d",
		    slice_cmp_cases[i].name, pre, slice_cmp_cases[i].want_prefix);
	}
}

/* A slice containing a NUL is compared by length, not as a C string. */
static void
test_slice_compare_embedded_nul(void)
{
	struct slice s = { "ab\0cd", 5 };

	CHECK_INT(slice_eq_ci(s, "ab"), 0);
	CHECK_INT(slice_has_prefix_ci(s, "ab"), 1);
	CHECK_INT(slice_has_prefix_ci(s, "abc"), 0);
}

static const struct {
	const char *name;
	const char *in;
	const char *want;
} trim_cases[] = {
	{ "none", "abc", "abc" },
	{ "leading", "  \tabc", "abc" },
	{ "trailing", "abc \t ", "abc" },
	{ "both", " \t a b \t", "a b" },
	{ "all_space", " \t \t", "" },
	{ "empty", "", "" },
	{ "crlf_kept", " abc\r\n", "abc\r\n" },
};

static void
test_slice_trim(void)
{
	for (size_t i = 0; i < sizeof(trim_cases) / sizeof(trim_cases[0]); i++) {
		struct slice s = slice_trim(slice_from_str(trim_cases[i].in));
		char *d = slice_dup(s);

		CHECK(strcmp(d, trim_cases[i].want) == 0, "%s: got \"%s\", want \"%s\"",
		    trim_cases[i].name, d, trim_cases[i].want);
		xfree(d);
	}
}

static void
test_slice_dup(void)
{
	struct slice s = { "hello world", 5 };
	struct slice e = { NULL, 0 };
	struct slice z = { "a\0b", 3 };
	char *d;

	d = slice_dup(s);
	CHECK_STR(d, "hello");
	xfree(d);
	d = slice_dup(e);
	CHECK_STR(d, "");
	xfree(d);
	d = slice_dup(z);
	CHECK(d[0] == 'a' && d[1] == '\0' && d[2] == 'b' && d[3] == '\0', "binary dup mangled");
	xfree(d);
}

static const struct unit_case cases[] = {
	{ "init_empty", test_init_empty },
	{ "cap", test_cap },
	{ "cap_char_and_printf", test_cap_char_and_printf },
	{ "cap_unchanged", test_cap_unchanged },
	{ "growth", test_growth },
	{ "growth_clamped", test_growth_clamped },
	{ "unlimited", test_unlimited },
	{ "binary_safe", test_binary_safe },
	{ "printf", test_printf },
	{ "printf_large", test_printf_large },
	{ "consume", test_consume },
	{ "consume_unallocated", test_consume_unallocated },
	{ "steal", test_steal },
	{ "reset_keeps_allocation", test_reset_keeps_allocation },
	{ "slice_lit_and_from_str", test_slice_lit_and_from_str },
	{ "slice_compare", test_slice_compare },
	{ "slice_compare_embedded_nul", test_slice_compare_embedded_nul },
	{ "slice_trim", test_slice_trim },
	{ "slice_dup", test_slice_dup },
};

UNIT_MAIN(cases)
