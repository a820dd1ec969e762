/* test_privdrop.c: unit tests for lib/privdrop.c.
 * Every case runs privdrop() in a forked child, which reports back through a pipe, so the test
 * process keeps its credentials. As root: the drop to "nobody" (ids, groups, no way back to
 * uid 0, a root-only 0600 file unreadable, no_new_privs), the chroot, and the refusals (unknown
 * user, uid 0, bad chroot) that must leave the child still root. Not root: privdrop is a no-op. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "unit.h"

#include "lib/privdrop.h"
#include "lib/str.h"

static uid_t nobody_uid;
static gid_t nobody_gid;
static char root_file[PATH_MAX];
static char chroot_dir[PATH_MAX];
static char child_msg[256];

/* Runs fn in a child; fn returns NULL on success or a description of what went wrong.
 * Returns that description ("" for success), or a note about how the child died. */
static const char *
in_child(const char *(*fn)(void))
{
	int p[2];
	pid_t pid;
	ssize_t n;
	size_t o = 0;
	int st;

	fflush(stdout);
	if (pipe(p) < 0)
		return "pipe failed";
	if ((pid = fork()) < 0)
		return "fork failed";
	if (pid == 0) {
		const char *r;

		close(p[0]);
		r = fn();
		if (r != NULL)
			(void)!write(p[1], r, strlen(r));
		_exit(r == NULL ? 0 : 1);
	}
	close(p[1]);
	while (o < sizeof(child_msg) - 1 &&
	    (n = read(p[0], child_msg + o, sizeof(child_msg) - 1 - o)) > 0)
		o += (size_t)n;
	child_msg[o] = '\0';
	close(p[0]);
	if (waitpid(pid, &st, 0) != pid)
		return "waitpid failed";
	if (WIFSIGNALED(st)) {
		snprintf(child_msg, sizeof(child_msg), "child killed by signal %d", WTERMSIG(st));
		return child_msg;
	}
	if (o == 0 && WEXITSTATUS(st) != 0) {
		snprintf(child_msg, sizeof(child_msg), "child exit %d", WEXITSTATUS(st));
		return child_msg;
	}
	return child_msg;
}

#define CHECK_CHILD(fn)                                \
	do {                                           \
		const char *m_ = in_child(fn);         \
		CHECK(*m_ == '\0', "%s: %s", #fn, m_); \
	} while (0)

static char fmt_msg[256];

static const char *failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static const char *
failf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fmt_msg, sizeof(fmt_msg), fmt, ap);
	va_end(ap);
	return fmt_msg;
}

/* Root-only cases report "skip" and pass when the tests do not run as root. */
static int
need_root(const char *name)
{
	if (geteuid() == 0)
		return 1;
	printf("skip test_privdrop %s: needs root\n", name);
	return 0;
}

