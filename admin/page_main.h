#ifndef ADMIN_PAGE_MAIN_H
#define ADMIN_PAGE_MAIN_H
/* page_main.h: the handlers of the Dashboard, Domains and Lists pages and of their JSON API
 * (admin/page_dashboard.c, page_domains.c, page_lists.c, api_main.c), listed in
 * admin_main_routes[] (admin/api_main.c). Contracts as http_handler in admin/http.h. */
#include "admin/http.h"

/* GET /, ?span=24h|7d */
enum http_result page_dashboard_get(struct http_request *req, struct http_response *resp);
/* GET /domains, /domains/new, /domains/NAME, /domains/NAME/delete */
enum http_result page_domains_get(struct http_request *req, struct http_response *resp);
/* POST /domains (add), /domains/NAME (save), /domains/NAME/delete */
enum http_result page_domains_post(struct http_request *req, struct http_response *resp);
/* GET /lists, /lists/NAME */
enum http_result page_lists_get(struct http_request *req, struct http_response *resp);
/* POST /lists/NAME/add, /lists/NAME/remove */
enum http_result page_lists_post(struct http_request *req, struct http_response *resp);

#endif
