/* api_main.c: the JSON API of domains and lists (/api/v1/domains..., /api/v1/lists...) and the
 * route table admin_main_routes[] of the Dashboard, Domains and Lists pages (admin role, loop
 * thread). Input: JSON request bodies of an authenticated client (API token, or a session plus
 * X-CSRF-Token, checked by the router): at most API_BODY_MAX bytes, parsed by jansson with
 * duplicate keys refused, at most API_SETTINGS_MAX settings and ACT_* limits per value. The same
 * actions as the pages (admin/act_domain.c): values are validated by the supervisor with the
 * `mailguard -n` loader before anything is written. Errors: {"error": ..., "details": [...]}.
 * See doc/api.md. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "admin/act_domain.h"
#include "admin/admin.h"
#include "admin/metrics.h"
#include "admin/page_main.h"
#include "common/metrics.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define API_BODY_MAX		(256 * 1024)
#define API_SETTINGS_MAX	64
#define API_RESP_MAX		(16u * 1024 * 1024)
#define API_DOMAINS_MAX		4097

/* ---- responses ---- */

static void
api_json(struct http_response *resp, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);

	resp->status = status;
	resp->content_type = "application/json";
	buf_reset(&resp->body);
	if (s == NULL || buf_append_str(&resp->body, s) < 0 || buf_append_char(&resp->body, '\n') < 0)
		panic("api_json: cannot render a response");
	free(s);	/* jansson's allocator */
	json_decref(j);
}

/* {"error": message, "details": [lines of details]} */
static void
api_error(struct http_response *resp, int status, const char *message, const char *details)
{
	json_t *d = json_array();
	const char *p = details ? details : "";

	while (*p != '\0') {
		size_t len = strcspn(p, "\n");
		if (len > 0)
			json_array_append_new(d, json_stringn(p, len));
		p += len + (p[len] == '\n');
	}
	api_json(resp, status, json_pack("{s:s, s:o}", "error", message, "details", d));
}

static void
resp_init(struct http_response *r)
{
	memset(r, 0, sizeof(*r));
	r->status = 200;
	buf_init(&r->body, API_RESP_MAX);
	buf_init(&r->headers, 64 * 1024);
}

/* ---- request bodies ---- */

static json_t *
api_body(const struct http_request *req, struct http_response *resp)
{
	json_error_t jerr;
	json_t *j;

	if (req->body.len > API_BODY_MAX) {
		api_error(resp, 413, "request body too large", NULL);
		return NULL;
	}
	j = json_loadb(req->body.data ? req->body.data : "", req->body.len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL) {
		char detail[256];
		str_fmt(detail, sizeof(detail), "line %d column %d: %s", jerr.line, jerr.column,
		    jerr.text);
		api_error(resp, 400, "request body is not valid JSON", detail);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		api_error(resp, 400, "request body must be a JSON object", NULL);
		return NULL;
	}
	return j;
}

/* Applies a "settings" object to f; problems ("key: why") go to errors. */
static void
apply_settings(struct cfg_file *f, json_t *settings, struct buf *errors)
{
	const char *key;
	json_t *v;

	if (!json_is_object(settings)) {
		buf_append_str(errors, "settings: expected an object\n");
		return;
	}
	if (json_object_size(settings) > API_SETTINGS_MAX) {
		buf_append_str(errors, "settings: too many keys\n");
		return;
	}
	json_object_foreach(settings, key, v) {
		const struct act_key *k = act_domain_key(key);
		const char *error = NULL;
		struct buf text;
		int unset;
		if (k == NULL) {
			buf_printf(errors, "%.100s: unknown per-domain setting\n", key);
			continue;
		}
		buf_init(&text, 64 * 1024);
		if (act_json_value(k, v, &text, &unset) < 0)
			buf_printf(errors, "%s: expected a string, number, boolean, array or null\n",
			    key);
		else if (act_domain_set(f, key, unset ? NULL : (text.data ? text.data : ""),
		    &error) < 0)
			buf_printf(errors, "%s: %s\n", key, error);
		buf_free(&text);
	}
}

