/* resolve.c: the addresses of a destination, in the delivery role's loop thread. A transport
 * written as [host] or as an IP address is resolved with getaddrinfo (numeric, /etc/hosts); an
 * unbracketed name gets an MX lookup through the async resolver (common/dns.h): MX hosts in
 * preference order (RFC 5321 §5.1), each host's A and AAAA (families without a local route, or
 * without a source address when outbound_ips is set, are skipped), the domain itself as an
 * implicit MX when it has no MX records. For outbound mail a null MX (RFC 7505) and an unknown
 * domain fail for good (5.1.10, 5.1.2); everything else temporary. For tls_policy dane the
 * TLSA records of each MX host (_PORT._tcp.HOST, RFC 7672 §2.2) are looked up when the MX
 * RRset is DNSSEC-validated (AD bit from the validating resolver). Answers come from the
 * configured resolvers and are already bounded by the DNS layer; at most DEST_MX_MAX hosts,
 * DEST_ADDR_MAX addresses and DEST_TLSA_MAX TLSA records per host are kept. Results are
 * cached for RESOLVE_TTL seconds. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/dns.h"
#include "common/role.h"
#include "delivery/delivery_int.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define RESOLVE_TTL 60.0
#define DNS_DEADLINE_MS 30000

static struct mg_dns *dns;

struct addr_query {
	struct dest *d;
	int mx;			/* index into d->mxh */
};

struct mg_dns *
delivery_dns(void)
{
	return dns;
}

void
delivery_resolver_init(void)
{
	struct mg_dns_config dc;
	const char *err;

	memset(&dc, 0, sizeof(dc));
	for (size_t i = 0; i < role.cfg->n_resolvers && dc.n_servers < MG_DNS_SERVERS_MAX; i++)
		str_lcpy(dc.servers[dc.n_servers++], role.cfg->resolvers[i], sizeof(dc.servers[0]));
	dc.timeout_ms = role.cfg->dns_timeout_ms;
	dc.attempts = role.cfg->dns_attempts;
	dc.udp_size = 1232;
	/* DANE needs the AD bit of the validating resolver (RFC 7672 §2.1) */
	dc.dnssec_ok = 1;
	if ((dns = mg_dns_new(role.loop, &dc, &err)) == NULL)
		log_err("delivery: resolver: %s; MX lookups fail", err);
}

void
delivery_resolver_free(void)
{
	mg_dns_free(&dns);
}

static int
host_is_literal(const char *host)
{
	unsigned char tmp[16];

	return inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
}

static int
resolve_static(struct dest *d, char *why, size_t whysize)
{
	struct addrinfo hints, *ai = NULL;
	char port[16];
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
	snprintf(port, sizeof(port), "%d", d->port);
	if ((r = getaddrinfo(d->host, port, &hints, &ai)) != 0) {
		snprintf(why, whysize, "cannot resolve %s: %s", d->host, gai_strerror(r));
		return -1;
	}
	memcpy(&d->addrs[0], ai->ai_addr, ai->ai_addrlen);
	d->addrlens[0] = ai->ai_addrlen;
	d->addr_mx[0] = -1;
	d->n_addrs = 1;
	d->n_mxh = 0;
	freeaddrinfo(ai);
	return 0;
}

static void
mxhost_clear(struct mxhost *h)
{
	for (int i = 0; i < h->n_tlsa; i++)
		xfree(h->tlsa[i].data);
	memset(h, 0, sizeof(*h));
}

static void
dest_clear_mx(struct dest *d)
{
	for (int i = 0; i < d->n_mxh; i++)
		mxhost_clear(&d->mxh[i]);
	d->n_mxh = 0;
}

/* Drops addresses whose MX host must not be used (TLSA lookup failed, RFC 7672 §2.2). */
static int
drop_failed_hosts(struct dest *d, char *why, size_t whysize)
{
	int o = 0, dropped = 0;

	for (int i = 0; i < d->n_addrs; i++) {
		int mx = d->addr_mx[i];

		if (mx >= 0 && d->mxh[mx].tlsa_state == MXT_FAIL) {
			dropped++;
			continue;
		}
		d->addrs[o] = d->addrs[i];
		d->addrlens[o] = d->addrlens[i];
		d->addr_prefs[o] = d->addr_prefs[i];
		d->addr_mx[o] = d->addr_mx[i];
		o++;
	}
	d->n_addrs = o;
	if (dropped > 0 && o == 0)
		snprintf(why, whysize, "TLSA lookup of the MX hosts of %s failed (DNSSEC bogus or "
		    "server failure): delivery deferred (RFC 7672 section 2.2)", d->host);
	return dropped;
}

