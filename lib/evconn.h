#ifndef LIB_EVCONN_H
#define LIB_EVCONN_H
/* A buffered stream connection on a libev loop with an optional TLS layer (OpenSSL, non-blocking)
 * and an inactivity deadline: every I/O watcher is paired with a timer (STYLE.md §9).
 * Input accumulates in a capped struct buf that the owner consumes; when it is full, reading
 * pauses until the owner calls evconn_read_enable() (backpressure). Output is queued and flushed
 * by the loop. Events reach the owner through one callback. Main loop thread only. */
#include <ev.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include "lib/buf.h"

enum evconn_event {
	EVCONN_READ,		/* new bytes in evconn_in() */
	EVCONN_DRAINED,		/* all queued output was written (only if requested) */
	EVCONN_EOF,		/* peer closed (after all its data was delivered) */
	EVCONN_ERROR,		/* I/O or TLS error; see evconn_error() */
	EVCONN_TIMEOUT,		/* no progress within the deadline */
	EVCONN_TLS_DONE,	/* TLS handshake finished */
	EVCONN_CONNECTED,	/* non-blocking connect completed */
};

struct evconn;
typedef void evconn_cb(struct evconn *c, enum evconn_event ev, void *arg);

/* Takes ownership of fd (closed by evconn_free). in_max caps the input buffer. */
struct evconn *evconn_new(struct ev_loop *loop, int fd, size_t in_max, evconn_cb *cb, void *arg);
/* For a socket with a connect() in progress: EVCONN_CONNECTED or EVCONN_ERROR follows. */
void evconn_wait_connect(struct evconn *c);
void evconn_free(struct evconn **c);
struct buf *evconn_in(struct evconn *c);
int evconn_fd(const struct evconn *c);
/* Queues output; returns -1 if the output cap (16 MiB) would be exceeded. */
int evconn_write(struct evconn *c, const void *p, size_t n);
int evconn_printf(struct evconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t evconn_out_pending(const struct evconn *c);
/* Asks for one EVCONN_DRAINED event once output is empty (immediately if already empty). */
void evconn_notify_drained(struct evconn *c);
/* Inactivity deadline in seconds (reset by any read or write progress); 0 disables. */
void evconn_set_timeout(struct evconn *c, double seconds);
void evconn_read_enable(struct evconn *c, int enable);
/* Starts TLS on the connection (server when is_server, else client with optional SNI).
 * Output must be drained first. Returns -1 if the SSL object cannot be made. */
int evconn_start_tls(struct evconn *c, SSL_CTX *ctx, int is_server, const char *sni);
SSL *evconn_ssl(const struct evconn *c);
/* Human-readable reason of the last EVCONN_ERROR (static or internal storage). */
const char *evconn_error(const struct evconn *c);
/* Total bytes read and written (for logs). */
unsigned long long evconn_bytes_in(const struct evconn *c);
unsigned long long evconn_bytes_out(const struct evconn *c);

#endif
