/* Unit tests for dkim/tags.c: tag-list parsing (RFC 6376 §3.2: FWS, trailing ';', empty values,
 * duplicates, bad names and characters, the limits), base64 with FWS and padding, h= lists,
 * domain and selector syntax, numeric tag values. */
#include "unit.h"

#include "dkim/tags.h"

struct parse_case {
	const char *name;
	const char *in;
	int rc;
	size_t ntags;
	const char *error;	/* expected error text when rc < 0 */
};

static const struct parse_case parse_cases[] = {
	{ "two tags", "a=1; b=2", 0, 2, NULL },
	{ "trailing semicolon", "a=1;b=2;", 0, 2, NULL },
	{ "trailing semicolon and FWS", "a=1;b=2;\r\n\t ", 0, 2, NULL },
	{ "FWS everywhere", " a = 1 ;\r\n\tb= x y ;  ", 0, 2, NULL },
	{ "empty value", "v=DKIM1; p=", 0, 2, NULL },
	{ "empty value mid-list", "p=; v=DKIM1", 0, 2, NULL },
	{ "case-distinct names", "a=1; A=2", 0, 2, NULL },
	{ "underscore and digits", "x_1=2", 0, 1, NULL },
	{ "value with = and :", "h=from:to; z=a=b", 0, 2, NULL },
	{ "empty input", "", -1, 0, "empty tag-list" },
	{ "only FWS", " \r\n ", -1, 0, "empty tag-list" },
	{ "lone semicolon", ";", -1, 0, "empty tag-spec" },
	{ "double semicolon", "a=1;;b=2", -1, 0, "empty tag-spec" },
	{ "digit first", "1a=2", -1, 0, "invalid tag name" },
	{ "no equals", "a", -1, 0, "tag without '='" },
	{ "no equals before ;", "a=1; b; c=3", -1, 0, "tag without '='" },
	{ "space inside name", "a b=1", -1, 0, "invalid tag name" },
	{ "bad name char", "a$=1", -1, 0, "invalid tag name" },
	{ "duplicate", "a=1; b=2; a=3", -1, 0, "duplicate tag" },
	{ "control char", "a=1\x01", -1, 0, "invalid character in tag value" },
	{ "8-bit char", "a=\xc3\xa9", -1, 0, "invalid character in tag value" },
	{ "name too long", "abcdefghijabcdefghijabcdefghijabc=1", -1, 0, "tag name too long" },
};

static void
test_parse_table(void)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct mg_dkim_tags t;
		const char *err = NULL;
		int rc = mg_dkim_tags_parse(slice_from_str(c->in), &t, &err);
		CHECK(rc == c->rc, "%s: got rc %d, want %d (%s)", c->name, rc, c->rc, err ? err : "");
		if (rc == 0)
			CHECK(t.n == c->ntags, "%s: got %zu tags, want %zu", c->name, t.n, c->ntags);
		else
			CHECK(err && strcmp(err, c->error) == 0, "%s: got error \"%s\", want \"%s\"",
			    c->name, err ? err : "(null)", c->error);
	}
}

static void
test_values(void)
{
	struct mg_dkim_tags t;
	const char *err;
	const struct slice *v;

	CHECK_INT(mg_dkim_tags_parse(slice_from_str(" b= ab\r\n cd ; p=  ;x=1"), &t, &err), 0);
	v = mg_dkim_tags_get(&t, "b");
	CHECK(v && v->len == 7 && memcmp(v->p, "ab\r\n cd", 7) == 0, "b= trimmed, inner FWS kept");
	v = mg_dkim_tags_get(&t, "p");
	CHECK(v && v->len == 0, "p= empty");
	CHECK(mg_dkim_tags_get(&t, "X") == NULL, "names are case-sensitive");
	CHECK(mg_dkim_tags_get(&t, "q") == NULL, "absent tag");
}

static void
test_limits(void)
{
	struct buf b;
	struct mg_dkim_tags t;
	const char *err;

	buf_init(&b, 1 << 20);
	for (int i = 0; i < MG_DKIM_TAGS_MAX; i++)
		buf_printf(&b, "t%d=%d;", i, i);
	CHECK_INT(mg_dkim_tags_parse(buf_slice(&b), &t, &err), 0);
	CHECK_INT(t.n, MG_DKIM_TAGS_MAX);
	buf_append_str(&b, "extra=1");
	CHECK_INT(mg_dkim_tags_parse(buf_slice(&b), &t, &err), -1);
	CHECK_STR(err, "too many tags");
	buf_reset(&b);
	buf_append_str(&b, "b=");
	while (b.len <= MG_DKIM_TAGLIST_MAX)
		buf_append_char(&b, 'A');
	CHECK_INT(mg_dkim_tags_parse(buf_slice(&b), &t, &err), -1);
	CHECK_STR(err, "tag-list too long");
	buf_free(&b);
}

