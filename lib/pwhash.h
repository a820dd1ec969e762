#ifndef LIB_PWHASH_H
#define LIB_PWHASH_H
/* Argon2id password hashes (RFC 9106) in the "$argon2id$v=19$m=...,t=...,p=...$salt$hash" encoded
 * form, shared by SMTP AUTH (auth_users_file) and the admin console (admin_users_file). */
#include <stddef.h>

/* Cost of new hashes and of dummy hashes: 2 passes over 19 MiB, one lane (the OWASP 2023
 * minimum; about 20-40 ms on one core). Existing hashes keep the cost they were made with. */
#define PWHASH_ARGON2_T 2
#define PWHASH_ARGON2_M_KIB 19456
#define PWHASH_ARGON2_P 1
/* Room for an encoded hash of the cost above (16-octet salt, 32-octet tag) and its NUL. */
#define PWHASH_ENCODED_MAX 128

/* Hashes a password (n octets) with a fresh 16-octet random salt (getrandom) into out (at least
 * PWHASH_ENCODED_MAX). Returns 0, or -1 with *error_r (static). Any thread; slow on purpose. The
 * password is never copied. */
int pwhash_make(const void *password, size_t n, char *out, size_t outsize, const char **error_r);

/* Returns 1 when password (n octets) matches the encoded argon2id hash, 0 otherwise (wrong
 * password, malformed hash, anything else). The tag comparison is constant-time (libargon2).
 * Any thread; as slow as the hash's cost. */
int pwhash_verify(const char *encoded, const void *password, size_t n);

/* Makes the hash of a random password, for checking unknown users at the same cost as known
 * ones (so timing does not reveal which names exist). Returns 0 or -1 with *error_r. */
int pwhash_dummy(char *out, size_t outsize, const char **error_r);

#endif
