/* client.c: one outgoing SMTP connection of the delivery role (RFC 5321 client): bound to a
 * source address (outbound_ips) with its EHLO name, banner, EHLO (HELO fallback), STARTTLS
 * (RFC 3207) as the connection's TLS requirement says (policy.c: never, opportunistic with a
 * plaintext reconnect, or required with no fallback: 4.7.5 and the next MX host), then
 * transactions with PIPELINING when offered (RFC 2920), per-recipient reply classification,
 * the body with dot-stuffing and CRLF normalisation, and connection reuse for the next job of
 * the same destination (same policy parameters, delivery.c).
 * Delivery role, main thread. Server replies are untrusted: parsed by smtp_reply_parse with
 * bounded lines; every wait has a deadline (delivery_timeout_*). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/role.h"
#include "common/tls.h"
#include "config/config.h"
#include "delivery/delivery_int.h"
#include "delivery/sts.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define CLIENT_IN_MAX (256 * 1024)
#define BODY_CHUNK 65536
#define BODY_HIGH_WATER (256 * 1024)

extern SSL_CTX *delivery_tls_ctx;

static struct client *all_clients;	/* every connection, for client_abort_all() */

static void client_cb(struct evconn *conn, enum evconn_event ev, void *arg);

static void
client_send(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
client_send(struct client *c, const char *fmt, ...)
{
	char line[1100];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	evconn_write(c->conn, line, (size_t)n);
}

/* Binds fd to the local address src (outbound_ips). Returns 0 or -1 (errno set). */
static int
bind_source(int fd, int fam, const char *src)
{
	struct sockaddr_storage ss;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	if (fam == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		if (inet_pton(AF_INET, src, &sin->sin_addr) != 1)
			return -1;
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, src, &sin6->sin6_addr) != 1)
			return -1;
		len = sizeof(*sin6);
	}
	return bind(fd, (const struct sockaddr *)&ss, len);
}

struct client *
client_new(struct dest *d)
{
	struct client *c = xcalloc(1, sizeof(*c));
	const struct sockaddr_storage *addr = &d->addrs[d->cur_addr];
	int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	char a[64] = "?";

	c->dest = d;
	c->addr_idx = d->cur_addr;
	c->treq = policy_tls_req(d, d->cur_addr);
	c->sts_testing = (c->treq == TREQ_MAY || c->treq == TREQ_ENCRYPT) && sts_testing(d);
	str_lcpy(c->mxname, delivery_mx_name(d, d->cur_addr), sizeof(c->mxname));
	delivery_addr_text(addr, a, sizeof(a));
	/* the MX host name in logs for MX delivery, the transport host otherwise */
	snprintf(c->peer, sizeof(c->peer), "%s[%s]:%d", d->outbound ? c->mxname : d->host, a,
	    d->port);
	snprintf(c->tlsdesc, sizeof(c->tlsdesc), "none");
	if (fd < 0) {
		xfree(c);
		return NULL;
	}
	if (policy_pick_source(d, addr->ss_family, c->src, sizeof(c->src)) < 0 ||
	    (c->src[0] != '\0' && bind_source(fd, addr->ss_family, c->src) < 0)) {
		if (c->src[0] != '\0')
			log_warn("destination %s: cannot bind to %s: %m", d->key, c->src);
		else
			errno = EADDRNOTAVAIL;
		close(fd);
		xfree(c);
		return NULL;
	}
	str_lcpy(c->helo, policy_helo_name(c->src), sizeof(c->helo));
	if (connect(fd, (const struct sockaddr *)addr, d->addrlens[d->cur_addr]) < 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		xfree(c);
		return NULL;
	}
	c->conn = evconn_new(role.loop, fd, CLIENT_IN_MAX, client_cb, c);
	evconn_set_timeout(c->conn, (double)role.cfg->delivery_timeout_connect);
	evconn_wait_connect(c->conn);
	c->state = CS_CONNECT;
	d->n_conns++;
	c->all_next = all_clients;
	if (all_clients)
		all_clients->all_prev = c;
	all_clients = c;
	return c;
}

void
client_free(struct client *c)
{
	if (c->alive)
		*c->alive = 0;
	if (c->all_prev)
		c->all_prev->all_next = c->all_next;
	else if (all_clients == c)
		all_clients = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	ev_timer_stop(role.loop, &c->idle_timer);
	evconn_free(&c->conn);
	xfree(c);
}

