/* Unit tests for filter/spf.c and filter/spf_dns.c against a table DNS
 * (test_spf_table.h): result mapping, identity (§2.4, §4.3), the RFC 7208 §4.6.4 limits counted
 * in our DNS layer (10 terms, 2 void lookups, 10 MX, first 10 PTR), DNS error mapping (§4.4,
 * §5.5), the /0 rewrites, no localhost free ride, the per-check cache, the A-R fragment, and the
 * crash guard: with the guard the crafted records end in permerror or the default explanation;
 * without it (test-only switch, in a child) Debian's libspf2 dies by SIGABRT (stack smashing). */
#include <sys/socket.h>

#include "unit.h"

#include "filter/spf.h"
#include "test_spf_table.h"

static struct spf_table table;
static struct mg_spf *spf;
static struct mg_dns_lookup dns = { spf_table_lookup, &table };

static void
zone(const char *const *lines)
{
	const char *error;

	spf_table_free(&table);
	for (; *lines != NULL; lines++)
		if (spf_table_add(&table, *lines, &error) < 0)
			unit_fail(__FILE__, __LINE__, "zone line \"%s\": %s", *lines, error);
}

static struct mg_spf_result
check(const char *ip, const char *helo, const char *sender)
{
	struct mg_spf_result r;

	if (spf == NULL) {
		const char *error;

		if ((spf = mg_spf_new(&error)) == NULL) {
			printf("mg_spf_new: %s\n", error);
			exit(1);
		}
	}
	table.calls = 0;
	mg_spf_check(spf, &dns, ip, helo, sender, &r);
	return r;
}

#define CHECK_RES(r, want) CHECK((r).result == (want), "got %s (%s), want %s", \
	mg_spf_result_name((r).result), (r).reason, mg_spf_result_name(want))

static void
test_names(void)
{
	CHECK_STR(mg_spf_result_name(MG_SPF_NONE), "none");
	CHECK_STR(mg_spf_result_name(MG_SPF_NEUTRAL), "neutral");
	CHECK_STR(mg_spf_result_name(MG_SPF_PASS), "pass");
	CHECK_STR(mg_spf_result_name(MG_SPF_FAIL), "fail");
	CHECK_STR(mg_spf_result_name(MG_SPF_SOFTFAIL), "softfail");
	CHECK_STR(mg_spf_result_name(MG_SPF_TEMPERROR), "temperror");
	CHECK_STR(mg_spf_result_name(MG_SPF_PERMERROR), "permerror");
}

static void
test_basic(void)
{
	static const char *const z[] = {
		"example.com TXT v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all",
		"example.com TXT some other text",
		"neutral.example.com TXT v=spf1 ?all",
		"two.example.com TXT v=spf1 -all",
		"two.example.com TXT v=spf1 +all",
		"helo.example.net TXT v=spf1 a -all",
		"helo.example.net A 198.51.100.7",
		NULL };
	struct mg_spf_result r;
	char ar[256];

	zone(z);
	r = check("192.0.2.9", "mx.example.org", "user@example.com");
	CHECK_RES(r, MG_SPF_PASS);
	CHECK_STR(r.identity, "user@example.com");
	CHECK_STR(r.domain, "example.com");
	CHECK_INT(mg_spf_auth_results(&r, ar, sizeof(ar)), 0);
	CHECK_STR(ar, "spf=pass smtp.mailfrom=example.com");
	r = check("2001:db8::5", "mx.example.org", "user@Example.COM");
	CHECK_RES(r, MG_SPF_PASS);
	CHECK_INT(mg_spf_auth_results(&r, ar, sizeof(ar)), 0);
	CHECK_STR(ar, "spf=pass smtp.mailfrom=example.com");
	r = check("::ffff:192.0.2.1", "mx.example.org", "user@example.com");
	CHECK_RES(r, MG_SPF_PASS);
	r = check("203.0.113.1", "mx.example.org", "user@example.com");
	CHECK_RES(r, MG_SPF_SOFTFAIL);
	r = check("203.0.113.1", "mx.example.org", "user@neutral.example.com");
	CHECK_RES(r, MG_SPF_NEUTRAL);
	r = check("203.0.113.1", "mx.example.org", "user@two.example.com");
	CHECK_RES(r, MG_SPF_PERMERROR);
	CHECK(strstr(r.reason, "more than one") != NULL, "reason %s", r.reason);
	r = check("203.0.113.1", "mx.example.org", "user@nowhere.example.com");
	CHECK_RES(r, MG_SPF_NONE);
	CHECK_INT(mg_spf_auth_results(&r, ar, sizeof(ar)), 0);
	CHECK_STR(ar, "spf=none smtp.mailfrom=nowhere.example.com");
	/* null sender: postmaster@HELO (§2.4) */
	r = check("198.51.100.7", "helo.example.net", "");
	CHECK_RES(r, MG_SPF_PASS);
	CHECK_STR(r.identity, "postmaster@helo.example.net");
	CHECK_INT(r.identity_is_helo, 1);
	/* no local part: postmaster (§4.3) */
	r = check("198.51.100.8", "x", "@helo.example.net");
	CHECK_RES(r, MG_SPF_FAIL);
	CHECK_STR(r.identity, "postmaster@helo.example.net");
	CHECK(r.explanation[0] != '\0', "fail without explanation");
}

