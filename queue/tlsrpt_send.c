/* tlsrpt_send.c: TLS-RPT (RFC 8460) in the queue role: counts the session outcomes delivery
 * reports (IPC_TLSRPT_RESULT) into the aggregate of the current period (tlsrpt.c), keeps it in
 * state_dir/tlsrpt.state (atomic writes, at most every TLSRPT_SAVE_DELAY seconds after a change
 * and at shutdown), and when the period ends sends each policy domain's report to the mailto:
 * addresses of its published rua, as a message made by the path DSNs use (queue_inject_begin,
 * queue_commit_local); those messages carry the envelope flag tlsrpt, so that delivery sends
 * them whatever the TLS policy and does not count their sessions (RFC 8460 §5.3). https: rua
 * URIs get the gzipped JSON by POST through delivery (tlsrpt_post.c; the queue role has no
 * network).
 * Queue role, main thread. Delivery's records are decoded strictly; their text is cut and
 * cleaned by tlsrpt.c; the state file is parsed with limits (it is fuzzed). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/role.h"
#include "config/config.h"
#include "lib/atomicfile.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"
#include "queue/queue_int.h"
#include "queue/tlsrpt.h"

#define TLSRPT_SAVE_DELAY 5.0	/* seconds: what a crash (kill -9) may forget of the counts */
#define TLSRPT_STATE_FILE "tlsrpt.state"

static struct {
	struct tlsrpt_agg agg;
	ev_timer period_w, save_w;
	int dirty;
	char path[4096];
} tr;

static long long
period_start(long long now, long long interval)
{
	return now - now % interval;
}

static void
tlsrpt_save(void)
{
	struct buf out;
	const char *err;

	buf_init(&out, TLSRPT_STATE_FILE_MAX);
	if (tlsrpt_state_format(&tr.agg, &out) < 0)
		log_err("tlsrpt: aggregate too large to save");
	else if (atomicfile_write(tr.path, out.data, out.len, 0600, &err) < 0)
		log_err("tlsrpt: cannot save %s: %s: %m", tr.path, err);
	else
		tr.dirty = 0;
	buf_free(&out);
}

static void
save_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	if (tr.dirty)
		tlsrpt_save();
}

static void
mark_dirty(void)
{
	tr.dirty = 1;
	if (!ev_is_active(&tr.save_w)) {
		ev_timer_set(&tr.save_w, TLSRPT_SAVE_DELAY, 0.0);
		ev_timer_start(role.loop, &tr.save_w);
	}
}

struct send_ctx {
	const struct tlsrpt_domain *d;
	struct tlsrpt_meta meta;
	size_t sent;
};

/* Enqueues one report message to addr, like a DSN: body first, then the envelope commit. */
static void
send_one(const char *addr, void *arg)
{
	struct send_ctx *c = arg;
	struct buf msg;
	const char *err = NULL;
	struct qmsg *m;
	struct envelope *env;

	buf_init(&msg, 64u * 1024 * 1024);
	if (tlsrpt_report_message(&tr.agg, c->d, &c->meta, addr, &msg, &err) < 0) {
		log_err("tlsrpt: report for %s not built: %s", c->d->domain, err);
		buf_free(&msg);
		return;
	}
	if ((m = queue_inject_begin(buf_slice(&msg))) == NULL) {
		log_err("tlsrpt: cannot create the report message for %s: %m", c->d->domain);
		buf_free(&msg);
		return;
	}
	env = xcalloc(1, sizeof(*env));
	envelope_init(env);
	str_lcpy(env->qid, m->qid, sizeof(env->qid));
	env->direction = ENV_OUTBOUND;
	env->sender = xstrdup(c->meta.from);
	env->arrival = c->meta.now;
	env->size = (long long)msg.len;
	env->body = ENV_BODY_7BIT;
	env->is_tlsrpt = 1;	/* delivered despite TLS failures, not counted (RFC 8460 §5.3) */
	envelope_add_rcpt(env, addr, NULL, 0);
	log_info("%s tlsrpt report domain=%s period=%lld+%lld to=<%s> size=%zu", m->qid,
	    c->d->domain, tr.agg.start, tr.agg.interval, addr, msg.len);
	buf_free(&msg);
	queue_commit_signed(m, env);	/* DKIM-signed when tlsrpt_from's domain signs */
	c->sent++;
}

