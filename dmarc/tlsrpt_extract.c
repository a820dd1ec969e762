/* tlsrpt_extract.c: from a whole message (or a bare .json/.json.gz file) to the JSON documents
 * of the SMTP TLS reports it carries (RFC 8460 §5, issue I item 5), plus the TLS-RPT limits,
 * reasons and blobs. Extraction is the DMARC report extractor's (mg_report_extract with
 * MG_REPORT_KINDS_TLSRPT): the MIME parser of issue D (common/mime.h) with the decoded cap
 * raised to the JSON cap; each leaf part judged by its magic alone (JSON object or gzip),
 * because reporters send application/tlsrpt+gzip, application/gzip, octet-stream and .json.gz
 * names alike; gzip through the DMARC unpacker (2 levels, absolute and ratio caps checked
 * while inflating). Runs on filter pool threads, in tests and tools; pure, no logging.
 * Limits: MIME's own, a part cut by the decoded cap is refused (E_SIZE), at most
 * limits.payloads documents per message. */
#include <stdarg.h>
#include <string.h>

#include "dmarc/report.h"
#include "dmarc/tlsrpt_in.h"
#include "lib/xalloc.h"

static const char *const reason_names[MG_TLSRPT_REASON_COUNT] = {
	"ok", "no_report", "container", "nesting", "size", "ratio", "json", "depth", "schema",
	"value", "policies", "failures",
};

void
mg_tlsrpt_limits_default(struct mg_tlsrpt_limits *l)
{
	l->json_max = MG_TLSRPT_JSON_MAX;
	l->ratio_free = MG_REPORT_RATIO_FREE;
	l->ratio_max = MG_REPORT_RATIO_MAX;
	l->gzip_depth = MG_REPORT_GZIP_DEPTH;
	l->payloads = MG_TLSRPT_PAYLOADS_MAX;
	l->policies = MG_TLSRPT_POLICIES_MAX;
	l->failures = MG_TLSRPT_FAILURES_MAX;
	l->depth = MG_TLSRPT_DEPTH_MAX;
}

const char *
mg_tlsrpt_reason_name(enum mg_tlsrpt_reason r)
{
	return (unsigned)r < MG_TLSRPT_REASON_COUNT ? reason_names[r] : "unknown";
}

void
mg_tlsrpt_blobs_free(struct mg_tlsrpt_blobs *b)
{
	for (size_t i = 0; i < b->n; i++)
		xfree(b->v[i].data);
	xfree(b->v);
	b->v = NULL;
	b->n = 0;
}

int
mg_tlsrpt_fail(struct mg_tlsrpt_err *err, enum mg_tlsrpt_reason reason, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err->reason != MG_TLSRPT_OK)
		return -1;
	err->reason = reason;
	va_start(ap, fmt);
	mg_report_vtext(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	return -1;
}

int
mg_tlsrpt_sniff(const void *data, size_t len)
{
	enum mg_report_kind k = mg_report_sniff(data, len);

	return k == MG_REPORT_KIND_GZIP ? 2 : k == MG_REPORT_KIND_JSON ? 1 : 0;
}

static enum mg_tlsrpt_reason
map_reason(enum mg_report_reason r)
{
	switch (r) {
	case MG_REPORT_E_NO_REPORT:
		return MG_TLSRPT_E_NO_REPORT;
	case MG_REPORT_E_NESTING:
		return MG_TLSRPT_E_NESTING;
	case MG_REPORT_E_SIZE:
		return MG_TLSRPT_E_SIZE;
	case MG_REPORT_E_RATIO:
		return MG_TLSRPT_E_RATIO;
	default:
		return MG_TLSRPT_E_CONTAINER;
	}
}

/* The DMARC extractor (report_extract.c) taking JSON and gzip: the same MIME leaf walk, magic
 * sniffing and capped inflating; its documents and first failure are carried over. */
int
mg_tlsrpt_extract(const char *msg, size_t len, const struct mg_tlsrpt_limits *l,
    struct mg_tlsrpt_blobs *out, struct mg_tlsrpt_err *err)
{
	struct mg_tlsrpt_limits def;
	struct mg_report_limits rl;
	struct mg_report_blobs rb = { 0 };
	struct mg_report_err re = { MG_REPORT_OK, "" };
	int rc;

	if (l == NULL) {
		mg_tlsrpt_limits_default(&def);
		l = &def;
	}
	mg_report_limits_default(&rl);
	rl.kinds = MG_REPORT_KINDS_TLSRPT;
	rl.xml_max = l->json_max;
	rl.ratio_free = l->ratio_free;
	rl.ratio_max = l->ratio_max;
	rl.gzip_depth = l->gzip_depth;
	rl.payloads = l->payloads;
	rc = mg_report_extract(msg, len, &rl, &rb, &re);
	if (rb.n > 0)
		out->v = xreallocarray(out->v, out->n + rb.n, sizeof(*out->v));
	for (size_t i = 0; i < rb.n; i++) {
		struct mg_tlsrpt_blob *b = &out->v[out->n++];

		b->data = rb.v[i].data;
		b->len = rb.v[i].len;
		b->gzipped = rb.v[i].from == MG_REPORT_KIND_GZIP;
		b->quirks = (rb.v[i].quirks & MG_REPORT_Q_GZIP_TRAIL) ? MG_TLSRPT_Q_GZIP_TRAIL : 0;
		rb.v[i].data = NULL;
	}
	mg_report_blobs_free(&rb);
	if (re.reason != MG_REPORT_OK)
		(void)mg_tlsrpt_fail(err, map_reason(re.reason), "%s", re.text);
	return rc;
}