static void
test_identity(void)
{
	static const char *const z[] = { "example.com TXT v=spf1 -all", NULL };
	static const char *const none[] = { "u@[192.0.2.1]", "u@A...example.com", "u@localhost",
	    "u@a1234567890123456789012345678901234567890123456789012345678901234.example.com",
	    "u@ex ample.com" };
	struct mg_spf_result r;
	char ar[256];

	zone(z);
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		r = check("192.0.2.1", "mx.example.org", none[i]);
		CHECK(r.result == MG_SPF_NONE, "%s: got %s", none[i], mg_spf_result_name(r.result));
		CHECK_INT(table.calls, 0);
	}
	CHECK_INT(mg_spf_auth_results(&r, ar, sizeof(ar)), 0);
	CHECK_STR(ar, "spf=none");
	r = check("192.0.2.1", "[192.0.2.1]", "");
	CHECK_RES(r, MG_SPF_NONE);
	CHECK_INT(mg_spf_check(spf, &dns, "not-an-ip", "h", "u@example.com", &r), -1);
	CHECK_INT(mg_spf_check(spf, &dns, "999.1.1.1", "h", "u@example.com", &r), -1);
	/* 8-bit local part: encoded before libspf2 sees it (its %{L} overflowed on such octets) */
	static const char *const z2[] = { "utf8.example.com TXT v=spf1 -all exp=e.example.com",
	    "e.example.com TXT %{L} %{l}", NULL };
	zone(z2);
	r = check("192.0.2.1", "mx.example.org", "\xc3\xa9l\xc3\xa8ve@utf8.example.com");
	CHECK_RES(r, MG_SPF_FAIL);
	CHECK_STR(r.identity, "%C3%A9l%C3%A8ve@utf8.example.com");
	CHECK_STR(r.explanation, "%25C3%25A9l%25C3%25A8ve %C3%A9l%C3%A8ve");
}

static void
test_no_localhost_free_ride(void)
{
	static const char *const z[] = { "example.com TXT v=spf1 -all", NULL };
	struct mg_spf_result r;

	zone(z);
	r = check("127.0.0.1", "localhost", "u@example.com");
	CHECK_RES(r, MG_SPF_FAIL);
	r = check("::1", "localhost", "u@example.com");
	CHECK_RES(r, MG_SPF_FAIL);
}

