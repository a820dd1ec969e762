#ifndef QUEUE_RATE_H
#define QUEUE_RATE_H
/* Per-sender-domain outbound rate (outbound_rate = N/period): a token bucket that holds at most
 * N tokens (one period's budget) and gains N tokens per period, continuously. One message
 * dispatch attempt to outbound recipients takes one token, whatever its number of recipients.
 * Times are wall-clock unix seconds (the state must survive restarts); a clock that goes back
 * grants nothing. Pure; any thread. The persisted form (state_dir/outbound-rate) is parsed here
 * with limits (it is read back at start: untrusted). */
#include <stddef.h>

#include "common/limits.h"
#include "lib/buf.h"

#define RATE_STATE_MAGIC "mailguard-outbound-rate"
#define RATE_STATE_VERSION 1
#define RATE_STATE_ENTRIES_MAX 100000	/* buckets in the file (protected domains) */
#define RATE_STATE_FILE_MAX (8u * 1024 * 1024)

struct rate_bucket {
	double tokens;	/* 0 .. count */
	double stamp;	/* unix time tokens was last brought up to date */
};

/* A fresh bucket of a domain never seen: full (one period's budget may go at once). */
void rate_init(struct rate_bucket *b, long count, double now);
/* Brings tokens up to now, capped at count. */
void rate_refill(struct rate_bucket *b, long count, long period, double now);
/* Refills, then takes one token if there is one: 1 taken, 0 empty. */
int rate_take(struct rate_bucket *b, long count, long period, double now);
/* Seconds from now until a token is available (0 if one is), after rate_refill(now). */
double rate_wait(const struct rate_bucket *b, long count, long period);

struct rate_entry {
	char domain[SMTP_DOMAIN_MAX + 1];
	struct rate_bucket b;
};

/* Appends the state file: header, then one "domain tokens stamp" line per entry. 0 or -1
 * (out's max). */
int rate_state_format(const struct rate_entry *e, size_t n, struct buf *out);
/* Parses a state file. On success *entries_r (caller frees with xfree) holds *n_r entries with
 * lower-case domains, 0 <= tokens <= 1e9 and 0 <= stamp <= ENVELOPE_TIME_MAX. -1 with *error_r
 * (static) on anything malformed, oversize or duplicated; nothing is allocated then. */
int rate_state_parse(struct slice text, struct rate_entry **entries_r, size_t *n_r,
    const char **error_r);

#endif
