/* test_strnum.c: unit tests for lib/strnum.c.
 * Every error class ("not a number", "too small", "too large"), range boundaries, overflow,
 * junk, signs and spaces, for integers, slices, decimals, durations and sizes. A failed parse
 * must leave the output untouched. */
#include <fcntl.h>
#include <limits.h>

#include "unit.h"

#include "lib/strnum.h"

#define NAN_ "not a number"
#define SMALL "too small"
#define LARGE "too large"
#define SENTINEL 0x5a5a5a5aLL

static const struct {
	const char *name;
	const char *in;
	long long min, max;
	int want_rc;
	long long want;	      /* value when want_rc == 0 */
	const char *want_err; /* error when want_rc == -1 */
} ll_cases[] = {
	{ "zero", "0", 0, 10, 0, 0, NULL },
	{ "plain", "42", 0, 100, 0, 42, NULL },
	{ "at_min", "5", 5, 10, 0, 5, NULL },
	{ "at_max", "10", 5, 10, 0, 10, NULL },
	{ "below_min", "4", 5, 10, -1, 0, SMALL },
	{ "above_max", "11", 5, 10, -1, 0, LARGE },
	{ "negative_allowed", "-7", -10, 10, 0, -7, NULL },
	{ "negative_below_min", "-11", -10, 10, -1, 0, SMALL },
	{ "minus_zero", "-0", -1, 1, 0, 0, NULL },
	{ "neg_with_min_zero", "-1", 0, 10, -1, 0, NAN_ },
	{ "neg_zero_with_min_zero", "-0", 0, 10, -1, 0, NAN_ },
	{ "plus_sign", "+5", 0, 10, -1, 0, NAN_ },
	{ "plus_sign_signed", "+5", -10, 10, -1, 0, NAN_ },
	{ "empty", "", 0, 10, -1, 0, NAN_ },
	{ "leading_space", " 5", 0, 10, -1, 0, NAN_ },
	{ "leading_tab", "\t5", 0, 10, -1, 0, NAN_ },
	{ "trailing_space", "5 ", 0, 10, -1, 0, NAN_ },
	{ "trailing_newline", "5\n", 0, 10, -1, 0, NAN_ },
	{ "trailing_junk", "5x", 0, 10, -1, 0, NAN_ },
	{ "leading_junk", "x5", 0, 10, -1, 0, NAN_ },
	{ "hex_prefix", "0x10", 0, 100, -1, 0, NAN_ },
	{ "decimal_point", "1.5", 0, 10, -1, 0, NAN_ },
	{ "exponent", "1e3", 0, 10000, -1, 0, NAN_ },
	{ "sign_only", "-", -10, 10, -1, 0, NAN_ },
	{ "space_after_sign", "- 5", -10, 10, -1, 0, NAN_ },
	{ "double_sign", "--5", -10, 10, -1, 0, NAN_ },
	{ "leading_zeros", "007", 0, 10, 0, 7, NULL },
	{ "llong_max", "9223372036854775807", 0, LLONG_MAX, 0, LLONG_MAX, NULL },
	{ "llong_max_plus_1", "9223372036854775808", 0, LLONG_MAX, -1, 0, LARGE },
	{ "overflow", "99999999999999999999", 0, LLONG_MAX, -1, 0, LARGE },
	{ "llong_min", "-9223372036854775808", LLONG_MIN, 0, 0, LLONG_MIN, NULL },
	{ "llong_min_minus_1", "-9223372036854775809", LLONG_MIN, 0, -1, 0, SMALL },
	{ "underflow", "-99999999999999999999", LLONG_MIN, LLONG_MAX, -1, 0, SMALL },
	{ "overflow_small_max", "99999999999999999999", 0, 10, -1, 0, LARGE },
};

static void
test_ll(void)
{
	for (size_t i = 0; i < sizeof(ll_cases) / sizeof(ll_cases[0]); i++) {
		long long v = SENTINEL;
		const char *err = NULL;
		int rc = strnum_ll(ll_cases[i].in, ll_cases[i].min, ll_cases[i].max, &v, &err);

		CHECK(rc == ll_cases[i].want_rc, "%s: \"%s\" rc got %d, want %d", ll_cases[i].name,
		    ll_cases[i].in, rc, ll_cases[i].want_rc);
		if (ll_cases[i].want_rc == 0) {
			CHECK(v == ll_cases[i].want, "%s: got %lld, want %lld", ll_cases[i].name, v,
			    ll_cases[i].want);
		} else {
			CHECK(v == SENTINEL, "%s: output written on error (%lld)", ll_cases[i].name,
			    v);
			CHECK(err != NULL && strcmp(err, ll_cases[i].want_err) == 0,
			    "%s: error got \"%s\", want \"%s\"", ll_cases[i].name,
			    err ? err : "(null)", ll_cases[i].want_err);
		}
	}
}

