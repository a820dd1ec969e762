/* html.c: output helpers of the admin role's pages and API (admin.h, http.h): HTML escaping,
 * html_printf (every %s argument escaped), the branded page frame with navigation, the CSRF form
 * field, JSON string literals, and the response helpers (headers, redirects, error pages).
 * Everything that comes from a file, the network or a user is escaped here, so handlers cannot
 * forget it. Main loop thread only. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "admin/audit.h"
#include "admin/httpd.h"
#include "lib/log.h"
#include "lib/str.h"

void
html_esc(struct buf *out, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		const char *rep;

		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		buf_append(out, run, (size_t)(s - run));
		buf_append_str(out, rep);
		run = s + 1;
	}
	buf_append(out, run, (size_t)(s - run));
}

/* Escapes at most max bytes of s (max < 0: all). */
static void
html_esc_n(struct buf *out, const char *s, long max)
{
	char tmp[4096];

	if (max < 0 || strnlen(s, (size_t)max) < (size_t)max) {
		html_esc(out, s);
		return;
	}
	while (max > 0) {
		size_t n = (size_t)max < sizeof(tmp) - 1 ? (size_t)max : sizeof(tmp) - 1;

		memcpy(tmp, s, n);
		tmp[n] = '\0';
		html_esc(out, tmp);
		s += n;
		max -= (long)n;
	}
}

/* One conversion of html_printf: spec holds "%...c" (NUL-terminated); consumes its argument. */
static void
html_printf_one(struct buf *out, const char *spec, size_t len, va_list *ap)
{
	char conv = spec[len - 1];
	const char *lenmod = spec + 1;
	int l = 0, h = 0, z = 0, j = 0, t = 0, L = 0;
	long prec = -1;

	while (*lenmod && strchr("-+ #0123456789", *lenmod))
		lenmod++;
	if (*lenmod == '.') {
		prec = 0;
		for (lenmod++; *lenmod >= '0' && *lenmod <= '9'; lenmod++)
			prec = prec * 10 + (*lenmod - '0');
	}
	for (; lenmod < spec + len - 1; lenmod++)
		switch (*lenmod) {
		case 'l': l++; break;
		case 'h': h++; break;
		case 'z': z = 1; break;
		case 'j': j = 1; break;
		case 't': t = 1; break;
		case 'L': L = 1; break;
		default: panic("html_printf: unsupported format %s", spec);
		}
	(void)h;	/* char/short arguments arrive promoted to int */
	switch (conv) {
	case 's':
		html_esc_n(out, va_arg(*ap, const char *), prec);
		return;
	case 'd': case 'i':
		if (z || t)
			buf_printf(out, spec, va_arg(*ap, ptrdiff_t));
		else if (j)
			buf_printf(out, spec, va_arg(*ap, intmax_t));
		else if (l >= 2)
			buf_printf(out, spec, va_arg(*ap, long long));
		else if (l == 1)
			buf_printf(out, spec, va_arg(*ap, long));
		else
			buf_printf(out, spec, va_arg(*ap, int));
		return;
	case 'u': case 'x': case 'X': case 'o':
		if (z || t)
			buf_printf(out, spec, va_arg(*ap, size_t));
		else if (j)
			buf_printf(out, spec, va_arg(*ap, uintmax_t));
		else if (l >= 2)
			buf_printf(out, spec, va_arg(*ap, unsigned long long));
		else if (l == 1)
			buf_printf(out, spec, va_arg(*ap, unsigned long));
		else
			buf_printf(out, spec, va_arg(*ap, unsigned int));
		return;
	case 'f': case 'g': case 'e': case 'F': case 'G': case 'E':
		if (L)
			buf_printf(out, spec, va_arg(*ap, long double));
		else
			buf_printf(out, spec, va_arg(*ap, double));
		return;
	case 'c': {
		char s[2] = { (char)va_arg(*ap, int), '\0' };

		html_esc(out, s);
		return;
	}
	default:
		panic("html_printf: unsupported conversion %s", spec);
	}
}

void
html_printf(struct buf *out, const char *fmt, ...)
{
	va_list ap;
	const char *run = fmt;

	va_start(ap, fmt);
	while (*fmt) {
		char spec[32];
		size_t n;

		if (*fmt != '%') {
			fmt++;
			continue;
		}
		buf_append(out, run, (size_t)(fmt - run));
		if (fmt[1] == '%') {
			buf_append_char(out, '%');
			fmt += 2;
			run = fmt;
			continue;
		}
		n = 1 + strspn(fmt + 1, "-+ #0123456789.hlzjtL");
		if (fmt[n] == '\0' || n + 1 >= sizeof(spec))
			panic("html_printf: bad format");
		memcpy(spec, fmt, n + 1);
		spec[n + 1] = '\0';
		html_printf_one(out, spec, n + 1, &ap);
		fmt += n + 1;
		run = fmt;
	}
	buf_append(out, run, (size_t)(fmt - run));
	va_end(ap);
}

