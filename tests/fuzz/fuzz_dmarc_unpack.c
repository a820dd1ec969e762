/* fuzz_dmarc_unpack.c: libFuzzer target for DMARC report extraction and unpacking
 * (dmarc/report_extract.c, dmarc/report_unpack.c): the input is a whole message or a bare
 * .xml/.gz/.zip file, hostile either way. Limits are lowered (1 MiB of XML, ratio 50:1 past
 * 64 KiB) so bombs are found quickly. Invariants: success gives 1..payloads documents, each
 * NUL-terminated, at most xml_max octets; failure gives a reason and a printable text;
 * nothing leaks (ASan) and no document is produced past the caps. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc/dmarc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_report_limits l;
	struct mg_report_blobs b = { NULL, 0 };
	struct mg_report_err e = { MG_REPORT_OK, "" };
	int rc;

	mg_report_limits_default(&l);
	l.xml_max = 1024 * 1024;
	l.ratio_free = 64 * 1024;
	l.ratio_max = 50;
	rc = mg_report_extract((const char *)data, size, &l, &b, &e);
	if (rc == 0 && (b.n == 0 || b.n > (size_t)l.payloads))
		abort();
	if (rc < 0 && (e.reason == MG_REPORT_OK || e.text[0] == '\0'))
		abort();
	if (rc != 0 && rc != -1)
		abort();
	for (size_t i = 0; i < b.n; i++) {
		if (b.v[i].data == NULL || b.v[i].len > l.xml_max || b.v[i].data[b.v[i].len] != '\0')
			abort();
	}
	for (const char *p = e.text; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			abort();
	mg_report_blobs_free(&b);
	return 0;
}
