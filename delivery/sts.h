#ifndef DELIVERY_STS_H
#define DELIVERY_STS_H
/* MTA-STS (RFC 8461) for the delivery role: policy discovery (_mta-sts TXT through the async
 * resolver), the HTTPS fetch (libcurl on a worker thread, certificate verified, no redirects,
 * 64 KiB, timeouts), an in-memory cache by policy id and max_age, and the questions delivery
 * asks of a destination's policy. Main thread only, except the fetch worker inside sts.c. */
#include <stddef.h>
#include <stdint.h>

struct dest;

/* Starts the fetch worker; reads the CA bundle (tls_ca_file or the system's) into memory
 * while still privileged. */
void sts_init(void);
/* Re-reads tls_ca_file after a reload (kept when unreadable). */
void sts_reload(void);
void sts_free(void);
/* Writes the policy cache file now if it is behind memory (at shutdown). */
void sts_flush(void);
/* For outbound destinations whose sender domain uses may or encrypt: 0 when the recipient
 * domain's policy is known (d->sts set, maybe "no policy"), 1 when d must wait (discovery or
 * fetch under way; delivery_dest_pump(d) follows). */
int sts_prepare(struct dest *d);
/* 1 when d's recipient domain has an unexpired policy in enforce mode. */
int sts_enforced(const struct dest *d);
/* 1 when d's policy is in testing mode (failures are logged and reported, mail still goes). */
int sts_testing(const struct dest *d);
/* The policy as text for TLS-RPT, NULL when d has none (or mode none). */
const char *sts_policy_text(const struct dest *d);
/* 1 if the MX host may be used under d's policy (enforce: it must match an mx pattern);
 * a mismatch in testing mode is logged and allowed. */
int sts_mx_allowed(const struct dest *d, const char *mxhost);

/* The last MTA-STS discovery or fetch failure of d's recipient domain not yet reported:
 * 1 with its RFC 8460 result type (static) and reason, once; else 0. */
int sts_take_failure(const struct dest *d, const char **type_r, char *reason, size_t size);

/* POSTs a gzipped TLS-RPT report to an https: URI (RFC 8460 §5.4) on the fetch worker and
 * answers the queue with IPC_TLSRPT_POST_RESULT for id (also on every failure). body is
 * copied. */
void sts_report_post(uint32_t id, const char *url, const void *body, size_t len);

#endif
