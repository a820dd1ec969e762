/* Unit tests for dkim/sign.c and the key helpers of dkim/keystore.c: RSA-2048 and ed25519
 * signatures made by our engine (sign_engine.c) verify with libopendkim's verifier and ours against
 * the record mg_dkim_txt_record publishes; relaxed/relaxed, no l=, From oversigned, one line;
 * an added From, a changed body or a changed Subject break the signature; long folded headers
 * and 8bit bodies sign; repeated and oddly spaced fields and bodiless messages sign; the
 * 998-octet line cap is enforced; TXT strings split at 255 octets.
 * (Independent verifiers, dkimpy and mailauth, judge signatures in tests/integ/test_dkim_sign.py.) */
#include "unit.h"

#include <strings.h>

#include <openssl/evp.h>

#include "dkim/dkim.h"
#include "dkim/keystore.h"
#include "dkim/sign.h"
#include "lib/str.h"
#include "dkim_test.h"

static char g_record[4096];
static char *(*const unused_fixture)(const char *) __attribute__((unused)) = dkim_test_fixture;

static struct mg_dns_result *
table_lookup(void *ctx, const char *name, uint16_t type)
{
	struct mg_dns_result *r;

	(void)ctx;
	if (type != 16 || strcasecmp(name, "mg2027a._domainkey.example.com") != 0)
		return mg_dns_result_new(name, type, MG_DNS_NXDOMAIN, NULL);
	r = mg_dns_result_new(name, type, MG_DNS_OK, NULL);
	r->rcode = 0;
	r->rr = xcalloc(1, sizeof(*r->rr));
	r->rr[0].type = 16;
	r->rr[0].ttl = 300;
	r->rr[0].u.txt.data = xmemdup(g_record, strlen(g_record) + 1);
	r->rr[0].u.txt.len = strlen(g_record);
	r->n = 1;
	return r;
}

static const char msg_plain[] =
	"Received: from client (unknown [127.0.0.1])\n\tby mx.test (MailGuard) with ESMTP id x; now\n"
	"From: Alice <alice@example.com>\nTo: bob@example.org\nSubject: hello\n"
	"Date: Mon, 1 Jan 2029 00:00:00 +0000\nMessage-ID: <1@example.com>\n\nbody line\n\n\n";

/* Signs text with a fresh key of alg; returns the field (caller frees) and sets the record. */
static char *
sign_text(enum mg_dkim_keyalg alg, const char *text, size_t max_line, const char **err)
{
	struct mg_dkim_sign *s = mg_dkim_sign_new();
	struct buf pem, out, rec;
	enum mg_dkim_keyalg got;
	EVP_PKEY *pk;
	off_t size;
	int fd = dkim_test_msg_fd(text, &size);
	char *field = NULL;

	buf_init(&pem, MG_DKIM_KEYFILE_MAX + 1);
	buf_init(&out, 8192);
	buf_init(&rec, 4096);
	CHECK_INT(mg_dkim_keygen(alg, &pem, err), 0);
	pk = mg_dkim_pem_load(pem.data, pem.len, &got, err);
	CHECK(pk != NULL && got == alg, "key did not load back: %s", *err);
	CHECK_INT(mg_dkim_txt_record(pk, &rec), 0);
	str_lcpy(g_record, rec.data, sizeof(g_record));
	if (mg_dkim_sign_fd(s, pem.data, pem.len, alg, "example.com", "mg2027a", fd, size, max_line,
	    &out, err) == 0)
		field = buf_steal(&out);
	EVP_PKEY_free(pk);
	close(fd);
	buf_free(&pem);
	buf_free(&out);
	buf_free(&rec);
	mg_dkim_sign_free(&s);
	return field;
}

/* Verifies field + text with our verifier; returns the status. */
static enum mg_dkim_status
verify_text(const char *field, const char *text)
{
	struct mg_dkim_verifier *v = mg_dkim_verifier_new();
	struct mg_dns_lookup dns = { table_lookup, NULL };
	struct mg_dkim_results res;
	struct buf all;
	off_t size;
	int fd;

	buf_init(&all, 1 << 22);
	buf_printf(&all, "%s\n%s", field, text);
	fd = dkim_test_msg_fd(all.data, &size);
	mg_dkim_verify(v, &dns, fd, size, &res);
	close(fd);
	buf_free(&all);
	mg_dkim_verifier_free(&v);
	return res.n == 1 ? res.sig[0].result : MG_DKIM_NONE;
}

