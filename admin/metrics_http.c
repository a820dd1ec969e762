/* metrics_http.c: the admin role's metrics routes and the history timer.
 *   GET /metrics        Prometheus text format 0.0.4 (ROUTE_METRICS: API token, or any client of
 *                       a metrics_listen listener)
 *   GET /api/v1/stats   JSON: totals, per-domain totals and, with span=24h|7d (and optionally
 *                       domain=NAME), the chart series of admin_metrics_series
 * The sample timer runs every 60 s (every 2 s when test_mode = yes, so integration tests need not
 * wait minutes); a Berkeley DB checkpoint of the history runs every 10 minutes on a short-lived
 * thread (it does disk I/O; the loop never waits for it except at stop).
 * Admin role's loop thread. Trusts the router for authentication; the query values are checked
 * against fixed lists or the domain-name bound before use. */
#include "admin/metrics.h"
#include "admin/metrics_int.h"

#include <ev.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "lib/kvdb.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define METRICS_PERIOD		60.0
#define METRICS_PERIOD_TEST	2.0
#define METRICS_CHECKPOINT_SEC	600

static struct {
	struct ev_loop *loop;
	ev_timer timer;
	int started;
	time_t last_checkpoint;
	pthread_t ckpt;
	int ckpt_running;		/* a thread was started and not yet joined */
	int ckpt_done;			/* set by the thread (atomic) */
} mt;

