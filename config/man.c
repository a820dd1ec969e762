/* man.c: writes the mailguard.conf(5) manual page from the settings table, so the documentation
 * of every setting (type, default, range, reloadability, status) cannot drift from the code.
 * doc/mailguard.conf.5 is this output; tests/unit/config/test_man.c fails when it is stale and
 * tests/tools/gen-conf-man regenerates it. Runs only in tools; the input is our own table. */
#include "config/settings.h"

#include <string.h>

#include "common/limits.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* Writes text with roff escapes: backslash, and a leading '.' or '\''. */
static void
roff(FILE *out, const char *text)
{
	if (text[0] == '.' || text[0] == '\'')
		fputs("\\&", out);
	for (const char *p = text; *p; p++) {
		if (*p == '\\')
			fputs("\\e", out);
		else if (*p == '-')
			fputs("\\-", out);
		else
			fputc(*p, out);
	}
}

static void
lines(FILE *out, const char *const *text)
{
	for (size_t i = 0; text[i] != NULL; i++) {
		fputs(text[i], out);
		fputc('\n', out);
	}
}

static void
print_setting(FILE *out, const struct setting *s)
{
	struct buf b;

	buf_init(&b, 4096);
	fprintf(out, ".TP\n.B %s\n", s->name);
	roff(out, s->doc);
	fputs("\n.br\n", out);
	config_value_expected(s, &b);
	fputs("Value: ", out);
	roff(out, b.data ? b.data : "");
	fputs(".\n.br\n", out);
	if (s->flags & SET_REQUIRED) {
		fputs("Required.", out);
	} else {
		buf_reset(&b);
		if (s->type == T_HOSTNAME && s->def[0] == '\0')
			buf_append_str(&b, "the system host name");
		else if (s->def[0] == '\0')
			buf_append_str(&b, "empty");
		else
			buf_append_str(&b, s->def);
		fputs("Default: ", out);
		roff(out, b.data);
		fputc('.', out);
	}
	if (s->flags & SET_REPEAT)
		fputs(" May be repeated.", out);
	fputs(s->reloadable ? " Reloadable." : " Needs a restart.", out);
	if (config_setting_in_effect(s))
		fputs(" In effect.\n", out);
	else
		fprintf(out, " Accepted and checked; takes effect with issue %s.\n", s->issue);
	buf_free(&b);
}

static const char *const head[] = {
	".\\\" Generated from config/settings.c by tests/tools/gen-conf-man; do not edit.",
	".TH MAILGUARD.CONF 5 \"\" \"MailGuard\" \"File Formats\"",
	".SH NAME",
	"mailguard.conf \\- MailGuard configuration files",
	".SH SYNOPSIS",
	".I DIR/mailguard.conf",
	".br",
	".I DIR/domains.d/DOMAIN.conf",
	".br",
	".I DIR/lists/global.allow DIR/lists/global.block",
	".br",
	".I DIR/lists/DOMAIN.allow DIR/lists/DOMAIN.block",
	".SH DESCRIPTION",
	"MailGuard reads its configuration from the directory given with",
	".B \\-c DIR",
	"(see",
	".BR mailguard (8)).",
	".I mailguard.conf",
	"holds the global settings.",
	"Each protected domain has one file",
	".IR domains.d/ DOMAIN .conf,",
	"named after the domain in lower case; files in",
	".I domains.d",
	"whose names do not end in",
	".I .conf",
	"or start with a dot are ignored.",
	"Allow and block lists live in",
	".IR lists/ .",
	".PP",
	".B mailguard \\-n",
	"checks every file and reports every problem;",
	".B mailguard \\-P",
	"prints the effective value of every setting, with a trailing comment marking",
	"defaults and settings that are accepted but not in effect yet.",
	"SIGHUP or",
	".B mailguardctl reload",
	"applies changed files without dropping sessions; a changed setting marked",
	"\"Needs a restart\" is reported in the log and keeps its old effect until the next",
	"restart.",
	".SH SYNTAX",
	"A file is a sequence of lines of the form",
	".IP",
	".I name",
	"=",
	".I value",
	".PP",
	"Spaces and tabs around the name and the value are ignored, and so are blank lines and",
	"lines whose first non-blank character is",
	".BR # .",
	"A comment may also follow a value, separated from it by a space or tab",
	"(\"max_recipients = 200  # for the list server\"), except for",
	".B smtpd_banner",
	"and",
	".BR header_rewrite ,",
	"whose values may contain",
	".BR # :",
	"there the whole rest of the line is the value.",
	"Values are printable ASCII.",
	"Lists are separated by spaces or commas.",
	"Names are lower case; an unknown name is an error, and so is a name given twice, except",
	"settings marked \"May be repeated\", where each line adds one item.",
	"A line may be at most " STR(CONFIG_LINE_MAX) " bytes long and a settings file at most 1 MiB",
	"(list files: 64 MiB).",
	".PP",
	".I mailguard.conf",
	"must contain",
	".BR \"config_version = 1\" .",
	"A per-domain file may contain it too.",
	".SH VALUE TYPES",
	".TP",
	".B size",
	"bytes, or a number with suffix k, m or g (binary multiples): 50m is 52428800 bytes.",
	".TP",
	".B duration",
	"seconds, or a number with suffix s, m, h, d or w: 5m, 5d.",
	".TP",
	".B network",
	"an IPv4 or IPv6 address, optionally with a prefix length: 192.0.2.0/24, 2001:db8::/32,",
	"::1.",
	"Bits beyond the prefix length must be zero.",
	"IPv4-mapped IPv6 clients (::ffff:192.0.2.1) match IPv4 networks.",
	".TP",
	".B address",
	"user@domain, with an unquoted local part.",
	".TP",
	".B yes/no",
	"yes or no.",
	".SH GLOBAL SETTINGS (mailguard.conf)",
	NULL
};

