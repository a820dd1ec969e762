/* tlsrpt_ctl.c: the `mailguardctl tls-reports ...` control command, answered by the filter
 * role on a worker thread (filter_ctl.c) from the TLS-RPT tables (dmarc/tlsrpt_in.h):
 *   tls-reports summary DOMAIN [--days N] [--json]
 *   tls-reports reports DOMAIN [--days N] [--limit N] [--json]
 * Input: an argv line relayed by the supervisor from an administrator; still checked (unknown
 * words are usage errors, numbers range-checked, DOMAIN must be a protected domain). Output:
 * aligned text for humans, or one compact JSON object (jansson) and "\n"; stored strings were
 * made printable when stored. Period: the N UTC days ending today, by report start day. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "dmarc/dmarc.h"
#include "filter/ctl_opts.h"
#include "filter/tlsrpt_rua.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

#define LIMIT_DEFAULT 200
#define LIMIT_MAX 10000
#define REPORTERS_MAX 50
#define FAILURES_MAX 20
#define SCAN_REPORTS_MAX 200000		/* reports read for a summary */

struct opts {
	const char *sub;
	char domain[MG_TLSRPT_STRING_MAX + 1];
	long long days, limit;
	int json;
	long long since, until;		/* the period, Unix seconds (until: last second) */
};

static int
usage(struct buf *out)
{
	(void)buf_append_str(out, "usage: tls-reports summary DOMAIN [PERIOD] [--json]\n"
	    "       tls-reports reports DOMAIN [PERIOD] [--limit N] [--json]\n"
	    "       PERIOD: --days N (1..366, default 30, ending today) or\n"
	    "               --since YYYY-MM-DD [--until YYYY-MM-DD] (at most 3660 days, UTC)\n");
	return 2;
}

static int
ctl_error(struct buf *out, const char *fmt, const char *arg)
{
	(void)buf_append_str(out, "error: ");
	(void)buf_printf(out, fmt, arg);
	(void)buf_append_char(out, '\n');
	return 1;
}

/* 0, 2 (usage, written) or 1 (error, written). */
static int
parse_args(const struct mg_config *cfg, int argc, char **argv, struct opts *o,
    struct buf *out)
{
	struct ctl_period per;
	const char *serr;
	int r;

	o->limit = LIMIT_DEFAULT;
	ctl_opts_period_init(&per);
	if (argc < 3 || (strcmp(argv[1], "summary") != 0 && strcmp(argv[1], "reports") != 0))
		return usage(out);
	o->sub = argv[1];
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			o->json = 1;
		else if ((r = ctl_opts_period_arg(argc, argv, &i, &per)) != 0) {
			if (r < 0 && i + 1 >= argc)
				return usage(out);
			if (r < 0)
				return ctl_error(out, "%s: not --days 1..366, --since/--until "
				    "YYYY-MM-DD, or given twice", argv[i]);
		} else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc &&
		    strcmp(o->sub, "reports") == 0) {
			if (strnum_ll(argv[++i], 1, LIMIT_MAX, &o->limit, &serr) < 0)
				return ctl_error(out, "--limit: not a number 1..10000: %s", argv[i]);
		} else
			return usage(out);
	}
	if (ctl_opts_period_end(&per, (long long)time(NULL), &o->since, &o->until, &o->days) < 0)
		return usage(out);
	if (strlen(argv[2]) >= sizeof(o->domain))
		return ctl_error(out, "not a protected domain: %.255s", argv[2]);
	str_lcpy(o->domain, argv[2], sizeof(o->domain));
	str_lower(o->domain);
	if (o->domain[0] != '\0' && o->domain[strlen(o->domain) - 1] == '.')
		o->domain[strlen(o->domain) - 1] = '\0';
	if (config_domain_find(cfg, o->domain) == NULL)
		return ctl_error(out, "not a protected domain: %s", o->domain);
	return 0;
}

static void
day_str(long long t, char out[16])
{
	ctl_opts_fmt_utc(t, "%Y-%m-%d", "0000-00-00", out, 16);
}

/* "yyyymmdd" of t (the store's day keys). */
static void
day_key(long long t, char key[9])
{
	char ds[16];

	day_str(t, ds);
	memcpy(key, ds, 4);
	memcpy(key + 4, ds + 5, 2);
	memcpy(key + 6, ds + 8, 2);
	key[8] = '\0';
}

