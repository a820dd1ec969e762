/* test_report_unpack.c: DMARC report containers and extraction (dmarc/report_unpack.c,
 * dmarc/report_extract.c): magic sniffing, gzip (double, triple, multi-member, trailing bytes,
 * truncated), zip (libzip-made archives: .xml entries, too many entries, no .xml, corrupt, zip
 * inside gzip), gzip and zip bombs generated here (rejected by reason within bounded time and
 * memory, measured in a child), MIME extraction (misleading names and types, several reports,
 * a part over the cap) and the corpus messages (.eml with zip and gzip attachments).
 * Needs no libxml2: the XML side is in test_report_xml.c. */
#include "tests/unit/unit.h"
#include "tests/unit/dmarc/report_testlib.h"

#include "dmarc/dmarc.h"

static const char small_xml[] = "<?xml version=\"1.0\"?>\n<feedback><report_metadata>"
    "<org_name>t</org_name><report_id>1</report_id></report_metadata></feedback>\n";

static void
test_sniff(void)
{
	static const struct { const char *in; size_t len; enum mg_report_kind want; } t[] = {
		{ "\x1f\x8b\x08\x00", 4, MG_REPORT_KIND_GZIP },
		{ "\x1f\x8b", 2, MG_REPORT_KIND_NONE },
		{ "PK\x03\x04", 4, MG_REPORT_KIND_ZIP },
		{ "PK\x05\x06", 4, MG_REPORT_KIND_ZIP },
		{ "<?xml version", 13, MG_REPORT_KIND_XML },
		{ "\xef\xbb\xbf \r\n<?xml", 11, MG_REPORT_KIND_XML },
		{ "<feedback>", 10, MG_REPORT_KIND_XML },
		{ "<d:feedback xmlns:d=\"x\">", 24, MG_REPORT_KIND_XML },
		{ "<feedbacks>", 11, MG_REPORT_KIND_NONE },
		{ "<html><body>", 12, MG_REPORT_KIND_NONE },
		{ "From: a@b\r\n", 11, MG_REPORT_KIND_NONE },
		{ "{\"a\":1}", 7, MG_REPORT_KIND_JSON },
		{ "\xef\xbb\xbf\r\n {", 7, MG_REPORT_KIND_JSON },
		{ "", 0, MG_REPORT_KIND_NONE },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECK(mg_report_sniff(t[i].in, t[i].len) == t[i].want, "case %zu: got %d, want %d",
		    i, mg_report_sniff(t[i].in, t[i].len), t[i].want);
}

/* Unpacks p and expects one document equal to small_xml, or a failure with reason want. */
static void
expect_unpack(const void *p, size_t len, const struct mg_report_limits *l,
    enum mg_report_reason want, const char *what)
{
	struct mg_report_blobs b = { NULL, 0 };
	struct mg_report_err e = { MG_REPORT_OK, "" };
	int rc = mg_report_unpack(p, len, l, &b, &e);

	if (want == MG_REPORT_OK) {
		CHECK(rc == 0 && b.n == 1, "%s: rc %d n %zu (%s)", what, rc, b.n, e.text);
		CHECK(b.n == 1 && b.v[0].len == sizeof(small_xml) - 1 &&
		    memcmp(b.v[0].data, small_xml, b.v[0].len) == 0, "%s: content differs", what);
	} else {
		CHECK(rc == -1, "%s: accepted", what);
		CHECK(e.reason == want, "%s: reason got %s, want %s (%s)", what,
		    mg_report_reason_name(e.reason), mg_report_reason_name(want), e.text);
		CHECK(e.text[0] != '\0', "%s: no error text", what);
	}
	mg_report_blobs_free(&b);
}

static void
test_gzip(void)
{
	struct buf g1, g2, g3, multi;
	size_t half = (sizeof(small_xml) - 1) / 2;

	buf_init(&g1, SIZE_MAX);
	buf_init(&g2, SIZE_MAX);
	buf_init(&g3, SIZE_MAX);
	buf_init(&multi, SIZE_MAX);
	rt_gzip(small_xml, sizeof(small_xml) - 1, 1, &g1);
	rt_gzip(g1.data, g1.len, 1, &g2);
	rt_gzip(g2.data, g2.len, 1, &g3);
	expect_unpack(small_xml, sizeof(small_xml) - 1, NULL, MG_REPORT_OK, "bare xml");
	expect_unpack(g1.data, g1.len, NULL, MG_REPORT_OK, "gzip");
	expect_unpack(g2.data, g2.len, NULL, MG_REPORT_OK, "double gzip");
	expect_unpack(g3.data, g3.len, NULL, MG_REPORT_E_NESTING, "triple gzip");
	expect_unpack(g1.data, g1.len - 9, NULL, MG_REPORT_E_CONTAINER, "truncated gzip");
	expect_unpack(g1.data, 10, NULL, MG_REPORT_E_CONTAINER, "gzip header only");
	/* two members (RFC 1952 §2.2) are one document */
	rt_gzip(small_xml, half, 1, &multi);
	rt_gzip(small_xml + half, sizeof(small_xml) - 1 - half, 1, &multi);
	expect_unpack(multi.data, multi.len, NULL, MG_REPORT_OK, "two members");
	/* corrupt deflate data */
	g1.data[g1.len / 2] ^= 0x55;
	g1.data[g1.len / 2 + 1] ^= 0x55;
	expect_unpack(g1.data, g1.len, NULL, MG_REPORT_E_CONTAINER, "corrupt gzip");
	buf_free(&g1);
	buf_free(&g2);
	buf_free(&g3);
	buf_free(&multi);
}

static void
test_gzip_trailing(void)
{
	struct mg_report_blobs b = { NULL, 0 };
	struct mg_report_err e = { MG_REPORT_OK, "" };
	struct buf g;

	buf_init(&g, SIZE_MAX);
	rt_gzip(small_xml, sizeof(small_xml) - 1, 1, &g);
	(void)buf_append_str(&g, "\r\n");
	CHECK_INT(mg_report_unpack(g.data, g.len, NULL, &b, &e), 0);
	CHECK(b.n == 1 && (b.v[0].quirks & MG_REPORT_Q_GZIP_TRAIL), "trailing bytes not noted");
	mg_report_blobs_free(&b);
	buf_free(&g);
}

static void
test_zip(void)
{
	const char *names[17];
	const void *datas[17];
	size_t lens[17];
	char namebuf[17][16];
	struct buf z, g;

	for (int i = 0; i < 17; i++) {
		snprintf(namebuf[i], sizeof(namebuf[i]), "r%d.xml", i);
		names[i] = namebuf[i];
		datas[i] = small_xml;
		lens[i] = sizeof(small_xml) - 1;
	}
	buf_init(&z, SIZE_MAX);
	CHECK_INT(rt_zip(1, names, datas, lens, &z), 0);
	expect_unpack(z.data, z.len, NULL, MG_REPORT_OK, "zip");
	buf_init(&g, SIZE_MAX);
	rt_gzip(z.data, z.len, 1, &g);
	expect_unpack(g.data, g.len, NULL, MG_REPORT_E_NESTING, "zip inside gzip");
	buf_free(&g);
	expect_unpack(z.data, z.len - 30, NULL, MG_REPORT_E_CONTAINER, "truncated zip");
	buf_reset(&z);

	{	/* a readme.txt beside the report is skipped; an unnamed entry is sniffed */
		const char *nm[2] = { "readme.txt", "REPORT.XML" };
		CHECK_INT(rt_zip(2, nm, datas, lens, &z), 0);
		expect_unpack(z.data, z.len, NULL, MG_REPORT_OK, "zip with txt");
		buf_reset(&z);
		nm[0] = "notes.txt";
		CHECK_INT(rt_zip(1, nm, datas, lens, &z), 0);
		expect_unpack(z.data, z.len, NULL, MG_REPORT_E_CONTAINER, "zip without xml");
		buf_reset(&z);
		nm[0] = "-";
		CHECK_INT(rt_zip(1, nm, datas, lens, &z), 0);
		expect_unpack(z.data, z.len, NULL, MG_REPORT_OK, "zip entry -");
		buf_reset(&z);
	}
	CHECK_INT(rt_zip(17, names, datas, lens, &z), 0);
	expect_unpack(z.data, z.len, NULL, MG_REPORT_E_ENTRIES, "17 entries");
	buf_reset(&z);
	{	/* 8 reports are fine, the 9th is over the per-message cap */
		struct mg_report_blobs b = { NULL, 0 };
		struct mg_report_err e = { MG_REPORT_OK, "" };

		CHECK_INT(rt_zip(9, names, datas, lens, &z), 0);
		CHECK_INT(mg_report_unpack(z.data, z.len, NULL, &b, &e), -1);
		CHECK_INT(b.n, MG_REPORT_PAYLOADS_MAX);
		CHECK_STR(mg_report_reason_name(e.reason), "zip_entries");
		mg_report_blobs_free(&b);
	}
	buf_free(&z);
}

/* --- bombs, each unpacked in a child that measures its memory and time --- */

struct bomb {
	struct buf data;
	struct mg_report_limits l;
};

static int
unpack_reason(void *arg)
{
	struct bomb *bm = arg;
	struct mg_report_blobs b = { NULL, 0 };
	struct mg_report_err e = { MG_REPORT_OK, "" };

	(void)mg_report_unpack(bm->data.data, bm->data.len, &bm->l, &b, &e);
	mg_report_blobs_free(&b);
	return (int)e.reason;
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PEAK_KB_MAX (160L * 1024)	/* clang -fsanitize=address */
#endif
#elif defined(__SANITIZE_ADDRESS__)
#define PEAK_KB_MAX (160L * 1024)	/* gcc -fsanitize=address */
#endif
#ifndef PEAK_KB_MAX
#define PEAK_KB_MAX (40L * 1024)
#endif

static void
expect_bomb(struct bomb *bm, enum mg_report_reason want, const char *what)
{
	long kb, ms;
	int got = rt_bounded(unpack_reason, bm, &kb, &ms);

	CHECK(got == (int)want, "%s: reason got %d (%s), want %s", what, got,
	    got >= 0 ? mg_report_reason_name((enum mg_report_reason)got) : "child died",
	    mg_report_reason_name(want));
	/* the cap (32 MiB) plus the 64 KiB step and libzip/zlib state, never the claimed size
	 * (ASan keeps freed memory in its quarantine and pads blocks: the bound is for real builds) */
	CHECK(kb < PEAK_KB_MAX, "%s: peak memory grew by %ld KiB", what, kb);
	CHECK(ms < 5000, "%s: took %ld ms", what, ms);
	printf("     %s: %zu octets in, reason %s, +%ld KiB peak, %ld ms\n", what, bm->data.len,
	    got >= 0 ? mg_report_reason_name((enum mg_report_reason)got) : "?", kb, ms);
}

static void
test_gzip_bomb(void)
{
	static char zeros[1 << 20];	/* 1 MiB */
	struct bomb bm;

	/* 256 MiB of zeros in ~256 KiB: the absolute cap (32 MiB) stops it first */
	buf_init(&bm.data, SIZE_MAX);
	rt_gzip(zeros, sizeof(zeros), 256, &bm.data);
	mg_report_limits_default(&bm.l);
	expect_bomb(&bm, MG_REPORT_E_SIZE, "gzip bomb 256 MiB");
	buf_free(&bm.data);
	/* 24 MiB in ~24 KiB is under the absolute cap: the ratio cap stops it near 5 MiB */
	buf_init(&bm.data, SIZE_MAX);
	rt_gzip(zeros, sizeof(zeros), 24, &bm.data);
	expect_bomb(&bm, MG_REPORT_E_RATIO, "gzip bomb 24 MiB");
	buf_free(&bm.data);
}

/* Sets the uncompressed size of every local and central header of a one-entry zip. */
static void
zip_claim(struct buf *z, uint32_t size)
{
	unsigned char le[4] = { size & 255, (size >> 8) & 255, (size >> 16) & 255, size >> 24 };

	for (size_t i = 0; i + 46 <= z->len; i++) {
		if (memcmp(z->data + i, "PK\x03\x04", 4) == 0)
			memcpy(z->data + i + 22, le, 4);
		else if (memcmp(z->data + i, "PK\x01\x02", 4) == 0)
			memcpy(z->data + i + 24, le, 4);
	}
}

static int
unpack_fails(void *arg)
{
	return unpack_reason(arg) != MG_REPORT_OK;
}

static void
test_zip_bomb(void)
{
	size_t big = (size_t)256 << 20;	/* 256 MiB of zeros: untouched calloc pages, read once */
	char *zeros = xcalloc(1, big);
	const char *names[1] = { "bomb.xml" };
	const void *datas[1] = { zeros };
	size_t lens[1] = { big };
	struct bomb bm;
	long kb, ms;

	buf_init(&bm.data, SIZE_MAX);
	CHECK_INT(rt_zip(1, names, datas, lens, &bm.data), 0);
	mg_report_limits_default(&bm.l);
	expect_bomb(&bm, MG_REPORT_E_SIZE, "zip bomb 256 MiB (claimed size over the cap)");
	/* the same archive claiming 1000 octets: the caps count what really comes out */
	zip_claim(&bm.data, 1000);
	CHECK_INT(rt_bounded(unpack_fails, &bm, &kb, &ms), 1);
	CHECK(kb < PEAK_KB_MAX && ms < 5000, "lying zip bomb: +%ld KiB, %ld ms", kb, ms);
	printf("     lying zip bomb (claims 1000 octets): reason %s, +%ld KiB peak, %ld ms\n",
	    mg_report_reason_name((enum mg_report_reason)unpack_reason(&bm)), kb, ms);
	buf_free(&bm.data);
	/* 24 MiB (under the absolute cap) in ~24 KiB: the ratio cap stops it while reading */
	lens[0] = (size_t)24 << 20;
	buf_init(&bm.data, SIZE_MAX);
	CHECK_INT(rt_zip(1, names, datas, lens, &bm.data), 0);
	expect_bomb(&bm, MG_REPORT_E_RATIO, "zip bomb 24 MiB");
	buf_free(&bm.data);
	xfree(zeros);
}

/* --- extraction from messages --- */

static void
expect_extract(const char *msg, size_t len, const struct mg_report_limits *l, size_t want_n,
    enum mg_report_reason want, const char *what)
{
	struct mg_report_blobs b = { NULL, 0 };
	struct mg_report_err e = { MG_REPORT_OK, "" };
	int rc = mg_report_extract(msg, len, l, &b, &e);

	CHECK(b.n == want_n, "%s: %zu documents, want %zu (%s)", what, b.n, want_n, e.text);
	CHECK(rc == (want_n > 0 ? 0 : -1), "%s: rc %d", what, rc);
	if (want_n == 0)
		CHECK(e.reason == want, "%s: reason %s, want %s (%s)", what,
		    mg_report_reason_name(e.reason), mg_report_reason_name(want), e.text);
	for (size_t i = 0; i < b.n; i++)
		CHECK(mg_report_sniff(b.v[i].data, b.v[i].len) == MG_REPORT_KIND_XML,
		    "%s: document %zu is not XML", what, i);
	mg_report_blobs_free(&b);
}

static void
b64(const void *p, size_t len, struct buf *out)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = p;

	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)s[i] << 16 | (i + 1 < len ? (unsigned)s[i + 1] << 8 : 0) |
		    (i + 2 < len ? s[i + 2] : 0);
		char q[4] = { a[v >> 18], a[(v >> 12) & 63], i + 1 < len ? a[(v >> 6) & 63] : '=',
			i + 2 < len ? a[v & 63] : '=' };

		(void)buf_append(out, q, 4);
		if ((i / 3) % 19 == 18)
			(void)buf_append_str(out, "\r\n");
	}
	(void)buf_append_str(out, "\r\n");
}

