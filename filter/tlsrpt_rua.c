/* tlsrpt_rua.c: incoming SMTP TLS reports (RFC 8460, issue I item 5) in the filter role. The
 * check path hands a message addressed to a protected domain's tlsrpt_rua to
 * tlsrpt_rua_ingest on a pool thread: the message goes through mg_tlsrpt_extract and
 * mg_tlsrpt_parse_json (dmarc/tlsrpt_in.h, with their caps), and the policies of each report
 * whose policy-domain is one of those protected domains or a subdomain are stored
 * (dmarc/tlsrpt_store.c, the filter's Berkeley DB environment) under that protected domain;
 * policies about other domains are dropped, a report with none of ours is refused
 * ("foreign_domain"). One log line per report or per refused message, counters
 * M_TLS_REPORTS_*. Loop thread for init and fini; ingest and expire on workers. */
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "common/metrics.h"
#include "dmarc/dmarc.h"
#include "filter/filter_int.h"
#include "filter/tlsrpt_rua.h"
#include "lib/log.h"
#include "lib/sanitize.h"
#include "lib/xalloc.h"

/* Opened by tlsrpt_rua_init on the loop before any worker exists, or by the first worker
 * that needs it (tlsrpt_rua_store) when the role did not call init; the mutex makes either
 * order safe. tried: one attempt only, so a broken database is logged once. */
static pthread_mutex_t tstore_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mg_tstore *tstore;
static int tried;

static void
open_locked(void)
{
	const char *err;

	if (tried)
		return;
	tried = 1;
	if (filter.kv == NULL)
		log_warn("filter: no state database; incoming TLS reports are not stored");
	else if ((tstore = mg_tstore_open(filter.kv, &err)) == NULL)
		log_err("filter: TLS report tables: %s; incoming TLS reports are not stored", err);
}

void
tlsrpt_rua_init(void)
{
	pthread_mutex_lock(&tstore_lock);
	open_locked();
	pthread_mutex_unlock(&tstore_lock);
}

void
tlsrpt_rua_fini(void)
{
	pthread_mutex_lock(&tstore_lock);
	mg_tstore_free(&tstore);
	tried = 0;
	pthread_mutex_unlock(&tstore_lock);
}

struct mg_tstore *
tlsrpt_rua_store(void)
{
	struct mg_tstore *s;

	pthread_mutex_lock(&tstore_lock);
	open_locked();
	s = tstore;
	pthread_mutex_unlock(&tstore_lock);
	return s;
}

int
tlsrpt_rua_expire(long long now, long long retention, size_t max_items, size_t *removed_r)
{
	struct mg_tstore *s = tlsrpt_rua_store();

	return s == NULL ? 0 : mg_tstore_expire(s, now, retention, max_items, removed_r);
}

/* 1 if pd is dom or a subdomain of it. */
static int
within(const char *pd, const char *dom)
{
	size_t a = strlen(pd), b = strlen(dom);

	return strcasecmp(pd, dom) == 0 ||
	    (a > b + 1 && pd[a - b - 1] == '.' && strcasecmp(pd + a - b, dom) == 0);
}

struct ingest {
	const char *const *domains;
	size_t n_domains;
	const char *sid, *qid;
	long long now;
	int stored;		/* reports stored or duplicate */
	int failed;		/* a storage error */
};

static void
log_report(const struct ingest *in, const char *dom, const struct mg_tlsrpt *r,
    const char *result, const char *detail)
{
	char org[SANITIZE_MAX + 4], id[SANITIZE_MAX + 4];

	sanitize(org, r->org, strlen(r->org));
	sanitize(id, r->report_id, strlen(r->report_id));
	log_info("%s %s tlsrpt_rua domain=%s org=%s id=%s policies=%zu successful=%llu "
	    "failed=%llu result=%s%s%s", in->sid, in->qid, dom, org, id, r->n_policies,
	    r->successful, r->failed, result, detail[0] ? " detail=" : "", detail);
}

/* Stores r under each protected domain that has policies in it. */
static void
store_report(struct ingest *in, const struct mg_tlsrpt *r)
{
	struct mg_tstore *ts = tlsrpt_rua_store();
	unsigned char *mask = xcalloc(r->n_policies + 1, 1);
	size_t foreign = r->n_policies;

	for (size_t d = 0; d < in->n_domains; d++) {
		const char *dom = in->domains[d], *err = "";
		size_t mine = 0;
		char detail[64] = "";
		int rc;

		for (size_t i = 0; i < r->n_policies; i++)
			if ((mask[i] = within(r->policies[i].domain, dom)) != 0)
				mine++;
		if (mine == 0)
			continue;
		foreign -= mine;
		if (mine < r->n_policies)
			(void)snprintf(detail, sizeof(detail), "other_policies=%zu",
			    r->n_policies - mine);
		if (ts == NULL) {
			/* configuration, not a transient failure: nothing to retry */
			log_report(in, dom, r, "no_store", detail);
			metrics_inc(M_TLS_REPORTS_REFUSED, 1);
		} else if ((rc = mg_tstore_put(ts, dom, r, mask, in->now, &err)) < 0) {
			log_report(in, dom, r, "store_error", err);
			in->failed = 1;
		} else {
			log_report(in, dom, r, rc == 1 ? "stored" : "duplicate", detail);
			metrics_inc(rc == 1 ? M_TLS_REPORTS_STORED : M_TLS_REPORTS_DUPLICATE, 1);
			in->stored++;
		}
	}
	if (foreign == r->n_policies) {
		char pd[SANITIZE_MAX + 4];

		sanitize(pd, r->policies[0].domain, strlen(r->policies[0].domain));
		log_report(in, in->n_domains > 0 ? in->domains[0] : "-", r, "foreign_domain", pd);
		metrics_inc(M_TLS_REPORTS_REFUSED, 1);
	}
	xfree(mask);
}

int
tlsrpt_rua_ingest(const char *const *domains, size_t n_domains, const void *msg, size_t len,
    const char *sid, const char *qid, long long now)
{
	struct ingest in = { .domains = domains, .n_domains = n_domains, .sid = sid,
	    .qid = qid != NULL && qid[0] != '\0' ? qid : "NOQUEUE", .now = now };
	struct mg_tlsrpt_blobs blobs = { 0 };
	struct mg_tlsrpt_err e = { MG_TLSRPT_OK, "" };
	const char *dom0 = n_domains > 0 ? domains[0] : "-";

	if (mg_tlsrpt_extract(msg, len, NULL, &blobs, &e) < 0) {
		log_info("%s %s tlsrpt_rua domain=%s result=%s detail=%s", in.sid, in.qid, dom0,
		    mg_tlsrpt_reason_name(e.reason), e.text);
		metrics_inc(M_TLS_REPORTS_REFUSED, 1);
	}
	for (size_t i = 0; i < blobs.n; i++) {
		struct mg_tlsrpt_err pe = { MG_TLSRPT_OK, "" };
		struct mg_tlsrpt *r = mg_tlsrpt_parse_json(blobs.v[i].data, blobs.v[i].len, NULL,
		    &pe);

		if (r == NULL) {
			log_info("%s %s tlsrpt_rua domain=%s result=%s detail=%s", in.sid, in.qid,
			    dom0, mg_tlsrpt_reason_name(pe.reason), pe.text);
			metrics_inc(M_TLS_REPORTS_REFUSED, 1);
			continue;
		}
		r->quirks |= blobs.v[i].quirks;
		store_report(&in, r);
		mg_tlsrpt_free(&r);
	}
	mg_tlsrpt_blobs_free(&blobs);
	return in.failed ? -1 : in.stored;
}
