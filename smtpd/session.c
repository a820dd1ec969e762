/* session.c: one SMTP server session: lifecycle, the input loop that splits command lines and
 * hands DATA/BDAT bytes to the body writer, reply formatting, state transitions (each logged at
 * debug), and the continuation of a session when the queue answers. smtpd role, main thread.
 * Peer bytes are untrusted: command lines are capped (RFC 5321 §4.5.3.1.4, two tiers), bare LF/CR
 * closes the session (SMTP smuggling defence), early pipelining where not permitted is refused. */
#include "smtpd/session.h"
#include "smtpd/signing.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/limits.h"
#include "common/metrics.h"
#include "common/tls.h"
#include "config/config.h"
#include "lib/log.h"
#include "lib/sanitize.h"
#include "lib/xalloc.h"
#include "smtpd/sasl.h"

static const char *const state_names[] = { "cmd", "data", "bdat", "wait", "tls", "closing" };

/* Replies waiting to be sent past which no more input is processed: a client that pipelines
 * commands without reading the replies must not grow our output buffer (RFC 2920 §3.1 lets the
 * server stop reading; Postfix blocks on the write). Input resumes once the output drained.
 * Belongs in common/limits.h with the other caps. */
#define SESSION_OUTPUT_PAUSE 65536
/* Time allowed for the TLS handshake of an implicit-TLS (submissions) connection, before the
 * greeting: RFC 8314 §3.3 leaves it to the server; 30 s like a greeting timeout. */
#define SESSION_TLS_HANDSHAKE_TIMEOUT 30.0

static const char *const kind_names[] = { "smtp", "submission", "submissions" };

static void session_conn_cb(struct evconn *c, enum evconn_event ev, void *arg);

static void
session_make_id(char sid[17])
{
	static uint64_t base, counter;
	uint64_t v;

	if (base == 0 && getrandom(&base, sizeof(base), 0) != sizeof(base))
		base = (uint64_t)getpid() << 32;
	v = base + (++counter * 0x9e3779b97f4a7c15ULL);
	snprintf(sid, 17, "%016llx", (unsigned long long)v);
}

struct session *
session_new(int fd, const struct sockaddr *sa, socklen_t salen, uint32_t slot,
    enum listener_kind kind)
{
	struct session *s = xcalloc(1, sizeof(*s));
	const struct mg_config *cfg = smtpd_cfg();

	s->slot = slot;
	s->kind = kind;
	(void)salen;
	session_set_client(s, sa);
	session_make_id(s->sid);
	s->body_fd = -1;
	envelope_init(&s->env);
	buf_init(&s->wbuf, 1 << 20);
	s->conn = evconn_new(ev_default_loop(0), fd, SMTP_PIPELINE_MAX, session_conn_cb, s);
	evconn_set_timeout(s->conn, (double)cfg->smtpd_timeout);
	log_info("%s NOQUEUE connect client=%s mynetworks=%s listener=%s", s->sid, s->peer_addr,
	    s->is_mynetwork ? "yes" : "no", kind_names[kind]);
	smtpd_filter_connect(s);
	if (kind == LISTENER_SUBMISSIONS) {
		/* RFC 8314 §3.3: TLS first; the greeting comes once the handshake is done. */
		session_enter_state(s, SS_TLS);
		evconn_set_timeout(s->conn, SESSION_TLS_HANDSHAKE_TIMEOUT);
		if (smtpd_tls_ctx() == NULL || evconn_start_tls(s->conn, smtpd_tls_ctx(), 1, NULL) < 0) {
			log_err("%s client=%s implicit TLS not available; closing", s->sid, s->peer_addr);
			session_enter_state(s, SS_CLOSING);
			evconn_read_enable(s->conn, 0);
			evconn_notify_drained(s->conn);
		}
		return s;
	}
	session_greet(s);
	return s;
}

void
session_set_client(struct session *s, const struct sockaddr *sa)
{
	memset(&s->peer, 0, sizeof(s->peer));
	if (sa->sa_family == AF_INET) {
		memcpy(&s->peer, sa, sizeof(struct sockaddr_in));
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, s->peer_addr,
		    sizeof(s->peer_addr));
	} else {
		memcpy(&s->peer, sa, sizeof(struct sockaddr_in6));
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, s->peer_addr,
		    sizeof(s->peer_addr));
	}
	s->is_mynetwork = config_is_mynetwork(smtpd_cfg(), sa);
	if (s->sid[0])
		log_info("%s NOQUEUE xclient client=%s mynetworks=%s", s->sid, s->peer_addr,
		    s->is_mynetwork ? "yes" : "no");
}

