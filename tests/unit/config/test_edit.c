/* test_edit.c: the configuration editor (config/edit.h): byte-exact preservation of untouched
 * lines, set/append/multi/unset, values that would not read back, CRLF and missing final newline,
 * list entries compared canonically, file-name rules and limits, the overlay loader (added and
 * removed domains and lists, error names), cfg_commit (validation, stale versions, modes, nothing
 * written on refusal), every table setting set to its default and loaded back, and the
 * `mailguardctl config` commands. */
#include "unit.h"

#include <sys/stat.h>

#include "common/limits.h"
#include "config/edit.h"
#include "config/edit_int.h"
#include "config/settings.h"
#include "lib/buf.h"
#include "lib/str.h"
#include "lib/xalloc.h"

static char tmpl[64];
static const char *dir;

static void
put(const char *rel, const char *text, mode_t mode)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "w");
	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

/* The file's content ("<missing>" when absent), static. */
static const char *
get(const char *rel)
{
	static char out[65536];
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if ((f = fopen(path, "r")) == NULL)
		return "<missing>";
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	return out;
}

static mode_t
mode_of(const char *rel)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return stat(path, &st) == 0 ? st.st_mode & 07777 : 0;
}

static long
owner_of(const char *rel)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return stat(path, &st) == 0 ? (long)st.st_uid : -1;
}

static void
setup(void)
{
	char path[512];

	snprintf(tmpl, sizeof(tmpl), "/tmp/test_edit.XXXXXX");
	dir = mkdtemp(tmpl);
	if (dir == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/domains.d", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/lists", dir);
	mkdir(path, 0755);
	put("mailguard.conf", "config_version = 1\nstate_dir = /tmp\n", 0644);
	put("domains.d/a.example.conf", "transport = [127.0.0.1]:25\n", 0644);
}

static void
cleanup(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
}

static struct cfg_file *
open_text(const char *rel, const char *text)
{
	const char *err = NULL;
	struct cfg_file *f;

	put(rel, text, 0644);
	f = cfg_file_open(dir, rel, &err);
	CHECK(f != NULL, "open %s: %s", rel, err ? err : "?");
	return f;
}

#define TEXT(f) (cfg_file_text(f)->data ? cfg_file_text(f)->data : "")

static void
test_roundtrip(void)
{
	static const char *const text =
	    "# MailGuard\n"
	    "config_version = 1\n"
	    "\n"
	    "   # indented comment\n"
	    "listen   =   127.0.0.1:2525   # the port\n"
	    "this line is not a setting\n"
	    "max_recipients=100\n"
	    "\t\n"
	    "smtpd_banner = Hello # not a comment for text\n";
	struct cfg_file *f;
	const char *err = NULL;

	setup();
	f = open_text("mailguard.conf", text);
	if (f == NULL)
		goto out;
	CHECK_STR(TEXT(f), text);
	CHECK_STR(cfg_get(f, "listen"), "127.0.0.1:2525");
	CHECK_STR(cfg_get(f, "max_recipients"), "100");
	CHECK_STR(cfg_get(f, "smtpd_banner"), "Hello # not a comment for text");
	CHECK(cfg_get(f, "hostname") == NULL, "hostname is set");
	CHECK_INT(strlen(cfg_file_version(f)), 64);
	/* in place, layout and trailing comment kept, every other byte untouched */
	CHECK_INT(cfg_set(f, "listen", "127.0.0.1:2600", &err), 0);
	CHECK_INT(cfg_set(f, "max_recipients", "250", &err), 0);
	CHECK_STR(TEXT(f), "# MailGuard\nconfig_version = 1\n\n   # indented comment\n"
	    "listen   =   127.0.0.1:2600   # the port\nthis line is not a setting\n"
	    "max_recipients=250\n\t\nsmtpd_banner = Hello # not a comment for text\n");
	/* a new key goes at the end */
	CHECK_INT(cfg_set(f, "hostname", "mx.example.org", &err), 0);
	CHECK(strstr(TEXT(f), "# not a comment for text\nhostname = mx.example.org\n") != NULL,
	    "append: %s", TEXT(f));
	/* '#' in a T_STRING value reads back; an empty value is written "key =" */
	CHECK_INT(cfg_set(f, "smtpd_banner", "ESMTP #1 # ok", &err), 0);
	CHECK_STR(cfg_get(f, "smtpd_banner"), "ESMTP #1 # ok");
	CHECK_INT(cfg_set(f, "hostname", "", &err), 0);
	CHECK(strstr(TEXT(f), "\nhostname =\n") != NULL, "empty: %s", TEXT(f));
	cfg_file_free(&f);
	CHECK(f == NULL, "cfg_file_free did not NULL");
out:
	cleanup();
}

