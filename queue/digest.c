/* digest.c: the quarantine digest scheduler of the queue role (issue G). On the schedule
 * (digest_interval; whole days run at digest_time UTC) or on `mailguardctl quarantine
 * digest-now` it takes a snapshot of the quarantine index grouped by recipient (recipients of
 * protected domains only), and for every recipient with messages not yet listed builds ONE digest
 * (digest_build.c) and queues it like a DSN (queue_inject_begin, queue_commit_signed). A
 * scheduled run goes in batches (DIGEST_BATCH recipients or DIGEST_BATCH_SECS) so the loop keeps
 * serving; digest-now runs synchronously (about 0.3 ms per 5-message digest). Envelope sender: the null reverse path (RFC 5321 §4.5.5, RFC 3834 §3.1.5): a
 * digest is an automatic notification, and one that cannot be delivered must not bounce back to
 * the domain's digest_from, where the bounce would be filtered, perhaps quarantined and listed
 * in the next digest: a loop. From: is the domain's digest_from.
 * State, per recipient, in table "digest" of state_dir/queue-db: "mgd1 LAST QID..." = time of
 * the last digest and the messages it knew about that arrived within DIGEST_LATE of it (a
 * message enters the index up to filter_timeout after its arrival time, so arrival alone is no
 * watermark). A message is new when it arrived at or after LAST - DIGEST_LATE and is not in
 * that list. The table is a cache: losing it re-lists messages once. Key "#run" holds the time
 * of the last scheduled run, so that a run missed while the queue was down happens at start.
 * Queue role, main thread. Trusts the index (queue/quarantine.c); values read back from the
 * database are parsed strictly and ignored when malformed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/qtoken.h"
#include "common/role.h"
#include "config/config.h"
#include "lib/kvdb.h"
#include "lib/log.h"
#include "lib/sanitize.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"
#include "queue/digest.h"
#include "queue/quarantine.h"
#include "queue/queue_int.h"

#define DIGEST_TABLE "digest"
#define DIGEST_RUN_KEY "#run"
#define DIGEST_LATE 3600LL		/* arrival-to-index delay allowed for (>> filter_timeout) */
#define DIGEST_SEEN_MAX 4096		/* qids remembered per recipient */
#define DIGEST_BATCH 100		/* recipients per loop iteration of a scheduled run, */
#define DIGEST_BATCH_SECS 0.05		/* or this long, whichever comes first */
#define DIGEST_MISSED_DELAY 10.0	/* seconds after start for a run missed while down */
#define DIGEST_HASH 4096
#define DAY 86400LL

struct dgroup {
	char *rcpt;		/* lower case */
	char (*qids)[QUEUE_ID_LEN + 1];
	size_t n, cap;
	struct dgroup *hnext;
};

static struct {
	ev_timer slot_w, batch_w;
	struct mg_kvdb_table *t;
	struct dgroup **groups;	/* the run's snapshot */
	size_t n_groups, next;
	int running, scheduled;
	long long run_now;
	size_t sent, failed;
	char base_url[1024];
	void *logo;
	size_t logo_len;
	const char *logo_type;
} ds;

/* ---- schedule ---- */

/* The latest scheduled time at or before now. */
static long long
prev_slot(long long now)
{
	long long iv = role.cfg->digest_interval, day;

	if (iv <= 0)
		iv = DAY;
	if (iv % DAY != 0)
		return now - now % iv;
	/* whole days: at digest_time UTC on days whose number is a multiple of iv / DAY */
	day = (now - role.cfg->digest_time) / DAY;
	if (now < role.cfg->digest_time)
		day = -1;
	day -= ((day % (iv / DAY)) + iv / DAY) % (iv / DAY);
	return day * DAY + role.cfg->digest_time;
}

