#ifndef ADMIN_SESSION_INT_H
#define ADMIN_SESSION_INT_H
/* session_int.h: internals of the console's authentication (admin/session*.c), shared with
 * admin/page_login.c, admin/ctl_admin.c, the unit tests and the cookie fuzz target. The parsers
 * here are pure (no I/O, no clock of their own) so they can be tested and fuzzed alone. */
#include <stddef.h>
#include <time.h>

#include "lib/buf.h"

#define SESSION_COOKIE		"__Host-mg_session"
#define SESSION_PRE_COOKIE	"__Host-mg_pre"	/* login form's double-submit token */
#define SESSION_HEX_LEN		64		/* 32 random bytes as lower-case hex */
#define SESSION_MAX		1000		/* sessions at once; the oldest is evicted */
#define SESSION_PRE_TTL		600		/* seconds a login form stays usable */
#define SESSION_NAME_MAX	48		/* user and token names (who.user = "token:NAME") */
#define SESSION_PASSWORD_MIN	12
#define SESSION_PASSWORD_MAX	1024
#define SESSION_LIMIT_ENTRIES	4096		/* user names + addresses with failure counts */
#define SESSION_VERIFY_PER_SEC	20		/* argon2 verifications a second, all logins */
#define SESSION_CREDS_MAX	10000		/* lines of a users or tokens file */
#define SESSION_FILE_MAX	(4 * 1024 * 1024)
#define SESSION_COOKIE_HDR_MAX	8192		/* longer Cookie headers are ignored */

/* Finds cookie name in a Cookie request header (RFC 6265 §4.2.1: "a=1; b=2") and copies its
 * value, which must be 1..outsize-1 octets of cookie-octet, into out. Returns 0, or -1 when the
 * cookie is missing, empty, too long, malformed or present more than once (an attacker able
 * to plant a second cookie must not choose which one we read). */
int session_cookie_find(const char *header, const char *name, char *out, size_t outsize);

/* True when s is exactly SESSION_HEX_LEN lower-case hex digits. */
int session_is_hex_id(const char *s);

/* Parses an Authorization header "Bearer TOKEN" (scheme case-insensitive, RFC 6750 §2.1) whose
 * token is SESSION_HEX_LEN hex digits; copies the token into out (at least SESSION_HEX_LEN + 1).
 * Returns 0 or -1. */
int session_bearer_parse(const char *header, char *out, size_t outsize);

/* The redirect target after login: next when it is a local path (starts with one '/', no "//"
 * or '\\' anywhere, printable ASCII only, at most 1024 octets), else "/". Returns next or a
 * static string. */
const char *session_next_safe(const char *next);

/* The failure-counting key of a client address: an IPv4 address as is, an IPv6 address as
 * its /64 prefix ("2001:db8:1:2::/64"); IPv4-mapped IPv6 as the IPv4 address. Returns 0 or -1
 * (unparseable: the caller counts the text as it is). */
int session_addr_key(const char *peer, char *out, size_t outsize);

/* User and token names: 1..SESSION_NAME_MAX octets of [A-Za-z0-9._@+-]. */
int session_name_ok(const char *s);

/* SESSION_HEX_LEN hex digits of fresh randomness (getrandom) into out (>= SESSION_HEX_LEN + 1).
 * Returns 0 or -1. */
int session_random_hex(char *out, size_t outsize);
/* Lower-case hex of n bytes into out (>= 2n + 1). */
void session_hex(const unsigned char *in, size_t n, char *out);

/* One line of a users ("name:$argon2id$...") or tokens ("name:sha256hex") file. */
struct session_cred {
	char name[SESSION_NAME_MAX + 1];
	char *secret;		/* encoded hash, or the SHA-256 as 64 hex digits */
};

enum session_cred_kind { SESSION_CRED_USERS, SESSION_CRED_TOKENS };

/* Parses a whole users or tokens file (# comments and blank lines allowed). Returns 0 with
 * *creds_r (xfree each secret, then the array: session_creds_free) and *n_r, or -1 with
 * *line_r and *error_r. A name may appear once. */
int session_creds_parse(const char *text, size_t len, enum session_cred_kind kind,
    struct session_cred **creds_r, size_t *n_r, size_t *line_r, const char **error_r);
void session_creds_free(struct session_cred **creds, size_t *n);

/* Failure counting per key (user name or address key) for the login lockout. A key's failures
 * are counted within a window of `lockout` seconds from its first failure; the failure that
 * reaches `limit` locks the key until `lockout` seconds after it. Fixed size: when full, the
 * entry used longest ago that is not locked is replaced (locked ones are kept; if every entry
 * is locked the oldest lock is dropped). Times are seconds on any monotonic clock. */
