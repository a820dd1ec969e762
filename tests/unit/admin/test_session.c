/* test_session.c: the pure parts of console authentication (admin/session_parse.c), the users
 * and tokens files (admin/session_store.c) and the audit log's JSON and reading (admin/audit.c):
 * Cookie and Authorization parsing, the post-login redirect check, address keys, name rules,
 * file parsing and rewriting, lockout arithmetic on an explicit clock, the verification cap. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"

#include "admin/audit.h"
#include "admin/session_int.h"
#include "config/config.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

#define ID64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void
test_cookie_find(void)
{
	static const struct {
		const char *name, *header, *want;	/* want NULL: -1 */
	} t[] = {
		{ "only", "__Host-mg_session=abc", "abc" },
		{ "among others", "a=1; __Host-mg_session=" ID64 "; b=2", ID64 },
		{ "no space after ;", "a=1;__Host-mg_session=xyz", "xyz" },
		{ "tabs and trailing blanks", "a=1;\t__Host-mg_session=xyz  ", "xyz" },
		{ "quoted", "__Host-mg_session=\"q1\"", "q1" },
		{ "missing", "a=1; b=2", NULL },
		{ "empty value", "__Host-mg_session=", NULL },
		{ "twice: refused", "__Host-mg_session=a; __Host-mg_session=b", NULL },
		{ "prefix of another name", "x__Host-mg_session=abc", NULL },
		{ "name as a value", "a=__Host-mg_session=abc", NULL },
		{ "longer name", "__Host-mg_session2=abc", NULL },
		{ "comma in value", "__Host-mg_session=a,b", NULL },
		{ "backslash in value", "__Host-mg_session=a\\b", NULL },
		{ "space inside value", "__Host-mg_session=a b", NULL },
		{ "8-bit in value", "__Host-mg_session=a\xc3\xa9", NULL },
		{ "no header", NULL, NULL },
	};
	char out[SESSION_HEX_LEN + 1];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = session_cookie_find(t[i].header, SESSION_COOKIE, out, sizeof(out));

		if (t[i].want == NULL)
			CHECK(rc == -1, "%s: got %d (\"%s\"), want -1", t[i].name, rc, out);
		else
			CHECK(rc == 0 && strcmp(out, t[i].want) == 0, "%s: got %d \"%s\", want "
			    "\"%s\"", t[i].name, rc, rc == 0 ? out : "", t[i].want);
	}
	/* too long for the buffer */
	CHECK_INT(session_cookie_find("__Host-mg_session=" ID64 "0", SESSION_COOKIE, out,
	    sizeof(out)), -1);
	/* a header over SESSION_COOKIE_HDR_MAX is ignored whole */
	{
		char *big = xmalloc(SESSION_COOKIE_HDR_MAX + 64);

		memset(big, 'a', SESSION_COOKIE_HDR_MAX + 10);
		memcpy(big + SESSION_COOKIE_HDR_MAX + 10, "; __Host-mg_session=z", 22);
		CHECK_INT(session_cookie_find(big, SESSION_COOKIE, out, sizeof(out)), -1);
		xfree(big);
	}
}

static void
test_hex_and_bearer(void)
{
	char tok[SESSION_HEX_LEN + 1];

	CHECK_INT(session_is_hex_id(ID64), 1);
	CHECK_INT(session_is_hex_id(ID64 "0"), 0);
	CHECK_INT(session_is_hex_id("0123"), 0);
	CHECK_INT(session_is_hex_id("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"),
	    0);
	CHECK_INT(session_bearer_parse("Bearer " ID64, tok, sizeof(tok)), 0);
	CHECK_STR(tok, ID64);
	CHECK_INT(session_bearer_parse("bearer  0123456789ABCDEF0123456789abcdef0123456789abcdef"
	    "0123456789abcdef", tok, sizeof(tok)), 0);
	CHECK_STR(tok, ID64);	/* lower-cased */
	CHECK_INT(session_bearer_parse("Basic " ID64, tok, sizeof(tok)), -1);
	CHECK_INT(session_bearer_parse("Bearer " ID64 "0", tok, sizeof(tok)), -1);
	CHECK_INT(session_bearer_parse("Bearer 0123", tok, sizeof(tok)), -1);
	CHECK_INT(session_bearer_parse("Bearer " ID64 " ", tok, sizeof(tok)), -1);
	CHECK_INT(session_bearer_parse("Bearer g123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef", tok, sizeof(tok)), -1);
	CHECK_INT(session_bearer_parse(NULL, tok, sizeof(tok)), -1);
	CHECK_INT(session_bearer_parse("Bearer " ID64, tok, 64), -1);
}

