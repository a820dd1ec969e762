/* test_tokens.c: the learning layers' tokeniser (filter/tokens.c) on small parsed messages:
 * word rules, header and URL tokens, bigrams, caps, 4-gram and structural features. */
#include "unit.h"

#include "common/mime.h"
#include "filter/tokens.h"
#include "lib/xalloc.h"

struct toks {
	char t[4096][TOKEN_LEN_MAX + 1];
	size_t n;
};

static struct toks got;

static void
collect(void *arg, const char *tok, size_t len)
{
	struct toks *t = arg;

	if (t->n < 4096) {
		memcpy(t->t[t->n], tok, len);
		t->t[t->n][len] = '\0';
		t->n++;
	}
}

static int
has(const char *tok)
{
	for (size_t i = 0; i < got.n; i++)
		if (strcmp(got.t[i], tok) == 0)
			return 1;
	return 0;
}

static void
tokenise(const char *msg)
{
	struct mime_msg *m = mime_parse(msg, strlen(msg), NULL);

	got.n = 0;
	(void)tokens_each(m, collect, &got);
	mime_msg_free(&m);
}

static const char MSG[] =
	"Received: from mx.example.net (mx.example.net [192.0.2.1]) by us; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	"From: \"Cheap Pills\" <offers@Spammy.Example.COM>\r\n"
	"Reply-To: other@elsewhere.example\r\n"
	"Subject: FREE money now\r\n"
	"Message-ID: <abc@host.example.org>\r\n"
	"X-Mailer: SuperMailer 5.1\r\n"
	"X-Spam-Status: Yes, score=99\r\n"
	"Content-Type: text/plain; charset=us-ascii\r\n"
	"\r\n"
	"Hello Friend, you WON 1000000 dollars. Click http://www.deals.example.co.uk/win/big-prize?id=7\r\n"
	"supercalifragilisticexpialidocious-and-more\r\n";

static void
test_words(void)
{
	tokenise(MSG);
	CHECK(has("hello"), "lower-cased word");
	CHECK(has("friend"), "trailing comma trimmed");
	CHECK(has("won"), "caps word lower-cased");
	CHECK(has("num:7"), "number bucketed by length");
	CHECK(!has("1000000"), "number kept as itself");
	CHECK(has("skip:s40"), "long word as its shape");
	CHECK(has("b:hello friend"), "bigram");
}

static void
test_headers(void)
{
	tokenise(MSG);
	CHECK(has("s:free") && has("s:money"), "subject words");
	CHECK(has("fd:spammy.example.com"), "From domain lower-cased");
	CHECK(has("fn:cheap") && has("fn:pills"), "From display name words");
	CHECK(has("rt:other"), "Reply-To domain differs from From");
	CHECK(has("mid:host.example.org"), "Message-ID domain");
	CHECK(has("xm:supermailer"), "X-Mailer words");
	CHECK(has("ct:text/plain") && has("cs:us-ascii"), "part type and charset");
	CHECK(has("rcv:1"), "Received count");
	CHECK(has("r:mx.example.net"), "Received words");
	CHECK(has("hn:x-mailer"), "header names");
	CHECK(!has("hn:x-spam-status"), "collector header left out");
}

static void
test_urls(void)
{
	tokenise(MSG);
	CHECK(has("u:www.deals.example.co.uk"), "URL host");
	CHECK(has("ud:example.co.uk"), "registered domain under a ccSLD");
	CHECK(has("up:win") && has("up:big-prize"), "URL path words");
}

static void
test_no_headers(void)
{
	tokenise("\r\nbody only\r\n");
	CHECK(has("s:none"), "missing subject token");
	CHECK(has("mid:none"), "missing Message-ID token");
	CHECK(has("body") && has("only"), "body words");
}

static void
test_bounded(void)
{
	size_t n = 200000, count;
	char *big = xmalloc(n * 6 + 64);
	struct mime_msg *m;
	struct token_set set = { NULL, 0, 0 };

	memcpy(big, "Subject: x\r\n\r\n", 14);
	for (size_t i = 0; i < n; i++)
		memcpy(big + 14 + i * 6, (i % 2) ? "abcd " : "wxyz ", 6);
	big[14 + n * 6 - 1] = '\0';
	m = mime_parse(big, strlen(big), NULL);
	got.n = 0;
	count = tokens_each(m, collect, &got);
	CHECK(count <= TOKENS_MAX, "tokens %zu over TOKENS_MAX", count);
	tokens_hash_set(m, &set);
	CHECK(set.n <= count, "set %zu larger than the tokens", set.n);
	for (size_t i = 1; i < set.n; i++)
		CHECK(set.h[i - 1] < set.h[i], "set not sorted and unique at %zu", i);
	token_set_free(&set);
	mime_msg_free(&m);
	xfree(big);
}

static size_t n_features;
static uint64_t fourgram_hash;
static int saw_fourgram;

static void
count_feature(void *arg, uint64_t h, float v)
{
	(void)arg;
	(void)v;
	n_features++;
	if (h == fourgram_hash)
		saw_fourgram = 1;
}

static void
test_features(void)
{
	struct mime_msg *m = mime_parse(MSG, strlen(MSG), NULL);
	unsigned char g[6] = { '4', ':', 'h', 'e', 'l', 'l' };

	fourgram_hash = tokens_hash(g, sizeof(g));
	n_features = 0;
	saw_fourgram = 0;
	(void)tokens_features(m, count_feature, NULL);
	CHECK(saw_fourgram, "4-gram \"hell\" of the text");
	CHECK(n_features > 100 && n_features <= TOKEN_FEATURES_MAX, "features %zu", n_features);
	mime_msg_free(&m);
}

static void
test_hash_stable(void)
{
	/* the Bayes store keeps these hashes: they must never change */
	CHECK(tokens_hash("", 0) == 0xcbf29ce484222325ULL, "FNV-1a offset basis");
	CHECK(tokens_hash("a", 1) == 0xaf63dc4c8601ec8cULL, "FNV-1a of \"a\"");
}

static const struct unit_case cases[] = {
	{ "words", test_words },
	{ "headers", test_headers },
	{ "urls", test_urls },
	{ "no_headers", test_no_headers },
	{ "bounded", test_bounded },
	{ "features", test_features },
	{ "hash_stable", test_hash_stable },
};

UNIT_MAIN(cases)
