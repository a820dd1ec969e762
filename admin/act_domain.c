/* act_domain.c: the configuration actions of the Domains and Lists pages and their JSON API
 * (admin role, loop thread). Input: form fields and JSON values from a logged-in admin (already
 * decoded and bounded by the HTTP layer) and the configuration files as read by config/edit.c.
 * Values are not interpreted here: the supervisor validates every change set with the loader of
 * `mailguard -n` before anything is written. Limits: one-line values CONFIG_LINE_MAX - 64 bytes,
 * at most ACT_LINES_MAX lines for a repeatable key, ACT_OP_FILES files per change set.
 * The per-domain keys come from the settings table (through config/edit.h's cfg_settings_list):
 * it is the one place that defines them and their defaults (STYLE.md §8). */
#include <jansson.h>
#include <string.h>

#include "admin/act_domain.h"
#include "admin/admin.h"
#include "common/limits.h"
#include "config/config.h"
#include "config/edit.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define ACT_KEYS_MAX	32
#define ACT_LINES_MAX	100
#define ACT_VALUE_MAX	(CONFIG_LINE_MAX - 64)
#define ACT_OP_FILES	8
#define ACT_AUDIT_MAX	(ACT_OP_FILES * 4u * 1024 * 1024 + 4096)	/* 4 MiB a file (edit.h) */

static struct act_key keys[ACT_KEYS_MAX];
static size_t n_keys;

static enum act_kind
kind_of(enum cfg_field f)
{
	switch (f) {
	case CFG_FIELD_BOOL:
		return ACT_BOOL;
	case CFG_FIELD_ENUM:
		return ACT_ENUM;
	case CFG_FIELD_LAYERS:
		return ACT_LAYERS;
	case CFG_FIELD_LINES:
		return ACT_LINES;
	case CFG_FIELD_TEXT:
		break;
	}
	return ACT_TEXT;
}

size_t
act_domain_keys(const struct act_key **keys_r)
{
	if (n_keys == 0) {
		struct cfg_setting_info info[ACT_KEYS_MAX];
		size_t n = cfg_settings_list(1, info, ACT_KEYS_MAX);

		if (n > ACT_KEYS_MAX)
			panic("act_domain_keys: more than %d per-domain settings", ACT_KEYS_MAX);
		for (size_t i = 0; i < n; i++)
			keys[n_keys++] = (struct act_key){ .name = info[i].name,
			    .kind = kind_of(info[i].field), .def = info[i].def, .doc = info[i].doc,
			    .choices = info[i].choices };
	}
	*keys_r = keys;
	return n_keys;
}

const struct act_key *
act_domain_key(const char *name)
{
	const struct act_key *k;
	size_t n = act_domain_keys(&k);

	for (size_t i = 0; i < n; i++)
		if (strcmp(k[i].name, name) == 0)
			return &k[i];
	return NULL;
}

int
act_domain_name_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 253 || strchr(s, '.') == NULL)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			return 0;
	return cfg_is_domain_name(s);
}

int
act_list_name_ok(const char *s)
{
	return strcmp(s, "global") == 0 || act_domain_name_ok(s);
}

void
act_domain_rel(char *dst, size_t size, const char *domain)
{
	str_fmt(dst, size, "domains.d/%s.conf", domain);
}

void
act_list_rel(char *dst, size_t size, const char *owner, int block)
{
	str_fmt(dst, size, "lists/%s.%s", owner, block ? "block" : "allow");
}

int
act_domain_exists(const char *domain)
{
	const struct mg_config *cfg = admin_config();

	return cfg != NULL && config_domain_find(cfg, domain) != NULL;
}

char *
act_trim_dup(const char *s)
{
	const char *e;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	return xstrndup(s, (size_t)(e - s));
}

void
act_form_join(const struct http_request *req, const char *name, const char *sep,
    struct buf *out)
{
	size_t n = 0;

	for (size_t i = 0; i < req->n_form; i++) {
		if (strcmp(req->form[i].name, name) != 0)
			continue;
		if (n++ > 0)
			buf_append_str(out, sep);
		buf_append_str(out, req->form[i].value);
	}
}

void
act_html_errors(struct buf *out, const char *title, const char *errors)
{
	const char *p = errors;

	if (errors == NULL || *errors == '\0')
		return;
	html_printf(out, "<div class=\"errors\" role=\"alert\"><strong>%s</strong><ul>", title);
	while (*p != '\0') {
		size_t len = strcspn(p, "\n");
		if (len > 0) {
			char *line = xstrndup(p, len);
			html_printf(out, "<li>%s</li>", line);
			xfree(line);
		}
		p += len + (p[len] == '\n');
	}
	buf_append_str(out, "</ul></div>");
}

