/* ipc.c: framed messages with descriptor passing between MailGuard processes (see ipc.h).
 * Any role, main loop thread only. Trusts the peer (our own code) but verifies every frame:
 * oversize frames, a missing descriptor or a short read are panics, not silent errors. */
#include "lib/ipc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"

#define IPC_FRAME_LIMIT (16u * 1024 * 1024)
#define IPC_MAX_FDQ 256
#define IPC_READ_CHUNK 65536

struct ipc_fdpos {
	size_t off;		/* offset in out buffer of the frame's first byte */
	int fd;
};

struct ipc_chan {
	struct ev_loop *loop;
	int fd;
	char peer[32];
	ev_io rio, wio;
	struct buf in, out;
	size_t out_sent;	/* bytes of out already written */
	struct ipc_fdpos *ofds;	/* descriptors to send, in offset order */
	size_t n_ofds, cap_ofds;
	int ifds[IPC_MAX_FDQ];	/* received descriptors not yet paired with a frame */
	size_t n_ifds;
	ipc_msg_cb *on_msg;
	ipc_close_cb *on_close;
	void *arg;
	int *alive;		/* set to 0 if freed during a callback */
	struct ipc_chan *next_all;	/* every open channel of the process */
};

static struct ipc_chan *all_chans;

static void ipc_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void ipc_write_cb(struct ev_loop *loop, ev_io *w, int revents);

struct ipc_chan *
ipc_chan_new(struct ev_loop *loop, int fd, const char *peer_name, ipc_msg_cb *on_msg,
    ipc_close_cb *on_close, void *arg)
{
	struct ipc_chan *c = xcalloc(1, sizeof(*c));
	int sz = 1024 * 1024;

	c->loop = loop;
	c->fd = fd;
	snprintf(c->peer, sizeof(c->peer), "%s", peer_name);
	buf_init(&c->in, IPC_FRAME_LIMIT + sizeof(struct ipc_hdr) + IPC_READ_CHUNK);
	buf_init(&c->out, (size_t)1 << 30);
	c->on_msg = on_msg;
	c->on_close = on_close;
	c->arg = arg;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	ev_io_init(&c->rio, ipc_read_cb, fd, EV_READ);
	c->rio.data = c;
	ev_io_init(&c->wio, ipc_write_cb, fd, EV_WRITE);
	c->wio.data = c;
	ev_io_start(loop, &c->rio);
	c->next_all = all_chans;
	all_chans = c;
	return c;
}

void
ipc_chan_free(struct ipc_chan **cp)
{
	struct ipc_chan *c = *cp;

	if (c == NULL)
		return;
	for (struct ipc_chan **pp = &all_chans; *pp; pp = &(*pp)->next_all)
		if (*pp == c) {
			*pp = c->next_all;
			break;
		}
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	close(c->fd);
	for (size_t i = 0; i < c->n_ofds; i++)
		close(c->ofds[i].fd);
	for (size_t i = 0; i < c->n_ifds; i++)
		close(c->ifds[i]);
	if (c->alive)
		*c->alive = 0;
	buf_free(&c->in);
	buf_free(&c->out);
	xfree(c->ofds);
	xfree(c);
	*cp = NULL;
}

const char *
ipc_chan_peer(const struct ipc_chan *c)
{
	return c->peer;
}

void
ipc_out_init(struct ipc_out *o)
{
	buf_init(&o->b, IPC_FRAME_LIMIT);
}

void
ipc_out_free(struct ipc_out *o)
{
	buf_free(&o->b);
}

static void
ipc_put_raw(struct ipc_out *o, const void *p, size_t n)
{
	if (buf_append(&o->b, p, n) < 0)
		panic("ipc: frame exceeds %u bytes", IPC_FRAME_LIMIT);
}

void
ipc_put_u32(struct ipc_out *o, uint32_t v)
{
	ipc_put_raw(o, &v, sizeof(v));
}

void
ipc_put_u64(struct ipc_out *o, uint64_t v)
{
	ipc_put_raw(o, &v, sizeof(v));
}

void
ipc_put_i64(struct ipc_out *o, int64_t v)
{
	ipc_put_raw(o, &v, sizeof(v));
}

void
ipc_put_bytes(struct ipc_out *o, const void *p, size_t n)
{
	ipc_put_u32(o, (uint32_t)n);
	ipc_put_raw(o, p, n);
}

void
ipc_put_str(struct ipc_out *o, const char *s)
{
	if (s == NULL) {
		ipc_put_u32(o, UINT32_MAX);
		return;
	}
	ipc_put_bytes(o, s, strlen(s));
}

