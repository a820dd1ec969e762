/* Unit tests for dkim/keystore.c (state file parser and writer, key files on disk with their
 * permission checks) and dkim/rotation.c (the rotation timeline without clocks): next key at
 * T-30 d, DNS check due at T, switch, grace period, retirement, selector names, table limits. */
#include "unit.h"

#include <sys/stat.h>

#include "dkim/keystore.h"
#include "dkim/rotation.h"
#include "lib/str.h"

#define DAY 86400LL
#define T0 1798761600LL		/* 2027-01-01T00:00:00Z */

static const struct mg_dkim_rotation_cfg rc = { 365 * DAY, 30 * DAY, 7 * DAY };

struct parse_case {
	const char *name;
	const char *text;
	const char *error;	/* NULL = valid */
};

static const struct parse_case parse_cases[] = {
	{ "empty state", "mgdkim-state 1\ndomain example.com\nend\n", NULL },
	{ "two keys", "mgdkim-state 1\ndomain example.com\n"
	    "key mg2026a rsa2048 current 1 2 3\nkey mg2027a rsa2048 next 4 5 6\nend\n", NULL },
	{ "both algorithms", "mgdkim-state 1\ndomain example.com\n"
	    "key mg2026a rsa2048 current 1 2 3\nkey mg2026b ed25519 current 1 2 3\nend\n", NULL },
	{ "no version", "domain example.com\nend\n", "missing or unsupported version line" },
	{ "version 2", "mgdkim-state 2\ndomain example.com\nend\n",
	    "missing or unsupported version line" },
	{ "no end", "mgdkim-state 1\ndomain example.com\n", "truncated (no end line)" },
	{ "no final LF", "mgdkim-state 1\ndomain example.com\nend", "truncated (no end line)" },
	{ "trailing data", "mgdkim-state 1\ndomain example.com\nend\nx", "data after end line" },
	{ "bad domain", "mgdkim-state 1\ndomain ../etc\nend\n", "missing or bad domain line" },
	{ "upper domain", "mgdkim-state 1\ndomain Example.com\nend\n", "missing or bad domain line" },
	{ "bad selector", "mgdkim-state 1\ndomain a.b\nkey MG rsa2048 current 1 2 3\nend\n",
	    "bad selector" },
	{ "selector slash", "mgdkim-state 1\ndomain a.b\nkey a/b rsa2048 current 1 2 3\nend\n",
	    "bad selector" },
	{ "bad alg", "mgdkim-state 1\ndomain a.b\nkey s rsa1024 current 1 2 3\nend\n",
	    "bad algorithm or state" },
	{ "bad state", "mgdkim-state 1\ndomain a.b\nkey s rsa2048 active 1 2 3\nend\n",
	    "bad algorithm or state" },
	{ "negative time", "mgdkim-state 1\ndomain a.b\nkey s rsa2048 current -1 2 3\nend\n",
	    "not a number" },
	{ "huge time", "mgdkim-state 1\ndomain a.b\nkey s rsa2048 current 1 2 999999999999\nend\n",
	    "too large" },
	{ "leading zero", "mgdkim-state 1\ndomain a.b\nkey s rsa2048 current 01 2 3\nend\n",
	    "leading zero" },
	{ "six fields", "mgdkim-state 1\ndomain a.b\nkey s rsa2048 current 1 2\nend\n",
	    "key line needs 7 fields" },
	{ "double space", "mgdkim-state 1\ndomain a.b\nkey s  rsa2048 current 1 2 3\nend\n",
	    "bad spacing" },
	{ "duplicate selector", "mgdkim-state 1\ndomain a.b\nkey s rsa2048 current 1 2 3\n"
	    "key s ed25519 current 1 2 3\nend\n", "duplicate selector" },
	{ "two current", "mgdkim-state 1\ndomain a.b\nkey s rsa2048 current 1 2 3\n"
	    "key t rsa2048 current 1 2 3\nend\n", "two current or next keys of one algorithm" },
	{ "unknown line", "mgdkim-state 1\ndomain a.b\nalert x\nend\n", "unknown line" },
	{ "NUL", "mgdkim-state 1\ndomain a.b\n\0end\n", "NUL in state file" },
	{ "nine keys", "mgdkim-state 1\ndomain a.b\nkey a rsa2048 retired 1 2 3\n"
	    "key b rsa2048 retired 1 2 3\nkey c rsa2048 retired 1 2 3\nkey d rsa2048 retired 1 2 3\n"
	    "key e rsa2048 retired 1 2 3\nkey f rsa2048 retired 1 2 3\nkey g rsa2048 retired 1 2 3\n"
	    "key h rsa2048 retired 1 2 3\nkey i rsa2048 retired 1 2 3\nend\n", "too many keys" },
};

