/* Unit tests for dmarc/report_query.c in a temporary Berkeley DB environment: reports of two
 * days and a neighbouring domain are stored, then the period filters (list_range, days,
 * summary_range, reporters), one report's header read back with the fields the list does not
 * carry (extra_contact, np, fo, pct, quirks), the record lines parsed back into rows (auth
 * results with percent-encoded values), and malformed lines refused. */
#include <stdlib.h>

#include "unit.h"

#include "dmarc/dmarc.h"
#include "lib/kvdb.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define D1 1700000000LL		/* 2023-11-14 22:13:20 UTC */
#define D1_DAY 1699920000LL	/* 2023-11-14 00:00 */
#define D2_DAY (D1_DAY + 3 * 86400)

static const char XML1[] =
    "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>Org  A</org_name>"
    "<email>a@a.test</email><extra_contact_info>https://a.test/help</extra_contact_info>"
    "<report_id>r 1</report_id><date_range><begin>1700000000.5</begin>"
    "<end>1700086399</end></date_range></report_metadata><policy_published><domain>example.com"
    "</domain><adkim>s</adkim><p>reject</p><sp>quarantine</sp><np>none</np><pct>50</pct>"
    "<fo>1:d</fo></policy_published>"
    "<record><row><source_ip>192.0.2.1</source_ip><count>3</count><policy_evaluated>"
    "<disposition>none</disposition><dkim>pass</dkim><spf>fail</spf><reason><type>forwarded"
    "</type></reason></policy_evaluated></row><identifiers><header_from>example.com"
    "</header_from><envelope_from>bounce.example.com</envelope_from></identifiers>"
    "<auth_results><dkim><domain>example.com</domain><selector>s/1,x</selector>"
    "<result>pass</result></dkim><dkim><domain>other.test</domain><result>fail</result></dkim>"
    "<spf><domain>bounce.example.com</domain><scope>mfrom</scope><result>softfail</result>"
    "</spf></auth_results></record>"
    "<record><row><source_ip>2001:db8::1</source_ip><count>4</count><policy_evaluated>"
    "<disposition>quarantine</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated>"
    "</row><identifiers><header_from>example.com</header_from></identifiers></record>"
    "</feedback>";

/* Three days later, another reporter, same IP 192.0.2.1. */
static const char XML2[] =
    "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>Org B</org_name>"
    "<email>b@b.test</email><report_id>r2</report_id><date_range><begin>1700259200</begin>"
    "<end>1700345599</end></date_range></report_metadata><policy_published><domain>example.com"
    "</domain><p>none</p></policy_published>"
    "<record><row><source_ip>192.0.2.1</source_ip><count>10</count><policy_evaluated>"
    "<disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>"
    "<identifiers><header_from>example.com</header_from></identifiers></record></feedback>";

static struct mg_report *
parse(const char *xml, size_t len)
{
	struct mg_report_err e;
	struct mg_report *r = mg_report_parse_xml(xml, len, NULL, &e);

	CHECK(r != NULL, "parse: %s", e.text);
	return r;
}

