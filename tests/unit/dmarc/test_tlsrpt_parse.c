/* Unit tests for dmarc/tlsrpt_extract.c and dmarc/tlsrpt_parse.c: the RFC 8460 appendix B
 * example field by field, every TLS-RPT sample of the corpora, gzip and double gzip, a MIME
 * message with an application/tlsrpt+gzip attachment, each refusal reason (size, depth,
 * duplicate key, schema, values, policy and failure caps, gzip bomb by ratio and by size,
 * triple gzip), tolerated quirks, and RFC 3339 dates. */
#include <stdlib.h>

#include "unit.h"

#include "report_testlib.h"

#include "dmarc/tlsrpt_in.h"

/* RFC 8460 appendix B (mx-host as a list, as in the corrected schema). */
static const char RFC[] =
    "{\"organization-name\":\"Company-X\",\"date-range\":{\"start-datetime\":"
    "\"2016-04-01T00:00:00Z\",\"end-datetime\":\"2016-04-01T23:59:59Z\"},"
    "\"contact-info\":\"sts-reporting@company-x.example\","
    "\"report-id\":\"5065427c-23d3-47ca-b6e0-946ea0e8c4be\",\"policies\":[{\"policy\":{"
    "\"policy-type\":\"sts\",\"policy-string\":[\"version: STSv1\",\"mode: testing\","
    "\"mx: *.mail.company-y.example\",\"max_age: 86400\"],\"policy-domain\":"
    "\"company-y.example\",\"mx-host\":[\"*.mail.company-y.example\"]},\"summary\":{"
    "\"total-successful-session-count\":5326,\"total-failure-session-count\":303},"
    "\"failure-details\":[{\"result-type\":\"certificate-expired\",\"sending-mta-ip\":"
    "\"2001:db8:abcd:0012::1\",\"receiving-mx-hostname\":\"mx1.mail.company-y.example\","
    "\"failed-session-count\":100},{\"result-type\":\"starttls-not-supported\","
    "\"sending-mta-ip\":\"2001:db8:abcd:0013::1\",\"receiving-mx-hostname\":"
    "\"mx2.mail.company-y.example\",\"receiving-ip\":\"203.0.113.56\","
    "\"failed-session-count\":200,\"additional-information\":"
    "\"https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported\"},"
    "{\"result-type\":\"validation-failure\",\"sending-mta-ip\":\"198.51.100.62\","
    "\"receiving-ip\":\"203.0.113.58\",\"receiving-mx-hostname\":"
    "\"mx-backup.mail.company-y.example\",\"failed-session-count\":3,"
    "\"failure-reason-code\":\"X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED\"}]}]}";

static struct mg_tlsrpt *
parse(const char *s, struct mg_tlsrpt_err *e)
{
	memset(e, 0, sizeof(*e));
	return mg_tlsrpt_parse_json(s, strlen(s), NULL, e);
}

static void
test_rfc_example(void)
{
	struct mg_tlsrpt_err e;
	struct mg_tlsrpt *r = parse(RFC, &e);
	char id[MG_TLSRPT_IDENTITY_MAX];

	CHECK(r != NULL, "refused: %s %s", mg_tlsrpt_reason_name(e.reason), e.text);
	if (r == NULL)
		return;
	CHECK_STR(r->org, "Company-X");
	CHECK_STR(r->contact, "sts-reporting@company-x.example");
	CHECK_STR(r->report_id, "5065427c-23d3-47ca-b6e0-946ea0e8c4be");
	CHECK_INT(r->begin, 1459468800);
	CHECK_INT(r->end, 1459555199);
	CHECK_INT(r->n_policies, 1);
	CHECK_INT(r->successful, 5326);
	CHECK_INT(r->failed, 303);
	CHECK_INT(r->n_failures, 3);
	CHECK_INT(r->quirks, 0);
	CHECK_INT(r->policies[0].type, MG_TLSRPT_P_STS);
	CHECK_STR(r->policies[0].domain, "company-y.example");
	CHECK_INT(r->policies[0].n_strings, 4);
	CHECK_STR(r->policies[0].strings[2], "mx: *.mail.company-y.example");
	CHECK_INT(r->policies[0].n_mx_hosts, 1);
	CHECK_STR(r->policies[0].failures[0].result_type, "certificate-expired");
	CHECK_STR(r->policies[0].failures[0].sending_mta_ip, "2001:db8:abcd:12::1");
	CHECK_STR(r->policies[0].failures[0].receiving_ip, "");
	CHECK_INT(r->policies[0].failures[0].failed, 100);
	CHECK_STR(r->policies[0].failures[1].receiving_ip, "203.0.113.56");
	CHECK(strncmp(r->policies[0].failures[1].additional_information, "https://", 8) == 0,
	    "additional-information");
	CHECK_STR(r->policies[0].failures[2].failure_reason_code,
	    "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED");
	CHECK_STR(r->policies[0].failures[2].receiving_mx_hostname,
	    "mx-backup.mail.company-y.example");
	CHECK_INT(mg_tlsrpt_identity(r, id, sizeof(id)), 0);
	CHECK_STR(id, "company-x|5065427c-23d3-47ca-b6e0-946ea0e8c4be");
	mg_tlsrpt_free(&r);
	CHECK(r == NULL, "free NULLs");
}