void
djob_fail_rest(struct djob *j, int state, const char *status, const char *diag)
{
	for (uint32_t i = 0; i < j->n; i++)
		if (j->state[i] < 0) {
			j->state[i] = state;
			j->status[i] = xstrdup(status);
			j->diag[i] = xstrdup(diag);
		}
}

static int
reply_state(const struct smtp_reply *r)
{
	return r->code >= 500 ? ENV_RCPT_FAILED : ENV_RCPT_PENDING;
}

/* Records a reply as the result of recipient i of the job (if not already decided). */
static void
set_rcpt(struct djob *j, uint32_t i, int state, const struct smtp_reply *r, const char *prefix)
{
	char diag[1200], status[16];

	if (j->state[i] >= 0)
		return;
	if (r->enh[0])
		snprintf(status, sizeof(status), "%s", r->enh);
	else
		snprintf(status, sizeof(status), "%c.0.0", r->code >= 500 ? '5' : r->code >= 400 ? '4' : '2');
	snprintf(diag, sizeof(diag), "%s%d %s%s%s", prefix, r->code, r->enh, r->enh[0] ? " " : "", r->text);
	j->state[i] = state;
	j->status[i] = xstrdup(status);
	j->diag[i] = xstrdup(diag);
}

/* The connection failed or ended: report the job's open recipients as deferred. */
static void
client_abort(struct client *c, const char *status, const char *why)
{
	struct djob *j = c->job;
	char diag[512];

	c->job = NULL;
	if (j && c->state == CS_CONNECT && c->dest->cur_addr + 1 < c->dest->n_addrs) {
		/* another address (MX host) remains: the job waits for it (delivery_client_gone
		 * moves the destination on) */
		delivery_requeue(j, c->dest);
		j = NULL;
	}
	if (j) {
		snprintf(diag, sizeof(diag), "%s (%s)", why, c->peer);
		djob_fail_rest(j, ENV_RCPT_PENDING, status, diag);
		delivery_job_done(j, c->peer, c->tlsdesc);
	}
	delivery_client_gone(c, c->state == CS_CONNECT || c->state == CS_BANNER, why);
}

/* TLS as the policy requires could not be had on this connection (RFC 7672 §2.2, RFC 8461
 * §5, tls_policy encrypt): no plaintext fallback. The job moves on to the next MX address if
 * one is left, else its recipients are deferred with 4.7.5. broken: the connection is unusable
 * (handshake failed) and ends now; otherwise it is closed with QUIT. */
static void
client_tls_fail(struct client *c, const char *why, const char *type, int broken)
{
	struct dest *d = c->dest;
	struct djob *j = c->job;
	char diag[800];

	policy_tlsrpt(c, 0, type, why);
	snprintf(c->tlsdesc, sizeof(c->tlsdesc), "failed:%s", type);
	log_warn("%s %s: %s", j ? j->qid : "-", c->peer, why);
	c->job = NULL;
	if (j != NULL && d->cur_addr == c->addr_idx && d->cur_addr + 1 < d->n_addrs) {
		d->cur_addr++;	/* RFC 7672 §2.2.2: try the next MX host */
		delivery_requeue(j, d);
		j = NULL;
	}
	if (j != NULL) {
		snprintf(diag, sizeof(diag), "TLS required by policy: %s (%s)", why, c->peer);
		djob_fail_rest(j, ENV_RCPT_PENDING, "4.7.5", diag);
		delivery_job_done(j, c->peer, c->tlsdesc);
	}
	if (broken)
		delivery_client_gone(c, 0, why);
	else
		client_quit(c);
}

/* Whether to send STARTTLS now: never under tls_policy none; always when TLS is required;
 * opportunistically unless a recent handshake with this destination failed. */
static int
client_wants_tls(const struct client *c, unsigned caps)
{
	if (c->tls || !(caps & SMTP_EXT_STARTTLS) || delivery_tls_ctx == NULL ||
	    c->treq == TREQ_NONE)
		return 0;
	if (c->treq >= TREQ_ENCRYPT)
		return 1;
	return c->dest->no_tls_until < ev_now(role.loop) &&
	    !(c->job != NULL && c->job->tls_retry_plain);
}

void
client_abort_all(const char *status, const char *why)
{
	/* each abort frees its client (delivery_client_gone), which unlinks it */
	for (int n = 0; all_clients != NULL && n < 1000000; n++)
		client_abort(all_clients, status, why);
}

static void
client_ehlo(struct client *c)
{
	evconn_set_timeout(c->conn, (double)role.cfg->delivery_timeout_command);
	client_send(c, "EHLO %s", c->helo);
	c->state = CS_EHLO;
}

