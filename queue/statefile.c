/* statefile.c: encoding and tokenising of the queue's small state files in state_dir (see
 * statefile.h). Pure; any thread. Input is untrusted (it is read back after restarts and may be
 * truncated or edited): lines, fields and decoded sizes are bounded, NULs refused. */
#include "queue/statefile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

static int
must_escape(unsigned char c)
{
	return c <= 0x20 || c == '%' || c >= 0x7f;
}

int
statefile_put(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	if (s == NULL || *s == '\0')
		return buf_append_char(out, '-');
	if (strcmp(s, "-") == 0)
		return buf_append_str(out, "%2D");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (!must_escape(c)) {
			if (buf_append_char(out, (char)c) < 0)
				return -1;
			continue;
		}
		if (buf_append_char(out, '%') < 0 || buf_append_char(out, hex[c >> 4]) < 0 ||
		    buf_append_char(out, hex[c & 15]) < 0)
			return -1;
	}
	return 0;
}


static int
decode_field(const char *p, size_t n, char *dst, size_t *len_r, const char **error_r)
{
	size_t o = 0;

	if (n == 1 && p[0] == '-') {
		dst[0] = '\0';
		*len_r = 0;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (o >= STATEFILE_FIELD_MAX) {
			*error_r = "field too long";
			return -1;
		}
		if (c == '%') {
			int h, l;

			if (i + 2 >= n) {
				*error_r = "truncated %XX escape";
				return -1;
			}
			if ((h = str_hex_digit(p[i + 1])) < 0 || (l = str_hex_digit(p[i + 2])) < 0) {
				*error_r = "bad %XX escape";
				return -1;
			}
			c = (unsigned char)(h * 16 + l);
			if (c == 0) {
				*error_r = "NUL in field";
				return -1;
			}
			i += 2;
		} else if (must_escape(c)) {
			*error_r = "unescaped control or space in field";
			return -1;
		}
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	*len_r = o;
	return 0;
}

int
statefile_next(struct slice text, size_t *pos, struct statefile_line *line,
    const char **error_r)
{
	const char *p, *nl, *end;

	line->n = 0;
	if (*pos >= text.len)
		return 0;
	p = text.p + *pos;
	nl = memchr(p, '\n', text.len - *pos);
	if (nl == NULL) {
		*error_r = "last line has no newline (truncated file)";
		return -1;
	}
	if ((size_t)(nl - p) > STATEFILE_LINE_MAX) {
		*error_r = "line too long";
		return -1;
	}
	*pos += (size_t)(nl - p) + 1;
	end = nl;
	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *fe = sp ? sp : end;

		if (fe == p) {
			*error_r = "empty field";
			return -1;
		}
		if (line->n == STATEFILE_FIELDS_MAX) {
			*error_r = "too many fields";
			return -1;
		}
		if (decode_field(p, (size_t)(fe - p), line->field[line->n], &line->len[line->n],
		    error_r) < 0)
			return -1;
		line->n++;
		p = sp ? sp + 1 : end;
		if (sp && p == end) {
			*error_r = "trailing space";
			return -1;
		}
	}
	if (line->n == 0) {
		*error_r = "empty line";
		return -1;
	}
	return 1;
}

int
statefile_header(struct slice text, size_t *pos, const char *magic, long version,
    const char **error_r)
{
	struct statefile_line *l = xcalloc(1, sizeof(*l));	/* ~32 KiB */
	long long v;
	int r = -1;

	int got = statefile_next(text, pos, l, error_r);

	if (got <= 0) {
		if (got == 0)
			*error_r = "empty file";
	} else if (l->n != 2 || strcmp(l->field[0], magic) != 0) {
		*error_r = "not a state file of this kind (bad first line)";
	} else if (statefile_ll(l, 1, 1000000, &v, error_r) < 0 || v != version) {
		*error_r = "unsupported state file version";
	} else {
		r = 0;
	}
	xfree(l);
	return r;
}

int
statefile_ll(const struct statefile_line *l, size_t i, long long max, long long *out_r,
    const char **error_r)
{
	if (i >= l->n) {
		*error_r = "missing field";
		return -1;
	}
	return strnum_ll(l->field[i], 0, max, out_r, error_r);
}

int
statefile_double(const struct statefile_line *l, size_t i, double min, double max,
    double *out_r, const char **error_r)
{
	if (i >= l->n) {
		*error_r = "missing field";
		return -1;
	}
	if (strnum_double(l->field[i], min, max, out_r, error_r) < 0)
		return -1;
	if (!isfinite(*out_r)) {
		*error_r = "not a finite number";
		return -1;
	}
	return 0;
}
