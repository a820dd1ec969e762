/* Unit tests for common/mime*.c: RFC 2047 encoded words (B, Q, adjacent-word whitespace, a
 * character split across words, charset conversion), RFC 2231 parameters, base64 and
 * quoted-printable with garbage, charset conversion with invalid sequences and unknown
 * charsets, multipart (preamble, epilogue, nesting, missing close, prefix match), message/rfc822,
 * the hard limits (parts, depth, headers, decoded size, text, links), HTML to text (entities,
 * script/style, hidden text, links with anchors) and dates. Table-driven where the shape allows. */
#include "unit.h"

#include "common/mime.h"
#include "common/mime_int.h"

static struct mime_msg *
parse(const char *s)
{
	return mime_parse(s, strlen(s), NULL);
}

static const char *
text_of(const struct mime_msg *m, size_t p)
{
	static char out[4096];
	size_t n = m->parts[p].text_len < sizeof(out) - 1 ? m->parts[p].text_len : sizeof(out) - 1;

	memcpy(out, m->text.data + m->parts[p].text_off, n);
	out[n] = '\0';
	return out;
}

static void
test_encoded_words(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "=?utf-8?B?SGVsbG8gV8O2cmxk?=", "Hello Wörld" },
		{ "=?ISO-8859-1?Q?Andr=E9?= Pirard", "André Pirard" },
		{ "=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab" },	/* §6.2: space dropped */
		{ "=?ISO-8859-1?Q?a?=\t  =?ISO-8859-2?Q?b?=", "ab" },
		{ "=?ISO-8859-1?Q?a?= x =?ISO-8859-1?Q?b?=", "a x b" },
		{ "=?utf-8?Q?a_b?=", "a b" },
		{ "=?utf-8?B?4oKs?=", "\xe2\x82\xac" },
		{ "=?utf-8?B?4g==?= =?utf-8?B?gqw=?=", "\xe2\x82\xac" },	/* split character */
		{ "=?utf-8*en?Q?x?=", "x" },				/* RFC 2231 §5 language */
		{ "=?x-unknown?Q?caf=E9?=", "caf\xc3\xa9" },		/* unknown: latin1 */
		{ "=?utf-8?X?abc?=", "=?utf-8?X?abc?=" },		/* not an encoded word */
		{ "plain =?utf-8?Q?unterminated", "plain =?utf-8?Q?unterminated" },
		{ "caf\xe9", "caf\xc3\xa9" },				/* raw latin1 */
		{ "=?koi8-r?B?8NLJ18XU?=", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82" },
	};
	struct mime_conv cv;
	struct buf out;
	unsigned fl;

	mime_conv_init(&cv);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&out, 1024);
		fl = 0;
		CHECK_INT(mime_words_decode(&cv, cases[i].in, strlen(cases[i].in), &out, &fl), 0);
		CHECK(out.data != NULL && strcmp(out.data, cases[i].want) == 0,
		    "case %zu: got \"%s\", want \"%s\"", i, out.data ? out.data : "", cases[i].want);
		buf_free(&out);
	}
	mime_conv_fini(&cv);
}

static void
test_params(void)
{
	static const struct {
		const char *v, *name, *want;
	} cases[] = {
		{ "text/plain; charset=\"us-ascii\"", "charset", "us-ascii" },
		{ "text/plain;charset=UTF-8 (comment)", "charset", "UTF-8 (comment)" },
		{ "attachment; filename*=iso-8859-1'en'%A3%20rates.txt", "filename",
		  "\xc2\xa3 rates.txt" },
		{ "attachment; filename*1=\"b.txt\"; filename*0=\"a\"", "filename", "ab.txt" },
		{ "attachment; filename*0*=utf-8''%E2%82; filename*1*=%AC.pdf", "filename",
		  "\xe2\x82\xac.pdf" },
		{ "attachment; filename=\"=?utf-8?B?w6kucGRm?=\"", "filename", "\xc3\xa9.pdf" },
		{ "attachment; filename=\"a \\\"q\\\".txt\"", "filename", "a \"q\".txt" },
		{ "multipart/mixed\n\tboundary=\"xyz\"", "boundary", "xyz" },	/* missing ';' */
		{ "text/plain; name=a; filename=b", "filename", "b" },
	};
	struct mime_conv cv;
	struct buf out;
	unsigned fl = 0;

	mime_conv_init(&cv);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&out, 1024);
		CHECK_INT(mime_param_get(&cv, cases[i].v, strlen(cases[i].v), cases[i].name, &out,
		    &fl), 1);
		CHECK(out.data != NULL && strcmp(out.data, cases[i].want) == 0,
		    "case %zu: got \"%s\", want \"%s\"", i, out.data ? out.data : "", cases[i].want);
		buf_free(&out);
	}
	buf_init(&out, 1024);
	CHECK_INT(mime_param_get(&cv, "text/plain", 10, "charset", &out, &fl), 0);
	buf_free(&out);
	mime_conv_fini(&cv);
}

