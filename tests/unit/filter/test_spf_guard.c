/* Unit tests for filter/spf_guard.c: the RFC 7208 §12 ABNF as the guard applies it (accepted
 * records and their canonical form, refused records and why), the /0 rewrites per client
 * family, macro canonicalisation (transformer clamping, delimiters), size caps against the
 * libspf2 macro-compiler overflow, and explanation strings. */
#include <sys/socket.h>

#include "unit.h"

#include "filter/spf.h"

struct rec_case {
	const char *name;
	const char *in;
	int family;
	const char *want;	/* canonical record, or NULL when refused */
	const char *error;	/* substring of the refusal */
};

static const struct rec_case rec_cases[] = {
	{ "empty", "v=spf1", AF_INET, "v=spf1", NULL },
	{ "case, spaces", "V=SpF1  a   -ALL ", AF_INET, "v=spf1 a -all", NULL },
	{ "qualifiers", "v=spf1 ?mx ~ptr +include:a.example.com -all", AF_INET,
	    "v=spf1 ?mx ~ptr include:a.example.com -all", NULL },
	{ "redirect moved last", "v=spf1 redirect=r.example.com a", AF_INET,
	    "v=spf1 a redirect=r.example.com", NULL },
	{ "redirect dropped beside all", "v=spf1 redirect=r.example.com ~all", AF_INET,
	    "v=spf1 ~all", NULL },
	{ "exp kept, unknown dropped", "v=spf1 -all moo.cow-far_out=man:dog/cat exp=e.example.com",
	    AF_INET, "v=spf1 -all exp=e.example.com", NULL },
	{ "dual cidr v4", "v=spf1 a/24//64 mx:m.example.com/16", AF_INET,
	    "v=spf1 a/24 mx:m.example.com/16", NULL },
	{ "dual cidr v6", "v=spf1 a/24//64 mx:m.example.com/16", AF_INET6,
	    "v=spf1 a//64 mx:m.example.com", NULL },
	{ "a/0 v4", "v=spf1 a/0 -all", AF_INET, "v=spf1 a:%{d}.cidr0.mg-spf.invalid -all", NULL },
	{ "mx//0 v6 trailing dot", "v=spf1 mx:m.example.com.//0", AF_INET6,
	    "v=spf1 mx:m.example.com.cidr0.mg-spf.invalid", NULL },
	{ "ip4/0 is all for v4", "v=spf1 -ip4:1.1.1.1/0 a", AF_INET, "v=spf1 -all a", NULL },
	{ "ip4/0 dropped for v6", "v=spf1 -ip4:1.1.1.1/0 a", AF_INET6, "v=spf1 a", NULL },
	{ "ip6", "v=spf1 ip6:2001:db8::/32 ip4:192.0.2.0/24", AF_INET,
	    "v=spf1 ip6:2001:db8::/32 ip4:192.0.2.0/24", NULL },
	{ "macro canonical", "v=spf1 exists:%{l002r+-+}.%{D200}.%{ir}.x.example.com", AF_INET,
	    "v=spf1 exists:%{l2r+-}.%{D128}.%{ir}.x.example.com", NULL },
	{ "macro escapes", "v=spf1 a:macro%%percent%_%_space%-url-space.example.com", AF_INET,
	    "v=spf1 a:macro%%percent%_%_space%-url-space.example.com", NULL },
	{ "colon domain", "v=spf1 a:foo:bar/baz.example.com", AF_INET,
	    "v=spf1 a:foo:bar/baz.example.com", NULL },
	{ "dash toplabel", "v=spf1 a:foo.example.xn--zckzah", AF_INET,
	    "v=spf1 a:foo.example.xn--zckzah", NULL },
	{ "default= ignored", "v=spf1 default=pass", AF_INET, "v=spf1", NULL },
	/* refused */
	{ "not spf", "v=spf10", AF_INET, NULL, "not an SPF record" },
	{ "unknown mechanism", "v=spf1 ip4:1.2.3.4 -all moo", AF_INET, NULL, "unknown mechanism" },
	{ "redirect with colon", "v=spf1 redirect:t2.example.com", AF_INET, NULL, "unknown" },
	{ "modifier name", "v=spf1 moo.cow/far_out=man:dog/cat", AF_INET, NULL, "unknown" },
	{ "empty modifier name", "v=spf1 =all", AF_INET, NULL, "unknown" },
	{ "digit modifier name", "v=spf1 1up=foo", AF_INET, NULL, "unknown" },
	{ "all with arg", "v=spf1 -all:foobar", AF_INET, NULL, "all takes no argument" },
	{ "ptr cidr", "v=spf1 ptr/0 -all", AF_INET, NULL, "unknown" },
	{ "no toplabel", "v=spf1 a:foo-bar", AF_INET, NULL, "top label" },
	{ "numeric toplabel", "v=spf1 a:111.222.33.44", AF_INET, NULL, "top label" },
	{ "port", "v=spf1 a:example.com:8080", AF_INET, NULL, "top label" },
	{ "cidr4 33", "v=spf1 a/33", AF_INET, NULL, "CIDR" },
	{ "cidr6 129", "v=spf1 mx//129", AF_INET, NULL, "CIDR" },
	{ "cidr leading zero", "v=spf1 ip4:1.2.3.4/032", AF_INET, NULL, "CIDR" },
	{ "single-slash dual", "v=spf1 a/24/64", AF_INET, NULL, "CIDR" },
	{ "ip4 dual cidr", "v=spf1 ip4:1.2.3.4//32", AF_INET, NULL, "IP address" },
	{ "short ip4", "v=spf1 ip4:1.2.3", AF_INET, NULL, "IP address" },
	{ "bare ip6", "v=spf1 -all ip6", AF_INET, NULL, "without an address" },
	{ "bad ip6", "v=spf1 ip6::CAFE::BABE", AF_INET, NULL, "IP address" },
	{ "include cidr", "v=spf1 include:ip5.example.com/24 -all", AF_INET, NULL, "top label" },
	{ "exists empty", "v=spf1 exists:", AF_INET, NULL, "empty domain-spec" },
	{ "exists bare", "v=spf1 exists", AF_INET, NULL, "needs a domain" },
	{ "exp twice", "v=spf1 exp=a.example.com -all exp=b.example.com", AF_INET, NULL, "twice" },
	{ "redirect twice", "v=spf1 redirect=a.example.com redirect=a.example.com", AF_INET, NULL,
	    "twice" },
	{ "exp empty", "v=spf1 exp= -all", AF_INET, NULL, "empty" },
	{ "r in domain-spec", "v=spf1 -all exp=%{r}.example.com", AF_INET, NULL, "c, r or t" },
	{ "bad escape", "v=spf1 -exists:%(ir).sbl.example.com", AF_INET, NULL, "escape" },
	{ "trailing percent", "v=spf1 exists:foo%.sbl.example.com", AF_INET, NULL, "escape" },
	{ "bad macro letter", "v=spf1 a:%{a}.example.com", AF_INET, NULL, "macro letter" },
	{ "digit zero", "v=spf1 a:%{d0}.example.com", AF_INET, NULL, "digit 0" },
	{ "bar delimiter", "v=spf1 a:%{l|}.example.com", AF_INET, NULL, "delimiter" },
	{ "comma delimiter", "v=spf1 a:%{l,}.example.com", AF_INET, NULL, "not supported" },
	{ "unterminated macro", "v=spf1 a:%{d", AF_INET, NULL, "macro" },
	{ "unknown modifier syntax", "v=spf1 -all foo=%abc", AF_INET, NULL, "escape" },
	{ "control char", "v=spf1 a:ctrl.example.com\rptr -all", AF_INET, NULL, "non-printable" },
	{ "8-bit", "v=spf1 a:\xef\xbb\xbfgarbage.example.net -all", AF_INET, NULL, "non-printable" },
};

