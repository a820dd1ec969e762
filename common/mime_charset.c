/* mime_charset.c: text of a MIME part or encoded word converted to UTF-8 (glibc iconv). Runs in
 * whichever thread parses (filter workers, tools); the descriptors live in a per-parse struct
 * mime_conv, so no state is shared between threads. Input is hostile: charset names are
 * checked before they reach iconv_open (no "//" options, bounded length), invalid sequences
 * become U+FFFD, output is bounded by the caller's buffer. */
#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

#include "common/mime_int.h"
#include "lib/str.h"

#define ICONV_BAD ((void *)-1)

void
mime_conv_init(struct mime_conv *cv)
{
	memset(cv, 0, sizeof(*cv));
}

void
mime_conv_fini(struct mime_conv *cv)
{
	size_t i;

	for (i = 0; i < cv->n; i++)
		if (cv->slot[i].cd != ICONV_BAD)
			iconv_close((iconv_t)cv->slot[i].cd);
	cv->n = 0;
}

int
mime_utf8_put(struct buf *out, unsigned long cp)
{
	char b[4];

	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp < 0x80) {
		b[0] = (char)cp;
		return buf_append(out, b, 1);
	}
	if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		return buf_append(out, b, 2);
	}
	if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		return buf_append(out, b, 3);
	}
	b[0] = (char)(0xf0 | (cp >> 18));
	b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	b[3] = (char)(0x80 | (cp & 0x3f));
	return buf_append(out, b, 4);
}

/* Length of the valid UTF-8 sequence at s (RFC 3629 §4: no overlongs, no surrogates, <= U+10FFFF),
 * 0 if invalid. */
static size_t
utf8_seq_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if (c == 0xe0 && s[1] < 0xa0)
		return 0;
	if (c == 0xed && s[1] > 0x9f)
		return 0;
	if (c == 0xf0 && s[1] < 0x90)
		return 0;
	if (c == 0xf4 && s[1] > 0x8f)
		return 0;
	return n;
}

/* Length of the maximal subpart of an ill-formed sequence at s (Unicode §3.9 "U+FFFD
 * substitution of maximal subparts", as the WHATWG decoder does): one U+FFFD replaces it. */
static size_t
utf8_bad_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 1;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	for (i = 1; i < n && i < len; i++) {
		if (s[i] < lo || s[i] > hi)
			break;
		lo = 0x80;
		hi = 0xbf;
	}
	return i;
}

int
mime_utf8_sanitize(const char *s, size_t len, struct buf *out, size_t *bad_r)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, start = 0, n;

	while (i < len) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		n = utf8_seq_len(u + i, len - i);
		if (n > 0) {
			i += n;
			continue;
		}
		if (buf_append(out, s + start, i - start) < 0 || mime_utf8_put(out, 0xfffd) < 0)
			return -1;
		(*bad_r)++;
		i += utf8_bad_len(u + i, len - i);
		start = i;
	}
	return buf_append(out, s + start, len - start);
}

static int
utf8_is_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		if ((n = utf8_seq_len(u + i, len - i)) == 0)
			return 0;
		i += n;
	}
	return 1;
}

static int
latin1_to_utf8(const char *s, size_t len, struct buf *out)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (mime_utf8_put(out, (unsigned char)s[i]) < 0)
			return -1;
	return 0;
}

/* A charset name as it may reach iconv_open: letters, digits and "-_.:+()", at most 40 octets
 * (IANA names are at most 40, RFC 2978 §2.3). Anything else is unknown. */
static int
charset_name_ok(const char *cs)
{
	size_t i, n = strlen(cs);

	if (n == 0 || n > 40)
		return 0;
	for (i = 0; i < n; i++) {
		char c = cs[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-_.:+()", c) != NULL))
			return 0;
	}
	return 1;
}

static int
is_utf8_name(const char *cs)
{
	return strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "utf8") == 0;
}

static int
is_ascii_name(const char *cs)
{
	return cs[0] == '\0' || strcasecmp(cs, "us-ascii") == 0 || strcasecmp(cs, "ascii") == 0 ||
	    strcasecmp(cs, "ansi_x3.4-1968") == 0;
}

