#ifndef QUEUE_STATEFILE_H
#define QUEUE_STATEFILE_H
/* Small line-oriented text files the queue keeps in state_dir (outbound rate buckets, TLS-RPT
 * aggregates): a first line "MAGIC VERSION", then records of space-separated fields, each field
 * percent-encoded (bytes <= 0x20, '%' and >= 0x7f as %XX) so that any string round-trips.
 * Pure helpers, no I/O; any thread. The files are read back at start and treated as untrusted:
 * every reader bounds lines, fields and sizes. */
#include <stddef.h>

#include "lib/buf.h"

#define STATEFILE_LINE_MAX 16384	/* octets per line, LF excluded */
#define STATEFILE_FIELDS_MAX 16		/* fields per line */
#define STATEFILE_FIELD_MAX 2048	/* decoded octets per field */

struct statefile_line {
	size_t n;
	char field[STATEFILE_FIELDS_MAX][STATEFILE_FIELD_MAX + 1];	/* decoded, NUL-terminated */
	size_t len[STATEFILE_FIELDS_MAX];
};

/* Appends s percent-encoded ("-" stands for the empty string, and '-' alone is encoded). */
int statefile_put(struct buf *out, const char *s);

/* Reads the next line of text at *pos: splits and decodes its fields into *line. Returns 1 with
 * a line, 0 at the end of text, -1 with *error_r on a line that is too long, lacks its final LF,
 * has too many or empty fields, a bad %XX escape or a field decoding to a NUL or over
 * STATEFILE_FIELD_MAX. */
int statefile_next(struct slice text, size_t *pos, struct statefile_line *line,
    const char **error_r);

/* Checks the first line: "magic version". 0, or -1 with *error_r (unknown magic or version). */
int statefile_header(struct slice text, size_t *pos, const char *magic, long version,
    const char **error_r);

/* Field i as a non-negative integer no greater than max, or a finite double in [min, max]. 0 or
 * -1 with *error_r. */
int statefile_ll(const struct statefile_line *l, size_t i, long long max, long long *out_r,
    const char **error_r);
int statefile_double(const struct statefile_line *l, size_t i, double min, double max,
    double *out_r, const char **error_r);

#endif
