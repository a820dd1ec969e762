/* test_kvdb.c: unit tests for lib/kvdb.c.
 * Basic operations and limits, table names, update atomicity from 4 threads x 1000 increments,
 * update actions, bounded and resumable sweeps, reopen, two processes sharing one environment,
 * crash safety (a child killed with SIGKILL in the middle of writes, with and without a
 * concurrent checkpointer: every acknowledged commit readable, every record well-formed, the file
 * passing DB->verify), a bounded log under checkpoints, and an unrecoverable environment being
 * moved aside. */
#include <db.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "unit.h"
#include "unit_tmpdir.h"

#include "lib/kvdb.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

static char test_dir[PATH_MAX];

/* A fresh path (not yet created) for an environment, under $TMPDIR or /tmp. */
static const char *
fresh_dir(const char *name)
{
	log_init("test_kvdb", 1, LOG_LVL_WARN);
	return unit_tmpdir("test_kvdb", name, "db", test_dir, sizeof(test_dir));
}

/* Removes the parent of an environment made by fresh_dir (with any .broken siblings). */
#define remove_env(dir) unit_tmpdir_remove(dir)

static struct mg_kvdb *
open_ok(const char *dir)
{
	const char *err = NULL;
	struct mg_kvdb *kv = mg_kvdb_open(dir, &err);

	CHECK(kv != NULL, "mg_kvdb_open %s: %s", dir, err ? err : "?");
	if (kv == NULL)
		remove_env(dir); /* the case has failed and returns early */
	return kv;
}

static struct mg_kvdb_table *
table_ok(struct mg_kvdb *kv, const char *name)
{
	const char *err = NULL;
	struct mg_kvdb_table *t = mg_kvdb_table(kv, name, &err);

	CHECK(t != NULL, "mg_kvdb_table %s: %s", name, err ? err : "?");
	return t;
}

static int
put_str(struct mg_kvdb_table *t, const char *k, const char *v)
{
	return mg_kvdb_put(t, k, strlen(k), v, strlen(v));
}

/* The value of k as a static string, "(absent)" or "(error)". */
static const char *
get_str(struct mg_kvdb_table *t, const char *k)
{
	static char out[4096];
	struct buf v;
	int r;

	buf_init(&v, sizeof(out) - 1);
	r = mg_kvdb_get(t, k, strlen(k), &v);
	if (r == 1)
		memcpy(out, v.data, v.len + 1);
	else
		str_lcpy(out, r == 0 ? "(absent)" : "(error)", sizeof(out));
	buf_free(&v);
	return out;
}

