/* page_lists.c: the console's allow/block list pages (admin role, loop thread): an overview of
 * the global lists and each protected domain's, and one page per owner ("global" or a domain)
 * with the entries of its .allow and .block files, a remove button per entry and an add form.
 * Input: form fields of a logged-in admin with a valid CSRF token (checked by the router). An
 * entry is checked by config/edit.c (cfg_list_add, the loader's own entry parser) and the whole
 * change by the supervisor before the file is rewritten; comments and other lines stay. Output
 * escaped (html_printf). */
#include <string.h>

#include "admin/act_domain.h"
#include "admin/admin.h"
#include "admin/page_main.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define RESP_BODY_MAX	(8u * 1024 * 1024)

struct list_pending {
	struct http_request *req;	/* borrowed: valid until http_finish */
	char owner[256];
	int remove;
};

static int
owner_ok(const char *owner)
{
	return strcmp(owner, "global") == 0 ||
	    (act_domain_name_ok(owner) && act_domain_exists(owner));
}

static void
overview_row(struct buf *out, const char *owner, const char *label, size_t n_allow,
    size_t n_block)
{
	html_printf(out, "<tr><td><a href=\"/lists/%s\">%s</a></td><td class=\"num\">%llu</td>"
	    "<td class=\"num\">%llu</td></tr>", owner, label, (unsigned long long)n_allow,
	    (unsigned long long)n_block);
}

static enum http_result
lists_overview(struct http_request *req, struct http_response *resp)
{
	const struct mg_config *cfg = admin_config();
	struct buf *out = &resp->body;

	html_page_begin(out, req, "Allow and block lists");
	buf_append_str(out, "<p>Allow-list hits are delivered without filtering, block-list hits "
	    "are refused. A domain's own lists beat the global ones. Entries: an address, "
	    "@domain, *.domain (the domain and its subdomains) or an IP address or network.</p>"
	    "<table class=\"mg-table\"><thead><tr><th>Lists of</th><th>Allow entries</th>"
	    "<th>Block entries</th></tr></thead><tbody>");
	overview_row(out, "global", "global (every domain)", cfg->global_allow.n,
	    cfg->global_block.n);
	for (size_t i = 0; i < cfg->n_domains; i++)
		overview_row(out, cfg->domains[i].name, cfg->domains[i].name,
		    cfg->domains[i].allow.n, cfg->domains[i].block.n);
	buf_append_str(out, "</tbody></table>");
	html_page_end(out);
	return HTTP_DONE;
}

static void
render_entries(struct buf *out, const struct http_request *req, const char *owner,
    const struct cfg_file *f, int block)
{
	const char **entries;
	size_t n = f ? cfg_list_entries(f, &entries) : 0;
	const char *kind = block ? "block" : "allow";

	html_printf(out, "<h2>%s list</h2><p class=\"hint\">lists/%s.%s</p>",
	    block ? "Block" : "Allow", owner, kind);
	if (n == 0) {
		buf_append_str(out, "<p>No entries.</p>");
		return;
	}
	html_printf(out, "<table class=\"mg-table\" id=\"%s-entries\"><thead><tr><th>Entry</th>"
	    "<th></th></tr></thead><tbody>", kind);
	for (size_t i = 0; i < n; i++) {
		html_printf(out, "<tr><td>%s</td><td><form class=\"inline\" method=\"post\" "
		    "action=\"/lists/%s/remove\">", entries[i], owner);
		html_csrf_field(out, req);
		html_printf(out, "<input type=\"hidden\" name=\"list\" value=\"%s\">"
		    "<input type=\"hidden\" name=\"entry\" value=\"%s\"><button type=\"submit\" "
		    "class=\"secondary\">Remove</button></form></td></tr>", kind, entries[i]);
	}
	buf_append_str(out, "</tbody></table>");
}

/* The page of one owner; from_form: keep what was entered in the add form (after an error). */
static void
render_owner(struct buf *out, const struct http_request *req, const char *owner, int from_form,
    const char *errors, const char *notice)
{
	char rel[300], title[300];
	const char *error = NULL, *entry = NULL, *list = NULL;
	struct cfg_file *allow, *block;

	act_list_rel(rel, sizeof(rel), owner, 0);
	allow = cfg_file_open(admin_config()->dir, rel, &error);
	act_list_rel(rel, sizeof(rel), owner, 1);
	block = cfg_file_open(admin_config()->dir, rel, &error);
	if (from_form) {
		entry = http_form_get(req, "entry");
		list = http_form_get(req, "list");
	}
	str_fmt(title, sizeof(title), "Lists of %s", owner);
	html_page_begin(out, req, title);
	if (notice != NULL)
		html_printf(out, "<p class=\"flash\" role=\"status\">%s</p>", notice);
	act_html_errors(out, "Not changed:", errors);
	if (error != NULL)
		act_html_errors(out, "Cannot read the lists:", error);
	html_printf(out, "<form class=\"mg-form\" method=\"post\" action=\"/lists/%s/add\">", owner);
	html_csrf_field(out, req);
	html_printf(out, "<div class=\"mg-field\"><label for=\"entry\">New entry</label>"
	    "<input type=\"text\" id=\"entry\" name=\"entry\" required value=\"%s\" "
	    "placeholder=\"user@example.org, @example.org, *.example.org, 192.0.2.0/24\">"
	    "</div>", entry ? entry : "");
	html_printf(out, "<div class=\"mg-field\"><label for=\"list\">List</label>"
	    "<select id=\"list\" name=\"list\"><option%s>allow</option><option%s>block</option>"
	    "</select></div>", list && strcmp(list, "allow") == 0 ? " selected" : "",
	    list && strcmp(list, "block") == 0 ? " selected" : "");
	buf_append_str(out, "<p class=\"mg-actions\"><button type=\"submit\">"
	    "Add entry</button></p></form>");
	render_entries(out, req, owner, allow, 0);
	render_entries(out, req, owner, block, 1);
	buf_append_str(out, "<p><a href=\"/lists\">All lists</a>");
	if (strcmp(owner, "global") != 0)
		html_printf(out, " &middot; <a href=\"/domains/%s\">Domain settings</a>", owner);
	buf_append_str(out, "</p>");
	html_page_end(out);
	cfg_file_free(&allow);
	cfg_file_free(&block);
}

