/* report_unpack.c: DMARC aggregate report containers (issue I) -- sniffing by magic bytes,
 * gzip (zlib; concatenated members joined, at most MG_REPORT_GZIP_DEPTH levels) and zip
 * (libzip from a memory buffer; at most MG_REPORT_ZIP_ENTRIES_MAX entries, .xml entries only).
 * Runs on filter pool threads, in tests and mailguardctl; pure, no logging. The input is
 * hostile: the sizes a container claims are never trusted or allocated; output is produced in
 * 64 KiB steps into a capped buffer and the absolute cap (xml_max) and the ratio cap
 * (ratio_max:1 once past ratio_free, measured against the outermost compressed size) are
 * checked after every step, so a bomb stops after at most xml_max + 64 KiB of work. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <zip.h>
#include <zlib.h>

#include "dmarc/report.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define STEP (64 * 1024)

void
mg_report_limits_default(struct mg_report_limits *l)
{
	l->xml_max = MG_REPORT_XML_MAX;
	l->ratio_free = MG_REPORT_RATIO_FREE;
	l->ratio_max = MG_REPORT_RATIO_MAX;
	l->gzip_depth = MG_REPORT_GZIP_DEPTH;
	l->zip_entries = MG_REPORT_ZIP_ENTRIES_MAX;
	l->payloads = MG_REPORT_PAYLOADS_MAX;
	l->records = MG_REPORT_RECORDS_MAX;
	l->kinds = MG_REPORT_KINDS_DMARC;
}

int
mg_report_kind_taken(const struct mg_report_limits *l, enum mg_report_kind k)
{
	unsigned kinds = l != NULL && l->kinds != 0 ? l->kinds : MG_REPORT_KINDS_DMARC;

	return k != MG_REPORT_KIND_NONE && (kinds & (1u << k)) != 0;
}

void
mg_report_kinds_text(const struct mg_report_limits *l, char *out, size_t size)
{
	static const struct { enum mg_report_kind k; const char *name; } order[] = {
		{ MG_REPORT_KIND_XML, "XML" }, { MG_REPORT_KIND_JSON, "JSON" },
		{ MG_REPORT_KIND_GZIP, "gzip" }, { MG_REPORT_KIND_ZIP, "zip" },
	};
	const char *names[4];
	char text[64] = "";	/* "XML, JSON, gzip or zip" at the most */
	size_t n = 0;

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (mg_report_kind_taken(l, order[i].k))
			names[n++] = order[i].name;
	for (size_t i = 0, o = 0; i < n; i++, o = strlen(text))
		(void)str_fmt(text + o, sizeof(text) - o, "%s%s",
		    i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
	(void)str_lcpy(out, text, size);
}

static const char *const reason_names[MG_REPORT_REASON_COUNT] = {
	"ok", "no_report", "container", "nesting", "zip_entries", "size", "ratio", "xml", "dtd",
	"schema", "value", "records",
};

const char *
mg_report_reason_name(enum mg_report_reason r)
{
	return (unsigned)r < MG_REPORT_REASON_COUNT ? reason_names[r] : "unknown";
}

