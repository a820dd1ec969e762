/* test_greylist.c: unit tests for filter/greylist.c, with an injected clock.
 * Every transition (new, early, pass, window expiry, pass expiry, refresh) and its boundaries,
 * /24 and /64 grouping (IPv4-mapped included), case folding, key separation, errors, parameters,
 * the per-message batch, sweep, concurrent checks of one triplet, values surviving a reopen, and
 * the cost of one check on a warm environment (printed; bounded loosely so an fsync per check
 * would fail). */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/un.h>
#include <time.h>

#include "unit.h"
#include "unit_tmpdir.h"

#include "filter/greylist.h"
#include "lib/kvdb.h"
#include "lib/log.h"
#include "lib/str.h"

#define T0 1800000000LL
#define DAY 86400LL

static char env_dir[PATH_MAX];

static const char *
fresh_dir(const char *name)
{
	log_init("test_greylist", 1, LOG_LVL_WARN);
	return unit_tmpdir("test_greylist", name, "db", env_dir, sizeof(env_dir));
}

#define remove_env(dir) unit_tmpdir_remove(dir)

/* One environment and greylist per case. */
struct fixture {
	const char *dir;
	struct mg_kvdb *kv;
	struct mg_greylist *gl;
};

static int
setup(struct fixture *f, const char *name, const struct mg_greylist_params *p)
{
	const char *err = NULL;

	memset(f, 0, sizeof(*f));
	if ((f->dir = fresh_dir(name)) == NULL)
		return -1;
	if ((f->kv = mg_kvdb_open(f->dir, &err)) == NULL) {
		CHECK(0, "mg_kvdb_open: %s", err);
		return -1;
	}
	if ((f->gl = mg_greylist_new(f->kv, p, &err)) == NULL) {
		CHECK(0, "mg_greylist_new: %s", err);
		mg_kvdb_close(&f->kv);
		return -1;
	}
	return 0;
}

static void
teardown(struct fixture *f)
{
	mg_greylist_free(&f->gl);
	mg_kvdb_close(&f->kv);
	if (f->dir != NULL)
		remove_env(f->dir);
}

/* A socket address from text ("192.0.2.1" or "2001:db8::1"); static storage, one per slot. */
static const struct sockaddr *
addr(const char *text)
{
	static struct sockaddr_storage ss[8];
	static int next;
	struct sockaddr_storage *s = &ss[next++ % 8];

	memset(s, 0, sizeof(*s));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)s;

		s6->sin6_family = AF_INET6;
		CHECK(inet_pton(AF_INET6, text, &s6->sin6_addr) == 1, "bad test address %s", text);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)s;

		s4->sin_family = AF_INET;
		CHECK(inet_pton(AF_INET, text, &s4->sin_addr) == 1, "bad test address %s", text);
	}
	return (const struct sockaddr *)s;
}

/* The verdict's name, or "error". */
static const char *
check(struct fixture *f, const char *client, const char *from, const char *to, long long now)
{
	enum mg_grey_verdict v;

	if (mg_greylist_check(f->gl, addr(client), from, to, now, &v) < 0)
		return "error";
	return mg_greylist_verdict_name(v);
}

static void
test_transitions(void)
{
	/* clang-format off */
	static const struct {
		long long at; /* seconds after T0 */
		const char *want;
	} steps[] = {
		{ 0, "new" },
		{ 1, "early" },
		{ 299, "early" },		/* delay not elapsed */
		{ 300, "pass" },		/* delay elapsed, within the window */
		{ 301, "pass" },		/* passed: passed until 301 + 35 d */
		{ 301 + 20 * DAY, "pass" },	/* refreshed: until 301 + 55 d */
		{ 301 + 50 * DAY, "pass" },	/* past the first lifetime: the refresh held */
		{ 301 + 85 * DAY - 1, "pass" },	/* last second: until 301 + 120 d - 1 */
		{ 301 + 120 * DAY - 1, "new" },	/* at passed-until: start over */
		{ 301 + 120 * DAY + 298, "early" },
		{ 301 + 120 * DAY + 299, "pass" },
	};
	/* clang-format on */
	struct fixture f;

	if (setup(&f, "transitions", NULL) < 0)
		return;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const char *got =
		    check(&f, "192.0.2.1", "a@example.org", "b@example.net", T0 + steps[i].at);

		CHECK(strcmp(got, steps[i].want) == 0, "step %zu (T0+%lld): got %s, want %s", i,
		    steps[i].at, got, steps[i].want);
	}
	teardown(&f);
}

