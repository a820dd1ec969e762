#ifndef DELIVERY_DELIVERY_INT_H
#define DELIVERY_DELIVERY_INT_H
/* Internal to delivery/: destinations (host:port) with their job queues and connection pools,
 * and the SMTP client connections that carry jobs. Delivery role, main thread only. */
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/envelope.h"
#include "delivery/smtp_reply.h"
#include "lib/evconn.h"

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
	struct djob *next;
};

struct client;

struct dest {
	char key[300];
	char host[256];
	int port;
	int mx;
	/* addresses in preference order (resolve.c); connections use addrs[cur_addr] and move on
	 * to the next when a connection to it fails */
#define DEST_ADDR_MAX 8
	struct sockaddr_storage addrs[DEST_ADDR_MAX];
	socklen_t addrlens[DEST_ADDR_MAX];
	int addr_prefs[DEST_ADDR_MAX];
	int n_addrs, cur_addr;
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
	char dead_reason[600];
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
	char tlsdesc[128];
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

/* resolve.c */
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
