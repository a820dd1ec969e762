/* test_quarantine.c: unit tests for the quarantine store's pure parts (queue/quarantine_rec.c,
 * quarantine_query.c): text cleaning, the verdict parser, records built from an envelope and a
 * header section (RFC 2047 Subject), the database value round trip and every rejected
 * malformation, query parsing (accepted and refused words), matching, newest-first paging, the
 * JSON output, and the search time over 100,000 records (printed as a "#" line). */
#include "unit.h"

#include <time.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "queue/quarantine.h"

static void
clean_case(const char *in, size_t len, size_t max, const char *want)
{
	struct buf b;

	buf_init(&b, 4096);
	CHECK(quar_clean(in, len, max, &b) == 0, "quar_clean failed");
	CHECK_STR(b.data ? b.data : "", want);
	buf_free(&b);
}

static void
test_clean(void)
{
	clean_case("plain", 5, 100, "plain");
	clean_case("Gr\xc3\xbc\xc3\x9f" "e", 7, 100, "Gr\xc3\xbc\xc3\x9f" "e");
	clean_case("a\x1b[31mb\r\nc\x7f", 11, 100, "a?[31mb??c?");
	clean_case("bad\xff\xc3(", 6, 100, "bad\xef\xbf\xbd\xef\xbf\xbd(");
	clean_case("\xc0\xaf", 2, 100, "\xef\xbf\xbd\xef\xbf\xbd");		/* overlong '/' */
	clean_case("\xed\xa0\x80", 3, 100, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");	/* surrogate */
	clean_case("x\xe2\x80\xaey", 5, 100, "x?y");	/* U+202E right-to-left override */
	clean_case("\xc2\x85", 2, 100, "?");		/* C1 NEL */
	clean_case("ab\xc3\xbc", 4, 3, "ab");		/* cut at a character boundary */
	CHECK(quar_is_clean("Gr\xc3\xbc\xc3\x9f" "e"), "clean text not clean");
	CHECK(!quar_is_clean("a\tb"), "a tab passed as clean");
}

static void
test_verdict(void)
{
	double s;
	const char *sym;

	CHECK_INT(quar_verdict_parse("score=7.50 symbols=DKIM_NONE(7.00), X(0.5)", &s, &sym), 0);
	CHECK(s == 7.5, "score %f, want 7.5", s);
	CHECK_STR(sym, "DKIM_NONE(7.00), X(0.5)");
	CHECK_INT(quar_verdict_parse("score=-1.25 symbols=", &s, &sym), 0);
	CHECK(s == -1.25, "score %f", s);
	CHECK_STR(sym, "");
	CHECK_INT(quar_verdict_parse("score=abc symbols=X", &s, &sym), -1);
	CHECK(s == 0, "score %f after a bad verdict", s);
	CHECK_INT(quar_verdict_parse("something else", &s, &sym), -1);
	CHECK_STR(sym, "something else");
}

static void
make_env(struct envelope *env, const char *verdict)
{
	envelope_init(env);
	memcpy(env->qid, "6b06c1aabd5e8841", 17);
	env->arrival = 1700000000;
	env->size = 1234;
	env->sender = xstrdup("dave@evil.test");
	env->quarantine = verdict ? xstrdup(verdict) : NULL;
	envelope_add_rcpt(env, "user@example.test", NULL, 0);
	envelope_add_rcpt(env, "Bob@Other.test", NULL, 0);
}

static void
test_rec_from_and_round_trip(void)
{
	struct envelope env;
	struct quar_rec r, d;
	struct buf v, v2;
	const char *err = NULL;
	const char *hdr = "Received: from x\r\nSubject: =?UTF-8?B?R3LDvMOfZQ==?= \x1b[1m now\r\n"
	    "From: a@b\r\n\r\n";

	make_env(&env, "score=12.50 symbols=DATE_MISSING(5.00), DKIM_NONE(7.00)");
	CHECK_INT(quar_rec_from(&r, &env, slice_from_str(hdr), &err), 0);
	CHECK_STR(r.subject, "Gr\xc3\xbc\xc3\x9f" "e ?[1m now");
	CHECK(r.score == 12.5, "score %f", r.score);
	CHECK_STR(r.symbols, "DATE_MISSING(5.00), DKIM_NONE(7.00)");
	CHECK_INT(r.n_rcpts, 2);
	buf_init(&v, QUAR_VALUE_MAX);
	buf_init(&v2, QUAR_VALUE_MAX);
	CHECK_INT(quar_rec_encode(&r, &v), 0);
	CHECK_INT(quar_rec_decode(r.qid, buf_slice(&v), &d, &err), 0);
	CHECK_INT(quar_rec_encode(&d, &v2), 0);
	CHECK(v.len == v2.len && memcmp(v.data, v2.data, v.len) == 0, "encode(decode(x)) != x: %s",
	    v2.data);
	CHECK_STR(d.subject, r.subject);
	CHECK_STR(d.rcpts[1], "Bob@Other.test");
	CHECK_INT(d.arrival, 1700000000);
	quar_rec_clear(&d);
	/* a subject longer than QUAR_SUBJECT_MAX is cut; an empty header gives "" */
	quar_rec_clear(&r);
	CHECK_INT(quar_rec_from(&r, &env, (struct slice){ "", 0 }, &err), 0);
	CHECK_STR(r.subject, "");
	quar_rec_clear(&r);
	envelope_clear(&env);
	make_env(&env, NULL);
	CHECK_INT(quar_rec_from(&r, &env, slice_from_str(hdr), &err), -1);
	envelope_clear(&env);
	buf_free(&v);
	buf_free(&v2);
}

static void
test_decode_rejects(void)
{
	static const char *const bad[] = {
		"",
		"mgq2 1700000000 10 7.0000 1 a@b - X c@d",		/* magic */
		"mgq1 1700000000 10 7.0000 1 a@b - X",			/* recipient missing */
		"mgq1 1700000000 10 7.0000 1 a@b - X c@d e@f",		/* one too many */
		"mgq1 01700000000 10 7.0000 1 a@b - X c@d",		/* leading zero */
		"mgq1 1700000000 10 7.5 1 a@b - X c@d",			/* score not canonical */
		"mgq1 1700000000 10 7.0000 1 a%41b - X c@d",		/* needless escape */
		"mgq1 1700000000 10 7.0000 1 a%0 - X c@d",		/* short escape */
		"mgq1 1700000000 10 7.0000 1 a%0a - X c@d",		/* lower-case hex */
		"mgq1 1700000000 10 7.0000 1 a%00b - X c@d",		/* NUL */
		"mgq1 1700000000 10 7.0000 1 a%0Ab - X c@d",		/* LF: not clean */
		"mgq1 1700000000 10 7.0000 1 a@b - X c@d ",		/* trailing space */
		"mgq1 1700000000 10 7.0000 1 a@b  X c@d",		/* empty field */
		"mgq1 1700000000 10 7.0000 1 a@b - X%FF c@d",		/* invalid UTF-8 */
		"mgq1 99999999999999 10 7.0000 1 a@b - X c@d",		/* time range */
		"mgq1 1700000000 10 7.0000 10001 a@b - X c@d",		/* rcpt count range */
	};
	struct quar_rec r;
	const char *err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(quar_rec_decode("6b06c1aabd5e8841", slice_from_str(bad[i]), &r, &err) == -1,
		    "accepted bad record %zu: %s", i, bad[i]);
	CHECK_INT(quar_rec_decode("6b06c1aabd5e8841",
	    slice_from_str("mgq1 1700000000 10 7.0000 1 %2D - X c@d"), &r, &err), 0);
	CHECK_STR(r.sender, "-");
	quar_rec_clear(&r);
	CHECK_INT(quar_rec_decode("short", slice_from_str("mgq1 1 1 0.0000 1 - - - a"), &r, &err),
	    -1);
}

static int
parse_words(const char *line, struct quar_query *q)
{
	char *copy = xstrdup(line), *argv[16];
	int argc = 0, rc;
	const char *err;

	for (char *s = copy, *t; argc < 16 && (t = strsep(&s, " ")) != NULL;)
		if (*t)
			argv[argc++] = t;
	rc = quar_query_parse(argc, argv, q, &err);
	xfree(copy);
	return rc;
}

static void
test_query_parse(void)
{
	static const struct {
		const char *words;
		int ok;
	} cases[] = {
		{ "", 1 }, { "--json", 1 }, { "domain=example.test rcpt=a@b from=x subject=y", 1 },
		{ "min=6 max=-1.5", 1 }, { "since=1700000000 until=2026-11-25", 1 },
		{ "since=2026-11-25T10:00:00Z", 1 }, { "limit=10000 offset=0", 1 },
		{ "subject=a%20b", 1 },
		{ "bogus=1", 0 }, { "domain", 0 }, { "domain=", 0 }, { "from=a from=b", 0 },
		{ "min=x", 0 }, { "limit=0", 0 }, { "limit=10001", 0 }, { "offset=-1", 0 },
		{ "since=2026-13-01", 0 }, { "since=2026-11-25T10:00:00", 0 }, { "since=-5", 0 },
		{ "subject=%zz", 0 }, { "subject=%00", 0 }, { "subject=%4", 0 },
	};
	struct quar_query q;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK((parse_words(cases[i].words, &q) == 0) == cases[i].ok, "\"%s\": got %s, want %s",
		    cases[i].words, cases[i].ok ? "refused" : "accepted",
		    cases[i].ok ? "accepted" : "refused");
	CHECK_INT(parse_words("subject=a%20b since=2026-11-25 limit=5 --json", &q), 0);
	CHECK_STR(q.subject, "a b");
	CHECK_INT(q.since, 1795564800);
	CHECK_INT(q.limit, 5);
	CHECK_INT(q.json, 1);
	{
		char big[600];

		memset(big, 'a', sizeof(big));
		memcpy(big, "from=", 5);
		big[5 + QUAR_ARG_MAX + 1] = '\0';
		CHECK(parse_words(big, &q) == -1, "a 257-octet value was accepted");
		big[5 + QUAR_ARG_MAX] = '\0';
		CHECK(parse_words(big, &q) == 0, "a 256-octet value was refused");
	}
}

/* n records: arrival 1e9 + i, score i % 20, sender s<i%7>@x<i%3>.test, one recipient in
 * d<i%10>.test, subject "subject number <i>". */
static struct quar_rec **
make_recs(size_t n)
{
	struct quar_rec **recs = xcalloc(n, sizeof(*recs));
	char tmp[64];

	for (size_t i = 0; i < n; i++) {
		struct quar_rec *r = xcalloc(1, sizeof(*r));

		snprintf(r->qid, sizeof(r->qid), "%016zx", i);
		r->arrival = 1000000000 + (long long)i;
		r->score = (double)(i % 20);
		snprintf(tmp, sizeof(tmp), "s%zu@x%zu.test", i % 7, i % 3);
		r->sender = xstrdup(tmp);
		snprintf(tmp, sizeof(tmp), "subject number %zu", i);
		r->subject = xstrdup(tmp);
		r->symbols = xstrdup("DKIM_NONE(7.00)");
		r->rcpts = xcalloc(1, sizeof(*r->rcpts));
		snprintf(tmp, sizeof(tmp), "u%zu@d%zu.test", i % 100, i % 10);
		r->rcpts[0] = xstrdup(tmp);
		r->n_rcpts = r->n_rcpts_total = 1;
		recs[i] = r;
	}
	return recs;
}

static void
free_recs(struct quar_rec **recs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		quar_rec_clear(recs[i]);
		xfree(recs[i]);
	}
	xfree(recs);
}