static void
test_retry_window(void)
{
	struct fixture f;
	const char *c = "198.51.100.7";

	if (setup(&f, "window", NULL) < 0)
		return;
	CHECK_STR(check(&f, c, "s@x.example", "r@y.example", T0), "new");
	CHECK_STR(check(&f, c, "s@x.example", "r@y.example", T0 + 100), "early");
	/* Retried only after the 4 h window: starts over, and the delay counts from now. */
	CHECK_STR(check(&f, c, "s@x.example", "r@y.example", T0 + 4 * 3600 + 1), "new");
	CHECK_STR(check(&f, c, "s@x.example", "r@y.example", T0 + 4 * 3600 + 299), "early");
	CHECK_STR(check(&f, c, "s@x.example", "r@y.example", T0 + 4 * 3600 + 301), "pass");
	/* The last second of the window still passes. */
	CHECK_STR(check(&f, c, "t@x.example", "r@y.example", T0), "new");
	CHECK_STR(check(&f, c, "t@x.example", "r@y.example", T0 + 4 * 3600), "pass");
	/* Early retries do not move the start of the window. */
	CHECK_STR(check(&f, c, "u@x.example", "r@y.example", T0), "new");
	for (int i = 1; i < 10; i++)
		CHECK_STR(check(&f, c, "u@x.example", "r@y.example", T0 + i * 25), "early");
	CHECK_STR(check(&f, c, "u@x.example", "r@y.example", T0 + 300), "pass");
	/* A clock that went back is early, never a pass. */
	CHECK_STR(check(&f, c, "v@x.example", "r@y.example", T0), "new");
	CHECK_STR(check(&f, c, "v@x.example", "r@y.example", T0 - 1000), "early");
	teardown(&f);
}

static void
test_networks(void)
{
	/* clang-format off */
	static const struct {
		const char *first, *second;
		int shared;
	} cases[] = {
		{ "192.0.2.1", "192.0.2.254", 1 },
		{ "192.0.2.1", "192.0.3.1", 0 },
		{ "192.0.2.1", "::ffff:192.0.2.77", 1 },	/* IPv4-mapped counts as IPv4 */
		{ "10.1.2.3", "10.1.2.0", 1 },
		{ "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:9", 1 },
		{ "2001:db8:1:2::1", "2001:db8:1:3::1", 0 },
		{ "2001:db8::1", "2001:db9::1", 0 },
		{ "::1", "::2", 1 },
		{ "192.0.2.1", "::c000:201", 0 },		/* IPv4-compatible is IPv6 */
	};
	/* clang-format on */
	struct fixture f;

	if (setup(&f, "networks", NULL) < 0)
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char rcpt[32];
		const char *got;

		snprintf(rcpt, sizeof(rcpt), "r%zu@example.net", i);
		CHECK_STR(check(&f, cases[i].first, "s@example.org", rcpt, T0), "new");
		got = check(&f, cases[i].second, "s@example.org", rcpt, T0 + 400);
		CHECK(strcmp(got, cases[i].shared ? "pass" : "new") == 0,
		    "%s then %s: got %s, want %s", cases[i].first, cases[i].second, got,
		    cases[i].shared ? "pass (same triplet)" : "new (another network)");
	}
	teardown(&f);
}

static void
test_keys(void)
{
	struct fixture f;
	const char *c = "203.0.113.9";

	if (setup(&f, "keys", NULL) < 0)
		return;
	/* Case folding of sender and recipient (local part and domain). */
	CHECK_STR(check(&f, c, "Alice@Example.ORG", "Bob@EXAMPLE.net", T0), "new");
	CHECK_STR(check(&f, c, "alice@example.org", "bob@example.net", T0 + 300), "pass");
	CHECK_STR(check(&f, c, "ALICE@EXAMPLE.ORG", "BOB@example.NET", T0 + 301), "pass");
	/* Another sender or recipient is another triplet. */
	CHECK_STR(check(&f, c, "alice@example.org", "carol@example.net", T0 + 302), "new");
	CHECK_STR(check(&f, c, "dave@example.org", "bob@example.net", T0 + 303), "new");
	/* The separator keeps ("a", "bc") apart from ("ab", "c"). */
	CHECK_STR(check(&f, c, "a", "bc", T0), "new");
	CHECK_STR(check(&f, c, "ab", "c", T0 + 300), "new");
	/* The null sender is a sender like any other. */
	CHECK_STR(check(&f, c, "", "bob@example.net", T0), "new");
	CHECK_STR(check(&f, c, "", "bob@example.net", T0 + 300), "pass");
	/* Bytes of SMTPUTF8 addresses are kept, not folded. */
	CHECK_STR(check(&f, c, "J\xc3\xb6rg@example.org", "bob@example.net", T0), "new");
	CHECK_STR(check(&f, c, "j\xc3\xb6rg@example.org", "bob@example.net", T0 + 300), "pass");
	CHECK_STR(check(&f, c, "j\xc3\x96rg@example.org", "bob@example.net", T0 + 300), "new");
	teardown(&f);
}

