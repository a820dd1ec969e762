/* report_archive.c: the original XML of every stored incoming DMARC report, kept as a file
 * (issue I: "keep the original too"; the store's index rebuildable from it). Layout:
 * <dir>/<protected domain>/<first 32 hex digits of SHA-256(identity)>.xml.gz, gzip made with
 * zlib, written with lib/atomicfile.h (temporary file, fsync, rename, fsync of the directory),
 * so once mg_rarchive_put returns the report survives a crash even when its mail is not
 * delivered (dmarc_rua_keep = no) and even if the Berkeley DB environment is lost. Reading back
 * goes through mg_report_unpack with the report caps (an archive file is trusted no more than
 * the mail it came from). Any thread; no state besides the directory path. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <openssl/evp.h>

#include "dmarc/dmarc.h"
#include "lib/atomicfile.h"
#include "lib/buf.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define ARCHIVE_FILE_MAX (64u * 1024 * 1024)	/* gzip octets read back from one file */
#define ARCHIVE_PATH_MAX 4096

struct mg_rarchive {
	char *dir;
};

struct mg_rarchive *
mg_rarchive_open(const char *dir, const char **error_r)
{
	struct mg_rarchive *a;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		*error_r = "cannot create the archive directory";
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	a->dir = xstrdup(dir);
	return a;
}

void
mg_rarchive_free(struct mg_rarchive **ap)
{
	if (*ap == NULL)
		return;
	xfree((*ap)->dir);
	xfree(*ap);
	*ap = NULL;
}

