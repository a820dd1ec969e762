/* quarantine_query.c: search over the quarantine index (queue/quarantine.h): the parser of the
 * operator's (or the console's) query words, the matcher, the newest-first page of a search and
 * the list output as text or JSON. Pure, any thread. Query words arrive from mailguardctl or the
 * admin role through the supervisor: every value is bounded (QUAR_ARG_MAX), percent-decoded
 * strictly, NUL refused; numbers and dates are range-checked. */
#include "queue/quarantine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

int
quar_arg_decode(const char *src, char *dst, size_t size)
{
	size_t o = 0;

	for (const char *p = src; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '%') {
			int hi = str_hex_digit((unsigned char)p[1]), lo;

			if (hi < 0 || (lo = str_hex_digit((unsigned char)p[2])) < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			if (c == '\0')
				return -1;
			p += 2;
		}
		if (o + 1 >= size || o >= QUAR_ARG_MAX)
			return -1;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return 0;
}

/* "1700000000", "2026-11-25" (00:00 UTC) or "2026-11-25T10:00:00Z". */
static int
parse_time(const char *s, long long *t_r)
{
	struct tm tm;
	int v[6] = { 0 };
	static const int at[6] = { 0, 5, 8, 11, 14, 17 }, width[6] = { 4, 2, 2, 2, 2, 2 };
	size_t len = strlen(s), nf;
	const char *ignored;

	if (len > 0 && strspn(s, "0123456789") == len)
		return strnum_ll(s, 0, ENVELOPE_TIME_MAX, t_r, &ignored);
	if (len == 10)
		nf = 3;
	else if (len == 20 && s[10] == 'T' && s[13] == ':' && s[16] == ':' && s[19] == 'Z')
		nf = 6;
	else
		return -1;
	if (s[4] != '-' || s[7] != '-')
		return -1;
	for (size_t i = 0; i < nf; i++)
		for (int k = 0; k < width[i]; k++) {
			char c = s[at[i] + k];

			if (c < '0' || c > '9')
				return -1;
			v[i] = v[i] * 10 + (c - '0');
		}
	if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	tm.tm_hour = v[3];
	tm.tm_min = v[4];
	tm.tm_sec = v[5];
	*t_r = (long long)timegm(&tm);
	return *t_r < 0 ? -1 : 0;
}

enum qkey { QK_DOMAIN, QK_RCPT, QK_FROM, QK_SUBJECT, QK_MIN, QK_MAX, QK_SINCE, QK_UNTIL,
	QK_LIMIT, QK_OFFSET, QK_COUNT };
static const char *const qkey_names[QK_COUNT] = { "domain", "rcpt", "from", "subject", "min",
	"max", "since", "until", "limit", "offset" };

static int
query_set(struct quar_query *q, enum qkey k, const char *v, const char **error_r)
{
	long long n;
	const char *ignored;

	switch (k) {
	case QK_DOMAIN: str_lcpy(q->domain, v, sizeof(q->domain)); break;
	case QK_RCPT: str_lcpy(q->rcpt, v, sizeof(q->rcpt)); break;
	case QK_FROM: str_lcpy(q->from, v, sizeof(q->from)); break;
	case QK_SUBJECT: str_lcpy(q->subject, v, sizeof(q->subject)); break;
	case QK_MIN:
	case QK_MAX:
		if (strnum_double(v, -1e9, 1e9, k == QK_MIN ? &q->min : &q->max, &ignored) < 0) {
			*error_r = "min= and max= take a score, e.g. 6 or -1.5";
			return -1;
		}
		*(k == QK_MIN ? &q->has_min : &q->has_max) = 1;
		break;
	case QK_SINCE:
	case QK_UNTIL:
		if (parse_time(v, k == QK_SINCE ? &q->since : &q->until) < 0) {
			*error_r = "since= and until= take unix seconds, YYYY-MM-DD or "
			    "YYYY-MM-DDTHH:MM:SSZ";
			return -1;
		}
		break;
	case QK_LIMIT:
	case QK_OFFSET:
		if (strnum_ll(v, k == QK_LIMIT ? 1 : 0, k == QK_LIMIT ? QUAR_LIMIT_MAX : 100000000,
		    &n, &ignored) < 0) {
			*error_r = "limit= takes 1..10000, offset= a count from 0";
			return -1;
		}
		*(k == QK_LIMIT ? &q->limit : &q->offset) = (size_t)n;
		break;
	case QK_COUNT:
		break;
	}
	return 0;
}

int
quar_query_parse(int argc, char **argv, struct quar_query *q, const char **error_r)
{
	unsigned seen = 0;
	char val[QUAR_ARG_MAX + 1];

	memset(q, 0, sizeof(*q));
	q->limit = QUAR_LIMIT_DEFAULT;
	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		size_t kl = eq ? (size_t)(eq - argv[i]) : 0;
		int k;

		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "json") == 0) {
			q->json = 1;
			continue;
		}
		for (k = 0; k < QK_COUNT; k++)
			if (eq && strlen(qkey_names[k]) == kl && strncmp(argv[i], qkey_names[k], kl) == 0)
				break;
		if (k == QK_COUNT) {
			*error_r = "unknown search word (domain= rcpt= from= subject= min= max= "
			    "since= until= limit= offset= --json)";
			return -1;
		}
		if (seen & (1u << k)) {
			*error_r = "search word given twice";
			return -1;
		}
		seen |= 1u << k;
		if (quar_arg_decode(eq + 1, val, sizeof(val)) < 0 || val[0] == '\0') {
			*error_r = "bad search value (empty, over 256 octets, or a bad %XX escape)";
			return -1;
		}
		if (query_set(q, (enum qkey)k, val, error_r) < 0)
			return -1;
	}
	return 0;
}

