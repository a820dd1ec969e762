/* evconn.c: buffered non-blocking stream I/O with optional TLS and an inactivity deadline.
 * Library code, main loop thread only. Peer bytes are untrusted: input is capped by in_max and
 * reading pauses when full; output is capped at EVCONN_OUT_MAX. TLS uses OpenSSL memory-free
 * socket BIOs on the non-blocking fd; renegotiation is refused by the contexts we create. */
#include "lib/evconn.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"

#define EVCONN_OUT_MAX (16u * 1024 * 1024)
#define EVCONN_READ_CHUNK 16384

struct evconn {
	struct ev_loop *loop;
	int fd;
	ev_io rio, wio;
	ev_timer timer;
	double timeout;
	struct buf in, out;
	size_t out_off;
	SSL *ssl;
	int handshaking;
	int ssl_want_write;	/* an SSL_read needs the socket writable */
	int read_enabled;
	int want_drained;
	int connecting;
	int dead;		/* EOF or error delivered; no more events */
	int *alive;
	char err[160];
	unsigned long long nin, nout;
	evconn_cb *cb;
	void *arg;
};

static void evconn_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void evconn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

struct evconn *
evconn_new(struct ev_loop *loop, int fd, size_t in_max, evconn_cb *cb, void *arg)
{
	struct evconn *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->fd = fd;
	c->cb = cb;
	c->arg = arg;
	buf_init(&c->in, in_max);
	buf_init(&c->out, EVCONN_OUT_MAX);
	ev_io_init(&c->rio, evconn_io_cb, fd, EV_READ);
	ev_io_init(&c->wio, evconn_io_cb, fd, EV_WRITE);
	c->rio.data = c->wio.data = c;
	ev_init(&c->timer, evconn_timer_cb);
	c->timer.data = c;
	c->read_enabled = 1;
	ev_io_start(loop, &c->rio);
	return c;
}

void
evconn_wait_connect(struct evconn *c)
{
	c->connecting = 1;
	ev_io_stop(c->loop, &c->rio);
	ev_io_start(c->loop, &c->wio);
}

