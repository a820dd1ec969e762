/* ctl_admin.c: "mailguardctl admin ...": console administrators and API tokens, written straight
 * into the files the admin role reads (admin_users_file, admin_tokens_file; defaults
 * state_dir/admin-users and state_dir/admin-tokens) rather than through the control socket:
 * the first administrator must be creatable while the daemon is down or has no console yet,
 * and the files are the source of truth anyway (the admin role re-reads them when they change:
 * one stat per request: a new admin logs in at once). Runs as the operator; started as
 * root it creates state_dir for the daemon's `user` if needed (as the supervisor does) and
 * drops to that user (lib/privdrop), so the files stay the daemon's.
 * Passwords come from the terminal (no echo, twice) or the first line of stdin
 * (--password-stdin), are 12..1024 octets, are never printed or logged, and are wiped. A new
 * token is printed once on stdout; only its SHA-256 is stored. Files: mode 0600, atomic. */
#include "admin/ctl_admin.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/ctl_auth.h"
#include "admin/session_int.h"
#include "config/config.h"
#include "lib/privdrop.h"
#include "lib/pwhash.h"
#include "lib/xalloc.h"

static int
admin_usage(void)
{
	fprintf(stderr, "usage: mailguardctl [-c config_dir] admin add USER [--password-stdin]\n"
	    "       mailguardctl [-c config_dir] admin passwd USER [--password-stdin]\n"
	    "       mailguardctl [-c config_dir] admin remove USER\n"
	    "       mailguardctl [-c config_dir] admin list\n"
	    "       mailguardctl [-c config_dir] admin token NAME\n"
	    "       mailguardctl [-c config_dir] admin token-remove NAME\n"
	    "       mailguardctl [-c config_dir] admin tokens\n"
	    "  passwords: 12 to 1024 characters, from the terminal (asked twice) or the first line\n"
	    "  of stdin; names: 1 to 48 letters, digits or . _ @ + -\n");
	return 2;
}

struct ctl_files {
	char *users, *tokens;
};

static char *
path_of(const char *set, const char *state_dir, const char *name)
{
	return set != NULL && set[0] != '\0' ? xstrdup(set) : xasprintf("%s/%s", state_dir, name);
}

/* Loads the configuration, drops to the daemon's user when root, makes sure state_dir exists. */
static int
setup(const char *dir, struct ctl_files *f)
{
	struct mg_config *cfg = config_load(dir, stderr);
	struct passwd *pw = NULL;
	const char *err;

	if (cfg == NULL) {
		fprintf(stderr, "mailguardctl: configuration in %s has errors\n", dir);
		return -1;
	}
	/* as the supervisor does (sup_mkdir): state_dir is the daemon user's, mode 0700 */
	if (geteuid() == 0 && mkdir(cfg->state_dir, 0700) == 0 &&
	    ((pw = getpwnam(cfg->user)) == NULL || chown(cfg->state_dir, pw->pw_uid,
	    pw->pw_gid) < 0))
		fprintf(stderr, "mailguardctl: cannot give %s to %s: %s\n", cfg->state_dir,
		    cfg->user, pw == NULL ? "no such user" : strerror(errno));
	if (geteuid() == 0 && privdrop(cfg->user, NULL, &err) < 0) {
		fprintf(stderr, "mailguardctl: cannot become %s: %s: %s\n", cfg->user, err,
		    strerror(errno));
		config_free(&cfg);
		return -1;
	}
	if (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST)
		fprintf(stderr, "mailguardctl: cannot create %s: %s\n", cfg->state_dir,
		    strerror(errno));
	f->users = path_of(cfg->admin_users_file, cfg->state_dir, "admin-users");
	f->tokens = path_of(cfg->admin_tokens_file, cfg->state_dir, "admin-tokens");
	config_free(&cfg);
	return 0;
}

/* 1 when name is in the file, 0 when not, -1 on error (printed). */
static int
has_name(const char *path, enum session_cred_kind kind, const char *name, int list)
{
	struct session_cred *c;
	char err[160];
	size_t n;
	int found = 0;

	if (session_file_load(path, kind, &c, &n, err, sizeof(err)) < 0) {
		fprintf(stderr, "mailguardctl: %s: %s\n", path, err);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (list)
			printf("%s\n", c[i].name);
		else if (strcmp(c[i].name, name) == 0)
			found = 1;
	}
	session_creds_free(&c, &n);
	return found;
}

