/* rewrite.c: the header_rewrite engine (see rewrite.h for the rule semantics). Runs in smtpd on
 * the main thread, in unit tests and in the fuzz target; pure functions over their arguments.
 * The header bytes are untrusted: fields are found with RFC 5322 §2.2 syntax (field name of
 * ftext, optional WSP before the colon as in §4.5.3, continuation lines starting with WSP); the
 * input is bounded by the caller (MSG_HEADER_SECTION_MAX) and the output by REWRITE_OUT_MAX.
 * Rules are trusted (validated by config/values.c) but re-checked defensively. */
#include "smtpd/rewrite.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/limits.h"
#include "lib/xalloc.h"

enum rw_kind { RW_BAD, RW_ADD, RW_REMOVE, RW_REPLACE, RW_SENDER };

struct rw_rule {
	enum rw_kind kind;
	struct slice name;	/* field name (add/remove/replace) */
	struct slice field;	/* "Name: value" as written (add/replace) */
	struct slice old, new;	/* sender: addresses, or domains without '@' */
	int domain;		/* sender: @domain form */
};

struct rw_field {
	struct slice raw;	/* borrowed: the field in the input, continuation lines and LF included */
	size_t name_len;
	char *own;		/* replacement text (owned), or NULL for raw */
	size_t own_len;
	int deleted;
};

static size_t
ftext_len(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && (unsigned char)p[i] >= 33 && (unsigned char)p[i] <= 126 && p[i] != ':')
		i++;
	return i;
}

static struct slice
word(const char **pp)
{
	const char *p = *pp + strspn(*pp, " \t");
	size_t n = strcspn(p, " \t");

	*pp = p + n;
	return (struct slice){ p, n };
}

static void
rule_parse(const char *text, struct rw_rule *r)
{
	const char *p = text;
	struct slice kw = word(&p);

	memset(r, 0, sizeof(*r));
	p += strspn(p, " \t");
	if (slice_eq_ci(kw, "remove")) {
		r->name = word(&p);
		r->kind = r->name.len > 0 ? RW_REMOVE : RW_BAD;
	} else if (slice_eq_ci(kw, "add") || slice_eq_ci(kw, "replace")) {
		size_t n = ftext_len(p, strlen(p));

		r->name = (struct slice){ p, n };
		r->field = slice_from_str(p);
		/* RFC 5322 §2.1.1: the resulting line must fit in 998 octets. */
		if (n > 0 && p[n] == ':' && r->field.len <= SMTP_TEXT_LINE_MAX - 2)
			r->kind = slice_eq_ci(kw, "add") ? RW_ADD : RW_REPLACE;
	} else if (slice_eq_ci(kw, "sender")) {
		r->old = word(&p);
		r->new = word(&p);
		if (r->old.len > 1 && r->new.len > 1 && (r->old.p[0] == '@') == (r->new.p[0] == '@')) {
			r->domain = r->old.p[0] == '@';
			if (r->domain) {
				r->old.p++, r->old.len--;
				r->new.p++, r->new.len--;
			}
			r->kind = RW_SENDER;
		}
	}
}

/* Splits in into fields; returns how many, with *tail_r = offset of the first byte after them. */
static size_t
split_fields(struct slice in, struct rw_field *f, size_t max, size_t *tail_r)
{
	size_t off = 0, n = 0;

	while (off < in.len) {
		const char *p = in.p + off, *nl = memchr(p, '\n', in.len - off);
		size_t len = nl ? (size_t)(nl - p) + 1 : in.len - off, name;

		if ((p[0] == ' ' || p[0] == '\t') && n > 0) {
			f[n - 1].raw.len += len;	/* continuation line */
			off += len;
			continue;
		}
		name = ftext_len(p, len);
		{
			size_t c = name;

			while (c < len && (p[c] == ' ' || p[c] == '\t'))
				c++;
			if (name == 0 || c >= len || p[c] != ':' || n == max)
				break;
		}
		f[n].raw = (struct slice){ p, len };
		f[n].name_len = name;
		f[n].own = NULL;
		f[n].deleted = 0;
		n++;
		off += len;
	}
	*tail_r = off;
	return n;
}

