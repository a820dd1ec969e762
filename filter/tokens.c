/* tokens.c: the tokeniser of the learning layers (Bayes, neural): words, bigrams, header and URL
 * tokens, character 4-grams and structural features of a parsed message (filter/tokens.h).
 * Pure and I/O-free; runs on filter pool threads, in mailguardctl train and in the eval tool.
 * Input is hostile (decoded message text and header values): every loop is bounded by the
 * input's length and the TOKENS_MAX / TOKEN_FEATURES_MAX caps; tokens are built in fixed
 * TOKEN_LEN_MAX buffers, never written back into the message. */
#include "filter/tokens.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filter/url.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define URLS_MAX 64			/* links tokenised per message */
#define URL_PATH_WORDS_MAX 8		/* path words per link */
#define HDR_WORDS_MAX 32		/* words taken from one header field */

struct emitter {
	tokens_fn *fn;
	void *arg;
	size_t n;
};

uint64_t
tokens_hash(const void *p, size_t len)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* prefix + body, lower-cased, truncated to TOKEN_LEN_MAX. */
static void
emit(struct emitter *e, const char *prefix, const char *body, size_t len)
{
	char tok[TOKEN_LEN_MAX];
	size_t pl = strlen(prefix), n = 0;

	if (e->n >= TOKENS_MAX)
		return;
	for (size_t i = 0; i < pl && n < sizeof(tok); i++)
		tok[n++] = prefix[i];
	for (size_t i = 0; i < len && n < sizeof(tok); i++) {
		unsigned char c = (unsigned char)body[i];
		tok[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	e->fn(e->arg, tok, n);
	e->n++;
}

static int
is_word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c >= 0x80 || c == '\'' || c == '$' || c == '!' || c == '-' || c == '.' || c == ',' ||
	    c == '@' || c == '%' || c == '_';
}

static int
is_trim_char(unsigned char c)
{
	return c == '\'' || c == '-' || c == '.' || c == ',' || c == '_';
}

/* Next word of s[*pos..len): returns its length (0 at the end), start in *start_r. */
static size_t
next_word(const char *s, size_t len, size_t *pos, size_t *start_r)
{
	size_t i = *pos, b, end;

	for (;;) {
		while (i < len && !is_word_char((unsigned char)s[i]))
			i++;
		if (i >= len) {
			*pos = len;
			return 0;
		}
		b = i;
		while (i < len && is_word_char((unsigned char)s[i]))
			i++;
		end = i;
		while (b < end && is_trim_char((unsigned char)s[b]))
			b++;
		while (end > b && is_trim_char((unsigned char)s[end - 1]))
			end--;
		if (end - b >= 2 || (end - b == 1 && (s[b] == '$' || s[b] == '!'))) {
			*pos = i;
			*start_r = b;
			return end - b;
		}
	}
}

static int
is_number(const char *w, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!(w[i] >= '0' && w[i] <= '9') && w[i] != '.' && w[i] != ',')
			return 0;
	return 1;
}

/* One word with prefix: numbers become their length, long words their shape (SpamBayes'
 * "skip:c N" idea: the first octet and the length in steps of 10). */
static void
emit_word(struct emitter *e, const char *prefix, const char *w, size_t len)
{
	char shape[48];

	if (is_number(w, len)) {
		(void)str_fmt(shape, sizeof(shape), "%snum:%zu", prefix, len > 12 ? 12 : len);
		emit(e, shape, "", 0);
	} else if (len > TOKEN_WORD_MAX) {
		(void)str_fmt(shape, sizeof(shape), "%sskip:%c%zu", prefix,
		    (unsigned char)w[0] < 0x80 ? w[0] : '8', len / 10 * 10);
		emit(e, shape, "", 0);
	} else
		emit(e, prefix, w, len);
}

