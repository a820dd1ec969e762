/* kvdb.c: the Berkeley DB 5.3 wrapper (mg_kvdb_*): one transactional environment per directory,
 * named B-tree tables, get/put/del, atomic read-modify-write, bounded incremental sweeps, and
 * checkpoints that keep the log bounded. Library code; used by the filter role's pool threads
 * (any thread after open, DB_THREAD handles) and by tools. Trusts its caller's directory and keys;
 * enforces key, value and table-name limits (kvdb.h) and retries deadlocked transactions a bounded
 * number of times. Survives kill -9 (recovery at open) and, if recovery fails, moves the
 * environment aside and starts empty; the reasons for this design are below the includes. */
#include "lib/kvdb.h"

#include <db.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

/* Why the transactional data store (TDS) with DB_TXN_WRITE_NOSYNC rather than CDS: the data are
 * caches and counters, so losing the last second of updates on power loss is acceptable, but
 * corruption or a failing open is not. CDS has no log, so a kill -9 in the middle of a B-tree
 * split leaves a damaged file; TDS write-ahead logging plus DB_RECOVER at open always returns to a
 * consistent state. WRITE_NOSYNC hands each commit's log records to the kernel (a write(), no
 * fsync), so a committed update survives kill -9 of the process and costs no disk flush; an OS
 * crash may undo the last commits but recovery still yields a consistent database (a page never
 * reaches disk before the log records describing it are flushed). Checkpoints flush pages, then
 * log files older than the checkpoint are removed (DB_LOG_AUTO_REMOVE plus an explicit archive),
 * so the log holds roughly what was written since the last checkpoint (catastrophic recovery
 * from old logs is given up: these are caches). DB_REGISTER makes recovery run only when a
 * process that had the environment open died, so a tool may share the environment with the
 * filter role. If recovery fails anyway (a damaged disk, a foreign file), the directory is moved
 * aside, logged, and a fresh one is used; a table file that is unreadable at open likewise. */

/* Attempts at a transaction that keeps losing deadlock resolution before giving up. */
#define KVDB_RETRIES 100
/* Records visited per sweep transaction: bounds the locks one sweep holds at a time. */
#define KVDB_SWEEP_CHUNK 64
/* Environment sizing: 8 MiB of page cache, 4 MiB log files, a 256 KiB in-memory log buffer. */
#define KVDB_CACHE_BYTES (8u * 1024 * 1024)
#define KVDB_LOG_FILE_BYTES (4u * 1024 * 1024)
#define KVDB_LOG_BUF_BYTES (256u * 1024)
/* Lock table: page-level B-tree locks, a few per transaction; generous for tens of threads. */
#define KVDB_MAX_LOCKERS 4000
#define KVDB_MAX_LOCKS 40000
#define KVDB_MAX_TXNS 400
/* First guess for a value's size; a larger value costs one more read. */
#define KVDB_GET_GUESS 256

struct mg_kvdb_table {
	struct mg_kvdb *kv; /* borrowed: the environment that owns this table */
	DB *db;
	char *name;
	pthread_mutex_t sweep_lock; /* serialises sweeps and guards sweep_pos */
	struct buf sweep_pos;	    /* last key visited by the previous sweep */
	int sweep_started;	    /* 0: the next sweep starts at the first key */
	struct mg_kvdb_table *next;
};

struct mg_kvdb {
	DB_ENV *env;
	char *dir;
	pthread_mutex_t lock; /* guards tables */
	struct mg_kvdb_table *tables;
};

static void
kvdb_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	log_err("kvdb: %s", msg);
}

/* Informational messages: with DB_VERB_RECOVERY, the lines of a recovery after a crash. */
static void
kvdb_msgcall(const DB_ENV *env, const char *msg)
{
	(void)env;
	/* BDB2525 "No log files found": every first open of a fresh directory. */
	if (strncmp(msg, "BDB2525", 7) == 0)
		log_debug("kvdb: %s", msg);
	else
		log_info("kvdb: %s", msg);
}

static void
kvdb_event(DB_ENV *env, u_int32_t event, void *info)
{
	const char *home = NULL;

	(void)info;
	if (event != DB_EVENT_PANIC)
		return;
	if (env->get_home(env, &home) != 0 || home == NULL)
		home = "?";
	log_crit("kvdb: %s: Berkeley DB panic: every operation fails until the environment is "
		 "reopened (recovery)",
	    home);
}