static size_t
search(struct quar_rec **recs, size_t n, const char *words, struct quar_rec ***page, size_t *np)
{
	struct quar_query q;

	CHECK(parse_words(words, &q) == 0, "query %s refused", words);
	return quar_search(recs, n, &q, page, np);
}

static void
test_search_and_paging(void)
{
	struct quar_rec **recs = make_recs(1000), **page;
	size_t np, total;

	total = search(recs, 1000, "", &page, &np);
	CHECK_INT(total, 1000);
	CHECK_INT(np, QUAR_LIMIT_DEFAULT);
	CHECK_STR(page[0]->qid, "00000000000003e7");	/* newest first */
	xfree(page);
	total = search(recs, 1000, "domain=D3.TEST limit=3 offset=2", &page, &np);
	CHECK_INT(total, 100);
	CHECK_INT(np, 3);
	CHECK_STR(page[0]->subject, "subject number 973");	/* 993, 983 skipped */
	xfree(page);
	CHECK_INT(search(recs, 1000, "rcpt=u42@d2.test", &page, &np), 10);
	xfree(page);
	CHECK_INT(search(recs, 1000, "from=S3@ subject=number%2099", &page, &np), 2);	/* 99, 990..999 */
	xfree(page);
	CHECK_INT(search(recs, 1000, "min=18 max=19", &page, &np), 100);
	xfree(page);
	CHECK_INT(search(recs, 1000, "since=1000000100 until=1000000199", &page, &np), 100);
	xfree(page);
	CHECK_INT(search(recs, 1000, "offset=5000", &page, &np), 1000);
	CHECK_INT(np, 0);
	xfree(page);
	free_recs(recs, 1000);
}

