/* router.c: the admin role's request dispatcher. Finds the route of a decoded request in the
 * route tables of the handler files (admin.h), answers 404 / 405 (with Allow) itself, and runs
 * the authentication and CSRF check (admin/session.c) before every handler, according to the
 * route's flags. A plain-HTTP metrics listener serves ROUTE_METRICS routes only, without login
 * (metrics_listen is meant for a trusted scraper network); everything else there is a 404.
 * Runs on the admin role's loop; trusts only what the transport decoded. */
#include <string.h>

#include "admin/admin.h"
#include "admin/httpd.h"
#include "admin/page_dmarc.h"
#include "admin/qlink.h"
#include "admin/session.h"

/* Route tables of the handler files (admin.h). */
static const struct admin_route *const router_tables[] = {
	admin_core_routes,	/* admin/static.c */
	admin_session_routes,	/* admin/page_login.c */
	admin_metrics_routes,	/* admin/metrics_http.c */
	admin_main_routes,	/* admin/api_main.c: dashboard, domains, lists */
	admin_ops_routes,	/* admin/api_ops.c: DKIM, queue, layers, branding, users, audit */
	admin_quarantine_routes,	/* admin/page_quarantine.c: quarantine, links /q/ */
	admin_dmarc_routes,	/* admin/api_dmarc.c: DMARC and TLS-RPT reports */
};

static const char *const method_names[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "OTHER" };

static int
route_path_matches(const struct admin_route *r, const char *path)
{
	if (r->flags & ROUTE_PREFIX)
		return strncmp(path, r->pattern, strlen(r->pattern)) == 0;
	return strcmp(path, r->pattern) == 0;
}

static int
route_method_matches(const struct admin_route *r, enum http_method m)
{
	return r->method == m || (m == HTTP_HEAD && r->method == HTTP_GET);
}

/* Appends r's method(s) to the Allow list (bit set per method). */
static void
route_allow(const struct admin_route *r, unsigned *allow)
{
	*allow |= 1u << r->method;
	if (r->method == HTTP_GET)
		*allow |= 1u << HTTP_HEAD;
}

static void
router_405(struct http_request *req, struct http_response *resp, unsigned allow)
{
	char list[64] = "";
	size_t off = 0;

	for (int m = HTTP_GET; m < HTTP_OTHER; m++)
		if (allow & (1u << m)) {
			int n = snprintf(list + off, sizeof(list) - off, "%s%s", off ? ", " : "",
			    method_names[m]);

			if (n > 0 && (size_t)n < sizeof(list) - off)
				off += (size_t)n;
		}
	http_error(req, resp, 405, "Method not allowed");
	http_response_header(resp, "Allow", "%s", list);
}

/* The route for req: exact patterns before prefixes (so /api/v1/domains beats /api/v1/),
 * longer prefixes before shorter ones. Sets *allow to the methods of routes whose path matched. */
static const struct admin_route *
router_find(const struct http_request *req, unsigned *allow)
{
	const struct admin_route *best = NULL;
	size_t best_len = 0;

	*allow = 0;
	for (size_t t = 0; t < sizeof(router_tables) / sizeof(router_tables[0]); t++)
		for (const struct admin_route *r = router_tables[t]; r->handler != NULL; r++) {
			size_t len;

			if (req->via_metrics && !(r->flags & ROUTE_METRICS))
				continue;
			if (!route_path_matches(r, req->path))
				continue;
			route_allow(r, allow);
			if (!route_method_matches(r, req->method))
				continue;
			len = (r->flags & ROUTE_PREFIX) ? strlen(r->pattern) : (size_t)-1;
			if (best == NULL || len > best_len) {
				best = r;
				best_len = len;
			}
		}
	return best;
}

enum http_result
router_dispatch(struct http_request *req, struct http_response *resp)
{
	unsigned allow;
	const struct admin_route *r = router_find(req, &allow);

	if (r == NULL) {
		if (allow != 0)
			router_405(req, resp, allow);
		else
			http_error(req, resp, 404, "Not found");
		return HTTP_DONE;
	}
	/* metrics_listen: no login by design (setting documented as for a trusted network) */
	if (!(req->via_metrics && (r->flags & ROUTE_METRICS)) &&
	    admin_session_check(req, r->flags, resp) < 0)
		return HTTP_DONE;
	return r->handler(req, resp);
}
