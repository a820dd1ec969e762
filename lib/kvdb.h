#ifndef LIB_KVDB_H
#define LIB_KVDB_H
/* The one key-value storage interface (shared/DESIGN.md §10): a Berkeley DB transactional
 * environment in one directory, holding named B-tree tables. Caches and counters only (greylist
 * triplets, DMARC records, Bayes tokens, rate counters, the quarantine index): a crash may lose
 * the last updates, never the consistency of the data or the ability to open it (lib/kvdb.c says
 * how).
 *
 * Thread affinity: mg_kvdb_open, mg_kvdb_close from one thread while no other thread uses the
 * handle; every other function from any thread at once (free-threaded DB_THREAD handles). A
 * handle never crosses fork(): open it in the process that uses it. Several processes may open
 * the same directory (DB_REGISTER decides whether recovery is needed).
 *
 * Keys are at most MG_KVDB_KEY_MAX bytes, values at most MG_KVDB_VALUE_MAX; both binary-safe.
 * Errors from Berkeley DB are logged here (log_err, with the table name) and reported as -1, so
 * the caller only decides what a failure means (usually: skip the layer or tempfail). */
#include <stddef.h>

#include "lib/buf.h"

#define MG_KVDB_KEY_MAX 4096
#define MG_KVDB_VALUE_MAX (1024 * 1024)
#define MG_KVDB_NAME_MAX 64 /* table names: [a-z0-9_.-], not starting with '.' */

struct mg_kvdb;
struct mg_kvdb_table;

/* What an mg_kvdb_update callback asks for. */
enum mg_kvdb_action {
	MG_KVDB_KEEP = 0,   /* leave the record as it is (absent stays absent) */
	MG_KVDB_STORE = 1,  /* store new_val */
	MG_KVDB_DELETE = 2, /* delete the record (no-op when absent) */
};

/* Opens (creating dir with mode 0700 when missing) the environment in dir, running recovery when
 * a process that had it open died. If the environment cannot be opened or recovered, it is renamed
 * to "<dir>.broken.<unix time>" (logged at err) and a fresh empty one is created; only an
 * environment problem that a fresh directory would not fix (permissions, no space, no memory)
 * makes it fail. Returns the handle (close with mg_kvdb_close) or NULL with *error_r (static). */
struct mg_kvdb *mg_kvdb_open(const char *dir, const char **error_r);

/* Checkpoints, closes every table and the environment, frees the handle and NULLs *kvp.
 * Every table handle obtained from it becomes invalid. NULL or *kvp NULL: no-op. */
void mg_kvdb_close(struct mg_kvdb **kvp);

/* Returns the table called name, opening or creating "<name>.db" in the environment on first use;
 * later calls with the same name return the same handle. The handle is owned by kv (valid until
 * mg_kvdb_close) and usable from any thread. NULL with *error_r (static) on a bad name or error. */
struct mg_kvdb_table *mg_kvdb_table(struct mg_kvdb *kv, const char *name, const char **error_r);

/* Reads the value of key into val (reset first; val->max caps the value). Returns 1 found,
 * 0 not found (val empty), -1 error (including a value longer than val->max). */
int mg_kvdb_get(struct mg_kvdb_table *t, const void *key, size_t klen, struct buf *val);

/* Stores key -> value (replacing), as one committed transaction. Returns 0 or -1. */
int mg_kvdb_put(struct mg_kvdb_table *t, const void *key, size_t klen, const void *val,
    size_t vlen);

/* Deletes key. Returns 1 deleted, 0 not found, -1 error. */
int mg_kvdb_del(struct mg_kvdb_table *t, const void *key, size_t klen);

