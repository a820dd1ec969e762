/* journal.c: append-only commit journal segments (see journal.h and doc/queue-format.md).
 * Queue role, main thread. Recovery treats segment contents as untrusted bytes: every record is
 * bounded (envelope <= ENVELOPE_FILE_MAX, body <= JOURNAL_BODY_MAX, within the file) and
 * checksummed (CRC-32 over header and payload); the first bad record ends a segment's scan. */
#include "queue/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/limits.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define SEG_MAGIC "MAILGUARD-JNL 1\n"
#define SEG_MAGIC_LEN 16
#define REC_MAGIC "MGJR"
#define REC_VERSION 1

struct journal {
	char *dir;
	int dir_fd;
	int fd;			/* current segment, -1 if abandoned */
	uint64_t seq;
	uint64_t next_seq;
	uint64_t size;		/* end of the last complete record */
	uint64_t synced_size;	/* end of the last record covered by a completed fdatasync */
	size_t unsynced;
	int lost_unsynced;	/* a segment with unsynced records was abandoned since the last sync */
	double opened_at;
};

static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void
put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get_le32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t
get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static int
seg_path(const char *dir, uint64_t seq, char *dst, size_t size)
{
	return str_fmt(dst, size, "%s/%016" PRIx64 ".jnl", dir, seq);
}

static int
parse_seg_name(const char *name, uint64_t *seq_r)
{
	char *end;

	if (strlen(name) != 20 || strcmp(name + 16, ".jnl") != 0)
		return -1;
	for (int i = 0; i < 16; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return -1;
	*seq_r = strtoull(name, &end, 16);
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Lists segment numbers in ascending order. */
static int
list_segments(const char *dir, uint64_t **segs_r, size_t *n_r)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t *segs = NULL;
	size_t n = 0, cap = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		uint64_t seq;

		if (parse_seg_name(de->d_name, &seq) < 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			segs = xreallocarray(segs, cap, sizeof(*segs));
		}
		segs[n++] = seq;
	}
	closedir(d);
	if (n)
		qsort(segs, n, sizeof(*segs), cmp_u64);
	*segs_r = segs;
	*n_r = n;
	return 0;
}

static int
journal_new_segment(struct journal *j)
{
	char path[4096];
	int fd;

	if (j->fd >= 0) {
		close(j->fd);
		j->fd = -1;
	}
	j->seq = j->next_seq++;
	if (seg_path(j->dir, j->seq, path, sizeof(path)) < 0)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, SEG_MAGIC, SEG_MAGIC_LEN) != SEG_MAGIC_LEN || fsync(fd) < 0 || fsync(j->dir_fd) < 0) {
		int e = errno;

		close(fd);
		unlink(path);
		errno = e;
		return -1;
	}
	j->fd = fd;
	j->size = SEG_MAGIC_LEN;
	j->synced_size = SEG_MAGIC_LEN;
	j->unsynced = 0;
	j->opened_at = mono_now();
	log_debug("journal: segment %016" PRIx64 " started", j->seq);
	return 0;
}

struct journal *
journal_open(const char *dir, const char **error_r)
{
	struct journal *j = xcalloc(1, sizeof(*j));
	uint64_t *segs = NULL;
	size_t n = 0;

	j->fd = -1;
	j->dir = xstrdup(dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		*error_r = "cannot create journal directory";
		goto fail;
	}
	if ((j->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    list_segments(dir, &segs, &n) < 0) {
		*error_r = "cannot read journal directory";
		goto fail;
	}
	j->next_seq = n ? segs[n - 1] + 1 : 1;
	xfree(segs);
	if (journal_new_segment(j) < 0) {
		*error_r = "cannot create a journal segment";
		goto fail;
	}
	return j;
fail:
	journal_close(&j);
	return NULL;
}

void
journal_close(struct journal **jp)
{
	struct journal *j = *jp;

	if (j == NULL)
		return;
	if (j->fd >= 0)
		close(j->fd);
	if (j->dir_fd >= 0)
		close(j->dir_fd);
	xfree(j->dir);
	xfree(j);
	*jp = NULL;
}

uint64_t
journal_current(const struct journal *j)
{
	return j->seq;
}

size_t
journal_unsynced(const struct journal *j)
{
	return j->unsynced;
}

static void
build_header(unsigned char *h, int type, const char *qid, uint32_t env_len, uint64_t body_len)
{
	memset(h, 0, JOURNAL_HDR_SIZE);
	memcpy(h, REC_MAGIC, 4);
	h[4] = REC_VERSION;
	h[5] = (unsigned char)type;
	put_le32(h + 8, env_len);
	put_le64(h + 12, body_len);
	memcpy(h + 20, qid, QUEUE_ID_LEN);
}

/* Writes at *off and advances it (segments are written at explicit offsets: copy_file_range
 * refuses O_APPEND descriptors). */
static int
write_at(int fd, const void *p, size_t n, uint64_t *off)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = pwrite(fd, c, n, (off_t)*off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
		*off += (uint64_t)w;
	}
	return 0;
}