static long long
read_run_time(void)
{
	struct buf v;
	long long t = 0;
	const char *err;

	if (ds.t == NULL)
		return 0;
	buf_init(&v, 64);
	if (mg_kvdb_get(ds.t, DIGEST_RUN_KEY, strlen(DIGEST_RUN_KEY), &v) == 1 &&
	    (v.len < 6 || strncmp(v.data, "mgr1 ", 5) != 0 ||
	    strnum_ll(v.data + 5, 0, ENVELOPE_TIME_MAX, &t, &err) < 0))
		t = 0;
	buf_free(&v);
	return t;
}

static void
write_run_time(long long t)
{
	char v[64];

	(void)str_fmt(v, sizeof(v), "mgr1 %lld", t);
	if (ds.t != NULL && mg_kvdb_put(ds.t, DIGEST_RUN_KEY, strlen(DIGEST_RUN_KEY), v,
	    strlen(v)) < 0)
		log_err("digest: run time not stored (a restart may run again)");
}

static void
arm_slot(double delay)
{
	ev_timer_stop(role.loop, &ds.slot_w);
	ev_timer_set(&ds.slot_w, delay > 0.01 ? delay : 0.01, 0.0);
	ev_timer_start(role.loop, &ds.slot_w);
}

static void
arm_next_slot(void)
{
	long long now = (long long)time(NULL);

	/* a little past the slot so that time() has reached it when the timer fires */
	arm_slot((double)(prev_slot(now) + role.cfg->digest_interval - now) + 0.05);
}

/* ---- per-recipient state ---- */

struct dstate {
	long long last;			/* 0: no digest yet */
	char (*seen)[QUEUE_ID_LEN + 1];	/* sorted */
	size_t n_seen;
};

static int
qid_cmp(const void *a, const void *b)
{
	return memcmp(a, b, QUEUE_ID_LEN);
}

