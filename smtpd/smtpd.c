/* smtpd.c: the smtpd role: accepts connections on the listening sockets handed over by the
 * supervisor, enforces the global and per-IP connection limits, owns the session table and the
 * channel to the queue role (message file creation and commit requests, routed back to their
 * session by slot and generation). Trusts nothing from peers; trusts the queue channel after
 * lib/ipc's strict decoding. Limits: max_connections, max_connections_per_ip. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/ipc_msg.h"
#include "common/metrics.h"
#include "common/role.h"
#include "common/tls.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"
#include "smtpd/session.h"
#include "smtpd/signing.h"

#define LISTEN_MAX 32
#define IPHASH_SIZE 4096

struct ipcount {
	struct ipcount *next;
	unsigned char key[16];
	int count;
};

static struct {
	ev_io listen_w[LISTEN_MAX];
	enum listener_kind listen_kind[LISTEN_MAX];
	int n_listen;
	struct ipc_chan *queue;
	struct ipc_chan *filter;
	int filter_gone;	/* the filter channel closed: checks answer 451 */
	struct session **slots;
	uint32_t n_slots, cap_slots;
	uint32_t *free_slots;
	uint32_t n_free;
	long n_sessions;
	struct ipcount *iphash[IPHASH_SIZE];
	SSL_CTX *tls_ctx;
	int shutting_down;
	int queue_gone;		/* the queue channel closed: nothing can be queued any more */
	ev_timer shutdown_timer;
	ev_timer accept_retry;
} sd;

const struct mg_config *
smtpd_cfg(void)
{
	return role.cfg;
}

SSL_CTX *
smtpd_tls_ctx(void)
{
	return sd.tls_ctx;
}

int
smtpd_is_stopping(void)
{
	return sd.shutting_down;
}

static void
ip_key(const struct sockaddr *sa, unsigned char key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET)
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
}

static struct ipcount **
ip_find(const unsigned char key[16])
{
	uint32_t h = 2166136261u;
	struct ipcount **pp;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	for (pp = &sd.iphash[h % IPHASH_SIZE]; *pp; pp = &(*pp)->next)
		if (memcmp((*pp)->key, key, 16) == 0)
			break;
	return pp;
}

/* Adjusts the connection count of the client's address; returns the new count. */
static int
ip_adjust(const struct sockaddr *sa, int delta)
{
	unsigned char key[16];
	struct ipcount **pp, *e;

	ip_key(sa, key);
	pp = ip_find(key);
	if (*pp == NULL) {
		if (delta <= 0)
			return 0;
		e = xcalloc(1, sizeof(*e));
		memcpy(e->key, key, 16);
		*pp = e;
	}
	e = *pp;
	e->count += delta;
	if (e->count <= 0) {
		*pp = e->next;
		xfree(e);
		return 0;
	}
	return e->count;
}

static uint32_t
slot_alloc(void)
{
	if (sd.n_free > 0)
		return sd.free_slots[--sd.n_free];
	if (sd.n_slots == sd.cap_slots) {
		sd.cap_slots = sd.cap_slots ? sd.cap_slots * 2 : 1024;
		sd.slots = xreallocarray(sd.slots, sd.cap_slots, sizeof(*sd.slots));
		sd.free_slots = xreallocarray(sd.free_slots, sd.cap_slots, sizeof(*sd.free_slots));
	}
	sd.slots[sd.n_slots] = NULL;
	return sd.n_slots++;
}

/* Answers a connection we do not serve and closes it. RFC 2034 §4: the enhanced status code
 * comes right after the reply code, before our name. */
static void
refuse(int fd, const char *enh, const char *text)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "421 %s %s %s\r\n", enh, role.cfg->hostname, text);

	metrics_inc(M_SMTP_REFUSED_LIMIT, 1);
	(void)!send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(w->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		uint32_t slot;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				log_warn("accept: %m; pausing accepts for 1 s");
				for (int l = 0; l < sd.n_listen; l++)
					ev_io_stop(loop, &sd.listen_w[l]);
				ev_timer_start(loop, &sd.accept_retry);
			}
			return;
		}
		metrics_inc(M_SMTP_CONNECTIONS, 1);
		if (sd.n_sessions >= role.cfg->max_connections) {
			log_warn("connection refused: max_connections (%ld) reached", role.cfg->max_connections);
			refuse(fd, "4.7.0", "Too many connections, try again later");
			continue;
		}
		if (ip_adjust((struct sockaddr *)&ss, 1) > role.cfg->max_connections_per_ip) {
			char a[64] = "?";

			ip_adjust((struct sockaddr *)&ss, -1);
			if (ss.ss_family == AF_INET)
				inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof(a));
			else
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof(a));
			log_warn("connection refused: client=%s has max_connections_per_ip (%ld)", a,
			    role.cfg->max_connections_per_ip);
			refuse(fd, "4.7.0", "Too many connections from your address, try again later");
			continue;
		}
		slot = slot_alloc();
		sd.slots[slot] = session_new(fd, (struct sockaddr *)&ss, sl, slot,
		    sd.listen_kind[w - sd.listen_w]);
		sd.n_sessions++;
		metrics_set(M_SMTP_SESSIONS, sd.n_sessions);
	}
}

