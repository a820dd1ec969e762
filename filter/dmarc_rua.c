/* dmarc_rua.c: incoming DMARC aggregate reports and TLS reports (issue I). A message (inbound
 * CHECK) with a recipient equal, case-insensitively, to its protected domain's dmarc_rua (or
 * tlsrpt_rua) address is read (read-only fd, mapped): mg_report_extract and mg_report_parse_xml
 * (dmarc/report.h, with its caps) for DMARC, tlsrpt_rua_ingest for TLS reports, and every
 * report whose policy domain is that protected domain or a subdomain of it is stored
 * (dmarc/report_store.c, the filter's Berkeley DB environment); reports about other domains are
 * refused. One log line per report or per refused message, counters M_*_REPORTS_*.
 * dmarc_rua_keep = yes: a pool job of its own parses beside the delivery. no: the check job
 * parses before its verdict and, when reports were stored and synced, names the report
 * recipients as consumed (smtpd records them delivered: the back-end never sees them); mail
 * with nothing usable in it is delivered as usual. Loop thread for dmarc_rua_submit, init,
 * fini; jobs and dmarc_rua_ingest run on a worker. */
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dmarc/dmarc.h"
#include "filter/dmarc_rua.h"
#include "filter/filter_int.h"
#include "filter/tlsrpt_rua.h"
#include "common/metrics.h"
#include "lib/log.h"
#include "lib/sanitize.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define RUA_MESSAGE_MAX (64LL * 1024 * 1024)	/* octets looked at (smtpd caps messages first) */

static struct mg_rstore *rstore;
static struct mg_rarchive *archive;	/* state_dir/dmarc-archive */

/* What one message brings: per kind, the protected domains whose report address is among its
 * recipients, and those recipients. */
struct rua_set {
	char domains[RUA_KINDS][RUA_DOMAINS_MAX][MG_REPORT_NAME_MAX + 1];
	size_t n_domains[RUA_KINDS];
	const char *rcpts[RUA_KINDS][RUA_RCPTS_MAX];	/* borrowed from the check job's envelope */
	size_t n_rcpts[RUA_KINDS];
	char sid[17];
	char qid[QUEUE_ID_LEN + 1];
	long long max_size;
	int archive;		/* dmarc_rua_archive */
};

struct rua_job {
	struct workq_job w;
	int fd;
	struct rua_set set;
};

void
dmarc_rua_init(const struct mg_config *cfg)
{
	const char *err;
	char *dir = xasprintf("%s/dmarc-archive", cfg->state_dir);

	mg_report_init();
	if (filter.kv == NULL)
		log_warn("filter: no state database; incoming DMARC reports are not stored");
	else if ((rstore = mg_rstore_open(filter.kv, &err)) == NULL)
		log_err("filter: DMARC report tables: %s; incoming reports are not stored", err);
	if ((archive = mg_rarchive_open(dir, &err)) == NULL)
		log_err("filter: %s: %s; incoming reports are not archived", dir, err);
	xfree(dir);
}

void
dmarc_rua_fini(void)
{
	mg_rstore_free(&rstore);
	mg_rarchive_free(&archive);
}

int
dmarc_rua_expire(long long now, long long retention, size_t max_items, size_t *removed_r)
{
	int rc = 0;

	if (archive != NULL && mg_rarchive_expire(archive, now, retention, removed_r) < 0)
		rc = -1;
	if (rstore != NULL && mg_rstore_expire(rstore, now, retention, max_items, removed_r) < 0)
		rc = -1;
	return rc;
}

struct rebuild {
	long long stored, duplicate, refused;
};

/* One archived report back into the store, received when it was archived. */
static int
rebuild_one(void *arg, const char *domain, const char *xml, size_t len, long long mtime)
{
	struct rebuild *rb = arg;
	struct mg_report_err e = { 0 };
	struct mg_report *r;
	const char *err;
	size_t a, b;
	int rc;

	if ((r = mg_report_parse_xml(xml, len, NULL, &e)) == NULL) {
		rb->refused++;
		return 0;
	}
	a = strlen(r->policy.domain);
	b = strlen(domain);
	if (!(strcasecmp(r->policy.domain, domain) == 0 || (a > b + 1 &&
	    r->policy.domain[a - b - 1] == '.' && strcasecmp(r->policy.domain + a - b, domain) == 0))) {
		rb->refused++;
		mg_report_free(&r);
		return 0;
	}
	rc = mg_rstore_put(rstore, r->policy.domain, r, mtime, &err);
	mg_report_free(&r);
	if (rc < 0)
		return -1;
	if (rc == 1)
		rb->stored++;
	else
		rb->duplicate++;
	return 0;
}