static int
hex_qid_ok(const char *s, size_t n)
{
	if (n != QUEUE_ID_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Parses "mgd1 LAST[ QID]..." strictly; 0 or -1 (st is then empty). */
static int
state_parse(struct slice v, struct dstate *st)
{
	char num[24];
	size_t i = 5, j;
	const char *err;

	memset(st, 0, sizeof(*st));
	if (v.len < 6 || memcmp(v.p, "mgd1 ", 5) != 0)
		return -1;
	for (j = i; j < v.len && v.p[j] != ' '; j++)
		;
	if (j - i == 0 || j - i >= sizeof(num))
		return -1;
	memcpy(num, v.p + i, j - i);
	num[j - i] = '\0';
	if (strnum_ll(num, 0, ENVELOPE_TIME_MAX, &st->last, &err) < 0)
		return -1;
	st->seen = xcalloc((v.len - j) / (QUEUE_ID_LEN + 1) + 1, sizeof(*st->seen));
	for (i = j; i < v.len; i += QUEUE_ID_LEN + 1) {
		if (v.p[i] != ' ' || !hex_qid_ok(v.p + i + 1, v.len - i - 1 < QUEUE_ID_LEN ?
		    v.len - i - 1 : QUEUE_ID_LEN) || st->n_seen >= DIGEST_SEEN_MAX) {
			xfree(st->seen);
			memset(st, 0, sizeof(*st));
			return -1;
		}
		memcpy(st->seen[st->n_seen], v.p + i + 1, QUEUE_ID_LEN);
		st->seen[st->n_seen++][QUEUE_ID_LEN] = '\0';
	}
	qsort(st->seen, st->n_seen, sizeof(*st->seen), qid_cmp);
	return 0;
}

static void
state_load(const char *rcpt, struct dstate *st)
{
	struct buf v;

	memset(st, 0, sizeof(*st));
	if (ds.t == NULL)
		return;
	buf_init(&v, 16 + DIGEST_SEEN_MAX * (QUEUE_ID_LEN + 1));
	if (mg_kvdb_get(ds.t, rcpt, strlen(rcpt), &v) == 1 && state_parse(buf_slice(&v), st) < 0)
		log_warn("digest: state of %s malformed; its quarantine is listed again", rcpt);
	buf_free(&v);
}

/* ---- snapshot ---- */

static size_t
rcpt_hash(const char *s)
{
	size_t h = 5381;

	for (; *s; s++)
		h = h * 33 + (unsigned char)*s;
	return h % DIGEST_HASH;
}

static int
rcpt_ok(const char *s)
{
	const char *at = strrchr(s, '@');

	/* ASCII addresses only: a cleaned 8-bit address may not be the one that was received */
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return 0;
	return at != NULL && at != s && at[1] != '\0' && strlen(s) <= QTOKEN_RCPT_MAX;
}

static void
snapshot_free(void)
{
	for (size_t i = 0; i < ds.n_groups; i++) {
		xfree(ds.groups[i]->rcpt);
		xfree(ds.groups[i]->qids);
		xfree(ds.groups[i]);
	}
	xfree(ds.groups);
	ds.groups = NULL;
	ds.n_groups = ds.next = 0;
}

static void
group_add(struct dgroup **hash, size_t *cap, const char *rcpt, const char *qid)
{
	size_t h = rcpt_hash(rcpt);
	struct dgroup *g;

	for (g = hash[h]; g != NULL && strcmp(g->rcpt, rcpt) != 0; g = g->hnext)
		;
	if (g == NULL) {
		g = xcalloc(1, sizeof(*g));
		g->rcpt = xstrdup(rcpt);
		g->hnext = hash[h];
		hash[h] = g;
		if (ds.n_groups == *cap) {
			*cap = *cap ? *cap * 2 : 256;
			ds.groups = xreallocarray(ds.groups, *cap, sizeof(*ds.groups));
		}
		ds.groups[ds.n_groups++] = g;
	}
	if (g->n > 0 && strcmp(g->qids[g->n - 1], qid) == 0)
		return;	/* the same address twice in one envelope */
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 8;
		g->qids = xreallocarray(g->qids, g->cap, sizeof(*g->qids));
	}
	str_lcpy(g->qids[g->n++], qid, sizeof(g->qids[0]));
}

/* Groups the index by recipient (protected domains, ASCII addresses). */
static void
snapshot_build(void)
{
	struct dgroup **hash = xcalloc(DIGEST_HASH, sizeof(*hash));
	struct quar_rec **recs;
	size_t n, cap = 0, skipped = 0;
	char rcpt[QTOKEN_RCPT_MAX + 1];

	snapshot_free();
	recs = quarantine_records(&n);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < recs[i]->n_rcpts; k++) {
			const char *a = recs[i]->rcpts[k];

			if (!rcpt_ok(a)) {
				skipped++;
				continue;
			}
			str_lcpy(rcpt, a, sizeof(rcpt));
			str_lower(rcpt);
			if (config_domain_find(role.cfg, strrchr(rcpt, '@') + 1) == NULL) {
				skipped++;
				continue;
			}
			group_add(hash, &cap, rcpt, recs[i]->qid);
		}
	xfree(hash);
	if (skipped > 0)
		log_debug("digest: %zu recipient entr%s of quarantined mail outside the protected "
		    "domains (or not ASCII) get no digest", skipped, skipped == 1 ? "y" : "ies");
}

/* ---- one recipient ---- */

static int
item_newer(const void *a, const void *b)
{
	const struct digest_item *x = a, *y = b;

	if (x->arrival != y->arrival)
		return x->arrival > y->arrival ? -1 : 1;
	return x->order > y->order ? -1 : x->order < y->order ? 1 : 0;
}

static const char *
digest_sender(const char *domain, char *buf, size_t size)
{
	const struct mg_domain *d = config_domain_find(role.cfg, domain);

	if (d != NULL && d->digest_from != NULL && d->digest_from[0] != '\0')
		return d->digest_from;
	if (role.cfg->digest_from_default != NULL && role.cfg->digest_from_default[0] != '\0')
		return role.cfg->digest_from_default;
	(void)str_fmt(buf, size, "postmaster@%s", domain);
	return buf;
}

