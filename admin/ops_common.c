/* ops_common.c: plumbing shared by the console's operations pages (DKIM, queue, layers,
 * branding, admins, audit) and their JSON API: pending responses completed from control replies,
 * path splitting, result and confirmation pages, JSON output and bounded JSON request bodies.
 * Admin role, loop thread. Request paths and bodies are untrusted: path parts are length-capped
 * here and validated by each handler; JSON bodies are parsed by jansson with the transport's
 * body cap and duplicate keys refused. */
#include <string.h>

#include <jansson.h>

#include "admin/admin.h"
#include "admin/ops.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define OPS_HEADERS_BYTES	(16 * 1024)

void
ops_resp_init(struct http_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
	buf_init(&resp->body, OPS_TEXT_MAX * 2);
	buf_init(&resp->headers, OPS_HEADERS_BYTES);
}

void
ops_resp_free(struct http_response *resp)
{
	buf_free(&resp->body);
	buf_free(&resp->headers);
}

struct ops_ctl_ctx {
	struct http_request *req;
	ops_ctl_done *done;
	void *arg;
};

static void
ops_ctl_reply(void *arg, int status, const char *text)
{
	struct ops_ctl_ctx *c = arg;
	struct http_response resp;

	ops_resp_init(&resp);
	c->done(c->req, &resp, status, text ? text : "", c->arg);
	http_finish(c->req, &resp);
	ops_resp_free(&resp);
	xfree(c);
}

int
ops_ctl(struct http_request *req, int argc, const char *const *argv, ops_ctl_done *done,
    void *arg)
{
	struct ops_ctl_ctx *c = xcalloc(1, sizeof(*c));

	c->req = req;
	c->done = done;
	c->arg = arg;
	admin_ctl(argc, argv, ops_ctl_reply, c);
	return HTTP_PENDING;
}

const char *
ops_path_tail(const struct http_request *req, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(req->path, prefix, n) != 0)
		return NULL;
	return req->path + n;
}

const char *
ops_path_split(const char *tail, char *a, size_t size)
{
	const char *slash = strchr(tail, '/');
	size_t n = slash ? (size_t)(slash - tail) : strlen(tail);

	if (n == 0 || n >= size)
		return NULL;
	memcpy(a, tail, n);
	a[n] = '\0';
	return slash ? slash + 1 : "";
}

void
ops_result_page(const struct http_request *req, struct http_response *resp, const char *title,
    int ok, const char *text, const char *back)
{
	resp->status = ok ? 200 : 409;
	html_page_begin(&resp->body, req, title);
	html_printf(&resp->body, "<p class=\"%s\">%s</p>\n",
	    ok ? "ok" : "alert", ok ? "Done." : "The command failed:");
	if (text && *text)
		html_printf(&resp->body, "<pre class=\"output\">%s</pre>\n", text);
	html_printf(&resp->body, "<p><a href=\"%s\">Back</a></p>\n", back);
	html_page_end(&resp->body);
}

void
ops_confirm_page(const struct http_request *req, struct http_response *resp, const char *title,
    const char *question, const char *action, const char *back, const char *field,
    const char *value)
{
	html_page_begin(&resp->body, req, title);
	html_printf(&resp->body, "<p class=\"alert\">%s</p>\n"
	    "<form method=\"post\" action=\"%s\">\n", question, action);
	html_csrf_field(&resp->body, req);
	if (field != NULL)
		html_printf(&resp->body, "<input type=\"hidden\" name=\"%s\" value=\"%s\">\n",
		    field, value);
	html_printf(&resp->body, "<input type=\"hidden\" name=\"confirm\" value=\"yes\">\n"
	    "<button type=\"submit\" class=\"danger\">Yes, %s</button>\n"
	    "<a href=\"%s\">Cancel</a>\n</form>\n", title, back);
	html_page_end(&resp->body);
}

int
ops_confirmed(const struct http_request *req)
{
	const char *c = http_form_get(req, "confirm");

	return c != NULL && strcmp(c, "yes") == 0;
}

void
ops_json(struct http_response *resp, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);

	resp->status = status;
	resp->content_type = "application/json";
	buf_reset(&resp->body);
	if (s == NULL || buf_append_str(&resp->body, s) < 0 || buf_append_char(&resp->body, '\n') < 0) {
		resp->status = 500;
		buf_reset(&resp->body);
		buf_append_str(&resp->body, "{\"error\":\"response too large\"}\n");
	}
	free(s);	/* jansson's allocation */
	json_decref(j);
}

void
ops_json_ctl(struct http_response *resp, int status, const char *text)
{
	ops_json(resp, status == 0 ? 200 : status == 2 ? 400 : 409,
	    json_pack("{s:b,s:s}", "ok", status == 0, "output", text ? text : ""));
}

json_t *
ops_json_body(const struct http_request *req, struct http_response *resp)
{
	json_error_t jerr;
	json_t *j;

	if (req->body.len == 0 || req->body.len > HTTP_MAX_BODY) {
		http_error(req, resp, 400, "a JSON object is expected in the body");
		return NULL;
	}
	j = json_loadb(req->body.data, req->body.len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		http_error(req, resp, 400, "the body is not a JSON object");
		return NULL;
	}
	return j;
}
