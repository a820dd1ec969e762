/* Unit tests for dmarc/evaluate.c over a table DNS (dmarc_table.h) and the corpus PSL: policy
 * discovery (From domain, Organizational Domain fallback, non-DMARC TXT ignored, several
 * records, invalid records, §6.6.3 p=none with rua, NXDOMAIN/NODATA/REFUSED/timeout), relaxed
 * and strict alignment for DKIM and SPF, p vs sp, pct sampling and the §6.6.4 downgrade, IDN and
 * case, the Authentication-Results fragment, and the names of what was queried. Ends with the
 * CPU cost per evaluation (printed as "# cpu ..."; table lookups included). */
#include <time.h>

#include "unit.h"

#include "dmarc/dmarc.h"
#include "dmarc_table.h"

static const char zone[] =
	"_dmarc.example.com TXT v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com\n"
	"_dmarc.own.sub.example.com TXT v=DMARC1; p=none\n"
	"_dmarc.t.example.com TIMEOUT\n"
	"_dmarc.quar.example TXT v=DMARC1; p=quarantine; pct=50\n"
	"_dmarc.pct0.example TXT v=DMARC1; p=reject; pct=0\n"
	"_dmarc.strict.example TXT v=DMARC1; p=reject; adkim=s; aspf=s\n"
	"_dmarc.nosp.example TXT v=DMARC1; p=reject\n"
	"_dmarc.multi.example TXT v=DMARC1; p=reject\n"
	"_dmarc.multi.example TXT v=DMARC1; p=none\n"
	"_dmarc.mixed.example TXT v=spf1 -all\n"
	"_dmarc.mixed.example TXT v=DMARC1; p=reject\n"
	"_dmarc.mixed.example TXT some other text\n"
	"_dmarc.bad.example TXT v=DMARC1; p=bogus\n"
	"_dmarc.badrua.example TXT v=DMARC1; p=bogus; rua=mailto:x@badrua.example\n"
	"_dmarc.lower.example TXT v=dmarc1; p=reject\n"
	"_dmarc.slow.example TIMEOUT\n"
	"_dmarc.refused.example REFUSED\n"
	"_dmarc.nodata.example EXISTS\n"
	"_dmarc.co.uk TXT v=DMARC1; p=reject\n"
	"_dmarc.xn--bcher-kva.example TXT v=DMARC1; p=reject\n"
	"_dmarc.nul.example TXT v=DMARC1; p=reject\\x00; p=none\n";

#define NONE MG_DMARC_NONE
#define PASS MG_DMARC_PASS
#define FAIL MG_DMARC_FAIL
#define TEMP MG_DMARC_TEMPERROR
#define PERM MG_DMARC_PERMERROR
#define SP_PASS MG_DMARC_SPF_PASS
#define SP_FAIL MG_DMARC_SPF_FAIL
#define SP_SOFT MG_DMARC_SPF_SOFTFAIL
#define SP_NONE MG_DMARC_SPF_NONE

