/* sts.c: MTA-STS (RFC 8461) in the delivery role. Discovery: the _mta-sts.<domain> TXT record
 * through the async resolver (§3.1); when its id differs from the cached policy's (or nothing
 * is cached, or the cache expired) the policy is fetched from
 * https://mta-sts.<domain>/.well-known/mta-sts.txt (§3.3) by libcurl on one worker thread:
 * the host name is resolved by our resolver and pinned with CURLOPT_RESOLVE, the certificate
 * is verified against tls_ca_file (or the system store, read into memory at start), HTTPS only,
 * no redirects, 200 and text/plain only, 64 KiB, 10 s to connect and 30 s in all. The policy
 * parser is mta_sts.c. Policies are cached by domain with their id and max_age (§5.1), in
 * memory and in state_dir/mta-sts.cache (sts_cache.c; read at start, rewritten atomically at
 * most every STS_SAVE_EVERY seconds after a change and at shutdown), so a restart keeps
 * enforcing what was learnt even when the policy host cannot be reached then. A domain's
 * TXT record is checked again after STS_RECHECK seconds; a failed refresh keeps the cached
 * policy until it expires (§5.1). The same worker POSTs TLS-RPT reports to https: rua URIs
 * (RFC 8460 §5.4, sts_report_post): host resolved by our resolver and pinned, certificate
 * verified the same way, no redirects, 30 s, the answer's body capped at 64 KiB and dropped.
 * Main thread except fetch_thread(). */
#include "delivery/sts.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dns.h"
#include "common/ipc_msg.h"
#include "common/role.h"
#include "config/config.h"
#include "delivery/delivery_int.h"
#include "delivery/mta_sts.h"
#include "delivery/sts_cache.h"
#include "lib/atomicfile.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define STS_RECHECK 300.0		/* seconds between TXT checks of a cached domain */
#define STS_HASH 256
#define STS_WAIT_MAX 64			/* destinations waiting on one domain */
#define STS_CA_MAX (4 * 1024 * 1024)	/* CA bundle size cap */
#define STS_DNS_DEADLINE_MS 20000
#define STS_SAVE_EVERY 30.0		/* seconds between cache file rewrites after changes */

enum sts_state { STS_NEW = 0, STS_LOOKUP, STS_FETCH, STS_READY };

struct sts_ref {
	char domain[256];
	enum sts_state state;
	int have_policy;
	struct sts_policy pol;
	char id[STS_ID_MAX + 1];
	char text[1200];
	double expires, checked;
	char new_id[STS_ID_MAX + 1];
	struct dest *waiting[STS_WAIT_MAX];
	int n_waiting;
	/* the last discovery/fetch failure, reported once through TLS-RPT (RFC 8460 §4.3.2.2) */
	const char *fail_type;
	char fail_reason[300];
	struct sts_ref *next;
};

struct fetch {
	struct sts_ref *e;		/* loop thread only; NULL for a report POST */
	char url[600], resolve[400];
	/* a TLS-RPT report POST (RFC 8460 §5.4): request id, gzipped JSON, HTTP status */
	int post;
	uint32_t post_id;
	char *post_body;
	size_t post_len;
	long code;
	char *body;
	size_t len;
	int ok;
	int webpki;			/* the failure was the certificate (sts-webpki-invalid) */
	char err[256];
	struct fetch *next;
};

static struct {
	struct sts_ref *hash[STS_HASH];
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct fetch *inbox, *outbox;
	int stop;
	ev_async done_w;
	char *ca;			/* PEM bundle (mu) */
	size_t ca_len;
	int dirty;			/* the cache file is behind the memory cache */
	ev_timer save_w;
} st = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static char *
read_file(const char *path, size_t max, size_t *len_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	char *p;
	size_t o = 0;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) < 0 || sb.st_size <= 0 || (size_t)sb.st_size > max) {
		close(fd);
		return NULL;
	}
	p = xmalloc((size_t)sb.st_size + 1);
	while (o < (size_t)sb.st_size) {
		ssize_t n = read(fd, p + o, (size_t)sb.st_size - o);

		if (n <= 0)
			break;
		o += (size_t)n;
	}
	close(fd);
	p[o] = '\0';
	*len_r = o;
	return p;
}

