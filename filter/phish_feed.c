/* phish_feed.c: one immutable phishing-feed snapshot: the URLs of every configured source,
 * normalised like message URLs (filter/url_extract.c) and kept in an open-addressing hash set
 * of tagged keys: "E host[:port]/path[?query]" for every entry, "H host[:port]" for whole-site
 * entries (path "/" and no query) and "P host[:port]/dir/" for entries whose path ends in '/'.
 * Feed text is hostile (downloaded): parsed line by line, lines over URL_LEN_MAX skipped, at most
 * PHISH_ENTRIES_MAX keys. Built by one thread, then only read (any thread); the reference count
 * is atomic. */
#include <ctype.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#include "filter/phish.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

struct phish_feed {
	atomic_int refs;
	char **slot;		/* cap slots, NULL = empty */
	size_t cap, n;
	size_t urls;		/* distinct feed URLs ("E" keys) */
};

static unsigned long
key_hash(const char *p, size_t len)
{
	unsigned long h = 1469598103934665603UL;	/* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211UL;
	}
	return h;
}

struct phish_feed *
phish_feed_new(void)
{
	struct phish_feed *f = xcalloc(1, sizeof(*f));

	atomic_init(&f->refs, 1);
	f->cap = 1024;
	f->slot = xcalloc(f->cap, sizeof(*f->slot));
	return f;
}

static void
set_grow(struct phish_feed *f)
{
	size_t ncap = f->cap * 2;
	char **ns = xcalloc(ncap, sizeof(*ns));

	for (size_t i = 0; i < f->cap; i++) {
		if (f->slot[i] == NULL)
			continue;
		size_t j = key_hash(f->slot[i], strlen(f->slot[i])) & (ncap - 1);
		while (ns[j] != NULL)
			j = (j + 1) & (ncap - 1);
		ns[j] = f->slot[i];
	}
	xfree(f->slot);
	f->slot = ns;
	f->cap = ncap;
}

static int
set_has(const struct phish_feed *f, const char *k, size_t len)
{
	size_t j = key_hash(k, len) & (f->cap - 1);

	while (f->slot[j] != NULL) {
		if (strncmp(f->slot[j], k, len) == 0 && f->slot[j][len] == '\0')
			return 1;
		j = (j + 1) & (f->cap - 1);
	}
	return 0;
}

/* Adds a key; 1 if new, 0 if present or the set is full. */
static int
set_add(struct phish_feed *f, const char *k, size_t len)
{
	size_t j;

	if (set_has(f, k, len) || f->n >= PHISH_ENTRIES_MAX)
		return 0;
	if ((f->n + 1) * 2 > f->cap)
		set_grow(f);
	j = key_hash(k, len) & (f->cap - 1);
	while (f->slot[j] != NULL)
		j = (j + 1) & (f->cap - 1);
	f->slot[j] = xstrndup(k, len);
	f->n++;
	return 1;
}

/* Builds "T rest" in b (tag T, rest = len octets of p). */
static void
tagged(struct buf *b, char tag, const char *p, size_t len)
{
	buf_reset(b);
	buf_append_char(b, tag);
	buf_append_char(b, ' ');
	buf_append(b, p, len);
}

static int
feed_add_url(struct phish_feed *f, const char *line, size_t len, struct buf *b)
{
	struct url u;
	const char *err, *key;
	size_t klen, plen;
	int added;

	if (url_normalise(line, len, &u, &err) < 0)
		return -1;
	key = u.norm + u.key_off;
	klen = strlen(key);
	tagged(b, 'E', key, klen);
	added = set_add(f, b->data, b->len);
	f->urls += (size_t)added;
	plen = u.query_off - u.key_off;		/* host[:port]/path */
	if (u.norm[u.query_off] == '\0' && key[plen - 1] == '/') {
		const char *slash = memchr(key, '/', plen);
		if ((size_t)(slash - key) == plen - 1)
			tagged(b, 'H', key, plen - 1);
		else
			tagged(b, 'P', key, plen);
		(void)set_add(f, b->data, b->len);
	}
	url_free(&u);
	return added;
}

/* RFC 4180 field idx of a CSV line into out; 0, or -1 if the line has fewer fields. */
static int
csv_field(const char *p, size_t len, size_t idx, struct buf *out)
{
	size_t i = 0, field = 0;

	buf_reset(out);
	while (i <= len) {
		int quoted = i < len && p[i] == '"';
		if (quoted)
			i++;
		while (i < len) {
			if (quoted && p[i] == '"') {
				if (i + 1 < len && p[i + 1] == '"') {
					if (field == idx)
						buf_append_char(out, '"');
					i += 2;
					continue;
				}
				quoted = 0;
				i++;
				continue;
			}
			if (!quoted && p[i] == ',')
				break;
			if (field == idx)
				buf_append_char(out, p[i]);
			i++;
		}
		if (field == idx)
			return 0;
		field++;
		i++;
	}
	return -1;
}

/* The index of the "url" column if line is a PhishTank CSV header, else -1. */
static long
csv_url_column(const char *p, size_t len, struct buf *tmp)
{
	if (memchr(p, ',', len) == NULL)
		return -1;
	for (size_t i = 0; i < 64; i++) {
		if (csv_field(p, len, i, tmp) < 0)
			return -1;
		if (strcasecmp(tmp->data != NULL ? tmp->data : "", "url") == 0)
			return (long)i;
	}
	return -1;
}

size_t
phish_feed_parse(struct phish_feed *f, const char *text, size_t len, size_t *skipped_r)
{
	struct buf b, field;
	size_t added = 0, skipped = 0;
	long col = -2;		/* -2 = format not known yet, -1 = one URL a line */
	const char *p = text, *end = text + len;

	buf_init(&b, URL_LEN_MAX + 64);
	buf_init(&field, URL_LEN_MAX + 64);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (nl != NULL ? nl : end) - p;
		const char *line = p;
		int rc;

		p = nl != NULL ? nl + 1 : end;
		while (n > 0 && isspace((unsigned char)line[n - 1]))
			n--;
		while (n > 0 && isspace((unsigned char)*line)) {
			line++;
			n--;
		}
		if (n == 0 || *line == '#')
			continue;
		if (n > URL_LEN_MAX * 4) {
			skipped++;
			continue;
		}
		if (col == -2 && (col = csv_url_column(line, n, &field)) >= 0)
			continue;	/* the header line */
		if (col >= 0) {
			if (csv_field(line, n, (size_t)col, &field) < 0 || field.len == 0) {
				skipped++;
				continue;
			}
			rc = feed_add_url(f, field.data, field.len, &b);
		} else {
			rc = feed_add_url(f, line, n, &b);
		}
		if (rc < 0)
			skipped++;
		else
			added += (size_t)rc;
	}
	buf_free(&b);
	buf_free(&field);
	if (skipped_r != NULL)
		*skipped_r += skipped;
	return added;
}

