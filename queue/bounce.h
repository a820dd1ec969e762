#ifndef QUEUE_BOUNCE_H
#define QUEUE_BOUNCE_H
/* Delivery status notifications: RFC 3464 reports in an RFC 6522 multipart/report (RFC 6533
 * message/global-delivery-status when the message used SMTPUTF8), which recipients are owed one
 * (RFC 3461 NOTIFY), and the envelope that carries the report back to the sender. */
#include <stddef.h>

#include "common/envelope.h"
#include "lib/buf.h"

enum bounce_kind {
	BOUNCE_FAILURE = 0,	/* recipients in state FAILED: "Action: failed" */
	BOUNCE_DELAY = 1,	/* recipients still PENDING, not yet warned: "Action: delayed" */
	BOUNCE_SUCCESS = 2,	/* recipients DELIVERED with NOTIFY=SUCCESS: "Action: relayed" */
};

/* Will-Retry-Until of a delay report when the caller gives none: arrival + 5 days. */
#define BOUNCE_LIFETIME_DEFAULT (5LL * 86400)
/* Longest line we emit, without CRLF (RFC 5322 §2.1.1). */
#define BOUNCE_LINE_MAX 998

struct bounce_params {
	const char *reporting_mta;	/* borrowed: our host name (Reporting-MTA, From, Message-ID) */
	long long now;			/* unix seconds: Date, Message-ID, boundary */
	long long retry_until;		/* DELAY: Will-Retry-Until; 0 = arrival + BOUNCE_LIFETIME_DEFAULT */
	size_t return_limit;		/* whole message only if at most this many bytes (capped at 1 GiB) */
};

/* 1 if recipient i of env is owed a report of this kind, else 0. Never for the null sender or
 * an envelope with is_bounce. FAILURE: state FAILED and NOTIFY not given or containing FAILURE.
 * DELAY: state PENDING, NOTIFY not given or containing DELAY, delay_warned == 0. SUCCESS: state
 * DELIVERED and NOTIFY containing SUCCESS. After sending (or deciding not to send) a report the
 * queue marks FAILED recipients BOUNCED and sets delay_warned on delayed ones. Any thread. */
int bounce_is_owed(const struct envelope *env, size_t i, enum bounce_kind kind);

/* Builds the report of the given kind for env and appends it to out: CRLF lines of at most
 * BOUNCE_LINE_MAX octets, deterministic for equal inputs (the MIME boundary derives from qid and
 * now). The original message is read from body_fd with pread (offset 0, at most return_limit or
 * MSG_HEADER_SECTION_MAX bytes; the fd offset is not used); body_fd < 0 leaves it out.
 * What is returned: FAILURE with RET=FULL or no RET, and DELAY/SUCCESS with RET=FULL, get the
 * whole message as message/rfc822 if it has at most return_limit bytes and is not BINARYMIME;
 * otherwise the header section as text/rfc822-headers, and part 1 says why.
 * Returns 0 with *n_rcpts_r = the number of recipients reported; 0 means nothing is owed and out
 * is untouched. Returns -1 with errno set (from pread, EMSGSIZE when out's max was reached,
 * EINVAL for an empty or malformed reporting_mta); out is then left as it was. Pure apart from
 * the reads; any thread. */
int bounce_build(const struct envelope *env, int body_fd, enum bounce_kind kind,
    const char *reporting_mta, long long now, size_t return_limit, struct buf *out,
    size_t *n_rcpts_r);
/* The same with every knob in one struct (adds retry_until). */
int bounce_build_params(const struct envelope *env, int body_fd, enum bounce_kind kind,
    const struct bounce_params *params, struct buf *out, size_t *n_rcpts_r);

/* Fills bounce_r (freshly initialised) with the envelope of a report built from orig: the given
 * qid, direction outbound, null sender, one recipient = orig's sender, is_bounce = 1, arrival =
 * now, size = dsn.len, body 8BITMIME if the report holds 8-bit bytes, smtputf8 if orig used it
 * or its sender is not ASCII. The queue enqueues it like any outbound message. */
void bounce_envelope(const struct envelope *orig, const char *qid, long long now,
    struct slice dsn, struct envelope *bounce_r);

/* RFC 5322 §3.3 date-time of unix time t in UTC ("Tue, 14 Nov 2023 22:13:20 +0000"),
 * independent of the locale; also used by the TLS reports. Any thread. */
void bounce_format_date(long long t, char *dst, size_t n);

#endif
