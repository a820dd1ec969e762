/* test_qlink.c: admin/qlink_parse.c: the parsers of `quarantine show|search --json` (accepted
 * replies, every refused shape, caps), recipient matching, address domains, queue-id checks and
 * the percent-encoding of search words. */
#include "unit.h"

#include "admin/qlink.h"
#include "lib/buf.h"

#define MSG "{\"qid\":\"0123456789abcdef\",\"arrival\":1700000000,\"size\":12,\"score\":7.5," \
	"\"sender\":\"a@b.test\",\"subject\":\"hi \\u003cb\\u003e\",\"symbols\":\"X(1.00)\"," \
	"\"rcpt_count\":3,\"rcpts\":[\"User@Example.test\",\"x@y.test\"]}"

static void
test_show_ok(void)
{
	static const char text[] = "{\"message\":" MSG ",\"client_addr\":\"127.0.0.1\","
	    "\"helo\":\"c.test\",\"headers\":[[\"From\",\"<a@b.test>\"],[\"Subject\",\"hi\"]],"
	    "\"preview\":\"line 1\\nline 2\\n\",\"future\":1}\n";
	struct qv_msg m;
	const char *err = NULL;

	CHECK_INT(qv_show_parse(text, sizeof(text) - 1, &m, &err), 0);
	CHECK_STR(m.qid, "0123456789abcdef");
	CHECK_INT(m.arrival, 1700000000);
	CHECK(m.score == 7.5, "score: got %g, want 7.5", m.score);
	CHECK_STR(m.subject, "hi <b>");
	CHECK_INT(m.n_rcpts, 2);
	CHECK_INT(m.rcpt_count, 3);
	CHECK_INT(m.n_headers, 2);
	CHECK_STR(m.hnames[1], "Subject");
	CHECK_STR(m.preview, "line 1\nline 2\n");
	CHECK_STR(m.helo, "c.test");
	CHECK_INT(qv_msg_has_rcpt(&m, "user@example.TEST"), 1);
	CHECK_INT(qv_msg_has_rcpt(&m, "user@example.tes"), 0);
	qv_msg_clear(&m);
}

static void
test_show_refused(void)
{
	static const char *const bad[] = {
		"", "[]", "{}", "{\"message\":1}", "not json",
		"{\"message\":{\"qid\":\"0123\",\"arrival\":1,\"size\":1,\"score\":1,\"sender\":\"\","
		    "\"subject\":\"\",\"rcpt_count\":0,\"rcpts\":[]}}",			/* short qid */
		"{\"message\":{\"qid\":\"0123456789ABCDEF\",\"arrival\":1,\"size\":1,\"score\":1,"
		    "\"sender\":\"\",\"subject\":\"\",\"rcpt_count\":0,\"rcpts\":[]}}",	/* upper */
		"{\"message\":{\"qid\":\"0123456789abcdef\",\"arrival\":-1,\"size\":1,\"score\":1,"
		    "\"sender\":\"\",\"subject\":\"\",\"rcpt_count\":0,\"rcpts\":[]}}",	/* arrival */
		"{\"message\":{\"qid\":\"0123456789abcdef\",\"arrival\":1,\"size\":1,\"score\":\"1\","
		    "\"sender\":\"\",\"subject\":\"\",\"rcpt_count\":0,\"rcpts\":[]}}",	/* score */
		"{\"message\":{\"qid\":\"0123456789abcdef\",\"arrival\":1,\"size\":1,\"score\":1,"
		    "\"sender\":\"a\\u0000b\",\"subject\":\"\",\"rcpt_count\":0,\"rcpts\":[]}}", /* NUL */
		"{\"message\":{\"qid\":\"0123456789abcdef\",\"arrival\":1,\"size\":1,\"score\":1,"
		    "\"sender\":\"\",\"subject\":\"\",\"rcpt_count\":0,\"rcpts\":[1]}}",	/* rcpt */
		"{\"message\":" MSG ",\"headers\":[[\"a\"]]}",				/* pair */
		"{\"message\":" MSG ",\"headers\":{}}",
		"{\"message\":" MSG ",\"preview\":7}",
		"{\"message\":" MSG ",\"message\":" MSG "}",				/* duplicate */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct qv_msg m;
		const char *err = NULL;
		int rc = qv_show_parse(bad[i], strlen(bad[i]), &m, &err);

		CHECK(rc == -1 && err != NULL && m.sender == NULL && m.rcpts == NULL,
		    "case %zu: got %d, want -1 and an empty result", i, rc);
		qv_msg_clear(&m);
	}
}

