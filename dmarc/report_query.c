/* report_query.c: the read side of the stored incoming DMARC reports (dmarc/report.h, "Stored
 * reports"): per-domain lists, per-IP and per-day totals over a period, reporters, one report's
 * header and its record lines parsed back. Every read is a prefix scan (mg_kvdb_scan) of one
 * domain's keys ("<domain>\x1f..."), starting at the first day of the period where the key
 * order allows it (dmarc_rsum), so the cost follows what is asked, not the table size. Values
 * are our own (report_store.c) but read defensively: an unreadable value is skipped, strings
 * come out printable and cut to their buffers. Any thread. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dmarc/dmarc.h"
#include "lib/kvdb.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

#define SEP MG_RSTORE_SEP
#define LIST_HARD_MAX 100000		/* reports gathered by one call */
#define SUM_HARD_MAX 200000		/* distinct (day, ip) rows gathered by one call */
#define DAY_SECS 86400LL

/* strnum_ll without the error text (strnum wants an error_r). */
static int
num_ll(const char *s, long long min, long long max, long long *out)
{
	const char *e;

	return strnum_ll(s, min, max, out, &e);
}

static long long
day_of(long long t)
{
	return t >= 0 ? t / DAY_SECS : -((-t + DAY_SECS - 1) / DAY_SECS);
}

/* "yyyymmdd" of t (UTC) into out[9]. */
static void
ymd(long long t, char *out)
{
	time_t tt = (time_t)(t > 0 ? t : 0);
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 9, "%Y%m%d", &tm) == 0)
		str_lcpy(out, "00000000", 9);
}

/* 00:00 UTC of a "yyyymmdd" day, -1 when not a date. */
static long long
ymd_time(const char *s)
{
	struct tm tm;
	long long v;
	char y[5], m[3], d[3];

	if (strlen(s) != 8)
		return -1;
	memcpy(y, s, 4), y[4] = '\0';
	memcpy(m, s + 4, 2), m[2] = '\0';
	memcpy(d, s + 6, 2), d[2] = '\0';
	memset(&tm, 0, sizeof(tm));
	if (num_ll(y, 1970, 9999, &v) < 0)
		return -1;
	tm.tm_year = (int)v - 1900;
	if (num_ll(m, 1, 12, &v) < 0)
		return -1;
	tm.tm_mon = (int)v - 1;
	if (num_ll(d, 1, 31, &v) < 0)
		return -1;
	tm.tm_mday = (int)v;
	return (long long)timegm(&tm);
}

static char *
prefix_of(const char *domain)
{
	return xasprintf("%s%c", domain, SEP);
}

/* ---- reports (dmarc_rpt) ---- */

struct list_ctx {
	long long since_day, until_day;
	struct mg_rstore_info *v;
	size_t n, cap;
};

static void
info_fill(struct mg_rstore_info *x, const char *key, size_t klen, const char *sep,
    const char *val, size_t vlen)
{
	memset(x, 0, sizeof(*x));
	memcpy(x->domain, key, (size_t)(sep - key));
	memcpy(x->identity, sep + 1, klen - (size_t)(sep - key) - 1);
	(void)mg_rstore_field(val, vlen, "org", x->org, sizeof(x->org));
	(void)mg_rstore_field(val, vlen, "email", x->email, sizeof(x->email));
	(void)mg_rstore_field(val, vlen, "id", x->report_id, sizeof(x->report_id));
	x->recv = mg_rstore_field_ll(val, vlen, "recv");
	x->begin = mg_rstore_field_ll(val, vlen, "begin");
	x->end = mg_rstore_field_ll(val, vlen, "end");
	x->records = (unsigned long long)mg_rstore_field_ll(val, vlen, "records");
	x->total = (unsigned long long)mg_rstore_field_ll(val, vlen, "total");
}

/* The separator of a dmarc_rpt key when key and value look like ours, else NULL. */
static const char *
rpt_sep(const char *key, size_t klen, const char *val, size_t vlen)
{
	const char *sep = memchr(key, SEP, klen);

	if (sep == NULL || (size_t)(sep - key) > MG_REPORT_NAME_MAX ||
	    klen - (size_t)(sep - key) > MG_REPORT_IDENTITY_MAX || vlen < 7 ||
	    memcmp(val, "mgrpt1 ", 7) != 0)
		return NULL;
	return sep;
}