static void
test_next_safe(void)
{
	static const struct {
		const char *in, *want;
	} t[] = {
		{ "/", "/" },
		{ "/domains/example.org", "/domains/example.org" },
		{ "/queue?page=2", "/queue?page=2" },
		{ "//evil.example/", "/" },
		{ "/\\evil.example", "/" },
		{ "/a//b", "/" },
		{ "https://evil.example/", "/" },
		{ "evil", "/" },
		{ "", "/" },
		{ "/a b", "/" },
		{ "/a\tb", "/" },
		{ "/\xc3\xa9", "/" },
		{ "/x\r\nSet-Cookie: a=b", "/" },
		{ NULL, "/" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECK_STR(session_next_safe(t[i].in), t[i].want);
	{
		char longp[1100];

		memset(longp, 'a', sizeof(longp) - 1);
		longp[0] = '/';
		longp[sizeof(longp) - 1] = '\0';
		CHECK_STR(session_next_safe(longp), "/");
	}
}

static void
test_addr_key(void)
{
	static const struct {
		const char *in, *want;
	} t[] = {
		{ "127.0.0.1", "127.0.0.1" },
		{ "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64" },
		{ "2001:db8:1:2::ffff", "2001:db8:1:2::/64" },
		{ "::1", "::/64" },
		{ "::ffff:192.0.2.7", "192.0.2.7" },
	};
	char out[80];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CHECK_INT(session_addr_key(t[i].in, out, sizeof(out)), 0);
		CHECK_STR(out, t[i].want);
	}
	CHECK_INT(session_addr_key("not an address", out, sizeof(out)), -1);
	CHECK_INT(session_addr_key(NULL, out, sizeof(out)), -1);
}

static void
test_names(void)
{
	CHECK_INT(session_name_ok("admin"), 1);
	CHECK_INT(session_name_ok("a.b_c@d+e-f"), 1);
	CHECK_INT(session_name_ok(""), 0);
	CHECK_INT(session_name_ok("a b"), 0);
	CHECK_INT(session_name_ok("a:b"), 0);
	CHECK_INT(session_name_ok("<script>"), 0);
	CHECK_INT(session_name_ok("123456789012345678901234567890123456789012345678"), 1);
	CHECK_INT(session_name_ok("1234567890123456789012345678901234567890123456789"), 0);
}

#define H1 "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNo"

static void
test_creds_parse(void)
{
	static const char good[] = "# admins\n\nalice:" H1 "\n  bob:" H1 "x\r\n";
	static const struct {
		const char *name, *text;
		enum session_cred_kind kind;
		size_t line;
	} bad[] = {
		{ "no colon", "alice\n", SESSION_CRED_USERS, 1 },
		{ "bad name", "# c\nal ice:" H1 "\n", SESSION_CRED_USERS, 2 },
		{ "not argon2id", "alice:$argon2i$v=19$m=1\n", SESSION_CRED_USERS, 1 },
		{ "twice", "a:" H1 "\nb:" H1 "\na:" H1 "\n", SESSION_CRED_USERS, 3 },
		{ "short token digest", "t:abcd\n", SESSION_CRED_TOKENS, 1 },
		{ "upper-case digest", "t:" "0123456789ABCDEF0123456789abcdef0123456789abcdef"
		    "0123456789abcdef\n", SESSION_CRED_TOKENS, 1 },
	};
	struct session_cred *c;
	const char *err;
	size_t n, line;

	CHECK_INT(session_creds_parse(good, strlen(good), SESSION_CRED_USERS, &c, &n, &line,
	    &err), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(c[0].name, "alice");
		CHECK_STR(c[0].secret, H1);
		CHECK_STR(c[1].name, "bob");
		CHECK_STR(c[1].secret, H1 "x");
	}
	session_creds_free(&c, &n);
	CHECK_INT(session_creds_parse("t:" ID64, 66, SESSION_CRED_TOKENS, &c, &n, &line, &err), 0);
	CHECK_INT(n, 1);
	session_creds_free(&c, &n);
	CHECK_INT(session_creds_parse("", 0, SESSION_CRED_USERS, &c, &n, &line, &err), 0);
	CHECK_INT(n, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = session_creds_parse(bad[i].text, strlen(bad[i].text), bad[i].kind, &c, &n,
		    &line, &err);

		CHECK(rc == -1 && line == bad[i].line, "%s: got rc %d line %zu, want -1 line %zu",
		    bad[i].name, rc, line, bad[i].line);
	}
}

static void
test_limits(void)
{
	struct session_limits l;
	const unsigned limit = 3;
	const double lockout = 60;

	session_limits_init(&l, 8);
	/* two failures: not locked */
	CHECK_INT(session_limits_fail(&l, "u:a", 100, limit, lockout), 0);
	CHECK_INT(session_limits_fail(&l, "u:a", 101, limit, lockout), 0);
	CHECK(session_limits_locked(&l, "u:a", 102) == 0, "locked after 2 of 3");
	CHECK_INT(session_limits_count(&l, "u:a", 102, lockout), 2);
	CHECK_INT(session_limits_count(&l, "u:nobody", 102, lockout), 0);
	CHECK_INT(session_limits_count(&l, "u:a", 160, lockout), 0);	/* window passed */
	/* the third within the window locks for `lockout` from then */
	CHECK_INT(session_limits_fail(&l, "u:a", 102, limit, lockout), 1);
	CHECK(session_limits_locked(&l, "u:a", 103) > 58.9, "not locked after 3 of 3: %g",
	    session_limits_locked(&l, "u:a", 103));
	CHECK_INT(session_limits_count(&l, "u:a", 103, lockout), 3);	/* locked: counted */
	/* more failures while locked do not extend the lockout */
	CHECK_INT(session_limits_fail(&l, "u:a", 150, limit, lockout), 0);
	CHECK(session_limits_locked(&l, "u:a", 161.9) > 0, "lock ended early");
	CHECK(session_limits_locked(&l, "u:a", 162) == 0, "lock did not end at 162");
	CHECK_INT(session_limits_count(&l, "u:a", 162, lockout), 0);	/* lockout over: afresh */
	/* after the lockout a fresh window: one failure does not lock again */
	CHECK_INT(session_limits_fail(&l, "u:a", 170, limit, lockout), 0);
	CHECK(session_limits_locked(&l, "u:a", 170) == 0, "locked again after one failure");
	/* failures spread over more than the window never lock */
	CHECK_INT(session_limits_fail(&l, "a:x", 0, limit, lockout), 0);
	CHECK_INT(session_limits_fail(&l, "a:x", 30, limit, lockout), 0);
	CHECK_INT(session_limits_fail(&l, "a:x", 61, limit, lockout), 0);	/* new window */
	CHECK_INT(session_limits_fail(&l, "a:x", 62, limit, lockout), 0);
	CHECK_INT(session_limits_fail(&l, "a:x", 63, limit, lockout), 1);
	/* clearing forgets */
	session_limits_clear(&l, "a:x");
	CHECK(session_limits_locked(&l, "a:x", 64) == 0, "still locked after clear");
	/* a full table keeps locked keys and replaces the least recently used unlocked one */
	session_limits_free(&l);
	session_limits_init(&l, 3);
	for (int i = 0; i < 3; i++)
		session_limits_fail(&l, "locked", 10 + i, limit, lockout);
	session_limits_fail(&l, "old", 20, limit, lockout);
	session_limits_fail(&l, "newer", 21, limit, lockout);
	session_limits_fail(&l, "newest", 22, limit, lockout);	/* evicts "old" */
	CHECK(session_limits_locked(&l, "locked", 23) > 0, "locked key evicted");
	CHECK_INT(l.n, 3);
	{
		int has_old = 0, has_newest = 0;

		for (size_t i = 0; i < l.n; i++) {
			has_old |= strcmp(l.ents[i].key, "old") == 0;
			has_newest |= strcmp(l.ents[i].key, "newest") == 0;
		}
		CHECK(!has_old && has_newest, "eviction: old %d newest %d", has_old, has_newest);
	}
	session_limits_free(&l);
}

static void
test_rate(void)
{
	struct session_rate r = { 0, 0 };
	int took = 0;

	for (int i = 0; i < 30; i++)
		took += session_rate_take(&r, 1000.0 + i * 0.01, SESSION_VERIFY_PER_SEC);
	CHECK_INT(took, SESSION_VERIFY_PER_SEC);
	CHECK_INT(session_rate_take(&r, 1001.0, SESSION_VERIFY_PER_SEC), 1);	/* next second */
	CHECK_INT(session_rate_take(&r, 5.0, SESSION_VERIFY_PER_SEC), 1);	/* clock went back */
}

static char tmpdir[PATH_MAX];

static void
make_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_session.XXXXXX", t ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
}

