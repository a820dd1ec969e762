/* page_dmarc_domain.c: the console's DMARC page of one domain (/dmarc/DOMAIN?days=N): totals,
 * a chart of messages / DMARC pass / DMARC fail per day, the reporters, the failing and the top
 * source IPs with their reverse DNS name and its status, the report list linking to the
 * drill-down, and a TLS-RPT section (totals, sessions per day, failures) when the filter answers
 * `tls-reports summary`. Input: the JSON of `dmarc summary`, `dmarc reports` and `tls-reports
 * summary` (admin/api_dmarc.c runs them); every string in it is hostile and printed escaped,
 * identities in links percent-encoded. Admin role, loop thread. */
#include <string.h>

#include <jansson.h>

#include "admin/admin.h"
#include "admin/chart.h"
#include "admin/page_dmarc.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define DV_DAILY_MAX	(DV_SPAN_MAX + 2)
#define DV_TIME_MAX	(1LL << 40)	/* a sane unix time (year 36812) */

struct dv_series_def {
	const char *key, *label, *color;
};

/* A line chart of daily[] members over the days days from since (the span is ours, not the
 * reply's: a bogus "until" must not make the axis loop for ever). */
static void
daily_chart(struct buf *o, const char *id, const char *title, const json_t *j, int days,
    const struct dv_series_def *defs, size_t n)
{
	struct chart_series s[CHART_MAX_SERIES];
	json_t *daily = dv_arr(j, "daily"), *d;
	struct admin_point *pts;
	size_t cnt = 0, i;
	long long since = dv_int(j, "since"), until;

	if (n > CHART_MAX_SERIES)
		n = CHART_MAX_SERIES;
	pts = xcalloc(n * DV_DAILY_MAX, sizeof(*pts));
	json_array_foreach(daily, i, d) {
		if (cnt >= DV_DAILY_MAX)
			break;
		for (size_t k = 0; k < n; k++) {
			pts[k * DV_DAILY_MAX + cnt].t = dv_int(d, "t");
			pts[k * DV_DAILY_MAX + cnt].v = (double)dv_int(d, defs[k].key);
		}
		cnt++;
	}
	for (size_t k = 0; k < n; k++) {
		s[k].label = defs[k].label;
		s[k].color = defs[k].color;
		s[k].pts = &pts[k * DV_DAILY_MAX];
		s[k].n = cnt;
	}
	if (since < 0 || since > DV_TIME_MAX)
		since = 0;
	until = since + (long long)days * 86400;
	buf_append_str(o, "<figure class=\"mg-figure\">");
	chart_svg(o, id, title, s, n, since, until);
	buf_append_str(o, "</figure>\n");
	xfree(pts);
}

static void
totals_cards(struct buf *o, const json_t *t)
{
	long long msgs = dv_int(t, "messages"), pass = dv_int(t, "dmarc_pass");

	buf_append_str(o, "<div class=\"cards\">");
	dv_card(o, "reports", dv_int(t, "reports"));
	dv_card(o, "reporters", dv_int(t, "reporters"));
	dv_card(o, "source IPs", dv_int(t, "sources"));
	dv_card(o, "messages", msgs);
	dv_card(o, "DMARC pass", pass);
	dv_card(o, "DMARC fail", dv_int(t, "dmarc_fail"));
	dv_card(o, "quarantined", dv_int(t, "quarantine"));
	dv_card(o, "rejected", dv_int(t, "reject"));
	buf_append_str(o, "<div class=\"card\"><div class=\"value\">");
	dv_rate(o, pass, msgs);
	buf_append_str(o, "</div><div class=\"label\">DMARC pass rate</div></div></div>\n");
}

static void
reporters_table(struct buf *o, const json_t *j)
{
	json_t *a = dv_arr(j, "reporters"), *x;
	size_t i;
	char last[32];

	buf_append_str(o, "<h2>Reporters</h2>\n<table class=\"mg-table reporters\"><thead><tr>"
	    "<th>Organisation</th><th>Contact</th><th class=\"num\">Reports</th>"
	    "<th class=\"num\">Messages</th><th>Last report ends</th></tr></thead><tbody>\n");
	json_array_foreach(a, i, x) {
		dv_time_text(last, sizeof(last), dv_int(x, "last_end"));
		html_printf(o, "<tr><td>%s</td><td>%s</td><td class=\"num\">%lld</td>"
		    "<td class=\"num\">%lld</td><td>%s</td></tr>\n", dv_str(x, "org"),
		    dv_str(x, "email"), dv_int(x, "reports"), dv_int(x, "messages"), last);
	}
	if (a == NULL || json_array_size(a) == 0)
		buf_append_str(o, "<tr><td colspan=\"5\">No reports in this period.</td></tr>\n");
	buf_append_str(o, "</tbody></table>\n");
}