void
ipc_send(struct ipc_chan *c, uint16_t type, uint32_t id, int fd, const struct ipc_out *payload)
{
	struct ipc_hdr h;
	size_t plen = payload ? payload->b.len : 0;

	if (plen > IPC_FRAME_LIMIT)
		panic("ipc: frame to %s too large (%zu)", c->peer, plen);
	h.len = (uint32_t)plen;
	h.type = type;
	h.flags = fd >= 0 ? IPC_F_FD : 0;
	h.id = id;
	if (fd >= 0) {
		if (c->n_ofds == c->cap_ofds) {
			c->cap_ofds = c->cap_ofds ? c->cap_ofds * 2 : 16;
			c->ofds = xreallocarray(c->ofds, c->cap_ofds, sizeof(*c->ofds));
		}
		c->ofds[c->n_ofds].off = c->out.len;
		c->ofds[c->n_ofds].fd = fd;
		c->n_ofds++;
	}
	if (buf_append(&c->out, &h, sizeof(h)) < 0 ||
	    (plen && buf_append(&c->out, payload->b.data, plen) < 0))
		panic("ipc: output to %s exceeds 1 GiB; peer stuck", c->peer);
	ev_io_start(c->loop, &c->wio);
}

size_t
ipc_pending(const struct ipc_chan *c)
{
	return c->out.len - c->out_sent;
}

/* Writes as much as possible; a descriptor goes with the first byte of its frame. */
int
ipc_flush(struct ipc_chan *c)
{
	while (c->out_sent < c->out.len) {
		struct msghdr mh;
		struct iovec iov;
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int))];
		} cm;
		size_t end = c->out.len;
		int with_fd = 0;
		ssize_t n;

		memset(&mh, 0, sizeof(mh));
		if (c->n_ofds > 0) {
			if (c->ofds[0].off == c->out_sent) {
				with_fd = 1;
				/* send only up to the next descriptor's frame */
				if (c->n_ofds > 1)
					end = c->ofds[1].off;
			} else {
				end = c->ofds[0].off;
			}
		}
		iov.iov_base = c->out.data + c->out_sent;
		iov.iov_len = end - c->out_sent;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		if (with_fd) {
			struct cmsghdr *ch;

			memset(&cm, 0, sizeof(cm));
			mh.msg_control = cm.buf;
			mh.msg_controllen = sizeof(cm.buf);
			ch = CMSG_FIRSTHDR(&mh);
			ch->cmsg_level = SOL_SOCKET;
			ch->cmsg_type = SCM_RIGHTS;
			ch->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(ch), &c->ofds[0].fd, sizeof(int));
		}
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return -1;
			/* a peer that exited: its death is reported by whoever reaps it */
			if (errno == EPIPE || errno == ECONNRESET)
				log_debug("ipc: write to %s: %m", c->peer);
			else
				log_err("ipc: write to %s: %m", c->peer);
			return -1;
		}
		if (with_fd) {
			close(c->ofds[0].fd);
			memmove(c->ofds, c->ofds + 1, (c->n_ofds - 1) * sizeof(*c->ofds));
			c->n_ofds--;
		}
		c->out_sent += (size_t)n;
	}
	/* everything sent: reset buffer and rebase descriptor offsets (none remain) */
	buf_reset(&c->out);
	c->out_sent = 0;
	return 0;
}

int
ipc_flush_wait(struct ipc_chan *c, int timeout_ms)
{
	for (int waited = 0; ipc_flush(c) < 0; waited += 10) {
		struct pollfd p = { .fd = c->fd, .events = POLLOUT };

		if (waited >= timeout_ms || (errno != EAGAIN && errno != EINTR))
			return -1;
		(void)poll(&p, 1, 10);
	}
	return 0;
}

void
ipc_flush_all(int timeout_ms)
{
	for (struct ipc_chan *c = all_chans; c; c = c->next_all)
		(void)ipc_flush_wait(c, timeout_ms);
}

static void
ipc_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ipc_chan *c = w->data;

	(void)revents;
	if (ipc_flush(c) == 0)
		ev_io_stop(loop, &c->wio);
	else if (c->out.len > (64u << 20) && c->out_sent > (c->out.len / 2)) {
		/* compact a large, half-sent buffer */
		for (size_t i = 0; i < c->n_ofds; i++)
			c->ofds[i].off -= c->out_sent;
		buf_consume(&c->out, c->out_sent);
		c->out_sent = 0;
	}
}

static void
ipc_closed(struct ipc_chan *c)
{
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	if (c->on_close)
		c->on_close(c, c->arg);
	else
		fatal("ipc: %s closed the channel", c->peer);
}

