#ifndef ADMIN_CTL_AUTH_H
#define ADMIN_CTL_AUTH_H
/* mailguardctl auth ...: password hashes for auth_users_file, made locally (no daemon needed). */
#include <stddef.h>

/* argv[0] is "auth". config_dir is where mailguard.conf lives (for "auth add"). Returns the
 * process exit status: 0 done, 1 failure, 2 usage. */
int ctl_auth_main(const char *config_dir, int argc, char **argv);

/* Reads a password into pw (size octets with its NUL): from the terminal without echo, asked
 * twice, or, when from_stdin is set or stdin is not a terminal, as the first line of stdin.
 * Returns its length, -1 when none could be read (or it is longer than size - 2), -2 when the
 * two entries differ. The caller wipes pw. Shared by "auth" and "admin" commands. */
long ctl_auth_read_password(char *pw, size_t size, int from_stdin);

#endif
