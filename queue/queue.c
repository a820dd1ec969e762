/* queue.c: the queue role: the only process that touches the spool. It hands smtpd a fresh
 * message file per transaction, commits messages in batches through the journal (one fdatasync
 * serves every commit that arrived in one loop iteration: group commit) and answers 250 only
 * after that sync; it recovers the spool at start (doc/queue-format.md has the crash argument),
 * keeps the index of queued messages and retires journal segments. Scheduling is in sched.c.
 * Trusts smtpd and delivery only after strict IPC decoding and envelope_parse. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common/ipc_msg.h"
#include "common/metrics.h"
#include "common/role.h"
#include "config/config.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"
#include "queue/digest.h"
#include "queue/dmarc_out.h"
#include "queue/queue_int.h"

#define SEGMENT_MAX_BYTES (64ULL * 1024 * 1024)
#define SEGMENT_MAX_AGE 60.0		/* seconds a segment stays current */
#define SEGMENT_RETIRE_AFTER 120.0	/* then its survivors are made durable individually */

struct queue_state q;

struct pending_commit {
	struct qmsg *m;
	char *envtext;
	struct envelope *env;	/* parsed */
	uint32_t req;		/* smtpd request id; 0 for local (bounce) commits */
};

static struct {
	struct pending_commit *items;
	size_t n, cap;
} batch;

static ev_prepare commit_w;
static ev_timer commit_timer_w;	/* commit_batch_usec > 0: the gathering window */
static ev_timer tick_w;

double
queue_now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
hash_qid(const char *qid)
{
	size_t h = 5381;

	for (; *qid; qid++)
		h = h * 33 + (unsigned char)*qid;
	return h % q.hash_size;
}

struct qmsg *
queue_find(const char *qid)
{
	for (struct qmsg *m = q.hash[hash_qid(qid)]; m; m = m->hnext)
		if (strcmp(m->qid, qid) == 0)
			return m;
	return NULL;
}

static struct qseg *
seg_find(uint64_t seq)
{
	for (size_t i = 0; i < q.n_segs; i++)
		if (q.segs[i].seq == seq)
			return &q.segs[i];
	return NULL;
}

static void
seg_push(uint64_t seq)
{
	if (q.n_segs == q.cap_segs) {
		q.cap_segs = q.cap_segs ? q.cap_segs * 2 : 8;
		q.segs = xreallocarray(q.segs, q.cap_segs, sizeof(*q.segs));
	}
	for (size_t i = 0; i < q.n_segs; i++)
		if (q.segs[i].rotated_at == 0)
			q.segs[i].rotated_at = queue_now_mono();
	q.segs[q.n_segs].seq = seq;
	q.segs[q.n_segs].live = 0;
	q.segs[q.n_segs].rotated_at = 0;
	q.n_segs++;
}

/* The journal starts a segment by itself after an abandoned one; keep the list in step so that
 * every record's segment is known (counted, retired in order). */
static void
seg_track_current(void)
{
	uint64_t cur = journal_current(q.journal);

	if (q.n_segs == 0 || q.segs[q.n_segs - 1].seq != cur)
		seg_push(cur);
}

struct qmsg *
queue_add(const char *qid, enum spool_area area, uint64_t seg)
{
	struct qmsg *m = xcalloc(1, sizeof(*m));
	size_t h;

	str_lcpy(m->qid, qid, sizeof(m->qid));
	m->area = area;
	m->seg = seg;
	m->heap_idx = SIZE_MAX;
	m->body_fd = -1;
	if (seg) {
		struct qseg *s = seg_find(seg);

		if (s)
			s->live++;
	}
	h = hash_qid(qid);
	m->hnext = q.hash[h];
	q.hash[h] = m;
	q.n_msgs++;
	return m;
}

void
queue_forget(struct qmsg *m)
{
	struct qmsg **pp;

	sched_remove(m);
	if (m->body_fd >= 0)
		close(m->body_fd);
	if (m->has_msg_file) {
		spool_unlink(q.spool, m->area, m->qid, "msg");
		spool_unlink(q.spool, m->area, m->qid, "env");
	}
	if (m->held)
		(void)spool_set_hold(q.spool, m->qid, 0);
	if (m->quarantined)
		quarantine_forget(m);	/* its index entry (issue G) */
	if (!m->receiving && m->area == SPOOL_INCOMING && m->seg) {
		struct qseg *s = seg_find(m->seg);

		journal_append_done(q.journal, m->qid);
		seg_track_current();
		if (s)
			s->live--;
	}
	for (pp = &q.hash[hash_qid(m->qid)]; *pp; pp = &(*pp)->hnext)
		if (*pp == m) {
			*pp = m->hnext;
			break;
		}
	q.n_msgs--;
	if (m->env) {
		envelope_clear(m->env);
		xfree(m->env);
	}
	xfree(m);
}

/* ---- smtpd requests ---- */