/* Words of s with prefix; bigrams too when bigram_prefix is not NULL. At most max words. */
static void
emit_words(struct emitter *e, const char *prefix, const char *bigram_prefix, const char *s,
    size_t len, size_t max)
{
	size_t pos = 0, start, wl, prev_start = 0, prev_len = 0, count = 0;
	char big[TOKEN_LEN_MAX];

	while (count < max && e->n < TOKENS_MAX && (wl = next_word(s, len, &pos, &start)) > 0) {
		emit_word(e, prefix, s + start, wl);
		if (bigram_prefix != NULL && prev_len > 0 && prev_len <= TOKEN_WORD_MAX &&
		    wl <= TOKEN_WORD_MAX) {
			size_t n = 0;
			memcpy(big, s + prev_start, prev_len);
			n = prev_len;
			big[n++] = ' ';
			memcpy(big + n, s + start, wl);
			n += wl;
			emit(e, bigram_prefix, big, n);
		}
		prev_start = start;
		prev_len = wl;
		count++;
	}
}

/* Domain of the first address in v (after the last '@' before '>' / space / end). */
static int
addr_domain(const char *v, const char **dom_r, size_t *len_r)
{
	const char *lt = strchr(v, '<'), *s = lt != NULL ? lt + 1 : v, *at = NULL, *p;

	for (p = s; *p != '\0' && *p != '>' && *p != ',' && !(lt == NULL && *p == ' '); p++)
		if (*p == '@')
			at = p;
	if (at == NULL || p - at - 1 <= 0)
		return -1;
	*dom_r = at + 1;
	*len_r = (size_t)(p - at - 1);
	return 0;
}

/* Header fields added by whoever collected the mail, not by its sender or relays: their
 * presence says how a corpus was gathered, not what the mail is (SpamAssassin's own verdict
 * headers, the collector's delivery headers). */
static int
is_collector_header(const char *name)
{
	return strncasecmp(name, "X-Spam", 6) == 0 || strcasecmp(name, "Delivered-To") == 0 ||
	    strcasecmp(name, "X-Original-To") == 0 || strcasecmp(name, "Status") == 0 ||
	    strcasecmp(name, "X-Status") == 0 || strcasecmp(name, "X-UID") == 0 ||
	    strcasecmp(name, "X-Keywords") == 0 || strcasecmp(name, "Lines") == 0;
}

/* Header names present ("hn:"), words of the first RECEIVED_MAX Received fields ("r:"), the
 * List-Id ("li:"), the number of To/Cc fields' addresses. Returns the Received count. */
#define HEADER_NAMES_MAX 64
#define RECEIVED_MAX 6
static size_t
emit_header_fields(struct emitter *e, const struct mime_part *p)
{
	size_t rcv = 0, names = 0;

	for (size_t i = 0; i < p->n_headers && e->n < TOKENS_MAX; i++) {
		const char *n = p->headers[i].name, *v = p->headers[i].value;

		if (n == NULL || v == NULL || is_collector_header(n))
			continue;
		if (names++ < HEADER_NAMES_MAX)
			emit(e, "hn:", n, strlen(n));
		if (strcasecmp(n, "Received") == 0 && rcv++ < RECEIVED_MAX)
			emit_words(e, "r:", NULL, v, strcspn(v, ";"), HDR_WORDS_MAX);
		else if (strcasecmp(n, "List-Id") == 0)
			emit_words(e, "li:", NULL, v, strlen(v), 4);
		else if (strcasecmp(n, "To") == 0 || strcasecmp(n, "Cc") == 0) {
			size_t at = 0;
			char t[32];
			for (const char *c = v; *c != '\0'; c++)
				at += *c == '@';
			(void)str_fmt(t, sizeof(t), "%s:%zu", n, at > 9 ? 10 : at);
			emit(e, "to:", t, strlen(t));
		} else if (strcasecmp(n, "X-Priority") == 0 || strcasecmp(n, "Precedence") == 0 ||
		    strcasecmp(n, "X-MSMail-Priority") == 0 || strcasecmp(n, "Importance") == 0) {
			char t[TOKEN_LEN_MAX];
			(void)str_fmt(t, sizeof(t), "hv:%s:%.32s", n, v);
			emit(e, t, "", 0);
		}
	}
	return rcv;
}

