/* pwhash.c: Argon2id password hashing and verification (lib/pwhash.h) over libargon2. Salts and
 * dummy passwords come from getrandom(). Passwords are the caller's: never copied, logged or
 * kept; the dummy password is wiped. Thread-safe (libargon2 allocates per call). */
#include "lib/pwhash.h"

#include <argon2.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "lib/xalloc.h"

int
pwhash_make(const void *password, size_t n, char *out, size_t outsize, const char **error_r)
{
	unsigned char salt[16];
	int rc;

	if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt)) {
		*error_r = "getrandom failed";
		return -1;
	}
	if (n > UINT32_MAX) {
		*error_r = "password too long";
		return -1;
	}
	rc = argon2id_hash_encoded(PWHASH_ARGON2_T, PWHASH_ARGON2_M_KIB, PWHASH_ARGON2_P, password,
	    n, salt, sizeof(salt), 32, out, outsize);
	if (rc != ARGON2_OK) {
		*error_r = argon2_error_message(rc);
		return -1;
	}
	return 0;
}

int
pwhash_verify(const char *encoded, const void *password, size_t n)
{
	if (encoded == NULL || n > UINT32_MAX || strncmp(encoded, "$argon2id$", 10) != 0)
		return 0;
	return argon2id_verify(encoded, password, n) == ARGON2_OK;
}

int
pwhash_dummy(char *out, size_t outsize, const char **error_r)
{
	unsigned char pw[16];
	int rc;

	if (getrandom(pw, sizeof(pw), 0) != (ssize_t)sizeof(pw)) {
		*error_r = "getrandom failed";
		return -1;
	}
	rc = pwhash_make(pw, sizeof(pw), out, outsize, error_r);
	xwipe(pw, sizeof(pw));
	return rc;
}
