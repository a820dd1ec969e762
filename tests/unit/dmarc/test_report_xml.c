/* test_report_xml.c: DMARC aggregate report parsing (dmarc/report_xml.c, report_values.c)
 * over the real corpora read in place -- every aggregate file of parsedmarc's samples
 * (expected org, report id, policy domain, period, record count and count total per file,
 * checked against Python's xml.etree), cry-inc's testdata, mail-dmarc's fixtures and
 * parsedmarc's extract_report (.xml, .xml.gz, .xml.zip giving identical parsed data), the
 * invalid samples (clean rejection with a reason) -- and hostile or quirky documents built
 * here: billion laughs (also UTF-16, past the octet scan), XXE, deep nesting, the record cap,
 * DMARCbis namespace, float timestamps, windows-1252, upper-case values, missing optional
 * elements, garbage. Needs -lxml2 (see the Makefile change request of issue I). */
#include "tests/unit/unit.h"
#include "tests/unit/dmarc/report_testlib.h"

#include "dmarc/dmarc.h"

/* Parses the single report in a corpus file (message or bare container). */
static struct mg_report *
parse_file(const char *rel, struct mg_report_err *e, unsigned *quirks_r)
{
	struct mg_report_blobs b = { NULL, 0 };
	struct mg_report *r = NULL;
	size_t len;
	char *d = rt_read(rel, 1, &len);

	e->reason = MG_REPORT_OK;
	e->text[0] = '\0';
	if (d == NULL) {
		snprintf(e->text, sizeof(e->text), "missing %s/%s", rt_corpora(), rel);
		e->reason = MG_REPORT_REASON_COUNT;
		return NULL;
	}
	if (mg_report_extract(d, len, NULL, &b, e) == 0 && b.n == 1) {
		r = mg_report_parse_xml(b.v[0].data, b.v[0].len, NULL, e);
		if (quirks_r != NULL)
			*quirks_r = b.v[0].quirks;
	} else if (b.n > 1)
		snprintf(e->text, sizeof(e->text), "%zu documents", b.n);
	mg_report_blobs_free(&b);
	xfree(d);
	return r;
}

#define PD "dmarc-reports/parsedmarc/samples/"
#define CI "dmarc-reports/cry-inc/testdata/dmarc-reports/"

