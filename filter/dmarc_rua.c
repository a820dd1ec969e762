/* dmarc_rua.c: incoming DMARC aggregate reports (issue I). A message (inbound CHECK) with a
 * recipient equal, case-insensitively, to its protected domain's dmarc_rua address also gets a
 * pool job of its own: the message (read-only fd, mapped) goes through mg_report_extract and
 * mg_report_parse_xml (dmarc/report.h, with its caps), and every report whose policy_published
 * domain is that protected domain or a subdomain of it is stored (dmarc/report_store.c, the
 * filter's Berkeley DB environment); reports about other domains are refused. One log line per
 * report or per refused message. The verdict is not touched: the message is delivered to the
 * back-end like any other (dmarc_rua_keep = yes, the only mode so far). Loop thread for
 * dmarc_rua_submit, init, fini; the job runs on a worker. */
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dmarc/dmarc.h"
#include "filter/dmarc_rua.h"
#include "filter/filter_int.h"
#include "lib/log.h"
#include "lib/sanitize.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define RUA_DOMAINS_MAX 8		/* protected domains one message can report to */
#define RUA_MESSAGE_MAX (64LL * 1024 * 1024)	/* octets looked at (smtpd caps messages first) */

static struct mg_rstore *rstore;

struct rua_job {
	struct workq_job w;
	int fd;
	char sid[17];
	char qid[QUEUE_ID_LEN + 1];
	long long max_size;
	char domains[RUA_DOMAINS_MAX][MG_REPORT_NAME_MAX + 1];
	size_t n_domains;
};

void
dmarc_rua_init(void)
{
	const char *err;

	mg_report_init();
	if (filter.kv == NULL)
		log_warn("filter: no state database; incoming DMARC reports are not stored");
	else if ((rstore = mg_rstore_open(filter.kv, &err)) == NULL)
		log_err("filter: DMARC report tables: %s; incoming reports are not stored", err);
}

void
dmarc_rua_fini(void)
{
	mg_rstore_free(&rstore);
}

int
dmarc_rua_expire(long long now, long long retention, size_t max_items, size_t *removed_r)
{
	if (rstore == NULL)
		return 0;
	return mg_rstore_expire(rstore, now, retention, max_items, removed_r);
}

/* The protected domain whose dmarc_rua is rcpt, or NULL. Only the recipient's own domain is
 * looked at (one bsearch): an rua address must be in the domain it serves. */
