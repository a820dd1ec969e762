#ifndef SMTPD_SMTPD_H
#define SMTPD_SMTPD_H
/* The public face of smtpd/ for other subsystems (STYLE.md §2 dependency rule): what
 * mailguardctl needs to write entries of auth_users_file. */
#include <stddef.h>

/* Argon2id cost of new password hashes and of the dummy hash that unknown users are checked
 * against (so that both take the same time): 2 passes over 19 MiB, one lane (the OWASP 2023
 * minimum; about 20-40 ms on one core). Existing hashes keep the cost they were made with. */
#define SMTPD_ARGON2_T 2
#define SMTPD_ARGON2_M_KIB 19456
#define SMTPD_ARGON2_P 1
#define SMTPD_ARGON2_ENCODED_MAX 128
/* RFC 4616 §2: user names and passwords are at most 255 octets. */
#define SMTPD_AUTH_FIELD_MAX 255

/* Hashes a password (n octets) with a fresh 16-octet random salt into the $argon2id$ encoded
 * form (out: at least SMTPD_ARGON2_ENCODED_MAX). Returns 0, or -1 with *error_r. Any thread;
 * slow on purpose (see above). */
int smtpd_auth_hash(const void *password, size_t n, char *out, size_t outsize,
    const char **error_r);

#endif
