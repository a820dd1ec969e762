/* session_data.c: message content of DATA (RFC 5321 §4.1.4, dot-unstuffing §4.5.2) and BDAT
 * (RFC 3030) streamed into the queue-owned message file, with our Received: header first.
 * smtpd role, main thread. Content is untrusted: size is counted while streaming
 * (max_message_size), only CRLF.CRLF ends DATA, and a bare CR or LF anywhere closes the session
 * after the reply (the SMTP smuggling defence); NUL and lines over 1000 octets (RFC 5321
 * §4.5.3.1.6) reject a DATA message; for DATA and BDAT alike, more than MAX_HOPS Received:
 * fields (RFC 5321 §6.3), MSG_HEADER_COUNT_MAX fields or MSG_HEADER_SECTION_MAX octets of header
 * reject the message. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/limits.h"
#include "config/config.h"
#include "lib/log.h"
#include "lib/sanitize.h"
#include "lib/str.h"
#include "lib/xalloc.h"
#include "smtpd/rewrite.h"
#include "smtpd/session.h"
#include "smtpd/signing.h"

#define MAX_HOPS 100
#define WBUF_FLUSH 65536

static void
body_flush(struct session *s)
{
	size_t off = 0;

	while (off < s->wbuf.len && !(s->body_flags & BODY_WRITE_ERR)) {
		ssize_t n = write(s->body_fd, s->wbuf.data + off, s->wbuf.len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("%s %s write to message file: %m", s->sid, s->env.qid);
			s->body_flags |= BODY_WRITE_ERR;
			break;
		}
		off += (size_t)n;
	}
	buf_reset(&s->wbuf);
}

/* Kinds of line for the header scanner. A line that is neither a header field nor the
 * continuation of one ends the header section, as an empty line does (Postfix is_header()). */
enum { HL_START, HL_NAME, HL_NAME_WSP, HL_FIELD, HL_CONT, HL_OTHER };

static void
hdr_line_end(struct session *s)
{
	struct hdr_scan *h = &s->hdr;

	if (h->line_kind != HL_FIELD && h->line_kind != HL_CONT) {
		h->active = 0;	/* empty line or not a header: the body starts here */
		return;
	}
	if (h->line_kind == HL_FIELD) {
		if (++h->fields > MSG_HEADER_COUNT_MAX)
			s->body_flags |= BODY_HEADER_BIG;
		if (h->name_len == 8 && strncasecmp(h->name, "Received", 8) == 0 &&
		    ++h->hops > MAX_HOPS)
			s->body_flags |= BODY_HOPS;
	}
	h->line_kind = HL_START;
	h->name_len = 0;
}

/* Follows the header section through content octets (any split: BDAT chunks end anywhere).
 * Field name syntax is RFC 5322 §2.2 ftext, with the obsolete WSP before the colon (§4.5.3).
 * Returns how many octets belonged to the header section (the line that ended it included). */
static size_t
hdr_scan(struct session *s, const char *p, size_t n)
{
	struct hdr_scan *h = &s->hdr;
	size_t i;

	for (i = 0; i < n && h->active; i++) {
		unsigned char c = (unsigned char)p[i];

		if (++h->bytes > MSG_HEADER_SECTION_MAX) {
			s->body_flags |= BODY_HEADER_BIG;
			h->active = 0;
			break;
		}
		if (c == '\n') {
			hdr_line_end(s);
			continue;
		}
		switch (h->line_kind) {
		case HL_START:
			if (c == '\r')
				break;	/* the CR of an empty line's CRLF */
			if (c == ' ' || c == '\t')
				h->line_kind = h->fields > 0 ? HL_CONT : HL_OTHER;
			else if (c > ' ' && c < 0x7f && c != ':') {
				h->line_kind = HL_NAME;
				h->name[h->name_len++] = (char)c;
			} else
				h->line_kind = HL_OTHER;
			break;
		case HL_NAME:
			if (c == ':')
				h->line_kind = HL_FIELD;
			else if (c == ' ' || c == '\t')
				h->line_kind = HL_NAME_WSP;
			else if (c > ' ' && c < 0x7f) {
				if ((size_t)h->name_len < sizeof(h->name))
					h->name[h->name_len] = (char)c;
				if (h->name_len < INT_MAX)
					h->name_len++;
			} else
				h->line_kind = HL_OTHER;
			break;
		case HL_NAME_WSP:
			if (c == ':')
				h->line_kind = HL_FIELD;
			else if (c != ' ' && c != '\t')
				h->line_kind = HL_OTHER;
			break;
		default:
			break;	/* field body, continuation, or a line that is no header */
		}
	}
	return i;
}

static void body_write(struct session *s, const char *p, size_t n);