static void
test_errors(void)
{
	struct fixture f;
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	enum mg_grey_verdict v = (enum mg_grey_verdict)42;
	char long_addr[MG_GREYLIST_ADDRESS_MAX + 2];

	if (setup(&f, "errors", NULL) < 0)
		return;
	CHECK_INT(mg_greylist_check(f.gl, (const struct sockaddr *)&un, "a@b", "c@d", T0, &v), -1);
	CHECK_INT(mg_greylist_check(f.gl, NULL, "a@b", "c@d", T0, &v), -1);
	CHECK_INT(mg_greylist_check(f.gl, addr("192.0.2.1"), NULL, "c@d", T0, &v), -1);
	memset(long_addr, 'x', sizeof(long_addr) - 1);
	long_addr[sizeof(long_addr) - 1] = '\0';
	CHECK_INT(mg_greylist_check(f.gl, addr("192.0.2.1"), long_addr, "c@d", T0, &v), -1);
	CHECK_INT(mg_greylist_check(f.gl, addr("192.0.2.1"), "a@b", long_addr, T0, &v), -1);
	CHECK_INT(v, 42);			   /* untouched on error */
	long_addr[MG_GREYLIST_ADDRESS_MAX] = '\0'; /* exactly the maximum is fine */
	CHECK_INT(mg_greylist_check(f.gl, addr("192.0.2.1"), long_addr, long_addr, T0, &v), 0);
	CHECK_STR(mg_greylist_verdict_name(v), "new");
	CHECK_STR(mg_greylist_verdict_name(MG_GREY_PASS), "pass");
	CHECK_STR(mg_greylist_verdict_name(MG_GREY_EARLY), "early");
	CHECK_STR(mg_greylist_verdict_name((enum mg_grey_verdict)9), "?");
	teardown(&f);
}

static void
test_params(void)
{
	/* clang-format off */
	static const struct {
		struct mg_greylist_params p;
		int ok;
	} cases[] = {
		{ { 300, 14400, 35 * DAY }, 1 },
		{ { 0, 1, 1 }, 1 },
		{ { -1, 14400, 35 * DAY }, 0 },
		{ { 300, 300, 35 * DAY }, 0 },		/* window must exceed the delay */
		{ { 300, 14400, 0 }, 0 },
		{ { 300, 367 * DAY, 35 * DAY }, 0 },
		{ { 300, 14400, 367 * DAY }, 0 },
	};
	/* clang-format on */
	struct fixture f;
	struct mg_greylist_params p;

	if (setup(&f, "params", NULL) < 0)
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *err = NULL;
		struct mg_greylist *gl = mg_greylist_new(f.kv, &cases[i].p, &err);

		CHECK((gl != NULL) == cases[i].ok, "case %zu: got %s, want %s", i,
		    gl ? "created" : "refused", cases[i].ok ? "created" : "refused");
		CHECK(gl != NULL || err != NULL, "case %zu refused without error", i);
		mg_greylist_free(&gl);
		CHECK(gl == NULL, "mg_greylist_free did not NULL the pointer");
	}
	mg_greylist_params_init(&p);
	CHECK_INT(p.delay, 300);
	CHECK_INT(p.retry_window, 4 * 3600);
	CHECK_INT(p.pass_lifetime, 35 * DAY);
	/* Custom values take effect: a 60 s delay, 600 s window, 1 h lifetime. */
	mg_greylist_free(&f.gl);
	p = (struct mg_greylist_params){ 60, 600, 3600 };
	{
		const char *err = NULL;

		f.gl = mg_greylist_new(f.kv, &p, &err);
		CHECK(f.gl != NULL, "custom params: %s", err);
	}
	if (f.gl != NULL) {
		CHECK_STR(check(&f, "192.0.2.1", "a@b", "c@d", T0), "new");
		CHECK_STR(check(&f, "192.0.2.1", "a@b", "c@d", T0 + 59), "early");
		CHECK_STR(check(&f, "192.0.2.1", "a@b", "c@d", T0 + 60), "pass");
		CHECK_STR(check(&f, "192.0.2.1", "a@b", "c@d", T0 + 60 + 3600), "new");
		CHECK_STR(check(&f, "192.0.2.1", "e@b", "c@d", T0), "new");
		CHECK_STR(check(&f, "192.0.2.1", "e@b", "c@d", T0 + 601), "new");
	}
	teardown(&f);
}