static void
emit_header_tokens(struct emitter *e, const struct mime_msg *m)
{
	const char *v, *fd = NULL, *rd;
	size_t fdl = 0, rdl, rcv = 0;

	if (m->subject != NULL)
		emit_words(e, "s:", NULL, m->subject, strlen(m->subject), HDR_WORDS_MAX);
	else
		emit(e, "s:none", "", 0);
	if (m->from != NULL) {
		const char *lt = strchr(m->from, '<');
		if (addr_domain(m->from, &fd, &fdl) == 0)
			emit(e, "fd:", fd, fdl);
		if (lt != NULL)
			emit_words(e, "fn:", NULL, m->from, (size_t)(lt - m->from), 8);
	}
	if ((v = mime_header_get(m, 0, "Reply-To")) != NULL && addr_domain(v, &rd, &rdl) == 0)
		emit(e, fd != NULL && rdl == fdl && strncasecmp(rd, fd, fdl) == 0 ?
		    "rt:same" : "rt:other", "", 0);
	if ((v = mime_header_get(m, 0, "Message-ID")) != NULL && addr_domain(v, &rd, &rdl) == 0)
		emit(e, "mid:", rd, rdl);
	else
		emit(e, v == NULL ? "mid:none" : "mid:bad", "", 0);
	if ((v = mime_header_get(m, 0, "X-Mailer")) != NULL ||
	    (v = mime_header_get(m, 0, "User-Agent")) != NULL)
		emit_words(e, "xm:", NULL, v, strlen(v), 4);
	if (m->n_parts > 0)
		rcv = emit_header_fields(e, &m->parts[0]);
	{
		char t[32];
		(void)str_fmt(t, sizeof(t), "rcv:%zu", rcv > 9 ? 10 : rcv);
		emit(e, t, "", 0);
	}
}

static void
emit_part_tokens(struct emitter *e, const struct mime_msg *m)
{
	for (size_t i = 0; i < m->n_parts && e->n < TOKENS_MAX; i++) {
		const struct mime_part *p = &m->parts[i];
		char t[TOKEN_LEN_MAX];

		(void)str_fmt(t, sizeof(t), "ct:%s/%s", p->type, p->subtype);
		emit(e, t, "", 0);
		if (p->charset[0] != '\0')
			emit(e, "cs:", p->charset, strlen(p->charset));
		if (p->encoding[0] != '\0')
			emit(e, "cte:", p->encoding, strlen(p->encoding));
		if (p->filename != NULL) {
			const char *dot = strrchr(p->filename, '.');
			if (dot != NULL && strlen(dot + 1) <= 8)
				emit(e, "ax:", dot + 1, strlen(dot + 1));
			else
				emit(e, "ax:none", "", 0);
		}
	}
}

/* Registered domain, approximately: the last two labels, three when the second-level label is
 * a short generic one under a two-letter TLD (co.uk, com.au). Exact PSL matching is the URL
 * layer's job; a token only needs to be stable. */
static void
emit_url_host(struct emitter *e, const char *h, size_t hl)
{
	size_t dots[3] = { 0, 0, 0 }, nd = 0, start = 0;
	int ip = 1;

	for (size_t i = 0; i < hl; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || h[i] == '.'))
			ip = 0;
	if (ip || (hl > 0 && h[0] == '[')) {
		emit(e, "u:ip", "", 0);
		return;
	}
	emit(e, "u:", h, hl);
	for (size_t i = hl; i-- > 0 && nd < 3;)
		if (h[i] == '.')
			dots[nd++] = i;
	if (nd >= 2) {
		start = dots[1] + 1;
		if (hl - dots[0] - 1 == 2 && dots[0] - dots[1] - 1 <= 3)
			start = nd >= 3 ? dots[2] + 1 : 0;
		emit(e, "ud:", h + start, hl - start);
	}
}

/* URLs of HTML links and of the text, normalised by the URL layer's extractor (filter/url.h):
 * host, registered domain, path words. */
static void
emit_url_tokens(struct emitter *e, const struct mime_msg *m)
{
	struct url_set set;

	memset(&set, 0, sizeof(set));
	url_extract_msg(m, &set);
	for (size_t i = 0; i < set.n && i < URLS_MAX && e->n < TOKENS_MAX; i++) {
		const struct url *u = &set.v[i];
		const char *path = u->norm + u->key_off;

		if (u->flags & URL_F_IP)
			emit(e, "u:ip", "", 0);
		else
			emit_url_host(e, u->host, strlen(u->host));
		path += strcspn(path, "/");
		emit_words(e, "up:", NULL, path, strlen(path), URL_PATH_WORDS_MAX);
	}
	url_set_free(&set);
}

