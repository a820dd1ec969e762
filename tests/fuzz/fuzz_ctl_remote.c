/* fuzz_ctl_remote.c: libFuzzer target for mailguardctl remote mode's printing of the console's
 * JSON replies (admin/ctl_remote_fmt.c), which come from a server over the network. The first
 * input byte picks the reply kind, the rest is parsed by jansson as mailguardctl parses it
 * (duplicate keys refused). Invariants: no crash or leak; the text printed holds no control
 * byte other than '\n' (a reply cannot drive the operator's terminal) and no C1 control; a
 * refused reply (-1) is allowed for any shape. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/ctl_remote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t err;
	struct buf out;
	json_t *j;

	if (size < 1)
		return 0;
	j = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &err);
	if (j == NULL)
		return 0;
	buf_init(&out, 64u * 1024 * 1024);
	if (ctl_remote_format((enum ctl_remote_fmt)(data[0] % (CTL_FMT_COUNT_ + 1)), j,
	    &out) == 0) {
		for (size_t i = 0; i < out.len; i++) {
			unsigned char c = (unsigned char)out.data[i];

			if ((c < 0x20 && c != '\n') || c == 0x7f ||
			    (c == 0xc2 && i + 1 < out.len && (unsigned char)out.data[i + 1] >= 0x80 &&
			    (unsigned char)out.data[i + 1] <= 0x9f))
				abort();
		}
	}
	buf_free(&out);
	json_decref(j);
	return 0;
}
