/* dmarc_out.c: the queue's half of our DMARC aggregate reports. The filter role writes each
 * report message, with its envelope sender and recipients, to state_dir/dmarc-out/<begin>-<id>.msg
 * (filter/dmarc_job.c); here the directory is scanned at start and every DO_SCAN seconds
 * (test_mode: DO_SCAN_TEST), each file is parsed strictly (a malformed one is renamed to
 * .bad and logged), injected like a TLS-RPT report (queue_inject_begin, queue_commit_signed:
 * DKIM-signed when the sender's domain signs) with the envelope flag dmarcrpt, and unlinked.
 * A crash between the commit and the unlink sends the report twice; the report id is the same,
 * so the receiver drops the copy (RFC 7489 §7.2.1.1 asks receivers to). A permanent failure of
 * such a message sends no DSN (nobody reads them) and is counted in state_dir/dmarc-out/bounces,
 * which the filter job reads for dmarc_report_bounce_limit.
 * Parser: pure, any thread. Everything else: queue role, main thread. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/role.h"
#include "config/config.h"
#include "lib/log.h"
#include "lib/sanitize.h"
#include "lib/str.h"
#include "lib/xalloc.h"
#include "queue/dmarc_out.h"
#include "queue/queue_int.h"

#define DO_DIR "dmarc-out"
#define DO_SCAN 60.0			/* s between scans */
#define DO_SCAN_TEST 2.0		/* test_mode */
#define DO_FILES_PER_SCAN 32		/* the rest waits for the next scan */
#define DO_BOUNCES_MAX (1u << 20)	/* the bounces file stops growing here */

/* ---- parser (pure) ---- */

static int
addr_ok(struct slice a)
{
	size_t at = 0, n_at = 0;

	if (a.len == 0 || a.len > ENVELOPE_ADDR_MAX)
		return 0;
	for (size_t i = 0; i < a.len; i++) {
		unsigned char c = (unsigned char)a.p[i];

		if (c <= 0x20 || c >= 0x7f || strchr("<>()[],;:\"\\", c) != NULL)
			return 0;
		if (c == '@') {
			at = i;
			n_at++;
		}
	}
	return n_at == 1 && at > 0 && at + 1 < a.len;
}

/* The next LF-terminated line of text starting at *pos (without the LF); -1 if none. */
static int
next_line(struct slice text, size_t *pos, struct slice *line)
{
	const char *nl;

	if (*pos >= text.len)
		return -1;
	if ((nl = memchr(text.p + *pos, '\n', text.len - *pos)) == NULL)
		return -1;
	*line = (struct slice){ text.p + *pos, (size_t)(nl - (text.p + *pos)) };
	*pos = (size_t)(nl - text.p) + 1;
	return 0;
}

static int
take_addr(struct slice line, size_t skip, char *out, size_t size)
{
	struct slice a = { line.p + skip, line.len - skip };

	if (!addr_ok(a) || a.len >= size)
		return -1;
	memcpy(out, a.p, a.len);
	out[a.len] = '\0';
	return 0;
}

int
dmarc_out_parse(struct slice text, struct dmarc_out_file *out, const char **error_r)
{
	struct slice line, hdr = { text.p, text.len < DMARC_OUT_HDR_MAX ? text.len :
	    DMARC_OUT_HDR_MAX };
	size_t pos = 0;
	int has_from = 0;

	memset(out, 0, sizeof(*out));
	if (next_line(hdr, &pos, &line) < 0 || line.len != strlen(DMARC_OUT_MAGIC) ||
	    memcmp(line.p, DMARC_OUT_MAGIC, line.len) != 0) {
		*error_r = "not a mailguard-dmarc-out 1 file";
		return -1;
	}
	for (;;) {
		if (next_line(hdr, &pos, &line) < 0) {
			*error_r = "header too long or cut";
			return -1;
		}
		if (line.len == 0)
			break;
		if (line.len > 5 && memcmp(line.p, "from ", 5) == 0 && !has_from) {
			if (take_addr(line, 5, out->from, sizeof(out->from)) < 0) {
				*error_r = "bad from address";
				return -1;
			}
			has_from = 1;
		} else if (line.len > 5 && memcmp(line.p, "rcpt ", 5) == 0 && has_from &&
		    out->n_rcpt < DMARC_OUT_RCPT_MAX) {
			char *r = out->rcpt[out->n_rcpt];

			if (take_addr(line, 5, r, sizeof(out->rcpt[0])) < 0) {
				*error_r = "bad rcpt address";
				return -1;
			}
			for (size_t i = 0; i < out->n_rcpt; i++)
				if (strcasecmp(out->rcpt[i], r) == 0) {
					*error_r = "duplicate rcpt";
					return -1;
				}
			out->n_rcpt++;
		} else {
			*error_r = "unexpected header line (or too many)";
			return -1;
		}
	}
	if (!has_from || out->n_rcpt == 0) {
		*error_r = "no from or no rcpt";
		return -1;
	}
	if (pos >= text.len) {
		*error_r = "empty message";
		return -1;
	}
	out->msg = (struct slice){ text.p + pos, text.len - pos };
	return 0;
}

/* ---- the directory ---- */

static struct {
	ev_timer w;
	int init;
} dos;

static char *
dir_path(void)
{
	return xasprintf("%s/%s", role.cfg->state_dir, DO_DIR);
}

