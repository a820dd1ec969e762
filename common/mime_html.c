/* mime_html.c: HTML to text for the content layers: a small tolerant tokenizer (tags,
 * attributes, character references, comments, script/style skipped), visible text with block
 * elements as line breaks, hidden-text accounting (display:none, visibility:hidden,
 * font-size:0, opacity:0, the hidden attribute, text colour equal to the background) and the
 * links of <a href>, <img src>, <form action>, <area href> with the anchor text. Any thread,
 * pure; the HTML is hostile: element nesting tracked to HTML_STACK_MAX, attributes per tag to
 * HTML_ATTRS_MAX, URL and anchor lengths capped, output bounded by the text buffer and
 * max_links. Never reads past len (the input need not be NUL-terminated). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/mime.h"
#include "common/mime_int.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define HTML_STACK_MAX 64	/* open elements tracked; deeper ones inherit the top's state */
#define HTML_ATTRS_MAX 32	/* attributes read per tag, the rest skipped */
#define HTML_URL_MAX 8192	/* octets of a link kept (longer ones truncated) */
#define HTML_ANCHOR_MAX 512	/* octets of anchor text kept */
#define HTML_COLOR_MAX 24

struct hel {
	char name[16];
	int hidden;		/* display:none and the like: inherited by every descendant */
	int same_color;		/* text colour equals the background here (re-evaluated per element) */
	char fg[HTML_COLOR_MAX], bg[HTML_COLOR_MAX];
};

struct hattr {
	char name[24];
	struct slice val;	/* raw, entities not yet decoded */
};

struct hctx {
	const char *s;
	size_t len, i;
	struct buf *text;
	int full;		/* text's max reached */
	int space;		/* whitespace pending before the next visible character */
	size_t hidden, images;
	struct hel st[HTML_STACK_MAX];
	size_t depth, overflow;
	struct mime_link **links;
	size_t *n_links, max_links;
	int part;
	int in_a;		/* inside <a href>: collecting anchor text */
	struct buf a_url, anchor;
};

/* ---- output ---- */

static int
top_hidden(const struct hctx *h)
{
	return h->depth > 0 && (h->st[h->depth - 1].hidden || h->st[h->depth - 1].same_color);
}

static void
out_bytes(struct hctx *h, const char *p, size_t n)
{
	if (h->full)
		return;
	if (buf_append(h->text, p, n) < 0)
		h->full = 1;
}

/* Visible (non-space) text of n octets: one character or a run of them. */
static void
emit_char(struct hctx *h, const char *p, size_t n)
{
	char last = h->text->len > 0 ? h->text->data[h->text->len - 1] : '\n';

	if (top_hidden(h)) {
		h->hidden += n;
		return;
	}
	if (h->space && last != ' ' && last != '\n') {
		out_bytes(h, " ", 1);
		if (h->in_a)
			(void)buf_append_char(&h->anchor, ' ');
	}
	h->space = 0;
	out_bytes(h, p, n);
	if (h->in_a)
		(void)buf_append(&h->anchor, p, n);
}

static void
emit_break(struct hctx *h)
{
	if (h->text->len > 0 && h->text->data[h->text->len - 1] != '\n')
		out_bytes(h, "\n", 1);
	h->space = 0;
}

static void
emit_cp(struct hctx *h, unsigned long cp)
{
	struct buf b;
	char tmp[8];

	/* Zero-width and soft-hyphen characters split words to fool filters: dropped. */
	if (cp == 0xad || (cp >= 0x200b && cp <= 0x200d) || cp == 0xfeff || cp == 0x2060)
		return;
	if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == 0xa0) {
		h->space = 1;
		return;
	}
	b.data = tmp;
	b.len = 0;
	b.cap = sizeof(tmp);
	b.max = sizeof(tmp) - 1;
	if (mime_utf8_put(&b, cp) == 0)
		emit_char(h, tmp, b.len);
}

/* ---- character references (HTML 5 §13.2.5.72, the common named ones) ---- */

