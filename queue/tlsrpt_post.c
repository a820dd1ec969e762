/* tlsrpt_post.c: https: submission of TLS-RPT reports (RFC 8460 §5.4) in the queue role. The
 * queue has no network: each gzipped JSON report is kept as a file in state_dir/tlsrpt-post/
 * ("<url>\n" then the gzip bytes, written atomically, so a restart keeps unsent reports) and
 * handed to delivery (IPC_TLSRPT_POST), which POSTs it with libcurl and answers
 * (IPC_TLSRPT_POST_RESULT). Temporary failures are retried with a doubling delay (a quarter of
 * tlsrpt_interval, between 1 s and 5 min, to start) up to TLSRPT_POST_TRIES attempts; a post
 * without an answer within TLSRPT_POST_ANSWER seconds counts as a temporary failure.
 * Bounded: at most TLSRPT_POSTS_MAX reports wait, each at most TLSRPT_POST_MAX octets; files
 * read back at start are checked (size, URL) before use. Queue role, main thread only. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/ipc_msg.h"
#include "common/role.h"
#include "config/config.h"
#include "lib/atomicfile.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"
#include "queue/queue_int.h"
#include "queue/tlsrpt.h"

#define TLSRPT_POST_DIR "tlsrpt-post"
#define TLSRPT_POSTS_MAX 256		/* reports waiting; more are dropped with a log line */
#define TLSRPT_POST_TRIES 5		/* attempts per report */
#define TLSRPT_POST_ANSWER 120.0	/* s: delivery's curl gives up after 30 s */
#define TLSRPT_POST_NAME_MAX 64

struct post {
	char name[TLSRPT_POST_NAME_MAX];	/* file name in the directory */
	uint32_t id;		/* of the request in flight, 0 if none */
	int attempts;
	double next;		/* ev_now() time of the next attempt */
	double sent_at;
};

static struct {
	struct post *p;
	size_t n;
	uint32_t next_id;
	unsigned seq;
	ev_timer w;
	char dir[4096];
} tp;

static void
post_arm(void)
{
	if (tp.n > 0 && !ev_is_active(&tp.w)) {
		ev_timer_set(&tp.w, 1.0, 1.0);
		ev_timer_start(role.loop, &tp.w);
	} else if (tp.n == 0 && ev_is_active(&tp.w)) {
		ev_timer_stop(role.loop, &tp.w);
	}
}

static void
post_remove(size_t i)
{
	char path[4200];

	if (str_fmt(path, sizeof(path), "%s/%s", tp.dir, tp.p[i].name) == 0 && unlink(path) < 0 &&
	    errno != ENOENT)
		log_err("tlsrpt: cannot remove %s: %m", path);
	tp.p[i] = tp.p[--tp.n];
	post_arm();
}

static void
post_add(const char *name, double when)
{
	if (tp.n == TLSRPT_POSTS_MAX)
		return;
	tp.p = xreallocarray(tp.p, tp.n + 1, sizeof(*tp.p));
	memset(&tp.p[tp.n], 0, sizeof(tp.p[0]));
	str_lcpy(tp.p[tp.n].name, name, sizeof(tp.p[0].name));
	tp.p[tp.n].next = when;
	tp.n++;
	post_arm();
}

/* Reads a post file: the URL line and the body. 0, or -1 (unusable: to be removed). */
static int
post_read(const char *name, struct buf *data, size_t *body_off_r)
{
	char path[4200];
	int fd;
	const char *nl;

	if (str_fmt(path, sizeof(path), "%s/%s", tp.dir, name) < 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -1;
	for (;;) {
		char chunk[16384];
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || buf_append(data, chunk, (size_t)r) < 0) {
			close(fd);
			if (r != 0)
				return -1;
			break;
		}
	}
	nl = data->data ? memchr(data->data, '\n', data->len < TLSRPT_URL_MAX + 1 ? data->len :
	    TLSRPT_URL_MAX + 1) : NULL;
	if (nl == NULL || !tlsrpt_https_url_ok(data->data, (size_t)(nl - data->data)) ||
	    data->len - (size_t)(nl - data->data) - 1 == 0)
		return -1;
	data->data[nl - data->data] = '\0';
	*body_off_r = (size_t)(nl - data->data) + 1;
	return 0;
}

static void
post_send(struct post *p)
{
	struct buf data;
	size_t off = 0;
	struct ipc_out o;

	buf_init(&data, TLSRPT_URL_MAX + 1 + TLSRPT_POST_MAX);
	if (post_read(p->name, &data, &off) < 0) {
		log_err("tlsrpt: %s/%s unreadable or malformed; dropped", tp.dir, p->name);
		buf_free(&data);
		post_remove((size_t)(p - tp.p));
		return;
	}
	if (++tp.next_id == 0)
		tp.next_id = 1;
	p->id = tp.next_id;
	p->attempts++;
	p->sent_at = ev_now(role.loop);
	ipc_out_init(&o);
	ipc_put_str(&o, data.data);
	ipc_put_bytes(&o, data.data + off, data.len - off);
	ipc_send(q.delivery, IPC_TLSRPT_POST, p->id, -1, &o);
	ipc_out_free(&o);
	log_info("tlsrpt: posting report %s to %s (attempt %d)", p->name, data.data, p->attempts);
	buf_free(&data);
}

