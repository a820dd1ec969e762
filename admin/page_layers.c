/* page_layers.c: the console's Detection layers page and /api/v1/layers: the global settings
 * of the filter's layers in mailguard.conf (RBL and URIBL zones, phishing feeds and their
 * refresh, suspicious TLDs, URL shorteners, score overrides, Bayes threshold, greylisting
 * timings), edited through admin/ops_settings.c (validated like `mailguard -n`, reloaded,
 * audited), plus a read-only table of the per-domain disable_layers in force. Admin role, loop
 * thread. Domain names shown come from the configuration in effect and are escaped. */
#include <string.h>

#include <jansson.h>

#include "admin/admin.h"
#include "admin/ops.h"
#include "config/edit.h"

static const struct ops_key layer_keys[] = {
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
	buf_append_str(o, "<p class=\"help\">These settings apply to every protected domain. "
	    "There is no global on/off switch for the classifiers (Bayes, neural) in this "
	    "version: turn a layer off per domain with <code>disable_layers</code> on the domain's "
	    "page (table below).</p>\n");
}

static void
layers_outro(struct buf *o, const struct http_request *req)
{
	const struct mg_config *cfg = admin_config();
	const char *const *names = layer_names();
	size_t shown = 0;

	(void)req;
	buf_append_str(o, "<h2>Layers turned off per domain</h2>\n<table class=\"list\"><thead><tr>"
	    "<th>Domain</th><th>disable_layers</th></tr></thead><tbody>\n");
	for (size_t i = 0; i < cfg->n_domains; i++) {
		const struct mg_domain *d = &cfg->domains[i];

		if (d->disable_layers == 0)
			continue;
		html_printf(o, "<tr><td><a href=\"/domains/%s\">%s</a></td><td>", d->name, d->name);
		for (size_t b = 0; names != NULL && names[b] != NULL; b++)
			if (d->disable_layers & (1u << b))
				html_printf(o, "<code>%s</code> ", names[b]);
		buf_append_str(o, "</td></tr>\n");
		shown++;
	}
	if (shown == 0)
		buf_append_str(o, "<tr><td colspan=\"2\">Every layer is on for every domain.</td></tr>\n");
	buf_append_str(o, "</tbody></table>\n");
}

static void
layers_json(json_t *j)
{
	const struct mg_config *cfg = admin_config();
	const char *const *names = layer_names();
	json_t *arr = json_array();

	for (size_t i = 0; i < cfg->n_domains; i++) {
		const struct mg_domain *d = &cfg->domains[i];
		json_t *l;

		if (d->disable_layers == 0)
			continue;
		l = json_array();
		for (size_t b = 0; names != NULL && names[b] != NULL; b++)
			if (d->disable_layers & (1u << b))
				json_array_append_new(l, json_string(names[b]));
		json_array_append_new(arr, json_pack("{s:s,s:o}", "domain", d->name,
		    "disable_layers", l));
	}
	json_object_set_new(j, "disabled_per_domain", arr);
	json_object_set_new(j, "global_classifier_switch", json_false());
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
