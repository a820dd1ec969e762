/* Unit tests for common/address.c: domains, address literals, local parts, mailboxes, paths with
 * source routes, path spans, HELO classification, xtext decoding and the domain helper. Each
 * table row is named; a failing row prints its name with "got X, want Y". Rows give inputs as
 * C strings with an explicit length where a NUL byte is part of the input. */
#include <fcntl.h>	/* unit.h uses open() */

#include "unit.h"

#include "common/address.h"
#include "common/limits.h"
#include "lib/buf.h"

#define U ADDRESS_ALLOW_UTF8
#define N ADDRESS_ALLOW_NULL
#define P ADDRESS_ALLOW_POSTMASTER

struct check_row {
	const char *name;
	const char *in;
	unsigned flags;
	int want;	/* 0 valid, -1 invalid */
};

static void
run_check_rows(const char *what, const struct check_row *rows, size_t n,
    int (*fn)(struct slice, unsigned, const char **))
{
	for (size_t i = 0; i < n; i++) {
		const char *e = NULL;
		int rc = fn(slice_from_str(rows[i].in), rows[i].flags, &e);

		CHECK(rc == rows[i].want, "%s %s (\"%s\"): got %d (%s), want %d", what, rows[i].name,
		    rows[i].in, rc, e ? e : "-", rows[i].want);
		CHECK(rc == 0 || e != NULL, "%s %s: no error text", what, rows[i].name);
	}
}

#define RUN_CHECK(what, rows, fn) run_check_rows(what, rows, sizeof(rows) / sizeof(rows[0]), fn)

static const struct check_row domain_rows[] = {
	{ "simple", "example.com", 0, 0 },
	{ "single_label", "localhost", 0, 0 },
	{ "digits", "1.2.3.4", 0, 0 },
	{ "hyphen_inside", "a-b.c-d.example", 0, 0 },
	{ "idn_alabel", "xn--bcher-kva.de", 0, 0 },
	{ "mixed_case", "MaIl.ExAmPlE.CoM", 0, 0 },
	{ "one_char_labels", "a.b.c", 0, 0 },
	{ "empty", "", 0, -1 },
	{ "dot_only", ".", 0, -1 },
	{ "leading_dot", ".example.com", 0, -1 },
	{ "trailing_dot", "example.com.", 0, -1 },
	{ "double_dot", "example..com", 0, -1 },
	{ "hyphen_start", "-example.com", 0, -1 },
	{ "hyphen_end", "example-.com", 0, -1 },
	{ "hyphen_only", "-", 0, -1 },
	{ "underscore", "_dmarc.example.com", 0, -1 },
	{ "space", "exa mple.com", 0, -1 },
	{ "at_sign", "a@b.com", 0, -1 },
	{ "bracket", "[1.2.3.4]", 0, -1 },
	{ "ulabel_no_flag", "b\xc3\xbc" "cher.de", 0, -1 },
	{ "ulabel", "b\xc3\xbc" "cher.de", U, 0 },
	{ "ulabel_cjk", "\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88", U, 0 },
	{ "ulabel_bad_utf8", "b\xc3" "cher.de", U, -1 },
	{ "ulabel_overlong", "\xc0\xae.de", U, -1 },
	{ "ulabel_hyphen_end", "\xc3\xbc-.de", U, -1 },
	{ "ulabel_latin1", "b\xfc" "cher.de", U, -1 },
};

static void
test_domain(void)
{
	char big[600];
	const char *e;

	RUN_CHECK("domain", domain_rows, address_domain_check);
	/* 63-octet labels pass, 64 do not. */
	memset(big, 'a', 63);
	big[63] = '\0';
	CHECK_INT(address_domain_check(slice_from_str(big), 0, &e), 0);
	memset(big, 'a', 64);
	big[64] = '\0';
	CHECK_INT(address_domain_check(slice_from_str(big), 0, &e), -1);
	/* SMTP_DOMAIN_MAX octets pass, one more does not: labels of 63 joined by dots. */
	for (size_t i = 0; i < sizeof(big) - 1; i++)
		big[i] = (i % 64 == 63) ? '.' : 'a';
	big[SMTP_DOMAIN_MAX] = '\0';
	CHECK_INT(address_domain_check(slice_from_str(big), 0, &e), 0);
	big[SMTP_DOMAIN_MAX] = 'a';
	big[SMTP_DOMAIN_MAX + 1] = '\0';
	CHECK_INT(address_domain_check(slice_from_str(big), 0, &e), -1);
	CHECK_STR(e, "domain too long");
	/* A NUL byte is not a domain character. */
	CHECK_INT(address_domain_check((struct slice){ "a\0b.com", 7 }, 0, &e), -1);
}

