#ifndef DMARC_DMARC_H
#define DMARC_DMARC_H
/* DMARC (RFC 7489) for the filter: the organisational domain from the Public Suffix List
 * (libpsl), RFC5322.From domain extraction, the policy record parser, policy discovery and
 * evaluation over a struct mg_dns_lookup, the Authentication-Results fragment, and the one-line
 * text row stored for aggregate reports. Everything here is pure apart from the DNS lookups the
 * caller supplies: no globals, no logging, any thread (the PSL handle is shared read-only).
 * Domains handed out are canonical: lowercase, A-labels (U-labels are punycoded), no final dot. */
#include <stddef.h>

#include "common/dns.h"
#include "lib/buf.h"

#define MG_DMARC_DOMAIN_MAX MG_DNS_NAME_MAX	/* canonical domain, without the NUL */
#define MG_DMARC_LABEL_MAX 63			/* RFC 1035 §2.3.4 */
#define MG_DMARC_RECORD_MAX MG_DNS_TXT_MAX	/* octets of one policy record we parse */
#define MG_DMARC_URIS_MAX 4			/* rua/ruf URIs kept per tag (RFC 7489 §6.2 asks for 2) */
#define MG_DMARC_URI_LEN 256			/* octets of one kept URI, without the NUL */
#define MG_DMARC_TXT_RECORDS_MAX 16		/* TXT records at one _dmarc name we look at */
#define MG_DMARC_FROM_VALUE_MAX 16384		/* octets of one From field value (folding included) */
#define MG_DMARC_FROM_MAILBOXES_MAX 64		/* mailboxes in one From field */
#define MG_DMARC_COMMENT_DEPTH_MAX 32		/* nested RFC 5322 comments */
#define MG_DMARC_DKIM_MAX 8			/* DKIM results carried to evaluation and storage */
#define MG_DMARC_SELECTOR_MAX 63		/* DKIM selector octets kept for the report row */
#define MG_DMARC_ROW_MAX 16384		/* one stored report row, without the NUL (the worst case fits) */
#define MG_PSL_DEFAULT_PATH "/usr/share/publicsuffix/public_suffix_list.dat"	/* Debian publicsuffix */

/* --- Domains (domain.c) --- */

/* Canonical form of a DNS domain for DMARC: one final dot dropped, ASCII lowercased, labels of
 * 1..63 octets made of letters, digits, '-' and '_' (service labels), a U-label (UTF-8, expected
 * in the NFC lowercase form RFC 5890 §2.3.2.1 requires) punycoded to its A-label (RFC 3492; no
 * UTS #46 mapping), at most MG_DMARC_DOMAIN_MAX octets. in need not be NUL-terminated. Writes the
 * result to out (NUL-terminated) and returns 0, or -1 with *error_r (static) for an invalid name
 * or when out is too small. Any thread. */
int mg_dmarc_domain_canon(const char *in, size_t len, char *out, size_t outsize,
    const char **error_r);

/* --- Public Suffix List (psl.c) --- */

struct mg_psl;

/* Loads a PSL file (path NULL: MG_PSL_DEFAULT_PATH) with libpsl's psl_load_file. Returns the
 * handle, or NULL with *error_r (static) if the file cannot be read or holds no rule. Startup,
 * any thread; the handle is then shared read-only by every thread (see psl.c on libpsl's thread
 * safety). Free with mg_psl_free (NULLs the pointer) once no thread uses it. */
struct mg_psl *mg_psl_new(const char *path, const char **error_r);
void mg_psl_free(struct mg_psl **psl);

/* The Organizational Domain of domain (RFC 7489 §3.2): the public suffix matching the most
 * labels plus one more label, i.e. libpsl's registrable domain over the whole list (ICANN and
 * private rules, the implicit "*" rule for unlisted TLDs). domain is a DNS name: ASCII is
 * compared case-insensitively, one final dot ignored, U-labels (lowercase UTF-8) and A-labels
 * both match their rules as libpsl matches them, and the result keeps the input's form. Writes
 * the result (lowercase) to out and returns 0; returns 1 with out = domain itself when domain is
 * itself a public suffix (RFC 7489 §3.2 has no label to add: we use the domain itself, as
 * OpenDMARC does, so only an exact match aligns with it); returns -1 for an empty or malformed
 * name (empty label, leading dot, longer than 1023 octets) or when out is too small (out is
 * then ""). Callers in evaluate.c pass canonical names (mg_dmarc_domain_canon).
 * Any thread, concurrently on one handle. */
