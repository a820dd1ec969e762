#ifndef FILTER_FILTER_H
#define FILTER_FILTER_H
/* The filter's public header (the one header of filter/ other subsystems include, STYLE.md §2):
 * training the learning layers of issue D from labelled messages. Used by mailguardctl train /
 * train-neural (admin/ctl_train.c), the eval tool, and later by operator actions (a released
 * quarantined message is learned as ham).
 *
 * Where the results go, and how the running daemon sees them:
 *   Bayes: the token store, table "bayes" of the Berkeley DB environment state_dir/db, which
 *     several processes may open at once (lib/kvdb.h: transactional, DB_REGISTER recovery). The
 *     filter's learning thread re-reads it within 10 s of a commit (or at reload).
 *   Neural: the weight file state_dir/neural.weights, replaced atomically; the filter loads it
 *     within 10 s of a change (or at reload).
 * The caller must run as the daemon's user (mailguardctl drops root privileges to `user` first)
 * so every file it creates stays usable by the daemon.
 * Blocking, one thread per learner/trainer object. Messages are parsed with common/mime.h, so
 * hostile input is bounded by its limits; each message is at most FILTER_TRAIN_MSG_MAX octets. */
#include <stddef.h>
#include <stdint.h>

struct mg_config;
struct mg_kvdb;

#define FILTER_TRAIN_MSG_MAX (16 * 1024 * 1024)
#define FILTER_NEURAL_EPOCHS 10	/* default passes over the training set */
#define FILTER_NEURAL_SEED 20261125	/* default shuffle seed: runs are reproducible */

typedef void filter_progress_fn(void *arg, size_t done, size_t total);

/* ---- Bayes: a batch of messages learned in memory, then added to the store at once ---- */
struct filter_learner;

struct filter_learner *filter_learner_new(void);
void filter_learner_free(struct filter_learner **lp);
/* Parses msg and counts its distinct tokens under the label. Returns 0, or -1 when the batch is
 * full (about 4 million distinct tokens: commit and start another) or msg is too large. */
int filter_learner_add(struct filter_learner *l, const char *msg, size_t len, int is_spam);
void filter_learner_counts(const struct filter_learner *l, unsigned *spam_r, unsigned *ham_r);
/* Adds the batch to the store of kv (one transaction per token, message counts last). The
 * batch is left as it was. Returns 0 or -1 with *error_r (static). */
int filter_learner_commit(struct filter_learner *l, struct mg_kvdb *kv,
    filter_progress_fn *progress, void *arg, const char **error_r);
/* Learns one message into kv at once (operator actions). Returns 0 or -1 with *error_r. */
int filter_bayes_learn(struct mg_kvdb *kv, const char *msg, size_t len, int is_spam,
    const char **error_r);
/* The messages learned so far by the store in kv (spam, ham). Returns 0 or -1. Blocking. */
int filter_bayes_counts(struct mg_kvdb *kv, unsigned *spam_r, unsigned *ham_r);

/* ---- Neural: the whole labelled set in memory, SGD epochs in a fixed shuffled order ---- */
struct filter_neural_trainer;

/* cfg (borrowed, may be NULL) lets the trainer run the offline content layers (structural,
 * URL, attachment) so their symbols are features as they are at check time. */
struct filter_neural_trainer *filter_neural_trainer_new(const struct mg_config *cfg);
void filter_neural_trainer_free(struct filter_neural_trainer **tp);
/* Parses msg and keeps its feature vector. Returns 0 or -1 (too large). */
int filter_neural_trainer_add(struct filter_neural_trainer *t, const char *msg, size_t len,
    int is_spam);
size_t filter_neural_trainer_size(const struct filter_neural_trainer *t);
/* Trains a fresh model for epochs passes (order shuffled by seed, the same seed giving the same
 * weights) and writes it atomically to path. Returns 0 or -1 with *error_r (static). */
int filter_neural_trainer_run(struct filter_neural_trainer *t, unsigned epochs, uint64_t seed,
    const char *path, filter_progress_fn *progress, void *arg, const char **error_r);

#endif
