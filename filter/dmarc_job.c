/* dmarc_job.c: our daily DMARC aggregate reports (RFC 7489 §7.2), filter role. When
 * dmarc_report = yes, a loop timer checks every DJ_CHECK seconds whether the previous UTC day's
 * reports are due (00:00 UTC + dmarc_report_delay) and not made yet, and submits one pool job:
 * it reads the day's rows from the `dmarc` table (one full sweep, expiring rows older than
 * dmarc_report_retention on the way), aggregates them (dmarc/agg_build.c), looks up each policy
 * domain's record now, picks the rua destinations (exclusion list, addresses that bounced
 * dmarc_report_bounce_limit times, !size, §7.1 external verification) and writes one file per
 * report message to state_dir/dmarc-out/ (doc/queue-format.md), which the queue role injects
 * (queue/dmarc_out.c). The day is recorded in state_dir/dmarc-out/<begin>.done: the ids of the
 * reports finished (sent or skipped for good), then a line "." when the whole day is; a rerun
 * after a crash skips finished reports, and report ids are stable (a report written twice has
 * the same id, so receivers drop the copy). A temporary DNS failure leaves the day open and the
 * job retries every DJ_RETRY seconds, for at most DJ_GIVE_UP after the day's end.
 * test_mode: the file state_dir/dmarc-out/report-now (empty, or a Unix time) makes the next
 * check (every second) report the UTC day holding that time (empty: now) and is removed.
 * With dmarc_report = no the rows are still stored, so the timer then only expires them (hourly).
 * Timer and bookkeeping: loop thread; dj_run: a pool thread (blocking DB, DNS and file I/O). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/role.h"
#include "dmarc/dmarc.h"
#include "filter/dmarc_job.h"
#include "filter/filter_int.h"
#include "lib/atomicfile.h"
#include "lib/log.h"
#include "lib/sanitize.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

#define DJ_DIR "dmarc-out"
#define DJ_CHECK 60.0			/* s between checks */
#define DJ_CHECK_TEST 1.0		/* test_mode */
#define DJ_RETRY 600			/* s before a day with a temporary failure is tried again */
#define DJ_GIVE_UP (2 * 86400LL)	/* s after the day's end we stop retrying it */
#define DJ_SWEEP_CHUNK 5000		/* rows per mg_kvdb_sweep call */
#define DJ_SWEEP_CALLS 100000		/* bound on calls per pass */
#define DJ_FILE_MAX (4u << 20)		/* .done and bounces files we read */
#define DJ_BOUNCE_ADDRS 4096		/* distinct bounced addresses counted */
#define DJ_EXCLUDE_MAX 1024		/* dmarc_report_exclude entries */
#define DJ_EXPIRE_EVERY 3600		/* s between expiry-only runs (dmarc_report = no) */
#define DJ_DONE_BATCH 50		/* reports between rewrites of the .done file */
#define DJ_HDR_MAX 4096			/* the dmarc-out file's envelope lines */

struct dj_job {
	struct workq_job w;
	struct filter_gen *g;		/* counted reference: the configuration */
	long long day;			/* begin of the UTC day (0: from the trigger file) */
	long long now;
	int trigger;			/* test_mode trigger file present */
	int expire_only;		/* dmarc_report = no: only expire old rows */
	/* results */
	int tempfail;			/* the day stays open */
	int already;			/* the day was done before */
	size_t files, skipped;
	unsigned long long rows, expired;
};

static struct {
	ev_timer w;
	int init, busy;
	long long last_done;		/* latest day finished (loop) */
	long long retry_at;		/* no new attempt before (loop) */
	long long next_expire;		/* dmarc_report = no: next expiry-only run (loop) */
	int sweep_dirty;		/* a pass over the table ended early (pool, one job at a time) */
} dj;

static long long
day_begin(long long t)
{
	return t - ((t % 86400) + 86400) % 86400;
}