static const struct {
	const char *href, *label;
} html_nav[] = {
	{ "/", "Dashboard" }, { "/domains", "Domains" }, { "/lists", "Lists" },
	{ "/dkim", "DKIM" }, { "/queue", "Queue" },
	{ "/quarantine", "Quarantine" }, { "/dmarc", "DMARC" }, { "/layers", "Detection" },
	{ "/branding", "Branding" }, { "/users", "Admins" }, { "/audit", "Audit" },
};

static int
nav_active(const char *href, const char *path)
{
	size_t n = strlen(href);

	if (strcmp(href, "/") == 0)
		return strcmp(path, "/") == 0;
	return strncmp(path, href, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

void
html_page_begin(struct buf *out, const struct http_request *req, const char *title)
{
	const struct mg_config *cfg = admin_config();
	const char *brand = cfg->brand_name && cfg->brand_name[0] ? cfg->brand_name : "MailGuard";

	html_printf(out, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	    "<title>%s - %s</title>"
	    "<link rel=\"stylesheet\" href=\"/static/mg.css\">"
	    "<link rel=\"stylesheet\" href=\"/static/brand.css\"></head>\n<body>"
	    "<header class=\"top\"><a class=\"brand\" href=\"/\">", title, brand);
	if (admin_static_has_logo())
		buf_append_str(out, "<img src=\"/static/logo\" alt=\"\" class=\"logo\">");
	html_printf(out, "<span>%s</span></a>", brand);
	if (req != NULL && req->who != NULL) {
		buf_append_str(out, "<nav>");
		for (size_t i = 0; i < sizeof(html_nav) / sizeof(html_nav[0]); i++)
			html_printf(out, "<a href=\"%s\"%s>%s</a>", html_nav[i].href,
			    nav_active(html_nav[i].href, req->path) ? " class=\"active\"" : "",
			    html_nav[i].label);
		html_printf(out, "</nav><div class=\"user\"><span>%s</span>"
		    "<form method=\"post\" action=\"/logout\" class=\"inline\">", req->who->user);
		html_csrf_field(out, req);
		buf_append_str(out, "<button type=\"submit\" class=\"link\">Log out</button></form>"
		    "</div>");
	}
	html_printf(out, "</header>\n<main>\n<h1>%s</h1>\n", title);
}

void
html_page_end(struct buf *out)
{
	const struct mg_config *cfg = admin_config();

	html_printf(out, "\n</main>\n<footer>%s</footer>\n</body></html>\n",
	    cfg->brand_name && cfg->brand_name[0] ? cfg->brand_name : "MailGuard");
}

void
html_csrf_field(struct buf *out, const struct http_request *req)
{
	if (req == NULL || req->csrf == NULL)
		return;
	html_printf(out, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", req->csrf);
}

void
json_str(struct buf *out, const char *s)
{
	(void)audit_json_str(out, s ? s : "", s ? strlen(s) : 0);
}

/* ---- responses (http.h) ---- */

static void
check_header_text(const char *s)
{
	if (strpbrk(s, "\r\n") != NULL)
		panic("HTTP header text with CR or LF");
}

void
http_response_header(struct http_response *resp, const char *name, const char *fmt, ...)
{
	char value[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(value))
		panic("HTTP header %s too long", name);
	check_header_text(name);
	check_header_text(value);
	if (strchr(name, ':') != NULL)
		panic("HTTP header name with ':'");
	if (buf_printf(&resp->headers, "%s: %s\r\n", name, value) < 0)
		panic("HTTP response headers too long");
}

void
http_redirect(struct http_response *resp, const char *path)
{
	/* local only: "//host" and "/\host" would leave the console (open redirect) */
	if (path[0] != '/' || path[1] == '/' || path[1] == '\\')
		panic("http_redirect to a non-local path");
	resp->status = 303;
	http_response_header(resp, "Location", "%s", path);
}

static int
wants_json(const struct http_request *req)
{
	const char *accept;

	if (req->path != NULL && strncmp(req->path, "/api/", 5) == 0)
		return 1;
	accept = http_header_get(req, "accept");
	return accept != NULL && strstr(accept, "application/json") != NULL &&
	    strstr(accept, "text/html") == NULL;
}

void
http_error(const struct http_request *req, struct http_response *resp, int status,
    const char *message)
{
	resp->status = status;
	buf_reset(&resp->body);
	if (wants_json(req)) {
		resp->content_type = "application/json";
		buf_append_str(&resp->body, "{\"error\":");
		json_str(&resp->body, message);
		buf_printf(&resp->body, ",\"status\":%d}\n", status);
		return;
	}
	resp->content_type = "text/html; charset=utf-8";
	html_printf(&resp->body, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<title>%d</title><link rel=\"stylesheet\" href=\"/static/mg.css\">"
	    "<link rel=\"stylesheet\" href=\"/static/brand.css\"></head>\n<body><main class=\"error\">"
	    "<h1>%d</h1><p class=\"error\">%s</p><p><a href=\"/\">Back to the console</a></p>"
	    "</main></body></html>\n", status, status, message);
}
