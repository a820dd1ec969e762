#ifndef FILTER_SPF_H
#define FILTER_SPF_H
/* SPF (RFC 7208) for the filter: libspf2 evaluates, but only behind our DNS layer (every query goes
 * through a struct mg_dns_lookup, never libspf2's resolver) and behind a record pre-filter (the
 * "guard", spf_guard.c) that parses every v=spf1 record and every explanation with the RFC 7208
 * ABNF and hands libspf2 only a canonical, size-checked rewrite, so libspf2 never parses a crafted
 * record (Debian's libspf2 1.2.10 still overflows its stack on some macro strings: see
 * spf_guard.c). Limits enforced in our layer: 10 DNS-querying terms and 2 void lookups
 * (§4.6.4), 10 MX names per mx term, the first 10 PTR names. */
#include <stddef.h>

#include "common/dns.h"
#include "lib/buf.h"

enum mg_spf_status {
	MG_SPF_NONE = 0,
	MG_SPF_NEUTRAL,
	MG_SPF_PASS,
	MG_SPF_FAIL,
	MG_SPF_SOFTFAIL,
	MG_SPF_TEMPERROR,
	MG_SPF_PERMERROR,
};

#define MG_SPF_LOOKUP_LIMIT 10		/* DNS-querying terms, RFC 7208 §4.6.4 */
#define MG_SPF_VOID_LIMIT 2		/* void lookups, RFC 7208 §4.6.4 */
#define MG_SPF_MX_LIMIT 10		/* MX names per mx term, RFC 7208 §4.6.4 */
#define MG_SPF_PTR_LIMIT 10		/* PTR names looked at, RFC 7208 §4.6.4 */
#define MG_SPF_RECORD_MAX 2048		/* octets of one record (ours; RFC 7208 §3.4 wants < 512) */
#define MG_SPF_TERMS_MAX 128		/* terms in one record (ours; libspf2 counts in a uint8) */
#define MG_SPF_LOCAL_MAX 255		/* local-part octets we accept in the identity */
#define MG_SPF_IDENTITY_MAX (MG_SPF_LOCAL_MAX + 1 + MG_DNS_NAME_MAX)

struct mg_spf_result {
	enum mg_spf_status result;
	/* The identity checked (RFC 7208 §2.4): MAIL FROM, or postmaster@HELO for the null sender. */
	char identity[MG_SPF_IDENTITY_MAX + 1];
	char domain[MG_DNS_NAME_MAX + 1];	/* its domain, as given (may be invalid: then "none") */
	int identity_is_helo;			/* 1 when the sender was null */
	char reason[160];			/* short, printable, for logs and A-R comments */
	char explanation[256];			/* RFC 7208 §6.2 text, fail only, printable */
	int dns_lookups;			/* DNS-querying terms counted against the limit of 10 */
	int void_lookups;			/* term lookups that were NXDOMAIN or empty */
	int dns_queries;			/* lookups handed to the mg_dns_lookup (cache misses) */
};

struct mg_spf;

/* One evaluator per worker thread (it owns one libspf2 SPF_server_t and is not thread-safe).
 * Returns NULL with *error_r (static) if libspf2 cannot be set up. Any thread. */
struct mg_spf *mg_spf_new(const char **error_r);
void mg_spf_free(struct mg_spf **spf);

/* check_host() for the MAIL FROM identity (RFC 7208 §2.4, §4): sender is the MAIL FROM path
 * without brackets ("" for the null sender, then postmaster@helo is checked), helo the EHLO/HELO
 * argument, client_ip a numeric IPv4/IPv6 address (IPv4-mapped IPv6 is treated as IPv4). Every
 * DNS query goes through dns (borrowed for the call; called on this thread). Fills *out and
 * returns 0; returns -1 only for unusable arguments (bad client_ip, NULL pointers), with
 * out->reason saying why. Thread: the one using spf. */
int mg_spf_check(struct mg_spf *spf, const struct mg_dns_lookup *dns, const char *client_ip,
    const char *helo, const char *sender, struct mg_spf_result *out);

/* RFC 8601 result names: "none", "neutral", "pass", "fail", "softfail", "temperror",
 * "permerror". Static strings. */
const char *mg_spf_result_name(enum mg_spf_status st);

/* The Authentication-Results method fragment (RFC 8601 §2.7.2), e.g.
 * "spf=pass smtp.mailfrom=example.com" (the property is left out when the domain is not a valid
 * name). Returns 0, or -1 if it does not fit in size. */
int mg_spf_auth_results(const struct mg_spf_result *res, char *out, size_t size);

/* --- The guard (spf_guard.c): pure functions, any thread, fuzzed. --- */

/* 1 if txt (len octets, may hold NULs) is an SPF record by RFC 7208 §4.5: "v=spf1" (any case)
 * followed by a space or the end; else 0. */
int mg_spf_record_is_spf(const char *txt, size_t len);

/* Parses one SPF record against the RFC 7208 §12 ABNF and our limits and appends to out the
 * canonical record libspf2 gets: single spaces, unknown modifiers dropped, redirect= moved last
 * (and dropped when the record has "all", §6.1), macros re-serialised with clamped transformers,
 * /0 prefixes rewritten for the client's family (AF_INET or AF_INET6; libspf2 cannot express
 * them), each domain-spec small enough for libspf2's fixed buffers. Returns 0, or -1 with
 * *error_r (static text) for any syntax error or record we will not hand to libspf2 (the check
 * then ends in permerror, as RFC 7208 §4.6 asks for syntax errors). out must not be shared. */
int mg_spf_record_filter(const char *txt, size_t len, int family, struct buf *out,
    const char **error_r);

/* The same for an explanation TXT (RFC 7208 §6.2 explain-string): appends the canonical macro
 * string (spaces as "%_") to out. Returns 0, or -1 with *error_r when the text must be replaced
 * by the default explanation. */
int mg_spf_explanation_filter(const char *txt, size_t len, struct buf *out, const char **error_r);

/* Test-only: guard off (1) hands libspf2 the raw TXT text, to show what the guard prevents. */
void mg_spf_set_unguarded(struct mg_spf *spf, int unguarded);

#endif
