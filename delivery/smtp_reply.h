#ifndef DELIVERY_SMTP_REPLY_H
#define DELIVERY_SMTP_REPLY_H
/* I/O-free SMTP reply parser for the client side (RFC 5321 §4.2, enhanced codes RFC 2034/3463,
 * EHLO keywords §4.1.1.1). Input is untrusted (fuzzed by tests/fuzz/fuzz_smtp_reply.c).
 * Limits: a reply line over SMTP_REPLY_LINE_MAX or more than SMTP_REPLY_LINES_MAX lines is
 * invalid. Thread-safe, no global state. */
#include <stddef.h>
#include "lib/buf.h"

#define SMTP_REPLY_LINE_MAX 2048
#define SMTP_REPLY_LINES_MAX 100
#define SMTP_REPLY_TEXT_MAX 1024

struct smtp_reply {
	int code;		/* 200..599 */
	char enh[16];		/* "x.y.z" from the first line when present, else "" */
	char text[SMTP_REPLY_TEXT_MAX];	/* lines joined with "; " (enhanced code stripped), capped */
	size_t n_lines;
	size_t consumed;	/* bytes of input this reply used */
};

/* EHLO capabilities we use. */
#define SMTP_EXT_PIPELINING 0x01
#define SMTP_EXT_STARTTLS   0x02
#define SMTP_EXT_8BITMIME   0x04
#define SMTP_EXT_SMTPUTF8   0x08
#define SMTP_EXT_DSN        0x10
#define SMTP_EXT_SIZE       0x20
#define SMTP_EXT_CHUNKING   0x40

/* Parses one complete reply from the start of in. Returns 1 (done, *r filled), 0 (need more
 * bytes), -1 (invalid: bad code, mixed codes, overlong line or too many lines).
 * caps_r, when not NULL, receives SMTP_EXT_* from the lines after the first (EHLO reply), and
 * size_r the SIZE value (0 if none). */
int smtp_reply_parse(struct slice in, struct smtp_reply *r, unsigned *caps_r,
    unsigned long long *size_r);

#endif
