/* smtp_cmd_parse.c: the pure SMTP command-line parser of the smtpd role (no I/O, no allocation,
 * no state; thread-safe). Turns one line, CRLF already removed, into a struct smtp_cmd or into
 * the reply the session should send. Trusts nothing in the line: it enforces SMTP_CMD_LINE_MAX,
 * SMTP_PATH_MAX, SMTP_ENVID_MAX, SMTP_ORCPT_MAX and SMTP_BDAT_CHUNK_MAX, refuses NUL and control
 * characters, and leaves address syntax to common/address.c.
 * Verbs dispatch through one table (one handler per command family, STYLE.md §4); MAIL and RCPT
 * parameters through one table each. Fuzzed by tests/fuzz/fuzz_smtp_cmd.c. */
#include "smtpd/smtp_cmd_parse.h"

#include <limits.h>
#include <string.h>

#include "common/envelope.h"
#include "lib/strnum.h"

struct verb_def {
	enum smtp_verb verb;
	const char *name;
	const char *usage;	/* 501 text for a malformed argument, NULL if any argument goes */
	int (*parse)(const struct verb_def *def, struct slice arg, struct smtp_cmd *cmd,
	    struct smtp_parse_error *err);
};

struct param_def {
	const char *name;
	/* value is empty and has_value 0 for a bare keyword ("SMTPUTF8") */
	int (*parse)(struct slice value, int has_value, struct smtp_cmd *cmd,
	    struct smtp_parse_error *err);
};

static int
fail(struct smtp_parse_error *err, int code, const char *enh, const char *text)
{
	err->code = code;
	err->enh = enh;
	err->text = text;
	return -1;
}

/* Copies s into a fixed buffer. The line is capped at SMTP_CMD_LINE_MAX, so every field fits;
 * a miss would be our bug, but answering "too long" is safer than aborting on peer input. */
static int
copy_slice(char *dst, size_t dstsize, struct slice s, struct smtp_parse_error *err)
{
	if (s.len >= dstsize)
		return fail(err, 500, "5.5.2", "Line too long");
	if (s.len > 0)
		memcpy(dst, s.p, s.len);
	dst[s.len] = '\0';
	return 0;
}

static int
fail_value(struct smtp_parse_error *err, const char *text)
{
	return fail(err, 501, "5.5.4", text);
}

/* ---- MAIL parameters (RFC 1870, 6152, 3030, 6531, 3461, 4954) ---- */

static int
param_size(struct slice value, int has_value, struct smtp_cmd *cmd, struct smtp_parse_error *err)
{
	const char *e;

	/* RFC 1870: size-value = 1*20DIGIT; strnum refuses non-digits and overflow. */
	if (!has_value || value.len > 20 ||
	    strnum_slice_ull(value, ULLONG_MAX, &cmd->size, &e) < 0)
		return fail_value(err, "Invalid SIZE value");
	cmd->has_size = 1;
	return 0;
}

static int
param_body(struct slice value, int has_value, struct smtp_cmd *cmd, struct smtp_parse_error *err)
{
	(void)has_value;
	if (slice_eq_ci(value, "7BIT"))
		cmd->body = ENV_BODY_7BIT;
	else if (slice_eq_ci(value, "8BITMIME"))
		cmd->body = ENV_BODY_8BITMIME;
	else if (slice_eq_ci(value, "BINARYMIME"))
		cmd->body = ENV_BODY_BINARYMIME;
	else
		return fail_value(err, "Invalid BODY value");
	return 0;
}

static int
param_smtputf8(struct slice value, int has_value, struct smtp_cmd *cmd,
    struct smtp_parse_error *err)
{
	(void)value;
	if (has_value)
		return fail_value(err, "SMTPUTF8 takes no value");
	cmd->smtputf8 = 1;
	return 0;
}

static int
param_ret(struct slice value, int has_value, struct smtp_cmd *cmd, struct smtp_parse_error *err)
{
	(void)has_value;
	if (slice_eq_ci(value, "FULL"))
		cmd->ret = ENV_RET_FULL;
	else if (slice_eq_ci(value, "HDRS"))
		cmd->ret = ENV_RET_HDRS;
	else
		return fail_value(err, "Invalid RET value");
	return 0;
}

