/* test_tlsrpt.c: unit tests for queue/tlsrpt.c (RFC 8460): aggregation per domain, policy and
 * failure detail with its limits, the state file round trip and its rejections, the §4.4 JSON
 * (read back with jansson), the §5.3 message (headers, MIME parts, §5.1 file name, base64 of a
 * gzip stream that inflates to the same JSON) and the rua mailto: extraction. */
#include "unit.h"

#include <jansson.h>
#include <zlib.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "queue/tlsrpt.h"

#define START 1700006400LL	/* 2023-11-15T00:00:00Z */
#define STS "version: STSv1\nmode: enforce\nmx: mx1.dest.test\nmx: *.backup.dest.test\nmax_age: 86400"

static void
add(struct tlsrpt_agg *a, const char *dom, const char *type, const char *pstr, const char *mx,
    int ok, const char *rt)
{
	struct tlsrpt_result r = { dom, type, pstr, mx, "127.0.0.1", "127.0.0.2", ok, ok ? "" : rt,
		ok ? "" : "why", "mailto:tlsrpt@dest.test" };

	CHECK_INT(tlsrpt_agg_add(a, &r), 0);
}

static void
fill(struct tlsrpt_agg *a)
{
	tlsrpt_agg_init(a, START, 86400);
	for (int i = 0; i < 5; i++)
		add(a, "Dest.TEST", "sts", STS, "mx1.dest.test", 1, NULL);
	for (int i = 0; i < 3; i++)
		add(a, "dest.test", "sts", STS, "mx2.backup.dest.test", 0, "certificate-expired");
	add(a, "dest.test", "tlsa", "3 1 1 AABB", "mx1.dest.test", 0, "tlsa-invalid");
	add(a, "other.test", "no-policy-found", "", "mx.other.test", 1, NULL);
}

static void
test_aggregate(void)
{
	struct tlsrpt_agg a;

	fill(&a);
	CHECK_INT(a.n_dom, 2);
	CHECK_STR(a.dom[0].domain, "dest.test");
	CHECK_INT(a.dom[0].n_pol, 2);
	CHECK_INT(a.dom[0].pol[0].success, 5);
	CHECK_INT(a.dom[0].pol[0].failure, 3);
	CHECK_INT(a.dom[0].pol[0].n_fail, 1);
	CHECK_INT(a.dom[0].pol[0].fail[0].count, 3);
	CHECK_STR(a.dom[0].pol[0].fail[0].mx_host, "mx2.backup.dest.test");
	CHECK_STR(a.dom[0].pol[1].mx_host, "mx1.dest.test");
	tlsrpt_agg_clear(&a);
}

static void
test_rejects_and_limits(void)
{
	struct tlsrpt_agg a;
	struct tlsrpt_result bad[] = {
		{ "", "sts", "", "", "", "", 1, "", "", "" },
		{ "d.test", "bogus", "", "", "", "", 1, "", "", "" },
		{ "d.test", "sts", "", "", "", "", 0, "", "", "" },	/* failure without a type */
		{ "d test", "sts", "", "", "", "", 1, "", "", "" },
	};
	char ip[32];

	tlsrpt_agg_init(&a, START, 60);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(tlsrpt_agg_add(&a, &bad[i]), -1);
	CHECK_INT(a.dropped, 4);
	/* more distinct failures than kept: all counted, TLSRPT_FAILURES_MAX detailed */
	for (int i = 0; i < TLSRPT_FAILURES_MAX + 10; i++) {
		struct tlsrpt_result r = { "d.test", "tlsa", "x", "mx", ip, "s", 0, "tlsa-invalid",
			"", "" };

		snprintf(ip, sizeof(ip), "192.0.2.%d", i);
		CHECK_INT(tlsrpt_agg_add(&a, &r), 0);
	}
	CHECK_INT(a.dom[0].pol[0].failure, TLSRPT_FAILURES_MAX + 10);
	CHECK_INT(a.dom[0].pol[0].n_fail, TLSRPT_FAILURES_MAX);
	/* control bytes are made '?' */
	{
		struct tlsrpt_result r = { "e.test", "tlsa", "x", "mx", "1", "s", 0, "a\001b\xff",
			"", "" };

		CHECK_INT(tlsrpt_agg_add(&a, &r), 0);
		CHECK_STR(a.dom[1].pol[0].fail[0].result_type, "a?b?");
	}
	tlsrpt_agg_clear(&a);
}

