/* page_quarantine.c: the console's Quarantine page and /api/v1/quarantine (issue G), and the
 * route table of the quarantine handlers (admin_quarantine_routes, listed by admin/router.c),
 * which also carries the public link endpoint of admin/page_qlink.c.
 *
 * Search (domain, recipient, sender, subject, score and date ranges; paged) runs `quarantine
 * search ... --json`; a message's preview shows the headers and the sanitised text preview of
 * `quarantine show QID --json` -- all escaped, never active HTML; actions release, delete,
 * confirm-spam (`quarantine ... by=ADMIN`) and allow-sender / block-sender (lists/OWNER.allow or
 * .block through admin/qlink_lists.c) are POSTs with the session's CSRF token (checked by the
 * router) and audited with the message before and its state after. Admin role, loop thread.
 * Queue ids from the URL are checked (qv_qid_ok), search values capped and percent-encoded
 * (qv_word) before they reach a command; replies are parsed by admin/qlink_parse.c. */
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "admin/act_domain.h"
#include "admin/admin.h"
#include "admin/ops.h"
#include "admin/qlink.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

#define QC_PAGE_SIZE	50
#define QC_API_LIMIT	1000

static const char *const search_keys[][2] = {	/* form field, command key */
	{ "domain", "domain" }, { "rcpt", "rcpt" }, { "from", "from" }, { "subject", "subject" },
	{ "min", "min" }, { "max", "max" }, { "since", "since" }, { "until", "until" },
};
#define N_SEARCH_KEYS (sizeof(search_keys) / sizeof(search_keys[0]))

/* A console request through one or more control commands. */
struct qc {
	struct http_request *req;	/* borrowed: valid until http_finish */
	int api;
	char qid[40];
	char verb[16];		/* release, delete, confirm-spam, allow-sender, block-sender */
	char owner[256];	/* list owner of allow/block-sender */
	struct qv_msg m;
	char *show;		/* the raw show reply (API) */
	int spam_ok;		/* the queue knows confirm-spam */
};

static void
qc_free(struct qc *c)
{
	qv_msg_clear(&c->m);
	xfree(c->show);
	xfree(c);
}

static void
qc_finish(struct qc *c, struct http_response *resp)
{
	http_finish(c->req, resp);
	ops_resp_free(resp);
	qc_free(c);
}

static void
when_text(char *dst, size_t size, long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(dst, size, "%Y-%m-%d %H:%M:%S", &tm);
}

/* ---- search (page and API) ---- */

/* Builds the search command from the query string into argv (words kept in w[]); 0, or -1 with
 * *error_r when a value is too long. */
static int
search_argv(const struct http_request *req, struct buf *w, const char **argv, int *argc,
    long long limit, long long offset, const char **error_r)
{
	int n = 0;

	argv[n++] = "quarantine";
	argv[n++] = "search";
	for (size_t i = 0; i < N_SEARCH_KEYS; i++) {
		const char *v = http_query_get(req, search_keys[i][0]);

		if (v == NULL || *v == '\0')
			continue;
		if (qv_word(&w[i], search_keys[i][1], v) < 0) {
			*error_r = "a search value is longer than 256 octets";
			return -1;
		}
		argv[n++] = w[i].data;
	}
	buf_printf(&w[N_SEARCH_KEYS], "limit=%lld", limit);
	buf_printf(&w[N_SEARCH_KEYS + 1], "offset=%lld", offset);
	argv[n++] = w[N_SEARCH_KEYS].data;
	argv[n++] = w[N_SEARCH_KEYS + 1].data;
	argv[n++] = "--json";
	*argc = n;
	return 0;
}

static long long
query_num(const struct http_request *req, const char *name, long long def, long long max)
{
	const char *s = http_query_get(req, name), *err;
	long long v;

	if (s == NULL || strnum_ll(s, 0, max, &v, &err) < 0)
		return def;
	return v;
}