static int
kvdb_is_retryable(int r)
{
	return r == DB_LOCK_DEADLOCK || r == DB_LOCK_NOTGRANTED;
}

/* Errors a fresh directory would not cure: the environment itself is at fault, not its data. */
static int
kvdb_is_env_error(int r)
{
	switch (r) {
	case EACCES:
	case EPERM:
	case EROFS:
	case ENOSPC:
	case EDQUOT:
	case ENOMEM:
	case EMFILE:
	case ENFILE:
	case ENOTDIR:
		return 1;
	default:
		return 0;
	}
}

static void
kvdb_dbt_in(DBT *d, const void *p, size_t n)
{
	memset(d, 0, sizeof(*d));
	d->data = (void *)(uintptr_t)p;
	d->size = (u_int32_t)n;
}

/* Points d at b's free space so a read lands directly in the buffer. */
static void
kvdb_dbt_out(DBT *d, struct buf *b)
{
	memset(d, 0, sizeof(*d));
	d->flags = DB_DBT_USERMEM;
	d->data = b->data;
	d->ulen = b->cap > 0 ? (u_int32_t)(b->cap - 1) : 0;
}

/* After a successful read into b through kvdb_dbt_out. */
static void
kvdb_dbt_done(const DBT *d, struct buf *b)
{
	b->len = d->size;
	if (b->data != NULL)
		b->data[b->len] = '\0';
}

static int
kvdb_buf_prepare(struct buf *b, size_t want)
{
	buf_reset(b);
	return buf_reserve(b, want < b->max ? want : b->max);
}

/* Makes room for n bytes counted from the start of b, keeping its content (a key to seek). */
static int
kvdb_buf_room(struct buf *b, size_t n)
{
	size_t len = b->len;
	int r;

	b->len = 0;
	r = buf_reserve(b, n);
	b->len = len;
	return r;
}

/* One DB->get into val. Returns 0, DB_NOTFOUND, a Berkeley DB error, or ENOSPC when the value
 * exceeds val->max. */
static int
kvdb_get_once(DB *db, DB_TXN *txn, DBT *k, struct buf *val, u_int32_t flags)
{
	DBT d;
	int r;

	if (kvdb_buf_prepare(val, KVDB_GET_GUESS) < 0)
		return ENOSPC;
	kvdb_dbt_out(&d, val);
	r = db->get(db, txn, k, &d, flags);
	if (r == DB_BUFFER_SMALL) {
		if (buf_reserve(val, d.size) < 0)
			return ENOSPC;
		kvdb_dbt_out(&d, val);
		r = db->get(db, txn, k, &d, flags);
	}
	if (r == 0)
		kvdb_dbt_done(&d, val);
	else
		buf_reset(val);
	return r;
}

static void
kvdb_op_error(const struct mg_kvdb_table *t, const char *op, int r)
{
	log_err("kvdb: %s/%s: %s: %s", t->kv->dir, t->name, op,
	    r == ENOSPC ? "value too large" : db_strerror(r));
}

static int
kvdb_key_ok(const struct mg_kvdb_table *t, size_t klen)
{
	if (klen == 0 || klen > MG_KVDB_KEY_MAX) {
		log_err("kvdb: %s/%s: key length %zu out of range", t->kv->dir, t->name, klen);
		return 0;
	}
	return 1;
}

int
mg_kvdb_get(struct mg_kvdb_table *t, const void *key, size_t klen, struct buf *val)
{
	DBT k;
	int r = 0;

	buf_reset(val);
	if (!kvdb_key_ok(t, klen))
		return -1;
	kvdb_dbt_in(&k, key, klen);
	for (int i = 0; i < KVDB_RETRIES; i++) {
		r = kvdb_get_once(t->db, NULL, &k, val, 0);
		if (!kvdb_is_retryable(r))
			break;
	}
	if (r == 0)
		return 1;
	if (r == DB_NOTFOUND)
		return 0;
	kvdb_op_error(t, "get", r);
	return -1;
}

