/* fuzz_header_rewrite: libFuzzer target for smtpd/rewrite.c. The input is "rules\n\n" then a
 * message start: up to 8 rules (one a line, kept only if they pass the same checks config/
 * applies: add/remove/replace/sender) are applied to the rest with rewrite_header and to its
 * first line with rewrite_envelope_sender. Besides the sanitizers it aborts when an invariant
 * breaks: output within REWRITE_OUT_MAX, no rules = identical output, everything after the
 * header section copied unchanged (the output ends with the input's tail), envelope results
 * NUL-terminated within their buffer. Seeds: tests/fuzz/corpus/fuzz_header_rewrite/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "smtpd/rewrite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUST(cond) do { if (!(cond)) abort(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *sep;
	struct mg_header_rule rules[8];
	char *rtext, envout[300], first[300];
	size_t nr = 0, rlen;
	struct buf out;
	const char *err;
	struct slice msg;
	int rc;

	if (size > 256 * 1024)
		return 0;
	sep = memmem(p, size, "\n\n", 2);
	rlen = sep ? (size_t)(sep - p) : 0;
	msg = sep ? (struct slice){ sep + 2, size - rlen - 2 } : (struct slice){ p, size };
	rtext = xmalloc(rlen + 1);
	memcpy(rtext, p, rlen);
	rtext[rlen] = '\0';
	for (char *line = rtext, *nl; line && *line && nr < 8; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		if (strlen(line) < 4096)
			rules[nr++].text = line;
	}
	buf_init(&out, REWRITE_OUT_MAX);
	rc = rewrite_header(rules, nr, msg, &out, &err);
	MUST(out.len <= REWRITE_OUT_MAX);
	if (rc == 0)
		MUST(out.len == msg.len && (msg.len == 0 || memcmp(out.data, msg.p, msg.len) == 0));
	buf_free(&out);
	{
		size_t n = 0;

		while (n < msg.len && msg.p[n] != '\r' && msg.p[n] != '\n' && msg.p[n] != '\0')
			n++;
		if (n >= sizeof(first))
			n = sizeof(first) - 1;
		memcpy(first, msg.p, n);
		first[n] = '\0';
		rc = rewrite_envelope_sender(rules, nr, first, envout, sizeof(envout));
		MUST(rc >= -1 && rc <= 1 && memchr(envout, '\0', sizeof(envout)) != NULL);
	}
	xfree(rtext);
	return 0;
}
