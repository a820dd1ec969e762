/* test_bayes.c: the token Bayes model (filter/bayes.c), its Berkeley DB store
 * (filter/bayes_store.c) and the training API (filter/filter.h), ending with a model trained on
 * a few dozen corpus messages that must rank held-out spam above held-out ham. */
#include "unit.h"

#include <math.h>
#include <stdlib.h>

#include "common/mime.h"
#include "filter/bayes.h"
#include "filter/filter.h"
#include "filter/tokens.h"
#include "learn_corpus.h"
#include "lib/kvdb.h"
#include "lib/log.h"

static void
set_of(struct token_set *s, const uint64_t *h, size_t n)
{
	s->h = xreallocarray(NULL, n, sizeof(*s->h));
	memcpy(s->h, h, n * sizeof(*h));
	s->n = s->cap = n;
}

static void
test_combiner(void)
{
	struct bayes_model *m = bayes_model_new();
	uint64_t spamw[] = { 1, 2, 3, 4, 5 }, hamw[] = { 11, 12, 13, 14, 15 }, unk[] = { 99 };
	struct token_set s, h, u;
	double ps, ph;

	set_of(&s, spamw, 5);
	set_of(&h, hamw, 5);
	set_of(&u, unk, 1);
	CHECK(bayes_model_classify(m, &s) == 0.5, "empty model must be unsure");
	for (int i = 0; i < 30; i++) {
		(void)bayes_model_learn(m, &s, 1);
		(void)bayes_model_learn(m, &h, 0);
	}
	ps = bayes_model_classify(m, &s);
	ph = bayes_model_classify(m, &h);
	CHECK(ps > 0.99, "spam tokens: got %f, want > 0.99", ps);
	CHECK(ph < 0.01, "ham tokens: got %f, want < 0.01", ph);
	CHECK(bayes_model_classify(m, &u) == 0.5, "unknown tokens must be unsure");
	CHECK_INT(bayes_model_size(m), 10);
	token_set_free(&s);
	token_set_free(&h);
	token_set_free(&u);
	bayes_model_free(&m);
	CHECK(m == NULL, "free must NULL the pointer");
}

static void
test_symbols(void)
{
	CHECK_STR(bayes_symbol(0.999), "BAYES_SPAM_99");
	CHECK_STR(bayes_symbol(0.96), "BAYES_SPAM_95");
	CHECK_STR(bayes_symbol(0.85), "BAYES_SPAM_80");
	CHECK_STR(bayes_symbol(0.5), NULL);
	CHECK_STR(bayes_symbol(0.15), "BAYES_HAM_80");
	CHECK_STR(bayes_symbol(0.04), "BAYES_HAM_95");
	CHECK_STR(bayes_symbol(0.001), "BAYES_HAM_99");
}

static int
count_tokens(void *arg, uint64_t h, uint32_t s, uint32_t hm)
{
	(void)h;
	*(uint64_t *)arg += s + hm;
	return 0;
}

static void
test_store(void)
{
	char dir[] = "/tmp/mg-test-bayes-XXXXXX";
	struct mg_kvdb *kv;
	struct bayes_model *d = bayes_model_new(), *loaded;
	uint64_t w[] = { 7, 8, 9 }, serial = 0, sum = 0;
	struct token_set s;
	uint32_t ns, nh;
	const char *err;
	char cmd[128];

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	kv = mg_kvdb_open(dir, &err);
	CHECK(kv != NULL, "open: %s", kv ? "" : err);
	if (kv == NULL)
		return;
	set_of(&s, w, 3);
	(void)bayes_model_learn(d, &s, 1);
	(void)bayes_model_learn(d, &s, 0);
	CHECK_INT(bayes_store_add(kv, d, NULL, NULL, &err), 0);
	CHECK_INT(bayes_store_add(kv, d, NULL, NULL, &err), 0);
	loaded = bayes_store_load(kv, &serial, &err);
	CHECK(loaded != NULL, "load failed");
	if (loaded != NULL) {
		bayes_model_messages(loaded, &ns, &nh);
		CHECK_INT(ns, 2);
		CHECK_INT(nh, 2);
		CHECK_INT(serial, 2);
		CHECK_INT(bayes_model_size(loaded), 3);
		(void)bayes_model_each(loaded, count_tokens, &sum);
		CHECK_INT(sum, 12);	/* 3 tokens x (2 spam + 2 ham) */
		bayes_model_free(&loaded);
		/* a second load in the same process walks the table from the start again */
		loaded = bayes_store_load(kv, &serial, &err);
		sum = 0;
		if (loaded != NULL)
			(void)bayes_model_each(loaded, count_tokens, &sum);
		CHECK_INT(sum, 12);
		bayes_model_free(&loaded);
	}
	token_set_free(&s);
	bayes_model_free(&d);
	mg_kvdb_close(&kv);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
}

