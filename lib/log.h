#ifndef LIB_LOG_H
#define LIB_LOG_H
#include <stdarg.h>

/* Logging (STYLE.md §7). Every line is written with one write() so lines from several processes
 * sharing stderr never interleave. errno is preserved by every function. Thread-safe.
 * Destinations: syslog (default, facility mail) or stderr (log_init with to_stderr, i.e. -d). */
enum log_level { LOG_LVL_CRIT, LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* ident is the role name shown on every line ("smtpd", "queue", ...). */
void log_init(const char *ident, int to_stderr, enum log_level level);
void log_set_level(enum log_level level);
void log_set_ident(const char *ident);
enum log_level log_get_level(void);
int log_is_stderr(void);
/* Parses "crit", "err", "warn", "info", "debug"; -1 if unknown. */
int log_level_from_name(const char *name);

void log_crit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Startup and environment errors: logs at crit and exits with status 1. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Broken invariants (our bugs, malformed IPC from our own processes): logs and aborts. */
void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