static void
load_ca(void)
{
	const char *path = role.cfg->tls_ca_file && role.cfg->tls_ca_file[0] ?
	    role.cfg->tls_ca_file : "/etc/ssl/certs/ca-certificates.crt";
	size_t len = 0;
	char *p = read_file(path, STS_CA_MAX, &len);

	if (p == NULL) {
		log_warn("mta-sts: cannot read CA bundle %s; keeping the previous one", path);
		return;
	}
	pthread_mutex_lock(&st.mu);
	xfree(st.ca);
	st.ca = p;
	st.ca_len = len;
	pthread_mutex_unlock(&st.mu);
}

struct body {
	char *p;
	size_t len;
	int over;
};

static size_t
body_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;

	if (b->len + n > STS_POLICY_MAX) {
		b->over = 1;
		return 0;	/* aborts the transfer */
	}
	b->p = xrealloc(b->p, b->len + n + 1);
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static void
fetch_run(struct fetch *f)
{
	CURL *c = curl_easy_init();
	struct curl_slist *res = NULL, *hdrs = NULL;
	struct curl_blob blob;
	struct body b = { NULL, 0, 0 };
	char errbuf[CURL_ERROR_SIZE] = "";
	long code = 0;
	char *ctype = NULL;
	CURLcode rc;

	if (c == NULL) {
		snprintf(f->err, sizeof(f->err), "curl_easy_init failed");
		return;
	}
	if (f->resolve[0] != '\0') {
		res = curl_slist_append(NULL, f->resolve);
		curl_easy_setopt(c, CURLOPT_RESOLVE, res);
	}
	curl_easy_setopt(c, CURLOPT_URL, f->url);
	if (f->post) {
		hdrs = curl_slist_append(NULL, "Content-Type: application/tlsrpt+gzip");
		hdrs = curl_slist_append(hdrs, "Expect:");	/* no 100-continue round trip */
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, f->post_body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)f->post_len);
	}
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);	/* §3.3: no redirects */
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE, (long)STS_POLICY_MAX);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, f->post ? "MailGuard TLS-RPT" : "MailGuard MTA-STS");
	pthread_mutex_lock(&st.mu);
	if (st.ca != NULL) {
		blob.data = st.ca;
		blob.len = st.ca_len;
		blob.flags = CURL_BLOB_COPY;
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
	}
	pthread_mutex_unlock(&st.mu);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
	f->webpki = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE;
	f->code = code;
	if (f->post && rc == CURLE_OK && b.over == 0)
		f->ok = 1;	/* post_done() judges the status */
	else if (rc != CURLE_OK)
		snprintf(f->err, sizeof(f->err), "%s", b.over ? "policy larger than 64 KiB" :
		    errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else if (code != 200)	/* §3.3: only 200 is valid; redirects are not followed */
		snprintf(f->err, sizeof(f->err), "HTTP status %ld", code);
	else if (ctype == NULL || strncasecmp(ctype, "text/plain", 10) != 0)
		snprintf(f->err, sizeof(f->err), "media type %s, not text/plain (RFC 8461 section "
		    "3.2)", ctype ? ctype : "missing");
	else {
		f->ok = 1;
		f->body = b.p;
		f->len = b.len;
		b.p = NULL;
	}
	xfree(b.p);
	curl_slist_free_all(res);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
}

