/* quarantine_learn.c: operator actions on the quarantine teach the classifiers (issue G,
 * shared/DESIGN.md §5): a release (mailguardctl, the console or a digest link: every path goes
 * through quarantine_release) learns the message as ham, `confirm-spam` as spam and then deletes
 * it. Queue role. The main thread takes a new descriptor of the message body and queues a job;
 * one worker thread (lib/workq) reads at most FILTER_TRAIN_MSG_MAX octets from it and adds the
 * message to the Bayes token store in state_dir/db with filter_bayes_learn (Berkeley DB writes
 * block, so never on the loop); the completion logs one line with the store's counts. The
 * filter's learning thread notices the store's new serial within 10 s, as it does for
 * `mailguardctl train`. The neural layer is not updated: its weights are a batch-trained file
 * (averaged SGD over epochs, `mailguardctl train-neural`), with no online update path.
 * Input: our own spool files (the message is hostile text, bounded by the filter's MIME limits).
 * Limits: LEARN_JOBS_MAX jobs queued (more are logged and not learned), one message in memory at
 * a time per worker. */
#include "queue/quarantine_learn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/role.h"
#include "config/config.h"
#include "filter/filter.h"
#include "lib/kvdb.h"
#include "lib/log.h"
#include "lib/sanitize.h"
#include "lib/str.h"
#include "lib/workq.h"
#include "lib/xalloc.h"
#include "queue/queue_int.h"

#define LEARN_JOBS_MAX 1000	/* queued learnings; each holds one open descriptor */
#define LEARN_BY_MAX 400		/* octets of the actor's name kept for the log */

struct learn_job {
	struct workq_job job;	/* first member: the workq hands this pointer back */
	char qid[QUEUE_ID_LEN + 1];
	char by[LEARN_BY_MAX + 1];
	int fd;			/* the message body, read and closed by the worker */
	int is_spam;
	/* results, written by the worker, read by done on the loop: */
	int rc;			/* 0 learned, -1 failed (err says why) */
	const char *err;	/* static */
	long long size;
	unsigned spam, ham;	/* the store's counts after this learning */
	int have_counts;
};

/* The worker's own Berkeley DB handle, opened on first use (most queues never learn). */
struct learn_ctx {
	struct mg_kvdb *kv;
	char dir[4096];
};

static struct workq *learn_q;

static void *
ctx_init(void *arg)
{
	struct learn_ctx *c = xcalloc(1, sizeof(*c));

	(void)arg;
	if (str_fmt(c->dir, sizeof(c->dir), "%s/db", role.cfg->state_dir) < 0)
		c->dir[0] = '\0';
	return c;
}

static void
ctx_fini(void *ctx, void *arg)
{
	struct learn_ctx *c = ctx;

	(void)arg;
	mg_kvdb_close(&c->kv);
	xfree(c);
}

/* Reads the whole message (at most FILTER_TRAIN_MSG_MAX octets) from fd into out. */
static int
read_msg(struct learn_job *j, struct buf *out)
{
	struct stat st;
	off_t off = 0;

	if (fstat(j->fd, &st) < 0) {
		j->err = "message unreadable";
		return -1;
	}
	j->size = (long long)st.st_size;
	if (st.st_size > FILTER_TRAIN_MSG_MAX) {
		j->err = "message larger than the training limit (16 MiB): not learned";
		return -1;
	}
	if (buf_reserve(out, (size_t)st.st_size) < 0) {
		j->err = "out of buffer space";
		return -1;
	}
	while (off < st.st_size) {
		ssize_t n = pread(j->fd, out->data + out->len, (size_t)(st.st_size - off), off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;	/* shorter than at fstat: learn what is there */
		out->len += (size_t)n;
		off += n;
	}
	out->data[out->len] = '\0';
	return 0;
}

static void
learn_run(struct workq_job *job, void *ctx)
{
	struct learn_job *j = (struct learn_job *)job;
	struct learn_ctx *c = ctx;
	struct buf msg;

	j->rc = -1;
	buf_init(&msg, FILTER_TRAIN_MSG_MAX);
	if (read_msg(j, &msg) < 0)
		goto out;
	if (c->kv == NULL && (c->dir[0] == '\0' || (c->kv = mg_kvdb_open(c->dir, &j->err)) == NULL))
		goto out;
	if (filter_bayes_learn(c->kv, msg.data ? msg.data : "", msg.len, j->is_spam, &j->err) < 0)
		goto out;
	j->rc = 0;
	j->have_counts = filter_bayes_counts(c->kv, &j->spam, &j->ham) == 0;
out:
	close(j->fd);
	j->fd = -1;
	buf_free(&msg);
}

static void
learn_done(struct workq_job *job, int cancelled)
{
	struct learn_job *j = (struct learn_job *)job;
	const char *label = j->is_spam ? "spam" : "ham";

	if (cancelled) {
		close(j->fd);
		log_warn("%s not learned as %s (by=%s): the queue is stopping", j->qid, label, j->by);
	} else if (j->rc < 0) {
		log_err("%s not learned as %s (by=%s): %s", j->qid, label, j->by,
		    j->err ? j->err : "error");
	} else if (j->have_counts) {
		log_info("%s learned as %s by=%s size=%lld bayes: spam=%u ham=%u", j->qid, label,
		    j->by, j->size, j->spam, j->ham);
	} else {
		log_info("%s learned as %s by=%s size=%lld bayes: counts unreadable", j->qid, label,
		    j->by, j->size);
	}
	xfree(j);
}

int
quarantine_learn(struct qmsg *m, int is_spam, const char *by)
{
	struct learn_job *j;
	char clean[SANITIZE_MAX + 4];

	sanitize(clean, by, strlen(by));
	if (learn_q == NULL)
		learn_q = workq_new(role.loop, 1, LEARN_JOBS_MAX, ctx_init, ctx_fini, NULL);
	j = xcalloc(1, sizeof(*j));
	j->job.run = learn_run;
	j->job.done = learn_done;
	memcpy(j->qid, m->qid, sizeof(j->qid));
	str_lcpy(j->by, clean, sizeof(j->by));
	j->is_spam = is_spam;
	if ((j->fd = queue_body_fd(m)) < 0) {
		log_err("%s not learned as %s (by=%s): message unreadable: %m", m->qid,
		    is_spam ? "spam" : "ham", j->by);
		xfree(j);
		return -1;
	}
	if (workq_submit(learn_q, &j->job) < 0) {
		log_warn("%s not learned as %s (by=%s): %d learnings already queued", m->qid,
		    is_spam ? "spam" : "ham", j->by, LEARN_JOBS_MAX);
		close(j->fd);
		xfree(j);
		return -1;
	}
	return 0;
}

int
quarantine_confirm_spam(struct qmsg *m, const char *by)
{
	char clean[SANITIZE_MAX + 4];
	int r = quarantine_learn(m, 1, by);	/* takes its descriptor before the files go */

	log_info("%s confirmed as spam by=%s; deleted from quarantine", m->qid,
	    sanitize(clean, by, strlen(by)));
	queue_forget(m);
	return r;
}

void
quarantine_learn_shutdown(void)
{
	workq_free(&learn_q);
}
