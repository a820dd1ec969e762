/* test_atomicfile.c: unit tests for lib/atomicfile.c.
 * Content and mode of new and replaced files, no temporary file left after success or any
 * failure (missing directory, unwritable directory, rename onto a directory, write error via
 * RLIMIT_FSIZE), the old content kept on failure, bad paths, symlinks, concurrent writers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "unit.h"

#include "lib/atomicfile.h"
#include "lib/str.h"
#include "lib/xalloc.h"

static char test_dir[PATH_MAX];

/* A fresh empty directory per case, under $TMPDIR or /tmp. */
static const char *
fresh_dir(const char *name)
{
	const char *t = getenv("TMPDIR");
	char tmpl[PATH_MAX];

	if (t == NULL || *t == '\0')
		t = "/tmp";
	snprintf(tmpl, sizeof(tmpl), "%s/test_atomicfile.%s.XXXXXX", t, name);
	if (mkdtemp(tmpl) == NULL) {
		CHECK(0, "mkdtemp %s: %s", tmpl, strerror(errno));
		test_dir[0] = '\0';
		return NULL;
	}
	str_lcpy(test_dir, tmpl, sizeof(test_dir));
	return test_dir;
}

/* Removes dir and everything in it (one level of subdirectories). */
static void
remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char p[PATH_MAX];
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;

		if (str_fmt(p, sizeof(p), "%s/%s", dir, e->d_name) < 0)
			continue;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			remove_dir(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

/* Entries in dir (besides . and ..), and how many look like our temporary files. */
static int
count_entries(const char *dir, int *tmp_r)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	*tmp_r = 0;
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		n++;
		if (e->d_name[0] == '.' || (l > 4 && strcmp(e->d_name + l - 4, ".tmp") == 0))
			(*tmp_r)++;
	}
	closedir(d);
	return n;
}

#define CHECK_ENTRIES(dir, want)                                                                 \
	do {                                                                                     \
		int t_, n_ = count_entries((dir), &t_);                                          \
		CHECK(n_ == (want) && t_ == 0, "%s: got %d entries (%d temporary), want %d (0)", \
		    (dir), n_, t_, (want));                                                      \
	} while (0)

/* Reads a whole small file into a static buffer; NULL if it cannot. */
static const char *
slurp(const char *path, size_t *len_r)
{
	static char data[2 * 1024 * 1024 + 1];
	int fd = open(path, O_RDONLY);
	size_t o = 0;
	ssize_t n;

	if (fd < 0)
		return NULL;
	while (o < sizeof(data) - 1 && (n = read(fd, data + o, sizeof(data) - 1 - o)) > 0)
		o += (size_t)n;
	close(fd);
	data[o] = '\0';
	if (len_r)
		*len_r = o;
	return data;
}

static void
join(char *dst, const char *dir, const char *name)
{
	if (str_fmt(dst, PATH_MAX, "%s/%s", dir, name) < 0)
		CHECK(0, "path too long: %s/%s", dir, name);
}

static void
test_create_new(void)
{
	const char *dir = fresh_dir("new");
	char path[PATH_MAX];
	const char *err = NULL;
	struct stat st;

	if (dir == NULL)
		return;
	join(path, dir, "mailguard.conf");
	CHECK_INT(atomicfile_write(path, "config_version = 1\n", 19, 0640, &err), 0);
	CHECK_STR(slurp(path, NULL), "config_version = 1\n");
	CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode), "not a regular file");
	CHECK_INT(st.st_mode & 07777, 0640);
	CHECK_INT(st.st_uid, geteuid());
	CHECK_ENTRIES(dir, 1);
	remove_dir(dir);
}

static void
test_replace_existing(void)
{
	const char *dir = fresh_dir("replace");
	char path[PATH_MAX];
	const char *err = NULL;
	struct stat before, after;
	size_t len;
	const char *got;

	if (dir == NULL)
		return;
	join(path, dir, "list");
	CHECK_INT(atomicfile_write(path, "a much longer old content\n", 26, 0644, &err), 0);
	CHECK(stat(path, &before) == 0, "stat before");
	CHECK_INT(atomicfile_write(path, "new\n", 4, 0644, &err), 0);
	CHECK(stat(path, &after) == 0, "stat after");
	got = slurp(path, &len);
	CHECK_STR(got, "new\n");
	CHECK_INT(len, 4);
	/* Replaced by rename, not rewritten in place. */
	CHECK(before.st_ino != after.st_ino, "same inode: file was rewritten in place");
	CHECK_ENTRIES(dir, 1);
	remove_dir(dir);
}