static void
search_form(struct buf *o, const struct http_request *req)
{
	static const char *const labels[] = { "Domain", "Recipient", "Sender contains",
	    "Subject contains", "Score from", "Score to", "Received since", "Received until" };
	static const char *const hints[] = { "example.org", "user@example.org", "", "", "5",
	    "20", "YYYY-MM-DD", "YYYY-MM-DD" };

	buf_append_str(o, "<form class=\"mg-form search\" method=\"get\" action=\"/quarantine\" "
	    "id=\"qsearch\">");
	for (size_t i = 0; i < N_SEARCH_KEYS; i++) {
		const char *v = http_query_get(req, search_keys[i][0]);

		html_printf(o, "<div class=\"mg-field\"><label for=\"q_%s\">%s</label>"
		    "<input type=\"text\" id=\"q_%s\" name=\"%s\" value=\"%s\" placeholder=\"%s\">"
		    "</div>", search_keys[i][0], labels[i], search_keys[i][0], search_keys[i][0],
		    v ? v : "", hints[i]);
	}
	buf_append_str(o, "<p class=\"mg-actions\"><button type=\"submit\">Search</button> "
	    "<a href=\"/quarantine\">Clear</a></p></form>\n");
}

/* The query string without page=, for the pager links (escaped by the caller). */
static void
search_query(const struct http_request *req, struct buf *q)
{
	struct buf w;

	buf_init(&w, 4096);
	for (size_t i = 0; i < N_SEARCH_KEYS; i++) {
		const char *v = http_query_get(req, search_keys[i][0]);

		if (v == NULL || *v == '\0' || qv_word(&w, search_keys[i][0], v) < 0)
			continue;
		buf_append(q, w.data, w.len);
		buf_append_char(q, '&');
	}
	buf_free(&w);
}

static void
search_row(struct buf *o, const struct qv_msg *m)
{
	char when[32];

	when_text(when, sizeof(when), m->arrival);
	html_printf(o, "<tr><td>%s</td><td>%s</td><td>%s", when, m->sender[0] ? m->sender : "<>",
	    m->n_rcpts ? m->rcpts[0] : "");
	if (m->rcpt_count > 1)
		html_printf(o, " (+%lld)", m->rcpt_count - 1);
	html_printf(o, "</td><td><a href=\"/quarantine/%s\">%s</a></td><td class=\"num\">%.2f"
	    "</td></tr>\n", m->qid, m->subject[0] ? m->subject : "(no subject)", m->score);
}

static void
search_done(struct http_request *req, struct http_response *resp, int status, const char *text,
    void *arg)
{
	long long page = query_num(req, "page", 0, 1000000);
	struct buf *o = &resp->body, q;
	struct qv_list l;
	const char *err;

	(void)arg;
	html_page_begin(o, req, "Quarantine");
	search_form(o, req);
	if (status == 2 || status != 0 || qv_list_parse(text, strlen(text), &l, &err) < 0) {
		resp->status = status == 2 ? 400 : 502;
		html_printf(o, "<div class=\"errors\" role=\"alert\"><p>%s</p><pre>%s</pre></div>\n",
		    status == 2 ? "Invalid search:" : "The quarantine did not answer:", text);
		html_page_end(o);
		return;
	}
	buf_append_str(o, "<table class=\"mg-table list\" id=\"qresults\"><thead><tr><th>Received "
	    "(UTC)</th><th>Sender</th><th>Recipient</th><th>Subject</th><th>Score</th></tr></thead>"
	    "<tbody>\n");
	for (size_t i = 0; i < l.n; i++)
		search_row(o, &l.msgs[i]);
	buf_append_str(o, "</tbody></table>\n");
	html_printf(o, "<p id=\"qtotal\">%lld message(s) found; showing %lld to %lld.</p>\n"
	    "<p class=\"pager\">", l.total, l.n ? l.offset + 1 : 0, l.offset + (long long)l.n);
	buf_init(&q, 8192);
	search_query(req, &q);
	if (page > 0)
		html_printf(o, "<a href=\"/quarantine?%spage=%lld\">&larr; newer</a> ",
		    q.data ? q.data : "", page - 1);
	if (l.offset + (long long)l.n < l.total)
		html_printf(o, "<a href=\"/quarantine?%spage=%lld\">older &rarr;</a>",
		    q.data ? q.data : "", page + 1);
	buf_append_str(o, "</p>\n");
	buf_free(&q);
	html_page_end(o);
	qv_list_free(&l);
}

