/* DKIM canonicalisation (RFC 6376 §3.4, with errata 3192 on relaxed bodies lacking a final
 * CRLF): header fields into a buffer and the body streamed into a digest, honouring l=. Runs on
 * filter pool threads (ARC verifier) and later in the signer. Input is the peer's message
 * bytes: only read, bounded by the caller's buffer max (headers) and the l= limit (body). */
#include "dkim/canon.h"

#include <string.h>
#include <strings.h>

int
mg_dkim_canon_parse(const char *p, size_t len, enum mg_dkim_canon *hc, enum mg_dkim_canon *bc)
{
	const char *slash = memchr(p, '/', len);
	size_t hlen = slash ? (size_t)(slash - p) : len;
	struct { const char *p; size_t len; enum mg_dkim_canon *out; } part[2] = {
		{ p, hlen, hc },
		{ slash ? slash + 1 : NULL, slash ? len - hlen - 1 : 0, bc },
	};

	*hc = *bc = MG_DKIM_CANON_SIMPLE;
	for (int i = 0; i < 2; i++) {
		if (part[i].p == NULL)
			continue;
		if (part[i].len == 6 && memcmp(part[i].p, "simple", 6) == 0)
			*part[i].out = MG_DKIM_CANON_SIMPLE;
		else if (part[i].len == 7 && memcmp(part[i].p, "relaxed", 7) == 0)
			*part[i].out = MG_DKIM_CANON_RELAXED;
		else
			return -1;
	}
	return 0;
}

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Appends raw[from, to) minus the skip range. */
static int
append_range(struct buf *out, struct slice raw, size_t from, size_t to, struct slice skip)
{
	size_t s0 = skip.p ? (size_t)(skip.p - raw.p) : to, s1 = skip.p ? s0 + skip.len : to;

	if (s0 > from && buf_append(out, raw.p + from, (s0 < to ? s0 : to) - from) < 0)
		return -1;
	if (s1 < to && buf_append(out, raw.p + (s1 > from ? s1 : from), to - (s1 > from ? s1 : from)) < 0)
		return -1;
	return 0;
}

/* relaxed (§3.4.2): lowercase name, unfold, WSP runs to one SP, no WSP at the end of the value
 * or around the colon, then CRLF. The output is never longer than raw + CRLF, so it is written
 * in place after one reservation. */
