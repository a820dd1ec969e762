/* url_extract.c: finds URLs in a parsed message (HTML links with their anchor text, bare URLs
 * in the text) and normalises them: scheme and host lower case, IDN host names to A-labels
 * (libidn2, UTS #46 non-transitional), percent-decoded host, IPv4 hosts in any inet_aton form
 * (0x7f.1, 2130706433, 0177.0.0.1) rewritten as dotted quads and flagged, userinfo dropped and
 * flagged, final dots and default ports dropped, fragment dropped, common obfuscations (hxxp,
 * h**p, [.], (dot), [:]//) undone and flagged. Runs on filter pool threads, in tools and in the
 * fuzz target: pure, no I/O, no globals. Input is hostile: at most URL_SCAN_MAX octets of text
 * are scanned, URLs are cut at URL_LEN_MAX, hosts at URL_HOST_MAX, and a message keeps at most
 * URL_PER_MSG_MAX distinct URLs. */
#include <ctype.h>
#include <idn2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filter/url.h"
#include "lib/buf.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

/* ---- obfuscations ---- */

/* Dot spellings undone inside host names: "[.]" "(.)" "{.}" "[dot]" "(dot)" "{dot}". */
static size_t
dot_obfuscation(const char *p, size_t len)
{
	static const char *const forms[] = { "[.]", "(.)", "{.}", "[dot]", "(dot)", "{dot}" };

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		size_t n = strlen(forms[i]);
		if (len >= n && strncasecmp(p, forms[i], n) == 0)
			return n;
	}
	return 0;
}

/* Matches a scheme at p: "http", "https" and the spellings h{tt,xx,**,__}p[s]. Returns the
 * octets consumed up to and including the separator ("://", "[:]//", ":\\\\"), 0 if none.
 * *https_r and *obf_r describe what was found. */
static size_t
scheme_match(const char *p, size_t len, int *https_r, int *obf_r)
{
	size_t i = 0;
	char a, b;

	if (len < 7 || (p[0] != 'h' && p[0] != 'H'))
		return 0;
	a = (char)tolower((unsigned char)p[1]);
	b = (char)tolower((unsigned char)p[2]);
	if (a != b || (a != 't' && a != 'x' && a != '*' && a != '_'))
		return 0;
	if (p[3] != 'p' && p[3] != 'P')
		return 0;
	*obf_r = a != 't';
	i = 4;
	*https_r = 0;
	if (i < len && (p[i] == 's' || p[i] == 'S')) {
		*https_r = 1;
		i++;
	}
	if (len - i >= 3 && memcmp(p + i, "://", 3) == 0)
		return i + 3;
	if (len - i >= 5 && memcmp(p + i, "[:]//", 5) == 0) {
		*obf_r = 1;
		return i + 5;
	}
	if (len - i >= 3 && memcmp(p + i, ":\\\\", 3) == 0) {
		*obf_r = 1;
		return i + 3;
	}
	return 0;
}

/* ---- IPv4 hosts ---- */

static int
ipv4_part(const char *p, size_t len, unsigned long long *v, int *odd)
{
	int base = 10;
	unsigned long long x = 0;

	if (len == 0)
		return -1;
	if (len >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
		len -= 2;
		*odd = 1;
	} else if (len >= 2 && p[0] == '0') {
		base = 8;
		p++;
		len--;
		*odd = 1;
	}
	if (len > 12)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int d;
		if (isdigit((unsigned char)p[i]))
			d = p[i] - '0';
		else if (base == 16 && isxdigit((unsigned char)p[i]))
			d = tolower((unsigned char)p[i]) - 'a' + 10;
		else
			return -1;
		if (d >= base)
			return -1;
		x = x * (unsigned)base + (unsigned)d;
	}
	*v = x;
	return 0;
}