static void
test_transfer_decoding(void)
{
	struct buf out;
	unsigned fl = 0;

	buf_init(&out, 1024);
	CHECK_INT(mime_b64_decode("SGVs\r\nbG8=\r\n", 12, &out, &fl), 0);
	CHECK_STR(out.data, "Hello");
	CHECK_INT(fl, 0);
	buf_reset(&out);
	CHECK_INT(mime_b64_decode("SG!Vs bG8", 9, &out, &fl), 0);
	CHECK_STR(out.data, "Hello");
	CHECK(fl & MIME_F_BAD_ENCODING, "garbage flagged");
	buf_reset(&out);
	fl = 0;
	CHECK_INT(mime_qp_decode("a=3Db=\r\nc =\nd=ZZ", 17, &out, &fl, 0), 0);
	CHECK_STR(out.data, "a=bc d=ZZ");
	CHECK(fl & MIME_F_BAD_ENCODING, "bad escape flagged");
	buf_free(&out);
	/* the cap: what fits is kept, -1 says it was cut */
	buf_init(&out, 3);
	CHECK_INT(mime_b64_decode("SGVsbG8=", 8, &out, &fl), -1);
	buf_free(&out);
}

static void
test_charsets(void)
{
	struct mime_conv cv;
	struct buf out;
	unsigned fl = 0;

	mime_conv_init(&cv);
	buf_init(&out, 1024);
	CHECK_INT(mime_to_utf8(&cv, "utf-8", "a\xff" "b\xe2\x82", 5, &out, &fl), 0);
	CHECK_STR(out.data, "a\xef\xbf\xbd" "b\xef\xbf\xbd");
	CHECK(fl & MIME_F_BAD_CHARSET, "invalid UTF-8 flagged");
	buf_reset(&out);
	fl = 0;
	CHECK_INT(mime_to_utf8(&cv, "windows-1252", "\x80", 1, &out, &fl), 0);
	CHECK_STR(out.data, "\xe2\x82\xac");
	CHECK_INT(fl, 0);
	buf_reset(&out);
	CHECK_INT(mime_to_utf8(&cv, "iso-8859-1", "\x93q\x94", 3, &out, &fl), 0);
	CHECK_STR(out.data, "\xe2\x80\x9cq\xe2\x80\x9d");	/* read as windows-1252 */
	buf_reset(&out);
	CHECK_INT(mime_to_utf8(&cv, "shift_jis", "\x82\xa0\xff\xff", 4, &out, &fl), 0);
	CHECK(strncmp(out.data, "\xe3\x81\x82", 3) == 0, "got \"%s\"", out.data);
	CHECK(fl & MIME_F_BAD_CHARSET, "invalid shift_jis flagged");
	buf_reset(&out);
	fl = 0;
	CHECK_INT(mime_to_utf8(&cv, "utf-8//TRANSLIT", "x", 1, &out, &fl), 0);	/* no options */
	CHECK(fl & MIME_F_BAD_CHARSET, "odd name refused");
	buf_free(&out);
	mime_conv_fini(&cv);
}

