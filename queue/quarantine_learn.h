#ifndef QUEUE_QUARANTINE_LEARN_H
#define QUEUE_QUARANTINE_LEARN_H
/* Learning from operator actions on the quarantine (issue G, shared/DESIGN.md §5: release = ham,
 * confirmed spam = spam), queue role. The message is handed to a worker thread as an open
 * descriptor (so a deleted message can still be read) and learned into the filter's Bayes token
 * store (state_dir/db) through filter/filter.h; the filter's learning thread re-reads the store
 * within 10 s. One log line per learning. Every function: queue main thread. */

struct qmsg;

/* Queues the learning of m's message as spam (is_spam 1) or ham; by names who acted (logged).
 * Never blocks: the worker is started on first use; when its queue is full the message is not
 * learned and that is logged. Returns 0 queued, -1 not (logged). m is not changed. */
int quarantine_learn(struct qmsg *m, int is_spam, const char *by);
/* `confirm-spam`: queues m to be learned as spam, then deletes it (files, journal record, index
 * entry); logged with by. Returns what quarantine_learn returned (m is deleted either way). */
int quarantine_confirm_spam(struct qmsg *m, const char *by);
/* Waits for learnings in progress, drops queued ones (logged), stops the worker. */
void quarantine_learn_shutdown(void);

#endif