/* header_rewrite: the sender domain's rules, or NULL (n_r = 0). Looked up each time, since a
 * reload may replace the configuration between two reads of the message. */
static const struct mg_header_rule *
rw_rules(const struct session *s, size_t *n_r)
{
	char lower[SMTP_DOMAIN_MAX + 1];
	const struct mg_domain *d;

	*n_r = 0;
	if (s->env.direction != ENV_OUTBOUND || s->env.sender == NULL || s->env.sender[0] == '\0')
		return NULL;
	str_lcpy(lower, envelope_addr_domain(s->env.sender), sizeof(lower));
	str_lower(lower);
	if ((d = config_domain_find(smtpd_cfg(), lower)) == NULL)
		return NULL;
	*n_r = d->n_header_rewrite;
	return d->header_rewrite;
}

/* The header section is complete (or the message ended inside it): rewrite it and write the
 * result to the message file; the body then streams through untouched. */
static void
rw_flush(struct session *s)
{
	const struct mg_header_rule *rules;
	const char *err;
	struct buf out;
	size_t n;
	int changed;

	s->rw_active = 0;
	rules = rw_rules(s, &n);
	buf_init(&out, REWRITE_OUT_MAX);
	changed = rewrite_header(rules, n, buf_slice(&s->rw_hdr), &out, &err);
	if (changed < 0) {
		log_warn("%s %s header_rewrite: %s", s->sid, s->env.qid, err);
		s->body_flags |= BODY_HEADER_BIG;
	} else {
		if (changed > 0)
			log_info("%s %s header_rewrite changes=%d", s->sid, s->env.qid, changed);
		s->body_size += (long long)out.len - (long long)s->rw_hdr.len;
		if (s->body_size > smtpd_cfg()->max_message_size)
			s->body_flags |= BODY_TOO_BIG;
		body_write(s, out.data ? out.data : "", out.len);
	}
	buf_free(&out);
	buf_free(&s->rw_hdr);
}

static void
body_put(struct session *s, const char *p, size_t n)
{
	if (s->hdr.active) {
		size_t used = hdr_scan(s, p, n);

		if (s->rw_active) {
			/* Held back until the header section is complete (bounded by hdr_scan's
			 * MSG_HEADER_SECTION_MAX check). */
			s->body_size += (long long)used;
			if (buf_append(&s->rw_hdr, p, used) < 0)
				s->body_flags |= BODY_HEADER_BIG;
			if (!s->hdr.active)
				rw_flush(s);
			p += used;
			n -= used;
			if (n == 0)
				return;
		}
	}
	s->body_size += (long long)n;
	if (s->body_size > smtpd_cfg()->max_message_size)
		s->body_flags |= BODY_TOO_BIG;
	body_write(s, p, n);
}

/* Queues content for the message file (size already counted). */
static void
body_write(struct session *s, const char *p, size_t n)
{
	if (s->body_flags & (BODY_TOO_BIG | BODY_WRITE_ERR) || s->body_fd < 0)
		return;
	if (s->wbuf.len + n > WBUF_FLUSH)
		body_flush(s);
	if (n >= WBUF_FLUSH) {
		buf_append(&s->wbuf, p, n);	/* wbuf max is 1 MiB >= our 64 KiB chunks */
		body_flush(s);
		return;
	}
	buf_append(&s->wbuf, p, n);
}

static void
session_received_header(struct session *s)
{
	const struct mg_config *cfg = smtpd_cfg();
	char date[64], proto[16];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	/* RFC 3848 (and RFC 6531 §3.7.4 for UTF8SMTP): S = TLS, A = SMTP AUTH. The user name is
	 * not written anywhere in the message. */
	snprintf(proto, sizeof(proto), "%s%s%s", s->env.smtputf8 ? "UTF8SMTP" : (s->esmtp ? "ESMTP" : "SMTP"),
	    s->tls ? "S" : "", s->auth_user ? "A" : "");
	buf_reset(&s->wbuf);
	s->body_size = 0;
	/* The peer's HELO is sanitised to printable ASCII without parentheses. */
	{
		char helo[128];
		size_t j = 0;

		for (size_t i = 0; s->helo[i] && j < sizeof(helo) - 1; i++) {
			unsigned char c = (unsigned char)s->helo[i];
			helo[j++] = (c > 32 && c < 127 && c != '(' && c != ')') ? (char)c : '?';
		}
		helo[j] = '\0';
		buf_printf(&s->wbuf, "Received: from %s (unknown [%s])\r\n\tby %s (MailGuard) with %s id %s",
		    helo, s->peer_addr, cfg->hostname, proto, s->env.qid);
	}
	if (s->env.n_rcpts == 1 && strlen(s->env.rcpts[0].addr) < 200)
		buf_printf(&s->wbuf, "\r\n\tfor <%s>", s->env.rcpts[0].addr);
	buf_printf(&s->wbuf, "; %s\r\n", date);
	s->body_size = (long long)s->wbuf.len;
}

