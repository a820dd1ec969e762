/* tlsrpt_store.c: incoming SMTP TLS reports (RFC 8460) kept in Berkeley DB (lib/kvdb.h), the
 * tables and formats described in dmarc/tlsrpt_in.h ("Stored reports"). A report is claimed
 * first (tlsrpt_rpt, stored only when absent, so the same report received twice -- or by two
 * threads at once -- is counted once), then the per-day policy sums and failure groups are
 * added (mg_kvdb_update, atomic per record). A crash between the steps loses counters, never
 * consistency: the tables are caches of what reporters sent (DESIGN.md §10). Keys and values
 * are printable text, fields percent-encoded outside [A-Za-z0-9.-_@:], so a field never holds
 * a space, newline or the 0x1f separator. Any thread (kvdb handles are free-threaded). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dmarc/report.h"
#include "dmarc/tlsrpt_in.h"
#include "lib/kvdb.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

#define SEP '\x1f'
#define SCAN_HARD_MAX 200000		/* records gathered by one scan */

struct mg_tstore {
	struct mg_kvdb_table *rpt, *day, *fail;
};

struct mg_tstore *
mg_tstore_open(struct mg_kvdb *kv, const char **error_r)
{
	struct mg_tstore *s = xcalloc(1, sizeof(*s));

	if ((s->rpt = mg_kvdb_table(kv, "tlsrpt_rpt", error_r)) == NULL ||
	    (s->day = mg_kvdb_table(kv, "tlsrpt_day", error_r)) == NULL ||
	    (s->fail = mg_kvdb_table(kv, "tlsrpt_fail", error_r)) == NULL) {
		xfree(s);
		return NULL;
	}
	return s;
}

void
mg_tstore_free(struct mg_tstore **sp)
{
	if (*sp == NULL)
		return;
	xfree(*sp);
	*sp = NULL;
}

static void
day_of(long long t, char day[9])
{
	time_t tt = (time_t)(t > 0 ? t : 0);
	struct tm tm;
	char tmp[16];

	if (gmtime_r(&tt, &tm) == NULL || strftime(tmp, sizeof(tmp), "%Y%m%d", &tm) != 8)
		str_lcpy(tmp, "00000000", sizeof(tmp));
	memcpy(day, tmp, 9);
}

/* ---- put ---- */

/* "recv=<t> n1 [n2]": adds a->add[] to the stored numbers. */
struct add {
	long long recv;
	int n;				/* 1 or 2 numbers */
	unsigned long long add[2];
};

static int
add_fn(void *arg, const void *old, size_t oldlen, struct buf *new_val)
{
	const struct add *a = arg;
	unsigned long long v[2] = { 0, 0 };
	const char *p = old;
	const char *serr;

	/* old: "recv=<t> <n1> [<n2>]"; unreadable values start over */
	for (size_t i = 0, k = 0, start = 0; old != NULL && i <= oldlen; i++) {
		if (i < oldlen && p[i] != ' ')
			continue;
		if (k > 0 && k <= (size_t)a->n) {
			struct slice sl = { p + start, i - start };

			if (strnum_slice_ull(sl, ~0ULL, &v[k - 1], &serr) < 0)
				v[0] = v[1] = 0;
		}
		k++;
		start = i + 1;
	}
	for (int i = 0; i < a->n; i++)
		v[i] += a->add[i];
	if (a->n == 1)
		return buf_printf(new_val, "recv=%lld %llu", a->recv, v[0]) < 0 ? -1 :
		    MG_KVDB_STORE;
	return buf_printf(new_val, "recv=%lld %llu %llu", a->recv, v[0], v[1]) < 0 ? -1 :
	    MG_KVDB_STORE;
}

/* A key with the numbers to add to its record; apply() sorts, merges and updates. */
struct keyed {
	char *key;
	unsigned long long add[2];
};

static int
cmp_keyed(const void *a, const void *b)
{
	return strcmp(((const struct keyed *)a)->key, ((const struct keyed *)b)->key);
}