static void
test_basic(void)
{
	const char *dir = fresh_dir("basic"), *err = NULL;
	struct mg_kvdb *kv;
	struct mg_kvdb_table *t, *t2, *other;
	struct buf v;

	if (dir == NULL || (kv = open_ok(dir)) == NULL)
		return;
	CHECK_STR(mg_kvdb_dir(kv), dir);
	if ((t = table_ok(kv, "basic")) == NULL || (other = table_ok(kv, "other-1.x")) == NULL)
		goto out;
	t2 = mg_kvdb_table(kv, "basic", &err);
	CHECK(t2 == t, "second mg_kvdb_table(basic) returned another handle");

	CHECK_STR(get_str(t, "missing"), "(absent)");
	CHECK_INT(put_str(t, "alpha", "1"), 0);
	CHECK_STR(get_str(t, "alpha"), "1");
	CHECK_INT(put_str(t, "alpha", "two"), 0);
	CHECK_STR(get_str(t, "alpha"), "two");
	CHECK_STR(get_str(other, "alpha"), "(absent)"); /* tables are separate */
	CHECK_INT(put_str(t, "empty", ""), 0);
	CHECK_STR(get_str(t, "empty"), "");
	CHECK_INT(mg_kvdb_del(t, "alpha", 5), 1);
	CHECK_INT(mg_kvdb_del(t, "alpha", 5), 0);
	CHECK_STR(get_str(t, "alpha"), "(absent)");

	/* Binary keys and values, NUL bytes included. */
	{
		const char key[] = { 'a', 0, 'b' }, val[] = { 0, 1, 2, 0 };

		CHECK_INT(mg_kvdb_put(t, key, sizeof(key), val, sizeof(val)), 0);
		buf_init(&v, 64);
		CHECK_INT(mg_kvdb_get(t, key, sizeof(key), &v), 1);
		CHECK(v.len == sizeof(val) && memcmp(v.data, val, sizeof(val)) == 0,
		    "binary value: got %zu bytes", v.len);
		CHECK_INT(mg_kvdb_get(t, key, 1, &v), 0); /* "a" alone is another key */
		buf_free(&v);
	}
	/* A value larger than the first read guess, and one larger than the caller's cap. */
	{
		size_t n = 100000;
		char *big = xmalloc(n);

		for (size_t i = 0; i < n; i++)
			big[i] = (char)('a' + i % 26);
		CHECK_INT(mg_kvdb_put(t, "big", 3, big, n), 0);
		buf_init(&v, MG_KVDB_VALUE_MAX);
		CHECK_INT(mg_kvdb_get(t, "big", 3, &v), 1);
		CHECK(v.len == n && memcmp(v.data, big, n) == 0, "big value: got %zu bytes", v.len);
		buf_free(&v);
		buf_init(&v, 1000);
		CHECK_INT(mg_kvdb_get(t, "big", 3, &v), -1);
		CHECK_INT(v.len, 0);
		buf_free(&v);
		xfree(big);
	}
	/* Limits. */
	{
		char *k = xcalloc(1, MG_KVDB_KEY_MAX + 1);

		memset(k, 'k', MG_KVDB_KEY_MAX + 1);
		CHECK_INT(mg_kvdb_put(t, k, MG_KVDB_KEY_MAX, "v", 1), 0);
		CHECK_INT(mg_kvdb_put(t, k, MG_KVDB_KEY_MAX + 1, "v", 1), -1);
		CHECK_INT(mg_kvdb_put(t, k, 0, "v", 1), -1);
		CHECK_INT(mg_kvdb_put(t, "k", 1, k, (size_t)MG_KVDB_VALUE_MAX + 1), -1);
		buf_init(&v, 16);
		CHECK_INT(mg_kvdb_get(t, k, MG_KVDB_KEY_MAX + 1, &v), -1);
		buf_free(&v);
		xfree(k);
	}
out:
	mg_kvdb_close(&kv);
	CHECK(kv == NULL, "mg_kvdb_close did not NULL the handle");
	mg_kvdb_close(&kv); /* no-op */
	remove_env(dir);
}

static void
test_table_names(void)
{
	/* clang-format off */
	static const struct {
		const char *name;
		int ok;
	} cases[] = {
		{ "greylist", 1 }, { "dmarc.results", 1 }, { "rate_out-1", 1 }, { "", 0 },
		{ ".hidden", 0 }, { "../escape", 0 }, { "a/b", 0 }, { "Upper", 0 }, { "sp ace", 0 },
		{ "x234567890123456789012345678901234567890123456789012345678901234", 1 },
		{ "x2345678901234567890123456789012345678901234567890123456789012345", 0 },
	};
	/* clang-format on */
	const char *dir = fresh_dir("names");
	struct mg_kvdb *kv;

	if (dir == NULL || (kv = open_ok(dir)) == NULL)
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *err = NULL;
		struct mg_kvdb_table *t = mg_kvdb_table(kv, cases[i].name, &err);

		CHECK((t != NULL) == cases[i].ok, "table \"%s\": got %s, want %s", cases[i].name,
		    t ? "opened" : "refused", cases[i].ok ? "opened" : "refused");
		CHECK(t != NULL || err != NULL, "refused table \"%s\" without error",
		    cases[i].name);
	}
	mg_kvdb_close(&kv);
	remove_env(dir);
}

/* Counter increment: the value is a decimal number. */
static int
incr_fn(void *arg, const void *old, size_t oldlen, struct buf *nv)
{
	long long n = 0;
	char tmp[32];

	(void)arg;
	if (old != NULL) {
		if (oldlen >= sizeof(tmp))
			return -1;
		memcpy(tmp, old, oldlen);
		tmp[oldlen] = '\0';
		n = strtoll(tmp, NULL, 10);
	}
	return buf_printf(nv, "%lld", n + 1) < 0 ? -1 : MG_KVDB_STORE;
}

struct incr_arg {
	struct mg_kvdb_table *t;
	const char *key;
	int n, failures;
};

static void *
incr_thread(void *p)
{
	struct incr_arg *a = p;

	for (int i = 0; i < a->n; i++)
		if (mg_kvdb_update(a->t, a->key, strlen(a->key), incr_fn, NULL) != 0)
			a->failures++;
	return NULL;
}

