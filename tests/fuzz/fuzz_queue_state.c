/* fuzz_queue_state.c: libFuzzer target for the queue's state files in state_dir, read back at
 * every start: the TLS-RPT aggregate (tlsrpt_state_parse) and the outbound rate buckets
 * (rate_state_parse). The first input byte picks the parser. Invariants: no crash or leak;
 * an accepted input formats to a text that parses again to the same formatted text (a fixed
 * point), and an accepted TLS-RPT aggregate yields a report (JSON and message) for each of its
 * domains; an accepted rate file keeps every value in its documented range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "queue/rate.h"
#include "queue/tlsrpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_tlsrpt(struct slice in)
{
	struct tlsrpt_agg a, b;
	struct buf t1, t2;
	const char *err = NULL;
	struct tlsrpt_meta m = { "Org", "postmaster@mx.test", "mx.test", "postmaster@mx.test", 1 };

	if (tlsrpt_state_parse(in, &a, &err) < 0) {
		if (err == NULL || a.n_dom != 0)
			abort();
		return;
	}
	buf_init(&t1, TLSRPT_STATE_FILE_MAX * 4);
	buf_init(&t2, TLSRPT_STATE_FILE_MAX * 4);
	if (tlsrpt_state_format(&a, &t1) < 0 || tlsrpt_state_parse(buf_slice(&t1), &b, &err) < 0 ||
	    tlsrpt_state_format(&b, &t2) < 0 || t1.len != t2.len ||
	    memcmp(t1.data, t2.data, t1.len) != 0)
		abort();
	for (size_t i = 0; i < a.n_dom && i < 4; i++) {
		struct buf msg;

		buf_init(&msg, 64u * 1024 * 1024);
		if (tlsrpt_report_message(&a, &a.dom[i], &m, "r@x.test", &msg, &err) < 0)
			abort();
		buf_free(&msg);
	}
	tlsrpt_agg_clear(&a);
	tlsrpt_agg_clear(&b);
	buf_free(&t1);
	buf_free(&t2);
}

static void
fuzz_rate(struct slice in)
{
	struct rate_entry *e = NULL, *e2 = NULL;
	size_t n = 0, n2 = 0;
	const char *err = NULL;
	struct buf t;

	if (rate_state_parse(in, &e, &n, &err) < 0) {
		if (err == NULL)
			abort();
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (!(e[i].b.tokens >= 0 && e[i].b.tokens <= 1e9 && e[i].b.stamp >= 0))
			abort();
	buf_init(&t, RATE_STATE_FILE_MAX * 4);
	if (rate_state_format(e, n, &t) < 0 || rate_state_parse(buf_slice(&t), &e2, &n2, &err) < 0 ||
	    n2 != n)
		abort();
	xfree(e);
	xfree(e2);
	buf_free(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice in;

	if (size == 0)
		return 0;
	in = (struct slice){ (const char *)data + 1, size - 1 };
	if (data[0] & 1)
		fuzz_rate(in);
	else
		fuzz_tlsrpt(in);
	return 0;
}