int mg_psl_org_domain(const struct mg_psl *psl, const char *domain, char *out, size_t outsize);

/* --- RFC5322.From (from.c) --- */

enum mg_dmarc_from_status {
	MG_DMARC_FROM_OK = 0,
	MG_DMARC_FROM_NONE,		/* no From field */
	MG_DMARC_FROM_MULTIPLE,		/* several From fields (RFC 5322 §3.6 allows one) */
	MG_DMARC_FROM_DOMAINS,		/* several mailboxes with different domains (§6.6.1) */
	MG_DMARC_FROM_EMPTY,		/* no mailbox (empty value, empty group, "<>") */
	MG_DMARC_FROM_SYNTAX,		/* not an RFC 5322 address list, or a limit exceeded */
	MG_DMARC_FROM_BAD_DOMAIN,	/* a domain literal or a name mg_dmarc_domain_canon refuses */
	MG_DMARC_FROM_HEADER,		/* the header section itself is malformed */
};

/* The domain of the one RFC5322.From field in a message's header section (header: the message
 * or its header section, CRLF or LF lines; borrowed, never written). RFC 5322 §3.4 address
 * syntax with §4 obsolete forms, RFC 6854 groups and RFC 6532 UTF-8: display names, quoted
 * strings, nested comments, angle addresses with obsolete routes. Several mailboxes sharing one
 * domain are accepted (RFC 7489 §6.6.1). On success writes the canonical domain to out and
 * returns MG_DMARC_FROM_OK; else returns the status and sets *error_r (static, printable). Work
 * is linear in the header size; limits: MG_DMARC_FROM_VALUE_MAX, MG_DMARC_FROM_MAILBOXES_MAX,
 * MG_DMARC_COMMENT_DEPTH_MAX. Any thread. */
enum mg_dmarc_from_status mg_dmarc_from_domain(struct slice header, char *out, size_t outsize,
    const char **error_r);
/* The same for one From field value (after the colon, folding allowed). */
enum mg_dmarc_from_status mg_dmarc_from_value(struct slice value, char *out, size_t outsize,
    const char **error_r);
/* "ok", "none", "multiple", "domains", "empty", "syntax", "bad_domain", "header". */
const char *mg_dmarc_from_status_name(enum mg_dmarc_from_status st);

/* --- Policy records (record.c) --- */

enum mg_dmarc_policy {
	MG_DMARC_POLICY_UNSET = 0,	/* not given (sp: fall back to p) */
	MG_DMARC_POLICY_NONE,
	MG_DMARC_POLICY_QUARANTINE,
	MG_DMARC_POLICY_REJECT,
};

struct mg_dmarc_uri {
	char uri[MG_DMARC_URI_LEN + 1];		/* "mailto:..." as published (percent-encoding kept) */
	unsigned long long max_size;		/* "!size" in octets, 0 = no limit */
};

struct mg_dmarc_record {
	enum mg_dmarc_policy p;			/* never UNSET after a successful parse */
	enum mg_dmarc_policy sp;		/* UNSET: p applies to subdomains */
	int pct;				/* 0..100, default 100 */
	char adkim, aspf;			/* 'r' (default) or 's' */
	int p_defaulted;			/* p was invalid or missing: p=none because of a valid rua (§6.6.3) */
	char fo[16];				/* as published, "0" by default */
	char rf[16];				/* "afrf" by default */
	unsigned long ri;			/* seconds, default 86400 */
	struct mg_dmarc_uri rua[MG_DMARC_URIS_MAX];
	int n_rua;
	struct mg_dmarc_uri ruf[MG_DMARC_URIS_MAX];
	int n_ruf;
	int uris_dropped;			/* URIs not kept: not mailto:, invalid, too long, over the cap */
	int ignored;				/* tags ignored: unknown, repeated, or with an invalid value */
};