static void
api_search_done(struct http_request *req, struct http_response *resp, int status,
    const char *text, void *arg)
{
	struct qv_list l;
	const char *err;

	(void)arg;
	if (status != 0 || qv_list_parse(text, strlen(text), &l, &err) < 0) {
		http_error(req, resp, status == 2 ? 400 : 502, status == 2 ? text :
		    "the quarantine did not answer");
		return;
	}
	qv_list_free(&l);
	resp->content_type = "application/json";
	buf_append_str(&resp->body, text);	/* checked above; the queue escapes < > & */
}

static enum http_result
search(struct http_request *req, struct http_response *resp, int api)
{
	struct buf w[N_SEARCH_KEYS + 2];
	const char *argv[16], *err;
	long long limit = api ? query_num(req, "limit", 100, QC_API_LIMIT) : QC_PAGE_SIZE;
	long long offset = api ? query_num(req, "offset", 0, 100000000) :
	    query_num(req, "page", 0, 1000000) * QC_PAGE_SIZE;
	int argc, rc;

	for (size_t i = 0; i < N_SEARCH_KEYS + 2; i++)
		buf_init(&w[i], 1024);
	if (limit == 0)
		limit = 1;
	if (search_argv(req, w, argv, &argc, limit, offset, &err) < 0) {
		http_error(req, resp, 400, err);
		rc = HTTP_DONE;
	} else {
		rc = ops_ctl(req, argc, argv, api ? api_search_done : search_done, NULL);
	}
	for (size_t i = 0; i < N_SEARCH_KEYS + 2; i++)
		buf_free(&w[i]);
	return (enum http_result)rc;
}

static enum http_result
qc_page_search(struct http_request *req, struct http_response *resp)
{
	return search(req, resp, 0);
}

static enum http_result
qc_api_search(struct http_request *req, struct http_response *resp)
{
	return search(req, resp, 1);
}

/* ---- one message: preview ---- */

/* Recipient domains of m that are protected (unique, at most max), into owners. */
static size_t
msg_owners(const struct qv_msg *m, const char **owners, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_rcpts && n < max; i++) {
		const char *d = qv_addr_domain(m->rcpts[i]);
		size_t k;

		if (!act_domain_name_ok(d) || !act_domain_exists(d))
			continue;
		for (k = 0; k < n && strcmp(owners[k], d) != 0; k++)
			;
		if (k == n)
			owners[n++] = d;
	}
	return n;
}

static void
action_button(struct buf *o, const struct http_request *req, const char *qid, const char *verb,
    const char *label, const char *cls, int disabled)
{
	html_printf(o, "<form method=\"post\" action=\"/quarantine/%s/%s\" class=\"inline\" "
	    "id=\"act-%s\">", qid, verb, verb);
	html_csrf_field(o, req);
	html_printf(o, "<button type=\"submit\" class=\"%s\"%s>%s</button></form>\n", cls,
	    disabled ? " disabled" : "", label);
}

static void
list_form(struct buf *o, const struct http_request *req, const struct qv_msg *m, int block)
{
	const char *owners[16], *verb = block ? "block-sender" : "allow-sender";
	size_t n = msg_owners(m, owners, 16);

	html_printf(o, "<form method=\"post\" action=\"/quarantine/%s/%s\" class=\"inline\" "
	    "id=\"act-%s\">", m->qid, verb, verb);
	html_csrf_field(o, req);
	html_printf(o, "<select name=\"list\" aria-label=\"list of\">");
	for (size_t i = 0; i < n; i++)
		html_printf(o, "<option value=\"%s\">%s</option>", owners[i], owners[i]);
	html_printf(o, "<option value=\"global\">global</option></select> "
	    "<button type=\"submit\" class=\"secondary\"%s>%s sender</button></form>\n",
	    m->sender[0] ? "" : " disabled", block ? "Block" : "Allow");
}

