/* test_kvdb_scan.c: unit tests for mg_kvdb_scan (lib/kvdb.c): key order and prefix bounds, a
 * start key inside the range, fn stopping (0) and failing (-1), scans over many batches with
 * every key seen exactly once, values larger than a batch's byte budget, fn writing to the
 * scanned table (no lock held during fn: a writer thread must finish while the scan waits for
 * it), records added behind and ahead of the scan position, and bad arguments. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "unit.h"
#include "unit_tmpdir.h"

#include "lib/kvdb.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

static char test_dir[PATH_MAX];

static const char *
fresh_dir(const char *name)
{
	log_init("test_kvdb_scan", 1, LOG_LVL_WARN);
	return unit_tmpdir("test_kvdb_scan", name, "db", test_dir, sizeof(test_dir));
}

/* An environment with one table "t"; NULL on failure (reported). */
static struct mg_kvdb_table *
setup(const char *name, struct mg_kvdb **kv_r)
{
	const char *dir = fresh_dir(name), *err = NULL;
	struct mg_kvdb_table *t;

	*kv_r = NULL;
	if (dir == NULL)
		return NULL;
	if ((*kv_r = mg_kvdb_open(dir, &err)) == NULL) {
		CHECK(0, "open %s: %s", dir, err ? err : "?");
		return NULL;
	}
	if ((t = mg_kvdb_table(*kv_r, "t", &err)) == NULL)
		CHECK(0, "table: %s", err ? err : "?");
	return t;
}

static void
teardown(struct mg_kvdb **kv)
{
	char dir[PATH_MAX];

	if (*kv == NULL)
		return;
	str_lcpy(dir, mg_kvdb_dir(*kv), sizeof(dir));
	mg_kvdb_close(kv);
	unit_tmpdir_remove(dir);
}

static int
put_s(struct mg_kvdb_table *t, const char *k, const char *v)
{
	return mg_kvdb_put(t, k, strlen(k), v, strlen(v));
}

/* Collects "key=value;" (keys printable in these tests) and stops after stop_after records. */
struct collect {
	struct buf out;
	size_t n, stop_after;
	int fail_at;		/* record number (1-based) where fn returns -1; 0 never */
	char last[256];
	int order_ok;
};

static int
collect_fn(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct collect *c = arg;
	char k[256];

	if (klen >= sizeof(k))
		return -1;
	memcpy(k, key, klen);
	k[klen] = '\0';
	if (c->n > 0 && strcmp(c->last, k) >= 0)
		c->order_ok = 0;
	str_lcpy(c->last, k, sizeof(c->last));
	c->n++;
	if (buf_append(&c->out, key, klen) < 0 || buf_append_char(&c->out, '=') < 0 ||
	    buf_append(&c->out, val, vlen) < 0 || buf_append_char(&c->out, ';') < 0)
		return -1;
	if (c->fail_at > 0 && c->n == (size_t)c->fail_at)
		return -1;
	return c->stop_after > 0 && c->n >= c->stop_after ? 0 : 1;
}

static void
collect_init(struct collect *c)
{
	memset(c, 0, sizeof(*c));
	buf_init(&c->out, 1 << 20);
	c->order_ok = 1;
}

static const char *
cstr(struct collect *c)
{
	return c->out.data != NULL ? c->out.data : "";
}