static void
reply_fail(uint16_t type, uint32_t id, int code, const char *enh, const char *text)
{
	struct ipc_out o;

	if (q.smtpd == NULL)
		return;	/* smtpd has left (shutdown): nobody to answer */
	ipc_out_init(&o);
	ipc_put_u32(&o, (uint32_t)code);
	ipc_put_str(&o, enh);
	ipc_put_str(&o, text);
	ipc_send(q.smtpd, type, id, -1, &o);
	ipc_out_free(&o);
}

/* New mail is refused while less than this is free: 5 % of the spool file system, between
 * 1 MiB and 64 MiB (statvfs is cheap; it is asked once per new message). */
static long long
space_reserve(void)
{
	static long long reserve;

	if (reserve == 0) {
		struct statvfs sv;
		long long total = 0;

		if (statvfs(role.cfg->spool_dir, &sv) == 0)
			total = (long long)sv.f_blocks * (long long)sv.f_frsize;
		reserve = total / 20;
		if (reserve < 1024 * 1024)
			reserve = 1024 * 1024;
		if (reserve > 64LL * 1024 * 1024)
			reserve = 64LL * 1024 * 1024;
	}
	return reserve;
}

struct qmsg *
queue_new_receiving(void)
{
	char qid[QUEUE_ID_LEN + 1];
	struct qmsg *m;
	int fd;

	do
		spool_new_qid(q.spool, qid);
	while (queue_find(qid) != NULL);
	if ((fd = spool_create_body(q.spool)) < 0)
		return NULL;
	m = queue_add(qid, SPOOL_INCOMING, 0);
	m->receiving = 1;
	m->body_fd = fd;
	return m;
}

struct qmsg *
queue_inject_begin(struct slice content)
{
	struct qmsg *m = queue_new_receiving();

	if (m == NULL)
		return NULL;
	if (pwrite(m->body_fd, content.p, content.len, 0) != (ssize_t)content.len) {
		int e = errno;

		queue_forget(m);
		errno = e != 0 ? e : ENOSPC;
		return NULL;
	}
	return m;
}

int
queue_body_fd(struct qmsg *m)
{
	if (m->body_fd >= 0)
		return fcntl(m->body_fd, F_DUPFD_CLOEXEC, 0);
	return spool_open_msg(q.spool, m->area, m->qid);
}

int
queue_materialize(struct qmsg *m)
{
	if (!m->has_msg_file) {
		if (spool_link_body(q.spool, m->area, m->qid, m->body_fd, m->area == SPOOL_QUEUE) < 0) {
			log_err("%s: cannot name the message file: %m; kept open", m->qid);
			return -1;
		}
		m->has_msg_file = 1;
	}
	if (m->env != NULL && queue_save_env(m) < 0)
		return -1;
	if (m->body_fd >= 0) {
		close(m->body_fd);
		m->body_fd = -1;
	}
	return 0;
}

