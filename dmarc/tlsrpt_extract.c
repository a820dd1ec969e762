/* tlsrpt_extract.c: from a whole message (or a bare .json/.json.gz file) to the JSON documents
 * of the SMTP TLS reports it carries (RFC 8460 §5, issue I item 5). The message goes through
 * the MIME parser of issue D (common/mime.h) with the decoded cap raised to the JSON cap; each
 * leaf part is judged by its magic alone (JSON object or gzip), because reporters send
 * application/tlsrpt+gzip, application/gzip, octet-stream and .json.gz names alike. gzip goes
 * through the DMARC report unpacker (mg_report_unpack: 2 levels, absolute and ratio caps
 * checked while inflating). Runs on filter pool threads, in tests and tools; pure, no logging.
 * Limits: MIME's own, a part cut by the decoded cap is refused (E_SIZE), at most
 * limits.payloads documents per message. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/mime.h"
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
	(void)vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	for (char *p = err->text; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	return -1;
}

int
mg_tlsrpt_sniff(const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i = 0;

	if (len >= 3 && p[0] == 0x1f && p[1] == 0x8b && p[2] == 8)
		return 2;
	if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
		i = 3;
	while (i < len && i < 4096 && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	return i < len && p[i] == '{' ? 1 : 0;
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

static void
add_blob(struct mg_tlsrpt_blobs *out, char *data, size_t len, int gzipped, unsigned quirks)
{
	out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
	out->v[out->n].data = data;
	out->v[out->n].len = len;
	out->v[out->n].gzipped = gzipped;
	out->v[out->n].quirks = quirks;
	out->n++;
}

/* One payload (JSON or gzip of JSON) -> one document. */
static int
unpack(const char *p, size_t len, const struct mg_tlsrpt_limits *l,
    struct mg_tlsrpt_blobs *out, struct mg_tlsrpt_err *err)
{
	struct mg_report_limits rl;
	struct mg_report_blobs rb = { 0 };
	struct mg_report_err re = { MG_REPORT_OK, "" };
	int kind = mg_tlsrpt_sniff(p, len);

	if (out->n >= (size_t)l->payloads)
		return mg_tlsrpt_fail(err, MG_TLSRPT_E_CONTAINER, "more than %d reports", l->payloads);
	if (kind == 1) {
		if (len > l->json_max)
			return mg_tlsrpt_fail(err, MG_TLSRPT_E_SIZE, "json: %zu octets (at most %zu)", len,
			    l->json_max);
		char *copy = xmalloc(len + 1);

		memcpy(copy, p, len);
		copy[len] = '\0';
		add_blob(out, copy, len, 0, 0);
		return 0;
	}
	if (kind != 2)
		return mg_tlsrpt_fail(err, MG_TLSRPT_E_NO_REPORT, "not JSON or gzip (by magic bytes)");
	mg_report_limits_default(&rl);
	rl.xml_max = l->json_max;
	rl.ratio_free = l->ratio_free;
	rl.ratio_max = l->ratio_max;
	rl.gzip_depth = l->gzip_depth;
	rl.payloads = 1;
	if (mg_report_unpack(p, len, &rl, &rb, &re) < 0 || rb.n != 1) {
		mg_report_blobs_free(&rb);
		return mg_tlsrpt_fail(err, map_reason(re.reason), "%s", re.text[0] ? re.text : "gzip: no data");
	}
	add_blob(out, rb.v[0].data, rb.v[0].len, 1,
	    (rb.v[0].quirks & MG_REPORT_Q_GZIP_TRAIL) ? MG_TLSRPT_Q_GZIP_TRAIL : 0);
	rb.v[0].data = NULL;
	mg_report_blobs_free(&rb);
	return 0;
}

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
extract_parts(const struct mime_msg *m, const struct mg_tlsrpt_limits *l,
    struct mg_tlsrpt_blobs *out, struct mg_tlsrpt_err *err)
{
	int found = 0;

	for (size_t i = 0; i < m->n_parts; i++) {
		const struct mime_part *pt = &m->parts[i];
		struct mg_tlsrpt_err perr = { MG_TLSRPT_OK, "" };

		if (!is_leaf(m, i) || pt->decoded.len == 0 ||
		    mg_tlsrpt_sniff(pt->decoded.data, pt->decoded.len) == 0)
			continue;
		if (pt->decoded_total > pt->decoded.len || pt->decoded.len > l->json_max) {
			(void)mg_tlsrpt_fail(err, MG_TLSRPT_E_SIZE, "MIME part %zu: over %zu decoded octets",
			    i, l->json_max);
			continue;
		}
		if (out->n >= (size_t)l->payloads) {
			(void)mg_tlsrpt_fail(err, MG_TLSRPT_E_CONTAINER, "more than %d reports", l->payloads);
			break;
		}
		if (unpack(pt->decoded.data, pt->decoded.len, l, out, &perr) == 0)
			found = 1;
		else
			(void)mg_tlsrpt_fail(err, perr.reason, "MIME part %zu: %s", i, perr.text);
	}
	return found ? 0 : -1;
}

int
mg_tlsrpt_extract(const char *msg, size_t len, const struct mg_tlsrpt_limits *l,
    struct mg_tlsrpt_blobs *out, struct mg_tlsrpt_err *err)
{
	struct mg_tlsrpt_limits def;
	struct mime_limits ml;
	struct mime_msg *m;
	int rc;

	if (l == NULL) {
		mg_tlsrpt_limits_default(&def);
		l = &def;
	}
	if (mg_tlsrpt_sniff(msg, len) != 0)
		return unpack(msg, len, l, out, err);
	mime_limits_default(&ml);
	ml.decoded = l->json_max + 1;	/* one over: "exactly the cap" is not "cut" */
	m = mime_parse(msg, len, &ml);
	rc = extract_parts(m, l, out, err);
	mime_msg_free(&m);
	if (rc < 0 && err != NULL && err->reason == MG_TLSRPT_OK)
		return mg_tlsrpt_fail(err, MG_TLSRPT_E_NO_REPORT, "no JSON or gzip part in the message");
	return rc;
}
