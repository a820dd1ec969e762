/* test_cidr.c: lib/cidr.c: parsing (IPv4, IPv6, brackets, mapped IPv4, host bits, bad input),
 * formatting, and matching against IPv4, IPv6 and IPv4-mapped IPv6 socket addresses. */
#include <fcntl.h>

#include "unit.h"

#include <arpa/inet.h>

#include "lib/cidr.h"

struct parse_case {
	const char *in;
	int ok;
	const char *formatted;	/* when ok: cidr_format output; else a substring of the error */
};

static const struct parse_case parse_cases[] = {
	{ "192.0.2.1", 1, "192.0.2.1/32" },
	{ "192.0.2.0/24", 1, "192.0.2.0/24" },
	{ "0.0.0.0/0", 1, "0.0.0.0/0" },
	{ "10.0.0.0/8", 1, "10.0.0.0/8" },
	{ "2001:db8::/32", 1, "2001:db8::/32" },
	{ "::1", 1, "::1/128" },
	{ "[::1]/128", 1, "::1/128" },
	{ "[2001:db8::]/48", 1, "2001:db8::/48" },
	{ "::/0", 1, "::/0" },
	{ "::ffff:192.0.2.1", 1, "192.0.2.1/32" },
	{ "::ffff:192.0.2.0/120", 1, "192.0.2.0/24" },
	{ "::ffff:0:0/96", 1, "0.0.0.0/0" },
	{ "::fffe:0:0/95", 1, "::fffe:0:0/95" },	/* not mapped: stays IPv6 */
	{ "::ffff:0:0/95", 0, "host bits" },
	{ "192.0.2.1/24", 0, "host bits" },
	{ "192.0.2.128/25", 1, "192.0.2.128/25" },
	{ "192.0.2.129/25", 0, "host bits" },
	{ "2001:db8::1/64", 0, "host bits" },
	{ "192.0.2.0/33", 0, "0..32" },
	{ "2001:db8::/129", 0, "0..128" },
	{ "192.0.2.0/", 0, "0..32" },
	{ "192.0.2.0/-1", 0, "0..32" },
	{ "192.0.2.0/+8", 0, "0..32" },
	{ "192.0.2.0/8x", 0, "0..32" },
	{ "192.0.2", 0, "IPv4" },
	{ "256.0.0.1", 0, "IPv4" },
	{ "01.2.3.4", 0, "IPv4" },
	{ "2001:db8::1::2", 0, "IPv6" },
	{ "[192.0.2.1]", 0, "brackets" },
	{ "", 0, "not an IP" },
	{ "/8", 0, "not an IP" },
	{ "example.org", 0, "IPv4" },
	{ "[::1", 0, "IPv6" },
};

static void
test_parse(void)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct cidr net;
		const char *err = NULL;
		char out[64];
		int r = cidr_parse(c->in, &net, &err);

		CHECK(r == (c->ok ? 0 : -1), "cidr_parse(\"%s\"): got %d, want %d (error %s)", c->in,
		    r, c->ok ? 0 : -1, err ? err : "none");
		if (r == 0 && c->ok) {
			cidr_format(&net, out, sizeof(out));
			CHECK(strcmp(out, c->formatted) == 0, "cidr_format(\"%s\"): got \"%s\", want "
			    "\"%s\"", c->in, out, c->formatted);
		} else if (r < 0 && !c->ok) {
			CHECK(err != NULL && strstr(err, c->formatted) != NULL, "cidr_parse(\"%s\") "
			    "error: got \"%s\", want it to mention \"%s\"", c->in, err ? err : "(null)",
			    c->formatted);
		}
	}
}

/* Builds a sockaddr from a literal (IPv4 or IPv6). */
static void
make_sa(const char *addr, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			abort();
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			abort();
	}
}

struct match_case {
	const char *net;
	const char *addr;
	int want;
};