/* 1 if txt (len octets, may hold NULs) is a DMARC record by RFC 7489 §6.4/§6.6.3: it starts
 * with "v" (any case) *WSP "=" *WSP "DMARC1" (exact case) followed by *WSP and ";" or the end. */
int mg_dmarc_is_record(const char *txt, size_t len);

/* Parses a DMARC policy record (RFC 7489 §6.3, §6.4), untrusted and fuzzed. Tag names and the
 * p/sp/adkim/aspf values compare case-insensitively; tags may come in any order after v; unknown
 * tags, repeated tags and tags with invalid values are ignored in favour of defaults (§6.3); an
 * invalid or missing p (or an invalid sp) with at least one valid mailto: rua gives p=none with
 * p_defaulted set (§6.6.3), without one the record is rejected. Returns 0 with *out filled, or
 * -1 with *error_r (static) if txt is not a DMARC record, is longer than MG_DMARC_RECORD_MAX,
 * holds a NUL, or has no usable policy. Any thread. */
int mg_dmarc_policy_parse(const char *txt, size_t len, struct mg_dmarc_record *out,
    const char **error_r);
/* "none", "quarantine", "reject" ("" for UNSET). */
const char *mg_dmarc_policy_name(enum mg_dmarc_policy p);

/* --- Evaluation (evaluate.c) --- */

/* RFC 7208 results as the SPF check reported them (values follow filter/spf.h's order). */
enum mg_dmarc_spf {
	MG_DMARC_SPF_NONE = 0,
	MG_DMARC_SPF_NEUTRAL,
	MG_DMARC_SPF_PASS,
	MG_DMARC_SPF_FAIL,
	MG_DMARC_SPF_SOFTFAIL,
	MG_DMARC_SPF_TEMPERROR,
	MG_DMARC_SPF_PERMERROR,
};

/* DKIM results per signature (RFC 8601 §2.7.1 names; RFC 7489 Appendix C DKIMResultType). */
enum mg_dmarc_dkim {
	MG_DMARC_DKIM_NONE = 0,
	MG_DMARC_DKIM_PASS,
	MG_DMARC_DKIM_FAIL,
	MG_DMARC_DKIM_POLICY,
	MG_DMARC_DKIM_NEUTRAL,
	MG_DMARC_DKIM_TEMPERROR,
	MG_DMARC_DKIM_PERMERROR,
};

struct mg_dmarc_dkim_sig {
	const char *domain;		/* borrowed: d= */
	const char *selector;		/* borrowed: s= (may be NULL) */
	enum mg_dmarc_dkim result;
};

struct mg_dmarc_input {
	const char *header_from;	/* borrowed: the RFC5322.From domain (mg_dmarc_from_domain) */
	enum mg_dmarc_spf spf_result;
	const char *spf_domain;		/* borrowed: the domain SPF checked: MAIL FROM, or HELO for
					 * the null sender (RFC 7489 §4.1); NULL or "" if none */
	int spf_is_helo;		/* spf_domain is the HELO identity (report scope "helo") */
	const char *envelope_from;	/* borrowed: MAIL FROM domain, "" for the null sender, for reports */
	const struct mg_dmarc_dkim_sig *dkim;	/* borrowed: every verified signature (pass or not) */
	size_t n_dkim;			/* only the first MG_DMARC_DKIM_MAX are looked at */
	unsigned pct_random;		/* 0..99, uniformly random per message (fixed in tests) */
};

enum mg_dmarc_status {			/* RFC 7489 §11.2 / RFC 8601 names */
	MG_DMARC_NONE = 0,		/* no policy: no record, several records, bad From domain */
	MG_DMARC_PASS,
	MG_DMARC_FAIL,
	MG_DMARC_TEMPERROR,		/* a DNS lookup failed temporarily */
	MG_DMARC_PERMERROR,		/* a record without a usable policy */
};

