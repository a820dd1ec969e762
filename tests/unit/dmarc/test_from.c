/* Unit tests for dmarc/from.c: RFC5322.From domain extraction. A table of field values (RFC 5322
 * §3.4 forms, the §4.4 obsolete forms, RFC 6854 groups, RFC 6532 UTF-8, spoofing shapes that
 * must be refused) with the status and domain each must give; header-section cases (no From,
 * two From fields, malformed section, folding, LF-only); the limits (value size, mailbox count,
 * comment depth) and that the input is never written (it lives in a read-only mapping). */
#include <sys/mman.h>

#include "unit.h"

#include "dmarc/dmarc.h"

#define OK MG_DMARC_FROM_OK
#define SYNTAX MG_DMARC_FROM_SYNTAX
#define EMPTY MG_DMARC_FROM_EMPTY
#define DOMAINS MG_DMARC_FROM_DOMAINS
#define BAD MG_DMARC_FROM_BAD_DOMAIN

static const struct {
	const char *value;
	enum mg_dmarc_from_status st;
	const char *domain;
} value_cases[] = {
	/* addr-spec and name-addr */
	{ "user@example.com", OK, "example.com" },
	{ " user@Example.COM ", OK, "example.com" },
	{ "<user@example.com>", OK, "example.com" },
	{ "User Name <user@example.com>", OK, "example.com" },
	{ "\"Name, With Comma\" <user@example.com>", OK, "example.com" },
	{ "\"evil@attacker.example\" <user@example.com>", OK, "example.com" },
	{ "\"quoted\\\"pair\" <u@example.com>", OK, "example.com" },
	{ "\"local part\"@example.com", OK, "example.com" },
	{ "first.last@sub.example.com", OK, "sub.example.com" },
	{ "user+tag@example.com.", OK, "example.com" },		/* final dot dropped */
	{ "=?utf-8?q?J=C3=B6rg?= <j@example.com>", OK, "example.com" },	/* RFC 2047 word */
	/* comments and folding */
	{ "user@example.com (Comment)", OK, "example.com" },
	{ "(c1) user (c2) @ (c3) example.com (c4)", OK, "example.com" },
	{ "Name (nested (comment) here) <u@example.com>", OK, "example.com" },
	{ "(a \\) paren) u@example.com", OK, "example.com" },
	{ "Name\r\n <user@example.com>", OK, "example.com" },
	{ "Name <user@\r\n\texample.com>", OK, "example.com" },
	/* obsolete forms (RFC 5322 §4.4) */
	{ "John Q. Public <jqp@example.com>", OK, "example.com" },	/* obs-phrase */
	{ "<@route.example,@other.example:user@example.com>", OK, "example.com" },	/* obs-route */
	{ "user . name @ example . com", OK, "example.com" },	/* obs-local-part, obs-domain */
	{ "a..b@example.com", OK, "example.com" },		/* seen in the wild */
	{ ", user@example.com,", OK, "example.com" },		/* obs-mbox-list empties */
	/* several mailboxes */
	{ "a@example.com, B <b@EXAMPLE.com>", OK, "example.com" },
	{ "a@example.com, b@example.org", DOMAINS, "" },
	{ "<a@evil.example>, <ceo@bank.example>", DOMAINS, "" },
	{ "a@x.example.com, b@example.com", DOMAINS, "" },	/* same org, still different */
	/* groups (RFC 6854) */
	{ "Group: a@example.com, b@example.com;", OK, "example.com" },
	{ "Group: a@example.com;, c@example.com", OK, "example.com" },
	{ "undisclosed-recipients:;", EMPTY, "" },
	{ "Group: a@example.com", SYNTAX, "" },			/* no ';' */
	{ "G1: H: a@example.com;;", SYNTAX, "" },		/* nested group */
	/* UTF-8 (RFC 6532) */
	{ "J\xc3\xb6rg <j\xc3\xb6rg@b\xc3\xbc" "cher.example>", OK, "xn--bcher-kva.example" },
	{ "j@\xff.example", BAD, "" },
	/* empty and broken */
	{ "", EMPTY, "" },
	{ "   ", EMPTY, "" },
	{ "<>", EMPTY, "" },
	{ "(only a comment)", EMPTY, "" },
	{ "user", SYNTAX, "" },
	{ "user@", SYNTAX, "" },
	{ "@example.com", SYNTAX, "" },
	{ "<user@example.com", SYNTAX, "" },
	{ "user@example.com>", SYNTAX, "" },
	{ "Name user@example.com", SYNTAX, "" },
	{ "\"unterminated <u@example.com>", SYNTAX, "" },
	{ "(unterminated u@example.com", SYNTAX, "" },
	{ "u@example.com (a) )", SYNTAX, "" },
	{ "user@exa mple.com", SYNTAX, "" },
	{ "user@example..com", SYNTAX, "" },
	{ "us\x01er@example.com", SYNTAX, "" },
	/* spoofing shapes */
	{ "ceo@bank.example <attacker@evil.example>", SYNTAX, "" },	/* unquoted '@' */
	{ "attacker@evil.example <ceo@bank.example>", SYNTAX, "" },
	{ "<ceo@bank.example> <attacker@evil.example>", SYNTAX, "" },
	{ "ceo@bank.example@evil.example", SYNTAX, "" },
	{ "user@[192.0.2.1]", BAD, "" },
	{ "user@[IPv6:2001:db8::1]", BAD, "" },
	{ "user@exa_mple.com", OK, "exa_mple.com" },
	{ "user@exa!mple.com", BAD, "" },
	{ "user@-", OK, "-" },
};

