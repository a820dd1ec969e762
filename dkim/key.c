/* DKIM key records (RFC 6376 §3.6.1, §3.6.2; RFC 8463 ed25519; RFC 8301 key sizes): TXT lookup
 * through the caller's struct mg_dns_lookup, strict parsing into an OpenSSL EVP_PKEY, and the
 * signature check over a SHA-256 digest. Runs on filter pool threads. DNS answers are hostile:
 * records are capped at MG_DKIM_KEY_RECORD_MAX, decoded keys at MG_DKIM_B64_MAX octets, RSA keys
 * limited to MG_DKIM_RSA_BITS_MIN..MAX bits. */
/* OpenSSL 3.0's generic d2i_PUBKEY runs the provider decoder framework: ~85 us per RSA key
 * against ~2 us for the RSA-specific legacy decoder, a fifth of the filter's per-message CPU
 * budget. We use the legacy RSA calls (deprecated, still supported in 3.x) on purpose. */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "dkim/key.h"

#include <stdint.h>
#include <string.h>

#include <openssl/obj_mac.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "dkim/tags.h"
#include "lib/str.h"

/* Does the colon list v (FWS allowed) contain want? */
static int
list_has(struct slice v, const char *want)
{
	size_t n = strlen(want), i = 0;

	while (i <= v.len) {
		size_t start = i;
		while (i < v.len && v.p[i] != ':')
			i++;
		struct slice item = { v.p + start, i - start };
		while (item.len > 0 && (item.p[0] == ' ' || item.p[0] == '\t' || item.p[0] == '\r' ||
		    item.p[0] == '\n')) {
			item.p++;
			item.len--;
		}
		while (item.len > 0 && (item.p[item.len - 1] == ' ' || item.p[item.len - 1] == '\t' ||
		    item.p[item.len - 1] == '\r' || item.p[item.len - 1] == '\n'))
			item.len--;
		if (item.len == n && memcmp(item.p, want, n) == 0)
			return 1;
		i++;
	}
	return 0;
}

static EVP_PKEY *
decode_rsa(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	RSA *rsa = d2i_RSA_PUBKEY(NULL, &p, (long)len);	/* SubjectPublicKeyInfo, as deployed */
	EVP_PKEY *pk;

	if (rsa == NULL || p != der + len) {
		RSA_free(rsa);
		p = der;	/* RFC 6376 §3.6.1 also allows a bare RSAPublicKey */
		rsa = d2i_RSAPublicKey(NULL, &p, (long)len);
		if (rsa == NULL || p != der + len) {
			RSA_free(rsa);
			return NULL;
		}
	}
	if ((pk = EVP_PKEY_new()) == NULL || EVP_PKEY_assign_RSA(pk, rsa) != 1) {
		EVP_PKEY_free(pk);
		RSA_free(rsa);
		return NULL;
	}
	return pk;
}

static enum mg_dkim_key_status
perm(const char **error_r, const char *why)
{
	*error_r = why;
	return MG_DKIM_KEY_PERMFAIL;
}

