/* fuzz_attach.c: libFuzzer target for the attachment layer (filter/attach.c): the first line of
 * the input is a file name and a content type ("name|type/subtype"), the rest the decoded
 * octets of an attachment part, so magic detection, extension parsing and the zip reader
 * (libzip from memory) see hostile bytes. A hand-made struct mime_msg keeps the MIME parser out
 * of the way (it has its own targets). */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "filter/attach.h"
#include "filter/filter_int.h"
#include "lib/str.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *nl = memchr(p, '\n', size), *bar;
	size_t hl = nl != NULL ? (size_t)(nl - p) : size;
	struct mime_part part[2];
	struct mime_msg m;
	struct filter_score score;
	char ext[16];

	memset(part, 0, sizeof(part));
	memset(&m, 0, sizeof(m));
	memset(&score, 0, sizeof(score));
	part[0].parent = -1;
	str_lcpy(part[0].type, "multipart", sizeof(part[0].type));
	str_lcpy(part[0].subtype, "mixed", sizeof(part[0].subtype));
	hl = strnlen(p, hl);	/* a file name ends at a NUL */
	part[1].filename = xstrndup(p, hl);
	if ((bar = memchr(p, '|', hl)) != NULL) {
		size_t tl = hl - (size_t)(bar + 1 - p), sl;
		const char *slash = memchr(bar + 1, '/', tl);

		part[1].filename[bar - p] = '\0';
		sl = slash != NULL ? (size_t)(slash - bar - 1) : tl;
		memcpy(part[1].type, bar + 1, sl < 63 ? sl : 63);
		if (slash != NULL) {
			size_t rl = tl - sl - 1;
			memcpy(part[1].subtype, slash + 1, rl < 63 ? rl : 63);
		}
	}
	part[1].is_attachment = 1;
	buf_init(&part[1].decoded, MIME_DECODED_MAX);
	if (nl != NULL)
		(void)buf_append(&part[1].decoded, nl + 1, size - (size_t)(nl + 1 - p));
	part[1].decoded_total = part[1].decoded.len;
	m.parts = part;
	m.n_parts = 2;
	attach_check_msg(NULL, &m, &score);
	assert(score.n <= 9);
	attach_ext(part[1].filename, ext, sizeof(ext));
	assert(strlen(ext) < sizeof(ext));
	(void)attach_magic((const unsigned char *)part[1].decoded.data, part[1].decoded.len);
	buf_free(&part[1].decoded);
	xfree(part[1].filename);
	return 0;
}