void
session_free(struct session *s)
{
	session_reset_tx(s);
	session_auth_free(s);
	smtpd_filter_end(s);
	log_info("%s NOQUEUE disconnect client=%s in=%llu out=%llu", s->sid, s->peer_addr,
	    evconn_bytes_in(s->conn), evconn_bytes_out(s->conn));
	evconn_free(&s->conn);
	envelope_clear(&s->env);
	buf_free(&s->wbuf);
	smtpd_session_closed(s);
	xfree(s);
}

void
session_enter_state(struct session *s, enum session_state st)
{
	if (log_get_level() >= LOG_LVL_DEBUG)
		log_debug("%s state %s -> %s", s->sid, state_names[s->state], state_names[st]);
	s->state = st;
}

static void
session_vreply(struct session *s, const char *fmt, va_list ap)
{
	char line[1024];
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);

	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	if (evconn_write(s->conn, line, (size_t)n) < 0)
		log_warn("%s client=%s output overflow", s->sid, s->peer_addr);
	if (line[0] == '4' || line[0] == '5') {
		char clean[SANITIZE_MAX + 4];

		log_info("%s %s reject client=%s reply=\"%s\"", s->sid,
		    s->env.qid[0] ? s->env.qid : "NOQUEUE", s->peer_addr, sanitize(clean, line, (size_t)n - 2));
	}
}

void
session_reply(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	session_vreply(s, fmt, ap);
	va_end(ap);
}

void
session_close_with(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	session_vreply(s, fmt, ap);
	va_end(ap);
	session_enter_state(s, SS_CLOSING);
	evconn_read_enable(s->conn, 0);
	evconn_notify_drained(s->conn);
}

void
session_reset_tx(struct session *s)
{
	if (s->body_fd >= 0) {
		close(s->body_fd);
		s->body_fd = -1;
	}
	if (s->env.qid[0] && s->wait != SW_COMMIT)
		smtpd_queue_abort(s->env.qid);
	envelope_clear(&s->env);
	envelope_init(&s->env);
	buf_reset(&s->wbuf);
	buf_free(&s->rw_hdr);
	s->rw_active = 0;
	s->in_tx = 0;
	s->rcpt_seen = 0;
	s->used_bdat = 0;
	s->body_size = 0;
	s->body_flags = 0;
}

void
session_shutdown(struct session *s, int queue_gone)
{
	if (s->state == SS_CLOSING)
		return;
	if (s->state == SS_WAIT && !queue_gone)
		return;	/* let the queue answer first; the answer ends the session */
	if (s->state == SS_WAIT && s->wait == SW_COMMIT)
		s->env.qid[0] = '\0';	/* maybe committed: never abort it (the client retries) */
	s->wait = SW_NONE;
	session_close_with(s, "421 4.3.2 %s Service shutting down, try again later",
	    smtpd_cfg()->hostname);
}

/* Goes on with the input after a queue answer, or ends the session if the smtpd is stopping. */
static void
session_resume(struct session *s)
{
	if (smtpd_is_stopping()) {
		session_shutdown(s, 0);
		return;
	}
	session_process_input(s);
}

static int
session_output_full(struct session *s)
{
	return evconn_out_pending(s->conn) >= SESSION_OUTPUT_PAUSE;
}

/* Finds the next complete command line; returns its length without CRLF, or -1 if incomplete.
 * Sets *bare when the line ends in a bare LF. */
static long
session_next_line(struct buf *in, int *bare)
{
	char *lf = memchr(in->data, '\n', in->len);
	size_t n;

	if (lf == NULL)
		return -1;
	n = (size_t)(lf - in->data);
	*bare = !(n > 0 && in->data[n - 1] == '\r');
	return (long)(*bare ? n : n - 1);
}

/* An AUTH command or response of n octets (consumed with its CRLF): copied out of the input,
 * handed to auth.c, then wiped (it may hold a password). */
static void
session_auth_input(struct session *s, struct buf *in, size_t n, size_t consumed)
{
	char *line;

	if (n > SASL_LINE_MAX) {
		xwipe(in->data, consumed);
		buf_consume(in, consumed);
		s->auth_step = AUTH_STEP_NONE;
		session_reply(s, "500 5.5.6 Authentication Exchange line is too long");
		s->errors++;
		return;
	}
	line = xmemdup(in->data, n + 1);
	line[n] = '\0';
	xwipe(in->data, consumed);
	buf_consume(in, consumed);
	session_auth_line(s, (struct slice){ line, n });
	xwipe(line, n);
	xfree(line);
}