static void *
fetch_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&st.mu);
	for (;;) {
		struct fetch *f;

		while (st.inbox == NULL && !st.stop)
			pthread_cond_wait(&st.cv, &st.mu);
		if (st.stop)
			break;
		f = st.inbox;
		st.inbox = f->next;
		pthread_mutex_unlock(&st.mu);
		fetch_run(f);
		pthread_mutex_lock(&st.mu);
		f->next = st.outbox;
		st.outbox = f;
		ev_async_send(role.loop, &st.done_w);
	}
	pthread_mutex_unlock(&st.mu);
	return NULL;
}

static void
wake_waiters(struct sts_ref *e)
{
	int n = e->n_waiting;
	struct dest *w[STS_WAIT_MAX];

	memcpy(w, e->waiting, sizeof(w[0]) * (size_t)n);
	e->n_waiting = 0;
	for (int i = 0; i < n; i++) {
		w[i]->sts_waiting = 0;
		delivery_dest_pump(w[i]);
	}
}

/* The discovery or fetch ended: a new policy (pol != NULL), or keep what is cached while it
 * is valid (§5.1), else no policy. */
static void
entry_done(struct sts_ref *e, const struct sts_policy *pol, const char *why,
    const char *fail_type)
{
	double now = ev_now(role.loop);

	if (pol != NULL) {
		e->pol = *pol;
		e->have_policy = 1;
		str_lcpy(e->id, e->new_id, sizeof(e->id));
		e->expires = now + (double)pol->max_age;
		sts_policy_format(pol, e->text, sizeof(e->text));
		st.dirty = 1;
		log_info("mta-sts: %s: policy id %s mode %s, max_age %ld", e->domain, e->id,
		    pol->mode == STS_MODE_ENFORCE ? "enforce" : pol->mode == STS_MODE_TESTING ?
		    "testing" : "none", pol->max_age);
	} else if (e->have_policy && now >= e->expires) {
		e->have_policy = 0;
	}
	if (why != NULL)
		log_warn("mta-sts: %s: %s%s", e->domain, why, e->have_policy ?
		    "; using the cached policy" : "");
	if (fail_type != NULL) {
		e->fail_type = fail_type;
		str_lcpy(e->fail_reason, why ? why : fail_type, sizeof(e->fail_reason));
	}
	e->checked = now;
	e->state = STS_READY;
	wake_waiters(e);
}

/* Answers the queue for a report POST and frees f: 0 accepted (2xx), 1 temporary (no answer,
 * 408, 429, 5xx), 2 permanent (other statuses: we follow no redirects). */
static void
post_finish(struct fetch *f, uint32_t status, const char *detail)
{
	struct ipc_out o;

	ipc_out_init(&o);
	ipc_put_u32(&o, status);
	ipc_put_str(&o, detail);
	delivery_reply_queue(IPC_TLSRPT_POST_RESULT, f->post_id, &o);
	ipc_out_free(&o);
	xfree(f->post_body);
	xfree(f);
}

static void
post_done(struct fetch *f)
{
	char detail[800];
	uint32_t status;

	if (!f->ok) {
		(void)str_fmt(detail, sizeof(detail), "POST to %s failed: %s", f->url, f->err);
		status = 1;
	} else {
		(void)str_fmt(detail, sizeof(detail), "POST to %s: HTTP status %ld", f->url, f->code);
		status = f->code >= 200 && f->code <= 299 ? 0 : f->code == 408 || f->code == 429 ||
		    f->code >= 500 ? 1 : 2;
	}
	log_info("tlsrpt: %s", detail);
	post_finish(f, status, detail);
}

static void
fetch_queue(struct fetch *f)
{
	pthread_mutex_lock(&st.mu);
	f->next = st.inbox;
	st.inbox = f;
	pthread_cond_signal(&st.cv);
	pthread_mutex_unlock(&st.mu);
}

/* The first address of an A or AAAA answer as CURLOPT_RESOLVE takes it ("192.0.2.1",
 * "[2001:db8::1]"); -1 when the answer has none. */