static const struct expect {
	const char *file, *org, *rid, *domain;
	long long begin, end;
	size_t records;
	unsigned long long total;
	unsigned quirks;	/* that must be set */
} expects[] = {
	{ PD "aggregate/Report_domain_borschow.com_Submitter_google.com_Report-ID_949348866075514174.eml",
	  "google.com", "949348866075514174", "borschow.com", 1549929600, 1550015999, 1, 1, 0 },
	{ PD "aggregate/addisonfoods.com_example.com_1536105600_1536191999.xml", "addisonfoods.com",
	  "3ceb5548498640beaeb47327e202b0b9", "example.com", 1536105600, 1536191999, 1, 1, 0 },
	{ PD "aggregate/empty_reason.xml", "example.org", "20240125141224705995", "example.com",
	  1706159544, 1706185733, 1, 2, 0 },
	{ PD "aggregate/estadocuenta1.infonacot.gob.mx_example.com_1536853302_1536939702_2940.xml.zip",
	  "XYZ Corporation", "2940", "example.com", 1536853302, 1536939702, 1, 1, 0 },
	{ PD "aggregate/example.com_1538204542_1538463818.xml", "", "example.com:1538463741",
	  "example.com", 1538413632, 1538413632, 1, 1, MG_REPORT_Q_EMPTY_ORG },
	{ PD "aggregate/example.net_example.com_1529366400_1529452799.xml", "example.net",
	  "b043f0e264cf4ea995e93765242f6dfb", "example.com", 1529366400, 1529452799, 1, 1, 0 },
	{ PD "aggregate/fastmail.com_example.com_1516060800_1516147199_102675056.xml.gz",
	  "FastMail Pty Ltd", "102675056", "indemed.com", 1516060800, 1516147199, 1, 1, 0 },
	{ PD "aggregate/ikea.com_example.de_1538690400_1538776800.xml", "ikea.com",
	  "aggr_report_2018_10_05_5bc7e9b4f3e8a", "example.de", 1538690400, 1538776800, 1, 1,
	  MG_REPORT_Q_XS_SCHEMA },
	{ PD "aggregate/large-example.com_1711897200_1711983600.xml", "", "example.com:1711897200",
	  "example.com", 1711897200, 1711983600, 2286, 2286, MG_REPORT_Q_EMPTY_ORG },
	{ PD "aggregate/mimecast-weird-gzip.eml", "Mimecast",
	  "157a5fe30ec76f4bc0d8bccfc96c118a167a1280fee7c7465af5115e73082e5e", "ab.id.au",
	  1693353600, 1693439999, 1, 1, MG_REPORT_Q_GZIP_TRAIL },
	{ PD "aggregate/old_draft_from_wiki.xml", "acme.com", "9391651994964116463", "example.com",
	  1335571200, 1335657599, 1, 2, 0 },
	{ PD "aggregate/protection.outlook.com_example.com_1711756800_1711843200.xml", "Outlook.com",
	  "cfeafefe4129445e8c81018bd9177197", "example.com", 1711756800, 1711843200, 1, 1, 0 },
	{ PD "aggregate/rfc9990-example.net_example.com_1700000000_1700086399.xml", "example.net",
	  "dmarcbis-test-report-001", "example.com", 1700000000, 1700086399, 2, 7, 0 },
	{ PD "aggregate/rfc9990-sample.xml", "Sample Reporter", "3v98abbp8ya9n3va8yr8oa3ya",
	  "example.com", 302832000, 302918399, 1, 123, 0 },
	{ PD "aggregate/twilight.eml", "google.com", "1627703331531660819", "twlnet.com",
	  1549756800, 1549843199, 1, 1, 0 },
	{ PD "aggregate/usssa.com_example.com_1538784000_1538870399.xml", "usssa.com",
	  "8953b4d4a4ee4218b6ac0e2cb2667ee1", "example.com", 1538784000, 1538870399, 2, 2, 0 },
	{ PD "aggregate/veeam.com_example.com_1530133200_1530219600.xml", "veeam.com",
	  "sonexushealth.com:1530233361", "example.com", 1530133200, 1530219600, 1, 1, 0 },
	/* parsedmarc files it as invalid; issue I asks us to tolerate upper-case "Pass" */
	{ PD "aggregate_invalid/report_with_upper_cased_pass.xml", "example.com",
	  "aggr_report_example.com_20191202_1638", "example.com", 1574955300, 1575304683, 1, 1,
	  MG_REPORT_Q_CASE },
	{ PD "extract_report/changed-input.xml", "fred.com", "11038226378739404135", "example.com",
	  1718236800, 1718323199, 20, 3047, 0 },
	{ PD "extract_report/nice-input.xml", "google.com", "11038226378739404135", "example.com",
	  1718236800, 1718323199, 20, 3047, 0 },
	{ CI "acme.xml", "acme.com", "9391651994964116463", "example.com", 1335571200, 1335657599,
	  1, 2, 0 },
	{ CI "aol.xml", "AOL", "website.com_1504828800", "website.com", 1504742400, 1504828800, 1, 1,
	  0 },
	{ CI "gmxnet.xml", "GMX", "6d2be94cbabf4e838a3cf58fb4a42ab5", "myserver.com", 1733184000,
	  1733270399, 1, 1, 0 },
	{ CI "google.xml", "google.com", "3166094538684628578", "foo-bar.io", 1709683200,
	  1709769599, 1, 1, 0 },
	{ CI "hardfail.xml", "reporting org", "abcdef", "mydomain.org", 1727049600, 1727135999, 1,
	  1, 0 },
	{ CI "mailru.xml", "Mail.Ru", "28327321193681154911721360800", "foobar.de", 1721260800,
	  1721347200, 1, 1, 0 },
	{ CI "outlook.xml", "Outlook.com", "a4f4ef0654474d3faa5dca167a34a86a", "random.net",
	  1709683200, 1709769600, 2, 3, 0 },
	{ CI "solamora.xml", "solarmora.com", "9391651994964116463", "bix-business.com",
	  1335571200, 1335657599, 1, 2, 0 },
	{ CI "webde.xml", "WEB.DE", "a3345c7cb5fd4f26aa62144bf449a54b", "foobar.com", 1722816000,
	  1722902399, 1, 1, 0 },
	{ CI "yahoo.xml", "Yahoo", "1709600619.487850", "random.org", 1709510400, 1709596799, 1, 1,
	  0 },
};