static void
test_list(void)
{
	static const char ok[] = "{\"total\":5,\"offset\":2,\"limit\":2,\"messages\":[" MSG ","
	    MSG "]}\n";
	static const char bad[] = "{\"total\":5,\"offset\":2,\"limit\":2,\"messages\":[" MSG ",3]}";
	struct qv_list l;
	const char *err;
	struct buf big;

	CHECK_INT(qv_list_parse(ok, sizeof(ok) - 1, &l, &err), 0);
	CHECK_INT(l.n, 2);
	CHECK_INT(l.total, 5);
	CHECK_STR(l.msgs[1].sender, "a@b.test");
	CHECK_STR(l.msgs[1].preview, "");
	qv_list_free(&l);
	CHECK_INT(qv_list_parse(bad, sizeof(bad) - 1, &l, &err), -1);
	CHECK(l.msgs == NULL && l.n == 0, "refused list not empty");
	/* over QV_MSGS_MAX messages */
	buf_init(&big, 64u * 1024 * 1024);
	buf_append_str(&big, "{\"total\":1,\"offset\":0,\"limit\":1,\"messages\":[");
	for (int i = 0; i <= QV_MSGS_MAX; i++)
		buf_append_str(&big, i ? ",{}" : "{}");
	buf_append_str(&big, "]}");
	CHECK_INT(qv_list_parse(big.data, big.len, &l, &err), -1);
	buf_free(&big);
}

static void
test_helpers(void)
{
	static const struct { const char *in, *want; } words[] = {
		{ "user@example.test", "rcpt=user@example.test" },
		{ "cheap pills", "rcpt=cheap%20pills" },
		{ "100%", "rcpt=100%25" },
		{ "a=b&c", "rcpt=a%3Db%26c" },
		{ "Grüße", "rcpt=Gr%C3%BC%C3%9Fe" },
		{ "", "rcpt=" },
	};
	struct buf w;
	char long_value[300];

	buf_init(&w, 4096);
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		CHECK_INT(qv_word(&w, "rcpt", words[i].in), 0);
		CHECK_STR(w.data, words[i].want);
	}
	memset(long_value, 'x', sizeof(long_value) - 1);
	long_value[sizeof(long_value) - 1] = '\0';
	CHECK_INT(qv_word(&w, "rcpt", long_value), -1);
	long_value[QV_ARG_MAX] = '\0';
	CHECK_INT(qv_word(&w, "rcpt", long_value), 0);
	buf_free(&w);
	CHECK_STR(qv_addr_domain("a@b@c.test"), "c.test");
	CHECK_STR(qv_addr_domain("nodomain"), "");
	CHECK_INT(qv_qid_ok("0123456789abcdef"), 1);
	CHECK_INT(qv_qid_ok("0123456789abcde"), 0);
	CHECK_INT(qv_qid_ok("0123456789abcdeg"), 0);
	CHECK_INT(qv_qid_ok("0123456789abcdef0"), 0);
	CHECK_INT(qv_qid_ok("../../etc/passwd"), 0);
}

static const struct unit_case cases[] = {
	{ "show_ok", test_show_ok },
	{ "show_refused", test_show_refused },
	{ "list", test_list },
	{ "helpers", test_helpers },
};

UNIT_MAIN(cases)
