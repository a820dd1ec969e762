/* test_phish.c: the phishing feed snapshot (OpenPhish and PhishTank CSV formats, the match
 * rules, hostile lines) and the role-side loader (files at start, reload swapping snapshots
 * while a reference to the old one is held). */
#include <ev.h>
#include <stdlib.h>

#include "config/config.h"
#include "filter/phish.h"
#include "filter/url.h"
#include "unit.h"

static enum phish_match
match(const struct phish_feed *f, const char *s)
{
	struct url u;
	const char *err;
	enum phish_match m;

	if (url_normalise(s, strlen(s), &u, &err) < 0)
		return (enum phish_match)-1;
	m = phish_feed_match(f, &u);
	url_free(&u);
	return m;
}

static void
test_openphish(void)
{
	const char *text = "# comment\n"
	    "https://mesdalu.app.br/\n"
	    "http://smartadtech.vercel.app/managermentloc/Landingpage/landingpage.html\n"
	    "http://termsbreach.vercel.app/3ae&25&93cf6=5a\r\n"
	    "https://x.example.com/dir/\n"
	    "http://q.example.org/a.php?id=7\n"
	    "\n   \n"
	    "not a url\n"
	    "ftp://files.example.com/\n";
	struct phish_feed *f = phish_feed_new();
	size_t skipped = 0, added = phish_feed_parse(f, text, strlen(text), &skipped);

	CHECK_INT(added, 5);
	CHECK_INT(skipped, 2);
	CHECK_INT(match(f, "http://smartadtech.vercel.app/managermentloc/Landingpage/landingpage.html"),
	    PHISH_MATCH_EXACT);
	CHECK_INT(match(f, "HTTPS://SMARTADTECH.vercel.app/managermentloc/Landingpage/landingpage.html"),
	    PHISH_MATCH_EXACT);	/* scheme and host case do not matter */
	CHECK_INT(match(f, "http://smartadtech.vercel.app/managermentloc/Landingpage/landingpage.html?u=1"),
	    PHISH_MATCH_NOQUERY);
	CHECK_INT(match(f, "http://smartadtech.vercel.app/managermentloc/landingpage/landingpage.html"),
	    PHISH_NO_MATCH);	/* paths are case-sensitive */
	CHECK_INT(match(f, "https://mesdalu.app.br/any/path"), PHISH_MATCH_HOST);
	CHECK_INT(match(f, "https://www.mesdalu.app.br/"), PHISH_NO_MATCH);
	CHECK_INT(match(f, "https://x.example.com/dir/sub/page.html"), PHISH_MATCH_PREFIX);
	CHECK_INT(match(f, "https://x.example.com/other/"), PHISH_NO_MATCH);
	CHECK_INT(match(f, "http://q.example.org/a.php?id=8"), PHISH_NO_MATCH);
	CHECK_INT(match(f, "http://q.example.org/a.php?id=7"), PHISH_MATCH_EXACT);
	CHECK_INT(match(f, "http://vercel.app/"), PHISH_NO_MATCH);
	CHECK_INT(match(f, "http://termsbreach.vercel.app/3ae&25&93cf6=5a"), PHISH_MATCH_EXACT);
	phish_feed_unref(&f);
	CHECK(f == NULL, "unref did not NULL the pointer");
}

static void
test_phishtank_csv(void)
{
	const char *text = "phish_id,url,phish_detail_url,submission_time,verified\n"
	    "123,http://pt1.example.com/login,http://www.phishtank.com/phish_detail.php?phish_id=123,"
	    "2024-01-01T00:00:00+00:00,yes\n"
	    "124,\"http://pt2.example.com/a,b?x=\"\"y\"\"\",http://www.phishtank.com/x,t,yes\n"
	    "125,,x,y,z\n";
	struct phish_feed *f = phish_feed_new();
	size_t skipped = 0, added = phish_feed_parse(f, text, strlen(text), &skipped);

	CHECK_INT(added, 2);
	CHECK_INT(skipped, 1);
	CHECK_INT(match(f, "http://pt1.example.com/login"), PHISH_MATCH_EXACT);
	CHECK_INT(match(f, "http://pt2.example.com/a,b?x=\"y\""), PHISH_MATCH_EXACT);
	/* the detail page column is not a feed entry */
	CHECK_INT(match(f, "http://www.phishtank.com/phish_detail.php?phish_id=123"), PHISH_NO_MATCH);
	phish_feed_unref(&f);
}

