/* Unit tests for dmarc/store.c: the stored report row. A formatted evaluation has the expected
 * exact text; every row round-trips (format -> parse -> same row -> same line), including
 * hostile selectors and raw domains that need percent-encoding and a row without a policy; the
 * parser refuses other versions, repeated or missing keys, bad values, bad escapes and oversized
 * lines, and skips unknown keys; a full buffer leaves the output unchanged. */
#include "unit.h"

#include "dmarc/dmarc.h"
#include "lib/str.h"

static int
rows_equal(const struct mg_dmarc_row *a, const struct mg_dmarc_row *b)
{
	if (a->when != b->when || strcmp(a->source_ip, b->source_ip) != 0 || a->count != b->count ||
	    a->status != b->status || a->disposition != b->disposition ||
	    a->dkim_aligned != b->dkim_aligned || a->spf_aligned != b->spf_aligned ||
	    a->sampled_out != b->sampled_out || strcmp(a->header_from, b->header_from) != 0 ||
	    strcmp(a->envelope_from, b->envelope_from) != 0 || a->n_dkim != b->n_dkim ||
	    strcmp(a->spf_domain, b->spf_domain) != 0 || a->spf_is_helo != b->spf_is_helo ||
	    a->spf_result != b->spf_result || strcmp(a->policy_domain, b->policy_domain) != 0 ||
	    a->p != b->p || a->sp != b->sp || a->pct != b->pct || a->adkim != b->adkim ||
	    a->aspf != b->aspf || strcmp(a->fo, b->fo) != 0)
		return 0;
	for (int i = 0; i < a->n_dkim; i++)
		if (strcmp(a->dkim[i].domain, b->dkim[i].domain) != 0 ||
		    strcmp(a->dkim[i].selector, b->dkim[i].selector) != 0 ||
		    a->dkim[i].result != b->dkim[i].result)
			return 0;
	return 1;
}

/* format -> parse -> equal row -> format again gives the same line. */
static void
round_trip(const char *name, const struct mg_dmarc_row *row)
{
	struct buf a, b;
	struct mg_dmarc_row back;
	const char *error = NULL;

	buf_init(&a, MG_DMARC_ROW_MAX + 1);
	buf_init(&b, MG_DMARC_ROW_MAX + 1);
	CHECK_INT(mg_dmarc_row_format(row, &a), 0);
	CHECK(strchr(a.data, ' ') != NULL && strchr(a.data, '\n') == NULL, "%s: shape", name);
	CHECK(mg_dmarc_row_parse(a.data, a.len, &back, &error) == 0, "%s: parse: %s (%s)", name,
	    error ? error : "-", a.data);
	CHECK(rows_equal(row, &back), "%s: row differs after the round trip: %s", name, a.data);
	CHECK_INT(mg_dmarc_row_format(&back, &b), 0);
	CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0, "%s: got \"%s\", want \"%s\"",
	    name, b.data, a.data);
	buf_free(&a);
	buf_free(&b);
}

static void
sample_eval(struct mg_dmarc_result *res, struct mg_dmarc_input *in,
    struct mg_dmarc_dkim_sig *sigs)
{
	memset(res, 0, sizeof(*res));
	res->status = MG_DMARC_FAIL;
	str_lcpy(res->header_from, "a.example.com", sizeof(res->header_from));
	str_lcpy(res->org_domain, "example.com", sizeof(res->org_domain));
	str_lcpy(res->record_domain, "example.com", sizeof(res->record_domain));
	res->has_record = 1;
	res->record.p = MG_DMARC_POLICY_REJECT;
	res->record.sp = MG_DMARC_POLICY_QUARANTINE;
	res->record.pct = 50;
	res->record.adkim = 'r';
	res->record.aspf = 's';
	str_lcpy(res->record.fo, "1:d", sizeof(res->record.fo));
	res->policy = MG_DMARC_POLICY_QUARANTINE;
	res->policy_is_sp = 1;
	res->sampled = 0;
	res->disposition = MG_DMARC_DIS_NONE;
	sigs[0] = (struct mg_dmarc_dkim_sig){ "Evil.Example", "s1", MG_DMARC_DKIM_PASS };
	sigs[1] = (struct mg_dmarc_dkim_sig){ "a.example.com", "sel/2,x y", MG_DMARC_DKIM_FAIL };
	memset(in, 0, sizeof(*in));
	in->header_from = "a.example.com";
	in->spf_result = MG_DMARC_SPF_SOFTFAIL;
	in->spf_domain = "bounce.example.org";
	in->envelope_from = "Bounce.Example.ORG";
	in->dkim = sigs;
	in->n_dkim = 2;
}