static const char *const mid[] = {
	".SH PER-DOMAIN SETTINGS (domains.d/DOMAIN.conf)",
	"Every per-domain setting may appear in a domain's file; only",
	".B transport",
	"is required.",
	NULL
};

static const char *const tail[] = {
	".SH LISTS",
	"Each of",
	".IR lists/global.allow ,",
	".IR lists/global.block ,",
	".IR lists/ DOMAIN .allow",
	"and",
	".IR lists/ DOMAIN .block",
	"is optional (a missing file is an empty list); a list file for a domain without a",
	".IR domains.d/ DOMAIN .conf",
	"is an error.",
	"One entry per line, with comments as in settings files:",
	".TP",
	".B user@example.org",
	"that sender address (compared without regard to case);",
	".TP",
	".B @example.org",
	"any sender address in that domain;",
	".TP",
	".B *.example.org",
	"any sender address in that domain or its subdomains;",
	".TP",
	".B 192.0.2.0/24",
	"clients in that network (or at that address when there is no prefix length).",
	".PP",
	"A hit in an allow list delivers the message without spam checks, a hit in a block list",
	"rejects it; a domain's lists take precedence over the global ones.",
	"The filter applies them to inbound mail: per-domain lists before global ones, allow before block.",
	".SH DIAGNOSTICS",
	"Every problem found is reported, one per line, as",
	".IP",
	".I file:line: expected X, found Y",
	".PP",
	"or",
	".IR \"file:line: unknown setting 'name'\" .",
	"Line 0 means the file as a whole (a missing required setting, a bad file name, a file",
	"that cannot be read).",
	"Key files named by",
	".B tls_key",
	"must not be accessible by group or others (chmod 600).",
	".SH EXAMPLE",
	".nf",
	"# mailguard.conf",
	"config_version = 1",
	"hostname = mx1.example.net",
	"listen = 0.0.0.0:25 [::]:25",
	"mynetworks = 127.0.0.0/8 ::1/128 192.0.2.0/24",
	"",
	"# domains.d/example.org.conf",
	"transport = [10.1.2.3]:25",
	"spam_reject = 12",
	"header_rewrite = remove X\\-Originating\\-IP",
	"header_rewrite = sender @internal.example.org @example.org",
	"",
	"# lists/example.org.block",
	"@spam.example.com",
	"198.51.100.0/24",
	".fi",
	".SH SEE ALSO",
	".BR mailguard (8),",
	".BR mailguardctl (8)",
	NULL
};

void
config_print_man(FILE *out)
{
	lines(out, head);
	for (size_t i = 0; i < config_n_settings; i++)
		if (config_settings[i].scope == SCOPE_GLOBAL)
			print_setting(out, &config_settings[i]);
	lines(out, mid);
	for (size_t i = 0; i < config_n_settings; i++)
		if (config_settings[i].scope == SCOPE_DOMAIN)
			print_setting(out, &config_settings[i]);
	lines(out, tail);
}
