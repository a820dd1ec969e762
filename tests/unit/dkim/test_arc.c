/* Unit tests for dkim/arc.c (RFC 8617 §5.2): passing chains of 1-3 sets from the ValiMail suite,
 * oldest-pass, structural failures made by editing them (missing, duplicate, out-of-range and
 * gapped instances, cv misuse, AAR without its i= prefix), tampering caught by the AMS or by a
 * seal, key lookup failures (tempfail flagged), one query per distinct key, the authres text.
 * Keys come from a table struct mg_dns_lookup (tests/fixtures/dkim/arc.keys). */
#include "unit.h"

#include "dkim/dkim.h"
#include "lib/xalloc.h"

#include "dkim_test.h"

#define msg_fd dkim_test_msg_fd
#define load dkim_test_fixture

/* Replaces the first occurrence of from by to (any length) in the heap string *s. */
static void
edit(char **s, const char *from, const char *to)
{
	char *p = strstr(*s, from);
	struct buf b;

	if (p == NULL)
		abort();
	buf_init(&b, 1 << 21);
	buf_append(&b, *s, (size_t)(p - *s));
	buf_append_str(&b, to);
	buf_append_str(&b, p + strlen(from));
	xfree(*s);
	*s = buf_steal(&b);
}

static unsigned last_queries;

static struct mg_arc_result
run_flags(const char *text, const char *extra_name, const char *extra_value, unsigned flags)
{
	struct mg_dkim_txt_table *t = mg_dkim_txt_table_new();
	struct mg_dns_lookup dns;
	struct mg_arc_result r;
	const char *err;
	off_t size;
	int fd = msg_fd(text, &size);

	if (extra_name != NULL)
		mg_dkim_txt_table_add(t, extra_name, extra_value);
	if (mg_dkim_txt_table_load(t, "tests/fixtures/dkim/arc.keys", &err) < 0)
		abort();
	mg_dkim_txt_table_lookup(t, &dns);
	CHECK_INT(mg_arc_verify_flags(&dns, fd, size, 0, flags, &r), 0);
	last_queries = mg_dkim_txt_table_queries(t);
	mg_dkim_txt_table_free(&t);
	close(fd);
	return r;
}

static struct mg_arc_result
run(const char *text)
{
	return run_flags(text, NULL, NULL, 0);
}

static void
check_cv(const struct mg_arc_result *r, enum mg_arc_cv want, const char *reason, int line)
{
	CHECK(r->cv == want, "line %d: cv: got %s (%s), want %s", line, mg_arc_cv_name(r->cv), r->reason,
	    mg_arc_cv_name(want));
	if (reason != NULL)
		CHECK(strstr(r->reason, reason) != NULL, "line %d: reason \"%s\" lacks \"%s\"", line,
		    r->reason, reason);
}
#define CHECK_CV(r, want, reason) check_cv(&(r), (want), (reason), __LINE__)

static void
test_pass(void)
{
	static const struct { const char *file; int n; } c[] = {
		{ "arc_pass_i1.eml", 1 }, { "arc_pass_i2.eml", 2 }, { "arc_pass_i3.eml", 3 },
		{ "arc_pass_i2_ams1_invalid.eml", 2 },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char *m = load(c[i].file);
		struct mg_arc_result r = run(m);
		CHECK(r.cv == MG_ARC_PASS && r.n == c[i].n, "%s: got cv=%s n=%d (%s)", c[i].file,
		    mg_arc_cv_name(r.cv), r.n, r.reason);
		CHECK_STR(r.sealer, "example.org");
		CHECK_INT(r.oldest_pass, 0);
		CHECK_INT(last_queries, 1);	/* one key serves AMS and every seal */
		xfree(m);
	}
}

