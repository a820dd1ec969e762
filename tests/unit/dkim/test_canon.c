/* Unit tests for dkim/canon.c: c= parsing, header canonicalisation (simple, relaxed, the b= value
 * left out), body canonicalisation against RFC 6376 §3.4.5's example and the edge cases (empty
 * body, missing final CRLF, trailing empty and WSP-only lines, bare CR, chunk boundaries, l=). */
#include "unit.h"

#include <openssl/evp.h>

#include "dkim/canon.h"

static void
test_parse(void)
{
	static const struct { const char *in; int rc; int hc, bc; } c[] = {
		{ "relaxed/relaxed", 0, MG_DKIM_CANON_RELAXED, MG_DKIM_CANON_RELAXED },
		{ "relaxed/simple", 0, MG_DKIM_CANON_RELAXED, MG_DKIM_CANON_SIMPLE },
		{ "simple/relaxed", 0, MG_DKIM_CANON_SIMPLE, MG_DKIM_CANON_RELAXED },
		{ "relaxed", 0, MG_DKIM_CANON_RELAXED, MG_DKIM_CANON_SIMPLE },
		{ "simple", 0, MG_DKIM_CANON_SIMPLE, MG_DKIM_CANON_SIMPLE },
		{ "", -1, 0, 0 },
		{ "relaxed/", -1, 0, 0 },
		{ "Relaxed/simple", -1, 0, 0 },
		{ "relaxed/relaxed/simple", -1, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		enum mg_dkim_canon hc = 9, bc = 9;
		int rc = mg_dkim_canon_parse(c[i].in, strlen(c[i].in), &hc, &bc);
		CHECK(rc == c[i].rc, "c=%s: got rc %d, want %d", c[i].in, rc, c[i].rc);
		if (rc == 0)
			CHECK((int)hc == c[i].hc && (int)bc == c[i].bc, "c=%s: got %d/%d", c[i].in, hc, bc);
	}
}

static void
check_header(enum mg_dkim_canon c, const char *raw, const char *skip, const char *want)
{
	struct buf out;
	struct slice r = slice_from_str(raw), s = { NULL, 0 };

	if (skip != NULL) {
		s.p = strstr(raw, skip);
		s.len = strlen(skip);
	}
	buf_init(&out, 4096);
	CHECK_INT(mg_dkim_canon_header(c, r, s, &out), 0);
	CHECK(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0,
	    "header %s: got \"%s\", want \"%s\"", c == MG_DKIM_CANON_RELAXED ? "relaxed" : "simple",
	    out.data ? out.data : "", want);
	buf_free(&out);
}

static void
test_header(void)
{
	/* RFC 6376 §3.4.5 example. */
	check_header(MG_DKIM_CANON_RELAXED, "A: X\r\n", NULL, "a:X\r\n");
	check_header(MG_DKIM_CANON_RELAXED, "B : Y\t\r\n\tZ  \r\n", NULL, "b:Y Z\r\n");
	check_header(MG_DKIM_CANON_SIMPLE, "B : Y\t\r\n\tZ  \r\n", NULL, "B : Y\t\r\n\tZ  \r\n");
	check_header(MG_DKIM_CANON_RELAXED, "SUBJect:   Hello  \t World \r\n", NULL,
	    "subject:Hello World\r\n");
	check_header(MG_DKIM_CANON_RELAXED, "X:\r\n", NULL, "x:\r\n");
	check_header(MG_DKIM_CANON_RELAXED, "X: a", NULL, "x:a\r\n");
	/* The b= value left out (RFC 6376 §3.7), in both forms. */
	check_header(MG_DKIM_CANON_RELAXED, "DKIM-Signature: a=1; b=AbC\r\n dEf; c=2\r\n", "AbC\r\n dEf",
	    "dkim-signature:a=1; b=; c=2\r\n");
	check_header(MG_DKIM_CANON_SIMPLE, "DKIM-Signature: a=1; b=AbC\r\n dEf\r\n", "AbC\r\n dEf",
	    "DKIM-Signature: a=1; b=\r\n");
}

static void
hex(const unsigned char *d, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Runs body through the canonicaliser in chunks of `chunk` octets and compares the digest with
 * the SHA-256 of want. */
static void
check_body(const char *name, enum mg_dkim_canon c, const char *body, size_t chunk, long long limit,
    const char *want, long long want_total)
{
	struct mg_dkim_body b;
	unsigned char got[EVP_MAX_MD_SIZE], exp[EVP_MAX_MD_SIZE];
	unsigned glen = 0, elen = 0;
	long long total = -1;
	size_t n = strlen(body);
	char gh[65], eh[65];

	CHECK_INT(mg_dkim_body_init(&b, c, EVP_sha256(), limit), 0);
	for (size_t off = 0; off < n; off += chunk)
		mg_dkim_body_update(&b, body + off, n - off < chunk ? n - off : chunk);
	CHECK_INT(mg_dkim_body_final(&b, got, &glen, &total), 0);
	EVP_Digest(want, strlen(want), exp, &elen, EVP_sha256(), NULL);
	hex(got, glen, gh);
	hex(exp, elen, eh);
	CHECK(glen == elen && memcmp(got, exp, glen) == 0, "%s (chunk %zu): digest %s, want that of \"%s\"",
	    name, chunk, gh, want);
	CHECK(total == want_total, "%s: total %lld, want %lld", name, total, want_total);
}

struct body_case {
	const char *name;
	enum mg_dkim_canon c;
	const char *body;
	long long limit;
	const char *want;	/* canonical (hashed) octets */
	long long total;	/* canonical length before l= (-1: that of want) */
};

static const struct body_case body_cases[] = {
	{ "rfc6376 example relaxed", MG_DKIM_CANON_RELAXED, " C \r\nD \t E\r\n\r\n\r\n", -1,
	    " C\r\nD E\r\n", -1 },
	{ "rfc6376 example simple", MG_DKIM_CANON_SIMPLE, " C \r\nD \t E\r\n\r\n\r\n", -1,
	    " C \r\nD \t E\r\n", -1 },
	{ "empty simple", MG_DKIM_CANON_SIMPLE, "", -1, "\r\n", 2 },
	{ "empty relaxed", MG_DKIM_CANON_RELAXED, "", -1, "", 0 },
	{ "only empty lines simple", MG_DKIM_CANON_SIMPLE, "\r\n\r\n", -1, "\r\n", 2 },
	{ "only empty lines relaxed", MG_DKIM_CANON_RELAXED, "\r\n \r\n", -1, "", 0 },
	{ "no final CRLF simple", MG_DKIM_CANON_SIMPLE, "abc", -1, "abc\r\n", 5 },
	{ "no final CRLF relaxed", MG_DKIM_CANON_RELAXED, "abc  ", -1, "abc\r\n", 5 },
	{ "WSP-only line kept by simple", MG_DKIM_CANON_SIMPLE, "a\r\n \r\n", -1, "a\r\n \r\n", 6 },
	{ "WSP-only line dropped by relaxed", MG_DKIM_CANON_RELAXED, "a\r\n \r\n", -1, "a\r\n", 3 },
	{ "inner empty lines kept", MG_DKIM_CANON_RELAXED, "a\r\n\r\n\r\nb\r\n\r\n", -1,
	    "a\r\n\r\n\r\nb\r\n", -1 },
	{ "leading WSP reduced", MG_DKIM_CANON_RELAXED, "\t\t x\r\n", -1, " x\r\n", 4 },
	{ "bare CR is content", MG_DKIM_CANON_SIMPLE, "a\rb\r\n", -1, "a\rb\r\n", 5 },
	{ "bare LF ends a line", MG_DKIM_CANON_SIMPLE, "a\nb\n", -1, "a\r\nb\r\n", 6 },
	{ "trailing CR", MG_DKIM_CANON_SIMPLE, "a\r", -1, "a\r\r\n", 4 },
	{ "l= cuts", MG_DKIM_CANON_SIMPLE, "hello\r\nworld\r\n", 5, "hello", 14 },
	{ "l=0", MG_DKIM_CANON_RELAXED, "hello\r\n", 0, "", 7 },
	{ "l= longer than body", MG_DKIM_CANON_SIMPLE, "hi\r\n", 100, "hi\r\n", 4 },
};

static void
test_body(void)
{
	static const size_t chunks[] = { 1, 2, 3, 7, 4096 };

	for (size_t i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++)
		for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++)
			check_body(body_cases[i].name, body_cases[i].c, body_cases[i].body, chunks[k],
			    body_cases[i].limit, body_cases[i].want, body_cases[i].total >= 0 ?
			    body_cases[i].total : (long long)strlen(body_cases[i].want));
}

static void
test_body_large(void)
{
	/* More than the internal 4 KiB output buffer, with WSP runs across every chunk size. */
	struct buf in, want;
	buf_init(&in, 1 << 20);
	buf_init(&want, 1 << 20);
	for (int i = 0; i < 2000; i++) {
		buf_printf(&in, "line %d  \t with   spaces \r\n", i);
		buf_printf(&want, "line %d with spaces\r\n", i);
	}
	buf_append_str(&in, "\r\n \r\n\r\n");
	check_body("large relaxed", MG_DKIM_CANON_RELAXED, in.data, 997, -1, want.data,
	    (long long)want.len);
	buf_free(&in);
	buf_free(&want);
}

static const struct unit_case cases[] = {
	{ "parse", test_parse },
	{ "header", test_header },
	{ "body", test_body },
	{ "body_large", test_body_large },
};

UNIT_MAIN(cases)
