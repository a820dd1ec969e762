/* fuzz_form: libFuzzer target for admin/form.c (application/x-www-form-urlencoded decoding of
 * query strings and POST bodies). Besides the sanitizers, aborts when an invariant breaks:
 * decoded fields respect the count, name and value limits, contain no NUL, and decoding the
 * re-encoded fields gives the same fields back. Seeds: tests/fuzz/corpus/fuzz_form/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/form.h"
#include "lib/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUST(cond) do { if (!(cond)) abort(); } while (0)

static void
encode(struct buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			buf_append_char(b, (char)c);
		else
			buf_printf(b, "%%%02X", c);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_field *f, *g;
	size_t n, m;
	const char *err;
	struct buf b;

	if (form_decode((const char *)data, size, &f, &n, &err) < 0) {
		MUST(err != NULL);
		return 0;
	}
	MUST(n <= HTTP_MAX_FORM_FIELDS);
	buf_init(&b, 64u << 20);
	for (size_t i = 0; i < n; i++) {
		MUST(strlen(f[i].name) <= FORM_MAX_NAME);
		MUST(strlen(f[i].value) <= FORM_MAX_VALUE);
		if (i)
			buf_append_char(&b, '&');
		encode(&b, f[i].name);
		buf_append_char(&b, '=');
		encode(&b, f[i].value);
	}
	MUST(form_decode(b.data ? b.data : "", b.len, &g, &m, &err) == 0);
	/* empty names with empty values ("=") are kept, so the count matches */
	MUST(m == n);
	for (size_t i = 0; i < n; i++) {
		MUST(strcmp(f[i].name, g[i].name) == 0);
		MUST(strcmp(f[i].value, g[i].value) == 0);
	}
	form_fields_free(f, n);
	form_fields_free(g, m);
	buf_free(&b);
	return 0;
}