static struct slice field_text(const struct rw_field *f);

/* The name is read from the current text (own after a replace or add, else raw). */
static int
field_is(const struct rw_field *f, struct slice name)
{
	return f->name_len == name.len && strncasecmp(field_text(f).p, name.p, name.len) == 0;
}

static int
field_is_str(const struct rw_field *f, const char *name)
{
	return field_is(f, slice_from_str(name));
}

static void
field_set(struct rw_field *f, const char *p, size_t n)
{
	xfree(f->own);
	f->own = xmalloc(n + 1);
	memcpy(f->own, p, n);
	f->own[n] = '\0';
	f->own_len = n;
}

static struct slice
field_text(const struct rw_field *f)
{
	return f->own ? (struct slice){ f->own, f->own_len } : f->raw;
}

/* RFC 5322 §3.2.3 atext, plus '.' for dot-atom local parts. */
static int
is_local_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL);
}

static int
is_domain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '.';
}

static int
slice_eq_slice_ci(struct slice a, struct slice b)
{
	return a.len == b.len && strncasecmp(a.p, b.p, a.len) == 0;
}

/* Rewrites the addresses in one field's text that a sender rule matches; appends the result to
 * out. Returns 1 if something changed, 0 if not, -1 when out is full. */
static int
rewrite_addrs(const struct rw_rule *r, struct slice t, struct buf *out)
{
	size_t i, last = 0, run = (size_t)-1;
	int quote = 0, depth = 0, changed = 0;

	for (i = 0; i < t.len; i++) {
		unsigned char c = (unsigned char)t.p[i];

		if (quote || depth) {
			if (c == '\\')
				i++;
			else if (quote && c == '"')
				quote = 0;
			else if (!quote && c == '(')
				depth++;
			else if (!quote && c == ')')
				depth--;
			continue;
		}
		if (c == '"' || c == '(') {
			quote = c == '"';
			depth = c == '(';
			run = (size_t)-1;
			continue;
		}
		if (c == '@' && run != (size_t)-1) {
			size_t d = i + 1, e;
			struct slice local = { t.p + run, i - run }, dom;

			while (d < t.len && is_domain_char((unsigned char)t.p[d]))
				d++;
			e = d;
			while (e > i + 1 && t.p[e - 1] == '.')
				e--;
			dom = (struct slice){ t.p + i + 1, e - i - 1 };
			if (dom.len > 0 && (r->domain ? slice_eq_slice_ci(dom, r->old) :
			    (local.len + 1 + dom.len == r->old.len &&
			    slice_eq_slice_ci((struct slice){ local.p, r->old.len }, r->old)))) {
				if (buf_append(out, t.p + last, run - last) < 0)
					return -1;
				if (r->domain) {
					if (buf_append(out, local.p, local.len) < 0 ||
					    buf_append_char(out, '@') < 0 ||
					    buf_append(out, r->new.p, r->new.len) < 0)
						return -1;
				} else if (buf_append(out, r->new.p, r->new.len) < 0)
					return -1;
				last = e;
				changed = 1;
			}
			run = (size_t)-1;
			i = e - 1;
			continue;
		}
		if (is_local_char(c)) {
			if (run == (size_t)-1)
				run = i;
		} else
			run = (size_t)-1;
	}
	if (buf_append(out, t.p + last, t.len - last) < 0)
		return -1;
	return changed;
}

static const char *const sender_fields[] = { "From", "Sender", "Reply-To", "Resent-From",
	"Resent-Sender", NULL };

static int
apply_sender(const struct rw_rule *r, struct rw_field *f, size_t n)
{
	struct buf b;
	int changed = 0;

	buf_init(&b, REWRITE_OUT_MAX);
	for (size_t i = 0; i < n; i++) {
		int hit = 0, rc;

		if (f[i].deleted)
			continue;
		for (int k = 0; sender_fields[k] && !hit; k++)
			hit = field_is_str(&f[i], sender_fields[k]);
		if (!hit)
			continue;
		buf_reset(&b);
		if ((rc = rewrite_addrs(r, field_text(&f[i]), &b)) < 0) {
			buf_free(&b);
			return -1;
		}
		if (rc > 0) {
			field_set(&f[i], b.data, b.len);
			changed = 1;
		}
	}
	buf_free(&b);
	return changed;
}

