/* test_attach.c: the attachment layer on real MIME messages (mime_parse): dangerous and double
 * extensions, macro documents, magic numbers against extensions and declared types, and zip
 * archives built with libzip (dangerous member, encrypted member, nested archive, broken zip). */
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>
#include <zip.h>

#include "filter/attach.h"
#include "filter/filter_int.h"
#include "lib/xalloc.h"
#include "unit.h"

/* A message with one base64 attachment. */
static char *
message(const char *ctype, const char *filename, const void *data, size_t len)
{
	char *b64 = xmalloc(4 * ((len + 2) / 3) + 1);
	char *msg;

	EVP_EncodeBlock((unsigned char *)b64, data, (int)len);
	msg = xasprintf("From: a@example.org\r\nSubject: t\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n"
	    "--BB\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
	    "--BB\r\nContent-Type: %s\r\nContent-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment; filename=\"%s\"\r\n\r\n%s\r\n--BB--\r\n",
	    ctype, filename, b64);
	xfree(b64);
	return msg;
}

static int
has_sym(const struct filter_score *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->sym[i].name, name) == 0)
			return 1;
	return 0;
}

/* Runs the layer on a message with one attachment; returns the symbols as "A,B,". */
static void
run(const char *ctype, const char *filename, const void *data, size_t len,
    struct filter_score *score)
{
	char *msg = message(ctype, filename, data, len);
	struct mime_msg *m = mime_parse(msg, strlen(msg), NULL);

	memset(score, 0, sizeof(*score));
	attach_check_msg(NULL, m, score);
	mime_msg_free(&m);
	xfree(msg);
}

static const struct {
	const char *name, *ctype, *filename, *data;
	size_t len;
	const char *want;	/* symbol that must be there, NULL = no symbol at all */
} cases[] = {
	{ "clean_pdf", "application/pdf", "report.pdf", "%PDF-1.4\n...", 12, NULL },
	{ "exe", "application/octet-stream", "setup.exe", "MZ\x90\0", 4, "ATTACH_DANGEROUS_EXT" },
	{ "exe_trailing_dot", "application/octet-stream", "setup.exe.", "MZ\x90\0", 4,
	  "ATTACH_DANGEROUS_EXT" },
	{ "double_ext", "application/pdf", "invoice.pdf   .exe", "MZ\x90\0", 4,
	  "ATTACH_DOUBLE_EXT" },
	{ "exe_declared_pdf", "application/pdf", "invoice.exe", "MZ\x90\0", 4,
	  "ATTACH_TYPE_MISMATCH" },
	{ "pe_named_pdf", "application/pdf", "invoice.pdf", "MZ\x90\0", 4,
	  "ATTACH_EXEC_DISGUISED" },
	{ "elf_named_jpg", "image/jpeg", "photo.jpg", "\x7f" "ELF\x02", 5, "ATTACH_EXEC_DISGUISED" },
	{ "pdf_is_zip", "application/pdf", "scan.pdf", "PK\x03\x04", 4, "ATTACH_TYPE_MISMATCH" },
	{ "docm", "application/vnd.ms-word.document.macroEnabled.12", "a.docm", "PK\x03\x04", 4,
	  "ATTACH_MACRO_DOC" },
	{ "js", "text/plain", "readme.js", "var a = 1;", 10, "ATTACH_DANGEROUS_EXT" },
	{ "lnk", "application/octet-stream", "doc.lnk", "L\0\0\0", 4, "ATTACH_DANGEROUS_EXT" },
	{ "iso", "application/octet-stream", "disk.ISO", "\0\0\0\0", 4, "ATTACH_DANGEROUS_EXT" },
	{ "png_ok", "image/png", "a.png", "\x89PNG\r\n\x1a\n", 8, NULL },
	{ "rtf_as_doc_ok", "application/msword", "letter.doc", "{\\rtf1", 6, NULL },
};

static void
test_table(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct filter_score s;

		run(cases[i].ctype, cases[i].filename, cases[i].data, cases[i].len, &s);
		if (cases[i].want == NULL)
			CHECK(s.n == 0, "%s: got %s, want no symbol", cases[i].name,
			    s.n ? s.sym[0].name : "");
		else
			CHECK(has_sym(&s, cases[i].want), "%s: %s missing (%zu symbols%s%s)",
			    cases[i].name, cases[i].want, s.n, s.n ? ", first " : "",
			    s.n ? s.sym[0].name : "");
	}
}