static const struct mg_domain *
rua_domain(const struct mg_config *cfg, const char *rcpt)
{
	const char *at = strrchr(rcpt, '@');
	char dom[MG_REPORT_NAME_MAX + 1];
	const struct mg_domain *d;
	size_t i;

	if (at == NULL || strlen(at + 1) >= sizeof(dom))
		return NULL;
	for (i = 0; at[1 + i] != '\0'; i++)
		dom[i] = (char)(at[1 + i] >= 'A' && at[1 + i] <= 'Z' ? at[1 + i] + 32 : at[1 + i]);
	dom[i] = '\0';
	if ((d = config_domain_find(cfg, dom)) == NULL || d->dmarc_rua == NULL ||
	    d->dmarc_rua[0] == '\0' || strcasecmp(d->dmarc_rua, rcpt) != 0)
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
protected_for(const struct rua_job *j, const char *pd)
{
	for (size_t i = 0; i < j->n_domains; i++)
		if (within(pd, j->domains[i]))
			return j->domains[i];
	return NULL;
}

static void
log_report(const struct rua_job *j, const struct mg_report *r, const char *result,
    const char *text)
{
	char org[SANITIZE_MAX + 4], id[SANITIZE_MAX + 4], dom[SANITIZE_MAX + 4];

	sanitize(org, r->org_name, strlen(r->org_name));
	sanitize(id, r->report_id, strlen(r->report_id));
	sanitize(dom, r->policy.domain, strlen(r->policy.domain));
	log_info("%s %s dmarc_rua domain=%s org=%s id=%s records=%zu total=%llu result=%s%s%s",
	    j->sid, j->qid[0] ? j->qid : "NOQUEUE", dom, org, id, r->n_records, r->total, result,
	    text[0] ? " detail=" : "", text);
}

static void
store_one(struct rua_job *j, const struct mg_report_blob *b, long long now)
{
	struct mg_report_err e = { 0 };
	struct mg_report *r;
	const char *mine, *err = "";
	int rc;

	if ((r = mg_report_parse_xml(b->data, b->len, NULL, &e)) == NULL) {
		log_info("%s %s dmarc_rua domain=%s result=%s detail=%s", j->sid,
		    j->qid[0] ? j->qid : "NOQUEUE", j->domains[0], mg_report_reason_name(e.reason),
		    e.text);
		return;
	}
	if ((mine = protected_for(j, r->policy.domain)) == NULL)
		log_report(j, r, "foreign_domain", "");
	else if (rstore == NULL)
		log_report(j, r, "no_store", "");
	else if ((rc = mg_rstore_put(rstore, r->policy.domain, r, now, &err)) < 0)
		log_report(j, r, "store_error", err);
	else
		log_report(j, r, rc == 1 ? "stored" : "duplicate", "");
	mg_report_free(&r);
}

static void
rua_run(struct workq_job *w, void *ctx)
{
	struct rua_job *j = (struct rua_job *)w;
	struct mg_report_blobs blobs = { 0 };
	struct mg_report_err e = { 0 };
	struct stat st;
	void *map = MAP_FAILED;
	size_t len = 0;

	(void)ctx;
	if (fstat(j->fd, &st) == 0 && st.st_size > 0)
		len = (size_t)(st.st_size < j->max_size ? st.st_size : j->max_size);
	if (len > 0)
		map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, j->fd, 0);
	if (map == MAP_FAILED) {
		log_warn("%s %s dmarc_rua domain=%s result=unreadable", j->sid,
		    j->qid[0] ? j->qid : "NOQUEUE", j->domains[0]);
		return;
	}
	if (mg_report_extract(map, len, NULL, &blobs, &e) < 0)
		log_info("%s %s dmarc_rua domain=%s result=%s detail=%s", j->sid,
		    j->qid[0] ? j->qid : "NOQUEUE", j->domains[0], mg_report_reason_name(e.reason),
		    e.text);
	for (size_t i = 0; i < blobs.n; i++)
		store_one(j, &blobs.v[i], (long long)time(NULL));
	mg_report_blobs_free(&blobs);
	munmap(map, len);
}

static void
rua_done(struct workq_job *w, int cancelled)
{
	struct rua_job *j = (struct rua_job *)w;

	if (cancelled)
		log_info("%s dmarc_rua: cancelled at shutdown", j->sid);
	close(j->fd);
	xfree(j);
}

void
dmarc_rua_submit(const struct mg_config *cfg, const struct envelope *env, int fd,
    const char *sid)
{
	struct rua_job *j = NULL;
	const struct mg_domain *d;

	if (env->direction != ENV_INBOUND)
		return;
	for (size_t i = 0; i < env->n_rcpts; i++) {
		if ((d = rua_domain(cfg, env->rcpts[i].addr)) == NULL)
			continue;
		if (j == NULL)
			j = xcalloc(1, sizeof(*j));
		for (size_t k = 0; k <= j->n_domains && j->n_domains < RUA_DOMAINS_MAX; k++)
			if (k == j->n_domains) {
				str_lcpy(j->domains[j->n_domains++], d->name, sizeof(j->domains[0]));
				break;
			} else if (strcmp(j->domains[k], d->name) == 0)
				break;
	}
	if (j == NULL)
		return;
	str_lcpy(j->sid, sid, sizeof(j->sid));
	str_lcpy(j->qid, env->qid, sizeof(j->qid));
	j->max_size = cfg->max_message_size > 0 && cfg->max_message_size < RUA_MESSAGE_MAX ?
	    cfg->max_message_size + 64 * 1024 : RUA_MESSAGE_MAX;
	j->w.run = rua_run;
	j->w.done = rua_done;
	if ((j->fd = dup(fd)) < 0 || workq_submit(filter.wq, &j->w) < 0) {
		log_warn("%s %s dmarc_rua domain=%s result=%s", j->sid,
		    j->qid[0] ? j->qid : "NOQUEUE", j->domains[0], j->fd < 0 ? "no_fd" : "pool_full");
		if (j->fd >= 0)
			close(j->fd);
		xfree(j);
	}
}