static void
check_periods(struct mg_rstore *s)
{
	struct mg_rstore_info *v = NULL;
	struct mg_rstore_day *d = NULL;
	struct mg_rstore_sum *sum = NULL;
	struct mg_rstore_reporter *rep = NULL;
	size_t n = 0, nr = 0;

	CHECK_INT(mg_rstore_list_range(s, "example.com", D1_DAY, D2_DAY + 86399, 10, &v, &n), 0);
	CHECK_INT(n, 2);
	if (n == 2) {		/* newest first */
		CHECK_STR(v[0].report_id, "r2");
		CHECK_STR(v[1].org, "Org  A");
		CHECK_STR(v[1].email, "a@a.test");
		CHECK_INT(v[1].begin, D1);
	}
	xfree(v);
	/* the second day alone; the first alone (a period's bound is a whole day) */
	CHECK_INT(mg_rstore_list_range(s, "example.com", D2_DAY + 3600, D2_DAY + 7200, 10, &v, &n),
	    0);
	CHECK_INT(n, 1);
	xfree(v);
	CHECK_INT(mg_rstore_list_range(s, "example.com", D1_DAY, D1_DAY + 2 * 86400, 10, &v, &n), 0);
	CHECK_INT(n, 1);
	xfree(v);
	CHECK_INT(mg_rstore_list_range(s, "example.com", D1_DAY, D2_DAY, 1, &v, &n), 0);
	CHECK_INT(n, 1);
	xfree(v);

	CHECK_INT(mg_rstore_days(s, "example.com", 0, D2_DAY + 86399, &d, &n), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_INT(d[0].t, D1_DAY);
		CHECK_INT(d[0].n[MG_RSUM_MSGS], 7);
		CHECK_INT(d[0].n[MG_RSUM_DMARC_PASS], 3);
		CHECK_INT(d[0].n[MG_RSUM_QUARANTINE], 4);
		CHECK_INT(d[1].t, D2_DAY);
		CHECK_INT(d[1].n[MG_RSUM_REJECT], 10);
	}
	xfree(d);
	CHECK_INT(mg_rstore_days(s, "example.com", D1_DAY + 86400, D2_DAY - 1, &d, &n), 0);
	CHECK_INT(n, 0);
	xfree(d);

	CHECK_INT(mg_rstore_summary_range(s, "example.com", D1_DAY, D2_DAY, &sum, &n), 0);
	CHECK_INT(n, 2);
	if (n == 2) {		/* 192.0.2.1: 3 + 10 over both days */
		CHECK_STR(sum[0].ip, "192.0.2.1");
		CHECK_INT(sum[0].n[MG_RSUM_MSGS], 13);
		CHECK_INT(sum[0].n[MG_RSUM_DKIM_PASS], 3);
	}
	xfree(sum);
	CHECK_INT(mg_rstore_summary_range(s, "example.com", D1_DAY, D1_DAY, &sum, &n), 0);
	CHECK_INT(n, 2);
	if (n == 2)
		CHECK_INT(sum[1].n[MG_RSUM_MSGS] + sum[0].n[MG_RSUM_MSGS], 7);
	xfree(sum);

	CHECK_INT(mg_rstore_reporters(s, "example.com", 0, D2_DAY + 86399, &rep, &n, &nr), 0);
	CHECK_INT(n, 2);
	CHECK_INT(nr, 2);
	if (n == 2) {		/* by messages: Org B (10) first */
		CHECK_STR(rep[0].org, "Org B");
		CHECK_INT(rep[0].messages, 10);
		CHECK_INT(rep[0].last_end, 1700345599);
		CHECK_STR(rep[1].email, "a@a.test");
	}
	xfree(rep);
}