enum mg_dkim_key_status
mg_dkim_key_parse(struct slice record, struct mg_dkim_key *key, unsigned flags, const char **error_r)
{
	struct mg_dkim_tags tags;
	const struct slice *v, *k, *h, *s, *t, *p;
	unsigned char der[MG_DKIM_B64_MAX];
	size_t derlen;
	const char *err;

	memset(key, 0, sizeof(*key));
	if (record.len > MG_DKIM_KEY_RECORD_MAX)
		return perm(error_r, "key record too long");
	if (mg_dkim_tags_parse(record, &tags, &err) < 0)
		return perm(error_r, "key record syntax error");
	/* §3.6.1 v=: if present it MUST be first and "DKIM1"; other records are discarded. */
	if ((v = mg_dkim_tags_get(&tags, "v")) != NULL) {
		if (tags.tag[0].value.p != v->p || v->len != 5 || memcmp(v->p, "DKIM1", 5) != 0)
			return perm(error_r, "key record version not DKIM1");
	}
	if ((h = mg_dkim_tags_get(&tags, "h")) != NULL && !list_has(*h, "sha256"))
		return perm(error_r, "key record does not allow sha256");
	if ((s = mg_dkim_tags_get(&tags, "s")) != NULL && !list_has(*s, "*") && !list_has(*s, "email"))
		return perm(error_r, "key not for email");
	if ((t = mg_dkim_tags_get(&tags, "t")) != NULL) {
		key->testing = list_has(*t, "y");
		key->strict = list_has(*t, "s");
	}
	if ((k = mg_dkim_tags_get(&tags, "k")) == NULL || (k->len == 3 && memcmp(k->p, "rsa", 3) == 0))
		key->type = MG_DKIM_KEY_RSA;
	else if (k->len == 7 && memcmp(k->p, "ed25519", 7) == 0)
		key->type = MG_DKIM_KEY_ED25519;
	else
		return perm(error_r, "unknown key type");
	if ((p = mg_dkim_tags_get(&tags, "p")) == NULL)
		return perm(error_r, "key record without p=");
	if (p->len == 0)
		return perm(error_r, "key revoked");
	if (mg_dkim_b64_decode(*p, der, sizeof(der), &derlen, &err) < 0)
		return perm(error_r, strstr(err, "too long") ? "key too large" : "key data not base64");
	if (key->type == MG_DKIM_KEY_ED25519 && derlen != 32)
		return perm(error_r, "ed25519 key not 32 octets");
	if (flags & MG_DKIM_KEY_CHECK_ONLY) {
		/* The caller's library decodes the key; a 1024-bit key's SubjectPublicKeyInfo is
		 * 162 octets, below that nothing usable fits. */
		if (key->type == MG_DKIM_KEY_RSA && derlen < 140)
			return perm(error_r, "key too small");
		return MG_DKIM_KEY_OK;
	}
	if (key->type == MG_DKIM_KEY_ED25519) {
		key->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, derlen);
		key->bits = 256;
	} else {
		key->pkey = decode_rsa(der, derlen);
		if (key->pkey != NULL)
			key->bits = (unsigned)EVP_PKEY_bits(key->pkey);
	}
	if (key->pkey == NULL)
		return perm(error_r, "key data unusable for its type");
	if (key->type == MG_DKIM_KEY_RSA && (key->bits < MG_DKIM_RSA_BITS_MIN ||
	    key->bits > MG_DKIM_RSA_BITS_MAX)) {
		mg_dkim_key_clear(key);
		return perm(error_r, key->bits < MG_DKIM_RSA_BITS_MIN ? "key too small" : "key too large");
	}
	return MG_DKIM_KEY_OK;
}

static enum mg_dkim_key_status
lookup(const struct mg_dns_lookup *dns, const char *name, struct buf *out, const char **error_r)
{
	struct mg_dns_result *res = dns->fn(dns->ctx, name, 16 /* TXT */);
	enum mg_dkim_key_status st;

	switch (res->status) {
	case MG_DNS_OK:
		if (res->n == 0 || res->rr[0].u.txt.len > MG_DKIM_KEY_RECORD_MAX ||
		    memchr(res->rr[0].u.txt.data, '\0', res->rr[0].u.txt.len) != NULL) {
			st = perm(error_r, "key record unusable");
			break;
		}
		/* §3.6.2.2: several TXT records give undefined results; we use the first. */
		buf_reset(out);
		if (buf_append(out, res->rr[0].u.txt.data, res->rr[0].u.txt.len) < 0) {
			st = perm(error_r, "key record too long");
			break;
		}
		st = MG_DKIM_KEY_OK;
		break;
	case MG_DNS_NODATA:
	case MG_DNS_NXDOMAIN:
		st = perm(error_r, "no key for signature");
		break;
	case MG_DNS_PERMFAIL:
	case MG_DNS_TEMPFAIL:
	default:
		*error_r = "key unavailable: DNS failure";
		st = MG_DKIM_KEY_TEMPFAIL;
		break;
	}
	mg_dns_result_free(&res);
	return st;
}

enum mg_dkim_key_status
mg_dkim_key_fetch_record(const struct mg_dns_lookup *dns, const char *selector, const char *domain,
    struct buf *out, const char **error_r)
{
	char name[MG_DNS_NAME_MAX + 1];

	if (!mg_dkim_is_selector(slice_from_str(selector)) || !mg_dkim_is_domain(slice_from_str(domain)))
		return perm(error_r, "invalid selector or domain");
	if (str_fmt(name, sizeof(name), "%s._domainkey.%s", selector, domain) < 0)
		return perm(error_r, "key name too long");
	return lookup(dns, name, out, error_r);
}

