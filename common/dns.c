/* The asynchronous stub resolver of the DNS façade (common/dns.h): queries the configured
 * recursive resolvers over UDP from a small pool of connect()ed sockets per server, each
 * replaced after a bounded number of queries or seconds (kernel-chosen source port, random 16-bit
 * id, RD, EDNS0 with the configured size and DO bit), falls back to TCP on TC,
 * rotates servers per attempt and bounds every attempt and the whole query by timers. Runs on
 * the libev loop thread that owns the struct mg_dns; mg_dns_query_wait is the one entry for worker
 * threads (a mutex-protected inbox + ev_async, answers through a refcounted per-request rendezvous
 * so a worker that gave up never meets freed memory). Answers are untrusted: decoding and all
 * their limits live in dns_parse.c; datagrams that do not belong to the query are dropped. */
#include "common/dns.h"
#include "common/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

#define DNS_UDP_READS_MAX 16	/* datagrams read per wakeup before yielding to the loop */
/* UDP socket reuse (see dns.h): sockets per server, and how long one source port serves. */
#define DNS_SOCKS_PER_SERVER 4
#define DNS_SOCK_USES_MAX 100	/* queries sent from one socket */
#define DNS_SOCK_AGE_MS 10000	/* ms a socket takes new queries after it was opened */
#define DNS_ID_DRAWS_MAX 16	/* redraws of an id already in flight on the same socket */

struct dns_server {
	struct sockaddr_storage sa;
	socklen_t len;
};

struct dns_bridge;
struct mg_dns_query;

/* A connect()ed UDP socket shared by the queries sent to one server (loop thread only). */
struct dns_sock {
	struct mg_dns *d;		/* borrowed */
	int fd;
	unsigned uses;			/* queries sent from it */
	long long born;			/* mg_dns_now_ms at socket() */
	int retired;			/* no new queries; closed when the last one detaches */
	int slot_srv, slot;		/* its place in mg_dns.socks while not retired */
	size_t refs;			/* queries waiting on it */
	struct mg_dns_query *waiters;	/* linked by snext */
	ev_io io;			/* active while refs > 0 */
};

struct mg_dns {
	struct ev_loop *loop;		/* borrowed: the owner's loop */
	struct mg_dns_config cfg;
	struct dns_server srv[MG_DNS_SERVERS_MAX];
	int n_srv;
	struct mg_dns_query *queries;	/* pending, loop thread only */
	pthread_t loop_thread;
	uint64_t serial;		/* unique per resolver: workers' sockets belong to one */
	struct dns_sock *socks[MG_DNS_SERVERS_MAX][DNS_SOCKS_PER_SERVER];	/* loop thread only */
	unsigned sock_rr[MG_DNS_SERVERS_MAX];
	unsigned char rbuf[65536];	/* UDP receive buffer, loop thread only */
	/* thread bridge */
	pthread_mutex_t mu;
	struct dns_bridge *inbox;	/* under mu */
	int closing;			/* under mu */
	ev_async wake;
};

enum dns_qstate { QS_START, QS_UDP, QS_TCP_CONNECT, QS_TCP_WRITE, QS_TCP_READ };

struct mg_dns_query {
	struct mg_dns *d;		/* borrowed */
	struct mg_dns_query *prev, *next;
	char name[MG_DNS_NAME_MAX + 1];
	uint16_t type;
	long long deadline;		/* mg_dns_now_ms clock, 0 = none */
	int attempt, max_attempts;
	int srv;
	uint16_t id;
	unsigned char *wire;		/* 2-octet TCP length + the query message */
	size_t wire_len;		/* of the message, without the length prefix */
	int fd;				/* TCP only */
	struct dns_sock *sock;		/* UDP: the socket the attempt waits on */
	struct mg_dns_query *snext;	/* in sock->waiters */
	const char *sock_error;		/* the shared socket failed: reported by the timer */
	enum dns_qstate state;
	ev_io io;
	ev_timer timer;
	unsigned char *tcp_buf;		/* 2 + MG_DNS_TCP_MAX, TCP only */
	size_t tcp_off;			/* octets written (connect/write) or read (read) */
	struct mg_dns_result *held;	/* immediate result, or a soft answer kept while trying
					 * the other servers */
	const char *last_error;
	int in_callback;
	int is_bridge;
	long long started;		/* mg_dns_now_ms at mg_dns_query (latency metric) */
	mg_dns_cb *cb;
	void *arg;
};

/* One mg_dns_query_wait call: shared by the worker and the loop, freed by the last of them. */
struct dns_bridge {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;			/* under mu */
	int done, abandoned;		/* under mu */
	struct mg_dns_result *res;	/* under mu */
	char name[MG_DNS_NAME_MAX + 1];
	uint16_t type;
	long long deadline;
	struct dns_bridge *next;	/* inbox link, under mg_dns.mu */
};

static void query_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void sock_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void query_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void next_attempt(struct mg_dns_query *q);

long long
mg_dns_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:5353" */
static int
parse_server(const char *s, struct dns_server *out)
{
	char host[64];
	const char *port = NULL, *err;
	long long p = 53;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&out->sa;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->sa;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || (size_t)(end - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return -1;
	} else {
		const char *colon = strchr(s, ':');
		if (str_lcpy(host, s, sizeof(host)) >= sizeof(host))
			return -1;
		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			host[colon - s] = '\0';	/* one colon: IPv4 with a port */
			port = colon + 1;
		}
	}
	if (port != NULL && strnum_ll(port, 1, 65535, &p, &err) < 0)
		return -1;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)p);
		out->len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		out->len = sizeof(*in6);
		return 0;
	}
	return -1;
}

