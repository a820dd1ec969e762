/* page_branding.c: the console's Branding page and /api/v1/branding: brand_name, brand_color
 * (#rrggbb, checked by the loader) and brand_logo (the path of a PNG or SVG file on the server:
 * this version has no upload) in mailguard.conf, edited through admin/ops_settings.c, with a
 * preview of the header in the colour in effect. Admin role, loop thread. The preview is an
 * inline SVG (presentation attributes, so the strict Content-Security-Policy needs no inline
 * style); every configured string is escaped. */
#include <string.h>

#include <jansson.h>

#include "admin/admin.h"
#include "admin/ops.h"

static const struct ops_key brand_keys[] = {
	{ "brand_name", 0, "Product name" },
	{ "brand_color", 0, "Primary colour (#rrggbb)" },
	{ "brand_logo", 0, "Logo file on the server (PNG or SVG)" },
};

static int
color_ok(const char *c)
{
	if (c == NULL || strlen(c) != 7 || c[0] != '#')
		return 0;
	for (int i = 1; i < 7; i++)
		if (!strchr("0123456789abcdefABCDEF", c[i]))
			return 0;
	return 1;
}

static void
brand_intro(struct buf *o, const struct http_request *req)
{
	const struct mg_config *cfg = admin_config();
	const char *color = color_ok(cfg->brand_color) ? cfg->brand_color : "#1f6feb";

	(void)req;
	buf_append_str(o, "<h2>Header preview (settings in effect)</h2>\n<div class=\"preview\">"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"56\" role=\"img\" "
	    "aria-label=\"header preview\">");
	html_printf(o, "<rect width=\"640\" height=\"56\" rx=\"6\" fill=\"%s\"/>"
	    "<text x=\"20\" y=\"36\" font-family=\"sans-serif\" font-size=\"22\" "
	    "font-weight=\"bold\" fill=\"#ffffff\">%s</text>", color,
	    cfg->brand_name && *cfg->brand_name ? cfg->brand_name : "MailGuard");
	buf_append_str(o, "</svg></div>\n");
	if (cfg->brand_logo && *cfg->brand_logo)
		html_printf(o, "<p>Logo in effect: <code>%s</code> (shown in the page header above "
		    "every page).</p>\n", cfg->brand_logo);
	else
		buf_append_str(o, "<p>No logo configured: the header shows the name only.</p>\n");
	buf_append_str(o, "<p class=\"help\">The logo is a file already on the server (PNG or SVG, "
	    "at most 256 KiB, readable by MailGuard): give its path. Uploading a logo through the "
	    "console is not possible in this version.</p>\n");
}

static void
brand_json(json_t *j)
{
	const struct mg_config *cfg = admin_config();

	json_object_set_new(j, "effective", json_pack("{s:s,s:s,s:s}", "brand_name",
	    cfg->brand_name ? cfg->brand_name : "", "brand_color",
	    cfg->brand_color ? cfg->brand_color : "", "brand_logo",
	    cfg->brand_logo ? cfg->brand_logo : ""));
	json_object_set_new(j, "logo_upload", json_false());
}

static const struct ops_settings_page brand_page = {
	.path = "/branding", .title = "Branding", .audit_target = "mailguard.conf branding",
	.keys = brand_keys, .n_keys = sizeof(brand_keys) / sizeof(brand_keys[0]),
	.intro = brand_intro, .extra_json = brand_json,
};

enum http_result
ops_page_branding(struct http_request *req, struct http_response *resp)
{
	return ops_settings_get(req, resp, &brand_page, 0);
}

enum http_result
ops_post_branding(struct http_request *req, struct http_response *resp)
{
	return ops_settings_post(req, resp, &brand_page, 0);
}

enum http_result
ops_api_branding(struct http_request *req, struct http_response *resp)
{
	return ops_settings_get(req, resp, &brand_page, 1);
}

enum http_result
ops_api_branding_put(struct http_request *req, struct http_response *resp)
{
	return ops_settings_post(req, resp, &brand_page, 1);
}
