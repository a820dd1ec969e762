#ifndef SMTPD_SMTPD_H
#define SMTPD_SMTPD_H
/* The public face of smtpd/ for other subsystems (STYLE.md §2 dependency rule): what
 * mailguardctl needs to write entries of auth_users_file. */
#include <stddef.h>

#include "lib/pwhash.h"

/* Argon2id cost of new password hashes: lib/pwhash.h (shared with the admin console). */
#define SMTPD_ARGON2_T PWHASH_ARGON2_T
#define SMTPD_ARGON2_M_KIB PWHASH_ARGON2_M_KIB
#define SMTPD_ARGON2_P PWHASH_ARGON2_P
#define SMTPD_ARGON2_ENCODED_MAX PWHASH_ENCODED_MAX
/* RFC 4616 §2: user names and passwords are at most 255 octets. */
#define SMTPD_AUTH_FIELD_MAX 255

/* Hashes a password (n octets) with a fresh 16-octet random salt into the $argon2id$ encoded
 * form (out: at least SMTPD_ARGON2_ENCODED_MAX). Returns 0, or -1 with *error_r. Any thread;
 * slow on purpose. Same as pwhash_make() (kept for smtpd's callers and tests). */
int smtpd_auth_hash(const void *password, size_t n, char *out, size_t outsize,
    const char **error_r);

#endif
