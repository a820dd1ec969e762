/* test_lists.c: list files (config_parse_list_text): entry kinds, comments, errors with line
 * numbers, and config_list_match against senders and client addresses. */
#include <fcntl.h>

#include "unit.h"

#include <arpa/inet.h>

#include "config/config.h"

/* Parses text; returns the error output (static buffer) and the return code in *r. */
static const char *
parse(const char *text, struct mg_list *l, int *r)
{
	static char out[4096];
	FILE *f = fmemopen(out, sizeof(out), "w");

	*r = config_parse_list_text("t.block", text, strlen(text), l, f);
	fclose(f);
	return out;
}

struct entry_case {
	const char *line;
	int ok;
	enum mg_list_kind kind;
	const char *value;	/* stored value (ok) or expected error text (not ok) */
};

static const struct entry_case entry_cases[] = {
	{ "user@example.org", 1, MG_LIST_ADDRESS, "user@example.org" },
	{ "User@Example.ORG", 1, MG_LIST_ADDRESS, "user@example.org" },
	{ "@example.org", 1, MG_LIST_DOMAIN, "example.org" },
	{ "*.example.org", 1, MG_LIST_SUBDOMAINS, "example.org" },
	{ "  192.0.2.0/24   # a comment", 1, MG_LIST_NETWORK, NULL },
	{ "2001:db8::/32", 1, MG_LIST_NETWORK, NULL },
	{ "192.0.2.1", 1, MG_LIST_NETWORK, NULL },
	{ "[::1]", 1, MG_LIST_NETWORK, NULL },
	{ "example.org", 0, 0, "t.block:1: expected an address, @domain, *.domain, IP address or "
	  "network, found 'example.org' (a domain is written @domain (that domain) or *.domain "
	  "(and its subdomains))\n" },
	{ "@", 0, 0, "t.block:1: expected an address, @domain, *.domain, IP address or network, "
	  "found '@' (not a domain name after '@')\n" },
	{ "*.", 0, 0, "t.block:1: expected an address, @domain, *.domain, IP address or network, "
	  "found '*.'\n" },
	{ "*example.org", 0, 0, "t.block:1: expected an address, @domain, *.domain, IP address or "
	  "network, found '*example.org'\n" },
	{ "a@b@example.org", 0, 0, "t.block:1: expected an address, @domain, *.domain, IP address "
	  "or network, found 'a@b@example.org' (not a valid address)\n" },
	{ "10.0.0.1/8", 0, 0, "t.block:1: expected an address, @domain, *.domain, IP address or "
	  "network, found '10.0.0.1/8' (host bits set beyond the prefix length)\n" },
	{ "a b", 0, 0, "t.block:1: expected an address, @domain, *.domain, IP address or network, "
	  "found 'a b' (one entry per line)\n" },
	{ "caf\xc3\xa9@example.org", 0, 0, "t.block:1: expected an address, @domain, *.domain, IP "
	  "address or network, found 'caf\\xc3\\xa9@example.org' (not printable ASCII)\n" },
};

static void
test_entries(void)
{
	for (size_t i = 0; i < sizeof(entry_cases) / sizeof(entry_cases[0]); i++) {
		const struct entry_case *c = &entry_cases[i];
		struct mg_list l;
		int r;
		const char *err = parse(c->line, &l, &r);

		CHECK(r == (c->ok ? 0 : -1), "\"%s\": got %d, want %d (%s)", c->line, r,
		    c->ok ? 0 : -1, err);
		if (c->ok && r == 0) {
			CHECK(l.n == 1, "\"%s\": got %zu entries, want 1", c->line, l.n);
			if (l.n == 1) {
				CHECK_INT(l.entries[0].kind, c->kind);
				CHECK_STR(l.entries[0].value, c->value);
				CHECK_INT(l.entries[0].line, 1);
			}
		} else if (!c->ok) {
			CHECK_STR(err, c->value);
			CHECK_INT(l.n, 0);
		}
		config_list_clear(&l);
	}
}