static int
apply(struct mg_kvdb_table *t, struct keyed *v, size_t n, int nums, long long recv)
{
	int rc = 0;

	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_keyed);
	for (size_t i = 0; rc == 0 && i < n;) {
		struct add a = { .recv = recv, .n = nums };
		size_t j = i;

		for (; j < n && strcmp(v[j].key, v[i].key) == 0; j++) {
			a.add[0] += v[j].add[0];
			a.add[1] += v[j].add[1];
		}
		if (mg_kvdb_update(t, v[i].key, strlen(v[i].key), add_fn, &a) < 0)
			rc = -1;
		i = j;
	}
	return rc;
}

static char *
key_of(struct buf *k)
{
	char *s = buf_steal(k);

	buf_init(k, MG_KVDB_KEY_MAX);
	return s != NULL ? s : xstrdup("");
}

static int
put_sums(struct mg_tstore *s, const char *dom, const struct mg_tlsrpt *r,
    const unsigned char *mask, long long recv)
{
	struct keyed *dv = xcalloc(r->n_policies + 1, sizeof(*dv));
	struct keyed *fv = xcalloc(r->n_failures + 1, sizeof(*fv));
	size_t nd = 0, nf = 0;
	char day[9];
	struct buf k;
	int rc = 0;

	day_of(r->begin, day);
	buf_init(&k, MG_KVDB_KEY_MAX);
	for (size_t i = 0; rc == 0 && i < r->n_policies; i++) {
		const struct mg_tlsrpt_policy *p = &r->policies[i];

		if (mask != NULL && !mask[i])
			continue;
		if (buf_printf(&k, "%s%c%s%c%s%c", dom, SEP, day, SEP, mg_tlsrpt_ptype_name(p->type),
		    SEP) < 0 || mg_rstore_put_enc(&k, p->domain) < 0)
			rc = -1;
		dv[nd].key = key_of(&k);
		dv[nd].add[0] = p->successful;
		dv[nd++].add[1] = p->failed;
		for (size_t j = 0; rc == 0 && j < p->n_failures; j++) {
			const struct mg_tlsrpt_failure *f = &p->failures[j];

			const char *group[] = { f->result_type, f->sending_mta_ip,
				f->receiving_mx_hostname, f->receiving_ip };

			if (buf_printf(&k, "%s%c%s", dom, SEP, day) < 0)
				rc = -1;
			for (size_t g = 0; rc == 0 && g < sizeof(group) / sizeof(group[0]); g++)
				if (buf_append_char(&k, SEP) < 0 ||
				    mg_rstore_put_enc(&k, group[g]) < 0)
					rc = -1;
			fv[nf].key = key_of(&k);
			fv[nf++].add[0] = f->failed;
		}
	}
	if (rc == 0 && (apply(s->day, dv, nd, 2, recv) < 0 || apply(s->fail, fv, nf, 1, recv) < 0))
		rc = -1;
	for (size_t i = 0; i < nd; i++)
		xfree(dv[i].key);
	for (size_t i = 0; i < nf; i++)
		xfree(fv[i].key);
	xfree(dv);
	xfree(fv);
	buf_free(&k);
	return rc;
}

