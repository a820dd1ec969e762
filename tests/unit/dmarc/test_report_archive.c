/* Unit tests for dmarc/report_archive.c in a temporary directory: reports archived under two
 * domains are read back by the one directory walk (every domain, one domain, a callback that
 * stops it with an error), files that are not archive files are passed over, and expiry
 * deletes only files older than now - retention (a missing archive directory expires
 * nothing and is no error). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"
#include "unit_tmpdir.h"

#include "dmarc/dmarc.h"
#include "lib/xalloc.h"

static const char XML_FMT[] =
    "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>Org A</org_name>"
    "<email>a@a.test</email><report_id>%s</report_id><date_range><begin>1700000000</begin>"
    "<end>1700086399</end></date_range></report_metadata><policy_published><domain>example.com"
    "</domain><p>reject</p></policy_published>"
    "<record><row><source_ip>192.0.2.1</source_ip><count>3</count><policy_evaluated>"
    "<disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>"
    "<identifiers><header_from>example.com</header_from></identifiers></record></feedback>";

struct seen {
	int n, stop_after;
	char domains[4][64];
};

static int
seen_fn(void *arg, const char *domain, const char *xml, size_t len, long long mtime)
{
	struct seen *s = arg;

	CHECK(len > 0 && strstr(xml, "<feedback>") != NULL, "xml of %s", domain);
	CHECK(mtime > 0, "mtime");
	if (s->n < 4)
		snprintf(s->domains[s->n], sizeof(s->domains[0]), "%s", domain);
	s->n++;
	return s->stop_after > 0 && s->n >= s->stop_after ? -1 : 0;
}

static void
archive(struct mg_rarchive *a, const char *domain, const char *id)
{
	char xml[2048];
	struct mg_report_err e;
	struct mg_report *r;
	const char *err = NULL;

	snprintf(xml, sizeof(xml), XML_FMT, id);
	r = mg_report_parse_xml(xml, strlen(xml), NULL, &e);
	CHECK(r != NULL, "parse: %s", e.text);
	if (r == NULL)
		return;
	CHECK_INT(mg_rarchive_put(a, domain, r, xml, strlen(xml), &err), 1);
	CHECK_INT(mg_rarchive_put(a, domain, r, xml, strlen(xml), &err), 0);
	mg_report_free(&r);
}

static void
test_walk_and_expire(void)
{
	char dir[PATH_MAX], junk[PATH_MAX + 64];
	struct mg_rarchive *a;
	struct seen s;
	const char *err = NULL;
	size_t bad = 0, removed = 0;
	long long now = (long long)time(NULL);
	FILE *f;

	mg_report_init();
	if (unit_tmpdir("test_report_archive", "walk", "arch", dir, sizeof(dir)) == NULL)
		return;
	a = mg_rarchive_open(dir, &err);
	CHECK(a != NULL, "open: %s", err ? err : "-");
	if (a == NULL)
		return;
	archive(a, "example.com", "r1");
	archive(a, "example.com", "r2");
	archive(a, "example.net", "r1");
	/* not archive files: a stray file in a domain directory, a directory not a domain name */
	snprintf(junk, sizeof(junk), "%s/example.com/notes.txt", dir);
	if ((f = fopen(junk, "w")) != NULL) {
		fputs("x\n", f);
		fclose(f);
	}
	snprintf(junk, sizeof(junk), "%s/Not_A_Domain", dir);
	CHECK_INT(mkdir(junk, 0700), 0);

	memset(&s, 0, sizeof(s));
	CHECK_INT(mg_rarchive_scan(a, NULL, seen_fn, &s, &bad), 3);
	CHECK_INT(s.n, 3);
	CHECK_INT(bad, 0);
	memset(&s, 0, sizeof(s));
	CHECK_INT(mg_rarchive_scan(a, "example.net", seen_fn, &s, &bad), 1);
	CHECK_STR(s.domains[0], "example.net");
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;	/* the callback's -1 stops the walk */
	CHECK_INT(mg_rarchive_scan(a, NULL, seen_fn, &s, &bad), -1);
	CHECK_INT(s.n, 2);

	/* everything was archived just now: a day's retention keeps it, two days later not */
	CHECK_INT(mg_rarchive_expire(a, now, 86400, &removed), 0);
	CHECK_INT(removed, 0);
	CHECK_INT(mg_rarchive_expire(a, now + 2 * 86400, 86400, &removed), 0);
	CHECK_INT(removed, 3);
	memset(&s, 0, sizeof(s));
	CHECK_INT(mg_rarchive_scan(a, NULL, seen_fn, &s, &bad), 0);
	snprintf(junk, sizeof(junk), "%s/example.com/notes.txt", dir);
	CHECK(access(junk, F_OK) == 0, "a stray file is not expired");

	unit_tmpdir_remove(dir);
	CHECK_INT(mg_rarchive_expire(a, now, 86400, &removed), 0);	/* ENOENT: nothing to do */
	CHECK_INT(mg_rarchive_scan(a, NULL, seen_fn, &s, &bad), -1);
	mg_rarchive_free(&a);
}

static const struct unit_case cases[] = {
	{ "walk_and_expire", test_walk_and_expire },
};

UNIT_MAIN(cases)