int
dmarc_rua_rebuild(const char *domain, struct buf *out)
{
	struct rebuild rb = { 0 };
	size_t bad = 0;
	long long n;
	const char *err;

	if (archive == NULL || rstore == NULL) {
		buf_append_str(out, "error: no report archive or store (see the log)\n");
		return 1;
	}
	if ((n = mg_rarchive_scan(archive, domain, rebuild_one, &rb, &bad)) < 0) {
		buf_append_str(out, "error: reading the archive or writing the store failed\n");
		return 1;
	}
	if (filter.kv != NULL && mg_kvdb_flush(filter.kv, &err) < 0)
		log_warn("filter: dmarc rebuild: %s", err);
	buf_printf(out, "%lld archived report(s) read: %lld stored again, %lld already stored, "
	    "%lld refused, %zu unreadable\n", n, rb.stored, rb.duplicate, rb.refused, bad);
	log_info("filter: dmarc rebuild%s%s: %lld archived, %lld stored again, %lld already "
	    "stored, %lld refused, %zu unreadable", domain ? " " : "", domain ? domain : "", n,
	    rb.stored, rb.duplicate, rb.refused, bad);
	return 0;
}

/* The protected domain whose report address of kind k is rcpt, or NULL. Only the recipient's
 * own domain is looked at (one bsearch): a report address must be in the domain it serves. */
static const struct mg_domain *
rua_domain(const struct mg_config *cfg, const char *rcpt, enum rua_kind k)
{
	const char *at = strrchr(rcpt, '@');
	char dom[MG_REPORT_NAME_MAX + 1];
	const struct mg_domain *d;
	const char *addr;
	size_t i;

	if (at == NULL || strlen(at + 1) >= sizeof(dom))
		return NULL;
	for (i = 0; at[1 + i] != '\0'; i++)
		dom[i] = (char)(at[1 + i] >= 'A' && at[1 + i] <= 'Z' ? at[1 + i] + 32 : at[1 + i]);
	dom[i] = '\0';
	if ((d = config_domain_find(cfg, dom)) == NULL)
		return NULL;
	addr = k == RUA_DMARC ? d->dmarc_rua : d->tlsrpt_rua;
	if (addr == NULL || addr[0] == '\0' || strcasecmp(addr, rcpt) != 0)
		return NULL;
	return d;
}

/* 1 if pd is dom or a subdomain of it. */
static int
within(const char *pd, const char *dom)
{
	size_t a = strlen(pd), b = strlen(dom);

	return strcasecmp(pd, dom) == 0 ||
	    (a > b + 1 && pd[a - b - 1] == '.' && strcasecmp(pd + a - b, dom) == 0);
}

static const char *
protected_for(const struct rua_set *set, const char *pd)
{
	for (size_t i = 0; i < set->n_domains[RUA_DMARC]; i++)
		if (within(pd, set->domains[RUA_DMARC][i]))
			return set->domains[RUA_DMARC][i];
	return NULL;
}

static const char *
qid_or(const struct rua_set *set)
{
	return set->qid[0] ? set->qid : "NOQUEUE";
}

static void
log_report(const struct rua_set *set, const struct mg_report *r, const char *result,
    const char *text)
{
	char org[SANITIZE_MAX + 4], id[SANITIZE_MAX + 4], dom[SANITIZE_MAX + 4];

	sanitize(org, r->org_name, strlen(r->org_name));
	sanitize(id, r->report_id, strlen(r->report_id));
	sanitize(dom, r->policy.domain, strlen(r->policy.domain));
	log_info("%s %s dmarc_rua domain=%s org=%s id=%s records=%zu total=%llu result=%s%s%s",
	    set->sid, qid_or(set), dom, org, id, r->n_records, r->total, result,
	    text[0] ? " detail=" : "", text);
}

