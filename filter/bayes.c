/* bayes.c: the token Bayes model in memory: an open-addressing table of token hash -> (spam,
 * ham) message counts, Robinson's per-token probability f(w) = (s*x + n*p(w)) / (s + n) and
 * Fisher's chi-square combination of the BAYES_MAX_TOKENS_USED most extreme tokens into
 * I = (1 + S - H) / 2 (SpamBayes' "chi2" classifier: Robinson, "A Statistical Approach to the
 * Spam Problem", Linux Journal 2003). Pure: no I/O, no globals; a model is changed by one
 * thread at a time and read by any number once published. Bounded by BAYES_TOKENS_MAX. */
#include "filter/bayes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

struct bayes_slot {
	uint64_t h;		/* 0 = empty (hash 0 is stored as 1) */
	uint32_t spam, ham;
};

struct bayes_model {
	struct bayes_slot *slot;
	size_t cap, n;		/* cap is a power of two */
	uint32_t nspam, nham;	/* messages learned */
};

struct bayes_model *
bayes_model_new(void)
{
	struct bayes_model *m = xcalloc(1, sizeof(*m));

	m->cap = 1024;
	m->slot = xcalloc(m->cap, sizeof(*m->slot));
	return m;
}

void
bayes_model_free(struct bayes_model **mp)
{
	if (*mp == NULL)
		return;
	xfree((*mp)->slot);
	xfree(*mp);
	*mp = NULL;
}

static size_t
probe(const struct bayes_model *m, uint64_t h)
{
	size_t i = (size_t)(h ^ (h >> 29)) & (m->cap - 1);

	while (m->slot[i].h != 0 && m->slot[i].h != h)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static void
grow(struct bayes_model *m)
{
	struct bayes_slot *old = m->slot;
	size_t oldcap = m->cap;

	m->cap *= 2;
	m->slot = xcalloc(m->cap, sizeof(*m->slot));
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].h != 0)
			m->slot[probe(m, old[i].h)] = old[i];
	xfree(old);
}

static uint32_t
sat_add(uint32_t a, uint32_t b)
{
	return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

/* The slot of h, inserted empty when absent; NULL when the model is full. */
static struct bayes_slot *
slot_of(struct bayes_model *m, uint64_t h)
{
	size_t i;

	if (h == 0)
		h = 1;
	i = probe(m, h);
	if (m->slot[i].h == 0) {
		if (m->n >= BAYES_TOKENS_MAX)
			return NULL;
		if ((m->n + 1) * 10 > m->cap * 7) {
			grow(m);
			i = probe(m, h);
		}
		m->slot[i].h = h;
		m->n++;
	}
	return &m->slot[i];
}

int
bayes_model_add(struct bayes_model *m, uint64_t h, uint32_t spam, uint32_t ham)
{
	struct bayes_slot *s = slot_of(m, h);

	if (s == NULL)
		return -1;
	s->spam = sat_add(s->spam, spam);
	s->ham = sat_add(s->ham, ham);
	return 0;
}

int
bayes_model_put(struct bayes_model *m, uint64_t h, uint32_t spam, uint32_t ham)
{
	struct bayes_slot *s = slot_of(m, h);

	if (s == NULL)
		return -1;
	s->spam = spam;
	s->ham = ham;
	return 0;
}

int
bayes_model_learn(struct bayes_model *m, const struct token_set *set, int is_spam)
{
	int r = 0;

	/* all or nothing: a message is never half learned */
	if (m->n + set->n > BAYES_TOKENS_MAX)
		return -1;
	for (size_t i = 0; i < set->n; i++)
		if (bayes_model_add(m, set->h[i], is_spam ? 1 : 0, is_spam ? 0 : 1) < 0)
			r = -1;
	if (is_spam)
		m->nspam = sat_add(m->nspam, 1);
	else
		m->nham = sat_add(m->nham, 1);
	return r;
}

void
bayes_model_set_messages(struct bayes_model *m, uint32_t nspam, uint32_t nham)
{
	m->nspam = nspam;
	m->nham = nham;
}

void
bayes_model_messages(const struct bayes_model *m, uint32_t *nspam_r, uint32_t *nham_r)
{
	*nspam_r = m->nspam;
	*nham_r = m->nham;
}

size_t
bayes_model_size(const struct bayes_model *m)
{
	return m->n;
}

int
bayes_model_each(const struct bayes_model *m, bayes_visit_fn *fn, void *arg)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slot[i].h != 0 && fn(arg, m->slot[i].h, m->slot[i].spam, m->slot[i].ham) < 0)
			return -1;
	return 0;
}

