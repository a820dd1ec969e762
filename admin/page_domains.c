/* page_domains.c: the console's Domains pages (admin role, loop thread): the list of protected
 * domains with their main settings and traffic, the add form, the edit form with every per-domain
 * key of the settings table (current value as written, default when unset), and removal with a
 * confirmation page. Input: form fields of a logged-in admin with a valid CSRF token (checked by
 * the router); every value is written as typed and validated by the supervisor through
 * admin_config_commit (the `mailguard -n` loader) before anything changes; the file version in a
 * hidden field refuses edits of a file that changed since the form was loaded. Everything shown
 * is escaped (html_printf). */
#include <string.h>

#include "admin/act_domain.h"
#include "admin/admin.h"
#include "admin/metrics.h"
#include "admin/page_main.h"
#include "common/metrics.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define RESP_BODY_MAX	(8u * 1024 * 1024)

/* A POST waiting for the supervisor. */
enum dom_what { DOM_CREATE, DOM_EDIT, DOM_DELETE };
struct dom_pending {
	struct http_request *req;	/* borrowed: valid until http_finish */
	enum dom_what what;
	char domain[256];
};

static void
resp_init(struct http_response *r)
{
	memset(r, 0, sizeof(*r));
	r->status = 200;
	buf_init(&r->body, RESP_BODY_MAX);
	buf_init(&r->headers, 64 * 1024);
}

static void
resp_finish(struct http_request *req, struct http_response *r)
{
	http_finish(req, r);
	buf_free(&r->body);
	buf_free(&r->headers);
}

static const char *
field_name(const struct act_key *k, char *dst, size_t size)
{
	str_fmt(dst, size, "k_%s", k->name);
	return dst;
}

/* ---- the list ---- */

static void
fmt_threshold(struct buf *out, double v)
{
	html_printf(out, "%g", v);
}

static void
list_row(struct buf *out, const struct mg_domain *d, const struct admin_domain_totals *t)
{
	static const char *const tls[] = { "none", "may", "encrypt", "dane" };
	static const char *const alg[] = { "rsa2048", "ed25519", "both" };

	html_printf(out, "<tr><td><a href=\"/domains/%s\">%s</a></td><td>%s%s%s", d->name, d->name,
	    d->transport_mx ? "" : "[", d->transport_host, d->transport_mx ? "" : "]");
	if (d->transport_port != 25)
		html_printf(out, ":%d", d->transport_port);
	buf_append_str(out, "</td><td>");
	fmt_threshold(out, d->greylist);
	buf_append_str(out, " / ");
	fmt_threshold(out, d->spam_quarantine);
	buf_append_str(out, " / ");
	fmt_threshold(out, d->spam_reject);
	html_printf(out, "</td><td>%s</td><td>%s</td>",
	    (unsigned)d->tls_policy < 4 ? tls[d->tls_policy] : "?",
	    d->dkim_sign ? ((unsigned)d->dkim_algorithm < 3 ? alg[d->dkim_algorithm] : "?") : "no");
	if (t != NULL)
		html_printf(out, "<td class=\"num\">%llu</td><td class=\"num\">%llu</td>"
		    "<td class=\"num\">%llu</td><td class=\"num\">%llu</td>",
		    t->v[MD_IN_DELIVER], t->v[MD_IN_QUARANTINE],
		    t->v[MD_IN_REJECT] + t->v[MD_IN_GREYLIST], t->v[MD_OUT_SENT]);
	else
		buf_append_str(out, "<td class=\"num\">0</td><td class=\"num\">0</td>"
		    "<td class=\"num\">0</td><td class=\"num\">0</td>");
	html_printf(out, "<td><a href=\"/lists/%s\">lists</a></td></tr>", d->name);
}

