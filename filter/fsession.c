/* fsession.c: the filter role's per-SMTP-session state, keyed by smtpd's session id, and the
 * smtpd channel's message handlers (IPC_FILTER_CONNECT, MAIL, CHECK, END -> VERDICT).
 * Loop thread only. smtpd is our own process: its frames are decoded strictly by lib/ipc.c and a
 * malformed one panics. Network work starts early (RBL at CONNECT, SPF at MAIL); CHECK waits for
 * both (each bounded by filter_timeout) and then runs the message checks on the pool. Results
 * of a session that ended or moved on to another transaction are dropped (sid + generation). */
#include <arpa/inet.h>
#include <string.h>
#include <unistd.h>

#include "common/metrics.h"
#include "filter/dmarc_rua.h"
#include "filter/filter_int.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define FSESSION_BUCKETS 1024

static struct fsession *buckets[FSESSION_BUCKETS];

static unsigned
sid_hash(const char *sid)
{
	unsigned h = 5381;

	for (; *sid; sid++)
		h = h * 33 + (unsigned char)*sid;
	return h % FSESSION_BUCKETS;
}

void
fsession_init(void)
{
	memset(buckets, 0, sizeof(buckets));
}

struct fsession *
fsession_find(const char *sid)
{
	struct fsession *s;

	for (s = buckets[sid_hash(sid)]; s != NULL; s = s->hnext)
		if (strcmp(s->sid, sid) == 0)
			return s;
	return NULL;
}

static void
set_addr(struct fsession *s, const char *client)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&s->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&s->ss;

	str_lcpy(s->client, client, sizeof(s->client));
	memset(&s->ss, 0, sizeof(s->ss));
	s->has_addr = 1;
	if (inet_pton(AF_INET, client, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, client, &sin6->sin6_addr) == 1)
		sin6->sin6_family = AF_INET6;
	else
		s->has_addr = 0;
}

static struct fsession *
session_new(const char *sid, const char *client, int mynet)
{
	struct fsession *s = xcalloc(1, sizeof(*s));
	unsigned h = sid_hash(sid);

	str_lcpy(s->sid, sid, sizeof(s->sid));
	s->gen = ++filter.next_gen;
	s->mynet = mynet;
	set_addr(s, client != NULL ? client : "");
	s->hnext = buckets[h];
	buckets[h] = s;
	return s;
}

