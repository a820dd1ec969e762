/* report_store.c: incoming DMARC aggregate reports kept in Berkeley DB (lib/kvdb.h), the tables
 * and formats described in dmarc/report.h ("Stored reports"). A report is claimed first
 * (dmarc_rpt, stored only when absent, so the same report received twice -- or by two threads
 * at once -- is counted once), then its records are written in chunks and the per-day, per-IP
 * counters updated. A crash between the steps loses counters, never consistency: the tables are
 * caches of what reporters sent (DESIGN.md §10). Values are printable text lines, fields
 * percent-encoded outside [A-Za-z0-9.-_@:] (as dmarc/store.c), so a value never holds a space,
 * newline or control byte. The read side is dmarc/report_query.c; the value helpers below
 * (encoding, fields, the claim, expiry) are shared with it and with the TLS-RPT tables
 * (tlsrpt_store.c). Any thread (kvdb handles are
 * free-threaded). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dmarc/dmarc.h"
#include "lib/kvdb.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

#define SEP MG_RSTORE_SEP

/* strnum_ll without the error text (strnum wants an error_r). */
static int
num_ll(const char *s, long long min, long long max, long long *out)
{
	const char *e;

	return strnum_ll(s, min, max, out, &e);
}

struct mg_rstore *
mg_rstore_open(struct mg_kvdb *kv, const char **error_r)
{
	struct mg_rstore *s = xcalloc(1, sizeof(*s));

	if ((s->rpt = mg_kvdb_table(kv, "dmarc_rpt", error_r)) == NULL ||
	    (s->rrec = mg_kvdb_table(kv, "dmarc_rrec", error_r)) == NULL ||
	    (s->rsum = mg_kvdb_table(kv, "dmarc_rsum", error_r)) == NULL) {
		xfree(s);
		return NULL;
	}
	return s;
}

void
mg_rstore_free(struct mg_rstore **sp)
{
	if (*sp == NULL)
		return;
	xfree(*sp);
	*sp = NULL;
}

/* ---- encoding (shared with report_query.c and tlsrpt_store.c) ---- */

static int
is_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '.' || c == '-' || c == '_' || c == '@' || c == ':';
}

int
mg_rstore_put_enc(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)(s != NULL ? s : ""); *p; p++) {
		char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };

		if (is_safe(*p) ? buf_append_char(b, (char)*p) < 0 : buf_append(b, e, 3) < 0)
			return -1;
	}
	return 0;
}

int
mg_rstore_put_kv(struct buf *b, const char *key, const char *value)
{
	return buf_printf(b, " %s=", key) < 0 || mg_rstore_put_enc(b, value) < 0 ? -1 : 0;
}

void
mg_rstore_decode(const char *p, size_t n, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < size; i++) {
		int c = (unsigned char)p[i];

		if (c == '%' && n - i >= 3 && str_hex_digit((unsigned char)p[i + 1]) >= 0 &&
		    str_hex_digit((unsigned char)p[i + 2]) >= 0) {
			c = str_hex_digit((unsigned char)p[i + 1]) * 16 +
			    str_hex_digit((unsigned char)p[i + 2]);
			i += 2;
		}
		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (size > 0)
		out[o] = '\0';
}

int
mg_rstore_raw_field(const char *line, size_t len, const char *key, struct slice *v)
{
	size_t kl = strlen(key);

	for (size_t i = 0; i + kl < len; i++) {
		const char *p = line + i, *e;

		if ((i > 0 && line[i - 1] != ' ') || memcmp(p, key, kl) != 0 || p[kl] != '=')
			continue;
		p += kl + 1;
		for (e = p; e < line + len && *e != ' ' && *e != '\n'; e++)
			;
		v->p = p;
		v->len = (size_t)(e - p);
		return 0;
	}
	return -1;
}

int
mg_rstore_field(const char *line, size_t len, const char *key, char *out, size_t size)
{
	struct slice v;

	if (mg_rstore_raw_field(line, len, key, &v) == 0) {
		mg_rstore_decode(v.p, v.len, out, size);
		return 0;
	}
	if (size > 0)
		out[0] = '\0';
	return -1;
}