static void
test_refusals(void)
{
	struct { const char *name, *key, *value, *want; } cases[] = {
		{ "unknown key", "no_such_key", "1", "unknown setting 'no_such_key'" },
		{ "domain key in global", "spam_reject", "5", "it is a per-domain setting" },
		{ "bad value", "max_recipients", "many", "expected an integer" },
		{ "out of range", "max_recipients", "0", "for max_recipients, found '0'" },
		{ "line break", "smtpd_banner", "a\nb", "found a line break" },
		{ "control byte", "smtpd_banner", "a\x01" "b", "found byte 0x01" },
		{ "leading blank", "smtpd_banner", " x", "reads back as written" },
		{ "trailing blank", "smtpd_banner", "x ", "reads back as written" },
		{ "comment in value", "hostname", "mx #x", "for hostname, found 'mx #x'" },
		{ "two values", "hostname", NULL, "expected one value for hostname, found 2" },
	};
	struct cfg_file *f;

	setup();
	f = open_text("mailguard.conf", "config_version = 1\nhostname = a.example\n");
	if (f == NULL)
		goto out;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *err = "", *two[] = { "a.example", "b.example" };
		int r = cases[i].value != NULL ? cfg_set(f, cases[i].key, cases[i].value, &err) :
		    cfg_set_multi(f, cases[i].key, two, 2, &err);

		CHECK(r == -1 && strstr(err, cases[i].want) != NULL, "%s: got %d '%s', want -1 '%s'",
		    cases[i].name, r, err, cases[i].want);
	}
	CHECK_STR(TEXT(f), "config_version = 1\nhostname = a.example\n");
	cfg_file_free(&f);
out:
	cleanup();
}

static void
test_multi_unset(void)
{
	const char *vals[] = { "a.example 3", "b.example 2 127.0.0.2" };
	const char *err = NULL;
	struct cfg_file *f;

	setup();
	f = open_text("mailguard.conf", "config_version = 1\nrbl = old.example 1\n# keep\n"
	    "rbl = old2.example 1\nmax_recipients = 5\nmax_recipients = 6\n");
	if (f == NULL)
		goto out;
	CHECK_INT(cfg_set_multi(f, "rbl", vals, 2, &err), 0);
	CHECK_STR(TEXT(f), "config_version = 1\nrbl = a.example 3\nrbl = b.example 2 127.0.0.2\n"
	    "# keep\nmax_recipients = 5\nmax_recipients = 6\n");
	CHECK_STR(cfg_get(f, "max_recipients"), "6");	/* the last line, as the loader */
	CHECK_INT(cfg_set(f, "max_recipients", "7", &err), 0);	/* duplicates go */
	CHECK_STR(TEXT(f), "config_version = 1\nrbl = a.example 3\nrbl = b.example 2 127.0.0.2\n"
	    "# keep\nmax_recipients = 7\n");
	CHECK_INT(cfg_unset(f, "rbl"), 1);
	CHECK_INT(cfg_unset(f, "rbl"), 0);
	CHECK_INT(cfg_set_multi(f, "max_recipients", NULL, 0, &err), 0);
	CHECK_STR(TEXT(f), "config_version = 1\n# keep\n");
	cfg_file_free(&f);
out:
	cleanup();
}