static void
handle_create(struct ipc_msg *msg)
{
	struct ipc_out o;
	struct qmsg *m;
	long long free_b;
	int fd;

	ipc_msg_end(msg);
	if (q.shutting_down) {
		reply_fail(IPC_QUEUE_CREATE_FAIL, msg->id, 421, "4.3.2", "Service shutting down");
		return;
	}
	free_b = spool_free_bytes(q.spool);
	if (free_b >= 0 && free_b < space_reserve()) {
		log_warn("spool file system nearly full (%lld bytes free): refusing new mail", free_b);
		reply_fail(IPC_QUEUE_CREATE_FAIL, msg->id, 452, "4.3.1", "Insufficient system storage");
		return;
	}
	if ((m = queue_new_receiving()) == NULL ||
	    (fd = fcntl(m->body_fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		int e = errno;

		log_err("cannot create message file: %m");
		if (m)
			queue_forget(m);
		reply_fail(IPC_QUEUE_CREATE_FAIL, msg->id, 452, "4.3.1",
		    e == ENOSPC || e == EDQUOT ? "Insufficient system storage" :
		    "Temporary queue failure");
		return;
	}
	ipc_out_init(&o);
	ipc_put_str(&o, m->qid);
	ipc_send(q.smtpd, IPC_QUEUE_CREATE_OK, msg->id, fd, &o);
	ipc_out_free(&o);
}

static void
batch_add(struct qmsg *m, char *envtext, struct envelope *env, uint32_t req)
{
	if (batch.n == batch.cap) {
		batch.cap = batch.cap ? batch.cap * 2 : 64;
		batch.items = xreallocarray(batch.items, batch.cap, sizeof(*batch.items));
	}
	batch.items[batch.n].m = m;
	batch.items[batch.n].envtext = envtext;
	batch.items[batch.n].env = env;
	batch.items[batch.n].req = req;
	batch.n++;
	if (role.cfg->commit_batch_usec > 0) {
		/* gather what arrives within the window into the same sync */
		if (!ev_is_active(&commit_timer_w)) {
			ev_timer_set(&commit_timer_w, role.cfg->commit_batch_usec / 1e6, 0.0);
			ev_timer_start(role.loop, &commit_timer_w);
		}
		return;
	}
	ev_prepare_start(role.loop, &commit_w);
}

static void
handle_commit(struct ipc_msg *msg)
{
	char qid[QUEUE_ID_LEN + 1];
	char *text;
	struct envelope *env = xcalloc(1, sizeof(*env));
	struct qmsg *m;
	const char *err = "queue id mismatch";

	ipc_get_strbuf(msg, qid, sizeof(qid));
	text = ipc_get_str(msg);
	ipc_msg_end(msg);
	if (text == NULL)
		panic("queue: commit without envelope");
	if ((m = queue_find(qid)) == NULL || !m->receiving)
		panic("queue: commit for %s, which smtpd was never given", qid);
	envelope_init(env);
	if (envelope_parse(slice_from_str(text), env, &err) < 0 || strcmp(env->qid, qid) != 0) {
		log_err("%s envelope from smtpd rejected: %s", qid, err);
		xfree(text);
		envelope_clear(env);
		xfree(env);
		queue_forget(m);
		reply_fail(IPC_QUEUE_COMMIT_FAIL, msg->id, 451, "4.3.0", "Temporary queue failure");
		return;
	}
	batch_add(m, text, env, msg->id);
}

void
queue_commit_local(struct qmsg *m, struct envelope *env)
{
	struct buf b;

	buf_init(&b, ENVELOPE_FILE_MAX);
	if (envelope_write(env, &b) < 0) {
		log_err("%s: generated envelope too large; dropped", m->qid);
		buf_free(&b);
		queue_forget(m);
		envelope_clear(env);
		xfree(env);
		return;
	}
	batch_add(m, buf_steal(&b), env, 0);
	buf_free(&b);
}

int
queue_save_env(struct qmsg *m)
{
	if (spool_write_env(q.spool, m->area, m->env, m->area == SPOOL_QUEUE) < 0) {
		if (!m->env_unsaved)
			log_err("%s: cannot write the envelope file: %m; kept in memory%s", m->qid,
			    m->area == SPOOL_INCOMING ? " (and in the journal)" : "");
		m->env_unsaved = 1;
		return -1;
	}
	if (m->env_unsaved)
		log_info("%s: envelope file written", m->qid);
	m->env_unsaved = 0;
	return 0;
}

static void
handle_abort(struct ipc_msg *msg)
{
	char qid[QUEUE_ID_LEN + 1];
	struct qmsg *m;

	ipc_get_strbuf(msg, qid, sizeof(qid));
	ipc_msg_end(msg);
	if ((m = queue_find(qid)) != NULL && m->receiving)	/* never a committed message */
		queue_forget(m);
}

/* Group commit: runs once per loop iteration, after every readable message was handled. */
static void
commit_batch(struct ev_loop *loop, ev_prepare *w, int revents)
{
	size_t n = batch.n;
	uint64_t *segs = xcalloc(n ? n : 1, sizeof(*segs));
	int synced;

	(void)revents;
	(void)w;
	ev_prepare_stop(loop, &commit_w);
	ev_timer_stop(loop, &commit_timer_w);
	batch.n = 0;
	for (size_t i = 0; i < n; i++) {
		struct pending_commit *c = &batch.items[i];
		struct stat st;

		if (fstat(c->m->body_fd, &st) < 0) {
			log_err("%s: message file unreadable at commit: %m", c->m->qid);
		} else {
			c->env->size = st.st_size;
			segs[i] = journal_append_commit(q.journal, c->m->qid, c->envtext,
			    strlen(c->envtext), c->m->body_fd, (uint64_t)st.st_size);
		}
	}
	seg_track_current();
	synced = journal_sync(q.journal) == 0;
	if (!synced)
		log_err("journal sync failed: %m; %zu message(s) refused with 452", n);
	for (size_t i = 0; i < n; i++) {
		struct pending_commit *c = &batch.items[i];
		struct qmsg *m = c->m;

		if (!synced || segs[i] == 0) {
			if (c->req)
				reply_fail(IPC_QUEUE_COMMIT_FAIL, c->req, 452, "4.3.1",
				    "Insufficient system storage");
			else
				log_err("%s: generated message (bounce) lost before commit", m->qid);
			queue_forget(m);
			envelope_clear(c->env);
			xfree(c->env);
		} else {
			struct qseg *sg = seg_find(segs[i]);

			/* committed: the journal holds it; no file is named until it is deferred */
			m->receiving = 0;
			m->seg = segs[i];
			if (sg)
				sg->live++;
			m->arrival = c->env->arrival;
			m->env = c->env;	/* kept: it goes to delivery right away */
			if (m->env->quarantine != NULL) {
				/* The filter quarantined it: it gets its files now (it may stay for
				 * days) and is never scheduled (issue G releases it). */
				m->quarantined = 1;
				log_info("%s quarantined: %s", m->qid, m->env->quarantine);
				quarantine_add(m, m->env);
				if (queue_materialize(m) == 0) {
					envelope_clear(m->env);
					xfree(m->env);
					m->env = NULL;
				}
			}
			if (c->req && q.smtpd != NULL) {
				struct ipc_out o;

				ipc_out_init(&o);
				ipc_put_str(&o, m->qid);
				ipc_send(q.smtpd, IPC_QUEUE_COMMIT_OK, c->req, -1, &o);
				ipc_out_free(&o);
			}
			sched_push(m);
		}
		xfree(c->envtext);
	}
	xfree(segs);
	if (n > 1)
		log_debug("group commit: %zu message(s), one sync", n);
	sched_kick();
}

static void
commit_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	commit_batch(loop, &commit_w, revents);
}

static void
smtpd_msg(struct ipc_chan *chan, struct ipc_msg *msg, void *arg)
{
	(void)chan;
	(void)arg;
	switch (msg->type) {
	case IPC_QUEUE_CREATE: handle_create(msg); break;
	case IPC_QUEUE_COMMIT: handle_commit(msg); break;
	case IPC_QUEUE_ABORT: handle_abort(msg); break;
	default: panic("queue: unexpected message type %u from smtpd", msg->type);
	}
}

static void queue_shutdown(void);

/* smtpd is gone (orderly stop, or a crash; the supervisor then restarts it and sends
 * IPC_PEER_RESET, or stops us). Commits already received are made durable now, while no
 * channel is open, so no answer meant for the old process reaches a new one; files handed out
 * and never committed are dropped (their clients never got a 250). */
static void
smtpd_gone(void)
{
	size_t dropped = 0;

	ipc_chan_free(&q.smtpd);
	if (batch.n > 0)
		commit_batch(role.loop, &commit_w, 0);
	for (size_t h = 0; h < q.hash_size; h++)
		for (struct qmsg *m = q.hash[h], *next; m != NULL; m = next) {
			next = m->hnext;
			if (m->receiving) {
				queue_forget(m);
				dropped++;
			}
		}
	if (dropped > 0 && !q.shutting_down)
		log_info("queue: %zu uncommitted message file(s) of the old smtpd dropped", dropped);
}

static void
smtpd_closed(struct ipc_chan *chan, void *arg)
{
	(void)arg;
	(void)chan;
	if (!q.shutting_down)
		log_info("queue: smtpd channel closed; waiting for the supervisor");
	smtpd_gone();
}

/* What delivery may send us: one handler per message type. */
static const struct {
	uint16_t type;
	void (*handler)(struct ipc_msg *msg);
} delivery_table[] = {
	{ IPC_DELIVER_RESULT, sched_delivery_result },
	{ IPC_TLSRPT_RESULT, tlsrpt_handle_result },
	{ IPC_TLSRPT_POST_RESULT, tlsrpt_post_result },
};

static void
delivery_msg(struct ipc_chan *chan, struct ipc_msg *msg, void *arg)
{
	(void)chan;
	(void)arg;
	for (size_t i = 0; i < sizeof(delivery_table) / sizeof(delivery_table[0]); i++)
		if (delivery_table[i].type == msg->type) {
			delivery_table[i].handler(msg);
			return;
		}
	panic("queue: unexpected message type %u from delivery", msg->type);
}

/* delivery is gone: its jobs count as temporary failures (sched_delivery_lost) and are
 * retried; the supervisor restarts it (IPC_PEER_RESET) or stops us. */
static void
delivery_gone(void)
{
	ipc_chan_free(&q.delivery);
	sched_delivery_lost();
	tlsrpt_post_lost();
}

static void
delivery_closed(struct ipc_chan *chan, void *arg)
{
	(void)arg;
	(void)chan;
	if (!q.shutting_down)
		log_info("queue: delivery channel closed; waiting for the supervisor");
	delivery_gone();
}

/* The signer answers signing requests for the queue's own messages (queue/inject_sign.c). */
static void
signer_msg(struct ipc_chan *chan, struct ipc_msg *m, void *arg)
{
	(void)chan;
	(void)arg;
	if (m->type != IPC_SIGN_RESULT)
		panic("queue: unexpected message type %u from the signer", m->type);
	queue_sign_result(m);
}

static void
signer_closed(struct ipc_chan *chan, void *arg)
{
	(void)arg;
	ipc_chan_free(&chan);
	q.signer = NULL;
	queue_sign_lost();
}

/* IPC_PEER_RESET: the supervisor restarted smtpd, delivery or the signer; fd is the new
 * channel. */
static void
queue_peer_reset(const char *peer, int fd)
{
	if (strcmp(peer, "signer") == 0) {
		ipc_chan_free(&q.signer);
		queue_sign_lost();
		q.signer = ipc_chan_new(role.loop, fd, "signer", signer_msg, signer_closed, NULL);
		return;
	}
	if (strcmp(peer, "smtpd") == 0) {
		if (q.smtpd != NULL)
			smtpd_gone();
		q.smtpd = ipc_chan_new(role.loop, fd, "smtpd", smtpd_msg, smtpd_closed, NULL);
	} else if (strcmp(peer, "delivery") == 0) {
		if (q.delivery != NULL)
			delivery_gone();
		q.delivery = ipc_chan_new(role.loop, fd, "delivery", delivery_msg, delivery_closed,
		    NULL);
		sched_kick();
	} else {
		panic("queue: IPC_PEER_RESET for unknown peer %s", peer);
	}
}

static void
sup_msg(struct ipc_chan *chan, struct ipc_msg *msg, void *arg)
{
	(void)arg;
	if (msg->type != IPC_CTL_REQUEST)
		panic("queue: unexpected message type %u from supervisor", msg->type);
	ctl_request(chan, msg);
}

/* ---- recovery (doc/queue-format.md, "Recovery") ---- */

/* A set of queue ids (open addressing), for recovery's DONE and restored sets. */
struct qidset {
	char (*ids)[QUEUE_ID_LEN + 1];
	size_t cap, n;
};

static size_t
qidset_slot(const struct qidset *set, const char *qid)
{
	size_t h = 5381;

	for (const char *p = qid; *p; p++)
		h = h * 33 + (unsigned char)*p;
	for (h %= set->cap;; h = (h + 1) % set->cap)
		if (set->ids[h][0] == '\0' || strcmp(set->ids[h], qid) == 0)
			return h;
}

static int
qidset_has(const struct qidset *set, const char *qid)
{
	return set->cap > 0 && set->ids[qidset_slot(set, qid)][0] != '\0';
}

static void
qidset_add(struct qidset *set, const char *qid)
{
	if (2 * (set->n + 1) > set->cap) {
		struct qidset bigger = { NULL, set->cap ? set->cap * 2 : 1024, 0 };

		bigger.ids = xcalloc(bigger.cap, sizeof(*bigger.ids));
		for (size_t i = 0; i < set->cap; i++)
			if (set->ids[i][0] != '\0')
				qidset_add(&bigger, set->ids[i]);
		xfree(set->ids);
		*set = bigger;
	}
	{
		size_t i = qidset_slot(set, qid);

		if (set->ids[i][0] == '\0') {
			str_lcpy(set->ids[i], qid, sizeof(set->ids[i]));
			set->n++;
		}
	}
}

static struct {
	struct qidset done;		/* DONE records seen (pass 1) */
	struct qidset restored;		/* committed, not done, restored into incoming/ (pass 2) */
	int incomplete;			/* a message could not be restored: keep the old segments */
} rec;

static int
recovered_has(const char *qid)
{
	return qidset_has(&rec.restored, qid);
}

static void
recover_nothing(const struct journal_rec *r, void *arg)
{
	(void)r;
	(void)arg;
}

static void
recover_note_done(uint64_t seq, const char *qid, void *arg)
{
	(void)seq;
	(void)arg;
	qidset_add(&rec.done, qid);
}

static void
recover_ignore_done(uint64_t seq, const char *qid, void *arg)
{
	(void)seq;
	(void)qid;
	(void)arg;
}

/* Pass 2: restores a committed message that no DONE record finished. A restore that fails
 * (e.g. the spool is full) is not fatal: the message stays in its journal segment, which is
 * then kept, and the next start tries again. */
static void
recover_commit(const struct journal_rec *r, void *arg)
{
	struct envelope env;
	const char *err;

	(void)arg;
	if (qidset_has(&rec.done, r->qid) || qidset_has(&rec.restored, r->qid))
		return;
	role_setup_progress("recovery: restoring from the journal");
	if (spool_exists(q.spool, SPOOL_QUEUE, r->qid, "env")) {
		/* Moved to queue/ by a segment retirement whose spool sync may not have completed
		 * (the segment is still here): the record is the truth for the body; the envelope
		 * file is kept when it parses (it has the delivery progress). Both go back to
		 * incoming/ and are moved and synced again with the other survivors. */
		envelope_init(&env);
		if (spool_read_env(q.spool, SPOOL_QUEUE, r->qid, &env, &err) == 0 &&
		    spool_write_env(q.spool, SPOOL_INCOMING, &env, 0) < 0) {
			log_crit("recovery: cannot write the envelope of %s: %m; it stays in the "
			    "journal, which is kept", r->qid);
			envelope_clear(&env);
			rec.incomplete = 1;
			return;
		}
		envelope_clear(&env);
		spool_unlink(q.spool, SPOOL_QUEUE, r->qid, "env");
		spool_unlink(q.spool, SPOOL_QUEUE, r->qid, "msg");
	}
	if (spool_restore_msg(q.spool, r->qid, r->seg_fd, r->body_off, r->body_len) < 0) {
		log_crit("recovery: cannot restore %s: %m; it stays in journal segment %016llx, "
		    "which is kept: free space on the spool and restart", r->qid,
		    (unsigned long long)r->seq);
		spool_unlink(q.spool, SPOOL_INCOMING, r->qid, "msg");
		rec.incomplete = 1;
		return;
	}
	envelope_init(&env);
	if (spool_read_env(q.spool, SPOOL_INCOMING, r->qid, &env, &err) < 0) {
		/* the envelope file was lost or torn: the journal's copy is the truth */
		envelope_init(&env);
		if (envelope_parse((struct slice){ r->env, r->env_len }, &env, &err) < 0)
			fatal("recovery: journal envelope of %s invalid: %s", r->qid, err);
		if (spool_write_env(q.spool, SPOOL_INCOMING, &env, 0) < 0) {
			log_crit("recovery: cannot write the envelope of %s: %m; it stays in the "
			    "journal, which is kept", r->qid);
			envelope_clear(&env);
			spool_remove(q.spool, SPOOL_INCOMING, r->qid);
			rec.incomplete = 1;
			return;
		}
	}
	envelope_clear(&env);
	qidset_add(&rec.restored, r->qid);
}

static void
recover_incoming_file(const char *qid, const char *suffix, void *arg)
{
	(void)suffix;
	(*(size_t *)arg)++;
	if (!recovered_has(qid))
		spool_remove(q.spool, SPOOL_INCOMING, qid);	/* never acknowledged */
}

static void
recover_queue_file(const char *qid, const char *suffix, void *arg)
{
	struct envelope env;
	const char *err;
	struct qmsg *m;
	char name[QUEUE_ID_LEN + 16];

	(void)arg;
	if (strcmp(suffix, "env") != 0) {
		if (strcmp(suffix, "msg") == 0 && !spool_exists(q.spool, SPOOL_QUEUE, qid, "env")) {
			if (recovered_has(qid)) {
				snprintf(name, sizeof(name), "%s.msg", qid);
				spool_remove(q.spool, SPOOL_QUEUE, qid);
			} else {
				snprintf(name, sizeof(name), "%s.msg", qid);
				spool_quarantine_file(q.spool, SPOOL_QUEUE, name);
			}
		} else if (strcmp(suffix, "env.tmp") == 0) {
			snprintf(name, sizeof(name), "%s.env.tmp", qid);
			char p[4096];
			spool_path(q.spool, SPOOL_QUEUE, name, p, sizeof(p));
			unlink(p);
		}
		return;
	}
	if (queue_find(qid))
		return;
	role_setup_progress("recovery: %zu message(s) queued so far", q.n_msgs);
	envelope_init(&env);
	if (spool_read_env(q.spool, SPOOL_QUEUE, qid, &env, &err) < 0 ||
	    !spool_exists(q.spool, SPOOL_QUEUE, qid, "msg")) {
		log_err("recovery: queue/%s.env: %s; moved to corrupt/", qid, err ? err : "no body");
		snprintf(name, sizeof(name), "%s.env", qid);
		spool_quarantine_file(q.spool, SPOOL_QUEUE, name);
		snprintf(name, sizeof(name), "%s.msg", qid);
		if (spool_exists(q.spool, SPOOL_QUEUE, qid, "msg"))
			spool_quarantine_file(q.spool, SPOOL_QUEUE, name);
		return;
	}
	m = queue_add(qid, SPOOL_QUEUE, 0);
	m->has_msg_file = 1;
	m->arrival = envelope_lifetime_start(&env);	/* the release time of released mail */
	m->next_attempt = env.next_attempt;
	m->held = spool_is_held(q.spool, qid);
	m->quarantined = env.quarantine != NULL;
	envelope_clear(&env);
	sched_push(m);
}

static void
queue_recover(void)
{
	char jdir[4096];
	uint64_t *segs = NULL;
	size_t n_segs = 0, n_incoming = 0, n_restored = 0;
	const char *err;

	str_fmt(jdir, sizeof(jdir), "%s/journal", role.cfg->spool_dir);
	/* Pass 1 learns which messages are finished, so pass 2 restores only what is still owed
	 * (restoring first and removing at the DONE record would need room for all of them). */
	if (journal_recover(jdir, recover_nothing, recover_note_done, NULL, &segs, &n_segs) < 0)
		fatal("recovery: cannot read the journal in %s", jdir);
	xfree(segs);
	segs = NULL;
	if (journal_recover(jdir, recover_commit, recover_ignore_done, NULL, &segs, &n_segs) < 0)
		fatal("recovery: cannot read the journal in %s", jdir);
	spool_scan(q.spool, SPOOL_INCOMING, recover_incoming_file, &n_incoming);
	/* Survivors from old segments move to queue/ and become durable together (one syncfs),
	 * then the segments go; a crash before the sync replays the same segments again. */
	for (size_t i = 0; i < rec.restored.cap; i++) {
		const char *qid = rec.restored.ids[i];

		if (qid[0] == '\0')
			continue;
		if (spool_move_to_queue(q.spool, qid) < 0) {
			log_crit("recovery: cannot move %s to queue/: %m; its journal segment is kept", qid);
			rec.incomplete = 1;
			continue;
		}
		n_restored++;
	}
	if (n_restored > 0 && spool_sync_all(q.spool) < 0) {
		log_crit("recovery: cannot sync the spool: %m; the journal segments are kept");
		rec.incomplete = 1;
	}
	spool_scan(q.spool, SPOOL_QUEUE, recover_queue_file, NULL);
	if ((q.journal = journal_open(jdir, &err)) == NULL)
		fatal("journal: %s: %m", err);
	if (!rec.incomplete) {
		for (size_t i = 0; i < n_segs; i++)
			if (journal_remove_segment(q.journal, segs[i]) < 0)
				log_err("cannot remove old journal segment: %m");
	}
	xfree(segs);
	xfree(rec.done.ids);
	xfree(rec.restored.ids);
	memset(&rec, 0, sizeof(rec));
	seg_push(journal_current(q.journal));
	log_info("recovery: %zu journal segment(s), %zu message(s) restored from the journal, "
	    "%zu message(s) queued", n_segs, n_restored, q.n_msgs);
}

/* ---- segment retirement ---- */

/* Moves a journal-backed message to queue/ so its segment can go, without fsync: the caller
 * syncs the whole spool once (spool_sync_all) before it drops the segment. A fast-path message
 * (unnamed body, envelope in memory) gets its body linked and its envelope written there; a
 * deferred or quarantined one is renamed from incoming/. */
static int
make_durable(struct qmsg *m)
{
	if (!m->has_msg_file) {
		if (m->env == NULL)
			panic("%s: unnamed body without an envelope in memory", m->qid);
		if (spool_link_body(q.spool, SPOOL_QUEUE, m->qid, m->body_fd, 0) < 0)
			return -1;
		if (spool_write_env(q.spool, SPOOL_QUEUE, m->env, 0) < 0) {
			spool_unlink(q.spool, SPOOL_QUEUE, m->qid, "msg");
			return -1;
		}
		m->area = SPOOL_QUEUE;
		m->has_msg_file = 1;
		m->env_unsaved = 0;
		return 0;
	}
	if (spool_move_to_queue(q.spool, m->qid) < 0)
		return -1;
	m->area = SPOOL_QUEUE;
	return 0;
}

/* Survivors moved per tick: the loop keeps answering commits while a segment of tens of
 * thousands of quarantined or deferred messages is retired (a whole segment in one go once
 * held the loop long enough for clients to time out at 100,000 quarantined messages). */
#define RETIRE_BATCH 2000

/* Moves up to RETIRE_BATCH survivors of segment s to queue/. Returns 0, -1 on error. */
static int
retire_some(struct qseg *s)
{
	size_t moved = 0;

	for (size_t h = 0; h < q.hash_size && moved < RETIRE_BATCH && s->live > 0; h++)
		for (struct qmsg *m = q.hash[h]; m && moved < RETIRE_BATCH; m = m->hnext)
			if (m->area == SPOOL_INCOMING && m->seg == s->seq && !m->receiving) {
				if (make_durable(m) < 0) {
					log_err("%s: cannot make durable: %m; segment kept", m->qid);
					return -1;
				}
				q.sync_owed = 1;
				m->seg = 0;
				s->live--;
				moved++;
			}
	return 0;
}

static void
retire_segments(void)
{
	double now = queue_now_mono(), t0 = now;
	uint64_t nseg = journal_maybe_rotate(q.journal, SEGMENT_MAX_BYTES, SEGMENT_MAX_AGE);

	if (nseg)
		seg_push(nseg);
	while (q.n_segs > 1 && q.segs[0].rotated_at > 0) {
		struct qseg *s = &q.segs[0];
		long live0 = s->live;

		if (s->live > 0) {
			if (now - s->rotated_at < SEGMENT_RETIRE_AFTER && !q.compacting)
				break;
			if (retire_some(s) < 0)
				return;
			if (s->live > 0) {
				log_debug("journal segment %016llx: %ld survivor(s) moved, %ld to go",
				    (unsigned long long)s->seq, live0 - s->live, s->live);
				break;	/* the rest on the next ticks */
			}
		}
		if (q.sync_owed) {
			double ts = queue_now_mono();

			if (spool_sync_all(q.spool) < 0) {
				log_err("cannot sync the spool: %m; journal segment kept");
				return;
			}
			q.sync_owed = 0;
			if (queue_now_mono() - ts > 1.0)
				log_warn("journal segment %016llx: syncing the spool took %.1fs",
				    (unsigned long long)s->seq, queue_now_mono() - ts);
		}
		if (journal_remove_segment(q.journal, s->seq) < 0) {
			log_err("cannot remove journal segment: %m");
			return;
		}
		memmove(q.segs, q.segs + 1, (q.n_segs - 1) * sizeof(*q.segs));
		q.n_segs--;
	}
	if (q.compacting && q.n_segs == 1) {
		q.compacting = 0;
		log_info("journal: compaction done");
	}
	if (queue_now_mono() - t0 > 1.0)
		log_warn("retiring journal segments held the queue for %.1fs",
		    queue_now_mono() - t0);
}

void
queue_compact(struct buf *out)
{
	uint64_t nseg = journal_maybe_rotate(q.journal, 0, 0);

	if (nseg)
		seg_push(nseg);
	q.compacting = q.n_segs > 1;
	buf_printf(out, "%zu journal segment(s) to retire\n", q.n_segs - 1);
	log_info("journal: compaction of %zu segment(s) requested by the operator", q.n_segs - 1);
}

/* Queue gauges for /metrics (common/metrics.h): one pass over the index, once a second. */
static void
metrics_gauges(void)
{
	int64_t deferred = 0, held = 0, quarantined = 0;

	for (size_t i = 0; i < q.hash_size; i++)
		for (const struct qmsg *m = q.hash[i]; m != NULL; m = m->hnext) {
			if (m->receiving || m->jobs > 0)
				continue;
			if (m->quarantined)
				quarantined++;
			else if (m->held)
				held++;
			else
				deferred++;
		}
	metrics_set(M_QUEUE_ACTIVE, (int64_t)q.active);
	metrics_set(M_QUEUE_DEFERRED, deferred);
	metrics_set(M_QUEUE_HELD, held);
	metrics_set(M_QUEUE_QUARANTINED, quarantined);
}

static void
tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	/* DONE records ride the next commit's sync; sync them here when traffic stops */
	if (journal_unsynced(q.journal) > 0 && batch.n == 0)
		(void)journal_sync(q.journal);
	retire_segments();
	sched_kick();
	metrics_gauges();
	if (q.shutting_down && q.active == 0)
		role_exit(0);
}

