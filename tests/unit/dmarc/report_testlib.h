/* report_testlib.h: helpers for the DMARC report ingestion tests (test_report_*.c, the bench
 * tool): the corpora root, whole-file reads, gzip and zip writers, and running a function in a
 * child that reports its peak memory growth and time. Test code only: header-only, static. */
#ifndef TEST_REPORT_TESTLIB_H
#define TEST_REPORT_TESTLIB_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zip.h>
#include <zlib.h>

#include "lib/buf.h"
#include "lib/xalloc.h"

/* $MG_CORPORA, else shared/corpora beside the checkout, else the workplace's copy. */
static const char *__attribute__((unused))
rt_corpora(void)
{
	const char *d = getenv("MG_CORPORA");

	if (d != NULL)
		return d;
	return access("../shared/corpora/dmarc-reports", R_OK) == 0 ? "../shared/corpora" :
	    "/work/shared/corpora";
}

/* Reads a file (path relative to the corpora root when rel) into a NUL-terminated
 * allocation; NULL if unreadable. */
static char *__attribute__((unused))
rt_read(const char *path, int rel, size_t *len_r)
{
	char full[2048];
	struct buf b;
	char tmp[65536];
	size_t n;
	FILE *fp;

	snprintf(full, sizeof(full), "%s%s%s", rel ? rt_corpora() : "", rel ? "/" : "", path);
	if ((fp = fopen(full, "rb")) == NULL)
		return NULL;
	buf_init(&b, (size_t)1 << 30);
	while ((n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
		(void)buf_append(&b, tmp, n);
	fclose(fp);
	*len_r = b.len;
	return b.data != NULL ? buf_steal(&b) : xstrdup("");
}

/* gzip of `reps` copies of p (len octets each) into out (level 9). */
static void __attribute__((unused))
rt_gzip(const void *p, size_t len, size_t reps, struct buf *out)
{
	z_stream z;
	unsigned char o[65536];

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	for (size_t r = 0; r <= reps; r++) {
		z.next_in = (unsigned char *)(uintptr_t)p;
		z.avail_in = r < reps ? (uInt)len : 0;
		do {
			z.next_out = o;
			z.avail_out = sizeof(o);
			(void)deflate(&z, r < reps ? Z_NO_FLUSH : Z_FINISH);
			(void)buf_append(out, o, sizeof(o) - z.avail_out);
		} while (z.avail_out == 0);
	}
	deflateEnd(&z);
}

/* A zip file (written with libzip to a temp file, read back) holding n entries: names[i]
 * with datas[i] of lens[i] octets. Returns 0 or -1. */
static int __attribute__((unused))
rt_zip(size_t n, const char *const *names, const void *const *datas, const size_t *lens,
    struct buf *out)
{
	char path[] = "/tmp/mg-test-report-zip-XXXXXX";
	int fd = mkstemp(path), zerr;
	zip_t *za;
	char *data;
	size_t len;

	if (fd < 0)
		return -1;
	close(fd);
	if ((za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr)) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		zip_source_t *s = zip_source_buffer(za, datas[i], lens[i], 0);

		if (s == NULL || zip_file_add(za, names[i], s, ZIP_FL_ENC_UTF_8) < 0)
			return -1;
	}
	if (zip_close(za) < 0)
		return -1;
	data = rt_read(path, 0, &len);
	unlink(path);
	if (data == NULL)
		return -1;
	(void)buf_append(out, data, len);
	xfree(data);
	return 0;
}

/* Runs fn in a child; *kb_r gets the child's peak RSS growth over its start (KiB), *ms_r the
 * wall time, and the return value is fn's result (an int 0..255), or -1 if the child died. */
static int __attribute__((unused))
rt_bounded(int (*fn)(void *), void *arg, long *kb_r, long *ms_r)
{
	int fds[2], st;
	long res[3] = { -1, 0, 0 };
	pid_t pid;

	fflush(stdout);
	if (pipe(fds) < 0)
		return -1;
	if ((pid = fork()) == 0) {
		struct rusage a, b;
		struct timespec t0, t1;
		long out[3];

		close(fds[0]);
		getrusage(RUSAGE_SELF, &a);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		out[0] = fn(arg);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		getrusage(RUSAGE_SELF, &b);
		out[1] = b.ru_maxrss - a.ru_maxrss;
		out[2] = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (write(fds[1], out, sizeof(out)) != (ssize_t)sizeof(out))
			_exit(2);
		_exit(0);
	}
	close(fds[1]);
	if (pid < 0 || read(fds[0], res, sizeof(res)) != (ssize_t)sizeof(res))
		res[0] = -1;
	close(fds[0]);
	if (pid > 0)
		waitpid(pid, &st, 0);
	*kb_r = res[1];
	*ms_r = res[2];
	return (int)res[0];
}

#endif
