/* tls.c: OpenSSL context set-up for smtpd (server) and delivery (client), and the first-start
 * self-signed certificate. Runs in the supervisor (bootstrap), smtpd and delivery roles.
 * Trusts the configured PEM files only after OpenSSL has parsed them; key files must be 0600. */
#include "common/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/str.h"

static const char tls12_ciphers[] =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";

static const char *
tls_err(const char *what)
{
	static __thread char msg[256];
	unsigned long e = ERR_get_error();
	char tmp[200];

	if (e == 0)
		return what;
	ERR_error_string_n(e, tmp, sizeof(tmp));
	snprintf(msg, sizeof(msg), "%s: %s", what, tmp);
	ERR_clear_error();
	return msg;
}

static void
tls_common(SSL_CTX *ctx)
{
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_cipher_list(ctx, tls12_ciphers);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	    SSL_MODE_RELEASE_BUFFERS);
}

SSL_CTX *
tls_server_ctx(const char *cert_file, const char *key_file, const char **error_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		*error_r = tls_err("SSL_CTX_new");
		return NULL;
	}
	tls_common(ctx);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"mailguard", 9);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		*error_r = tls_err("loading certificate");
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		*error_r = tls_err("loading private key");
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*error_r = tls_err("private key does not match certificate");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
tls_client_ctx(int verify, const char **error_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		*error_r = tls_err("SSL_CTX_new");
		return NULL;
	}
	tls_common(ctx);
	if (verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		SSL_CTX_set_default_verify_paths(ctx);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	return ctx;
}

static int
tls_write_key(const char *key_file, EVP_PKEY *pkey, const char **error_r)
{
	int fd = open(key_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	FILE *f;
	int ok;

	if (fd < 0) {
		*error_r = "cannot create key file";
		return -1;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		*error_r = "fdopen failed";
		return -1;
	}
	ok = PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) == 1;
	ok = (fflush(f) == 0) && ok && fsync(fd) == 0;
	fclose(f);
	if (!ok) {
		unlink(key_file);
		*error_r = "writing key file failed";
		return -1;
	}
	return 0;
}

static X509 *
tls_make_cert(EVP_PKEY *pkey, const char *hostname)
{
	X509 *x = X509_new();
	X509_NAME *name;
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	unsigned char serial[16];
	BIGNUM *bn;
	char san[300];

	if (x == NULL)
		return NULL;
	X509_set_version(x, 2);
	RAND_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400);
	X509_set_pubkey(x, pkey);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)hostname, -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	snprintf(san, sizeof(san), "DNS:%s", hostname);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san)) != NULL) {
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (X509_sign(x, pkey, EVP_sha256()) == 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

int
tls_bootstrap(const char *cert_file, const char *key_file, const char *hostname,
    const char **error_r)
{
	EVP_PKEY *pkey = NULL;
	X509 *x = NULL;
	FILE *f = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char fp[3 * EVP_MAX_MD_SIZE + 1];
	int have_cert = access(cert_file, F_OK) == 0, have_key = access(key_file, F_OK) == 0;

	if (have_cert && have_key)
		return 0;
	if (have_cert != have_key) {
		*error_r = "only one of the TLS certificate and key exists";
		return -1;
	}
	if ((pkey = EVP_EC_gen("P-256")) == NULL) {
		*error_r = tls_err("generating key");
		goto fail;
	}
	if ((x = tls_make_cert(pkey, hostname)) == NULL) {
		*error_r = tls_err("making certificate");
		goto fail;
	}
	if (tls_write_key(key_file, pkey, error_r) < 0)
		goto fail;
	if ((f = fopen(cert_file, "wx")) == NULL || PEM_write_X509(f, x) != 1 || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		*error_r = "writing certificate failed";
		unlink(key_file);
		goto fail;
	}
	fclose(f);
	f = NULL;
	X509_digest(x, EVP_sha256(), md, &mdlen);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(fp + 3 * i, 4, "%02X%s", md[i], i + 1 < mdlen ? ":" : "");
	log_info("tls: generated self-signed certificate for %s in %s, sha256 fingerprint %s",
	    hostname, cert_file, fp);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return 0;
fail:
	if (f)
		fclose(f);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return -1;
}

void
tls_describe(SSL *ssl, char *dst, size_t size)
{
	if (ssl == NULL) {
		str_lcpy(dst, "none", size);
		return;
	}
	/* one token, so log lines stay key=value: "TLSv1.3/TLS_AES_256_GCM_SHA384" */
	snprintf(dst, size, "%s/%s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}
