#ifndef DKIM_TAGS_H
#define DKIM_TAGS_H
/* DKIM tag=value lists (RFC 6376 §3.2) and the value syntaxes built on them: base64 with FWS,
 * colon-separated header-name lists, domain names and selectors. Internal to dkim/ (the ARC
 * verifier, the key record parser, later the signer). Pure functions, any thread. */
#include <stddef.h>

#include "lib/buf.h"

#define MG_DKIM_TAGS_MAX 32		/* tags per list; DKIM defines 15, keys 7 */
#define MG_DKIM_TAG_NAME_MAX 32		/* octets of one tag name */
#define MG_DKIM_TAGLIST_MAX 16384	/* octets of one tag-list (a folded signature header value) */
#define MG_DKIM_HLIST_MAX 128		/* names in one h= list (oversigning included) */
#define MG_DKIM_B64_MAX 2048		/* decoded octets of b=, bh=, p= (an 8192-bit RSA key's
					 * SubjectPublicKeyInfo is ~1060 octets) */

struct mg_dkim_tag {
	struct slice name;	/* borrowed: case-sensitive (RFC 6376 §3.2) */
	struct slice value;	/* borrowed: FWS trimmed at both ends, inner FWS kept */
};

struct mg_dkim_tags {
	size_t n;
	struct mg_dkim_tag tag[MG_DKIM_TAGS_MAX];
};

/* Parses a tag-list. Rejects an empty list, a tag name that is not ALPHA *(ALNUM / "_"), a
 * missing "=", a value character outside VALCHAR (%x21-3A / %x3C-7E) or WSP/FWS, an empty
 * tag-spec (";;"), duplicate names, and lists over the limits above. The output borrows in.
 * Returns 0, or -1 with *error_r (static). */
int mg_dkim_tags_parse(struct slice in, struct mg_dkim_tags *out, const char **error_r);
/* The value of tag name, or NULL if absent. */
const struct slice *mg_dkim_tags_get(const struct mg_dkim_tags *t, const char *name);

/* Decodes base64 (RFC 2045 alphabet, '=' padding required, FWS ignored anywhere) into out
 * (out_max octets). Returns 0 with *len_r set, or -1 with *error_r. */
int mg_dkim_b64_decode(struct slice in, unsigned char *out, size_t out_max, size_t *len_r,
    const char **error_r);
/* Copies v without any FWS (space, tab, CR, LF) into out (NUL-terminated, at most outsize-1
 * octets). Returns 0, -1 if it does not fit. */
int mg_dkim_strip_fws(struct slice v, char *out, size_t outsize);

/* Splits an h= value ("from : to:subject") into up to max header names (FWS around colons
 * allowed, RFC 6376 §3.5). Empty names ("from::to", outside the ABNF) are skipped: they select
 * no field, and deployed ARC verifiers (dkimpy, the ValiMail suite) accept them. A character
 * outside ftext is an error. Returns the count, or -1 with *error_r. */
int mg_dkim_hlist_split(struct slice v, struct slice *names, size_t max, const char **error_r);

/* Domain syntax for d= (RFC 6376 §3.5: RFC 5321 sub-domains) and selectors (§3.1, dot-separated
 * sub-domains; '_' tolerated, as deployed selectors use it): labels of 1..63 letters, digits,
 * '-' (and '_'), not starting or ending with '-', total at most 253 octets. Returns 1 or 0. */
int mg_dkim_is_domain(struct slice v);
int mg_dkim_is_selector(struct slice v);

/* Parses an unsigned decimal tag value (t=, x=, l=, i=) of at most 12 digits (RFC 6376 §3.5
 * caps t= and x= at 12 digits). Returns 0 with *out_r, or -1. */
int mg_dkim_tag_ull(struct slice v, unsigned long long *out_r);

#endif