static void
test_state_round_trip(void)
{
	struct tlsrpt_agg a, b;
	struct buf t1, t2;
	const char *err = NULL;

	fill(&a);
	buf_init(&t1, 1 << 20);
	buf_init(&t2, 1 << 20);
	CHECK_INT(tlsrpt_state_format(&a, &t1), 0);
	CHECK_INT(tlsrpt_state_parse(buf_slice(&t1), &b, &err), 0);
	CHECK_INT(tlsrpt_state_format(&b, &t2), 0);
	CHECK(t1.len == t2.len && memcmp(t1.data, t2.data, t1.len) == 0, "round trip differs");
	CHECK_INT(b.start, START);
	tlsrpt_agg_clear(&a);
	tlsrpt_agg_clear(&b);
	buf_free(&t1);
	buf_free(&t2);
}

static const char *const bad_states[] = {
	"",
	"mailguard-tlsrpt 2\nperiod 1 1\n",
	"mailguard-tlsrpt 1\n",
	"mailguard-tlsrpt 1\nperiod 1 0\n",
	"mailguard-tlsrpt 1\nperiod 1 1\npolicy sts - - 1 1\n",		/* policy before domain */
	"mailguard-tlsrpt 1\nperiod 1 1\ndomain d.test -\nfailure a b c d 1 -\n",
	"mailguard-tlsrpt 1\nperiod 1 1\ndomain d.test -\npolicy nope - - 1 1\n",
	"mailguard-tlsrpt 1\nperiod 1 1\ndomain d.test -\npolicy sts - - -1 1\n",
	"mailguard-tlsrpt 1\nperiod 1 1\ndomain d.test -\ndomain d.test -\n",
	"mailguard-tlsrpt 1\nperiod 1 1\ndomain d.test -\npolicy sts - - 1 1\npolicy sts - - 1 1\n",
	"mailguard-tlsrpt 1\nperiod 1 1\ndomain d.test -\npolicy sts - - 1 1\nfailure - a b c 1 -\n",
	"mailguard-tlsrpt 1\nperiod 1 1\ndomain d.test -\npolicy sts - - 1 1\nfailure a b c d 1\n",
	"mailguard-tlsrpt 1\nperiod 1 1\nwhat\n",
	"mailguard-tlsrpt 1\nperiod 1 1\ndomain d.test -",
	"mailguard-tlsrpt 1\nperiod 1 1\ndomain d%00x -\n",
};

static void
test_state_rejects(void)
{
	for (size_t i = 0; i < sizeof(bad_states) / sizeof(bad_states[0]); i++) {
		struct tlsrpt_agg a;
		const char *err = NULL;
		int r = tlsrpt_state_parse(slice_from_str(bad_states[i]), &a, &err);

		CHECK(r == -1 && err != NULL, "case %zu: got %d, want -1", i, r);
		CHECK_INT(a.n_dom, 0);
	}
}

static json_t *
json_of(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, 0, &e);

	CHECK(j != NULL, "JSON does not parse: %s", e.text);
	return j;
}

static void
test_json(void)
{
	struct tlsrpt_agg a;
	struct tlsrpt_meta m = { "Org", "postmaster@mx.test", "mx.test", "postmaster@mx.test", START };
	struct buf out;
	char id[400];
	const char *err = NULL;
	json_t *j, *p0, *p1;

	fill(&a);
	buf_init(&out, 1 << 20);
	CHECK_INT(tlsrpt_report_json(&a, &a.dom[0], &m, &out, id, sizeof(id), &err), 0);
	j = json_of(out.data);
	if (j == NULL)
		return;
	CHECK_STR(json_string_value(json_object_get(j, "organization-name")), "Org");
	CHECK_STR(json_string_value(json_object_get(json_object_get(j, "date-range"),
	    "start-datetime")), "2023-11-15T00:00:00Z");
	CHECK_STR(json_string_value(json_object_get(json_object_get(j, "date-range"),
	    "end-datetime")), "2023-11-15T23:59:59Z");
	CHECK_STR(json_string_value(json_object_get(j, "report-id")), id);
	CHECK_INT(json_array_size(json_object_get(j, "policies")), 2);
	p0 = json_array_get(json_object_get(j, "policies"), 0);
	p1 = json_array_get(json_object_get(j, "policies"), 1);
	CHECK_STR(json_string_value(json_object_get(json_object_get(p0, "policy"), "policy-type")),
	    "sts");
	CHECK_INT(json_array_size(json_object_get(json_object_get(p0, "policy"), "policy-string")),
	    5);
	CHECK_STR(json_string_value(json_array_get(json_object_get(json_object_get(p0, "policy"),
	    "mx-host"), 1)), "*.backup.dest.test");
	CHECK_INT(json_integer_value(json_object_get(json_object_get(p0, "summary"),
	    "total-successful-session-count")), 5);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(p0, "summary"),
	    "total-failure-session-count")), 3);
	CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(p0,
	    "failure-details"), 0), "result-type")), "certificate-expired");
	CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(p0,
	    "failure-details"), 0), "receiving-ip")), "127.0.0.1");
	CHECK_STR(json_string_value(json_object_get(json_object_get(p1, "policy"), "policy-type")),
	    "tlsa");
	CHECK_STR(json_string_value(json_array_get(json_object_get(json_object_get(p1, "policy"),
	    "mx-host"), 0)), "mx1.dest.test");
	json_decref(j);
	/* no-policy-found: no policy-string; the MX it was about */
	buf_reset(&out);
	CHECK_INT(tlsrpt_report_json(&a, &a.dom[1], &m, &out, id, sizeof(id), &err), 0);
	if ((j = json_of(out.data)) != NULL) {
		json_t *pol = json_object_get(json_array_get(json_object_get(j, "policies"), 0),
		    "policy");

		CHECK_STR(json_string_value(json_object_get(pol, "policy-type")), "no-policy-found");
		CHECK(json_object_get(pol, "policy-string") == NULL, "policy-string present");
		CHECK_STR(json_string_value(json_object_get(pol, "policy-domain")), "other.test");
		CHECK_STR(json_string_value(json_array_get(json_object_get(pol, "mx-host"), 0)),
		    "mx.other.test");
		json_decref(j);
	}
	tlsrpt_agg_clear(&a);
	buf_free(&out);
}

