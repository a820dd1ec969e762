/* mime_parse.c: the MIME structure of a whole message held in memory (RFC 5322 header fields,
 * RFC 2045/2046 entities, multipart, message/rfc822), see common/mime.h. Runs in any thread
 * (the filter's pool workers); the input is hostile and never written to. Limits: parts, depth,
 * header fields and their size, decoded octets per part, text and links per message (struct
 * mime_limits); hitting one sets a flag and the parse goes on with what fits. Recursion depth is
 * bounded by limits.depth (message/rfc822 and multipart nesting both count). */
#include <string.h>
#include <strings.h>

#include "common/mime.h"
#include "common/mime_int.h"
#include "common/rfc5322.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define BOUNDARY_MAX 256	/* RFC 2046 §5.1.1 allows 70; tolerate mailers that exceed it */

struct pctx {
	struct mime_msg *m;
	struct mime_limits lim;
	struct mime_conv cv;
	size_t parts_cap;
};

/* Raw (still folded) values of the structural fields of one entity. */
struct ent_hdr {
	struct slice ctype, cdisp, cte;
};

void
mime_limits_default(struct mime_limits *l)
{
	l->parts = MIME_PARTS_MAX;
	l->depth = MIME_DEPTH_MAX;
	l->headers = MIME_HEADERS_MAX;
	l->header_size = MIME_HEADER_SIZE_MAX;
	l->decoded = MIME_DECODED_MAX;
	l->text = MIME_TEXT_MAX;
	l->links = MIME_LINKS_MAX;
}

/* End of the line at off (index of its LF or len) and the start of the next one. */
static size_t
line_end(const char *p, size_t len, size_t off, size_t *next_r)
{
	const char *nl = memchr(p + off, '\n', len - off);
	size_t e = nl != NULL ? (size_t)(nl - p) : len;

	*next_r = nl != NULL ? e + 1 : len;
	return e;
}

static int
new_part(struct pctx *x, int parent, int depth)
{
	struct mime_msg *m = x->m;
	struct mime_part *pt;

	if (m->n_parts >= x->lim.parts) {
		m->flags |= MIME_F_LIMIT_PARTS;
		return -1;
	}
	if (m->n_parts == x->parts_cap) {
		x->parts_cap = x->parts_cap ? x->parts_cap * 2 : 4;
		m->parts = xreallocarray(m->parts, x->parts_cap, sizeof(*m->parts));
	}
	pt = &m->parts[m->n_parts];
	memset(pt, 0, sizeof(*pt));
	pt->parent = parent;
	pt->depth = depth;
	str_lcpy(pt->type, "text", sizeof(pt->type));
	str_lcpy(pt->subtype, "plain", sizeof(pt->subtype));
	buf_init(&pt->decoded, x->lim.decoded);
	return (int)m->n_parts++;
}

static void
unfold(struct slice v, struct buf *out, unsigned *fl)
{
	size_t i;

	(void)buf_append(out, "", 0);	/* data non-NULL even for an empty value */
	for (i = 0; i < v.len; i++) {
		if (v.p[i] == '\r' || v.p[i] == '\n')
			continue;
		if ((unsigned char)v.p[i] >= 0x80)
			*fl |= MIME_F_8BIT_HEADER;
		if (buf_append_char(out, v.p[i]) < 0) {
			*fl |= MIME_F_LIMIT_HEADERS;
			return;
		}
	}
}

