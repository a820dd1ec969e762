#ifndef LIB_STR_H
#define LIB_STR_H
#include <stddef.h>

/* Copies src into dst (size dstsize), always NUL-terminating when dstsize > 0.
 * Returns strlen(src); truncation happened when the result >= dstsize (BSD strlcpy contract;
 * glibc 2.36 lacks it). */
size_t str_lcpy(char *dst, const char *src, size_t dstsize);
/* snprintf that returns 0 on success and -1 when the output was truncated or failed. */
int str_fmt(char *dst, size_t dstsize, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* ASCII-only lower-casing in place (hostnames, domains); returns s. */
char *str_lower(char *s);
/* Constant-time comparison of two byte strings of equal length n: 0 when equal. */
int str_ct_equal(const void *a, const void *b, size_t n);
/* Splits s in place on any of the characters in seps, skipping empty fields; stores up to max
 * pointers into fields_r and returns the count (fields beyond max are dropped and -1 returned). */
int str_split(char *s, const char *seps, char **fields_r, int max);
/* Value of a hexadecimal digit (either case), -1 for any other octet. */
int str_hex_digit(unsigned char c);
/* Value of a base64 alphabet character (RFC 4648 §4: A-Z a-z 0-9 + /), -1 for any other octet
 * ('=' included: padding is the caller's business, as are whitespace and strictness). */
int str_base64_digit(unsigned char c);

#endif