/* A protected domain name as a directory name: lowercase [a-z0-9.-], not starting with '.'. */
static int
domain_ok(const char *d)
{
	size_t n = strlen(d);

	if (n == 0 || n > MG_REPORT_NAME_MAX || d[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((d[i] >= 'a' && d[i] <= 'z') || (d[i] >= '0' && d[i] <= '9') || d[i] == '.' ||
		    d[i] == '-'))
			return 0;
	return 1;
}

static int
file_name(const struct mg_report *r, char *out, size_t size)
{
	char id[MG_REPORT_IDENTITY_MAX];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	static const char hex[] = "0123456789abcdef";

	if (size < 40 || mg_report_identity(r, id, sizeof(id)) < 0 ||
	    EVP_Digest(id, strlen(id), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 16)
		return -1;
	for (unsigned i = 0; i < 16; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	memcpy(out + 32, ".xml.gz", 8);
	return 0;
}

/* gzip (RFC 1952) of p into out. Returns 0 or -1. */
static int
gzip_buf(const void *p, size_t len, struct buf *out)
{
	z_stream z;
	uLong bound;
	int r;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	bound = deflateBound(&z, (uLong)len) + 64;
	if (buf_reserve(out, bound) < 0) {
		deflateEnd(&z);
		return -1;
	}
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out->data;
	z.avail_out = (uInt)bound;
	r = deflate(&z, Z_FINISH);
	out->len = z.total_out;
	deflateEnd(&z);
	return r == Z_STREAM_END ? 0 : -1;
}

int
mg_rarchive_put(struct mg_rarchive *a, const char *domain, const struct mg_report *r,
    const void *xml, size_t len, const char **error_r)
{
	char dir[ARCHIVE_PATH_MAX], path[ARCHIVE_PATH_MAX], name[48];
	struct buf gz;
	struct stat st;
	int rc;

	if (!domain_ok(domain) || file_name(r, name, sizeof(name)) < 0 ||
	    str_fmt(dir, sizeof(dir), "%s/%s", a->dir, domain) < 0 ||
	    str_fmt(path, sizeof(path), "%s/%s", dir, name) < 0) {
		*error_r = "bad domain or identity";
		return -1;
	}
	if (stat(path, &st) == 0)
		return 0;
	if (mkdir(dir, 0700) < 0) {
		if (errno != EEXIST) {
			*error_r = "cannot create the domain's archive directory";
			return -1;
		}
	} else if (atomicfile_fsync_dir(dir, error_r) < 0) {
		return -1;
	}
	buf_init(&gz, len + 1024 * 1024);
	if (gzip_buf(xml, len, &gz) < 0) {
		buf_free(&gz);
		*error_r = "gzip failed";
		return -1;
	}
	rc = atomicfile_write(path, gz.data, gz.len, 0600, error_r);
	buf_free(&gz);
	return rc < 0 ? -1 : 1;
}

/* Reads one archived file (at most ARCHIVE_FILE_MAX octets) and hands its XML to fn. Returns
 * fn's result, 0 for an unreadable or refused file (counted in *bad_r). */
static int
scan_file(int dfd, const char *name, const char *domain, mg_rarchive_fn *fn, void *arg,
    size_t *bad_r)
{
	struct mg_report_blobs blobs = { 0 };
	struct mg_report_err e = { 0 };
	struct stat st;
	struct buf b;
	ssize_t n;
	int fd, rc = 0;

	if ((fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		(*bad_r)++;
		return 0;
	}
	buf_init(&b, ARCHIVE_FILE_MAX);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (size_t)st.st_size > ARCHIVE_FILE_MAX || buf_reserve(&b, (size_t)st.st_size) < 0 ||
	    (n = read(fd, b.data, (size_t)st.st_size)) != st.st_size) {
		close(fd);
		buf_free(&b);
		(*bad_r)++;
		return 0;
	}
	close(fd);
	b.len = (size_t)n;
	if (mg_report_unpack(b.data, b.len, NULL, &blobs, &e) < 0 || blobs.n != 1)
		(*bad_r)++;
	else
		rc = fn(arg, domain, blobs.v[0].data, blobs.v[0].len, (long long)st.st_mtime);
	mg_report_blobs_free(&blobs);
	buf_free(&b);
	return rc;
}

static int
suffix_ok(const char *name)
{
	size_t n = strlen(name);

	return n == 39 && strcmp(name + 32, ".xml.gz") == 0;
}

/* One archived file: its directory, the domain (the directory's name) and its name. */
typedef int walk_fn(void *arg, int dfd, const char *domain, const char *name);

/* Calls fn for every archived file of domain (NULL: of every domain), stopping at fn's first
 * -1. Returns the number of files fn took (0 or 1 each), or -1 (errno as opendir left it when
 * the archive directory could not be opened). */
static long long
walk(struct mg_rarchive *a, const char *domain, walk_fn *fn, void *arg)
{
	DIR *top, *dd;
	struct dirent *de, *fe;
	long long n = 0;
	int r = 0;

	if ((top = opendir(a->dir)) == NULL)
		return -1;
	while (r >= 0 && (de = readdir(top)) != NULL) {
		int dfd;

		if (!domain_ok(de->d_name) || (domain != NULL && strcmp(domain, de->d_name) != 0))
			continue;
		if ((dfd = openat(dirfd(top), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
		    O_NOFOLLOW)) < 0 || (dd = fdopendir(dfd)) == NULL) {
			if (dfd >= 0)
				close(dfd);
			continue;
		}
		while (r >= 0 && (fe = readdir(dd)) != NULL)
			if (suffix_ok(fe->d_name) &&
			    (r = fn(arg, dirfd(dd), de->d_name, fe->d_name)) > 0)
				n++;
		closedir(dd);
	}
	closedir(top);
	return r < 0 ? -1 : n;
}

struct scan_ctx {
	mg_rarchive_fn *fn;
	void *arg;
	size_t *bad_r;
};

static int
scan_one(void *arg, int dfd, const char *domain, const char *name)
{
	struct scan_ctx *c = arg;

	return scan_file(dfd, name, domain, c->fn, c->arg, c->bad_r) < 0 ? -1 : 1;
}

long long
mg_rarchive_scan(struct mg_rarchive *a, const char *domain, mg_rarchive_fn *fn, void *arg,
    size_t *bad_r)
{
	struct scan_ctx c = { fn, arg, bad_r };

	*bad_r = 0;
	return walk(a, domain, scan_one, &c);
}

struct expire_ctx {
	long long cutoff;
	size_t *removed_r;
};

static int
expire_one(void *arg, int dfd, const char *domain, const char *name)
{
	struct expire_ctx *c = arg;
	struct stat st;

	(void)domain;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (long long)st.st_mtime < c->cutoff && unlinkat(dfd, name, 0) == 0 &&
	    c->removed_r != NULL)
		(*c->removed_r)++;
	return 0;
}

int
mg_rarchive_expire(struct mg_rarchive *a, long long now, long long retention, size_t *removed_r)
{
	struct expire_ctx c = { now - retention, removed_r };

	if (walk(a, NULL, expire_one, &c) < 0)
		return errno == ENOENT ? 0 : -1;
	return 0;
}