/* ---- the set of finished report ids (<begin>.done) ---- */

struct dj_done {
	struct buf text;		/* lines "id\n", "." last when complete */
	int complete;
};

static void
done_load(const char *path, struct dj_done *d)
{
	int fd;
	ssize_t n;

	buf_init(&d->text, DJ_FILE_MAX);
	d->complete = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return;
	(void)buf_reserve(&d->text, 65536);
	while (d->text.len < DJ_FILE_MAX &&
	    (n = read(fd, d->text.data + d->text.len, d->text.cap - d->text.len)) > 0) {
		d->text.len += (size_t)n;
		d->text.data[d->text.len] = '\0';
		if (d->text.len == d->text.cap && buf_reserve(&d->text, 65536) < 0)
			break;
	}
	(void)close(fd);
	/* a partial last line (cannot happen with atomic writes) is dropped */
	while (d->text.len > 0 && d->text.data[d->text.len - 1] != '\n')
		d->text.len--;
	d->text.data[d->text.len] = '\0';
	d->complete = d->text.len >= 2 && strcmp(d->text.data + d->text.len - 2, ".\n") == 0 &&
	    (d->text.len == 2 || d->text.data[d->text.len - 3] == '\n');
}

static int
done_has(const struct dj_done *d, const char *id)
{
	size_t l = strlen(id);
	const char *p = d->text.data;

	while (p != NULL && *p != '\0') {
		const char *nl = strchr(p, '\n');

		if (nl != NULL && (size_t)(nl - p) == l && memcmp(p, id, l) == 0)
			return 1;
		p = nl != NULL ? nl + 1 : NULL;
	}
	return 0;
}

static int
done_save(const char *path, struct dj_done *d, const char *id, int complete)
{
	const char *err;

	if (id != NULL && buf_printf(&d->text, "%s\n", id) < 0)
		return -1;
	if (complete && buf_append_str(&d->text, ".\n") < 0)
		return -1;
	if (atomicfile_write(path, d->text.data, d->text.len, 0600, &err) < 0) {
		log_err("dmarc report: %s: %s: %m", path, err);
		return -1;
	}
	return 0;
}

/* ---- reading the day's rows ---- */

struct dj_scan {
	struct mg_dmarc_agg *a;
	long long begin, end, expire_before;
	int collect;
	char last[MG_KVDB_KEY_MAX + 1];	/* key collected last: a retried chunk is not counted twice */
	size_t last_len;
	unsigned long long rows;
};

/* Keys are "%020lld.<qid>.<sid>" (checks.c): the time is the first 20 digits. */
static int
dj_keep(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct dj_scan *s = arg;
	const char *k = key;
	long long t = 0;
	const char *err;

	if (klen < 21 || k[20] != '.')
		return 1;	/* not a row key of ours: left alone */
	for (size_t i = 0; i < 20; i++) {
		if (!isdigit((unsigned char)k[i]))
			return 1;
		t = t * 10 + (k[i] - '0');
	}
	if (s->collect && t >= s->begin && t <= s->end && klen <= MG_KVDB_KEY_MAX &&
	    (s->last_len == 0 || memcmp(k, s->last, klen < s->last_len ? klen : s->last_len) > 0 ||
	    (memcmp(k, s->last, klen < s->last_len ? klen : s->last_len) == 0 &&
	    klen > s->last_len))) {
		memcpy(s->last, k, klen);
		s->last_len = klen;
		s->rows++;
		(void)mg_dmarc_agg_add_line(s->a, val, vlen, &err);
	}
	return t < s->expire_before ? 0 : 1;
}