int
mg_tstore_put(struct mg_tstore *s, const char *dom, const struct mg_tlsrpt *r,
    const unsigned char *mask, long long recv, const char **error_r)
{
	char ident[MG_TLSRPT_IDENTITY_MAX];
	unsigned long long ok = 0, failed = 0;
	size_t np = 0;
	struct buf k, v;
	struct mg_rstore_claim c = { .v = &v };
	int rc;

	if (strlen(dom) > MG_TLSRPT_STRING_MAX || strchr(dom, SEP) != NULL ||
	    mg_tlsrpt_identity(r, ident, sizeof(ident)) < 0) {
		*error_r = "report key too long";
		return -1;
	}
	for (size_t i = 0; i < r->n_policies; i++)
		if (mask == NULL || mask[i]) {
			np++;
			ok += r->policies[i].successful;
			failed += r->policies[i].failed;
		}
	buf_init(&k, MG_KVDB_KEY_MAX);
	buf_init(&v, MG_KVDB_VALUE_MAX);
	rc = buf_printf(&k, "%s%c%s", dom, SEP, ident) < 0 ||
	    buf_printf(&v, "mgtls1 recv=%lld begin=%lld end=%lld policies=%zu ok=%llu fail=%llu "
	    "failures=%zu quirks=%u", recv, r->begin, r->end, np, ok, failed, r->n_failures,
	    r->quirks) < 0 || mg_rstore_put_kv(&v, "org", r->org) < 0 ||
	    mg_rstore_put_kv(&v, "id", r->report_id) < 0 ||
	    mg_rstore_put_kv(&v, "contact", r->contact) < 0 ? -1 :
	    mg_kvdb_update(s->rpt, k.data, k.len, mg_rstore_claim_fn, &c);
	buf_free(&k);
	buf_free(&v);
	if (rc < 0) {
		*error_r = "storing the report failed";
		return -1;
	}
	if (!c.stored)
		return 0;
	if (put_sums(s, dom, r, mask, recv) < 0) {
		*error_r = "storing the report sums failed";
		return -1;
	}
	return 1;
}

/* ---- reading: every record of a domain ---- */

struct rec {
	char *key, *val;
	size_t klen, vlen;
};

struct scan {
	struct rec *v;
	size_t n, cap;
	int full;
};

static int
scan_fn(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct scan *sc = arg;

	if (sc->n >= SCAN_HARD_MAX) {
		sc->full = 1;
		return 0;
	}
	if (sc->n == sc->cap) {
		sc->cap = sc->cap ? sc->cap * 2 : 64;
		sc->v = xreallocarray(sc->v, sc->cap, sizeof(*sc->v));
	}
	/* keys and values are printable text (no NUL): strndup keeps them whole */
	sc->v[sc->n].key = xstrndup(key, klen);
	sc->v[sc->n].klen = strlen(sc->v[sc->n].key);
	sc->v[sc->n].val = xstrndup(val, vlen);
	sc->v[sc->n].vlen = strlen(sc->v[sc->n].val);
	sc->n++;
	return 1;
}

static void
recs_free(struct rec *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		xfree(v[i].key);
		xfree(v[i].val);
	}
	xfree(v);
}

/* The records of t whose key starts with "<dom>\x1f", from "<dom>\x1f<from>" on (from NULL:
 * all), in key order (mg_kvdb_scan: read committed, batches). At most SCAN_HARD_MAX records
 * (the rest is left out, newest days last). *v_r allocated (recs_free). 0 or -1. */
static int
scan_domain(struct mg_kvdb_table *t, const char *dom, const char *from, struct rec **v_r,
    size_t *n_r)
{
	struct scan sc = { 0 };
	char *prefix = xasprintf("%s%c", dom, SEP);
	char *start = xasprintf("%s%c%s", dom, SEP, from != NULL ? from : "");
	int r;

	r = mg_kvdb_scan(t, start, strlen(start), prefix, strlen(prefix), scan_fn, &sc);
	xfree(prefix);
	xfree(start);
	*v_r = sc.v;
	*n_r = sc.n;
	return r;
}

/* Splits key (after "<dom>\x1f") at SEP into at most max fields. Returns the count. */
static size_t
split(const char *key, size_t plen, const char **f, size_t *fl, size_t max)
{
	const char *p = key + plen;
	size_t n = 0;

	while (n < max) {
		const char *e = strchr(p, SEP);

		f[n] = p;
		fl[n++] = e != NULL ? (size_t)(e - p) : strlen(p);
		if (e == NULL)
			break;
		p = e + 1;
	}
	return n;
}

/* The records of t for dom from the day of since on (day tables: "<dom>\x1f<yyyymmdd>\x1f..."),
 * as scan_domain; since_day gets that day. */
static int
scan_since(struct mg_kvdb_table *t, const char *dom, long long since, char since_day[9],
    struct rec **v_r, size_t *n_r)
{
	day_of(since, since_day);
	return scan_domain(t, dom, since_day, v_r, n_r);
}