const char *
act_path_name(const char *path, const char *prefix, char *dst, size_t size)
{
	size_t plen = strlen(prefix), len;

	if (strncmp(path, prefix, plen) != 0)
		return NULL;
	path += plen;
	len = strcspn(path, "/");
	if (len == 0 || len >= size)
		return NULL;
	memcpy(dst, path, len);
	dst[len] = '\0';
	return path + len;
}

size_t
act_domain_values(const struct cfg_file *f, const char *key, char **vals, size_t max)
{
	const char *v[ACT_LINES_MAX];
	size_t n = cfg_get_all(f, key, v, ACT_LINES_MAX);

	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++)
		vals[i] = xstrdup(v[i]);
	return n;
}

static void
free_values(char **vals, size_t n)
{
	for (size_t i = 0; i < n; i++)
		xfree(vals[i]);
}

/* ACT_LINES: value split into trimmed non-blank lines. */
static int
set_lines(struct cfg_file *f, const struct act_key *k, const char *value, const char **error_r)
{
	char *lines[ACT_LINES_MAX], *old[ACT_LINES_MAX];
	size_t n = 0, n_old;
	const char *p = value ? value : "";
	int rc = 0, same;

	while (*p != '\0') {
		size_t len = strcspn(p, "\n");
		char *one = xstrndup(p, len), *t = act_trim_dup(one);
		xfree(one);
		p += len + (p[len] == '\n');
		if (*t == '\0' || n == ACT_LINES_MAX || strlen(t) > ACT_VALUE_MAX) {
			if (*t != '\0')
				rc = -1;
			xfree(t);
			continue;
		}
		lines[n++] = t;
	}
	if (rc < 0) {
		*error_r = "too many or too long lines";
		free_values(lines, n);
		return -1;
	}
	n_old = act_domain_values(f, k->name, old, ACT_LINES_MAX);
	same = n_old == n;
	for (size_t i = 0; same && i < n; i++)
		same = strcmp(old[i], lines[i]) == 0;
	free_values(old, n_old);
	if (same)
		rc = 0;
	else if (n == 0)
		rc = cfg_unset(f, k->name) > 0;
	else
		rc = cfg_set_multi(f, k->name, (const char *const *)lines, n, error_r) < 0 ? -1 : 1;
	free_values(lines, n);
	return rc;
}

int
act_domain_set(struct cfg_file *f, const char *key, const char *value, const char **error_r)
{
	const struct act_key *k = act_domain_key(key);
	const char *cur;
	char *v;
	int rc;

	if (k == NULL) {
		*error_r = "unknown setting";
		return -1;
	}
	if (k->kind == ACT_LINES)
		return set_lines(f, k, value, error_r);
	v = act_trim_dup(value ? value : "");
	if (strlen(v) > ACT_VALUE_MAX) {
		*error_r = "value too long";
		rc = -1;
	} else if (strpbrk(v, "\r\n") != NULL) {
		*error_r = "value must be one line";
		rc = -1;
	} else if (*v == '\0') {
		rc = cfg_unset(f, key) > 0;
	} else if ((cur = cfg_get(f, key)) != NULL && strcmp(cur, v) == 0) {
		rc = 0;
	} else {
		rc = cfg_set(f, key, v, error_r) < 0 ? -1 : 1;
	}
	xfree(v);
	return rc;
}

/* A JSON setting value as the text of the file: strings as they are, numbers, true/false as
 * yes/no, arrays joined (one line each for repeatable keys, else by spaces); null = unset (NULL
 * text). -1 on another type. */
int
act_json_value(const struct act_key *k, json_t *v, struct buf *out, int *unset_r)
{
	*unset_r = 0;
	if (json_is_null(v)) {
		*unset_r = 1;
	} else if (json_is_string(v)) {
		buf_append(out, json_string_value(v), json_string_length(v));
		if (memchr(json_string_value(v), '\0', json_string_length(v)) != NULL)
			return -1;
	} else if (json_is_integer(v)) {
		buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else if (json_is_real(v)) {
		buf_printf(out, "%.15g", json_real_value(v));
	} else if (json_is_boolean(v)) {
		buf_append_str(out, json_is_true(v) ? "yes" : "no");
	} else if (json_is_array(v) && json_array_size(v) <= ACT_LINES_MAX) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) {
			int u;
			if (json_is_array(e) || json_is_object(e) || json_is_null(e))
				return -1;
			if (i > 0)
				buf_append_str(out, k->kind == ACT_LINES ? "\n" : " ");
			if (act_json_value(k, e, out, &u) < 0)
				return -1;
		}
	} else {
		return -1;
	}
	return 0;
}

/* ---- change sets ---- */

static const char *
text_of(const struct cfg_file *f)
{
	const struct buf *b = cfg_file_text(f);

	return b->data ? b->data : "";
}

