#ifndef ADMIN_OPS_H
#define ADMIN_OPS_H
/* ops.h: shared pieces of the console's operations pages (admin/page_{dkim,queue,layers,
 * branding,users,audit}.c and admin/api_ops.c): parsers of the text that `mailguardctl queue
 * list|show` and `mailguardctl dkim status` print (admin/ops_parse.c, pure, no I/O; fuzzed by
 * tests/fuzz/fuzz_admin_ops.c), and the handlers each page file exports to the route table. */
#include <stddef.h>

#include "admin/http.h"
#include "lib/buf.h"

/* Hard limits of the parsers (the replies come from our own roles, but carry text from mail). */
#define OPS_TEXT_MAX		(64u * 1024 * 1024)	/* a ctl reply (queue/ctl.c CTL_OUT_MAX) */
#define OPS_LINE_MAX		(64u * 1024)
#define OPS_QUEUE_MSGS_MAX	200000
#define OPS_QUEUE_RCPTS_MAX	10000	/* per message */
#define OPS_HEADERS_MAX		200	/* queue show prints at most 200 header lines */
#define OPS_DKIM_DOMAINS_MAX	100000
#define OPS_DKIM_KEYS_MAX	16	/* per domain (the state file holds 8) */
#define OPS_DKIM_ALERTS_MAX	8

struct ops_qrcpt {
	char *addr;		/* as printed (sanitised by the queue role) */
	char state[12];		/* pending, delivered, failed, bounced */
	char dsn[16];		/* "" when none */
	char *diag;		/* NULL when none */
};

struct ops_qmsg {
	char qid[40];
	char state[16];		/* active, deferred, hold, quarantine, rate-limited */
	long long size;
	char arrival[24], next[24];	/* ISO 8601 UTC or "-" */
	int attempts;
	char *sender;		/* "" for the null sender */
	struct ops_qrcpt *rcpts;
	size_t n_rcpts;
	char **headers;		/* queue show only: header lines (continuations joined) */
	size_t n_headers;
	char *error;		/* "unreadable envelope: ..." lines; then only qid is set */
};

struct ops_queue {
	struct ops_qmsg *msgs;
	size_t n;
};

/* Parses `queue list` or `queue show QID` output. 0, or -1 with *error_r (static text); q is
 * empty after a failure. ops_queue_free releases everything. */
int ops_queue_parse(const char *text, size_t len, struct ops_queue *q, const char **error_r);
void ops_queue_free(struct ops_queue *q);
/* The first header named name (case-insensitive) of m, value part, or NULL. */
const char *ops_qmsg_header(const struct ops_qmsg *m, const char *name);
/* True for a queue id as the queue role writes them (1..39 of [0-9a-zA-Z]). */
int ops_qid_is_valid(const char *s);

struct ops_dkey {
	char selector[64];
	char alg[16];		/* rsa2048 / ed25519 */
	char state[16];		/* next, current, retiring, retired */
	char created[24], activates[24], retires[24];
	char dns[96];		/* publish / keep published until DATE / may be removed */
};

struct ops_ddom {
	char domain[256];
	int sign;
	char alg[16];		/* dkim_algorithm: rsa2048, ed25519, both */
	struct ops_dkey keys[OPS_DKIM_KEYS_MAX];
	size_t n_keys;
	char *alerts[OPS_DKIM_ALERTS_MAX];
	size_t n_alerts;
};

struct ops_dkim {
	struct ops_ddom *doms;
	size_t n;
	char now[24];
	int alerts;
};

/* Parses `dkim status [DOMAIN]` output. 0, or -1 with *error_r. */
int ops_dkim_parse(const char *text, size_t len, struct ops_dkim *d, const char **error_r);
void ops_dkim_free(struct ops_dkim *d);
const struct ops_ddom *ops_dkim_find(const struct ops_dkim *d, const char *domain);

/* A domain name as a protected domain may be called (1..253 of [a-z0-9.-], lower case). */
int ops_domain_is_valid(const char *s);

/* ops_common.c: plumbing shared by the operations pages and their API (loop thread). ---------- */
struct http_request;
struct http_response;

/* A response as a pending handler builds it (body and headers initialised with the transport's
 * limits); ops_resp_free releases it after http_finish copied it. */