static void *
conv_get(struct mime_conv *cv, const char *cs)
{
	struct mime_iconv_slot *sl;
	const char *from = cs;
	iconv_t cd;
	size_t i;

	for (i = 0; i < cv->n; i++)
		if (strcasecmp(cv->slot[i].name, cs) == 0)
			return cv->slot[i].cd;
	/* Mail calls latin1 what is nearly always windows-1252 (the WHATWG encoding rule); the
	 * superset decodes the 0x80-0x9f range instead of yielding C1 controls. */
	if (strcasecmp(cs, "iso-8859-1") == 0 || strcasecmp(cs, "latin1") == 0)
		from = "WINDOWS-1252";
	else if (strcasecmp(cs, "ks_c_5601-1987") == 0)
		from = "CP949";
	else if (strcasecmp(cs, "gb2312") == 0)
		from = "GB18030";
	cd = charset_name_ok(cs) ? iconv_open("UTF-8", from) : (iconv_t)-1;
	if (cv->n == MIME_ICONV_CACHE) {
		/* Full: drop the oldest; parts rarely use more than two charsets. */
		if (cv->slot[0].cd != ICONV_BAD)
			iconv_close((iconv_t)cv->slot[0].cd);
		memmove(&cv->slot[0], &cv->slot[1], sizeof(cv->slot[0]) * (MIME_ICONV_CACHE - 1));
		cv->n--;
	}
	sl = &cv->slot[cv->n++];
	str_lcpy(sl->name, cs, sizeof(sl->name));
	sl->cd = (void *)cd;
	return sl->cd;
}

/* Runs iconv over the whole input, U+FFFD for each invalid or truncated sequence. */
static int
iconv_run(iconv_t cd, const char *s, size_t len, struct buf *out, unsigned *flags)
{
	char *in = (char *)(uintptr_t)s, *op;
	size_t inleft = len, outleft, room, r;

	iconv(cd, NULL, NULL, NULL, NULL);
	for (;;) {
		room = inleft * 4 + 16;
		if (buf_reserve(out, room) < 0) {
			room = out->max - out->len;
			if (room < 8 || buf_reserve(out, room) < 0)
				return -1;
		}
		op = out->data + out->len;
		outleft = room;
		r = inleft ? iconv(cd, &in, &inleft, &op, &outleft) :
		    iconv(cd, NULL, NULL, &op, &outleft);
		out->len = (size_t)(op - out->data);
		out->data[out->len] = '\0';
		if (r != (size_t)-1) {
			if (inleft == 0)
				return 0;
			continue;
		}
		if (errno == E2BIG) {
			if (room < inleft * 4 + 16)
				return -1;	/* out's max reached */
			continue;
		}
		/* EILSEQ or EINVAL (truncated at the end): replace one octet and go on. */
		*flags |= MIME_F_BAD_CHARSET;
		if (mime_utf8_put(out, 0xfffd) < 0)
			return -1;
		if (inleft == 0)
			return 0;
		in++;
		inleft--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
}

int
mime_to_utf8(struct mime_conv *cv, const char *charset, const char *s, size_t len,
    struct buf *out, unsigned *flags)
{
	size_t bad = 0;
	void *cd;
	int r;

	if (is_utf8_name(charset) || is_ascii_name(charset)) {
		/* us-ascii text with 8-bit octets is nearly always UTF-8 or latin1 in practice. */
		if (!is_utf8_name(charset) && !utf8_is_valid(s, len))
			return latin1_to_utf8(s, len, out);
		r = mime_utf8_sanitize(s, len, out, &bad);
		if (bad)
			*flags |= MIME_F_BAD_CHARSET;
		return r;
	}
	cd = conv_get(cv, charset);
	if (cd == ICONV_BAD) {
		*flags |= MIME_F_BAD_CHARSET;
		if (utf8_is_valid(s, len))
			return buf_append(out, s, len);
		return latin1_to_utf8(s, len, out);
	}
	return iconv_run((iconv_t)cd, s, len, out, flags);
}
