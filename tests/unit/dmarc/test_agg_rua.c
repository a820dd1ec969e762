/* Unit tests for dmarc/agg_rua.c: where our aggregate reports may go. mailto: URIs decoded to
 * addresses (percent-encoding, hfields, case of the domain, hostile characters); RFC 7489 §7.1
 * external destination verification over a table DNS (dmarc_table.h): same Organizational
 * Domain without a query, authorised, unauthorised (no record, only non-DMARC TXT, REFUSED),
 * tempfail, a verification name too long; the exclusion list; the "!size" limit against the
 * gzip size; duplicates; no lookups for destinations already refused; the report-time policy
 * lookup (found, none, several, tempfail). */
#include "unit.h"

#include "dmarc/dmarc.h"
#include "dmarc_table.h"

static const char zone[] =
	"example.com._report._dmarc.reports.example.net TXT v=DMARC1\n"
	"example.com._report._dmarc.reports.example.net TXT some other text\n"
	"example.com._report._dmarc.spf.example TXT v=spf1 -all\n"
	"example.com._report._dmarc.lower.example TXT v=dmarc1\n"
	"example.com._report._dmarc.slow.example TIMEOUT\n"
	"example.com._report._dmarc.refused.example REFUSED\n"
	"example.com._report._dmarc.nodata.example EXISTS\n"
	"example.com._report._dmarc.multi.example TXT v=spf1 -all\n"
	"example.com._report._dmarc.multi.example TXT v=DMARC1; rua=mailto:x@multi.example\n"
	"_dmarc.example.com TXT v=DMARC1; p=reject; rua=mailto:d@example.com!10k,"
	"mailto:r@reports.example.net,mailto:x@nowhere.example\n"
	"_dmarc.two.example TXT v=DMARC1; p=none\n"
	"_dmarc.two.example TXT v=DMARC1; p=reject\n"
	"_dmarc.slow.example TIMEOUT\n"
	"_dmarc.bad.example TXT v=DMARC1; p=bogus\n";

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

static const struct addr_case {
	const char *uri;
	const char *addr;		/* NULL: refused */
	const char *domain;
} addr_cases[] = {
	{ "mailto:dmarc@example.com", "dmarc@example.com", "example.com" },
	{ "MAILTO:Dmarc@EXAMPLE.Com", "Dmarc@example.com", "example.com" },
	{ "mailto:d%2Bagg@example.com", "d+agg@example.com", "example.com" },
	{ "mailto:d@example.com?subject=hi", "d@example.com", "example.com" },
	{ "mailto:d@example.com.", "d@example.com", "example.com" },
	{ "http://example.com/rua", NULL, NULL },
	{ "https://example.com/rua", NULL, NULL },
	{ "mailto:", NULL, NULL },
	{ "mailto:@example.com", NULL, NULL },
	{ "mailto:d@", NULL, NULL },
	{ "mailto:a@b@example.com", NULL, NULL },
	{ "mailto:d%40x@example.com", NULL, NULL },
	{ "mailto:d%0D%0ABcc:x@example.com", NULL, NULL },
	{ "mailto:d%3E@example.com", NULL, NULL },
	{ "mailto:d x@example.com", NULL, NULL },
	{ "mailto:d@exa_mple..com", NULL, NULL },
	{ "mailto:d%zz@example.com", NULL, NULL },
	{ "mailto:d%4@example.com", NULL, NULL },
	{ "mailto:d@[192.0.2.1]", NULL, NULL },
};

static void
test_address(void)
{
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
		const struct addr_case *c = &addr_cases[i];
		char addr[MG_DMARC_URI_LEN + 1], dom[MG_DMARC_DOMAIN_MAX + 1];
		const char *error = NULL;
		int r = mg_dmarc_rua_address(c->uri, addr, sizeof(addr), dom, sizeof(dom), &error);

		if (c->addr == NULL) {
			CHECK(r == -1 && error != NULL, "%s: got %d (%s), want refused", c->uri, r,
			    r == 0 ? addr : "?");
			continue;
		}
		CHECK(r == 0, "%s: refused: %s", c->uri, error ? error : "?");
		if (r == 0) {
			CHECK_STR(addr, c->addr);
			CHECK_STR(dom, c->domain);
		}
	}
}

