#ifndef ADMIN_HTTP_H
#define ADMIN_HTTP_H
/* http.h: the admin role's HTTP layer, between the transport (admin/httpd.c: TLS on libev,
 * requests parsed by http-parser with hard limits) and the handlers (pages, JSON API, /metrics).
 *
 * A handler gets a complete, bounded request and fills a response. It returns HTTP_DONE when the
 * response is ready, or HTTP_PENDING when it waits for something asynchronous (a control reply
 * through admin_ctl); it must then call http_finish(req) exactly once later. The request stays
 * valid until http_finish, even if the client has gone (the response is then discarded).
 *
 * Authentication, CSRF checks and security headers are applied centrally by the dispatcher
 * (admin/router.c) according to the route's flags, before the handler runs: a handler of a
 * ROUTE_PAGE route may assume a logged-in admin (req->who) and, for POST, a valid CSRF token. */
#include <stddef.h>

#include "lib/buf.h"

/* Hard limits of the transport (answers: 400, 413, 414, 431, 503). */
#define HTTP_MAX_HEADERS	64
#define HTTP_MAX_HEADER_BYTES	(16 * 1024)	/* request line + all headers */
#define HTTP_MAX_URL		4096
#define HTTP_MAX_BODY		(1024 * 1024)
#define HTTP_MAX_FORM_FIELDS	256

enum http_method { HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_DELETE, HTTP_OTHER };
enum http_result { HTTP_DONE = 0, HTTP_PENDING = 1 };

struct http_header {
	char *name;		/* lower-cased */
	char *value;		/* leading/trailing blanks removed */
};

/* A decoded application/x-www-form-urlencoded or query-string field (admin/form.c). */
struct http_field {
	char *name;
	char *value;		/* percent- and '+'-decoded; may contain any byte but NUL */
};

struct admin_who {
	char user[64];		/* admin user name, or "token:NAME" for API tokens */
	int is_api;		/* authenticated by an API token (JSON API), not a session */
};

struct http_request {
	enum http_method method;
	char *path;		/* percent-decoded path without the query ("/domains/example.org") */
	char *raw_query;	/* text after '?', "" when none */
	struct http_header *headers;
	size_t n_headers;
	struct buf body;	/* at most HTTP_MAX_BODY */
	struct http_field *query;	/* decoded raw_query */
	size_t n_query;
	struct http_field *form;	/* decoded body when Content-Type is form-urlencoded */
	size_t n_form;
	char peer[64];		/* client IP address as text */
	struct admin_who *who;	/* NULL when not authenticated, else &who_store */
	const char *csrf;	/* NULL without a session, else csrf_store */
	struct admin_who who_store;	/* the request's own copies (admin/session.c fills them): */
	char csrf_store[72];		/* valid for the request's life, also across HTTP_PENDING */
	void *conn;		/* borrowed: transport's connection (opaque to handlers) */
	int is_tls;		/* arrived over TLS (a console listener) */
	int via_metrics;	/* arrived on a plain-HTTP metrics_listen socket: only ROUTE_METRICS
				 * routes are served there, without authentication */
	const char *method_name;	/* borrowed: the method as sent, for logs */
};

struct http_response {
	int status;		/* 200 unless set */
	const char *content_type;	/* static string; default "text/html; charset=utf-8" */
	struct buf body;
	struct buf headers;	/* extra "Name: value\r\n" lines (Location, Set-Cookie, ...) */
};

/* Returns the value of header name (lower case), or NULL. The last one when repeated. */
const char *http_header_get(const struct http_request *req, const char *name);
/* Returns the decoded query / form field, or NULL. The first one when repeated. */
const char *http_query_get(const struct http_request *req, const char *name);
const char *http_form_get(const struct http_request *req, const char *name);
/* Adds a response header line; name and value must not contain CR or LF (panics on our bug). */
void http_response_header(struct http_response *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets a 303 redirect to a local path (must start with '/'). */
void http_redirect(struct http_response *resp, const char *path);
/* Sets status and a small escaped HTML (or JSON for API requests) error body. */
void http_error(const struct http_request *req, struct http_response *resp, int status,
    const char *message);
/* Completes an HTTP_PENDING request with resp (copied). */
void http_finish(struct http_request *req, struct http_response *resp);

/* Route flags. */
#define ROUTE_PUBLIC	0x01	/* no login (login page, static assets, digest links) */
#define ROUTE_PAGE	0x02	/* console page: session cookie; POST needs the CSRF token */
#define ROUTE_API	0x04	/* JSON API: "Authorization: Bearer TOKEN" or a session (+ CSRF
				 * header X-CSRF-Token for state-changing methods) */
#define ROUTE_PREFIX	0x08	/* path matches when it starts with pattern */
#define ROUTE_METRICS	0x10	/* /metrics: API token, or any client on a metrics_listen */

typedef enum http_result http_handler(struct http_request *req, struct http_response *resp);

struct admin_route {
	enum http_method method;	/* HTTP_GET routes also answer HEAD */
	const char *pattern;
	unsigned flags;
	http_handler *handler;
};

#endif
