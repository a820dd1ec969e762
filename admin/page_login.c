/* page_login.c: GET/POST /login and POST /logout (admin_session_routes). Admin role, main loop
 * thread. The login form is protected against login CSRF by a double-submit token: GET sets
 * the short-lived cookie __Host-mg_pre and puts the same value in a hidden field; POST needs
 * both to match (constant time) and a present Origin to name this server. Every failure shows
 * the same "wrong user name or password" (no user enumeration); lockouts answer 429 and the
 * verification cap 503, both with Retry-After. Everything echoed into the page (user name,
 * next) is HTML-escaped; next is followed only when it is a local path (session_next_safe).
 * The password check runs on a worker thread (session_login_start): the handler returns
 * HTTP_PENDING and login_checked finishes the response, so the loop keeps serving meanwhile. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "admin/session.h"
#include "admin/session_int.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define COOKIE_ATTRS "Path=/; Secure; HttpOnly; SameSite=Strict"

/* The login page. msg (static text) is shown as an error when not NULL. */
static void
login_page(const struct http_request *req, struct http_response *resp, int status,
    const char *msg, const char *user, const char *next)
{
	const struct mg_config *cfg = admin_config();
	const char *brand = cfg != NULL && cfg->brand_name != NULL ? cfg->brand_name : "MailGuard";
	char pre[SESSION_HEX_LEN + 1];

	(void)req;
	if (session_random_hex(pre, sizeof(pre)) < 0) {
		http_error(req, resp, 503, "no randomness available");
		return;
	}
	resp->status = status;
	http_response_header(resp, "Set-Cookie", SESSION_PRE_COOKIE "=%s; Max-Age=%d; " COOKIE_ATTRS,
	    pre, SESSION_PRE_TTL);
	html_printf(&resp->body, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	    "<title>Log in - %s</title>"
	    "<link rel=\"stylesheet\" href=\"/static/mg.css\">"
	    "<link rel=\"stylesheet\" href=\"/static/brand.css\"></head>\n"
	    "<body class=\"login\"><main class=\"login\"><h1>%s</h1>\n", brand, brand);
	if (msg != NULL)
		html_printf(&resp->body, "<p class=\"error\" role=\"alert\">%s</p>\n", msg);
	html_printf(&resp->body, "<form method=\"post\" action=\"/login\">"
	    "<input type=\"hidden\" name=\"pre\" value=\"%s\">"
	    "<input type=\"hidden\" name=\"next\" value=\"%s\">\n"
	    "<p><label for=\"user\">User name</label> <input id=\"user\" name=\"user\" value=\"%s\" "
	    "autocomplete=\"username\" required autofocus></p>\n"
	    "<p><label for=\"password\">Password</label> <input id=\"password\" type=\"password\" "
	    "name=\"password\" autocomplete=\"current-password\" required></p>\n"
	    "<p><button type=\"submit\">Log in</button></p></form></main></body></html>\n",
	    pre, session_next_safe(next), user != NULL ? user : "");
}

static enum http_result
login_get(struct http_request *req, struct http_response *resp)
{
	const char *next = session_next_safe(http_query_get(req, "next"));

	if (req->who != NULL && !req->who->is_api) {
		http_redirect(resp, next);
		return HTTP_DONE;
	}
	login_page(req, resp, 200, NULL, NULL, next);
	return HTTP_DONE;
}

/* The double-submit token: cookie and form field equal, both SESSION_HEX_LEN hex. */
static int
pre_ok(const struct http_request *req)
{
	char cookie[SESSION_HEX_LEN + 1];
	const char *field = http_form_get(req, "pre");

	if (field == NULL || session_cookie_find(http_header_get(req, "cookie"),
	    SESSION_PRE_COOKIE, cookie, sizeof(cookie)) < 0 || !session_is_hex_id(cookie) ||
	    strlen(field) != SESSION_HEX_LEN)
		return 0;
	return CRYPTO_memcmp(cookie, field, SESSION_HEX_LEN) == 0;
}

/* What a login request needs after its password check (the request stays valid until
 * http_finish; user and next are copies of the form fields for the page). */
