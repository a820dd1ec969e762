/* spf_guard.c: the SPF record pre-filter. Every v=spf1 record and every explanation string that
 * came from DNS passes through here before libspf2 sees it: it is parsed with the RFC 7208 §12
 * ABNF and re-serialised in a canonical form libspf2 handles safely, or refused. Pure code, any
 * thread (filter pool), fuzzed by tests/fuzz/fuzz_spf_record.c. Input: hostile DNS text.
 * Why: Debian's libspf2 1.2.10 (1.2.10-7.2) has the CVE-2021-20314 fix that makes its macro
 * compiler compute ds_avail = avail - sizeof(SPF_data_t); when fewer than 4 bytes of its 511-byte
 * budget remain after a macro, that subtraction wraps (CVE-2023-42118, upstream PR #44, not in
 * Debian) and the next literal is copied unchecked onto the stack: a ~510-byte explanation or a
 * ~3.7 KB record smashes it. We therefore bound the compiled size of every domain-spec and
 * explanation (MG_SPF_COMPILED_MAX), cap record length and term count, and pass only RFC syntax. */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "filter/spf.h"
#include "filter/spf_int.h"

/* libspf2 compiles a macro string into 4-byte-aligned blocks: a literal run is a 4-byte header
 * plus its bytes (at most SPF_MAX_STR_LEN = 255), a macro or a CIDR 4 bytes, within 511 bytes.
 * We estimate with 8-byte alignment and refuse above 384, far from the wrap at 508. */
#define MG_SPF_COMPILED_MAX 384
#define MG_SPF_LITERAL_MAX 255
#define MG_SPF_MACRO_DIGITS_MAX 128	/* a name has at most 127 labels: larger is the same */

enum ms_ctx {
	MS_DOMAIN,	/* domain-spec: letters c, r, t refused (§7.2) */
	MS_MODIFIER,	/* unknown-modifier value: any macro letter, not emitted */
	MS_EXPLAIN,	/* explain-string: SP allowed, emitted as %_ */
};

struct ms_info {
	size_t compiled;	/* libspf2's compiled size, estimated high */
	size_t tail_start;	/* offset of the final literal run (after the last macro-expand) */
};

static size_t
align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_alnum(int c)
{
	return is_alpha(c) || is_digit(c);
}

/* strchr() that never matches the terminator: input may hold NUL octets. */
static int
is_one_of(int c, const char *set)
{
	return c != '\0' && strchr(set, c) != NULL;
}

int
mg_spf_record_is_spf(const char *txt, size_t len)
{
	if (len < 6 || strncasecmp(txt, "v=spf1", 6) != 0)
		return 0;
	return len == 6 || txt[6] == ' ';
}

/* "%{" letter transformers *delimiter "}" at s[0..]: validates, appends the canonical form to out
 * (if not NULL) and returns the length consumed, or -1. */
static int
parse_macro_expand(struct slice s, enum ms_ctx ctx, struct buf *out, const char **error_r)
{
	static const char letters[] = "slodiphcrtv";
	size_t i = 2;
	int letter, rev = 0;
	unsigned long num = 0;
	int have_num = 0;
	char delims[8];
	size_t n_delims = 0;

	if (s.len < 4 || s.p[0] != '%' || s.p[1] != '{') {
		*error_r = "malformed macro";
		return -1;
	}
	letter = (unsigned char)s.p[i++];
	if (!is_alpha(letter) || !is_one_of(letter | 0x20, letters)) {
		*error_r = "invalid macro letter";
		return -1;
	}
	if (ctx == MS_DOMAIN && is_one_of(letter | 0x20, "crt")) {
		*error_r = "macro letter c, r or t outside an explanation";
		return -1;
	}
	while (i < s.len && is_digit(s.p[i])) {
		have_num = 1;
		/* *DIGIT allows leading zeros and any length: clamp instead of overflowing. */
		if (num <= MG_SPF_MACRO_DIGITS_MAX)
			num = num * 10 + (unsigned long)(s.p[i] - '0');
		i++;
	}
	if (have_num && num == 0) {
		*error_r = "macro transformer digit 0";
		return -1;
	}
	if (num > MG_SPF_MACRO_DIGITS_MAX)
		num = MG_SPF_MACRO_DIGITS_MAX;
	if (i < s.len && (s.p[i] | 0x20) == 'r') {
		rev = 1;
		i++;
	}
	for (; i < s.len && s.p[i] != '}'; i++) {
		char c = s.p[i];

		if (!is_one_of(c, ".-+,/_=")) {
			*error_r = "invalid macro delimiter";
			return -1;
		}
		/* libspf2 knows . - + = _ but not , and / (RFC 7208 §7.1 has them). */
		if (c == ',' || c == '/') {
			*error_r = "macro delimiter ',' or '/' not supported";
			return -1;
		}
		if (memchr(delims, c, n_delims) == NULL)
			delims[n_delims++] = c;
	}
	if (i >= s.len) {
		*error_r = "unterminated macro";
		return -1;
	}
	if (out != NULL) {
		int rc = buf_append_str(out, "%{") | buf_append_char(out, (char)letter);

		if (have_num)
			rc |= buf_printf(out, "%lu", num);
		if (rev)
			rc |= buf_append_char(out, 'r');
		rc |= buf_append(out, delims, n_delims) | buf_append_char(out, '}');
		if (rc != 0) {
			*error_r = "record too long";
			return -1;
		}
	}
	return (int)(i + 1);
}

