/* test_qtoken.c: unit tests for common/qtoken.c.
 * Round trips for every action, field validation in qtoken_make, tampering anywhere in the token
 * (payload, MAC, separator, non-canonical base64, truncation, overlong input), unknown keys, the
 * key file (created 0600, reloaded, refused when group/world readable or malformed) and rotation
 * (a new key after 30 days, old tokens still verifying until the old key's successor is older
 * than the link lifetime). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

#include "unit.h"

#include "common/qtoken.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define DAY 86400LL
#define T0 1700000000LL
#define LIFE (7 * DAY)

static char dir_a[PATH_MAX], dir_b[PATH_MAX];

static void
fresh(char *dir, const char *name)
{
	const char *t = getenv("TMPDIR");
	char tmpl[PATH_MAX];

	if (t == NULL || *t == '\0')
		t = "/tmp";
	snprintf(tmpl, sizeof(tmpl), "%s/test_qtoken.%s.XXXXXX", t, name);
	if (mkdtemp(tmpl) == NULL) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		dir[0] = '\0';
		return;
	}
	str_lcpy(dir, tmpl, PATH_MAX);
}

static void
cleanup(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char p[PATH_MAX];
		if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || e->d_name[1] == '.'))
			continue;
		if (str_fmt(p, sizeof(p), "%s/%s", dir, e->d_name) == 0)
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static int
load(const char *dir, int rotate, long long now)
{
	const char *err = NULL;
	int rc = qtoken_keys_load(dir, rotate, LIFE, now, &err);

	if (rc < 0)
		printf("     (load %s: %s)\n", dir, err ? err : "?");
	return rc;
}

static void
fill(struct qtoken *t, enum qtoken_action a, const char *qid, const char *rcpt, long long exp)
{
	memset(t, 0, sizeof(*t));
	t->action = a;
	t->expires = exp;
	str_lcpy(t->qid, qid, sizeof(t->qid));
	str_lcpy(t->rcpt, rcpt, sizeof(t->rcpt));
}

static void
case_roundtrip(void)
{
	static const struct {
		enum qtoken_action a;
		const char *qid, *rcpt;
	} v[] = {
		{ QT_RELEASE, "0123456789abcdef", "alice@example.org" },
		{ QT_DELETE, "fedcba9876543210", "bob@example.net" },
		{ QT_ALLOW, "00000000000000ff", "x@y" },
		{ QT_LIST, "", "carol+tag@sub.example.com" },
		{ QT_RELEASE, "abcdefghijABCDEFGHIJ0123456789zz", "b\xc3\xa9@example.org" },
	};
	struct qtoken t, p;
	char tok[QTOKEN_MAX + 1];
	const char *err;

	fresh(dir_a, "rt");
	CHECK_INT(load(dir_a, 1, T0), 0);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		fill(&t, v[i].a, v[i].qid, v[i].rcpt, T0 + LIFE);
		CHECK_INT(qtoken_make(&t, tok, sizeof(tok)), 0);
		for (const char *c = tok; *c; c++)
			CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.",
			    *c) != NULL, "case %zu: char 0x%02x in token", i, (unsigned char)*c);
		err = "unset";
		CHECK_INT(qtoken_parse(tok, &p, &err), 0);
		CHECK_STR(err, NULL);
		CHECK_INT(p.action, v[i].a);
		CHECK_INT(p.expires, T0 + LIFE);
		CHECK_STR(p.qid, v[i].qid);
		CHECK_STR(p.rcpt, v[i].rcpt);
		CHECK(memcmp(p.nonce, t.nonce, 8) == 0, "case %zu: nonce differs", i);
		CHECK_INT(p.key_id, 1);
	}
	cleanup(dir_a);
}

static void
case_nonce_and_case(void)
{
	struct qtoken t1, t2, p;
	char a[QTOKEN_MAX + 1], b[QTOKEN_MAX + 1];
	const char *err;

	fresh(dir_a, "nonce");
	CHECK_INT(load(dir_a, 1, T0), 0);
	fill(&t1, QT_DELETE, "0123456789abcdef", "Alice@Example.ORG", T0 + 5);
	fill(&t2, QT_DELETE, "0123456789abcdef", "alice@example.org", T0 + 5);
	CHECK_INT(qtoken_make(&t1, a, sizeof(a)), 0);
	CHECK_INT(qtoken_make(&t2, b, sizeof(b)), 0);
	CHECK(strcmp(a, b) != 0, "two tokens with random nonces are equal: %s", a);
	CHECK_INT(qtoken_parse(a, &p, &err), 0);
	CHECK_STR(p.rcpt, "alice@example.org");
	/* a nonce given by the caller is kept: same fields, same token */
	memcpy(t2.nonce, t1.nonce, 8);
	CHECK_INT(qtoken_make(&t2, b, sizeof(b)), 0);
	CHECK_STR(b, a);
	cleanup(dir_a);
}