static int
literal_fn(struct slice s, unsigned flags, const char **error_r)
{
	(void)flags;
	return address_literal_check(s, error_r);
}

static const struct check_row literal_rows[] = {
	{ "v4", "[192.0.2.1]", 0, 0 },
	{ "v4_zeros", "[0.0.0.0]", 0, 0 },
	{ "v4_max", "[255.255.255.255]", 0, 0 },
	{ "v4_256", "[256.1.1.1]", 0, -1 },
	{ "v4_three_parts", "[1.2.3]", 0, -1 },
	{ "v4_five_parts", "[1.2.3.4.5]", 0, -1 },
	{ "v4_trailing_dot", "[1.2.3.4.]", 0, -1 },
	{ "v4_space", "[1.2.3.4 ]", 0, -1 },
	{ "v4_hex", "[0x1.2.3.4]", 0, -1 },
	{ "v6", "[IPv6:2001:db8::1]", 0, 0 },
	{ "v6_lower_tag", "[ipv6:2001:db8::1]", 0, 0 },
	{ "v6_loopback", "[IPv6:::1]", 0, 0 },
	{ "v6_unspecified", "[IPv6:::]", 0, 0 },
	{ "v6_full", "[IPv6:2001:0db8:0000:0000:0000:0000:0000:0001]", 0, 0 },
	{ "v6_v4_tail", "[IPv6:::ffff:192.0.2.1]", 0, 0 },
	{ "v6_two_gaps", "[IPv6:1::2::3]", 0, -1 },
	{ "v6_nine_groups", "[IPv6:1:2:3:4:5:6:7:8:9]", 0, -1 },
	{ "v6_bad_hex", "[IPv6:2001:db8::g]", 0, -1 },
	{ "v6_zone", "[IPv6:fe80::1%eth0]", 0, -1 },
	{ "v6_empty", "[IPv6:]", 0, -1 },
	{ "v6_too_long", "[IPv6:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]", 0, -1 },
	{ "v6_without_tag", "[2001:db8::1]", 0, -1 },
	{ "v6_tag_only_v4", "[IPv6:192.0.2.1]", 0, -1 },
	{ "general", "[x-tag:some-content]", 0, 0 },
	{ "general_specials", "[tag:!\"#<>@^~]", 0, 0 },
	{ "general_empty_content", "[tag:]", 0, -1 },
	{ "general_empty_tag", "[:content]", 0, -1 },
	{ "general_tag_hyphen_end", "[tag-:x]", 0, -1 },
	{ "general_tag_digit_first", "[1tag:x]", 0, -1 },
	{ "general_tag_bad_char", "[t_g:x]", 0, -1 },
	{ "general_open_bracket", "[tag:a[b]", 0, -1 },
	{ "general_backslash", "[tag:a\\b]", 0, -1 },
	{ "general_space", "[tag:a b]", 0, -1 },
	{ "general_8bit", "[tag:\xc3\xa9]", 0, -1 },
	{ "empty_brackets", "[]", 0, -1 },
	{ "no_brackets", "192.0.2.1", 0, -1 },
	{ "no_close", "[192.0.2.1", 0, -1 },
	{ "no_open", "192.0.2.1]", 0, -1 },
	{ "empty", "", 0, -1 },
	{ "text_after", "[192.0.2.1]x", 0, -1 },
};

static void
test_literal(void)
{
	const char *e;

	RUN_CHECK("literal", literal_rows, literal_fn);
	/* A NUL inside must not cut the string short for inet_pton. */
	CHECK_INT(address_literal_check((struct slice){ "[1.2.3.4\0x]", 11 }, &e), -1);
}

