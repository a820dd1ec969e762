/* sched.c: delivery scheduling in the queue role. A min-heap orders waiting messages by their
 * next attempt; due messages are routed per recipient (protected domain -> its transport;
 * other domains are outbound, which arrives with issue B and is deferred until then), split
 * into one job per destination and sent to the delivery role with a read-only body fd.
 * Results update recipients; temporary failures back off (retry_min doubling to retry_max),
 * permanent ones and expiry (queue_lifetime) produce RFC 3464 bounces; NOTIFY is honoured.
 * Queue role, main thread. Trusts delivery results after strict IPC decoding. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/ipc_msg.h"
#include "common/metrics.h"
#include "common/role.h"
#include "config/config.h"
#include "lib/log.h"
#include "lib/sanitize.h"
#include "lib/str.h"
#include "lib/xalloc.h"
#include "queue/bounce.h"
#include "queue/dmarc_out.h"
#include "queue/queue_int.h"

/* Per-domain delivery counters (common/metrics.h): the recipient domain for inbound mail, the
 * sender domain for outbound mail. */
static void
sched_count_result(const struct envelope *env, const struct envelope_rcpt *r,
    enum envelope_rcpt_state st)
{
	int out = env->direction == ENV_OUTBOUND;
	const char *d = envelope_addr_domain(out ? env->sender : r->addr);

	metrics_inc_domain(st == ENV_RCPT_DELIVERED ? MD_OUT_DELIVERED : st == ENV_RCPT_PENDING ?
	    MD_OUT_DEFERRED : MD_OUT_BOUNCED, d, 1);
	if (out && st == ENV_RCPT_DELIVERED)
		metrics_inc_domain(MD_OUT_SENT, d, 1);
}

#define RETURN_LIMIT 50000	/* bounce returns the full message up to this size */
#define JOB_RCPTS_MAX 1000

struct job {
	uint32_t id;
	int in_use;
	struct qmsg *msg;
	size_t n;
	uint32_t *idx;
};

static struct {
	struct job *jobs;
	uint32_t n_jobs, cap_jobs;
	uint32_t *free_ids;
	uint32_t n_free;
} js;

void
sched_init(void)
{
	q.heap_cap = 1024;
	q.heap = xcalloc(q.heap_cap, sizeof(*q.heap));
}

/* ---- heap ---- */

static void
heap_swap(size_t a, size_t b)
{
	struct qmsg *t = q.heap[a];

	q.heap[a] = q.heap[b];
	q.heap[b] = t;
	q.heap[a]->heap_idx = a;
	q.heap[b]->heap_idx = b;
}

static void
heap_up(size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (q.heap[p]->next_attempt <= q.heap[i]->next_attempt)
			break;
		heap_swap(i, p);
		i = p;
	}
}

static void
heap_down(size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < q.heap_len && q.heap[l]->next_attempt < q.heap[m]->next_attempt)
			m = l;
		if (r < q.heap_len && q.heap[r]->next_attempt < q.heap[m]->next_attempt)
			m = r;
		if (m == i)
			return;
		heap_swap(i, m);
		i = m;
	}
}

void
sched_push(struct qmsg *m)
{
	if (m->heap_idx != SIZE_MAX || m->held || m->quarantined || m->rate_bucket)
		return;
	if (q.heap_len == q.heap_cap) {
		q.heap_cap *= 2;
		q.heap = xreallocarray(q.heap, q.heap_cap, sizeof(*q.heap));
	}
	m->heap_idx = q.heap_len;
	q.heap[q.heap_len++] = m;
	heap_up(m->heap_idx);
}

void
sched_remove(struct qmsg *m)
{
	size_t i = m->heap_idx;

	rate_sched_unlink(m);
	if (i == SIZE_MAX)
		return;
	m->heap_idx = SIZE_MAX;
	q.heap_len--;
	if (i == q.heap_len)
		return;
	q.heap[i] = q.heap[q.heap_len];
	q.heap[i]->heap_idx = i;
	heap_up(i);
	heap_down(q.heap[i]->heap_idx);
}

long long
sched_backoff(int attempts)
{
	long long d = role.cfg->retry_min;

	for (int i = 1; i < attempts && d < role.cfg->retry_max; i++)
		d *= 2;
	return d > role.cfg->retry_max ? role.cfg->retry_max : d;
}

/* ---- jobs ---- */

