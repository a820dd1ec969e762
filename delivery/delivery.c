/* delivery.c: the delivery role: receives jobs from the queue (a recipient list of one
 * message for one destination, with the body as a read-only fd), keeps one queue of jobs per
 * destination (host, port, MX flag and the policy parameters: direction, the sender domain's
 * tls_policy and outbound_ips), opens connections up to a slow-start concurrency limit (starts
 * at 2 for MX destinations of outbound mail, 5 for relays; grows by one per good job up to
 * delivery_concurrency, halves on connect failures), reuses idle connections, fails jobs fast
 * while a destination is dead (30 s, doubling per consecutive failure up to 8 min), and
 * reports per-recipient results to the queue. Addresses come from resolve.c, TLS policy from
 * policy.c and sts.c. Trusts the queue after strict IPC decoding. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/ipc_msg.h"
#include "common/metrics.h"
#include "common/role.h"
#include "common/tls.h"
#include "config/config.h"
#include "delivery/delivery_int.h"
#include "delivery/sts.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define DEST_HASH 1024
#define DEAD_TIME 30.0
#define NO_TLS_TIME 3600.0
#define IDLE_TIME 5.0
#define SLOW_START 5
#define SHUTDOWN_GRACE 5.0	/* transactions in flight may finish; the supervisor waits 15 s */

SSL_CTX *delivery_tls_ctx;

static struct {
	struct ipc_chan *queue;
	struct dest *dests[DEST_HASH];
	long n_conns;
	int shutting_down;
	long jobs_out;
	ev_timer grace_w;
} dv;

/* Backoff of a failing destination: dead for 30 s, doubling with each consecutive failure
 * up to 8 min (DEAD_TIME << DEAD_BACKOFF_MAX); a delivered job resets it. */
#define DEAD_BACKOFF_MAX 4
static double
dest_dead_time(struct dest *d)
{
	int k = d->fail_streak < DEAD_BACKOFF_MAX ? d->fail_streak : DEAD_BACKOFF_MAX;

	d->fail_streak++;
	return DEAD_TIME * (double)(1 << k);
}

static unsigned
dest_hash(const char *key)
{
	unsigned h = 2166136261u;

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return h % DEST_HASH;
}

/* The settings a job's connections depend on: MX delivery of outbound mail follows the sender
 * domain's tls_policy and outbound_ips; inbound relays to a domain's transport (and MX jobs of
 * senders that are not protected domains, e.g. bounces) use opportunistic TLS and no binding. */
struct jpolicy {
	int outbound;
	int report;		/* a TLS-RPT report message: no TLS policy enforced (RFC 8460 §5.3) */
	enum mg_tls_policy tls;
	char *const *ips;	/* borrowed from role.cfg */
	size_t n_ips;
};

static void
job_policy(const struct djob *j, int mx, struct jpolicy *p)
{
	const struct mg_domain *sd;
	const char *at;

	memset(p, 0, sizeof(*p));
	if (!mx || j->env.direction != ENV_OUTBOUND)
		return;
	p->outbound = 1;
	p->tls = MG_TLS_MAY;
	if (j->env.is_tlsrpt) {
		/* RFC 8460 §5.3: a report is sent even if the recipient's policy would fail, and
		 * such sessions are not counted: opportunistic TLS, no MTA-STS, no DANE, no
		 * TLS-RPT record (policy.c, sts.c) */
		p->report = 1;
		return;
	}
	if ((at = strrchr(j->env.sender, '@')) == NULL ||
	    (sd = config_domain_find(role.cfg, at + 1)) == NULL)
		return;
	p->tls = sd->tls_policy;
	p->ips = sd->outbound_ips;
	p->n_ips = sd->n_outbound_ips;
}

/* Connections are shared only by jobs with the same destination AND the same policy
 * parameters (TLS policy, source addresses and so HELO names): the key holds them all. */
