#ifndef QUEUE_QUARANTINE_H
#define QUEUE_QUARANTINE_H
/* The quarantine store's pure parts (issue G; queue/quarantine_rec.c, quarantine_query.c): the
 * index record of one quarantined message, its Berkeley DB value encoding, the text cleaning
 * applied to everything peers wrote (sender, recipients, Subject), the search query parser and
 * matcher, and the list output (text and JSON). No I/O, no globals; any thread. The store itself
 * (queue/quarantine.c) and its control commands (quarantine_ctl.c) are queue-role code declared
 * in queue/queue_int.h. */
#include <stddef.h>

#include "common/envelope.h"
#include "lib/buf.h"

#define QUAR_SUBJECT_MAX 256		/* octets of the cleaned Subject kept in the index */
#define QUAR_SYMBOLS_MAX 1000		/* the verdict's symbols (ENVELOPE_DIAG_MAX) */
#define QUAR_ADDR_MAX 1024		/* cleaned address (254 octets may grow by U+FFFD) */
#define QUAR_RCPTS_MAX 1000		/* recipients kept per record (n_rcpts_total counts all) */
#define QUAR_VALUE_MAX (512 * 1024)	/* an encoded record */
#define QUAR_ARG_MAX 256		/* decoded octets of one query value */
#define QUAR_LIMIT_DEFAULT 100
#define QUAR_LIMIT_MAX 10000
#define QUAR_IDS_MAX 1000		/* queue ids in one release/delete command */

/* One quarantined message in the index. Strings are cleaned UTF-8 (quar_clean), owned. */
struct quar_rec {
	char qid[QUEUE_ID_LEN + 1];
	long long arrival;	/* envelope arrival: the retention clock starts here */
	long long size;
	double score;		/* parsed from the verdict, 0 when it has none */
	char *sender;		/* "" for the null sender */
	char *subject;		/* decoded (RFC 2047), capped at QUAR_SUBJECT_MAX; "" if none */
	char *symbols;		/* the verdict's symbols text */
	char **rcpts;
	size_t n_rcpts;		/* kept: at most QUAR_RCPTS_MAX */
	size_t n_rcpts_total;	/* in the envelope */
};

/* Copies src (len octets, any bytes) to out as printable UTF-8: valid sequences are kept except
 * controls (C0, DEL, C1) and bidirectional overrides, which become '?'; invalid octets become
 * U+FFFD. At most max octets are appended (cut at a character boundary). 0, or -1 if out's own
 * max was reached. */
int quar_clean(const char *src, size_t len, size_t max, struct buf *out);
/* 1 when s (NUL-terminated) is already what quar_clean would produce from it. */
int quar_is_clean(const char *s);

/* Fills r from a quarantined envelope (qid, arrival, size, sender, recipients, verdict) and the
 * message's header section (hdr may be empty: subject ""). r is cleared first; free with
 * quar_rec_clear. Returns 0, -1 with *error_r when env has no verdict. */
int quar_rec_from(struct quar_rec *r, const struct envelope *env, struct slice hdr,
    const char **error_r);
/* The score of a verdict "score=S symbols=...", and its symbols text. 0 or -1 (no score). */
int quar_verdict_parse(const char *verdict, double *score_r, const char **symbols_r);
void quar_rec_clear(struct quar_rec *r);

/* The index value: "mgq1 arrival size score n_total sender subject symbols rcpt..." with each
 * field percent-encoded as in queue/statefile.h. quar_rec_decode is strict (the database may be
 * damaged): it accepts only what quar_rec_encode produces, for key qid. */
int quar_rec_encode(const struct quar_rec *r, struct buf *out);
int quar_rec_decode(const char *qid, struct slice val, struct quar_rec *r, const char **error_r);

/* A search: every given filter must match. Strings are compared ASCII case-insensitively. */
struct quar_query {
	char domain[QUAR_ARG_MAX + 1];	/* a recipient's domain, exactly */
	char rcpt[QUAR_ARG_MAX + 1];	/* a recipient address, exactly */
	char from[QUAR_ARG_MAX + 1];	/* substring of the sender */
	char subject[QUAR_ARG_MAX + 1];	/* substring of the Subject */
	int has_min, has_max;
	double min, max;		/* score range, inclusive */
	long long since, until;		/* arrival range, inclusive; 0 = open */
	size_t limit, offset;
	int json;
};

/* Parses "key=value" words: domain= rcpt= from= subject= min= max= since= until= limit= offset=
 * and the flag "--json" (or "json"). Values are percent-decoded (%XX, so one word can carry a
 * space), at most QUAR_ARG_MAX octets; times are unix seconds, YYYY-MM-DD or
 * YYYY-MM-DDTHH:MM:SSZ. Returns 0, or -1 with *error_r (static) on an unknown, repeated or
 * malformed word. */
int quar_query_parse(int argc, char **argv, struct quar_query *q, const char **error_r);
/* Decodes %XX escapes of src into dst (size > QUAR_ARG_MAX); 0 or -1 (bad escape, NUL, long). */
int quar_arg_decode(const char *src, char *dst, size_t size);
int quar_match(const struct quar_query *q, const struct quar_rec *r);

/* The page of a search over recs (sorted by arrival, oldest first): matches newest first,
 * skipping q->offset and keeping at most q->limit, into *page_r (xmalloc'd array of borrowed
 * pointers; caller frees the array). Returns the total number of matches. */
size_t quar_search(struct quar_rec *const *recs, size_t n, const struct quar_query *q,
    struct quar_rec ***page_r, size_t *n_page_r);

/* List output. Text: one line per message, then "-- N of TOTAL message(s)"; JSON: an object
 * {"total":..,"offset":..,"limit":..,"messages":[{...}]}. 0 or -1 (out full). */
int quar_format_list(struct quar_rec *const *page, size_t n, size_t total,
    const struct quar_query *q, struct buf *out);
/* A JSON string of clean text (quar_clean output): quote and backslash escaped, controls as
 * \u00XX, and <, >, & as \u003c, \u003e, \u0026 so that it sits inertly in an HTML page. */
int quar_json_str(struct buf *out, const char *s);
/* The JSON object of one record, appended to out (no newline). */
int quar_format_json(const struct quar_rec *r, struct buf *out);

/* Order of the index: arrival, then qid. */
int quar_rec_cmp(const struct quar_rec *a, const struct quar_rec *b);

/* Added (queue/quarantine.c, queue role, main thread; not pure): the table called name in the
 * quarantine index's Berkeley DB environment (state_dir/queue-db), for other queue-role caches
 * such as the digests' per-recipient state (queue/digest.c). Valid until quarantine_shutdown;
 * NULL when the environment is unusable (the index then lives in memory only). */
struct mg_kvdb_table;
struct mg_kvdb_table *quarantine_db_table(const char *name);

#endif
