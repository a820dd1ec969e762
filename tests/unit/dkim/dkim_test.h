#ifndef TESTS_UNIT_DKIM_TEST_H
#define TESTS_UNIT_DKIM_TEST_H
/* Helpers shared by the dkim/ unit tests (include after unit.h): a message as an unlinked
 * temporary file with LF turned into CRLF (as the spool stores it), fixture files from
 * tests/fixtures/dkim/, and a text edit for making tampered copies. */
#include <stdio.h>

#include "lib/buf.h"
#include "lib/xalloc.h"

static int __attribute__((unused))
dkim_test_msg_fd(const char *text, off_t *size)
{
	char path[] = "/tmp/mg-test-dkim-XXXXXX";
	int fd = mkstemp(path);
	struct buf b;

	unlink(path);
	buf_init(&b, 1 << 22);
	for (const char *p = text; *p; p++) {
		if (*p == '\n' && (p == text || p[-1] != '\r'))
			buf_append_char(&b, '\r');
		buf_append_char(&b, *p);
	}
	if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len)
		abort();
	*size = (off_t)b.len;
	buf_free(&b);
	return fd;
}

/* tests/fixtures/dkim/<name> as a NUL-terminated heap string (at most 1 MiB); aborts if absent. */
static char * __attribute__((unused))
dkim_test_fixture(const char *name)
{
	char path[256];
	FILE *f;
	char *s = xcalloc(1, 1 << 20);
	size_t n;

	snprintf(path, sizeof(path), "tests/fixtures/dkim/%s", name);
	if ((f = fopen(path, "rb")) == NULL)
		abort();
	n = fread(s, 1, (1 << 20) - 1, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

#endif
