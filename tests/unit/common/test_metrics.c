/* test_metrics.c: the writer side of the role counters (common/metrics.c): segment layout, the
 * reset rule, domain slots (including racing threads and a full table), histogram buckets, and a
 * printed (not asserted) cost per update. */
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "common/metrics.h"
#include "common/metrics_seg.h"
#include "unit.h"

static char dir[256];

static void
fresh_dir(void)
{
	char cmd[512];

	if (dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			abort();
	}
	snprintf(dir, sizeof(dir), "/tmp/test_metrics.XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	metrics_open(dir, "smtpd");
}

static const struct metrics_seg *
S(void)
{
	return metrics_segment();
}

static void
test_layout(void)
{
	char path[512];
	struct stat st;

	fresh_dir();
	CHECK(S() != NULL, "segment not mapped");
	snprintf(path, sizeof(path), "%s/stats/smtpd.stats", dir);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_size, sizeof(struct metrics_seg));
	CHECK_INT(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/stats", dir);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0700);
	CHECK_INT(S()->h.magic, METRICS_MAGIC);
	CHECK_INT(S()->h.sup_pid, getppid());
	CHECK_STR(S()->h.role, "smtpd");
	CHECK_INT(metrics_seg_layout_ok(&S()->h), 1);
	CHECK_STR(S()->other.name, "other");
}

static void
test_counters(void)
{
	fresh_dir();
	metrics_inc(M_SMTP_CONNECTIONS, 1);
	metrics_inc(M_SMTP_CONNECTIONS, 41);
	metrics_set(M_QUEUE_ACTIVE, 7);
	metrics_add(M_SMTP_SESSIONS, 3);
	metrics_add(M_SMTP_SESSIONS, -5);
	metrics_inc(M_METRIC_COUNT_, 1);	/* out of range: ignored */
	CHECK_INT(S()->v[M_SMTP_CONNECTIONS], 42);
	CHECK_INT((int64_t)S()->v[M_QUEUE_ACTIVE], 7);
	CHECK_INT((int64_t)S()->v[M_SMTP_SESSIONS], -2);
}

/* The slot holding name, or NULL. */
static const struct metrics_dom_slot *
find(const char *name)
{
	for (int i = 0; i < METRICS_DOMAIN_SLOTS; i++)
		if (S()->dom[i].state == METRICS_SLOT_READY && strcmp(S()->dom[i].name, name) == 0)
			return &S()->dom[i];
	return NULL;
}

static int
count_ready(void)
{
	int n = 0;

	for (int i = 0; i < METRICS_DOMAIN_SLOTS; i++)
		n += S()->dom[i].state == METRICS_SLOT_READY;
	return n;
}

static void
test_domains(void)
{
	static const struct {
		const char *name;	/* what the caller passes */
		const char *slot;	/* where it must count; "other" = the overflow slot */
	} cases[] = {
		{ "example.org", "example.org" },
		{ "Example.ORG", "example.org" },
		{ "b.example", "b.example" },
		{ NULL, "other" },
		{ "", "other" },
		{ "bad\"quote.example", "other" },
		{ "[192.0.2.1]", "other" },
		{ "sp ace.example", "other" },
	};
	char longname[300];

	fresh_dir();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		metrics_inc_domain(MD_IN_DELIVER, cases[i].name, 1);
	memset(longname, 'a', 254);
	longname[254] = '\0';
	metrics_inc_domain(MD_IN_REJECT, longname, 1);
	CHECK(find("example.org") != NULL, "example.org has no slot");
	if (find("example.org"))
		CHECK_INT(find("example.org")->v[MD_IN_DELIVER], 2);
	CHECK_INT(count_ready(), 2);
	CHECK_INT(S()->other.v[MD_IN_DELIVER], 5);
	CHECK_INT(S()->other.v[MD_IN_REJECT], 1);
}

static void
test_full_table(void)
{
	char name[64];

	fresh_dir();
	for (int i = 0; i < METRICS_DOMAIN_SLOTS; i++) {
		snprintf(name, sizeof(name), "d%d.example", i);
		metrics_inc_domain(MD_OUT_DELIVERED, name, 1);
	}
	CHECK_INT(count_ready(), METRICS_DOMAIN_SLOTS);
	CHECK_INT(S()->other.v[MD_OUT_DELIVERED], 0);
	metrics_inc_domain(MD_OUT_DELIVERED, "one-more.example", 3);
	metrics_inc_domain(MD_OUT_DELIVERED, "d17.example", 1);
	CHECK_INT(S()->other.v[MD_OUT_DELIVERED], 3);
	CHECK_INT(find("d17.example")->v[MD_OUT_DELIVERED], 2);
}

#define RACE_THREADS 4
#define RACE_DOMAINS 200
#define RACE_ROUNDS 200

static void *
race_worker(void *arg)
{
	char name[64];

	(void)arg;
	for (int r = 0; r < RACE_ROUNDS; r++)
		for (int d = 0; d < RACE_DOMAINS; d++) {
			snprintf(name, sizeof(name), "race%d.example", d);
			metrics_inc_domain(MD_IN_GREYLIST, name, 1);
			metrics_inc(M_SMTP_CONNECTIONS, 1);
		}
	return NULL;
}

static void
test_threads_race(void)
{
	pthread_t t[RACE_THREADS];
	int bad = 0;

	fresh_dir();
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_create(&t[i], NULL, race_worker, NULL);
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_join(t[i], NULL);
	CHECK_INT(count_ready(), RACE_DOMAINS);	/* no name claimed twice */
	for (int d = 0; d < RACE_DOMAINS; d++) {
		char name[64];

		snprintf(name, sizeof(name), "race%d.example", d);
		bad += find(name) == NULL ||
		    find(name)->v[MD_IN_GREYLIST] != RACE_THREADS * RACE_ROUNDS;
	}
	CHECK_INT(bad, 0);
	CHECK_INT(S()->v[M_SMTP_CONNECTIONS], RACE_THREADS * RACE_ROUNDS * RACE_DOMAINS);
}

static void
test_histogram(void)
{
	static const struct {
		double s;
		int bucket;
	} cases[] = {
		{ 0.0005, 0 }, { 0.001, 0 }, { 0.0011, 1 }, { 0.03, 4 }, { 1.0, 8 },
		{ 29.9, 12 }, { 30.0, 12 }, { 31.0, 13 }, { 1e12, 13 }, { -1.0, 0 },
	};
	uint64_t want[METRICS_BUCKETS + 1] = { 0 };
	double sum = 0;

	fresh_dir();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		metrics_observe(MH_DNS_SECONDS, cases[i].s);
		want[cases[i].bucket]++;
		sum += cases[i].s < 0 ? 0 : cases[i].s > 1e9 ? 1e9 : cases[i].s;
	}
	for (int b = 0; b <= METRICS_BUCKETS; b++)
		CHECK(S()->hist[MH_DNS_SECONDS].bucket[b] == want[b], "bucket %d: got %llu, want %llu",
		    b, (unsigned long long)S()->hist[MH_DNS_SECONDS].bucket[b],
		    (unsigned long long)want[b]);
	CHECK(S()->hist[MH_DNS_SECONDS].sum_ns / 1e9 > sum - 1e-6 &&
	    S()->hist[MH_DNS_SECONDS].sum_ns / 1e9 < sum + 1e-6, "sum %f, want %f",
	    S()->hist[MH_DNS_SECONDS].sum_ns / 1e9, sum);
	CHECK_INT(S()->hist[MH_FILTER_SECONDS].bucket[0], 0);
}