static const struct ev_case {
	const char *name;
	const char *from;
	enum mg_dmarc_spf spf;
	const char *spf_domain;
	const char *dkim_pass;		/* d= of passing signatures, comma-separated */
	const char *dkim_fail;		/* d= of failing signatures */
	unsigned rnd;
	enum mg_dmarc_status st;
	const char *aligned;		/* "d", "s", "ds" or "" */
	const char *record_domain;
	int queries;
	const char *authres;
} ev_cases[] = {
	{ "dkim_exact", "example.com", SP_FAIL, "evil.example", "example.com", "", 0, PASS, "d",
	  "example.com", 1, "dmarc=pass (p=reject dis=none) header.from=example.com" },
	{ "dkim_relaxed", "example.com", SP_NONE, NULL, "mail.example.com", "", 0, PASS, "d",
	  "example.com", 1, "dmarc=pass (p=reject dis=none) header.from=example.com" },
	{ "spf_relaxed", "example.com", SP_PASS, "bounce.example.com", "", "", 0, PASS, "s",
	  "example.com", 1, "dmarc=pass (p=reject dis=none) header.from=example.com" },
	{ "both", "example.com", SP_PASS, "example.com", "example.com", "", 0, PASS, "ds",
	  "example.com", 1, "dmarc=pass (p=reject dis=none) header.from=example.com" },
	{ "fail_reject", "example.com", SP_FAIL, "example.com", "", "example.com", 0, FAIL, "",
	  "example.com", 1, "dmarc=fail (p=reject dis=reject) header.from=example.com" },
	{ "unaligned_pass", "example.com", SP_PASS, "evil.example", "evil.example", "", 0, FAIL, "",
	  "example.com", 1, "dmarc=fail (p=reject dis=reject) header.from=example.com" },
	{ "softfail_not_pass", "example.com", SP_SOFT, "example.com", "", "", 0, FAIL, "",
	  "example.com", 1, "dmarc=fail (p=reject dis=reject) header.from=example.com" },
	{ "spf_pass_no_domain", "example.com", SP_PASS, NULL, "", "", 0, FAIL, "", "example.com", 1,
	  "dmarc=fail (p=reject dis=reject) header.from=example.com" },
	{ "lookalike_not_aligned", "example.com", SP_PASS, "example.com.evil.example",
	  "notexample.com", "", 0, FAIL, "", "example.com", 1,
	  "dmarc=fail (p=reject dis=reject) header.from=example.com" },
	/* subdomains: sp through the org-domain fallback, own records, p when sp is absent */
	{ "sp_applies", "a.b.example.com", SP_NONE, NULL, "", "", 0, FAIL, "", "example.com", 2,
	  "dmarc=fail (p=reject sp=quarantine dis=quarantine) header.from=a.b.example.com" },
	{ "sp_pass_relaxed", "a.b.example.com", SP_NONE, NULL, "example.com", "", 0, PASS, "d",
	  "example.com", 2, "dmarc=pass (p=reject sp=quarantine dis=none) header.from=a.b.example.com" },
	{ "own_record", "own.sub.example.com", SP_NONE, NULL, "", "", 0, FAIL, "",
	  "own.sub.example.com", 1, "dmarc=fail (p=none dis=none) header.from=own.sub.example.com" },
	{ "p_for_subdomain", "x.nosp.example", SP_NONE, NULL, "", "", 0, FAIL, "", "nosp.example", 2,
	  "dmarc=fail (p=reject dis=reject) header.from=x.nosp.example" },
	/* strict alignment */
	{ "strict_dkim_sub", "strict.example", SP_NONE, NULL, "mail.strict.example", "", 0, FAIL, "",
	  "strict.example", 1, "dmarc=fail (p=reject dis=reject) header.from=strict.example" },
	{ "strict_spf_sub", "strict.example", SP_PASS, "sub.strict.example", "", "", 0, FAIL, "",
	  "strict.example", 1, "dmarc=fail (p=reject dis=reject) header.from=strict.example" },
	{ "strict_exact", "strict.example", SP_PASS, "strict.example", "strict.example", "", 0, PASS,
	  "ds", "strict.example", 1, "dmarc=pass (p=reject dis=none) header.from=strict.example" },
	/* pct */
	{ "pct50_in", "quar.example", SP_NONE, NULL, "", "", 49, FAIL, "", "quar.example", 1,
	  "dmarc=fail (p=quarantine dis=quarantine) header.from=quar.example" },
	{ "pct50_out", "quar.example", SP_NONE, NULL, "", "", 50, FAIL, "", "quar.example", 1,
	  "dmarc=fail (p=quarantine dis=none) header.from=quar.example" },
	{ "pct0_reject_to_quarantine", "pct0.example", SP_NONE, NULL, "", "", 0, FAIL, "",
	  "pct0.example", 1, "dmarc=fail (p=reject dis=quarantine) header.from=pct0.example" },
	{ "pct100_last", "example.com", SP_NONE, NULL, "", "", 99, FAIL, "", "example.com", 1,
	  "dmarc=fail (p=reject dis=reject) header.from=example.com" },
	{ "pct0_pass", "pct0.example", SP_PASS, "pct0.example", "", "", 0, PASS, "s", "pct0.example",
	  1, "dmarc=pass (p=reject dis=none) header.from=pct0.example" },
	/* discovery outcomes */
	{ "several_records", "multi.example", SP_NONE, NULL, "", "", 0, NONE, "", "", 1,
	  "dmarc=none header.from=multi.example" },
	{ "several_at_org", "sub.multi.example", SP_NONE, NULL, "", "", 0, NONE, "", "", 2,
	  "dmarc=none header.from=sub.multi.example" },
	{ "non_dmarc_ignored", "mixed.example", SP_NONE, NULL, "", "", 0, FAIL, "", "mixed.example",
	  1, "dmarc=fail (p=reject dis=reject) header.from=mixed.example" },
	{ "invalid_record", "bad.example", SP_NONE, NULL, "", "", 0, PERM, "", "", 1,
	  "dmarc=permerror header.from=bad.example" },
	{ "invalid_p_with_rua", "badrua.example", SP_NONE, NULL, "", "", 0, FAIL, "",
	  "badrua.example", 1, "dmarc=fail (p=none dis=none) header.from=badrua.example" },
	{ "lowercase_version", "lower.example", SP_NONE, NULL, "", "", 0, NONE, "", "", 1,
	  "dmarc=none header.from=lower.example" },
	{ "nul_in_record", "nul.example", SP_NONE, NULL, "", "", 0, PERM, "", "", 1,
	  "dmarc=permerror header.from=nul.example" },
	{ "timeout", "slow.example", SP_PASS, "slow.example", "", "", 0, TEMP, "", "", 1,
	  "dmarc=temperror header.from=slow.example" },
	{ "timeout_at_org", "sub.slow.example", SP_NONE, NULL, "", "", 0, TEMP, "", "", 2,
	  "dmarc=temperror header.from=sub.slow.example" },
	{ "timeout_no_fallback", "t.example.com", SP_NONE, NULL, "", "", 0, TEMP, "", "", 1,
	  "dmarc=temperror header.from=t.example.com" },
	{ "refused", "refused.example", SP_NONE, NULL, "", "", 0, NONE, "", "", 1,
	  "dmarc=none header.from=refused.example" },
	{ "nodata", "nodata.example", SP_NONE, NULL, "", "", 0, NONE, "", "", 1,
	  "dmarc=none header.from=nodata.example" },
	{ "nxdomain", "nothing.example", SP_NONE, NULL, "", "", 0, NONE, "", "", 1,
	  "dmarc=none header.from=nothing.example" },
	{ "nxdomain_both", "a.nothing.example", SP_NONE, NULL, "", "", 0, NONE, "", "", 2,
	  "dmarc=none header.from=a.nothing.example" },
	{ "bad_from", "exa mple.com", SP_PASS, "example.com", "example.com", "", 0, NONE, "", "", 0,
	  "dmarc=none" },
	{ "empty_from", "", SP_NONE, NULL, "", "", 0, NONE, "", "", 0, "dmarc=none" },
	/* public suffix as From, IDN, case */
	{ "suffix_from", "co.uk", SP_NONE, NULL, "example.co.uk", "", 0, FAIL, "", "co.uk", 1,
	  "dmarc=fail (p=reject dis=reject) header.from=co.uk" },
	{ "idn_from", "b\xc3\xbc" "cher.example", SP_NONE, NULL, "xn--bcher-kva.example", "", 0,
	  PASS, "d", "xn--bcher-kva.example", 1,
	  "dmarc=pass (p=reject dis=none) header.from=xn--bcher-kva.example" },
	{ "case_and_dot", "EXAMPLE.Com.", SP_PASS, "Bounce.EXAMPLE.com.", "", "", 0, PASS, "s",
	  "example.com", 1, "dmarc=pass (p=reject dis=none) header.from=example.com" },
	{ "failing_sig_aligned", "example.com", SP_NONE, NULL, "evil.example", "example.com", 0,
	  FAIL, "", "example.com", 1, "dmarc=fail (p=reject dis=reject) header.from=example.com" },
};

