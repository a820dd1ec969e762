#ifndef DMARC_TLSRPT_IN_H
#define DMARC_TLSRPT_IN_H
/* Incoming SMTP TLS reports (RFC 8460, issue I item 5): from a whole message or a bare
 * .json/.json.gz file to parsed reports (tlsrpt_parse.c), and their Berkeley DB tables
 * (tlsrpt_store.c). Same stance as the DMARC reports (dmarc/report.h): every input is hostile.
 *   extraction: the DMARC report extractor (mg_report_extract, dmarc/report.h) taking the
 *     kinds MG_REPORT_KINDS_TLSRPT: MIME (common/mime.h) -> leaf parts whose decoded octets are
 *     JSON ('{' after an optional BOM and whitespace) or gzip by magic (declared types and
 *     names are not trusted; application/tlsrpt+json, application/tlsrpt+gzip, .json.gz as
 *     octet-stream all qualify);
 *   unpacking: gzip through mg_report_unpack (at most 2 levels, absolute and ratio caps while
 *     inflating, here with the JSON cap);
 *   JSON: a bracket-depth pre-scan (MG_TLSRPT_DEPTH_MAX, far below jansson's own recursive
 *     JSON_PARSER_MAX_DEPTH of 2048), then jansson json_loadb with JSON_REJECT_DUPLICATES, then
 *     the RFC 8460 §4 fields with caps on policies, failure details and string lengths.
 * Pure: no I/O, no logging, no globals. Any thread; a struct mg_tlsrpt belongs to one thread at
 * a time. Other subsystems reach it through dmarc/dmarc.h (the include-deps rule). */
#include <stddef.h>

#include "lib/buf.h"

#define MG_TLSRPT_JSON_MAX (16u * 1024 * 1024)	/* octets of JSON per report, after unpacking */
#define MG_TLSRPT_PAYLOADS_MAX 8		/* reports taken from one message */
#define MG_TLSRPT_POLICIES_MAX 1000		/* policies[] per report */
#define MG_TLSRPT_FAILURES_MAX 10000		/* failure-details[] per report, all policies */
#define MG_TLSRPT_STRINGS_MAX 64		/* policy-string[] / mx-host[] entries kept */
#define MG_TLSRPT_STRING_MAX 255		/* octets of one string value */
#define MG_TLSRPT_DEPTH_MAX 16			/* object/array nesting (the format needs 6) */
#define MG_TLSRPT_COUNT_MAX 1000000000000ULL	/* one session count (10^12) */
#define MG_TLSRPT_IDENTITY_MAX (6 * MG_TLSRPT_STRING_MAX + 2)	/* mg_tlsrpt_identity, NUL */

struct mg_tlsrpt_limits {
	size_t json_max;	/* MG_TLSRPT_JSON_MAX */
	size_t ratio_free;	/* MG_REPORT_RATIO_FREE */
	unsigned ratio_max;	/* MG_REPORT_RATIO_MAX */
	int gzip_depth;		/* MG_REPORT_GZIP_DEPTH */
	int payloads;		/* MG_TLSRPT_PAYLOADS_MAX */
	size_t policies;	/* MG_TLSRPT_POLICIES_MAX */
	size_t failures;	/* MG_TLSRPT_FAILURES_MAX */
	int depth;		/* MG_TLSRPT_DEPTH_MAX */
};