/* Reads a whole regular file of at most DMARC_OUT_FILE_MAX octets into b. 0 or -1. */
static int
read_file(const char *path, struct buf *b, const char **error_r)
{
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0) {
		*error_r = "open";
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (unsigned long long)st.st_size > DMARC_OUT_FILE_MAX ||
	    buf_reserve(b, (size_t)st.st_size) < 0) {
		*error_r = "not a regular file of an allowed size";
		(void)close(fd);
		return -1;
	}
	while (b->len < (size_t)st.st_size &&
	    (n = read(fd, b->data + b->len, (size_t)st.st_size - b->len)) > 0)
		b->len += (size_t)n;
	(void)close(fd);
	b->data[b->len] = '\0';
	if (b->len != (size_t)st.st_size) {
		*error_r = "short read";
		return -1;
	}
	return 0;
}

static void
inject(const char *name, const struct dmarc_out_file *f)
{
	struct envelope *env;
	struct qmsg *m;
	char c[SANITIZE_MAX + 4];

	if ((m = queue_inject_begin(f->msg)) == NULL) {
		log_err("dmarc report %s: cannot create the message: %m; retrying later",
		    sanitize(c, name, strlen(name)));
		return;
	}
	env = xcalloc(1, sizeof(*env));
	envelope_init(env);
	str_lcpy(env->qid, m->qid, sizeof(env->qid));
	env->direction = ENV_OUTBOUND;
	env->sender = xstrdup(f->from);
	env->arrival = (long long)time(NULL);
	env->size = (long long)f->msg.len;
	env->body = ENV_BODY_7BIT;	/* base64 attachment, ASCII text */
	env->is_dmarcrpt = 1;
	for (size_t i = 0; i < f->n_rcpt; i++) {
		envelope_add_rcpt(env, f->rcpt[i], NULL, 0);
		log_info("%s dmarc report file=%s from=<%s> to=<%s> size=%zu", m->qid,
		    sanitize(c, name, strlen(name)), f->from, f->rcpt[i], f->msg.len);
	}
	queue_commit_signed(m, env);	/* DKIM-signed when the sender's domain signs */
}

/* One file: injected and removed, or renamed to .bad. */
static void
take_file(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name), *bad, c[SANITIZE_MAX + 4];
	struct dmarc_out_file f;
	const char *err;
	struct buf b;

	buf_init(&b, DMARC_OUT_FILE_MAX);
	if (read_file(path, &b, &err) < 0 || dmarc_out_parse(buf_slice(&b), &f, &err) < 0) {
		bad = xasprintf("%s.bad", path);
		log_err("dmarc report %s: %s; renamed to .bad", sanitize(c, name, strlen(name)),
		    err);
		if (rename(path, bad) < 0)
			log_err("dmarc report: rename %s: %m", sanitize(c, name, strlen(name)));
		xfree(bad);
	} else {
		inject(name, &f);
		if (unlink(path) < 0)
			log_err("dmarc report: unlink %s: %m", sanitize(c, name, strlen(name)));
	}
	buf_free(&b);
	xfree(path);
}

static int
is_report_name(const char *n)
{
	size_t l = strlen(n);

	return n[0] != '.' && l > 4 && strcmp(n + l - 4, ".msg") == 0;
}

static void
scan(void)
{
	char *dir = dir_path();
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t taken = 0, seen = 0;

	if (d == NULL) {
		if (errno != ENOENT)
			log_err("dmarc report: %s: %m", dir);
		xfree(dir);
		return;
	}
	while (taken < DO_FILES_PER_SCAN && seen++ < 100000 && (de = readdir(d)) != NULL)
		if (is_report_name(de->d_name)) {
			take_file(dir, de->d_name);
			taken++;
		}
	(void)closedir(d);
	xfree(dir);
}

static void
scan_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	if (!q.shutting_down)
		scan();
}

void
dmarc_out_reload(void)
{
	double every = role.cfg->test_mode ? DO_SCAN_TEST : DO_SCAN;

	if (!dos.init) {
		ev_timer_init(&dos.w, scan_cb, 0., 0.);
		dos.init = 1;
	}
	if (ev_is_active(&dos.w)) {
		ev_ref(role.loop);	/* pairs with the ev_unref below */
		ev_timer_stop(role.loop, &dos.w);
	}
	ev_timer_set(&dos.w, every, every);
	ev_timer_start(role.loop, &dos.w);
	ev_unref(role.loop);	/* the scan alone does not keep the loop running */
}

void
dmarc_out_init(void)
{
	char *dir = dir_path();

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		log_err("dmarc report: cannot create %s: %m", dir);
	xfree(dir);
	scan();
	dmarc_out_reload();
}

void
dmarc_out_shutdown(void)
{
	if (dos.init && ev_is_active(&dos.w)) {
		ev_ref(role.loop);
		ev_timer_stop(role.loop, &dos.w);
	}
}

void
dmarc_out_bounced(const char *qid, const struct envelope *env)
{
	char *path = xasprintf("%s/%s/bounces", role.cfg->state_dir, DO_DIR);
	long long now = (long long)time(NULL);
	struct stat st;
	struct buf line;
	int fd;

	buf_init(&line, 4096);
	for (size_t i = 0; i < env->n_rcpts; i++)
		if (env->rcpts[i].state == ENV_RCPT_FAILED) {
			(void)buf_printf(&line, "%s 1 %lld\n", env->rcpts[i].addr, now);
			log_info("%s dmarc report to=<%s> failed: no DSN, counted in %s", qid,
			    env->rcpts[i].addr, path);
		}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fstat(fd, &st) < 0)
		log_err("%s dmarc report: %s: %m", qid, path);
	else if (st.st_size > DO_BOUNCES_MAX)
		log_warn("%s dmarc report: %s is full; failure not counted", qid, path);
	else if (write(fd, line.data, line.len) != (ssize_t)line.len)
		log_err("%s dmarc report: %s: write: %m", qid, path);
	if (fd >= 0)
		(void)close(fd);
	buf_free(&line);
	xfree(path);
}