void
mg_report_vtext(char *text, size_t size, const char *fmt, va_list ap)
{
	(void)vsnprintf(text, size, fmt, ap);
	for (char *p = text; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
}

int
mg_report_fail(struct mg_report_err *err, enum mg_report_reason reason, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err->reason != MG_REPORT_OK)
		return -1;
	err->reason = reason;
	va_start(ap, fmt);
	mg_report_vtext(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	return -1;
}

enum mg_report_kind
mg_report_sniff(const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i = 0;

	if (len >= 3 && p[0] == 0x1f && p[1] == 0x8b && p[2] == 8)
		return MG_REPORT_KIND_GZIP;
	if (len >= 4 && p[0] == 'P' && p[1] == 'K' && ((p[2] == 3 && p[3] == 4) ||
	    (p[2] == 5 && p[3] == 6)))
		return MG_REPORT_KIND_ZIP;
	if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
		i = 3;
	while (i < len && i < 4096 && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	if (len - i >= 5 && memcmp(p + i, "<?xml", 5) == 0)
		return MG_REPORT_KIND_XML;
	if (i < len && p[i] == '<') {
		/* "<feedback" or "<prefix:feedback" */
		size_t j = i + 1;

		while (j < len && j < i + 33 && p[j] != ':' && p[j] != '>' && p[j] != ' ')
			j++;
		j = j < len && p[j] == ':' ? j + 1 : i + 1;
		if (len - j >= 9 && memcmp(p + j, "feedback", 8) == 0 &&
		    (p[j + 8] == '>' || p[j + 8] == ' ' || p[j + 8] == '\t' || p[j + 8] == '\r' ||
		    p[j + 8] == '\n'))
			return MG_REPORT_KIND_XML;
	}
	if (i < len && p[i] == '{')
		return MG_REPORT_KIND_JSON;
	return MG_REPORT_KIND_NONE;
}

void
mg_report_blobs_free(struct mg_report_blobs *b)
{
	for (size_t i = 0; i < b->n; i++)
		xfree(b->v[i].data);
	xfree(b->v);
	b->v = NULL;
	b->n = 0;
}

/* Caps shared by every level of one payload: origin is the outermost compressed size. */
struct ucaps {
	const struct mg_report_limits *l;
	size_t origin;
};

/* 0 while out_len is within the caps, else -1 with *err. */
static int
check_caps(const struct ucaps *c, size_t out_len, const char *what, struct mg_report_err *err)
{
	if (out_len > c->l->xml_max)
		return mg_report_fail(err, MG_REPORT_E_SIZE, "%s: more than %zu octets of XML",
		    what, c->l->xml_max);
	if (out_len > c->l->ratio_free && out_len / c->l->ratio_max > c->origin)
		return mg_report_fail(err, MG_REPORT_E_RATIO,
		    "%s: decompression ratio over %u:1 (%zu octets from %zu)", what,
		    c->l->ratio_max, out_len, c->origin);
	return 0;
}

static void
add_blob(struct mg_report_blobs *out, struct buf *b, enum mg_report_kind from, unsigned quirks)
{
	out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
	out->v[out->n].len = b->len;
	out->v[out->n].data = buf_steal(b);
	if (out->v[out->n].data == NULL)
		out->v[out->n].data = xstrdup("");
	out->v[out->n].from = from;
	out->v[out->n].quirks = quirks;
	out->n++;
}

/* Room for the next inflate step in out: 0, or -1 (with *err) when the cap is reached. */
static int
make_room(struct buf *out, const struct ucaps *c, const char *what, struct mg_report_err *err)
{
	if (buf_reserve(out, STEP) == 0 || buf_reserve(out, 1) == 0)
		return 0;
	(void)check_caps(c, out->len + STEP, what, err);
	return -1;
}

/* Inflates a gzip stream (all concatenated members, RFC 1952 §2.2) into out. */
static int
gunzip(const unsigned char *p, size_t len, const struct ucaps *c, struct buf *out,
    unsigned *quirks, struct mg_report_err *err)
{
	z_stream z;
	int rc, ret = -1;

	if (len > UINT32_MAX)
		return mg_report_fail(err, MG_REPORT_E_SIZE, "gzip: %zu octets of input", len);
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return mg_report_fail(err, MG_REPORT_E_CONTAINER, "gzip: inflateInit2 failed");
	z.next_in = (unsigned char *)(uintptr_t)p;	/* zlib does not write its input */
	z.avail_in = (uInt)len;
	for (;;) {
		if (make_room(out, c, "gzip", err) < 0)
			break;
		z.next_out = (unsigned char *)out->data + out->len;
		z.avail_out = (uInt)(out->cap - out->len - 1 > STEP ? STEP : out->cap - out->len - 1);
		rc = inflate(&z, Z_NO_FLUSH);
		out->len = (size_t)((char *)z.next_out - out->data);
		out->data[out->len] = '\0';
		if (check_caps(c, out->len, "gzip", err) < 0)
			break;
		if (rc == Z_STREAM_END) {
			if (z.avail_in >= 3 && z.next_in[0] == 0x1f && z.next_in[1] == 0x8b &&
			    z.next_in[2] == 8) {
				(void)inflateReset(&z);
				continue;
			}
			if (z.avail_in > 0)	/* e.g. a CRLF after the stream: gzip(1) ignores it too */
				*quirks |= MG_REPORT_Q_GZIP_TRAIL;
			ret = 0;
			break;
		}
		if (rc == Z_BUF_ERROR && z.avail_in == 0) {
			mg_report_fail(err, MG_REPORT_E_CONTAINER, "gzip: truncated stream");
			break;
		}
		if (rc != Z_OK && rc != Z_BUF_ERROR) {
			mg_report_fail(err, MG_REPORT_E_CONTAINER, "gzip: %s",
			    z.msg != NULL ? z.msg : "corrupt data");
			break;
		}
	}
	inflateEnd(&z);
	return ret;
}

static int
has_xml_suffix(const char *name)
{
	size_t n = strlen(name);

	return n >= 4 && strcasecmp(name + n - 4, ".xml") == 0;
}

/* Reads entry i of an open archive into out, checking the caps as it goes. */
static int
zip_read_entry(zip_t *za, zip_uint64_t i, const struct ucaps *c, struct buf *out,
    struct mg_report_err *err)
{
	zip_file_t *zf;
	zip_int64_t n;

	if ((zf = zip_fopen_index(za, i, 0)) == NULL)
		return mg_report_fail(err, MG_REPORT_E_CONTAINER, "zip: entry %llu: %s",
		    (unsigned long long)i, zip_strerror(za));
	for (;;) {
		if (make_room(out, c, "zip", err) < 0)
			goto fail;
		size_t room = out->cap - out->len - 1 > STEP ? STEP : out->cap - out->len - 1;

		if ((n = zip_fread(zf, out->data + out->len, room)) < 0) {
			mg_report_fail(err, MG_REPORT_E_CONTAINER, "zip: entry %llu: %s",
			    (unsigned long long)i, zip_file_strerror(zf));
			goto fail;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->data[out->len] = '\0';
		if (check_caps(c, out->len, "zip", err) < 0)
			goto fail;
	}
	zip_fclose(zf);
	return 0;
fail:
	zip_fclose(zf);
	return -1;
}

static int
unzip(const unsigned char *p, size_t len, const struct ucaps *c, struct mg_report_blobs *out,
    struct mg_report_err *err)
{
	zip_error_t ze;
	zip_source_t *src;
	zip_t *za;
	zip_int64_t n;
	size_t added = 0;
	int ret = -1;

	zip_error_init(&ze);
	if ((src = zip_source_buffer_create(p, len, 0, &ze)) == NULL) {
		mg_report_fail(err, MG_REPORT_E_CONTAINER, "zip: %s", zip_error_strerror(&ze));
		zip_error_fini(&ze);
		return -1;
	}
	if ((za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze)) == NULL) {
		mg_report_fail(err, MG_REPORT_E_CONTAINER, "zip: %s", zip_error_strerror(&ze));
		zip_source_free(src);
		zip_error_fini(&ze);
		return -1;
	}
	zip_error_fini(&ze);
	n = zip_get_num_entries(za, 0);
	if (n < 0 || n > c->l->zip_entries) {
		mg_report_fail(err, MG_REPORT_E_ENTRIES, "zip: %lld entries (at most %d)",
		    (long long)n, c->l->zip_entries);
		goto done;
	}
	for (zip_int64_t i = 0; i < n; i++) {
		zip_stat_t st;
		const char *name;
		struct buf b;

		int unnamed;

		if (zip_stat_index(za, (zip_uint64_t)i, 0, &st) < 0 ||
		    (name = zip_get_name(za, (zip_uint64_t)i, 0)) == NULL)
			continue;
		/* "zip - -" streams an entry named "" or "-": taken when it sniffs as XML */
		unnamed = name[0] == '\0' || strcmp(name, "-") == 0;
		if (!unnamed && !has_xml_suffix(name))
			continue;
		if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
			mg_report_fail(err, MG_REPORT_E_CONTAINER, "zip: encrypted entry");
			goto done;
		}
		if (out->n >= (size_t)c->l->payloads) {
			mg_report_fail(err, MG_REPORT_E_ENTRIES, "zip: more than %d reports",
			    c->l->payloads);
			goto done;
		}
		/* A claimed size over the cap is refused before any work (it is not trusted
		 * when smaller: zip_read_entry counts what really comes out). */
		if ((st.valid & ZIP_STAT_SIZE) && st.size > c->l->xml_max) {
			(void)check_caps(c, c->l->xml_max + 1, "zip", err);
			goto done;
		}
		buf_init(&b, c->l->xml_max + 1);
		if (zip_read_entry(za, (zip_uint64_t)i, c, &b, err) < 0) {
			buf_free(&b);
			goto done;
		}
		if (unnamed && mg_report_sniff(b.data, b.len) != MG_REPORT_KIND_XML) {
			buf_free(&b);
			continue;
		}
		add_blob(out, &b, MG_REPORT_KIND_ZIP, 0);
		added++;
	}
	if (added == 0)
		mg_report_fail(err, MG_REPORT_E_CONTAINER, "zip: no .xml entry");
	else
		ret = 0;
done:
	zip_discard(za);
	return ret;
}

static int
unpack_level(const unsigned char *p, size_t len, const struct ucaps *c, int depth,
    struct mg_report_blobs *out, struct mg_report_err *err)
{
	enum mg_report_kind k = mg_report_sniff(p, len);
	unsigned quirks = 0;
	struct buf b;
	char kinds[40];
	int rc;

	if (!mg_report_kind_taken(c->l, k))
		k = MG_REPORT_KIND_NONE;
	switch (k) {
	case MG_REPORT_KIND_XML:
	case MG_REPORT_KIND_JSON:
		if (len > c->l->xml_max)
			return mg_report_fail(err, MG_REPORT_E_SIZE, "%s: %zu octets (at most %zu)",
			    k == MG_REPORT_KIND_JSON ? "json" : "xml", len, c->l->xml_max);
		if (out->n >= (size_t)c->l->payloads)
			return mg_report_fail(err, MG_REPORT_E_ENTRIES, "more than %d reports",
			    c->l->payloads);
		buf_init(&b, len + 1);
		(void)buf_append(&b, p, len);
		add_blob(out, &b, depth == 0 ? k : MG_REPORT_KIND_GZIP, 0);
		return 0;
	case MG_REPORT_KIND_GZIP:
		if (depth >= c->l->gzip_depth)
			return mg_report_fail(err, MG_REPORT_E_NESTING,
			    "gzip nested deeper than %d levels", c->l->gzip_depth);
		buf_init(&b, c->l->xml_max + 1);
		if (gunzip(p, len, c, &b, &quirks, err) < 0) {
			buf_free(&b);
			return -1;
		}
		if (mg_report_sniff(b.data, b.len) == MG_REPORT_KIND_ZIP) {
			buf_free(&b);
			return mg_report_fail(err, MG_REPORT_E_NESTING, "zip inside gzip");
		}
		if (mg_report_sniff(b.data, b.len) == MG_REPORT_KIND_GZIP) {
			rc = unpack_level((const unsigned char *)b.data, b.len, c, depth + 1, out,
			    err);
			buf_free(&b);
			return rc;
		}
		if (out->n >= (size_t)c->l->payloads) {
			buf_free(&b);
			return mg_report_fail(err, MG_REPORT_E_ENTRIES, "more than %d reports",
			    c->l->payloads);
		}
		/* Not sniffed as XML: the XML parser gives the precise error. */
		add_blob(out, &b, MG_REPORT_KIND_GZIP, quirks);
		return 0;
	case MG_REPORT_KIND_ZIP:
		if (depth > 0)
			return mg_report_fail(err, MG_REPORT_E_NESTING, "zip inside gzip");
		return unzip(p, len, c, out, err);
	default:
		mg_report_kinds_text(c->l, kinds, sizeof(kinds));
		return mg_report_fail(err, MG_REPORT_E_NO_REPORT, "not %s (by magic bytes)", kinds);
	}
}

int
mg_report_unpack(const void *p, size_t len, const struct mg_report_limits *l,
    struct mg_report_blobs *out, struct mg_report_err *err)
{
	struct mg_report_limits def;
	struct ucaps c;

	if (l == NULL) {
		mg_report_limits_default(&def);
		l = &def;
	}
	c.l = l;
	c.origin = len;
	return unpack_level(p, len, &c, 0, out, err);
}
