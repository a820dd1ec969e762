/* phish.c: the filter role's phishing-feed snapshot. At start and on reload the loop thread
 * reads the `phishing_feed` files and builds the snapshot at once (so the first message is
 * already checked); http(s) sources, reloads that change the source list (a 1M-URL feed takes
 * ~2 s to build) and every periodic refresh (`phishing_feed_refresh`, an ev_timer) run on one
 * loader thread that reads the files and downloads the URLs with libcurl
 * (http/https only, no redirects, certificate verified, 10 s connect / 60 s total, at most
 * PHISH_SOURCE_MAX octets), builds a new snapshot and hands it to the loop with ev_async. The
 * loop publishes it by swapping one pointer under a mutex; workers take counted references
 * (phish_current), so a snapshot in use is never freed under them. A source that fails keeps its
 * previous content. Feed text is hostile: parsed by phish_feed.c within its limits. */
#include <curl/curl.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filter/phish.h"
#include "lib/log.h"
#include "lib/xalloc.h"

struct source {
	char *name;		/* as configured */
	char *path;		/* absolute path, or NULL for a URL */
	char *text;		/* last good content (owned by whoever runs the refresh) */
	size_t len;
};

static struct {
	pthread_mutex_t mu;		/* guards cur */
	struct phish_feed *cur;
	struct ev_loop *loop;
	ev_timer timer;
	ev_async done;
	pthread_t th;
	int busy;			/* the loader thread runs; it owns src[] meanwhile */
	int want_urls_only;		/* loader: 1 = URL sources only (start, reload) */
	atomic_int stop;		/* set by phish_fini: running downloads abort */
	char **pending;			/* sources of a reload that came while busy */
	size_t n_pending;
	char *pending_dir;
	struct source *src;
	size_t n_src;
	struct phish_feed *built;	/* loader's result, taken by the loop in done_cb */
	long long refresh;
	int curl_ok;
} ph = { .mu = PTHREAD_MUTEX_INITIALIZER };

static int
is_url(const char *s)
{
	return strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0;
}

static int
read_file(const char *path, char **text_r, size_t *len_r, const char **err_r)
{
	struct stat st;
	char *p;
	size_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		*err_r = strerror(errno);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > PHISH_SOURCE_MAX) {
		*err_r = "not a regular file of at most 256 MiB";
		close(fd);
		return -1;
	}
	p = xmalloc((size_t)st.st_size + 1);
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, p + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	p[off] = '\0';
	*text_r = p;
	*len_r = off;
	return 0;
}

struct body {
	char *p;
	size_t len, cap;
};

static size_t
body_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;

	if (b->len + n > PHISH_SOURCE_MAX)
		return 0;	/* aborts the transfer */
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 65536;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static int
fetch_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
    curl_off_t ulnow)
{
	(void)arg;
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(&ph.stop) ? 1 : 0;	/* non-zero aborts the transfer */
}

/* Downloads url (loader thread only). */
static int
fetch_url(const char *url, char **text_r, size_t *len_r, char *err, size_t errsize)
{
	CURL *c = curl_easy_init();
	struct body b = { NULL, 0, 0 };
	char errbuf[CURL_ERROR_SIZE] = "";
	long code = 0;
	CURLcode rc;

	if (c == NULL) {
		snprintf(err, errsize, "curl_easy_init failed");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)PHISH_SOURCE_MAX);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "MailGuard phishing feed");
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, fetch_progress);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK || code != 200) {
		snprintf(err, errsize, "%s", rc != CURLE_OK ? (errbuf[0] ? errbuf :
		    curl_easy_strerror(rc)) : "HTTP status not 200");
		xfree(b.p);
		return -1;
	}
	*text_r = b.p != NULL ? b.p : xstrdup("");
	*len_r = b.len;
	return 0;
}