static void
test_crlf_final_newline(void)
{
	const char *err = NULL;
	struct cfg_file *f;

	setup();
	f = open_text("mailguard.conf", "config_version = 1\r\n# c\r\nmax_recipients = 5");
	if (f == NULL)
		goto out;
	CHECK_STR(TEXT(f), "config_version = 1\r\n# c\r\nmax_recipients = 5");	/* unchanged */
	CHECK_STR(cfg_get(f, "max_recipients"), "5");
	CHECK_INT(cfg_set(f, "hostname", "mx.example", &err), 0);
	CHECK_STR(TEXT(f), "config_version = 1\r\n# c\r\nmax_recipients = 5\r\n"
	    "hostname = mx.example\r\n");
	cfg_file_free(&f);
	f = open_text("mailguard.conf", "config_version = 1\nmax_recipients = 5\r");
	if (f == NULL)
		goto out;
	CHECK_INT(cfg_set(f, "max_recipients", "9", &err), 0);
	CHECK_STR(TEXT(f), "config_version = 1\nmax_recipients = 9\n");
	cfg_file_free(&f);
	/* a comment after an empty value stays a comment */
	f = open_text("mailguard.conf", "config_version = 1\nhostname = # later\n");
	if (f == NULL)
		goto out;
	CHECK_STR(cfg_get(f, "hostname"), "");
	CHECK_INT(cfg_set(f, "hostname", "mx.example", &err), 0);
	CHECK_STR(TEXT(f), "config_version = 1\nhostname = mx.example # later\n");
	CHECK_STR(cfg_get(f, "hostname"), "mx.example");
	cfg_file_free(&f);
out:
	cleanup();
}

static void
test_lists(void)
{
	const char *err = NULL, **entries;
	struct cfg_file *f;

	setup();
	f = open_text("lists/global.block", "# spammers\nUser@Example.ORG   # him\n"
	    "192.0.2.0/24\n*.Bad.example\n@Worse.Example\n2001:DB8::/32\n");
	if (f == NULL)
		goto out;
	CHECK_INT(cfg_list_entries(f, &entries), 5);
	CHECK_STR(entries[0], "User@Example.ORG");
	/* equal entries in another spelling are not added again */
	CHECK_INT(cfg_list_add(f, "user@example.org", &err), 0);
	CHECK_INT(cfg_list_add(f, " *.bad.EXAMPLE ", &err), 0);
	CHECK_INT(cfg_list_add(f, "2001:db8:0::/32", &err), 0);
	CHECK_INT(cfg_list_entries(f, &entries), 5);
	CHECK_INT(cfg_list_add(f, "10.0.0.1", &err), 0);
	CHECK_INT(cfg_list_entries(f, &entries), 6);
	CHECK_STR(entries[5], "10.0.0.1");
	CHECK_INT(cfg_list_add(f, "10.0.0.1/32", &err), 0);
	CHECK_INT(cfg_list_entries(f, &entries), 6);
	/* the loader's error text */
	CHECK_INT(cfg_list_add(f, "example.org", &err), -1);
	CHECK_STR(err, "expected an address, @domain, *.domain, IP address or network, found "
	    "'example.org' (a domain is written @domain (that domain) or *.domain (and its "
	    "subdomains))");
	CHECK_INT(cfg_list_add(f, "192.0.2.1/24", &err), -1);
	CHECK(strstr(err, "found '192.0.2.1/24'") != NULL, "cidr error: %s", err);
	CHECK_INT(cfg_list_add(f, "# comment", &err), -1);
	CHECK_INT(cfg_list_add(f, "a@b.example\nc@d.example", &err), -1);
	CHECK_INT(cfg_set(f, "hostname", "x", &err), -1);
	/* removal compares canonically, keeps comments */
	CHECK_INT(cfg_list_remove(f, "USER@example.org"), 1);
	CHECK_INT(cfg_list_remove(f, "@worse.example"), 1);
	CHECK_INT(cfg_list_remove(f, "*.worse.example"), 0);
	CHECK_INT(cfg_list_remove(f, "not valid"), 0);
	CHECK_STR(TEXT(f), "# spammers\n192.0.2.0/24\n*.Bad.example\n2001:DB8::/32\n10.0.0.1\n");
	cfg_file_free(&f);
out:
	cleanup();
}

