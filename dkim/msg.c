/* Message access for the DKIM and ARC verifiers: reads the header section of a spool fd with
 * pread (common/rfc5322.c, capped at RFC5322_HEADER_READ_MAX) and splits it into at most
 * MG_DKIM_FIELDS_MAX fields; streams the body in 16 KiB preads, never past the given size.
 * Runs on filter pool threads. The bytes are the peer's: only bounded slices are handed on. */
#include "dkim/msg.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "lib/xalloc.h"

int
mg_dkim_msg_load(struct mg_dkim_msg *m, int fd, off_t size, const char **error_r, int *io_r)
{
	struct rfc5322_iter it;
	struct rfc5322_field f;
	size_t cap = 32;
	int r;

	memset(m, 0, sizeof(*m));
	m->fd = fd;
	m->size = size;
	buf_init(&m->hdr, RFC5322_HEADER_READ_MAX + 1);
	*io_r = 0;
	if (rfc5322_read_header(fd, &m->hdr) < 0) {
		*io_r = errno != EFBIG;
		*error_r = errno == EFBIG ? "header section too large" : "message read error";
		return -1;
	}
	if ((off_t)m->hdr.len > size) {
		/* The fd holds more than the caller says is the message: trust size. */
		m->hdr.len = (size_t)size;
	}
	m->field = xreallocarray(NULL, cap, sizeof(*m->field));
	rfc5322_iter_init(&it, buf_slice(&m->hdr));
	while ((r = rfc5322_next(&it, &f)) == 1) {
		if (m->n == MG_DKIM_FIELDS_MAX) {
			*error_r = "too many header fields";
			return -1;
		}
		if (m->n == cap) {
			cap *= 2;
			m->field = xreallocarray(m->field, cap, sizeof(*m->field));
		}
		m->field[m->n++] = f;
	}
	if (r < 0) {
		*error_r = "malformed header section";
		return -1;
	}
	m->body_off = rfc5322_body_offset(&it);
	return 0;
}

int
mg_dkim_msg_body(const struct mg_dkim_msg *m, void (*fn)(void *arg, const char *p, size_t n),
    void *arg)
{
	char chunk[16384];
	off_t off = (off_t)m->body_off;

	while (off < m->size) {
		size_t want = sizeof(chunk);
		if ((off_t)want > m->size - off)
			want = (size_t)(m->size - off);
		ssize_t n = pread(m->fd, chunk, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;	/* shorter than announced: hash what is there */
		fn(arg, chunk, (size_t)n);
		off += n;
	}
	return 0;
}

void
mg_dkim_msg_free(struct mg_dkim_msg *m)
{
	buf_free(&m->hdr);
	xfree(m->field);
	m->field = NULL;
	m->n = 0;
}