/* Reads or downloads source s into its cache (kept on failure). */
static void
source_refresh(struct source *s)
{
	char *text = NULL, err[CURL_ERROR_SIZE + 64] = "";
	const char *e = NULL;
	size_t len = 0;
	int rc;

	if (s->path != NULL) {
		rc = read_file(s->path, &text, &len, &e);
		if (rc < 0)
			snprintf(err, sizeof(err), "%s", e);
	} else {
		rc = ph.curl_ok ? fetch_url(s->name, &text, &len, err, sizeof(err)) : -1;
		if (!ph.curl_ok)
			snprintf(err, sizeof(err), "libcurl unavailable");
	}
	if (rc < 0) {
		log_warn("filter: phishing feed %s: %s; keeping %zu octets read before", s->name,
		    err, s->len);
		return;
	}
	xfree(s->text);
	s->text = text;
	s->len = len;
}

static struct phish_feed *
build(void)
{
	struct phish_feed *f = phish_feed_new();
	size_t skipped = 0;

	for (size_t i = 0; i < ph.n_src; i++)
		if (ph.src[i].text != NULL)
			(void)phish_feed_parse(f, ph.src[i].text, ph.src[i].len, &skipped);
	log_info("filter: phishing feed loaded: %zu entries from %zu sources, %zu lines skipped",
	    phish_feed_count(f), ph.n_src, skipped);
	return f;
}

static void
publish(struct phish_feed *f)
{
	struct phish_feed *old;

	pthread_mutex_lock(&ph.mu);
	old = ph.cur;
	ph.cur = f;
	pthread_mutex_unlock(&ph.mu);
	phish_feed_unref(&old);
}

static void *
loader_main(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < ph.n_src; i++)
		if (!ph.want_urls_only || ph.src[i].path == NULL)
			source_refresh(&ph.src[i]);
	ph.built = build();
	ev_async_send(ph.loop, &ph.done);
	return NULL;
}

static void
loader_start(int urls_only)
{
	if (ph.busy || ph.n_src == 0)
		return;
	ph.want_urls_only = urls_only;
	ph.busy = 1;
	if (pthread_create(&ph.th, NULL, loader_main, NULL) != 0) {
		log_err("filter: phishing feed: cannot start the loader thread");
		ph.busy = 0;
	}
}

static void sources_set(char *const *names, size_t n_names, const char *dir, int sync);

static void
done_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	if (!ph.busy)
		return;
	pthread_join(ph.th, NULL);
	ph.busy = 0;
	if (ph.pending != NULL) {
		/* a reload changed the sources meanwhile: this result is stale */
		char **names = ph.pending, *dir = ph.pending_dir;
		size_t n = ph.n_pending;

		phish_feed_unref(&ph.built);
		ph.pending = NULL;
		ph.pending_dir = NULL;
		ph.n_pending = 0;
		sources_set(names, n, dir, 0);
		for (size_t i = 0; i < n; i++)
			xfree(names[i]);
		xfree(names);
		xfree(dir);
		return;
	}
	publish(ph.built);
	ph.built = NULL;
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	loader_start(0);
}

static void
sources_free(void)
{
	for (size_t i = 0; i < ph.n_src; i++) {
		xfree(ph.src[i].name);
		xfree(ph.src[i].path);
		xfree(ph.src[i].text);
	}
	xfree(ph.src);
	ph.src = NULL;
	ph.n_src = 0;
}

static int
sources_equal(char *const *names, size_t n)
{
	if (n != ph.n_src)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], ph.src[i].name) != 0)
			return 0;
	return 1;
}

/* Replaces the source list (relative paths against dir). sync (start): the files are read and
 * the snapshot built on the loop, URL sources go to the loader; otherwise (reload: a big feed
 * takes seconds to build) everything goes to the loader and the old snapshot stays in use
 * until the new one is ready. Not while the loader runs (it owns src[]). */