/* Checks the credentials of a process that privdrop() dropped to nobody. */
static const char *
verify_nobody(void)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg, groups[NGROUPS_MAX];
	int n;

	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return "getresuid/getresgid failed";
	if (ru != nobody_uid || eu != nobody_uid || su != nobody_uid)
		return failf("uids got %ld/%ld/%ld, want %ld", (long)ru, (long)eu, (long)su,
		    (long)nobody_uid);
	if (rg != nobody_gid || eg != nobody_gid || sg != nobody_gid)
		return failf("gids got %ld/%ld/%ld, want %ld", (long)rg, (long)eg, (long)sg,
		    (long)nobody_gid);
	n = getgroups(NGROUPS_MAX, groups);
	if (n != 1 || groups[0] != nobody_gid)
		return failf("groups: got %d (first %ld), want only %ld", n,
		    n > 0 ? (long)groups[0] : -1L, (long)nobody_gid);
	errno = 0;
	if (setuid(0) == 0)
		return "setuid(0) succeeded";
	if (errno != EPERM)
		return failf("setuid(0): errno %d, want EPERM", errno);
	if (setresuid(0, 0, 0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
		return "regained a root id";
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return "no_new_privs not set";
	return NULL;
}

static const char *
child_drop(void)
{
	const char *err = NULL;
	gid_t extra[3] = { 0, 4, 27 };
	const char *r;
	int fd;

	/* Start with supplementary groups (root's 0 among them) that must be cleared. */
	if (setgroups(3, extra) < 0)
		return "setgroups in test setup failed";
	if (privdrop("nobody", NULL, &err) < 0)
		return failf("privdrop: %s: %s", err, strerror(errno));
	if ((r = verify_nobody()) != NULL)
		return r;
	errno = 0;
	fd = open(root_file, O_RDONLY);
	if (fd >= 0)
		return "opened a root-only 0600 file";
	if (errno != EACCES)
		return failf("open root-only file: errno %d, want EACCES", errno);
	return NULL;
}

static void
test_drop_to_nobody(void)
{
	if (!need_root("drop_to_nobody"))
		return;
	CHECK_CHILD(child_drop);
}

static const char *
child_chroot(void)
{
	const char *err = NULL;
	char cwd[PATH_MAX];
	const char *r;

	if (privdrop("nobody", chroot_dir, &err) < 0)
		return failf("privdrop: %s: %s", err, strerror(errno));
	if ((r = verify_nobody()) != NULL)
		return r;
	if (getcwd(cwd, sizeof(cwd)) == NULL || strcmp(cwd, "/") != 0)
		return "cwd is not / after chroot";
	if (access("/marker", F_OK) < 0)
		return "/marker not visible: not chrooted";
	if (access(root_file, F_OK) == 0)
		return "outside file still visible";
	/* chroot() again needs CAP_SYS_CHROOT, which is gone. */
	if (chroot("/") == 0)
		return "chroot still allowed";
	return NULL;
}

static void
test_drop_with_chroot(void)
{
	if (!need_root("drop_with_chroot"))
		return;
	CHECK_CHILD(child_chroot);
}

static const char *
child_empty_chroot_ignored(void)
{
	const char *err = NULL;
	char before[PATH_MAX], after[PATH_MAX];

	if (getcwd(before, sizeof(before)) == NULL)
		return "getcwd";
	if (privdrop("nobody", "", &err) < 0)
		return failf("privdrop: %s: %s", err, strerror(errno));
	if (getcwd(after, sizeof(after)) == NULL || strcmp(before, after) != 0)
		return "cwd changed without a chroot";
	return verify_nobody();
}

static void
test_empty_chroot_ignored(void)
{
	if (!need_root("empty_chroot_ignored"))
		return;
	CHECK_CHILD(child_empty_chroot_ignored);
}

/* Refusals: privdrop returns -1 with this error and errno, and the child is still root. */
static const struct {
	const char *name;
	const char *user;
	const char *chroot;
	const char *want_err;
	int want_errno;
} refuse_cases[] = {
	{ "unknown_user", "no-such-user-mailguard", NULL, "unknown user", ENOENT },
	{ "empty_user", "", NULL, "no user given", EINVAL },
	{ "null_user", NULL, NULL, "no user given", EINVAL },
	{ "root_user", "root", NULL, "refusing to run as uid 0 or gid 0", EPERM },
	{ "missing_chroot", "nobody", "/nonexistent/mailguard-chroot", "chroot", ENOENT },
	{ "chroot_not_dir", "nobody", "/etc/passwd", "chroot", ENOTDIR },
};
static size_t refuse_index;

static const char *
child_refuse(void)
{
	const char *err = NULL;
	int rc;

	errno = 0;
	rc = privdrop(refuse_cases[refuse_index].user, refuse_cases[refuse_index].chroot, &err);
	if (rc != -1)
		return failf("rc got %d, want -1", rc);
	if (errno != refuse_cases[refuse_index].want_errno)
		return failf("errno got %d (%s), want %d", errno, strerror(errno),
		    refuse_cases[refuse_index].want_errno);
	if (err == NULL || strcmp(err, refuse_cases[refuse_index].want_err) != 0)
		return failf("error got \"%s\", want \"%s\"", err ? err : "(null)",
		    refuse_cases[refuse_index].want_err);
	if (geteuid() != 0 || getuid() != 0)
		return "no longer root after a refused drop";
	return NULL;
}

static void
test_refusals(void)
{
	if (!need_root("refusals"))
		return;
	for (refuse_index = 0; refuse_index < sizeof(refuse_cases) / sizeof(refuse_cases[0]);
	     refuse_index++) {
		const char *m = in_child(child_refuse);

		CHECK(*m == '\0', "%s: %s", refuse_cases[refuse_index].name, m);
	}
}

/* Not root: a no-op returning 0, whatever the user or chroot (development and test mode). */
static const char *
child_not_root(void)
{
	const char *err = NULL;
	char before[PATH_MAX], after[PATH_MAX];
	uid_t uid;

	if (geteuid() == 0 &&
	    (setgroups(1, &nobody_gid) < 0 || setresgid(nobody_gid, nobody_gid, nobody_gid) < 0 ||
		setresuid(nobody_uid, nobody_uid, nobody_uid) < 0))
		return "test setup: could not leave root";
	uid = getuid();
	if (getcwd(before, sizeof(before)) == NULL)
		return "getcwd";
	if (privdrop("nobody", "/nonexistent/mailguard-chroot", &err) != 0)
		return failf("with chroot: rc -1 (%s)", err ? err : "");
	if (privdrop("no-such-user-mailguard", NULL, &err) != 0)
		return "unknown user: rc -1";
	if (privdrop("root", "/", &err) != 0)
		return "root user: rc -1";
	if (getuid() != uid || geteuid() != uid)
		return "uid changed";
	if (getcwd(after, sizeof(after)) == NULL || strcmp(before, after) != 0)
		return "cwd changed";
	return NULL;
}

static void
test_not_root_noop(void)
{
	CHECK_CHILD(child_not_root);
}

static void
setup(void)
{
	struct passwd *pw = getpwnam("nobody");
	const char *t = getenv("TMPDIR");
	char p[PATH_MAX];
	int fd;

	if (pw == NULL) {
		printf("FAIL test_privdrop setup: no user \"nobody\"\n");
		exit(1);
	}
	nobody_uid = pw->pw_uid;
	nobody_gid = pw->pw_gid;
	if (t == NULL || *t == '\0')
		t = "/tmp";
	snprintf(chroot_dir, sizeof(chroot_dir), "%s/test_privdrop.XXXXXX", t);
	if (mkdtemp(chroot_dir) == NULL) {
		printf("FAIL test_privdrop setup: mkdtemp: %s\n", strerror(errno));
		exit(1);
	}
	/* 0755 so that nobody can use it as its root; the secret lives beside the marker. */
	chmod(chroot_dir, 0755);
	if (str_fmt(p, sizeof(p), "%s/marker", chroot_dir) == 0 &&
	    (fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644)) >= 0)
		close(fd);
	str_fmt(root_file, sizeof(root_file), "%s/root-only", chroot_dir);
	if ((fd = open(root_file, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0) {
		(void)!write(fd, "secret\n", 7);
		close(fd);
	}
}

static void
cleanup(void)
{
	char p[PATH_MAX];

	unlink(root_file);
	if (str_fmt(p, sizeof(p), "%s/marker", chroot_dir) == 0)
		unlink(p);
	rmdir(chroot_dir);
}

static void
test_setup(void)
{
	struct stat st;

	setup();
	CHECK(stat(root_file, &st) == 0 && (st.st_mode & 07777) == 0600,
	    "root-only test file missing or wrong mode");
}

static void
test_cleanup(void)
{
	cleanup();
	CHECK(access(chroot_dir, F_OK) < 0, "test directory %s left behind", chroot_dir);
}

static const struct unit_case cases[] = {
	{ "setup", test_setup },
	{ "drop_to_nobody", test_drop_to_nobody },
	{ "drop_with_chroot", test_drop_with_chroot },
	{ "empty_chroot_ignored", test_empty_chroot_ignored },
	{ "refusals", test_refusals },
	{ "not_root_noop", test_not_root_noop },
	{ "cleanup", test_cleanup },
};

UNIT_MAIN(cases)