/* Stores one field (name, raw value with folding) in part idx; notes the structural ones. */
static void
field_add(struct pctx *x, int idx, struct slice name, struct slice raw, struct ent_hdr *eh,
    unsigned *fl)
{
	struct mime_part *pt = &x->m->parts[idx];
	struct buf uf, dec;
	struct slice t;

	if (rfc5322_name_is(name, "content-type") && eh->ctype.p == NULL)
		eh->ctype = raw;
	else if (rfc5322_name_is(name, "content-disposition") && eh->cdisp.p == NULL)
		eh->cdisp = raw;
	else if (rfc5322_name_is(name, "content-transfer-encoding") && eh->cte.p == NULL)
		eh->cte = raw;
	if (pt->n_headers >= x->lim.headers) {
		*fl |= MIME_F_LIMIT_HEADERS;
		return;
	}
	buf_init(&uf, x->lim.header_size);
	buf_init(&dec, x->lim.header_size);
	unfold(raw, &uf, fl);
	t = slice_trim(buf_slice(&uf));
	if (mime_words_decode(&x->cv, t.p != NULL ? t.p : "", t.len, &dec, fl) < 0)
		*fl |= MIME_F_LIMIT_HEADERS;
	if ((pt->n_headers & (pt->n_headers - 1)) == 0)
		pt->headers = xreallocarray(pt->headers, pt->n_headers ? pt->n_headers * 2 : 1,
		    sizeof(*pt->headers));
	pt->headers[pt->n_headers].name = slice_dup(name);
	pt->headers[pt->n_headers].value = dec.data != NULL ? buf_steal(&dec) : xstrdup("");
	pt->n_headers++;
	buf_free(&uf);
	buf_free(&dec);
}

/* The boundaries of the enclosing multiparts, innermost last. */
struct bstack {
	const char *b[MIME_DEPTH_MAX + 1];
	size_t len[MIME_DEPTH_MAX + 1];
	size_t n;
};

/* Whether the line p[0..n) starts with "--boundary" for a boundary on the stack; the comparison
 * is a prefix match (RFC 2046 §5.1.1 note to implementors), the innermost boundary first (as
 * Dovecot and the stalwart parser resolve overlapping ones). Returns the stack index + 1 of the
 * match, 0 if none; *close_r says whether "--" follows (the close delimiter). */
static size_t
delim_match(const struct bstack *st, const char *p, size_t n, int *close_r)
{
	size_t i, bl;

	if (st->n == 0 || n < 3 || p[0] != '-' || p[1] != '-')
		return 0;
	for (i = st->n; i > 0; i--) {
		bl = st->len[i - 1];
		if (n >= bl + 2 && memcmp(p + 2, st->b[i - 1], bl) == 0) {
			*close_r = n >= bl + 4 && p[bl + 2] == '-' && p[bl + 3] == '-';
			return i;
		}
	}
	return 0;
}

/* Start of the first line at or after off that is a delimiter of any enclosing boundary, or len. */
static size_t
scan_delim(const struct bstack *st, const char *p, size_t len, size_t off)
{
	size_t e, next;
	int c;

	if (st->n == 0)
		return len;
	while (off < len) {
		e = line_end(p, len, off, &next);
		if (p[off] == '-' && delim_match(st, p + off, e - off, &c) > 0)
			return off;
		off = next;
	}
	return len;
}

/* End of a body that runs from boff to the delimiter line at pos: the line break before a
 * delimiter belongs to it (RFC 2046 §5.1.1); a lone CR ending the input is dropped too. */
static size_t
body_end(const char *p, size_t len, size_t boff, size_t pos)
{
	if (pos == len) {
		if (pos > boff && p[pos - 1] == '\r')
			pos--;
		return pos;
	}
	if (pos > boff && p[pos - 1] == '\n')
		pos--;
	if (pos > boff && p[pos - 1] == '\r')
		pos--;
	return pos;
}

static int
is_field_name(struct slice n)
{
	size_t i;

	if (n.len == 0)
		return 0;
	for (i = 0; i < n.len; i++)
		if ((unsigned char)n.p[i] <= 32 || (unsigned char)n.p[i] >= 127)
			return 0;
	return 1;
}

/* Parses the header section of entity idx at p[0..len); returns the body offset. A line that is
 * neither a field nor a continuation ends the section (flagged): the body starts there; a
 * delimiter line of an enclosing multipart ends the entity (empty body). */
static size_t
parse_headers(struct pctx *x, int idx, const char *p, size_t len, const struct bstack *st,
    struct ent_hdr *eh, unsigned *fl)
{
	struct slice name = { NULL, 0 }, raw = { NULL, 0 };
	size_t off = 0, next, e, le;
	const char *colon;
	int c;

