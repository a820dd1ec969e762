#ifndef DKIM_SIG_H
#define DKIM_SIG_H
/* DKIM-style signatures verified by our own code: the ARC-Message-Signature (RFC 8617 §4.1.2,
 * DKIM-Signature syntax with i= as instance and no v=) and DKIM-Signature (RFC 6376 §3.5, for
 * fuzzing and the later signer). Parsing, header-hash input, body hash and the check. Internal
 * to dkim/. Any thread. */
#include <stddef.h>

#include "dkim/canon.h"
#include "dkim/key.h"
#include "dkim/msg.h"
#include "dkim/tags.h"

#define MG_DKIM_SIG_B_MAX 1024	/* octets of b= (8192-bit RSA) */

enum mg_dkim_sig_kind {
	MG_DKIM_SIG_DKIM = 0,	/* DKIM-Signature: v=1 required, i= is the AUID */
	MG_DKIM_SIG_AMS,	/* ARC-Message-Signature: i= instance 1..50, v= ignored */
};

enum mg_dkim_alg {
	MG_DKIM_ALG_RSA_SHA256 = 0,
	MG_DKIM_ALG_ED25519_SHA256,
};

struct mg_dkim_sig {
	struct mg_dkim_tags tags;	/* borrows the header value */
	enum mg_dkim_sig_kind kind;
	enum mg_dkim_alg alg;
	enum mg_dkim_canon hc, bc;
	struct slice d, s;		/* borrowed, validated syntax */
	struct slice b_value;		/* borrowed: the b= value as it sits in the field */
	long long l, t, x;		/* -1 when absent */
	unsigned instance;		/* AMS i= */
	int c_given;			/* c= was present */
	size_t blen, nh;
	unsigned char bh[32];
	/* Large members last: parsing clears everything above b. */
	unsigned char b[MG_DKIM_SIG_B_MAX];
	struct slice h[MG_DKIM_HLIST_MAX];
};

/* Parses the value of a signature field of the given kind. Required tags (DKIM: v a b bh d h s;
 * AMS: i a b bh d h s), a= rsa-sha256 or ed25519-sha256 (AMS: rsa-sha256 only, RFC 8617 §4.1.2
 * with RFC 8301 refusing sha1), c=, numeric l= t= x= with x >= t, h= syntax and, for DKIM,
 * "from" in h= (RFC 6376 §5.4) and i= inside d=; for AMS, no arc-seal in h= (RFC 8617 §4.1.2).
 * Without c=, a DKIM-Signature is simple/simple (RFC 6376 §3.5); an AMS is relaxed/relaxed, as
 * dkimpy and the ARC test suite sign it (the caller may retry simple/simple, see arc.c).
 * Returns 0, or -1 with *error_r (static). */
int mg_dkim_sig_parse(struct slice value, enum mg_dkim_sig_kind kind, struct mg_dkim_sig *sig,
    const char **error_r);

enum mg_dkim_sig_status {
	MG_DKIM_SIG_PASS = 0,
	MG_DKIM_SIG_FAIL,	/* body hash or signature mismatch, expired */
	MG_DKIM_SIG_PERMERROR,	/* key record problems, l= beyond the body */
	MG_DKIM_SIG_TEMPERROR,	/* key lookup failed temporarily */
};

/* Verifies a parsed signature found in field self of m: x= against now (Unix seconds), body
 * hash (with l=), key through keys, then the header hash over the h= fields chosen bottom-up
 * and the signature field with its b= value left out (RFC 6376 §3.7, §5.4.2). The body is
 * read from m's fd. Returns the status with *error_r (static) set. */
enum mg_dkim_sig_status mg_dkim_sig_verify(const struct mg_dkim_sig *sig, const struct mg_dkim_msg *m,
    size_t self, long long now, struct mg_dkim_keycache *keys, const char **error_r);

/* The header-hash input alone, appended to out (for tests and the later signer): selected
 * fields canonicalised, then the signature field self without b= and without its final CRLF.
 * Returns 0, -1 if out's max is reached. */
int mg_dkim_sig_header_input(const struct mg_dkim_sig *sig, const struct rfc5322_field *fields,
    size_t n, size_t self, struct buf *out);

#endif
