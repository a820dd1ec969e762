#ifndef CONFIG_EDIT_H
#define CONFIG_EDIT_H
/* edit.h: changes to the configuration text files, as the admin console and `mailguardctl` make
 * them (STYLE.md §8): a file is edited line by line so comments, blank lines, unknown-to-us lines
 * and the order of untouched lines stay as they were; a change set is validated with the same
 * loader as `mailguard -n` (config_load over the real directory with the changed files laid over
 * it), and only then written, each file atomically (temp file, fsync, rename, fsync dir).
 *
 * Files are named relative to the configuration directory: "mailguard.conf",
 * "domains.d/<domain>.conf", "lists/global.allow", "lists/<domain>.block", ...
 * Not thread-safe; the admin role uses it from its loop thread (the writes block briefly). */
#include <stddef.h>
#include <stdio.h>

#include "lib/buf.h"

struct cfg_file;	/* one file's lines, being edited */

/* Reads dir/rel (at most 4 MiB). A missing file gives an empty edit (for new domains and
 * lists). rel must be one of the forms above (no "..", no other directories). Records the SHA-256
 * of what was read, so cfg_commit can refuse when the file changed meanwhile. NULL + *error_r. */
struct cfg_file *cfg_file_open(const char *dir, const char *rel, const char **error_r);
void cfg_file_free(struct cfg_file **f);
const char *cfg_file_rel(const struct cfg_file *f);
/* Hex SHA-256 of the content as read ("" for a missing file): forms carry it and cfg_commit
 * compares it (optimistic locking against concurrent edits by hand or by another admin). */
const char *cfg_file_version(const struct cfg_file *f);

/* key = value files. get: the value of the last line setting key (comment stripped by the same
 * rules as the loader), or NULL when the key is not set (the default applies). */
const char *cfg_get(const struct cfg_file *f, const char *key);
/* Every value of key in file order (repeatable keys: one per line), borrowed strings valid until
 * the next change; returns the count (at most max stored, the total returned). */
size_t cfg_get_all(const struct cfg_file *f, const char *key, const char **values, size_t max);

/* What the console needs to know of a setting to build a form field (config/edit_info.c): the
 * settings table stays private to config/. */
enum cfg_field { CFG_FIELD_TEXT, CFG_FIELD_BOOL, CFG_FIELD_ENUM, CFG_FIELD_LAYERS,
	CFG_FIELD_LINES /* repeatable: one value a line */ };
struct cfg_setting_info {
	const char *name;
	int per_domain;			/* 1: domains.d/<domain>.conf, 0: mailguard.conf */
	enum cfg_field field;
	const char *def;		/* default as written in a file; NULL when required */
	const char *doc;
	const char *const *choices;	/* ENUM, LAYERS: NULL-terminated; else NULL */
	int comment_ok;			/* a trailing " # ..." is a comment, not part of the value */
	int reloadable;
};
/* Fills *out for name in the given scope; 0, or -1 when there is no such setting. */
int cfg_setting_info(const char *name, int per_domain, struct cfg_setting_info *out);
/* 1 when s is a domain name as the loader accepts it in settings (LDH labels, not checked for
 * case). */
int cfg_is_domain_name(const char *s);
/* 1 when word is one of the words of a list value (blank- or comma-separated, as the loader
 * reads T_LAYERS values such as disable_layers). */
int cfg_list_has_word(const char *list, const char *word);
/* The settings of one scope in table order; returns the count (at most max stored). */
size_t cfg_settings_list(int per_domain, struct cfg_setting_info *out, size_t max);
/* Replaces the first line that sets key (keeping its position, its layout up to the value, any
 * comment lines above it and, for types that allow one, its trailing " # comment"), removes
 * further lines for key, or appends "key = value" at the end. -1 + *error_r (valid until the
 * next call on f) for a key not in the table for this file's scope, a list file, a value the
 * loader's value parser refuses, a value with CR, LF or other unprintable bytes, or one that
 * would not read back exactly (leading/trailing blanks; " #" where comments are stripped).
 * Repeatable keys (rbl, score, ...): cfg_set_multi writes one line per value at the position of
 * the first; n == 0 is cfg_unset. */
