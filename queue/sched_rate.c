/* sched_rate.c: outbound_rate in the queue role's scheduler. A message whose sender domain is a
 * protected domain with an outbound_rate, and which has pending recipients outside the protected
 * domains, takes one token of that domain's bucket (rate.c) per dispatch attempt. Without a token
 * it is held in the domain's FIFO (not an attempt: no backoff, no deferral), shown by
 * `mailguardctl queue list` as rate-limited, and dispatched in order as a refill timer (set to
 * the next token, never polling) brings tokens. Buckets are saved to state_dir/outbound-rate at
 * most once per RATE_SAVE_DELAY seconds after a change and at shutdown, so a restart does not
 * grant a fresh burst. Held messages still expire after queue_lifetime (with a DSN). Queue
 * role, main thread; the state file is parsed by rate.c with limits. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/role.h"
#include "config/config.h"
#include "lib/atomicfile.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"
#include "queue/queue_int.h"
#include "queue/rate.h"

#define RATE_SAVE_DELAY 1.0	/* seconds: bounds what a crash (kill -9) can forget */
#define RATE_EXPIRE_SCAN 5.0	/* seconds between looks for held messages past queue_lifetime */
#define RATE_STATE_FILE "outbound-rate"

struct rbucket {
	char domain[SMTP_DOMAIN_MAX + 1];
	struct rate_bucket b;
	struct qmsg *head, *tail;	/* held messages, oldest first */
	size_t n_held;
};

static struct {
	struct rbucket *v;
	size_t n, cap;
	ev_timer refill_w, save_w, expire_w;
	int dirty;
	char path[4096];
} rs;

static double
wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const struct mg_domain *
rate_domain(const struct mg_config *cfg, const char *domain)
{
	const struct mg_domain *d = config_domain_find(cfg, domain);

	return d != NULL && d->outbound_rate_count > 0 && d->outbound_rate_period > 0 ? d : NULL;
}

static struct rbucket *
bucket_get(const char *domain, const struct mg_domain *d, double now)
{
	for (size_t i = 0; i < rs.n; i++)
		if (strcmp(rs.v[i].domain, domain) == 0)
			return &rs.v[i];
	if (rs.n == rs.cap) {
		rs.cap = rs.cap ? rs.cap * 2 : 16;
		rs.v = xreallocarray(rs.v, rs.cap, sizeof(*rs.v));
	}
	memset(&rs.v[rs.n], 0, sizeof(rs.v[rs.n]));
	str_lcpy(rs.v[rs.n].domain, domain, sizeof(rs.v[rs.n].domain));
	rate_init(&rs.v[rs.n].b, d->outbound_rate_count, now);
	return &rs.v[rs.n++];
}

static void
rate_save(void)
{
	struct rate_entry *e = xcalloc(rs.n ? rs.n : 1, sizeof(*e));
	size_t n = 0;
	struct buf out;
	const char *err;
	double now = wall_now();

	for (size_t i = 0; i < rs.n; i++) {
		const struct mg_domain *d = rate_domain(role.cfg, rs.v[i].domain);

		if (d == NULL)
			continue;	/* no longer limited: forget it */
		rate_refill(&rs.v[i].b, d->outbound_rate_count, d->outbound_rate_period, now);
		str_lcpy(e[n].domain, rs.v[i].domain, sizeof(e[n].domain));
		e[n++].b = rs.v[i].b;
	}
	buf_init(&out, RATE_STATE_FILE_MAX);
	if (rate_state_format(e, n, &out) < 0)
		log_err("outbound rate: state too large to save");
	else if (atomicfile_write(rs.path, out.data, out.len, 0600, &err) < 0)
		log_err("outbound rate: cannot save %s: %s: %m", rs.path, err);
	else
		rs.dirty = 0;
	buf_free(&out);
	xfree(e);
}

static void
save_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	if (rs.dirty)
		rate_save();
}

static void
mark_dirty(void)
{
	rs.dirty = 1;
	if (!ev_is_active(&rs.save_w)) {
		ev_timer_set(&rs.save_w, RATE_SAVE_DELAY, 0.0);
		ev_timer_start(role.loop, &rs.save_w);
	}
}

/* Arms the refill timer for the earliest token any holding bucket will get. */
static void
rearm(void)
{
	double wait = -1;

	ev_timer_stop(role.loop, &rs.refill_w);
	for (size_t i = 0; i < rs.n; i++) {
		const struct mg_domain *d;
		double w;

		if (rs.v[i].n_held == 0 || (d = rate_domain(role.cfg, rs.v[i].domain)) == NULL)
			continue;
		w = rate_wait(&rs.v[i].b, d->outbound_rate_count, d->outbound_rate_period);
		if (wait < 0 || w < wait)
			wait = w;
	}
	if (wait < 0)
		return;
	ev_timer_set(&rs.refill_w, wait < 0.001 ? 0.001 : wait, 0.0);
	ev_timer_start(role.loop, &rs.refill_w);
}

