/* digest_build.c: composes one user's quarantine digest (queue/digest.h): header section, a
 * multipart/alternative text/plain + text/html body (quoted-printable UTF-8) and, when a logo is
 * configured, a multipart/related wrapper with the logo as an inline part (base64, Content-ID).
 * Runs in the queue role (and the unit test and bench tools); pure apart from minting tokens
 * (common/qtoken.h) and random boundaries. Trusts nothing it lists: senders and subjects come
 * from peers (already cleaned to printable UTF-8 by quar_clean) and are HTML-escaped in the
 * HTML part; header fields carry only our own text, RFC 2047-encoded when not plain ASCII.
 * Limits: DIGEST_LIST_MAX rows, DIGEST_BRAND_MAX octets of brand name, out's own max. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "common/qtoken.h"
#include "lib/str.h"
#include "lib/xalloc.h"
#include "queue/digest.h"

#define DIGEST_COLOR_DEFAULT "#1f6feb"
#define QP_LINE 76

static const char *const wday[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
	"Sep", "Oct", "Nov", "Dec" };

int
digest_color_ok(const char *s)
{
	if (s == NULL || s[0] != '#' || strlen(s) != 7)
		return 0;
	for (int i = 1; i < 7; i++)
		if (str_hex_digit((unsigned char)s[i]) < 0)
			return 0;
	return 1;
}

const char *
digest_logo_type(const void *data, size_t len)
{
	static const unsigned char png[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	const char *s = data;
	size_t look = len < 1024 ? len : 1024;

	if (len >= sizeof(png) && memcmp(data, png, sizeof(png)) == 0)
		return "image/png";
	/* an SVG document: "<svg" near the start (after an XML declaration or comments) */
	for (size_t i = 0; i + 4 <= look; i++)
		if (memcmp(s + i, "<svg", 4) == 0)
			return "image/svg+xml";
	return NULL;
}

/* Appends s HTML-escaped (text and attribute values alike). */
static int
html_esc(struct buf *b, const char *s)
{
	int rc = 0;

	for (; *s && rc == 0; s++) {
		switch (*s) {
		case '&': rc = buf_append_str(b, "&amp;"); break;
		case '<': rc = buf_append_str(b, "&lt;"); break;
		case '>': rc = buf_append_str(b, "&gt;"); break;
		case '"': rc = buf_append_str(b, "&quot;"); break;
		case '\'': rc = buf_append_str(b, "&#39;"); break;
		default: rc = buf_append_char(b, *s); break;
		}
	}
	return rc;
}

/* Length of the UTF-8 sequence starting with c (1 for anything unexpected). */
static size_t
utf8_len(unsigned char c)
{
	return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

/* Copies at most max octets of s (cut at a character boundary, controls as '?') into dst. */
static void
brand_copy(char *dst, size_t size, const char *s, size_t max)
{
	size_t o = 0;

	for (size_t i = 0; s[i] != '\0';) {
		size_t l = utf8_len((unsigned char)s[i]);

		if (o + l > max || o + l >= size || strnlen(s + i, l) < l)
			break;
		for (size_t k = 0; k < l; k++)
			dst[o++] = (unsigned char)s[i + k] < 0x20 || s[i + k] == 0x7f ? '?' : s[i + k];
		i += l;
	}
	dst[o] = '\0';
}

static int
is_plain_ascii(const char *s, const char *specials)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || strchr(specials, *s))
			return 0;
	return 1;
}

/* RFC 2047 B encoded words of s (UTF-8), each at most 75 characters and never splitting a
 * character, separated by CRLF SP (folding). */
