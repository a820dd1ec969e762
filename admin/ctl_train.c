/* ctl_train.c: "mailguardctl train --spam|--ham PATH..." and "mailguardctl train-neural --spam
 * PATH... --ham PATH... [--epochs N] [--seed N]": teach the learning layers of the filter from
 * labelled mail. PATH is a message file, an mbox (a file whose first line starts "From " and
 * that has more "From " separator lines) or a directory (walked in name order, at most
 * WALK_DEPTH_MAX levels, e.g. a Maildir or a corpus folder).
 * Runs as the operator, outside the daemon, but writes the daemon's state directly (filter/
 * filter.h): the Bayes token store in state_dir/db (Berkeley DB environments are multi-process
 * safe; the running filter re-reads the store within 10 s) and state_dir/neural.weights
 * (replaced atomically; the filter loads it within 10 s). Started as root it first drops to the
 * daemon's `user` (lib/privdrop), so every file it creates stays the daemon's. Messages are
 * hostile input: parsed under common/mime.h's limits; files over FILTER_TRAIN_MSG_MAX and
 * runs over TRAIN_MSGS_MAX messages are refused. Progress goes to stderr when it is a tty. */
#include "admin/ctl_train.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "filter/filter.h"
#include "lib/kvdb.h"
#include "lib/privdrop.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

#define WALK_DEPTH_MAX 4
#define TRAIN_MSGS_MAX 2000000
#define PATHS_MAX 256

typedef int train_msg_fn(void *arg, const char *msg, size_t len, int is_spam);

struct walk {
	train_msg_fn *fn;
	void *arg;
	int is_spam;
	size_t n_msgs, n_skipped;
	int tty;
};

static void
progress_msgs(struct walk *w)
{
	if (w->tty && (w->n_msgs % 100) == 0)
		fprintf(stderr, "\rreading: %zu messages", w->n_msgs);
}

static int
one_msg(struct walk *w, const char *msg, size_t len)
{
	if (w->n_msgs >= TRAIN_MSGS_MAX) {
		fprintf(stderr, "mailguardctl: more than %d messages in one run\n", TRAIN_MSGS_MAX);
		return -1;
	}
	if (w->fn(w->arg, msg, len, w->is_spam) < 0) {
		w->n_skipped++;
		return 0;
	}
	w->n_msgs++;
	progress_msgs(w);
	return 0;
}

/* A file: one message (a leading mbox "From " line dropped) or an mbox of several. */
static int
split_file(struct walk *w, const char *data, size_t len)
{
	const char *p = data, *end = data + len, *next;

	if (len < 5 || strncmp(data, "From ", 5) != 0)
		return one_msg(w, data, len);
	while (p < end) {
		const char *body = memchr(p, '\n', (size_t)(end - p));

		if (body == NULL)
			break;
		body++;
		/* the next separator: "From " at the start of a line after an empty line */
		next = body;
		for (;;) {
			next = memmem(next, (size_t)(end - next), "\n\nFrom ", 7);
			if (next == NULL) {
				next = end;
				break;
			}
			next += 2;
			break;
		}
		if (next > body && one_msg(w, body, (size_t)(next - body)) < 0)
			return -1;
		p = next;
	}
	return 0;
}

static int
walk_file(struct walk *w, const char *path)
{
	struct stat st;
	char *data;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "mailguardctl: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size > (uint64_t)FILTER_TRAIN_MSG_MAX * 64) {
		fprintf(stderr, "mailguardctl: %s: too large, skipped\n", path);
		close(fd);
		w->n_skipped++;
		return 0;
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	data[got] = '\0';
	r = split_file(w, data, got);
	xfree(data);
	return r;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
walk_path(struct walk *w, const char *path, int depth)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "mailguardctl: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (S_ISREG(st.st_mode))
		return walk_file(w, path);
	if (!S_ISDIR(st.st_mode) || depth >= WALK_DEPTH_MAX)
		return 0;
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "mailguardctl: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, "cmds") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = xreallocarray(names, cap, sizeof(*names));
		}
		names[n++] = xasprintf("%s/%s", path, e->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_name);
	for (size_t i = 0; i < n; i++) {
		if (r == 0 && walk_path(w, names[i], depth + 1) < 0)
			r = -1;
		xfree(names[i]);
	}
	xfree(names);
	return r;
}