static json_t *
jint(unsigned long long v)
{
	return json_integer((json_int_t)(v > (1ULL << 62) ? 1ULL << 62 : v));
}

/* ---- reports ---- */

static int
in_period(const struct opts *o, long long begin)
{
	return begin <= o->until;	/* the store already cut at since's day */
}

static int
cmd_reports(struct mg_tstore *s, const struct opts *o, struct buf *out)
{
	struct mg_tstore_report *v;
	size_t n, shown = 0;
	json_t *root, *arr;

	if (mg_tstore_reports(s, o->domain, o->since, SCAN_REPORTS_MAX, &v, &n) < 0) {
		xfree(v);
		return ctl_error(out, "%s", "reading the TLS report store failed");
	}
	root = json_object();
	arr = json_array();
	if (!o->json)
		(void)buf_printf(out, "%-20s %-10s %-10s %8s %12s %12s  %s\n", "end (UTC)", "begin",
		    "org", "policies", "successful", "failed", "report id");
	for (size_t i = 0; i < n && shown < (size_t)o->limit; i++) {
		char b[16], e[16];

		if (!in_period(o, v[i].begin))
			continue;
		shown++;
		if (!o->json) {
			day_str(v[i].begin, b);
			day_str(v[i].end, e);
			(void)buf_printf(out, "%-20s %-10s %-10s %8llu %12llu %12llu  %s\n", e, b,
			    v[i].org, v[i].policies, v[i].successful, v[i].failed, v[i].report_id);
			continue;
		}
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:o,s:o,s:o}",
		    "identity", v[i].identity, "org", v[i].org, "contact", v[i].contact,
		    "report_id", v[i].report_id, "begin", (json_int_t)v[i].begin, "end",
		    (json_int_t)v[i].end, "recv", (json_int_t)v[i].recv, "policies",
		    jint(v[i].policies), "successful", jint(v[i].successful), "failed",
		    jint(v[i].failed)));
	}
	xfree(v);
	if (o->json) {
		json_object_set_new(root, "domain", json_string(o->domain));
		json_object_set_new(root, "reports", arr);
		(void)ctl_opts_emit_json(root, out);
	} else {
		json_decref(arr);
		json_decref(root);
	}
	return 0;
}

/* ---- summary ---- */

struct reporter {
	const char *org, *contact;	/* borrowed: the report list */
	unsigned long long reports, successful, failed;
	long long last_end;
};

static int
cmp_reporter_org(const void *a, const void *b)
{
	return strcmp(((const struct mg_tstore_report *)a)->org,
	    ((const struct mg_tstore_report *)b)->org);
}

static int
cmp_reporter(const void *a, const void *b)
{
	const struct reporter *x = a, *y = b;
	unsigned long long tx = x->successful + x->failed, ty = y->successful + y->failed;

	if (tx != ty)
		return tx > ty ? -1 : 1;
	return strcmp(x->org, y->org);
}

/* One row per organization (the report list sorted by org in place). */
static struct reporter *
reporters(const struct opts *o, struct mg_tstore_report *v, size_t n, size_t *n_r)
{
	struct reporter *r = xcalloc(n + 1, sizeof(*r));
	size_t k = 0;

	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_reporter_org);
	for (size_t i = 0; i < n; i++) {
		if (!in_period(o, v[i].begin))
			continue;
		if (k == 0 || strcmp(r[k - 1].org, v[i].org) != 0) {
			r[k].org = v[i].org;
			r[k++].contact = v[i].contact;
		}
		r[k - 1].reports++;
		r[k - 1].successful += v[i].successful;
		r[k - 1].failed += v[i].failed;
		if (v[i].end > r[k - 1].last_end) {
			r[k - 1].last_end = v[i].end;
			r[k - 1].contact = v[i].contact;
		}
	}
	if (k > 0)
		qsort(r, k, sizeof(*r), cmp_reporter);
	*n_r = k;
	return r;
}

struct pol {
	const char *type, *domain;	/* borrowed: the day rows */
	unsigned long long successful, failed;
};

static int
cmp_pol_key(const void *a, const void *b)
{
	const struct pol *x = a, *y = b;
	int c = strcmp(x->type, y->type);

	return c != 0 ? c : strcmp(x->domain, y->domain);
}

