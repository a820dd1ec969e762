/* page_users.c: the console's Admins page and /api/v1/users: admin users (add, change
 * password, remove -- never the last one) and API tokens (create: the token is shown once;
 * remove), through admin/session.h (argon2id hashes, atomic file rewrites). Admin role, loop
 * thread. Names are checked by session.c; passwords are compared twice on the form and never
 * logged or audited (the audit record names the user or token only); token text is wiped from
 * our buffers after the page is built. */
#include <string.h>

#include <jansson.h>

#include "admin/admin.h"
#include "admin/ops.h"
#include "admin/session.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define USERS_MAX	1000

static int
user_exists(const char *user)
{
	static char names[USERS_MAX][64];
	size_t n = admin_user_list(names, USERS_MAX);

	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], user) == 0)
			return 1;
	return 0;
}

static void
user_row(struct buf *o, const struct http_request *req, const char *name)
{
	html_printf(o, "<tr><td>%s%s</td><td>", name,
	    req->who && strcmp(req->who->user, name) == 0 ? " (you)" : "");
	buf_append_str(o, "<form method=\"post\" action=\"/users/password\" class=\"inline\">");
	html_csrf_field(o, req);
	html_printf(o, "<input type=\"hidden\" name=\"user\" value=\"%s\">"
	    "<input type=\"password\" name=\"password\" placeholder=\"new password\" "
	    "autocomplete=\"new-password\" required minlength=\"12\">"
	    "<input type=\"password\" name=\"password2\" placeholder=\"again\" "
	    "autocomplete=\"new-password\" required minlength=\"12\">"
	    "<button type=\"submit\">Change password</button></form> ", name);
	buf_append_str(o, "<form method=\"post\" action=\"/users/remove\" class=\"inline\">");
	html_csrf_field(o, req);
	html_printf(o, "<input type=\"hidden\" name=\"user\" value=\"%s\">"
	    "<button type=\"submit\" class=\"danger\">Remove…</button></form></td></tr>\n", name);
}

static void
render_users(struct buf *o, const struct http_request *req)
{
	static char names[USERS_MAX][64];
	size_t n = admin_user_list(names, USERS_MAX);

	html_page_begin(o, req, "Admin users");
	buf_append_str(o, "<table class=\"list\"><thead><tr><th>User</th>"
	    "<th>Actions</th></tr></thead><tbody>\n");
	for (size_t i = 0; i < n; i++)
		user_row(o, req, names[i]);
	buf_append_str(o, "</tbody></table>\n<h2>Add an admin</h2>\n"
	    "<form method=\"post\" action=\"/users/add\" class=\"settings\">");
	html_csrf_field(o, req);
	buf_append_str(o, "<div class=\"field\"><label for=\"nu\">User name</label>"
	    "<input id=\"nu\" name=\"user\" required maxlength=\"48\"></div>"
	    "<div class=\"field\"><label for=\"np\">Password (12 characters or more)</label>"
	    "<input id=\"np\" type=\"password\" name=\"password\" autocomplete=\"new-password\" "
	    "required minlength=\"12\"></div><div class=\"field\"><label for=\"np2\">Password "
	    "again</label><input id=\"np2\" type=\"password\" name=\"password2\" "
	    "autocomplete=\"new-password\" required minlength=\"12\"></div>"
	    "<p><button type=\"submit\">Add admin</button></p></form>\n");
	n = admin_token_list(names, USERS_MAX);
	buf_append_str(o, "<h2>API tokens</h2>\n<p class=\"help\">For scripts and remote "
	    "<code>mailguardctl</code>: send <code>Authorization: Bearer TOKEN</code>. A token is "
	    "shown once, when it is created; only its SHA-256 is stored.</p>\n<table class=\"list\">"
	    "<thead><tr><th>Token name</th><th></th></tr></thead><tbody>\n");
	for (size_t i = 0; i < n; i++) {
		html_printf(o, "<tr><td>%s</td><td><form method=\"post\" action=\"/users/token-remove\" "
		    "class=\"inline\">", names[i]);
		html_csrf_field(o, req);
		html_printf(o, "<input type=\"hidden\" name=\"name\" value=\"%s\"><button "
		    "type=\"submit\" class=\"danger\">Remove</button></form></td></tr>\n", names[i]);
	}
	if (n == 0)
		buf_append_str(o, "<tr><td colspan=\"2\">No tokens.</td></tr>\n");
	buf_append_str(o, "</tbody></table>\n<form method=\"post\" action=\"/users/token\" "
	    "class=\"inline\">");
	html_csrf_field(o, req);
	buf_append_str(o, "<label for=\"tn\">New token named</label> <input id=\"tn\" name=\"name\" "
	    "required maxlength=\"48\"> <button type=\"submit\">Create token</button></form>\n");
	html_page_end(o);
}

enum http_result
ops_page_users(struct http_request *req, struct http_response *resp)
{
	render_users(&resp->body, req);
	return HTTP_DONE;
}

/* POST /users/{add,password,remove,token,token-remove} ------------------------------------- */

static void
done_page(struct http_request *req, struct http_response *resp, int ok, const char *text)
{
	if (ok) {
		http_redirect(resp, "/users");
		return;
	}
	ops_result_page(req, resp, "Admins", 0, text, "/users");
	resp->status = 400;
}