static void *
checkpoint_thread(void *arg)
{
	const char *err;

	if (mg_kvdb_checkpoint(arg, &err) < 0)
		log_warn("metrics: history checkpoint: %s", err);
	__atomic_store_n(&mt.ckpt_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void
checkpoint_join(int wait)
{
	if (!mt.ckpt_running || (!wait && !__atomic_load_n(&mt.ckpt_done, __ATOMIC_ACQUIRE)))
		return;
	pthread_join(mt.ckpt, NULL);
	mt.ckpt_running = 0;
}

static void
checkpoint_maybe(time_t now)
{
	checkpoint_join(0);
	if (mt.ckpt_running || now - mt.last_checkpoint < METRICS_CHECKPOINT_SEC ||
	    metrics_hist_kvdb() == NULL)
		return;
	mt.last_checkpoint = now;
	mt.ckpt_done = 0;
	if (pthread_create(&mt.ckpt, NULL, checkpoint_thread, metrics_hist_kvdb()) == 0)
		mt.ckpt_running = 1;
}

static void
sample_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	time_t now = time(NULL);

	(void)loop;
	(void)w;
	(void)revents;
	metrics_hist_sample((long long)now);
	checkpoint_maybe(now);
}

int
admin_metrics_start(struct ev_loop *loop, const char *state_dir, const char **error_r)
{
	const struct mg_config *cfg = admin_config();
	double period = cfg != NULL && cfg->test_mode ? METRICS_PERIOD_TEST : METRICS_PERIOD;

	admin_metrics_stop();
	metrics_reader_init(state_dir, (int64_t)getppid());
	if (metrics_hist_open(state_dir, (int)period, error_r) < 0)
		return -1;
	mt.loop = loop;
	mt.last_checkpoint = time(NULL);
	ev_timer_init(&mt.timer, sample_cb, period, period);
	ev_timer_start(loop, &mt.timer);
	mt.started = 1;
	log_info("metrics: history sampled every %.0f s into %s/admin-db", period, state_dir);
	return 0;
}

void
admin_metrics_stop(void)
{
	if (!mt.started)
		return;
	ev_timer_stop(mt.loop, &mt.timer);
	checkpoint_join(1);
	metrics_hist_close();
	metrics_reader_close();
	mt.started = 0;
}

static enum http_result
route_metrics(struct http_request *req, struct http_response *resp)
{
	(void)req;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	admin_metrics_render(&resp->body);
	return HTTP_DONE;
}

static void
json_totals(struct buf *o)
{
	struct admin_totals t;

	admin_metrics_totals(&t);
	buf_printf(o, "\"totals\":{\"in_deliver\":%llu,\"in_quarantine\":%llu,\"in_reject\":%llu,"
	    "\"in_greylist\":%llu,\"in_tempfail\":%llu,\"out_delivered\":%llu,"
	    "\"out_deferred\":%llu,\"out_bounced\":%llu,\"out_sent\":%llu,\"connections\":%llu,"
	    "\"sessions\":%lld,\"queue_active\":%lld,\"queue_deferred\":%lld,\"queue_held\":%lld,"
	    "\"queue_quarantined\":%lld,\"dkim_rotation_alerts\":%lld}",
	    t.in_deliver, t.in_quarantine, t.in_reject, t.in_greylist, t.in_tempfail,
	    t.out_delivered, t.out_deferred, t.out_bounced, t.out_sent, t.connections,
	    t.sessions, t.queue_active, t.queue_deferred, t.queue_held, t.queue_quarantined,
	    t.dkim_rotation_alerts);
}

static void
json_domains(struct buf *o)
{
	static const char *const keys[MD_METRIC_COUNT_] = {
		"in_deliver", "in_quarantine", "in_reject", "in_greylist", "in_tempfail",
		"out_delivered", "out_deferred", "out_bounced", "out_sent"
	};
	struct admin_domain_totals *d = xcalloc(METRICS_DOMAIN_SLOTS + 1, sizeof(*d));
	size_t n = admin_metrics_domains(d, METRICS_DOMAIN_SLOTS + 1);

	buf_append_str(o, "\"domains\":[");
	for (size_t i = 0; i < n; i++) {
		buf_append_str(o, i ? ",{\"domain\":" : "{\"domain\":");
		json_str(o, d[i].domain);
		for (int k = 0; k < MD_METRIC_COUNT_; k++)
			buf_printf(o, ",\"%s\":%llu", keys[k], d[i].v[k]);
		buf_append_char(o, '}');
	}
	buf_append_char(o, ']');
	xfree(d);
}

static void
json_series(struct buf *o, long long span, const char *domain)
{
	static const char *const names[] = { "in", "deliver", "quarantine", "reject", "greylist",
		"out", "bounced", "deferred", "queue", "sent", "connections" };
	struct admin_point pts[168];

	buf_printf(o, ",\"span\":%lld,\"step\":%d,\"domain\":", span, span == 86400 ? 600 : 3600);
	if (domain != NULL)
		json_str(o, domain);
	else
		buf_append_str(o, "null");
	buf_append_str(o, ",\"series\":{");
	for (size_t s = 0; s < sizeof(names) / sizeof(names[0]); s++) {
		size_t n = admin_metrics_series(names[s], domain, span, pts, 168);

		buf_printf(o, "%s\"%s\":[", s ? "," : "", names[s]);
		for (size_t i = 0; i < n; i++)
			buf_printf(o, "%s[%lld,%.17g]", i ? "," : "", pts[i].t, pts[i].v);
		buf_append_char(o, ']');
	}
	buf_append_char(o, '}');
}

static enum http_result
route_stats(struct http_request *req, struct http_response *resp)
{
	const char *span = http_query_get(req, "span"), *domain = http_query_get(req, "domain");
	long long span_sec = 0;

	if (span != NULL && strcmp(span, "24h") == 0)
		span_sec = 86400;
	else if (span != NULL && strcmp(span, "7d") == 0)
		span_sec = 604800;
	else if (span != NULL) {
		http_error(req, resp, 400, "span must be 24h or 7d");
		return HTTP_DONE;
	}
	if (domain != NULL && (domain[0] == '\0' || strlen(domain) >= METRICS_NAME_MAX)) {
		http_error(req, resp, 400, "bad domain");
		return HTTP_DONE;
	}
	resp->content_type = "application/json";
	buf_append_char(&resp->body, '{');
	json_totals(&resp->body);
	buf_append_char(&resp->body, ',');
	json_domains(&resp->body);
	if (span_sec != 0)
		json_series(&resp->body, span_sec, domain);
	buf_append_str(&resp->body, "}\n");
	return HTTP_DONE;
}

const struct admin_route admin_metrics_routes[] = {
	{ HTTP_GET, "/metrics", ROUTE_METRICS, route_metrics },
	{ HTTP_GET, "/api/v1/stats", ROUTE_API, route_stats },
	{ HTTP_GET, NULL, 0, NULL },
};
