#ifndef FILTER_DMARC_CTL_H
#define FILTER_DMARC_CTL_H
/* `mailguardctl dmarc ...`: the stored incoming DMARC aggregate reports of the protected
 * domains (dmarc_ctl.c), with reverse DNS of source IPs (dmarc_ctl_ptr.c). Commands and their
 * JSON are listed in doc/mailguard.8 (DMARC REPORTS); runs on a filter pool thread
 * (filter_ctl.c). */
#include <stddef.h>

#include "config/config.h"
#include "lib/buf.h"

#define DMARC_CTL_DAYS_MAX 366		/* --days */
#define DMARC_CTL_SPAN_MAX 3660		/* --since/--until */
#define DMARC_CTL_LIMIT_MAX 10000	/* dmarc reports --limit */
#define DMARC_CTL_ROWS_MAX 5000		/* rows of dmarc show */
#define DMARC_CTL_PTR_BUDGET_MS 3000	/* reverse DNS per command */
#define DMARC_CTL_PTR_TTL 3600		/* cache lifetime of a reverse lookup, seconds */
#define DMARC_CTL_PTR_CACHE 4096	/* cached reverse lookups */

/* Worker thread. argv[0] == "dmarc": domains, summary, reports, show (see doc/mailguard.8).
 * Appends the answer to out; returns the exit status (0 ok, 1 "error: ...", 2 usage). */
int dmarc_ctl_run(const struct mg_config *cfg, int argc, char **argv, struct buf *out);

/* dmarc_ctl_ptr.c, worker thread: the PTR name of ip (textual IPv4/IPv6) and its status:
 * "confirmed" (a PTR name whose A/AAAA includes ip), "unconfirmed" (PTR found, no forward
 * match), "none" (NXDOMAIN, NODATA), "tempfail" (SERVFAIL, timeout, other errors), "skipped"
 * (deadline_ms, mg_dns_now_ms clock, already passed). name is "" unless a PTR was found.
 * Answers are cached for DMARC_CTL_PTR_TTL seconds (tempfail for a minute, skipped never), in
 * a mutex-protected table of DMARC_CTL_PTR_CACHE entries shared by the workers. */
const char *dmarc_ctl_ptr(const char *ip, long long deadline_ms, char *name, size_t size);

#endif