/* The session goes on without TLS (policy none, or may without STARTTLS). A server that
 * offers STARTTLS but is used in plaintext because a recent handshake with it failed is not
 * reported again (that failure was). */
static void
client_plaintext(struct client *c)
{
	if (c->treq != TREQ_MAY)
		return;
	str_lcpy(c->tlsdesc, "may/plaintext", sizeof(c->tlsdesc));
	if (c->state == CS_STARTTLS || !(c->caps & SMTP_EXT_STARTTLS))
		policy_tlsrpt(c, 0, "starttls-not-supported", c->state == CS_STARTTLS ?
		    "the server refused STARTTLS" : "the server does not offer STARTTLS");
}

static void
client_ready(struct client *c)
{
	c->state = CS_READY;
	if (c->job == NULL)
		delivery_client_idle(c);
	else
		client_start_job(c, c->job);
}

/* RFC 3461 §4: xtext-encodes src into dst ('+', '=', and bytes outside 33..126 as +HH). */
static void
xtext_encode(const char *src, char *dst, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)src; *p && o + 4 < size; p++) {
		if (*p < 33 || *p > 126 || *p == '+' || *p == '=') {
			dst[o++] = '+';
			dst[o++] = hex[*p >> 4];
			dst[o++] = hex[*p & 15];
		} else {
			dst[o++] = (char)*p;
		}
	}
	dst[o] = '\0';
}

static const char *
addr_of(struct djob *j, uint32_t i)
{
	return j->env.rcpts[j->idx[i]].addr;
}

static void
send_rcpt(struct client *c, uint32_t i)
{
	struct djob *j = c->job;
	const struct envelope_rcpt *r = &j->env.rcpts[j->idx[i]];
	char params[1000 + 3 * SMTP_ORCPT_MAX] = "";

	if ((c->caps & SMTP_EXT_DSN) && r->notify) {
		size_t o = 0;

		o += (size_t)snprintf(params + o, sizeof(params) - o, " NOTIFY=");
		if (r->notify & ENV_NOTIFY_NEVER)
			o += (size_t)snprintf(params + o, sizeof(params) - o, "NEVER");
		else {
			const char *sep = "";
			if (r->notify & ENV_NOTIFY_SUCCESS) {
				o += (size_t)snprintf(params + o, sizeof(params) - o, "%sSUCCESS", sep);
				sep = ",";
			}
			if (r->notify & ENV_NOTIFY_FAILURE) {
				o += (size_t)snprintf(params + o, sizeof(params) - o, "%sFAILURE", sep);
				sep = ",";
			}
			if (r->notify & ENV_NOTIFY_DELAY)
				o += (size_t)snprintf(params + o, sizeof(params) - o, "%sDELAY", sep);
		}
	}
	if ((c->caps & SMTP_EXT_DSN) && r->orcpt != NULL) {
		/* stored decoded as "type;address"; the address part is xtext again on the wire */
		const char *semi = strchr(r->orcpt, ';');
		char enc[3 * SMTP_ORCPT_MAX + 1];
		size_t o = strlen(params);

		if (semi != NULL && (size_t)(semi - r->orcpt) < 64) {
			xtext_encode(semi + 1, enc, sizeof(enc));
			snprintf(params + o, sizeof(params) - o, " ORCPT=%.*s;%s",
			    (int)(semi - r->orcpt), r->orcpt, enc);
		}
	}
	client_send(c, "RCPT TO:<%s>%s", addr_of(j, i), params);
}