static enum http_result
domains_list(struct http_request *req, struct http_response *resp)
{
	const struct mg_config *cfg = admin_config();
	struct admin_domain_totals *tot = xcalloc(cfg->n_domains + 1, sizeof(*tot));
	size_t n_tot = admin_metrics_domains(tot, cfg->n_domains + 1), j = 0;
	const char *deleted = http_query_get(req, "deleted");
	struct buf *out = &resp->body;

	html_page_begin(out, req, "Domains");
	if (deleted != NULL)
		html_printf(out, "<p class=\"flash\">Domain %s removed.</p>", deleted);
	html_printf(out, "<p class=\"mg-actions\"><a class=\"button\" href=\"/domains/new\">"
	    "Add a domain</a></p><p>%zu protected domain%s. Thresholds: greylist / quarantine / "
	    "reject. Traffic since the daemon started.</p>", cfg->n_domains,
	    cfg->n_domains == 1 ? "" : "s");
	buf_append_str(out, "<table class=\"mg-table\"><thead><tr><th>Domain</th><th>Transport</th>"
	    "<th>Thresholds</th><th>TLS policy</th><th>DKIM signing</th><th>Delivered</th>"
	    "<th>Quarantined</th><th>Refused</th><th>Sent out</th><th></th></tr></thead><tbody>");
	for (size_t i = 0; i < cfg->n_domains; i++) {
		const struct mg_domain *d = &cfg->domains[i];
		const struct admin_domain_totals *t = NULL;
		/* both sorted by name: one merge pass */
		while (j < n_tot && strcmp(tot[j].domain, d->name) < 0)
			j++;
		if (j < n_tot && strcmp(tot[j].domain, d->name) == 0)
			t = &tot[j];
		list_row(out, d, t);
	}
	if (cfg->n_domains == 0)
		buf_append_str(out, "<tr><td colspan=\"10\">No protected domain yet.</td></tr>");
	buf_append_str(out, "</tbody></table>");
	html_page_end(out);
	xfree(tot);
	return HTTP_DONE;
}

/* ---- add ---- */

static void
render_new(struct buf *out, const struct http_request *req, const char *errors)
{
	const char *name = req->method == HTTP_POST ? http_form_get(req, "name") : NULL;
	const char *transport = req->method == HTTP_POST ? http_form_get(req, "transport") : NULL;

	html_page_begin(out, req, "Add a domain");
	act_html_errors(out, "The domain was not added:", errors);
	buf_append_str(out, "<form class=\"mg-form\" method=\"post\" action=\"/domains\">");
	html_csrf_field(out, req);
	html_printf(out, "<div class=\"mg-field\"><label for=\"name\">Domain name</label>"
	    "<input type=\"text\" id=\"name\" name=\"name\" required value=\"%s\" "
	    "placeholder=\"example.org\"></div>", name ? name : "");
	html_printf(out, "<div class=\"mg-field\"><label for=\"transport\">transport</label>"
	    "<input type=\"text\" id=\"transport\" name=\"transport\" required value=\"%s\" "
	    "placeholder=\"[backend.example.org]:25\"><p class=\"hint\">%s</p></div>",
	    transport ? transport : "", act_domain_key("transport")->doc);
	buf_append_str(out, "<p class=\"mg-actions\"><button type=\"submit\">"
	    "Add domain</button> <a href=\"/domains\">Cancel</a></p></form>"
	    "<p>The other settings start at their defaults; change them on the domain's page.</p>");
	html_page_end(out);
}

static enum http_result
domains_new(struct http_request *req, struct http_response *resp)
{
	render_new(&resp->body, req, NULL);
	return HTTP_DONE;
}

/* ---- edit form ---- */