static void
test_lookup_limit(void)
{
	static const char *const z[] = {
		"ten.example.com TXT v=spf1 a mx a mx a mx a mx a ptr ip4:192.0.2.1 -all",
		"eleven.example.com TXT v=spf1 a mx a mx a mx a mx a ptr a ip4:192.0.2.1 -all",
		"ten.example.com A 198.51.100.1",
		"ten.example.com MX 10 ten.example.com",
		"eleven.example.com A 198.51.100.1",
		"eleven.example.com MX 10 eleven.example.com",
		"1.2.0.192.in-addr.arpa PTR other.example.org",
		"inc.example.com TXT v=spf1 a include:i2.example.com ip4:192.0.2.1 -all",
		"inc.example.com A 198.51.100.1",
		"i2.example.com TXT v=spf1 a a a a a a a a a",
		"i2.example.com A 198.51.100.2",
		NULL };
	struct mg_spf_result r;

	zone(z);
	r = check("192.0.2.1", "h.example.org", "u@ten.example.com");
	CHECK_RES(r, MG_SPF_PASS);
	CHECK_INT(r.dns_lookups, 10);
	r = check("192.0.2.1", "h.example.org", "u@eleven.example.com");
	CHECK_RES(r, MG_SPF_PERMERROR);
	CHECK(strstr(r.reason, "10 DNS lookups") != NULL, "reason %s", r.reason);
	/* include counts one, its terms count too: 1 + 1 + 9 = 11 */
	r = check("192.0.2.1", "h.example.org", "u@inc.example.com");
	CHECK_RES(r, MG_SPF_PERMERROR);
	/* the per-check cache: 'a' five times on one name is one query */
	r = check("192.0.2.1", "h.example.org", "u@ten.example.com");
	CHECK(r.dns_queries < 6, "dns_queries %d", r.dns_queries);
}

static void
test_void_limit(void)
{
	static const char *const z[] = {
		"two.example.com TXT v=spf1 a:e1.example.com a:e2.example.com ?all",
		"three.example.com TXT v=spf1 a:e1.example.com a:e2.example.com a:e3.example.com ?all",
		"e2.example.com MX 10 x.example.com",
		"exp.example.com TXT v=spf1 a:e1.example.com a:e2.example.com exp=nx.example.com -all",
		NULL };
	struct mg_spf_result r;

	zone(z);
	r = check("192.0.2.1", "h.example.org", "u@two.example.com");
	CHECK_RES(r, MG_SPF_NEUTRAL);
	CHECK_INT(r.void_lookups, 2);
	r = check("192.0.2.1", "h.example.org", "u@three.example.com");
	CHECK_RES(r, MG_SPF_PERMERROR);
	CHECK(strstr(r.reason, "void") != NULL, "reason %s", r.reason);
	/* the explanation lookup is no term */
	r = check("192.0.2.1", "h.example.org", "u@exp.example.com");
	CHECK_RES(r, MG_SPF_FAIL);
}

static void
test_mx_ptr_limits(void)
{
	static const char *const z[] = {
		"mx.example.com TXT v=spf1 mx -all",
		"mx.example.com MX 0 m0.example.com", "mx.example.com MX 1 m1.example.com",
		"mx.example.com MX 2 m2.example.com", "mx.example.com MX 3 m3.example.com",
		"mx.example.com MX 4 m4.example.com", "mx.example.com MX 5 m5.example.com",
		"mx.example.com MX 6 m6.example.com", "mx.example.com MX 7 m7.example.com",
		"mx.example.com MX 8 m8.example.com", "mx.example.com MX 9 m9.example.com",
		"mx.example.com MX 10 ok.example.com",
		"ok.example.com A 192.0.2.5",
		"ptr.example.com TXT v=spf1 ptr -all",
		"5.2.0.192.in-addr.arpa PTR p1.example.org", "5.2.0.192.in-addr.arpa PTR p2.example.org",
		"5.2.0.192.in-addr.arpa PTR p3.example.org", "5.2.0.192.in-addr.arpa PTR p4.example.org",
		"5.2.0.192.in-addr.arpa PTR p5.example.org", "5.2.0.192.in-addr.arpa PTR p6.example.org",
		"5.2.0.192.in-addr.arpa PTR p7.example.org", "5.2.0.192.in-addr.arpa PTR p8.example.org",
		"5.2.0.192.in-addr.arpa PTR p9.example.org", "5.2.0.192.in-addr.arpa PTR pa.example.org",
		"5.2.0.192.in-addr.arpa PTR ok.ptr.example.com",
		"ok.ptr.example.com A 192.0.2.5",
		"p1.example.org TIMEOUT *",
		NULL };
	struct mg_spf_result r;

	zone(z);
	r = check("192.0.2.5", "h.example.org", "u@mx.example.com");
	CHECK_RES(r, MG_SPF_PERMERROR);
	CHECK(strstr(r.reason, "MX") != NULL, "reason %s", r.reason);
	/* 11 PTR names: the 11th (the matching one) is ignored, no permerror; a timeout while
	 * validating a PTR name skips that name (§5.5) */
	r = check("192.0.2.5", "h.example.org", "u@ptr.example.com");
	CHECK_RES(r, MG_SPF_FAIL);
	CHECK_INT(r.dns_lookups, 1);
}