static const struct {
	const char *name;
	const char *p;
	size_t len;
	unsigned long long max;
	int want_rc;
	unsigned long long want;
	const char *want_err;
} ull_cases[] = {
	{ "zero", "0", 1, 10, 0, 0, NULL },
	{ "plain", "1234", 4, 100000, 0, 1234, NULL },
	{ "stops_at_len", "12345", 3, 100000, 0, 123, NULL },
	{ "at_max", "100", 3, 100, 0, 100, NULL },
	{ "above_max", "101", 3, 100, -1, 0, LARGE },
	{ "digit_above_max", "7", 1, 5, -1, 0, LARGE },
	{ "two_digits_small_max", "17", 2, 5, -1, 0, LARGE },
	{ "max_zero", "0", 1, 0, 0, 0, NULL },
	{ "max_zero_one", "1", 1, 0, -1, 0, LARGE },
	{ "empty", "", 0, 10, -1, 0, NAN_ },
	{ "sign", "-1", 2, 10, -1, 0, NAN_ },
	{ "plus", "+1", 2, 10, -1, 0, NAN_ },
	{ "junk", "5x", 2, 10, -1, 0, NAN_ },
	{ "space", " 5", 2, 10, -1, 0, NAN_ },
	{ "embedded_nul", "1\0002", 3, 1000, -1, 0, NAN_ },
	{ "ullong_max", "18446744073709551615", 20, ULLONG_MAX, 0, ULLONG_MAX, NULL },
	{ "ullong_max_plus_1", "18446744073709551616", 20, ULLONG_MAX, -1, 0, LARGE },
	{ "overflow", "99999999999999999999", 20, ULLONG_MAX, -1, 0, LARGE },
	{ "very_long", "999999999999999999999999", 24, ULLONG_MAX, -1, 0, LARGE },
	{ "long_junk", "abcdefghijklmnopqrstuvwxyz", 26, ULLONG_MAX, -1, 0, NAN_ },
	{ "long_leading_zeros", "0000000000000000000000042", 25, 100, 0, 42, NULL },
};

static void
test_slice_ull(void)
{
	for (size_t i = 0; i < sizeof(ull_cases) / sizeof(ull_cases[0]); i++) {
		struct slice s = { ull_cases[i].p, ull_cases[i].len };
		unsigned long long v = SENTINEL;
		const char *err = NULL;
		int rc = strnum_slice_ull(s, ull_cases[i].max, &v, &err);

		CHECK(rc == ull_cases[i].want_rc, "%s: rc got %d, want %d", ull_cases[i].name, rc,
		    ull_cases[i].want_rc);
		if (ull_cases[i].want_rc == 0) {
			CHECK(v == ull_cases[i].want, "%s: got %llu, want %llu", ull_cases[i].name,
			    v, ull_cases[i].want);
		} else {
			CHECK(v == SENTINEL, "%s: output written on error", ull_cases[i].name);
			CHECK(err != NULL && strcmp(err, ull_cases[i].want_err) == 0,
			    "%s: error got \"%s\", want \"%s\"", ull_cases[i].name,
			    err ? err : "(null)", ull_cases[i].want_err);
		}
	}
}

