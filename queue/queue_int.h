#ifndef QUEUE_QUEUE_INT_H
#define QUEUE_QUEUE_INT_H
/* Internal to queue/: the in-memory index of queued messages, journal segment bookkeeping,
 * the delivery scheduler and the control commands. Queue role, main thread only. */
#include <stddef.h>
#include <stdint.h>

#include "common/envelope.h"
#include "config/config.h"
#include "lib/buf.h"
#include "lib/ipc.h"
#include "queue/journal.h"
#include "queue/spool.h"

struct qmsg {
	char qid[QUEUE_ID_LEN + 1];
	enum spool_area area;
	uint64_t seg;		/* journal segment backing it (area incoming), 0 when durable */
	int held;
	int quarantined;	/* the filter's verdict: kept, not delivered (issue C; release: G) */
	int jobs;		/* delivery jobs outstanding */
	int deleted;		/* operator delete while jobs were out */
	long long next_attempt;
	long long arrival;	/* envelope_lifetime_start(): arrival, or the release from
				 * quarantine (queue_lifetime counts from it) */
	size_t heap_idx;	/* SIZE_MAX when not scheduled */
	struct envelope *env;	/* loaded while jobs are out, and while env_unsaved */
	int env_unsaved;	/* the envelope file could not be written: env is the only copy */
	int receiving;		/* created for smtpd (or a bounce), not committed yet */
	int body_fd;		/* unnamed body file (fast path), or -1 once it has a name */
	int has_msg_file;	/* <area>/<qid>.msg exists (deferred or recovered messages) */
	struct qmsg *hnext;
	/* outbound_rate (sched_rate.c): */
	size_t rate_bucket;	/* 1 + bucket index while held in its FIFO, else 0 */
	struct qmsg *rprev, *rnext;
	int rate_passed;	/* took a token leaving the FIFO: the next dispatch goes ahead */
};

struct qseg {
	uint64_t seq;
	long live;
	double rotated_at;	/* 0 while current */
};

struct queue_state {
	struct spool *spool;
	struct journal *journal;
	struct ipc_chan *smtpd, *delivery, *signer;
	struct qmsg **hash;
	size_t hash_size, n_msgs;
	struct qmsg **heap;
	size_t heap_len, heap_cap;
	struct qseg *segs;
	size_t n_segs, cap_segs;
	size_t active;		/* messages with jobs out */
	int shutting_down;
	int compacting;		/* queue compact: retire every old segment now, whatever its age */
	int sync_owed;		/* messages moved to queue/ await spool_sync_all (retire_segments) */
};

extern struct queue_state q;

/* inject_sign.c: DKIM signing of queue-made messages (TLS reports, digests) */
void queue_commit_signed(struct qmsg *m, struct envelope *env);	/* or unsigned, see there */
/* The same, signing for sign_as's domain (null-sender messages: digests sign as their From). */
void queue_commit_signed_as(struct qmsg *m, struct envelope *env, const char *sign_as);
void queue_sign_result(struct ipc_msg *msg);
void queue_sign_lost(void);

/* queue.c */
struct qmsg *queue_find(const char *qid);
struct qmsg *queue_add(const char *qid, enum spool_area area, uint64_t seg);
/* Forgets a message: removes its files, writes a DONE record when journal-backed. */
void queue_forget(struct qmsg *m);
/* Commits a message generated here (a bounce): body already in incoming/<qid>.msg. */
void queue_commit_local(struct qmsg *m, struct envelope *env);
/* Creates an uncommitted message with a fresh queue id and an unnamed body file; NULL on error. */
struct qmsg *queue_new_receiving(void);
/* Starts a message generated here (DSN, TLS report): a fresh uncommitted message whose body is
 * content. The caller fills an envelope with m->qid and hands both to queue_commit_local().
 * NULL with errno set on error (nothing left behind). */
struct qmsg *queue_inject_begin(struct slice content);
/* A new read-only-use descriptor for m's body (caller closes); -1 on error. */
int queue_body_fd(struct qmsg *m);
/* Gives a fast-path message its files (deferred: it may stay a while); 0 or -1. */
int queue_materialize(struct qmsg *m);
/* mailguardctl queue compact: starts a new journal segment and retires every older one on the
 * next ticks without waiting for SEGMENT_RETIRE_AFTER (survivors moved to queue/ in batches,
 * one spool sync per segment). Writes one line to out. */
void queue_compact(struct buf *out);
/* Writes m->env to its envelope file; on failure keeps it loaded (env_unsaved) so that the
 * message is not lost while the file system is full. 0 or -1. */
