/* smtp_reply.c: parses SMTP server replies for the delivery client (see smtp_reply.h).
 * Any role/thread; pure. Untrusted input; bounded line length and line count; never writes
 * into its input. */
#include "delivery/smtp_reply.h"

#include <string.h>
#include <strings.h>

#include "lib/str.h"

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Recognises "c.s.d" at the start of text; returns its length or 0. */
static size_t
enh_len(const char *p, size_t n)
{
	size_t i = 0, parts = 0;

	if (n < 5 || (p[0] != '2' && p[0] != '4' && p[0] != '5') || p[1] != '.')
		return 0;
	i = 2;
	for (parts = 1; parts < 3; parts++) {
		size_t d = 0;

		while (i < n && is_digit(p[i]) && d < 3) {
			i++;
			d++;
		}
		if (d == 0)
			return 0;
		if (parts == 1) {
			if (i >= n || p[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < n && p[i] != ' ')
		return 0;
	return i;
}

static void
note_cap(const char *p, size_t n, unsigned *caps, unsigned long long *size)
{
	static const struct {
		const char *kw;
		unsigned bit;
	} kws[] = {
		{ "PIPELINING", SMTP_EXT_PIPELINING }, { "STARTTLS", SMTP_EXT_STARTTLS },
		{ "8BITMIME", SMTP_EXT_8BITMIME }, { "SMTPUTF8", SMTP_EXT_SMTPUTF8 },
		{ "DSN", SMTP_EXT_DSN }, { "SIZE", SMTP_EXT_SIZE }, { "CHUNKING", SMTP_EXT_CHUNKING },
	};
	size_t kl = 0;

	while (kl < n && p[kl] != ' ')
		kl++;
	for (size_t i = 0; i < sizeof(kws) / sizeof(kws[0]); i++)
		if (strlen(kws[i].kw) == kl && strncasecmp(p, kws[i].kw, kl) == 0) {
			*caps |= kws[i].bit;
			if (kws[i].bit == SMTP_EXT_SIZE && size) {
				unsigned long long v = 0;

				for (size_t k = kl + 1; k < n && is_digit(p[k]) && v < (1ULL << 50); k++)
					v = v * 10 + (unsigned long long)(p[k] - '0');
				*size = v;
			}
		}
}

int
smtp_reply_parse(struct slice in, struct smtp_reply *r, unsigned *caps_r,
    unsigned long long *size_r)
{
	size_t off = 0, tl = 0;
	unsigned caps = 0;
	unsigned long long size = 0;

	memset(r, 0, sizeof(*r));
	for (;;) {
		const char *line = in.p + off, *lf;
		size_t avail = in.len - off, n, tn;
		int code;
		char sep;
		const char *t;

		lf = memchr(line, '\n', avail > SMTP_REPLY_LINE_MAX ? SMTP_REPLY_LINE_MAX : avail);
		if (lf == NULL)
			return avail >= SMTP_REPLY_LINE_MAX ? -1 : 0;
		n = (size_t)(lf - line);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]))
			return -1;
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (code < 200 || code > 599)
			return -1;
		if (r->n_lines == 0)
			r->code = code;
		else if (code != r->code)
			return -1;
		sep = n > 3 ? line[3] : ' ';
		if (sep != ' ' && sep != '-')
			return -1;
		t = line + (n > 3 ? 4 : 3);
		tn = n > 3 ? n - 4 : 0;
		if (r->n_lines == 0) {
			size_t el = enh_len(t, tn);

			if (el > 0 && t[0] == line[0] && el < sizeof(r->enh)) {
				memcpy(r->enh, t, el);
				r->enh[el] = '\0';
				t += el;
				tn -= el;
				while (tn > 0 && *t == ' ') {
					t++;
					tn--;
				}
			}
		} else {
			size_t el = enh_len(t, tn);

			if (el > 0) {
				t += el;
				tn -= el;
				while (tn > 0 && *t == ' ') {
					t++;
					tn--;
				}
			}
			note_cap(t, tn, &caps, &size);
			if (tl + 2 < sizeof(r->text)) {
				memcpy(r->text + tl, "; ", 2);
				tl += 2;
			}
		}
		for (size_t i = 0; i < tn && tl + 1 < sizeof(r->text); i++) {
			unsigned char c = (unsigned char)t[i];

			r->text[tl++] = (c >= 32 && c < 127) ? (char)c : '?';
		}
		r->text[tl] = '\0';
		r->n_lines++;
		off += (size_t)(lf - line) + 1;
		if (sep == ' ')
			break;
		if (r->n_lines >= SMTP_REPLY_LINES_MAX)
			return -1;
	}
	r->consumed = off;
	if (caps_r)
		*caps_r = caps;
	if (size_r)
		*size_r = size;
	return 1;
}
