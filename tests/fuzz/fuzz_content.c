/* fuzz_content.c: libFuzzer target for content_check's structural layer (filter/content.c:
 * MIME flags, body shapes, Date/Message-ID checks and the Received anomalies of
 * check_received) and the URL layer's offline checks, on a whole hostile message, with the
 * learning, feed, DNS and attachment layers off (they have their own targets or need state).
 * Invariants: no crash or sanitizer report; the symbols kept never exceed FILTER_SYM_MAX and
 * the total is finite. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "filter/content.h"
#include "filter/filter_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct filter_score score;
	struct content_ctx c;

	memset(&score, 0, sizeof(score));
	memset(&c, 0, sizeof(c));
	c.disabled = MG_LAYER_PHISHING | MG_LAYER_SUSPICIOUS_TLD | MG_LAYER_URIBL |
	    MG_LAYER_ATTACHMENTS | MG_LAYER_BAYES | MG_LAYER_NEURAL;
	c.msg = (const char *)data;
	c.len = size;
	c.score = &score;
	content_check(&c);
	if (score.n > FILTER_SYM_MAX || !isfinite(score.total))
		abort();
	return 0;
}
