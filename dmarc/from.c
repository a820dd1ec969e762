/* RFC5322.From domain extraction for DMARC (RFC 7489 §3.1, §6.6.1): finds the one From field of
 * a stored message's header section and parses its address list (RFC 5322 §3.4 with the §4.4
 * obsolete forms, RFC 6854 groups, RFC 6532 UTF-8) with a CFWS-skipping lexer and a one-token
 * lookahead parser, no recursion. Runs on filter pool threads and in the fuzzer. Input is hostile
 * and only read (slices into it, never written); anything ambiguous (a display name with an
 * unquoted '@', mailboxes of different domains, a domain literal) is an error the filter scores,
 * since the domain we judge must be the one the reader sees. Limits: MG_DMARC_FROM_VALUE_MAX
 * octets of value, MG_DMARC_FROM_MAILBOXES_MAX mailboxes, MG_DMARC_COMMENT_DEPTH_MAX nesting. */
#include <string.h>

#include "common/rfc5322.h"
#include "dmarc/dmarc.h"

enum tok_type { T_END, T_ATOM, T_QSTRING, T_DLITERAL, T_SPECIAL, T_ERROR };

struct tok {
	enum tok_type type;
	char c;			/* T_SPECIAL: the character */
	struct slice s;		/* borrowed: T_ATOM text */
};

struct parser {
	const char *p;		/* borrowed: the field value */
	size_t len, off;
	struct tok la;		/* lookahead */
	enum mg_dmarc_from_status st;	/* first error, MG_DMARC_FROM_OK while none */
	const char *error;
	int mailboxes;
	int in_group;
	char domain[MG_DMARC_DOMAIN_MAX + 1];	/* first mailbox's canonical domain */
	int other_domain;	/* a later mailbox had a different domain */
};

static void
fail(struct parser *ps, enum mg_dmarc_from_status st, const char *error)
{
	if (ps->st == MG_DMARC_FROM_OK) {
		ps->st = st;
		ps->error = error;
	}
	ps->la.type = T_ERROR;
}

/* RFC 5322 §3.2.3 atext, plus UTF8-non-ascii (RFC 6532 §3.2; validated later for domains). */
static int
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80)
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int
is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Skips FWS and comments (nested, with quoted-pairs, §3.2.2). Returns -1 on an unterminated or
 * too deeply nested comment. */
static int
skip_cfws(struct parser *ps)
{
	int depth = 0;

	while (ps->off < ps->len) {
		char c = ps->p[ps->off];

		if (depth == 0 && is_fws(c)) {
			ps->off++;
		} else if (c == '(') {
			if (++depth > MG_DMARC_COMMENT_DEPTH_MAX) {
				fail(ps, MG_DMARC_FROM_SYNTAX, "comments nested too deeply");
				return -1;
			}
			ps->off++;
		} else if (depth > 0 && c == ')') {
			depth--;
			ps->off++;
		} else if (depth > 0 && c == '\\') {
			ps->off += ps->off + 1 < ps->len ? 2 : 1;
		} else if (depth > 0) {
			ps->off++;
		} else {
			return 0;
		}
	}
	if (depth > 0) {
		fail(ps, MG_DMARC_FROM_SYNTAX, "unterminated comment");
		return -1;
	}
	return 0;
}

/* A quoted string or domain literal from its opening character up to the closing one. */
static int
skip_quoted(struct parser *ps, char close)
{
	ps->off++;
	while (ps->off < ps->len) {
		char c = ps->p[ps->off];

		if (c == '\\') {
			if (ps->off + 1 >= ps->len)
				break;
			ps->off += 2;
			continue;
		}
		ps->off++;
		if (c == close)
			return 0;
		if (c == '\0' || (close == ']' && c == '['))
			break;
	}
	fail(ps, MG_DMARC_FROM_SYNTAX, close == '"' ? "unterminated quoted string" :
	    "unterminated domain literal");
	return -1;
}

static void
lex(struct parser *ps)
{
	struct tok *t = &ps->la;
	unsigned char c;

	if (ps->st != MG_DMARC_FROM_OK || skip_cfws(ps) < 0) {
		t->type = T_ERROR;
		return;
	}
	if (ps->off >= ps->len) {
		t->type = T_END;
		return;
	}
	c = (unsigned char)ps->p[ps->off];
	if (c == '"' || c == '[') {
		t->type = c == '"' ? T_QSTRING : T_DLITERAL;
		if (skip_quoted(ps, c == '"' ? '"' : ']') < 0)
			t->type = T_ERROR;
	} else if (c != '\0' && strchr("<>@,;:.", c) != NULL) {
		t->type = T_SPECIAL;
		t->c = (char)c;
		ps->off++;
	} else if (is_atext(c)) {
		size_t start = ps->off;

		while (ps->off < ps->len && is_atext((unsigned char)ps->p[ps->off]))
			ps->off++;
		t->type = T_ATOM;
		t->s.p = ps->p + start;
		t->s.len = ps->off - start;
	} else {
		fail(ps, MG_DMARC_FROM_SYNTAX, "unexpected character in address");
	}
}

