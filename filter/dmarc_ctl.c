/* dmarc_ctl.c: `mailguardctl dmarc domains|summary|reports|show` (filter/dmarc_ctl.h), answered
 * from the stored incoming aggregate reports (dmarc/report.h, "Stored reports") as aligned text
 * or one compact JSON object (jansson). Arguments come from the operator (or the console) via
 * the supervisor: every word is checked (a protected domain, numbers in range, dates). Periods
 * are whole UTC days: --days N ends today; --since/--until name the first and last day. Worker
 * thread (filter_ctl.c); the store handles are opened on first use under a mutex. */
#include "filter/dmarc_ctl.h"
#include "filter/dmarc_rua.h"

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/dns.h"
#include "dmarc/dmarc.h"
#include "filter/ctl_opts.h"
#include "filter/filter_int.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

#define DAY CTL_OPTS_DAY
#define REPORTERS_MAX 50
#define SOURCES_MAX 20
#define DOMAIN_ARG_MAX 253

/* strnum_ll without the error text (strnum wants an error_r). */
static int
num_ll(const char *s, long long min, long long max, long long *out)
{
	const char *e;

	return strnum_ll(s, min, max, out, &e);
}

static const char usage_text[] =
    "error: usage: dmarc domains [PERIOD] [--json]\n"
    "              dmarc summary DOMAIN [PERIOD] [--json]\n"
    "              dmarc reports DOMAIN [PERIOD] [--limit N] [--json]\n"
    "              dmarc show DOMAIN IDENTITY [--json]\n"
    "              dmarc rebuild [DOMAIN]\n"
    "       PERIOD: --days N (1..366, default 30, ending today) or\n"
    "               --since YYYY-MM-DD [--until YYYY-MM-DD] (at most 3660 days, UTC)\n";

struct opts {
	int json;
	int limit;
	int days;			/* days in the period */
	long long since, until;		/* 00:00:00 of the first day, 23:59:59 of the last (UTC) */
	const char *pos[2];
	int npos;
};

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mg_rstore *store;

/* The report tables (the same kvdb handles as filter/dmarc_rua.c's), opened on first use. */
static struct mg_rstore *
ctl_store(void)
{
	const char *err;
	struct mg_rstore *s;

	pthread_mutex_lock(&store_lock);
	if (store == NULL && filter.kv != NULL)
		store = mg_rstore_open(filter.kv, &err);
	s = store;
	pthread_mutex_unlock(&store_lock);
	return s;
}

static void
fmt_day(long long t, char *out, size_t size)
{
	ctl_opts_fmt_utc(t, "%Y-%m-%d", "?", out, size);
}

static void
fmt_time(long long t, char *out, size_t size)
{
	ctl_opts_fmt_utc(t, "%Y-%m-%dT%H:%M:%SZ", "?", out, size);
}

/* argv[first..]: positionals (want of them) and options. Returns 0, or 2 with the usage. */
static int
parse_opts(int argc, char **argv, int first, int want, int allow_period, int allow_limit,
    struct opts *o, struct buf *out)
{
	struct ctl_period per;
	long long v, days;
	int r;

	memset(o, 0, sizeof(*o));
	o->limit = 200;
	ctl_opts_period_init(&per);
	for (int i = first; i < argc; i++) {
		const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--json") == 0) {
			o->json = 1;
		} else if (allow_period && (r = ctl_opts_period_arg(argc, argv, &i, &per)) != 0) {
			if (r < 0)
				goto usage;
		} else if (allow_limit && strcmp(a, "--limit") == 0 && next != NULL &&
		    num_ll(next, 1, DMARC_CTL_LIMIT_MAX, &v) == 0) {
			o->limit = (int)v;
			i++;
		} else if (a[0] != '-' && o->npos < want) {
			o->pos[o->npos++] = a;
		} else {
			goto usage;
		}
	}
	if (o->npos != want ||
	    ctl_opts_period_end(&per, (long long)time(NULL), &o->since, &o->until, &days) < 0)
		goto usage;
	o->days = (int)days;
	return 0;
usage:
	(void)buf_append_str(out, usage_text);
	return 2;
}

/* Lowercases and checks DOMAIN against the protected domains. Returns the domain or NULL
 * with the error in out. */
