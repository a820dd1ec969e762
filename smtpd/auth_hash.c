/* auth_hash.c: making Argon2id password hashes (RFC 9106) for auth_users_file, used by
 * mailguardctl (auth hash / auth add) and by smtpd for its dummy hash. libargon2 does the work;
 * the salt comes from getrandom(). The password is the caller's and is never copied or logged. */
#include "smtpd/smtpd.h"

#include <argon2.h>
#include <stdint.h>
#include <sys/random.h>

int
smtpd_auth_hash(const void *password, size_t n, char *out, size_t outsize, const char **error_r)
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
	rc = argon2id_hash_encoded(SMTPD_ARGON2_T, SMTPD_ARGON2_M_KIB, SMTPD_ARGON2_P, password,
	    n, salt, sizeof(salt), 32, out, outsize);
	if (rc != ARGON2_OK) {
		*error_r = argon2_error_message(rc);
		return -1;
	}
	return 0;
}