static void
test_corpus_aggregate(void)
{
	for (size_t i = 0; i < sizeof(expects) / sizeof(expects[0]); i++) {
		const struct expect *x = &expects[i];
		struct mg_report_err e;
		unsigned bq = 0;
		struct mg_report *r = parse_file(x->file, &e, &bq);
		unsigned long long sum = 0;

		CHECK(r != NULL, "%s: %s %s", x->file, mg_report_reason_name(e.reason), e.text);
		if (r == NULL)
			continue;
		CHECK(strcmp(r->org_name, x->org) == 0, "%s: org \"%s\"", x->file, r->org_name);
		CHECK(strcmp(r->report_id, x->rid) == 0, "%s: id \"%s\"", x->file, r->report_id);
		CHECK(strcmp(r->policy.domain, x->domain) == 0, "%s: domain %s", x->file,
		    r->policy.domain);
		CHECK(r->begin == x->begin && r->end == x->end, "%s: range %lld-%lld", x->file,
		    r->begin, r->end);
		CHECK(r->n_records == x->records, "%s: %zu records, want %zu", x->file, r->n_records,
		    x->records);
		CHECK(r->total == x->total, "%s: total %llu, want %llu", x->file, r->total, x->total);
		for (size_t j = 0; j < r->n_records; j++)
			sum += r->records[j].count;
		CHECK(sum == r->total, "%s: total is not the sum", x->file);
		CHECK(((r->quirks | bq) & x->quirks) == x->quirks, "%s: quirks %#x, want %#x",
		    x->file, r->quirks | bq, x->quirks);
		mg_report_free(&r);
	}
}

static void
test_corpus_invalid(void)
{
	static const struct { const char *file; enum mg_report_reason want; } t[] = {
		{ PD "aggregate/invalid_xml.xml", MG_REPORT_E_XML },
		{ PD "aggregate/invalid_utf_8.xml", MG_REPORT_E_XML },
		{ PD "empty.xml", MG_REPORT_E_NO_REPORT },
		/* not aggregate reports: ARF failure reports and TLS-RPT JSON */
		{ PD "failure/dmarc_ruf_report_linkedin.eml", MG_REPORT_E_NO_REPORT },
		{ PD "smtp_tls/rfc8460.json", MG_REPORT_E_NO_REPORT },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct mg_report_err e;
		struct mg_report *r = parse_file(t[i].file, &e, NULL);

		CHECK(r == NULL, "%s: accepted", t[i].file);
		CHECK(e.reason == t[i].want, "%s: reason %s (%s), want %s", t[i].file,
		    mg_report_reason_name(e.reason), e.text, mg_report_reason_name(t[i].want));
		CHECK(e.text[0] != '\0', "%s: no text", t[i].file);
		mg_report_free(&r);
	}
}

