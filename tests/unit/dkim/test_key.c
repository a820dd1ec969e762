/* Unit tests for dkim/key.c: key record parsing (RFC 6376 §3.6.1: v= first and DKIM1, k=, h=,
 * s=, t= flags, revoked and malformed p=, RFC 8301 sizes, RSAPublicKey and SubjectPublicKeyInfo
 * forms, ed25519), the lookup status mapping through a table struct mg_dns_lookup, and the
 * per-message key cache (one query per key). The dkimpy bad-key records are checked verbatim. */
#include "unit.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dkim/dkim.h"
#include "dkim/key.h"

#define RSA1024 "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2" \
	"jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9Pzo" \
	"xZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"
#define RSA512 "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAIWmlgix/84GJ+dfgjm7LTc9EPdfkftlgiPpCq4/kbDAZmU0VvYK" \
	"DljjleJ1dfvS+CGy9U/kk1tG3EeEvb82xAcCAwEAAQ=="
#define ED25519 "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

struct key_case {
	const char *name;
	const char *record;
	enum mg_dkim_key_status st;
	const char *error;
	enum mg_dkim_key_type type;
	unsigned bits;
};

static const struct key_case key_cases[] = {
	{ "rsa", "v=DKIM1; k=rsa; p=" RSA1024, MG_DKIM_KEY_OK, NULL, MG_DKIM_KEY_RSA, 1024 },
	{ "rsa defaults", "p=" RSA1024, MG_DKIM_KEY_OK, NULL, MG_DKIM_KEY_RSA, 1024 },
	{ "dkimpy test.txt", "v=DKIM1; g=*; k=rsa; p=" RSA1024, MG_DKIM_KEY_OK, NULL, MG_DKIM_KEY_RSA, 1024 },
	{ "folded p=", "v=DKIM1; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3id Y6Wk08a5q"
	    "hdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lx j+PL6lHvqMKrM3rG4hs"
	    "tT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB", MG_DKIM_KEY_OK, NULL,
	    MG_DKIM_KEY_RSA, 1024 },
	{ "ed25519", "v=DKIM1; k=ed25519; p=" ED25519, MG_DKIM_KEY_OK, NULL, MG_DKIM_KEY_ED25519, 256 },
	{ "h=sha256", "v=DKIM1; h=sha1:sha256; p=" RSA1024, MG_DKIM_KEY_OK, NULL, MG_DKIM_KEY_RSA, 1024 },
	{ "s=email", "s=email; p=" RSA1024, MG_DKIM_KEY_OK, NULL, MG_DKIM_KEY_RSA, 1024 },
	{ "unknown tags ignored", "v=DKIM1; n=notes here; x9=1; p=" RSA1024, MG_DKIM_KEY_OK, NULL,
	    MG_DKIM_KEY_RSA, 1024 },
	/* dkimpy badversion.txt: "v=DKIM1:" makes the value "DKIM1: g=*" (§3.6.1: discard). */
	{ "badversion", "v=DKIM1: g=*; k=rsa; p=" RSA1024, MG_DKIM_KEY_PERMFAIL,
	    "key record version not DKIM1", 0, 0 },
	{ "v= not first", "k=rsa; v=DKIM1; p=" RSA1024, MG_DKIM_KEY_PERMFAIL,
	    "key record version not DKIM1", 0, 0 },
	/* dkimpy badk.txt: k=ed25519-sha256 (an algorithm, not a key type) over an RSA key. */
	{ "badk", "v=DKIM1; g=*; k=ed25519-sha256; p=" RSA1024, MG_DKIM_KEY_PERMFAIL, "unknown key type",
	    0, 0 },
	{ "ed25519 with RSA data", "v=DKIM1; k=ed25519; p=" RSA1024, MG_DKIM_KEY_PERMFAIL,
	    "ed25519 key not 32 octets", 0, 0 },
	/* dkimpy test_bad.txt: the last octets of the SubjectPublicKeyInfo damaged. */
	{ "test_bad", "v=DKIM1; g=*; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6N"
	    "pP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6l"
	    "HvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQA=", MG_DKIM_KEY_PERMFAIL,
	    "key data unusable for its type", 0, 0 },
	{ "revoked", "v=DKIM1; k=rsa; p=", MG_DKIM_KEY_PERMFAIL, "key revoked", 0, 0 },
	{ "no p=", "v=DKIM1; k=rsa", MG_DKIM_KEY_PERMFAIL, "key record without p=", 0, 0 },
	{ "unknown k=", "k=dsa; p=" RSA1024, MG_DKIM_KEY_PERMFAIL, "unknown key type", 0, 0 },
	{ "h=sha1 only", "h=sha1; p=" RSA1024, MG_DKIM_KEY_PERMFAIL, "key record does not allow sha256", 0, 0 },
	{ "s=other", "s=tlsrpt; p=" RSA1024, MG_DKIM_KEY_PERMFAIL, "key not for email", 0, 0 },
	{ "512 bits", "v=DKIM1; k=rsa; p=" RSA512, MG_DKIM_KEY_PERMFAIL, "key too small", 0, 0 },
	{ "not base64", "p=MIGf*", MG_DKIM_KEY_PERMFAIL, "key data not base64", 0, 0 },
	{ "syntax", "v=DKIM1; omgwhatsgoingon", MG_DKIM_KEY_PERMFAIL, "key record syntax error", 0, 0 },
	{ "ed25519 short", "k=ed25519; p=AAAA", MG_DKIM_KEY_PERMFAIL, "ed25519 key not 32 octets", 0, 0 },
};

