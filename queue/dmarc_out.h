#ifndef QUEUE_DMARC_OUT_H
#define QUEUE_DMARC_OUT_H
/* DMARC aggregate reports made by the filter role (filter/dmarc_job.c), handed to the queue as
 * files in state_dir/dmarc-out/ (format: doc/queue-format.md, "DMARC report files"). The
 * parser is pure (fuzzed: tests/fuzz/fuzz_dmarc_out.c); the rest is queue role, main thread. */
#include <stddef.h>

#include "common/envelope.h"
#include "lib/buf.h"

#define DMARC_OUT_MAGIC "mailguard-dmarc-out 1"
#define DMARC_OUT_RCPT_MAX 4			/* MG_DMARC_URIS_MAX rua addresses per report */
#define DMARC_OUT_HDR_MAX 4096			/* octets before the message */
#define DMARC_OUT_FILE_MAX ((96u << 20) + DMARC_OUT_HDR_MAX)	/* MG_DMARC_AGG_MSG_MAX + header */

struct dmarc_out_file {
	char from[ENVELOPE_ADDR_MAX + 1];
	char rcpt[DMARC_OUT_RCPT_MAX][ENVELOPE_ADDR_MAX + 1];
	size_t n_rcpt;
	struct slice msg;		/* borrowed: the message bytes inside the parsed text */
};

/* Parses one file: the magic line, one "from ADDR", 1..DMARC_OUT_RCPT_MAX "rcpt ADDR" (no
 * duplicates), an empty line, then a non-empty message; LF line ends, header at most
 * DMARC_OUT_HDR_MAX octets, addresses plain addr-specs (printable ASCII without specials, one
 * '@', at most ENVELOPE_ADDR_MAX octets). 0, or -1 with *error_r (static). Any thread. */
int dmarc_out_parse(struct slice text, struct dmarc_out_file *out, const char **error_r);

/* Queue role: scans the directory now and every 60 s (test_mode: 2 s). After recovery. */
void dmarc_out_init(void);
void dmarc_out_reload(void);
void dmarc_out_shutdown(void);
/* A report message (env->is_dmarcrpt) has failed recipients: no DSN; each failed recipient
 * is appended to state_dir/dmarc-out/bounces as "address 1 time" (dmarc_report_bounce_limit). */
void dmarc_out_bounced(const char *qid, const struct envelope *env);

#endif