static int
param_envid(struct slice value, int has_value, struct smtp_cmd *cmd, struct smtp_parse_error *err)
{
	const char *e;

	/* RFC 3461 §4.4: printable US-ASCII, at most 100 characters. */
	if (!has_value || address_xtext_decode(value, 0, cmd->envid, sizeof(cmd->envid), NULL,
	    &e) < 0)
		return fail_value(err, "Invalid ENVID value");
	cmd->has_envid = 1;
	return 0;
}

static int
param_auth(struct slice value, int has_value, struct smtp_cmd *cmd, struct smtp_parse_error *err)
{
	char tmp[SMTP_CMD_LINE_MAX + 1];
	const char *e;

	/* RFC 4954 §5: AUTH=<> or an xtext mailbox. Checked for syntax, then ignored: we do not
	 * relay the authenticated identity of another server. */
	(void)cmd;
	if (!has_value || address_xtext_decode(value, ADDRESS_ALLOW_UTF8, tmp, sizeof(tmp), NULL,
	    &e) < 0)
		return fail_value(err, "Invalid AUTH value");
	return 0;
}

/* ---- RCPT parameters (RFC 3461) ---- */

static int
param_notify(struct slice value, int has_value, struct smtp_cmd *cmd,
    struct smtp_parse_error *err)
{
	static const struct {
		const char *name;
		unsigned bit;
	} words[] = {
		{ "NEVER", ENV_NOTIFY_NEVER }, { "SUCCESS", ENV_NOTIFY_SUCCESS },
		{ "FAILURE", ENV_NOTIFY_FAILURE }, { "DELAY", ENV_NOTIFY_DELAY },
	};
	size_t i = 0;

	if (!has_value)
		return fail_value(err, "Invalid NOTIFY value");
	/* notify-list-element *( "," notify-list-element ); a repeated word is harmless. */
	while (i <= value.len) {
		size_t start = i, w;
		struct slice word;

		while (i < value.len && value.p[i] != ',')
			i++;
		word = (struct slice){ value.p + start, i - start };
		for (w = 0; w < sizeof(words) / sizeof(words[0]); w++)
			if (slice_eq_ci(word, words[w].name))
				break;
		if (w == sizeof(words) / sizeof(words[0]))
			return fail_value(err, "Invalid NOTIFY value");
		cmd->notify |= words[w].bit;
		i++;
	}
	/* RFC 3461 §4.1: NEVER must appear alone. */
	if ((cmd->notify & ENV_NOTIFY_NEVER) && cmd->notify != ENV_NOTIFY_NEVER)
		return fail_value(err, "NOTIFY=NEVER cannot be combined");
	return 0;
}

/* RFC 3461 §4.2 addr-type = atom (RFC 822: printable ASCII except specials and space). */
static int
is_atom(struct slice s)
{
	if (s.len == 0)
		return 0;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c <= ' ' || c >= 0x7f || strchr("()<>@,;:\\\".[]", c) != NULL)
			return 0;
	}
	return 1;
}

static int
param_orcpt(struct slice value, int has_value, struct smtp_cmd *cmd, struct smtp_parse_error *err)
{
	const char *semi = has_value ? memchr(value.p, ';', value.len) : NULL;
	struct slice type, addr;
	size_t addr_len;
	unsigned flags = 0;
	const char *e;

	if (semi == NULL)
		return fail_value(err, "Invalid ORCPT value");
	type = (struct slice){ value.p, (size_t)(semi - value.p) };
	addr = (struct slice){ semi + 1, value.len - type.len - 1 };
	if (!is_atom(type) || addr.len == 0 || type.len + 1 >= sizeof(cmd->orcpt))
		return fail_value(err, "Invalid ORCPT value");
	/* RFC 6533 §3: the utf-8 type may carry raw UTF-8 (utf-8-addr-unitext). Its \x{HEX}
	 * escapes are kept as written: decoding them is the DSN writer's business. */
	if (slice_eq_ci(type, "utf-8"))
		flags = ADDRESS_ALLOW_UTF8;
	memcpy(cmd->orcpt, type.p, type.len);
	cmd->orcpt[type.len] = ';';
	if (address_xtext_decode(addr, flags, cmd->orcpt + type.len + 1,
	    sizeof(cmd->orcpt) - type.len - 1, &addr_len, &e) < 0 || addr_len == 0) {
		cmd->orcpt[0] = '\0';
		return fail_value(err, "Invalid ORCPT value");
	}
	return 0;
}