static void
case_make_rejects(void)
{
	static const struct {
		const char *name;
		int a;
		const char *qid, *rcpt;
		long long exp;
	} v[] = {
		{ "list with qid", QT_LIST, "0123456789abcdef", "a@b", T0 },
		{ "release without qid", QT_RELEASE, "", "a@b", T0 },
		{ "bad action 0", 0, "0123", "a@b", T0 },
		{ "bad action 5", 5, "0123", "a@b", T0 },
		{ "qid punct", QT_DELETE, "01/3", "a@b", T0 },
		{ "rcpt empty", QT_DELETE, "0123", "", T0 },
		{ "rcpt space", QT_DELETE, "0123", "a b@c", T0 },
		{ "rcpt control", QT_DELETE, "0123", "a\tb@c", T0 },
		{ "expiry zero", QT_DELETE, "0123", "a@b", 0 },
		{ "expiry negative", QT_DELETE, "0123", "a@b", -5 },
	};
	struct qtoken t;
	char tok[QTOKEN_MAX + 1];

	fresh(dir_a, "rej");
	CHECK_INT(load(dir_a, 1, T0), 0);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		fill(&t, (enum qtoken_action)v[i].a, v[i].qid, v[i].rcpt, v[i].exp);
		CHECK(qtoken_make(&t, tok, sizeof(tok)) < 0, "%s: accepted", v[i].name);
	}
	fill(&t, QT_DELETE, "0123", "a@b", T0);
	CHECK(qtoken_make(&t, tok, 20) < 0, "tiny output buffer accepted");
	cleanup(dir_a);
}

static void
case_longest(void)
{
	struct qtoken t, p;
	char tok[QTOKEN_MAX + 1], rcpt[QTOKEN_RCPT_MAX + 1];
	const char *err;

	memset(rcpt, 'r', QTOKEN_RCPT_MAX);
	rcpt[QTOKEN_RCPT_MAX] = '\0';
	fresh(dir_a, "long");
	CHECK_INT(load(dir_a, 1, T0), 0);
	fill(&t, QT_ALLOW, "abcdefghijklmnopqrstuvwxyz012345", rcpt, (1LL << 62) - 1);
	CHECK_INT(qtoken_make(&t, tok, sizeof(tok)), 0);
	CHECK(strlen(tok) <= QTOKEN_MAX, "length %zu", strlen(tok));
	CHECK_INT(qtoken_parse(tok, &p, &err), 0);
	CHECK_INT(strlen(p.rcpt), QTOKEN_RCPT_MAX);
	cleanup(dir_a);
}

static void
expect_parse_fail(const char *tok, const char *want, const char *what)
{
	struct qtoken p;
	const char *err = NULL;

	CHECK(qtoken_parse(tok, &p, &err) < 0, "%s: accepted", what);
	CHECK(err && strcmp(err, want) == 0, "%s: error \"%s\", want \"%s\"", what,
	    err ? err : "(null)", want);
	CHECK(p.qid[0] == '\0' && p.rcpt[0] == '\0', "%s: fields left filled", what);
}