static int
check_config(const struct mg_dns_config *cfg, struct dns_server *srv, const char **error_r)
{
	if (cfg->n_servers < 1 || cfg->n_servers > MG_DNS_SERVERS_MAX) {
		*error_r = "no DNS server configured";
		return -1;
	}
	for (int i = 0; i < cfg->n_servers; i++) {
		if (parse_server(cfg->servers[i], &srv[i]) < 0) {
			*error_r = "bad DNS server address";
			return -1;
		}
	}
	if (cfg->timeout_ms < 1 || cfg->attempts < 1) {
		*error_r = "DNS timeout and attempts must be positive";
		return -1;
	}
	if (cfg->udp_size != 0 && (cfg->udp_size < 512 || cfg->udp_size > MG_DNS_UDP_MAX)) {
		*error_r = "DNS UDP size out of range (512..4096, or 0)";
		return -1;
	}
	return 0;
}

static void
wake_cb(struct ev_loop *loop, ev_async *w, int revents);

static uint64_t dns_serial;	/* atomic */

struct mg_dns *
mg_dns_new(struct ev_loop *loop, const struct mg_dns_config *cfg, const char **error_r)
{
	struct mg_dns *d = xcalloc(1, sizeof(*d));

	if (check_config(cfg, d->srv, error_r) < 0) {
		xfree(d);
		return NULL;
	}
	d->loop = loop;
	d->cfg = *cfg;
	d->n_srv = cfg->n_servers;
	d->loop_thread = pthread_self();
	d->serial = __atomic_add_fetch(&dns_serial, 1, __ATOMIC_RELAXED);
	pthread_mutex_init(&d->mu, NULL);
	ev_async_init(&d->wake, wake_cb);
	d->wake.data = d;
	ev_async_start(loop, &d->wake);
	return d;
}

/* ---- shared UDP sockets --------------------------------------------------------------------- */

static void
sock_close(struct dns_sock *s)
{
	ev_io_stop(s->d->loop, &s->io);
	close(s->fd);
	xfree(s);
}

/* Takes s out of service; it closes once no query waits on it. */
static void
sock_retire(struct dns_sock *s)
{
	if (s->retired)
		return;
	s->retired = 1;
	s->d->socks[s->slot_srv][s->slot] = NULL;
	if (s->refs == 0)
		sock_close(s);
}

/* A socket for server srv: round robin over the pool, a fresh one (kernel-chosen port) in place
 * of one that served DNS_SOCK_USES_MAX queries or DNS_SOCK_AGE_MS. NULL with errno on failure. */
