/* inject_sign.c: DKIM signatures for the messages the queue makes itself (TLS reports, quarantine
 * digests; not bounces, whose null sender signs nothing). When the envelope sender's domain is a
 * protected domain with dkim_sign = yes (or, for messages with the null reverse path such as
 * digests, the domain of the address the caller signs as: the From address), the message goes
 * to the signer (IPC_SIGN_REQUEST on the
 * queue's own channel, exactly what smtpd sends for submitted mail) before it is committed; the
 * DKIM-Signature fields come back as envelope header lines, which delivery writes in front of
 * the content. A message the signer cannot sign (no key, timeout, signer restarting) is committed
 * unsigned with a warning: these reports must not be lost for want of a signature.
 * Queue role, main thread. */
#include <string.h>

#include "common/envelope.h"
#include "common/ipc_msg.h"
#include "common/role.h"
#include "config/config.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"
#include "queue/queue_int.h"

#define SIGN_WAIT 30.0		/* seconds to wait for the signer */
#define SIGN_PENDING_MAX 256	/* beyond that: committed unsigned at once */

struct pending {
	uint32_t id;
	struct qmsg *m;
	struct envelope *env;
	double deadline;
	struct pending *next;
};

static struct {
	struct pending *head;
	size_t n;
	uint32_t next_id;
	ev_timer timer;
	int timer_init;
} ps;

static int
wants_signature(const char *addr)
{
	const struct mg_domain *d;
	char domain[256];

	if (addr == NULL || addr[0] == '\0')
		return 0;
	str_lcpy(domain, envelope_addr_domain(addr), sizeof(domain));
	str_lower(domain);
	return (d = config_domain_find(role.cfg, domain)) != NULL && d->dkim_sign;
}

static void
finish(struct pending *p, const char *headers, const char *why)
{
	if (headers != NULL) {
		const char *s = headers;

		while (*s) {
			const char *nl = strchr(s, '\n');
			size_t len = nl ? (size_t)(nl - s) : strlen(s);
			char *field = xstrndup(s, len);

			envelope_add_header(p->env, field);
			xfree(field);
			s += len + (nl != NULL);
		}
		log_info("%s dkim: signed (queue-made message)", p->m->qid);
	} else {
		log_warn("%s dkim: queue-made message committed unsigned: %s", p->m->qid, why);
	}
	queue_commit_local(p->m, p->env);
	xfree(p);
}

static struct pending *
take(uint32_t id)
{
	for (struct pending **pp = &ps.head; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			struct pending *p = *pp;

			*pp = p->next;
			ps.n--;
			return p;
		}
	return NULL;
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	double now = ev_now(loop);

	(void)w;
	(void)revents;
	for (struct pending **pp = &ps.head; *pp; ) {
		struct pending *p = *pp;

		if (p->deadline > now) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		ps.n--;
		finish(p, NULL, "the signer did not answer within 30 s");
	}
}

void
queue_sign_result(struct ipc_msg *msg)
{
	uint32_t status = ipc_get_u32(msg);
	char *headers = ipc_get_str(msg), *detail = ipc_get_str(msg);
	struct pending *p;

	ipc_msg_end(msg);
	if ((p = take(msg->id)) != NULL)
		finish(p, status == 0 && headers != NULL ? headers : NULL,
		    detail != NULL ? detail : "not signed");
	xfree(headers);
	xfree(detail);
}

void
queue_sign_lost(void)
{
	while (ps.head != NULL) {
		struct pending *p = ps.head;

		ps.head = p->next;
		ps.n--;
		finish(p, NULL, "the signer went away");
	}
}

void
queue_commit_signed(struct qmsg *m, struct envelope *env)
{
	queue_commit_signed_as(m, env, NULL);
}

void
queue_commit_signed_as(struct qmsg *m, struct envelope *env, const char *sign_as)
{
	const char *as = sign_as != NULL ? sign_as : env->sender;
	struct pending *p;
	struct ipc_out o;
	struct buf text;
	int fd, r;

	if (!wants_signature(as))
		goto unsigned_commit;
	if (q.signer == NULL || ps.n >= SIGN_PENDING_MAX) {
		log_warn("%s dkim: queue-made message committed unsigned: %s", m->qid,
		    q.signer == NULL ? "no signer channel" : "too many waiting for the signer");
		goto unsigned_commit;
	}
	buf_init(&text, ENVELOPE_FILE_MAX);
	if (sign_as != NULL) {
		/* the signer signs for an outbound envelope's sender domain: show it one with
		 * the address signed as (the committed envelope keeps its own sender) */
		char *saved = env->sender;
		enum envelope_direction dir = env->direction;

		env->sender = (char *)sign_as;
		env->direction = ENV_OUTBOUND;
		r = envelope_write(env, &text);
		env->sender = saved;
		env->direction = dir;
	} else {
		r = envelope_write(env, &text);
	}
	if (r < 0 || (fd = queue_body_fd(m)) < 0) {
		buf_free(&text);
		log_warn("%s dkim: queue-made message committed unsigned: cannot hand it to the "
		    "signer", m->qid);
		goto unsigned_commit;
	}
	if (!ps.timer_init) {
		ev_timer_init(&ps.timer, timer_cb, 1.0, 1.0);
		ev_timer_start(role.loop, &ps.timer);
		ev_unref(role.loop);
		ps.timer_init = 1;
	}
	p = xcalloc(1, sizeof(*p));
	p->id = ++ps.next_id;
	p->m = m;
	p->env = env;
	p->deadline = ev_now(role.loop) + SIGN_WAIT;
	p->next = ps.head;
	ps.head = p;
	ps.n++;
	ipc_out_init(&o);
	ipc_put_str(&o, "queue");
	ipc_put_str(&o, text.data);
	ipc_send(q.signer, IPC_SIGN_REQUEST, p->id, fd, &o);
	ipc_out_free(&o);
	buf_free(&text);
	return;
unsigned_commit:
	queue_commit_local(m, env);
}
