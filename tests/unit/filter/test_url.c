/* test_url.c: URL normalisation, extraction from text and from parsed messages, anchor-text
 * hosts, and the checks of url_check.c (phishing feed, anchor mismatch, IP hosts, shorteners,
 * suspicious TLDs, URIBL through a table-driven DNS lookup). */
#include <arpa/inet.h>

#include "config/config.h"
#include "dmarc/dmarc.h"
#include "filter/filter_int.h"
#include "filter/phish.h"
#include "filter/url.h"
#include "lib/xalloc.h"
#include "unit.h"

static const struct {
	const char *in, *norm;	/* norm NULL = must be refused */
	unsigned flags;		/* flags that must be set */
} norm_cases[] = {
	{ "http://Example.COM/Path?Q=1#frag", "http://example.com/Path?Q=1", 0 },
	{ "HTTPS://www.example.com:443/", "https://www.example.com/", 0 },
	{ "http://www.example.com:8080", "http://www.example.com:8080/", URL_F_PORT },
	{ "www.example.org/a", "http://www.example.org/a", 0 },
	{ "hxxp://evil.example[.]com/login", "http://evil.example.com/login", URL_F_OBFUSCATED },
	{ "hXXps://evil(dot)example(dot)net/", "https://evil.example.net/", URL_F_OBFUSCATED },
	{ "h**p://bad.example.org", "http://bad.example.org/", URL_F_OBFUSCATED },
	{ "http[:]//bad.example.org/x", "http://bad.example.org/x", URL_F_OBFUSCATED },
	{ "http://0x7f.1/", "http://127.0.0.1/", URL_F_IP | URL_F_IP_ODD },
	{ "http://2130706433/a", "http://127.0.0.1/a", URL_F_IP | URL_F_IP_ODD },
	{ "http://0177.0.0.01/", "http://127.0.0.1/", URL_F_IP | URL_F_IP_ODD },
	{ "http://192.0.2.7/x", "http://192.0.2.7/x", URL_F_IP },
	{ "http://www.paypal.com@evil.example/", "http://evil.example/", URL_F_USERINFO },
	{ "http://user:pw@host.example.org:80/", "http://host.example.org/", URL_F_USERINFO },
	{ "http://example.com./x", "http://example.com/x", 0 },
	{ "http://%65xample.com/", "http://example.com/", URL_F_PCT_HOST },
	{ "http://bücher.example/", "http://xn--bcher-kva.example/", URL_F_IDN | URL_F_PUNYCODE },
	{ "http://xn--pypal-4ve.com/", "http://xn--pypal-4ve.com/", URL_F_PUNYCODE },
	{ "http://example.com/a b", "http://example.com/a%20b", 0 },
	{ "http:\\\\example.com\\a", "http://example.com/a", URL_F_OBFUSCATED },
	{ "ftp://example.com/", NULL, 0 },
	{ "javascript:alert(1)", NULL, 0 },
	{ "mailto:a@example.com", NULL, 0 },
	{ "http://localhost/", NULL, 0 },
	{ "http://1.2.3.4.5/", NULL, 0 },
	{ "http://256.1.1.1/", NULL, 0 },
	{ "http://exa mple.com/", NULL, 0 },
	{ "http:///", NULL, 0 },
	{ "http://[::1]/", NULL, 0 },
	{ "http://example.com:99999/", NULL, 0 },
};

static void
test_normalise(void)
{
	for (size_t i = 0; i < sizeof(norm_cases) / sizeof(norm_cases[0]); i++) {
		struct url u;
		const char *err = NULL;
		int rc = url_normalise(norm_cases[i].in, strlen(norm_cases[i].in), &u, &err);

		if (norm_cases[i].norm == NULL) {
			CHECK(rc < 0, "%s: accepted as %s", norm_cases[i].in, rc == 0 ? u.norm : "");
			CHECK(rc == 0 || err != NULL, "%s: no error text", norm_cases[i].in);
			if (rc == 0)
				url_free(&u);
			continue;
		}
		CHECK(rc == 0, "%s: refused (%s)", norm_cases[i].in, err ? err : "");
		if (rc < 0)
			continue;
		CHECK_STR(u.norm, norm_cases[i].norm);
		CHECK((u.flags & norm_cases[i].flags) == norm_cases[i].flags,
		    "%s: flags %#x, want %#x set", norm_cases[i].in, u.flags, norm_cases[i].flags);
		url_free(&u);
	}
}

