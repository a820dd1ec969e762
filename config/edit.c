/* edit.c: the line editor behind config/edit.h. A file is held as its lines, each with its own
 * line ending; an edit builds a new line vector in which untouched lines are the same bytes, so
 * comments, blank lines, lines we do not understand and the order of everything are preserved.
 * Settings lines are recognised with the loader's grammar (parse.c: "key = value", trailing
 * comments only for types that allow them); list entries are compared in the loader's canonical
 * form (lists.c). Runs in the admin role and the supervisor (commit) and in tools.
 * Input is untrusted text: at most CFG_EDIT_FILE_MAX bytes and CFG_EDIT_LINES_MAX lines per file,
 * new lines at most CONFIG_LINE_MAX bytes; a value that would not read back as written is
 * refused rather than written. */
#include "config/edit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/limits.h"
#include "config/edit_int.h"
#include "config/settings.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

enum eol { EOL_NONE, EOL_LF, EOL_CRLF };

struct cfg_line {
	char *raw;		/* the line without its ending (any bytes, even NUL) */
	size_t len;
	enum eol eol;
	char *key;		/* settings files: the key the line sets, else NULL */
	char *value;		/* its value as the loader reads it; list files: the entry */
	char *canon;		/* list files: the entry's canonical form; NULL if not valid */
	unsigned fresh:1;	/* made by the edit being built (freed if it is abandoned) */
	unsigned dropped:1;	/* left out of the edit being built (freed if it is installed) */
};

struct cfg_file {
	char *rel;
	enum cfg_kind kind;
	char version[CFG_VERSION_LEN + 1];
	struct cfg_line *lines;
	size_t n;
	enum eol newline;	/* ending of added lines: that of the file's first line */
	struct buf text;	/* the lines, rendered */
	const char **entries;	/* list files: the value of each valid entry line */
	size_t n_entries;
	struct buf err;		/* text behind *error_r of the last failed call */
};

/* A new line vector being built from f->lines. */
struct edit {
	struct cfg_line *v;
	size_t n, cap;
};

static const char *const eol_text[] = { "", "\n", "\r\n" };

/* ---- file names, reading, versions ---- */

static int
is_lower_domain(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			return 0;
	return config_is_domain_name(s, n) && !(n == 6 && memcmp(s, "global", 6) == 0);
}

int
cfg_rel_kind(const char *rel)
{
	const char *d;
	size_t n;

	if (strcmp(rel, "mailguard.conf") == 0)
		return CFG_KIND_GLOBAL;
	if (strncmp(rel, "domains.d/", 10) == 0) {
		d = rel + 10;
		n = strlen(d);
		if (n > 5 && strcmp(d + n - 5, ".conf") == 0 && is_lower_domain(d, n - 5))
			return CFG_KIND_DOMAIN;
		return -1;
	}
	if (strncmp(rel, "lists/", 6) == 0) {
		d = rel + 6;
		n = strlen(d);
		if (n <= 6 || (strcmp(d + n - 6, ".allow") != 0 && strcmp(d + n - 6, ".block") != 0))
			return -1;
		n -= 6;
		if ((n == 6 && memcmp(d, "global", 6) == 0) || is_lower_domain(d, n))
			return CFG_KIND_LIST;
	}
	return -1;
}

int
cfg_read_current(const char *dir, const char *rel, struct buf *out, int *missing_r,
    const char **error_r)
{
	char *path = xasprintf("%s/%s", dir, rel);
	struct stat st;
	int fd, ret = -1;

	buf_init(out, CFG_EDIT_FILE_MAX);
	*missing_r = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	xfree(path);
	if (fd < 0) {
		if (errno != ENOENT) {
			*error_r = "cannot open the file";
			return -1;
		}
		*missing_r = 1;
		return 0;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*error_r = "not a regular file";
		goto out;
	}
	for (;;) {
		char chunk[65536];
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*error_r = "cannot read the file";
			goto out;
		}
		if (r == 0)
			break;
		if (buf_append(out, chunk, (size_t)r) < 0) {
			*error_r = "file larger than 4 MiB";
			goto out;
		}
	}
	ret = 0;