static char *
slurp(const char *path)
{
	struct buf b;
	int missing;
	const char *err;

	buf_init(&b, 1 << 20);
	if (session_file_read(path, &b, &missing, &err) < 0 || missing) {
		buf_free(&b);
		return xstrdup("(unreadable)");
	}
	return b.data ? buf_steal(&b) : xstrdup("");
}

static void
test_store(void)
{
	char *path = xasprintf("%s/admin-users", tmpdir), *s;
	const char *err = NULL;
	struct stat st;
	int existed;

	CHECK_INT(session_file_update(path, "alice", H1, 0, &existed, &err), 0);
	CHECK_INT(existed, 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode %o, want 600",
	    (unsigned)(st.st_mode & 0777));
	/* comments and other lines stay, a replaced line keeps its place */
	{
		FILE *fp = fopen(path, "w");

		fprintf(fp, "# first\nalice:%s\n# middle\nbob:%s\n", H1, H1);
		fclose(fp);
		chmod(path, 0600);
	}
	CHECK_INT(session_file_update(path, "alice", H1 "new", 0, &existed, &err), 0);
	CHECK_INT(existed, 1);
	s = slurp(path);
	CHECK_STR(s, "# first\nalice:" H1 "new\n# middle\nbob:" H1 "\n");
	xfree(s);
	CHECK_INT(session_file_update(path, "bob", NULL, 1, &existed, &err), 0);
	s = slurp(path);
	CHECK_STR(s, "# first\nalice:" H1 "new\n# middle\n");
	xfree(s);
	/* the last admin stays */
	CHECK_INT(session_file_update(path, "alice", NULL, 1, &existed, &err), -1);
	CHECK_STR(err, "refusing to remove the last administrator");
	CHECK_INT(session_file_update(path, "carol", NULL, 1, &existed, &err), -1);
	CHECK_STR(err, "no such name");
	/* group/other access: refused for reading and rewriting */
	chmod(path, 0640);
	CHECK_INT(session_file_update(path, "dave", H1, 0, &existed, &err), -1);
	{
		struct session_cred *c;
		size_t n;
		char ebuf[128];

		CHECK_INT(session_file_load(path, SESSION_CRED_USERS, &c, &n, ebuf, sizeof(ebuf)),
		    -1);
		CHECK(strstr(ebuf, "group or others") != NULL, "error: %s", ebuf);
		chmod(path, 0600);
		CHECK_INT(session_file_load(path, SESSION_CRED_USERS, &c, &n, ebuf, sizeof(ebuf)), 0);
		CHECK_INT(n, 1);
		session_creds_free(&c, &n);
	}
	unlink(path);
	xfree(path);
}

