/* edit_info.c: the public view of the settings table for editors (the admin console): name,
 * scope, form field kind, default, documentation, choices. config/settings.h stays private to
 * config/. Any thread; the table is read-only data. */
#include "config/edit.h"

#include <string.h>

#include "config/settings.h"

static void
fill(const struct setting *s, struct cfg_setting_info *out)
{
	memset(out, 0, sizeof(*out));
	out->name = s->name;
	out->per_domain = s->scope == SCOPE_DOMAIN;
	switch (s->type) {
	case T_BOOL:
		out->field = CFG_FIELD_BOOL;
		break;
	case T_ENUM:
		out->field = CFG_FIELD_ENUM;
		break;
	case T_LAYERS:
		out->field = CFG_FIELD_LAYERS;
		break;
	default:
		out->field = (s->flags & SET_REPEAT) ? CFG_FIELD_LINES : CFG_FIELD_TEXT;
		break;
	}
	out->def = (s->flags & SET_REQUIRED) ? NULL : s->def;
	out->doc = s->doc;
	out->choices = s->type == T_ENUM || s->type == T_LAYERS ? s->choices : NULL;
	out->comment_ok = config_type_allows_comment(s->type);
	out->reloadable = s->reloadable;
}

int
cfg_setting_info(const char *name, int per_domain, struct cfg_setting_info *out)
{
	const struct setting *s = config_setting_find(name, per_domain ? SCOPE_DOMAIN :
	    SCOPE_GLOBAL);

	if (s == NULL)
		return -1;
	fill(s, out);
	return 0;
}

size_t
cfg_settings_list(int per_domain, struct cfg_setting_info *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < config_n_settings; i++) {
		const struct setting *s = &config_settings[i];

		if ((s->scope == SCOPE_DOMAIN) != (per_domain != 0))
			continue;
		if (n < max)
			fill(s, &out[n]);
		n++;
	}
	return n;
}

int
cfg_is_domain_name(const char *s)
{
	return config_is_domain_name(s, strlen(s));
}

int
cfg_list_has_word(const char *list, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = list; *p != '\0';) {
		size_t len = strcspn(p, " ,\t");

		if (len == wl && strncmp(p, word, wl) == 0)
			return 1;
		p += len;
		p += strspn(p, " ,\t");
	}
	return 0;
}
