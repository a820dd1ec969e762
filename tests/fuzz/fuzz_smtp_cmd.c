/* fuzz_smtp_cmd: libFuzzer target for smtpd/smtp_cmd_parse.c and common/address.c.
 * The input is split on '\n' and every line goes through smtp_cmd_parse; every line also goes
 * through each address_* function, with flags taken from its first byte. Besides the sanitizers,
 * it aborts when a documented invariant breaks: results NUL-terminated inside their buffers,
 * error replies complete, an accepted MAIL/RCPT path valid again as a mailbox, spans inside
 * their input. Seeds: tests/fuzz/corpus/fuzz_smtp_cmd/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/address.h"
#include "common/envelope.h"
#include "lib/buf.h"
#include "smtpd/smtp_cmd_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUST(cond) do { if (!(cond)) abort(); } while (0)

static void
check_str(const char *s, size_t size)
{
	MUST(memchr(s, '\0', size) != NULL);
}

static void
fuzz_cmd(struct slice line)
{
	struct smtp_cmd cmd;
	struct smtp_parse_error err;
	int rc = smtp_cmd_parse(line, &cmd, &err);

	MUST(rc == 0 || rc == -1);
	MUST(smtp_verb_name(cmd.verb) != NULL);
	if (rc < 0) {
		MUST(err.code == 500 || err.code == 501 || err.code == 552 || err.code == 553 ||
		    err.code == 555);
		MUST(err.enh != NULL && err.text != NULL && err.enh[0] == '5');
		MUST(cmd.path[0] == '\0' && cmd.arg[0] == '\0' && !cmd.has_size);
		return;
	}
	MUST(cmd.verb != SMTP_VERB_UNKNOWN);
	check_str(cmd.arg, sizeof(cmd.arg));
	check_str(cmd.path, sizeof(cmd.path));
	check_str(cmd.envid, sizeof(cmd.envid));
	check_str(cmd.orcpt, sizeof(cmd.orcpt));
	MUST(cmd.body >= 0 && cmd.body <= 2 && cmd.ret >= 0 && cmd.ret <= 2);
	MUST(cmd.chunk_size <= (unsigned long long)SMTP_BDAT_CHUNK_MAX);
	if ((cmd.verb == SMTP_VERB_MAIL || cmd.verb == SMTP_VERB_RCPT) && cmd.path[0] != '\0' &&
	    !cmd.is_postmaster) {
		const char *e;

		MUST(address_mailbox_check(slice_from_str(cmd.path), ADDRESS_ALLOW_UTF8, &e) == 0);
		MUST(cmd.path_is_utf8 == !address_is_ascii(slice_from_str(cmd.path)));
	}
	if (cmd.verb == SMTP_VERB_MAIL && cmd.path_is_utf8)
		MUST(cmd.smtputf8);
	if (cmd.notify & ENV_NOTIFY_NEVER)
		MUST(cmd.notify == ENV_NOTIFY_NEVER);
}

static void
fuzz_address(struct slice s, unsigned flags)
{
	char out[SMTP_ORCPT_MAX + 1];
	struct slice m, l, d;
	enum address_helo_kind kind;
	size_t len;
	const char *e;

	(void)address_domain_check(s, flags, &e);
	(void)address_literal_check(s, &e);
	(void)address_local_part_check(s, flags, &e);
	(void)address_mailbox_check(s, flags, &e);
	(void)address_is_ascii(s);
	(void)address_is_utf8(s);
	if (address_split(s, &l, &d) == 0)
		MUST(l.p == s.p && l.len + 1 + d.len == s.len && s.p[l.len] == '@');
	if (address_path_span(s, &len) == 0) {
		MUST(len >= 2 && len <= s.len && s.p[len - 1] == '>');
		if (address_path_parse((struct slice){ s.p, len }, flags, &m, &e) == 0)
			MUST(m.p >= s.p && m.p + m.len <= s.p + len);
	}
	if (address_path_parse(s, flags, &m, &e) == 0)
		MUST(m.p >= s.p && m.p + m.len <= s.p + s.len);
	if (address_helo_check(s, &kind, &e) == 0)
		MUST(kind <= ADDRESS_HELO_LENIENT && s.len > 0);
	if (address_xtext_decode(s, flags, out, sizeof(out), &len, &e) == 0)
		MUST(len < sizeof(out) && out[len] == '\0' && len <= s.len);
	if (address_xtext_decode(s, flags, out, 8, &len, &e) == 0)
		MUST(len < 8);
	if (address_domain_lower(s, out, sizeof(out), &e) == 0)
		check_str(out, sizeof(out));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	size_t start = 0;

	for (size_t i = 0; i <= size; i++) {
		struct slice line;
		unsigned flags;

		if (i < size && p[i] != '\n')
			continue;
		line = (struct slice){ p + start, i - start };
		if (line.len > 0 && line.p[line.len - 1] == '\r')
			line.len--;
		fuzz_cmd(line);
		flags = line.len > 0 ? (unsigned char)line.p[0] & 7 : 0;
		fuzz_address(line, flags);
		start = i + 1;
	}
	return 0;
}
