/* workq.c: the bounded job queue with worker threads behind the filter pool (lib/workq.h).
 * Runs in the filter role (and unit tests). Trusts its callers (our own code). Enforces the
 * max_jobs bound at submit time, so a burst never grows memory or blocks the loop.
 * Locking: one mutex guards the pending queue, the completion list and the counters; workers
 * wait on one condition variable; completions wake the loop through ev_async. */
#include "lib/workq.h"

#include <pthread.h>
#include <string.h>

#include "lib/log.h"
#include "lib/xalloc.h"

struct workq_worker {
	struct workq *q;
	pthread_t tid;
	int started;
};

struct workq {
	struct ev_loop *loop;
	ev_async async_w;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct workq_job *head, *tail;		/* pending, FIFO */
	struct workq_job *done_head, *done_tail;	/* finished, FIFO */
	size_t busy;		/* pending + running + finished-not-drained */
	size_t max_jobs;
	int stopping;
	workq_thread_init_fn *init;
	workq_thread_fini_fn *fini;
	void *arg;
	struct workq_worker *workers;
	int nthreads;
};

static void
lock(struct workq *q)
{
	if (pthread_mutex_lock(&q->mu) != 0)
		panic("workq: mutex lock");
}

static void
unlock(struct workq *q)
{
	if (pthread_mutex_unlock(&q->mu) != 0)
		panic("workq: mutex unlock");
}

static void *
worker_main(void *p)
{
	struct workq_worker *w = p;
	struct workq *q = w->q;
	struct workq_job *job;
	void *ctx = q->init != NULL ? q->init(q->arg) : NULL;

	for (;;) {
		lock(q);
		while (q->head == NULL && !q->stopping)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->head == NULL) {	/* stopping and nothing left for us */
			unlock(q);
			break;
		}
		job = q->head;
		q->head = job->next;
		if (q->head == NULL)
			q->tail = NULL;
		unlock(q);

		job->next = NULL;
		job->run(job, ctx);

		lock(q);
		if (q->done_tail != NULL)
			q->done_tail->next = job;
		else
			q->done_head = job;
		q->done_tail = job;
		unlock(q);
		ev_async_send(q->loop, &q->async_w);
	}
	if (q->fini != NULL)
		q->fini(ctx, q->arg);
	return NULL;
}

size_t
workq_drain(struct workq *q)
{
	struct workq_job *list, *next;
	size_t n = 0;

	lock(q);
	list = q->done_head;
	q->done_head = q->done_tail = NULL;
	unlock(q);
	for (; list != NULL; list = next) {
		next = list->next;
		list->next = NULL;
		lock(q);
		q->busy--;
		unlock(q);
		list->done(list, 0);
		n++;
	}
	return n;
}

static void
async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop;
	(void)revents;
	workq_drain(w->data);
}

struct workq *
workq_new(struct ev_loop *loop, int nthreads, size_t max_jobs, workq_thread_init_fn *init,
    workq_thread_fini_fn *fini, void *arg)
{
	struct workq *q;
	int i;

	if (nthreads < 1 || max_jobs < 1)
		panic("workq_new: nthreads %d, max_jobs %zu", nthreads, max_jobs);
	q = xcalloc(1, sizeof(*q));
	q->loop = loop;
	q->max_jobs = max_jobs;
	q->init = init;
	q->fini = fini;
	q->arg = arg;
	q->nthreads = nthreads;
	if (pthread_mutex_init(&q->mu, NULL) != 0 || pthread_cond_init(&q->cv, NULL) != 0)
		panic("workq: pthread init");
	ev_async_init(&q->async_w, async_cb);
	q->async_w.data = q;
	ev_async_start(loop, &q->async_w);
	ev_unref(loop);
	q->workers = xcalloc((size_t)nthreads, sizeof(*q->workers));
	for (i = 0; i < nthreads; i++) {
		q->workers[i].q = q;
		if (pthread_create(&q->workers[i].tid, NULL, worker_main, &q->workers[i]) != 0)
			fatal("workq: cannot start worker thread %d", i);
		q->workers[i].started = 1;
	}
	return q;
}

int
workq_submit(struct workq *q, struct workq_job *job)
{
	if (job->run == NULL || job->done == NULL)
		panic("workq_submit: job without run or done");
	lock(q);
	if (q->stopping || q->busy >= q->max_jobs) {
		unlock(q);
		return -1;
	}
	job->next = NULL;
	if (q->tail != NULL)
		q->tail->next = job;
	else
		q->head = job;
	q->tail = job;
	q->busy++;
	pthread_cond_signal(&q->cv);
	unlock(q);
	return 0;
}

size_t
workq_busy(const struct workq *q)
{
	struct workq *mq = (struct workq *)q;	/* the mutex is not part of the logical state */
	size_t n;

	lock(mq);
	n = mq->busy;
	unlock(mq);
	return n;
}

void
workq_free(struct workq **qp)
{
	struct workq *q = *qp;
	struct workq_job *list, *next;
	int i;

	if (q == NULL)
		return;
	lock(q);
	q->stopping = 1;
	list = q->head;		/* never started: cancelled */
	q->head = q->tail = NULL;
	pthread_cond_broadcast(&q->cv);
	unlock(q);
	for (; list != NULL; list = next) {
		next = list->next;
		list->next = NULL;
		q->busy--;
		list->done(list, 1);
	}
	for (i = 0; i < q->nthreads; i++)
		if (q->workers[i].started)
			pthread_join(q->workers[i].tid, NULL);
	workq_drain(q);
	ev_ref(q->loop);
	ev_async_stop(q->loop, &q->async_w);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	xfree(q->workers);
	xfree(q);
	*qp = NULL;
}
