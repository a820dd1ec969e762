/* DMARC policy record parser (RFC 7489 §6.3 tags, §6.4 ABNF, §6.6.3 step 6 for an unusable p):
 * turns one TXT record into a struct mg_dmarc_record. Runs on filter pool threads, in tools and
 * in the fuzzer; the record comes from the domain's DNS and is hostile: every value is checked,
 * nothing is written into it, rua/ruf URIs are kept only when they are well-formed mailto: URIs
 * that fit. Leniency follows §6.3 ("unknown tags MUST be ignored", syntax errors in the
 * remainder are discarded in favour of defaults) and common practice (tags in any order after
 * v, empty tag-specs skipped). Limits: MG_DMARC_RECORD_MAX octets, MG_DMARC_URIS_MAX URIs of
 * MG_DMARC_URI_LEN octets per tag, fo/rf values of 15 octets. */
#include <strings.h>
#include <string.h>

#include "dmarc/dmarc.h"
#include "lib/str.h"

enum tag_id { TAG_V, TAG_P, TAG_SP, TAG_PCT, TAG_ADKIM, TAG_ASPF, TAG_RUA, TAG_RUF, TAG_FO, TAG_RF,
	TAG_RI, TAG_COUNT };

static const char *const tag_names[TAG_COUNT] = { "v", "p", "sp", "pct", "adkim", "aspf", "rua",
	"ruf", "fo", "rf", "ri" };

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static int
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static struct slice
trim(struct slice s)
{
	while (s.len > 0 && is_wsp(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len > 0 && is_wsp(s.p[s.len - 1]))
		s.len--;
	return s;
}

static int
slice_is(struct slice s, const char *lit)
{
	return s.len == strlen(lit) && strncasecmp(s.p, lit, s.len) == 0;
}

int
mg_dmarc_is_record(const char *txt, size_t len)
{
	size_t i = 0;

	if (len < 1 || (txt[0] != 'v' && txt[0] != 'V'))
		return 0;
	for (i = 1; i < len && is_wsp(txt[i]); i++)
		;
	if (i >= len || txt[i] != '=')
		return 0;
	for (i++; i < len && is_wsp(txt[i]); i++)
		;
	/* %x44 %x4d %x41 %x52 %x43 %x31: "DMARC1" in exactly this case (§6.4) */
	if (len - i < 6 || memcmp(txt + i, "DMARC1", 6) != 0)
		return 0;
	for (i += 6; i < len && is_wsp(txt[i]); i++)
		;
	return i == len || txt[i] == ';';
}

static int
parse_policy(struct slice v, enum mg_dmarc_policy *p)
{
	if (slice_is(v, "none"))
		*p = MG_DMARC_POLICY_NONE;
	else if (slice_is(v, "quarantine"))
		*p = MG_DMARC_POLICY_QUARANTINE;
	else if (slice_is(v, "reject"))
		*p = MG_DMARC_POLICY_REJECT;
	else
		return -1;
	return 0;
}

static int
parse_mode(struct slice v, char *m)
{
	if (v.len != 1 || (v.p[0] != 'r' && v.p[0] != 'R' && v.p[0] != 's' && v.p[0] != 'S'))
		return -1;
	*m = (char)(v.p[0] | 0x20);
	return 0;
}

/* 1*DIGIT no larger than max. */
static int
parse_uint(struct slice v, unsigned long long max, unsigned long long *out)
{
	unsigned long long n = 0;

	if (v.len == 0 || v.len > 20)
		return -1;
	for (size_t i = 0; i < v.len; i++) {
		if (!is_digit(v.p[i]))
			return -1;
		if (n > (max - (unsigned long long)(v.p[i] - '0')) / 10)
			return -1;
		n = n * 10 + (unsigned long long)(v.p[i] - '0');
	}
	*out = n;
	return 0;
}

static int
is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A mailto: URI (RFC 6068) whose addr-spec has a valid domain: "mailto:" local "@" domain
 * ["?" hfields], RFC 3986 characters only, percent-encodings well-formed. The DMARC separators
 * ',' and ';' cannot occur (they split the list). Returns 0 if usable. */
static int
check_mailto(struct slice u)
{
	static const char uri_chars[] = "-._~!$&'()*+=:@/?%";
	size_t at = 0, end, i;
	char canon[MG_DMARC_DOMAIN_MAX + 1];
	const char *error;

	if (u.len < 7 || strncasecmp(u.p, "mailto:", 7) != 0)
		return -1;
	for (i = 7; i < u.len; i++) {
		char c = u.p[i];

		if (!is_alpha(c) && !is_digit(c) && strchr(uri_chars, c) == NULL)
			return -1;
		if (c == '%' && (i + 2 >= u.len || !is_hex(u.p[i + 1]) || !is_hex(u.p[i + 2])))
			return -1;
	}
	for (end = 7; end < u.len && u.p[end] != '?'; end++)
		if (u.p[end] == '@')
			at = end;
	if (at <= 7 || at + 1 >= end)
		return -1;
	for (i = at + 1; i < end; i++)
		if (u.p[i] == '%')
			return -1;	/* keep it simple: no encoded domain */
	return mg_dmarc_domain_canon(u.p + at + 1, end - at - 1, canon, sizeof(canon), &error);
}

/* dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ] (§6.4). */
static int
parse_uri(struct slice u, struct mg_dmarc_uri *out)
{
	unsigned long long size = 0, mult = 1;
	size_t bang = u.len;

	for (size_t i = u.len; i > 0; i--) {
		if (u.p[i - 1] == '!') {
			bang = i - 1;
			break;
		}
	}
	if (bang < u.len) {
		struct slice num = { u.p + bang + 1, u.len - bang - 1 };
		char unit = num.len > 0 ? (char)(num.p[num.len - 1] | 0x20) : '\0';

		if (unit == 'k' || unit == 'm' || unit == 'g' || unit == 't') {
			mult = unit == 'k' ? 1ULL << 10 : unit == 'm' ? 1ULL << 20 :
			    unit == 'g' ? 1ULL << 30 : 1ULL << 40;
			num.len--;
		}
		if (parse_uint(num, (~0ULL) / mult, &size) < 0)
			return -1;
		size *= mult;
		u.len = bang;
	}
	if (u.len > MG_DMARC_URI_LEN || check_mailto(u) < 0)
		return -1;
	memcpy(out->uri, u.p, u.len);
	out->uri[u.len] = '\0';
	out->max_size = size;
	return 0;
}

/* rua/ruf: dmarc-uri *(*WSP "," *WSP dmarc-uri). Keeps the usable ones; -1 if none is. */
static int
parse_uris(struct slice v, struct mg_dmarc_uri *uris, int *n, int *dropped)
{
	size_t start = 0;

	for (size_t i = 0; i <= v.len; i++) {
		if (i < v.len && v.p[i] != ',')
			continue;
		struct slice u = trim((struct slice){ v.p + start, i - start });

		start = i + 1;
		if (*n < MG_DMARC_URIS_MAX && parse_uri(u, &uris[*n]) == 0)
			(*n)++;
		else
			(*dropped)++;
	}
	return *n > 0 ? 0 : -1;
}

/* fo: ("0"/"1"/"d"/"s") *(*WSP ":" *WSP ...); rf: Keyword *(*WSP ":" *WSP Keyword). Stored
 * without spaces, lowercase. */
static int
parse_colon_list(struct slice v, int fo, char *out, size_t size)
{
	size_t o = 0, start = 0;

	for (size_t i = 0; i <= v.len; i++) {
		if (i < v.len && v.p[i] != ':')
			continue;
		struct slice item = trim((struct slice){ v.p + start, i - start });

		start = i + 1;
		if (item.len == 0)
			return -1;
		if (fo && (item.len != 1 || strchr("01dsDS", item.p[0]) == NULL))
			return -1;
		for (size_t k = 0; k < item.len; k++)
			if (!is_alpha(item.p[k]) && !is_digit(item.p[k]) && item.p[k] != '-')
				return -1;
		if (o + item.len + (o > 0) >= size)
			return -1;
		if (o > 0)
			out[o++] = ':';
		for (size_t k = 0; k < item.len; k++)
			out[o++] = (char)(is_alpha(item.p[k]) ? item.p[k] | 0x20 : item.p[k]);
	}
	out[o] = '\0';
	return 0;
}

/* Applies one tag; returns -1 if its value is invalid (the tag is then ignored). */
static int
apply_tag(enum tag_id id, struct slice v, struct mg_dmarc_record *r, int *p_bad, int *sp_bad)
{
	unsigned long long n;

	switch (id) {
	case TAG_V:
		return -1;	/* a second v */
	case TAG_P:
		if (parse_policy(v, &r->p) < 0) {
			*p_bad = 1;
			return -1;
		}
		return 0;
	case TAG_SP:
		if (parse_policy(v, &r->sp) < 0) {
			*sp_bad = 1;
			return -1;
		}
		return 0;
	case TAG_PCT:
		if (v.len > 3 || parse_uint(v, 100, &n) < 0)
			return -1;
		r->pct = (int)n;
		return 0;
	case TAG_ADKIM:
		return parse_mode(v, &r->adkim);
	case TAG_ASPF:
		return parse_mode(v, &r->aspf);
	case TAG_RUA:
		return parse_uris(v, r->rua, &r->n_rua, &r->uris_dropped);
	case TAG_RUF:
		return parse_uris(v, r->ruf, &r->n_ruf, &r->uris_dropped);
	case TAG_FO:
		return parse_colon_list(v, 1, r->fo, sizeof(r->fo));
	case TAG_RF:
		return parse_colon_list(v, 0, r->rf, sizeof(r->rf));
	case TAG_RI:
		if (parse_uint(v, 0xffffffffULL, &n) < 0)
			return -1;
		r->ri = (unsigned long)n;
		return 0;
	case TAG_COUNT:
		break;
	}
	return -1;
}

static void
set_defaults(struct mg_dmarc_record *r)
{
	memset(r, 0, sizeof(*r));
	r->pct = 100;
	r->adkim = 'r';
	r->aspf = 'r';
	str_lcpy(r->fo, "0", sizeof(r->fo));
	str_lcpy(r->rf, "afrf", sizeof(r->rf));
	r->ri = 86400;
}

/* One tag-spec "name *WSP = *WSP value" (already trimmed, non-empty). */
static void
parse_tag_spec(struct slice spec, struct mg_dmarc_record *r, unsigned *seen, int *p_bad,
    int *sp_bad)
{
	size_t i = 0;
	struct slice name, value;

	/* tag-name = ALPHA *ALNUMPUNC (RFC 6376 §3.2 tag-list, which DMARC's format follows) */
	while (i < spec.len && (is_alpha(spec.p[i]) || (i > 0 && (is_digit(spec.p[i]) ||
	    spec.p[i] == '_'))))
		i++;
	name = (struct slice){ spec.p, i };
	while (i < spec.len && is_wsp(spec.p[i]))
		i++;
	if (name.len == 0 || i >= spec.len || spec.p[i] != '=') {
		r->ignored++;
		return;
	}
	value = trim((struct slice){ spec.p + i + 1, spec.len - i - 1 });
	for (int id = 0; id < TAG_COUNT; id++) {
		if (!slice_is(name, tag_names[id]))
			continue;
		if (*seen & (1u << id)) {
			r->ignored++;	/* repeated: the first one counts */
			return;
		}
		*seen |= 1u << id;
		if (apply_tag((enum tag_id)id, value, r, p_bad, sp_bad) < 0)
			r->ignored++;
		return;
	}
	r->ignored++;		/* unknown tag (§6.3: MUST be ignored) */
}

int
mg_dmarc_policy_parse(const char *txt, size_t len, struct mg_dmarc_record *out,
    const char **error_r)
{
	unsigned seen = 1u << TAG_V;
	int p_bad = 0, sp_bad = 0;
	size_t start;

	set_defaults(out);
	if (len > MG_DMARC_RECORD_MAX) {
		*error_r = "record too long";
		return -1;
	}
	if (memchr(txt, '\0', len) != NULL) {
		*error_r = "NUL in record";
		return -1;
	}
	if (!mg_dmarc_is_record(txt, len)) {
		*error_r = "not a DMARC record";
		return -1;
	}
	/* the v tag was checked above; tag-specs start after the first ';' */
	for (start = 0; start < len && txt[start] != ';'; start++)
		;
	start++;
	for (size_t i = start; i <= len && start <= len; i++) {
		if (i < len && txt[i] != ';')
			continue;
		struct slice spec = trim((struct slice){ txt + start, i - start });

		start = i + 1;
		if (spec.len > 0)
			parse_tag_spec(spec, out, &seen, &p_bad, &sp_bad);
	}
	if (!(seen & (1u << TAG_P)))
		p_bad = 1;
	if (p_bad || sp_bad) {
		/* §6.6.3 step 6: with a usable rua, act as if "v=DMARC1; p=none" was published
		 * (sp goes; rua, where the reports go, and the other tags stay); without one, no
		 * DMARC processing at all. */
		if (out->n_rua == 0) {
			*error_r = p_bad ? "no valid p tag" : "invalid sp tag";
			return -1;
		}
		out->p = MG_DMARC_POLICY_NONE;
		out->sp = MG_DMARC_POLICY_UNSET;
		out->p_defaulted = 1;
	}
	return 0;
}

const char *
mg_dmarc_policy_name(enum mg_dmarc_policy p)
{
	switch (p) {
	case MG_DMARC_POLICY_NONE: return "none";
	case MG_DMARC_POLICY_QUARANTINE: return "quarantine";
	case MG_DMARC_POLICY_REJECT: return "reject";
	case MG_DMARC_POLICY_UNSET: break;
	}
	return "";
}