static void
test_names_limits(void)
{
	static const char *const bad[] = { "../mailguard.conf", "domains.d/../x.conf",
		"domains.d/UPPER.example.conf", "domains.d/global.conf", "domains.d/a.example",
		"lists/a.example.txt", "lists/../../etc.allow", "other.conf", "domains.d/a/b.conf",
		"/etc/passwd", "", "lists/.allow", "lists/Global.allow" };
	static const char *const good[] = { "mailguard.conf", "domains.d/a-b.example.conf",
		"lists/global.allow", "lists/global.block", "lists/a.example.allow" };
	const char *err = NULL;
	struct cfg_file *f;
	struct buf big;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(cfg_rel_kind(bad[i]) < 0, "%s accepted", bad[i]);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(cfg_rel_kind(good[i]) >= 0, "%s refused", good[i]);
	setup();
	CHECK(cfg_file_open(dir, "../x", &err) == NULL, "opened ../x");
	/* a missing file is an empty edit with version "" */
	f = cfg_file_open(dir, "domains.d/new.example.conf", &err);
	CHECK(f != NULL && cfg_file_version(f)[0] == '\0' && cfg_file_text(f)->len == 0,
	    "missing file");
	cfg_file_free(&f);
	/* too many lines, too many bytes, a too long value */
	buf_init(&big, SIZE_MAX / 2);
	for (int i = 0; i <= CFG_EDIT_LINES_MAX; i++)
		buf_append_str(&big, "#\n");
	put("lists/global.allow", big.data, 0644);
	CHECK(cfg_file_open(dir, "lists/global.allow", &err) == NULL, "100001 lines opened");
	buf_reset(&big);
	while (big.len <= CFG_EDIT_FILE_MAX)
		buf_append_str(&big, "#########################################################\n");
	put("lists/global.allow", big.data, 0644);
	CHECK(cfg_file_open(dir, "lists/global.allow", &err) == NULL, "over 4 MiB opened");
	big.len = CFG_EDIT_FILE_MAX;	/* exactly the limit is fine */
	big.data[big.len - 1] = '\n';
	big.data[big.len] = '\0';
	put("lists/global.allow", big.data, 0644);
	f = cfg_file_open(dir, "lists/global.allow", &err);
	CHECK(f != NULL && cfg_file_text(f)->len == CFG_EDIT_FILE_MAX, "4 MiB file: %s", err);
	cfg_file_free(&f);
	buf_reset(&big);
	while (big.len <= CONFIG_LINE_MAX)
		buf_append_char(&big, 'x');
	f = open_text("mailguard.conf", "config_version = 1\n");
	if (f != NULL) {
		CHECK_INT(cfg_set(f, "smtpd_banner", big.data, &err), -1);
		CHECK(strstr(err, "expected a line of at most") != NULL, "long: %s", err);
		cfg_file_free(&f);
	}
	buf_free(&big);
	cleanup();
}

/* Loads dir with changes; returns the config, errors in *errs (static). */
static struct mg_config *
overlay(const struct cfg_change *c, size_t n, const char **errs)
{
	static char out[8192];
	FILE *fp = fmemopen(out, sizeof(out), "w");
	struct mg_config *cfg;

	memset(out, 0, sizeof(out));
	cfg = config_load_overlay(dir, c, n, fp);
	fclose(fp);
	*errs = out;
	return cfg;
}