static void
refill_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	sched_kick();	/* drains through rate_sched_drain(), then rearms */
}

/* Held messages are not attempted, so finish_attempt() never expires them: this does, with a
 * DSN that names the rate limit (queue_lifetime still bounds a message's stay). */
static void
expire_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	long long now = (long long)time(NULL);

	(void)loop;
	(void)w;
	(void)revents;
	for (size_t i = 0; i < rs.n; i++) {
		struct qmsg *m = rs.v[i].head;

		while (m != NULL) {
			struct qmsg *next = m->rnext;

			if (m->arrival > 0 && now - m->arrival >= role.cfg->queue_lifetime) {
				log_info("%s expired while held by the outbound rate of %s", m->qid,
				    rs.v[i].domain);
				rate_sched_unlink(m);
				sched_expire_held(m, "held by the outbound_rate of the sender domain");
			}
			m = next;
		}
	}
	rearm();
}

static void
fifo_push(struct rbucket *rb, struct qmsg *m)
{
	m->rate_bucket = (size_t)(rb - rs.v) + 1;
	m->rnext = NULL;
	m->rprev = rb->tail;
	if (rb->tail)
		rb->tail->rnext = m;
	else
		rb->head = m;
	rb->tail = m;
	rb->n_held++;
}

void
rate_sched_unlink(struct qmsg *m)
{
	struct rbucket *rb;

	if (m->rate_bucket == 0)
		return;
	rb = &rs.v[m->rate_bucket - 1];
	if (m->rprev)
		m->rprev->rnext = m->rnext;
	else
		rb->head = m->rnext;
	if (m->rnext)
		m->rnext->rprev = m->rprev;
	else
		rb->tail = m->rprev;
	m->rprev = m->rnext = NULL;
	m->rate_bucket = 0;
	rb->n_held--;
}

int
rate_sched_admit(struct qmsg *m)
{
	const struct envelope *env = m->env;
	char dom[SMTP_DOMAIN_MAX + 1];
	const struct mg_domain *d;
	struct rbucket *rb;
	int outbound = 0;

	if (m->rate_passed) {
		m->rate_passed = 0;	/* took its token when it left the FIFO */
		return 1;
	}
	str_lcpy(dom, envelope_addr_domain(env->sender), sizeof(dom));
	str_lower(dom);
	if (dom[0] == '\0' || (d = rate_domain(role.cfg, dom)) == NULL)
		return 1;
	for (size_t i = 0; i < env->n_rcpts && !outbound; i++) {
		char rd[SMTP_DOMAIN_MAX + 1];

		if (env->rcpts[i].state != ENV_RCPT_PENDING)
			continue;
		str_lcpy(rd, envelope_addr_domain(env->rcpts[i].addr), sizeof(rd));
		str_lower(rd);
		outbound = config_domain_find(role.cfg, rd) == NULL;
	}
	if (!outbound)
		return 1;
	rb = bucket_get(dom, d, wall_now());
	if (rb->n_held == 0 &&
	    rate_take(&rb->b, d->outbound_rate_count, d->outbound_rate_period, wall_now())) {
		mark_dirty();
		return 1;
	}
	if (rb->n_held == 0)
		log_info("outbound rate of %s reached (%ld per %lds): holding its messages", dom,
		    d->outbound_rate_count, d->outbound_rate_period);
	log_debug("%s status=rate-limited domain=%s held=%zu", m->qid, dom, rb->n_held + 1);
	fifo_push(rb, m);
	rearm();
	return 0;
}

void
rate_sched_drain(void)
{
	double now = wall_now();

	for (size_t i = 0; i < rs.n; i++) {
		struct rbucket *rb = &rs.v[i];
		const struct mg_domain *d;

		if (rb->n_held == 0)
			continue;
		if ((d = rate_domain(role.cfg, rb->domain)) == NULL) {
			/* the limit was lifted (reload): back to the ordinary schedule */
			while (rb->head) {
				struct qmsg *m = rb->head;

				rate_sched_unlink(m);
				sched_push(m);
			}
			continue;
		}
		while (rb->head && q.active < SCHED_ACTIVE_MAX && !q.shutting_down &&
		    rate_take(&rb->b, d->outbound_rate_count, d->outbound_rate_period, now)) {
			struct qmsg *m = rb->head;

			rate_sched_unlink(m);
			m->rate_passed = 1;
			mark_dirty();
			sched_dispatch(m);
		}
	}
	rearm();
}

