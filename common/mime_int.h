#ifndef COMMON_MIME_INT_H
#define COMMON_MIME_INT_H
/* Internal to common/mime*.c: the decoders (mime_decode.c), charset conversion (mime_charset.c)
 * and parameter parsing (mime_param.c) that mime_parse.c and mime_html.c share. All of them
 * read non-owning input, append to a capped struct buf and report anomalies as MIME_F_* bits
 * in *flags; none of them allocates without a bound. */
#include <stddef.h>

#include "common/mime.h"
#include "lib/buf.h"

/* Up to this many distinct charsets keep an open iconv descriptor during one parse. */
#define MIME_ICONV_CACHE 4

struct mime_iconv_slot {
	char name[64];
	void *cd;		/* iconv_t, (void *)-1 when the charset is unknown */
};

/* Per-parse conversion state: iconv descriptors opened on first use, closed at the end. */
struct mime_conv {
	struct mime_iconv_slot slot[MIME_ICONV_CACHE];
	size_t n;
};

/* mime_decode.c: transfer decodings. Each appends to out and returns 0, or -1 when out's max
 * was reached (what fit is kept). Invalid input sets MIME_F_BAD_ENCODING and is skipped
 * (base64) or kept literally (quoted-printable). */
int mime_b64_decode(const char *s, size_t len, struct buf *out, unsigned *flags);
/* header: RFC 2047 §4.2 "Q" rules ('_' is a space, no soft line breaks). */
int mime_qp_decode(const char *s, size_t len, struct buf *out, unsigned *flags, int header);
/* RFC 2047 encoded words in a header value (already unfolded): decoded to UTF-8 into out,
 * whitespace between adjacent encoded words dropped (§6.2), raw 8-bit text taken as UTF-8
 * (or latin1 when invalid). Returns 0, -1 when out's max was reached. */
int mime_words_decode(struct mime_conv *cv, const char *s, size_t len, struct buf *out,
    unsigned *flags);

/* mime_charset.c: charset (as declared, any case; "" = us-ascii) to UTF-8 appended to out.
 * Invalid sequences become U+FFFD and set MIME_F_BAD_CHARSET; an unknown charset sets it too
 * and the text is taken as UTF-8 if valid, else as latin1. Returns 0, -1 when out is full. */
int mime_to_utf8(struct mime_conv *cv, const char *charset, const char *s, size_t len,
    struct buf *out, unsigned *flags);
/* Appends s as UTF-8, every invalid sequence replaced by U+FFFD (counted in *bad_r). */
int mime_utf8_sanitize(const char *s, size_t len, struct buf *out, size_t *bad_r);
/* Appends the UTF-8 encoding of code point cp (invalid ones as U+FFFD). */
int mime_utf8_put(struct buf *out, unsigned long cp);
void mime_conv_init(struct mime_conv *cv);
void mime_conv_fini(struct mime_conv *cv);

/* mime_param.c: structured header values (RFC 2045 §5.1, RFC 2183, RFC 2231). */
/* Splits "type/subtype; params" of a Content-Type value into lower-case type and subtype
 * (each at most size-1 octets). Returns 0, -1 when the value has no valid type/subtype. */
int mime_ctype_parse(const char *v, size_t len, char *type, size_t type_size, char *subtype,
    size_t subtype_size);
/* First word of a value (Content-Disposition type, Content-Transfer-Encoding), lower case. */
void mime_token_first(const char *v, size_t len, char *out, size_t out_size);
/* Value of parameter name (case-insensitive) in a Content-Type / Content-Disposition value:
 * quoted strings unquoted, RFC 2231 continuations (name*0, name*1*) joined and
 * charset'lang'%XX values converted to UTF-8, RFC 2047 words decoded (a common violation).
 * Appends to out; returns 1 found, 0 absent, -1 out full. */
int mime_param_get(struct mime_conv *cv, const char *v, size_t len, const char *name,
    struct buf *out, unsigned *flags);

/* mime_html.c: mime_html_to_text with the counts the structural layer uses. */
struct mime_html_stats {
	size_t hidden;		/* octets of hidden text */
	size_t images;		/* <img> elements */
};
int mime_html_convert(const char *html, size_t len, struct buf *text, struct mime_link **links,
    size_t *n_links, size_t max_links, int part, struct mime_html_stats *st);

#endif
