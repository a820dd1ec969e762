/* test_digest.c: unit tests for queue/digest_build.c: the header section (From with the brand
 * name, To, Subject with the count, Auto-Submitted), the MIME structure with and without a logo
 * (multipart/related, Content-ID referenced by the HTML), 7-bit output with lines under 998
 * octets, HTML escaping of hostile subjects and senders, RFC 2047 encoding of a non-ASCII brand,
 * the brand colour (and the default for a bad one), links that parse back with qtoken_parse to
 * the right action, queue id and recipient, the DIGEST_LIST_MAX cap with "and N more", logo
 * type detection, and failure without a token key. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>

#include "unit.h"

#include "common/qtoken.h"
#include "lib/buf.h"
#include "lib/str.h"
#include "lib/xalloc.h"
#include "queue/digest.h"

#define NOW 1700000000LL

static char keydir[PATH_MAX];

static void
keys_setup(void)
{
	const char *t = getenv("TMPDIR"), *err = NULL;
	char tmpl[PATH_MAX];

	if (keydir[0] != '\0')
		return;
	snprintf(tmpl, sizeof(tmpl), "%s/test_digest.XXXXXX", t && *t ? t : "/tmp");
	if (mkdtemp(tmpl) == NULL) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	str_lcpy(keydir, tmpl, sizeof(keydir));
	CHECK(qtoken_keys_load(keydir, 1, 14 * 86400, NOW, &err) == 0, "keys: %s", err);
}

static void
keys_cleanup(void)
{
	char p[PATH_MAX + 32];

	if (keydir[0] == '\0')
		return;
	if (str_fmt(p, sizeof(p), "%s/qtoken-keys", keydir) == 0)
		unlink(p);
	rmdir(keydir);
}

/* Decodes quoted-printable src into a NUL-terminated allocation ('=' CRLF soft breaks). */
static char *
qp_decode(const char *s, size_t n)
{
	char *o = xmalloc(n + 1);
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=' && i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 2;
		} else if (s[i] == '=' && i + 2 < n && str_hex_digit((unsigned char)s[i + 1]) >= 0 &&
		    str_hex_digit((unsigned char)s[i + 2]) >= 0) {
			o[k++] = (char)(str_hex_digit((unsigned char)s[i + 1]) * 16 +
			    str_hex_digit((unsigned char)s[i + 2]));
			i += 2;
		} else if (s[i] != '\r') {
			o[k++] = s[i];
		}
	}
	o[k] = '\0';
	return o;
}

/* The decoded body of the part whose Content-Type starts with type (NULL if none). */
static char *
part_body(const char *msg, const char *type)
{
	char hdr[128];
	const char *p, *body, *end;

	snprintf(hdr, sizeof(hdr), "Content-Type: %s", type);
	if ((p = strstr(msg, hdr)) == NULL || (body = strstr(p, "\r\n\r\n")) == NULL)
		return NULL;
	body += 4;
	if ((end = strstr(body, "\r\n--=_mg")) == NULL)
		return NULL;
	return qp_decode(body, (size_t)(end - body));
}

static struct digest_params
params(void)
{
	return (struct digest_params){ .rcpt = "alice@example.org", .from = "quarantine@example.org",
		.brand_name = "Acme Mail Shield", .brand_color = "#aa3300",
		.base_url = "https://mail.example.org:8443/", .hostname = "mx.example.org",
		.now = NOW, .link_expires = NOW + 14 * 86400 };
}

static void
check_wire(const struct buf *b)
{
	size_t col = 0;

	for (size_t i = 0; i < b->len; i++) {
		unsigned char c = (unsigned char)b->data[i];

		CHECK(c < 0x80 && c != 0, "octet 0x%02x at %zu", c, i);
		if (c == '\n') {
			CHECK(i > 0 && b->data[i - 1] == '\r', "bare LF at %zu", i);
			col = 0;
		} else if (++col > 998) {
			CHECK(0, "line over 998 octets at %zu", i);
			return;
		}
	}
}

/* Every link in text: parses, points at the base URL; counts the actions. */
static void
check_links(const char *text, const char *rcpt, size_t counts[5], const char **qids, size_t nq)
{
	const char *p = text;

	memset(counts, 0, 5 * sizeof(counts[0]));
	while ((p = strstr(p, "https://mail.example.org:8443/q/")) != NULL) {
		char tok[QTOKEN_MAX + 1];
		size_t n = 0;
		struct qtoken t;
		const char *err;
		int known = 0;

		p += strlen("https://mail.example.org:8443/q/");
		while (p[n] && strchr(" \n\r\"<", p[n]) == NULL && n < QTOKEN_MAX)
			n++;
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n;
		if (qtoken_parse(tok, &t, &err) < 0) {
			CHECK(0, "link token does not parse: %s (%s)", tok, err);
			continue;
		}
		CHECK_STR(t.rcpt, rcpt);
		CHECK_INT(t.expires, NOW + 14 * 86400);
		counts[t.action]++;
		for (size_t i = 0; i < nq; i++)
			known |= strcmp(t.qid, qids[i]) == 0;
		CHECK(known || (t.action == QT_LIST && t.qid[0] == '\0'), "unknown qid %s", t.qid);
	}
}

