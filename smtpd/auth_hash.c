/* auth_hash.c: Argon2id password hashes for auth_users_file (smtpd/smtpd.h). The work is done by
 * lib/pwhash.c, shared with the admin console; this name stays for smtpd's callers. The password
 * is the caller's and is never copied or logged. */
#include "smtpd/smtpd.h"

#include "lib/pwhash.h"

int
smtpd_auth_hash(const void *password, size_t n, char *out, size_t outsize, const char **error_r)
{
	return pwhash_make(password, n, out, outsize, error_r);
}