/* Ends a lookup when nothing is pending: with addresses, the destination gets them; without,
 * it fails for a while. */
static void
resolve_finish(struct dest *d, const char *why)
{
	char tlsawhy[400];

	if (why != NULL && d->dead_reason[0] == '\0')
		str_lcpy(d->dead_reason, why, sizeof(d->dead_reason));
	if (d->pending > 0)
		return;
	d->resolving = 0;
	if (drop_failed_hosts(d, tlsawhy, sizeof(tlsawhy)) > 0 && d->n_addrs == 0 &&
	    !d->permfail) {
		str_lcpy(d->dead_reason, tlsawhy, sizeof(d->dead_reason));
		str_lcpy(d->dead_status, "4.7.5", sizeof(d->dead_status));
	}
	if (d->n_addrs == 0) {
		if (d->dead_reason[0] == '\0')
			str_lcpy(d->dead_reason, d->resolve_tempfail ? "temporary DNS failure "
			    "looking up the MX hosts' addresses" : "the MX hosts have no addresses",
			    sizeof(d->dead_reason));
		log_warn("destination %s: %s", d->key, d->dead_reason);
		delivery_dest_dead(d);
		return;
	}
	d->cur_addr = 0;
	d->resolved_at = ev_now(role.loop);
	log_debug("destination %s: %d address(es)", d->key, d->n_addrs);
	delivery_dest_pump(d);
}

/* 1 if this host can reach addr at all (a local route exists, RFC 5321 §5.1 "skip families
 * with no local route") and, with outbound_ips, has a source address of that family. */
static int
addr_usable(struct dest *d, const struct sockaddr_storage *ss, socklen_t len)
{
	char src[64];
	unsigned turn = d->src_next;
	int fd, ok;

	ok = policy_pick_source(d, ss->ss_family, src, sizeof(src));
	d->src_next = turn;	/* probing does not use up a turn */
	if (ok < 0)
		return 0;
	if ((fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	ok = connect(fd, (const struct sockaddr *)ss, len) == 0 || errno == EINPROGRESS;
	close(fd);
	return ok;
}

static void
add_addr(struct dest *d, const struct mg_dns_rr *rr, int mx)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int at, pref = d->mxh[mx].pref;

	memset(&ss, 0, sizeof(ss));
	if (rr->u.a.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)d->port);
		memcpy(&sin->sin_addr, rr->u.a.addr, 4);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)d->port);
		memcpy(&sin6->sin6_addr, rr->u.a.addr, 16);
		len = sizeof(*sin6);
	}
	if (!addr_usable(d, &ss, len))
		return;
	/* keep the list ordered by MX preference (insertion sort; at most 8 entries) */
	for (at = d->n_addrs; at > 0 && d->addr_prefs[at - 1] > pref; at--) {
		d->addrs[at] = d->addrs[at - 1];
		d->addrlens[at] = d->addrlens[at - 1];
		d->addr_prefs[at] = d->addr_prefs[at - 1];
		d->addr_mx[at] = d->addr_mx[at - 1];
	}
	d->addrs[at] = ss;
	d->addrlens[at] = len;
	d->addr_prefs[at] = pref;
	d->addr_mx[at] = mx;
	d->n_addrs++;
}

static void
addr_cb(struct mg_dns_result *res, void *arg)
{
	struct addr_query *aq = arg;
	struct dest *d = aq->d;

	for (size_t i = 0; i < res->n && d->n_addrs < DEST_ADDR_MAX; i++)
		add_addr(d, &res->rr[i], aq->mx);
	if (res->status == MG_DNS_TEMPFAIL)
		d->resolve_tempfail = 1;
	if (!res->secure && (res->status == MG_DNS_OK || res->status == MG_DNS_NODATA))
		d->mxh[aq->mx].insecure_addr = 1;
	mg_dns_result_free(&res);
	xfree(aq);
	d->pending--;
	resolve_finish(d, NULL);
}

static int
tlsa_usable(const struct mg_dns_rr *rr)
{
	return policy_tlsa_usable(rr->u.tlsa.usage, rr->u.tlsa.selector, rr->u.tlsa.mtype,
	    rr->u.tlsa.len);
}

