/* test_load.c: config_load on temporary directories (values, relative paths, sorted domains and
 * case-insensitive lookup, lists attached to their domains, every error reported in one run),
 * config_is_mynetwork, config_static_changed, and the text-level parsers. */
#include <fcntl.h>

#include "unit.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include "config/config.h"

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

static void
setup(void)
{
	char path[512];

	snprintf(tmpl, sizeof(tmpl), "/tmp/test_load.XXXXXX");
	dir = mkdtemp(tmpl);
	if (dir == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/domains.d", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/lists", dir);
	mkdir(path, 0755);
}

static void
cleanup(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
}

/* Loads dir; error text in *errs (static). */
static struct mg_config *
load(const char **errs)
{
	static char out[8192];
	FILE *f = fmemopen(out, sizeof(out), "w");
	struct mg_config *cfg;

	memset(out, 0, sizeof(out));
	cfg = config_load(dir, f);
	fclose(f);
	*errs = out;
	return cfg;
}

static void
sa4(const char *a, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin_family = AF_INET;
	inet_pton(AF_INET, a, &s->sin_addr);
}

static void
sa6(const char *a, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin6_family = AF_INET6;
	inet_pton(AF_INET6, a, &s->sin6_addr);
}

static void
test_valid(void)
{
	const char *errs;
	struct mg_config *cfg;
	const struct mg_domain *d;
	struct sockaddr_storage ss;
	char want[600];

	setup();
	put("mailguard.conf", "config_version = 1\nspool_dir = spool\nstate_dir = /srv/state\n"
	    "tls_cert = c.pem\ntls_key = k.pem\nmynetworks = 10.0.0.0/8 2001:db8::/32\n"
	    "max_recipients = 250\n", 0644);
	put("c.pem", "cert", 0644);
	put("k.pem", "key", 0600);
	put("domains.d/zeta.example.conf", "transport = [192.0.2.1]:2525\n", 0644);
	put("domains.d/alpha.example.conf", "transport = mx.alpha.example\nspam_reject = 20\n", 0644);
	put("domains.d/alpha-beta.example.conf", "transport = mx.ab.example\n", 0644);
	put("domains.d/ignored.txt", "nonsense", 0644);
	put("lists/global.block", "@spam.example\n", 0644);
	put("lists/alpha.example.allow", "friend@x.example\n10.1.0.0/16\n", 0644);
	cfg = load(&errs);
	CHECK(cfg != NULL, "load failed: %s", errs);
	if (cfg == NULL)
		goto out;
	CHECK_STR(errs, "");
	CHECK_INT(cfg->max_recipients, 250);
	snprintf(want, sizeof(want), "%s/spool", cfg->dir);
	CHECK_STR(cfg->spool_dir, want);
	CHECK_STR(cfg->state_dir, "/srv/state");
	snprintf(want, sizeof(want), "%s/k.pem", cfg->dir);
	CHECK_STR(cfg->tls_key, want);
	CHECK(cfg->dir[0] == '/', "dir not absolute: %s", cfg->dir);
	CHECK_INT(cfg->n_domains, 3);
	/* strcmp order: '-' sorts before '.' */
	CHECK_STR(cfg->domains[0].name, "alpha-beta.example");
	CHECK_STR(cfg->domains[1].name, "alpha.example");
	CHECK_STR(cfg->domains[2].name, "zeta.example");
	d = config_domain_find(cfg, "ALPHA.Example");
	CHECK(d != NULL && strcmp(d->name, "alpha.example") == 0, "find ALPHA.Example");
	if (d != NULL) {
		CHECK(d->spam_reject == 20.0, "spam_reject: got %g, want 20", d->spam_reject);
		CHECK_INT(d->allow.n, 2);
		CHECK_INT(d->block.n, 0);
		CHECK(d->block.file == NULL, "block file set for a missing list");
	}
	d = config_domain_find(cfg, "zeta.example");
	CHECK(d != NULL && d->transport_port == 2525 && d->transport_mx == 0, "zeta transport");
	CHECK(config_domain_find(cfg, "alpha-beta.example") != NULL, "find alpha-beta");
	CHECK(config_domain_find(cfg, "beta.example") == NULL, "found beta.example");
	CHECK(config_domain_find(cfg, "sub.alpha.example") == NULL, "found a subdomain");
	CHECK(config_domain_find(cfg, "alpha.example.") == NULL, "trailing dot matched");
	CHECK(config_domain_find(cfg, "") == NULL, "empty matched");
	CHECK_INT(cfg->global_block.n, 1);
	CHECK_INT(cfg->global_allow.n, 0);
	sa4("10.9.8.7", &ss);
	CHECK_INT(config_is_mynetwork(cfg, (struct sockaddr *)&ss), 1);
	sa4("127.0.0.1", &ss);
	CHECK_INT(config_is_mynetwork(cfg, (struct sockaddr *)&ss), 0);
	sa6("::ffff:10.0.0.1", &ss);
	CHECK_INT(config_is_mynetwork(cfg, (struct sockaddr *)&ss), 1);
	sa6("2001:db8::1", &ss);
	CHECK_INT(config_is_mynetwork(cfg, (struct sockaddr *)&ss), 1);
	sa6("::1", &ss);
	CHECK_INT(config_is_mynetwork(cfg, (struct sockaddr *)&ss), 0);
	config_free(&cfg);
	CHECK(cfg == NULL, "config_free did not NULL the pointer");
out:
	cleanup();
}

