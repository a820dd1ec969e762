#ifndef COMMON_DNS_H
#define COMMON_DNS_H
/* The DNS façade: an asynchronous stub resolver on libev that speaks to the configured recursive
 * resolvers (unbound in tests) with ldns wire encoding, plus the parsed, bounded answer type every
 * checker (RBL, SPF, DKIM key, DMARC, ARC, MX, TLSA) consumes. Answers from the network are
 * hostile: the parser caps sizes and record counts and follows CNAME chains only inside one
 * answer. Limits below cite their source. */
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ev_loop;

#define MG_DNS_NAME_MAX 253		/* RFC 1035 §2.3.4, presentation form without the final dot */
#define MG_DNS_RR_MAX 64		/* records of the asked type kept per answer */
#define MG_DNS_TXT_MAX 4096		/* octets of one TXT record after joining its strings */
#define MG_DNS_UDP_MAX 4096		/* EDNS0 payload size we advertise (RFC 6891) */
#define MG_DNS_TCP_MAX 65535		/* RFC 1035 §4.2.2 two-octet length */
#define MG_DNS_CNAME_MAX 8		/* CNAME links followed inside one answer */
#define MG_DNS_SERVERS_MAX 4

enum mg_dns_status {
	MG_DNS_OK = 0,		/* NOERROR and at least one record of the asked type */
	MG_DNS_NODATA,		/* NOERROR, no record of that type (the name exists) */
	MG_DNS_NXDOMAIN,	/* RCODE 3 */
	MG_DNS_TEMPFAIL,	/* SERVFAIL, timeout, network error, deadline/budget spent */
	MG_DNS_PERMFAIL,	/* REFUSED, FORMERR, NOTIMP, malformed answer, invalid name */
};

struct mg_dns_rr {
	uint16_t type;		/* LDNS_RR_TYPE_* value (1 A, 28 AAAA, 15 MX, 16 TXT, 12 PTR, 5 CNAME, 52 TLSA) */
	uint32_t ttl;
	union {
		struct { int family; unsigned char addr[16]; } a;	/* A (AF_INET, 4 octets), AAAA */
		struct { uint16_t pref; char *host; } mx;		/* host lowercase, no final dot */
		char *name;						/* CNAME, PTR, NS: lowercase, no final dot */
		struct { char *data; size_t len; } txt;		/* character-strings joined, NUL-terminated,
									 * may hold NULs (len is authoritative) */
		struct { uint8_t usage, selector, mtype; unsigned char *data; size_t len; } tlsa;
	} u;
};

struct mg_dns_result {
	enum mg_dns_status status;
	int rcode;		/* wire RCODE, -1 if no answer arrived */
	int secure;		/* AD bit set by the (validating) resolver */
	char qname[MG_DNS_NAME_MAX + 1];	/* lowercase, no final dot */
	uint16_t qtype;
	size_t n;		/* records of qtype (after following CNAMEs), at most MG_DNS_RR_MAX */
	struct mg_dns_rr *rr;
	const char *error;	/* static text for TEMPFAIL/PERMFAIL ("timeout", "truncated", ...) or NULL */
};

struct mg_dns_config {
	/* "127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:5353" */
	char servers[MG_DNS_SERVERS_MAX][64];
	int n_servers;
	int timeout_ms;		/* per attempt, per server */
	int attempts;		/* rounds over all servers */
	int udp_size;		/* EDNS0 size to advertise, 512..MG_DNS_UDP_MAX; 0 = no EDNS0 */
	int dnssec_ok;		/* set the DO bit (TLSA needs AD from a validating resolver) */
};

/* A name to look up in the pure checkers (SPF, DKIM keys, DMARC, ARC): the filter passes a
 * function that waits on the async resolver within the message's DNS budget, tools a blocking
 * one, unit tests a table. Returns a result the caller frees with mg_dns_result_free(); never
 * NULL (failures are TEMPFAIL/PERMFAIL results). May be called from any thread the owner allows. */
struct mg_dns_lookup {
	struct mg_dns_result *(*fn)(void *ctx, const char *name, uint16_t type);
	void *ctx;
};

typedef void mg_dns_cb(struct mg_dns_result *res, void *arg);	/* res owned by the callee */
struct mg_dns;
struct mg_dns_query;

/* Monotonic clock in milliseconds (deadlines below are on this clock). Any thread. */
long long mg_dns_now_ms(void);

/* A resolver bound to loop (main thread only, except mg_dns_query_wait). Returns NULL with
 * *error_r set if cfg is unusable (no server, bad address). */
struct mg_dns *mg_dns_new(struct ev_loop *loop, const struct mg_dns_config *cfg, const char **error_r);
void mg_dns_free(struct mg_dns **d);
/* Starts a query; cb runs later on the loop (never inside this call), exactly once, unless the
 * query is cancelled first. deadline_ms (mg_dns_now_ms clock, 0 = cfg timeouts only) bounds the
 * whole query including retries and TCP fallback. Loop thread only. */
struct mg_dns_query *mg_dns_query(struct mg_dns *d, const char *name, uint16_t type,
    long long deadline_ms, mg_dns_cb *cb, void *arg);
/* Cancels a pending query (its callback will not run) and NULLs *q. Loop thread only. */
void mg_dns_cancel(struct mg_dns_query **q);
/* The thread bridge: called from a worker thread (never the loop thread), hands the query to
 * the loop and blocks until the answer or deadline_ms. Returns the result (never NULL). */
struct mg_dns_result *mg_dns_query_wait(struct mg_dns *d, const char *name, uint16_t type,
    long long deadline_ms);
/* Blocking lookup on a private loop, for tools and tests. Never NULL. Any thread. */
struct mg_dns_result *mg_dns_lookup_blocking(const struct mg_dns_config *cfg, const char *name,
    uint16_t type);
void mg_dns_result_free(struct mg_dns_result **r);
/* A result with no records and the given status (for lookups refused before any query, e.g. an
 * invalid name, and for unit-test tables). */
struct mg_dns_result *mg_dns_result_new(const char *qname, uint16_t qtype, enum mg_dns_status st,
    const char *error);

/* Decodes one wire response (untrusted, fuzzed): checks id, QR, the question against
 * (qname, qtype), follows CNAMEs from qname inside the answer, keeps at most MG_DNS_RR_MAX
 * records of qtype. Returns 0 with *res_r set, or -1 with *error_r (static) if the message is
 * malformed or does not answer the question; a TC response returns 1 (retry over TCP). */
int mg_dns_parse_response(const unsigned char *wire, size_t len, uint16_t id, const char *qname,
    uint16_t qtype, struct mg_dns_result **res_r, const char **error_r);

/* The name to query for addr in an IP-keyed zone (RBL/DNSWL, RFC 5782 §2.1/§2.4): reversed
 * octets (IPv4) or nibbles (IPv6) followed by zone. Returns 0, -1 if out is too small. */
int mg_dns_reverse_name(const struct sockaddr *addr, const char *zone, char *out, size_t outsize);
/* "ok", "nodata", "nxdomain", "tempfail", "permfail". */
const char *mg_dns_status_name(enum mg_dns_status st);

#endif