static void
check_roundtrip(enum mg_dkim_keyalg alg, const char *a)
{
	const char *err = NULL;
	char *f = sign_text(alg, msg_plain, 998, &err);

	CHECK(f != NULL, "sign failed: %s", err ? err : "?");
	if (f == NULL)
		return;
	CHECK(strncmp(f, "DKIM-Signature: v=1; ", 21) == 0, "prefix: %s", f);
	CHECK(strstr(f, a) != NULL, "algorithm %s missing: %s", a, f);
	CHECK(strstr(f, "c=relaxed/relaxed") != NULL, "canonicalisation: %s", f);
	CHECK(strstr(f, " l=") == NULL && strstr(f, ";l=") == NULL, "l= present: %s", f);
	CHECK(strstr(f, "h=From:From:") != NULL || strstr(f, "h=from:from:") != NULL ||
	    strcasestr(f, "from:") != NULL, "h=: %s", f);
	CHECK(strchr(f, '\n') == NULL && strchr(f, '\r') == NULL && strchr(f, '\t') == NULL,
	    "folded: %s", f);
	CHECK(strlen(f) <= 998, "too long: %zu", strlen(f));
	CHECK_INT(verify_text(f, msg_plain), MG_DKIM_PASS);
	xfree(f);
}

static void
test_rsa_roundtrip(void)
{
	check_roundtrip(MG_DKIM_ALG_RSA, "a=rsa-sha256");
}

static void
test_ed25519_roundtrip(void)
{
	check_roundtrip(MG_DKIM_ALG_ED25519, "a=ed25519-sha256");
}

static void
test_from_oversigned(void)
{
	const char *err = NULL;
	char *f = sign_text(MG_DKIM_ALG_ED25519, msg_plain, 998, &err);
	const char *h;
	int froms = 0;

	CHECK(f != NULL, "sign failed: %s", err ? err : "?");
	if (f == NULL)
		return;
	h = strstr(f, " h=");
	for (const char *p = h; p && *p && *p != ';'; p++)
		if (strncasecmp(p, "from", 4) == 0)
			froms++;
	CHECK_INT(froms, 2);
	/* a second From added after signing breaks the signature */
	{
		struct buf t;

		buf_init(&t, 1 << 20);
		buf_printf(&t, "From: Mallory <m@evil.example>\n%s", msg_plain);
		CHECK_INT(verify_text(f, t.data), MG_DKIM_FAIL);
		buf_free(&t);
	}
	xfree(f);
}

static void
test_tamper(void)
{
	const char *err = NULL;
	char *f = sign_text(MG_DKIM_ALG_RSA, msg_plain, 998, &err);
	char body[sizeof(msg_plain)], subj[sizeof(msg_plain)];

	CHECK(f != NULL, "sign failed: %s", err ? err : "?");
	if (f == NULL)
		return;
	str_lcpy(body, msg_plain, sizeof(body));
	*strstr(body, "body line") = 'B';
	CHECK_INT(verify_text(f, body), MG_DKIM_FAIL);
	str_lcpy(subj, msg_plain, sizeof(subj));
	*strstr(subj, "hello") = 'J';
	CHECK_INT(verify_text(f, subj), MG_DKIM_FAIL);
	/* relaxed: whitespace changes in headers and trailing empty lines do not matter */
	{
		struct buf t;

		buf_init(&t, 1 << 20);
		buf_printf(&t, "%s\n\n", msg_plain);
		CHECK_INT(verify_text(f, t.data), MG_DKIM_PASS);
		buf_free(&t);
	}
	xfree(f);
}

static void
test_long_header_8bit(void)
{
	struct buf t;
	const char *err = NULL;
	char *f;

	buf_init(&t, 1 << 20);
	buf_printf(&t, "From: =?utf-8?q?J=C3=B6rg?= <j@example.com>\nTo: a@example.org,\n");
	for (int i = 0; i < 40; i++)
		buf_printf(&t, "\tperson%d@example.org,\n", i);
	buf_printf(&t, "\tlast@example.org\nSubject: %s\nContent-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln\n", "long");
	f = sign_text(MG_DKIM_ALG_RSA, t.data, 998, &err);
	CHECK(f != NULL, "sign failed: %s", err ? err : "?");
	if (f != NULL)
		CHECK_INT(verify_text(f, t.data), MG_DKIM_PASS);
	xfree(f);
	f = sign_text(MG_DKIM_ALG_ED25519, t.data, 998, &err);
	if (f != NULL)
		CHECK_INT(verify_text(f, t.data), MG_DKIM_PASS);
	xfree(f);
	buf_free(&t);
}