static const char *
ptr_class(const char *st)
{
	return strcmp(st, "confirmed") == 0 ? "ok" : strcmp(st, "unconfirmed") == 0 ? "warn" : "";
}

static void
sources_table(struct buf *o, const json_t *j, const char *key, const char *title,
    const char *cls, const char *empty)
{
	json_t *a = dv_arr(j, key), *x;
	size_t i;

	html_printf(o, "<h2>%s</h2>\n<table class=\"mg-table %s\"><thead><tr><th>Source IP</th>"
	    "<th>Reverse DNS (PTR)</th><th class=\"num\">Messages</th>"
	    "<th class=\"num\">DMARC fail</th><th class=\"num\">DKIM pass</th>"
	    "<th class=\"num\">SPF pass</th><th class=\"num\">Quarantined</th>"
	    "<th class=\"num\">Rejected</th></tr></thead><tbody>\n", title, cls);
	json_array_foreach(a, i, x) {
		const char *ptr = dv_str(x, "ptr"), *st = dv_str(x, "ptr_status");

		html_printf(o, "<tr><td><code>%s</code></td><td>%s%s<span class=\"%s\">(%s)</span>"
		    "</td><td class=\"num\">%lld</td><td class=\"num\">%lld</td>"
		    "<td class=\"num\">%lld</td><td class=\"num\">%lld</td><td class=\"num\">%lld</td>"
		    "<td class=\"num\">%lld</td></tr>\n", dv_str(x, "ip"), ptr, *ptr ? " " : "",
		    ptr_class(st), *st ? st : "unknown", dv_int(x, "messages"),
		    dv_int(x, "dmarc_fail"), dv_int(x, "dkim_pass"), dv_int(x, "spf_pass"),
		    dv_int(x, "quarantine"), dv_int(x, "reject"));
	}
	if (a == NULL || json_array_size(a) == 0)
		html_printf(o, "<tr><td colspan=\"8\">%s</td></tr>\n", empty);
	buf_append_str(o, "</tbody></table>\n");
}

static void
reports_table(struct buf *o, const struct dv *v, const struct dv_reply *r)
{
	json_t *a = dv_arr(r->j, "reports"), *x;
	size_t i;
	char b[32], e[32], rv[32];

	buf_append_str(o, "<h2>Reports</h2>\n");
	if (r->status != 0) {
		char msg[512];

		dv_error_text(r, msg, sizeof(msg));
		html_printf(o, "<p class=\"alert\">The report list is not available: %s</p>\n", msg);
		return;
	}
	buf_append_str(o, "<table class=\"mg-table reports\"><thead><tr><th>Reporter</th>"
	    "<th>Report id</th><th>Period (UTC)</th><th>Received</th><th class=\"num\">Rows</th>"
	    "<th class=\"num\">Messages</th></tr></thead><tbody>\n");
	json_array_foreach(a, i, x) {
		dv_time_text(b, sizeof(b), dv_int(x, "begin"));
		dv_time_text(e, sizeof(e), dv_int(x, "end"));
		dv_time_text(rv, sizeof(rv), dv_int(x, "recv"));
		html_printf(o, "<tr><td>%s<br><span class=\"hint\">%s</span></td>"
		    "<td><a href=\"/dmarc/%s/report?id=", dv_str(x, "org"), dv_str(x, "email"),
		    v->domain);
		dv_url_enc(o, dv_str(x, "identity"));
		html_printf(o, "\"><code>%s</code></a></td><td>%s &ndash; %s</td><td>%s</td>"
		    "<td class=\"num\">%lld</td><td class=\"num\">%lld</td></tr>\n",
		    *dv_str(x, "report_id") ? dv_str(x, "report_id") : "(no id)", b, e, rv,
		    dv_int(x, "records"), dv_int(x, "total"));
	}
	if (a == NULL || json_array_size(a) == 0)
		buf_append_str(o, "<tr><td colspan=\"6\">No reports in this period.</td></tr>\n");
	buf_append_str(o, "</tbody></table>\n");
	if (a != NULL && (long long)json_array_size(a) >= v->limit)
		html_printf(o, "<p class=\"hint\">The newest %lld reports are listed.</p>\n",
		    v->limit);
}

