/* Unit tests for dkim/sig.c, our own DKIM-style signature engine (used for ARC-Message-Signature):
 * parsing of DKIM-Signature and AMS values and their refusals, the exact header-hash input
 * (bottom-up selection, oversigning, the signature itself excluded, b= left out), and end-to-end
 * verification of the RFC 8463 example (ed25519-sha256 and rsa-sha256) and tampered copies,
 * with keys from a table struct mg_dns_lookup. Fixtures: tests/fixtures/dkim/. */
#include "unit.h"

#include "dkim/dkim.h"
#include "dkim/sig.h"
#include "lib/xalloc.h"

#include "dkim_test.h"

#define msg_fd dkim_test_msg_fd
#define load dkim_test_fixture

#define BH "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; "

/* Replaces the first occurrence of from with to (same length) in s. */
static void
tamper(char *s, const char *from, const char *to)
{
	char *p = strstr(s, from);

	if (p == NULL || strlen(from) != strlen(to))
		abort();
	memcpy(p, to, strlen(to));
}

struct parse_case {
	const char *name;
	enum mg_dkim_sig_kind kind;
	const char *value;
	const char *error;	/* NULL: parses */
};

static const struct parse_case parse_cases[] = {
	{ "dkim ok", MG_DKIM_SIG_DKIM, "v=1; a=rsa-sha256; d=example.com; s=sel; h=from:to; " BH "b=AAAA", NULL },
	{ "dkim ed25519", MG_DKIM_SIG_DKIM, "v=1; a=ed25519-sha256; d=example.com; s=sel; h=from; " BH
	    "b=AAAA", NULL },
	{ "ams ok", MG_DKIM_SIG_AMS, "i=2; a=rsa-sha256; d=example.com; s=sel; h=from; " BH "b=AAAA", NULL },
	{ "ams h empty", MG_DKIM_SIG_AMS, "i=1; a=rsa-sha256; d=example.com; s=sel; h=; " BH "b=AAAA", NULL },
	{ "ams ignores v=", MG_DKIM_SIG_AMS, "v=7; i=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH
	    "b=AAAA", NULL },
	{ "dkim no v", MG_DKIM_SIG_DKIM, "a=rsa-sha256; d=example.com; s=sel; h=from; " BH "b=AAAA",
	    "required tag missing" },
	{ "dkim v=2", MG_DKIM_SIG_DKIM, "v=2; a=rsa-sha256; d=example.com; s=sel; h=from; " BH "b=AAAA",
	    "unsupported signature version" },
	{ "no b", MG_DKIM_SIG_DKIM, "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH,
	    "required tag missing" },
	{ "empty b", MG_DKIM_SIG_DKIM, "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH "b=",
	    "required tag empty" },
	{ "rsa-sha1", MG_DKIM_SIG_DKIM, "v=1; a=rsa-sha1; d=example.com; s=sel; h=from; " BH "b=AAAA",
	    "rsa-sha1 not accepted by RFC 8301" },
	{ "ams ed25519", MG_DKIM_SIG_AMS, "i=1; a=ed25519-sha256; d=example.com; s=sel; h=from; " BH
	    "b=AAAA", "unknown signature algorithm" },
	{ "bad c=", MG_DKIM_SIG_DKIM, "v=1; a=rsa-sha256; c=fancy; d=example.com; s=sel; h=from; " BH
	    "b=AAAA", "invalid canonicalization" },
	{ "bad d=", MG_DKIM_SIG_DKIM, "v=1; a=rsa-sha256; d=example...; s=sel; h=from; " BH "b=AAAA",
	    "invalid d=" },
	{ "bad s=", MG_DKIM_SIG_DKIM, "v=1; a=rsa-sha256; d=example.com; s=a/b; h=from; " BH "b=AAAA",
	    "invalid s=" },
	{ "bad t=", MG_DKIM_SIG_DKIM, "v=1; a=rsa-sha256; d=example.com; s=s; t=now; h=from; " BH "b=AAAA",
	    "invalid l=, t= or x=" },
	{ "x before t", MG_DKIM_SIG_DKIM, "v=1; a=rsa-sha256; d=example.com; s=s; t=20; x=10; h=from; " BH
	    "b=AAAA", "x= before t=" },
	{ "q= other", MG_DKIM_SIG_DKIM, "v=1; a=rsa-sha256; q=http; d=example.com; s=s; h=from; " BH
	    "b=AAAA", "unsupported query method" },
	{ "i= outside d=", MG_DKIM_SIG_DKIM, "v=1; a=rsa-sha256; d=example.com; i=@example.org; s=s; "
	    "h=from; " BH "b=AAAA", "i= not within d=" },
	{ "i= subdomain", MG_DKIM_SIG_DKIM, "v=1; a=rsa-sha256; d=example.com; i=u@mail.example.com; s=s; "
	    "h=from; " BH "b=AAAA", NULL },
	{ "from unsigned", MG_DKIM_SIG_DKIM, "v=1; a=rsa-sha256; d=example.com; s=s; h=to:subject; " BH
	    "b=AAAA", "From not signed" },
	{ "ams signs seal", MG_DKIM_SIG_AMS, "i=1; a=rsa-sha256; d=example.com; s=s; h=from:ARC-Seal; " BH
	    "b=AAAA", "h= includes ARC-Seal" },
	{ "ams i=0", MG_DKIM_SIG_AMS, "i=0; a=rsa-sha256; d=example.com; s=s; h=from; " BH "b=AAAA",
	    "invalid instance" },
	{ "ams i=51", MG_DKIM_SIG_AMS, "i=51; a=rsa-sha256; d=example.com; s=s; h=from; " BH "b=AAAA",
	    "invalid instance" },
	{ "bh not sha256", MG_DKIM_SIG_DKIM, "v=1; a=rsa-sha256; d=example.com; s=s; h=from; bh=AAAA; "
	    "b=AAAA", "bh= is not a SHA-256 digest" },
	{ "b not base64", MG_DKIM_SIG_DKIM, "v=1; a=rsa-sha256; d=example.com; s=s; h=from; " BH "b=A*AA",
	    "invalid base64 character" },
};

