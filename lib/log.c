/* log.c: the logging sink for every role: syslog or stderr, one write() per line, errno preserved.
 * Any thread. Callers sanitise peer text before passing it (lib/sanitize.h). */
#include "lib/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lib/str.h"

static char log_ident[32] = "mailguard";
static int log_stderr = 1;
static enum log_level log_level = LOG_LVL_INFO;

static const char *const level_names[] = { "crit", "err", "warn", "info", "debug" };
static const int level_syslog[] = { LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void
log_init(const char *ident, int to_stderr, enum log_level level)
{
	str_lcpy(log_ident, ident, sizeof(log_ident));
	log_stderr = to_stderr;
	log_level = level;
	if (!to_stderr)
		openlog("mailguard", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

void
log_set_ident(const char *ident)
{
	str_lcpy(log_ident, ident, sizeof(log_ident));
}

enum log_level
log_get_level(void)
{
	return log_level;
}

int
log_is_stderr(void)
{
	return log_stderr;
}

int
log_level_from_name(const char *name)
{
	for (int i = 0; i <= LOG_LVL_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

static void
log_vwrite(enum log_level lvl, const char *fmt, va_list ap)
{
	char line[2048];
	size_t o = 0;
	int saved = errno, n;

	if (lvl > log_level)
		return;
	if (log_stderr) {
		struct timeval tv;
		struct tm tm;

		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		o = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(line + o, sizeof(line) - o, ".%03ldZ mailguard/%s[%ld]: %s: ",
		    (long)(tv.tv_usec / 1000), log_ident, (long)getpid(), level_names[lvl]);
		o += n > 0 ? (size_t)n : 0;
	} else {
		n = snprintf(line, sizeof(line), "%s: %s: ", log_ident, level_names[lvl]);
		o = n > 0 ? (size_t)n : 0;
	}
	errno = saved;
	n = vsnprintf(line + o, sizeof(line) - o - 1, fmt, ap);
	if (n > 0)
		o += (size_t)n < sizeof(line) - o - 1 ? (size_t)n : sizeof(line) - o - 2;
	if (log_stderr) {
		line[o++] = '\n';
		(void)!write(STDERR_FILENO, line, o);
	} else {
		line[o] = '\0';
		syslog(level_syslog[lvl], "%s", line);
	}
	errno = saved;
}

#define LOG_FN(name, lvl)                                   \
	void name(const char *fmt, ...)                     \
	{                                                   \
		va_list ap;                                 \
		va_start(ap, fmt);                          \
		log_vwrite(lvl, fmt, ap);                   \
		va_end(ap);                                 \
	}
LOG_FN(log_crit, LOG_LVL_CRIT)
LOG_FN(log_err, LOG_LVL_ERR)
LOG_FN(log_warn, LOG_LVL_WARN)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_debug, LOG_LVL_DEBUG)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

void
panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_CRIT, fmt, ap);
	va_end(ap);
	abort();
}