static int
encoded_words(struct buf *b, const char *s)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s), i = 0;
	int rc = 0;

	while (i < n && rc == 0) {
		size_t take = 0;

		/* 45 octets -> 60 base64 characters + 12 of "=?UTF-8?B?" "?=" = 72 <= 75 */
		while (i + take < n && take + utf8_len((unsigned char)s[i + take]) <= 45)
			take += utf8_len((unsigned char)s[i + take]);
		if (take == 0 || i + take > n)
			take = n - i;
		if (i > 0)
			rc |= buf_append_str(b, "\r\n ");
		rc |= buf_append_str(b, "=?UTF-8?B?");
		for (size_t k = 0; k < take; k += 3) {
			const unsigned char *p = (const unsigned char *)s + i + k;
			size_t rem = take - k;
			unsigned v = (unsigned)p[0] << 16 | (rem > 1 ? (unsigned)p[1] << 8 : 0) |
			    (rem > 2 ? p[2] : 0);
			char q[4] = { a[v >> 18 & 63], a[v >> 12 & 63],
				rem > 1 ? a[v >> 6 & 63] : '=', rem > 2 ? a[v & 63] : '=' };

			rc |= buf_append(b, q, 4);
		}
		rc |= buf_append_str(b, "?=");
		i += take;
	}
	return rc;
}

/* Appends a display name: a quoted string when plain ASCII, else encoded words. */
static int
hdr_phrase(struct buf *b, const char *s)
{
	if (is_plain_ascii(s, "\"\\"))
		return buf_printf(b, "\"%s\"", s);
	return encoded_words(b, s);
}

/* Appends unstructured header text: as is when plain ASCII and short, else encoded words. */
static int
hdr_text(struct buf *b, const char *s)
{
	if (is_plain_ascii(s, "") && strlen(s) < 900 && strstr(s, "=?") == NULL)
		return buf_append_str(b, s);
	return encoded_words(b, s);
}

/* Appends n octets of s quoted-printable (RFC 2045 §6.7), '\n' becoming a CRLF line break. */
static int
qp_append(struct buf *b, const char *s, size_t n)
{
	size_t col = 0;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];
		char enc[4];
		size_t w;

		if (c == '\n') {
			rc = buf_append(b, "\r\n", 2);
			col = 0;
			continue;
		}
		if ((c >= 33 && c <= 126 && c != '=') ||
		    (c == ' ' && i + 1 < n && s[i + 1] != '\n')) {
			enc[0] = (char)c;
			w = 1;
		} else {
			(void)snprintf(enc, sizeof(enc), "=%02X", c);
			w = 3;
		}
		if (col + w > QP_LINE - 1) {
			rc |= buf_append(b, "=\r\n", 3);
			col = 0;
		}
		rc |= buf_append(b, enc, w);
		col += w;
	}
	return rc;
}

static int
b64_lines(struct buf *b, const unsigned char *p, size_t n)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i += 57) {
		size_t len = n - i < 57 ? n - i : 57;

		for (size_t k = 0; k < len; k += 3) {
			size_t rem = len - k;
			const unsigned char *q = p + i + k;
			unsigned v = (unsigned)q[0] << 16 | (rem > 1 ? (unsigned)q[1] << 8 : 0) |
			    (rem > 2 ? q[2] : 0);
			char o[4] = { a[v >> 18 & 63], a[v >> 12 & 63],
				rem > 1 ? a[v >> 6 & 63] : '=', rem > 2 ? a[v & 63] : '=' };

			rc |= buf_append(b, o, 4);
		}
		rc |= buf_append(b, "\r\n", 2);
	}
	return rc;
}

static void
fmt_date(char *out, size_t size, long long t, int rfc5322)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	if (rfc5322)
		(void)snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", wday[tm.tm_wday],
		    tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	else
		(void)snprintf(out, size, "%04d-%02d-%02d %02d:%02d UTC", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min);
}

