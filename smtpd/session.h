#ifndef SMTPD_SESSION_H
#define SMTPD_SESSION_H
/* Internal to smtpd/: one SMTP server session (RFC 5321 with PIPELINING, SIZE, 8BITMIME,
 * SMTPUTF8, CHUNKING, DSN, ENHANCEDSTATUSCODES, STARTTLS), its state machine and the DATA/BDAT
 * body writer. Main loop thread only. */
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/envelope.h"
#include "common/ipc_msg.h"
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

enum session_wait { SW_NONE, SW_CREATE, SW_COMMIT, SW_FILTER, SW_AUTH, SW_SIGN };

/* What a listening socket serves (state_dir/listeners names them smtp, submission, submissions). */
enum listener_kind {
	LISTENER_SMTP = 0,	/* listen: MX service, AUTH offered after STARTTLS */
	LISTENER_SUBMISSION,	/* submission_listen: RFC 6409, MAIL needs AUTH */
	LISTENER_SUBMISSIONS,	/* submissions_listen: RFC 8314 implicit TLS, MAIL needs AUTH */
};

/* SMTP AUTH exchange in progress (smtpd/auth.c). */
enum auth_step { AUTH_STEP_NONE = 0, AUTH_STEP_PLAIN, AUTH_STEP_LOGIN_USER, AUTH_STEP_LOGIN_PASS };

/* A verdict of the filter role for the current message (IPC_FILTER_VERDICT). */
struct filter_verdict {
	enum filter_action action;
	char enh[16];
	char text[512];
	char score[32];
	char *symbols, *headers, *detail;	/* borrowed: owned by the IPC reader */
	char *consumed;		/* recipients the filter took (stored reports), '\n' after each;
				 * NULL or "" = none (borrowed) */
};

/* The header section as seen by session_data.c's scanner, which reads the content as it is
 * written (DATA after dot-unstuffing, BDAT as sent), so both paths share one set of checks. */
struct hdr_scan {
	int active;		/* still inside the header section */
	int line_kind;		/* HL_* (session_data.c) of the current line */
	int name_len;		/* octets of the current field name so far */
	char name[8];		/* its first octets, enough to recognise "Received" */
	long long bytes;	/* octets of the header section so far */
	int fields;		/* header fields so far */
	int hops;		/* Received: fields so far (RFC 5321 §6.3) */
};

/* Data-phase flags that make the message unacceptable; the first one set decides the reply. */
#define BODY_TOO_BIG     0x01
#define BODY_WRITE_ERR   0x02
#define BODY_NUL         0x04
#define BODY_LONG_LINE   0x08
#define BODY_HOPS        0x10
#define BODY_HEADER_BIG  0x20	/* over MSG_HEADER_COUNT_MAX fields or MSG_HEADER_SECTION_MAX octets */
#define BODY_SEQUENCE    0x80	/* BDAT out of sequence: chunk read and dropped */