/* Every TLS-RPT sample in the corpora parses, with its policy and session totals. */
static void
test_corpora(void)
{
	static const struct {
		const char *path;
		size_t policies;
		unsigned long long ok, fail;
		size_t failures;
		const char *domain;
	} c[] = {
		{ "dmarc-reports/parsedmarc/samples/smtp_tls/rfc8460.json", 1, 5326, 303, 3,
		  "company-y.example" },
		{ "dmarc-reports/parsedmarc/samples/smtp_tls/smtp_tls.json", 1, 0, 3, 2,
		  "example.com" },
		{ "dmarc-reports/parsedmarc/samples/smtp_tls/mail.ru.json", 1, 0, 1, 2,
		  "example.com" },
		{ "dmarc-reports/parsedmarc/samples/smtp_tls/google.com_smtp_tls_report.eml", 1, 48,
		  0, 0, "cardinalhealth.ca" },
		{ "dmarc-reports/cry-inc/testdata/smtp-tls-reports/rfc-example.json", 1, 5326, 303,
		  3, "company-y.example" },
		{ "dmarc-reports/cry-inc/testdata/smtp-tls-reports/google.json", 1, 1, 0, 0,
		  "foo-bar.io" },
		{ "dmarc-reports/cry-inc/testdata/smtp-tls-reports/microsoft.json", 2, 4, 0, 0,
		  "random.net" },
		{ "dmarc-reports/cry-inc/testdata/smtp-tls-reports/no-contact.json", 1, 1, 0, 0,
		  "server.com" },
		{ "dmarc-reports/cry-inc/testdata/smtp-tls-reports/no-policy.json", 1, 1, 0, 0,
		  "foo-bar.io" },
		{ "dmarc-reports/cry-inc/testdata/smtp-tls-reports/no_ip_and_mx.json", 1, 0, 3, 1,
		  "xxxxxxxx.xx" },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct mg_tlsrpt_blobs b = { 0 };
		struct mg_tlsrpt_err e = { 0 };
		struct mg_tlsrpt *r;
		size_t len;
		char *data = rt_read(c[i].path, 1, &len);

		CHECK(data != NULL, "%s unreadable", c[i].path);
		if (data == NULL)
			continue;
		CHECK(mg_tlsrpt_extract(data, len, NULL, &b, &e) == 0 && b.n == 1,
		    "%s: extract: %s", c[i].path, e.text);
		r = b.n == 1 ? mg_tlsrpt_parse_json(b.v[0].data, b.v[0].len, NULL, &e) : NULL;
		CHECK(r != NULL, "%s: %s %s", c[i].path, mg_tlsrpt_reason_name(e.reason), e.text);
		if (r != NULL) {
			CHECK(r->n_policies == c[i].policies && r->successful == c[i].ok &&
			    r->failed == c[i].fail && r->n_failures == c[i].failures,
			    "%s: got %zu/%llu/%llu/%zu", c[i].path, r->n_policies, r->successful,
			    r->failed, r->n_failures);
			CHECK_STR(r->policies[0].domain, c[i].domain);
		}
		mg_tlsrpt_free(&r);
		mg_tlsrpt_blobs_free(&b);
		xfree(data);
	}
}

