/* parse.c: the grammar of settings files (mailguard.conf, domains.d/<domain>.conf): lines of
 * "key = value", whole-line '#' comments, blank lines, and trailing " # comments" where the
 * value's type cannot contain '#'. Applies the table's defaults, then each line in turn, and
 * reports every problem as "file:line: ..." without stopping at the first.
 * Runs in the supervisor and tools. Input is untrusted text: lines are capped at CONFIG_LINE_MAX,
 * NUL bytes and non-printable bytes in values are errors; nothing here touches the file system. */
#include "config/settings.h"

#include <stdarg.h>
#include <string.h>

#include "common/limits.h"
#include "lib/log.h"
#include "lib/sanitize.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define QUOTE_MAX 80	/* bytes of a bad value shown in a message */

void
config_error(struct config_ctx *ctx, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	ctx->n_errors++;
	if (ctx->errors == NULL)
		return;
	fprintf(ctx->errors, "%s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(ctx->errors, fmt, ap);
	va_end(ap);
	fputc('\n', ctx->errors);
}

void
config_quote(struct buf *out, const char *p, size_t len)
{
	char tmp[SANITIZE_MAX + 4];

	if (len == 0) {
		buf_append_str(out, "nothing");
		return;
	}
	sanitize(tmp, p, len > QUOTE_MAX ? QUOTE_MAX : len);
	buf_printf(out, "'%s%s'", tmp, len > QUOTE_MAX ? "..." : "");
}

void
config_lines_init(struct config_lines *it, const char *text, size_t len)
{
	it->p = text;
	it->end = text + len;
	it->line = 0;
}

int
config_lines_next(struct config_ctx *ctx, const char *file, struct config_lines *it,
    struct slice *line_r)
{
	while (it->p < it->end) {
		const char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
		const char *eol = nl ? nl : it->end;
		struct slice l = { it->p, (size_t)(eol - it->p) };

		it->p = nl ? nl + 1 : it->end;
		it->line++;
		if (l.len > 0 && l.p[l.len - 1] == '\r')
			l.len--;
		if (l.len > CONFIG_LINE_MAX) {
			config_error(ctx, file, it->line, "expected a line of at most %d bytes, "
			    "found %zu bytes", CONFIG_LINE_MAX, l.len);
			continue;
		}
		if (memchr(l.p, '\0', l.len) != NULL) {
			config_error(ctx, file, it->line, "expected text, found a NUL byte");
			continue;
		}
		*line_r = l;
		return 1;
	}
	return 0;
}

struct slice
config_strip_comment(struct slice v)
{
	for (size_t i = 1; i < v.len; i++)
		if (v.p[i] == '#' && (v.p[i - 1] == ' ' || v.p[i - 1] == '\t')) {
			v.len = i;
			break;
		}
	if (v.len > 0 && v.p[0] == '#')
		v.len = 0;
	return slice_trim(v);
}

const char *
config_find_unprintable(struct slice v)
{
	for (size_t i = 0; i < v.len; i++) {
		unsigned char c = (unsigned char)v.p[i];

		if ((c < 0x20 && c != '\t') || c >= 0x7f)
			return v.p + i;
	}
	return NULL;
}

void
config_defaults_apply(enum setting_scope scope, void *obj)
{
	for (size_t i = 0; i < config_n_settings; i++) {
		const struct setting *s = &config_settings[i];
		struct value_error e;

		if (s->scope != scope || s->def == NULL)
			continue;
		if (config_value_parse(s, s->def, obj, &e) < 0)
			panic("config: default of %s does not parse: '%s'", s->name, s->def);
	}
}

void
config_settings_free(enum setting_scope scope, void *obj)
{
	for (size_t i = 0; i < config_n_settings; i++)
		if (config_settings[i].scope == scope)
			config_value_free(&config_settings[i], obj);
}

/* Reports a bad value: "expected <what> for <name>, found '<bad>' (<why>)". */
static void
report_value(struct config_ctx *ctx, const char *file, int line, const struct setting *s,
    const struct value_error *e)
{
	struct buf m;

	buf_init(&m, 4096);
	buf_append_str(&m, "expected ");
	config_value_expected(s, &m);
	buf_printf(&m, " for %s, found ", s->name);
	config_quote(&m, e->bad.p, e->bad.len);
	if (e->why != NULL)
		buf_printf(&m, " (%s)", e->why);
	config_error(ctx, file, line, "%s", m.data);
	buf_free(&m);
}

static int
is_key(struct slice k)
{
	if (k.len == 0)
		return 0;
	for (size_t i = 0; i < k.len; i++)
		if (!((k.p[i] >= 'a' && k.p[i] <= 'z') || (k.p[i] >= 'A' && k.p[i] <= 'Z') ||
		    (k.p[i] >= '0' && k.p[i] <= '9') || k.p[i] == '_' || k.p[i] == '-' ||
		    k.p[i] == '.'))
			return 0;
	return 1;
}

/* Handles one "key = value" line. */
static void
parse_line(struct config_ctx *ctx, enum setting_scope scope, void *obj, const char *file,
    int line, struct slice l, int *lines)
{
	const char *eq = memchr(l.p, '=', l.len);
	struct slice key, val;
	const struct setting *s;
	const char *bad;
	char name[64], *v;
	struct value_error e;
	struct buf m;
	size_t idx;

	buf_init(&m, 4096);
	key = slice_trim((struct slice){ l.p, eq ? (size_t)(eq - l.p) : l.len });
	if (eq == NULL || !is_key(key) || key.len >= sizeof(name)) {
		buf_append_str(&m, "expected 'name = value', found ");
		config_quote(&m, l.p, l.len);
		config_error(ctx, file, line, "%s", m.data);
		goto out;
	}
	memcpy(name, key.p, key.len);
	name[key.len] = '\0';
	val = slice_trim((struct slice){ eq + 1, l.len - (size_t)(eq + 1 - l.p) });
	if (scope == SCOPE_DOMAIN && strcmp(name, "config_version") == 0)
		s = config_setting_find(name, SCOPE_GLOBAL);	/* allowed, checked, not stored */
	else
		s = config_setting_find(name, scope);
	if (s == NULL) {
		const struct setting *other = config_setting_find(name, !scope);
		char lower[sizeof(name)];

		str_lcpy(lower, name, sizeof(lower));
		str_lower(lower);
		config_error(ctx, file, line, "unknown setting '%s'%s", name, other != NULL ?
		    (scope == SCOPE_GLOBAL ? " (it is a per-domain setting: put it in "
		    "domains.d/<domain>.conf)" : " (it is a global setting: put it in mailguard.conf)") :
		    strcmp(lower, name) != 0 && (config_setting_find(lower, scope) != NULL ||
		    strcmp(lower, "config_version") == 0) ? " (setting names are lower case)" : "");
		goto out;
	}
	if (config_type_allows_comment(s->type))
		val = config_strip_comment(val);
	if ((bad = config_find_unprintable(val)) != NULL) {
		buf_printf(&m, "expected printable ASCII text for %s, found byte 0x%02x",
		    s->name, (unsigned char)*bad);
		config_error(ctx, file, line, "%s", m.data);
		goto out;
	}
	idx = (size_t)(s - config_settings);
	if (s->scope == scope && lines[idx] != 0 && !(s->flags & SET_REPEAT)) {
		config_error(ctx, file, line, "expected one '%s' line, found another (first on line "
		    "%d)", s->name, lines[idx]);
		goto out;
	}
	v = xstrndup(val.p, val.len);
	if (s->scope != scope) {
		struct mg_config scratch;	/* config_version in a domain file */

		memset(&scratch, 0, sizeof(scratch));
		if (config_value_parse(s, v, &scratch, &e) < 0)
			report_value(ctx, file, line, s, &e);
		config_value_free(s, &scratch);
	} else if (config_value_parse(s, v, obj, &e) < 0) {
		report_value(ctx, file, line, s, &e);
	}
	if (s->scope == scope && lines[idx] == 0)
		lines[idx] = line;
	xfree(v);
out:
	buf_free(&m);
}

void
config_parse_settings(struct config_ctx *ctx, enum setting_scope scope, void *obj,
    const char *file, const char *text, size_t len, int *lines)
{
	struct config_lines it;
	struct slice l;

	config_lines_init(&it, text, len);
	while (config_lines_next(ctx, file, &it, &l)) {
		l = slice_trim(l);
		if (l.len == 0 || l.p[0] == '#')
			continue;
		parse_line(ctx, scope, obj, file, it.line, l, lines);
	}
	for (size_t i = 0; i < config_n_settings; i++) {
		const struct setting *s = &config_settings[i];

		if (s->scope == scope && (s->flags & SET_REQUIRED) && lines[i] == 0) {
			struct buf m;

			buf_init(&m, 1024);
			buf_printf(&m, "expected a line '%s = ", s->name);
			if (s->type == T_INT && s->min == s->max)
				buf_printf(&m, "%lld", s->min);
			else
				buf_append_str(&m, config_type_name(s->type));
			buf_append_str(&m, "', found none");
			config_error(ctx, file, 0, "%s", m.data);
			buf_free(&m);
		}
	}
}
