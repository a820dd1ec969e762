/* metrics_hist.c: the dashboard's chart history (admin/metrics.h). Every sample period (60 s; 2 s
 * with test_mode) the admin role reads the role segments, turns the cumulative counters into the
 * increase since the previous sample and merges it into the record of the current minute in
 * Berkeley DB (state_dir/admin-db, table "history", key = the minute's unix time as 8 big-endian
 * bytes). Records older than 8 days are swept. The last cumulative snapshot is kept under the key
 * "last" with the supervisor pid, so a restarted admin role continues where it stopped, while a
 * new daemon (other pid, counters restarted at zero) starts from zero. A counter that went down
 * (a segment recreated) counts from zero, as Prometheus' rate() does.
 * Admin role's loop thread only. Records are our own but are decoded strictly (bounded lengths,
 * no trailing bytes); a record that does not decode is ignored. */
#include "admin/metrics.h"
#include "admin/metrics_int.h"

#include <string.h>
#include <time.h>

#include "lib/kvdb.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define HIST_KEEP_SEC		(8 * 86400)
#define HIST_RECORD_MAX		(900 * 1024)	/* below MG_KVDB_VALUE_MAX; further domains fold */
#define HIST_VERSION		1
#define HIST_SWEEP_ITEMS	500
#define HIST_CACHE		8

/* One minute's increase (or, for "last", the cumulative snapshot). */
struct hist_rec {
	uint64_t queue;				/* gauge: active + deferred + held, last sample */
	uint64_t connections;
	uint64_t tot[MD_METRIC_COUNT_];		/* all domains, "other" included */
	struct metrics_dom_total *dom;		/* sorted by name */
	size_t n_dom;
};

/* Series of admin_metrics_series, computed together for one (span, domain). */
enum hist_series {
	HS_IN, HS_DELIVER, HS_QUARANTINE, HS_REJECT, HS_GREYLIST, HS_OUT, HS_BOUNCED,
	HS_DEFERRED, HS_QUEUE, HS_SENT, HS_CONNECTIONS, HS_COUNT_
};
static const char *const hs_names[HS_COUNT_] = {
	"in", "deliver", "quarantine", "reject", "greylist", "out", "bounced", "deferred",
	"queue", "sent", "connections"
};

#define HIST_MAX_POINTS 168

struct hist_cache {
	int valid;
	long long span, start, step;
	char domain[METRICS_NAME_MAX];		/* "" = all */
	int found;
	double v[HS_COUNT_][HIST_MAX_POINTS];
};

static struct {
	struct mg_kvdb *kv;
	struct mg_kvdb_table *t;
	int period;
	struct metrics_view base;		/* cumulative values at the previous sample */
	int have_base;
	struct hist_cache cache[HIST_CACHE];
	unsigned next_cache;
} hs;

static const char last_key[] = "last";

/* ---- encoding ---- */

static void
put_varint(struct buf *b, uint64_t v)
{
	while (v >= 0x80) {
		buf_append_char(b, (char)(v | 0x80));
		v >>= 7;
	}
	buf_append_char(b, (char)v);
}

static int
get_varint(const unsigned char **p, const unsigned char *end, uint64_t *v_r)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return -1;
		unsigned char c = *(*p)++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if ((c & 0x80) == 0) {
			*v_r = v;
			return 0;
		}
	}
	return -1;
}

/* Encodes r; domains past HIST_RECORD_MAX are left out (the totals still count them). */
static void
rec_encode(const struct hist_rec *r, uint64_t epoch, struct buf *b)
{
	buf_append_char(b, HIST_VERSION);
	put_varint(b, epoch);
	put_varint(b, r->queue);
	put_varint(b, r->connections);
	for (int k = 0; k < MD_METRIC_COUNT_; k++)
		put_varint(b, r->tot[k]);
	for (size_t d = 0; d < r->n_dom; d++) {
		size_t len = strlen(r->dom[d].name);

		if (b->len + 1 + len + 10 * MD_METRIC_COUNT_ > HIST_RECORD_MAX)
			break;
		buf_append_char(b, (char)len);
		buf_append(b, r->dom[d].name, len);
		for (int k = 0; k < MD_METRIC_COUNT_; k++)
			put_varint(b, r->dom[d].v[k]);
	}
}

static void
rec_free(struct hist_rec *r)
{
	xfree(r->dom);
	memset(r, 0, sizeof(*r));
}

