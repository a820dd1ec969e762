/* neural.c: the neural layer's model: logistic regression over hashed binary features scaled to
 * unit length (online, one SGD step per message; the TREC 2005-2007 spam tracks' best simple
 * learner over character 4-grams), and its versioned weight file (filter/neural.h). Pure apart
 * from neural_model_save/load; any thread. The weight file is trusted only after its size,
 * magic, version, bit count, CRC-32 and every weight's finiteness check out. */
#include "filter/neural.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "filter/tokens.h"
#include "lib/atomicfile.h"
#include "lib/xalloc.h"

#define MAGIC "MGNEURAL"
#define VERSION 1
#define HDR_SIZE 32		/* magic 8, version 4, bits 4, bias 4, reserved 4, trained 8 */

struct neural_model *
neural_model_new(unsigned bits)
{
	struct neural_model *nm = xcalloc(1, sizeof(*nm));

	nm->bits = bits;
	nm->w = xcalloc((size_t)1 << bits, sizeof(*nm->w));
	return nm;
}

void
neural_model_free(struct neural_model **mp)
{
	if (*mp == NULL)
		return;
	xfree((*mp)->w);
	xfree(*mp);
	*mp = NULL;
}

struct vec_ctx {
	struct neural_vec *v;
	uint32_t mask;
};

static void
vec_add(struct neural_vec *v, uint32_t idx)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 1024;
		v->idx = xreallocarray(v->idx, v->cap, sizeof(*v->idx));
	}
	v->idx[v->n++] = idx;
}

static void
vec_feature(void *arg, uint64_t h, float value)
{
	struct vec_ctx *c = arg;

	(void)value;	/* binary features: presence only */
	vec_add(c->v, (uint32_t)(h ^ (h >> 32)) & c->mask);
}

void
neural_vec_build(const struct mime_msg *m, const char *const *syms, size_t n_syms,
    unsigned bits, struct neural_vec *v)
{
	struct vec_ctx c = { v, ((uint32_t)1 << bits) - 1 };
	size_t w = 0;

	v->n = 0;
	(void)tokens_features(m, vec_feature, &c);
	for (size_t i = 0; i < n_syms && i < NEURAL_SYMS_MAX; i++) {
		char t[80];
		size_t l = strlen(syms[i]);

		if (strncmp(syms[i], "BAYES_", 6) == 0 || l + 2 > sizeof(t))
			continue;
		memcpy(t, "y:", 2);
		memcpy(t + 2, syms[i], l);
		vec_feature(&c, tokens_hash(t, l + 2), 1.0f);
	}
	tokens_sort_u32(v->idx, v->n);
	for (size_t i = 0; i < v->n; i++)
		if (w == 0 || v->idx[w - 1] != v->idx[i])
			v->idx[w++] = v->idx[i];
	v->n = w;
}

void
neural_vec_free(struct neural_vec *v)
{
	xfree(v->idx);
	memset(v, 0, sizeof(*v));
}

static double
margin(const struct neural_model *nm, const struct neural_vec *v, double *x_r)
{
	double z = 0, x = v->n > 0 ? 1.0 / sqrt((double)v->n) : 0;
	uint32_t mask = ((uint32_t)1 << nm->bits) - 1;

	for (size_t i = 0; i < v->n; i++)
		z += nm->w[v->idx[i] & mask];
	*x_r = x;
	return nm->bias + z * x;
}

static double
sigmoid(double z)
{
	if (z > 40)
		return 1.0;
	if (z < -40)
		return 0.0;
	return 1.0 / (1.0 + exp(-z));
}

double
neural_margin(const struct neural_model *nm, const struct neural_vec *v)
{
	double x;

	return margin(nm, v, &x);
}

double
neural_predict(const struct neural_model *nm, const struct neural_vec *v)
{
	double x;

	return sigmoid(margin(nm, v, &x));
}

/* One SGD step; when avg is not NULL, also accumulates c * update into avg (the averaging trick
 * of Daume's thesis: the mean of every step's weights is w - avg / c at the end). */
static void
train_step(struct neural_model *nm, const struct neural_vec *v, int is_spam, double lr,
    double ham_weight, double *avg, double *avg_bias, double c)
{
	double x, p = sigmoid(margin(nm, v, &x)), g = (is_spam ? 1.0 : 0.0) - p, d;
	uint32_t mask = ((uint32_t)1 << nm->bits) - 1;

	if (!is_spam)
		g *= ham_weight;	/* cost-sensitive: a false positive costs more */
	d = lr * g * x;
	for (size_t i = 0; i < v->n; i++) {
		uint32_t k = v->idx[i] & mask;
		nm->w[k] += (float)d;
		if (avg != NULL)
			avg[k] += c * d;
	}
	nm->bias += (float)(lr * g * 0.1);
	if (avg_bias != NULL)
		*avg_bias += c * lr * g * 0.1;
	nm->trained++;
}

void
neural_train_step(struct neural_model *nm, const struct neural_vec *v, int is_spam, double lr)
{
	train_step(nm, v, is_spam, lr, NEURAL_HAM_WEIGHT, NULL, NULL, 0);
}

const char *
neural_symbol(double p)
{
	if (p >= 0.99)
		return "NEURAL_SPAM_99";
	if (p >= 0.90)
		return "NEURAL_SPAM_90";
	if (p >= 0.50)
		return "NEURAL_SPAM_50";
	if (p <= 0.01)
		return "NEURAL_HAM_99";
	if (p <= 0.10)
		return "NEURAL_HAM_90";
	return NULL;
}

/* ---- weight file ---- */