static struct job *
job_new(struct qmsg *m)
{
	uint32_t id;
	struct job *j;

	if (js.n_free > 0) {
		id = js.free_ids[--js.n_free];
	} else {
		if (js.n_jobs == js.cap_jobs) {
			js.cap_jobs = js.cap_jobs ? js.cap_jobs * 2 : 256;
			js.jobs = xreallocarray(js.jobs, js.cap_jobs, sizeof(*js.jobs));
			js.free_ids = xreallocarray(js.free_ids, js.cap_jobs, sizeof(*js.free_ids));
		}
		id = js.n_jobs++;
	}
	j = &js.jobs[id];
	memset(j, 0, sizeof(*j));
	j->id = id + 1;		/* 0 is never a job id */
	j->in_use = 1;
	j->msg = m;
	j->idx = xcalloc(JOB_RCPTS_MAX, sizeof(*j->idx));
	m->jobs++;
	return j;
}

static void
job_free(struct job *j)
{
	xfree(j->idx);
	j->idx = NULL;
	j->in_use = 0;
	js.free_ids[js.n_free++] = j->id - 1;
}

static int
load_env(struct qmsg *m)
{
	const char *err;

	if (m->env)
		return 0;
	m->env = xcalloc(1, sizeof(*m->env));
	envelope_init(m->env);
	if (spool_read_env(q.spool, m->area, m->qid, m->env, &err) < 0) {
		log_err("%s: cannot load envelope: %s", m->qid, err);
		xfree(m->env);
		m->env = NULL;
		return -1;
	}
	return 0;
}

static void
drop_env(struct qmsg *m)
{
	if (m->env) {
		envelope_clear(m->env);
		xfree(m->env);
		m->env = NULL;
	}
}

struct route {
	const char *host;	/* borrowed from the config; NULL: outbound, the domain in mx_domain */
	char mx_domain[SMTP_DOMAIN_MAX + 1];	/* lower-case, so one destination per domain */
	int port;
	int mx;
	const char *why;	/* non-NULL: not routable now (deferred with this reason) */
};

static struct route
route_rcpt(const char *addr)
{
	char dom[SMTP_DOMAIN_MAX + 1];
	const struct mg_domain *d;
	struct route r = { .host = NULL };

	str_lcpy(dom, envelope_addr_domain(addr), sizeof(dom));
	str_lower(dom);
	if ((d = config_domain_find(role.cfg, dom)) != NULL) {
		r.host = d->transport_host;
		r.port = d->transport_port;
		r.mx = d->transport_mx;
		return r;
	}
	if (dom[0] == '\0') {
		r.why = "recipient address has no domain";
		return r;
	}
	/* outbound: the MX hosts of the recipient domain (RFC 5321 section 5.1) */
	str_lcpy(r.mx_domain, dom, sizeof(r.mx_domain));
	r.port = role.cfg->outbound_port;
	r.mx = 1;
	return r;
}

static const char *
route_host(const struct route *r)
{
	return r->host != NULL ? r->host : r->mx_domain;
}

static void send_job(struct job *j, const struct route *r);
static void finish_attempt(struct qmsg *m);

