#ifndef COMMON_QTOKEN_H
#define COMMON_QTOKEN_H
/* qtoken.h: the signed one-click tokens of quarantine digests (issue G). The queue role mints
 * them into digests; the admin role's public endpoint (/q/TOKEN) verifies them. A token binds
 * action, queue id, recipient and expiry, plus a random nonce (single-use tracking is the admin
 * role's job), and is authenticated with HMAC-SHA-256 under a key from state_dir/qtoken-keys:
 *
 *     token = base64url(payload) "." base64url(first 16 octets of HMAC-SHA-256(key, payload))
 *
 * Keys: the file holds "ID HEXKEY CREATED" lines (mode 0600, 32-byte keys, ID 1..255); the
 * newest signs, every key listed verifies. The queue role rotates: a new key every 30 days,
 * keys older than 30 days + digest_link_lifetime removed (atomic rewrite). Tokens are at most
 * QTOKEN_MAX characters; parsing is strict and bounded (fuzzed by tests/fuzz/fuzz_qtoken.c). */
#include <stddef.h>
#include <stdint.h>

#define QTOKEN_MAX 768
#define QTOKEN_QID_MAX 32
#define QTOKEN_RCPT_MAX 320

enum qtoken_action {
	QT_RELEASE = 1,		/* deliver this message to the recipient (single use) */
	QT_DELETE = 2,		/* delete it (single use) */
	QT_ALLOW = 3,		/* add its sender to the recipient domain's allow list */
	QT_LIST = 4,		/* show the recipient's quarantine (qid empty) */
};

struct qtoken {
	enum qtoken_action action;
	long long expires;			/* unix seconds */
	char qid[QTOKEN_QID_MAX + 1];		/* "" for QT_LIST */
	char rcpt[QTOKEN_RCPT_MAX + 1];		/* the recipient address, lower case */
	uint8_t nonce[8];
	unsigned key_id;			/* set by qtoken_parse */
};

/* Loads state_dir/qtoken-keys; with rotate, creates the file or adds a key when the newest is
 * older than 30 days and drops expired keys (lifetime = digest_link_lifetime). Returns 0 or -1
 * with *error_r. Call again to pick up keys another role added. */
int qtoken_keys_load(const char *state_dir, int rotate, long long lifetime, long long now,
    const char **error_r);
/* Writes the token for t (nonce filled randomly when all zero) signed with the newest key.
 * Returns 0, or -1 (no key, too long). */
int qtoken_make(struct qtoken *t, char *out, size_t size);
/* Verifies and decodes s (constant-time MAC comparison). Expiry is NOT checked here (the caller
 * compares t->expires with its clock, to answer "expired" distinctly). Returns 0 or -1 with
 * *error_r ("malformed", "unknown key", "bad signature"). */
int qtoken_parse(const char *s, struct qtoken *t, const char **error_r);

#endif