void
evconn_free(struct evconn **cp)
{
	struct evconn *c = *cp;

	if (c == NULL)
		return;
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	ev_timer_stop(c->loop, &c->timer);
	if (c->ssl) {
		/* best effort close_notify; never wait for the peer's */
		if (!c->dead && !c->handshaking)
			(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		ERR_clear_error();
	}
	close(c->fd);
	if (c->alive)
		*c->alive = 0;
	buf_free(&c->in);
	buf_free(&c->out);
	xfree(c);
	*cp = NULL;
}

struct buf *
evconn_in(struct evconn *c)
{
	return &c->in;
}

int
evconn_fd(const struct evconn *c)
{
	return c->fd;
}

SSL *
evconn_ssl(const struct evconn *c)
{
	return c->ssl;
}

const char *
evconn_error(const struct evconn *c)
{
	return c->err;
}

unsigned long long
evconn_bytes_in(const struct evconn *c)
{
	return c->nin;
}

unsigned long long
evconn_bytes_out(const struct evconn *c)
{
	return c->nout;
}

size_t
evconn_out_pending(const struct evconn *c)
{
	return c->out.len - c->out_off;
}

static void
evconn_touch(struct evconn *c)
{
	if (c->timeout > 0) {
		c->timer.repeat = c->timeout;
		ev_timer_again(c->loop, &c->timer);
	}
}

void
evconn_set_timeout(struct evconn *c, double seconds)
{
	c->timeout = seconds;
	if (seconds > 0)
		evconn_touch(c);
	else
		ev_timer_stop(c->loop, &c->timer);
}

static void
evconn_update_watchers(struct evconn *c)
{
	int want_r, want_w;

	if (c->dead)
		return;
	want_w = c->connecting || c->ssl_want_write || evconn_out_pending(c) > 0 ||
	    (c->handshaking == 2);
	want_r = !c->connecting && (c->handshaking == 1 ||
	    (c->read_enabled && c->in.len + EVCONN_READ_CHUNK / 4 <= c->in.max));
	if (want_r)
		ev_io_start(c->loop, &c->rio);
	else
		ev_io_stop(c->loop, &c->rio);
	if (want_w)
		ev_io_start(c->loop, &c->wio);
	else
		ev_io_stop(c->loop, &c->wio);
}

void
evconn_read_enable(struct evconn *c, int enable)
{
	c->read_enabled = enable;
	evconn_update_watchers(c);
	/* TLS may hold decrypted bytes the socket will not signal again */
	if (enable && c->ssl && !c->handshaking && SSL_pending(c->ssl) > 0)
		ev_feed_event(c->loop, &c->rio, EV_READ);
}

/* Delivers an event; returns 0 if the connection was freed by the callback. */
static int
evconn_emit(struct evconn *c, enum evconn_event ev)
{
	int alive = 1;
	int *saved = c->alive;

	c->alive = &alive;
	c->cb(c, ev, c->arg);
	if (!alive) {
		if (saved)
			*saved = 0;
		return 0;
	}
	c->alive = saved;
	return 1;
}

static void
evconn_fail(struct evconn *c, const char *what)
{
	unsigned long e = ERR_get_error();

	if (e != 0) {
		char tmp[120];

		ERR_error_string_n(e, tmp, sizeof(tmp));
		snprintf(c->err, sizeof(c->err), "%s: %s", what, tmp);
		ERR_clear_error();
	} else if (errno != 0) {
		snprintf(c->err, sizeof(c->err), "%s: %s", what, strerror(errno));
	} else {
		snprintf(c->err, sizeof(c->err), "%s", what);
	}
	c->dead = 1;
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	ev_timer_stop(c->loop, &c->timer);
	evconn_emit(c, EVCONN_ERROR);
}

int
evconn_write(struct evconn *c, const void *p, size_t n)
{
	if (c->out_off > 0 && c->out_off == c->out.len) {
		buf_reset(&c->out);
		c->out_off = 0;
	}
	if (buf_append(&c->out, p, n) < 0)
		return -1;
	evconn_update_watchers(c);
	return 0;
}

int
evconn_printf(struct evconn *c, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (c->out_off > 0 && c->out_off == c->out.len) {
		buf_reset(&c->out);
		c->out_off = 0;
	}
	va_start(ap, fmt);
	r = buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	evconn_update_watchers(c);
	return r;
}

void
evconn_notify_drained(struct evconn *c)
{
	c->want_drained = 1;
	evconn_update_watchers(c);
	if (evconn_out_pending(c) == 0 && !c->handshaking) {
		c->want_drained = 0;
		evconn_emit(c, EVCONN_DRAINED);
	}
}

int
evconn_start_tls(struct evconn *c, SSL_CTX *ctx, int is_server, const char *sni)
{
	if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		return -1;
	if (is_server)
		SSL_set_accept_state(c->ssl);
	else {
		SSL_set_connect_state(c->ssl);
		if (sni != NULL)
			SSL_set_tlsext_host_name(c->ssl, sni);
	}
	/* a server waits for the ClientHello; a client must send it first */
	c->handshaking = is_server ? 1 : 2;
	evconn_update_watchers(c);
	return 0;
}

/* Returns 1 when the handshake is done, 0 if it needs more I/O, -1 on failure (reported). */
static int
evconn_handshake(struct evconn *c)
{
	int r, e;

	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->handshaking = 0;
		evconn_touch(c);
		evconn_update_watchers(c);
		if (!evconn_emit(c, EVCONN_TLS_DONE))
			return -1;
		return 1;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		c->handshaking = 1;
	} else if (e == SSL_ERROR_WANT_WRITE) {
		c->handshaking = 2;
	} else {
		evconn_fail(c, "TLS handshake failed");
		return -1;
	}
	evconn_update_watchers(c);
	return 0;
}