static struct dns_sock *
sock_get(struct mg_dns *d, int srv)
{
	unsigned slot = d->sock_rr[srv]++ % DNS_SOCKS_PER_SERVER;
	struct dns_sock *s = d->socks[srv][slot];
	const struct dns_server *sv = &d->srv[srv];
	int fd;

	if (s != NULL && (s->uses >= DNS_SOCK_USES_MAX ||
	    mg_dns_now_ms() - s->born >= DNS_SOCK_AGE_MS)) {
		sock_retire(s);
		s = NULL;
	}
	if (s != NULL)
		return s;
	fd = socket(sv->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	/* connect(): the kernel picks a random source port and drops datagrams from anyone but
	 * the server; ICMP errors surface as ECONNREFUSED. */
	if (connect(fd, (const struct sockaddr *)&sv->sa, sv->len) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->d = d;
	s->fd = fd;
	s->born = mg_dns_now_ms();
	s->slot_srv = srv;
	s->slot = (int)slot;
	ev_io_init(&s->io, sock_io_cb, fd, EV_READ);
	s->io.data = s;
	d->socks[srv][slot] = s;
	return s;
}

static void
sock_attach(struct dns_sock *s, struct mg_dns_query *q)
{
	q->sock = s;
	q->snext = s->waiters;
	s->waiters = q;
	if (s->refs++ == 0)
		ev_io_start(s->d->loop, &s->io);
}

static void
sock_detach(struct mg_dns_query *q)
{
	struct dns_sock *s = q->sock;
	struct mg_dns_query **pp;

	if (s == NULL)
		return;
	q->sock = NULL;
	for (pp = &s->waiters; *pp != NULL; pp = &(*pp)->snext)
		if (*pp == q) {
			*pp = q->snext;
			break;
		}
	q->snext = NULL;
	if (--s->refs == 0) {
		ev_io_stop(s->d->loop, &s->io);
		if (s->retired)
			sock_close(s);
	}
}

static int
sock_id_in_use(const struct dns_sock *s, uint16_t id)
{
	for (const struct mg_dns_query *w = s->waiters; w != NULL; w = w->snext)
		if (w->id == id)
			return 1;
	return 0;
}

/* ---- one query on the loop ---------------------------------------------------------------- */

static void
close_transport(struct mg_dns_query *q)
{
	ev_io_stop(q->d->loop, &q->io);
	ev_timer_stop(q->d->loop, &q->timer);
	sock_detach(q);
	if (q->fd >= 0) {
		close(q->fd);
		q->fd = -1;
	}
}

static void
query_unlink(struct mg_dns_query *q)
{
	if (q->prev != NULL)
		q->prev->next = q->next;
	else if (q->d->queries == q)
		q->d->queries = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
}

static void
query_free(struct mg_dns_query *q)
{
	mg_dns_result_free(&q->held);
	xfree(q->wire);
	xfree(q->tcp_buf);
	xfree(q);
}

/* Ends the query: res goes to the callback, which may start, cancel or free anything,
 * including the resolver (q is already detached from it). */
static void
deliver(struct mg_dns_query *q, struct mg_dns_result *res)
{
	close_transport(q);
	query_unlink(q);
	if (q->held == res)
		q->held = NULL;
	metrics_observe_dns((double)(mg_dns_now_ms() - q->started) / 1000.0);
	q->in_callback = 1;
	q->cb(res, q->arg);
	query_free(q);
}

static void
deliver_status(struct mg_dns_query *q, enum mg_dns_status st, const char *error)
{
	deliver(q, mg_dns_result_new(q->name, q->type, st, error));
}

/* Milliseconds left before the deadline (INT32_MAX-ish when none), <= 0 when spent. */
static long long
remaining_ms(const struct mg_dns_query *q)
{
	if (q->deadline == 0)
		return 1LL << 30;
	return q->deadline - mg_dns_now_ms();
}

/* Arms the attempt timer for min(timeout_ms, time left). */
static void
arm_timer(struct mg_dns_query *q)
{
	long long ms = q->d->cfg.timeout_ms, left = remaining_ms(q);

	if (left < ms)
		ms = left > 0 ? left : 0;
	ev_timer_stop(q->d->loop, &q->timer);
	ev_timer_set(&q->timer, (double)ms / 1000.0, 0.);
	ev_timer_start(q->d->loop, &q->timer);
}

static void
watch(struct mg_dns_query *q, int events)
{
	ev_io_stop(q->d->loop, &q->io);
	ev_io_set(&q->io, q->fd, events);
	ev_io_start(q->d->loop, &q->io);
}

/* Builds the query message with ldns: RD, EDNS0 (RFC 6891) with the DO bit (RFC 3225) and the
 * AD bit asking the validating resolver to report its verdict (RFC 6840 §5.7). */
static int
encode_query(const struct mg_dns_config *cfg, const char *qname, uint16_t qtype,
    unsigned char **wire_r, size_t *len_r)
{
	ldns_rdf *name = ldns_dname_new_frm_str(qname);
	ldns_pkt *pkt;
	ldns_buffer *b;
	int rc = -1;

	if (name == NULL)
		return -1;
	if ((pkt = ldns_pkt_query_new(name, (ldns_rr_type)qtype, LDNS_RR_CLASS_IN, LDNS_RD)) == NULL) {
		ldns_rdf_deep_free(name);
		return -1;
	}
	if (cfg->udp_size > 0 || cfg->dnssec_ok)
		ldns_pkt_set_edns_udp_size(pkt, (uint16_t)(cfg->udp_size > 0 ? cfg->udp_size : 512));
	if (cfg->dnssec_ok) {
		ldns_pkt_set_edns_do(pkt, 1);
		ldns_pkt_set_ad(pkt, 1);
	}
	if ((b = ldns_buffer_new(512)) != NULL) {
		if (ldns_pkt2buffer_wire(b, pkt) == LDNS_STATUS_OK &&
		    ldns_buffer_position(b) <= MG_DNS_TCP_MAX) {
			size_t len = ldns_buffer_position(b);
			unsigned char *w = xmalloc(len + 2);
			w[0] = (unsigned char)(len >> 8);
			w[1] = (unsigned char)len;
			memcpy(w + 2, ldns_buffer_begin(b), len);
			*wire_r = w;
			*len_r = len;
			rc = 0;
		}
		ldns_buffer_free(b);
	}
	ldns_pkt_free(pkt);
	return rc;
}

static int
build_wire(struct mg_dns_query *q)
{
	return encode_query(&q->d->cfg, q->name, q->type, &q->wire, &q->wire_len);
}

static void
new_id(struct mg_dns_query *q)
{
	uint16_t id;

	if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
		panic("dns: getrandom failed: %s", strerror(errno));
	/* ids stay distinct among the queries sharing a socket, so each answer has one owner */
	for (int k = 0; q->sock != NULL && k < DNS_ID_DRAWS_MAX && sock_id_in_use(q->sock, id); k++)
		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
			panic("dns: getrandom failed: %s", strerror(errno));
	q->id = id;
	q->wire[2] = (unsigned char)(id >> 8);
	q->wire[3] = (unsigned char)id;
}

/* The final answer of an attempt (not TC, not foreign). A soft failure (SERVFAIL, REFUSED, an
 * undecodable message...) moves on to a server not yet asked, as a stub resolver does; once
 * every server had its turn, the latest answer stands. */
static void
handle_answer(struct mg_dns_query *q, struct mg_dns_result *res)
{
	if (res->status == MG_DNS_TEMPFAIL || res->status == MG_DNS_PERMFAIL) {
		if (q->attempt + 1 < q->d->n_srv && q->attempt + 1 < q->max_attempts) {
			mg_dns_result_free(&q->held);
			q->held = res;
			q->last_error = res->error;
			close_transport(q);
			q->attempt++;
			next_attempt(q);
			return;
		}
	}
	deliver(q, res);
}

/* This attempt failed without an answer: try the next one. */
static void
attempt_failed(struct mg_dns_query *q, const char *why)
{
	q->last_error = why;
	close_transport(q);
	q->attempt++;
	next_attempt(q);
}

static const char *
errno_reason(int err)
{
	return err == ECONNREFUSED ? "connection refused" : "network error";
}

/* Starts attempt q->attempt over UDP (server attempt % n), skipping attempts that fail at once;
 * ends the query when attempts or time run out. */
static void
next_attempt(struct mg_dns_query *q)
{
	struct mg_dns *d = q->d;

	for (; q->attempt < q->max_attempts; q->attempt++) {
		struct dns_sock *s;

		if (remaining_ms(q) <= 0) {
			deliver_status(q, MG_DNS_TEMPFAIL, "deadline");
			return;
		}
		q->srv = q->attempt % d->n_srv;
		if ((s = sock_get(d, q->srv)) == NULL) {
			q->last_error = errno_reason(errno);
			continue;
		}
		q->sock = s;		/* for new_id's check; attached below */
		new_id(q);
		q->sock = NULL;
		if (send(s->fd, q->wire + 2, q->wire_len, 0) != (ssize_t)q->wire_len) {
			q->last_error = errno_reason(errno);
			sock_retire(s);	/* e.g. a pending ICMP error: take a fresh port */
			continue;
		}
		s->uses++;
		sock_attach(s, q);
		q->state = QS_UDP;
		arm_timer(q);
		return;
	}
	if (q->held != NULL)
		deliver(q, q->held);
	else
		deliver_status(q, MG_DNS_TEMPFAIL, q->last_error ? q->last_error : "timeout");
}

/* RFC 1035 §4.2.2 / RFC 7766: same server over TCP with its own timeout. */
static void
start_tcp(struct mg_dns_query *q)
{
	const struct dns_server *s = &q->d->srv[q->srv];

	close_transport(q);
	new_id(q);
	q->fd = socket(s->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (q->fd < 0) {
		attempt_failed(q, "network error");
		return;
	}
	if (connect(q->fd, (const struct sockaddr *)&s->sa, s->len) < 0 && errno != EINPROGRESS) {
		attempt_failed(q, errno_reason(errno));
		return;
	}
	q->state = QS_TCP_CONNECT;
	q->tcp_off = 0;
	watch(q, EV_WRITE);
	arm_timer(q);
}

/* The socket failed (an ICMP error): every query waiting on it ends its attempt from its own
 * timer, so no callback runs while the waiter list is walked. */
static void
sock_failed(struct dns_sock *s, const char *why)
{
	for (struct mg_dns_query *q = s->waiters; q != NULL; q = q->snext) {
		q->sock_error = why;
		ev_timer_stop(s->d->loop, &q->timer);
		ev_timer_set(&q->timer, 0., 0.);
		ev_timer_start(s->d->loop, &q->timer);
	}
	sock_retire(s);
}

/* Datagrams on a shared socket: each goes to the waiting query with its id, which checks it
 * fully (RFC 5452 §9.1: id, question; the connected socket already fixed the source). One
 * answer handled per call: its callback may free anything, the resolver included; a further
 * datagram wakes the (level-triggered) watcher again. */
static void
sock_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dns_sock *s = w->data;
	struct mg_dns *d = s->d;

	(void)loop;
	(void)revents;
	for (int i = 0; i < DNS_UDP_READS_MAX; i++) {
		struct mg_dns_result *res;
		struct mg_dns_query *q;
		const char *err;
		int foreign, rc;
		uint16_t id;
		ssize_t n = recv(s->fd, d->rbuf, sizeof(d->rbuf), 0);

		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				sock_failed(s, errno_reason(errno));
			return;
		}
		if (n < 12)
			continue;	/* shorter than a header: not an answer */
		id = (uint16_t)(d->rbuf[0] << 8 | d->rbuf[1]);
		for (q = s->waiters; q != NULL && q->id != id; q = q->snext)
			;
		if (q == NULL)
			continue;	/* stale (an abandoned attempt) or spoofed */
		rc = mg_dns_parse_reply(d->rbuf, (size_t)n, q->id, q->name, q->type, &res, &foreign,
		    &err);
		if (rc == 1) {
			start_tcp(q);
			return;
		}
		if (rc == 0) {
			handle_answer(q, res);
			return;
		}
		if (!foreign) {
			handle_answer(q, mg_dns_result_new(q->name, q->type, MG_DNS_PERMFAIL,
			    "malformed answer"));
			return;
		}
		/* our id, another question: not the answer; keep listening */
	}
}

static void
tcp_writable(struct mg_dns_query *q)
{
	if (q->state == QS_TCP_CONNECT) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err != 0) {
			attempt_failed(q, errno_reason(err));
			return;
		}
		q->state = QS_TCP_WRITE;
	}
	while (q->tcp_off < q->wire_len + 2) {
		ssize_t n = send(q->fd, q->wire + q->tcp_off, q->wire_len + 2 - q->tcp_off,
		    MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			attempt_failed(q, errno_reason(errno));
			return;
		}
		q->tcp_off += (size_t)n;
	}
	q->state = QS_TCP_READ;
	q->tcp_off = 0;
	if (q->tcp_buf == NULL)
		q->tcp_buf = xmalloc(2 + MG_DNS_TCP_MAX);
	watch(q, EV_READ);
}