static void
queue_reload(struct mg_config *old)
{
	rate_sched_reload(old);
	tlsrpt_reload();
	digest_reload();
	dmarc_out_reload();
	sched_kick();
}

static void
queue_shutdown(void)
{
	q.shutting_down = 1;
	rate_sched_shutdown();
	tlsrpt_shutdown();
	dmarc_out_shutdown();
	digest_shutdown();	/* before the database it uses closes */
	quarantine_shutdown();
	queue_sign_lost();	/* commit what waits for a signature, unsigned */
	if (batch.n > 0)
		commit_batch(role.loop, &commit_w, 0);
	(void)journal_sync(q.journal);
	if (q.active == 0)
		role_exit(0);
	/* wait for delivery to report (tick checks), bounded by the supervisor's timeout */
}

int
queue_main(void)
{
	const char *err;

	role.on_shutdown = queue_shutdown;
	role.on_reload = queue_reload;
	role.on_sup_msg = sup_msg;
	role.on_peer_reset = queue_peer_reset;
	q.hash_size = 65536;
	q.hash = xcalloc(q.hash_size, sizeof(*q.hash));
	/* the spool belongs to the unprivileged user: drop before creating anything in it */
	role_drop_privileges();
	metrics_open(role.cfg->state_dir, "queue");
	if ((q.spool = spool_open(role.cfg->spool_dir, &err)) == NULL)
		fatal("spool %s: %s: %m", role.cfg->spool_dir, err);
	sched_init();
	rate_sched_init();
	queue_recover();
	quarantine_init();	/* reconciles its index with what recovery found */
	ev_prepare_init(&commit_w, commit_batch);
	ev_timer_init(&commit_timer_w, commit_timer, 0.0, 0.0);
	q.signer = ipc_chan_new(role.loop, ROLE_FD_PEER3, "signer", signer_msg, signer_closed, NULL);
	tlsrpt_init();	/* may queue the reports of a period that ended while we were down */
	digest_init();	/* quarantine digests (issue G): keys, schedule */
	dmarc_out_init();	/* DMARC aggregate reports the filter wrote (issue I) */
	ev_timer_init(&tick_w, tick, 1.0, 1.0);
	ev_timer_start(role.loop, &tick_w);
	q.smtpd = ipc_chan_new(role.loop, ROLE_FD_PEER1, "smtpd", smtpd_msg, smtpd_closed, NULL);
	q.delivery = ipc_chan_new(role.loop, ROLE_FD_PEER2, "delivery", delivery_msg, delivery_closed, NULL);
	role_ready();
	sched_kick();
	role_run();
	return 0;
}