/* Applies one rule to the fields; returns 1 if it changed something, 0 if not, -1 on overflow. */
static int
apply_rule(const struct rw_rule *r, struct rw_field *f, size_t *n, size_t max)
{
	int changed = 0;

	switch (r->kind) {
	case RW_REMOVE:
		for (size_t i = 0; i < *n; i++)
			if (!f[i].deleted && field_is(&f[i], r->name))
				f[i].deleted = changed = 1;
		return changed;
	case RW_REPLACE:
		for (size_t i = 0; i < *n; i++) {
			if (f[i].deleted || !field_is(&f[i], r->name))
				continue;
			if (changed)
				f[i].deleted = 1;
			else {
				char line[SMTP_TEXT_LINE_MAX + 1];

				memcpy(line, r->field.p, r->field.len);
				memcpy(line + r->field.len, "\r\n", 2);
				field_set(&f[i], line, r->field.len + 2);
				f[i].name_len = r->name.len;
				changed = 1;
			}
		}
		return changed;
	case RW_ADD:
		if (*n == max)
			return -1;
		{
			char line[SMTP_TEXT_LINE_MAX + 1];

			memcpy(line, r->field.p, r->field.len);
			memcpy(line + r->field.len, "\r\n", 2);
			memset(&f[*n], 0, sizeof(f[*n]));
			field_set(&f[*n], line, r->field.len + 2);	/* raw stays empty */
			f[*n].name_len = r->name.len;
			(*n)++;
		}
		return 1;
	case RW_SENDER:
		return apply_sender(r, f, *n);
	default:
		return 0;
	}
}

int
rewrite_header(const struct mg_header_rule *rules, size_t n_rules, struct slice in,
    struct buf *out, const char **error_r)
{
	size_t max = MSG_HEADER_COUNT_MAX + 1 + n_rules, n, tail;
	struct rw_field *f = xcalloc(max, sizeof(*f));
	int changed = 0, rc = -1;

	*error_r = "rewritten header too large";
	n = split_fields(in, f, MSG_HEADER_COUNT_MAX + 1, &tail);
	for (size_t i = 0; i < n_rules; i++) {
		struct rw_rule r;
		int c;

		rule_parse(rules[i].text, &r);
		if ((c = apply_rule(&r, f, &n, max)) < 0)
			goto out;
		changed += c;
	}
	for (size_t i = 0; i < n; i++) {
		struct slice t = field_text(&f[i]);

		if (!f[i].deleted && buf_append(out, t.p, t.len) < 0)
			goto out;
	}
	if (buf_append(out, in.p + tail, in.len - tail) < 0)
		goto out;
	rc = changed;
out:
	for (size_t i = 0; i < n; i++)
		xfree(f[i].own);
	xfree(f);
	return rc;
}

int
rewrite_envelope_sender(const struct mg_header_rule *rules, size_t n_rules, const char *addr,
    char *out, size_t outsize)
{
	struct buf b, cur;
	int changed = 0, rc = 0;

	buf_init(&b, outsize);
	buf_init(&cur, outsize);
	if (buf_append_str(&cur, addr) < 0) {
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < n_rules; i++) {
		struct rw_rule r;
		int c;

		rule_parse(rules[i].text, &r);
		if (r.kind != RW_SENDER)
			continue;
		buf_reset(&b);
		/* The envelope address is one addr-spec: the same matcher, without display names. */
		if ((c = rewrite_addrs(&r, (struct slice){ cur.data, cur.len }, &b)) < 0) {
			rc = -1;
			goto out;
		}
		if (c > 0) {
			buf_reset(&cur);
			buf_append(&cur, b.data, b.len);
			changed = 1;
		}
	}
	rc = changed;
out:
	if (rc < 0 || cur.len >= outsize)
		rc = -1;
	if (rc < 0)
		snprintf(out, outsize, "%s", addr);
	else
		memcpy(out, cur.data ? cur.data : "", cur.len + 1);
	buf_free(&b);
	buf_free(&cur);
	return rc;
}