enum mg_dmarc_disposition {
	MG_DMARC_DIS_NONE = 0,
	MG_DMARC_DIS_QUARANTINE,
	MG_DMARC_DIS_REJECT,
};

struct mg_dmarc_result {
	enum mg_dmarc_status status;
	char header_from[MG_DMARC_DOMAIN_MAX + 1];	/* canonical, "" if unusable */
	char org_domain[MG_DMARC_DOMAIN_MAX + 1];	/* of header_from, "" if none */
	char record_domain[MG_DMARC_DOMAIN_MAX + 1];	/* where the policy was found, "" if none */
	int has_record;			/* record below is valid */
	struct mg_dmarc_record record;
	enum mg_dmarc_policy policy;	/* the one applied: p, or sp for a subdomain of the org
					 * domain found through the org-domain fallback; UNSET if none */
	int policy_is_sp;
	int sampled;			/* pct sampling selected the message (pct_random < pct) */
	enum mg_dmarc_disposition disposition;	/* none unless status is fail */
	int dkim_aligned, spf_aligned;	/* an aligned pass was found (RFC 7489 §3.1) */
	char dkim_domain[MG_DMARC_DOMAIN_MAX + 1];	/* the aligned d=, "" if none */
	int dns_queries;		/* TXT lookups made (0..2) */
	const char *reason;		/* static, short, printable: why this status */
};

struct mg_dmarc_ctx {
	const struct mg_psl *psl;	/* borrowed: shared read-only */
};

/* Policy discovery (RFC 7489 §6.6.3) and evaluation (§6.6.2, §6.6.4, §3.1) for one message:
 * TXT _dmarc.<From domain>, else _dmarc.<Organizational Domain>; TXT records not starting with
 * v=DMARC1 are ignored; several DMARC records end discovery without a policy (status none);
 * NXDOMAIN/NODATA/PERMFAIL mean no record; TEMPFAIL gives temperror. Alignment is relaxed (same
 * Organizational Domain) or strict (equal domains) per adkim/aspf; DKIM counts only pass
 * signatures, SPF only a pass. pct sampling: the full policy applies when pct_random < pct, else
 * reject becomes quarantine and quarantine becomes none (§6.6.4). dns (borrowed for the call) is
 * called on this thread, at most twice. Always fills *out (zeroed first). Returns 0, or -1 only
 * for NULL arguments. Any thread; ctx and its PSL are only read. */
int mg_dmarc_evaluate(const struct mg_dmarc_ctx *ctx, const struct mg_dns_lookup *dns,
    const struct mg_dmarc_input *in, struct mg_dmarc_result *out);

/* "none", "pass", "fail", "temperror", "permerror". */
const char *mg_dmarc_status_name(enum mg_dmarc_status st);
/* "none", "quarantine", "reject". */
const char *mg_dmarc_disposition_name(enum mg_dmarc_disposition d);
const char *mg_dmarc_spf_name(enum mg_dmarc_spf r);
const char *mg_dmarc_dkim_name(enum mg_dmarc_dkim r);

/* The Authentication-Results method fragment (RFC 7489 §11.2, RFC 8601 §2.7 style), e.g.
 * "dmarc=pass (p=reject dis=none) header.from=example.com", "dmarc=fail (p=none sp=reject
 * dis=reject) header.from=a.example.com", "dmarc=none header.from=example.com"; header.from is
 * left out when there is no usable From domain. Returns 0, or -1 if it does not fit in size. */
int mg_dmarc_authres(const struct mg_dmarc_result *res, char *out, size_t size);

/* --- Stored rows for aggregate reports (store.c) --- */

#define MG_DMARC_ROW_VERSION 1