static const struct mg_domain *
protected_domain(const struct mg_config *cfg, const char *arg, struct buf *out)
{
	char d[DOMAIN_ARG_MAX + 1];
	const struct mg_domain *dom = NULL;
	size_t n = strlen(arg);

	if (n > 0 && n <= DOMAIN_ARG_MAX) {
		for (size_t i = 0; i <= n; i++)
			d[i] = arg[i] >= 'A' && arg[i] <= 'Z' ? (char)(arg[i] + 32) : arg[i];
		dom = config_domain_find(cfg, d);
	}
	if (dom == NULL) {
		char clean[80];
		size_t o = 0;

		for (size_t i = 0; arg[i] != '\0' && o + 1 < sizeof(clean); i++)
			clean[o++] = arg[i] > 0x20 && arg[i] < 0x7f ? arg[i] : '?';
		clean[o] = '\0';
		(void)buf_printf(out, "error: not a protected domain: %s\n", clean);
	}
	return dom;
}

static int
store_error(struct buf *out)
{
	(void)buf_append_str(out, "error: reading the DMARC report store failed (see the log)\n");
	return 1;
}

static int
no_store(struct buf *out)
{
	(void)buf_append_str(out, "error: the DMARC report store is not open\n");
	return 1;
}

/* ---- JSON members from struct fields ---- */

enum jkind { J_STR, J_LL, J_ULL, J_INT };

struct jfield {
	const char *key;
	enum jkind kind;
	size_t off;		/* of a char array, long long, unsigned long long or int */
};

#define JF(type, member, key, kind) { key, kind, offsetof(type, member) }
#define JFIELDS(o, base, t) put_fields((o), (base), (t), sizeof(t) / sizeof((t)[0]))

static void
put_fields(json_t *o, const void *base, const struct jfield *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *v = (const char *)base + f[i].off;

		if (f[i].kind == J_STR)
			ctl_opts_jstr(o, f[i].key, v);
		else if (f[i].kind == J_LL)
			ctl_opts_jint(o, f[i].key, *(const long long *)(const void *)v);
		else if (f[i].kind == J_ULL)
			ctl_opts_jint(o, f[i].key,
			    (long long)*(const unsigned long long *)(const void *)v);
		else
			ctl_opts_jint(o, f[i].key, *(const int *)(const void *)v);
	}
}

typedef __typeof__(((struct mg_rstore_row *)0)->auth_dkim[0]) auth_dkim_t;
typedef __typeof__(((struct mg_rstore_row *)0)->auth_spf[0]) auth_spf_t;

static const struct jfield info_fields[] = {
	JF(struct mg_rstore_info, identity, "identity", J_STR),
	JF(struct mg_rstore_info, org, "org", J_STR),
	JF(struct mg_rstore_info, email, "email", J_STR),
	JF(struct mg_rstore_info, report_id, "report_id", J_STR),
	JF(struct mg_rstore_info, begin, "begin", J_LL),
	JF(struct mg_rstore_info, end, "end", J_LL),
	JF(struct mg_rstore_info, recv, "recv", J_LL),
	JF(struct mg_rstore_info, records, "records", J_ULL),
	JF(struct mg_rstore_info, total, "total", J_ULL),
};

static const struct jfield row_fields[] = {
	JF(struct mg_rstore_row, ip, "ip", J_STR),
	JF(struct mg_rstore_row, count, "count", J_ULL),
	JF(struct mg_rstore_row, disposition, "disposition", J_STR),
	JF(struct mg_rstore_row, dkim, "dkim", J_STR),
	JF(struct mg_rstore_row, spf, "spf", J_STR),
	JF(struct mg_rstore_row, reason, "reason", J_STR),
	JF(struct mg_rstore_row, header_from, "header_from", J_STR),
	JF(struct mg_rstore_row, envelope_from, "envelope_from", J_STR),
	JF(struct mg_rstore_row, envelope_to, "envelope_to", J_STR),
};

static const struct jfield auth_dkim_fields[] = {
	JF(auth_dkim_t, domain, "domain", J_STR),
	JF(auth_dkim_t, selector, "selector", J_STR),
	JF(auth_dkim_t, result, "result", J_STR),
};

static const struct jfield auth_spf_fields[] = {
	JF(auth_spf_t, domain, "domain", J_STR),
	JF(auth_spf_t, scope, "scope", J_STR),
	JF(auth_spf_t, result, "result", J_STR),
};

