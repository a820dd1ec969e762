/* test_chart.c: admin/chart.c: axis maxima and labels, and the SVG it renders: escaped text, one
 * line per series with points in the span, no script or style attributes (CSP), empty charts. */
#include <math.h>

#include "unit.h"

#include "admin/chart.h"
#include "lib/buf.h"

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static void
test_nice_max(void)
{
	static const struct { double in, want; } cases[] = {
		{ 0, 4 }, { -5, 4 }, { NAN, 4 }, { 0.3, 4 }, { 1, 4 }, { 4, 4 }, { 4.5, 8 },
		{ 8, 8 }, { 9, 20 }, { 20, 20 }, { 21, 40 }, { 140, 200 }, { 800, 800 }, { 999, 2000 },
		{ 4e6, 4e6 }, { 4.2e6, 8e6 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double got = chart_nice_max(cases[i].in);
		CHECK(fabs(got - cases[i].want) < 1e-9, "chart_nice_max(%g): got %g, want %g",
		    cases[i].in, got, cases[i].want);
	}
}

static void
test_fmt_count(void)
{
	static const struct { double in; const char *want; } cases[] = {
		{ 0, "0" }, { 5, "5" }, { 950, "950" }, { 1000, "1k" }, { 1500, "1.5k" },
		{ 12000, "12k" }, { 12345, "12k" }, { 3.2e6, "3.2M" }, { 2.5, "2.5" },
		{ 4e9, "4G" },
	};
	char got[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		chart_fmt_count(got, sizeof(got), cases[i].in);
		CHECK_STR(got, cases[i].want);
	}
}

static void
test_svg_lines(void)
{
	struct admin_point a[] = { { 1000, 1 }, { 1600, 3 }, { 2200, 2 } };
	struct admin_point b[] = { { 1000, 0 }, { 1600, NAN }, { 2200, 4 }, { 9999, 50 } };
	struct admin_point c[] = { { 1600, 1 } };
	struct chart_series s[] = {
		{ "delivered", "#2da44e", a, 3 },
		{ "<script>alert(1)</script>", "red\" onload=\"x", b, 4 },
		{ "one", "#0969da", c, 1 },
	};
	struct buf out;

	buf_init(&out, 1 << 20);
	chart_svg(&out, "t", "In & \"out\"", s, 3, 1000, 2200);
	CHECK(strncmp(out.data, "<svg ", 5) == 0, "does not start with <svg: %.40s", out.data);
	CHECK(strstr(out.data, "</svg>") != NULL, "no </svg>");
	CHECK_INT(count(out.data, "<polyline"), 2);	/* a, b (2 valid points); c is a dot */
	CHECK_INT(count(out.data, "<circle"), 1);
	CHECK(strstr(out.data, "<script") == NULL, "unescaped <script> in output");
	CHECK(strstr(out.data, "&lt;script&gt;") != NULL, "legend not escaped");
	CHECK(strstr(out.data, "In &amp; &quot;out&quot;") != NULL, "title not escaped");
	CHECK(strstr(out.data, "style=") == NULL, "style attribute (CSP) in output");
	CHECK(strstr(out.data, "onload") == NULL, "bad colour passed through");
	CHECK(strstr(out.data, "no data yet") == NULL, "empty marker on a chart with data");
	/* y axis: max 4 -> 0..4 in steps of 1 */
	CHECK(strstr(out.data, ">4</text>") != NULL && strstr(out.data, ">3</text>") != NULL,
	    "y axis labels 3, 4 missing");
	/* the point at t=9999 is outside the span: 50 must not raise the axis */
	CHECK(strstr(out.data, ">50</text>") == NULL, "point outside the span counted");
	buf_free(&out);
}

static void
test_svg_empty(void)
{
	struct chart_series s[] = { { "delivered", "#2da44e", NULL, 0 } };
	struct buf out;

	buf_init(&out, 1 << 20);
	chart_svg(&out, "e", "Empty", s, 1, 0, 86400);
	CHECK(strstr(out.data, "no data yet") != NULL, "no empty marker");
	CHECK_INT(count(out.data, "<polyline"), 0);
	CHECK(strstr(out.data, "00:00</text>") != NULL, "no hour labels on a 24 h axis");
	buf_reset(&out);
	chart_svg(&out, "w", "Week", s, 1, 0, 7 * 86400);
	CHECK(strstr(out.data, "Thu 01</text>") != NULL, "no day labels on a 7 d axis: %s",
	    out.data);
	buf_free(&out);
}

static const struct unit_case cases[] = {
	{ "nice_max", test_nice_max },
	{ "fmt_count", test_fmt_count },
	{ "svg_lines", test_svg_lines },
	{ "svg_empty", test_svg_empty },
};

UNIT_MAIN(cases)
