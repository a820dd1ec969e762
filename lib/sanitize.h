#ifndef LIB_SANITIZE_H
#define LIB_SANITIZE_H
#include <stddef.h>

#define SANITIZE_MAX 256

/* Copies peer text for logging: printable ASCII kept, everything else (controls, 8-bit, quotes,
 * backslash) written as \xHH, output capped at SANITIZE_MAX bytes with "..." when cut.
 * dst must have room for SANITIZE_MAX + 4 bytes. Returns dst. Thread-safe. */
char *sanitize(char *dst, const void *src, size_t len);

#endif
