#ifndef LIB_XALLOC_H
#define LIB_XALLOC_H
#include <stddef.h>

/* Allocation wrappers: each aborts the process (with a log line) on out-of-memory, so callers never
 * check for NULL. Thread-safe. xfree(NULL) is a no-op. Every allocation in MailGuard goes through
 * these; do not mix in raw malloc/free (STYLE.md §5). */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
/* printf into a fresh allocation; aborts on OOM. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void xfree(void *p);
/* Overwrites n bytes with zeros in a way the compiler may not elide (secrets). */
void xwipe(void *p, size_t n);

#endif