/* Why a report was refused (mg_tlsrpt_reason_name gives the log word). */
enum mg_tlsrpt_reason {
	MG_TLSRPT_OK = 0,
	MG_TLSRPT_E_NO_REPORT,	/* "no_report": no JSON or gzip payload in the input */
	MG_TLSRPT_E_CONTAINER,	/* "container": corrupt or truncated gzip, zip given */
	MG_TLSRPT_E_NESTING,	/* "nesting": gzip deeper than gzip_depth */
	MG_TLSRPT_E_SIZE,	/* "size": JSON (or a MIME part) over json_max */
	MG_TLSRPT_E_RATIO,	/* "ratio": decompression ratio over ratio_max */
	MG_TLSRPT_E_JSON,	/* "json": not JSON (syntax, bad UTF-8, duplicate key, huge int) */
	MG_TLSRPT_E_DEPTH,	/* "depth": nested deeper than depth */
	MG_TLSRPT_E_SCHEMA,	/* "schema": a required field missing or of the wrong type */
	MG_TLSRPT_E_VALUE,	/* "value": bad date, count, domain, IP, policy-type, overlong */
	MG_TLSRPT_E_POLICIES,	/* "policies": more than policies entries (or none) */
	MG_TLSRPT_E_FAILURES,	/* "failures": more than failures failure-details */
	MG_TLSRPT_REASON_COUNT
};

struct mg_tlsrpt_err {
	enum mg_tlsrpt_reason reason;
	char text[256];		/* printable ASCII, peer text sanitised; "" when OK */
};

/* Quirks tolerated (bits of mg_tlsrpt.quirks). */
#define MG_TLSRPT_Q_CASE	0x0001	/* policy-type/result-type in other case */
#define MG_TLSRPT_Q_STR_COUNT	0x0002	/* a count written as a string of digits */
#define MG_TLSRPT_Q_NO_CONTACT	0x0004	/* contact-info missing or null */
#define MG_TLSRPT_Q_TRUNCATED	0x0008	/* a free-text string or list cut at its cap */
#define MG_TLSRPT_Q_MX_STRING	0x0010	/* mx-host as one string (RFC 8460 §4.4 example) */
#define MG_TLSRPT_Q_TIME_FORM	0x0020	/* lowercase 't'/'z' or a space in a date-time */
#define MG_TLSRPT_Q_REAL_COUNT	0x0040	/* a count written as an integral real (5.0) */
#define MG_TLSRPT_Q_GZIP_TRAIL	0x0080	/* bytes after the gzip stream ignored */

enum mg_tlsrpt_ptype {
	MG_TLSRPT_P_STS = 1,		/* "sts" */
	MG_TLSRPT_P_TLSA,		/* "tlsa" */
	MG_TLSRPT_P_NONE,		/* "no-policy-found" */
};

/* One failure-details entry (RFC 8460 §4.3). Strings "" when absent. */
struct mg_tlsrpt_failure {
	const char *result_type;		/* lowercase token, never "" */
	const char *sending_mta_ip;		/* inet_ntop form */
	const char *receiving_mx_hostname;	/* lowercase, no trailing dot */
	const char *receiving_mx_helo;
	const char *receiving_ip;		/* inet_ntop form */
	const char *additional_information;
	const char *failure_reason_code;
	unsigned long long failed;		/* failed-session-count */
};

struct mg_tlsrpt_policy {
	enum mg_tlsrpt_ptype type;
	const char *domain;		/* policy-domain: lowercase DNS name, no trailing dot */
	const char **strings;		/* policy-string[] (at most MG_TLSRPT_STRINGS_MAX) */
	size_t n_strings;
	const char **mx_hosts;		/* mx-host[] */
	size_t n_mx_hosts;
	unsigned long long successful, failed;	/* summary */
	struct mg_tlsrpt_failure *failures;
	size_t n_failures;
};

struct mg_tlsrpt_arena;

/* One parsed report. Every string is NUL-terminated UTF-8 without control characters (replaced
 * by '?'), trimmed, at most MG_TLSRPT_STRING_MAX octets, owned by the report's arena. */
struct mg_tlsrpt {
	const char *org;		/* organization-name, may be "" */
	const char *contact;		/* contact-info, "" when missing (Q_NO_CONTACT) */
	const char *report_id;		/* never "" */
	long long begin, end;		/* date-range, Unix seconds (fractions dropped) */
	struct mg_tlsrpt_policy *policies;	/* at least one */
	size_t n_policies;
	size_t n_failures;		/* over all policies */
	unsigned long long successful, failed;	/* sums over the policies */
	unsigned quirks;		/* MG_TLSRPT_Q_* */
	struct mg_tlsrpt_arena *arena;
};