void
client_start_job(struct client *c, struct djob *j)
{
	const struct envelope *e = &j->env;
	char params[400 + 3 * SMTP_ENVID_MAX] = "";
	size_t o = 0;

	c->job = j;
	c->state = CS_TX;
	c->replies_expected = j->n + 2;
	c->replies_got = 0;
	c->rcpt_sent = 0;
	c->accepted = 0;
	c->mail_ok = 0;
	ev_timer_stop(role.loop, &c->idle_timer);
	evconn_set_timeout(c->conn, (double)role.cfg->delivery_timeout_command);
	if (c->caps & SMTP_EXT_SIZE)
		o += (size_t)snprintf(params + o, sizeof(params) - o, " SIZE=%lld",
		    e->size + envelope_headers_size(e));
	if (e->body == ENV_BODY_8BITMIME && (c->caps & SMTP_EXT_8BITMIME))
		o += (size_t)snprintf(params + o, sizeof(params) - o, " BODY=8BITMIME");
	if (e->smtputf8 && (c->caps & SMTP_EXT_SMTPUTF8))
		o += (size_t)snprintf(params + o, sizeof(params) - o, " SMTPUTF8");
	if ((c->caps & SMTP_EXT_DSN) && e->ret)
		o += (size_t)snprintf(params + o, sizeof(params) - o, " RET=%s",
		    e->ret == ENV_RET_FULL ? "FULL" : "HDRS");
	if ((c->caps & SMTP_EXT_DSN) && e->envid != NULL) {
		char enc[3 * SMTP_ENVID_MAX + 1];

		xtext_encode(e->envid, enc, sizeof(enc));
		o += (size_t)snprintf(params + o, sizeof(params) - o, " ENVID=%s", enc);
	}
	if (e->smtputf8 && !(c->caps & SMTP_EXT_SMTPUTF8)) {
		/* RFC 6531 §3.4: cannot relay a SMTPUTF8 message to a server without it */
		djob_fail_rest(j, ENV_RCPT_FAILED, "5.6.7",
		    "next hop does not support SMTPUTF8, required by this message");
		c->job = NULL;
		c->state = CS_READY;
		delivery_job_done(j, c->peer, c->tlsdesc);
		delivery_client_idle(c);
		return;
	}
	client_send(c, "MAIL FROM:<%s>%s", e->sender, params);
	if (c->caps & SMTP_EXT_PIPELINING) {
		for (uint32_t i = 0; i < j->n; i++)
			send_rcpt(c, i);
		c->rcpt_sent = j->n;
		client_send(c, "DATA");
	}
}

/* The fields the filter asked for (Authentication-Results, X-MailGuard-*), before the stored
 * content. Each is one line of at most ENVELOPE_HEADER_MAX octets (envelope_validate), so no
 * folding is needed and no line starts with a dot. */
static void
write_prepended(struct client *c)
{
	const struct envelope *e = &c->job->env;

	for (size_t i = 0; i < e->n_headers; i++) {
		evconn_write(c->conn, e->headers[i], strlen(e->headers[i]));
		evconn_write(c->conn, "\r\n", 2);
	}
}

/* Streams more of the body (dot-stuffed, bare LF -> CRLF) until the high-water mark. */
static void
body_pump(struct client *c)
{
	char in[BODY_CHUNK], out[BODY_CHUNK * 2 + 8];

	while (!c->body_eof && evconn_out_pending(c->conn) < BODY_HIGH_WATER) {
		ssize_t n = pread(c->job->body_fd, in, sizeof(in), c->body_off);
		size_t o = 0;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			client_abort(c, "4.3.0", "local error reading the message body");
			return;
		}
		if (n == 0) {
			c->body_eof = 1;
			if (!c->body_line_start)
				evconn_write(c->conn, "\r\n", 2);
			evconn_write(c->conn, ".\r\n", 3);
			c->state = CS_DOT;
			evconn_set_timeout(c->conn, (double)role.cfg->delivery_timeout_data);
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			char ch = in[i];

			if (c->body_line_start && ch == '.')
				out[o++] = '.';
			if (ch == '\n' && !c->body_prev_cr)
				out[o++] = '\r';
			out[o++] = ch;
			c->body_prev_cr = ch == '\r';
			c->body_line_start = ch == '\n';
		}
		c->body_off += n;
		evconn_write(c->conn, out, o);
	}
	if (!c->body_eof)
		evconn_notify_drained(c->conn);
}

static void
tx_finish(struct client *c, const struct smtp_reply *r)
{
	struct djob *j = c->job;

	for (uint32_t i = 0; i < j->n; i++)
		if (j->state[i] == -2) {	/* accepted at RCPT: the final reply decides */
			j->state[i] = -1;
			set_rcpt(j, i, r->code < 300 ? ENV_RCPT_DELIVERED : reply_state(r), r, "");
		}
	c->job = NULL;
	c->jobs_done++;
	delivery_job_done(j, c->peer, c->tlsdesc);
	c->state = CS_READY;
	delivery_client_idle(c);
}