static int
set_password(const char *path, const char *user, int want_existing, int from_stdin)
{
	char pw[SESSION_PASSWORD_MAX + 2], hash[PWHASH_ENCODED_MAX];
	const char *err;
	long n;
	int have, existed, rc = 1;

	if ((have = has_name(path, SESSION_CRED_USERS, user, 0)) < 0)
		return 1;
	if (have != want_existing) {
		fprintf(stderr, "mailguardctl: admin user %s %s\n", user, have ?
		    "exists (use admin passwd)" : "does not exist (use admin add)");
		return 1;
	}
	n = ctl_auth_read_password(pw, sizeof(pw), from_stdin);
	if (n == -2)
		fprintf(stderr, "mailguardctl: the passwords differ\n");
	else if (n < SESSION_PASSWORD_MIN || n > SESSION_PASSWORD_MAX)
		fprintf(stderr, "mailguardctl: expected a password of %d to %d characters\n",
		    SESSION_PASSWORD_MIN, SESSION_PASSWORD_MAX);
	else if (pwhash_make(pw, (size_t)n, hash, sizeof(hash), &err) < 0)
		fprintf(stderr, "mailguardctl: cannot hash: %s\n", err);
	else if (session_file_update(path, user, hash, 0, &existed, &err) < 0)
		fprintf(stderr, "mailguardctl: cannot write %s: %s\n", path, err);
	else {
		printf("%s admin user %s in %s (the console reads it at the next login; the "
		    "user's sessions end)\n", want_existing ? "changed the password of" : "added",
		    user, path);
		rc = 0;
	}
	xwipe(pw, sizeof(pw));
	return rc;
}

static int
remove_name(const char *path, const char *name, int keep_one, const char *what)
{
	const char *err;
	int existed;

	if (session_file_update(path, name, NULL, keep_one, &existed, &err) < 0) {
		fprintf(stderr, "mailguardctl: cannot remove %s %s from %s: %s\n", what, name, path,
		    err);
		return 1;
	}
	printf("removed %s %s from %s\n", what, name, path);
	return 0;
}

static int
new_token(const char *path, const char *name)
{
	char tok[SESSION_HEX_LEN + 1], digest[SESSION_HEX_LEN + 1];
	const char *err;
	int have, existed;

	if ((have = has_name(path, SESSION_CRED_TOKENS, name, 0)) != 0) {
		if (have > 0)
			fprintf(stderr, "mailguardctl: a token named %s exists (token-remove it "
			    "first)\n", name);
		return 1;
	}
	if (session_random_hex(tok, sizeof(tok)) < 0) {
		fprintf(stderr, "mailguardctl: getrandom failed\n");
		return 1;
	}
	session_token_digest(tok, digest);
	if (session_file_update(path, name, digest, 0, &existed, &err) < 0) {
		fprintf(stderr, "mailguardctl: cannot write %s: %s\n", path, err);
		xwipe(tok, sizeof(tok));
		return 1;
	}
	printf("%s\n", tok);
	fprintf(stderr, "mailguardctl: API token %s created in %s; this is the only time it is "
	    "shown (send it as \"Authorization: Bearer TOKEN\")\n", name, path);
	xwipe(tok, sizeof(tok));
	return 0;
}

int
ctl_admin_main(const char *config_dir, int argc, char **argv)
{
	struct ctl_files f = { NULL, NULL };
	const char *cmd = argc >= 2 ? argv[1] : "", *name = argc >= 3 ? argv[2] : NULL;
	int from_stdin = argc == 4 && strcmp(argv[3], "--password-stdin") == 0;
	int rc = 2;

	if (argc < 2 || argc > 4 || (argc == 4 && !from_stdin))
		return admin_usage();
	if (strcmp(cmd, "list") != 0 && strcmp(cmd, "tokens") != 0) {
		if (name == NULL)
			return admin_usage();
		if (!session_name_ok(name)) {
			fprintf(stderr, "mailguardctl: a name is 1 to 48 letters, digits or "
			    ". _ @ + -\n");
			return 2;
		}
	} else if (argc != 2)
		return admin_usage();
	if (from_stdin && strcmp(cmd, "add") != 0 && strcmp(cmd, "passwd") != 0)
		return admin_usage();
	if (setup(config_dir, &f) < 0)
		return 1;
	if (strcmp(cmd, "add") == 0)
		rc = set_password(f.users, name, 0, from_stdin);
	else if (strcmp(cmd, "passwd") == 0)
		rc = set_password(f.users, name, 1, from_stdin);
	else if (strcmp(cmd, "remove") == 0)
		rc = remove_name(f.users, name, 1, "admin user");
	else if (strcmp(cmd, "list") == 0)
		rc = has_name(f.users, SESSION_CRED_USERS, "", 1) < 0;
	else if (strcmp(cmd, "token") == 0)
		rc = new_token(f.tokens, name);
	else if (strcmp(cmd, "token-remove") == 0)
		rc = remove_name(f.tokens, name, 0, "API token");
	else if (strcmp(cmd, "tokens") == 0)
		rc = has_name(f.tokens, SESSION_CRED_TOKENS, "", 1) < 0;
	else
		rc = admin_usage();
	xfree(f.users);
	xfree(f.tokens);
	return rc;
}
