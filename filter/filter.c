/* filter.c: the filter role's entry point (filter_main) and shared state: the async resolver on
 * the loop, the Berkeley DB environment (greylist triplets, DMARC rows), the Public Suffix List,
 * the worker pool, the smtpd channel, and configuration generations so a reload applies to new
 * messages while jobs in flight finish with the configuration they started with.
 * Runs as the unprivileged user after role_drop_privileges(). Trusts only the supervisor and
 * smtpd channels (our own processes, strictly decoded). Pool size and queue bound come from
 * filter_threads and filter_queue_max; a full pool answers 451 4.3.2 (fsession.c). Every
 * filter_maintenance_interval a pool job sweeps expired greylist triplets (at most
 * MAINT_SWEEP_MAX per run) and checkpoints the Berkeley DB environment (bounding its log). */
#include <string.h>
#include <time.h>

#include "common/metrics.h"
#include "common/role.h"
#include "dmarc/dmarc.h"
#include "filter/content.h"
#include "filter/dmarc_rua.h"
#include "filter/tlsrpt_rua.h"
#include "filter/dmarc_job.h"
#include "filter/filter_ctl.h"
#include "filter/filter_int.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

struct filter_state filter;

static struct filter_gen *
gen_new(struct mg_config *cfg)
{
	struct filter_gen *g = xcalloc(1, sizeof(*g));
	struct mg_greylist_params p;
	const char *err;

	g->cfg = cfg;
	g->refs = 1;
	if (filter.kv != NULL) {
		p.delay = cfg->greylist_delay;
		p.retry_window = cfg->greylist_retry_window;
		p.pass_lifetime = cfg->greylist_pass_lifetime;
		if ((g->gl = mg_greylist_new(filter.kv, &p, &err)) == NULL)
			log_err("filter: greylisting off: %s", err);
	}
	return g;
}

struct filter_gen *
filter_gen_ref(void)
{
	filter.gen->refs++;
	return filter.gen;
}

void
filter_gen_unref(struct filter_gen **gp)
{
	struct filter_gen *g = *gp;

	if (g == NULL)
		return;
	*gp = NULL;
	if (--g->refs > 0)
		return;
	mg_greylist_free(&g->gl);
	config_free(&g->cfg);
	xfree(g);
}

/* The filter keeps its own copy of the configuration: role.c frees the previous one right after
 * on_reload, while pool jobs may still be reading it. */
static struct mg_config *
load_private_config(void)
{
	return config_load(role.config_dir, NULL);
}

/* ---- maintenance (filter_maintenance_interval): a pool job, never the loop ---- */

#define MAINT_SWEEP_CHUNK 1000		/* triplets per sweep transaction */
#define MAINT_SWEEP_MAX 100000		/* triplets visited per run; the rest wait for the next */

struct maint_job {
	struct workq_job w;
	struct filter_gen *g;		/* counted reference: its greylist */
	long long now;
	size_t visited, removed;
	int swept_all;			/* a full pass over the triplets ended */
	int sweep_err, ckpt_err;
};

static void
maint_run(struct workq_job *w, void *ctx)
{
	struct maint_job *j = (struct maint_job *)w;
	const char *err;
	int r = 0;

	(void)ctx;
	while (j->g->gl != NULL && j->visited < MAINT_SWEEP_MAX) {
		r = mg_greylist_sweep(j->g->gl, j->now, MAINT_SWEEP_CHUNK, &j->removed);
		j->visited += MAINT_SWEEP_CHUNK;
		if (r != 0)
			break;
	}
	j->swept_all = r == 1;
	j->sweep_err = r < 0;
	(void)dmarc_rua_expire(j->now, j->g->cfg->dmarc_rua_retention, MAINT_SWEEP_MAX, NULL);
	(void)tlsrpt_rua_expire(j->now, j->g->cfg->tlsrpt_rua_retention, MAINT_SWEEP_MAX, NULL);
	/* flushes pages and removes log files older than the checkpoint (lib/kvdb.c), so the
	 * log stays bounded by what was written since the last run */
	j->ckpt_err = filter.kv != NULL && mg_kvdb_checkpoint(filter.kv, &err) < 0;
}

static void
maint_done(struct workq_job *w, int cancelled)
{
	struct maint_job *j = (struct maint_job *)w;

	if (!cancelled)
		log_info("filter: maintenance: greylist removed=%zu pass=%s checkpoint=%s",
		    j->removed, j->sweep_err ? "error" : j->swept_all ? "complete" : "partial",
		    filter.kv == NULL ? "none" : j->ckpt_err ? "error" : "ok");
	filter.maint_busy = 0;
	filter_gen_unref(&j->g);
	xfree(j);
}

static void
maint_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct maint_job *j;

	(void)loop;
	(void)w;
	(void)revents;
	if (filter.maint_busy || filter.shutting_down || filter.kv == NULL)
		return;
	j = xcalloc(1, sizeof(*j));
	j->w.run = maint_run;
	j->w.done = maint_done;
	j->g = filter_gen_ref();
	j->now = (long long)time(NULL);
	if (workq_submit(filter.wq, &j->w) < 0) {
		/* pool full of mail: mail first, maintenance at the next tick */
		filter_gen_unref(&j->g);
		xfree(j);
		return;
	}
	filter.maint_busy = 1;
}

static void
maint_arm(const struct mg_config *cfg)
{
	ev_timer_stop(role.loop, &filter.maint);
	ev_timer_set(&filter.maint, (double)cfg->filter_maintenance_interval,
	    (double)cfg->filter_maintenance_interval);
	ev_timer_start(role.loop, &filter.maint);
}

