/* dmarc-ingest-bench.c: ingestion speed of incoming DMARC aggregate reports (issue I;
 * doc/benchmarks.md "I: report ingestion"). Every parseable aggregate report of the corpora
 * (parsedmarc samples, cry-inc, mail-dmarc) is wrapped four ways -- bare .xml, .xml.gz, .zip
 * and a MIME message with a base64 gzip attachment -- and N reports (default 10,000) cycle
 * through those inputs: mg_report_extract then mg_report_parse_xml, each report freed before
 * the next, as the filter worker would. Prints reports/s, records/s and peak RSS (getrusage).
 * Usage: dmarc-ingest-bench [-n N] [-x] (-x: leave out the 2,286-record large-example file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/dmarc/report_testlib.h"

#include "dmarc/dmarc.h"
#include "lib/strnum.h"

static const char *const files[] = {
	"parsedmarc/samples/aggregate/addisonfoods.com_example.com_1536105600_1536191999.xml",
	"parsedmarc/samples/aggregate/empty_reason.xml",
	"parsedmarc/samples/aggregate/example.com_1538204542_1538463818.xml",
	"parsedmarc/samples/aggregate/example.net_example.com_1529366400_1529452799.xml",
	"parsedmarc/samples/aggregate/ikea.com_example.de_1538690400_1538776800.xml",
	"parsedmarc/samples/aggregate/large-example.com_1711897200_1711983600.xml",
	"parsedmarc/samples/aggregate/old_draft_from_wiki.xml",
	"parsedmarc/samples/aggregate/protection.outlook.com_example.com_1711756800_1711843200.xml",
	"parsedmarc/samples/aggregate/rfc9990-example.net_example.com_1700000000_1700086399.xml",
	"parsedmarc/samples/aggregate/rfc9990-sample.xml",
	"parsedmarc/samples/aggregate/usssa.com_example.com_1538784000_1538870399.xml",
	"parsedmarc/samples/aggregate/veeam.com_example.com_1530133200_1530219600.xml",
	"parsedmarc/samples/extract_report/nice-input.xml",
	"parsedmarc/samples/extract_report/changed-input.xml",
	"cry-inc/testdata/dmarc-reports/acme.xml", "cry-inc/testdata/dmarc-reports/aol.xml",
	"cry-inc/testdata/dmarc-reports/gmxnet.xml", "cry-inc/testdata/dmarc-reports/google.xml",
	"cry-inc/testdata/dmarc-reports/hardfail.xml", "cry-inc/testdata/dmarc-reports/mailru.xml",
	"cry-inc/testdata/dmarc-reports/outlook.xml", "cry-inc/testdata/dmarc-reports/solamora.xml",
	"cry-inc/testdata/dmarc-reports/webde.xml", "cry-inc/testdata/dmarc-reports/yahoo.xml",
	"mail-dmarc/fixtures/test_dmarc.xml",
};

#define NFILES (sizeof(files) / sizeof(files[0]))

static void
b64(const unsigned char *s, size_t len, struct buf *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

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

int
main(int argc, char **argv)
{
	struct buf in[NFILES * 4];
	size_t n_in = 0, n = 10000, records = 0, failed = 0;
	int skip_large = 0;
	struct timespec t0, t1;
	struct rusage ru;
	long long v;
	const char *error;
	double secs;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc &&
		    strnum_ll(argv[++i], 1, 100000000, &v, &error) == 0)
			n = (size_t)v;
		else if (strcmp(argv[i], "-x") == 0)
			skip_large = 1;
		else {
			fprintf(stderr, "usage: dmarc-ingest-bench [-n N] [-x]\n");
			return 2;
		}
	}
	mg_report_init();
	for (size_t f = 0; f < NFILES; f++) {
		char rel[512];
		size_t len;
		char *x;
		const char *nm[1] = { "report.xml" };
		const void *dt[1];
		size_t ln[1];
		struct buf gz;

		if (skip_large && strstr(files[f], "large-example") != NULL)
			continue;
		snprintf(rel, sizeof(rel), "dmarc-reports/%s", files[f]);
		if ((x = rt_read(rel, 1, &len)) == NULL) {
			fprintf(stderr, "missing %s/%s\n", rt_corpora(), rel);
			return 1;
		}
		for (int k = 0; k < 4; k++)
			buf_init(&in[n_in + (size_t)k], SIZE_MAX);
		(void)buf_append(&in[n_in], x, len);
		rt_gzip(x, len, 1, &in[n_in + 1]);
		dt[0] = x;
		ln[0] = len;
		if (rt_zip(1, nm, dt, ln, &in[n_in + 2]) < 0)
			return 1;
		buf_init(&gz, SIZE_MAX);
		rt_gzip(x, len, 1, &gz);
		(void)buf_append_str(&in[n_in + 3], "From: noreply@reporter.example\r\n"
		    "To: dmarc@example.com\r\nSubject: Report Domain: example.com\r\nMIME-Version: 1.0\r\n"
		    "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
		    "Content-Type: text/plain\r\n\r\nAggregate report.\r\n--b\r\n"
		    "Content-Type: application/gzip; name=\"r.xml.gz\"\r\n"
		    "Content-Transfer-Encoding: base64\r\n\r\n");
		b64((const unsigned char *)gz.data, gz.len, &in[n_in + 3]);
		(void)buf_append_str(&in[n_in + 3], "--b--\r\n");
		buf_free(&gz);
		xfree(x);
		n_in += 4;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < n; i++) {
		/* a spread over files and containers: i walks the containers, i / 4 the files */
		const struct buf *b = &in[((i / 4) % (n_in / 4)) * 4 + i % 4];
		struct mg_report_blobs bl = { NULL, 0 };
		struct mg_report_err e = { MG_REPORT_OK, "" };

		if (mg_report_extract(b->data, b->len, NULL, &bl, &e) < 0 || bl.n != 1) {
			failed++;
			mg_report_blobs_free(&bl);
			continue;
		}
		struct mg_report *r = mg_report_parse_xml(bl.v[0].data, bl.v[0].len, NULL, &e);

		if (r == NULL)
			failed++;
		else
			records += r->n_records;
		mg_report_free(&r);
		mg_report_blobs_free(&bl);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_SELF, &ru);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("dmarc-ingest-bench: %zu reports (%zu inputs: %zu files x xml/gz/zip/eml), "
	    "%zu failed, %zu records\n", n, n_in, n_in / 4, failed, records);
	printf("  %.2f s, %.0f reports/s, %.0f records/s, peak RSS %ld KiB\n", secs,
	    (double)n / secs, (double)records / secs, ru.ru_maxrss);
	for (size_t i = 0; i < n_in; i++)
		buf_free(&in[i]);
	return failed != 0;
}
