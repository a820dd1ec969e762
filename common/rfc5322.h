#ifndef COMMON_RFC5322_H
#define COMMON_RFC5322_H
/* Header-section access for stored messages (RFC 5322 §2.2): split the header section of a
 * message held in memory into fields, unfold values, read the section from a message fd. The
 * input is untrusted; nothing here writes into it. Any thread. */
#include <stddef.h>
#include <sys/types.h>
#include "lib/buf.h"

#define RFC5322_HEADER_READ_MAX (1024 * 1024 + 4096)	/* smtpd caps the section at 1 MiB */

struct rfc5322_field {
	struct slice name;	/* field name, no trailing WSP or colon */
	struct slice value;	/* after the colon up to (excluding) the final CRLF; folding kept */
	struct slice raw;	/* the whole field including its final CRLF (as DKIM "simple" sees it) */
};

struct rfc5322_iter {
	struct slice in;	/* borrowed: the message or its header section */
	size_t off;
	int state;		/* 0 fields, 1 end reached, -1 malformed */
};

void rfc5322_iter_init(struct rfc5322_iter *it, struct slice msg);
/* Next field: returns 1 with *f filled, 0 at the end of the header section (the empty line, or
 * the end of input), -1 on a line that is neither a field nor a continuation (no colon, an
 * empty or non-printable name). Lines may end in CRLF or LF. */
int rfc5322_next(struct rfc5322_iter *it, struct rfc5322_field *f);
/* Offset of the body (just after the empty line) once rfc5322_next returned 0; msg length if
 * the message has no body separator. */
size_t rfc5322_body_offset(const struct rfc5322_iter *it);
/* Appends value unfolded (CRLF/LF before WSP removed, RFC 5322 §2.2.3), leading and trailing
 * WSP trimmed. Returns 0, -1 if out's max is reached. */
int rfc5322_unfold(struct slice value, struct buf *out);
/* Reads the header section of the message in fd (from offset 0, pread: the fd's position is not
 * used) into out, up to and including the empty line, at most RFC5322_HEADER_READ_MAX octets.
 * Returns 0, or -1 with errno set (EFBIG if the section is larger). */
int rfc5322_read_header(int fd, struct buf *out);
/* Case-insensitive field-name test. */
int rfc5322_name_is(struct slice name, const char *want);

#endif