static int
train_usage(void)
{
	fprintf(stderr, "usage: mailguardctl [-c config_dir] train --spam|--ham PATH...\n"
	    "       mailguardctl [-c config_dir] train-neural --spam PATH... --ham PATH...\n"
	    "                    [--epochs N] [--seed N]\n"
	    "  PATH: a message file, an mbox file or a directory of them (e.g. a Maildir)\n");
	return 2;
}

/* Loads the configuration and, when root, becomes the daemon's user. */
static struct mg_config *
setup(const char *dir)
{
	struct mg_config *cfg = config_load(dir, stderr);
	const char *err;

	if (cfg == NULL) {
		fprintf(stderr, "mailguardctl: configuration in %s has errors\n", dir);
		return NULL;
	}
	if (geteuid() == 0 && privdrop(cfg->user, NULL, &err) < 0) {
		fprintf(stderr, "mailguardctl: cannot become %s: %s: %s\n", cfg->user, err,
		    strerror(errno));
		config_free(&cfg);
		return NULL;
	}
	return cfg;
}

static void
store_progress(void *arg, size_t done, size_t total)
{
	(void)arg;
	fprintf(stderr, "\rstoring tokens: %zu/%zu", done, total);
	if (done == total)
		fputc('\n', stderr);
}

struct bayes_run {
	struct filter_learner *l;
	struct mg_kvdb *kv;
	const char *db;
	int tty, failed;
	unsigned spam, ham;	/* committed so far */
};

static int
bayes_commit(struct bayes_run *b)
{
	const char *err;
	unsigned s, h;

	if (filter_learner_commit(b->l, b->kv, b->tty ? store_progress : NULL, NULL, &err) < 0) {
		fprintf(stderr, "mailguardctl: %s: %s\n", b->db, err);
		b->failed = 1;
		return -1;
	}
	filter_learner_counts(b->l, &s, &h);
	b->spam += s;
	b->ham += h;
	filter_learner_free(&b->l);
	b->l = filter_learner_new();
	return 0;
}

/* A full batch (about 4 million distinct tokens) is committed and the message retried. */
static int
learner_add(void *arg, const char *msg, size_t len, int is_spam)
{
	struct bayes_run *b = arg;
	unsigned s, h;

	if (b->failed)
		return -1;
	if (filter_learner_add(b->l, msg, len, is_spam) == 0)
		return 0;
	filter_learner_counts(b->l, &s, &h);
	if (s + h == 0 || len > FILTER_TRAIN_MSG_MAX || bayes_commit(b) < 0)
		return -1;
	return filter_learner_add(b->l, msg, len, is_spam);
}

static int
train_bayes(const char *dir, int is_spam, char **paths, int n_paths)
{
	struct bayes_run b = { filter_learner_new(), NULL, NULL, isatty(2), 0, 0, 0 };
	struct walk w = { learner_add, &b, is_spam, 0, 0, isatty(2) };
	struct mg_config *cfg;
	const char *err;
	char *db = NULL;
	int r = 1;

	if ((cfg = setup(dir)) == NULL)
		goto out;
	b.db = db = xasprintf("%s/db", cfg->state_dir);
	if ((b.kv = mg_kvdb_open(db, &err)) == NULL) {
		fprintf(stderr, "mailguardctl: %s: %s\n", db, err);
		goto out;
	}
	for (int i = 0; i < n_paths; i++)
		if (walk_path(&w, paths[i], 0) < 0 || b.failed)
			goto out;
	if (w.tty)
		fprintf(stderr, "\rreading: %zu messages\n", w.n_msgs);
	if (bayes_commit(&b) < 0)
		goto out;
	printf("learned %u spam and %u ham messages into %s (%zu skipped); the filter reloads "
	    "the store within 10 s\n", b.spam, b.ham, db, w.n_skipped);
	r = 0;
out:
	mg_kvdb_close(&b.kv);
	xfree(db);
	filter_learner_free(&b.l);
	config_free(&cfg);
	return r;
}