static void
test_update_threads(void)
{
	const char *dir = fresh_dir("threads");
	struct mg_kvdb *kv;
	struct mg_kvdb_table *t;
	pthread_t th[4];
	struct incr_arg args[4];

	if (dir == NULL || (kv = open_ok(dir)) == NULL)
		return;
	if ((t = table_ok(kv, "counters")) == NULL)
		goto out;
	for (int i = 0; i < 4; i++) {
		args[i] = (struct incr_arg){ .t = t, .key = "hits", .n = 1000 };
		CHECK_INT(pthread_create(&th[i], NULL, incr_thread, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(args[i].failures, 0);
	}
	CHECK_STR(get_str(t, "hits"), "4000");
out:
	mg_kvdb_close(&kv);
	remove_env(dir);
}

static int
action_fn(void *arg, const void *old, size_t oldlen, struct buf *nv)
{
	int *action = arg;

	(void)old;
	(void)oldlen;
	if (*action == MG_KVDB_STORE)
		buf_append_str(nv, "stored");
	return *action;
}

static void
test_update_actions(void)
{
	const char *dir = fresh_dir("actions");
	struct mg_kvdb *kv;
	struct mg_kvdb_table *t;
	int action;

	if (dir == NULL || (kv = open_ok(dir)) == NULL)
		return;
	if ((t = table_ok(kv, "t")) == NULL)
		goto out;
	action = MG_KVDB_KEEP;
	CHECK_INT(mg_kvdb_update(t, "k", 1, action_fn, &action), 0);
	CHECK_STR(get_str(t, "k"), "(absent)");
	action = MG_KVDB_DELETE; /* deleting an absent record is a no-op */
	CHECK_INT(mg_kvdb_update(t, "k", 1, action_fn, &action), 0);
	action = MG_KVDB_STORE;
	CHECK_INT(mg_kvdb_update(t, "k", 1, action_fn, &action), 0);
	CHECK_STR(get_str(t, "k"), "stored");
	action = MG_KVDB_KEEP;
	CHECK_INT(mg_kvdb_update(t, "k", 1, action_fn, &action), 0);
	CHECK_STR(get_str(t, "k"), "stored");
	action = -1; /* the callback fails: nothing changes */
	CHECK_INT(mg_kvdb_update(t, "k", 1, action_fn, &action), -1);
	CHECK_STR(get_str(t, "k"), "stored");
	action = 7; /* an unknown action is a failure too */
	CHECK_INT(mg_kvdb_update(t, "k", 1, action_fn, &action), -1);
	CHECK_STR(get_str(t, "k"), "stored");
	action = MG_KVDB_DELETE;
	CHECK_INT(mg_kvdb_update(t, "k", 1, action_fn, &action), 0);
	CHECK_STR(get_str(t, "k"), "(absent)");
	/* The counter starts from an absent record. */
	CHECK_INT(mg_kvdb_update(t, "c", 1, incr_fn, NULL), 0);
	CHECK_INT(mg_kvdb_update(t, "c", 1, incr_fn, NULL), 0);
	CHECK_STR(get_str(t, "c"), "2");
out:
	mg_kvdb_close(&kv);
	remove_env(dir);
}

struct sweep_arg {
	size_t calls, bad;
	int fail_at; /* return -1 on this call (1-based), 0: never */
};

/* Keeps records whose value is "keep"; deletes the others. */
static int
keep_fn(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct sweep_arg *a = arg;

	(void)k;
	if (kl == 0)
		a->bad++;
	a->calls++;
	if (a->fail_at > 0 && a->calls == (size_t)a->fail_at)
		return -1;
	return vl == 4 && memcmp(v, "keep", 4) == 0;
}

static int
keep_all(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	size_t *n = arg;

	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	(*n)++;
	return 1;
}

static size_t
walk_count(struct mg_kvdb_table *t)
{
	size_t n = 0;
	int r;

	/* Finish any partial walk first so the count covers the table once. */
	while ((r = mg_kvdb_sweep(t, keep_all, &n, 1000000, NULL)) == 0)
		;
	n = 0;
	r = mg_kvdb_sweep(t, keep_all, &n, 1000000, NULL);
	CHECK_INT(r, 1);
	return n;
}

static void
test_sweep(void)
{
	const char *dir = fresh_dir("sweep");
	struct mg_kvdb *kv;
	struct mg_kvdb_table *t;
	struct sweep_arg a = { 0 };
	size_t removed = 0, calls = 0;
	char k[32];
	int r;

	if (dir == NULL || (kv = open_ok(dir)) == NULL)
		return;
	if ((t = table_ok(kv, "sweep")) == NULL)
		goto out;
	/* Empty table: one call reaches the end. */
	CHECK_INT(mg_kvdb_sweep(t, keep_fn, &a, 10, &removed), 1);
	CHECK_INT(a.calls, 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "key%04d", i);
		CHECK_INT(put_str(t, k, i % 3 == 0 ? "keep" : "drop"), 0);
	}
	/* 150 per call, in 64-record transactions: 7 calls, each visiting at most 150. */
	do {
		size_t before = a.calls;

		r = mg_kvdb_sweep(t, keep_fn, &a, 150, &removed);
		calls++;
		CHECK(a.calls - before <= 150, "call %zu visited %zu records", calls,
		    a.calls - before);
		if (calls == 3) {
			/* Records added behind and ahead of the position while a pass runs. */
			CHECK_INT(put_str(t, "key0000x", "drop"), 0); /* behind: next pass */
			CHECK_INT(put_str(t, "key9999", "drop"), 0);  /* ahead: this pass */
		}
	} while (r == 0 && calls < 100);
	CHECK_INT(r, 1);
	CHECK_INT(calls, 7);
	CHECK_INT(a.calls, 1001);
	CHECK_INT(a.bad, 0);
	CHECK_INT(removed, 1000 - 334 + 1);
	CHECK_STR(get_str(t, "key0000"), "keep");
	CHECK_STR(get_str(t, "key0001"), "(absent)");
	CHECK_STR(get_str(t, "key0999"), "keep");
	CHECK_STR(get_str(t, "key9999"), "(absent)");
	CHECK_STR(get_str(t, "key0000x"), "drop");
	/* The next pass starts over and finds the record added behind the position. */
	removed = 0;
	CHECK_INT(walk_count(t), 335);
	CHECK_INT(mg_kvdb_sweep(t, keep_fn, &a, 1000, &removed), 1);
	CHECK_INT(removed, 1);
	CHECK_INT(walk_count(t), 334);
	/* A failing callback stops the sweep with an error and rolls back its chunk. */
	{
		struct sweep_arg f = { .fail_at = 10 };

		for (int i = 0; i < 20; i++) {
			snprintf(k, sizeof(k), "fail%02d", i);
			CHECK_INT(put_str(t, k, "drop"), 0);
		}
		CHECK_INT(mg_kvdb_sweep(t, keep_fn, &f, 1000, NULL), -1);
		CHECK_STR(get_str(t, "fail00"), "drop"); /* first chunk rolled back */
		CHECK_INT(walk_count(t), 354);
	}
	/* max_items 0 visits nothing. */
	a.calls = 0;
	CHECK_INT(mg_kvdb_sweep(t, keep_fn, &a, 0, NULL), 0);
	CHECK_INT(a.calls, 0);
out:
	mg_kvdb_close(&kv);
	remove_env(dir);
}

static void
test_reopen(void)
{
	const char *dir = fresh_dir("reopen");
	struct mg_kvdb *kv;
	struct mg_kvdb_table *t;

	if (dir == NULL || (kv = open_ok(dir)) == NULL)
		return;
	if ((t = table_ok(kv, "persist")) != NULL) {
		CHECK_INT(put_str(t, "a", "1"), 0);
		CHECK_INT(put_str(t, "b", "2"), 0);
		CHECK_INT(mg_kvdb_del(t, "b", 1), 1);
	}
	mg_kvdb_close(&kv);
	if ((kv = open_ok(dir)) == NULL)
		return;
	if ((t = table_ok(kv, "persist")) != NULL) {
		CHECK_STR(get_str(t, "a"), "1");
		CHECK_STR(get_str(t, "b"), "(absent)");
	}
	mg_kvdb_close(&kv);
	remove_env(dir);
}

/* Reads exactly n bytes from fd, waiting at most timeout_ms in total. 0 or -1 (EOF, timeout). */
static int
read_full(int fd, void *p, size_t n, int timeout_ms)
{
	struct timespec start, now;
	size_t o = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (o < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long elapsed;
		ssize_t r;

		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed =
		    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed >= timeout_ms || poll(&pfd, 1, (int)(timeout_ms - elapsed)) <= 0)
			return -1;
		r = read(fd, (char *)p + o, n - o);
		if (r <= 0)
			return -1;
		o += (size_t)r;
	}
	return 0;
}

