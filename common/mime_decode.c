/* mime_decode.c: the transfer decodings of MIME (base64 RFC 2045 §6.8, quoted-printable §6.7)
 * and RFC 2047 encoded words in header values. Pure functions over hostile input, any thread:
 * tolerant of whitespace and garbage (flagged MIME_F_BAD_ENCODING, never fatal), output bounded
 * by the caller's buffer. */
#include <string.h>
#include <strings.h>

#include "common/mime_int.h"
#include "lib/str.h"


int
mime_b64_decode(const char *s, size_t len, struct buf *out, unsigned *flags)
{
	char chunk[512];
	size_t i, n = 0;
	unsigned long acc = 0;
	int bits = 0, v, pad = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			pad = 1;
			continue;
		}
		if ((v = str_base64_digit(c)) < 0) {
			*flags |= MIME_F_BAD_ENCODING;
			continue;
		}
		if (pad) {
			/* Data after padding: a second encoded blob glued on; keep decoding. */
			*flags |= MIME_F_BAD_ENCODING;
			pad = 0;
			acc = 0;
			bits = 0;
		}
		acc = (acc << 6) | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			chunk[n++] = (char)((acc >> bits) & 0xff);
			if (n == sizeof(chunk)) {
				if (buf_append(out, chunk, n) < 0)
					return -1;
				n = 0;
			}
		}
	}
	if (bits >= 6)	/* a lone sextet cannot encode an octet (RFC 4648 §3.5) */
		*flags |= MIME_F_BAD_ENCODING;
	return buf_append(out, chunk, n);
}


/* Octets from s[i] that end a soft line break "=" WSP* (CR)LF, 0 if none (RFC 2045 §6.7 rule 5). */
static size_t
qp_soft_break(const char *s, size_t len, size_t i)
{
	size_t j = i + 1;

	while (j < len && (s[j] == ' ' || s[j] == '\t'))
		j++;
	if (j < len && s[j] == '\r')
		j++;
	if (j < len && s[j] == '\n')
		return j + 1 - i;
	if (j == len)
		return j - i;	/* "=" at the very end: a soft break with the line end cut off */
	return 0;
}

int
mime_qp_decode(const char *s, size_t len, struct buf *out, unsigned *flags, int header)
{
	size_t i = 0, start = 0, k;
	int h, l;
	char c;

	while (i < len) {
		if (s[i] == '_' && header) {
			if (buf_append(out, s + start, i - start) < 0 || buf_append_char(out, ' ') < 0)
				return -1;
			start = ++i;
			continue;
		}
		if (s[i] != '=') {
			i++;
			continue;
		}
		if (buf_append(out, s + start, i - start) < 0)
			return -1;
		if (i + 2 < len && (h = str_hex_digit((unsigned char)s[i + 1])) >= 0 &&
		    (l = str_hex_digit((unsigned char)s[i + 2])) >= 0) {
			c = (char)(h << 4 | l);
			if (buf_append(out, &c, 1) < 0)
				return -1;
			start = i += 3;
			continue;
		}
		if (!header && (k = qp_soft_break(s, len, i)) > 0) {
			start = i += k;
			continue;
		}
		/* "=" not followed by two hex digits: kept literally (RFC 2045 §6.7 note 1). */
		*flags |= MIME_F_BAD_ENCODING;
		start = i;
		i++;
	}
	return buf_append(out, s + start, len - start);
}

/* One RFC 2047 encoded word "=?charset[*lang]?B|Q?text?=" at s[0..len): fills the parts and
 * returns the word's length, 0 if s does not start with a well-formed word. Encoded text may not
 * contain "?" or whitespace (§2, §5), but mailers put spaces into Q words; they end at "?=". */
struct ew {
	char charset[64];
	char enc;
	const char *text;
	size_t text_len;
};

static size_t
ew_scan(const char *s, size_t len, struct ew *w)
{
	size_t i = 2, cs_start = 2, cs_end;

	if (len < 8 || s[0] != '=' || s[1] != '?')
		return 0;
	while (i < len && s[i] != '?' && s[i] != ' ' && s[i] != '\t' && i - cs_start < 63)
		i++;
	if (i >= len || s[i] != '?' || i == cs_start)
		return 0;
	cs_end = i;
	if (i + 3 >= len || s[i + 2] != '?')
		return 0;
	w->enc = (char)(s[i + 1] | 0x20);
	if (w->enc != 'b' && w->enc != 'q')
		return 0;
	i += 3;
	w->text = s + i;
	/* Encoded text never holds "=?" other than B padding right before the end ("=?="): Q
	 * escapes are hex. Stopping there keeps the scan of a value full of unterminated words
	 * linear. */
	while (i + 1 < len && !(s[i] == '?' && s[i + 1] == '=') &&
	    !(s[i] == '=' && s[i + 1] == '?' && (i + 2 >= len || s[i + 2] != '=')))
		i++;
	if (i + 1 >= len || s[i] != '?')
		return 0;
	w->text_len = (size_t)(s + i - w->text);
	/* RFC 2231 §5: "charset*language"; the language is dropped. */
	memcpy(w->charset, s + cs_start, cs_end - cs_start);
	w->charset[cs_end - cs_start] = '\0';
	if (strchr(w->charset, '*') != NULL)
		*strchr(w->charset, '*') = '\0';
	return i + 2;
}

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Flushes the octets of adjacent words of one charset (pending) into out as UTF-8; joining
 * before conversion keeps a multi-octet character split across two words intact. */
static int
ew_flush(struct mime_conv *cv, const char *charset, struct buf *pending, struct buf *out,
    unsigned *flags)
{
	int r = 0;

	if (pending->len > 0)
		r = mime_to_utf8(cv, charset, pending->data, pending->len, out, flags);
	buf_reset(pending);
	return r;
}

int
mime_words_decode(struct mime_conv *cv, const char *s, size_t len, struct buf *out,
    unsigned *flags)
{
	struct buf pending;
	char cur[64] = "";
	size_t i = 0, raw_start = 0, ws, n;
	struct ew w;
	int r = 0, prev_word = 0;

	buf_init(&pending, out->max);
	while (i < len) {
		if (s[i] != '=' || i + 1 >= len || s[i + 1] != '?' ||
		    (n = ew_scan(s + i, len - i, &w)) == 0) {
			i++;
			continue;
		}
		/* Raw text before the word; whitespace alone between two words is dropped (§6.2). */
		for (ws = raw_start; ws < i && is_wsp(s[ws]); ws++)
			;
		if (!(prev_word && ws == i) || strcasecmp(cur, w.charset) != 0)
			if ((r = ew_flush(cv, cur, &pending, out, flags)) < 0)
				break;
		if (!(prev_word && ws == i) && i > raw_start) {
			if ((r = mime_to_utf8(cv, "", s + raw_start, i - raw_start, out,
			    flags)) < 0)
				break;
		}
		str_lcpy(cur, w.charset, sizeof(cur));
		r = w.enc == 'b' ? mime_b64_decode(w.text, w.text_len, &pending, flags) :
		    mime_qp_decode(w.text, w.text_len, &pending, flags, 1);
		if (r < 0)
			break;
		i += n;
		raw_start = i;
		prev_word = 1;
	}
	if (r == 0)
		r = ew_flush(cv, cur, &pending, out, flags);
	if (r == 0 && raw_start < len)
		r = mime_to_utf8(cv, "", s + raw_start, len - raw_start, out, flags);
	buf_free(&pending);
	return r;
}
