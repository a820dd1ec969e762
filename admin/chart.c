/* chart.c: inline SVG line charts for the admin console's dashboard (admin role, loop thread).
 * Input: the admin role's own metric history (admin/metrics.h), trusted but bounded: at most
 * CHART_MAX_SERIES series are drawn, points outside the span or not finite are skipped, and every
 * text (title, legend) is escaped. Output is plain SVG 1.1 markup with presentation attributes only
 * (no script, no style attribute), so the console's strict Content-Security-Policy allows it. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "admin/admin.h"
#include "admin/chart.h"
#include "lib/str.h"

/* Geometry (SVG user units; the element scales to the page width through its viewBox). */
#define W		720
#define H		260
#define PAD_L		56
#define PAD_R		16
#define PAD_T		28
#define PAD_B		56	/* x labels + legend */
#define GRID_LINES	4
#define FONT		"font-family=\"sans-serif\" font-size=\"11\""

double
chart_nice_max(double v)
{
	static const double steps[] = { 1, 2, 5 };
	double want, p;

	/* counts: a grid step of at least 1, from the 1-2-5 series, so every label is exact */
	if (!(v > 0) || !isfinite(v))
		return GRID_LINES;
	want = v / GRID_LINES;
	if (want <= 1)
		return GRID_LINES;
	p = pow(10, floor(log10(want)));
	for (int i = 0; i < 3; i++)
		if (steps[i] * p >= want * (1 - 1e-12))
			return GRID_LINES * steps[i] * p;
	return GRID_LINES * 10 * p;
}

void
chart_fmt_count(char *dst, size_t size, double v)
{
	static const struct { double div; const char *suffix; } units[] = {
		{ 1e9, "G" }, { 1e6, "M" }, { 1e3, "k" },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (fabs(v) >= units[i].div) {
			double x = v / units[i].div;
			if (fabs(x) < 10 && fabs(x - round(x)) > 0.05)
				str_fmt(dst, size, "%.1f%s", x, units[i].suffix);
			else
				str_fmt(dst, size, "%.0f%s", round(x), units[i].suffix);
			return;
		}
	}
	if (fabs(v - round(v)) > 0.005)
		str_fmt(dst, size, "%.1f", v);
	else
		str_fmt(dst, size, "%.0f", round(v));
}

static int
color_ok(const char *c)
{
	if (c == NULL || c[0] != '#' || strlen(c) != 7)
		return 0;
	for (int i = 1; i < 7; i++)
		if (str_hex_digit((unsigned char)c[i]) < 0)
			return 0;
	return 1;
}

static double
x_of(long long t, long long t0, long long t1)
{
	return PAD_L + (double)(t - t0) * (W - PAD_L - PAD_R) / (double)(t1 - t0);
}

static double
y_of(double v, double ymax)
{
	return PAD_T + (H - PAD_T - PAD_B) * (1 - v / ymax);
}

static void
draw_y_axis(struct buf *out, double ymax)
{
	char label[32];

	for (int i = 0; i <= GRID_LINES; i++) {
		double v = ymax * i / GRID_LINES, y = y_of(v, ymax);
		chart_fmt_count(label, sizeof(label), v);
		buf_printf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" "
		    "stroke-width=\"1\"/>", PAD_L, y, W - PAD_R, y, i == 0 ? "#57606a" : "#d0d7de");
		buf_printf(out, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#57606a\" "
		    FONT ">%s</text>", PAD_L - 6, y + 4, label);
	}
}

/* Tick step and label format for the span: hours up to 2 days, days up to 10, then about ten
 * labels a whole number of days (weeks past 10 weeks) apart. */
static void
draw_x_axis(struct buf *out, long long t0, long long t1)
{
	long long span = t1 - t0, step, first;
	const char *fmt;
	char label[32];
	struct tm tm;

	if (span <= 2 * 86400) {
		step = span <= 6 * 3600 ? 3600 : 4 * 3600;
		fmt = "%H:%M";
	} else if (span <= 10 * 86400) {
		step = 86400;
		fmt = "%a %d";
	} else {
		/* at most about 10 labels: whole days, whole weeks past 10 weeks */
		long long days = (span / 86400 + 9) / 10;

		step = (days > 7 ? (days + 6) / 7 * 7 : days) * 86400;
		fmt = "%b %d";
	}
	first = (t0 + step - 1) / step * step;
	for (long long t = first; t <= t1; t += step) {
		double x = x_of(t, t0, t1);
		time_t tt = (time_t)t;
		if (gmtime_r(&tt, &tm) == NULL || strftime(label, sizeof(label), fmt, &tm) == 0)
			continue;
		buf_printf(out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#57606a\" "
		    "stroke-width=\"1\"/>", x, H - PAD_B, x, H - PAD_B + 4);
		buf_printf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#57606a\" "
		    FONT ">%s</text>", x, H - PAD_B + 16, label);
	}
	buf_printf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" fill=\"#57606a\" " FONT
	    ">UTC</text>", W - PAD_R, H - PAD_B + 30);
}

