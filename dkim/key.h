#ifndef DKIM_KEY_H
#define DKIM_KEY_H
/* DKIM public key records (RFC 6376 §3.6.1, RFC 8463 for ed25519): fetch TXT
 * <selector>._domainkey.<domain> through a struct mg_dns_lookup and parse it into an EVP_PKEY.
 * Internal to dkim/. Any thread (no shared state). */
#include <openssl/evp.h>

#include "common/dns.h"
#include "lib/buf.h"

#define MG_DKIM_RSA_BITS_MIN 1024	/* RFC 8301 §3.2: smaller keys MUST NOT be accepted */
#define MG_DKIM_RSA_BITS_MAX 8192	/* our cap: bigger keys only cost CPU (§3.3.3 asks <= 4096) */
#define MG_DKIM_KEY_RECORD_MAX 4096	/* octets of one joined TXT record (common/dns.h cap) */

enum mg_dkim_key_type {
	MG_DKIM_KEY_RSA = 0,
	MG_DKIM_KEY_ED25519,
};

enum mg_dkim_key_status {
	MG_DKIM_KEY_OK = 0,
	MG_DKIM_KEY_TEMPFAIL,	/* DNS temporary failure: TEMPFAIL (key unavailable), §6.1.2 */
	MG_DKIM_KEY_PERMFAIL,	/* no record, unusable record, wrong type, revoked, too small */
};

struct mg_dkim_key {
	EVP_PKEY *pkey;			/* owned */
	enum mg_dkim_key_type type;
	unsigned bits;
	int testing;			/* t=y */
	int strict;			/* t=s: i= must not be a subdomain of d= */
};

/* Parses one key record. Rejects (PERMFAIL, with a reason in *error_r): v= other than "DKIM1"
 * or not first, syntax errors, k= other than rsa/ed25519, h= without sha256, s= without "*" or
 * "email", empty p= (revoked), p= that does not decode to a key of k= type, RSA keys outside
 * [MG_DKIM_RSA_BITS_MIN, MG_DKIM_RSA_BITS_MAX]. Returns MG_DKIM_KEY_OK with *key filled. */
#define MG_DKIM_KEY_CHECK_ONLY 0x01	/* record checks only, no EVP_PKEY (key->pkey stays NULL) */
enum mg_dkim_key_status mg_dkim_key_parse(struct slice record, struct mg_dkim_key *key,
    unsigned flags, const char **error_r);
/* Looks up TXT <selector>._domainkey.<domain> with dns and parses the first record. NXDOMAIN,
 * NODATA and an invalid name are PERMFAIL ("no key for signature", §6.1.2); DNS TEMPFAIL is
 * TEMPFAIL; DNS PERMFAIL (refused, malformed answer) is TEMPFAIL too: the key may well exist. */
enum mg_dkim_key_status mg_dkim_key_fetch(const struct mg_dns_lookup *dns, struct slice selector,
    struct slice domain, struct mg_dkim_key *key, const char **error_r);
/* Fetches only the record text into out (for libopendkim's key callback): same status rules.
 * Returns the status; the record is NUL-terminated in out on OK. */
enum mg_dkim_key_status mg_dkim_key_fetch_record(const struct mg_dns_lookup *dns,
    const char *selector, const char *domain, struct buf *out, const char **error_r);
void mg_dkim_key_clear(struct mg_dkim_key *key);

/* Keys fetched during one message's verification, so an ARC chain sealed by one domain costs one
 * query. Lookups (also failed ones) are remembered by name; a full cache recycles slots. */
#define MG_DKIM_KEYCACHE_MAX 8
struct mg_dkim_keycache {
	const struct mg_dns_lookup *dns;	/* borrowed */
	size_t n, next;
	struct {
		char name[MG_DNS_NAME_MAX + 1];
		enum mg_dkim_key_status st;
		const char *error;
		struct mg_dkim_key key;
	} e[MG_DKIM_KEYCACHE_MAX];
};
void mg_dkim_keycache_init(struct mg_dkim_keycache *c, const struct mg_dns_lookup *dns);
/* Returns the status; on OK *key_r points into the cache (valid until the next get or clear). */
enum mg_dkim_key_status mg_dkim_keycache_get(struct mg_dkim_keycache *c, struct slice selector,
    struct slice domain, const struct mg_dkim_key **key_r, const char **error_r);
void mg_dkim_keycache_clear(struct mg_dkim_keycache *c);

/* Verifies sig over the SHA-256 digest hash (32 octets) with key: RSASSA-PKCS1-v1_5 for RSA
 * (RFC 6376 §3.3.1), Ed25519 over the digest for ed25519-sha256 (RFC 8463 §3). Returns 1 if
 * valid, 0 if not. */
int mg_dkim_key_verify(const struct mg_dkim_key *key, const unsigned char *hash,
    const unsigned char *sig, size_t siglen);

#endif
