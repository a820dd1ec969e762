#ifndef LIB_WORKQ_H
#define LIB_WORKQ_H
/* A bounded job queue served by N worker threads, completing on a libev loop (STYLE.md §9, the
 * Redis bio.c shape with ev_async in place of the pipe). The owner embeds a struct workq_job in
 * its own job type and submits it; a worker runs job->run(job, thread_ctx) and puts the job on a
 * mutex-protected completion list, then ev_async_send()s the owner's loop. Sends coalesce, so
 * each wakeup drains the whole list and calls job->done(job, 0) for every finished job, on the
 * loop thread. workq_submit never blocks: when max_jobs jobs are queued or running it returns -1
 * (the filter answers 451 4.3.2). Each worker owns a context made by thread_init on that thread
 * (e.g. its own libspf2 and libopendkim handles) and destroyed by thread_fini there.
 * Thread affinity: workq_new, workq_submit, workq_free and every done callback: the loop thread
 * only; run and the init/fini callbacks: worker threads. */
#include <ev.h>
#include <stddef.h>

struct workq;
struct workq_job;

/* Runs on a worker thread; ctx is that worker's context. Must not touch loop-owned state. */
typedef void workq_run_fn(struct workq_job *job, void *ctx);
/* Runs on the loop thread once the job is finished (cancelled = 0), or when workq_free drops a
 * job that never ran (cancelled = 1). Owns the job from then on (typically frees it). */
typedef void workq_done_fn(struct workq_job *job, int cancelled);
/* Per-worker context, created and destroyed on the worker thread. arg is workq_new's arg. */
typedef void *workq_thread_init_fn(void *arg);
typedef void workq_thread_fini_fn(void *ctx, void *arg);

struct workq_job {
	workq_run_fn *run;
	workq_done_fn *done;
	struct workq_job *next;		/* queue link, owned by workq while submitted */
};

/* Starts nthreads (>= 1) workers bound to loop; at most max_jobs (>= 1) jobs may be queued or
 * running at once. init/fini may be NULL. Aborts if threads cannot be created. The ev_async
 * watcher is unref'ed, so it alone does not keep ev_run going. */
struct workq *workq_new(struct ev_loop *loop, int nthreads, size_t max_jobs,
    workq_thread_init_fn *init, workq_thread_fini_fn *fini, void *arg);
/* Queues job (run and done must be set). Returns 0, or -1 without taking the job when the queue
 * holds max_jobs jobs already or the queue is stopping. */
int workq_submit(struct workq *q, struct workq_job *job);
/* Jobs queued or running, not yet handed to done. Loop thread. */
size_t workq_busy(const struct workq *q);
/* Calls done for every job finished so far (the ev_async callback does this too; tests and the
 * owner may call it directly). Returns how many were completed. Loop thread. */
size_t workq_drain(struct workq *q);
/* Stops: jobs not yet started are handed to done(job, 1), running jobs finish, workers run fini
 * and are joined, finished jobs get done(job, 0); then frees q and NULLs *qp. NULL is a no-op. */
void workq_free(struct workq **qp);

#endif