static void
tcp_readable(struct mg_dns_query *q)
{
	struct mg_dns_result *res;
	const char *err;
	size_t want;
	int rc;

	for (;;) {
		want = q->tcp_off < 2 ? 2 : 2 + (size_t)(q->tcp_buf[0] << 8 | q->tcp_buf[1]);
		if (q->tcp_off >= 2 && want == 2) {
			attempt_failed(q, "malformed answer");	/* zero-length message */
			return;
		}
		if (q->tcp_off == want && want > 2)
			break;
		ssize_t n = recv(q->fd, q->tcp_buf + q->tcp_off, want - q->tcp_off, 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			attempt_failed(q, errno_reason(errno));
			return;
		}
		if (n == 0) {
			attempt_failed(q, "connection closed");
			return;
		}
		q->tcp_off += (size_t)n;
	}
	rc = mg_dns_parse_reply(q->tcp_buf + 2, want - 2, q->id, q->name, q->type, &res, NULL, &err);
	if (rc == 1)
		handle_answer(q, mg_dns_result_new(q->name, q->type, MG_DNS_TEMPFAIL, "truncated"));
	else if (rc == 0)
		handle_answer(q, res);
	else
		handle_answer(q, mg_dns_result_new(q->name, q->type, MG_DNS_PERMFAIL,
		    "malformed answer"));
}

