/* test_neural.c: the neural layer's model (filter/neural.c): SGD on separable data, the weight
 * file (round trip, and refusal of corrupt, truncated or foreign files), probability bands, and
 * the training API (filter/filter.h) on a few dozen corpus messages, which must rank held-out
 * spam above held-out ham after a save/load round trip. */
#include "unit.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>

#include "common/mime.h"
#include "filter/filter.h"
#include "filter/neural.h"
#include "learn_corpus.h"
#include "lib/log.h"

static char dir[] = "/tmp/mg-test-neural-XXXXXX";

static void
vec_of(struct neural_vec *v, const uint32_t *idx, size_t n)
{
	v->idx = xreallocarray(NULL, n, sizeof(*v->idx));
	memcpy(v->idx, idx, n * sizeof(*idx));
	v->n = v->cap = n;
}

static struct neural_model *
toy_model(void)
{
	struct neural_model *nm = neural_model_new(NEURAL_BITS_MIN);
	uint32_t a[] = { 1, 2, 3 }, b[] = { 10, 11, 12 };
	struct neural_vec va, vb;
	const struct neural_vec *vecs[2] = { &va, &vb };
	int labels[2] = { 1, 0 };

	vec_of(&va, a, 3);
	vec_of(&vb, b, 3);
	neural_train(nm, vecs, labels, 2, 20, 10.0, 7, NULL, NULL);
	CHECK(neural_predict(nm, &va) > 0.9, "spam vector: %f", neural_predict(nm, &va));
	CHECK(neural_predict(nm, &vb) < 0.1, "ham vector: %f", neural_predict(nm, &vb));
	neural_vec_free(&va);
	neural_vec_free(&vb);
	return nm;
}

static void
test_sgd(void)
{
	struct neural_model *nm = toy_model();

	neural_model_free(&nm);
	CHECK(nm == NULL, "free must NULL the pointer");
}

static void
test_file_roundtrip(void)
{
	struct neural_model *nm = toy_model(), *back;
	char path[128];
	const char *err = NULL;

	snprintf(path, sizeof(path), "%s/w1", dir);
	CHECK_INT(neural_model_save(nm, path, &err), 0);
	back = neural_model_load(path, &err);
	CHECK(back != NULL, "load: %s", err ? err : "?");
	if (back != NULL) {
		CHECK_INT(back->bits, nm->bits);
		CHECK(back->bias == nm->bias, "bias differs");
		CHECK(memcmp(back->w, nm->w, sizeof(float) << nm->bits) == 0, "weights differ");
		CHECK(back->trained == nm->trained, "step count differs");
	}
	neural_model_free(&back);
	neural_model_free(&nm);
}

