/* sanitize.c: makes peer-supplied text safe and bounded for log lines (STYLE.md §7).
 * Library code, any role and thread. Input is fully untrusted; output is capped. */
#include "lib/sanitize.h"

char *
sanitize(char *dst, const void *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = src;
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
			if (o + 1 > SANITIZE_MAX)
				goto cut;
			dst[o++] = (char)c;
		} else {
			if (o + 4 > SANITIZE_MAX)
				goto cut;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
	return dst;
cut:
	dst[o++] = '.';
	dst[o++] = '.';
	dst[o++] = '.';
	dst[o] = '\0';
	return dst;
}