/* Our ed25519 engine against libopendkim's verifier on awkward headers: repeated fields (signed
 * bottom-up, RFC 6376 §5.4.2), WSP before the colon, tabs and trailing WSP, no body at all, a
 * body of empty lines; and the same for libopendkim's RSA path. */
static void
test_edge_headers(void)
{
	static const char *const msgs[] = {
		"From: a@example.com\nTo: one@example.org\nTo: two@example.org\nSubject: x\n"
		    "Subject: second\n\nbody\n",
		"From : a@example.com\nSubject:\t spaced \t \n  folded\t\nTo: b@example.org\n\n",
		"From: a@example.com\nSubject: no body\n",
		"From: a@example.com\nSubject: empty lines\n\n\n\n\n",
		"Received: x\nfrom: lower@example.com\nFROM: upper@example.com\nCc: c@example.org\n"
		    "List-Id: <l.example.com>\n\n \t\nend \t\n",
	};

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		for (int a = 0; a < MG_DKIM_ALG_COUNT; a++) {
			const char *err = NULL;
			char *f = sign_text((enum mg_dkim_keyalg)a, msgs[i], 998, &err);

			CHECK(f != NULL, "message %zu alg %d: %s", i, a, err ? err : "?");
			if (f != NULL)
				CHECK(verify_text(f, msgs[i]) == MG_DKIM_PASS,
				    "message %zu alg %d does not verify: %s", i, a, f);
			xfree(f);
		}
}

static void
test_line_cap(void)
{
	const char *err = NULL;
	char *f = sign_text(MG_DKIM_ALG_RSA, msg_plain, 200, &err);

	CHECK(f == NULL, "signature over the cap accepted");
	CHECK_STR(err, "signature field longer than one header line allows");
	xfree(f);
}

static void
test_bad_key(void)
{
	struct mg_dkim_sign *s = mg_dkim_sign_new();
	struct buf out;
	const char *err = NULL;
	off_t size;
	int fd = dkim_test_msg_fd(msg_plain, &size);

	buf_init(&out, 8192);
	CHECK_INT(mg_dkim_sign_fd(s, "not a key", 9, MG_DKIM_ALG_RSA, "example.com", "s", fd, size,
	    998, &out, &err), -1);
	CHECK_INT(out.len, 0);
	close(fd);
	buf_free(&out);
	mg_dkim_sign_free(&s);
}

static void
test_txt_strings(void)
{
	struct buf pem, rec, out;
	enum mg_dkim_keyalg alg;
	const char *err;
	EVP_PKEY *pk;

	buf_init(&pem, MG_DKIM_KEYFILE_MAX + 1);
	buf_init(&rec, 4096);
	buf_init(&out, 8192);
	CHECK_INT(mg_dkim_keygen(MG_DKIM_ALG_RSA, &pem, &err), 0);
	pk = mg_dkim_pem_load(pem.data, pem.len, &alg, &err);
	CHECK_INT(mg_dkim_txt_record(pk, &rec), 0);
	CHECK(strncmp(rec.data, "v=DKIM1; k=rsa; p=MIIBIjAN", 26) == 0, "record: %.40s", rec.data);
	CHECK_INT(mg_dkim_txt_strings(rec.data, &out), 0);
	/* ~410 octets: two strings, the first exactly 255 */
	CHECK(out.data[0] == '"' && out.data[256] == '"' && out.data[257] == ' ',
	    "split: %.300s", out.data);
	CHECK_INT(out.len, rec.len + 5);
	EVP_PKEY_free(pk);
	buf_free(&pem);
	buf_free(&rec);
	buf_free(&out);
}

static const struct unit_case cases[] = {
	{ "rsa roundtrip", test_rsa_roundtrip },
	{ "ed25519 roundtrip", test_ed25519_roundtrip },
	{ "From oversigned", test_from_oversigned },
	{ "tamper", test_tamper },
	{ "long header 8bit", test_long_header_8bit },
	{ "edge headers", test_edge_headers },
	{ "line cap", test_line_cap },
	{ "bad key", test_bad_key },
	{ "txt strings", test_txt_strings },
};

UNIT_MAIN(cases)