size_t
phish_feed_count(const struct phish_feed *f)
{
	return f->urls;
}

enum phish_match
phish_feed_match(const struct phish_feed *f, const struct url *u)
{
	char k[3 * URL_LEN_MAX + URL_HOST_MAX + 32];	/* a normalised URL (path octets may
							 * have become %XX) plus the tag */
	const char *key = u->norm + u->key_off;
	size_t klen = strlen(key), plen = u->query_off - u->key_off, host_len, nprefix = 0;

	if (klen + 3 > sizeof(k))
		return PHISH_NO_MATCH;
	k[0] = 'E';
	k[1] = ' ';
	memcpy(k + 2, key, klen);
	if (set_has(f, k, klen + 2))
		return PHISH_MATCH_EXACT;
	if (plen < klen && set_has(f, k, plen + 2))
		return PHISH_MATCH_NOQUERY;
	host_len = (size_t)((const char *)memchr(key, '/', plen) - key);
	k[0] = 'H';
	if (set_has(f, k, host_len + 2))
		return PHISH_MATCH_HOST;
	k[0] = 'P';
	for (size_t i = host_len + 1; i < plen && nprefix < PHISH_PREFIXES_MAX; i++) {
		if (key[i] != '/')
			continue;
		nprefix++;
		if (set_has(f, k, i + 1 + 2))
			return PHISH_MATCH_PREFIX;
	}
	return PHISH_NO_MATCH;
}

struct phish_feed *
phish_feed_ref(struct phish_feed *f)
{
	if (f != NULL)
		atomic_fetch_add(&f->refs, 1);
	return f;
}

void
phish_feed_unref(struct phish_feed **fp)
{
	struct phish_feed *f = *fp;

	*fp = NULL;
	if (f == NULL || atomic_fetch_sub(&f->refs, 1) != 1)
		return;
	for (size_t i = 0; i < f->cap; i++)
		xfree(f->slot[i]);
	xfree(f->slot);
	xfree(f);
}