/* ---- domain objects ---- */

static json_t *
domain_object(const char *domain, const struct cfg_file *f)
{
	const struct act_key *keys;
	size_t n = act_domain_keys(&keys);
	json_t *settings = json_object(), *defaults = json_object();

	for (size_t i = 0; i < n; i++) {
		const struct act_key *k = &keys[i];
		if (k->kind == ACT_LINES) {
			char *vals[100];
			size_t nv = act_domain_values(f, k->name, vals, 100);
			json_t *a = json_array();
			for (size_t j = 0; j < nv; j++) {
				json_array_append_new(a, json_string(vals[j]));
				xfree(vals[j]);
			}
			json_object_set_new(settings, k->name, nv ? a : json_null());
			if (nv == 0)
				json_decref(a);
		} else {
			const char *v = cfg_get(f, k->name);
			json_object_set_new(settings, k->name, v ? json_string(v) : json_null());
		}
		json_object_set_new(defaults, k->name, k->def ? json_string(k->def) : json_null());
	}
	return json_pack("{s:s, s:s, s:s, s:o, s:o}", "name", domain, "file",
	    cfg_file_rel(f), "version", cfg_file_version(f), "settings", settings, "defaults",
	    defaults);
}

static void
api_domain_reply(struct http_response *resp, int status, const char *domain, const char *note)
{
	char rel[300];
	const char *error = NULL;
	struct cfg_file *f;
	json_t *j;

	act_domain_rel(rel, sizeof(rel), domain);
	if ((f = cfg_file_open(admin_config()->dir, rel, &error)) == NULL) {
		api_error(resp, 500, "cannot read the domain's file", error);
		return;
	}
	j = domain_object(domain, f);
	if (note != NULL)
		json_object_set_new(j, "restart_needed", json_string(note));
	api_json(resp, status, j);
	cfg_file_free(&f);
}

static json_t *
traffic_object(const struct admin_domain_totals *t)
{
	static const char *const names[MD_METRIC_COUNT_] = {
		[MD_IN_DELIVER] = "in_deliver", [MD_IN_QUARANTINE] = "in_quarantine",
		[MD_IN_REJECT] = "in_reject", [MD_IN_GREYLIST] = "in_greylist",
		[MD_IN_TEMPFAIL] = "in_tempfail", [MD_OUT_DELIVERED] = "out_delivered",
		[MD_OUT_DEFERRED] = "out_deferred", [MD_OUT_BOUNCED] = "out_bounced",
		[MD_OUT_SENT] = "out_sent",
	};
	json_t *o = json_object();

	for (int i = 0; i < MD_METRIC_COUNT_; i++)
		json_object_set_new(o, names[i], json_integer(t ? (json_int_t)t->v[i] : 0));
	return o;
}

static enum http_result
api_domains_list(struct http_response *resp)
{
	static const char *const tls[] = { "none", "may", "encrypt", "dane" };
	static const char *const alg[] = { "rsa2048", "ed25519", "both" };
	const struct mg_config *cfg = admin_config();
	struct admin_domain_totals *tot = xcalloc(API_DOMAINS_MAX, sizeof(*tot));
	size_t n_tot = admin_metrics_domains(tot, API_DOMAINS_MAX), j = 0;
	json_t *a = json_array();

	for (size_t i = 0; i < cfg->n_domains; i++) {
		const struct mg_domain *d = &cfg->domains[i];
		const struct admin_domain_totals *t = NULL;
		char transport[300];
		while (j < n_tot && strcmp(tot[j].domain, d->name) < 0)
			j++;
		if (j < n_tot && strcmp(tot[j].domain, d->name) == 0)
			t = &tot[j];
		str_fmt(transport, sizeof(transport), "%s%s%s:%d", d->transport_mx ? "" : "[",
		    d->transport_host, d->transport_mx ? "" : "]", d->transport_port);
		json_array_append_new(a, json_pack("{s:s, s:s, s:f, s:f, s:f, s:s, s:b, s:s, s:o}",
		    "name", d->name, "transport", transport, "greylist", d->greylist,
		    "spam_quarantine", d->spam_quarantine, "spam_reject", d->spam_reject,
		    "tls_policy", (unsigned)d->tls_policy < 4 ? tls[d->tls_policy] : "?",
		    "dkim_sign", d->dkim_sign,
		    "dkim_algorithm", (unsigned)d->dkim_algorithm < 3 ? alg[d->dkim_algorithm] : "?",
		    "traffic", traffic_object(t)));
	}
	xfree(tot);
	api_json(resp, 200, json_pack("{s:o}", "domains", a));
	return HTTP_DONE;
}

