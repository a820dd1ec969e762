/* page_dashboard.c: the console's start page (admin role, loop thread): message totals by
 * verdict and delivery outcome, queue size, DKIM rotation alerts, per-domain traffic, and charts
 * over 24 hours or 7 days rendered as inline SVG (admin/chart.c; no script). Input: the role's own
 * counters and history (admin/metrics.h) and the query parameter span (24h or 7d; anything else
 * is 24h). Output escaped (html_printf). */
#include <string.h>
#include <time.h>

#include "admin/admin.h"
#include "admin/chart.h"
#include "admin/metrics.h"
#include "admin/page_main.h"
#include "common/metrics.h"
#include "lib/xalloc.h"

#define POINTS_MAX	200	/* 24 h: 144 ten-minute points; 7 d: 168 hourly points */
#define DOMAINS_MAX	4097	/* METRICS_DOMAIN_SLOTS + "other" */

struct series_def {
	const char *name;	/* admin_metrics_series name */
	const char *label;
	const char *color;
};

static const struct series_def inbound[] = {
	{ "deliver", "delivered", "#2da44e" },
	{ "quarantine", "quarantined", "#bf8700" },
	{ "reject", "rejected", "#cf222e" },
	{ "greylist", "greylisted", "#8c959f" },
};
static const struct series_def outbound[] = {
	{ "out", "delivered / sent", "#0969da" },
	{ "deferred", "deferred", "#bc4c00" },
	{ "bounced", "bounced", "#8250df" },
};
static const struct series_def queue[] = {
	{ "queue", "messages in queue", "#0969da" },
};

static void
card(struct buf *out, const char *label, unsigned long long v)
{
	html_printf(out, "<div class=\"card\"><div class=\"value\">%llu</div>"
	    "<div class=\"label\">%s</div></div>", v, label);
}

static void
cards(struct buf *out, const struct admin_totals *t)
{
	buf_append_str(out, "<h2>Inbound messages</h2><div class=\"cards\">");
	card(out, "delivered", t->in_deliver);
	card(out, "quarantined", t->in_quarantine);
	card(out, "rejected", t->in_reject);
	card(out, "greylisted", t->in_greylist);
	card(out, "temporary failures", t->in_tempfail);
	buf_append_str(out, "</div><h2>Deliveries</h2><div class=\"cards\">");
	card(out, "delivered (all)", t->out_delivered);
	card(out, "sent out", t->out_sent);
	card(out, "deferred attempts", t->out_deferred);
	card(out, "bounced", t->out_bounced);
	card(out, "SMTP connections", t->connections);
	buf_append_str(out, "</div><h2>Queue</h2><div class=\"cards\">");
	card(out, "active", (unsigned long long)(t->queue_active < 0 ? 0 : t->queue_active));
	card(out, "deferred", (unsigned long long)(t->queue_deferred < 0 ? 0 : t->queue_deferred));
	card(out, "held", (unsigned long long)(t->queue_held < 0 ? 0 : t->queue_held));
	card(out, "quarantined",
	    (unsigned long long)(t->queue_quarantined < 0 ? 0 : t->queue_quarantined));
	buf_append_str(out, "</div><p><a href=\"/queue\">Queue</a></p>");
}

static void
chart(struct buf *out, const char *id, const char *title, const struct series_def *defs,
    size_t n, long long span)
{
	struct chart_series s[CHART_MAX_SERIES];
	struct admin_point *pts = xcalloc(n * POINTS_MAX, sizeof(*pts));
	long long now = (long long)time(NULL);

	for (size_t i = 0; i < n && i < CHART_MAX_SERIES; i++) {
		s[i].label = defs[i].label;
		s[i].color = defs[i].color;
		s[i].pts = &pts[i * POINTS_MAX];
		s[i].n = admin_metrics_series(defs[i].name, NULL, span, &pts[i * POINTS_MAX],
		    POINTS_MAX);
	}
	buf_append_str(out, "<figure class=\"mg-figure\">");
	chart_svg(out, id, title, s, n, now - span, now);
	buf_append_str(out, "</figure>");
	xfree(pts);
}