/* Flips every position of a valid token to another alphabet character: never accepted. */
static void
case_tamper(void)
{
	struct qtoken t;
	char tok[QTOKEN_MAX + 1], bad[QTOKEN_MAX + 1];
	size_t n;
	int accepted = 0;

	fresh(dir_a, "tamper");
	CHECK_INT(load(dir_a, 1, T0), 0);
	fill(&t, QT_RELEASE, "0123456789abcdef", "alice@example.org", T0 + LIFE);
	CHECK_INT(qtoken_make(&t, tok, sizeof(tok)), 0);
	n = strlen(tok);
	for (size_t i = 0; i < n; i++) {
		struct qtoken p;
		const char *err;

		if (tok[i] == '.')
			continue;
		memcpy(bad, tok, n + 1);
		bad[i] = tok[i] == 'A' ? 'B' : 'A';
		if (qtoken_parse(bad, &p, &err) == 0)
			accepted++;
	}
	CHECK_INT(accepted, 0);
	/* payload altered: the MAC no longer matches */
	memcpy(bad, tok, n + 1);
	bad[6] = bad[6] == 'x' ? 'y' : 'x';
	expect_parse_fail(bad, "bad signature", "payload byte");
	memcpy(bad, tok, n + 1);
	bad[n - 2] = bad[n - 2] == 'x' ? 'y' : 'x';
	expect_parse_fail(bad, "bad signature", "mac byte");
	/* the MAC of 16 octets ends in a character with 4 unused bits: setting one is non-canonical */
	memcpy(bad, tok, n + 1);
	bad[n - 1] = bad[n - 1] == 'B' ? 'C' : 'B';
	expect_parse_fail(bad, "malformed", "non-canonical last char");
	memcpy(bad, tok, n + 1);
	bad[n - 1] = '\0';
	expect_parse_fail(bad, "malformed", "truncated mac");
	memcpy(bad, tok, n + 1);
	*strchr(bad, '.') = '_';
	expect_parse_fail(bad, "malformed", "no dot");
	snprintf(bad, sizeof(bad), "%s=", tok);
	expect_parse_fail(bad, "malformed", "padding");
	snprintf(bad, sizeof(bad), "%s.", tok);
	expect_parse_fail(bad, "malformed", "second dot");
	expect_parse_fail("", "malformed", "empty");
	expect_parse_fail(".", "malformed", "dot alone");
	memcpy(bad, tok, n + 1);
	bad[0] = '+';
	expect_parse_fail(bad, "malformed", "standard alphabet");
	{
		char *big = xmalloc(QTOKEN_MAX + 100);
		memset(big, 'A', QTOKEN_MAX + 99);
		big[QTOKEN_MAX + 99] = '\0';
		expect_parse_fail(big, "malformed", "overlong");
		xfree(big);
	}
	cleanup(dir_a);
}