/* A failed attempt: retry later, or give up after TLSRPT_POST_TRIES. */
static void
post_failed(size_t i, int permanent, const char *why)
{
	struct post *p = &tp.p[i];
	double base = (double)role.cfg->tlsrpt_interval / 4.0;

	p->id = 0;
	if (permanent || p->attempts >= TLSRPT_POST_TRIES) {
		log_warn("tlsrpt: report %s not delivered after %d attempt(s): %s; dropped", p->name,
		    p->attempts, why);
		post_remove(i);
		return;
	}
	if (base < 1.0)
		base = 1.0;
	if (base > 300.0)
		base = 300.0;
	p->next = ev_now(role.loop) + base * (double)(1 << (p->attempts - 1));
	log_info("tlsrpt: report %s: attempt %d failed: %s; retry in %.0f s", p->name, p->attempts,
	    why, p->next - ev_now(role.loop));
}

static void
post_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	double now = ev_now(loop);

	(void)w;
	(void)revents;
	for (size_t i = 0; i < tp.n;) {
		struct post *p = &tp.p[i];
		size_t n = tp.n;

		if (p->id != 0 && now - p->sent_at > TLSRPT_POST_ANSWER)
			post_failed(i, 0, "no answer from delivery");
		else if (p->id == 0 && p->next <= now && q.delivery != NULL && !q.shutting_down)
			post_send(p);
		if (tp.n == n)
			i++;	/* else the last entry moved into slot i */
	}
}

void
tlsrpt_post_result(struct ipc_msg *msg)
{
	uint32_t status = ipc_get_u32(msg);
	char *detail = ipc_get_str(msg);

	ipc_msg_end(msg);
	if (status > 2)
		panic("queue: bad IPC_TLSRPT_POST_RESULT status %u", status);
	for (size_t i = 0; i < tp.n; i++) {
		if (tp.p[i].id != msg->id)
			continue;
		if (status == 0) {
			log_info("tlsrpt: report %s posted: %s", tp.p[i].name, detail ? detail : "");
			post_remove(i);
		} else {
			post_failed(i, status == 2, detail ? detail : "");
		}
		break;
	}
	xfree(detail);
}

void
tlsrpt_post_lost(void)
{
	for (size_t i = 0; i < tp.n; i++)
		if (tp.p[i].id != 0)
			post_failed(i, 0, "delivery went away");
}

void
tlsrpt_post_enqueue(const char *url, const struct buf *gz, const char *domain)
{
	char name[TLSRPT_POST_NAME_MAX], path[4200];
	struct buf data;
	const char *err;

	if (tp.n >= TLSRPT_POSTS_MAX) {
		log_err("tlsrpt: %d reports already wait for https: submission; report for %s to "
		    "%s dropped", TLSRPT_POSTS_MAX, domain, url);
		return;
	}
	(void)str_fmt(name, sizeof(name), "%lld-%d-%u.post", (long long)time(NULL), (int)getpid(),
	    tp.seq++);
	(void)str_fmt(path, sizeof(path), "%s/%s", tp.dir, name);
	buf_init(&data, TLSRPT_URL_MAX + 1 + TLSRPT_POST_MAX);
	if (buf_append_str(&data, url) < 0 || buf_append(&data, "\n", 1) < 0 ||
	    buf_append(&data, gz->data, gz->len) < 0)
		log_err("tlsrpt: report for %s too large for https: submission", domain);
	else if (atomicfile_write(path, data.data, data.len, 0600, &err) < 0)
		log_err("tlsrpt: cannot write %s: %s: %m", path, err);
	else {
		log_info("tlsrpt: report for %s to %s queued as %s (%zu octets gzip)", domain, url,
		    name, gz->len);
		post_add(name, 0.0);
	}
	buf_free(&data);
}

void
tlsrpt_post_init(void)
{
	DIR *dir;
	struct dirent *de;

	ev_init(&tp.w, post_timer);
	(void)str_fmt(tp.dir, sizeof(tp.dir), "%s/%s", role.cfg->state_dir, TLSRPT_POST_DIR);
	if (mkdir(tp.dir, 0700) < 0 && errno != EEXIST) {
		log_err("tlsrpt: cannot create %s: %m; https: reports disabled", tp.dir);
		return;
	}
	if ((dir = opendir(tp.dir)) == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len > 5 && len < TLSRPT_POST_NAME_MAX &&
		    strcmp(de->d_name + len - 5, ".post") == 0)
			post_add(de->d_name, 0.0);
	}
	closedir(dir);
	if (tp.n > 0)
		log_info("tlsrpt: %zu report(s) wait for https: submission", tp.n);
}

void
tlsrpt_post_shutdown(void)
{
	if (ev_is_active(&tp.w))
		ev_timer_stop(role.loop, &tp.w);
}