static void
rand_hex(char *out, size_t octets)
{
	unsigned char r[32];

	if (octets > sizeof(r) || RAND_bytes(r, (int)octets) != 1)
		abort();	/* no randomness: nothing sensible to continue with */
	for (size_t i = 0; i < octets; i++)
		(void)snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* The links of one digest: one buffer of NUL-separated URLs would be overkill; each link is
 * made on demand into a fixed array. */
struct links {
	char release[2048], del[2048], allow[2048];
};

static int
make_link(const struct digest_params *p, enum qtoken_action a, const char *qid, char *out,
    size_t size)
{
	struct qtoken t;
	char tok[QTOKEN_MAX + 1];
	size_t bl = strlen(p->base_url);

	while (bl > 0 && p->base_url[bl - 1] == '/')
		bl--;
	memset(&t, 0, sizeof(t));
	t.action = a;
	t.expires = p->link_expires;
	if (str_lcpy(t.qid, qid, sizeof(t.qid)) >= sizeof(t.qid) ||
	    str_lcpy(t.rcpt, p->rcpt, sizeof(t.rcpt)) >= sizeof(t.rcpt) ||
	    qtoken_make(&t, tok, sizeof(tok)) < 0)
		return -1;
	return str_fmt(out, size, "%.*s/q/%s", (int)bl, p->base_url, tok);
}

static int
item_links(const struct digest_params *p, const struct digest_item *it, struct links *l)
{
	if (make_link(p, QT_RELEASE, it->qid, l->release, sizeof(l->release)) < 0 ||
	    make_link(p, QT_DELETE, it->qid, l->del, sizeof(l->del)) < 0 ||
	    make_link(p, QT_ALLOW, it->qid, l->allow, sizeof(l->allow)) < 0)
		return -1;
	return 0;
}

/* The text/plain part (unencoded, '\n' lines). */
static int
text_part(const struct digest_params *p, const char *brand, const struct digest_item *items,
    size_t n, size_t shown, const struct links *all_links, const char *list_url, struct buf *t)
{
	char when[40];
	int rc = 0;

	rc |= buf_printf(t, "%s quarantine digest for %s\n\n", brand, p->rcpt);
	rc |= buf_printf(t, "%zu new message%s held in quarantine since the last digest.\n"
	    "Each link opens a page where you confirm the action; nothing changes before.\n\n", n,
	    n == 1 ? " was" : "s were");
	for (size_t i = 0; i < shown && rc == 0; i++) {
		fmt_date(when, sizeof(when), items[i].arrival, 0);
		rc |= buf_printf(t, "From:    %s\nSubject: %s\nDate:    %s\nScore:   %.1f\n",
		    items[i].sender[0] ? items[i].sender : "<>",
		    items[i].subject[0] ? items[i].subject : "(no subject)", when, items[i].score);
		rc |= buf_printf(t, "Release: %s\nDelete:  %s\nAlways allow sender: %s\n\n",
		    all_links[i].release, all_links[i].del, all_links[i].allow);
	}
	if (n > shown)
		rc |= buf_printf(t, "... and %zu more.\n\n", n - shown);
	rc |= buf_printf(t, "Show all my quarantined mail: %s\n\n", list_url);
	fmt_date(when, sizeof(when), p->link_expires, 0);
	rc |= buf_printf(t, "These links work until %s.\n-- \n%s\n", when, brand);
	return rc;
}

static int
html_row(struct buf *h, const struct digest_item *it, const struct links *l, const char *color)
{
	char when[40];
	int rc = 0;

	fmt_date(when, sizeof(when), it->arrival, 0);
	rc |= buf_append_str(h, "<tr>\n<td style=\"padding:6px;border-bottom:1px solid #ddd\">");
	rc |= html_esc(h, it->sender[0] ? it->sender : "<>");
	rc |= buf_append_str(h, "</td>\n<td style=\"padding:6px;border-bottom:1px solid #ddd\">");
	rc |= html_esc(h, it->subject[0] ? it->subject : "(no subject)");
	rc |= buf_printf(h, "</td>\n<td style=\"padding:6px;border-bottom:1px solid #ddd;"
	    "white-space:nowrap\">%s</td>\n<td style=\"padding:6px;border-bottom:1px solid #ddd;"
	    "text-align:right\">%.1f</td>\n<td style=\"padding:6px;border-bottom:1px solid #ddd;"
	    "white-space:nowrap\">", when, it->score);
	rc |= buf_printf(h, "<a style=\"color:%s\" href=\"", color);
	rc |= html_esc(h, l->release);
	rc |= buf_printf(h, "\">Release</a> | <a style=\"color:%s\" href=\"", color);
	rc |= html_esc(h, l->del);
	rc |= buf_printf(h, "\">Delete</a> | <a style=\"color:%s\" href=\"", color);
	rc |= html_esc(h, l->allow);
	rc |= buf_append_str(h, "\">Always allow sender</a></td>\n</tr>\n");
	return rc;
}

/* The text/html part (unencoded, '\n' lines). */
static int
html_part(const struct digest_params *p, const char *brand, const char *color,
    const char *logo_cid, const struct digest_item *items, size_t n, size_t shown,
    const struct links *all_links, const char *list_url, struct buf *h)
{
	char when[40];
	int rc = 0;

	rc |= buf_append_str(h, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
	rc |= html_esc(h, brand);
	rc |= buf_append_str(h, "</title></head>\n<body style=\"font-family:sans-serif;"
	    "color:#222;margin:0\">\n");
	rc |= buf_printf(h, "<div style=\"background:%s;color:#fff;padding:12px 16px\">\n", color);
	if (logo_cid != NULL) {
		rc |= buf_printf(h, "<img src=\"cid:%s\" alt=\"\" height=\"32\" "
		    "style=\"vertical-align:middle;margin-right:8px\">", logo_cid);
	}
	rc |= buf_append_str(h, "<span style=\"font-size:20px;font-weight:bold\">");
	rc |= html_esc(h, brand);
	rc |= buf_append_str(h, "</span> quarantine digest\n</div>\n<div style=\"padding:16px\">\n"
	    "<p>For ");
	rc |= html_esc(h, p->rcpt);
	rc |= buf_printf(h, ": %zu new message%s held in quarantine since the last digest. "
	    "Each link opens a page where you confirm the action.</p>\n", n,
	    n == 1 ? " was" : "s were");
	rc |= buf_printf(h, "<table style=\"border-collapse:collapse;width:100%%\">\n"
	    "<tr style=\"text-align:left;border-bottom:2px solid %s\"><th style=\"padding:6px\">"
	    "From</th><th style=\"padding:6px\">Subject</th><th style=\"padding:6px\">Date</th>"
	    "<th style=\"padding:6px\">Score</th><th style=\"padding:6px\">Actions</th></tr>\n",
	    color);
	for (size_t i = 0; i < shown && rc == 0; i++)
		rc |= html_row(h, &items[i], &all_links[i], color);
	rc |= buf_append_str(h, "</table>\n");
	if (n > shown)
		rc |= buf_printf(h, "<p>... and %zu more.</p>\n", n - shown);
	rc |= buf_printf(h, "<p><a style=\"color:%s;font-weight:bold\" href=\"", color);
	rc |= html_esc(h, list_url);
	rc |= buf_append_str(h, "\">Show all my quarantined mail</a></p>\n");
	fmt_date(when, sizeof(when), p->link_expires, 0);
	rc |= buf_printf(h, "<p style=\"color:#666;font-size:12px\">These links work until %s."
	    "</p>\n</div>\n</body></html>\n", when);
	return rc;
}

static int
header_section(const struct digest_params *p, const char *brand, size_t n, struct buf *out)
{
	char date[64], mid[40], subj[200];
	int rc = 0;

	fmt_date(date, sizeof(date), p->now, 1);
	rand_hex(mid, 16);
	(void)snprintf(subj, sizeof(subj), "%s: %zu new message%s in your quarantine", brand, n,
	    n == 1 ? "" : "s");
	rc |= buf_append_str(out, "From: ");
	rc |= hdr_phrase(out, brand);
	rc |= buf_printf(out, " <%s>\r\nTo: <%s>\r\nSubject: ", p->from, p->rcpt);
	rc |= hdr_text(out, subj);
	rc |= buf_printf(out, "\r\nDate: %s\r\nMessage-ID: <digest.%s@%s>\r\n"
	    "Auto-Submitted: auto-generated\r\nX-Auto-Response-Suppress: All\r\n"
	    "Precedence: bulk\r\nMIME-Version: 1.0\r\n", date, mid, p->hostname);
	return rc;
}

static int
alternative(struct buf *out, const char *bnd, const struct buf *text, const struct buf *html)
{
	int rc = 0;

	rc |= buf_printf(out, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n", bnd);
	rc |= qp_append(out, text->data, text->len);
	rc |= buf_printf(out, "\r\n--%s\r\nContent-Type: text/html; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n", bnd);
	rc |= qp_append(out, html->data, html->len);
	rc |= buf_printf(out, "\r\n--%s--\r\n", bnd);
	return rc;
}

int
digest_build(const struct digest_params *p, const struct digest_item *items, size_t n,
    struct buf *out, const char **error_r)
{
	char brand[DIGEST_BRAND_MAX + 1], list_url[2048], alt[48], rel[48], cid[128], rnd[33];
	const char *color = digest_color_ok(p->brand_color) ? p->brand_color : DIGEST_COLOR_DEFAULT;
	size_t shown = n < DIGEST_LIST_MAX ? n : DIGEST_LIST_MAX;
	struct links *links = xcalloc(shown ? shown : 1, sizeof(*links));
	struct buf text, html;
	int rc = 0, logo = p->logo != NULL && p->logo_len > 0 && p->logo_len <= DIGEST_LOGO_MAX &&
	    p->logo_type != NULL;

	brand_copy(brand, sizeof(brand), p->brand_name && p->brand_name[0] ? p->brand_name :
	    "MailGuard", DIGEST_BRAND_MAX);
	*error_r = "cannot make the links (no token key, or an unusable recipient address)";
	for (size_t i = 0; i < shown; i++)
		if (item_links(p, &items[i], &links[i]) < 0) {
			xfree(links);
			return -1;
		}
	if (make_link(p, QT_LIST, "", list_url, sizeof(list_url)) < 0) {
		xfree(links);
		return -1;
	}
	rand_hex(rnd, 12);
	(void)snprintf(alt, sizeof(alt), "=_mga_%s", rnd);
	(void)snprintf(rel, sizeof(rel), "=_mgr_%s", rnd);
	(void)snprintf(cid, sizeof(cid), "logo.%s@%.80s", rnd, p->hostname);
	buf_init(&text, DIGEST_MSG_MAX);
	buf_init(&html, DIGEST_MSG_MAX);
	rc |= text_part(p, brand, items, n, shown, links, list_url, &text);
	rc |= html_part(p, brand, color, logo ? cid : NULL, items, n, shown, links, list_url,
	    &html);
	rc |= header_section(p, brand, n, out);
	if (logo) {
		rc |= buf_printf(out, "Content-Type: multipart/related; boundary=\"%s\"; "
		    "type=\"multipart/alternative\"\r\n\r\nThis is a MIME message.\r\n\r\n--%s\r\n", rel,
		    rel);
	}
	rc |= buf_printf(out, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n%s\r\n",
	    alt, logo ? "" : "\r\nThis is a MIME message.\r\n");
	rc |= alternative(out, alt, &text, &html);
	if (logo) {
		rc |= buf_printf(out, "\r\n--%s\r\nContent-Type: %s\r\nContent-Transfer-Encoding: "
		    "base64\r\nContent-ID: <%s>\r\nContent-Disposition: inline; filename=\"logo.%s\""
		    "\r\n\r\n", rel, p->logo_type, cid, strcmp(p->logo_type, "image/png") == 0 ?
		    "png" : "svg");
		rc |= b64_lines(out, p->logo, p->logo_len);
		rc |= buf_printf(out, "\r\n--%s--\r\n", rel);
	}
	buf_free(&text);
	buf_free(&html);
	xfree(links);
	if (rc != 0) {
		*error_r = "digest too large";
		return -1;
	}
	*error_r = NULL;
	return 0;
}