/* Rewrites octet off of path with x (or truncates to off when x < 0). */
static void
damage(const char *path, off_t off, int x)
{
	int fd = open(path, O_RDWR);
	unsigned char c = (unsigned char)x;

	CHECK(fd >= 0, "open %s", path);
	if (x < 0)
		CHECK_INT(ftruncate(fd, off), 0);
	else
		CHECK_INT(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void
test_file_refused(void)
{
	struct neural_model *nm = toy_model(), *back;
	struct {
		const char *name;
		off_t off;
		int x;
		const char *want;
	} cases[] = {
		{ "weight flipped", 100, 0x55, "weight file checksum mismatch" },
		{ "magic", 0, 'X', "not a version 1 weight file" },
		{ "bits", 12, 30, "weight file size does not match its header" },
		{ "truncated", 1000, -1, "weight file size does not match its header" },
		{ "tiny", 8, -1, "weight file has an impossible size" },
	};
	char path[128];
	const char *err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(path, sizeof(path), "%s/bad%zu", dir, i);
		CHECK_INT(neural_model_save(nm, path, &err), 0);
		damage(path, cases[i].off, cases[i].x);
		err = NULL;
		back = neural_model_load(path, &err);
		CHECK(back == NULL, "%s: loaded", cases[i].name);
		CHECK_STR(err, cases[i].want);
		neural_model_free(&back);
	}
	snprintf(path, sizeof(path), "%s/absent", dir);
	CHECK(neural_model_load(path, &err) == NULL, "absent file loaded");
	neural_model_free(&nm);
}

static void
test_symbols(void)
{
	CHECK_STR(neural_symbol(0.995), "NEURAL_SPAM_99");
	CHECK_STR(neural_symbol(0.95), "NEURAL_SPAM_90");
	CHECK_STR(neural_symbol(0.6), "NEURAL_SPAM_50");
	CHECK_STR(neural_symbol(0.5), "NEURAL_SPAM_50");
	CHECK_STR(neural_symbol(0.3), NULL);
	CHECK_STR(neural_symbol(0.05), "NEURAL_HAM_90");
	CHECK_STR(neural_symbol(0.001), "NEURAL_HAM_99");
}

static double
predict_msg(const struct neural_model *nm, const struct corpus_msg *c)
{
	struct mime_msg *m = mime_parse(c->data, c->len, NULL);
	struct neural_vec v = { NULL, 0, 0 };
	double p;

	neural_vec_build(m, NULL, 0, nm->bits, &v);
	p = neural_predict(nm, &v);
	neural_vec_free(&v);
	mime_msg_free(&m);
	return p;
}

static void
test_corpus(void)
{
	struct corpus_msg train_s[TRAIN_N], train_h[TRAIN_N], held_s[HELD_N], held_h[HELD_N];
	size_t ns = corpus_read("spam", 0, TRAIN_N, train_s);
	size_t nh = corpus_read("easy_ham", 0, TRAIN_N, train_h);
	size_t hs = corpus_read("spam", TRAIN_N, HELD_N, held_s);
	size_t hh = corpus_read("easy_ham", TRAIN_N, HELD_N, held_h);
	struct filter_neural_trainer *t = filter_neural_trainer_new(NULL);
	struct neural_model *nm;
	double min_s = 1, max_h = 0;
	char path[128];
	const char *err;

	CHECK(ns == TRAIN_N && nh == TRAIN_N && hs == HELD_N && hh == HELD_N,
	    "SpamAssassin corpus missing ($MG_CORPORA, ../shared/corpora, /work/shared/corpora)");
	for (size_t i = 0; i < ns; i++)
		CHECK_INT(filter_neural_trainer_add(t, train_s[i].data, train_s[i].len, 1), 0);
	for (size_t i = 0; i < nh; i++)
		CHECK_INT(filter_neural_trainer_add(t, train_h[i].data, train_h[i].len, 0), 0);
	CHECK_INT(filter_neural_trainer_size(t), ns + nh);
	snprintf(path, sizeof(path), "%s/%s", dir, NEURAL_FILE);
	CHECK_INT(filter_neural_trainer_run(t, FILTER_NEURAL_EPOCHS, FILTER_NEURAL_SEED, path,
	    NULL, NULL, &err), 0);
	nm = neural_model_load(path, &err);
	CHECK(nm != NULL, "load of the trained weights failed");
	for (size_t i = 0; nm != NULL && i < hs; i++)
		min_s = fmin(min_s, predict_msg(nm, &held_s[i]));
	for (size_t i = 0; nm != NULL && i < hh; i++)
		max_h = fmax(max_h, predict_msg(nm, &held_h[i]));
	CHECK(min_s > max_h, "held-out spam min %f must exceed held-out ham max %f", min_s, max_h);
	neural_model_free(&nm);
	filter_neural_trainer_free(&t);
	corpus_free(train_s, ns);
	corpus_free(train_h, nh);
	corpus_free(held_s, hs);
	corpus_free(held_h, hh);
}

static void
test_cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
}

static void
test_setup(void)
{
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
}

static const struct unit_case cases[] = {
	{ "setup", test_setup },
	{ "sgd_separates", test_sgd },
	{ "file_roundtrip", test_file_roundtrip },
	{ "file_refused", test_file_refused },
	{ "symbols", test_symbols },
	{ "corpus_ranks_spam_above_ham", test_corpus },
	{ "cleanup", test_cleanup },
};

UNIT_MAIN(cases)