/* gzip, double gzip and a MIME message (RFC 8460 §5.3 shape) give the same report. */
static void
test_containers(void)
{
	struct buf gz, gz2, msg;
	const char *inputs[3];
	size_t lens[3];

	buf_init(&gz, 1 << 20);
	buf_init(&gz2, 1 << 20);
	buf_init(&msg, 1 << 20);
	rt_gzip(RFC, strlen(RFC), 1, &gz);
	rt_gzip(gz.data, gz.len, 1, &gz2);
	(void)buf_append_str(&msg, "From: tlsrpt@company-x.example\r\nTo: tls@company-y.example\r\n"
	    "Subject: Report Domain: company-y.example\r\nTLS-Report-Domain: company-y.example\r\n"
	    "TLS-Report-Submitter: company-x.example\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"b1\"\r\n\r\n"
	    "--b1\r\nContent-Type: text/plain\r\n\r\nThis is an aggregate TLS report.\r\n"
	    "--b1\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment; filename=\"x!y!1!2.json.gz\"\r\n\r\n");
	{
		static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789+/";
		const unsigned char *p = (const unsigned char *)gz.data;

		for (size_t i = 0; i < gz.len; i += 3) {
			unsigned v = p[i] << 16 | (i + 1 < gz.len ? p[i + 1] << 8 : 0) |
			    (i + 2 < gz.len ? p[i + 2] : 0);
			char q[4] = { b64[v >> 18 & 63], b64[v >> 12 & 63],
			    i + 1 < gz.len ? b64[v >> 6 & 63] : '=', i + 2 < gz.len ? b64[v & 63] : '=' };

			(void)buf_append(&msg, q, 4);
			if (i % 57 == 54)
				(void)buf_append_str(&msg, "\r\n");
		}
	}
	(void)buf_append_str(&msg, "\r\n--b1--\r\n");
	inputs[0] = gz.data;
	lens[0] = gz.len;
	inputs[1] = gz2.data;
	lens[1] = gz2.len;
	inputs[2] = msg.data;
	lens[2] = msg.len;
	for (int i = 0; i < 3; i++) {
		struct mg_tlsrpt_blobs b = { 0 };
		struct mg_tlsrpt_err e = { 0 };
		struct mg_tlsrpt *r = NULL;

		CHECK(mg_tlsrpt_extract(inputs[i], lens[i], NULL, &b, &e) == 0 && b.n == 1,
		    "input %d: %s", i, e.text);
		if (b.n == 1) {
			CHECK_INT(b.v[0].gzipped, 1);
			CHECK_INT(b.v[0].len, strlen(RFC));
			r = mg_tlsrpt_parse_json(b.v[0].data, b.v[0].len, NULL, &e);
		}
		CHECK(r != NULL && r->failed == 303 && r->n_failures == 3, "input %d parsed", i);
		mg_tlsrpt_free(&r);
		mg_tlsrpt_blobs_free(&b);
	}
	buf_free(&gz);
	buf_free(&gz2);
	buf_free(&msg);
}

/* Replaces the first occurrence of from in RFC by to. */
static char *
variant(const char *from, const char *to)
{
	const char *p = strstr(RFC, from);
	struct buf b;

	if (p == NULL)
		abort();
	buf_init(&b, 1 << 20);
	(void)buf_append(&b, RFC, (size_t)(p - RFC));
	(void)buf_append_str(&b, to);
	(void)buf_append_str(&b, p + strlen(from));
	return buf_steal(&b);
}

/* parse() of the RFC example with from replaced by to (the report keeps no pointer into it). */
static struct mg_tlsrpt *
parse_variant(const char *from, const char *to, struct mg_tlsrpt_err *e)
{
	char *s = variant(from, to);
	struct mg_tlsrpt *r = parse(s, e);

	xfree(s);
	return r;
}

