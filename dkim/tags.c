/* DKIM tag=value list parsing (RFC 6376 §3.2) and the value syntaxes DKIM and ARC build on it:
 * base64 with FWS (§2.4), h= header-name lists (§3.5), domain and selector names. Runs on filter
 * pool threads inside the DKIM/ARC verifiers and in fuzz targets. Input is the peer's header
 * bytes (or a DNS TXT record): nothing is trusted, every parser is bounded by the MG_DKIM_*
 * limits in tags.h, and nothing writes into its input. */
#include "dkim/tags.h"

#include <string.h>
#include <strings.h>
#include "lib/str.h"

/* FWS as it appears in a stored header value: WSP and the CR LF of folded lines. */
static int
is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
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

/* VALCHAR = %x21-3A / %x3C-7E (RFC 6376 §3.2): printable ASCII except ';'. */
static int
is_valchar(char c)
{
	unsigned char u = (unsigned char)c;
	return u >= 0x21 && u <= 0x7e && u != ';';
}

static size_t
skip_fws(struct slice in, size_t i)
{
	while (i < in.len && is_fws(in.p[i]))
		i++;
	return i;
}

/* One tag-spec starting at *pos (after leading FWS): name, "=", value up to ';' or the end. */
static int
parse_spec(struct slice in, size_t *pos, struct mg_dkim_tag *tag, const char **error_r)
{
	size_t i = *pos, start = i, vstart, vend;

	if (i >= in.len || !is_alpha(in.p[i])) {
		*error_r = i < in.len && in.p[i] == ';' ? "empty tag-spec" : "invalid tag name";
		return -1;
	}
	while (i < in.len && (is_alpha(in.p[i]) || is_digit(in.p[i]) || in.p[i] == '_'))
		i++;
	if (i - start > MG_DKIM_TAG_NAME_MAX) {
		*error_r = "tag name too long";
		return -1;
	}
	tag->name = (struct slice){ in.p + start, i - start };
	i = skip_fws(in, i);
	if (i >= in.len || in.p[i] != '=') {
		*error_r = i < in.len && in.p[i] != ';' ? "invalid tag name" : "tag without '='";
		return -1;
	}
	i = skip_fws(in, i + 1);
	vstart = vend = i;
	while (i < in.len && in.p[i] != ';') {
		if (is_valchar(in.p[i]))
			vend = i + 1;
		else if (!is_fws(in.p[i])) {
			*error_r = "invalid character in tag value";
			return -1;
		}
		i++;
	}
	tag->value = (struct slice){ in.p + vstart, vend - vstart };
	*pos = i;
	return 0;
}

int
mg_dkim_tags_parse(struct slice in, struct mg_dkim_tags *out, const char **error_r)
{
	size_t i = 0;

	out->n = 0;
	if (in.len > MG_DKIM_TAGLIST_MAX) {
		*error_r = "tag-list too long";
		return -1;
	}
	for (;;) {
		i = skip_fws(in, i);
		if (i >= in.len) {
			if (out->n == 0) {
				*error_r = "empty tag-list";
				return -1;
			}
			return 0;	/* the end, possibly after a trailing ';' */
		}
		if (out->n == MG_DKIM_TAGS_MAX) {
			*error_r = "too many tags";
			return -1;
		}
		struct mg_dkim_tag *t = &out->tag[out->n];
		if (parse_spec(in, &i, t, error_r) < 0)
			return -1;
		for (size_t k = 0; k < out->n; k++) {
			if (out->tag[k].name.len == t->name.len &&
			    memcmp(out->tag[k].name.p, t->name.p, t->name.len) == 0) {
				*error_r = "duplicate tag";
				return -1;
			}
		}
		out->n++;
		if (i >= in.len)
			return 0;
		i++;	/* the ';' */
	}
}

const struct slice *
mg_dkim_tags_get(const struct mg_dkim_tags *t, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < t->n; i++)
		if (t->tag[i].name.len == n && memcmp(t->tag[i].name.p, name, n) == 0)
			return &t->tag[i].value;
	return NULL;
}


