#ifndef FILTER_CONTENT_H
#define FILTER_CONTENT_H
/* Content detection (issue D), internal to filter/: the layers that look inside the message.
 * check_job_run (checks.c) calls content_check() once per message on a pool thread, after the
 * authentication layers (SPF, DKIM, ARC, DMARC) have added their symbols and before the verdict.
 * content_check parses the message once (common/mime.h) and runs, in this order:
 *   content.c     structural symbols (MIME limits and anomalies, HTML-only, image-only, hidden
 *                 text, Date/Message-ID/Received anomalies)
 *   url*.c        URL extraction and normalisation, phishing feeds, suspicious TLDs, URIBL,
 *                 anchor-text vs href mismatch, URL shorteners
 *   attach*.c     attachment type vs extension, dangerous extensions (also in zip archives)
 *   bayes*.c      token Bayes (Berkeley DB token store)
 *   neural*.c     the discriminative classifier over hashed features and the symbols so far
 * Each layer honours c->disabled (MG_LAYER_* of the recipient policy group) and adds symbols
 * with filter_score_add() (scores configurable with `score = SYMBOL VALUE`; defaults in
 * score.c). Role-wide resources (the phishing feed, Bayes store, neural weights) are loaded on
 * the loop thread and published to workers as immutable, reference-counted snapshots, swapped
 * atomically on reload or refresh. Thread affinity: "loop" or "worker" per function. */
#include <stddef.h>

#include "common/dns.h"
#include "common/mime.h"
#include "config/config.h"
#include "lib/kvdb.h"

struct ev_loop;
struct filter_score;

struct content_ctx {
	const struct mg_config *cfg;	/* borrowed: the job's configuration generation */
	unsigned disabled;		/* MG_LAYER_* off for this message's policy group */
	const char *msg;		/* borrowed: the whole message as stored (header + body) */
	size_t len;
	const struct mime_msg *mime;	/* borrowed: parsed once by content_check */
	struct mg_dns_lookup dns;	/* URIBL lookups, within the message's DNS deadline */
	struct filter_score *score;	/* symbols go here */
	int outbound;			/* outbound mail (trusted client): content layers still run */
	int account_cpu;		/* the filter role: count this check's thread CPU time in
					 * the role's content CPU totals (logged every
					 * CONTENT_CPU_LOG_EVERY messages; bench/protected.py reads
					 * them) */
};
#define CONTENT_CPU_LOG_EVERY 1000

/* content.c: the entry point and the structural layer. */
int content_init(struct ev_loop *loop, const struct mg_config *cfg, struct mg_kvdb *kv,
    const char **error_r);					/* loop, at start */
void content_reload(const struct mg_config *cfg);		/* loop */
void content_fini(void);					/* loop, after the pool stopped */
void content_check(struct content_ctx *c);			/* worker */

/* url*.c, phish*.c, attach*.c: URLs, phishing feeds, suspicious TLDs, URIBL, attachments. */
int content_urls_init(struct ev_loop *loop, const struct mg_config *cfg, const char **error_r);
void content_urls_reload(const struct mg_config *cfg);		/* loop */
void content_urls_fini(void);					/* loop */
void content_urls_check(struct content_ctx *c);			/* worker */
void content_attach_check(struct content_ctx *c);		/* worker */

/* bayes*.c, neural*.c, tokens*.c: the learning layers. */
int content_learn_init(struct ev_loop *loop, const struct mg_config *cfg, struct mg_kvdb *kv,
    const char **error_r);					/* loop */
void content_learn_reload(const struct mg_config *cfg);		/* loop */
void content_learn_fini(void);					/* loop */
void content_bayes_check(struct content_ctx *c);		/* worker */
void content_neural_check(struct content_ctx *c);		/* worker; runs last */

#endif