static void
test_refusals(void)
{
	static const struct {
		const char *name, *from, *to;
		enum mg_tlsrpt_reason want;
	} c[] = {
		{ "duplicate key", "\"contact-info\"", "\"report-id\":\"x\",\"contact-info\"",
		  MG_TLSRPT_E_JSON },
		{ "trailing garbage", "}]}]}", "}]}]}x", MG_TLSRPT_E_JSON },
		{ "NUL escape", "Company-X", "Comp\\u0000any", MG_TLSRPT_E_JSON },
		{ "huge integer", "5326", "99999999999999999999999", MG_TLSRPT_E_JSON },
		{ "count over cap", "5326", "1000000000001", MG_TLSRPT_E_VALUE },
		{ "negative count", "5326", "-1", MG_TLSRPT_E_VALUE },
		{ "fractional count", "5326", "5.5", MG_TLSRPT_E_VALUE },
		{ "count as object", "5326", "{}", MG_TLSRPT_E_SCHEMA },
		{ "no org", "\"organization-name\"", "\"org\"", MG_TLSRPT_E_SCHEMA },
		{ "no report-id", "\"report-id\"", "\"rid\"", MG_TLSRPT_E_SCHEMA },
		{ "empty report-id", "5065427c-23d3-47ca-b6e0-946ea0e8c4be\",\"policies",
		  "\",\"policies", MG_TLSRPT_E_VALUE },
		{ "no date-range", "\"date-range\"", "\"dr\"", MG_TLSRPT_E_SCHEMA },
		{ "bad date", "2016-04-01T00:00:00Z", "2016-04-31T00:00:00Z", MG_TLSRPT_E_VALUE },
		{ "date no zone", "2016-04-01T00:00:00Z", "2016-04-01T00:00:00", MG_TLSRPT_E_VALUE },
		{ "date as number", "\"2016-04-01T00:00:00Z\"", "1459468800", MG_TLSRPT_E_SCHEMA },
		{ "end before start", "2016-04-01T23:59:59Z", "2016-03-01T23:59:59Z",
		  MG_TLSRPT_E_VALUE },
		{ "no policies", "\"policies\"", "\"p\"", MG_TLSRPT_E_SCHEMA },
		{ "policy-type unknown", "\"sts\"", "\"dane\"", MG_TLSRPT_E_VALUE },
		{ "no policy-domain", "\"policy-domain\"", "\"pd\"", MG_TLSRPT_E_SCHEMA },
		{ "bad policy-domain", "company-y.example\",\"mx", "a..b\",\"mx", MG_TLSRPT_E_VALUE },
		{ "no summary", "\"summary\"", "\"s\"", MG_TLSRPT_E_SCHEMA },
		{ "no failure count", "\"failed-session-count\":100", "\"f\":1",
		  MG_TLSRPT_E_SCHEMA },
		{ "bad sending ip", "2001:db8:abcd:0012::1", "2001:db8::zz", MG_TLSRPT_E_VALUE },
		{ "no result-type", "\"result-type\":\"certificate-expired\",", "",
		  MG_TLSRPT_E_SCHEMA },
		{ "policies not a list", "\"policies\":[", "\"policies\":\"x\",\"y\":[",
		  MG_TLSRPT_E_SCHEMA },
		{ "top-level array", "{\"organization-name\"", "[{\"organization-name\"",
		  MG_TLSRPT_E_JSON },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct mg_tlsrpt_err e;
		struct mg_tlsrpt *r = parse_variant(c[i].from, c[i].to, &e);

		CHECK(r == NULL && e.reason == c[i].want, "%s: got %s (%s), want %s", c[i].name,
		    r == NULL ? mg_tlsrpt_reason_name(e.reason) : "accepted", e.text,
		    mg_tlsrpt_reason_name(c[i].want));
		CHECK(r != NULL || e.text[0] != '\0', "%s: no text", c[i].name);
		mg_tlsrpt_free(&r);
	}
}

/* Deep nesting (the pre-scan, before jansson recurses), too many policies and failures, and
 * an overlong identifier. */
