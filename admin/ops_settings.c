/* ops_settings.c: a form and a JSON resource over a group of global settings of
 * mailguard.conf, shared by the Detection layers and Branding pages. Values are read as written
 * in the file (repeatable keys: one per line), edited line by line (config/edit.h keeps comments
 * and untouched lines), then committed through admin/act_domain.h's change set: validated by the
 * loader of `mailguard -n`, written atomically by the supervisor, reloaded, audited with the
 * file's text before and after. An invalid edit shows the loader's errors and writes nothing.
 * Admin role, loop thread. Posted values are untrusted: only the group's keys are accepted, CR
 * and LF are refused in one-line values, at most OPS_SET_LINES_MAX lines per repeatable key. */
#include <string.h>

#include <jansson.h>

#include "admin/act_domain.h"
#include "admin/admin.h"
#include "admin/ops.h"
#include "config/edit.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define OPS_SET_LINES_MAX	256
#define OPS_SET_VALUE_MAX	(64 * 1024)

/* 1 when k is a set of words from a fixed list (T_LAYERS: global_disable_layers), shown as a
 * checkbox group and accepted in JSON as an array of words. */
static int
key_is_choices(const struct ops_key *k, const char *const **choices_r)
{
	struct cfg_setting_info si;

	if (cfg_setting_info(k->name, 0, &si) < 0 || si.field != CFG_FIELD_LAYERS)
		return 0;
	if (choices_r != NULL)
		*choices_r = si.choices;
	return 1;
}

/* Values of key as written in f (one per line for repeatable keys), at most max (copies). */
static size_t
file_values(const struct cfg_file *f, const char *key, char **vals, size_t max)
{
	const char *v[OPS_SET_LINES_MAX];
	size_t n = cfg_get_all(f, key, v, OPS_SET_LINES_MAX);

	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++)
		vals[i] = xstrdup(v[i]);
	return n;
}

/* The value of one key as the form shows it: lines joined by '\n' (new string). */
static char *
file_value_text(const struct cfg_file *f, const struct ops_key *k)
{
	char *vals[OPS_SET_LINES_MAX];
	size_t n = file_values(f, k->name, vals, OPS_SET_LINES_MAX);
	struct buf b;

	buf_init(&b, OPS_SET_VALUE_MAX * 4);
	if (!k->multi && n > 1) {	/* the last line wins, as in the loader */
		for (size_t i = 0; i + 1 < n; i++)
			xfree(vals[i]);
		vals[0] = vals[n - 1];
		n = 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_append_char(&b, '\n');
		buf_append_str(&b, vals[i]);
		xfree(vals[i]);
	}
	if (b.data == NULL)
		buf_append_str(&b, "");
	return buf_steal(&b);
}

/* Splits value into trimmed non-blank lines (new strings); -1 when there are too many. */
static int
split_lines(const char *value, char **lines, size_t *n_r)
{
	size_t n = 0;

	for (const char *p = value; *p;) {
		size_t len = strcspn(p, "\n");
		char *one = xstrndup(p, len), *t = act_trim_dup(one);

		xfree(one);
		p += len + (p[len] == '\n');
		if (*t == '\0') {
			xfree(t);
			continue;
		}
		if (n >= OPS_SET_LINES_MAX) {
			xfree(t);
			for (size_t i = 0; i < n; i++)
				xfree(lines[i]);
			return -1;
		}
		lines[n++] = t;
	}
	*n_r = n;
	return 0;
}

/* Sets key k in f from its form text. 1 changed, 0 unchanged, -1 + *error_r. */
static int
apply_one(struct cfg_file *f, const struct ops_key *k, const char *value, const char **error_r)
{
	char *old = file_value_text(f, k), *lines[OPS_SET_LINES_MAX];
	size_t n = 0;
	int r = 1;

	if (strlen(value) > OPS_SET_VALUE_MAX) {
		*error_r = "value too long";
		r = -1;
	} else if (!k->multi && strpbrk(value, "\r\n") != NULL) {
		*error_r = "a one-line value holds a line break";
		r = -1;
	} else if (split_lines(value, lines, &n) < 0) {
		*error_r = "too many lines";
		r = -1;
	} else {
		struct buf now;

		buf_init(&now, OPS_SET_VALUE_MAX * 4);
		for (size_t i = 0; i < n; i++)
			buf_printf(&now, "%s%s", i ? "\n" : "", lines[i]);
		if (strcmp(now.data ? now.data : "", old) == 0)
			r = 0;
		else if (n == 0)
			cfg_unset(f, k->name);
		else if (cfg_set_multi(f, k->name, (const char *const *)lines, n, error_r) < 0)
			r = -1;
		buf_free(&now);
		for (size_t i = 0; i < n; i++)
			xfree(lines[i]);
	}
	xfree(old);
	return r;
}