static void
test_message_batch(void)
{
	static const char *const two[] = { "a@example.net", "b@example.net" };
	static const char *const three[] = { "a@example.net", "b@example.net", "c@example.net" };
	struct fixture f;
	enum mg_grey_verdict v[3], all;
	const struct sockaddr *c = addr("192.0.2.10");

	if (setup(&f, "batch", NULL) < 0)
		return;
	CHECK_INT(mg_greylist_check_message(f.gl, c, "s@example.org", two, 2, T0, v, &all), 0);
	CHECK_STR(mg_greylist_verdict_name(all), "new");
	CHECK_STR(mg_greylist_verdict_name(v[0]), "new");
	CHECK_STR(mg_greylist_verdict_name(v[1]), "new");
	CHECK_INT(mg_greylist_check_message(f.gl, c, "s@example.org", two, 2, T0 + 60, v, &all), 0);
	CHECK_STR(mg_greylist_verdict_name(all), "early");
	CHECK_INT(mg_greylist_check_message(f.gl, c, "s@example.org", two, 2, T0 + 300, v, &all),
	    0);
	CHECK_STR(mg_greylist_verdict_name(all), "pass");
	/* A third recipient joins: the message waits for it; the other two are still recorded. */
	CHECK_INT(mg_greylist_check_message(f.gl, c, "s@example.org", three, 3, T0 + 400, v, &all),
	    0);
	CHECK_STR(mg_greylist_verdict_name(all), "new");
	CHECK_STR(mg_greylist_verdict_name(v[0]), "pass");
	CHECK_STR(mg_greylist_verdict_name(v[1]), "pass");
	CHECK_STR(mg_greylist_verdict_name(v[2]), "new");
	/* Passed recipients plus an early one: early. */
	CHECK_INT(mg_greylist_check_message(f.gl, c, "s@example.org", three, 3, T0 + 500, NULL,
		      &all),
	    0);
	CHECK_STR(mg_greylist_verdict_name(all), "early");
	CHECK_INT(mg_greylist_check_message(f.gl, c, "s@example.org", three, 3, T0 + 700, v, &all),
	    0);
	CHECK_STR(mg_greylist_verdict_name(all), "pass");
	/* No recipients: nothing to hold. */
	CHECK_INT(mg_greylist_check_message(f.gl, c, "s@example.org", three, 0, T0, v, &all), 0);
	CHECK_STR(mg_greylist_verdict_name(all), "pass");
	/* An error stops the batch. */
	{
		static const char *const bad[] = { "d@example.net", NULL };

		all = (enum mg_grey_verdict)42;
		CHECK_INT(mg_greylist_check_message(f.gl, c, "s@example.org", bad, 2, T0, v, &all),
		    -1);
		CHECK_INT(all, 42);
		CHECK_STR(check(&f, "192.0.2.10", "s@example.org", "d@example.net", T0 + 300),
		    "pass"); /* the first one was recorded */
	}
	teardown(&f);
}

/* Counts the records of the greylist table by a keep-everything walk. */
static int
count_fn(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	(*(size_t *)arg)++;
	return 1;
}

static size_t
table_size(struct fixture *f)
{
	const char *err;
	struct mg_kvdb_table *t = mg_kvdb_table(f->kv, MG_GREYLIST_TABLE, &err);
	size_t n = 0;
	int r;

	if (t == NULL)
		return 0;
	/* A walk of a table no other sweep is in the middle of starts at its beginning. */
	while ((r = mg_kvdb_sweep(t, count_fn, &n, SIZE_MAX, NULL)) == 0)
		;
	CHECK_INT(r, 1);
	return n;
}