static int
list_collect(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
	struct list_ctx *c = arg;
	const char *key = k, *val = v, *sep = rpt_sep(key, klen, val, vlen);
	long long d;

	if (c->n >= LIST_HARD_MAX)
		return 0;
	if (sep == NULL)
		return 1;
	d = day_of(mg_rstore_field_ll(val, vlen, "begin"));
	if (d < c->since_day || d > c->until_day)
		return 1;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = xreallocarray(c->v, c->cap, sizeof(*c->v));
	}
	info_fill(&c->v[c->n++], key, klen, sep, val, vlen);
	return 1;
}

static int
cmp_info(const void *a, const void *b)
{
	const struct mg_rstore_info *x = a, *y = b;

	if (x->end != y->end)
		return x->end > y->end ? -1 : 1;
	if (x->recv != y->recv)
		return x->recv > y->recv ? -1 : 1;
	return strcmp(x->identity, y->identity);
}

/* Every report of domain in the period, unsorted. */
static int
list_all(struct mg_rstore *s, const char *domain, long long since, long long until,
    struct list_ctx *c)
{
	char *prefix = prefix_of(domain);
	int rc;

	c->since_day = day_of(since);
	c->until_day = day_of(until);
	rc = mg_kvdb_scan(s->rpt, NULL, 0, prefix, strlen(prefix), list_collect, c);
	xfree(prefix);
	return rc;
}

int
mg_rstore_list_range(struct mg_rstore *s, const char *domain, long long since,
    long long until, size_t max, struct mg_rstore_info **out, size_t *n_r)
{
	struct list_ctx c = { 0 };
	int rc = list_all(s, domain, since, until, &c);

	if (c.n > 0)
		qsort(c.v, c.n, sizeof(*c.v), cmp_info);
	*out = c.v;
	*n_r = c.n < max ? c.n : max;
	return rc;
}

int
mg_rstore_list(struct mg_rstore *s, const char *domain, size_t max,
    struct mg_rstore_info **out, size_t *n_r)
{
	return mg_rstore_list_range(s, domain, LLONG_MIN / 2, LLONG_MAX / 2, max, out, n_r);
}

static int
cmp_reporter_key(const void *a, const void *b)
{
	const struct mg_rstore_info *x = a, *y = b;
	int c = strcmp(x->org, y->org);

	return c != 0 ? c : strcmp(x->email, y->email);
}

static int
cmp_reporter(const void *a, const void *b)
{
	const struct mg_rstore_reporter *x = a, *y = b;
	int c;

	if (x->messages != y->messages)
		return x->messages > y->messages ? -1 : 1;
	if ((c = strcmp(x->org, y->org)) != 0)
		return c;
	return strcmp(x->email, y->email);
}

int
mg_rstore_reporters(struct mg_rstore *s, const char *domain, long long since,
    long long until, struct mg_rstore_reporter **out, size_t *n_r, size_t *reports_r)
{
	struct list_ctx c = { 0 };
	struct mg_rstore_reporter *v;
	size_t n = 0;
	int rc = list_all(s, domain, since, until, &c);

	if (c.n > 0)
		qsort(c.v, c.n, sizeof(*c.v), cmp_reporter_key);
	v = xcalloc(c.n + 1, sizeof(*v));
	for (size_t i = 0; i < c.n; i++) {
		const struct mg_rstore_info *x = &c.v[i];

		if (n == 0 || cmp_reporter_key(&c.v[i - 1], x) != 0) {
			str_lcpy(v[n].org, x->org, sizeof(v[n].org));
			str_lcpy(v[n].email, x->email, sizeof(v[n].email));
			n++;
		}
		v[n - 1].reports++;
		v[n - 1].messages += x->total;
		if (x->end > v[n - 1].last_end)
			v[n - 1].last_end = x->end;
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_reporter);
	if (reports_r != NULL)
		*reports_r = c.n;
	xfree(c.v);
	*out = v;
	*n_r = n;
	return rc;
}

int
mg_rstore_get(struct mg_rstore *s, const char *domain, const char *identity,
    struct mg_rstore_report *out)
{
	struct buf key, v;
	const char *sep;
	char num[16];
	int r;