int
mg_dkim_b64_decode(struct slice in, unsigned char *out, size_t out_max, size_t *len_r,
    const char **error_r)
{
	unsigned acc = 0;
	size_t n = 0, nchars = 0, pad = 0;

	for (size_t i = 0; i < in.len; i++) {
		char c = in.p[i];
		int v;
		if (is_fws(c))
			continue;
		if (c == '=') {
			pad++;
			nchars++;
			continue;
		}
		if (pad > 0 || (v = str_base64_digit(c)) < 0) {
			*error_r = pad > 0 ? "base64 data after padding" : "invalid base64 character";
			return -1;
		}
		acc = (acc << 6) | (unsigned)v;
		nchars++;
		if (nchars % 4 == 0) {
			if (n + 3 > out_max)
				goto too_long;
			out[n++] = (unsigned char)(acc >> 16);
			out[n++] = (unsigned char)(acc >> 8);
			out[n++] = (unsigned char)acc;
			acc = 0;
		}
	}
	if (nchars % 4 != 0 || pad > 2) {
		*error_r = "base64 length not a multiple of 4";
		return -1;
	}
	if (pad > 0) {
		/* The last quantum held 4 - pad characters: emit its 3 - pad octets. */
		size_t keep = 3 - pad;
		acc <<= 6 * pad;
		if (n + keep > out_max)
			goto too_long;
		out[n++] = (unsigned char)(acc >> 16);
		if (keep == 2)
			out[n++] = (unsigned char)(acc >> 8);
	}
	*len_r = n;
	return 0;
too_long:
	*error_r = "base64 value too long";
	return -1;
}

int
mg_dkim_strip_fws(struct slice v, char *out, size_t outsize)
{
	size_t n = 0;

	for (size_t i = 0; i < v.len; i++) {
		if (is_fws(v.p[i]))
			continue;
		if (n + 1 >= outsize)
			return -1;
		out[n++] = v.p[i];
	}
	if (outsize == 0)
		return -1;
	out[n] = '\0';
	return 0;
}

/* ftext (RFC 5322 §3.6.8): printable US-ASCII except colon. */
static int
is_ftext(char c)
{
	unsigned char u = (unsigned char)c;
	return u >= 33 && u <= 126 && u != ':';
}

int
mg_dkim_hlist_split(struct slice v, struct slice *names, size_t max, const char **error_r)
{
	size_t i = 0, n = 0;

	for (;;) {
		i = skip_fws(v, i);
		size_t start = i;
		while (i < v.len && is_ftext(v.p[i]))
			i++;
		if (i > start) {
			if (n == max) {
				*error_r = "too many names in h=";
				return -1;
			}
			names[n++] = (struct slice){ v.p + start, i - start };
		}
		i = skip_fws(v, i);
		if (i >= v.len)
			return (int)n;
		if (v.p[i] != ':') {
			*error_r = "invalid character in h=";
			return -1;
		}
		i++;
	}
}

static int
is_dotted(struct slice v, int allow_underscore)
{
	size_t label = 0;

	if (v.len == 0 || v.len > 253)
		return 0;
	for (size_t i = 0; i < v.len; i++) {
		char c = v.p[i];
		if (c == '.') {
			if (label == 0 || v.p[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!is_alpha(c) && !is_digit(c) && c != '-' && !(allow_underscore && c == '_'))
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && v.p[v.len - 1] != '-';
}

int
mg_dkim_is_domain(struct slice v)
{
	/* A trailing dot or a single label is not a usable signing domain. */
	return is_dotted(v, 1) && memchr(v.p, '.', v.len) != NULL;
}

int
mg_dkim_is_selector(struct slice v)
{
	return is_dotted(v, 1);
}

int
mg_dkim_tag_ull(struct slice v, unsigned long long *out_r)
{
	unsigned long long x = 0;

	if (v.len == 0 || v.len > 12)
		return -1;
	for (size_t i = 0; i < v.len; i++) {
		if (!is_digit(v.p[i]))
			return -1;
		x = x * 10 + (unsigned long long)(v.p[i] - '0');
	}
	*out_r = x;
	return 0;
}
