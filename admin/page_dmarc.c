/* page_dmarc.c: the console's DMARC overview (/dmarc: every domain with a dmarc_rua, its
 * reports, messages, pass rate, quarantine / reject counts, for a chosen period) and the report
 * drill-down (/dmarc/DOMAIN/report?id=...: header, published policy, quirks, rows), plus HTML
 * helpers of the DMARC pages (admin/page_dmarc.h). Input is the JSON the filter printed for
 * `dmarc domains` / `dmarc show`; every string in it comes from a report mail (hostile) and is
 * printed through html_printf (escaped) or, in links, percent-encoded. Admin role, loop thread. */
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "admin/admin.h"
#include "admin/page_dmarc.h"
#include "lib/str.h"

/* Helpers ------------------------------------------------------------------------------------ */

void
dv_url_enc(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '~' || c == '-') {
			buf_append_char(out, (char)c);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			buf_append(out, e, 3);
		}
	}
}

void
dv_time_text(char *dst, size_t size, long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(dst, size, "%Y-%m-%d %H:%M", &tm) == 0)
		str_lcpy(dst, "-", size);
}

void
dv_period_links(struct buf *o, const char *base, const struct dv *v)
{
	static const int periods[] = { 7, 30, 90, 365 };

	buf_append_str(o, "<div class=\"mg-actions period\"><p>Period:");
	for (size_t i = 0; i < sizeof(periods) / sizeof(periods[0]); i++) {
		if (!v->absolute && periods[i] == v->days)
			html_printf(o, " <strong>%d days</strong>", v->days);
		else
			html_printf(o, " <a href=\"%s?days=%d\">%d days</a>", base, periods[i],
			    periods[i]);
	}
	if (v->absolute)
		html_printf(o, " <strong>%s &ndash; %s</strong> (%d days)", v->since_s, v->until_s,
		    v->days);
	else if (v->days != 7 && v->days != 30 && v->days != 90 && v->days != 365)
		html_printf(o, " <strong>%d days</strong>", v->days);
	buf_append_str(o, " &middot; UTC days, by the reports' begin day</p>\n");
	html_printf(o, "<form method=\"get\" action=\"%s\" class=\"period-form\">"
	    "<fieldset class=\"checks\"><legend>Dates (UTC)</legend><label>From "
	    "<input type=\"date\" name=\"since\" value=\"%s\" required></label><label>to "
	    "<input type=\"date\" name=\"until\" value=\"%s\"></label>"
	    "<button type=\"submit\" class=\"secondary\">Show</button></fieldset></form>"
	    "</div>\n", base, v->since_s, v->until_s);
}

void
dv_card(struct buf *o, const char *label, long long v)
{
	html_printf(o, "<div class=\"card\"><div class=\"value\">%lld</div>"
	    "<div class=\"label\">%s</div></div>", v, label);
}

void
dv_rate(struct buf *o, long long part, long long whole)
{
	if (whole <= 0)
		buf_append_str(o, "-");
	else
		html_printf(o, "%.1f%%", 100.0 * (double)part / (double)whole);
}

int
dv_page_error(struct buf *o, const struct dv_reply *r, const char *what)
{
	char msg[512];

	dv_error_text(r, msg, sizeof(msg));
	html_printf(o, "<p class=\"alert\">%s: %s</p>\n", what, msg);
	return dv_error_status(r);
}

/* Overview ----------------------------------------------------------------------------------- */

static void
overview_row(struct buf *o, const json_t *d, const struct dv *v)
{
	const char *name = dv_str(d, "domain");
	long long msgs = dv_int(d, "messages"), pass = dv_int(d, "dmarc_pass");

	html_printf(o, "<tr><td><a href=\"/dmarc/");
	dv_url_enc(o, name);
	buf_append_char(o, '?');
	dv_period_query(o, v);
	html_printf(o, "\">%s</a></td><td>%s</td>"
	    "<td class=\"num\">%lld</td><td class=\"num\">%lld</td><td class=\"num\">%lld</td>"
	    "<td class=\"num\">", name, dv_str(d, "rua"), dv_int(d, "reports"), msgs, pass);
	dv_rate(o, pass, msgs);
	html_printf(o, "</td><td class=\"num\">%lld</td><td class=\"num\">%lld</td>"
	    "<td class=\"num\">%lld</td><td class=\"num\">%lld</td></tr>\n", dv_int(d, "dkim_pass"),
	    dv_int(d, "spf_pass"), dv_int(d, "quarantine"), dv_int(d, "reject"));
}