/* Two processes share one environment (DB_REGISTER) and increment one counter 500 times each. */
static void
test_two_processes(void)
{
	const char *dir = fresh_dir("procs");
	int go[2], done[2];
	struct mg_kvdb *kv;
	struct mg_kvdb_table *t;
	pid_t pid;
	int st;
	char c;

	if (dir == NULL || pipe(go) < 0 || pipe(done) < 0)
		return;
	/* Created first so neither opener runs recovery over the other. */
	if ((kv = open_ok(dir)) == NULL)
		return;
	mg_kvdb_close(&kv);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		struct mg_kvdb *ckv;
		struct mg_kvdb_table *ct;
		const char *err;
		int bad = 0;

		close(go[1]);
		close(done[0]);
		if ((ckv = mg_kvdb_open(dir, &err)) == NULL ||
		    (ct = mg_kvdb_table(ckv, "c", &err)) == NULL)
			_exit(2);
		c = 'r';
		if (write(done[1], &c, 1) != 1 || read_full(go[0], &c, 1, 30000) < 0)
			_exit(3);
		for (int i = 0; i < 500; i++)
			bad += mg_kvdb_update(ct, "n", 1, incr_fn, NULL) != 0;
		mg_kvdb_close(&ckv);
		_exit(bad ? 4 : 0);
	}
	close(go[0]);
	close(done[1]);
	CHECK(pid > 0, "fork: %s", strerror(errno));
	CHECK_INT(read_full(done[0], &c, 1, 30000), 0); /* the child has the environment open */
	if ((kv = open_ok(dir)) != NULL && (t = table_ok(kv, "c")) != NULL) {
		int bad = 0;

		CHECK_INT(write(go[1], "g", 1), 1);
		for (int i = 0; i < 500; i++)
			bad += mg_kvdb_update(t, "n", 1, incr_fn, NULL) != 0;
		CHECK_INT(bad, 0);
		CHECK_INT(waitpid(pid, &st, 0), pid);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
		CHECK_STR(get_str(t, "n"), "1000");
	} else {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	mg_kvdb_close(&kv);
	close(go[1]);
	close(done[0]);
	remove_env(dir);
}

