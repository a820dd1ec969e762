/* fuzz_http_request: libFuzzer target for the admin role's request path without I/O:
 * admin/http_parse.c (http-parser glue with our limits), hp_split_target (path decoding) and
 * admin/form.c (query and form decoding), as admin/httpd.c chains them. The first input byte
 * picks how the rest is cut into reads (1..256 bytes each), so split tokens and pipelined
 * requests are exercised. Besides the sanitizers, aborts when an invariant breaks: a refusal
 * carries one of the documented statuses, consumed bytes never exceed the input, a complete
 * request respects every limit, a decoded path starts with '/', has no NUL and no ".."
 * segment, decoded fields respect their limits. Seeds: tests/fuzz/corpus/fuzz_http_request/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/form.h"
#include "admin/http_parse.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUST(cond) do { if (!(cond)) abort(); } while (0)

static void
check_fields(const struct http_field *f, size_t n)
{
	MUST(n <= HTTP_MAX_FORM_FIELDS);
	for (size_t i = 0; i < n; i++) {
		MUST(strlen(f[i].name) <= FORM_MAX_NAME);
		MUST(strlen(f[i].value) <= FORM_MAX_VALUE);
	}
}

static void
check_request(struct hp_request *r)
{
	char *path, *query;
	const char *err;
	struct http_field *f;
	size_t n;

	MUST(r->method != HP_OTHER);
	MUST(r->n_headers <= HP_MAX_HEADERS);
	MUST(strlen(r->url) <= HP_MAX_URL);
	MUST(r->body.len <= HP_MAX_BODY);
	for (size_t i = 0; i < r->n_headers; i++)
		for (const char *c = r->headers[i].name; *c; c++)
			MUST(!(*c >= 'A' && *c <= 'Z'));
	if (hp_split_target(r->url, &path, &query, &err) < 0) {
		MUST(err != NULL);
		return;
	}
	MUST(path[0] == '/');
	MUST(strstr(path, "/../") == NULL);
	MUST(strlen(path) < 3 || strcmp(path + strlen(path) - 3, "/..") != 0);
	if (form_decode(query, strlen(query), &f, &n, &err) == 0) {
		check_fields(f, n);
		form_fields_free(f, n);
	}
	if (form_decode(r->body.data ? r->body.data : "", r->body.len, &f, &n, &err) == 0) {
		check_fields(f, n);
		form_fields_free(f, n);
	}
	xfree(path);
	xfree(query);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hp_parser *p;
	size_t chunk, pos = 1, pending = 0;
	char *acc;

	if (size < 1)
		return 0;
	chunk = (size_t)data[0] + 1;
	p = hp_new();
	acc = xmalloc(size + 1);
	/* acc holds bytes not consumed yet, like the transport's input buffer */
	while (pos < size || pending > 0) {
		size_t take = size - pos < chunk ? size - pos : chunk, used;
		int status, r;
		const char *err;

		memcpy(acc + pending, data + pos, take);
		pending += take;
		pos += take;
		r = hp_feed(p, acc, pending, &used, &status, &err);
		MUST(used <= pending);
		memmove(acc, acc + used, pending - used);
		pending -= used;
		if (r < 0) {
			MUST(status == 400 || status == 413 || status == 414 || status == 431 ||
			    status == 501 || status == 505);
			MUST(err != NULL);
			break;
		}
		if (r == 1) {
			check_request(hp_request(p));
			hp_reset(p);
			continue;
		}
		MUST(pending == 0);	/* all consumed when more is needed */
		if (take == 0)
			break;
	}
	xfree(acc);
	hp_free(&p);
	return 0;
}
