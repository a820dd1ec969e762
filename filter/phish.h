#ifndef FILTER_PHISH_H
#define FILTER_PHISH_H
/* Phishing feeds (issue D), internal to filter/. phish_feed.c: the immutable snapshot (a hash
 * set of normalised feed URLs, pure, any thread). phish.c: the role's current snapshot, built
 * from the `phishing_feed` sources at start and reload (loop thread), refreshed every
 * `phishing_feed_refresh` on a loader thread (files read, http(s) sources fetched with
 * libcurl), published by a pointer swap under a mutex; workers hold counted references. */
#include <stddef.h>

#include "config/config.h"
#include "filter/url.h"

struct ev_loop;

/* Hard limits of a feed: every source together keeps at most PHISH_ENTRIES_MAX URLs; a source
 * larger than PHISH_SOURCE_MAX octets is refused (kept at its previous content); lines longer
 * than URL_LEN_MAX are skipped. */
#define PHISH_ENTRIES_MAX 2000000
#define PHISH_SOURCE_MAX (256L * 1024 * 1024)
#define PHISH_PREFIXES_MAX 32		/* path prefixes of one message URL looked up */

struct phish_feed;

/* Match kinds, in the order phish_feed_match tries them. */
enum phish_match {
	PHISH_NO_MATCH = 0,
	PHISH_MATCH_EXACT,	/* host[:port]/path?query as listed (scheme ignored) */
	PHISH_MATCH_NOQUERY,	/* the URL without its query is listed */
	PHISH_MATCH_HOST,	/* the host is listed as a whole site ("http://host/") */
	PHISH_MATCH_PREFIX,	/* a listed "http://host/dir/" is a prefix of the URL's path */
};

struct phish_feed *phish_feed_new(void);
/* Adds the URLs of one source text: OpenPhish format (one URL a line, '#' comments, blank lines)
 * or PhishTank CSV (a header line naming a "url" column; RFC 4180 quoting). Lines that are not
 * http(s) URLs are skipped and counted in *skipped_r (may be NULL). Returns the URLs added. */
size_t phish_feed_parse(struct phish_feed *f, const char *text, size_t len, size_t *skipped_r);
/* Distinct feed URLs in the set. */
size_t phish_feed_count(const struct phish_feed *f);
/* The first rule that matches u (a normalised URL), or PHISH_NO_MATCH. Any thread, concurrently
 * on one snapshot. */
enum phish_match phish_feed_match(const struct phish_feed *f, const struct url *u);
/* Reference counting (any thread): a new feed holds one reference. */
struct phish_feed *phish_feed_ref(struct phish_feed *f);
void phish_feed_unref(struct phish_feed **f);

/* ---- phish.c: the role's snapshot ---- */

/* Loads every source of cfg (files read; URL sources fetched once, synchronously, with a short
 * timeout) and starts the refresh timer. A source that cannot be read is logged and skipped:
 * a missing feed never stops the filter. Loop thread. */
int phish_init(struct ev_loop *loop, const struct mg_config *cfg, const char **error_r);
/* Applies a new configuration: when the source list changed, the loader thread builds the new
 * snapshot (the old one serves until then; a reload during a refresh is applied after it);
 * re-arms the timer. Loop thread. */
void phish_reload(const struct mg_config *cfg);
/* Stops the timer, waits for a running refresh, drops the snapshot. Loop thread. */
void phish_fini(void);
/* The current snapshot with a reference (NULL if no feed is configured). Any thread. */
struct phish_feed *phish_current(void);

#endif
