/* Unit tests for smtpd/smtp_cmd_parse.c: every verb, every MAIL/RCPT parameter, every reply the
 * parser can give, and adversarial lines (controls, NUL, overlong fields, repeated parameters,
 * quoting, literals, UTF-8, xtext). Table rows are named; a failing row prints its name with
 * "got X, want Y". Each parse result is rendered as one line ("ok VERB field=..." or
 * "error VERB CODE ENH text", the format of tests/tools/smtp-cmd-dump) and compared whole, so a
 * row also proves that no other field was set. */
#include <fcntl.h>	/* unit.h uses open() */

#include "unit.h"

#include "common/envelope.h"
#include "lib/buf.h"
#include "smtpd/smtp_cmd_parse.h"

static const char *
helo_kind_name(enum address_helo_kind k)
{
	switch (k) {
	case ADDRESS_HELO_DOMAIN:
		return "domain";
	case ADDRESS_HELO_LITERAL:
		return "literal";
	case ADDRESS_HELO_BARE_IP:
		return "bare-ip";
	case ADDRESS_HELO_LENIENT:
		return "lenient";
	}
	return "?";
}

/* Renders a result; the caller frees out with buf_free. */
static void
describe(int rc, const struct smtp_cmd *c, const struct smtp_parse_error *e, struct buf *out)
{
	static const char *const body[] = { "7BIT", "8BITMIME", "BINARYMIME" };
	static const char *const ret[] = { "", "FULL", "HDRS" };
	static const struct {
		unsigned bit;
		const char *name;
	} nb[] = { { ENV_NOTIFY_NEVER, "NEVER" }, { ENV_NOTIFY_SUCCESS, "SUCCESS" },
		{ ENV_NOTIFY_FAILURE, "FAILURE" }, { ENV_NOTIFY_DELAY, "DELAY" } };
	int helo = c->verb == SMTP_VERB_HELO || c->verb == SMTP_VERB_EHLO;

	buf_init(out, 8192);
	if (rc < 0) {
		buf_printf(out, "error %s %d %s %s", smtp_verb_name(c->verb), e->code, e->enh, e->text);
		return;
	}
	buf_printf(out, "ok %s", smtp_verb_name(c->verb));
	if (c->arg[0] != '\0' || helo)
		buf_printf(out, " arg=\"%s\"", c->arg);
	if (helo)
		buf_printf(out, " helo=%s", helo_kind_name(c->helo_kind));
	if (c->path[0] != '\0' || c->verb == SMTP_VERB_MAIL || c->verb == SMTP_VERB_RCPT)
		buf_printf(out, " path=\"%s\"", c->path);
	if (c->is_postmaster)
		buf_printf(out, " postmaster");
	if (c->path_is_utf8)
		buf_printf(out, " utf8");
	if (c->has_size)
		buf_printf(out, " size=%llu", c->size);
	if (c->body > 0 && c->body <= 2)
		buf_printf(out, " body=%s", body[c->body]);
	if (c->smtputf8)
		buf_printf(out, " smtputf8");
	if (c->ret > 0 && c->ret <= 2)
		buf_printf(out, " ret=%s", ret[c->ret]);
	if (c->has_envid)
		buf_printf(out, " envid=\"%s\"", c->envid);
	if (c->notify) {
		const char *sep = " notify=";

		for (size_t i = 0; i < sizeof(nb) / sizeof(nb[0]); i++) {
			if (c->notify & nb[i].bit) {
				buf_printf(out, "%s%s", sep, nb[i].name);
				sep = ",";
			}
		}
	}
	if (c->orcpt[0] != '\0')
		buf_printf(out, " orcpt=\"%s\"", c->orcpt);
	if (c->verb == SMTP_VERB_BDAT)
		buf_printf(out, " chunk=%llu", c->chunk_size);
	if (c->last)
		buf_printf(out, " last");
}

static void
check_line(const char *name, struct slice line, const char *want)
{
	struct smtp_cmd cmd;
	struct smtp_parse_error err = { 0, NULL, NULL };
	struct buf got;
	int rc = smtp_cmd_parse(line, &cmd, &err);

	describe(rc, &cmd, &err, &got);
	CHECK(strcmp(got.data, want) == 0, "%s: got \"%s\", want \"%s\"", name, got.data, want);
	buf_free(&got);
}

struct row {
	const char *name;
	const char *line;
	const char *want;
};

static void
run_rows(const struct row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		check_line(rows[i].name, slice_from_str(rows[i].line), rows[i].want);
}

#define RUN(rows) run_rows(rows, sizeof(rows) / sizeof(rows[0]))

#define E500 "error UNKNOWN 500 5.5.2 "

static const struct row basic_rows[] = {
	{ "unknown_verb", "XYZZY", E500 "Command unrecognized" },
	{ "unknown_verb_arg", "XYZZY plugh", E500 "Command unrecognized" },
	{ "empty_line", "", E500 "Syntax error: empty command" },
	{ "spaces_only", "    ", E500 "Syntax error: empty command" },
	{ "tabs_only", "\t\t", E500 "Syntax error: empty command" },
	{ "verb_glued_to_arg", "MAILFROM:<a@b.c>", E500 "Command unrecognized" },
	{ "verb_glued_helo", "EHLOmail.example.com", E500 "Command unrecognized" },
	{ "verb_tab_separator", "EHLO\tmail.example.com", E500 "Command unrecognized" },
	{ "verb_prefix_only", "MAI", E500 "Command unrecognized" },
	{ "verb_longer", "DATAX", E500 "Command unrecognized" },
	{ "verb_8bit", "M\xc3\x84IL FROM:<>", E500 "Command unrecognized" },
	{ "verb_http", "GET / HTTP/1.1", E500 "Command unrecognized" },
	{ "control_soh", "NOOP \x01", E500 "Syntax error: control character in command" },
	{ "control_del", "NOOP \x7f", E500 "Syntax error: control character in command" },
	{ "control_bare_cr", "MAIL FROM:<a@b.c>\rRCPT TO:<d@e.f>",
		E500 "Syntax error: control character in command" },
	{ "control_bare_lf", "NOOP\nQUIT", E500 "Syntax error: control character in command" },
	{ "control_esc", "HELO \x1b[31mred", E500 "Syntax error: control character in command" },
	{ "leading_spaces", "   NOOP", "ok NOOP" },
	{ "trailing_tab", "QUIT\t", "ok QUIT" },
	{ "trailing_spaces", "DATA   ", "ok DATA" },
	{ "data", "DATA", "ok DATA" },
	{ "data_lower", "data", "ok DATA" },
	{ "data_arg", "DATA now", "error DATA 501 5.5.4 Syntax: DATA" },
	{ "rset", "RSET", "ok RSET" },
	{ "rset_arg", "RSET all", "error RSET 501 5.5.4 Syntax: RSET" },
	{ "quit", "quit", "ok QUIT" },
	{ "quit_arg", "QUIT bye", "error QUIT 501 5.5.4 Syntax: QUIT" },
	{ "starttls", "STARTTLS", "ok STARTTLS" },
	{ "starttls_mixed", "StartTLS", "ok STARTTLS" },
	{ "starttls_arg", "STARTTLS now", "error STARTTLS 501 5.5.4 Syntax: STARTTLS" },
	{ "noop", "NOOP", "ok NOOP" },
	{ "noop_arg", "NOOP hello  world", "ok NOOP arg=\"hello  world\"" },
	{ "noop_tab_in_arg", "NOOP a\tb", "ok NOOP arg=\"a\tb\"" },
	{ "noop_many_spaces", "NOOP     x", "ok NOOP arg=\"x\"" },
	{ "help", "HELP", "ok HELP" },
	{ "help_arg", "help MAIL", "ok HELP arg=\"MAIL\"" },
	{ "vrfy", "VRFY postmaster", "ok VRFY arg=\"postmaster\"" },
	{ "vrfy_no_arg", "VRFY", "ok VRFY" },
	{ "vrfy_brackets", "VRFY <john@example.com>", "ok VRFY arg=\"<john@example.com>\"" },
	{ "expn", "EXPN staff", "ok EXPN arg=\"staff\"" },
	{ "auth_plain_ir", "AUTH PLAIN AGpvaG4Ac2VjcmV0", "ok AUTH arg=\"PLAIN AGpvaG4Ac2VjcmV0\"" },
	{ "auth_login", "auth login", "ok AUTH arg=\"login\"" },
	{ "auth_no_arg", "AUTH", "ok AUTH" },
	{ "auth_utf8", "AUTH PLAIN \xc3\xa9", "ok AUTH arg=\"PLAIN \xc3\xa9\"" },
};

