#ifndef DMARC_REPORT_H
#define DMARC_REPORT_H
/* Incoming DMARC aggregate reports (issue I): from a whole message, or a bare .xml/.gz/.zip
 * file, to parsed reports. Three stages, each usable alone (tests, fuzz targets, mailguardctl):
 *   extraction (report_extract.c): MIME (common/mime.h) -> leaf parts whose magic says gzip,
 *     zip or XML (names and declared types are not trusted);
 *   unpacking (report_unpack.c): gzip (zlib, at most 2 levels), zip (libzip, from memory, at
 *     most 16 entries, .xml entries only), with absolute and ratio caps checked while inflating;
 *   XML (report_xml.c): libxml2's streaming reader, no network, no DTD, no entity substitution,
 *     a document with a DOCTYPE is refused; RFC 7489 Appendix C or DMARCbis
 *     (urn:ietf:params:xml:ns:dmarc-2.0), known real-world quirks tolerated.
 * Pure: no I/O, no logging, no globals besides libxml2's own (mg_report_init once at startup).
 * Any thread; a struct mg_report belongs to one thread at a time. Every failure carries a
 * reason code (for the counter) and a printable text (for the log line). Other subsystems
 * reach this through dmarc/dmarc.h, which includes this header. */
#include <stdarg.h>
#include <stddef.h>

#include "lib/buf.h"

#define MG_REPORT_XML_MAX (32u * 1024 * 1024)	/* octets of XML per report, after unpacking */
#define MG_REPORT_RATIO_FREE (1u * 1024 * 1024)	/* output allowed before the ratio applies */
#define MG_REPORT_RATIO_MAX 200			/* output:input beyond RATIO_FREE */
#define MG_REPORT_GZIP_DEPTH 2			/* gzip inside gzip: seen in the wild, no deeper */
#define MG_REPORT_ZIP_ENTRIES_MAX 16		/* entries in one zip (any kind) */
#define MG_REPORT_PAYLOADS_MAX 8		/* reports taken from one message */
#define MG_REPORT_RECORDS_MAX 100000		/* <record> elements per report */
#define MG_REPORT_DKIM_MAX 8			/* auth_results/dkim kept per record */
#define MG_REPORT_SPF_MAX 4			/* auth_results/spf kept per record */
#define MG_REPORT_DEPTH_MAX 32			/* element nesting (libxml2 stops at 256 itself) */
#define MG_REPORT_VALUE_MAX 1024		/* octets of one element's text we look at */
#define MG_REPORT_NAME_MAX 255			/* org_name, email, report_id, domains */
#define MG_REPORT_IDENTITY_MAX (6 * MG_REPORT_NAME_MAX + 2)	/* mg_report_identity, with NUL */
#define MG_REPORT_NS_BIS "urn:ietf:params:xml:ns:dmarc-2.0"

struct mg_report_limits {
	size_t xml_max;		/* MG_REPORT_XML_MAX */
	size_t ratio_free;	/* MG_REPORT_RATIO_FREE */
	unsigned ratio_max;	/* MG_REPORT_RATIO_MAX */
	int gzip_depth;		/* MG_REPORT_GZIP_DEPTH */
	int zip_entries;	/* MG_REPORT_ZIP_ENTRIES_MAX */
	int payloads;		/* MG_REPORT_PAYLOADS_MAX */
	size_t records;		/* MG_REPORT_RECORDS_MAX */
	unsigned kinds;		/* payloads taken, MG_REPORT_KINDS_DMARC (0: the same) */
};

/* Why a report was refused; the names (mg_report_reason_name) label the rejection counter. */
enum mg_report_reason {
	MG_REPORT_OK = 0,
	MG_REPORT_E_NO_REPORT,	/* "no_report": no XML, gzip or zip payload in the input */
	MG_REPORT_E_CONTAINER,	/* "container": corrupt gzip/zip, encrypted, no .xml entry */
	MG_REPORT_E_NESTING,	/* "nesting": gzip deeper than gzip_depth, zip inside gzip */
	MG_REPORT_E_ENTRIES,	/* "zip_entries": more than zip_entries entries */
	MG_REPORT_E_SIZE,	/* "size": XML (or a MIME part) over xml_max */
	MG_REPORT_E_RATIO,	/* "ratio": decompression ratio over ratio_max */
	MG_REPORT_E_XML,	/* "xml": not well-formed, bad encoding, nested too deep */
	MG_REPORT_E_DTD,	/* "dtd": a DOCTYPE (entities, external subsets) */
	MG_REPORT_E_SCHEMA,	/* "schema": not <feedback>, a required element missing or twice */
	MG_REPORT_E_VALUE,	/* "value": a bad IP, count, timestamp, domain or an overlong value */
	MG_REPORT_E_RECORDS,	/* "records": more than records <record> elements */
	MG_REPORT_REASON_COUNT
};