static const struct match_case match_cases[] = {
	{ "192.0.2.0/24", "192.0.2.1", 1 },
	{ "192.0.2.0/24", "192.0.2.255", 1 },
	{ "192.0.2.0/24", "192.0.3.1", 0 },
	{ "192.0.2.0/25", "192.0.2.127", 1 },
	{ "192.0.2.0/25", "192.0.2.128", 0 },
	{ "10.0.0.0/8", "10.255.255.255", 1 },
	{ "0.0.0.0/0", "203.0.113.9", 1 },
	{ "0.0.0.0/0", "2001:db8::1", 0 },
	{ "192.0.2.7", "192.0.2.7", 1 },
	{ "192.0.2.7", "192.0.2.8", 0 },
	{ "192.0.2.0/24", "::ffff:192.0.2.1", 1 },	/* mapped client, IPv4 net */
	{ "192.0.2.0/24", "::ffff:192.0.3.1", 0 },
	{ "::ffff:192.0.2.0/120", "192.0.2.9", 1 },	/* mapped net is stored as IPv4 */
	{ "127.0.0.0/8", "::1", 0 },
	{ "::1/128", "::1", 1 },
	{ "::1/128", "127.0.0.1", 0 },
	{ "2001:db8::/32", "2001:db8:ffff::1", 1 },
	{ "2001:db8::/32", "2001:db9::1", 0 },
	{ "2001:db8::/33", "2001:db8:7fff::1", 1 },
	{ "2001:db8::/33", "2001:db8:8000::1", 0 },
	{ "::/0", "2001:db8::1", 1 },
	{ "::/0", "192.0.2.1", 0 },
	{ "192.0.2.0/24", "::192.0.2.1", 0 },	/* IPv4-compatible (deprecated) is not mapped */
};

static void
test_match(void)
{
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *c = &match_cases[i];
		struct sockaddr_storage ss;
		struct cidr net;
		const char *err;
		int got;

		if (cidr_parse(c->net, &net, &err) < 0) {
			CHECK(0, "cidr_parse(\"%s\"): %s", c->net, err);
			continue;
		}
		make_sa(c->addr, &ss);
		got = cidr_match(&net, (struct sockaddr *)&ss);
		CHECK(got == c->want, "cidr_match(%s, %s): got %d, want %d", c->net, c->addr, got,
		    c->want);
	}
}

static void
test_list(void)
{
	struct cidr_list l = { NULL, 0 };
	struct sockaddr_storage ss;
	struct cidr net;
	const char *err;

	make_sa("192.0.2.1", &ss);
	CHECK_INT(cidr_list_match(&l, (struct sockaddr *)&ss), 0);
	CHECK_INT(cidr_parse("10.0.0.0/8", &net, &err), 0);
	cidr_list_add(&l, &net);
	CHECK_INT(cidr_parse("2001:db8::/32", &net, &err), 0);
	cidr_list_add(&l, &net);
	CHECK_INT(l.n, 2);
	CHECK_INT(cidr_list_match(&l, (struct sockaddr *)&ss), 0);
	make_sa("10.1.2.3", &ss);
	CHECK_INT(cidr_list_match(&l, (struct sockaddr *)&ss), 1);
	make_sa("2001:db8::5", &ss);
	CHECK_INT(cidr_list_match(&l, (struct sockaddr *)&ss), 1);
	CHECK_INT(cidr_list_match(&l, NULL), 0);
	cidr_list_free(&l);
	CHECK_INT(l.n, 0);
	CHECK(l.nets == NULL, "cidr_list_free left nets");
}

static void
test_format_small(void)
{
	struct cidr net;
	const char *err;
	char out[8];

	CHECK_INT(cidr_parse("192.0.2.0/24", &net, &err), 0);
	cidr_format(&net, out, sizeof(out));	/* truncation: empty, never a partial address */
	CHECK_STR(out, "");
}

static const struct unit_case cases[] = {
	{ "parse", test_parse },
	{ "match", test_match },
	{ "list", test_list },
	{ "format_small", test_format_small },
};

UNIT_MAIN(cases)
