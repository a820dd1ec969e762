/* page_qlink.c: the public one-click link endpoint of quarantine digests (issue G):
 * GET /q/TOKEN shows a branded confirmation page (what will happen, the message's sender and
 * subject from `quarantine show QID --json`), POST /q/TOKEN acts: release, delete (both single
 * use), allow-sender (lists/<recipient domain>.allow), or, for a "my quarantine" token, lists
 * the recipient's quarantined mail with release/delete buttons (POST with action= and qid=,
 * each single use per message). GET never acts: mail scanners prefetch links.
 *
 * Admin role, loop thread; no login. The token in the URL is the only credential: verified with
 * common/qtoken.h (HMAC, constant time) before any field is believed, its expiry checked, its
 * recipient required among the message's recipients. POSTs also need a present Origin to name
 * this server (like the login form), every client address gets QLINK_RATE requests a minute
 * (429 beyond), and expired (410), tampered or unknown-key (403) and replayed (409) links get a
 * clear page and change nothing. Each action is logged and audited as "link:<recipient>". */
#include <string.h>
#include <strings.h>
#include <time.h>

#include "admin/admin.h"
#include "admin/audit.h"
#include "admin/ops.h"
#include "admin/qlink.h"
#include "admin/session_int.h"
#include "common/qtoken.h"
#include "lib/log.h"
#include "lib/sanitize.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

#define QL_LIST_PAGE	50
#define QL_BY_MAX	64	/* quarantine_ctl.c accepts by= names of at most 64 octets */

/* One link request in flight (a GET or POST, through one or two control commands). */
struct ql {
	struct http_request *req;	/* borrowed: valid until http_finish */
	struct qtoken t;
	char token[QTOKEN_MAX + 1];
	int post;
	enum qtoken_action act;		/* what runs: release/delete/allow (list: the form's) */
	char qid[40];
	char used[64];			/* "release:QID" while a single-use mark is held */
	int marked;
	struct qv_msg m;
};

static const char *const act_names[] = { "", "release", "delete", "allow-sender", "list" };

static long long
now_s(void)
{
	return (long long)time(NULL);
}

/* ---- pages ---- */

static void
ql_page_begin(struct buf *o, const char *title)
{
	html_page_begin(o, NULL, title);	/* no request: no console navigation */
}

/* A result or error page; list_token (may be NULL): a link back to that token's list. */
static void
ql_message_back(struct http_response *resp, int status, const char *title, const char *text,
    const char *list_token)
{
	resp->status = status;
	buf_reset(&resp->body);
	resp->content_type = "text/html; charset=utf-8";
	ql_page_begin(&resp->body, title);
	html_printf(&resp->body, "<p class=\"%s\" role=\"status\">%s</p>\n",
	    status < 300 ? "ok" : "alert", text);
	if (list_token != NULL)
		html_printf(&resp->body, "<p><a href=\"/q/%s\">Back to your quarantined mail</a>"
		    "</p>\n", list_token);
	html_page_end(&resp->body);
}

static void
ql_message(struct http_response *resp, int status, const char *title, const char *text)
{
	ql_message_back(resp, status, title, text, NULL);
}

static void
ql_log(const struct ql *q, const char *result)
{
	char rcpt[SANITIZE_MAX + 4];

	sanitize(rcpt, q->t.rcpt, strlen(q->t.rcpt));
	log_info("qlink: action=%s qid=%s rcpt=%s peer=%s method=%s result=%s", act_names[q->act],
	    q->qid[0] ? q->qid : "-", rcpt, q->req->peer, q->post ? "POST" : "GET", result);
}

static void
ql_who(const struct ql *q, char *who, size_t size)
{
	str_fmt(who, size, "link:%s", q->t.rcpt);
}

