/* page_dkim.c: the console's DKIM page and /api/v1/dkim. Per protected domain: signing on or
 * off, algorithm, the current and next keys with their dates, the rotation state (a withheld
 * switch is an alert), the DNS TXT records to publish and which old selectors may be removed;
 * actions keygen and rotate. Everything comes from the signer through control commands
 * (`mailguardctl dkim status|dns|keygen|rotate --now`): the admin role never sees a key. Admin
 * role, loop thread. Domain names from the URL must be protected domains (checked against the
 * configuration in effect) before they reach a command; signer text is escaped when shown. */
#include <string.h>

#include <jansson.h>

#include "admin/admin.h"
#include "admin/ops.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

/* One GET: `dkim status [DOMAIN]`, then `dkim dns D` for every domain that has keys. */
struct dkim_fetch {
	struct http_request *req;
	char one[256];		/* "" = every domain */
	int api;
	int status_ok;
	struct ops_dkim st;
	char **dns;		/* per st.doms[i]: dns text or NULL */
	size_t next;		/* next index of st.doms to ask for dns */
	char *error;
};

static void dkim_fetch_step(struct dkim_fetch *f);

static void
dkim_fetch_free(struct dkim_fetch *f)
{
	for (size_t i = 0; i < f->st.n; i++)
		xfree(f->dns[i]);
	xfree(f->dns);
	ops_dkim_free(&f->st);
	xfree(f->error);
	xfree(f);
}

static const char *
dns_of(const struct dkim_fetch *f, const char *domain)
{
	for (size_t i = 0; i < f->st.n; i++)
		if (strcmp(f->st.doms[i].domain, domain) == 0)
			return f->dns[i];
	return NULL;
}

static const struct ops_dkey *
key_in_state(const struct ops_ddom *d, const char *state)
{
	for (size_t i = 0; d != NULL && i < d->n_keys; i++)
		if (strcmp(d->keys[i].state, state) == 0)
			return &d->keys[i];
	return NULL;
}

/* HTML --------------------------------------------------------------------------------------- */

static void
render_keys(struct buf *o, const struct ops_ddom *d)
{
	buf_append_str(o, "<table class=\"list\"><thead><tr><th>Selector</th><th>Algorithm</th>"
	    "<th>State</th><th>Created</th><th>Active from</th><th>Switch / retires</th>"
	    "<th>DNS</th></tr></thead><tbody>\n");
	for (size_t i = 0; i < d->n_keys; i++) {
		const struct ops_dkey *k = &d->keys[i];
		const char *cls = strcmp(k->dns, "may be removed") == 0 ? "muted" :
		    strncmp(k->dns, "keep", 4) == 0 ? "warn" : "";

		html_printf(o, "<tr><td><code>%s</code></td><td>%s</td><td>%s</td><td>%s</td>"
		    "<td>%s</td><td>%s</td><td class=\"%s\">%s</td></tr>\n", k->selector, k->alg,
		    k->state, k->created, k->activates, k->retires, cls, k->dns);
	}
	buf_append_str(o, "</tbody></table>\n");
}

static void
render_actions(struct buf *o, const struct http_request *req, const char *domain, int has_keys)
{
	buf_append_str(o, "<p>");
	if (!has_keys) {
		html_printf(o, "<form method=\"post\" action=\"/dkim/%s/keygen\" class=\"inline\">",
		    domain);
		html_csrf_field(o, req);
		buf_append_str(o, "<button type=\"submit\">Generate keys</button></form>\n");
	} else {
		html_printf(o, "<form method=\"post\" action=\"/dkim/%s/keygen\" class=\"inline\">",
		    domain);
		html_csrf_field(o, req);
		buf_append_str(o, "<button type=\"submit\">Generate missing keys</button></form>\n");
		html_printf(o, "<form method=\"post\" action=\"/dkim/%s/rotate\" class=\"inline\">",
		    domain);
		html_csrf_field(o, req);
		buf_append_str(o, "<button type=\"submit\">Rotate now…</button></form>\n");
	}
	buf_append_str(o, "</p>\n");
}