static const struct jfield policy_fields[] = {
	JF(struct mg_rstore_report, policy_domain, "domain", J_STR),
	JF(struct mg_rstore_report, adkim, "adkim", J_STR),
	JF(struct mg_rstore_report, aspf, "aspf", J_STR),
	JF(struct mg_rstore_report, p, "p", J_STR),
	JF(struct mg_rstore_report, sp, "sp", J_STR),
	JF(struct mg_rstore_report, np, "np", J_STR),
	JF(struct mg_rstore_report, pct, "pct", J_INT),
	JF(struct mg_rstore_report, fo, "fo", J_STR),
};

static const struct jfield reporter_fields[] = {
	JF(struct mg_rstore_reporter, org, "org", J_STR),
	JF(struct mg_rstore_reporter, email, "email", J_STR),
	JF(struct mg_rstore_reporter, reports, "reports", J_ULL),
	JF(struct mg_rstore_reporter, messages, "messages", J_ULL),
	JF(struct mg_rstore_reporter, last_end, "last_end", J_LL),
};

/* The six report counters (mg_rsum_counter) in their order, dmarc_fail after dmarc_pass when
 * with_fail. */
static void
put_counters(json_t *o, const unsigned long long *n, int with_fail)
{
	static const char *const names[MG_RSUM_COUNT] = { "messages", "dmarc_pass", "dkim_pass",
		"spf_pass", "quarantine", "reject" };

	for (int k = 0; k < MG_RSUM_COUNT; k++) {
		ctl_opts_jint(o, names[k], (long long)n[k]);
		if (k == MG_RSUM_DMARC_PASS && with_fail)
			ctl_opts_jint(o, "dmarc_fail", (long long)(n[MG_RSUM_MSGS] >
			    n[MG_RSUM_DMARC_PASS] ? n[MG_RSUM_MSGS] - n[MG_RSUM_DMARC_PASS] : 0));
	}
}

/* ---- dmarc domains ---- */

static int
cmp_domain_ptr(const void *a, const void *b)
{
	return strcmp((*(const struct mg_domain *const *)a)->name,
	    (*(const struct mg_domain *const *)b)->name);
}

struct dom_totals {
	size_t reports;
	unsigned long long n[MG_RSUM_COUNT];
};

static int
domain_totals(struct mg_rstore *s, const char *name, const struct opts *o,
    struct dom_totals *t)
{
	struct mg_rstore_day *days = NULL;
	struct mg_rstore_info *v = NULL;
	size_t nd = 0;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	if (mg_rstore_days(s, name, o->since, o->until, &days, &nd) < 0 ||
	    mg_rstore_list_range(s, name, o->since, o->until, SIZE_MAX, &v, &t->reports) < 0)
		rc = -1;
	for (size_t i = 0; i < nd; i++)
		for (int k = 0; k < MG_RSUM_COUNT; k++)
			t->n[k] += days[i].n[k];
	xfree(days);
	xfree(v);
	return rc;
}

static int
cmd_domains(const struct mg_config *cfg, struct mg_rstore *s, const struct opts *o,
    struct buf *out)
{
	const struct mg_domain **v = xcalloc(cfg->n_domains + 1, sizeof(*v));
	json_t *root = json_object(), *arr = json_array();
	size_t n = 0;
	int rc = 0;

	for (size_t i = 0; i < cfg->n_domains; i++)
		if (cfg->domains[i].dmarc_rua != NULL && cfg->domains[i].dmarc_rua[0] != '\0')
			v[n++] = &cfg->domains[i];
	qsort(v, n, sizeof(*v), cmp_domain_ptr);
	if (!o->json)
		(void)buf_printf(out, "%-32s %-32s %7s %10s %10s %10s %10s %10s %10s\n", "DOMAIN",
		    "RUA", "REPORTS", "MESSAGES", "DMARC_PASS", "DKIM_PASS", "SPF_PASS", "QUARANTINE",
		    "REJECT");
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct dom_totals t;
		json_t *d;

