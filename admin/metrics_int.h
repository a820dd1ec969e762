#ifndef ADMIN_METRICS_INT_H
#define ADMIN_METRICS_INT_H
/* metrics_int.h: shared between admin/metrics.c (segment reader, rendering), metrics_hist.c
 * (history in Berkeley DB) and metrics_http.c (routes). Admin role's loop thread only. */
#include <stddef.h>
#include <stdint.h>

#include "admin/metrics.h"
#include "common/metrics_seg.h"
#include "lib/buf.h"

/* Every role's segment summed: counters and gauges, histograms, per-domain counters. */
struct metrics_dom_total {
	char name[METRICS_NAME_MAX];
	uint64_t v[MD_METRIC_COUNT_];
};

struct metrics_view {
	uint64_t v[M_METRIC_COUNT_];		/* gauges: int64_t images, summed */
	struct metrics_hist hist[MH_METRIC_COUNT_];
	struct metrics_dom_total *dom;		/* sorted by name, names unique */
	size_t n_dom;
	size_t n_segments;			/* segments that contributed */
};

/* Where the segments are, and which supervisor's segments count (others are stale leftovers of
 * an earlier daemon and are ignored). Called by admin_metrics_start; tests call it directly. */
void metrics_reader_init(const char *state_dir, int64_t sup_pid);
void metrics_reader_close(void);
int64_t metrics_reader_sup_pid(void);
/* Reads every current segment (mapping new or recreated ones) into v (free with
 * metrics_view_free). */
void metrics_view_read(struct metrics_view *v);
void metrics_view_free(struct metrics_view *v);
/* Prometheus text format 0.0.4 of v. */
void metrics_view_render(const struct metrics_view *v, struct buf *out);

/* History (metrics_hist.c). period: seconds between samples (60; 2 in test mode). */
int metrics_hist_open(const char *state_dir, int period, const char **error_r);
void metrics_hist_close(void);
/* The admin-db environment opened by metrics_hist_open (NULL when closed); owned by the history. */
struct mg_kvdb *metrics_hist_kvdb(void);
/* Takes one sample at time now (unix seconds) from the current segments. */
void metrics_hist_sample(long long now);
/* admin_metrics_series with an explicit "now" (tests). */
size_t metrics_hist_series(const char *series, const char *domain, long long span_sec,
    long long now, struct admin_point *out, size_t max);

#endif