out:
	close(fd);
	if (ret < 0)
		buf_free(out);
	return ret;
}

void
cfg_sha256_hex(const void *p, size_t len, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	static const char hex[] = "0123456789abcdef";

	if (EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		panic("config: SHA-256 failed");
	for (unsigned i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * mdlen] = '\0';
}

/* ---- line analysis ---- */

static const struct setting *
setting_for(enum cfg_kind kind, const char *key)
{
	if (kind == CFG_KIND_GLOBAL)
		return config_setting_find(key, SCOPE_GLOBAL);
	if (kind == CFG_KIND_DOMAIN)
		return strcmp(key, "config_version") == 0 ?
		    config_setting_find(key, SCOPE_GLOBAL) : config_setting_find(key, SCOPE_DOMAIN);
	return NULL;
}

/* The part of a line the loader reads: without a trailing '\r'; empty for lines it skips (too
 * long, NUL bytes). */
static struct slice
line_text(const char *raw, size_t len)
{
	struct slice l = { raw, len };

	if (l.len > 0 && l.p[l.len - 1] == '\r')
		l.len--;
	if (l.len > CONFIG_LINE_MAX || memchr(l.p, '\0', l.len) != NULL)
		l.len = 0;
	return l;
}

/* Splits a settings line as parse.c does: 1 with the key, the value after '=' (trimmed) and the
 * value as the loader reads it (trailing comment dropped when the key's type allows comments);
 * 0 for blank, comment and '='-less lines. */
static int
split_setting(enum cfg_kind kind, const char *raw, size_t len, struct slice *key_r,
    struct slice *after_r, struct slice *val_r)
{
	struct slice l = slice_trim(line_text(raw, len)), key, after;
	const char *eq;
	const struct setting *s;
	char name[64];

	if (l.len == 0 || l.p[0] == '#' || (eq = memchr(l.p, '=', l.len)) == NULL)
		return 0;
	key = slice_trim((struct slice){ l.p, (size_t)(eq - l.p) });
	after = slice_trim((struct slice){ eq + 1, l.len - (size_t)(eq + 1 - l.p) });
	if (key.len == 0 || key.len >= sizeof(name))
		return 0;
	memcpy(name, key.p, key.len);
	name[key.len] = '\0';
	*key_r = key;
	*after_r = after;
	*val_r = after;
	if ((s = setting_for(kind, name)) != NULL && config_type_allows_comment(s->type))
		*val_r = config_strip_comment(after);
	return 1;
}

/* Canonical form of one list entry as lists.c reads it ("a:" address, "d:" @domain, "s:"
 * *.domain, "n:" network), or NULL when text is not exactly one valid entry. */
static char *
list_canon(const char *text, size_t len)
{
	struct mg_list l;
	char net[64], *canon = NULL;

	if (config_parse_list_text("entry", text, len, &l, NULL) == 0 && l.n == 1) {
		const struct mg_list_entry *e = &l.entries[0];

		if (e->kind == MG_LIST_NETWORK) {
			cidr_format(&e->net, net, sizeof(net));
			canon = xasprintf("n:%s", net);
		} else {
			canon = xasprintf("%c:%s", e->kind == MG_LIST_ADDRESS ? 'a' :
			    e->kind == MG_LIST_DOMAIN ? 'd' : 's', e->value);
		}
	}
	config_list_clear(&l);
	return canon;
}

static void
line_analyse(enum cfg_kind kind, struct cfg_line *ln)
{
	struct slice key, after, val;

	xfree(ln->key);
	xfree(ln->value);
	xfree(ln->canon);
	ln->key = ln->value = ln->canon = NULL;
	if (kind == CFG_KIND_LIST) {
		val = config_strip_comment(slice_trim(line_text(ln->raw, ln->len)));
		if (val.len > 0) {
			ln->value = slice_dup(val);
			ln->canon = list_canon(val.p, val.len);
		}
	} else if (split_setting(kind, ln->raw, ln->len, &key, &after, &val)) {
		ln->key = slice_dup(key);
		ln->value = slice_dup(val);
	}
}

static void
line_clear(struct cfg_line *ln)
{
	xfree(ln->raw);
	xfree(ln->key);
	xfree(ln->value);
	xfree(ln->canon);
	memset(ln, 0, sizeof(*ln));
}

/* ---- building and installing an edit ---- */

static void
edit_push(struct edit *e, const struct cfg_line *ln)
{
	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 64;
		e->v = xreallocarray(e->v, e->cap, sizeof(*e->v));
	}
	e->v[e->n++] = *ln;
}

