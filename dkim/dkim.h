#ifndef DKIM_DKIM_H
#define DKIM_DKIM_H
/* The dkim/ subsystem's one public header: DKIM verification (our own engine; libopendkim behind
 * our own key lookup as its test oracle), ARC chain validation (RFC 8617, our own code) and the
 * Authentication-Results fragments (RFC 8601) both produce. Input everywhere is a read-only spool
 * fd (CRLF lines, read with pread, the file position is never used) and its size; keys come only
 * through a struct mg_dns_lookup (common/dns.h). Everything here runs on filter pool threads. */
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/dns.h"
#include "lib/buf.h"

/* Signatures evaluated per message (STYLE.md §9 budget); later ones are counted, not checked. */
#define MG_DKIM_SIG_MAX 8
/* header.b (RFC 6008 §4): at least 8 characters of b=, more only to tell two signatures apart. */
#define MG_DKIM_HEADER_B_MIN 8
#define MG_DKIM_HEADER_B_MAX 32
/* RFC 8617 §4.2.1: instance numbers 1..50. */
#define MG_ARC_INSTANCE_MAX 50

/* RFC 8601 §2.7.1 result names, in this order ("none": the message carries no signature). */
enum mg_dkim_status {
	MG_DKIM_NONE = 0,
	MG_DKIM_PASS,
	MG_DKIM_FAIL,
	MG_DKIM_NEUTRAL,
	MG_DKIM_POLICY,
	MG_DKIM_TEMPERROR,
	MG_DKIM_PERMERROR,
};

struct mg_dkim_sig_result {
	enum mg_dkim_status result;
	char d[MG_DNS_NAME_MAX + 1];	/* signing domain, lowercase ("" if absent or unusable) */
	char s[64];			/* selector, sanitised */
	char a[32];			/* "rsa-sha256", "ed25519-sha256", or the (sanitised) a= given */
	char b[MG_DKIM_HEADER_B_MAX + 1];	/* header.b: leading characters of b= */
	unsigned key_bits;		/* 0 if no key was loaded */
	int testing;			/* the key record has t=y (RFC 6376 §3.6.1) */
	const char *reason;		/* static text: "signature verified", "body hash mismatch", ... */
};

struct mg_dkim_results {
	enum mg_dkim_status status;	/* best result over all signatures (pass > ... > none) */
	size_t n;			/* signatures evaluated, at most MG_DKIM_SIG_MAX */
	size_t n_ignored;		/* DKIM-Signature fields past the cap (not evaluated) */
	struct mg_dkim_sig_result sig[MG_DKIM_SIG_MAX];
	const char *error;		/* static; set when the message itself could not be processed
					 * (then status is TEMPERROR or PERMERROR and n may be 0) */
};

/* One verifier per worker thread: it owns a libopendkim DKIM_LIB (not shared across threads,
 * STYLE.md §9). Never NULL (aborts if libopendkim cannot start). */
struct mg_dkim_verifier;
struct mg_dkim_verifier *mg_dkim_verifier_new(void);
void mg_dkim_verifier_free(struct mg_dkim_verifier **v);
/* Pins the verifier's clock for x=/t= checks (tests, tools; 0 = the real clock). */
void mg_dkim_verifier_set_time(struct mg_dkim_verifier *v, long long now);

/* Verifies up to MG_DKIM_SIG_MAX DKIM-Signature fields of the message in fd (size octets), with
 * our own engine (dkim/sig.c, key.c; see verify.c for why not libopendkim).
 * Keys are fetched only through dns (TXT <s>._domainkey.<d>), one query per distinct key.
 * Fills *out (always, also on failure). Returns 0, or -1 if the message could not be read or
 * parsed at all (out->status is then TEMPERROR for I/O errors, PERMERROR for a malformed header
 * section, with out->error set). Thread: the verifier's worker thread. */
int mg_dkim_verify(struct mg_dkim_verifier *v, const struct mg_dns_lookup *dns, int fd, off_t size,
    struct mg_dkim_results *out);

/* The same contract, verified by libopendkim 2.11 (keys through dns, as above): the differential
 * oracle of mg_dkim_verify in tests/unit/dkim/test_verify.c and `dkim-verify --opendkim`. */
int mg_dkim_verify_opendkim(struct mg_dkim_verifier *v, const struct mg_dns_lookup *dns, int fd,
    off_t size, struct mg_dkim_results *out);

