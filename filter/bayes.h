#ifndef FILTER_BAYES_H
#define FILTER_BAYES_H
/* Token Bayes (issue D), internal to filter/ (mailguardctl reaches it through filter/filter.h).
 *   bayes.c        the model: token counts in memory, Robinson's f(w) with Fisher's chi-square
 *                  combiner (SpamBayes' formulation), probability bands -> symbols. Pure.
 *   bayes_store.c  the token store: table "bayes" of the filter's Berkeley DB environment
 *                  (state_dir/db): key = 8-octet big-endian token hash, value = spam and ham
 *                  counts (u32 LE each); key "meta" = messages learned (u32 spam, u32 ham, u64
 *                  serial bumped by every learn). Learning adds a whole batch of messages as one
 *                  delta (one read-modify-write transaction per token).
 *   bayes_layer.c  the filter role's side: a read-only snapshot of the store in memory, reloaded
 *                  by a background thread when the serial changes, used by workers without
 *                  locking the store (content.h "immutable snapshots"). */
#include <stddef.h>
#include <stdint.h>

#include "filter/tokens.h"
#include "lib/kvdb.h"

#define BAYES_TABLE "bayes"
#define BAYES_MAX_TOKENS_USED 150	/* most extreme tokens combined per message */
#define BAYES_MIN_DIST 0.1		/* |f(w) - 0.5| below this: token ignored */
#define BAYES_STRENGTH 1.0		/* Robinson's s */
#define BAYES_TOKENS_MAX 4000000	/* tokens a model holds (64-128 MiB in memory) */

struct bayes_model;

struct bayes_model *bayes_model_new(void);
void bayes_model_free(struct bayes_model **mp);
/* Adds one message's distinct tokens with its label. Returns 0, or -1 when they might not fit
 * (BAYES_TOKENS_MAX): then nothing of the message is learned. */
int bayes_model_learn(struct bayes_model *m, const struct token_set *set, int is_spam);
/* Adds counts to one token hash; bayes_model_put replaces them (loading the store). Return 0,
 * -1 when the model is full. */
int bayes_model_add(struct bayes_model *m, uint64_t h, uint32_t spam, uint32_t ham);
int bayes_model_put(struct bayes_model *m, uint64_t h, uint32_t spam, uint32_t ham);
void bayes_model_set_messages(struct bayes_model *m, uint32_t nspam, uint32_t nham);
void bayes_model_messages(const struct bayes_model *m, uint32_t *nspam_r, uint32_t *nham_r);
size_t bayes_model_size(const struct bayes_model *m);
/* Visits every token (for writing a delta into the store). */
typedef int bayes_visit_fn(void *arg, uint64_t h, uint32_t spam, uint32_t ham);
int bayes_model_each(const struct bayes_model *m, bayes_visit_fn *fn, void *arg);

/* Spam probability of a message's tokens in [0, 1] (0.5 = unsure). Pure, any thread; the
 * model must not change during the call. */
double bayes_model_classify(const struct bayes_model *m, const struct token_set *set);

/* The symbol of probability p ("BAYES_SPAM_99" ... "BAYES_HAM_99") or NULL in the unsure band. */
const char *bayes_symbol(double p);

/* ---- bayes_store.c (blocking: a worker thread or mailguardctl) ---- */

/* Adds the counts of delta (tokens and messages) to the store in kv. Returns 0 or -1 with
 * *error_r (static). progress (may be NULL) is called every 4096 tokens with done, total. */
typedef void bayes_progress_fn(void *arg, size_t done, size_t total);
int bayes_store_add(struct mg_kvdb *kv, const struct bayes_model *delta,
    bayes_progress_fn *progress, void *arg, const char **error_r);
/* Reads the whole store into a new model. Returns it, or NULL with *error_r. *serial_r gets the
 * store's serial (0 for an empty store). */
struct bayes_model *bayes_store_load(struct mg_kvdb *kv, uint64_t *serial_r,
    const char **error_r);
/* Reads only the serial and message counts. Returns 0 or -1. */
int bayes_store_meta(struct mg_kvdb *kv, uint32_t *nspam_r, uint32_t *nham_r,
    uint64_t *serial_r);

#endif