void
session_body_begin(struct session *s)
{
	size_t n;

	session_received_header(s);
	memset(&s->hdr, 0, sizeof(s->hdr));
	s->hdr.active = 1;
	s->hdr.line_kind = HL_START;
	buf_free(&s->rw_hdr);
	s->rw_active = rw_rules(s, &n) != NULL && n > 0;
	if (s->rw_active)
		buf_init(&s->rw_hdr, MSG_HEADER_SECTION_MAX + 1);
}

/* header_rewrite "sender" rules apply to the envelope sender of outbound mail too. */
static void
rw_envelope_sender(struct session *s)
{
	const struct mg_header_rule *rules;
	char out[SMTP_PATH_MAX + 1], clean[SANITIZE_MAX + 4];
	size_t n;

	if ((rules = rw_rules(s, &n)) == NULL ||
	    rewrite_envelope_sender(rules, n, s->env.sender, out, sizeof(out)) <= 0)
		return;
	log_info("%s %s header_rewrite envelope sender from=<%s>", s->sid, s->env.qid,
	    sanitize(clean, out, strlen(out)));
	xfree(s->env.sender);
	s->env.sender = xstrdup(out);
}

void
session_data_begin(struct session *s)
{
	s->at_line_start = 1;
	s->line_len = 0;
	s->body_bare = 0;
	session_enter_state(s, SS_DATA);
}

/* DATA: consumes complete lines from the input; returns 1 when CRLF.CRLF was seen. */
static int
data_consume(struct session *s)
{
	struct buf *in = evconn_in(s->conn);
	size_t off = 0;
	int done = 0;

	while (off < in->len) {
		char *p = in->data + off;
		size_t avail = in->len - off;
		char *lf = memchr(p, '\n', avail);
		size_t n, content;

		if (lf == NULL) {
			/* partial line: keep it unless it is already too long to be legal */
			if (avail > SMTP_TEXT_LINE_MAX) {
				size_t take = avail - 1;	/* keep a possible CR */

				if (memchr(p, '\r', take) != NULL)
					s->body_bare = 1;
				if (memchr(p, '\0', take) != NULL)
					s->body_flags |= BODY_NUL;
				s->body_flags |= BODY_LONG_LINE;
				if (s->at_line_start && p[0] == '.') {
					p++;
					take--;
					off++;
				}
				body_put(s, p, take);
				s->at_line_start = 0;
				off += take;
			}
			break;
		}
		n = (size_t)(lf - p) + 1;
		if (n < 2 || p[n - 2] != '\r') {
			s->body_bare = 1;
			off += n;
			break;
		}
		content = n - 2;
		if (memchr(p, '\r', content) != NULL) {
			s->body_bare = 1;
			off += n;
			break;
		}
		if (s->at_line_start && content == 1 && p[0] == '.') {
			off += n;
			done = 1;
			break;
		}
		if (memchr(p, '\0', content) != NULL)
			s->body_flags |= BODY_NUL;
		if (s->at_line_start) {
			/* 998 octets + CRLF after unstuffing (RFC 5322 §2.1.1) */
			if (content - (p[0] == '.' ? 1 : 0) > SMTP_TEXT_LINE_MAX - 2)
				s->body_flags |= BODY_LONG_LINE;
			if (p[0] == '.') {
				p++;
				n--;
				off++;
			}
		}
		body_put(s, p, n);
		off += n;
		s->at_line_start = 1;
	}
	buf_consume(in, off);
	if (s->body_bare) {
		session_close_with(s, "521 5.5.2 %s Bare <CR> or <LF> in message content; CRLF "
		    "required (RFC 5321 section 2.3.8)", smtpd_cfg()->hostname);
		return 1;
	}
	if (done)
		session_data_end(s);
	return done;
}

void
session_bdat_begin(struct session *s, unsigned long long size, int last)
{
	s->bdat_left = size;
	s->bdat_chunk = size;
	s->bdat_last = last;
	s->bdat_discard = 0;
	if (s->state != SS_WAIT)
		session_enter_state(s, SS_BDAT);
}

/* BDAT: consumes the chunk's bytes; returns 1 when the chunk is complete. */
static int
bdat_consume(struct session *s)
{
	struct buf *in = evconn_in(s->conn);
	size_t take = in->len < s->bdat_left ? in->len : (size_t)s->bdat_left;

	if (take > 0) {
		if (!s->bdat_discard)
			body_put(s, in->data, take);
		buf_consume(in, take);
		s->bdat_left -= take;
	}
	if (s->bdat_left > 0)
		return 0;
	if (s->body_flags & BODY_SEQUENCE) {
		s->body_flags &= ~(unsigned)BODY_SEQUENCE;
		session_reply(s, "503 5.5.1 Error: BDAT needs EHLO, MAIL and RCPT first");
		s->errors++;
		session_enter_state(s, SS_CMD);
		return 1;
	}
	if (s->bdat_last || (s->body_flags & BODY_WRITE_ERR)) {
		session_data_end(s);
		return 1;
	}
	session_reply(s, "250 2.0.0 %llu octets received", s->bdat_chunk);
	session_enter_state(s, SS_CMD);
	return 1;
}