static void
case_basic(void)
{
	static const char *qids[] = { "0123456789abcdef", "fedcba9876543210" };
	struct digest_item it[2] = {
		{ qids[0], "spammer@bad.example", "<script>alert(1)</script> & \"co\"", NOW - 60,
		  7.25, 0 },
		{ qids[1], "", "", NOW - 3600, 5.0, 1 },
	};
	struct digest_params p = params();
	struct buf b;
	const char *err;
	char *text, *html;
	size_t c[5];

	keys_setup();
	buf_init(&b, DIGEST_MSG_MAX);
	CHECK_INT(digest_build(&p, it, 2, &b, &err), 0);
	check_wire(&b);
	CHECK(strstr(b.data, "From: \"Acme Mail Shield\" <quarantine@example.org>\r\n") != NULL,
	    "From missing");
	CHECK(strstr(b.data, "To: <alice@example.org>\r\n") != NULL, "To missing");
	CHECK(strstr(b.data, "Subject: Acme Mail Shield: 2 new messages in your quarantine\r\n"),
	    "Subject missing");
	CHECK(strstr(b.data, "Auto-Submitted: auto-generated\r\n") != NULL, "Auto-Submitted");
	CHECK(strstr(b.data, "Content-Type: multipart/alternative;") != NULL, "no alternative");
	CHECK(strstr(b.data, "multipart/related") == NULL, "related without a logo");
	text = part_body(b.data, "text/plain");
	html = part_body(b.data, "text/html");
	CHECK(text != NULL && html != NULL, "parts missing");
	if (text && html) {
		CHECK(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;co&quot;") !=
		    NULL, "subject not escaped in HTML");
		CHECK(strstr(html, "<script>") == NULL, "raw script in HTML");
		CHECK(strstr(html, "background:#aa3300") != NULL, "brand colour missing");
		CHECK(strstr(html, "Acme Mail Shield") != NULL, "brand name missing in HTML");
		CHECK(strstr(text, "<script>alert(1)</script>") != NULL, "subject missing in text");
		CHECK(strstr(text, "From:    <>") != NULL, "null sender not shown as <>");
		CHECK(strstr(text, "(no subject)") != NULL, "empty subject not shown");
		CHECK(strstr(text, "Score:   7.2") != NULL || strstr(text, "Score:   7.3") != NULL,
		    "score missing");
		CHECK(strstr(text, "2023-11-14 22:12 UTC") != NULL, "date missing: %s", text);
		check_links(text, "alice@example.org", c, qids, 2);
		CHECK_INT(c[QT_RELEASE], 2);
		CHECK_INT(c[QT_DELETE], 2);
		CHECK_INT(c[QT_ALLOW], 2);
		CHECK_INT(c[QT_LIST], 1);
		check_links(html, "alice@example.org", c, qids, 2);
		CHECK_INT(c[QT_RELEASE] + c[QT_DELETE] + c[QT_ALLOW] + c[QT_LIST], 7);
		/* the newer message is listed first (order given) */
		CHECK(strstr(text, "spammer@bad.example") < strstr(text, "From:    <>"), "order");
	}
	xfree(text);
	xfree(html);
	buf_free(&b);
}