static int
point_ok(const struct admin_point *p, long long t0, long long t1)
{
	return p->t >= t0 && p->t <= t1 && isfinite(p->v);
}

static void
draw_series(struct buf *out, const struct chart_series *s, long long t0, long long t1,
    double ymax)
{
	const char *color = color_ok(s->color) ? s->color : "#8c959f";
	size_t valid = 0;

	for (size_t i = 0; i < s->n; i++)
		valid += point_ok(&s->pts[i], t0, t1);
	if (valid == 0)
		return;
	if (valid > 1)
		buf_printf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
		    "stroke-linejoin=\"round\" points=\"", color);
	for (size_t i = 0; i < s->n; i++) {
		const struct admin_point *p = &s->pts[i];
		double x, y;
		if (!point_ok(p, t0, t1))
			continue;
		x = x_of(p->t, t0, t1);
		y = y_of(p->v < 0 ? 0 : p->v, ymax);
		if (valid > 1)	/* a single point is a dot: a one-point polyline is invisible */
			buf_printf(out, "%.1f,%.1f ", x, y);
		else
			buf_printf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", x,
			    y, color);
	}
	if (valid > 1)
		buf_append_str(out, "\"/>");
}

static void
draw_legend(struct buf *out, const struct chart_series *s, size_t n)
{
	double x = PAD_L;

	for (size_t i = 0; i < n; i++) {
		const char *color = color_ok(s[i].color) ? s[i].color : "#8c959f";
		const char *label = s[i].label ? s[i].label : "";
		buf_printf(out, "<rect x=\"%.1f\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>",
		    x, H - 22, color);
		buf_printf(out, "<text x=\"%.1f\" y=\"%d\" fill=\"#24292f\" " FONT ">", x + 16, H - 12);
		html_esc(out, label);
		buf_append_str(out, "</text>");
		x += 16 + 7.0 * (double)strlen(label) + 18;
	}
}

void
chart_svg(struct buf *out, const char *id, const char *title, const struct chart_series *s,
    size_t n, long long t_start, long long t_end)
{
	double vmax = 0;
	size_t points = 0;

	if (n > CHART_MAX_SERIES)
		n = CHART_MAX_SERIES;
	if (t_end <= t_start)
		t_end = t_start + 1;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < s[i].n; j++) {
			const struct admin_point *p = &s[i].pts[j];
			if (!point_ok(p, t_start, t_end))
				continue;
			points++;
			if (p->v > vmax)
				vmax = p->v;
		}
	double ymax = chart_nice_max(vmax);

	buf_printf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" "
	    "viewBox=\"0 0 %d %d\" width=\"100%%\" preserveAspectRatio=\"xMinYMin meet\" "
	    "role=\"img\" aria-labelledby=\"%s-title\"><title id=\"%s-title\">", W, H, id, id);
	html_esc(out, title ? title : "");
	buf_append_str(out, "</title>");
	buf_printf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>", W, H);
	buf_printf(out, "<text x=\"%d\" y=\"16\" fill=\"#24292f\" font-family=\"sans-serif\" "
	    "font-size=\"13\" font-weight=\"bold\">", PAD_L);
	html_esc(out, title ? title : "");
	buf_append_str(out, "</text>");
	draw_y_axis(out, ymax);
	draw_x_axis(out, t_start, t_end);
	if (points == 0)
		buf_printf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#57606a\" "
		    "font-family=\"sans-serif\" font-size=\"14\">no data yet</text>",
		    (PAD_L + W - PAD_R) / 2, (PAD_T + H - PAD_B) / 2);
	for (size_t i = 0; i < n; i++)
		draw_series(out, &s[i], t_start, t_end, ymax);
	draw_legend(out, s, n);
	buf_append_str(out, "</svg>");
}
