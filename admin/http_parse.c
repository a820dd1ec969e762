/* http_parse.c: HTTP/1.x request parsing for the admin role's console and metrics listeners,
 * without I/O, so it is unit-tested and fuzzed alone (tests/fuzz/fuzz_http_request.c). The
 * grammar is http-parser's (strict mode: no lenient headers); this file adds our hard limits and
 * turns every refusal into the status to answer:
 *   request line + headers > HP_MAX_HEADER_BYTES or > HP_MAX_HEADERS fields -> 431,
 *   request target > HP_MAX_URL -> 414, body > HP_MAX_BODY (declared or chunked) -> 413,
 *   a method other than GET/HEAD/POST/PUT/DELETE -> 501, HTTP major version other than 1 -> 505,
 *   anything malformed (including Content-Length with Transfer-Encoding) -> 400.
 * Input is hostile network bytes; nothing is trusted before these checks. */
#include "admin/http_parse.h"

#include <ctype.h>
#include <http_parser.h>
#include <string.h>

#include "lib/str.h"
#include "lib/xalloc.h"

struct hp_parser {
	http_parser hp;
	struct hp_request req;
	struct buf url, hname, hvalue;
	int in_value;		/* the last callback was a header value */
	size_t header_fed;	/* bytes fed before the headers were complete */
	char start[20];		/* first bytes of the request (method name for 501 vs 400) */
	size_t start_len;
	int headers_done, complete;
	int status;		/* our refusal (set by a callback), or 0 */
	const char *error;
};

static void
hp_request_clear(struct hp_request *r)
{
	for (size_t i = 0; i < r->n_headers; i++) {
		xfree(r->headers[i].name);
		xfree(r->headers[i].value);
	}
	xfree(r->headers);
	xfree(r->url);
	buf_free(&r->body);
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, HP_MAX_BODY);
}

static int
hp_fail(struct hp_parser *p, int status, const char *error)
{
	if (p->status == 0) {
		p->status = status;
		p->error = error;
	}
	return -1;	/* makes http-parser stop with HPE_CB_* (1 and 2 mean something else in
			 * on_headers_complete) */
}

static int
on_message_begin(http_parser *hp)
{
	(void)hp;
	return 0;
}

static int
on_url(http_parser *hp, const char *at, size_t len)
{
	struct hp_parser *p = hp->data;

	if (p->url.len + len > HP_MAX_URL || buf_append(&p->url, at, len) < 0)
		return hp_fail(p, 414, "request target too long");
	return 0;
}

/* Stores the header collected in hname/hvalue. */
static int
hp_header_done(struct hp_parser *p)
{
	struct hp_request *r = &p->req;
	struct slice v;
	struct hp_header *h;

	if (r->n_headers >= HP_MAX_HEADERS)
		return hp_fail(p, 431, "too many header fields");
	r->headers = xreallocarray(r->headers, r->n_headers + 1, sizeof(*r->headers));
	h = &r->headers[r->n_headers++];
	h->name = xstrndup(p->hname.data ? p->hname.data : "", p->hname.len);
	for (char *c = h->name; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	v = slice_trim((struct slice){ p->hvalue.data ? p->hvalue.data : "", p->hvalue.len });
	h->value = slice_dup(v);
	buf_reset(&p->hname);
	buf_reset(&p->hvalue);
	p->in_value = 0;
	return 0;
}

static int
on_header_field(http_parser *hp, const char *at, size_t len)
{
	struct hp_parser *p = hp->data;

	if (p->in_value && hp_header_done(p) != 0)
		return -1;
	if (buf_append(&p->hname, at, len) < 0)
		return hp_fail(p, 431, "header field too long");
	return 0;
}

static int
on_header_value(http_parser *hp, const char *at, size_t len)
{
	struct hp_parser *p = hp->data;

	p->in_value = 1;
	if (buf_append(&p->hvalue, at, len) < 0)
		return hp_fail(p, 431, "header field too long");
	return 0;
}

static const struct {
	enum http_method lib;
	enum hp_method ours;
} hp_methods[] = {
	{ HTTP_GET, HP_GET }, { HTTP_HEAD, HP_HEAD }, { HTTP_POST, HP_POST },
	{ HTTP_PUT, HP_PUT }, { HTTP_DELETE, HP_DELETE },
};

static int
on_headers_complete(http_parser *hp)
{
	struct hp_parser *p = hp->data;
	struct hp_request *r = &p->req;
	int has_host = 0;

	if (p->in_value && hp_header_done(p) != 0)
		return -1;
	p->headers_done = 1;
	r->url = xstrndup(p->url.data ? p->url.data : "", p->url.len);
	strncpy(r->method_name, http_method_str((enum http_method)hp->method),
	    sizeof(r->method_name) - 1);
	r->method = HP_OTHER;
	for (size_t i = 0; i < sizeof(hp_methods) / sizeof(hp_methods[0]); i++)
		if (hp->method == hp_methods[i].lib)
			r->method = hp_methods[i].ours;
	if (hp->http_major != 1)
		return hp_fail(p, 505, "HTTP version not supported");
	r->http_minor = hp->http_minor;
	if (r->method == HP_OTHER)
		return hp_fail(p, 501, "method not implemented");
	if ((hp->flags & F_CONTENTLENGTH) && hp->content_length > HP_MAX_BODY)
		return hp_fail(p, 413, "request body too large");
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcmp(r->headers[i].name, "host") == 0)
			has_host++;
	/* RFC 9112 §3.2: a 1.1 request without exactly one Host field is a 400 */
	if (hp->http_minor >= 1 && has_host != 1)
		return hp_fail(p, 400, "missing or repeated Host header");
	return 0;
}