		if (domain_totals(s, v[i]->name, o, &t) < 0) {
			rc = -1;
			break;
		}
		if (!o->json) {
			(void)buf_printf(out, "%-32s %-32s %7zu %10llu %10llu %10llu %10llu %10llu "
			    "%10llu\n", v[i]->name, v[i]->dmarc_rua, t.reports, t.n[MG_RSUM_MSGS],
			    t.n[MG_RSUM_DMARC_PASS], t.n[MG_RSUM_DKIM_PASS], t.n[MG_RSUM_SPF_PASS],
			    t.n[MG_RSUM_QUARANTINE], t.n[MG_RSUM_REJECT]);
			continue;
		}
		d = json_object();
		ctl_opts_jstr(d, "domain", v[i]->name);
		ctl_opts_jstr(d, "rua", v[i]->dmarc_rua);
		ctl_opts_jint(d, "reports", (long long)t.reports);
		put_counters(d, t.n, 0);
		json_array_append_new(arr, d);
	}
	xfree(v);
	if (rc < 0) {
		json_decref(arr);
		json_decref(root);
		return store_error(out);
	}
	if (!o->json) {
		json_decref(arr);
		json_decref(root);
		if (n == 0)
			(void)buf_append_str(out, "(no protected domain has dmarc_rua set)\n");
		return 0;
	}
	ctl_opts_jint(root, "days", o->days);
	ctl_opts_jint(root, "since", o->since);
	json_object_set_new(root, "domains", arr);
	return ctl_opts_emit_json(root, out) < 0 ? 1 : 0;
}

/* ---- dmarc summary ---- */

static unsigned long long
fails(const struct mg_rstore_sum *x)
{
	return x->n[MG_RSUM_MSGS] > x->n[MG_RSUM_DMARC_PASS] ?
	    x->n[MG_RSUM_MSGS] - x->n[MG_RSUM_DMARC_PASS] : 0;
}

static int
cmp_fails(const void *a, const void *b)
{
	const struct mg_rstore_sum *x = a, *y = b;

	if (fails(x) != fails(y))
		return fails(x) > fails(y) ? -1 : 1;
	if (x->n[MG_RSUM_MSGS] != y->n[MG_RSUM_MSGS])
		return x->n[MG_RSUM_MSGS] > y->n[MG_RSUM_MSGS] ? -1 : 1;
	return strcmp(x->ip, y->ip);
}

struct summary {
	struct mg_rstore_sum *ips, *failing;
	size_t n_ips, n_failing;
	struct mg_rstore_day *days;
	size_t n_days;
	struct mg_rstore_reporter *rep;
	size_t n_rep, n_reports;
	size_t all_ips, all_rep;	/* before the cuts to the top SOURCES_MAX, REPORTERS_MAX */
	unsigned long long tot[MG_RSUM_COUNT];
	long long deadline_ms;		/* reverse DNS budget */
};

static void
summary_free(struct summary *m)
{
	xfree(m->ips);
	xfree(m->failing);
	xfree(m->days);
	xfree(m->rep);
}

static int
summary_load(struct mg_rstore *s, const char *domain, const struct opts *o, struct summary *m)
{
	int rc = 0;

	memset(m, 0, sizeof(*m));
	if (mg_rstore_summary_range(s, domain, o->since, o->until, &m->ips, &m->n_ips) < 0 ||
	    mg_rstore_days(s, domain, o->since, o->until, &m->days, &m->n_days) < 0 ||
	    mg_rstore_reporters(s, domain, o->since, o->until, &m->rep, &m->n_rep,
	    &m->n_reports) < 0)
		rc = -1;
	for (size_t i = 0; i < m->n_ips; i++)
		for (int k = 0; k < MG_RSUM_COUNT; k++)
			m->tot[k] += m->ips[i].n[k];
	m->failing = xcalloc(m->n_ips + 1, sizeof(*m->failing));
	for (size_t i = 0; i < m->n_ips; i++)
		if (fails(&m->ips[i]) > 0)
			m->failing[m->n_failing++] = m->ips[i];
	if (m->n_failing > 0)
		qsort(m->failing, m->n_failing, sizeof(*m->failing), cmp_fails);
	if (m->n_failing > SOURCES_MAX)
		m->n_failing = SOURCES_MAX;
	m->all_ips = m->n_ips;
	m->all_rep = m->n_rep;
	if (m->n_rep > REPORTERS_MAX)
		m->n_rep = REPORTERS_MAX;
	if (m->n_ips > SOURCES_MAX)	/* sorted by messages: the top sources */
		m->n_ips = SOURCES_MAX;
	m->deadline_ms = mg_dns_now_ms() + DMARC_CTL_PTR_BUDGET_MS;
	return rc;
}

