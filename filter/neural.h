#ifndef FILTER_NEURAL_H
#define FILTER_NEURAL_H
/* The neural layer (issue D), internal to filter/: online logistic regression over hashed
 * features (filter/tokens.h: character 4-grams, tokens, structural features) plus the symbols
 * the other content layers added before it ("y:NAME"), each feature present or absent and the
 * vector scaled to unit length. Weights: 2^bits floats, NEURAL_BITS by default.
 *   neural.c        model, features, prediction, SGD step, file format. Pure except the two
 *                   file functions.
 *   neural_layer.c  the filter role's side: weights loaded from state_dir/neural.weights at
 *                   start and on reload (an immutable snapshot swapped under a mutex), symbols.
 * Weight file (version 1, little-endian): "MGNEURAL", u32 version, u32 bits, f32 bias,
 * u32 reserved (0), u64 messages trained, 2^bits f32 weights, u32 CRC-32 (zlib) of everything
 * before it. Written with lib/atomicfile (temp file, fsync, rename), so a reader sees the old or
 * the new file, never a mix; a file that fails any check is refused whole. */
#include <stddef.h>
#include <stdint.h>

#include "common/mime.h"
#include "config/config.h"

#define NEURAL_BITS 20
#define NEURAL_BITS_MIN 12
#define NEURAL_BITS_MAX 24
#define NEURAL_FILE "neural.weights"
#define NEURAL_SYMS_MAX 64		/* other layers' symbols taken as features */

struct neural_model {
	unsigned bits;
	float bias;
	uint64_t trained;	/* SGD steps taken (messages x epochs) */
	float *w;		/* 2^bits */
};

/* A message's feature indices, deduplicated and sorted. */
struct neural_vec {
	uint32_t *idx;
	size_t n, cap;
};

struct neural_model *neural_model_new(unsigned bits);
void neural_model_free(struct neural_model **mp);

/* Features of m plus the names in syms (other layers' symbols; BAYES_* are skipped: the token
 * store learns from the same mail, so they would leak the label into training) into v. */
void neural_vec_build(const struct mime_msg *m, const char *const *syms, size_t n_syms,
    unsigned bits, struct neural_vec *v);
void neural_vec_free(struct neural_vec *v);

/* P(spam) in [0, 1]. Pure, any thread (the model must not change meanwhile). */
double neural_predict(const struct neural_model *nm, const struct neural_vec *v);
/* The model's log-odds of spam (the logit of neural_predict, unclipped). Pure, any thread. */
double neural_margin(const struct neural_model *nm, const struct neural_vec *v);
/* One SGD step of the log loss towards label is_spam with learning rate lr. */
void neural_train_step(struct neural_model *nm, const struct neural_vec *v, int is_spam,
    double lr);

/* Trains nm on n labelled vectors for epochs passes, each in an order shuffled by seed
 * (xorshift64*, Fisher-Yates), learning rate lr / (1 + epoch) (NEURAL_LR by default). progress may be NULL. */
#define NEURAL_LR 10.0		/* chosen by 10-fold cross-validation (make eval) */
#define NEURAL_HAM_WEIGHT 5.0	/* ham errors weigh 5x in the gradient (idem) */
#define NEURAL_AVERAGE 1	/* averaged SGD (the mean of every step's weights) (idem) */
void neural_train(struct neural_model *nm, const struct neural_vec *const *vecs,
    const int *labels, size_t n, unsigned epochs, double lr, uint64_t seed,
    void (*progress)(void *arg, size_t done, size_t total), void *arg);

/* The same with every knob: neural_train_opts_default() fills the defaults above. */
struct neural_train_opts {
	unsigned epochs;
	double lr;		/* learning rate of the first epoch; lr / (1 + epoch) after */
	double ham_weight;	/* gradient factor of ham examples */
	int average;		/* 1: keep the averaged weights */
	uint64_t seed;
};
void neural_train_opts_default(struct neural_train_opts *o);
void neural_train_ex(struct neural_model *nm, const struct neural_vec *const *vecs,
    const int *labels, size_t n, const struct neural_train_opts *o,
    void (*progress)(void *arg, size_t done, size_t total), void *arg);

/* "NEURAL_SPAM_99" (p >= 0.99), "NEURAL_SPAM_90", "NEURAL_SPAM_50", "NEURAL_HAM_90" (p <= 0.10),
 * "NEURAL_HAM_99" (p <= 0.01) or NULL (0.10 < p < 0.5). Since the averaged, cost-sensitive
 * training the probability is calibrated enough that p >= 0.5 is the spam decision (make eval). */
const char *neural_symbol(double p);

/* Atomic write (mode 0640) / strict read of a weight file. Return 0 / the model, or -1 / NULL
 * with *error_r (static). Blocking. */
int neural_model_save(const struct neural_model *nm, const char *path, const char **error_r);
struct neural_model *neural_model_load(const char *path, const char **error_r);

/* ---- neural_train.c ---- */

/* The symbols the offline content layers (structural, URL without feeds or DNS, attachments;
 * content_check with the Bayes and neural layers off) give msg under cfg: what the neural layer
 * sees as "y:" features at check time, computed the same way for training. Copies at most max
 * names into names; returns the count. Any thread. */
#define NEURAL_SYM_NAME_MAX 64
size_t neural_content_symbols(const struct mg_config *cfg, const char *msg, size_t len,
    char (*names)[NEURAL_SYM_NAME_MAX], size_t max, double *score_r);

/* ---- neural_layer.c: the filter role's weights (thread affinity per function) ---- */

/* Loads state_dir/neural.weights when its identity (device, inode, size, mtime) changed since
 * the last load, and publishes it; a missing or bad file keeps the previous weights (a bad one
 * is logged once per change). Blocking; the learning thread and content_learn_init. */
void neural_layer_refresh(const char *state_dir);
/* Drops the published weights (content_learn_fini, after the pool stopped). */
void neural_layer_fini(void);

#endif