/* Adds a new line holding text to e. */
static void
edit_push_new(struct cfg_file *f, struct edit *e, const char *text, size_t len)
{
	struct cfg_line ln;

	memset(&ln, 0, sizeof(ln));
	ln.raw = xmalloc(len + 1);
	memcpy(ln.raw, text, len);
	ln.raw[len] = '\0';
	ln.len = len;
	ln.eol = f->newline;
	ln.fresh = 1;
	line_analyse(f->kind, &ln);
	edit_push(e, &ln);
}

static int
fail(struct cfg_file *f, const char **error_r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct cfg_file *f, const char **error_r, const char *fmt, ...)
{
	va_list ap;

	buf_reset(&f->err);
	va_start(ap, fmt);
	(void)buf_vprintf(&f->err, fmt, ap);
	va_end(ap);
	*error_r = f->err.data ? f->err.data : "error";
	return -1;
}

static void
render(struct cfg_file *f)
{
	buf_reset(&f->text);
	f->n_entries = 0;
	f->entries = xreallocarray(f->entries, f->n > 0 ? f->n : 1, sizeof(*f->entries));
	for (size_t i = 0; i < f->n; i++) {
		const struct cfg_line *ln = &f->lines[i];

		if (buf_append(&f->text, ln->raw, ln->len) < 0 ||
		    buf_append_str(&f->text, eol_text[ln->eol]) < 0)
			panic("config: edited text over its checked size");
		if (ln->canon != NULL)
			f->entries[f->n_entries++] = ln->value;
	}
}

/* Replaces f's lines with e's unless that breaks a limit. Every line ends with a newline after a
 * change (the last one may have lacked it). */
static int
edit_install(struct cfg_file *f, struct edit *e, const char **error_r)
{
	size_t bytes = 0;

	for (size_t i = 0; i < e->n; i++) {
		struct cfg_line *ln = &e->v[i];

		if (ln->eol == EOL_NONE) {
			if (ln->len > 0 && ln->raw[ln->len - 1] == '\r') {
				ln->raw[--ln->len] = '\0';	/* "...\r" at EOF: finish the CRLF */
				ln->eol = EOL_CRLF;
			} else {
				ln->eol = f->newline;
			}
		}
		bytes += ln->len + strlen(eol_text[ln->eol]);
	}
	if (e->n > CFG_EDIT_LINES_MAX || bytes > CFG_EDIT_FILE_MAX) {
		for (size_t i = 0; i < e->n; i++)
			if (e->v[i].fresh)
				line_clear(&e->v[i]);
		for (size_t i = 0; i < f->n; i++)
			f->lines[i].dropped = 0;
		xfree(e->v);
		return fail(f, error_r, "expected a file of at most %d lines and %d bytes, the "
		    "change would make it larger", CFG_EDIT_LINES_MAX, CFG_EDIT_FILE_MAX);
	}
	for (size_t i = 0; i < f->n; i++)
		if (f->lines[i].dropped)
			line_clear(&f->lines[i]);
	for (size_t i = 0; i < e->n; i++)
		e->v[i].fresh = 0;
	xfree(f->lines);
	f->lines = e->v;
	f->n = e->n;
	render(f);
	return 0;
}