static json_t *
counters_json(const unsigned long long *n, int with_fail)
{
	json_t *o = json_object();

	put_counters(o, n, with_fail);
	return o;
}

/* Day d of the period (every day when the period is at most a year, else days with data). */
static void
daily_each(const struct opts *o, const struct summary *m,
    void (*fn)(void *arg, long long t, const unsigned long long *n), void *arg)
{
	static const unsigned long long zero[MG_RSUM_COUNT];
	size_t j = 0;

	if (o->days > DMARC_CTL_DAYS_MAX) {
		for (size_t i = 0; i < m->n_days; i++)
			fn(arg, m->days[i].t, m->days[i].n);
		return;
	}
	for (long long t = o->since; t <= o->until; t += DAY) {
		while (j < m->n_days && m->days[j].t < t)
			j++;
		fn(arg, t, j < m->n_days && m->days[j].t == t ? m->days[j].n : zero);
	}
}

static void
daily_json(void *arg, long long t, const unsigned long long *n)
{
	json_t *d = counters_json(n, 1);
	char day[16];

	fmt_day(t, day, sizeof(day));
	json_object_set_new(d, "day", json_string(day));
	ctl_opts_jint(d, "t", t);
	json_array_append_new(arg, d);
}

static void
daily_text(void *arg, long long t, const unsigned long long *n)
{
	char day[16];

	fmt_day(t, day, sizeof(day));
	(void)buf_printf(arg, "  %-10s %10llu %10llu %10llu %10llu %10llu %10llu %10llu\n", day,
	    n[MG_RSUM_MSGS], n[MG_RSUM_DMARC_PASS], n[MG_RSUM_MSGS] - n[MG_RSUM_DMARC_PASS],
	    n[MG_RSUM_DKIM_PASS], n[MG_RSUM_SPF_PASS], n[MG_RSUM_QUARANTINE], n[MG_RSUM_REJECT]);
}

static json_t *
sources_json(const struct mg_rstore_sum *v, size_t n, long long deadline_ms)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *x = counters_json(v[i].n, 1);
		char ptr[MG_DNS_NAME_MAX + 1];
		const char *st = dmarc_ctl_ptr(v[i].ip, deadline_ms, ptr, sizeof(ptr));

		json_object_del(x, "dmarc_pass");
		ctl_opts_jstr(x, "ip", v[i].ip);
		ctl_opts_jstr(x, "ptr", ptr);
		ctl_opts_jstr(x, "ptr_status", st);
		json_array_append_new(arr, x);
	}
	return arr;
}

static void
sources_text(struct buf *out, const char *title, const struct mg_rstore_sum *v, size_t n,
    long long deadline_ms)
{
	(void)buf_printf(out, "%s:\n  %-39s %10s %10s %10s %10s %10s %10s  %s\n", title, "IP",
	    "MESSAGES", "DMARC_FAIL", "DKIM_PASS", "SPF_PASS", "QUARANTINE", "REJECT", "PTR");
	for (size_t i = 0; i < n; i++) {
		char ptr[MG_DNS_NAME_MAX + 1];
		const char *st = dmarc_ctl_ptr(v[i].ip, deadline_ms, ptr, sizeof(ptr));

		(void)buf_printf(out, "  %-39s %10llu %10llu %10llu %10llu %10llu %10llu  %s (%s)\n",
		    v[i].ip, v[i].n[MG_RSUM_MSGS], fails(&v[i]), v[i].n[MG_RSUM_DKIM_PASS],
		    v[i].n[MG_RSUM_SPF_PASS], v[i].n[MG_RSUM_QUARANTINE], v[i].n[MG_RSUM_REJECT],
		    ptr[0] ? ptr : "-", st);
	}
	if (n == 0)
		(void)buf_append_str(out, "  (none)\n");
}