static void
test_parse_table(void)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct mg_dkim_state st;
		const char *err = NULL;
		size_t len = strlen(c->text);
		int r;

		if (strcmp(c->name, "NUL") == 0)
			len = 31;
		r = mg_dkim_state_parse((struct slice){ c->text, len }, &st, &err);
		if (c->error == NULL) {
			CHECK(r == 0, "%s: got error %s", c->name, err ? err : "?");
		} else {
			CHECK(r == -1, "%s: accepted", c->name);
			CHECK(err != NULL && strcmp(err, c->error) == 0, "%s: got %s, want %s", c->name,
			    err ? err : "(null)", c->error);
		}
	}
}

static void
test_roundtrip(void)
{
	const char *text = "mgdkim-state 1\ndomain example.com\n"
	    "key mg2026a rsa2048 retiring 1 2 3\nkey mg2027a rsa2048 current 4 5 6\n"
	    "key mg2027b ed25519 next 7 8 9\nend\n";
	struct mg_dkim_state st, st2;
	struct buf b;
	const char *err;

	CHECK_INT(mg_dkim_state_parse(slice_from_str(text), &st, &err), 0);
	CHECK_INT(st.n, 3);
	CHECK_INT(st.k[2].alg, MG_DKIM_ALG_ED25519);
	CHECK_INT(st.k[2].activates, 8);
	buf_init(&b, MG_DKIM_STATE_MAX);
	CHECK_INT(mg_dkim_state_write(&st, &b), 0);
	CHECK_STR(b.data, text);
	CHECK_INT(mg_dkim_state_parse(buf_slice(&b), &st2, &err), 0);
	CHECK(memcmp(&st, &st2, sizeof(st)) == 0, "state differs after a round trip");
	/* the writer refuses what the parser would refuse */
	str_lcpy(st.k[1].selector, "mg2026a", sizeof(st.k[1].selector));
	buf_reset(&b);
	CHECK_INT(mg_dkim_state_write(&st, &b), -1);
	CHECK_INT(b.len, 0);
	buf_free(&b);
}