static int
cmp_pol(const void *a, const void *b)
{
	const struct pol *x = a, *y = b;
	unsigned long long tx = x->successful + x->failed, ty = y->successful + y->failed;

	if (tx != ty)
		return tx > ty ? -1 : 1;
	return cmp_pol_key(a, b);
}

/* daily (N entries, zeros included) and policies from the day rows. */
static void
summary_days(const struct opts *o, const struct mg_tstore_day *d, size_t n, json_t *daily,
    json_t *pols, struct buf *text)
{
	struct pol *p = xcalloc(n + 1, sizeof(*p));
	size_t np = 0;

	for (long long k = 0; k < o->days; k++) {
		long long t = o->since + k * CTL_OPTS_DAY;
		char ds[16], key[9];
		unsigned long long ok = 0, fail = 0;

		day_str(t, ds);
		day_key(t, key);
		for (size_t i = 0; i < n; i++)
			if (strcmp(d[i].day, key) == 0) {
				ok += d[i].successful;
				fail += d[i].failed;
			}
		json_array_append_new(daily, json_pack("{s:s,s:I,s:o,s:o}", "day", ds, "t",
		    (json_int_t)t, "successful", jint(ok), "failed", jint(fail)));
		if (text != NULL && (ok > 0 || fail > 0))
			(void)buf_printf(text, "  %s %12llu %12llu\n", ds, ok, fail);
	}
	char last[9];

	day_key(o->until, last);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(d[i].day, last) > 0)
			continue;	/* after the period (a report dated in the future) */
		p[np].type = d[i].policy_type;
		p[np].domain = d[i].policy_domain;
		p[np].successful = d[i].successful;
		p[np++].failed = d[i].failed;
	}
	if (np > 0)
		qsort(p, np, sizeof(*p), cmp_pol_key);
	size_t m = 0;

	for (size_t i = 0; i < np; i++)
		if (m > 0 && cmp_pol_key(&p[m - 1], &p[i]) == 0) {
			p[m - 1].successful += p[i].successful;
			p[m - 1].failed += p[i].failed;
		} else
			p[m++] = p[i];
	if (m > 0)
		qsort(p, m, sizeof(*p), cmp_pol);
	if (text != NULL && m > 0)
		(void)buf_printf(text, "\nPolicies:\n  %-16s %-32s %12s %12s\n", "type", "domain",
		    "successful", "failed");
	for (size_t i = 0; i < m; i++) {
		json_array_append_new(pols, json_pack("{s:s,s:s,s:o,s:o}", "policy_type",
		    p[i].type, "policy_domain", p[i].domain, "successful", jint(p[i].successful),
		    "failed", jint(p[i].failed)));
		if (text != NULL)
			(void)buf_printf(text, "  %-16s %-32s %12llu %12llu\n", p[i].type,
			    p[i].domain, p[i].successful, p[i].failed);
	}
	xfree(p);
}

static void
summary_failures(const struct mg_tstore_fail *f, size_t n, json_t *arr, struct buf *text)
{
	if (text != NULL && n > 0)
		(void)buf_printf(text, "\nFailures:\n  %-28s %-39s %-32s %-39s %10s\n",
		    "result type", "sending MTA", "receiving MX", "receiving IP", "failed");
	for (size_t i = 0; i < n && i < FAILURES_MAX; i++) {
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:o}", "result_type",
		    f[i].result_type, "sending_mta_ip", f[i].sending_ip, "receiving_mx_hostname",
		    f[i].mx, "receiving_ip", f[i].receiving_ip, "failed", jint(f[i].failed)));
		if (text != NULL)
			(void)buf_printf(text, "  %-28s %-39s %-32s %-39s %10llu\n", f[i].result_type,
			    f[i].sending_ip[0] ? f[i].sending_ip : "-", f[i].mx[0] ? f[i].mx : "-",
			    f[i].receiving_ip[0] ? f[i].receiving_ip : "-", f[i].failed);
	}
}