static const struct check_row local_rows[] = {
	{ "simple", "john", 0, 0 },
	{ "dotted", "john.q.public", 0, 0 },
	{ "atext_all", "!#$%&'*+-/=?^_`{|}~", 0, 0 },
	{ "digits", "12345", 0, 0 },
	{ "empty", "", 0, -1 },
	{ "leading_dot", ".john", 0, -1 },
	{ "trailing_dot", "john.", 0, -1 },
	{ "double_dot", "jo..hn", 0, -1 },
	{ "dot_only", ".", 0, -1 },
	{ "space", "jo hn", 0, -1 },
	{ "at", "jo@hn", 0, -1 },
	{ "paren", "jo(hn)", 0, -1 },
	{ "comma", "a,b", 0, -1 },
	{ "bracket", "a[b]", 0, -1 },
	{ "backslash_unquoted", "a\\b", 0, -1 },
	{ "quote_inside", "a\"b", 0, -1 },
	{ "quoted", "\"john doe\"", 0, 0 },
	{ "quoted_empty", "\"\"", 0, 0 },
	{ "quoted_specials", "\"a@b,c:d;<>[]()\"", 0, 0 },
	{ "quoted_escaped_quote", "\"a\\\"b\"", 0, 0 },
	{ "quoted_escaped_backslash", "\"a\\\\b\"", 0, 0 },
	{ "quoted_escaped_space", "\"a\\ b\"", 0, 0 },
	{ "quoted_escape_at_end", "\"ab\\\"", 0, -1 },
	{ "quoted_lone_backslash", "\"\\", 0, -1 },
	{ "quoted_unterminated", "\"abc", 0, -1 },
	{ "quoted_only_quote", "\"", 0, -1 },
	{ "quoted_text_after", "\"abc\"d", 0, -1 },
	{ "quoted_tab", "\"a\tb\"", 0, -1 },
	{ "quoted_escaped_tab", "\"a\\\tb\"", 0, -1 },
	{ "quoted_escaped_8bit", "\"a\\\xc3\xa9\"", U, -1 },
	{ "utf8_no_flag", "j\xc3\xb6rg", 0, -1 },
	{ "utf8", "j\xc3\xb6rg", U, 0 },
	{ "utf8_dotted", "\xc3\xa9.\xc3\xa8", U, 0 },
	{ "utf8_quoted", "\"\xc3\xa9 \xc3\xa8\"", U, 0 },
	{ "utf8_quoted_no_flag", "\"\xc3\xa9\"", 0, -1 },
	{ "utf8_bad", "j\xc3rg", U, -1 },
	{ "utf8_quoted_bad", "\"\xff\"", U, -1 },
	{ "utf8_surrogate", "\xed\xbf\xbf", U, -1 },
	{ "utf8_max", "\xf4\x8f\xbf\xbf", U, 0 },
	{ "utf8_past_max", "\xf4\x90\x80\x80", U, -1 },
	{ "utf8_overlong_3", "\xe0\x80\xaf", U, -1 },
	{ "utf8_overlong_4", "\xf0\x80\x80\xaf", U, -1 },
	{ "utf8_f5", "\xf5\x80\x80\x80", U, -1 },
};

static void
test_local_part(void)
{
	char lp[80];
	const char *e;

	RUN_CHECK("local", local_rows, address_local_part_check);
	memset(lp, 'x', SMTP_LOCAL_PART_MAX);
	lp[SMTP_LOCAL_PART_MAX] = '\0';
	CHECK_INT(address_local_part_check(slice_from_str(lp), 0, &e), 0);
	lp[SMTP_LOCAL_PART_MAX] = 'x';
	lp[SMTP_LOCAL_PART_MAX + 1] = '\0';
	CHECK_INT(address_local_part_check(slice_from_str(lp), 0, &e), -1);
	/* The cap counts the quoted form: 62 characters plus two quotes is 64. */
	lp[0] = '"';
	memset(lp + 1, 'x', 62);
	lp[63] = '"';
	lp[64] = '\0';
	CHECK_INT(address_local_part_check(slice_from_str(lp), 0, &e), 0);
	CHECK_INT(address_local_part_check((struct slice){ "a\0b", 3 }, 0, &e), -1);
	CHECK_INT(address_local_part_check((struct slice){ "\"a\0b\"", 5 }, 0, &e), -1);
}