struct session_limit_ent {
	char key[80];
	unsigned count;
	double window_start, locked_until, last;
};
struct session_limits {
	struct session_limit_ent *ents;
	size_t n, max;
};
void session_limits_init(struct session_limits *l, size_t max);
void session_limits_free(struct session_limits *l);
/* Seconds the key stays locked (> 0), or 0 when it is not locked at now. */
double session_limits_locked(const struct session_limits *l, const char *key, double now);
/* Counts one failure; returns 1 when this failure started a lockout, else 0. */
int session_limits_fail(struct session_limits *l, const char *key, double now, unsigned limit,
    double lockout);
/* Failures of key counted in its current window (0 when none, the window has passed, or a
 * lockout has ended; while locked: the count that locked it). */
unsigned session_limits_count(const struct session_limits *l, const char *key, double now,
    double lockout);
/* Forgets the key's failures (after a successful login of that user). */
void session_limits_clear(struct session_limits *l, const char *key);

/* A fixed-window rate cap: returns 1 and counts when fewer than per_sec were taken in the
 * current one-second window, else 0. */
struct session_rate {
	double window;
	unsigned n;
};
int session_rate_take(struct session_rate *r, double now, unsigned per_sec);

/* ---- admin/session.c: the admin role's session state, for admin/page_login.c and tests ---- */

struct http_request;

enum session_login_rc {
	SESSION_LOGIN_OK,	/* session created: sid holds its id */
	SESSION_LOGIN_BAD,	/* wrong user name or password (or a lockout just started) */
	SESSION_LOGIN_LOCKED,	/* user or address locked: password not checked; *retry_r set */
	SESSION_LOGIN_BUSY,	/* over SESSION_VERIFY_PER_SEC this second, too many checks queued,
				 * or checks in flight for the user/address would pass the limit */
	SESSION_LOGIN_PENDING,	/* being verified on a worker thread: the callback follows */
};

/* The outcome of a pending login, on the loop thread: rc is OK (sid = the new session's id,
 * wiped after the call), BAD or BUSY; retry is unused (0). */
typedef void session_login_cb(void *arg, enum session_login_rc rc, const char *sid,
    double retry);
/* Starts a login (see admin/session.c for the order of checks). user and peer are peer text;
 * password is password_len octets (copied for the worker, wiped after; never logged). Returns
 * LOCKED (with *retry_r) or BUSY at once without verifying and without calling cb; otherwise
 * PENDING: argon2 runs on a worker thread and cb(arg, ...) is called exactly once later on the
 * loop. Loop thread. */
enum session_login_rc session_login_start(const char *user, const char *password,
    size_t password_len, const char *peer, double *retry_r, session_login_cb *cb, void *arg);
/* Ends the session named by the request's cookie, if any; returns 1 when one ended. */
int session_logout(const struct http_request *req);
/* True when the request has no Origin header or one naming this server ("https://" + Host). */
int session_origin_ok(const struct http_request *req);
/* Replaces the monotonic clock (seconds) for tests; NULL restores the real one. */
void session_set_clock(double (*fn)(void));

/* ---- admin/session_store.c: the users and tokens files (used by the admin role and by
 * mailguardctl admin). Files are rewritten whole with lib/atomicfile.h, mode 0600. ---- */

/* Reads path into b (max SESSION_FILE_MAX). A missing file reads as empty (returns 0 with
 * *missing_r = 1). A file readable or writable by group or others is refused (-1, *error_r),
 * as are non-regular files. */
int session_file_read(const char *path, struct buf *b, int *missing_r, const char **error_r);
/* Loads and parses a users or tokens file (see session_file_read and session_creds_parse);
 * errors are described in *error_r (a static string, or "line N: ..." in err_buf). */
int session_file_load(const char *path, enum session_cred_kind kind,
    struct session_cred **creds_r, size_t *n_r, char *err_buf, size_t err_size);
/* Sets (secret != NULL: replaces the name's line or appends one) or removes (secret == NULL)
 * name's line, keeping every other line and comment. *existed_r tells whether the name was
 * there. Returns 0 or -1 with *error_r. Refuses to remove the last user of a users file when
 * keep_one is set. */
int session_file_update(const char *path, const char *name, const char *secret, int keep_one,
    int *existed_r, const char **error_r);
/* SHA-256 of the token text as 64 lower-case hex digits into hex (>= 65). */
void session_token_digest(const char *token, char *hex);

#endif