/* ---- open, free, accessors ---- */

static void
split_lines(struct cfg_file *f, const char *p, size_t len, size_t n_lines)
{
	const char *end = p + len;

	f->lines = xcalloc(n_lines > 0 ? n_lines : 1, sizeof(*f->lines));

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct cfg_line ln;

		memset(&ln, 0, sizeof(ln));
		ln.len = (size_t)((nl ? nl : end) - p);
		ln.eol = nl == NULL ? EOL_NONE : EOL_LF;
		if (nl != NULL && ln.len > 0 && p[ln.len - 1] == '\r') {
			ln.len--;
			ln.eol = EOL_CRLF;
		}
		ln.raw = xmalloc(ln.len + 1);
		memcpy(ln.raw, p, ln.len);
		ln.raw[ln.len] = '\0';
		line_analyse(f->kind, &ln);
		f->lines[f->n++] = ln;
		if (f->n == 1 && ln.eol != EOL_NONE)
			f->newline = ln.eol;
		p = nl ? nl + 1 : end;
	}
}

static size_t
count_lines(const char *p, size_t len)
{
	size_t n = 0;

	for (const char *q = p, *end = p + len; q < end; n++) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));

		q = nl ? nl + 1 : end;
	}
	return n;
}

struct cfg_file *
cfg_file_from_text(const char *rel, const char *text, size_t len, int exists,
    const char **error_r)
{
	struct cfg_file *f;
	int kind;
	size_t n_lines;

	if ((kind = cfg_rel_kind(rel)) < 0) {
		*error_r = "expected a configuration file name (mailguard.conf, "
		    "domains.d/DOMAIN.conf, lists/global.allow, lists/DOMAIN.block, ...)";
		return NULL;
	}
	if (len > CFG_EDIT_FILE_MAX) {
		*error_r = "file larger than 4 MiB";
		return NULL;
	}
	if ((n_lines = count_lines(text, len)) > CFG_EDIT_LINES_MAX) {
		*error_r = "file has more than 100000 lines";
		return NULL;
	}
	f = xcalloc(1, sizeof(*f));
	f->rel = xstrdup(rel);
	f->kind = (enum cfg_kind)kind;
	f->newline = EOL_LF;
	buf_init(&f->text, CFG_EDIT_FILE_MAX);
	buf_init(&f->err, 4096);
	if (exists)
		cfg_sha256_hex(text, len, f->version);
	split_lines(f, text, len, n_lines);
	render(f);
	return f;
}

struct cfg_file *
cfg_file_open(const char *dir, const char *rel, const char **error_r)
{
	struct cfg_file *f;
	struct buf text;
	int missing;

	if (cfg_rel_kind(rel) < 0)
		return cfg_file_from_text(rel, "", 0, 0, error_r);	/* the name error */
	if (cfg_read_current(dir, rel, &text, &missing, error_r) < 0)
		return NULL;
	f = cfg_file_from_text(rel, text.data ? text.data : "", text.len, !missing, error_r);
	buf_free(&text);
	return f;
}

void
cfg_file_free(struct cfg_file **fp)
{
	struct cfg_file *f = *fp;

	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n; i++)
		line_clear(&f->lines[i]);
	xfree(f->lines);
	xfree(f->entries);
	xfree(f->rel);
	buf_free(&f->text);
	buf_free(&f->err);
	xfree(f);
	*fp = NULL;
}

const char *
cfg_file_rel(const struct cfg_file *f)
{
	return f->rel;
}

const char *
cfg_file_version(const struct cfg_file *f)
{
	return f->version;
}

const struct buf *
cfg_file_text(const struct cfg_file *f)
{
	return &f->text;
}

/* ---- key = value files ---- */

