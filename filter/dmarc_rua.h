#ifndef FILTER_DMARC_RUA_H
#define FILTER_DMARC_RUA_H
/* Incoming DMARC aggregate reports in the filter role (dmarc_rua.c, issue I). */
#include <stddef.h>

#include "common/envelope.h"
#include "config/config.h"

/* Loop, at start after the state database is open and before the pool exists:
 * mg_report_init (libxml2) and the report tables. */
void dmarc_rua_init(void);
/* Loop, at shutdown after the pool is gone and before the database closes. */
void dmarc_rua_fini(void);
/* Loop, for each CHECK: when a recipient of env is its protected domain's dmarc_rua address,
 * submits a pool job reading the message through a dup of fd (the caller keeps fd). */
void dmarc_rua_submit(const struct mg_config *cfg, const struct envelope *env, int fd,
    const char *sid);
/* Any thread (the maintenance job): expiry of stored reports (mg_rstore_expire). */
int dmarc_rua_expire(long long now, long long retention, size_t max_items, size_t *removed_r);

#endif
