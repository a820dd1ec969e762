/* eval.c: `make eval`, detection quality of the learning layers on the SpamAssassin public
 * corpus (../shared/corpora/spam/spamassassin). Not a test: a measurement, bounded (one parse
 * per message, 11 trainings of each model; a few minutes on 2 cores).
 *
 * Labels: spam/ and spam_2/ are spam; easy_ham/, easy_ham_2/, hard_ham/ are ham;
 * spam_2/00529.* is dropped (the corpus readme says it is a mislabelled non-spam).
 * Duplicates: messages are keyed by the md5 in their file name ("<serial>.<md5>"), the first
 * copy kept, so one message never sits on both sides of a split.
 * FIXED split: h = FNV-1a 64 of the md5 string; h % 5 == 0 -> held-back test part (~20 %),
 * else training part. 10-fold cross-validation runs on the training part only, fold =
 * (h / 5) % 10. Default scores and thresholds are chosen from the cross-validated figures, never
 * from the held-back part, which is scored once at the end.
 *
 * Figures: for Bayes alone, neural alone (a message counts as spam when the layer's probability
 * is >= 0.5, and at its top band), and the full content score with the default thresholds:
 * spam when the score reaches spam_quarantine (6, the default; offline the network layers
 * (RBL, SPF, DKIM, DMARC, URIBL) are absent, so the score is the content layers' only).
 * Usage: eval [-q] CORPUS_DIR   (-q: 3 folds, for a quick look) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/mime.h"
#include "config/config.h"
#include "filter/bayes.h"
#include "filter/filter.h"
#include "filter/filter_int.h"
#include "filter/neural.h"
#include "filter/tokens.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

struct sample {
	char name[80];
	int spam;
	uint64_t h;
	int test;		/* held-back part */
	int fold;
	struct token_set toks;
	struct neural_vec vec;
	char **syms;		/* offline content-layer symbols */
	size_t n_syms;
	double cscore;		/* their score */
	char *raw;		/* held-back messages only: the text, for the CPU figure */
	size_t raw_len;
	double pb, pn;		/* out-of-fold (training part) or held-back probabilities */
	double zn;		/* the neural layer's log-odds (pn unclipped) */
};

static struct sample *samples;
static size_t n_samples, cap_samples;
static int n_folds = 10;
static struct mg_config *cfg;	/* defaults: the content layers' configuration */
static struct neural_train_opts topts;	/* the daemon's defaults, EVAL_* knobs for CV runs */

static int
seen_md5(const char *md5)
{
	for (size_t i = 0; i < n_samples; i++) {
		const char *d = strchr(samples[i].name, '.');
		if (d != NULL && strcmp(d + 1, md5) == 0)
			return 1;
	}
	return 0;
}

static char *
read_file(const char *path, size_t *len_r)
{
	struct stat st;
	char *p;
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > FILTER_TRAIN_MSG_MAX) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	p = xmalloc((size_t)st.st_size + 1);
	n = read(fd, p, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		xfree(p);
		return NULL;
	}
	p[n] = '\0';
	*len_r = (size_t)n;
	return p;
}