static void
test_dns_errors(void)
{
	static const char *const z[] = {
		"t.example.com TIMEOUT TXT",
		"ex.example.com TXT v=spf1 exists:err.example.com -all",
		"err.example.com TIMEOUT *",
		"ptr.example.com TXT v=spf1 ptr -all",
		"9.2.0.192.in-addr.arpa TIMEOUT *",
		"inc.example.com TXT v=spf1 include:err.example.com -all",
		"incnone.example.com TXT v=spf1 include:nothing.example.com -all",
		NULL };
	struct mg_spf_result r;

	zone(z);
	r = check("192.0.2.9", "h.example.org", "u@t.example.com");
	CHECK_RES(r, MG_SPF_TEMPERROR);
	r = check("192.0.2.9", "h.example.org", "u@ex.example.com");
	CHECK_RES(r, MG_SPF_TEMPERROR);
	r = check("192.0.2.9", "h.example.org", "u@ptr.example.com");
	CHECK_RES(r, MG_SPF_FAIL);
	r = check("192.0.2.9", "h.example.org", "u@inc.example.com");
	CHECK_RES(r, MG_SPF_TEMPERROR);
	r = check("192.0.2.9", "h.example.org", "u@incnone.example.com");
	CHECK_RES(r, MG_SPF_PERMERROR);
}

/* libspf2 drops mechanisms past 511 compiled bytes without an error (30 ip6 terms and "-all"
 * came out "neutral"): such a record must be a permerror, not a silently shorter policy. */
static void
budget_zone(int n_ip6)
{
	static char line[2100];
	static const char *z[2] = { line, NULL };
	size_t o = (size_t)snprintf(line, sizeof(line), "big.example.com TXT v=spf1");

	for (int i = 0; i < n_ip6; i++)
		o += (size_t)snprintf(line + o, sizeof(line) - o, " ip6:2001:db8:%x::/48", i);
	snprintf(line + o, sizeof(line) - o, " -all");
	zone(z);
}

static void
test_mechanism_budget(void)
{
	struct mg_spf_result r;

	budget_zone(30);
	r = check("192.0.2.1", "h.example.org", "u@big.example.com");
	CHECK_RES(r, MG_SPF_PERMERROR);
	CHECK(strstr(r.reason, "libspf2") != NULL, "reason %s", r.reason);
	budget_zone(20);
	r = check("192.0.2.1", "h.example.org", "u@big.example.com");
	CHECK_RES(r, MG_SPF_FAIL);
}

static void
test_cidr0(void)
{
	static const char *const z[] = {
		"a.example.com TXT v=spf1 a/0 -all",
		"a.example.com A 10.0.0.1",
		"mx.example.com TXT v=spf1 mx//0 -all",
		"mx.example.com MX 5 m.example.com",
		"m.example.com AAAA 2001:db8::99",
		NULL };
	struct mg_spf_result r;

	zone(z);
	r = check("192.0.2.1", "h.example.org", "u@a.example.com");
	CHECK_RES(r, MG_SPF_PASS);
	r = check("2001:db8::1", "h.example.org", "u@a.example.com");
	CHECK_RES(r, MG_SPF_FAIL);
	r = check("2001:db8:ffff::1", "h.example.org", "u@mx.example.com");
	CHECK_RES(r, MG_SPF_PASS);
	r = check("192.0.2.1", "h.example.org", "u@mx.example.com");
	CHECK_RES(r, MG_SPF_FAIL);
}