struct mg_report_err {
	enum mg_report_reason reason;
	char text[256];		/* printable ASCII, peer text sanitised; "" when reason is OK */
};

void mg_report_limits_default(struct mg_report_limits *l);
/* "ok", "no_report", "container", ... as listed above. */
const char *mg_report_reason_name(enum mg_report_reason r);

/* Shared by the report_*.c files: fills *err (the first failure wins: later calls leave it as
 * it is; err may be NULL), replacing non-printable octets of the text by '?'. Returns -1. */
int mg_report_fail(struct mg_report_err *err, enum mg_report_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The text of a failure (mg_report_fail, mg_tlsrpt_fail): formatted into text[0..size) and
 * made printable (octets outside 0x20..0x7e become '?'). */
void mg_report_vtext(char *text, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Once, from the main thread, before any thread parses: xmlInitParser (libxml2's own global
 * state). Idempotent. */
void mg_report_init(void);

/* --- Payloads: extraction and unpacking (report_extract.c, report_unpack.c) --- */

enum mg_report_kind {
	MG_REPORT_KIND_NONE = 0,	/* none of the below */
	MG_REPORT_KIND_XML,		/* optional BOM and whitespace, then "<?xml" or "<feedback" (any ns prefix) */
	MG_REPORT_KIND_GZIP,		/* 1f 8b 08 */
	MG_REPORT_KIND_ZIP,		/* "PK\3\4" or "PK\5\6" (empty) */
	MG_REPORT_KIND_JSON,		/* optional BOM and whitespace, then '{' (TLS-RPT) */
};

/* Which payloads extraction and unpacking take (mg_report_limits.kinds, bits 1 << kind): a
 * DMARC report comes as XML, gzip or zip; an SMTP TLS report (RFC 8460 §5.3, tlsrpt_in.h)
 * as JSON or gzip. gzip always holds one document, whatever it sniffs as. */
#define MG_REPORT_KINDS_DMARC ((1u << MG_REPORT_KIND_XML) | (1u << MG_REPORT_KIND_GZIP) | \
	(1u << MG_REPORT_KIND_ZIP))
#define MG_REPORT_KINDS_TLSRPT ((1u << MG_REPORT_KIND_JSON) | (1u << MG_REPORT_KIND_GZIP))

/* The container kind of p by its magic bytes only. */
enum mg_report_kind mg_report_sniff(const void *p, size_t len);
/* Whether l (NULL: defaults) takes payloads of kind k. */
int mg_report_kind_taken(const struct mg_report_limits *l, enum mg_report_kind k);
/* The kinds l takes, for messages: "XML, gzip or zip", "JSON or gzip". */
void mg_report_kinds_text(const struct mg_report_limits *l, char *out, size_t size);

/* One document (XML for mg_report_parse_xml, or JSON when l->kinds takes it). */
struct mg_report_blob {
	char *data;		/* owned, NUL-terminated after len */
	size_t len;
	enum mg_report_kind from;	/* container it came out of (XML when bare) */
	unsigned quirks;		/* MG_REPORT_Q_* seen while unpacking (GZIP_TRAIL) */
};

struct mg_report_blobs {
	struct mg_report_blob *v;
	size_t n;
};

void mg_report_blobs_free(struct mg_report_blobs *b);

/* Unpacks one payload (bare XML, gzip, double gzip, zip; bare JSON when l->kinds takes it, a
 * kind it does not take counts as none of them) into documents appended to *out
 * (at most l->payloads in all). Limits are checked while inflating: never more than
 * l->xml_max + 64 KiB is allocated for one document whatever sizes the container claims. gzip:
 * concatenated members are joined, trailing bytes after the last member ignored. zip: at most
 * l->zip_entries entries, only names ending ".xml" (any case) or an unnamed entry ("" or "-",
 * as "zip - -" writes it) whose content sniffs as XML; encrypted entries refused.
 * Returns 0 (at least one document added), or -1 with *err filled (documents already added
 * stay in *out). l NULL = defaults. */
int mg_report_unpack(const void *p, size_t len, const struct mg_report_limits *l,
    struct mg_report_blobs *out, struct mg_report_err *err);

/* Extraction: every leaf part of a whole message (RFC 5322, CRLF or LF) whose transfer-decoded
 * octets sniff as a kind of l->kinds (XML, gzip or zip) goes through mg_report_unpack; a bare
 * file of such a kind is unpacked directly. Also TLS-RPT's (mg_tlsrpt_extract). Returns 0 if at least one document was found (failures of other parts
 * are then ignored, *err keeps the first one), -1 with *err (E_NO_REPORT when nothing looked
 * like a report, else the first part's failure). */
int mg_report_extract(const char *msg, size_t len, const struct mg_report_limits *l,
    struct mg_report_blobs *out, struct mg_report_err *err);

/* --- Parsed reports (report_xml.c) --- */

/* Results as reporters write them (RFC 7489 Appendix C DKIMResultType, SPFResultType,
 * DMARCResultType), compared case-insensitively; UNSET = element missing, OTHER = a value
 * outside the schema (kept, counted as a quirk). "hardfail" is read as fail. */
enum mg_report_result {
	MG_RR_UNSET = 0,
	MG_RR_NONE,
	MG_RR_PASS,
	MG_RR_FAIL,
	MG_RR_SOFTFAIL,
	MG_RR_NEUTRAL,
	MG_RR_POLICY,
	MG_RR_TEMPERROR,
	MG_RR_PERMERROR,
	MG_RR_OTHER,
};

/* policy_evaluated/disposition; PASS is DMARCbis' value for mail that passed. */
enum mg_report_disp {
	MG_RD_UNSET = 0,
	MG_RD_NONE,
	MG_RD_PASS,
	MG_RD_QUARANTINE,
	MG_RD_REJECT,
	MG_RD_OTHER,
};

enum mg_report_policy {		/* policy_published p, sp, np */
	MG_RP_UNSET = 0,
	MG_RP_NONE,
	MG_RP_QUARANTINE,
	MG_RP_REJECT,
	MG_RP_OTHER,
};

enum mg_report_scope { MG_RS_UNSET = 0, MG_RS_MFROM, MG_RS_HELO, MG_RS_OTHER };

/* Quirks tolerated (bits of mg_report.quirks). */
#define MG_REPORT_Q_CASE	0x0001	/* values in other case ("Pass", "None") */
#define MG_REPORT_Q_FLOAT_TIME	0x0002	/* "1530133200.0" timestamps (fraction dropped) */
#define MG_REPORT_Q_EMPTY_ORG	0x0004	/* empty org_name */
#define MG_REPORT_Q_XS_SCHEMA	0x0008	/* stray <xs:schema> tags before <feedback> removed */
#define MG_REPORT_Q_OTHER_VALUE	0x0010	/* a result/disposition outside the schema (OTHER) */
#define MG_REPORT_Q_TRUNCATED	0x0020	/* auth_results beyond the DKIM/SPF caps dropped */
#define MG_REPORT_Q_GZIP_TRAIL	0x0040	/* bytes after the gzip stream ignored */
#define MG_REPORT_Q_BAD_DOMAIN	0x0080	/* policy domain kept as written (not a DNS name) */

struct mg_report_dkim {
	const char *domain;	/* lowercase, "" if missing */
	const char *selector;	/* "" if missing */
	enum mg_report_result result;
};

struct mg_report_spf {
	const char *domain;
	enum mg_report_scope scope;
	enum mg_report_result result;
};

struct mg_report_record {
	char source_ip[46];		/* inet_ntop form of row/source_ip */
	unsigned long long count;	/* row/count */
	enum mg_report_disp disposition;
	enum mg_report_result pol_dkim, pol_spf;	/* policy_evaluated (pass/fail) */
	const char *reason;		/* first policy_evaluated/reason/type, lowercase, "" if none */
	const char *header_from, *envelope_from, *envelope_to;	/* lowercase, "" if missing */
	struct mg_report_dkim *dkim;	/* auth_results, in document order */
	size_t n_dkim;
	struct mg_report_spf *spf;
	size_t n_spf;
};

struct mg_report_arena;

/* One parsed report. Every string is NUL-terminated UTF-8 without control characters, owned
 * by the report (its arena), trimmed of surrounding whitespace. */
struct mg_report {
	int bis;			/* 1: DMARCbis namespace, 0: RFC 7489 (no namespace) */
	const char *org_name;		/* may be "" (quirk) */
	const char *email, *extra_contact, *report_id;	/* report_id never "" */
	long long begin, end;		/* date_range, Unix seconds */
	struct {
		const char *domain;	/* canonical (mg_dmarc_domain_canon) when possible */
		char adkim, aspf;	/* 'r', 's', or 0 when missing */
		enum mg_report_policy p, sp, np;
		int pct;		/* 0..100, -1 when missing */
		const char *fo;		/* "" when missing */
	} policy;
	struct mg_report_record *records;
	size_t n_records;
	unsigned long long total;	/* sum of the counts */
	unsigned quirks;		/* MG_REPORT_Q_* */
	struct mg_report_arena *arena;
};

/* Parses one XML document (hostile; need not be NUL-terminated; never written). Checks, in
 * order: len <= l->xml_max, no DOCTYPE, well-formed (libxml2 reader: XML_PARSE_NONET, no
 * NOENT/DTDLOAD/DTDATTR/HUGE), root <feedback> without a namespace or in MG_REPORT_NS_BIS,
 * depth, record count, values. Elements in other namespaces and unknown elements are skipped.
 * Returns the report (free with mg_report_free) or NULL with *err filled. l NULL = defaults. */
struct mg_report *mg_report_parse_xml(const char *xml, size_t len,
    const struct mg_report_limits *l, struct mg_report_err *err);
void mg_report_free(struct mg_report **r);

/* The de-duplication identity "org|report_id": org_name trimmed, inner whitespace runs made
 * one space and ASCII-lowercased, report_id trimmed; both percent-encoded outside
 * [A-Za-z0-9.-_@:+] so the key is printable and '|' separates them unambiguously. Returns 0,
 * or -1 if it does not fit in size. */
int mg_report_identity(const struct mg_report *r, char *out, size_t size);
/* The same over the two strings: the one identity function of DMARC and TLS-RPT reports
 * (mg_tlsrpt_identity). */
int mg_report_identity_of(const char *org, const char *report_id, char *out, size_t size);

const char *mg_report_result_name(enum mg_report_result v);	/* "", "none", "pass", ... "other" */
const char *mg_report_disp_name(enum mg_report_disp v);
const char *mg_report_policy_name(enum mg_report_policy v);
const char *mg_report_scope_name(enum mg_report_scope v);

/* --- Internal to dmarc/report_*.c (report_values.c) --- */

/* Keyword values (trimmed, NUL-terminated): exact or case-insensitive match (Q_CASE), "" is
 * UNSET, anything else OTHER (Q_OTHER_VALUE). */
enum mg_report_result mg_report_result_parse(const char *s, unsigned *quirks);
enum mg_report_disp mg_report_disp_parse(const char *s, unsigned *quirks);
enum mg_report_policy mg_report_policy_parse(const char *s, unsigned *quirks);
enum mg_report_scope mg_report_scope_parse(const char *s, unsigned *quirks);
/* Unix seconds: digits, optionally ".digits" (Q_FLOAT_TIME, fraction dropped), 0..9999-12-31.
 * Returns 0 or -1. */
int mg_report_time_parse(const char *s, long long *t_r, unsigned *quirks);


/* --- Stored reports (report_store.c writes, report_query.c reads) ---
 * Incoming reports in the filter's Berkeley DB environment (lib/kvdb.h), three tables, keys
 * made of printable text separated by 0x1f:
 *   dmarc_rpt  "<policy domain>\x1f<identity>" -> "mgrpt1 recv=... org=... id=..." (one line,
 *              percent-encoded like dmarc/store.c; keys recv begin end records total org id
 *              email pd p sp np pct fo ext adkim aspf bis quirks, the last five added later:
 *              absent in older values); written only when absent (the claim that makes a
 *              duplicate a no-op);
 *   dmarc_rrec "<policy domain>\x1f<identity>\x1f<chunk %06u>" -> "recv=<t>\n" then one line per
 *              record (ip, count, disposition, policy results, reason, identifiers, auth
 *              results), at most MG_RSTORE_CHUNK octets per value;
 *   dmarc_rsum "<policy domain>\x1f<yyyymmdd of begin>\x1f<ip>" -> "recv=<t> <6 counters>":
 *              messages, dmarc pass, dkim pass, spf pass, quarantine, reject (mg_kvdb_update).
 * Everything expires dmarc_rua_retention after it was received or last updated. Any thread. */
#define MG_RSTORE_CHUNK (256u * 1024)

struct mg_kvdb;
struct mg_rstore;

enum mg_rsum_counter { MG_RSUM_MSGS, MG_RSUM_DMARC_PASS, MG_RSUM_DKIM_PASS, MG_RSUM_SPF_PASS,
	MG_RSUM_QUARANTINE, MG_RSUM_REJECT, MG_RSUM_COUNT };

/* A stored report as listed (mg_rstore_list). */
struct mg_rstore_info {
	char domain[MG_REPORT_NAME_MAX + 1];
	char identity[MG_REPORT_IDENTITY_MAX];
	char org[MG_REPORT_NAME_MAX + 1];	/* decoded, printable (non-printable octets '?') */
	char email[MG_REPORT_NAME_MAX + 1];
	char report_id[MG_REPORT_NAME_MAX + 1];
	long long recv, begin, end;
	unsigned long long records, total;
};

/* One stored report's header (mg_rstore_get): strings decoded and printable, "" if absent. */
struct mg_rstore_report {
	struct mg_rstore_info info;
	char extra_contact[MG_REPORT_NAME_MAX + 1];
	char policy_domain[MG_REPORT_NAME_MAX + 1];
	char adkim[2], aspf[2];			/* "r", "s" or "" */
	char p[16], sp[16], np[16];		/* mg_report_policy_name values */
	int pct;				/* -1 when not published */
	char fo[MG_REPORT_NAME_MAX + 1];
	unsigned quirks;			/* MG_REPORT_Q_* */
	int bis;
};

/* One source IP over a period (mg_rstore_summary). */
struct mg_rstore_sum {
	char ip[46];
	unsigned long long n[MG_RSUM_COUNT];
};

/* One report day (UTC, of date_range begin) over every source IP (mg_rstore_days). */
struct mg_rstore_day {
	long long t;				/* 00:00:00 UTC of the day */
	unsigned long long n[MG_RSUM_COUNT];
};

/* One reporter (org name and email) over a period (mg_rstore_reporters). */
struct mg_rstore_reporter {
	char org[MG_REPORT_NAME_MAX + 1];
	char email[MG_REPORT_NAME_MAX + 1];
	unsigned long long reports, messages;
	long long last_end;
};

/* One stored record line parsed (mg_rstore_row_parse); strings printable, "" if absent. */
struct mg_rstore_row {
	char ip[46];
	unsigned long long count;
	char disposition[16], dkim[16], spf[16];
	char reason[64];
	char header_from[MG_REPORT_NAME_MAX + 1], envelope_from[MG_REPORT_NAME_MAX + 1];
	char envelope_to[MG_REPORT_NAME_MAX + 1];
	struct { char domain[MG_REPORT_NAME_MAX + 1], selector[64], result[16]; }
	    auth_dkim[MG_REPORT_DKIM_MAX];
	size_t n_dkim;
	struct { char domain[MG_REPORT_NAME_MAX + 1], scope[16], result[16]; }
	    auth_spf[MG_REPORT_SPF_MAX];
	size_t n_spf;
};

/* Opens (creating) the three tables in kv. NULL with *error_r (static). */
struct mg_rstore *mg_rstore_open(struct mg_kvdb *kv, const char **error_r);
void mg_rstore_free(struct mg_rstore **sp);
/* Stores r under policy_domain (lowercase, as the caller checked it), received at recv.
 * Returns 1 stored, 0 duplicate (same domain and identity already stored: nothing written),
 * -1 on a storage error (*error_r static). */
int mg_rstore_put(struct mg_rstore *s, const char *policy_domain, const struct mg_report *r,
    long long recv, const char **error_r);
/* Reading (report_query.c): prefix scans (mg_kvdb_scan) of one domain's keys, so the cost
 * follows the domain's data, not the table's. A period [since, until] is compared by UTC day:
 * a report belongs to it when the day of its date_range begin is between the days of since and
 * until (both included). Results are allocated (xfree *out, also on error); *n_r its length.
 * Each returns 0 or -1 (storage error; what was gathered is still returned). Any thread. */

/* The reports of domain whose begin day is in [since, until], newest first (by date_range
 * end, then receipt, then identity), at most max. mg_rstore_list: every period. */
int mg_rstore_list_range(struct mg_rstore *s, const char *domain, long long since,
    long long until, size_t max, struct mg_rstore_info **out, size_t *n_r);
int mg_rstore_list(struct mg_rstore *s, const char *domain, size_t max,
    struct mg_rstore_info **out, size_t *n_r);
/* Per source IP totals of domain for report days in [since, until], sorted by messages
 * descending, then IP. mg_rstore_summary: days >= since. */
int mg_rstore_summary_range(struct mg_rstore *s, const char *domain, long long since,
    long long until, struct mg_rstore_sum **out, size_t *n_r);
int mg_rstore_summary(struct mg_rstore *s, const char *domain, long long since,
    struct mg_rstore_sum **out, size_t *n_r);
/* Per day totals of domain for report days in [since, until]: only days with data, oldest
 * first. */
int mg_rstore_days(struct mg_rstore *s, const char *domain, long long since, long long until,
    struct mg_rstore_day **out, size_t *n_r);
/* Reporters of domain's reports in [since, until] grouped by (org, email), by messages (the
 * reports' totals) descending, then org; *reports_r (may be NULL) gets the number of reports. */
int mg_rstore_reporters(struct mg_rstore *s, const char *domain, long long since,
    long long until, struct mg_rstore_reporter **out, size_t *n_r, size_t *reports_r);
/* The header of the report stored under (domain, identity). Returns 1 found, 0 not, -1. */
int mg_rstore_get(struct mg_rstore *s, const char *domain, const char *identity,
    struct mg_rstore_report *out);
/* The records of one stored report as their stored lines (tests, tools): appended to out,
 * one per line. Returns the number of records, or -1. */
long long mg_rstore_records(struct mg_rstore *s, const char *domain, const char *identity,
    struct buf *out);
/* Parses one line of mg_rstore_records (without its newline). Returns 0 or -1 (not a record
 * line). Pure. */
int mg_rstore_row_parse(const char *line, size_t len, struct mg_rstore_row *row);
/* "case", "float_time", "empty_org", "xs_schema", "other_value", "truncated", "gzip_trail",
 * "bad_domain" for one MG_REPORT_Q_* bit; NULL for other values. */
const char *mg_rstore_quirk_name(unsigned bit);
/* Expiry: deletes what was received (or last updated) before now - retention, visiting at
 * most max_items records per table (incremental, lib/kvdb.h). Adds the number deleted to
 * *removed_r. Returns 0 or -1. */
int mg_rstore_expire(struct mg_rstore *s, long long now, long long retention, size_t max_items,
    size_t *removed_r);

/* Internal to report_store.c and report_query.c; the value helpers (report_store.c) also
 * serve the TLS-RPT tables (tlsrpt_store.c), which use the same text formats. */
#define MG_RSTORE_SEP '\x1f'
struct mg_rstore {
	struct mg_kvdb_table *rpt, *rrec, *rsum;
};
/* Appends s (NULL: "") percent-encoded outside [A-Za-z0-9.-_@:]. 0, or -1 when b is full. */
int mg_rstore_put_enc(struct buf *b, const char *s);
/* Appends " key=" and the encoded value. 0 or -1. */
int mg_rstore_put_kv(struct buf *b, const char *key, const char *value);
/* Percent-decodes p[0..n) into out (non-printable octets as '?', cut to size). */
void mg_rstore_decode(const char *p, size_t n, char *out, size_t size);
/* The raw (still encoded) value of " key=" (or "key=" at the start) in line[0..len), up to the
 * next space or newline, in *v. Returns 0, or -1 when the key is missing. */
int mg_rstore_raw_field(const char *line, size_t len, const char *key, struct slice *v);
/* The same value percent-decoded into out (mg_rstore_decode). 0, or -1 (out "") if missing. */
int mg_rstore_field(const char *line, size_t len, const char *key, char *out, size_t size);
/* The number in key=, 0 if missing or not a number in 0..2^62. */
long long mg_rstore_field_ll(const char *line, size_t len, const char *key);
/* "recv=<t> n0 n1 n2 n3 n4 n5" (a dmarc_rsum value) -> n; -1 when unreadable. */
int mg_rstore_sum_parse(const char *v, size_t len, unsigned long long *n);
/* The kvdb update of a claim: stores *v only when the key is absent (stored = 1 then). */
struct mg_rstore_claim {
	const struct buf *v;
	int stored;
};
int mg_rstore_claim_fn(void *arg, const void *old, size_t oldlen, struct buf *new_val);
/* Expiry of t[0..n) (mg_kvdb_sweep, at most max_items records each): drops the values received
 * before cutoff -- the recv field of a "<magic> ..." header value, else a leading "recv=<t>" --
 * and values of neither form. Adds the number deleted to *removed_r. Returns 0 or -1. */
int mg_rstore_sweep(struct mg_kvdb_table *const *t, size_t n, const char *magic,
    long long cutoff, size_t max_items, size_t *removed_r);

#endif
