/* fuzz_dmarc_out.c: libFuzzer target for the queue's parser of DMARC report files
 * (queue/dmarc_out.c, dmarc_out_parse; format in doc/queue-format.md). The files are written by
 * the filter role, but a damaged or planted file must be set aside, never crash the queue.
 * Invariants: on success the sender and 1..DMARC_OUT_RCPT_MAX recipients are NUL-terminated
 * addr-specs (one '@', printable, no blanks) without duplicates, the message is a non-empty
 * slice inside the input after a blank line within DMARC_OUT_HDR_MAX octets; on failure an
 * error text is set; nothing is read outside the input (ASan). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "queue/dmarc_out.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_addr(const char *a)
{
	size_t n = strlen(a), at = 0;

	if (n == 0 || n > ENVELOPE_ADDR_MAX)
		abort();
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)a[i] <= 0x20 || (unsigned char)a[i] >= 0x7f)
			abort();
		at += a[i] == '@';
	}
	if (at != 1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmarc_out_file f;
	const char *err = NULL;
	struct slice s = { (const char *)data, size };
	const char *end = s.p + size;

	if (dmarc_out_parse(s, &f, &err) < 0) {
		if (err == NULL || err[0] == '\0')
			abort();
		return 0;
	}
	check_addr(f.from);
	if (f.n_rcpt == 0 || f.n_rcpt > DMARC_OUT_RCPT_MAX)
		abort();
	for (size_t i = 0; i < f.n_rcpt; i++) {
		check_addr(f.rcpt[i]);
		for (size_t k = 0; k < i; k++)
			if (strcasecmp(f.rcpt[i], f.rcpt[k]) == 0)
				abort();
	}
	if (f.msg.len == 0 || f.msg.p < s.p + 2 || f.msg.p + f.msg.len != end ||
	    f.msg.p[-1] != '\n' || f.msg.p[-2] != '\n' ||
	    (size_t)(f.msg.p - s.p) > DMARC_OUT_HDR_MAX)
		abort();
	if (size < 22 || memcmp(data, DMARC_OUT_MAGIC "\n", 22) != 0)
		abort();
	return 0;
}