struct login_wait {
	struct http_request *req;
	char *user, *next;
};

/* The answer of a decided login into resp. */
static void
login_answer(const struct http_request *req, struct http_response *resp,
    enum session_login_rc rc, const char *sid, double retry, const char *user, const char *next)
{
	switch (rc) {
	case SESSION_LOGIN_OK:
		http_response_header(resp, "Set-Cookie", SESSION_COOKIE "=%s; " COOKIE_ATTRS, sid);
		http_response_header(resp, "Set-Cookie", SESSION_PRE_COOKIE "=; Max-Age=0; "
		    COOKIE_ATTRS);
		http_redirect(resp, next);
		return;
	case SESSION_LOGIN_LOCKED:
		http_response_header(resp, "Retry-After", "%.0f", retry + 0.5);
		login_page(req, resp, 429, "too many failed logins, try again later", user, next);
		return;
	case SESSION_LOGIN_BUSY:
	case SESSION_LOGIN_PENDING:	/* not an outcome: cannot happen here */
		http_response_header(resp, "Retry-After", "1");
		login_page(req, resp, 503, "The console is busy. Please try again in a moment.",
		    user, next);
		return;
	case SESSION_LOGIN_BAD:
	default:
		login_page(req, resp, 401, "wrong user name or password", user, next);
		return;
	}
}

/* session_login_start's callback: the password was checked on a worker thread. */
static void
login_checked(void *arg, enum session_login_rc rc, const char *sid, double retry)
{
	struct login_wait *lw = arg;
	struct http_response resp;

	memset(&resp, 0, sizeof(resp));
	resp.status = 200;
	buf_init(&resp.body, 64 * 1024);
	buf_init(&resp.headers, 16 * 1024);
	login_answer(lw->req, &resp, rc, sid, retry, lw->user, lw->next);
	http_finish(lw->req, &resp);
	if (resp.headers.data != NULL)	/* held the session id */
		xwipe(resp.headers.data, resp.headers.len);
	buf_free(&resp.headers);
	buf_free(&resp.body);
	xfree(lw->user);
	xfree(lw->next);
	xfree(lw);
}

static enum http_result
login_post(struct http_request *req, struct http_response *resp)
{
	const char *user = http_form_get(req, "user"), *pw = http_form_get(req, "password");
	const char *next = session_next_safe(http_form_get(req, "next"));
	struct login_wait *lw;
	enum session_login_rc rc;
	double retry = 0;

	if (!pre_ok(req) || !session_origin_ok(req)) {
		log_warn("admin: login form without a valid token or from another origin "
		    "(addr=%s)", req->peer);
		login_page(req, resp, 403, "The login form expired. Please try again.", user, next);
		return HTTP_DONE;
	}
	lw = xcalloc(1, sizeof(*lw));
	lw->req = req;
	lw->user = xstrdup(user != NULL ? user : "");
	lw->next = xstrdup(next);
	rc = session_login_start(lw->user, pw != NULL ? pw : "", pw != NULL ? strlen(pw) : 0,
	    req->peer, &retry, login_checked, lw);
	if (rc == SESSION_LOGIN_PENDING)
		return HTTP_PENDING;
	login_answer(req, resp, rc, NULL, retry, user, next);
	xfree(lw->user);
	xfree(lw->next);
	xfree(lw);
	return HTTP_DONE;
}

static enum http_result
logout_post(struct http_request *req, struct http_response *resp)
{
	if (session_logout(req) && req->who != NULL)
		admin_audit(req, "logout", NULL, NULL, NULL);
	http_response_header(resp, "Set-Cookie", SESSION_COOKIE "=; Max-Age=0; " COOKIE_ATTRS);
	http_redirect(resp, "/login");
	return HTTP_DONE;
}

const struct admin_route admin_session_routes[] = {
	{ HTTP_GET, "/login", ROUTE_PUBLIC, login_get },
	{ HTTP_POST, "/login", ROUTE_PUBLIC, login_post },
	{ HTTP_POST, "/logout", ROUTE_PAGE, logout_post },
	{ HTTP_GET, NULL, 0, NULL },
};
