/* bayes_train.c: the Bayes half of filter/filter.h: batches of labelled messages counted in
 * memory (a delta model) and added to the token store in one pass, so training a corpus costs
 * one transaction per distinct token rather than per token per message. Runs in mailguardctl
 * (train) and, for operator actions, on a filter worker. Messages are parsed by mime_parse under
 * its limits; larger than FILTER_TRAIN_MSG_MAX is refused. */
#include "filter/filter.h"

#include "common/mime.h"
#include "filter/bayes.h"
#include "filter/tokens.h"
#include "lib/xalloc.h"

struct filter_learner {
	struct bayes_model *delta;
	struct token_set set;
};

struct filter_learner *
filter_learner_new(void)
{
	struct filter_learner *l = xcalloc(1, sizeof(*l));

	l->delta = bayes_model_new();
	return l;
}

void
filter_learner_free(struct filter_learner **lp)
{
	if (*lp == NULL)
		return;
	bayes_model_free(&(*lp)->delta);
	token_set_free(&(*lp)->set);
	xfree(*lp);
	*lp = NULL;
}

int
filter_learner_add(struct filter_learner *l, const char *msg, size_t len, int is_spam)
{
	struct mime_msg *m;
	int r;

	if (len > FILTER_TRAIN_MSG_MAX)
		return -1;
	m = mime_parse(msg, len, NULL);
	tokens_hash_set(m, &l->set);
	mime_msg_free(&m);
	r = bayes_model_learn(l->delta, &l->set, is_spam);
	return r;
}

void
filter_learner_counts(const struct filter_learner *l, unsigned *spam_r, unsigned *ham_r)
{
	uint32_t s, h;

	bayes_model_messages(l->delta, &s, &h);
	*spam_r = s;
	*ham_r = h;
}

int
filter_learner_commit(struct filter_learner *l, struct mg_kvdb *kv,
    filter_progress_fn *progress, void *arg, const char **error_r)
{
	return bayes_store_add(kv, l->delta, progress, arg, error_r);
}

int
filter_bayes_counts(struct mg_kvdb *kv, unsigned *spam_r, unsigned *ham_r)
{
	uint32_t s, h;
	uint64_t serial;

	if (bayes_store_meta(kv, &s, &h, &serial) < 0)
		return -1;
	*spam_r = s;
	*ham_r = h;
	return 0;
}

int
filter_bayes_learn(struct mg_kvdb *kv, const char *msg, size_t len, int is_spam,
    const char **error_r)
{
	struct filter_learner *l = filter_learner_new();
	int r = -1;

	if (filter_learner_add(l, msg, len, is_spam) < 0)
		*error_r = "message too large or token store full";
	else
		r = filter_learner_commit(l, kv, NULL, NULL, error_r);
	filter_learner_free(&l);
	return r;
}