static void
test_basic(void)
{
	RUN(basic_rows);
}

static const struct row helo_rows[] = {
	{ "helo_domain", "HELO mail.example.com",
		"ok HELO arg=\"mail.example.com\" helo=domain" },
	{ "ehlo_domain", "EHLO mail.example.com",
		"ok EHLO arg=\"mail.example.com\" helo=domain" },
	{ "ehlo_lower_verb", "ehlo Mail.Example.COM",
		"ok EHLO arg=\"Mail.Example.COM\" helo=domain" },
	{ "ehlo_single_label", "EHLO WIN-7ABC123", "ok EHLO arg=\"WIN-7ABC123\" helo=domain" },
	{ "ehlo_localhost", "EHLO localhost", "ok EHLO arg=\"localhost\" helo=domain" },
	{ "ehlo_literal_v4", "EHLO [192.0.2.1]", "ok EHLO arg=\"[192.0.2.1]\" helo=literal" },
	{ "ehlo_literal_v6", "EHLO [IPv6:2001:db8::1]",
		"ok EHLO arg=\"[IPv6:2001:db8::1]\" helo=literal" },
	{ "ehlo_literal_v6_lower_tag", "EHLO [ipv6:::1]", "ok EHLO arg=\"[ipv6:::1]\" helo=literal" },
	{ "ehlo_bare_v4", "EHLO 192.0.2.1", "ok EHLO arg=\"192.0.2.1\" helo=bare-ip" },
	{ "ehlo_bare_v6", "EHLO 2001:db8::25", "ok EHLO arg=\"2001:db8::25\" helo=bare-ip" },
	{ "ehlo_underscore", "EHLO my_host.local", "ok EHLO arg=\"my_host.local\" helo=lenient" },
	{ "ehlo_trailing_dot", "EHLO mail.example.com.",
		"ok EHLO arg=\"mail.example.com.\" helo=lenient" },
	{ "ehlo_bad_literal", "EHLO [300.1.1.1]", "ok EHLO arg=\"[300.1.1.1]\" helo=lenient" },
	{ "ehlo_unclosed_literal", "EHLO [192.0.2.1", "ok EHLO arg=\"[192.0.2.1\" helo=lenient" },
	{ "ehlo_hyphen_start", "EHLO -bad.example", "ok EHLO arg=\"-bad.example\" helo=lenient" },
	{ "ehlo_trailing_space", "EHLO x.example ", "ok EHLO arg=\"x.example\" helo=domain" },
	{ "ehlo_extra_spaces", "EHLO    x.example", "ok EHLO arg=\"x.example\" helo=domain" },
	{ "ehlo_no_arg", "EHLO", "error EHLO 501 5.5.4 Syntax: EHLO hostname" },
	{ "helo_no_arg_spaces", "HELO   ", "error HELO 501 5.5.4 Syntax: HELO hostname" },
	{ "ehlo_two_words", "EHLO foo bar", "error EHLO 501 5.5.4 Invalid domain name" },
	{ "ehlo_tab_inside", "EHLO foo\tbar", "error EHLO 501 5.5.4 Invalid domain name" },
	{ "ehlo_utf8", "EHLO b\xc3\xbc" "cher.de", "error EHLO 501 5.5.4 Invalid domain name" },
};

static void
test_helo(void)
{
	RUN(helo_rows);
}

#define EMAIL501 "error MAIL 501 5.5.4 Syntax: MAIL FROM:<address> [parameters]"
#define EMAIL553 "error MAIL 553 5.1.3 Bad sender address syntax"