static void
test_sweep(void)
{
	struct fixture f;
	const char *c = "192.0.2.20", *err = NULL;
	struct mg_kvdb_table *t;
	size_t removed = 0;
	int r, calls = 0;

	if (setup(&f, "sweep", NULL) < 0)
		return;
	/* 100 greylisted triplets at T0, 50 passed at T0 + 300 (passed until T0 + 300 + 35 d). */
	for (int i = 0; i < 100; i++) {
		char to[32];

		snprintf(to, sizeof(to), "r%03d@example.net", i);
		CHECK_STR(check(&f, c, "s@example.org", to, T0), "new");
		if (i < 50)
			CHECK_STR(check(&f, c, "s@example.org", to, T0 + 300), "pass");
	}
	/* One younger greylisted triplet, and one unreadable record. */
	CHECK_STR(check(&f, c, "s@example.org", "young@example.net", T0 + 4 * 3600), "new");
	if ((t = mg_kvdb_table(f.kv, MG_GREYLIST_TABLE, &err)) != NULL)
		CHECK_INT(mg_kvdb_put(t, "junk", 4, "not a record", 12), 0);
	CHECK_INT(table_size(&f), 102);
	/* Within the window: only the junk goes. */
	CHECK_INT(mg_greylist_sweep(f.gl, T0 + 4 * 3600, 1000, &removed), 1);
	CHECK_INT(removed, 1);
	/* After the window of the T0 triplets: the 50 never-passed ones go, 10 per call. */
	removed = 0;
	while ((r = mg_greylist_sweep(f.gl, T0 + 4 * 3600 + 1, 10, &removed)) == 0 && calls < 100)
		calls++;
	CHECK_INT(r, 1);
	CHECK_INT(calls, 10); /* 101 records, 10 per call: the 11th call reaches the end */
	CHECK_INT(removed, 50);
	CHECK_INT(table_size(&f), 51);
	CHECK_STR(check(&f, c, "s@example.org", "r000@example.net", T0 + 5 * 3600), "pass");
	CHECK_STR(check(&f, c, "s@example.org", "r099@example.net", T0 + 5 * 3600), "new");
	/* After every lifetime: everything goes (the two just re-recorded as well). */
	removed = 0;
	CHECK_INT(mg_greylist_sweep(f.gl, T0 + 5 * 3600 + 36 * DAY, SIZE_MAX, &removed), 1);
	CHECK_INT(removed, 52);
	CHECK_INT(table_size(&f), 0);
	teardown(&f);
}

struct race {
	struct mg_greylist *gl;
	const struct sockaddr *client;
	long long now;
	int counts[3], errors;
};

static void *
race_thread(void *p)
{
	struct race *r = p;
	const struct sockaddr *c = r->client;

	for (int i = 0; i < 250; i++) {
		enum mg_grey_verdict v;

		if (mg_greylist_check(r->gl, c, "s@example.org", "r@example.net", r->now, &v) < 0)
			r->errors++;
		else
			r->counts[v]++;
	}
	return NULL;
}

static void
test_concurrency(void)
{
	struct fixture f;
	struct race races[4];
	pthread_t th[4];
	int total[3];
	const char *err;
	struct mg_kvdb_table *t;
	struct buf v;

	const struct sockaddr *client;

	if (setup(&f, "threads", NULL) < 0)
		return;
	/* addr() hands out static slots: take the address before the threads share it. */
	client = addr("192.0.2.30");
	for (int round = 0; round < 2; round++) {
		long long now = round == 0 ? T0 : T0 + 300;

		memset(total, 0, sizeof(total));
		for (int i = 0; i < 4; i++) {
			races[i] = (struct race){ .gl = f.gl, .client = client, .now = now };
			CHECK_INT(pthread_create(&th[i], NULL, race_thread, &races[i]), 0);
		}
		for (int i = 0; i < 4; i++) {
			pthread_join(th[i], NULL);
			CHECK_INT(races[i].errors, 0);
			for (int k = 0; k < 3; k++)
				total[k] += races[i].counts[k];
		}
		if (round == 0) {
			/* Exactly one thread saw the first sighting. */
			CHECK_INT(total[MG_GREY_NEW], 1);
			CHECK_INT(total[MG_GREY_EARLY], 999);
			CHECK_INT(total[MG_GREY_PASS], 0);
		} else {
			CHECK_INT(total[MG_GREY_PASS], 1000);
		}
	}
	/* No sighting was lost: the record counts all 2000. */
	buf_init(&v, 256);
	if ((t = mg_kvdb_table(f.kv, MG_GREYLIST_TABLE, &err)) != NULL) {
		static const char key[] = "192.0.2.0/24\0s@example.org\0r@example.net";
		char want[128];

		snprintf(want, sizeof(want), "g1 %lld %lld %lld 2000", T0, T0 + 300,
		    T0 + 300 + 35 * DAY);
		CHECK_INT(mg_kvdb_get(t, key, sizeof(key) - 1, &v), 1);
		CHECK_STR(v.data, want);
	}
	buf_free(&v);
	teardown(&f);
}