/* Parses and stores one XML document. Returns 1 stored or duplicate, 0 refused, -1 storage
 * error. */
static int
store_one(const struct rua_set *set, const struct mg_report_blob *b, long long now)
{
	struct mg_report_err e = { 0 };
	struct mg_report *r;
	const char *mine, *err = "";
	int rc = 0;

	if ((r = mg_report_parse_xml(b->data, b->len, NULL, &e)) == NULL) {
		log_info("%s %s dmarc_rua domain=%s result=%s detail=%s", set->sid, qid_or(set),
		    set->domains[RUA_DMARC][0], mg_report_reason_name(e.reason), e.text);
		metrics_inc(M_DMARC_REPORTS_REFUSED, 1);
		return 0;
	}
	if ((mine = protected_for(set, r->policy.domain)) == NULL) {
		log_report(set, r, "foreign_domain", "");
		metrics_inc(M_DMARC_REPORTS_REFUSED, 1);
	} else if (rstore == NULL) {
		log_report(set, r, "no_store", "");
		rc = -1;
	} else if (set->archive && (archive == NULL ||
	    mg_rarchive_put(archive, mine, r, b->data, b->len, &err) < 0)) {
		/* kept first: the file is the copy that survives anything (and rebuilds the store) */
		log_report(set, r, "archive_error", archive == NULL ? "no archive" : err);
		rc = -1;
	} else if ((rc = mg_rstore_put(rstore, r->policy.domain, r, now, &err)) < 0) {
		log_report(set, r, "store_error", err);
	} else {
		log_report(set, r, rc == 1 ? "stored" : "duplicate", "");
		metrics_inc(rc == 1 ? M_DMARC_REPORTS_STORED : M_DMARC_REPORTS_DUPLICATE, 1);
		rc = 1;
	}
	mg_report_free(&r);
	return rc;
}

/* The DMARC reports of one message: the number stored or duplicate, -1 on a storage error. */
static int
ingest_dmarc(const struct rua_set *set, const void *msg, size_t len, long long now)
{
	struct mg_report_blobs blobs = { 0 };
	struct mg_report_err e = { 0 };
	int n = 0, failed = 0;

	if (mg_report_extract(msg, len, NULL, &blobs, &e) < 0) {
		log_info("%s %s dmarc_rua domain=%s result=%s detail=%s", set->sid, qid_or(set),
		    set->domains[RUA_DMARC][0], mg_report_reason_name(e.reason), e.text);
		metrics_inc(M_DMARC_REPORTS_REFUSED, 1);
	}
	for (size_t i = 0; i < blobs.n; i++) {
		int rc = store_one(set, &blobs.v[i], now);

		if (rc < 0)
			failed = 1;
		else
			n += rc;
	}
	mg_report_blobs_free(&blobs);
	return failed ? -1 : n;
}

/* Both kinds for one message (mapped from fd). stored_r[kind]: reports stored or duplicate,
 * -1 on a storage error. Returns 0, or -1 if the message could not be read. */
static int
ingest_all(const struct rua_set *set, int fd, int stored_r[RUA_KINDS])
{
	const char *doms[RUA_DOMAINS_MAX];
	long long now = (long long)time(NULL);
	void *map = MAP_FAILED;
	struct stat st;
	size_t len = 0;

	stored_r[RUA_DMARC] = stored_r[RUA_TLSRPT] = 0;
	if (fstat(fd, &st) == 0 && st.st_size > 0)
		len = (size_t)(st.st_size < set->max_size ? st.st_size : set->max_size);
	if (len > 0)
		map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		log_warn("%s %s report mail result=unreadable", set->sid, qid_or(set));
		return -1;
	}
	if (set->n_domains[RUA_DMARC] > 0)
		stored_r[RUA_DMARC] = ingest_dmarc(set, map, len, now);
	if (set->n_domains[RUA_TLSRPT] > 0) {
		for (size_t i = 0; i < set->n_domains[RUA_TLSRPT]; i++)
			doms[i] = set->domains[RUA_TLSRPT][i];
		stored_r[RUA_TLSRPT] = tlsrpt_rua_ingest(doms, set->n_domains[RUA_TLSRPT], map, len,
		    set->sid, set->qid, now);
	}
	munmap(map, len);
	return 0;
}

