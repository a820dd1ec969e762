#ifndef COMMON_LIMITS_H
#define COMMON_LIMITS_H
/* Input limits, each with its source. Two tiers (STYLE.md §10): past the informative limit the
 * peer gets a reply; past the absolute limit the connection is closed. */

/* RFC 5321 §4.5.3.1.4: command line 512 octets including CRLF. */
#define SMTP_CMD_LINE_MAX 512
/* Absolute: a command line longer than this closes the connection (after a 500 reply). */
#define SMTP_CMD_LINE_ABS_MAX 4096
/* RFC 5321 §4.5.3.1.6: text line 1000 octets including CRLF. */
#define SMTP_TEXT_LINE_MAX 1000
/* RFC 5321 §4.5.3.1.3: path 256 octets (including the angle brackets). */
#define SMTP_PATH_MAX 256
/* RFC 5321 §4.5.3.1.1/2: local part 64, domain 255 octets. */
#define SMTP_LOCAL_PART_MAX 64
#define SMTP_DOMAIN_MAX 255
/* RFC 5321 §4.5.3.1.8: at least 100 recipients must be buffered; configurable up to this cap. */
#define SMTP_RCPT_MIN 100
#define SMTP_RCPT_CAP 10000
/* RFC 3461 §4.4: ENVID at most 100 characters; §4.2 ORCPT at most 500 characters. */
#define SMTP_ENVID_MAX 100
#define SMTP_ORCPT_MAX 500
/* Our cap on pipelined bytes buffered ahead of the command being processed. */
#define SMTP_PIPELINE_MAX 65536
/* Errors before we close a session (OpenSMTPD and Postfix both cap this). */
#define SMTP_ERRORS_MAX 20
/* Cap on one BDAT chunk size accepted in the command (RFC 3030 leaves it open). */
#define SMTP_BDAT_CHUNK_MAX (1024LL * 1024 * 1024)
/* RFC 5322 §2.1.1: header line 998 + CRLF; we cap the header section and the header count. */
#define MSG_HEADER_SECTION_MAX (1024 * 1024)
#define MSG_HEADER_COUNT_MAX 1000

/* Our own IPC: a frame larger than this is a bug in the sender (panic). */
#define IPC_FRAME_MAX (4 * 1024 * 1024)
/* Config files: line and file size caps; list files may be larger. */
#define CONFIG_LINE_MAX 4096
#define CONFIG_FILE_MAX (1024 * 1024)
#define CONFIG_LIST_FILE_MAX (64 * 1024 * 1024)
/* Envelope files on disk (recipients bounded above, so envelopes are too). */
#define ENVELOPE_FILE_MAX (8 * 1024 * 1024)

#endif
