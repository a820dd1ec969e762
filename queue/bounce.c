/* bounce.c: builds delivery status notifications (RFC 3464 inside an RFC 6522 multipart/report)
 * and the envelope that returns them to the sender. Runs in the queue role.
 * Trusts the envelope only as far as envelope_validate would (strings are re-sanitised before
 * they reach a header); treats the original message as hostile bytes: it is read with pread,
 * bounded by return_limit (whole message) or MSG_HEADER_SECTION_MAX (headers), its line ends
 * become CRLF and no emitted line exceeds BOUNCE_LINE_MAX octets. No other I/O, no clock. */
#include "queue/bounce.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/str.h"
#include "lib/xalloc.h"

/* Preferred width for header fields and text (RFC 5322 §2.1.1 SHOULD 78). */
#define WRAP_WIDTH 78
/* Hard limit used when a word is longer than a line may be. */
#define HARD_WIDTH (BOUNCE_LINE_MAX - 8)
/* Longest sanitised value we put in a report (envelope values are shorter). */
#define VALUE_MAX (2 * ENVELOPE_DIAG_MAX)
#define READ_CHUNK 65536
/* A return_limit above this is treated as this (keeps limit + 1 arithmetic safe). */
#define RETURN_LIMIT_CAP ((size_t)1 << 30)

enum return_mode { RETURN_NONE, RETURN_HEADERS, RETURN_FULL };

/* Sticky-failure writer over the output buffer. */
struct out {
	struct buf *b;
	int failed;
};

static void
put(struct out *o, const char *p, size_t n)
{
	if (!o->failed && buf_append(o->b, p, n) < 0)
		o->failed = 1;
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3)))
putf(struct out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->failed)
		return;
	va_start(ap, fmt);
	if (buf_vprintf(o->b, fmt, ap) < 0)
		o->failed = 1;
	va_end(ap);
}

int
bounce_is_owed(const struct envelope *env, size_t i, enum bounce_kind kind)
{
	const struct envelope_rcpt *r;

	/* RFC 3461 §6.2 / RFC 5321 §6.1: never report on a report, never to the null sender. */
	if (env->sender == NULL || env->sender[0] == '\0' || env->is_bounce || i >= env->n_rcpts)
		return 0;
	r = &env->rcpts[i];
	switch (kind) {
	case BOUNCE_FAILURE:
		return r->state == ENV_RCPT_FAILED &&
		    (r->notify == 0 || (r->notify & ENV_NOTIFY_FAILURE));
	case BOUNCE_DELAY:
		return r->state == ENV_RCPT_PENDING && !r->delay_warned &&
		    (r->notify == 0 || (r->notify & ENV_NOTIFY_DELAY));
	case BOUNCE_SUCCESS:
		return r->state == ENV_RCPT_DELIVERED && (r->notify & ENV_NOTIFY_SUCCESS);
	}
	return 0;
}

static int
has_8bit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] & 0x80)
			return 1;
	return 0;
}

static int
str_has_8bit(const char *s)
{
	return s != NULL && has_8bit(s, strlen(s));
}

/* Copies s for a header or text line: controls become '?', and so do 8-bit bytes unless the
 * report is RFC 6533 "global"; trailing spaces go; the result is cut at VALUE_MAX. */
static void
clean(char *dst, const char *s, int allow_8bit)
{
	size_t n = 0;

	for (; *s != '\0' && n < VALUE_MAX; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f || (c >= 0x80 && !allow_8bit))
			c = '?';
		dst[n++] = (char)c;
	}
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

/* Appends text wrapped at WRAP_WIDTH. Header mode (cont == NULL) folds: the break goes before
 * the space, which stays (RFC 5322 §2.2.3). Text mode starts each continuation line with cont
 * and drops the space. A word too long for any line is split at HARD_WIDTH. Ends with CRLF. */
