/* DMARC aggregate reports we send (issue I), part 1: the aggregation. Runs in the daily report
 * job, over the rows the filter stored (store.c; read back from our own Berkeley DB: trusted
 * for content, parsed strictly anyway). Rows of one UTC day are grouped per policy domain and
 * published policy (one report each) and, inside a report, per RFC 7489 Appendix C <record>:
 * the row with its time, count and policy fields blanked, in store.c's text form, is the key.
 * Limits: MG_DMARC_AGG_REPORTS_MAX reports, MG_DMARC_AGG_RECORDS_MAX records and
 * MG_DMARC_AGG_KEY_BYTES_MAX key bytes per day (rows past them are counted in dropped), counts
 * saturate at MG_DMARC_AGG_COUNT_MAX. Pure: no I/O, no clock, no globals; any thread. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc/dmarc.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define DAY 86400LL
#define SLOT_EMPTY ((size_t)-1)

static uint64_t
fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ULL

void
mg_dmarc_agg_init(struct mg_dmarc_agg *a, long long day)
{
	long long begin = day - ((day % DAY) + DAY) % DAY;

	memset(a, 0, sizeof(*a));
	a->begin = begin;
	a->end = begin + DAY - 1;
}

static void
report_free(struct mg_dmarc_agg_report *r)
{
	for (size_t i = 0; i < r->n_rec; i++)
		xfree(r->rec[i].key);
	xfree(r->rec);
	xfree(r->slot);
}

void
mg_dmarc_agg_clear(struct mg_dmarc_agg *a)
{
	for (size_t i = 0; i < a->n_rep; i++)
		report_free(&a->rep[i]);
	xfree(a->rep);
	xfree(a->slot);
	mg_dmarc_agg_init(a, 0);
}

int
mg_dmarc_ip_report_form(const char *in, char *out, size_t size)
{
	unsigned char b[16];

	if (size < MG_DMARC_IP_MAX + 1 || in == NULL)
		return -1;
	if (inet_pton(AF_INET, in, b) == 1)
		return str_fmt(out, size, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
	if (inet_pton(AF_INET6, in, b) != 1)
		return -1;
	/* RFC 4291 §2.5.5.2 IPv4-mapped: the client really spoke IPv4 */
	if (memcmp(b, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
		return str_fmt(out, size, "%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
	/* RFC 4291 §2.2 form 1: the schema's pattern has no "::" compression */
	return str_fmt(out, size, "%x:%x:%x:%x:%x:%x:%x:%x", b[0] << 8 | b[1], b[2] << 8 | b[3],
	    b[4] << 8 | b[5], b[6] << 8 | b[7], b[8] << 8 | b[9], b[10] << 8 | b[11],
	    b[12] << 8 | b[13], b[14] << 8 | b[15]);
}

/* The report key: policy domain and every published field, as one string. */
static int
report_key(const struct mg_dmarc_row *row, char *out, size_t size)
{
	return str_fmt(out, size, "%s p=%s sp=%s pct=%d adkim=%c aspf=%c fo=%s",
	    row->policy_domain, mg_dmarc_policy_name(row->p), mg_dmarc_policy_name(row->sp),
	    row->pct, row->adkim ? row->adkim : '-', row->aspf ? row->aspf : '-', row->fo);
}

static void
report_key_of(const struct mg_dmarc_agg_report *r, char *out, size_t size)
{
	struct mg_dmarc_row row;

	memset(&row, 0, sizeof(row));
	str_lcpy(row.policy_domain, r->policy_domain, sizeof(row.policy_domain));
	row.p = r->p;
	row.sp = r->sp;
	row.pct = r->pct;
	row.adkim = r->adkim;
	row.aspf = r->aspf;
	str_lcpy(row.fo, r->fo, sizeof(row.fo));
	(void)report_key(&row, out, size);
}

/* Open addressing over indices; *slots has n (a power of two) entries. key_at gives the key
 * of index i. Returns the slot holding key, or the empty slot where it goes. */
static size_t
slot_find(const size_t *slots, size_t n, uint64_t h, const char *key,
    const char *(*key_at)(const void *, size_t, char *, size_t), const void *ctx)
{
	char tmp[MG_DMARC_DOMAIN_MAX + 96];

	for (size_t s = h & (n - 1);; s = (s + 1) & (n - 1)) {
		if (slots[s] == SLOT_EMPTY || strcmp(key_at(ctx, slots[s], tmp, sizeof(tmp)), key) == 0)
			return s;
	}
}

static const char *
rep_key_at(const void *ctx, size_t i, char *tmp, size_t size)
{
	const struct mg_dmarc_agg *a = ctx;

	report_key_of(&a->rep[i], tmp, size);
	return tmp;
}

static const char *
rec_key_at(const void *ctx, size_t i, char *tmp, size_t size)
{
	const struct mg_dmarc_agg_report *r = ctx;

	(void)tmp;
	(void)size;
	return r->rec[i].key;
}

/* Makes a slot table (64 entries or more, a power of two) at most half full with n_items plus
 * one, re-hashing the items when it grows. */
static void
slots_grow(size_t **slots, size_t *n_slot, size_t n_items,
    const char *(*key_at)(const void *, size_t, char *, size_t), const void *ctx)
{
	size_t n = *n_slot == 0 ? 64 : *n_slot;
	size_t *s;
	char tmp[MG_DMARC_DOMAIN_MAX + 96];

	while (n < 2 * (n_items + 1))
		n *= 2;
	if (n == *n_slot)
		return;
	s = xreallocarray(NULL, n, sizeof(*s));
	for (size_t i = 0; i < n; i++)
		s[i] = SLOT_EMPTY;
	for (size_t i = 0; i < n_items; i++) {
		const char *k = key_at(ctx, i, tmp, sizeof(tmp));

		s[slot_find(s, n, fnv1a(FNV_INIT, k, strlen(k)), k, key_at, ctx)] = i;
	}
	xfree(*slots);
	*slots = s;
	*n_slot = n;
}

static struct mg_dmarc_agg_report *
report_get(struct mg_dmarc_agg *a, const struct mg_dmarc_row *row)
{
	char key[MG_DMARC_DOMAIN_MAX + 96];
	size_t s;
	struct mg_dmarc_agg_report *r;

	if (report_key(row, key, sizeof(key)) < 0)
		return NULL;
	slots_grow(&a->slot, &a->n_slot, a->n_rep, rep_key_at, a);
	s = slot_find(a->slot, a->n_slot, fnv1a(FNV_INIT, key, strlen(key)), key, rep_key_at, a);
	if (a->slot[s] != SLOT_EMPTY)
		return &a->rep[a->slot[s]];
	if (a->n_rep >= MG_DMARC_AGG_REPORTS_MAX)
		return NULL;
	if (a->n_rep == a->cap_rep) {
		a->cap_rep = a->cap_rep ? a->cap_rep * 2 : 16;
		a->rep = xreallocarray(a->rep, a->cap_rep, sizeof(*a->rep));
	}
	r = &a->rep[a->n_rep];
	memset(r, 0, sizeof(*r));
	str_lcpy(r->policy_domain, row->policy_domain, sizeof(r->policy_domain));
	r->p = row->p;
	r->sp = row->sp;
	r->pct = row->pct;
	r->adkim = row->adkim;
	r->aspf = row->aspf;
	str_lcpy(r->fo, row->fo, sizeof(r->fo));
	a->slot[s] = a->n_rep++;
	return r;
}

static unsigned long long
sat_add(unsigned long long x, unsigned long long y)
{
	return x + y > MG_DMARC_AGG_COUNT_MAX || x + y < x ? MG_DMARC_AGG_COUNT_MAX : x + y;
}

/* Counts key (count messages) into r; 0, or -1 on a limit. */
static int
record_count(struct mg_dmarc_agg *a, struct mg_dmarc_agg_report *r, const char *key,
    size_t klen, unsigned long long count)
{
	size_t s;

	slots_grow(&r->slot, &r->n_slot, r->n_rec, rec_key_at, r);
	s = slot_find(r->slot, r->n_slot, fnv1a(FNV_INIT, key, klen), key, rec_key_at, r);
	if (r->slot[s] == SLOT_EMPTY) {
		if (a->n_records >= MG_DMARC_AGG_RECORDS_MAX ||
		    a->key_bytes + klen + 1 > MG_DMARC_AGG_KEY_BYTES_MAX)
			return -1;
		if (r->n_rec == r->cap_rec) {
			r->cap_rec = r->cap_rec ? r->cap_rec * 2 : 16;
			r->rec = xreallocarray(r->rec, r->cap_rec, sizeof(*r->rec));
		}
		r->rec[r->n_rec].key = xmemdup(key, klen + 1);
		r->rec[r->n_rec].count = 0;
		r->slot[s] = r->n_rec++;
		a->n_records++;
		a->key_bytes += klen + 1;
	}
	r->rec[r->slot[s]].count = sat_add(r->rec[r->slot[s]].count, count);
	r->messages = sat_add(r->messages, count);
	return 0;
}

/* 1 if s is a canonical DNS name (what a file name and a Subject may carry). */
static int
is_canonical_domain(const char *s)
{
	char canon[MG_DMARC_DOMAIN_MAX + 1];
	const char *error;

	return s[0] != '\0' && mg_dmarc_domain_canon(s, strlen(s), canon, sizeof(canon),
	    &error) == 0 && strcmp(canon, s) == 0;
}

int
mg_dmarc_agg_add(struct mg_dmarc_agg *a, const struct mg_dmarc_row *row, const char **error_r)
{
	struct mg_dmarc_row rec;
	struct mg_dmarc_agg_report *r;
	struct buf key;
	int ret = -1;

	if (row->when < a->begin || row->when > a->end) {
		*error_r = "row outside the report day";
		a->skipped++;
		return -1;
	}
	if (row->policy_domain[0] == '\0' || !is_canonical_domain(row->policy_domain)) {
		*error_r = row->policy_domain[0] == '\0' ? "no policy record" : "bad policy domain";
		a->skipped++;
		return -1;
	}
	rec = *row;
	if (mg_dmarc_ip_report_form(row->source_ip, rec.source_ip, sizeof(rec.source_ip)) < 0) {
		*error_r = "source IP is not an address";
		a->skipped++;
		return -1;
	}
	/* the record key: everything but time, count and the policy (the report's key) */
	rec.when = 0;
	rec.count = 1;
	rec.policy_domain[0] = '\0';
	rec.p = rec.sp = MG_DMARC_POLICY_UNSET;
	rec.pct = 100;
	rec.adkim = rec.aspf = '\0';
	rec.fo[0] = '\0';
	buf_init(&key, MG_DMARC_ROW_MAX + 1);
	if ((r = report_get(a, row)) == NULL) {
		*error_r = "too many reports";
	} else if (mg_dmarc_row_format(&rec, &key) < 0) {
		*error_r = "record key too long";
	} else if (record_count(a, r, key.data, key.len,
	    row->count > 0 ? (unsigned long long)row->count : 1) < 0) {
		*error_r = "too many records";
	} else {
		a->rows++;
		ret = 0;
	}
	if (ret < 0)
		a->dropped++;
	buf_free(&key);
	return ret;
}

int
mg_dmarc_agg_add_line(struct mg_dmarc_agg *a, const char *line, size_t len,
    const char **error_r)
{
	struct mg_dmarc_row row;

	if (mg_dmarc_row_parse(line, len, &row, error_r) < 0) {
		a->bad++;
		return -1;
	}
	return mg_dmarc_agg_add(a, &row, error_r);
}

static int
cmp_rec(const void *x, const void *y)
{
	return strcmp(((const struct mg_dmarc_agg_record *)x)->key,
	    ((const struct mg_dmarc_agg_record *)y)->key);
}

static int
cmp_rep(const void *x, const void *y)
{
	const struct mg_dmarc_agg_report *a = x, *b = y;
	char ka[MG_DMARC_DOMAIN_MAX + 96], kb[MG_DMARC_DOMAIN_MAX + 96];
	int c = strcmp(a->policy_domain, b->policy_domain);

	if (c != 0)
		return c;
	report_key_of(a, ka, sizeof(ka));
	report_key_of(b, kb, sizeof(kb));
	return strcmp(ka, kb);
}

void
mg_dmarc_agg_finish(struct mg_dmarc_agg *a, const char *receiver)
{
	if (a->n_rep > 1)
		qsort(a->rep, a->n_rep, sizeof(*a->rep), cmp_rep);
	for (size_t i = 0; i < a->n_rep; i++) {
		struct mg_dmarc_agg_report *r = &a->rep[i];
		char key[MG_DMARC_DOMAIN_MAX + 96], day[32];
		uint64_t h = FNV_INIT;

		if (r->n_rec > 1)
			qsort(r->rec, r->n_rec, sizeof(*r->rec), cmp_rec);
		/* the hash index is stale after sorting: rebuild it for later adds */
		xfree(r->slot);
		r->slot = NULL;
		r->n_slot = 0;
		slots_grow(&r->slot, &r->n_slot, r->n_rec, rec_key_at, r);
		report_key_of(r, key, sizeof(key));
		(void)str_fmt(day, sizeof(day), "%lld", a->begin);
		h = fnv1a(h, receiver != NULL ? receiver : "", receiver != NULL ? strlen(receiver) : 0);
		h = fnv1a(h, "\n", 1);
		h = fnv1a(h, day, strlen(day));
		h = fnv1a(h, "\n", 1);
		h = fnv1a(h, key, strlen(key));
		(void)str_fmt(r->report_id, sizeof(r->report_id), "%lld.%s.%016llx", a->begin,
		    r->policy_domain, (unsigned long long)h);
	}
	xfree(a->slot);
	a->slot = NULL;
	a->n_slot = 0;
	slots_grow(&a->slot, &a->n_slot, a->n_rep, rep_key_at, a);
}