static void
session_process_commands(struct session *s)
{
	struct buf *in = evconn_in(s->conn);

	while (s->state == SS_CMD && in->len > 0 && !session_output_full(s)) {
		int bare = 0;
		long n = session_next_line(in, &bare);
		size_t consumed;

		if (n < 0) {
			/* RFC 4954 §4: AUTH lines may be longer (SASL_LINE_MAX) than commands. */
			size_t abs_max = session_auth_wants(s, in->data, in->len) ?
			    SASL_LINE_MAX + 2 : SMTP_CMD_LINE_ABS_MAX;

			if (in->len >= abs_max) {
				session_close_with(s, "500 5.5.2 %s Line too long; closing connection",
				    smtpd_cfg()->hostname);
			}
			return;
		}
		consumed = (size_t)n + (bare ? 1 : 2);
		if (bare) {
			session_close_with(s, "521 5.5.2 %s Bare <LF> received; CRLF required "
			    "(RFC 5321 section 2.3.8)", smtpd_cfg()->hostname);
			return;
		}
		if (memchr(in->data, '\r', (size_t)n) != NULL) {
			session_close_with(s, "521 5.5.2 %s Bare <CR> received; CRLF required "
			    "(RFC 5321 section 2.3.8)", smtpd_cfg()->hostname);
			return;
		}
		if (session_auth_wants(s, in->data, (size_t)n)) {
			session_auth_input(s, in, (size_t)n, consumed);
		} else if (consumed > SMTP_CMD_LINE_MAX) {
			buf_consume(in, consumed);
			session_reply(s, "500 5.5.2 Line too long (limit %d octets)", SMTP_CMD_LINE_MAX);
			s->errors++;
		} else {
			char line[SMTP_CMD_LINE_MAX + 1];

			memcpy(line, in->data, (size_t)n);
			line[n] = '\0';
			buf_consume(in, consumed);
			session_command(s, (struct slice){ line, (size_t)n });
		}
		if (s->errors >= SMTP_ERRORS_MAX && s->state != SS_CLOSING) {
			metrics_inc(M_SMTP_REFUSED_LIMIT, 1);
			session_close_with(s, "421 4.7.0 %s Too many errors; closing connection",
			    smtpd_cfg()->hostname);
		}
	}
}

void
session_process_input(struct session *s)
{
	for (;;) {
		switch (s->state) {
		case SS_CMD:
			session_process_commands(s);
			if (s->state == SS_CMD || s->state == SS_CLOSING || s->state == SS_WAIT ||
			    s->state == SS_TLS)
				goto out;
			break;	/* DATA or BDAT: continue with the body */
		case SS_DATA:
		case SS_BDAT:
			if (!session_data_consume(s))
				goto out;
			break;
		default:
			goto out;
		}
	}
out:
	/* Pause reading while we cannot consume; resume in SS_CMD/SS_DATA/SS_BDAT. */
	if ((s->state == SS_CMD || s->state == SS_DATA || s->state == SS_BDAT) &&
	    session_output_full(s)) {
		evconn_read_enable(s->conn, 0);
		evconn_notify_drained(s->conn);		/* EVCONN_DRAINED resumes input */
		return;
	}
	evconn_read_enable(s->conn, s->state == SS_CMD || s->state == SS_DATA || s->state == SS_BDAT);
}