static struct dest *
dest_get(const char *host, int port, int mx, const struct jpolicy *p)
{
	char key[700];
	size_t o;
	unsigned h;
	struct dest *d;

	o = (size_t)snprintf(key, sizeof(key), "%s:%d:%d", host, port, mx);
	if (p->outbound) {
		o += (size_t)snprintf(key + o, sizeof(key) - o, ":out:%d%s:", (int)p->tls,
		    p->report ? ":rpt" : "");
		for (size_t i = 0; i < p->n_ips && o < sizeof(key); i++)
			o += (size_t)snprintf(key + o, sizeof(key) - o, "%s%s", i ? "," : "",
			    p->ips[i]);
	}
	h = dest_hash(key);
	for (d = dv.dests[h]; d; d = d->next)
		if (strcmp(d->key, key) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	str_lcpy(d->key, key, sizeof(d->key));
	str_lcpy(d->host, host, sizeof(d->host));
	d->port = port;
	d->mx = mx;
	d->outbound = p->outbound;
	d->tlsrpt_msg = p->report;
	d->tls_policy = p->tls;
	if (p->n_ips > 0) {
		d->src_ips = xcalloc(p->n_ips, sizeof(*d->src_ips));
		for (size_t i = 0; i < p->n_ips; i++)
			d->src_ips[i] = xstrdup(p->ips[i]);
		d->n_src = p->n_ips;
	}
	/* slow start (RFC 5321 §4.5.3.2 leaves it to us): outbound MX destinations begin with
	 * 2 connections, relays to our own back-ends with SLOW_START */
	d->limit = (d->outbound ? 2 : SLOW_START);
	if (d->limit > role.cfg->delivery_concurrency)
		d->limit = (int)role.cfg->delivery_concurrency;
	d->next = dv.dests[h];
	dv.dests[h] = d;
	return d;
}

static void
djob_free(struct djob *j)
{
	for (uint32_t i = 0; i < j->n; i++) {
		xfree(j->status[i]);
		xfree(j->diag[i]);
	}
	xfree(j->status);
	xfree(j->diag);
	xfree(j->state);
	xfree(j->idx);
	if (j->body_fd >= 0)
		close(j->body_fd);
	envelope_clear(&j->env);
	xfree(j);
}

void
delivery_job_done(struct djob *j, const char *relay, const char *tls)
{
	struct ipc_out o;

	ipc_out_init(&o);
	ipc_put_u32(&o, j->n);
	for (uint32_t i = 0; i < j->n; i++) {
		int st = j->state[i];

		if (st < 0) {	/* cannot happen: every path decides; defer to be safe */
			st = ENV_RCPT_PENDING;
			xfree(j->status[i]);
			xfree(j->diag[i]);
			j->status[i] = xstrdup("4.3.0");
			j->diag[i] = xstrdup("delivery ended without a result");
		}
		ipc_put_u32(&o, j->idx[i]);
		ipc_put_u32(&o, (uint32_t)st);
		ipc_put_str(&o, j->status[i]);
		ipc_put_str(&o, j->diag[i]);
	}
	ipc_put_str(&o, relay);
	ipc_put_str(&o, tls);
	if (dv.queue)
		ipc_send(dv.queue, IPC_DELIVER_RESULT, j->id, -1, &o);
	ipc_out_free(&o);
	metrics_observe(MH_DELIVERY_SECONDS, ev_now(role.loop) - j->started);
	dv.jobs_out--;
	djob_free(j);
}

struct djob *
delivery_dest_next_job(struct dest *d)
{
	struct djob *j = d->head;

	if (j) {
		d->head = j->next;
		if (d->head == NULL)
			d->tail = NULL;
		d->n_queued--;
		j->next = NULL;
	}
	return j;
}

/* Leaves at shutdown: results still buffered for the queue go out first (a result lost here
 * would make the queue deliver a delivered message again). */
static void __attribute__((noreturn))
delivery_exit(void)
{
	if (dv.queue)
		(void)ipc_flush(dv.queue);
	role_exit(0);
}

static void
dest_fail_all(struct dest *d)
{
	struct djob *j;

	while ((j = delivery_dest_next_job(d)) != NULL) {
		if (d->permfail)	/* null MX, NXDOMAIN: bounce (RFC 7505 §4.2) */
			djob_fail_rest(j, ENV_RCPT_FAILED, d->perm_status, d->dead_reason);
		else
			djob_fail_rest(j, ENV_RCPT_PENDING, d->dead_status[0] ? d->dead_status :
			    "4.4.1", d->dead_reason);
		delivery_job_done(j, d->host, NULL);
	}
}

static void idle_timeout(struct ev_loop *loop, ev_timer *w, int revents);

/* The destination's concurrency limit, never above delivery_concurrency (a reload may have
 * lowered it below what slow start had reached). */
static int
dest_limit(struct dest *d)
{
	if (d->limit > role.cfg->delivery_concurrency)
		d->limit = (int)role.cfg->delivery_concurrency;
	return d->limit;
}

/* 1 if c was over the limit and is now closing instead of taking another job. */
static int
dest_close_if_over(struct dest *d, struct client *c)
{
	if (d->n_conns - d->n_closing <= dest_limit(d))
		return 0;
	c->over_limit = 1;
	d->n_closing++;
	ev_timer_stop(role.loop, &c->idle_timer);
	client_quit(c);
	return 1;
}

/* Puts jobs on connections: idle ones first, then new ones up to the limits. */
static void dest_pump(struct dest *d);

void
delivery_dest_dead(struct dest *d)
{
	d->dead_until = ev_now(role.loop) + dest_dead_time(d);
	dest_fail_all(d);
}

void
delivery_dest_pump(struct dest *d)
{
	dest_pump(d);
}

const char *
delivery_mx_name(const struct dest *d, int i)
{
	int mx = i >= 0 && i < d->n_addrs ? d->addr_mx[i] : -1;

	return mx >= 0 ? d->mxh[mx].name : d->host;
}

/* RFC 8461 §4.1: under an enforced MTA-STS policy only MX hosts matching its mx patterns are
 * used. Moves d->cur_addr past the others; -1 (jobs deferred) when none is left. */
static int
dest_skip_disallowed(struct dest *d)
{
	/* hosts under DANE are judged by their TLSA records, not by the MX patterns (RFC 8461
	 * §2: DANE takes precedence) */
	while (d->cur_addr < d->n_addrs && !policy_dane_applies(d, d->cur_addr) &&
	    !sts_mx_allowed(d, delivery_mx_name(d, d->cur_addr)))
		d->cur_addr++;
	if (d->cur_addr < d->n_addrs)
		return 0;
	snprintf(d->dead_reason, sizeof(d->dead_reason), "no MX host of %s matches its MTA-STS "
	    "policy (RFC 8461 section 4.1)", d->host);
	str_lcpy(d->dead_status, "4.7.5", sizeof(d->dead_status));
	log_warn("destination %s: %s", d->key, d->dead_reason);
	d->resolved_at = 0;
	d->n_addrs = 0;
	d->dead_until = ev_now(role.loop) + dest_dead_time(d);
	dest_fail_all(d);
	return -1;
}

void
delivery_send_queue(uint16_t type, struct ipc_out *o)
{
	if (dv.queue)
		ipc_send(dv.queue, type, 0, -1, o);
}

void
delivery_reply_queue(uint16_t type, uint32_t id, struct ipc_out *o)
{
	if (dv.queue)
		ipc_send(dv.queue, type, id, -1, o);
}

void
delivery_addr_text(const struct sockaddr_storage *ss, char *out, size_t size)
{
	const void *a = ss->ss_family == AF_INET6 ?
	    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr :
	    (const void *)&((const struct sockaddr_in *)ss)->sin_addr;

	if (inet_ntop(ss->ss_family, a, out, (socklen_t)size) == NULL)
		str_lcpy(out, "", size);
}

void
delivery_local_addr(struct client *c, char *out, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (c->conn == NULL || getsockname(evconn_fd(c->conn), (struct sockaddr *)&ss, &len) < 0) {
		str_lcpy(out, c->src, size);
		return;
	}
	delivery_addr_text(&ss, out, size);
}

static void
dest_pump(struct dest *d)
{
	while (d->head != NULL) {
		struct client *c = d->idle;
		char why[300];

		if (ev_now(role.loop) < d->dead_until) {
			dest_fail_all(d);
			return;
		}
		if (c != NULL) {
			d->idle = c->next_idle;
			c->next_idle = NULL;
			if (!dest_close_if_over(d, c))
				client_start_job(c, delivery_dest_next_job(d));
			continue;
		}
		if (d->n_conns >= dest_limit(d) || dv.n_conns >= role.cfg->delivery_max_connections)
			return;
		if (sts_prepare(d))
			return;	/* MTA-STS discovery: pumped again when the policy is known */
		switch (delivery_dest_resolve(d, why, sizeof(why))) {
		case 1:
			return;	/* resolving: pumped again when the addresses are known */
		case -1:
			str_lcpy(d->dead_reason, why, sizeof(d->dead_reason));
			log_warn("destination %s: %s", d->key, why);
			delivery_dest_dead(d);
			return;
		}
		if (dest_skip_disallowed(d) < 0)
			return;
		c = client_new(d);
		if (c == NULL) {
			if (d->cur_addr + 1 < d->n_addrs) {
				log_info("destination %s: connect failed: %s; trying the next address",
				    d->key, strerror(errno));
				d->cur_addr++;
				continue;
			}
			snprintf(d->dead_reason, sizeof(d->dead_reason), "connect to %s:%d failed: %s",
			    d->host, d->port, strerror(errno));
			d->dead_until = ev_now(role.loop) + dest_dead_time(d);
			d->resolved_at = 0;
			dest_fail_all(d);
			return;
		}
		dv.n_conns++;
		ev_init(&c->idle_timer, idle_timeout);
		c->idle_timer.data = c;
		c->job = delivery_dest_next_job(d);	/* started once the greeting is done */
	}
}

static void
idle_unlink(struct client *c)
{
	struct client **pp;

	for (pp = &c->dest->idle; *pp; pp = &(*pp)->next_idle)
		if (*pp == c) {
			*pp = c->next_idle;
			break;
		}
	c->next_idle = NULL;
}

static void
idle_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct client *c = w->data;

	(void)loop;
	(void)revents;
	idle_unlink(c);
	client_quit(c);
}