static void
msg_table(struct buf *o, const struct qv_msg *m, const char *rcpt)
{
	char when[32];
	time_t tt = (time_t)m->arrival;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	html_printf(o, "<table class=\"kv\"><tr><th>From</th><td>%s</td></tr>"
	    "<tr><th>Subject</th><td>%s</td></tr><tr><th>To</th><td>%s</td></tr>"
	    "<tr><th>Received</th><td>%s</td></tr><tr><th>Spam score</th><td>%.2f</td></tr>"
	    "</table>\n", m->sender[0] ? m->sender : "(no sender)",
	    m->subject[0] ? m->subject : "(no subject)", rcpt, when, m->score);
}

static void
confirm_page(struct ql *q, struct http_response *resp)
{
	static const struct { const char *title, *what, *button; } txt[] = {
		[QT_RELEASE] = { "Release this message?", "The message will be delivered to your "
		    "mailbox. Release only mail you trust.", "Release to my inbox" },
		[QT_DELETE] = { "Delete this message?", "The message will be deleted from the "
		    "quarantine for good.", "Delete it" },
		[QT_ALLOW] = { "Always accept mail from this sender?", "The sender's address will be "
		    "added to the allow list of your domain: its mail will no longer be filtered or "
		    "quarantined.", "Allow this sender" },
	};
	struct buf *o = &resp->body;

	ql_page_begin(o, txt[q->act].title);
	html_printf(o, "<p>%s</p>\n", txt[q->act].what);
	msg_table(o, &q->m, q->t.rcpt);
	html_printf(o, "<form method=\"post\" action=\"/q/%s\" class=\"qlink\">"
	    "<button type=\"submit\" class=\"%s\">%s</button></form>\n", q->token,
	    q->act == QT_DELETE ? "danger" : "", txt[q->act].button);
	buf_append_str(o, "<p class=\"hint\">Nothing happens until you press the button.</p>\n");
	html_page_end(o);
}