static const struct row mail_path_rows[] = {
	{ "simple", "MAIL FROM:<john@example.com>", "ok MAIL path=\"john@example.com\"" },
	{ "null_sender", "MAIL FROM:<>", "ok MAIL path=\"\"" },
	{ "lower_case", "mail from:<a@b.example>", "ok MAIL path=\"a@b.example\"" },
	{ "mixed_case_from", "MAIL From:<a@b.example>", "ok MAIL path=\"a@b.example\"" },
	{ "space_after_colon", "MAIL FROM: <a@b.example>", "ok MAIL path=\"a@b.example\"" },
	{ "null_space_after_colon", "MAIL FROM: <>", "ok MAIL path=\"\"" },
	{ "two_spaces_after_colon", "MAIL FROM:  <a@b.example>", EMAIL501 },
	{ "space_before_colon", "MAIL FROM :<a@b.example>", EMAIL501 },
	{ "extra_spaces_after_verb", "MAIL   FROM:<a@b.example>", "ok MAIL path=\"a@b.example\"" },
	{ "no_brackets", "MAIL FROM:a@b.example", EMAIL501 },
	{ "no_brackets_space", "MAIL FROM: a@b.example", EMAIL501 },
	{ "no_from", "MAIL <a@b.example>", EMAIL501 },
	{ "to_instead_of_from", "MAIL TO:<a@b.example>", EMAIL501 },
	{ "from_no_colon", "MAIL FROM<a@b.example>", EMAIL501 },
	{ "from_only", "MAIL FROM:", EMAIL501 },
	{ "verb_only", "MAIL", EMAIL501 },
	{ "bare_lt", "MAIL FROM:<", EMAIL501 },
	{ "bare_lt_addr", "MAIL FROM:<a@b.example", EMAIL501 },
	{ "bare_gt", "MAIL FROM:>", EMAIL501 },
	{ "junk_after_path", "MAIL FROM:<a@b.example>x", EMAIL501 },
	{ "double_gt", "MAIL FROM:<a@b.example>>", EMAIL501 },
	{ "tab_after_path", "MAIL FROM:<a@b.example>\tSIZE=1", EMAIL501 },
	{ "double_lt", "MAIL FROM:<<a@b.example>>", EMAIL501 },
	{ "nested_lt", "MAIL FROM:<<a@b.example>", EMAIL553 },
	{ "no_domain", "MAIL FROM:<john>", EMAIL553 },
	{ "postmaster_sender", "MAIL FROM:<postmaster>", EMAIL553 },
	{ "empty_domain", "MAIL FROM:<john@>", EMAIL553 },
	{ "empty_local", "MAIL FROM:<@example.com>", EMAIL553 },
	{ "only_at", "MAIL FROM:<@>", EMAIL553 },
	{ "two_ats", "MAIL FROM:<a@b@c.example>", EMAIL553 },
	{ "dot_dot_domain", "MAIL FROM:<a@b..example>", EMAIL553 },
	{ "trailing_dot_domain", "MAIL FROM:<a@b.example.>", EMAIL553 },
	{ "leading_dot_domain", "MAIL FROM:<a@.example>", EMAIL553 },
	{ "hyphen_label_start", "MAIL FROM:<a@-b.example>", EMAIL553 },
	{ "hyphen_label_end", "MAIL FROM:<a@b-.example>", EMAIL553 },
	{ "hyphen_inside_ok", "MAIL FROM:<a@b-c.example>", "ok MAIL path=\"a@b-c.example\"" },
	{ "underscore_domain", "MAIL FROM:<a@my_host.example>", EMAIL553 },
	{ "numeric_domain", "MAIL FROM:<a@1.2.3.4>", "ok MAIL path=\"a@1.2.3.4\"" },
	{ "dot_dot_local", "MAIL FROM:<a..b@c.example>", EMAIL553 },
	{ "leading_dot_local", "MAIL FROM:<.a@c.example>", EMAIL553 },
	{ "trailing_dot_local", "MAIL FROM:<a.@c.example>", EMAIL553 },
	{ "space_in_local", "MAIL FROM:<a b@c.example>", EMAIL553 },
	{ "comma_in_local", "MAIL FROM:<a,b@c.example>", EMAIL553 },
	{ "atext_specials", "MAIL FROM:<!#$%&'*+-/=?^_`{|}~@c.example>",
		"ok MAIL path=\"!#$%&'*+-/=?^_`{|}~@c.example\"" },
	{ "plus_tag", "MAIL FROM:<bounce+123-abc=x.example@lists.example.org>",
		"ok MAIL path=\"bounce+123-abc=x.example@lists.example.org\"" },
	{ "quoted_space", "MAIL FROM:<\"john doe\"@example.com>",
		"ok MAIL path=\"\"john doe\"@example.com\"" },
	{ "quoted_escaped_quote", "MAIL FROM:<\"a\\\"b\"@x.example>",
		"ok MAIL path=\"\"a\\\"b\"@x.example\"" },
	{ "quoted_escaped_backslash", "MAIL FROM:<\"a\\\\\"@x.example>",
		"ok MAIL path=\"\"a\\\\\"@x.example\"" },
	{ "quoted_gt_inside", "MAIL FROM:<\"a>b\"@x.example> SIZE=5",
		"ok MAIL path=\"\"a>b\"@x.example\" size=5" },
	{ "quoted_at_inside", "MAIL FROM:<\"a@b\"@x.example>", "ok MAIL path=\"\"a@b\"@x.example\"" },
	{ "quoted_empty", "MAIL FROM:<\"\"@x.example>", "ok MAIL path=\"\"\"@x.example\"" },
	{ "quoted_unterminated", "MAIL FROM:<\"ab@x.example>", EMAIL501 },
	{ "quoted_then_text", "MAIL FROM:<\"a\"b@x.example>", EMAIL553 },
	{ "quoted_tab", "MAIL FROM:<\"a\tb\"@x.example>", EMAIL553 },
	{ "quoted_escape_tab", "MAIL FROM:<\"a\\\tb\"@x.example>", EMAIL553 },
	{ "literal_v4", "MAIL FROM:<a@[192.0.2.1]>", "ok MAIL path=\"a@[192.0.2.1]\"" },
	{ "literal_v4_bad", "MAIL FROM:<a@[192.0.2.256]>", EMAIL553 },
	{ "literal_v4_short", "MAIL FROM:<a@[1.2.3]>", EMAIL553 },
	{ "literal_v6", "MAIL FROM:<a@[IPv6:2001:db8::1]>", "ok MAIL path=\"a@[IPv6:2001:db8::1]\"" },
	{ "literal_v6_mapped", "MAIL FROM:<a@[IPv6:::ffff:192.0.2.1]>",
		"ok MAIL path=\"a@[IPv6:::ffff:192.0.2.1]\"" },
	{ "literal_v6_bad", "MAIL FROM:<a@[IPv6:2001:db8::g]>", EMAIL553 },
	{ "literal_v6_zone", "MAIL FROM:<a@[IPv6:fe80::1%eth0]>", EMAIL553 },
	{ "literal_v6_no_tag", "MAIL FROM:<a@[2001:db8::1]>", EMAIL553 },
	{ "literal_general", "MAIL FROM:<a@[x-tag:foo]>", "ok MAIL path=\"a@[x-tag:foo]\"" },
	{ "literal_general_gt", "MAIL FROM:<a@[x:a>b]> SIZE=1", "ok MAIL path=\"a@[x:a>b]\" size=1" },
	{ "literal_empty", "MAIL FROM:<a@[]>", EMAIL553 },
	{ "literal_unclosed", "MAIL FROM:<a@[1.2.3.4>", EMAIL501 },
	{ "literal_text_after", "MAIL FROM:<a@[1.2.3.4]x>", EMAIL553 },
	{ "route_one", "MAIL FROM:<@relay.example:a@b.example>", "ok MAIL path=\"a@b.example\"" },
	{ "route_two", "MAIL FROM:<@r1.example,@r2.example:u@d.example>",
		"ok MAIL path=\"u@d.example\"" },
	{ "route_empty_domain", "MAIL FROM:<@:a@b.example>", EMAIL553 },
	{ "route_no_colon", "MAIL FROM:<@r.example a@b.example>", EMAIL553 },
	{ "route_missing_at", "MAIL FROM:<@r1.example,r2.example:u@d.example>", EMAIL553 },
	{ "route_no_mailbox", "MAIL FROM:<@r.example:>", EMAIL553 },
	{ "route_to_null", "MAIL FROM:<@r.example>", EMAIL553 },
	{ "route_literal", "MAIL FROM:<@[192.0.2.1]:a@b.example>", EMAIL553 },
};