static void
case_keyfile(void)
{
	char path[PATH_MAX], text[4096];
	struct stat st;
	FILE *f;
	struct qtoken t, p;
	char tok[QTOKEN_MAX + 1];
	const char *err;
	size_t n;

	fresh(dir_a, "file");
	fresh(dir_b, "fileb");
	/* without rotate, a missing file is an error */
	CHECK(load(dir_b, 0, T0) < 0, "missing key file accepted");
	CHECK_INT(load(dir_a, 1, T0), 0);
	CHECK_INT(str_fmt(path, sizeof(path), "%s/qtoken-keys", dir_a), 0);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	f = fopen(path, "r");
	n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	text[n] = '\0';
	if (f)
		fclose(f);
	CHECK(strstr(text, "\n1 ") != NULL, "no key 1 line in: %s", text);
	fill(&t, QT_DELETE, "0123456789abcdef", "a@b", T0 + 1);
	CHECK_INT(qtoken_make(&t, tok, sizeof(tok)), 0);
	/* reload read-only (the admin role's call) and verify */
	CHECK_INT(load(dir_a, 0, T0 + 10), 0);
	CHECK_INT(qtoken_parse(tok, &p, &err), 0);
	/* another installation's key 1 does not verify it */
	CHECK_INT(load(dir_b, 1, T0), 0);
	expect_parse_fail(tok, "bad signature", "other key 1");
	/* group-readable: refused */
	chmod(path, 0640);
	CHECK(load(dir_a, 0, T0) < 0, "mode 0640 accepted");
	chmod(path, 0600);
	/* malformed lines: refused, and the previous keys stay in use */
	CHECK_INT(str_fmt(path, sizeof(path), "%s/qtoken-keys", dir_b), 0);
	static const char *bad[] = {
		"1 00 1700000000\n",
		"0 " "0000000000000000000000000000000000000000000000000000000000000000 1\n",
		"256 0000000000000000000000000000000000000000000000000000000000000000 1\n",
		"1 000000000000000000000000000000000000000000000000000000000000000g 1\n",
		"1 0000000000000000000000000000000000000000000000000000000000000000 -1\n",
		"1 0000000000000000000000000000000000000000000000000000000000000000\n",
		"1 0000000000000000000000000000000000000000000000000000000000000000 1 x\n",
		"1 0000000000000000000000000000000000000000000000000000000000000000 1\n"
		"1 1111111111111111111111111111111111111111111111111111111111111111 2\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = fopen(path, "w");
		if (f) {
			fputs(bad[i], f);
			fclose(f);
		}
		chmod(path, 0600);
		CHECK(load(dir_b, 0, T0) < 0, "bad key file %zu accepted", i);
	}
	CHECK_INT(load(dir_a, 0, T0), 0);
	CHECK_INT(qtoken_parse(tok, &p, &err), 0);
	cleanup(dir_a);
	cleanup(dir_b);
}

static void
case_rotation(void)
{
	struct qtoken t, p;
	char tok1[QTOKEN_MAX + 1], tok2[QTOKEN_MAX + 1];
	const char *err;
	long long rot = T0 + 30 * DAY;

	fresh(dir_a, "rot");
	CHECK_INT(load(dir_a, 1, T0), 0);
	fill(&t, QT_RELEASE, "0123456789abcdef", "a@b", rot + LIFE);
	CHECK_INT(qtoken_make(&t, tok1, sizeof(tok1)), 0);
	CHECK_INT(t.key_id, 1);
	/* day 29: no new key */
	CHECK_INT(load(dir_a, 1, T0 + 29 * DAY), 0);
	CHECK_INT(qtoken_make(&t, tok2, sizeof(tok2)), 0);
	CHECK_INT(t.key_id, 1);
	/* day 30: key 2 signs, key 1 still verifies */
	CHECK_INT(load(dir_a, 1, rot), 0);
	CHECK_INT(qtoken_make(&t, tok2, sizeof(tok2)), 0);
	CHECK_INT(t.key_id, 2);
	CHECK_INT(qtoken_parse(tok1, &p, &err), 0);
	CHECK_INT(p.key_id, 1);
	CHECK_INT(qtoken_parse(tok2, &p, &err), 0);
	CHECK_INT(p.key_id, 2);
	/* key 1 stays while a token it signed may be unexpired */
	CHECK_INT(load(dir_a, 1, rot + LIFE), 0);
	CHECK_INT(qtoken_parse(tok1, &p, &err), 0);
	/* then goes; key 2 stays */
	CHECK_INT(load(dir_a, 1, rot + LIFE + 1), 0);
	expect_parse_fail(tok1, "unknown key", "key 1 after expiry");
	CHECK_INT(qtoken_parse(tok2, &p, &err), 0);
	/* a reader without rotate sees the same */
	CHECK_INT(load(dir_a, 0, rot + LIFE + 2), 0);
	expect_parse_fail(tok1, "unknown key", "key 1 reloaded");
	CHECK_INT(qtoken_parse(tok2, &p, &err), 0);
	cleanup(dir_a);
}

static const struct unit_case cases[] = {
	{ "roundtrip", case_roundtrip },
	{ "nonce_and_case", case_nonce_and_case },
	{ "make_rejects", case_make_rejects },
	{ "longest", case_longest },
	{ "tamper", case_tamper },
	{ "keyfile", case_keyfile },
	{ "rotation", case_rotation },
};

UNIT_MAIN(cases)