/* A ~510-octet explanation that wraps libspf2's ds_avail (see spf_guard.c). */
static void
crafted_zone(void)
{
	static char exp[1024], rec[8192], l1[1100], l2[8300];
	static const char *z[4];
	size_t o;

	memset(exp, 'x', 252);
	o = 252 + (size_t)snprintf(exp + 252, 8, "%%{d}");
	memset(exp + o, 'y', 240);
	o += 240;
	o += (size_t)snprintf(exp + o, 8, "%%{d}");
	memset(exp + o, 'z', 10);
	exp[o + 10] = '\0';
	snprintf(l1, sizeof(l1), "evil.example.com TXT %s", exp);
	o = (size_t)snprintf(rec, sizeof(rec), "v=spf1 -a:");
	memcpy(rec + o, exp, strlen(exp) - 10);
	o += strlen(exp) - 10;
	memset(rec + o, 'z', 3700);
	o += 3700;
	strcpy(rec + o, " -all");
	snprintf(l2, sizeof(l2), "big.example.com TXT %s", rec);
	z[0] = "exp.example.com TXT v=spf1 -all exp=evil.example.com";
	z[1] = l1;
	z[2] = l2;
	z[3] = NULL;
	zone(z);
}

static void
crash_unguarded_exp(void)
{
	crafted_zone();
	(void)check("192.0.2.1", "h.example.org", "u@exp.example.com");
	mg_spf_set_unguarded(spf, 1);
	(void)check("192.0.2.1", "h.example.org", "u@exp.example.com");
}

static void
crash_unguarded_record(void)
{
	crafted_zone();
	(void)check("192.0.2.1", "h.example.org", "u@exp.example.com");
	mg_spf_set_unguarded(spf, 1);
	(void)check("192.0.2.1", "h.example.org", "u@big.example.com");
}

static void
test_crash_guard(void)
{
	struct mg_spf_result r;

	crafted_zone();
	r = check("192.0.2.1", "h.example.org", "u@exp.example.com");
	CHECK_RES(r, MG_SPF_FAIL);
	CHECK(strstr(r.explanation, "is not one of") != NULL, "explanation \"%s\", want default",
	    r.explanation);
	r = check("192.0.2.1", "h.example.org", "u@big.example.com");
	CHECK_RES(r, MG_SPF_PERMERROR);
	CHECK(strstr(r.reason, "too long") != NULL, "reason %s", r.reason);
	/* Without the guard Debian's libspf2 1.2.10-7.2 smashes its stack: SIGABRT. */
	UNIT_EXPECT_ABORT(crash_unguarded_exp);
	UNIT_EXPECT_ABORT(crash_unguarded_record);
}

static void
test_teardown(void)
{
	mg_spf_free(&spf);
	CHECK(spf == NULL, "not NULLed");
	mg_spf_free(&spf);
	spf_table_free(&table);
}

static const struct unit_case cases[] = {
	{ "names", test_names },
	{ "basic", test_basic },
	{ "identity", test_identity },
	{ "no_localhost_free_ride", test_no_localhost_free_ride },
	{ "lookup_limit", test_lookup_limit },
	{ "void_limit", test_void_limit },
	{ "mx_ptr_limits", test_mx_ptr_limits },
	{ "dns_errors", test_dns_errors },
	{ "mechanism_budget", test_mechanism_budget },
	{ "cidr0", test_cidr0 },
	{ "crash_guard", test_crash_guard },
	{ "teardown", test_teardown },
};

UNIT_MAIN(cases)