int cfg_set(struct cfg_file *f, const char *key, const char *value, const char **error_r);
int cfg_set_multi(struct cfg_file *f, const char *key, const char *const *values, size_t n,
    const char **error_r);
/* Removes every line setting key (back to the default). Returns 1 removed, 0 none. */
int cfg_unset(struct cfg_file *f, const char *key);

/* List files (one entry a line). add: appends the entry unless an equal entry (compared as the
 * loader canonicalises it) is there (returns 0 either way; -1 + *error_r if not a valid entry).
 * remove: removes lines holding an equal entry; returns the count removed. entries: the valid
 * entries in file order, as written without a trailing comment (borrowed strings, valid until the
 * next change), for display. */
int cfg_list_add(struct cfg_file *f, const char *entry, const char **error_r);
int cfg_list_remove(struct cfg_file *f, const char *entry);
size_t cfg_list_entries(const struct cfg_file *f, const char ***entries_r);

/* The file's text as it would be written. */
const struct buf *cfg_file_text(const struct cfg_file *f);

/* A change set: files to write or delete, as the admin role sends them to the supervisor
 * (IPC_CONFIG_COMMIT), which alone writes configuration files (it owns loading and reloading;
 * the admin role needs no write access to the configuration directory). */
struct cfg_change {
	const char *rel;
	const char *text;	/* new content (cfg_file_text), NULL = delete the file */
	size_t len;
	const char *expect_version;	/* NULL: no check; else must equal the file's current hash
					 * ("" = the file must not exist) */
};
/* Validates dir with the changes laid over it (config_load_overlay); on success writes every
 * change (atomically per file, mode 0640 for new files, existing mode kept; deletions unlink and
 * fsync the directory) and returns 0. On failure writes nothing, returns -1 and puts
 * human-readable "file:line: problem" lines into errors (a version mismatch reads "FILE: changed
 * since it was loaded; reload the page"). At most 64 changes. Files are written in an order in
 * which each intermediate state loads (mailguard.conf, domains, lists; then list deletions,
 * domain deletions); domains.d/ and lists/ are created (0750) when missing. If a write fails
 * midway (disk full, EIO), -1 comes with "FILE: not written (...)" and the lines "done before
 * the failure: ..." and "not done: ..." naming what is on disk; each file is whole, old or new. */
int cfg_commit(const char *dir, const struct cfg_change *changes, size_t n, struct buf *errors);

/* The loader with an overlay (config/load.c): like config_load(dir, errors), but each change
 * replaces (or, f == NULL, hides) dir/rel, including in the domains.d/ and lists/ listings. */
struct mg_config;
struct mg_config *config_load_overlay(const char *dir, const struct cfg_change *changes,
    size_t n, FILE *errors);

/* `mailguardctl config ...` (config/edit_ctl.c), run by the supervisor on the control socket;
 * argv[0] is "config":
 *   config get FILE KEY            config set FILE KEY VALUE...   config unset FILE KEY
 *   config list-add FILE ENTRY     config list-remove FILE ENTRY  config show FILE
 *   config domain-add DOMAIN TRANSPORT     config domain-remove DOMAIN
 * (set joins the VALUE words with single spaces). Every change goes through cfg_commit. Returns
 * the reply status: 0 done (the caller then reloads), 1 refused or failed (the loader's error
 * lines in out), 2 usage. out receives the reply text (caller-initialised). */
int config_ctl_command(const char *dir, int argc, char **argv, struct buf *out);
/* 1 when the command only reads (config get, config show, usage): no reload is needed after it. */
int config_ctl_is_read_only(int argc, char **argv);

#endif