static int
answer_addr(const struct mg_dns_result *res, char *ip, size_t size)
{
	char txt[INET6_ADDRSTRLEN];

	if (res->status != MG_DNS_OK || res->n == 0)
		return -1;
	if (res->rr[0].u.a.family == AF_INET6) {
		inet_ntop(AF_INET6, res->rr[0].u.a.addr, txt, sizeof(txt));
		(void)str_fmt(ip, size, "[%s]", txt);
	} else {
		inet_ntop(AF_INET, res->rr[0].u.a.addr, ip, size);
	}
	return 0;
}

static void
post_addr_cb(struct mg_dns_result *res, void *arg)
{
	struct fetch *f = arg;
	char ip[64], detail[800];

	if (answer_addr(res, ip, sizeof(ip)) < 0) {
		if (res->qtype == 1 /* A */) {	/* no IPv4 address: try IPv6 */
			char host[300];

			str_lcpy(host, res->qname, sizeof(host));
			mg_dns_result_free(&res);
			(void)mg_dns_query(delivery_dns(), host, 28 /* AAAA */, mg_dns_now_ms() +
			    STS_DNS_DEADLINE_MS, post_addr_cb, f);
			return;
		}
		(void)str_fmt(detail, sizeof(detail), "POST to %s: host has no IPv4 or IPv6 address "
		    "(%s)", f->url, mg_dns_status_name(res->status));
		mg_dns_result_free(&res);
		log_info("tlsrpt: %s", detail);
		post_finish(f, 1, detail);
		return;
	}
	mg_dns_result_free(&res);
	/* resolve holds "host:port:" already */
	{
		size_t o = strlen(f->resolve);

		snprintf(f->resolve + o, sizeof(f->resolve) - o, "%s", ip);
	}
	fetch_queue(f);
}

void
sts_report_post(uint32_t id, const char *url, const void *body, size_t len)
{
	struct fetch *f = xcalloc(1, sizeof(*f));
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL, *port = NULL;
	unsigned char a[16];

	f->post = 1;
	f->post_id = id;
	str_lcpy(f->url, url, sizeof(f->url));
	f->post_body = xmalloc(len > 0 ? len : 1);
	memcpy(f->post_body, body, len);
	f->post_len = len;
	if (!st.started || delivery_dns() == NULL) {
		post_finish(f, 1, "https: submission unavailable (no HTTP worker or resolver)");
		return;
	}
	if ((u = curl_url()) == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    strcmp(scheme, "https") != 0 || curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		post_finish(f, 2, "malformed https: rua URI");
		goto done;
	}
	if (host[0] == '[' || inet_pton(AF_INET, host, a) == 1) {
		fetch_queue(f);	/* an address literal: nothing to resolve */
		goto done;
	}
	snprintf(f->resolve, sizeof(f->resolve), "%s:%s:", host, port);
	(void)mg_dns_query(delivery_dns(), host, 1 /* A */, mg_dns_now_ms() + STS_DNS_DEADLINE_MS,
	    post_addr_cb, f);
done:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
}

static void
fetch_done_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct fetch *list;

	(void)loop;
	(void)w;
	(void)revents;
	pthread_mutex_lock(&st.mu);
	list = st.outbox;
	st.outbox = NULL;
	pthread_mutex_unlock(&st.mu);
	while (list != NULL) {
		struct fetch *f = list;
		struct sts_policy pol;
		const char *err = NULL;
		char why[800];

		list = f->next;
		if (f->post) {
			post_done(f);
			continue;
		}
		if (!f->ok) {
			(void)str_fmt(why, sizeof(why), "policy fetch from %s failed: %s", f->url,
			    f->err);
			entry_done(f->e, NULL, why, f->webpki ? "sts-webpki-invalid" :
			    "sts-policy-fetch-error");
		} else if (sts_policy_parse((struct slice){ f->body, f->len }, &pol, &err) < 0) {
			snprintf(why, sizeof(why), "invalid policy at %s: %s", f->url, err);
			entry_done(f->e, NULL, why, "sts-policy-invalid");
		} else {
			entry_done(f->e, &pol, NULL, NULL);
		}
		xfree(f->body);
		xfree(f);
	}
}