int
mg_kvdb_put(struct mg_kvdb_table *t, const void *key, size_t klen, const void *val, size_t vlen)
{
	DBT k, d;
	int r = 0;

	if (!kvdb_key_ok(t, klen))
		return -1;
	if (vlen > MG_KVDB_VALUE_MAX) {
		kvdb_op_error(t, "put", ENOSPC);
		return -1;
	}
	kvdb_dbt_in(&k, key, klen);
	kvdb_dbt_in(&d, val, vlen);
	for (int i = 0; i < KVDB_RETRIES; i++) {
		/* DB_AUTO_COMMIT (set at table open): one committed transaction per put. */
		r = t->db->put(t->db, NULL, &k, &d, 0);
		if (!kvdb_is_retryable(r))
			break;
	}
	if (r == 0)
		return 0;
	kvdb_op_error(t, "put", r);
	return -1;
}

int
mg_kvdb_del(struct mg_kvdb_table *t, const void *key, size_t klen)
{
	DBT k;
	int r = 0;

	if (!kvdb_key_ok(t, klen))
		return -1;
	kvdb_dbt_in(&k, key, klen);
	for (int i = 0; i < KVDB_RETRIES; i++) {
		r = t->db->del(t->db, NULL, &k, 0);
		if (!kvdb_is_retryable(r))
			break;
	}
	if (r == 0)
		return 1;
	if (r == DB_NOTFOUND)
		return 0;
	kvdb_op_error(t, "del", r);
	return -1;
}

/* One attempt of mg_kvdb_update inside txn. Returns 0, -1 when fn failed (not retryable), or a
 * Berkeley DB error. */
static int
kvdb_update_once(struct mg_kvdb_table *t, DB_TXN *txn, DBT *k, struct buf *old, struct buf *nv,
    mg_kvdb_update_fn *fn, void *arg)
{
	DBT d;
	int r, found, action;

	/* DB_RMW: take the write lock at the read, so two updaters queue instead of both reading
	 * the same old value and deadlocking on the upgrade. */
	r = kvdb_get_once(t->db, txn, k, old, DB_RMW);
	if (r != 0 && r != DB_NOTFOUND)
		return r;
	found = r == 0;
	buf_reset(nv);
	action = fn(arg, found ? old->data : NULL, found ? old->len : 0, nv);
	switch (action) {
	case MG_KVDB_KEEP:
		return 0;
	case MG_KVDB_STORE:
		kvdb_dbt_in(&d, nv->data != NULL ? nv->data : "", nv->len);
		return t->db->put(t->db, txn, k, &d, 0);
	case MG_KVDB_DELETE:
		return found ? t->db->del(t->db, txn, k, 0) : 0;
	default:
		return -1;
	}
}

int
mg_kvdb_update(struct mg_kvdb_table *t, const void *key, size_t klen, mg_kvdb_update_fn *fn,
    void *arg)
{
	DB_ENV *env = t->kv->env;
	struct buf old, nv;
	DBT k;
	int r = 0;

	if (!kvdb_key_ok(t, klen))
		return -1;
	buf_init(&old, MG_KVDB_VALUE_MAX);
	buf_init(&nv, MG_KVDB_VALUE_MAX);
	kvdb_dbt_in(&k, key, klen);
	for (int i = 0; i < KVDB_RETRIES; i++) {
		DB_TXN *txn = NULL;

		if ((r = env->txn_begin(env, NULL, &txn, 0)) != 0)
			break;
		r = kvdb_update_once(t, txn, &k, &old, &nv, fn, arg);
		if (r != 0) {
			(void)txn->abort(txn);
			if (kvdb_is_retryable(r))
				continue;
			break;
		}
		/* A failed commit has aborted the transaction; not retryable. */
		r = txn->commit(txn, 0);
		break;
	}
	buf_free(&old);
	buf_free(&nv);
	if (r == 0)
		return 0;
	if (r != -1)
		kvdb_op_error(t, "update", r);
	return -1;
}

/* A cursor read into two buffers, growing them when Berkeley DB says they are too small (the
 * cursor does not move on DB_BUFFER_SMALL). With DB_SET_RANGE, kb holds the key to seek. */
static int
kvdb_cursor_get(DBC *c, struct buf *kb, struct buf *vb, u_int32_t flags)
{
	DBT k, d;
	int r;

	for (int pass = 0; pass < 2; pass++) {
		size_t seek_len = kb->len;

		kvdb_dbt_out(&k, kb);
		if ((flags & DB_OPFLAGS_MASK) == DB_SET_RANGE)
			k.size = (u_int32_t)seek_len;
		kvdb_dbt_out(&d, vb);
		r = c->get(c, &k, &d, flags);
		if (r != DB_BUFFER_SMALL)
			break;
		if (kvdb_buf_room(kb, k.size) < 0 || kvdb_buf_room(vb, d.size) < 0)
			return ENOSPC;
	}
	if (r != 0)
		return r;
	kvdb_dbt_done(&k, kb);
	kvdb_dbt_done(&d, vb);
	return 0;
}