/* Queues the built digest for rcpt; 0 or -1. */
static int
digest_queue(const char *rcpt, const char *from, const struct buf *msg, size_t listed,
    size_t n_new)
{
	struct qmsg *m;
	struct envelope *env;
	char c1[SANITIZE_MAX + 4], c2[SANITIZE_MAX + 4];

	if ((m = queue_inject_begin(buf_slice(msg))) == NULL) {
		log_err("digest: cannot create the digest for %s: %m",
		    sanitize(c1, rcpt, strlen(rcpt)));
		return -1;
	}
	env = xcalloc(1, sizeof(*env));
	envelope_init(env);
	str_lcpy(env->qid, m->qid, sizeof(env->qid));
	env->direction = ENV_INBOUND;	/* to a protected domain's user: its transport */
	env->sender = xstrdup("");	/* null reverse path: see the file comment */
	env->arrival = ds.run_now;
	env->size = (long long)msg->len;
	env->body = ENV_BODY_7BIT;	/* quoted-printable and base64 parts */
	envelope_add_rcpt(env, rcpt, NULL, 0);
	log_info("%s digest to=<%s> from=<%s> listed=%zu new=%zu size=%zu", m->qid,
	    sanitize(c1, rcpt, strlen(rcpt)), sanitize(c2, from, strlen(from)), listed, n_new,
	    msg->len);
	queue_commit_signed_as(m, env, from);	/* DKIM-signed as the From domain when it signs */
	return 0;
}

/* Stores "mgd1 now QID..." with g's messages that arrived within DIGEST_LATE of now. */
static void
state_store(const struct dgroup *g, long long now)
{
	struct buf v;
	size_t kept = 0;

	if (ds.t == NULL)
		return;
	buf_init(&v, 16 + (DIGEST_SEEN_MAX + 1) * (QUEUE_ID_LEN + 1));
	(void)buf_printf(&v, "mgd1 %lld", now);
	/* newest last in the index order: walk backwards to keep the newest when over the cap */
	for (size_t i = g->n; i-- > 0 && kept < DIGEST_SEEN_MAX;) {
		struct quar_rec *r = quarantine_lookup(g->qids[i]);

		if (r != NULL && r->arrival >= now - DIGEST_LATE) {
			(void)buf_printf(&v, " %s", g->qids[i]);
			kept++;
		}
	}
	if (mg_kvdb_put(ds.t, g->rcpt, strlen(g->rcpt), v.data, v.len) < 0)
		log_err("digest: state of %s not stored (its messages may be listed again)",
		    g->rcpt);
	buf_free(&v);
}

/* Builds and queues g's digest when it has new messages. 1 sent, 0 nothing new, -1 error. */
static int
digest_one(const struct dgroup *g, long long now)
{
	struct dstate st;
	struct digest_item *items = xcalloc(g->n ? g->n : 1, sizeof(*items));
	size_t n = 0;
	const char *domain = strrchr(g->rcpt, '@') + 1, *from, *err;
	char fbuf[300];
	struct buf msg;
	int rc = 0;

	state_load(g->rcpt, &st);
	for (size_t i = 0; i < g->n; i++) {
		struct quar_rec *r = quarantine_lookup(g->qids[i]);

		if (r == NULL || (st.last > 0 && r->arrival < st.last - DIGEST_LATE) ||
		    (st.n_seen > 0 &&
		    bsearch(g->qids[i], st.seen, st.n_seen, sizeof(*st.seen), qid_cmp) != NULL))
			continue;
		items[n++] = (struct digest_item){ .qid = r->qid, .sender = r->sender,
			.subject = r->subject, .arrival = r->arrival, .score = r->score, .order = i };
	}
	xfree(st.seen);
	if (n == 0) {
		xfree(items);
		return 0;
	}
	qsort(items, n, sizeof(*items), item_newer);
	from = digest_sender(domain, fbuf, sizeof(fbuf));
	buf_init(&msg, DIGEST_MSG_MAX);
	{
		struct digest_params p = { .rcpt = g->rcpt, .from = from,
			.brand_name = role.cfg->brand_name, .brand_color = role.cfg->brand_color,
			.base_url = ds.base_url, .hostname = role.cfg->hostname, .logo = ds.logo,
			.logo_len = ds.logo_len, .logo_type = ds.logo_type, .now = now,
			.link_expires = now + role.cfg->digest_link_lifetime };

		if (digest_build(&p, items, n, &msg, &err) < 0) {
			log_err("digest: digest for %s not built: %s", g->rcpt, err);
			rc = -1;
		}
	}
	if (rc == 0 && (rc = digest_queue(g->rcpt, from, &msg, n < DIGEST_LIST_MAX ? n :
	    DIGEST_LIST_MAX, n)) == 0) {
		state_store(g, now);
		rc = 1;
	}
	buf_free(&msg);
	xfree(items);
	return rc;
}