/* macro-string (and explain-string for MS_EXPLAIN): validates s, appends the canonical form to
 * out (if not NULL), estimates libspf2's compiled size. Returns 0 or -1. */
static int
parse_macro_string(struct slice s, enum ms_ctx ctx, struct buf *out, struct ms_info *info,
    const char **error_r)
{
	size_t i = 0, run = 0, compiled = 0;
	int rc = 0;

	info->tail_start = 0;
	while (i < s.len) {
		unsigned char c = (unsigned char)s.p[i];

		if (c == '%') {
			char n = i + 1 < s.len ? s.p[i + 1] : '\0';

			if (n == '{') {
				int used = parse_macro_expand((struct slice){ s.p + i, s.len - i }, ctx, out,
				    error_r);

				if (used < 0)
					return -1;
				if (run > 0)
					compiled += align8(4 + run);
				if (run > MG_SPF_LITERAL_MAX) {
					*error_r = "literal too long";
					return -1;
				}
				run = 0;
				compiled += 8;
				i += (size_t)used;
			} else if (n == '%' || n == '_' || n == '-') {
				if (out != NULL)
					rc |= buf_append(out, s.p + i, 2);
				run += n == '-' ? 3 : 1;
				i += 2;
			} else {
				*error_r = "invalid '%' escape";
				return -1;
			}
			info->tail_start = i;
			continue;
		}
		if (c == ' ' && ctx == MS_EXPLAIN) {
			/* libspf2 turns a bare space in a macro string into '%': write "%_". */
			if (out != NULL)
				rc |= buf_append_str(out, "%_");
			run++;
			i++;
			info->tail_start = i;
			continue;
		}
		if (c < 0x21 || c > 0x7e) {
			*error_r = c == ' ' ? "space inside a term" : "non-printable or non-ASCII octet";
			return -1;
		}
		if (out != NULL)
			rc |= buf_append_char(out, (char)c);
		run++;
		i++;
	}
	if (run > MG_SPF_LITERAL_MAX) {
		*error_r = "literal too long";
		return -1;
	}
	if (run > 0)
		compiled += align8(4 + run);
	if (rc != 0) {
		*error_r = "record too long";
		return -1;
	}
	info->compiled = compiled;
	return 0;
}

/* toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) */
static int
is_toplabel(const char *p, size_t n)
{
	int has_alpha = 0, has_dash = 0;

	if (n == 0 || !is_alnum(p[0]) || !is_alnum(p[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '-')
			has_dash = 1;
		else if (is_alpha(p[i]))
			has_alpha = 1;
		else if (!is_digit(p[i]))
			return 0;
	}
	return has_alpha || has_dash;
}

/* domain-spec = macro-string domain-end; domain-end = ( "." toplabel [ "." ] ) / macro-expand.
 * Appends the canonical form to out; *compiled_r gets the estimate. */
static int
parse_domain_spec(struct slice s, struct buf *out, size_t *compiled_r, const char **error_r)
{
	struct ms_info info;
	const char *tail;
	size_t tlen, dot;

	if (s.len == 0) {
		*error_r = "empty domain-spec";
		return -1;
	}
	if (parse_macro_string(s, MS_DOMAIN, out, &info, error_r) < 0)
		return -1;
	tail = s.p + info.tail_start;
	tlen = s.len - info.tail_start;
	if (tlen > 0) {
		if (tail[tlen - 1] == '.')
			tlen--;
		for (dot = tlen; dot > 0 && tail[dot - 1] != '.'; dot--)
			;
		if (dot == 0 || !is_toplabel(tail + dot, tlen - dot)) {
			*error_r = "domain-spec does not end in a valid top label";
			return -1;
		}
	}
	*compiled_r = info.compiled;
	return 0;
}

/* ip4-cidr-length / ip6-cidr-length digits (no leading zero, range 0..max). */
static int
parse_cidr_digits(const char *p, size_t n, int max, int *out)
{
	int v = 0;

	if (n == 0 || n > 3 || (n > 1 && p[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* Splits a trailing dual-cidr-length ("/N", "//M", "/N//M") off *s. -1 on a malformed one. */
static int
split_dual_cidr(struct slice *s, int *c4, int *c6)
{
	size_t i;

	*c4 = *c6 = -1;
	for (i = s->len; i > 0 && is_digit(s->p[i - 1]); i--)
		;
	if (i == 0 || i == s->len || s->p[i - 1] != '/')
		return 0;
	if (i >= 2 && s->p[i - 2] == '/') {
		if (parse_cidr_digits(s->p + i, s->len - i, 128, c6) < 0)
			return -1;
		s->len = i - 2;
		for (i = s->len; i > 0 && is_digit(s->p[i - 1]); i--)
			;
		if (i == 0 || i == s->len || s->p[i - 1] != '/')
			return 0;
	}
	if (parse_cidr_digits(s->p + i, s->len - i, 32, c4) < 0)
		return -1;
	s->len = i - 1;
	return 0;
}

struct rec_state {
	struct buf *out;
	int family;
	int has_all;
	int n_redirect, n_exp;
	struct buf redirect, exp;	/* canonical values, emitted last */
};

static int
check_compiled(size_t compiled, const char **error_r)
{
	if (compiled > MG_SPF_COMPILED_MAX) {
		*error_r = "domain-spec too long for libspf2";
		return -1;
	}
	return 0;
}

/* a / mx: [":" domain-spec] [dual-cidr-length], rewritten for the client's family. */
static int
parse_a_mx(struct rec_state *st, const char *q, const char *name, struct slice rest,
    const char **error_r)
{
	struct buf ds;
	size_t compiled = 0;
	int c4, c6, cidr, rc = -1;

	buf_init(&ds, MG_SPF_RECORD_MAX);
	if (split_dual_cidr(&rest, &c4, &c6) < 0) {
		*error_r = "invalid CIDR length";
		goto fail;
	}
	if (rest.len > 0) {
		if (rest.p[0] != ':') {
			*error_r = "unknown mechanism";
			goto fail;
		}
		rest.p++;
		rest.len--;
		if (parse_domain_spec(rest, &ds, &compiled, error_r) < 0)
			goto fail;
	}
	cidr = st->family == AF_INET6 ? c6 : c4;
	if (cidr == 0) {
		/* A /0 prefix (libspf2 reads 0 as "none"): the name is looked up through our DNS
		 * layer, which answers with the client's own address when the real name has any
		 * address of the family (spf_dns.c). */
		if (ds.len > 0 && ds.data[ds.len - 1] == '.') {
			ds.len--;	/* a literal final dot: the suffix follows the name */
			ds.data[ds.len] = '\0';
		}
		if ((ds.len == 0 && buf_append_str(&ds, "%{d}") < 0) ||
		    buf_append_str(&ds, MG_SPF_CIDR0_SUFFIX) < 0) {
			*error_r = "record too long";
			goto fail;
		}
		compiled += align8(4 + sizeof(MG_SPF_CIDR0_SUFFIX)) + 8;
	}
	if (check_compiled(compiled + 8, error_r) < 0)
		goto fail;
	rc = buf_printf(st->out, " %s%s", q, name);
	if (ds.len > 0)
		rc |= buf_printf(st->out, ":%s", ds.data);
	if (cidr > 0)
		rc |= buf_printf(st->out, st->family == AF_INET6 ? "//%d" : "/%d", cidr);
	if (rc != 0)
		*error_r = "record too long";
fail:
	buf_free(&ds);
	return rc == 0 ? 0 : -1;
}

/* ip4 / ip6: ":" network [cidr]. A /0 prefix matches every client of that family ("all"). */
static int
parse_ip(struct rec_state *st, const char *q, int af, struct slice rest, const char **error_r)
{
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char bin[16];
	const char *slash;
	size_t alen;
	int cidr = -1;

	if (rest.len < 2 || rest.p[0] != ':') {
		*error_r = af == AF_INET ? "ip4 without an address" : "ip6 without an address";
		return -1;
	}
	rest.p++;
	rest.len--;
	slash = memrchr(rest.p, '/', rest.len);
	alen = slash != NULL ? (size_t)(slash - rest.p) : rest.len;
	if (slash != NULL && parse_cidr_digits(slash + 1, rest.len - alen - 1, af == AF_INET ? 32 : 128,
	    &cidr) < 0) {
		*error_r = "invalid CIDR length";
		return -1;
	}
	if (alen == 0 || alen >= sizeof(addr)) {
		*error_r = "invalid IP address";
		return -1;
	}
	memcpy(addr, rest.p, alen);
	addr[alen] = '\0';
	/* ip4-network is a strict dotted quad: inet_pton(AF_INET) refuses leading zeros too. */
	if (inet_pton(af, addr, bin) != 1) {
		*error_r = "invalid IP address";
		return -1;
	}
	if (cidr == 0) {
		if (st->family != af)
			return 0;	/* never matches this client: drop the term */
		st->has_all = 1;
		return buf_printf(st->out, " %sall", q) < 0 ? -1 : 0;
	}
	if (buf_printf(st->out, " %sip%c:%s", q, af == AF_INET ? '4' : '6', addr) < 0 ||
	    (cidr > 0 && buf_printf(st->out, "/%d", cidr) < 0)) {
		*error_r = "record too long";
		return -1;
	}
	return 0;
}

/* include / exists / ptr: ":" domain-spec (optional for ptr), no CIDR. */
static int
parse_domain_mech(struct rec_state *st, const char *q, const char *name, int optional,
    struct slice rest, const char **error_r)
{
	struct buf ds;
	size_t compiled = 0;
	int rc = -1;

	buf_init(&ds, MG_SPF_RECORD_MAX);
	if (rest.len == 0 && optional) {
		rc = buf_printf(st->out, " %s%s", q, name);
		goto done;
	}
	if (rest.len == 0 || rest.p[0] != ':') {
		*error_r = rest.len == 0 ? "mechanism needs a domain" : "unknown mechanism";
		goto fail;
	}
	rest.p++;
	rest.len--;
	if (parse_domain_spec(rest, &ds, &compiled, error_r) < 0 ||
	    check_compiled(compiled, error_r) < 0)
		goto fail;
	rc = buf_printf(st->out, " %s%s:%s", q, name, ds.data);
done:
	if (rc != 0)
		*error_r = "record too long";
fail:
	buf_free(&ds);
	return rc == 0 ? 0 : -1;
}

static int
parse_directive(struct rec_state *st, struct slice t, const char **error_r)
{
	static const char *const names[] = { "all", "include", "a", "mx", "ptr", "ip4", "ip6",
	    "exists" };
	char q[2] = "";	/* "+" is the default: not written */
	size_t n;
	size_t which;
	struct slice rest;

	if (t.len > 0 && is_one_of(t.p[0], "+-?~")) {
		q[0] = t.p[0] == '+' ? '\0' : t.p[0];
		t.p++;
		t.len--;
	}
	for (n = 0; n < t.len && is_alnum(t.p[n]); n++)
		;
	for (which = 0; which < sizeof(names) / sizeof(names[0]); which++)
		if (strlen(names[which]) == n && strncasecmp(t.p, names[which], n) == 0)
			break;
	rest = (struct slice){ t.p + n, t.len - n };
	if (which == sizeof(names) / sizeof(names[0]) ||
	    (rest.len > 0 && rest.p[0] != ':' && rest.p[0] != '/')) {
		*error_r = "unknown mechanism";
		return -1;
	}
	switch (which) {
	case 0:
		if (rest.len != 0) {
			*error_r = "all takes no argument";
			return -1;
		}
		st->has_all = 1;
		return buf_printf(st->out, " %sall", q) < 0 ? -1 : 0;
	case 1:
		return parse_domain_mech(st, q, "include", 0, rest, error_r);
	case 2:
		return parse_a_mx(st, q, "a", rest, error_r);
	case 3:
		return parse_a_mx(st, q, "mx", rest, error_r);
	case 4:
		return parse_domain_mech(st, q, "ptr", 1, rest, error_r);
	case 5:
		return parse_ip(st, q, AF_INET, rest, error_r);
	case 6:
		return parse_ip(st, q, AF_INET6, rest, error_r);
	default:
		return parse_domain_mech(st, q, "exists", 0, rest, error_r);
	}
}

/* name "=" value where name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ). Returns 1 if t is a
 * modifier (handled), 0 if it is not one, -1 on error. */
static int
parse_modifier(struct rec_state *st, struct slice t, const char **error_r)
{
	struct slice val;
	struct ms_info info;
	size_t n, compiled;

	if (t.len == 0 || !is_alpha(t.p[0]))
		return 0;
	for (n = 1; n < t.len && (is_alnum(t.p[n]) || is_one_of(t.p[n], "-_.")); n++)
		;
	if (n >= t.len || t.p[n] != '=')
		return 0;
	val = (struct slice){ t.p + n + 1, t.len - n - 1 };
	if ((n == 8 && strncasecmp(t.p, "redirect", 8) == 0) ||
	    (n == 3 && strncasecmp(t.p, "exp", 3) == 0)) {
		int is_redirect = n == 8;
		struct buf *b = is_redirect ? &st->redirect : &st->exp;

		if ((is_redirect ? ++st->n_redirect : ++st->n_exp) > 1) {
			*error_r = is_redirect ? "redirect= twice" : "exp= twice";
			return -1;
		}
		if (parse_domain_spec(val, b, &compiled, error_r) < 0 ||
		    check_compiled(compiled, error_r) < 0)
			return -1;
		return 1;
	}
	/* Unknown modifiers are ignored (§6), but their value must still parse. */
	if (parse_macro_string(val, MS_MODIFIER, NULL, &info, error_r) < 0)
		return -1;
	return 1;
}

int
mg_spf_record_filter(const char *txt, size_t len, int family, struct buf *out,
    const char **error_r)
{
	struct rec_state st = { .out = out, .family = family };
	size_t i, terms = 0;
	int rc = -1;

	buf_init(&st.redirect, MG_SPF_RECORD_MAX);
	buf_init(&st.exp, MG_SPF_RECORD_MAX);
	if (!mg_spf_record_is_spf(txt, len)) {
		*error_r = "not an SPF record";
		goto fail;
	}
	if (len > MG_SPF_RECORD_MAX) {
		*error_r = "record too long";
		goto fail;
	}
	if (buf_append_str(out, "v=spf1") < 0) {
		*error_r = "record too long";
		goto fail;
	}
	/* terms = *( 1*SP ( directive / modifier ) ), then *SP: split on runs of spaces only. */
	for (i = 6; i < len;) {
		size_t start;
		int m;

		while (i < len && txt[i] == ' ')
			i++;
		if (i == len)
			break;
		for (start = i; i < len && txt[i] != ' '; i++)
			;
		if (++terms > MG_SPF_TERMS_MAX) {
			*error_r = "too many terms";
			goto fail;
		}
		m = parse_modifier(&st, (struct slice){ txt + start, i - start }, error_r);
		if (m < 0)
			goto fail;
		if (m == 0 && parse_directive(&st, (struct slice){ txt + start, i - start },
		    error_r) < 0)
			goto fail;
	}
	/* §6.1: redirect applies only when nothing matched, and never beside "all". */
	if (st.n_redirect > 0 && !st.has_all &&
	    buf_printf(out, " redirect=%s", st.redirect.data) < 0) {
		*error_r = "record too long";
		goto fail;
	}
	if (st.n_exp > 0 && buf_printf(out, " exp=%s", st.exp.data) < 0) {
		*error_r = "record too long";
		goto fail;
	}
	/* The rewrites may grow a record: the canonical form obeys the same cap (and so filtering
	 * it again gives it back unchanged). */
	if (out->len > MG_SPF_RECORD_MAX) {
		*error_r = "record too long";
		goto fail;
	}
	rc = 0;
fail:
	buf_free(&st.redirect);
	buf_free(&st.exp);
	return rc;
}

int
mg_spf_explanation_filter(const char *txt, size_t len, struct buf *out, const char **error_r)
{
	struct ms_info info;

	if (len > MG_SPF_RECORD_MAX) {
		*error_r = "explanation too long";
		return -1;
	}
	if (parse_macro_string((struct slice){ txt, len }, MS_EXPLAIN, out, &info, error_r) < 0)
		return -1;
	if (info.compiled > MG_SPF_COMPILED_MAX) {
		*error_r = "explanation too long for libspf2";
		return -1;
	}
	return 0;
}