const char *
cfg_get(const struct cfg_file *f, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; i < f->n; i++)
		if (f->lines[i].key != NULL && strcmp(f->lines[i].key, key) == 0)
			v = f->lines[i].value;
	return v;
}

size_t
cfg_get_all(const struct cfg_file *f, const char *key, const char **values, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n; i++)
		if (f->lines[i].key != NULL && strcmp(f->lines[i].key, key) == 0) {
			if (n < max)
				values[n] = f->lines[i].value;
			n++;
		}
	return n;
}

/* The setting key names in f's scope, or -1 with the loader's "unknown setting" text. */
static int
find_setting(struct cfg_file *f, const char *key, const struct setting **s_r,
    const char **error_r)
{
	if (f->kind == CFG_KIND_LIST)
		return fail(f, error_r, "%s is a list file, not a settings file", f->rel);
	if ((*s_r = setting_for(f->kind, key)) != NULL)
		return 0;
	if (config_setting_find(key, f->kind == CFG_KIND_GLOBAL ? SCOPE_DOMAIN : SCOPE_GLOBAL))
		return fail(f, error_r, "unknown setting '%.64s' (%s)", key,
		    f->kind == CFG_KIND_GLOBAL ? "it is a per-domain setting: put it in "
		    "domains.d/<domain>.conf" : "it is a global setting: put it in mailguard.conf");
	return fail(f, error_r, "unknown setting '%.64s'", key);
}

/* Checks value with the loader's value parser, as parse.c would report it. */
static int
check_value(struct cfg_file *f, const struct setting *s, const char *value,
    const char **error_r)
{
	union {
		struct mg_config g;
		struct mg_domain d;
	} scratch;
	struct value_error e;
	const char *bad;
	struct buf m;
	int ret = 0;

	if (strpbrk(value, "\r\n") != NULL)
		return fail(f, error_r, "expected a value on one line for %s, found a line break",
		    s->name);
	if ((bad = config_find_unprintable(slice_from_str(value))) != NULL)
		return fail(f, error_r, "expected printable ASCII text for %s, found byte 0x%02x",
		    s->name, (unsigned char)*bad);
	memset(&scratch, 0, sizeof(scratch));
	if (config_value_parse(s, value, &scratch, &e) < 0) {
		buf_init(&m, 4096);
		buf_append_str(&m, "expected ");
		config_value_expected(s, &m);
		buf_printf(&m, " for %s, found ", s->name);
		config_quote(&m, e.bad.p, e.bad.len);
		if (e.why != NULL)
			buf_printf(&m, " (%s)", e.why);
		ret = fail(f, error_r, "%s", m.data);
		buf_free(&m);
		return ret;
	}
	config_value_free(s, &scratch);
	return 0;
}

/* The text of a line setting key to value. With old (a line setting key), its layout is kept:
 * indentation, spacing around '=' and, with_comment and when the type allows comments, its
 * trailing comment. */
static void
format_setting(const struct setting *s, const struct cfg_line *old, int with_comment,
    const char *key, const char *value, struct buf *out)
{
	struct slice k, after, val, l;
	size_t vlen = strlen(value);

	buf_reset(out);
	if (old == NULL || !split_setting(CFG_KIND_GLOBAL, old->raw, old->len, &k, &after, &val)) {
		buf_printf(out, "%s =%s%s", key, vlen ? " " : "", value);
		return;
	}
	l = line_text(old->raw, old->len);
	if (after.len > 0) {
		buf_append(out, l.p, (size_t)(after.p - l.p));	/* up to the old value */
	} else {
		const char *eq = memchr(l.p, '=', l.len);

		buf_append(out, l.p, (size_t)(eq + 1 - l.p));
		if (vlen > 0)
			buf_append_char(out, ' ');
	}
	buf_append(out, value, vlen);
	while (vlen == 0 && out->len > 0 && (out->data[out->len - 1] == ' ' ||
	    out->data[out->len - 1] == '\t'))
		out->data[--out->len] = '\0';	/* "key =", not "key = " */
	if (with_comment && config_type_allows_comment(s->type)) {
		struct slice c = config_strip_comment(after);
		const char *cstart = c.len > 0 ? c.p + c.len : after.p;
		const char *cend = after.p + after.len;

		/* after.p..cend is "value  # comment"; keep the comment and its lead blanks */
		if (c.len < after.len && cstart < cend) {
			if (*cstart != ' ' && *cstart != '\t')
				buf_append_char(out, ' ');
			buf_append(out, cstart, (size_t)(cend - cstart));
		}
	}
}