static void
session_conn_cb(struct evconn *c, enum evconn_event ev, void *arg)
{
	struct session *s = arg;

	(void)c;
	switch (ev) {
	case EVCONN_READ:
		session_process_input(s);
		return;
	case EVCONN_DRAINED:
		if (s->state == SS_CLOSING) {
			session_free(s);
			return;
		}
		if (s->state == SS_TLS) {
			if (evconn_start_tls(s->conn, smtpd_tls_ctx(), 1, NULL) < 0) {
				log_err("%s TLS set-up failed", s->sid);
				session_free(s);
			}
			return;
		}
		if (s->state == SS_CMD || s->state == SS_DATA || s->state == SS_BDAT)
			session_process_input(s);	/* output drained: input paused by us */
		return;
	case EVCONN_TLS_DONE: {
		char desc[128];

		tls_describe(evconn_ssl(s->conn), desc, sizeof(desc));
		log_info("%s NOQUEUE tls client=%s %s", s->sid, s->peer_addr, desc);
		metrics_inc(M_TLS_INBOUND, 1);
		if (s->kind == LISTENER_SUBMISSIONS && !s->tls) {
			/* implicit TLS: now the greeting (nothing was learnt before TLS) */
			s->tls = 1;
			evconn_set_timeout(s->conn, (double)smtpd_cfg()->smtpd_timeout);
			session_enter_state(s, SS_CMD);
			session_greet(s);
			session_process_input(s);
			return;
		}
		s->tls = 1;
		/* RFC 3207 §4.2: forget everything learnt before TLS. */
		s->has_helo = 0;
		s->esmtp = 0;
		session_reset_tx(s);
		session_enter_state(s, SS_CMD);
		session_process_input(s);
		return;
	}
	case EVCONN_TIMEOUT:
		if (s->state == SS_WAIT) {
			evconn_set_timeout(s->conn, (double)smtpd_cfg()->smtpd_timeout);
			if (s->wait == SW_SIGN)
				smtpd_sign_timeout(s);	/* the queue and filter answer by deadline */
			return;	/* our own wait */
		}
		log_info("%s %s timeout client=%s state=%s", s->sid, s->env.qid[0] ? s->env.qid : "NOQUEUE",
		    s->peer_addr, state_names[s->state]);
		if (s->state == SS_CLOSING || s->state == SS_TLS) {
			session_free(s);
			return;
		}
		session_close_with(s, "421 4.4.2 %s Error: timeout exceeded", smtpd_cfg()->hostname);
		evconn_set_timeout(s->conn, 10);
		return;
	case EVCONN_EOF:
	case EVCONN_ERROR:
		if (ev == EVCONN_ERROR)
			log_info("%s %s client=%s connection error: %s", s->sid,
			    s->env.qid[0] ? s->env.qid : "NOQUEUE", s->peer_addr, evconn_error(c));
		else if (s->state == SS_DATA || s->state == SS_BDAT)
			log_info("%s %s client=%s lost connection during %s", s->sid,
			    s->env.qid[0] ? s->env.qid : "NOQUEUE", s->peer_addr, state_names[s->state]);
		if (s->state == SS_WAIT && s->wait == SW_COMMIT) {
			/* the queue may still commit; its answer will find no session */
		}
		session_free(s);
		return;
	default:
		return;
	}
}

/* Replies with the queue's refusal; 421 closes the session (RFC 5321 §3.8). */
static void
session_queue_failed(struct session *s, int code, const char *enh, const char *text)
{
	if (code == 421) {
		session_close_with(s, "%d %s %s", code, enh, text);
		return;
	}
	session_reply(s, "%d %s %s", code, enh, text);
	session_resume(s);
}

void
session_on_created(struct session *s, const char *qid, int fd, int sync)
{
	snprintf(s->env.qid, sizeof(s->env.qid), "%s", qid);
	s->body_fd = fd;
	s->wait = SW_NONE;
	if (smtpd_is_stopping()) {
		session_enter_state(s, SS_CMD);
		session_shutdown(s, 0);	/* the file is aborted when the session ends */
		return;
	}
	session_body_begin(s);
	if (s->used_bdat) {
		session_enter_state(s, SS_BDAT);
	} else {
		session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
		session_data_begin(s);
	}
	if (!sync)
		session_process_input(s);
}

void
session_on_create_failed(struct session *s, int code, const char *enh, const char *text)
{
	s->wait = SW_NONE;
	if (s->used_bdat) {
		/* the chunk still has to be read and dropped */
		s->body_flags |= BODY_WRITE_ERR;
		s->bdat_discard = 1;
		session_enter_state(s, SS_BDAT);
		session_process_input(s);
		return;
	}
	session_reset_tx(s);
	session_enter_state(s, SS_CMD);
	session_queue_failed(s, code, enh, text);
}

void
session_on_committed(struct session *s)
{
	char clean[SANITIZE_MAX + 4];

	s->wait = SW_NONE;
	log_info("%s %s queued from=<%s> nrcpt=%zu size=%lld client=%s helo=%s", s->sid, s->env.qid,
	    sanitize(clean, s->env.sender, strlen(s->env.sender)), s->env.n_rcpts, s->env.size,
	    s->peer_addr, s->env.helo ? s->env.helo : "");
	session_reply(s, "250 2.0.0 Ok: queued as %s", s->env.qid);
	if (s->env.direction == ENV_OUTBOUND)
		metrics_inc(M_MESSAGES_OUTBOUND_IN, 1);
	else if (s->auth_user != NULL || s->is_mynetwork)	/* trusted: no filter verdict */
		metrics_inc_rcpt_domains(MD_IN_DELIVER, &s->env, 1);
	s->env.qid[0] = '\0';	/* committed: no abort on reset */
	session_reset_tx(s);
	session_enter_state(s, SS_CMD);
	session_resume(s);
}

