/* page_queue.c: the console's Queue page and /api/v1/queue. Lists the queue (filter by state,
 * paged), shows one message (envelope, per-recipient status, headers) and flushes, holds,
 * releases or deletes messages -- all through the queue role's control commands (`mailguardctl
 * queue list|show|flush|hold|release|delete`): the admin role never reads the spool. Admin role,
 * loop thread. Queue ids from the URL are checked (ops_qid_is_valid) before they reach a
 * command; everything shown from a message (addresses, subjects, diagnostics) is escaped. */
#include <string.h>

#include <jansson.h>

#include "admin/admin.h"
#include "admin/ops.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

#define QUEUE_PAGE_SIZE	100
#define QUEUE_API_MAX	10000	/* messages in one API listing (?limit) */

static const char *const queue_states[] = { "active", "deferred", "hold", "quarantine",
    "rate-limited", NULL };

static const char *
state_filter(const struct http_request *req)
{
	const char *s = http_query_get(req, "state");

	for (size_t i = 0; s != NULL && queue_states[i] != NULL; i++)
		if (strcmp(s, queue_states[i]) == 0)
			return queue_states[i];
	return NULL;
}

static long long
query_num(const struct http_request *req, const char *name, long long def, long long max)
{
	const char *s = http_query_get(req, name);
	const char *err;
	long long v;

	if (s == NULL || strnum_ll(s, 0, max, &v, &err) < 0)
		return def;
	return v;
}

/* GET /queue -------------------------------------------------------------------------------- */

static void
list_row(struct buf *o, const struct ops_qmsg *m)
{
	html_printf(o, "<tr><td><a href=\"/queue/%s\"><code>%s</code></a></td>", m->qid, m->qid);
	if (m->error) {
		html_printf(o, "<td colspan=\"7\" class=\"alert\">%s</td></tr>\n", m->error);
		return;
	}
	html_printf(o, "<td><span class=\"state state-%s\">%s</span></td><td>%s</td><td>%s</td><td>",
	    m->state, m->state, m->arrival, *m->sender ? m->sender : "<>");
	for (size_t i = 0; i < m->n_rcpts && i < 5; i++) {
		if (i > 0)
			buf_append_str(o, "<br>");
		html_esc(o, m->rcpts[i].addr);
	}
	if (m->n_rcpts > 5)
		html_printf(o, "<br>(+%zu more)", m->n_rcpts - 5);
	html_printf(o, "</td><td>%d</td><td>%s</td><td>%lld</td></tr>\n", m->attempts, m->next,
	    m->size);
}

static void
list_filters(struct buf *o, const char *state)
{
	buf_append_str(o, "<p class=\"filters\">Show: ");
	buf_append_str(o, state ? "<a href=\"/queue\">all</a>" : "<strong>all</strong>");
	for (size_t i = 0; queue_states[i]; i++) {
		if (state && strcmp(state, queue_states[i]) == 0)
			html_printf(o, " | <strong>%s</strong>", queue_states[i]);
		else
			html_printf(o, " | <a href=\"/queue?state=%s\">%s</a>", queue_states[i],
			    queue_states[i]);
	}
	buf_append_str(o, "</p>\n");
}

static void
list_done(struct http_request *req, struct http_response *resp, int status, const char *text,
    void *arg)
{
	const char *state = state_filter(req), *err;
	long long page = query_num(req, "page", 0, 1000000);
	struct ops_queue q;
	struct buf *o = &resp->body;
	size_t shown = 0, match = 0, first = (size_t)page * QUEUE_PAGE_SIZE;

	(void)arg;
	html_page_begin(o, req, "Queue");
	if (status != 0 || ops_queue_parse(text, strlen(text), &q, &err) < 0) {
		html_printf(o, "<p class=\"alert\">The queue did not answer: %s</p>\n", text);
		html_page_end(o);
		resp->status = 502;
		return;
	}
	list_filters(o, state);
	buf_append_str(o, "<form method=\"post\" action=\"/queue/flush\" class=\"inline\">");
	html_csrf_field(o, req);
	buf_append_str(o, "<button type=\"submit\">Flush all deferred messages now</button></form>\n"
	    "<table class=\"list\"><thead><tr><th>Queue id</th><th>State</th><th>Arrived</th>"
	    "<th>Sender</th><th>Recipients (pending)</th><th>Attempts</th><th>Next try</th>"
	    "<th>Size</th></tr></thead><tbody>\n");
	for (size_t i = 0; i < q.n; i++) {
		if (state && strcmp(q.msgs[i].state, state) != 0)
			continue;
		if (match++ < first || shown >= QUEUE_PAGE_SIZE)
			continue;
		list_row(o, &q.msgs[i]);
		shown++;
	}
	buf_append_str(o, "</tbody></table>\n");
	html_printf(o, "<p>%zu message(s)%s%s; showing %zu from %zu.</p>\n<p class=\"pager\">",
	    match, state ? " in state " : "", state ? state : "", shown, shown ? first + 1 : 0);
	if (page > 0)
		html_printf(o, "<a href=\"/queue?page=%lld&amp;state=%s\">&larr; previous page</a> ",
		    page - 1, state ? state : "");
	if (first + shown < match)
		html_printf(o, "<a href=\"/queue?page=%lld&amp;state=%s\">next page &rarr;</a>",
		    page + 1, state ? state : "");
	buf_append_str(o, "</p>\n");
	html_page_end(o);
	ops_queue_free(&q);
}