static const char *
addr_domain(const char *a)
{
	const char *at = strrchr(a, '@');

	return at ? at + 1 : "";
}

static int
any_rcpt(const struct quar_rec *r, const char *want, int domain)
{
	for (size_t i = 0; i < r->n_rcpts; i++)
		if (strcasecmp(domain ? addr_domain(r->rcpts[i]) : r->rcpts[i], want) == 0)
			return 1;
	return 0;
}

int
quar_match(const struct quar_query *q, const struct quar_rec *r)
{
	if ((q->has_min && r->score < q->min) || (q->has_max && r->score > q->max) ||
	    (q->since && r->arrival < q->since) || (q->until && r->arrival > q->until))
		return 0;
	if (q->from[0] && strcasestr(r->sender, q->from) == NULL)
		return 0;
	if (q->subject[0] && strcasestr(r->subject, q->subject) == NULL)
		return 0;
	/* each on its own: some recipient in the domain, some recipient with the address */
	if (q->domain[0] && !any_rcpt(r, q->domain, 1))
		return 0;
	if (q->rcpt[0] && !any_rcpt(r, q->rcpt, 0))
		return 0;
	return 1;
}

size_t
quar_search(struct quar_rec *const *recs, size_t n, const struct quar_query *q,
    struct quar_rec ***page_r, size_t *n_page_r)
{
	size_t total = 0, np = 0, limit = q->limit ? q->limit : QUAR_LIMIT_DEFAULT;
	struct quar_rec **page = xcalloc(limit, sizeof(*page));

	for (size_t i = n; i-- > 0;) {
		if (!quar_match(q, recs[i]))
			continue;
		if (total >= q->offset && np < limit)
			page[np++] = recs[i];
		total++;
	}
	*page_r = page;
	*n_page_r = np;
	return total;
}

/* ---- output ---- */

/* A JSON string of clean UTF-8 (no controls): quotes and backslashes escaped, and <>& as \u
 * escapes so the text can sit inside an HTML page without meaning anything there. */
int
quar_json_str(struct buf *out, const char *s)
{
	if (buf_append_char(out, '"') < 0)
		return -1;
	for (; *s; s++) {
		int r;

		switch (*s) {
		case '"': r = buf_append_str(out, "\\\""); break;
		case '\\': r = buf_append_str(out, "\\\\"); break;
		case '<': r = buf_append_str(out, "\\u003c"); break;
		case '>': r = buf_append_str(out, "\\u003e"); break;
		case '&': r = buf_append_str(out, "\\u0026"); break;
		default:
			r = (unsigned char)*s < 0x20 ? buf_printf(out, "\\u%04x", (unsigned char)*s) :
			    buf_append_char(out, *s);
		}
		if (r < 0)
			return -1;
	}
	return buf_append_char(out, '"');
}

int
quar_format_json(const struct quar_rec *r, struct buf *out)
{
	if (buf_printf(out, "{\"qid\":\"%s\",\"arrival\":%lld,\"size\":%lld,\"score\":%.2f,"
	    "\"sender\":", r->qid, r->arrival, r->size, r->score) < 0 ||
	    quar_json_str(out, r->sender) < 0 || buf_append_str(out, ",\"subject\":") < 0 ||
	    quar_json_str(out, r->subject) < 0 || buf_append_str(out, ",\"symbols\":") < 0 ||
	    quar_json_str(out, r->symbols) < 0 ||
	    buf_printf(out, ",\"rcpt_count\":%zu,\"rcpts\":[", r->n_rcpts_total) < 0)
		return -1;
	for (size_t i = 0; i < r->n_rcpts; i++)
		if ((i > 0 && buf_append_char(out, ',') < 0) || quar_json_str(out, r->rcpts[i]) < 0)
			return -1;
	return buf_append_str(out, "]}");
}

static int
format_line(const struct quar_rec *r, struct buf *out)
{
	char t[32];
	time_t tt = (time_t)r->arrival;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (buf_printf(out, "%s %s score=%.2f from=<%s> to=<%s>", r->qid, t, r->score, r->sender,
	    r->n_rcpts ? r->rcpts[0] : "") < 0)
		return -1;
	if (r->n_rcpts_total > 1 && buf_printf(out, "+%zu", r->n_rcpts_total - 1) < 0)
		return -1;
	return buf_printf(out, " subject=\"%s\"\n", r->subject);
}

int
quar_format_list(struct quar_rec *const *page, size_t n, size_t total,
    const struct quar_query *q, struct buf *out)
{
	if (!q->json) {
		for (size_t i = 0; i < n; i++)
			if (format_line(page[i], out) < 0)
				return -1;
		return buf_printf(out, "-- %zu of %zu quarantined message(s)\n", n, total);
	}
	if (buf_printf(out, "{\"total\":%zu,\"offset\":%zu,\"limit\":%zu,\"messages\":[", total,
	    q->offset, q->limit) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((i > 0 && buf_append_char(out, ',') < 0) || quar_format_json(page[i], out) < 0)
			return -1;
	return buf_append_str(out, "]}\n");
}
