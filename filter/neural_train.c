/* neural_train.c: the neural half of filter/filter.h: keeps the feature vector of every
 * labelled message, trains a fresh logistic model over them (neural_train: epochs in a seeded
 * shuffled order, so the same corpus and seed give the same weights) and writes the weight file
 * atomically. Runs in mailguardctl train-neural. Memory: about 4 octets per distinct feature per
 * message (tens of MiB for the SpamAssassin corpus). */
#include "filter/filter.h"

#include <string.h>

#include "common/mime.h"
#include "filter/content.h"
#include "filter/filter_int.h"
#include "filter/neural.h"
#include "lib/str.h"
#include "lib/xalloc.h"

struct filter_neural_trainer {
	const struct mg_config *cfg;	/* borrowed: for the content symbols; NULL = none */
	struct neural_vec **vecs;
	int *labels;
	size_t n, cap;
};

size_t
neural_content_symbols(const struct mg_config *cfg, const char *msg, size_t len,
    char (*names)[NEURAL_SYM_NAME_MAX], size_t max, double *score_r)
{
	struct filter_score score;
	struct content_ctx c;
	size_t n = 0;

	memset(&score, 0, sizeof(score));
	memset(&c, 0, sizeof(c));
	c.cfg = cfg;
	c.disabled = MG_LAYER_BAYES | MG_LAYER_NEURAL | MG_LAYER_URIBL;
	c.msg = msg;
	c.len = len;
	c.score = &score;
	content_check(&c);
	for (size_t i = 0; i < score.n && n < max; i++)
		str_lcpy(names[n++], score.sym[i].name, NEURAL_SYM_NAME_MAX);
	if (score_r != NULL)
		*score_r = score.total;
	return n;
}

struct filter_neural_trainer *
filter_neural_trainer_new(const struct mg_config *cfg)
{
	struct filter_neural_trainer *t = xcalloc(1, sizeof(*t));

	t->cfg = cfg;
	return t;
}

void
filter_neural_trainer_free(struct filter_neural_trainer **tp)
{
	struct filter_neural_trainer *t = *tp;

	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		neural_vec_free(t->vecs[i]);
		xfree(t->vecs[i]);
	}
	xfree(t->vecs);
	xfree(t->labels);
	xfree(t);
	*tp = NULL;
}

int
filter_neural_trainer_add(struct filter_neural_trainer *t, const char *msg, size_t len,
    int is_spam)
{
	struct mime_msg *m;
	struct neural_vec *v;

	if (len > FILTER_TRAIN_MSG_MAX)
		return -1;
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->vecs = xreallocarray(t->vecs, t->cap, sizeof(*t->vecs));
		t->labels = xreallocarray(t->labels, t->cap, sizeof(*t->labels));
	}
	m = mime_parse(msg, len, NULL);
	v = xcalloc(1, sizeof(*v));
	if (t->cfg != NULL) {
		char names[NEURAL_SYMS_MAX][NEURAL_SYM_NAME_MAX];
		const char *syms[NEURAL_SYMS_MAX];
		size_t n = neural_content_symbols(t->cfg, msg, len, names, NEURAL_SYMS_MAX, NULL);

		for (size_t i = 0; i < n; i++)
			syms[i] = names[i];
		neural_vec_build(m, syms, n, NEURAL_BITS, v);
	} else
		neural_vec_build(m, NULL, 0, NEURAL_BITS, v);
	mime_msg_free(&m);
	t->vecs[t->n] = v;
	t->labels[t->n] = is_spam ? 1 : 0;
	t->n++;
	return 0;
}

size_t
filter_neural_trainer_size(const struct filter_neural_trainer *t)
{
	return t->n;
}

int
filter_neural_trainer_run(struct filter_neural_trainer *t, unsigned epochs, uint64_t seed,
    const char *path, filter_progress_fn *progress, void *arg, const char **error_r)
{
	struct neural_model *nm = neural_model_new(NEURAL_BITS);
	int r;

	neural_train(nm, (const struct neural_vec *const *)t->vecs, t->labels, t->n, epochs, NEURAL_LR, seed,
	    progress, arg);
	r = neural_model_save(nm, path, error_r);
	neural_model_free(&nm);
	return r;
}