static void
test_prefix_and_start(void)
{
	struct mg_kvdb *kv;
	struct mg_kvdb_table *t = setup("prefix", &kv);
	struct collect c;

	if (t == NULL)
		goto out;
	/* inserted out of order; neighbours on both sides of the prefix */
	put_s(t, "b\x1f" "1", "x");
	put_s(t, "a\x1f" "3", "c");
	put_s(t, "a", "short");
	put_s(t, "a\x1f" "1", "a");
	put_s(t, "ab", "after");
	put_s(t, "a\x1f" "2", "b");
	put_s(t, "a\x1e", "before");

	collect_init(&c);
	CHECK_INT(mg_kvdb_scan(t, NULL, 0, "a\x1f", 2, collect_fn, &c), 0);
	CHECK_STR(cstr(&c), "a\x1f" "1=a;a\x1f" "2=b;a\x1f" "3=c;");
	buf_free(&c.out);

	/* from a start key inside the range (a key that does not exist: the next one) */
	collect_init(&c);
	CHECK_INT(mg_kvdb_scan(t, "a\x1f" "15", 4, "a\x1f", 2, collect_fn, &c), 0);
	CHECK_STR(cstr(&c), "a\x1f" "2=b;a\x1f" "3=c;");
	buf_free(&c.out);

	/* a prefix nothing has */
	collect_init(&c);
	CHECK_INT(mg_kvdb_scan(t, NULL, 0, "c", 1, collect_fn, &c), 0);
	CHECK_INT(c.n, 0);
	buf_free(&c.out);

	/* the whole table, in memcmp order (shorter key first) */
	collect_init(&c);
	CHECK_INT(mg_kvdb_scan(t, NULL, 0, NULL, 0, collect_fn, &c), 0);
	CHECK_STR(cstr(&c), "a=short;a\x1e=before;a\x1f" "1=a;a\x1f" "2=b;a\x1f" "3=c;ab=after;"
	    "b\x1f" "1=x;");
	buf_free(&c.out);

	/* fn stops after two: 0, and nothing more is visited */
	collect_init(&c);
	c.stop_after = 2;
	CHECK_INT(mg_kvdb_scan(t, NULL, 0, "a", 1, collect_fn, &c), 0);
	CHECK_INT(c.n, 2);
	buf_free(&c.out);

	/* fn fails on the second: -1 */
	collect_init(&c);
	c.fail_at = 2;
	CHECK_INT(mg_kvdb_scan(t, NULL, 0, "a", 1, collect_fn, &c), -1);
	CHECK_INT(c.n, 2);
	buf_free(&c.out);

	/* an over-long prefix is refused */
	{
		char *big = xcalloc(1, MG_KVDB_KEY_MAX + 2);

		memset(big, 'a', MG_KVDB_KEY_MAX + 1);
		collect_init(&c);
		CHECK_INT(mg_kvdb_scan(t, NULL, 0, big, MG_KVDB_KEY_MAX + 1, collect_fn, &c), -1);
		CHECK_INT(c.n, 0);
		buf_free(&c.out);
		xfree(big);
	}
out:
	teardown(&kv);
}

/* Many batches: every key of the range exactly once, in order, none outside it. */
static void
test_many_batches(void)
{
	struct mg_kvdb *kv;
	struct mg_kvdb_table *t = setup("many", &kv);
	struct collect c;
	const int n = 3 * MG_KVDB_SCAN_BATCH + 17;
	char k[64], v[32];

	if (t == NULL)
		goto out;
	for (int i = 0; i < n; i++) {
		str_fmt(k, sizeof(k), "dom\x1f%06d", i);
		str_fmt(v, sizeof(v), "%d", i);
		if (put_s(t, k, v) < 0)
			CHECK(0, "put %d", i);
		str_fmt(k, sizeof(k), "dom2\x1f%06d", i);	/* after the range */
		put_s(t, k, v);
	}
	put_s(t, "dom\x1e", "before");
	collect_init(&c);
	buf_free(&c.out);
	buf_init(&c.out, 1 << 22);
	CHECK_INT(mg_kvdb_scan(t, NULL, 0, "dom\x1f", 4, collect_fn, &c), 0);
	CHECK_INT(c.n, n);
	CHECK(c.order_ok, "keys not in increasing order");
	str_fmt(k, sizeof(k), "dom\x1f%06d", n - 1);
	CHECK_STR(c.last, k);
	CHECK(strstr(cstr(&c), "before") == NULL && strstr(cstr(&c), "dom2") == NULL,
	    "a key outside the range was visited");
	buf_free(&c.out);
out:
	teardown(&kv);
}

