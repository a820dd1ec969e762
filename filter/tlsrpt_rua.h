#ifndef FILTER_TLSRPT_RUA_H
#define FILTER_TLSRPT_RUA_H
/* Incoming TLS-RPT aggregate reports (RFC 8460) in the filter role (tlsrpt_rua.c, issue I
 * item 5) and the `mailguardctl tls-reports ...` control command (tlsrpt_ctl.c). */
#include <stddef.h>

#include "config/config.h"
#include "lib/buf.h"

/* Loop, at start after filter.kv is open (filter/filter_int.h) and before the pool exists:
 * opens the TLS-RPT tables (dmarc/tlsrpt_in.h). Without a state database nothing is stored. */
void tlsrpt_rua_init(void);
/* Loop, at shutdown after the pool is gone and before the database closes. */
void tlsrpt_rua_fini(void);
/* Any thread (the maintenance job): deletes what was received before now - retention,
 * visiting at most max_items records per table; adds the number deleted to *removed_r.
 * Returns 0 (also when nothing is open) or -1. */
int tlsrpt_rua_expire(long long now, long long retention, size_t max_items, size_t *removed_r);
/* Worker thread. msg: the whole message (RFC 5322) or a bare report file; domains: the
 * protected domains whose tlsrpt_rua is a recipient. Parses and stores every report whose
 * policy-domain is one of them or a subdomain (others refused: "foreign_domain"); one log
 * line per report or refused message, counters M_TLS_REPORTS_*. sid, qid: for the log line
 * (qid may be NULL or ""). now: receipt time (Unix seconds). Returns the number of reports
 * stored or already stored (duplicates), 0 if none, -1 on a storage error (any report: the
 * caller may tempfail and retry, stored reports are then duplicates). Without a state
 * database reports are refused ("no_store") and 0 is returned. */
int tlsrpt_rua_ingest(const char *const *domains, size_t n_domains, const void *msg,
    size_t len, const char *sid, const char *qid, long long now);

/* For tlsrpt_ctl.c: the open store, or NULL (no state database). Opens it on first use if
 * tlsrpt_rua_init was not called (the store is valid until tlsrpt_rua_fini). Any thread. */
struct mg_tstore *tlsrpt_rua_store(void);

/* Worker thread. argv[0] == "tls-reports": "summary DOMAIN [--days N] [--json]" and
 * "reports DOMAIN [--days N] [--limit N] [--json]". Appends the answer to out; returns the
 * exit status (0 ok, 1 error with "error: ..." text, 2 usage). */
int tlsrpt_ctl_run(const struct mg_config *cfg, int argc, char **argv, struct buf *out);

#endif