struct kvdb_sweep_chunk {
	size_t visited, removed;
	int at_end;
};

/* One sweep transaction: up to max records after t->sweep_pos. On success updates sweep_pos
 * (the caller commits). Returns 0, -1 when keep failed, or a Berkeley DB error. */
static int
kvdb_sweep_once(struct mg_kvdb_table *t, DB_TXN *txn, struct buf *kb, struct buf *vb,
    struct buf *pos, mg_kvdb_keep_fn *keep, void *arg, size_t max, struct kvdb_sweep_chunk *out)
{
	DBC *c = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = t->db->cursor(t->db, txn, &c, 0)) != 0)
		return r;
	if (!t->sweep_started) {
		buf_reset(kb);
		r = kvdb_cursor_get(c, kb, vb, DB_FIRST | DB_RMW);
	} else {
		buf_reset(kb);
		if (buf_reserve(kb, pos->len) < 0 || buf_append(kb, pos->data, pos->len) < 0) {
			r = ENOSPC;
			goto done;
		}
		r = kvdb_cursor_get(c, kb, vb, DB_SET_RANGE | DB_RMW);
		/* Still there: it was visited last time, step past it. */
		if (r == 0 && kb->len == pos->len && memcmp(kb->data, pos->data, pos->len) == 0)
			r = kvdb_cursor_get(c, kb, vb, DB_NEXT | DB_RMW);
	}
	while (r == 0) {
		int k = keep(arg, kb->data, kb->len, vb->data, vb->len);

		if (k < 0) {
			r = -1;
			goto done;
		}
		if (k == 0) {
			if ((r = c->del(c, 0)) != 0)
				goto done;
			out->removed++;
		}
		out->visited++;
		buf_reset(pos);
		if (buf_append(pos, kb->data, kb->len) < 0) {
			r = ENOSPC;
			goto done;
		}
		if (out->visited >= max)
			break;
		r = kvdb_cursor_get(c, kb, vb, DB_NEXT | DB_RMW);
	}
	if (r == DB_NOTFOUND) {
		out->at_end = 1;
		r = 0;
	}
done:
	if (c != NULL) {
		int cr = c->close(c);

		if (r == 0)
			r = cr;
	}
	return r;
}

int
mg_kvdb_sweep(struct mg_kvdb_table *t, mg_kvdb_keep_fn *keep, void *arg, size_t max_items,
    size_t *removed_r)
{
	DB_ENV *env = t->kv->env;
	struct buf kb, vb, pos;
	size_t visited = 0;
	int r = 0, at_end = 0;

	buf_init(&kb, MG_KVDB_KEY_MAX);
	buf_init(&vb, MG_KVDB_VALUE_MAX);
	buf_init(&pos, MG_KVDB_KEY_MAX);
	/* Allocated up front so keep never sees a NULL pointer for an empty value. */
	(void)kvdb_buf_prepare(&kb, KVDB_GET_GUESS);
	(void)kvdb_buf_prepare(&vb, KVDB_GET_GUESS);
	pthread_mutex_lock(&t->sweep_lock);
	while (r == 0 && !at_end && visited < max_items) {
		size_t chunk = max_items - visited;
		struct kvdb_sweep_chunk out;
		int tries = 0;

		if (chunk > KVDB_SWEEP_CHUNK)
			chunk = KVDB_SWEEP_CHUNK;
		for (;;) {
			DB_TXN *txn = NULL;

			buf_reset(&pos);
			if (t->sweep_started &&
			    buf_append(&pos, t->sweep_pos.data, t->sweep_pos.len) < 0) {
				r = ENOSPC;
				break;
			}
			if ((r = env->txn_begin(env, NULL, &txn, 0)) != 0)
				break;
			r = kvdb_sweep_once(t, txn, &kb, &vb, &pos, keep, arg, chunk, &out);
			if (r != 0) {
				(void)txn->abort(txn);
				if (kvdb_is_retryable(r) && ++tries < KVDB_RETRIES)
					continue;
				break;
			}
			r = txn->commit(txn, 0);
			break;
		}
		if (r != 0)
			break;
		visited += out.visited;
		if (removed_r != NULL)
			*removed_r += out.removed;
		if (out.at_end) {
			at_end = 1;
			t->sweep_started = 0;
		} else if (out.visited > 0) {
			buf_reset(&t->sweep_pos);
			if (buf_append(&t->sweep_pos, pos.data, pos.len) < 0)
				r = ENOSPC;
			t->sweep_started = 1;
		}
	}
	pthread_mutex_unlock(&t->sweep_lock);
	buf_free(&kb);
	buf_free(&vb);
	buf_free(&pos);
	if (r != 0) {
		if (r != -1)
			kvdb_op_error(t, "sweep", r);
		return -1;
	}
	return at_end ? 1 : 0;
}

