#ifndef DKIM_CANON_H
#define DKIM_CANON_H
/* DKIM canonicalisation (RFC 6376 §3.4): header fields one at a time into a buffer, the body as
 * a stream into a digest, with the l= limit. Internal to dkim/ (ARC verifier, later the signer).
 * A body canonicaliser belongs to one thread at a time. */
#include <stddef.h>

#include <openssl/evp.h>

#include "lib/buf.h"

enum mg_dkim_canon {
	MG_DKIM_CANON_SIMPLE = 0,
	MG_DKIM_CANON_RELAXED,
};

/* Parses a c= value ("relaxed/simple", "simple", ...; missing parts default to simple, §3.5).
 * Returns 0 with both set, -1 on any other value. */
int mg_dkim_canon_parse(const char *p, size_t len, enum mg_dkim_canon *hc, enum mg_dkim_canon *bc);

/* Appends the canonical form of one header field to out. raw is the whole field as stored
 * (name, colon, value, final CRLF if any); skip, if not {NULL, 0}, is a byte range inside raw
 * left out (the b= value of the signature being verified, §3.7). The result ends with CRLF
 * (relaxed always; simple if raw did). Returns 0, -1 if out's max is reached. */
int mg_dkim_canon_header(enum mg_dkim_canon c, struct slice raw, struct slice skip, struct buf *out);

/* Streaming body canonicaliser feeding a SHA-256 (or other) digest. */
struct mg_dkim_body {
	enum mg_dkim_canon canon;
	EVP_MD_CTX *md;
	long long limit;		/* l= octets to hash, -1 for all */
	long long total;		/* canonical octets produced (hashed or not) */
	size_t empty_lines;		/* CRLFs withheld: empty lines may end the body */
	int in_line;			/* the current line has content */
	int wsp;			/* relaxed: WSP pending inside the line */
	int cr;				/* a CR waiting to see whether LF follows */
	size_t olen;
	unsigned char obuf[4096];
};

/* Returns 0, -1 if the digest cannot start (OpenSSL failure). */
int mg_dkim_body_init(struct mg_dkim_body *b, enum mg_dkim_canon canon, const EVP_MD *md,
    long long limit);
/* Feeds message body bytes (lines end in CRLF; a bare LF also ends a line). */
void mg_dkim_body_update(struct mg_dkim_body *b, const char *p, size_t n);
/* Finishes: stores the digest (EVP_MAX_MD_SIZE room) and its length, and the canonical body
 * length (before the l= cut) in *total_r. Frees the digest context. Returns 0 or -1. */
int mg_dkim_body_final(struct mg_dkim_body *b, unsigned char *digest, unsigned *dlen,
    long long *total_r);
/* Frees the digest context without a result (error paths). */
void mg_dkim_body_abort(struct mg_dkim_body *b);

#endif