static void
test_token_digest(void)
{
	char hex[SESSION_HEX_LEN + 1], r1[SESSION_HEX_LEN + 1], r2[SESSION_HEX_LEN + 1];

	session_token_digest("abc", hex);	/* FIPS 180-2 example */
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CHECK_INT(session_random_hex(r1, sizeof(r1)), 0);
	CHECK_INT(session_random_hex(r2, sizeof(r2)), 0);
	CHECK(session_is_hex_id(r1) && strcmp(r1, r2) != 0, "random ids %s %s", r1, r2);
	CHECK_INT(session_random_hex(r1, SESSION_HEX_LEN), -1);
}

static void
test_audit_json(void)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} t[] = {
		{ "plain", 5, "\"plain\"" },
		{ "q\"b\\", 4, "\"q\\\"b\\\\\"" },
		{ "<script>&", 9, "\"\\u003cscript\\u003e\\u0026\"" },
		{ "a\nb\x01", 4, "\"a\\u000ab\\u0001\"" },
		{ "\xc3\xa9t\xc3\xa9", 5, "\"\xc3\xa9t\xc3\xa9\"" },
		{ "bad\xff\xc3", 5, "\"bad\\ufffd\\ufffd\"" },
		{ "\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"" },	/* surrogate */
		{ "a\0b", 3, "\"a\\u0000b\"" },
	};
	struct buf b;

	buf_init(&b, 4096);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		buf_reset(&b);
		CHECK_INT(audit_json_str(&b, t[i].in, t[i].len), 0);
		CHECK_STR(b.data, t[i].want);
	}
	buf_free(&b);
}