/* Starts a delivery attempt for m: one job per destination. */
static void
dispatch(struct qmsg *m)
{
	struct envelope *env;
	int deferred_here = 0;
	char *taken;

	if (load_env(m) < 0) {
		char name[QUEUE_ID_LEN + 8];

		snprintf(name, sizeof(name), "%s.env", m->qid);
		spool_quarantine_file(q.spool, m->area, name);
		queue_forget(m);
		return;
	}
	if (!rate_sched_admit(m)) {
		/* held for the sender domain's outbound_rate: it may wait, so it gives back its
		 * descriptor like a deferred message (not an attempt: no backoff); its envelope
		 * did not change, so a message that has its files keeps them as they are */
		if ((m->has_msg_file && !m->env_unsaved && m->body_fd < 0) ||
		    queue_materialize(m) == 0)
			drop_env(m);
		return;
	}
	env = m->env;
	taken = xcalloc(env->n_rcpts ? env->n_rcpts : 1, 1);
	/* group pending recipients by destination, preserving order */
	for (size_t i = 0; i < env->n_rcpts; i++) {
		struct route ri;
		struct job *j;

		if (env->rcpts[i].state != ENV_RCPT_PENDING || taken[i])
			continue;
		ri = route_rcpt(env->rcpts[i].addr);
		if (ri.why != NULL) {
			envelope_rcpt_set_result(&env->rcpts[i], ENV_RCPT_PENDING, "4.3.0", ri.why, NULL, 0);
			if (!deferred_here)
				log_info("%s to=<%s> status=deferred dsn=4.3.0 reason=\"%s\"", m->qid,
				    env->rcpts[i].addr, ri.why);
			deferred_here = 1;
			continue;
		}
		j = job_new(m);
		j->idx[j->n++] = (uint32_t)i;
		taken[i] = 1;
		for (size_t k = i + 1; k < env->n_rcpts && j->n < JOB_RCPTS_MAX; k++) {
			struct route rk;

			if (env->rcpts[k].state != ENV_RCPT_PENDING || taken[k])
				continue;
			rk = route_rcpt(env->rcpts[k].addr);
			if (rk.why == NULL && strcmp(route_host(&rk), route_host(&ri)) == 0 && rk.port == ri.port &&
			    rk.mx == ri.mx) {
				j->idx[j->n++] = (uint32_t)k;
				taken[k] = 1;
			}
		}
		send_job(j, &ri);
	}
	xfree(taken);
	if (m->jobs > 0) {
		q.active++;
		return;
	}
	finish_attempt(m);
}

static void
send_job(struct job *j, const struct route *r)
{
	struct qmsg *m = j->msg;
	struct ipc_out o;
	struct buf envtext;
	int fd;

	if ((fd = queue_body_fd(m)) < 0) {
		log_err("%s: cannot open message body: %m", m->qid);
		for (size_t i = 0; i < j->n; i++)
			envelope_rcpt_set_result(&m->env->rcpts[j->idx[i]], ENV_RCPT_PENDING, "4.3.0",
			    "local error: message body unreadable", NULL, 0);
		m->jobs--;
		job_free(j);
		return;
	}
	buf_init(&envtext, ENVELOPE_FILE_MAX);
	if (envelope_write(m->env, &envtext) < 0)
		panic("%s: envelope does not serialise", m->qid);
	ipc_out_init(&o);
	ipc_put_str(&o, m->qid);
	ipc_put_str(&o, envtext.data);
	ipc_put_str(&o, route_host(r));
	ipc_put_u32(&o, (uint32_t)r->port);
	ipc_put_u32(&o, (uint32_t)r->mx);
	ipc_put_u32(&o, (uint32_t)j->n);
	for (size_t i = 0; i < j->n; i++)
		ipc_put_u32(&o, j->idx[i]);
	ipc_send(q.delivery, IPC_DELIVER, j->id, fd, &o);
	ipc_out_free(&o);
	buf_free(&envtext);
}

/* Enqueues a DSN of the given kind for m if one is owed. */
static void
send_dsn(struct qmsg *m, enum bounce_kind kind, const struct envelope *env)
{
	struct buf dsn;
	size_t n = 0;
	int body_fd;
	struct qmsg *bm;
	struct envelope *benv;
	long long now = (long long)time(NULL);
	struct bounce_params bp;

	body_fd = queue_body_fd(m);
	buf_init(&dsn, 8 * 1024 * 1024);
	memset(&bp, 0, sizeof(bp));
	bp.reporting_mta = role.cfg->hostname;
	bp.now = now;
	bp.retry_until = envelope_lifetime_start(env) + role.cfg->queue_lifetime;
	bp.return_limit = RETURN_LIMIT;
	if (bounce_build_params(env, body_fd, kind, &bp, &dsn, &n) < 0 || n == 0) {
		if (body_fd >= 0)
			close(body_fd);
		buf_free(&dsn);
		return;
	}
	if (body_fd >= 0)
		close(body_fd);
	if ((bm = queue_inject_begin(buf_slice(&dsn))) == NULL) {
		log_err("%s: cannot create DSN message: %m", m->qid);
		buf_free(&dsn);
		return;
	}
	benv = xcalloc(1, sizeof(*benv));
	envelope_init(benv);
	bounce_envelope(env, bm->qid, now, buf_slice(&dsn), benv);
	log_info("%s sender non-delivery notification: %s kind=%s nrcpt=%zu", m->qid, bm->qid,
	    kind == BOUNCE_FAILURE ? "failure" : kind == BOUNCE_DELAY ? "delay" : "success", n);
	buf_free(&dsn);
	queue_commit_local(bm, benv);
}

