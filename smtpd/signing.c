/* signing.c: smtpd's side of DKIM signing (issue E). At the end of an outbound message whose
 * envelope sender belongs to a protected domain with dkim_sign = yes, smtpd hands a read-only
 * descriptor of the complete message (our Received: first, header_rewrite already applied, so
 * the signature covers the content exactly as delivery will send it after the prepended
 * envelope `header` lines) and the envelope to the signer role (IPC_SIGN_REQUEST), and waits.
 * IPC_SIGN_RESULT brings the DKIM-Signature line(s), which go into the envelope as prepended
 * header lines before the commit; a failure, or a signer that is gone, answers 451 4.3.0 so the
 * client retries (mail of a signing domain never leaves unsigned). smtpd role, main thread;
 * trusts the signer channel after lib/ipc's strict decoding. No key material passes here. */
#include "smtpd/signing.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/envelope.h"
#include "common/ipc_msg.h"
#include "common/role.h"
#include "config/config.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"
#include "smtpd/session.h"

static struct {
	struct ipc_chan *chan;
	int gone;
	uint32_t *pending;	/* request ids sent and not answered (answered if the signer dies) */
	size_t n_pending, cap_pending;
} sgn;

static void
pending_add(uint32_t id)
{
	if (sgn.n_pending == sgn.cap_pending) {
		sgn.cap_pending = sgn.cap_pending ? 2 * sgn.cap_pending : 64;
		sgn.pending = xreallocarray(sgn.pending, sgn.cap_pending, sizeof(*sgn.pending));
	}
	sgn.pending[sgn.n_pending++] = id;
}

static void
pending_remove(uint32_t id)
{
	for (size_t i = 0; i < sgn.n_pending; i++)
		if (sgn.pending[i] == id) {
			sgn.pending[i] = sgn.pending[--sgn.n_pending];
			return;
		}
}

static const char sign_fail_text[] = "Message could not be DKIM-signed, try again later";

/* Answers a message we cannot sign now (the caller is inside input processing). */
static void
sign_fail_now(struct session *s, const char *why)
{
	log_err("%s %s dkim: not signed: %s; answered 451 4.3.0", s->sid, s->env.qid, why);
	session_reply(s, "451 4.3.0 %s", sign_fail_text);
	session_reset_tx(s);
	session_enter_state(s, SS_CMD);
}

static int
must_sign(const struct session *s)
{
	char dom[SMTP_DOMAIN_MAX + 1];
	const struct mg_domain *d;

	if (s->env.direction != ENV_OUTBOUND || s->env.sender == NULL || s->env.sender[0] == '\0')
		return 0;
	str_lcpy(dom, envelope_addr_domain(s->env.sender), sizeof(dom));
	str_lower(dom);
	return (d = config_domain_find(smtpd_cfg(), dom)) != NULL && d->dkim_sign;
}

int
smtpd_sign_start(struct session *s)
{
	struct buf envtext;
	struct ipc_out o;
	char path[64];
	int ro;

	if (!must_sign(s))
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", s->body_fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	close(s->body_fd);
	s->body_fd = -1;
	if (ro < 0) {
		sign_fail_now(s, "cannot reopen the message");
		return 1;
	}
	if (sgn.gone) {
		close(ro);
		sign_fail_now(s, "signer unavailable");
		return 1;
	}
	buf_init(&envtext, 64 * 1024 * 1024);
	if (envelope_write(&s->env, &envtext) < 0) {
		close(ro);
		buf_free(&envtext);
		sign_fail_now(s, "envelope too large");
		return 1;
	}
	s->wait_id = smtpd_req_id(s);
	s->wait = SW_SIGN;
	session_enter_state(s, SS_WAIT);
	ipc_out_init(&o);
	ipc_put_str(&o, s->sid);
	ipc_put_str(&o, envtext.data);
	ipc_send(sgn.chan, IPC_SIGN_REQUEST, s->wait_id, ro, &o);	/* takes ro */
	pending_add(s->wait_id);
	ipc_out_free(&o);
	buf_free(&envtext);
	return 1;
}

/* Hands the outcome to the session like a filter verdict: deliver with the signature lines as
 * prepended headers (then commit), or a temporary failure (451 4.3.0). */
static void
sign_answer(struct session *s, int ok, const char *headers, const char *detail)
{
	struct filter_verdict v;

	memset(&v, 0, sizeof(v));
	str_lcpy(v.score, "-", sizeof(v.score));
	if (ok) {
		log_info("%s %s dkim: %s", s->sid, s->env.qid, detail ? detail : "signed");
		v.action = FILTER_DELIVER;
		v.headers = (char *)headers;
	} else {
		log_err("%s %s dkim: not signed: %s; answered 451 4.3.0", s->sid, s->env.qid,
		    detail ? detail : "signer failed");
		v.action = FILTER_TEMPFAIL;
		str_lcpy(v.enh, "4.3.0", sizeof(v.enh));
		str_lcpy(v.text, sign_fail_text, sizeof(v.text));
	}
	session_on_verdict(s, &v);
}

void
smtpd_sign_timeout(struct session *s)
{
	sign_answer(s, 0, NULL, "the signer did not answer within smtpd_timeout");
}

static void
signer_msg(struct ipc_chan *chan, struct ipc_msg *m, void *arg)
{
	struct session *s;
	uint32_t status;
	char *headers, *detail;

	(void)chan;
	(void)arg;
	if (m->type != IPC_SIGN_RESULT)
		panic("smtpd: unexpected message type %u from signer", m->type);
	status = ipc_get_u32(m);
	headers = ipc_get_str(m);
	detail = ipc_get_str(m);
	ipc_msg_end(m);
	if (status > 1)
		panic("smtpd: signer result with status %u", status);
	pending_remove(m->id);
	if ((s = smtpd_req_session(m->id)) != NULL && s->state == SS_WAIT && s->wait == SW_SIGN)
		sign_answer(s, status == 0 && headers != NULL && headers[0] != '\0', headers, detail);
	/* else the session went away meanwhile */
	xfree(headers);
	xfree(detail);
}

/* The signer died or stopped: messages waiting for a signature get 451 4.3.0. */
static void
signer_closed(struct ipc_chan *chan, void *arg)
{
	(void)chan;
	(void)arg;
	if (sgn.gone)
		return;
	sgn.gone = 1;
	if (!smtpd_is_stopping())
		log_err("smtpd: signer channel closed");
	while (sgn.n_pending > 0) {
		uint32_t id = sgn.pending[--sgn.n_pending];
		struct session *s = smtpd_req_session(id);

		if (s != NULL && s->state == SS_WAIT && s->wait == SW_SIGN && s->wait_id == id)
			sign_answer(s, 0, NULL, "signer unavailable");
	}
}

void
smtpd_signer_open(void)
{
	sgn.chan = ipc_chan_new(role.loop, ROLE_FD_PEER3, "signer", signer_msg, signer_closed, NULL);
}

void
smtpd_signer_reset(int fd)
{
	signer_closed(NULL, NULL);	/* answers what still waits (no-op if already seen) */
	ipc_chan_free(&sgn.chan);
	sgn.chan = ipc_chan_new(role.loop, fd, "signer", signer_msg, signer_closed, NULL);
	sgn.gone = 0;
}