static void
preview_page(struct qc *c, struct http_response *resp)
{
	struct buf *o = &resp->body;
	const struct qv_msg *m = &c->m;
	char when[32], title[64];

	when_text(when, sizeof(when), m->arrival);
	str_fmt(title, sizeof(title), "Quarantined message %s", m->qid);
	html_page_begin(o, c->req, title);
	html_printf(o, "<table class=\"kv\" id=\"qmsg\"><tr><th>Sender</th><td>%s</td></tr>"
	    "<tr><th>Subject</th><td>%s</td></tr><tr><th>Recipients</th><td>",
	    m->sender[0] ? m->sender : "<> (null sender)", m->subject);
	for (size_t i = 0; i < m->n_rcpts; i++) {
		if (i > 0)
			buf_append_str(o, "<br>");
		html_esc(o, m->rcpts[i]);
	}
	if (m->rcpt_count > (long long)m->n_rcpts)
		html_printf(o, "<br>(+%lld more)", m->rcpt_count - (long long)m->n_rcpts);
	html_printf(o, "</td></tr><tr><th>Received</th><td>%s UTC</td></tr>"
	    "<tr><th>Size</th><td>%lld bytes</td></tr><tr><th>Score</th><td>%.2f</td></tr>"
	    "<tr><th>Symbols</th><td>%s</td></tr><tr><th>Client</th><td>%s (HELO %s)</td></tr>"
	    "</table>\n", when, m->size, m->score, m->symbols, m->client_addr, m->helo);
	buf_append_str(o, "<h2>Actions</h2>\n<p>");
	action_button(o, c->req, m->qid, "release", "Release", "", 0);
	action_button(o, c->req, m->qid, "delete", "Delete…", "danger", 0);
	action_button(o, c->req, m->qid, "confirm-spam", "Confirm spam", "secondary", !c->spam_ok);
	buf_append_str(o, "</p>\n");
	if (!c->spam_ok)
		buf_append_str(o, "<p class=\"hint\" id=\"spam-note\">Confirm spam (learn as spam, "
		    "then delete) is not available from this queue version yet.</p>\n");
	buf_append_str(o, "<p>");
	list_form(o, c->req, m, 0);
	list_form(o, c->req, m, 1);
	buf_append_str(o, "</p>\n<h2>Headers</h2>\n<table class=\"mg-table headers\" "
	    "id=\"qheaders\"><tbody>\n");
	for (size_t i = 0; i < m->n_headers; i++)
		html_printf(o, "<tr><th>%s</th><td>%s</td></tr>\n", m->hnames[i], m->hvalues[i]);
	html_printf(o, "</tbody></table>\n<h2>Text preview</h2>\n<pre class=\"preview\" "
	    "id=\"qpreview\">%s</pre>\n<p><a href=\"/quarantine\">Back to the quarantine</a></p>\n",
	    m->preview);
	html_page_end(o);
}

static void
probe_reply(void *arg, int status, const char *text)
{
	struct qc *c = arg;
	struct http_response resp;

	(void)status;
	/* `quarantine confirm-spam` without ids: a queue that knows it names it in its usage */
	c->spam_ok = strstr(text, "confirm-spam") != NULL;
	ops_resp_init(&resp);
	preview_page(c, &resp);
	qc_finish(c, &resp);
}

/* The show reply of a message: the preview page, the API's JSON, or the start of an action. */
static void qc_act(struct qc *c);

static void
show_reply(void *arg, int status, const char *text)
{
	struct qc *c = arg;
	struct http_response resp;
	const char *err;

	if (status != 0 || qv_show_parse(text, strlen(text), &c->m, &err) < 0) {
		ops_resp_init(&resp);
		http_error(c->req, &resp, 404, "no such message in the quarantine");
		qc_finish(c, &resp);
		return;
	}
	if (c->verb[0] != '\0') {
		qc_act(c);
		return;
	}
	if (c->api) {
		ops_resp_init(&resp);
		resp.content_type = "application/json";
		buf_append_str(&resp.body, text);
		qc_finish(c, &resp);
		return;
	}
	{
		const char *argv[] = { "quarantine", "confirm-spam" };

		admin_ctl(2, argv, probe_reply, c);
	}
}

static struct qc *
qc_new(struct http_request *req, int api, const char *qid, const char *verb)
{
	struct qc *c = xcalloc(1, sizeof(*c));

	c->req = req;
	c->api = api;
	str_lcpy(c->qid, qid, sizeof(c->qid));
	str_lcpy(c->verb, verb, sizeof(c->verb));
	return c;
}

static void
qc_show(struct qc *c)
{
	const char *argv[] = { "quarantine", "show", c->qid, "--json" };

	admin_ctl(4, argv, show_reply, c);
}