static const struct {
	const char *name;
	mode_t mode;
	mode_t umask;
} mode_cases[] = {
	{ "secret_0600", 0600, 022 },
	{ "world_0644_umask_077", 0644, 077 },
	{ "readonly_0400", 0400, 022 },
	{ "exec_0755_umask_027", 0755, 027 },
	{ "group_0660", 0660, 0 },
	{ "type_bits_ignored", S_IFREG | 0640, 022 },
};

static void
test_modes(void)
{
	const char *dir = fresh_dir("modes");
	mode_t old = umask(0);

	umask(old);
	if (dir == NULL)
		return;
	for (size_t i = 0; i < sizeof(mode_cases) / sizeof(mode_cases[0]); i++) {
		char path[PATH_MAX];
		const char *err = NULL;
		struct stat st;
		int rc;

		join(path, dir, mode_cases[i].name);
		umask(mode_cases[i].umask);
		rc = atomicfile_write(path, "x", 1, mode_cases[i].mode, &err);
		umask(old);
		CHECK(rc == 0, "%s: rc %d (%s: %s)", mode_cases[i].name, rc, err ? err : "",
		    strerror(errno));
		CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == (mode_cases[i].mode & 07777),
		    "%s: mode got %04o, want %04o", mode_cases[i].name,
		    (unsigned)(st.st_mode & 07777), (unsigned)(mode_cases[i].mode & 07777));
	}
	CHECK_ENTRIES(dir, (int)(sizeof(mode_cases) / sizeof(mode_cases[0])));
	remove_dir(dir);
}

/* A mode change alone (same content) is applied too. */
static void
test_mode_changes_on_replace(void)
{
	const char *dir = fresh_dir("remode");
	char path[PATH_MAX];
	const char *err = NULL;
	struct stat st;

	if (dir == NULL)
		return;
	join(path, dir, "key");
	CHECK_INT(atomicfile_write(path, "k", 1, 0644, &err), 0);
	CHECK_INT(atomicfile_write(path, "k", 1, 0600, &err), 0);
	CHECK(stat(path, &st) == 0, "stat");
	CHECK_INT(st.st_mode & 07777, 0600);
	remove_dir(dir);
}

static void
test_empty_and_large(void)
{
	const char *dir = fresh_dir("sizes");
	char path[PATH_MAX];
	const char *err = NULL;
	size_t big_len = 1024 * 1024 + 17, len = 0;
	char *big = xmalloc(big_len);
	const char *got;

	if (dir == NULL) {
		xfree(big);
		return;
	}
	join(path, dir, "empty");
	CHECK_INT(atomicfile_write(path, NULL, 0, 0600, &err), 0);
	got = slurp(path, &len);
	CHECK(got != NULL && len == 0, "empty file: got %zu bytes", len);

	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)(i * 7 + i / 251);
	join(path, dir, "large");
	CHECK_INT(atomicfile_write(path, big, big_len, 0600, &err), 0);
	got = slurp(path, &len);
	CHECK(got != NULL && len == big_len && memcmp(got, big, big_len) == 0,
	    "large file: got %zu bytes, want %zu identical", len, big_len);
	CHECK_ENTRIES(dir, 2);
	xfree(big);
	remove_dir(dir);
}

/* A path without a slash is relative to the current directory (and so is its fsync). */
static void
test_relative_path(void)
{
	const char *dir = fresh_dir("relative");
	const char *err = NULL;
	int cwd;

	if (dir == NULL)
		return;
	cwd = open(".", O_RDONLY | O_DIRECTORY);
	CHECK(cwd >= 0 && chdir(dir) == 0, "chdir %s", dir);
	CHECK_INT(atomicfile_write("rel.txt", "relative", 8, 0600, &err), 0);
	CHECK_STR(slurp("rel.txt", NULL), "relative");
	CHECK_INT(atomicfile_fsync_dir("rel.txt", &err), 0);
	CHECK(cwd >= 0 && fchdir(cwd) == 0, "fchdir back");
	if (cwd >= 0)
		close(cwd);
	CHECK_ENTRIES(dir, 1);
	remove_dir(dir);
}

static void
test_missing_directory(void)
{
	const char *dir = fresh_dir("missing");
	char path[PATH_MAX];
	const char *err = NULL;
	int rc;

	if (dir == NULL)
		return;
	join(path, dir, "no/such/dir/file");
	errno = 0;
	rc = atomicfile_write(path, "data", 4, 0600, &err);
	CHECK_INT(rc, -1);
	CHECK_INT(errno, ENOENT);
	CHECK_STR(err, "create temporary file");
	CHECK_ENTRIES(dir, 0);
	remove_dir(dir);
}