static void
test_mail_path(void)
{
	RUN(mail_path_rows);
}

static const struct row mail_utf8_rows[] = {
	{ "utf8_without_smtputf8", "MAIL FROM:<j\xc3\xb6rg@example.com>",
		"error MAIL 553 5.6.7 Non-ASCII sender address requires SMTPUTF8" },
	{ "utf8_domain_without_smtputf8", "MAIL FROM:<a@b\xc3\xbc" "cher.de>",
		"error MAIL 553 5.6.7 Non-ASCII sender address requires SMTPUTF8" },
	{ "utf8_with_smtputf8", "MAIL FROM:<j\xc3\xb6rg@example.com> SMTPUTF8",
		"ok MAIL path=\"j\xc3\xb6rg@example.com\" utf8 smtputf8" },
	{ "utf8_ulabel", "MAIL FROM:<a@b\xc3\xbc" "cher.de> SMTPUTF8",
		"ok MAIL path=\"a@b\xc3\xbc" "cher.de\" utf8 smtputf8" },
	{ "utf8_greek", "MAIL FROM:<\xce\xb4\xce\xbf\xce\xba@\xcf\x80\xce\xb1.example> SMTPUTF8",
		"ok MAIL path=\"\xce\xb4\xce\xbf\xce\xba@\xcf\x80\xce\xb1.example\" utf8 smtputf8" },
	{ "utf8_quoted", "MAIL FROM:<\"\xe2\x98\x83 x\"@example.com> SMTPUTF8",
		"ok MAIL path=\"\"\xe2\x98\x83 x\"@example.com\" utf8 smtputf8" },
	{ "utf8_4byte", "MAIL FROM:<\xf0\x9f\x93\xa7@example.com> SMTPUTF8",
		"ok MAIL path=\"\xf0\x9f\x93\xa7@example.com\" utf8 smtputf8" },
	{ "utf8_invalid", "MAIL FROM:<\xc3\x28@example.com> SMTPUTF8", EMAIL553 },
	{ "utf8_overlong", "MAIL FROM:<\xc0\xaf@example.com> SMTPUTF8", EMAIL553 },
	{ "utf8_surrogate", "MAIL FROM:<\xed\xa0\x80@example.com> SMTPUTF8", EMAIL553 },
	{ "utf8_too_big", "MAIL FROM:<\xf4\x90\x80\x80@example.com> SMTPUTF8", EMAIL553 },
	{ "utf8_truncated", "MAIL FROM:<\xe2\x98@example.com> SMTPUTF8", EMAIL553 },
	{ "utf8_lone_continuation", "MAIL FROM:<\x80@example.com> SMTPUTF8", EMAIL553 },
	{ "utf8_in_literal", "MAIL FROM:<a@[x:\xc3\xa9]> SMTPUTF8", EMAIL553 },
	{ "utf8_route_without_smtputf8", "MAIL FROM:<@\xc3\xa9.example:a@b.example>",
		"error MAIL 553 5.6.7 Non-ASCII sender address requires SMTPUTF8" },
	{ "utf8_route_with_smtputf8", "MAIL FROM:<@\xc3\xa9.example:a@b.example> SMTPUTF8",
		"ok MAIL path=\"a@b.example\" smtputf8" },
	{ "utf8_param_error_first", "MAIL FROM:<\xc3\xa9@b.example> SIZE=x",
		"error MAIL 501 5.5.4 Invalid SIZE value" },
	{ "smtputf8_ascii_path", "MAIL FROM:<a@b.example> SMTPUTF8",
		"ok MAIL path=\"a@b.example\" smtputf8" },
	{ "smtputf8_null_path", "MAIL FROM:<> SMTPUTF8", "ok MAIL path=\"\" smtputf8" },
};

static void
test_mail_utf8(void)
{
	RUN(mail_utf8_rows);
}

#define EVAL(t) "error MAIL 501 5.5.4 " t
#define E555 "error MAIL 555 5.5.4 Unsupported parameter"