static void
addr_cb(struct mg_dns_result *res, void *arg)
{
	struct sts_ref *e = arg;
	struct fetch *f;
	char ip[64];
	int port = role.cfg->mta_sts_test_port > 0 ? role.cfg->mta_sts_test_port : 443;

	if (answer_addr(res, ip, sizeof(ip)) < 0) {
		char why[600], name[300];

		if (res->qtype == 1 /* A */) {	/* no IPv4 address: try IPv6 */
			mg_dns_result_free(&res);
			snprintf(name, sizeof(name), "mta-sts.%s", e->domain);
			(void)mg_dns_query(delivery_dns(), name, 28 /* AAAA */, mg_dns_now_ms() +
			    STS_DNS_DEADLINE_MS, addr_cb, e);
			return;
		}
		snprintf(why, sizeof(why), "policy host mta-sts.%s has no IPv4 or IPv6 address (%s)",
		    e->domain, mg_dns_status_name(res->status));
		mg_dns_result_free(&res);
		entry_done(e, NULL, why, "sts-policy-fetch-error");
		return;
	}
	mg_dns_result_free(&res);
	f = xcalloc(1, sizeof(*f));
	f->e = e;
	if (port == 443)
		snprintf(f->url, sizeof(f->url), "https://mta-sts.%s/.well-known/mta-sts.txt",
		    e->domain);
	else
		snprintf(f->url, sizeof(f->url), "https://mta-sts.%s:%d/.well-known/mta-sts.txt",
		    e->domain, port);
	snprintf(f->resolve, sizeof(f->resolve), "mta-sts.%s:%d:%s", e->domain, port, ip);
	fetch_queue(f);
}

static void
txt_cb(struct mg_dns_result *res, void *arg)
{
	struct sts_ref *e = arg;
	char id[STS_ID_MAX + 1], name[300], why[300];
	const char *err = NULL;
	int n_sts = 0, bad = 0;

	for (size_t i = 0; i < res->n; i++) {
		struct slice t = { res->rr[i].u.txt.data, res->rr[i].u.txt.len };

		/* §3.1: records not starting with v=STSv1 are discarded; exactly one must remain */
		if (t.len < 7 || memcmp(t.p, "v=STSv1", 7) != 0)
			continue;
		n_sts++;
		if (sts_txt_parse(t, id, &err) < 0)
			bad = 1;
		else
			str_lcpy(e->new_id, id, sizeof(e->new_id));
	}
	if (res->status == MG_DNS_TEMPFAIL) {
		mg_dns_result_free(&res);
		entry_done(e, NULL, "TXT lookup failed temporarily", NULL);
		return;
	}
	mg_dns_result_free(&res);
	if (n_sts != 1 || bad) {
		if (n_sts > 0) {
			snprintf(why, sizeof(why), "invalid _mta-sts TXT record: %s", n_sts > 1 ?
			    "more than one v=STSv1 record" : err);
			entry_done(e, NULL, why, "sts-policy-invalid");
		} else {
			entry_done(e, NULL, NULL, NULL);	/* no policy published */
		}
		return;
	}
	if (e->have_policy && strcmp(e->new_id, e->id) == 0 && ev_now(role.loop) < e->expires) {
		entry_done(e, NULL, NULL, NULL);	/* §5.1: same id: the cached policy stays */
		return;
	}
	e->state = STS_FETCH;
	snprintf(name, sizeof(name), "mta-sts.%s", e->domain);
	(void)mg_dns_query(delivery_dns(), name, 1 /* A */, mg_dns_now_ms() + STS_DNS_DEADLINE_MS,
	    addr_cb, e);
}