	if (idx == 0 && len >= 5 && memcmp(p, "From ", 5) == 0)
		line_end(p, len, 0, &off);	/* mbox separator line */
	while (off < len) {
		e = line_end(p, len, off, &next);
		le = e > off && p[e - 1] == '\r' ? e - 1 : e;
		if (le == off) {
			off = next;
			break;
		}
		if (p[off] == '-' && delim_match(st, p + off, e - off, &c) > 0)
			break;
		if (p[off] == ' ' || p[off] == '\t') {
			if (name.p != NULL)
				raw.len = (size_t)(p + le - raw.p);
			else
				*fl |= MIME_F_BAD_HEADER;
			off = next;
			continue;
		}
		colon = memchr(p + off, ':', le - off);
		if (colon != NULL) {
			struct slice n = { p + off, (size_t)(colon - (p + off)) };
			while (n.len > 0 && (n.p[n.len - 1] == ' ' || n.p[n.len - 1] == '\t'))
				n.len--;
			if (is_field_name(n)) {
				if (name.p != NULL)
					field_add(x, idx, name, raw, eh, fl);
				name = n;
				raw.p = colon + 1;
				raw.len = (size_t)(p + le - raw.p);
				off = next;
				continue;
			}
		}
		*fl |= MIME_F_BAD_HEADER;
		break;
	}
	if (name.p != NULL)
		field_add(x, idx, name, raw, eh, fl);
	return off;
}

static size_t parse_entity(struct pctx *x, const char *p, size_t len, size_t off, int parent,
    int depth, int in_digest, struct bstack *st);

/* Transfer-decodes a leaf body into part idx's decoded buffer. */
static void
leaf_decode(struct pctx *x, int idx, const char *body, size_t blen, unsigned *fl)
{
	struct mime_part *pt = &x->m->parts[idx];
	int r;

	if (strcmp(pt->encoding, "base64") == 0)
		r = mime_b64_decode(body, blen, &pt->decoded, fl);
	else if (strcmp(pt->encoding, "quoted-printable") == 0)
		r = mime_qp_decode(body, blen, &pt->decoded, fl, 0);
	else {
		if (pt->encoding[0] != '\0' && strcmp(pt->encoding, "7bit") != 0 &&
		    strcmp(pt->encoding, "8bit") != 0 && strcmp(pt->encoding, "binary") != 0)
			*fl |= MIME_F_BAD_ENCODING;
		r = buf_append(&pt->decoded, body, blen);
	}
	if (r < 0) {
		*fl |= MIME_F_LIMIT_SIZE;
		/* Fill up to the limit so what fits is kept even for raw copies. */
		if (pt->decoded.len < pt->decoded.max && strcmp(pt->encoding, "base64") != 0 &&
		    strcmp(pt->encoding, "quoted-printable") != 0)
			(void)buf_append(&pt->decoded, body, pt->decoded.max - pt->decoded.len);
		pt->decoded_total = strcmp(pt->encoding, "base64") == 0 ? blen / 4 * 3 : blen;
	} else
		pt->decoded_total = pt->decoded.len;
}

/* Appends a text leaf (plain or HTML) to the message text as UTF-8. */
static void
leaf_text(struct pctx *x, int idx, int html, unsigned *fl)
{
	struct mime_msg *m = x->m;
	struct mime_part *pt = &m->parts[idx];
	struct mime_html_stats hs;
	struct buf u;
	size_t start, room;

	if (m->text.len > 0 && buf_append_char(&m->text, '\n') < 0) {
		*fl |= MIME_F_LIMIT_SIZE;
		return;
	}
	start = m->text.len;
	buf_init(&u, pt->decoded.len * 3 + 16);
	if (mime_to_utf8(&x->cv, pt->charset, pt->decoded.data != NULL ? pt->decoded.data : "",
	    pt->decoded.len, &u, fl) < 0)
		*fl |= MIME_F_LIMIT_SIZE;
	if (html) {
		if (mime_html_convert(u.data != NULL ? u.data : "", u.len, &m->text, &m->links,
		    &m->n_links, x->lim.links, idx, &hs) < 0)
			*fl |= MIME_F_LIMIT_SIZE;
		m->html_text_len += m->text.len - start;
		m->html_hidden_len += hs.hidden;
		m->html_images += hs.images;
		m->html_src_len += u.len;
	} else {
		room = m->text.max - m->text.len;
		if (u.len > room)
			*fl |= MIME_F_LIMIT_SIZE;
		(void)buf_append(&m->text, u.data, u.len > room ? room : u.len);
	}
	buf_free(&u);
	pt = &m->parts[idx];
	pt->text_off = start;
	pt->text_len = m->text.len - start;
}