static int
canon_relaxed(struct slice raw, struct slice skip, struct buf *out)
{
	const char *colon = memchr(raw.p, ':', raw.len);
	size_t i, name_end, s0, s1;
	int pending = 0, started = 0;
	char *o;

	if (colon == NULL || buf_reserve(out, raw.len + 3) < 0)
		return -1;
	o = out->data + out->len;
	name_end = (size_t)(colon - raw.p);
	while (name_end > 0 && is_wsp(raw.p[name_end - 1]))
		name_end--;
	for (i = 0; i < name_end; i++) {
		char c = raw.p[i];
		*o++ = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	*o++ = ':';
	s0 = skip.p ? (size_t)(skip.p - raw.p) : raw.len;
	s1 = skip.p ? s0 + skip.len : raw.len;
	for (i = (size_t)(colon - raw.p) + 1; i < raw.len; i++) {
		char c = raw.p[i];
		if (i >= s0 && i < s1)
			continue;
		if (c == '\r' || c == '\n')
			continue;	/* unfolding; the final CRLF is added below */
		if (is_wsp(c)) {
			pending = started;	/* leading WSP after the colon is dropped */
			continue;
		}
		if (pending)
			*o++ = ' ';
		pending = 0;
		started = 1;
		*o++ = c;
	}
	*o++ = '\r';
	*o++ = '\n';
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	return 0;
}

int
mg_dkim_canon_header(enum mg_dkim_canon c, struct slice raw, struct slice skip, struct buf *out)
{
	if (c == MG_DKIM_CANON_RELAXED)
		return canon_relaxed(raw, skip, out);
	return append_range(out, raw, 0, raw.len, skip);
}

/* ---- body ---- */

static void
flush_out(struct mg_dkim_body *b)
{
	if (b->olen > 0)
		EVP_DigestUpdate(b->md, b->obuf, b->olen);
	b->olen = 0;
}

static void
emit(struct mg_dkim_body *b, const char *p, size_t n)
{
	size_t take = n;

	if (b->limit >= 0)	/* l=: hash only the first limit octets, count them all */
		take = b->total >= b->limit ? 0 : (size_t)(b->limit - b->total) < n ?
		    (size_t)(b->limit - b->total) : n;
	b->total += (long long)n;
	while (take > 0) {
		size_t room = sizeof(b->obuf) - b->olen, k = take < room ? take : room;
		memcpy(b->obuf + b->olen, p, k);
		b->olen += k;
		p += k;
		take -= k;
		if (b->olen == sizeof(b->obuf))
			flush_out(b);
	}
}

int
mg_dkim_body_init(struct mg_dkim_body *b, enum mg_dkim_canon canon, const EVP_MD *md,
    long long limit)
{
	memset(b, 0, offsetof(struct mg_dkim_body, obuf));
	b->canon = canon;
	b->limit = limit;
	if ((b->md = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestInit_ex(b->md, md, NULL) != 1) {
		EVP_MD_CTX_free(b->md);
		b->md = NULL;
		return -1;
	}
	return 0;
}

/* A content octet of the current line: first release withheld empty lines and WSP. */
static void
content(struct mg_dkim_body *b, char c)
{
	if (!b->in_line) {
		for (; b->empty_lines > 0; b->empty_lines--)
			emit(b, "\r\n", 2);
		b->in_line = 1;
	}
	if (b->wsp) {
		emit(b, " ", 1);
		b->wsp = 0;
	}
	emit(b, &c, 1);
}

static void
end_line(struct mg_dkim_body *b)
{
	b->wsp = 0;	/* relaxed: WSP at the end of a line is ignored */
	if (b->in_line)
		emit(b, "\r\n", 2);
	else
		b->empty_lines++;
	b->in_line = 0;
}

void
mg_dkim_body_update(struct mg_dkim_body *b, const char *p, size_t n)
{
	int relaxed = b->canon == MG_DKIM_CANON_RELAXED;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (b->in_line && !b->wsp && !b->cr && c != '\r' && c != '\n' && !(relaxed && is_wsp(c))) {
			/* Fast path: a run of plain line content goes out in one piece. */
			size_t j = i + 1;
			while (j < n && p[j] != '\r' && p[j] != '\n' && !(relaxed && is_wsp(p[j])))
				j++;
			emit(b, p + i, j - i);
			i = j - 1;
			continue;
		}
		if (b->cr) {
			b->cr = 0;
			if (c == '\n') {
				end_line(b);
				continue;
			}
			content(b, '\r');	/* a bare CR is line content */
		}
		if (c == '\r')
			b->cr = 1;
		else if (c == '\n')
			end_line(b);
		else if (relaxed && is_wsp(c)) {
			/* §3.4.4: a WSP run becomes one SP, released only before more content, so
			 * WSP at the end of a line vanishes and a WSP-only line counts as empty. */
			b->wsp = 1;
		} else
			content(b, c);
	}
}

void
mg_dkim_body_abort(struct mg_dkim_body *b)
{
	EVP_MD_CTX_free(b->md);
	b->md = NULL;
}

int
mg_dkim_body_final(struct mg_dkim_body *b, unsigned char *digest, unsigned *dlen,
    long long *total_r)
{
	int ok;

	if (b->cr)
		content(b, '\r');
	b->cr = 0;
	if (b->in_line)
		end_line(b);	/* §3.4.3/§3.4.4: add the missing final CRLF */
	b->wsp = 0;
	if (b->total == 0 && b->canon == MG_DKIM_CANON_SIMPLE)
		emit(b, "\r\n", 2);	/* §3.4.3: an empty body is one CRLF */
	flush_out(b);
	ok = EVP_DigestFinal_ex(b->md, digest, dlen) == 1;
	if (total_r)
		*total_r = b->total;
	mg_dkim_body_abort(b);
	return ok ? 0 : -1;
}
