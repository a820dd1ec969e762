/* dmarc_ctl_ptr.c: reverse DNS of the source IPs shown by `mailguardctl dmarc summary`
 * (filter/dmarc_ctl.h): PTR, then forward confirmation (A or AAAA of each PTR name, at most
 * PTR_NAMES_MAX names), through the filter's resolver on the calling worker thread
 * (mg_dns_query_direct), within the command's deadline. Answers go into a small cache shared by
 * the pool threads (a mutex; DMARC_CTL_PTR_CACHE entries, the oldest replaced when full), so a
 * console refreshing its page does not repeat the lookups. The IPs come from our own store but
 * are parsed again (inet_pton) before they make a query name. Worker threads. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/dns.h"
#include "filter/dmarc_ctl.h"
#include "filter/filter_int.h"
#include "lib/str.h"

#define PTR_NAMES_MAX 3			/* PTR names tried for forward confirmation */
#define PTR_TEMPFAIL_TTL 60		/* seconds a tempfail is remembered */
#define RR_A 1
#define RR_PTR 12
#define RR_AAAA 28

struct ptr_entry {
	char ip[46];			/* "" = free slot */
	char name[MG_DNS_NAME_MAX + 1];
	const char *status;		/* static */
	long long expires;		/* time(NULL) clock */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ptr_entry cache[DMARC_CTL_PTR_CACHE];

static int
cache_get(const char *ip, long long now, char *name, size_t size, const char **status)
{
	int found = 0;

	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < DMARC_CTL_PTR_CACHE && cache[i].ip[0] != '\0'; i++)
		if (strcmp(cache[i].ip, ip) == 0 && cache[i].expires > now) {
			str_lcpy(name, cache[i].name, size);
			*status = cache[i].status;
			found = 1;
			break;
		}
	pthread_mutex_unlock(&cache_lock);
	return found;
}

/* Slots fill from the front (the lookup loop stops at the first free one); a full table
 * replaces the entry of that ip, else an expired one, else the one expiring first. */
static void
cache_put(const char *ip, const char *name, const char *status, long long expires, long long now)
{
	size_t i, pick = 0;

	pthread_mutex_lock(&cache_lock);
	for (i = 0; i < DMARC_CTL_PTR_CACHE && cache[i].ip[0] != '\0'; i++) {
		if (strcmp(cache[i].ip, ip) == 0 || cache[i].expires <= now) {
			pick = i;
			goto set;
		}
		if (cache[i].expires < cache[pick].expires)
			pick = i;
	}
	if (i < DMARC_CTL_PTR_CACHE)
		pick = i;
set:
	str_lcpy(cache[pick].ip, ip, sizeof(cache[pick].ip));
	str_lcpy(cache[pick].name, name, sizeof(cache[pick].name));
	cache[pick].status = status;
	cache[pick].expires = expires;
	pthread_mutex_unlock(&cache_lock);
}

/* 1 if the A/AAAA records of name include addr, 0 if not, -1 tempfail, -2 deadline. */
static int
forward_has(const char *name, int family, const unsigned char *addr, long long deadline_ms)
{
	struct mg_dns_result *r;
	int hit = 0;

	if (mg_dns_now_ms() >= deadline_ms)
		return -2;
	r = mg_dns_query_direct(filter.dns, name, family == AF_INET ? RR_A : RR_AAAA, deadline_ms);
	if (r->status == MG_DNS_TEMPFAIL)
		hit = r->error != NULL && strcmp(r->error, "deadline") == 0 ? -2 : -1;
	for (size_t i = 0; r->status == MG_DNS_OK && i < r->n; i++)
		if (r->rr[i].u.a.family == family &&
		    memcmp(r->rr[i].u.a.addr, addr, family == AF_INET ? 4 : 16) == 0)
			hit = 1;
	mg_dns_result_free(&r);
	return hit;
}

/* The lookup itself (no cache). */
static const char *
ptr_resolve(const struct sockaddr *sa, const unsigned char *addr, long long deadline_ms,
    char *name, size_t size)
{
	char qname[MG_DNS_NAME_MAX + 1];
	struct mg_dns_result *r;
	const char *status = "unconfirmed";
	int tempfail = 0, tried = 0;

	if (mg_dns_reverse_name(sa, sa->sa_family == AF_INET ? "in-addr.arpa" : "ip6.arpa", qname,
	    sizeof(qname)) < 0)
		return "none";
	r = mg_dns_query_direct(filter.dns, qname, RR_PTR, deadline_ms);
	if (r->status == MG_DNS_NXDOMAIN || r->status == MG_DNS_NODATA) {
		mg_dns_result_free(&r);
		return "none";
	}
	if (r->status != MG_DNS_OK) {
		status = r->status == MG_DNS_TEMPFAIL && r->error != NULL &&
		    strcmp(r->error, "deadline") == 0 ? "skipped" : "tempfail";
		mg_dns_result_free(&r);
		return status;
	}
	str_lcpy(name, r->rr[0].u.name != NULL ? r->rr[0].u.name : "", size);
	for (size_t i = 0; i < r->n && tried < PTR_NAMES_MAX; i++) {
		int hit;

		if (r->rr[i].type != RR_PTR || r->rr[i].u.name == NULL || r->rr[i].u.name[0] == '\0')
			continue;
		tried++;
		hit = forward_has(r->rr[i].u.name, sa->sa_family, addr, deadline_ms);
		if (hit == 1) {
			str_lcpy(name, r->rr[i].u.name, size);
			status = "confirmed";
			break;
		}
		if (hit == -2) {
			status = "skipped";
			break;
		}
		tempfail |= hit == -1;
	}
	if (strcmp(status, "unconfirmed") == 0 && tempfail)
		status = "tempfail";
	mg_dns_result_free(&r);
	return status;
}

const char *
dmarc_ctl_ptr(const char *ip, long long deadline_ms, char *name, size_t size)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	const unsigned char *addr;
	long long now = (long long)time(NULL), ttl;
	const char *status;

	name[0] = '\0';
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		addr = (const unsigned char *)&s4->sin_addr;
	} else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		addr = s6->sin6_addr.s6_addr;
	} else {
		return "none";
	}
	if (cache_get(ip, now, name, size, &status))
		return status;
	if (filter.dns == NULL || mg_dns_now_ms() >= deadline_ms)
		return "skipped";
	status = ptr_resolve((const struct sockaddr *)&ss, addr, deadline_ms, name, size);
	if (strcmp(status, "skipped") == 0)
		return status;
	ttl = strcmp(status, "tempfail") == 0 ? PTR_TEMPFAIL_TTL : DMARC_CTL_PTR_TTL;
	cache_put(ip, name, status, now + ttl, now);
	return status;
}