/* After an attempt (all jobs back): expire, bounce, warn, reschedule or finish. */
static void
finish_attempt(struct qmsg *m)
{
	struct envelope *env = m->env;
	long long now = (long long)time(NULL);
	size_t pending;

	if (m->deleted) {
		log_info("%s removed by the operator", m->qid);
		queue_forget(m);
		return;
	}
	pending = envelope_pending(env);
	/* released mail counts from its release, so a long stay in quarantine is not held
	 * against it (issue G) */
	if (pending > 0 && now - envelope_lifetime_start(env) >= role.cfg->queue_lifetime) {
		for (size_t i = 0; i < env->n_rcpts; i++) {
			struct envelope_rcpt *r = &env->rcpts[i];
			char diag[600];

			if (r->state != ENV_RCPT_PENDING)
				continue;
			snprintf(diag, sizeof(diag), "message expired in the queue; last error: %s",
			    r->diag ? r->diag : "none");
			envelope_rcpt_set_result(r, ENV_RCPT_FAILED, "4.4.7", diag, NULL, now);
			sched_count_result(env, r, ENV_RCPT_FAILED);
			log_info("%s to=<%s> status=expired dsn=4.4.7", m->qid, r->addr);
		}
		pending = 0;
	}
	/* failures: report (or not, per NOTIFY) and mark reported */
	{
		int any_failed = 0;

		for (size_t i = 0; i < env->n_rcpts; i++)
			if (env->rcpts[i].state == ENV_RCPT_FAILED)
				any_failed = 1;
		if (any_failed) {
			if (env->is_dmarcrpt)	/* no DSN: counted for the filter */
				dmarc_out_bounced(m->qid, env);
			else if (!env->is_bounce && env->sender[0] != '\0')
				send_dsn(m, BOUNCE_FAILURE, env);
			else if (env->is_bounce)
				log_warn("%s undeliverable bounce discarded", m->qid);
			for (size_t i = 0; i < env->n_rcpts; i++)
				if (env->rcpts[i].state == ENV_RCPT_FAILED)
					env->rcpts[i].state = ENV_RCPT_BOUNCED;
		}
	}
	if (pending == 0) {
		queue_forget(m);
		return;
	}
	if (role.cfg->delay_warning > 0 &&
	    now - envelope_lifetime_start(env) >= role.cfg->delay_warning &&
	    !env->is_bounce && !env->is_dmarcrpt && env->sender[0] != '\0') {
		int owed = 0;

		for (size_t i = 0; i < env->n_rcpts; i++)
			if (bounce_is_owed(env, i, BOUNCE_DELAY))
				owed = 1;
		if (owed) {
			send_dsn(m, BOUNCE_DELAY, env);
			for (size_t i = 0; i < env->n_rcpts; i++)
				if (env->rcpts[i].state == ENV_RCPT_PENDING)
					env->rcpts[i].delay_warned = 1;
		}
	}
	env->attempts++;
	m->next_attempt = now + sched_backoff(env->attempts);
	env->next_attempt = m->next_attempt;
	/* deferred: it may wait hours, so it gets its files and gives back its descriptor */
	if (queue_materialize(m) == 0)
		drop_env(m);	/* else kept in memory until the file can be written */
	sched_push(m);
}

void
sched_dispatch(struct qmsg *m)
{
	dispatch(m);
}

void
sched_expire_held(struct qmsg *m, const char *why)
{
	if (load_env(m) < 0) {
		char name[QUEUE_ID_LEN + 8];

		snprintf(name, sizeof(name), "%s.env", m->qid);
		spool_quarantine_file(q.spool, m->area, name);
		queue_forget(m);
		return;
	}
	/* the reason the DSN gives as the last error: it was never attempted again */
	for (size_t i = 0; i < m->env->n_rcpts; i++)
		if (m->env->rcpts[i].state == ENV_RCPT_PENDING && m->env->rcpts[i].diag == NULL)
			envelope_rcpt_set_result(&m->env->rcpts[i], ENV_RCPT_PENDING, "4.4.7", why,
			    NULL, 0);
	finish_attempt(m);	/* past queue_lifetime: expires and bounces */
}

