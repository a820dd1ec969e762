/* httpd.c: the admin role's HTTP transport: accepts on the console (TLS, OpenSSL with the
 * policy of common/tls.c) and metrics (plain HTTP) listeners on the role's libev loop, reads
 * requests through the I/O-free parser (admin/http_parse.c), decodes path, query and form
 * (admin/form.c), hands complete requests to the router and writes the responses with the
 * security headers. HTTP/1.1 keep-alive, HEAD, Content-Length responses only.
 * Peer bytes are hostile: limits of admin/http.h, at most admin_max_connections connections
 * (more are closed), deadlines: TLS handshake + headers HTTPD_HEADER_TIMEOUT, body
 * HTTPD_BODY_TIMEOUT, keep-alive idle HTTPD_IDLE_TIMEOUT, HTTPD_MAX_REQUESTS per connection.
 * Main loop thread only. */
#include "admin/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin/form.h"
#include "admin/http_parse.h"
#include "lib/evconn.h"
#include "lib/log.h"
#include "lib/sanitize.h"
#include "lib/str.h"
#include "lib/xalloc.h"

_Static_assert(HP_MAX_HEADERS == HTTP_MAX_HEADERS, "header count limits differ");
_Static_assert(HP_MAX_HEADER_BYTES == HTTP_MAX_HEADER_BYTES, "header size limits differ");
_Static_assert(HP_MAX_URL == HTTP_MAX_URL, "URL limits differ");
_Static_assert(HP_MAX_BODY == HTTP_MAX_BODY, "body limits differ");
_Static_assert((int)HP_GET == (int)HTTP_GET && (int)HP_HEAD == (int)HTTP_HEAD &&
    (int)HP_POST == (int)HTTP_POST && (int)HP_PUT == (int)HTTP_PUT &&
    (int)HP_DELETE == (int)HTTP_DELETE && (int)HP_OTHER == (int)HTTP_OTHER, "method enums differ");

#define HTTPD_LISTEN_MAX 32
#define HTTPD_IN_MAX (64 * 1024)	/* read buffer; the parser copies what it keeps */
#define HTTPD_RESP_MAX (16u * 1024 * 1024)

static const char httpd_csp[] = "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

enum hc_state { HC_TLS, HC_READ, HC_BUSY, HC_WRITE };

struct hxact;

struct hconn {
	struct evconn *ec;
	struct hp_parser *hp;
	int is_metrics;
	enum hc_state state;
	ev_timer deadline;
	unsigned n_requests;
	int close_after;	/* close once the response is written */
	int idle;		/* waiting for the first byte of a further request */
	int in_body;		/* headers complete, body deadline running */
	struct hxact *x;	/* the request being handled (state HC_BUSY) */
	char peer[64];
	struct hconn *prev, *next;
};

/* One request from its completion to its response; outlives its connection when the handler is
 * pending and the client goes away (c = NULL: the response is discarded). */
struct hxact {
	struct http_request req;
	struct http_response resp;
	struct hconn *c;
	double t0;
	int keep_alive;
	char method_name[16];
};

static struct {
	struct ev_loop *loop;
	ev_io listen_w[HTTPD_LISTEN_MAX];
	int listen_metrics[HTTPD_LISTEN_MAX];
	int n_listen;
	ev_timer accept_retry;
	SSL_CTX *tls;
	long max_conns;
	size_t n_conns;
	struct hconn *conns;
} hd;

static void hconn_free(struct hconn *c);
static void hconn_input(struct hconn *c);

