#ifndef COMMON_TLS_H
#define COMMON_TLS_H
/* TLS contexts for MailGuard: server (STARTTLS in smtpd), client (delivery), and the TLS bootstrap
 * that generates a self-signed certificate at first start when none is configured.
 * Policy: TLS 1.2 minimum, forward-secret AEAD ciphers for TLS 1.2, no compression, no
 * renegotiation, server cipher preference. */
#include <openssl/ssl.h>

/* Builds a server context from PEM files. Returns NULL with *error_r on failure. */
SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file, const char **error_r);
/* Builds a client context. verify = 0: opportunistic (no verification, as RFC 7435 allows). */
SSL_CTX *tls_client_ctx(int verify, const char **error_r);
/* Ensures cert_file/key_file exist: when both are missing, generates an ECDSA P-256 key (mode 0600)
 * and a self-signed certificate for hostname valid 10 years. Logs the SHA-256 fingerprint.
 * Returns 0, or -1 with *error_r. */
int tls_bootstrap(const char *cert_file, const char *key_file, const char *hostname,
    const char **error_r);
/* Short description of a finished TLS session for logs, one token: "TLSv1.3/TLS_AES_256_GCM_SHA384". */
void tls_describe(SSL *ssl, char *dst, size_t size);

#endif
