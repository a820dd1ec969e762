/* fuzz_html.c: libFuzzer target for mime_html_to_text (common/mime_html.c): HTML (taken as UTF-8
 * text, as mime_parse hands it over after charset conversion) to visible text, hidden-text
 * accounting and links. Invariants: no crash or sanitizer report; the text stays within its cap
 * (the return value says when it was reached); at most max_links links, each with a non-empty
 * URL and an anchor string; hidden octets never exceed the input length. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mime.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_link *links = NULL;
	size_t n_links = 0, hidden = 0;
	struct buf text;
	int r;

	buf_init(&text, 4096);
	r = mime_html_to_text((const char *)data, size, &text, &links, &n_links, 8, 0, &hidden);
	if (text.len > 4096 || (r < 0 && size == 0) || n_links > 8 || hidden > size * 4)
		abort();
	for (size_t i = 0; i < n_links; i++) {
		if (links[i].url == NULL || links[i].url[0] == '\0' || links[i].anchor == NULL ||
		    links[i].tag < MIME_LINK_A || links[i].tag > MIME_LINK_AREA)
			abort();
		xfree(links[i].url);
		xfree(links[i].anchor);
	}
	xfree(links);
	buf_free(&text);
	return 0;
}