static void
summary_reporters(const struct reporter *r, size_t n, json_t *arr, struct buf *text)
{
	if (text != NULL && n > 0)
		(void)buf_printf(text, "\nReporters:\n  %-32s %8s %12s %12s  %-10s %s\n", "org",
		    "reports", "successful", "failed", "last end", "contact");
	for (size_t i = 0; i < n && i < REPORTERS_MAX; i++) {
		char e[16];

		json_array_append_new(arr, json_pack("{s:s,s:s,s:o,s:o,s:o,s:I}", "org", r[i].org,
		    "contact", r[i].contact, "reports", jint(r[i].reports), "successful",
		    jint(r[i].successful), "failed", jint(r[i].failed), "last_end",
		    (json_int_t)r[i].last_end));
		day_str(r[i].last_end, e);
		if (text != NULL)
			(void)buf_printf(text, "  %-32s %8llu %12llu %12llu  %-10s %s\n", r[i].org,
			    r[i].reports, r[i].successful, r[i].failed, e, r[i].contact);
	}
}

static int
cmd_summary(struct mg_tstore *s, const struct opts *o, struct buf *out)
{
	struct mg_tstore_report *v = NULL;
	struct mg_tstore_day *d = NULL;
	struct mg_tstore_fail *f = NULL;
	struct reporter *r = NULL;
	size_t nv = 0, nd = 0, nf = 0, nr = 0;
	unsigned long long reports = 0, ok = 0, fail = 0;
	json_t *root, *daily, *rep, *pols, *fails;
	struct buf text;
	char b[16], e[16];
	int rc = 0;

	if (mg_tstore_reports(s, o->domain, o->since, SCAN_REPORTS_MAX, &v, &nv) < 0 ||
	    mg_tstore_days(s, o->domain, o->since, &d, &nd) < 0 ||
	    mg_tstore_failures(s, o->domain, o->since, &f, &nf) < 0) {
		rc = ctl_error(out, "%s", "reading the TLS report store failed");
		goto done;
	}
	for (size_t i = 0; i < nv; i++)
		if (in_period(o, v[i].begin)) {
			reports++;
			ok += v[i].successful;
			fail += v[i].failed;
		}
	r = reporters(o, v, nv, &nr);
	buf_init(&text, out->max);
	root = json_object();
	daily = json_array();
	rep = json_array();
	pols = json_array();
	fails = json_array();
	day_str(o->since, b);
	day_str(o->until, e);
	(void)buf_printf(&text, "TLS reports for %s, %lld days (%s .. %s UTC)\n"
	    "  reports %llu, reporters %zu, successful sessions %llu, failed sessions %llu\n"
	    "\nDaily:\n  %-10s %12s %12s\n", o->domain, o->days, b, e, reports, nr, ok, fail,
	    "day", "successful", "failed");
	summary_days(o, d, nd, daily, pols, &text);
	summary_reporters(r, nr, rep, &text);
	summary_failures(f, nf, fails, &text);
	if (o->json) {
		json_object_set_new(root, "domain", json_string(o->domain));
		json_object_set_new(root, "days", json_integer(o->days));
		json_object_set_new(root, "since", json_integer(o->since));
		json_object_set_new(root, "until", json_integer(o->until));
		json_object_set_new(root, "totals", json_pack("{s:o,s:o,s:o,s:o}", "reports",
		    jint(reports), "reporters", jint(nr), "successful", jint(ok), "failed",
		    jint(fail)));
		json_object_set_new(root, "daily", daily);
		json_object_set_new(root, "reporters", rep);
		json_object_set_new(root, "policies", pols);
		json_object_set_new(root, "failures", fails);
		(void)ctl_opts_emit_json(root, out);
	} else {
		(void)buf_append(out, text.data, text.len);
		json_decref(root);
		json_decref(daily);
		json_decref(rep);
		json_decref(pols);
		json_decref(fails);
	}
	buf_free(&text);
done:
	xfree(r);
	xfree(v);
	xfree(d);
	xfree(f);
	return rc;
}

int
tlsrpt_ctl_run(const struct mg_config *cfg, int argc, char **argv, struct buf *out)
{
	struct opts o = { 0 };
	struct mg_tstore *s;
	int rc;

	if ((rc = parse_args(cfg, argc, argv, &o, out)) != 0)
		return rc;
	if ((s = tlsrpt_rua_store()) == NULL)
		return ctl_error(out, "%s", "TLS report store not open");
	return strcmp(o.sub, "summary") == 0 ? cmd_summary(s, &o, out) : cmd_reports(s, &o, out);
}