static struct sts_ref *
entry_get(const char *domain)
{
	unsigned h = 5381;
	struct sts_ref *e;

	for (const char *p = domain; *p; p++)
		h = h * 33 + (unsigned char)*p;
	h %= STS_HASH;
	for (e = st.hash[h]; e; e = e->next)
		if (strcmp(e->domain, domain) == 0)
			return e;
	e = xcalloc(1, sizeof(*e));
	str_lcpy(e->domain, domain, sizeof(e->domain));
	e->next = st.hash[h];
	st.hash[h] = e;
	return e;
}

int
sts_prepare(struct dest *d)
{
	struct sts_ref *e;
	char name[300];

	/* dane domains use MTA-STS for MX hosts without DANE (RFC 8461 §2, policy.c); report
	 * messages use no policy (RFC 8460 §5.3) */
	if (!d->outbound || d->tlsrpt_msg || !st.started || delivery_dns() == NULL ||
	    d->tls_policy == MG_TLS_NONE)
		return 0;
	e = d->sts = entry_get(d->host);
	if (e->state == STS_READY && ev_now(role.loop) - e->checked < STS_RECHECK)
		return 0;
	if (d->sts_waiting)
		return 1;
	if (e->n_waiting >= STS_WAIT_MAX)
		return 0;	/* bounded: go on with what is cached */
	e->waiting[e->n_waiting++] = d;
	d->sts_waiting = 1;
	if (e->state == STS_LOOKUP || e->state == STS_FETCH)
		return 1;
	e->state = STS_LOOKUP;
	snprintf(name, sizeof(name), "_mta-sts.%s", d->host);
	(void)mg_dns_query(delivery_dns(), name, 16 /* TXT */, mg_dns_now_ms() +
	    STS_DNS_DEADLINE_MS, txt_cb, e);
	return 1;
}

static const struct sts_policy *
dest_policy(const struct dest *d)
{
	const struct sts_ref *e = d->sts;

	if (e == NULL || !e->have_policy || ev_now(role.loop) >= e->expires)
		return NULL;
	return &e->pol;
}

int
sts_enforced(const struct dest *d)
{
	const struct sts_policy *p = dest_policy(d);

	return p != NULL && p->mode == STS_MODE_ENFORCE;
}

int
sts_testing(const struct dest *d)
{
	const struct sts_policy *p = dest_policy(d);

	return p != NULL && p->mode == STS_MODE_TESTING;
}

const char *
sts_policy_text(const struct dest *d)
{
	const struct sts_policy *p = dest_policy(d);

	return p != NULL && p->mode != STS_MODE_NONE ? d->sts->text : NULL;
}

int
sts_mx_allowed(const struct dest *d, const char *mxhost)
{
	const struct sts_policy *p = dest_policy(d);

	if (p == NULL || p->mode == STS_MODE_NONE || sts_mx_match(p, mxhost))
		return 1;
	if (p->mode == STS_MODE_TESTING) {
		log_warn("mta-sts: %s: MX host %s does not match the policy (testing mode: "
		    "delivering anyway)", d->host, mxhost);
		return 1;
	}
	return 0;
}

int
sts_take_failure(const struct dest *d, const char **type_r, char *reason, size_t size)
{
	struct sts_ref *e = d->sts;

	if (e == NULL || e->fail_type == NULL)
		return 0;
	*type_r = e->fail_type;
	str_lcpy(reason, e->fail_reason, size);
	e->fail_type = NULL;
	return 1;
}

static void
cache_path(char *dst, size_t size)
{
	(void)str_fmt(dst, size, "%s/mta-sts.cache", role.cfg->state_dir);
}