/* The yearly timeline: T-30 d next key, switch at T only after DNS, grace, retirement. */
static void
test_timeline(void)
{
	struct mg_dkim_state st;
	struct mg_dkim_rotation_plan p;
	long long T = T0 + 365 * DAY;

	memset(&st, 0, sizeof(st));
	str_lcpy(st.domain, "example.com", sizeof(st.domain));
	/* no current key: nothing planned */
	mg_dkim_rotation_plan(&st, MG_DKIM_ALG_RSA, T0, &rc, &p);
	CHECK(!p.generate && p.check_dns < 0 && p.n_retire == 0, "plan without a key");
	CHECK_INT(mg_dkim_rotation_add(&st, "mg2027a", MG_DKIM_ALG_RSA, MG_DKIM_KS_CURRENT, T0, T0, T),
	    0);
	/* T-31 d: nothing */
	mg_dkim_rotation_plan(&st, MG_DKIM_ALG_RSA, T - 31 * DAY, &rc, &p);
	CHECK(!p.generate && p.check_dns < 0, "plan at T-31d");
	/* T-30 d: generate mg2028a due at T */
	mg_dkim_rotation_plan(&st, MG_DKIM_ALG_RSA, T - 30 * DAY, &rc, &p);
	CHECK_INT(p.generate, 1);
	CHECK_STR(p.selector, "mg2028a");
	CHECK_INT(p.activates, T);
	CHECK_INT(p.retires, T + 365 * DAY);
	CHECK_INT(mg_dkim_rotation_add(&st, p.selector, MG_DKIM_ALG_RSA, MG_DKIM_KS_NEXT,
	    T - 30 * DAY, p.activates, p.retires), 1);
	/* the other algorithm is independent */
	mg_dkim_rotation_plan(&st, MG_DKIM_ALG_ED25519, T, &rc, &p);
	CHECK(!p.generate && p.check_dns < 0, "ed25519 plan without an ed25519 key");
	/* T-1 s: no DNS check yet; T: DNS check of the next key */
	mg_dkim_rotation_plan(&st, MG_DKIM_ALG_RSA, T - 1, &rc, &p);
	CHECK(!p.generate && p.check_dns < 0, "plan at T-1");
	mg_dkim_rotation_plan(&st, MG_DKIM_ALG_RSA, T, &rc, &p);
	CHECK(!p.generate && p.check_dns == 1, "plan at T: check %d", p.check_dns);
	/* DNS published at T + 2 d (the withheld days change nothing in the state) */
	CHECK_INT(mg_dkim_rotation_switch(&st, MG_DKIM_ALG_RSA, T + 2 * DAY, &rc), 0);
	CHECK_INT(st.k[0].state, MG_DKIM_KS_RETIRING);
	CHECK_INT(st.k[0].retires, T + 2 * DAY);
	CHECK_INT(st.k[1].state, MG_DKIM_KS_CURRENT);
	CHECK_INT(st.k[1].activates, T + 2 * DAY);
	CHECK_INT(st.k[1].retires, T + 2 * DAY + 365 * DAY);
	{
		char adv[96];

		mg_dkim_rotation_dns_advice(&st, 0, &rc, adv, sizeof(adv));
		CHECK_STR(adv, "keep published until 2028-01-10T00:00:00Z");
		mg_dkim_rotation_dns_advice(&st, 1, &rc, adv, sizeof(adv));
		CHECK_STR(adv, "publish");
	}
	/* grace: retire 7 d after the switch, not before */
	mg_dkim_rotation_plan(&st, MG_DKIM_ALG_RSA, T + 9 * DAY - 1, &rc, &p);
	CHECK_INT(p.n_retire, 0);
	mg_dkim_rotation_plan(&st, MG_DKIM_ALG_RSA, T + 9 * DAY, &rc, &p);
	CHECK_INT(p.n_retire, 1);
	CHECK_INT(p.retire[0], 0);
	mg_dkim_rotation_retire(&st, 0);
	CHECK_INT(st.k[0].state, MG_DKIM_KS_RETIRED);
	/* no second switch without a next key */
	CHECK_INT(mg_dkim_rotation_switch(&st, MG_DKIM_ALG_RSA, T + 10 * DAY, &rc), -1);
}

static void
test_overdue(void)
{
	struct mg_dkim_state st;
	struct mg_dkim_rotation_plan p;

	memset(&st, 0, sizeof(st));
	str_lcpy(st.domain, "example.com", sizeof(st.domain));
	mg_dkim_rotation_add(&st, "old", MG_DKIM_ALG_ED25519, MG_DKIM_KS_CURRENT, 0, 0, T0);
	/* the signer was down past T: the next key is due now, not in the past */
	mg_dkim_rotation_plan(&st, MG_DKIM_ALG_ED25519, T0 + 50 * DAY, &rc, &p);
	CHECK_INT(p.generate, 1);
	CHECK_INT(p.activates, T0 + 50 * DAY);
	CHECK_STR(p.selector, "mg2027a");
}