static int
ipc_recv(struct ipc_chan *c)
{
	struct msghdr mh;
	struct iovec iov;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 16)];
	} cm;
	ssize_t n;

	if (buf_reserve(&c->in, IPC_READ_CHUNK) < 0)
		panic("ipc: input from %s overflow", c->peer);
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = c->in.data + c->in.len;
	iov.iov_len = IPC_READ_CHUNK;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	if (n == 0)
		return -1;
	if (mh.msg_flags & MSG_CTRUNC)
		panic("ipc: descriptors from %s truncated", c->peer);
	for (struct cmsghdr *ch = CMSG_FIRSTHDR(&mh); ch; ch = CMSG_NXTHDR(&mh, ch)) {
		size_t nfd;

		if (ch->cmsg_level != SOL_SOCKET || ch->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			if (c->n_ifds == IPC_MAX_FDQ)
				panic("ipc: too many pending descriptors from %s", c->peer);
			memcpy(&c->ifds[c->n_ifds++], CMSG_DATA(ch) + i * sizeof(int), sizeof(int));
		}
	}
	c->in.len += (size_t)n;
	return 1;
}

static void
ipc_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ipc_chan *c = w->data;
	size_t off = 0;
	int alive = 1, r;

	(void)loop;
	(void)revents;
	r = ipc_recv(c);
	if (r < 0) {
		ipc_closed(c);
		return;
	}
	c->alive = &alive;
	while (alive && c->in.len - off >= sizeof(struct ipc_hdr)) {
		struct ipc_hdr h;
		struct ipc_msg m;

		memcpy(&h, c->in.data + off, sizeof(h));
		if (h.len > IPC_FRAME_LIMIT)
			panic("ipc: frame from %s too large (%u)", c->peer, h.len);
		if (c->in.len - off - sizeof(h) < h.len)
			break;
		m.type = h.type;
		m.id = h.id;
		m.fd = -1;
		m.data = (const unsigned char *)c->in.data + off + sizeof(h);
		m.len = h.len;
		m.pos = 0;
		if (h.flags & IPC_F_FD) {
			if (c->n_ifds == 0)
				panic("ipc: frame from %s lacks its descriptor", c->peer);
			m.fd = c->ifds[0];
			memmove(c->ifds, c->ifds + 1, (c->n_ifds - 1) * sizeof(int));
			c->n_ifds--;
		}
		off += sizeof(h) + h.len;
		c->on_msg(c, &m, c->arg);
	}
	if (!alive)
		return;
	c->alive = NULL;
	buf_consume(&c->in, off);
}

static const void *
ipc_take(struct ipc_msg *m, size_t n)
{
	const void *p;

	if (m->len - m->pos < n)
		panic("ipc: short frame type %u (need %zu at %zu of %zu)", m->type, n, m->pos, m->len);
	p = m->data + m->pos;
	m->pos += n;
	return p;
}

uint32_t
ipc_get_u32(struct ipc_msg *m)
{
	uint32_t v;

	memcpy(&v, ipc_take(m, sizeof(v)), sizeof(v));
	return v;
}

uint64_t
ipc_get_u64(struct ipc_msg *m)
{
	uint64_t v;

	memcpy(&v, ipc_take(m, sizeof(v)), sizeof(v));
	return v;
}

int64_t
ipc_get_i64(struct ipc_msg *m)
{
	int64_t v;

	memcpy(&v, ipc_take(m, sizeof(v)), sizeof(v));
	return v;
}

const void *
ipc_get_bytes(struct ipc_msg *m, size_t *len_r)
{
	uint32_t n = ipc_get_u32(m);

	if (n == UINT32_MAX)
		panic("ipc: absent bytes in frame type %u", m->type);
	*len_r = n;
	return ipc_take(m, n);
}

char *
ipc_get_str(struct ipc_msg *m)
{
	uint32_t n = ipc_get_u32(m);
	const char *p;

	if (n == UINT32_MAX)
		return NULL;
	p = ipc_take(m, n);
	if (memchr(p, '\0', n) != NULL)
		panic("ipc: NUL inside string in frame type %u", m->type);
	return xstrndup(p, n);
}

void
ipc_get_strbuf(struct ipc_msg *m, char *dst, size_t size)
{
	uint32_t n = ipc_get_u32(m);
	const char *p;

	if (n == UINT32_MAX || n >= size)
		panic("ipc: string field too long or absent in frame type %u", m->type);
	p = ipc_take(m, n);
	if (memchr(p, '\0', n) != NULL)
		panic("ipc: NUL inside string in frame type %u", m->type);
	memcpy(dst, p, n);
	dst[n] = '\0';
}

void
ipc_msg_end(struct ipc_msg *m)
{
	if (m->pos != m->len)
		panic("ipc: %zu trailing bytes in frame type %u", m->len - m->pos, m->type);
}
