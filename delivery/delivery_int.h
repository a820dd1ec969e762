#ifndef DELIVERY_DELIVERY_INT_H
#define DELIVERY_DELIVERY_INT_H
/* Internal to delivery/: destinations (host:port) with their job queues and connection pools,
 * and the SMTP client connections that carry jobs. Delivery role, main thread only. */
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/envelope.h"
#include "config/config.h"
#include "delivery/smtp_reply.h"
#include "lib/evconn.h"
#include "lib/ipc.h"

struct djob {
	uint32_t id;
	char qid[QUEUE_ID_LEN + 1];
	struct envelope env;
	int body_fd;
	uint32_t n;
	uint32_t *idx;		/* recipient indexes in env */
	int *state;		/* per job recipient: -1 unknown, else enum envelope_rcpt_state */
	char **status, **diag;
	int tls_retry_plain;	/* retried once without TLS after a handshake failure */
	double started;		/* ev_now at IPC_DELIVER (delivery_seconds metric) */
	struct djob *next;
};

struct client;

/* How strongly a connection must use TLS (from the sender domain's tls_policy, the MX host's
 * TLSA records and the recipient domain's MTA-STS policy). */
enum tls_req {
	TREQ_LEGACY = 0,	/* inbound relay to a domain's transport: opportunistic, as before */
	TREQ_NONE,		/* tls_policy none: never STARTTLS */
	TREQ_MAY,		/* opportunistic, plaintext fallback after a failed handshake */
	TREQ_ENCRYPT,		/* TLS 1.2+ required, certificate not checked */
	TREQ_VERIFY,		/* TLS required, WebPKI certificate valid for the MX host (MTA-STS) */
	TREQ_DANE,		/* TLS required, authenticated by the MX host's TLSA records */
};

/* One usable TLSA record (RFC 6698 §2.1) of an MX host. */
#define DEST_TLSA_MAX 8
struct dtlsa {
	uint8_t usage, selector, mtype;
	unsigned char *data;
	size_t len;
};

enum mx_tlsa_state {
	MXT_NONE = 0,		/* not looked up, insecure, or no records: no DANE for this host */
	MXT_USABLE,		/* secure TLSA RRset with usable DANE-TA(2)/DANE-EE(3) records */
	MXT_UNUSABLE,		/* secure RRset, no usable record: TLS without authentication
				 * (RFC 7672 §2.2) */
	MXT_FAIL,		/* lookup failed (SERVFAIL, bogus): the host must not be used */
};

struct mxhost {
	char name[256];		/* lowercase, no final dot */
	int pref;
	int insecure_addr;	/* an address answer came without AD */
	enum mx_tlsa_state tlsa_state;
	struct dtlsa tlsa[DEST_TLSA_MAX];
	int n_tlsa;
	char tlsa_text[600];	/* the records in presentation form, '\n'-separated (TLS-RPT) */
};

struct dest {
	char key[700];		/* host:port:mx plus the policy parameters (delivery.c dest_get) */
	char host[256];
	int port;
	int mx;
	/* addresses in preference order (resolve.c); connections use addrs[cur_addr] and move on
	 * to the next when a connection to it fails */
#define DEST_ADDR_MAX 8
	struct sockaddr_storage addrs[DEST_ADDR_MAX];
	socklen_t addrlens[DEST_ADDR_MAX];
	int addr_prefs[DEST_ADDR_MAX];
	int addr_mx[DEST_ADDR_MAX];	/* index into mxh (-1: static transport) */
	int n_addrs, cur_addr;
#define DEST_MX_MAX 4
	struct mxhost mxh[DEST_MX_MAX];	/* MX hosts (or the implicit MX) of the last lookup */
	int n_mxh;
	int mx_secure;		/* the MX RRset (or its denial) was DNSSEC-validated */
	/* policy parameters shared by every job of this destination (part of the key) */
	int outbound;		/* MX delivery of outbound mail: the sender domain's settings apply */
	int tlsrpt_msg;		/* carries TLS-RPT reports (envelope tlsrpt): opportunistic TLS, no
				 * policy, no TLS-RPT results (RFC 8460 §5.3) */
	enum mg_tls_policy tls_policy;	/* of the sender domain (outbound only) */
	char **src_ips;		/* local addresses to bind (outbound_ips), may be empty */
	size_t n_src;
	unsigned src_next;	/* round robin */
	int permfail;		/* the last lookup failed for good (null MX, NXDOMAIN) */
	char perm_status[16];
	struct sts_ref *sts;	/* MTA-STS cache entry of the recipient domain (sts.c), NULL if unused */
	int sts_waiting;	/* waiting for the MTA-STS policy before connecting */
	char rua[512];		/* TLS-RPT rua of the recipient domain (_smtp._tls TXT), "" = none */
	double rua_expires;	/* cached until (record TTL) */
	int resolving;		/* DNS lookups outstanding (pending of them) */
	int pending;
	int resolve_tempfail;
	double resolved_at;
	struct djob *head, *tail;
	int n_queued;
	int n_conns;
	int limit;		/* current concurrency (slow start) */
	int n_closing;		/* connections closing because they were over the limit */
	double dead_until;	/* connect failures: fail new jobs fast until then */
	int fail_streak;	/* consecutive times the destination went dead (backoff) */
	char dead_reason[600];
	char dead_status[8];	/* status for jobs failed while dead ("" = 4.4.1) */
	double no_tls_until;	/* TLS handshake failed: plaintext for a while */
	struct client *idle;	/* idle connections (linked by client->next_idle) */
	struct dest *next;
};

enum client_state {
	CS_CONNECT, CS_BANNER, CS_EHLO, CS_HELO, CS_STARTTLS, CS_TLS, CS_READY, CS_TX, CS_BODY,
	CS_DOT, CS_RSET, CS_QUIT,
};