struct b64_case {
	const char *in;
	int rc;
	const char *out;
};

static void
test_base64(void)
{
	static const struct b64_case cases[] = {
		{ "YWJj", 0, "abc" },
		{ "YW Jj\r\n\t", 0, "abc" },
		{ "YWI=", 0, "ab" },
		{ "YQ==", 0, "a" },
		{ "", 0, "" },
		{ "YWJ", -1, NULL },
		{ "YW=j", -1, NULL },
		{ "Y*Jj", -1, NULL },
		{ "YQ===", -1, NULL },
		{ "=YWJ", -1, NULL },
	};
	unsigned char out[16];
	size_t len;
	const char *err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = mg_dkim_b64_decode(slice_from_str(cases[i].in), out, sizeof(out), &len, &err);
		CHECK(rc == cases[i].rc, "b64 \"%s\": got rc %d, want %d", cases[i].in, rc, cases[i].rc);
		if (rc == 0)
			CHECK(len == strlen(cases[i].out) && memcmp(out, cases[i].out, len) == 0,
			    "b64 \"%s\": wrong output (%zu octets)", cases[i].in, len);
	}
	CHECK_INT(mg_dkim_b64_decode(slice_from_str("YWJjYWJj"), out, 5, &len, &err), -1);
	CHECK_STR(err, "base64 value too long");
}

static void
test_hlist(void)
{
	struct slice names[4];
	const char *err;

	CHECK_INT(mg_dkim_hlist_split(slice_from_str("from : to:\r\n subject"), names, 4, &err), 3);
	CHECK(names[2].len == 7 && memcmp(names[2].p, "subject", 7) == 0, "third name");
	CHECK_INT(mg_dkim_hlist_split(slice_from_str("from::to"), names, 4, &err), 2);
	CHECK_INT(mg_dkim_hlist_split(slice_from_str(""), names, 4, &err), 0);
	CHECK_INT(mg_dkim_hlist_split(slice_from_str("fr om"), names, 4, &err), -1);
	CHECK_INT(mg_dkim_hlist_split(slice_from_str("a:b:c:d:e"), names, 4, &err), -1);
	CHECK_STR(err, "too many names in h=");
}

static void
test_names(void)
{
	static const char *const good[] = { "example.com", "a-b.example", "mail.sub.example.org",
		"_x.example", "0.example" };
	static const char *const bad[] = { "example", "-a.com", "a-.com", "a..com", "***", "example.",
		".example.com", "exa mple.com",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(mg_dkim_is_domain(slice_from_str(good[i])), "domain %s refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!mg_dkim_is_domain(slice_from_str(bad[i])), "domain %s accepted", bad[i]);
	CHECK(mg_dkim_is_selector(slice_from_str("brisbane")), "single-label selector");
	CHECK(mg_dkim_is_selector(slice_from_str("s1._x")), "selector with _");
	CHECK(!mg_dkim_is_selector(slice_from_str("")), "empty selector");
	CHECK(!mg_dkim_is_selector(slice_from_str("a/b")), "selector with /");
}

static void
test_numbers(void)
{
	unsigned long long x = 0;

	CHECK_INT(mg_dkim_tag_ull(slice_from_str("12345"), &x), 0);
	CHECK_INT(x, 12345);
	CHECK_INT(mg_dkim_tag_ull(slice_from_str("999999999999"), &x), 0);
	CHECK_INT(mg_dkim_tag_ull(slice_from_str("1000000000000"), &x), -1);
	CHECK_INT(mg_dkim_tag_ull(slice_from_str(""), &x), -1);
	CHECK_INT(mg_dkim_tag_ull(slice_from_str("12a"), &x), -1);
	CHECK_INT(mg_dkim_tag_ull(slice_from_str("-1"), &x), -1);
}

static const struct unit_case cases[] = {
	{ "parse_table", test_parse_table },
	{ "values", test_values },
	{ "limits", test_limits },
	{ "base64", test_base64 },
	{ "hlist", test_hlist },
	{ "names", test_names },
	{ "numbers", test_numbers },
};

UNIT_MAIN(cases)