static void
check_show(struct mg_rstore *s, const struct mg_report *r1)
{
	struct mg_rstore_report h;
	struct mg_rstore_row row;
	char ident[MG_REPORT_IDENTITY_MAX];
	struct buf lines;
	const char *nl;

	CHECK_INT(mg_report_identity(r1, ident, sizeof(ident)), 0);
	CHECK_INT(mg_rstore_get(s, "example.com", ident, &h), 1);
	CHECK_STR(h.info.identity, ident);
	CHECK_STR(h.info.report_id, "r 1");
	CHECK_STR(h.extra_contact, "https://a.test/help");
	CHECK_STR(h.policy_domain, "example.com");
	CHECK_STR(h.adkim, "s");
	CHECK_STR(h.aspf, "");
	CHECK_STR(h.p, "reject");
	CHECK_STR(h.sp, "quarantine");
	CHECK_STR(h.np, "none");
	CHECK_STR(h.fo, "1:d");
	CHECK_INT(h.pct, 50);
	CHECK(h.quirks & MG_REPORT_Q_FLOAT_TIME, "quirks %u", h.quirks);
	CHECK_STR(mg_rstore_quirk_name(MG_REPORT_Q_FLOAT_TIME), "float_time");
	CHECK(mg_rstore_quirk_name(0x10000) == NULL, "quirk name of an unknown bit");
	CHECK_INT(mg_rstore_get(s, "example.com", "nobody|x", &h), 0);
	CHECK_INT(mg_rstore_get(s, "example.org", ident, &h), 0);
	CHECK_INT(mg_rstore_get(s, "example.com", "a\x1f" "b", &h), 0);

	buf_init(&lines, 1 << 20);
	CHECK_INT(mg_rstore_records(s, "example.com", ident, &lines), 2);
	nl = lines.data != NULL ? strchr(lines.data, '\n') : NULL;
	CHECK(nl != NULL, "no record line");
	if (nl != NULL) {
		CHECK_INT(mg_rstore_row_parse(lines.data, (size_t)(nl - lines.data), &row), 0);
		CHECK_STR(row.ip, "192.0.2.1");
		CHECK_INT(row.count, 3);
		CHECK_STR(row.disposition, "none");
		CHECK_STR(row.dkim, "pass");
		CHECK_STR(row.spf, "fail");
		CHECK_STR(row.reason, "forwarded");
		CHECK_STR(row.envelope_from, "bounce.example.com");
		CHECK_STR(row.envelope_to, "");
		CHECK_INT(row.n_dkim, 2);
		CHECK_STR(row.auth_dkim[0].selector, "s/1,x");
		CHECK_STR(row.auth_dkim[0].result, "pass");
		CHECK_STR(row.auth_dkim[1].domain, "other.test");
		CHECK_STR(row.auth_dkim[1].selector, "");
		CHECK_STR(row.auth_dkim[1].result, "fail");
		CHECK_INT(row.n_spf, 1);
		CHECK_STR(row.auth_spf[0].scope, "mfrom");
		CHECK_STR(row.auth_spf[0].result, "softfail");
		CHECK_INT(mg_rstore_row_parse(nl + 1, strlen(nl + 1) - 1, &row), 0);
		CHECK_STR(row.ip, "2001:db8::1");
		CHECK_INT(row.n_dkim, 0);
	}
	buf_free(&lines);
	CHECK_INT(mg_rstore_row_parse("garbage", 7, &row), -1);
	CHECK_INT(mg_rstore_row_parse("ip=1.2.3.4 n=x", 14, &row), -1);
	CHECK_INT(mg_rstore_row_parse("ip=1.2.3.4 n=-1", 15, &row), -1);
}

static void
test_query(void)
{
	char tmpl[] = "/tmp/test_report_query.XXXXXX", dir[64], cmd[128];
	struct mg_report *r1, *r2;
	struct mg_kvdb *kv;
	struct mg_rstore *s;
	const char *err = NULL;

	log_init("test_report_query", 1, LOG_LVL_WARN);
	mg_report_init();
	CHECK(mkdtemp(tmpl) != NULL, "mkdtemp");
	snprintf(dir, sizeof(dir), "%s/db", tmpl);
	kv = mg_kvdb_open(dir, &err);
	CHECK(kv != NULL, "open: %s", err ? err : "-");
	s = kv != NULL ? mg_rstore_open(kv, &err) : NULL;
	r1 = parse(XML1, sizeof(XML1) - 1);
	r2 = parse(XML2, sizeof(XML2) - 1);
	if (s == NULL || r1 == NULL || r2 == NULL)
		return;
	CHECK_INT(mg_rstore_put(s, "example.com", r1, 1000, &err), 1);
	CHECK_INT(mg_rstore_put(s, "example.com", r2, 2000, &err), 1);
	/* a neighbour whose keys sort right after: never in example.com's answers */
	CHECK_INT(mg_rstore_put(s, "example.com.evil", r2, 3000, &err), 1);
	CHECK_INT(mg_rstore_put(s, "example.co", r2, 3000, &err), 1);
	check_periods(s);
	check_show(s, r1);
	mg_report_free(&r1);
	mg_report_free(&r2);
	mg_rstore_free(&s);
	mg_kvdb_close(&kv);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	CHECK_INT(system(cmd), 0);
}

static const struct unit_case cases[] = {
	{ "query", test_query },
};

UNIT_MAIN(cases)
