/* bayes_store.c: the Bayes token store in the filter's Berkeley DB environment (lib/kvdb.h),
 * table "bayes": key = 8-octet big-endian token hash, value = u32 LE spam count + u32 LE ham
 * count; key "meta" = u32 LE spam messages, u32 LE ham messages, u64 LE serial. Learning adds a
 * delta model token by token (atomic read-modify-write each, so the daemon's workers, another
 * mailguardctl and this process never lose an update), then the meta record last: a reader that
 * sees the new serial sees every token of the batch. Blocking: worker threads and mailguardctl.
 * Trusts the store only as far as its record sizes: a record of another size is skipped. */
#include "filter/bayes.h"

#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"

#define META_KEY "meta"
#define LOAD_CHUNK 20000		/* records per sweep call while loading */

static void
put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void
key_of(unsigned char k[8], uint64_t h)
{
	for (int i = 0; i < 8; i++)
		k[i] = (unsigned char)(h >> (56 - 8 * i));
}

static uint64_t
hash_of(const unsigned char k[8])
{
	uint64_t h = 0;

	for (int i = 0; i < 8; i++)
		h = h << 8 | k[i];
	return h;
}

static uint32_t
sat_add(uint32_t a, uint32_t b)
{
	return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

struct add_arg {
	uint32_t spam, ham;
};

static int
add_counts(void *arg, const void *old, size_t oldlen, struct buf *new_val)
{
	const struct add_arg *a = arg;
	unsigned char v[8];
	uint32_t s = 0, h = 0;

	if (old != NULL && oldlen == 8) {
		s = get_u32(old);
		h = get_u32((const unsigned char *)old + 4);
	}
	put_u32(v, sat_add(s, a->spam));
	put_u32(v + 4, sat_add(h, a->ham));
	return buf_append(new_val, v, sizeof(v)) < 0 ? -1 : MG_KVDB_STORE;
}

static int
add_meta(void *arg, const void *old, size_t oldlen, struct buf *new_val)
{
	const struct add_arg *a = arg;
	unsigned char v[16];
	uint32_t s = 0, h = 0, lo = 0, hi = 0;

	if (old != NULL && oldlen == 16) {
		s = get_u32(old);
		h = get_u32((const unsigned char *)old + 4);
		lo = get_u32((const unsigned char *)old + 8);
		hi = get_u32((const unsigned char *)old + 12);
	}
	if (++lo == 0)
		hi++;
	put_u32(v, sat_add(s, a->spam));
	put_u32(v + 4, sat_add(h, a->ham));
	put_u32(v + 8, lo);
	put_u32(v + 12, hi);
	return buf_append(new_val, v, sizeof(v)) < 0 ? -1 : MG_KVDB_STORE;
}

struct store_ctx {
	struct mg_kvdb_table *t;
	bayes_progress_fn *progress;
	void *arg;
	size_t done, total;
};

static int
store_token(void *arg, uint64_t h, uint32_t spam, uint32_t ham)
{
	struct store_ctx *c = arg;
	struct add_arg a = { spam, ham };
	unsigned char k[8];

	key_of(k, h);
	if (mg_kvdb_update(c->t, k, sizeof(k), add_counts, &a) < 0)
		return -1;
	if (++c->done % 4096 == 0 && c->progress != NULL)
		c->progress(c->arg, c->done, c->total);
	return 0;
}

int
bayes_store_add(struct mg_kvdb *kv, const struct bayes_model *delta,
    bayes_progress_fn *progress, void *arg, const char **error_r)
{
	struct store_ctx c = { NULL, progress, arg, 0, bayes_model_size(delta) };
	struct add_arg meta;

	if ((c.t = mg_kvdb_table(kv, BAYES_TABLE, error_r)) == NULL)
		return -1;
	if (bayes_model_each(delta, store_token, &c) < 0) {
		*error_r = "updating a token record failed";
		return -1;
	}
	bayes_model_messages(delta, &meta.spam, &meta.ham);
	if (mg_kvdb_update(c.t, META_KEY, strlen(META_KEY), add_meta, &meta) < 0) {
		*error_r = "updating the message counts failed";
		return -1;
	}
	if (progress != NULL)
		progress(arg, c.total, c.total);
	return 0;
}

int
bayes_store_meta(struct mg_kvdb *kv, uint32_t *nspam_r, uint32_t *nham_r, uint64_t *serial_r)
{
	struct mg_kvdb_table *t;
	const char *err;
	struct buf v;
	int r;

	*nspam_r = *nham_r = 0;
	*serial_r = 0;
	if ((t = mg_kvdb_table(kv, BAYES_TABLE, &err)) == NULL)
		return -1;
	buf_init(&v, 64);
	r = mg_kvdb_get(t, META_KEY, strlen(META_KEY), &v);
	if (r == 1 && v.len == 16) {
		const unsigned char *p = (const unsigned char *)v.data;
		*nspam_r = get_u32(p);
		*nham_r = get_u32(p + 4);
		*serial_r = (uint64_t)get_u32(p + 12) << 32 | get_u32(p + 8);
	}
	buf_free(&v);
	return r < 0 ? -1 : 0;
}

static int
load_record(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct bayes_model *m = arg;

	/* a retried sweep transaction may show a record twice: store, never add */
	if (klen == 8 && vlen == 8) {
		const unsigned char *v = val;
		(void)bayes_model_put(m, hash_of(key), get_u32(v), get_u32(v + 4));
	}
	return 1;	/* keep every record: the sweep is used as a read-only walk */
}

struct bayes_model *
bayes_store_load(struct mg_kvdb *kv, uint64_t *serial_r, const char **error_r)
{
	struct mg_kvdb_table *t;
	struct bayes_model *m;
	uint32_t ns, nh;
	int r;

	if (bayes_store_meta(kv, &ns, &nh, serial_r) < 0) {
		*error_r = "cannot read the Bayes message counts";
		return NULL;
	}
	if ((t = mg_kvdb_table(kv, BAYES_TABLE, error_r)) == NULL)
		return NULL;
	m = bayes_model_new();
	bayes_model_set_messages(m, ns, nh);
	/* this loader is the only sweeper of the table in its process and always walks to the
	 * end, so each load starts at the first key (lib/kvdb.h: sweeps resume where the previous
	 * one stopped, per process) */
	while ((r = mg_kvdb_sweep(t, load_record, m, LOAD_CHUNK, NULL)) == 0)
		;
	if (r < 0) {
		bayes_model_free(&m);
		*error_r = "reading the Bayes token store failed";
		return NULL;
	}
	return m;
}