static const struct auth_case {
	const char *policy, *rua;
	enum mg_dmarc_rua_status want;
	int queries;
} auth_cases[] = {
	{ "example.com", "example.com", MG_DMARC_RUA_OK, 0 },
	{ "example.com", "mail.example.com", MG_DMARC_RUA_OK, 0 },	/* same org domain */
	{ "sub.example.com", "example.com", MG_DMARC_RUA_OK, 0 },
	{ "example.co.uk", "reports.example.co.uk", MG_DMARC_RUA_OK, 0 },
	{ "example.com", "reports.example.net", MG_DMARC_RUA_OK, 1 },	/* authorised */
	{ "example.com", "multi.example", MG_DMARC_RUA_OK, 1 },	/* one of several is DMARC */
	{ "example.com", "other.example", MG_DMARC_RUA_UNAUTHORISED, 1 },	/* NXDOMAIN */
	{ "example.com", "spf.example", MG_DMARC_RUA_UNAUTHORISED, 1 },	/* no v=DMARC1 */
	{ "example.com", "lower.example", MG_DMARC_RUA_UNAUTHORISED, 1 },	/* v=dmarc1: not */
	{ "example.com", "nodata.example", MG_DMARC_RUA_UNAUTHORISED, 1 },
	{ "example.com", "refused.example", MG_DMARC_RUA_UNAUTHORISED, 1 },
	{ "example.com", "slow.example", MG_DMARC_RUA_TEMPFAIL, 1 },
	{ "example.co.uk", "example.org.uk", MG_DMARC_RUA_UNAUTHORISED, 1 },	/* not "co.uk" */
	{ "other.com", "reports.example.net", MG_DMARC_RUA_UNAUTHORISED, 1 },	/* per domain */
};

static void
test_authorised(void)
{
	struct dt_table t;
	const char *error = NULL, *reason;
	struct mg_psl *psl = load_psl();
	struct mg_dns_lookup dns = { dt_lookup, &t };
	char longp[256], longr[256];

	memset(&t, 0, sizeof(t));
	CHECK(dt_add_text(&t, zone, &error) == 0, "zone: %s", error ? error : "?");
	for (size_t i = 0; psl != NULL && i < sizeof(auth_cases) / sizeof(auth_cases[0]); i++) {
		const struct auth_case *c = &auth_cases[i];
		enum mg_dmarc_rua_status st;

		t.calls = 0;
		reason = NULL;
		st = mg_dmarc_rua_authorised(psl, &dns, c->policy, c->rua, &reason);
		CHECK(st == c->want && t.calls == c->queries && reason != NULL,
		    "%s -> %s: got %d after %d queries (%s), want %d after %d", c->policy, c->rua,
		    st, t.calls, reason ? reason : "-", c->want, c->queries);
	}
	/* the verification name would pass 253 octets: refused without a query */
	memset(longp, 'a', 60);
	str_fmt(longp + 60, sizeof(longp) - 60, ".%.60s.%.60s.example", longp, longp);
	str_fmt(longr, sizeof(longr), "%.60s.reports.example.net", longp);
	t.calls = 0;
	if (psl != NULL)
		CHECK_INT(mg_dmarc_rua_authorised(psl, &dns, longp, longr, &reason),
		    MG_DMARC_RUA_UNAUTHORISED);
	CHECK_INT(t.calls, 0);
	dt_free(&t);
	mg_psl_free(&psl);
}

static void
test_excluded(void)
{
	const char *list[] = { "  bounced@example.net ", "# a comment", "", "@dead.example",
		"\tCase@Mixed.Example\t" };
	size_t n = sizeof(list) / sizeof(list[0]);

	CHECK_INT(mg_dmarc_rua_is_excluded("bounced@example.net", list, n), 1);
	CHECK_INT(mg_dmarc_rua_is_excluded("BOUNCED@example.NET", list, n), 1);
	CHECK_INT(mg_dmarc_rua_is_excluded("x@dead.example", list, n), 1);
	CHECK_INT(mg_dmarc_rua_is_excluded("x@sub.dead.example", list, n), 0);
	CHECK_INT(mg_dmarc_rua_is_excluded("case@mixed.example", list, n), 1);
	CHECK_INT(mg_dmarc_rua_is_excluded("other@example.net", list, n), 0);
	CHECK_INT(mg_dmarc_rua_is_excluded("bounced@example.net.evil", list, n), 0);
	CHECK_INT(mg_dmarc_rua_is_excluded("# a comment", list, n), 0);
	CHECK_INT(mg_dmarc_rua_is_excluded("x@example.com", NULL, 0), 0);
}

static void
select_from(const char *txt, size_t gz, const char *const *ex, size_t n_ex,
    struct mg_dmarc_rua_dest *d, size_t *n, int *ok, int *calls)
{
	struct dt_table t;
	const char *error = NULL;
	struct mg_psl *psl = load_psl();
	struct mg_dns_lookup dns = { dt_lookup, &t };
	struct mg_dmarc_record rec;

	memset(&t, 0, sizeof(t));
	CHECK(dt_add_text(&t, zone, &error) == 0, "zone: %s", error ? error : "?");
	CHECK(mg_dmarc_policy_parse(txt, strlen(txt), &rec, &error) == 0, "%s: %s", txt,
	    error ? error : "?");
	*ok = psl != NULL ? mg_dmarc_rua_select(psl, &dns, "example.com", &rec, gz, ex, n_ex, d,
	    n) : -1;
	*calls = t.calls;
	dt_free(&t);
	mg_psl_free(&psl);
}