static const struct param_def mail_params[] = {
	{ "SIZE", param_size },
	{ "BODY", param_body },
	{ "SMTPUTF8", param_smtputf8 },
	{ "RET", param_ret },
	{ "ENVID", param_envid },
	{ "AUTH", param_auth },
};

static const struct param_def rcpt_params[] = {
	{ "NOTIFY", param_notify },
	{ "ORCPT", param_orcpt },
};

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static int
is_esmtp_keyword(struct slice s)
{
	if (s.len == 0 || s.p[0] == '-')
		return 0;
	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-'))
			return 0;
	}
	return 1;
}

/* esmtp-value = 1*(%d33-60 / %d62-126), plus UTF8-non-ascii (RFC 6531 §3.3); the parameter's
 * own parser decides whether 8-bit is acceptable. */
static int
is_esmtp_value(struct slice s)
{
	if (s.len == 0)
		return 0;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c < 33 || c == '=' || c == 127)
			return 0;
	}
	return 1;
}

/* Parses " KEY[=VALUE]" words (one or more spaces apart) against a table. */
static int
parse_params(struct slice s, const struct param_def *defs, size_t n_defs, struct smtp_cmd *cmd,
    struct smtp_parse_error *err)
{
	unsigned seen = 0;
	size_t i = 0;

	while (i < s.len) {
		struct slice word, key, value = { s.p, 0 };
		const char *eq;
		size_t start, d;

		if (s.p[i] == ' ') {
			i++;
			continue;
		}
		start = i;
		while (i < s.len && s.p[i] != ' ')
			i++;
		word = (struct slice){ s.p + start, i - start };
		eq = memchr(word.p, '=', word.len);
		key = (struct slice){ word.p, eq ? (size_t)(eq - word.p) : word.len };
		if (eq != NULL)
			value = (struct slice){ eq + 1, word.len - key.len - 1 };
		if (!is_esmtp_keyword(key) || (eq != NULL && !is_esmtp_value(value)))
			return fail(err, 501, "5.5.4", "Malformed parameter");
		for (d = 0; d < n_defs; d++)
			if (slice_eq_ci(key, defs[d].name))
				break;
		if (d == n_defs)
			return fail(err, 555, "5.5.4", "Unsupported parameter");
		if (seen & (1u << d))
			return fail(err, 501, "5.5.4", "Duplicate parameter");
		seen |= 1u << d;
		if (defs[d].parse(value, eq != NULL, cmd, err) < 0)
			return -1;
	}
	return 0;
}

/* "FROM:<path> params" or "TO:<path> params": splits into the bracketed path and the rest. */
static int
split_path_arg(struct slice arg, const char *prefix, const char *usage, struct slice *path_r,
    struct slice *params_r, struct smtp_parse_error *err)
{
	size_t plen = strlen(prefix), span;

	if (!slice_has_prefix_ci(arg, prefix))
		return fail(err, 501, "5.5.4", usage);
	arg.p += plen;
	arg.len -= plen;
	/* RFC 5321 has no space here, but "MAIL FROM: <a@b>" is common practice; allow one. */
	if (arg.len > 0 && arg.p[0] == ' ') {
		arg.p++;
		arg.len--;
	}
	if (address_path_span(arg, &span) < 0)
		return fail(err, 501, "5.5.4", usage);
	/* RFC 5321 §4.5.3.1.3 and §4.5.3.1: "501 Path too long". */
	if (span > SMTP_PATH_MAX)
		return fail(err, 501, "5.5.4", "Path too long");
	*path_r = (struct slice){ arg.p, span };
	*params_r = (struct slice){ arg.p + span, arg.len - span };
	if (params_r->len > 0 && params_r->p[0] != ' ')
		return fail(err, 501, "5.5.4", usage);
	return 0;
}