static int
summary_json(const char *domain, const struct opts *o, struct summary *m, struct buf *out)
{
	json_t *root = json_object(), *tot = counters_json(m->tot, 1), *daily = json_array();
	json_t *rep = json_array();

	ctl_opts_jstr(root, "domain", domain);
	ctl_opts_jint(root, "days", o->days);
	ctl_opts_jint(root, "since", o->since);
	ctl_opts_jint(root, "until", o->until);
	ctl_opts_jint(tot, "reports", (long long)m->n_reports);
	ctl_opts_jint(tot, "reporters", (long long)m->all_rep);
	ctl_opts_jint(tot, "sources", (long long)m->all_ips);
	json_object_set_new(root, "totals", tot);
	daily_each(o, m, daily_json, daily);
	json_object_set_new(root, "daily", daily);
	for (size_t i = 0; i < m->n_rep; i++) {
		json_t *r = json_object();

		JFIELDS(r, &m->rep[i], reporter_fields);
		json_array_append_new(rep, r);
	}
	json_object_set_new(root, "reporters", rep);
	json_object_set_new(root, "failing_sources",
	    sources_json(m->failing, m->n_failing, m->deadline_ms));
	json_object_set_new(root, "top_sources", sources_json(m->ips, m->n_ips, m->deadline_ms));
	return ctl_opts_emit_json(root, out);
}

static void
summary_text(const char *domain, const struct opts *o, struct summary *m, struct buf *out)
{
	char a[16], b[16], last[32];
	unsigned long long *t = m->tot;

	fmt_day(o->since, a, sizeof(a));
	fmt_day(o->until, b, sizeof(b));
	(void)buf_printf(out, "DMARC reports for %s, %d day(s) from %s to %s (UTC, by report "
	    "begin)\n", domain, o->days, a, b);
	(void)buf_printf(out, "reports %zu  reporters %zu  sources %zu  messages %llu\n"
	    "dmarc pass %llu  dmarc fail %llu  dkim pass %llu  spf pass %llu  quarantine %llu  "
	    "reject %llu\n\ndaily:\n  %-10s %10s %10s %10s %10s %10s %10s %10s\n", m->n_reports,
	    m->n_rep, m->n_ips, t[MG_RSUM_MSGS], t[MG_RSUM_DMARC_PASS],
	    t[MG_RSUM_MSGS] - t[MG_RSUM_DMARC_PASS], t[MG_RSUM_DKIM_PASS], t[MG_RSUM_SPF_PASS],
	    t[MG_RSUM_QUARANTINE], t[MG_RSUM_REJECT], "DAY", "MESSAGES", "DMARC_PASS",
	    "DMARC_FAIL", "DKIM_PASS", "SPF_PASS", "QUARANTINE", "REJECT");
	daily_each(o, m, daily_text, out);
	(void)buf_printf(out, "\nreporters:\n  %-30s %-36s %7s %10s  %s\n", "ORG", "EMAIL",
	    "REPORTS", "MESSAGES", "LAST_END");
	for (size_t i = 0; i < m->n_rep; i++) {
		fmt_time(m->rep[i].last_end, last, sizeof(last));
		(void)buf_printf(out, "  %-30s %-36s %7llu %10llu  %s\n", m->rep[i].org[0] ?
		    m->rep[i].org : "-", m->rep[i].email[0] ? m->rep[i].email : "-",
		    m->rep[i].reports, m->rep[i].messages, last);
	}
	if (m->n_rep == 0)
		(void)buf_append_str(out, "  (none)\n");
	(void)buf_append_char(out, '\n');
	sources_text(out, "failing sources", m->failing, m->n_failing, m->deadline_ms);
	(void)buf_append_char(out, '\n');
	sources_text(out, "top sources", m->ips, m->n_ips, m->deadline_ms);
}

static int
cmd_summary(const char *domain, struct mg_rstore *s, const struct opts *o, struct buf *out)
{
	struct summary m;
	int rc = 0;

	if (summary_load(s, domain, o, &m) < 0)
		rc = store_error(out);
	else if (o->json)
		rc = summary_json(domain, o, &m, out) < 0 ? 1 : 0;
	else
		summary_text(domain, o, &m, out);
	summary_free(&m);
	return rc;
}

/* ---- dmarc reports ---- */