static void
test_overlay(void)
{
	struct cfg_change add[] = {
		{ "domains.d/b.example.conf", "transport = [127.0.0.1]:26\n", 27, NULL },
		{ "lists/b.example.allow", "@friend.example\n", 16, NULL },
		{ "domains.d/a.example.conf", NULL, 0, NULL },
		{ "lists/a.example.allow", NULL, 0, NULL },
	};
	struct cfg_change bad[] = {
		{ "domains.d/c.example.conf", "transport = [127.0.0.1]:26\nspam_reject = x\n", 43,
			NULL },
		{ "lists/a.example.block", "not an entry\n", 13, NULL },
		{ "lists/a.example.allow", "@ok.example\n", 12, NULL },
	};
	struct mg_config *cfg;
	const char *errs;
	char want[1024];

	setup();
	put("lists/a.example.allow", "@x.example\n", 0644);
	cfg = overlay(add, 4, &errs);
	CHECK(cfg != NULL, "overlay: %s", errs);
	if (cfg != NULL) {
		CHECK_INT(cfg->n_domains, 1);
		CHECK_STR(cfg->domains[0].name, "b.example");
		CHECK_INT(cfg->domains[0].transport_port, 26);
		CHECK_INT(cfg->domains[0].allow.n, 1);
		config_free(&cfg);
	}
	/* the disk is untouched: a.example is still there, b.example is not */
	CHECK_STR(get("domains.d/b.example.conf"), "<missing>");
	/* the list of a deleted domain is an error, as the loader reports it */
	cfg = overlay(&add[2], 1, &errs);
	CHECK(cfg == NULL, "list of a removed domain accepted");
	snprintf(want, sizeof(want), "%s/lists/a.example.allow:0: expected a list file named after "
	    "a protected domain, found 'a.example' (there is no domains.d/a.example.conf)\n", dir);
	CHECK_STR(errs, want);
	config_free(&cfg);
	/* errors name the real files */
	cfg = overlay(bad, 3, &errs);
	CHECK(cfg == NULL, "bad overlay accepted");
	snprintf(want, sizeof(want), "%s/domains.d/c.example.conf:2: expected", dir);
	CHECK(strstr(errs, want) != NULL, "domain error: %s", errs);
	snprintf(want, sizeof(want), "%s/lists/a.example.block:1: expected an address", dir);
	CHECK(strstr(errs, want) != NULL, "list error: %s", errs);
	CHECK(strstr(errs, "a.example.allow") == NULL, "good file reported: %s", errs);
	config_free(&cfg);
	/* n = 0 is config_load */
	cfg = overlay(NULL, 0, &errs);
	CHECK(cfg != NULL && cfg->n_domains == 1 && cfg->domains[0].allow.n == 1, "plain load");
	config_free(&cfg);
	cleanup();
}