static double
classify_msg(const struct bayes_model *m, const struct corpus_msg *c)
{
	struct mime_msg *mm = mime_parse(c->data, c->len, NULL);
	struct token_set s = { NULL, 0, 0 };
	double p;

	tokens_hash_set(mm, &s);
	p = bayes_model_classify(m, &s);
	token_set_free(&s);
	mime_msg_free(&mm);
	return p;
}

/* Trains through the public API into a store, loads it back, and must rank every held-out
 * spam above every held-out ham. Fails if tokenising, learning, storing or combining breaks. */
static void
test_corpus(void)
{
	struct corpus_msg train_s[TRAIN_N], train_h[TRAIN_N], held_s[HELD_N], held_h[HELD_N];
	char dir[] = "/tmp/mg-test-bayes-XXXXXX", cmd[128];
	size_t ns = corpus_read("spam", 0, TRAIN_N, train_s);
	size_t nh = corpus_read("easy_ham", 0, TRAIN_N, train_h);
	size_t hs = corpus_read("spam", TRAIN_N, HELD_N, held_s);
	size_t hh = corpus_read("easy_ham", TRAIN_N, HELD_N, held_h);
	struct filter_learner *l = filter_learner_new();
	struct bayes_model *m = NULL;
	struct mg_kvdb *kv;
	double min_s = 1, max_h = 0;
	uint64_t serial;
	const char *err;

	CHECK(ns == TRAIN_N && nh == TRAIN_N && hs == HELD_N && hh == HELD_N,
	    "SpamAssassin corpus missing ($MG_CORPORA, ../shared/corpora, /work/shared/corpora)");
	for (size_t i = 0; i < ns; i++)
		CHECK_INT(filter_learner_add(l, train_s[i].data, train_s[i].len, 1), 0);
	for (size_t i = 0; i < nh; i++)
		CHECK_INT(filter_learner_add(l, train_h[i].data, train_h[i].len, 0), 0);
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	if ((kv = mg_kvdb_open(dir, &err)) != NULL) {
		CHECK_INT(filter_learner_commit(l, kv, NULL, NULL, &err), 0);
		m = bayes_store_load(kv, &serial, &err);
		mg_kvdb_close(&kv);
	}
	CHECK(m != NULL, "store round trip failed");
	for (size_t i = 0; m != NULL && i < hs; i++)
		min_s = fmin(min_s, classify_msg(m, &held_s[i]));
	for (size_t i = 0; m != NULL && i < hh; i++)
		max_h = fmax(max_h, classify_msg(m, &held_h[i]));
	CHECK(min_s > max_h, "held-out spam min %f must exceed held-out ham max %f", min_s, max_h);
	CHECK(min_s > 0.5 && max_h < 0.5, "spam min %f, ham max %f around 0.5", min_s, max_h);
	bayes_model_free(&m);
	filter_learner_free(&l);
	corpus_free(train_s, ns);
	corpus_free(train_h, nh);
	corpus_free(held_s, hs);
	corpus_free(held_h, hh);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
}

static const struct unit_case cases[] = {
	{ "combiner", test_combiner },
	{ "symbols", test_symbols },
	{ "store_roundtrip", test_store },
	{ "corpus_ranks_spam_above_ham", test_corpus },
};

UNIT_MAIN(cases)
