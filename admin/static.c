/* static.c: the console's static assets (admin_core_routes): the built-in stylesheet
 * /static/mg.css, /static/brand.css generated from brand_color, and /static/logo, the
 * brand_logo file read at start and on reload (at most ADMIN_LOGO_MAX bytes, served only when
 * its content is PNG or SVG; SVG with "Content-Security-Policy: sandbox" so script in it never
 * runs with the console's origin). All public (the login page uses them) and cacheable.
 * brand_color is accepted only as #rrggbb (it lands in CSS). Admin role, main loop thread. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/httpd.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define ADMIN_LOGO_MAX (256 * 1024)
#define DEFAULT_BRAND_COLOR "#1f6feb"

static const char mg_css[] =
    ":root{--brand:" DEFAULT_BRAND_COLOR ";--fg:#1b1f24;--muted:#57606a;--bg:#f6f8fa;"
    "--card:#fff;--line:#d0d7de;--bad:#cf222e;--good:#1a7f37;--warn:#9a6700}\n"
    "*{box-sizing:border-box}\n"
    "html{font:15px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;color:var(--fg);"
    "background:var(--bg)}\n"
    "body{margin:0;min-height:100vh;display:flex;flex-direction:column}\n"
    "a{color:var(--brand)}\n"
    "header.top{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1.5rem;"
    "padding:.6rem 1.5rem;background:var(--card);border-bottom:3px solid var(--brand)}\n"
    "header.top .brand{display:flex;align-items:center;gap:.5rem;font-weight:700;"
    "font-size:1.15rem;color:var(--fg);text-decoration:none}\n"
    "header.top .logo{height:32px;width:auto}\n"
    "header.top nav{display:flex;flex-wrap:wrap;gap:.25rem;flex:1}\n"
    "header.top nav a{padding:.3rem .65rem;border-radius:6px;color:var(--fg);"
    "text-decoration:none}\n"
    "header.top nav a:hover{background:var(--bg)}\n"
    "header.top nav a.active{background:var(--brand);color:#fff}\n"
    "header.top .user{display:flex;align-items:center;gap:.5rem;color:var(--muted)}\n"
    "main{flex:1;width:100%;max-width:1200px;margin:0 auto;padding:1.25rem 1.5rem}\n"
    "main.error{max-width:640px}\n"
    "h1{font-size:1.5rem;margin:.25rem 0 1rem}h2{font-size:1.2rem;margin:1.5rem 0 .5rem}\n"
    "footer{padding:.75rem 1.5rem;color:var(--muted);font-size:.85rem;text-align:center}\n"
    "table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid "
    "var(--line);border-radius:6px;margin:.5rem 0 1rem}\n"
    "th,td{padding:.45rem .7rem;border-bottom:1px solid var(--line);text-align:left;"
    "vertical-align:top}\n"
    "th{background:var(--bg);font-weight:600}\n"
    "tr:last-child td{border-bottom:0}\n"
    "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "code,pre,.mono{font-family:ui-monospace,\"SFMono-Regular\",Menlo,Consolas,monospace;"
    "font-size:.9em}\n"
    "pre{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.75rem;"
    "overflow:auto;white-space:pre-wrap;word-break:break-all}\n"
    "form{margin:0 0 1rem}form.inline{display:inline;margin:0}\n"
    "fieldset{border:1px solid var(--line);border-radius:6px;background:var(--card);"
    "padding:.75rem 1rem;margin:0 0 1rem}\n"
    "legend{font-weight:600;padding:0 .3rem}\n"
    "label{display:block;margin:.5rem 0 .2rem;font-weight:600}\n"
    ".hint{color:var(--muted);font-size:.85rem;margin:.1rem 0 .4rem}\n"
    "input[type=text],input[type=password],input[type=number],input[type=email],select,"
    "textarea{width:100%;max-width:36rem;padding:.4rem .55rem;border:1px solid var(--line);"
    "border-radius:6px;font:inherit;background:#fff;color:var(--fg)}\n"
    "textarea{min-height:8rem;font-family:ui-monospace,Menlo,Consolas,monospace}\n"
    "input:focus,select:focus,textarea:focus{outline:2px solid var(--brand);"
    "outline-offset:1px}\n"
    "button,.button{display:inline-block;padding:.42rem .95rem;border:1px solid var(--brand);"
    "border-radius:6px;background:var(--brand);color:#fff;font:inherit;font-weight:600;"
    "cursor:pointer;text-decoration:none}\n"
    "button:hover,.button:hover{filter:brightness(.92)}\n"
    "button.secondary,.button.secondary{background:var(--card);color:var(--brand)}\n"
    "button.danger{background:var(--bad);border-color:var(--bad)}\n"
    "button.link{background:none;border:0;color:var(--brand);padding:0;font-weight:400}\n"
    ".error,.errors{color:var(--bad)}\n"
    "div.errors,p.flash-error{background:#ffebe9;border:1px solid #ff8182;border-radius:6px;"
    "padding:.6rem .8rem;margin:0 0 1rem;white-space:pre-wrap}\n"
    "p.flash,div.flash{background:#dafbe1;border:1px solid #4ac26b;border-radius:6px;"
    "padding:.6rem .8rem;margin:0 0 1rem;color:var(--good)}\n"
    ".warn{color:var(--warn)}.ok{color:var(--good)}.bad{color:var(--bad)}\n"
    ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(11rem,1fr));gap:.75rem;"
    "margin:0 0 1rem}\n"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:6px;"
    "padding:.75rem 1rem}\n"
    ".card .value{font-size:1.6rem;font-weight:700;color:var(--brand)}\n"
    ".card .label{color:var(--muted);font-size:.85rem}\n"
    "svg.chart{width:100%;height:auto;background:var(--card);border:1px solid var(--line);"
    "border-radius:6px}\n"
    ".login{max-width:24rem;margin:3rem auto}\n"
    "fieldset.checks label{display:inline-block;font-weight:400;margin:.2rem 1rem .2rem 0}\n"
    ".alert{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:.6rem .8rem;"
    "margin:0 0 1rem}\n"
    ".alert.big{background:#ffebe9;border-color:#ff8182;font-size:1.05rem}\n"
    ".diff .add{background:#dafbe1;color:var(--good)}.diff .del{background:#ffebe9;"
    "color:var(--bad)}\n"
    ".state-active,.state-ok{color:var(--good)}.state-deferred,.state-hold,.state-next,"
    ".state-rate-limited{color:var(--warn)}.state-quarantine,.state-alert,.state-failed{"
    "color:var(--bad)}\n"
    ".preview{max-height:24rem;overflow:auto}\n"
    "@media (max-width:700px){header.top{padding:.5rem .75rem}main{padding:1rem .75rem}"
    "th,td{padding:.35rem .4rem}}\n";

static struct {
	char css[64];		/* brand.css */
	char *logo;		/* NULL: none */
	size_t logo_len;
	const char *logo_type;
} st;