static void
test_format_exact(void)
{
	struct mg_dmarc_result res;
	struct mg_dmarc_input in;
	struct mg_dmarc_dkim_sig sigs[2];
	struct buf b;

	sample_eval(&res, &in, sigs);
	buf_init(&b, MG_DMARC_ROW_MAX + 1);
	CHECK_INT(mg_dmarc_record_format(&res, &in, "2001:db8::1", 1732500000LL, &b), 0);
	CHECK_STR(b.data, "mgdmarc1 t=1732500000 ip=2001:db8::1 n=1 res=fail dis=none dkim=fail "
	    "spf=fail rsn=sampled_out hf=a.example.com ef=bounce.example.org "
	    "sig=evil.example/s1/pass,a.example.com/sel%2F2%2Cx%20y/fail spfd=bounce.example.org "
	    "spfs=mfrom spfr=softfail pd=example.com p=reject sp=quarantine pct=50 adkim=r aspf=s "
	    "fo=1:d");
	buf_free(&b);
}

static void
test_round_trips(void)
{
	struct mg_dmarc_result res;
	struct mg_dmarc_input in;
	struct mg_dmarc_dkim_sig sigs[MG_DMARC_DKIM_MAX + 2];
	struct mg_dmarc_row row;

	sample_eval(&res, &in, sigs);
	mg_dmarc_row_from_result(&res, &in, "192.0.2.1", 1, &row);
	round_trip("sample", &row);
	CHECK_INT(row.sampled_out, 1);
	CHECK_STR(row.dkim[0].domain, "evil.example");
	CHECK_STR(row.envelope_from, "bounce.example.org");

	/* No policy, null sender, HELO identity, no signatures. */
	memset(&res, 0, sizeof(res));
	res.status = MG_DMARC_NONE;
	memset(&in, 0, sizeof(in));
	in.header_from = "exa mple.com";	/* unusable: kept raw, encoded */
	in.envelope_from = "";
	in.spf_domain = "helo.example.net";
	in.spf_is_helo = 1;
	in.spf_result = MG_DMARC_SPF_PASS;
	mg_dmarc_row_from_result(&res, &in, "198.51.100.7", 0, &row);
	round_trip("no_policy", &row);
	CHECK_STR(row.header_from, "exa mple.com");
	CHECK_INT(row.p, MG_DMARC_POLICY_UNSET);

	/* Every enum value, hostile selectors, the signature cap. */
	for (int st = MG_DMARC_NONE; st <= MG_DMARC_PERMERROR; st++) {
		for (int i = 0; i < MG_DMARC_DKIM_MAX + 2; i++)
			sigs[i] = (struct mg_dmarc_dkim_sig){ "d.example", "%=; \t\x01\xff/,:@",
				(enum mg_dmarc_dkim)(i % (MG_DMARC_DKIM_PERMERROR + 1)) };
		memset(&in, 0, sizeof(in));
		in.header_from = "example.com";
		in.dkim = sigs;
		in.n_dkim = MG_DMARC_DKIM_MAX + 2;
		in.spf_result = (enum mg_dmarc_spf)(st % (MG_DMARC_SPF_PERMERROR + 1));
		memset(&res, 0, sizeof(res));
		res.status = (enum mg_dmarc_status)st;
		res.disposition = (enum mg_dmarc_disposition)(st % 3);
		res.dkim_aligned = st & 1;
		res.spf_aligned = (st >> 1) & 1;
		res.has_record = 1;
		res.record.p = (enum mg_dmarc_policy)(1 + st % 3);
		res.record.pct = st * 20;
		res.record.adkim = 's';
		res.record.aspf = 'r';
		mg_dmarc_row_from_result(&res, &in, "10.0.0.1", 0x7fffffffffffffffLL, &row);
		CHECK_INT(row.n_dkim, MG_DMARC_DKIM_MAX);
		round_trip(mg_dmarc_status_name(res.status), &row);
	}
}

