/* unit.h: a tiny table-driven unit-test harness (STYLE.md §11).
 * A test file lists named cases and ends with UNIT_MAIN(cases). Each case prints one line:
 *   ok <file> <case>            or    FAIL <file> <case>: <file>:<line>: got X, want Y
 * and the program ends with "unit <file>: N passed, N failed". Exit status 1 on any failure.
 * UNIT_EXPECT_ABORT runs a function in a child and passes only if the child dies by SIGABRT
 * (must-abort cases, as in Dovecot's FATAL tests). */
#ifndef TESTS_UNIT_H
#define TESTS_UNIT_H
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct unit_case {
	const char *name;
	void (*fn)(void);
};

static int unit_case_failed;
static const char *unit_file_name;
static const char *unit_case_name;

static void __attribute__((format(printf, 3, 4), unused))
unit_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (!unit_case_failed)
		printf("FAIL %s %s: ", unit_file_name, unit_case_name);
	else
		printf("     also: ");
	printf("%s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	unit_case_failed = 1;
}

#define CHECK(cond, ...) \
	do { if (!(cond)) unit_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define CHECK_INT(got, want) do { long long g_ = (long long)(got), w_ = (long long)(want); \
	CHECK(g_ == w_, "%s: got %lld, want %lld", #got, g_, w_); } while (0)
#define CHECK_STR(got, want) do { const char *g_ = (got), *w_ = (want); \
	CHECK((g_ == NULL && w_ == NULL) || (g_ && w_ && strcmp(g_, w_) == 0), \
	    "%s: got \"%s\", want \"%s\"", #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)"); } while (0)

static int __attribute__((unused))
unit_dies_by_abort(void (*fn)(void))
{
	pid_t pid;
	int st;

	fflush(stdout);
	if ((pid = fork()) == 0) {
		int devnull = open("/dev/null", 1);
		if (devnull >= 0)
			dup2(devnull, 2);
		signal(SIGABRT, SIG_DFL);
		fn();
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return 0;
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}
#define UNIT_EXPECT_ABORT(fn) CHECK(unit_dies_by_abort(fn), "%s did not abort", #fn)

#define UNIT_MAIN(cases) \
	int main(int argc, char **argv) \
	{ \
		int pass = 0, fail = 0; \
		const char *b = strrchr(argv[0], '/'); \
		(void)argc; \
		unit_file_name = b ? b + 1 : argv[0]; \
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) { \
			unit_case_failed = 0; \
			unit_case_name = cases[i].name; \
			cases[i].fn(); \
			if (unit_case_failed) fail++; \
			else { pass++; printf("ok %s %s\n", unit_file_name, cases[i].name); } \
			fflush(stdout); \
		} \
		printf("unit %s: %d passed, %d failed\n", unit_file_name, pass, fail); \
		return fail ? 1 : 0; \
	}
#endif