void
delivery_client_idle(struct client *c)
{
	struct dest *d = c->dest;

	if (c->jobs_done > 0) {
		d->fail_streak = 0;
		if (d->limit < role.cfg->delivery_concurrency)
			d->limit++;	/* slow start: one more connection per good job */
	}
	if (d->head != NULL && !dv.shutting_down) {
		if (!dest_close_if_over(d, c))
			client_start_job(c, delivery_dest_next_job(d));
		return;
	}
	if (dv.shutting_down) {
		client_quit(c);
		return;
	}
	c->next_idle = d->idle;
	d->idle = c;
	ev_timer_set(&c->idle_timer, IDLE_TIME, 0);
	ev_timer_start(role.loop, &c->idle_timer);
}

void
delivery_client_gone(struct client *c, int connect_failed, const char *why)
{
	struct dest *d = c->dest;

	idle_unlink(c);
	d->n_conns--;
	dv.n_conns--;
	if (c->over_limit)
		d->n_closing--;
	if (connect_failed && d->cur_addr + 1 < d->n_addrs) {
		/* RFC 5321 §5.1: try the next address (next MX host) before giving up */
		log_info("destination %s: %s; trying the next address", d->key,
		    why ? why : "connection failed");
		d->cur_addr++;
	} else if (connect_failed) {
		d->limit = d->limit > 1 ? d->limit / 2 : 1;
		d->resolved_at = 0;	/* look the addresses up again next time */
		if (d->n_conns == 0) {
			snprintf(d->dead_reason, sizeof(d->dead_reason), "%s (%s:%d)",
			    why ? why : "connection failed", d->host, d->port);
			d->dead_until = ev_now(role.loop) + dest_dead_time(d);
			dest_fail_all(d);
		}
	}
	client_free(c);
	if (dv.shutting_down && dv.n_conns == 0 && dv.jobs_out == 0)
		delivery_exit();
	dest_pump(d);
}

