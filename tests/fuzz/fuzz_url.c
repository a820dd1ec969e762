/* fuzz_url.c: libFuzzer target for URL extraction and normalisation (filter/url_extract.c) and
 * the phishing feed parser (filter/phish_feed.c): the input is scanned as message text, each
 * line is normalised as a link and as an anchor text, and the whole input is parsed as a feed
 * whose entries are matched against the URLs found. Accepted URLs must keep the normal form's
 * invariants (http/https scheme, lower-case host of [a-z0-9._-], bounded length). */
#include <assert.h>
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter/phish.h"
#include "filter/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_url(const struct url *u)
{
	size_t hl = strlen(u->host);

	assert(strncmp(u->norm, "http://", 7) == 0 || strncmp(u->norm, "https://", 8) == 0);
	assert(hl > 0 && hl <= URL_HOST_MAX);
	for (size_t i = 0; i < hl; i++)
		assert(islower((unsigned char)u->host[i]) || isdigit((unsigned char)u->host[i]) ||
		    u->host[i] == '.' || u->host[i] == '-' || u->host[i] == '_');
	assert(strncmp(u->norm + u->key_off, u->host, hl) == 0);
	assert(u->query_off <= strlen(u->norm));
	assert(strlen(u->norm) <= 3 * URL_LEN_MAX + URL_HOST_MAX + 16);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct url_set set = { 0 };
	struct phish_feed *f = phish_feed_new();
	char host[URL_HOST_MAX + 1];

	url_extract_text(p, size, &set);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl != NULL ? nl : end) - p);
		char *anchor = strndup(p, n);	/* anchors are C strings (mime_link.anchor) */

		assert(anchor != NULL);
		(void)url_set_add(&set, p, n, anchor, URL_F_HTML);
		free(anchor);
		if (url_text_host(p, n, host, sizeof(host)))
			assert(strlen(host) > 0);
		p = nl != NULL ? nl + 1 : end;
	}
	assert(set.n <= URL_PER_MSG_MAX);
	(void)phish_feed_parse(f, (const char *)data, size, NULL);
	for (size_t i = 0; i < set.n; i++) {
		check_url(&set.v[i]);
		(void)phish_feed_match(f, &set.v[i]);
	}
	phish_feed_unref(&f);
	url_set_free(&set);
	return 0;
}