/* The value to show: what was entered (re-display after an error) or what the file holds. */
static void
shown_value(const struct http_request *req, int from_form, const struct cfg_file *f,
    const struct act_key *k, struct buf *out)
{
	char name[80];

	if (from_form) {
		field_name(k, name, sizeof(name));
		if (k->kind == ACT_LAYERS) {
			act_form_join(req, name, " ", out);
		} else {
			const char *v = http_form_get(req, name);
			buf_append_str(out, v ? v : "");
		}
		return;
	}
	if (k->kind == ACT_LINES) {
		char *vals[100];
		size_t n = act_domain_values(f, k->name, vals, 100);
		for (size_t i = 0; i < n; i++) {
			buf_printf(out, "%s%s", i ? "\n" : "", vals[i]);
			xfree(vals[i]);
		}
	} else {
		const char *v = cfg_get(f, k->name);
		buf_append_str(out, v ? v : "");
	}
}

static void
render_input(struct buf *out, const struct act_key *k, const char *name, const char *value)
{
	switch (k->kind) {
	case ACT_LINES:
		html_printf(out, "<textarea id=\"%s\" name=\"%s\" rows=\"4\" cols=\"70\">%s</textarea>",
		    name, name, value);
		break;
	case ACT_BOOL:
	case ACT_ENUM: {
		static const char *const yesno[] = { "yes", "no", NULL };
		const char *const *ch = k->kind == ACT_BOOL ? yesno : k->choices;
		html_printf(out, "<select id=\"%s\" name=\"%s\"><option value=\"\"%s>default (%s)"
		    "</option>", name, name, *value ? "" : " selected", k->def ? k->def : "");
		for (size_t i = 0; ch && ch[i]; i++)
			html_printf(out, "<option%s>%s</option>",
			    strcmp(value, ch[i]) == 0 ? " selected" : "", ch[i]);
		buf_append_str(out, "</select>");
		break;
	}
	case ACT_LAYERS:
		html_printf(out, "<fieldset id=\"%s\" class=\"checks\">", name);
		for (size_t i = 0; k->choices && k->choices[i]; i++)
			html_printf(out, "<label><input type=\"checkbox\" name=\"%s\" value=\"%s\"%s> "
			    "%s</label> ", name, k->choices[i],
			    cfg_list_has_word(value, k->choices[i]) ? " checked" : "", k->choices[i]);
		buf_append_str(out, "</fieldset>");
		break;
	case ACT_TEXT:
		html_printf(out, "<input type=\"text\" id=\"%s\" name=\"%s\" value=\"%s\"%s>", name,
		    name, value, k->def == NULL ? " required" : "");
		break;
	}
}

static void
render_field(struct buf *out, const struct http_request *req, int from_form,
    const struct cfg_file *f, const struct act_key *k)
{
	char name[80];
	struct buf v, cur;

	buf_init(&v, 1024 * 1024);
	buf_init(&cur, 1024 * 1024);
	field_name(k, name, sizeof(name));
	shown_value(req, from_form, f, k, &v);
	shown_value(req, 0, f, k, &cur);
	html_printf(out, "<div class=\"mg-field\"><label for=\"%s\">%s</label>", name, k->name);
	render_input(out, k, name, v.data ? v.data : "");
	buf_append_str(out, "<p class=\"hint\">");
	if (cur.len > 0)
		html_printf(out, "<strong>Set in the file:</strong> %s. ", cur.data);
	else if (k->def != NULL)
		html_printf(out, "<strong>Not set:</strong> the default (%s) applies. ",
		    *k->def ? k->def : "empty");
	html_printf(out, "%s</p></div>", k->doc ? k->doc : "");
	buf_free(&v);
	buf_free(&cur);
}