int
session_data_consume(struct session *s)
{
	if (s->state == SS_DATA)
		return data_consume(s);
	return bdat_consume(s);
}

static void
data_reject(struct session *s, const char *fmt, const char *arg)
{
	session_reply(s, fmt, arg);
	session_reset_tx(s);
	session_enter_state(s, SS_CMD);
}

void
session_data_end(struct session *s)
{
	struct buf envtext;
	unsigned f;

	if (s->rw_active)
		rw_flush(s);	/* the message ended inside its header section */
	f = s->body_flags;
	if (!(f & BODY_WRITE_ERR) && s->body_fd >= 0)
		body_flush(s);
	f = s->body_flags;
	if (f & BODY_WRITE_ERR) {
		data_reject(s, "452 4.3.1 %s Insufficient system storage", smtpd_cfg()->hostname);
		return;
	}
	if (f & BODY_TOO_BIG) {
		char lim[32];

		snprintf(lim, sizeof(lim), "%lld", smtpd_cfg()->max_message_size);
		data_reject(s, "552 5.3.4 Message size exceeds fixed limit of %s bytes", lim);
		return;
	}
	if (f & BODY_HOPS) {
		data_reject(s, "554 5.4.6 Too many hops (%s Received: headers): mail loop?", "over 100");
		return;
	}
	if (f & BODY_HEADER_BIG) {
		char lim[64];

		snprintf(lim, sizeof(lim), "%d fields or %d octets", MSG_HEADER_COUNT_MAX,
		    MSG_HEADER_SECTION_MAX);
		data_reject(s, "552 5.3.4 Message header exceeds fixed limit of %s", lim);
		return;
	}
	if (f & BODY_NUL) {
		data_reject(s, "550 5.6.0 Message contains NUL characters%s", "");
		return;
	}
	if (f & BODY_LONG_LINE) {
		data_reject(s, "550 5.6.0 Message has a line longer than 998 characters%s "
		    "(RFC 5322 section 2.1.1)", "");
		return;
	}
	s->env.size = s->body_size;
	s->env.arrival = (long long)time(NULL);
	rw_envelope_sender(s);
	/* Mail from trusted clients (mynetworks, authenticated users) skips the inbound filter:
	 * the filter would only answer "trusted client" (no round trip, no filter state for such
	 * sessions: smtpd_filter_connect/mail/end send nothing for them). Outbound content checks
	 * are not built yet, so outbound mail is committed as is (DKIM-signed first if due). */
	if (s->env.direction == ENV_INBOUND && s->auth_user == NULL && !s->is_mynetwork) {
		/* The filter gets its own read-only descriptor of the same file. */
		char path[64];
		int ro;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", s->body_fd);
		ro = open(path, O_RDONLY | O_CLOEXEC);
		close(s->body_fd);
		s->body_fd = -1;
		if (ro < 0) {
			log_err("%s %s cannot reopen the message for the filter: %m", s->sid, s->env.qid);
			data_reject(s, "451 4.3.0 %s Local error in processing", smtpd_cfg()->hostname);
			return;
		}
		buf_init(&envtext, 64 * 1024 * 1024);
		if (envelope_write(&s->env, &envtext) < 0) {
			close(ro);
			buf_free(&envtext);
			data_reject(s, "451 4.3.0 %s Error: envelope too large", smtpd_cfg()->hostname);
			return;
		}
		if (smtpd_filter_check(s, &envtext, ro) < 0)
			data_reject(s, "451 4.3.2 %s Content filter unavailable, try again later",
			    smtpd_cfg()->hostname);
		buf_free(&envtext);
		return;
	}
	if (smtpd_sign_start(s))
		return;	/* issue E: the DKIM signature first (smtpd/signing.c), then the commit */
	close(s->body_fd);
	s->body_fd = -1;
	session_commit(s);
}

void
session_commit(struct session *s)
{
	struct buf envtext;

	buf_init(&envtext, 64 * 1024 * 1024);
	if (envelope_write(&s->env, &envtext) < 0) {
		buf_free(&envtext);
		data_reject(s, "451 4.3.0 %s Error: envelope too large", smtpd_cfg()->hostname);
		return;
	}
	smtpd_queue_commit(s, &envtext);
	buf_free(&envtext);
}