enum mg_dkim_key_status
mg_dkim_key_fetch(const struct mg_dns_lookup *dns, struct slice selector, struct slice domain,
    struct mg_dkim_key *key, const char **error_r)
{
	char sel[MG_DNS_NAME_MAX + 1], dom[MG_DNS_NAME_MAX + 1];
	struct buf rec;
	enum mg_dkim_key_status st;

	memset(key, 0, sizeof(*key));
	if (selector.len >= sizeof(sel) || domain.len >= sizeof(dom))
		return perm(error_r, "invalid selector or domain");
	memcpy(sel, selector.p, selector.len);
	sel[selector.len] = '\0';
	memcpy(dom, domain.p, domain.len);
	dom[domain.len] = '\0';
	buf_init(&rec, MG_DKIM_KEY_RECORD_MAX + 1);
	st = mg_dkim_key_fetch_record(dns, sel, dom, &rec, error_r);
	if (st == MG_DKIM_KEY_OK)
		st = mg_dkim_key_parse(buf_slice(&rec), key, 0, error_r);
	buf_free(&rec);
	return st;
}

void
mg_dkim_key_clear(struct mg_dkim_key *key)
{
	EVP_PKEY_free(key->pkey);
	key->pkey = NULL;
}

int
mg_dkim_key_verify(const struct mg_dkim_key *key, const unsigned char *hash,
    const unsigned char *sig, size_t siglen)
{
	int ok = 0;

	if (key->type == MG_DKIM_KEY_ED25519) {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		if (md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, key->pkey) == 1)
			ok = EVP_DigestVerify(md, sig, siglen, hash, 32) == 1;
		EVP_MD_CTX_free(md);
	} else {
		/* RSASSA-PKCS1-v1_5 with a SHA-256 DigestInfo, through the legacy RSA call: the
		 * EVP_PKEY_CTX route fetches the signature algorithm from the provider on every
		 * call (locks, name lookups), measurable at the filter's per-message budget. */
		const RSA *rsa = EVP_PKEY_get0_RSA(key->pkey);
		if (rsa != NULL && siglen <= (size_t)RSA_size(rsa))
			ok = RSA_verify(NID_sha256, hash, 32, sig, (unsigned)siglen, (RSA *)(uintptr_t)rsa) == 1;
	}
	return ok;
}

void
mg_dkim_keycache_init(struct mg_dkim_keycache *c, const struct mg_dns_lookup *dns)
{
	memset(c, 0, sizeof(*c));
	c->dns = dns;
}

enum mg_dkim_key_status
mg_dkim_keycache_get(struct mg_dkim_keycache *c, struct slice selector, struct slice domain,
    const struct mg_dkim_key **key_r, const char **error_r)
{
	char name[MG_DNS_NAME_MAX + 1];
	size_t slot;

	*key_r = NULL;
	if (selector.len + domain.len + 12 > MG_DNS_NAME_MAX)
		return perm(error_r, "key name too long");
	if (str_fmt(name, sizeof(name), "%.*s._domainkey.%.*s", (int)selector.len, selector.p,
	    (int)domain.len, domain.p) < 0)
		return perm(error_r, "key name too long");
	str_lower(name);
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->e[i].name, name) == 0) {
			*error_r = c->e[i].error;
			*key_r = &c->e[i].key;
			return c->e[i].st;
		}
	}
	if (c->n < MG_DKIM_KEYCACHE_MAX)
		slot = c->n++;
	else {
		slot = c->next;
		c->next = (c->next + 1) % MG_DKIM_KEYCACHE_MAX;
		mg_dkim_key_clear(&c->e[slot].key);
	}
	str_lcpy(c->e[slot].name, name, sizeof(c->e[slot].name));
	c->e[slot].error = NULL;
	c->e[slot].st = mg_dkim_key_fetch(c->dns, selector, domain, &c->e[slot].key, &c->e[slot].error);
	*error_r = c->e[slot].error;
	*key_r = &c->e[slot].key;
	return c->e[slot].st;
}

void
mg_dkim_keycache_clear(struct mg_dkim_keycache *c)
{
	for (size_t i = 0; i < c->n; i++)
		mg_dkim_key_clear(&c->e[i].key);
	c->n = c->next = 0;
}