static void
add_sample(const char *dir, const char *name, int spam)
{
	char path[4096];
	const char *md5 = strchr(name, '.'), *msg;
	struct sample *s;
	struct mime_msg *m;
	size_t len;
	char *data;

	if (md5 == NULL || strlen(name) >= sizeof(s->name) || seen_md5(md5 + 1))
		return;
	if (spam && strncmp(name, "00529.", 6) == 0 && strstr(dir, "spam_2") != NULL)
		return;
	if (str_fmt(path, sizeof(path), "%s/%s", dir, name) < 0)
		return;
	if ((data = read_file(path, &len)) == NULL)
		return;
	msg = data;
	if (strncmp(msg, "From ", 5) == 0 && strchr(msg, '\n') != NULL) {
		/* mbox separator line of the corpus files: not part of the message */
		const char *nl = strchr(msg, '\n') + 1;
		len -= (size_t)(nl - msg);
		msg = nl;
	}
	if (n_samples == cap_samples) {
		cap_samples = cap_samples ? cap_samples * 2 : 1024;
		samples = xreallocarray(samples, cap_samples, sizeof(*samples));
	}
	s = &samples[n_samples++];
	memset(s, 0, sizeof(*s));
	str_lcpy(s->name, name, sizeof(s->name));
	s->spam = spam;
	s->h = tokens_hash(md5 + 1, strlen(md5 + 1));
	s->test = s->h % 5 == 0;
	s->fold = (int)((s->h / 5) % (uint64_t)n_folds);
	{
		char names[NEURAL_SYMS_MAX][NEURAL_SYM_NAME_MAX];
		size_t n = neural_content_symbols(cfg, msg, len, names, NEURAL_SYMS_MAX, &s->cscore);

		s->syms = xreallocarray(NULL, n ? n : 1, sizeof(*s->syms));
		for (size_t i = 0; i < n; i++)
			s->syms[i] = xstrdup(names[i]);
		s->n_syms = n;
	}
	m = mime_parse(msg, len, NULL);
	tokens_hash_set(m, &s->toks);
	neural_vec_build(m, (const char *const *)s->syms, s->n_syms, NEURAL_BITS, &s->vec);
	mime_msg_free(&m);
	if (s->test) {
		s->raw = xmemdup(msg, len);
		s->raw_len = len;
	}
	xfree(data);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
load_dir(const char *corpus, const char *sub, int spam)
{
	char dir[4096];
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;

	if (str_fmt(dir, sizeof(dir), "%s/%s", corpus, sub) < 0)
		exit(2);
	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "eval: %s: %s\n", dir, strerror(errno));
		exit(1);
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, "cmds") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			names = xreallocarray(names, cap, sizeof(*names));
		}
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		add_sample(dir, names[i], spam);
		xfree(names[i]);
	}
	xfree(names);
}

/* ---- training and prediction on a subset ---- */

/* Trains on samples with in_train(i) and sets pb/pn of samples with in_eval(i). */
static void
run_round(int (*in_train)(size_t, int), int (*in_eval)(size_t, int), int arg)
{
	struct bayes_model *bm = bayes_model_new();
	struct neural_model *nm = neural_model_new(NEURAL_BITS);
	const struct neural_vec **vecs = xreallocarray(NULL, n_samples, sizeof(*vecs));
	int *labels = xreallocarray(NULL, n_samples, sizeof(*labels));
	size_t n = 0;

	for (size_t i = 0; i < n_samples; i++)
		if (in_train(i, arg)) {
			(void)bayes_model_learn(bm, &samples[i].toks, samples[i].spam);
			vecs[n] = &samples[i].vec;
			labels[n++] = samples[i].spam;
		}
	neural_train_ex(nm, (const struct neural_vec *const *)vecs, labels, n, &topts, NULL, NULL);
	for (size_t i = 0; i < n_samples; i++)
		if (in_eval(i, arg)) {
			samples[i].pb = bayes_model_classify(bm, &samples[i].toks);
			samples[i].zn = neural_margin(nm, &samples[i].vec);
			samples[i].pn = neural_predict(nm, &samples[i].vec);
		}
	bayes_model_free(&bm);
	neural_model_free(&nm);
	xfree(vecs);
	xfree(labels);
}

static int
cv_train(size_t i, int fold)
{
	return !samples[i].test && samples[i].fold != fold;
}

static int
cv_eval(size_t i, int fold)
{
	return !samples[i].test && samples[i].fold == fold;
}

static int
final_train(size_t i, int arg)
{
	(void)arg;
	return !samples[i].test;
}

static int
final_eval(size_t i, int arg)
{
	(void)arg;
	return samples[i].test;
}

/* ---- figures ---- */