	memset(out, 0, sizeof(*out));
	buf_init(&key, MG_KVDB_KEY_MAX);
	buf_init(&v, MG_KVDB_VALUE_MAX);
	if (strchr(domain, SEP) != NULL || strchr(identity, SEP) != NULL ||
	    strlen(identity) >= MG_REPORT_IDENTITY_MAX ||
	    buf_printf(&key, "%s%c%s", domain, SEP, identity) < 0) {
		r = 0;
		goto out;
	}
	if ((r = mg_kvdb_get(s->rpt, key.data, key.len, &v)) != 1)
		goto out;
	if ((sep = rpt_sep(key.data, key.len, v.data, v.len)) == NULL) {
		r = 0;
		goto out;
	}
	info_fill(&out->info, key.data, key.len, sep, v.data, v.len);
	(void)mg_rstore_field(v.data, v.len, "ext", out->extra_contact, sizeof(out->extra_contact));
	(void)mg_rstore_field(v.data, v.len, "pd", out->policy_domain, sizeof(out->policy_domain));
	(void)mg_rstore_field(v.data, v.len, "p", out->p, sizeof(out->p));
	(void)mg_rstore_field(v.data, v.len, "sp", out->sp, sizeof(out->sp));
	(void)mg_rstore_field(v.data, v.len, "np", out->np, sizeof(out->np));
	(void)mg_rstore_field(v.data, v.len, "fo", out->fo, sizeof(out->fo));
	(void)mg_rstore_field(v.data, v.len, "adkim", out->adkim, sizeof(out->adkim));
	(void)mg_rstore_field(v.data, v.len, "aspf", out->aspf, sizeof(out->aspf));
	if (strcmp(out->adkim, "-") == 0)
		out->adkim[0] = '\0';
	if (strcmp(out->aspf, "-") == 0)
		out->aspf[0] = '\0';
	out->pct = -1;
	if (mg_rstore_field(v.data, v.len, "pct", num, sizeof(num)) == 0) {
		long long pct;

		if (num_ll(num, 0, 100, &pct) == 0)
			out->pct = (int)pct;
	}
	out->quirks = (unsigned)mg_rstore_field_ll(v.data, v.len, "quirks");
	out->bis = mg_rstore_field_ll(v.data, v.len, "bis") == 1;
out:
	buf_free(&key);
	buf_free(&v);
	return r;
}

/* ---- per-day, per-IP counters (dmarc_rsum "<domain>\x1f<yyyymmdd>\x1f<ip>") ---- */

struct sum_row {
	char day[9];
	char ip[46];
	unsigned long long n[MG_RSUM_COUNT];
};

struct sum_ctx {
	char until[9];
	struct sum_row *v;
	size_t n, cap;
};

static int
sum_collect(void *arg, const void *k, size_t klen, const void *val, size_t vlen)
{
	struct sum_ctx *c = arg;
	const char *key = k, *d = memchr(key, SEP, klen), *ip;
	struct sum_row *x;

	if (c->n >= SUM_HARD_MAX)
		return 0;
	if (d == NULL || (ip = memchr(d + 1, SEP, klen - (size_t)(d + 1 - key))) == NULL ||
	    ip - d - 1 != 8 || (size_t)(key + klen - ip - 1) >= sizeof(x->ip))
		return 1;
	if (memcmp(d + 1, c->until, 8) > 0)
		return 0;		/* keys are in day order: past the period */
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = xreallocarray(c->v, c->cap, sizeof(*c->v));
	}
	x = &c->v[c->n];
	memset(x, 0, sizeof(*x));
	if (mg_rstore_sum_parse(val, vlen, x->n) < 0)
		return 1;
	memcpy(x->day, d + 1, 8);
	memcpy(x->ip, ip + 1, (size_t)(key + klen - ip - 1));
	c->n++;
	return 1;
}

/* The (day, ip) rows of domain in [since, until], in key order (each key once). */
static int
sum_rows(struct mg_rstore *s, const char *domain, long long since, long long until,
    struct sum_ctx *c)
{
	char *prefix = prefix_of(domain), from[9];
	struct buf start;
	int rc = -1;