static const struct row mail_param_rows[] = {
	{ "size", "MAIL FROM:<a@b.example> SIZE=12345", "ok MAIL path=\"a@b.example\" size=12345" },
	{ "size_zero", "MAIL FROM:<> SIZE=0", "ok MAIL path=\"\" size=0" },
	{ "size_lower_key", "MAIL FROM:<> size=7", "ok MAIL path=\"\" size=7" },
	{ "size_leading_zeros", "MAIL FROM:<> SIZE=000123", "ok MAIL path=\"\" size=123" },
	{ "size_max", "MAIL FROM:<> SIZE=18446744073709551615",
		"ok MAIL path=\"\" size=18446744073709551615" },
	{ "size_overflow", "MAIL FROM:<> SIZE=18446744073709551616", EVAL("Invalid SIZE value") },
	{ "size_21_digits", "MAIL FROM:<> SIZE=0000000000000000000001", EVAL("Invalid SIZE value") },
	{ "size_huge", "MAIL FROM:<> SIZE=99999999999999999999999999999999",
		EVAL("Invalid SIZE value") },
	{ "size_alpha", "MAIL FROM:<> SIZE=12k", EVAL("Invalid SIZE value") },
	{ "size_negative", "MAIL FROM:<> SIZE=-1", EVAL("Invalid SIZE value") },
	{ "size_plus", "MAIL FROM:<> SIZE=+1", EVAL("Invalid SIZE value") },
	{ "size_no_value", "MAIL FROM:<> SIZE", EVAL("Invalid SIZE value") },
	{ "size_empty_value", "MAIL FROM:<> SIZE=", EVAL("Malformed parameter") },
	{ "size_double_eq", "MAIL FROM:<> SIZE==1", EVAL("Malformed parameter") },
	{ "size_dup", "MAIL FROM:<> SIZE=1 SIZE=2", EVAL("Duplicate parameter") },
	{ "size_dup_case", "MAIL FROM:<> size=1 SIZE=1", EVAL("Duplicate parameter") },
	{ "body_7bit", "MAIL FROM:<> BODY=7BIT", "ok MAIL path=\"\"" },
	{ "body_8bitmime", "MAIL FROM:<> BODY=8BITMIME", "ok MAIL path=\"\" body=8BITMIME" },
	{ "body_lower", "MAIL FROM:<> body=8bitmime", "ok MAIL path=\"\" body=8BITMIME" },
	{ "body_binarymime", "MAIL FROM:<> BODY=BINARYMIME", "ok MAIL path=\"\" body=BINARYMIME" },
	{ "body_bad", "MAIL FROM:<> BODY=9BIT", EVAL("Invalid BODY value") },
	{ "body_prefix", "MAIL FROM:<> BODY=8BIT", EVAL("Invalid BODY value") },
	{ "body_no_value", "MAIL FROM:<> BODY", EVAL("Invalid BODY value") },
	{ "body_dup", "MAIL FROM:<> BODY=7BIT BODY=8BITMIME", EVAL("Duplicate parameter") },
	{ "smtputf8_lower", "MAIL FROM:<> smtputf8", "ok MAIL path=\"\" smtputf8" },
	{ "smtputf8_value", "MAIL FROM:<> SMTPUTF8=yes", EVAL("SMTPUTF8 takes no value") },
	{ "smtputf8_dup", "MAIL FROM:<> SMTPUTF8 SMTPUTF8", EVAL("Duplicate parameter") },
	{ "ret_full", "MAIL FROM:<> RET=FULL", "ok MAIL path=\"\" ret=FULL" },
	{ "ret_hdrs_lower", "MAIL FROM:<> ret=hdrs", "ok MAIL path=\"\" ret=HDRS" },
	{ "ret_bad", "MAIL FROM:<> RET=ALL", EVAL("Invalid RET value") },
	{ "ret_no_value", "MAIL FROM:<> RET", EVAL("Invalid RET value") },
	{ "envid", "MAIL FROM:<> ENVID=QQ314159", "ok MAIL path=\"\" envid=\"QQ314159\"" },
	{ "envid_xtext", "MAIL FROM:<> ENVID=a+2Bb+3Dc", "ok MAIL path=\"\" envid=\"a+b=c\"" },
	{ "envid_xtext_lower_hex", "MAIL FROM:<> ENVID=a+2b", "ok MAIL path=\"\" envid=\"a+\"" },
	{ "envid_xtext_space", "MAIL FROM:<> ENVID=a+20b", "ok MAIL path=\"\" envid=\"a b\"" },
	{ "envid_xtext_needless", "MAIL FROM:<> ENVID=+41", "ok MAIL path=\"\" envid=\"A\"" },
	{ "envid_truncated_escape", "MAIL FROM:<> ENVID=ab+2", EVAL("Invalid ENVID value") },
	{ "envid_plus_only", "MAIL FROM:<> ENVID=+", EVAL("Invalid ENVID value") },
	{ "envid_bad_hex", "MAIL FROM:<> ENVID=a+ZZ", EVAL("Invalid ENVID value") },
	{ "envid_nul_escape", "MAIL FROM:<> ENVID=a+00", EVAL("Invalid ENVID value") },
	{ "envid_cr_escape", "MAIL FROM:<> ENVID=a+0D+0A", EVAL("Invalid ENVID value") },
	{ "envid_del_escape", "MAIL FROM:<> ENVID=a+7F", EVAL("Invalid ENVID value") },
	{ "envid_8bit_escape", "MAIL FROM:<> ENVID=a+C3+A9", EVAL("Invalid ENVID value") },
	{ "envid_raw_8bit", "MAIL FROM:<> ENVID=\xc3\xa9", EVAL("Invalid ENVID value") },
	{ "envid_raw_eq", "MAIL FROM:<> ENVID=a=b", EVAL("Malformed parameter") },
	{ "envid_no_value", "MAIL FROM:<> ENVID", EVAL("Invalid ENVID value") },
	{ "envid_dup", "MAIL FROM:<> ENVID=a ENVID=a", EVAL("Duplicate parameter") },
	{ "auth_null", "MAIL FROM:<a@b.example> AUTH=<>", "ok MAIL path=\"a@b.example\"" },
	{ "auth_mailbox", "MAIL FROM:<a@b.example> AUTH=e+3Dmc2@example.com",
		"ok MAIL path=\"a@b.example\"" },
	{ "auth_bad_xtext", "MAIL FROM:<> AUTH=a+G1", EVAL("Invalid AUTH value") },
	{ "auth_no_value", "MAIL FROM:<> AUTH", EVAL("Invalid AUTH value") },
	{ "auth_dup", "MAIL FROM:<> AUTH=<> AUTH=<>", EVAL("Duplicate parameter") },
	{ "all_params", "MAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME SMTPUTF8 RET=HDRS "
		"ENVID=id1 AUTH=<>",
		"ok MAIL path=\"a@b.example\" size=100 body=8BITMIME smtputf8 ret=HDRS envid=\"id1\"" },
	{ "params_many_spaces", "MAIL FROM:<a@b.example>   SIZE=1    BODY=7BIT",
		"ok MAIL path=\"a@b.example\" size=1" },
	{ "unknown_param", "MAIL FROM:<a@b.example> FOO=bar", E555 },
	{ "unknown_bare", "MAIL FROM:<a@b.example> XVERP", E555 },
	{ "rcpt_param_on_mail", "MAIL FROM:<a@b.example> NOTIFY=NEVER", E555 },
	{ "orcpt_on_mail", "MAIL FROM:<a@b.example> ORCPT=rfc822;a@b.example", E555 },
	{ "unknown_8bit_value", "MAIL FROM:<> FOO=\xc3\xa9", E555 },
	{ "keyword_leading_hyphen", "MAIL FROM:<> -SIZE=1", EVAL("Malformed parameter") },
	{ "keyword_underscore", "MAIL FROM:<> SI_ZE=1", EVAL("Malformed parameter") },
	{ "keyword_empty", "MAIL FROM:<> =1", EVAL("Malformed parameter") },
	{ "keyword_8bit", "MAIL FROM:<> S\xc3\x8bZE=1", EVAL("Malformed parameter") },
	{ "value_tab", "MAIL FROM:<> SIZE=1\t2", EVAL("Malformed parameter") },
	{ "first_error_wins", "MAIL FROM:<> FOO=1 SIZE=x", E555 },
	{ "param_error_before_address", "MAIL FROM:<a@> SIZE=x", EVAL("Invalid SIZE value") },
	{ "cr_in_param", "MAIL FROM:<> SIZE=1\r", E500 "Syntax error: control character in command" },
};

static void
test_mail_params(void)
{
	RUN(mail_param_rows);
}

#define ERCPT501 "error RCPT 501 5.5.4 Syntax: RCPT TO:<address> [parameters]"
#define ERCPT553 "error RCPT 553 5.1.3 Bad recipient address syntax"
#define ERVAL(t) "error RCPT 501 5.5.4 " t

