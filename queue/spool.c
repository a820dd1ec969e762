/* spool.c: names, creates, reads, moves and removes the per-message files of the spool (see
 * spool.h). Queue role only, main thread. Envelope files are parsed strictly (envelope_parse);
 * files that fail are moved to corrupt/, never deleted. Queue ids are checked to be exactly
 * QUEUE_ID_LEN lower-case hex before any path is built from them. */
#include "queue/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common/limits.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define SPOOL_VERSION "mailguard-spool 1\n"

static const char *const area_names[] = { "incoming", "queue" };

struct spool {
	char *dir;
	int area_fd[2];
	int hold_fd;
	uint32_t rnd;
	uint32_t counter;
};

static int
qid_valid(const char *qid)
{
	size_t i;

	for (i = 0; qid[i]; i++)
		if (!((qid[i] >= '0' && qid[i] <= '9') || (qid[i] >= 'a' && qid[i] <= 'f')))
			return 0;
	return i == QUEUE_ID_LEN;
}

static int
ensure_dir(const char *base, const char *name)
{
	char p[4096];

	if (str_fmt(p, sizeof(p), "%s/%s", base, name) < 0)
		return -1;
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		return -1;
	return open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int
spool_check_version(const char *dir, const char **error_r)
{
	char p[4096], buf[64];
	int fd;
	ssize_t n;

	str_fmt(p, sizeof(p), "%s/VERSION", dir);
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno != ENOENT) {
			*error_r = "cannot read spool VERSION";
			return -1;
		}
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, SPOOL_VERSION, strlen(SPOOL_VERSION)) < 0 || fsync(fd) < 0) {
			*error_r = "cannot write spool VERSION";
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
		return 0;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0 || (size_t)n != strlen(SPOOL_VERSION) || memcmp(buf, SPOOL_VERSION, (size_t)n) != 0) {
		*error_r = "spool VERSION is not 'mailguard-spool 1' (format from another release?)";
		return -1;
	}
	return 0;
}

struct spool *
spool_open(const char *dir, const char **error_r)
{
	struct spool *sp = xcalloc(1, sizeof(*sp));
	int fd;

	sp->dir = xstrdup(dir);
	sp->area_fd[0] = sp->area_fd[1] = sp->hold_fd = -1;
	if (spool_check_version(dir, error_r) < 0)
		goto fail;
	for (int a = 0; a < 2; a++)
		if ((sp->area_fd[a] = ensure_dir(dir, area_names[a])) < 0) {
			*error_r = "cannot create spool directories";
			goto fail;
		}
	if ((sp->hold_fd = ensure_dir(dir, "hold")) < 0 || (fd = ensure_dir(dir, "corrupt")) < 0) {
		*error_r = "cannot create spool directories";
		goto fail;
	}
	close(fd);
	if (getrandom(&sp->rnd, sizeof(sp->rnd), 0) != sizeof(sp->rnd))
		sp->rnd = (uint32_t)getpid();
	return sp;
fail:
	spool_close(&sp);
	return NULL;
}

void
spool_close(struct spool **spp)
{
	struct spool *sp = *spp;

	if (sp == NULL)
		return;
	for (int a = 0; a < 2; a++)
		if (sp->area_fd[a] >= 0)
			close(sp->area_fd[a]);
	if (sp->hold_fd >= 0)
		close(sp->hold_fd);
	xfree(sp->dir);
	xfree(sp);
	*spp = NULL;
}

const char *
spool_dir(const struct spool *sp)
{
	return sp->dir;
}

int
spool_path(struct spool *sp, enum spool_area area, const char *name, char *dst, size_t size)
{
	return str_fmt(dst, size, "%s/%s/%s", sp->dir, area_names[area], name);
}

void
spool_new_qid(struct spool *sp, char qid[QUEUE_ID_LEN + 1])
{
	snprintf(qid, QUEUE_ID_LEN + 1, "%08x%08x", (unsigned)time(NULL),
	    (unsigned)((++sp->counter * 2654435761u) ^ sp->rnd));
}