/* ---- mg_kvdb_scan: batches read under DB_READ_COMMITTED, handed out with no lock held ---- */

#define KVDB_SCAN_BATCH_BYTES (1024u * 1024)

struct kvdb_scan_state {
	const void *prefix;
	size_t plen;
	struct buf kb, vb;	/* cursor read buffers */
	struct buf pos;		/* last key read (seek point of the next batch) */
	int started;		/* pos holds a key already read */
	struct buf batch;	/* copies: [size_t klen][size_t vlen][key][val] ... */
	size_t n;		/* records in batch */
	int at_end;		/* the range (or the table) is exhausted */
};

static int
kvdb_scan_in_range(const struct kvdb_scan_state *st)
{
	return st->kb.len >= st->plen && (st->plen == 0 ||
	    memcmp(st->kb.data, st->prefix, st->plen) == 0);
}

static int
kvdb_scan_copy(struct kvdb_scan_state *st)
{
	size_t kl = st->kb.len, vl = st->vb.len;

	if (buf_append(&st->batch, &kl, sizeof(kl)) < 0 ||
	    buf_append(&st->batch, &vl, sizeof(vl)) < 0 ||
	    buf_append(&st->batch, st->kb.data, kl) < 0 ||
	    (vl > 0 && buf_append(&st->batch, st->vb.data, vl) < 0))
		return ENOSPC;
	buf_reset(&st->pos);
	if (buf_append(&st->pos, st->kb.data, kl) < 0)
		return ENOSPC;
	st->started = 1;
	st->n++;
	return 0;
}

/* Reads one batch after st->pos (or at the seek key) inside txn. Returns 0 or a BDB error. */
static int
kvdb_scan_batch(struct mg_kvdb_table *t, DB_TXN *txn, struct kvdb_scan_state *st,
    const void *seek, size_t seek_len)
{
	DBC *c = NULL;
	int r;

	if ((r = t->db->cursor(t->db, txn, &c, DB_READ_COMMITTED)) != 0)
		return r;
	buf_reset(&st->kb);
	if (st->started) {
		seek = st->pos.data;
		seek_len = st->pos.len;
	}
	if (seek_len == 0) {
		r = kvdb_cursor_get(c, &st->kb, &st->vb, DB_FIRST);
	} else {
		if (kvdb_buf_room(&st->kb, seek_len) < 0 || buf_append(&st->kb, seek, seek_len) < 0) {
			r = ENOSPC;
			goto done;
		}
		r = kvdb_cursor_get(c, &st->kb, &st->vb, DB_SET_RANGE);
		/* the last key of the previous batch: step past it */
		if (r == 0 && st->started && st->kb.len == st->pos.len &&
		    memcmp(st->kb.data, st->pos.data, st->pos.len) == 0)
			r = kvdb_cursor_get(c, &st->kb, &st->vb, DB_NEXT);
	}
	while (r == 0) {
		if (!kvdb_scan_in_range(st)) {
			st->at_end = 1;
			break;
		}
		if ((r = kvdb_scan_copy(st)) != 0)
			break;
		if (st->n >= MG_KVDB_SCAN_BATCH || st->batch.len >= KVDB_SCAN_BATCH_BYTES)
			break;
		r = kvdb_cursor_get(c, &st->kb, &st->vb, DB_NEXT);
	}
	if (r == DB_NOTFOUND) {
		st->at_end = 1;
		r = 0;
	}
done:
	{
		int cr = c->close(c);

		if (r == 0)
			r = cr;
	}
	return r;
}