static void
query_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct mg_dns_query *q = w->data;

	(void)loop;
	(void)revents;
	switch (q->state) {
	case QS_UDP:		/* answers arrive through sock_io_cb */
		break;
	case QS_TCP_CONNECT:
	case QS_TCP_WRITE:
		tcp_writable(q);
		break;
	case QS_TCP_READ:
		tcp_readable(q);
		break;
	case QS_START:
		break;
	}
}

static void
query_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct mg_dns_query *q = w->data;

	(void)loop;
	(void)revents;
	if (q->state == QS_START) {
		/* First turn of the loop after mg_dns_query(): answer a refused query, or send. */
		if (q->held != NULL)
			deliver(q, q->held);
		else
			next_attempt(q);
		return;
	}
	if (remaining_ms(q) <= 0) {
		deliver_status(q, MG_DNS_TEMPFAIL, "deadline");
		return;
	}
	if (q->sock_error != NULL) {
		const char *why = q->sock_error;
		q->sock_error = NULL;
		attempt_failed(q, why);
		return;
	}
	attempt_failed(q, "timeout");
}

struct mg_dns_query *
mg_dns_query(struct mg_dns *d, const char *name, uint16_t type, long long deadline_ms,
    mg_dns_cb *cb, void *arg)
{
	struct mg_dns_query *q = xcalloc(1, sizeof(*q));
	const char *err;

	q->d = d;
	q->type = type;
	q->started = mg_dns_now_ms();
	q->deadline = deadline_ms;
	q->fd = -1;
	q->cb = cb;
	q->arg = arg;
	q->max_attempts = d->n_srv * d->cfg.attempts;
	ev_io_init(&q->io, query_io_cb, -1, EV_READ);
	ev_timer_init(&q->timer, query_timer_cb, 0., 0.);
	q->io.data = q;
	q->timer.data = q;
	q->next = d->queries;
	if (d->queries != NULL)
		d->queries->prev = q;
	d->queries = q;
	if (mg_dns_name_check(name, q->name, sizeof(q->name), &err) < 0) {
		q->held = mg_dns_result_new(name, type, MG_DNS_PERMFAIL, err);
	} else if (build_wire(q) < 0) {
		q->held = mg_dns_result_new(name, type, MG_DNS_PERMFAIL, "invalid name");
	}
	/* Nothing is sent and no callback runs inside this call: the first attempt (or the
	 * refusal of an invalid name) happens on the loop's next turn. */
	q->state = QS_START;
	ev_timer_start(d->loop, &q->timer);
	return q;
}

void
mg_dns_cancel(struct mg_dns_query **qp)
{
	struct mg_dns_query *q = *qp;

	*qp = NULL;
	if (q == NULL || q->in_callback)
		return;		/* inside its own callback: deliver() frees it afterwards */
	close_transport(q);
	query_unlink(q);
	query_free(q);
}

/* ---- the thread bridge --------------------------------------------------------------------- */

/* Drops one reference; the last one frees the rendezvous and any unclaimed result. */
static void
bridge_release(struct dns_bridge *b)
{
	int last;

	pthread_mutex_lock(&b->mu);
	last = --b->refs == 0;
	pthread_mutex_unlock(&b->mu);
	if (!last)
		return;
	mg_dns_result_free(&b->res);
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	xfree(b);
}

/* Loop side: the query's answer, handed to the waiting worker unless it gave up. */
static void
bridge_done(struct mg_dns_result *res, void *arg)
{
	struct dns_bridge *b = arg;

	pthread_mutex_lock(&b->mu);
	if (!b->abandoned && !b->done) {
		b->res = res;
		res = NULL;
		b->done = 1;
		pthread_cond_signal(&b->cv);
	}
	pthread_mutex_unlock(&b->mu);
	mg_dns_result_free(&res);
	bridge_release(b);
}

static void
wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct mg_dns *d = w->data;
	struct dns_bridge *list, *b;

	(void)revents;
	pthread_mutex_lock(&d->mu);
	list = d->inbox;
	d->inbox = NULL;
	pthread_mutex_unlock(&d->mu);
	/* The inbox is LIFO; order between independent workers does not matter. */
	while ((b = list) != NULL) {
		int abandoned;
		struct mg_dns_query *q;

		list = b->next;
		pthread_mutex_lock(&b->mu);
		abandoned = b->abandoned;
		pthread_mutex_unlock(&b->mu);
		if (abandoned) {
			bridge_release(b);
			continue;
		}
		q = mg_dns_query(d, b->name, b->type, b->deadline, bridge_done, b);
		q->is_bridge = 1;
		if (q->held == NULL) {
			/* Already on the loop and outside any caller: send now rather than on the
			 * next turn (bridge_done is safe to run from here). */
			ev_timer_stop(loop, &q->timer);
			next_attempt(q);
		}
	}
}