static void
test_parse_table(void)
{
	struct mg_dkim_sig *sig = xmalloc(sizeof(*sig));
	const char *err0;

	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		const char *err = NULL;
		int rc = mg_dkim_sig_parse(slice_from_str(c->value), c->kind, sig, &err);
		if (c->error == NULL)
			CHECK(rc == 0, "%s: refused: %s", c->name, err ? err : "");
		else
			CHECK(rc < 0 && err && strcmp(err, c->error) == 0, "%s: got rc %d \"%s\", want \"%s\"",
			    c->name, rc, err ? err : "(null)", c->error);
	}
	CHECK_INT(mg_dkim_sig_parse(slice_from_str("i=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH
	    "b=AAAA"), MG_DKIM_SIG_AMS, sig, &err0), 0);
	CHECK(sig->hc == MG_DKIM_CANON_RELAXED && sig->bc == MG_DKIM_CANON_RELAXED && !sig->c_given,
	    "AMS without c= starts relaxed/relaxed");
	CHECK_INT(mg_dkim_sig_parse(slice_from_str("v=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH
	    "l=12; b=AAAA"), MG_DKIM_SIG_DKIM, sig, &err0), 0);
	CHECK(sig->hc == MG_DKIM_CANON_SIMPLE && sig->bc == MG_DKIM_CANON_SIMPLE && sig->l == 12 &&
	    sig->t == -1 && sig->x == -1, "DKIM defaults");
	xfree(sig);
}

static void
test_header_input(void)
{
	const char *m = "From: A <a@b.example>\n"
	    "Subject:  two\n  lines \n"
	    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=b.example; s=s;\n"
	    "\th=from:subject:from:dkim-signature:x-none; " BH "b=AbCd\n eF==\n"
	    "From: Second <c@b.example>\n"
	    "\n"
	    "body\n";
	const char *want = "from:Second <c@b.example>\r\n"
	    "subject:two lines\r\n"
	    "from:A <a@b.example>\r\n"
	    "dkim-signature:v=1; a=rsa-sha256; c=relaxed/simple; d=b.example; s=s; "
	    "h=from:subject:from:dkim-signature:x-none; " BH "b=";
	struct mg_dkim_sig *sig = xmalloc(sizeof(*sig));
	struct mg_dkim_msg msg;
	const char *err;
	struct buf out;
	off_t size;
	int io, fd = msg_fd(m, &size);

	CHECK_INT(mg_dkim_msg_load(&msg, fd, size, &err, &io), 0);
	CHECK_INT(msg.n, 4);
	CHECK_INT(mg_dkim_sig_parse(msg.field[2].value, MG_DKIM_SIG_DKIM, sig, &err), 0);
	buf_init(&out, 1 << 16);
	CHECK_INT(mg_dkim_sig_header_input(sig, msg.field, msg.n, 2, &out), 0);
	CHECK(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0,
	    "header input:\n got \"%s\"\nwant \"%s\"", out.data, want);
	buf_free(&out);
	mg_dkim_msg_free(&msg);
	close(fd);
	xfree(sig);
}

