/* ctl.c: mailguardctl queue commands, served by the queue role for the supervisor's control
 * socket: list, show, flush [QID], delete, hold, release, rates (outbound_rate buckets), tlsrpt (the
 * TLS-RPT counts of the current period), quarantine ... (quarantine_ctl.c). Queue role, main
 * thread. Arguments come from the operator through the supervisor; queue ids are validated
 * before use. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/ipc_msg.h"
#include "lib/log.h"
#include "lib/sanitize.h"
#include "lib/xalloc.h"
#include "queue/queue_int.h"

#define CTL_OUT_MAX (64u * 1024 * 1024)
#define CTL_ARGS_MAX 16

static void
ctl_reply(struct ipc_chan *sup, uint32_t id, int status, struct buf *out)
{
	struct ipc_out o;

	ipc_out_init(&o);
	ipc_put_u32(&o, (uint32_t)status);
	ipc_put_str(&o, out->data ? out->data : "");
	ipc_send(sup, IPC_CTL_REPLY, id, -1, &o);
	ipc_out_free(&o);
}

static const char *
rcpt_state_name(enum envelope_rcpt_state s)
{
	switch (s) {
	case ENV_RCPT_PENDING: return "pending";
	case ENV_RCPT_DELIVERED: return "delivered";
	case ENV_RCPT_FAILED: return "failed";
	case ENV_RCPT_BOUNCED: return "bounced";
	}
	return "?";
}

static void
fmt_time(long long t, char *dst, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0) {
		snprintf(dst, size, "-");
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(dst, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
list_one(struct qmsg *m, struct buf *out, int verbose)
{
	struct envelope env, *e = m->env;
	const char *err;
	char arr[32], next[32], clean[SANITIZE_MAX + 4];
	const char *state = m->quarantined ? "quarantine" : m->held ? "hold" :
	    m->jobs > 0 ? "active" : m->rate_bucket ? "rate-limited" : "deferred";

	if (e == NULL) {
		envelope_init(&env);
		if (spool_read_env(q.spool, m->area, m->qid, &env, &err) < 0) {
			buf_printf(out, "%s unreadable envelope: %s\n", m->qid, err);
			return;
		}
		e = &env;
	}
	fmt_time(e->arrival, arr, sizeof(arr));
	fmt_time(m->next_attempt, next, sizeof(next));
	buf_printf(out, "%s %-8s size=%lld arrival=%s attempts=%d next=%s from=<%s>\n", m->qid, state,
	    e->size, arr, e->attempts, next, sanitize(clean, e->sender, strlen(e->sender)));
	for (size_t i = 0; i < e->n_rcpts; i++) {
		const struct envelope_rcpt *r = &e->rcpts[i];

		if (!verbose && r->state != ENV_RCPT_PENDING)
			continue;
		buf_printf(out, "    to=<%s> %s", sanitize(clean, r->addr, strlen(r->addr)),
		    rcpt_state_name(r->state));
		if (r->status)
			buf_printf(out, " dsn=%s", r->status);
		if (r->diag)
			buf_printf(out, " (%s)", sanitize(clean, r->diag, strlen(r->diag)));
		buf_printf(out, "\n");
	}
	if (e == &env)
		envelope_clear(&env);
}

static void
cmd_list(struct buf *out)
{
	size_t n = 0;

	for (size_t h = 0; h < q.hash_size; h++)
		for (struct qmsg *m = q.hash[h]; m; m = m->hnext) {
			if (m->receiving)
				continue;	/* still being received: not queued yet */
			list_one(m, out, 0);
			n++;
		}
	buf_printf(out, "-- %zu message(s) in the queue\n", n);
}

static int
cmd_show(const char *qid, struct buf *out)
{
	struct qmsg *m = queue_find(qid);
	char line[1024];
	FILE *f;
	int fd, lines = 0;

	if (m == NULL) {
		buf_printf(out, "error: no message %s in the queue\n", qid);
		return 1;
	}
	list_one(m, out, 1);
	if ((fd = queue_body_fd(m)) < 0 || (f = fdopen(fd, "r")) == NULL) {
		buf_printf(out, "error: message body unreadable\n");
		if (fd >= 0)
			close(fd);
		return 1;
	}
	buf_printf(out, "-- headers:\n");
	while (fgets(line, sizeof(line), f) != NULL && lines++ < 200) {
		size_t l = strlen(line);
		char clean[SANITIZE_MAX + 4];

		while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r'))
			line[--l] = '\0';
		if (l == 0)
			break;
		buf_printf(out, "%s\n", sanitize(clean, line, l));
	}
	fclose(f);
	return 0;
}