static void
test_extract_messages(void)
{
	struct buf msg, gz;
	struct mg_report_limits l;

	buf_init(&msg, SIZE_MAX);
	buf_init(&gz, SIZE_MAX);
	rt_gzip(small_xml, sizeof(small_xml) - 1, 1, &gz);
	/* gzip as application/octet-stream named like a PDF: found by its magic */
	(void)buf_append_str(&msg, "From: a@example.net\r\nSubject: Report Domain: x\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
	    "--b1\r\nContent-Type: text/plain\r\n\r\nThis is a report.\r\n"
	    "--b1\r\nContent-Type: application/octet-stream; name=\"invoice.pdf\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n");
	b64(gz.data, gz.len, &msg);
	(void)buf_append_str(&msg, "--b1\r\nContent-Type: text/xml\r\n\r\n");
	(void)buf_append(&msg, small_xml, sizeof(small_xml) - 1);
	(void)buf_append_str(&msg, "\r\n--b1--\r\n");
	expect_extract(msg.data, msg.len, NULL, 2, MG_REPORT_OK, "octet-stream + text/xml");
	/* the same message with the XML part over a 100-octet cap: the gzip one still counts */
	mg_report_limits_default(&l);
	l.xml_max = 100;
	expect_extract(msg.data, msg.len, &l, 0, MG_REPORT_E_SIZE, "parts over the cap");
	buf_reset(&msg);
	(void)buf_append_str(&msg, "From: a@example.net\r\nContent-Type: application/zip; "
	    "name=\"r.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8gd29ybGQ=\r\n");
	expect_extract(msg.data, msg.len, NULL, 0, MG_REPORT_E_NO_REPORT, "zip name, no zip");
	buf_reset(&msg);
	(void)buf_append_str(&msg, "From: a@example.net\r\nSubject: hi\r\n\r\nJust text.\r\n");
	expect_extract(msg.data, msg.len, NULL, 0, MG_REPORT_E_NO_REPORT, "plain text");
	expect_extract("", 0, NULL, 0, MG_REPORT_E_NO_REPORT, "empty input");
	expect_extract(gz.data, gz.len, NULL, 1, MG_REPORT_OK, "bare gzip file");
	buf_free(&msg);
	buf_free(&gz);
}