static void
test_caps(void)
{
	struct mg_tlsrpt_err e;
	struct mg_tlsrpt *r;
	struct buf b;

	buf_init(&b, 64 << 20);
	for (int i = 0; i < 100000; i++)
		(void)buf_append_char(&b, '[');
	r = parse(b.data, &e);
	CHECK(r == NULL && e.reason == MG_TLSRPT_E_DEPTH, "deep: %s", e.text);
	/* brackets inside strings do not count */
	buf_reset(&b);
	(void)buf_append(&b, RFC, strlen(RFC) - 1);
	(void)buf_append_str(&b, ",\"x\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[\"}");
	r = parse(b.data, &e);
	CHECK(r != NULL, "brackets in strings: %s", e.text);
	mg_tlsrpt_free(&r);

	buf_reset(&b);
	(void)buf_append_str(&b, "{\"organization-name\":\"o\",\"date-range\":{\"start-datetime\":"
	    "\"2016-04-01T00:00:00Z\",\"end-datetime\":\"2016-04-01T23:59:59Z\"},\"report-id\":"
	    "\"r\",\"policies\":[");
	for (int i = 0; i < 1001; i++)
		(void)buf_printf(&b, "%s{\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":"
		    "\"d%d.example\"},\"summary\":{\"total-successful-session-count\":1,"
		    "\"total-failure-session-count\":0}}", i ? "," : "", i);
	(void)buf_append_str(&b, "]}");
	r = parse(b.data, &e);
	CHECK(r == NULL && e.reason == MG_TLSRPT_E_POLICIES, "1001 policies: %s", e.text);

	buf_reset(&b);
	(void)buf_append(&b, RFC, strstr(RFC, "\"failure-details\":[") - RFC);
	(void)buf_append_str(&b, "\"failure-details\":[");
	for (int i = 0; i < 10001; i++)
		(void)buf_printf(&b, "%s{\"result-type\":\"x\",\"failed-session-count\":1}",
		    i ? "," : "");
	(void)buf_append_str(&b, "]}]}");
	r = parse(b.data, &e);
	CHECK(r == NULL && e.reason == MG_TLSRPT_E_FAILURES, "10001 failures: %s", e.text);

	buf_reset(&b);
	for (int i = 0; i < 300; i++)
		(void)buf_append_char(&b, 'a');
	r = parse_variant("5065427c-23d3-47ca-b6e0-946ea0e8c4be", b.data, &e);
	CHECK(r == NULL && e.reason == MG_TLSRPT_E_VALUE, "long report-id: %s", e.text);
	/* overlong free text is cut, on a UTF-8 boundary */
	buf_reset(&b);
	for (int i = 0; i < 200; i++)
		(void)buf_append_str(&b, "\xc3\xa9");
	r = parse_variant("X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED", b.data, &e);
	CHECK(r != NULL && (r->quirks & MG_TLSRPT_Q_TRUNCATED), "long reason: %s", e.text);
	if (r != NULL)
		CHECK_INT(strlen(r->policies[0].failures[2].failure_reason_code), 254);
	mg_tlsrpt_free(&r);
	/* over json_max */
	{
		struct mg_tlsrpt_limits l;

		mg_tlsrpt_limits_default(&l);
		l.json_max = 100;
		memset(&e, 0, sizeof(e));
		r = mg_tlsrpt_parse_json(RFC, strlen(RFC), &l, &e);
		CHECK(r == NULL && e.reason == MG_TLSRPT_E_SIZE, "size: %s", e.text);
	}
	buf_free(&b);
}

/* Quirks seen in the wild are accepted and flagged. */
static void
test_quirks(void)
{
	static const struct {
		const char *name, *from, *to;
		unsigned quirk;
	} c[] = {
		{ "count as string", "5326", "\"5326\"", MG_TLSRPT_Q_STR_COUNT },
		{ "count as real", "5326", "5326.0", MG_TLSRPT_Q_REAL_COUNT },
		{ "upper-case type", "\"sts\"", "\"STS\"", MG_TLSRPT_Q_CASE },
		{ "upper-case result", "certificate-expired", "Certificate-Expired",
		  MG_TLSRPT_Q_CASE },
		{ "contact null", "\"sts-reporting@company-x.example\"", "null",
		  MG_TLSRPT_Q_NO_CONTACT },
		{ "mx-host string", "[\"*.mail.company-y.example\"]", "\"*.mail.company-y.example\"",
		  MG_TLSRPT_Q_MX_STRING },
		{ "lowercase t", "2016-04-01T00:00:00Z", "2016-04-01t00:00:00Z",
		  MG_TLSRPT_Q_TIME_FORM },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct mg_tlsrpt_err e;
		struct mg_tlsrpt *r = parse_variant(c[i].from, c[i].to, &e);

		CHECK(r != NULL && (r->quirks & c[i].quirk), "%s: %s", c[i].name, e.text);
		if (r != NULL) {
			CHECK_INT(r->successful, 5326);
			CHECK_INT(r->begin, 1459468800);
			CHECK_INT(r->policies[0].type, MG_TLSRPT_P_STS);
		}
		mg_tlsrpt_free(&r);
	}
}

