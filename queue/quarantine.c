/* quarantine.c: the quarantine store (issue G), in the queue role. A quarantined message is an
 * ordinary spool message whose envelope carries the filter's verdict (`quarantine`); the spool
 * is the source of truth. This file keeps the index over those messages: an in-memory array
 * sorted by arrival (searched by quarantine_ctl.c) plus a qid hash, mirrored in a Berkeley DB
 * table (state_dir/queue-db, table "quarantine", key = qid) so that a restart need not re-read
 * every message's header section. At start the index is reconciled with what recovery found
 * (missing entries built from the spool, stale and damaged ones dropped). It also runs the
 * retention sweep (quarantine_retention, at start and every 10 minutes) and the release and
 * delete actions. Queue role, main thread, except the periodic Berkeley DB checkpoint, which
 * runs on a short-lived thread. Trusts the spool and the envelopes recovery accepted; index
 * values are decoded strictly (quarantine_rec.c) and rebuilt when they do not decode. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/rfc5322.h"
#include "common/role.h"
#include "config/config.h"
#include "lib/kvdb.h"
#include "lib/log.h"
#include "lib/sanitize.h"
#include "lib/str.h"
#include "lib/xalloc.h"
#include "queue/quarantine.h"
#include "queue/quarantine_learn.h"
#include "queue/queue_int.h"

#define QUAR_SWEEP_EVERY 600.0		/* seconds between retention sweeps */
#define QUAR_SWEEP_BATCH 2000		/* deletions per sweep pass; the rest follows in 1 s */
#define QUAR_HASH_SIZE 65536

struct qentry {
	struct quar_rec rec;
	int dead;		/* removed; freed at the next compaction */
	struct qentry *hnext;
};

static struct {
	struct mg_kvdb *kv;
	struct mg_kvdb_table *t;
	struct quar_rec **arr;	/* records of struct qentry, sorted by (arrival, qid); dead
				 * entries keep their keys until compaction */
	size_t n, cap, n_dead;
	struct qentry *hash[QUAR_HASH_SIZE];
	long long clock;	/* test_mode clock (quarantine clock), 0 = real time */
	ev_timer sweep_w;
	pthread_t ckpt;
	int ckpt_started;
	atomic_int ckpt_running;
} qs;

/* The entry of a record of qs.arr (its first member: C11 6.7.2.1p15). */
static struct qentry *
qe(struct quar_rec *r)
{
	return (struct qentry *)(void *)r;
}

static size_t
qhash(const char *qid)
{
	size_t h = 5381;

	for (; *qid; qid++)
		h = h * 33 + (unsigned char)*qid;
	return h % QUAR_HASH_SIZE;
}

static struct qentry *
entry_find(const char *qid)
{
	for (struct qentry *e = qs.hash[qhash(qid)]; e; e = e->hnext)
		if (strcmp(e->rec.qid, qid) == 0)
			return e;
	return NULL;
}

long long
quarantine_now(void)
{
	return qs.clock ? qs.clock : (long long)time(NULL);
}

void
quarantine_set_clock(long long t)
{
	qs.clock = t;
}

/* Frees dead entries and closes the gaps: one pass, run after bulk changes. */
static void
index_compact(void)
{
	size_t o = 0;

	if (qs.n_dead == 0)
		return;
	for (size_t i = 0; i < qs.n; i++) {
		if (qe(qs.arr[i])->dead) {
			quar_rec_clear(qs.arr[i]);
			xfree(qe(qs.arr[i]));
			continue;
		}
		qs.arr[o++] = qs.arr[i];
	}
	qs.n = o;
	qs.n_dead = 0;
}

struct quar_rec **
quarantine_records(size_t *n_r)
{
	index_compact();
	*n_r = qs.n;
	return qs.arr;
}