static size_t
split_sigs(const char *list, enum mg_dmarc_dkim res, struct mg_dmarc_dkim_sig *sigs, size_t n,
    char store[][64])
{
	const char *p = list;

	while (p != NULL && *p != '\0' && n < MG_DMARC_DKIM_MAX) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);

		snprintf(store[n], 64, "%.*s", (int)len, p);
		sigs[n].domain = store[n];
		sigs[n].selector = "sel";
		sigs[n].result = res;
		n++;
		p = c ? c + 1 : NULL;
	}
	return n;
}

static struct mg_psl *
load_psl(void)
{
	const char *error = NULL;
	struct mg_psl *psl = mg_psl_new("/work/shared/corpora/psl/public_suffix_list.dat", &error);

	if (psl == NULL)
		psl = mg_psl_new(NULL, &error);
	CHECK(psl != NULL, "psl: %s", error ? error : "?");
	return psl;
}

static void
test_cases(void)
{
	struct dt_table t;
	const char *error = NULL;
	struct mg_psl *psl = load_psl();
	struct mg_dmarc_ctx ctx = { psl };
	struct mg_dns_lookup dns = { dt_lookup, &t };

	memset(&t, 0, sizeof(t));
	CHECK(dt_add_text(&t, zone, &error) == 0, "zone: %s", error ? error : "?");
	for (size_t i = 0; psl != NULL && i < sizeof(ev_cases) / sizeof(ev_cases[0]); i++) {
		const struct ev_case *c = &ev_cases[i];
		struct mg_dmarc_dkim_sig sigs[MG_DMARC_DKIM_MAX];
		char store[MG_DMARC_DKIM_MAX][64], ar[512], aligned[3] = "";
		size_t n = split_sigs(c->dkim_pass, MG_DMARC_DKIM_PASS, sigs, 0, store);
		struct mg_dmarc_input in = { .header_from = c->from, .spf_result = c->spf,
		    .spf_domain = c->spf_domain, .envelope_from = c->spf_domain, .dkim = sigs,
		    .pct_random = c->rnd };
		struct mg_dmarc_result res;

		in.n_dkim = split_sigs(c->dkim_fail, MG_DMARC_DKIM_FAIL, sigs, n, store);
		t.calls = 0;
		CHECK_INT(mg_dmarc_evaluate(&ctx, &dns, &in, &res), 0);
		CHECK_INT(mg_dmarc_authres(&res, ar, sizeof(ar)), 0);
		str_fmt(aligned, sizeof(aligned), "%s%s", res.dkim_aligned ? "d" : "",
		    res.spf_aligned ? "s" : "");
		CHECK(res.status == c->st && strcmp(aligned, c->aligned) == 0 &&
		    strcmp(res.record_domain, c->record_domain) == 0,
		    "%s: got %s aligned=\"%s\" record=\"%s\" (%s), want %s \"%s\" \"%s\"", c->name,
		    mg_dmarc_status_name(res.status), aligned, res.record_domain,
		    res.reason ? res.reason : "-", mg_dmarc_status_name(c->st), c->aligned,
		    c->record_domain);
		CHECK(res.dns_queries == c->queries && t.calls == c->queries,
		    "%s: got %d queries (table saw %d), want %d", c->name, res.dns_queries, t.calls,
		    c->queries);
		CHECK(strcmp(ar, c->authres) == 0, "%s: got \"%s\", want \"%s\"", c->name, ar,
		    c->authres);
		CHECK(res.reason != NULL, "%s: no reason", c->name);
		CHECK(res.status == FAIL || res.disposition == MG_DMARC_DIS_NONE,
		    "%s: disposition without a failure", c->name);
	}
	dt_free(&t);
	mg_psl_free(&psl);
}

