#ifndef ADMIN_PAGE_DMARC_H
#define ADMIN_PAGE_DMARC_H
/* page_dmarc.h: the console's DMARC views (issue I): the pages /dmarc, /dmarc/DOMAIN and
 * /dmarc/DOMAIN/report?id=... (admin/page_dmarc.c, page_dmarc_domain.c) and the JSON API
 * /api/v1/dmarc... and /api/v1/tls-reports/... (admin/api_dmarc.c, which also holds the route
 * table admin_dmarc_routes, listed by admin/router.c).
 *
 * Everything comes from the filter role through control commands with --json (`mailguardctl
 * dmarc domains|summary|reports|show`, `tls-reports summary|reports`): one request runs up to
 * DV_CMDS_MAX of them in turn, each reply is checked to be one JSON object (jansson, duplicate
 * keys refused) and then rendered. The reports' contents are hostile (org names, report ids,
 * domains, PTR names): pages print them through html_printf / html_esc only, links carry them
 * percent-encoded. Admin role, loop thread. */
#include <stddef.h>

#include "admin/http.h"
#include "lib/buf.h"

#define DV_DAYS_DEFAULT		30
#define DV_DAYS_MAX		366
#define DV_SPAN_MAX		3660	/* days of a ?since=&until= period (the filter's cap) */
#define DV_LIMIT_DEFAULT	200
#define DV_LIMIT_MAX		10000
#define DV_ID_MAX		1600	/* a report identity from the URL, octets */
#define DV_CMDS_MAX		3
#define DV_ARGS_MAX		10

struct json_t;

/* The reply of one control command. */
struct dv_reply {
	int status;		/* exit status (0 ok, 1 error, 2 usage); -1 = not a JSON object */
	char *text;		/* the command's text (error text when status != 0) */
	struct json_t *j;	/* the JSON object when status == 0, else NULL */
};

/* One console or API request and its control commands. */
struct dv {
	struct http_request *req;	/* borrowed: valid until http_finish */
	int api;
	char domain[256];	/* "" for /dmarc */
	int days;		/* days in the period (also of a since/until period) */
	int absolute;		/* ?since=[&until=] given: since_s / until_s name the days */
	long long since_t;	/* 00:00 UTC of the first day (absolute periods) */
	long long limit;
	char *id;		/* report identity (drill-down), or NULL */
	char days_s[8], limit_s[16], since_s[16], until_s[16];
	struct {
		const char *argv[DV_ARGS_MAX];	/* borrowed: string literals and the fields above */
		int argc;
	} cmd[DV_CMDS_MAX];
	size_t n_cmds, next;
	struct dv_reply r[DV_CMDS_MAX];
	void (*render)(struct dv *v, struct http_response *resp);
};

/* api_dmarc.c: request plumbing shared by pages and API. ------------------------------------- */

/* A new request context; the period from ?days= (1..366, default 30) or ?since=YYYY-MM-DD
 * [&until=YYYY-MM-DD] (default today; at most 3660 days; not with days), limit from ?limit=.
 * NULL with a 400 already set on resp when a parameter is not valid. */
struct dv *dv_new(struct http_request *req, struct http_response *resp, int api);
/* Appends the command w0 w1 [w2] PERIOD [--limit N] --json (PERIOD: --days N, or --since S
 * --until U). tls != 0: a tls-reports command, which knows only --days: an absolute period
 * is given as --days N when it ends today and spans at most 366 days; returns -1 (nothing
 * added) when it cannot be expressed. */
int dv_add_cmd(struct dv *v, const char *w0, const char *w1, const char *w2, int limit);
/* Appends the period as a query ("days=30" or "since=...&amp;until=...", HTML-escaped). */
void dv_period_query(struct buf *o, const struct dv *v);
/* Takes the domain from the path after prefix ("example.org" or "example.org/VERB") into
 * v->domain and returns VERB ("" when none), or NULL with 400 (not a DNS name) or 404 (not a
 * protected domain) set on resp and v freed. */
const char *dv_path_domain(struct dv *v, struct http_response *resp, const char *prefix);
/* Appends one command (argv of string literals or pointers into v; at most DV_ARGS_MAX). */
void dv_add(struct dv *v, int argc, const char *const *argv);
/* Runs the commands in turn, then render(v, resp), http_finish and frees v. HTTP_PENDING. */
enum http_result dv_run(struct dv *v, void (*render)(struct dv *v, struct http_response *resp));
void dv_free(struct dv *v);
/* The HTTP status for a failed reply: 400 usage, 404 unknown domain or report, 504 timeout,
 * 502 otherwise (the filter failed or answered something that is not a JSON object). */
int dv_error_status(const struct dv_reply *r);
/* The reply's error message without "error: " and the trailing newline, into dst. */
void dv_error_text(const struct dv_reply *r, char *dst, size_t size);
/* A report identity from the URL: 1..DV_ID_MAX printable ASCII octets with a '|' (the store's
 * "org|report_id"). */
int dv_id_is_valid(const char *s);

/* JSON access with defaults (0, "", NULL) for missing members or members of another type. */
long long dv_int(const struct json_t *o, const char *key);
const char *dv_str(const struct json_t *o, const char *key);
struct json_t *dv_arr(const struct json_t *o, const char *key);	/* borrowed */
struct json_t *dv_obj(const struct json_t *o, const char *key);	/* borrowed */

/* page_dmarc.c: HTML helpers and the overview and report pages. ----------------------------- */

/* Appends s percent-encoded for a query value (everything but [A-Za-z0-9._~-] as %XX). */
void dv_url_enc(struct buf *out, const char *s);
/* "2026-11-20 14:03" (UTC) of unix time t; "-" for 0. */
void dv_time_text(char *dst, size_t size, long long t);
/* The period selector (7 / 30 / 90 / 365 days linking to base?days=N, and a GET form for
 * since / until dates). */
void dv_period_links(struct buf *o, const char *base, const struct dv *v);
/* A card with a number and a label. */
void dv_card(struct buf *o, const char *label, long long v);
/* "97.5%" of part / whole, "-" when whole is 0. */
void dv_rate(struct buf *o, long long part, long long whole);
/* An error paragraph for a failed reply; returns its HTTP status (dv_error_status). */
int dv_page_error(struct buf *o, const struct dv_reply *r, const char *what);

/* The pages: dv_render_* write the frame (html_page_begin/end) around dv_body_*, which write
 * the content from v's replies (pure: no I/O, no configuration; fuzzed by
 * tests/fuzz/fuzz_admin_dmarc.c) and return the HTTP status (200, or that of a failed reply). */
/* The console frame titled title around body's content; the status is body's. */
void dv_render_frame(struct dv *v, struct http_response *resp, const char *title,
    int (*body)(struct buf *, const struct dv *));
void dv_render_overview(struct dv *v, struct http_response *resp);
void dv_render_report(struct dv *v, struct http_response *resp);
int dv_body_overview(struct buf *o, const struct dv *v);
int dv_body_report(struct buf *o, const struct dv *v);
/* page_dmarc_domain.c */
void dv_render_domain(struct dv *v, struct http_response *resp);
int dv_body_domain(struct buf *o, const struct dv *v);

extern const struct admin_route admin_dmarc_routes[];	/* admin/api_dmarc.c */

#endif