static enum http_result
message_get(struct http_request *req, struct http_response *resp, const char *prefix, int api)
{
	const char *qid = ops_path_tail(req, prefix);

	if (qid == NULL || !qv_qid_ok(qid)) {
		http_error(req, resp, 404, "no such message in the quarantine");
		return HTTP_DONE;
	}
	qc_show(qc_new(req, api, qid, ""));
	return HTTP_PENDING;
}

static enum http_result
qc_page_message(struct http_request *req, struct http_response *resp)
{
	return message_get(req, resp, "/quarantine/", 0);
}

static enum http_result
qc_api_message(struct http_request *req, struct http_response *resp)
{
	return message_get(req, resp, "/api/v1/quarantine/", 1);
}

/* ---- actions ---- */

static const char *const verbs[] = { "release", "delete", "confirm-spam", "allow-sender",
    "block-sender", NULL };

/* The message as the audit record's "before": {"qid","sender","subject","score","rcpts"}. */
static char *
msg_summary(const struct qv_msg *m)
{
	json_t *r = json_array(), *j;
	char *s, *out;

	for (size_t i = 0; i < m->n_rcpts; i++)
		json_array_append_new(r, json_string(m->rcpts[i]));
	j = json_pack("{s:s,s:s,s:s,s:f,s:o}", "qid", m->qid, "sender", m->sender, "subject",
	    m->subject, "score", m->score, "rcpts", r);
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	out = xstrdup(s ? s : "");
	free(s);	/* jansson's allocation */
	json_decref(j);
	return out;
}

static void
qc_respond(struct qc *c, int ok, int http_status, const char *text)
{
	struct http_response resp;
	char title[48];

	ops_resp_init(&resp);
	if (c->api) {
		ops_json(&resp, http_status, json_pack("{s:b,s:s}", "ok", ok, "output", text));
	} else {
		str_fmt(title, sizeof(title), "Quarantine: %s", c->verb);
		ops_result_page(c->req, &resp, title, ok, text, ok ? "/quarantine" : "/quarantine");
		resp.status = http_status;
	}
	qc_finish(c, &resp);
}

static void
act_reply(void *arg, int status, const char *text)
{
	struct qc *c = arg;
	char action[48], *before;

	if (status == 0) {
		str_fmt(action, sizeof(action), "quarantine %s", c->verb);
		before = msg_summary(&c->m);
		admin_audit(c->req, action, c->qid, before, strcmp(c->verb, "release") == 0 ?
		    "released" : strcmp(c->verb, "delete") == 0 ? "deleted" : "confirmed spam");
		xfree(before);
	}
	qc_respond(c, status == 0, status == 0 ? 200 : status == 2 ? 400 : 409, text);
}

static void
list_reply(void *arg, int status, const char *errors)
{
	struct qc *c = arg;
	char msg[1024];

	if (status == 1) {
		qc_respond(c, 0, 409, errors ? errors : "refused");
		return;
	}
	str_fmt(msg, sizeof(msg), "%s %s lists/%s.%s%s", c->m.sender, status == 3 ?
	    "was already on" : "added to", c->owner, c->verb[0] == 'a' ? "allow" : "block",
	    status == 2 ? " (a restart is needed)" : "");
	qc_respond(c, 1, 200, msg);
}

static void
qc_act(struct qc *c)
{
	const char *err, *owners[1];
	struct buf by;

	if (strcmp(c->verb, "allow-sender") == 0 || strcmp(c->verb, "block-sender") == 0) {
		if (c->owner[0] == '\0') {
			if (msg_owners(&c->m, owners, 1) == 0) {
				qc_respond(c, 0, 400, "no recipient of a protected domain: choose a list");
				return;
			}
			str_lcpy(c->owner, owners[0], sizeof(c->owner));
		}
		if (qlink_list_add(c->req, NULL, c->owner, c->verb[0] == 'b', c->m.sender,
		    list_reply, c, &err) < 0)
			qc_respond(c, 0, 400, err);
		return;
	}
	buf_init(&by, 1024);
	(void)qv_word(&by, "by", c->req->who ? c->req->who->user : "console");
	{
		const char *argv[] = { "quarantine", c->verb, c->qid, by.data };

		admin_ctl(4, argv, act_reply, c);
	}
	buf_free(&by);
}