/* "pass", "fail", ... per RFC 8601. */
const char *mg_dkim_status_name(enum mg_dkim_status st);
/* Appends one RFC 8601 resinfo per evaluated signature, separated by ";\r\n\t"
 * ("dkim=pass header.d=example.com header.s=sel header.a=rsa-sha256 header.b=abcdefgh"),
 * or "dkim=none" for an unsigned message. Returns 0, -1 if out's max is reached. Any thread. */
int mg_dkim_authres(const struct mg_dkim_results *r, struct buf *out);
/* The distinct d= domains of passing signatures (DMARC alignment, RFC 7489 §3.1.1): stores up
 * to max borrowed pointers into r (valid while r is) and returns how many. Any thread. */
size_t mg_dkim_pass_domains(const struct mg_dkim_results *r, const char **domains, size_t max);

/* ---- ARC (RFC 8617) ---- */

enum mg_arc_cv {
	MG_ARC_NONE = 0,	/* no ARC header fields */
	MG_ARC_PASS,
	MG_ARC_FAIL,
};

struct mg_arc_result {
	enum mg_arc_cv cv;
	int n;			/* highest instance seen (0 when cv is none) */
	int oldest_pass;	/* RFC 8617 §5.2 step 4, only with MG_ARC_F_OLDEST_PASS and cv=pass:
				 * the lowest instance from which every AMS up to n verifies
				 * (1 = all of them; 0 = not computed) */
	int tempfail;		/* cv=fail only because a key lookup failed temporarily */
	char sealer[MG_DNS_NAME_MAX + 1];	/* d= of the newest ARC-Seal, if it parsed */
	char reason[128];	/* "i=2 ARC-Seal: signature did not verify" (our words only,
				 * never message bytes) */
};

#define MG_ARC_F_OLDEST_PASS 0x01	/* also verify older AMSs (more DNS queries) */

/* Validates the ARC chain of the message in fd (RFC 8617 §5.2): structure, the newest AMS and
 * every ARC-Seal, keys through dns. now (Unix seconds, 0 = the real clock) is used for AMS x=.
 * Fills *out and returns 0; -1 only if the message could not be read (out->cv = FAIL,
 * out->tempfail = 1). Any thread (no shared state). */
int mg_arc_verify(const struct mg_dns_lookup *dns, int fd, off_t size, long long now,
    struct mg_arc_result *out);
int mg_arc_verify_flags(const struct mg_dns_lookup *dns, int fd, off_t size, long long now,
    unsigned flags, struct mg_arc_result *out);
/* "none", "pass", "fail". */
const char *mg_arc_cv_name(enum mg_arc_cv cv);
/* Appends the RFC 8601/8617 §10 resinfo: "arc=pass (i=2)" plus header.oldest-pass=N when
 * computed, or "arc=fail (i=1, reason)". Returns 0, -1 if out's max is reached. Any thread. */
int mg_arc_authres(const struct mg_arc_result *r, struct buf *out);

/* ---- A static TXT table behind struct mg_dns_lookup (tools, tests, fuzzing) ---- */

struct mg_dkim_txt_table;
struct mg_dkim_txt_table *mg_dkim_txt_table_new(void);
void mg_dkim_txt_table_free(struct mg_dkim_txt_table **t);
/* Adds one TXT record (name case-insensitive, no final dot). Several records per name are kept
 * in order. A value "!tempfail" / "!permfail" makes every lookup of name fail that way. Filling
 * is single-threaded; lookups may then run on any thread. */
void mg_dkim_txt_table_add(struct mg_dkim_txt_table *t, const char *name, const char *value);
/* Reads "name value..." lines (first space separates; '#' comments, blank lines skipped).
 * Returns 0, or -1 with *error_r (static) if the file cannot be read. */
int mg_dkim_txt_table_load(struct mg_dkim_txt_table *t, const char *path, const char **error_r);
/* Fills *l so that l->fn answers from t (NXDOMAIN for unknown names, NODATA for non-TXT types);
 * l->ctx borrows t. Lookups count into t (see mg_dkim_txt_table_queries). */
void mg_dkim_txt_table_lookup(struct mg_dkim_txt_table *t, struct mg_dns_lookup *l);
unsigned mg_dkim_txt_table_queries(const struct mg_dkim_txt_table *t);

#endif