static void
put_wrapped(struct out *o, const char *first, const char *cont, const char *text)
{
	size_t col = strlen(first), n = strlen(text), i = 0;
	int word_on_line = 0;

	puts_(o, first);
	while (i < n) {
		size_t j = i, k;

		while (j < n && text[j] == ' ')
			j++;
		for (k = j; k < n && text[k] != ' '; k++)
			;
		if (word_on_line && k > j && col + (k - i) > WRAP_WIDTH) {
			put(o, "\r\n", 2);
			col = 0;
			if (cont != NULL) {
				puts_(o, cont);
				col = strlen(cont);
				i = j;
			}
		}
		while (col + (k - i) > HARD_WIDTH) {
			size_t take = HARD_WIDTH - col;

			put(o, text + i, take);
			put(o, "\r\n ", 3);
			col = 1;
			i += take;
		}
		put(o, text + i, k - i);
		col += k - i;
		i = k;
		word_on_line = 1;
	}
	put(o, "\r\n", 2);
}

/* "Name: value" CRLF, folded. value is cleaned first. */
static void
put_field(struct out *o, const char *name, const char *value, int allow_8bit)
{
	char first[64];
	char v[VALUE_MAX + 1];

	(void)str_fmt(first, sizeof(first), "%s: ", name);
	clean(v, value, allow_8bit);
	put_wrapped(o, first, NULL, v);
}

void
bounce_format_date(long long t, char *dst, size_t n)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
	    "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)(t < 0 ? 0 : t > ENVELOPE_TIME_MAX ? ENVELOPE_TIME_MAX : t);
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	(void)str_fmt(dst, n, "%s, %d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
	    tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	    tm.tm_sec);
}

/* ---- the original message ---- */

/* Length of the header section at the start of p (up to and including the line end before the
 * first empty line), or -1 if no empty line occurs in the n bytes. */
static long
header_section_len(const char *p, size_t n)
{
	size_t line = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (i == line || (i == line + 1 && p[line] == '\r'))
			return (long)line;
		line = i + 1;
	}
	return -1;
}

/* Reads the original from offset 0 into raw until EOF, max bytes or (headers_only) the end of
 * the header section. *complete_r = 1 if EOF was reached within max bytes. */
static int
read_original(int fd, size_t max, int headers_only, struct buf *raw, int *complete_r)
{
	*complete_r = 0;
	while (raw->len <= max) {
		size_t want = max + 1 - raw->len;
		ssize_t r;

		if (want > READ_CHUNK)
			want = READ_CHUNK;
		if (buf_reserve(raw, want) < 0) {
			errno = EMSGSIZE;
			return -1;
		}
		r = pread(fd, raw->data + raw->len, want, (off_t)raw->len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			*complete_r = 1;
			break;
		}
		raw->len += (size_t)r;
		raw->data[raw->len] = '\0';
		if (headers_only && header_section_len(raw->data, raw->len) >= 0)
			break;
	}
	if (raw->len > max)
		raw->len = max;
	return 0;
}

/* Appends p with every line end made CRLF (bare CR and bare LF too), a CRLF added after a last
 * unterminated line, and lines longer than HARD_WIDTH broken (as a header continuation while
 * in the header section, so the returned header stays well-formed). */
static void
put_lines(struct out *o, const char *p, size_t n)
{
	size_t col = 0, run = 0;
	int in_header = 1;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (c != '\r' && c != '\n') {
			if (col == HARD_WIDTH) {
				put(o, p + run, i - run);
				put(o, in_header ? "\r\n " : "\r\n", in_header ? 3 : 2);
				col = in_header ? 1 : 0;
				run = i;
			}
			col++;
			continue;
		}
		put(o, p + run, i - run);
		put(o, "\r\n", 2);
		if (col == 0)
			in_header = 0;
		col = 0;
		if (c == '\r' && i + 1 < n && p[i + 1] == '\n')
			i++;
		run = i + 1;
	}
	put(o, p + run, n - run);
	if (col > 0)
		put(o, "\r\n", 2);
}

struct original {
	enum return_mode mode;
	char why[160];		/* part 1 note when not the whole message, or "" */
	struct buf text;	/* normalised content of part 3 */
};

/* Fills orig->text with what part 3 returns (RFC 3461 §4.3 RET) and says why in orig->why when
 * that is not the whole message. Without RET the whole message comes back on failure only: a
 * delay or success notice needs no copy of a message the sender still has. */
static int
load_original(const struct envelope *env, int fd, enum bounce_kind kind, size_t limit,
    struct original *orig)
{
	struct buf raw;
	struct out o = { &orig->text, 0 };
	int want_full, complete;
	long hlen;
	const char *why = "Only the headers of the message are returned.";