static void
test_records(void)
{
	for (size_t i = 0; i < sizeof(rec_cases) / sizeof(rec_cases[0]); i++) {
		const struct rec_case *c = &rec_cases[i];
		struct buf out;
		const char *error = NULL;
		int rc;

		buf_init(&out, 8192);
		rc = mg_spf_record_filter(c->in, strlen(c->in), c->family, &out, &error);
		if (c->want != NULL) {
			CHECK(rc == 0, "%s: refused (%s), want \"%s\"", c->name, error, c->want);
			CHECK(rc != 0 || strcmp(out.data, c->want) == 0, "%s: got \"%s\", want \"%s\"",
			    c->name, out.data, c->want);
		} else {
			CHECK(rc == -1, "%s: accepted as \"%s\", want refusal", c->name,
			    out.data ? out.data : "");
			CHECK(rc != -1 || (error && strstr(error, c->error)), "%s: error \"%s\", want *%s*",
			    c->name, error ? error : "(null)", c->error);
		}
		buf_free(&out);
	}
}

static void
test_nul_inside(void)
{
	/* NUL octets (found by fuzz_spf_record: a NUL once passed as a qualifier) */
	static const struct { const char *rec; size_t len; } bad[] = {
		{ "v=spf1 a:foo.example.com\0", 25 },
		{ "v=spf1 \0exists:mail.example.com", 32 },
		{ "v=spf1 foo\0bar=x -all", 21 },
		{ "v=spf1 a:%{l\0}.example.com", 26 },
	};
	struct buf out;
	const char *error = NULL;

	buf_init(&out, 8192);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&out);
		CHECK(mg_spf_record_filter(bad[i].rec, bad[i].len, AF_INET, &out, &error) == -1,
		    "case %zu accepted as \"%s\"", i, out.data ? out.data : "");
	}
	buf_free(&out);
}