/* A leaf body: transfer-decoded, counted, and text/plain or text/html (or, as_text, any type)
 * appended to the message text. */
static void
parse_leaf(struct pctx *x, int idx, const char *body, size_t blen, unsigned *fl, int as_text)
{
	struct mime_msg *m = x->m;
	struct mime_part *pt;
	int html, plain;

	leaf_decode(x, idx, body, blen, fl);
	pt = &m->parts[idx];
	if (pt->is_attachment)
		m->attachments++;
	if (strcmp(pt->type, "image") == 0)
		m->images++;
	html = strcmp(pt->type, "text") == 0 && strcmp(pt->subtype, "html") == 0;
	plain = strcmp(pt->type, "text") == 0 && !html && (strcmp(pt->subtype, "plain") == 0 ||
	    strcmp(pt->subtype, "enriched") == 0 || strcmp(pt->subtype, "rfc822-headers") == 0);
	plain = plain || (as_text && !html);
	if (pt->is_attachment || (!html && !plain))
		return;
	if (html)
		m->html_parts++;
	else
		m->text_parts++;
	leaf_text(x, idx, html, fl);
}

/* Parses the body parts of multipart idx whose body starts at boff; returns where the multipart
 * ends (a delimiter line of an enclosing boundary, or len) and the number of body parts found. */
static size_t
parse_multipart(struct pctx *x, int idx, const char *p, size_t len, size_t boff,
    struct bstack *st, const char *b, size_t *n_r, unsigned *fl)
{
	int depth = x->m->parts[idx].depth, close, digest;
	size_t top, off, e, next, m;

	digest = strcmp(x->m->parts[idx].subtype, "digest") == 0;
	st->b[st->n] = b;
	st->len[st->n++] = strlen(b);
	top = st->n;
	*n_r = 0;
	off = scan_delim(st, p, len, boff);	/* the preamble is ignored (§5.1.1) */
	while (off < len) {
		e = line_end(p, len, off, &next);
		m = delim_match(st, p + off, e - off, &close);
		if (m != top)
			break;	/* an enclosing boundary: this one was never closed */
		if (close) {
			st->n--;	/* the epilogue runs to the next enclosing delimiter */
			return scan_delim(st, p, len, next);
		}
		if (next >= len)
			break;	/* a delimiter ending the input opens no part */
		off = parse_entity(x, p, len, next, idx, depth + 1, digest, st);
		(*n_r)++;
	}
	*fl |= MIME_F_BAD_BOUNDARY;
	st->n--;
	return off;
}

/* A message/rfc822 (or message/global) body parsed as a nested message; returns its end. */
static size_t
parse_nested(struct pctx *x, int idx, const char *p, size_t len, size_t boff,
    struct bstack *st, unsigned *fl)
{
	struct mime_part *pt = &x->m->parts[idx];
	int depth = pt->depth;
	struct bstack none;
	size_t end;
	struct buf dec;

	if (strcmp(pt->encoding, "base64") != 0 && strcmp(pt->encoding, "quoted-printable") != 0)
		return parse_entity(x, p, len, boff, idx, depth + 1, 0, st);
	end = scan_delim(st, p, len, boff);
	buf_init(&dec, x->lim.decoded);
	if (strcmp(pt->encoding, "base64") == 0 ?
	    mime_b64_decode(p + boff, body_end(p, len, boff, end) - boff, &dec, fl) < 0 :
	    mime_qp_decode(p + boff, body_end(p, len, boff, end) - boff, &dec, fl, 0) < 0)
		*fl |= MIME_F_LIMIT_SIZE;
	none.n = 0;
	(void)parse_entity(x, dec.data != NULL ? dec.data : "", dec.len, 0, idx, depth + 1, 0,
	    &none);
	buf_free(&dec);
	return end;
}