/* What is queried: _dmarc.<From>, then _dmarc.<org>; A-labels; never the org twice. */
static void
test_names_queried(void)
{
	struct dt_table t;
	struct mg_psl *psl = load_psl();
	struct mg_dmarc_ctx ctx = { psl };
	struct mg_dns_lookup dns = { dt_lookup, &t };
	struct mg_dmarc_input in = { .header_from = "A.B.Example.COM" };
	struct mg_dmarc_result res;
	const char *error;

	memset(&t, 0, sizeof(t));
	dt_add_text(&t, zone, &error);
	mg_dmarc_evaluate(&ctx, &dns, &in, &res);
	CHECK_INT(t.calls, 2);
	CHECK_STR(t.asked[0], "_dmarc.a.b.example.com");
	CHECK_STR(t.asked[1], "_dmarc.example.com");
	CHECK_STR(res.org_domain, "example.com");
	CHECK_INT(res.policy, MG_DMARC_POLICY_QUARANTINE);
	CHECK_INT(res.policy_is_sp, 1);
	CHECK_INT(res.record.rua[0].max_size, 0);
	CHECK_STR(res.record.rua[0].uri, "mailto:d@example.com");
	t.calls = 0;
	in.header_from = "www.b\xc3\xbc" "cher.example";
	mg_dmarc_evaluate(&ctx, &dns, &in, &res);
	CHECK_STR(t.asked[0], "_dmarc.www.xn--bcher-kva.example");
	CHECK_STR(t.asked[1], "_dmarc.xn--bcher-kva.example");
	CHECK_STR(res.header_from, "www.xn--bcher-kva.example");
	/* A From domain so long that "_dmarc." does not fit: no query for it, fallback only. */
	{
		char longname[300];
		size_t o = 0;

		while (o + 60 < 245) {
			memset(longname + o, 'x', 59);
			longname[o + 59] = '.';
			o += 60;
		}
		str_lcpy(longname + o, "example.com", sizeof(longname) - o);
		t.calls = 0;
		in.header_from = longname;
		mg_dmarc_evaluate(&ctx, &dns, &in, &res);
		CHECK_INT(t.calls, 1);
		CHECK_STR(t.asked[0], "_dmarc.example.com");
		CHECK_INT(res.status, MG_DMARC_FAIL);
	}
	/* NULL arguments. */
	CHECK_INT(mg_dmarc_evaluate(NULL, &dns, &in, &res), -1);
	CHECK_INT(res.status, MG_DMARC_NONE);
	CHECK_INT(mg_dmarc_evaluate(&ctx, &dns, NULL, &res), -1);
	CHECK_INT(mg_dmarc_evaluate(&ctx, &dns, &in, NULL), -1);
	/* A-R that does not fit. */
	{
		char small[10];

		CHECK_INT(mg_dmarc_authres(&res, small, sizeof(small)), -1);
	}
	dt_free(&t);
	mg_psl_free(&psl);
}