/* One JSON document ready for mg_tlsrpt_parse_json. */
struct mg_tlsrpt_blob {
	char *data;		/* owned, NUL-terminated after len */
	size_t len;
	int gzipped;		/* came out of gzip */
	unsigned quirks;	/* MG_TLSRPT_Q_GZIP_TRAIL */
};

struct mg_tlsrpt_blobs {
	struct mg_tlsrpt_blob *v;
	size_t n;
};

void mg_tlsrpt_limits_default(struct mg_tlsrpt_limits *l);
/* "ok", "no_report", "container", ... as listed above; "unknown" outside the enum. */
const char *mg_tlsrpt_reason_name(enum mg_tlsrpt_reason r);
const char *mg_tlsrpt_ptype_name(enum mg_tlsrpt_ptype t);	/* "sts", "tlsa", "no-policy-found" */
void mg_tlsrpt_blobs_free(struct mg_tlsrpt_blobs *b);

/* Shared by the tlsrpt_*.c files: fills *err (the first failure wins; err may be NULL), making
 * the text printable ('?' for other octets). Returns -1. */
int mg_tlsrpt_fail(struct mg_tlsrpt_err *err, enum mg_tlsrpt_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 when p is JSON by its first octets (optional UTF-8 BOM, whitespace, '{'), 2 when gzip
 * (1f 8b 08), 0 otherwise (mg_report_sniff's JSON and GZIP). */
int mg_tlsrpt_sniff(const void *p, size_t len);

/* Whole message (RFC 5322, CRLF or LF) or a bare JSON/gzip file -> JSON documents appended to
 * *out (at most l->payloads by this call; mg_report_extract does the work, its reasons mapped
 * to ours). Returns 0 when at least one document was found (failures of other
 * parts are then ignored, *err keeps the first), -1 with *err (E_NO_REPORT when nothing looked
 * like a report, else the first part's failure). l NULL = defaults. */
int mg_tlsrpt_extract(const char *msg, size_t len, const struct mg_tlsrpt_limits *l,
    struct mg_tlsrpt_blobs *out, struct mg_tlsrpt_err *err);

/* Parses one JSON document (hostile; need not be NUL-terminated; never written). Checks in
 * order: len <= json_max, nesting depth, JSON syntax with duplicate keys refused, RFC 8460 §4
 * fields. Unknown members are ignored. Returns the report (free with mg_tlsrpt_free) or NULL
 * with *err filled. l NULL = defaults. */
struct mg_tlsrpt *mg_tlsrpt_parse_json(const char *json, size_t len,
    const struct mg_tlsrpt_limits *l, struct mg_tlsrpt_err *err);
void mg_tlsrpt_free(struct mg_tlsrpt **r);

/* RFC 3339 date-time ("2016-04-01T00:00:00Z", fractions, "+02:00" offsets; lowercase t/z and
 * a space for T tolerated with Q_TIME_FORM) to Unix seconds in *t_r (1970..9999). 0 or -1. */
int mg_tlsrpt_time_parse(const char *s, long long *t_r, unsigned *quirks);

/* The de-duplication identity "org|report-id": org trimmed, whitespace runs made one space,
 * ASCII-lowercased; both percent-encoded outside [A-Za-z0-9.-_@:+] (mg_report_identity_of, the
 * DMARC reports' own). 0, or -1 if too long. */
int mg_tlsrpt_identity(const struct mg_tlsrpt *r, char *out, size_t size);

/* --- Stored reports (tlsrpt_store.c) ---
 * Tables in the filter's Berkeley DB environment (lib/kvdb.h); keys printable text separated by
 * 0x1f, starting with the protected domain the policies belong to, so one domain's records are
 * one key range:
 *   tlsrpt_rpt  "<dom>\x1f<identity>" -> "mgtls1 recv=.. begin=.. end=.. policies=.. ok=..
 *               fail=.. org=.. id=.. contact=.." -- written only when absent (de-duplication);
 *   tlsrpt_day  "<dom>\x1f<yyyymmdd>\x1f<policy type>\x1f<policy domain>" -> "recv=<t> ok fail";
 *   tlsrpt_fail "<dom>\x1f<yyyymmdd>\x1f<result type>\x1f<sending ip>\x1f<mx>\x1f<receiving ip>"
 *               -> "recv=<t> failed" (the failure-detail groups).
 * The day is the UTC day of the report's start-datetime. Field values in keys and values are
 * percent-encoded outside [A-Za-z0-9.-_@:] by the DMARC report tables' value helpers
 * (mg_rstore_put_enc, mg_rstore_field, mg_rstore_sweep: dmarc/report.h). Everything expires tlsrpt_rua_retention after it
 * was received or last updated. Any thread. */
struct mg_kvdb;
struct mg_tstore;

struct mg_tstore_report {		/* one stored report (mg_tstore_reports) */
	char identity[MG_TLSRPT_IDENTITY_MAX];
	char org[MG_TLSRPT_STRING_MAX + 1];	/* decoded, printable */
	char contact[MG_TLSRPT_STRING_MAX + 1];
	char report_id[MG_TLSRPT_STRING_MAX + 1];
	long long recv, begin, end;
	unsigned long long policies, successful, failed;
};

struct mg_tstore_day {			/* one UTC day of a domain (mg_tstore_days) */
	char day[9];			/* yyyymmdd */
	char policy_type[32];
	char policy_domain[MG_TLSRPT_STRING_MAX + 1];
	unsigned long long successful, failed;
};

struct mg_tstore_fail {			/* one failure group over a period */
	char result_type[MG_TLSRPT_STRING_MAX + 1];
	char sending_ip[46], receiving_ip[46];
	char mx[MG_TLSRPT_STRING_MAX + 1];
	unsigned long long failed;
};

/* Opens (creating) the three tables in kv. NULL with *error_r (static). */
struct mg_tstore *mg_tstore_open(struct mg_kvdb *kv, const char **error_r);
void mg_tstore_free(struct mg_tstore **sp);
/* Stores the policies of r that mask[i] selects (mask NULL: all) under the protected domain
 * dom (lowercase), received at recv. Returns 1 stored, 0 duplicate (dom + identity already
 * there: nothing written), -1 storage error (*error_r static). */
int mg_tstore_put(struct mg_tstore *s, const char *dom, const struct mg_tlsrpt *r,
    const unsigned char *mask, long long recv, const char **error_r);
/* Reports of dom whose start day (UTC) is >= since's day, newest first (end, then recv),
 * at most max; *out allocated (xfree), *n_r its length. 0 or -1. */
int mg_tstore_reports(struct mg_tstore *s, const char *dom, long long since, size_t max,
    struct mg_tstore_report **out, size_t *n_r);
/* Day rows of dom with day >= since's day, in key order (day, type, policy domain). */
int mg_tstore_days(struct mg_tstore *s, const char *dom, long long since,
    struct mg_tstore_day **out, size_t *n_r);
/* Failure groups of dom over days >= since's day, summed over the days, by failed descending. */
int mg_tstore_failures(struct mg_tstore *s, const char *dom, long long since,
    struct mg_tstore_fail **out, size_t *n_r);
/* Expiry: deletes what was received (or last updated) before now - retention, visiting at
 * most max_items records per table. Adds the number deleted to *removed_r. 0 or -1. */
int mg_tstore_expire(struct mg_tstore *s, long long now, long long retention, size_t max_items,
    size_t *removed_r);

#endif