static int
trainer_add(void *arg, const char *msg, size_t len, int is_spam)
{
	return filter_neural_trainer_add(arg, msg, len, is_spam);
}

static void
epoch_progress(void *arg, size_t done, size_t total)
{
	(void)arg;
	fprintf(stderr, "\rtraining: %zu/%zu steps", done, total);
	if (done == total)
		fputc('\n', stderr);
}

struct neural_args {
	char *spam[PATHS_MAX], *ham[PATHS_MAX];
	int n_spam, n_ham;
	unsigned epochs;
	unsigned long long seed;
};

static int
parse_neural_args(int argc, char **argv, struct neural_args *a)
{
	int mode = 0;

	a->epochs = FILTER_NEURAL_EPOCHS;
	a->seed = FILTER_NEURAL_SEED;
	for (int i = 1; i < argc; i++) {
		long long v;
		const char *err;

		if (strcmp(argv[i], "--spam") == 0)
			mode = 1;
		else if (strcmp(argv[i], "--ham") == 0)
			mode = 2;
		else if (strcmp(argv[i], "--epochs") == 0 || strcmp(argv[i], "--seed") == 0) {
			if (i + 1 >= argc || strnum_ll(argv[i + 1], 1, argv[i][2] == 'e' ? 1000 :
			    1LL << 62, &v, &err) < 0)
				return -1;
			if (argv[i][2] == 'e')
				a->epochs = (unsigned)v;
			else
				a->seed = (unsigned long long)v;
			i++;
		} else if (mode == 1 && a->n_spam < PATHS_MAX)
			a->spam[a->n_spam++] = argv[i];
		else if (mode == 2 && a->n_ham < PATHS_MAX)
			a->ham[a->n_ham++] = argv[i];
		else
			return -1;
	}
	return a->n_spam > 0 && a->n_ham > 0 ? 0 : -1;
}

static int
train_neural(const char *dir, int argc, char **argv)
{
	struct neural_args a;
	struct filter_neural_trainer *t = NULL;
	struct walk w = { trainer_add, NULL, 1, 0, 0, isatty(2) };
	struct mg_config *cfg = NULL;
	size_t spam;
	char *path = NULL;
	const char *err;
	int r = 1;

	memset(&a, 0, sizeof(a));
	if (parse_neural_args(argc, argv, &a) < 0) {
		r = train_usage();
		goto out;
	}
	if ((cfg = setup(dir)) == NULL)
		goto out;
	w.arg = t = filter_neural_trainer_new(cfg);
	for (int i = 0; i < a.n_spam; i++)
		if (walk_path(&w, a.spam[i], 0) < 0)
			goto out;
	spam = w.n_msgs;
	w.is_spam = 0;
	for (int i = 0; i < a.n_ham; i++)
		if (walk_path(&w, a.ham[i], 0) < 0)
			goto out;
	if (w.tty)
		fprintf(stderr, "\rreading: %zu messages\n", w.n_msgs);
	path = xasprintf("%s/neural.weights", cfg->state_dir);
	if (filter_neural_trainer_run(t, a.epochs, a.seed, path, w.tty ? epoch_progress : NULL,
	    NULL, &err) < 0) {
		fprintf(stderr, "mailguardctl: %s: %s: %s\n", path, err, strerror(errno));
		goto out;
	}
	printf("trained the neural layer on %zu spam and %zu ham messages (%u epochs, seed %llu, "
	    "%zu skipped) into %s; the filter loads it within 10 s\n", spam, w.n_msgs - spam,
	    a.epochs, a.seed, w.n_skipped, path);
	r = 0;
out:
	xfree(path);
	filter_neural_trainer_free(&t);
	config_free(&cfg);
	return r;
}

int
ctl_train_main(const char *dir, int argc, char **argv)
{
	if (strcmp(argv[0], "train-neural") == 0)
		return train_neural(dir, argc, argv);
	if (argc < 3 || (strcmp(argv[1], "--spam") != 0 && strcmp(argv[1], "--ham") != 0))
		return train_usage();
	return train_bayes(dir, strcmp(argv[1], "--spam") == 0, argv + 2, argc - 2);
}