/* Inserts e at its place in the sorted array (new mail arrives last: usually an append). */
static void
index_insert(struct qentry *e)
{
	size_t lo = 0, hi = qs.n, h = qhash(e->rec.qid);

	if (qs.n_dead > qs.n / 8 + 64)
		index_compact();
	if (qs.n == qs.cap) {
		qs.cap = qs.cap ? qs.cap * 2 : 1024;
		qs.arr = xreallocarray(qs.arr, qs.cap, sizeof(*qs.arr));
	}
	if (qs.n > 0 && quar_rec_cmp(qs.arr[qs.n - 1], &e->rec) < 0) {
		lo = qs.n;
	} else {
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (quar_rec_cmp(qs.arr[mid], &e->rec) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		memmove(qs.arr + lo + 1, qs.arr + lo, (qs.n - lo) * sizeof(*qs.arr));
	}
	qs.arr[lo] = &e->rec;
	qs.n++;
	e->hnext = qs.hash[h];
	qs.hash[h] = e;
}

/* Takes e out of the hash and marks it dead (the array slot goes at the next compaction). */
static void
index_remove(struct qentry *e)
{
	for (struct qentry **pp = &qs.hash[qhash(e->rec.qid)]; *pp; pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	e->dead = 1;
	qs.n_dead++;
}

static void
db_put(const struct quar_rec *r)
{
	struct buf v;

	if (qs.t == NULL)
		return;
	buf_init(&v, QUAR_VALUE_MAX);
	if (quar_rec_encode(r, &v) < 0 || mg_kvdb_put(qs.t, r->qid, QUEUE_ID_LEN, v.data, v.len) < 0)
		log_err("%s: quarantine index entry not stored (kept in memory)", r->qid);
	buf_free(&v);
}

static void
db_del(const char *qid)
{
	if (qs.t != NULL && mg_kvdb_del(qs.t, qid, QUEUE_ID_LEN) < 0)
		log_err("%s: quarantine index entry not removed (dropped at the next start)", qid);
}

/* Builds the record of m from its envelope and the header section of its body file. */
static int
rec_build(struct qmsg *m, const struct envelope *env, struct quar_rec *r)
{
	struct buf hdr;
	const char *err;
	int fd, rc;

	buf_init(&hdr, RFC5322_HEADER_READ_MAX);
	if ((fd = queue_body_fd(m)) < 0 || rfc5322_read_header(fd, &hdr) < 0)
		log_warn("%s: quarantine: message header unreadable: %m; indexed without a Subject",
		    m->qid);
	if (fd >= 0)
		close(fd);
	rc = quar_rec_from(r, env, buf_slice(&hdr), &err);
	buf_free(&hdr);
	if (rc < 0)
		log_err("%s: quarantine: %s", m->qid, err);
	return rc;
}

void
quarantine_add(struct qmsg *m, const struct envelope *env)
{
	struct qentry *e = xcalloc(1, sizeof(*e));

	if (entry_find(m->qid) != NULL || rec_build(m, env, &e->rec) < 0) {
		xfree(e);
		return;
	}
	index_insert(e);
	db_put(&e->rec);
}

struct quar_rec *
quarantine_lookup(const char *qid)
{
	struct qentry *e = entry_find(qid);

	return e ? &e->rec : NULL;
}

void
quarantine_forget(struct qmsg *m)
{
	struct qentry *e = entry_find(m->qid);

	if (e == NULL)
		return;
	index_remove(e);
	db_del(m->qid);
}

/* ---- start: open the index and reconcile it with the spool ---- */

/* Sweep callback: keeps the entries of messages that are in the queue and quarantined. */
static int
keep_live(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	char qid[QUEUE_ID_LEN + 1];
	struct qmsg *m;

	(void)arg;
	(void)val;
	(void)vlen;
	if (klen != QUEUE_ID_LEN)
		return 0;
	memcpy(qid, key, klen);
	qid[klen] = '\0';
	m = queue_find(qid);
	return m != NULL && m->quarantined && !m->receiving && entry_find(qid) != NULL;
}

/* The index entry of a recovered quarantined message: from the database when it decodes and
 * matches the envelope's arrival, else rebuilt from the spool (and stored). */
static int
reconcile_one(struct qmsg *m, size_t *from_db, size_t *rebuilt)
{
	struct qentry *e = xcalloc(1, sizeof(*e));
	struct buf v;
	const char *err;
	int found = 0;

	buf_init(&v, QUAR_VALUE_MAX);
	if (qs.t != NULL && (found = mg_kvdb_get(qs.t, m->qid, QUEUE_ID_LEN, &v)) == 1 &&
	    quar_rec_decode(m->qid, buf_slice(&v), &e->rec, &err) == 0 &&
	    e->rec.arrival == m->arrival) {
		buf_free(&v);
		index_insert(e);
		(*from_db)++;
		return 0;
	}
	buf_free(&v);
	quar_rec_clear(&e->rec);
	if (found == 1)
		log_warn("%s: quarantine index entry damaged or stale; rebuilt from the spool", m->qid);
	{
		struct envelope env;

		envelope_init(&env);
		if (spool_read_env(q.spool, m->area, m->qid, &env, &err) < 0 ||
		    rec_build(m, &env, &e->rec) < 0) {
			log_err("%s: quarantined message not indexed: %s", m->qid, err);
			envelope_clear(&env);
			xfree(e);
			return -1;
		}
		envelope_clear(&env);
	}
	index_insert(e);
	db_put(&e->rec);
	(*rebuilt)++;
	return 0;
}

static void
reconcile(void)
{
	size_t from_db = 0, rebuilt = 0, removed = 0;
	int r = 0;

	for (size_t h = 0; h < q.hash_size; h++)
		for (struct qmsg *m = q.hash[h]; m; m = m->hnext)
			if (m->quarantined && !m->receiving) {
				(void)reconcile_one(m, &from_db, &rebuilt);
				role_setup_progress("quarantine index: %zu message(s)",
				    from_db + rebuilt);
			}
	/* one full walk (a fresh handle starts at the first key) drops stale entries */
	for (int rounds = 0; qs.t != NULL && rounds < 100000 && (r = mg_kvdb_sweep(qs.t, keep_live,
	    NULL, 5000, &removed)) == 0; rounds++)
		;
	if (r < 0)
		log_err("quarantine: stale index entries not removed (sweep failed)");
	log_info("quarantine: %zu message(s) indexed: %zu from the index, %zu rebuilt from the "
	    "spool, %zu stale index entr%s removed", qs.n, from_db, rebuilt, removed,
	    removed == 1 ? "y" : "ies");
}

/* ---- retention ---- */

static void *
ckpt_main(void *arg)
{
	const char *err;

	(void)arg;
	if (mg_kvdb_checkpoint(qs.kv, &err) < 0)
		log_err("quarantine: index checkpoint: %s", err);
	atomic_store(&qs.ckpt_running, 0);
	return NULL;
}

/* Checkpoints the index environment on a thread (blocking I/O stays off the loop). */
static void
ckpt_start(void)
{
	if (qs.kv == NULL || atomic_load(&qs.ckpt_running))
		return;
	if (qs.ckpt_started)
		pthread_join(qs.ckpt, NULL);
	atomic_store(&qs.ckpt_running, 1);
	if (pthread_create(&qs.ckpt, NULL, ckpt_main, NULL) != 0) {
		atomic_store(&qs.ckpt_running, 0);
		qs.ckpt_started = 0;
		log_err("quarantine: cannot start the checkpoint thread");
		return;
	}
	qs.ckpt_started = 1;
}

size_t
quarantine_sweep(void)
{
	long long now = quarantine_now(), keep = role.cfg->quarantine_retention;
	size_t done = 0;
	char when[32];

	index_compact();
	for (size_t i = 0; i < qs.n && done < QUAR_SWEEP_BATCH; i++) {
		struct quar_rec *r = qs.arr[i];
		struct qmsg *m;
		time_t tt;
		struct tm tm;

		if (now - r->arrival <= keep)
			break;	/* sorted by arrival: the rest is younger */
		if (qe(r)->dead)
			continue;
		tt = (time_t)r->arrival;
		gmtime_r(&tt, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		log_info("%s quarantine expired: arrival=%s age=%llds retention=%llds; deleted",
		    r->qid, when, now - r->arrival, keep);
		if ((m = queue_find(r->qid)) != NULL && m->quarantined)
			queue_forget(m);	/* removes the entry too */
		else
			quarantine_drop(r->qid);
		done++;
	}
	index_compact();
	return done;
}

static void
sweep_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	/* a full batch means more may be due: come back in a second */
	w->repeat = quarantine_sweep() >= QUAR_SWEEP_BATCH ? 1.0 : QUAR_SWEEP_EVERY;
	ev_timer_again(role.loop, w);
	ckpt_start();
}

void
quarantine_drop(const char *qid)
{
	struct qentry *e = entry_find(qid);

	if (e != NULL)
		index_remove(e);
	db_del(qid);
}

void
quarantine_init(void)
{
	char dir[4096];
	const char *err;

	if (str_fmt(dir, sizeof(dir), "%s/queue-db", role.cfg->state_dir) < 0)
		fatal("state_dir too long");
	if ((qs.kv = mg_kvdb_open(dir, &err)) != NULL &&
	    (qs.t = mg_kvdb_table(qs.kv, "quarantine", &err)) == NULL) {
		/* a damaged table file: set the environment aside (kept for a post-mortem, like
		 * mg_kvdb_open does) and start an empty one; reconcile() refills it */
		char aside[4200];

		mg_kvdb_close(&qs.kv);
		str_fmt(aside, sizeof(aside), "%s.broken.%lld", dir, (long long)time(NULL));
		if (rename(dir, aside) == 0)
			log_err("quarantine: index table unusable (%s); %s renamed to %s, rebuilding",
			    err, dir, aside);
		if ((qs.kv = mg_kvdb_open(dir, &err)) != NULL)
			qs.t = mg_kvdb_table(qs.kv, "quarantine", &err);
	}
	if (qs.kv == NULL || qs.t == NULL) {
		/* the index is a cache: run from memory, rebuilt from the spool at every start */
		log_err("quarantine: index %s unusable: %s: %m; kept in memory only", dir, err);
		mg_kvdb_close(&qs.kv);
		qs.t = NULL;
	}
	reconcile();
	ev_init(&qs.sweep_w, sweep_timer);
	qs.sweep_w.repeat = 0.001;	/* the first sweep right after start */
	ev_timer_again(role.loop, &qs.sweep_w);
}

void
quarantine_shutdown(void)
{
	const char *err;

	ev_timer_stop(role.loop, &qs.sweep_w);
	quarantine_learn_shutdown();
	if (qs.ckpt_started) {
		pthread_join(qs.ckpt, NULL);
		qs.ckpt_started = 0;
	}
	if (qs.kv != NULL && mg_kvdb_checkpoint(qs.kv, &err) < 0)
		log_err("quarantine: index checkpoint: %s", err);
	mg_kvdb_close(&qs.kv);
	qs.t = NULL;
}

/* ---- actions ---- */

int
quarantine_release(struct qmsg *m, const char *by, const char **error_r)
{
	struct envelope *env = m->env, loaded;
	long long released = (long long)time(NULL);
	char *verdict;
	char clean[SANITIZE_MAX + 4];

	if (!m->quarantined || m->receiving) {
		*error_r = "not in the quarantine";
		return -1;
	}
	if (!m->has_msg_file && queue_materialize(m) < 0) {
		*error_r = "the message has no spool files yet (spool full?)";
		return -1;
	}
	if (env == NULL) {
		envelope_init(&loaded);
		if (spool_read_env(q.spool, m->area, m->qid, &loaded, error_r) < 0)
			return -1;
		env = &loaded;
	}
	/* The one durable step: the envelope without its verdict replaces the old one (temp file,
	 * fsync, rename, directory fsync). A crash before the rename leaves it quarantined, after
	 * it released; recovery reads whichever envelope the rename left. */
	verdict = env->quarantine;
	env->quarantine = NULL;
	/* queue_lifetime counts from now for released mail, not from its arrival (issue G) */
	env->released = released;
	if (spool_write_env(q.spool, m->area, env, 1) < 0) {
		env->quarantine = verdict;
		env->released = 0;
		if (env == &loaded)
			envelope_clear(&loaded);
		*error_r = "cannot rewrite the envelope";
		log_err("%s: release from quarantine failed: cannot write the envelope: %m", m->qid);
		return -1;
	}
	log_info("%s released from quarantine released-by=%s verdict=\"%s\"", m->qid,
	    sanitize(clean, by, strlen(by)), verdict);
	xfree(verdict);
	if (env == &loaded)
		envelope_clear(&loaded);
	m->env_unsaved = 0;
	m->arrival = released;
	quarantine_forget(m);
	m->quarantined = 0;
	m->next_attempt = 0;
	(void)quarantine_learn(m, 0, by);	/* release = ham (logged either way) */
	sched_push(m);
	return 0;
}

void
quarantine_delete(struct qmsg *m, const char *by)
{
	char clean[SANITIZE_MAX + 4];

	log_info("%s deleted from quarantine deleted-by=%s", m->qid, sanitize(clean, by, strlen(by)));
	queue_forget(m);
}

/* ---- other queue-role state in the index's environment ---- */

struct mg_kvdb_table *
quarantine_db_table(const char *name)
{
	struct mg_kvdb_table *t;
	const char *err;

	if (qs.kv == NULL)
		return NULL;
	if ((t = mg_kvdb_table(qs.kv, name, &err)) == NULL)
		log_err("quarantine: table %s in the index environment: %s", name, err);
	return t;
}