static const struct row rcpt_rows[] = {
	{ "simple", "RCPT TO:<jane@example.org>", "ok RCPT path=\"jane@example.org\"" },
	{ "lower", "rcpt to:<jane@example.org>", "ok RCPT path=\"jane@example.org\"" },
	{ "space_after_colon", "RCPT TO: <jane@example.org>", "ok RCPT path=\"jane@example.org\"" },
	{ "two_spaces", "RCPT TO:  <jane@example.org>", ERCPT501 },
	{ "no_brackets", "RCPT TO:jane@example.org", ERCPT501 },
	{ "from_instead_of_to", "RCPT FROM:<jane@example.org>", ERCPT501 },
	{ "no_arg", "RCPT", ERCPT501 },
	{ "bare_lt", "RCPT TO:<", ERCPT501 },
	{ "null_path", "RCPT TO:<>", ERCPT553 },
	{ "postmaster", "RCPT TO:<postmaster>", "ok RCPT path=\"postmaster\" postmaster" },
	{ "postmaster_case", "RCPT TO:<PostMaster>", "ok RCPT path=\"postmaster\" postmaster" },
	{ "postmaster_domain", "RCPT TO:<Postmaster@example.org>",
		"ok RCPT path=\"Postmaster@example.org\"" },
	{ "postmaster_route", "RCPT TO:<@r.example:postmaster>",
		"ok RCPT path=\"postmaster\" postmaster" },
	{ "postmasters", "RCPT TO:<postmasters>", ERCPT553 },
	{ "no_domain", "RCPT TO:<jane>", ERCPT553 },
	{ "bad_domain", "RCPT TO:<jane@exa mple.org>", ERCPT553 },
	{ "route", "RCPT TO:<@hosta.int,@jkl.org:userc@d.bar.org>",
		"ok RCPT path=\"userc@d.bar.org\"" },
	{ "utf8", "RCPT TO:<\xce\xb4\xce\xbf\xce\xba@\xcf\x80\xce\xb1.example>",
		"ok RCPT path=\"\xce\xb4\xce\xbf\xce\xba@\xcf\x80\xce\xb1.example\" utf8" },
	{ "utf8_invalid", "RCPT TO:<\xff@example.org>", ERCPT553 },
	{ "literal", "RCPT TO:<abuse@[192.0.2.7]>", "ok RCPT path=\"abuse@[192.0.2.7]\"" },
	{ "notify_never", "RCPT TO:<a@b.example> NOTIFY=NEVER",
		"ok RCPT path=\"a@b.example\" notify=NEVER" },
	{ "notify_all", "RCPT TO:<a@b.example> NOTIFY=SUCCESS,FAILURE,DELAY",
		"ok RCPT path=\"a@b.example\" notify=SUCCESS,FAILURE,DELAY" },
	{ "notify_lower", "RCPT TO:<a@b.example> notify=delay,failure",
		"ok RCPT path=\"a@b.example\" notify=FAILURE,DELAY" },
	{ "notify_repeat_word", "RCPT TO:<a@b.example> NOTIFY=SUCCESS,SUCCESS",
		"ok RCPT path=\"a@b.example\" notify=SUCCESS" },
	{ "notify_never_combined", "RCPT TO:<a@b.example> NOTIFY=NEVER,SUCCESS",
		ERVAL("NOTIFY=NEVER cannot be combined") },
	{ "notify_combined_never", "RCPT TO:<a@b.example> NOTIFY=DELAY,NEVER",
		ERVAL("NOTIFY=NEVER cannot be combined") },
	{ "notify_trailing_comma", "RCPT TO:<a@b.example> NOTIFY=SUCCESS,",
		ERVAL("Invalid NOTIFY value") },
	{ "notify_leading_comma", "RCPT TO:<a@b.example> NOTIFY=,SUCCESS",
		ERVAL("Invalid NOTIFY value") },
	{ "notify_double_comma", "RCPT TO:<a@b.example> NOTIFY=SUCCESS,,DELAY",
		ERVAL("Invalid NOTIFY value") },
	{ "notify_typo", "RCPT TO:<a@b.example> NOTIFY=SUCESS", ERVAL("Invalid NOTIFY value") },
	{ "notify_no_value", "RCPT TO:<a@b.example> NOTIFY", ERVAL("Invalid NOTIFY value") },
	{ "notify_dup", "RCPT TO:<a@b.example> NOTIFY=NEVER NOTIFY=NEVER",
		ERVAL("Duplicate parameter") },
	{ "orcpt", "RCPT TO:<a@b.example> ORCPT=rfc822;a@b.example",
		"ok RCPT path=\"a@b.example\" orcpt=\"rfc822;a@b.example\"" },
	{ "orcpt_xtext", "RCPT TO:<a@b.example> ORCPT=rfc822;a+2Bx+40b.example",
		"ok RCPT path=\"a@b.example\" orcpt=\"rfc822;a+x@b.example\"" },
	{ "orcpt_type_case_kept", "RCPT TO:<a@b.example> ORCPT=RFC822;a@b.example",
		"ok RCPT path=\"a@b.example\" orcpt=\"RFC822;a@b.example\"" },
	{ "orcpt_utf8_type", "RCPT TO:<a@b.example> ORCPT=utf-8;\xc3\xa9@b.example",
		"ok RCPT path=\"a@b.example\" orcpt=\"utf-8;\xc3\xa9@b.example\"" },
	{ "orcpt_utf8_bad", "RCPT TO:<a@b.example> ORCPT=utf-8;\xc3@b.example",
		ERVAL("Invalid ORCPT value") },
	{ "orcpt_rfc822_8bit", "RCPT TO:<a@b.example> ORCPT=rfc822;\xc3\xa9@b.example",
		ERVAL("Invalid ORCPT value") },
	{ "orcpt_no_semicolon", "RCPT TO:<a@b.example> ORCPT=rfc822", ERVAL("Invalid ORCPT value") },
	{ "orcpt_empty_type", "RCPT TO:<a@b.example> ORCPT=;a@b.example",
		ERVAL("Invalid ORCPT value") },
	{ "orcpt_empty_addr", "RCPT TO:<a@b.example> ORCPT=rfc822;", ERVAL("Invalid ORCPT value") },
	{ "orcpt_type_special", "RCPT TO:<a@b.example> ORCPT=rfc@822;a", ERVAL("Invalid ORCPT value") },
	{ "orcpt_control", "RCPT TO:<a@b.example> ORCPT=rfc822;a+0Db", ERVAL("Invalid ORCPT value") },
	{ "orcpt_bad_escape", "RCPT TO:<a@b.example> ORCPT=rfc822;a+", ERVAL("Invalid ORCPT value") },
	{ "orcpt_no_value", "RCPT TO:<a@b.example> ORCPT", ERVAL("Invalid ORCPT value") },
	{ "orcpt_dup", "RCPT TO:<a@b.example> ORCPT=rfc822;x ORCPT=rfc822;y",
		ERVAL("Duplicate parameter") },
	{ "notify_and_orcpt", "RCPT TO:<a@b.example> NOTIFY=FAILURE ORCPT=rfc822;a@b.example",
		"ok RCPT path=\"a@b.example\" notify=FAILURE orcpt=\"rfc822;a@b.example\"" },
	{ "mail_param_on_rcpt", "RCPT TO:<a@b.example> SIZE=1",
		"error RCPT 555 5.5.4 Unsupported parameter" },
	{ "unknown_param", "RCPT TO:<a@b.example> XFOO", "error RCPT 555 5.5.4 Unsupported parameter" },
};