static void
test_lines_and_errors(void)
{
	struct mg_list l;
	int r;
	const char *err = parse("# header\n\n@a.example\r\nbad\n   \n*.b.example # x\nalso bad\n",
	    &l, &r);

	CHECK_INT(r, -1);
	CHECK_INT(l.n, 2);
	if (l.n == 2) {
		CHECK_INT(l.entries[0].line, 3);
		CHECK_INT(l.entries[1].line, 6);
	}
	CHECK(strstr(err, "t.block:4: ") != NULL && strstr(err, "t.block:7: ") != NULL,
	    "errors: got \"%s\", want lines 4 and 7", err);
	config_list_clear(&l);
}

static void
sa_from(const char *addr, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &s4->sin_addr);
	}
}

struct match_case {
	const char *sender;	/* NULL = none */
	const char *client;	/* NULL = none */
	int want_line;		/* 0 = no match */
};

static const char match_list[] =
	"spammer@example.com\n"		/* 1 */
	"@bad.example\n"		/* 2 */
	"*.evil.example\n"		/* 3 */
	"198.51.100.0/24\n"		/* 4 */
	"2001:db8:bad::/48\n"		/* 5 */
	"@evil.example\n";		/* 6: shadowed by line 3 */

static const struct match_case match_cases[] = {
	{ "spammer@example.com", NULL, 1 },
	{ "SPAMMER@Example.COM", NULL, 1 },
	{ "other@example.com", NULL, 0 },
	{ "x@bad.example", NULL, 2 },
	{ "x@BAD.example", NULL, 2 },
	{ "x@sub.bad.example", NULL, 0 },	/* @domain is exact */
	{ "x@notbad.example", NULL, 0 },
	{ "x@evil.example", NULL, 3 },		/* *.domain includes the domain itself */
	{ "x@a.b.evil.example", NULL, 3 },
	{ "x@devil.example", NULL, 0 },		/* label boundary */
	{ "", NULL, 0 },			/* null sender */
	{ NULL, NULL, 0 },
	{ "nodomain", NULL, 0 },
	{ NULL, "198.51.100.77", 4 },
	{ NULL, "198.51.101.1", 0 },
	{ NULL, "::ffff:198.51.100.1", 4 },
	{ NULL, "2001:db8:bad:1::1", 5 },
	{ NULL, "2001:db8:bae::1", 0 },
	{ "ok@good.example", "198.51.100.1", 4 },
	{ "spammer@example.com", "198.51.100.1", 1 },	/* first matching entry wins */
};

static void
test_match(void)
{
	struct mg_list l;
	int r;
	const char *err = parse(match_list, &l, &r);

	CHECK(r == 0, "match list: %s", err);
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *c = &match_cases[i];
		struct sockaddr_storage ss;
		const struct mg_list_entry *e;

		if (c->client)
			sa_from(c->client, &ss);
		e = config_list_match(&l, c->sender, c->client ? (struct sockaddr *)&ss : NULL);
		CHECK((e ? e->line : 0) == c->want_line, "match(%s, %s): got line %d, want %d",
		    c->sender ? c->sender : "NULL", c->client ? c->client : "NULL",
		    e ? e->line : 0, c->want_line);
	}
	config_list_clear(&l);
}

static void
test_empty(void)
{
	struct mg_list l;
	int r;

	parse("", &l, &r);
	CHECK_INT(r, 0);
	CHECK_INT(l.n, 0);
	CHECK(config_list_match(&l, "a@b.example", NULL) == NULL, "empty list matched");
	config_list_clear(&l);
}

static const struct unit_case cases[] = {
	{ "entries", test_entries },
	{ "lines_and_errors", test_lines_and_errors },
	{ "match", test_match },
	{ "empty", test_empty },
};

UNIT_MAIN(cases)