static void
tlsa_text_add(struct mxhost *h, const struct mg_dns_rr *rr)
{
	size_t o = strlen(h->tlsa_text);
	int n = snprintf(h->tlsa_text + o, sizeof(h->tlsa_text) - o, "%s%u %u %u ",
	    o ? "\n" : "", rr->u.tlsa.usage, rr->u.tlsa.selector, rr->u.tlsa.mtype);

	if (n < 0 || (size_t)n >= sizeof(h->tlsa_text) - o)
		return;
	o += (size_t)n;
	for (size_t i = 0; i < rr->u.tlsa.len && o + 3 < sizeof(h->tlsa_text); i++, o += 2)
		snprintf(h->tlsa_text + o, 3, "%02x", rr->u.tlsa.data[i]);
}

static void
tlsa_cb(struct mg_dns_result *res, void *arg)
{
	struct addr_query *aq = arg;
	struct dest *d = aq->d;
	struct mxhost *h = &d->mxh[aq->mx];

	switch (res->status) {
	case MG_DNS_OK:
		if (!res->secure) {
			h->tlsa_state = MXT_NONE;	/* insecure: as if none (RFC 7672 §2.2) */
			break;
		}
		h->tlsa_state = MXT_UNUSABLE;
		for (size_t i = 0; i < res->n; i++) {
			const struct mg_dns_rr *rr = &res->rr[i];

			tlsa_text_add(h, rr);
			if (!tlsa_usable(rr) || h->n_tlsa >= DEST_TLSA_MAX)
				continue;
			h->tlsa[h->n_tlsa].usage = rr->u.tlsa.usage;
			h->tlsa[h->n_tlsa].selector = rr->u.tlsa.selector;
			h->tlsa[h->n_tlsa].mtype = rr->u.tlsa.mtype;
			h->tlsa[h->n_tlsa].data = xmemdup(rr->u.tlsa.data, rr->u.tlsa.len);
			h->tlsa[h->n_tlsa].len = rr->u.tlsa.len;
			h->n_tlsa++;
			h->tlsa_state = MXT_USABLE;
		}
		break;
	case MG_DNS_NODATA:
	case MG_DNS_NXDOMAIN:
		h->tlsa_state = MXT_NONE;
		break;
	default:
		h->tlsa_state = MXT_FAIL;
		log_warn("destination %s: TLSA lookup for MX host %s failed: %s; not using it",
		    d->key, h->name, res->error ? res->error : mg_dns_status_name(res->status));
		break;
	}
	mg_dns_result_free(&res);
	xfree(aq);
	d->pending--;
	resolve_finish(d, NULL);
}

static void
query_host(struct dest *d, const char *host, int pref, int secure)
{
	static const uint16_t types[] = { 1 /* A */, 28 /* AAAA */ };
	int mx = d->n_mxh++;
	struct mxhost *h = &d->mxh[mx];

	str_lcpy(h->name, host, sizeof(h->name));
	h->pref = pref;
	for (size_t i = 0; i < 2; i++) {
		struct addr_query *aq = xcalloc(1, sizeof(*aq));

		aq->d = d;
		aq->mx = mx;
		d->pending++;
		(void)mg_dns_query(dns, host, types[i], mg_dns_now_ms() + DNS_DEADLINE_MS, addr_cb, aq);
	}
	if (d->outbound && d->tls_policy == MG_TLS_DANE && secure) {
		struct addr_query *aq = xcalloc(1, sizeof(*aq));
		char name[300];

		aq->d = d;
		aq->mx = mx;
		d->pending++;
		snprintf(name, sizeof(name), "_%d._tcp.%s", d->port, host);
		(void)mg_dns_query(dns, name, 52 /* TLSA */, mg_dns_now_ms() + DNS_DEADLINE_MS,
		    tlsa_cb, aq);
	}
}

static int
mx_cmp(const void *a, const void *b)
{
	const struct mg_dns_rr *x = a, *y = b;

	return (int)x->u.mx.pref - (int)y->u.mx.pref;
}

/* A lookup result that means the domain takes no mail: bounce outbound mail (RFC 7505 §4.2,
 * RFC 5321 §5.1), keep inbound relays deferred (a transport misconfiguration is ours). */
static void
resolve_perm(struct dest *d, const char *status, const char *why)
{
	if (d->outbound) {
		d->permfail = 1;
		str_lcpy(d->perm_status, status, sizeof(d->perm_status));
	}
	resolve_finish(d, why);
}