static void
test_multipart(void)
{
	const char *msg =
	    "From: =?utf-8?Q?J=C3=B6rg?= <j@example.org>\r\n"
	    "Subject: =?utf-8?B?VGVzdA==?=\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
	    "preamble\r\n--outer\r\n"
	    "Content-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n"
	    "--inner\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 =\r\nau lait\r\n"
	    "--inner\r\nContent-Type: text/html\r\n\r\n<p>Caf&eacute;</p>\r\n--inner--\r\n"
	    "--outer\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n"
	    "Content-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	    "JVBERi0=\r\n--outer--\r\nepilogue\r\n";
	struct mime_msg *m = parse(msg);

	CHECK_INT(m->n_parts, 5);
	CHECK_STR(m->subject, "Test");
	CHECK_STR(m->from, "J\xc3\xb6rg <j@example.org>");
	CHECK_STR(m->parts[1].subtype, "alternative");
	CHECK_INT(m->parts[2].parent, 1);
	CHECK_INT(m->parts[2].depth, 2);
	CHECK_STR(text_of(m, 2), "Caf\xc3\xa9 au lait");
	CHECK_STR(text_of(m, 3), "Caf\xc3\xa9");
	CHECK_STR(m->parts[4].filename, "a.pdf");
	CHECK_INT(m->parts[4].is_attachment, 1);
	CHECK_INT(m->parts[4].decoded.len, 5);
	CHECK(memcmp(m->parts[4].decoded.data, "%PDF-", 5) == 0, "pdf decoded");
	CHECK_INT(m->flags, 0);
	CHECK_INT(m->html_parts, 1);
	CHECK_INT(m->text_parts, 1);
	CHECK_INT(m->attachments, 1);
	mime_msg_free(&m);
	CHECK(m == NULL, "freed pointer NULLed");
}

static void
test_malformed_structure(void)
{
	struct mime_msg *m;

	/* no close delimiter: the last part runs to the end */
	m = parse("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n");
	CHECK_INT(m->n_parts, 3);
	CHECK(m->flags & MIME_F_BAD_BOUNDARY, "missing close flagged");
	CHECK_STR(text_of(m, 2), "two\n");
	mime_msg_free(&m);
	/* no delimiter at all: the body is read as text */
	m = parse("Content-Type: multipart/mixed; boundary=b\n\nhidden words\n");
	CHECK_INT(m->n_parts, 1);
	CHECK(m->flags & MIME_F_BAD_BOUNDARY, "no boundary flagged");
	CHECK_STR(m->text.data, "hidden words\n");
	mime_msg_free(&m);
	/* prefix match (RFC 2046 §5.1.1) and an outer delimiter ending an inner multipart */
	m = parse("Content-Type: multipart/mixed; boundary=a\n\n--a junk\n"
	    "Content-Type: multipart/mixed; boundary=ab\n\n--ab\n\nx\n--a\n\ny\n--a--\n");
	CHECK_INT(m->n_parts, 4);
	CHECK_STR(text_of(m, 2), "x");
	CHECK_STR(text_of(m, 3), "y");
	mime_msg_free(&m);
	/* a line that is no header field ends the header section */
	m = parse("Subject: s\nthis is body\n");
	CHECK(m->flags & MIME_F_BAD_HEADER, "bad header flagged");
	CHECK_STR(m->text.data, "this is body\n");
	mime_msg_free(&m);
	/* empty structural values (fuzz_mime: NULL buffers reached str_lcpy and ctype parsing) */
	m = parse("Content-Type:\nContent-Disposition: attachment; filename=\"\"\n\nx\n");
	CHECK_STR(m->parts[0].type, "text");
	CHECK(m->parts[0].filename == NULL, "empty filename is none");
	mime_msg_free(&m);
	m = parse("Content-Type: text/plain; charset=\"\"; name=\n\nx\n");
	CHECK_STR(m->parts[0].charset, "");
	mime_msg_free(&m);
	/* empty input */
	m = mime_parse(NULL, 0, NULL);
	CHECK_INT(m->n_parts, 1);
	mime_msg_free(&m);
}

