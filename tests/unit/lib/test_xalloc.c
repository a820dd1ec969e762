/* test_xalloc.c: unit tests for lib/xalloc.c.
 * Normal allocation paths, zero sizes, xasprintf, xstrndup bounds, errno kept by xfree, and the
 * must-abort cases: size overflow in xreallocarray and requests no allocator can satisfy. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>

#include "unit.h"

#include "lib/xalloc.h"

/* Under AddressSanitizer an impossible malloc must return NULL (so xalloc's own abort path
 * runs) instead of ASan reporting and exiting with status 1. Unused in normal builds. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

static void
test_malloc_and_zero(void)
{
	char *p = xmalloc(16);
	char *z = xmalloc(0);
	char *c = xcalloc(4, 8);
	char *c0 = xcalloc(0, 0);

	memset(p, 'a', 16);
	CHECK(z != NULL, "xmalloc(0) returned NULL");
	CHECK(c != NULL, "xcalloc returned NULL");
	for (int i = 0; i < 32; i++)
		if (c[i] != 0) {
			CHECK(0, "xcalloc byte %d not zero", i);
			break;
		}
	CHECK(c0 != NULL, "xcalloc(0, 0) returned NULL");
	xfree(p);
	xfree(z);
	xfree(c);
	xfree(c0);
	xfree(NULL);
}

static void
test_realloc(void)
{
	char *p = xrealloc(NULL, 4);
	int *a;

	memcpy(p, "abc", 4);
	p = xrealloc(p, 4096);
	CHECK_STR(p, "abc");
	p = xrealloc(p, 0);
	CHECK(p != NULL, "xrealloc(p, 0) returned NULL");
	xfree(p);

	a = xreallocarray(NULL, 10, sizeof(int));
	for (int i = 0; i < 10; i++)
		a[i] = i;
	a = xreallocarray(a, 1000, sizeof(int));
	CHECK_INT(a[9], 9);
	a = xreallocarray(a, 0, sizeof(int));
	CHECK(a != NULL, "xreallocarray(a, 0, n) returned NULL");
	xfree(a);
	a = xreallocarray(NULL, 5, 0);
	CHECK(a != NULL, "xreallocarray(NULL, 5, 0) returned NULL");
	xfree(a);
}

static const struct {
	const char *name;
	const char *s;
	size_t n;
	const char *want;
} strndup_cases[] = {
	{ "shorter_than_n", "abc", 10, "abc" },
	{ "exact_n", "abc", 3, "abc" },
	{ "cut", "abcdef", 2, "ab" },
	{ "zero", "abc", 0, "" },
	{ "empty", "", 5, "" },
};

static void
test_strdup(void)
{
	char *d = xstrdup("hello");
	char *e = xstrdup("");

	CHECK_STR(d, "hello");
	CHECK_STR(e, "");
	xfree(d);
	xfree(e);
	for (size_t i = 0; i < sizeof(strndup_cases) / sizeof(strndup_cases[0]); i++) {
		char *r = xstrndup(strndup_cases[i].s, strndup_cases[i].n);

		CHECK(strcmp(r, strndup_cases[i].want) == 0, "%s: got \"%s\", want \"%s\"",
		    strndup_cases[i].name, r, strndup_cases[i].want);
		xfree(r);
	}
}

/* xstrndup must not read past n bytes: the source here is not NUL-terminated. */
static void
test_strndup_unterminated(void)
{
	char src[4] = { 'w', 'x', 'y', 'z' };
	char *r = xstrndup(src, sizeof(src));

	CHECK_STR(r, "wxyz");
	xfree(r);
}

static void
test_memdup(void)
{
	static const char bin[] = { 1, 0, 2, 0, 3 };
	char *m = xmemdup(bin, sizeof(bin));
	char *z = xmemdup("", 0);

	CHECK(memcmp(m, bin, sizeof(bin)) == 0, "xmemdup content differs");
	CHECK(z != NULL, "xmemdup(p, 0) returned NULL");
	xfree(m);
	xfree(z);
}

static void
test_asprintf(void)
{
	char *s = xasprintf("id=%d host=%s", 42, "mx.example.com");
	char *e = xasprintf("%s", "");
	char *big;

	CHECK_STR(s, "id=42 host=mx.example.com");
	CHECK_STR(e, "");
	xfree(s);
	xfree(e);
	big = xasprintf("%05000d|", 7);
	CHECK_INT(strlen(big), 5001);
	CHECK(big[0] == '0' && big[4999] == '7' && big[5000] == '|', "large xasprintf content");
	xfree(big);
}

static void
test_xfree_keeps_errno(void)
{
	char *p = xmalloc(8);

	errno = EINTR;
	xfree(p);
	CHECK_INT(errno, EINTR);
	errno = EAGAIN;
	xfree(NULL);
	CHECK_INT(errno, EAGAIN);
}

static void
test_wipe(void)
{
	char secret[16];

	memcpy(secret, "hunter2-password", 16);
	xwipe(secret, sizeof(secret));
	for (size_t i = 0; i < sizeof(secret); i++)
		if (secret[i] != 0) {
			CHECK(0, "byte %zu not wiped", i);
			break;
		}
	xwipe(NULL, 10);
	xwipe(secret, 0);
}

/* Must-abort cases, each run in a child by UNIT_EXPECT_ABORT. Volatile sizes keep the compiler
 * from warning about (or folding) obviously impossible requests. */
static volatile size_t huge = SIZE_MAX;

static void
abort_reallocarray_overflow(void)
{
	(void)xreallocarray(NULL, huge / 2 + 1, 2);
}

static void
abort_reallocarray_overflow_existing(void)
{
	void *p = xmalloc(16);

	(void)xreallocarray(p, 3, huge / 3 + 1);
}

static void
abort_malloc_huge(void)
{
	(void)xmalloc(huge);
}

static void
abort_calloc_overflow(void)
{
	(void)xcalloc(huge / 2 + 1, 4);
}

static void
abort_realloc_huge(void)
{
	(void)xrealloc(NULL, huge - 1);
}

static void
abort_memdup_huge(void)
{
	(void)xmemdup("", huge);
}

static void
test_must_abort(void)
{
	UNIT_EXPECT_ABORT(abort_reallocarray_overflow);
	UNIT_EXPECT_ABORT(abort_reallocarray_overflow_existing);
	UNIT_EXPECT_ABORT(abort_malloc_huge);
	UNIT_EXPECT_ABORT(abort_calloc_overflow);
	UNIT_EXPECT_ABORT(abort_realloc_huge);
	UNIT_EXPECT_ABORT(abort_memdup_huge);
}

/* The largest product that does not overflow is not treated as an overflow. */
static void
test_reallocarray_boundary(void)
{
	char *p = xreallocarray(NULL, 1, 1);

	xfree(p);
	p = xreallocarray(NULL, 4096, 1);
	p[4095] = 'x';
	xfree(p);
}

static const struct unit_case cases[] = {
	{ "malloc_and_zero", test_malloc_and_zero },
	{ "realloc", test_realloc },
	{ "strdup", test_strdup },
	{ "strndup_unterminated", test_strndup_unterminated },
	{ "memdup", test_memdup },
	{ "asprintf", test_asprintf },
	{ "xfree_keeps_errno", test_xfree_keeps_errno },
	{ "wipe", test_wipe },
	{ "must_abort", test_must_abort },
	{ "reallocarray_boundary", test_reallocarray_boundary },
};

UNIT_MAIN(cases)