/* ---- asynchronous completion ---- */

enum api_what { API_CREATE, API_PUT, API_DELETE, API_LIST_ADD, API_LIST_REMOVE };
struct api_pending {
	struct http_request *req;	/* borrowed: valid until http_finish */
	enum api_what what;
	char name[256];
	char *entry;
};

static void
api_done(void *arg, int status, const char *errors)
{
	struct api_pending *p = arg;
	struct http_response resp;

	resp_init(&resp);
	if (status == 1) {
		int conflict = strstr(errors ? errors : "", "changed since") != NULL;
		api_error(&resp, conflict ? 409 : 400, conflict ? "the file changed since it was "
		    "loaded" : "the configuration is not valid with this change", errors);
	} else if (p->what == API_CREATE || p->what == API_PUT) {
		api_domain_reply(&resp, p->what == API_CREATE ? 201 : 200, p->name,
		    status == 2 ? errors : NULL);
	} else if (p->what == API_DELETE) {
		api_json(&resp, 200, json_pack("{s:s}", "deleted", p->name));
	} else {
		api_json(&resp, 200, json_pack("{s:s, s:s, s:b}", "list", p->name, "entry",
		    p->entry, "changed", status != 3));
	}
	http_finish(p->req, &resp);
	buf_free(&resp.body);
	buf_free(&resp.headers);
	xfree(p->entry);
	xfree(p);
}

static enum http_result
api_commit(struct http_request *req, struct act_op *op, enum api_what what, const char *name,
    const char *entry)
{
	struct api_pending *p = xcalloc(1, sizeof(*p));

	p->req = req;
	p->what = what;
	str_lcpy(p->name, name, sizeof(p->name));
	p->entry = entry ? xstrdup(entry) : NULL;
	act_op_commit(op, api_done, p);
	return HTTP_PENDING;
}

/* ---- /api/v1/domains ---- */

/* Edits (or, create: makes) the domain file from body {"settings": {...}, "version": ...}. */
static enum http_result
api_domain_write(struct http_request *req, struct http_response *resp, const char *domain,
    json_t *body, int create)
{
	json_t *settings = json_object_get(body, "settings"), *jv = json_object_get(body, "version");
	const char *version = create ? "" : json_is_string(jv) ? json_string_value(jv) : NULL;
	const char *error = NULL;
	struct act_op *op;
	struct cfg_file *f;
	struct buf errors;
	char rel[300];

	act_domain_rel(rel, sizeof(rel), domain);
	op = act_op_new(req, create ? "domain.add" : "domain.edit", domain);
	if ((f = act_op_open(op, rel, version, &error)) == NULL) {
		act_op_free(&op);
		api_error(resp, 500, "cannot read the domain's file", error);
		return HTTP_DONE;
	}
	buf_init(&errors, 64 * 1024);
	if (settings != NULL || !create)
		apply_settings(f, settings, &errors);
	if (create && cfg_get(f, "transport") == NULL)
		buf_append_str(&errors, "transport: required\n");
	if (errors.len > 0) {
		api_error(resp, 400, "invalid settings", errors.data);
		buf_free(&errors);
		act_op_free(&op);
		return HTTP_DONE;
	}
	buf_free(&errors);
	return api_commit(req, op, create ? API_CREATE : API_PUT, domain, NULL);
}