void
delivery_dest_tls_failed(struct dest *d)
{
	log_warn("destination %s: TLS handshake failed; using plaintext for %.0f s", d->key, NO_TLS_TIME);
	d->no_tls_until = ev_now(role.loop) + NO_TLS_TIME;
}

void
delivery_requeue(struct djob *j, struct dest *d)
{
	j->next = d->head;
	d->head = j;
	if (d->tail == NULL)
		d->tail = j;
	d->n_queued++;
}

static void
handle_deliver(struct ipc_msg *m)
{
	struct djob *j = xcalloc(1, sizeof(*j));
	char *envtext, *host;
	const char *err;
	uint32_t port, mx;
	struct dest *d;
	struct jpolicy jp;

	j->started = ev_now(role.loop);
	j->id = m->id;
	j->body_fd = m->fd;
	if (m->fd < 0)
		panic("delivery: job without a body descriptor");
	ipc_get_strbuf(m, j->qid, sizeof(j->qid));
	envtext = ipc_get_str(m);
	host = ipc_get_str(m);
	port = ipc_get_u32(m);
	mx = ipc_get_u32(m);
	j->n = ipc_get_u32(m);
	if (envtext == NULL || host == NULL || j->n == 0 || j->n > SMTP_RCPT_CAP || port == 0 ||
	    port > 65535)
		panic("delivery: malformed job from queue");
	j->idx = xcalloc(j->n, sizeof(*j->idx));
	j->state = xcalloc(j->n, sizeof(*j->state));
	j->status = xcalloc(j->n, sizeof(*j->status));
	j->diag = xcalloc(j->n, sizeof(*j->diag));
	for (uint32_t i = 0; i < j->n; i++) {
		j->idx[i] = ipc_get_u32(m);
		j->state[i] = -1;
	}
	ipc_msg_end(m);
	envelope_init(&j->env);
	if (envelope_parse(slice_from_str(envtext), &j->env, &err) < 0)
		panic("delivery: envelope from queue invalid: %s", err);
	for (uint32_t i = 0; i < j->n; i++)
		if (j->idx[i] >= j->env.n_rcpts)
			panic("delivery: job recipient index out of range");
	xfree(envtext);
	dv.jobs_out++;
	job_policy(j, (int)mx, &jp);
	d = dest_get(host, (int)port, (int)mx, &jp);
	xfree(host);
	/* A job sent before its scheduled retry time was forced by the operator (queue flush or
	 * release): like postqueue -f, it gets a fresh connection attempt even while the
	 * destination is marked dead. Jobs arriving with it queue behind that one attempt. */
	if (ev_now(role.loop) < d->dead_until && j->env.next_attempt > (long long)time(NULL)) {
		log_info("destination %s: retry forced by the operator; trying it again", d->key);
		d->dead_until = 0;
	}
	j->next = NULL;
	if (d->tail)
		d->tail->next = j;
	else
		d->head = j;
	d->tail = j;
	d->n_queued++;
	dest_pump(d);
}