static void
test_many_errors(void)
{
	const char *errs;
	struct mg_config *cfg;
	int lines = 0;

	setup();
	put("mailguard.conf", "max_recipients = 0\nfoo = 1\nmax_recipients = 5\n", 0644);
	put("domains.d/a.example.conf", "greylist = 50\n", 0644);
	put("domains.d/Bad.conf", "transport = x.example\n", 0644);
	put("lists/b.example.allow", "@x.example\n", 0644);
	put("lists/global.allow", "nonsense\n", 0644);
	cfg = load(&errs);
	CHECK(cfg == NULL, "load succeeded");
	config_free(&cfg);
	for (const char *p = errs; *p; p++)
		lines += *p == '\n';
	CHECK_INT(lines, 9);
	CHECK(strstr(errs, "/mailguard.conf:1: expected an integer from 1 to 10000 for "
	    "max_recipients, found '0'\n") != NULL, "missing range error in:\n%s", errs);
	CHECK(strstr(errs, "/mailguard.conf:2: unknown setting 'foo'\n") != NULL,
	    "missing unknown error in:\n%s", errs);
	CHECK(strstr(errs, "/mailguard.conf:3: expected one 'max_recipients' line, found another "
	    "(first on line 1)\n") != NULL, "missing duplicate error in:\n%s", errs);
	CHECK(strstr(errs, "/mailguard.conf:0: expected a line 'config_version = 1', found none\n")
	    != NULL, "missing version error in:\n%s", errs);
	CHECK(strstr(errs, "/domains.d/a.example.conf:0: expected a line 'transport = ") != NULL,
	    "missing transport error in:\n%s", errs);
	CHECK(strstr(errs, "/domains.d/a.example.conf:1: expected greylist <= spam_quarantine")
	    != NULL, "missing threshold error in:\n%s", errs);
	CHECK(strstr(errs, "/domains.d/Bad.conf:0: ") != NULL, "missing file name error");
	CHECK(strstr(errs, "/lists/b.example.allow:0: ") != NULL, "missing list domain error");
	cleanup();
}

static void
test_missing_dir(void)
{
	const char *errs;
	struct mg_config *cfg;

	dir = "/nonexistent/mailguard-test";
	cfg = load(&errs);
	CHECK(cfg == NULL, "load of a missing dir succeeded");
	CHECK_STR(errs, "/nonexistent/mailguard-test:0: expected a configuration directory, found "
	    "error: No such file or directory\n");
}

static void
test_secret_mode(void)
{
	const char *errs;
	struct mg_config *cfg;

	setup();
	put("mailguard.conf", "config_version = 1\ntls_cert = c.pem\ntls_key = k.pem\n", 0644);
	put("c.pem", "cert", 0644);
	put("k.pem", "key", 0640);
	cfg = load(&errs);
	CHECK(cfg == NULL, "group-readable key accepted");
	config_free(&cfg);
	CHECK(strstr(errs, "mailguard.conf:3: expected tls_key to be accessible by its owner only "
	    "(chmod 600), found mode 0640 on ") != NULL, "got \"%s\"", errs);
	put("k.pem", "key", 0400);
	cfg = load(&errs);
	CHECK(cfg != NULL, "0400 key refused: %s", errs);
	config_free(&cfg);
	cleanup();
}