static void
test_values(void)
{
	char out[256];

	for (size_t i = 0; i < sizeof(value_cases) / sizeof(value_cases[0]); i++) {
		const char *error = NULL;
		enum mg_dmarc_from_status st = mg_dmarc_from_value(slice_from_str(value_cases[i].value),
		    out, sizeof(out), &error);
		CHECK(st == value_cases[i].st && strcmp(out, value_cases[i].domain) == 0,
		    "case %zu \"%s\": got %s \"%s\" (%s), want %s \"%s\"", i, value_cases[i].value,
		    mg_dmarc_from_status_name(st), out, error ? error : "-",
		    mg_dmarc_from_status_name(value_cases[i].st), value_cases[i].domain);
		CHECK(st == OK || error != NULL, "case %zu: no error text", i);
	}
}

static void
test_nul_in_value(void)
{
	static const char v[] = "user@example.com\0x";
	char out[256];
	const char *error = NULL;

	CHECK_INT(mg_dmarc_from_value((struct slice){ v, sizeof(v) - 1 }, out, sizeof(out), &error),
	    SYNTAX);
	CHECK_INT(mg_dmarc_from_value((struct slice){ v, 16 }, out, sizeof(out), &error), OK);
	CHECK_STR(out, "example.com");
}

static void
test_headers(void)
{
	static const struct {
		const char *header;
		enum mg_dmarc_from_status st;
		const char *domain;
	} cases[] = {
		{ "From: a@example.com\r\nTo: b@example.org\r\n\r\nbody", OK, "example.com" },
		{ "To: b@example.org\r\nfrom : A <a@Example.com>\r\n\r\n", OK, "example.com" },
		{ "Subject: x\nFROM: a@example.com\n\nFrom: in@body.example\n", OK, "example.com" },
		{ "From: A\r\n <a@example.com>\r\nX: y\r\n\r\n", OK, "example.com" },
		{ "To: b@example.org\r\n\r\n", MG_DMARC_FROM_NONE, "" },
		{ "", MG_DMARC_FROM_NONE, "" },
		{ "From: a@example.com\r\nFrom: a@example.com\r\n\r\n", MG_DMARC_FROM_MULTIPLE, "" },
		{ "From: a@example.com\r\nResent-From: r@other.example\r\n\r\n", OK, "example.com" },
		{ "From: a@example.com\r\nbroken line\r\n\r\n", MG_DMARC_FROM_HEADER, "" },
		{ "From: a@example.com, b@example.net\r\n\r\n", DOMAINS, "" },
		{ "From:\r\n\r\n", EMPTY, "" },
	};
	char out[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *error = NULL;
		enum mg_dmarc_from_status st = mg_dmarc_from_domain(slice_from_str(cases[i].header),
		    out, sizeof(out), &error);

		CHECK(st == cases[i].st && strcmp(out, cases[i].domain) == 0,
		    "case %zu: got %s \"%s\" (%s), want %s \"%s\"", i, mg_dmarc_from_status_name(st),
		    out, error ? error : "-", mg_dmarc_from_status_name(cases[i].st),
		    cases[i].domain);
	}
}