/* Deep equality of two parsed reports. */
static int
same_report(const struct mg_report *a, const struct mg_report *b)
{
	if (strcmp(a->org_name, b->org_name) || strcmp(a->report_id, b->report_id) ||
	    strcmp(a->email, b->email) || a->begin != b->begin || a->end != b->end ||
	    strcmp(a->policy.domain, b->policy.domain) || a->policy.p != b->policy.p ||
	    a->policy.sp != b->policy.sp || a->policy.pct != b->policy.pct ||
	    a->policy.adkim != b->policy.adkim || a->policy.aspf != b->policy.aspf ||
	    a->n_records != b->n_records || a->total != b->total)
		return 0;
	for (size_t i = 0; i < a->n_records; i++) {
		const struct mg_report_record *x = &a->records[i], *y = &b->records[i];

		if (strcmp(x->source_ip, y->source_ip) || x->count != y->count ||
		    x->disposition != y->disposition || x->pol_dkim != y->pol_dkim ||
		    x->pol_spf != y->pol_spf || strcmp(x->header_from, y->header_from) ||
		    strcmp(x->envelope_from, y->envelope_from) || x->n_dkim != y->n_dkim ||
		    x->n_spf != y->n_spf)
			return 0;
		for (size_t j = 0; j < x->n_dkim; j++)
			if (strcmp(x->dkim[j].domain, y->dkim[j].domain) ||
			    strcmp(x->dkim[j].selector, y->dkim[j].selector) ||
			    x->dkim[j].result != y->dkim[j].result)
				return 0;
		for (size_t j = 0; j < x->n_spf; j++)
			if (strcmp(x->spf[j].domain, y->spf[j].domain) ||
			    x->spf[j].scope != y->spf[j].scope || x->spf[j].result != y->spf[j].result)
				return 0;
	}
	return 1;
}

static void
test_same_data_three_containers(void)
{
	static const char *const sets[][3] = {
		{ "dmarc-reports/mail-dmarc/fixtures/test_dmarc.xml",
		  "dmarc-reports/mail-dmarc/fixtures/test_dmarc.xml.gz",
		  "dmarc-reports/mail-dmarc/fixtures/test_dmarc.xml.zip" },
		{ PD "extract_report/nice-input.xml", PD "extract_report/nice-input.xml.gz",
		  PD "extract_report/nice-input.xml.zip" },
	};

	for (size_t s = 0; s < 2; s++) {
		struct mg_report *r[3];
		struct mg_report_err e;

		for (int k = 0; k < 3; k++) {
			r[k] = parse_file(sets[s][k], &e, NULL);
			CHECK(r[k] != NULL, "%s: %s", sets[s][k], e.text);
		}
		if (r[0] != NULL && r[1] != NULL && r[2] != NULL) {
			CHECK(same_report(r[0], r[1]), "%s: .gz differs", sets[s][0]);
			CHECK(same_report(r[0], r[2]), "%s: .zip differs", sets[s][0]);
		}
		for (int k = 0; k < 3; k++)
			mg_report_free(&r[k]);
	}
}

