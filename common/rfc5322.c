/* Header-section splitting for stored messages (RFC 5322 §2.2), used by the filter role's
 * checkers (DKIM, ARC, DMARC From:) on pool threads. Input: message bytes from the spool, which
 * smtpd already bounded (1 MiB header section, 998-octet lines) but which are still the peer's
 * bytes, so every access is bounds-checked and nothing is written into the input. */
#include "common/rfc5322.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void
rfc5322_iter_init(struct rfc5322_iter *it, struct slice msg)
{
	it->in = msg;
	it->off = 0;
	it->state = 0;
}

/* End of the line starting at off: index just past its LF, or len if unterminated. */
static size_t
line_end(struct slice in, size_t off)
{
	const char *nl = memchr(in.p + off, '\n', in.len - off);
	return nl ? (size_t)(nl - in.p) + 1 : in.len;
}

static int
is_blank_line(struct slice in, size_t off)
{
	if (off < in.len && in.p[off] == '\n')
		return 1;
	return off + 1 < in.len && in.p[off] == '\r' && in.p[off + 1] == '\n';
}

int
rfc5322_next(struct rfc5322_iter *it, struct rfc5322_field *f)
{
	struct slice in = it->in;
	size_t start = it->off, end, colon, vend;

	if (it->state != 0)
		return it->state == 1 ? 0 : -1;
	if (start >= in.len || is_blank_line(in, start)) {
		if (start < in.len)
			it->off = line_end(in, start);
		it->state = 1;
		return 0;
	}
	/* Field name: printable US-ASCII except colon (RFC 5322 §3.6.8). */
	for (colon = start; colon < in.len; colon++) {
		unsigned char c = (unsigned char)in.p[colon];
		if (c == ':' || c < 33 || c > 126)
			break;
	}
	size_t name_end = colon;
	while (colon < in.len && (in.p[colon] == ' ' || in.p[colon] == '\t'))
		colon++;	/* obs-optional WSP before the colon (RFC 5322 §4.5) */
	if (name_end == start || colon >= in.len || in.p[colon] != ':') {
		it->state = -1;
		return -1;
	}
	end = line_end(in, start);
	while (end < in.len && (in.p[end] == ' ' || in.p[end] == '\t'))
		end = line_end(in, end);	/* continuation lines */
	vend = end;
	if (vend > colon + 1 && in.p[vend - 1] == '\n')
		vend--;
	if (vend > colon + 1 && in.p[vend - 1] == '\r')
		vend--;
	f->name = (struct slice){ in.p + start, name_end - start };
	f->value = (struct slice){ in.p + colon + 1, vend - colon - 1 };
	f->raw = (struct slice){ in.p + start, end - start };
	it->off = end;
	return 1;
}

size_t
rfc5322_body_offset(const struct rfc5322_iter *it)
{
	return it->state == 1 ? it->off : it->in.len;
}

int
rfc5322_unfold(struct slice v, struct buf *out)
{
	size_t i = 0, n = v.len;

	while (i < n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == '\r' || v.p[i] == '\n'))
		i++;
	while (n > i && (v.p[n - 1] == ' ' || v.p[n - 1] == '\t' || v.p[n - 1] == '\r' ||
	    v.p[n - 1] == '\n'))
		n--;
	for (; i < n; i++) {
		if (v.p[i] == '\r' || v.p[i] == '\n')
			continue;
		if (buf_append_char(out, v.p[i]) < 0)
			return -1;
	}
	return 0;
}

int
rfc5322_read_header(int fd, struct buf *out)
{
	char chunk[16384];
	off_t off = 0;
	size_t scan = 0;

	for (;;) {
		ssize_t n = pread(fd, chunk, sizeof(chunk), off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return 0;	/* no body: the whole message is header */
		if (out->len + (size_t)n > RFC5322_HEADER_READ_MAX || buf_append(out, chunk, (size_t)n) < 0) {
			errno = EFBIG;
			return -1;
		}
		off += n;
		/* Look for the empty line: "\n\r\n" or "\n\n" (or one at offset 0). */
		for (; scan < out->len; scan++) {
			const char *p = out->data + scan;
			size_t left = out->len - scan;
			size_t cut = 0;
			if (scan == 0 && left >= 2 && p[0] == '\r' && p[1] == '\n')
				cut = 2;
			else if (scan == 0 && p[0] == '\n')
				cut = 1;
			else if (p[0] == '\n' && left >= 3 && p[1] == '\r' && p[2] == '\n')
				cut = 3;
			else if (p[0] == '\n' && left >= 2 && p[1] == '\n')
				cut = 2;
			else if (p[0] == '\n' && left < 3)
				break;	/* may complete in the next chunk */
			if (cut) {
				out->len = scan + cut;
				out->data[out->len] = '\0';
				return 0;
			}
		}
	}
}

int
rfc5322_name_is(struct slice name, const char *want)
{
	size_t n = strlen(want);
	return name.len == n && strncasecmp(name.p, want, n) == 0;
}