static enum http_result
api_domains_create(struct http_request *req, struct http_response *resp)
{
	json_t *body = api_body(req, resp), *jn;
	enum http_result r = HTTP_DONE;
	char name[256];

	if (body == NULL)
		return HTTP_DONE;
	jn = json_object_get(body, "name");
	if (!json_is_string(jn) || json_string_length(jn) >= sizeof(name) ||
	    !act_domain_name_ok(json_string_value(jn)))
		api_error(resp, 400, "invalid settings", "name: expected a lower-case domain name");
	else if (str_lcpy(name, json_string_value(jn), sizeof(name)), act_domain_exists(name))
		api_error(resp, 409, "the domain is already protected", name);
	else
		r = api_domain_write(req, resp, name, body, 1);
	json_decref(body);
	return r;
}

static enum http_result
api_domain_delete(struct http_request *req, struct http_response *resp, const char *domain)
{
	const char *version = http_query_get(req, "version"), *error = NULL;
	struct act_op *op = act_op_new(req, "domain.delete", domain);
	char rel[300];

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
		api_error(resp, 500, "cannot read the domain's files", error);
		return HTTP_DONE;
	}
	return api_commit(req, op, API_DELETE, domain, NULL);
}

static enum http_result
api_domains(struct http_request *req, struct http_response *resp)
{
	char domain[256];
	const char *rest;
	json_t *body;
	enum http_result r;

	if (strcmp(req->path, "/api/v1/domains") == 0)
		return req->method == HTTP_POST ? api_domains_create(req, resp) :
		    api_domains_list(resp);
	rest = act_path_name(req->path, "/api/v1/domains/", domain, sizeof(domain));
	if (rest == NULL || *rest != '\0' || !act_domain_name_ok(domain) ||
	    !act_domain_exists(domain)) {
		api_error(resp, 404, "no such protected domain", NULL);
		return HTTP_DONE;
	}
	switch (req->method) {
	case HTTP_GET:
	case HTTP_HEAD:
		api_domain_reply(resp, 200, domain, NULL);
		return HTTP_DONE;
	case HTTP_DELETE:
		return api_domain_delete(req, resp, domain);
	case HTTP_PUT:
		if ((body = api_body(req, resp)) == NULL)
			return HTTP_DONE;
		if (json_object_get(body, "settings") == NULL) {
			json_decref(body);
			api_error(resp, 400, "invalid settings", "settings: required");
			return HTTP_DONE;
		}
		r = api_domain_write(req, resp, domain, body, 0);
		json_decref(body);
		return r;
	default:
		api_error(resp, 405, "method not allowed", NULL);
		return HTTP_DONE;
	}
}

/* ---- /api/v1/lists ---- */

static json_t *
list_array(const char *owner, int block)
{
	char rel[300];
	const char *error = NULL, **entries;
	struct cfg_file *f;
	json_t *a = json_array();
	size_t n;

	act_list_rel(rel, sizeof(rel), owner, block);
	if ((f = cfg_file_open(admin_config()->dir, rel, &error)) == NULL)
		return a;
	n = cfg_list_entries(f, &entries);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(entries[i]));
	cfg_file_free(&f);
	return a;
}

static enum http_result
api_list_change(struct http_request *req, struct http_response *resp, const char *owner,
    int block, int remove)
{
	json_t *body = NULL, *je;
	const char *entry, *error = NULL;
	struct act_op *op;
	struct cfg_file *f;
	char rel[300];
	char *e;

	if (remove) {
		entry = http_query_get(req, "entry");
	} else {
		if ((body = api_body(req, resp)) == NULL)
			return HTTP_DONE;
		je = json_object_get(body, "entry");
		entry = json_is_string(je) ? json_string_value(je) : NULL;
	}
	if (entry == NULL || *entry == '\0' || strlen(entry) > 1024) {
		json_decref(body);
		api_error(resp, 400, "invalid entry", "entry: required (at most 1024 bytes)");
		return HTTP_DONE;
	}
	e = act_trim_dup(entry);
	json_decref(body);
	act_list_rel(rel, sizeof(rel), owner, block);
	op = act_op_new(req, remove ? "list.remove" : "list.add", rel);
	if ((f = act_op_open(op, rel, NULL, &error)) == NULL ||
	    (remove ? (cfg_list_remove(f, e), 0) : cfg_list_add(f, e, &error)) < 0) {
		char detail[1200];
		str_fmt(detail, sizeof(detail), "entry: %s", error ? error : "invalid");
		act_op_free(&op);
		xfree(e);
		api_error(resp, 400, "invalid entry", detail);
		return HTTP_DONE;
	}
	enum http_result r = api_commit(req, op, remove ? API_LIST_REMOVE : API_LIST_ADD, owner, e);
	xfree(e);
	return r;
}