/* Robinson's f(w) with x = 0.5; the spam and ham ratios are normalised by the message counts,
 * so an unbalanced training set does not bias single tokens. */
static double
token_prob(const struct bayes_model *m, uint32_t spam, uint32_t ham)
{
	double ps, ph, p, n;

	if (spam > m->nspam)
		spam = m->nspam;
	if (ham > m->nham)
		ham = m->nham;
	ps = (double)spam / m->nspam;
	ph = (double)ham / m->nham;
	if (ps + ph <= 0)
		return 0.5;
	p = ps / (ps + ph);
	n = (double)spam + ham;
	return (BAYES_STRENGTH * 0.5 + n * p) / (BAYES_STRENGTH + n);
}

/* P(chi2 >= x2) for v (even) degrees of freedom, summed in log space: the terms m^i/i! e^-m
 * underflow a double for the m that 150 extreme tokens give. */
static double
chi2q(double x2, size_t v)
{
	double m = x2 / 2.0, lt = -m, maxlt = -m, sum = 0;
	double terms[BAYES_MAX_TOKENS_USED + 1];
	size_t k = v / 2;

	terms[0] = lt;
	for (size_t i = 1; i < k; i++) {
		lt += log(m) - log((double)i);
		terms[i] = lt;
		if (lt > maxlt)
			maxlt = lt;
	}
	for (size_t i = 0; i < k; i++)
		sum += exp(terms[i] - maxlt);
	sum = exp(maxlt + log(sum));
	return sum > 1.0 ? 1.0 : sum;
}

static int
cmp_dist(const void *a, const void *b)
{
	double x = fabs(*(const double *)a - 0.5), y = fabs(*(const double *)b - 0.5);

	return x > y ? -1 : x < y;
}

double
bayes_model_classify(const struct bayes_model *m, const struct token_set *set)
{
	double *f, sln = 0, hln = 0, s, h;
	size_t n = 0;

	if (m->nspam == 0 || m->nham == 0 || set->n == 0)
		return 0.5;
	f = xreallocarray(NULL, set->n, sizeof(*f));
	for (size_t i = 0; i < set->n; i++) {
		uint64_t key = set->h[i] == 0 ? 1 : set->h[i];
		size_t j = probe(m, key);
		double p;

		if (m->slot[j].h == 0)
			continue;
		p = token_prob(m, m->slot[j].spam, m->slot[j].ham);
		if (fabs(p - 0.5) >= BAYES_MIN_DIST)
			f[n++] = p;
	}
	if (n == 0) {
		xfree(f);
		return 0.5;
	}
	qsort(f, n, sizeof(*f), cmp_dist);
	if (n > BAYES_MAX_TOKENS_USED)
		n = BAYES_MAX_TOKENS_USED;
	for (size_t i = 0; i < n; i++) {
		double p = f[i] < 1e-6 ? 1e-6 : f[i] > 1 - 1e-6 ? 1 - 1e-6 : f[i];
		sln += log(1.0 - p);
		hln += log(p);
	}
	xfree(f);
	s = 1.0 - chi2q(-2.0 * sln, 2 * n);	/* spamminess */
	h = 1.0 - chi2q(-2.0 * hln, 2 * n);	/* hamminess */
	return (1.0 + s - h) / 2.0;
}

const char *
bayes_symbol(double p)
{
	if (p >= 0.99)
		return "BAYES_SPAM_99";
	if (p >= 0.95)
		return "BAYES_SPAM_95";
	if (p >= 0.80)
		return "BAYES_SPAM_80";
	if (p <= 0.01)
		return "BAYES_HAM_99";
	if (p <= 0.05)
		return "BAYES_HAM_95";
	if (p <= 0.20)
		return "BAYES_HAM_80";
	return NULL;
}