static void
accept_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	if (sd.shutting_down)
		return;
	for (int l = 0; l < sd.n_listen; l++)
		ev_io_start(loop, &sd.listen_w[l]);
}

void
smtpd_session_closed(struct session *s)
{
	ip_adjust((struct sockaddr *)&s->peer, -1);
	sd.slots[s->slot] = NULL;
	sd.free_slots[sd.n_free++] = s->slot;
	sd.n_sessions--;
	metrics_set(M_SMTP_SESSIONS, sd.n_sessions);
	if (sd.shutting_down && sd.n_sessions == 0)
		role_exit(0);
}

/* Request ids: slot << 12 | a 12-bit generation that skips 0, so no id is ever 0, which the
 * peers read as "no requester" (the queue sends no COMMIT_OK for id 0: with a zero generation
 * the session in slot 0 lost the reply to its 2,048th message and every 2,048th after it). */
static uint32_t
req_id(struct session *s)
{
	s->gen = (s->gen + 1) & 0xfff;
	if (s->gen == 0)
		s->gen = 1;
	return (s->slot << 12) | s->gen;
}

uint32_t
smtpd_req_id(struct session *s)
{
	return req_id(s);
}

static struct session *req_session(uint32_t id);

struct session *
smtpd_req_session(uint32_t id)
{
	return req_session(id);
}

static struct session *
req_session(uint32_t id)
{
	uint32_t slot = id >> 12;
	struct session *s;

	if (slot >= sd.n_slots || (s = sd.slots[slot]) == NULL)
		return NULL;
	if (s->state != SS_WAIT || s->wait_id != id)
		return NULL;
	return s;
}

/* Body files made ahead of need: DATA takes one at once instead of waiting for a round trip
 * to the queue (two IPC messages and two wake-ups less per message). */
#define POOL_MAX 32
#define POOL_LOW 12
#define POOL_REQ_ID 0xffffffffu

static struct {
	struct {
		char qid[QUEUE_ID_LEN + 1];
		int fd;
	} item[POOL_MAX];
	int n;
	int requested;		/* CREATE requests without an answer */
	double failing_until;	/* the queue refused (spool full): ask per session meanwhile */
} pool;

static void
pool_refill(void)
{
	if (sd.shutting_down || pool.n + pool.requested >= POOL_LOW ||
	    ev_now(role.loop) < pool.failing_until)
		return;
	while (pool.n + pool.requested < POOL_MAX) {
		ipc_send(sd.queue, IPC_QUEUE_CREATE, POOL_REQ_ID, -1, NULL);
		pool.requested++;
	}
}

static void
pool_drain(void)
{
	while (pool.n > 0) {
		pool.n--;
		close(pool.item[pool.n].fd);
		smtpd_queue_abort(pool.item[pool.n].qid);
	}
}

int
smtpd_queue_create(struct session *s)
{
	if (pool.n > 0 && !smtpd_is_stopping()) {
		pool.n--;
		session_on_created(s, pool.item[pool.n].qid, pool.item[pool.n].fd, 1);
		pool_refill();
		return 1;
	}
	s->wait_id = req_id(s);
	s->wait = SW_CREATE;
	session_enter_state(s, SS_WAIT);
	ipc_send(sd.queue, IPC_QUEUE_CREATE, s->wait_id, -1, NULL);
	pool_refill();
	return 0;
}

void
smtpd_queue_commit(struct session *s, const struct buf *envtext)
{
	struct ipc_out o;

	s->wait_id = req_id(s);
	s->wait = SW_COMMIT;
	session_enter_state(s, SS_WAIT);
	ipc_out_init(&o);
	ipc_put_str(&o, s->env.qid);
	ipc_put_str(&o, envtext->data);
	ipc_send(sd.queue, IPC_QUEUE_COMMIT, s->wait_id, -1, &o);
	ipc_out_free(&o);
}