static void
render_domain(struct buf *o, const struct http_request *req, const struct dkim_fetch *f,
    const struct mg_domain *cd)
{
	static const char *const algn[] = { "rsa2048", "ed25519", "both" };
	const struct ops_ddom *d = ops_dkim_find(&f->st, cd->name);
	const struct ops_dkey *cur = key_in_state(d, "current"), *next = key_in_state(d, "next");
	const char *dns = dns_of(f, cd->name);

	html_printf(o, "<section class=\"card\" id=\"d-%s\"><h2>%s</h2>\n", cd->name, cd->name);
	html_printf(o, "<p>Signing: <strong>%s</strong> &middot; algorithm: <strong>%s</strong>",
	    cd->dkim_sign ? "on" : "off", algn[cd->dkim_algorithm]);
	if (cur)
		html_printf(o, " &middot; current selector <code>%s</code> (since %s, switch due %s)",
		    cur->selector, cur->activates, cur->retires);
	if (next)
		html_printf(o, " &middot; next selector <code>%s</code> (switch %s)", next->selector,
		    next->activates);
	buf_append_str(o, "</p>\n");
	if (d != NULL && d->n_alerts > 0) {
		buf_append_str(o, "<div class=\"alert big\"><strong>Switch withheld / alert:</strong>"
		    "<ul>");
		for (size_t i = 0; i < d->n_alerts; i++)
			html_printf(o, "<li>%s</li>", d->alerts[i]);
		buf_append_str(o, "</ul></div>\n");
	} else if (d != NULL && d->n_keys > 0) {
		buf_append_str(o, "<p class=\"ok\">State: ok</p>\n");
	} else if (cd->dkim_sign) {
		buf_append_str(o, "<div class=\"alert big\">dkim_sign is on but the domain has no "
		    "keys: generate them.</div>\n");
	} else {
		buf_append_str(o, "<p class=\"muted\">No keys.</p>\n");
	}
	if (d != NULL && d->n_keys > 0)
		render_keys(o, d);
	if (dns != NULL) {
		buf_append_str(o, "<h3>DNS records to publish</h3>\n<pre class=\"dns\">");
		html_esc(o, dns);
		buf_append_str(o, "</pre>\n");
	}
	render_actions(o, req, cd->name, d != NULL && d->n_keys > 0);
	buf_append_str(o, "</section>\n");
}

static void
render_page(struct dkim_fetch *f, struct http_response *resp)
{
	const struct mg_config *cfg = admin_config();
	struct buf *o = &resp->body;

	html_page_begin(o, f->req, "DKIM keys and rotation");
	if (!f->status_ok) {
		html_printf(o, "<p class=\"alert\">The signer did not answer: %s</p>\n",
		    f->error ? f->error : "");
		resp->status = 502;
	} else {
		html_printf(o, "<p>Signer clock: %s &middot; alerts: %d</p>\n", f->st.now,
		    f->st.alerts);
		if (f->st.alerts > 0)
			html_printf(o, "<div class=\"alert big\">%d DKIM alert(s): a key switch is "
			    "withheld or a key is missing. See below.</div>\n", f->st.alerts);
		for (size_t i = 0; i < cfg->n_domains; i++)
			render_domain(o, f->req, f, &cfg->domains[i]);
		if (cfg->n_domains == 0)
			buf_append_str(o, "<p>No protected domains.</p>\n");
	}
	html_page_end(o);
}

/* JSON --------------------------------------------------------------------------------------- */