/* Queues the https: submission of the report to url (RFC 8460 §5.4). */
static void
post_one(const char *url, void *arg)
{
	struct send_ctx *c = arg;
	struct buf gz;
	const char *err = NULL;

	buf_init(&gz, TLSRPT_POST_MAX);
	if (tlsrpt_report_gzip(&tr.agg, c->d, &c->meta, &gz, &err) < 0)
		log_err("tlsrpt: https: report for %s not built: %s", c->d->domain, err);
	else {
		tlsrpt_post_enqueue(url, &gz, c->d->domain);
		c->sent++;
	}
	buf_free(&gz);
}

/* Sends the finished period's reports and starts the period that contains now. */
static void
flush_period(long long now)
{
	const struct mg_config *cfg = role.cfg;
	char from[SMTP_PATH_MAX + 1];
	size_t reports = 0;

	if (cfg->tlsrpt_from != NULL && cfg->tlsrpt_from[0] != '\0')
		str_lcpy(from, cfg->tlsrpt_from, sizeof(from));
	else
		(void)str_fmt(from, sizeof(from), "postmaster@%s", cfg->hostname);
	for (size_t i = 0; cfg->tlsrpt && i < tr.agg.n_dom; i++) {
		struct send_ctx c = { .d = &tr.agg.dom[i] };
		size_t others = 0, https;

		c.meta.org_name = cfg->tlsrpt_org_name && cfg->tlsrpt_org_name[0] ?
		    cfg->tlsrpt_org_name : cfg->hostname;
		c.meta.contact = from;
		c.meta.submitter = cfg->hostname;
		c.meta.from = from;
		c.meta.now = now;
		tlsrpt_rua_mailto(c.d->rua, send_one, &c, &others);
		https = tlsrpt_rua_https(c.d->rua, post_one, &c);
		if (others > https)
			log_info("tlsrpt: %s: %zu rua URI(s) neither mailto: nor https: (or malformed) "
			    "skipped", c.d->domain, others - https);
		if (c.sent == 0 && others == 0)
			log_debug("tlsrpt: %s publishes no rua; no report", c.d->domain);
		reports += c.sent;
	}
	if (tr.agg.n_dom > 0 || tr.agg.dropped > 0)
		log_info("tlsrpt: period %lld+%lld closed: %zu domain(s), %zu report(s) queued, "
		    "%llu result(s) not recorded", tr.agg.start, tr.agg.interval, tr.agg.n_dom, reports,
		    (unsigned long long)tr.agg.dropped);
	tlsrpt_agg_clear(&tr.agg);
	tlsrpt_agg_init(&tr.agg, period_start(now, cfg->tlsrpt_interval), cfg->tlsrpt_interval);
	tlsrpt_save();	/* at once: a restart must not send these reports again */
}

static void
rearm(void)
{
	struct timespec ts;
	double now, wait;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	/* a little past the end, so that time(NULL) has reached it when the timer fires (an early
	 * wake-up would otherwise re-arm at 0 s and spin until the second turns) */
	wait = (double)(tr.agg.start + tr.agg.interval) - now + 0.01;
	ev_timer_stop(role.loop, &tr.period_w);
	ev_timer_set(&tr.period_w, wait > 0.01 ? wait : 0.01, 0.0);
	ev_timer_start(role.loop, &tr.period_w);
}

static void
period_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	long long now = (long long)time(NULL);

	(void)loop;
	(void)w;
	(void)revents;
	if (now >= tr.agg.start + tr.agg.interval)
		flush_period(now);
	rearm();
}

static char *
get_str(struct ipc_msg *msg)
{
	char *s = ipc_get_str(msg);

	return s != NULL ? s : xstrdup("");
}

