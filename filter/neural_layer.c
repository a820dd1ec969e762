/* neural_layer.c: the neural layer inside the filter role. The weights of
 * state_dir/neural.weights (written by mailguardctl train-neural with lib/atomicfile) are loaded
 * by the learning thread (bayes_layer.c) whenever the file changes and published as an
 * immutable, reference-counted snapshot: workers take a reference under a mutex held for two
 * pointer operations, never while scoring. content_neural_check runs last, so the symbols the
 * other content layers added are features too. Trusts the weight file only after
 * neural_model_load's checks. */
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include "filter/content.h"
#include "filter/filter_int.h"
#include "filter/neural.h"
#include "lib/log.h"
#include "lib/xalloc.h"

struct neural_snap {
	struct neural_model *nm;
	int refs;
};

static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;
static struct neural_snap *current;
static struct stat loaded_st;		/* identity of the file last tried (learning thread) */
static int tried;

static void
snap_unref(struct neural_snap **sp)
{
	struct neural_snap *s = *sp;
	int last;

	if (s == NULL)
		return;
	*sp = NULL;
	pthread_mutex_lock(&snap_lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&snap_lock);
	if (last) {
		neural_model_free(&s->nm);
		xfree(s);
	}
}

static struct neural_snap *
snap_ref(void)
{
	struct neural_snap *s;

	pthread_mutex_lock(&snap_lock);
	if ((s = current) != NULL)
		s->refs++;
	pthread_mutex_unlock(&snap_lock);
	return s;
}

static void
publish(struct neural_model *nm)
{
	struct neural_snap *s = NULL, *old;

	if (nm != NULL) {
		s = xcalloc(1, sizeof(*s));
		s->nm = nm;
		s->refs = 1;
	}
	pthread_mutex_lock(&snap_lock);
	old = current;
	current = s;
	pthread_mutex_unlock(&snap_lock);
	snap_unref(&old);
}

void
neural_layer_refresh(const char *state_dir)
{
	char *path = xasprintf("%s/%s", state_dir, NEURAL_FILE);
	struct neural_model *nm;
	struct stat st;
	const char *err;

	if (stat(path, &st) < 0) {
		if (tried && loaded_st.st_ino != 0)
			log_warn("filter: neural: %s is gone; keeping the loaded weights", path);
		memset(&loaded_st, 0, sizeof(loaded_st));
		tried = 1;
		xfree(path);
		return;
	}
	if (tried && st.st_dev == loaded_st.st_dev && st.st_ino == loaded_st.st_ino &&
	    st.st_size == loaded_st.st_size && st.st_mtim.tv_sec == loaded_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == loaded_st.st_mtim.tv_nsec) {
		xfree(path);
		return;
	}
	loaded_st = st;
	tried = 1;
	if ((nm = neural_model_load(path, &err)) == NULL)
		log_err("filter: neural: %s: %s; keeping the previous weights", path, err);
	else {
		log_info("filter: neural: loaded %s (2^%u weights, %llu training steps)", path,
		    nm->bits, (unsigned long long)nm->trained);
		publish(nm);
	}
	xfree(path);
}

void
neural_layer_fini(void)
{
	publish(NULL);
	tried = 0;
	memset(&loaded_st, 0, sizeof(loaded_st));
}

void
content_neural_check(struct content_ctx *c)
{
	struct neural_snap *s;
	struct neural_vec v = { NULL, 0, 0 };
	const char *syms[NEURAL_SYMS_MAX], *sym;
	size_t n = 0;

	if ((c->disabled & MG_LAYER_NEURAL) || c->mime == NULL || (s = snap_ref()) == NULL)
		return;
	for (size_t i = 0; i < c->score->n && n < NEURAL_SYMS_MAX; i++)
		syms[n++] = c->score->sym[i].name;
	neural_vec_build(c->mime, syms, n, s->nm->bits, &v);
	if ((sym = neural_symbol(neural_predict(s->nm, &v))) != NULL)
		filter_score_add(c->score, c->cfg, sym);
	neural_vec_free(&v);
	snap_unref(&s);
}