/* Builds the line for one value; -1 unless it reads back as exactly key = value. */
static int
make_setting_line(struct cfg_file *f, const struct setting *s, const struct cfg_line *old,
    int with_comment, const char *key, const char *value, struct buf *out,
    const char **error_r)
{
	struct slice k, after, val;

	format_setting(s, old, with_comment, key, value, out);
	if (out->len > CONFIG_LINE_MAX)
		return fail(f, error_r, "expected a line of at most %d bytes for %s, found %zu bytes",
		    CONFIG_LINE_MAX, key, out->len);
	if (!split_setting(f->kind, out->data, out->len, &k, &after, &val) ||
	    k.len != strlen(key) || memcmp(k.p, key, k.len) != 0 ||
	    val.len != strlen(value) || memcmp(val.p, value, val.len) != 0)
		return fail(f, error_r, "expected a value for %s that reads back as written, found "
		    "one the loader would read differently (leading or trailing blanks%s)", key,
		    config_type_allows_comment(s->type) ? ", a leading '#' or a blank before '#', "
		    "which starts a comment" : "");
	return 0;
}

int
cfg_set(struct cfg_file *f, const char *key, const char *value, const char **error_r)
{
	return cfg_set_multi(f, key, &value, 1, error_r);
}

int
cfg_set_multi(struct cfg_file *f, const char *key, const char *const *values, size_t n,
    const char **error_r)
{
	const struct setting *s;
	struct cfg_line *first = NULL;
	struct edit e = { NULL, 0, 0 };
	struct buf line;
	char **texts;
	size_t *lens;
	int ret = -1;

	if (find_setting(f, key, &s, error_r) < 0)
		return -1;
	if (n > 1 && !(s->flags & SET_REPEAT))
		return fail(f, error_r, "expected one value for %s, found %zu", key, n);
	if (n == 0) {
		(void)cfg_unset(f, key);
		return 0;
	}
	for (size_t i = 0; i < f->n && first == NULL; i++)
		if (f->lines[i].key != NULL && strcmp(f->lines[i].key, key) == 0)
			first = &f->lines[i];
	texts = xcalloc(n, sizeof(*texts));
	lens = xcalloc(n, sizeof(*lens));
	buf_init(&line, 2 * CONFIG_LINE_MAX);
	for (size_t i = 0; i < n; i++) {
		if (check_value(f, s, values[i], error_r) < 0 ||
		    make_setting_line(f, s, first, i == 0, key, values[i], &line, error_r) < 0)
			goto out;
		lens[i] = line.len;
		texts[i] = buf_steal(&line);
		buf_init(&line, 2 * CONFIG_LINE_MAX);
	}
	for (size_t i = 0; i < f->n; i++) {
		struct cfg_line *ln = &f->lines[i];

		if (ln->key == NULL || strcmp(ln->key, key) != 0) {
			edit_push(&e, ln);
			continue;
		}
		ln->dropped = 1;
		if (ln == first)
			for (size_t j = 0; j < n; j++)
				edit_push_new(f, &e, texts[j], lens[j]);
	}
	if (first == NULL)
		for (size_t j = 0; j < n; j++)
			edit_push_new(f, &e, texts[j], lens[j]);
	ret = edit_install(f, &e, error_r);
out:
	for (size_t i = 0; i < n; i++)
		xfree(texts[i]);
	xfree(texts);
	xfree(lens);
	buf_free(&line);
	return ret;
}

