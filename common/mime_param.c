/* mime_param.c: structured MIME header values: Content-Type "type/subtype" (RFC 2045 §5.1),
 * first tokens (Content-Disposition RFC 2183, Content-Transfer-Encoding), and parameters with
 * RFC 2231 continuations and charset'language'%XX values. Pure, any thread; hostile input:
 * at most PARAM_SEGS_MAX continuation segments per parameter, output bounded by the buffer. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "common/mime_int.h"
#include "lib/str.h"

#define PARAM_SEGS_MAX 64	/* RFC 2231 §3 sets no bound; real names use a handful */

static int
is_tspecial_end(char c)
{
	return c == ';' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '(';
}

static void
lower_copy(const char *s, size_t n, char *out, size_t out_size)
{
	size_t i;

	if (n >= out_size)
		n = out_size - 1;
	for (i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[n] = '\0';
}

static size_t
skip_ws(const char *v, size_t len, size_t i)
{
	while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n'))
		i++;
	return i;
}

int
mime_ctype_parse(const char *v, size_t len, char *type, size_t type_size, char *subtype,
    size_t subtype_size)
{
	size_t i = skip_ws(v, len, 0), t0, t1, s0, s1;

	t0 = i;
	while (i < len && v[i] != '/' && !is_tspecial_end(v[i]))
		i++;
	t1 = i;
	i = skip_ws(v, len, i);
	if (t1 == t0 || i >= len || v[i] != '/')
		return -1;
	i = skip_ws(v, len, i + 1);
	s0 = i;
	while (i < len && !is_tspecial_end(v[i]))
		i++;
	s1 = i;
	if (s1 == s0)
		return -1;
	lower_copy(v + t0, t1 - t0, type, type_size);
	lower_copy(v + s0, s1 - s0, subtype, subtype_size);
	return 0;
}

void
mime_token_first(const char *v, size_t len, char *out, size_t out_size)
{
	size_t i = skip_ws(v, len, 0), s = i;

	while (i < len && !is_tspecial_end(v[i]))
		i++;
	lower_copy(v + s, i - s, out, out_size);
}

struct pseg {
	int idx;		/* continuation number, -1 for the plain "name=" form */
	int ext;		/* "*" form: percent-encoded, segment 0 carries charset'lang' */
	struct slice val;	/* raw value, quotes included */
};

/* Scans one "attr = value" at v[i]; returns the index after it, fills attr and val. */
static size_t
param_next(const char *v, size_t len, size_t i, struct slice *attr, struct slice *val)
{
	size_t a0;

	i = skip_ws(v, len, i);
	a0 = i;
	while (i < len && v[i] != '=' && v[i] != ';')
		i++;
	attr->p = v + a0;
	attr->len = i - a0;
	*attr = slice_trim(*attr);
	val->p = v + i;
	val->len = 0;
	if (i >= len || v[i] == ';')
		return i;
	i = skip_ws(v, len, i + 1);
	val->p = v + i;
	if (i < len && v[i] == '"') {
		for (i++; i < len && v[i] != '"'; i++)
			if (v[i] == '\\' && i + 1 < len)
				i++;
		if (i < len)
			i++;
		val->len = (size_t)(v + i - val->p);
	} else {
		while (i < len && v[i] != ';')
			i++;
		val->len = (size_t)(v + i - val->p);
		*val = slice_trim(*val);
	}
	while (i < len && v[i] != ';')
		i++;
	return i;
}

/* Matches attr against name, name*, name*N, name*N*; fills seg and returns 1 on a match. */
static int
attr_match(struct slice attr, const char *name, struct pseg *seg)
{
	size_t n = strlen(name), i;
	int idx = 0;

	if (attr.len < n || strncasecmp(attr.p, name, n) != 0)
		return 0;
	seg->idx = -1;
	seg->ext = 0;
	if (attr.len == n)
		return 1;
	if (attr.p[n] != '*')
		return 0;
	if (attr.len == n + 1) {
		seg->ext = 1;
		seg->idx = 0;
		return 1;
	}
	for (i = n + 1; i < attr.len && isdigit((unsigned char)attr.p[i]) && idx < 10000; i++)
		idx = idx * 10 + (attr.p[i] - '0');
	if (i == n + 1)
		return 0;
	if (i < attr.len && attr.p[i] == '*' && i + 1 == attr.len)
		seg->ext = 1;
	else if (i != attr.len)
		return 0;
	seg->idx = idx;
	return 1;
}

static int
unquote(struct slice s, struct buf *out)
{
	size_t i;

	if (s.len < 1 || s.p[0] != '"')
		return buf_append(out, s.p, s.len);
	for (i = 1; i < s.len && s.p[i] != '"'; i++) {
		if (s.p[i] == '\\' && i + 1 < s.len)
			i++;
		if (buf_append_char(out, s.p[i]) < 0)
			return -1;
	}
	return 0;
}

static int
hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int
pct_decode(struct slice s, struct buf *out)
{
	size_t i;
	int h, l;

	for (i = 0; i < s.len; i++) {
		if (s.p[i] == '%' && i + 2 < s.len &&
		    (h = hexv(s.p[i + 1])) >= 0 && (l = hexv(s.p[i + 2])) >= 0) {
			if (buf_append_char(out, (char)(h << 4 | l)) < 0)
				return -1;
			i += 2;
		} else if (buf_append_char(out, s.p[i]) < 0)
			return -1;
	}
	return 0;
}

/* Joins the RFC 2231 segments in order (§3: they need not appear in order) and converts the
 * octets from the charset of segment 0 to UTF-8. */
static int
join_2231(struct mime_conv *cv, struct pseg *segs, size_t n, struct buf *out, unsigned *flags)
{
	char charset[64] = "";
	struct buf raw, uq;
	size_t i;
	int want, r = 0, found;

	buf_init(&raw, out->max);
	buf_init(&uq, out->max);
	for (want = 0; r == 0; want++) {
		found = 0;
		for (i = 0; i < n && r == 0; i++) {
			struct slice v = segs[i].val;
			if (segs[i].idx != want)
				continue;
			found = 1;
			if (segs[i].ext && want == 0) {
				const char *q1 = memchr(v.p, '\'', v.len), *q2;
				if (q1 != NULL &&
				    (q2 = memchr(q1 + 1, '\'', v.len - (size_t)(q1 + 1 - v.p))) != NULL) {
					lower_copy(v.p, (size_t)(q1 - v.p), charset, sizeof(charset));
					v.len -= (size_t)(q2 + 1 - v.p);
					v.p = q2 + 1;
				}
			}
			buf_reset(&uq);
			if ((r = unquote(v, &uq)) == 0)
				r = segs[i].ext ? pct_decode(buf_slice(&uq), &raw) :
				    buf_append(&raw, uq.data, uq.len);
			break;
		}
		if (!found)
			break;
	}
	if (r == 0 && raw.len > 0)
		r = mime_to_utf8(cv, charset, raw.data, raw.len, out, flags);
	buf_free(&raw);
	buf_free(&uq);
	return r;
}

int
mime_param_get(struct mime_conv *cv, const char *v, size_t len, const char *name,
    struct buf *out, unsigned *flags)
{
	struct pseg segs[PARAM_SEGS_MAX], seg;
	struct slice attr, val, plain = { NULL, 0 };
	size_t i = 0, n = 0;
	int have_plain = 0, r;
	struct buf uq;

	/* Skip the leading type (or disposition) up to the first ';', or whitespace: mailers
	 * that forget the ';' before a folded parameter still mean it as a parameter. */
	i = skip_ws(v, len, 0);
	while (i < len && v[i] != ';' && v[i] != ' ' && v[i] != '\t' && v[i] != '\r' &&
	    v[i] != '\n')
		i++;
	while (i < len) {
		i = param_next(v, len, i + 1, &attr, &val);
		if (!attr_match(attr, name, &seg))
			continue;
		seg.val = val;
		if (seg.idx < 0) {
			if (!have_plain)
				plain = val;
			have_plain = 1;
		} else if (n < PARAM_SEGS_MAX)
			segs[n++] = seg;
	}
	if (n > 0)
		return join_2231(cv, segs, n, out, flags) < 0 ? -1 : 1;
	if (!have_plain)
		return 0;
	/* Plain form: unquote, then decode RFC 2047 words mailers put there (against §5 rule 3). */
	buf_init(&uq, out->max);
	r = unquote(plain, &uq);
	if (r == 0)
		r = mime_words_decode(cv, uq.data != NULL ? uq.data : "", uq.len, out, flags);
	buf_free(&uq);
	return r < 0 ? -1 : 1;
}