static void
test_ipv4_forms(void)
{
	char out[16];
	int odd;

	CHECK_INT(url_parse_ipv4("10.0.0.1", 8, out, &odd), 0);
	CHECK_STR(out, "10.0.0.1");
	CHECK_INT(odd, 0);
	CHECK_INT(url_parse_ipv4("0x0A000001", 10, out, &odd), 0);
	CHECK_STR(out, "10.0.0.1");
	CHECK_INT(odd, 1);
	CHECK_INT(url_parse_ipv4("10.1", 4, out, &odd), 0);
	CHECK_STR(out, "10.0.0.1");
	CHECK_INT(url_parse_ipv4("1.2.3.256", 9, out, &odd), -1);
	CHECK_INT(url_parse_ipv4("08.1.1.1", 8, out, &odd), -1);	/* 8 is no octal digit */
	CHECK_INT(url_parse_ipv4("4294967296", 10, out, &odd), -1);
	CHECK_INT(url_parse_ipv4("", 0, out, &odd), -1);
}

static void
test_extract_text(void)
{
	const char *text = "Visit http://a.example.com/x, or (www.b.example.org/y). "
	    "Also hxxp://c.example[.]net/z! and <https://d.example/q?x=1>\n"
	    "dup http://a.example.com/x and foo.http://no.example/ and www.e.example";
	struct url_set set = { 0 };

	url_extract_text(text, strlen(text), &set);
	CHECK_INT(set.n, 5);
	if (set.n == 5) {
		CHECK_STR(set.v[0].norm, "http://a.example.com/x");
		CHECK_STR(set.v[1].norm, "http://www.b.example.org/y");
		CHECK_STR(set.v[2].norm, "http://c.example.net/z");
		CHECK_STR(set.v[3].norm, "https://d.example/q?x=1");
		CHECK_STR(set.v[4].norm, "http://www.e.example/");
	}
	url_set_free(&set);
}

static void
test_extract_limit(void)
{
	struct buf b;
	struct url_set set = { 0 };

	buf_init(&b, 4 * 1024 * 1024);
	for (int i = 0; i < URL_PER_MSG_MAX + 100; i++)
		buf_printf(&b, "http://h%d.example.com/ ", i);
	url_extract_text(b.data, b.len, &set);
	CHECK_INT(set.n, URL_PER_MSG_MAX);
	CHECK(set.flags & URL_SET_F_LIMIT, "limit flag not set");
	url_set_free(&set);
	buf_free(&b);
}

static void
test_candidate_limit(void)
{
	struct buf b;
	struct url_set set = { 0 };

	buf_init(&b, 4 * 1024 * 1024);
	for (int i = 0; i < URL_CANDIDATES_MAX + 10; i++)
		buf_append_str(&b, "http://same.example.com/ ");
	buf_append_str(&b, "http://late.example.com/");
	url_extract_text(b.data, b.len, &set);
	CHECK_INT(set.n, 1);	/* the candidates after the cap are not looked at */
	CHECK(set.flags & URL_SET_F_LIMIT, "limit flag not set");
	CHECK_INT(set.candidates, URL_CANDIDATES_MAX + 1);
	url_set_free(&set);
	buf_free(&b);
}

static void
test_text_host(void)
{
	char h[256];

	CHECK_INT(url_text_host(" PayPal.com ", 12, h, sizeof(h)), 1);
	CHECK_STR(h, "paypal.com");
	CHECK_INT(url_text_host("https://www.bank.example/login", 30, h, sizeof(h)), 1);
	CHECK_STR(h, "www.bank.example");
	CHECK_INT(url_text_host("www.bank.example/login", 22, h, sizeof(h)), 1);
	CHECK_STR(h, "www.bank.example");
	CHECK_INT(url_text_host("Click here", 10, h, sizeof(h)), 0);
	CHECK_INT(url_text_host("report.pdf", 10, h, sizeof(h)), 0);
	CHECK_INT(url_text_host("version 1.2", 11, h, sizeof(h)), 0);
	CHECK_INT(url_text_host("v1.2", 4, h, sizeof(h)), 0);
	CHECK_INT(url_text_host("user@example.com", 16, h, sizeof(h)), 0);
}

static void
test_message_links(void)
{
	const char *msg = "From: a@example.org\r\nSubject: t\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/html; charset=utf-8\r\n\r\n"
	    "<html><body><a href=\"http://evil.example.net/login\">www.paypal.com</a>"
	    "<p>see http://plain.example.org/</p></body></html>\r\n";
	struct mime_msg *m = mime_parse(msg, strlen(msg), NULL);
	struct url_set set = { 0 };
	int found_anchor = 0, found_plain = 0;

	url_extract_msg(m, &set);
	for (size_t i = 0; i < set.n; i++) {
		if (strcmp(set.v[i].norm, "http://evil.example.net/login") == 0)
			found_anchor = set.v[i].anchor != NULL &&
			    strcmp(set.v[i].anchor, "www.paypal.com") == 0;
		if (strcmp(set.v[i].norm, "http://plain.example.org/") == 0)
			found_plain = 1;
	}
	CHECK(found_anchor, "href with its anchor text not found (%zu urls)", set.n);
	CHECK(found_plain, "bare URL in the HTML text not found");
	url_set_free(&set);
	mime_msg_free(&m);
}

/* ---- url_check.c ---- */

