/* Unit tests for smtpd/rewrite.c (header_rewrite): each rule kind byte-exact, rule order,
 * folded fields, quoted display names and comments left alone, the end of the header section
 * (body bytes and a non-header line pass through untouched), envelope sender rules and the
 * output bound. */
#include <fcntl.h>	/* unit.h uses open() */

#include "unit.h"

#include "smtpd/rewrite.h"

#define MAX_RULES 8

/* Applies rules ("|"-separated) to in; returns the output (static) and *changes_r. */
static const char *
run(const char *rules, const char *in, int *changes_r)
{
	static char res[8192];
	struct mg_header_rule r[MAX_RULES];
	char copy[1024], *save = NULL, *tok;
	size_t n = 0;
	struct buf out;
	const char *err;

	snprintf(copy, sizeof(copy), "%s", rules);
	for (tok = strtok_r(copy, "|", &save); tok && n < MAX_RULES; tok = strtok_r(NULL, "|", &save))
		r[n++].text = tok;
	buf_init(&out, REWRITE_OUT_MAX);
	*changes_r = rewrite_header(r, n, (struct slice){ in, strlen(in) }, &out, &err);
	snprintf(res, sizeof(res), "%.*s", (int)out.len, out.data ? out.data : "");
	buf_free(&out);
	return res;
}