static void
session_free(struct fsession *s)
{
	struct fsession **pp;

	for (pp = &buckets[sid_hash(s->sid)]; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	rbl_cancel(s);
	if (s->waiting != NULL)
		check_job_free(&s->waiting);
	xfree(s);
}

void
fsession_free_all(void)
{
	for (size_t i = 0; i < FSESSION_BUCKETS; i++)
		while (buckets[i] != NULL)
			session_free(buckets[i]);
}

/* ---- verdicts ---- */

static void
send_verdict(uint32_t req, enum filter_action action, const char *status, const char *text,
    const struct filter_score *score, const char *headers, const char *detail,
    const char *consumed)
{
	struct ipc_out o;
	struct buf sym;
	char total[32];

	if (filter.smtpd == NULL)
		return;
	buf_init(&sym, 8192);
	if (score != NULL)
		(void)filter_score_symbols(score, &sym);
	str_fmt(total, sizeof(total), "%.2f", score != NULL ? score->total + 0.0 : 0.0);
	ipc_out_init(&o);
	ipc_put_u32(&o, (uint32_t)action);
	ipc_put_str(&o, status);
	ipc_put_str(&o, text);
	ipc_put_str(&o, total);
	ipc_put_str(&o, sym.data != NULL ? sym.data : "");
	ipc_put_str(&o, headers != NULL ? headers : "");
	ipc_put_str(&o, detail != NULL ? detail : "");
	ipc_put_str(&o, consumed != NULL ? consumed : "");
	ipc_send(filter.smtpd, IPC_FILTER_VERDICT, req, -1, &o);
	ipc_out_free(&o);
	buf_free(&sym);
}

static void
log_verdict(const struct check_job *j)
{
	struct buf sym;

	buf_init(&sym, 8192);
	(void)filter_score_symbols(&j->score, &sym);
	log_info("%s %s filter action=%s score=%.2f symbols=%s elapsed_ms=%lld%s%s", j->sid,
	    j->env.qid[0] ? j->env.qid : "NOQUEUE", filter_action_name(j->action),
	    j->score.total + 0.0, sym.len ? sym.data : "-", mg_dns_now_ms() - j->start_ms,
	    j->detail[0] ? " detail=" : "", j->detail);
	buf_free(&sym);
}

void
fsession_send_verdict(struct check_job *j)
{
	log_verdict(j);
	metrics_observe(MH_FILTER_SECONDS, (double)(mg_dns_now_ms() - j->start_ms) / 1000.0);
	send_verdict(j->req, j->action, j->status, j->text, &j->score,
	    j->headers.data != NULL ? j->headers.data : "", j->detail,
	    j->consumed.data != NULL ? j->consumed.data : "");
}

static void
check_done(struct workq_job *w, int cancelled)
{
	struct check_job *j = (struct check_job *)w;
	struct fsession *s = fsession_find(j->sid);

	/* The verdict answers smtpd's request id, so it is sent even if the session moved on;
	 * only a session that ended (smtpd no longer waits) drops it. */
	if (!cancelled && s != NULL)
		fsession_send_verdict(j);
	else
		log_debug("%s filter: dropped a verdict for an ended session", j->sid);
	check_job_free(&j);
}

static void
submit_check(struct fsession *s, struct check_job *j)
{
	j->w.run = check_job_run;
	j->w.done = check_done;
	/* An early SPF result counts only if it was computed for the client the envelope names
	 * (XCLIENT may have changed it after CONNECT). */
	if (s->spf_state == 2 && j->env.client_addr != NULL &&
	    strcmp(j->env.client_addr, s->client) == 0) {
		j->spf_done = 1;
		j->spf = s->spf;
	}
	filter_score_merge(&j->rbl, &s->rbl_score);
	if (workq_submit(filter.wq, &j->w) < 0) {
		j->action = FILTER_TEMPFAIL;
		str_lcpy(j->status, "4.3.2", sizeof(j->status));
		str_lcpy(j->text, "Filter busy, try again later", sizeof(j->text));
		str_lcpy(j->detail, "pool full", sizeof(j->detail));
		fsession_send_verdict(j);
		check_job_free(&j);
	}
}

void
fsession_progress(struct fsession *s)
{
	struct check_job *j;

	if (s->waiting == NULL || s->rbl_pending > 0 || s->spf_state == 1)
		return;
	j = s->waiting;
	s->waiting = NULL;
	submit_check(s, j);
}

/* ---- SPF at MAIL ---- */

static void
spf_done(struct workq_job *w, int cancelled)
{
	struct spf_job *j = (struct spf_job *)w;
	struct fsession *s = fsession_find(j->sid);

	if (!cancelled && s != NULL && s->gen == j->gen) {
		s->spf = j->res;
		s->spf_state = 2;
		fsession_progress(s);
	}
	spf_job_free(&j);
}

/* ---- handlers ---- */

static void
handle_connect(struct ipc_msg *msg)
{
	char sid[17], client[64];
	uint32_t flags;
	struct fsession *s;

	ipc_get_strbuf(msg, sid, sizeof(sid));
	ipc_get_strbuf(msg, client, sizeof(client));
	flags = ipc_get_u32(msg);
	ipc_msg_end(msg);
	if ((s = fsession_find(sid)) != NULL)
		session_free(s);
	s = session_new(sid, client, (flags & FILTER_CLIENT_MYNETWORKS) != 0);
	rbl_start(s, filter.gen->cfg);
}

static void
handle_mail(struct ipc_msg *msg)
{
	char sid[17];
	char *helo, *sender;
	struct fsession *s;
	struct spf_job *j;

	ipc_get_strbuf(msg, sid, sizeof(sid));
	helo = ipc_get_str(msg);
	sender = ipc_get_str(msg);
	ipc_msg_end(msg);
	if ((s = fsession_find(sid)) == NULL)
		s = session_new(sid, "", 0);
	s->gen = ++filter.next_gen;	/* a new transaction: older SPF results are stale */
	s->spf_state = 0;
	if (s->waiting != NULL)
		check_job_free(&s->waiting);
	/* SPF feeds the SPF layer and DMARC (RFC 7489 §4.2); with both off globally no recipient
	 * needs it */
	if (!s->mynet && s->has_addr && (~filter.gen->cfg->disable_layers &
	    (MG_LAYER_SPF | MG_LAYER_DMARC)) != 0) {
		j = spf_job_new(s, helo != NULL ? helo : "", sender != NULL ? sender : "",
		    mg_dns_now_ms() + filter.gen->cfg->filter_timeout * 1000);
		j->w.run = spf_job_run;
		j->w.done = spf_done;
		if (workq_submit(filter.wq, &j->w) == 0)
			s->spf_state = 1;
		else
			spf_job_free(&j);	/* the CHECK job will evaluate SPF itself */
	}
	xfree(helo);
	xfree(sender);
}

static void
handle_check(struct ipc_msg *msg)
{
	char sid[17];
	char *text;
	const char *err;
	struct fsession *s;
	struct check_job *j = xcalloc(1, sizeof(*j));
	struct filter_gen *g;

	j->fd = msg->fd;
	msg->fd = -1;
	j->req = msg->id;
	ipc_get_strbuf(msg, sid, sizeof(sid));
	text = ipc_get_str(msg);
	ipc_msg_end(msg);
	str_lcpy(j->sid, sid, sizeof(j->sid));
	j->start_ms = mg_dns_now_ms();
	envelope_init(&j->env);
	buf_init(&j->headers, 8192);
	buf_init(&j->consumed, 64 * 1024);
	g = j->g = filter_gen_ref();
	j->deadline_ms = j->start_ms + g->cfg->filter_timeout * 1000;
	if (text == NULL || j->fd < 0 ||
	    envelope_parse(slice_from_str(text), &j->env, &err) < 0 || j->env.n_rcpts == 0)
		panic("filter: bad IPC_FILTER_CHECK from smtpd (%s)",
		    text == NULL ? "no envelope" : j->fd < 0 ? "no fd" : "envelope");
	xfree(text);
	j->rua = dmarc_rua_submit(g->cfg, &j->env, j->fd, sid);	/* incoming reports */
	if ((s = fsession_find(sid)) == NULL)
		s = session_new(sid, j->env.client_addr != NULL ? j->env.client_addr : "", 0);
	j->gen = s->gen;
	j->mynet = s->mynet;
	if (j->env.client_addr != NULL && strcmp(j->env.client_addr, s->client) != 0) {
		struct fsession tmp;

		memset(&tmp, 0, sizeof(tmp));
		set_addr(&tmp, j->env.client_addr);
		j->ss = tmp.ss;
		j->has_addr = tmp.has_addr;
	} else if (s->has_addr) {
		j->ss = s->ss;
		j->has_addr = 1;
	}
	if (s->waiting != NULL)
		panic("filter: two CHECKs in flight for session %s", sid);
	s->waiting = j;
	fsession_progress(s);
}

static void
handle_end(struct ipc_msg *msg)
{
	char sid[17];
	struct fsession *s;

	ipc_get_strbuf(msg, sid, sizeof(sid));
	ipc_msg_end(msg);
	if ((s = fsession_find(sid)) != NULL)
		session_free(s);
}

void
filter_smtpd_msg(struct ipc_chan *chan, struct ipc_msg *msg, void *arg)
{
	(void)chan;
	(void)arg;
	switch (msg->type) {
	case IPC_FILTER_CONNECT: handle_connect(msg); break;
	case IPC_FILTER_MAIL: handle_mail(msg); break;
	case IPC_FILTER_CHECK: handle_check(msg); break;
	case IPC_FILTER_END: handle_end(msg); break;
	default: panic("filter: unexpected message type %u from smtpd", msg->type);
	}
}