static void
test_commit(void)
{
	const char *err = NULL;
	struct cfg_file *f;
	struct cfg_change c;
	struct buf errors;
	static const char *const orig = "transport = [127.0.0.1]:25  # back-end\n# note\n";

	setup();
	buf_init(&errors, 65536);
	put("domains.d/a.example.conf", orig, 0600);
	f = cfg_file_open(dir, "domains.d/a.example.conf", &err);
	CHECK(f != NULL, "open: %s", err);
	if (f == NULL)
		goto out;
	/* a value the table accepts but cross-validation refuses: nothing written */
	CHECK_INT(cfg_set(f, "spam_reject", "20", &err), 0);
	CHECK_INT(cfg_set(f, "spam_quarantine", "30", &err), 0);
	c = (struct cfg_change){ cfg_file_rel(f), TEXT(f), cfg_file_text(f)->len,
		cfg_file_version(f) };
	CHECK_INT(cfg_commit(dir, &c, 1, &errors), -1);
	CHECK(strncmp(errors.data ? errors.data : "", "domains.d/a.example.conf:4: expected", 36)
	    == 0, "errors: %s", errors.data);
	CHECK_STR(get("domains.d/a.example.conf"), orig);
	/* valid: written, mode kept */
	CHECK_INT(cfg_set(f, "spam_quarantine", "10", &err), 0);
	c = (struct cfg_change){ cfg_file_rel(f), TEXT(f), cfg_file_text(f)->len,
		cfg_file_version(f) };
	buf_reset(&errors);
	CHECK_INT(cfg_commit(dir, &c, 1, &errors), 0);
	CHECK_STR(get("domains.d/a.example.conf"), "transport = [127.0.0.1]:25  # back-end\n"
	    "# note\nspam_reject = 20\nspam_quarantine = 10\n");
	CHECK_INT(mode_of("domains.d/a.example.conf"), 0600);
	/* the same version again is stale now */
	buf_reset(&errors);
	CHECK_INT(cfg_commit(dir, &c, 1, &errors), -1);
	CHECK_STR(errors.data, "domains.d/a.example.conf: changed since it was loaded; reload the "
	    "page\n");
	cfg_file_free(&f);
	/* a new file must not exist; it gets 0640; lists/ is created */
	{
		char path[512];

		snprintf(path, sizeof(path), "%s/lists", dir);
		CHECK_INT(rmdir(path), 0);
	}
	c = (struct cfg_change){ "lists/a.example.allow", "@x.example\n", 11, "" };
	buf_reset(&errors);
	CHECK_INT(cfg_commit(dir, &c, 1, &errors), 0);
	CHECK_STR(get("lists/a.example.allow"), "@x.example\n");
	CHECK_INT(mode_of("lists/a.example.allow"), 0644);	/* mailguard.conf is 0644 */
	buf_reset(&errors);
	CHECK_INT(cfg_commit(dir, &c, 1, &errors), -1);	/* exists now */
	/* 0640 when mailguard.conf is not world-readable; owner and group follow it (root only) */
	put("mailguard.conf", "config_version = 1\nstate_dir = /tmp\n", 0640);
	if (geteuid() == 0) {
		char path[512];

		snprintf(path, sizeof(path), "%s/mailguard.conf", dir);
		CHECK_INT(chown(path, 65534, 65534), 0);
	}
	c = (struct cfg_change){ "lists/global.block", "@y.example\n", 11, "" };
	buf_reset(&errors);
	CHECK_INT(cfg_commit(dir, &c, 1, &errors), 0);
	CHECK_INT(mode_of("lists/global.block"), 0640);
	CHECK_INT(owner_of("lists/global.block"), geteuid() == 0 ? 65534 : geteuid());
	/* a rewrite keeps the owner it had */
	c = (struct cfg_change){ "lists/global.block", "@z.example\n", 11, NULL };
	buf_reset(&errors);
	CHECK_INT(cfg_commit(dir, &c, 1, &errors), 0);
	CHECK_STR(get("lists/global.block"), "@z.example\n");
	CHECK_INT(owner_of("lists/global.block"), geteuid() == 0 ? 65534 : geteuid());
	/* bad names, duplicates, deleting mailguard.conf */
	{
		struct cfg_change bad[] = {
			{ "../evil", "x", 1, NULL },
			{ "mailguard.conf", NULL, 0, NULL },
			{ "lists/global.allow", "", 0, NULL },
			{ "lists/global.allow", "", 0, NULL },
		};

		buf_reset(&errors);
		CHECK_INT(cfg_commit(dir, bad, 4, &errors), -1);
		CHECK(strstr(errors.data, "../evil: expected a configuration file name") &&
		    strstr(errors.data, "mailguard.conf: expected a file, the change deletes it") &&
		    strstr(errors.data, "lists/global.allow: expected once"), "errors: %s",
		    errors.data);
		CHECK_STR(get("lists/global.allow"), "<missing>");
	}
	/* remove a domain with its list in one change (lists go first) */
	{
		struct cfg_change rm[] = {
			{ "domains.d/a.example.conf", NULL, 0, NULL },
			{ "lists/a.example.allow", NULL, 0, NULL },
		};

		buf_reset(&errors);
		CHECK_INT(cfg_commit(dir, rm, 2, &errors), 0);
		CHECK_STR(get("domains.d/a.example.conf"), "<missing>");
		CHECK_STR(get("lists/a.example.allow"), "<missing>");
	}
out:
	buf_free(&errors);
	cleanup();
}

