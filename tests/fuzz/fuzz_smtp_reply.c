/* fuzz_smtp_reply.c: libFuzzer target for the delivery client's SMTP reply parser.
 * Feeds arbitrary bytes as a server's reply stream and parses replies until the input is used
 * up or invalid, checking the parser's bookkeeping invariants. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "delivery/smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice in = { (const char *)data, size };

	for (int i = 0; i < 1000 && in.len > 0; i++) {
		struct smtp_reply r;
		unsigned caps;
		unsigned long long sz;
		int rc = smtp_reply_parse(in, &r, &caps, &sz);

		if (rc <= 0)
			break;
		assert(r.consumed > 0 && r.consumed <= in.len);
		assert(r.code >= 200 && r.code <= 599);
		assert(strlen(r.text) < sizeof(r.text));
		in.p += r.consumed;
		in.len -= r.consumed;
	}
	return 0;
}