static void
test_record_fields(void)
{
	struct mg_report_err e;
	struct mg_report *r = parse_file(PD "aggregate/empty_reason.xml", &e, NULL);
	const struct mg_report_record *rec;

	CHECK(r != NULL, "%s", e.text);
	if (r == NULL)
		return;
	rec = &r->records[0];
	CHECK_STR(rec->source_ip, "198.51.100.123");
	CHECK_INT(rec->count, 2);
	CHECK_INT(rec->disposition, MG_RD_NONE);
	CHECK_INT(rec->pol_dkim, MG_RR_PASS);
	CHECK_INT(rec->pol_spf, MG_RR_FAIL);
	CHECK_STR(rec->reason, "");
	CHECK_STR(rec->header_from, "example.com");
	CHECK_STR(rec->envelope_from, "example.edu");
	CHECK_STR(rec->envelope_to, "example.net");
	CHECK_INT(rec->n_dkim, 1);
	CHECK_INT(rec->n_spf, 1);
	if (rec->n_dkim == 1 && rec->n_spf == 1) {
		CHECK_STR(rec->dkim[0].domain, "example.com");
		CHECK_STR(rec->dkim[0].selector, "example");
		CHECK_INT(rec->dkim[0].result, MG_RR_PASS);
		CHECK_STR(rec->spf[0].domain, "example.edu");
		CHECK_INT(rec->spf[0].scope, MG_RS_MFROM);
		CHECK_INT(rec->spf[0].result, MG_RR_PASS);
	}
	mg_report_free(&r);
	r = parse_file(PD "aggregate_invalid/report_with_upper_cased_pass.xml", &e, NULL);
	CHECK(r != NULL, "%s", e.text);
	if (r != NULL) {
		CHECK_INT(r->records[0].disposition, MG_RD_NONE);
		CHECK_INT(r->records[0].pol_dkim, MG_RR_PASS);
		CHECK_INT(r->records[0].spf[0].result, MG_RR_PASS);
		CHECK_STR(r->org_name, "example.com");	/* "example.com " trimmed */
	}
	mg_report_free(&r);
	r = parse_file(CI "hardfail.xml", &e, NULL);
	CHECK(r != NULL && r->records[0].n_spf == 1 && r->records[0].spf[0].result == MG_RR_FAIL,
	    "hardfail not read as fail");
	mg_report_free(&r);
	r = parse_file(PD "aggregate/rfc9990-sample.xml", &e, NULL);
	CHECK(r != NULL && r->bis && r->records[0].disposition == MG_RD_PASS &&
	    r->policy.np == MG_RP_NONE, "DMARCbis sample");
	mg_report_free(&r);
}

/* --- documents built here --- */

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define META "<report_metadata><org_name>Org</org_name><email>a@b.example</email>" \
	"<report_id>r1</report_id><date_range><begin>1700000000</begin><end>1700086399</end>" \
	"</date_range></report_metadata><policy_published><domain>Example.COM.</domain>" \
	"<p>reject</p></policy_published>"
#define REC(ip, n) "<record><row><source_ip>" ip "</source_ip><count>" n "</count>" \
	"<policy_evaluated><disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf>" \
	"</policy_evaluated></row><identifiers><header_from>example.com</header_from>" \
	"</identifiers><auth_results><spf><domain>example.com</domain><result>fail</result>" \
	"</spf></auth_results></record>"

static struct mg_report *
parse_str(const char *s, size_t len, const struct mg_report_limits *l, struct mg_report_err *e)
{
	return mg_report_parse_xml(s, len, l, e);
}

static void
expect_reject(const char *doc, size_t len, enum mg_report_reason want, const char *what)
{
	struct mg_report_err e;
	struct mg_report *r = parse_str(doc, len, NULL, &e);

	CHECK(r == NULL, "%s: accepted", what);
	CHECK(e.reason == want, "%s: reason %s (%s), want %s", what,
	    mg_report_reason_name(e.reason), e.text, mg_report_reason_name(want));
	mg_report_free(&r);
}
#define REJECT(doc, want) expect_reject(doc, sizeof(doc) - 1, want, #want ": " doc)

