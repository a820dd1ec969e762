/* print.c: config_print (mailguard -P): every setting's effective value, global then each
 * protected domain, in table order, one "name = value" line each, with a comment marking
 * defaults and settings that are accepted but not in effect yet. The format is stable (golden
 * tests pin it) and every line without a comment parses back as the same value.
 * Runs in the supervisor or a tool, on a loaded (trusted) configuration. */
#include "config/settings.h"

#include <string.h>

#include "lib/xalloc.h"

#define COMMENT_COLUMN 40
#define PRINT_MAX (16 * 1024 * 1024)

/* Prints one "name = value" line with its comment. */
static void
print_line(FILE *out, const char *name, const char *value, size_t vlen, const char *comment)
{
	int n;

	if (vlen > 0)
		n = fprintf(out, "%s = %.*s", name, (int)vlen, value);
	else
		n = fprintf(out, "%s =", name);
	if (comment[0] != '\0')
		fprintf(out, "%*s# %s", n < COMMENT_COLUMN - 2 ? COMMENT_COLUMN - n : 2, "", comment);
	fputc('\n', out);
}

/* Prints every setting of scope from obj; def holds the defaults for comparison. */
static void
print_scope(FILE *out, enum setting_scope scope, const void *obj, const void *def)
{
	struct buf v, d, c;

	buf_init(&v, PRINT_MAX);
	buf_init(&d, PRINT_MAX);
	buf_init(&c, 256);
	for (size_t i = 0; i < config_n_settings; i++) {
		const struct setting *s = &config_settings[i];
		const char *p;

		if (s->scope != scope)
			continue;
		buf_reset(&v);
		buf_reset(&d);
		buf_reset(&c);
		config_value_format(s, obj, &v);
		if (s->def != NULL) {
			config_value_format(s, def, &d);
			if (v.len == d.len && (v.len == 0 || memcmp(v.data, d.data, v.len) == 0))
				buf_append_str(&c, "default");
		}
		if (!config_setting_in_effect(s))
			buf_printf(&c, "%stakes effect with issue %s", c.len ? "; " : "", s->issue);
		/* SET_REPEAT values format as one item per line: print one line per item. */
		p = v.data ? v.data : "";
		for (;;) {
			size_t rest = v.len - (size_t)(p - (v.data ? v.data : p));
			const char *nl = memchr(p, '\n', rest);

			print_line(out, s->name, p, nl ? (size_t)(nl - p) : rest, c.data ? c.data : "");
			if (nl == NULL)
				break;
			p = nl + 1;
		}
	}
	buf_free(&v);
	buf_free(&d);
	buf_free(&c);
}

static void
print_list(FILE *out, const char *name, const struct mg_list *l)
{
	fprintf(out, "# lists/%s: ", name);
	if (l->file == NULL)
		fprintf(out, "no file");
	else
		fprintf(out, "%zu %s", l->n, l->n == 1 ? "entry" : "entries");
	fprintf(out, "\n");
}

void
config_print(const struct mg_config *cfg, FILE *out)
{
	struct mg_config gdef;
	struct mg_domain ddef;

	memset(&gdef, 0, sizeof(gdef));
	memset(&ddef, 0, sizeof(ddef));
	config_defaults_apply(SCOPE_GLOBAL, &gdef);
	config_defaults_apply(SCOPE_DOMAIN, &ddef);

	fprintf(out, "# MailGuard effective configuration%s%s\n", cfg->dir ? " of " : "",
	    cfg->dir ? cfg->dir : "");
	fprintf(out, "# \"default\": the built-in default value; \"takes effect with issue X\": accepted "
	    "and checked, not used yet.\n");
	fprintf(out, "\n# mailguard.conf\n");
	print_scope(out, SCOPE_GLOBAL, cfg, &gdef);
	print_list(out, "global.allow", &cfg->global_allow);
	print_list(out, "global.block", &cfg->global_block);
	for (size_t i = 0; i < cfg->n_domains; i++) {
		const struct mg_domain *d = &cfg->domains[i];
		char *name;

		fprintf(out, "\n# domains.d/%s.conf\n", d->name);
		print_scope(out, SCOPE_DOMAIN, d, &ddef);
		name = xasprintf("%s.allow", d->name);
		print_list(out, name, &d->allow);
		xfree(name);
		name = xasprintf("%s.block", d->name);
		print_list(out, name, &d->block);
		xfree(name);
	}
	if (cfg->n_domains == 0)
		fprintf(out, "\n# no protected domains (domains.d/ has no <domain>.conf)\n");
	config_settings_free(SCOPE_GLOBAL, &gdef);
	config_settings_free(SCOPE_DOMAIN, &ddef);
}