/* A reply during a transaction (MAIL, RCPTs, DATA). */
static void
tx_reply(struct client *c, const struct smtp_reply *r)
{
	struct djob *j = c->job;
	uint32_t k = c->replies_got++;

	if (k == 0) {
		c->mail_ok = r->code < 300;
		if (!c->mail_ok)
			for (uint32_t i = 0; i < j->n; i++)
				set_rcpt(j, i, reply_state(r), r, "MAIL FROM: ");
		if (!(c->caps & SMTP_EXT_PIPELINING)) {
			if (!c->mail_ok) {
				client_send(c, "RSET");
				c->state = CS_RSET;
				return;
			}
			send_rcpt(c, c->rcpt_sent++);
		}
		return;
	}
	if (k <= j->n) {
		uint32_t i = k - 1;

		if (r->code < 300 && c->mail_ok) {
			j->state[i] = -2;	/* accepted; final reply after DATA decides */
			c->accepted++;
		} else if (c->mail_ok) {
			set_rcpt(j, i, reply_state(r), r, "RCPT TO: ");
		}
		if (!(c->caps & SMTP_EXT_PIPELINING)) {
			if (c->rcpt_sent < j->n)
				send_rcpt(c, c->rcpt_sent++);
			else if (c->accepted > 0)
				client_send(c, "DATA");
			else {
				client_send(c, "RSET");
				c->state = CS_RSET;
			}
		}
		return;
	}
	/* DATA reply */
	if (r->code == 354) {
		if (c->accepted == 0) {
			/* RFC 2920 §3.1: nobody accepted, yet the server wants data: send nothing */
			evconn_write(c->conn, ".\r\n", 3);
			c->state = CS_DOT;
			return;
		}
		c->state = CS_BODY;
		c->body_off = 0;
		c->body_line_start = 1;
		c->body_prev_cr = 0;
		c->body_eof = 0;
		write_prepended(c);
		body_pump(c);
		return;
	}
	for (uint32_t i = 0; i < j->n; i++)
		if (j->state[i] == -2) {
			j->state[i] = -1;
			set_rcpt(j, i, reply_state(r), r, "DATA: ");
		}
	if (r->code < 400 && c->accepted > 0) {
		client_abort(c, "4.5.0", "protocol error: unexpected reply to DATA");
		return;
	}
	if (c->caps & SMTP_EXT_PIPELINING || c->accepted == 0) {
		/* nothing was accepted or DATA was refused: the transaction is over */
		c->job = NULL;
		c->jobs_done++;
		delivery_job_done(j, c->peer, c->tlsdesc);
		client_send(c, "RSET");
		c->state = CS_RSET;
		return;
	}
	c->job = NULL;
	delivery_job_done(j, c->peer, c->tlsdesc);
	client_send(c, "RSET");
	c->state = CS_RSET;
}

static void
client_reply(struct client *c, const struct smtp_reply *r, unsigned caps,
    unsigned long long size)
{
	switch (c->state) {
	case CS_BANNER:
		if (r->code != 220) {
			client_abort(c, r->code >= 500 ? "4.3.0" : "4.3.0", "server refused the connection");
			return;
		}
		client_ehlo(c);
		return;
	case CS_EHLO:
		if (r->code >= 400) {
			client_send(c, "HELO %s", c->helo);
			c->state = CS_HELO;
			return;
		}
		c->esmtp = 1;
		c->caps = caps;
		c->size_limit = size;
		if (client_wants_tls(c, caps)) {
			client_send(c, "STARTTLS");
			c->state = CS_STARTTLS;
			return;
		}
		if (!c->tls && c->treq >= TREQ_ENCRYPT) {
			client_tls_fail(c, "the server does not offer STARTTLS",
			    "starttls-not-supported", 0);
			return;
		}
		if (!c->tls)
			client_plaintext(c);
		client_ready(c);
		return;
	case CS_HELO:
		if (r->code >= 400) {
			client_abort(c, "4.3.0", "server refused HELO");
			return;
		}
		c->caps = 0;
		if (c->treq >= TREQ_ENCRYPT) {
			client_tls_fail(c, "the server does not support ESMTP (no STARTTLS)",
			    "starttls-not-supported", 0);
			return;
		}
		client_plaintext(c);
		client_ready(c);
		return;
	case CS_STARTTLS:
		if (r->code != 220) {
			char why[400];

			if (c->treq >= TREQ_ENCRYPT) {
				snprintf(why, sizeof(why), "STARTTLS refused: %d %.200s", r->code, r->text);
				client_tls_fail(c, why, "starttls-not-supported", 0);
				return;
			}
			client_plaintext(c);
			client_ready(c);	/* opportunistic: continue without TLS */
			return;
		}
		c->state = CS_TLS;
		/* SNI: the MX host name (RFC 7672 §8.1; RFC 8461 §4.2) */
		if (evconn_start_tls(c->conn, delivery_tls_ctx, 0, c->mxname) < 0 ||
		    policy_tls_setup(c, evconn_ssl(c->conn)) < 0) {
			client_abort(c, "4.7.5", "TLS set-up failed");
			return;
		}
		return;
	case CS_TX:
		tx_reply(c, r);
		return;
	case CS_DOT:
		if (c->accepted == 0) {
			struct djob *j = c->job;

			c->job = NULL;
			delivery_job_done(j, c->peer, c->tlsdesc);
			c->state = CS_READY;
			delivery_client_idle(c);
			return;
		}
		tx_finish(c, r);
		return;
	case CS_RSET:
		if (r->code >= 400) {
			client_quit(c);
			return;
		}
		if (c->job) {
			struct djob *j = c->job;

			c->job = NULL;
			delivery_job_done(j, c->peer, c->tlsdesc);
		}
		c->state = CS_READY;
		delivery_client_idle(c);
		return;
	case CS_QUIT:
		return;
	default:
		client_abort(c, "4.5.0", "protocol error: unexpected reply from server");
		return;
	}
}