static double
full_score(const struct sample *s)
{
	const char *b = bayes_symbol(s->pb), *n = neural_symbol(s->pn);
	double t = 0;

	if (b != NULL)
		t += filter_score_default(b);
	if (n != NULL)
		t += filter_score_default(n);
	return t + s->cscore;
}

struct rates {
	size_t spam, ham, tp, fp;
};

static void
print_rates(const char *what, const struct rates *r)
{
	printf("  %-36s spam detected %5.2f %% (%zu/%zu)   ham FP %5.2f %% (%zu/%zu)\n", what,
	    r->spam ? 100.0 * r->tp / r->spam : 0, r->tp, r->spam,
	    r->ham ? 100.0 * r->fp / r->ham : 0, r->fp, r->ham);
}

static void
report(const char *title, int test, double quarantine)
{
	struct rates rb = { 0 }, rb99 = { 0 }, rn = { 0 }, rn99 = { 0 }, rf = { 0 };

	for (size_t i = 0; i < n_samples; i++) {
		const struct sample *s = &samples[i];
		struct rates *all[] = { &rb, &rb99, &rn, &rn99, &rf };
		int hit[] = { s->pb >= 0.5, s->pb >= 0.99, s->pn >= 0.5, s->pn >= 0.99,
			full_score(s) >= quarantine };

		if (s->test != test)
			continue;
		for (size_t k = 0; k < 5; k++) {
			if (s->spam) {
				all[k]->spam++;
				all[k]->tp += (size_t)hit[k];
			} else {
				all[k]->ham++;
				all[k]->fp += (size_t)hit[k];
			}
		}
	}
	printf("%s\n", title);
	print_rates("Bayes alone (p >= 0.5)", &rb);
	print_rates("Bayes alone (BAYES_SPAM_99)", &rb99);
	print_rates("neural alone (p >= 0.5)", &rn);
	print_rates("neural alone (NEURAL_SPAM_99)", &rn99);
	print_rates("full content score >= 6", &rf);
}

/* Spam / ham counts per (Bayes band, neural band): the basis for choosing symbol scores. */
static void
band_table(int test)
{
	static const char *bb[] = { "BAYES_SPAM_99", "BAYES_SPAM_95", "BAYES_SPAM_80", "-",
		"BAYES_HAM_80", "BAYES_HAM_95", "BAYES_HAM_99" };
	static const char *nb[] = { "NEURAL_SPAM_99", "NEURAL_SPAM_90", "NEURAL_SPAM_50", "-",
		"NEURAL_HAM_90", "NEURAL_HAM_99" };
	size_t cnt[7][6][2];

	memset(cnt, 0, sizeof(cnt));
	for (size_t i = 0; i < n_samples; i++) {
		const struct sample *s = &samples[i];
		const char *b = bayes_symbol(s->pb), *n = neural_symbol(s->pn);
		size_t bi = 3, ni = 3;

		if (s->test != test)
			continue;
		for (size_t k = 0; k < 7; k++)
			if (b != NULL && strcmp(bb[k], b) == 0)
				bi = k;
		for (size_t k = 0; k < 6; k++)
			if (n != NULL && strcmp(nb[k], n) == 0)
				ni = k;
		cnt[bi][ni][s->spam]++;
	}
	printf("  bands (spam/ham)  ");
	for (size_t k = 0; k < 6; k++)
		printf(" %15s", nb[k]);
	printf("\n");
	for (size_t b = 0; b < 7; b++) {
		printf("  %-16s", bb[b]);
		for (size_t k = 0; k < 6; k++)
			printf(" %9zu/%-5zu", cnt[b][k][1], cnt[b][k][0]);
		printf("\n");
	}
}

/* Which held-back or out-of-fold messages the full score gets wrong, for the record. */
static void
list_errors(int test, double quarantine, size_t max)
{
	size_t shown = 0;

	for (size_t i = 0; i < n_samples && shown < max; i++) {
		const struct sample *s = &samples[i];
		int hit = full_score(s) >= quarantine;
		if (s->test == test && hit != s->spam) {
			printf("    %s %s pb=%.3f pn=%.3f score=%.1f\n", s->spam ? "missed" : "FP",
			    s->name, s->pb, s->pn, full_score(s));
			shown++;
		}
	}
}