/* The form ------------------------------------------------------------------------------------ */

/* A checkbox per word; the hidden KEY.sent field tells a form with every box cleared (the key
 * goes back to its default) from a form without this group (the key stays as it is). */
static void
render_choices(struct buf *o, const struct ops_key *k, const char *const *choices,
    const char *val)
{
	html_printf(o, "<input type=\"hidden\" name=\"%s.sent\" value=\"1\">\n"
	    "<fieldset id=\"f-%s\" class=\"checks\">", k->name, k->name);
	for (size_t c = 0; choices != NULL && choices[c] != NULL; c++)
		html_printf(o, "<label><input type=\"checkbox\" name=\"%s\" value=\"%s\"%s> "
		    "%s</label> ", k->name, choices[c], cfg_list_has_word(val, choices[c]) ? " checked" : "",
		    choices[c]);
	buf_append_str(o, "</fieldset>\n");
}

static void
render_form(struct buf *o, const struct http_request *req, const struct ops_settings_page *pg,
    const struct cfg_file *f, char **posted, const char *version, const char *errors)
{
	html_page_begin(o, req, pg->title);
	if (http_query_get(req, "saved") != NULL && errors == NULL)
		buf_append_str(o, "<p class=\"ok\">Saved and reloaded.</p>\n");
	if (errors != NULL)
		html_printf(o, "<div class=\"alert big\"><strong>Not saved</strong> (the file is "
		    "unchanged):<pre>%s</pre></div>\n", errors);
	if (pg->intro)
		pg->intro(o, req);
	html_printf(o, "<form method=\"post\" action=\"%s\" class=\"settings\">\n", pg->path);
	html_csrf_field(o, req);
	html_printf(o, "<input type=\"hidden\" name=\"version\" value=\"%s\">\n", version);
	for (size_t i = 0; i < pg->n_keys; i++) {
		const struct ops_key *k = &pg->keys[i];
		struct cfg_setting_info si, *s = cfg_setting_info(k->name, 0, &si) == 0 ? &si : NULL;
		char *v = posted && posted[i] ? NULL : file_value_text(f, k);
		const char *val = posted && posted[i] ? posted[i] : v;
		const char *const *choices;

		html_printf(o, "<div class=\"field\"><label for=\"f-%s\">%s <code>%s</code></label>\n",
		    k->name, k->label, k->name);
		if (s && s->doc)
			html_printf(o, "<p class=\"help\">%s%s%s%s</p>\n", s->doc,
			    k->multi ? " One per line." : "", s->def && *s->def ? " Default: " : "",
			    s->def ? s->def : "");
		if (k->multi)
			html_printf(o, "<textarea id=\"f-%s\" name=\"%s\" rows=\"%d\">%s</textarea>\n",
			    k->name, k->name, 4, val);
		else if (key_is_choices(k, &choices))
			render_choices(o, k, choices, val);
		else
			html_printf(o, "<input id=\"f-%s\" name=\"%s\" value=\"%s\" placeholder=\"%s\">\n",
			    k->name, k->name, val, s && s->def ? s->def : "");
		buf_append_str(o, "</div>\n");
		xfree(v);
	}
	buf_append_str(o, "<p><button type=\"submit\">Save and reload</button> Empty = back to "
	    "the default.</p>\n</form>\n");
	if (pg->outro)
		pg->outro(o, req);
	html_page_end(o);
}

/* The words of a T_LAYERS value as a JSON array (empty when not set). */
static json_t *
json_words_of(const char *v)
{
	json_t *a = json_array();

	for (const char *p = v + strspn(v, " ,\t"); *p != '\0';) {
		size_t len = strcspn(p, " ,\t");

		json_array_append_new(a, json_stringn(p, len));
		p += len;
		p += strspn(p, " ,\t");
	}
	return a;
}