enum http_result
ops_page_queue(struct http_request *req, struct http_response *resp)
{
	static const char *const argv[] = { "queue", "list" };

	(void)resp;
	return (enum http_result)ops_ctl(req, 2, argv, list_done, NULL);
}

/* GET /queue/QID ---------------------------------------------------------------------------- */

static void
action_form(struct buf *o, const struct http_request *req, const char *qid, const char *action,
    const char *label, const char *cls)
{
	html_printf(o, "<form method=\"post\" action=\"/queue/%s/%s\" class=\"inline\">", qid,
	    action);
	html_csrf_field(o, req);
	html_printf(o, "<button type=\"submit\" class=\"%s\">%s</button></form>\n", cls, label);
}

static void
show_done(struct http_request *req, struct http_response *resp, int status, const char *text,
    void *arg)
{
	struct buf *o = &resp->body;
	const char *err, *subj;
	struct ops_queue q;
	struct ops_qmsg *m;

	(void)arg;
	if (status != 0 || ops_queue_parse(text, strlen(text), &q, &err) < 0 || q.n == 0) {
		if (status == 0)
			ops_queue_free(&q);
		http_error(req, resp, 404, "no such message in the queue");
		return;
	}
	m = &q.msgs[0];
	html_page_begin(o, req, "Queue message");
	html_printf(o, "<h2>Message <code>%s</code></h2>\n", m->qid);
	if (m->error) {
		html_printf(o, "<p class=\"alert\">%s</p>\n", m->error);
	} else {
		subj = ops_qmsg_header(m, "Subject");
		html_printf(o, "<table class=\"kv\"><tr><th>State</th><td>%s</td></tr>"
		    "<tr><th>Sender</th><td>%s</td></tr><tr><th>Subject</th><td>%s</td></tr>"
		    "<tr><th>Arrived</th><td>%s</td></tr><tr><th>Size</th><td>%lld bytes</td></tr>"
		    "<tr><th>Attempts</th><td>%d</td></tr><tr><th>Next try</th><td>%s</td></tr>"
		    "</table>\n", m->state, *m->sender ? m->sender : "<> (null sender)",
		    subj ? subj : "(none)", m->arrival, m->size, m->attempts, m->next);
		buf_append_str(o, "<h2>Recipients</h2>\n<table class=\"list\"><thead><tr><th>Address"
		    "</th><th>Status</th><th>DSN</th><th>Last diagnostic</th></tr></thead><tbody>\n");
		for (size_t i = 0; i < m->n_rcpts; i++)
			html_printf(o, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			    m->rcpts[i].addr, m->rcpts[i].state, m->rcpts[i].dsn,
			    m->rcpts[i].diag ? m->rcpts[i].diag : "");
		buf_append_str(o, "</tbody></table>\n");
	}
	buf_append_str(o, "<h2>Actions</h2>\n<p>");
	action_form(o, req, m->qid, "flush", "Deliver now", "");
	if (strcmp(m->state, "hold") == 0)
		action_form(o, req, m->qid, "release", "Release from hold", "");
	else
		action_form(o, req, m->qid, "hold", "Hold", "");
	action_form(o, req, m->qid, "delete", "Delete…", "danger");
	buf_append_str(o, "</p>\n<h2>Headers</h2>\n<pre class=\"headers\">");
	for (size_t i = 0; i < m->n_headers; i++)
		html_printf(o, "%s\n", m->headers[i]);
	buf_append_str(o, "</pre>\n<p><a href=\"/queue\">Back to the queue</a></p>\n");
	html_page_end(o);
	ops_queue_free(&q);
}