static void
test_parse_table(void)
{
	for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		const struct key_case *c = &key_cases[i];
		struct mg_dkim_key key;
		const char *err = NULL;
		enum mg_dkim_key_status st = mg_dkim_key_parse(slice_from_str(c->record), &key, 0, &err);
		CHECK(st == c->st, "%s: got status %d (%s), want %d", c->name, st, err ? err : "", c->st);
		if (st == MG_DKIM_KEY_OK) {
			CHECK(key.pkey != NULL && key.type == c->type && key.bits == c->bits,
			    "%s: got type %d bits %u", c->name, key.type, key.bits);
		} else {
			CHECK(err && strcmp(err, c->error) == 0, "%s: got \"%s\", want \"%s\"", c->name,
			    err ? err : "(null)", c->error);
			CHECK(key.pkey == NULL, "%s: key left allocated", c->name);
		}
		/* The check-only mode (libopendkim's gate) agrees on every refusal but the size one,
		 * which it estimates from the DER length. */
		struct mg_dkim_key k2;
		enum mg_dkim_key_status st2 = mg_dkim_key_parse(slice_from_str(c->record), &k2,
		    MG_DKIM_KEY_CHECK_ONLY, &err);
		if (strcmp(c->name, "test_bad") != 0)
			CHECK(st2 == c->st, "%s: check-only status %d, want %d", c->name, st2, c->st);
		CHECK(k2.pkey == NULL, "%s: check-only made a key", c->name);
		mg_dkim_key_clear(&key);
	}
}

static void
test_flags(void)
{
	struct mg_dkim_key key;
	const char *err;

	CHECK_INT(mg_dkim_key_parse(slice_from_str("t=y:s; p=" RSA1024), &key, 0, &err), MG_DKIM_KEY_OK);
	CHECK(key.testing && key.strict, "t=y:s");
	mg_dkim_key_clear(&key);
	CHECK_INT(mg_dkim_key_parse(slice_from_str("t=s; p=" RSA1024), &key, 0, &err), MG_DKIM_KEY_OK);
	CHECK(!key.testing && key.strict, "t=s");
	mg_dkim_key_clear(&key);
}

static void
test_rsapublickey_form(void)
{
	/* RFC 6376 §3.6.1 names RSAPublicKey; deployed records use SubjectPublicKeyInfo: take both. */
	unsigned char der[1024], *p = der, spki[512];
	char b64[2048], rec[2200];
	const unsigned char *q = spki;
	int n = EVP_DecodeBlock(spki, (const unsigned char *)RSA1024, (int)strlen(RSA1024));
	EVP_PKEY *pk = d2i_PUBKEY(NULL, &q, n);	/* no '=' padding in this key: n is exact */
	struct mg_dkim_key key;
	const char *err;

	CHECK(pk != NULL, "decode test key");
	if (pk == NULL)
		return;
	int len = i2d_PublicKey(pk, &p);
	CHECK(len > 100, "i2d_PublicKey");
	EVP_EncodeBlock((unsigned char *)b64, der, len);
	snprintf(rec, sizeof(rec), "v=DKIM1; p=%s", b64);
	CHECK_INT(mg_dkim_key_parse(slice_from_str(rec), &key, 0, &err), MG_DKIM_KEY_OK);
	CHECK_INT(key.bits, 1024);
	mg_dkim_key_clear(&key);
	EVP_PKEY_free(pk);
}

