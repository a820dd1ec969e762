/* Unit tests for dmarc/tlsrpt_store.c, filter/tlsrpt_rua.c and filter/tlsrpt_ctl.c in a
 * temporary Berkeley DB environment and configuration: a report is stored once (duplicates are
 * no-ops, also under another protected domain only its own policies count), foreign policy
 * domains are refused, the per-day sums, failure groups and report list read back, the
 * `tls-reports summary/reports` answers (text and JSON, checked with jansson) carry those
 * numbers, argument errors give status 1 or 2, and expiry removes what is older than the
 * retention. */
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "unit.h"

#include "config/config.h"
#include "dmarc/tlsrpt_in.h"
#include "filter/filter_int.h"
#include "filter/tlsrpt_rua.h"
#include "lib/kvdb.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static char tmpl[64];
static struct mg_config *cfg;

static void
put(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpl, rel);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fputs(text, f);
	fclose(f);
}

/* A report dated `day` days before today (UTC) about policy domains pd1 (and pd2 if set). */
static char *
report(const char *org, const char *id, int day, const char *pd1, const char *pd2,
    unsigned ok, unsigned fail)
{
	time_t t = time(NULL) - (time_t)day * 86400;
	struct tm tm;
	char d[16];
	struct buf b;

	gmtime_r(&t, &tm);
	strftime(d, sizeof(d), "%Y-%m-%d", &tm);
	buf_init(&b, 1 << 20);
	(void)buf_printf(&b, "{\"organization-name\":\"%s\",\"date-range\":{\"start-datetime\":"
	    "\"%sT00:00:00Z\",\"end-datetime\":\"%sT23:59:59Z\"},\"contact-info\":\"c@%s\","
	    "\"report-id\":\"%s\",\"policies\":[{\"policy\":{\"policy-type\":\"sts\","
	    "\"policy-domain\":\"%s\"},\"summary\":{\"total-successful-session-count\":%u,"
	    "\"total-failure-session-count\":%u},\"failure-details\":[{\"result-type\":"
	    "\"certificate-expired\",\"sending-mta-ip\":\"192.0.2.1\",\"receiving-mx-hostname\":"
	    "\"mx.%s\",\"receiving-ip\":\"198.51.100.7\",\"failed-session-count\":%u}]}", org, d,
	    d, org, id, pd1, ok, fail, pd1, fail);
	if (pd2 != NULL)
		(void)buf_printf(&b, ",{\"policy\":{\"policy-type\":\"no-policy-found\","
		    "\"policy-domain\":\"%s\"},\"summary\":{\"total-successful-session-count\":1,"
		    "\"total-failure-session-count\":0}}", pd2);
	(void)buf_append_str(&b, "]}");
	return buf_steal(&b);
}

static int
ingest(const char *dom, const char *json)
{
	const char *domains[1] = { dom };

	return tlsrpt_rua_ingest(domains, 1, json, strlen(json), "0123456789abcdef", "Q1",
	    (long long)time(NULL));
}

static int
ctl(struct buf *out, const char *a1, const char *a2, const char *a3, const char *a4,
    const char *a5)
{
	char *argv[8] = { (char *)"tls-reports", (char *)a1, (char *)a2, (char *)a3, (char *)a4,
	    (char *)a5, NULL };
	int argc = 1;

	while (argc < 7 && argv[argc] != NULL)
		argc++;
	buf_reset(out);
	return tlsrpt_ctl_run(cfg, argc, argv, out);
}

