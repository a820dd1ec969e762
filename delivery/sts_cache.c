/* sts_cache.c: the MTA-STS policy cache on disk (RFC 8461 §5.1: a sender keeps a policy for
 * its max_age, and a restart must not open the window an attacker who blocks the policy fetch
 * would use to strip TLS). state_dir/mta-sts.cache holds one line per cached policy:
 *     policy DOMAIN ID EXPIRES HEX
 * (EXPIRES in unix seconds, HEX = the policy in its canonical text form, hex encoded), after
 * "# ..." comments and a "version 1" line. Lines are parsed with the same bounded policy parser
 * as fetched policies (mta_sts.c); anything malformed or expired is skipped. Pure functions; the
 * file I/O is in sts.c. Fuzzed by tests/fuzz/fuzz_mta_sts.c. */
#include "delivery/sts_cache.h"

#include <stdio.h>
#include <string.h>

#include "lib/str.h"
#include "lib/strnum.h"

#define FORMAT_MAX (STS_MX_MAX * 262 + 128)

void
sts_cache_format_line(struct buf *out, const char *domain, const char *id, long long expires,
    const struct sts_policy *pol)
{
	char text[FORMAT_MAX];

	sts_policy_format(pol, text, sizeof(text));
	buf_printf(out, "policy %s %s %lld ", domain, id, expires);
	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		buf_printf(out, "%02x", *p);
	buf_append(out, "\n", 1);
}

/* The next blank-separated field of *s (advanced past it); an empty slice at the end. */
static struct slice
next_field(struct slice *s)
{
	struct slice f;
	size_t i = 0;

	while (i < s->len && s->p[i] == ' ')
		i++;
	f.p = s->p + i;
	f.len = 0;
	while (i + f.len < s->len && s->p[i + f.len] != ' ')
		f.len++;
	s->p += i + f.len;
	s->len -= i + f.len;
	return f;
}

static int
copy_field(struct slice f, char *dst, size_t size)
{
	if (f.len == 0 || f.len >= size || memchr(f.p, '\0', f.len) != NULL)
		return -1;
	memcpy(dst, f.p, f.len);
	dst[f.len] = '\0';
	return 0;
}

static int
is_domain(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		    *s == '.'))
			return 0;
	return 1;
}

static int
is_id(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
			return 0;
	return 1;
}

int
sts_cache_parse_line(struct slice line, struct sts_cache_entry *e, const char **error_r)
{
	struct slice f, rest = line;
	char num[24], text[FORMAT_MAX];
	size_t n = 0;

	f = next_field(&rest);
	if (f.len != 6 || memcmp(f.p, "policy", 6) != 0) {
		*error_r = "not a policy line";
		return -1;
	}
	if (copy_field(next_field(&rest), e->domain, sizeof(e->domain)) < 0 ||
	    !is_domain(e->domain)) {
		*error_r = "bad domain";
		return -1;
	}
	if (copy_field(next_field(&rest), e->id, sizeof(e->id)) < 0 || !is_id(e->id)) {
		*error_r = "bad policy id";
		return -1;
	}
	if (copy_field(next_field(&rest), num, sizeof(num)) < 0 ||
	    strnum_ll(num, 0, 1LL << 40, &e->expires, error_r) < 0) {
		*error_r = "bad expiry time";
		return -1;
	}
	f = next_field(&rest);
	if (f.len == 0 || f.len % 2 != 0 || f.len / 2 >= sizeof(text) || next_field(&rest).len) {
		*error_r = "bad policy text";
		return -1;
	}
	for (size_t i = 0; i < f.len; i += 2) {
		int hi = str_hex_digit((unsigned char)f.p[i]), lo = str_hex_digit((unsigned char)f.p[i + 1]);

		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			*error_r = "bad policy text";
			return -1;
		}
		text[n++] = (char)(hi << 4 | lo);
	}
	return sts_policy_parse((struct slice){ text, n }, &e->pol, error_r);
}