size_t
rate_sched_held(void)
{
	size_t n = 0;

	for (size_t i = 0; i < rs.n; i++)
		n += rs.v[i].n_held;
	return n;
}

void
rate_sched_reload(const struct mg_config *old)
{
	double now = wall_now();

	for (size_t i = 0; i < rs.n; i++) {
		const struct mg_domain *od = rate_domain(old, rs.v[i].domain);
		const struct mg_domain *nd = rate_domain(role.cfg, rs.v[i].domain);

		/* account the time so far at the old rate, then hold to the new budget */
		if (od != NULL)
			rate_refill(&rs.v[i].b, od->outbound_rate_count, od->outbound_rate_period, now);
		rs.v[i].b.stamp = now;
		if (nd != NULL && rs.v[i].b.tokens > (double)nd->outbound_rate_count)
			rs.v[i].b.tokens = (double)nd->outbound_rate_count;
	}
	mark_dirty();
	rearm();
}

void
rate_sched_init(void)
{
	struct rate_entry *e = NULL;
	size_t n = 0;
	const char *err = NULL;
	struct buf text;
	int fd;

	ev_timer_init(&rs.refill_w, refill_timer, 0.0, 0.0);
	ev_timer_init(&rs.save_w, save_timer, 0.0, 0.0);
	ev_timer_init(&rs.expire_w, expire_timer, RATE_EXPIRE_SCAN, RATE_EXPIRE_SCAN);
	ev_timer_start(role.loop, &rs.expire_w);
	str_fmt(rs.path, sizeof(rs.path), "%s/%s", role.cfg->state_dir, RATE_STATE_FILE);
	if ((fd = open(rs.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno != ENOENT)
			log_err("outbound rate: cannot read %s: %m; buckets start empty", rs.path);
		else
			return;	/* first start: every bucket starts full */
		goto empty;
	}
	buf_init(&text, RATE_STATE_FILE_MAX);
	for (;;) {
		char chunk[8192];
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || buf_append(&text, chunk, (size_t)r) < 0) {
			if (r != 0)
				err = r < 0 ? "read error" : "state file too large";
			break;
		}
	}
	close(fd);
	if (err == NULL && rate_state_parse(buf_slice(&text), &e, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++) {
			const struct mg_domain *d = rate_domain(role.cfg, e[i].domain);
			struct rbucket *rb;

			if (d == NULL)
				continue;
			rb = bucket_get(e[i].domain, d, e[i].b.stamp);
			rb->b = e[i].b;
			if (rb->b.tokens > (double)d->outbound_rate_count)
				rb->b.tokens = (double)d->outbound_rate_count;
		}
		log_info("outbound rate: %zu bucket(s) restored from %s", n, rs.path);
		xfree(e);
		buf_free(&text);
		return;
	}
	buf_free(&text);
	log_err("outbound rate: %s unusable: %s; buckets start empty", rs.path, err);
empty:
	/* Unknown history: an empty bucket (never a fresh burst), refilling from now. */
	for (size_t i = 0; i < role.cfg->n_domains; i++) {
		const struct mg_domain *d = &role.cfg->domains[i];
		struct rbucket *rb;

		if (rate_domain(role.cfg, d->name) == NULL)
			continue;
		rb = bucket_get(d->name, d, wall_now());
		rb->b.tokens = 0;
	}
}

void
rate_sched_shutdown(void)
{
	ev_timer_stop(role.loop, &rs.refill_w);
	ev_timer_stop(role.loop, &rs.save_w);
	ev_timer_stop(role.loop, &rs.expire_w);
	if (rs.dirty)
		rate_save();
}

void
rate_sched_describe(struct buf *out)
{
	double now = wall_now();
	size_t n = 0;

	for (size_t i = 0; i < role.cfg->n_domains; i++) {
		const struct mg_domain *d = rate_domain(role.cfg, role.cfg->domains[i].name);
		struct rbucket *rb;

		if (d == NULL)
			continue;
		rb = bucket_get(d->name, d, now);
		rate_refill(&rb->b, d->outbound_rate_count, d->outbound_rate_period, now);
		buf_printf(out, "%s rate=%ld/%lds tokens=%.2f held=%zu next_token=%.1fs\n", d->name,
		    d->outbound_rate_count, d->outbound_rate_period, rb->b.tokens, rb->n_held,
		    rate_wait(&rb->b, d->outbound_rate_count, d->outbound_rate_period));
		n++;
	}
	buf_printf(out, "-- %zu rate-limited domain(s), %zu message(s) held\n", n, rate_sched_held());
}