static void
test_reopen(void)
{
	struct fixture f;
	const char *err = NULL;

	if (setup(&f, "reopen", NULL) < 0)
		return;
	CHECK_STR(check(&f, "2001:db8:5::1", "s@example.org", "r@example.net", T0), "new");
	CHECK_STR(check(&f, "192.0.2.40", "s@example.org", "r@example.net", T0), "new");
	CHECK_STR(check(&f, "192.0.2.40", "s@example.org", "r@example.net", T0 + 300), "pass");
	mg_greylist_free(&f.gl);
	mg_kvdb_close(&f.kv);
	if ((f.kv = mg_kvdb_open(f.dir, &err)) == NULL ||
	    (f.gl = mg_greylist_new(f.kv, NULL, &err)) == NULL) {
		CHECK(0, "reopen: %s", err);
		teardown(&f);
		return;
	}
	CHECK_STR(check(&f, "2001:db8:5::2", "s@example.org", "r@example.net", T0 + 100), "early");
	CHECK_STR(check(&f, "2001:db8:5::3", "s@example.org", "r@example.net", T0 + 300), "pass");
	CHECK_STR(check(&f, "192.0.2.41", "s@example.org", "r@example.net", T0 + 10 * DAY), "pass");
	teardown(&f);
}

static double
elapsed_us(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e6 + (double)(b->tv_nsec - a->tv_nsec) / 1e3;
}

struct bench {
	struct mg_greylist *gl;
	const struct sockaddr *client;
	int base, n, errors;
};

static void *
bench_thread(void *p)
{
	struct bench *b = p;

	for (int i = 0; i < b->n; i++) {
		enum mg_grey_verdict v;
		char to[32];

		snprintf(to, sizeof(to), "user%05d@example.net", (b->base + i) % 5000);
		if (mg_greylist_check(b->gl, b->client, "sender@example.org", to, T0 + 400 + i,
			&v) < 0)
			b->errors++;
	}
	return NULL;
}

static void
test_cost(void)
{
	struct fixture f;
	struct timespec a, b;
	struct bench one, two[2];
	pthread_t th[2];
	double us1, us2;

	if (setup(&f, "cost", NULL) < 0)
		return;
	/* Warm up: 5000 triplets recorded (and their pages cached). */
	one = (struct bench){ .gl = f.gl, .client = addr("192.0.2.50"), .base = 0, .n = 5000 };
	bench_thread(&one);
	one.n = 20000;
	clock_gettime(CLOCK_MONOTONIC, &a);
	bench_thread(&one);
	clock_gettime(CLOCK_MONOTONIC, &b);
	us1 = elapsed_us(&a, &b) / one.n;
	for (int i = 0; i < 2; i++) {
		two[i] = (struct bench){ .gl = f.gl,
			.client = one.client,
			.base = i * 2500,
			.n = 10000 };
		CHECK_INT(pthread_create(&th[i], NULL, bench_thread, &two[i]), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(two[i].errors, 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	us2 = elapsed_us(&a, &b) / 20000;
	CHECK_INT(one.errors, 0);
	printf("# greylist check, warm, 5000 triplets: %.1f us/check on 1 thread, %.1f us/check "
	       "(wall) on 2 threads\n",
	    us1, us2);
	/* Loose: an fsync per check (milliseconds) would fail this. */
	CHECK(us1 < 500, "%.1f us per check", us1);
	teardown(&f);
}

static const struct unit_case cases[] = {
	{ "transitions", test_transitions },
	{ "retry_window", test_retry_window },
	{ "networks", test_networks },
	{ "keys", test_keys },
	{ "errors", test_errors },
	{ "params", test_params },
	{ "message_batch", test_message_batch },
	{ "sweep", test_sweep },
	{ "concurrency", test_concurrency },
	{ "reopen", test_reopen },
	{ "cost", test_cost },
};

UNIT_MAIN(cases)