/* ---- a run ---- */

/* The console's base URL: public_url, else https://hostname:PORT of the first admin listener
 * in state_dir/listeners (written by the supervisor). */
static void
base_url_set(void)
{
	char path[4200], line[600];
	FILE *f;
	int port = 0;

	if (role.cfg->public_url != NULL && role.cfg->public_url[0] != '\0') {
		str_lcpy(ds.base_url, role.cfg->public_url, sizeof(ds.base_url));
		return;
	}
	(void)str_fmt(path, sizeof(path), "%s/listeners", role.cfg->state_dir);
	if ((f = fopen(path, "re")) != NULL) {
		while (port == 0 && fgets(line, sizeof(line), f) != NULL) {
			char *fld[4];
			long long v;
			const char *err;

			line[strcspn(line, "\n")] = '\0';
			if (str_split(line, " ", fld, 4) == 3 && strcmp(fld[0], "admin") == 0 &&
			    strnum_ll(fld[2], 1, 65535, &v, &err) == 0)
				port = (int)v;
		}
		fclose(f);
	}
	if (port == 0) {
		log_warn("digest: public_url is empty and no admin listener is known; links use "
		    "https://%s/", role.cfg->hostname);
		(void)str_fmt(ds.base_url, sizeof(ds.base_url), "https://%s", role.cfg->hostname);
	} else {
		(void)str_fmt(ds.base_url, sizeof(ds.base_url), "https://%s:%d", role.cfg->hostname,
		    port);
	}
}

static void
logo_load(void)
{
	const char *path = role.cfg->brand_logo;
	int fd;
	ssize_t r;
	size_t len = 0;

	xfree(ds.logo);
	ds.logo = NULL;
	ds.logo_len = 0;
	ds.logo_type = NULL;
	if (path == NULL || path[0] == '\0')
		return;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		log_warn("digest: brand_logo %s unreadable: %m; digests without a logo", path);
		return;
	}
	ds.logo = xmalloc(DIGEST_LOGO_MAX + 1);
	while (len <= DIGEST_LOGO_MAX &&
	    (r = read(fd, (char *)ds.logo + len, DIGEST_LOGO_MAX + 1 - len)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (len == 0 || len > DIGEST_LOGO_MAX || (ds.logo_type = digest_logo_type(ds.logo, len)) ==
	    NULL) {
		log_warn("digest: brand_logo %s is %s; digests without a logo", path, len == 0 ?
		    "empty or unreadable" : len > DIGEST_LOGO_MAX ? "over 256 KiB" :
		    "neither PNG nor SVG");
		xfree(ds.logo);
		ds.logo = NULL;
		return;
	}
	ds.logo_len = len;
}

/* Starts a run: keys, URL, logo, snapshot. 0, or -1 when no run can be made. */
static int
run_begin(long long now)
{
	const char *err;

	if (qtoken_keys_load(role.cfg->state_dir, 1, role.cfg->digest_link_lifetime, now,
	    &err) < 0) {
		log_err("digest: no link keys (%s/qtoken-keys: %s); no digests this run",
		    role.cfg->state_dir, err);
		return -1;
	}
	base_url_set();
	logo_load();
	snapshot_build();
	ds.run_now = now;
	ds.sent = ds.failed = 0;
	ds.running = 1;
	return 0;
}

/* Processes at most max recipients of the run, for at most secs seconds (0: no limit); 1 when
 * the run is complete. */
static int
run_some(size_t max, double secs)
{
	double until = ev_time() + secs;

	for (size_t k = 0; k < max && ds.next < ds.n_groups; k++) {
		if (secs > 0 && k > 0 && ev_time() > until)
			break;
		int r = digest_one(ds.groups[ds.next++], ds.run_now);

		if (r > 0)
			ds.sent++;
		else if (r < 0)
			ds.failed++;
	}
	return ds.next >= ds.n_groups;
}

static void
run_end(void)
{
	log_info("digest: run done: %zu digest(s) queued, %zu recipient(s) with quarantined mail, "
	    "%zu failed", ds.sent, ds.n_groups, ds.failed);
	if (ds.scheduled)
		write_run_time(ds.run_now);
	ds.running = ds.scheduled = 0;
	snapshot_free();
	xfree(ds.logo);
	ds.logo = NULL;
	ds.logo_len = 0;
	ev_timer_stop(role.loop, &ds.batch_w);
}

static void
batch_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	if (!ds.running)
		return;
	if (run_some(DIGEST_BATCH, DIGEST_BATCH_SECS))
		run_end();
	else
		ev_timer_again(role.loop, w);
}

