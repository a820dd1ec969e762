/* resolve.c: the addresses of a destination, in the delivery role's loop thread. A transport
 * written as [host] or as an IP address is resolved with getaddrinfo (numeric, /etc/hosts); an
 * unbracketed name gets an MX lookup through the async resolver (common/dns.h): MX hosts in
 * preference order (RFC 5321 §5.1), each host's A and AAAA, the domain itself as an implicit MX
 * when it has no MX records, a null MX (RFC 7505) refused. Answers come from the configured
 * resolvers and are already bounded by the DNS layer; at most DEST_MX_MAX hosts and
 * DEST_ADDR_MAX addresses are kept. Results are cached for RESOLVE_TTL seconds. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dns.h"
#include "common/role.h"
#include "delivery/delivery_int.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define RESOLVE_TTL 60.0
#define DEST_MX_MAX 4
#define DNS_DEADLINE_MS 30000

static struct mg_dns *dns;

struct addr_query {
	struct dest *d;
	int pref;		/* the MX preference the address inherits */
};

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
	d->n_addrs = 1;
	freeaddrinfo(ai);
	return 0;
}

/* Ends a lookup: with addresses, the destination gets them; without, it fails for a while. */
static void
resolve_done(struct dest *d, const char *why)
{
	d->resolving = 0;
	if (d->n_addrs == 0) {
		snprintf(d->dead_reason, sizeof(d->dead_reason), "%s", why ? why :
		    "no address for the destination");
		log_warn("destination %s: %s", d->key, d->dead_reason);
		delivery_dest_dead(d);
		return;
	}
	d->cur_addr = 0;
	d->resolved_at = ev_now(role.loop);
	log_debug("destination %s: %d address(es)", d->key, d->n_addrs);
	delivery_dest_pump(d);
}

static void
addr_cb(struct mg_dns_result *res, void *arg)
{
	struct addr_query *aq = arg;
	struct dest *d = aq->d;

	for (size_t i = 0; i < res->n && d->n_addrs < DEST_ADDR_MAX; i++) {
		const struct mg_dns_rr *rr = &res->rr[i];
		struct sockaddr_storage ss;
		socklen_t len;
		int at;

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
		/* keep the list ordered by MX preference (insertion sort; at most 8 entries) */
		for (at = d->n_addrs; at > 0 && d->addr_prefs[at - 1] > aq->pref; at--) {
			d->addrs[at] = d->addrs[at - 1];
			d->addrlens[at] = d->addrlens[at - 1];
			d->addr_prefs[at] = d->addr_prefs[at - 1];
		}
		d->addrs[at] = ss;
		d->addrlens[at] = len;
		d->addr_prefs[at] = aq->pref;
		d->n_addrs++;
	}
	if (res->status == MG_DNS_TEMPFAIL)
		d->resolve_tempfail = 1;
	mg_dns_result_free(&res);
	xfree(aq);
	if (--d->pending == 0)
		resolve_done(d, d->resolve_tempfail ? "temporary DNS failure looking up the MX hosts' "
		    "addresses" : "the MX hosts have no addresses");
}

static void
query_addrs(struct dest *d, const char *host, int pref)
{
	static const uint16_t types[] = { 1 /* A */, 28 /* AAAA */ };

	for (size_t i = 0; i < 2; i++) {
		struct addr_query *aq = xcalloc(1, sizeof(*aq));

		aq->d = d;
		aq->pref = pref;
		d->pending++;
		(void)mg_dns_query(dns, host, types[i], mg_dns_now_ms() + DNS_DEADLINE_MS, addr_cb, aq);
	}
}

static int
mx_cmp(const void *a, const void *b)
{
	const struct mg_dns_rr *x = a, *y = b;

	return (int)x->u.mx.pref - (int)y->u.mx.pref;
}

static void
mx_cb(struct mg_dns_result *res, void *arg)
{
	struct dest *d = arg;
	char why[400];

	switch (res->status) {
	case MG_DNS_OK:
		if (res->n == 1 && res->rr[0].u.mx.host[0] == '\0') {
			snprintf(why, sizeof(why), "%s publishes a null MX: it accepts no mail "
			    "(RFC 7505)", d->host);
			break;
		}
		qsort(res->rr, res->n, sizeof(res->rr[0]), mx_cmp);
		for (size_t i = 0; i < res->n && i < DEST_MX_MAX; i++)
			if (res->rr[i].u.mx.host[0] != '\0')
				query_addrs(d, res->rr[i].u.mx.host, res->rr[i].u.mx.pref);
		mg_dns_result_free(&res);
		if (d->pending == 0)
			resolve_done(d, "no usable MX host");
		return;
	case MG_DNS_NODATA:
		/* RFC 5321 §5.1: no MX records: the domain itself is the implicit MX */
		mg_dns_result_free(&res);
		query_addrs(d, d->host, 0);
		return;
	case MG_DNS_NXDOMAIN:
		snprintf(why, sizeof(why), "MX lookup for %s: domain not found", d->host);
		break;
	default:
		snprintf(why, sizeof(why), "MX lookup for %s failed: %s", d->host,
		    res->error ? res->error : mg_dns_status_name(res->status));
		break;
	}
	mg_dns_result_free(&res);
	resolve_done(d, why);
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
	if (!d->mx || host_is_literal(d->host) || dns == NULL) {
		if (resolve_static(d, why, whysize) < 0)
			return -1;
		d->resolved_at = ev_now(role.loop);
		return 0;
	}
	d->resolving = 1;
	d->resolve_tempfail = 0;
	d->pending = 0;
	(void)mg_dns_query(dns, d->host, 15 /* MX */, mg_dns_now_ms() + DNS_DEADLINE_MS, mx_cb, d);
	return 1;
}
