#ifndef DELIVERY_MTA_STS_H
#define DELIVERY_MTA_STS_H
/* MTA-STS (RFC 8461) parsers, pure and bounded: the _mta-sts TXT record (§3.1) and the policy
 * file served at https://mta-sts.<domain>/.well-known/mta-sts.txt (§3.2), plus MX pattern
 * matching (§4.1). No I/O; any thread; fuzzed by tests/fuzz/fuzz_mta_sts.c. */
#include <stddef.h>

#include "lib/buf.h"

#define STS_POLICY_MAX (64 * 1024)	/* RFC 8461 §3.3: policy bodies are small; we cap at 64 KiB */
#define STS_MX_MAX 32			/* mx patterns kept per policy (more is an error) */
#define STS_ID_MAX 32			/* §3.1: id is 1*32(ALPHA / DIGIT) */
#define STS_MAX_AGE_MAX 31557600L	/* §3.2: max_age at most 31557600 seconds */
#define STS_LINE_MAX 1000		/* a policy line (bounded, not in the RFC) */

enum sts_mode { STS_MODE_NONE = 0, STS_MODE_TESTING, STS_MODE_ENFORCE };

struct sts_policy {
	enum sts_mode mode;
	long max_age;
	char mx[STS_MX_MAX][256];	/* lowercase patterns: "mail.example.com", "*.example.net" */
	int n_mx;
};

/* Parses a _mta-sts TXT record: "v=STSv1" first, then an "id" of 1-32 letters/digits
 * (other fields ignored). Returns 0 with the id copied (NUL-terminated) to id_r (size at least
 * STS_ID_MAX + 1), else -1 with *error_r (static). */
int sts_txt_parse(struct slice txt, char *id_r, const char **error_r);
/* Parses a policy body (LF or CRLF lines, "key: value"). version must be STSv1, mode one of
 * enforce/testing/none, max_age 0..31557600, at least one mx unless mode is none; unknown
 * keys are ignored; for keys other than mx the first occurrence counts. Returns 0 with *out
 * filled, else -1 with *error_r (static). */
int sts_policy_parse(struct slice body, struct sts_policy *out, const char **error_r);
/* 1 if host (an MX host name, any case, optional final dot) matches one of p's mx patterns:
 * exact, or "*.rest" matching exactly one more leftmost label (§4.1). */
int sts_mx_match(const struct sts_policy *p, const char *host);
/* The policy in canonical text (one "key: value" per line, '\n'-separated) for TLS-RPT. */
void sts_policy_format(const struct sts_policy *p, char *out, size_t size);

#endif