void
sched_kick(void)
{
	long long now = (long long)time(NULL);

	if (q.delivery == NULL || q.shutting_down)
		return;
	rate_sched_drain();	/* held messages were due first */
	while (q.heap_len > 0 && q.active < SCHED_ACTIVE_MAX) {
		struct qmsg *m = q.heap[0];

		if (m->next_attempt > now)
			break;
		sched_remove(m);
		dispatch(m);
	}
}

void
sched_delivery_result(struct ipc_msg *msg)
{
	uint32_t id = msg->id, n;
	struct job *j;
	struct qmsg *m;
	char *relay, *tls;
	struct {
		uint32_t idx, state;
		char *status, *diag;
	} *res;

	if (id == 0 || id > js.n_jobs || !js.jobs[id - 1].in_use)
		panic("queue: result for unknown job %u", id);
	j = &js.jobs[id - 1];
	m = j->msg;
	n = ipc_get_u32(msg);
	if (n != j->n)
		panic("queue: job %u result has %u recipients, job had %zu", id, n, j->n);
	res = xcalloc(n ? n : 1, sizeof(*res));
	for (uint32_t i = 0; i < n; i++) {
		res[i].idx = ipc_get_u32(msg);
		res[i].state = ipc_get_u32(msg);
		res[i].status = ipc_get_str(msg);
		res[i].diag = ipc_get_str(msg);
	}
	relay = ipc_get_str(msg);
	tls = ipc_get_str(msg);
	ipc_msg_end(msg);
	for (uint32_t i = 0; i < n; i++) {
		struct envelope_rcpt *r;
		char clean[SANITIZE_MAX + 4];
		const char *word;

		if (res[i].idx >= m->env->n_rcpts || res[i].idx != j->idx[i] ||
		    res[i].state > ENV_RCPT_FAILED)
			panic("queue: job %u result for a recipient it did not carry", id);
		r = &m->env->rcpts[res[i].idx];
		envelope_rcpt_set_result(r, (enum envelope_rcpt_state)res[i].state, res[i].status,
		    res[i].diag, relay, (long long)time(NULL));
		word = res[i].state == ENV_RCPT_DELIVERED ? "sent" :
		    res[i].state == ENV_RCPT_FAILED ? "bounced" : "deferred";
		sched_count_result(m->env, r, (enum envelope_rcpt_state)res[i].state);
		log_info("%s to=<%s> relay=%s tls=%s delay=%llds attempt=%d status=%s dsn=%s "
		    "reply=\"%s\"", m->qid, r->addr, relay ? relay : "none", tls ? tls : "none",
		    (long long)time(NULL) - m->env->arrival, m->env->attempts + 1, word,
		    res[i].status ? res[i].status : "-",
		    res[i].diag ? sanitize(clean, res[i].diag, strlen(res[i].diag)) : "");
		xfree(res[i].status);
		xfree(res[i].diag);
	}
	xfree(res);
	xfree(relay);
	xfree(tls);
	job_free(j);
	if (--m->jobs > 0)
		return;
	q.active--;
	/* success notifications for recipients delivered now that asked for them */
	{
		int want = 0;

		for (size_t i = 0; i < m->env->n_rcpts; i++)
			if (bounce_is_owed(m->env, i, BOUNCE_SUCCESS))
				want = 1;
		if (want && !m->env->is_bounce && m->env->sender[0] != '\0') {
			send_dsn(m, BOUNCE_SUCCESS, m->env);
			/* notify once: drop the SUCCESS request so a later attempt does not repeat it */
			for (size_t i = 0; i < m->env->n_rcpts; i++)
				if (m->env->rcpts[i].state == ENV_RCPT_DELIVERED)
					m->env->rcpts[i].notify &= ~(unsigned)ENV_NOTIFY_SUCCESS;
		}
	}
	finish_attempt(m);
	sched_kick();
}

void
sched_delivery_lost(void)
{
	/* delivery is gone: every outstanding job counts as a temporary failure */
	for (uint32_t i = 0; i < js.n_jobs; i++) {
		struct job *j = &js.jobs[i];
		struct qmsg *m;

		if (!j->in_use)
			continue;
		m = j->msg;
		for (size_t k = 0; k < j->n; k++)
			envelope_rcpt_set_result(&m->env->rcpts[j->idx[k]], ENV_RCPT_PENDING, "4.3.0",
			    "delivery process ended", NULL, 0);
		job_free(j);
		if (--m->jobs == 0) {
			q.active--;
			finish_attempt(m);
		}
	}
}