/* Splits a day-table record's key into nf fields, the day first. 1 when it has them, the day
 * is since_day or later and the value is ours ("recv=..."), else 0. */
static int
day_fields(const struct rec *r, size_t plen, const char *since_day, const char **f, size_t *fl,
    size_t nf)
{
	return split(r->key, plen, f, fl, nf) == nf && fl[0] == 8 &&
	    memcmp(f[0], since_day, 8) >= 0 && r->vlen >= 5 && memcmp(r->val, "recv=", 5) == 0;
}

static int
cmp_report(const void *a, const void *b)
{
	const struct mg_tstore_report *x = a, *y = b;

	if (x->end != y->end)
		return x->end > y->end ? -1 : 1;
	if (x->recv != y->recv)
		return x->recv > y->recv ? -1 : 1;
	return strcmp(x->identity, y->identity);
}

int
mg_tstore_reports(struct mg_tstore *s, const char *dom, long long since, size_t max,
    struct mg_tstore_report **out, size_t *n_r)
{
	struct rec *v;
	size_t n, plen = strlen(dom) + 1, k = 0;
	struct mg_tstore_report *o;
	char since_day[9], day[9];
	int rc = scan_domain(s->rpt, dom, NULL, &v, &n);

	day_of(since, since_day);
	o = xcalloc(n + 1, sizeof(*o));
	for (size_t i = 0; i < n; i++) {
		struct mg_tstore_report *x = &o[k];
		const char *val = v[i].val;
		size_t vl = v[i].vlen;

		if (vl < 7 || memcmp(val, "mgtls1 ", 7) != 0 ||
		    v[i].klen - plen >= sizeof(x->identity))
			continue;
		x->begin = mg_rstore_field_ll(val, vl, "begin");
		day_of(x->begin, day);
		if (strcmp(day, since_day) < 0)
			continue;
		memcpy(x->identity, v[i].key + plen, v[i].klen - plen + 1);
		(void)mg_rstore_field(val, vl, "org", x->org, sizeof(x->org));
		(void)mg_rstore_field(val, vl, "id", x->report_id, sizeof(x->report_id));
		(void)mg_rstore_field(val, vl, "contact", x->contact, sizeof(x->contact));
		x->recv = mg_rstore_field_ll(val, vl, "recv");
		x->end = mg_rstore_field_ll(val, vl, "end");
		x->policies = (unsigned long long)mg_rstore_field_ll(val, vl, "policies");
		x->successful = (unsigned long long)mg_rstore_field_ll(val, vl, "ok");
		x->failed = (unsigned long long)mg_rstore_field_ll(val, vl, "fail");
		k++;
	}
	recs_free(v, n);
	if (k > 0)
		qsort(o, k, sizeof(*o), cmp_report);
	*out = o;
	*n_r = k < max ? k : max;
	return rc;
}

/* Splits val[0..vl) at spaces into at most max fields. Returns the count. */
static size_t
split_sp(const char *val, size_t vl, const char **f, size_t *fl, size_t max)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i <= vl && n < max; i++)
		if (i == vl || val[i] == ' ') {
			f[n] = val + start;
			fl[n++] = i - start;
			start = i + 1;
		}
	return n;
}

/* "recv=<t> a [b]" -> a, b. */
static void
nums(const char *val, size_t vl, unsigned long long *a, unsigned long long *b)
{
	const char *f[3];
	size_t fl[3], n;
	struct slice sl;
	const char *serr;

	*a = 0;
	if (b != NULL)
		*b = 0;
	n = split_sp(val, vl, f, fl, 3);
	if (n >= 2) {
		sl = (struct slice){ f[1], fl[1] };
		(void)strnum_slice_ull(sl, ~0ULL, a, &serr);
	}
	if (n >= 3 && b != NULL) {
		sl = (struct slice){ f[2], fl[2] };
		(void)strnum_slice_ull(sl, ~0ULL, b, &serr);
	}
}