static const struct {
	int code;
	const char *reason;
} http_reasons[] = {
	{ 200, "OK" }, { 201, "Created" }, { 204, "No Content" }, { 301, "Moved Permanently" },
	{ 302, "Found" }, { 303, "See Other" }, { 304, "Not Modified" }, { 400, "Bad Request" },
	{ 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" },
	{ 405, "Method Not Allowed" }, { 408, "Request Timeout" }, { 409, "Conflict" },
	{ 413, "Content Too Large" }, { 414, "URI Too Long" }, { 415, "Unsupported Media Type" },
	{ 422, "Unprocessable Content" }, { 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" }, { 500, "Internal Server Error" },
	{ 501, "Not Implemented" }, { 502, "Bad Gateway" }, { 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" }, { 505, "HTTP Version Not Supported" },
};

static const char *
http_reason(int code)
{
	for (size_t i = 0; i < sizeof(http_reasons) / sizeof(http_reasons[0]); i++)
		if (http_reasons[i].code == code)
			return http_reasons[i].reason;
	return "Status";
}

static void
hconn_deadline(struct hconn *c, double seconds)
{
	ev_timer_stop(hd.loop, &c->deadline);
	if (seconds > 0) {
		ev_timer_set(&c->deadline, seconds, 0);
		ev_timer_start(hd.loop, &c->deadline);
	}
}

static void
hxact_free(struct hxact *x)
{
	struct http_request *r = &x->req;

	xfree(r->path);
	xfree(r->raw_query);
	for (size_t i = 0; i < r->n_headers; i++) {
		xfree(r->headers[i].name);
		xfree(r->headers[i].value);
	}
	xfree(r->headers);
	buf_free(&r->body);
	form_fields_free(r->query, r->n_query);
	form_fields_free(r->form, r->n_form);
	buf_free(&x->resp.body);
	buf_free(&x->resp.headers);
	xfree(x);
}

static int
has_header(const struct buf *h, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = h->data; p != NULL && p < h->data + h->len; ) {
		const char *nl = memchr(p, '\n', (size_t)(h->data + h->len - p));

		if ((size_t)(h->data + h->len - p) > n && strncasecmp(p, name, n) == 0 &&
		    p[n] == ':')
			return 1;
		p = nl ? nl + 1 : NULL;
	}
	return 0;
}

/* Writes status line, headers and body of resp to the connection. */
static void
hconn_write_response(struct hconn *c, const struct http_response *resp, int head)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	int status = resp->status ? resp->status : 200;
	int no_body = head || status == 204 || status == 304;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	evconn_printf(c->ec, "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nConnection: %s\r\n", status, http_reason(status), date,
	    resp->content_type ? resp->content_type : "text/html; charset=utf-8", resp->body.len,
	    c->close_after ? "close" : "keep-alive");
	if (!c->is_metrics)
		evconn_printf(c->ec, "Strict-Transport-Security: max-age=31536000\r\n");
	if (!has_header(&resp->headers, "Content-Security-Policy"))
		evconn_printf(c->ec, "Content-Security-Policy: %s\r\n", httpd_csp);
	if (!has_header(&resp->headers, "Cache-Control"))
		evconn_printf(c->ec, "Cache-Control: no-store\r\n");
	evconn_printf(c->ec, "X-Content-Type-Options: nosniff\r\nReferrer-Policy: same-origin\r\n"
	    "X-Frame-Options: DENY\r\n");
	if (resp->headers.len > 0)
		evconn_write(c->ec, resp->headers.data, resp->headers.len);
	evconn_write(c->ec, "\r\n", 2);
	if (!no_body && resp->body.len > 0)
		evconn_write(c->ec, resp->body.data, resp->body.len);
	c->state = HC_WRITE;
	evconn_read_enable(c->ec, 0);
	hconn_deadline(c, HTTPD_WRITE_TIMEOUT);
	evconn_notify_drained(c->ec);
}

static void
httpd_log(const struct hxact *x, const char *peer, int status, size_t bytes)
{
	char path[SANITIZE_MAX + 4];
	const char *p = x->req.path ? x->req.path : "-";

	sanitize(path, p, strlen(p));
	log_info("http %s %s status=%d bytes=%zu ms=%.1f peer=%s user=%s", x->method_name, path,
	    status, bytes, (ev_time() - x->t0) * 1000.0, peer,
	    x->req.who ? x->req.who->user : "-");
}

/* Sends x's response (or drops it when the client is gone) and frees x. */
static void
hxact_respond(struct hxact *x)
{
	struct hconn *c = x->c;
	int status = x->resp.status ? x->resp.status : 200;

	httpd_log(x, c ? c->peer : x->req.peer, status, x->resp.body.len);
	if (c != NULL) {
		c->x = NULL;
		if (!x->keep_alive || c->n_requests >= HTTPD_MAX_REQUESTS ||
		    (status >= 500 && status != 503))
			c->close_after = 1;
		hconn_write_response(c, &x->resp, x->req.method == HTTP_HEAD);
	}
	hxact_free(x);
}

/* A refusal before routing (bad request, limits, timeout): answer and close. */
static void
hconn_refuse(struct hconn *c, int status, const char *why)
{
	struct http_response resp;
	char peer_why[SANITIZE_MAX + 4];

	memset(&resp, 0, sizeof(resp));
	resp.status = status;
	resp.content_type = "text/plain; charset=utf-8";
	buf_init(&resp.body, 4096);
	buf_init(&resp.headers, 4096);
	buf_printf(&resp.body, "%d %s\n", status, http_reason(status));
	sanitize(peer_why, why, strlen(why));
	log_info("http refused status=%d peer=%s reason=%s", status, c->peer, peer_why);
	c->close_after = 1;
	hconn_write_response(c, &resp, 0);
	buf_free(&resp.body);
	buf_free(&resp.headers);
}

static int
is_form(const char *ct)
{
	static const char form[] = "application/x-www-form-urlencoded";

	return ct != NULL && strncasecmp(ct, form, sizeof(form) - 1) == 0 &&
	    (ct[sizeof(form) - 1] == '\0' || ct[sizeof(form) - 1] == ';' ||
	    ct[sizeof(form) - 1] == ' ');
}

/* Moves the parsed request into a new transaction and decodes path, query and form. Returns
 * NULL after refusing the request. */
static struct hxact *
hconn_take_request(struct hconn *c)
{
	struct hp_request *hr = hp_request(c->hp);
	struct hxact *x = xcalloc(1, sizeof(*x));
	struct http_request *r = &x->req;
	const char *err;

	x->c = c;
	x->t0 = ev_time();
	x->keep_alive = hr->keep_alive;
	str_lcpy(x->method_name, hr->method_name, sizeof(x->method_name));
	r->method = (enum http_method)hr->method;
	r->method_name = x->method_name;
	r->headers = xcalloc(hr->n_headers + 1, sizeof(*r->headers));
	for (size_t i = 0; i < hr->n_headers; i++) {
		r->headers[i].name = hr->headers[i].name;
		r->headers[i].value = hr->headers[i].value;
	}
	r->n_headers = hr->n_headers;
	hr->n_headers = 0;	/* moved */
	r->body = hr->body;
	buf_init(&hr->body, HP_MAX_BODY);
	str_lcpy(r->peer, c->peer, sizeof(r->peer));
	r->is_tls = !c->is_metrics;
	r->via_metrics = c->is_metrics;
	r->conn = x;
	x->resp.status = 200;
	buf_init(&x->resp.body, HTTPD_RESP_MAX);
	buf_init(&x->resp.headers, 64 * 1024);
	if (hp_split_target(hr->url, &r->path, &r->raw_query, &err) < 0 ||
	    form_decode(r->raw_query, strlen(r->raw_query), &r->query, &r->n_query, &err) < 0 ||
	    (is_form(http_header_get(r, "content-type")) &&
	    form_decode(r->body.data ? r->body.data : "", r->body.len, &r->form, &r->n_form,
	    &err) < 0)) {
		hconn_refuse(c, 400, err);
		hxact_free(x);
		return NULL;
	}
	return x;
}

static void
hconn_request(struct hconn *c)
{
	struct hxact *x = hconn_take_request(c);

	hp_reset(c->hp);
	c->in_body = 0;
	if (x == NULL)
		return;
	c->n_requests++;
	c->state = HC_BUSY;
	c->x = x;
	evconn_read_enable(c->ec, 0);
	hconn_deadline(c, 0);
	if (router_dispatch(&x->req, &x->resp) == HTTP_DONE)
		hxact_respond(x);
}

void
http_finish(struct http_request *req, struct http_response *resp)
{
	struct hxact *x = req->conn;

	if (resp != &x->resp) {
		x->resp.status = resp->status;
		x->resp.content_type = resp->content_type;
		buf_reset(&x->resp.body);
		buf_reset(&x->resp.headers);
		if (buf_append(&x->resp.body, resp->body.data, resp->body.len) < 0 ||
		    buf_append(&x->resp.headers, resp->headers.data, resp->headers.len) < 0)
			panic("http_finish: response too large");
	}
	hxact_respond(x);
}

/* Feeds buffered input to the parser. */
static void
hconn_input(struct hconn *c)
{
	struct buf *in = evconn_in(c->ec);
	size_t used;
	int status, r;
	const char *err;

	if (c->state != HC_READ || in->len == 0)
		return;
	if (c->idle) {
		/* the first byte of a further request: its headers get the usual deadline */
		c->idle = 0;
		hconn_deadline(c, HTTPD_HEADER_TIMEOUT);
	}
	r = hp_feed(c->hp, in->data, in->len, &used, &status, &err);
	buf_consume(in, used);
	if (r < 0) {
		hconn_refuse(c, status, err);
		return;
	}
	if (r == 0) {
		if (hp_headers_done(c->hp) && !c->in_body) {
			/* headers in: the body gets its own deadline */
			c->in_body = 1;
			hconn_deadline(c, HTTPD_BODY_TIMEOUT);
		}
		return;
	}
	hconn_request(c);
}

static void
hconn_cb(struct evconn *ec, enum evconn_event ev, void *arg)
{
	struct hconn *c = arg;

	(void)ec;
	switch (ev) {
	case EVCONN_TLS_DONE:
		c->state = HC_READ;
		return;
	case EVCONN_READ:
		hconn_input(c);
		return;
	case EVCONN_DRAINED:
		if (c->state != HC_WRITE)
			return;
		if (c->close_after) {
			hconn_free(c);
			return;
		}
		c->state = HC_READ;
		c->idle = 1;
		hconn_deadline(c, HTTPD_IDLE_TIMEOUT);
		evconn_read_enable(c->ec, 1);
		hconn_input(c);
		return;
	case EVCONN_ERROR:
		if (c->state == HC_TLS)
			log_info("http peer=%s TLS handshake failed: %s", c->peer, evconn_error(c->ec));
		else
			log_debug("http peer=%s connection error: %s", c->peer, evconn_error(c->ec));
		hconn_free(c);
		return;
	case EVCONN_EOF:
	case EVCONN_TIMEOUT:
	default:
		hconn_free(c);
		return;
	}
}

static void
hconn_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct hconn *c = w->data;

	(void)loop;
	(void)revents;
	if (c->state == HC_READ && !c->idle && hp_started(c->hp)) {
		hconn_refuse(c, 408, "request not received in time");
		return;
	}
	log_debug("http peer=%s closed: %s deadline", c->peer,
	    c->state == HC_TLS ? "TLS handshake" : c->state == HC_WRITE ? "write" : "idle");
	hconn_free(c);
}