/* The edit page; from_form: show the values just entered (after an error). */
static void
render_edit(struct buf *out, const struct http_request *req, const char *domain,
    const struct cfg_file *f, int from_form, const char *version, const char *errors,
    const char *notice)
{
	const struct act_key *keys;
	size_t n = act_domain_keys(&keys);
	char title[300];

	str_fmt(title, sizeof(title), "Domain %s", domain);
	html_page_begin(out, req, title);
	if (notice != NULL)
		html_printf(out, "<p class=\"flash\" role=\"status\">%s</p>", notice);
	act_html_errors(out, "Not saved (the file is unchanged):", errors);
	html_printf(out, "<p class=\"mg-actions\"><a href=\"/lists/%s\">Allow and block lists</a>"
	    " &middot; <a href=\"/domains/%s/delete\">Remove this domain</a> &middot; "
	    "<a href=\"/domains\">All domains</a></p>", domain, domain);
	html_printf(out, "<form class=\"mg-form\" method=\"post\" action=\"/domains/%s\">", domain);
	html_csrf_field(out, req);
	html_printf(out, "<input type=\"hidden\" name=\"version\" value=\"%s\">", version);
	buf_append_str(out, "<p>An empty field removes the setting from the file, so its default "
	    "applies. Comments and the order of other lines in the file are kept.</p>");
	for (size_t i = 0; i < n; i++)
		render_field(out, req, from_form, f, &keys[i]);
	buf_append_str(out, "<p class=\"mg-actions\"><button type=\"submit\">"
	    "Save</button></p></form>");
	html_page_end(out);
}

static void
not_found(struct http_request *req, struct http_response *resp)
{
	http_error(req, resp, 404, "No such protected domain.");
}

/* Opens the domain's file for display; 404s when the domain is not protected. */
static struct cfg_file *
open_domain(struct http_request *req, struct http_response *resp, const char *domain)
{
	char rel[300];
	const char *error = NULL;
	struct cfg_file *f;

	if (!act_domain_name_ok(domain) || !act_domain_exists(domain)) {
		not_found(req, resp);
		return NULL;
	}
	act_domain_rel(rel, sizeof(rel), domain);
	if ((f = cfg_file_open(admin_config()->dir, rel, &error)) == NULL)
		http_error(req, resp, 500, error ? error : "cannot read the domain's file");
	return f;
}

static enum http_result
domain_show(struct http_request *req, struct http_response *resp, const char *domain)
{
	static const struct { const char *q, *text; } notices[] = {
		{ "1", "Saved and reloaded." }, { "0", "Nothing changed." },
		{ "restart", "Saved; a changed setting takes effect after a restart." },
		{ "added", "Domain added. Review its settings below." },
	};
	const char *saved = http_query_get(req, "saved"), *notice = NULL;
	struct cfg_file *f = open_domain(req, resp, domain);

	if (f == NULL)
		return HTTP_DONE;
	for (size_t i = 0; saved && i < sizeof(notices) / sizeof(notices[0]); i++)
		if (strcmp(saved, notices[i].q) == 0)
			notice = notices[i].text;
	render_edit(&resp->body, req, domain, f, 0, cfg_file_version(f), NULL, notice);
	cfg_file_free(&f);
	return HTTP_DONE;
}

/* ---- delete ---- */

static enum http_result
domain_confirm_delete(struct http_request *req, struct http_response *resp, const char *domain)
{
	struct cfg_file *f = open_domain(req, resp, domain);
	struct buf *out = &resp->body;
	char title[300];

	if (f == NULL)
		return HTTP_DONE;
	str_fmt(title, sizeof(title), "Remove %s", domain);
	html_page_begin(out, req, title);
	html_printf(out, "<p>Remove the protected domain <strong>%s</strong>? Its file "
	    "domains.d/%s.conf and its lists (lists/%s.allow, lists/%s.block) are deleted and the "
	    "configuration is reloaded: mail for the domain is then refused as relaying. DKIM keys "
	    "stay with the signer.</p>", domain, domain, domain, domain);
	html_printf(out, "<form class=\"mg-form\" method=\"post\" action=\"/domains/%s/delete\">",
	    domain);
	html_csrf_field(out, req);
	html_printf(out, "<input type=\"hidden\" name=\"version\" value=\"%s\">",
	    cfg_file_version(f));
	html_printf(out, "<p class=\"mg-actions\"><button type=\"submit\" "
	    "class=\"danger\">Remove %s</button> <a href=\"/domains/%s\">Cancel</a></p></form>", domain,
	    domain);
	html_page_end(out);
	cfg_file_free(&f);
	return HTTP_DONE;
}

