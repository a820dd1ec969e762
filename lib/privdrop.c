/* privdrop.c: drops root to an unprivileged user, optionally inside a chroot, and verifies that
 * the drop cannot be undone (STYLE.md §9). Called once per role, early in <role>_main(), before
 * any thread or peer input exists. Trusts its arguments (they come from our own config); trusts
 * nothing about the resulting credentials until it has read them back. Not root: a no-op, so
 * development and test runs keep the same process layout without privileges. */
#include "lib/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <unistd.h>

/* Reads the credentials back: every uid and gid is the target, the only group is gid, and
 * neither root uid nor root gid can be regained. */
static int
privdrop_verify(uid_t uid, gid_t gid, const char **error_r)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg, groups[2];

	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0) {
		*error_r = "verify: cannot read credentials";
		return -1;
	}
	if (ru != uid || eu != uid || su != uid) {
		*error_r = "verify: uid not dropped";
		errno = EPERM;
		return -1;
	}
	if (rg != gid || eg != gid || sg != gid) {
		*error_r = "verify: gid not dropped";
		errno = EPERM;
		return -1;
	}
	if (getgroups(2, groups) != 1 || groups[0] != gid) {
		*error_r = "verify: supplementary groups not dropped";
		errno = EPERM;
		return -1;
	}
	if (setuid(0) == 0 || seteuid(0) == 0) {
		*error_r = "verify: root uid can be regained";
		errno = EPERM;
		return -1;
	}
	if (setgid(0) == 0 || setegid(0) == 0) {
		*error_r = "verify: root gid can be regained";
		errno = EPERM;
		return -1;
	}
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		*error_r = "verify: no_new_privs not set";
		errno = EPERM;
		return -1;
	}
	return 0;
}

int
privdrop(const char *user, const char *chroot_dir, const char **error_r)
{
	struct passwd *pw;
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0)
		return 0;
	if (user == NULL || *user == '\0') {
		*error_r = "no user given";
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		/* getpwnam leaves errno 0 for "no such user". */
		if (errno == 0)
			errno = ENOENT;
		*error_r = "unknown user";
		return -1;
	}
	/* Copy now: pw points into static storage, and /etc/passwd is gone after chroot. */
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (uid == 0 || gid == 0) {
		*error_r = "refusing to run as uid 0 or gid 0";
		errno = EPERM;
		return -1;
	}
	if (chroot_dir != NULL && *chroot_dir != '\0') {
		if (chroot(chroot_dir) < 0) {
			*error_r = "chroot";
			return -1;
		}
		if (chdir("/") < 0) {
			*error_r = "chdir / after chroot";
			return -1;
		}
	}
	/* Groups first: after setresuid we no longer may change them. */
	if (setgroups(1, &gid) < 0) {
		*error_r = "setgroups";
		return -1;
	}
	if (setresgid(gid, gid, gid) < 0) {
		*error_r = "setresgid";
		return -1;
	}
	if (setresuid(uid, uid, uid) < 0) {
		*error_r = "setresuid";
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		*error_r = "prctl(PR_SET_NO_NEW_PRIVS)";
		return -1;
	}
	return privdrop_verify(uid, gid, error_r);
}