static void
test_good_documents(void)
{
	static const char plain[] = HEAD "<feedback>" META REC("192.0.2.1", "3")
	    REC("2001:DB8::0:1", "4") "</feedback>";
	static const char bis[] = HEAD "<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">"
	    "<version>1.0</version>" META REC("192.0.2.1", "3") "<extensions><x>1</x></extensions>"
	    "</feedback>";
	static const char prefixed[] = HEAD "<d:feedback xmlns:d=\"urn:ietf:params:xml:ns:dmarc-2.0\">"
	    "<d:report_metadata><d:org_name>O</d:org_name><d:report_id>9</d:report_id><d:date_range>"
	    "<d:begin>1</d:begin><d:end>2</d:end></d:date_range></d:report_metadata>"
	    "<d:policy_published><d:domain>example.org</d:domain></d:policy_published></d:feedback>";
	/* float times, windows-1252 org name (0xE9 = e acute), no optional elements */
	static const char quirky[] = "<?xml version=\"1.0\" encoding=\"windows-1252\"?>\n"
	    "<feedback><report_metadata><org_name>Soci\xe9t\xe9</org_name><report_id> r2 </report_id>"
	    "<date_range><begin>1530133200.0</begin><end>1530219600.5</end></date_range>"
	    "</report_metadata><policy_published><domain>example.com</domain></policy_published>"
	    "<record><row><source_ip>192.0.2.9</source_ip><count>1</count></row></record>"
	    "</feedback>";
	struct mg_report_err e;
	struct mg_report *r;
	char id[256];

	r = parse_str(plain, sizeof(plain) - 1, NULL, &e);
	CHECK(r != NULL, "plain: %s", e.text);
	if (r != NULL) {
		CHECK_INT(r->bis, 0);
		CHECK_STR(r->policy.domain, "example.com");
		CHECK_INT(r->policy.p, MG_RP_REJECT);
		CHECK_INT(r->policy.pct, -1);
		CHECK_INT(r->n_records, 2);
		CHECK_INT(r->total, 7);
		CHECK_STR(r->records[1].source_ip, "2001:db8::1");
		CHECK_INT(r->records[0].disposition, MG_RD_REJECT);
		CHECK_INT(mg_report_identity(r, id, sizeof(id)), 0);
		CHECK_STR(id, "org|r1");
	}
	mg_report_free(&r);
	r = parse_str(bis, sizeof(bis) - 1, NULL, &e);
	CHECK(r != NULL && r->bis == 1 && r->n_records == 1, "bis: %s", e.text);
	mg_report_free(&r);
	r = parse_str(prefixed, sizeof(prefixed) - 1, NULL, &e);
	CHECK(r != NULL && r->bis == 1 && strcmp(r->report_id, "9") == 0, "prefixed: %s", e.text);
	mg_report_free(&r);
	r = parse_str(quirky, sizeof(quirky) - 1, NULL, &e);
	CHECK(r != NULL, "quirky: %s", e.text);
	if (r != NULL) {
		CHECK_STR(r->org_name, "Soci\xc3\xa9t\xc3\xa9");
		CHECK_STR(r->report_id, "r2");
		CHECK_INT(r->begin, 1530133200);
		CHECK_INT(r->end, 1530219600);
		CHECK(r->quirks & MG_REPORT_Q_FLOAT_TIME, "float time not noted");
		CHECK_INT(r->records[0].disposition, MG_RD_UNSET);
		CHECK_INT(r->records[0].n_dkim, 0);
		CHECK_STR(r->records[0].header_from, "");
		CHECK_INT(mg_report_identity(r, id, sizeof(id)), 0);
		CHECK_STR(id, "soci%C3%A9t%C3%A9|r2");
	}
	mg_report_free(&r);
}

static void
test_identity(void)
{
	struct mg_report a, b;
	char ia[128], ib[128], small[8];

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.org_name = "  Google.COM ";
	b.org_name = "google.com";
	a.report_id = b.report_id = "a|b c";
	CHECK_INT(mg_report_identity(&a, ia, sizeof(ia)), 0);
	CHECK_INT(mg_report_identity(&b, ib, sizeof(ib)), 0);
	CHECK_STR(ia, ib);
	CHECK_STR(ia, "google.com|a%7Cb%20c");
	a.org_name = "Mail \t\n Ru";
	CHECK_INT(mg_report_identity(&a, ia, sizeof(ia)), 0);
	CHECK_STR(ia, "mail%20ru|a%7Cb%20c");
	CHECK_INT(mg_report_identity(&a, small, sizeof(small)), -1);
}

