/* ctl_auth.c: "mailguardctl auth hash" and "mailguardctl auth add USER": Argon2id hashes for
 * auth_users_file (lib/pwhash.h makes them). The password comes from the terminal without echo
 * (asked twice) or, when stdin is not a terminal, as the first line of stdin; it is never
 * printed, logged or passed on the command line, and is wiped after use. "auth add" rewrites the
 * users file atomically (temp file, fsync, rename; mode 0600), replacing the user's line or
 * appending one and keeping every other line. Runs as the operator, outside the daemon. */
#include "admin/ctl_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "config/config.h"
#include "lib/atomicfile.h"
#include "lib/buf.h"
#include "lib/pwhash.h"
#include "lib/xalloc.h"
#include "smtpd/smtpd.h"

static int
auth_usage(void)
{
	fprintf(stderr, "usage: mailguardctl [-c config_dir] auth hash\n"
	    "       mailguardctl [-c config_dir] auth add USER\n"
	    "  the password is read from the terminal (no echo) or from the first line of stdin\n");
	return 2;
}

/* Reads one line (without its newline) from fp into pw; returns its length or -1. */
static long
read_line(FILE *fp, char *pw, size_t size)
{
	size_t n;

	if (fgets(pw, (int)size, fp) == NULL)
		return -1;
	n = strcspn(pw, "\r\n");
	if (pw[n] == '\0' && n == size - 1 && !feof(fp))
		return -1;	/* longer than the buffer */
	pw[n] = '\0';
	return (long)n;
}

static long
read_tty(const char *prompt, char *pw, size_t size)
{
	FILE *tty = fopen("/dev/tty", "r+");
	struct termios old, noecho;
	long n;

	if (tty == NULL)
		return -1;
	fputs(prompt, tty);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) < 0) {
		fclose(tty);
		return -1;
	}
	noecho = old;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fileno(tty), TCSAFLUSH, &noecho);
	n = read_line(tty, pw, size);
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputs("\n", tty);
	fclose(tty);
	return n;
}

long
ctl_auth_read_password(char *pw, size_t size, int from_stdin)
{
	char *again;
	long n, m;

	if (from_stdin || !isatty(STDIN_FILENO))
		return read_line(stdin, pw, size);
	if ((n = read_tty("Password: ", pw, size)) < 0)
		return -1;
	again = xmalloc(size);
	m = read_tty("Again: ", again, size);
	if (m != n || memcmp(pw, again, (size_t)n) != 0)
		n = -2;
	xwipe(again, size);
	xfree(again);
	return n;
}

/* Gets the password and hashes it into out. Returns 0 or -1 (message printed). */
static int
get_hash(char *out, size_t outsize)
{
	char pw[SMTPD_AUTH_FIELD_MAX + 2];
	const char *err;
	long n;
	int rc = -1;

	n = ctl_auth_read_password(pw, sizeof(pw), 0);
	if (n == -2) {
		fprintf(stderr, "mailguardctl: the passwords differ\n");
		goto out;
	}
	if (n <= 0 || n > SMTPD_AUTH_FIELD_MAX) {
		fprintf(stderr, "mailguardctl: expected a password of 1 to %d octets\n",
		    SMTPD_AUTH_FIELD_MAX);
		goto out;
	}
	if (pwhash_make(pw, (size_t)n, out, outsize, &err) < 0) {
		fprintf(stderr, "mailguardctl: cannot hash: %s\n", err);
		goto out;
	}
	rc = 0;
out:
	xwipe(pw, sizeof(pw));
	return rc;
}

static int
user_ok(const char *u)
{
	size_t n = strlen(u);

	if (n == 0 || n > SMTPD_AUTH_FIELD_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] <= ' ' || u[i] == ':' || u[i] == 0x7f)
			return 0;
	return 1;
}

/* Reads the users file (missing: empty) into b; returns 0 or -1. */
static int
read_users(const char *path, struct buf *b)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char chunk[4096];
	ssize_t n;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(b, chunk, (size_t)n) < 0) {
			close(fd);
			errno = EFBIG;
			return -1;
		}
	close(fd);
	return n < 0 ? -1 : 0;
}

/* Writes the users file with user's line set to "user:hash". */
static int
add_user(const char *path, const char *user, const char *hash)
{
	struct buf in, out;
	size_t ulen = strlen(user), off = 0;
	const char *err;
	int replaced = 0, rc = -1;

	buf_init(&in, 16 * 1024 * 1024);
	buf_init(&out, 17 * 1024 * 1024);
	if (read_users(path, &in) < 0) {
		fprintf(stderr, "mailguardctl: cannot read %s: %s\n", path, strerror(errno));
		goto out;
	}
	while (off < in.len) {
		const char *p = in.data + off, *nl = memchr(p, '\n', in.len - off);
		size_t n = nl ? (size_t)(nl - p) : in.len - off;

		if (n > ulen && memcmp(p, user, ulen) == 0 && p[ulen] == ':') {
			if (!replaced)
				buf_printf(&out, "%s:%s\n", user, hash);
			replaced = 1;
		} else {
			buf_append(&out, p, n);
			buf_append_char(&out, '\n');
		}
		off += n + (nl ? 1 : 0);
	}
	if (!replaced)
		buf_printf(&out, "%s:%s\n", user, hash);
	if (atomicfile_write(path, out.data, out.len, 0600, &err) < 0) {
		fprintf(stderr, "mailguardctl: cannot write %s: %s\n", path, err);
		goto out;
	}
	printf("%s %s in %s; run \"mailguardctl reload\" to apply\n", replaced ? "updated" : "added",
	    user, path);
	rc = 0;
out:
	buf_free(&in);
	buf_free(&out);
	return rc;
}

int
ctl_auth_main(const char *config_dir, int argc, char **argv)
{
	char hash[PWHASH_ENCODED_MAX];
	struct mg_config *cfg;
	int rc;

	if (argc == 2 && strcmp(argv[1], "hash") == 0) {
		if (get_hash(hash, sizeof(hash)) < 0)
			return 1;
		printf("%s\n", hash);
		return 0;
	}
	if (argc != 3 || strcmp(argv[1], "add") != 0)
		return auth_usage();
	if (!user_ok(argv[2])) {
		fprintf(stderr, "mailguardctl: a user name is 1-255 printable octets without ':' or "
		    "spaces\n");
		return 2;
	}
	if ((cfg = config_load(config_dir, stderr)) == NULL)
		return 1;
	if (cfg->auth_users_file == NULL || cfg->auth_users_file[0] == '\0') {
		fprintf(stderr, "mailguardctl: auth_users_file is not set in %s/mailguard.conf\n",
		    config_dir);
		config_free(&cfg);
		return 1;
	}
	rc = get_hash(hash, sizeof(hash)) < 0 ? 1 : add_user(cfg->auth_users_file, argv[2], hash);
	config_free(&cfg);
	return rc ? 1 : 0;
}