/* Crash test. The child writes keys k000000.. with "a<i>-<padding>" values (phase 0), then
 * rewrites them with "b<i>-..." and increments a counter (phase 1), acknowledging each committed
 * operation through a pipe; the parent kills it with SIGKILL after `kill_after` acks. */
#define CRASH_KEYS 6000
#define ACK_PUT_A 0u
#define ACK_PUT_B 1u
#define ACK_COUNT 2u

static void
crash_value(char *dst, size_t size, char phase, int i)
{
	/* Lengths vary from 8 to ~200 bytes so leaf pages split at different points. */
	int pad = (i * 37) % 190;

	char fill[200];

	memset(fill, 'x', sizeof(fill));
	snprintf(dst, size, "%c%06d-%.*s", phase, i, pad, fill);
}

static void *
checkpoint_thread(void *p)
{
	struct mg_kvdb *kv = p;
	const char *err;

	for (;;)
		(void)mg_kvdb_checkpoint(kv, &err);
	return NULL;
}

static void __attribute__((noreturn)) crash_child(const char *dir, int ackfd, int with_checkpointer)
{
	struct mg_kvdb *kv;
	struct mg_kvdb_table *t;
	const char *err;
	char k[16], v[256];
	pthread_t th;

	if ((kv = mg_kvdb_open(dir, &err)) == NULL ||
	    (t = mg_kvdb_table(kv, "crash", &err)) == NULL)
		_exit(2);
	if (with_checkpointer && pthread_create(&th, NULL, checkpoint_thread, kv) != 0)
		_exit(3);
	for (int phase = 0; phase < 2; phase++) {
		for (int i = 0; i < CRASH_KEYS; i++) {
			uint32_t ack;

			snprintf(k, sizeof(k), "k%06d", i);
			crash_value(v, sizeof(v), phase ? 'b' : 'a', i);
			if (mg_kvdb_put(t, k, strlen(k), v, strlen(v)) != 0)
				_exit(4);
			ack = (phase ? ACK_PUT_B : ACK_PUT_A) << 24 | (uint32_t)i;
			if (write(ackfd, &ack, sizeof(ack)) != sizeof(ack))
				_exit(5);
			if (phase == 1) {
				if (mg_kvdb_update(t, "count", 5, incr_fn, NULL) != 0)
					_exit(6);
				ack = ACK_COUNT << 24 | (uint32_t)i;
				if (write(ackfd, &ack, sizeof(ack)) != sizeof(ack))
					_exit(5);
			}
		}
	}
	/* Finished before the kill: exit without closing anything, which is a crash too. */
	_exit(0);
}