void
tlsrpt_handle_result(struct ipc_msg *msg)
{
	struct tlsrpt_result r;
	char *dom = get_str(msg), *type = get_str(msg), *pstr = get_str(msg), *mx = get_str(msg);
	char *rip = get_str(msg), *sip = get_str(msg);
	uint32_t success = ipc_get_u32(msg);
	char *rt = get_str(msg), *why = get_str(msg), *rua = get_str(msg);
	long long now = (long long)time(NULL);

	ipc_msg_end(msg);
	if (role.cfg->tlsrpt) {
		if (now >= tr.agg.start + tr.agg.interval) {
			flush_period(now);
			rearm();
		}
		r = (struct tlsrpt_result){ .domain = dom, .policy_type = type, .policy_string = pstr,
			.mx_host = mx, .receiving_ip = rip, .sending_ip = sip, .success = success != 0,
			.result_type = rt, .reason = why, .rua = rua };
		if (tlsrpt_agg_add(&tr.agg, &r) < 0)
			log_debug("tlsrpt: result for %.64s not recorded", dom);
		else
			mark_dirty();
	}
	xfree(dom);
	xfree(type);
	xfree(pstr);
	xfree(mx);
	xfree(rip);
	xfree(sip);
	xfree(rt);
	xfree(why);
	xfree(rua);
}

static int
load_state(struct buf *text)
{
	int fd = open(tr.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	for (;;) {
		char chunk[16384];
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (r > 0 && buf_append(text, chunk, (size_t)r) < 0)) {
			close(fd);
			if (r > 0)
				errno = EFBIG;
			return -1;
		}
		if (r == 0)
			break;
	}
	close(fd);
	return 1;
}

void
tlsrpt_init(void)
{
	struct buf text;
	const char *err = NULL;
	long long now = (long long)time(NULL);
	int r;

	ev_timer_init(&tr.period_w, period_timer, 0.0, 0.0);
	ev_timer_init(&tr.save_w, save_timer, 0.0, 0.0);
	tlsrpt_post_init();	/* before a flush below may queue https: reports */
	str_fmt(tr.path, sizeof(tr.path), "%s/%s", role.cfg->state_dir, TLSRPT_STATE_FILE);
	tlsrpt_agg_init(&tr.agg, period_start(now, role.cfg->tlsrpt_interval),
	    role.cfg->tlsrpt_interval);
	buf_init(&text, TLSRPT_STATE_FILE_MAX);
	if ((r = load_state(&text)) < 0) {
		log_err("tlsrpt: cannot read %s: %m; counts start from zero", tr.path);
	} else if (r > 0) {
		struct tlsrpt_agg a;

		if (tlsrpt_state_parse(buf_slice(&text), &a, &err) < 0) {
			char bad[4200];

			(void)str_fmt(bad, sizeof(bad), "%s.corrupt", tr.path);
			log_err("tlsrpt: %s unusable (%s); kept as %s, counts start from zero",
			    tr.path, err, bad);
			(void)rename(tr.path, bad);
		} else {
			tr.agg = a;
			log_info("tlsrpt: restored %zu domain(s) of period %lld+%lld", a.n_dom,
			    a.start, a.interval);
		}
	}
	buf_free(&text);
	if (now >= tr.agg.start + tr.agg.interval)
		flush_period(now);	/* the period ended while we were down */
	rearm();
}

void
tlsrpt_reload(void)
{
	rearm();	/* a new interval applies from the next period */
}

void
tlsrpt_shutdown(void)
{
	ev_timer_stop(role.loop, &tr.period_w);
	ev_timer_stop(role.loop, &tr.save_w);
	tlsrpt_post_shutdown();
	if (tr.dirty)
		tlsrpt_save();
}

void
tlsrpt_describe(struct buf *out)
{
	long long now = (long long)time(NULL), end = tr.agg.start + tr.agg.interval;

	buf_printf(out, "tlsrpt=%s period=%lld+%llds ends_in=%llds dropped=%llu\n",
	    role.cfg->tlsrpt ? "yes" : "no", tr.agg.start, tr.agg.interval,
	    end > now ? end - now : 0, (unsigned long long)tr.agg.dropped);
	for (size_t i = 0; i < tr.agg.n_dom; i++) {
		const struct tlsrpt_domain *d = &tr.agg.dom[i];
		unsigned long long ok = 0, fail = 0;

		for (size_t j = 0; j < d->n_pol; j++) {
			ok += d->pol[j].success;
			fail += d->pol[j].failure;
		}
		buf_printf(out, "%s policies=%zu successful=%llu failed=%llu rua=%s\n", d->domain,
		    d->n_pol, ok, fail, d->rua[0] ? d->rua : "-");
	}
	buf_printf(out, "-- %zu policy domain(s) this period\n", tr.agg.n_dom);
}

