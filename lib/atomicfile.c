/* atomicfile.c: crash-safe whole-file replacement: temporary file, write, fsync, rename,
 * directory fsync (the OpenSMTPD fsqueue pattern plus the directory fsync it lacks).
 * Library code; used by the roles that rewrite files (admin console, queue, config tools), any
 * thread. Trusts its caller's path; never follows a symlink at the temporary name (O_EXCL) and
 * leaves no temporary file behind on any failure it can observe. */
#include "lib/atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/xalloc.h"

/* Attempts at a fresh temporary name before giving up with EEXIST. */
#define ATOMICFILE_TRIES 16
/* Bytes of the target's name kept in the temporary name (so it stays under NAME_MAX). */
#define ATOMICFILE_NAME_KEEP 64

/* Returns the last component of path (inside path). */
static const char *
atomicfile_base(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static uint64_t
atomicfile_random(void)
{
	static unsigned long counter;
	uint64_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		return r;
	/* No entropy yet (early boot): O_EXCL keeps us safe, uniqueness is all we need. */
	r = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
	return r ^ (__atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED) + 1) * 0x9e3779b97f4a7c15ULL;
}

/* Creates ".<base>.<hex>.tmp" next to path. Returns the fd and *tmp_r (caller frees), or -1. */
static int
atomicfile_create_temp(const char *path, const char *base, char **tmp_r)
{
	int dirlen = (int)(base - path);

	for (int i = 0; i < ATOMICFILE_TRIES; i++) {
		char *tmp = xasprintf("%.*s.%.*s.%016llx.tmp", dirlen, path, ATOMICFILE_NAME_KEEP,
		    base, (unsigned long long)atomicfile_random());
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd >= 0) {
			*tmp_r = tmp;
			return fd;
		}
		xfree(tmp);
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

static int
atomicfile_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
atomicfile_fsync_dir(const char *path, const char **error_r)
{
	const char *base = atomicfile_base(path);
	char *dir;
	int fd, saved;

	if (base == path)
		dir = xstrdup(".");
	else if (base == path + 1)
		dir = xstrdup("/");
	else
		dir = xstrndup(path, (size_t)(base - path - 1));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	saved = errno;
	xfree(dir);
	if (fd < 0) {
		errno = saved;
		*error_r = "open directory";
		return -1;
	}
	if (fsync(fd) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		*error_r = "fsync directory";
		return -1;
	}
	close(fd);
	return 0;
}

int
atomicfile_write(const char *path, const void *data, size_t len, mode_t mode, const char **error_r)
{
	const char *base = atomicfile_base(path);
	char *tmp = NULL;
	int fd, saved;

	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		*error_r = "path names no file";
		errno = EINVAL;
		return -1;
	}
	if (strlen(path) >= PATH_MAX) {
		*error_r = "path too long";
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = atomicfile_create_temp(path, base, &tmp)) < 0) {
		*error_r = "create temporary file";
		return -1;
	}
	/* fchmod, not open's mode: the umask must not change a secret file's mode either way. */
	if (fchmod(fd, mode & 07777) < 0) {
		*error_r = "fchmod";
		goto fail;
	}
	if (atomicfile_write_all(fd, data, len) < 0) {
		*error_r = "write";
		goto fail;
	}
	if (fsync(fd) < 0) {
		*error_r = "fsync";
		goto fail;
	}
	/* Linux closes the fd even when close() reports an error (e.g. NFS write-back). */
	if (close(fd) < 0) {
		fd = -1;
		*error_r = "close";
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		*error_r = "rename";
		goto fail;
	}
	xfree(tmp);
	return atomicfile_fsync_dir(path, error_r);
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	xfree(tmp);
	errno = saved;
	return -1;
}
