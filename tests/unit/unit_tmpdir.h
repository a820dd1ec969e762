/* unit_tmpdir.h: a fresh temporary directory for one test case and its removal, for unit tests
 * that need files (Berkeley DB environments, archives). Include after unit.h. The directory is
 * "$TMPDIR/<prog>.<name>.XXXXXX" (TMPDIR unset or empty: /tmp) with the path "<that>/<sub>"
 * handed out, so a test may create siblings of <sub> (e.g. kvdb's ".broken" copies); removing
 * takes the whole parent. */
#ifndef TESTS_UNIT_TMPDIR_H
#define TESTS_UNIT_TMPDIR_H
#include <errno.h>
#include <ftw.h>
#include <limits.h>

/* "<fresh dir>/<sub>" into out (not created), or NULL (a CHECK failure reported). */
static const char * __attribute__((unused))
unit_tmpdir(const char *prog, const char *name, const char *sub, char *out, size_t size)
{
	const char *t = getenv("TMPDIR");
	char tmpl[PATH_MAX];
	int n;

	if (t == NULL || *t == '\0')
		t = "/tmp";
	n = snprintf(tmpl, sizeof(tmpl), "%s/%s.%s.XXXXXX", t, prog, name);
	if (n < 0 || (size_t)n >= sizeof(tmpl) || mkdtemp(tmpl) == NULL) {
		CHECK(0, "mkdtemp %s: %s", tmpl, strerror(errno));
		return NULL;
	}
	n = snprintf(out, size, "%s/%s", tmpl, sub);
	if (n < 0 || (size_t)n >= size) {
		CHECK(0, "path too long: %s", tmpl);
		return NULL;
	}
	return out;
}

static int
unit_tmpdir_rm(const char *p, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)type;
	(void)f;
	return remove(p) < 0 ? -1 : 0;
}

/* Removes the directory unit_tmpdir made for path (its parent) with everything in it. */
static void __attribute__((unused))
unit_tmpdir_remove(const char *path)
{
	char parent[PATH_MAX];
	char *slash;

	snprintf(parent, sizeof(parent), "%s", path);
	if ((slash = strrchr(parent, '/')) != NULL)
		*slash = '\0';
	nftw(parent, unit_tmpdir_rm, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