/* ---- POST completion ---- */

static void
dom_done(void *arg, int status, const char *errors)
{
	struct dom_pending *p = arg;
	struct http_response resp;
	char path[400];

	resp_init(&resp);
	if (status != 1) {
		const char *q = status == 3 ? "0" : status == 2 ? "restart" : "1";
		if (p->what == DOM_DELETE)
			str_fmt(path, sizeof(path), "/domains?deleted=%s", p->domain);
		else
			str_fmt(path, sizeof(path), "/domains/%s?saved=%s", p->domain,
			    p->what == DOM_CREATE ? "added" : q);
		http_redirect(&resp, path);
	} else if (p->what == DOM_CREATE) {
		resp.status = 400;
		render_new(&resp.body, p->req, errors);
	} else {
		const char *v = http_form_get(p->req, "version");
		char rel[300];
		const char *error = NULL;
		struct cfg_file *f;
		act_domain_rel(rel, sizeof(rel), p->domain);
		f = cfg_file_open(admin_config()->dir, rel, &error);
		resp.status = strstr(errors ? errors : "", "changed since") ? 409 : 400;
		if (f != NULL && p->what == DOM_EDIT)
			render_edit(&resp.body, p->req, p->domain, f, 1, v ? v : "", errors, NULL);
		else
			http_error(p->req, &resp, resp.status, errors ? errors : error);
		cfg_file_free(&f);
	}
	resp_finish(p->req, &resp);
	xfree(p);
}

static enum http_result
start_commit(struct http_request *req, struct act_op *op, enum dom_what what,
    const char *domain)
{
	struct dom_pending *p = xcalloc(1, sizeof(*p));

	p->req = req;
	p->what = what;
	str_lcpy(p->domain, domain, sizeof(p->domain));
	act_op_commit(op, dom_done, p);
	return HTTP_PENDING;
}

/* Applies every field of the edit form to f; problems go to errors. */
static void
apply_form(const struct http_request *req, struct cfg_file *f, struct buf *errors)
{
	const struct act_key *keys;
	size_t n = act_domain_keys(&keys);

	for (size_t i = 0; i < n; i++) {
		char name[80];
		const char *error = NULL, *v;
		struct buf joined;
		field_name(&keys[i], name, sizeof(name));
		buf_init(&joined, 64 * 1024);
		if (keys[i].kind == ACT_LAYERS) {
			act_form_join(req, name, " ", &joined);
			v = joined.data ? joined.data : "";
		} else if ((v = http_form_get(req, name)) == NULL) {
			buf_free(&joined);
			continue;	/* field not sent: leave the key alone */
		}
		if (act_domain_set(f, keys[i].name, v, &error) < 0)
			buf_printf(errors, "%s: %s\n", keys[i].name, error);
		buf_free(&joined);
	}
}

static enum http_result
domain_save(struct http_request *req, struct http_response *resp, const char *domain)
{
	const char *version = http_form_get(req, "version"), *error = NULL;
	struct act_op *op;
	struct cfg_file *f;
	struct buf errors;
	char rel[300];

	if (!act_domain_name_ok(domain) || !act_domain_exists(domain)) {
		not_found(req, resp);
		return HTTP_DONE;
	}
	act_domain_rel(rel, sizeof(rel), domain);
	op = act_op_new(req, "domain.edit", domain);
	if ((f = act_op_open(op, rel, version, &error)) == NULL) {
		act_op_free(&op);
		http_error(req, resp, 500, error);
		return HTTP_DONE;
	}
	buf_init(&errors, 64 * 1024);
	apply_form(req, f, &errors);
	if (errors.len > 0) {
		resp->status = 400;
		render_edit(&resp->body, req, domain, f, 1, version ? version : "", errors.data,
		    NULL);
		buf_free(&errors);
		act_op_free(&op);
		return HTTP_DONE;
	}
	buf_free(&errors);
	return start_commit(req, op, DOM_EDIT, domain);
}

