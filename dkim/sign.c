/* sign.c: DKIM-Signature generation: rsa-sha256 with libopendkim 2.11, ed25519-sha256 with our
 * own engine (sign_ed25519.c; libopendkim signs it correctly but leaks per signature). Runs in the
 * signer role (main thread) and in tests. Input: a read-only message descriptor written by our
 * smtpd (CRLF lines, already size-capped) and a private key from the key store; nothing here
 * is logged. Limits: MG_DKIM_SIGN_SIZE_MAX octets read, the output line capped by the caller.
 * Canonicalisation relaxed/relaxed (RFC 6376 §3.4.2, §3.4.4); no l= (§8.2: a length limit lets
 * anyone append content); From oversigned (§5.4: an added From then breaks the signature). */
#include "dkim/sign.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <opendkim/dkim.h>

#include "lib/log.h"
#include "lib/xalloc.h"

#define SIGN_CHUNK 65536

/* RFC 6376 §5.4.1's recommended set, minus fields a relay may legitimately add or change
 * (Received, Return-Path) and plus the mailing-list fields receivers show. */
static const char *const sign_headers[] = {
	"from", "reply-to", "subject", "date", "to", "cc", "message-id", "in-reply-to",
	"references", "mime-version", "content-type", "content-transfer-encoding", "sender",
	"list-id", "list-unsubscribe", "list-unsubscribe-post", NULL
};
static const char *const oversign_headers[] = { "from", NULL };

/* Parsed ed25519 keys, so a message does not pay for a PEM decode (OpenSSL 3's decoder costs
 * more than the signature). Keyed by the PEM text; entries are replaced round-robin. */
#define KEY_CACHE_MAX 16
struct key_cache_ent {
	char *pem;		/* owned copy, wiped when dropped */
	size_t len;
	EVP_PKEY *pk;
};

struct mg_dkim_sign {
	DKIM_LIB *lib;
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

/* The parsed ed25519 key for pem (from the cache, else decoded and cached), or NULL. */
static EVP_PKEY *
cached_key(struct mg_dkim_sign *s, const char *pem, size_t len)
{
	struct key_cache_ent *e;
	enum mg_dkim_keyalg alg;
	const char *err;
	EVP_PKEY *pk;

	for (size_t i = 0; i < KEY_CACHE_MAX; i++)
		if (s->cache[i].pem != NULL && s->cache[i].len == len &&
		    CRYPTO_memcmp(s->cache[i].pem, pem, len) == 0)
			return s->cache[i].pk;
	if ((pk = mg_dkim_pem_load(pem, len, &alg, &err)) == NULL)
		return NULL;
	if (alg != MG_DKIM_ALG_ED25519) {
		EVP_PKEY_free(pk);
		return NULL;
	}
	e = &s->cache[s->next];
	s->next = (s->next + 1) % KEY_CACHE_MAX;
	cache_drop(e);
	e->pem = xmemdup(pem, len);
	e->len = len;
	e->pk = pk;
	return pk;
}

struct mg_dkim_sign *
mg_dkim_sign_new(void)
{
	struct mg_dkim_sign *s = xcalloc(1, sizeof(*s));

	if ((s->lib = dkim_init(NULL, NULL)) == NULL)
		panic("libopendkim: dkim_init failed");
	/* libopendkim takes the lists by reference: the size is that of a char ** */
	if (dkim_options(s->lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, (void *)sign_headers,
	    sizeof(char **)) != DKIM_STAT_OK ||
	    dkim_options(s->lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, (void *)oversign_headers,
	    sizeof(char **)) != DKIM_STAT_OK)
		panic("libopendkim: cannot set the signed header fields");
	return s;
}

void
mg_dkim_sign_free(struct mg_dkim_sign **s)
{
	if (*s == NULL)
		return;
	for (size_t i = 0; i < KEY_CACHE_MAX; i++)
		cache_drop(&(*s)->cache[i]);
	dkim_close((*s)->lib);
	xfree(*s);
	*s = NULL;
}

/* Feeds the message to libopendkim; 0 or -1. */
static int
feed(DKIM *d, int fd, off_t size, const char **error_r)
{
	char *chunk = xmalloc(SIGN_CHUNK);
	off_t off = 0;
	int r = 0;

	while (off < size) {
		size_t want = size - off > SIGN_CHUNK ? SIGN_CHUNK : (size_t)(size - off);
		ssize_t n = pread(fd, chunk, want, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*error_r = "cannot read the message";
			r = -1;
			break;
		}
		if (dkim_chunk(d, (unsigned char *)chunk, (size_t)n) != DKIM_STAT_OK) {
			*error_r = "libopendkim rejected the message";
			r = -1;
			break;
		}
		off += n;
	}
	xfree(chunk);
	if (r == 0 && dkim_chunk(d, NULL, 0) != DKIM_STAT_OK) {
		*error_r = "libopendkim rejected the message";
		r = -1;
	}
	return r;
}

int
mg_dkim_sign_fd(struct mg_dkim_sign *s, const char *pem, size_t pemlen,
    enum mg_dkim_keyalg alg, const char *domain, const char *selector, int fd, off_t size,
    size_t max_line, struct buf *out, const char **error_r)
{
	static const char prefix[] = "DKIM-Signature: ";
	DKIM_STAT st;
	DKIM *d;
	unsigned char *hdr = NULL;
	size_t hlen = 0;
	int r = -1;

	if (size < 0 || size > MG_DKIM_SIGN_SIZE_MAX) {
		*error_r = "message too large to sign";
		return -1;
	}
	if (alg == MG_DKIM_ALG_ED25519) {
		EVP_PKEY *pk = cached_key(s, pem, pemlen);

		if (pk == NULL) {
			*error_r = "cannot load the ed25519 key";
			return -1;
		}
		return mg_dkim_sign_ed25519_fd(pk, domain, selector, fd, size, sign_headers,
		    oversign_headers, max_line, out, error_r);
	}
	/* rsa-sha256: libopendkim, which reads the NUL-terminated PEM */
	d = dkim_sign(s->lib, (const unsigned char *)"mailguard", NULL, (dkim_sigkey_t)pem,
	    (const unsigned char *)selector, (const unsigned char *)domain, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED, DKIM_SIGN_RSASHA256, -1, &st);
	if (d == NULL) {
		*error_r = "libopendkim cannot start a signature (bad key?)";
		return -1;
	}
	if (feed(d, fd, size, error_r) < 0)
		goto out;
	(void)dkim_set_margin(d, 0);	/* one unfolded line: the envelope's header form */
	if (dkim_eom(d, NULL) != DKIM_STAT_OK ||
	    dkim_getsighdr_d(d, sizeof(prefix) - 1, &hdr, &hlen) != DKIM_STAT_OK) {
		*error_r = "libopendkim could not sign (bad key?)";
		goto out;
	}
	if (memchr(hdr, '\n', hlen) != NULL || memchr(hdr, '\r', hlen) != NULL) {
		*error_r = "libopendkim folded the signature";
		goto out;
	}
	if (sizeof(prefix) - 1 + hlen > max_line) {
		*error_r = "signature field longer than one header line allows";
		goto out;
	}
	if (buf_append_str(out, prefix) < 0 || buf_append(out, hdr, hlen) < 0) {
		*error_r = "signature too large";
		goto out;
	}
	r = 0;
out:
	dkim_free(d);
	return r;
}