/* Sets type, charset, encoding, filename and is_attachment of part idx from its fields. */
static void
classify(struct pctx *x, int idx, const struct ent_hdr *eh, int in_digest, unsigned *fl)
{
	struct mime_part *pt = &x->m->parts[idx];
	char disp[32] = "";
	struct buf v, fn;

	buf_init(&v, x->lim.header_size);
	buf_init(&fn, x->lim.header_size);
	if (in_digest) {	/* RFC 2046 §5.1.5: the default in a digest is message/rfc822 */
		str_lcpy(pt->type, "message", sizeof(pt->type));
		str_lcpy(pt->subtype, "rfc822", sizeof(pt->subtype));
	}
	if (eh->ctype.p != NULL) {
		unfold(eh->ctype, &v, fl);
		if (mime_ctype_parse(v.data, v.len, pt->type, sizeof(pt->type), pt->subtype,
		    sizeof(pt->subtype)) < 0) {
			str_lcpy(pt->type, "text", sizeof(pt->type));
			str_lcpy(pt->subtype, "plain", sizeof(pt->subtype));
		}
		if (mime_param_get(&x->cv, v.data, v.len, "charset", &fn, fl) > 0 && fn.len > 0) {
			str_lcpy(pt->charset, fn.data, sizeof(pt->charset));
			str_lower(pt->charset);
		}
		buf_reset(&fn);
		if (mime_param_get(&x->cv, v.data, v.len, "name", &fn, fl) > 0 && fn.len > 0)
			pt->filename = buf_steal(&fn);
	}
	if (eh->cte.p != NULL) {
		buf_reset(&v);
		unfold(eh->cte, &v, fl);
		mime_token_first(v.data, v.len, pt->encoding, sizeof(pt->encoding));
	}
	if (eh->cdisp.p != NULL) {
		buf_reset(&v);
		unfold(eh->cdisp, &v, fl);
		mime_token_first(v.data, v.len, disp, sizeof(disp));
		buf_reset(&fn);
		if (mime_param_get(&x->cv, v.data, v.len, "filename", &fn, fl) > 0 && fn.len > 0) {
			xfree(pt->filename);
			pt->filename = buf_steal(&fn);
		}
	}
	pt->is_attachment = strcmp(disp, "attachment") == 0 ||
	    (pt->filename != NULL && strcmp(pt->type, "text") != 0);
	buf_free(&v);
	buf_free(&fn);
}

/* Multipart idx: its body parts, or, without a usable boundary, its body read as plain text. */
static size_t
entity_multipart(struct pctx *x, int idx, const char *p, size_t len, size_t boff,
    struct bstack *st, const struct ent_hdr *eh, unsigned *fl)
{
	struct buf v, bnd;
	size_t end = len, n = 0;
	int have;

	buf_init(&v, x->lim.header_size);
	buf_init(&bnd, BOUNDARY_MAX);
	unfold(eh->ctype, &v, fl);
	have = mime_param_get(&x->cv, v.data != NULL ? v.data : "", v.len, "boundary", &bnd,
	    fl) > 0 && bnd.len > 0;
	if (have)
		end = parse_multipart(x, idx, p, len, boff, st, bnd.data, &n, fl);
	else {
		*fl |= MIME_F_BAD_BOUNDARY;
		end = scan_delim(st, p, len, boff);
	}
	buf_free(&v);
	buf_free(&bnd);
	if (n == 0)	/* no body part: keep the text (spam hides words this way) */
		parse_leaf(x, idx, p + boff, body_end(p, len, boff, end) - boff, fl, 1);
	return end;
}