static int
color_ok(const char *c)
{
	if (c == NULL || c[0] != '#' || strlen(c) != 7)
		return 0;
	for (int i = 1; i < 7; i++)
		if (!isxdigit((unsigned char)c[i]))
			return 0;
	return 1;
}

/* The content type of a logo file by its content, or NULL when neither PNG nor SVG. */
static const char *
logo_sniff(const char *p, size_t n)
{
	static const char png[] = "\x89PNG\r\n\x1a\n";
	size_t i = 0;

	if (n >= 8 && memcmp(p, png, 8) == 0)
		return "image/png";
	if (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < n && isspace((unsigned char)p[i]))
		i++;
	if ((n - i >= 5 && memcmp(p + i, "<?xml", 5) == 0) ||
	    (n - i >= 4 && memcmp(p + i, "<svg", 4) == 0) ||
	    (n - i >= 4 && memcmp(p + i, "<!--", 4) == 0)) {
		if (memmem(p, n, "<svg", 4) != NULL)
			return "image/svg+xml";
	}
	return NULL;
}

static void
logo_load(const char *path)
{
	struct stat sb;
	int fd;
	ssize_t r;

	xfree(st.logo);
	st.logo = NULL;
	st.logo_len = 0;
	if (path == NULL || path[0] == '\0')
		return;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		log_warn("brand_logo %s: %m; no logo shown", path);
		return;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > ADMIN_LOGO_MAX ||
	    sb.st_size == 0) {
		log_warn("brand_logo %s: not a regular file of 1..%d bytes; no logo shown", path,
		    ADMIN_LOGO_MAX);
		close(fd);
		return;
	}
	st.logo = xmalloc((size_t)sb.st_size);
	r = read(fd, st.logo, (size_t)sb.st_size);
	close(fd);
	if (r != sb.st_size || (st.logo_type = logo_sniff(st.logo, (size_t)r)) == NULL) {
		log_warn("brand_logo %s: cannot read it, or it is neither PNG nor SVG; no logo shown",
		    path);
		xfree(st.logo);
		st.logo = NULL;
		return;
	}
	st.logo_len = (size_t)r;
}

void
admin_static_configure(const struct mg_config *cfg)
{
	const char *color = cfg->brand_color;

	if (!color_ok(color)) {
		log_warn("brand_color \"%s\" is not #rrggbb; using %s", color ? color : "",
		    DEFAULT_BRAND_COLOR);
		color = DEFAULT_BRAND_COLOR;
	}
	(void)str_fmt(st.css, sizeof(st.css), ":root{--brand:%s}\n", color);
	logo_load(cfg->brand_logo);
}

int
admin_static_has_logo(void)
{
	return st.logo != NULL;
}

static enum http_result
static_css(struct http_request *req, struct http_response *resp)
{
	(void)req;
	resp->content_type = "text/css; charset=utf-8";
	http_response_header(resp, "Cache-Control", "public, max-age=3600");
	buf_append(&resp->body, mg_css, sizeof(mg_css) - 1);
	return HTTP_DONE;
}

static enum http_result
static_brand_css(struct http_request *req, struct http_response *resp)
{
	(void)req;
	resp->content_type = "text/css; charset=utf-8";
	http_response_header(resp, "Cache-Control", "public, max-age=300");
	buf_append_str(&resp->body, st.css);
	return HTTP_DONE;
}

static enum http_result
static_logo(struct http_request *req, struct http_response *resp)
{
	if (st.logo == NULL) {
		http_error(req, resp, 404, "No logo configured");
		return HTTP_DONE;
	}
	resp->content_type = st.logo_type;
	http_response_header(resp, "Cache-Control", "public, max-age=300");
	if (strcmp(st.logo_type, "image/svg+xml") == 0)
		http_response_header(resp, "Content-Security-Policy", "sandbox");
	buf_append(&resp->body, st.logo, st.logo_len);
	return HTTP_DONE;
}

const struct admin_route admin_core_routes[] = {
	{ HTTP_GET, "/static/mg.css", ROUTE_PUBLIC, static_css },
	{ HTTP_GET, "/static/brand.css", ROUTE_PUBLIC, static_brand_css },
	{ HTTP_GET, "/static/logo", ROUTE_PUBLIC, static_logo },
	{ HTTP_GET, NULL, 0, NULL },
};