/* Worst case of one query without a deadline: every attempt times out, half of them after
 * a TCP fallback, plus slack. */
static long long
default_deadline(const struct mg_dns *d)
{
	return mg_dns_now_ms() + 2LL * d->n_srv * d->cfg.attempts * d->cfg.timeout_ms + 1000;
}

struct mg_dns_result *
mg_dns_query_wait(struct mg_dns *d, const char *name, uint16_t type, long long deadline_ms)
{
	struct dns_bridge *b;
	struct mg_dns_result *res;
	struct timespec ts;
	const char *err;
	char norm[MG_DNS_NAME_MAX + 1];

	if (pthread_equal(pthread_self(), d->loop_thread))
		panic("dns: mg_dns_query_wait called on the loop thread (would deadlock)");
	if (mg_dns_name_check(name, norm, sizeof(norm), &err) < 0)
		return mg_dns_result_new(name, type, MG_DNS_PERMFAIL, err);
	if (deadline_ms == 0)
		deadline_ms = default_deadline(d);
	if (deadline_ms <= mg_dns_now_ms())
		return mg_dns_result_new(name, type, MG_DNS_TEMPFAIL, "deadline");

	b = xcalloc(1, sizeof(*b));
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&b->mu, NULL);
	b->refs = 2;
	str_lcpy(b->name, norm, sizeof(b->name));
	b->type = type;
	b->deadline = deadline_ms;

	pthread_mutex_lock(&d->mu);
	if (d->closing) {
		pthread_mutex_unlock(&d->mu);
		b->refs = 1;
		bridge_release(b);
		return mg_dns_result_new(name, type, MG_DNS_TEMPFAIL, "resolver closed");
	}
	b->next = d->inbox;
	d->inbox = b;
	ev_async_send(d->loop, &d->wake);	/* under mu: mg_dns_free cannot stop it meanwhile */
	pthread_mutex_unlock(&d->mu);

	ts.tv_sec = (time_t)(deadline_ms / 1000);
	ts.tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
	pthread_mutex_lock(&b->mu);
	while (!b->done) {
		if (pthread_cond_timedwait(&b->cv, &b->mu, &ts) == ETIMEDOUT && !b->done)
			break;
	}
	if (b->done) {
		res = b->res;
		b->res = NULL;
	} else {
		b->abandoned = 1;	/* a late answer is dropped by bridge_done */
		res = NULL;
	}
	pthread_mutex_unlock(&b->mu);
	bridge_release(b);
	return res != NULL ? res : mg_dns_result_new(name, type, MG_DNS_TEMPFAIL, "deadline");
}

/* ---- direct resolution on a worker thread ---------------------------------------------------- */

/* A worker's own UDP socket per server, reused like the loop's (DNS_SOCK_USES_MAX queries or
 * DNS_SOCK_AGE_MS), closed when the thread ends. One query at a time per thread. */
struct dns_tsock {
	uint64_t serial;		/* mg_dns it belongs to (0: none) */
	int fd;
	unsigned uses;
	long long born;
};
struct dns_tsocks {
	struct dns_tsock s[MG_DNS_SERVERS_MAX];
};

static pthread_key_t tsock_key;
static pthread_once_t tsock_once = PTHREAD_ONCE_INIT;

static void
tsocks_free(void *p)
{
	struct dns_tsocks *t = p;

	for (int i = 0; i < MG_DNS_SERVERS_MAX; i++)
		if (t->s[i].serial != 0)
			close(t->s[i].fd);
	xfree(t);
}

static void
tsock_key_init(void)
{
	if (pthread_key_create(&tsock_key, tsocks_free) != 0)
		panic("dns: pthread_key_create failed");
}

static void
tsock_drop(struct dns_tsock *ts)
{
	if (ts->serial != 0)
		close(ts->fd);
	ts->serial = 0;
	ts->fd = -1;
}