enum http_result
ops_settings_get(struct http_request *req, struct http_response *resp,
    const struct ops_settings_page *pg, int api)
{
	const struct mg_config *cfg = admin_config();
	const char *err;
	struct cfg_file *f = cfg_file_open(cfg->dir, "mailguard.conf", &err);

	if (f == NULL) {
		http_error(req, resp, 500, err);
		return HTTP_DONE;
	}
	if (api) {
		json_t *j = json_object(), *set = json_object();

		for (size_t i = 0; i < pg->n_keys; i++) {
			const struct ops_key *k = &pg->keys[i];
			char *v = file_value_text(f, k), *lines[OPS_SET_LINES_MAX];
			size_t n = 0;

			if (key_is_choices(k, NULL)) {
				json_object_set_new(set, k->name, json_words_of(v));
			} else if (k->multi && split_lines(v, lines, &n) == 0) {
				json_t *a = json_array();

				for (size_t l = 0; l < n; l++) {
					json_array_append_new(a, json_string(lines[l]));
					xfree(lines[l]);
				}
				json_object_set_new(set, k->name, a);
			} else if (!k->multi) {
				json_object_set_new(set, k->name, *v ? json_string(v) : json_null());
			}
			xfree(v);
		}
		json_object_set_new(j, "version", json_string(cfg_file_version(f)));
		json_object_set_new(j, "settings", set);
		if (pg->extra_json)
			pg->extra_json(j);
		ops_json(resp, 200, j);
	} else {
		render_form(&resp->body, req, pg, f, NULL, cfg_file_version(f), NULL);
	}
	cfg_file_free(&f);
	return HTTP_DONE;
}

/* POST / PUT ----------------------------------------------------------------------------------- */

struct settings_post {
	struct http_request *req;
	const struct ops_settings_page *pg;
	int api;
	char *version;
	char **posted;		/* per key: the submitted text or NULL (unchanged) */
};

static void
post_free(struct settings_post *sp)
{
	for (size_t i = 0; i < sp->pg->n_keys; i++)
		xfree(sp->posted[i]);
	xfree(sp->posted);
	xfree(sp->version);
	xfree(sp);
}

/* Answers a refused edit (page: the form again with the posted values). */
static void
post_refused(struct settings_post *sp, struct http_response *resp, int status,
    const char *errors)
{
	const char *err;
	struct cfg_file *f;

	if (sp->api) {
		ops_json(resp, status, json_pack("{s:b,s:s}", "ok", 0, "errors", errors));
		return;
	}
	if ((f = cfg_file_open(admin_config()->dir, "mailguard.conf", &err)) == NULL) {
		http_error(sp->req, resp, 500, err);
		return;
	}
	resp->status = status;
	render_form(&resp->body, sp->req, sp->pg, f, sp->posted, sp->version ? sp->version :
	    cfg_file_version(f), errors);
	cfg_file_free(&f);
}

static void
post_done(void *arg, int status, const char *errors)
{
	struct settings_post *sp = arg;
	struct http_response resp;
	char loc[80];

	ops_resp_init(&resp);
	if (status == 1) {
		post_refused(sp, &resp, 422, errors ? errors : "refused");
	} else if (sp->api) {
		ops_json(&resp, 200, json_pack("{s:b,s:b,s:s}", "ok", 1, "changed", status != 3,
		    "restart_needed", status == 2 && errors ? errors : ""));
	} else {
		str_fmt(loc, sizeof(loc), "%s?saved=1", sp->pg->path);
		http_redirect(&resp, loc);
	}
	http_finish(sp->req, &resp);
	ops_resp_free(&resp);
	post_free(sp);
}

/* Nothing to change: answered at once, nothing sent to the supervisor. */
static void
post_done_sync(struct settings_post *sp, struct http_response *resp)
{
	char loc[80];

	if (sp->api) {
		ops_json(resp, 200, json_pack("{s:b,s:b,s:s}", "ok", 1, "changed", 0,
		    "restart_needed", ""));
	} else {
		str_fmt(loc, sizeof(loc), "%s?saved=1", sp->pg->path);
		http_redirect(resp, loc);
	}
	post_free(sp);
}

/* A form field's text (new string), or NULL when the form does not carry the key. A checkbox
 * group sends one field per checked box, none at all when every box is cleared: its hidden
 * KEY.sent field says the group was on the form. */
static char *
form_value(const struct http_request *req, const struct ops_key *k)
{
	char sent[96];
	const char *v;
	struct buf b;

	if (!key_is_choices(k, NULL))
		return (v = http_form_get(req, k->name)) != NULL ? xstrdup(v) : NULL;
	str_fmt(sent, sizeof(sent), "%s.sent", k->name);
	if (http_form_get(req, sent) == NULL)
		return NULL;
	buf_init(&b, OPS_SET_VALUE_MAX);
	act_form_join(req, k->name, " ", &b);
	buf_append_str(&b, "");
	return buf_steal(&b);
}

/* A JSON array of words ("bayes", "neural") as one space-separated value (new string); NULL
 * when an element is not a one-word string. */