/* Copies the filter's header lines ('\n'-separated) into the envelope, skipping any that
 * would not pass envelope_validate (the filter is trusted, but its fields must fit). */
static void
add_filter_headers(struct session *s, const char *text)
{
	while (text != NULL && *text != '\0') {
		const char *nl = strchr(text, '\n');
		size_t n = nl ? (size_t)(nl - text) : strlen(text);

		if (n > 0 && n <= ENVELOPE_HEADER_MAX && s->env.n_headers < ENVELOPE_HEADERS_MAX) {
			char *h = xstrndup(text, n);

			envelope_add_header(&s->env, h);
			xfree(h);
		}
		text = nl ? nl + 1 : NULL;
	}
}

/* Recipients the filter consumed (their reports are stored; issue I): recorded delivered so
 * the queue skips them; a message left with none pending is done at once. */
static void
mark_consumed(struct session *s, const char *consumed)
{
	char clean[SANITIZE_MAX + 4];
	long long now = (long long)time(NULL);

	for (size_t i = 0; i < s->env.n_rcpts; i++) {
		struct envelope_rcpt *r = &s->env.rcpts[i];
		size_t n = strlen(r->addr);

		for (const char *p = consumed; *p != '\0';) {
			const char *nl = strchr(p, '\n');
			size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

			if (len == n && strncasecmp(p, r->addr, n) == 0 &&
			    r->state == ENV_RCPT_PENDING) {
				envelope_rcpt_set_result(r, ENV_RCPT_DELIVERED, "2.0.0",
				    "report stored by MailGuard (dmarc_rua_keep = no)", NULL, now);
				log_info("%s %s to=<%s> status=consumed reason=\"report stored\"",
				    s->sid, s->env.qid, sanitize(clean, r->addr, n));
				break;
			}
			p += len + (nl != NULL);
		}
	}
}

void
session_on_verdict(struct session *s, const struct filter_verdict *v)
{
	char clean[SANITIZE_MAX + 4];

	s->wait = SW_NONE;
	session_enter_state(s, SS_CMD);
	if (v->action == FILTER_DELIVER || v->action == FILTER_QUARANTINE) {
		add_filter_headers(s, v->headers);
		if (v->action == FILTER_QUARANTINE) {
			char q[ENVELOPE_DIAG_MAX + 1];

			snprintf(q, sizeof(q), "score=%s symbols=%s", v->score,
			    v->symbols ? v->symbols : "");
			for (char *c = q; *c; c++)
				if (*c == '\r' || *c == '\n')
					*c = ' ';
			s->env.quarantine = xstrdup(q);
		}
		if (v->action == FILTER_DELIVER && v->consumed != NULL && v->consumed[0] != '\0')
			mark_consumed(s, v->consumed);
		session_commit(s);
		return;
	}
	log_info("%s %s milter-reject from=<%s> action=%s score=%s reply=%d %s", s->sid, s->env.qid,
	    sanitize(clean, s->env.sender, strlen(s->env.sender)),
	    v->action == FILTER_REJECT ? "reject" : v->action == FILTER_GREYLIST ? "greylist" :
	    "tempfail", v->score, v->action == FILTER_REJECT ? 550 : 451, v->enh);
	session_reply(s, "%d %s %s", v->action == FILTER_REJECT ? 550 : 451, v->enh, v->text);
	session_reset_tx(s);
	session_resume(s);
}

void
session_on_filter_failed(struct session *s)
{
	s->wait = SW_NONE;
	session_enter_state(s, SS_CMD);
	session_reply(s, "451 4.3.2 Content filter unavailable, try again later");
	session_reset_tx(s);
	session_resume(s);
}

void
session_on_commit_failed(struct session *s, int code, const char *enh, const char *text)
{
	s->wait = SW_NONE;
	s->env.qid[0] = '\0';	/* the queue already removed it */
	session_reset_tx(s);
	session_enter_state(s, SS_CMD);
	session_queue_failed(s, code, enh, text);
}
