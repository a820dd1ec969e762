/* test_http_parse.c: admin/http_parse.c and admin/form.c: requests fed whole and byte by byte,
 * pipelining, every refusal with its status (400/413/414/431/501/505), path decoding with its
 * refusals, and form decoding with its limits. */
#include "unit.h"

#include "admin/form.h"
#include "admin/http_parse.h"
#include "lib/xalloc.h"

/* Feeds s in pieces of step bytes (0 = all at once); returns hp_feed's last result. */
static int
feed(struct hp_parser *p, const char *s, size_t len, size_t step, size_t *used_r, int *status_r)
{
	size_t pos = 0, acc_len = 0;
	char acc[80 * 1024];
	const char *err;
	int r = 0;

	*used_r = 0;
	while (pos < len) {
		size_t n = step && len - pos > step ? step : len - pos, used;

		memcpy(acc + acc_len, s + pos, n);
		acc_len += n;
		pos += n;
		r = hp_feed(p, acc, acc_len, &used, status_r, &err);
		*used_r += used;
		memmove(acc, acc + used, acc_len - used);
		acc_len -= used;
		if (r != 0)
			return r;
	}
	return r;
}

static void
test_good_requests(void)
{
	static const char post[] = "POST /login?next=%2Fdomains HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 21\r\n"
	    "X-Spaced:   v  \r\n\r\nuser=a&password=b%21c";
	static const size_t steps[] = { 0, 1, 7 };

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct hp_parser *p = hp_new();
		struct hp_request *r;
		size_t used;
		int status = 0;

		CHECK_INT(feed(p, post, sizeof(post) - 1, steps[i], &used, &status), 1);
		r = hp_request(p);
		CHECK_INT(r->method, HP_POST);
		CHECK_STR(r->url, "/login?next=%2Fdomains");
		CHECK_INT(r->n_headers, 4);
		CHECK_STR(r->headers[0].name, "host");
		CHECK_STR(r->headers[3].name, "x-spaced");
		CHECK_STR(r->headers[3].value, "v");
		CHECK_INT(r->body.len, 21);
		CHECK(r->keep_alive, "HTTP/1.1 without Connection: close is keep-alive");
		hp_free(&p);
	}
}