/* POST /quarantine/QID/VERB (form) and /api/v1/quarantine/QID/VERB (JSON body optional). */
static enum http_result
message_post(struct http_request *req, struct http_response *resp, const char *prefix, int api,
    const char *force_verb)
{
	const char *tail = ops_path_tail(req, prefix), *verb, *owner = NULL;
	char qid[40];
	size_t i;
	json_t *j = NULL;
	struct qc *c;

	if (tail == NULL || (verb = ops_path_split(tail, qid, sizeof(qid))) == NULL ||
	    !qv_qid_ok(qid)) {
		http_error(req, resp, 404, "no such message in the quarantine");
		return HTTP_DONE;
	}
	if (force_verb != NULL)
		verb = *verb ? "-" : force_verb;
	for (i = 0; verbs[i] && strcmp(verbs[i], verb) != 0; i++)
		;
	if (verbs[i] == NULL) {
		http_error(req, resp, 404, "unknown quarantine action");
		return HTTP_DONE;
	}
	if (!api && strcmp(verb, "delete") == 0 && !ops_confirmed(req)) {
		char action[96], back[64], q[160];

		str_fmt(action, sizeof(action), "/quarantine/%s/delete", qid);
		str_fmt(back, sizeof(back), "/quarantine/%s", qid);
		str_fmt(q, sizeof(q), "Delete quarantined message %s? It is not delivered and "
		    "cannot be recovered.", qid);
		ops_confirm_page(req, resp, "delete", q, action, back, NULL, NULL);
		return HTTP_DONE;
	}
	if (i >= 3) {	/* allow-sender, block-sender: which list */
		if (api && req->body.len > 0) {
			if ((j = ops_json_body(req, resp)) == NULL)
				return HTTP_DONE;
			owner = json_string_value(json_object_get(j, "list"));
		} else if (!api) {
			owner = http_form_get(req, "list");
		}
		if (owner != NULL && strcmp(owner, "global") != 0 &&
		    !(act_domain_name_ok(owner) && act_domain_exists(owner))) {
			json_decref(j);
			http_error(req, resp, 400, "list: expected global or a protected domain");
			return HTTP_DONE;
		}
	}
	c = qc_new(req, api, qid, verb);
	if (owner != NULL)
		str_lcpy(c->owner, owner, sizeof(c->owner));
	json_decref(j);
	qc_show(c);
	return HTTP_PENDING;
}

static enum http_result
qc_page_post(struct http_request *req, struct http_response *resp)
{
	return message_post(req, resp, "/quarantine/", 0, NULL);
}

static enum http_result
qc_api_post(struct http_request *req, struct http_response *resp)
{
	return message_post(req, resp, "/api/v1/quarantine/", 1, NULL);
}

static enum http_result
qc_api_delete(struct http_request *req, struct http_response *resp)
{
	return message_post(req, resp, "/api/v1/quarantine/", 1, "delete");
}

const struct admin_route admin_quarantine_routes[] = {
	/* console pages */
	{ HTTP_GET, "/quarantine", ROUTE_PAGE, qc_page_search },
	{ HTTP_GET, "/quarantine/", ROUTE_PAGE | ROUTE_PREFIX, qc_page_message },
	{ HTTP_POST, "/quarantine/", ROUTE_PAGE | ROUTE_PREFIX, qc_page_post },
	/* JSON API */
	{ HTTP_GET, "/api/v1/quarantine", ROUTE_API, qc_api_search },
	{ HTTP_GET, "/api/v1/quarantine/", ROUTE_API | ROUTE_PREFIX, qc_api_message },
	{ HTTP_POST, "/api/v1/quarantine/", ROUTE_API | ROUTE_PREFIX, qc_api_post },
	{ HTTP_DELETE, "/api/v1/quarantine/", ROUTE_API | ROUTE_PREFIX, qc_api_delete },
	/* public one-click links of digests (page_qlink.c) */
	{ HTTP_GET, "/q/", ROUTE_PUBLIC | ROUTE_PREFIX, qlink_get },
	{ HTTP_POST, "/q/", ROUTE_PUBLIC | ROUTE_PREFIX, qlink_post },
	{ 0, NULL, 0, NULL },
};