/* rename() fails after the temporary file was written: it must be removed, path untouched. */
static void
test_rename_onto_directory(void)
{
	const char *dir = fresh_dir("isdir");
	char path[PATH_MAX], inner[PATH_MAX];
	const char *err = NULL;
	int rc;

	if (dir == NULL)
		return;
	join(path, dir, "target");
	CHECK(mkdir(path, 0755) == 0, "mkdir");
	join(inner, path, "keep");
	CHECK_INT(atomicfile_write(inner, "inner", 5, 0600, &err), 0);
	errno = 0;
	rc = atomicfile_write(path, "data", 4, 0600, &err);
	CHECK_INT(rc, -1);
	CHECK_INT(errno, EISDIR);
	CHECK_STR(err, "rename");
	CHECK_ENTRIES(dir, 1);
	CHECK_ENTRIES(path, 1);
	CHECK_STR(slurp(inner, NULL), "inner");
	remove_dir(dir);
}

/* write() fails (RLIMIT_FSIZE, in a child): temporary file removed, old content kept. */
static void
test_write_error(void)
{
	const char *dir = fresh_dir("efbig");
	char path[PATH_MAX];
	const char *err = NULL;
	pid_t pid;
	int st = -1;

	if (dir == NULL)
		return;
	join(path, dir, "file");
	CHECK_INT(atomicfile_write(path, "old", 3, 0600, &err), 0);
	if ((pid = fork()) == 0) {
		struct rlimit rl = { 4096, 4096 };
		static char big[65536];
		int rc;

		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(10);
		errno = 0;
		rc = atomicfile_write(path, big, sizeof(big), 0600, &err);
		if (rc != -1)
			_exit(11);
		if (errno != EFBIG)
			_exit(12);
		_exit(strcmp(err, "write") == 0 ? 0 : 13);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid, "fork/wait");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "child: status 0x%x (10 setrlimit, 11 rc, "
	    "12 errno, 13 error string)",
	    st);
	CHECK_STR(slurp(path, NULL), "old");
	CHECK_ENTRIES(dir, 1);
	remove_dir(dir);
}

/* Creating the temporary file is refused (unwritable directory): -1, EACCES, nothing left.
 * Root ignores directory permissions, so when root the call runs in a child as nobody. */
static void
test_unwritable_directory(void)
{
	const char *dir = fresh_dir("ro");
	char sub[PATH_MAX], path[PATH_MAX];
	const char *err = NULL;
	pid_t pid;
	int st = -1;

	if (dir == NULL)
		return;
	join(sub, dir, "ro");
	CHECK(mkdir(sub, 0755) == 0, "mkdir");
	join(path, sub, "file");
	CHECK_INT(atomicfile_write(path, "old", 3, 0644, &err), 0);
	CHECK(chmod(sub, 0555) == 0, "chmod");
	CHECK(chmod(dir, 0755) == 0, "chmod");
	if ((pid = fork()) == 0) {
		int rc;

		if (geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
			setresuid(65534, 65534, 65534) < 0))
			_exit(10);
		errno = 0;
		rc = atomicfile_write(path, "new", 3, 0644, &err);
		if (rc != -1)
			_exit(11);
		if (errno != EACCES)
			_exit(12);
		_exit(strcmp(err, "create temporary file") == 0 ? 0 : 13);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid, "fork/wait");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "child: status 0x%x (10 drop, 11 rc, "
	    "12 errno, 13 error string)",
	    st);
	CHECK_STR(slurp(path, NULL), "old");
	CHECK_ENTRIES(sub, 1);
	chmod(sub, 0755);
	remove_dir(dir);
}

static const struct {
	const char *name;
	const char *path;
	int want_errno;
} bad_path_cases[] = {
	{ "empty", "", EINVAL },
	{ "trailing_slash", "/tmp/", EINVAL },
	{ "dot", "/tmp/.", EINVAL },
	{ "dotdot", "/tmp/..", EINVAL },
	{ "bare_dot", ".", EINVAL },
};

static void
test_bad_paths(void)
{
	for (size_t i = 0; i < sizeof(bad_path_cases) / sizeof(bad_path_cases[0]); i++) {
		const char *err = NULL;
		int rc;

		errno = 0;
		rc = atomicfile_write(bad_path_cases[i].path, "x", 1, 0600, &err);
		CHECK(rc == -1 && errno == bad_path_cases[i].want_errno && err != NULL,
		    "%s: got rc %d errno %d, want -1 errno %d", bad_path_cases[i].name, rc, errno,
		    bad_path_cases[i].want_errno);
	}
}

static void
test_path_too_long(void)
{
	char *p = xmalloc(PATH_MAX + 10);
	const char *err = NULL;

	memset(p, 'a', PATH_MAX + 9);
	p[0] = '/';
	p[PATH_MAX + 9] = '\0';
	errno = 0;
	CHECK_INT(atomicfile_write(p, "x", 1, 0600, &err), -1);
	CHECK_INT(errno, ENAMETOOLONG);
	xfree(p);
}

