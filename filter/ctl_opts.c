/* ctl_opts.c: what the report control commands (dmarc_ctl.c, tlsrpt_ctl.c) share -- the period
 * of N UTC days ending today, "YYYY-MM-DD" dates checked to be real, UTC time formatting, and
 * the compact JSON answer with its field setters. Input is an administrator's argv relayed by
 * the supervisor: dates are length- and range-checked before use. Pure, any thread. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filter/ctl_opts.h"
#include "lib/str.h"
#include "lib/strnum.h"

void
ctl_opts_period_days(long long days, long long now, long long *since_r, long long *until_r)
{
	long long today = now / CTL_OPTS_DAY * CTL_OPTS_DAY;

	*since_r = today - (days - 1) * CTL_OPTS_DAY;
	*until_r = today + CTL_OPTS_DAY - 1;
}

/* The number in s[0..n) within min..max, or -1. */
static long long
date_part(const char *s, size_t n, long long min, long long max)
{
	char part[5];
	long long v;
	const char *e;

	memcpy(part, s, n);
	part[n] = '\0';
	return strnum_ll(part, min, max, &v, &e) < 0 ? -1 : v;
}

long long
ctl_opts_parse_date(const char *s)
{
	long long y, m, d, t;
	struct tm tm;
	time_t tt;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
	    (y = date_part(s, 4, 1970, 9999)) < 0 || (m = date_part(s + 5, 2, 1, 12)) < 0 ||
	    (d = date_part(s + 8, 2, 1, 31)) < 0)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)y - 1900;
	tm.tm_mon = (int)m - 1;
	tm.tm_mday = (int)d;
	t = (long long)timegm(&tm);
	tt = (time_t)t;
	if (gmtime_r(&tt, &tm) == NULL || tm.tm_mday != (int)d)	/* 2025-02-30 */
		return -1;
	return t;
}

void
ctl_opts_period_init(struct ctl_period *p)
{
	p->days = p->since = p->until = -1;
}

int
ctl_opts_period_arg(int argc, char **argv, int *i, struct ctl_period *p)
{
	const char *a = argv[*i], *next = *i + 1 < argc ? argv[*i + 1] : NULL, *e;
	long long *dst = strcmp(a, "--days") == 0 ? &p->days : strcmp(a, "--since") == 0 ?
	    &p->since : strcmp(a, "--until") == 0 ? &p->until : NULL;
	long long v;

	if (dst == NULL)
		return 0;
	if (next == NULL || *dst >= 0)
		return -1;
	if (dst == &p->days)
		v = strnum_ll(next, 1, CTL_OPTS_DAYS_MAX, &v, &e) < 0 ? -1 : v;
	else
		v = ctl_opts_parse_date(next);
	if (v < 0)
		return -1;
	*dst = v;
	(*i)++;
	return 1;
}

int
ctl_opts_period_end(const struct ctl_period *p, long long now, long long *since_r,
    long long *until_r, long long *days_r)
{
	long long until = p->until, today = now / CTL_OPTS_DAY * CTL_OPTS_DAY;

	if ((p->days > 0 && (p->since >= 0 || p->until >= 0)) || (p->until >= 0 && p->since < 0))
		return -1;
	if (p->since < 0) {
		*days_r = p->days > 0 ? p->days : CTL_OPTS_DAYS_DEFAULT;
		ctl_opts_period_days(*days_r, now, since_r, until_r);
		return 0;
	}
	if (until < 0)
		until = today;
	if (until < p->since || (until - p->since) / CTL_OPTS_DAY + 1 > CTL_OPTS_SPAN_MAX)
		return -1;
	*days_r = (until - p->since) / CTL_OPTS_DAY + 1;
	*since_r = p->since;
	*until_r = until + CTL_OPTS_DAY - 1;
	return 0;
}

void
ctl_opts_fmt_utc(long long t, const char *fmt, const char *fallback, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, size, fmt, &tm) == 0)
		str_lcpy(out, fallback, size);
}

int
ctl_opts_emit_json(json_t *j, struct buf *out)
{
	char *s = json_dumps(j, JSON_COMPACT);
	int rc = s == NULL || buf_append_str(out, s) < 0 || buf_append_char(out, '\n') < 0 ? -1 : 0;

	free(s);	/* jansson's own allocator */
	json_decref(j);
	return rc;
}

void
ctl_opts_jint(json_t *o, const char *k, long long v)
{
	json_object_set_new(o, k, json_integer((json_int_t)v));
}

void
ctl_opts_jstr(json_t *o, const char *k, const char *v)
{
	json_object_set_new(o, k, json_string(v != NULL ? v : ""));
}