static const struct check_row mailbox_rows[] = {
	{ "simple", "john@example.com", 0, 0 },
	{ "literal_v4", "john@[192.0.2.1]", 0, 0 },
	{ "literal_v6", "john@[IPv6:2001:db8::1]", 0, 0 },
	{ "literal_general_at", "john@[x:a@b]", 0, 0 },
	{ "quoted_at", "\"j@hn\"@example.com", 0, 0 },
	{ "quoted_escaped_quote_at", "\"a\\\"@b\"@example.com", 0, 0 },
	{ "no_at", "john", 0, -1 },
	{ "empty", "", 0, -1 },
	{ "at_only", "@", 0, -1 },
	{ "no_local", "@example.com", 0, -1 },
	{ "no_domain", "john@", 0, -1 },
	{ "two_ats", "a@b@example.com", 0, -1 },
	{ "bad_literal", "john@[300.0.0.1]", 0, -1 },
	{ "literal_unclosed", "john@[192.0.2.1", 0, -1 },
	{ "quoted_no_at", "\"john\"example.com", 0, -1 },
	{ "quoted_unterminated", "\"john@example.com", 0, -1 },
	{ "utf8_no_flag", "\xc3\xa9@example.com", 0, -1 },
	{ "utf8", "\xc3\xa9@\xc3\xa9.example", U, 0 },
	{ "utf8_literal", "a@[x:\xc3\xa9]", U, -1 },
	{ "postmaster_bare", "postmaster", P, -1 },
};

static void
test_mailbox(void)
{
	RUN_CHECK("mailbox", mailbox_rows, address_mailbox_check);
}

static void
test_split(void)
{
	static const struct {
		const char *name, *in, *local, *domain;	/* local NULL: expect -1 */
	} rows[] = {
		{ "simple", "a@b.example", "a", "b.example" },
		{ "quoted_at", "\"a@b\"@c.example", "\"a@b\"", "c.example" },
		{ "quoted_escaped", "\"a\\\"@\"@c", "\"a\\\"@\"", "c" },
		{ "literal_at", "a@[x:b@c]", "a", "[x:b@c]" },
		{ "empty_domain", "a@", "a", "" },
		{ "empty_local", "@b", "", "b" },
		{ "no_at", "abc", NULL, NULL },
		{ "empty", "", NULL, NULL },
		{ "quoted_no_at", "\"a\"b", NULL, NULL },
		{ "quoted_unterminated", "\"a@b", NULL, NULL },
		{ "quoted_escape_at_end", "\"a\\", NULL, NULL },
		{ "quoted_end_of_input", "\"a\"", NULL, NULL },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct slice l = { NULL, 0 }, d = { NULL, 0 };
		int rc = address_split(slice_from_str(rows[i].in), &l, &d);

		if (rows[i].local == NULL) {
			CHECK(rc == -1, "split %s: got %d, want -1", rows[i].name, rc);
			continue;
		}
		CHECK(rc == 0, "split %s: got %d, want 0", rows[i].name, rc);
		if (rc != 0)
			continue;
		CHECK(l.len == strlen(rows[i].local) && memcmp(l.p, rows[i].local, l.len) == 0,
		    "split %s: local got \"%.*s\", want \"%s\"", rows[i].name, (int)l.len, l.p,
		    rows[i].local);
		CHECK(d.len == strlen(rows[i].domain) && memcmp(d.p, rows[i].domain, d.len) == 0,
		    "split %s: domain got \"%.*s\", want \"%s\"", rows[i].name, (int)d.len, d.p,
		    rows[i].domain);
	}
}

