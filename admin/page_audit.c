/* page_audit.c: the console's Audit page and /api/v1/audit: the audit log newest first, paged,
 * read through admin/audit.h (admin_audit_read reads from the file's end). Admin role, loop
 * thread. Records are our own JSON lines but hold text from admins and from files (config
 * before/after): each is parsed by jansson (a line that does not parse is shown as such) and
 * every field escaped; before/after are shown as a cheap diff (common leading and trailing
 * lines folded). */
#include <string.h>

#include <jansson.h>

#include "admin/admin.h"
#include "admin/audit.h"
#include "admin/ops.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

#define AUDIT_PAGE	50
#define AUDIT_API_MAX	1000
#define AUDIT_OUT_MAX	(64u * 1024 * 1024)
#define AUDIT_DIFF_LINES	4000	/* lines per side compared; more are shown whole */

static size_t
split(const char *s, const char **lines, size_t *lens, size_t max)
{
	size_t n = 0;

	while (*s && n < max) {
		size_t l = strcspn(s, "\n");

		lines[n] = s;
		lens[n++] = l;
		s += l + (s[l] == '\n');
	}
	return *s ? max + 1 : n;
}

/* Appends before/after: a "-"/"+" diff of the differing middle when both are text. */
static void
render_change(struct buf *o, const char *before, const char *after)
{
	static const char *bl[AUDIT_DIFF_LINES], *al[AUDIT_DIFF_LINES];
	static size_t bn[AUDIT_DIFF_LINES], an[AUDIT_DIFF_LINES];
	size_t nb, na, pre = 0, suf = 0;

	if (before == NULL || after == NULL ||
	    (nb = split(before, bl, bn, AUDIT_DIFF_LINES)) > AUDIT_DIFF_LINES ||
	    (na = split(after, al, an, AUDIT_DIFF_LINES)) > AUDIT_DIFF_LINES) {
		if (before) {
			buf_append_str(o, "<div class=\"lbl\">before</div><pre class=\"before\">");
			html_esc(o, before);
			buf_append_str(o, "</pre>");
		}
		if (after) {
			buf_append_str(o, "<div class=\"lbl\">after</div><pre class=\"after\">");
			html_esc(o, after);
			buf_append_str(o, "</pre>");
		}
		return;
	}
	while (pre < nb && pre < na && bn[pre] == an[pre] && memcmp(bl[pre], al[pre], bn[pre]) == 0)
		pre++;
	while (suf < nb - pre && suf < na - pre && bn[nb - 1 - suf] == an[na - 1 - suf] &&
	    memcmp(bl[nb - 1 - suf], al[na - 1 - suf], bn[nb - 1 - suf]) == 0)
		suf++;
	buf_append_str(o, "<pre class=\"diff\">");
	if (pre > 0)
		buf_printf(o, "<span class=\"muted\">@@ %zu unchanged line(s) @@</span>\n", pre);
	for (size_t i = pre; i < nb - suf; i++) {
		char *l = xstrndup(bl[i], bn[i]);

		buf_append_str(o, "<span class=\"del\">- ");
		html_esc(o, l);
		buf_append_str(o, "</span>\n");
		xfree(l);
	}
	for (size_t i = pre; i < na - suf; i++) {
		char *l = xstrndup(al[i], an[i]);

		buf_append_str(o, "<span class=\"add\">+ ");
		html_esc(o, l);
		buf_append_str(o, "</span>\n");
		xfree(l);
	}
	if (suf > 0)
		buf_printf(o, "<span class=\"muted\">@@ %zu unchanged line(s) @@</span>\n", suf);
	buf_append_str(o, "</pre>");
}

static const char *
str_of(json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));

	return s ? s : "";
}

static void
render_record(struct buf *o, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *j = json_loadb(line, len, 0, &jerr);

	if (j == NULL || !json_is_object(j)) {
		char *raw = xstrndup(line, len);

		html_printf(o, "<tr><td colspan=\"5\" class=\"alert\">unreadable record: %s</td></tr>\n",
		    raw);
		xfree(raw);
		json_decref(j);
		return;
	}
	html_printf(o, "<tr><td>%s</td><td>%s</td><td>%s</td><td><strong>%s</strong> %s</td><td>",
	    str_of(j, "time"), str_of(j, "who"), str_of(j, "peer"), str_of(j, "action"),
	    str_of(j, "target"));
	render_change(o, json_string_value(json_object_get(j, "before")),
	    json_string_value(json_object_get(j, "after")));
	buf_append_str(o, "</td></tr>\n");
	json_decref(j);
}

static long long
qnum(const struct http_request *req, const char *name, long long def, long long max)
{
	const char *s = http_query_get(req, name), *err;
	long long v;

	if (s == NULL || strnum_ll(s, 0, max, &v, &err) < 0)
		return def;
	return v;
}

enum http_result
ops_page_audit(struct http_request *req, struct http_response *resp)
{
	long long page = qnum(req, "page", 0, 1000000);
	struct buf recs, *o = &resp->body;
	size_t n;

	buf_init(&recs, AUDIT_OUT_MAX);
	n = admin_audit_read(&recs, AUDIT_PAGE + 1, (size_t)page * AUDIT_PAGE);
	html_page_begin(o, req, "Audit log");
	buf_append_str(o, "<p>Newest first. Every change made through the "
	    "console, the API or a login.</p>\n<table class=\"list audit\"><thead><tr><th>Time"
	    "</th><th>Who</th><th>From</th><th>Action</th><th>Change</th></tr></thead><tbody>\n");
	for (size_t i = 0, off = 0; i < n && i < AUDIT_PAGE && off < recs.len; i++) {
		const char *l = recs.data + off, *nl = memchr(l, '\n', recs.len - off);
		size_t ll = nl ? (size_t)(nl - l) : recs.len - off;

		render_record(o, l, ll);
		off += ll + 1;
	}
	if (n == 0)
		buf_append_str(o, "<tr><td colspan=\"5\">No records.</td></tr>\n");
	buf_append_str(o, "</tbody></table>\n<p class=\"pager\">");
	if (page > 0)
		buf_printf(o, "<a href=\"/audit?page=%lld\">&larr; newer</a> ", page - 1);
	if (n > AUDIT_PAGE)
		buf_printf(o, "<a href=\"/audit?page=%lld\">older &rarr;</a>", page + 1);
	buf_append_str(o, "</p>\n");
	html_page_end(o);
	buf_free(&recs);
	return HTTP_DONE;
}

enum http_result
ops_api_audit(struct http_request *req, struct http_response *resp)
{
	long long limit = qnum(req, "limit", 100, AUDIT_API_MAX);
	long long skip = qnum(req, "skip", 0, 100000000);
	struct buf recs;
	json_t *arr = json_array();
	size_t n;

	buf_init(&recs, AUDIT_OUT_MAX);
	n = admin_audit_read(&recs, (size_t)limit, (size_t)skip);
	for (size_t i = 0, off = 0; i < n && off < recs.len; i++) {
		const char *l = recs.data + off, *nl = memchr(l, '\n', recs.len - off);
		size_t ll = nl ? (size_t)(nl - l) : recs.len - off;
		json_error_t jerr;
		json_t *j = json_loadb(l, ll, 0, &jerr);

		json_array_append_new(arr, j ? j : json_pack("{s:s#}", "unreadable", l, (int)ll));
		off += ll + 1;
	}
	ops_json(resp, 200, json_pack("{s:I,s:o}", "skip", (json_int_t)skip, "records", arr));
	buf_free(&recs);
	return HTTP_DONE;
}