static void
test_hostile_lines(void)
{
	struct buf b;
	struct phish_feed *f = phish_feed_new();
	size_t skipped = 0;

	buf_init(&b, 1 << 20);
	buf_append_str(&b, "http://");
	for (int i = 0; i < 20000; i++)
		buf_append_char(&b, 'a');
	buf_append_str(&b, ".example.com/\n\x01\x02\xff\n,,,,\nhttp://ok.example.com/\n");
	CHECK_INT(phish_feed_parse(f, b.data, b.len, &skipped), 1);
	CHECK_INT(phish_feed_count(f), 1);
	/* NUL inside the text: the line is not a URL, the rest still parses */
	CHECK_INT(phish_feed_parse(f, "http://a\0b.example.com/\nhttp://c.example.com/x\n", 48,
	    &skipped), 1);
	phish_feed_unref(&f);
	buf_free(&b);
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		return;
	fputs(text, fp);
	fclose(fp);
}

static void
test_loader_reload(void)
{
	char dir[] = "/tmp/test_phish.XXXXXX", p1[128], p2[128], conf[512];
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct mg_config *c1, *c2;
	struct phish_feed *held, *now;
	const char *err = NULL;

	if (mkdtemp(dir) == NULL)
		return;
	snprintf(p1, sizeof(p1), "%s/a.txt", dir);
	snprintf(p2, sizeof(p2), "%s/b.txt", dir);
	write_file(p1, "http://one.example.com/x\n");
	write_file(p2, "http://two.example.com/y\nhttp://three.example.com/z\n");
	snprintf(conf, sizeof(conf), "config_version = 1\nphishing_feed = %s\n", p1);
	c1 = config_parse_text("t.conf", conf, strlen(conf), stderr);
	snprintf(conf, sizeof(conf), "config_version = 1\nphishing_feed = %s\nphishing_feed = %s\n",
	    p1, p2);
	c2 = config_parse_text("t.conf", conf, strlen(conf), stderr);
	CHECK(c1 != NULL && c2 != NULL, "config refused");
	if (c1 == NULL || c2 == NULL)
		return;
	CHECK_INT(phish_init(loop, c1, &err), 0);
	held = phish_current();
	CHECK(held != NULL && phish_feed_count(held) == 1, "first snapshot");
	phish_reload(c2);
	/* the loader thread builds the new snapshot; the old one serves meanwhile */
	now = phish_current();
	for (int i = 0; i < 200 && now == held; i++) {
		phish_feed_unref(&now);
		ev_run(loop, EVRUN_ONCE);
		now = phish_current();
	}
	CHECK(now != NULL && now != held && phish_feed_count(now) == 3, "reloaded snapshot");
	/* the old snapshot stays usable while referenced */
	CHECK_INT(match(held, "http://one.example.com/x"), PHISH_MATCH_EXACT);
	CHECK_INT(match(now, "http://three.example.com/z"), PHISH_MATCH_EXACT);
	phish_feed_unref(&held);
	phish_feed_unref(&now);
	phish_fini();
	CHECK(phish_current() == NULL, "snapshot left after fini");
	config_free(&c1);
	config_free(&c2);
	unlink(p1);
	unlink(p2);
	rmdir(dir);
	ev_loop_destroy(loop);
}

static const struct unit_case cases[] = {
	{ "openphish", test_openphish },
	{ "phishtank_csv", test_phishtank_csv },
	{ "hostile_lines", test_hostile_lines },
	{ "loader_reload", test_loader_reload },
};
UNIT_MAIN(cases)