/* TLS-RPT ------------------------------------------------------------------------------------ */

static void
tls_failures(struct buf *o, const json_t *j)
{
	json_t *a = dv_arr(j, "failures"), *x;
	size_t i;

	buf_append_str(o, "<table class=\"mg-table tls-failures\"><thead><tr><th>Result</th>"
	    "<th>Sending MTA</th><th>Receiving MX</th><th>Receiving IP</th>"
	    "<th class=\"num\">Failed sessions</th></tr></thead><tbody>\n");
	json_array_foreach(a, i, x)
		html_printf(o, "<tr><td>%s</td><td><code>%s</code></td><td>%s</td>"
		    "<td><code>%s</code></td><td class=\"num\">%lld</td></tr>\n",
		    dv_str(x, "result_type"), dv_str(x, "sending_mta_ip"),
		    dv_str(x, "receiving_mx_hostname"), dv_str(x, "receiving_ip"),
		    dv_int(x, "failed"));
	if (a == NULL || json_array_size(a) == 0)
		buf_append_str(o, "<tr><td colspan=\"5\">No failed sessions reported.</td></tr>\n");
	buf_append_str(o, "</tbody></table>\n");
}

static void
tls_section(struct buf *o, const struct dv *v)
{
	const struct dv_reply *r = &v->r[2];
	int days = v->days;
	static const struct dv_series_def defs[] = {
		{ "successful", "successful sessions", "#1a7f37" },
		{ "failed", "failed sessions", "#cf222e" },
	};
	const json_t *t;

	buf_append_str(o, "<section class=\"tlsrpt\"><h2>TLS reports (TLS-RPT)</h2>\n");
	if (v->n_cmds < 3 || r->status != 0 || r->j == NULL ||
	    dv_int(dv_obj(r->j, "totals"), "reports") <= 0) {
		buf_append_str(o, "<p class=\"hint\">No TLS reports.</p></section>\n");
		return;
	}
	t = dv_obj(r->j, "totals");
	buf_append_str(o, "<div class=\"cards\">");
	dv_card(o, "TLS reports", dv_int(t, "reports"));
	dv_card(o, "reporters", dv_int(t, "reporters"));
	dv_card(o, "successful sessions", dv_int(t, "successful"));
	dv_card(o, "failed sessions", dv_int(t, "failed"));
	buf_append_str(o, "</div>\n");
	daily_chart(o, "tls-daily", "TLS sessions per day", r->j, days, defs, 2);
	tls_failures(o, r->j);
	buf_append_str(o, "</section>\n");
}

int
dv_body_domain(struct buf *o, const struct dv *v)
{
	static const struct dv_series_def defs[] = {
		{ "messages", "messages", "#0969da" },
		{ "dmarc_pass", "DMARC pass", "#1a7f37" },
		{ "dmarc_fail", "DMARC fail", "#cf222e" },
	};
	const struct dv_reply *sum = &v->r[0];
	char base[300];

	str_fmt(base, sizeof(base), "/dmarc/%s", v->domain);
	buf_append_str(o, "<p><a href=\"/dmarc?");
	dv_period_query(o, v);
	buf_append_str(o, "\">&larr; All domains</a></p>\n");
	dv_period_links(o, base, v);
	if (sum->status != 0)
		return dv_page_error(o, sum, "No summary");
	totals_cards(o, dv_obj(sum->j, "totals"));
	daily_chart(o, "dmarc-daily", "Messages per day", sum->j, v->days, defs, 3);
	reporters_table(o, sum->j);
	sources_table(o, sum->j, "failing_sources", "Failing sources", "failing-sources",
	    "No source failed DMARC in this period.");
	sources_table(o, sum->j, "top_sources", "Top sources", "top-sources",
	    "No sources in this period.");
	reports_table(o, v, &v->r[1]);
	tls_section(o, v);
	return 200;
}

void
dv_render_domain(struct dv *v, struct http_response *resp)
{
	char title[300];

	str_fmt(title, sizeof(title), "DMARC: %s", v->domain);
	dv_render_frame(v, resp, title, dv_body_domain);
}
