/* page_layers.c: the console's Detection layers page and /api/v1/layers: the global settings
 * of the filter's layers in mailguard.conf (the global on/off switch global_disable_layers, RBL
 * and URIBL zones, phishing feeds and their refresh, suspicious TLDs, URL shorteners, score
 * overrides, Bayes threshold, greylisting timings), edited through admin/ops_settings.c
 * (validated like `mailguard -n`, reloaded, audited), plus a read-only table of the layers in
 * force per domain (global | the domain's own disable_layers). Admin role, loop thread. Domain
 * names shown come from the configuration in effect and are escaped. */
#include <string.h>

#include <jansson.h>

#include "admin/admin.h"
#include "admin/ops.h"
#include "config/edit.h"

static const struct ops_key layer_keys[] = {
	{ "global_disable_layers", 0, "Layers turned off for every domain" },
	{ "rbl", 1, "DNS block / allow lists at connect" },
	{ "uribl", 1, "URI block lists (domains of message URLs)" },
	{ "phishing_feed", 1, "Phishing URL feeds" },
	{ "phishing_feed_refresh", 0, "Feed refresh interval" },
	{ "suspicious_tld", 1, "Suspicious top-level domains" },
	{ "url_shorteners", 0, "URL shortener domains (space-separated)" },
	{ "score", 1, "Score overrides" },
	{ "bayes_min_learned", 0, "Bayes: messages learned before it scores" },
	{ "greylist_delay", 0, "Greylisting delay" },
	{ "greylist_retry_window", 0, "Greylisting retry window" },
	{ "greylist_pass_lifetime", 0, "Greylisting pass lifetime" },
};

/* Names of MG_LAYER_* bits, from the settings table (bit i = choices[i]). */
static const char *const *
layer_names(void)
{
	struct cfg_setting_info si;

	return cfg_setting_info("disable_layers", 1, &si) == 0 ? si.choices : NULL;
}

static void
layers_intro(struct buf *o, const struct http_request *req)
{
	(void)req;
	buf_append_str(o, "<p class=\"help\">These settings apply to every protected domain. A "
	    "layer ticked under <code>global_disable_layers</code> is off for every domain (e.g. the "
	    "classifiers: bayes, neural); a domain can turn further layers off with its own "
	    "<code>disable_layers</code> on the domain's page (table below).</p>\n");
}

/* The names of the bits of mask, as <code> items (HTML) or a JSON array. */
static void
layers_html(struct buf *o, const char *const *names, unsigned mask)
{
	for (size_t b = 0; names != NULL && names[b] != NULL; b++)
		if (mask & (1u << b))
			html_printf(o, "<code>%s</code> ", names[b]);
}

static json_t *
layers_array(const char *const *names, unsigned mask)
{
	json_t *l = json_array();

	for (size_t b = 0; names != NULL && names[b] != NULL; b++)
		if (mask & (1u << b))
			json_array_append_new(l, json_string(names[b]));
	return l;
}

static void
layers_outro(struct buf *o, const struct http_request *req)
{
	const struct mg_config *cfg = admin_config();
	const char *const *names = layer_names();
	size_t shown = 0;

	(void)req;
	buf_append_str(o, "<h2>Layers turned off</h2>\n<p class=\"help\">In force now (after the "
	    "last reload).</p>\n<table class=\"list\"><thead><tr><th>Domain</th>"
	    "<th>off globally</th><th>off by the domain</th></tr></thead><tbody>\n");
	for (size_t i = 0; i < cfg->n_domains; i++) {
		const struct mg_domain *d = &cfg->domains[i];

		if ((d->disable_layers | cfg->disable_layers) == 0)
			continue;
		html_printf(o, "<tr><td><a href=\"/domains/%s\">%s</a></td><td>", d->name, d->name);
		layers_html(o, names, cfg->disable_layers);
		buf_append_str(o, "</td><td>");
		layers_html(o, names, d->disable_layers & ~cfg->disable_layers);
		buf_append_str(o, "</td></tr>\n");
		shown++;
	}
	if (shown == 0)
		buf_append_str(o, "<tr><td colspan=\"3\">Every layer is on for every domain.</td></tr>\n");
	buf_append_str(o, "</tbody></table>\n");
}

/* "disabled_globally": the global switch in force; "disabled_per_domain": each domain's own
 * disable_layers (what is off for a domain is the union of both). */
static void
layers_json(json_t *j)
{
	const struct mg_config *cfg = admin_config();
	const char *const *names = layer_names();
	json_t *arr = json_array();

	for (size_t i = 0; i < cfg->n_domains; i++) {
		const struct mg_domain *d = &cfg->domains[i];

		if (d->disable_layers == 0)
			continue;
		json_array_append_new(arr, json_pack("{s:s,s:o}", "domain", d->name,
		    "disable_layers", layers_array(names, d->disable_layers)));
	}
	json_object_set_new(j, "disabled_globally", layers_array(names, cfg->disable_layers));
	json_object_set_new(j, "disabled_per_domain", arr);
}

static const struct ops_settings_page layers_page = {
	.path = "/layers", .title = "Detection layers", .audit_target = "mailguard.conf layers",
	.keys = layer_keys, .n_keys = sizeof(layer_keys) / sizeof(layer_keys[0]),
	.intro = layers_intro, .outro = layers_outro, .extra_json = layers_json,
};

enum http_result
ops_page_layers(struct http_request *req, struct http_response *resp)
{
	return ops_settings_get(req, resp, &layers_page, 0);
}

enum http_result
ops_post_layers(struct http_request *req, struct http_response *resp)
{
	return ops_settings_post(req, resp, &layers_page, 0);
}

enum http_result
ops_api_layers(struct http_request *req, struct http_response *resp)
{
	return ops_settings_get(req, resp, &layers_page, 1);
}

enum http_result
ops_api_layers_put(struct http_request *req, struct http_response *resp)
{
	return ops_settings_post(req, resp, &layers_page, 1);
}
