#ifndef ADMIN_CTL_ADMIN_H
#define ADMIN_CTL_ADMIN_H
/* mailguardctl admin ...: console administrators and API tokens, written locally into the files
 * the admin role reads (no daemon needed: the first administrator is made before the console
 * runs). */

/* argv[0] is "admin". config_dir is where mailguard.conf lives. Returns the process exit
 * status: 0 done, 1 failure, 2 usage. */
int ctl_admin_main(const char *config_dir, int argc, char **argv);

#endif