int
url_parse_ipv4(const char *host, size_t len, char *out, int *odd_r)
{
	unsigned long long part[4], addr = 0;
	size_t n = 0, start = 0;
	int odd = 0;

	if (len == 0 || len > 64)
		return -1;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && host[i] != '.')
			continue;
		if (n == 4 || ipv4_part(host + start, i - start, &part[n], &odd) < 0)
			return -1;
		n++;
		start = i + 1;
	}
	for (size_t i = 0; i + 1 < n; i++) {
		if (part[i] > 255)
			return -1;
		addr = (addr << 8) | part[i];
	}
	if (part[n - 1] >= (1ULL << (8 * (5 - n))))
		return -1;
	addr = (addr << (8 * (5 - n))) | part[n - 1];
	if (n != 4)
		odd = 1;
	str_fmt(out, 16, "%llu.%llu.%llu.%llu", (addr >> 24) & 255, (addr >> 16) & 255,
	    (addr >> 8) & 255, addr & 255);
	*odd_r = odd;
	return 0;
}

/* ---- host ---- */

static int
hexval(int c)
{
	if (isdigit(c))
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Copies the host (authority without userinfo and port) to raw, undoing percent-encoding and
 * dot obfuscations. Returns its length or -1 when too long. */
static long
host_unescape(const char *p, size_t len, char *raw, size_t rawsize, unsigned *flags)
{
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		size_t n;
		char c = p[i];

		if ((n = dot_obfuscation(p + i, len - i)) > 0) {
			c = '.';
			*flags |= URL_F_OBFUSCATED;
			i += n;
		} else if (c == '%' && i + 2 < len && hexval((unsigned char)p[i + 1]) >= 0 &&
		    hexval((unsigned char)p[i + 2]) >= 0) {
			c = (char)(hexval((unsigned char)p[i + 1]) * 16 +
			    hexval((unsigned char)p[i + 2]));
			*flags |= URL_F_PCT_HOST;
			i += 3;
		} else {
			i++;
		}
		if (o + 1 >= rawsize)
			return -1;
		raw[o++] = c;
	}
	raw[o] = '\0';
	return (long)o;
}

/* Checks a lower-case ASCII host: labels of [a-z0-9_-], 1-63 octets, 253 in all, at least two
 * labels, the last not all digits (that would be a malformed IPv4 address). */
static int
host_is_valid(const char *h)
{
	size_t len = strlen(h), lab = 0, dots = 0;
	int digits_only = 1;

	if (len == 0 || len > URL_HOST_MAX)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || h[i] == '.') {
			if (lab == 0 || lab > 63)
				return 0;
			if (i < len) {
				dots++;
				lab = 0;
				digits_only = 1;
			}
			continue;
		}
		if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '_')
			return 0;
		if (!isdigit((unsigned char)h[i]))
			digits_only = 0;
		lab++;
	}
	return dots > 0 && !digits_only;
}

/* Turns the raw host into its normal form in out. Returns 0 or -1. */
static int
host_normalise(char *raw, size_t len, char *out, size_t outsize, unsigned *flags)
{
	int non_ascii = 0, odd;
	char ip[16];

	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)raw[i] >= 0x80)
			non_ascii = 1;
		else if ((unsigned char)raw[i] <= 0x20 || raw[i] == 0x7f)
			return -1;
	}
	while (len > 0 && raw[len - 1] == '.')
		raw[--len] = '\0';
	if (len == 0)
		return -1;
	if (non_ascii) {
		char *a = NULL;
		int rc = idn2_to_ascii_8z(raw, &a, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);

		if (rc != IDN2_OK) {
			/* TR46 transitional processing accepts some older spellings */
			rc = idn2_to_ascii_8z(raw, &a, IDN2_TRANSITIONAL | IDN2_NFC_INPUT);
		}
		if (rc != IDN2_OK || a == NULL) {
			free(a);	/* allocated by libidn2 */
			return -1;
		}
		if (str_lcpy(out, a, outsize) >= outsize) {
			free(a);
			return -1;
		}
		free(a);
		*flags |= URL_F_IDN;
	} else if (str_lcpy(out, raw, outsize) >= outsize) {
		return -1;
	}
	str_lower(out);
	len = strlen(out);
	while (len > 0 && out[len - 1] == '.')
		out[--len] = '\0';
	if (strspn(out, "0123456789abcdefx.") == len && url_parse_ipv4(out, len, ip, &odd) == 0) {
		str_lcpy(out, ip, outsize);
		*flags |= URL_F_IP | (odd ? URL_F_IP_ODD : 0);
		return 0;
	}
	if (!host_is_valid(out))
		return -1;
	if (strncmp(out, "xn--", 4) == 0 || strstr(out, ".xn--") != NULL)
		*flags |= URL_F_PUNYCODE;
	return 0;
}

