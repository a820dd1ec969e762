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
	uint16_t type;		/* LDNS_RR_TYPE_* value (1 A, 28 AAAA, 15 MX, 16 TXT, 12 PTR, 5 CNAME, 52 TLSA);
				 * SPF (99) decodes like TXT, NS like CNAME */
	uint32_t ttl;
	union {
		struct { int family; unsigned char addr[16]; } a;	/* A (AF_INET, 4 octets), AAAA */
		struct { uint16_t pref; char *host; } mx;		/* host lowercase, no final dot
									 * ("" for the null MX ".", RFC 7505) */
		char *name;						/* CNAME, PTR, NS: lowercase, no final dot,
									 * RFC 1035 §5.1 escapes (\. \DDD) */
		struct { char *data; size_t len; } txt;		/* character-strings joined, NUL-terminated,
									 * may hold NULs (len is authoritative) */
		struct { uint8_t usage, selector, mtype; unsigned char *data; size_t len; } tlsa;
		struct { unsigned char *data; size_t len; } raw;	/* any other type: uncompressed
									 * RDATA (RFC 3597), NUL after len */
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
 * *error_r set if cfg is unusable (no server, bad address, timeout or attempts < 1, udp_size
 * outside 512..MG_DNS_UDP_MAX and not 0). cfg is copied. Its ev_async watcher stays active
 * (it counts for ev_run), so owners end their loop with ev_break or by freeing the resolver.
 * UDP goes out from a pool of connect()ed sockets per server (4), each with a kernel-chosen
 * random source port and replaced after 100 queries or 10 s; every attempt gets a random id from
 * getrandom(), distinct among the queries in flight on its socket. Spoofing resistance (RFC 5452):
 * an off-path attacker must still guess the 16-bit id and the source port (random per socket,
 * ~2^15 choices) and match the question, and the connected socket takes datagrams from the
 * server's address only; reuse only lets one port serve at most 100 queries, which RFC 5452 §9.2
 * allows, against a fresh socket, connect and close per query (~15 % of the filter's CPU when
 * measured). Answers are matched by id and question (mg_dns_parse_reply), never by arrival.
 * dnssec_ok also sets the AD bit (RFC 6840 §5.7) and implies EDNS0 (512 if
 * udp_size is 0). Attempt k goes to server k % n_servers; SERVFAIL, REFUSED, FORMERR, NOTIMP
 * or an undecodable answer move on to a server not yet asked, silence waits for timeout_ms. */
struct mg_dns *mg_dns_new(struct ev_loop *loop, const struct mg_dns_config *cfg, const char **error_r);
/* Frees the resolver and NULLs *d; safe with queries pending: loop callers' callbacks do not
 * run, workers blocked in mg_dns_query_wait wake with TEMPFAIL "resolver closed". Loop thread
 * only, not from inside a worker; no thread may enter mg_dns_query_wait once this starts (stop
 * or join the pool first). A NULL *d is a no-op. */
void mg_dns_free(struct mg_dns **d);
/* Starts a query; cb runs later on the loop (never inside this call), exactly once, unless the
 * query is cancelled first. deadline_ms (mg_dns_now_ms clock, 0 = cfg timeouts only) bounds the
 * whole query including retries and TCP fallback. Loop thread only. Never NULL: an invalid name
 * or a spent deadline is answered (PERMFAIL "invalid name", TEMPFAIL "deadline") through cb
 * too, without a packet. The handle is valid until cb starts; cb may start, cancel or free
 * anything, the resolver included. TEMPFAIL errors: "timeout", "deadline", "servfail",
 * "truncated" (TC over TCP), "connection refused", "network error", "resolver closed". */
struct mg_dns_query *mg_dns_query(struct mg_dns *d, const char *name, uint16_t type,
    long long deadline_ms, mg_dns_cb *cb, void *arg);
/* Cancels a pending query (its callback will not run) and NULLs *q. Harmless on NULL and on the
 * query whose callback is running. Loop thread only. */
void mg_dns_cancel(struct mg_dns_query **q);
/* The thread bridge: called from a worker thread (never the loop thread: that panics, it would
 * deadlock), hands the query to the loop (mutex-protected inbox + ev_async_send) and blocks on a
 * condition variable until the answer or deadline_ms (0 = the worst case of the config). Returns
 * the result, the caller's (never NULL; TEMPFAIL "deadline" when the wait ran out: a late answer
 * is dropped by the loop, the request being refcounted). Invalid names fail at once. */
struct mg_dns_result *mg_dns_query_wait(struct mg_dns *d, const char *name, uint16_t type,
    long long deadline_ms);
/* The same lookup resolved on the calling worker thread itself (never the loop thread: that
 * panics): the thread's own connect()ed UDP socket per server (reused for up to 100 queries or
 * 10 s, closed when the thread ends), a random id per attempt, the same attempt, rotation, TC ->
 * TCP and answer-matching rules as the loop's queries, all bounded by deadline_ms (0 = the
 * config's worst case). It saves the two thread hand-offs per query of mg_dns_query_wait (the
 * filter's pool threads make ~4 queries per message); unlike it, mg_dns_free cannot wake a
 * thread inside, so the owner stops its workers before freeing d (as it must anyway). */
struct mg_dns_result *mg_dns_query_direct(struct mg_dns *d, const char *name, uint16_t type,
    long long deadline_ms);
/* Blocking lookup on a private loop, for tools and tests. Never NULL (an unusable cfg gives
 * TEMPFAIL "no usable resolver"). Any thread. */
struct mg_dns_result *mg_dns_lookup_blocking(const struct mg_dns_config *cfg, const char *name,
    uint16_t type);
/* Ready-made struct mg_dns_lookup functions. mg_dns_lookup_fn_blocking: ctx is a
 * const struct mg_dns_config * (tools, tests; any thread). mg_dns_lookup_fn_wait: ctx is a
 * struct mg_dns_wait_ctx (filter pool threads; never the loop thread): each lookup waits through
 * mg_dns_query_wait until the shared deadline, so one deadline bounds a whole message's DNS. */
struct mg_dns_wait_ctx {
	struct mg_dns *d;	/* borrowed */
	long long deadline_ms;	/* mg_dns_now_ms clock, 0 = the config's worst case per lookup */
};
struct mg_dns_result *mg_dns_lookup_fn_blocking(void *ctx, const char *name, uint16_t type);
struct mg_dns_result *mg_dns_lookup_fn_wait(void *ctx, const char *name, uint16_t type);
/* Like mg_dns_lookup_fn_wait (same ctx), through mg_dns_query_direct. */
struct mg_dns_result *mg_dns_lookup_fn_direct(void *ctx, const char *name, uint16_t type);
/* Frees a result and its records, NULLs *r; NULL or *r NULL is a no-op. Any thread. */
void mg_dns_result_free(struct mg_dns_result **r);
/* A result with no records and the given status (for lookups refused before any query, e.g. an
 * invalid name, and for unit-test tables). */
struct mg_dns_result *mg_dns_result_new(const char *qname, uint16_t qtype, enum mg_dns_status st,
    const char *error);

/* Decodes one wire response (untrusted, fuzzed): checks id, QR, the question against
 * (qname, qtype), follows CNAMEs from qname inside the answer, keeps at most MG_DNS_RR_MAX
 * records of qtype. Returns 0 with *res_r set, or -1 with *error_r (static) if the message is
 * malformed or does not answer the question; a TC response returns 1 (retry over TCP).
 * Status from the RCODE: NOERROR -> OK or NODATA; NXDOMAIN; SERVFAIL and unknown RCODEs ->
 * TEMPFAIL; FORMERR, NOTIMP, REFUSED -> PERMFAIL. A well-formed answer whose records are
 * unusable (CNAME loop, chain longer than MG_DNS_CNAME_MAX, a TXT record over MG_DNS_TXT_MAX,
 * bad RDATA) returns 0 with a PERMFAIL result. Any thread; *res_r is the caller's. */
int mg_dns_parse_response(const unsigned char *wire, size_t len, uint16_t id, const char *qname,
    uint16_t qtype, struct mg_dns_result **res_r, const char **error_r);
/* mg_dns_parse_response plus *foreign_r (may be NULL): 1 when -1 means the message is not an
 * answer to this query at all (shorter than a header, other id, QR clear, other opcode or
 * question). The resolver drops those and keeps listening (RFC 5452 §9.1); any other -1
 * (a message with our id that ldns cannot decode) ends the attempt as "malformed answer". */
int mg_dns_parse_reply(const unsigned char *wire, size_t len, uint16_t id, const char *qname,
    uint16_t qtype, struct mg_dns_result **res_r, int *foreign_r, const char **error_r);
/* Validates a name to query: non-empty, not the root, at most MG_DNS_NAME_MAX characters without
 * the final dot, no empty label, labels of at most 63 octets, decodable by ldns (\. and \DDD
 * escapes allowed). On success copies it lowercased and without the final dot into out (if not
 * NULL) and returns 0; else -1 with *error_r = "invalid name". Any thread. */
int mg_dns_name_check(const char *name, char *out, size_t outsize, const char **error_r);

/* The name to query for addr in an IP-keyed zone (RBL/DNSWL, RFC 5782 §2.1/§2.4): reversed
 * octets (IPv4) or nibbles (IPv6) followed by zone. Returns 0, -1 if out is too small. */
int mg_dns_reverse_name(const struct sockaddr *addr, const char *zone, char *out, size_t outsize);
/* "ok", "nodata", "nxdomain", "tempfail", "permfail". */
const char *mg_dns_status_name(enum mg_dns_status st);

#endif
