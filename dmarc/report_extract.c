/* report_extract.c: from a whole message (or a bare report file) to the XML documents of the
 * DMARC aggregate reports it carries (issue I). The message goes through the MIME parser of
 * issue D (common/mime.h) with the per-part decoded cap raised to the report cap; every leaf
 * part is then judged by its magic bytes alone (report_unpack.c), because reporters label
 * zips as application/octet-stream, gzip as text/plain and name files freely. The kinds taken
 * are the limits' (XML, gzip, zip; TLS-RPT's JSON and gzip come the same way, through
 * tlsrpt_extract.c). Runs on filter pool threads, in tests and mailguardctl; pure, no logging. Limits: MIME's own (parts, depth,
 * header sizes), a part cut by the decoded cap is refused (E_SIZE) rather than half-parsed,
 * and at most limits.payloads documents per message. */
#include <string.h>

#include "common/mime.h"
#include "dmarc/report.h"

/* Leaf parts: the message itself when not multipart, else parts without children. */
static int
is_leaf(const struct mime_msg *m, size_t i)
{
	if (strcmp(m->parts[i].type, "multipart") == 0)
		return 0;
	if (strcmp(m->parts[i].type, "message") == 0 && strcmp(m->parts[i].subtype, "rfc822") == 0)
		return 0;
	for (size_t j = i + 1; j < m->n_parts; j++)
		if (m->parts[j].parent == (int)i)
			return 0;
	return 1;
}

static int
extract_parts(const struct mime_msg *m, const struct mg_report_limits *l,
    struct mg_report_blobs *out, struct mg_report_err *err)
{
	int found = 0;

	for (size_t i = 0; i < m->n_parts; i++) {
		const struct mime_part *pt = &m->parts[i];
		struct mg_report_err perr = { MG_REPORT_OK, "" };

		if (!is_leaf(m, i) || pt->decoded.len == 0 ||
		    !mg_report_kind_taken(l, mg_report_sniff(pt->decoded.data, pt->decoded.len)))
			continue;
		if (pt->decoded_total > pt->decoded.len || pt->decoded.len > l->xml_max) {
			(void)mg_report_fail(err, MG_REPORT_E_SIZE,
			    "MIME part %zu: over %zu decoded octets", i, l->xml_max);
			continue;
		}
		if (out->n >= (size_t)l->payloads) {
			(void)mg_report_fail(err, MG_REPORT_E_ENTRIES, "more than %d reports",
			    l->payloads);
			break;
		}
		if (mg_report_unpack(pt->decoded.data, pt->decoded.len, l, out, &perr) == 0)
			found = 1;
		else
			(void)mg_report_fail(err, perr.reason, "MIME part %zu: %s", i, perr.text);
	}
	return found ? 0 : -1;
}

int
mg_report_extract(const char *msg, size_t len, const struct mg_report_limits *l,
    struct mg_report_blobs *out, struct mg_report_err *err)
{
	struct mg_report_limits def;
	struct mime_limits ml;
	struct mime_msg *m;
	char kinds[40];
	int rc;

	if (l == NULL) {
		mg_report_limits_default(&def);
		l = &def;
	}
	if (mg_report_kind_taken(l, mg_report_sniff(msg, len)))
		return mg_report_unpack(msg, len, l, out, err);
	mime_limits_default(&ml);
	/* One byte over the cap tells "exactly the cap" from "cut". */
	ml.decoded = l->xml_max + 1;
	m = mime_parse(msg, len, &ml);
	rc = extract_parts(m, l, out, err);
	mime_msg_free(&m);
	if (rc < 0 && err != NULL && err->reason == MG_REPORT_OK) {
		mg_report_kinds_text(l, kinds, sizeof(kinds));
		return mg_report_fail(err, MG_REPORT_E_NO_REPORT, "no %s part in the message",
		    kinds);
	}
	return rc;
}