/* One full pass (two when an earlier one stopped midway). 0 or -1. */
static int
dj_collect(struct dj_job *j, struct mg_dmarc_agg *a)
{
	const struct mg_config *cfg = j->g->cfg;
	struct dj_scan s;
	size_t removed = 0;
	int r = 0;

	memset(&s, 0, sizeof(s));
	s.a = a;
	s.begin = j->day;
	s.end = j->day + 86399;
	s.expire_before = j->now - cfg->dmarc_report_retention;
	if (!j->expire_only && s.expire_before > j->day)
		s.expire_before = j->day;	/* never the rows of the day being reported */
	for (int pass = dj.sweep_dirty ? 0 : 1; pass < 2; pass++) {
		s.collect = pass == 1 && !j->expire_only;
		r = 0;
		for (size_t calls = 0; r == 0 && calls < DJ_SWEEP_CALLS; calls++)
			r = mg_kvdb_sweep(filter.dmarc_tab, dj_keep, &s, DJ_SWEEP_CHUNK, &removed);
		dj.sweep_dirty = r != 1;
		if (r != 1)
			return -1;
	}
	j->rows = s.rows;
	j->expired = removed;
	return 0;
}

/* ---- exclusions: dmarc_report_exclude and the bounces file ---- */

struct dj_excl {
	char *cfg_copy;
	const char **list;
	size_t n, cap;
	struct { char addr[MG_DMARC_URI_LEN + 1]; long long count; } *b;
	size_t n_b;
};

static void
excl_add(struct dj_excl *e, const char *s)
{
	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 16;
		e->list = xreallocarray(e->list, e->cap, sizeof(*e->list));
	}
	e->list[e->n++] = s;
}

/* Lines "address count time" appended by the queue (queue/dmarc_out.c); bad lines skipped. */
static void
bounces_load(const char *path, struct dj_excl *e, int limit)
{
	struct dj_done f;	/* same bounded reader */
	char *save = NULL, *line;

	if (limit <= 0)
		return;
	done_load(path, &f);
	e->b = xcalloc(DJ_BOUNCE_ADDRS, sizeof(*e->b));
	for (line = f.text.len > 0 ? strtok_r(f.text.data, "\n", &save) : NULL; line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *fld[4];
		long long c, t;
		const char *err;
		size_t i;

		if (str_split(line, " ", fld, 4) != 3 || strlen(fld[0]) > MG_DMARC_URI_LEN ||
		    strchr(fld[0], '@') == NULL ||
		    strnum_ll(fld[1], 1, 1000000, &c, &err) < 0 ||
		    strnum_ll(fld[2], 0, 1LL << 40, &t, &err) < 0)
			continue;
		for (i = 0; i < e->n_b && strcasecmp(e->b[i].addr, fld[0]) != 0; i++)
			;
		if (i == e->n_b) {
			if (e->n_b == DJ_BOUNCE_ADDRS)
				continue;
			str_lcpy(e->b[e->n_b++].addr, fld[0], sizeof(e->b[0].addr));
		}
		e->b[i].count += c;
	}
	buf_free(&f.text);
	for (size_t i = 0; i < e->n_b; i++)
		if (e->b[i].count >= limit)
			excl_add(e, e->b[i].addr);
}

static void
excl_load(struct dj_excl *e, const struct mg_config *cfg, const char *dir)
{
	char *fld[DJ_EXCLUDE_MAX];
	char *path;
	int n;

	memset(e, 0, sizeof(*e));
	e->cfg_copy = xstrdup(cfg->dmarc_report_exclude != NULL ? cfg->dmarc_report_exclude : "");
	if ((n = str_split(e->cfg_copy, " \t,", fld, DJ_EXCLUDE_MAX)) < 0) {
		log_warn("dmarc report: dmarc_report_exclude: only the first %d entries used",
		    DJ_EXCLUDE_MAX);
		n = DJ_EXCLUDE_MAX;
	}
	for (int i = 0; i < n; i++)
		excl_add(e, fld[i]);
	path = xasprintf("%s/bounces", dir);
	bounces_load(path, e, cfg->dmarc_report_bounce_limit);
	xfree(path);
}

