/* test_workq.c: unit tests for lib/workq.c: every job runs once and completes on the loop with
 * its worker's context, the max_jobs bound refuses submissions (and frees up after completion),
 * completions coalesce into one drain, workq_free cancels queued jobs and joins workers running
 * fini, and many jobs through several threads all arrive. */
#include <pthread.h>
#include <ev.h>

#include "unit.h"

#include "lib/log.h"
#include "lib/workq.h"
#include "lib/xalloc.h"

struct tjob {
	struct workq_job w;
	int id;
	int ran;		/* written by the worker */
	void *ctx_seen;
	int done, cancelled;
};

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open = 1;
static int inits, finis;
static pthread_mutex_t count_mu = PTHREAD_MUTEX_INITIALIZER;
static int done_count;
static struct ev_loop *tloop;
static int want_done;

static void *
t_init(void *arg)
{
	int *ctx = xmalloc(sizeof(*ctx));

	(void)arg;
	pthread_mutex_lock(&count_mu);
	*ctx = ++inits;
	pthread_mutex_unlock(&count_mu);
	return ctx;
}

static void
t_fini(void *ctx, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&count_mu);
	finis++;
	pthread_mutex_unlock(&count_mu);
	xfree(ctx);
}

static void
t_run(struct workq_job *w, void *ctx)
{
	struct tjob *j = (struct tjob *)w;

	pthread_mutex_lock(&gate_mu);
	while (!gate_open)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
	j->ran++;
	j->ctx_seen = ctx;
}

static void
t_done(struct workq_job *w, int cancelled)
{
	struct tjob *j = (struct tjob *)w;

	j->done++;
	j->cancelled = cancelled;
	done_count++;
	if (want_done > 0 && done_count >= want_done)
		ev_break(tloop, EVBREAK_ALL);
}

static void
set_gate(int open)
{
	pthread_mutex_lock(&gate_mu);
	gate_open = open;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

static void
guard_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Runs the loop until want completions arrived (or 10 s passed: a failure). */
static void
run_until(int want)
{
	ev_timer t;

	want_done = want;
	if (done_count >= want)
		return;
	ev_timer_init(&t, guard_timeout, 10.0, 0.0);
	ev_timer_start(tloop, &t);
	ev_run(tloop, 0);
	ev_timer_stop(tloop, &t);
}

static void
reset(void)
{
	log_init("test_workq", 1, LOG_LVL_WARN);
	if (tloop == NULL)
		tloop = ev_loop_new(EVFLAG_AUTO);
	inits = finis = done_count = want_done = 0;
	set_gate(1);
}

static void
test_runs_all(void)
{
	struct workq *q;
	struct tjob jobs[200];
	int i, bad = 0;

	reset();
	q = workq_new(tloop, 4, 1000, t_init, t_fini, NULL);
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < 200; i++) {
		jobs[i].w.run = t_run;
		jobs[i].w.done = t_done;
		jobs[i].id = i;
		CHECK_INT(workq_submit(q, &jobs[i].w), 0);
	}
	run_until(200);
	CHECK_INT(done_count, 200);
	for (i = 0; i < 200; i++)
		if (jobs[i].ran != 1 || jobs[i].done != 1 || jobs[i].cancelled || jobs[i].ctx_seen == NULL)
			bad++;
	CHECK_INT(bad, 0);
	CHECK_INT(workq_busy(q), 0);
	workq_free(&q);
	CHECK(q == NULL, "workq_free did not NULL the pointer");
	CHECK_INT(inits, 4);
	CHECK_INT(finis, 4);
}

static void
test_bound(void)
{
	struct workq *q;
	struct tjob jobs[4], extra;

	reset();
	set_gate(0);	/* workers block inside run */
	q = workq_new(tloop, 1, 3, NULL, NULL, NULL);
	memset(jobs, 0, sizeof(jobs));
	memset(&extra, 0, sizeof(extra));
	for (int i = 0; i < 4; i++) {
		jobs[i].w.run = t_run;
		jobs[i].w.done = t_done;
	}
	extra.w = jobs[0].w;
	CHECK_INT(workq_submit(q, &jobs[0].w), 0);
	CHECK_INT(workq_submit(q, &jobs[1].w), 0);
	CHECK_INT(workq_submit(q, &jobs[2].w), 0);
	CHECK_INT(workq_submit(q, &jobs[3].w), -1);	/* full: refused, not taken */
	CHECK_INT(workq_busy(q), 3);
	set_gate(1);
	run_until(3);
	CHECK_INT(done_count, 3);
	CHECK_INT(jobs[3].ran, 0);
	CHECK_INT(workq_submit(q, &extra.w), 0);	/* room again */
	run_until(4);
	CHECK_INT(extra.done, 1);
	workq_free(&q);
}

static void *
opener(void *a)
{
	(void)a;
	usleep(20000);
	set_gate(1);
	return NULL;
}

static void
test_free_cancels(void)
{
	struct workq *q;
	struct tjob jobs[5];
	int cancelled = 0, finished = 0;

	reset();
	set_gate(0);
	q = workq_new(tloop, 1, 10, t_init, t_fini, NULL);
	memset(jobs, 0, sizeof(jobs));
	for (int i = 0; i < 5; i++) {
		jobs[i].w.run = t_run;
		jobs[i].w.done = t_done;
		CHECK_INT(workq_submit(q, &jobs[i].w), 0);
	}
	/* let the worker take one job, then stop while it is blocked in run */
	set_gate(1);
	set_gate(0);
	{
		pthread_t t;
		/* open the gate from another thread after free started, so the running job ends */
		pthread_create(&t, NULL, opener, NULL);
		workq_free(&q);
		pthread_join(t, NULL);
	}
	for (int i = 0; i < 5; i++) {
		CHECK_INT(jobs[i].done, 1);
		if (jobs[i].cancelled)
			cancelled++;
		else
			finished++;
		if (jobs[i].cancelled)
			CHECK_INT(jobs[i].ran, 0);
	}
	CHECK_INT(cancelled + finished, 5);
	CHECK_INT(finis, 1);
}

static void
test_coalesce(void)
{
	struct workq *q;
	struct tjob jobs[50];

	reset();
	q = workq_new(tloop, 2, 100, NULL, NULL, NULL);
	memset(jobs, 0, sizeof(jobs));
	for (int i = 0; i < 50; i++) {
		jobs[i].w.run = t_run;
		jobs[i].w.done = t_done;
		CHECK_INT(workq_submit(q, &jobs[i].w), 0);
	}
	/* without the loop running, completions pile up; drains hand them all over */
	{
		size_t got = 0;
		for (int spins = 0; spins < 10000 && got < 50; spins++) {
			got += workq_drain(q);
			if (got < 50)
				usleep(1000);
		}
		CHECK_INT(got, 50);
	}
	CHECK_INT(done_count, 50);
	CHECK_INT(workq_drain(q), 0);
	workq_free(&q);
}

static const struct unit_case cases[] = {
	{ "runs_all_with_context", test_runs_all },
	{ "bound_refuses_when_full", test_bound },
	{ "free_cancels_queued", test_free_cancels },
	{ "drain_coalesces", test_coalesce },
};

UNIT_MAIN(cases)