/* Atomic read-modify-write of one record in one transaction, holding its write lock from the read
 * on, so two threads (or processes) updating one key cannot lose an update. fn gets the current
 * value (old NULL, oldlen 0 when absent; old is valid only during the call) and an empty new_val
 * (max MG_KVDB_VALUE_MAX) and returns an enum mg_kvdb_action, or -1 to abort (update returns -1).
 * fn may be called more than once (a deadlock retries the transaction), so it must compute its
 * outputs from old alone, and must not call mg_kvdb_* itself. Returns 0 or -1. */
typedef int mg_kvdb_update_fn(void *arg, const void *old, size_t oldlen, struct buf *new_val);
int mg_kvdb_update(struct mg_kvdb_table *t, const void *key, size_t klen, mg_kvdb_update_fn *fn,
    void *arg);

/* Incremental expiry: visits at most max_items records in key order, starting where the previous
 * sweep of this table stopped, and deletes each for which keep returns 0 (1 keeps it, -1 stops the
 * sweep with an error). Work is committed in small transactions, so a sweep never holds locks on
 * much of the table; keep may be called twice for a record when a transaction is retried and must
 * not call mg_kvdb_*. Sweeps of one table are serialised. Adds the number deleted to *removed_r
 * (may be NULL). Returns 1 when the walk reached the end of the table (the next sweep starts over
 * at the beginning), 0 when records remain to visit, -1 on error. */
typedef int mg_kvdb_keep_fn(void *arg, const void *key, size_t klen, const void *val, size_t vlen);
int mg_kvdb_sweep(struct mg_kvdb_table *t, mg_kvdb_keep_fn *keep, void *arg, size_t max_items,
    size_t *removed_r);

/* Ordered, read-only range scan: visits the records of t in key order (memcmp, shorter first),
 * from the first key >= start (start NULL or slen 0: from prefix) for as long as the key begins
 * with prefix (plen 0: to the end of the table), calling fn for each; fn returns 1 to continue,
 * 0 to stop (the scan then returns 0) or -1 to stop with an error (the scan returns -1).
 * Isolation: read committed in short transactions. The cursor reads a batch (at most
 * MG_KVDB_SCAN_BATCH records or about 1 MiB) inside one DB_READ_COMMITTED transaction, copies
 * it, closes the cursor and commits, and only then hands the batch to fn; the next batch seeks
 * (DB_SET_RANGE) past the last key seen. So fn runs with no lock held (it may be slow, and may
 * call mg_kvdb_* on any table, t included), a scan never holds more than one page's read lock at a
 * time nor blocks writers for longer than one batch, and every key is visited at most once, in
 * increasing order. It is not a snapshot of the whole range: a record written or deleted while
 * the scan runs is seen or not depending on whether the scan had passed its key. key and val are
 * valid only during the call. Any thread. Returns 0 or -1 (errors logged). */
#define MG_KVDB_SCAN_BATCH 256
typedef int mg_kvdb_scan_fn(void *arg, const void *key, size_t klen, const void *val,
    size_t vlen);
int mg_kvdb_scan(struct mg_kvdb_table *t, const void *start, size_t slen, const void *prefix,
    size_t plen, mg_kvdb_scan_fn *fn, void *arg);

/* Writes dirty pages to the table files (with fsync), records a checkpoint and removes log files
 * no longer needed, which keeps the log bounded and recovery short. Blocking (disk I/O): call it
 * periodically (e.g. once a minute) from a worker thread, not from an event loop. Any thread.
 * Returns 0 or -1 with *error_r (static). */
int mg_kvdb_checkpoint(struct mg_kvdb *kv, const char **error_r);

/* Makes every transaction committed so far durable: writes and fsyncs the log (commits are
 * WRITE_NOSYNC otherwise, lib/kvdb.c). For the rare writes that are the only copy of something
 * (incoming DMARC reports when their mail is not delivered). Blocking: worker threads only.
 * Returns 0 or -1 with *error_r (static). */
int mg_kvdb_flush(struct mg_kvdb *kv, const char **error_r);

/* The directory of the environment (owned by kv). */
const char *mg_kvdb_dir(const struct mg_kvdb *kv);

#endif