static void
excl_free(struct dj_excl *e)
{
	xfree(e->cfg_copy);
	xfree(e->list);
	xfree(e->b);
}

/* ---- one report ---- */

struct dj_ctx {
	struct dj_job *j;
	struct mg_dmarc_agg *a;
	const struct mg_dns_lookup *dns;
	const struct mg_dmarc_agg_meta *meta;
	const struct dj_excl *ex;
	const char *dir;
};

/* "mailguard-dmarc-out 1", from, rcpts, blank line, the message; written atomically. */
static int
dj_write(const struct dj_ctx *c, const struct mg_dmarc_agg_report *r, const char *const *to,
    size_t n_to, const struct buf *msg)
{
	const char *hex = strrchr(r->report_id, '.'), *err;
	struct buf f;
	char *path;
	int rc = 0;

	buf_init(&f, DJ_HDR_MAX + MG_DMARC_AGG_MSG_MAX);
	(void)buf_printf(&f, "mailguard-dmarc-out 1\nfrom %s\n", c->meta->from);
	for (size_t i = 0; i < n_to; i++)
		(void)buf_printf(&f, "rcpt %s\n", to[i]);
	if (buf_append_char(&f, '\n') < 0 || buf_append(&f, msg->data, msg->len) < 0) {
		buf_free(&f);
		return -1;
	}
	path = xasprintf("%s/%lld-%s.msg", c->dir, c->a->begin, hex != NULL ? hex + 1 : "x");
	if (atomicfile_write(path, f.data, f.len, 0600, &err) < 0) {
		log_err("dmarc report: %s: %s: %m", path, err);
		rc = -1;
	}
	xfree(path);
	buf_free(&f);
	return rc;
}

/* The destinations of r for a gzip of gz_size; fills to[] (addresses in dests). Returns the
 * number of addresses, or -1 when a §7.1 lookup failed temporarily. */
static int
dj_dests(const struct dj_ctx *c, const struct mg_dmarc_agg_report *r,
    const struct mg_dmarc_record *rec, size_t gz_size, struct mg_dmarc_rua_dest *d,
    const char **to)
{
	size_t n_d = 0;
	int n_to = 0;
	char s1[SANITIZE_MAX + 4];

	(void)mg_dmarc_rua_select(filter.psl, c->dns, r->policy_domain, rec, gz_size,
	    c->ex->list, c->ex->n, d, &n_d);
	for (size_t i = 0; i < n_d; i++) {
		if (d[i].status == MG_DMARC_RUA_TEMPFAIL) {
			log_warn("dmarc report: domain=%s rua=%s: %s; retrying later",
			    r->policy_domain, d[i].domain, d[i].reason);
			return -1;
		}
		if (d[i].status == MG_DMARC_RUA_OK) {
			to[n_to++] = d[i].addr;
			continue;
		}
		log_info("dmarc report: domain=%s id=%s rua=<%s> skipped: %s", r->policy_domain,
		    r->report_id, d[i].addr[0] != '\0' ? d[i].addr :
		    sanitize(s1, rec->rua[i].uri, strlen(rec->rua[i].uri)), d[i].reason);
	}
	return n_to;
}

/* 0: finished (written or skipped for good), 1: temporary failure (DNS, file), -1: cannot be
 * built (logged; not tried again). */
