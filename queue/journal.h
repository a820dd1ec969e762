#ifndef QUEUE_JOURNAL_H
#define QUEUE_JOURNAL_H
/* The commit journal (doc/queue-format.md): append-only segment files of checksummed records.
 * A message is committed when its COMMIT record (envelope + body) is in a segment and that
 * segment has been fdatasync'ed; one fdatasync serves every record appended since the last.
 * DONE records mark messages that need no recovery. Segments are numbered; the queue retires
 * the oldest once none of its messages needs it. Queue role only, main thread. */
#include <stddef.h>
#include <stdint.h>
#include "common/envelope.h"

#define JOURNAL_REC_COMMIT 1
#define JOURNAL_REC_DONE 2
#define JOURNAL_HDR_SIZE 40
#define JOURNAL_BODY_MAX (4ULL * 1024 * 1024 * 1024)

struct journal;

/* Opens the journal directory (creating it) and starts a fresh segment numbered after every
 * existing one. Returns NULL with *error_r on failure. */
struct journal *journal_open(const char *dir, const char **error_r);
void journal_close(struct journal **j);
/* Appends a COMMIT record: envelope text and body_len bytes of body_fd from offset 0.
 * Returns the segment number the record went to, or 0 on failure (errno set; the segment is
 * abandoned and the next append starts a new one). Not durable until journal_sync(). */
uint64_t journal_append_commit(struct journal *j, const char *qid, const char *env, size_t env_len,
    int body_fd, uint64_t body_len);
/* Appends a DONE record (best effort; durable with the next sync). */
void journal_append_done(struct journal *j, const char *qid);
/* fdatasync of the current segment; 0 or -1 (errno set). */
int journal_sync(struct journal *j);
/* Bytes appended since the last sync. */
size_t journal_unsynced(const struct journal *j);
uint64_t journal_current(const struct journal *j);
/* Starts a new segment if the current one is larger than max_bytes or older than max_age
 * seconds. Returns the new segment number, or 0 if no rotation happened. */
uint64_t journal_maybe_rotate(struct journal *j, uint64_t max_bytes, double max_age);
/* Removes segment seq (which must not be current). */
int journal_remove_segment(struct journal *j, uint64_t seq);

/* Recovery: scans every segment in order, calling commit_cb for each valid COMMIT record and
 * done_cb for each DONE record. A record with a bad checksum or a torn tail ends that segment's
 * scan (everything after it was never acknowledged). Record data is handed over as the segment
 * fd and offsets so bodies can be copied without loading them. Returns the number of segments
 * scanned, or -1 on an I/O error. Call before journal_open(). */
struct journal_rec {
	uint64_t seq;
	char qid[QUEUE_ID_LEN + 1];
	int seg_fd;
	const char *env;	/* borrowed: valid during the callback */
	size_t env_len;
	uint64_t body_off;
	uint64_t body_len;
};
typedef void journal_commit_cb(const struct journal_rec *rec, void *arg);
typedef void journal_done_cb(uint64_t seq, const char *qid, void *arg);
int journal_recover(const char *dir, journal_commit_cb *commit_cb, journal_done_cb *done_cb,
    void *arg, uint64_t **segments_r, size_t *n_segments_r);

#endif
