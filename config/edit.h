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
/* Replaces the first line that sets key (keeping its position and any trailing comment on its own
 * line above), removes further lines for key, or appends "key = value" at the end. value must not
 * contain CR, LF or NUL (-1 + *error_r). Repeatable keys (rbl, score, ...): cfg_set_multi writes
 * one line per value at the position of the first. */
int cfg_set(struct cfg_file *f, const char *key, const char *value, const char **error_r);
int cfg_set_multi(struct cfg_file *f, const char *key, const char *const *values, size_t n,
    const char **error_r);
/* Removes every line setting key (back to the default). Returns 1 removed, 0 none. */
int cfg_unset(struct cfg_file *f, const char *key);

/* List files (one entry a line). add: appends the entry unless an equal entry (compared as the
 * loader canonicalises it) is there (returns 0 either way; -1 + *error_r if not a valid entry).
 * remove: removes lines holding an equal entry; returns the count removed. entries: the entries
 * in file order (borrowed strings, valid until the next change), for display. */
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
 * since it was loaded; reload the page"). At most 64 changes. */
int cfg_commit(const char *dir, const struct cfg_change *changes, size_t n, struct buf *errors);

/* The loader with an overlay (config/load.c): like config_load(dir, errors), but each change
 * replaces (or, f == NULL, hides) dir/rel, including in the domains.d/ and lists/ listings. */
struct mg_config;
struct mg_config *config_load_overlay(const char *dir, const struct cfg_change *changes,
    size_t n, FILE *errors);

#endif