static void
setup(void)
{
	char path[128];
	const char *err = NULL;

	log_init("test_tlsrpt_store", 1, LOG_LVL_WARN);
	snprintf(tmpl, sizeof(tmpl), "/tmp/test_tlsrpt_store.XXXXXX");
	if (mkdtemp(tmpl) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/domains.d", tmpl);
	mkdir(path, 0755);
	put("mailguard.conf", "config_version = 1\nspool_dir = spool\nstate_dir = state\n");
	put("domains.d/example.org.conf", "transport = [192.0.2.1]:2525\n"
	    "tlsrpt_rua = tls@example.org\n");
	put("domains.d/example.net.conf", "transport = [192.0.2.1]:2525\n");
	cfg = config_load(tmpl, stderr);
	if (cfg == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/db", tmpl);
	filter.kv = mg_kvdb_open(path, &err);
	if (filter.kv == NULL)
		abort();
	tlsrpt_rua_init();
}

static void
teardown(void)
{
	char cmd[128];

	tlsrpt_rua_fini();
	mg_kvdb_close(&filter.kv);
	config_free(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
}

static void
test_ingest_and_query(void)
{
	struct mg_tstore *s;
	struct mg_tstore_report *v = NULL;
	struct mg_tstore_day *d = NULL;
	struct mg_tstore_fail *f = NULL;
	size_t n = 0;
	char *a = report("Org A", "r1", 0, "example.org", "mail.example.org", 10, 2);
	char *b = report("Org B", "r2", 1, "example.org", NULL, 5, 1);
	char *c = report("Org C", "r3", 0, "other.example", NULL, 1, 1);
	char *old = report("Org A", "r0", 40, "example.org", NULL, 7, 0);

	setup();
	CHECK((s = tlsrpt_rua_store()) != NULL, "store open");
	CHECK_INT(ingest("example.org", a), 1);
	CHECK_INT(ingest("example.org", a), 1);		/* duplicate: still counted, not added */
	CHECK_INT(ingest("example.org", b), 1);
	CHECK_INT(ingest("example.org", c), 0);		/* foreign_domain */
	CHECK_INT(ingest("example.org", old), 1);
	CHECK_INT(ingest("example.org", "not a report"), 0);

	CHECK_INT(mg_tstore_reports(s, "example.org", time(NULL) - 30 * 86400, 100, &v, &n), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(v[0].org, "Org A");	/* newest first */
		CHECK_STR(v[0].report_id, "r1");
		CHECK_STR(v[0].contact, "c@Org A");
		CHECK_INT(v[0].policies, 2);
		CHECK_INT(v[0].successful, 11);
		CHECK_INT(v[0].failed, 2);
		CHECK_STR(v[1].org, "Org B");
	}
	xfree(v);
	CHECK_INT(mg_tstore_days(s, "example.org", time(NULL) - 30 * 86400, &d, &n), 0);
	CHECK_INT(n, 3);	/* today sts + no-policy-found, yesterday sts */
	xfree(d);
	CHECK_INT(mg_tstore_failures(s, "example.org", 0, &f, &n), 0);
	CHECK_INT(n, 1);	/* one group over three reports */
	if (n == 1) {
		CHECK_STR(f[0].result_type, "certificate-expired");
		CHECK_STR(f[0].sending_ip, "192.0.2.1");
		CHECK_STR(f[0].mx, "mx.example.org");
		CHECK_STR(f[0].receiving_ip, "198.51.100.7");
		CHECK_INT(f[0].failed, 3);
	}
	xfree(f);
	CHECK_INT(mg_tstore_reports(s, "other.example", 0, 100, &v, &n), 0);
	CHECK_INT(n, 0);
	xfree(v);
	xfree(a);
	xfree(b);
	xfree(c);
	xfree(old);
}

static void
test_ctl(void)
{
	struct buf out;
	json_error_t je;
	json_t *j, *t;

	buf_init(&out, 16 << 20);
	CHECK_INT(ctl(&out, "summary", "example.org", "--json", NULL, NULL), 0);
	j = json_loads(out.data, 0, &je);
	CHECK(j != NULL, "summary json: %s: %s", je.text, out.data);
	if (j != NULL) {
		t = json_object_get(j, "totals");
		CHECK_INT(json_integer_value(json_object_get(t, "reports")), 2);
		CHECK_INT(json_integer_value(json_object_get(t, "reporters")), 2);
		CHECK_INT(json_integer_value(json_object_get(t, "successful")), 16);
		CHECK_INT(json_integer_value(json_object_get(t, "failed")), 3);
		CHECK_INT(json_array_size(json_object_get(j, "daily")), 30);
		t = json_array_get(json_object_get(j, "daily"), 29);
		CHECK_INT(json_integer_value(json_object_get(t, "successful")), 11);
		CHECK_INT(json_array_size(json_object_get(j, "policies")), 2);
		t = json_array_get(json_object_get(j, "policies"), 0);
		CHECK_STR(json_string_value(json_object_get(t, "policy_type")), "sts");
		CHECK_INT(json_integer_value(json_object_get(t, "successful")), 15);
		t = json_array_get(json_object_get(j, "failures"), 0);
		CHECK_INT(json_integer_value(json_object_get(t, "failed")), 3);
		t = json_array_get(json_object_get(j, "reporters"), 0);
		CHECK_STR(json_string_value(json_object_get(t, "org")), "Org A");
		CHECK_STR(json_string_value(json_object_get(j, "domain")), "example.org");
		json_decref(j);
	}
	CHECK_INT(ctl(&out, "summary", "example.org", "--days", "60", "--json"), 0);
	j = json_loads(out.data, 0, &je);
	if (j != NULL) {
		t = json_object_get(j, "totals");
		CHECK_INT(json_integer_value(json_object_get(t, "reports")), 3);
		CHECK_INT(json_array_size(json_object_get(j, "daily")), 60);
		json_decref(j);
	}
	{	/* the same 60 days as an absolute period */
		char since[16];
		time_t st = time(NULL) - 59 * 86400;
		struct tm tm;

		gmtime_r(&st, &tm);
		strftime(since, sizeof(since), "%Y-%m-%d", &tm);
		CHECK_INT(ctl(&out, "summary", "example.org", "--since", since, "--json"), 0);
		j = json_loads(out.data, 0, &je);
		CHECK(j != NULL, "since: %s", out.data);
		if (j != NULL) {
			t = json_object_get(j, "totals");
			CHECK_INT(json_integer_value(json_object_get(t, "reports")), 3);
			CHECK_INT(json_array_size(json_object_get(j, "daily")), 60);
			json_decref(j);
		}
	}
	CHECK_INT(ctl(&out, "reports", "EXAMPLE.org", "--limit", "1", "--json"), 0);
	j = json_loads(out.data, 0, &je);
	CHECK(j != NULL && json_array_size(json_object_get(j, "reports")) == 1, "reports: %s",
	    out.data);
	if (j != NULL) {
		t = json_array_get(json_object_get(j, "reports"), 0);
		CHECK_STR(json_string_value(json_object_get(t, "identity")), "org%20a|r1");
		CHECK_INT(json_integer_value(json_object_get(t, "policies")), 2);
		json_decref(j);
	}
	CHECK_INT(ctl(&out, "summary", "example.org", NULL, NULL, NULL), 0);
	CHECK(strstr(out.data, "reports 2, reporters 2, successful sessions 16") != NULL &&
	    strstr(out.data, "certificate-expired") != NULL, "text: %s", out.data);
	CHECK_INT(ctl(&out, "reports", "example.org", NULL, NULL, NULL), 0);
	CHECK(strstr(out.data, "Org B") != NULL, "reports text: %s", out.data);
	CHECK_INT(ctl(&out, "summary", "nope.example", NULL, NULL, NULL), 1);
	CHECK_STR(out.data, "error: not a protected domain: nope.example\n");
	CHECK_INT(ctl(&out, "summary", "example.org", "--days", "367", NULL), 1);
	CHECK_INT(ctl(&out, "summary", "example.org", "--days", NULL, NULL), 2);
	/* absolute periods, shared with dmarc (filter/ctl_opts.c) */
	CHECK_INT(ctl(&out, "summary", "example.org", "--since", "2026-02-30", NULL), 1);
	CHECK_INT(ctl(&out, "summary", "example.org", "--until", "2026-01-01", NULL), 2);
	CHECK_INT(ctl(&out, "summary", "example.org", "--since", "1999-01-01", NULL), 2);
	CHECK_INT(ctl(&out, "summary", "example.org", "--limit", "3", NULL), 2);
	CHECK_INT(ctl(&out, "show", "example.org", NULL, NULL, NULL), 2);
	CHECK_INT(ctl(&out, "summary", NULL, NULL, NULL, NULL), 2);
	buf_free(&out);
}

static void
test_expire(void)
{
	size_t removed = 0;
	struct mg_tstore_report *v = NULL;
	size_t n = 0;

	/* nothing is older than a day */
	CHECK_INT(tlsrpt_rua_expire(time(NULL), 86400, 1000, &removed), 0);
	CHECK_INT(removed, 0);
	/* everything is older than "now + 2 days - 1 day" */
	CHECK_INT(tlsrpt_rua_expire(time(NULL) + 2 * 86400, 86400, 1000, &removed), 0);
	CHECK(removed >= 3 + 3 + 1, "removed %zu", removed);
	CHECK_INT(mg_tstore_reports(tlsrpt_rua_store(), "example.org", 0, 100, &v, &n), 0);
	CHECK_INT(n, 0);
	xfree(v);
	teardown();
}

static const struct unit_case cases[] = {
	{ "ingest_and_query", test_ingest_and_query },
	{ "ctl", test_ctl },
	{ "expire", test_expire },
};

UNIT_MAIN(cases)