/* Hands the batch to fn. Returns 1 to go on, 0 when fn stopped, -1 when fn failed. */
static int
kvdb_scan_deliver(struct kvdb_scan_state *st, mg_kvdb_scan_fn *fn, void *arg)
{
	const char *p = st->batch.data;

	for (size_t i = 0; i < st->n; i++) {
		size_t kl, vl;
		int k;

		memcpy(&kl, p, sizeof(kl));
		memcpy(&vl, p + sizeof(kl), sizeof(vl));
		p += 2 * sizeof(size_t);
		k = fn(arg, p, kl, vl > 0 ? p + kl : "", vl);
		p += kl + vl;
		if (k <= 0)
			return k < 0 ? -1 : 0;
	}
	return 1;
}

int
mg_kvdb_scan(struct mg_kvdb_table *t, const void *start, size_t slen, const void *prefix,
    size_t plen, mg_kvdb_scan_fn *fn, void *arg)
{
	DB_ENV *env = t->kv->env;
	struct kvdb_scan_state st = { .prefix = prefix, .plen = plen };
	int r = 0, go = 1;

	if (start == NULL || slen == 0) {
		start = prefix;
		slen = plen;
	}
	if (slen > MG_KVDB_KEY_MAX || plen > MG_KVDB_KEY_MAX) {
		log_err("kvdb: %s/%s: scan key length out of range", t->kv->dir, t->name);
		return -1;
	}
	buf_init(&st.kb, MG_KVDB_KEY_MAX + 1);
	buf_init(&st.vb, MG_KVDB_VALUE_MAX + 1);
	buf_init(&st.pos, MG_KVDB_KEY_MAX + 1);
	buf_init(&st.batch, KVDB_SCAN_BATCH_BYTES + MG_KVDB_KEY_MAX + MG_KVDB_VALUE_MAX + 64);
	(void)kvdb_buf_prepare(&st.kb, KVDB_GET_GUESS);
	(void)kvdb_buf_prepare(&st.vb, KVDB_GET_GUESS);
	while (go == 1 && !st.at_end) {
		struct buf pos_before;
		int started_before = st.started, tries = 0;

		buf_init(&pos_before, MG_KVDB_KEY_MAX + 1);
		if (buf_append(&pos_before, st.pos.data ? st.pos.data : "", st.pos.len) < 0)
			r = ENOSPC;
		for (; r == 0;) {
			DB_TXN *txn = NULL;

			buf_reset(&st.batch);
			st.n = 0;
			if ((r = env->txn_begin(env, NULL, &txn, DB_READ_COMMITTED)) != 0)
				break;
			r = kvdb_scan_batch(t, txn, &st, start, slen);
			if (r == 0) {
				r = txn->commit(txn, 0);
				break;
			}
			(void)txn->abort(txn);
			if (!kvdb_is_retryable(r) || ++tries >= KVDB_RETRIES)
				break;
			/* deadlocked: read the same batch again */
			r = 0;
			st.at_end = 0;
			st.started = started_before;
			buf_reset(&st.pos);
			(void)buf_append(&st.pos, pos_before.data ? pos_before.data : "",
			    pos_before.len);
		}
		buf_free(&pos_before);
		if (r != 0)
			break;
		go = kvdb_scan_deliver(&st, fn, arg);
	}
	buf_free(&st.kb);
	buf_free(&st.vb);
	buf_free(&st.pos);
	buf_free(&st.batch);
	if (r != 0) {
		kvdb_op_error(t, "scan", r);
		return -1;
	}
	return go < 0 ? -1 : 0;
}

int
mg_kvdb_checkpoint(struct mg_kvdb *kv, const char **error_r)
{
	int r;

	if ((r = kv->env->txn_checkpoint(kv->env, 0, 0, 0)) != 0) {
		log_err("kvdb: %s: checkpoint: %s", kv->dir, db_strerror(r));
		*error_r = "checkpoint failed";
		return -1;
	}
	/* DB_LOG_AUTO_REMOVE acts when log files switch; archiving here bounds the log right
	 * after each checkpoint, whatever the write rate. */
	if ((r = kv->env->log_archive(kv->env, NULL, DB_ARCH_REMOVE)) != 0) {
		log_err("kvdb: %s: removing old log files: %s", kv->dir, db_strerror(r));
		*error_r = "log removal failed";
		return -1;
	}
	return 0;
}