void
smtpd_queue_abort(const char *qid)
{
	struct ipc_out o;

	if (sd.queue_gone)
		return;	/* the queue's recovery removes uncommitted files */
	ipc_out_init(&o);
	ipc_put_str(&o, qid);
	ipc_send(sd.queue, IPC_QUEUE_ABORT, 0, -1, &o);
	ipc_out_free(&o);
}

static void
queue_msg(struct ipc_chan *chan, struct ipc_msg *m, void *arg)
{
	struct session *s;
	char qid[QUEUE_ID_LEN + 1], enh[16], text[256];
	uint32_t code;

	(void)chan;
	(void)arg;
	switch (m->type) {
	case IPC_QUEUE_CREATE_OK:
		ipc_get_strbuf(m, qid, sizeof(qid));
		ipc_msg_end(m);
		if (m->id == POOL_REQ_ID) {
			pool.requested--;
			if (sd.shutting_down || pool.n == POOL_MAX) {
				close(m->fd);
				smtpd_queue_abort(qid);
				return;
			}
			snprintf(pool.item[pool.n].qid, sizeof(pool.item[pool.n].qid), "%s", qid);
			pool.item[pool.n].fd = m->fd;
			pool.n++;
			return;
		}
		if ((s = req_session(m->id)) == NULL || s->wait != SW_CREATE) {
			/* the session went away meanwhile */
			close(m->fd);
			smtpd_queue_abort(qid);
			return;
		}
		session_on_created(s, qid, m->fd, 0);
		return;
	case IPC_QUEUE_COMMIT_OK:
		ipc_get_strbuf(m, qid, sizeof(qid));
		ipc_msg_end(m);
		if ((s = req_session(m->id)) == NULL || s->wait != SW_COMMIT) {
			log_info("NOQUEUE %s committed after its client left; it will be delivered", qid);
			return;
		}
		session_on_committed(s);
		return;
	case IPC_QUEUE_CREATE_FAIL:
	case IPC_QUEUE_COMMIT_FAIL:
		code = ipc_get_u32(m);
		ipc_get_strbuf(m, enh, sizeof(enh));
		ipc_get_strbuf(m, text, sizeof(text));
		ipc_msg_end(m);
		if (m->id == POOL_REQ_ID) {
			/* spool full or shutting down: sessions ask for themselves and relay the reply */
			pool.requested--;
			pool.failing_until = ev_now(role.loop) + 1.0;
			return;
		}
		if ((s = req_session(m->id)) == NULL)
			return;
		if (m->type == IPC_QUEUE_CREATE_FAIL)
			session_on_create_failed(s, (int)code, enh, text);
		else
			session_on_commit_failed(s, (int)code, enh, text);
		return;
	default:
		panic("smtpd: unexpected message type %u from queue", m->type);
	}
}

/* ---- the filter role (issue C) ---- */

void
smtpd_filter_connect(struct session *s)
{
	struct ipc_out o;

	if (sd.filter_gone || s->is_mynetwork)	/* trusted: see session_data_end */
		return;
	ipc_out_init(&o);
	ipc_put_str(&o, s->sid);
	ipc_put_str(&o, s->peer_addr);
	ipc_put_u32(&o, s->is_mynetwork ? FILTER_CLIENT_MYNETWORKS : 0);
	ipc_send(sd.filter, IPC_FILTER_CONNECT, 0, -1, &o);
	ipc_out_free(&o);
}

void
smtpd_filter_mail(struct session *s)
{
	struct ipc_out o;

	if (sd.filter_gone || s->is_mynetwork)	/* trusted: see session_data_end */
		return;
	ipc_out_init(&o);
	ipc_put_str(&o, s->sid);
	ipc_put_str(&o, s->helo);
	ipc_put_str(&o, s->env.sender);
	ipc_send(sd.filter, IPC_FILTER_MAIL, 0, -1, &o);
	ipc_out_free(&o);
}

void
smtpd_filter_end(struct session *s)
{
	struct ipc_out o;

	if (sd.filter_gone || s->is_mynetwork)	/* trusted: see session_data_end */
		return;
	ipc_out_init(&o);
	ipc_put_str(&o, s->sid);
	ipc_send(sd.filter, IPC_FILTER_END, 0, -1, &o);
	ipc_out_free(&o);
}

int
smtpd_filter_check(struct session *s, const struct buf *envtext, int ro_fd)
{
	struct ipc_out o;

	if (sd.filter_gone) {
		close(ro_fd);
		return -1;
	}
	s->wait_id = req_id(s);
	s->wait = SW_FILTER;
	session_enter_state(s, SS_WAIT);
	ipc_out_init(&o);
	ipc_put_str(&o, s->sid);
	ipc_put_str(&o, envtext->data);
	ipc_send(sd.filter, IPC_FILTER_CHECK, s->wait_id, ro_fd, &o);	/* takes ro_fd */
	ipc_out_free(&o);
	return 0;
}

