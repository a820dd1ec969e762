/* validate.c: checks that span settings (retry_min <= retry_max, greylist <= spam_quarantine <=
 * spam_reject, tls_cert with tls_key, ...) and the secrecy of key files.
 * Runs in the supervisor and tools, after every line of a file was parsed; errors point at the
 * line of the setting that was given last (line 0 when both are defaults: a table bug). */
#include "config/settings.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* The line a setting was given on (0 = default). */
static int
line_of(const int *lines, const char *name, enum setting_scope scope)
{
	const struct setting *s = config_setting_find(name, scope);

	return s ? lines[s - config_settings] : 0;
}

static int
later_line(const int *lines, const char *a, const char *b, enum setting_scope scope)
{
	int la = line_of(lines, a, scope), lb = line_of(lines, b, scope);

	return la > lb ? la : lb;
}

static int
is_hex_colour(const char *s)
{
	if (s[0] != '#' || strlen(s) != 7)
		return 0;
	for (size_t i = 1; i < 7; i++)
		if (!strchr("0123456789abcdefABCDEF", s[i]))
			return 0;
	return 1;
}

void
config_validate_global(struct config_ctx *ctx, const struct mg_config *cfg, const char *file,
    const int *lines)
{
	if (cfg->retry_max < cfg->retry_min)
		config_error(ctx, file, later_line(lines, "retry_min", "retry_max", SCOPE_GLOBAL),
		    "expected retry_max >= retry_min, found retry_max %llds < retry_min %llds",
		    cfg->retry_max, cfg->retry_min);
	if (cfg->delay_warning != 0 && cfg->delay_warning >= cfg->queue_lifetime)
		config_error(ctx, file, later_line(lines, "delay_warning", "queue_lifetime",
		    SCOPE_GLOBAL), "expected delay_warning < queue_lifetime (or 0), found "
		    "delay_warning %llds >= queue_lifetime %llds", cfg->delay_warning,
		    cfg->queue_lifetime);
	if ((cfg->tls_cert[0] == '\0') != (cfg->tls_key[0] == '\0'))
		config_error(ctx, file, later_line(lines, "tls_cert", "tls_key", SCOPE_GLOBAL),
		    "expected tls_cert and tls_key both set or both empty, found only %s set",
		    cfg->tls_cert[0] ? "tls_cert" : "tls_key");
	if (cfg->dkim_rotation_lead >= cfg->dkim_rotation_interval)
		config_error(ctx, file, later_line(lines, "dkim_rotation_lead",
		    "dkim_rotation_interval", SCOPE_GLOBAL), "expected dkim_rotation_lead < "
		    "dkim_rotation_interval, found %llds >= %llds", cfg->dkim_rotation_lead,
		    cfg->dkim_rotation_interval);
	if ((cfg->admin_tls_cert[0] == '\0') != (cfg->admin_tls_key[0] == '\0'))
		config_error(ctx, file, later_line(lines, "admin_tls_cert", "admin_tls_key",
		    SCOPE_GLOBAL), "expected admin_tls_cert and admin_tls_key both set or both "
		    "empty, found only %s set", cfg->admin_tls_cert[0] ? "admin_tls_cert" :
		    "admin_tls_key");
	if (!is_hex_colour(cfg->brand_color))
		config_error(ctx, file, line_of(lines, "brand_color", SCOPE_GLOBAL),
		    "expected brand_color as #rrggbb, found \"%.40s\"", cfg->brand_color);
}

void
config_validate_domain(struct config_ctx *ctx, const struct mg_domain *d, const int *lines)
{
	/* A lower threshold above a higher one would make the higher verdict unreachable. */
	if (d->greylist > d->spam_quarantine)
		config_error(ctx, d->file, later_line(lines, "greylist", "spam_quarantine",
		    SCOPE_DOMAIN), "expected greylist <= spam_quarantine <= spam_reject, found "
		    "greylist %g > spam_quarantine %g", d->greylist, d->spam_quarantine);
	if (d->spam_quarantine > d->spam_reject)
		config_error(ctx, d->file, later_line(lines, "spam_quarantine", "spam_reject",
		    SCOPE_DOMAIN), "expected greylist <= spam_quarantine <= spam_reject, found "
		    "spam_quarantine %g > spam_reject %g", d->spam_quarantine, d->spam_reject);
}

void
config_check_secrets(struct config_ctx *ctx, const struct mg_config *cfg, const char *file,
    const int *lines)
{
	for (size_t i = 0; i < config_n_settings; i++) {
		const struct setting *s = &config_settings[i];
		const char *path;
		struct stat st;

		if (s->scope != SCOPE_GLOBAL || !(s->flags & SET_SECRET))
			continue;
		path = *(char *const *)(const void *)((const char *)cfg + s->off);
		if (path == NULL || path[0] == '\0')
			continue;
		/* A missing key is not a secrecy problem; whoever opens it reports it. */
		if (stat(path, &st) < 0) {
			if (errno != ENOENT)
				config_error(ctx, file, lines[i], "expected a readable %s file, found "
				    "%s: %s", s->name, path, strerror(errno));
			continue;
		}
		if (!S_ISREG(st.st_mode))
			config_error(ctx, file, lines[i], "expected %s to be a regular file, found "
			    "%s, which is not", s->name, path);
		else if (st.st_mode & (S_IRWXG | S_IRWXO))
			config_error(ctx, file, lines[i], "expected %s to be accessible by its owner "
			    "only (chmod 600), found mode %04o on %s", s->name,
			    (unsigned)(st.st_mode & 07777), path);
	}
}