static void
hconn_free(struct hconn *c)
{
	if (c->x != NULL)
		c->x->c = NULL;	/* the handler completes it into the void */
	ev_timer_stop(hd.loop, &c->deadline);
	evconn_free(&c->ec);
	hp_free(&c->hp);
	if (c->prev)
		c->prev->next = c->next;
	else
		hd.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	hd.n_conns--;
	xfree(c);
}

static void
peer_text(int fd, char *dst, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	str_lcpy(dst, "?", size);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, dst, (socklen_t)size);
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, dst, (socklen_t)size);
}

static void
hconn_new(int fd, int is_metrics)
{
	struct hconn *c;

	if ((long)hd.n_conns >= hd.max_conns || (!is_metrics && hd.tls == NULL)) {
		char peer[64];

		peer_text(fd, peer, sizeof(peer));
		log_info("http peer=%s refused: %s", peer, hd.tls == NULL && !is_metrics ?
		    "no TLS certificate loaded" : "too many connections");
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	peer_text(fd, c->peer, sizeof(c->peer));
	c->is_metrics = is_metrics;
	c->hp = hp_new();
	c->ec = evconn_new(hd.loop, fd, HTTPD_IN_MAX, hconn_cb, c);
	ev_init(&c->deadline, hconn_deadline_cb);
	c->deadline.data = c;
	hconn_deadline(c, HTTPD_HEADER_TIMEOUT);
	c->next = hd.conns;
	if (hd.conns)
		hd.conns->prev = c;
	hd.conns = c;
	hd.n_conns++;
	if (is_metrics) {
		c->state = HC_READ;
	} else {
		c->state = HC_TLS;
		if (evconn_start_tls(c->ec, hd.tls, 1, NULL) < 0) {
			log_err("http: cannot set up TLS for a connection");
			hconn_free(c);
		}
	}
}

static void
httpd_accept_pause(void)
{
	for (int i = 0; i < hd.n_listen; i++)
		ev_io_stop(hd.loop, &hd.listen_w[i]);
	ev_timer_set(&hd.accept_retry, 1.0, 0);
	ev_timer_start(hd.loop, &hd.accept_retry);
}

static void
httpd_accept_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	for (int i = 0; i < hd.n_listen; i++)
		ev_io_start(loop, &hd.listen_w[i]);
}

