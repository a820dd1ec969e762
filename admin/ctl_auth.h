#ifndef ADMIN_CTL_AUTH_H
#define ADMIN_CTL_AUTH_H
/* mailguardctl auth ...: password hashes for auth_users_file, made locally (no daemon needed). */

/* argv[0] is "auth". config_dir is where mailguard.conf lives (for "auth add"). Returns the
 * process exit status: 0 done, 1 failure, 2 usage. */
int ctl_auth_main(const char *config_dir, int argc, char **argv);

#endif