static void
test_is_spf(void)
{
	CHECK_INT(mg_spf_record_is_spf("v=spf1", 6), 1);
	CHECK_INT(mg_spf_record_is_spf("V=SPF1 -all", 11), 1);
	CHECK_INT(mg_spf_record_is_spf("v=spf1mx", 8), 0);
	CHECK_INT(mg_spf_record_is_spf("v=spf10", 7), 0);
	CHECK_INT(mg_spf_record_is_spf("v=spf", 5), 0);
	CHECK_INT(mg_spf_record_is_spf("spf2.0/pra", 10), 0);
}

/* The macro-compiler overflow trigger (see spf_guard.c): literal runs that leave fewer than
 * 4 bytes of libspf2's 511-byte budget after a macro. */
static void
make_trigger(char *buf, size_t size, const char *prefix, size_t tail, const char *suffix)
{
	size_t o = (size_t)snprintf(buf, size, "%s", prefix);

	memset(buf + o, 'x', 252);
	o += 252;
	o += (size_t)snprintf(buf + o, size - o, "%%{d}");
	memset(buf + o, 'y', 240);
	o += 240;
	o += (size_t)snprintf(buf + o, size - o, "%%{d}");
	memset(buf + o, 'z', tail);
	o += tail;
	snprintf(buf + o, size - o, "%s", suffix);
}

static void
test_size_caps(void)
{
	char rec[8192];
	struct buf out;
	const char *error = NULL;

	buf_init(&out, 8192);
	make_trigger(rec, sizeof(rec), "v=spf1 a:", 10, ".example.com");
	CHECK_INT(mg_spf_record_filter(rec, strlen(rec), AF_INET, &out, &error), -1);
	CHECK(error && strstr(error, "libspf2"), "error %s", error ? error : "(null)");
	make_trigger(rec, sizeof(rec), "v=spf1 a:", 3700, ".example.com");
	CHECK_INT(mg_spf_record_filter(rec, strlen(rec), AF_INET, &out, &error), -1);
	CHECK(error && strstr(error, "too long"), "error %s", error ? error : "(null)");
	make_trigger(rec, sizeof(rec), "", 10, "");
	buf_reset(&out);
	CHECK_INT(mg_spf_explanation_filter(rec, strlen(rec), &out, &error), -1);
	CHECK(error && strstr(error, "libspf2"), "error %s", error ? error : "(null)");
	/* 129 terms */
	strcpy(rec, "v=spf1");
	for (int i = 0; i < 129; i++)
		strcat(rec, " ?all");
	CHECK_INT(mg_spf_record_filter(rec, strlen(rec), AF_INET, &out, &error), -1);
	CHECK(error && strstr(error, "too many terms"), "error %s", error ? error : "(null)");
	/* a 250-octet literal domain is fine, a 256-octet one is not */
	memset(rec, 'a', 300);
	memcpy(rec, "v=spf1 a:", 9);
	strcpy(rec + 9 + 246, ".com");
	buf_reset(&out);
	CHECK_INT(mg_spf_record_filter(rec, strlen(rec), AF_INET, &out, &error), 0);
	memset(rec + 9, 'a', 256);
	strcpy(rec + 9 + 252, ".com");
	CHECK_INT(mg_spf_record_filter(rec, strlen(rec), AF_INET, &out, &error), -1);
	buf_free(&out);
}

static void
test_explanations(void)
{
	static const struct { const char *in, *want; } ok[] = {
		{ "This is a test.", "This%_is%_a%_test." },
		{ "Connections from %{c} not authorized.", "Connections%_from%_%{c}%_not%_authorized." },
		{ "%{l} in implementation", "%{l}%_in%_implementation" },
		{ "", "" },
	};
	static const char *const bad[] = { "The %{x}-files.", ("\xef\xbb\xbf" "Explanation"), "100%",
	    "tab\there" };
	struct buf out;
	const char *error;

	buf_init(&out, 8192);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		buf_reset(&out);
		CHECK_INT(mg_spf_explanation_filter(ok[i].in, strlen(ok[i].in), &out, &error), 0);
		CHECK_STR(out.len ? out.data : "", ok[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(mg_spf_explanation_filter(bad[i], strlen(bad[i]), &out, &error) == -1,
		    "case %zu accepted", i);
	buf_free(&out);
}

static const struct unit_case cases[] = {
	{ "records", test_records },
	{ "nul_inside", test_nul_inside },
	{ "is_spf", test_is_spf },
	{ "size_caps", test_size_caps },
	{ "explanations", test_explanations },
};

UNIT_MAIN(cases)
