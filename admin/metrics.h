#ifndef ADMIN_METRICS_H
#define ADMIN_METRICS_H
/* metrics.h (admin side): reads every role's counter segment (common/metrics.h), renders
 * /metrics, and keeps the history for the dashboard charts in Berkeley DB (state_dir/admin-db,
 * table "history": one sample a minute, kept 8 days; 24 h charts use minute samples summed to
 * 10-minute points, 7 d charts hourly points). */
#include <stddef.h>

#include "lib/buf.h"

/* Opens the history store and starts the 60 s sampling timer on the admin role's loop. */
struct ev_loop;
int admin_metrics_start(struct ev_loop *loop, const char *state_dir, const char **error_r);
void admin_metrics_stop(void);

/* Prometheus text exposition format 0.0.4 of every counter, gauge and histogram of every role,
 * with HELP/TYPE lines; per-domain counters carry domain="..." labels. */
void admin_metrics_render(struct buf *out);

/* Current totals for the dashboard. */
struct admin_totals {
	unsigned long long in_deliver, in_quarantine, in_reject, in_greylist, in_tempfail;
	unsigned long long out_delivered, out_deferred, out_bounced, out_sent;
	unsigned long long connections;
	long long sessions, queue_active, queue_deferred, queue_held, queue_quarantined;
	long long dkim_rotation_alerts;
};
void admin_metrics_totals(struct admin_totals *t);

/* Per-domain totals since start (name, then the MD_* counters in enum order). */
struct admin_domain_totals {
	char domain[256];
	unsigned long long v[16];	/* indexed by enum metric_dom */
};
/* Fills up to max entries sorted by domain; returns the count. */
size_t admin_metrics_domains(struct admin_domain_totals *out, size_t max);

/* A chart series: series names are "in" (all inbound verdicts), "deliver", "quarantine",
 * "reject", "greylist", "out" (recipients delivered: to back-ends and to remote MX), "sent" (the
 * outbound part of "out"), "bounced", "deferred", "connections", "queue" (queue size, gauge:
 * last value of each point; global even when a domain is given). span_sec is 86400 (24 h, 144
 * points) or 604800 (7 d, 168 points). Points are oldest first; values are per point (rates
 * summed over the point). domain NULL = all domains. Returns the number of points written (at
 * most max), 0 without history. */
struct admin_point {
	long long t;	/* start of the point, unix time */
	double v;
};
size_t admin_metrics_series(const char *series, const char *domain, long long span_sec,
    struct admin_point *out, size_t max);

#endif