	orig->mode = RETURN_NONE;
	orig->why[0] = '\0';
	if (fd < 0) {
		str_lcpy(orig->why, "The message itself could not be read and is not included.",
		    sizeof(orig->why));
		return 0;
	}
	want_full = env->ret == ENV_RET_FULL || (env->ret == ENV_RET_UNSPEC && kind == BOUNCE_FAILURE);
	buf_init(&raw, (size_t)-1 / 2);
	if (want_full && env->body == ENV_BODY_BINARYMIME)
		why = "The message uses binary MIME (RFC 3030), so only its headers are returned.";
	else if (want_full) {
		why = NULL;
		if (env->size >= 0 && (unsigned long long)env->size <= limit) {
			if (read_original(fd, limit, 0, &raw, &complete) < 0)
				goto fail;
			if (complete) {
				put_lines(&o, raw.data ? raw.data : "", raw.len);
				orig->mode = RETURN_FULL;
				buf_free(&raw);
				return o.failed ? -1 : 0;
			}
			buf_reset(&raw);	/* larger than its envelope said */
		}
	} else if (env->ret == ENV_RET_HDRS)
		why = "Only the headers of the message are returned, as its sender asked.";
	if (why != NULL)
		str_lcpy(orig->why, why, sizeof(orig->why));
	else
		(void)str_fmt(orig->why, sizeof(orig->why), "The message is larger than %zu bytes, "
		    "so only its headers are returned.", limit);
	if (read_original(fd, MSG_HEADER_SECTION_MAX, 1, &raw, &complete) < 0)
		goto fail;
	hlen = header_section_len(raw.data ? raw.data : "", raw.len);
	put_lines(&o, raw.data ? raw.data : "", hlen >= 0 ? (size_t)hlen : raw.len);
	orig->mode = RETURN_HEADERS;
	buf_free(&raw);
	return o.failed ? -1 : 0;
fail:
	buf_free(&raw);
	return -1;
}

/* ---- the report ---- */

struct kind_text {
	const char *subject;
	const char *action;		/* RFC 3464 §2.3.3 */
	const char *default_status;	/* when the recipient has none (RFC 3463 "other") */
	const char *no_diag;		/* part 1 text for a recipient without diag */
	const char *part3;		/* Content-Description of the returned message */
};

static const struct kind_text kind_texts[] = {
	[BOUNCE_FAILURE] = { "Undelivered Mail Returned to Sender", "failed", "5.0.0",
	    "delivery failed", "Undelivered Message" },
	[BOUNCE_DELAY] = { "Delayed Mail (still being retried)", "delayed", "4.0.0",
	    "not delivered yet", "Delayed Message" },
	/* RFC 3461 §6.2: we cannot know that the next hop will report, so "relayed". */
	[BOUNCE_SUCCESS] = { "Successful Mail Delivery Report", "relayed", "2.0.0",
	    "delivered to the next mail server", "Delivered Message" },
};

struct dsn {
	const struct envelope *env;
	enum bounce_kind kind;
	const struct kind_text *text;
	const struct bounce_params *params;
	int global;		/* RFC 6533: UTF-8 addresses, message/global-* parts */
	char boundary[80];
	struct original orig;
};

/* A reply we got over SMTP starts with its code (RFC 5321 §4.2); anything else is our text. */
static int
diag_is_smtp(const char *d)
{
	return (d[0] == '2' || d[0] == '4' || d[0] == '5') && d[1] >= '0' && d[1] <= '9' &&
	    d[2] >= '0' && d[2] <= '9' && (d[3] == ' ' || d[3] == '-' || d[3] == '\0');
}

/* Our host name goes into From, Message-ID and Reporting-MTA unquoted. */
static int
host_is_valid(const char *h)
{
	size_t n = h != NULL ? strnlen(h, SMTP_DOMAIN_MAX + 1) : 0;

	if (n == 0 || n > SMTP_DOMAIN_MAX)
		return 0;
	for (; *h != '\0'; h++)
		if (*h <= 0x20 || *h >= 0x7f || strchr("<>()[]@,;:\\\"", *h) != NULL)
			return 0;
	return 1;
}