static enum http_result
show_qid(struct http_request *req, struct http_response *resp, const char *qid,
    ops_ctl_done *done)
{
	const char *argv[] = { "queue", "show", qid };

	if (!ops_qid_is_valid(qid)) {
		http_error(req, resp, 404, "no such message in the queue");
		return HTTP_DONE;
	}
	return (enum http_result)ops_ctl(req, 3, argv, done, NULL);
}

enum http_result
ops_page_queue_msg(struct http_request *req, struct http_response *resp)
{
	const char *qid = ops_path_tail(req, "/queue/");

	return show_qid(req, resp, qid ? qid : "", show_done);
}

/* POST /queue/flush, /queue/QID/{flush,hold,release,delete} -------------------------------- */

struct q_action {
	char qid[40];
	char verb[8];
};

static void
action_audit(const struct http_request *req, const char *verb, const char *qid, int status)
{
	char action[32];

	if (status != 0)
		return;
	str_fmt(action, sizeof(action), "queue %s", verb);
	admin_audit(req, action, qid, NULL, NULL);
}

static void
action_page_done(struct http_request *req, struct http_response *resp, int status,
    const char *text, void *arg)
{
	struct q_action *a = arg;
	char back[64], title[48];

	action_audit(req, a->verb, a->qid, status);
	if (strcmp(a->verb, "delete") == 0 || strcmp(a->qid, "ALL") == 0)
		str_lcpy(back, "/queue", sizeof(back));
	else
		str_fmt(back, sizeof(back), "/queue/%s", a->qid);
	str_fmt(title, sizeof(title), "Queue: %s", a->verb);
	ops_result_page(req, resp, title, status == 0, text, back);
	xfree(a);
}

static void
action_api_done(struct http_request *req, struct http_response *resp, int status,
    const char *text, void *arg)
{
	struct q_action *a = arg;

	action_audit(req, a->verb, a->qid, status);
	if (status == 1 && strstr(text, "no message") != NULL)
		ops_json(resp, 404, json_pack("{s:b,s:s}", "ok", 0, "output", text));
	else
		ops_json_ctl(resp, status, text);
	xfree(a);
}

/* Runs verb on qid ("ALL" only for flush); page = 1 answers with HTML. */
static enum http_result
queue_action(struct http_request *req, struct http_response *resp, const char *qid,
    const char *verb, int page)
{
	static const char *const verbs[] = { "flush", "hold", "release", "delete", NULL };
	const char *argv[3] = { "queue", NULL, NULL };
	struct q_action *a;
	size_t i;

	for (i = 0; verbs[i] && strcmp(verbs[i], verb) != 0; i++)
		;
	if (verbs[i] == NULL || (strcmp(qid, "ALL") == 0 ? strcmp(verb, "flush") != 0 :
	    !ops_qid_is_valid(qid))) {
		http_error(req, resp, 404, "unknown queue action");
		return HTTP_DONE;
	}
	if (page && strcmp(verb, "delete") == 0 && !ops_confirmed(req)) {
		char action[64], back[64], q[160];

		str_fmt(action, sizeof(action), "/queue/%s/delete", qid);
		str_fmt(back, sizeof(back), "/queue/%s", qid);
		str_fmt(q, sizeof(q), "Delete message %s from the queue? It will not be delivered "
		    "and no bounce is sent.", qid);
		ops_confirm_page(req, resp, "delete", q, action, back, NULL, NULL);
		return HTTP_DONE;
	}
	a = xcalloc(1, sizeof(*a));
	str_lcpy(a->qid, qid, sizeof(a->qid));
	str_lcpy(a->verb, verb, sizeof(a->verb));
	argv[1] = a->verb;
	argv[2] = strcmp(qid, "ALL") == 0 ? NULL : a->qid;
	return (enum http_result)ops_ctl(req, argv[2] ? 3 : 2, argv,
	    page ? action_page_done : action_api_done, a);
}

enum http_result
ops_post_queue(struct http_request *req, struct http_response *resp)
{
	const char *tail = ops_path_tail(req, "/queue/"), *verb;
	char qid[40];

	if (tail != NULL && strcmp(tail, "flush") == 0)
		return queue_action(req, resp, "ALL", "flush", 1);
	if (tail == NULL || (verb = ops_path_split(tail, qid, sizeof(qid))) == NULL) {
		http_error(req, resp, 404, "unknown queue action");
		return HTTP_DONE;
	}
	return queue_action(req, resp, qid, verb, 1);
}

/* JSON API ---------------------------------------------------------------------------------- */