static void
httpd_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	int is_metrics = hd.listen_metrics[w - hd.listen_w];

	(void)loop;
	(void)revents;
	for (int n = 0; n < 64; n++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_warn("http: accept: %m; pausing for a second");
				httpd_accept_pause();
			}
			return;
		}
		hconn_new(fd, is_metrics);
	}
}

void
httpd_init(struct ev_loop *loop)
{
	hd.loop = loop;
	hd.max_conns = 64;
	ev_timer_init(&hd.accept_retry, httpd_accept_retry_cb, 1.0, 0);
}

void
httpd_listen(int fd, int is_metrics)
{
	if (hd.n_listen >= HTTPD_LISTEN_MAX)
		fatal("admin: more than %d listeners", HTTPD_LISTEN_MAX);
	hd.listen_metrics[hd.n_listen] = is_metrics;
	ev_io_init(&hd.listen_w[hd.n_listen], httpd_accept_cb, fd, EV_READ);
	ev_io_start(hd.loop, &hd.listen_w[hd.n_listen]);
	hd.n_listen++;
}

void
httpd_set_tls(SSL_CTX *ctx)
{
	/* connections in progress keep a reference of their own (SSL_new) */
	if (hd.tls != NULL)
		SSL_CTX_free(hd.tls);
	hd.tls = ctx;
}

void
httpd_set_max_connections(long n)
{
	hd.max_conns = n > 0 ? n : 1;
}

void
httpd_stop(void)
{
	ev_timer_stop(hd.loop, &hd.accept_retry);
	for (int i = 0; i < hd.n_listen; i++) {
		ev_io_stop(hd.loop, &hd.listen_w[i]);
		close(hd.listen_w[i].fd);
	}
	hd.n_listen = 0;
	while (hd.conns != NULL)
		hconn_free(hd.conns);
}

size_t
httpd_connections(void)
{
	return hd.n_conns;
}