static int
dj_report(const struct dj_ctx *c, const struct mg_dmarc_agg_report *r)
{
	struct mg_dmarc_record rec;
	struct mg_dmarc_rua_dest d[MG_DMARC_URIS_MAX];
	const char *to[MG_DMARC_URIS_MAX], *why, *err = "";
	struct buf xml, gz, msg;
	int n_to, rc = -1;

	switch (mg_dmarc_agg_policy_lookup(c->dns, r->policy_domain, &rec, &why)) {
	case -1:
		log_warn("dmarc report: domain=%s: %s; retrying later", r->policy_domain, why);
		return 1;
	case 1:
		log_info("dmarc report: domain=%s id=%s not sent: %s", r->policy_domain,
		    r->report_id, why);
		return 0;
	}
	if (rec.n_rua == 0) {
		log_debug("dmarc report: domain=%s publishes no mailto: rua", r->policy_domain);
		return 0;
	}
	buf_init(&xml, MG_DMARC_AGG_XML_MAX);
	buf_init(&gz, MG_DMARC_AGG_XML_MAX);
	buf_init(&msg, MG_DMARC_AGG_MSG_MAX);
	if (mg_dmarc_agg_xml(c->a, r, c->meta, &xml, &err) < 0 ||
	    mg_dmarc_agg_gzip(xml.data, xml.len, &gz) < 0) {
		log_err("dmarc report: domain=%s id=%s not built: %s", r->policy_domain,
		    r->report_id, err[0] != '\0' ? err : "gzip");
		goto out;
	}
	if ((n_to = dj_dests(c, r, &rec, gz.len, d, to)) < 0) {
		rc = 1;
		goto out;
	}
	if (n_to == 0) {
		rc = 0;
		goto out;
	}
	if (mg_dmarc_agg_message(c->a, r, c->meta, &gz, to, (size_t)n_to, &msg, &err) < 0) {
		log_err("dmarc report: domain=%s id=%s: message not built: %s", r->policy_domain,
		    r->report_id, err);
		goto out;
	}
	if (dj_write(c, r, to, (size_t)n_to, &msg) < 0) {
		rc = 1;		/* disk full or similar: the next attempt writes it */
		goto out;
	}
	for (int i = 0; i < n_to; i++)
		log_info("dmarc report: domain=%s id=%s to=<%s> records=%zu messages=%llu "
		    "size=%zu", r->policy_domain, r->report_id, to[i], r->n_rec, r->messages,
		    gz.len);
	c->j->files++;
	rc = 0;
out:
	buf_free(&xml);
	buf_free(&gz);
	buf_free(&msg);
	return rc;
}

/* ---- the job ---- */

/* test_mode trigger: the day of the Unix time in the file, else of now; the file goes. */
static long long
dj_trigger_day(const char *dir, long long now)
{
	char *path = xasprintf("%s/report-now", dir), text[32];
	long long t = now;
	const char *err;
	ssize_t n = -1;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
		n = read(fd, text, sizeof(text) - 1);
		(void)close(fd);
	}
	if (n > 0) {
		text[n] = '\0';
		text[strcspn(text, " \r\n")] = '\0';
		if (text[0] != '\0' && strnum_ll(text, 0, 1LL << 40, &t, &err) < 0)
			t = now;
	}
	(void)unlink(path);
	xfree(path);
	return day_begin(t);
}

static void
dj_meta(const struct mg_config *cfg, long long now, char *from, size_t size,
    struct mg_dmarc_agg_meta *m)
{
	if (cfg->dmarc_report_from != NULL && cfg->dmarc_report_from[0] != '\0')
		str_lcpy(from, cfg->dmarc_report_from, size);
	else
		(void)str_fmt(from, size, "postmaster@%s", cfg->hostname);
	memset(m, 0, sizeof(*m));
	m->org_name = cfg->dmarc_report_org != NULL && cfg->dmarc_report_org[0] != '\0' ?
	    cfg->dmarc_report_org : cfg->hostname;
	m->email = cfg->dmarc_report_contact != NULL && cfg->dmarc_report_contact[0] != '\0' ?
	    cfg->dmarc_report_contact : from;
	m->extra_contact = cfg->dmarc_report_contact_info;
	m->receiver = cfg->hostname;
	m->from = from;
	m->now = now;
}