static void
test_fetch(void)
{
	struct mg_dkim_txt_table *t = mg_dkim_txt_table_new();
	struct mg_dns_lookup dns;
	struct mg_dkim_key key;
	const char *err;

	mg_dkim_txt_table_add(t, "sel._domainkey.example.com", "v=DKIM1; p=" RSA1024);
	mg_dkim_txt_table_add(t, "tmp._domainkey.example.com", "!tempfail");
	mg_dkim_txt_table_add(t, "ref._domainkey.example.com", "!permfail");
	mg_dkim_txt_table_add(t, "bad._domainkey.example.com", "v=DKIM1; p=");
	mg_dkim_txt_table_lookup(t, &dns);
	CHECK_INT(mg_dkim_key_fetch(&dns, slice_from_str("sel"), slice_from_str("Example.COM"), &key, &err),
	    MG_DKIM_KEY_OK);
	mg_dkim_key_clear(&key);
	CHECK_INT(mg_dkim_key_fetch(&dns, slice_from_str("none"), slice_from_str("example.com"), &key, &err),
	    MG_DKIM_KEY_PERMFAIL);
	CHECK_STR(err, "no key for signature");
	CHECK_INT(mg_dkim_key_fetch(&dns, slice_from_str("tmp"), slice_from_str("example.com"), &key, &err),
	    MG_DKIM_KEY_TEMPFAIL);
	CHECK_INT(mg_dkim_key_fetch(&dns, slice_from_str("ref"), slice_from_str("example.com"), &key, &err),
	    MG_DKIM_KEY_TEMPFAIL);
	CHECK_INT(mg_dkim_key_fetch(&dns, slice_from_str("bad"), slice_from_str("example.com"), &key, &err),
	    MG_DKIM_KEY_PERMFAIL);
	CHECK_STR(err, "key revoked");
	unsigned q = mg_dkim_txt_table_queries(t);
	/* An invalid name is refused before any query. */
	CHECK_INT(mg_dkim_key_fetch(&dns, slice_from_str("a/b"), slice_from_str("example.com"), &key, &err),
	    MG_DKIM_KEY_PERMFAIL);
	CHECK_INT(mg_dkim_txt_table_queries(t), q);
	mg_dkim_txt_table_free(&t);
}

static void
test_cache(void)
{
	struct mg_dkim_txt_table *t = mg_dkim_txt_table_new();
	struct mg_dkim_keycache kc;
	struct mg_dns_lookup dns;
	const struct mg_dkim_key *k1, *k2;
	const char *err;

	mg_dkim_txt_table_add(t, "sel._domainkey.example.com", "v=DKIM1; p=" RSA1024);
	mg_dkim_txt_table_lookup(t, &dns);
	mg_dkim_keycache_init(&kc, &dns);
	CHECK_INT(mg_dkim_keycache_get(&kc, slice_from_str("sel"), slice_from_str("example.com"), &k1, &err),
	    MG_DKIM_KEY_OK);
	CHECK_INT(mg_dkim_keycache_get(&kc, slice_from_str("SEL"), slice_from_str("example.com"), &k2, &err),
	    MG_DKIM_KEY_OK);
	CHECK(k1 == k2, "same cache slot");
	CHECK_INT(mg_dkim_keycache_get(&kc, slice_from_str("x"), slice_from_str("example.com"), &k1, &err),
	    MG_DKIM_KEY_PERMFAIL);
	CHECK_INT(mg_dkim_keycache_get(&kc, slice_from_str("x"), slice_from_str("example.com"), &k1, &err),
	    MG_DKIM_KEY_PERMFAIL);
	CHECK_INT(mg_dkim_txt_table_queries(t), 2);
	/* More distinct names than slots: recycled, still correct. */
	for (int i = 0; i < 3 * MG_DKIM_KEYCACHE_MAX; i++) {
		char sel[16];
		snprintf(sel, sizeof(sel), "s%d", i);
		CHECK_INT(mg_dkim_keycache_get(&kc, slice_from_str(sel), slice_from_str("example.com"), &k1,
		    &err), MG_DKIM_KEY_PERMFAIL);
	}
	CHECK_INT(mg_dkim_keycache_get(&kc, slice_from_str("sel"), slice_from_str("example.com"), &k1, &err),
	    MG_DKIM_KEY_OK);
	CHECK(k1->pkey != NULL, "refetched key");
	mg_dkim_keycache_clear(&kc);
	mg_dkim_txt_table_free(&t);
}

static const struct unit_case cases[] = {
	{ "parse_table", test_parse_table },
	{ "flags", test_flags },
	{ "rsapublickey_form", test_rsapublickey_form },
	{ "fetch", test_fetch },
	{ "cache", test_cache },
};

UNIT_MAIN(cases)
