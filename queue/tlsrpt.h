#ifndef QUEUE_TLSRPT_H
#define QUEUE_TLSRPT_H
/* SMTP TLS Reporting (RFC 8460): the aggregate of one report period (per policy domain, per
 * policy, with failure details), its versioned text form kept in state_dir across restarts, the
 * JSON report of §4 (jansson) and the report message of §5.3 (multipart/report,
 * report-type="tlsrpt", the JSON gzipped as application/tlsrpt+gzip named per §5.1).
 * Pure: no I/O, no clock, no globals; any thread. Counts are bounded so that the aggregate and
 * its file stay small however many sessions are recorded. */
#include <stddef.h>
#include <stdint.h>

#include "common/ipc_msg.h"
#include "common/limits.h"
#include "lib/buf.h"

#define TLSRPT_STATE_MAGIC "mailguard-tlsrpt"
#define TLSRPT_STATE_VERSION 1
#define TLSRPT_DOMAINS_MAX 10000	/* policy domains per period; later ones are not recorded */
#define TLSRPT_POLICIES_MAX 16		/* distinct policies (type, strings, MX) per domain */
#define TLSRPT_FAILURES_MAX 32		/* distinct failure details per policy; the rest counted */
#define TLSRPT_POLICY_STRING_MAX 2048	/* the policy strings, '\n'-separated */
#define TLSRPT_RUA_MAX 1024
#define TLSRPT_URL_MAX IPC_TLSRPT_URL_MAX	/* an https: rua URI we POST to */
#define TLSRPT_POST_MAX IPC_TLSRPT_POST_MAX	/* a gzipped JSON report sent by https: */
#define TLSRPT_TEXT_MAX 256		/* result type, reason, addresses */
#define TLSRPT_STATE_FILE_MAX (64u * 1024 * 1024)
#define TLSRPT_COUNT_MAX 1000000000000ULL	/* counts saturate here */

/* One session outcome, as IPC_TLSRPT_RESULT carries it (strings borrowed). */
struct tlsrpt_result {
	const char *domain;		/* policy domain (lower-case) */
	const char *policy_type;	/* "sts", "tlsa" or "no-policy-found" */
	const char *policy_string;	/* '\n'-separated, "" for none */
	const char *mx_host;		/* "" when unknown */
	const char *receiving_ip;	/* "" when no connection */
	const char *sending_ip;
	int success;
	const char *result_type;	/* RFC 8460 §4.3 name; "" on success */
	const char *reason;		/* free text; "" on success */
	const char *rua;		/* as published; "" when none */
};

struct tlsrpt_failure {
	char *result_type, *sending_ip, *mx_host, *receiving_ip, *reason;
	uint64_t count;
};

struct tlsrpt_policy {
	char *type, *policy_string, *mx_host;
	uint64_t success, failure;
	struct tlsrpt_failure *fail;
	size_t n_fail;
};

struct tlsrpt_domain {
	char *domain, *rua;
	struct tlsrpt_policy *pol;
	size_t n_pol;
};

struct tlsrpt_agg {
	long long start;	/* unix time the period began */
	long long interval;	/* its length in seconds */
	struct tlsrpt_domain *dom;
	size_t n_dom, cap_dom;
	uint64_t dropped;	/* results not recorded (limits, bad fields) */
};

void tlsrpt_agg_init(struct tlsrpt_agg *a, long long start, long long interval);
void tlsrpt_agg_clear(struct tlsrpt_agg *a);
/* Counts one session. Strings are copied, cut to the limits above; an invalid result (empty or
 * over-long domain, unknown policy type, failure without a result type) is counted in dropped.
 * Returns 0, or -1 when it was dropped. */
int tlsrpt_agg_add(struct tlsrpt_agg *a, const struct tlsrpt_result *r);

/* The state file: "mailguard-tlsrpt 1", "period START INTERVAL", then per domain a "domain NAME
 * RUA" line followed by its "policy TYPE STRING MX SUCCESS FAILURE" lines, each followed by its
 * "failure TYPE SENDING-IP MX RECEIVING-IP COUNT REASON" lines (fields percent-encoded). */
int tlsrpt_state_format(const struct tlsrpt_agg *a, struct buf *out);
/* Parses it into *a (which it initialises). Strict: order, field counts, limits, numbers.
 * 0, or -1 with *error_r (static) and *a cleared. Input is untrusted (fuzzed). */
int tlsrpt_state_parse(struct slice text, struct tlsrpt_agg *a, const char **error_r);

struct tlsrpt_meta {
	const char *org_name;	/* organization-name */
	const char *contact;	/* contact-info (an address) */
	const char *submitter;	/* our host name: TLS-Report-Submitter, file name, report-id */
	const char *from;	/* From: address */
	long long now;		/* Date: */
};

/* The RFC 8460 §4.4 JSON report of one domain of a (finished) period, appended to out.
 * report_id_r (size >= 300) receives the report-id used. 0 or -1 with *error_r. */
int tlsrpt_report_json(const struct tlsrpt_agg *a, const struct tlsrpt_domain *d,
    const struct tlsrpt_meta *m, struct buf *out, char *report_id_r, size_t id_size,
    const char **error_r);
/* The whole report message to `to` (CRLF lines of at most 78 octets in the body): headers of
 * §5.3, a text/plain part and the gzipped JSON as a base64 application/tlsrpt+gzip attachment
 * named "submitter!domain!begin!end.json.gz" (§5.1). 0 or -1 with *error_r. */
int tlsrpt_report_message(const struct tlsrpt_agg *a, const struct tlsrpt_domain *d,
    const struct tlsrpt_meta *m, const char *to, struct buf *out, const char **error_r);

/* The mailto: addresses of an rua value (RFC 8460 §3: comma-separated URIs): calls fn for each
 * well-formed one (percent-decoded, without "?query", at most SMTP_PATH_MAX octets, one '@', no
 * spaces or controls); https: and other URIs are counted in *others_r. Returns the number of
 * addresses given to fn. */
size_t tlsrpt_rua_mailto(const char *rua, void (*fn)(const char *addr, void *arg), void *arg,
    size_t *others_r);

/* The §4.4 JSON report of one domain, gzipped (the body of an https: submission, RFC 8460
 * §5.4), appended to out. 0 or -1 with *error_r (out's max reached). */
int tlsrpt_report_gzip(const struct tlsrpt_agg *a, const struct tlsrpt_domain *d,
    const struct tlsrpt_meta *m, struct buf *out, const char **error_r);
/* 1 if url[0..len) is an https: URI we submit reports to: "https://" (any case), a host part,
 * at most TLSRPT_URL_MAX octets, printable ASCII without spaces, quotes, angle brackets and
 * the other characters RFC 3986 excludes. Pure; untrusted input. */
int tlsrpt_https_url_ok(const char *url, size_t len);
/* Calls fn for each https: URI of an rua value (comma-separated, blanks around items
 * ignored) that passes tlsrpt_https_url_ok; returns how many. */
size_t tlsrpt_rua_https(const char *rua, void (*fn)(const char *url, void *arg), void *arg);

#endif