/* Every report of the aggregate not finished yet; records progress in the .done file. */
static void
dj_reports(struct dj_job *j, struct mg_dmarc_agg *a, const char *dir, const char *done_path,
    struct dj_done *done)
{
	const struct mg_config *cfg = j->g->cfg;
	struct mg_dns_wait_ctx wctx = { .d = filter.dns, .deadline_ms = 0 };
	struct mg_dns_lookup dns = { .fn = mg_dns_lookup_fn_direct, .ctx = &wctx };
	struct mg_dmarc_agg_meta meta;
	struct dj_excl ex;
	struct dj_ctx c;
	char from[MG_DMARC_URI_LEN + 1];
	size_t unsaved = 0;

	dj_meta(cfg, j->now, from, sizeof(from), &meta);
	excl_load(&ex, cfg, dir);
	c = (struct dj_ctx){ .j = j, .a = a, .dns = &dns, .meta = &meta, .ex = &ex, .dir = dir };
	for (size_t i = 0; i < a->n_rep && !filter.shutting_down; i++) {
		const struct mg_dmarc_agg_report *r = &a->rep[i];
		int rc;

		if (done_has(done, r->report_id))
			continue;
		if ((rc = dj_report(&c, r)) == 1) {
			j->tempfail = 1;
			continue;
		}
		if (rc < 0)
			j->skipped++;
		/* an id that does not fit the file is simply tried again next time */
		(void)buf_printf(&done->text, "%s\n", r->report_id);
		if (++unsaved >= DJ_DONE_BATCH) {
			(void)done_save(done_path, done, NULL, 0);
			unsaved = 0;
		}
	}
	if (j->tempfail && j->now - (j->day + 86400) > DJ_GIVE_UP) {
		log_warn("dmarc report: day %lld: giving up on the reports still failing",
		    j->day);
		j->tempfail = 0;
	}
	(void)done_save(done_path, done, NULL, !j->tempfail && !filter.shutting_down);
	excl_free(&ex);
}

/* Removes .done markers older than the retention (plus DJ_GIVE_UP): their rows are gone. */
static void
dj_expire_markers(const char *dir, long long before)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t seen = 0;

	while (d != NULL && (de = readdir(d)) != NULL && seen++ < 100000) {
		char num[24], *path;
		const char *dot = strstr(de->d_name, ".done"), *err;
		long long t;

		if (dot == NULL || dot[5] != '\0' || (size_t)(dot - de->d_name) >= sizeof(num))
			continue;
		memcpy(num, de->d_name, (size_t)(dot - de->d_name));
		num[dot - de->d_name] = '\0';
		if (strnum_ll(num, 0, 1LL << 40, &t, &err) < 0 || t >= before)
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		(void)unlink(path);
		xfree(path);
	}
	if (d != NULL)
		(void)closedir(d);
}

static void
dj_run(struct workq_job *w, void *ctx)
{
	struct dj_job *j = (struct dj_job *)w;
	const struct mg_config *cfg = j->g->cfg;
	char *dir = xasprintf("%s/%s", cfg->state_dir, DJ_DIR), *done_path;
	struct mg_dmarc_agg a;
	struct dj_done done;

	(void)ctx;
	if (j->expire_only) {
		mg_dmarc_agg_init(&a, 0);
		if (dj_collect(j, &a) < 0)
			log_err("dmarc report: expiring stored results failed");
		mg_dmarc_agg_clear(&a);
		xfree(dir);
		return;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_err("dmarc report: cannot create %s: %m", dir);
		j->tempfail = 1;
		xfree(dir);
		return;
	}
	if (j->trigger)
		j->day = dj_trigger_day(dir, j->now);
	done_path = xasprintf("%s/%lld.done", dir, j->day);
	done_load(done_path, &done);
	if (done.complete) {
		j->already = 1;
		goto out;
	}
	mg_dmarc_agg_init(&a, j->day);
	if (dj_collect(j, &a) < 0) {
		log_err("dmarc report: day %lld: reading the stored results failed", j->day);
		j->tempfail = 1;
	} else {
		mg_dmarc_agg_finish(&a, cfg->hostname);
		if (a.bad > 0 || a.dropped > 0)
			log_warn("dmarc report: day %lld: %llu stored rows unreadable, %llu over "
			    "the limits", j->day, a.bad, a.dropped);
		dj_reports(j, &a, dir, done_path, &done);
	}
	mg_dmarc_agg_clear(&a);
	dj_expire_markers(dir, j->now - cfg->dmarc_report_retention - DJ_GIVE_UP);
out:
	buf_free(&done.text);
	xfree(done_path);
	xfree(dir);
}