static void
test_select(void)
{
	static const char rec[] = "v=DMARC1; p=reject; rua=mailto:d@example.com!10k,"
	    "mailto:r@reports.example.net!1m,mailto:x@other.example,mailto:b@dead.example;"
	    " ruf=mailto:f@example.com";
	const char *ex[] = { "@dead.example" };
	struct mg_dmarc_rua_dest d[MG_DMARC_URIS_MAX];
	size_t n = 0;
	int ok, calls;

	/* small report: d (same domain), r (authorised); x unauthorised; b excluded */
	select_from(rec, 2000, ex, 1, d, &n, &ok, &calls);
	CHECK_INT(ok, 2);
	CHECK_INT(n, 4);
	CHECK_INT(calls, 2);	/* reports.example.net and other.example; never dead.example */
	if (n == 4) {
		CHECK_STR(d[0].addr, "d@example.com");
		CHECK_INT(d[0].status, MG_DMARC_RUA_OK);
		CHECK_INT(d[0].max_size, 10240);
		CHECK_STR(d[1].addr, "r@reports.example.net");
		CHECK_INT(d[1].status, MG_DMARC_RUA_OK);
		CHECK_INT(d[2].status, MG_DMARC_RUA_UNAUTHORISED);
		CHECK_INT(d[3].status, MG_DMARC_RUA_EXCLUDED);
	}
	/* 10 KiB + 1: over d's limit (skipped, no lookup for it), under r's */
	select_from(rec, 10241, ex, 1, d, &n, &ok, &calls);
	CHECK_INT(ok, 1);
	CHECK_INT(d[0].status, MG_DMARC_RUA_TOO_BIG);
	CHECK_INT(d[1].status, MG_DMARC_RUA_OK);
	/* exactly at the limit is allowed */
	select_from(rec, 10240, ex, 1, d, &n, &ok, &calls);
	CHECK_INT(d[0].status, MG_DMARC_RUA_OK);
	/* over every limit but the unlimited ones */
	select_from(rec, 2u << 20, NULL, 0, d, &n, &ok, &calls);
	CHECK_INT(ok, 0);
	CHECK_INT(d[1].status, MG_DMARC_RUA_TOO_BIG);
	CHECK_INT(d[3].status, MG_DMARC_RUA_UNAUTHORISED);	/* not excluded now, not verified */
	CHECK_INT(calls, 2);
	/* duplicates (case-insensitive) are sent once; a tempfail is reported as such */
	select_from("v=DMARC1; p=none; rua=mailto:a@example.com,mailto:A@Example.com,"
	    "mailto:t@slow.example", 100, NULL, 0, d, &n, &ok, &calls);
	CHECK_INT(ok, 1);
	CHECK_INT(n, 3);
	CHECK_INT(d[1].status, MG_DMARC_RUA_BAD);
	CHECK_STR(d[1].reason, "duplicate address");
	CHECK_INT(d[2].status, MG_DMARC_RUA_TEMPFAIL);
	/* one lookup per distinct domain */
	select_from("v=DMARC1; p=none; rua=mailto:a@reports.example.net,"
	    "mailto:b@reports.example.net", 100, NULL, 0, d, &n, &ok, &calls);
	CHECK_INT(ok, 2);
	CHECK_INT(calls, 1);
	/* no rua at all, only ruf: nothing (we never send failure reports) */
	select_from("v=DMARC1; p=reject; ruf=mailto:f@example.com", 100, NULL, 0, d, &n, &ok,
	    &calls);
	CHECK_INT(ok, 0);
	CHECK_INT(n, 0);
	CHECK_INT(calls, 0);
}

static void
test_policy_lookup(void)
{
	struct dt_table t;
	const char *error = NULL, *reason = NULL;
	struct mg_dns_lookup dns = { dt_lookup, &t };
	struct mg_dmarc_record rec;

	memset(&t, 0, sizeof(t));
	CHECK(dt_add_text(&t, zone, &error) == 0, "zone: %s", error ? error : "?");
	CHECK_INT(mg_dmarc_agg_policy_lookup(&dns, "example.com", &rec, &reason), 0);
	CHECK_INT(rec.n_rua, 3);
	CHECK_INT(rec.p, MG_DMARC_POLICY_REJECT);
	CHECK_INT(mg_dmarc_agg_policy_lookup(&dns, "two.example", &rec, &reason), 1);
	CHECK_STR(reason, "several records");
	CHECK_INT(mg_dmarc_agg_policy_lookup(&dns, "none.example", &rec, &reason), 1);
	CHECK_INT(mg_dmarc_agg_policy_lookup(&dns, "bad.example", &rec, &reason), 1);
	CHECK_INT(mg_dmarc_agg_policy_lookup(&dns, "slow.example", &rec, &reason), -1);
	dt_free(&t);
}

static const struct unit_case cases[] = {
	{ "address", test_address },
	{ "authorised", test_authorised },
	{ "excluded", test_excluded },
	{ "select", test_select },
	{ "policy_lookup", test_policy_lookup },
};

UNIT_MAIN(cases)
