/* rate.c: the token bucket of outbound_rate and its persisted form (rate.h). Pure; any thread.
 * The state file is read back at start and is untrusted: size, entry count, line length, the
 * domain syntax and number ranges are checked; any error rejects the whole file. */
#include "queue/rate.h"

#include <string.h>

#include "common/envelope.h"
#include "lib/str.h"
#include "lib/xalloc.h"
#include "queue/statefile.h"

void
rate_init(struct rate_bucket *b, long count, double now)
{
	b->tokens = (double)count;
	b->stamp = now;
}

void
rate_refill(struct rate_bucket *b, long count, long period, double now)
{
	double cap = (double)count;

	if (count <= 0 || period <= 0)
		return;
	if (now > b->stamp)
		b->tokens += (now - b->stamp) * cap / (double)period;
	b->stamp = now;	/* a clock that went back grants nothing and restarts from here */
	if (b->tokens > cap)
		b->tokens = cap;
	if (b->tokens < 0)
		b->tokens = 0;
}

int
rate_take(struct rate_bucket *b, long count, long period, double now)
{
	rate_refill(b, count, period, now);
	/* a hair below 1 counts: refill arithmetic in floating point may land at 0.9999999 */
	if (b->tokens < 1.0 - 1e-9)
		return 0;
	b->tokens -= 1.0;
	if (b->tokens < 0)
		b->tokens = 0;
	return 1;
}

double
rate_wait(const struct rate_bucket *b, long count, long period)
{
	if (count <= 0 || period <= 0 || b->tokens >= 1.0 - 1e-9)
		return 0;
	return (1.0 - b->tokens) * (double)period / (double)count;
}

int
rate_state_format(const struct rate_entry *e, size_t n, struct buf *out)
{
	if (buf_printf(out, "%s %d\n", RATE_STATE_MAGIC, RATE_STATE_VERSION) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (statefile_put(out, e[i].domain) < 0 ||
		    buf_printf(out, " %.6f %.3f\n", e[i].b.tokens, e[i].b.stamp) < 0)
			return -1;
	return 0;
}

/* A domain as the configuration stores it: lower-case letters, digits, '-', '.', '_'. */
static int
domain_ok(const char *d, size_t len)
{
	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = d[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_'))
			return 0;
	}
	return 1;
}

int
rate_state_parse(struct slice text, struct rate_entry **entries_r, size_t *n_r,
    const char **error_r)
{
	struct statefile_line *l = NULL;
	struct rate_entry *e = NULL;
	size_t n = 0, cap = 0, pos = 0;
	int r;

	if (text.len > RATE_STATE_FILE_MAX) {
		*error_r = "state file too large";
		return -1;
	}
	if (statefile_header(text, &pos, RATE_STATE_MAGIC, RATE_STATE_VERSION, error_r) < 0)
		return -1;
	l = xcalloc(1, sizeof(*l));
	while ((r = statefile_next(text, &pos, l, error_r)) == 1) {
		if (l->n != 3 || !domain_ok(l->field[0], l->len[0])) {
			*error_r = "bad bucket line (want: domain tokens stamp)";
			goto fail;
		}
		if (n == RATE_STATE_ENTRIES_MAX) {
			*error_r = "too many buckets";
			goto fail;
		}
		for (size_t i = 0; i < n; i++)
			if (strcmp(e[i].domain, l->field[0]) == 0) {
				*error_r = "domain listed twice";
				goto fail;
			}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			e = xreallocarray(e, cap, sizeof(*e));
		}
		memset(&e[n], 0, sizeof(e[n]));
		str_lcpy(e[n].domain, l->field[0], sizeof(e[n].domain));
		if (statefile_double(l, 1, 0, 1e9, &e[n].b.tokens, error_r) < 0 ||
		    statefile_double(l, 2, 0, (double)ENVELOPE_TIME_MAX, &e[n].b.stamp, error_r) < 0)
			goto fail;
		n++;
	}
	if (r < 0)
		goto fail;
	xfree(l);
	*entries_r = e;
	*n_r = n;
	return 0;
fail:
	xfree(l);
	xfree(e);
	return -1;
}