struct crash_check {
	int max_a, max_b, max_count; /* highest acknowledged index per kind, -1: none */
	size_t records, bad;
};

/* Every record must be a well-formed crash record. */
static int
crash_walk(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct crash_check *c = arg;
	char ks[16], want[256];
	int i;

	c->records++;
	if (kl == 5 && memcmp(k, "count", 5) == 0)
		return 1;
	if (kl != 7 || sscanf(memcpy(ks, k, 7), "k%06d", &i) != 1 ||
	    (ks[7] = '\0', i < 0 || i >= CRASH_KEYS)) {
		c->bad++;
		return 1;
	}
	crash_value(want, sizeof(want), ((const char *)v)[0], i);
	if (vl == 0 || vl != strlen(want) || memcmp(v, want, vl) != 0 ||
	    (want[0] != 'a' && want[0] != 'b'))
		c->bad++;
	return 1;
}

static void
crash_verify_file(const char *dir)
{
	char path[PATH_MAX];
	DB *db = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/crash.db", dir);
	if ((r = db_create(&db, NULL, 0)) != 0) {
		CHECK(0, "db_create: %s", db_strerror(r));
		return;
	}
	/* DB->verify discards the handle whatever it returns. */
	r = db->verify(db, path, NULL, NULL, 0);
	CHECK(r == 0, "DB->verify %s: %s", path, db_strerror(r));
}

static void
crash_round(int kill_after, int with_checkpointer)
{
	const char *dir = fresh_dir("crash");
	struct crash_check c = { -1, -1, -1, 0, 0 };
	struct mg_kvdb *kv;
	struct mg_kvdb_table *t;
	int fds[2], st, acks = 0;
	uint32_t ack;
	pid_t pid;

	if (dir == NULL || pipe(fds) < 0)
		return;
	fflush(stdout);
	if ((pid = fork()) == 0) {
		close(fds[0]);
		crash_child(dir, fds[1], with_checkpointer);
	}
	close(fds[1]);
	CHECK(pid > 0, "fork: %s", strerror(errno));
	while (acks < kill_after && read_full(fds[0], &ack, sizeof(ack), 60000) == 0) {
		int kind = (int)(ack >> 24), i = (int)(ack & 0xffffff);

		if (kind == ACK_PUT_A)
			c.max_a = i;
		else if (kind == ACK_PUT_B)
			c.max_b = i;
		else
			c.max_count = i;
		acks++;
	}
	CHECK_INT(acks, kill_after);
	kill(pid, SIGKILL);
	CHECK_INT(waitpid(pid, &st, 0), pid);
	/* killed, or (a slow run, e.g. under ASan) done with its writes and gone without closing
	 * anything, which is as much a crash for the environment */
	CHECK((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) || (WIFEXITED(st) && WEXITSTATUS(st) == 0),
	    "child failed: status %#x", st);
	/* Acks written before the kill but not read yet were committed too. */
	while (read_full(fds[0], &ack, sizeof(ack), 1000) == 0) {
		int kind = (int)(ack >> 24), i = (int)(ack & 0xffffff);

		if (kind == ACK_PUT_A)
			c.max_a = i;
		else if (kind == ACK_PUT_B)
			c.max_b = i;
		else
			c.max_count = i;
	}
	close(fds[0]);

	if ((kv = open_ok(dir)) == NULL || (t = table_ok(kv, "crash")) == NULL)
		goto out;
	for (int i = 0; i < CRASH_KEYS; i++) {
		char k[16], want_a[256], want_b[256];
		const char *got;

		snprintf(k, sizeof(k), "k%06d", i);
		got = get_str(t, k);
		crash_value(want_a, sizeof(want_a), 'a', i);
		crash_value(want_b, sizeof(want_b), 'b', i);
		if (i <= c.max_b)
			CHECK(strcmp(got, want_b) == 0, "%s: got \"%.12s...\", want b (acked)", k,
			    got);
		else if (i <= c.max_a || c.max_b >= 0)
			CHECK(strcmp(got, want_a) == 0 || strcmp(got, want_b) == 0,
			    "%s: got \"%.12s...\", want a or b", k, got);
		else
			CHECK(strcmp(got, "(absent)") == 0 || strcmp(got, want_a) == 0,
			    "%s: got \"%.12s...\", want absent or a", k, got);
	}
	{
		const char *got = get_str(t, "count");
		long long n = strcmp(got, "(absent)") == 0 ? 0 : strtoll(got, NULL, 10);

		CHECK(n >= c.max_count + 1 && n <= c.max_count + 2,
		    "count: got %lld, want %d or %d", n, c.max_count + 1, c.max_count + 2);
	}
	while (mg_kvdb_sweep(t, crash_walk, &c, 1000000, NULL) == 0)
		;
	c.records = c.bad = 0;
	CHECK_INT(mg_kvdb_sweep(t, crash_walk, &c, 1000000, NULL), 1);
	CHECK_INT(c.bad, 0);
	CHECK(c.records >= (size_t)(c.max_a + 1), "walk found %zu records, want >= %d", c.records,
	    c.max_a + 1);
	/* Still writable after recovery. */
	CHECK_INT(put_str(t, "after", "1"), 0);
	mg_kvdb_close(&kv);
	crash_verify_file(dir);
out:
	remove_env(dir);
}