static void
test_garbage(void)
{
	REJECT("", MG_REPORT_E_XML);
	REJECT("not xml at all", MG_REPORT_E_XML);
	REJECT(HEAD "<html><body/></html>", MG_REPORT_E_SCHEMA);
	REJECT(HEAD "<feedback xmlns=\"urn:example:other\">" META "</feedback>", MG_REPORT_E_SCHEMA);
	REJECT(HEAD "<feedback>" META, MG_REPORT_E_XML);
	REJECT(HEAD "<feedback><report_metadata><org_name>o</org_name></report_metadata>"
	    "</feedback>", MG_REPORT_E_SCHEMA);
	REJECT(HEAD "<feedback>" META META "</feedback>", MG_REPORT_E_SCHEMA);
	REJECT(HEAD "<feedback>" META REC("192.0.2.300", "1") "</feedback>", MG_REPORT_E_VALUE);
	REJECT(HEAD "<feedback>" META REC("192.0.2.1", "-1") "</feedback>", MG_REPORT_E_VALUE);
	REJECT(HEAD "<feedback>" META REC("192.0.2.1", "lots") "</feedback>", MG_REPORT_E_VALUE);
	REJECT(HEAD "<feedback>" META "<record><row><count>1</count></row></record></feedback>",
	    MG_REPORT_E_SCHEMA);
	REJECT(HEAD "<feedback><report_metadata><org_name>o</org_name><report_id>1</report_id>"
	    "<date_range><begin>yesterday</begin><end>2</end></date_range></report_metadata>"
	    "<policy_published><domain>x.example</domain></policy_published></feedback>",
	    MG_REPORT_E_VALUE);
	REJECT(HEAD "<feedback>" META "</feedback><feedback/>", MG_REPORT_E_XML);
}

static void
test_value_too_long(void)
{
	struct buf d;
	struct mg_report_err e;
	struct mg_report *r;

	buf_init(&d, SIZE_MAX);
	(void)buf_append_str(&d, HEAD "<feedback><report_metadata><org_name>");
	for (int i = 0; i < 300; i++)
		(void)buf_append_str(&d, "x");
	(void)buf_append_str(&d, "</org_name></report_metadata></feedback>");
	r = parse_str(d.data, d.len, NULL, &e);
	CHECK(r == NULL && e.reason == MG_REPORT_E_VALUE, "long org_name: %s", e.text);
	mg_report_free(&r);
	buf_free(&d);
}

static void
test_record_cap(void)
{
	static const char doc[] = HEAD "<feedback>" META REC("192.0.2.1", "1")
	    REC("192.0.2.2", "1") REC("192.0.2.3", "1") REC("192.0.2.4", "1") "</feedback>";
	struct mg_report_limits l;
	struct mg_report_err e;
	struct mg_report *r;

	mg_report_limits_default(&l);
	l.records = 3;
	r = parse_str(doc, sizeof(doc) - 1, &l, &e);
	CHECK(r == NULL && e.reason == MG_REPORT_E_RECORDS, "got %s", e.text);
	mg_report_free(&r);
	l.records = 4;
	r = parse_str(doc, sizeof(doc) - 1, &l, &e);
	CHECK(r != NULL && r->n_records == 4, "4 records under a cap of 4: %s", e.text);
	mg_report_free(&r);
	l.xml_max = 100;
	r = parse_str(doc, sizeof(doc) - 1, &l, &e);
	CHECK(r == NULL && e.reason == MG_REPORT_E_SIZE, "size cap: %s", e.text);
	mg_report_free(&r);
}

static const char laughs[] = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n"
    " <!ENTITY lol \"lol\">\n"
    " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
    " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
    " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
    " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
    " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
    " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
    " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
    " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
    " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
    "]>\n<feedback><report_metadata><org_name>&lol9;</org_name><report_id>1</report_id>"
    "<date_range><begin>1</begin><end>2</end></date_range></report_metadata>"
    "<policy_published><domain>example.com</domain></policy_published></feedback>\n";

struct utf16 {
	char *p;
	size_t len;
};

static int
parse_reason(void *arg)
{
	struct utf16 *u = arg;
	struct mg_report_err e;
	struct mg_report *r = mg_report_parse_xml(u->p, u->len, NULL, &e);
	int ok = r != NULL;

	mg_report_free(&r);
	return ok ? 100 : (int)e.reason;
}