/* One message as RFC 7489 Appendix C's <record> (plus the policy_published it was judged by). */
struct mg_dmarc_row {
	long long when;				/* Unix time of the evaluation */
	char source_ip[46];			/* INET6_ADDRSTRLEN */
	int count;				/* 1 when formatted from a result */
	enum mg_dmarc_status status;		/* overall DMARC result */
	enum mg_dmarc_disposition disposition;
	int dkim_aligned, spf_aligned;		/* policy_evaluated dkim/spf: pass (1) or fail (0) */
	int sampled_out;			/* reason "sampled_out" (pct excluded the message) */
	char header_from[MG_DMARC_DOMAIN_MAX + 1];
	char envelope_from[MG_DMARC_DOMAIN_MAX + 1];	/* "" for the null sender */
	/* auth_results */
	struct {
		char domain[MG_DMARC_DOMAIN_MAX + 1];
		char selector[MG_DMARC_SELECTOR_MAX + 1];
		enum mg_dmarc_dkim result;
	} dkim[MG_DMARC_DKIM_MAX];
	int n_dkim;
	char spf_domain[MG_DMARC_DOMAIN_MAX + 1];
	int spf_is_helo;
	enum mg_dmarc_spf spf_result;
	/* policy_published */
	char policy_domain[MG_DMARC_DOMAIN_MAX + 1];	/* record domain, "" if no record */
	enum mg_dmarc_policy p, sp;		/* sp UNSET when not published */
	int pct;
	char adkim, aspf;
	char fo[16];
};

/* Fills a row from an evaluation (count 1). client_ip is the numeric SMTP client address. */
void mg_dmarc_row_from_result(const struct mg_dmarc_result *res, const struct mg_dmarc_input *in,
    const char *client_ip, long long when, struct mg_dmarc_row *row);
/* Appends the row as one versioned text line without a newline: "mgdmarc1" then space-separated
 * key=value fields, values percent-encoded outside [A-Za-z0-9.-_@]. Returns 0, or -1 if out's
 * max is reached (out is then truncated back to its previous length). */
int mg_dmarc_row_format(const struct mg_dmarc_row *row, struct buf *out);
/* mg_dmarc_row_from_result then mg_dmarc_row_format. */
int mg_dmarc_record_format(const struct mg_dmarc_result *res, const struct mg_dmarc_input *in,
    const char *client_ip, long long when, struct buf *out);
/* Parses a line written by mg_dmarc_row_format (read back from Berkeley DB: trusted for content,
 * still bounds-checked). Unknown keys are ignored (later versions may add some); a missing
 * required key, a repeated key, a bad value or a different version is an error. Returns 0, or -1
 * with *error_r (static). Any thread. */
int mg_dmarc_row_parse(const char *line, size_t len, struct mg_dmarc_row *row,
    const char **error_r);

/* --- Aggregate reports we send (agg_build.c, agg_xml.c, agg_mail.c, agg_rua.c; issue I) --- */
/* The daily job reads one UTC day's stored rows (mg_dmarc_row_parse), groups them per policy
 * domain and published policy (one report each) and, inside a report, per RFC 7489 Appendix C
 * <record> (source IP, policy_evaluated, identifiers, auth_results) with counts; then writes the
 * XML, gzips it, picks the destinations (mailto: rua URIs, size limits, §7.1 external
 * verification, exclusion list) and builds the report message the queue injects. No RUF.
 * Pure apart from the DNS lookups the caller supplies; no globals, no logging; any thread. */

#define MG_DMARC_AGG_REPORTS_MAX 10000		/* reports (policy domain x policy) per day */
#define MG_DMARC_AGG_RECORDS_MAX 200000		/* distinct <record>s per day, all reports */
#define MG_DMARC_AGG_KEY_BYTES_MAX (64u << 20)	/* memory for record keys per day */
#define MG_DMARC_AGG_XML_MAX (64u << 20)	/* one report's XML */
#define MG_DMARC_AGG_MSG_MAX (96u << 20)	/* one report message (base64 of the gzip) */
#define MG_DMARC_AGG_ID_MAX 320			/* report_id octets, without the NUL */
#define MG_DMARC_AGG_COUNT_MAX 1000000000000ULL	/* counts saturate here */
#define MG_DMARC_IP_MAX 39			/* full-form IPv6 text, without the NUL */