static void
filter_msg(struct ipc_chan *chan, struct ipc_msg *m, void *arg)
{
	struct session *s;
	struct filter_verdict v;
	uint32_t action;

	(void)chan;
	(void)arg;
	if (m->type != IPC_FILTER_VERDICT)
		panic("smtpd: unexpected message type %u from filter", m->type);
	action = ipc_get_u32(m);
	if (action > FILTER_REJECT)
		panic("smtpd: filter verdict with action %u", action);
	v.action = (enum filter_action)action;
	ipc_get_strbuf(m, v.enh, sizeof(v.enh));
	ipc_get_strbuf(m, v.text, sizeof(v.text));
	ipc_get_strbuf(m, v.score, sizeof(v.score));
	v.symbols = ipc_get_str(m);
	v.headers = ipc_get_str(m);
	v.detail = ipc_get_str(m);
	v.consumed = ipc_get_str(m);
	ipc_msg_end(m);
	if ((s = req_session(m->id)) != NULL && s->wait == SW_FILTER) {
		static const enum metric_dom md[] = { [FILTER_DELIVER] = MD_IN_DELIVER,
			[FILTER_QUARANTINE] = MD_IN_QUARANTINE, [FILTER_GREYLIST] = MD_IN_GREYLIST,
			[FILTER_TEMPFAIL] = MD_IN_TEMPFAIL, [FILTER_REJECT] = MD_IN_REJECT };

		metrics_inc_rcpt_domains(md[v.action], &s->env, 1);
		session_on_verdict(s, &v);
	}
	/* else the session went away meanwhile */
	xfree(v.symbols);
	xfree(v.headers);
	xfree(v.detail);
	xfree(v.consumed);
}

/* The filter died or stopped: the supervisor stops everything when a role dies; until then
 * messages waiting for a verdict get 451 rather than hanging. */
static void
filter_closed(struct ipc_chan *chan, void *arg)
{
	(void)chan;
	(void)arg;
	if (sd.filter_gone)
		return;
	sd.filter_gone = 1;
	if (!sd.shutting_down)
		log_err("smtpd: filter channel closed");
	for (uint32_t i = 0; i < sd.n_slots; i++) {
		struct session *s = sd.slots[i];

		if (s != NULL && s->state == SS_WAIT && s->wait == SW_FILTER)
			session_on_filter_failed(s);
	}
}

/* IPC_PEER_RESET: the supervisor restarted the filter or the signer; fd is the new channel.
 * Whatever waited on the old process was answered 451 when it went away (filter_closed,
 * signing.c); live sessions are announced to the new filter again (its state is per
 * session: connect-time lookups and the mynetworks flag). */
static void
smtpd_peer_reset(const char *peer, int fd)
{
	if (strcmp(peer, "filter") == 0) {
		filter_closed(NULL, NULL);	/* no-op if already seen */
		ipc_chan_free(&sd.filter);
		sd.filter = ipc_chan_new(role.loop, fd, "filter", filter_msg, filter_closed, NULL);
		sd.filter_gone = 0;
		for (uint32_t i = 0; i < sd.n_slots; i++)
			if (sd.slots[i] != NULL)
				smtpd_filter_connect(sd.slots[i]);
	} else if (strcmp(peer, "signer") == 0) {
		smtpd_signer_reset(fd);
	} else {
		panic("smtpd: IPC_PEER_RESET for unknown peer %s", peer);
	}
}

static void smtpd_shutdown(void);

/* The queue went away: at shutdown it may stop before our own IPC_SHUTDOWN arrives; otherwise
 * it died, and the supervisor names it and stops us. Either way nothing can be queued: every
 * client gets its 421, those waiting for the queue too, rather than a silent close. */
static void
queue_closed(struct ipc_chan *chan, void *arg)
{
	(void)chan;
	(void)arg;
	if (sd.queue_gone)
		return;
	sd.queue_gone = 1;
	if (!sd.shutting_down)
		log_info("smtpd: queue channel closed; stopping");
	smtpd_shutdown();	/* again if already stopping: now for the waiting sessions too */
}