static void
slot_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	long long now = (long long)time(NULL);

	(void)loop;
	(void)w;
	(void)revents;
	if (!ds.running && run_begin(now) == 0) {
		ds.scheduled = 1;
		ds.batch_w.repeat = 0.001;
		ev_timer_again(role.loop, &ds.batch_w);
	}
	arm_next_slot();
}

void
digest_init(void)
{
	const char *err;
	long long now = (long long)time(NULL), last;

	ev_init(&ds.slot_w, slot_timer);
	ev_init(&ds.batch_w, batch_timer);
	if ((ds.t = quarantine_db_table(DIGEST_TABLE)) == NULL)
		log_err("digest: no state table; every run lists the whole quarantine");
	/* create (or rotate) the link keys now, so that the console can verify from the start */
	if (qtoken_keys_load(role.cfg->state_dir, 1, role.cfg->digest_link_lifetime, now,
	    &err) < 0)
		log_err("digest: link keys %s/qtoken-keys: %s", role.cfg->state_dir, err);
	last = read_run_time();
	if (last == 0) {
		write_run_time(now);	/* first start: the first run is at the next slot */
		arm_next_slot();
	} else if (last < prev_slot(now)) {
		log_info("digest: the run due at %lld was missed; running in %.0f s",
		    prev_slot(now), DIGEST_MISSED_DELAY);
		arm_slot(DIGEST_MISSED_DELAY);
	} else {
		arm_next_slot();
	}
}

void
digest_reload(void)
{
	if (!ds.running)
		arm_next_slot();	/* a new interval or time applies from now */
}

void
digest_shutdown(void)
{
	ev_timer_stop(role.loop, &ds.slot_w);
	ev_timer_stop(role.loop, &ds.batch_w);
	if (ds.running) {
		log_info("digest: run interrupted by shutdown after %zu of %zu recipient(s); the "
		    "rest get theirs at the next run", ds.next, ds.n_groups);
		ds.running = ds.scheduled = 0;
	}
	snapshot_free();
	xfree(ds.logo);
	ds.logo = NULL;
	ds.t = NULL;
}

int
digest_ctl_now(int argc, char **argv, struct buf *out)
{
	long long now = (long long)time(NULL);

	(void)argv;
	if (argc != 0) {
		buf_printf(out, "error: usage: quarantine digest-now\n");
		return 2;
	}
	if (ds.running) {	/* finish the scheduled run first */
		(void)run_some(SIZE_MAX, 0);
		run_end();
	}
	if (run_begin(now) < 0) {
		buf_printf(out, "error: no digests: the link keys are unusable (see the log)\n");
		return 1;
	}
	(void)run_some(SIZE_MAX, 0);
	buf_printf(out, "digests: %zu queued, %zu recipient(s) with quarantined mail, %zu failed\n",
	    ds.sent, ds.n_groups, ds.failed);
	run_end();
	return ds.failed > 0 ? 1 : 0;
}