/* One <record>: the row's record fields (mg_dmarc_row_format form with t=0, n=1, the source IP
 * in report form and policy_published left empty: it is the grouping key) and the messages. */
struct mg_dmarc_agg_record {
	char *key;				/* owned */
	unsigned long long count;
};

/* One report: a policy domain with the policy_published its rows were judged by. */
struct mg_dmarc_agg_report {
	char policy_domain[MG_DMARC_DOMAIN_MAX + 1];	/* canonical */
	enum mg_dmarc_policy p, sp;		/* sp UNSET: not published */
	int pct;
	char adkim, aspf;			/* 'r', 's' or '\0' (not published) */
	char fo[16];
	char report_id[MG_DMARC_AGG_ID_MAX + 1];	/* set by mg_dmarc_agg_finish */
	struct mg_dmarc_agg_record *rec;
	size_t n_rec, cap_rec;
	unsigned long long messages;		/* sum of the counts */
	size_t *slot;				/* private: hash index into rec */
	size_t n_slot;
};

struct mg_dmarc_agg {
	long long begin, end;			/* the UTC day, inclusive (end = begin + 86399) */
	struct mg_dmarc_agg_report *rep;
	size_t n_rep, cap_rep;
	size_t *slot;				/* private: hash index into rep */
	size_t n_slot;
	size_t n_records, key_bytes;		/* over all reports, against the limits */
	unsigned long long rows;		/* rows counted into a report */
	unsigned long long skipped;		/* rows not for a report: other day, no policy
						 * record, unusable policy domain or source IP */
	unsigned long long dropped;		/* rows lost to the limits above */
	unsigned long long bad;			/* lines mg_dmarc_row_parse refused */
};

/* Starts an empty aggregate for the UTC day holding the Unix time day. */
void mg_dmarc_agg_init(struct mg_dmarc_agg *a, long long day);
/* Frees everything; *a is then as after init of day 0. */
void mg_dmarc_agg_clear(struct mg_dmarc_agg *a);
/* Counts one stored row (its count) into its report and record. Returns 0, or -1 with *error_r
 * (static) when the row is skipped (outside the day, no policy domain, a policy domain that is
 * not a canonical DNS name, a source IP that is not an IP address) or dropped (a limit). */
int mg_dmarc_agg_add(struct mg_dmarc_agg *a, const struct mg_dmarc_row *row, const char **error_r);
/* mg_dmarc_row_parse then mg_dmarc_agg_add; a refused line counts in bad. */
int mg_dmarc_agg_add_line(struct mg_dmarc_agg *a, const char *line, size_t len,
    const char **error_r);
/* Sorts reports (policy domain, policy) and records (key) so output is reproducible, and sets
 * every report_id: "<begin>.<policy-domain>.<16 hex>", the hex an FNV-1a hash of receiver,
 * day and published policy: unique per report and stable when the job runs again. */
void mg_dmarc_agg_finish(struct mg_dmarc_agg *a, const char *receiver);

/* The source IP as RFC 7489 Appendix C's IPAddress pattern wants it: dotted IPv4 (an IPv4-mapped
 * IPv6 address becomes IPv4), IPv6 in full form without "::" ("2001:db8:0:0:0:0:0:1"),
 * lowercase. out needs MG_DMARC_IP_MAX + 1 octets. Returns 0, or -1 if in is not an address. */
int mg_dmarc_ip_report_form(const char *in, char *out, size_t size);

struct mg_dmarc_agg_meta {
	const char *org_name;		/* report_metadata/org_name */
	const char *email;		/* report_metadata/email: the contact address */
	const char *extra_contact;	/* report_metadata/extra_contact_info; NULL or "" for none */
	const char *receiver;		/* our host name: Submitter, file name, Message-ID */
	const char *from;		/* From: address (dmarc_report_from) */
	long long now;			/* Date: */
};

/* The XML report of r (RFC 7489 Appendix C shape, the element set of the DMARC aggregate schema
 * shipped in the corpora: see agg_xml.c), appended to out. Text is escaped; bytes that are not
 * valid UTF-8 or not XML 1.0 characters become '?'. Returns 0, or -1 with *error_r when out's
 * max (or MG_DMARC_AGG_XML_MAX) is reached or a stored record no longer parses. */