/* ---- the whole URL ---- */

/* Appends path and query (p up to the fragment), percent-encoding octets a browser would. */
static void
path_append(struct buf *b, const char *p, size_t len, size_t *query_off)
{
	int in_query = 0;

	if (len == 0 || (p[0] != '/' && p[0] != '\\'))
		buf_append_char(b, '/');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '#')
			break;
		if (c == '?' && !in_query) {
			in_query = 1;
			*query_off = b->len;
		}
		if (c == '\\' && !in_query)
			c = '/';	/* WHATWG URL: "\" is a path separator in http(s) URLs */
		if (c <= 0x20 || c >= 0x7f)
			buf_printf(b, "%%%02X", c);
		else
			buf_append_char(b, (char)c);
	}
}

void
url_free(struct url *u)
{
	xfree(u->norm);
	xfree(u->anchor);
	u->norm = NULL;
	u->anchor = NULL;
}

/* Splits the authority [userinfo@]host[:port] and normalises its parts into u. */
static int
authority_parse(const char *a, size_t alen, int https, struct url *u, long *port_r)
{
	char raw[URL_HOST_MAX * 4 + 8];
	const char *host = a, *at = NULL;
	size_t hlen;
	long hl, port = https ? 443 : 80;

	for (size_t i = 0; i < alen; i++)
		if (a[i] == '@')
			at = a + i;
	if (at != NULL) {
		u->flags |= URL_F_USERINFO;
		host = at + 1;
	}
	hlen = alen - (size_t)(host - a);
	if (hlen > 0 && host[0] == '[' && (hlen < 3 || host[1] != '.'))
		return -1;	/* IPv6 literal: not scored, not looked up (RFC 3986 §3.2.2) */
	/* port: ":digits" at the end, not inside a dot obfuscation */
	for (size_t i = hlen; i > 0; i--) {
		if (isdigit((unsigned char)host[i - 1]))
			continue;
		if (host[i - 1] == ':') {
			if (i == hlen)
				hlen--;		/* "host:" = default port (RFC 3986 §6.2.3) */
			else {
				char num[8];
				long long x;
				const char *why;
				if (hlen - i >= sizeof(num))
					return -1;
				memcpy(num, host + i, hlen - i);
				num[hlen - i] = '\0';
				if (strnum_ll(num, 0, 65535, &x, &why) < 0)
					return -1;
				port = (long)x;
				hlen = i - 1;
			}
		}
		break;
	}
	if ((hl = host_unescape(host, hlen, raw, sizeof(raw), &u->flags)) < 0)
		return -1;
	if (host_normalise(raw, (size_t)hl, u->host, sizeof(u->host), &u->flags) < 0)
		return -1;
	*port_r = port;
	return 0;
}