int
mg_tstore_days(struct mg_tstore *s, const char *dom, long long since,
    struct mg_tstore_day **out, size_t *n_r)
{
	struct rec *v;
	size_t n, plen = strlen(dom) + 1, k = 0;
	struct mg_tstore_day *o;
	char since_day[9];
	int rc = scan_since(s->day, dom, since, since_day, &v, &n);

	o = xcalloc(n + 1, sizeof(*o));
	for (size_t i = 0; i < n; i++) {
		const char *f[3];
		size_t fl[3];
		struct mg_tstore_day *x = &o[k];

		if (!day_fields(&v[i], plen, since_day, f, fl, 3))
			continue;
		memcpy(x->day, f[0], 8);
		x->day[8] = '\0';
		mg_rstore_decode(f[1], fl[1], x->policy_type, sizeof(x->policy_type));
		mg_rstore_decode(f[2], fl[2], x->policy_domain, sizeof(x->policy_domain));
		nums(v[i].val, v[i].vlen, &x->successful, &x->failed);
		k++;
	}
	recs_free(v, n);
	*out = o;
	*n_r = k;
	return rc;
}

/* Failure groups: key after the day ("<rt>\x1f<sip>\x1f<mx>\x1f<rip>") is the group. */
static int
cmp_fail_group(const void *a, const void *b)
{
	const struct mg_tstore_fail *x = a, *y = b;
	int c;

	if ((c = strcmp(x->result_type, y->result_type)) != 0 ||
	    (c = strcmp(x->sending_ip, y->sending_ip)) != 0 || (c = strcmp(x->mx, y->mx)) != 0)
		return c;
	return strcmp(x->receiving_ip, y->receiving_ip);
}

static int
cmp_fail_count(const void *a, const void *b)
{
	const struct mg_tstore_fail *x = a, *y = b;

	if (x->failed != y->failed)
		return x->failed > y->failed ? -1 : 1;
	return cmp_fail_group(a, b);
}

int
mg_tstore_failures(struct mg_tstore *s, const char *dom, long long since,
    struct mg_tstore_fail **out, size_t *n_r)
{
	struct rec *v;
	size_t n, plen = strlen(dom) + 1, k = 0, m = 0;
	struct mg_tstore_fail *o;
	char since_day[9];
	int rc = scan_since(s->fail, dom, since, since_day, &v, &n);

	o = xcalloc(n + 1, sizeof(*o));
	for (size_t i = 0; i < n; i++) {
		const char *f[5];
		size_t fl[5];
		struct mg_tstore_fail *x = &o[k];

		if (!day_fields(&v[i], plen, since_day, f, fl, 5))
			continue;
		mg_rstore_decode(f[1], fl[1], x->result_type, sizeof(x->result_type));
		mg_rstore_decode(f[2], fl[2], x->sending_ip, sizeof(x->sending_ip));
		mg_rstore_decode(f[3], fl[3], x->mx, sizeof(x->mx));
		mg_rstore_decode(f[4], fl[4], x->receiving_ip, sizeof(x->receiving_ip));
		nums(v[i].val, v[i].vlen, &x->failed, NULL);
		k++;
	}
	recs_free(v, n);
	if (k > 0)
		qsort(o, k, sizeof(*o), cmp_fail_group);
	for (size_t i = 0; i < k; i++) {	/* one row per group over the days */
		if (m > 0 && cmp_fail_group(&o[m - 1], &o[i]) == 0)
			o[m - 1].failed += o[i].failed;
		else
			o[m++] = o[i];
	}
	if (m > 0)
		qsort(o, m, sizeof(*o), cmp_fail_count);
	*out = o;
	*n_r = m;
	return rc;
}

/* ---- expiry ---- */

int
mg_tstore_expire(struct mg_tstore *s, long long now, long long retention, size_t max_items,
    size_t *removed_r)
{
	struct mg_kvdb_table *t[3] = { s->rpt, s->day, s->fail };

	return mg_rstore_sweep(t, 3, "mgtls1", now - retention, max_items, removed_r);
}