static int
parse_mail(const struct verb_def *def, struct slice arg, struct smtp_cmd *cmd,
    struct smtp_parse_error *err)
{
	struct slice path, params, mailbox;
	unsigned flags = ADDRESS_ALLOW_NULL;
	const char *e;

	if (split_path_arg(arg, "FROM:", def->usage, &path, &params, err) < 0 ||
	    parse_params(params, mail_params, sizeof(mail_params) / sizeof(mail_params[0]), cmd,
	    err) < 0)
		return -1;
	if (!address_is_ascii(path)) {
		/* RFC 6531 §3.5: 553 with X.6.7 for a non-ASCII address without SMTPUTF8. */
		if (!cmd->smtputf8)
			return fail(err, 553, "5.6.7", "Non-ASCII sender address requires SMTPUTF8");
		flags |= ADDRESS_ALLOW_UTF8;
	}
	if (address_path_parse(path, flags, &mailbox, &e) < 0)
		return fail(err, 553, "5.1.3", "Bad sender address syntax");
	cmd->path_is_utf8 = !address_is_ascii(mailbox);
	return copy_slice(cmd->path, sizeof(cmd->path), mailbox, err);
}

static int
parse_rcpt(const struct verb_def *def, struct slice arg, struct smtp_cmd *cmd,
    struct smtp_parse_error *err)
{
	struct slice path, params, mailbox;
	const char *e;

	if (split_path_arg(arg, "TO:", def->usage, &path, &params, err) < 0 ||
	    parse_params(params, rcpt_params, sizeof(rcpt_params) / sizeof(rcpt_params[0]), cmd,
	    err) < 0)
		return -1;
	/* UTF-8 is accepted here; the session knows whether MAIL carried SMTPUTF8. */
	if (address_path_parse(path, ADDRESS_ALLOW_UTF8 | ADDRESS_ALLOW_POSTMASTER, &mailbox,
	    &e) < 0)
		return fail(err, 553, "5.1.3", "Bad recipient address syntax");
	if (slice_eq_ci(mailbox, "postmaster")) {
		/* RFC 5321 §4.1.1.3: "<Postmaster>" in any case, without a domain. */
		cmd->is_postmaster = 1;
		mailbox = SLICE_LIT("postmaster");
	}
	cmd->path_is_utf8 = !address_is_ascii(mailbox);
	return copy_slice(cmd->path, sizeof(cmd->path), mailbox, err);
}

static int
parse_helo(const struct verb_def *def, struct slice arg, struct smtp_cmd *cmd,
    struct smtp_parse_error *err)
{
	const char *e;

	if (arg.len == 0)
		return fail(err, 501, "5.5.4", def->usage);
	if (address_helo_check(arg, &cmd->helo_kind, &e) < 0)
		return fail(err, 501, "5.5.4", "Invalid domain name");
	return copy_slice(cmd->arg, sizeof(cmd->arg), arg, err);
}

static int
parse_bdat(const struct verb_def *def, struct slice arg, struct smtp_cmd *cmd,
    struct smtp_parse_error *err)
{
	const char *sp = arg.len ? memchr(arg.p, ' ', arg.len) : NULL;
	struct slice size = { arg.p, sp ? (size_t)(sp - arg.p) : arg.len };
	struct slice rest = { arg.p + size.len, arg.len - size.len };
	const char *e;

	/* RFC 3030: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]; chunk-size = 1*DIGIT */
	if (strnum_slice_ull(size, ULLONG_MAX, &cmd->chunk_size, &e) < 0)
		return fail(err, 501, "5.5.4", def->usage);
	if (cmd->chunk_size > (unsigned long long)SMTP_BDAT_CHUNK_MAX)
		return fail(err, 552, "5.3.4", "BDAT chunk too large");
	rest = slice_trim(rest);
	if (rest.len > 0 && !slice_eq_ci(rest, "LAST"))
		return fail(err, 501, "5.5.4", def->usage);
	cmd->last = rest.len > 0;
	return 0;
}

static int
parse_noarg(const struct verb_def *def, struct slice arg, struct smtp_cmd *cmd,
    struct smtp_parse_error *err)
{
	(void)cmd;
	if (arg.len > 0)
		return fail(err, 501, "5.5.4", def->usage);
	return 0;
}