long long
mg_rstore_field_ll(const char *line, size_t len, const char *key)
{
	char v[32];
	long long n;

	if (mg_rstore_field(line, len, key, v, sizeof(v)) < 0 || num_ll(v, 0, 1LL << 62, &n) < 0)
		return 0;
	return n;
}

/* ---- put ---- */

static int
rpt_value(const struct mg_report *r, long long recv, struct buf *v)
{
	const struct { const char *key, *value; } kv[] = {
		{ "org", r->org_name }, { "id", r->report_id }, { "email", r->email },
		{ "pd", r->policy.domain }, { "p", mg_report_policy_name(r->policy.p) },
		{ "sp", mg_report_policy_name(r->policy.sp) },
		{ "np", mg_report_policy_name(r->policy.np) }, { "fo", r->policy.fo },
		{ "ext", r->extra_contact },
	};
	char num[16];

	if (buf_printf(v, "mgrpt1 recv=%lld begin=%lld end=%lld records=%zu total=%llu", recv,
	    r->begin, r->end, r->n_records, r->total) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
		if (mg_rstore_put_kv(v, kv[i].key, kv[i].value) < 0)
			return -1;
	if (str_fmt(num, sizeof(num), "%d", r->policy.pct) < 0 ||
	    mg_rstore_put_kv(v, "pct", num) < 0 ||
	    buf_printf(v, " adkim=%c aspf=%c bis=%d quirks=%u", r->policy.adkim ? r->policy.adkim :
	    '-', r->policy.aspf ? r->policy.aspf : '-', r->bis, r->quirks) < 0)
		return -1;
	return 0;
}

int
mg_rstore_claim_fn(void *arg, const void *old, size_t oldlen, struct buf *new_val)
{
	struct mg_rstore_claim *c = arg;

	(void)oldlen;
	c->stored = old == NULL;
	if (old != NULL)
		return MG_KVDB_KEEP;
	return buf_append(new_val, c->v->data, c->v->len) < 0 ? -1 : MG_KVDB_STORE;
}

static int
record_line(const struct mg_report_record *rec, struct buf *v)
{
	if (buf_printf(v, "ip=%s n=%llu dis=%s dkim=%s spf=%s", rec->source_ip, rec->count,
	    mg_report_disp_name(rec->disposition), mg_report_result_name(rec->pol_dkim),
	    mg_report_result_name(rec->pol_spf)) < 0 ||
	    mg_rstore_put_kv(v, "rsn", rec->reason) < 0 ||
	    mg_rstore_put_kv(v, "hf", rec->header_from) < 0 ||
	    mg_rstore_put_kv(v, "ef", rec->envelope_from) < 0 ||
	    mg_rstore_put_kv(v, "et", rec->envelope_to) < 0 || buf_append_str(v, " sig=") < 0)
		return -1;
	for (size_t i = 0; i < rec->n_dkim; i++)
		if ((i > 0 && buf_append_char(v, ',') < 0) ||
		    mg_rstore_put_enc(v, rec->dkim[i].domain) < 0 ||
		    buf_append_char(v, '/') < 0 ||
		    mg_rstore_put_enc(v, rec->dkim[i].selector) < 0 ||
		    buf_printf(v, "/%s", mg_report_result_name(rec->dkim[i].result)) < 0)
			return -1;
	if (buf_append_str(v, " spfa=") < 0)
		return -1;
	for (size_t i = 0; i < rec->n_spf; i++)
		if ((i > 0 && buf_append_char(v, ',') < 0) ||
		    mg_rstore_put_enc(v, rec->spf[i].domain) < 0 ||
		    buf_printf(v, "/%s/%s", mg_report_scope_name(rec->spf[i].scope),
		    mg_report_result_name(rec->spf[i].result)) < 0)
			return -1;
	return buf_append_char(v, '\n');
}

static int
put_records(struct mg_rstore *s, const char *key, long long recv, const struct mg_report *r)
{
	struct buf v, line, k;
	unsigned chunk = 0;
	int rc = 0;

	buf_init(&v, MG_KVDB_VALUE_MAX);
	buf_init(&line, MG_KVDB_VALUE_MAX - 64);
	buf_init(&k, MG_KVDB_KEY_MAX);
	for (size_t i = 0; rc == 0 && i <= r->n_records; i++) {
		if (i < r->n_records) {
			buf_reset(&line);
			if (record_line(&r->records[i], &line) < 0) {
				rc = -1;
				break;
			}
		}
		if (v.len > 0 && (i == r->n_records || v.len + line.len > MG_RSTORE_CHUNK)) {
			buf_reset(&k);
			if (buf_printf(&k, "%s%c%06u", key, SEP, chunk++) < 0 ||
			    mg_kvdb_put(s->rrec, k.data, k.len, v.data, v.len) < 0)
				rc = -1;
			buf_reset(&v);
		}
		if (i < r->n_records && v.len == 0 && buf_printf(&v, "recv=%lld\n", recv) < 0)
			rc = -1;
		if (i < r->n_records && buf_append(&v, line.data, line.len) < 0)
			rc = -1;
	}
	buf_free(&v);
	buf_free(&line);
	buf_free(&k);
	return rc;
}

struct sum_add {
	long long recv;
	unsigned long long add[MG_RSUM_COUNT];
};

int
mg_rstore_sum_parse(const char *v, size_t len, unsigned long long *n)
{
	struct slice rest = { v, len };
	const char *serr;
	int i = -1;

	while (rest.len > 0 && i < MG_RSUM_COUNT) {
		const char *sp = memchr(rest.p, ' ', rest.len);
		struct slice tok = { rest.p, sp != NULL ? (size_t)(sp - rest.p) : rest.len };

		if (i >= 0 && strnum_slice_ull(tok, ~0ULL, &n[i], &serr) < 0)
			return -1;
		i++;
		rest.p += tok.len + (sp != NULL);
		rest.len -= tok.len + (sp != NULL);
	}
	return i == MG_RSUM_COUNT && rest.len == 0 ? 0 : -1;
}

static int
sum_fn(void *arg, const void *old, size_t oldlen, struct buf *new_val)
{
	const struct sum_add *a = arg;
	unsigned long long n[MG_RSUM_COUNT] = { 0 };

	if (old != NULL && mg_rstore_sum_parse(old, oldlen, n) < 0)
		memset(n, 0, sizeof(n));	/* unreadable: start over */
	for (int i = 0; i < MG_RSUM_COUNT; i++)
		n[i] += a->add[i];
	return buf_printf(new_val, "recv=%lld %llu %llu %llu %llu %llu %llu", a->recv, n[0], n[1],
	    n[2], n[3], n[4], n[5]) < 0 ? -1 : MG_KVDB_STORE;
}

static int
cmp_rec_ip(const void *a, const void *b)
{
	return strcmp((*(const struct mg_report_record *const *)a)->source_ip,
	    (*(const struct mg_report_record *const *)b)->source_ip);
}

/* One mg_kvdb_update per distinct source IP of the report (records sorted by IP). */
static int
put_sums(struct mg_rstore *s, const char *domain, long long recv, const struct mg_report *r)
{
	const struct mg_report_record **v = xcalloc(r->n_records + 1, sizeof(*v));
	char day[16], key[MG_REPORT_NAME_MAX + 80];
	time_t t = (time_t)r->begin;
	struct tm tm;
	int rc = 0;

	if (gmtime_r(&t, &tm) == NULL || strftime(day, sizeof(day), "%Y%m%d", &tm) == 0)
		str_lcpy(day, "00000000", sizeof(day));
	for (size_t i = 0; i < r->n_records; i++)
		v[i] = &r->records[i];
	qsort(v, r->n_records, sizeof(*v), cmp_rec_ip);
	for (size_t i = 0; rc == 0 && i < r->n_records;) {
		struct sum_add a = { .recv = recv };
		size_t j = i;

		for (; j < r->n_records && strcmp(v[j]->source_ip, v[i]->source_ip) == 0; j++) {
			const struct mg_report_record *x = v[j];

			a.add[MG_RSUM_MSGS] += x->count;
			a.add[MG_RSUM_DMARC_PASS] += x->pol_dkim == MG_RR_PASS ||
			    x->pol_spf == MG_RR_PASS ? x->count : 0;
			a.add[MG_RSUM_DKIM_PASS] += x->pol_dkim == MG_RR_PASS ? x->count : 0;
			a.add[MG_RSUM_SPF_PASS] += x->pol_spf == MG_RR_PASS ? x->count : 0;
			a.add[MG_RSUM_QUARANTINE] += x->disposition == MG_RD_QUARANTINE ? x->count : 0;
			a.add[MG_RSUM_REJECT] += x->disposition == MG_RD_REJECT ? x->count : 0;
		}
		if (str_fmt(key, sizeof(key), "%s%c%s%c%s", domain, SEP, day, SEP,
		    v[i]->source_ip) < 0 || mg_kvdb_update(s->rsum, key, strlen(key), sum_fn, &a) < 0)
			rc = -1;
		i = j;
	}
	xfree(v);
	return rc;
}

int
mg_rstore_put(struct mg_rstore *s, const char *policy_domain, const struct mg_report *r,
    long long recv, const char **error_r)
{
	char ident[MG_REPORT_IDENTITY_MAX], key[MG_REPORT_NAME_MAX + MG_REPORT_IDENTITY_MAX + 2];
	struct buf v;
	struct mg_rstore_claim c = { .v = &v };
	int rc;

	if (strlen(policy_domain) > MG_REPORT_NAME_MAX || strchr(policy_domain, SEP) != NULL ||
	    mg_report_identity(r, ident, sizeof(ident)) < 0 ||
	    str_fmt(key, sizeof(key), "%s%c%s", policy_domain, SEP, ident) < 0) {
		*error_r = "report key too long";
		return -1;
	}
	buf_init(&v, MG_KVDB_VALUE_MAX);
	rc = rpt_value(r, recv, &v) < 0 ? -1 :
	    mg_kvdb_update(s->rpt, key, strlen(key), mg_rstore_claim_fn, &c);
	buf_free(&v);
	if (rc < 0) {
		*error_r = "storing the report failed";
		return -1;
	}
	if (!c.stored)
		return 0;
	if (put_records(s, key, recv, r) < 0 || put_sums(s, policy_domain, recv, r) < 0) {
		*error_r = "storing the records failed";
		return -1;
	}
	return 1;
}

/* ---- expiry (shared with tlsrpt_store.c) ---- */

/* The time of a value that begins "recv=<digits>": 0, or -1 when it does not. */
static int
recv_prefix(const char *v, size_t vlen, long long *recv_r)
{
	char num[24];
	size_t i = 5, o = 0;

	if (vlen < 6 || memcmp(v, "recv=", 5) != 0)
		return -1;
	for (; i < vlen && v[i] >= '0' && v[i] <= '9' && o + 1 < sizeof(num); i++)
		num[o++] = v[i];
	num[o] = '\0';
	return num_ll(num, 0, 1LL << 62, recv_r);
}

struct expire_ctx {
	const char *magic;	/* "mgrpt1", "mgtls1": a header line, recv one of its fields */
	size_t magic_len;
	long long cutoff;
};

static int
expire_keep(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	const struct expire_ctx *e = arg;
	const char *v = val;
	long long recv;

	(void)key;
	(void)klen;
	if (vlen > e->magic_len + 1 && memcmp(v, e->magic, e->magic_len) == 0 &&
	    v[e->magic_len] == ' ')
		recv = mg_rstore_field_ll(v, vlen, "recv");
	else if (recv_prefix(v, vlen, &recv) < 0)	/* "recv=<t>\n..." or "recv=<t> ..." */
		return 0;	/* not ours: unreadable, dropped */
	return recv >= e->cutoff;
}

int
mg_rstore_sweep(struct mg_kvdb_table *const *t, size_t n, const char *magic, long long cutoff,
    size_t max_items, size_t *removed_r)
{
	struct expire_ctx e = { magic, strlen(magic), cutoff };
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		if (mg_kvdb_sweep(t[i], expire_keep, &e, max_items, removed_r) < 0)
			rc = -1;
	return rc;
}

int
mg_rstore_expire(struct mg_rstore *s, long long now, long long retention, size_t max_items,
    size_t *removed_r)
{
	struct mg_kvdb_table *t[3] = { s->rpt, s->rrec, s->rsum };

	return mg_rstore_sweep(t, 3, "mgrpt1", now - retention, max_items, removed_r);
}