static void
test_crash_kill9(void)
{
	/* Killed while writing fresh keys (page splits), and while rewriting them. */
	crash_round(2500, 0);
	crash_round(CRASH_KEYS + 3000, 0);
}

static void
test_crash_kill9_checkpointing(void)
{
	/* A second thread checkpoints in a loop, so the kill lands during page writes too. */
	crash_round(3000, 1);
	crash_round(CRASH_KEYS + 5000, 1);
}

/* Sums the sizes of the log.* files in dir. */
static long long
log_bytes(const char *dir, int *files_r)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	long long sum = 0;

	*files_r = 0;
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char p[PATH_MAX];
		struct stat st;

		if (strncmp(e->d_name, "log.", 4) != 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (stat(p, &st) == 0) {
			sum += st.st_size;
			(*files_r)++;
		}
	}
	closedir(d);
	return sum;
}

static void
test_log_bounded(void)
{
	const char *dir = fresh_dir("logs"), *err = NULL;
	struct mg_kvdb *kv;
	struct mg_kvdb_table *t;
	char k[16], v[1000];
	long long most = 0;
	int files = 0, most_files = 0;

	if (dir == NULL || (kv = open_ok(dir)) == NULL)
		return;
	if ((t = table_ok(kv, "logs")) == NULL)
		goto out;
	memset(v, 'v', sizeof(v));
	/* ~40 MB of log records (1 KB values, 2000 keys rewritten), a checkpoint every 2000. */
	for (int i = 0; i < 40000; i++) {
		snprintf(k, sizeof(k), "k%05d", i % 2000);
		if (mg_kvdb_put(t, k, strlen(k), v, sizeof(v)) != 0) {
			CHECK(0, "put %d failed", i);
			break;
		}
		if (i % 2000 == 1999) {
			long long b;

			CHECK_INT(mg_kvdb_checkpoint(kv, &err), 0);
			b = log_bytes(dir, &files);
			if (b > most)
				most = b;
			if (files > most_files)
				most_files = files;
		}
	}
	printf("# log after a checkpoint: at most %d files, %lld bytes\n", most_files, most);
	/* 2000 KB of records between checkpoints: the live log stays within two 4 MiB files. */
	CHECK(most_files <= 2, "%d log files after a checkpoint", most_files);
	CHECK(most <= 8LL * 1024 * 1024, "%lld log bytes after a checkpoint", most);
	CHECK(most > 0, "no log files seen");
out:
	mg_kvdb_close(&kv);
	remove_env(dir);
}