static void
test_path_span(void)
{
	static const struct {
		const char *name, *in;
		int want;	/* span length, or -1 */
	} rows[] = {
		{ "simple", "<a@b>", 5 },
		{ "null", "<>", 2 },
		{ "with_params", "<a@b> SIZE=1", 5 },
		{ "quoted_gt", "<\"a>b\"@c> X", 9 },
		{ "quoted_escaped_quote", "<\"a\\\">\"@c>", 10 },
		{ "literal_gt", "<a@[x:>]> X", 9 },
		{ "literal_quote", "<a@[x:\"]>", 9 },
		{ "quote_then_literal", "<\"[\"@c>", 7 },
		{ "first_gt_wins", "<a>b>", 3 },
		{ "no_open", "a@b>", -1 },
		{ "empty", "", -1 },
		{ "open_only", "<", -1 },
		{ "unclosed", "<a@b", -1 },
		{ "unclosed_quote", "<\"a>", -1 },
		{ "unclosed_literal", "<a@[b>", -1 },
		{ "escape_at_end", "<\"a\\", -1 },
		{ "leading_space", " <a@b>", -1 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t len = 0;
		int rc = address_path_span(slice_from_str(rows[i].in), &len);
		int got = rc < 0 ? -1 : (int)len;

		CHECK(got == rows[i].want, "span %s: got %d, want %d", rows[i].name, got,
		    rows[i].want);
	}
}

static void
test_path_parse(void)
{
	static const struct {
		const char *name, *in;
		unsigned flags;
		const char *want;	/* mailbox, or NULL for -1 */
	} rows[] = {
		{ "simple", "<a@b.example>", 0, "a@b.example" },
		{ "null_allowed", "<>", N, "" },
		{ "null_refused", "<>", 0, NULL },
		{ "route", "<@r.example:a@b.example>", 0, "a@b.example" },
		{ "route_three", "<@r1.example,@r2.example,@r3.example:a@b.example>", 0, "a@b.example" },
		{ "route_utf8", "<@\xc3\xa9.example:a@b.example>", U, "a@b.example" },
		{ "route_utf8_no_flag", "<@\xc3\xa9.example:a@b.example>", 0, NULL },
		{ "route_empty", "<@:a@b.example>", 0, NULL },
		{ "route_bad_domain", "<@-r.example:a@b.example>", 0, NULL },
		{ "route_no_colon", "<@r.example>", 0, NULL },
		{ "route_comma_no_at", "<@r.example,s.example:a@b>", 0, NULL },
		{ "route_trailing_comma", "<@r.example,:a@b>", 0, NULL },
		{ "route_then_null", "<@r.example:>", N, NULL },
		{ "route_literal", "<@[1.2.3.4]:a@b>", 0, NULL },
		{ "route_quoted_colon", "<@r.example:\"a:b\"@c>", 0, "\"a:b\"@c" },
		{ "postmaster_allowed", "<postmaster>", P, "postmaster" },
		{ "postmaster_case", "<POSTMASTER>", P, "POSTMASTER" },
		{ "postmaster_refused", "<postmaster>", 0, NULL },
		{ "postmaster_domain", "<postmaster@b.example>", 0, "postmaster@b.example" },
		{ "no_brackets", "a@b.example", 0, NULL },
		{ "no_close", "<a@b.example", 0, NULL },
		{ "only_lt", "<", N, NULL },
		{ "only_gt", ">", N, NULL },
		{ "empty", "", N, NULL },
		{ "inner_space", "<a b@c>", 0, NULL },
		{ "utf8", "<\xc3\xa9@b.example>", U, "\xc3\xa9@b.example" },
		{ "utf8_no_flag", "<\xc3\xa9@b.example>", 0, NULL },
	};
	char path[SMTP_PATH_MAX + 8];
	struct slice mb;
	const char *e;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct slice m = { NULL, 0 };
		const char *err = NULL;
		int rc = address_path_parse(slice_from_str(rows[i].in), rows[i].flags, &m, &err);

		if (rows[i].want == NULL) {
			CHECK(rc == -1 && err != NULL, "path %s: got %d, want -1", rows[i].name, rc);
			continue;
		}
		CHECK(rc == 0, "path %s: got %d (%s), want 0", rows[i].name, rc, err ? err : "-");
		if (rc == 0)
			CHECK(m.len == strlen(rows[i].want) && memcmp(m.p, rows[i].want, m.len) == 0,
			    "path %s: got \"%.*s\", want \"%s\"", rows[i].name, (int)m.len, m.p,
			    rows[i].want);
	}
	/* SMTP_PATH_MAX octets are checked, one more is "path too long". */
	path[0] = '<';
	memset(path + 1, 'a', 60);
	path[61] = '@';
	for (size_t i = 62; i < SMTP_PATH_MAX - 1; i++)
		path[i] = (i % 60 == 0) ? '.' : 'b';
	path[SMTP_PATH_MAX - 1] = '>';
	CHECK_INT(address_path_parse((struct slice){ path, SMTP_PATH_MAX }, 0, &mb, &e), 0);
	CHECK_INT(mb.len, SMTP_PATH_MAX - 2);
	memmove(path + 1, path, SMTP_PATH_MAX);
	path[1] = 'a';
	CHECK_INT(address_path_parse((struct slice){ path, SMTP_PATH_MAX + 1 }, 0, &mb, &e), -1);
	CHECK_STR(e, "path too long");
}

