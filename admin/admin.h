#ifndef ADMIN_ADMIN_H
#define ADMIN_ADMIN_H
/* admin.h: what the admin role offers its handlers (pages, JSON API, metrics): the configuration
 * in effect, control messages to the other roles, the audit log, HTML helpers, and the route
 * tables each handler file exports. The admin role never touches the spool or DKIM keys: queue
 * and DKIM actions are control commands (the same as mailguardctl's), configuration changes are
 * atomic edits of the text files (config/edit.h) followed by a reload. */
#include <stddef.h>

#include "admin/http.h"
#include "config/config.h"
#include "lib/buf.h"

/* The configuration in effect (swapped on reload; do not keep across an HTTP_PENDING wait). */
const struct mg_config *admin_config(void);

/* Sends a control command to the supervisor, exactly as `mailguardctl ARGV...` would
 * ("queue list", "queue flush", "dkim status", "reload", ...); cb runs later on the loop with the
 * reply (status 0 = ok, 1 = failed, 2 = usage error; text = what mailguardctl prints). If the
 * supervisor does not answer within 30 s, cb gets status 1 and "timeout". */
typedef void admin_ctl_cb(void *arg, int status, const char *text);
void admin_ctl(int argc, const char *const *argv, admin_ctl_cb *cb, void *arg);

/* Appends one audit record: {"time":..., "who":..., "peer":..., "action":..., "target":...,
 * "before":..., "after":...} as one JSON line to audit_log (fsynced). before/after may be NULL. */
void admin_audit(const struct http_request *req, const char *action, const char *target,
    const char *before, const char *after);

/* HTML output (admin/html.c). Every string from a file, the network or a user goes through
 * html_esc. */
void html_esc(struct buf *out, const char *s);		/* & < > " ' escaped */
void html_printf(struct buf *out, const char *fmt, ...)	/* %s arguments are escaped */
    __attribute__((format(printf, 2, 3)));
/* Page frame with branding (name, logo, colour), navigation and the user; title escaped. */
void html_page_begin(struct buf *out, const struct http_request *req, const char *title);
void html_page_end(struct buf *out);
/* <input type=hidden name=csrf value=...> for forms of the current session. */
void html_csrf_field(struct buf *out, const struct http_request *req);
/* JSON string literal (quotes included, escaped) for hand-built JSON output. */
void json_str(struct buf *out, const char *s);

/* Applies configuration edits: sends the change set to the supervisor (IPC_CONFIG_COMMIT), which
 * validates it with the loader of `mailguard -n` (config/edit.h cfg_commit), writes the files and
 * reloads every role. cb gets status 0 (applied), 1 (invalid or conflicting: errors holds
 * "file:line: problem" lines, nothing was written) or 2 (written, but a setting that needs a
 * restart changed: errors names it). Every successful commit must be audited by the caller. */
struct cfg_change;
typedef void admin_commit_cb(void *arg, int status, const char *errors);
void admin_config_commit(const struct cfg_change *changes, size_t n, admin_commit_cb *cb,
    void *arg);

/* Route tables (ending with a NULL handler), one per group of handler files; admin/router.c
 * lists them. Each group adds its line to router.c's table list when its file exists. */
extern const struct admin_route admin_core_routes[];	/* admin/static.c: /static/... */
extern const struct admin_route admin_session_routes[];	/* admin/session*.c: /login, /logout */
extern const struct admin_route admin_metrics_routes[];	/* admin/metrics*.c: /metrics */
extern const struct admin_route admin_main_routes[];	/* admin/page_{dashboard,domains,lists}.c
							 * and their /api/v1/ routes */
extern const struct admin_route admin_ops_routes[];	/* admin/page_{dkim,queue,layers,
							 * branding,users,audit}.c + /api/v1/ */

#endif
