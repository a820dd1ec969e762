/* fuzz_admin_ops.c: libFuzzer target for the console's parsers of control replies
 * (admin/ops_parse.c): `queue list|show` and `dkim status` text, which carries mail-controlled
 * strings. The first input byte picks the parser. Invariants: no crash or leak; an accepted
 * reply respects every cap of admin/ops.h and yields valid queue ids and NUL-terminated
 * fields; a refused one leaves the result empty. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/ops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_queue(const char *text, size_t len)
{
	struct ops_queue q;
	const char *err = NULL;

	if (ops_queue_parse(text, len, &q, &err) < 0) {
		if (err == NULL || q.n != 0 || q.msgs != NULL)
			abort();
		return;
	}
	if (q.n > OPS_QUEUE_MSGS_MAX)
		abort();
	for (size_t i = 0; i < q.n; i++) {
		const struct ops_qmsg *m = &q.msgs[i];

		if (!ops_qid_is_valid(m->qid) || m->sender == NULL || m->n_rcpts > OPS_QUEUE_RCPTS_MAX ||
		    m->n_headers > OPS_HEADERS_MAX)
			abort();
		for (size_t r = 0; r < m->n_rcpts; r++)
			if (m->rcpts[r].addr == NULL || strlen(m->rcpts[r].state) == 0)
				abort();
		(void)ops_qmsg_header(m, "Subject");
	}
	ops_queue_free(&q);
}

static void
fuzz_dkim(const char *text, size_t len)
{
	struct ops_dkim d;
	const char *err = NULL;

	if (ops_dkim_parse(text, len, &d, &err) < 0) {
		if (err == NULL || d.n != 0)
			abort();
		return;
	}
	for (size_t i = 0; i < d.n; i++) {
		if (d.doms[i].n_keys > OPS_DKIM_KEYS_MAX || d.doms[i].n_alerts > OPS_DKIM_ALERTS_MAX)
			abort();
		if (ops_dkim_find(&d, d.doms[i].domain) == NULL)
			abort();
	}
	ops_dkim_free(&d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_dkim((const char *)data + 1, size - 1);
	else
		fuzz_queue((const char *)data + 1, size - 1);
	return 0;
}