int
mg_kvdb_flush(struct mg_kvdb *kv, const char **error_r)
{
	int r;

	if ((r = kv->env->log_flush(kv->env, NULL)) != 0) {
		log_err("kvdb: %s: log flush: %s", kv->dir, db_strerror(r));
		*error_r = "log flush failed";
		return -1;
	}
	return 0;
}

static int
kvdb_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > MG_KVDB_NAME_MAX || name[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
			c == '-'))
			return 0;
	}
	return 1;
}

/* Opens or creates "<name>.db". Returns the handle or NULL with *r_r set. */
static DB *
kvdb_db_open(struct mg_kvdb *kv, const char *file, int *r_r)
{
	DB *db = NULL;
	int r;

	if ((r = db_create(&db, kv->env, 0)) == 0 &&
	    (r = db->open(db, NULL, file, NULL, DB_BTREE, DB_CREATE | DB_THREAD | DB_AUTO_COMMIT,
		 0600)) == 0)
		return db;
	if (db != NULL)
		(void)db->close(db, 0);
	*r_r = r;
	return NULL;
}

/* A table file that recovery never touched (its log records were already checkpointed) can still
 * be unreadable (a torn page after power loss, a foreign file): rename it aside so the table
 * starts empty rather than failing forever. Returns 0 or -1. */
static int
kvdb_table_move_aside(struct mg_kvdb *kv, const char *file, int why)
{
	char from[4096], to[4096];
	long long now = (long long)time(NULL);

	if (str_fmt(from, sizeof(from), "%s/%s", kv->dir, file) < 0 ||
	    str_fmt(to, sizeof(to), "%s/%s.broken.%lld", kv->dir, file, now) < 0)
		return -1;
	if (rename(from, to) < 0)
		return -1;
	log_err("kvdb: %s: cannot open table file %s (%s); moved it to %s and starting the table "
		"empty",
	    kv->dir, file, db_strerror(why), to);
	return 0;
}

struct mg_kvdb_table *
mg_kvdb_table(struct mg_kvdb *kv, const char *name, const char **error_r)
{
	struct mg_kvdb_table *t;
	char file[MG_KVDB_NAME_MAX + 8];
	DB *db;
	int r = 0;

	if (!kvdb_name_ok(name)) {
		*error_r = "bad table name (want 1-64 of [a-z0-9_.-], not starting with '.')";
		return NULL;
	}
	pthread_mutex_lock(&kv->lock);
	for (t = kv->tables; t != NULL; t = t->next)
		if (strcmp(t->name, name) == 0)
			goto out;
	if (str_fmt(file, sizeof(file), "%s.db", name) < 0)
		panic("kvdb: table file name overflow");
	db = kvdb_db_open(kv, file, &r);
	if (db == NULL && !kvdb_is_env_error(r) && r != DB_RUNRECOVERY &&
	    kvdb_table_move_aside(kv, file, r) == 0)
		db = kvdb_db_open(kv, file, &r);
	if (db == NULL) {
		log_err("kvdb: %s: opening table %s: %s", kv->dir, name, db_strerror(r));
		*error_r = "cannot open table";
		goto out;
	}
	t = xcalloc(1, sizeof(*t));
	t->kv = kv;
	t->db = db;
	t->name = xstrdup(name);
	pthread_mutex_init(&t->sweep_lock, NULL);
	buf_init(&t->sweep_pos, MG_KVDB_KEY_MAX);
	t->next = kv->tables;
	kv->tables = t;
out:
	pthread_mutex_unlock(&kv->lock);
	return t;
}