static void
put_headers(struct out *o, const struct dsn *d)
{
	const struct bounce_params *p = d->params;
	char date[64], value[VALUE_MAX + 8];

	bounce_format_date(p->now, date, sizeof(date));
	putf(o, "Date: %s\r\n", date);
	putf(o, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", p->reporting_mta);
	clean(value, d->env->sender, d->global);
	putf(o, "To: <%s>\r\n", value);
	putf(o, "Subject: %s\r\n", d->text->subject);
	putf(o, "Message-ID: <%s.%lld@%s>\r\n", d->env->qid, p->now, p->reporting_mta);
	/* RFC 3834 §5: keeps auto-responders from answering the report. */
	puts_(o, "Auto-Submitted: auto-replied\r\n");
	puts_(o, "MIME-Version: 1.0\r\n");
	putf(o, "Content-Type: multipart/report; report-type=%sdelivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n", d->global ? "global-" : "", d->boundary);
	if (d->global || has_8bit(d->orig.text.data ? d->orig.text.data : "", d->orig.text.len))
		puts_(o, "Content-Transfer-Encoding: 8bit\r\n");
	puts_(o, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");
}

static void
put_rcpt_text(struct out *o, const struct dsn *d, const struct envelope_rcpt *r)
{
	char addr[VALUE_MAX + 1], host[VALUE_MAX + 1], diag[VALUE_MAX + 1], first[VALUE_MAX + 8];
	char line[2 * VALUE_MAX + 64];

	clean(addr, r->addr, d->global);
	(void)str_fmt(first, sizeof(first), "<%s>: ", addr);
	if (r->diag != NULL && r->diag[0] != '\0') {
		clean(diag, r->diag, d->global);
		if (r->remote_mta != NULL && r->remote_mta[0] != '\0' && diag_is_smtp(r->diag)) {
			clean(host, r->remote_mta, 0);
			(void)str_fmt(line, sizeof(line), "host %s said: %s", host, diag);
		} else
			str_lcpy(line, diag, sizeof(line));
	} else
		(void)str_fmt(line, sizeof(line), "%s (status %s)", d->text->no_diag,
		    envelope_status_is_valid(r->status) ? r->status : d->text->default_status);
	put_wrapped(o, first, "    ", line);
}

/* Part 1: the human-readable explanation (RFC 6522 §3). */
static void
put_part_text(struct out *o, const struct dsn *d)
{
	const struct bounce_params *p = d->params;
	const struct envelope *env = d->env;
	char date[64], para[512];

	putf(o, "--%s\r\n", d->boundary);
	puts_(o, "Content-Description: Notification\r\n");
	putf(o, "Content-Type: text/plain; charset=%s\r\n", d->global ? "utf-8" : "us-ascii");
	if (d->global)
		puts_(o, "Content-Transfer-Encoding: 8bit\r\n");
	putf(o, "\r\nThis is the mail delivery system at %s.\r\n\r\n", p->reporting_mta);
	switch (d->kind) {
	case BOUNCE_FAILURE:
		put_wrapped(o, "", "", "Your message could not be delivered to one or more of its "
		    "recipients. The mail system has given up on them and will not try again. "
		    "Each recipient and the reason are listed below.");
		break;
	case BOUNCE_DELAY:
		bounce_format_date(p->retry_until ? p->retry_until :
		    env->arrival + BOUNCE_LIFETIME_DEFAULT, date, sizeof(date));
		(void)str_fmt(para, sizeof(para), "Your message has not yet been delivered to the "
		    "recipients listed below. The mail system will keep trying until %s and will "
		    "tell you if it gives up. You do not need to send the message again.", date);
		put_wrapped(o, "", "", para);
		break;
	case BOUNCE_SUCCESS:
		put_wrapped(o, "", "", "Your message was delivered to the recipients listed below. "
		    "It was handed to the next mail server, which may or may not send a report of "
		    "its own.");
		break;
	}
	puts_(o, "\r\n");
	for (size_t i = 0; i < env->n_rcpts; i++)
		if (bounce_is_owed(env, i, d->kind))
			put_rcpt_text(o, d, &env->rcpts[i]);
	puts_(o, "\r\n");
	if (d->orig.why[0] != '\0') {
		put_wrapped(o, "", "", d->orig.why);
		puts_(o, "\r\n");
	}
	(void)str_fmt(para, sizeof(para), "If you need help, forward this report to the "
	    "postmaster of %s, postmaster@%s.", p->reporting_mta, p->reporting_mta);
	put_wrapped(o, "", "", para);
	puts_(o, "\r\n");
}


static void
put_rcpt_status(struct out *o, const struct dsn *d, const struct envelope_rcpt *r)
{
	char v[VALUE_MAX + 32], date[64];

	puts_(o, "\r\n");
	/* RFC 3464 §2.3.1: "type;address"; smtpd stores ORCPT already xtext-decoded. */
	if (r->orcpt != NULL && r->orcpt[0] != ';' && strchr(r->orcpt, ';') != NULL)
		put_field(o, "Original-Recipient", r->orcpt, d->global);
	/* RFC 6533 §3: a non-ASCII address is of type utf-8. */
	(void)str_fmt(v, sizeof(v), "%s; %s", str_has_8bit(r->addr) ? "utf-8" : "rfc822", r->addr);
	put_field(o, "Final-Recipient", v, d->global);
	putf(o, "Action: %s\r\n", d->text->action);
	putf(o, "Status: %s\r\n", envelope_status_is_valid(r->status) ? r->status :
	    d->text->default_status);
	if (r->remote_mta != NULL && r->remote_mta[0] != '\0') {
		(void)str_fmt(v, sizeof(v), "dns; %s", r->remote_mta);
		put_field(o, "Remote-MTA", v, 0);
	}
	if (r->diag != NULL && r->diag[0] != '\0') {
		(void)str_fmt(v, sizeof(v), "%s; %s", diag_is_smtp(r->diag) ? "smtp" : "X-MailGuard",
		    r->diag);
		put_field(o, "Diagnostic-Code", v, d->global);
	}
	if (r->done_time > 0) {
		bounce_format_date(r->done_time, date, sizeof(date));
		putf(o, "Last-Attempt-Date: %s\r\n", date);
	}
	if (d->kind == BOUNCE_DELAY) {
		bounce_format_date(d->params->retry_until ? d->params->retry_until :
		    d->env->arrival + BOUNCE_LIFETIME_DEFAULT, date, sizeof(date));
		putf(o, "Will-Retry-Until: %s\r\n", date);
	}
}

/* Part 2: the machine-readable report (RFC 3464 §2). */
static void
put_part_status(struct out *o, const struct dsn *d)
{
	const struct envelope *env = d->env;
	char date[64];

	putf(o, "--%s\r\n", d->boundary);
	puts_(o, "Content-Description: Delivery report\r\n");
	putf(o, "Content-Type: message/%sdelivery-status\r\n", d->global ? "global-" : "");
	if (d->global)
		puts_(o, "Content-Transfer-Encoding: 8bit\r\n");
	putf(o, "\r\nReporting-MTA: dns; %s\r\n", d->params->reporting_mta);
	putf(o, "X-MailGuard-Queue-ID: %s\r\n", env->qid);
	/* RFC 3464 §2.2.1; smtpd stores ENVID already xtext-decoded. */
	if (env->envid != NULL && env->envid[0] != '\0')
		put_field(o, "Original-Envelope-Id", env->envid, d->global);
	bounce_format_date(env->arrival, date, sizeof(date));
	putf(o, "Arrival-Date: %s\r\n", date);
	for (size_t i = 0; i < env->n_rcpts; i++)
		if (bounce_is_owed(env, i, d->kind))
			put_rcpt_status(o, d, &env->rcpts[i]);
	puts_(o, "\r\n");
}

/* Part 3: the message or its header section (RFC 6522 §3; RFC 6533 §6.3-6.4 when global). */
static void
put_part_original(struct out *o, const struct dsn *d)
{
	const struct buf *t = &d->orig.text;
	int full = d->orig.mode == RETURN_FULL;

	putf(o, "--%s\r\n", d->boundary);
	putf(o, "Content-Description: %s%s\r\n", d->text->part3, full ? "" : " Headers");
	if (full)
		putf(o, "Content-Type: message/%s\r\n", d->global ? "global" : "rfc822");
	else if (d->global)
		puts_(o, "Content-Type: message/global-headers\r\n");
	else
		puts_(o, "Content-Type: text/rfc822-headers\r\n");
	if (has_8bit(t->data ? t->data : "", t->len))
		puts_(o, "Content-Transfer-Encoding: 8bit\r\n");
	puts_(o, "\r\n");
	put(o, t->data ? t->data : "", t->len);
	puts_(o, "\r\n");
}

/* Derived from qid and now, so equal inputs give equal reports; "=_" cannot occur in base64 or
 * quoted-printable text, and the counter moves on in the unlikely case the message holds it. */
static void
choose_boundary(struct dsn *d)
{
	const struct buf *t = &d->orig.text;

	for (unsigned k = 0;; k++) {
		if (k == 0)
			(void)str_fmt(d->boundary, sizeof(d->boundary), "=_mgdsn_%s_%llx",
			    d->env->qid, (unsigned long long)d->params->now);
		else
			(void)str_fmt(d->boundary, sizeof(d->boundary), "=_mgdsn_%s_%llx_%u",
			    d->env->qid, (unsigned long long)d->params->now, k);
		if (t->len == 0 || memmem(t->data, t->len, d->boundary, strlen(d->boundary)) == NULL)
			return;
	}
}

int
bounce_build_params(const struct envelope *env, int body_fd, enum bounce_kind kind,
    const struct bounce_params *params, struct buf *out, size_t *n_rcpts_r)
{
	struct dsn d;
	struct out o = { out, 0 };
	size_t start = out->len, n = 0;
	int saved;

	*n_rcpts_r = 0;
	if ((unsigned)kind >= sizeof(kind_texts) / sizeof(kind_texts[0])) {
		errno = EINVAL;
		return -1;
	}
	memset(&d, 0, sizeof(d));
	d.env = env;
	d.kind = kind;
	d.text = &kind_texts[kind];
	d.params = params;
	d.global = env->smtputf8 || str_has_8bit(env->sender);
	for (size_t i = 0; i < env->n_rcpts; i++)
		if (bounce_is_owed(env, i, kind)) {
			n++;
			d.global |= str_has_8bit(env->rcpts[i].addr) ||
			    str_has_8bit(env->rcpts[i].orcpt);
		}
	if (n == 0)
		return 0;
	if (!host_is_valid(params->reporting_mta)) {
		errno = EINVAL;
		return -1;
	}
	buf_init(&d.orig.text, (size_t)-1 / 2);
	if (load_original(env, body_fd, kind, params->return_limit < RETURN_LIMIT_CAP ?
	    params->return_limit : RETURN_LIMIT_CAP, &d.orig) < 0) {
		saved = errno;
		buf_free(&d.orig.text);
		errno = saved;
		return -1;
	}
	choose_boundary(&d);
	put_headers(&o, &d);
	put_part_text(&o, &d);
	put_part_status(&o, &d);
	if (d.orig.mode != RETURN_NONE)
		put_part_original(&o, &d);
	putf(&o, "--%s--\r\n", d.boundary);
	buf_free(&d.orig.text);
	if (o.failed) {
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
		errno = EMSGSIZE;
		return -1;
	}
	*n_rcpts_r = n;
	return 0;
}

int
bounce_build(const struct envelope *env, int body_fd, enum bounce_kind kind,
    const char *reporting_mta, long long now, size_t return_limit, struct buf *out,
    size_t *n_rcpts_r)
{
	struct bounce_params p = { reporting_mta, now, 0, return_limit };

	return bounce_build_params(env, body_fd, kind, &p, out, n_rcpts_r);
}

void
bounce_envelope(const struct envelope *orig, const char *qid, long long now, struct slice dsn,
    struct envelope *bounce_r)
{
	str_lcpy(bounce_r->qid, qid, sizeof(bounce_r->qid));
	bounce_r->direction = ENV_OUTBOUND;
	bounce_r->sender = xstrdup("");
	bounce_r->arrival = now;
	bounce_r->size = (long long)dsn.len;
	/* RFC 6152: a report holding 8-bit bytes (returned message, UTF-8 text) needs 8BITMIME. */
	bounce_r->body = has_8bit(dsn.p, dsn.len) ? ENV_BODY_8BITMIME : ENV_BODY_7BIT;
	bounce_r->smtputf8 = orig->smtputf8 || str_has_8bit(orig->sender);
	bounce_r->ret = ENV_RET_UNSPEC;
	bounce_r->is_bounce = 1;
	envelope_add_rcpt(bounce_r, orig->sender != NULL ? orig->sender : "", NULL, 0);
}