/* Abandons the current segment: nothing more goes there. Records appended since the last
 * completed fdatasync were never durable, so none of them may be acknowledged: they are cut off
 * (best effort: recovery must not bring back a message whose commit was refused) and the next
 * journal_sync() fails, which makes the queue refuse the whole batch. */
static void
journal_abandon(struct journal *j, const char *what)
{
	int e = errno;

	log_err("journal: %s on segment %016" PRIx64 " failed: %s; starting a new one", what, j->seq,
	    strerror(e));
	if (j->unsynced > 0) {
		if (ftruncate(j->fd, (off_t)j->synced_size) < 0)
			log_err("journal: cannot cut unsynced records off segment %016" PRIx64 ": %m",
			    j->seq);
		j->lost_unsynced = 1;
		j->unsynced = 0;
	}
	close(j->fd);
	j->fd = -1;
	errno = e;
}

/* A failed append (ENOSPC, EIO) leaves part of a record after j->size. Cutting it off keeps
 * the segment usable for the rest of the batch, whose earlier records the next sync still
 * covers; only if that fails is the segment abandoned. */
static void
journal_append_failed(struct journal *j)
{
	int e = errno;

	if (ftruncate(j->fd, (off_t)j->size) == 0) {
		log_err("journal: append to segment %016" PRIx64 " failed: %s; record dropped", j->seq,
		    strerror(e));
		errno = e;
		return;
	}
	journal_abandon(j, "append");
}

/* Appends are refused from an abandon with lost records until the sync that reports it, so no
 * record of the refused batch lands in the next segment and comes back at recovery. */
static int
journal_writable(struct journal *j)
{
	if (j->lost_unsynced) {
		errno = EIO;
		return 0;
	}
	return j->fd >= 0 || journal_new_segment(j) == 0;
}

uint64_t
journal_append_commit(struct journal *j, const char *qid, const char *env, size_t env_len,
    int body_fd, uint64_t body_len)
{
	unsigned char h[JOURNAL_HDR_SIZE];
	unsigned char chunk[65536];
	uLong crc;
	uint64_t off = 0, wpos;

	if (!journal_writable(j))
		return 0;
	wpos = j->size;
	build_header(h, JOURNAL_REC_COMMIT, qid, (uint32_t)env_len, body_len);
	/* The CRC covers the header (with a zero CRC field), the envelope and the body; the body is
	 * read once and both checksummed and appended. */
	crc = crc32(0L, h, JOURNAL_HDR_SIZE);
	crc = crc32(crc, (const Bytef *)env, (uInt)env_len);
	/* Write the header after the payload would need a seek; instead compute the body CRC first
	 * by reading it (it is in the page cache: smtpd just wrote it). */
	while (off < body_len) {
		size_t want = body_len - off > sizeof(chunk) ? sizeof(chunk) : (size_t)(body_len - off);
		ssize_t r = pread(body_fd, chunk, want, (off_t)off);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r == 0)
				errno = EIO;
			return 0;	/* body unreadable: not a journal failure */
		}
		crc = crc32(crc, chunk, (uInt)r);
		off += (uint64_t)r;
	}
	put_le32(h + 36, (uint32_t)crc);
	if (write_at(j->fd, h, sizeof(h), &wpos) < 0 || write_at(j->fd, env, env_len, &wpos) < 0)
		goto fail;
	if (body_len > 0) {
		loff_t in_off = 0, out_off = (loff_t)wpos;
		uint64_t left = body_len;

		while (left > 0) {
			ssize_t c = copy_file_range(body_fd, &in_off, j->fd, &out_off, (size_t)left, 0);

			if (c <= 0) {
				if (c < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL)) {
					/* fall back to read/write */
					while (left > 0) {
						size_t want = left > sizeof(chunk) ? sizeof(chunk) : (size_t)left;
						ssize_t r = pread(body_fd, chunk, want, in_off);

						wpos = (uint64_t)out_off;
						if (r <= 0 || write_at(j->fd, chunk, (size_t)r, &wpos) < 0)
							goto fail;
						out_off = (loff_t)wpos;
						in_off += r;
						left -= (uint64_t)r;
					}
					break;
				}
				if (c == 0)
					errno = EIO;
				goto fail;
			}
			left -= (uint64_t)c;
		}
	}
	j->size += JOURNAL_HDR_SIZE + env_len + body_len;
	j->unsynced += JOURNAL_HDR_SIZE + env_len + (size_t)body_len;
	return j->seq;