static void
filter_reload(struct mg_config *old)
{
	struct mg_config *cfg;

	(void)old;
	if ((cfg = load_private_config()) == NULL) {
		log_err("filter: reload: configuration has errors; keeping the running one");
		return;
	}
	filter_gen_unref(&filter.gen);
	filter.gen = gen_new(cfg);
	content_reload(cfg);
	maint_arm(cfg);
	dmarc_job_arm(cfg);
}

static void
filter_shutdown(void)
{
	if (filter.shutting_down)
		return;
	filter.shutting_down = 1;
	ev_timer_stop(role.loop, &filter.maint);
	dmarc_job_stop();
	fsession_free_all();
	/* finished and cancelled jobs are answered or dropped by their done callbacks; the
	 * channel is closed below so nothing more is sent */
	workq_free(&filter.wq);
	content_fini();		/* after the pool: no worker reads the layers' snapshots now */
	fsession_free_all();
	mg_dns_free(&filter.dns);
	if (filter.smtpd != NULL)
		ipc_flush_wait(filter.smtpd, 1000);
	filter_gen_unref(&filter.gen);
	mg_psl_free(&filter.psl);
	dmarc_rua_fini();
	tlsrpt_rua_fini();
	mg_kvdb_close(&filter.kv);
	role_exit(0);
}

/* smtpd went away: at an orderly stop the supervisor's IPC_SHUTDOWN follows; after a crash
 * it restarts smtpd and sends IPC_PEER_RESET. The sessions were the old process's: dropped
 * (results of checks still running find no session and are discarded). */
static void
smtpd_closed(struct ipc_chan *chan, void *arg)
{
	(void)arg;
	(void)chan;
	ipc_chan_free(&filter.smtpd);
	fsession_free_all();
	if (!filter.shutting_down)
		log_info("filter: smtpd channel closed; waiting for the supervisor");
}

static void
filter_peer_reset(const char *peer, int fd)
{
	if (strcmp(peer, "smtpd") != 0)
		panic("filter: IPC_PEER_RESET for unknown peer %s", peer);
	if (filter.smtpd != NULL) {
		ipc_chan_free(&filter.smtpd);
		fsession_free_all();
	}
	filter.smtpd = ipc_chan_new(role.loop, fd, "smtpd", filter_smtpd_msg, smtpd_closed, NULL);
}

static void
open_resolver(const struct mg_config *cfg)
{
	struct mg_dns_config dc;
	const char *err;

	memset(&dc, 0, sizeof(dc));
	for (size_t i = 0; i < cfg->n_resolvers && dc.n_servers < MG_DNS_SERVERS_MAX; i++)
		str_lcpy(dc.servers[dc.n_servers++], cfg->resolvers[i], sizeof(dc.servers[0]));
	dc.timeout_ms = cfg->dns_timeout_ms;
	dc.attempts = cfg->dns_attempts;
	dc.udp_size = 1232;
	if ((filter.dns = mg_dns_new(role.loop, &dc, &err)) == NULL)
		fatal("filter: resolver: %s", err);
}

static void
open_state(const struct mg_config *cfg)
{
	const char *err;
	char *dir = xasprintf("%s/db", cfg->state_dir);

	if ((filter.kv = mg_kvdb_open(dir, &err)) == NULL)
		log_err("filter: %s: %s; greylisting and DMARC records off", dir, err);
	else if ((filter.dmarc_tab = mg_kvdb_table(filter.kv, "dmarc", &err)) == NULL)
		log_err("filter: dmarc table: %s", err);
	xfree(dir);
	if ((filter.psl = mg_psl_new(cfg->psl_file, &err)) == NULL)
		log_err("filter: public suffix list %s: %s; DMARC layer off",
		    cfg->psl_file != NULL ? cfg->psl_file : MG_PSL_DEFAULT_PATH, err);
}

int
filter_main(void)
{
	struct mg_config *cfg;
	const char *err;

	role.on_reload = filter_reload;
	role.on_shutdown = filter_shutdown;
	role.on_peer_reset = filter_peer_reset;
	role.on_sup_msg = filter_ctl_msg;	/* dmarc ..., tls-reports ... (filter_ctl.c) */
	role_drop_privileges();
	metrics_open(role.cfg->state_dir, "filter");
	if ((cfg = load_private_config()) == NULL)
		fatal("filter: configuration in %s has errors", role.config_dir);
	open_resolver(cfg);
	open_state(cfg);
	dmarc_rua_init(cfg);	/* libxml2 before any worker thread */
	tlsrpt_rua_init();
	if (content_init(role.loop, cfg, filter.kv, &err) < 0)
		fatal("filter: content layers: %s", err);
	filter.gen = gen_new(cfg);
	fsession_init();
	filter.wq = workq_new(role.loop, cfg->filter_threads, (size_t)cfg->filter_queue_max,
	    filter_thread_init, filter_thread_fini, NULL);
	filter.smtpd = ipc_chan_new(role.loop, ROLE_FD_PEER1, "smtpd", filter_smtpd_msg,
	    smtpd_closed, NULL);
	ev_timer_init(&filter.maint, maint_tick, 0., 0.);
	maint_arm(cfg);
	dmarc_job_arm(cfg);
	log_info("filter: %d threads, queue %d, %zu rbl lists, maintenance every %llds",
	    cfg->filter_threads, cfg->filter_queue_max, cfg->n_rbl,
	    cfg->filter_maintenance_interval);
	role_ready();
	role_run();
	return 0;
}