static void
case_logo_and_brand(void)
{
	static const unsigned char png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0,
		13, 'I', 'H', 'D', 'R' };
	struct digest_item it = { "0123456789abcdef", "a@b.example", "hi", NOW, 5.5, 0 };
	struct digest_params p = params();
	struct buf b;
	const char *err, *cid;
	char *html, want[200];

	keys_setup();
	p.logo = png;
	p.logo_len = sizeof(png);
	p.logo_type = "image/png";
	p.brand_name = "S\xc3\xa9" "curit\xc3\xa9 Mail";
	p.brand_color = "red;background:url(x)";
	buf_init(&b, DIGEST_MSG_MAX);
	CHECK_INT(digest_build(&p, &it, 1, &b, &err), 0);
	check_wire(&b);
	CHECK(strstr(b.data, "Content-Type: multipart/related; boundary=") != NULL, "no related");
	CHECK(strstr(b.data, "Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n")
	    != NULL, "no logo part");
	CHECK(strstr(b.data, "iVBORw0KGgoAAAANSUhEUg==") != NULL, "logo not base64");
	CHECK(strstr(b.data, "Subject: =?UTF-8?B?") != NULL, "Subject not encoded");
	CHECK(strstr(b.data, "From: =?UTF-8?B?") != NULL, "From phrase not encoded");
	CHECK(strstr(b.data, "1 new message in your") == NULL, "non-ASCII subject sent raw");
	html = part_body(b.data, "text/html");
	cid = strstr(b.data, "Content-ID: <");
	CHECK(html != NULL && cid != NULL, "html or Content-ID missing");
	if (html && cid) {
		size_t n = strcspn(cid + 13, ">");
		snprintf(want, sizeof(want), "src=\"cid:%.*s\"", (int)n, cid + 13);
		CHECK(strstr(html, want) != NULL, "HTML does not reference %s", want);
		CHECK(strstr(html, "background:#1f6feb") != NULL, "bad colour not replaced");
		CHECK(strstr(html, "url(x)") == NULL, "bad colour used");
		CHECK(strstr(html, "S\xc3\xa9" "curit\xc3\xa9 Mail") != NULL, "brand missing");
	}
	xfree(html);
	buf_free(&b);
}

static void
case_cap(void)
{
	size_t n = DIGEST_LIST_MAX + 50;
	struct digest_item *it = xcalloc(n, sizeof(*it));
	char (*q)[17] = xcalloc(n, sizeof(*q));
	struct digest_params p = params();
	struct buf b;
	const char *err;
	char *text;
	size_t rows = 0;

	keys_setup();
	for (size_t i = 0; i < n; i++) {
		snprintf(q[i], sizeof(q[i]), "%016zx", i + 1);
		it[i] = (struct digest_item){ q[i], "s@x.example", "subject", NOW - (long long)i, 6,
		    i };
	}
	buf_init(&b, DIGEST_MSG_MAX);
	CHECK_INT(digest_build(&p, it, n, &b, &err), 0);
	CHECK(strstr(b.data, "Subject: Acme Mail Shield: 250 new messages") != NULL, "count");
	text = part_body(b.data, "text/plain");
	CHECK(text != NULL, "no text part");
	for (const char *s = text; s && (s = strstr(s, "\nRelease: ")) != NULL; s++)
		rows++;
	CHECK_INT(rows, DIGEST_LIST_MAX);
	CHECK(text && strstr(text, "... and 50 more.") != NULL, "no \"and 50 more\"");
	CHECK(text && strstr(text, q[DIGEST_LIST_MAX]) == NULL, "qid past the cap listed");
	xfree(text);
	buf_free(&b);
	xfree(it);
	xfree(q);
}

static void
case_failures(void)
{
	struct digest_item it = { "0123456789abcdef", "a@b", "s", NOW, 5, 0 };
	struct digest_params p = params();
	struct buf b;
	const char *err = NULL;

	keys_setup();
	/* a recipient a token cannot carry */
	p.rcpt = "bad address@example.org";
	buf_init(&b, DIGEST_MSG_MAX);
	CHECK(digest_build(&p, &it, 1, &b, &err) < 0 && err != NULL, "bad recipient accepted");
	buf_free(&b);
	/* out too small */
	p = params();
	buf_init(&b, 1000);
	CHECK(digest_build(&p, &it, 1, &b, &err) < 0, "tiny buffer accepted");
	buf_free(&b);
}

static void
case_logo_type(void)
{
	static const unsigned char png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 1 };
	const char *svg = "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>";

	CHECK_STR(digest_logo_type(png, sizeof(png)), "image/png");
	CHECK_STR(digest_logo_type(png, 7), NULL);
	CHECK_STR(digest_logo_type(svg, strlen(svg)), "image/svg+xml");
	CHECK_STR(digest_logo_type("GIF89a", 6), NULL);
	CHECK_INT(digest_color_ok("#1f6FEB"), 1);
	CHECK_INT(digest_color_ok("#1f6fe"), 0);
	CHECK_INT(digest_color_ok("#1f6feg"), 0);
	CHECK_INT(digest_color_ok("red"), 0);
	CHECK_INT(digest_color_ok(NULL), 0);
	keys_cleanup();
}

static const struct unit_case cases[] = {
	{ "basic", case_basic },
	{ "logo_and_brand", case_logo_and_brand },
	{ "cap", case_cap },
	{ "failures", case_failures },
	{ "logo_type", case_logo_type },
};

UNIT_MAIN(cases)