static struct mg_dns_result *
table_lookup(void *ctx, const char *name, uint16_t type)
{
	struct mg_dns_result *r = mg_dns_result_new(name, type, MG_DNS_NXDOMAIN, NULL);

	(void)ctx;
	if (strcmp(name, "listed.example.uribl.test") == 0 && type == 1) {
		uint32_t a = htonl(0x7f000002);
		r->status = MG_DNS_OK;
		r->rr = xcalloc(1, sizeof(*r->rr));
		r->n = 1;
		r->rr[0].type = 1;
		r->rr[0].u.a.family = AF_INET;
		memcpy(r->rr[0].u.a.addr, &a, 4);
	}
	return r;
}

static int
has_sym(const struct filter_score *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->sym[i].name, name) == 0)
			return 1;
	return 0;
}

static struct mg_config *
test_config(void)
{
	const char *text = "config_version = 1\n"
	    "suspicious_tld = zip 1.5\n"
	    "uribl = uribl.test 4 127.0.0.2\n";
	struct mg_config *cfg = config_parse_text("test.conf", text, strlen(text), stderr);

	return cfg;
}

static void
test_checks(void)
{
	struct mg_config *cfg = test_config();
	const char *err = NULL;
	struct mg_psl *psl = mg_psl_new(NULL, &err);
	struct phish_feed *feed = phish_feed_new();
	const char *feedtext = "http://phish.example.com/login.php\n";
	struct mg_dns_lookup dns = { table_lookup, NULL };
	struct url_check_in in;
	struct url_set set = { 0 };
	struct filter_score score = { .n = 0 };

	CHECK(cfg != NULL, "config refused");
	CHECK(psl != NULL, "no PSL: %s", err ? err : "");
	if (cfg == NULL || psl == NULL)
		return;
	(void)phish_feed_parse(feed, feedtext, strlen(feedtext), NULL);
	in = (struct url_check_in){ .cfg = cfg, .psl = psl, .feed = feed, .dns = &dns };
	url_set_add(&set, "http://phish.example.com/login.php?session=1", 44, NULL, 0);
	url_set_add(&set, "http://tracker.example.net/c", 28, "www.mybank.example.org", URL_F_HTML);
	url_set_add(&set, "http://www.listed.example/", 26, NULL, 0);
	url_set_add(&set, "http://0x7f.1/", 14, NULL, 0);
	url_set_add(&set, "https://bit.ly/abc", 18, NULL, 0);
	url_set_add(&set, "http://files.example.zip/", 25, NULL, 0);
	url_check_set(&in, &set, &score);
	CHECK(has_sym(&score, "PHISH_URL"), "no PHISH_URL");
	CHECK(has_sym(&score, "PHISH_ANCHOR_MISMATCH"), "no PHISH_ANCHOR_MISMATCH");
	CHECK(has_sym(&score, "URIBL_URIBL_TEST"), "no URIBL_URIBL_TEST");
	CHECK(has_sym(&score, "URL_IP") && has_sym(&score, "URL_IP_OBFUSCATED"), "no URL_IP*");
	CHECK(has_sym(&score, "URL_SHORTENER"), "no URL_SHORTENER");
	CHECK(has_sym(&score, "SUSPICIOUS_TLD_ZIP"), "no SUSPICIOUS_TLD_ZIP");
	CHECK(!has_sym(&score, "URL_LIMIT"), "URL_LIMIT without a limit");
	set.flags |= URL_SET_F_LIMIT;
	memset(&score, 0, sizeof(score));
	url_check_set(&in, &set, &score);
	CHECK(has_sym(&score, "URL_LIMIT"), "no URL_LIMIT");
	set.flags = 0;

	/* every layer off: nothing */
	memset(&score, 0, sizeof(score));
	in.disabled = MG_LAYER_PHISHING | MG_LAYER_SUSPICIOUS_TLD | MG_LAYER_URIBL;
	url_check_set(&in, &set, &score);
	CHECK_INT(score.n, 0);

	/* same registered domain in anchor and href: no mismatch */
	url_set_free(&set);
	memset(&score, 0, sizeof(score));
	in.disabled = 0;
	url_set_add(&set, "https://click.shop.example.co.uk/x", 34, "www.shop.example.co.uk", 0);
	url_check_set(&in, &set, &score);
	CHECK(!has_sym(&score, "PHISH_ANCHOR_MISMATCH"), "mismatch on the same org domain");
	url_set_free(&set);
	phish_feed_unref(&feed);
	mg_psl_free(&psl);
	config_free(&cfg);
}

static const struct unit_case cases[] = {
	{ "normalise", test_normalise },
	{ "ipv4_forms", test_ipv4_forms },
	{ "extract_text", test_extract_text },
	{ "extract_limit", test_extract_limit },
	{ "candidate_limit", test_candidate_limit },
	{ "text_host", test_text_host },
	{ "message_links", test_message_links },
	{ "checks", test_checks },
};
UNIT_MAIN(cases)