static json_t *
domain_json(const struct dkim_fetch *f, const struct mg_domain *cd)
{
	static const char *const algn[] = { "rsa2048", "ed25519", "both" };
	const struct ops_ddom *d = ops_dkim_find(&f->st, cd->name);
	const char *dns = dns_of(f, cd->name);
	json_t *j = json_pack("{s:s,s:b,s:s}", "domain", cd->name, "sign", cd->dkim_sign,
	    "algorithm", algn[cd->dkim_algorithm]);
	json_t *keys = json_array(), *alerts = json_array(), *recs = json_array();

	for (size_t i = 0; d != NULL && i < d->n_keys; i++) {
		const struct ops_dkey *k = &d->keys[i];

		json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "selector",
		    k->selector, "algorithm", k->alg, "state", k->state, "created", k->created,
		    "activates", k->activates, "retires", k->retires, "dns", k->dns));
	}
	for (size_t i = 0; d != NULL && i < d->n_alerts; i++)
		json_array_append_new(alerts, json_string(d->alerts[i]));
	for (const char *p = dns; p != NULL && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (n > 0)
			json_array_append_new(recs, json_stringn(p, n));
		p = nl ? nl + 1 : p + n;
	}
	json_object_set_new(j, "state", json_string(d && d->n_alerts ? "alert" :
	    d && d->n_keys ? "ok" : "no keys"));
	json_object_set_new(j, "keys", keys);
	json_object_set_new(j, "alerts", alerts);
	json_object_set_new(j, "dns", recs);
	return j;
}

static void
render_json(struct dkim_fetch *f, struct http_response *resp)
{
	const struct mg_config *cfg = admin_config();
	const struct mg_domain *cd;
	json_t *arr;

	if (!f->status_ok) {
		ops_json(resp, f->one[0] ? 404 : 502, json_pack("{s:s}", "error",
		    f->error ? f->error : "the signer did not answer"));
		return;
	}
	if (f->one[0]) {
		if ((cd = config_domain_find(cfg, f->one)) == NULL) {
			http_error(f->req, resp, 404, "not a protected domain");
			return;
		}
		ops_json(resp, 200, domain_json(f, cd));
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < cfg->n_domains; i++)
		json_array_append_new(arr, domain_json(f, &cfg->domains[i]));
	ops_json(resp, 200, json_pack("{s:s,s:i,s:o}", "now", f->st.now, "alerts", f->st.alerts,
	    "domains", arr));
}

/* The chain of control commands --------------------------------------------------------------- */

static void
dkim_fetch_finish(struct dkim_fetch *f)
{
	struct http_response resp;

	ops_resp_init(&resp);
	if (f->api)
		render_json(f, &resp);
	else
		render_page(f, &resp);
	http_finish(f->req, &resp);
	ops_resp_free(&resp);
	dkim_fetch_free(f);
}

static void
dkim_dns_reply(void *arg, int status, const char *text)
{
	struct dkim_fetch *f = arg;

	/* status 1 with partial text: keep what was printed (errors are shown in the <pre>) */
	(void)status;
	f->dns[f->next++] = xstrdup(text ? text : "");
	dkim_fetch_step(f);
}

static void
dkim_fetch_step(struct dkim_fetch *f)
{
	while (f->next < f->st.n && f->st.doms[f->next].n_keys == 0)
		f->next++;
	if (f->next >= f->st.n) {
		dkim_fetch_finish(f);
		return;
	}
	const char *argv[] = { "dkim", "dns", f->st.doms[f->next].domain };
	admin_ctl(3, argv, dkim_dns_reply, f);
}

static void
dkim_status_reply(void *arg, int status, const char *text)
{
	struct dkim_fetch *f = arg;
	const char *err;

	if (status != 0 || ops_dkim_parse(text, strlen(text), &f->st, &err) < 0) {
		f->error = xstrdup(text && *text ? text : "no answer");
		dkim_fetch_finish(f);
		return;
	}
	f->status_ok = 1;
	f->dns = xcalloc(f->st.n ? f->st.n : 1, sizeof(*f->dns));
	dkim_fetch_step(f);
}

static enum http_result
dkim_fetch(struct http_request *req, const char *one, int api)
{
	struct dkim_fetch *f = xcalloc(1, sizeof(*f));
	const char *argv[] = { "dkim", "status", one };

	f->req = req;
	f->api = api;
	if (one != NULL)
		str_lcpy(f->one, one, sizeof(f->one));
	admin_ctl(one ? 3 : 2, argv, dkim_status_reply, f);
	return HTTP_PENDING;
}

/* Handlers ----------------------------------------------------------------------------------- */

enum http_result
ops_page_dkim(struct http_request *req, struct http_response *resp)
{
	(void)resp;
	return dkim_fetch(req, NULL, 0);
}

