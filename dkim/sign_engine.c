/* sign_engine.c: our own DKIM signing engine, ed25519-sha256 (RFC 8463) and rsa-sha256 (RFC 6376
 * §3.3.1), used by sign.c instead of libopendkim for both algorithms:
 * - ed25519: Debian 12's libopendkim 2.11.0~beta2 signs it correctly but leaks ~470 octets per
 *   signature (its ed25519 key load; measured with LeakSanitizer, see doc/ARCHITECTURE.md),
 *   which a long-running signer cannot afford;
 * - rsa: libopendkim takes the key as PEM text and decodes it for every message
 *   (dkim_privkey_load -> PEM_read_bio_PrivateKey_ex, then a fresh RSA blinding set-up): 2.5x
 *   the cost of the RSA-2048 signature itself (perf of the bench's outbound-rsa profile, see
 *   doc/benchmarks.md). Here the key arrives parsed and cached by sign.c.
 * Built on the canonicalisation the verifiers already use (dkim/canon.c, dkim/msg.c). Runs in the
 * signer role and in tests. Input: a read-only message fd written by our smtpd (header section
 * capped at 1 MiB and 1000 fields by dkim/msg.c); the key comes from the key store. Output
 * contract (as libopendkim's was): relaxed/relaxed, the same signed-header set with From
 * oversigned, no l=, one unfolded line. (The exported name predates the rsa path.) */
#include "dkim/sign.h"

#include <ctype.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "dkim/canon.h"
#include "dkim/msg.h"
#include "lib/xalloc.h"

static void
body_cb(void *arg, const char *p, size_t n)
{
	mg_dkim_body_update(arg, p, n);
}

static int
name_listed(struct slice name, const char *const *list)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (rfc5322_name_is(name, list[i]))
			return 1;
	return 0;
}

/* h=: the listed fields present, in message order, lowercased, then the oversigned names. */
static int
build_h(const struct mg_dkim_msg *m, const char *const *sign, const char *const *over,
    struct buf *h)
{
	int r = 0;

	for (size_t i = 0; i < m->n && r == 0; i++) {
		if (!name_listed(m->field[i].name, sign))
			continue;
		if (h->len > 0)
			r |= buf_append_char(h, ':');
		for (size_t k = 0; k < m->field[i].name.len && r == 0; k++)
			r |= buf_append_char(h, (char)tolower((unsigned char)m->field[i].name.p[k]));
	}
	for (size_t i = 0; over[i] != NULL && r == 0; i++)
		r |= buf_printf(h, "%s%s", h->len ? ":" : "", over[i]);
	return r;
}

/* The header hash input (RFC 6376 §3.7, §5.4.2): for each name of h= the last instance not yet
 * used, from the bottom up; a name with no instance left contributes nothing. */
static int
hash_headers(const struct mg_dkim_msg *m, const char *hlist, struct buf *in)
{
	char *used = xcalloc(m->n ? m->n : 1, 1);
	const char *p = hlist;
	int r = 0;

	while (*p != '\0' && r == 0) {
		const char *c = strchr(p, ':');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		char name[128];

		if (len < sizeof(name)) {
			memcpy(name, p, len);
			name[len] = '\0';
			for (size_t j = m->n; j-- > 0;)
				if (!used[j] && rfc5322_name_is(m->field[j].name, name)) {
					used[j] = 1;
					r = mg_dkim_canon_header(MG_DKIM_CANON_RELAXED, m->field[j].raw,
					    (struct slice){ NULL, 0 }, in);
					break;
				}
		}
		p += len + (c ? 1 : 0);
	}
	xfree(used);
	return r;
}

#define SIG_MAX 512	/* octets of a signature: RSA-4096 */

/* The b= value, base64 into out: rsa-sha256 is RSASSA-PKCS1-v1_5 with SHA-256 over data (RFC 6376
 * §3.3.1); ed25519-sha256 is PureEdDSA over SHA-256(data) (RFC 8463 §3). */
static int
sign_data(EVP_PKEY *key, int rsa, const struct buf *data, struct buf *out)
{
	unsigned char dg[EVP_MAX_MD_SIZE], sig[SIG_MAX];
	char b64[4 * SIG_MAX / 3 + 4];
	unsigned dlen = 0;
	size_t slen = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	if (rsa)
		ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
		    EVP_DigestSign(ctx, sig, &slen, (const unsigned char *)data->data,
		    data->len) == 1 && slen > 0 && slen <= sizeof(sig);
	else
		ok = ctx != NULL &&
		    EVP_Digest(data->data, data->len, dg, &dlen, EVP_sha256(), NULL) == 1 &&
		    EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
		    EVP_DigestSign(ctx, sig, &slen, dg, dlen) == 1 && slen == 64;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	EVP_EncodeBlock((unsigned char *)b64, sig, (int)slen);
	return buf_append_str(out, b64);
}

int
mg_dkim_sign_engine_fd(EVP_PKEY *key, const char *domain, const char *selector, int fd,
    off_t size, const char *const *sign, const char *const *over, size_t max_line,
    struct buf *out, const char **error_r)
{
	struct mg_dkim_msg m;
	struct mg_dkim_body body;
	struct buf h, hin, field;
	unsigned char bh[EVP_MAX_MD_SIZE];
	char bh64[96];
	unsigned bhlen = 0;
	long long total;
	int rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
	int io, r = -1;

	memset(&m, 0, sizeof(m));
	buf_init(&h, 8192);
	buf_init(&hin, RFC5322_HEADER_READ_MAX + 4096);
	buf_init(&field, 4096);
	if (mg_dkim_msg_load(&m, fd, size, error_r, &io) < 0)
		goto out;
	if (mg_dkim_body_init(&body, MG_DKIM_CANON_RELAXED, EVP_sha256(), -1) < 0) {
		*error_r = "digest unavailable";
		goto out;
	}
	if (mg_dkim_msg_body(&m, body_cb, &body) < 0) {
		mg_dkim_body_abort(&body);
		*error_r = "cannot read the message";
		goto out;
	}
	if (mg_dkim_body_final(&body, bh, &bhlen, &total) < 0) {
		*error_r = "digest failed";
		goto out;
	}
	EVP_EncodeBlock((unsigned char *)bh64, bh, (int)bhlen);
	if (build_h(&m, sign, over, &h) < 0 || hash_headers(&m, h.data, &hin) < 0 ||
	    buf_printf(&field, "DKIM-Signature: v=1; a=%s; c=relaxed/relaxed; d=%s; "
	    "s=%s; t=%lld; h=%s; bh=%s; b=", rsa ? "rsa-sha256" : "ed25519-sha256", domain,
	    selector, (long long)time(NULL), h.data, bh64) < 0 ||
	    mg_dkim_canon_header(MG_DKIM_CANON_RELAXED, buf_slice(&field), (struct slice){ NULL, 0 },
	    &hin) < 0) {
		*error_r = "header section too large";
		goto out;
	}
	hin.len -= 2;	/* §3.7: the signature field enters the hash without its final CRLF */
	if (sign_data(key, rsa, &hin, &field) < 0) {
		*error_r = rsa ? "rsa signing failed (OpenSSL)" : "ed25519 signing failed (OpenSSL)";
		goto out;
	}
	if (field.len > max_line) {
		*error_r = "signature field longer than one header line allows";
		goto out;
	}
	if (buf_append(out, field.data, field.len) < 0) {
		*error_r = "signature too large";
		goto out;
	}
	r = 0;
out:
	mg_dkim_msg_free(&m);
	buf_free(&h);
	buf_free(&hin);
	buf_free(&field);
	return r;
}
