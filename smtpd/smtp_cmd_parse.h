#ifndef SMTPD_SMTP_CMD_PARSE_H
#define SMTPD_SMTP_CMD_PARSE_H
/* I/O-free SMTP command parser (RFC 5321 plus the ESMTP parameters we advertise: SIZE (RFC 1870),
 * BODY=8BITMIME/BINARYMIME (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531), DSN NOTIFY/ORCPT/RET/ENVID
 * (RFC 3461), AUTH= (RFC 4954, accepted and ignored), BDAT (RFC 3030)).
 * Input: one command line WITHOUT its CRLF (the session has already split lines and checked the
 * line length). Output: a struct smtp_cmd that borrows nothing from the input (fixed buffers).
 * Fully untrusted input; fuzzed by tests/fuzz/fuzz_smtp_cmd.c. Thread-safe, no allocation. */
#include <stddef.h>
#include <stdint.h>
#include "common/address.h"
#include "common/limits.h"
#include "lib/buf.h"

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO, SMTP_VERB_EHLO, SMTP_VERB_MAIL, SMTP_VERB_RCPT, SMTP_VERB_DATA,
	SMTP_VERB_BDAT, SMTP_VERB_RSET, SMTP_VERB_NOOP, SMTP_VERB_QUIT, SMTP_VERB_VRFY,
	SMTP_VERB_EXPN, SMTP_VERB_HELP, SMTP_VERB_STARTTLS, SMTP_VERB_AUTH, SMTP_VERB_XCLIENT,
};

/* Parse error: the reply the session should send. Strings are static. */
struct smtp_parse_error {
	int code;		/* e.g. 500, 501, 553, 555 */
	const char *enh;	/* e.g. "5.5.2" */
	const char *text;	/* human text without code, e.g. "Syntax error in parameters" */
};

struct smtp_cmd {
	enum smtp_verb verb;
	/* HELO/EHLO: the domain or address literal as given. VRFY/EXPN/HELP/NOOP/AUTH: the raw
	 * argument (trimmed), possibly empty. */
	char arg[SMTP_CMD_LINE_MAX + 1];
	/* MAIL/RCPT: the path without <> and without a source route; "" for MAIL FROM:<>.
	 * RCPT TO:<Postmaster> (no domain, any case) gives "postmaster" with is_postmaster set. */
	char path[SMTP_PATH_MAX + 1];
	int is_postmaster;
	int path_is_utf8;	/* path contains non-ASCII (needs SMTPUTF8) */
	/* MAIL parameters */
	int has_size;
	unsigned long long size;
	int body;		/* 0 none/7BIT, 1 8BITMIME, 2 BINARYMIME (enum envelope_body values) */
	int smtputf8;
	int ret;		/* 0 none, 1 FULL, 2 HDRS (enum envelope_ret values) */
	char envid[SMTP_ENVID_MAX + 1];	/* xtext-decoded; "" if none */
	int has_envid;
	/* RCPT parameters */
	unsigned notify;	/* ENV_NOTIFY_* mask; 0 = not given */
	char orcpt[SMTP_ORCPT_MAX + 1];	/* "addr-type;xtext-decoded-address", "" if none */
	/* BDAT */
	unsigned long long chunk_size;
	int last;
	/* HELO/EHLO: how strictly arg follows RFC 5321 §4.1.1.1 (a filter symbol, never a reject). */
	enum address_helo_kind helo_kind;
};

/* Parses one line. Returns 0 with *cmd_r filled, or -1 with *err_r filled.
 * Verbs are case-insensitive. MAIL/RCPT accept "FROM:<path>" with optional space after the colon
 * (common practice; RFC 5321 has none), reject missing brackets, duplicate parameters, unknown
 * parameters (555 5.5.4), malformed values (501 5.5.4) and bad address syntax (553 5.1.3 for
 * MAIL, 553 5.1.3 for RCPT). Commands that take no argument reject one (501 5.5.4).
 * Further replies: empty line, unknown verb, NUL or control characters (HTAB excepted) and lines
 * over SMTP_CMD_LINE_MAX octets give 500 5.5.2; a path over SMTP_PATH_MAX octets (brackets and
 * source route included) 501 5.5.4 "Path too long" (RFC 5321 §4.5.3.1); a non-ASCII MAIL path
 * without the SMTPUTF8 parameter 553 5.6.7 (RFC 6531 §3.5; for RCPT path_is_utf8 is set and the
 * session decides); a BDAT chunk size over SMTP_BDAT_CHUNK_MAX 552 5.3.4; a BDAT size that is
 * not digits or overflows 501 5.5.4. Leading and trailing spaces/tabs of the line are ignored.
 * On error, cmd_r is zeroed except cmd_r->verb (SMTP_VERB_UNKNOWN when the verb was not
 * recognised), so the session can tell e.g. a failed BDAT from a failed RCPT. */
int smtp_cmd_parse(struct slice line, struct smtp_cmd *cmd_r, struct smtp_parse_error *err_r);

/* Verb name for logs, e.g. "MAIL". */
const char *smtp_verb_name(enum smtp_verb v);

#endif