/* IPC_TLSRPT_POST: a TLS-RPT report for an https: rua (RFC 8460 §5.4), POSTed by sts.c. */
static void
handle_post(struct ipc_msg *m)
{
	char *url = ipc_get_str(m);
	size_t len = 0;
	const void *body = ipc_get_bytes(m, &len);

	if (url == NULL || strlen(url) > IPC_TLSRPT_URL_MAX || len == 0 || len > IPC_TLSRPT_POST_MAX)
		panic("delivery: malformed report POST from queue");
	sts_report_post(m->id, url, body, len);
	ipc_msg_end(m);
	xfree(url);
}

/* What the queue may send us: one handler per message type. */
static const struct {
	uint16_t type;
	void (*handler)(struct ipc_msg *m);
} queue_table[] = {
	{ IPC_DELIVER, handle_deliver },
	{ IPC_TLSRPT_POST, handle_post },
};

static void
queue_msg(struct ipc_chan *chan, struct ipc_msg *m, void *arg)
{
	(void)chan;
	(void)arg;
	for (size_t i = 0; i < sizeof(queue_table) / sizeof(queue_table[0]); i++)
		if (queue_table[i].type == m->type) {
			queue_table[i].handler(m);
			return;
		}
	panic("delivery: unexpected message type %u from queue", m->type);
}

static void
queue_closed(struct ipc_chan *chan, void *arg)
{
	(void)arg;
	ipc_chan_free(&chan);
	dv.queue = NULL;
	/* The queue leaves first at an orderly stop when it has no jobs out; if it crashed, the
	 * supervisor names it. Nobody is left to report results to: stop. */
	if (!dv.shutting_down)
		log_info("delivery: queue channel closed; stopping");
	sts_flush();
	role_exit(0);
}