int mg_dmarc_agg_xml(const struct mg_dmarc_agg *a, const struct mg_dmarc_agg_report *r,
    const struct mg_dmarc_agg_meta *m, struct buf *out, const char **error_r);
/* gzip (RFC 1952, zlib, no name, mtime 0: the same XML gives the same bytes) of in, appended to
 * out. 0 or -1 (out's max reached, zlib error). */
int mg_dmarc_agg_gzip(const char *in, size_t len, struct buf *out);
/* RFC 7489 §7.2.1.1 file name "receiver!policy-domain!begin!end.xml.gz". 0, or -1 if it does
 * not fit in size or receiver is not a plain host name. */
int mg_dmarc_agg_filename(const struct mg_dmarc_agg *a, const struct mg_dmarc_agg_report *r,
    const char *receiver, char *out, size_t size);
/* The report message (RFC 7489 §7.2.1.1): From, To (the n_to addresses), Date, Subject
 * "Report Domain: D Submitter: R Report-ID: <ID>" (folded), Message-ID, Auto-Submitted,
 * multipart/mixed with a text/plain description and the gzip as a base64 application/gzip
 * attachment named by mg_dmarc_agg_filename. CRLF lines of at most 78 octets in the body.
 * Addresses must be plain addr-specs (mg_dmarc_rua_select's). Appended to out; the caller
 * injects it through the queue with the same recipients. 0, or -1 with *error_r. */
int mg_dmarc_agg_message(const struct mg_dmarc_agg *a, const struct mg_dmarc_agg_report *r,
    const struct mg_dmarc_agg_meta *m, const struct buf *gz, const char *const *to, size_t n_to,
    struct buf *out, const char **error_r);

enum mg_dmarc_rua_status {
	MG_DMARC_RUA_OK = 0,		/* send to it */
	MG_DMARC_RUA_BAD,		/* not a usable mailto: address */
	MG_DMARC_RUA_EXCLUDED,		/* on the exclusion list (bounced) */
	MG_DMARC_RUA_TOO_BIG,		/* the gzip is larger than its "!size" */
	MG_DMARC_RUA_UNAUTHORISED,	/* §7.1: the other domain does not accept reports */
	MG_DMARC_RUA_TEMPFAIL,		/* §7.1 lookup failed temporarily: try the report later */
};

struct mg_dmarc_rua_dest {
	char addr[MG_DMARC_URI_LEN + 1];	/* decoded addr-spec, "" when BAD */
	char domain[MG_DMARC_DOMAIN_MAX + 1];	/* canonical domain of addr */
	unsigned long long max_size;		/* from the URI, 0 = no limit */
	enum mg_dmarc_rua_status status;
	const char *reason;			/* static, printable */
};

/* The address of one rua mailto: URI (as record.c keeps it, size suffix already removed):
 * "mailto:" (any case), hfields after '?' dropped, percent-decoded, exactly one '@', printable
 * ASCII without spaces, '<', '>', '"', '(', ')', ',', ';', '\\', at most MG_DMARC_URI_LEN
 * octets; the domain canonical (mg_dmarc_domain_canon) and written back lowercase. Fills addr
 * and domain (sizes as in struct mg_dmarc_rua_dest). 0, or -1 with *error_r. Untrusted input. */
int mg_dmarc_rua_address(const char *uri, char *addr, size_t addr_size, char *domain,
    size_t domain_size, const char **error_r);
/* RFC 7489 §7.1 external destination verification. Same Organizational Domain for policy_domain
 * and rua_domain: OK without a query. Otherwise TXT "<policy-domain>._report._dmarc.<rua-domain>"
 * through dns (called on this thread, at most once): OK when at least one of the first
 * MG_DMARC_TXT_RECORDS_MAX records starts with v=DMARC1 (mg_dmarc_is_record); NXDOMAIN, NODATA,
 * PERMFAIL, no such record or a name over MG_DNS_NAME_MAX: UNAUTHORISED; TEMPFAIL: TEMPFAIL.
 * *reason_r is static. Any thread. */