/* Values bigger than a batch's byte budget (about 1 MiB) still come out whole. */
static void
test_big_values(void)
{
	struct mg_kvdb *kv;
	struct mg_kvdb_table *t = setup("big", &kv);
	size_t len = 700 * 1024;
	char *v = xmalloc(len);
	struct collect c;
	char k[16];

	if (t == NULL)
		goto out;
	for (int i = 0; i < 4; i++) {
		memset(v, 'a' + i, len);
		str_fmt(k, sizeof(k), "k%d", i);
		CHECK_INT(mg_kvdb_put(t, k, strlen(k), v, len), 0);
	}
	collect_init(&c);
	buf_free(&c.out);
	buf_init(&c.out, 4 * len + 1024);
	CHECK_INT(mg_kvdb_scan(t, NULL, 0, "k", 1, collect_fn, &c), 0);
	CHECK_INT(c.n, 4);
	CHECK_INT(c.out.len, 4 * (len + 4));
	if (c.out.len == 4 * (len + 4))
		for (int i = 0; i < 4; i++) {
			const char *p = c.out.data + (size_t)i * (len + 4) + 3;

			CHECK(p[0] == 'a' + i && p[len - 1] == 'a' + i && p[len] == ';',
			    "value %d damaged", i);
		}
	buf_free(&c.out);
out:
	xfree(v);
	teardown(&kv);
}

/* fn writes while the scan is under way: another thread's put into the scanned range must
 * complete (no read lock held during fn), and fn's own writes must not deadlock. */
struct writer {
	struct mg_kvdb_table *t;
	int rc;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;

	w->rc = put_s(w->t, "w\x1f" "000005x", "written") < 0 ? -1 : 0;
	return NULL;
}

struct writing {
	struct mg_kvdb_table *t;
	size_t n;
	int writer_ok, own_ok;
};

static int
writing_fn(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct writing *x = arg;

	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	x->n++;
	if (x->n == 3) {
		struct writer w = { x->t, -1 };
		pthread_t th;
		struct timespec ts;

		if (pthread_create(&th, NULL, writer_main, &w) != 0)
			return -1;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 10;
		if (pthread_timedjoin_np(th, NULL, &ts) != 0) {
			/* blocked by the scan: the test fails; let it finish after the scan */
			x->writer_ok = 0;
			return 0;
		}
		x->writer_ok = w.rc == 0;
		/* own writes: one behind the position (not visited), one in a later batch
		 * (visited), one deleted in a later batch (not visited) */
		x->own_ok = put_s(x->t, "w\x1f" "000000x", "behind") == 0 &&
		    put_s(x->t, "w\x1f" "000290x", "ahead") == 0 &&
		    mg_kvdb_del(x->t, "w\x1f" "000280", 8) == 1;
	}
	return 1;
}

static void
test_writes_during_scan(void)
{
	struct mg_kvdb *kv;
	struct mg_kvdb_table *t = setup("writes", &kv);
	struct writing x = { 0 };
	struct collect c;
	char k[32];

	if (t == NULL)
		goto out;
	for (int i = 0; i < 300; i++) {
		str_fmt(k, sizeof(k), "w\x1f%06d", i);
		put_s(t, k, "v");
	}
	x.t = t;
	CHECK_INT(mg_kvdb_scan(t, NULL, 0, "w\x1f", 2, writing_fn, &x), 0);
	CHECK(x.writer_ok, "a writer blocked while fn ran (the scan held a lock)");
	CHECK(x.own_ok, "fn's own writes failed");
	/* the first batch (MG_KVDB_SCAN_BATCH > 256 > 5) was read before the writes: 300 - the one
	 * deleted in the second batch + the one added there */
	CHECK(MG_KVDB_SCAN_BATCH == 256, "the counts below assume batches of 256");
	CHECK_INT(x.n, 300);
	/* afterwards a fresh scan sees everything written */
	collect_init(&c);
	CHECK_INT(mg_kvdb_scan(t, NULL, 0, "w\x1f", 2, collect_fn, &c), 0);
	CHECK_INT(c.n, 300 - 1 + 3);
	CHECK(c.order_ok, "order");
	CHECK(strstr(cstr(&c), "written") && strstr(cstr(&c), "behind") &&
	    strstr(cstr(&c), "ahead"), "writes missing");
	buf_free(&c.out);
out:
	teardown(&kv);
}

static const struct unit_case cases[] = {
	{ "prefix_and_start", test_prefix_and_start },
	{ "many_batches", test_many_batches },
	{ "big_values", test_big_values },
	{ "writes_during_scan", test_writes_during_scan },
};

UNIT_MAIN(cases)