static void
test_helo(void)
{
	static const struct {
		const char *name, *in;
		int want;	/* enum address_helo_kind, or -1 */
	} rows[] = {
		{ "domain", "mail.example.com", ADDRESS_HELO_DOMAIN },
		{ "single_label", "localhost", ADDRESS_HELO_DOMAIN },
		{ "netbios", "DESKTOP-4F2KQ7L", ADDRESS_HELO_DOMAIN },
		{ "literal_v4", "[192.0.2.1]", ADDRESS_HELO_LITERAL },
		{ "literal_v6", "[IPv6:2001:db8::1]", ADDRESS_HELO_LITERAL },
		{ "literal_general", "[x:y]", ADDRESS_HELO_LITERAL },
		{ "bare_v4", "192.0.2.1", ADDRESS_HELO_BARE_IP },
		{ "bare_v6", "2001:db8::1", ADDRESS_HELO_BARE_IP },
		{ "bare_v6_loopback", "::1", ADDRESS_HELO_BARE_IP },
		{ "underscore", "my_pc.local", ADDRESS_HELO_LENIENT },
		{ "trailing_dot", "mail.example.com.", ADDRESS_HELO_LENIENT },
		{ "bad_v4_literal", "[999.1.1.1]", ADDRESS_HELO_LENIENT },
		{ "half_literal", "[192.0.2.1", ADDRESS_HELO_LENIENT },
		{ "punct", "!!!", ADDRESS_HELO_LENIENT },
		{ "quoted", "\"host\"", ADDRESS_HELO_LENIENT },
		{ "v4_5parts", "1.2.3.4.5", ADDRESS_HELO_DOMAIN },
		{ "empty", "", -1 },
		{ "space", "a b", -1 },
		{ "tab", "a\tb", -1 },
		{ "del", "a\x7f", -1 },
		{ "utf8", "b\xc3\xbc" "cher.de", -1 },
	};
	char big[SMTP_DOMAIN_MAX + 2];
	enum address_helo_kind k;
	const char *e;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum address_helo_kind kind = ADDRESS_HELO_DOMAIN;
		const char *err = NULL;
		int rc = address_helo_check(slice_from_str(rows[i].in), &kind, &err);
		int got = rc < 0 ? -1 : (int)kind;

		CHECK(got == rows[i].want, "helo %s: got %d, want %d", rows[i].name, got,
		    rows[i].want);
		CHECK(rc == 0 || err != NULL, "helo %s: no error text", rows[i].name);
	}
	memset(big, 'h', SMTP_DOMAIN_MAX);
	CHECK_INT(address_helo_check((struct slice){ big, SMTP_DOMAIN_MAX }, &k, &e), 0);
	CHECK_INT(k, ADDRESS_HELO_LENIENT);	/* one 255-octet label */
	CHECK_INT(address_helo_check((struct slice){ big, SMTP_DOMAIN_MAX + 1 }, &k, &e), -1);
	CHECK_INT(address_helo_check((struct slice){ "a\0b", 3 }, &k, &e), -1);
}