static struct dns_tsock *
tsock_get(const struct mg_dns *d, int srv)
{
	struct dns_tsocks *t;
	struct dns_tsock *ts;
	const struct dns_server *sv = &d->srv[srv];

	pthread_once(&tsock_once, tsock_key_init);
	if ((t = pthread_getspecific(tsock_key)) == NULL) {
		t = xcalloc(1, sizeof(*t));
		if (pthread_setspecific(tsock_key, t) != 0)
			panic("dns: pthread_setspecific failed");
	}
	ts = &t->s[srv];
	if (ts->serial != 0 && (ts->serial != d->serial || ts->uses >= DNS_SOCK_USES_MAX ||
	    mg_dns_now_ms() - ts->born >= DNS_SOCK_AGE_MS))
		tsock_drop(ts);
	if (ts->serial != 0)
		return ts;
	ts->fd = socket(sv->sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (ts->fd < 0)
		return NULL;
	if (connect(ts->fd, (const struct sockaddr *)&sv->sa, sv->len) < 0) {
		int e = errno;
		close(ts->fd);
		ts->fd = -1;
		errno = e;
		return NULL;
	}
	ts->serial = d->serial;
	ts->uses = 0;
	ts->born = mg_dns_now_ms();
	return ts;
}

/* Waits up to ms for fd to be ready for events; 1 ready, 0 timeout, -1 error. */
static int
wait_fd(int fd, short events, long long ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	if (ms < 0)
		ms = 0;
	do
		r = poll(&p, 1, (int)(ms > INT32_MAX ? INT32_MAX : ms));
	while (r < 0 && errno == EINTR);
	return r < 0 ? -1 : r;
}

/* One TCP exchange (RFC 7766) with server srv, bounded by until (mg_dns_now_ms clock). */
static struct mg_dns_result *
direct_tcp(const struct mg_dns *d, int srv, const char *name, uint16_t type, unsigned char *wire,
    size_t wire_len, long long until)
{
	const struct dns_server *sv = &d->srv[srv];
	unsigned char *buf = NULL;
	struct mg_dns_result *res = NULL;
	const char *why = "network error";
	size_t off = 0, want = 2;
	uint16_t id;
	int fd, rc;

	if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
		panic("dns: getrandom failed: %s", strerror(errno));
	wire[2] = (unsigned char)(id >> 8);
	wire[3] = (unsigned char)id;
	if ((fd = socket(sv->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		goto out;
	if (connect(fd, (const struct sockaddr *)&sv->sa, sv->len) < 0 && errno != EINPROGRESS) {
		why = errno_reason(errno);
		goto out;
	}
	while (off < wire_len + 2) {
		ssize_t n = send(fd, wire + off, wire_len + 2 - off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINPROGRESS || errno == ENOTCONN)) {
			if ((rc = wait_fd(fd, POLLOUT, until - mg_dns_now_ms())) <= 0) {
				why = rc == 0 ? "timeout" : "network error";
				goto out;
			}
			continue;
		}
		if (n < 0) {
			why = errno_reason(errno);
			goto out;
		}
		off += (size_t)n;
	}
	buf = xmalloc(2 + MG_DNS_TCP_MAX);
	for (off = 0; off < want;) {
		ssize_t n = recv(fd, buf + off, want - off, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			if ((rc = wait_fd(fd, POLLIN, until - mg_dns_now_ms())) <= 0) {
				why = rc == 0 ? "timeout" : "network error";
				goto out;
			}
			continue;
		}
		if (n <= 0) {
			why = n == 0 ? "connection closed" : errno_reason(errno);
			goto out;
		}
		off += (size_t)n;
		if (off == 2 && want == 2) {
			want = 2 + (size_t)(buf[0] << 8 | buf[1]);
			if (want == 2) {
				why = "malformed answer";
				goto out;
			}
		}
	}
	rc = mg_dns_parse_reply(buf + 2, want - 2, id, name, type, &res, NULL, &why);
	if (rc == 1)
		res = mg_dns_result_new(name, type, MG_DNS_TEMPFAIL, "truncated");
	else if (rc < 0)
		res = mg_dns_result_new(name, type, MG_DNS_PERMFAIL, "malformed answer");
out:
	if (fd >= 0)
		close(fd);
	xfree(buf);
	return res != NULL ? res : mg_dns_result_new(name, type, MG_DNS_TEMPFAIL, why);
}

/* One UDP attempt on the thread's socket for srv: the answer, NULL with *why_r on silence or a
 * socket error (the caller moves on). Foreign datagrams (RFC 5452 §9.1) are dropped. */
static struct mg_dns_result *
direct_udp(const struct mg_dns *d, int srv, const char *name, uint16_t type, unsigned char *wire,
    size_t wire_len, long long until, unsigned char *rbuf, size_t rsize, const char **why_r)
{
	struct dns_tsock *ts = tsock_get(d, srv);
	long long attempt_end = mg_dns_now_ms() + d->cfg.timeout_ms;
	struct mg_dns_result *res;
	uint16_t id;

	if (attempt_end > until)
		attempt_end = until;
	if (ts == NULL) {
		*why_r = errno_reason(errno);
		return NULL;
	}
	if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
		panic("dns: getrandom failed: %s", strerror(errno));
	wire[2] = (unsigned char)(id >> 8);
	wire[3] = (unsigned char)id;
	ts->uses++;
	if (send(ts->fd, wire + 2, wire_len, 0) != (ssize_t)wire_len) {
		*why_r = errno_reason(errno);
		tsock_drop(ts);
		return NULL;
	}
	for (;;) {
		const char *err;
		int foreign, rc = wait_fd(ts->fd, POLLIN, attempt_end - mg_dns_now_ms());
		ssize_t n;

		if (rc <= 0) {
			*why_r = rc == 0 ? "timeout" : "network error";
			return NULL;
		}
		if ((n = recv(ts->fd, rbuf, rsize, MSG_DONTWAIT)) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				continue;
			*why_r = errno_reason(errno);
			tsock_drop(ts);
			return NULL;
		}
		rc = mg_dns_parse_reply(rbuf, (size_t)n, id, name, type, &res, &foreign, &err);
		if (rc == 1)
			return direct_tcp(d, srv, name, type, wire, wire_len, until);
		if (rc == 0)
			return res;
		if (!foreign)
			return mg_dns_result_new(name, type, MG_DNS_PERMFAIL, "malformed answer");
		/* a late answer to an earlier attempt on this socket, or spoofed: keep waiting */
	}
}

/* The resolver's attempt loop (next_attempt, handle_answer) run on the calling thread. */
static struct mg_dns_result *
direct_resolve(const struct mg_dns *d, const char *name, uint16_t type, long long until)
{
	int max_attempts = d->n_srv * d->cfg.attempts;
	struct mg_dns_result *held = NULL, *res;
	const char *why = "timeout";
	unsigned char *wire, *rbuf;
	size_t wire_len;
	long long started = mg_dns_now_ms();

	if (encode_query(&d->cfg, name, type, &wire, &wire_len) < 0)
		return mg_dns_result_new(name, type, MG_DNS_PERMFAIL, "invalid name");
	rbuf = xmalloc(MG_DNS_UDP_MAX + 512);
	for (int attempt = 0; attempt < max_attempts; attempt++) {
		if (mg_dns_now_ms() >= until) {
			why = "deadline";
			break;
		}
		res = direct_udp(d, attempt % d->n_srv, name, type, wire, wire_len, until, rbuf,
		    MG_DNS_UDP_MAX + 512, &why);
		if (res == NULL)
			continue;
		if ((res->status == MG_DNS_TEMPFAIL || res->status == MG_DNS_PERMFAIL) &&
		    attempt + 1 < d->n_srv && attempt + 1 < max_attempts) {
			mg_dns_result_free(&held);	/* a soft failure: ask a server not yet asked */
			held = res;
			continue;
		}
		mg_dns_result_free(&held);
		held = res;
		why = NULL;
		break;
	}
	xfree(rbuf);
	xfree(wire);
	metrics_observe_dns((double)(mg_dns_now_ms() - started) / 1000.0);
	if (held != NULL)
		return held;
	return mg_dns_result_new(name, type, MG_DNS_TEMPFAIL, why != NULL ? why : "timeout");
}

struct mg_dns_result *
mg_dns_query_direct(struct mg_dns *d, const char *name, uint16_t type, long long deadline_ms)
{
	const char *err;
	char norm[MG_DNS_NAME_MAX + 1];

	if (pthread_equal(pthread_self(), d->loop_thread))
		panic("dns: mg_dns_query_direct called on the loop thread (would block it)");
	if (mg_dns_name_check(name, norm, sizeof(norm), &err) < 0)
		return mg_dns_result_new(name, type, MG_DNS_PERMFAIL, err);
	if (deadline_ms == 0)
		deadline_ms = default_deadline(d);
	if (deadline_ms <= mg_dns_now_ms())
		return mg_dns_result_new(name, type, MG_DNS_TEMPFAIL, "deadline");
	return direct_resolve(d, norm, type, deadline_ms);
}

void
mg_dns_free(struct mg_dns **dp)
{
	struct mg_dns *d = *dp;
	struct dns_bridge *list, *b;

	if (d == NULL)
		return;
	*dp = NULL;
	pthread_mutex_lock(&d->mu);
	d->closing = 1;
	list = d->inbox;
	d->inbox = NULL;
	pthread_mutex_unlock(&d->mu);
	while ((b = list) != NULL) {
		list = b->next;
		bridge_done(mg_dns_result_new(b->name, b->type, MG_DNS_TEMPFAIL, "resolver closed"), b);
	}
	/* Pending queries: workers get an answer, loop callers' callbacks do not run. */
	while (d->queries != NULL) {
		struct mg_dns_query *q = d->queries;
		if (q->is_bridge) {
			deliver_status(q, MG_DNS_TEMPFAIL, "resolver closed");
		} else {
			close_transport(q);
			query_unlink(q);
			query_free(q);
		}
	}
	for (int i = 0; i < MG_DNS_SERVERS_MAX; i++)
		for (int k = 0; k < DNS_SOCKS_PER_SERVER; k++)
			if (d->socks[i][k] != NULL)
				sock_retire(d->socks[i][k]);	/* no waiters left: closes */
	ev_async_stop(d->loop, &d->wake);
	pthread_mutex_destroy(&d->mu);
	xfree(d);
}

/* ---- blocking lookups on a private loop --------------------------------------------------- */

struct blocking_ctx {
	struct mg_dns_result *res;
};

static void
blocking_cb(struct mg_dns_result *res, void *arg)
{
	struct blocking_ctx *c = arg;

	c->res = res;
}

struct mg_dns_result *
mg_dns_lookup_blocking(const struct mg_dns_config *cfg, const char *name, uint16_t type)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct blocking_ctx c = { NULL };
	struct mg_dns *d;
	const char *err;

	if (loop == NULL)
		return mg_dns_result_new(name, type, MG_DNS_TEMPFAIL, "no event loop");
	if ((d = mg_dns_new(loop, cfg, &err)) == NULL) {
		ev_loop_destroy(loop);
		return mg_dns_result_new(name, type, MG_DNS_TEMPFAIL, "no usable resolver");
	}
	mg_dns_query(d, name, type, 0, blocking_cb, &c);
	while (c.res == NULL)
		ev_run(loop, EVRUN_ONCE);
	mg_dns_free(&d);
	ev_loop_destroy(loop);
	return c.res;
}

struct mg_dns_result *
mg_dns_lookup_fn_blocking(void *ctx, const char *name, uint16_t type)
{
	return mg_dns_lookup_blocking(ctx, name, type);
}

struct mg_dns_result *
mg_dns_lookup_fn_direct(void *ctx, const char *name, uint16_t type)
{
	const struct mg_dns_wait_ctx *w = ctx;

	return mg_dns_query_direct(w->d, name, type, w->deadline_ms);
}

struct mg_dns_result *
mg_dns_lookup_fn_wait(void *ctx, const char *name, uint16_t type)
{
	const struct mg_dns_wait_ctx *w = ctx;

	return mg_dns_query_wait(w->d, name, type, w->deadline_ms);
}