static void
test_times(void)
{
	static const struct {
		const char *s;
		long long want;	/* -1: refused */
	} c[] = {
		{ "2016-04-01T00:00:00Z", 1459468800 },
		{ "2016-04-01T00:00:00.123456Z", 1459468800 },
		{ "2016-04-01T02:00:00+02:00", 1459468800 },
		{ "2016-03-31T19:00:00-05:00", 1459468800 },
		{ "2016-04-01 00:00:00Z", 1459468800 },
		{ "2016-02-29T00:00:00Z", 1456704000 },
		{ "2015-02-29T00:00:00Z", -1 },
		{ "2016-13-01T00:00:00Z", -1 },
		{ "2016-04-01T24:00:00Z", -1 },
		{ "2016-04-01T00:00:00.Z", -1 },
		{ "2016-04-01T00:00:00+2:00", -1 },
		{ "1969-12-31T23:59:59Z", -1 },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "9999-12-31T23:59:59Z", 253402300799 },
		{ "2016-04-01", -1 },
		{ "", -1 },
		{ "2016-04-01T00:00:00Zjunk", -1 },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		long long t = -1;
		int rc = mg_tlsrpt_time_parse(c[i].s, &t, NULL);

		CHECK((c[i].want < 0 && rc < 0) || (rc == 0 && t == c[i].want),
		    "\"%s\": got rc %d t %lld, want %lld", c[i].s, rc, t, c[i].want);
	}
}

/* gzip bombs: ratio cap (zeros compress ~1000:1) and absolute cap, within bounded memory;
 * gzip three levels deep; not a report at all. */
static void
test_bombs(void)
{
	struct mg_tlsrpt_blobs b = { 0 };
	struct mg_tlsrpt_err e = { 0 };
	struct buf gz, gz2, gz3;
	char *zeros = xcalloc(1, 1 << 20);

	buf_init(&gz, 64 << 20);
	buf_init(&gz2, 64 << 20);
	buf_init(&gz3, 64 << 20);
	zeros[0] = '{';
	rt_gzip(zeros, 1 << 20, 64, &gz);	/* 64 MiB of '{' and NULs */
	CHECK(mg_tlsrpt_extract(gz.data, gz.len, NULL, &b, &e) < 0 &&
	    e.reason == MG_TLSRPT_E_RATIO, "ratio bomb: %s %s", mg_tlsrpt_reason_name(e.reason),
	    e.text);
	mg_tlsrpt_blobs_free(&b);
	{
		struct mg_tlsrpt_limits l;

		mg_tlsrpt_limits_default(&l);
		l.ratio_max = 100000;
		memset(&e, 0, sizeof(e));
		CHECK(mg_tlsrpt_extract(gz.data, gz.len, &l, &b, &e) < 0 &&
		    e.reason == MG_TLSRPT_E_SIZE, "size bomb: %s", e.text);
		mg_tlsrpt_blobs_free(&b);
	}
	buf_reset(&gz);
	rt_gzip(RFC, strlen(RFC), 1, &gz);
	rt_gzip(gz.data, gz.len, 1, &gz2);
	rt_gzip(gz2.data, gz2.len, 1, &gz3);
	memset(&e, 0, sizeof(e));
	CHECK(mg_tlsrpt_extract(gz3.data, gz3.len, NULL, &b, &e) < 0 &&
	    e.reason == MG_TLSRPT_E_NESTING, "triple gzip: %s", e.text);
	mg_tlsrpt_blobs_free(&b);
	memset(&e, 0, sizeof(e));
	CHECK(mg_tlsrpt_extract(gz.data, gz.len - 10, NULL, &b, &e) < 0 &&
	    e.reason == MG_TLSRPT_E_CONTAINER, "truncated gzip: %s", e.text);
	mg_tlsrpt_blobs_free(&b);
	memset(&e, 0, sizeof(e));
	CHECK(mg_tlsrpt_extract("Subject: hi\r\n\r\nhello\r\n", 22, NULL, &b, &e) < 0 &&
	    e.reason == MG_TLSRPT_E_NO_REPORT, "plain mail: %s", e.text);
	CHECK_STR(e.text, "no JSON or gzip part in the message");
	mg_tlsrpt_blobs_free(&b);
	/* a DMARC report (XML) is not a TLS report */
	memset(&e, 0, sizeof(e));
	CHECK(mg_tlsrpt_extract("<?xml version=\"1.0\"?><feedback/>", 32, NULL, &b, &e) < 0 &&
	    e.reason == MG_TLSRPT_E_NO_REPORT && b.n == 0, "xml: %s", e.text);
	mg_tlsrpt_blobs_free(&b);
	buf_free(&gz);
	buf_free(&gz2);
	buf_free(&gz3);
	xfree(zeros);
}

static const struct unit_case cases[] = {
	{ "rfc_example", test_rfc_example },
	{ "corpora", test_corpora },
	{ "containers", test_containers },
	{ "refusals", test_refusals },
	{ "caps", test_caps },
	{ "quirks", test_quirks },
	{ "times", test_times },
	{ "bombs", test_bombs },
};

UNIT_MAIN(cases)