static void
domain_table(struct buf *out)
{
	struct admin_domain_totals *d = xcalloc(DOMAINS_MAX, sizeof(*d));
	size_t n = admin_metrics_domains(d, DOMAINS_MAX);

	buf_append_str(out, "<h2>Traffic per domain</h2><table class=\"mg-table\"><thead><tr>"
	    "<th>Domain</th><th>Delivered</th><th>Quarantined</th><th>Rejected</th>"
	    "<th>Greylisted</th><th>Delivered to back-end / MX</th><th>Sent out</th>"
	    "<th>Deferred</th><th>Bounced</th></tr></thead><tbody>");
	for (size_t i = 0; i < n; i++) {
		const unsigned long long *v = d[i].v;
		unsigned long long sum = 0;
		for (int k = 0; k < MD_METRIC_COUNT_; k++)
			sum += v[k];
		/* "other" (domains without a counter slot) has no page; shown only when used */
		if (strcmp(d[i].domain, "other") == 0 && sum == 0)
			continue;
		if (strcmp(d[i].domain, "other") == 0)
			html_printf(out, "<tr><td>%s</td>", d[i].domain);
		else
			html_printf(out, "<tr><td><a href=\"/domains/%s\">%s</a></td>", d[i].domain,
			    d[i].domain);
		html_printf(out, "<td class=\"num\">%llu</td><td class=\"num\">%llu</td>"
		    "<td class=\"num\">%llu</td><td class=\"num\">%llu</td><td class=\"num\">%llu</td>"
		    "<td class=\"num\">%llu</td><td class=\"num\">%llu</td><td class=\"num\">%llu</td>"
		    "</tr>", v[MD_IN_DELIVER], v[MD_IN_QUARANTINE], v[MD_IN_REJECT],
		    v[MD_IN_GREYLIST], v[MD_OUT_DELIVERED], v[MD_OUT_SENT], v[MD_OUT_DEFERRED],
		    v[MD_OUT_BOUNCED]);
	}
	if (n == 0 || (n == 1 && strcmp(d[0].domain, "other") == 0))
		buf_append_str(out, "<tr><td colspan=\"9\">No traffic yet.</td></tr>");
	buf_append_str(out, "</tbody></table>");
	xfree(d);
}

enum http_result
page_dashboard_get(struct http_request *req, struct http_response *resp)
{
	const char *span_q = http_query_get(req, "span");
	int week = span_q != NULL && strcmp(span_q, "7d") == 0;
	long long span = week ? 7 * 86400 : 86400;
	struct buf *out = &resp->body;
	struct admin_totals t;

	if (strcmp(req->path, "/") != 0) {
		http_error(req, resp, 404, "Not found.");
		return HTTP_DONE;
	}
	memset(&t, 0, sizeof(t));
	admin_metrics_totals(&t);
	html_page_begin(out, req, "Dashboard");
	if (t.dkim_rotation_alerts > 0)
		html_printf(out, "<div class=\"errors\" role=\"alert\"><strong>DKIM rotation: "
		    "%lld domain%s</strong> cannot switch to the next key because DNS does not "
		    "publish it yet. <a href=\"/dkim\">See the DKIM keys</a>.</div>",
		    t.dkim_rotation_alerts, t.dkim_rotation_alerts == 1 ? "" : "s");
	buf_append_str(out, "<p>Totals since the daemon started.</p>");
	cards(out, &t);
	html_printf(out, "<h2>Last %s</h2><p class=\"mg-actions\">", week ? "7 days" : "24 hours");
	buf_append_str(out, week ? "<a href=\"/?span=24h\">24 hours</a> &middot; <strong>7 days"
	    "</strong>" : "<strong>24 hours</strong> &middot; <a href=\"/?span=7d\">7 days</a>");
	buf_append_str(out, "</p>");
	chart(out, "chart-in", week ? "Inbound messages by verdict per hour" :
	    "Inbound messages by verdict per 10 minutes", inbound,
	    sizeof(inbound) / sizeof(inbound[0]), span);
	chart(out, "chart-out", week ? "Deliveries per hour" : "Deliveries per 10 minutes",
	    outbound, sizeof(outbound) / sizeof(outbound[0]), span);
	chart(out, "chart-queue", "Queue size", queue, 1, span);
	domain_table(out);
	html_page_end(out);
	return HTTP_DONE;
}