/* Decodes a record into r (zeroed first; free with rec_free). Returns 0 or -1. */
static int
rec_decode(const void *val, size_t len, struct hist_rec *r, uint64_t *epoch_r)
{
	const unsigned char *p = val, *end = p + len;
	size_t cap = 0;
	uint64_t epoch;

	memset(r, 0, sizeof(*r));
	if (len < 1 || *p++ != HIST_VERSION || get_varint(&p, end, &epoch) < 0 ||
	    get_varint(&p, end, &r->queue) < 0 || get_varint(&p, end, &r->connections) < 0)
		return -1;
	for (int k = 0; k < MD_METRIC_COUNT_; k++)
		if (get_varint(&p, end, &r->tot[k]) < 0)
			return -1;
	while (p < end) {
		size_t n = *p++;
		struct metrics_dom_total *d;

		if (n == 0 || n >= METRICS_NAME_MAX || (size_t)(end - p) < n)
			goto fail;
		if (r->n_dom == cap) {
			cap = cap ? cap * 2 : 16;
			r->dom = xreallocarray(r->dom, cap, sizeof(*r->dom));
		}
		d = &r->dom[r->n_dom++];
		memcpy(d->name, p, n);
		d->name[n] = '\0';
		p += n;
		for (int k = 0; k < MD_METRIC_COUNT_; k++)
			if (get_varint(&p, end, &d->v[k]) < 0)
				goto fail;
	}
	if (epoch_r != NULL)
		*epoch_r = epoch;
	return 0;
fail:
	rec_free(r);
	return -1;
}

