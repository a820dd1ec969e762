/* fuzz_quarantine_query.c: libFuzzer target for the quarantine store's parsers of outside data
 * (queue/quarantine_query.c, quarantine_rec.c). The first input byte picks one:
 *   0: search words (split at spaces), as mailguardctl or the console send them; an accepted
 *      query is run against a fixed record and its JSON output formatted;
 *   1: an index value read back from Berkeley DB; an accepted value must re-encode to exactly
 *      the input (the decoder takes only canonical text) and its strings must be clean;
 *   2: quar_clean on arbitrary bytes: the output is clean UTF-8 within the cap.
 * Invariants: no crash, leak or abort other than the checks above. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "queue/quarantine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_query(const char *in, size_t len)
{
	char *copy = xmalloc(len + 1), *argv[16];
	int argc = 0;
	struct quar_query q;
	const char *err;

	memcpy(copy, in, len);
	copy[len] = '\0';
	for (char *s = copy, *t; argc < 16 && (t = strsep(&s, " ")) != NULL;)
		if (*t)
			argv[argc++] = t;
	if (quar_query_parse(argc, argv, &q, &err) == 0) {
		char *rc[2] = { "user@example.test", "x" };
		struct quar_rec r = { .qid = "0123456789abcdef", .arrival = 1700000000, .score = 7,
			.sender = "a@b.test", .subject = "Subject", .symbols = "S", .rcpts = rc,
			.n_rcpts = 2, .n_rcpts_total = 2 };
		struct quar_rec *recs[1] = { &r }, **page;
		size_t np;
		struct buf out;

		if (q.limit < 1 || q.limit > QUAR_LIMIT_MAX || strlen(q.from) > QUAR_ARG_MAX)
			abort();
		buf_init(&out, 1 << 20);
		(void)quar_search(recs, 1, &q, &page, &np);
		if (quar_format_list(page, np, np, &q, &out) < 0)
			abort();
		xfree(page);
		buf_free(&out);
	} else if (err == NULL) {
		abort();
	}
	xfree(copy);
}

static void
fuzz_record(const char *in, size_t len)
{
	struct quar_rec r;
	const char *err = NULL;
	struct buf out;

	if (quar_rec_decode("0123456789abcdef", (struct slice){ in, len }, &r, &err) < 0) {
		if (err == NULL)
			abort();
		return;
	}
	buf_init(&out, QUAR_VALUE_MAX * 2);
	if (quar_rec_encode(&r, &out) < 0 || out.len != len || memcmp(out.data, in, len) != 0)
		abort();
	if (!quar_is_clean(r.sender) || !quar_is_clean(r.subject) || !quar_is_clean(r.symbols) ||
	    strlen(r.subject) > QUAR_SUBJECT_MAX || r.n_rcpts > QUAR_RCPTS_MAX)
		abort();
	buf_free(&out);
	quar_rec_clear(&r);
}

static void
fuzz_clean(const char *in, size_t len)
{
	struct buf out;
	size_t max = len % 300;

	buf_init(&out, 4 * len + 16);
	if (quar_clean(in, len, max, &out) < 0 || out.len > max ||
	    (out.len > 0 && (strlen(out.data) != out.len || !quar_is_clean(out.data))))
		abort();
	buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data + 1;

	if (size == 0 || size > QUAR_VALUE_MAX)
		return 0;
	switch (data[0] % 3) {
	case 0: fuzz_query(in, size - 1); break;
	case 1: fuzz_record(in, size - 1); break;
	default: fuzz_clean(in, size - 1); break;
	}
	return 0;
}