void ops_resp_init(struct http_response *resp);
void ops_resp_free(struct http_response *resp);

/* Runs a control command for a request and answers it when the reply comes: done fills resp
 * (status 0 ok, 1 failed, 2 usage; text is what mailguardctl prints), then ops_ctl finishes the
 * request. Returns HTTP_PENDING for the handler to return. argv is copied by admin_ctl. */
typedef void ops_ctl_done(struct http_request *req, struct http_response *resp, int status,
    const char *text, void *arg);
int ops_ctl(struct http_request *req, int argc, const char *const *argv, ops_ctl_done *done,
    void *arg);

/* The rest of the path after prefix ("/queue/" + "abc/hold" -> "abc/hold"), or NULL. */
const char *ops_path_tail(const struct http_request *req, const char *prefix);
/* Splits "A/B" into a (copied, at most size) and returns B (or "" when there is no '/'). NULL
 * when A is too long or empty. */
const char *ops_path_split(const char *tail, char *a, size_t size);

/* A page showing the outcome of an action: ok or failed, the control text in <pre>, a link back. */
void ops_result_page(const struct http_request *req, struct http_response *resp,
    const char *title, int ok, const char *text, const char *back);
/* A confirmation page: question, a POST form to action with confirm=yes, CSRF and (field !=
 * NULL) one more hidden field, and a cancel link to back. */
void ops_confirm_page(const struct http_request *req, struct http_response *resp,
    const char *title, const char *question, const char *action, const char *back,
    const char *field, const char *value);
/* 1 when the form carries confirm=yes. */
int ops_confirmed(const struct http_request *req);

/* JSON API output: sets status, content type and the compact dump of j (decref'd). */
struct json_t;
void ops_json(struct http_response *resp, int status, struct json_t *j);
/* {"ok":ok,"output":text} with 200, or 409 for status 1 and 400 for status 2 of a ctl reply. */
void ops_json_ctl(struct http_response *resp, int status, const char *text);
/* Parses the request body as a JSON object (at most HTTP_MAX_BODY, no duplicate keys); NULL and
 * an error response already set on resp when it is not one. */
struct json_t *ops_json_body(const struct http_request *req, struct http_response *resp);

/* ops_settings.c: a group of global settings of mailguard.conf as a form and a JSON resource. */
struct json_t;
struct ops_key {
	const char *name;	/* setting name (global scope) */
	int multi;		/* repeatable: one value per line */
	const char *label;
};
struct ops_settings_page {
	const char *path;	/* "/layers": the form posts here, redirects to path?saved=1 */
	const char *title;
	const char *audit_target;	/* audit record target */
	const struct ops_key *keys;
	size_t n_keys;
	void (*intro)(struct buf *o, const struct http_request *req);	/* before the form */
	void (*outro)(struct buf *o, const struct http_request *req);	/* after the form */
	void (*extra_json)(struct json_t *j);	/* adds page-specific members to GET JSON */
};
/* GET: the form (api = 0) or {"version":..., "settings":{name: string|null|[strings]}}.
 * POST (form) / PUT (JSON object of names, optional "version"): edits mailguard.conf; keys not
 * posted stay as they are, an empty value or null removes the key (default). */
enum http_result ops_settings_get(struct http_request *req, struct http_response *resp,
    const struct ops_settings_page *pg, int api);
enum http_result ops_settings_post(struct http_request *req, struct http_response *resp,
    const struct ops_settings_page *pg, int api);

/* Route handlers (admin/api_ops.c lists them in admin_ops_routes). ------------------------- */
http_handler ops_page_queue, ops_page_queue_msg, ops_post_queue, ops_api_queue, ops_api_queue_get,
    ops_api_queue_delete, ops_api_queue_post;
http_handler ops_page_layers, ops_post_layers, ops_api_layers, ops_api_layers_put;
http_handler ops_page_branding, ops_post_branding, ops_api_branding, ops_api_branding_put;
http_handler ops_page_users, ops_post_users, ops_api_users, ops_api_users_post, ops_api_users_delete;
http_handler ops_page_audit, ops_api_audit;
http_handler ops_page_dkim, ops_post_dkim, ops_api_dkim, ops_api_dkim_domain, ops_api_dkim_post;

#endif