/* Every setting of the table, set to its default text (or a valid value where it has none),
 * must read back exactly and load to the same value as the default. */
static void
test_all_defaults(void)
{
	struct buf errors, want, got;

	setup();
	buf_init(&errors, 65536);
	buf_init(&want, SIZE_MAX / 2);
	buf_init(&got, SIZE_MAX / 2);
	for (size_t i = 0; i < config_n_settings; i++) {
		const struct setting *s = &config_settings[i];
		const char *rel = s->scope == SCOPE_GLOBAL ? "mailguard.conf" :
		    "domains.d/a.example.conf";
		const char *v = s->def ? s->def : strcmp(s->name, "config_version") == 0 ? "1" :
		    strcmp(s->name, "transport") == 0 ? "[127.0.0.1]:25" : NULL;
		const char *err = NULL;
		struct cfg_file *f;
		struct cfg_change c;
		struct mg_config *cfg;
		const void *obj;
		struct value_error verr;
		union {
			struct mg_config g;
			struct mg_domain d;
		} ref;

		if (v == NULL) {
			CHECK(0, "%s: required without a known value", s->name);
			continue;
		}
		put(rel, s->scope == SCOPE_GLOBAL ? "config_version = 1\nstate_dir = /tmp\n" :
		    "transport = [127.0.0.1]:25\n", 0644);
		f = cfg_file_open(dir, rel, &err);
		if (f == NULL) {
			CHECK(0, "%s: open: %s", s->name, err);
			continue;
		}
		if (cfg_set(f, s->name, v, &err) < 0) {
			CHECK(0, "%s: set '%s': %s", s->name, v, err);
			cfg_file_free(&f);
			continue;
		}
		CHECK_STR(cfg_get(f, s->name), v);
		c = (struct cfg_change){ rel, TEXT(f), cfg_file_text(f)->len, NULL };
		buf_reset(&errors);
		cfg = config_load_overlay(dir, &c, 1, NULL);
		CHECK(cfg != NULL, "%s = '%s' does not load", s->name, v);
		if (cfg != NULL) {
			obj = s->scope == SCOPE_GLOBAL ? (const void *)cfg : (const void *)cfg->domains;
			/* the loader applies the default first; SET_REPEAT lines add to it */
			memset(&ref, 0, sizeof(ref));
			CHECK((s->def == NULL || config_value_parse(s, s->def, &ref, &verr) == 0) &&
			    config_value_parse(s, v, &ref, &verr) == 0, "%s: reparse", s->name);
			buf_reset(&want);
			buf_reset(&got);
			config_value_format(s, &ref, &want);
			config_value_format(s, obj, &got);
			config_value_free(s, &ref);
			if (s->type != T_PATH)	/* paths are made absolute by the loader */
				CHECK(strcmp(want.data ? want.data : "", got.data ? got.data : "") == 0,
				    "%s: loaded '%s', want '%s'", s->name, got.data, want.data);
			config_free(&cfg);
		}
		cfg_file_free(&f);
	}
	buf_free(&errors);
	buf_free(&want);
	buf_free(&got);
	cleanup();
}

/* Runs "config ARGS..." (space-separated) and returns the status; reply in *out_r (static). */
static int
ctl(const char *args, const char **out_r)
{
	static struct buf out;
	char copy[1024], *argv[32];
	int argc;

	str_lcpy(copy, args, sizeof(copy));
	argc = str_split(copy, " ", argv, 32);
	buf_free(&out);
	buf_init(&out, 65536);
	argc = config_ctl_command(dir, argc, argv, &out);
	*out_r = out.data ? out.data : "";
	return argc;
}

