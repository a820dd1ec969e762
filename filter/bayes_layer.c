/* bayes_layer.c: the learning layers inside the filter role: content_learn_init/reload/fini, the
 * learning thread, and the Bayes check. The token store (table "bayes" of state_dir/db, written
 * by mailguardctl train and by operator actions through filter/filter.h) is read whole into an
 * immutable in-memory snapshot, so a worker scores a message with hash lookups and no Berkeley
 * DB call. The learning thread (never the loop: Berkeley DB and file reads block) checks every
 * LEARN_CHECK_SEC, and at once on reload, whether the store's serial or the neural weight file
 * changed, and swaps in new snapshots. Workers hold a reference for one message at a time.
 * Limits: BAYES_TOKENS_MAX tokens in a snapshot; a snapshot that fails to load keeps the old. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "filter/bayes.h"
#include "filter/content.h"
#include "filter/filter_int.h"
#include "filter/neural.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define LEARN_CHECK_SEC 10

struct bayes_snap {
	struct bayes_model *m;
	uint64_t serial;
	int refs;
};

static struct {
	pthread_mutex_t lock;		/* guards everything below */
	pthread_cond_t cond;
	struct bayes_snap *snap;
	int stop, kick;
	pthread_t thread;
	int running;
	struct mg_kvdb *kv;		/* borrowed: the filter's environment, NULL = none */
	char *state_dir;
} learn = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0, 0, NULL,
	NULL };

static void
snap_unref(struct bayes_snap **sp)
{
	struct bayes_snap *s = *sp;
	int last;

	if (s == NULL)
		return;
	*sp = NULL;
	pthread_mutex_lock(&learn.lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&learn.lock);
	if (last) {
		bayes_model_free(&s->m);
		xfree(s);
	}
}

static struct bayes_snap *
snap_ref(void)
{
	struct bayes_snap *s;

	pthread_mutex_lock(&learn.lock);
	if ((s = learn.snap) != NULL)
		s->refs++;
	pthread_mutex_unlock(&learn.lock);
	return s;
}

/* Reloads the Bayes snapshot when the store's serial moved. Learning thread or init. */
static void
bayes_refresh(void)
{
	struct bayes_snap *s, *old;
	struct bayes_model *m;
	uint32_t ns, nh;
	uint64_t serial, have;
	const char *err;

	if (learn.kv == NULL || bayes_store_meta(learn.kv, &ns, &nh, &serial) < 0)
		return;
	pthread_mutex_lock(&learn.lock);
	have = learn.snap != NULL ? learn.snap->serial : 0;
	pthread_mutex_unlock(&learn.lock);
	if (serial == have && (serial == 0 || learn.snap != NULL))
		return;
	if ((m = bayes_store_load(learn.kv, &serial, &err)) == NULL) {
		log_err("filter: bayes: %s; keeping the previous snapshot", err);
		return;
	}
	bayes_model_messages(m, &ns, &nh);
	log_info("filter: bayes: snapshot serial=%llu tokens=%zu spam=%u ham=%u",
	    (unsigned long long)serial, bayes_model_size(m), ns, nh);
	s = xcalloc(1, sizeof(*s));
	s->m = m;
	s->serial = serial;
	s->refs = 1;
	pthread_mutex_lock(&learn.lock);
	old = learn.snap;
	learn.snap = s;
	pthread_mutex_unlock(&learn.lock);
	snap_unref(&old);
}

static void *
learn_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&learn.lock);
	while (!learn.stop) {
		struct timespec ts;

		if (!learn.kick) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += LEARN_CHECK_SEC;
			(void)pthread_cond_timedwait(&learn.cond, &learn.lock, &ts);
		}
		if (learn.stop)
			break;
		learn.kick = 0;
		pthread_mutex_unlock(&learn.lock);
		bayes_refresh();
		neural_layer_refresh(learn.state_dir);
		pthread_mutex_lock(&learn.lock);
	}
	pthread_mutex_unlock(&learn.lock);
	return NULL;
}

int
content_learn_init(struct ev_loop *loop, const struct mg_config *cfg, struct mg_kvdb *kv,
    const char **error_r)
{
	(void)loop;
	learn.kv = kv;
	learn.state_dir = xstrdup(cfg->state_dir);
	learn.stop = learn.kick = 0;
	/* first snapshots before the role says ready, so the first message sees them */
	bayes_refresh();
	neural_layer_refresh(learn.state_dir);
	if (pthread_create(&learn.thread, NULL, learn_thread, NULL) != 0) {
		*error_r = "cannot start the learning thread";
		return -1;
	}
	learn.running = 1;
	return 0;
}

void
content_learn_reload(const struct mg_config *cfg)
{
	(void)cfg;	/* state_dir is not reloadable; bayes_min_learned is read per message */
	pthread_mutex_lock(&learn.lock);
	learn.kick = 1;
	pthread_cond_signal(&learn.cond);
	pthread_mutex_unlock(&learn.lock);
}

void
content_learn_fini(void)
{
	struct bayes_snap *old;

	if (learn.running) {
		pthread_mutex_lock(&learn.lock);
		learn.stop = 1;
		pthread_cond_signal(&learn.cond);
		pthread_mutex_unlock(&learn.lock);
		pthread_join(learn.thread, NULL);
		learn.running = 0;
	}
	pthread_mutex_lock(&learn.lock);
	old = learn.snap;
	learn.snap = NULL;
	pthread_mutex_unlock(&learn.lock);
	snap_unref(&old);
	neural_layer_fini();
	xfree(learn.state_dir);
	learn.state_dir = NULL;
	learn.kv = NULL;
}

void
content_bayes_check(struct content_ctx *c)
{
	struct bayes_snap *s;
	struct token_set set = { NULL, 0, 0 };
	uint32_t ns, nh, min;
	const char *sym;

	if ((c->disabled & MG_LAYER_BAYES) || c->mime == NULL || (s = snap_ref()) == NULL)
		return;
	bayes_model_messages(s->m, &ns, &nh);
	min = c->cfg != NULL ? (uint32_t)c->cfg->bayes_min_learned : 200;
	if (ns >= min && nh >= min) {
		tokens_hash_set(c->mime, &set);
		if ((sym = bayes_symbol(bayes_model_classify(s->m, &set))) != NULL)
			filter_score_add(c->score, c->cfg, sym);
		token_set_free(&set);
	}
	snap_unref(&s);
}