static void
test_json_output(void)
{
	struct quar_rec r = { .arrival = 1, .size = 2, .score = 7.5 };
	struct buf b;
	char *rc[1] = { "u@d.test" };

	memcpy(r.qid, "0123456789abcdef", 17);
	r.sender = "a\"b\\c";
	r.subject = "<b>x</b> & y";
	r.symbols = "S";
	r.rcpts = rc;
	r.n_rcpts = r.n_rcpts_total = 1;
	buf_init(&b, 4096);
	CHECK_INT(quar_format_json(&r, &b), 0);
	CHECK_STR(b.data, "{\"qid\":\"0123456789abcdef\",\"arrival\":1,\"size\":2,\"score\":7.50,"
	    "\"sender\":\"a\\\"b\\\\c\",\"subject\":\"\\u003cb\\u003ex\\u003c/b\\u003e \\u0026 y\","
	    "\"symbols\":\"S\",\"rcpt_count\":1,\"rcpts\":[\"u@d.test\"]}");
	buf_free(&b);
}

static void
test_search_100k_latency(void)
{
	enum { N = 100000, RUNS = 20 };
	struct quar_rec **recs = make_recs(N), **page;
	static const char *const queries[] = { "", "domain=d7.test", "from=s3@x1", "subject=zzz",
		"min=10 rcpt=u5@d5.test", "subject=number%20777" };
	size_t np;

	for (size_t k = 0; k < sizeof(queries) / sizeof(queries[0]); k++) {
		struct timespec t0, t1;
		double worst = 0, sum = 0;
		size_t total = 0;

		for (int i = 0; i < RUNS; i++) {
			double ms;

			clock_gettime(CLOCK_MONOTONIC, &t0);
			total = search(recs, N, queries[k], &page, &np);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			xfree(page);
			ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
			sum += ms;
			if (ms > worst)
				worst = ms;
		}
		printf("# search over %d records \"%s\": %zu match(es), mean %.2f ms, max %.2f ms\n",
		    N, queries[k], total, sum / RUNS, worst);
		CHECK(worst < 1000, "search took %.0f ms", worst);
	}
	free_recs(recs, N);
}

static const struct unit_case cases[] = {
	{ "clean", test_clean },
	{ "verdict", test_verdict },
	{ "rec_from_and_round_trip", test_rec_from_and_round_trip },
	{ "decode_rejects", test_decode_rejects },
	{ "query_parse", test_query_parse },
	{ "search_and_paging", test_search_and_paging },
	{ "json_output", test_json_output },
	{ "search_100k_latency", test_search_100k_latency },
};

UNIT_MAIN(cases)