static const struct {
	const char *name;
	const char *in;
	double min, max;
	int want_rc;
	double want;
	const char *want_err;
} dbl_cases[] = {
	{ "integer", "5", 0, 10, 0, 5.0, NULL },
	{ "fraction", "10.25", 0, 100, 0, 10.25, NULL },
	{ "negative", "-2.5", -10, 10, 0, -2.5, NULL },
	{ "trailing_point", "5.", 0, 10, 0, 5.0, NULL },
	{ "at_min", "-10", -10, 10, 0, -10.0, NULL },
	{ "at_max", "10.0", -10, 10, 0, 10.0, NULL },
	{ "below_min", "-10.5", -10, 10, -1, 0, SMALL },
	{ "above_max", "10.01", -10, 10, -1, 0, LARGE },
	{ "negative_min_zero", "-1", 0, 10, -1, 0, SMALL },
	{ "empty", "", 0, 10, -1, 0, NAN_ },
	{ "leading_point", ".5", 0, 10, -1, 0, NAN_ },
	{ "plus", "+1", 0, 10, -1, 0, NAN_ },
	{ "leading_space", " 1", 0, 10, -1, 0, NAN_ },
	{ "trailing_space", "1 ", 0, 10, -1, 0, NAN_ },
	{ "two_points", "1.2.3", 0, 10, -1, 0, NAN_ },
	{ "exponent", "1e3", 0, 1e9, -1, 0, NAN_ },
	{ "hex", "0x1p3", 0, 1e9, -1, 0, NAN_ },
	{ "inf", "inf", 0, 1e9, -1, 0, NAN_ },
	{ "nan", "nan", 0, 1e9, -1, 0, NAN_ },
	{ "sign_only", "-", -10, 10, -1, 0, NAN_ },
	{ "junk", "5x", 0, 10, -1, 0, NAN_ },
	/* 400 digits: finite in the grammar, but beyond double; a range error, not junk. */
	{ "huge",
	    "1000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "00000000000000000000000000000000000000000000000000000000000000000000000",
	    0, 1e9, -1, 0, LARGE },
	{ "huge_negative",
	    "-100000000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "000000000000000000000000000000000000000000000000000000000000000000000000",
	    -1e9, 1e9, -1, 0, SMALL },
	/* Underflow to a tiny (or zero) value is a valid, in-range parse. */
	{ "tiny",
	    "0.00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "000000000000000000000000000000000000000000000000000000000000000000000001",
	    0, 1, 0, 0.0, NULL },
};

static void
test_double(void)
{
	for (size_t i = 0; i < sizeof(dbl_cases) / sizeof(dbl_cases[0]); i++) {
		double v = 12345.0;
		const char *err = NULL;
		int rc =
		    strnum_double(dbl_cases[i].in, dbl_cases[i].min, dbl_cases[i].max, &v, &err);

		CHECK(rc == dbl_cases[i].want_rc, "%s: rc got %d, want %d", dbl_cases[i].name, rc,
		    dbl_cases[i].want_rc);
		if (dbl_cases[i].want_rc == 0) {
			CHECK(v == dbl_cases[i].want, "%s: got %g, want %g", dbl_cases[i].name, v,
			    dbl_cases[i].want);
		} else {
			CHECK(v == 12345.0, "%s: output written on error", dbl_cases[i].name);
			CHECK(err != NULL && strcmp(err, dbl_cases[i].want_err) == 0,
			    "%s: error got \"%s\", want \"%s\"", dbl_cases[i].name,
			    err ? err : "(null)", dbl_cases[i].want_err);
		}
	}
}

static const struct {
	const char *name;
	const char *in;
	long long min, max;
	int want_rc;
	long long want;
	const char *want_err;
} dur_cases[] = {
	{ "zero", "0", 0, LLONG_MAX, 0, 0, NULL },
	{ "bare_seconds", "90", 0, LLONG_MAX, 0, 90, NULL },
	{ "seconds", "90s", 0, LLONG_MAX, 0, 90, NULL },
	{ "minutes", "5m", 0, LLONG_MAX, 0, 300, NULL },
	{ "hours", "2h", 0, LLONG_MAX, 0, 7200, NULL },
	{ "days", "5d", 0, LLONG_MAX, 0, 432000, NULL },
	{ "weeks", "1w", 0, LLONG_MAX, 0, 604800, NULL },
	{ "upper_unit", "5M", 0, LLONG_MAX, 0, 300, NULL },
	{ "zero_with_unit", "0d", 0, LLONG_MAX, 0, 0, NULL },
	{ "at_max", "1h", 0, 3600, 0, 3600, NULL },
	{ "over_max", "61m", 0, 3600, -1, 0, LARGE },
	{ "under_min", "59s", 60, 3600, -1, 0, SMALL },
	{ "at_min", "1m", 60, 3600, 0, 60, NULL },
	{ "unknown_unit", "5x", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "size_unit", "5k", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "two_units", "5mm", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "unit_only", "m", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "empty", "", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "negative", "-1", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "negative_unit", "-1m", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "leading_space", " 5m", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "space_before_unit", "5 m", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "trailing_space", "5m ", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "fraction", "1.5h", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "overflow_bare", "99999999999999999999", 0, LLONG_MAX, -1, 0, LARGE },
	{ "overflow_by_unit", "9223372036854775807w", 0, LLONG_MAX, -1, 0, LARGE },
	{ "largest_weeks", "15250284452471w", 0, LLONG_MAX, 0, 15250284452471LL * 604800, NULL },
	{ "one_past_largest_weeks", "15250284452472w", 0, LLONG_MAX, -1, 0, LARGE },
};