static void
list_page(struct ql *q, struct http_response *resp, const struct qv_list *l, long long page)
{
	struct buf *o = &resp->body;
	char title[QTOKEN_RCPT_MAX + 64];

	str_fmt(title, sizeof(title), "Quarantined mail for %s", q->t.rcpt);
	ql_page_begin(o, title);
	if (l->n == 0)
		buf_append_str(o, "<p>No quarantined mail.</p>\n");
	else
		buf_append_str(o, "<table class=\"list\" id=\"qlist\"><thead><tr><th>Received</th>"
		    "<th>From</th><th>Subject</th><th>Score</th><th></th></tr></thead><tbody>\n");
	for (size_t i = 0; i < l->n; i++) {
		const struct qv_msg *m = &l->msgs[i];
		char when[32];
		time_t tt = (time_t)m->arrival;
		struct tm tm;

		gmtime_r(&tt, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
		html_printf(o, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%.2f</td><td>", when,
		    m->sender[0] ? m->sender : "(no sender)", m->subject, m->score);
		for (int a = QT_RELEASE; a <= QT_DELETE; a++)
			html_printf(o, "<form method=\"post\" action=\"/q/%s\" class=\"inline\">"
			    "<input type=\"hidden\" name=\"action\" value=\"%s\">"
			    "<input type=\"hidden\" name=\"qid\" value=\"%s\">"
			    "<button type=\"submit\" class=\"%s\">%s</button></form> ", q->token,
			    act_names[a], m->qid, a == QT_DELETE ? "danger" : "",
			    a == QT_RELEASE ? "Release" : "Delete");
		buf_append_str(o, "</td></tr>\n");
	}
	if (l->n > 0)
		buf_append_str(o, "</tbody></table>\n");
	html_printf(o, "<p>%lld message(s).</p>\n<p class=\"pager\">", l->total);
	if (page > 0)
		html_printf(o, "<a href=\"/q/%s?page=%lld\">&larr; newer</a> ", q->token, page - 1);
	if ((page + 1) * QL_LIST_PAGE < l->total)
		html_printf(o, "<a href=\"/q/%s?page=%lld\">older &rarr;</a>", q->token, page + 1);
	buf_append_str(o, "</p>\n");
	html_page_end(o);
}

/* ---- the request's steps ---- */

static void
ql_free(struct ql *q)
{
	qv_msg_clear(&q->m);
	xwipe(q->token, sizeof(q->token));
	xfree(q);
}

/* Answers the request with resp (built by the caller) and frees q. */
static void
ql_finish(struct ql *q, struct http_response *resp)
{
	http_finish(q->req, resp);
	ops_resp_free(resp);
	ql_free(q);
}

static void
ql_done_msg(struct ql *q, int status, const char *title, const char *text, const char *logres)
{
	struct http_response resp;

	ops_resp_init(&resp);
	ql_message_back(&resp, status, title, text, q->t.action == QT_LIST ? q->token : NULL);
	ql_log(q, logres);
	ql_finish(q, &resp);
}

static void
act_reply(void *arg, int status, const char *text)
{
	struct ql *q = arg;
	char who[QTOKEN_RCPT_MAX + 8], action[40];

	ql_who(q, who, sizeof(who));
	if (status != 0) {
		/* the queue refused or did not answer: the link may be tried again */
		if (q->marked)
			qlink_used_unmark(q->t.nonce, q->used);
		log_warn("qlink: %s %s failed: %.200s", act_names[q->act], q->qid, text);
		ql_done_msg(q, strstr(text, "no message") ? 410 : 503, "Not done",
		    strstr(text, "no message") ? "This message is no longer in the quarantine." :
		    "The quarantine could not be reached. Please try again later.", "failed");
		return;
	}
	str_fmt(action, sizeof(action), "quarantine %s", act_names[q->act]);
	admin_audit_as(who, q->req->peer, action, q->qid, NULL, NULL);
	if (q->act == QT_RELEASE)
		ql_done_msg(q, 200, "Message released", "The message has been released and will "
		    "arrive in your mailbox shortly.", "released");
	else
		ql_done_msg(q, 200, "Message deleted", "The message has been deleted.", "deleted");
}

static void
allow_done(void *arg, int status, const char *errors)
{
	struct ql *q = arg;

	(void)errors;
	if (status == 1) {
		log_warn("qlink: allow-sender %s refused: %.300s", q->qid, errors ? errors : "");
		ql_done_msg(q, 409, "Not done", "The sender could not be added to the allow list.",
		    "refused");
	} else {
		ql_done_msg(q, 200, "Sender allowed", status == 3 ? "This sender was already on "
		    "your domain's allow list." : "Mail from this sender will be accepted from now "
		    "on.", status == 3 ? "already-listed" : "allowed");
	}
}

/* POST, after the message was checked: the action itself. */
static void
ql_act(struct ql *q)
{
	char who[QTOKEN_RCPT_MAX + 8];
	const char *argv[5], *err;
	struct buf by;
	int rc;

	ql_who(q, who, sizeof(who));
	if (q->act == QT_ALLOW) {
		if (qlink_list_add(q->req, who, qv_addr_domain(q->t.rcpt), 0, q->m.sender,
		    allow_done, q, &err) < 0) {
			log_warn("qlink: allow-sender %s: %s", q->qid, err);
			ql_done_msg(q, 409, "Not done", "This sender cannot be added to the allow list.",
			    "refused");
		}
		return;
	}
	str_fmt(q->used, sizeof(q->used), "%s:%s", act_names[q->act], q->qid);
	rc = qlink_used_mark(q->t.nonce, q->used, q->t.expires, now_s());
	if (rc != 0) {
		ql_done_msg(q, rc > 0 ? 409 : 503, rc > 0 ? "Link already used" : "Not done",
		    rc > 0 ? "This link has already been used." : "The link service is unavailable; "
		    "please try again later.", rc > 0 ? "replayed" : "store-unavailable");
		return;
	}
	q->marked = 1;
	who[QL_BY_MAX] = '\0';	/* by= is capped by the queue; the audit keeps the whole name */
	buf_init(&by, 1024);
	(void)qv_word(&by, "by", who);
	argv[0] = "quarantine";
	argv[1] = act_names[q->act];
	argv[2] = q->qid;
	argv[3] = by.data;
	admin_ctl(4, argv, act_reply, q);
	buf_free(&by);
}

/* `quarantine show QID --json` answered: GET shows the confirmation, POST acts. */
static void
show_reply(void *arg, int status, const char *text)
{
	struct ql *q = arg;
	struct http_response resp;
	const char *err;

	if (status != 0 || qv_show_parse(text, strlen(text), &q->m, &err) < 0) {
		ql_done_msg(q, 410, "Message not found", "This message is no longer in the "
		    "quarantine: it was released, deleted or has expired.", "gone");
		return;
	}
	if (!qv_msg_has_rcpt(&q->m, q->t.rcpt)) {
		ql_done_msg(q, 403, "Link not valid", "This link does not belong to a recipient of "
		    "this message.", "rcpt-mismatch");
		return;
	}
	if (q->post) {
		ql_act(q);
		return;
	}
	ops_resp_init(&resp);
	confirm_page(q, &resp);
	ql_log(q, "confirm-page");
	ql_finish(q, &resp);
}

static void
list_reply(void *arg, int status, const char *text)
{
	struct ql *q = arg;
	struct http_response resp;
	struct qv_list l;
	const char *err, *p = http_query_get(q->req, "page");
	long long page = 0;

	if (status != 0 || qv_list_parse(text, strlen(text), &l, &err) < 0) {
		ql_done_msg(q, 503, "Not available", "The quarantine could not be reached. Please "
		    "try again later.", "failed");
		return;
	}
	if (p != NULL && strnum_ll(p, 0, 1000000, &page, &err) < 0)
		page = 0;
	ops_resp_init(&resp);
	list_page(q, &resp, &l, page);
	qv_list_free(&l);
	ql_log(q, "list-page");
	ql_finish(q, &resp);
}

static void
ql_show(struct ql *q)
{
	const char *argv[] = { "quarantine", "show", q->qid, "--json" };

	admin_ctl(4, argv, show_reply, q);
}

static void
ql_list(struct ql *q)
{
	const char *p = http_query_get(q->req, "page"), *err;
	long long page = 0;
	char limit[32], offset[48];
	struct buf w;

	if (p != NULL && strnum_ll(p, 0, 1000000, &page, &err) < 0)
		page = 0;
	buf_init(&w, 2048);
	(void)qv_word(&w, "rcpt", q->t.rcpt);
	str_fmt(limit, sizeof(limit), "limit=%d", QL_LIST_PAGE);
	str_fmt(offset, sizeof(offset), "offset=%lld", page * QL_LIST_PAGE);
	{
		const char *argv[] = { "quarantine", "search", w.data, limit, offset, "--json" };

		admin_ctl(6, argv, list_reply, q);
	}
	buf_free(&w);
}

/* ---- entry: rate limit, Origin, token ---- */

/* Verifies tok into t, reloading the key file (at most once a second) when the key id is
 * unknown: the queue role may have rotated. 0, or -1 with a page in resp. */
static int
ql_verify(const char *tok, const char *peer, struct qtoken *t, struct http_response *resp)
{
	static long long last_load;
	const struct mg_config *cfg = admin_config();
	const char *err = "malformed", *lerr;
	long long now = now_s();
	int rc = strlen(tok) <= QTOKEN_MAX ? qtoken_parse(tok, t, &err) : -1;

	if (rc < 0 && strcmp(err, "unknown key") == 0 && now != last_load) {
		last_load = now;
		if (qtoken_keys_load(cfg->state_dir, 0, cfg->digest_link_lifetime, now, &lerr) < 0)
			log_warn("qlink: keys not loaded from %s/qtoken-keys: %s", cfg->state_dir,
			    lerr);
		rc = qtoken_parse(tok, t, &err);
	}
	if (rc < 0) {
		log_warn("qlink: refused link: %s peer=%s", err, peer);
		ql_message(resp, 403, "Link not valid", strcmp(err, "unknown key") == 0 ?
		    "This link is no longer valid. Open the link in your newest quarantine digest." :
		    "This link is not valid. Please use the link exactly as it appears in your "
		    "quarantine digest.");
		return -1;
	}
	if (t->expires < now) {
		log_info("qlink: expired link: action=%s qid=%s", t->action >= QT_RELEASE &&
		    t->action <= QT_LIST ? act_names[t->action] : "?", t->qid[0] ? t->qid : "-");
		ql_message(resp, 410, "Link expired", "This link has expired. The next quarantine "
		    "digest will bring new links.");
		return -1;
	}
	if (t->action < QT_RELEASE || t->action > QT_LIST ||
	    (t->action != QT_LIST && !qv_qid_ok(t->qid))) {
		ql_message(resp, 403, "Link not valid", "This link is not valid.");
		return -1;
	}
	return 0;
}

/* A present Origin must name this server as the client reached it or as public_url says. */
static int
ql_origin_ok(const struct http_request *req)
{
	const char *origin = http_header_get(req, "origin"), *pub = admin_config()->public_url;
	size_t n;

	if (origin == NULL || session_origin_ok(req))
		return 1;
	if (pub == NULL || pub[0] == '\0')
		return 0;
	n = strlen(origin);	/* public_url = origin [+ path] */
	return strncasecmp(pub, origin, n) == 0 && (pub[n] == '\0' || pub[n] == '/');
}

/* The list token's form: action=release|delete and qid=QID. */
static int
ql_list_form(struct ql *q, struct http_response *resp)
{
	const char *a = http_form_get(q->req, "action"), *qid = http_form_get(q->req, "qid");

	if (a != NULL && strcmp(a, "release") == 0)
		q->act = QT_RELEASE;
	else if (a != NULL && strcmp(a, "delete") == 0)
		q->act = QT_DELETE;
	if (q->act == QT_LIST || qid == NULL || !qv_qid_ok(qid)) {
		ql_message(resp, 400, "Not done", "Choose a message and an action.");
		return -1;
	}
	str_lcpy(q->qid, qid, sizeof(q->qid));
	return 0;
}

static enum http_result
ql_entry(struct http_request *req, struct http_response *resp, int post)
{
	const char *tok = ops_path_tail(req, "/q/");
	struct ql *q;

	if (!qlink_rate_ok(req->peer, (double)now_s())) {
		log_warn("qlink: rate limit: peer=%s", req->peer);
		ql_message(resp, 429, "Too many requests", "Too many requests from your address. "
		    "Please wait a minute and try again.");
		http_response_header(resp, "Retry-After", "%d", QLINK_RATE_WINDOW);
		return HTTP_DONE;
	}
	if (post && !ql_origin_ok(req)) {
		log_warn("qlink: POST from another origin refused: peer=%s", req->peer);
		ql_message(resp, 403, "Not done", "This form was sent from another site.");
		return HTTP_DONE;
	}
	q = xcalloc(1, sizeof(*q));
	q->req = req;
	q->post = post;
	if (tok == NULL || ql_verify(tok, req->peer, &q->t, resp) < 0) {
		ql_free(q);
		return HTTP_DONE;
	}
	str_lcpy(q->token, tok, sizeof(q->token));
	q->act = q->t.action;
	str_lcpy(q->qid, q->t.qid, sizeof(q->qid));
	if (q->act == QT_LIST && !post) {
		ql_list(q);
		return HTTP_PENDING;
	}
	if (q->act == QT_LIST && ql_list_form(q, resp) < 0) {
		ql_free(q);
		return HTTP_DONE;
	}
	if (q->act != QT_ALLOW) {
		str_fmt(q->used, sizeof(q->used), "%s:%s", act_names[q->act], q->qid);
		if (qlink_used_check(q->t.nonce, q->used) == 1) {
			ql_message(resp, 409, "Link already used", "This link has already been used.");
			ql_log(q, "replayed");
			ql_free(q);
			return HTTP_DONE;
		}
	}
	ql_show(q);
	return HTTP_PENDING;
}

enum http_result
qlink_get(struct http_request *req, struct http_response *resp)
{
	return ql_entry(req, resp, 0);
}

enum http_result
qlink_post(struct http_request *req, struct http_response *resp)
{
	return ql_entry(req, resp, 1);
}