static int
parse_optarg(const struct verb_def *def, struct slice arg, struct smtp_cmd *cmd,
    struct smtp_parse_error *err)
{
	(void)def;
	return copy_slice(cmd->arg, sizeof(cmd->arg), arg, err);
}

static const struct verb_def verbs[] = {
	{ SMTP_VERB_HELO, "HELO", "Syntax: HELO hostname", parse_helo },
	{ SMTP_VERB_EHLO, "EHLO", "Syntax: EHLO hostname", parse_helo },
	{ SMTP_VERB_MAIL, "MAIL", "Syntax: MAIL FROM:<address> [parameters]", parse_mail },
	{ SMTP_VERB_RCPT, "RCPT", "Syntax: RCPT TO:<address> [parameters]", parse_rcpt },
	{ SMTP_VERB_DATA, "DATA", "Syntax: DATA", parse_noarg },
	{ SMTP_VERB_BDAT, "BDAT", "Syntax: BDAT chunk-size [LAST]", parse_bdat },
	{ SMTP_VERB_RSET, "RSET", "Syntax: RSET", parse_noarg },
	{ SMTP_VERB_NOOP, "NOOP", NULL, parse_optarg },
	{ SMTP_VERB_QUIT, "QUIT", "Syntax: QUIT", parse_noarg },
	{ SMTP_VERB_VRFY, "VRFY", NULL, parse_optarg },
	{ SMTP_VERB_EXPN, "EXPN", NULL, parse_optarg },
	{ SMTP_VERB_HELP, "HELP", NULL, parse_optarg },
	{ SMTP_VERB_STARTTLS, "STARTTLS", "Syntax: STARTTLS", parse_noarg },
	{ SMTP_VERB_AUTH, "AUTH", NULL, parse_optarg },
	{ SMTP_VERB_XCLIENT, "XCLIENT", "Syntax: XCLIENT attribute=value ...", parse_optarg },
};

/* Refuses what no command may hold: NUL, and controls other than HTAB (RFC 5321 §2.4 allows no
 * controls in commands; HTAB is tolerated as whitespace). */
static int
check_bytes(struct slice line, struct smtp_parse_error *err)
{
	for (size_t i = 0; i < line.len; i++) {
		unsigned char c = (unsigned char)line.p[i];

		if (c == '\0')
			return fail(err, 500, "5.5.2", "Syntax error: NUL character in command");
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(err, 500, "5.5.2", "Syntax error: control character in command");
	}
	return 0;
}

int
smtp_cmd_parse(struct slice line, struct smtp_cmd *cmd_r, struct smtp_parse_error *err_r)
{
	const struct verb_def *def = NULL;
	struct slice word, arg;
	const char *sp;

	memset(cmd_r, 0, sizeof(*cmd_r));
	if (line.len > SMTP_CMD_LINE_MAX)
		return fail(err_r, 500, "5.5.2", "Line too long");
	if (check_bytes(line, err_r) < 0)
		return -1;
	line = slice_trim(line);
	if (line.len == 0)
		return fail(err_r, 500, "5.5.2", "Syntax error: empty command");
	/* The verb ends at SP or at the end of the line (RFC 5321 §4.1.1). */
	sp = memchr(line.p, ' ', line.len);
	word = (struct slice){ line.p, sp ? (size_t)(sp - line.p) : line.len };
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (slice_eq_ci(word, verbs[i].name)) {
			def = &verbs[i];
			break;
		}
	}
	if (def == NULL)
		return fail(err_r, 500, "5.5.2", "Command unrecognized");
	cmd_r->verb = def->verb;
	arg = slice_trim((struct slice){ line.p + word.len, line.len - word.len });
	if (def->parse(def, arg, cmd_r, err_r) < 0) {
		memset(cmd_r, 0, sizeof(*cmd_r));
		cmd_r->verb = def->verb;
		return -1;
	}
	return 0;
}

const char *
smtp_verb_name(enum smtp_verb v)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == v)
			return verbs[i].name;
	return "UNKNOWN";
}
