#ifndef ADMIN_AUDIT_H
#define ADMIN_AUDIT_H
/* audit.h: the console's audit log (admin/audit.c): one JSON object a line in audit_log
 * (default state_dir/audit.log, mode 0600), fsynced after each record:
 *   {"time":"2025-11-25T10:47:00Z","who":"alice","peer":"127.0.0.1","action":"login",
 *    "target":"...","before":...,"after":...}
 * before and after are JSON strings (capped at AUDIT_VALUE_MAX octets of input, then
 * " [truncated]") or null. admin_audit() of admin.h writes the record of a request. Admin role,
 * main loop thread. */
#include <stddef.h>

#include "config/config.h"
#include "lib/buf.h"

#define AUDIT_VALUE_MAX		(64 * 1024)
#define AUDIT_LINE_MAX		(1024 * 1024)	/* longer lines are skipped by admin_audit_read */

/* Takes the log path from cfg (audit_log, else state_dir/audit.log). admin_session_configure()
 * calls it on start and on every reload. */
void admin_audit_configure(const struct mg_config *cfg);

/* Like admin_audit() for events without a request of an authenticated user (login, lockout):
 * who and peer given as text (NULL: "-"). */
void admin_audit_as(const char *who, const char *peer, const char *action, const char *target,
    const char *before, const char *after);

/* Appends the newest records, newest first, skipping the `skip` newest, at most max_records, to
 * out as JSON lines (each ends with '\n'; the file's own lines, not re-validated). Returns the
 * number of records appended (fewer at the end of the log or when out is full). Blocking read
 * of the file from its end: cost grows with skip + max_records, not with the log's size. */
size_t admin_audit_read(struct buf *out, size_t max_records, size_t skip);

/* Appends s (len octets) as a JSON string literal, quotes included: ", \ and controls escaped,
 * < > & as \u003c \u003e \u0026, invalid UTF-8 replaced by U+FFFD. Returns 0 or -1 (out full). */
int audit_json_str(struct buf *out, const char *s, size_t len);

#endif