static void
set_file_sup_pid(int64_t pid)
{
	char path[512];
	struct metrics_seg_header h;
	FILE *f;

	snprintf(path, sizeof(path), "%s/stats/smtpd.stats", dir);
	if ((f = fopen(path, "r+")) == NULL || fread(&h, sizeof(h), 1, f) != 1)
		abort();
	h.sup_pid = pid;
	rewind(f);
	if (fwrite(&h, sizeof(h), 1, f) != 1)
		abort();
	fclose(f);
}

static void
test_reset_rule(void)
{
	fresh_dir();
	metrics_inc(M_AUTH_FAILURES, 5);
	metrics_inc_domain(MD_IN_REJECT, "keep.example", 2);
	/* A restarted role (same supervisor) continues its counters. */
	metrics_close();
	CHECK(S() == NULL, "still mapped after close");
	metrics_inc(M_AUTH_FAILURES, 1);	/* closed: a no-op, no crash */
	metrics_open(dir, "smtpd");
	CHECK_INT(S()->v[M_AUTH_FAILURES], 5);
	CHECK(find("keep.example") != NULL, "domain slot lost across reopen");
	/* A segment of another supervisor (an earlier daemon) starts at zero. */
	metrics_close();
	set_file_sup_pid(1);
	metrics_open(dir, "smtpd");
	CHECK_INT(S()->v[M_AUTH_FAILURES], 0);
	CHECK(find("keep.example") == NULL, "domain slot survived the reset");
	CHECK_INT(S()->h.sup_pid, getppid());
	/* Tools: reset_all removes the files; the next open starts at zero. */
	metrics_inc(M_AUTH_FAILURES, 3);
	metrics_reset_all(dir);
	metrics_open(dir, "smtpd");
	CHECK_INT(S()->v[M_AUTH_FAILURES], 0);
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Prints the cost of an update; not asserted (timings depend on the machine's load). */
static void
test_bench(void)
{
	enum { N = 2000000 };
	double t0, t1, t2, t3;

	fresh_dir();
	metrics_inc_domain(MD_IN_DELIVER, "bench.example", 1);
	t0 = now_ns();
	for (int i = 0; i < N; i++)
		metrics_inc(M_SMTP_CONNECTIONS, 1);
	t1 = now_ns();
	for (int i = 0; i < N; i++)
		metrics_inc_domain(MD_IN_DELIVER, "bench.example", 1);
	t2 = now_ns();
	for (int i = 0; i < N; i++)
		metrics_observe(MH_FILTER_SECONDS, (i % 100) * 0.003);
	t3 = now_ns();
	printf("bench: metrics_inc %.1f ns, metrics_inc_domain %.1f ns, metrics_observe %.1f ns "
	    "per update\n", (t1 - t0) / N, (t2 - t1) / N, (t3 - t2) / N);
	CHECK_INT(S()->v[M_SMTP_CONNECTIONS], N);
	CHECK_INT(find("bench.example")->v[MD_IN_DELIVER], N + 1);
}

static void
cleanup(void)
{
	char cmd[512];

	metrics_close();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		abort();
}

static const struct unit_case cases[] = {
	{ "layout", test_layout },
	{ "counters", test_counters },
	{ "domains", test_domains },
	{ "full_table", test_full_table },
	{ "threads_race", test_threads_race },
	{ "histogram", test_histogram },
	{ "reset_rule", test_reset_rule },
	{ "bench", test_bench },
	{ "cleanup", cleanup },
};

UNIT_MAIN(cases)