static enum http_result
post_set(struct http_request *req, struct http_response *resp, int add)
{
	const char *user = http_form_get(req, "user"), *pw = http_form_get(req, "password");
	const char *pw2 = http_form_get(req, "password2"), *err;

	if (user == NULL || pw == NULL || pw2 == NULL || strcmp(pw, pw2) != 0) {
		done_page(req, resp, 0, "the two passwords differ (or a field is missing)");
		return HTTP_DONE;
	}
	if (add ? user_exists(user) : !user_exists(user)) {
		done_page(req, resp, 0, add ? "that user exists: change the password instead" :
		    "no such user");
		return HTTP_DONE;
	}
	if (admin_user_set(user, pw, &err) < 0) {
		done_page(req, resp, 0, err);
		return HTTP_DONE;
	}
	admin_audit(req, add ? "user add" : "user password", user, NULL, NULL);
	done_page(req, resp, 1, NULL);
	return HTTP_DONE;
}

static enum http_result
post_remove(struct http_request *req, struct http_response *resp)
{
	const char *user = http_form_get(req, "user"), *err;
	char q[160];

	if (user == NULL || !user_exists(user)) {
		done_page(req, resp, 0, "no such user");
		return HTTP_DONE;
	}
	if (!ops_confirmed(req)) {
		str_fmt(q, sizeof(q), "Remove the admin user %s? Their sessions end at once.", user);
		ops_confirm_page(req, resp, "remove", q, "/users/remove", "/users", "user", user);
		return HTTP_DONE;
	}
	if (admin_user_remove(user, &err) < 0) {
		done_page(req, resp, 0, err);
		return HTTP_DONE;
	}
	admin_audit(req, "user remove", user, NULL, NULL);
	done_page(req, resp, 1, NULL);
	return HTTP_DONE;
}

static enum http_result
post_token(struct http_request *req, struct http_response *resp)
{
	const char *name = http_form_get(req, "name"), *err;
	char tok[128];

	if (name == NULL || admin_token_create(name, tok, sizeof(tok), &err) < 0) {
		done_page(req, resp, 0, name ? err : "a name is needed");
		return HTTP_DONE;
	}
	admin_audit(req, "token create", name, NULL, NULL);
	html_page_begin(&resp->body, req, "API token");
	html_printf(&resp->body, "<h2>API token %s</h2>\n<p class=\"alert\">Copy it now: it is "
	    "not shown again.</p>\n<pre class=\"token\">%s</pre>\n<p><a href=\"/users\">Back</a>"
	    "</p>\n", name, tok);
	html_page_end(&resp->body);
	http_response_header(resp, "Cache-Control", "no-store");
	xwipe(tok, sizeof(tok));
	return HTTP_DONE;
}

static enum http_result
post_token_remove(struct http_request *req, struct http_response *resp)
{
	const char *name = http_form_get(req, "name"), *err;

	if (name == NULL || admin_token_remove(name, &err) < 0) {
		done_page(req, resp, 0, name ? err : "a name is needed");
		return HTTP_DONE;
	}
	admin_audit(req, "token remove", name, NULL, NULL);
	done_page(req, resp, 1, NULL);
	return HTTP_DONE;
}

enum http_result
ops_post_users(struct http_request *req, struct http_response *resp)
{
	const char *tail = ops_path_tail(req, "/users/");

	if (tail == NULL)
		;
	else if (strcmp(tail, "add") == 0)
		return post_set(req, resp, 1);
	else if (strcmp(tail, "password") == 0)
		return post_set(req, resp, 0);
	else if (strcmp(tail, "remove") == 0)
		return post_remove(req, resp);
	else if (strcmp(tail, "token") == 0)
		return post_token(req, resp);
	else if (strcmp(tail, "token-remove") == 0)
		return post_token_remove(req, resp);
	http_error(req, resp, 404, "unknown action");
	return HTTP_DONE;
}

/* JSON API ----------------------------------------------------------------------------------- */

enum http_result
ops_api_users(struct http_request *req, struct http_response *resp)
{
	static char names[USERS_MAX][64];
	json_t *u = json_array(), *t = json_array();
	size_t n = admin_user_list(names, USERS_MAX);

	(void)req;
	for (size_t i = 0; i < n; i++)
		json_array_append_new(u, json_string(names[i]));
	n = admin_token_list(names, USERS_MAX);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(t, json_string(names[i]));
	ops_json(resp, 200, json_pack("{s:o,s:o}", "users", u, "tokens", t));
	return HTTP_DONE;
}

/* POST {"user":..., "password":...}: adds the user or changes its password. */
enum http_result
ops_api_users_post(struct http_request *req, struct http_response *resp)
{
	json_t *j = ops_json_body(req, resp);
	const char *user, *pw, *err;
	int existed;

	if (j == NULL)
		return HTTP_DONE;
	user = json_string_value(json_object_get(j, "user"));
	pw = json_string_value(json_object_get(j, "password"));
	if (user == NULL || pw == NULL) {
		json_decref(j);
		http_error(req, resp, 400, "user and password (strings) are needed");
		return HTTP_DONE;
	}
	existed = user_exists(user);
	if (admin_user_set(user, pw, &err) < 0) {
		json_decref(j);
		http_error(req, resp, 400, err);
		return HTTP_DONE;
	}
	admin_audit(req, existed ? "user password" : "user add", user, NULL, NULL);
	ops_json(resp, existed ? 200 : 201, json_pack("{s:b,s:s,s:b}", "ok", 1, "user", user,
	    "created", !existed));
	json_decref(j);
	return HTTP_DONE;
}

enum http_result
ops_api_users_delete(struct http_request *req, struct http_response *resp)
{
	const char *user = ops_path_tail(req, "/api/v1/users/"), *err;

	if (user == NULL || !user_exists(user)) {
		http_error(req, resp, 404, "no such user");
		return HTTP_DONE;
	}
	if (admin_user_remove(user, &err) < 0) {
		http_error(req, resp, 409, err);
		return HTTP_DONE;
	}
	admin_audit(req, "user remove", user, NULL, NULL);
	ops_json(resp, 200, json_pack("{s:b,s:s}", "ok", 1, "removed", user));
	return HTTP_DONE;
}