	ymd(since, from);
	ymd(until, c->until);
	buf_init(&start, MG_KVDB_KEY_MAX);
	if (buf_printf(&start, "%s%s", prefix, from) == 0)
		rc = mg_kvdb_scan(s->rsum, start.data, start.len, prefix, strlen(prefix),
		    sum_collect, c);
	buf_free(&start);
	xfree(prefix);
	return rc;
}

static int
cmp_row_ip(const void *a, const void *b)
{
	return strcmp(((const struct sum_row *)a)->ip, ((const struct sum_row *)b)->ip);
}

static int
cmp_sum_msgs(const void *a, const void *b)
{
	const struct mg_rstore_sum *x = a, *y = b;

	if (x->n[MG_RSUM_MSGS] != y->n[MG_RSUM_MSGS])
		return x->n[MG_RSUM_MSGS] > y->n[MG_RSUM_MSGS] ? -1 : 1;
	return strcmp(x->ip, y->ip);
}

int
mg_rstore_summary_range(struct mg_rstore *s, const char *domain, long long since,
    long long until, struct mg_rstore_sum **out, size_t *n_r)
{
	struct sum_ctx c = { 0 };
	struct mg_rstore_sum *v;
	size_t n = 0;
	int rc = sum_rows(s, domain, since, until, &c);

	if (c.n > 0)
		qsort(c.v, c.n, sizeof(*c.v), cmp_row_ip);
	v = xcalloc(c.n + 1, sizeof(*v));
	for (size_t i = 0; i < c.n; i++) {
		if (n == 0 || strcmp(v[n - 1].ip, c.v[i].ip) != 0)
			str_lcpy(v[n++].ip, c.v[i].ip, sizeof(v[0].ip));
		for (int k = 0; k < MG_RSUM_COUNT; k++)
			v[n - 1].n[k] += c.v[i].n[k];
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_sum_msgs);
	xfree(c.v);
	*out = v;
	*n_r = n;
	return rc;
}

int
mg_rstore_summary(struct mg_rstore *s, const char *domain, long long since,
    struct mg_rstore_sum **out, size_t *n_r)
{
	return mg_rstore_summary_range(s, domain, since, 253402214400LL /* 9999-12-31 */, out,
	    n_r);
}

int
mg_rstore_days(struct mg_rstore *s, const char *domain, long long since, long long until,
    struct mg_rstore_day **out, size_t *n_r)
{
	struct sum_ctx c = { 0 };
	struct mg_rstore_day *v;
	size_t n = 0;
	int rc = sum_rows(s, domain, since, until, &c);

	/* rows come in key order: day first */
	v = xcalloc(c.n + 1, sizeof(*v));
	for (size_t i = 0; i < c.n; i++) {
		long long t = ymd_time(c.v[i].day);

		if (t < 0)
			continue;
		if (n == 0 || v[n - 1].t != t)
			v[n++].t = t;
		for (int k = 0; k < MG_RSUM_COUNT; k++)
			v[n - 1].n[k] += c.v[i].n[k];
	}
	xfree(c.v);
	*out = v;
	*n_r = n;
	return rc;
}

/* ---- record lines ---- */

long long
mg_rstore_records(struct mg_rstore *s, const char *domain, const char *identity,
    struct buf *out)
{
	struct buf k, v;
	long long n = 0;
	int r = 1;

	buf_init(&k, MG_KVDB_KEY_MAX);
	buf_init(&v, MG_KVDB_VALUE_MAX);
	for (unsigned chunk = 0; r == 1 && chunk < 1000000; chunk++) {
		const char *nl;

		buf_reset(&k);
		if (buf_printf(&k, "%s%c%s%c%06u", domain, SEP, identity, SEP, chunk) < 0 ||
		    (r = mg_kvdb_get(s->rrec, k.data, k.len, &v)) < 0)
			n = -1;
		if (r != 1 || (nl = memchr(v.data, '\n', v.len)) == NULL)
			break;
		for (const char *p = nl + 1; p < v.data + v.len; p++)
			n += *p == '\n';
		if (buf_append(out, nl + 1, v.len - (size_t)(nl + 1 - v.data)) < 0)
			n = -1;
	}
	buf_free(&k);
	buf_free(&v);
	return n;
}