size_t
tokens_each(const struct mime_msg *m, tokens_fn *fn, void *arg)
{
	struct emitter e = { fn, arg, 0 };

	emit_header_tokens(&e, m);
	emit_part_tokens(&e, m);
	emit_url_tokens(&e, m);
	emit_words(&e, "", "b:", m->text.data != NULL ? m->text.data : "", m->text.len,
	    TOKENS_MAX);
	return e.n;
}

/* ---- hashed sets ---- */

static void
collect_hash(void *arg, const char *tok, size_t len)
{
	struct token_set *s = arg;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->h = xreallocarray(s->h, s->cap, sizeof(*s->h));
	}
	s->h[s->n++] = tokens_hash(tok, len);
}

/* Turns a radix pass's 256 bucket counts into each bucket's first output index. */
static void
counts_to_offsets(size_t count[256])
{
	size_t sum = 0;

	for (size_t b = 0; b < 256; b++) {
		size_t c = count[b];
		count[b] = sum;
		sum += c;
	}
}

/* LSD radix sorts, 8 bits per pass: the feature and token sets are thousands of integers per
 * message and qsort was a third of the learning layers' CPU. */
void
tokens_sort_u32(uint32_t *v, size_t n)
{
	uint32_t *tmp, *src = v, *dst;
	size_t count[256];

	if (n < 2)
		return;
	dst = tmp = xreallocarray(NULL, n, sizeof(*tmp));
	for (unsigned shift = 0; shift < 32; shift += 8) {
		memset(count, 0, sizeof(count));
		for (size_t i = 0; i < n; i++)
			count[(src[i] >> shift) & 0xff]++;
		counts_to_offsets(count);
		for (size_t i = 0; i < n; i++)
			dst[count[(src[i] >> shift) & 0xff]++] = src[i];
		uint32_t *t = src;
		src = dst;
		dst = t;
	}
	/* four passes: the result is back in v */
	xfree(tmp);
}

static void
sort_u64(uint64_t *v, size_t n)
{
	uint64_t *tmp, *src = v, *dst;
	size_t count[256];

	if (n < 2)
		return;
	dst = tmp = xreallocarray(NULL, n, sizeof(*tmp));
	for (unsigned shift = 0; shift < 64; shift += 8) {
		memset(count, 0, sizeof(count));
		for (size_t i = 0; i < n; i++)
			count[(src[i] >> shift) & 0xff]++;
		counts_to_offsets(count);
		for (size_t i = 0; i < n; i++)
			dst[count[(src[i] >> shift) & 0xff]++] = src[i];
		uint64_t *t = src;
		src = dst;
		dst = t;
	}
	/* eight passes: the result is back in v */
	xfree(tmp);
}

void
tokens_hash_set(const struct mime_msg *m, struct token_set *set)
{
	size_t w = 0;

	set->n = 0;
	(void)tokens_each(m, collect_hash, set);
	if (set->n == 0)
		return;
	sort_u64(set->h, set->n);
	for (size_t i = 0; i < set->n; i++)
		if (w == 0 || set->h[w - 1] != set->h[i])
			set->h[w++] = set->h[i];
	set->n = w;
}

void
token_set_free(struct token_set *set)
{
	xfree(set->h);
	memset(set, 0, sizeof(*set));
}

/* ---- neural features ---- */

struct fctx {
	tokens_feature_fn *fn;
	void *arg;
	size_t n;
};

static void
feature(struct fctx *f, uint64_t h, float v)
{
	if (f->n >= TOKEN_FEATURES_MAX)
		return;
	f->fn(f->arg, h, v);
	f->n++;
}

static void
feature_tok(void *arg, const char *tok, size_t len)
{
	feature(arg, tokens_hash(tok, len), 1.0f);
}

static void
feature_str(struct fctx *f, const char *name, size_t bucket)
{
	char t[64];

	(void)str_fmt(t, sizeof(t), "st:%s=%zu", name, bucket);
	feature(f, tokens_hash(t, strlen(t)), 1.0f);
}

