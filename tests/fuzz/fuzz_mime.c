/* fuzz_mime.c: libFuzzer target for mime_parse (common/mime*.c: header fields, RFC 2047 words,
 * RFC 2231 parameters, multipart, base64/quoted-printable, charsets, message/rfc822, HTML) and
 * mime_date_parse on the message's Date field. The input is a whole message. Invariants: no
 * crash or sanitizer report; the limits hold (parts, depth, headers per part, decoded octets per
 * part, text, links); every part's text range lies inside mime_msg.text and every parent index
 * points to an earlier part; the text is valid UTF-8. Limits are lowered so the fuzzer reaches
 * them with small inputs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mime.h"
#include "common/mime_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct mime_msg *m, const struct mime_limits *l)
{
	struct buf u;
	size_t bad = 0;

	if (m->n_parts < 1 || m->n_parts > l->parts || m->text.len > l->text ||
	    m->n_links > l->links)
		abort();
	for (size_t i = 0; i < m->n_parts; i++) {
		const struct mime_part *p = &m->parts[i];
		if (p->parent >= (int)i || (i > 0 && p->parent < 0) || (size_t)p->depth > l->depth ||
		    p->n_headers > l->headers || p->decoded.len > l->decoded ||
		    p->text_off + p->text_len > m->text.len)
			abort();
		for (size_t j = 0; j < p->n_headers; j++)
			if (p->headers[j].name == NULL || p->headers[j].value == NULL ||
			    strlen(p->headers[j].value) > l->header_size * 4)
				abort();
	}
	for (size_t i = 0; i < m->n_links; i++)
		if (m->links[i].url == NULL || m->links[i].anchor == NULL ||
		    m->links[i].part < 0 || (size_t)m->links[i].part >= m->n_parts)
			abort();
	buf_init(&u, m->text.len * 3 + 16);
	if (mime_utf8_sanitize(m->text.data ? m->text.data : "", m->text.len, &u, &bad) < 0 ||
	    bad != 0)
		abort();
	buf_free(&u);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_limits l;
	struct mime_msg *m;
	const char *d;
	long long t;

	mime_limits_default(&l);
	l.parts = 32;
	l.depth = 6;
	l.headers = 32;
	l.header_size = 1024;
	l.decoded = 16384;
	l.text = 16384;
	l.links = 16;
	m = mime_parse((const char *)data, size, &l);
	check(m, &l);
	if ((d = mime_header_get(m, 0, "date")) != NULL)
		(void)mime_date_parse(d, strlen(d), &t);
	mime_msg_free(&m);
	/* the defaults too (bigger limits, other paths) */
	m = mime_parse((const char *)data, size, NULL);
	mime_msg_free(&m);
	return 0;
}