/* Splits "a/b/c" into three decoded parts. */
static void
split3(struct slice item, char *a, size_t as, char *b, size_t bs, char *c, size_t cs)
{
	const char *s1 = memchr(item.p, '/', item.len), *s2;
	const char *end = item.p + item.len;

	if (s1 == NULL) {
		mg_rstore_decode(item.p, item.len, a, as);
		b[0] = c[0] = '\0';
		return;
	}
	mg_rstore_decode(item.p, (size_t)(s1 - item.p), a, as);
	s2 = memchr(s1 + 1, '/', (size_t)(end - s1 - 1));
	if (s2 == NULL) {
		mg_rstore_decode(s1 + 1, (size_t)(end - s1 - 1), b, bs);
		c[0] = '\0';
		return;
	}
	mg_rstore_decode(s1 + 1, (size_t)(s2 - s1 - 1), b, bs);
	mg_rstore_decode(s2 + 1, (size_t)(end - s2 - 1), c, cs);
}

/* The next ','-separated item of *list; 0 when none is left. */
static int
next_item(struct slice *list, struct slice *item)
{
	const char *comma;

	if (list->len == 0)
		return 0;
	comma = memchr(list->p, ',', list->len);
	item->p = list->p;
	item->len = comma != NULL ? (size_t)(comma - list->p) : list->len;
	list->p += item->len + (comma != NULL);
	list->len -= item->len + (comma != NULL);
	return 1;
}

int
mg_rstore_row_parse(const char *line, size_t len, struct mg_rstore_row *row)
{
	struct slice list, item;
	char num[24];
	long long n;

	memset(row, 0, sizeof(*row));
	if (len < 3 || memcmp(line, "ip=", 3) != 0 ||
	    mg_rstore_field(line, len, "n", num, sizeof(num)) < 0 ||
	    num_ll(num, 0, 1LL << 62, &n) < 0)
		return -1;
	row->count = (unsigned long long)n;
	(void)mg_rstore_field(line, len, "ip", row->ip, sizeof(row->ip));
	(void)mg_rstore_field(line, len, "dis", row->disposition, sizeof(row->disposition));
	(void)mg_rstore_field(line, len, "dkim", row->dkim, sizeof(row->dkim));
	(void)mg_rstore_field(line, len, "spf", row->spf, sizeof(row->spf));
	(void)mg_rstore_field(line, len, "rsn", row->reason, sizeof(row->reason));
	(void)mg_rstore_field(line, len, "hf", row->header_from, sizeof(row->header_from));
	(void)mg_rstore_field(line, len, "ef", row->envelope_from, sizeof(row->envelope_from));
	(void)mg_rstore_field(line, len, "et", row->envelope_to, sizeof(row->envelope_to));
	if (mg_rstore_raw_field(line, len, "sig", &list) == 0)
		while (row->n_dkim < MG_REPORT_DKIM_MAX && next_item(&list, &item)) {
			__typeof__(row->auth_dkim[0]) *d = &row->auth_dkim[row->n_dkim++];

			split3(item, d->domain, sizeof(d->domain), d->selector, sizeof(d->selector),
			    d->result, sizeof(d->result));
		}
	if (mg_rstore_raw_field(line, len, "spfa", &list) == 0)
		while (row->n_spf < MG_REPORT_SPF_MAX && next_item(&list, &item)) {
			__typeof__(row->auth_spf[0]) *a = &row->auth_spf[row->n_spf++];

			split3(item, a->domain, sizeof(a->domain), a->scope, sizeof(a->scope),
			    a->result, sizeof(a->result));
		}
	return 0;
}

const char *
mg_rstore_quirk_name(unsigned bit)
{
	switch (bit) {
	case MG_REPORT_Q_CASE: return "case";
	case MG_REPORT_Q_FLOAT_TIME: return "float_time";
	case MG_REPORT_Q_EMPTY_ORG: return "empty_org";
	case MG_REPORT_Q_XS_SCHEMA: return "xs_schema";
	case MG_REPORT_Q_OTHER_VALUE: return "other_value";
	case MG_REPORT_Q_TRUNCATED: return "truncated";
	case MG_REPORT_Q_GZIP_TRAIL: return "gzip_trail";
	case MG_REPORT_Q_BAD_DOMAIN: return "bad_domain";
	default: return NULL;
	}
}
