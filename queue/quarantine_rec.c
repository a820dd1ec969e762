/* quarantine_rec.c: the index record of a quarantined message (queue/quarantine.h): building it
 * from the envelope and the message's header section, cleaning peer text to printable UTF-8,
 * and the strict encoding of the Berkeley DB value. Pure, any thread. Input is untrusted twice
 * over: envelope strings and headers come from SMTP peers, and the stored value is read back
 * from a database that may be damaged; the decoder bounds every field and accepts only what the
 * encoder writes. */
#include "queue/quarantine.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "common/mime.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"
#include "queue/statefile.h"

#define QUAR_MAGIC "mgq1"
#define QUAR_FIXED_FIELDS 8	/* magic arrival size score n_total sender subject symbols */

/* Length of the UTF-8 sequence at s (n octets available) and its code point, or 0 if invalid
 * (overlong, surrogate, above U+10FFFF, truncated). */
static size_t
utf8_seq(const unsigned char *s, size_t n, unsigned *cp_r)
{
	unsigned c = s[0], cp;
	size_t len;

	if (c < 0x80) {
		*cp_r = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return len;
}

/* Code points shown as '?': controls, and the bidirectional overrides that can make a line
 * read differently from its bytes (U+202A..U+202E, U+2066..U+2069). */
static int
cp_hidden(unsigned cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
	    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

int
quar_clean(const char *src, size_t len, size_t max, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t used = 0;

	for (size_t i = 0; i < len;) {
		unsigned cp = 0;
		size_t n = utf8_seq(s + i, len - i, &cp);
		const char *put = (const char *)s + i;
		size_t put_len = n;

		if (n == 0) {
			put = "\xef\xbf\xbd";	/* U+FFFD for an invalid octet */
			put_len = 3;
			n = 1;
		} else if (cp_hidden(cp)) {
			put = "?";
			put_len = 1;
		}
		if (used + put_len > max)
			break;
		if (buf_append(out, put, put_len) < 0)
			return -1;
		used += put_len;
		i += n;
	}
	return 0;
}

int
quar_is_clean(const char *s)
{
	struct buf b;
	size_t len = strlen(s);
	int same;

	buf_init(&b, len + 1);
	same = quar_clean(s, len, len, &b) == 0 && b.len == len &&
	    (len == 0 || memcmp(b.data, s, len) == 0);
	buf_free(&b);
	return same;
}

static char *
clean_dup(const char *s, size_t len, size_t max)
{
	struct buf b;

	buf_init(&b, max + 1);
	(void)quar_clean(s, len, max, &b);
	if (b.data == NULL)
		return xstrdup("");
	return buf_steal(&b);
}

int
quar_verdict_parse(const char *verdict, double *score_r, const char **symbols_r)
{
	char num[64];
	const char *sp, *sym, *ignored;
	size_t n;

	*score_r = 0;
	*symbols_r = verdict;
	if (strncmp(verdict, "score=", 6) != 0)
		return -1;
	sp = strchr(verdict + 6, ' ');
	n = sp ? (size_t)(sp - verdict - 6) : strlen(verdict + 6);
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, verdict + 6, n);
	num[n] = '\0';
	if (strnum_double(num, -1e9, 1e9, score_r, &ignored) < 0) {
		*score_r = 0;
		return -1;
	}
	sym = sp ? sp + 1 : verdict + 6 + n;
	if (strncmp(sym, "symbols=", 8) == 0)
		sym += 8;
	*symbols_r = sym;
	return 0;
}

void
quar_rec_clear(struct quar_rec *r)
{
	xfree(r->sender);
	xfree(r->subject);
	xfree(r->symbols);
	for (size_t i = 0; i < r->n_rcpts; i++)
		xfree(r->rcpts[i]);
	xfree(r->rcpts);
	memset(r, 0, sizeof(*r));
}

/* The decoded Subject of a header section: RFC 2047 words decoded by common/mime.c. */
static char *
subject_of(struct slice hdr)
{
	struct mime_msg *m;
	char *s;

	if (hdr.len == 0)
		return xstrdup("");
	m = mime_parse(hdr.p, hdr.len, NULL);
	s = m->subject ? clean_dup(m->subject, strlen(m->subject), QUAR_SUBJECT_MAX) : xstrdup("");
	mime_msg_free(&m);
	return s;
}

int
quar_rec_from(struct quar_rec *r, const struct envelope *env, struct slice hdr,
    const char **error_r)
{
	const char *sym;

	memset(r, 0, sizeof(*r));
	if (env->quarantine == NULL) {
		*error_r = "not quarantined";
		return -1;
	}
	str_lcpy(r->qid, env->qid, sizeof(r->qid));
	r->arrival = env->arrival;
	r->size = env->size;
	(void)quar_verdict_parse(env->quarantine, &r->score, &sym);
	r->symbols = clean_dup(sym, strlen(sym), QUAR_SYMBOLS_MAX);
	r->sender = clean_dup(env->sender, strlen(env->sender), QUAR_ADDR_MAX);
	r->subject = subject_of(hdr);
	r->n_rcpts_total = env->n_rcpts;
	r->n_rcpts = env->n_rcpts < QUAR_RCPTS_MAX ? env->n_rcpts : QUAR_RCPTS_MAX;
	r->rcpts = xcalloc(r->n_rcpts ? r->n_rcpts : 1, sizeof(*r->rcpts));
	for (size_t i = 0; i < r->n_rcpts; i++)
		r->rcpts[i] = clean_dup(env->rcpts[i].addr, strlen(env->rcpts[i].addr),
		    QUAR_ADDR_MAX);
	return 0;
}

int
quar_rec_cmp(const struct quar_rec *a, const struct quar_rec *b)
{
	if (a->arrival != b->arrival)
		return a->arrival < b->arrival ? -1 : 1;
	return strcmp(a->qid, b->qid);
}

/* ---- the database value ---- */

int
quar_rec_encode(const struct quar_rec *r, struct buf *out)
{
	char num[96];

	buf_reset(out);
	snprintf(num, sizeof(num), "%s %lld %lld %.4f %zu ", QUAR_MAGIC, r->arrival, r->size,
	    r->score, r->n_rcpts_total);
	if (buf_append_str(out, num) < 0 || statefile_put(out, r->sender) < 0 ||
	    buf_append_char(out, ' ') < 0 || statefile_put(out, r->subject) < 0 ||
	    buf_append_char(out, ' ') < 0 || statefile_put(out, r->symbols) < 0)
		return -1;
	for (size_t i = 0; i < r->n_rcpts; i++)
		if (buf_append_char(out, ' ') < 0 || statefile_put(out, r->rcpts[i]) < 0)
			return -1;
	return 0;
}

/* Decodes one percent-encoded field ("-" = empty) into a new clean string; NULL on error. */
static char *
field_decode(const char *p, size_t n, size_t max)
{
	char *dst;
	size_t o = 0;

	if (n == 1 && p[0] == '-')
		return xstrdup("");
	if (n == 0 || n > 3 * max)
		return NULL;
	dst = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		int hi, lo;

		if (c == '%') {
			if (i + 2 >= n)
				goto fail;
			hi = str_hex_digit((unsigned char)p[i + 1]);
			lo = str_hex_digit((unsigned char)p[i + 2]);
			if (hi < 0 || lo < 0 || (p[i + 1] >= 'a' && p[i + 1] <= 'f') ||
			    (p[i + 2] >= 'a' && p[i + 2] <= 'f'))
				goto fail;
			c = (unsigned char)(hi << 4 | lo);
			/* canonical only: the encoder writes other bytes plain, and '-' escaped
			 * only as the whole field */
			if (c == '\0' || (c > 0x20 && c != '%' && c < 0x7f && !(c == '-' && n == 3)))
				goto fail;
			i += 2;
		} else if (c <= 0x20 || c >= 0x7f) {
			goto fail;
		}
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	if (o > max || !quar_is_clean(dst))
		goto fail;
	return dst;
fail:
	xfree(dst);
	return NULL;
}

static int
num_field(const char *p, size_t n, long long min, long long max, long long *out_r)
{
	char tmp[32];
	const char *ignored;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	if ((n > 1 && tmp[0] == '0') || tmp[0] == '+' || tmp[0] == '-')
		return -1;
	return strnum_ll(tmp, min, max, out_r, &ignored);
}

static int
score_field(const char *p, size_t n, double *out_r)
{
	char tmp[64], back[64];
	const char *ignored;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	if (strnum_double(tmp, -1e9, 1e9, out_r, &ignored) < 0)
		return -1;
	snprintf(back, sizeof(back), "%.4f", *out_r);
	return strcmp(back, tmp) == 0 ? 0 : -1;	/* canonical form only */
}

int
quar_rec_decode(const char *qid, struct slice val, struct quar_rec *r, const char **error_r)
{
	const char *f[QUAR_FIXED_FIELDS];
	size_t fl[QUAR_FIXED_FIELDS], nf = 0, pos = 0, total;
	long long ntot;

	memset(r, 0, sizeof(*r));
	*error_r = "malformed record";
	if (val.len == 0 || val.len > QUAR_VALUE_MAX || strlen(qid) != QUEUE_ID_LEN)
		return -1;
	if (memchr(val.p, '\0', val.len) != NULL)
		return -1;
	/* the fixed fields, then the recipients */
	while (nf < QUAR_FIXED_FIELDS && pos < val.len) {
		const char *sp = memchr(val.p + pos, ' ', val.len - pos);
		size_t end = sp ? (size_t)(sp - val.p) : val.len;

		f[nf] = val.p + pos;
		fl[nf++] = end - pos;
		pos = sp ? end + 1 : val.len + 1;
	}
	if (nf != QUAR_FIXED_FIELDS || fl[0] != 4 || memcmp(f[0], QUAR_MAGIC, 4) != 0)
		return -1;
	str_lcpy(r->qid, qid, sizeof(r->qid));
	if (num_field(f[1], fl[1], 0, ENVELOPE_TIME_MAX, &r->arrival) < 0 ||
	    num_field(f[2], fl[2], 0, LLONG_MAX, &r->size) < 0 ||
	    score_field(f[3], fl[3], &r->score) < 0 ||
	    num_field(f[4], fl[4], 0, SMTP_RCPT_CAP, &ntot) < 0 ||
	    (r->sender = field_decode(f[5], fl[5], QUAR_ADDR_MAX)) == NULL ||
	    (r->subject = field_decode(f[6], fl[6], QUAR_SUBJECT_MAX)) == NULL ||
	    (r->symbols = field_decode(f[7], fl[7], QUAR_SYMBOLS_MAX)) == NULL)
		goto fail;
	r->n_rcpts_total = (size_t)ntot;
	total = r->n_rcpts_total < QUAR_RCPTS_MAX ? r->n_rcpts_total : QUAR_RCPTS_MAX;
	r->rcpts = xcalloc(total ? total : 1, sizeof(*r->rcpts));
	while (pos <= val.len) {	/* pos is past val.len when the symbols field ended it */
		const char *sp = memchr(val.p + pos, ' ', val.len - pos);
		size_t end = sp ? (size_t)(sp - val.p) : val.len;

		if (r->n_rcpts >= total ||
		    (r->rcpts[r->n_rcpts] = field_decode(val.p + pos, end - pos, QUAR_ADDR_MAX)) == NULL)
			goto fail;
		r->n_rcpts++;
		pos = sp ? end + 1 : val.len + 1;
	}
	if (r->n_rcpts != total)
		goto fail;
	return 0;
fail:
	quar_rec_clear(r);
	*error_r = "malformed record";
	return -1;
}
