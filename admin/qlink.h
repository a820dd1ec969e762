#ifndef ADMIN_QLINK_H
#define ADMIN_QLINK_H
/* qlink.h: shared pieces of the quarantine pages of the admin role (issue G): the public
 * one-click link endpoint /q/TOKEN (admin/page_qlink.c) and the console's Quarantine page with
 * its JSON API (admin/page_quarantine.c). Parsers of the queue's `quarantine show|search
 * --json` replies (admin/qlink_parse.c: pure, bounded, fuzzed by tests/fuzz/fuzz_qlink.c), the
 * single-use and rate-limit state of links (admin/qlink_store.c), and the allow/block-sender
 * list edit both pages make (admin/qlink_lists.c). Admin role, loop thread only. */
#include <stddef.h>
#include <stdint.h>

#include "admin/http.h"
#include "lib/buf.h"

/* Hard limits of the parsers (the replies come from our queue role but carry mail text). */
#define QV_TEXT_MAX	(64u * 1024 * 1024)	/* a ctl reply (queue/ctl.c CTL_OUT_MAX) */
#define QV_MSGS_MAX	10000			/* messages in one search page (QUAR_LIMIT_MAX) */
#define QV_RCPTS_MAX	1000			/* recipients kept per message (QUAR_RCPTS_MAX) */
#define QV_HEADERS_MAX	200
#define QV_STR_MAX	(256u * 1024)		/* one string (the preview is <= 64 KiB) */
#define QV_ARG_MAX	256			/* decoded octets of one search value */

/* One quarantined message as `quarantine search|show --json` describes it. Strings are owned,
 * never NULL after a successful parse (""), cleaned UTF-8 from the queue (still untrusted:
 * escape before output). */
struct qv_msg {
	char qid[40];
	long long arrival, size;
	double score;
	char *sender;		/* "" for the null sender */
	char *subject;
	char *symbols;
	char **rcpts;
	size_t n_rcpts;
	long long rcpt_count;	/* in the envelope (may exceed n_rcpts) */
	/* show only ("" / 0 for search results) */
	char *client_addr, *helo;
	char **hnames, **hvalues;
	size_t n_headers;
	char *preview;
};

struct qv_list {
	long long total, offset, limit;
	struct qv_msg *msgs;
	size_t n;
};

/* Parse `quarantine show QID --json` / `quarantine search ... --json` output. 0, or -1 with
 * *error_r (static text); the result is empty after a failure (free it anyway: harmless). */
int qv_show_parse(const char *text, size_t len, struct qv_msg *m, const char **error_r);
int qv_list_parse(const char *text, size_t len, struct qv_list *l, const char **error_r);
void qv_msg_clear(struct qv_msg *m);
void qv_list_free(struct qv_list *l);
/* 1 when rcpt (compared ASCII case-insensitively) is one of m's recipients. */
int qv_msg_has_rcpt(const struct qv_msg *m, const char *rcpt);
/* The domain part of an address (after the last '@'), or "" when there is none. */
const char *qv_addr_domain(const char *addr);
/* Appends the command word "key=VALUE" with VALUE percent-encoded as quarantine_ctl.c decodes
 * it (every octet outside [A-Za-z0-9@._+-] as %XX) to out (reset first). -1 when value is
 * longer than QV_ARG_MAX octets. */
int qv_word(struct buf *out, const char *key, const char *value);
/* True for a quarantine queue id (16 lower-case hex digits, queue/quarantine_ctl.c). */
int qv_qid_ok(const char *s);

/* Route handlers (listed in admin_quarantine_routes, admin/page_quarantine.c). */
http_handler qlink_get, qlink_post;	/* page_qlink.c: GET and POST /q/TOKEN (public) */
extern const struct admin_route admin_quarantine_routes[];

/* ---- qlink_store.c ---- */

/* Single use of release/delete links: marks (nonce, what) used until expires in the admin-db
 * table "qtoken_used" (what: "release:QID", "delete:QID"). Returns 1 when it was already used
 * (nothing changed), 0 when marked now, -1 when the store is unavailable (refuse the action).
 * Expired entries are swept a few at a time on each call. */
int qlink_used_mark(const uint8_t nonce[8], const char *what, long long expires, long long now);
/* 1 used, 0 not, -1 unavailable. */
int qlink_used_check(const uint8_t nonce[8], const char *what);
/* Forgets a mark (the action could not even be attempted, e.g. the queue did not answer). */
void qlink_used_unmark(const uint8_t nonce[8], const char *what);

/* Rate limit of the public endpoint: at most QLINK_RATE requests per client address per
 * QLINK_RATE_WINDOW seconds. Returns 1 allowed (and counted), 0 over the limit. */
#define QLINK_RATE		30
#define QLINK_RATE_WINDOW	60
int qlink_rate_ok(const char *peer, double now);

/* ---- qlink_lists.c ---- */

/* Adds sender to lists/OWNER.allow (block = 0) or .block (block = 1) through the supervisor
 * (validated, written atomically, reloaded) and audits "list.add" with who (NULL: the request's
 * admin) and the file's old and new text. done gets status 0 added, 1 refused (errors: the
 * loader's lines), 2 applied but a restart is needed, 3 nothing changed (already listed).
 * req is borrowed until done runs; done may run before qlink_list_add returns (status 3).
 * Returns 0, or -1 with *error_r (the entry is not valid, the file unreadable, the owner not a
 * protected domain): done is then not called. */
typedef void qlink_list_cb(void *arg, int status, const char *errors);
int qlink_list_add(const struct http_request *req, const char *who, const char *owner, int block,
    const char *sender, qlink_list_cb *done, void *arg, const char **error_r);

#endif