static void
test_rcpt(void)
{
	RUN(rcpt_rows);
}

#define EBDAT501 "error BDAT 501 5.5.4 Syntax: BDAT chunk-size [LAST]"

static const struct row bdat_rows[] = {
	{ "chunk", "BDAT 1000", "ok BDAT chunk=1000" },
	{ "zero_last", "BDAT 0 LAST", "ok BDAT chunk=0 last" },
	{ "lower", "bdat 86 last", "ok BDAT chunk=86 last" },
	{ "two_spaces_last", "BDAT 10  LAST", "ok BDAT chunk=10 last" },
	{ "max", "BDAT 1073741824", "ok BDAT chunk=1073741824" },
	{ "leading_zeros", "BDAT 000000000000000000000000000042 LAST", "ok BDAT chunk=42 last" },
	{ "over_max", "BDAT 1073741825", "error BDAT 552 5.3.4 BDAT chunk too large" },
	{ "ull_max", "BDAT 18446744073709551615", "error BDAT 552 5.3.4 BDAT chunk too large" },
	{ "overflow", "BDAT 99999999999999999999999", EBDAT501 },
	{ "no_arg", "BDAT", EBDAT501 },
	{ "alpha", "BDAT x", EBDAT501 },
	{ "negative", "BDAT -1", EBDAT501 },
	{ "plus", "BDAT +5", EBDAT501 },
	{ "fraction", "BDAT 1.5", EBDAT501 },
	{ "hex", "BDAT 0x10", EBDAT501 },
	{ "bad_marker", "BDAT 10 FIRST", EBDAT501 },
	{ "last_then_junk", "BDAT 10 LAST x", EBDAT501 },
	{ "last_only", "BDAT LAST", EBDAT501 },
	{ "tab_separator", "BDAT 10\tLAST", EBDAT501 },
};

static void
test_bdat(void)
{
	RUN(bdat_rows);
}

/* Lines built at run time: lengths right at and just past each limit. */
static void
check_built(const char *name, const char *prefix, char fill, size_t n, const char *suffix,
    const char *want)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	buf_append_str(&b, prefix);
	for (size_t i = 0; i < n; i++)
		buf_append_char(&b, fill);
	buf_append_str(&b, suffix);
	check_line(name, buf_slice(&b), want);
	buf_free(&b);
}