/* Content symbols' hit counts on the training part only: the basis of their scores in
 * filter/score.c (never the held-back part). */
static void
symbol_table(void)
{
	char *names[256];
	size_t cnt[256][2], n = 0, tot[2] = { 0, 0 };

	memset(cnt, 0, sizeof(cnt));
	for (size_t i = 0; i < n_samples; i++) {
		const struct sample *s = &samples[i];

		if (!s->test)
			tot[s->spam]++;
		for (size_t k = 0; !s->test && k < s->n_syms; k++) {
			size_t j = 0;
			while (j < n && strcmp(names[j], s->syms[k]) != 0)
				j++;
			if (j == n && n < 256)
				names[n++] = s->syms[k];
			if (j < n)
				cnt[j][s->spam]++;
		}
	}
	printf("content symbols on the training part (spam / ham messages):\n");
	for (size_t j = 0; j < n; j++)
		printf("  %-24s %5.1f %6zu / %-6zu %5.2f %% / %5.2f %%\n", names[j],
		    filter_score_default(names[j]), cnt[j][1], cnt[j][0],
		    100.0 * (double)cnt[j][1] / (double)tot[1], 100.0 * (double)cnt[j][0] / (double)tot[0]);
}

/* The default configuration: a temporary directory with a minimal mailguard.conf. */
static struct mg_config *
default_config(void)
{
	char dir[] = "/tmp/mg-eval-XXXXXX", path[64];
	struct mg_config *c;
	FILE *fp;

	if (mkdtemp(dir) == NULL || str_fmt(path, sizeof(path), "%s/mailguard.conf", dir) < 0 ||
	    (fp = fopen(path, "w")) == NULL) {
		fprintf(stderr, "eval: cannot write a configuration in /tmp\n");
		exit(1);
	}
	fprintf(fp, "config_version = 1\nstate_dir = %s\nspool_dir = %s\n", dir, dir);
	fclose(fp);
	if ((c = config_load(dir, stderr)) == NULL)
		exit(1);
	unlink(path);
	rmdir(dir);
	return c;
}

/* CPU per message of the learning layers' scoring as the filter runs it (tokens, Bayes lookup
 * and combination, neural features and prediction; parsing excluded): the held-back part scored
 * again against models trained on the training part. */
static void
measure_cpu(const char *corpus_dir)
{
	struct bayes_model *bm = bayes_model_new();
	struct neural_model *nm = neural_model_new(NEURAL_BITS);
	struct timespec a, b;
	double total = 0, bytes = 0;
	size_t n = 0;

	(void)corpus_dir;
	for (size_t i = 0; i < n_samples; i++)
		if (!samples[i].test)
			(void)bayes_model_learn(bm, &samples[i].toks, samples[i].spam);
	for (size_t i = 0; i < n_samples; i++) {
		struct token_set set = { NULL, 0, 0 };
		struct neural_vec v = { NULL, 0, 0 };
		struct mime_msg *m;

		if (!samples[i].test || samples[i].raw == NULL)
			continue;
		m = mime_parse(samples[i].raw, samples[i].raw_len, NULL);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
		tokens_hash_set(m, &set);
		(void)bayes_model_classify(bm, &set);
		neural_vec_build(m, (const char *const *)samples[i].syms, samples[i].n_syms,
		    NEURAL_BITS, &v);
		(void)neural_predict(nm, &v);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
		total += (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
		bytes += (double)samples[i].raw_len;
		n++;
		token_set_free(&set);
		neural_vec_free(&v);
		mime_msg_free(&m);
	}
	if (n > 0)
		printf("CPU of Bayes + neural scoring (parse excluded): %.3f ms per message on average "
		    "over %zu held-back messages (mean size %.1f KiB)\n", total / (double)n, n,
		    bytes / (double)n / 1024);
	bayes_model_free(&bm);
	neural_model_free(&nm);
}

/* Out-of-fold probabilities as TSV (name, spam, pb, pn, score, content score, neural
 * log-odds, content symbols), for analysis. */
static void
dump(const char *path, int test)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		return;
	for (size_t i = 0; i < n_samples; i++)
		if (samples[i].test == test) {
			fprintf(fp, "%s\t%d\t%.17g\t%.17g\t%.2f\t%.2f\t%.4f\t", samples[i].name,
			    samples[i].spam, samples[i].pb, samples[i].pn, full_score(&samples[i]),
			    samples[i].cscore, samples[i].zn);
			for (size_t k = 0; k < samples[i].n_syms; k++)
				fprintf(fp, "%s%s", k ? "," : "", samples[i].syms[k]);
			fprintf(fp, "\n");
		}
	fclose(fp);
}