static int
cmd_reports(const char *domain, struct mg_rstore *s, const struct opts *o, struct buf *out)
{
	struct mg_rstore_info *v = NULL;
	size_t n = 0;
	json_t *root, *arr;

	if (mg_rstore_list_range(s, domain, o->since, o->until, (size_t)o->limit, &v, &n) < 0) {
		xfree(v);
		return store_error(out);
	}
	if (!o->json) {
		(void)buf_printf(out, "%-20s %-20s %8s %10s  %-24s %s\n", "BEGIN", "END", "RECORDS",
		    "MESSAGES", "ORG", "IDENTITY");
		for (size_t i = 0; i < n; i++) {
			char b[32], e[32];

			fmt_time(v[i].begin, b, sizeof(b));
			fmt_time(v[i].end, e, sizeof(e));
			(void)buf_printf(out, "%-20s %-20s %8llu %10llu  %-24s %s\n", b, e,
			    v[i].records, v[i].total, v[i].org[0] ? v[i].org : "-", v[i].identity);
		}
		(void)buf_printf(out, "-- %zu report(s)\n", n);
		xfree(v);
		return 0;
	}
	root = json_object();
	arr = json_array();
	ctl_opts_jstr(root, "domain", domain);
	for (size_t i = 0; i < n; i++) {
		json_t *x = json_object();

		JFIELDS(x, &v[i], info_fields);
		json_array_append_new(arr, x);
	}
	json_object_set_new(root, "reports", arr);
	xfree(v);
	return ctl_opts_emit_json(root, out) < 0 ? 1 : 0;
}

/* ---- dmarc show ---- */

static json_t *
row_json(const struct mg_rstore_row *r)
{
	json_t *x = json_object(), *dk = json_array(), *sp = json_array();

	JFIELDS(x, r, row_fields);
	for (size_t i = 0; i < r->n_dkim; i++) {
		json_t *d = json_object();

		JFIELDS(d, &r->auth_dkim[i], auth_dkim_fields);
		json_array_append_new(dk, d);
	}
	for (size_t i = 0; i < r->n_spf; i++) {
		json_t *d = json_object();

		JFIELDS(d, &r->auth_spf[i], auth_spf_fields);
		json_array_append_new(sp, d);
	}
	json_object_set_new(x, "auth_dkim", dk);
	json_object_set_new(x, "auth_spf", sp);
	return x;
}

static void
row_text(const struct mg_rstore_row *r, struct buf *out)
{
	(void)buf_printf(out, "  %-39s %8llu %-10s dkim=%-4s spf=%-4s from=%s", r->ip, r->count,
	    r->disposition[0] ? r->disposition : "-", r->dkim[0] ? r->dkim : "-",
	    r->spf[0] ? r->spf : "-", r->header_from[0] ? r->header_from : "-");
	if (r->reason[0])
		(void)buf_printf(out, " reason=%s", r->reason);
	for (size_t i = 0; i < r->n_dkim; i++)
		(void)buf_printf(out, " dkim:%s/%s=%s", r->auth_dkim[i].domain,
		    r->auth_dkim[i].selector, r->auth_dkim[i].result);
	for (size_t i = 0; i < r->n_spf; i++)
		(void)buf_printf(out, " spf:%s/%s=%s", r->auth_spf[i].domain, r->auth_spf[i].scope,
		    r->auth_spf[i].result);
	(void)buf_append_char(out, '\n');
}

static json_t *
header_json(const char *domain, const struct mg_rstore_report *h)
{
	json_t *root = json_object(), *pol = json_object(), *q = json_array();

	ctl_opts_jstr(root, "domain", domain);
	JFIELDS(root, &h->info, info_fields);
	ctl_opts_jstr(root, "extra_contact", h->extra_contact);
	JFIELDS(pol, h, policy_fields);
	json_object_set_new(root, "policy", pol);
	for (unsigned bit = 1; bit != 0 && bit <= 0x8000; bit <<= 1)
		if ((h->quirks & bit) && mg_rstore_quirk_name(bit) != NULL)
			json_array_append_new(q, json_string(mg_rstore_quirk_name(bit)));
	json_object_set_new(root, "quirks", q);
	return root;
}

