/* test_log.c: unit tests for lib/log.c in stderr mode.
 * stderr is captured by dup2-ing a pipe (or a SOCK_SEQPACKET socket, which keeps write()
 * boundaries, to prove one write per line) over fd 2. Covers the line format, level filtering,
 * errno preservation (including %m), truncation of long lines, fatal() and panic(). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <sys/socket.h>

#include "unit.h"

#include "lib/log.h"

#define CAP_MAX 65536

static int cap_saved_fd = -1;
static int cap_read_fd = -1;
static char cap_data[CAP_MAX + 1];
static size_t cap_len;
static int cap_writes;

/* Redirects fd 2 into a pipe (seqpacket == 0) or a SOCK_SEQPACKET socket pair. */
static int
capture_start(int seqpacket)
{
	int p[2];

	if (seqpacket ? socketpair(AF_UNIX, SOCK_SEQPACKET, 0, p) : pipe(p)) {
		CHECK(0, "capture: %s", strerror(errno));
		return -1;
	}
	fflush(stderr);
	cap_saved_fd = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	close(p[1]);
	cap_read_fd = p[0];
	cap_len = 0;
	cap_writes = 0;
	return 0;
}

/* Restores fd 2 and reads everything written meanwhile; counts the writes on a seqpacket. */
static const char *
capture_end(void)
{
	ssize_t n;

	dup2(cap_saved_fd, STDERR_FILENO);
	close(cap_saved_fd);
	cap_saved_fd = -1;
	/* Every write end is closed now, so reads end with EOF. */
	while (cap_len < CAP_MAX &&
	    (n = read(cap_read_fd, cap_data + cap_len, CAP_MAX - cap_len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		cap_len += (size_t)n;
		cap_writes++;
	}
	close(cap_read_fd);
	cap_read_fd = -1;
	cap_data[cap_len] = '\0';
	return cap_data;
}

/* Checks one stderr line: timestamp, "mailguard/<ident>[<pid>]: <level>: <msg>\n". */
static void
check_line(const char *line, const char *ident, const char *level, const char *msg)
{
	char pat[512];
	regex_t re;
	int r;

	snprintf(pat, sizeof(pat),
	    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
	    "mailguard/%s\\[%ld\\]: %s: ",
	    ident, (long)getpid(), level);
	if (regcomp(&re, pat, REG_EXTENDED | REG_NOSUB) != 0) {
		CHECK(0, "bad regex %s", pat);
		return;
	}
	r = regexec(&re, line, 0, NULL, 0);
	regfree(&re);
	CHECK(r == 0, "line prefix: got \"%s\", want /%s/", line, pat);
	{
		const char *m = strstr(line, ": ");

		/* The message follows the "level: " field. */
		m = m ? strstr(m + 2, ": ") : NULL;
		CHECK(m != NULL && strncmp(m + 2, msg, strlen(msg)) == 0 &&
			strcmp(m + 2 + strlen(msg), "\n") == 0,
		    "message: got \"%s\", want \"%s\\n\"", m ? m + 2 : line, msg);
	}
}

static void
test_format(void)
{
	const char *out;

	log_init("test", 1, LOG_LVL_DEBUG);
	if (capture_start(0) < 0)
		return;
	log_info("hello %d %s", 42, "world");
	out = capture_end();
	check_line(out, "test", "info", "hello 42 world");
}

static const struct {
	const char *name;
	void (*fn)(const char *, ...);
	const char *level;
} level_fns[] = {
	{ "crit", log_crit, "crit" },
	{ "err", log_err, "err" },
	{ "warn", log_warn, "warn" },
	{ "info", log_info, "info" },
	{ "debug", log_debug, "debug" },
};

static void
test_level_names(void)
{
	for (size_t i = 0; i < sizeof(level_fns) / sizeof(level_fns[0]); i++) {
		char msg[32];

		log_init("lvl", 1, LOG_LVL_DEBUG);
		if (capture_start(0) < 0)
			return;
		snprintf(msg, sizeof(msg), "at %s", level_fns[i].name);
		level_fns[i].fn("%s", msg);
		check_line(capture_end(), "lvl", level_fns[i].level, msg);
	}
}

/* The logger's level: which of crit..debug get through (bit i = level i). */
static const struct {
	const char *name;
	enum log_level level;
	unsigned want_mask;
} filter_cases[] = {
	{ "crit_only", LOG_LVL_CRIT, 0x01 },
	{ "err", LOG_LVL_ERR, 0x03 },
	{ "warn", LOG_LVL_WARN, 0x07 },
	{ "info", LOG_LVL_INFO, 0x0f },
	{ "debug_all", LOG_LVL_DEBUG, 0x1f },
};

static void
test_filtering(void)
{
	for (size_t i = 0; i < sizeof(filter_cases) / sizeof(filter_cases[0]); i++) {
		unsigned got = 0;
		const char *out;

		log_init("filt", 1, LOG_LVL_DEBUG);
		log_set_level(filter_cases[i].level);
		CHECK(log_get_level() == filter_cases[i].level, "%s: log_get_level got %d",
		    filter_cases[i].name, (int)log_get_level());
		if (capture_start(0) < 0)
			return;
		for (size_t j = 0; j < sizeof(level_fns) / sizeof(level_fns[0]); j++)
			level_fns[j].fn("msg-%zu", j);
		out = capture_end();
		for (size_t j = 0; j < sizeof(level_fns) / sizeof(level_fns[0]); j++) {
			char needle[32];

			snprintf(needle, sizeof(needle), ": msg-%zu\n", j);
			if (strstr(out, needle) != NULL)
				got |= 1u << j;
		}
		CHECK(got == filter_cases[i].want_mask, "%s: levels logged got 0x%02x, want 0x%02x",
		    filter_cases[i].name, got, filter_cases[i].want_mask);
	}
}

/* One write() per line: a SOCK_SEQPACKET keeps message boundaries, so each read is one write. */
static void
test_one_write_per_line(void)
{
	const char *out;
	char big[1500];

	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_init("one", 1, LOG_LVL_INFO);
	if (capture_start(1) < 0)
		return;
	log_warn("short %s", "line");
	out = capture_end();
	CHECK_INT(cap_writes, 1);
	check_line(out, "one", "warn", "short line");

	if (capture_start(1) < 0)
		return;
	log_err("%s", big);
	out = capture_end();
	CHECK_INT(cap_writes, 1);
	check_line(out, "one", "err", big);

	if (capture_start(1) < 0)
		return;
	log_info("a");
	log_info("b");
	log_info("c");
	capture_end();
	CHECK_INT(cap_writes, 3);
}

/* Overlong messages are cut to one bounded line that still ends with a newline. */
static void
test_truncation(void)
{
	static char big[5000];
	const char *out;
	const char *nl;

	memset(big, 'x', sizeof(big) - 1);
	log_init("trunc", 1, LOG_LVL_INFO);
	if (capture_start(1) < 0)
		return;
	log_info("%s%s", big, big);
	out = capture_end();
	CHECK_INT(cap_writes, 1);
	CHECK(cap_len <= 2048, "line length %zu > 2048", cap_len);
	CHECK(cap_len > 1900, "line length %zu: cut too short", cap_len);
	nl = strchr(out, '\n');
	CHECK(nl != NULL && nl == out + cap_len - 1, "not exactly one newline, at the end");
	CHECK(cap_len >= 2 && out[cap_len - 2] == 'x',
	    "last byte before newline is not message text");
}

static void
test_errno_preserved(void)
{
	char want[128];
	const char *out;

	log_init("errno", 1, LOG_LVL_INFO);
	if (capture_start(0) < 0)
		return;
	errno = EBADF;
	log_err("open failed: %m");
	CHECK_INT(errno, EBADF);
	errno = ENOENT;
	log_debug("filtered out %m");
	CHECK_INT(errno, ENOENT);
	errno = EACCES;
	log_info("%s", "no errno use");
	CHECK_INT(errno, EACCES);
	out = capture_end();
	snprintf(want, sizeof(want), "open failed: %s\n", strerror(EBADF));
	CHECK(strstr(out, want) != NULL, "%%m: got \"%s\", want it to contain \"%s\"", out, want);
	CHECK(strstr(out, "filtered out") == NULL, "debug line logged at info");
}

/* A failing write (stderr closed) must not clobber errno either. */
static void
test_errno_preserved_on_write_error(void)
{
	int saved;

	log_init("closed", 1, LOG_LVL_INFO);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	close(STDERR_FILENO);
	errno = ENOSPC;
	log_err("nowhere to go");
	CHECK_INT(errno, ENOSPC);
	dup2(saved, STDERR_FILENO);
	close(saved);
}

static void
test_ident(void)
{
	const char *out;

	log_init("first", 1, LOG_LVL_INFO);
	log_set_ident("smtpd");
	if (capture_start(0) < 0)
		return;
	log_info("x");
	out = capture_end();
	check_line(out, "smtpd", "info", "x");

	/* An overlong ident is cut to 31 bytes, never overflows. */
	log_set_ident("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ");
	if (capture_start(0) < 0)
		return;
	log_info("y");
	out = capture_end();
	check_line(out, "abcdefghijklmnopqrstuvwxyz01234", "info", "y");
}

static const struct {
	const char *name;
	int want;
} name_cases[] = {
	{ "crit", LOG_LVL_CRIT },
	{ "err", LOG_LVL_ERR },
	{ "warn", LOG_LVL_WARN },
	{ "info", LOG_LVL_INFO },
	{ "debug", LOG_LVL_DEBUG },
	{ "warning", -1 },
	{ "", -1 },
	{ "trace", -1 },
	{ "info ", -1 },
};

static void
test_level_from_name(void)
{
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		int got = log_level_from_name(name_cases[i].name);

		CHECK(got == name_cases[i].want, "\"%s\": got %d, want %d", name_cases[i].name, got,
		    name_cases[i].want);
	}
}

static void
test_is_stderr(void)
{
	log_init("x", 1, LOG_LVL_WARN);
	CHECK_INT(log_is_stderr(), 1);
	CHECK_INT(log_get_level(), LOG_LVL_WARN);
}

/* Syslog mode (in a child, as it opens the syslog socket): nothing goes to stderr. */
static void
test_syslog_mode_quiet_on_stderr(void)
{
	const char *out;
	pid_t pid;
	int st;

	if (capture_start(0) < 0)
		return;
	if ((pid = fork()) == 0) {
		log_init("sys", 0, LOG_LVL_DEBUG);
		log_debug("to syslog only");
		_exit(log_is_stderr() == 0 ? 0 : 3);
	}
	waitpid(pid, &st, 0);
	out = capture_end();
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
	CHECK(cap_len == 0, "syslog mode wrote to stderr: \"%s\"", out);
}

static void
do_panic(void)
{
	log_init("panic", 1, LOG_LVL_INFO);
	panic("invariant broken: %d", 7);
}

static void
test_panic_aborts(void)
{
	UNIT_EXPECT_ABORT(do_panic);
}

/* fatal() logs at crit and exits 1 (no abort, no core). */
static void
test_fatal_exits_1(void)
{
	const char *out;
	pid_t pid;
	int st;

	if (capture_start(0) < 0)
		return;
	if ((pid = fork()) == 0) {
		log_init("fatal", 1, LOG_LVL_ERR);
		fatal("cannot bind %s", "port 25");
		_exit(99);
	}
	waitpid(pid, &st, 0);
	out = capture_end();
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1, "child status 0x%x, want exit 1", st);
	CHECK(strstr(out, "]: crit: cannot bind port 25\n") != NULL, "fatal line: got \"%s\"", out);
}