static void
test_parse_errors(void)
{
	static const char good[] = "mgdmarc1 t=1 ip=192.0.2.1 n=1 res=pass dis=none dkim=pass "
	    "spf=fail rsn= hf=example.com ef= sig=example.com/s/pass spfd= spfs=mfrom spfr=none "
	    "pd=example.com p=none sp= pct=100 adkim=r aspf=r fo=0";
	static const struct {
		const char *from, *to;		/* replace in good */
	} bad[] = {
		{ "mgdmarc1", "mgdmarc2" }, { "mgdmarc1 ", "mgdmarc1  " }, { " n=1", " n=0" },
		{ " n=1", " n=1 n=1" }, { " fo=0", "" }, { "res=pass", "res=maybe" },
		{ "dkim=pass", "dkim=PASS" }, { "pct=100", "pct=101" }, { "adkim=r", "adkim=x" },
		{ "hf=example.com", "hf=exa%2" }, { "hf=example.com", "hf=exa%zzmple" },
		{ "hf=example.com", "hf=exa%00mple" }, { "hf=example.com", "hf=exa/mple" },
		{ "sig=example.com/s/pass", "sig=example.com/s" },
		{ "sig=example.com/s/pass", "sig=example.com/s/great" },
		{ "sig=example.com/s/pass", "sig=a/s/pass,b/s/pass,c/s/pass,d/s/pass,e/s/pass,"
		  "f/s/pass,g/s/pass,h/s/pass,i/s/pass" },
		{ "t=1", "t=-1" }, { "t=1", "t=x" }, { "spfs=mfrom", "spfs=ehlo" },
		{ "rsn=", "rsn=forwarded" }, { "ip=192.0.2.1",
		  "ip=0123456789012345678901234567890123456789012345678" }, { " p=none", " p" },
	};
	struct mg_dmarc_row row;
	const char *error = NULL;
	char line[1024];

	CHECK(mg_dmarc_row_parse(good, strlen(good), &row, &error) == 0, "good: %s",
	    error ? error : "-");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *at = strstr(good, bad[i].from);

		CHECK(at != NULL, "case %zu: \"%s\" not in the good line", i, bad[i].from);
		if (at == NULL)
			continue;
		snprintf(line, sizeof(line), "%.*s%s%s", (int)(at - good), good, bad[i].to,
		    at + strlen(bad[i].from));
		error = NULL;
		CHECK(mg_dmarc_row_parse(line, strlen(line), &row, &error) == -1 && error != NULL,
		    "case %zu: accepted \"%s\"", i, line);
		CHECK_INT(row.count, 0);	/* cleared on error */
	}
	/* Unknown keys (a later version's fields) are skipped. */
	snprintf(line, sizeof(line), "%s np=reject x-new=1", good);
	CHECK_INT(mg_dmarc_row_parse(line, strlen(line), &row, &error), 0);
	CHECK_STR(row.header_from, "example.com");
	/* Oversized line. */
	{
		static char big[MG_DMARC_ROW_MAX + 10];

		memset(big, 'a', sizeof(big));
		memcpy(big, good, strlen(good));
		CHECK_INT(mg_dmarc_row_parse(big, sizeof(big), &row, &error), -1);
	}
}

static void
test_full_buffer(void)
{
	struct mg_dmarc_result res;
	struct mg_dmarc_input in;
	struct mg_dmarc_dkim_sig sigs[2];
	struct buf b;

	sample_eval(&res, &in, sigs);
	buf_init(&b, 64);
	buf_append_str(&b, "prefix");
	CHECK_INT(mg_dmarc_record_format(&res, &in, "192.0.2.1", 1, &b), -1);
	CHECK_INT(b.len, 6);
	CHECK_STR(b.data, "prefix");
	buf_free(&b);
}

static const struct unit_case cases[] = {
	{ "format_exact", test_format_exact },
	{ "round_trips", test_round_trips },
	{ "parse_errors", test_parse_errors },
	{ "full_buffer", test_full_buffer },
};

UNIT_MAIN(cases)
