#ifndef FILTER_CTL_OPTS_H
#define FILTER_CTL_OPTS_H
/* Helpers shared by the report control commands (dmarc_ctl.c: `mailguardctl dmarc`,
 * tlsrpt_ctl.c: `mailguardctl tls-reports`): report periods in UTC days, dates and times as
 * text, and compact JSON answers (jansson). Pure (time is passed in), any thread. */
#include <stddef.h>

#include <jansson.h>

#include "lib/buf.h"

#define CTL_OPTS_DAY 86400LL
#define CTL_OPTS_DAYS_DEFAULT 30
#define CTL_OPTS_DAYS_MAX 366		/* --days */
#define CTL_OPTS_SPAN_MAX 3660		/* --since/--until, in days */

/* A report period as given: --days N, or --since YYYY-MM-DD [--until YYYY-MM-DD] (UTC). */
struct ctl_period {
	long long days;			/* -1: not given */
	long long since, until;		/* 00:00:00 of the days given, -1: not given */
};

/* Before the arguments: nothing given. */
void ctl_opts_period_init(struct ctl_period *p);
/* If argv[*i] is --days, --since or --until with a good value in argv[*i + 1], takes both
 * (*i advanced past the value) and returns 1; 0 if argv[*i] is none of them; -1 if it is one
 * but its value is missing or bad, or it was given twice. */
int ctl_opts_period_arg(int argc, char **argv, int *i, struct ctl_period *p);
/* The period in force at now: *since_r 00:00:00 of the first day, *until_r 23:59:59 of the
 * last, *days_r its length in days. Default: CTL_OPTS_DAYS_DEFAULT days ending today. Returns
 * 0, or -1 when --days was given with --since/--until, --until without --since, until before
 * since, or more than CTL_OPTS_SPAN_MAX days. */
int ctl_opts_period_end(const struct ctl_period *p, long long now, long long *since_r,
    long long *until_r, long long *days_r);

/* The days UTC days ending with the day of now: *since_r 00:00:00 of the first day, *until_r
 * 23:59:59 of the last. */
void ctl_opts_period_days(long long days, long long now, long long *since_r, long long *until_r);
/* "YYYY-MM-DD" -> 00:00:00 UTC of that day, -1 when not a real date in 1970..9999. */
long long ctl_opts_parse_date(const char *s);
/* t in UTC by strftime format fmt into out; fallback when t is out of range or out too small. */
void ctl_opts_fmt_utc(long long t, const char *fmt, const char *fallback, char *out,
    size_t size);
/* Appends j (compact) and "\n" to out, then releases j. 0, or -1 (nothing dumped, or out full). */
int ctl_opts_emit_json(json_t *j, struct buf *out);
/* o[k] = v (a NULL string as ""). */
void ctl_opts_jint(json_t *o, const char *k, long long v);
void ctl_opts_jstr(json_t *o, const char *k, const char *v);

#endif
