/* Unit tests for dmarc/record.c: the v=DMARC1 test (RFC 7489 §6.4 case rules), the policy record
 * parser (tags, defaults, case, WSP, order, repeated/unknown/invalid tags, pct range, rua/ruf
 * mailto: validation with "!size", the URI cap, fo/rf/ri), §6.6.3 step 6 (invalid or missing p
 * or invalid sp: p=none with a valid rua, else rejected), and the size and NUL limits. */
#include "unit.h"

#include "dmarc/dmarc.h"

static void
test_is_record(void)
{
	static const struct {
		const char *txt;
		int want;
	} cases[] = {
		{ "v=DMARC1", 1 }, { "v=DMARC1;", 1 }, { "v=DMARC1; p=none", 1 },
		{ "V=DMARC1; p=none", 1 },		/* "v" is case-insensitive ABNF */
		{ "v = DMARC1 ; p=none", 1 }, { "v\t=\tDMARC1\t;p=none", 1 },
		{ "v=dmarc1; p=none", 0 },		/* %x44 %x4d ...: exact case */
		{ "v=DMARC1p=none", 0 }, { "v=DMARC10; p=none", 0 }, { " v=DMARC1; p=none", 0 },
		{ "p=none; v=DMARC1", 0 }, { "v=spf1 -all", 0 }, { "", 0 }, { "v", 0 }, { "v=", 0 },
		{ "v=DMARC", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(mg_dmarc_is_record(cases[i].txt, strlen(cases[i].txt)) == cases[i].want,
		    "\"%s\": got %d, want %d", cases[i].txt, !cases[i].want, cases[i].want);
}

/* Expected outcome of one record: rc, then p, sp, pct, adkim, aspf, n_rua, n_ruf, ignored,
 * p_defaulted, fo, rf, ri. */
static const struct {
	const char *txt;
	int rc;
	enum mg_dmarc_policy p, sp;
	int pct;
	char adkim, aspf;
	int n_rua, n_ruf, ignored, p_defaulted;
	const char *fo, *rf;
	unsigned long ri;
} rec_cases[] = {
#define N MG_DMARC_POLICY_NONE
#define Q MG_DMARC_POLICY_QUARANTINE
#define R MG_DMARC_POLICY_REJECT
#define U MG_DMARC_POLICY_UNSET
	{ "v=DMARC1; p=none", 0, N, U, 100, 'r', 'r', 0, 0, 0, 0, "0", "afrf", 86400 },
	{ "v=DMARC1;p=reject", 0, R, U, 100, 'r', 'r', 0, 0, 0, 0, "0", "afrf", 86400 },
	{ "v=DMARC1; p=Quarantine; sp=REJECT; pct=50; adkim=S; aspf=s", 0, Q, R, 50, 's', 's', 0, 0,
	  0, 0, "0", "afrf", 86400 },
	{ "v=DMARC1 ; P = reject ; SP = none ;", 0, R, N, 100, 'r', 'r', 0, 0, 0, 0, "0", "afrf",
	  86400 },
	{ "v=DMARC1; rua=mailto:a@example.com; p=reject", 0, R, U, 100, 'r', 'r', 1, 0, 0, 0, "0",
	  "afrf", 86400 },		/* p not second: accepted */
	{ "v=DMARC1; p=reject;; ;", 0, R, U, 100, 'r', 'r', 0, 0, 0, 0, "0", "afrf", 86400 },
	{ "v=DMARC1; p=none; pct=0", 0, N, U, 0, 'r', 'r', 0, 0, 0, 0, "0", "afrf", 86400 },
	{ "v=DMARC1; p=none; pct=100", 0, N, U, 100, 'r', 'r', 0, 0, 0, 0, "0", "afrf", 86400 },
	{ "v=DMARC1; p=none; pct=101", 0, N, U, 100, 'r', 'r', 0, 0, 1, 0, "0", "afrf", 86400 },
	{ "v=DMARC1; p=none; pct=-1", 0, N, U, 100, 'r', 'r', 0, 0, 1, 0, "0", "afrf", 86400 },
	{ "v=DMARC1; p=none; pct=0050", 0, N, U, 100, 'r', 'r', 0, 0, 1, 0, "0", "afrf", 86400 },
	{ "v=DMARC1; p=none; pct=", 0, N, U, 100, 'r', 'r', 0, 0, 1, 0, "0", "afrf", 86400 },
	{ "v=DMARC1; p=none; pct=5 0", 0, N, U, 100, 'r', 'r', 0, 0, 1, 0, "0", "afrf", 86400 },
	{ "v=DMARC1; p=none; adkim=x; aspf=relaxed", 0, N, U, 100, 'r', 'r', 0, 0, 2, 0, "0", "afrf",
	  86400 },
	{ "v=DMARC1; p=none; p=reject", 0, N, U, 100, 'r', 'r', 0, 0, 1, 0, "0", "afrf", 86400 },
	{ "v=DMARC1; p=none; v=DMARC1", 0, N, U, 100, 'r', 'r', 0, 0, 1, 0, "0", "afrf", 86400 },
	{ "v=DMARC1; p=none; foo=bar; x_1=2; garbage", 0, N, U, 100, 'r', 'r', 0, 0, 3, 0, "0",
	  "afrf", 86400 },
	{ "v=DMARC1; p=none; fo=1:d : s; rf=AFRF:iodef; ri=3600", 0, N, U, 100, 'r', 'r', 0, 0, 0,
	  0, "1:d:s", "afrf:iodef", 3600 },
	{ "v=DMARC1; p=none; fo=2; rf=a b; ri=x", 0, N, U, 100, 'r', 'r', 0, 0, 3, 0, "0", "afrf",
	  86400 },
	{ "v=DMARC1; p=none; ri=4294967296", 0, N, U, 100, 'r', 'r', 0, 0, 1, 0, "0", "afrf", 86400 },
	/* rua/ruf */
	{ "v=DMARC1; p=none; rua=mailto:a@example.com,mailto:b@example.org!10m", 0, N, U, 100, 'r',
	  'r', 2, 0, 0, 0, "0", "afrf", 86400 },
	{ "v=DMARC1; p=none; rua=mailto:a@example.com , https://r.example/x", 0, N, U, 100, 'r', 'r',
	  1, 0, 0, 0, "0", "afrf", 86400 },		/* only mailto: is kept */
	{ "v=DMARC1; p=none; rua=https://r.example/x", 0, N, U, 100, 'r', 'r', 0, 0, 1, 0, "0",
	  "afrf", 86400 },
	{ "v=DMARC1; p=none; ruf=MAILTO:f@example.com; rua=mailto:dmarc%2Breports@example.com", 0,
	  N, U, 100, 'r', 'r', 1, 1, 0, 0, "0", "afrf", 86400 },
	{ "v=DMARC1; p=none; rua=mailto:a@b.example,mailto:c@b.example,mailto:d@b.example,"
	  "mailto:e@b.example,mailto:f@b.example", 0, N, U, 100, 'r', 'r', 4, 0, 0, 0, "0", "afrf",
	  86400 },
	{ "v=DMARC1; p=none; rua=mailto:@example.com,mailto:a@,mailto:a@exa mple.com,mailto:a"
	  "@example.com!,mailto:a@example.com!1x,mailto:a%zz@example.com", 0, N, U, 100, 'r', 'r', 0,
	  0, 1, 0, "0", "afrf", 86400 },
	/* §6.6.3 step 6 */
	{ "v=DMARC1", -1, U, U, 100, 'r', 'r', 0, 0, 0, 0, "0", "afrf", 86400 },
	{ "v=DMARC1; p=block", -1, U, U, 100, 'r', 'r', 0, 0, 1, 0, "0", "afrf", 86400 },
	{ "v=DMARC1; p=reject; sp=bogus", -1, R, U, 100, 'r', 'r', 0, 0, 1, 0, "0", "afrf", 86400 },
	{ "v=DMARC1; rua=mailto:a@example.com", 0, N, U, 100, 'r', 'r', 1, 0, 0, 1, "0", "afrf",
	  86400 },
	{ "v=DMARC1; p=block; rua=mailto:a@example.com", 0, N, U, 100, 'r', 'r', 1, 0, 1, 1, "0",
	  "afrf", 86400 },
	{ "v=DMARC1; p=reject; sp=x; pct=20; rua=mailto:a@example.com", 0, N, U, 20, 'r', 'r', 1, 0,
	  1, 1, "0", "afrf", 86400 },
	{ "v=DMARC1; p=block; rua=https://x.example/", -1, U, U, 100, 'r', 'r', 0, 0, 2, 0, "0",
	  "afrf", 86400 },
	/* not DMARC */
	{ "v=dmarc1; p=reject", -1, U, U, 100, 'r', 'r', 0, 0, 0, 0, "0", "afrf", 86400 },
	{ "p=reject", -1, U, U, 100, 'r', 'r', 0, 0, 0, 0, "0", "afrf", 86400 },
#undef N
#undef Q
#undef R
#undef U
};

static void
test_records(void)
{
	struct mg_dmarc_record r;

	for (size_t i = 0; i < sizeof(rec_cases) / sizeof(rec_cases[0]); i++) {
		const char *error = NULL;
		int rc = mg_dmarc_policy_parse(rec_cases[i].txt, strlen(rec_cases[i].txt), &r, &error);

		CHECK(rc == rec_cases[i].rc, "case %zu \"%s\": got rc %d (%s), want %d", i,
		    rec_cases[i].txt, rc, error ? error : "-", rec_cases[i].rc);
		CHECK(rc == 0 || error != NULL, "case %zu: no error text", i);
		if (rc != 0)
			continue;
		CHECK(r.p == rec_cases[i].p && r.sp == rec_cases[i].sp && r.pct == rec_cases[i].pct &&
		    r.adkim == rec_cases[i].adkim && r.aspf == rec_cases[i].aspf,
		    "case %zu \"%s\": got p=%s sp=%s pct=%d adkim=%c aspf=%c, want p=%s sp=%s pct=%d "
		    "adkim=%c aspf=%c", i, rec_cases[i].txt, mg_dmarc_policy_name(r.p),
		    mg_dmarc_policy_name(r.sp), r.pct, r.adkim, r.aspf,
		    mg_dmarc_policy_name(rec_cases[i].p), mg_dmarc_policy_name(rec_cases[i].sp),
		    rec_cases[i].pct, rec_cases[i].adkim, rec_cases[i].aspf);
		CHECK(r.n_rua == rec_cases[i].n_rua && r.n_ruf == rec_cases[i].n_ruf &&
		    r.ignored == rec_cases[i].ignored && r.p_defaulted == rec_cases[i].p_defaulted,
		    "case %zu \"%s\": got rua=%d ruf=%d ignored=%d defaulted=%d, want %d %d %d %d", i,
		    rec_cases[i].txt, r.n_rua, r.n_ruf, r.ignored, r.p_defaulted, rec_cases[i].n_rua,
		    rec_cases[i].n_ruf, rec_cases[i].ignored, rec_cases[i].p_defaulted);
		CHECK(strcmp(r.fo, rec_cases[i].fo) == 0 && strcmp(r.rf, rec_cases[i].rf) == 0 &&
		    r.ri == rec_cases[i].ri, "case %zu \"%s\": got fo=%s rf=%s ri=%lu, want %s %s %lu",
		    i, rec_cases[i].txt, r.fo, r.rf, r.ri, rec_cases[i].fo, rec_cases[i].rf,
		    rec_cases[i].ri);
	}
}

static void
test_uris(void)
{
	struct mg_dmarc_record r;
	const char *error;
	const char *txt = "v=DMARC1; p=none; rua=mailto:a@example.com!10m, mailto:b@example.org!2,"
	    "mailto:c@example.net!1t; ruf=mailto:f@example.com?subject=x!5k";

	CHECK_INT(mg_dmarc_policy_parse(txt, strlen(txt), &r, &error), 0);
	CHECK_INT(r.n_rua, 3);
	CHECK_STR(r.rua[0].uri, "mailto:a@example.com");
	CHECK_INT(r.rua[0].max_size, 10LL << 20);
	CHECK_STR(r.rua[1].uri, "mailto:b@example.org");
	CHECK_INT(r.rua[1].max_size, 2);
	CHECK_INT(r.rua[2].max_size, 1LL << 40);
	CHECK_INT(r.n_ruf, 1);
	CHECK_STR(r.ruf[0].uri, "mailto:f@example.com?subject=x");
	CHECK_INT(r.ruf[0].max_size, 5 << 10);
	/* Cap: the fifth URI is dropped and counted. */
	txt = "v=DMARC1; p=none; rua=mailto:1@x.example,mailto:2@x.example,mailto:3@x.example,"
	    "mailto:4@x.example,mailto:5@x.example";
	CHECK_INT(mg_dmarc_policy_parse(txt, strlen(txt), &r, &error), 0);
	CHECK_INT(r.n_rua, MG_DMARC_URIS_MAX);
	CHECK_INT(r.uris_dropped, 1);
	/* An overlong URI is dropped; one of exactly MG_DMARC_URI_LEN is kept. */
	{
		char big[MG_DMARC_URI_LEN + 100], rec[MG_DMARC_URI_LEN + 200];
		size_t local = MG_DMARC_URI_LEN - strlen("mailto:") - strlen("@example.com");

		memcpy(big, "mailto:", 7);
		memset(big + 7, 'a', local);
		memcpy(big + 7 + local, "@example.com", 13);
		CHECK_INT(strlen(big), MG_DMARC_URI_LEN);
		snprintf(rec, sizeof(rec), "v=DMARC1; p=none; rua=%s", big);
		CHECK_INT(mg_dmarc_policy_parse(rec, strlen(rec), &r, &error), 0);
		CHECK_INT(r.n_rua, 1);
		snprintf(rec, sizeof(rec), "v=DMARC1; p=none; rua=mailto:x%s", big + 7);
		CHECK_INT(mg_dmarc_policy_parse(rec, strlen(rec), &r, &error), 0);
		CHECK_INT(r.n_rua, 0);
	}
}

static void
test_limits(void)
{
	struct mg_dmarc_record r;
	const char *error;
	static const char nul[] = "v=DMARC1; p=reject\0; p=none";
	char big[MG_DMARC_RECORD_MAX + 2];

	CHECK_INT(mg_dmarc_policy_parse(nul, sizeof(nul) - 1, &r, &error), -1);
	memset(big, ' ', sizeof(big));
	memcpy(big, "v=DMARC1; p=reject;", 19);
	CHECK_INT(mg_dmarc_policy_parse(big, MG_DMARC_RECORD_MAX, &r, &error), 0);
	CHECK_INT(r.p, MG_DMARC_POLICY_REJECT);
	CHECK_INT(mg_dmarc_policy_parse(big, MG_DMARC_RECORD_MAX + 1, &r, &error), -1);
	/* The parser reads only len octets. */
	CHECK_INT(mg_dmarc_policy_parse("v=DMARC1; p=nonesuch", 16, &r, &error), 0);
	CHECK_INT(r.p, MG_DMARC_POLICY_NONE);
	CHECK_STR(mg_dmarc_policy_name(MG_DMARC_POLICY_UNSET), "");
	CHECK_STR(mg_dmarc_policy_name(MG_DMARC_POLICY_QUARANTINE), "quarantine");
}

static const struct unit_case cases[] = {
	{ "is_record", test_is_record },
	{ "records", test_records },
	{ "uris", test_uris },
	{ "limits", test_limits },
};

UNIT_MAIN(cases)
