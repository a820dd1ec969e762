/* fuzz_tokens.c: libFuzzer target for the learning layers' tokeniser and features
 * (filter/tokens.c, neural.c) on a parsed message: tokens_each, tokens_hash_set,
 * neural_vec_build. The input is a whole message. Invariants: no crash or sanitizer report; at
 * most TOKENS_MAX tokens, each at most TOKEN_LEN_MAX octets; the hash set is sorted and unique;
 * the feature vector is sorted, unique and inside the weight table. */
#include <stdint.h>
#include <stdlib.h>

#include "common/mime.h"
#include "filter/neural.h"
#include "filter/tokens.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
tok(void *arg, const char *t, size_t len)
{
	(void)t;
	if (len == 0 || len > TOKEN_LEN_MAX)
		abort();
	(*(size_t *)arg)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_msg *m = mime_parse((const char *)data, size, NULL);
	struct token_set set = { NULL, 0, 0 };
	struct neural_vec v = { NULL, 0, 0 };
	const char *syms[2] = { "MIME_HTML_ONLY", "BAYES_SPAM_99" };
	size_t n = 0;

	if (tokens_each(m, tok, &n) != n || n > TOKENS_MAX)
		abort();
	tokens_hash_set(m, &set);
	for (size_t i = 1; i < set.n; i++)
		if (set.h[i - 1] >= set.h[i])
			abort();
	neural_vec_build(m, syms, 2, NEURAL_BITS_MIN, &v);
	if (v.n > TOKEN_FEATURES_MAX + 2)
		abort();
	for (size_t i = 0; i < v.n; i++)
		if (v.idx[i] >= (1u << NEURAL_BITS_MIN) || (i > 0 && v.idx[i - 1] >= v.idx[i]))
			abort();
	token_set_free(&set);
	neural_vec_free(&v);
	mime_msg_free(&m);
	return 0;
}
