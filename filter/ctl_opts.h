#ifndef FILTER_CTL_OPTS_H
#define FILTER_CTL_OPTS_H
/* Helpers shared by the report control commands (dmarc_ctl.c: `mailguardctl dmarc`,
 * tlsrpt_ctl.c: `mailguardctl tls-reports`): report periods in UTC days, dates and times as
 * text, and compact JSON answers (jansson). Pure (time is passed in), any thread. */
#include <stddef.h>

#include <jansson.h>

#include "lib/buf.h"

#define CTL_OPTS_DAY 86400LL

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