static void
mx_cb(struct mg_dns_result *res, void *arg)
{
	struct dest *d = arg;
	char why[400];

	d->pending--;
	d->mx_secure = res->secure;
	switch (res->status) {
	case MG_DNS_OK:
		if (res->n == 1 && res->rr[0].u.mx.host[0] == '\0') {
			snprintf(why, sizeof(why), "%s publishes a null MX: it accepts no mail "
			    "(RFC 7505)", d->host);
			mg_dns_result_free(&res);
			resolve_perm(d, "5.1.10", why);
			return;
		}
		qsort(res->rr, res->n, sizeof(res->rr[0]), mx_cmp);
		for (size_t i = 0; i < res->n && d->n_mxh < DEST_MX_MAX; i++)
			if (res->rr[i].u.mx.host[0] != '\0')
				query_host(d, res->rr[i].u.mx.host, res->rr[i].u.mx.pref, res->secure);
		mg_dns_result_free(&res);
		resolve_finish(d, d->n_mxh == 0 ? "no usable MX host" : NULL);
		return;
	case MG_DNS_NODATA:
		/* RFC 5321 §5.1: no MX records: the domain itself is the implicit MX */
		query_host(d, d->host, 0, res->secure);
		mg_dns_result_free(&res);
		return;
	case MG_DNS_NXDOMAIN:
		snprintf(why, sizeof(why), "MX lookup for %s: domain not found", d->host);
		mg_dns_result_free(&res);
		resolve_perm(d, "5.1.2", why);
		return;
	default:
		snprintf(why, sizeof(why), "MX lookup for %s failed: %s", d->host,
		    res->error ? res->error : mg_dns_status_name(res->status));
		break;
	}
	mg_dns_result_free(&res);
	resolve_finish(d, why);
}

/* RFC 8460 §3: "v=TLSRPTv1; rua=URI[,URI]": keeps the rua value of the one valid record. */
static void
rua_cb(struct mg_dns_result *res, void *arg)
{
	struct dest *d = arg;
	uint32_t ttl = 3600;

	d->rua[0] = '\0';
	for (size_t i = 0; res->status == MG_DNS_OK && i < res->n; i++) {
		const char *t = res->rr[i].u.txt.data, *r, *end;

		if (strncmp(t, "v=TLSRPTv1", 10) != 0 || (t[10] != ';' && t[10] != ' ' &&
		    t[10] != '\0'))
			continue;
		if ((r = strstr(t, "rua=")) == NULL)
			continue;
		r += 4;
		end = strchr(r, ';');
		snprintf(d->rua, sizeof(d->rua), "%.*s", (int)(end ? end - r : (long)strlen(r)), r);
		ttl = res->rr[i].ttl;
		break;
	}
	if (ttl > 86400)
		ttl = 86400;
	d->rua_expires = ev_now(role.loop) + (res->status == MG_DNS_TEMPFAIL ? 60.0 : (double)ttl);
	mg_dns_result_free(&res);
	d->pending--;
	resolve_finish(d, NULL);
}

int
delivery_dest_resolve(struct dest *d, char *why, size_t whysize)
{
	if (d->resolving)
		return 1;
	if (d->n_addrs > 0 && ev_now(role.loop) - d->resolved_at < RESOLVE_TTL)
		return 0;
	d->n_addrs = 0;
	d->cur_addr = 0;
	d->permfail = 0;
	dest_clear_mx(d);
	if (!d->mx || host_is_literal(d->host) || dns == NULL) {
		if (resolve_static(d, why, whysize) < 0)
			return -1;
		d->resolved_at = ev_now(role.loop);
		return 0;
	}
	d->resolving = 1;
	d->resolve_tempfail = 0;
	d->dead_reason[0] = '\0';
	d->dead_status[0] = '\0';
	d->pending = 1;
	if (d->outbound && ev_now(role.loop) >= d->rua_expires) {
		char name[300];

		d->pending++;
		snprintf(name, sizeof(name), "_smtp._tls.%s", d->host);
		(void)mg_dns_query(dns, name, 16 /* TXT */, mg_dns_now_ms() + DNS_DEADLINE_MS,
		    rua_cb, d);
	}
	(void)mg_dns_query(dns, d->host, 15 /* MX */, mg_dns_now_ms() + DNS_DEADLINE_MS, mx_cb, d);
	return 1;
}
