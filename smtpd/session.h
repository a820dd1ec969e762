#ifndef SMTPD_SESSION_H
#define SMTPD_SESSION_H
/* Internal to smtpd/: one SMTP server session (RFC 5321 with PIPELINING, SIZE, 8BITMIME,
 * SMTPUTF8, CHUNKING, DSN, ENHANCEDSTATUSCODES, STARTTLS), its state machine and the DATA/BDAT
 * body writer. Main loop thread only. */
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/envelope.h"
#include "lib/buf.h"
#include "lib/evconn.h"
#include "smtpd/smtp_cmd_parse.h"

enum session_state {
	SS_CMD,			/* reading commands */
	SS_DATA,		/* reading DATA content up to CRLF.CRLF */
	SS_BDAT,		/* reading a BDAT chunk of known size */
	SS_WAIT,		/* waiting for the queue; input processing paused */
	SS_TLS,			/* TLS handshake in progress */
	SS_CLOSING,		/* final reply queued; close once drained */
};

enum session_wait { SW_NONE, SW_CREATE, SW_COMMIT };

/* Data-phase flags that make the message unacceptable; the first one set decides the reply. */
#define BODY_TOO_BIG     0x01
#define BODY_WRITE_ERR   0x02
#define BODY_NUL         0x04
#define BODY_LONG_LINE   0x08
#define BODY_HOPS        0x10
#define BODY_SEQUENCE    0x80	/* BDAT out of sequence: chunk read and dropped */

struct session {
	uint32_t slot;
	uint32_t gen;
	char sid[17];
	struct evconn *conn;
	struct sockaddr_storage peer;
	char peer_addr[64];
	int is_mynetwork;
	enum session_state state;
	enum session_wait wait;
	uint32_t wait_id;	/* request id of the pending queue call */
	int esmtp;
	int has_helo;
	char helo[SMTP_CMD_LINE_MAX + 1];
	int tls;
	int errors;
	int quit;
	/* transaction */
	int in_tx;
	struct envelope env;
	int body_fd;		/* message file from the queue, or -1 */
	int used_bdat;
	struct buf wbuf;	/* body bytes waiting to be written to body_fd */
	long long body_size;
	unsigned body_flags;
	int body_bare;		/* bare CR or LF seen: close after the reply */
	int at_line_start;	/* DATA parser: next byte begins a line */
	long long line_len;	/* DATA parser: length of the current line so far */
	int in_headers;
	int hops;
	unsigned long long bdat_left;	/* SS_BDAT: bytes of the chunk still to read */
	unsigned long long bdat_chunk;	/* size of the current chunk */
	int bdat_last;
	int bdat_discard;	/* chunk is read and dropped (error already decided) */
	struct session *next_free;
};

/* smtpd.c */
struct mg_config;
const struct mg_config *smtpd_cfg(void);
SSL_CTX *smtpd_tls_ctx(void);
/* Sends a request to the queue on behalf of s and puts s in SS_WAIT. */
void smtpd_queue_create(struct session *s);
void smtpd_queue_commit(struct session *s, const struct buf *envtext);
void smtpd_queue_abort(const char *qid);
void smtpd_session_closed(struct session *s);

/* session.c */
struct session *session_new(int fd, const struct sockaddr *sa, socklen_t salen, uint32_t slot);
void session_free(struct session *s);
void session_reply(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Queues a final reply and closes once it is written. */
void session_close_with(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void session_enter_state(struct session *s, enum session_state st);
void session_reset_tx(struct session *s);
void session_process_input(struct session *s);
void session_shutdown(struct session *s);
/* Queue answers */
void session_on_created(struct session *s, const char *qid, int fd);
void session_on_create_failed(struct session *s, int code, const char *enh, const char *text);
void session_on_committed(struct session *s);
void session_on_commit_failed(struct session *s, int code, const char *enh, const char *text);

/* session_cmd.c */
void session_command(struct session *s, struct slice line);
void session_greet(struct session *s);

/* session_data.c */
void session_data_begin(struct session *s);
/* Consumes DATA or BDAT bytes from the input buffer; returns 1 if the phase ended. */
int session_data_consume(struct session *s);
void session_bdat_begin(struct session *s, unsigned long long size, int last);
void session_data_end(struct session *s);
/* Writes the Received: header for the current transaction into wbuf. */
void session_received_header(struct session *s);

#endif