static void
test_limits(void)
{
	struct buf b;
	char out[256];
	const char *error = NULL;

	/* MG_DMARC_FROM_MAILBOXES_MAX mailboxes pass, one more does not. */
	buf_init(&b, 1 << 20);
	for (int i = 0; i < MG_DMARC_FROM_MAILBOXES_MAX; i++)
		buf_printf(&b, "%su%d@example.com", i ? ", " : "", i);
	CHECK_INT(mg_dmarc_from_value(buf_slice(&b), out, sizeof(out), &error), OK);
	buf_append_str(&b, ", x@example.com");
	CHECK_INT(mg_dmarc_from_value(buf_slice(&b), out, sizeof(out), &error), SYNTAX);
	/* Value size. */
	buf_reset(&b);
	buf_append_str(&b, "\"");
	while (b.len < MG_DMARC_FROM_VALUE_MAX - 60)
		buf_append_str(&b, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	buf_append_str(&b, "\" <u@example.com>");
	CHECK_INT(mg_dmarc_from_value(buf_slice(&b), out, sizeof(out), &error), OK);
	while (b.len <= MG_DMARC_FROM_VALUE_MAX)
		buf_append_str(&b, " ");
	CHECK_INT(mg_dmarc_from_value(buf_slice(&b), out, sizeof(out), &error), SYNTAX);
	/* Comment depth. */
	buf_reset(&b);
	for (int i = 0; i < MG_DMARC_COMMENT_DEPTH_MAX; i++)
		buf_append_char(&b, '(');
	for (int i = 0; i < MG_DMARC_COMMENT_DEPTH_MAX; i++)
		buf_append_char(&b, ')');
	buf_append_str(&b, " u@example.com");
	CHECK_INT(mg_dmarc_from_value(buf_slice(&b), out, sizeof(out), &error), OK);
	buf_reset(&b);
	for (int i = 0; i <= MG_DMARC_COMMENT_DEPTH_MAX; i++)
		buf_append_char(&b, '(');
	for (int i = 0; i <= MG_DMARC_COMMENT_DEPTH_MAX; i++)
		buf_append_char(&b, ')');
	buf_append_str(&b, " u@example.com");
	CHECK_INT(mg_dmarc_from_value(buf_slice(&b), out, sizeof(out), &error), SYNTAX);
	/* Output too small for the domain. */
	CHECK_INT(mg_dmarc_from_value(slice_from_str("u@example.com"), out, 5, &error), BAD);
	CHECK_STR(out, "");
	buf_free(&b);
}

static void
test_read_only_input(void)
{
	static const char h[] = "From: \"A (B)\" <a@Example.COM.> (c)\r\nTo: x@y\r\n\r\n";
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char out[256];
	const char *error;

	CHECK(m != MAP_FAILED, "mmap");
	if (m == MAP_FAILED)
		return;
	/* At the end of the page, so reading one octet past the input faults too. */
	memcpy(m + pg - (sizeof(h) - 1), h, sizeof(h) - 1);
	CHECK_INT(mprotect(m, pg, PROT_READ), 0);
	CHECK_INT(mg_dmarc_from_domain((struct slice){ m + pg - (sizeof(h) - 1), sizeof(h) - 1 },
	    out, sizeof(out), &error), OK);
	CHECK_STR(out, "example.com");
	munmap(m, pg);
}

static const struct unit_case cases[] = {
	{ "values", test_values },
	{ "nul_in_value", test_nul_in_value },
	{ "headers", test_headers },
	{ "limits", test_limits },
	{ "read_only_input", test_read_only_input },
};

UNIT_MAIN(cases)