/* A directory whose log is garbage cannot be recovered: it is moved aside and a fresh one used. */
static void
test_broken_moved_aside(void)
{
	const char *dir = fresh_dir("broken");
	struct mg_kvdb *kv;
	struct mg_kvdb_table *t;
	char parent[PATH_MAX], p[PATH_MAX], *slash;
	int found = 0;
	DIR *d;
	struct dirent *e;

	if (dir == NULL || (kv = open_ok(dir)) == NULL)
		return;
	if ((t = table_ok(kv, "data")) != NULL)
		CHECK_INT(put_str(t, "k", "v"), 0);
	mg_kvdb_close(&kv);
	/* Overwrite every file of the environment with garbage. */
	if ((d = opendir(dir)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			FILE *f;

			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			if ((f = fopen(p, "r+")) != NULL) {
				for (int i = 0; i < 8192; i++)
					fputc(0x5a ^ (i * 7), f);
				fclose(f);
			}
		}
		closedir(d);
	}
	if ((kv = open_ok(dir)) == NULL)
		goto out;
	if ((t = table_ok(kv, "data")) != NULL) {
		CHECK_STR(get_str(t, "k"), "(absent)");
		CHECK_INT(put_str(t, "k", "fresh"), 0);
		CHECK_STR(get_str(t, "k"), "fresh");
	}
	mg_kvdb_close(&kv);
	str_lcpy(parent, dir, sizeof(parent));
	if ((slash = strrchr(parent, '/')) != NULL)
		*slash = '\0';
	if ((d = opendir(parent)) != NULL) {
		while ((e = readdir(d)) != NULL)
			found += strncmp(e->d_name, "db.broken.", 10) == 0;
		closedir(d);
	}
	CHECK_INT(found, 1);
out:
	remove_env(dir);
}

/* A table file that is garbage (the environment itself being fine) is moved aside at open. */
static void
test_broken_table_moved_aside(void)
{
	const char *dir = fresh_dir("badtable");
	struct mg_kvdb *kv;
	struct mg_kvdb_table *t;
	char p[PATH_MAX];
	int found = 0;
	FILE *f;
	DIR *d;
	struct dirent *e;

	if (dir == NULL || (kv = open_ok(dir)) == NULL)
		return;
	if ((t = table_ok(kv, "good")) != NULL)
		CHECK_INT(put_str(t, "k", "kept"), 0);
	if ((t = table_ok(kv, "bad")) != NULL)
		CHECK_INT(put_str(t, "k", "lost"), 0);
	mg_kvdb_close(&kv);
	snprintf(p, sizeof(p), "%s/bad.db", dir);
	if ((f = fopen(p, "w")) != NULL) {
		fputs("this is not a Berkeley DB file\n", f);
		fclose(f);
	}
	if ((kv = open_ok(dir)) == NULL)
		goto out;
	if ((t = table_ok(kv, "good")) != NULL)
		CHECK_STR(get_str(t, "k"), "kept");
	if ((t = table_ok(kv, "bad")) != NULL) {
		CHECK_STR(get_str(t, "k"), "(absent)");
		CHECK_INT(put_str(t, "k", "new"), 0);
	}
	mg_kvdb_close(&kv);
	if ((kv = open_ok(dir)) == NULL)
		goto out;
	if ((t = table_ok(kv, "bad")) != NULL)
		CHECK_STR(get_str(t, "k"), "new");
	mg_kvdb_close(&kv);
	if ((d = opendir(dir)) != NULL) {
		while ((e = readdir(d)) != NULL)
			found += strncmp(e->d_name, "bad.db.broken.", 14) == 0;
		closedir(d);
	}
	CHECK_INT(found, 1);
out:
	remove_env(dir);
}

/* A path that is a regular file is an environment error: open fails, nothing is moved. */
static void
test_open_failure(void)
{
	const char *dir = fresh_dir("notdir"), *err = NULL;
	struct mg_kvdb *kv;
	FILE *f;

	if (dir == NULL)
		return;
	if ((f = fopen(dir, "w")) != NULL)
		fclose(f);
	kv = mg_kvdb_open(dir, &err);
	CHECK(kv == NULL, "opened a regular file as an environment");
	CHECK(err != NULL, "no error message");
	mg_kvdb_close(&kv);
	remove_env(dir);
}

static const struct unit_case cases[] = {
	{ "basic", test_basic },
	{ "table_names", test_table_names },
	{ "update_threads", test_update_threads },
	{ "update_actions", test_update_actions },
	{ "sweep", test_sweep },
	{ "reopen", test_reopen },
	{ "two_processes", test_two_processes },
	{ "crash_kill9", test_crash_kill9 },
	{ "crash_kill9_checkpointing", test_crash_kill9_checkpointing },
	{ "log_bounded", test_log_bounded },
	{ "broken_moved_aside", test_broken_moved_aside },
	{ "broken_table_moved_aside", test_broken_table_moved_aside },
	{ "open_failure", test_open_failure },
};

UNIT_MAIN(cases)
