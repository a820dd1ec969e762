#ifndef LIB_STRNUM_H
#define LIB_STRNUM_H
#include <stddef.h>
#include <stdint.h>
#include "lib/buf.h"

/* Safe number parsing: the whole input must be a number within [min, max]; no sign unless min < 0,
 * no leading or trailing junk or spaces. Return 0 and set *out_r, or -1 with *error_r set to a
 * static description ("not a number", "too small", "too large"). */
int strnum_ll(const char *s, long long min, long long max, long long *out_r, const char **error_r);
int strnum_slice_ull(struct slice s, unsigned long long max, unsigned long long *out_r,
    const char **error_r);
/* Decimal with optional fraction, e.g. "5", "-2.5", "10.25". */
int strnum_double(const char *s, double min, double max, double *out_r, const char **error_r);
/* Durations: a number with unit s, m, h, d or w ("90s", "5m", "5d"); a bare number is seconds. */
int strnum_duration(const char *s, long long min, long long max, long long *seconds_r,
    const char **error_r);
/* Sizes: a number with optional k, m or g suffix (binary multiples): "10m" = 10485760. */
int strnum_size(const char *s, long long min, long long max, long long *bytes_r,
    const char **error_r);

#endif
