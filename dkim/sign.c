/* sign.c: DKIM-Signature generation, rsa-sha256 and ed25519-sha256, with our own engine
 * (sign_engine.c; libopendkim leaks per ed25519 signature and decodes the RSA key's PEM for
 * every message, see there) over keys parsed once and cached here. Runs in the signer role (main
 * thread) and in tests. Input: a read-only message descriptor written by our smtpd (CRLF lines,
 * already size-capped) and a private key from the key store; nothing here is logged. Limits:
 * MG_DKIM_SIGN_SIZE_MAX octets read, the output line capped by the caller, KEY_CACHE_MAX parsed
 * keys. Canonicalisation relaxed/relaxed (RFC 6376 §3.4.2, §3.4.4); no l= (§8.2: a length limit
 * lets anyone append content); From oversigned (§5.4: an added From then breaks the signature). */
#include "dkim/sign.h"

#include <string.h>

#include <openssl/crypto.h>

#include "lib/xalloc.h"

/* RFC 6376 §5.4.1's recommended set, minus fields a relay may legitimately add or change
 * (Received, Return-Path) and plus the mailing-list fields receivers show. */
static const char *const sign_headers[] = {
	"from", "reply-to", "subject", "date", "to", "cc", "message-id", "in-reply-to",
	"references", "mime-version", "content-type", "content-transfer-encoding", "sender",
	"list-id", "list-unsubscribe", "list-unsubscribe-post", NULL
};
static const char *const oversign_headers[] = { "from", NULL };

/* Parsed keys, so a message does not pay for a PEM decode (OpenSSL 3's decoder costs more than
 * an ed25519 signature and, with the RSA blinding set-up a fresh key needs, about 2.5x an RSA-2048
 * one). Keyed by the PEM text; entries are replaced round-robin. A key rotation or reload brings
 * new PEM text, hence a new entry; the old one ages out (wiped). */
#define KEY_CACHE_MAX 16
struct key_cache_ent {
	char *pem;		/* owned copy, wiped when dropped */
	size_t len;
	EVP_PKEY *pk;
	enum mg_dkim_keyalg alg;
};

struct mg_dkim_sign {
	struct key_cache_ent cache[KEY_CACHE_MAX];
	size_t next;
};

static void
cache_drop(struct key_cache_ent *e)
{
	if (e->pem != NULL) {
		xwipe(e->pem, e->len);
		xfree(e->pem);
	}
	EVP_PKEY_free(e->pk);
	memset(e, 0, sizeof(*e));
}

/* The parsed key of type want for pem (from the cache, else decoded and cached), or NULL. */
static EVP_PKEY *
cached_key(struct mg_dkim_sign *s, const char *pem, size_t len, enum mg_dkim_keyalg want)
{
	struct key_cache_ent *e;
	enum mg_dkim_keyalg alg;
	const char *err;
	EVP_PKEY *pk;

	for (size_t i = 0; i < KEY_CACHE_MAX; i++)
		if (s->cache[i].pem != NULL && s->cache[i].len == len &&
		    CRYPTO_memcmp(s->cache[i].pem, pem, len) == 0)
			return s->cache[i].alg == want ? s->cache[i].pk : NULL;
	if ((pk = mg_dkim_pem_load(pem, len, &alg, &err)) == NULL)
		return NULL;
	if (alg != want) {
		EVP_PKEY_free(pk);
		return NULL;
	}
	e = &s->cache[s->next];
	s->next = (s->next + 1) % KEY_CACHE_MAX;
	cache_drop(e);
	e->pem = xmemdup(pem, len);
	e->len = len;
	e->pk = pk;
	e->alg = alg;
	return pk;
}

struct mg_dkim_sign *
mg_dkim_sign_new(void)
{
	return xcalloc(1, sizeof(struct mg_dkim_sign));
}

void
mg_dkim_sign_free(struct mg_dkim_sign **s)
{
	if (*s == NULL)
		return;
	for (size_t i = 0; i < KEY_CACHE_MAX; i++)
		cache_drop(&(*s)->cache[i]);
	xfree(*s);
	*s = NULL;
}

int
mg_dkim_sign_fd(struct mg_dkim_sign *s, const char *pem, size_t pemlen,
    enum mg_dkim_keyalg alg, const char *domain, const char *selector, int fd, off_t size,
    size_t max_line, struct buf *out, const char **error_r)
{
	EVP_PKEY *pk;

	if (size < 0 || size > MG_DKIM_SIGN_SIZE_MAX) {
		*error_r = "message too large to sign";
		return -1;
	}
	if ((pk = cached_key(s, pem, pemlen, alg)) == NULL) {
		*error_r = alg == MG_DKIM_ALG_ED25519 ? "cannot load the ed25519 key" :
		    "cannot load the rsa key";
		return -1;
	}
	return mg_dkim_sign_engine_fd(pk, domain, selector, fd, size, sign_headers,
	    oversign_headers, max_line, out, error_r);
}