/* Flushes output. Returns 0 normally, -1 if the connection failed (already reported). */
static int
evconn_flush(struct evconn *c)
{
	while (evconn_out_pending(c) > 0) {
		size_t n = evconn_out_pending(c);
		ssize_t w;

		if (c->ssl) {
			int r, e;

			ERR_clear_error();
			errno = 0;
			r = SSL_write(c->ssl, c->out.data + c->out_off, n > 65536 ? 65536 : (int)n);
			if (r <= 0) {
				e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
					break;
				evconn_fail(c, "TLS write failed");
				return -1;
			}
			w = r;
		} else {
			w = send(c->fd, c->out.data + c->out_off, n, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				evconn_fail(c, "write failed");
				return -1;
			}
		}
		c->out_off += (size_t)w;
		c->nout += (unsigned long long)w;
		evconn_touch(c);
	}
	if (evconn_out_pending(c) == 0) {
		buf_reset(&c->out);
		c->out_off = 0;
	} else if (c->out_off > 65536) {
		buf_consume(&c->out, c->out_off);
		c->out_off = 0;
	}
	return 0;
}

/* Reads what is available. Returns 1 if data arrived, 0 if none, -1 on EOF/error (reported). */
static int
evconn_fill(struct evconn *c)
{
	int got = 0;

	c->ssl_want_write = 0;
	for (;;) {
		size_t room;
		ssize_t r;

		if (c->in.len + 1 >= c->in.max)
			break;
		room = c->in.max - c->in.len;
		if (room > EVCONN_READ_CHUNK)
			room = EVCONN_READ_CHUNK;
		if (buf_reserve(&c->in, room) < 0)
			break;
		if (c->ssl) {
			int n, e;

			ERR_clear_error();
			errno = 0;
			n = SSL_read(c->ssl, c->in.data + c->in.len, (int)room);
			if (n <= 0) {
				e = SSL_get_error(c->ssl, n);
				if (e == SSL_ERROR_WANT_READ)
					break;
				if (e == SSL_ERROR_WANT_WRITE) {
					c->ssl_want_write = 1;
					break;
				}
				if (e == SSL_ERROR_ZERO_RETURN)
					goto eof;
				if (got)
					break;	/* deliver data first; the error returns next time */
				evconn_fail(c, "TLS read failed");
				return -1;
			}
			r = n;
		} else {
			r = recv(c->fd, c->in.data + c->in.len, room, 0);
			if (r < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				if (got)
					break;
				evconn_fail(c, "read failed");
				return -1;
			}
			if (r == 0)
				goto eof;
		}
		c->in.len += (size_t)r;
		c->in.data[c->in.len] = '\0';
		c->nin += (unsigned long long)r;
		got = 1;
		if ((size_t)r < room && c->ssl == NULL)
			break;
	}
	if (got)
		evconn_touch(c);
	return got;
eof:
	if (got) {
		evconn_touch(c);
		if (!evconn_emit(c, EVCONN_READ))
			return -1;
	}
	c->dead = 1;
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	ev_timer_stop(c->loop, &c->timer);
	evconn_emit(c, EVCONN_EOF);
	return -1;
}

static void
evconn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct evconn *c = w->data;

	(void)loop;
	(void)revents;
	if (c->dead)
		return;
	if (c->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		c->connecting = 0;
		if (err != 0) {
			errno = err;
			evconn_fail(c, "connect failed");
			return;
		}
		evconn_touch(c);
		evconn_update_watchers(c);
		evconn_emit(c, EVCONN_CONNECTED);
		return;
	}
	if (c->handshaking) {
		if (evconn_handshake(c) <= 0)
			return;
	}
	if (evconn_out_pending(c) > 0 && evconn_flush(c) < 0)
		return;
	if (c->read_enabled && (w == &c->rio || c->ssl_want_write)) {
		int r = evconn_fill(c);

		if (r < 0)
			return;
		if (r > 0 && !evconn_emit(c, EVCONN_READ))
			return;
		/* idle connections keep no read buffer (thousands of them must stay small) */
		if (c->in.len == 0 && c->in.cap > 4096)
			buf_free(&c->in);
	}
	if (c->want_drained && evconn_out_pending(c) == 0 && !c->handshaking) {
		c->want_drained = 0;
		if (!evconn_emit(c, EVCONN_DRAINED))
			return;
	}
	evconn_update_watchers(c);
}

static void
evconn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct evconn *c = w->data;

	(void)loop;
	(void)revents;
	if (c->dead)
		return;
	snprintf(c->err, sizeof(c->err), "timeout");
	ev_timer_stop(c->loop, &c->timer);
	evconn_emit(c, EVCONN_TIMEOUT);
}
