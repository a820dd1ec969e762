/* smtp-cmd-dump: test driver for smtpd/smtp_cmd_parse.c (golden tests in tests/golden/smtp_cmd/).
 * Reads command lines from stdin (a trailing "\r\n" or "\n" is stripped; the bytes are otherwise
 * passed as they are, NUL included), and for each prints the line as "> ..." (sanitised) then
 * either "ok VERB field=value ..." with every field that is not at its default, or
 * "error VERB CODE ENH text". Output is deterministic. Trusts nothing; lines over 64 KiB are cut. */
#include <stdio.h>
#include <string.h>

#include "common/envelope.h"
#include "lib/buf.h"
#include "lib/sanitize.h"
#include "smtpd/smtp_cmd_parse.h"

#define DUMP_LINE_MAX 65536

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

static void
print_str(const char *key, const char *s)
{
	char clean[SANITIZE_MAX + 4];

	printf(" %s=\"%s\"", key, sanitize(clean, s, strlen(s)));
}

static void
print_notify(unsigned n)
{
	const char *sep = "";

	printf(" notify=");
	if (n & ENV_NOTIFY_NEVER) {
		printf("%sNEVER", sep);
		sep = ",";
	}
	if (n & ENV_NOTIFY_SUCCESS) {
		printf("%sSUCCESS", sep);
		sep = ",";
	}
	if (n & ENV_NOTIFY_FAILURE) {
		printf("%sFAILURE", sep);
		sep = ",";
	}
	if (n & ENV_NOTIFY_DELAY)
		printf("%sDELAY", sep);
}

static void
print_cmd(const struct smtp_cmd *c)
{
	static const char *const body[] = { "7BIT", "8BITMIME", "BINARYMIME" };
	static const char *const ret[] = { "", "FULL", "HDRS" };

	printf("ok %s", smtp_verb_name(c->verb));
	if (c->arg[0] != '\0' || c->verb == SMTP_VERB_HELO || c->verb == SMTP_VERB_EHLO)
		print_str("arg", c->arg);
	if (c->verb == SMTP_VERB_HELO || c->verb == SMTP_VERB_EHLO)
		printf(" helo=%s", helo_kind_name(c->helo_kind));
	if (c->path[0] != '\0' || c->verb == SMTP_VERB_MAIL || c->verb == SMTP_VERB_RCPT)
		print_str("path", c->path);
	if (c->is_postmaster)
		printf(" postmaster");
	if (c->path_is_utf8)
		printf(" utf8");
	if (c->has_size)
		printf(" size=%llu", c->size);
	if (c->body > 0 && c->body <= 2)
		printf(" body=%s", body[c->body]);
	if (c->smtputf8)
		printf(" smtputf8");
	if (c->ret > 0 && c->ret <= 2)
		printf(" ret=%s", ret[c->ret]);
	if (c->has_envid)
		print_str("envid", c->envid);
	if (c->notify)
		print_notify(c->notify);
	if (c->orcpt[0] != '\0')
		print_str("orcpt", c->orcpt);
	if (c->verb == SMTP_VERB_BDAT)
		printf(" chunk=%llu", c->chunk_size);
	if (c->last)
		printf(" last");
	printf("\n");
}

static void
dump_line(struct slice line)
{
	char clean[SANITIZE_MAX + 4];
	struct smtp_cmd cmd;
	struct smtp_parse_error err;

	printf("> %s\n", sanitize(clean, line.p, line.len));
	if (smtp_cmd_parse(line, &cmd, &err) < 0)
		printf("error %s %d %s %s\n", smtp_verb_name(cmd.verb), err.code, err.enh, err.text);
	else
		print_cmd(&cmd);
}

int
main(void)
{
	struct buf line;
	int c, eof = 0;

	buf_init(&line, DUMP_LINE_MAX);
	while (!eof) {
		buf_reset(&line);
		while ((c = getchar()) != EOF && c != '\n')
			(void)buf_append_char(&line, (char)c);
		if (c == EOF) {
			eof = 1;
			if (line.len == 0)
				break;
		}
		if (line.len > 0 && line.data[line.len - 1] == '\r')
			line.len--;
		dump_line((struct slice){ line.data ? line.data : "", line.len });
	}
	buf_free(&line);
	return 0;
}