struct client {
	struct dest *dest;
	struct evconn *conn;
	enum client_state state;
	unsigned caps;
	unsigned long long size_limit;
	int tls;
	int esmtp;
	char peer[300];		/* host[addr]:port for logs and results */
	char tlsdesc[160];
	int addr_idx;		/* index into dest->addrs of this connection */
	enum tls_req treq;
	char src[64];		/* bound local address ("" = the system's choice) */
	char helo[256];		/* EHLO name used */
	char mxname[256];	/* MX host name (TLSA base domain, name to verify) */
	int tls_reported;	/* TLS-RPT result sent for this connection */
	int sts_testing;	/* MTA-STS policy in testing mode: check the certificate, report,
				 * deliver anyway (RFC 8461 §5) */
	struct djob *job;
	uint32_t replies_expected;	/* in CS_TX: MAIL + n RCPT + DATA */
	uint32_t replies_got;
	uint32_t rcpt_sent;	/* without PIPELINING: commands sent so far */
	uint32_t accepted;
	int mail_ok;
	/* body streaming */
	off_t body_off;
	int body_line_start;
	int body_prev_cr;
	int body_eof;
	int jobs_done;
	int over_limit;		/* closing because the destination has too many connections */
	struct client *next_idle;
	struct client *all_prev, *all_next;	/* every connection (client.c), for shutdown */
	int *alive;		/* cleared by client_free during a callback */
	ev_timer idle_timer;
};

/* delivery.c */
void delivery_job_done(struct djob *j, const char *relay, const char *tls);
void delivery_client_idle(struct client *c);
void delivery_client_gone(struct client *c, int connect_failed, const char *why);
void delivery_dest_tls_failed(struct dest *d);
struct djob *delivery_dest_next_job(struct dest *d);
void delivery_requeue(struct djob *j, struct dest *d);

/* client.c */
struct client *client_new(struct dest *d);
void client_start_job(struct client *c, struct djob *j);
void client_quit(struct client *c);
void client_free(struct client *c);
/* Ends every connection now, reporting the open recipients of their jobs as deferred with
 * status and why (shutdown after the grace period). */
void client_abort_all(const char *status, const char *why);
/* Sets every unresolved recipient of j to state with status/diag. */
void djob_fail_rest(struct djob *j, int state, const char *status, const char *diag);

/* policy.c */
/* 1 if a TLSA record with these fields is usable for SMTP (RFC 7672 §3.1.3). Pure. */
int policy_tlsa_usable(unsigned usage, unsigned selector, unsigned mtype, size_t len);
/* Enables DANE on ssl for base (the MX host) with the n records t (DANE-EE without name
 * checks). Returns 0, or -1 if none could be added. */
int policy_dane_setup(SSL *ssl, const char *base, const struct dtlsa *t, int n);
/* 1 when DANE (RFC 7672) governs connections of d to address index i: tls_policy dane, a
 * secure MX RRset, secure addresses and a secure TLSA RRset (usable or not); then MTA-STS
 * does not apply to that host (RFC 8461 §2). */
int policy_dane_applies(const struct dest *d, int i);
/* The TLS requirement for a connection of d to address index i. */
enum tls_req policy_tls_req(const struct dest *d, int i);
/* Prepares the SSL of c (after evconn_start_tls) for its requirement: DANE TLSA records, host
 * name checks. Returns 0 or -1. */
int policy_tls_setup(struct client *c, SSL *ssl);
/* After the handshake: 0 if the session satisfies c->treq (c->tlsdesc set), else -1 with a
 * reason in why and the TLS-RPT result type in *rpt_type_r; 1 when only an MTA-STS policy in
 * testing mode failed (why and *rpt_type_r set, the session goes on). */
int policy_tls_check(struct client *c, SSL *ssl, char *why, size_t whysize, const char **rpt_type_r);
/* The EHLO name for a connection bound to src ("" = not bound). */
const char *policy_helo_name(const char *src);
/* Picks the local address for a connection of d to family fam; "" when d has none; -1 when d
 * has source addresses but none of that family. */
int policy_pick_source(struct dest *d, int fam, char *out, size_t outsize);
/* Sends one TLS-RPT result for c (no-op for inbound relays; once per connection). */
void policy_tlsrpt(struct client *c, int success, const char *type, const char *reason);

/* delivery.c */
/* The MX host name of address i of d (the transport host for static destinations). */
const char *delivery_mx_name(const struct dest *d, int i);
/* Sends a message to the queue role (TLS-RPT results). */
void delivery_send_queue(uint16_t type, struct ipc_out *o);
/* Sends an answer with request id to the queue role (TLS-RPT report POST results). */
void delivery_reply_queue(uint16_t type, uint32_t id, struct ipc_out *o);
/* "192.0.2.1" / "2001:db8::1" of a socket address. */
void delivery_addr_text(const struct sockaddr_storage *ss, char *out, size_t size);
/* The local address of c's connection ("" if unknown). */
void delivery_local_addr(struct client *c, char *out, size_t size);

/* resolve.c */
struct mg_dns *delivery_dns(void);
void delivery_resolver_init(void);
void delivery_resolver_free(void);
/* Addresses of d: 0 ready (d->addrs), 1 being looked up (delivery_dest_pump follows), -1 failed
 * (why set). */
int delivery_dest_resolve(struct dest *d, char *why, size_t whysize);
/* delivery.c */
void delivery_dest_pump(struct dest *d);
/* Fails d's queued jobs and refuses new ones for a while (d->dead_reason says why). */
void delivery_dest_dead(struct dest *d);

#endif
