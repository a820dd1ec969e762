/* Unit tests for common/rfc5322.c: header field splitting (folding, LF-only lines, obsolete WSP
 * before the colon, malformed lines), unfolding, and reading the header section from an fd in
 * chunks where the empty line straddles a chunk boundary. */
#include <fcntl.h>

#include "unit.h"

#include "common/rfc5322.h"

static void
test_split(void)
{
	const char *m = "From: a@b.example\r\nSubject: one\r\n two\r\nX-A : v\r\n\r\nbody\r\n";
	struct rfc5322_iter it;
	struct rfc5322_field f;

	rfc5322_iter_init(&it, slice_from_str(m));
	CHECK_INT(rfc5322_next(&it, &f), 1);
	CHECK(rfc5322_name_is(f.name, "from"), "name");
	CHECK_INT(f.raw.len, 19);
	CHECK_INT(rfc5322_next(&it, &f), 1);
	CHECK(rfc5322_name_is(f.name, "Subject"), "subject");
	CHECK_INT(f.value.len, strlen(" one\r\n two"));
	struct buf b;
	buf_init(&b, 100);
	CHECK_INT(rfc5322_unfold(f.value, &b), 0);
	CHECK_STR(b.data, "one two");
	buf_free(&b);
	CHECK_INT(rfc5322_next(&it, &f), 1);
	CHECK(rfc5322_name_is(f.name, "X-A"), "obs WSP before colon");
	CHECK_INT(rfc5322_next(&it, &f), 0);
	CHECK_STR(m + rfc5322_body_offset(&it), "body\r\n");
	CHECK_INT(rfc5322_next(&it, &f), 0);
}

static void
test_malformed(void)
{
	struct rfc5322_iter it;
	struct rfc5322_field f;
	static const char *const bad[] = { "no colon here\r\n\r\n", ": empty name\r\n", "A B: x\r\n" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rfc5322_iter_init(&it, slice_from_str(bad[i]));
		CHECK(rfc5322_next(&it, &f) == -1, "case %zu: got a field, want -1", i);
		CHECK(rfc5322_next(&it, &f) == -1, "case %zu: sticky error", i);
	}
	/* LF-only lines and a message without a body. */
	rfc5322_iter_init(&it, slice_from_str("A: 1\nB: 2\n"));
	CHECK_INT(rfc5322_next(&it, &f), 1);
	CHECK_INT(f.value.len, 2);
	CHECK_INT(rfc5322_next(&it, &f), 1);
	CHECK_INT(rfc5322_next(&it, &f), 0);
	CHECK_INT(rfc5322_body_offset(&it), 10);
}

static void
test_read_header(void)
{
	char path[] = "/tmp/mg-rfc5322-XXXXXX";
	int fd = mkstemp(path);
	struct buf b;
	/* A header section of ~40000 octets so the empty line falls after the first 16 KiB chunk,
	 * placed to straddle the second boundary. */
	buf_init(&b, 100000);
	while (b.len < 32768 - 30)
		buf_append_str(&b, "X-Pad: 0123456789\r\n");
	size_t target = 32768 - 1;	/* the "\n" of the last field's CRLF sits at the boundary */
	while (b.len + 2 < target)
		buf_append_char(&b, 'x');
	buf_append_str(&b, "\r\n\r\nbody body\r\n");
	CHECK(fd >= 0 && write(fd, b.data, b.len) == (ssize_t)b.len, "write");
	size_t want = strstr(b.data, "\r\n\r\n") - b.data + 4;
	struct buf h;
	buf_init(&h, RFC5322_HEADER_READ_MAX + 16384);
	CHECK_INT(rfc5322_read_header(fd, &h), 0);
	CHECK_INT(h.len, want);
	buf_free(&h);
	buf_free(&b);
	close(fd);
	unlink(path);
}

static const struct { const char *name; void (*fn)(void); } cases[] = {
	{ "split", test_split },
	{ "malformed", test_malformed },
	{ "read_header", test_read_header },
};

UNIT_MAIN(cases)