int
dv_body_overview(struct buf *o, const struct dv *v)
{
	const struct dv_reply *r = &v->r[0];
	json_t *doms = dv_arr(r->j, "domains");
	size_t i;
	json_t *d;

	dv_period_links(o, "/dmarc", v);
	if (r->status != 0)
		return dv_page_error(o, r, "The filter did not answer");
	buf_append_str(o, "<p>Aggregate reports received at each domain's <code>dmarc_rua</code> "
	    "address: what other mail systems saw of mail claiming to be from the domain.</p>\n");
	buf_append_str(o, "<table class=\"mg-table dmarc-domains\"><thead><tr><th>Domain</th>"
	    "<th>Report address</th><th class=\"num\">Reports</th><th class=\"num\">Messages</th>"
	    "<th class=\"num\">DMARC pass</th><th class=\"num\">Pass rate</th>"
	    "<th class=\"num\">DKIM pass</th><th class=\"num\">SPF pass</th>"
	    "<th class=\"num\">Quarantined</th><th class=\"num\">Rejected</th></tr></thead>"
	    "<tbody>\n");
	json_array_foreach(doms, i, d)
		if (json_is_object(d))
			overview_row(o, d, v);
	if (doms == NULL || json_array_size(doms) == 0)
		buf_append_str(o, "<tr><td colspan=\"10\">No protected domain has a "
		    "<code>dmarc_rua</code> address: set one on the domain's page.</td></tr>\n");
	buf_append_str(o, "</tbody></table>\n");
	return 200;
}

void
dv_render_frame(struct dv *v, struct http_response *resp, const char *title,
    int (*body)(struct buf *, const struct dv *))
{
	html_page_begin(&resp->body, v->req, title);
	resp->status = body(&resp->body, v);
	html_page_end(&resp->body);
}

void
dv_render_overview(struct dv *v, struct http_response *resp)
{
	dv_render_frame(v, resp, "DMARC reports", dv_body_overview);
}

/* Report drill-down ------------------------------------------------------------------------- */

static void
report_header(struct buf *o, const json_t *j)
{
	static const char *const pol_tags[] = { "p", "sp", "np", "adkim", "aspf", "fo" };
	const json_t *pol = dv_obj(j, "policy");
	json_t *quirks = dv_arr(j, "quirks"), *q;
	char b[32], e[32], rv[32];
	size_t i;

	dv_time_text(b, sizeof(b), dv_int(j, "begin"));
	dv_time_text(e, sizeof(e), dv_int(j, "end"));
	dv_time_text(rv, sizeof(rv), dv_int(j, "recv"));
	html_printf(o, "<table class=\"mg-table report-head\"><tbody>"
	    "<tr><th>Reporter</th><td>%s</td></tr><tr><th>Contact</th><td>%s</td></tr>"
	    "<tr><th>Extra contact</th><td>%s</td></tr><tr><th>Report id</th><td><code>%s</code>"
	    "</td></tr><tr><th>Period (UTC)</th><td>%s &ndash; %s</td></tr>"
	    "<tr><th>Received</th><td>%s</td></tr><tr><th>Rows / messages</th>"
	    "<td>%lld / %lld</td></tr>", dv_str(j, "org"), dv_str(j, "email"),
	    dv_str(j, "extra_contact"), dv_str(j, "report_id"), b, e, rv, dv_int(j, "records"),
	    dv_int(j, "total"));
	html_printf(o, "<tr><th>Policy published</th><td><code>%s</code>:", dv_str(pol, "domain"));
	for (size_t k = 0; k < sizeof(pol_tags) / sizeof(pol_tags[0]); k++)
		if (*dv_str(pol, pol_tags[k]))
			html_printf(o, " %s=%s", pol_tags[k], dv_str(pol, pol_tags[k]));
	if (json_is_integer(json_object_get(pol, "pct")))
		html_printf(o, " pct=%lld", dv_int(pol, "pct"));
	buf_append_str(o, "</td></tr>");
	buf_append_str(o, "<tr><th>Quirks</th><td>");
	json_array_foreach(quirks, i, q)
		if (json_is_string(q))
			html_printf(o, "%s<code>%s</code>", i ? ", " : "", json_string_value(q));
	if (quirks == NULL || json_array_size(quirks) == 0)
		buf_append_str(o, "none");
	buf_append_str(o, "</td></tr></tbody></table>\n");
}