/* Writes every unexpired policy to state_dir/mta-sts.cache (atomically). */
static void
cache_save(void)
{
	double now = ev_now(role.loop);
	char path[4096];
	const char *err;
	struct buf out;
	size_t n = 0;

	buf_init(&out, STS_CACHE_FILE_MAX);
	buf_printf(&out, "# MailGuard MTA-STS policy cache (RFC 8461 section 5.1); written by the "
	    "delivery role\nversion 1\n");
	for (size_t h = 0; h < STS_HASH; h++)
		for (const struct sts_ref *e = st.hash[h]; e; e = e->next)
			if (e->have_policy && e->expires > now && n < STS_CACHE_MAX_ENTRIES) {
				sts_cache_format_line(&out, e->domain, e->id, (long long)e->expires,
				    &e->pol);
				n++;
			}
	cache_path(path, sizeof(path));
	if (atomicfile_write(path, out.data, out.len, 0600, &err) < 0)
		log_warn("mta-sts: cannot write %s: %s: %m", path, err);
	else
		st.dirty = 0;
	buf_free(&out);
}

static void
save_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	if (st.dirty)
		cache_save();
}

/* Reads state_dir/mta-sts.cache: every valid unexpired policy becomes a cached entry whose TXT
 * record is checked again at first use (same id: kept without a fetch). */
static void
cache_load(void)
{
	char path[4096];
	size_t len = 0, n = 0, bad = 0;
	char *text, *p, *end;
	double now = ev_now(role.loop);

	cache_path(path, sizeof(path));
	if ((text = read_file(path, STS_CACHE_FILE_MAX, &len)) == NULL)
		return;
	for (p = text, end = text + len; p < end && n < STS_CACHE_MAX_ENTRIES; ) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		struct slice line = { p, nl ? (size_t)(nl - p) : (size_t)(end - p) };
		struct sts_cache_entry ce;
		const char *err;

		p = nl ? nl + 1 : end;
		if (line.len == 0 || line.p[0] == '#' || (line.len == 9 &&
		    memcmp(line.p, "version 1", 9) == 0))
			continue;
		if (sts_cache_parse_line(line, &ce, &err) < 0) {
			bad++;
			continue;
		}
		if ((double)ce.expires <= now)
			continue;
		struct sts_ref *e = entry_get(ce.domain);

		e->pol = ce.pol;
		e->have_policy = 1;
		str_lcpy(e->id, ce.id, sizeof(e->id));
		e->expires = (double)ce.expires;
		sts_policy_format(&ce.pol, e->text, sizeof(e->text));
		e->state = STS_READY;
		e->checked = 0;	/* re-check the TXT record at first use */
		n++;
	}
	xfree(text);
	log_info("mta-sts: %zu cached policies loaded from %s%s", n, path,
	    bad ? " (malformed lines skipped)" : "");
}

void
sts_flush(void)
{
	if (st.started && st.dirty)
		cache_save();
}

void
sts_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		log_err("mta-sts: curl_global_init failed; MTA-STS disabled");
		return;
	}
	load_ca();
	cache_load();
	ev_timer_init(&st.save_w, save_cb, STS_SAVE_EVERY, STS_SAVE_EVERY);
	ev_timer_start(role.loop, &st.save_w);
	ev_unref(role.loop);
	ev_async_init(&st.done_w, fetch_done_cb);
	ev_async_start(role.loop, &st.done_w);
	ev_unref(role.loop);	/* the worker alone does not keep the loop running */
	if (pthread_create(&st.thread, NULL, fetch_thread, NULL) != 0) {
		log_err("mta-sts: cannot start the fetch thread; MTA-STS disabled");
		return;
	}
	st.started = 1;
}

void
sts_reload(void)
{
	if (st.started)
		load_ca();
}

void
sts_free(void)
{
	if (!st.started)
		return;
	if (st.dirty)
		cache_save();
	pthread_mutex_lock(&st.mu);
	st.stop = 1;
	pthread_cond_signal(&st.cv);
	pthread_mutex_unlock(&st.mu);
	/* a fetch in progress ends within its 30 s timeout; do not wait for it at shutdown */
	pthread_detach(st.thread);
	st.started = 0;
}