static void
test_pipelined(void)
{
	static const char two[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /b HTTP/1.0\r\n\r\n";
	struct hp_parser *p = hp_new();
	size_t used, first;
	int status;
	const char *err;

	CHECK_INT(hp_feed(p, two, sizeof(two) - 1, &used, &status, &err), 1);
	first = used;
	CHECK_INT(first, 28);
	CHECK_STR(hp_request(p)->url, "/a");
	hp_reset(p);
	CHECK_INT(hp_feed(p, two + first, sizeof(two) - 1 - first, &used, &status, &err), 1);
	CHECK_STR(hp_request(p)->url, "/b");
	CHECK(!hp_request(p)->keep_alive, "HTTP/1.0 without keep-alive closes");
	hp_free(&p);
}

static void
test_refusals(void)
{
	static char big_header[20000], many[4096], long_url[5000];
	struct { const char *name; const char *req; int want; } cases[] = {
		{ "unknown method", "FOO / HTTP/1.1\r\nHost: x\r\n\r\n", 501 },
		{ "known, unsupported", "PATCH / HTTP/1.1\r\nHost: x\r\n\r\n", 501 },
		{ "garbage", "\x16\x03\x01\x02\x00", 400 },
		{ "version 2", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505 },
		{ "bad version", "GET / HTTP/1.x\r\n\r\n", 400 },
		{ "no host", "GET / HTTP/1.1\r\n\r\n", 400 },
		{ "two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400 },
		{ "big body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n", 413 },
		{ "CL+TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400 },
		{ "bare LF in value", "GET / HTTP/1.1\r\nHost: x\r\nA: b\x01c\r\n\r\n", 400 },
		{ "header block", big_header, 431 },
		{ "header count", many, 431 },
		{ "long url", long_url, 414 },
	};
	size_t off;

	off = (size_t)snprintf(big_header, sizeof(big_header), "GET / HTTP/1.1\r\nHost: x\r\nA: ");
	memset(big_header + off, 'a', sizeof(big_header) - off - 5);
	memcpy(big_header + sizeof(big_header) - 5, "\r\n\r\n", 5);
	off = (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < 70; i++)
		off += (size_t)snprintf(many + off, sizeof(many) - off, "H%d: v\r\n", i);
	snprintf(many + off, sizeof(many) - off, "\r\n");
	off = (size_t)snprintf(long_url, sizeof(long_url), "GET /");
	memset(long_url + off, 'u', sizeof(long_url) - off - 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (size_t step = 0; step <= 1; step++) {
			struct hp_parser *p = hp_new();
			size_t used;
			int status = 0, r;

			r = feed(p, cases[i].req, strlen(cases[i].req), step ? 3 : 0, &used,
			    &status);
			CHECK(r == -1 && status == cases[i].want, "%s (step %zu): got %d/%d, want -1/%d",
			    cases[i].name, step, r, status, cases[i].want);
			hp_free(&p);
		}
}

static void
test_split_target(void)
{
	static const struct { const char *in, *path, *query; } ok[] = {
		{ "/", "/", "" },
		{ "/domains/ex%41mple.org?x=1&y", "/domains/exAmple.org", "x=1&y" },
		{ "https://host:8443/a/b?q", "/a/b", "q" },
		{ "http://host", "/", "" },
		{ "/a/..b/c.", "/a/..b/c.", "" },
		{ "/%e2%82%ac", "/\xe2\x82\xac", "" },
	};
	static const char *const bad[] = {
		"", "*", "a/b", "/a/../b", "/..", "/a/%2e%2e/b", "/a%2f..%2fb", "/%00", "/%zz", "/%4",
		"/a%0a", "/a#frag",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char *path, *query;
		const char *err = NULL;

		CHECK(hp_split_target(ok[i].in, &path, &query, &err) == 0, "%s refused: %s",
		    ok[i].in, err);
		if (path == NULL)
			continue;
		CHECK_STR(path, ok[i].path);
		CHECK_STR(query, ok[i].query);
		xfree(path);
		xfree(query);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *path, *query;
		const char *err = NULL;

		CHECK(hp_split_target(bad[i], &path, &query, &err) == -1 && err != NULL,
		    "%s accepted", bad[i]);
	}
}

static void
test_form(void)
{
	static const char in[] = "a=1&b=x+y%21&&c&=&d=%e2%82%ac&a=2";
	struct http_field *f;
	size_t n;
	const char *err;
	static char big[FORM_MAX_VALUE + 16], many[HTTP_MAX_FORM_FIELDS * 4 + 16];
	static const char *const bad[] = { "a=%", "a=%4", "a=%zz", "a=%00", "%00=1" };

	CHECK_INT(form_decode(in, sizeof(in) - 1, &f, &n, &err), 0);
	CHECK_INT(n, 6);
	if (n == 6) {
		CHECK_STR(f[0].name, "a");
		CHECK_STR(f[1].value, "x y!");
		CHECK_STR(f[2].name, "c");
		CHECK_STR(f[2].value, "");
		CHECK_STR(f[3].name, "");
		CHECK_STR(f[4].value, "\xe2\x82\xac");
		CHECK_STR(f[5].value, "2");
	}
	form_fields_free(f, n);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(form_decode(bad[i], strlen(bad[i]), &f, &n, &err) == -1, "%s accepted", bad[i]);
	CHECK(form_decode("a\0b=1", 5, &f, &n, &err) == -1, "raw NUL accepted");
	memcpy(big, "v=", 2);
	memset(big + 2, 'x', FORM_MAX_VALUE);
	CHECK_INT(form_decode(big, FORM_MAX_VALUE + 2, &f, &n, &err), 0);
	form_fields_free(f, n);
	CHECK_INT(form_decode(big, FORM_MAX_VALUE + 3 > sizeof(big) ? sizeof(big) :
	    FORM_MAX_VALUE + 3, &f, &n, &err), -1);
	for (size_t i = 0; i <= HTTP_MAX_FORM_FIELDS; i++)
		memcpy(many + 4 * i, "a=1&", 4);
	CHECK_INT(form_decode(many, 4 * HTTP_MAX_FORM_FIELDS, &f, &n, &err), 0);
	CHECK_INT(n, HTTP_MAX_FORM_FIELDS);
	form_fields_free(f, n);
	CHECK_INT(form_decode(many, 4 * HTTP_MAX_FORM_FIELDS + 3, &f, &n, &err), -1);
}

static const struct unit_case cases[] = {
	{ "good_requests", test_good_requests },
	{ "pipelined", test_pipelined },
	{ "refusals", test_refusals },
	{ "split_target", test_split_target },
	{ "form", test_form },
};

UNIT_MAIN(cases)
