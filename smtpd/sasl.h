#ifndef SMTPD_SASL_H
#define SMTPD_SASL_H
/* I/O-free parsers for SMTP AUTH (RFC 4954): the AUTH command line, strict base64 (RFC 4648 §4),
 * the PLAIN message (RFC 4616), and the users file (auth_users_file: "user:$argon2id$..." lines).
 * Fully untrusted input; fuzzed by tests/fuzz/fuzz_sasl.c. Thread-safe; only
 * sasl_users_parse allocates. Never logs (the input holds passwords). */
#include <stddef.h>
#include "lib/buf.h"

/* RFC 4954 §4: an AUTH command with initial response, and each client response, may be up to
 * 12288 octets (CRLF excluded), not the 512 of other commands. */
#define SASL_LINE_MAX 12288
/* Decoded responses are at most 3/4 of that. */
#define SASL_DECODED_MAX (SASL_LINE_MAX / 4 * 3)
/* RFC 4616 §2: authcid, authzid and passwd are each at most 255 octets. */
#define SASL_FIELD_MAX 255
/* Users file: at most this many octets and users; a hash at most this long. */
#define SASL_USERS_FILE_MAX (16 * 1024 * 1024)
#define SASL_USERS_MAX 100000
#define SASL_HASH_MAX 256

enum sasl_mech { SASL_MECH_NONE = 0, SASL_MECH_PLAIN, SASL_MECH_LOGIN };

/* The argument of "AUTH mech [initial-response]". */
struct sasl_auth_cmd {
	enum sasl_mech mech;	/* SASL_MECH_NONE: a mechanism we do not offer */
	int has_initial;	/* an initial response was given ("=" is an empty one) */
	struct slice initial;	/* borrowed: points into the argument; base64 text, "" for "=" */
};

/* Parses the text after "AUTH " (line without CRLF). Returns 0, or -1 with *error_r when the
 * syntax is wrong (no mechanism, junk after the response, bad characters). An unknown but
 * well-formed mechanism returns 0 with mech = SASL_MECH_NONE. */
int sasl_auth_cmd_parse(struct slice arg, struct sasl_auth_cmd *cmd_r, const char **error_r);

/* Decodes strict base64: alphabet A-Z a-z 0-9 + /, length a multiple of 4, '=' padding only at
 * the end, unused bits zero, no whitespace. out must hold in.len / 4 * 3 octets (outsize);
 * returns 0 with *outlen_r, or -1. The empty input decodes to nothing (RFC 4954 §4: "="). */
int sasl_base64_decode(struct slice in, unsigned char *out, size_t outsize, size_t *outlen_r);
/* Encodes n octets into out (outsize >= 4 * ((n + 2) / 3) + 1, NUL-terminated); -1 if short. */
int sasl_base64_encode(const void *p, size_t n, char *out, size_t outsize);

/* RFC 4616 PLAIN: message = [authzid] NUL authcid NUL passwd. */
struct sasl_plain {
	char authcid[SASL_FIELD_MAX + 1];
	char passwd[SASL_FIELD_MAX + 1];	/* a secret: the caller wipes it */
};
/* Splits a decoded PLAIN message. Rejects missing NULs, an empty authcid or passwd, fields over
 * 255 octets, an authzid that differs from authcid (we do not support proxy authorisation), and
 * control characters in authcid. Returns 0, or -1 with *error_r. */
int sasl_plain_parse(const unsigned char *p, size_t n, struct sasl_plain *out, const char **error_r);
/* Checks a LOGIN user name or password (decoded) and copies it NUL-terminated into out (size
 * SASL_FIELD_MAX + 1). Returns 0, or -1 when empty, too long or holding NUL (or, for a user
 * name, other control characters). */
int sasl_login_field(const unsigned char *p, size_t n, int is_user, char *out);

/* A loaded users file, sorted by name for binary search. */
struct sasl_user {
	char *name;
	char *hash;		/* "$argon2id$v=19$m=...,t=...,p=...$salt$hash" */
};
struct sasl_users {
	struct sasl_user *v;
	size_t n;
};
/* Parses a users file: "name:hash" lines, '#' comments and blank lines; name 1-255 printable
 * ASCII without ':' or spaces, hash a $argon2id$ encoded string up to SASL_HASH_MAX octets with
 * nothing after it. A name given twice is an error. Returns 0 with *out filled (free with
 * sasl_users_free), or -1 with *line_r (1-based) and *error_r (static text) for the first
 * problem; *out is then empty. */
int sasl_users_parse(const char *text, size_t len, struct sasl_users *out, size_t *line_r,
    const char **error_r);
/* Finds a user (exact, case-sensitive); NULL if absent. */
const struct sasl_user *sasl_users_find(const struct sasl_users *u, const char *name);
void sasl_users_free(struct sasl_users *u);

#endif
