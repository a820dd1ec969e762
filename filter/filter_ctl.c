/* filter_ctl.c: the filter role's control commands (filter/filter_ctl.h). A request from the
 * supervisor becomes a pool job holding a counted reference to the current configuration
 * generation (filter_gen_ref), so a reload while it runs changes nothing under it; the worker
 * calls the command family's handler (dmarc_ctl_run, tlsrpt_ctl_run), which reads the Berkeley
 * DB tables and may resolve names; the done callback, on the loop, sends IPC_CTL_REPLY and drops
 * the reference. A full pool answers at once with status 1. Filter role: filter_ctl_msg and the
 * done callback on the loop thread, the handlers on a worker. */
#include "filter/filter_ctl.h"

#include <string.h>

#include "common/ipc_msg.h"
#include "common/role.h"
#include "filter/dmarc_ctl.h"
#include "filter/filter_int.h"
#include "filter/tlsrpt_rua.h"
#include "lib/log.h"
#include "lib/xalloc.h"

struct ctl_job {
	struct workq_job w;
	uint32_t id;			/* the supervisor's request id */
	int argc;
	char *argv[FILTER_CTL_ARGS_MAX + 1];
	struct filter_gen *g;		/* counted reference: its cfg */
	struct buf out;
	int status;
};

typedef int ctl_handler_fn(const struct mg_config *cfg, int argc, char **argv, struct buf *out);

static const struct {
	const char *name;
	ctl_handler_fn *run;
} handlers[] = {
	{ "dmarc", dmarc_ctl_run },
	{ "tls-reports", tlsrpt_ctl_run },
};

static void
ctl_reply(uint32_t id, int status, const char *text)
{
	struct ipc_out o;

	if (role.sup == NULL)
		return;
	ipc_out_init(&o);
	ipc_put_u32(&o, (uint32_t)status);
	ipc_put_str(&o, text);
	ipc_send(role.sup, IPC_CTL_REPLY, id, -1, &o);
	ipc_out_free(&o);
}

/* Worker. */
static void
ctl_run(struct workq_job *w, void *ctx)
{
	struct ctl_job *j = (struct ctl_job *)w;

	(void)ctx;
	j->status = 2;
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (strcmp(j->argv[0], handlers[i].name) == 0) {
			j->status = handlers[i].run(j->g->cfg, j->argc, j->argv, &j->out);
			break;
		}
	if (j->status == 2 && j->out.len == 0)
		(void)buf_append_str(&j->out, "error: usage: dmarc ... | tls-reports ...\n");
	/* an append past the cap failed somewhere: the text is incomplete, say so instead */
	if (j->out.len + 4096 >= j->out.max) {
		buf_reset(&j->out);
		(void)buf_append_str(&j->out, "error: the answer exceeds 16 MiB; ask for fewer "
		    "days or use --limit\n");
		j->status = 1;
	}
}

/* Loop. */
static void
ctl_done(struct workq_job *w, int cancelled)
{
	struct ctl_job *j = (struct ctl_job *)w;

	if (cancelled)
		ctl_reply(j->id, 1, "error: the filter is shutting down\n");
	else
		ctl_reply(j->id, j->status, j->out.data != NULL ? j->out.data : "");
	filter_gen_unref(&j->g);
	buf_free(&j->out);
	for (int i = 0; i < j->argc; i++)
		xfree(j->argv[i]);
	xfree(j);
}

void
filter_ctl_msg(struct ipc_chan *chan, struct ipc_msg *msg, void *arg)
{
	struct ctl_job *j;
	uint32_t argc;

	(void)chan;
	(void)arg;
	if (msg->type != IPC_CTL_REQUEST)
		panic("filter: unexpected message type %u from the supervisor", msg->type);
	argc = ipc_get_u32(msg);
	if (argc == 0 || argc > FILTER_CTL_ARGS_MAX)
		panic("filter: control request with %u arguments", argc);
	j = xcalloc(1, sizeof(*j));
	j->id = msg->id;
	j->argc = (int)argc;
	for (uint32_t i = 0; i < argc; i++)
		if ((j->argv[i] = ipc_get_str(msg)) == NULL)
			panic("filter: absent control argument");
	ipc_msg_end(msg);
	j->w.run = ctl_run;
	j->w.done = ctl_done;
	buf_init(&j->out, FILTER_CTL_OUT_MAX);
	if (filter.shutting_down || filter.wq == NULL || filter.gen == NULL) {
		ctl_reply(j->id, 1, "error: the filter is shutting down\n");
		goto drop;
	}
	j->g = filter_gen_ref();
	if (workq_submit(filter.wq, &j->w) < 0) {
		ctl_reply(j->id, 1, "error: the filter's pool is full; try again\n");
		filter_gen_unref(&j->g);
		goto drop;
	}
	return;
drop:
	buf_free(&j->out);
	for (int i = 0; i < j->argc; i++)
		xfree(j->argv[i]);
	xfree(j);
}
