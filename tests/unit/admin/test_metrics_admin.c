/* test_metrics_admin.c: the admin side of the counters (admin/metrics.c, metrics_hist.c):
 * reading several role segments, ignoring stale ones, re-mapping recreated ones, the Prometheus
 * rendering (checked line by line and by python3-prometheus-client's parser), totals, and the
 * history: minute records, series points, restarts of the admin role, counter resets, expiry. */
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "admin/metrics.h"
#include "admin/metrics_int.h"
#include "common/metrics.h"
#include "common/metrics_seg.h"
#include "lib/buf.h"
#include "lib/kvdb.h"
#include "unit.h"

static char dir[256];

static void
rm_dir(void)
{
	char cmd[512];

	if (dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		abort();
}

static void
fresh_dir(void)
{
	metrics_close();
	metrics_hist_close();
	rm_dir();
	snprintf(dir, sizeof(dir), "/tmp/test_metrics_admin.XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	metrics_reader_init(dir, getppid());
}

/* Two roles' segments: smtpd (inbound verdicts) and queue (delivery results, gauges). */
static void
write_two_roles(void)
{
	metrics_open(dir, "smtpd");
	metrics_inc(M_SMTP_CONNECTIONS, 5);
	metrics_set(M_SMTP_SESSIONS, 2);
	metrics_inc_domain(MD_IN_DELIVER, "a.example", 3);
	metrics_inc_domain(MD_IN_REJECT, "a.example", 1);
	metrics_inc_domain(MD_IN_GREYLIST, "b.example", 2);
	metrics_observe(MH_FILTER_SECONDS, 0.002);
	metrics_observe(MH_FILTER_SECONDS, 0.2);
	metrics_observe(MH_FILTER_SECONDS, 100);
	metrics_close();
	metrics_open(dir, "queue");
	metrics_set(M_QUEUE_DEFERRED, 4);
	metrics_inc_domain(MD_OUT_DELIVERED, "a.example", 3);
	metrics_inc_domain(MD_OUT_BOUNCED, "c.example", 1);
	metrics_inc_domain(MD_OUT_DEFERRED, NULL, 6);
	metrics_close();
}

static int
has_line(const struct buf *b, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = b->data; (p = strstr(p, line)) != NULL; p++)
		if ((p == b->data || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

#define CHECK_LINE(b, l) CHECK(has_line(b, l), "missing line: %s", l)

static void
test_render(void)
{
	static const char *const want[] = {
		"# TYPE mailguard_smtp_connections_total counter",
		"mailguard_smtp_connections_total 5",
		"# TYPE mailguard_smtp_sessions gauge",
		"mailguard_smtp_sessions 2",
		"mailguard_queue_deferred 4",
		"# TYPE mailguard_inbound_messages_total counter",
		"mailguard_inbound_messages_total{domain=\"a.example\",verdict=\"deliver\"} 3",
		"mailguard_inbound_messages_total{domain=\"a.example\",verdict=\"reject\"} 1",
		"mailguard_inbound_messages_total{domain=\"b.example\",verdict=\"greylist\"} 2",
		"mailguard_inbound_messages_total{domain=\"c.example\",verdict=\"deliver\"} 0",
		"mailguard_delivery_recipients_total{domain=\"a.example\",result=\"delivered\"} 3",
		"mailguard_delivery_recipients_total{domain=\"c.example\",result=\"bounced\"} 1",
		"mailguard_delivery_recipients_total{domain=\"other\",result=\"deferred\"} 6",
		"mailguard_outbound_sent_total{domain=\"a.example\"} 0",
		"# TYPE mailguard_filter_seconds histogram",
		"mailguard_filter_seconds_bucket{le=\"0.001\"} 0",
		"mailguard_filter_seconds_bucket{le=\"0.005\"} 1",
		"mailguard_filter_seconds_bucket{le=\"0.25\"} 2",
		"mailguard_filter_seconds_bucket{le=\"30\"} 2",
		"mailguard_filter_seconds_bucket{le=\"+Inf\"} 3",
		"mailguard_filter_seconds_sum 100.202000000",
		"mailguard_filter_seconds_count 3",
		"mailguard_dns_seconds_count 0",
	};
	struct buf b;

	fresh_dir();
	write_two_roles();
	buf_init(&b, 1 << 24);
	admin_metrics_render(&b);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CHECK_LINE(&b, want[i]);
	/* Every HELP line has its TYPE line. */
	int help = 0, type = 0;
	for (const char *p = b.data; (p = strstr(p, "\n# ")) != NULL; p++) {
		help += strncmp(p, "\n# HELP ", 8) == 0;
		type += strncmp(p, "\n# TYPE ", 8) == 0;
	}
	CHECK_INT(help + (strncmp(b.data, "# HELP", 6) == 0), type);
	buf_free(&b);
}

/* The output read by an independent parser: python3-prometheus-client. */
static void
test_render_python_parser(void)
{
	char path[512], cmd[1024];
	struct buf b;
	FILE *f;
	int rc;

	fresh_dir();
	write_two_roles();
	buf_init(&b, 1 << 24);
	admin_metrics_render(&b);
	snprintf(path, sizeof(path), "%s/metrics.txt", dir);
	if ((f = fopen(path, "w")) == NULL || fwrite(b.data, 1, b.len, f) != b.len)
		abort();
	fclose(f);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 -c '\n"
	    "import sys\n"
	    "from prometheus_client.parser import text_string_to_metric_families as p\n"
	    "s = {}\n"
	    "for fam in p(open(sys.argv[1]).read()):\n"
	    "    for x in fam.samples: s[(x.name, tuple(sorted(x.labels.items())))] = x.value\n"
	    "assert s[(\"mailguard_inbound_messages_total\", ((\"domain\",\"a.example\"),(\"verdict\",\"deliver\")))] == 3\n"
	    "assert s[(\"mailguard_filter_seconds_count\", ())] == 3\n"
	    "assert s[(\"mailguard_filter_seconds_bucket\", ((\"le\",\"+Inf\"),))] == 3\n"
	    "assert s[(\"mailguard_queue_deferred\", ())] == 4\n"
	    "' %s", path);
	rc = system(cmd);
	CHECK_INT(rc, 0);
	buf_free(&b);
}

static struct metrics_seg *
writable_seg(void)
{
	return (struct metrics_seg *)metrics_segment();
}

static void
test_label_escape(void)
{
	struct metrics_seg *m;
	struct buf b;

	fresh_dir();
	metrics_open(dir, "filter");
	metrics_inc_domain(MD_IN_DELIVER, "x.example", 1);
	/* A name our writer never produces (it accepts [a-z0-9._-] only): the reader escapes. */
	m = writable_seg();
	for (int i = 0; i < METRICS_DOMAIN_SLOTS; i++)
		if (strcmp(m->dom[i].name, "x.example") == 0)
			memcpy(m->dom[i].name, "q\"\\\nz", 6);
	metrics_close();
	buf_init(&b, 1 << 24);
	admin_metrics_render(&b);
	CHECK_LINE(&b, "mailguard_inbound_messages_total{domain=\"q\\\"\\\\\\nz\",verdict=\"deliver\"} 1");
	buf_free(&b);
}

static void
set_file_sup_pid(const char *role, int64_t pid)
{
	char path[512];
	struct metrics_seg_header h;
	FILE *f;

	snprintf(path, sizeof(path), "%s/stats/%s.stats", dir, role);
	if ((f = fopen(path, "r+")) == NULL || fread(&h, sizeof(h), 1, f) != 1)
		abort();
	h.sup_pid = pid;
	rewind(f);
	if (fwrite(&h, sizeof(h), 1, f) != 1)
		abort();
	fclose(f);
}

static void
test_stale_and_recreated(void)
{
	struct admin_totals t;

	fresh_dir();
	write_two_roles();
	admin_metrics_totals(&t);
	CHECK_INT(t.connections, 5);
	CHECK_INT(t.in_deliver, 3);
	CHECK_INT(t.out_delivered, 3);
	CHECK_INT(t.out_deferred, 6);
	CHECK_INT(t.queue_deferred, 4);
	/* smtpd's segment from an earlier daemon: ignored until the role recreates it. */
	set_file_sup_pid("smtpd", 1);
	admin_metrics_totals(&t);
	CHECK_INT(t.connections, 0);
	CHECK_INT(t.in_deliver, 0);
	CHECK_INT(t.out_delivered, 3);
	metrics_open(dir, "smtpd");	/* recreated at zero (renamed over the old file) */
	metrics_inc(M_SMTP_CONNECTIONS, 1);
	admin_metrics_totals(&t);
	CHECK_INT(t.connections, 1);
	metrics_inc(M_SMTP_CONNECTIONS, 1);	/* the reader sees live updates of its mapping */
	admin_metrics_totals(&t);
	CHECK_INT(t.connections, 2);
	metrics_close();
}

static void
test_domains_sorted_merged(void)
{
	struct admin_domain_totals d[8];
	size_t n;

	fresh_dir();
	write_two_roles();
	n = admin_metrics_domains(d, 8);
	CHECK_INT(n, 4);
	CHECK_STR(d[0].domain, "a.example");
	CHECK_INT(d[0].v[MD_IN_DELIVER], 3);
	CHECK_INT(d[0].v[MD_OUT_DELIVERED], 3);	/* smtpd's and queue's slots merged */
	CHECK_STR(d[1].domain, "b.example");
	CHECK_STR(d[2].domain, "c.example");
	CHECK_STR(d[3].domain, "other");
	CHECK_INT(admin_metrics_domains(d, 2), 2);
}

/* Sum of a series' points. */
static double
series_sum(const char *s, const char *domain, long long span, long long now, size_t *n_r)
{
	struct admin_point p[200];
	size_t n = metrics_hist_series(s, domain, span, now, p, 200);
	double sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += p[i].v;
	if (n_r)
		*n_r = n;
	return sum;
}

static void
test_history(void)
{
	const long long t0 = 1700000000 - 1700000000 % 3600;	/* an hour boundary */
	struct admin_point p[200];
	const char *err;
	size_t n;

	fresh_dir();
	CHECK_INT(metrics_hist_open(dir, 60, &err), 0);
	CHECK_INT(series_sum("in", NULL, 86400, t0, &n), 0);
	CHECK_INT(n, 0);	/* no history yet */
	metrics_open(dir, "smtpd");
	metrics_inc_domain(MD_IN_DELIVER, "a.example", 2);	/* before the first sample */
	metrics_hist_sample(t0);
	metrics_inc_domain(MD_IN_DELIVER, "a.example", 3);
	metrics_inc_domain(MD_IN_REJECT, "b.example", 1);
	metrics_set(M_QUEUE_ACTIVE, 5);
	metrics_hist_sample(t0 + 60);
	metrics_inc_domain(MD_IN_GREYLIST, "a.example", 4);
	metrics_hist_sample(t0 + 700);	/* the next 10-minute point */

	CHECK_INT(series_sum("in", NULL, 86400, t0 + 700, &n), 10);
	CHECK_INT(n, 144);
	CHECK_INT(series_sum("deliver", "a.example", 86400, t0 + 700, NULL), 5);
	CHECK_INT(series_sum("greylist", "a.example", 86400, t0 + 700, NULL), 4);
	CHECK_INT(series_sum("reject", "a.example", 86400, t0 + 700, NULL), 0);
	CHECK_INT(series_sum("reject", "b.example", 86400, t0 + 700, NULL), 1);
	CHECK_INT(series_sum("in", "nobody.example", 86400, t0 + 700, NULL), 0);
	n = metrics_hist_series("in", NULL, 86400, t0 + 700, p, 200);
	CHECK_INT(p[n - 1].t, t0 + 600);	/* newest point last, holds "now" */
	CHECK_INT(p[n - 1].v, 4);
	CHECK_INT(p[n - 2].v, 6);
	CHECK_INT(p[0].t, t0 + 1200 - 86400);
	n = metrics_hist_series("queue", NULL, 86400, t0 + 700, p, 200);
	CHECK_INT(p[n - 2].v, 5);
	CHECK_INT(series_sum("in", NULL, 604800, t0 + 700, &n), 10);
	CHECK_INT(n, 168);
	CHECK_INT(metrics_hist_series("bogus", NULL, 86400, t0 + 700, p, 200), 0);
	CHECK_INT(metrics_hist_series("in", NULL, 3600, t0 + 700, p, 200), 0);

	/* The admin role restarts (same daemon): no double counting. */
	metrics_hist_close();
	CHECK_INT(metrics_hist_open(dir, 60, &err), 0);
	metrics_inc_domain(MD_IN_DELIVER, "a.example", 1);
	metrics_hist_sample(t0 + 760);
	CHECK_INT(series_sum("in", NULL, 86400, t0 + 760, NULL), 11);

	/* A segment recreated at zero (a counter going down) counts from zero. */
	metrics_close();
	set_file_sup_pid("smtpd", 1);
	metrics_open(dir, "smtpd");
	metrics_inc_domain(MD_IN_DELIVER, "a.example", 2);
	metrics_hist_sample(t0 + 820);
	CHECK_INT(series_sum("in", NULL, 86400, t0 + 820, NULL), 13);
	metrics_close();
}

static void
test_history_new_daemon(void)
{
	const long long t0 = 1700000000 - 1700000000 % 3600;
	const char *err;

	fresh_dir();
	metrics_open(dir, "smtpd");
	metrics_inc_domain(MD_IN_DELIVER, "a.example", 7);
	metrics_reader_init(dir, 12345);	/* as if an earlier daemon's admin role */
	metrics_close();
	set_file_sup_pid("smtpd", 12345);
	CHECK_INT(metrics_hist_open(dir, 60, &err), 0);
	metrics_hist_sample(t0);
	metrics_hist_close();
	/* The new daemon: its admin role must not count the earlier baseline or segment. */
	metrics_reader_init(dir, getppid());
	CHECK_INT(metrics_hist_open(dir, 60, &err), 0);
	metrics_hist_sample(t0 + 60);	/* the old segment is stale: nothing counted */
	metrics_open(dir, "smtpd");	/* recreated at zero */
	metrics_inc_domain(MD_IN_DELIVER, "a.example", 1);
	metrics_hist_sample(t0 + 120);
	CHECK_INT(series_sum("deliver", NULL, 86400, t0 + 120, NULL), 7 + 1);
	metrics_close();
}

static void
test_history_expiry(void)
{
	const long long t0 = 1700000000 - 1700000000 % 3600;
	const char *err;
	unsigned char key[8];
	struct mg_kvdb_table *t;
	struct buf v;
	uint64_t k = (uint64_t)t0;

	fresh_dir();
	CHECK_INT(metrics_hist_open(dir, 60, &err), 0);
	metrics_open(dir, "smtpd");
	metrics_inc(M_SMTP_CONNECTIONS, 1);
	metrics_hist_sample(t0);
	for (int i = 7; i >= 0; i--, k >>= 8)
		key[i] = (unsigned char)k;
	t = mg_kvdb_table(metrics_hist_kvdb(), "history", &err);
	buf_init(&v, MG_KVDB_VALUE_MAX);
	CHECK_INT(mg_kvdb_get(t, key, 8, &v), 1);
	metrics_inc(M_SMTP_CONNECTIONS, 1);
	metrics_hist_sample(t0 + 8 * 86400 + 60);
	CHECK_INT(mg_kvdb_get(t, key, 8, &v), 0);
	buf_free(&v);
	metrics_close();
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Prints the cost of a 7-day series with a full week of minute records (not asserted). */
static void
test_history_bench(void)
{
	const long long t0 = 1700000000 - 1700000000 % 3600;
	const char *err;
	double a, b, c;
	char name[64];

	fresh_dir();
	CHECK_INT(metrics_hist_open(dir, 60, &err), 0);
	metrics_open(dir, "smtpd");
	a = now_ms();
	for (long long m = 0; m < 7 * 1440; m++) {
		for (int d = 0; d < 20; d++) {
			snprintf(name, sizeof(name), "d%d.example", d);
			metrics_inc_domain(MD_IN_DELIVER, name, 1);
		}
		metrics_hist_sample(t0 + m * 60);
	}
	b = now_ms();
	CHECK_INT(series_sum("in", NULL, 604800, t0 + 7 * 86400 - 60, NULL), 7 * 1440 * 20);
	c = now_ms();
	CHECK_INT(series_sum("deliver", "d3.example", 604800, t0 + 7 * 86400 - 60, NULL),
	    7 * 1440);
	printf("bench: sample %.3f ms each (20 domains); 7-day series %.1f ms uncached, "
	    "%.3f ms cached\n", (b - a) / (7 * 1440), c - b,
	    now_ms() - c);
	metrics_close();
}

static void
cleanup(void)
{
	metrics_close();
	metrics_hist_close();
	metrics_reader_close();
	rm_dir();
}

static const struct unit_case cases[] = {
	{ "render", test_render },
	{ "render_python_parser", test_render_python_parser },
	{ "label_escape", test_label_escape },
	{ "stale_and_recreated", test_stale_and_recreated },
	{ "domains_sorted_merged", test_domains_sorted_merged },
	{ "history", test_history },
	{ "history_new_daemon", test_history_new_daemon },
	{ "history_expiry", test_history_expiry },
	{ "history_bench", test_history_bench },
	{ "cleanup", cleanup },
};

UNIT_MAIN(cases)