static int
on_body(http_parser *hp, const char *at, size_t len)
{
	struct hp_parser *p = hp->data;

	if (buf_append(&p->req.body, at, len) < 0)
		return hp_fail(p, 413, "request body too large");
	return 0;
}

static int
on_message_complete(http_parser *hp)
{
	struct hp_parser *p = hp->data;

	p->complete = 1;
	p->req.keep_alive = http_should_keep_alive(hp) != 0;
	/* stop right after this request: pipelined bytes belong to the next one */
	http_parser_pause(hp, 1);
	return 0;
}

static const http_parser_settings hp_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

struct hp_parser *
hp_new(void)
{
	struct hp_parser *p = xcalloc(1, sizeof(*p));

	buf_init(&p->url, HP_MAX_URL + 1);
	buf_init(&p->hname, HP_MAX_HEADER_BYTES);
	buf_init(&p->hvalue, HP_MAX_HEADER_BYTES);
	buf_init(&p->req.body, HP_MAX_BODY);
	hp_reset(p);
	return p;
}

void
hp_reset(struct hp_parser *p)
{
	hp_request_clear(&p->req);
	buf_reset(&p->url);
	buf_reset(&p->hname);
	buf_reset(&p->hvalue);
	p->in_value = 0;
	p->header_fed = 0;
	p->start_len = 0;
	p->headers_done = p->complete = 0;
	p->status = 0;
	p->error = NULL;
	http_parser_init(&p->hp, HTTP_REQUEST);
	p->hp.data = p;
}

void
hp_free(struct hp_parser **pp)
{
	struct hp_parser *p = *pp;

	if (p == NULL)
		return;
	hp_request_clear(&p->req);
	buf_free(&p->req.body);
	buf_free(&p->url);
	buf_free(&p->hname);
	buf_free(&p->hvalue);
	xfree(p);
	*pp = NULL;
}

int
hp_headers_done(const struct hp_parser *p)
{
	return p->headers_done;
}

int
hp_started(const struct hp_parser *p)
{
	return p->start_len > 0;
}

struct hp_request *
hp_request(struct hp_parser *p)
{
	return &p->req;
}

/* The status for a refusal of the library itself. An unknown method token (letters only, then
 * a space) is a 501; other garbage at the start is a 400. */