static void
rua_run(struct workq_job *w, void *ctx)
{
	struct rua_job *j = (struct rua_job *)w;
	int stored[RUA_KINDS];

	(void)ctx;
	(void)ingest_all(&j->set, j->fd, stored);
}

static void
rua_done(struct workq_job *w, int cancelled)
{
	struct rua_job *j = (struct rua_job *)w;

	if (cancelled)
		log_info("%s report mail: cancelled at shutdown", j->set.sid);
	close(j->fd);
	xfree(j);
}

static void
set_add(struct rua_set *set, enum rua_kind k, const struct mg_domain *d, const char *rcpt)
{
	size_t i;

	for (i = 0; i < set->n_domains[k]; i++)
		if (strcmp(set->domains[k][i], d->name) == 0)
			break;
	if (i == set->n_domains[k] && i < RUA_DOMAINS_MAX)
		str_lcpy(set->domains[k][set->n_domains[k]++], d->name, sizeof(set->domains[k][0]));
	if (set->n_rcpts[k] < RUA_RCPTS_MAX)
		set->rcpts[k][set->n_rcpts[k]++] = rcpt;
}

struct rua_set *
dmarc_rua_submit(const struct mg_config *cfg, const struct envelope *env, int fd,
    const char *sid)
{
	struct rua_set *set = NULL;
	struct rua_job *j;
	const struct mg_domain *d;

	if (env->direction != ENV_INBOUND)
		return NULL;
	for (size_t i = 0; i < env->n_rcpts; i++)
		for (int k = 0; k < RUA_KINDS; k++) {
			if ((d = rua_domain(cfg, env->rcpts[i].addr, (enum rua_kind)k)) == NULL)
				continue;
			if (set == NULL)
				set = xcalloc(1, sizeof(*set));
			set_add(set, (enum rua_kind)k, d, env->rcpts[i].addr);
		}
	if (set == NULL)
		return NULL;
	str_lcpy(set->sid, sid, sizeof(set->sid));
	str_lcpy(set->qid, env->qid, sizeof(set->qid));
	set->archive = cfg->dmarc_rua_archive;
	set->max_size = cfg->max_message_size > 0 && cfg->max_message_size < RUA_MESSAGE_MAX ?
	    cfg->max_message_size + 64 * 1024 : RUA_MESSAGE_MAX;
	if (!cfg->dmarc_rua_keep)
		return set;	/* the check job ingests it before its verdict */
	/* keep = yes: parsed beside the delivery, which does not wait for it */
	memset(set->rcpts, 0, sizeof(set->rcpts));	/* borrowed from env: not for a job */
	j = xcalloc(1, sizeof(*j));
	j->set = *set;
	xfree(set);
	j->w.run = rua_run;
	j->w.done = rua_done;
	if ((j->fd = dup(fd)) < 0 || workq_submit(filter.wq, &j->w) < 0) {
		log_warn("%s %s report mail result=%s", j->set.sid, qid_or(&j->set),
		    j->fd < 0 ? "no_fd" : "pool_full");
		if (j->fd >= 0)
			close(j->fd);
		xfree(j);
	}
	return NULL;
}

void
dmarc_rua_ingest(struct rua_set *set, int fd, int consume, struct buf *consumed)
{
	int stored[RUA_KINDS];
	const char *err;

	if (ingest_all(set, fd, stored) < 0 || !consume)
		return;
	if (stored[RUA_DMARC] <= 0 && stored[RUA_TLSRPT] <= 0)
		return;	/* nothing usable: delivered like any mail, so nothing is lost */
	/* the stored reports are the only copy from now on: durable before the 250 */
	if (filter.kv == NULL || mg_kvdb_flush(filter.kv, &err) < 0) {
		log_warn("%s %s report mail: cannot sync the report store; delivered instead",
		    set->sid, qid_or(set));
		return;
	}
	for (int k = 0; k < RUA_KINDS; k++) {
		if (stored[k] <= 0)
			continue;
		for (size_t i = 0; i < set->n_rcpts[k]; i++) {
			(void)buf_append_str(consumed, set->rcpts[k][i]);
			(void)buf_append_str(consumed, "\n");
		}
	}
}

void
dmarc_rua_set_free(struct rua_set **setp)
{
	xfree(*setp);
	*setp = NULL;
}