/* Verifies every DKIM-Signature of text with our engine; results in st[]. */
static size_t
verify_all(const char *text, enum mg_dkim_sig_status *st, const char **why, unsigned *queries)
{
	struct mg_dkim_txt_table *t = mg_dkim_txt_table_new();
	struct mg_dkim_sig *sig = xmalloc(sizeof(*sig));
	struct mg_dkim_keycache kc;
	struct mg_dns_lookup dns;
	struct mg_dkim_msg msg;
	const char *err;
	size_t n = 0;
	off_t size;
	int io, fd = msg_fd(text, &size);

	if (mg_dkim_txt_table_load(t, "tests/fixtures/dkim/rfc8463.keys", &err) < 0)
		abort();
	mg_dkim_txt_table_lookup(t, &dns);
	mg_dkim_keycache_init(&kc, &dns);
	if (mg_dkim_msg_load(&msg, fd, size, &err, &io) < 0)
		abort();
	for (size_t i = 0; i < msg.n; i++) {
		if (!rfc5322_name_is(msg.field[i].name, "DKIM-Signature"))
			continue;
		if (mg_dkim_sig_parse(msg.field[i].value, MG_DKIM_SIG_DKIM, sig, &why[n]) < 0)
			st[n] = MG_DKIM_SIG_PERMERROR;
		else
			st[n] = mg_dkim_sig_verify(sig, &msg, i, 0, &kc, &why[n]);
		n++;
	}
	*queries = mg_dkim_txt_table_queries(t);
	mg_dkim_keycache_clear(&kc);
	mg_dkim_msg_free(&msg);
	mg_dkim_txt_table_free(&t);
	xfree(sig);
	close(fd);
	return n;
}

static void
test_rfc8463(void)
{
	char *m = load("rfc8463.eml");
	enum mg_dkim_sig_status st[4];
	const char *why[4];
	unsigned q;

	CHECK_INT(verify_all(m, st, why, &q), 2);
	CHECK(st[0] == MG_DKIM_SIG_PASS, "ed25519: %s", why[0]);
	CHECK(st[1] == MG_DKIM_SIG_PASS, "rsa: %s", why[1]);
	CHECK_INT(q, 2);
	free(m);
}

static void
test_tampered(void)
{
	char *m = load("rfc8463.eml");
	enum mg_dkim_sig_status st[4];
	const char *why[4];
	unsigned q;

	tamper(m, "We lost the game", "We won! the game");
	CHECK_INT(verify_all(m, st, why, &q), 2);
	CHECK(st[0] == MG_DKIM_SIG_FAIL && strcmp(why[0], "body hash mismatch") == 0, "ed25519 body: %s",
	    why[0]);
	CHECK(st[1] == MG_DKIM_SIG_FAIL && strcmp(why[1], "body hash mismatch") == 0, "rsa body: %s", why[1]);
	CHECK_INT(q, 0);	/* a body mismatch needs no key */
	free(m);
	m = load("rfc8463.eml");
	tamper(m, "Subject: Is dinner ready?", "Subject: Is dinner ready!");
	CHECK_INT(verify_all(m, st, why, &q), 2);
	CHECK(st[0] == MG_DKIM_SIG_FAIL && strcmp(why[0], "signature did not verify") == 0,
	    "ed25519 header: %s", why[0]);
	CHECK(st[1] == MG_DKIM_SIG_FAIL, "rsa header: %s", why[1]);
	free(m);
	/* A signature pointing at a selector with no key. */
	m = load("rfc8463.eml");
	tamper(m, "s=brisbane", "s=brisbanf");
	CHECK_INT(verify_all(m, st, why, &q), 2);
	CHECK(st[0] == MG_DKIM_SIG_PERMERROR && strcmp(why[0], "no key for signature") == 0,
	    "missing key: %s", why[0]);
	free(m);
}

static const struct unit_case cases[] = {
	{ "parse_table", test_parse_table },
	{ "header_input", test_header_input },
	{ "rfc8463", test_rfc8463 },
	{ "tampered", test_tampered },
};

UNIT_MAIN(cases)