static double
cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* CPU per evaluation with the table DNS (the table's allocations included), for the report. */
static void
test_cpu(void)
{
	struct dt_table t;
	struct mg_psl *psl = load_psl();
	struct mg_dmarc_ctx ctx = { psl };
	struct mg_dns_lookup dns = { dt_lookup, &t };
	struct mg_dmarc_dkim_sig sig[2] = { { "mail.example.com", "s1", MG_DMARC_DKIM_PASS },
		{ "other.example", "s2", MG_DMARC_DKIM_PASS } };
	static const struct {
		const char *what, *from;
	} runs[] = { { "1 query, relaxed dkim pass", "example.com" },
		{ "2 queries (org fallback), fail", "a.b.example.com" } };
	const char *error;
	const int iters = 100000;

	memset(&t, 0, sizeof(t));
	dt_add_text(&t, zone, &error);
	for (size_t r = 0; psl != NULL && r < 2; r++) {
		struct mg_dmarc_input in = { .header_from = runs[r].from,
		    .spf_result = MG_DMARC_SPF_PASS, .spf_domain = "bounce.other.example",
		    .dkim = r == 0 ? sig : sig + 1, .n_dkim = 1, .pct_random = 7 };
		struct mg_dmarc_result res;
		double t0 = cpu_us();

		for (int i = 0; i < iters; i++)
			mg_dmarc_evaluate(&ctx, &dns, &in, &res);
		double us = (cpu_us() - t0) / iters;

		CHECK(res.status == (r == 0 ? MG_DMARC_PASS : MG_DMARC_FAIL), "run %zu status", r);
		printf("# cpu %s: %.2f us/evaluation over %d\n", runs[r].what, us, iters);
		CHECK(us < 200.0, "%s: %.1f us per evaluation", runs[r].what, us);
	}
	dt_free(&t);
	mg_psl_free(&psl);
}

static const struct unit_case cases[] = {
	{ "cases", test_cases },
	{ "names_queried", test_names_queried },
	{ "cpu", test_cpu },
};

UNIT_MAIN(cases)
