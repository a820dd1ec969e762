/* strnum.c: strict number, duration and size parsing for config files and protocol arguments.
 * Library code, any role and thread. Rejects empty input, junk, signs where not allowed, overflow. */
#include "lib/strnum.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int
strnum_ll(const char *s, long long min, long long max, long long *out_r, const char **error_r)
{
	char *end;
	long long v;

	if (*s == '\0' || isspace((unsigned char)*s) || (*s == '+') || (*s == '-' && min >= 0)) {
		*error_r = "not a number";
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || end == s) {
		*error_r = "not a number";
		return -1;
	}
	if ((errno == ERANGE && v == LLONG_MIN) || v < min) {
		*error_r = "too small";
		return -1;
	}
	if ((errno == ERANGE && v == LLONG_MAX) || v > max) {
		*error_r = "too large";
		return -1;
	}
	*out_r = v;
	return 0;
}

int
strnum_slice_ull(struct slice s, unsigned long long max, unsigned long long *out_r,
    const char **error_r)
{
	unsigned long long v = 0;

	if (s.len == 0) {
		*error_r = "not a number";
		return -1;
	}
	for (size_t i = 0; i < s.len; i++)
		if (s.p[i] < '0' || s.p[i] > '9') {
			*error_r = "not a number";
			return -1;
		}
	for (size_t i = 0; i < s.len; i++) {
		unsigned d = (unsigned)(s.p[i] - '0');

		/* d > max first: max - d would wrap. */
		if (d > max || v > (max - d) / 10) {
			*error_r = "too large";
			return -1;
		}
		v = v * 10 + d;
	}
	*out_r = v;
	return 0;
}

int
strnum_double(const char *s, double min, double max, double *out_r, const char **error_r)
{
	const char *p = s;
	char *end;
	double v;

	if (*p == '-')
		p++;
	if (!isdigit((unsigned char)*p)) {
		*error_r = "not a number";
		return -1;
	}
	for (; *p; p++)
		if (!isdigit((unsigned char)*p) && *p != '.') {
			*error_r = "not a number";
			return -1;
		}
	v = strtod(s, &end);
	if (*end != '\0') {
		*error_r = "not a number";
		return -1;
	}
	/* Overflow gives +-HUGE_VAL (a range error); underflow a tiny value that is in range. */
	if (v < min || (isinf(v) && v < 0)) {
		*error_r = "too small";
		return -1;
	}
	if (v > max || isinf(v)) {
		*error_r = "too large";
		return -1;
	}
	*out_r = v;
	return 0;
}

static int
strnum_scaled(const char *s, const char *units, const long long *mult, long long min,
    long long max, long long *out_r, const char **error_r)
{
	size_t n = strlen(s);
	char tmp[32];
	long long v, m = 1;
	const char *u;

	if (n == 0 || n >= sizeof(tmp)) {
		*error_r = n ? "too large" : "not a number";
		return -1;
	}
	memcpy(tmp, s, n + 1);
	if ((u = strchr(units, tolower((unsigned char)tmp[n - 1]))) != NULL && isalpha((unsigned char)tmp[n - 1])) {
		m = mult[u - units];
		tmp[--n] = '\0';
	}
	if (strnum_ll(tmp, 0, LLONG_MAX / m, &v, error_r) < 0)
		return -1;
	v *= m;
	if (v < min) {
		*error_r = "too small";
		return -1;
	}
	if (v > max) {
		*error_r = "too large";
		return -1;
	}
	*out_r = v;
	return 0;
}

int
strnum_duration(const char *s, long long min, long long max, long long *seconds_r,
    const char **error_r)
{
	static const long long mult[] = { 1, 60, 3600, 86400, 604800 };

	return strnum_scaled(s, "smhdw", mult, min, max, seconds_r, error_r);
}

int
strnum_size(const char *s, long long min, long long max, long long *bytes_r, const char **error_r)
{
	static const long long mult[] = { 1024LL, 1024LL * 1024, 1024LL * 1024 * 1024 };

	return strnum_scaled(s, "kmg", mult, min, max, bytes_r, error_r);
}