static void
test_selector_pick_and_full(void)
{
	struct mg_dkim_state st;
	char sel[64];

	memset(&st, 0, sizeof(st));
	str_lcpy(st.domain, "example.com", sizeof(st.domain));
	mg_dkim_rotation_add(&st, "mg2027a", MG_DKIM_ALG_RSA, MG_DKIM_KS_CURRENT, 0, 0, T0);
	mg_dkim_selector_pick(&st, T0, sel, sizeof(sel));
	CHECK_STR(sel, "mg2027b");
	/* fill with retired keys; adding drops the oldest retired one */
	for (int i = 0; i < MG_DKIM_KEYS_MAX - 1; i++) {
		char s[16];

		snprintf(s, sizeof(s), "r%d", i);
		CHECK(mg_dkim_rotation_add(&st, s, MG_DKIM_ALG_RSA, MG_DKIM_KS_RETIRED, 0, 0,
		    100 - i) >= 0, "add %s", s);
	}
	CHECK_INT(st.n, MG_DKIM_KEYS_MAX);
	CHECK(mg_dkim_rotation_add(&st, "nk", MG_DKIM_ALG_RSA, MG_DKIM_KS_NEXT, 0, 0, 0) >= 0,
	    "add to a full table");
	CHECK_INT(st.n, MG_DKIM_KEYS_MAX);
	for (size_t i = 0; i < st.n; i++)
		CHECK(strcmp(st.k[i].selector, "r6") != 0, "oldest retired kept");
	/* a second next key is refused, a taken selector too */
	CHECK_INT(mg_dkim_rotation_add(&st, "nk2", MG_DKIM_ALG_RSA, MG_DKIM_KS_NEXT, 0, 0, 0), -1);
	CHECK_INT(mg_dkim_rotation_add(&st, "mg2027a", MG_DKIM_ALG_ED25519, MG_DKIM_KS_NEXT, 0, 0, 0),
	    -1);
}

static void
test_files(void)
{
	char root[] = "/tmp/mg-test-dkimstate-XXXXXX";
	struct mg_dkim_state st, st2;
	struct buf pem;
	const char *err;
	char path[256];

	CHECK(mkdtemp(root) != NULL, "mkdtemp");
	memset(&st, 0, sizeof(st));
	str_lcpy(st.domain, "example.com", sizeof(st.domain));
	CHECK_INT(mg_dkim_state_load(root, "example.com", &st2, &err), 0);
	mg_dkim_rotation_add(&st, "mg2027a", MG_DKIM_ALG_ED25519, MG_DKIM_KS_CURRENT, 1, 2, 3);
	CHECK_INT(mg_dkim_state_save(root, &st, &err), 0);
	CHECK_INT(mg_dkim_state_load(root, "example.com", &st2, &err), 1);
	CHECK(memcmp(&st, &st2, sizeof(st)) == 0, "loaded state differs");
	CHECK_INT(mg_dkim_state_load(root, "../x", &st2, &err), -1);
	buf_init(&pem, MG_DKIM_KEYFILE_MAX + 1);
	CHECK_INT(mg_dkim_keygen(MG_DKIM_ALG_ED25519, &pem, &err), 0);
	CHECK_INT(mg_dkim_keyfile_save(root, "example.com", "mg2027a", pem.data, pem.len, &err), 0);
	buf_reset(&pem);
	CHECK_INT(mg_dkim_keyfile_load(root, "example.com", "mg2027a", &pem, &err), 0);
	CHECK(strncmp(pem.data, "-----BEGIN PRIVATE KEY-----", 27) == 0, "pem: %.30s", pem.data);
	snprintf(path, sizeof(path), "%s/example.com/mg2027a.pem", root);
	/* group-readable: refused */
	chmod(path, 0640);
	CHECK_INT(mg_dkim_keyfile_load(root, "example.com", "mg2027a", &pem, &err), -1);
	CHECK_STR(err, "key file is accessible by group or others (must be mode 0600)");
	chmod(path, 0600);
	/* a symlink: refused */
	{
		char link[300];

		snprintf(link, sizeof(link), "%s/example.com/ln.pem", root);
		CHECK_INT(symlink(path, link), 0);
		CHECK_INT(mg_dkim_keyfile_load(root, "example.com", "ln", &pem, &err), -1);
		CHECK_STR(err, "key file is a symbolic link");
		unlink(link);
	}
	mg_dkim_keyfile_remove(root, "example.com", "mg2027a");
	CHECK_INT(mg_dkim_keyfile_load(root, "example.com", "mg2027a", &pem, &err), -1);
	buf_free(&pem);
	snprintf(path, sizeof(path), "%s/example.com/state", root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/example.com", root);
	rmdir(path);
	rmdir(root);
}

static const struct unit_case cases[] = {
	{ "parse table", test_parse_table },
	{ "roundtrip", test_roundtrip },
	{ "timeline", test_timeline },
	{ "overdue", test_overdue },
	{ "selector pick and full table", test_selector_pick_and_full },
	{ "files", test_files },
};

UNIT_MAIN(cases)