static void
test_audit_log(void)
{
	struct mg_config cfg;
	struct buf out;
	char *path = xasprintf("%s/audit.log", tmpdir), *big;
	struct stat st;

	memset(&cfg, 0, sizeof(cfg));
	cfg.state_dir = tmpdir;
	cfg.audit_log = path;
	admin_audit_configure(&cfg);
	admin_audit_as("alice", "127.0.0.1", "login", NULL, NULL, NULL);
	admin_audit_as("alice", "127.0.0.1", "domain.set", "example.org", "a = 1", "a = <2>");
	admin_audit_as(NULL, "::1", "lockout", "u:bob", NULL, NULL);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "audit mode %o",
	    (unsigned)(st.st_mode & 0777));
	buf_init(&out, 1 << 20);
	CHECK_INT(admin_audit_read(&out, 10, 0), 3);
	{
		const char *l1 = out.data, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;

		CHECK(strncmp(l1, "{\"time\":\"", 9) == 0 && strstr(l1, "\"who\":\"-\","
		    "\"peer\":\"::1\",\"action\":\"lockout\",\"target\":\"u:bob\",\"before\":null,"
		    "\"after\":null}\n") != NULL, "newest first: %s", l1);
		CHECK(strstr(l2, "\"before\":\"a = 1\",\"after\":\"a = \\u003c2\\u003e\"}") != NULL,
		    "second: %.200s", l2);
		CHECK(strstr(l3, "\"action\":\"login\"") != NULL && strchr(l3, '\n')[1] == '\0',
		    "oldest last: %s", l3);
		/* ISO 8601 UTC time */
		CHECK(l1[9 + 4] == '-' && l1[9 + 10] == 'T' && l1[9 + 19] == 'Z', "time: %.40s", l1);
	}
	buf_reset(&out);
	CHECK_INT(admin_audit_read(&out, 1, 1), 1);
	CHECK(strstr(out.data, "domain.set") != NULL, "skip 1: %s", out.data);
	buf_reset(&out);
	CHECK_INT(admin_audit_read(&out, 5, 3), 0);
	/* a value over AUDIT_VALUE_MAX is cut and marked; records across block borders */
	big = xmalloc(AUDIT_VALUE_MAX + 100);
	memset(big, 'x', AUDIT_VALUE_MAX + 99);
	big[AUDIT_VALUE_MAX + 99] = '\0';
	admin_audit_as("alice", "127.0.0.1", "big", NULL, big, NULL);
	admin_audit_as("alice", "127.0.0.1", "after-big", NULL, NULL, NULL);
	buf_reset(&out);
	CHECK_INT(admin_audit_read(&out, 10, 0), 5);
	CHECK(strstr(out.data, "x [truncated]\"") != NULL, "no truncation mark");
	CHECK(strstr(out.data, "after-big") < strstr(out.data, "\"big\""), "order");
	xfree(big);
	buf_free(&out);
	unlink(path);
	xfree(path);
}

static const struct unit_case cases[] = {
	{ "cookie_find", test_cookie_find },
	{ "hex_and_bearer", test_hex_and_bearer },
	{ "next_safe", test_next_safe },
	{ "addr_key", test_addr_key },
	{ "names", test_names },
	{ "creds_parse", test_creds_parse },
	{ "limits", test_limits },
	{ "rate", test_rate },
	{ "store", test_store },
	{ "token_digest", test_token_digest },
	{ "audit_json", test_audit_json },
	{ "audit_log", test_audit_log },
};

static void __attribute__((constructor))
setup(void)
{
	make_tmpdir();
}

static void __attribute__((destructor))
teardown(void)
{
	rmdir(tmpdir);
}

UNIT_MAIN(cases)