static void
test_oldest_pass(void)
{
	char *m = load("arc_pass_i3.eml");
	struct mg_arc_result r = run_flags(m, NULL, NULL, MG_ARC_F_OLDEST_PASS);
	struct buf ar;

	CHECK_CV(r, MG_ARC_PASS, NULL);
	CHECK_INT(r.oldest_pass, 1);
	buf_init(&ar, 1024);
	CHECK_INT(mg_arc_authres(&r, &ar), 0);
	CHECK_STR(ar.data, "arc=pass (i=3) header.oldest-pass=1");
	buf_free(&ar);
	xfree(m);
	m = load("arc_pass_i2_ams1_invalid.eml");
	r = run_flags(m, NULL, NULL, MG_ARC_F_OLDEST_PASS);
	CHECK_CV(r, MG_ARC_PASS, NULL);
	CHECK_INT(r.oldest_pass, 2);
	xfree(m);
}

static void
test_none(void)
{
	struct mg_arc_result r = run("From: a@b.example\nSubject: x\n\nbody\n");
	struct buf ar;

	CHECK_CV(r, MG_ARC_NONE, NULL);
	CHECK_INT(r.n, 0);
	CHECK_INT(last_queries, 0);
	buf_init(&ar, 1024);
	mg_arc_authres(&r, &ar);
	CHECK_STR(ar.data, "arc=none");
	buf_free(&ar);
	r = run("");
	CHECK_CV(r, MG_ARC_NONE, NULL);
}

struct edit_case {
	const char *name;
	const char *file;
	const char *from, *to;
	const char *reason;
};

static const struct edit_case edit_cases[] = {
	{ "AS missing", "arc_pass_i1.eml", "ARC-Seal:", "X-ARC-Seal:", "i=1: ARC-Seal missing" },
	{ "AMS missing", "arc_pass_i1.eml", "ARC-Message-Signature:", "X-AMS:",
	    "i=1: ARC-Message-Signature missing" },
	{ "AAR missing", "arc_pass_i1.eml", "ARC-Authentication-Results:", "X-AAR:",
	    "i=1: ARC-Authentication-Results missing" },
	{ "AAR without i=", "arc_pass_i1.eml", "ARC-Authentication-Results: i=1;",
	    "ARC-Authentication-Results: lists.example.org; i=1;", "no valid i= prefix" },
	{ "AAR i= without ;", "arc_pass_i1.eml", "ARC-Authentication-Results: i=1;",
	    "ARC-Authentication-Results: i=1", "no valid i= prefix" },
	{ "AS i=0", "arc_pass_i1.eml", "d=example.org; i=1; s=dummy;\n    t=12345\nARC-Message",
	    "d=example.org; i=0; s=dummy;\n    t=12345\nARC-Message", "invalid i= tag" },
	{ "AS i=51", "arc_pass_i1.eml", "d=example.org; i=1; s=dummy;\n    t=12345\nARC-Message",
	    "d=example.org; i=51; s=dummy;\n    t=12345\nARC-Message", "invalid i= tag" },
	{ "duplicate AAR", "arc_pass_i1.eml", "Received: from segv",
	    "ARC-Authentication-Results: i=1; x.example; none\nReceived: from segv",
	    "i=1: duplicate ARC-Authentication-Results" },
	{ "gap (i=1 renamed)", "arc_pass_i2.eml", "ARC-Authentication-Results: i=1;",
	    "ARC-Authentication-Results: i=3;", "ARC-Authentication-Results missing" },
	{ "i=1 with cv=pass", "arc_pass_i1.eml", "cv=none", "cv=pass", "cv=pass out of place" },
	{ "i=2 with cv=none", "arc_pass_i2.eml", "cv=pass", "cv=none", "cv=none out of place" },
	{ "cv=fail", "arc_pass_i2.eml", "cv=pass", "cv=fail", "cv=fail" },
	{ "cv=bogus", "arc_pass_i1.eml", "cv=none", "cv=nine", "invalid cv=" },
	{ "AS with h=", "arc_pass_i1.eml", "cv=none;", "cv=none; h=from;", "h= not allowed" },
	{ "AS a=rsa-sha1", "arc_pass_i1.eml", "ARC-Seal: a=rsa-sha256", "ARC-Seal: a=rsa-sha1",
	    "unsupported algorithm" },
	{ "body changed", "arc_pass_i2.eml", "This is a test message.", "This is a test massage.",
	    "i=2 ARC-Message-Signature: body hash mismatch" },
	{ "signed header changed", "arc_pass_i1.eml", "Subject: Example 1", "Subject: Example 2",
	    "i=1 ARC-Message-Signature: signature did not verify" },
	{ "AAR(1) changed", "arc_pass_i2.eml", "dmarc=pass\n", "dmarc=fail\n", "ARC-Seal: signature did not verify" },
};