static size_t
parse_entity(struct pctx *x, const char *p, size_t len, size_t off, int parent, int depth,
    int in_digest, struct bstack *st)
{
	struct ent_hdr eh;
	size_t boff, end;
	unsigned fl = 0;
	int idx, nested;
	struct mime_part *pt;

	if ((idx = new_part(x, parent, depth)) < 0)
		return scan_delim(st, p, len, off);
	memset(&eh, 0, sizeof(eh));
	boff = off + parse_headers(x, idx, p + off, len - off, st, &eh, &fl);
	classify(x, idx, &eh, in_digest, &fl);
	pt = &x->m->parts[idx];
	nested = strcmp(pt->type, "message") == 0 && (strcmp(pt->subtype, "rfc822") == 0 ||
	    strcmp(pt->subtype, "global") == 0);
	if ((nested || strcmp(pt->type, "multipart") == 0) && (size_t)depth + 1 > x->lim.depth) {
		fl |= MIME_F_LIMIT_DEPTH;
		end = scan_delim(st, p, len, boff);
		parse_leaf(x, idx, p + boff, body_end(p, len, boff, end) - boff, &fl, 0);
	} else if (strcmp(pt->type, "multipart") == 0)
		end = entity_multipart(x, idx, p, len, boff, st, &eh, &fl);
	else if (nested)
		end = parse_nested(x, idx, p, len, boff, st, &fl);
	else {
		end = scan_delim(st, p, len, boff);
		parse_leaf(x, idx, p + boff, body_end(p, len, boff, end) - boff, &fl, 0);
	}
	x->m->parts[idx].flags |= fl;
	x->m->flags |= fl;
	return end;
}

struct mime_msg *
mime_parse(const char *msg, size_t len, const struct mime_limits *l)
{
	struct mime_msg *m = xcalloc(1, sizeof(*m));
	struct pctx x;
	struct bstack st;
	const char *v;

	memset(&x, 0, sizeof(x));
	x.m = m;
	if (l != NULL)
		x.lim = *l;
	else
		mime_limits_default(&x.lim);
	if (x.lim.depth < 1)
		x.lim.depth = 1;
	buf_init(&m->text, x.lim.text);
	mime_conv_init(&x.cv);
	if (x.lim.depth > MIME_DEPTH_MAX)
		x.lim.depth = MIME_DEPTH_MAX;	/* the boundary stack is sized for it */
	st.n = 0;
	(void)parse_entity(&x, msg != NULL ? msg : "", msg != NULL ? len : 0, 0, -1, 0, 0, &st);
	mime_conv_fini(&x.cv);
	if (m->n_parts > 0) {
		if ((v = mime_header_get(m, 0, "subject")) != NULL)
			m->subject = xstrdup(v);
		if ((v = mime_header_get(m, 0, "from")) != NULL)
			m->from = xstrdup(v);
	}
	return m;
}

void
mime_msg_free(struct mime_msg **mp)
{
	struct mime_msg *m = *mp;
	size_t i, j;

	if (m == NULL)
		return;
	for (i = 0; i < m->n_parts; i++) {
		struct mime_part *pt = &m->parts[i];
		for (j = 0; j < pt->n_headers; j++) {
			xfree(pt->headers[j].name);
			xfree(pt->headers[j].value);
		}
		xfree(pt->headers);
		xfree(pt->filename);
		buf_free(&pt->decoded);
	}
	xfree(m->parts);
	for (i = 0; i < m->n_links; i++) {
		xfree(m->links[i].url);
		xfree(m->links[i].anchor);
	}
	xfree(m->links);
	buf_free(&m->text);
	xfree(m->subject);
	xfree(m->from);
	xfree(m);
	*mp = NULL;
}

const char *
mime_header_get(const struct mime_msg *m, size_t p, const char *name)
{
	const struct mime_part *pt;
	size_t i;

	if (m == NULL || p >= m->n_parts)
		return NULL;
	pt = &m->parts[p];
	for (i = 0; i < pt->n_headers; i++)
		if (strcasecmp(pt->headers[i].name, name) == 0)
			return pt->headers[i].value;
	return NULL;
}