static void
dj_done_cb(struct workq_job *w, int cancelled)
{
	struct dj_job *j = (struct dj_job *)w;

	dj.busy = 0;
	if (!cancelled && j->expire_only) {
		if (j->expired > 0)
			log_info("dmarc report: reports off; %llu stored results expired",
			    j->expired);
	} else if (!cancelled) {
		if (j->already)
			log_info("dmarc report: day %lld already reported", j->day);
		else
			log_info("dmarc report: day %lld: rows=%llu reports=%zu skipped=%zu "
			    "expired=%llu%s", j->day, j->rows, j->files, j->skipped, j->expired,
			    j->tempfail ? " (temporary failures: retrying)" : "");
		if (j->tempfail)
			dj.retry_at = j->now + DJ_RETRY;
		else if (!j->trigger && j->day > dj.last_done)
			dj.last_done = j->day;
	}
	filter_gen_unref(&j->g);
	xfree(j);
}

static int
dj_trigger_exists(const struct mg_config *cfg)
{
	char path[4096];
	struct stat st;

	return str_fmt(path, sizeof(path), "%s/%s/report-now", cfg->state_dir, DJ_DIR) == 0 &&
	    lstat(path, &st) == 0;
}

static void
dj_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	const struct mg_config *cfg = filter.gen->cfg;
	long long now = (long long)time(NULL), day;
	int trigger = 0, expire_only = 0;
	struct dj_job *j;

	(void)loop;
	(void)w;
	(void)revents;
	if (dj.busy || filter.shutting_down || filter.dmarc_tab == NULL)
		return;
	day = day_begin(now - cfg->dmarc_report_delay) - 86400;
	if (!cfg->dmarc_report || filter.psl == NULL) {
		/* no reports: the rows are still stored (checks.c), so they still expire */
		if (now < dj.next_expire)
			return;
		dj.next_expire = now + DJ_EXPIRE_EVERY;
		expire_only = 1;
	} else if (cfg->test_mode && dj_trigger_exists(cfg))
		trigger = 1;
	else if (day <= dj.last_done || now < dj.retry_at)
		return;
	j = xcalloc(1, sizeof(*j));
	j->w.run = dj_run;
	j->w.done = dj_done_cb;
	j->g = filter_gen_ref();
	j->now = now;
	j->day = day;
	j->trigger = trigger;
	j->expire_only = expire_only;
	if (workq_submit(filter.wq, &j->w) < 0) {
		filter_gen_unref(&j->g);	/* pool full of mail: next check */
		xfree(j);
		return;
	}
	dj.busy = 1;
}

void
dmarc_job_arm(const struct mg_config *cfg)
{
	double every = cfg->test_mode ? DJ_CHECK_TEST : DJ_CHECK;

	if (!dj.init) {
		ev_timer_init(&dj.w, dj_tick, 0., 0.);
		dj.init = 1;
	}
	ev_timer_stop(role.loop, &dj.w);
	dj.retry_at = 0;
	/* the first check soon after start (a day missed while down is made then); with
	 * dmarc_report = no the checks only expire old rows, hourly */
	ev_timer_set(&dj.w, cfg->test_mode ? DJ_CHECK_TEST : 5.0, every);
	ev_timer_start(role.loop, &dj.w);
}

void
dmarc_job_stop(void)
{
	if (dj.init)
		ev_timer_stop(role.loop, &dj.w);
}
