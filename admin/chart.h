#ifndef ADMIN_CHART_H
#define ADMIN_CHART_H
/* chart.h: server-rendered line charts as inline SVG for the console (admin/chart.c). No script
 * and no style attributes (the console's Content-Security-Policy has no 'unsafe-inline'): colours
 * are SVG presentation attributes (fill=, stroke=), which CSP does not restrict. */
#include <stddef.h>

#include "admin/metrics.h"
#include "lib/buf.h"

#define CHART_MAX_SERIES 8

struct chart_series {
	const char *label;		/* legend text (escaped on output) */
	const char *color;		/* "#rrggbb"; anything else is drawn in grey */
	const struct admin_point *pts;	/* borrowed: oldest first, t in [t_start, t_end] */
	size_t n;
};

/* Appends one <svg> element: a line per series over [t_start, t_end) (unix seconds, UTC axis
 * labels: hours for spans up to 2 days, else days), a y axis from 0 to a rounded maximum with
 * grid lines, a legend, and a <title> (title, escaped). Points outside the span and non-finite
 * values are skipped; with no points at all the axes carry "no data yet". id must be a short
 * [a-z0-9-] name unique on the page (used for aria-labelledby). At most CHART_MAX_SERIES are drawn. */
void chart_svg(struct buf *out, const char *id, const char *title, const struct chart_series *s,
    size_t n, long long t_start, long long t_end);

/* The axis maximum for a data maximum v: 4 grid steps of the smallest 1, 2 or 5 x 10^k (at
 * least 1) that reach v, so every grid label is exact (v <= 0: 4). Exported for the unit test. */
double chart_nice_max(double v);
/* Short axis label of a count: "0", "950", "1.5k", "12k", "3.2M". Exported for the unit test. */
void chart_fmt_count(char *dst, size_t size, double v);

#endif