int queue_save_env(struct qmsg *m);
double queue_now_mono(void);

/* sched.c */
void sched_init(void);
void sched_push(struct qmsg *m);
void sched_remove(struct qmsg *m);
void sched_kick(void);
void sched_delivery_result(struct ipc_msg *msg);
void sched_delivery_lost(void);
long long sched_backoff(int attempts);

/* Messages with delivery jobs out at once. */
#define SCHED_ACTIVE_MAX 2000
/* Dispatches m now (it is not in the heap): one job per destination. */
void sched_dispatch(struct qmsg *m);
/* Expires m (not in the heap, past queue_lifetime) without an attempt: its pending recipients
 * fail with 4.4.7 (why is the last error of those that had none) and the sender gets a DSN. */
void sched_expire_held(struct qmsg *m, const char *why);

/* sched_rate.c (outbound_rate) */
void rate_sched_init(void);
/* 1: m may be dispatched now (no limit, or a token taken); 0: m was put in its sender domain's
 * FIFO (rate-limited) and must not be dispatched. Needs m->env. */
int rate_sched_admit(struct qmsg *m);
/* Takes m out of its FIFO (no-op when not held). */
void rate_sched_unlink(struct qmsg *m);
/* Dispatches held messages that have tokens now, in order; re-arms the refill timer. */
void rate_sched_drain(void);
size_t rate_sched_held(void);
void rate_sched_reload(const struct mg_config *old);
/* Saves the buckets if they changed. */
void rate_sched_shutdown(void);
/* `mailguardctl queue rates`: one line per rate-limited domain. */
void rate_sched_describe(struct buf *out);

/* tlsrpt_send.c (RFC 8460 reports); tlsrpt_init needs the journal (after recovery). */
void tlsrpt_init(void);
void tlsrpt_handle_result(struct ipc_msg *msg);
void tlsrpt_reload(void);
void tlsrpt_shutdown(void);
/* tlsrpt_post.c: https: submission of reports through delivery (RFC 8460 §5.4). */
void tlsrpt_post_init(void);
void tlsrpt_post_enqueue(const char *url, const struct buf *gz, const char *domain);
void tlsrpt_post_result(struct ipc_msg *msg);
/* The delivery channel closed: posts in flight count as temporary failures. */
void tlsrpt_post_lost(void);
void tlsrpt_post_shutdown(void);
/* `mailguardctl queue tlsrpt`: the current period's counts per policy domain. */
void tlsrpt_describe(struct buf *out);

/* ctl.c */
void ctl_request(struct ipc_chan *sup, struct ipc_msg *msg);

/* quarantine.c (issue G): the index over quarantined messages (queue/quarantine.h), retention
 * and the release/delete actions. Main thread. */
struct quar_rec;
/* After recovery: opens state_dir/queue-db, reconciles the index with the quarantined messages
 * recovery found, sweeps expired ones now and every 10 minutes. */
void quarantine_init(void);
/* m was just committed with a verdict (m->quarantined set): indexes it (env: its envelope). */
void quarantine_add(struct qmsg *m, const struct envelope *env);
/* m leaves the queue (queue_forget): its index entry goes. */
void quarantine_forget(struct qmsg *m);
/* Removes the index entry of qid (no message). */
void quarantine_drop(const char *qid);
void quarantine_shutdown(void);
/* The index, oldest first (borrowed, valid until the next change). */
struct quar_rec **quarantine_records(size_t *n_r);
/* The index record of qid, NULL if none (borrowed). */
struct quar_rec *quarantine_lookup(const char *qid);
/* Deletes expired messages (at most a batch); returns how many. */
size_t quarantine_sweep(void);
/* Release: the envelope is rewritten durably without the verdict, then m is scheduled; the
 * log names who (by). 0, or -1 with *error_r (m unchanged, still quarantined). */
int quarantine_release(struct qmsg *m, const char *by, const char **error_r);
/* Delete: files, journal DONE record and index entry (queue_forget); logged with by. */
void quarantine_delete(struct qmsg *m, const char *by);
/* "now" of the retention sweep: the test_mode clock when set (t > 0), else time(). */
long long quarantine_now(void);
void quarantine_set_clock(long long t);
/* quarantine_ctl.c: `mailguardctl queue quarantine ...`; argv[0] is the verb. Returns the
 * command's exit status (0 ok, 1 failed, 2 usage). */
int quarantine_ctl(int argc, char **argv, struct buf *out);

#endif