int
main(int argc, char **argv)
{
	const char *corpus;
	size_t ns = 0, nh = 0, nts = 0, nth = 0;
	struct timespec t0, t1;
	int opt;

	while ((opt = getopt(argc, argv, "q")) != -1)
		if (opt == 'q')
			n_folds = 3;
	if (optind >= argc) {
		fprintf(stderr, "usage: eval [-q] CORPUS_DIR\n");
		return 2;
	}
	corpus = argv[optind];
	/* tuning knobs, for cross-validation runs only */
	neural_train_opts_default(&topts);
	topts.epochs = FILTER_NEURAL_EPOCHS;
	topts.seed = FILTER_NEURAL_SEED;
	if (getenv("EVAL_EPOCHS") != NULL)
		topts.epochs = (unsigned)strtoul(getenv("EVAL_EPOCHS"), NULL, 10);
	if (getenv("EVAL_LR") != NULL)
		topts.lr = strtod(getenv("EVAL_LR"), NULL);
	if (getenv("EVAL_HAMW") != NULL)
		topts.ham_weight = strtod(getenv("EVAL_HAMW"), NULL);
	if (getenv("EVAL_AVG") != NULL)
		topts.average = (int)strtol(getenv("EVAL_AVG"), NULL, 10);
	log_init("eval", 1, LOG_LVL_WARN);
	cfg = default_config();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	load_dir(corpus, "spam", 1);
	load_dir(corpus, "spam_2", 1);
	load_dir(corpus, "easy_ham", 0);
	load_dir(corpus, "easy_ham_2", 0);
	load_dir(corpus, "hard_ham", 0);
	for (size_t i = 0; i < n_samples; i++) {
		if (samples[i].test)
			samples[i].spam ? nts++ : nth++;
		else
			samples[i].spam ? ns++ : nh++;
	}
	printf("corpus %s: %zu distinct messages; training part %zu spam + %zu ham, held-back "
	    "part %zu spam + %zu ham (split: FNV-1a(md5 of file name) %% 5 == 0)\n", corpus,
	    n_samples, ns, nh, nts, nth);
	if (getenv("EVAL_SYMBOLS") != NULL)
		symbol_table();
	for (int f = 0; f < n_folds; f++)
		run_round(cv_train, cv_eval, f);
	report("cross-validated on the training part (10-fold, out-of-fold predictions):", 0, 6.0);
	band_table(0);
	list_errors(0, 6.0, 20);
	if (getenv("EVAL_DUMP") != NULL)
		dump(getenv("EVAL_DUMP"), 0);
	if (getenv("EVAL_CV_ONLY") != NULL)	/* tuning runs never look at the held-back part */
		return 0;
	run_round(final_train, final_eval, 0);
	report("held-back part (models trained on the whole training part):", 1, 6.0);
	list_errors(1, 6.0, 20);
	measure_cpu(corpus);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("elapsed %.1f s\n", (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
