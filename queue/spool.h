#ifndef QUEUE_SPOOL_H
#define QUEUE_SPOOL_H
/* The spool directory (doc/queue-format.md): the only code that names spool files.
 *   incoming/<qid>.msg, incoming/<qid>.env   committed through the journal (or not yet committed)
 *   queue/<qid>.msg, queue/<qid>.env         individually durable (fsynced) messages
 *   hold/<qid>                               operator hold marker
 *   journal/                                 commit journal segments (queue/journal.c)
 *   corrupt/                                 files that failed to parse at recovery (kept)
 * Queue role only, main thread. */
#include <stddef.h>
#include "common/envelope.h"
#include "lib/buf.h"

enum spool_area { SPOOL_INCOMING = 0, SPOOL_QUEUE = 1 };

struct spool;

struct spool *spool_open(const char *dir, const char **error_r);
void spool_close(struct spool **sp);
const char *spool_dir(const struct spool *sp);
/* Generates a fresh queue id and creates incoming/<qid>.msg (O_EXCL, mode 0600), returning a
 * writable descriptor and filling qid. -1 on failure (errno set). */
int spool_create_msg(struct spool *sp, char qid[QUEUE_ID_LEN + 1]);
/* Picks a fresh queue id (time-ordered, per-process counter mixed with a random value); the
 * caller checks it against the messages it knows. */
void spool_new_qid(struct spool *sp, char qid[QUEUE_ID_LEN + 1]);
/* Creates an unnamed file (O_TMPFILE) on the spool file system for a message body: no directory
 * entry until spool_link_body(); it vanishes by itself if we crash. Read-write; -1 on failure. */
int spool_create_body(struct spool *sp);
/* Gives an unnamed body file its name <area>/<qid>.msg (linkat through /proc/self/fd). With
 * durable, the file and the directory are fsynced. 0 or -1 (errno set). */
int spool_link_body(struct spool *sp, enum spool_area area, const char *qid, int fd, int durable);
/* Removes <area>/<qid>.<suffix> (best effort). */
void spool_unlink(struct spool *sp, enum spool_area area, const char *qid, const char *suffix);
/* Opens the message body read-only. */
int spool_open_msg(struct spool *sp, enum spool_area area, const char *qid);
/* Writes the envelope atomically (temp file + rename). With durable, the temp file and the
 * directory are fsynced too. 0 or -1 (errno set). */
int spool_write_env(struct spool *sp, enum spool_area area, const struct envelope *env, int durable);
/* Reads and parses an envelope. -1 with *error_r when missing or invalid. */
int spool_read_env(struct spool *sp, enum spool_area area, const char *qid, struct envelope *env,
    const char **error_r);
/* Removes a message's files from an area (best effort, not synced). */
void spool_remove(struct spool *sp, enum spool_area area, const char *qid);
/* Moves a message (body first, then envelope) from incoming/ to queue/ without any fsync, for
 * batches: many messages moved, then ONE spool_sync_all()
 * (syncfs of the spool's file system, then both directories) makes them durable together; until
 * it returned 0 the caller must keep what would recreate them (the journal segment). Measured:
 * per-message fsyncs cost ~1.5 ms each, so 20,000 survivors took 30 s. */
int spool_move_to_queue(struct spool *sp, const char *qid);
int spool_sync_all(struct spool *sp);
/* Writes body bytes from a descriptor range into incoming/<qid>.msg (recovery). */
int spool_restore_msg(struct spool *sp, const char *qid, int src_fd, unsigned long long off,
    unsigned long long len);
int spool_exists(struct spool *sp, enum spool_area area, const char *qid, const char *suffix);
/* Moves a broken file aside to corrupt/ (never deletes evidence). */
void spool_quarantine_file(struct spool *sp, enum spool_area area, const char *name);
int spool_set_hold(struct spool *sp, const char *qid, int hold);
int spool_is_held(struct spool *sp, const char *qid);
/* Calls cb for every "<qid>.<suffix>" name found in an area (suffix "msg" or "env"). */
void spool_scan(struct spool *sp, enum spool_area area,
    void (*cb)(const char *qid, const char *suffix, void *arg), void *arg);
/* Free bytes for unprivileged use on the spool file system, or -1. */
long long spool_free_bytes(struct spool *sp);
/* Path helper for logs and tools: area dir + name. */
int spool_path(struct spool *sp, enum spool_area area, const char *name, char *dst, size_t size);

#endif
