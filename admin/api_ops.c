/* api_ops.c: the route table of the console's operations pages and their JSON API
 * (admin_ops_routes, listed by admin/router.c): DKIM, queue, detection layers, branding, admin
 * users and the audit log. The handlers live in admin/page_*.c; the router checks the session
 * or API token and the CSRF token according to each row's flags before a handler runs. */
#include <stddef.h>

#include "admin/admin.h"
#include "admin/ops.h"

const struct admin_route admin_ops_routes[] = {
	/* console pages */
	{ HTTP_GET, "/dkim", ROUTE_PAGE, ops_page_dkim },
	{ HTTP_POST, "/dkim/", ROUTE_PAGE | ROUTE_PREFIX, ops_post_dkim },
	{ HTTP_GET, "/queue", ROUTE_PAGE, ops_page_queue },
	{ HTTP_GET, "/queue/", ROUTE_PAGE | ROUTE_PREFIX, ops_page_queue_msg },
	{ HTTP_POST, "/queue/", ROUTE_PAGE | ROUTE_PREFIX, ops_post_queue },
	{ HTTP_GET, "/layers", ROUTE_PAGE, ops_page_layers },
	{ HTTP_POST, "/layers", ROUTE_PAGE, ops_post_layers },
	{ HTTP_GET, "/branding", ROUTE_PAGE, ops_page_branding },
	{ HTTP_POST, "/branding", ROUTE_PAGE, ops_post_branding },
	{ HTTP_GET, "/users", ROUTE_PAGE, ops_page_users },
	{ HTTP_POST, "/users/", ROUTE_PAGE | ROUTE_PREFIX, ops_post_users },
	{ HTTP_GET, "/audit", ROUTE_PAGE, ops_page_audit },
	/* JSON API */
	{ HTTP_GET, "/api/v1/dkim", ROUTE_API, ops_api_dkim },
	{ HTTP_GET, "/api/v1/dkim/", ROUTE_API | ROUTE_PREFIX, ops_api_dkim_domain },
	{ HTTP_POST, "/api/v1/dkim/", ROUTE_API | ROUTE_PREFIX, ops_api_dkim_post },
	{ HTTP_GET, "/api/v1/queue", ROUTE_API, ops_api_queue },
	{ HTTP_GET, "/api/v1/queue/", ROUTE_API | ROUTE_PREFIX, ops_api_queue_get },
	{ HTTP_DELETE, "/api/v1/queue/", ROUTE_API | ROUTE_PREFIX, ops_api_queue_delete },
	{ HTTP_POST, "/api/v1/queue/", ROUTE_API | ROUTE_PREFIX, ops_api_queue_post },
	{ HTTP_GET, "/api/v1/layers", ROUTE_API, ops_api_layers },
	{ HTTP_PUT, "/api/v1/layers", ROUTE_API, ops_api_layers_put },
	{ HTTP_GET, "/api/v1/branding", ROUTE_API, ops_api_branding },
	{ HTTP_PUT, "/api/v1/branding", ROUTE_API, ops_api_branding_put },
	{ HTTP_GET, "/api/v1/users", ROUTE_API, ops_api_users },
	{ HTTP_POST, "/api/v1/users", ROUTE_API, ops_api_users_post },
	{ HTTP_DELETE, "/api/v1/users/", ROUTE_API | ROUTE_PREFIX, ops_api_users_delete },
	{ HTTP_GET, "/api/v1/audit", ROUTE_API, ops_api_audit },
	{ 0, NULL, 0, NULL },
};