static void
test_xtext(void)
{
	static const struct {
		const char *name, *in;
		unsigned flags;
		size_t dstsize;
		const char *want;	/* NULL: expect -1 */
	} rows[] = {
		{ "plain", "abc", 0, 64, "abc" },
		{ "empty", "", 0, 64, "" },
		{ "plus", "a+2Bb", 0, 64, "a+b" },
		{ "equals", "a+3Db", 0, 64, "a=b" },
		{ "space", "+20", 0, 64, " " },
		{ "lower_hex", "+2b+3d", 0, 64, "+=" },
		{ "needless", "+41+42", 0, 64, "AB" },
		{ "tilde", "~!", 0, 64, "~!" },
		{ "angle", "<>", 0, 64, "<>" },
		{ "raw_equals", "a=b", 0, 64, NULL },
		{ "raw_space", "a b", 0, 64, NULL },
		{ "raw_tab", "a\tb", 0, 64, NULL },
		{ "raw_del", "a\x7f", 0, 64, NULL },
		{ "plus_end", "a+", 0, 64, NULL },
		{ "plus_one_hex", "a+4", 0, 64, NULL },
		{ "plus_bad_hex", "a+4G", 0, 64, NULL },
		{ "plus_plus", "a++41", 0, 64, NULL },
		{ "plus_space", "+ 4", 0, 64, NULL },
		{ "nul", "+00", 0, 64, NULL },
		{ "cr", "+0D", 0, 64, NULL },
		{ "lf", "+0A", 0, 64, NULL },
		{ "del", "+7F", 0, 64, NULL },
		{ "tab", "+09", 0, 64, NULL },
		{ "high_escape", "+C3+A9", 0, 64, NULL },
		{ "high_escape_utf8", "+C3+A9", U, 64, "\xc3\xa9" },
		{ "high_escape_bad_utf8", "+C3", U, 64, NULL },
		{ "raw_utf8_no_flag", "\xc3\xa9", 0, 64, NULL },
		{ "raw_utf8", "\xc3\xa9", U, 64, "\xc3\xa9" },
		{ "raw_bad_utf8", "\xc3(", U, 64, NULL },
		{ "fits_exactly", "abcd", 0, 5, "abcd" },
		{ "one_too_many", "abcde", 0, 5, NULL },
		{ "escape_too_many", "abcd+41", 0, 5, NULL },
		{ "zero_size", "", 0, 0, NULL },
		{ "one_byte_empty", "", 0, 1, "" },
	};
	char dst[SMTP_ORCPT_MAX + 1], in[3 * SMTP_ORCPT_MAX + 1];
	size_t len;
	const char *e;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char out[64];
		size_t n = 99;
		const char *err = NULL;
		int rc = address_xtext_decode(slice_from_str(rows[i].in), rows[i].flags, out,
		    rows[i].dstsize, &n, &err);

		if (rows[i].want == NULL) {
			CHECK(rc == -1 && err != NULL, "xtext %s: got %d, want -1", rows[i].name, rc);
			continue;
		}
		CHECK(rc == 0, "xtext %s: got %d (%s), want 0", rows[i].name, rc, err ? err : "-");
		if (rc == 0) {
			CHECK(strcmp(out, rows[i].want) == 0, "xtext %s: got \"%s\", want \"%s\"",
			    rows[i].name, out, rows[i].want);
			CHECK(n == strlen(rows[i].want), "xtext %s: length got %zu, want %zu",
			    rows[i].name, n, strlen(rows[i].want));
		}
	}
	/* The ORCPT cap: 500 decoded octets from 1500 encoded ones fit a 501-byte buffer. */
	for (size_t i = 0; i < SMTP_ORCPT_MAX; i++)
		memcpy(in + 3 * i, "+41", 3);
	CHECK_INT(address_xtext_decode((struct slice){ in, 3 * SMTP_ORCPT_MAX }, 0, dst,
	    sizeof(dst), &len, &e), 0);
	CHECK_INT(len, SMTP_ORCPT_MAX);
	in[3 * SMTP_ORCPT_MAX] = 'A';
	CHECK_INT(address_xtext_decode((struct slice){ in, 3 * SMTP_ORCPT_MAX + 1 }, 0, dst,
	    sizeof(dst), &len, &e), -1);
	/* len_r may be NULL; a raw NUL is refused. */
	CHECK_INT(address_xtext_decode(SLICE_LIT("x"), 0, dst, sizeof(dst), NULL, &e), 0);
	CHECK_INT(address_xtext_decode((struct slice){ "a\0b", 3 }, 0, dst, sizeof(dst), NULL, &e),
	    -1);
}