static json_t *
qmsg_json(const struct ops_qmsg *m)
{
	json_t *j = json_pack("{s:s}", "qid", m->qid), *rc = json_array();
	const char *subj;

	if (m->error) {
		json_object_set_new(j, "error", json_string(m->error));
		json_decref(rc);
		return j;
	}
	json_object_set_new(j, "state", json_string(m->state));
	json_object_set_new(j, "sender", json_string(m->sender));
	json_object_set_new(j, "size", json_integer(m->size));
	json_object_set_new(j, "arrival", json_string(m->arrival));
	json_object_set_new(j, "attempts", json_integer(m->attempts));
	json_object_set_new(j, "next_attempt", json_string(m->next));
	for (size_t i = 0; i < m->n_rcpts; i++) {
		json_t *r = json_pack("{s:s,s:s}", "address", m->rcpts[i].addr, "state",
		    m->rcpts[i].state);

		if (m->rcpts[i].dsn[0])
			json_object_set_new(r, "dsn", json_string(m->rcpts[i].dsn));
		if (m->rcpts[i].diag)
			json_object_set_new(r, "diagnostic", json_string(m->rcpts[i].diag));
		json_array_append_new(rc, r);
	}
	json_object_set_new(j, "recipients", rc);
	if (m->n_headers > 0) {
		json_t *h = json_array();

		if ((subj = ops_qmsg_header(m, "Subject")) != NULL)
			json_object_set_new(j, "subject", json_string(subj));
		for (size_t i = 0; i < m->n_headers; i++)
			json_array_append_new(h, json_string(m->headers[i]));
		json_object_set_new(j, "headers", h);
	}
	return j;
}

static void
api_list_done(struct http_request *req, struct http_response *resp, int status,
    const char *text, void *arg)
{
	const char *state = state_filter(req), *err;
	long long limit = query_num(req, "limit", 1000, QUEUE_API_MAX);
	long long skip = query_num(req, "skip", 0, OPS_QUEUE_MSGS_MAX);
	struct ops_queue q;
	json_t *arr;
	long long match = 0;

	(void)arg;
	if (status != 0 || ops_queue_parse(text, strlen(text), &q, &err) < 0) {
		ops_json(resp, 502, json_pack("{s:s}", "error", "the queue did not answer"));
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < q.n; i++) {
		if (state && strcmp(q.msgs[i].state, state) != 0)
			continue;
		if (match++ >= skip && (long long)json_array_size(arr) < limit)
			json_array_append_new(arr, qmsg_json(&q.msgs[i]));
	}
	ops_json(resp, 200, json_pack("{s:I,s:o}", "total", (json_int_t)match, "messages", arr));
	ops_queue_free(&q);
}

static void
api_show_done(struct http_request *req, struct http_response *resp, int status,
    const char *text, void *arg)
{
	const char *err;
	struct ops_queue q;

	(void)arg;
	if (status != 0 || ops_queue_parse(text, strlen(text), &q, &err) < 0 || q.n == 0) {
		if (status == 0)
			ops_queue_free(&q);
		http_error(req, resp, 404, "no such message in the queue");
		return;
	}
	ops_json(resp, 200, qmsg_json(&q.msgs[0]));
	ops_queue_free(&q);
}

enum http_result
ops_api_queue(struct http_request *req, struct http_response *resp)
{
	static const char *const argv[] = { "queue", "list" };

	(void)resp;
	if (http_query_get(req, "state") != NULL && state_filter(req) == NULL) {
		http_error(req, resp, 400, "state must be active, deferred, hold, quarantine or "
		    "rate-limited");
		return HTTP_DONE;
	}
	return (enum http_result)ops_ctl(req, 2, argv, api_list_done, NULL);
}

enum http_result
ops_api_queue_get(struct http_request *req, struct http_response *resp)
{
	const char *qid = ops_path_tail(req, "/api/v1/queue/");

	return show_qid(req, resp, qid ? qid : "", api_show_done);
}

enum http_result
ops_api_queue_delete(struct http_request *req, struct http_response *resp)
{
	const char *qid = ops_path_tail(req, "/api/v1/queue/");

	return queue_action(req, resp, qid && *qid ? qid : "-", "delete", 0);
}

enum http_result
ops_api_queue_post(struct http_request *req, struct http_response *resp)
{
	const char *tail = ops_path_tail(req, "/api/v1/queue/"), *verb;
	char qid[40];

	if (tail != NULL && strcmp(tail, "flush") == 0)
		return queue_action(req, resp, "ALL", "flush", 0);
	if (tail == NULL || (verb = ops_path_split(tail, qid, sizeof(qid))) == NULL ||
	    strcmp(verb, "delete") == 0) {
		http_error(req, resp, 404, "unknown queue action");
		return HTTP_DONE;
	}
	return queue_action(req, resp, qid, verb, 0);
}