static int
b64val(char c)
{
	const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = strchr(t, c);

	return c != '\0' && p ? (int)(p - t) : -1;
}

static void
test_message(void)
{
	struct tlsrpt_agg a;
	struct tlsrpt_meta m = { "Org", "postmaster@mx.test", "mx.test", "postmaster@mx.test", START };
	struct buf out, bin, json;
	char id[400], *p, *end, inflated[1 << 16];
	const char *err = NULL;
	unsigned acc = 0;
	int bits = 0;
	uLongf ilen = sizeof(inflated);
	z_stream z;

	fill(&a);
	buf_init(&out, 1 << 20);
	buf_init(&bin, 1 << 20);
	buf_init(&json, 1 << 20);
	CHECK_INT(tlsrpt_report_message(&a, &a.dom[0], &m, "tlsrpt@dest.test", &out, &err), 0);
	CHECK(strstr(out.data, "\r\nTLS-Report-Domain: dest.test\r\n") != NULL, "no TLS-Report-Domain");
	CHECK(strstr(out.data, "\r\nTLS-Report-Submitter: mx.test\r\n") != NULL, "no submitter");
	CHECK(strstr(out.data, "multipart/report; report-type=\"tlsrpt\"") != NULL, "content type");
	CHECK(strstr(out.data, "filename=\"mx.test!dest.test!1700006400!1700092799.json.gz\"") !=
	    NULL, "file name");
	for (p = out.data; (p = strchr(p, '\n')) != NULL; p++) {
		char *nl = strchr(p + 1, '\n');

		CHECK(nl == NULL || nl - p - 1 <= 998, "line over 998 octets");
		CHECK(p > out.data && p[-1] == '\r', "bare LF");
	}
	/* decode the attachment and inflate it */
	p = strstr(out.data, "Content-Type: application/tlsrpt+gzip");
	p = p ? strstr(p, "\r\n\r\n") : NULL;
	end = p ? strstr(p, "\r\n--") : NULL;
	CHECK(p && end, "no attachment");
	if (p == NULL || end == NULL)
		goto done;
	for (p += 4; p < end; p++) {
		int v = b64val(*p);

		if (v < 0)
			continue;
		acc = (acc << 6) | (unsigned)v;
		if ((bits += 6) >= 8) {
			bits -= 8;
			buf_append_char(&bin, (char)((acc >> bits) & 0xff));
		}
	}
	memset(&z, 0, sizeof(z));
	inflateInit2(&z, 15 + 16);
	z.next_in = (unsigned char *)bin.data;
	z.avail_in = (uInt)bin.len;
	z.next_out = (unsigned char *)inflated;
	z.avail_out = sizeof(inflated) - 1;
	CHECK_INT(inflate(&z, Z_FINISH), Z_STREAM_END);
	ilen = sizeof(inflated) - 1 - z.avail_out;
	inflateEnd(&z);
	inflated[ilen] = '\0';
	CHECK_INT(tlsrpt_report_json(&a, &a.dom[0], &m, &json, id, sizeof(id), &err), 0);
	CHECK_STR(inflated, json.data);
done:
	tlsrpt_agg_clear(&a);
	buf_free(&out);
	buf_free(&bin);
	buf_free(&json);
}

static char got_addrs[512];

static void
collect(const char *addr, void *arg)
{
	(void)arg;
	strncat(got_addrs, addr, sizeof(got_addrs) - strlen(got_addrs) - 2);
	strcat(got_addrs, "|");
}

