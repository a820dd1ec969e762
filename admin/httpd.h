#ifndef ADMIN_HTTPD_H
#define ADMIN_HTTPD_H
/* httpd.h: the admin role's HTTP transport (admin/httpd.c) and dispatcher (admin/router.c), as
 * admin/admin.c drives them. Private to the admin role; handlers use admin/http.h and admin.h. */
#include <openssl/ssl.h>
#include <stddef.h>

#include "admin/http.h"
#include "config/config.h"

struct ev_loop;

/* Transport deadlines (seconds) and the per-connection request cap. */
#define HTTPD_HEADER_TIMEOUT	10.0	/* TLS handshake + request line and headers */
#define HTTPD_BODY_TIMEOUT	30.0	/* request body, after the headers */
#define HTTPD_IDLE_TIMEOUT	60.0	/* keep-alive wait for the next request */
#define HTTPD_WRITE_TIMEOUT	60.0	/* writing one response */
#define HTTPD_MAX_REQUESTS	100	/* requests on one connection, then Connection: close */

void httpd_init(struct ev_loop *loop);
/* Serves a listening socket (non-blocking); is_metrics: plain HTTP, /metrics only; else TLS. */
void httpd_listen(int fd, int is_metrics);
/* Replaces the TLS server context (ownership passes; NULL: console connections are refused). */
void httpd_set_tls(SSL_CTX *ctx);
/* Concurrent connections allowed; more are closed at once. */
void httpd_set_max_connections(long n);
/* Stops accepting and closes every connection (pending requests complete into the void). */
void httpd_stop(void);
/* Open connections. */
size_t httpd_connections(void);

/* admin/router.c: finds the route, authenticates (admin_session_check) and runs the handler.
 * Returns HTTP_DONE with resp filled, or HTTP_PENDING (the handler calls http_finish later). */
enum http_result router_dispatch(struct http_request *req, struct http_response *resp);

/* admin/static.c: re-reads brand_logo and regenerates brand.css (at start and on reload). */
void admin_static_configure(const struct mg_config *cfg);
/* 1 when a valid brand_logo is loaded (served as /static/logo). */
int admin_static_has_logo(void);

#endif