static void
smtpd_load_tls(void)
{
	char cert[4096], key[4096];
	const char *err;
	SSL_CTX *ctx;

	if (role.cfg->tls_cert[0]) {
		str_lcpy(cert, role.cfg->tls_cert, sizeof(cert));
		str_lcpy(key, role.cfg->tls_key, sizeof(key));
	} else {
		str_fmt(cert, sizeof(cert), "%s/tls/cert.pem", role.cfg->state_dir);
		str_fmt(key, sizeof(key), "%s/tls/key.pem", role.cfg->state_dir);
	}
	if ((ctx = tls_server_ctx(cert, key, &err)) == NULL) {
		log_err("STARTTLS disabled: %s", err);
		return;
	}
	if (sd.tls_ctx)
		SSL_CTX_free(sd.tls_ctx);
	sd.tls_ctx = ctx;
}

static void
smtpd_shutdown_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	role_exit(0);
}

/* Stops accepting and ends every session with a 421 (one waiting for the queue once the queue
 * answered, or at once if the queue is gone); exits when none is left, or after 10 s.
 * Idempotent: sessions already closing are left alone. */
static void
smtpd_shutdown(void)
{
	if (!sd.shutting_down) {
		sd.shutting_down = 1;
		pool_drain();
		for (int l = 0; l < sd.n_listen; l++) {
			ev_io_stop(role.loop, &sd.listen_w[l]);
			close(sd.listen_w[l].fd);
		}
		ev_timer_init(&sd.shutdown_timer, smtpd_shutdown_timeout, 10.0, 0);
		ev_timer_start(role.loop, &sd.shutdown_timer);
	}
	if (sd.n_sessions == 0)
		role_exit(0);
	for (uint32_t i = 0; i < sd.n_slots; i++)
		if (sd.slots[i])
			session_shutdown(sd.slots[i], sd.queue_gone);
}

static void
smtpd_reload(struct mg_config *old)
{
	(void)old;
	smtpd_load_tls();
	smtpd_auth_reload();
}

/* The kind of each listening socket, in the order the supervisor passed them: it puts
 * "smtp,submission,..." in MAILGUARD_LISTENERS (absent: all smtp). */
static enum listener_kind
listener_kind_of(int index)
{
	const char *v = getenv("MAILGUARD_LISTENERS"), *p = v;

	for (int i = 0; p != NULL && *p != '\0'; i++) {
		size_t n = strcspn(p, ",");

		if (i == index) {
			if (n == 10 && strncmp(p, "submission", 10) == 0)
				return LISTENER_SUBMISSION;
			if (n == 11 && strncmp(p, "submissions", 11) == 0)
				return LISTENER_SUBMISSIONS;
			return LISTENER_SMTP;
		}
		p += n + (p[n] == ',');
	}
	return LISTENER_SMTP;
}

int
smtpd_main(void)
{
	/* AUTH hashes take argon2's ~19 MiB per verification on pool threads: a fixed mmap
	 * threshold hands such blocks back to the kernel when freed instead of letting glibc's
	 * dynamic threshold keep them in per-thread arenas for good. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	role.on_shutdown = smtpd_shutdown;
	role.on_reload = smtpd_reload;
	role.on_peer_reset = smtpd_peer_reset;
	smtpd_load_tls();
	sd.queue = ipc_chan_new(role.loop, ROLE_FD_PEER1, "queue", queue_msg, queue_closed, NULL);
	sd.filter = ipc_chan_new(role.loop, ROLE_FD_PEER2, "filter", filter_msg, filter_closed, NULL);
	smtpd_signer_open();	/* issue E: ROLE_FD_PEER3 (smtpd/signing.c) */
	for (int fd = ROLE_FD_LISTEN0; sd.n_listen < LISTEN_MAX; fd++) {
		int acc = 0;
		socklen_t l = sizeof(acc);

		if (fcntl(fd, F_GETFD) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) < 0 || !acc)
			break;
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		sd.listen_kind[sd.n_listen] = listener_kind_of(sd.n_listen);
		ev_io_init(&sd.listen_w[sd.n_listen], accept_cb, fd, EV_READ);
		ev_io_start(role.loop, &sd.listen_w[sd.n_listen]);
		sd.n_listen++;
	}
	ev_timer_init(&sd.accept_retry, accept_retry_cb, 1.0, 0);
	/* Before dropping privileges: the users file is readable by its owner only. */
	if (smtpd_auth_init() < 0)
		log_err("smtpd: AUTH disabled: auth_users_file cannot be loaded");
	role_drop_privileges();
	metrics_open(role.cfg->state_dir, "smtpd");
	metrics_set(M_SMTP_SESSIONS, 0);	/* a restarted smtpd starts without sessions */
	role_ready();
	pool_refill();
	role_run();
	return 0;
}