static void
test_extract_corpus(void)
{
	static const char *const emls[] = {
		("dmarc-reports/parsedmarc/samples/aggregate/"
		    "Report_domain_borschow.com_Submitter_google.com_Report-ID_949348866075514174.eml"),
		"dmarc-reports/parsedmarc/samples/aggregate/twilight.eml",
		"dmarc-reports/parsedmarc/samples/aggregate/mimecast-weird-gzip.eml",
	};

	for (size_t i = 0; i < sizeof(emls) / sizeof(emls[0]); i++) {
		size_t len;
		char *m = rt_read(emls[i], 1, &len);

		CHECK(m != NULL, "corpus file missing: %s/%s", rt_corpora(), emls[i]);
		if (m == NULL)
			continue;
		expect_extract(m, len, NULL, 1, MG_REPORT_OK, emls[i]);
		xfree(m);
	}
}

/* The kinds taken: DMARC (the default) refuses bare JSON; TLS-RPT's set refuses XML and zip. */
static void
test_kinds(void)
{
	static const char json[] = "{\"organization-name\":\"x\"}";
	struct mg_report_limits l;
	struct mg_report_blobs b = { NULL, 0 };
	struct mg_report_err e = { MG_REPORT_OK, "" };
	char text[64];

	mg_report_limits_default(&l);
	mg_report_kinds_text(&l, text, sizeof(text));
	CHECK_STR(text, "XML, gzip or zip");
	CHECK(mg_report_unpack(json, strlen(json), &l, &b, &e) < 0 &&
	    e.reason == MG_REPORT_E_NO_REPORT, "json as dmarc: %s", e.text);
	CHECK_STR(e.text, "not XML, gzip or zip (by magic bytes)");
	memset(&e, 0, sizeof(e));
	CHECK(mg_report_extract(json, strlen(json), &l, &b, &e) < 0 &&
	    e.reason == MG_REPORT_E_NO_REPORT, "json message as dmarc: %s", e.text);
	CHECK_STR(e.text, "no XML, gzip or zip part in the message");
	l.kinds = 0;	/* zero: the DMARC set */
	CHECK(mg_report_kind_taken(&l, MG_REPORT_KIND_ZIP) &&
	    !mg_report_kind_taken(&l, MG_REPORT_KIND_JSON), "kinds 0");
	l.kinds = MG_REPORT_KINDS_TLSRPT;
	mg_report_kinds_text(&l, text, sizeof(text));
	CHECK_STR(text, "JSON or gzip");
	memset(&e, 0, sizeof(e));
	CHECK(mg_report_extract(json, strlen(json), &l, &b, &e) == 0 && b.n == 1 &&
	    b.v[0].from == MG_REPORT_KIND_JSON && b.v[0].len == strlen(json), "json: %s", e.text);
	mg_report_blobs_free(&b);
	memset(&e, 0, sizeof(e));
	CHECK(mg_report_unpack(small_xml, strlen(small_xml), &l, &b, &e) < 0 &&
	    e.reason == MG_REPORT_E_NO_REPORT && b.n == 0, "xml as tlsrpt: %s", e.text);
	CHECK_STR(e.text, "not JSON or gzip (by magic bytes)");
	mg_report_blobs_free(&b);
}

static const struct unit_case cases[] = {
	{ "sniff", test_sniff },
	{ "kinds", test_kinds },
	{ "gzip", test_gzip },
	{ "gzip_trailing", test_gzip_trailing },
	{ "zip", test_zip },
	{ "gzip_bomb", test_gzip_bomb },
	{ "zip_bomb", test_zip_bomb },
	{ "extract_messages", test_extract_messages },
	{ "extract_corpus", test_extract_corpus },
};

UNIT_MAIN(cases)