/* A long file name still gets a temporary name under NAME_MAX. */
static void
test_long_name(void)
{
	const char *dir = fresh_dir("longname");
	char name[256], path[PATH_MAX];
	const char *err = NULL;

	if (dir == NULL)
		return;
	memset(name, 'n', 250);
	name[250] = '\0';
	join(path, dir, name);
	CHECK_INT(atomicfile_write(path, "long", 4, 0600, &err), 0);
	CHECK_STR(slurp(path, NULL), "long");
	CHECK_ENTRIES(dir, 1);
	remove_dir(dir);
}

/* A symlink at path is replaced by the new file; its old target is not written through. */
static void
test_symlink_replaced(void)
{
	const char *dir = fresh_dir("symlink");
	char target[PATH_MAX], link[PATH_MAX];
	const char *err = NULL;
	struct stat st;

	if (dir == NULL)
		return;
	join(target, dir, "target");
	join(link, dir, "link");
	CHECK_INT(atomicfile_write(target, "target", 6, 0600, &err), 0);
	CHECK(symlink(target, link) == 0, "symlink");
	CHECK_INT(atomicfile_write(link, "new", 3, 0600, &err), 0);
	CHECK(lstat(link, &st) == 0 && S_ISREG(st.st_mode), "link is not a regular file now");
	CHECK_STR(slurp(target, NULL), "target");
	CHECK_STR(slurp(link, NULL), "new");
	CHECK_ENTRIES(dir, 2);
	remove_dir(dir);
}

static void
test_fsync_dir(void)
{
	const char *dir = fresh_dir("fsyncdir");
	char path[PATH_MAX];
	const char *err = NULL;

	if (dir == NULL)
		return;
	join(path, dir, "anything");
	CHECK_INT(atomicfile_fsync_dir(path, &err), 0);
	CHECK_INT(atomicfile_fsync_dir("/etc", &err), 0);
	join(path, dir, "nodir/x");
	errno = 0;
	CHECK_INT(atomicfile_fsync_dir(path, &err), -1);
	CHECK_INT(errno, ENOENT);
	CHECK_STR(err, "open directory");
	remove_dir(dir);
}

/* Concurrent writers of one path: unique temporary names, last complete content wins. */
#define WRITERS 4
#define ROUNDS 20
static char shared_path[PATH_MAX];

static void *
writer(void *arg)
{
	char data[4096];
	const char *err;
	long id = (long)arg;

	memset(data, (int)('A' + id), sizeof(data));
	for (int i = 0; i < ROUNDS; i++)
		if (atomicfile_write(shared_path, data, sizeof(data), 0600, &err) < 0)
			return (void *)1;
	return NULL;
}

static void
test_concurrent_writers(void)
{
	const char *dir = fresh_dir("concurrent");
	pthread_t t[WRITERS];
	const char *got;
	size_t len = 0;
	int failed = 0;

	if (dir == NULL)
		return;
	join(shared_path, dir, "shared");
	for (long i = 0; i < WRITERS; i++)
		pthread_create(&t[i], NULL, writer, (void *)i);
	for (int i = 0; i < WRITERS; i++) {
		void *r;

		pthread_join(t[i], &r);
		failed += r != NULL;
	}
	CHECK_INT(failed, 0);
	got = slurp(shared_path, &len);
	CHECK(got != NULL && len == 4096, "content length %zu, want 4096", len);
	if (got != NULL && len == 4096)
		for (size_t i = 1; i < len; i++)
			if (got[i] != got[0]) {
				CHECK(0, "mixed content at byte %zu", i);
				break;
			}
	CHECK_ENTRIES(dir, 1);
	remove_dir(dir);
}

static const struct unit_case cases[] = {
	{ "create_new", test_create_new },
	{ "replace_existing", test_replace_existing },
	{ "modes", test_modes },
	{ "mode_changes_on_replace", test_mode_changes_on_replace },
	{ "empty_and_large", test_empty_and_large },
	{ "relative_path", test_relative_path },
	{ "missing_directory", test_missing_directory },
	{ "rename_onto_directory", test_rename_onto_directory },
	{ "write_error", test_write_error },
	{ "unwritable_directory", test_unwritable_directory },
	{ "bad_paths", test_bad_paths },
	{ "path_too_long", test_path_too_long },
	{ "long_name", test_long_name },
	{ "symlink_replaced", test_symlink_replaced },
	{ "fsync_dir", test_fsync_dir },
	{ "concurrent_writers", test_concurrent_writers },
};

UNIT_MAIN(cases)
