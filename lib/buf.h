#ifndef LIB_BUF_H
#define LIB_BUF_H
#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

/* A capped, growable, binary-safe byte buffer, always NUL-terminated after len bytes.
 * HAZARD: any append may move data; never keep a pointer into data across an append.
 * An append that would make len exceed max fails with -1 and leaves the buffer unchanged. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

/* A non-owning view of bytes. Parsers read slices and never write into them. */
struct slice {
	const char *p;
	size_t len;
};

#define SLICE_LIT(s) ((struct slice){ (s), sizeof(s) - 1 })

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
/* Sets len to 0 and keeps the allocation. */
void buf_reset(struct buf *b);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_append_char(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Removes the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Ensures room for n more bytes without exceeding max; returns -1 if it would. */
int buf_reserve(struct buf *b, size_t n);
/* Detaches the data (caller frees with xfree) and re-initialises the buffer empty. */
char *buf_steal(struct buf *b);
struct slice buf_slice(const struct buf *b);

struct slice slice_from_str(const char *s);
int slice_eq_ci(struct slice a, const char *s);
int slice_has_prefix_ci(struct slice a, const char *prefix);
/* Drops leading and trailing spaces and tabs. */
struct slice slice_trim(struct slice s);
/* Copies into a new NUL-terminated allocation. */
char *slice_dup(struct slice s);

#endif