static enum http_result
domain_delete(struct http_request *req, struct http_response *resp, const char *domain)
{
	const char *version = http_form_get(req, "version"), *error = NULL;
	struct act_op *op;
	char rel[300];

	if (!act_domain_name_ok(domain) || !act_domain_exists(domain)) {
		not_found(req, resp);
		return HTTP_DONE;
	}
	op = act_op_new(req, "domain.delete", domain);
	act_domain_rel(rel, sizeof(rel), domain);
	if (act_op_delete(op, rel, version, &error) == 0) {
		act_list_rel(rel, sizeof(rel), domain, 0);
		if (act_op_delete(op, rel, NULL, &error) == 0) {
			act_list_rel(rel, sizeof(rel), domain, 1);
			act_op_delete(op, rel, NULL, &error);
		}
	}
	if (error != NULL) {
		act_op_free(&op);
		http_error(req, resp, 500, error);
		return HTTP_DONE;
	}
	return start_commit(req, op, DOM_DELETE, domain);
}

static enum http_result
domains_create(struct http_request *req, struct http_response *resp)
{
	const char *error = NULL;
	char *name = act_trim_dup(http_form_get(req, "name") ? http_form_get(req, "name") : "");
	const char *transport = http_form_get(req, "transport");
	struct act_op *op = NULL;
	struct cfg_file *f;
	char rel[300];

	str_lower(name);
	if (!act_domain_name_ok(name))
		error = "domain name: expected a domain name such as example.org";
	else if (act_domain_exists(name))
		error = "domain name: the domain is already protected";
	else if (transport == NULL || *transport == '\0')
		error = "transport: required (the back-end server that receives the domain's mail)";
	if (error == NULL) {
		act_domain_rel(rel, sizeof(rel), name);
		op = act_op_new(req, "domain.add", name);
		/* "" = the file must not exist yet */
		if ((f = act_op_open(op, rel, "", &error)) != NULL &&
		    act_domain_set(f, "transport", transport, &error) >= 0) {
			enum http_result r = start_commit(req, op, DOM_CREATE, name);
			xfree(name);
			return r;
		}
	}
	/* error may point into the op's file (config/edit.c): copy it before freeing */
	char *msg = xasprintf("%s", error ? error : "invalid value");
	act_op_free(&op);
	resp->status = 400;
	render_new(&resp->body, req, msg);
	xfree(msg);
	xfree(name);
	return HTTP_DONE;
}

/* ---- routing inside /domains/ ---- */

enum http_result
page_domains_get(struct http_request *req, struct http_response *resp)
{
	char domain[256];
	const char *rest;

	if (strcmp(req->path, "/domains") == 0 || strcmp(req->path, "/domains/") == 0)
		return domains_list(req, resp);
	if (strcmp(req->path, "/domains/new") == 0)
		return domains_new(req, resp);
	if ((rest = act_path_name(req->path, "/domains/", domain, sizeof(domain))) == NULL) {
		not_found(req, resp);
		return HTTP_DONE;
	}
	if (*rest == '\0')
		return domain_show(req, resp, domain);
	if (strcmp(rest, "/delete") == 0)
		return domain_confirm_delete(req, resp, domain);
	not_found(req, resp);
	return HTTP_DONE;
}

enum http_result
page_domains_post(struct http_request *req, struct http_response *resp)
{
	char domain[256];
	const char *rest;

	if (strcmp(req->path, "/domains") == 0)
		return domains_create(req, resp);
	if ((rest = act_path_name(req->path, "/domains/", domain, sizeof(domain))) == NULL) {
		not_found(req, resp);
		return HTTP_DONE;
	}
	if (*rest == '\0')
		return domain_save(req, resp, domain);
	if (strcmp(rest, "/delete") == 0)
		return domain_delete(req, resp, domain);
	not_found(req, resp);
	return HTTP_DONE;
}