static void
test_rfc822(void)
{
	struct mime_msg *m = parse(
	    "Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: message/rfc822\n\n"
	    "Subject: inner\nContent-Type: text/plain\n\ninner text\n--x\n"
	    "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
	    "U3ViamVjdDogYgoKYmFzZTY0IGlubmVyCg==\n--x--\n");

	CHECK_INT(m->n_parts, 5);
	CHECK_STR(m->parts[1].type, "message");
	CHECK_INT(m->parts[2].parent, 1);
	CHECK_STR(mime_header_get(m, 2, "SUBJECT"), "inner");
	CHECK_STR(text_of(m, 2), "inner text");
	CHECK_STR(text_of(m, 4), "base64 inner\n");
	CHECK(m->subject == NULL, "top has no subject");
	mime_msg_free(&m);
}

static void
test_limits(void)
{
	struct mime_limits l;
	struct buf b;
	struct mime_msg *m;

	mime_limits_default(&l);
	l.parts = 3;
	l.depth = 1;
	l.headers = 2;
	l.decoded = 4;
	l.text = 6;
	buf_init(&b, 1 << 20);
	buf_append_str(&b, "A: 1\nB: 2\nContent-Type: multipart/mixed; boundary=z\n\n");
	for (int i = 0; i < 5; i++)
		buf_printf(&b, "--z\nContent-Type: multipart/mixed; boundary=q%d\n\n--q%d\n\n"
		    "text %d\n", i, i, i);
	m = mime_parse(b.data, b.len, &l);
	CHECK_INT(m->n_parts, 3);	/* the top, two children; the nested ones past depth 1 */
	CHECK(m->flags & MIME_F_LIMIT_PARTS, "parts limit");
	CHECK(m->flags & MIME_F_LIMIT_HEADERS, "headers limit");
	CHECK(m->flags & MIME_F_LIMIT_DEPTH, "depth limit");
	CHECK(m->text.len <= 6, "text capped: %zu", m->text.len);
	CHECK_INT(m->parts[0].n_headers, 2);
	mime_msg_free(&m);
	/* depth: 100 nested message/rfc822 parts stop at MIME_DEPTH_MAX */
	buf_reset(&b);
	for (int i = 0; i < 100; i++)
		buf_append_str(&b, "Content-Type: message/rfc822\n\n");
	buf_append_str(&b, "deep\n");
	m = mime_parse(b.data, b.len, NULL);
	CHECK_INT(m->n_parts, MIME_DEPTH_MAX + 1);
	CHECK(m->flags & MIME_F_LIMIT_DEPTH, "depth limit");
	mime_msg_free(&m);
	buf_free(&b);
}

