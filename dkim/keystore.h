#ifndef DKIM_KEYSTORE_H
#define DKIM_KEYSTORE_H
/* The signer's key store: per signing domain a directory state_dir/dkim/<domain>/ holding one
 * versioned state file ("state": the domain's keys with selector, algorithm, rotation state and
 * dates) and one private key file per live key (<selector>.pem, PEM, mode 0600, owned by the
 * signer's user). Internal to dkim/; used only by the signer role (the sole holder of private
 * keys) and by tests. The state parser is pure and fuzzed (tests/fuzz/fuzz_dkim_state.c).
 *
 * Crash safety: every file is replaced with lib/atomicfile (temp file, fsync, rename, fsync of
 * the directory). A new key file is written before the state that names it, a retired key's
 * file is removed after the state that retires it: after kill -9 at any step the state names
 * only keys whose files exist; a leftover file is harmless and removed at the next tick. */
#include <stddef.h>

#include <openssl/evp.h>

#include "lib/buf.h"

#define MG_DKIM_STATE_VERSION 1
#define MG_DKIM_STATE_MAX 8192		/* octets of one state file (8 entries fit in ~1 KiB) */
#define MG_DKIM_KEYS_MAX 8		/* key entries per domain, retired ones included */
#define MG_DKIM_SELECTOR_MAX 63		/* one DNS label (RFC 1035 §2.3.4; RFC 6376 §3.1) */
#define MG_DKIM_DOMAIN_MAX 253		/* RFC 1035 §2.3.4 */
#define MG_DKIM_KEYFILE_MAX 16384	/* octets of one PEM private key file (RSA-4096 is ~3.3 KiB) */
#define MG_DKIM_TIME_MAX 253402300799LL	/* 9999-12-31T23:59:59Z */
#define MG_DKIM_RSA_BITS 2048		/* RFC 8301 §3.2: at least 1024, 2048 recommended */

enum mg_dkim_keyalg { MG_DKIM_ALG_RSA = 0, MG_DKIM_ALG_ED25519, MG_DKIM_ALG_COUNT };

/* next: generated, waits for its switch date and DNS; current: signs; retiring: replaced, the
 * selector must stay published for the grace period; retired: the record may be removed (the
 * private key file is gone). */
enum mg_dkim_keystate { MG_DKIM_KS_NEXT = 0, MG_DKIM_KS_CURRENT, MG_DKIM_KS_RETIRING,
	MG_DKIM_KS_RETIRED };

struct mg_dkim_keyent {
	char selector[MG_DKIM_SELECTOR_MAX + 1];
	enum mg_dkim_keyalg alg;
	enum mg_dkim_keystate state;
	long long created;	/* unix seconds the key was generated or imported */
	long long activates;	/* next: planned switch; others: when it started signing */
	long long retires;	/* next/current: planned end; retiring/retired: when it stopped */
};

struct mg_dkim_state {
	char domain[MG_DKIM_DOMAIN_MAX + 1];	/* lowercase */
	size_t n;
	struct mg_dkim_keyent k[MG_DKIM_KEYS_MAX];
};

const char *mg_dkim_keyalg_name(enum mg_dkim_keyalg a);		/* "rsa2048", "ed25519" */
const char *mg_dkim_keystate_name(enum mg_dkim_keystate s);	/* "next", ... */

/* Parses a state file (untrusted bytes: strict, bounded). Format, one item a line, single
 * spaces, every line ending in LF:
 *   mgdkim-state 1
 *   domain example.com
 *   key SELECTOR ALG STATE CREATED ACTIVATES RETIRES     (0..MG_DKIM_KEYS_MAX lines)
 *   end
 * Rules: selectors are unique DNS labels [a-z0-9][a-z0-9-]*; at most one current and one next
 * key per algorithm; times 0..MG_DKIM_TIME_MAX; nothing after "end". Returns 0 with *st
 * filled, or -1 with *error_r (static text). Any thread. */
int mg_dkim_state_parse(struct slice text, struct mg_dkim_state *st, const char **error_r);
/* Appends the text form (parses back to an equal state). Returns 0, -1 if out's max is hit
 * or st breaks a parser rule. */
int mg_dkim_state_write(const struct mg_dkim_state *st, struct buf *out);
/* Index of the key of alg in state ks, or -1. */
int mg_dkim_state_find(const struct mg_dkim_state *st, enum mg_dkim_keyalg alg,
    enum mg_dkim_keystate ks);
/* 1 if name is a selector we accept (see the parser), else 0. */
int mg_dkim_selector_is_valid(const char *name);
/* 1 if name is a plausible domain for a directory name: [a-z0-9.-], no "..", no leading dot. */
int mg_dkim_domain_is_valid(const char *name);

/* Disk I/O, blocking (signer role main thread). root is state_dir/dkim. */
/* Loads root/<domain>/state: 1 with *st filled, 0 if there is no state file, -1 with *error_r. */
int mg_dkim_state_load(const char *root, const char *domain, struct mg_dkim_state *st,
    const char **error_r);
/* Writes root/<domain>/state atomically (creating the directories, mode 0700). 0 or -1. */
int mg_dkim_state_save(const char *root, const struct mg_dkim_state *st, const char **error_r);
/* Writes root/<domain>/<selector>.pem atomically with mode 0600. 0 or -1. */
int mg_dkim_keyfile_save(const char *root, const char *domain, const char *selector,
    const char *pem, size_t len, const char **error_r);
/* Reads a private key file into pem (a buf with max >= MG_DKIM_KEYFILE_MAX): refuses a symlink,
 * a file that is not regular, readable or writable by group or others, not owned by our
 * effective uid, or larger than MG_DKIM_KEYFILE_MAX. 0 or -1 with *error_r. The caller wipes
 * the buffer (xwipe) before freeing it. */
int mg_dkim_keyfile_read_path(const char *path, struct buf *pem, const char **error_r);
int mg_dkim_keyfile_load(const char *root, const char *domain, const char *selector,
    struct buf *pem, const char **error_r);
/* Removes root/<domain>/<selector>.pem (no error if absent). */
void mg_dkim_keyfile_remove(const char *root, const char *domain, const char *selector);

/* OpenSSL key helpers. */
/* Generates a key (RSA-2048 or Ed25519) as PKCS#8 PEM into pem. 0 or -1. */
int mg_dkim_keygen(enum mg_dkim_keyalg alg, struct buf *pem, const char **error_r);
/* Parses a PEM private key; sets *alg_r from its type (RSA of at least 1024 bits, Ed25519).
 * Returns the key (caller frees) or NULL with *error_r. */
EVP_PKEY *mg_dkim_pem_load(const char *pem, size_t len, enum mg_dkim_keyalg *alg_r,
    const char **error_r);
/* Appends the DNS key record for a private or public key: "v=DKIM1; k=rsa; p=<base64 SPKI>" or
 * "v=DKIM1; k=ed25519; p=<base64 of the raw 32 octets>" (RFC 6376 §3.6.1, RFC 8463 §4.2). */
int mg_dkim_txt_record(EVP_PKEY *key, struct buf *out);
/* Appends the record as zone-file character-strings: "..." "..." with at most 255 octets each
 * (RFC 1035 §3.3.14; RFC 6376 §3.6.2.2 joins them). */
int mg_dkim_txt_strings(const char *record, struct buf *out);

#endif