static void
test_duration(void)
{
	for (size_t i = 0; i < sizeof(dur_cases) / sizeof(dur_cases[0]); i++) {
		long long v = SENTINEL;
		const char *err = NULL;
		int rc =
		    strnum_duration(dur_cases[i].in, dur_cases[i].min, dur_cases[i].max, &v, &err);

		CHECK(rc == dur_cases[i].want_rc, "%s: \"%s\" rc got %d, want %d",
		    dur_cases[i].name, dur_cases[i].in, rc, dur_cases[i].want_rc);
		if (dur_cases[i].want_rc == 0) {
			CHECK(v == dur_cases[i].want, "%s: got %lld, want %lld", dur_cases[i].name,
			    v, dur_cases[i].want);
		} else {
			CHECK(v == SENTINEL, "%s: output written on error", dur_cases[i].name);
			CHECK(err != NULL && strcmp(err, dur_cases[i].want_err) == 0,
			    "%s: error got \"%s\", want \"%s\"", dur_cases[i].name,
			    err ? err : "(null)", dur_cases[i].want_err);
		}
	}
}

static const struct {
	const char *name;
	const char *in;
	long long min, max;
	int want_rc;
	long long want;
	const char *want_err;
} size_cases[] = {
	{ "bytes", "512", 0, LLONG_MAX, 0, 512, NULL },
	{ "zero", "0", 0, LLONG_MAX, 0, 0, NULL },
	{ "kilo", "4k", 0, LLONG_MAX, 0, 4096, NULL },
	{ "mega", "10m", 0, LLONG_MAX, 0, 10485760, NULL },
	{ "giga", "2g", 0, LLONG_MAX, 0, 2147483648LL, NULL },
	{ "upper", "10M", 0, LLONG_MAX, 0, 10485760, NULL },
	{ "at_max", "1m", 0, 1048576, 0, 1048576, NULL },
	{ "over_max", "1025k", 0, 1048576, -1, 0, LARGE },
	{ "under_min", "1023", 1024, LLONG_MAX, -1, 0, SMALL },
	{ "junk_unit", "5x", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "duration_unit", "5d", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "bytes_suffix", "5b", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "unit_only", "k", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "empty", "", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "negative", "-1", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "leading_space", " 5", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "fraction", "1.5m", 0, LLONG_MAX, -1, 0, NAN_ },
	{ "overflow_bare", "99999999999999999999", 0, LLONG_MAX, -1, 0, LARGE },
	{ "overflow_by_unit", "9999999999999999g", 0, LLONG_MAX, -1, 0, LARGE },
	{ "largest_giga", "8589934591g", 0, LLONG_MAX, 0, 8589934591LL << 30, NULL },
	{ "one_past_largest_giga", "8589934592g", 0, LLONG_MAX, -1, 0, LARGE },
};

static void
test_size(void)
{
	for (size_t i = 0; i < sizeof(size_cases) / sizeof(size_cases[0]); i++) {
		long long v = SENTINEL;
		const char *err = NULL;
		int rc =
		    strnum_size(size_cases[i].in, size_cases[i].min, size_cases[i].max, &v, &err);

		CHECK(rc == size_cases[i].want_rc, "%s: \"%s\" rc got %d, want %d",
		    size_cases[i].name, size_cases[i].in, rc, size_cases[i].want_rc);
		if (size_cases[i].want_rc == 0) {
			CHECK(v == size_cases[i].want, "%s: got %lld, want %lld",
			    size_cases[i].name, v, size_cases[i].want);
		} else {
			CHECK(v == SENTINEL, "%s: output written on error", size_cases[i].name);
			CHECK(err != NULL && strcmp(err, size_cases[i].want_err) == 0,
			    "%s: error got \"%s\", want \"%s\"", size_cases[i].name,
			    err ? err : "(null)", size_cases[i].want_err);
		}
	}
}

/* Inputs longer than any number are refused, whatever they contain. */
static void
test_scaled_long_input(void)
{
	long long v = SENTINEL;
	const char *err = NULL;
	char longnum[64];

	memset(longnum, '0', sizeof(longnum) - 2);
	longnum[sizeof(longnum) - 2] = '1';
	longnum[sizeof(longnum) - 1] = '\0';
	CHECK_INT(strnum_size(longnum, 0, LLONG_MAX, &v, &err), -1);
	CHECK_INT(v, SENTINEL);
	CHECK(err != NULL, "no error for a 63-byte input");
}

static const struct unit_case cases[] = {
	{ "ll", test_ll },
	{ "slice_ull", test_slice_ull },
	{ "double", test_double },
	{ "duration", test_duration },
	{ "size", test_size },
	{ "scaled_long_input", test_scaled_long_input },
};

UNIT_MAIN(cases)