/* The auth_results of a row, one per line: "DKIM example.org (s=sel): pass",
 * "SPF example.org (mfrom): fail". */
static void
row_auth(struct buf *o, const json_t *row)
{
	static const struct {
		const char *array, *label, *detail, *fmt;
	} kinds[] = {
		{ "auth_dkim", "DKIM", "selector", " (s=%s)" },
		{ "auth_spf", "SPF", "scope", " (%s)" },
	};
	json_t *x;
	size_t i;
	int any = 0;

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		json_array_foreach(dv_arr(row, kinds[k].array), i, x) {
			if (any++)
				buf_append_str(o, "<br>");
			html_printf(o, "%s %s", kinds[k].label, dv_str(x, "domain"));
			if (*dv_str(x, kinds[k].detail))
				html_printf(o, kinds[k].fmt, dv_str(x, kinds[k].detail));
			html_printf(o, ": %s", dv_str(x, "result"));
		}
}

static const char *
result_class(const char *r)
{
	return strcmp(r, "pass") == 0 ? "ok" : strcmp(r, "fail") == 0 ? "bad" : "";
}

static void
report_rows(struct buf *o, const json_t *j)
{
	json_t *rows = dv_arr(j, "rows"), *row;
	size_t i;

	buf_append_str(o, "<h2>Rows</h2>\n<table class=\"mg-table report-rows\"><thead><tr>"
	    "<th>Source IP</th><th class=\"num\">Messages</th><th>Disposition</th>"
	    "<th>DKIM (policy)</th><th>SPF (policy)</th><th>Reason</th><th>Header From</th>"
	    "<th>Envelope From / To</th><th>Auth results</th></tr></thead><tbody>\n");
	json_array_foreach(rows, i, row) {
		const char *dk = dv_str(row, "dkim"), *sp = dv_str(row, "spf");
		const char *ef = dv_str(row, "envelope_from"), *et = dv_str(row, "envelope_to");

		html_printf(o, "<tr><td><code>%s</code></td><td class=\"num\">%lld</td><td>%s</td>"
		    "<td class=\"%s\">%s</td><td class=\"%s\">%s</td><td>%s</td><td>%s</td><td>%s",
		    dv_str(row, "ip"), dv_int(row, "count"), dv_str(row, "disposition"),
		    result_class(dk), dk, result_class(sp), sp, dv_str(row, "reason"),
		    dv_str(row, "header_from"), ef);
		if (*et)
			html_printf(o, "%s&rarr; %s", *ef ? " " : "", et);
		buf_append_str(o, "</td><td>");
		row_auth(o, row);
		buf_append_str(o, "</td></tr>\n");
	}
	if (rows == NULL || json_array_size(rows) == 0)
		buf_append_str(o, "<tr><td colspan=\"9\">No rows.</td></tr>\n");
	buf_append_str(o, "</tbody></table>\n");
	if (json_is_true(json_object_get(j, "rows_truncated")))
		html_printf(o, "<p class=\"warn\">Only the first %zu rows are shown.</p>\n",
		    json_array_size(rows));
}

int
dv_body_report(struct buf *o, const struct dv *v)
{
	const struct dv_reply *r = &v->r[0];

	html_printf(o, "<p><a href=\"/dmarc/%s\">&larr; %s</a></p>\n", v->domain, v->domain);
	if (r->status != 0)
		return dv_page_error(o, r, "No report");
	report_header(o, r->j);
	report_rows(o, r->j);
	return 200;
}

void
dv_render_report(struct dv *v, struct http_response *resp)
{
	char title[300];

	str_fmt(title, sizeof(title), "DMARC report for %s", v->domain);
	dv_render_frame(v, resp, title, dv_body_report);
}