static char *
json_words(json_t *arr)
{
	struct buf b;
	size_t ai;
	json_t *e;

	buf_init(&b, OPS_SET_VALUE_MAX);
	json_array_foreach(arr, ai, e) {
		const char *w = json_is_string(e) ? json_string_value(e) : NULL;

		if (w == NULL || *w == '\0' || strpbrk(w, " ,\t\r\n") != NULL) {
			buf_free(&b);
			return NULL;
		}
		buf_printf(&b, "%s%s", ai ? " " : "", w);
	}
	buf_append_str(&b, "");
	return buf_steal(&b);
}

/* Collects the submitted values; -1 with resp set on a bad request. */
static int
collect(struct settings_post *sp, struct http_response *resp)
{
	const struct ops_settings_page *pg = sp->pg;
	const char *v;
	json_t *j, *val;
	const char *key;

	sp->posted = xcalloc(pg->n_keys, sizeof(*sp->posted));
	if (!sp->api) {
		for (size_t i = 0; i < pg->n_keys; i++)
			sp->posted[i] = form_value(sp->req, &pg->keys[i]);
		if ((v = http_form_get(sp->req, "version")) != NULL && *v)
			sp->version = xstrdup(v);
		return 0;
	}
	if ((j = ops_json_body(sp->req, resp)) == NULL)
		return -1;
	json_object_foreach(j, key, val) {
		size_t i;

		if (strcmp(key, "version") == 0 && json_is_string(val)) {
			sp->version = xstrdup(json_string_value(val));
			continue;
		}
		for (i = 0; i < pg->n_keys && strcmp(pg->keys[i].name, key) != 0; i++)
			;
		if (i == pg->n_keys || sp->posted[i] != NULL)
			goto bad;
		if (json_is_null(val)) {
			sp->posted[i] = xstrdup("");
		} else if (json_is_string(val)) {
			sp->posted[i] = xstrdup(json_string_value(val));
		} else if (json_is_array(val) && key_is_choices(&pg->keys[i], NULL)) {
			if ((sp->posted[i] = json_words(val)) == NULL)
				goto bad;
		} else if (json_is_array(val) && pg->keys[i].multi) {
			struct buf b;
			size_t ai;
			json_t *e;

			buf_init(&b, OPS_SET_VALUE_MAX * 4);
			json_array_foreach(val, ai, e) {
				if (!json_is_string(e) || strpbrk(json_string_value(e), "\r\n")) {
					buf_free(&b);
					goto bad;
				}
				buf_printf(&b, "%s\n", json_string_value(e));
			}
			buf_append_str(&b, "");
			sp->posted[i] = buf_steal(&b);
		} else {
			goto bad;
		}
	}
	json_decref(j);
	return 0;
bad:
	json_decref(j);
	http_error(sp->req, resp, 400, "unknown setting or wrong value type (strings; arrays of "
	    "strings for repeatable settings; null resets)");
	return -1;
}

enum http_result
ops_settings_post(struct http_request *req, struct http_response *resp,
    const struct ops_settings_page *pg, int api)
{
	struct settings_post *sp = xcalloc(1, sizeof(*sp));
	const char *err = NULL;
	struct cfg_file *f;
	struct act_op *op;
	int changed = 0;

	sp->req = req;
	sp->pg = pg;
	sp->api = api;
	if (collect(sp, resp) < 0) {
		post_free(sp);
		return HTTP_DONE;
	}
	op = act_op_new(req, "settings", pg->audit_target);
	if ((f = act_op_open(op, "mailguard.conf", sp->version, &err)) == NULL)
		goto refused;
	for (size_t i = 0; i < pg->n_keys; i++) {
		int r;

		if (sp->posted[i] == NULL)
			continue;
		if ((r = apply_one(f, &pg->keys[i], sp->posted[i], &err)) < 0) {
			char *msg = xasprintf("%s: %s", pg->keys[i].name, err);

			act_op_free(&op);
			post_refused(sp, resp, 400, msg);
			xfree(msg);
			post_free(sp);
			return HTTP_DONE;
		}
		changed |= r;
	}
	if (!changed) {
		act_op_free(&op);
		post_done_sync(sp, resp);	/* frees sp */
		return HTTP_DONE;
	}
	act_op_commit(op, post_done, sp);
	return HTTP_PENDING;
refused:
	act_op_free(&op);
	post_refused(sp, resp, 409, err ? err : "cannot open mailguard.conf");
	post_free(sp);
	return HTTP_DONE;
}