enum http_result
page_lists_get(struct http_request *req, struct http_response *resp)
{
	static const struct { const char *q, *text; } notices[] = {
		{ "added", "Entry added; the lists are reloaded." },
		{ "removed", "Entry removed; the lists are reloaded." },
		{ "same", "Nothing changed: the entry was already there." },
		{ "absent", "Nothing changed: the entry was not in the list." },
	};
	const char *done = http_query_get(req, "done"), *notice = NULL;
	char owner[256];
	const char *rest;

	if (strcmp(req->path, "/lists") == 0 || strcmp(req->path, "/lists/") == 0)
		return lists_overview(req, resp);
	rest = act_path_name(req->path, "/lists/", owner, sizeof(owner));
	if (rest == NULL || *rest != '\0' || !owner_ok(owner)) {
		http_error(req, resp, 404, "No such list.");
		return HTTP_DONE;
	}
	for (size_t i = 0; done && i < sizeof(notices) / sizeof(notices[0]); i++)
		if (strcmp(done, notices[i].q) == 0)
			notice = notices[i].text;
	render_owner(&resp->body, req, owner, 0, NULL, notice);
	return HTTP_DONE;
}

static void
list_done(void *arg, int status, const char *errors)
{
	struct list_pending *p = arg;
	struct http_response resp;
	char path[400];

	memset(&resp, 0, sizeof(resp));
	resp.status = 200;
	buf_init(&resp.body, RESP_BODY_MAX);
	buf_init(&resp.headers, 64 * 1024);
	if (status == 1) {
		resp.status = strstr(errors ? errors : "", "changed since") ? 409 : 400;
		render_owner(&resp.body, p->req, p->owner, 1, errors, NULL);
	} else {
		str_fmt(path, sizeof(path), "/lists/%s?done=%s", p->owner,
		    status == 3 ? (p->remove ? "absent" : "same") : p->remove ? "removed" : "added");
		http_redirect(&resp, path);
	}
	http_finish(p->req, &resp);
	buf_free(&resp.body);
	buf_free(&resp.headers);
	xfree(p);
}

enum http_result
page_lists_post(struct http_request *req, struct http_response *resp)
{
	const char *entry = http_form_get(req, "entry"), *list = http_form_get(req, "list");
	const char *rest, *error = NULL;
	char owner[256], rel[300];
	struct act_op *op;
	struct cfg_file *f;
	int remove;

	rest = act_path_name(req->path, "/lists/", owner, sizeof(owner));
	if (rest == NULL || !owner_ok(owner) ||
	    (strcmp(rest, "/add") != 0 && strcmp(rest, "/remove") != 0)) {
		http_error(req, resp, 404, "No such list.");
		return HTTP_DONE;
	}
	remove = strcmp(rest, "/remove") == 0;
	if (list == NULL || (strcmp(list, "allow") != 0 && strcmp(list, "block") != 0))
		error = "list: expected allow or block";
	else if (entry == NULL || *entry == '\0')
		error = "entry: required";
	if (error == NULL) {
		char *e = act_trim_dup(entry);
		act_list_rel(rel, sizeof(rel), owner, strcmp(list, "block") == 0);
		op = act_op_new(req, remove ? "list.remove" : "list.add", rel);
		f = act_op_open(op, rel, NULL, &error);
		if (f != NULL && (remove ? (cfg_list_remove(f, e), 0) :
		    cfg_list_add(f, e, &error)) == 0) {
			struct list_pending *p = xcalloc(1, sizeof(*p));
			p->req = req;
			p->remove = remove;
			str_lcpy(p->owner, owner, sizeof(p->owner));
			xfree(e);
			act_op_commit(op, list_done, p);
			return HTTP_PENDING;
		}
		xfree(e);
		/* error may point into the op's file (config/edit.c): copy it before freeing */
		char *msg = xasprintf("%s", error ? error : "invalid entry");
		act_op_free(&op);
		resp->status = 400;
		render_owner(&resp->body, req, owner, 1, msg, NULL);
		xfree(msg);
		return HTTP_DONE;
	}
	resp->status = 400;
	render_owner(&resp->body, req, owner, 1, error ? error : "invalid entry", NULL);
	return HTTP_DONE;
}