static int
is_special(const struct parser *ps, char c)
{
	return ps->la.type == T_SPECIAL && ps->la.c == c;
}

static int
is_word(const struct parser *ps)
{
	return ps->la.type == T_ATOM || ps->la.type == T_QSTRING;
}

/* domain = dot-atom / obs-domain (CFWS between atoms and dots is skipped by the lexer); one
 * final dot is tolerated. A domain literal cannot carry a DMARC policy. Records the domain. */
static void
parse_domain(struct parser *ps, int record)
{
	char raw[4 * MG_DMARC_DOMAIN_MAX + 8], canon[MG_DMARC_DOMAIN_MAX + 1];
	size_t n = 0;
	const char *error = NULL;

	if (ps->la.type == T_DLITERAL) {
		fail(ps, MG_DMARC_FROM_BAD_DOMAIN, "domain literal in From");
		return;
	}
	for (;;) {
		if (ps->la.type != T_ATOM) {
			fail(ps, MG_DMARC_FROM_SYNTAX, "expected a domain");
			return;
		}
		if (n + ps->la.s.len + 1 >= sizeof(raw)) {
			fail(ps, MG_DMARC_FROM_BAD_DOMAIN, "domain too long");
			return;
		}
		memcpy(raw + n, ps->la.s.p, ps->la.s.len);
		n += ps->la.s.len;
		lex(ps);
		if (!is_special(ps, '.'))
			break;
		raw[n++] = '.';
		lex(ps);
		if (ps->la.type != T_ATOM)
			break;		/* a final dot */
	}
	if (!record)
		return;
	if (mg_dmarc_domain_canon(raw, n, canon, sizeof(canon), &error) < 0) {
		fail(ps, MG_DMARC_FROM_BAD_DOMAIN, error);
		return;
	}
	if (++ps->mailboxes > MG_DMARC_FROM_MAILBOXES_MAX) {
		fail(ps, MG_DMARC_FROM_SYNTAX, "too many mailboxes in From");
		return;
	}
	if (ps->mailboxes == 1)
		memcpy(ps->domain, canon, sizeof(canon));
	else if (strcmp(ps->domain, canon) != 0)
		ps->other_domain = 1;
}

/* local-part = dot-atom / quoted-string / obs-local-part: words separated by dots (runs of dots
 * tolerated, as seen in the wild); two words in a row are a phrase, not a local part. */
static void
parse_local_part(struct parser *ps)
{
	int words = 0, after_word = 0;

	while (is_word(ps) || is_special(ps, '.')) {
		if (is_word(ps)) {
			if (after_word) {
				fail(ps, MG_DMARC_FROM_SYNTAX, "expected '@'");
				return;
			}
			words++;
			after_word = 1;
		} else {
			after_word = 0;
		}
		lex(ps);
	}
	if (words == 0)
		fail(ps, MG_DMARC_FROM_SYNTAX, "empty local part");
}

/* angle-addr / obs-angle-addr: "<" [obs-route] addr-spec ">", the "<" already seen. */
static void
parse_angle(struct parser *ps)
{
	lex(ps);
	if (is_special(ps, '>')) {
		fail(ps, MG_DMARC_FROM_EMPTY, "empty address <>");
		return;
	}
	if (is_special(ps, '@') || is_special(ps, ',')) {
		/* obs-route = obs-domain-list ":" (RFC 5322 §4.4); its domains are ignored */
		while (is_special(ps, ',') || is_special(ps, '@')) {
			if (is_special(ps, ',')) {
				lex(ps);
				continue;
			}
			lex(ps);
			parse_domain(ps, 0);
		}
		if (!is_special(ps, ':')) {
			fail(ps, MG_DMARC_FROM_SYNTAX, "bad route in angle address");
			return;
		}
		lex(ps);
	}
	parse_local_part(ps);
	if (!is_special(ps, '@')) {
		fail(ps, MG_DMARC_FROM_SYNTAX, "expected '@' in angle address");
		return;
	}
	lex(ps);
	parse_domain(ps, 1);
	if (!is_special(ps, '>')) {
		fail(ps, MG_DMARC_FROM_SYNTAX, "expected '>'");
		return;
	}
	lex(ps);
}

/* One address: mailbox (name-addr or addr-spec) or the start of a group. The phrase is scanned
 * once; what follows it decides: "<" name-addr, ":" group, "@" it was a local part (then it is
 * read again from the saved state). Returns 1 when it opened a group, else 0. */