static const struct metrics_dom_total *
rec_find(const struct metrics_dom_total *dom, size_t n, const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(dom[mid].name, name);

		if (c == 0)
			return &dom[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- sampling ---- */

static uint64_t
increase(uint64_t cur, uint64_t prev)
{
	return cur >= prev ? cur - prev : cur;	/* went down: recreated, counts from zero */
}

/* The increase from hs.base to cur (domains without increase left out). */
static void
rec_delta(const struct metrics_view *cur, struct hist_rec *r)
{
	const struct metrics_view *b = &hs.base;

	memset(r, 0, sizeof(*r));
	r->queue = (uint64_t)((int64_t)cur->v[M_QUEUE_ACTIVE] + (int64_t)cur->v[M_QUEUE_DEFERRED] +
	    (int64_t)cur->v[M_QUEUE_HELD]);
	if ((int64_t)r->queue < 0)
		r->queue = 0;
	r->connections = increase(cur->v[M_SMTP_CONNECTIONS],
	    hs.have_base ? b->v[M_SMTP_CONNECTIONS] : 0);
	r->dom = xcalloc(cur->n_dom ? cur->n_dom : 1, sizeof(*r->dom));
	for (size_t d = 0; d < cur->n_dom; d++) {
		const struct metrics_dom_total *p = hs.have_base ?
		    rec_find(b->dom, b->n_dom, cur->dom[d].name) : NULL;
		struct metrics_dom_total *o = &r->dom[r->n_dom];
		uint64_t any = 0;

		for (int k = 0; k < MD_METRIC_COUNT_; k++) {
			o->v[k] = increase(cur->dom[d].v[k], p ? p->v[k] : 0);
			r->tot[k] += o->v[k];
			any |= o->v[k];
		}
		if (any) {
			memcpy(o->name, cur->dom[d].name, sizeof(o->name));
			r->n_dom++;
		}
	}
}

struct merge_arg {
	const struct hist_rec *add;
	uint64_t epoch;
};

/* mg_kvdb_update callback: old minute record + this sample's increase. */
static int
merge_minute(void *arg, const void *old, size_t oldlen, struct buf *new_val)
{
	const struct merge_arg *ma = arg;
	const struct hist_rec *a = ma->add;
	struct hist_rec o, m;
	size_t cap;

	if (old == NULL || rec_decode(old, oldlen, &o, NULL) < 0)
		memset(&o, 0, sizeof(o));
	memset(&m, 0, sizeof(m));
	m.queue = a->queue;
	m.connections = o.connections + a->connections;
	for (int k = 0; k < MD_METRIC_COUNT_; k++)
		m.tot[k] = o.tot[k] + a->tot[k];
	cap = o.n_dom + a->n_dom;
	m.dom = xcalloc(cap ? cap : 1, sizeof(*m.dom));
	/* Both lists are sorted: merge them. */
	for (size_t i = 0, j = 0; i < o.n_dom || j < a->n_dom;) {
		int c = i == o.n_dom ? 1 : j == a->n_dom ? -1 :
		    strcmp(o.dom[i].name, a->dom[j].name);
		struct metrics_dom_total *d = &m.dom[m.n_dom++];

		*d = c <= 0 ? o.dom[i] : a->dom[j];
		if (c == 0)
			for (int k = 0; k < MD_METRIC_COUNT_; k++)
				d->v[k] += a->dom[j].v[k];
		i += c <= 0;
		j += c >= 0;
	}
	rec_encode(&m, ma->epoch, new_val);
	rec_free(&o);
	rec_free(&m);
	return MG_KVDB_STORE;
}

static void
minute_key(long long t, unsigned char key[8])
{
	uint64_t v = (uint64_t)t;

	for (int i = 7; i >= 0; i--, v >>= 8)
		key[i] = (unsigned char)v;
}

static int
keep_recent(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	long long cutoff = *(const long long *)arg;
	const unsigned char *k = key;
	uint64_t t = 0;

	(void)val;
	(void)vlen;
	if (klen != 8)
		return 1;	/* "last" */
	for (int i = 0; i < 8; i++)
		t = t << 8 | k[i];
	return (long long)t >= cutoff;
}

/* Saves cur as the baseline ("last") and makes it hs.base (taking cur's domains). */
static void
save_base(struct metrics_view *cur, uint64_t epoch)
{
	struct hist_rec r = { 0 };
	struct buf b;

	r.connections = cur->v[M_SMTP_CONNECTIONS];
	r.dom = cur->dom;
	r.n_dom = cur->n_dom;
	buf_init(&b, MG_KVDB_VALUE_MAX);
	rec_encode(&r, epoch, &b);
	(void)mg_kvdb_put(hs.t, last_key, sizeof(last_key) - 1, b.data, b.len);
	buf_free(&b);
	metrics_view_free(&hs.base);
	hs.base = *cur;
	hs.have_base = 1;
}

void
metrics_hist_sample(long long now)
{
	struct metrics_view cur;
	struct merge_arg ma;
	struct hist_rec r;
	unsigned char key[8];
	long long cutoff = now - HIST_KEEP_SEC;
	uint64_t epoch;

	if (hs.t == NULL)
		return;
	metrics_view_read(&cur);
	if (cur.n_segments == 0) {	/* no role of this daemon has counted yet */
		metrics_view_free(&cur);
		return;
	}
	epoch = (uint64_t)metrics_reader_sup_pid();
	rec_delta(&cur, &r);
	ma.add = &r;
	ma.epoch = epoch;
	minute_key(now - now % 60, key);
	if (mg_kvdb_update(hs.t, key, sizeof(key), merge_minute, &ma) < 0)
		log_warn("metrics: history sample not stored");
	rec_free(&r);
	save_base(&cur, epoch);
	(void)mg_kvdb_sweep(hs.t, keep_recent, &cutoff, HIST_SWEEP_ITEMS, NULL);
	for (int i = 0; i < HIST_CACHE; i++)
		hs.cache[i].valid = 0;
}

/* Loads the baseline of a previous run of the admin role under the same daemon. */
static void
load_base(void)
{
	struct hist_rec r;
	struct buf b;
	uint64_t epoch;

	buf_init(&b, MG_KVDB_VALUE_MAX);
	if (mg_kvdb_get(hs.t, last_key, sizeof(last_key) - 1, &b) == 1 &&
	    rec_decode(b.data, b.len, &r, &epoch) == 0) {
		if ((int64_t)epoch == metrics_reader_sup_pid()) {
			memset(&hs.base, 0, sizeof(hs.base));
			hs.base.v[M_SMTP_CONNECTIONS] = r.connections;
			hs.base.dom = r.dom;
			hs.base.n_dom = r.n_dom;
			hs.have_base = 1;
			r.dom = NULL;
		}
		rec_free(&r);
	}
	buf_free(&b);
}

int
metrics_hist_open(const char *state_dir, int period, const char **error_r)
{
	char *dir;

	metrics_hist_close();
	dir = xasprintf("%s/admin-db", state_dir);
	hs.kv = mg_kvdb_open(dir, error_r);
	xfree(dir);
	if (hs.kv == NULL)
		return -1;
	if ((hs.t = mg_kvdb_table(hs.kv, "history", error_r)) == NULL) {
		mg_kvdb_close(&hs.kv);
		return -1;
	}
	hs.period = period;
	load_base();
	return 0;
}

void
metrics_hist_close(void)
{
	mg_kvdb_close(&hs.kv);
	hs.t = NULL;
	metrics_view_free(&hs.base);
	hs.have_base = 0;
	for (int i = 0; i < HIST_CACHE; i++)
		hs.cache[i].valid = 0;
}

struct mg_kvdb *
metrics_hist_kvdb(void)
{
	return hs.kv;
}

/* ---- series ---- */

static void
point_add(struct hist_cache *c, size_t i, const struct hist_rec *r, const char *domain)
{
	const uint64_t *v = r->tot;

	if (domain[0] != '\0') {
		const struct metrics_dom_total *d = rec_find(r->dom, r->n_dom, domain);

		if (d == NULL)
			goto gauge;
		v = d->v;
	}
	c->v[HS_DELIVER][i] += (double)v[MD_IN_DELIVER];
	c->v[HS_QUARANTINE][i] += (double)v[MD_IN_QUARANTINE];
	c->v[HS_REJECT][i] += (double)v[MD_IN_REJECT];
	c->v[HS_GREYLIST][i] += (double)v[MD_IN_GREYLIST];
	c->v[HS_IN][i] += (double)(v[MD_IN_DELIVER] + v[MD_IN_QUARANTINE] + v[MD_IN_REJECT] +
	    v[MD_IN_GREYLIST] + v[MD_IN_TEMPFAIL]);
	c->v[HS_OUT][i] += (double)v[MD_OUT_DELIVERED];
	c->v[HS_BOUNCED][i] += (double)v[MD_OUT_BOUNCED];
	c->v[HS_DEFERRED][i] += (double)v[MD_OUT_DEFERRED];
	c->v[HS_SENT][i] += (double)v[MD_OUT_SENT];
gauge:
	if (domain[0] == '\0')
		c->v[HS_CONNECTIONS][i] += (double)r->connections;
	c->v[HS_QUEUE][i] = (double)r->queue;	/* minutes ascend: the last one wins */
}

/* Reads the minute records of [start, start + span) into c. */
static void
cache_fill(struct hist_cache *c)
{
	struct buf b;
	unsigned char key[8];

	memset(c->v, 0, sizeof(c->v));
	c->found = 0;
	buf_init(&b, MG_KVDB_VALUE_MAX);
	for (long long t = c->start; t < c->start + c->span; t += 60) {
		struct hist_rec r;

		minute_key(t, key);
		if (mg_kvdb_get(hs.t, key, sizeof(key), &b) != 1 ||
		    rec_decode(b.data, b.len, &r, NULL) < 0)
			continue;
		c->found = 1;
		point_add(c, (size_t)((t - c->start) / c->step), &r, c->domain);
		rec_free(&r);
	}
	buf_free(&b);
	c->valid = 1;
}

static struct hist_cache *
cache_get(long long span, long long step, long long now, const char *domain)
{
	long long start = (now / step + 1) * step - span;
	struct hist_cache *c;

	for (int i = 0; i < HIST_CACHE; i++) {
		c = &hs.cache[i];
		if (c->valid && c->span == span && c->start == start &&
		    strcmp(c->domain, domain) == 0)
			return c;
	}
	c = &hs.cache[hs.next_cache++ % HIST_CACHE];
	c->span = span;
	c->step = step;
	c->start = start;
	str_lcpy(c->domain, domain, sizeof(c->domain));
	cache_fill(c);
	return c;
}

size_t
metrics_hist_series(const char *series, const char *domain, long long span_sec, long long now,
    struct admin_point *out, size_t max)
{
	long long step = span_sec == 86400 ? 600 : span_sec == 604800 ? 3600 : 0;
	struct hist_cache *c;
	size_t n, s;

	if (hs.t == NULL || step == 0 || series == NULL)
		return 0;
	for (s = 0; s < HS_COUNT_; s++)
		if (strcmp(series, hs_names[s]) == 0)
			break;
	if (s == HS_COUNT_ || (domain != NULL && strlen(domain) >= METRICS_NAME_MAX))
		return 0;
	c = cache_get(span_sec, step, now, domain ? domain : "");
	if (!c->found)
		return 0;
	n = (size_t)(span_sec / step);
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++) {
		out[i].t = c->start + (long long)i * step;
		out[i].v = c->v[s][i];
	}
	return n;
}

size_t
admin_metrics_series(const char *series, const char *domain, long long span_sec,
    struct admin_point *out, size_t max)
{
	return metrics_hist_series(series, domain, span_sec, (long long)time(NULL), out, max);
}