static void
header_text(const struct mg_rstore_report *h, struct buf *out)
{
	char b[32], e[32], r[32];

	fmt_time(h->info.begin, b, sizeof(b));
	fmt_time(h->info.end, e, sizeof(e));
	fmt_time(h->info.recv, r, sizeof(r));
	(void)buf_printf(out, "identity:  %s\norg:       %s\nemail:     %s\nextra:     %s\n"
	    "report id: %s\nperiod:    %s .. %s\nreceived:  %s\nrecords:   %llu (%llu messages)\n"
	    "policy:    domain=%s p=%s sp=%s np=%s adkim=%s aspf=%s pct=%d fo=%s\nquirks:   ",
	    h->info.identity, h->info.org, h->info.email, h->extra_contact, h->info.report_id, b,
	    e, r, h->info.records, h->info.total, h->policy_domain, h->p, h->sp, h->np, h->adkim,
	    h->aspf, h->pct, h->fo);
	for (unsigned bit = 1; bit <= 0x8000; bit <<= 1)
		if ((h->quirks & bit) && mg_rstore_quirk_name(bit) != NULL)
			(void)buf_printf(out, " %s", mg_rstore_quirk_name(bit));
	(void)buf_printf(out, "\nrows:\n  %-39s %8s %-10s\n", "IP", "COUNT", "DISPOSITION");
}

static int
cmd_show(const char *domain, const char *identity, struct mg_rstore *s, const struct opts *o,
    struct buf *out)
{
	struct mg_rstore_report h;
	struct mg_rstore_row *row = xmalloc(sizeof(*row));
	struct buf lines;
	json_t *root = NULL, *rows = NULL;
	long long n;
	size_t shown = 0;
	int r;

	if ((r = mg_rstore_get(s, domain, identity, &h)) <= 0) {
		xfree(row);
		if (r < 0)
			return store_error(out);
		(void)buf_append_str(out, "error: no such report\n");
		return 1;
	}
	buf_init(&lines, (size_t)MG_REPORT_RECORDS_MAX * 4096);
	if ((n = mg_rstore_records(s, domain, identity, &lines)) < 0) {
		buf_free(&lines);
		xfree(row);
		return store_error(out);
	}
	if (o->json) {
		root = header_json(domain, &h);
		rows = json_array();
	} else {
		header_text(&h, out);
	}
	for (const char *p = lines.data, *end = lines.data + lines.len; p != NULL && p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (shown < DMARC_CTL_ROWS_MAX && mg_rstore_row_parse(p, len, row) == 0) {
			if (o->json)
				json_array_append_new(rows, row_json(row));
			else
				row_text(row, out);
			shown++;
		}
		p = nl != NULL ? nl + 1 : NULL;
	}
	buf_free(&lines);
	xfree(row);
	if (!o->json) {
		if ((long long)shown < n)
			(void)buf_printf(out, "-- %zu of %lld rows shown\n", shown, n);
		return 0;
	}
	json_object_set_new(root, "rows", rows);
	json_object_set_new(root, "rows_truncated", json_boolean((long long)shown < n));
	return ctl_opts_emit_json(root, out) < 0 ? 1 : 0;
}

int
dmarc_ctl_run(const struct mg_config *cfg, int argc, char **argv, struct buf *out)
{
	const char *sub = argc >= 2 ? argv[1] : "";
	const struct mg_domain *dom = NULL;
	struct mg_rstore *s;
	struct opts o;
	int is_domains = strcmp(sub, "domains") == 0, is_summary = strcmp(sub, "summary") == 0;
	int is_reports = strcmp(sub, "reports") == 0, is_show = strcmp(sub, "show") == 0;

	/* the store again from state_dir/dmarc-archive (filter/dmarc_rua.c) */
	if (strcmp(sub, "rebuild") == 0 && argc <= 3) {
		if (argc == 3 && (dom = protected_domain(cfg, argv[2], out)) == NULL)
			return 1;
		return dmarc_rua_rebuild(dom != NULL ? dom->name : NULL, out);
	}
	if (!is_domains && !is_summary && !is_reports && !is_show) {
		(void)buf_append_str(out, usage_text);
		return 2;
	}
	if (parse_opts(argc, argv, 2, is_domains ? 0 : is_show ? 2 : 1, !is_show, is_reports, &o,
	    out) != 0)
		return 2;
	if (!is_domains && (dom = protected_domain(cfg, o.pos[0], out)) == NULL)
		return 1;
	if ((s = ctl_store()) == NULL)
		return no_store(out);
	if (is_domains)
		return cmd_domains(cfg, s, &o, out);
	if (is_summary)
		return cmd_summary(dom->name, s, &o, out);
	if (is_reports)
		return cmd_reports(dom->name, s, &o, out);
	return cmd_show(dom->name, o.pos[1], s, &o, out);
}