static void
test_rules(void)
{
	static const struct {
		const char *name, *rules, *in, *want;
		int changes;
	} rows[] = {
		{ "no rules", "", "A: 1\r\nB: 2\r\n\r\nbody\r\n", "A: 1\r\nB: 2\r\n\r\nbody\r\n", 0 },
		{ "add", "add X-Added: yes", "A: 1\r\n\r\nbody\r\n",
		  "A: 1\r\nX-Added: yes\r\n\r\nbody\r\n", 1 },
		{ "add keeps value text", "add X-Note:  two  spaces # not a comment",
		  "A: 1\r\n\r\n", "A: 1\r\nX-Note:  two  spaces # not a comment\r\n\r\n", 1 },
		{ "remove all, any case", "remove X-Originating-IP",
		  "x-originating-ip: [10.0.0.1]\r\nA: 1\r\nX-ORIGINATING-IP: 2\r\n\r\nb\r\n",
		  "A: 1\r\n\r\nb\r\n", 1 },
		{ "remove folded", "remove Received",
		  "Received: from a\r\n\tby b\r\n (c)\r\nA: 1\r\n\r\n", "A: 1\r\n\r\n", 1 },
		{ "remove absent", "remove X-None", "A: 1\r\n\r\n", "A: 1\r\n\r\n", 0 },
		{ "remove prefix is not a match", "remove X-Mail", "X-Mailer: m\r\n\r\n",
		  "X-Mailer: m\r\n\r\n", 0 },
		{ "remove with wsp before colon", "remove X-Old", "X-Old : v\r\nA: 1\r\n\r\n",
		  "A: 1\r\n\r\n", 1 },
		{ "replace first, drop others", "replace Organization: Example Ltd",
		  "Organization: one\r\nA: 1\r\norganization: two\r\n\r\n",
		  "Organization: Example Ltd\r\nA: 1\r\n\r\n", 1 },
		{ "replace folded", "replace Subject: new",
		  "Subject: old\r\n continued\r\nA: 1\r\n\r\n", "Subject: new\r\nA: 1\r\n\r\n", 1 },
		{ "replace absent adds nothing", "replace X-None: v", "A: 1\r\n\r\n",
		  "A: 1\r\n\r\n", 0 },
		{ "order: add then remove", "add X-T: 1|remove X-T", "A: 1\r\n\r\n", "A: 1\r\n\r\n", 2 },
		{ "order: remove then add", "remove X-T|add X-T: new", "X-T: old\r\nA: 1\r\n\r\n",
		  "A: 1\r\nX-T: new\r\n\r\n", 2 },
		{ "body untouched", "remove A", "A: 1\r\n\r\nA: 2\r\nFrom: x@old.test\r\n",
		  "\r\nA: 2\r\nFrom: x@old.test\r\n", 1 },
		{ "non-header line ends the section", "remove B",
		  "A: 1\r\nnot a header\r\nB: 2\r\n", "A: 1\r\nnot a header\r\nB: 2\r\n", 0 },
		{ "no body at all", "add X: y", "A: 1\r\n", "A: 1\r\nX: y\r\n", 1 },
		{ "empty message", "add X: y", "", "X: y\r\n", 1 },
		/* found by fuzz_header_rewrite: rules acting on fields added or replaced by earlier
		 * rules (a use after free under ASan before the fix) */
		{ "rules on added fields", "add X-A: 1|replace X-A: 2|replace X-A: 3|remove X-A|"
		  "add X-A: 4|replace X-A: 5", "A: 1\r\n\r\n", "A: 1\r\nX-A: 5\r\n\r\n", 6 },
		{ "sender on added field", "add Reply-To: a@old.test|sender @old.test @new.test",
		  "A: 1\r\n\r\n", "A: 1\r\nReply-To: a@new.test\r\n\r\n", 2 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int changes;
		const char *got = run(rows[i].rules, rows[i].in, &changes);

		CHECK(strcmp(got, rows[i].want) == 0, "%s: got \"%s\", want \"%s\"", rows[i].name,
		    got, rows[i].want);
		CHECK(changes == rows[i].changes, "%s: changes got %d, want %d", rows[i].name,
		    changes, rows[i].changes);
	}
}

static void
test_sender(void)
{
	static const struct {
		const char *name, *rules, *in, *want;
		int changes;
	} rows[] = {
		{ "domain in From", "sender @internal.test @example.test",
		  "From: Alice <alice@internal.test>\r\nTo: bob@internal.test\r\n\r\n",
		  "From: Alice <alice@example.test>\r\nTo: bob@internal.test\r\n\r\n", 1 },
		{ "domain case-insensitive", "sender @internal.test @example.test",
		  "From: alice@INTERNAL.Test\r\n\r\n", "From: alice@example.test\r\n\r\n", 1 },
		{ "subdomain is not the domain", "sender @internal.test @example.test",
		  "From: a@x.internal.test\r\n\r\n", "From: a@x.internal.test\r\n\r\n", 0 },
		{ "longer domain is not the domain", "sender @internal.test @example.test",
		  "From: a@internal.test.org\r\n\r\n", "From: a@internal.test.org\r\n\r\n", 0 },
		{ "address rule", "sender noreply@internal.test info@example.test",
		  "From: <noreply@internal.test>\r\nReply-To: other@internal.test\r\n\r\n",
		  "From: <info@example.test>\r\nReply-To: other@internal.test\r\n\r\n", 1 },
		{ "address rule needs whole local part", "sender reply@internal.test i@example.test",
		  "From: noreply@internal.test\r\n\r\n", "From: noreply@internal.test\r\n\r\n", 0 },
		{ "display name quoted left alone", "sender @internal.test @example.test",
		  "From: \"alice@internal.test\" <alice@internal.test>\r\n\r\n",
		  "From: \"alice@internal.test\" <alice@example.test>\r\n\r\n", 1 },
		{ "comment left alone", "sender @internal.test @example.test",
		  "From: alice@internal.test (alice@internal.test)\r\n\r\n",
		  "From: alice@example.test (alice@internal.test)\r\n\r\n", 1 },
		{ "list and other fields", "sender @internal.test @example.test",
		  "Sender: s@internal.test\r\nReply-To: a@internal.test, b@internal.test\r\n"
		  "Subject: mail from x@internal.test\r\n\r\n",
		  "Sender: s@example.test\r\nReply-To: a@example.test, b@example.test\r\n"
		  "Subject: mail from x@internal.test\r\n\r\n", 1 },
		{ "folded From", "sender @internal.test @example.test",
		  "From: Alice\r\n <alice@internal.test>\r\n\r\n",
		  "From: Alice\r\n <alice@example.test>\r\n\r\n", 1 },
		{ "body untouched", "sender @internal.test @example.test",
		  "A: 1\r\n\r\nFrom: a@internal.test\r\n", "A: 1\r\n\r\nFrom: a@internal.test\r\n", 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int changes;
		const char *got = run(rows[i].rules, rows[i].in, &changes);

		CHECK(strcmp(got, rows[i].want) == 0, "%s: got \"%s\", want \"%s\"", rows[i].name,
		    got, rows[i].want);
		CHECK(changes == rows[i].changes, "%s: changes got %d, want %d", rows[i].name,
		    changes, rows[i].changes);
	}
}

static void
test_envelope(void)
{
	struct mg_header_rule r[3] = { { "remove X" }, { "sender @internal.test @example.test" },
		{ "sender alice@example.test a@example.test" } };
	char out[64];

	CHECK_INT(rewrite_envelope_sender(r, 3, "alice@internal.test", out, sizeof(out)), 1);
	CHECK_STR(out, "a@example.test");	/* rules chain in order */
	CHECK_INT(rewrite_envelope_sender(r, 3, "bob@Internal.TEST", out, sizeof(out)), 1);
	CHECK_STR(out, "bob@example.test");
	CHECK_INT(rewrite_envelope_sender(r, 3, "bob@other.test", out, sizeof(out)), 0);
	CHECK_STR(out, "bob@other.test");
	CHECK_INT(rewrite_envelope_sender(r, 3, "", out, sizeof(out)), 0);
	CHECK_STR(out, "");
	CHECK_INT(rewrite_envelope_sender(r, 2, "bob@internal.test", out, 10), -1);
	CHECK_STR(out, "bob@inter");	/* a truncated copy, flagged -1 */
}

static void
test_bounds(void)
{
	/* A header of many fields with an add rule stays within REWRITE_OUT_MAX; an oversized
	 * input fails cleanly instead of overflowing. */
	struct mg_header_rule r[1] = { { "sender @a.test @a-much-longer-domain-name.example.test" } };
	struct buf in, out;
	const char *err;
	int rc;

	buf_init(&in, 4 * 1024 * 1024);
	for (int i = 0; i < 900; i++)
		buf_append_str(&in, "Reply-To: x@a.test, y@a.test, z@a.test, w@a.test, v@a.test, "
		    "u@a.test, t@a.test, s@a.test, r@a.test, q@a.test, p@a.test, o@a.test\r\n");
	buf_init(&out, REWRITE_OUT_MAX);
	rc = rewrite_header(r, 1, buf_slice(&in), &out, &err);
	CHECK(rc == 1 || rc == -1, "rc got %d", rc);
	CHECK(out.len <= REWRITE_OUT_MAX, "out.len %zu over the cap", out.len);
	buf_free(&out);
	buf_init(&out, 100);
	rc = rewrite_header(r, 1, buf_slice(&in), &out, &err);
	CHECK_INT(rc, -1);
	buf_free(&out);
	buf_free(&in);
}

static const struct unit_case cases[] = {
	{ "rules", test_rules },
	{ "sender", test_sender },
	{ "envelope", test_envelope },
	{ "bounds", test_bounds },
};

UNIT_MAIN(cases)
