#ifndef LIB_IPC_H
#define LIB_IPC_H
/* Framed IPC between our own processes over a SOCK_STREAM Unix socketpair, on a libev loop.
 * Frame: struct ipc_hdr (len, type, flags, id) then len payload bytes. A frame may carry one file
 * descriptor (IPC_F_FD), passed with SCM_RIGHTS attached to the frame's first byte; the reader
 * keeps received descriptors in a FIFO and pairs them with frames in order.
 * Peers are our own processes: a malformed frame is a bug and panics (STYLE.md §6).
 * Payload helpers put/get integers and length-prefixed strings; every get checks bounds and
 * panics on mismatch, and ipc_msg_end() panics if bytes are left over. Not thread-safe: the
 * owning loop's thread only. */
#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/buf.h"

#define IPC_F_FD 0x1

struct ipc_hdr {
	uint32_t len;
	uint16_t type;
	uint16_t flags;
	uint32_t id;
};

struct ipc_msg {
	uint16_t type;
	uint32_t id;
	int fd;			/* received descriptor (caller owns it), or -1 */
	const unsigned char *data;	/* borrowed: valid only during the callback */
	size_t len;
	size_t pos;
};

struct ipc_chan;
typedef void ipc_msg_cb(struct ipc_chan *chan, struct ipc_msg *msg, void *arg);
typedef void ipc_close_cb(struct ipc_chan *chan, void *arg);

struct ipc_chan *ipc_chan_new(struct ev_loop *loop, int fd, const char *peer_name,
    ipc_msg_cb *on_msg, ipc_close_cb *on_close, void *arg);
/* Closes the socket and frees the channel; pending output is dropped. */
void ipc_chan_free(struct ipc_chan **chan);
const char *ipc_chan_peer(const struct ipc_chan *chan);

/* Builder for an outgoing frame. */
struct ipc_out {
	struct buf b;
};
void ipc_out_init(struct ipc_out *o);
void ipc_out_free(struct ipc_out *o);
void ipc_put_u32(struct ipc_out *o, uint32_t v);
void ipc_put_u64(struct ipc_out *o, uint64_t v);
void ipc_put_i64(struct ipc_out *o, int64_t v);
void ipc_put_bytes(struct ipc_out *o, const void *p, size_t n);
void ipc_put_str(struct ipc_out *o, const char *s);	/* NULL is sent as absent */

/* Queues a frame. fd >= 0 is sent with it and closed here after sending (ownership passes).
 * payload may be NULL for an empty frame. Never blocks; output is flushed by the loop. */
void ipc_send(struct ipc_chan *chan, uint16_t type, uint32_t id, int fd, const struct ipc_out *payload);
/* Tries to write pending output now (e.g. before exiting). Returns 0 when all is sent. */
int ipc_flush(struct ipc_chan *chan);
size_t ipc_pending(const struct ipc_chan *chan);
/* Like ipc_flush, but waits (poll) up to timeout_ms for the peer to take the output; used before
 * a process exits so answers already queued are not lost. Returns 0 when all is sent. */
int ipc_flush_wait(struct ipc_chan *chan, int timeout_ms);
/* ipc_flush_wait on every open channel of this process. */
void ipc_flush_all(int timeout_ms);

uint32_t ipc_get_u32(struct ipc_msg *m);
uint64_t ipc_get_u64(struct ipc_msg *m);
int64_t ipc_get_i64(struct ipc_msg *m);
/* Returns a pointer into the frame (valid during the callback) and its length. */
const void *ipc_get_bytes(struct ipc_msg *m, size_t *len_r);
/* Returns a freshly allocated NUL-terminated copy, or NULL if sent as absent. Panics if the
 * string contains NUL. */
char *ipc_get_str(struct ipc_msg *m);
/* Copies a string into dst (panics if longer than size-1 or absent). */
void ipc_get_strbuf(struct ipc_msg *m, char *dst, size_t size);
void ipc_msg_end(struct ipc_msg *m);

#endif
