#ifndef DKIM_SIGN_H
#define DKIM_SIGN_H
/* DKIM signing (RFC 6376; RFC 8463 ed25519-sha256): rsa-sha256 and ed25519-sha256 through our own
 * engine (sign_engine.c) over private keys parsed once and cached (sign.c). libopendkim 2.11 was
 * the first engine; it leaked per ed25519 signature and decoded the RSA key's PEM for every
 * message (3.3x the signer CPU): doc/ARCHITECTURE.md has the figures. Relaxed/relaxed, a fixed
 * signed-header set with From oversigned, never l=. Internal to dkim/ (the signer role and
 * tests). One struct mg_dkim_sign per thread (it owns the key cache). */
#include <stddef.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include "dkim/keystore.h"
#include "lib/buf.h"

/* Longest message body we sign (octets; the smtpd max_message_size cap is 2 GiB). */
#define MG_DKIM_SIGN_SIZE_MAX (2LL * 1024 * 1024 * 1024)

struct mg_dkim_sign;
/* Never NULL. */
struct mg_dkim_sign *mg_dkim_sign_new(void);
void mg_dkim_sign_free(struct mg_dkim_sign **s);

/* Signs the message in fd (size octets of CRLF lines, read with pread; the file position is not
 * used) for d=domain s=selector with the PEM private key of alg, and appends one unfolded line
 * "DKIM-Signature: v=1; a=...; b=..." (no CRLF) to out. The field lists in h= the signed fields
 * present (plus one extra From). Returns 0, or -1 with *error_r (static) when the key does not
 * load, the file cannot be read, signing fails or the field would exceed max_line octets
 * (the envelope's 998-octet header line). */
int mg_dkim_sign_fd(struct mg_dkim_sign *s, const char *pem, size_t pemlen,
    enum mg_dkim_keyalg alg, const char *domain, const char *selector, int fd, off_t size,
    size_t max_line, struct buf *out, const char **error_r);

/* Internal: the signing engine (sign_engine.c) for an already parsed key (RSA or ed25519).
 * sign/over: NULL-terminated lowercase field names to sign and to oversign. Same result
 * contract as mg_dkim_sign_fd. */
int mg_dkim_sign_engine_fd(EVP_PKEY *key, const char *domain, const char *selector, int fd,
    off_t size, const char *const *sign, const char *const *over, size_t max_line,
    struct buf *out, const char **error_r);

#endif