static void
test_billion_laughs(void)
{
	static const char xxe[] = "<?xml version=\"1.0\"?><!DOCTYPE f [<!ENTITY x SYSTEM "
	    "\"file:///etc/passwd\">]><feedback><report_metadata><org_name>&x;</org_name>"
	    "</report_metadata></feedback>";
	struct utf16 u;
	long kb, ms;
	int got;

	expect_reject(laughs, sizeof(laughs) - 1, MG_REPORT_E_DTD, "billion laughs");
	expect_reject(xxe, sizeof(xxe) - 1, MG_REPORT_E_DTD, "xxe");
	/* UTF-16 (BOM FF FE) hides "<!DOCTYPE" from the octet scan: libxml2's reader must still
	 * hand us the DOCTYPE node (or fail) without substituting anything, in bounded time */
	u.len = 2 + 2 * (sizeof(laughs) - 1);
	u.p = xmalloc(u.len);
	u.p[0] = (char)0xff;
	u.p[1] = (char)0xfe;
	for (size_t i = 0; i < sizeof(laughs) - 1; i++) {
		u.p[2 + 2 * i] = laughs[i];
		u.p[3 + 2 * i] = 0;
	}
	got = rt_bounded(parse_reason, &u, &kb, &ms);
	CHECK(got == MG_REPORT_E_DTD || got == MG_REPORT_E_XML, "utf-16 laughs: got %d", got);
	CHECK(kb < 16 * 1024 && ms < 2000, "utf-16 laughs: +%ld KiB, %ld ms", kb, ms);
	printf("     billion laughs in UTF-16: reason %s, +%ld KiB peak, %ld ms\n",
	    got >= 0 && got < MG_REPORT_REASON_COUNT ? mg_report_reason_name(got) : "?", kb, ms);
	xfree(u.p);
}

static void
test_deep_nesting(void)
{
	struct buf d;
	struct utf16 u;
	long kb, ms;
	int got;

	/* 40 levels inside <feedback>: over our cap of 32 */
	buf_init(&d, SIZE_MAX);
	(void)buf_append_str(&d, HEAD "<feedback>");
	for (int i = 0; i < 40; i++)
		(void)buf_append_str(&d, "<x>");
	for (int i = 0; i < 40; i++)
		(void)buf_append_str(&d, "</x>");
	(void)buf_append_str(&d, "</feedback>");
	expect_reject(d.data, d.len, MG_REPORT_E_XML, "40 levels");
	buf_reset(&d);
	/* 1,000,000 levels, never closed: stops at the cap, bounded */
	(void)buf_append_str(&d, HEAD "<feedback>");
	for (int i = 0; i < 1000000; i++)
		(void)buf_append_str(&d, "<a>");
	u.p = d.data;
	u.len = d.len;
	got = rt_bounded(parse_reason, &u, &kb, &ms);
	CHECK(got == MG_REPORT_E_XML, "1e6 levels: got %d", got);
	CHECK(kb < 16 * 1024 && ms < 2000, "1e6 levels: +%ld KiB, %ld ms", kb, ms);
	printf("     1,000,000 nested elements: +%ld KiB peak, %ld ms\n", kb, ms);
	buf_free(&d);
}

static const struct unit_case cases[] = {
	{ "corpus_aggregate", test_corpus_aggregate },
	{ "corpus_invalid", test_corpus_invalid },
	{ "same_data_three_containers", test_same_data_three_containers },
	{ "record_fields", test_record_fields },
	{ "good_documents", test_good_documents },
	{ "identity", test_identity },
	{ "garbage", test_garbage },
	{ "value_too_long", test_value_too_long },
	{ "record_cap", test_record_cap },
	{ "billion_laughs", test_billion_laughs },
	{ "deep_nesting", test_deep_nesting },
};

UNIT_MAIN(cases)