static void
client_read(struct client *c)
{
	struct buf *in = evconn_in(c->conn);
	int alive = 1;

	c->alive = &alive;
	while (in->len > 0) {
		struct smtp_reply r;
		unsigned caps = 0;
		unsigned long long size = 0;
		int rc = smtp_reply_parse(buf_slice(in), &r, &caps, &size);
		if (rc == 0)
			break;
		if (rc < 0) {
			client_abort(c, "4.5.0", "protocol error: malformed reply from server");
			return;
		}
		buf_consume(in, r.consumed);
		if (c->state == CS_QUIT)
			continue;
		client_reply(c, &r, caps, size);
		if (!alive)
			return;	/* freed */
	}
	c->alive = NULL;
}

static void
client_cb(struct evconn *conn, enum evconn_event ev, void *arg)
{
	struct client *c = arg;

	(void)conn;
	switch (ev) {
	case EVCONN_CONNECTED:
		c->state = CS_BANNER;
		evconn_set_timeout(c->conn, (double)role.cfg->delivery_timeout_command);
		return;
	case EVCONN_READ:
		client_read(c);
		return;
	case EVCONN_DRAINED:
		if (c->state == CS_BODY)
			body_pump(c);
		return;
	case EVCONN_TLS_DONE: {
		char why[600];
		const char *type;

		c->tls = 1;
		switch (policy_tls_check(c, evconn_ssl(c->conn), why, sizeof(why), &type)) {
		case -1:
			client_tls_fail(c, why, type, 0);
			return;
		case 1:
			log_warn("%s %s: %s", c->job ? c->job->qid : "-", c->peer, why);
			policy_tlsrpt(c, 0, type, why);
			break;
		default:
			policy_tlsrpt(c, 1, "", "");
			break;
		}
		client_ehlo(c);	/* RFC 3207 §4.2: discard knowledge; EHLO again */
		return;
	}
	case EVCONN_TIMEOUT:
		client_abort(c, "4.4.2", c->state == CS_CONNECT ? "connection timed out" :
		    "conversation timed out");
		return;
	case EVCONN_EOF:
	case EVCONN_ERROR:
		if (c->state == CS_TLS && c->treq >= TREQ_ENCRYPT) {
			client_tls_fail(c, "TLS handshake failed", "validation-failure", 1);
			return;
		}
		if (c->state == CS_TLS) {
			policy_tlsrpt(c, 0, "validation-failure", "TLS handshake failed");
			delivery_dest_tls_failed(c->dest);
			if (c->job && !c->job->tls_retry_plain) {
				struct djob *j = c->job;

				j->tls_retry_plain = 1;
				c->job = NULL;
				delivery_requeue(j, c->dest);
			}
			client_abort(c, "4.7.5", "TLS handshake failed");
			return;
		}
		if (c->state == CS_QUIT || (c->state == CS_READY && c->job == NULL)) {
			delivery_client_gone(c, 0, NULL);
			return;
		}
		client_abort(c, c->state == CS_CONNECT ? "4.4.1" : "4.4.2",
		    c->state == CS_CONNECT ? "connection refused or unreachable" :
		    "lost connection with the server");
		return;
	default:
		return;
	}
}

void
client_quit(struct client *c)
{
	c->state = CS_QUIT;
	client_send(c, "QUIT");
	evconn_set_timeout(c->conn, 10);
}