int
cfg_unset(struct cfg_file *f, const char *key)
{
	struct edit e = { NULL, 0, 0 };
	const char *err;
	int found = 0;

	for (size_t i = 0; i < f->n; i++) {
		struct cfg_line *ln = &f->lines[i];

		if (ln->key != NULL && strcmp(ln->key, key) == 0) {
			ln->dropped = 1;
			found = 1;
		} else {
			edit_push(&e, ln);
		}
	}
	if (!found) {
		xfree(e.v);
		return 0;
	}
	return edit_install(f, &e, &err) < 0 ? 0 : 1;	/* fewer lines: cannot fail */
}

/* ---- list files ---- */

/* The loader's complaint about entry, without its "file:line: " prefix. */
static int
list_entry_error(struct cfg_file *f, const char *entry, const char **error_r)
{
	char *msg = NULL;
	size_t msglen = 0, pre = strlen("entry:1: ");
	FILE *fp = open_memstream(&msg, &msglen);
	struct mg_list l;
	int ret;

	if (fp == NULL)
		return fail(f, error_r, "out of memory");
	(void)config_parse_list_text("entry", entry, strlen(entry), &l, fp);
	config_list_clear(&l);
	fclose(fp);
	if (msglen > pre && strncmp(msg, "entry:", 6) == 0) {
		char *nl = strchr(msg + pre, '\n');

		if (nl != NULL)
			*nl = '\0';
		ret = fail(f, error_r, "%s", msg + pre);
	} else {
		ret = fail(f, error_r, "expected an address, @domain, *.domain, IP address or "
		    "network, found %s", l.n > 1 ? "several entries" : "nothing");
	}
	xfree(msg);	/* open_memstream's malloc: xfree is free */
	return ret;
}

int
cfg_list_add(struct cfg_file *f, const char *entry, const char **error_r)
{
	struct edit e = { NULL, 0, 0 };
	struct slice t = slice_trim(slice_from_str(entry));
	char *canon;

	if (f->kind != CFG_KIND_LIST)
		return fail(f, error_r, "%s is a settings file, not a list file", f->rel);
	if (strpbrk(entry, "\r\n") != NULL)
		return fail(f, error_r, "expected one entry, found a line break");
	if (t.len > CONFIG_LINE_MAX || (canon = list_canon(t.p, t.len)) == NULL)
		return list_entry_error(f, entry, error_r);
	for (size_t i = 0; i < f->n; i++)
		if (f->lines[i].canon != NULL && strcmp(f->lines[i].canon, canon) == 0) {
			xfree(canon);
			return 0;	/* already there */
		}
	xfree(canon);
	for (size_t i = 0; i < f->n; i++)
		edit_push(&e, &f->lines[i]);
	edit_push_new(f, &e, t.p, t.len);
	return edit_install(f, &e, error_r);
}

int
cfg_list_remove(struct cfg_file *f, const char *entry)
{
	struct edit e = { NULL, 0, 0 };
	struct slice t = slice_trim(slice_from_str(entry));
	char *canon;
	const char *err;
	int n = 0;

	if (f->kind != CFG_KIND_LIST || (canon = list_canon(t.p, t.len)) == NULL)
		return 0;
	for (size_t i = 0; i < f->n; i++) {
		struct cfg_line *ln = &f->lines[i];

		if (ln->canon != NULL && strcmp(ln->canon, canon) == 0) {
			ln->dropped = 1;
			n++;
		} else {
			edit_push(&e, ln);
		}
	}
	xfree(canon);
	if (n == 0) {
		xfree(e.v);
		return 0;
	}
	return edit_install(f, &e, &err) < 0 ? 0 : n;
}

size_t
cfg_list_entries(const struct cfg_file *f, const char ***entries_r)
{
	*entries_r = f->entries;
	return f->n_entries;
}