static int
hp_lib_status(struct hp_parser *p, enum http_errno e, const char **error_r)
{
	size_t n = 0;

	*error_r = http_errno_description(e);
	switch (e) {
	case HPE_HEADER_OVERFLOW:
		return 431;
	case HPE_INVALID_METHOD:
		while (n < p->start_len && n < 16 && isupper((unsigned char)p->start[n]))
			n++;
		/* the token may be cut by the read: letters up to the end count as a method */
		if (n > 0 && (n == p->start_len || p->start[n] == ' '))
			return 501;
		return 400;
	default:
		return 400;
	}
}

int
hp_feed(struct hp_parser *p, const char *data, size_t len, size_t *used_r, int *status_r,
    const char **error_r)
{
	size_t used = 0;

	*used_r = 0;
	while (used < len) {
		size_t n = len - used, got;
		enum http_errno e;

		if (p->start_len < sizeof(p->start)) {
			size_t k = sizeof(p->start) - p->start_len;

			k = k < n ? k : n;
			memcpy(p->start + p->start_len, data + used, k);
			p->start_len += k;
		}
		if (!p->headers_done) {
			/* never let the header block exceed our limit, whatever the library counts */
			size_t budget = HP_MAX_HEADER_BYTES - p->header_fed;

			if (budget == 0) {
				*status_r = 431;
				*error_r = "request header block too large";
				return -1;
			}
			n = n < budget ? n : budget;
		}
		got = http_parser_execute(&p->hp, &hp_settings, data + used, n);
		if (!p->headers_done)
			p->header_fed += got;
		used += got;
		e = HTTP_PARSER_ERRNO(&p->hp);
		if (p->complete) {
			*used_r = used;
			return 1;
		}
		if (p->status != 0) {
			*status_r = p->status;
			*error_r = p->error;
			return -1;
		}
		if (e != HPE_OK) {
			*status_r = hp_lib_status(p, e, error_r);
			return -1;
		}
		if (got < n) {
			*status_r = 400;
			*error_r = "malformed request";
			return -1;
		}
	}
	*used_r = used;
	return 0;
}

/* 1 if the bytes of b from seg on are "..". */
static int
hp_is_dotdot(const struct buf *b, size_t seg)
{
	return b->len == seg + 2 && b->data[seg] == '.' && b->data[seg + 1] == '.';
}

int
hp_split_target(const char *url, char **path_r, char **query_r, const char **error_r)
{
	const char *path = url, *q;
	struct buf out;
	size_t plen, seg = 0;

	*path_r = *query_r = NULL;
	if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
		/* absolute-form (RFC 9112 §3.2.2): the authority is ignored, the path is used */
		path = strchr(url + (url[4] == 's' ? 8 : 7), '/');
		if (path == NULL)
			path = "/";
	}
	if (path[0] != '/') {
		*error_r = "request target must start with /";
		return -1;
	}
	q = strchr(path, '?');
	plen = q ? (size_t)(q - path) : strlen(path);
	if (memchr(path, '#', plen) != NULL) {
		*error_r = "fragment in request target";
		return -1;
	}
	buf_init(&out, HP_MAX_URL + 1);
	for (size_t i = 0; i < plen; i++) {
		unsigned char c = (unsigned char)path[i];

		if (c == '%') {
			int h, l;

			if (i + 2 >= plen)
				goto bad_escape;
			h = str_hex_digit((unsigned char)path[i + 1]);
			l = str_hex_digit((unsigned char)path[i + 2]);
			if (h < 0 || l < 0)
				goto bad_escape;
			c = (unsigned char)(h * 16 + l);
			if (c == 0) {
				*error_r = "%00 in path";
				goto fail;
			}
			i += 2;
		}
		if (c < 0x20 || c == 0x7f) {
			*error_r = "control character in path";
			goto fail;
		}
		if (c == '/') {
			if (hp_is_dotdot(&out, seg)) {
				*error_r = "\"..\" segment in path";
				goto fail;
			}
			seg = out.len + 1;
		}
		buf_append_char(&out, (char)c);
	}
	if (hp_is_dotdot(&out, seg)) {
		*error_r = "\"..\" segment in path";
		goto fail;
	}
	*path_r = buf_steal(&out);
	*query_r = xstrdup(q ? q + 1 : "");
	return 0;
bad_escape:
	*error_r = "invalid percent escape in path";
fail:
	buf_free(&out);
	return -1;
}
