/* test_rate.c: unit tests for queue/rate.c (token bucket of outbound_rate and its state file)
 * and queue/statefile.c (field encoding, line limits): refill arithmetic, cap, clock going back,
 * the wait until the next token, the file round trip and every rejected malformation. */
#include "unit.h"

#include <math.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "queue/rate.h"
#include "queue/statefile.h"

#define T0 1700000000.0

static void
test_bucket_starts_full_and_empties(void)
{
	struct rate_bucket b;
	int taken = 0;

	rate_init(&b, 60, T0);
	while (rate_take(&b, 60, 60, T0))
		taken++;
	CHECK_INT(taken, 60);
	CHECK(fabs(rate_wait(&b, 60, 60) - 1.0) < 1e-6, "wait %f, want 1s", rate_wait(&b, 60, 60));
}

static void
test_refill_rate_and_cap(void)
{
	struct rate_bucket b = { 0, T0 };
	int taken = 0;

	/* 120/min over 10 s: 20 tokens, taken one per 0.1 s tick when available */
	for (int i = 1; i <= 100; i++)
		taken += rate_take(&b, 120, 60, T0 + i * 0.1);
	CHECK_INT(taken, 20);
	rate_refill(&b, 120, 60, T0 + 3600);
	CHECK(b.tokens == 120.0, "tokens %f, want the cap 120", b.tokens);
}

static void
test_clock_back_grants_nothing(void)
{
	struct rate_bucket b = { 0.5, T0 };

	rate_refill(&b, 10, 10, T0 - 100);
	CHECK(b.tokens == 0.5, "tokens %f, want 0.5", b.tokens);
	CHECK(b.stamp == T0 - 100, "stamp moved back to now");
	CHECK_INT(rate_take(&b, 10, 10, T0 - 99.6), 0);	/* 0.5 + 0.4 */
	CHECK_INT(rate_take(&b, 10, 10, T0 - 99.5), 1);
}

static void
test_state_round_trip(void)
{
	struct rate_entry in[2] = { { "example.test", { 12.5, T0 } }, { "b-2.example", { 0, T0 + 1 } } };
	struct rate_entry *out = NULL;
	size_t n = 0;
	struct buf b;
	const char *err = NULL;

	buf_init(&b, 1 << 20);
	CHECK_INT(rate_state_format(in, 2, &b), 0);
	CHECK_INT(rate_state_parse(buf_slice(&b), &out, &n, &err), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(out[0].domain, "example.test");
		CHECK(fabs(out[0].b.tokens - 12.5) < 1e-6 && fabs(out[1].b.stamp - (T0 + 1)) < 1e-3,
		    "values changed in the round trip");
	}
	xfree(out);
	buf_free(&b);
}

static const struct {
	const char *name, *text;
} bad_files[] = {
	{ "empty", "" },
	{ "wrong magic", "mailguard-other 1\n" },
	{ "wrong version", "mailguard-outbound-rate 2\n" },
	{ "no final newline", "mailguard-outbound-rate 1\nexample.test 1 2" },
	{ "two fields", "mailguard-outbound-rate 1\nexample.test 1\n" },
	{ "negative tokens", "mailguard-outbound-rate 1\nexample.test -1 2\n" },
	{ "huge tokens", "mailguard-outbound-rate 1\nexample.test 1e10 2\n" },
	{ "nan", "mailguard-outbound-rate 1\nexample.test nan 2\n" },
	{ "upper-case domain", "mailguard-outbound-rate 1\nExample.test 1 2\n" },
	{ "space escape in domain", "mailguard-outbound-rate 1\na%20b 1 2\n" },
	{ "duplicate", "mailguard-outbound-rate 1\na.test 1 2\na.test 1 2\n" },
	{ "double space", "mailguard-outbound-rate 1\na.test  1 2\n" },
	{ "trailing space", "mailguard-outbound-rate 1\na.test 1 2 \n" },
	{ "empty line", "mailguard-outbound-rate 1\n\n" },
	{ "bad escape", "mailguard-outbound-rate 1\na%zz 1 2\n" },
	{ "truncated escape", "mailguard-outbound-rate 1\na% 1 2\n" },
	{ "NUL escape", "mailguard-outbound-rate 1\na%00 1 2\n" },
	{ "stamp past 9999", "mailguard-outbound-rate 1\na.test 1 253402300800\n" },
};

static void
test_state_rejects(void)
{
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		struct rate_entry *out = NULL;
		size_t n = 0;
		const char *err = NULL;
		int r = rate_state_parse(slice_from_str(bad_files[i].text), &out, &n, &err);

		CHECK(r == -1 && err != NULL, "%s: got %d, want -1 with an error", bad_files[i].name, r);
		if (r == 0)
			xfree(out);
	}
}

static void
test_state_limits(void)
{
	struct buf b;
	char line[600];
	struct statefile_line *l = xcalloc(1, sizeof(*l));
	size_t pos = 0;
	const char *err = NULL;

	/* a line over STATEFILE_LINE_MAX */
	buf_init(&b, 1 << 20);
	for (int i = 0; i < STATEFILE_LINE_MAX + 1; i++)
		buf_append_char(&b, 'a');
	buf_append_char(&b, '\n');
	CHECK_INT(statefile_next(buf_slice(&b), &pos, l, &err), -1);
	/* too many fields */
	buf_reset(&b);
	pos = 0;
	for (int i = 0; i <= STATEFILE_FIELDS_MAX; i++)
		buf_append_str(&b, i ? " x" : "x");
	buf_append_char(&b, '\n');
	CHECK_INT(statefile_next(buf_slice(&b), &pos, l, &err), -1);
	/* encoding round trip of awkward text */
	buf_reset(&b);
	pos = 0;
	snprintf(line, sizeof(line), "a b%%c\tä-");
	statefile_put(&b, line);
	buf_append_char(&b, ' ');
	statefile_put(&b, "");
	buf_append_char(&b, ' ');
	statefile_put(&b, "-");
	buf_append_char(&b, '\n');
	CHECK_INT(statefile_next(buf_slice(&b), &pos, l, &err), 1);
	CHECK_INT(l->n, 3);
	CHECK_STR(l->field[0], line);
	CHECK_STR(l->field[1], "");
	CHECK_STR(l->field[2], "-");
	xfree(l);
	buf_free(&b);
}

static const struct unit_case cases[] = {
	{ "bucket starts full and empties", test_bucket_starts_full_and_empties },
	{ "refill rate and cap", test_refill_rate_and_cap },
	{ "clock going back grants nothing", test_clock_back_grants_nothing },
	{ "state file round trip", test_state_round_trip },
	{ "state file malformations rejected", test_state_rejects },
	{ "statefile limits and encoding", test_state_limits },
};

UNIT_MAIN(cases)