/* floor(log2(n + 1)): buckets 0, 1, 2-3, 4-7, ... */
static size_t
log_bucket(size_t n)
{
	size_t b = 0;

	for (n++; n > 1; n >>= 1)
		b++;
	return b;
}

static void
structural_features(struct fctx *f, const struct mime_msg *m)
{
	size_t text = m->text.len;

	feature_str(f, "html", m->html_parts > 3 ? 3 : m->html_parts);
	feature_str(f, "plain", m->text_parts > 3 ? 3 : m->text_parts);
	feature_str(f, "img", m->images > 4 ? 4 : m->images);
	feature_str(f, "att", m->attachments > 4 ? 4 : m->attachments);
	feature_str(f, "parts", log_bucket(m->n_parts));
	feature_str(f, "links", log_bucket(m->n_links));
	feature_str(f, "text", log_bucket(text));
	feature_str(f, "htmlratio", text > 0 ? m->html_text_len * 10 / text : 11);
	feature_str(f, "hidden", log_bucket(m->html_hidden_len));
	if (text > 0)
		feature_str(f, "hiddenratio", m->html_hidden_len * 10 / text);
	for (unsigned bit = 0; bit < 16; bit++)
		if (m->flags & (1u << bit))
			feature_str(f, "flag", bit);
	if (m->html_parts > 0 && m->text_parts == m->html_parts && text < 64)
		feature_str(f, "htmlnotext", 1);
}

/* Character 4-grams (the TREC spam track's byte 4-gram features): ASCII lower-cased,
 * whitespace runs folded to one space, at most max octets per source. */
struct fourgram {
	struct fctx *f;
	unsigned char win[6];	/* prefix octet pair + the 4-gram */
	size_t have;
	int prev_space;
};

static void
fourgram_feed(struct fourgram *g, const char *s, size_t len, size_t max)
{
	size_t used = 0;

	for (size_t i = 0; i < len && used < max; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			if (g->prev_space)
				continue;
			c = ' ';
			g->prev_space = 1;
		} else
			g->prev_space = 0;
		if (c >= 'A' && c <= 'Z')
			c += 32;
		used++;
		memmove(g->win + 2, g->win + 3, 3);
		g->win[5] = c;
		if (++g->have >= 4)
			feature(g->f, tokens_hash(g->win, sizeof(g->win)), 1.0f);
	}
}

static void
fourgram_features(struct fctx *f, const struct mime_msg *m)
{
	struct fourgram g = { f, { '4', ':', 0, 0, 0, 0 }, 0, 1 };
	size_t hdr = 0;

	if (m->subject != NULL)
		fourgram_feed(&g, m->subject, strlen(m->subject), 256);
	fourgram_feed(&g, "\n", 1, 1);
	fourgram_feed(&g, m->text.data != NULL ? m->text.data : "", m->text.len,
	    TOKEN_4GRAM_TEXT_MAX);
	/* the header section has its own prefix: "from" in a header is not "from" in the text */
	g.win[0] = 'H';
	g.have = 0;
	for (size_t i = 0; m->n_parts > 0 && i < m->parts[0].n_headers &&
	    hdr < TOKEN_4GRAM_HEADER_MAX; i++) {
		const struct mime_header *h = &m->parts[0].headers[i];
		size_t nl, vl;

		if (h->name == NULL || h->value == NULL || is_collector_header(h->name))
			continue;
		nl = strlen(h->name);
		vl = strlen(h->value);
		fourgram_feed(&g, h->name, nl, TOKEN_4GRAM_HEADER_MAX - hdr);
		fourgram_feed(&g, ": ", 2, 2);
		fourgram_feed(&g, h->value, vl, TOKEN_4GRAM_HEADER_MAX - hdr);
		fourgram_feed(&g, "\n", 1, 1);
		hdr += nl + vl + 3;
	}
}

size_t
tokens_features(const struct mime_msg *m, tokens_feature_fn *fn, void *arg)
{
	struct fctx f = { fn, arg, 0 };

	feature(&f, tokens_hash("bias", 4), 1.0f);
	structural_features(&f, m);
	(void)tokens_each(m, feature_tok, &f);
	fourgram_features(&f, m);
	return f.n;
}
