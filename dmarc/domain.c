/* Canonical DNS domains for DMARC (dmarc.h mg_dmarc_domain_canon): lowercase, A-labels, no final
 * dot, so that alignment (RFC 7489 §3.1) compares octets and policy discovery queries the name
 * the domain owner published. Runs on filter pool threads and in tools; pure, no allocation.
 * Input is untrusted (From header domains, DKIM d=, SPF domains): every label is checked, UTF-8
 * is decoded strictly (no overlong forms, no surrogates), U-labels are punycoded (RFC 3492) with
 * overflow checks. Limits: 63 octets per label, MG_DMARC_DOMAIN_MAX in all (RFC 1035 §2.3.4). */
#include <stdint.h>
#include <string.h>

#include "dmarc/dmarc.h"

#define PUNY_BASE 36
#define PUNY_TMIN 1
#define PUNY_TMAX 26
#define PUNY_SKEW 38
#define PUNY_DAMP 700
#define PUNY_INITIAL_BIAS 72
#define PUNY_INITIAL_N 0x80
#define LABEL_CP_MAX 63		/* code points of one U-label (its A-label is longer) */

/* Decodes one UTF-8 sequence at s[*i] (RFC 3629 §4). Returns 0 and advances *i, or -1. */
static int
utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *cp_r)
{
	unsigned char c = s[*i];
	size_t n;
	uint32_t cp, min;

	if (c < 0x80) {
		*cp_r = c;
		(*i)++;
		return 0;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 1;
		cp = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return -1;
	}
	if (len - *i <= n)
		return -1;
	for (size_t k = 1; k <= n; k++) {
		unsigned char cc = s[*i + k];

		if ((cc & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (cc & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*cp_r = cp;
	*i += n + 1;
	return 0;
}

static int
puny_adapt(uint32_t delta, uint32_t numpoints, int first)
{
	uint32_t k = 0;

	delta = first ? delta / PUNY_DAMP : delta / 2;
	delta += delta / numpoints;
	while (delta > ((PUNY_BASE - PUNY_TMIN) * PUNY_TMAX) / 2) {
		delta /= PUNY_BASE - PUNY_TMIN;
		k += PUNY_BASE;
	}
	return (int)(k + (((PUNY_BASE - PUNY_TMIN + 1) * delta) / (delta + PUNY_SKEW)));
}

static char
puny_digit(uint32_t d)
{
	return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

/* RFC 3492 §6.3 encoding of cp[0..n) appended to out at *o (limit: a 63-octet label). */
static int
puny_encode(const uint32_t *cp, size_t n, char *out, size_t *o, size_t lim)
{
	uint32_t next = PUNY_INITIAL_N, delta = 0, h, b = 0;
	int bias = PUNY_INITIAL_BIAS;

	for (size_t j = 0; j < n; j++) {
		if (cp[j] < 0x80) {
			if (*o >= lim)
				return -1;
			out[(*o)++] = (char)cp[j];
			b++;
		}
	}
	if (b > 0) {
		if (*o >= lim)
			return -1;
		out[(*o)++] = '-';
	}
	for (h = b; h < n;) {
		uint32_t m = UINT32_MAX;

		for (size_t j = 0; j < n; j++)
			if (cp[j] >= next && cp[j] < m)
				m = cp[j];
		if ((m - next) > (UINT32_MAX - delta) / (h + 1))
			return -1;
		delta += (m - next) * (h + 1);
		next = m;
		for (size_t j = 0; j < n; j++) {
			if (cp[j] < next && ++delta == 0)
				return -1;
			if (cp[j] != next)
				continue;
			uint32_t q = delta;
			for (uint32_t k = PUNY_BASE;; k += PUNY_BASE) {
				uint32_t t = k <= (uint32_t)bias ? PUNY_TMIN :
				    k >= (uint32_t)bias + PUNY_TMAX ? PUNY_TMAX : k - (uint32_t)bias;

				if (q < t)
					break;
				if (*o >= lim)
					return -1;
				out[(*o)++] = puny_digit(t + (q - t) % (PUNY_BASE - t));
				q = (q - t) / (PUNY_BASE - t);
			}
			if (*o >= lim)
				return -1;
			out[(*o)++] = puny_digit(q);
			bias = puny_adapt(delta, h + 1, h == b);
			delta = 0;
			h++;
		}
		delta++;
		next++;
	}
	return 0;
}

static int
is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* One label s[0..len) (no dot) appended to out at *o. */
static int
canon_label(const unsigned char *s, size_t len, char *out, size_t *o, size_t outsize,
    const char **error_r)
{
	uint32_t cp[LABEL_CP_MAX];
	size_t n = 0, start = *o, lim = outsize - 1;
	int ascii = 1;

	for (size_t i = 0; i < len; i++)
		if (s[i] >= 0x80)
			ascii = 0;
	if (ascii) {
		for (size_t i = 0; i < len; i++) {
			unsigned char c = s[i];

			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c - 'A' + 'a');
			if (!is_ldh(c)) {
				*error_r = "invalid character in domain";
				return -1;
			}
			if (*o >= lim) {
				*error_r = "domain too long";
				return -1;
			}
			out[(*o)++] = (char)c;
		}
	} else {
		for (size_t i = 0; i < len;) {
			if (n == LABEL_CP_MAX) {
				*error_r = "label too long";
				return -1;
			}
			if (utf8_next(s, len, &i, &cp[n]) < 0) {
				*error_r = "invalid UTF-8 in domain";
				return -1;
			}
			if (cp[n] >= 'A' && cp[n] <= 'Z')
				cp[n] += 'a' - 'A';
			if (cp[n] < 0x80 && !is_ldh((unsigned char)cp[n])) {
				*error_r = "invalid character in domain";
				return -1;
			}
			n++;
		}
		if (*o + 4 > lim) {
			*error_r = "domain too long";
			return -1;
		}
		memcpy(out + *o, "xn--", 4);
		*o += 4;
		if (puny_encode(cp, n, out, o, lim) < 0) {
			*error_r = "domain too long";
			return -1;
		}
	}
	if (*o - start > MG_DMARC_LABEL_MAX) {
		*error_r = "label too long";
		return -1;
	}
	return 0;
}

int
mg_dmarc_domain_canon(const char *in, size_t len, char *out, size_t outsize, const char **error_r)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0, start = 0;

	if (outsize == 0 || in == NULL) {
		*error_r = "no domain";
		return -1;
	}
	out[0] = '\0';
	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0) {
		*error_r = "empty domain";
		return -1;
	}
	/* A U-label takes at most 4 octets per code point; anything longer cannot fit 253. */
	if (len > 4 * MG_DMARC_DOMAIN_MAX) {
		*error_r = "domain too long";
		return -1;
	}
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (i == start) {
			*error_r = "empty label in domain";
			goto fail;
		}
		if (o > 0) {
			if (o + 1 >= outsize) {
				*error_r = "domain too long";
				goto fail;
			}
			out[o++] = '.';
		}
		if (canon_label(s + start, i - start, out, &o, outsize, error_r) < 0)
			goto fail;
		start = i + 1;
	}
	if (o > MG_DMARC_DOMAIN_MAX) {
		*error_r = "domain too long";
		goto fail;
	}
	out[o] = '\0';
	return 0;
fail:
	out[0] = '\0';
	return -1;
}