int
url_normalise(const char *in, size_t len, struct url *out, const char **error_r)
{
	struct buf b;
	size_t i = 0, alen, consumed;
	int https = 0, obf = 0;
	long port;

	memset(out, 0, sizeof(*out));
	while (len > 0 && isspace((unsigned char)*in)) {
		in++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)in[len - 1]))
		len--;
	if (len > URL_LEN_MAX) {
		len = URL_LEN_MAX;
		out->flags |= URL_F_LONG;
	}
	if ((consumed = scheme_match(in, len, &https, &obf)) > 0) {
		i = consumed;
		if (obf)
			out->flags |= URL_F_OBFUSCATED;
	} else if (len < 5 || strncasecmp(in, "www", 3) != 0 ||
	    (in[3] != '.' && dot_obfuscation(in + 3, len - 3) == 0)) {
		*error_r = "not an http(s) URL";
		return -1;
	}
	while (i < len && (in[i] == '/' || in[i] == '\\'))
		i++;	/* "http:///host" is still host (WHATWG URL special-authority state) */
	for (alen = 0; i + alen < len; alen++) {
		char c = in[i + alen];
		if (c == '/' || c == '?' || c == '#' || c == '\\')
			break;
	}
	if (alen == 0 || authority_parse(in + i, alen, https, out, &port) < 0) {
		*error_r = "no usable host";
		out->flags = 0;
		return -1;
	}
	i += alen;
	buf_init(&b, URL_LEN_MAX + 64);
	buf_printf(&b, "%s://", https ? "https" : "http");
	out->key_off = b.len;
	buf_append_str(&b, out->host);
	if (port != (https ? 443 : 80)) {
		buf_printf(&b, ":%ld", port);
		out->flags |= URL_F_PORT;
	}
	out->query_off = (size_t)-1;
	path_append(&b, in + i, len - i, &out->query_off);
	if (out->query_off == (size_t)-1)
		out->query_off = b.len;
	out->norm = buf_steal(&b);
	buf_free(&b);
	return 0;
}

/* ---- the set ---- */

