#ifndef FILTER_TOKENS_H
#define FILTER_TOKENS_H
/* The learning layers' tokeniser (issue D; filter/tokens.c, pure, any thread): turns a parsed
 * message (common/mime.h) into
 *   - Bayes tokens: words of the UTF-8 text (lower-cased, 2..TOKEN_WORD_MAX octets, longer ones
 *     as "skip:" shape tokens, numbers bucketed by length), word bigrams, header tokens (Subject
 *     words, From / Reply-To / Message-ID domains, From display-name words, X-Mailer words,
 *     Content-Type of every part, charsets, the Received: count) and URL parts (host, registered
 *     domain, path words);
 *   - neural features: the Bayes tokens plus hashed character 4-grams of the subject, the
 *     first TOKEN_4GRAM_TEXT_MAX octets of the text and the first TOKEN_4GRAM_HEADER_MAX of the
 *     header section (collectors' fields left out), and structural features (HTML/text ratio,
 *     images, attachments, hidden text, MIME flags, link counts), each bucketed.
 * Every token carries a prefix naming its source ("s:" subject, "u:" URL host, ...) so the same
 * word in two places is two tokens. Bounded: at most TOKENS_MAX tokens and TOKEN_FEATURES_MAX
 * features per message; the text read is bounded by MIME_TEXT_MAX already.
 * Hashes are 64-bit FNV-1a of the token octets: stable across versions and machines, since the
 * Bayes store (filter/bayes.c) keeps them as keys. */
#include <stddef.h>
#include <stdint.h>

#include "common/mime.h"

#define TOKENS_MAX 3000			/* Bayes tokens per message (before deduplication) */
#define TOKEN_WORD_MAX 24		/* octets of a word kept as itself; longer -> "skip:" */
#define TOKEN_LEN_MAX 96		/* octets of any token, prefix included */
#define TOKEN_4GRAM_TEXT_MAX 6000	/* octets of text whose character 4-grams are features */
#define TOKEN_4GRAM_HEADER_MAX 1500	/* octets of the header section whose 4-grams count */
#define TOKEN_FEATURES_MAX 16000	/* neural features per message */

/* Called once per token (not deduplicated); tok is not NUL-terminated. */
typedef void tokens_fn(void *arg, const char *tok, size_t len);

/* Emits the Bayes tokens of m through fn, at most TOKENS_MAX. Returns the number emitted. */
size_t tokens_each(const struct mime_msg *m, tokens_fn *fn, void *arg);

/* A deduplicated, sorted set of token hashes. */
struct token_set {
	uint64_t *h;
	size_t n, cap;
};

/* Fills set (emptied first; free with token_set_free) with the distinct hashes of m's tokens. */
void tokens_hash_set(const struct mime_msg *m, struct token_set *set);
void token_set_free(struct token_set *set);

/* Sorts v ascending (radix sort; allocates n words of scratch). */
void tokens_sort_u32(uint32_t *v, size_t n);

/* 64-bit FNV-1a. */
uint64_t tokens_hash(const void *p, size_t len);

/* Emits the neural features of m (not the other layers' symbols: the caller adds those with
 * prefix "y:") through fn with their hashes; value is the feature's weight before
 * normalisation (1 for presence). At most TOKEN_FEATURES_MAX. Returns the number emitted. */
typedef void tokens_feature_fn(void *arg, uint64_t hash, float value);
size_t tokens_features(const struct mime_msg *m, tokens_feature_fn *fn, void *arg);

#endif