static void
test_html(void)
{
	static const struct {
		const char *html, *want;
		size_t hidden;
	} cases[] = {
		{ "<p>Hello&nbsp;<b>W&ouml;rld</b>&#33;&#x21;</p><p>two</p>", "Hello W\xc3\xb6rld!!\ntwo",
		  0 },
		{ "a<script>var x='<p>no</p>';</script>b<style>p{}</style>c<!-- gone -->d", "abcd", 0 },
		{ "<div style=\"display: none\">secret words here</div>shown", "shown", 15 },
		{ "<font color=\"#FFFFFF\">white</font> on white", "on white", 5 },
		{ "<table bgcolor=#000000><tr><td bgcolor=#fff>ok</td></tr></table>", "ok", 0 },
		{ "<span style='font-size:0px'>tiny</span>x", "x", 4 },
		{ "bro&shy;ken w&#8203;ord", "broken word", 0 },
		{ "1 < 2 &unknown; &amp", "1 < 2 &unknown; &", 0 },
		{ "<p>unclosed <b attr=\"x", "unclosed", 0 },
	};
	struct mime_link *links = NULL;
	size_t n_links = 0, hidden;
	struct buf t;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&t, 4096);
		CHECK_INT(mime_html_to_text(cases[i].html, strlen(cases[i].html), &t, &links, &n_links,
		    16, 0, &hidden), 0);
		CHECK(t.data != NULL && strcmp(t.data, cases[i].want) == 0,
		    "case %zu: got \"%s\", want \"%s\"", i, t.data ? t.data : "", cases[i].want);
		CHECK(hidden == cases[i].hidden, "case %zu: hidden %zu, want %zu", i, hidden,
		    cases[i].hidden);
		buf_free(&t);
	}
	CHECK_INT(n_links, 0);
	const char *h = "<a href=\" http://a.example/x?a=1&amp;b=2 \">Pay<b>Pal</b></a>"
	    "<img src='cid:1'><form action=/post><area href=\"http://c.example\"><a href=x>y";
	buf_init(&t, 4096);
	CHECK_INT(mime_html_to_text(h, strlen(h), &t, &links, &n_links, 16, 3, &hidden), 0);
	CHECK_INT(n_links, 5);
	CHECK_STR(links[0].url, "http://a.example/x?a=1&b=2");
	CHECK_STR(links[0].anchor, "PayPal");
	CHECK_INT(links[0].tag, MIME_LINK_A);
	CHECK_INT(links[0].part, 3);
	CHECK_STR(links[1].url, "cid:1");
	CHECK_INT(links[1].tag, MIME_LINK_IMG);
	CHECK_STR(links[2].url, "/post");
	CHECK_STR(links[3].url, "http://c.example");
	CHECK_STR(links[4].anchor, "y");
	for (size_t i = 0; i < n_links; i++) {
		free(links[i].url);
		free(links[i].anchor);
	}
	free(links);
	buf_free(&t);
	/* NUL octets are dropped from text and URLs (fuzz_html: an empty-looking URL) */
	buf_init(&t, 4096);
	links = NULL;
	n_links = 0;
	CHECK_INT(mime_html_to_text("a\0b<img src=\"\0\0cid:1\">", 22, &t, &links, &n_links, 4, 0,
	    &hidden), 0);
	CHECK_STR(t.data, "ab");
	CHECK_INT(n_links, 1);
	if (n_links == 1) {
		CHECK_STR(links[0].url, "cid:1");
		free(links[0].url);
		free(links[0].anchor);
	}
	free(links);
	buf_free(&t);
	/* the text cap: -1 and what fit */
	buf_init(&t, 4);
	links = NULL;
	n_links = 0;
	CHECK_INT(mime_html_to_text("abcdefgh", 8, &t, &links, &n_links, 0, 0, &hidden), -1);
	CHECK(t.len <= 4, "capped");
	buf_free(&t);
}

static void
test_dates(void)
{
	static const struct {
		const char *in;
		long long want;	/* -1: not a date */
	} cases[] = {
		{ "Thu, 13 Feb 1969 23:32:54 -0330", -27723426 },
		{ "Fri, 21 Nov 1997 09:55:06 -0600", 880127706 },
		{ "21 Nov 97 09:55:06 GMT", 880106106 },
		{ "Mon, 24 Nov 2025 10:00 +0000 (UTC)", 1763978400 },
		{ "Mon Nov 24 10:00:00 2025", 1763978400 },			/* asctime */
		{ "Tue, 1 Jul 2003 10:52:37 +0200", 1057049557 },
		{ "yesterday", -1 },
		{ "32 Jan 2020 10:00:00 +0000", -1 },
		{ "1 Jan 2020", -1 },
		{ "1 Jan 2020 25:00:00", -1 },
	};
	long long t;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = mime_date_parse(cases[i].in, strlen(cases[i].in), &t);
		if (cases[i].want == -1)
			CHECK(r == -1, "case %zu: \"%s\" parsed", i, cases[i].in);
		else
			CHECK(r == 0 && t == cases[i].want, "case %zu: got %d %lld, want %lld", i, r,
			    t, cases[i].want);
	}
}

static const struct unit_case cases[] = {
	{ "encoded_words", test_encoded_words },
	{ "params", test_params },
	{ "transfer_decoding", test_transfer_decoding },
	{ "charsets", test_charsets },
	{ "multipart", test_multipart },
	{ "malformed_structure", test_malformed_structure },
	{ "rfc822", test_rfc822 },
	{ "limits", test_limits },
	{ "html", test_html },
	{ "dates", test_dates },
};

UNIT_MAIN(cases)