static const struct {
	const char *name;
	unsigned long cp;
} entities[] = {
	{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' },
	{ "nbsp", 0xa0 }, { "copy", 0xa9 }, { "reg", 0xae }, { "trade", 0x2122 },
	{ "hellip", 0x2026 }, { "mdash", 0x2014 }, { "ndash", 0x2013 }, { "lsquo", 0x2018 },
	{ "rsquo", 0x2019 }, { "ldquo", 0x201c }, { "rdquo", 0x201d }, { "bull", 0x2022 },
	{ "euro", 0x20ac }, { "pound", 0xa3 }, { "yen", 0xa5 }, { "cent", 0xa2 },
	{ "laquo", 0xab }, { "raquo", 0xbb }, { "shy", 0xad }, { "zwnj", 0x200c },
	{ "zwj", 0x200d }, { "middot", 0xb7 }, { "deg", 0xb0 }, { "times", 0xd7 },
	{ "eacute", 0xe9 }, { "egrave", 0xe8 }, { "agrave", 0xe0 }, { "aacute", 0xe1 },
	{ "ccedil", 0xe7 }, { "uuml", 0xfc }, { "ouml", 0xf6 }, { "auml", 0xe4 },
	{ "szlig", 0xdf }, { "Uuml", 0xdc }, { "Ouml", 0xd6 }, { "Auml", 0xc4 },
	{ "iexcl", 0xa1 }, { "iquest", 0xbf }, { "ntilde", 0xf1 }, { "oacute", 0xf3 },
	{ "iacute", 0xed }, { "uacute", 0xfa }, { "sect", 0xa7 }, { "para", 0xb6 },
	{ "thinsp", 0x2009 }, { "ensp", 0x2002 }, { "emsp", 0x2003 }, { "rarr", 0x2192 },
};

/* Parses a reference at s[0] == '&'; returns its length and *cp, 0 if not a reference. */
static size_t
entity_parse(const char *s, size_t len, unsigned long *cp)
{
	size_t i = 1, k, n;
	unsigned long v = 0;
	int hex = 0, digits = 0;

	if (i < len && s[i] == '#') {
		i++;
		if (i < len && (s[i] == 'x' || s[i] == 'X')) {
			hex = 1;
			i++;
		}
		for (; i < len && digits < 8; i++, digits++) {
			int d = isdigit((unsigned char)s[i]) ? s[i] - '0' :
			    hex && isxdigit((unsigned char)s[i]) ? (tolower((unsigned char)s[i]) - 'a' + 10) : -1;
			if (d < 0)
				break;
			v = v * (hex ? 16 : 10) + (unsigned long)d;
		}
		if (digits == 0)
			return 0;
		if (i < len && s[i] == ';')
			i++;
		*cp = v == 0 ? 0xfffd : v;
		return i;
	}
	for (n = 0; i + n < len && n < 10 && isalnum((unsigned char)s[i + n]); n++)
		;
	for (k = 0; k < sizeof(entities) / sizeof(entities[0]); k++) {
		if (strlen(entities[k].name) != n || memcmp(entities[k].name, s + 1, n) != 0)
			continue;
		*cp = entities[k].cp;
		return i + n < len && s[i + n] == ';' ? n + 2 : n + 1;
	}
	return 0;
}

/* Appends s with references decoded to out (attribute values). */
static void
decode_refs(const char *s, size_t len, struct buf *out)
{
	size_t i = 0, n;
	unsigned long cp;

	while (i < len) {
		if (s[i] == '&' && (n = entity_parse(s + i, len - i, &cp)) > 0) {
			(void)mime_utf8_put(out, cp);
			i += n;
		} else if (s[i] == '\0' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
			i++;	/* dropped inside URLs (WHATWG URL parser strips tab and newline) */
		else
			(void)buf_append_char(out, s[i++]);
	}
}

/* ---- colours and styles ---- */

/* Normalises a colour value to "#rrggbb" where it can ("white", "#fff", "rgb(255,255,255)"). */
static void
color_norm(const char *v, size_t n, char *out)
{
	char t[HTML_COLOR_MAX];
	size_t i, k = 0;
	unsigned r, g, b;

	for (i = 0; i < n && k + 1 < sizeof(t); i++)
		if (!isspace((unsigned char)v[i]))
			t[k++] = (char)tolower((unsigned char)v[i]);
	t[k] = '\0';
	if (strcmp(t, "white") == 0)
		str_lcpy(t, "#ffffff", sizeof(t));
	else if (strcmp(t, "black") == 0)
		str_lcpy(t, "#000000", sizeof(t));
	else if (k == 4 && t[0] == '#')
		str_fmt(t, sizeof(t), "#%c%c%c%c%c%c", t[1], t[1], t[2], t[2], t[3], t[3]);
	else if (sscanf(t, "rgb(%3u,%3u,%3u)", &r, &g, &b) == 3 && r < 256 && g < 256 && b < 256)
		str_fmt(t, sizeof(t), "#%02x%02x%02x", r, g, b);
	str_lcpy(out, t, HTML_COLOR_MAX);
}

/* Value of CSS property prop in a lower-cased, space-free declaration list, or NULL. */
static const char *
css_get(const char *css, const char *prop, size_t *n_r)
{
	size_t pl = strlen(prop);
	const char *p = css, *e;

	while ((p = strstr(p, prop)) != NULL) {
		if ((p == css || p[-1] == ';' || p[-1] == '{' || p[-1] == '"') && p[pl] == ':') {
			p += pl + 1;
			e = p + strcspn(p, ";!");
			*n_r = (size_t)(e - p);
			return p;
		}
		p += pl;
	}
	return NULL;
}

static int
css_zero(const char *v, size_t n)
{
	return n > 0 && v[0] == '0' && (n == 1 || v[1] != '.' || strspn(v + 2, "0") >= n - 2);
}

/* Applies a style attribute to element e: hidden properties and colours. */
static void
style_apply(struct hel *e, struct slice style)
{
	char css[1024];
	const char *v;
	size_t i, k = 0, n;

	for (i = 0; i < style.len && k + 1 < sizeof(css); i++)
		if (!isspace((unsigned char)style.p[i]))
			css[k++] = (char)tolower((unsigned char)style.p[i]);
	css[k] = '\0';
	if (((v = css_get(css, "display", &n)) != NULL && n >= 4 && memcmp(v, "none", 4) == 0) ||
	    ((v = css_get(css, "visibility", &n)) != NULL && n >= 6 && memcmp(v, "hidden", 6) == 0) ||
	    ((v = css_get(css, "font-size", &n)) != NULL && css_zero(v, n)) ||
	    ((v = css_get(css, "opacity", &n)) != NULL && css_zero(v, n)) ||
	    ((v = css_get(css, "max-height", &n)) != NULL && css_zero(v, n) &&
	    strstr(css, "overflow:hidden") != NULL))
		e->hidden = 1;
	if ((v = css_get(css, "color", &n)) != NULL)
		color_norm(v, n, e->fg);
	if ((v = css_get(css, "background-color", &n)) != NULL ||
	    (v = css_get(css, "background", &n)) != NULL) {
		size_t w = strcspn(v, " ");
		color_norm(v, w < n ? w : n, e->bg);
	}
}

/* ---- links ---- */

static void
link_add(struct hctx *h, int tag, const char *url, size_t ulen, const char *anchor, size_t alen)
{
	struct mime_link *l;
	struct buf u;
	struct slice t;
	size_t n = *h->n_links;

	if (n >= h->max_links)
		return;
	buf_init(&u, HTML_URL_MAX * 4);
	decode_refs(url, ulen > HTML_URL_MAX ? HTML_URL_MAX : ulen, &u);
	t = slice_trim(buf_slice(&u));
	while (t.len > 0 && (t.p[t.len - 1] == '\n' || t.p[t.len - 1] == '\r'))
		t.len--;
	while (t.len > 0 && (t.p[0] == '\n' || t.p[0] == '\r' || t.p[0] == ' ')) {
		t.p++;
		t.len--;
	}
	if (t.len == 0) {
		buf_free(&u);
		return;
	}
	if ((n & (n - 1)) == 0)
		*h->links = xreallocarray(*h->links, n ? n * 2 : 1, sizeof(**h->links));
	l = &(*h->links)[n];
	l->url = slice_dup(t);
	l->anchor = xstrndup(anchor != NULL ? anchor : "", anchor != NULL ? alen : 0);
	l->part = h->part;
	l->from_html = 1;
	l->tag = tag;
	(*h->n_links)++;
	buf_free(&u);
}

static void
anchor_close(struct hctx *h)
{
	struct slice a;

	if (!h->in_a)
		return;
	a = slice_trim(buf_slice(&h->anchor));
	link_add(h, MIME_LINK_A, h->a_url.data != NULL ? h->a_url.data : "", h->a_url.len,
	    a.p != NULL ? a.p : "", a.len);
	h->in_a = 0;
	buf_reset(&h->a_url);
	buf_reset(&h->anchor);
}

/* ---- tags ---- */

static const char *const void_tags[] = { "br", "img", "hr", "meta", "link", "input", "area",
	"base", "col", "embed", "param", "source", "track", "wbr", NULL };
static const char *const block_tags[] = { "p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4",
	"h5", "h6", "table", "blockquote", "pre", "hr", "ul", "ol", "dl", "dt", "dd", "section",
	"article", "header", "footer", "form", "center", "address", "tbody", "thead", NULL };

static int
in_list(const char *const *l, const char *name)
{
	for (; *l != NULL; l++)
		if (strcmp(*l, name) == 0)
			return 1;
	return 0;
}

/* Reads attributes from h->i up to and past the closing '>'. */
static size_t
attrs_read(struct hctx *h, struct hattr *a, size_t max)
{
	const char *s = h->s;
	size_t n = 0, k, v0;
	char q;

	while (h->i < h->len && s[h->i] != '>') {
		if (isspace((unsigned char)s[h->i]) || s[h->i] == '/') {
			h->i++;
			continue;
		}
		for (k = 0; h->i < h->len && !isspace((unsigned char)s[h->i]) && s[h->i] != '=' &&
		    s[h->i] != '>' && s[h->i] != '/'; h->i++)
			if (n < max && k + 1 < sizeof(a[n].name))
				a[n].name[k++] = (char)tolower((unsigned char)s[h->i]);
		if (k == 0 && h->i < h->len && s[h->i] == '=')
			h->i++;	/* stray '=' */
		if (n < max) {
			a[n].name[k] = '\0';
			a[n].val.p = s + h->i;
			a[n].val.len = 0;
		}
		while (h->i < h->len && isspace((unsigned char)s[h->i]))
			h->i++;
		if (k == 0 || h->i >= h->len || s[h->i] != '=') {
			n += n < max && k > 0;
			continue;
		}
		h->i++;
		while (h->i < h->len && isspace((unsigned char)s[h->i]))
			h->i++;
		q = h->i < h->len && (s[h->i] == '"' || s[h->i] == '\'') ? s[h->i++] : 0;
		v0 = h->i;
		while (h->i < h->len && (q ? s[h->i] != q : !isspace((unsigned char)s[h->i]) &&
		    s[h->i] != '>'))
			h->i++;
		if (n < max) {
			a[n].val.p = s + v0;
			a[n].val.len = h->i - v0;
			n++;
		}
		if (q && h->i < h->len)
			h->i++;
	}
	if (h->i < h->len)
		h->i++;
	return n;
}

static const struct slice *
attr_get(const struct hattr *a, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(a[i].name, name) == 0)
			return &a[i].val;
	return NULL;
}

/* Skips raw text up to and past "</name" ... '>' (script, style: their text is not shown). */
static void
skip_raw(struct hctx *h, const char *name)
{
	size_t nl = strlen(name);
	const char *p;

	while (h->i < h->len) {
		p = memchr(h->s + h->i, '<', h->len - h->i);
		if (p == NULL) {
			h->i = h->len;
			return;
		}
		h->i = (size_t)(p - h->s) + 1;
		if (h->i + nl < h->len && h->s[h->i] == '/' &&
		    strncasecmp(h->s + h->i + 1, name, nl) == 0) {
			p = memchr(h->s + h->i, '>', h->len - h->i);
			h->i = p != NULL ? (size_t)(p - h->s) + 1 : h->len;
			return;
		}
	}
}

static void
push(struct hctx *h, const char *name, const struct hattr *a, size_t na)
{
	const struct slice *v;
	struct hel e;

	memset(&e, 0, sizeof(e));
	str_lcpy(e.name, name, sizeof(e.name));
	if (h->depth > 0) {
		e.hidden = h->st[h->depth - 1].hidden;
		memcpy(e.fg, h->st[h->depth - 1].fg, sizeof(e.fg));
		memcpy(e.bg, h->st[h->depth - 1].bg, sizeof(e.bg));
	} else {
		str_lcpy(e.fg, "#000000", sizeof(e.fg));
		str_lcpy(e.bg, "#ffffff", sizeof(e.bg));
	}
	if (attr_get(a, na, "hidden") != NULL)
		e.hidden = 1;
	if ((v = attr_get(a, na, "bgcolor")) != NULL)
		color_norm(v->p, v->len, e.bg);
	if ((v = attr_get(a, na, "color")) != NULL && strcmp(name, "font") == 0)
		color_norm(v->p, v->len, e.fg);
	if ((v = attr_get(a, na, "text")) != NULL && strcmp(name, "body") == 0)
		color_norm(v->p, v->len, e.fg);
	if ((v = attr_get(a, na, "style")) != NULL)
		style_apply(&e, *v);
	e.same_color = strcmp(e.fg, e.bg) == 0 && e.fg[0] == '#';
	if (h->depth == HTML_STACK_MAX) {
		h->overflow++;
		return;
	}
	h->st[h->depth++] = e;
}

static void
pop(struct hctx *h, const char *name)
{
	size_t d;

	if (h->overflow > 0) {
		h->overflow--;
		return;
	}
	for (d = h->depth; d > 0; d--)
		if (strcmp(h->st[d - 1].name, name) == 0) {
			h->depth = d - 1;
			return;
		}
}

static void
tag_links(struct hctx *h, const char *name, const struct hattr *a, size_t na)
{
	const struct slice *v = NULL;
	int tag = 0;

	if (strcmp(name, "a") == 0) {
		anchor_close(h);
		if ((v = attr_get(a, na, "href")) != NULL) {
			h->in_a = 1;
			(void)buf_append(&h->a_url, v->p, v->len > HTML_URL_MAX ? HTML_URL_MAX : v->len);
		}
		return;
	}
	if (strcmp(name, "img") == 0) {
		h->images++;
		v = attr_get(a, na, "src");
		tag = MIME_LINK_IMG;
	} else if (strcmp(name, "form") == 0) {
		v = attr_get(a, na, "action");
		tag = MIME_LINK_FORM;
	} else if (strcmp(name, "area") == 0) {
		v = attr_get(a, na, "href");
		tag = MIME_LINK_AREA;
	}
	if (v != NULL)
		link_add(h, tag, v->p, v->len, "", 0);
}

/* A tag at h->s[h->i] == '<'; returns 0 if it is not markup (the '<' is then text). */
static int
tag(struct hctx *h)
{
	struct hattr a[HTML_ATTRS_MAX];
	char name[16];
	size_t k = 0, na, start = h->i;
	int end = 0;

	h->i++;
	if (h->i < h->len && h->s[h->i] == '/') {
		end = 1;
		h->i++;
	}
	if (h->i >= h->len || !isalpha((unsigned char)h->s[h->i])) {
		h->i = start;
		return 0;
	}
	for (; h->i < h->len && (isalnum((unsigned char)h->s[h->i]) || h->s[h->i] == '-' ||
	    h->s[h->i] == ':'); h->i++)
		if (k + 1 < sizeof(name))
			name[k++] = (char)tolower((unsigned char)h->s[h->i]);
	name[k] = '\0';
	na = attrs_read(h, a, HTML_ATTRS_MAX);
	if (in_list(block_tags, name) || strcmp(name, "td") == 0 || strcmp(name, "th") == 0) {
		if (strcmp(name, "td") == 0 || strcmp(name, "th") == 0)
			h->space = 1;
		else
			emit_break(h);
	}
	if (end) {
		if (strcmp(name, "a") == 0)
			anchor_close(h);
		pop(h, name);
		return 1;
	}
	if (strcmp(name, "script") == 0 || strcmp(name, "style") == 0 ||
	    strcmp(name, "title") == 0 || strcmp(name, "textarea") == 0) {
		skip_raw(h, name);
		return 1;
	}
	tag_links(h, name, a, na);
	if (!in_list(void_tags, name) && (h->i < 2 || h->s[h->i - 2] != '/'))
		push(h, name, a, na);
	return 1;
}

/* Comments, doctype and processing instructions: skipped. Returns 1 if one was skipped. */
static int
markup_decl(struct hctx *h)
{
	const char *p;

	if (h->i + 1 >= h->len || (h->s[h->i + 1] != '!' && h->s[h->i + 1] != '?'))
		return 0;
	if (h->i + 3 < h->len && memcmp(h->s + h->i, "<!--", 4) == 0) {
		p = memmem(h->s + h->i + 4, h->len - h->i - 4, "-->", 3);
		h->i = p != NULL ? (size_t)(p - h->s) + 3 : h->len;
		return 1;
	}
	p = memchr(h->s + h->i, '>', h->len - h->i);
	h->i = p != NULL ? (size_t)(p - h->s) + 1 : h->len;
	return 1;
}

int
mime_html_to_text(const char *html, size_t len, struct buf *text, struct mime_link **links,
    size_t *n_links, size_t max_links, int part, size_t *hidden_len_r)
{
	struct mime_html_stats st;
	int r;

	r = mime_html_convert(html, len, text, links, n_links, max_links, part, &st);
	*hidden_len_r = st.hidden;
	return r;
}

int
mime_html_convert(const char *html, size_t len, struct buf *text, struct mime_link **links,
    size_t *n_links, size_t max_links, int part, struct mime_html_stats *st)
{
	struct hctx h;
	unsigned long cp;
	size_t n, start;

	memset(&h, 0, sizeof(h));
	h.s = html;
	h.len = len;
	h.text = text;
	h.links = links;
	h.n_links = n_links;
	h.max_links = max_links;
	h.part = part;
	buf_init(&h.a_url, HTML_URL_MAX);
	buf_init(&h.anchor, HTML_ANCHOR_MAX);
	start = text->len;
	while (h.i < len && !h.full) {
		char c = html[h.i];
		if (c == '<' && (markup_decl(&h) || tag(&h)))
			continue;
		if (c == '&' && (n = entity_parse(html + h.i, len - h.i, &cp)) > 0) {
			emit_cp(&h, cp);
			h.i += n;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\0') {
			/* NUL in text is a parse error and ignored (HTML §13.2.5.1) */
			h.space |= c != '\0';
			h.i++;
			continue;
		}
		/* a run of ordinary characters goes out in one piece */
		for (n = h.i + 1; n < len && html[n] != '<' && html[n] != '&' && html[n] != ' ' &&
		    html[n] != '\t' && html[n] != '\n' && html[n] != '\r' && html[n] != '\f' &&
		    html[n] != '\0'; n++)
			;
		emit_char(&h, html + h.i, n - h.i);
		h.i = n;
	}
	anchor_close(&h);
	while (text->len > start && (text->data[text->len - 1] == '\n' ||
	    text->data[text->len - 1] == ' '))
		text->data[--text->len] = '\0';
	buf_free(&h.a_url);
	buf_free(&h.anchor);
	st->hidden = h.hidden;
	st->images = h.images;
	return h.full ? -1 : 0;
}