/* Lines from several threads never interleave. */
#define THREADS 4
#define PER_THREAD 50
#define PAD "...................................."

static void *
log_thread(void *arg)
{
	long id = (long)arg;

	for (int i = 0; i < PER_THREAD; i++)
		log_info("thread=%ld i=%d pad=%s", id, i, PAD);
	return NULL;
}

static void
test_threads(void)
{
	pthread_t t[THREADS];
	const char *out, *p;
	int lines = 0, bad = 0;

	log_init("thr", 1, LOG_LVL_INFO);
	if (capture_start(0) < 0)
		return;
	for (long i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, log_thread, (void *)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	out = capture_end();
	for (p = out; *p; lines++) {
		const char *nl = strchr(p, '\n');
		const char *m = strstr(p, "]: info: thread=");
		const char *again = m ? strstr(m + 1, "]: info: ") : NULL;

		if (nl == NULL || m == NULL || m > nl || (again != NULL && again < nl) ||
		    strncmp(nl - strlen(" pad=" PAD), " pad=" PAD, strlen(" pad=" PAD)) != 0)
			bad++;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	CHECK_INT(lines, THREADS * PER_THREAD);
	CHECK_INT(bad, 0);
}

static const struct unit_case cases[] = {
	{ "format", test_format },
	{ "level_names", test_level_names },
	{ "filtering", test_filtering },
	{ "one_write_per_line", test_one_write_per_line },
	{ "truncation", test_truncation },
	{ "errno_preserved", test_errno_preserved },
	{ "errno_preserved_on_write_error", test_errno_preserved_on_write_error },
	{ "ident", test_ident },
	{ "level_from_name", test_level_from_name },
	{ "is_stderr", test_is_stderr },
	{ "syslog_mode_quiet_on_stderr", test_syslog_mode_quiet_on_stderr },
	{ "panic_aborts", test_panic_aborts },
	{ "fatal_exits_1", test_fatal_exits_1 },
	{ "threads", test_threads },
};

UNIT_MAIN(cases)
