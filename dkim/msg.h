#ifndef DKIM_MSG_H
#define DKIM_MSG_H
/* A spool message as the verifiers see it: the header section read into memory and split into
 * fields, the body streamed from the fd with pread. Internal to dkim/. One thread at a time. */
#include <sys/types.h>

#include "common/rfc5322.h"
#include "lib/buf.h"

#define MG_DKIM_FIELDS_MAX 1000		/* smtpd's header count cap (common/limits.h) */

struct mg_dkim_msg {
	int fd;				/* borrowed */
	off_t size;
	struct buf hdr;			/* the header section including the empty line */
	size_t body_off;		/* file offset of the body */
	struct rfc5322_field *field;	/* slices into hdr */
	size_t n;
};

/* Reads and splits the header section. Returns 0, or -1 with *error_r (static) and *io_r set
 * to 1 for an I/O error (temporary) or 0 for a malformed or oversized section. On -1 the
 * message still needs mg_dkim_msg_free. */
int mg_dkim_msg_load(struct mg_dkim_msg *m, int fd, off_t size, const char **error_r, int *io_r);
/* Streams the body (body_off..size) to fn in chunks. Returns 0, -1 on a read error. */
int mg_dkim_msg_body(const struct mg_dkim_msg *m, void (*fn)(void *arg, const char *p, size_t n),
    void *arg);
void mg_dkim_msg_free(struct mg_dkim_msg *m);

#endif
