/* session_store.c: the console's users file (admin_users_file) and API tokens file
 * (admin_tokens_file) on disk, for the admin role (admin/session.c) and mailguardctl admin
 * (admin/ctl_admin.c). Both hold secrets (password hashes, token digests): a file readable or
 * writable by group or others, or not a regular file, is refused; rewrites go through
 * lib/atomicfile.h with mode 0600 and keep every other line and comment in place. Files are
 * capped at SESSION_FILE_MAX octets and SESSION_CREDS_MAX entries. Blocking I/O (small files). */
#include "admin/session_int.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/atomicfile.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

int
session_file_read(const char *path, struct buf *b, int *missing_r, const char **error_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	char chunk[8192];
	ssize_t n;

	*missing_r = 0;
	if (fd < 0 && errno == ENOENT) {
		*missing_r = 1;
		return 0;
	}
	if (fd < 0) {
		*error_r = "cannot open";
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*error_r = "not a regular file";
		goto fail;
	}
	if ((st.st_mode & 077) != 0) {
		*error_r = "readable or writable by group or others (chmod 600)";
		goto fail;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(b, chunk, (size_t)n) < 0) {
			*error_r = "file too large";
			goto fail;
		}
	if (n < 0) {
		*error_r = "read error";
		goto fail;
	}
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

int
session_file_load(const char *path, enum session_cred_kind kind,
    struct session_cred **creds_r, size_t *n_r, char *err_buf, size_t err_size)
{
	struct buf b;
	const char *err;
	size_t line;
	int missing, rc = -1;

	buf_init(&b, SESSION_FILE_MAX);
	*creds_r = NULL;
	*n_r = 0;
	if (session_file_read(path, &b, &missing, &err) < 0) {
		str_fmt(err_buf, err_size, "%s", err);
		goto out;
	}
	if (session_creds_parse(b.data ? b.data : "", b.len, kind, creds_r, n_r, &line,
	    &err) < 0) {
		str_fmt(err_buf, err_size, "line %zu: %s", line, err);
		goto out;
	}
	rc = 0;
out:
	if (b.data != NULL)
		xwipe(b.data, b.len);
	buf_free(&b);
	return rc;
}

/* True when the line (without newline) is name's entry. */
static int
line_is(const char *p, size_t n, const char *name, size_t nlen)
{
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	return n > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == ':';
}

/* Counts entry lines (not comments or blank). */
static int
line_is_entry(const char *p, size_t n)
{
	while (n > 0 && (*p == ' ' || *p == '\t' || *p == '\r')) {
		p++;
		n--;
	}
	return n > 0 && *p != '#';
}

int
session_file_update(const char *path, const char *name, const char *secret, int keep_one,
    int *existed_r, const char **error_r)
{
	struct buf in, out;
	size_t nlen = strlen(name), off = 0, others = 0;
	int missing, rc = -1;

	*existed_r = 0;
	buf_init(&in, SESSION_FILE_MAX);
	buf_init(&out, SESSION_FILE_MAX + 1024);
	if (session_file_read(path, &in, &missing, error_r) < 0)
		goto out;
	while (off < in.len) {
		const char *p = in.data + off, *nl = memchr(p, '\n', in.len - off);
		size_t n = nl ? (size_t)(nl - p) : in.len - off;

		off += n + (nl ? 1 : 0);
		if (line_is(p, n, name, nlen)) {
			if (secret != NULL && !*existed_r)
				buf_printf(&out, "%s:%s\n", name, secret);
			*existed_r = 1;
			continue;
		}
		others += line_is_entry(p, n);
		if (buf_append(&out, p, n) < 0 || buf_append_char(&out, '\n') < 0) {
			*error_r = "file too large";
			goto out;
		}
	}
	if (secret == NULL && !*existed_r) {
		*error_r = "no such name";
		goto out;
	}
	if (secret == NULL && keep_one && others == 0) {
		*error_r = "refusing to remove the last administrator";
		goto out;
	}
	if (secret != NULL && !*existed_r && buf_printf(&out, "%s:%s\n", name, secret) < 0) {
		*error_r = "file too large";
		goto out;
	}
	if (atomicfile_write(path, out.data ? out.data : "", out.len, 0600, error_r) < 0)
		goto out;
	rc = 0;
out:
	if (in.data != NULL)
		xwipe(in.data, in.len);
	if (out.data != NULL)
		xwipe(out.data, out.len);
	buf_free(&in);
	buf_free(&out);
	return rc;
}

void
session_token_digest(const char *token, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(token, strlen(token), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		panic("admin: SHA-256 failed");	/* always available: an OpenSSL bug */
	session_hex(md, 32, hex);
}