static void
test_static_changed(void)
{
	static const struct {
		const char *a, *b, *want;
	} cases[] = {
		{ "", "", NULL },
		{ "", "max_recipients = 7\nmynetworks = 10.0.0.0/8\n", NULL },
		{ "", "listen = 127.0.0.1:2526\n", "listen" },
		{ "listen = 127.0.0.1:2525\n", "", NULL },
		{ "", "spool_dir = /tmp/x\n", "spool_dir" },
		{ "", "state_dir = /tmp/x\n", "state_dir" },
		{ "", "user = nobody\n", "user" },
		{ "user = nobody\n", "user = nobody\n", NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char ta[256], tb[256];
		struct mg_config *a, *b;
		const char *name = NULL;
		int r;

		snprintf(ta, sizeof(ta), "config_version = 1\n%s", cases[i].a);
		snprintf(tb, sizeof(tb), "config_version = 1\n%s", cases[i].b);
		a = config_parse_text("a", ta, strlen(ta), stderr);
		b = config_parse_text("b", tb, strlen(tb), stderr);
		if (a == NULL || b == NULL) {
			CHECK(0, "case %zu does not parse", i);
		} else {
			r = config_static_changed(a, b, &name);
			CHECK(r == (cases[i].want != NULL), "case %zu: got %d, want %d", i, r,
			    cases[i].want != NULL);
			if (r && cases[i].want)
				CHECK_STR(name, cases[i].want);
		}
		config_free(&a);
		config_free(&b);
	}
}

static void
test_text_parsers(void)
{
	struct mg_domain d;
	struct mg_config *cfg;
	char out[1024];
	FILE *f;
	int r;

	cfg = config_parse_text("g", "config_version = 1\n", 19, NULL);
	CHECK(cfg != NULL && cfg->n_domains == 0 && cfg->dir == NULL, "global text");
	config_free(&cfg);
	cfg = config_parse_text("g", "config_version = 1\nx", 20, NULL);
	CHECK(cfg == NULL, "bad global text accepted");
	/* Not NUL-terminated: the parser must respect len. */
	cfg = config_parse_text("g", "config_version = 1\nmax_recipients = 12345", 40, NULL);
	CHECK(cfg != NULL && cfg->max_recipients == 1234, "len not respected");
	config_free(&cfg);

	r = config_parse_domain_text("example.org", "e.conf", "transport = [192.0.2.1]\n", 24,
	    &d, NULL);
	CHECK_INT(r, 0);
	CHECK_STR(d.name, "example.org");
	CHECK_STR(d.transport_host, "192.0.2.1");
	config_domain_clear(&d);
	CHECK(d.name == NULL, "clear left name");

	f = fmemopen(out, sizeof(out), "w");
	r = config_parse_domain_text("Example.org", "E.conf", "", 0, &d, f);
	fclose(f);
	CHECK_INT(r, -1);
	CHECK_STR(out, "E.conf:0: expected a lower-case domain name, found 'Example.org'\n");
	config_domain_clear(&d);

	f = fmemopen(out, sizeof(out), "w");
	r = config_parse_domain_text("example.org", "e.conf", "config_version = 1\n"
	    "config_version = 2\ntransport = x.example\nspam_reject = 1\n", 76, &d, f);
	fclose(f);
	CHECK_INT(r, -1);
	CHECK_STR(out, "e.conf:2: expected 1 for config_version, found '2'\n"
	    "e.conf:4: expected greylist <= spam_quarantine <= spam_reject, found spam_quarantine "
	    "6 > spam_reject 1\n");
	config_domain_clear(&d);
}

static const struct unit_case cases[] = {
	{ "valid", test_valid },
	{ "many_errors", test_many_errors },
	{ "missing_dir", test_missing_dir },
	{ "secret_mode", test_secret_mode },
	{ "static_changed", test_static_changed },
	{ "text_parsers", test_text_parsers },
};

UNIT_MAIN(cases)