enum mg_dmarc_rua_status mg_dmarc_rua_authorised(const struct mg_psl *psl,
    const struct mg_dns_lookup *dns, const char *policy_domain, const char *rua_domain,
    const char **reason_r);
/* 1 if addr (an addr-spec) is on the exclusion list: an entry equal to it ignoring case, or an
 * entry "@domain" equal to its domain ignoring case. Entries are trimmed of blanks; empty and
 * "#" entries are ignored. */
int mg_dmarc_rua_is_excluded(const char *addr, const char *const *excluded, size_t n_excluded);
/* The destinations of one report whose gzip has gz_size octets: for each rua URI of rec
 * (mailto: only, as record.c keeps them; at most MG_DMARC_URIS_MAX), in order, the address,
 * then the exclusion list, the size limit (skipped when gz_size > max_size), then §7.1 (only for
 * addresses that passed the others, one lookup per distinct rua domain). Duplicate addresses are
 * reported BAD. Fills dests[0..*n_dests) (room for MG_DMARC_URIS_MAX) and returns how many are
 * OK; ruf URIs are never looked at (no failure reports). Any thread. */
int mg_dmarc_rua_select(const struct mg_psl *psl, const struct mg_dns_lookup *dns,
    const char *policy_domain, const struct mg_dmarc_record *rec, size_t gz_size,
    const char *const *excluded, size_t n_excluded, struct mg_dmarc_rua_dest *dests,
    size_t *n_dests);
/* The policy record a report goes by, looked up at report time: TXT _dmarc.<policy_domain>
 * (the record the rows were judged by came from there; its rua is not in the stored rows), the
 * one record starting with v=DMARC1, parsed. 0 with *rec filled, 1 when there is no usable
 * record now (none, several, invalid, PERMFAIL: no report is sent), -1 on TEMPFAIL (try
 * later). *reason_r is static. Any thread. */
int mg_dmarc_agg_policy_lookup(const struct mg_dns_lookup *dns, const char *policy_domain,
    struct mg_dmarc_record *rec, const char **reason_r);

/* --- Incoming aggregate reports (issue I, helper ruain): dmarc/report.h, dmarc/report_*.c --- */
#include "dmarc/report.h"
#include "dmarc/tlsrpt_in.h"

/* --- The archive of incoming reports' original XML (dmarc/report_archive.c) --- */
struct mg_rarchive;

/* The archive in dir (created mode 0700 when missing). NULL with *error_r (static). */
struct mg_rarchive *mg_rarchive_open(const char *dir, const char **error_r);
void mg_rarchive_free(struct mg_rarchive **ap);
/* Keeps the XML (len octets) of report r, stored under protected domain domain, durably (the
 * file and its directory fsynced before it returns). Returns 1 written, 0 already archived,
 * -1 with *error_r (static; errno from the failing step). Any thread. */
int mg_rarchive_put(struct mg_rarchive *a, const char *domain, const struct mg_report *r,
    const void *xml, size_t len, const char **error_r);
/* For each archived report of domain (NULL: every domain): fn(arg, domain, xml, len, mtime),
 * the XML unpacked with the report caps; mtime is when it was archived (its receipt). fn
 * returns 0 to go on or -1 to stop with an error. Files that cannot be read or unpacked are
 * skipped and counted in *bad_r. Returns the number of files handed to fn, or -1. */
typedef int mg_rarchive_fn(void *arg, const char *domain, const char *xml, size_t len,
    long long mtime);
long long mg_rarchive_scan(struct mg_rarchive *a, const char *domain, mg_rarchive_fn *fn,
    void *arg, size_t *bad_r);
/* Deletes archived reports received before now - retention; adds their number to *removed_r
 * (may be NULL). Visits every file (one stat each): for the maintenance job. Returns 0 or -1. */
int mg_rarchive_expire(struct mg_rarchive *a, long long now, long long retention,
    size_t *removed_r);

#endif