/* The grace period is over: end the transactions still running (their recipients go back
 * to the queue as deferred) so that every role stops within the supervisor's deadline. */
static void
shutdown_grace_over(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	log_info("delivery: %ld connection(s) still busy after %.0f s; closing them", dv.n_conns,
	    SHUTDOWN_GRACE);
	client_abort_all("4.3.2", "MailGuard is shutting down");
	delivery_exit();
}

static void
delivery_shutdown(void)
{
	if (dv.shutting_down)
		return;
	dv.shutting_down = 1;
	sts_flush();
	ev_timer_init(&dv.grace_w, shutdown_grace_over, SHUTDOWN_GRACE, 0.0);
	ev_timer_start(role.loop, &dv.grace_w);
	/* Jobs in flight finish (the supervisor's stop timeout bounds this); queued ones are
	 * handed back as deferred so the queue keeps them. */
	for (int h = 0; h < DEST_HASH; h++)
		for (struct dest *d = dv.dests[h]; d; d = d->next) {
			struct djob *j;

			while ((j = delivery_dest_next_job(d)) != NULL) {
				djob_fail_rest(j, ENV_RCPT_PENDING, "4.3.2", "MailGuard is shutting down");
				delivery_job_done(j, NULL, NULL);
			}
			while (d->idle) {
				struct client *c = d->idle;

				d->idle = c->next_idle;
				c->next_idle = NULL;
				client_quit(c);
			}
		}
	if (dv.queue)
		(void)ipc_flush(dv.queue);
	if (dv.n_conns == 0 && dv.jobs_out == 0)
		delivery_exit();
}

/* The client context serves every policy: DANE is enabled on it (used only by connections
 * that add TLSA records), the trust store (tls_ca_file or the system's, loaded now while
 * still privileged) is consulted only where a policy asks for WebPKI checks. Verification
 * never aborts a handshake (SSL_VERIFY_NONE): policy.c judges its result afterwards, so a
 * failure gets a clear reason. */
static int
delivery_tls_ctx_setup(SSL_CTX *ctx)
{
	const char *ca = role.cfg->tls_ca_file;

	if (SSL_CTX_dane_enable(ctx) <= 0)
		log_err("delivery: SSL_CTX_dane_enable failed; DANE connections will defer");
	if (ca != NULL && ca[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
			log_err("delivery: cannot load tls_ca_file %s", ca);
			return -1;
		}
	} else {
		SSL_CTX_set_default_verify_paths(ctx);
	}
	return 0;
}

/* A changed tls_ca_file gets a new client context (connections keep a reference to the old
 * one, which OpenSSL frees with the last of them); if the file cannot be read (the role runs
 * unprivileged after start) the previous context stays. */
static void
delivery_reload(struct mg_config *old)
{
	const char *a = old->tls_ca_file ? old->tls_ca_file : "";
	const char *b = role.cfg->tls_ca_file ? role.cfg->tls_ca_file : "";
	const char *err;
	SSL_CTX *ctx;

	sts_reload();
	if (strcmp(a, b) == 0)
		return;
	if ((ctx = tls_client_ctx(0, &err)) == NULL || delivery_tls_ctx_setup(ctx) < 0) {
		log_warn("delivery: keeping the previous CA store after reload");
		SSL_CTX_free(ctx);
		return;
	}
	SSL_CTX_free(delivery_tls_ctx);
	delivery_tls_ctx = ctx;
}

int
delivery_main(void)
{
	const char *err;

	role.on_shutdown = delivery_shutdown;
	role.on_reload = delivery_reload;
	if ((delivery_tls_ctx = tls_client_ctx(0, &err)) == NULL)
		log_err("outgoing STARTTLS disabled: %s", err);
	else
		(void)delivery_tls_ctx_setup(delivery_tls_ctx);
	sts_init();
	dv.queue = ipc_chan_new(role.loop, ROLE_FD_PEER1, "queue", queue_msg, queue_closed, NULL);
	delivery_resolver_init();
	role_drop_privileges();
	metrics_open(role.cfg->state_dir, "delivery");
	role_ready();
	role_run();
	return 0;
}