struct act_file {
	struct cfg_file *f;
	char *before;		/* text as read ("" for a missing file) */
	char *expect;		/* expected version */
	int exists;
	int del;
};

struct act_op {
	const struct http_request *req;	/* borrowed: valid until done runs */
	char action[48];
	char target[300];
	struct act_file files[ACT_OP_FILES];
	size_t n;
	struct cfg_change changes[ACT_OP_FILES];
	size_t n_changes;
	act_done_cb *done;
	void *arg;
};

struct act_op *
act_op_new(const struct http_request *req, const char *action, const char *target)
{
	struct act_op *op = xcalloc(1, sizeof(*op));

	op->req = req;
	str_lcpy(op->action, action, sizeof(op->action));
	str_lcpy(op->target, target, sizeof(op->target));
	return op;
}

void
act_op_free(struct act_op **opp)
{
	struct act_op *op = *opp;

	if (op == NULL)
		return;
	for (size_t i = 0; i < op->n; i++) {
		cfg_file_free(&op->files[i].f);
		xfree(op->files[i].before);
		xfree(op->files[i].expect);
	}
	xfree(op);
	*opp = NULL;
}

static struct act_file *
op_add(struct act_op *op, const char *rel, const char *expect_version, const char **error_r)
{
	struct act_file *af;
	struct cfg_file *f;
	const struct buf *text;

	if (op->n == ACT_OP_FILES) {
		*error_r = "too many files in one change";
		return NULL;
	}
	if ((f = cfg_file_open(admin_config()->dir, rel, error_r)) == NULL)
		return NULL;
	af = &op->files[op->n++];
	text = cfg_file_text(f);
	af->f = f;
	af->before = xmemdup(text->data ? text->data : "", text->len + 1);
	af->exists = cfg_file_version(f)[0] != '\0';
	af->expect = xstrdup(expect_version ? expect_version : cfg_file_version(f));
	return af;
}

struct cfg_file *
act_op_open(struct act_op *op, const char *rel, const char *expect_version, const char **error_r)
{
	struct act_file *af = op_add(op, rel, expect_version, error_r);

	return af ? af->f : NULL;
}

int
act_op_delete(struct act_op *op, const char *rel, const char *expect_version,
    const char **error_r)
{
	struct act_file *af = op_add(op, rel, expect_version, error_r);

	if (af == NULL)
		return -1;
	af->del = 1;
	return 0;
}

/* before/after texts of the audit record; one file: its text; several: each under a "# FILE"
 * line. A deleted file has no "after" text. */
static void
audit_texts(const struct act_op *op, struct buf *before, struct buf *after)
{
	size_t changed = 0;

	for (size_t i = 0; i < op->n; i++)
		if (op->files[i].del ? op->files[i].exists :
		    strcmp(op->files[i].before, text_of(op->files[i].f)) != 0)
			changed++;
	for (size_t i = 0; i < op->n; i++) {
		const struct act_file *af = &op->files[i];
		if (af->del ? !af->exists : strcmp(af->before, text_of(af->f)) == 0)
			continue;
		if (changed > 1) {
			buf_printf(before, "# %s\n", cfg_file_rel(af->f));
			buf_printf(after, "# %s%s\n", cfg_file_rel(af->f), af->del ? " (deleted)" : "");
		}
		buf_append_str(before, af->before);
		if (!af->del)
			buf_append_str(after, text_of(af->f));
	}
}

static void
commit_done(void *arg, int status, const char *errors)
{
	struct act_op *op = arg;

	if (status == 0 || status == 2) {
		struct buf before, after;
		buf_init(&before, ACT_AUDIT_MAX);
		buf_init(&after, ACT_AUDIT_MAX);
		audit_texts(op, &before, &after);
		admin_audit(op->req, op->action, op->target, before.data ? before.data : "",
		    after.len > 0 ? after.data : NULL);
		buf_free(&before);
		buf_free(&after);
	}
	op->done(op->arg, status, errors);
	act_op_free(&op);
}

void
act_op_commit(struct act_op *op, act_done_cb *done, void *arg)
{
	op->done = done;
	op->arg = arg;
	op->n_changes = 0;
	for (size_t i = 0; i < op->n; i++) {
		struct act_file *af = &op->files[i];
		const struct buf *now = cfg_file_text(af->f);
		if (af->del ? !af->exists : strcmp(af->before, text_of(af->f)) == 0)
			continue;
		op->changes[op->n_changes++] = (struct cfg_change){ .rel = cfg_file_rel(af->f),
		    .text = af->del ? NULL : text_of(af->f), .len = af->del ? 0 : now->len,
		    .expect_version = af->expect };
	}
	if (op->n_changes == 0) {
		done(arg, 3, NULL);
		act_op_free(&op);
		return;
	}
	admin_config_commit(op->changes, op->n_changes, commit_done, op);
}