static void
test_edits(void)
{
	for (size_t i = 0; i < sizeof(edit_cases) / sizeof(edit_cases[0]); i++) {
		const struct edit_case *c = &edit_cases[i];
		char *m = load(c->file);
		edit(&m, c->from, c->to);
		struct mg_arc_result r = run(m);
		CHECK(r.cv == MG_ARC_FAIL && strstr(r.reason, c->reason) != NULL,
		    "%s: got cv=%s \"%s\", want fail \"%s\"", c->name, mg_arc_cv_name(r.cv), r.reason,
		    c->reason);
		CHECK(!r.tempfail, "%s: tempfail set", c->name);
		xfree(m);
	}
}

static void
test_keys(void)
{
	char *m = load("arc_pass_i1.eml");
	struct mg_arc_result r;
	struct buf ar;

	/* The table's first record for a name wins: a tempfail entry added first. */
	r = run_flags(m, "dummy._domainkey.example.org", "!tempfail", 0);
	CHECK_CV(r, MG_ARC_FAIL, "key unavailable");
	CHECK_INT(r.tempfail, 1);
	edit(&m, "s=dummy;\n    t=12345\nARC-Message", "s=nokey;\n    t=12345\nARC-Message");
	r = run(m);
	CHECK_CV(r, MG_ARC_FAIL, "i=1 ARC-Seal: no key for signature");
	CHECK_INT(r.tempfail, 0);
	buf_init(&ar, 1024);
	mg_arc_authres(&r, &ar);
	CHECK_STR(ar.data, "arc=fail (i=1, i=1 ARC-Seal: no key for signature)");
	buf_free(&ar);
	xfree(m);
}

static void
test_too_many(void)
{
	struct buf b;
	struct mg_arc_result r;

	buf_init(&b, 1 << 20);
	for (int i = 1; i <= MG_ARC_INSTANCE_MAX; i++)
		buf_printf(&b, "ARC-Authentication-Results: i=%d; x.example; none\n"
		    "ARC-Message-Signature: i=%d; a=rsa-sha256\nARC-Seal: i=%d; a=rsa-sha256\n", i, i, i);
	buf_append_str(&b, "ARC-Seal: i=1; a=rsa-sha256\n");
	buf_append_str(&b, "From: a@b.example\n\nbody\n");
	r = run(b.data);
	CHECK_CV(r, MG_ARC_FAIL, "more than 150 ARC header fields");
	buf_free(&b);
}

static void
test_unreadable(void)
{
	struct mg_arc_result r;
	struct mg_dns_lookup dns;
	struct mg_dkim_txt_table *t = mg_dkim_txt_table_new();

	mg_dkim_txt_table_lookup(t, &dns);
	CHECK_INT(mg_arc_verify(&dns, -1, 100, 0, &r), -1);
	CHECK(r.cv == MG_ARC_FAIL && r.tempfail, "bad fd: cv=%s tempfail=%d", mg_arc_cv_name(r.cv),
	    r.tempfail);
	mg_dkim_txt_table_free(&t);
}

static const struct unit_case cases[] = {
	{ "pass", test_pass },
	{ "oldest_pass", test_oldest_pass },
	{ "none", test_none },
	{ "edits", test_edits },
	{ "keys", test_keys },
	{ "too_many", test_too_many },
	{ "unreadable", test_unreadable },
};

UNIT_MAIN(cases)