static unsigned long
str_hash(const char *s)
{
	unsigned long h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

/* Keeps the anchor that says the most: one that names a host beats plain text. */
static void
anchor_merge(struct url *u, const char *anchor)
{
	char host[URL_HOST_MAX + 1];

	if (anchor == NULL || *anchor == '\0')
		return;
	if (u->anchor != NULL && url_text_host(u->anchor, strlen(u->anchor), host, sizeof(host)))
		return;
	if (u->anchor == NULL || url_text_host(anchor, strlen(anchor), host, sizeof(host))) {
		xfree(u->anchor);
		u->anchor = xstrndup(anchor, strnlen(anchor, 1024));
	}
}

int
url_set_add(struct url_set *set, const char *url, size_t len, const char *anchor,
    unsigned extra_flags)
{
	const size_t mask = sizeof(set->slot) / sizeof(set->slot[0]) - 1;
	struct url u;
	const char *err;
	size_t j;

	if (++set->candidates > URL_CANDIDATES_MAX) {
		set->flags |= URL_SET_F_LIMIT;
		return 0;
	}
	if (url_normalise(url, len, &u, &err) < 0)
		return -1;
	u.flags |= extra_flags;
	u.hash = str_hash(u.norm);
	for (j = u.hash & mask; set->slot[j] != 0; j = (j + 1) & mask) {
		struct url *e = &set->v[set->slot[j] - 1];

		if (e->hash == u.hash && strcmp(e->norm, u.norm) == 0) {
			e->flags |= u.flags;
			anchor_merge(e, anchor);
			url_free(&u);
			return 0;
		}
	}
	if (set->n >= URL_PER_MSG_MAX) {
		set->flags |= URL_SET_F_LIMIT;
		url_free(&u);
		return 0;
	}
	if (set->n == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 16;
		set->v = xreallocarray(set->v, set->cap, sizeof(*set->v));
	}
	anchor_merge(&u, anchor);
	set->v[set->n++] = u;
	set->slot[j] = (uint32_t)set->n;	/* at most half the slots are used */
	return 0;
}

void
url_set_free(struct url_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		url_free(&set->v[i]);
	xfree(set->v);
	memset(set, 0, sizeof(*set));
}

/* ---- bare URLs in text ---- */

/* Octets that end a bare URL: white space, controls, and the delimiters RFC 3986 Appendix C
 * suggests around URLs in text. */
static int
url_stop(unsigned char c)
{
	return c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"' || c == '`' ||
	    c == '|' || c == '^';
}

/* Drops trailing punctuation that belongs to the sentence, keeping balanced ) and ]. */
static size_t
trim_trailing(const char *p, size_t len)
{
	while (len > 0) {
		char c = p[len - 1];
		if (strchr(".,;:!?'*", c) != NULL) {
			len--;
			continue;
		}
		if (c == ')' || c == ']' || c == '}') {
			char open = c == ')' ? '(' : c == ']' ? '[' : '{';
			size_t o = 0, cl = 0;
			for (size_t i = 0; i < len; i++) {
				o += p[i] == open;
				cl += p[i] == c;
			}
			if (cl > o) {
				len--;
				continue;
			}
		}
		break;
	}
	return len;
}

static int
word_boundary_before(const char *text, size_t i)
{
	unsigned char c;

	if (i == 0)
		return 1;
	c = (unsigned char)text[i - 1];
	return !isalnum(c) && c != '.' && c != '-' && c != '_' && c != '@' && c != '/';
}

void
url_extract_text(const char *text, size_t len, struct url_set *set)
{
	if (len > URL_SCAN_MAX)
		len = URL_SCAN_MAX;
	for (size_t i = 0; i < len && !(set->flags & URL_SET_F_LIMIT); i++) {
		unsigned char c = (unsigned char)text[i];
		int https, obf;
		size_t e;

		if (c != 'h' && c != 'H' && c != 'w' && c != 'W')
			continue;
		if (!word_boundary_before(text, i))
			continue;
		if ((c == 'h' || c == 'H') && scheme_match(text + i, len - i, &https, &obf) == 0)
			continue;
		if ((c == 'w' || c == 'W') && (len - i < 5 || strncasecmp(text + i, "www", 3) != 0 ||
		    (text[i + 3] != '.' && dot_obfuscation(text + i + 3, len - i - 3) == 0)))
			continue;
		for (e = i; e < len && e - i < URL_LEN_MAX && !url_stop((unsigned char)text[e]); e++)
			;
		e = i + trim_trailing(text + i, e - i);
		(void)url_set_add(set, text + i, e - i, NULL, 0);
		i = e > i ? e - 1 : i;
	}
}

void
url_extract_msg(const struct mime_msg *m, struct url_set *set)
{
	for (size_t i = 0; i < m->n_links; i++) {
		const struct mime_link *l = &m->links[i];
		if (l->url != NULL)
			(void)url_set_add(set, l->url, strlen(l->url), l->anchor,
			    l->from_html ? URL_F_HTML : 0);
	}
	url_extract_text(m->text.data != NULL ? m->text.data : "", m->text.len, set);
}

/* ---- anchor text ---- */

/* File extensions that look like TLDs in anchor texts ("report.pdf") and are not hosts. */
static int
is_file_ext(const char *tld)
{
	static const char *const ext[] = { "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx",
		"jpg", "jpeg", "png", "gif", "txt", "csv", "htm", "html", "php", "asp", "aspx",
		"exe", "js", "css", "xml", "json", "gz", "tar", "rar" };

	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
		if (strcasecmp(tld, ext[i]) == 0)
			return 1;
	return 0;
}

int
url_text_host(const char *s, size_t len, char *host, size_t hostsize)
{
	struct url u;
	const char *err, *tld;
	char raw[URL_HOST_MAX * 4 + 8];
	size_t n = 0;
	unsigned flags = 0;
	long hl;

	while (len > 0 && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	if (len == 0 || len > URL_LEN_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (isspace((unsigned char)s[i]))
			return 0;	/* one token only: "visit paypal.com now" is prose */
	if (url_normalise(s, len, &u, &err) == 0) {
		int ok = !(u.flags & URL_F_IP) && str_lcpy(host, u.host, hostsize) < hostsize;
		url_free(&u);
		return ok;
	}
	while (n < len && s[n] != '/' && s[n] != '?' && s[n] != '#')
		n++;
	if ((hl = host_unescape(s, n, raw, sizeof(raw), &flags)) < 0 ||
	    host_normalise(raw, (size_t)hl, host, hostsize, &flags) < 0 || (flags & URL_F_IP))
		return 0;
	tld = strrchr(host, '.');
	if (tld == NULL || is_file_ext(tld + 1))
		return 0;
	tld++;
	if (strncmp(tld, "xn--", 4) != 0) {
		if (strlen(tld) < 2)
			return 0;
		for (const char *c = tld; *c; c++)
			if (!isalpha((unsigned char)*c))
				return 0;
	}
	return 1;
}
