/* learn_corpus.h: a few dozen SpamAssassin corpus messages for the learning layers' unit tests
 * (test_bayes.c, test_neural.c). The messages of each folder are taken in name order: the
 * first TRAIN_N of spam/ and easy_ham/ train, the next HELD_N of each are held out. */
#ifndef TESTS_LEARN_CORPUS_H
#define TESTS_LEARN_CORPUS_H
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/xalloc.h"

#define TRAIN_N 40
#define HELD_N 8

struct corpus_msg {
	char *data;
	size_t len;
};

static int
corpus_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads messages [first, first + n) of SUB (sorted names) into out; returns how many. */
static size_t __attribute__((unused))
corpus_read(const char *sub, size_t first, size_t n, struct corpus_msg *out)
{
	/* $MG_CORPORA, else shared/corpora beside the checkout, else the workplace's copy (as
	 * tests/integ/corpora.py finds it; a clean clone elsewhere has no sibling) */
	const char *root = getenv("MG_CORPORA") ? getenv("MG_CORPORA") :
	    access("../shared/corpora/spam", R_OK) == 0 ? "../shared/corpora" : "/work/shared/corpora";
	char dir[1024], path[2048];
	char *names[4096];
	size_t nn = 0, got = 0;
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/spam/spamassassin/%s", root, sub);
	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL && nn < 4096)
		if (e->d_name[0] != '.')
			names[nn++] = xstrdup(e->d_name);
	closedir(d);
	qsort(names, nn, sizeof(*names), corpus_cmp);
	for (size_t i = first; i < nn && got < n; i++) {
		FILE *fp;
		long sz;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if ((fp = fopen(path, "rb")) == NULL)
			continue;
		fseek(fp, 0, SEEK_END);
		sz = ftell(fp);
		fseek(fp, 0, SEEK_SET);
		out[got].data = xmalloc((size_t)sz + 1);
		out[got].len = fread(out[got].data, 1, (size_t)sz, fp);
		out[got].data[out[got].len] = '\0';
		fclose(fp);
		got++;
	}
	for (size_t i = 0; i < nn; i++)
		xfree(names[i]);
	return got;
}

static void __attribute__((unused))
corpus_free(struct corpus_msg *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		xfree(m[i].data);
}

#endif
