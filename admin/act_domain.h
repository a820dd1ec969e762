#ifndef ADMIN_ACT_DOMAIN_H
#define ADMIN_ACT_DOMAIN_H
/* act_domain.h: the actions behind the Domains and Lists pages and their JSON API
 * (admin/act_domain.c): which per-domain keys exist (from the settings table, so a new key shows
 * up on the form by itself), name checks, and one "change set" object that opens configuration
 * files for editing, remembers their text as read, commits the result through the supervisor
 * (admin_config_commit: validated like `mailguard -n`, written atomically, reloaded) and audits
 * it with the files' old and new text. Loop thread only. */
#include <stddef.h>

#include "admin/http.h"
#include "config/edit.h"

/* How a per-domain key is edited. */
enum act_kind {
	ACT_TEXT,	/* one line of text */
	ACT_BOOL,	/* yes / no */
	ACT_ENUM,	/* one of choices */
	ACT_LAYERS,	/* any of choices (checkboxes), stored space-separated */
	ACT_LINES,	/* repeatable key: one line per value (header_rewrite) */
};

struct act_key {
	const char *name;
	enum act_kind kind;
	const char *def;		/* default as written in a file ("" = empty; NULL: required) */
	const char *doc;		/* one or two sentences (mailguard.conf(5)) */
	const char *const *choices;	/* ACT_ENUM, ACT_LAYERS: NULL-terminated */
};

/* Every per-domain key, in settings-table order (transport first). Static storage. */
size_t act_domain_keys(const struct act_key **keys_r);
const struct act_key *act_domain_key(const char *name);

/* 1 when s is a valid protected-domain name in canonical (lower-case) form. */
int act_domain_name_ok(const char *s);
/* 1 when s names a list owner: "global" or a valid domain name. */
int act_list_name_ok(const char *s);
/* Relative file names ("domains.d/NAME.conf", "lists/NAME.allow"): written into dst. */
void act_domain_rel(char *dst, size_t size, const char *domain);
void act_list_rel(char *dst, size_t size, const char *owner, int block);
/* 1 when domain is protected in the configuration in effect. */
int act_domain_exists(const char *domain);

/* All values of key in f as written (repeatable keys: one per line), at most max; returns the
 * count. Strings are new allocations in vals (caller frees each with xfree). */
size_t act_domain_values(const struct cfg_file *f, const char *key, char **vals, size_t max);
/* Sets (value != NULL and not empty) or unsets (NULL or "") key in f. For ACT_LINES, value is
 * split on newlines (CR dropped, blank lines ignored) into one line each. Leaves the file alone
 * when the value is unchanged. Returns 1 changed, 0 unchanged, -1 + *error_r (unknown key, CR/LF
 * in a one-line value, too long). */
int act_domain_set(struct cfg_file *f, const char *key, const char *value, const char **error_r);

/* A JSON value of the API as the text of a setting (admin/api_main.c): strings as they are
 * (no NUL), integers, reals ("%.15g"), true/false as yes/no, arrays of those (at most 100)
 * joined by newlines for ACT_LINES keys and by spaces otherwise; null sets *unset_r. Appends to
 * out; -1 for any other shape (objects, nested arrays, NUL bytes). Pure; fuzzed. */
struct json_t;
int act_json_value(const struct act_key *k, struct json_t *v, struct buf *out, int *unset_r);

/* A change set. */
struct act_op;
/* status: 0 applied, 1 refused (errors: "file:line: problem" lines; nothing written), 2 applied
 * but needs a restart (errors names the setting), 3 nothing to change (nothing sent). */
typedef void act_done_cb(void *arg, int status, const char *errors);

/* req is borrowed for the audit record (must stay valid until done runs). */
struct act_op *act_op_new(const struct http_request *req, const char *action, const char *target);
/* Opens rel for editing (the op owns the result; an *error_r of a later edit of that file
 * points into it, so copy the message before act_op_free). expect_version: NULL = the version read now;
 * else the version a form or API client loaded (conflict if it changed). NULL + *error_r. */
struct cfg_file *act_op_open(struct act_op *op, const char *rel, const char *expect_version,
    const char **error_r);
/* Marks rel for deletion when it exists (no-op when it does not); 0 or -1 + *error_r. */
int act_op_delete(struct act_op *op, const char *rel, const char *expect_version,
    const char **error_r);
/* Sends the changed files (those whose text differs, plus deletions) to the supervisor; on
 * success audits "action target" with every changed file's old and new text; then calls done
 * exactly once (possibly before act_op_commit returns when there is nothing to do) and frees op. */
void act_op_commit(struct act_op *op, act_done_cb *done, void *arg);
void act_op_free(struct act_op **op);

/* Small helpers shared by the pages and the API. */
/* Copies s trimmed of blanks (space, tab, CR, LF) at both ends into a new string. */
char *act_trim_dup(const char *s);
/* Every form field called name joined with sep (checkbox groups), into out. */
void act_form_join(const struct http_request *req, const char *name, const char *sep,
    struct buf *out);
/* An escaped error box listing each line of errors (NULL/empty: nothing). */
void act_html_errors(struct buf *out, const char *title, const char *errors);
/* Path component after prefix up to the next '/' (or the end), copied into dst; returns a
 * pointer to the rest of the path ("" or "/..."), or NULL when it does not fit or is empty. */
const char *act_path_name(const char *path, const char *prefix, char *dst, size_t size);

#endif
