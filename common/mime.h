#ifndef COMMON_MIME_H
#define COMMON_MIME_H
/* MIME structure of a stored message (issue D): RFC 5322 header fields with folding, RFC 2047
 * encoded words, RFC 2045/2046 multipart to a capped depth, RFC 2231 parameters, base64 and
 * quoted-printable decoding, text parts converted to UTF-8 (iconv), HTML reduced to text plus its
 * links, message/rfc822 parts parsed as nested messages. The input is hostile: every limit below
 * is hard, hitting one sets a flag (the filter scores MIME_LIMIT) and the parse goes on with what
 * fits; nothing here crashes, loops or writes into the input. I/O-free: the caller hands the
 * whole message (the filter maps the read-only message fd) or feeds it in chunks. Any thread;
 * a struct mime_msg belongs to one thread at a time. */
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* Hard limits; mime_limits_default() gives these values, tests may lower them. */
#define MIME_PARTS_MAX 256		/* leaf and container parts per message */
#define MIME_DEPTH_MAX 16		/* multipart / message/rfc822 nesting */
#define MIME_HEADERS_MAX 512		/* header fields per part */
#define MIME_HEADER_SIZE_MAX 65536	/* octets of one unfolded header field */
#define MIME_DECODED_MAX (4 * 1024 * 1024)	/* decoded octets kept per part */
#define MIME_TEXT_MAX (1024 * 1024)	/* UTF-8 text kept per message, all parts together */
#define MIME_LINKS_MAX 1024		/* links kept per message */

struct mime_limits {
	size_t parts, depth, headers, header_size, decoded, text, links;
};

/* enum mime_flag bits: anomalies and limits seen anywhere in the message. */
#define MIME_F_LIMIT_PARTS	0x0001
#define MIME_F_LIMIT_DEPTH	0x0002
#define MIME_F_LIMIT_HEADERS	0x0004
#define MIME_F_LIMIT_SIZE	0x0008	/* a decoded part or the text was truncated */
#define MIME_F_BAD_BOUNDARY	0x0010	/* multipart without (closing) boundary */
#define MIME_F_BAD_ENCODING	0x0020	/* invalid base64/QP, unknown transfer encoding */
#define MIME_F_BAD_CHARSET	0x0040	/* unknown charset or invalid sequence (replaced) */
#define MIME_F_BAD_HEADER	0x0080	/* a line that is neither a field nor a continuation */
#define MIME_F_8BIT_HEADER	0x0100	/* raw 8-bit octets in header fields */

/* A header field of a part: name as written, value unfolded and RFC 2047-decoded to UTF-8. */
struct mime_header {
	char *name;
	char *value;
};

/* A link found in an HTML part (<a href>, <img src>, <form action>, <area href>) or in text. */
struct mime_link {
	char *url;		/* as written after entity decoding, trimmed; not normalised */
	char *anchor;		/* UTF-8 anchor text of <a> (may be empty); NULL for bare URLs */
	int part;		/* index in mime_msg.parts */
	int from_html;
	int tag;		/* added: MIME_LINK_* (which element it came from), 0 for bare URLs */
};
#define MIME_LINK_A	1	/* <a href> */
#define MIME_LINK_IMG	2	/* <img src> */
#define MIME_LINK_FORM	3	/* <form action> */
#define MIME_LINK_AREA	4	/* <area href> */

struct mime_part {
	int parent;		/* index of the enclosing container part, -1 for the top */
	int depth;
	char type[64], subtype[64];	/* lower case; "text"/"plain" when absent (RFC 2045 §5.2) */
	char charset[64];	/* lower case, as declared ("" if none) */
	char *filename;		/* RFC 2231/2047-decoded UTF-8 from Content-Disposition filename or
				 * Content-Type name, NULL if none */
	int is_attachment;	/* Content-Disposition: attachment, or a filename on a non-text part */
	char encoding[32];	/* Content-Transfer-Encoding, lower case ("" = 7bit) */
	struct mime_header *headers;	/* the part's own header fields, in order */
	size_t n_headers;
	struct buf decoded;	/* leaf parts: transfer-decoded octets, at most limits.decoded */
	size_t decoded_total;	/* octets the decoding produced before truncation */
	size_t text_off, text_len;	/* text/plain and text/html leaves: their UTF-8 text (HTML
				 * already reduced to text) inside mime_msg.text */
	unsigned flags;		/* MIME_F_* seen in this part */
};

struct mime_msg {
	struct mime_part *parts;	/* parts[0] is the message itself (its headers are the
					 * message's header section) */
	size_t n_parts;
	struct buf text;	/* UTF-8 text of every text part, joined with "\n" separators */
	struct mime_link *links;
	size_t n_links;
	char *subject;		/* decoded UTF-8 Subject of the top message, NULL if absent */
	char *from;		/* decoded UTF-8 From of the top message, NULL if absent */
	size_t html_parts, text_parts, attachments, images;	/* leaf counts by kind */
	size_t html_text_len;	/* UTF-8 octets of text coming from HTML parts */
	size_t html_hidden_len;	/* text in elements styled invisible (display:none, font-size:0,
				 * visibility:hidden, same colour as the background) */
	unsigned flags;		/* MIME_F_* over the whole message */
	/* added by the MIME engineer for the structural layer (filter/content.c): */
	size_t html_src_len;	/* UTF-8 octets of HTML source in text/html leaves */
	size_t html_images;	/* <img> elements in HTML parts (also past MIME_LINKS_MAX) */
};

void mime_limits_default(struct mime_limits *l);
/* Parses the message in msg (the whole message: header section, empty line, body; CRLF or LF
 * line ends). Returns a message the caller frees with mime_msg_free(); never NULL (limits and
 * malformed input are flags, not failures). l NULL = defaults. */
struct mime_msg *mime_parse(const char *msg, size_t len, const struct mime_limits *l);
void mime_msg_free(struct mime_msg **m);
/* First header field of part p named name (case-insensitive), decoded value, or NULL. */
const char *mime_header_get(const struct mime_msg *m, size_t p, const char *name);

/* HTML to text (used by mime_parse for text/html parts; exported for tests and the fuzz
 * target): appends the visible UTF-8 text of html (already in UTF-8) to text, block elements
 * becoming line breaks, entities decoded, script/style/comments dropped; appends the links it
 * finds to *links (growing *n_links up to max_links). *hidden_len_r gets the octets of hidden
 * text (see mime_msg.html_hidden_len). Returns 0, -1 only if text's max was reached. */
int mime_html_to_text(const char *html, size_t len, struct buf *text, struct mime_link **links,
    size_t *n_links, size_t max_links, int part, size_t *hidden_len_r);

/* Added by the MIME engineer (additive): an RFC 5322 §3.3 date-time (obsolete forms of §4.3
 * and asctime order accepted) to seconds since the epoch in *t_r. Returns 0, -1 if the value
 * is not a date. Pure, any thread (mime_date.c). */
int mime_date_parse(const char *s, size_t len, long long *t_r);

#endif