int
spool_create_body(struct spool *sp)
{
	return openat(sp->area_fd[SPOOL_INCOMING], ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

int
spool_link_body(struct spool *sp, enum spool_area area, const char *qid, int fd, int durable)
{
	char name[QUEUE_ID_LEN + 8], proc[64];

	if (!qid_valid(qid)) {
		errno = EINVAL;
		return -1;
	}
	snprintf(name, sizeof(name), "%s.msg", qid);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (durable && fsync(fd) < 0)
		return -1;
	if (linkat(AT_FDCWD, proc, sp->area_fd[area], name, AT_SYMLINK_FOLLOW) < 0)
		return -1;
	return durable ? fsync(sp->area_fd[area]) : 0;
}

void
spool_unlink(struct spool *sp, enum spool_area area, const char *qid, const char *suffix)
{
	char name[QUEUE_ID_LEN + 16];

	if (!qid_valid(qid))
		return;
	snprintf(name, sizeof(name), "%s.%s", qid, suffix);
	unlinkat(sp->area_fd[area], name, 0);
}

int
spool_create_msg(struct spool *sp, char qid[QUEUE_ID_LEN + 1])
{
	for (int tries = 0; tries < 100; tries++) {
		char name[QUEUE_ID_LEN + 8];
		int fd;

		/* time-ordered ids: seconds then a counter mixed with a per-process random value */
		snprintf(qid, QUEUE_ID_LEN + 1, "%08x%08x", (unsigned)time(NULL),
		    (unsigned)((++sp->counter * 2654435761u) ^ sp->rnd));
		snprintf(name, sizeof(name), "%s.msg", qid);
		fd = openat(sp->area_fd[SPOOL_INCOMING], name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

int
spool_open_msg(struct spool *sp, enum spool_area area, const char *qid)
{
	char name[QUEUE_ID_LEN + 8];

	if (!qid_valid(qid)) {
		errno = EINVAL;
		return -1;
	}
	snprintf(name, sizeof(name), "%s.msg", qid);
	return openat(sp->area_fd[area], name, O_RDONLY | O_CLOEXEC);
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
spool_write_env(struct spool *sp, enum spool_area area, const struct envelope *env, int durable)
{
	char tmp[QUEUE_ID_LEN + 16], name[QUEUE_ID_LEN + 8];
	struct buf b;
	int fd, dfd = sp->area_fd[area], e;

	if (!qid_valid(env->qid)) {
		errno = EINVAL;
		return -1;
	}
	buf_init(&b, ENVELOPE_FILE_MAX);
	if (envelope_write(env, &b) < 0) {
		buf_free(&b);
		errno = EFBIG;
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.env.tmp", env->qid);
	snprintf(name, sizeof(name), "%s.env", env->qid);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	if (write_all(fd, b.data, b.len) < 0 || (durable && fsync(fd) < 0)) {
		e = errno;
		close(fd);
		unlinkat(dfd, tmp, 0);
		errno = e;
		goto fail;
	}
	close(fd);
	if (renameat(dfd, tmp, dfd, name) < 0) {
		e = errno;
		unlinkat(dfd, tmp, 0);
		errno = e;
		goto fail;
	}
	if (durable && fsync(dfd) < 0)
		goto fail;
	buf_free(&b);
	return 0;
fail:
	e = errno;
	buf_free(&b);
	errno = e;
	return -1;
}

int
spool_read_env(struct spool *sp, enum spool_area area, const char *qid, struct envelope *env,
    const char **error_r)
{
	char name[QUEUE_ID_LEN + 8];
	struct buf b;
	struct stat st;
	int fd, r;

	if (!qid_valid(qid)) {
		*error_r = "invalid queue id";
		return -1;
	}
	snprintf(name, sizeof(name), "%s.env", qid);
	if ((fd = openat(sp->area_fd[area], name, O_RDONLY | O_CLOEXEC)) < 0) {
		*error_r = errno == ENOENT ? "no envelope file" : "cannot open envelope file";
		return -1;
	}
	if (fstat(fd, &st) < 0 || st.st_size > ENVELOPE_FILE_MAX) {
		close(fd);
		*error_r = "envelope file too large";
		return -1;
	}
	buf_init(&b, ENVELOPE_FILE_MAX + 1);
	buf_reserve(&b, (size_t)st.st_size + 1);
	for (;;) {
		ssize_t n;

		if (buf_reserve(&b, 4096) < 0) {
			close(fd);
			buf_free(&b);
			*error_r = "envelope file too large";
			return -1;
		}
		n = read(fd, b.data + b.len, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		b.len += (size_t)n;
	}
	close(fd);
	envelope_init(env);
	r = envelope_parse(buf_slice(&b), env, error_r);
	buf_free(&b);
	if (r == 0 && strcmp(env->qid, qid) != 0) {
		envelope_clear(env);
		*error_r = "envelope names another queue id";
		return -1;
	}
	return r;
}

void
spool_remove(struct spool *sp, enum spool_area area, const char *qid)
{
	char name[QUEUE_ID_LEN + 16];

	if (!qid_valid(qid))
		return;
	snprintf(name, sizeof(name), "%s.msg", qid);
	unlinkat(sp->area_fd[area], name, 0);
	snprintf(name, sizeof(name), "%s.env", qid);
	unlinkat(sp->area_fd[area], name, 0);
	snprintf(name, sizeof(name), "%s.env.tmp", qid);
	unlinkat(sp->area_fd[area], name, 0);
	(void)spool_set_hold(sp, qid, 0);
}

int
spool_move_to_queue(struct spool *sp, const char *qid)
{
	char m[QUEUE_ID_LEN + 8], e[QUEUE_ID_LEN + 8];
	int in = sp->area_fd[SPOOL_INCOMING], q = sp->area_fd[SPOOL_QUEUE];

	snprintf(m, sizeof(m), "%s.msg", qid);
	snprintf(e, sizeof(e), "%s.env", qid);
	if (renameat(in, m, q, m) < 0)
		return -1;
	return renameat(in, e, q, e);
}

int
spool_sync_all(struct spool *sp)
{
	if (syncfs(sp->area_fd[SPOOL_QUEUE]) < 0)
		return -1;
	if (fsync(sp->area_fd[SPOOL_QUEUE]) < 0)
		return -1;
	return fsync(sp->area_fd[SPOOL_INCOMING]);
}

int
spool_restore_msg(struct spool *sp, const char *qid, int src_fd, unsigned long long off,
    unsigned long long len)
{
	char name[QUEUE_ID_LEN + 8];
	loff_t in_off = (loff_t)off;
	int fd;

	snprintf(name, sizeof(name), "%s.msg", qid);
	fd = openat(sp->area_fd[SPOOL_INCOMING], name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	while (len > 0) {
		ssize_t c = copy_file_range(src_fd, &in_off, fd, NULL, (size_t)len, 0);

		if (c <= 0) {
			char chunk[65536];
			ssize_t r = pread(src_fd, chunk, len > sizeof(chunk) ? sizeof(chunk) : (size_t)len, in_off);

			if (r <= 0 || write_all(fd, chunk, (size_t)r) < 0) {
				close(fd);
				return -1;
			}
			c = r;
			in_off += r;
		}
		len -= (unsigned long long)c;
	}
	close(fd);
	return 0;
}

int
spool_exists(struct spool *sp, enum spool_area area, const char *qid, const char *suffix)
{
	char name[QUEUE_ID_LEN + 16];
	struct stat st;

	snprintf(name, sizeof(name), "%s.%s", qid, suffix);
	return fstatat(sp->area_fd[area], name, &st, 0) == 0;
}

void
spool_quarantine_file(struct spool *sp, enum spool_area area, const char *name)
{
	char from[4096], to[4096];

	spool_path(sp, area, name, from, sizeof(from));
	str_fmt(to, sizeof(to), "%s/corrupt/%s.%s", sp->dir, area_names[area], name);
	if (rename(from, to) < 0)
		log_err("cannot move %s to corrupt/: %m", from);
	else
		log_warn("moved unreadable spool file %s to %s", from, to);
}

int
spool_set_hold(struct spool *sp, const char *qid, int hold)
{
	if (!qid_valid(qid))
		return -1;
	if (!hold)
		return unlinkat(sp->hold_fd, qid, 0) < 0 && errno != ENOENT ? -1 : 0;
	{
		int fd = openat(sp->hold_fd, qid, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

		if (fd < 0)
			return -1;
		close(fd);
	}
	return 0;
}

int
spool_is_held(struct spool *sp, const char *qid)
{
	struct stat st;

	return qid_valid(qid) && fstatat(sp->hold_fd, qid, &st, 0) == 0;
}

void
spool_scan(struct spool *sp, enum spool_area area,
    void (*cb)(const char *qid, const char *suffix, void *arg), void *arg)
{
	int fd = dup(sp->area_fd[area]);
	DIR *d;
	struct dirent *de;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		char qid[QUEUE_ID_LEN + 1];
		const char *dot;

		if (de->d_name[0] == '.')
			continue;
		dot = strchr(de->d_name, '.');
		if (dot == NULL || dot - de->d_name != QUEUE_ID_LEN) {
			spool_quarantine_file(sp, area, de->d_name);
			continue;
		}
		memcpy(qid, de->d_name, QUEUE_ID_LEN);
		qid[QUEUE_ID_LEN] = '\0';
		if (!qid_valid(qid)) {
			spool_quarantine_file(sp, area, de->d_name);
			continue;
		}
		cb(qid, dot + 1, arg);
	}
	closedir(d);
}

long long
spool_free_bytes(struct spool *sp)
{
	struct statvfs sv;

	if (fstatvfs(sp->area_fd[SPOOL_INCOMING], &sv) < 0)
		return -1;
	return (long long)sv.f_bavail * (long long)sv.f_frsize;
}