fail:
	journal_append_failed(j);
	return 0;
}

void
journal_append_done(struct journal *j, const char *qid)
{
	unsigned char h[JOURNAL_HDR_SIZE];

	uint64_t wpos;

	if (!journal_writable(j))
		return;

	build_header(h, JOURNAL_REC_DONE, qid, 0, 0);
	put_le32(h + 36, (uint32_t)crc32(0L, h, JOURNAL_HDR_SIZE));
	wpos = j->size;
	if (write_at(j->fd, h, sizeof(h), &wpos) < 0) {
		journal_append_failed(j);
		return;
	}
	j->size += JOURNAL_HDR_SIZE;
	j->unsynced += JOURNAL_HDR_SIZE;
}

int
journal_sync(struct journal *j)
{
	if (j->lost_unsynced) {
		j->lost_unsynced = 0;	/* reported once: the next batch starts afresh */
		errno = EIO;
		return -1;
	}
	if (j->fd < 0) {
		errno = EIO;
		return -1;
	}
	if (j->unsynced == 0)
		return 0;
	if (fdatasync(j->fd) < 0) {
		/* After a failed fdatasync the page state is unknown (the 2018 fsyncgate lesson):
		 * never retry on the same segment. */
		journal_abandon(j, "fdatasync");
		j->lost_unsynced = 0;	/* reported right here */
		return -1;
	}
	j->unsynced = 0;
	j->synced_size = j->size;
	return 0;
}

uint64_t
journal_maybe_rotate(struct journal *j, uint64_t max_bytes, double max_age)
{
	if (j->fd >= 0 && j->size < max_bytes && mono_now() - j->opened_at < max_age)
		return 0;
	if (j->fd >= 0 && j->unsynced > 0 && journal_sync(j) < 0)
		return 0;
	if (journal_new_segment(j) < 0) {
		log_err("journal: cannot start a new segment: %m");
		return 0;
	}
	return j->seq;
}

int
journal_remove_segment(struct journal *j, uint64_t seq)
{
	char path[4096];

	if (seq == j->seq && j->fd >= 0)
		return -1;
	if (seg_path(j->dir, seq, path, sizeof(path)) < 0)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT)
		return -1;
	log_debug("journal: segment %016" PRIx64 " retired", seq);
	return 0;
}

/* Logs where a segment's scan stops before its end. Everything from there on was appended but
 * never covered by a completed fdatasync, so never acknowledged (see journal.h). */
static void
torn_tail(uint64_t seq, uint64_t off, const char *what)
{
	log_warn("journal: segment %016" PRIx64 " offset %" PRIu64 ": %s (torn tail of an "
	    "unacknowledged batch); rest of segment ignored", seq, off, what);
}