enum http_result
ops_api_dkim(struct http_request *req, struct http_response *resp)
{
	(void)resp;
	return dkim_fetch(req, NULL, 1);
}

/* The protected domain named by the path after prefix ("example.org" or "example.org/verb"),
 * copied into domain; returns the verb ("" when none) or NULL (404 set on resp). */
static const char *
path_domain(struct http_request *req, struct http_response *resp, const char *prefix,
    char *domain, size_t size)
{
	const char *tail = ops_path_tail(req, prefix), *verb;

	if (tail == NULL || (verb = ops_path_split(tail, domain, size)) == NULL ||
	    (str_lower(domain), !ops_domain_is_valid(domain)) ||
	    config_domain_find(admin_config(), domain) == NULL) {
		http_error(req, resp, 404, "not a protected domain");
		return NULL;
	}
	return verb;
}

enum http_result
ops_api_dkim_domain(struct http_request *req, struct http_response *resp)
{
	char domain[256];
	const char *verb = path_domain(req, resp, "/api/v1/dkim/", domain, sizeof(domain));

	if (verb == NULL)
		return HTTP_DONE;
	if (*verb) {
		http_error(req, resp, 404, "unknown DKIM resource");
		return HTTP_DONE;
	}
	return dkim_fetch(req, domain, 1);
}

struct dkim_action {
	char domain[256];
	char verb[8];
	int api;
};

static void
dkim_action_done(struct http_request *req, struct http_response *resp, int status,
    const char *text, void *arg)
{
	struct dkim_action *a = arg;
	char action[32];

	if (status == 0) {
		/* the output holds public DNS records only: fine for the audit trail */
		str_fmt(action, sizeof(action), "dkim %s", a->verb);
		admin_audit(req, action, a->domain, NULL, text);
	}
	if (a->api) {
		ops_json_ctl(resp, status, text);
	} else {
		char title[48];

		str_fmt(title, sizeof(title), "DKIM %s: %s", a->verb, a->domain);
		ops_result_page(req, resp, title, status == 0, text, "/dkim");
	}
	xfree(a);
}

static enum http_result
dkim_action(struct http_request *req, struct http_response *resp, const char *prefix, int api)
{
	char domain[256];
	const char *verb = path_domain(req, resp, prefix, domain, sizeof(domain));
	struct dkim_action *a;

	if (verb == NULL)
		return HTTP_DONE;
	if (strcmp(verb, "keygen") != 0 && strcmp(verb, "rotate") != 0) {
		http_error(req, resp, 404, "unknown DKIM action");
		return HTTP_DONE;
	}
	if (!api && strcmp(verb, "rotate") == 0 && !ops_confirmed(req)) {
		char action[300], q[400];

		str_fmt(action, sizeof(action), "/dkim/%s/rotate", domain);
		str_fmt(q, sizeof(q), "Start a key rotation for %s now? A next key is generated; "
		    "the signer switches to it once DNS publishes its record (publish it first).",
		    domain);
		ops_confirm_page(req, resp, "rotate", q, action, "/dkim", NULL, NULL);
		return HTTP_DONE;
	}
	a = xcalloc(1, sizeof(*a));
	str_lcpy(a->domain, domain, sizeof(a->domain));
	str_lcpy(a->verb, verb, sizeof(a->verb));
	a->api = api;
	if (strcmp(verb, "rotate") == 0) {
		const char *argv[] = { "dkim", "rotate", a->domain, "--now" };

		return (enum http_result)ops_ctl(req, 4, argv, dkim_action_done, a);
	}
	const char *argv[] = { "dkim", "keygen", a->domain };
	return (enum http_result)ops_ctl(req, 3, argv, dkim_action_done, a);
}

enum http_result
ops_post_dkim(struct http_request *req, struct http_response *resp)
{
	return dkim_action(req, resp, "/dkim/", 0);
}

enum http_result
ops_api_dkim_post(struct http_request *req, struct http_response *resp)
{
	return dkim_action(req, resp, "/api/v1/dkim/", 1);
}
