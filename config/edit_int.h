#ifndef CONFIG_EDIT_INT_H
#define CONFIG_EDIT_INT_H
/* Internal to config/edit*.c (and their tests): limits, file-name rules and the on-disk reads
 * shared by the line editor (edit.c), the commit (edit_commit.c) and the control commands
 * (edit_ctl.c). */
#include <stddef.h>

#include "lib/buf.h"

#define CFG_EDIT_FILE_MAX (4 * 1024 * 1024)	/* bytes of one file being edited */
#define CFG_EDIT_LINES_MAX 100000		/* lines of one file being edited */
#define CFG_EDIT_CHANGES_MAX 64			/* files in one cfg_commit */
#define CFG_VERSION_LEN 64			/* hex SHA-256 */

enum cfg_kind { CFG_KIND_GLOBAL, CFG_KIND_DOMAIN, CFG_KIND_LIST };

/* Kind of a relative file name: mailguard.conf, domains.d/<lower-case domain>.conf,
 * lists/global.{allow,block}, lists/<lower-case domain>.{allow,block}; -1 for anything else
 * (other directories, "..", upper case, the domain "global"). */
int cfg_rel_kind(const char *rel);

/* Reads dir/rel (regular file, at most CFG_EDIT_FILE_MAX bytes) into out (initialised here;
 * free with buf_free). A missing file reads as empty with *missing_r = 1. Returns 0, or -1
 * with *error_r (static text; errno kept). */
int cfg_read_current(const char *dir, const char *rel, struct buf *out, int *missing_r,
    const char **error_r);

/* cfg_file_open on text in memory (exists = 0: a missing file, version ""): for the fuzz target
 * and tests. NULL + *error_r for a bad name or text over the limits. */
struct cfg_file;
struct cfg_file *cfg_file_from_text(const char *rel, const char *text, size_t len, int exists,
    const char **error_r);

/* Lower-case hex SHA-256 of p (out holds CFG_VERSION_LEN + 1 bytes). */
void cfg_sha256_hex(const void *p, size_t len, char *out);

#endif