/* Applies fn to one message id or to every message ("ALL"). */
static int
each_target(const char *arg, struct buf *out, int (*fn)(struct qmsg *m, struct buf *out))
{
	int n = 0;

	if (strcmp(arg, "ALL") == 0) {
		struct qmsg **all = xcalloc(q.n_msgs ? q.n_msgs : 1, sizeof(*all));
		size_t k = 0;

		for (size_t h = 0; h < q.hash_size; h++)
			for (struct qmsg *m = q.hash[h]; m; m = m->hnext)
				if (!m->receiving)
					all[k++] = m;
		for (size_t i = 0; i < k; i++)
			n += fn(all[i], out);
		xfree(all);
	} else {
		struct qmsg *m = queue_find(arg);

		if (m == NULL || m->receiving) {
			buf_printf(out, "error: no message %s in the queue\n", arg);
			return -1;
		}
		n = fn(m, out);
	}
	return n;
}

static int
do_delete(struct qmsg *m, struct buf *out)
{
	buf_printf(out, "%s deleted\n", m->qid);
	log_info("%s deleted by the operator (mailguardctl)", m->qid);
	if (m->jobs > 0) {
		m->deleted = 1;	/* finished when delivery reports */
		return 1;
	}
	queue_forget(m);
	return 1;
}

static int
do_hold(struct qmsg *m, struct buf *out)
{
	m->held = 1;
	sched_remove(m);
	spool_set_hold(q.spool, m->qid, 1);
	buf_printf(out, "%s on hold\n", m->qid);
	log_info("%s put on hold by the operator", m->qid);
	return 1;
}

static int
do_release(struct qmsg *m, struct buf *out)
{
	if (!m->held)
		return 0;
	m->held = 0;
	spool_set_hold(q.spool, m->qid, 0);
	m->next_attempt = 0;
	if (m->jobs == 0)
		sched_push(m);
	buf_printf(out, "%s released\n", m->qid);
	log_info("%s released from hold by the operator", m->qid);
	return 1;
}

static int
do_flush(struct qmsg *m, struct buf *out)
{
	(void)out;
	if (m->held || m->jobs > 0)
		return 0;
	sched_remove(m);
	m->next_attempt = 0;
	sched_push(m);
	return 1;
}

void
ctl_request(struct ipc_chan *sup, struct ipc_msg *msg)
{
	uint32_t argc = ipc_get_u32(msg);
	char *argv[CTL_ARGS_MAX] = { 0 };
	struct buf out;
	int status = 0, n;

	if (argc == 0 || argc > CTL_ARGS_MAX)
		panic("queue: control request with %u arguments", argc);
	for (uint32_t i = 0; i < argc; i++)
		if ((argv[i] = ipc_get_str(msg)) == NULL)
			panic("queue: absent control argument");
	ipc_msg_end(msg);
	buf_init(&out, CTL_OUT_MAX);
	if (strcmp(argv[0], "list") == 0 && argc == 1) {
		cmd_list(&out);
	} else if (strcmp(argv[0], "compact") == 0 && argc == 1) {
		queue_compact(&out);
	} else if (strcmp(argv[0], "rates") == 0 && argc == 1) {
		rate_sched_describe(&out);
	} else if (strcmp(argv[0], "tlsrpt") == 0 && argc == 1) {
		tlsrpt_describe(&out);
	} else if (strcmp(argv[0], "show") == 0 && argc == 2) {
		status = cmd_show(argv[1], &out);
	} else if (strcmp(argv[0], "quarantine") == 0 && argc >= 2) {
		status = quarantine_ctl((int)argc - 1, argv + 1, &out);	/* quarantine_ctl.c */
		sched_kick();
	} else if (strcmp(argv[0], "flush") == 0 && argc == 1) {
		n = each_target("ALL", &out, do_flush);
		buf_printf(&out, "%d message(s) scheduled for immediate delivery\n", n);
		sched_kick();
	} else if (strcmp(argv[0], "flush") == 0 && argc == 2) {
		/* one message (the console's per-message flush); held or active ones are left */
		if ((n = each_target(argv[1], &out, do_flush)) < 0)
			status = 1;
		else
			buf_printf(&out, "%d message(s) scheduled for immediate delivery\n", n);
		sched_kick();
	} else if ((strcmp(argv[0], "delete") == 0 || strcmp(argv[0], "hold") == 0 ||
	    strcmp(argv[0], "release") == 0) && argc == 2) {
		int (*fn)(struct qmsg *, struct buf *) = argv[0][0] == 'd' ? do_delete :
		    argv[0][0] == 'h' ? do_hold : do_release;

		if (each_target(argv[1], &out, fn) < 0)
			status = 1;
		sched_kick();
	} else {
		buf_printf(&out, "error: usage: queue list | show QID | flush [QID] | delete QID|ALL | "
		    "hold QID|ALL | release QID|ALL | rates | tlsrpt | compact | quarantine list|show|release|"
		    "delete ...\n");
		status = 2;
	}
	ctl_reply(sup, msg->id, status, &out);
	buf_free(&out);
	for (uint32_t i = 0; i < argc; i++)
		xfree(argv[i]);
}
