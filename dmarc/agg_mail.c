/* DMARC aggregate reports we send (issue I), part 3: the gzip file and the report message of
 * RFC 7489 §7.2.1.1 (Subject "Report Domain: ... Submitter: ... Report-ID: <...>", the XML
 * gzipped as application/gzip named "receiver!policy-domain!begin!end.xml.gz", a short
 * text/plain part). Runs in the daily report job; the caller hands the bytes to the queue's
 * inject path. Inputs are our own (config, canonical policy domains, addresses checked by
 * agg_rua.c), still checked here before they reach a header line: no CR, LF, spaces or angle
 * brackets in addresses, host names canonical. Limit: MG_DMARC_AGG_MSG_MAX (or out's max). */
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "dmarc/dmarc.h"
#include "lib/str.h"

int
mg_dmarc_agg_gzip(const char *in, size_t len, struct buf *out)
{
	z_stream z;
	unsigned char chunk[16384];
	size_t old = out->len;
	int zr;

	memset(&z, 0, sizeof(z));
	/* windowBits 15 + 16: a gzip wrapper with no name and mtime 0 (deflateSetHeader not
	 * called), so the same XML always gives the same file */
	if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	z.next_in = (unsigned char *)(uintptr_t)in;
	do {
		size_t take = len > (1u << 30) ? (1u << 30) : len;

		z.avail_in = (uInt)take;
		len -= take;
		do {
			z.next_out = chunk;
			z.avail_out = sizeof(chunk);
			zr = deflate(&z, len == 0 ? Z_FINISH : Z_NO_FLUSH);
			if (zr == Z_STREAM_ERROR ||
			    buf_append(out, chunk, sizeof(chunk) - z.avail_out) < 0) {
				deflateEnd(&z);
				out->len = old;
				return -1;
			}
		} while (z.avail_out == 0);
	} while (len > 0);
	deflateEnd(&z);
	return zr == Z_STREAM_END ? 0 : -1;
}

/* 1 if s is a canonical host name (lowercase, A-labels, no final dot). */
static int
is_host(const char *s)
{
	char canon[MG_DMARC_DOMAIN_MAX + 1];
	const char *error;

	return s != NULL && s[0] != '\0' && mg_dmarc_domain_canon(s, strlen(s), canon,
	    sizeof(canon), &error) == 0 && strcmp(canon, s) == 0;
}

/* 1 if s can go between angle brackets in a header: printable ASCII, one '@', no blanks,
 * brackets, quotes, commas or backslashes, at most MG_DMARC_URI_LEN octets. */
static int
is_plain_addr(const char *s)
{
	size_t at = 0, n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > MG_DMARC_URI_LEN)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || strchr("<>\"(),;\\", c) != NULL)
			return 0;
		at += c == '@';
	}
	return at == 1 && s[0] != '@' && s[n - 1] != '@';
}

int
mg_dmarc_agg_filename(const struct mg_dmarc_agg *a, const struct mg_dmarc_agg_report *r,
    const char *receiver, char *out, size_t size)
{
	if (!is_host(receiver) || !is_host(r->policy_domain))
		return -1;
	return str_fmt(out, size, "%s!%s!%lld!%lld.xml.gz", receiver, r->policy_domain, a->begin,
	    a->end);
}

/* RFC 5322 §3.3 date in UTC, without the locale. */
static int
format_date(long long t, char *out, size_t size)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
		"Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		return -1;
	return str_fmt(out, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
	    tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int
base64_lines(const unsigned char *p, size_t len, struct buf *out)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char line[78];
	size_t col = 0;

	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;

		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		line[col++] = b64[(v >> 18) & 63];
		line[col++] = b64[(v >> 12) & 63];
		line[col++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		line[col++] = i + 2 < len ? b64[v & 63] : '=';
		if (col == 76 || i + 3 >= len) {
			line[col++] = '\r';
			line[col++] = '\n';
			if (buf_append(out, line, col) < 0)
				return -1;
			col = 0;
		}
	}
	return 0;
}

static int
headers(const struct mg_dmarc_agg_report *r, const struct mg_dmarc_agg_meta *m,
    const char *const *to, size_t n_to, const char *boundary, struct buf *out)
{
	char date[64];

	if (format_date(m->now, date, sizeof(date)) < 0 ||
	    buf_printf(out, "From: <%s>\r\nDate: %s\r\nTo: ", m->from, date) < 0)
		return -1;
	for (size_t i = 0; i < n_to; i++)
		if (buf_printf(out, "%s<%s>", i > 0 ? ",\r\n " : "", to[i]) < 0)
			return -1;
	/* §7.2.1.1 Subject, folded between its three parts (1*FWS each) */
	return buf_printf(out, "\r\nSubject: Report Domain: %s\r\n Submitter: %s\r\n"
	    " Report-ID: <%s>\r\nMessage-ID: <%s@%s>\r\nAuto-Submitted: auto-generated\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n boundary=\"%s\"\r\n\r\n"
	    "This is a multipart message in MIME format.\r\n\r\n", r->policy_domain, m->receiver,
	    r->report_id, r->report_id, m->receiver, boundary);
}

int
mg_dmarc_agg_message(const struct mg_dmarc_agg *a, const struct mg_dmarc_agg_report *r,
    const struct mg_dmarc_agg_meta *m, const struct buf *gz, const char *const *to, size_t n_to,
    struct buf *out, const char **error_r)
{
	char name[2 * MG_DMARC_DOMAIN_MAX + 64], boundary[96];
	size_t old = out->len;

	if (mg_dmarc_agg_filename(a, r, m->receiver, name, sizeof(name)) < 0) {
		*error_r = "receiver or policy domain is not a host name";
		return -1;
	}
	if (!is_plain_addr(m->from) || n_to == 0) {
		*error_r = n_to == 0 ? "no recipient" : "bad From address";
		return -1;
	}
	for (size_t i = 0; i < n_to; i++) {
		if (!is_plain_addr(to[i])) {
			*error_r = "bad recipient address";
			return -1;
		}
	}
	/* base64 never holds "=_", so the boundary cannot occur in the body (RFC 2046 §5.1.1) */
	(void)str_fmt(boundary, sizeof(boundary), "=_mgdmarc_%lld_%zu", a->begin, gz->len);
	if (headers(r, m, to, n_to, boundary, out) < 0 ||
	    buf_printf(out, "--%s\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n"
	    "This is a DMARC aggregate report (RFC 7489) from %s\r\n"
	    "for %s, %lld to %lld (Unix time, UTC),\r\n"
	    "%llu messages in %zu records.\r\n\r\n", boundary, m->receiver, r->policy_domain,
	    a->begin, a->end, r->messages, r->n_rec) < 0 ||
	    buf_printf(out, "--%s\r\nContent-Type: application/gzip\r\n"
	    "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment;\r\n"
	    " filename=\"%s\"\r\n\r\n", boundary, name) < 0 ||
	    base64_lines((const unsigned char *)gz->data, gz->len, out) < 0 ||
	    buf_printf(out, "\r\n--%s--\r\n", boundary) < 0 ||
	    out->len - old > MG_DMARC_AGG_MSG_MAX) {
		out->len = old;
		if (out->data != NULL)
			out->data[old] = '\0';
		*error_r = "report message too large";
		return -1;
	}
	return 0;
}