static void
test_rua(void)
{
	size_t others;

	got_addrs[0] = '\0';
	CHECK_INT(tlsrpt_rua_mailto("mailto:a@x.test, https://r.x.test/v1,MAILTO:b%40y.test?s=1,"
	    "mailto:bad,mailto:c d@x.test , mailto:", collect, NULL, &others), 2);
	CHECK_STR(got_addrs, "a@x.test|b@y.test|");
	CHECK_INT(others, 4);
	got_addrs[0] = '\0';
	CHECK_INT(tlsrpt_rua_mailto("", collect, NULL, &others), 0);
	CHECK_INT(tlsrpt_rua_mailto("mailto:a@x.test ", collect, NULL, &others), 1);
}

/* https: rua URIs (RFC 8460 §3, §5.4): extraction from an rua value and the URL check. */
static void
test_rua_https(void)
{
	static const struct {
		const char *url;
		int ok;
	} urls[] = {
		{ "https://r.x.test/v1", 1 },
		{ "HTTPS://r.x.test:8443/v1?a=b", 1 },
		{ "https://[2001:db8::1]/r", 1 },
		{ "https://", 0 },
		{ "https:///path", 0 },
		{ "http://r.x.test/v1", 0 },
		{ "https://r.x.test/a b", 0 },
		{ "https://r.x.test/<x>", 0 },
		{ "https://r.x.test/\x01", 0 },
		{ "https://r.x.test/\xc3\xa9", 0 },
		{ "mailto:a@x.test", 0 },
	};
	char longurl[TLSRPT_URL_MAX + 2];

	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
		CHECK(tlsrpt_https_url_ok(urls[i].url, strlen(urls[i].url)) == urls[i].ok,
		    "%s: got %d, want %d", urls[i].url, !urls[i].ok, urls[i].ok);
	memset(longurl, 'a', sizeof(longurl) - 1);
	memcpy(longurl, "https://", 8);
	longurl[sizeof(longurl) - 1] = '\0';
	CHECK_INT(tlsrpt_https_url_ok(longurl, strlen(longurl)), 0);
	CHECK_INT(tlsrpt_https_url_ok(longurl, TLSRPT_URL_MAX), 1);
	got_addrs[0] = '\0';
	CHECK_INT(tlsrpt_rua_https("mailto:a@x.test, https://r.x.test/v1 ,http://no.test/,"
	    "https://r2.x.test/a b,HTTPS://r3.x.test", collect, NULL), 2);
	CHECK_STR(got_addrs, "https://r.x.test/v1|HTTPS://r3.x.test|");
	CHECK_INT(tlsrpt_rua_https("", collect, NULL), 0);
}

/* The https: body is the gzipped JSON of §4.4. */
static void
test_report_gzip(void)
{
	struct tlsrpt_agg a;
	struct tlsrpt_meta m = { "Org", "postmaster@mx.test", "mx.test", "postmaster@mx.test", START };
	struct buf gz, json;
	char id[400], inflated[1 << 16];
	const char *err = NULL;
	z_stream z;

	fill(&a);
	buf_init(&gz, 1 << 20);
	buf_init(&json, 1 << 20);
	CHECK_INT(tlsrpt_report_gzip(&a, &a.dom[0], &m, &gz, &err), 0);
	CHECK_INT(tlsrpt_report_json(&a, &a.dom[0], &m, &json, id, sizeof(id), &err), 0);
	memset(&z, 0, sizeof(z));
	inflateInit2(&z, 15 + 16);
	z.next_in = (unsigned char *)gz.data;
	z.avail_in = (uInt)gz.len;
	z.next_out = (unsigned char *)inflated;
	z.avail_out = sizeof(inflated) - 1;
	CHECK_INT(inflate(&z, Z_FINISH), Z_STREAM_END);
	inflated[sizeof(inflated) - 1 - z.avail_out] = '\0';
	inflateEnd(&z);
	CHECK_STR(inflated, json.data);
	/* a buffer too small for the report: an error, not a truncated body */
	buf_free(&gz);
	buf_init(&gz, 16);
	CHECK_INT(tlsrpt_report_gzip(&a, &a.dom[0], &m, &gz, &err), -1);
	tlsrpt_agg_clear(&a);
	buf_free(&gz);
	buf_free(&json);
}

static const struct unit_case cases[] = {
	{ "aggregate per domain, policy and failure", test_aggregate },
	{ "invalid results dropped, limits hold", test_rejects_and_limits },
	{ "state file round trip", test_state_round_trip },
	{ "state file malformations rejected", test_state_rejects },
	{ "RFC 8460 section 4.4 JSON", test_json },
	{ "RFC 8460 section 5.3 message with gzip attachment", test_message },
	{ "rua mailto extraction", test_rua },
	{ "rua https extraction and URL check", test_rua_https },
	{ "https report body is the gzipped JSON", test_report_gzip },
};

UNIT_MAIN(cases)