static void
test_domain_lower(void)
{
	static const struct {
		const char *name, *in;
		size_t dstsize;
		const char *want;	/* NULL: expect -1 */
	} rows[] = {
		{ "simple", "John@Example.COM", 64, "example.com" },
		{ "already_lower", "a@b.example", 64, "b.example" },
		{ "quoted_at", "\"A@B\"@C.Example", 64, "c.example" },
		{ "literal", "a@[IPv6:2001:DB8::1]", 64, "[ipv6:2001:db8::1]" },
		{ "utf8_kept", "a@B\xc3\x9c" "CHER.de", 64, "b\xc3\x9c" "cher.de" },
		{ "fits_exactly", "a@ABC", 4, "abc" },
		{ "too_small", "a@ABCD", 4, NULL },
		{ "no_domain", "postmaster", 64, NULL },
		{ "empty_domain", "a@", 64, NULL },
		{ "empty", "", 64, NULL },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char out[64];
		const char *err = NULL;
		int rc = address_domain_lower(slice_from_str(rows[i].in), out, rows[i].dstsize, &err);

		if (rows[i].want == NULL) {
			CHECK(rc == -1 && err != NULL, "lower %s: got %d, want -1", rows[i].name, rc);
			continue;
		}
		CHECK(rc == 0, "lower %s: got %d, want 0", rows[i].name, rc);
		if (rc == 0)
			CHECK(strcmp(out, rows[i].want) == 0, "lower %s: got \"%s\", want \"%s\"",
			    rows[i].name, out, rows[i].want);
	}
}

static void
test_utf8_ascii(void)
{
	static const struct {
		const char *name, *in;
		int ascii, utf8;
	} rows[] = {
		{ "empty", "", 1, 1 },
		{ "ascii", "hello", 1, 1 },
		{ "two_byte", "\xc3\xa9", 0, 1 },
		{ "three_byte", "\xe2\x82\xac", 0, 1 },
		{ "four_byte", "\xf0\x9f\x98\x80", 0, 1 },
		{ "lone_continuation", "\x80", 0, 0 },
		{ "c0_overlong", "\xc0\x80", 0, 0 },
		{ "c1_overlong", "\xc1\xbf", 0, 0 },
		{ "e0_overlong", "\xe0\x9f\xbf", 0, 0 },
		{ "surrogate_low", "\xed\xa0\x80", 0, 0 },
		{ "surrogate_high", "\xed\xbf\xbf", 0, 0 },
		{ "before_surrogates", "\xed\x9f\xbf", 0, 1 },
		{ "f0_overlong", "\xf0\x8f\xbf\xbf", 0, 0 },
		{ "max", "\xf4\x8f\xbf\xbf", 0, 1 },
		{ "past_max", "\xf4\x90\x80\x80", 0, 0 },
		{ "f8", "\xf8\x88\x80\x80\x80", 0, 0 },
		{ "ff", "\xff", 0, 0 },
		{ "truncated_2", "\xc3", 0, 0 },
		{ "truncated_3", "\xe2\x82", 0, 0 },
		{ "truncated_4", "\xf0\x9f\x98", 0, 0 },
		{ "bad_continuation", "\xe2\x28\xa1", 0, 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct slice s = slice_from_str(rows[i].in);

		CHECK(address_is_ascii(s) == rows[i].ascii, "ascii %s: got %d, want %d",
		    rows[i].name, address_is_ascii(s), rows[i].ascii);
		CHECK(address_is_utf8(s) == rows[i].utf8, "utf8 %s: got %d, want %d",
		    rows[i].name, address_is_utf8(s), rows[i].utf8);
	}
}

static const struct unit_case cases[] = {
	{ "domain", test_domain },
	{ "literal", test_literal },
	{ "local_part", test_local_part },
	{ "mailbox", test_mailbox },
	{ "split", test_split },
	{ "path_span", test_path_span },
	{ "path_parse", test_path_parse },
	{ "helo", test_helo },
	{ "xtext", test_xtext },
	{ "domain_lower", test_domain_lower },
	{ "utf8_ascii", test_utf8_ascii },
};

UNIT_MAIN(cases)