static enum http_result
api_lists(struct http_request *req, struct http_response *resp)
{
	char owner[256];
	const char *rest = act_path_name(req->path, "/api/v1/lists/", owner, sizeof(owner));
	int block;

	if (rest == NULL || !(strcmp(owner, "global") == 0 ||
	    (act_domain_name_ok(owner) && act_domain_exists(owner)))) {
		api_error(resp, 404, "no such list", NULL);
		return HTTP_DONE;
	}
	if (*rest == '\0' && (req->method == HTTP_GET || req->method == HTTP_HEAD)) {
		api_json(resp, 200, json_pack("{s:s, s:o, s:o}", "name", owner, "allow",
		    list_array(owner, 0), "block", list_array(owner, 1)));
		return HTTP_DONE;
	}
	if (strcmp(rest, "/allow") != 0 && strcmp(rest, "/block") != 0) {
		api_error(resp, 404, "no such list", NULL);
		return HTTP_DONE;
	}
	block = strcmp(rest, "/block") == 0;
	if (req->method == HTTP_POST || req->method == HTTP_DELETE)
		return api_list_change(req, resp, owner, block, req->method == HTTP_DELETE);
	if (req->method == HTTP_GET || req->method == HTTP_HEAD) {
		api_json(resp, 200, json_pack("{s:s, s:o}", "name", owner, block ? "block" : "allow",
		    list_array(owner, block)));
		return HTTP_DONE;
	}
	api_error(resp, 405, "method not allowed", NULL);
	return HTTP_DONE;
}

const struct admin_route admin_main_routes[] = {
	{ HTTP_GET, "/", ROUTE_PAGE, page_dashboard_get },
	{ HTTP_GET, "/domains", ROUTE_PAGE, page_domains_get },
	{ HTTP_POST, "/domains", ROUTE_PAGE, page_domains_post },
	{ HTTP_GET, "/domains/", ROUTE_PAGE | ROUTE_PREFIX, page_domains_get },
	{ HTTP_POST, "/domains/", ROUTE_PAGE | ROUTE_PREFIX, page_domains_post },
	{ HTTP_GET, "/lists", ROUTE_PAGE, page_lists_get },
	{ HTTP_GET, "/lists/", ROUTE_PAGE | ROUTE_PREFIX, page_lists_get },
	{ HTTP_POST, "/lists/", ROUTE_PAGE | ROUTE_PREFIX, page_lists_post },
	{ HTTP_GET, "/api/v1/domains", ROUTE_API, api_domains },
	{ HTTP_POST, "/api/v1/domains", ROUTE_API, api_domains },
	{ HTTP_GET, "/api/v1/domains/", ROUTE_API | ROUTE_PREFIX, api_domains },
	{ HTTP_PUT, "/api/v1/domains/", ROUTE_API | ROUTE_PREFIX, api_domains },
	{ HTTP_DELETE, "/api/v1/domains/", ROUTE_API | ROUTE_PREFIX, api_domains },
	{ HTTP_GET, "/api/v1/lists/", ROUTE_API | ROUTE_PREFIX, api_lists },
	{ HTTP_POST, "/api/v1/lists/", ROUTE_API | ROUTE_PREFIX, api_lists },
	{ HTTP_DELETE, "/api/v1/lists/", ROUTE_API | ROUTE_PREFIX, api_lists },
	{ HTTP_GET, NULL, 0, NULL },
};