static int
parse_address(struct parser *ps)
{
	int words = 0;

	if (!is_special(ps, '<') && !is_word(ps)) {
		fail(ps, MG_DMARC_FROM_SYNTAX, "expected an address");
		return 0;
	}
	/* Look ahead without consuming: save the lexer state and scan the phrase. */
	struct parser save = *ps;
	int after_word = 0, local_ok = 1;

	while (is_word(ps) || is_special(ps, '.')) {
		if (is_word(ps)) {
			if (after_word)
				local_ok = 0;
			after_word = 1;
			words++;
		} else {
			after_word = 0;
		}
		lex(ps);
	}
	if (is_special(ps, '<')) {
		parse_angle(ps);
	} else if (is_special(ps, ':') && words > 0) {
		if (ps->in_group) {
			fail(ps, MG_DMARC_FROM_SYNTAX, "nested group");
			return 0;
		}
		ps->in_group = 1;
		lex(ps);
		return 1;
	} else if (is_special(ps, '@') && words > 0 && local_ok) {
		*ps = save;
		parse_local_part(ps);
		lex(ps);	/* the '@' */
		parse_domain(ps, 1);
	} else if (ps->la.type != T_ERROR) {
		fail(ps, MG_DMARC_FROM_SYNTAX, is_special(ps, '@') ? "unquoted display name" :
		    "expected an address");
	}
	return 0;
}

/* address-list with obs-addr-list empty elements (RFC 5322 §4.4) and RFC 6854 groups. */
static void
parse_list(struct parser *ps)
{
	lex(ps);
	while (ps->la.type != T_END && ps->la.type != T_ERROR) {
		if (is_special(ps, ',')) {
			lex(ps);
			continue;
		}
		if (is_special(ps, ';') && ps->in_group) {
			ps->in_group = 0;
			lex(ps);
			continue;
		}
		if (parse_address(ps) == 1)
			continue;	/* group-list follows the ':' */
		if (ps->la.type == T_ERROR)
			return;
		if (ps->la.type != T_END && !is_special(ps, ',') &&
		    !(is_special(ps, ';') && ps->in_group)) {
			fail(ps, MG_DMARC_FROM_SYNTAX, "expected ',' after address");
			return;
		}
	}
	if (ps->la.type == T_END && ps->in_group)
		fail(ps, MG_DMARC_FROM_SYNTAX, "unterminated group");
}

enum mg_dmarc_from_status
mg_dmarc_from_value(struct slice value, char *out, size_t outsize, const char **error_r)
{
	struct parser ps;

	if (outsize > 0)
		out[0] = '\0';
	if (value.len > MG_DMARC_FROM_VALUE_MAX) {
		*error_r = "From field too long";
		return MG_DMARC_FROM_SYNTAX;
	}
	memset(&ps, 0, sizeof(ps));
	ps.p = value.p;
	ps.len = value.len;
	parse_list(&ps);
	if (ps.st == MG_DMARC_FROM_OK && ps.mailboxes == 0)
		fail(&ps, MG_DMARC_FROM_EMPTY, "no mailbox in From");
	if (ps.st == MG_DMARC_FROM_OK && ps.other_domain)
		fail(&ps, MG_DMARC_FROM_DOMAINS, "From mailboxes in different domains");
	if (ps.st == MG_DMARC_FROM_OK && strlen(ps.domain) >= outsize)
		fail(&ps, MG_DMARC_FROM_BAD_DOMAIN, "domain does not fit");
	if (ps.st != MG_DMARC_FROM_OK) {
		*error_r = ps.error;
		return ps.st;
	}
	memcpy(out, ps.domain, strlen(ps.domain) + 1);
	return MG_DMARC_FROM_OK;
}

enum mg_dmarc_from_status
mg_dmarc_from_domain(struct slice header, char *out, size_t outsize, const char **error_r)
{
	struct rfc5322_iter it;
	struct rfc5322_field f, from;
	int n = 0, rc;

	if (outsize > 0)
		out[0] = '\0';
	memset(&from, 0, sizeof(from));
	rfc5322_iter_init(&it, header);
	while ((rc = rfc5322_next(&it, &f)) == 1) {
		if (rfc5322_name_is(f.name, "From") && n++ == 0)
			from = f;
	}
	if (rc < 0) {
		*error_r = "malformed header section";
		return MG_DMARC_FROM_HEADER;
	}
	if (n == 0) {
		*error_r = "no From field";
		return MG_DMARC_FROM_NONE;
	}
	if (n > 1) {
		*error_r = "several From fields";
		return MG_DMARC_FROM_MULTIPLE;
	}
	return mg_dmarc_from_value(from.value, out, outsize, error_r);
}

const char *
mg_dmarc_from_status_name(enum mg_dmarc_from_status st)
{
	switch (st) {
	case MG_DMARC_FROM_OK: return "ok";
	case MG_DMARC_FROM_NONE: return "none";
	case MG_DMARC_FROM_MULTIPLE: return "multiple";
	case MG_DMARC_FROM_DOMAINS: return "domains";
	case MG_DMARC_FROM_EMPTY: return "empty";
	case MG_DMARC_FROM_SYNTAX: return "syntax";
	case MG_DMARC_FROM_BAD_DOMAIN: return "bad_domain";
	case MG_DMARC_FROM_HEADER: return "header";
	}
	return "?";
}
