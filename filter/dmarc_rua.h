#ifndef FILTER_DMARC_RUA_H
#define FILTER_DMARC_RUA_H
/* Incoming DMARC aggregate reports (and TLS reports, filter/tlsrpt_rua.h) in the filter role
 * (dmarc_rua.c, issue I). */
#include <stddef.h>

#include "common/envelope.h"
#include "config/config.h"

/* Loop, at start after the state database is open and before the pool exists:
 * mg_report_init (libxml2) and the report tables. */
void dmarc_rua_init(const struct mg_config *cfg);
/* Loop, at shutdown after the pool is gone and before the database closes. */
void dmarc_rua_fini(void);
enum rua_kind { RUA_DMARC, RUA_TLSRPT, RUA_KINDS };
#define RUA_DOMAINS_MAX 8	/* protected domains one message can report to, per kind */
#define RUA_RCPTS_MAX 16	/* report recipients of one message, per kind */

struct rua_set;
struct buf;

/* Loop, for each CHECK: finds the recipients of env that are their protected domain's
 * dmarc_rua or tlsrpt_rua address. None: NULL. dmarc_rua_keep = yes: submits a pool job that
 * parses and stores the reports through a dup of fd (the caller keeps fd) while the message is
 * delivered as usual, and returns NULL. no: returns the set (its recipients borrowed from env,
 * which must outlive it) for the check job, which calls dmarc_rua_ingest before its verdict. */
struct rua_set *dmarc_rua_submit(const struct mg_config *cfg, const struct envelope *env,
    int fd, const char *sid);
/* Worker (the check job): parses and stores the reports of the message in fd. When consume is
 * set and at least one report of a kind was stored (or was already stored), the store's log is
 * synced and that kind's recipients are appended to consumed, '\n' after each: smtpd records
 * them delivered, so the back-end never sees the mail. A message with nothing usable is left to
 * be delivered as usual. */
void dmarc_rua_ingest(struct rua_set *set, int fd, int consume, struct buf *consumed);
void dmarc_rua_set_free(struct rua_set **setp);
/* Any thread (the maintenance job): expiry of stored and archived reports. */
int dmarc_rua_expire(long long now, long long retention, size_t max_items, size_t *removed_r);
/* Worker (mailguardctl dmarc rebuild [DOMAIN]): every archived report of domain (NULL: all)
 * parsed and stored again (already stored ones are left as they are). Appends one line to out;
 * returns the exit status. */
int dmarc_rua_rebuild(const char *domain, struct buf *out);

#endif
