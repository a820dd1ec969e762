#ifndef ADMIN_HTTP_PARSE_H
#define ADMIN_HTTP_PARSE_H
/* http_parse.h: I/O-free HTTP/1.x request parsing for the admin role, a thin glue over Debian's
 * http-parser (nodejs/http-parser 2.9) with our hard limits. It cannot share a translation unit
 * with admin/http.h (both name their method enum "http_method" with HTTP_GET, ...), so it has its
 * own small request type; admin/httpd.c converts. The limits equal those of admin/http.h
 * (checked there by static assertions). Not thread-safe per parser; no global state. */
#include <stddef.h>

#include "lib/buf.h"

#define HP_MAX_HEADERS		64
#define HP_MAX_HEADER_BYTES	(16 * 1024)	/* request line + all headers, CRLFs included */
#define HP_MAX_URL		4096
#define HP_MAX_BODY		(1024 * 1024)

enum hp_method { HP_GET, HP_HEAD, HP_POST, HP_PUT, HP_DELETE, HP_OTHER };

struct hp_header {
	char *name;		/* lower-cased */
	char *value;		/* leading/trailing blanks removed */
};

struct hp_request {
	enum hp_method method;
	char method_name[16];	/* as sent, for logs ("PATCH") */
	char *url;		/* the raw request target */
	struct hp_header *headers;
	size_t n_headers;
	struct buf body;
	int keep_alive;		/* the client allows another request on this connection */
	int http_minor;		/* 0 or 1 (HTTP/1.x only) */
};

struct hp_parser;

struct hp_parser *hp_new(void);
void hp_free(struct hp_parser **p);
/* Forgets the current request and prepares for the next one on the same connection. */
void hp_reset(struct hp_parser *p);

/* Feeds len bytes. Returns 1 when a request is complete (*used_r bytes were consumed; the rest
 * belongs to the next request), 0 when all bytes were consumed and more are needed, -1 on a bad
 * request: *status_r is the HTTP status to answer (400, 413, 414, 431, 501, 505) and *error_r a
 * static reason; the connection must then be closed after the answer. After 1 or -1, call
 * hp_reset before feeding again. */
int hp_feed(struct hp_parser *p, const char *data, size_t len, size_t *used_r, int *status_r,
    const char **error_r);
/* 1 once the request line and headers are complete (the body may follow), else 0. */
int hp_headers_done(const struct hp_parser *p);
/* 1 once any byte of the current request was fed. */
int hp_started(const struct hp_parser *p);
/* The request; complete only after hp_feed returned 1 (borrowed: valid until hp_reset). */
struct hp_request *hp_request(struct hp_parser *p);

/* Splits the request target into a percent-decoded path and the raw query (text after '?',
 * "" when none). Accepts origin-form ("/a/b?x") and absolute-form ("https://host/a/b").
 * Refuses %00, invalid escapes, a decoded NUL, control characters and ".." segments. Returns 0
 * with fresh allocations in *path_r and *query_r, or -1 with *error_r. */
int hp_split_target(const char *url, char **path_r, char **query_r, const char **error_r);

#endif