static void
test_limits(void)
{
	char want[2048], label63[64];

	/* Command line: SMTP_CMD_LINE_MAX octets pass to the verb, one more is refused. */
	{
		char arg[SMTP_CMD_LINE_MAX];

		memset(arg, 'a', SMTP_CMD_LINE_MAX - 5);
		arg[SMTP_CMD_LINE_MAX - 5] = '\0';
		snprintf(want, sizeof(want), "ok NOOP arg=\"%s\"", arg);
		check_built("line_at_max", "NOOP ", 'a', SMTP_CMD_LINE_MAX - 5, "", want);
	}
	check_built("line_over_max", "NOOP ", 'a', SMTP_CMD_LINE_MAX - 4, "",
	    E500 "Line too long");
	check_built("line_abs_max", "NOOP ", 'a', SMTP_CMD_LINE_ABS_MAX, "", E500 "Line too long");
	/* Local part: 64 octets pass, 65 do not. */
	{
		char lp[SMTP_LOCAL_PART_MAX + 1];

		memset(lp, 'l', SMTP_LOCAL_PART_MAX);
		lp[SMTP_LOCAL_PART_MAX] = '\0';
		snprintf(want, sizeof(want), "ok MAIL path=\"%s@x.example\"", lp);
		check_built("local_64", "MAIL FROM:<", 'l', SMTP_LOCAL_PART_MAX, "@x.example>", want);
		check_built("local_65", "MAIL FROM:<", 'l', SMTP_LOCAL_PART_MAX + 1, "@x.example>",
		    EMAIL553);
	}
	/* Labels: 63 octets pass, 64 do not. */
	memset(label63, 'd', 63);
	label63[63] = '\0';
	snprintf(want, sizeof(want), "ok RCPT path=\"u@%s.example\"", label63);
	check_built("label_63", "RCPT TO:<u@", 'd', 63, ".example>", want);
	check_built("label_64", "RCPT TO:<u@", 'd', 64, ".example>", ERCPT553);
	/* Path: 256 octets with brackets pass (then the address is checked), 257 are too long. */
	{
		/* "<" + 64 + "@" + 63 "." 63 "." 61 + ">" = 256 */
		char path[400], mbox[300];

		snprintf(mbox, sizeof(mbox), "%.64s@%s.%s.%.61s", "llllllllllllllllllllllllllllllll"
		    "llllllllllllllllllllllllllllllll", label63, label63, label63);
		snprintf(path, sizeof(path), "MAIL FROM:<%s>", mbox);
		CHECK_INT(strlen(mbox) + 2, SMTP_PATH_MAX);
		snprintf(want, sizeof(want), "ok MAIL path=\"%s\"", mbox);
		check_line("path_256", slice_from_str(path), want);
		snprintf(path, sizeof(path), "MAIL FROM:<l%s>", mbox);
		check_line("path_257", slice_from_str(path),
		    "error MAIL 501 5.5.4 Path too long");
		snprintf(path, sizeof(path), "RCPT TO:<l%s>", mbox);
		check_line("rcpt_path_257", slice_from_str(path),
		    "error RCPT 501 5.5.4 Path too long");
	}
	check_built("path_huge_unclosed", "MAIL FROM:<", 'a', 400, "",
	    EMAIL501);
	check_built("path_huge_route", "RCPT TO:<@", 'r', 300, ":u@x.example>",
	    "error RCPT 501 5.5.4 Path too long");
	/* ENVID: 100 decoded octets pass, 101 do not; encoded length does not matter. */
	memset(want, 0, sizeof(want));
	snprintf(want, sizeof(want), "ok MAIL path=\"\" envid=\"%.100s\"",
	    "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
	    "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
	check_built("envid_100", "MAIL FROM:<> ENVID=", 'e', SMTP_ENVID_MAX, "", want);
	check_built("envid_101", "MAIL FROM:<> ENVID=", 'e', SMTP_ENVID_MAX + 1, "",
	    EVAL("Invalid ENVID value"));
	{
		struct buf b;

		buf_init(&b, 4096);
		buf_append_str(&b, "MAIL FROM:<> ENVID=");
		for (int i = 0; i < SMTP_ENVID_MAX; i++)
			buf_append_str(&b, "+41");
		snprintf(want, sizeof(want), "ok MAIL path=\"\" envid=\"%.100s\"",
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
		check_line("envid_100_encoded", buf_slice(&b), want);
		buf_free(&b);
	}
	/* ORCPT: its 500-octet cap (SMTP_ORCPT_MAX) cannot be reached inside a 512-octet line,
	 * so the longest value that fits the line must pass; the cap itself is tested on
	 * address_xtext_decode in test_address.c. */
	{
		const char *prefix = "RCPT TO:<a@b> ORCPT=rfc822;";
		size_t n = SMTP_CMD_LINE_MAX - strlen(prefix);
		char addr[SMTP_CMD_LINE_MAX];

		memset(addr, 'o', n);
		addr[n] = '\0';
		snprintf(want, sizeof(want), "ok RCPT path=\"a@b\" orcpt=\"rfc822;%s\"", addr);
		check_built("orcpt_line_max", prefix, 'o', n, "", want);
		memset(addr, 't', 480);
		addr[480] = '\0';
		snprintf(want, sizeof(want), "ok RCPT path=\"a@b\" orcpt=\"%s;x\"", addr);
		check_built("orcpt_long_type", "RCPT TO:<a@b> ORCPT=", 't', 480, ";x", want);
	}
	/* Long values and many parameters stay within the line and fail cleanly. */
	check_built("long_size", "MAIL FROM:<> SIZE=", '9', 400, "", EVAL("Invalid SIZE value"));
	check_built("long_keyword", "MAIL FROM:<> ", 'K', 400, "=1", E555);
	check_built("long_notify", "RCPT TO:<a@b> NOTIFY=", ',', 400, "",
	    ERVAL("Invalid NOTIFY value"));
	check_built("long_helo", "EHLO ", 'h', SMTP_DOMAIN_MAX + 1, "",
	    "error EHLO 501 5.5.4 Invalid domain name");
	{
		struct buf b;

		buf_init(&b, 4096);
		buf_append_str(&b, "MAIL FROM:<>");
		while (b.len < SMTP_CMD_LINE_MAX - 9)
			buf_append_str(&b, " SMTPUTF8");
		check_line("repeated_param", buf_slice(&b), EVAL("Duplicate parameter"));
		buf_free(&b);
	}
}

static void
test_nul(void)
{
	static const struct {
		const char *name;
		const char *p;
		size_t len;
	} rows[] = {
		{ "nul_only", "\0", 1 },
		{ "nul_in_arg", "NOOP \0x", 7 },
		{ "nul_in_path", "MAIL FROM:<a\0@b.example>", 24 },
		{ "nul_after_verb", "DATA\0", 5 },
		{ "nul_in_verb", "MA\0L FROM:<>", 12 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check_line(rows[i].name, (struct slice){ rows[i].p, rows[i].len },
		    E500 "Syntax error: NUL character in command");
}

static void
test_error_clears_cmd(void)
{
	struct smtp_cmd cmd;
	struct smtp_parse_error err;

	/* A failure after some parameters were stored leaves only the verb. */
	CHECK_INT(smtp_cmd_parse(SLICE_LIT("MAIL FROM:<a@b.example> SIZE=5 ENVID=x FOO=1"), &cmd,
	    &err), -1);
	CHECK_INT(cmd.verb, SMTP_VERB_MAIL);
	CHECK_INT(cmd.has_size, 0);
	CHECK_INT(cmd.size, 0);
	CHECK_INT(cmd.has_envid, 0);
	CHECK_STR(cmd.envid, "");
	CHECK_STR(cmd.path, "");
	CHECK_INT(err.code, 555);
	/* A success after a success starts from zero. */
	CHECK_INT(smtp_cmd_parse(SLICE_LIT("MAIL FROM:<a@b.example> SIZE=5 SMTPUTF8"), &cmd, &err), 0);
	CHECK_INT(smtp_cmd_parse(SLICE_LIT("RCPT TO:<c@d.example>"), &cmd, &err), 0);
	CHECK_INT(cmd.has_size, 0);
	CHECK_INT(cmd.smtputf8, 0);
	CHECK_STR(cmd.path, "c@d.example");
	/* A failed BDAT still names BDAT, so the session knows the chunk is unframed. */
	CHECK_INT(smtp_cmd_parse(SLICE_LIT("BDAT 1x"), &cmd, &err), -1);
	CHECK_INT(cmd.verb, SMTP_VERB_BDAT);
	CHECK_INT(cmd.chunk_size, 0);
	/* An unknown verb says so. */
	CHECK_INT(smtp_cmd_parse(SLICE_LIT("FOO"), &cmd, &err), -1);
	CHECK_INT(cmd.verb, SMTP_VERB_UNKNOWN);
	/* The input is never written to (a read-only literal would fault). */
	CHECK_INT(smtp_cmd_parse(SLICE_LIT("mail from:<A@B.EXAMPLE>"), &cmd, &err), 0);
	CHECK_STR(cmd.path, "A@B.EXAMPLE");
}

static void
test_verb_names(void)
{
	static const struct {
		enum smtp_verb v;
		const char *name;
	} rows[] = {
		{ SMTP_VERB_UNKNOWN, "UNKNOWN" }, { SMTP_VERB_HELO, "HELO" },
		{ SMTP_VERB_EHLO, "EHLO" }, { SMTP_VERB_MAIL, "MAIL" }, { SMTP_VERB_RCPT, "RCPT" },
		{ SMTP_VERB_DATA, "DATA" }, { SMTP_VERB_BDAT, "BDAT" }, { SMTP_VERB_RSET, "RSET" },
		{ SMTP_VERB_NOOP, "NOOP" }, { SMTP_VERB_QUIT, "QUIT" }, { SMTP_VERB_VRFY, "VRFY" },
		{ SMTP_VERB_EXPN, "EXPN" }, { SMTP_VERB_HELP, "HELP" },
		{ SMTP_VERB_STARTTLS, "STARTTLS" }, { SMTP_VERB_AUTH, "AUTH" },
		{ (enum smtp_verb)99, "UNKNOWN" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECK_STR(smtp_verb_name(rows[i].v), rows[i].name);
}

static const struct unit_case cases[] = {
	{ "basic", test_basic },
	{ "helo", test_helo },
	{ "mail_path", test_mail_path },
	{ "mail_utf8", test_mail_utf8 },
	{ "mail_params", test_mail_params },
	{ "rcpt", test_rcpt },
	{ "bdat", test_bdat },
	{ "limits", test_limits },
	{ "nul", test_nul },
	{ "error_clears_cmd", test_error_clears_cmd },
	{ "verb_names", test_verb_names },
};

UNIT_MAIN(cases)
