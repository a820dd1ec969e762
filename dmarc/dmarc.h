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

#endif
