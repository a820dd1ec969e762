/* test_mta_sts.c: the MTA-STS parsers (delivery/mta_sts.c): TXT records and policy bodies from
 * RFC 8461 and the postfix-mta-sts-resolver scenarios (shared/corpora/mta-sts: good,
 * bad-record*, bad-policy*), and MX pattern matching (§4.1). */
#include "unit.h"

#include "delivery/mta_sts.h"

static struct slice
S(const char *s)
{
	return (struct slice){ s, strlen(s) };
}

static void
test_txt_records(void)
{
	static const struct { const char *txt; int rc; const char *id; } t[] = {
		{ "v=STSv1; id=20180907T090909;", 0, "20180907T090909" },
		{ "v=STSv1;id=20160831085700Z", 0, "20160831085700Z" },
		{ "v=STSv1; id=abc; ext=1", 0, "abc" },
		{ "id=20180907T090909; v=STSv1;", -1, "" },	/* bad-record1: v not first */
		{ "azazaza;asdasdasdasd", -1, "" },		/* bad-record2 */
		{ "v=STSv12;id=20180907T090909;", -1, "" },	/* bad-record3 */
		{ "v=STSv1;", -1, "" },				/* no id */
		{ "v=STSv1; id=", -1, "" },
		{ "v=STSv1; id=has-dash", -1, "" },
		{ "v=STSv1; id=123456789012345678901234567890123", -1, "" },	/* 33 chars */
		{ "", -1, "" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char id[STS_ID_MAX + 1];
		const char *err = NULL;
		int rc = sts_txt_parse(S(t[i].txt), id, &err);

		CHECK(rc == t[i].rc, "case %zu \"%s\": got %d, want %d (%s)", i, t[i].txt, rc, t[i].rc,
		    err ? err : "");
		if (rc == 0)
			CHECK_STR(id, t[i].id);
	}
}

static void
test_policies(void)
{
	static const struct { const char *body; int rc; int mode; long max_age; int n_mx; } t[] = {
		{ "version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: 86400", 0,
		  STS_MODE_ENFORCE, 86400, 1 },
		{ "version: STSv1\r\nmode: testing\r\nmx: *.example.com\r\nmx: mx2.example.net.\r\n"
		  "max_age: 604800\r\n", 0, STS_MODE_TESTING, 604800, 2 },
		{ "version: STSv1\nmode: none\nmax_age: 86400", 0, STS_MODE_NONE, 86400, 0 },
		{ "version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 1\nfoo: bar\n", 0,
		  STS_MODE_ENFORCE, 1, 1 },	/* unknown fields ignored */
		{ "version: STSv1\nmode: enforce\nmode: none\nmx: a.b\nmax_age: 5", 0,
		  STS_MODE_ENFORCE, 5, 1 },	/* first occurrence counts */
		{ "garbage", -1, 0, 0, 0 },	/* bad-policy1 */
		{ "version: STSv1\nmode: enforce\nmax_age: 86400", -1, 0, 0, 0 },	/* 2: no mx */
		{ "version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: xxx", -1, 0, 0, 0 },	/* 5 */
		{ "version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: 31557601", -1, 0, 0, 0 },
		{ "version: STSv1\nmx: mail.loc\nmax_age: 86400", -1, 0, 0, 0 },	/* 7: no mode */
		{ "version: STSv1\nmode: doubt\nmx: mail.loc\nmax_age: 86400", -1, 0, 0, 0 },	/* 8 */
		{ "version: STSv2\nmode: enforce\nmx: mail.loc\nmax_age: 86400", -1, 0, 0, 0 },
		{ "mode: enforce\nmx: mail.loc\nmax_age: 86400", -1, 0, 0, 0 },	/* no version */
		{ "version: STSv1\nmode: enforce\nmx: bad..name\nmax_age: 86400", -1, 0, 0, 0 },
		{ "version: STSv1\nmode: enforce\nmx: a.*.b\nmax_age: 86400", -1, 0, 0, 0 },
		{ "version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: -1", -1, 0, 0, 0 },
		{ "version: STSv1\nmode: enforce\nmx mail.loc\nmax_age: 1", -1, 0, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct sts_policy p;
		const char *err = NULL;
		int rc = sts_policy_parse(S(t[i].body), &p, &err);

		CHECK(rc == t[i].rc, "case %zu: got %d, want %d (%s)", i, rc, t[i].rc, err ? err : "");
		if (rc == 0 && t[i].rc == 0) {
			CHECK_INT(p.mode, t[i].mode);
			CHECK_INT(p.max_age, t[i].max_age);
			CHECK_INT(p.n_mx, t[i].n_mx);
		}
	}
}

static void
test_limits(void)
{
	static char big[STS_POLICY_MAX + 2];
	char many[40 * 32 + 200];
	struct sts_policy p;
	const char *err = NULL;
	size_t o;

	memset(big, 'a', sizeof(big) - 1);
	CHECK_INT(sts_policy_parse((struct slice){ big, sizeof(big) - 1 }, &p, &err), -1);
	o = (size_t)snprintf(many, sizeof(many), "version: STSv1\nmode: enforce\nmax_age: 1\n");
	for (int i = 0; i < STS_MX_MAX + 1; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "mx: m%d.example\n", i);
	CHECK_INT(sts_policy_parse(S(many), &p, &err), -1);
	CHECK_STR(err, "too many mx patterns");
}

static void
test_mx_match(void)
{
	struct sts_policy p;
	const char *err = NULL;
	static const struct { const char *host; int match; } t[] = {
		{ "mail.example.com", 1 }, { "MAIL.Example.COM.", 1 }, { "mx1.example.net", 1 },
		{ "example.net", 0 }, { "a.b.example.net", 0 }, { "other.example.com", 0 },
		{ ".example.net", 0 },
	};

	CHECK_INT(sts_policy_parse(S("version: STSv1\nmode: enforce\nmx: mail.example.com\n"
	    "mx: *.example.net\nmax_age: 10\n"), &p, &err), 0);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECK(sts_mx_match(&p, t[i].host) == t[i].match, "%s: got %d, want %d", t[i].host,
		    sts_mx_match(&p, t[i].host), t[i].match);
}

static void
test_format(void)
{
	struct sts_policy p;
	const char *err = NULL;
	char text[512];

	CHECK_INT(sts_policy_parse(S("version: STSv1\nmode: testing\nmx: *.Example.net\n"
	    "max_age: 10\n"), &p, &err), 0);
	sts_policy_format(&p, text, sizeof(text));
	CHECK_STR(text, "version: STSv1\nmode: testing\nmx: *.example.net\nmax_age: 10");
}

static const struct unit_case cases[] = {
	{ "txt_records", test_txt_records },
	{ "policies", test_policies },
	{ "limits", test_limits },
	{ "mx_match", test_mx_match },
	{ "format", test_format },
};

UNIT_MAIN(cases)