/* Scans one segment file; stops at the first invalid record. */
static int
scan_segment(const char *dir, uint64_t seq, journal_commit_cb *commit_cb, journal_done_cb *done_cb,
    void *arg)
{
	char path[4096];
	unsigned char h[JOURNAL_HDR_SIZE], magic[SEG_MAGIC_LEN];
	struct stat st;
	uint64_t off = SEG_MAGIC_LEN;
	char *env = NULL;
	unsigned char *chunk = xmalloc(65536);
	int fd, records = 0;

	if (seg_path(dir, seq, path, sizeof(path)) < 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		xfree(chunk);
		return -1;
	}
	if (fstat(fd, &st) < 0 || pread(fd, magic, SEG_MAGIC_LEN, 0) != SEG_MAGIC_LEN ||
	    memcmp(magic, SEG_MAGIC, SEG_MAGIC_LEN) != 0) {
		log_warn("journal: segment %016" PRIx64 " has no valid header; ignored", seq);
		goto out;
	}
	for (;;) {
		uint32_t env_len, crc_stored;
		uint64_t body_len, boff;
		uLong crc;
		int type;
		struct journal_rec rec;

		if (off == (uint64_t)st.st_size)
			break;	/* clean end */
		if (off + JOURNAL_HDR_SIZE > (uint64_t)st.st_size ||
		    pread(fd, h, JOURNAL_HDR_SIZE, (off_t)off) != JOURNAL_HDR_SIZE) {
			torn_tail(seq, off, "record header cut short");
			break;
		}
		if (memcmp(h, REC_MAGIC, 4) != 0 || h[4] != REC_VERSION) {
			torn_tail(seq, off, "no record header");
			break;
		}
		type = h[5];
		env_len = get_le32(h + 8);
		body_len = get_le64(h + 12);
		crc_stored = get_le32(h + 36);
		if ((type != JOURNAL_REC_COMMIT && type != JOURNAL_REC_DONE) ||
		    env_len > ENVELOPE_FILE_MAX || body_len > JOURNAL_BODY_MAX) {
			torn_tail(seq, off, "invalid record header");
			break;
		}
		if (off + JOURNAL_HDR_SIZE + env_len + body_len > (uint64_t)st.st_size) {
			torn_tail(seq, off, "record cut short");
			break;
		}
		put_le32(h + 36, 0);
		crc = crc32(0L, h, JOURNAL_HDR_SIZE);
		env = xrealloc(env, env_len + 1);
		if (env_len && pread(fd, env, env_len, (off_t)(off + JOURNAL_HDR_SIZE)) != (ssize_t)env_len)
			break;
		env[env_len] = '\0';
		crc = crc32(crc, (const Bytef *)env, env_len);
		boff = off + JOURNAL_HDR_SIZE + env_len;
		for (uint64_t done = 0; done < body_len;) {
			size_t want = body_len - done > 65536 ? 65536 : (size_t)(body_len - done);
			ssize_t r = pread(fd, chunk, want, (off_t)(boff + done));

			if (r <= 0)
				break;
			crc = crc32(crc, chunk, (uInt)r);
			done += (uint64_t)r;
		}
		if ((uint32_t)crc != crc_stored) {
			torn_tail(seq, off, "checksum mismatch");
			break;
		}
		memset(&rec, 0, sizeof(rec));
		memcpy(rec.qid, h + 20, QUEUE_ID_LEN);
		rec.qid[QUEUE_ID_LEN] = '\0';
		rec.seq = seq;
		if (type == JOURNAL_REC_COMMIT) {
			rec.seg_fd = fd;
			rec.env = env;
			rec.env_len = env_len;
			rec.body_off = boff;
			rec.body_len = body_len;
			commit_cb(&rec, arg);
		} else {
			done_cb(seq, rec.qid, arg);
		}
		records++;
		off = boff + body_len;
	}
out:
	close(fd);
	xfree(env);
	xfree(chunk);
	return records;
}

int
journal_recover(const char *dir, journal_commit_cb *commit_cb, journal_done_cb *done_cb, void *arg,
    uint64_t **segments_r, size_t *n_segments_r)
{
	uint64_t *segs = NULL;
	size_t n = 0;

	*segments_r = NULL;
	*n_segments_r = 0;
	if (list_segments(dir, &segs, &n) < 0)
		return errno == ENOENT ? 0 : -1;
	for (size_t i = 0; i < n; i++) {
		int r = scan_segment(dir, segs[i], commit_cb, done_cb, arg);

		if (r < 0) {
			log_err("journal: cannot read segment %016" PRIx64 ": %m", segs[i]);
			xfree(segs);
			return -1;
		}
		log_info("journal: segment %016" PRIx64 ": %d record(s) recovered", segs[i], r);
	}
	*segments_r = segs;
	*n_segments_r = n;
	return (int)n;
}