static void
sources_set(char *const *names, size_t n_names, const char *dir, int sync)
{
	int urls = 0;

	sources_free();
	ph.src = xcalloc(n_names + 1, sizeof(*ph.src));
	ph.n_src = n_names;
	for (size_t i = 0; i < ph.n_src; i++) {
		const char *n = names[i];

		ph.src[i].name = xstrdup(n);
		if (is_url(n))
			urls = 1;
		else if (n[0] == '/' || dir == NULL)
			ph.src[i].path = xstrdup(n);
		else
			ph.src[i].path = xasprintf("%s/%s", dir, n);
		if (ph.src[i].path != NULL && sync)
			source_refresh(&ph.src[i]);
	}
	if (ph.n_src == 0)
		publish(NULL);
	else if (!sync)
		loader_start(0);
	else {
		publish(build());
		if (urls)
			loader_start(1);
	}
}

static void
pending_free(void)
{
	for (size_t i = 0; i < ph.n_pending; i++)
		xfree(ph.pending[i]);
	xfree(ph.pending);
	xfree(ph.pending_dir);
	ph.pending = NULL;
	ph.pending_dir = NULL;
	ph.n_pending = 0;
}

static void
timer_arm(const struct mg_config *cfg)
{
	ph.refresh = cfg->phishing_feed_refresh > 0 ? cfg->phishing_feed_refresh : 3600;
	ev_timer_stop(ph.loop, &ph.timer);
	if (ph.n_src > 0 || ph.n_pending > 0) {
		ev_timer_set(&ph.timer, (double)ph.refresh, (double)ph.refresh);
		ev_timer_start(ph.loop, &ph.timer);
	}
}

int
phish_init(struct ev_loop *loop, const struct mg_config *cfg, const char **error_r)
{
	(void)error_r;
	ph.loop = loop;
	ph.curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == 0;
	ev_timer_init(&ph.timer, timer_cb, 3600., 3600.);
	ev_async_init(&ph.done, done_cb);
	ev_async_start(loop, &ph.done);
	ev_unref(loop);		/* the async watcher alone must not keep the loop running */
	sources_set(cfg->phishing_feeds, cfg->n_phishing_feeds, cfg->dir, 1);
	timer_arm(cfg);
	return 0;
}

void
phish_reload(const struct mg_config *cfg)
{
	if (ph.loop == NULL)
		return;
	if (ph.busy) {
		/* the loader owns src[]: apply the new sources when it is done (done_cb) */
		pending_free();
		ph.pending = xcalloc(cfg->n_phishing_feeds + 1, sizeof(*ph.pending));
		for (size_t i = 0; i < cfg->n_phishing_feeds; i++)
			ph.pending[i] = xstrdup(cfg->phishing_feeds[i]);
		ph.n_pending = cfg->n_phishing_feeds;
		ph.pending_dir = cfg->dir != NULL ? xstrdup(cfg->dir) : NULL;
	} else if (!sources_equal(cfg->phishing_feeds, cfg->n_phishing_feeds)) {
		sources_set(cfg->phishing_feeds, cfg->n_phishing_feeds, cfg->dir, 0);
	}
	timer_arm(cfg);
}

void
phish_fini(void)
{
	if (ph.loop == NULL)
		return;
	ev_timer_stop(ph.loop, &ph.timer);
	atomic_store(&ph.stop, 1);	/* a running download aborts at its next progress call */
	if (ph.busy) {
		pthread_join(ph.th, NULL);
		ph.busy = 0;
		phish_feed_unref(&ph.built);
	}
	ev_ref(ph.loop);
	ev_async_stop(ph.loop, &ph.done);
	publish(NULL);
	sources_free();
	pending_free();
	atomic_store(&ph.stop, 0);
	if (ph.curl_ok)
		curl_global_cleanup();
	ph.loop = NULL;
}

struct phish_feed *
phish_current(void)
{
	struct phish_feed *f;

	pthread_mutex_lock(&ph.mu);
	f = phish_feed_ref(ph.cur);
	pthread_mutex_unlock(&ph.mu);
	return f;
}