static void
test_ctl(void)
{
	const char *out;

	setup();
	CHECK_INT(ctl("config domain-add B.Example [127.0.0.1]:2526", &out), 0);
	CHECK_STR(get("domains.d/b.example.conf"), "transport = [127.0.0.1]:2526\n");
	CHECK_INT(ctl("config domain-add b.example [127.0.0.1]:2526", &out), 1);
	CHECK(strstr(out, "already a protected domain") != NULL, "dup add: %s", out);
	CHECK_INT(ctl("config domain-add c.example [127.0.0.1:x", &out), 1);
	CHECK(strstr(out, "for transport") != NULL, "bad transport: %s", out);
	CHECK_STR(get("domains.d/c.example.conf"), "<missing>");
	CHECK_INT(ctl("config set domains.d/b.example.conf spam_reject 12.5", &out), 0);
	CHECK_INT(ctl("config get domains.d/b.example.conf spam_reject", &out), 0);
	CHECK_STR(out, "12.5\n");
	CHECK_INT(ctl("config get domains.d/b.example.conf greylist", &out), 1);
	CHECK_INT(ctl("config set domains.d/b.example.conf spam_reject -5", &out), 1);
	CHECK(strstr(out, "domains.d/b.example.conf:") != NULL, "cross check: %s", out);
	CHECK_INT(ctl("config set mailguard.conf smtpd_banner Hello there #1", &out), 0);
	CHECK(strstr(get("mailguard.conf"), "smtpd_banner = Hello there #1\n") != NULL,
	    "banner: %s", get("mailguard.conf"));
	CHECK_INT(ctl("config set mailguard.conf bogus 1", &out), 1);
	CHECK_INT(ctl("config list-add lists/b.example.block @Spam.Example", &out), 0);
	CHECK_INT(ctl("config list-add lists/b.example.block @spam.example", &out), 0);
	CHECK_STR(get("lists/b.example.block"), "@Spam.Example\n");
	CHECK_INT(ctl("config list-add lists/b.example.block spam.example", &out), 1);
	CHECK_INT(ctl("config list-add lists/z.example.block @spam.example", &out), 1);
	CHECK(strstr(out, "there is no domains.d/z.example.conf") != NULL, "orphan list: %s", out);
	CHECK_INT(ctl("config list-remove lists/b.example.block @SPAM.example", &out), 0);
	CHECK_STR(get("lists/b.example.block"), "");
	CHECK_INT(ctl("config unset domains.d/b.example.conf spam_reject", &out), 0);
	CHECK(strstr(get("domains.d/b.example.conf"), "spam_reject") == NULL, "unset");
	CHECK_INT(ctl("config domain-remove b.example", &out), 0);
	CHECK_STR(get("domains.d/b.example.conf"), "<missing>");
	CHECK_STR(get("lists/b.example.block"), "<missing>");
	CHECK_INT(ctl("config domain-remove b.example", &out), 1);
	CHECK_INT(ctl("config set mailguard.conf", &out), 2);
	CHECK_INT(ctl("config frobnicate", &out), 2);
	CHECK_INT(ctl("config get ../etc/passwd x", &out), 1);
	{
		char a0[] = "config", a1[] = "get", a2[] = "set";
		char *ro[] = { a0, a1 }, *rw[] = { a0, a2 };

		CHECK_INT(config_ctl_is_read_only(2, ro), 1);
		CHECK_INT(config_ctl_is_read_only(2, rw), 0);
	}
	cleanup();
}

static const struct unit_case cases[] = {
	{ "roundtrip", test_roundtrip },
	{ "refusals", test_refusals },
	{ "multi_unset", test_multi_unset },
	{ "crlf_final_newline", test_crlf_final_newline },
	{ "lists", test_lists },
	{ "names_limits", test_names_limits },
	{ "overlay", test_overlay },
	{ "commit", test_commit },
	{ "all_defaults", test_all_defaults },
	{ "ctl", test_ctl },
};

UNIT_MAIN(cases)
