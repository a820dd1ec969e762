/* Unit tests for smtpd/sasl.c: AUTH command arguments, strict base64 (RFC 4648 vectors and every
 * malformation the decoder must refuse), RFC 4616 PLAIN messages, LOGIN fields, the users file,
 * and smtpd_auth_hash + argon2id_verify round trips (right and wrong password, dummy hash). */
#include <fcntl.h>	/* unit.h uses open() */
#include <argon2.h>

#include "unit.h"

#include "smtpd/sasl.h"
#include "smtpd/smtpd.h"

static struct slice
S(const char *s)
{
	return (struct slice){ s, strlen(s) };
}

static void
test_auth_cmd(void)
{
	static const struct {
		const char *name, *arg;
		int rc, mech, has_initial;
		const char *initial;
	} rows[] = {
		{ "plain", " PLAIN", 0, SASL_MECH_PLAIN, 0, "" },
		{ "plain lower", " plain", 0, SASL_MECH_PLAIN, 0, "" },
		{ "login", " LOGIN", 0, SASL_MECH_LOGIN, 0, "" },
		{ "initial", " PLAIN AGFsaWNlAHNlY3JldA==", 0, SASL_MECH_PLAIN, 1,
		  "AGFsaWNlAHNlY3JldA==" },
		{ "empty initial", " PLAIN =", 0, SASL_MECH_PLAIN, 1, "" },
		{ "unknown mech", " CRAM-MD5", 0, SASL_MECH_NONE, 0, "" },
		{ "no mech", "", -1, 0, 0, "" },
		{ "only space", "   ", -1, 0, 0, "" },
		{ "mech too long", " ABCDEFGHIJKLMNOPQRSTU", -1, 0, 0, "" },
		{ "bad mech char", " PL@IN", -1, 0, 0, "" },
		{ "junk after response", " PLAIN abcd efgh", -1, 0, 0, "" },
		{ "bad response char", " PLAIN ab!d", -1, 0, 0, "" },
		{ "trailing space ok", " LOGIN dXNlcg==  ", 0, SASL_MECH_LOGIN, 1, "dXNlcg==" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sasl_auth_cmd c;
		const char *err = NULL;
		int rc = sasl_auth_cmd_parse(S(rows[i].arg), &c, &err);

		CHECK(rc == rows[i].rc, "%s: rc got %d, want %d", rows[i].name, rc, rows[i].rc);
		if (rc < 0 || rows[i].rc < 0) {
			CHECK(rc >= 0 || err != NULL, "%s: no error text", rows[i].name);
			continue;
		}
		CHECK((int)c.mech == rows[i].mech, "%s: mech got %d, want %d", rows[i].name,
		    (int)c.mech, rows[i].mech);
		CHECK(c.has_initial == rows[i].has_initial, "%s: has_initial got %d", rows[i].name,
		    c.has_initial);
		CHECK(c.initial.len == strlen(rows[i].initial) &&
		    memcmp(c.initial.p, rows[i].initial, c.initial.len) == 0,
		    "%s: initial got \"%.*s\", want \"%s\"", rows[i].name, (int)c.initial.len,
		    c.initial.p, rows[i].initial);
	}
}

static void
test_base64(void)
{
	/* RFC 4648 §10 vectors, both ways. */
	static const struct {
		const char *plain, *b64;
	} ok[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	static const struct {
		const char *name, *b64;
	} bad[] = {
		{ "length not multiple of 4", "Zm9" }, { "pad in middle", "Zg==Zm9v" },
		{ "three pads", "Z===" }, { "char outside alphabet", "Zm9-" },
		{ "space", "Zm9 v" }, { "nonzero pad bits 1", "Zh==" }, { "nonzero pad bits 2", "Zm9=" },
		{ "pad first", "=Zm9" }, { "url alphabet", "Zm9_" },
	};
	unsigned char out[64];
	char enc[64];
	size_t n;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK_INT(sasl_base64_decode(S(ok[i].b64), out, sizeof(out), &n), 0);
		CHECK(n == strlen(ok[i].plain) && memcmp(out, ok[i].plain, n) == 0,
		    "decode %s: got %zu octets", ok[i].b64, n);
		CHECK_INT(sasl_base64_encode(ok[i].plain, strlen(ok[i].plain), enc, sizeof(enc)), 0);
		CHECK_STR(enc, ok[i].b64);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(sasl_base64_decode(S(bad[i].b64), out, sizeof(out), &n) < 0,
		    "%s: \"%s\" decoded, want an error", bad[i].name, bad[i].b64);
	/* output space is checked */
	CHECK_INT(sasl_base64_decode(S("Zm9vYmFy"), out, 5, &n), -1);
	CHECK_INT(sasl_base64_encode("foobar", 6, enc, 8), -1);
	/* binary: NUL octets survive */
	CHECK_INT(sasl_base64_decode(S("AGEAYg=="), out, sizeof(out), &n), 0);
	CHECK(n == 4 && memcmp(out, "\0a\0b", 4) == 0, "NUL decode: got %zu octets", n);
}

static void
test_plain(void)
{
	static const struct {
		const char *name;
		const char *msg;
		size_t len;
		int rc;
		const char *user, *pass;
	} rows[] = {
		{ "no authzid", "\0alice\0secret", 13, 0, "alice", "secret" },
		{ "same authzid", "alice\0alice\0secret", 18, 0, "alice", "secret" },
		{ "other authzid", "bob\0alice\0secret", 16, -1, "", "" },
		{ "one NUL", "alice\0secret", 12, -1, "", "" },
		{ "no NUL", "alicesecret", 11, -1, "", "" },
		{ "empty user", "\0\0secret", 8, -1, "", "" },
		{ "empty pass", "\0alice\0", 7, -1, "", "" },
		{ "third NUL", "\0alice\0sec\0ret", 14, -1, "", "" },
		{ "control in user", "\0al\tice\0secret", 14, -1, "", "" },
		{ "pass with spaces", "\0alice\0s e c", 12, 0, "alice", "s e c" },
	};
	struct sasl_plain p;
	const char *err;
	char big[600];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int rc = sasl_plain_parse((const unsigned char *)rows[i].msg, rows[i].len, &p, &err);

		CHECK(rc == rows[i].rc, "%s: rc got %d, want %d", rows[i].name, rc, rows[i].rc);
		if (rc == 0 && rows[i].rc == 0) {
			CHECK_STR(p.authcid, rows[i].user);
			CHECK_STR(p.passwd, rows[i].pass);
		}
	}
	/* RFC 4616 §2: 255 octets per field */
	big[0] = '\0';
	memset(big + 1, 'u', 255);
	big[256] = '\0';
	memset(big + 257, 'p', 255);
	CHECK_INT(sasl_plain_parse((unsigned char *)big, 512, &p, &err), 0);
	CHECK_INT(strlen(p.passwd), 255);
	memset(big + 1, 'u', 256);
	big[257] = '\0';
	memset(big + 258, 'p', 10);
	CHECK_INT(sasl_plain_parse((unsigned char *)big, 268, &p, &err), -1);
}

static void
test_login_field(void)
{
	char out[SASL_FIELD_MAX + 1];
	char big[300];

	CHECK_INT(sasl_login_field((const unsigned char *)"alice", 5, 1, out), 0);
	CHECK_STR(out, "alice");
	CHECK_INT(sasl_login_field((const unsigned char *)"", 0, 1, out), -1);
	CHECK_INT(sasl_login_field((const unsigned char *)"a\0b", 3, 0, out), -1);
	CHECK_INT(sasl_login_field((const unsigned char *)"a\nb", 3, 1, out), -1);
	CHECK_INT(sasl_login_field((const unsigned char *)"a\tb", 3, 0, out), 0);
	memset(big, 'x', sizeof(big));
	CHECK_INT(sasl_login_field((const unsigned char *)big, 255, 0, out), 0);
	CHECK_INT(sasl_login_field((const unsigned char *)big, 256, 0, out), -1);
}

#define H1 "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"

static void
test_users_parse(void)
{
	static const struct {
		const char *name, *text;
		int rc;
		size_t line, n;
	} rows[] = {
		{ "empty", "", 0, 0, 0 },
		{ "comments", "# users\n\n   \n# more\n", 0, 0, 0 },
		{ "two users", "bob:" H1 "\nalice:" H1 "\n", 0, 0, 2 },
		{ "crlf", "alice:" H1 "\r\n", 0, 0, 1 },
		{ "no final newline", "alice:" H1, 0, 0, 1 },
		{ "no colon", "alice\n", -1, 1, 0 },
		{ "empty name", ":" H1 "\n", -1, 1, 0 },
		{ "space in name", "al ice:" H1 "\n", -1, 1, 0 },
		{ "indented", " alice:" H1 "\n", -1, 1, 0 },
		{ "not argon2id", "alice:$argon2i$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA\n", -1, 1, 0 },
		{ "plaintext", "# c\nalice:secret\n", -1, 2, 0 },
		{ "junk after hash", "alice:" H1 " x\n", -1, 1, 0 },
		{ "duplicate", "alice:" H1 "\nalice:" H1 "\n", -1, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sasl_users u;
		const char *err = NULL;
		size_t line = 99;
		int rc = sasl_users_parse(rows[i].text, strlen(rows[i].text), &u, &line, &err);

		CHECK(rc == rows[i].rc, "%s: rc got %d, want %d (%s)", rows[i].name, rc, rows[i].rc,
		    err ? err : "");
		if (rc < 0) {
			CHECK(line == rows[i].line, "%s: line got %zu, want %zu", rows[i].name, line,
			    rows[i].line);
			CHECK(u.n == 0 && u.v == NULL, "%s: users left after an error", rows[i].name);
		} else
			CHECK(u.n == rows[i].n, "%s: n got %zu, want %zu", rows[i].name, u.n, rows[i].n);
		sasl_users_free(&u);
	}
}

static void
test_users_find(void)
{
	const char *text = "carol:" H1 "\nalice:" H1 "\nbob:" H1 "x\n";
	struct sasl_users u;
	const char *err;
	size_t line;

	CHECK_INT(sasl_users_parse(text, strlen(text), &u, &line, &err), 0);
	CHECK(sasl_users_find(&u, "alice") != NULL, "alice not found");
	CHECK(sasl_users_find(&u, "bob") != NULL &&
	    strcmp(sasl_users_find(&u, "bob")->hash, H1 "x") == 0, "bob's hash wrong");
	CHECK(sasl_users_find(&u, "carol") != NULL, "carol not found");
	CHECK(sasl_users_find(&u, "Alice") == NULL, "lookup must be case-sensitive");
	CHECK(sasl_users_find(&u, "dave") == NULL, "dave found");
	sasl_users_free(&u);
}

static void
test_hash_roundtrip(void)
{
	char h[SMTPD_ARGON2_ENCODED_MAX], h2[SMTPD_ARGON2_ENCODED_MAX];
	const char *err = NULL;

	CHECK_INT(smtpd_auth_hash("correct horse", 13, h, sizeof(h), &err), 0);
	CHECK(strncmp(h, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0, "hash prefix: %s", h);
	CHECK_INT(argon2id_verify(h, "correct horse", 13), ARGON2_OK);
	CHECK(argon2id_verify(h, "correct horsf", 13) != ARGON2_OK, "wrong password verified");
	CHECK(argon2id_verify(h, "correct hors", 12) != ARGON2_OK, "prefix verified");
	/* fresh salt each time */
	CHECK_INT(smtpd_auth_hash("correct horse", 13, h2, sizeof(h2), &err), 0);
	CHECK(strcmp(h, h2) != 0, "two hashes of one password are equal: salt not random");
	/* the encoded form fits the users file rules */
	{
		char line[300];
		struct sasl_users u;
		size_t ln;

		snprintf(line, sizeof(line), "alice:%s\n", h);
		CHECK_INT(sasl_users_parse(line, strlen(line), &u, &ln, &err), 0);
		sasl_users_free(&u);
	}
	CHECK_INT(smtpd_auth_hash("x", 1, h, 20, &err), -1);
}

static const struct unit_case cases[] = {
	{ "auth_cmd", test_auth_cmd },
	{ "base64", test_base64 },
	{ "plain", test_plain },
	{ "login_field", test_login_field },
	{ "users_parse", test_users_parse },
	{ "users_find", test_users_find },
	{ "hash_roundtrip", test_hash_roundtrip },
};

UNIT_MAIN(cases)
