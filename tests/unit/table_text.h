#ifndef TESTS_UNIT_TABLE_TEXT_H
#define TESTS_UNIT_TABLE_TEXT_H
/* Text helpers shared by the table-driven DNS lookups of the unit tests and tools
 * (tests/unit/filter/test_spf_table.h, tests/unit/dmarc/dmarc_table.h): owner names without the
 * final dot, and record data with "\\\\" and "\\xHH" escapes. */
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

static void __attribute__((unused))
table_text_norm(char *dst, size_t size, const char *name, size_t len)
{
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len >= size)
		len = size - 1;
	memcpy(dst, name, len);
	dst[len] = '\0';
}

static char * __attribute__((unused))
table_text_unescape(const char *s, size_t *len_r)
{
	char *out = xmalloc(strlen(s) + 1);
	size_t o = 0;

	for (size_t i = 0; s[i] != '\0'; i++) {
		if (s[i] == '\\' && s[i + 1] == '\\') {
			out[o++] = '\\';
			i++;
		} else if (s[i] == '\\' && s[i + 1] == 'x' && s[i + 2] && s[i + 3]) {
			char hex[3] = { s[i + 2], s[i + 3], '\0' };

			out[o++] = (char)strtol(hex, NULL, 16);
			i += 3;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	*len_r = o;
	return out;
}

#endif