/* Creates and opens the environment handle in dir. Returns 0 or a Berkeley DB/errno code. */
static int
kvdb_env_open(const char *dir, DB_ENV **env_r)
{
	DB_ENV *env = NULL;
	int r;

	*env_r = NULL;
	if ((r = db_env_create(&env, 0)) != 0)
		return r;
	env->set_errcall(env, kvdb_errcall);
	env->set_msgcall(env, kvdb_msgcall);
	if ((r = env->set_event_notify(env, kvdb_event)) != 0 ||
	    (r = env->set_cachesize(env, 0, KVDB_CACHE_BYTES, 1)) != 0 ||
	    (r = env->set_lg_max(env, KVDB_LOG_FILE_BYTES)) != 0 ||
	    (r = env->set_lg_bsize(env, KVDB_LOG_BUF_BYTES)) != 0 ||
	    (r = env->set_lk_max_lockers(env, KVDB_MAX_LOCKERS)) != 0 ||
	    (r = env->set_lk_max_locks(env, KVDB_MAX_LOCKS)) != 0 ||
	    (r = env->set_lk_max_objects(env, KVDB_MAX_LOCKS)) != 0 ||
	    (r = env->set_tx_max(env, KVDB_MAX_TXNS)) != 0 ||
	    /* Run the deadlock detector whenever a lock request blocks. */
	    (r = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0 ||
	    (r = env->set_flags(env, DB_TXN_WRITE_NOSYNC, 1)) != 0 ||
	    (r = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0 ||
	    /* Recovery after a crash is worth a log line (it is quiet otherwise). */
	    (r = env->set_verbose(env, DB_VERB_RECOVERY, 1)) != 0)
		goto fail;
	/* DB_REGISTER + DB_RECOVER: recover only when a process that had the environment open
	 * died without closing it, so a second live process (a tool) may share it. */
	r = env->open(env, dir,
	    DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_THREAD |
		DB_RECOVER | DB_REGISTER,
	    0600);
	if (r != 0)
		goto fail;
	*env_r = env;
	return 0;
fail:
	(void)env->close(env, 0);
	return r;
}

/* Renames dir to "<dir>.broken.<time>[.n]" and creates an empty dir. Returns 0 or -1. */
static int
kvdb_move_aside(const char *dir, int why)
{
	char aside[4096];
	long long now = (long long)time(NULL);

	for (int n = 0; n < 100; n++) {
		int w = n == 0 ? str_fmt(aside, sizeof(aside), "%s.broken.%lld", dir, now) :
				 str_fmt(aside, sizeof(aside), "%s.broken.%lld.%d", dir, now, n);

		if (w < 0)
			return -1;
		if (rename(dir, aside) == 0) {
			log_err("kvdb: %s: cannot open or recover the environment (%s); "
				"moved it to %s and starting with an empty one",
			    dir, db_strerror(why), aside);
			return mkdir(dir, 0700) < 0 ? -1 : 0;
		}
		if (errno != EEXIST && errno != ENOTEMPTY)
			return -1;
	}
	return -1;
}

struct mg_kvdb *
mg_kvdb_open(const char *dir, const char **error_r)
{
	struct mg_kvdb *kv;
	DB_ENV *env = NULL;
	int r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_err("kvdb: mkdir %s: %s", dir, strerror(errno));
		*error_r = "cannot create the database directory";
		return NULL;
	}
	r = kvdb_env_open(dir, &env);
	if (r != 0 && !kvdb_is_env_error(r)) {
		if (kvdb_move_aside(dir, r) < 0) {
			log_err("kvdb: %s: moving the broken environment aside: %s", dir,
			    strerror(errno));
			*error_r = "cannot recover the database environment nor move it aside";
			return NULL;
		}
		r = kvdb_env_open(dir, &env);
	}
	if (r != 0) {
		log_err("kvdb: %s: opening the environment: %s", dir, db_strerror(r));
		*error_r = "cannot open the database environment";
		return NULL;
	}
	kv = xcalloc(1, sizeof(*kv));
	kv->env = env;
	kv->dir = xstrdup(dir);
	pthread_mutex_init(&kv->lock, NULL);
	return kv;
}

void
mg_kvdb_close(struct mg_kvdb **kvp)
{
	struct mg_kvdb *kv = kvp != NULL ? *kvp : NULL;
	const char *error;
	int r;

	if (kv == NULL)
		return;
	*kvp = NULL;
	while (kv->tables != NULL) {
		struct mg_kvdb_table *t = kv->tables;

		kv->tables = t->next;
		if ((r = t->db->close(t->db, 0)) != 0)
			log_err("kvdb: %s/%s: close: %s", kv->dir, t->name, db_strerror(r));
		pthread_mutex_destroy(&t->sweep_lock);
		buf_free(&t->sweep_pos);
		xfree(t->name);
		xfree(t);
	}
	/* A checkpoint at close makes the next open's recovery trivial. */
	(void)mg_kvdb_checkpoint(kv, &error);
	if ((r = kv->env->close(kv->env, 0)) != 0)
		log_err("kvdb: %s: close: %s", kv->dir, db_strerror(r));
	pthread_mutex_destroy(&kv->lock);
	xfree(kv->dir);
	xfree(kv);
}

const char *
mg_kvdb_dir(const struct mg_kvdb *kv)
{
	return kv->dir;
}
