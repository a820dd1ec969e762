#ifndef LIB_PRIVDROP_H
#define LIB_PRIVDROP_H

/* The one privilege-drop helper (STYLE.md §9, Postfix chroot_uid style).
 *
 * Started as root (effective uid 0): looks up user, chroots to chroot_dir when it is not NULL or
 * "" and does chdir("/"), sets the supplementary groups to the user's primary group only, then
 * setresgid and setresuid to the user's gid and uid, sets PR_SET_NO_NEW_PRIVS, and verifies the
 * result (real, effective and saved ids all equal the target, only that one group, and neither
 * setuid(0) nor setgid(0) succeeds). A user whose uid or gid is 0 is refused.
 *
 * Started as any other user (development, tests): does nothing and returns 0; a requested
 * chroot is skipped without error. The same processes and IPC then run as that user.
 *
 * Returns 0, or -1 with *error_r set to a static description of the failed step and errno from
 * it preserved (ENOENT for an unknown user). After -1 the process may be half-dropped: the
 * caller must exit (fatal()), never carry on. Call it before starting threads: the credential
 * changes apply process-wide but the user lookup (getpwnam) is not thread-safe. */
int privdrop(const char *user, const char *chroot_dir, const char **error_r);

#endif