static void
put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t
f2u(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static float
u2f(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

int
neural_model_save(const struct neural_model *nm, const char *path, const char **error_r)
{
	size_t dim = (size_t)1 << nm->bits, len = HDR_SIZE + dim * 4 + 4;
	unsigned char *p = xmalloc(len);
	int r;

	memcpy(p, MAGIC, 8);
	put32(p + 8, VERSION);
	put32(p + 12, nm->bits);
	put32(p + 16, f2u(nm->bias));
	put32(p + 20, 0);
	put32(p + 24, (uint32_t)nm->trained);
	put32(p + 28, (uint32_t)(nm->trained >> 32));
	for (size_t i = 0; i < dim; i++)
		put32(p + HDR_SIZE + 4 * i, f2u(nm->w[i]));
	put32(p + len - 4, (uint32_t)crc32(0L, p, (uInt)(len - 4)));
	r = atomicfile_write(path, p, len, 0640, error_r);
	xfree(p);
	return r;
}

static int
read_all(const char *path, unsigned char **data_r, size_t *len_r, const char **error_r)
{
	struct stat st;
	size_t max = HDR_SIZE + ((size_t)4 << NEURAL_BITS_MAX) + 4, got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		*error_r = errno == ENOENT ? "no weight file (run mailguardctl train-neural)" :
		    "cannot open the weight file";
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < HDR_SIZE + 4 ||
	    (size_t)st.st_size > max) {
		close(fd);
		*error_r = "weight file has an impossible size";
		return -1;
	}
	*data_r = xmalloc((size_t)st.st_size);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *data_r + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != (size_t)st.st_size) {
		xfree(*data_r);
		*error_r = "short read of the weight file";
		return -1;
	}
	*len_r = got;
	return 0;
}

struct neural_model *
neural_model_load(const char *path, const char **error_r)
{
	unsigned char *p;
	size_t len, dim;
	unsigned bits;
	struct neural_model *nm = NULL;

	if (read_all(path, &p, &len, error_r) < 0)
		return NULL;
	bits = get32(p + 12);
	if (memcmp(p, MAGIC, 8) != 0 || get32(p + 8) != VERSION) {
		*error_r = "not a version 1 weight file";
		goto out;
	}
	if (bits < NEURAL_BITS_MIN || bits > NEURAL_BITS_MAX ||
	    len != HDR_SIZE + ((size_t)4 << bits) + 4) {
		*error_r = "weight file size does not match its header";
		goto out;
	}
	if ((uint32_t)crc32(0L, p, (uInt)(len - 4)) != get32(p + len - 4)) {
		*error_r = "weight file checksum mismatch";
		goto out;
	}
	dim = (size_t)1 << bits;
	nm = neural_model_new(bits);
	nm->bias = u2f(get32(p + 16));
	nm->trained = (uint64_t)get32(p + 28) << 32 | get32(p + 24);
	for (size_t i = 0; i < dim; i++)
		nm->w[i] = u2f(get32(p + HDR_SIZE + 4 * i));
	for (size_t i = 0; i < dim && nm != NULL; i++)
		if (!isfinite(nm->w[i]))
			neural_model_free(&nm);
	if (nm != NULL && !isfinite(nm->bias))
		neural_model_free(&nm);
	if (nm == NULL)
		*error_r = "weight file holds a non-finite weight";
out:
	xfree(p);
	return nm;
}

/* ---- training ---- */

static uint64_t
xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

void
neural_train_opts_default(struct neural_train_opts *o)
{
	o->epochs = 10;
	o->lr = NEURAL_LR;
	o->ham_weight = NEURAL_HAM_WEIGHT;
	o->average = NEURAL_AVERAGE;
	o->seed = 1;
}

void
neural_train_ex(struct neural_model *nm, const struct neural_vec *const *vecs,
    const int *labels, size_t n, const struct neural_train_opts *o,
    void (*progress)(void *arg, size_t done, size_t total), void *arg)
{
	size_t *order = xreallocarray(NULL, n ? n : 1, sizeof(*order)), dim = (size_t)1 << nm->bits;
	uint64_t st = o->seed ? o->seed : 1;
	double *avg = o->average ? xcalloc(dim, sizeof(*avg)) : NULL, avg_bias = 0, c = 1;

	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (unsigned e = 0; e < o->epochs; e++) {
		for (size_t i = n; i > 1; i--) {
			size_t j = (size_t)(xorshift(&st) % i), t = order[i - 1];
			order[i - 1] = order[j];
			order[j] = t;
		}
		for (size_t i = 0; i < n; i++, c++)
			train_step(nm, vecs[order[i]], labels[order[i]], o->lr / (1.0 + e),
			    o->ham_weight, avg, &avg_bias, c);
		if (progress != NULL)
			progress(arg, (size_t)(e + 1) * n, (size_t)o->epochs * n);
	}
	if (avg != NULL) {
		/* the averaged model: the mean of the weights after every step */
		for (size_t k = 0; k < dim; k++)
			nm->w[k] = (float)(nm->w[k] - avg[k] / c);
		nm->bias = (float)(nm->bias - avg_bias / c);
		xfree(avg);
	}
	xfree(order);
}

void
neural_train(struct neural_model *nm, const struct neural_vec *const *vecs,
    const int *labels, size_t n, unsigned epochs, double lr, uint64_t seed,
    void (*progress)(void *arg, size_t done, size_t total), void *arg)
{
	struct neural_train_opts o;

	neural_train_opts_default(&o);
	o.epochs = epochs;
	o.lr = lr;
	o.seed = seed;
	neural_train_ex(nm, vecs, labels, n, &o, progress, arg);
}
