#ifndef FILTER_SPF_INT_H
#define FILTER_SPF_INT_H
/* Private to filter/spf*.c: the per-check state shared by the wrapper (spf.c) and our libspf2
 * DNS layer (spf_dns.c). Not for other modules. */
#include <netinet/in.h>	/* libspf2's headers use struct in_addr without including it */
#include <stdint.h>

#include <spf2/spf.h>
#include <spf2/spf_dns.h>

#include "common/dns.h"
#include "filter/spf.h"
#include "lib/buf.h"

/* Appended by the guard to a/mx targets whose relevant CIDR is /0; ".invalid" (RFC 6761 §6.4)
 * cannot exist, so no real name collides. spf_dns.c strips it and answers accordingly. */
#define MG_SPF_CIDR0_SUFFIX ".cidr0.mg-spf.invalid"

#define MG_SPF_CACHE_MAX 48	/* distinct (name, type) answers kept during one check */
#define MG_SPF_QNAME_MAX (MG_DNS_NAME_MAX + sizeof(MG_SPF_CIDR0_SUFFIX) + 2)

enum mg_spf_fetch {
	MG_SPF_FETCH_OK,	/* *rec_r compiled */
	MG_SPF_FETCH_NONE,	/* no (valid) name, NXDOMAIN, no v=spf1 record */
	MG_SPF_FETCH_TEMP,	/* DNS failure */
	MG_SPF_FETCH_PERM,	/* several records, syntax error, guard refusal, limit */
};

struct mg_spf_cache_ent {
	uint16_t type;
	char name[MG_DNS_NAME_MAX + 1];
	struct mg_dns_result *res;	/* owned */
};

/* Per-check state of the DNS layer; lives inside struct mg_spf, reset per check. */
struct mg_spf_ctx {
	const struct mg_dns_lookup *dns;	/* borrowed: the caller's, for one check */
	int family;				/* AF_INET or AF_INET6 (client) */
	unsigned char addr[16];
	int unguarded;				/* test-only: raw TXT to libspf2 */
	int lookups, voids, queries;
	const char *limit;			/* set once a limit is hit: the check is a permerror */
	/* A/AAAA lookups libspf2 makes next for MX or PTR names (not terms, §4.6.4). */
	char expect[MG_SPF_PTR_LIMIT][MG_SPF_QNAME_MAX];
	int n_expect, i_expect, expect_from_ptr;
	uint16_t expect_type;
	struct mg_spf_cache_ent cache[MG_SPF_CACHE_MAX];
	int n_cache;
	struct buf canon;			/* scratch: canonical record or explanation */
	char why[96];				/* reason of the last record fetch failure */
};

/* Our SPF_dns_server_t over ctx (owned by the server; SPF_server_free destroys it). */
SPF_dns_server_t *mg_spf_dns_new(struct mg_spf_ctx *ctx);
/* Starts a check: borrows dns, sets the client, clears counters, expectations and cache. */
void mg_spf_ctx_begin(struct mg_spf_ctx *ctx, const struct mg_dns_lookup *dns, int family,
    const unsigned char *addr);
/* Frees the cached answers (end of a check, and on free). */
void mg_spf_ctx_end(struct mg_spf_ctx *ctx);
/* Fetches, selects (RFC 7208 §4.5), filters and compiles the record of domain. On OK, *rec_r is
 * the caller's to SPF_record_free. Otherwise ctx->why says why. Not counted as a term. */
enum mg_spf_fetch mg_spf_fetch_record(struct mg_spf_ctx *ctx, SPF_server_t *server,
    SPF_response_t *resp, const char *domain, SPF_record_t **rec_r);

#endif