struct session {
	uint32_t slot;
	uint32_t gen;
	char sid[17];
	struct evconn *conn;
	struct sockaddr_storage peer;
	char peer_addr[64];
	int is_mynetwork;
	int xclient;		/* client identity replaced by XCLIENT */
	enum session_state state;
	enum session_wait wait;
	uint32_t wait_id;	/* request id of the pending queue call */
	int esmtp;
	int has_helo;
	char helo[SMTP_CMD_LINE_MAX + 1];
	int tls;
	enum listener_kind kind;
	/* SMTP AUTH (smtpd/auth.c) */
	enum auth_step auth_step;
	int auth_mech;		/* enum sasl_mech of the exchange in progress */
	char *auth_user;	/* authenticated user name (sanitised for logs when printed), or NULL */
	char *auth_pending;	/* user name being verified */
	int auth_pending_known;	/* auth_pending is in the users file */
	ev_timer auth_delay;	/* delays a failure reply (AUTH_FAIL_DELAY) */
	int errors;
	int quit;
	/* transaction */
	int in_tx;
	int rcpt_seen;		/* a RCPT command reached cmd_rcpt in this transaction */
	char policy[192];	/* policy group of the accepted recipients (see rcpt_policy_key) */
	struct envelope env;
	int body_fd;		/* message file from the queue, or -1 */
	int used_bdat;
	struct buf wbuf;	/* body bytes waiting to be written to body_fd */
	long long body_size;
	unsigned body_flags;
	int body_bare;		/* bare CR or LF seen: close after the reply */
	int at_line_start;	/* DATA parser: next byte begins a line */
	long long line_len;	/* DATA parser: length of the current line so far */
	struct hdr_scan hdr;
	int rw_active;		/* header_rewrite: header section held in rw_hdr until complete */
	struct buf rw_hdr;
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
/* True once the smtpd stops: sessions close (421) instead of reading further commands. */
int smtpd_is_stopping(void);
/* Sends a request to the queue on behalf of s and puts s in SS_WAIT. */
/* Gets s a message file: at once from the pool (returns 1; the session is already in SS_DATA or
 * SS_BDAT), or by asking the queue (returns 0; s waits in SS_WAIT). */
int smtpd_queue_create(struct session *s);
void smtpd_queue_commit(struct session *s, const struct buf *envtext);
void smtpd_queue_abort(const char *qid);
void smtpd_session_closed(struct session *s);
/* The filter role: session start and end, MAIL (starts SPF), and the check of a complete
 * message (puts s in SS_WAIT until session_on_verdict; ro_fd is always consumed; returns -1
 * when the filter is gone). */
void smtpd_filter_connect(struct session *s);
void smtpd_filter_mail(struct session *s);
void smtpd_filter_end(struct session *s);
int smtpd_filter_check(struct session *s, const struct buf *envtext, int ro_fd);

/* session.c */
struct session *session_new(int fd, const struct sockaddr *sa, socklen_t salen, uint32_t slot,
    enum listener_kind kind);
void session_free(struct session *s);
/* Sets the client address (at connect, or from XCLIENT) and the mynetworks flag. */
void session_set_client(struct session *s, const struct sockaddr *sa);
void session_reply(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Queues a final reply and closes once it is written. */
void session_close_with(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void session_enter_state(struct session *s, enum session_state st);
void session_reset_tx(struct session *s);
void session_process_input(struct session *s);
/* Answers 421 and closes. A session waiting for the queue is left to its answer, unless
 * queue_gone: then no answer will come. */
void session_shutdown(struct session *s, int queue_gone);
/* Queue answers */
/* sync: called from inside command processing (pool): the caller's loop goes on with the body,
 * so no input is processed here. */
void session_on_created(struct session *s, const char *qid, int fd, int sync);
void session_on_create_failed(struct session *s, int code, const char *enh, const char *text);
void session_on_committed(struct session *s);
void session_on_commit_failed(struct session *s, int code, const char *enh, const char *text);
/* Filter answers */
void session_on_verdict(struct session *s, const struct filter_verdict *v);
void session_on_filter_failed(struct session *s);
/* Commits the current message (envelope complete) to the queue, or answers an error. */
void session_commit(struct session *s);

/* smtpd.c: request ids for work done off the session (AUTH verification); the session, or NULL
 * when it went away or moved on. */
uint32_t smtpd_req_id(struct session *s);
struct session *smtpd_req_session(uint32_t id);

/* auth.c */
/* Loads auth_users_file (at start and on reload; keeps the old users on error) and starts the
 * verification threads. Returns -1 when the file cannot be loaded at start. */
int smtpd_auth_init(void);
void smtpd_auth_reload(void);
/* True when AUTH is offered at all (a users file is configured and loaded). */
int smtpd_auth_enabled(void);
/* True when the line (without CRLF) must go to session_auth_line: an AUTH command or a response
 * inside an exchange. Such lines may be up to SASL_LINE_MAX octets (RFC 4954 §4). */
int session_auth_wants(const struct session *s, const char *line, size_t n);
/* Handles an AUTH command or a client response. The caller wipes the line afterwards. */
void session_auth_line(struct session *s, struct slice line);
/* Ends an exchange or delay in progress (session ending). */
void session_auth_free(struct session *s);

/* session_cmd.c */
void session_command(struct session *s, struct slice line);
void session_greet(struct session *s);

/* session_data.c */
void session_data_begin(struct session *s);
/* Consumes DATA or BDAT bytes from the input buffer; returns 1 if the phase ended. */
int session_data_consume(struct session *s);
void session_bdat_begin(struct session *s, unsigned long long size, int last);
void session_data_end(struct session *s);
/* Starts the message content (DATA or BDAT) once the queue gave us a file: writes our
 * Received: header into wbuf and resets the size count and the header scanner. */
void session_body_begin(struct session *s);

#endif