static void
test_helpers(void)
{
	char ext[16];

	attach_ext("Invoice.PDF", ext, sizeof(ext));
	CHECK_STR(ext, "pdf");
	attach_ext("noext", ext, sizeof(ext));
	CHECK_STR(ext, "");
	attach_ext("dir.d/file", ext, sizeof(ext));
	CHECK_STR(ext, "");
	attach_ext("a.verylongextensionname", ext, sizeof(ext));
	CHECK_STR(ext, "");
	CHECK_INT(attach_magic((const unsigned char *)"%PDF-1.7", 8), MAGIC_PDF);
	CHECK_INT(attach_magic((const unsigned char *)"M", 1), MAGIC_UNKNOWN);
	CHECK_STR(attach_magic_name(MAGIC_OLE), "ole");
}

/* Builds a zip with the given member names in memory; encrypt = 1 encrypts the first. */
static char *
make_zip(const char *const *names, int encrypt, size_t *len_r)
{
	char path[] = "/tmp/test_attach.XXXXXX";
	int fd = mkstemp(path), err;
	zip_t *z;
	char *data = NULL;
	FILE *fp;
	long n;

	if (fd < 0)
		return NULL;
	close(fd);
	if ((z = zip_open(path, ZIP_TRUNCATE, &err)) == NULL)
		return NULL;
	for (size_t i = 0; names[i] != NULL; i++) {
		zip_source_t *s = zip_source_buffer(z, "content", 7, 0);
		zip_int64_t idx = zip_file_add(z, names[i], s, ZIP_FL_ENC_UTF_8);
		if (encrypt && i == 0 && idx >= 0)
			(void)zip_file_set_encryption(z, (zip_uint64_t)idx, ZIP_EM_AES_256, "pw");
	}
	if (zip_close(z) < 0) {
		zip_discard(z);
		return NULL;
	}
	if ((fp = fopen(path, "rb")) != NULL) {
		fseek(fp, 0, SEEK_END);
		n = ftell(fp);
		rewind(fp);
		data = xmalloc((size_t)n);
		*len_r = fread(data, 1, (size_t)n, fp);
		fclose(fp);
	}
	unlink(path);
	return data;
}

static void
test_zip(void)
{
	static const char *const bad[] = { "docs/readme.txt", "docs/invoice.pdf.exe", NULL };
	static const char *const good[] = { "a.txt", "b/c.pdf", NULL };
	static const char *const nested[] = { "inner.zip", NULL };
	struct filter_score s;
	size_t len = 0;
	char *zip;

	zip = make_zip(bad, 0, &len);
	CHECK(zip != NULL, "zip not built");
	run("application/zip", "files.zip", zip, len, &s);
	CHECK(has_sym(&s, "ATTACH_ZIP_DANGEROUS"), "no ATTACH_ZIP_DANGEROUS");
	CHECK(has_sym(&s, "ATTACH_DOUBLE_EXT"), "no ATTACH_DOUBLE_EXT for the member");
	xfree(zip);

	zip = make_zip(good, 0, &len);
	run("application/zip", "files.zip", zip, len, &s);
	CHECK_INT(s.n, 0);
	xfree(zip);

	zip = make_zip(good, 1, &len);
	run("application/zip", "files.zip", zip, len, &s);
	CHECK(has_sym(&s, "ATTACH_ZIP_ENCRYPTED"), "no ATTACH_ZIP_ENCRYPTED");
	xfree(zip);

	zip = make_zip(nested, 0, &len);
	run("application/zip", "files.zip", zip, len, &s);
	CHECK(has_sym(&s, "ATTACH_ZIP_NESTED"), "no ATTACH_ZIP_NESTED");
	xfree(zip);

	run("application/zip", "broken.zip", "PK\x03\x04garbage", 11, &s);
	CHECK(has_sym(&s, "ATTACH_ZIP_BAD"), "no ATTACH_ZIP_BAD");
}

static const struct unit_case unit_cases[] = {
	{ "table", test_table },
	{ "helpers", test_helpers },
	{ "zip", test_zip },
};
UNIT_MAIN(unit_cases)
