/* content.c: the content layers' entry point and the structural layer (issue D, see
 * filter/content.h). content_check runs on a filter pool thread: it parses the message once
 * (common/mime.h, hard limits there), adds the structural symbols (MIME limits and anomalies,
 * HTML-only, image-only or image-heavy mail, hidden HTML text, a low HTML text ratio,
 * missing/invalid/far-off Date, missing/malformed Message-ID), then runs the URL, attachment,
 * Bayes and neural layers in that order. The message is hostile; this file only reads the
 * parsed structure. content_init/reload/fini start, refresh and stop the role-wide resources
 * of the other layers on the loop thread. */
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "filter/content.h"
#include "filter/filter_int.h"
#include "lib/log.h"

#define DATE_FUTURE_MAX (24LL * 3600)	/* a Date more than a day after its reference time */
#define DATE_PAST_MAX (4LL * 86400)	/* ... or more than four days before it */
#define HIDDEN_MIN 32			/* octets of hidden HTML text that count */
#define HIDDEN_MANY 256			/* ... and that count heavily */
#define IMAGE_TEXT_MIN 128		/* less visible text than this beside images: image mail */
#define HTML_RATIO_SRC_MIN 4096		/* HTML sources this large ... */
#define HTML_RATIO_PERMILLE 20		/* ... with under 2 % of it visible text */
#define RCVD_MAX 8			/* Received fields examined, newest first */
#define RCVD_SKEW_MAX (3LL * 3600)	/* an older hop stamped this much after a newer one */

int
content_init(struct ev_loop *loop, const struct mg_config *cfg, struct mg_kvdb *kv,
    const char **error_r)
{
	if (content_urls_init(loop, cfg, error_r) < 0)
		return -1;
	if (content_learn_init(loop, cfg, kv, error_r) < 0) {
		content_urls_fini();
		return -1;
	}
	return 0;
}

void
content_reload(const struct mg_config *cfg)
{
	content_urls_reload(cfg);
	content_learn_reload(cfg);
}

void
content_fini(void)
{
	content_learn_fini();
	content_urls_fini();
}

static void
add(struct content_ctx *c, const char *sym)
{
	filter_score_add(c->score, c->cfg, sym);
}

/* MIME limits and anomalies from the parser's flags. */
static void
check_flags(struct content_ctx *c, const struct mime_msg *m)
{
	if (m->flags & (MIME_F_LIMIT_PARTS | MIME_F_LIMIT_DEPTH | MIME_F_LIMIT_HEADERS |
	    MIME_F_LIMIT_SIZE))
		add(c, "MIME_LIMIT");
	if (m->flags & MIME_F_BAD_BOUNDARY)
		add(c, "MIME_BAD_BOUNDARY");
	if (m->flags & MIME_F_BAD_ENCODING)
		add(c, "MIME_BAD_ENCODING");
	if (m->flags & MIME_F_BAD_CHARSET)
		add(c, "MIME_BAD_CHARSET");
	if (m->flags & MIME_F_BAD_HEADER)
		add(c, "MIME_BAD_HEADER");
	if (m->flags & MIME_F_8BIT_HEADER)
		add(c, "MIME_8BIT_HEADER");
	/* RFC 2045 §4: MIME structure without MIME-Version */
	if (m->n_parts > 1 && mime_header_get(m, 0, "mime-version") == NULL)
		add(c, "MIME_NO_VERSION");
}

/* Visible text octets other than whitespace. */
static size_t
text_weight(const struct mime_msg *m)
{
	size_t i, n = 0;

	for (i = 0; i < m->text.len; i++)
		if (m->text.data[i] != ' ' && m->text.data[i] != '\n' && m->text.data[i] != '\t' &&
		    m->text.data[i] != '\r')
			n++;
	return n;
}

/* HTML-only, image-only / image-heavy, hidden text, HTML text ratio. */
static void
check_body(struct content_ctx *c, const struct mime_msg *m)
{
	size_t visible = text_weight(m), images = m->images + m->html_images;

	if (m->html_parts > 0 && m->text_parts == 0)
		add(c, "MIME_HTML_ONLY");
	if (images > 0 && visible < IMAGE_TEXT_MIN)
		add(c, "MIME_IMAGE_ONLY");
	else if (m->html_images > 0 && m->html_text_len < IMAGE_TEXT_MIN * 4 * m->html_images)
		add(c, "HTML_IMAGE_HEAVY");
	if (m->html_hidden_len >= HIDDEN_MANY && m->html_hidden_len * 4 >= m->html_text_len)
		add(c, "HTML_HIDDEN_TEXT_MANY");
	else if (m->html_hidden_len >= HIDDEN_MIN)
		add(c, "HTML_HIDDEN_TEXT");
	if (m->html_src_len >= HTML_RATIO_SRC_MIN &&
	    m->html_text_len * 1000 < m->html_src_len * HTML_RATIO_PERMILLE)
		add(c, "HTML_TEXT_RATIO_LOW");
	if (m->n_parts == 1 && visible == 0 && m->attachments == 0)
		add(c, "MIME_EMPTY_BODY");
}

/* The reference time of the Date checks: the newest Received field's date (ours when the
 * message came in over SMTP, RFC 5321 §4.4), else now. Keeps stored corpora meaningful. */
static long long
reference_time(const struct mime_msg *m)
{
	const char *v = mime_header_get(m, 0, "received"), *semi;
	long long t;

	if (v != NULL && (semi = strrchr(v, ';')) != NULL &&
	    mime_date_parse(semi + 1, strlen(semi + 1), &t) == 0)
		return t;
	return (long long)time(NULL);
}

static int
msgid_valid(const char *v)
{
	const char *at, *end;
	size_t n = strlen(v);

	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	/* RFC 5322 §3.6.4: "<" id-left "@" id-right ">", no whitespace inside */
	if (n < 5 || v[0] != '<' || v[n - 1] != '>')
		return 0;
	end = v + n - 1;
	at = memchr(v, '@', n);
	if (at == NULL || at == v + 1 || at + 1 >= end || memchr(at + 1, '@', (size_t)(end - at - 1)))
		return 0;
	for (const char *p = v + 1; p < end; p++)
		if (*p == ' ' || *p == '\t' || *p == '<' || *p == '>')
			return 0;
	return 1;
}

static void
check_headers(struct content_ctx *c, const struct mime_msg *m)
{
	const char *v;
	long long t, ref;

	if ((v = mime_header_get(m, 0, "date")) == NULL)
		add(c, "DATE_MISSING");
	else if (mime_date_parse(v, strlen(v), &t) < 0)
		add(c, "DATE_INVALID");
	else {
		ref = reference_time(m);
		if (t > ref + DATE_FUTURE_MAX)
			add(c, "DATE_IN_FUTURE");
		else if (t < ref - DATE_PAST_MAX)
			add(c, "DATE_IN_PAST");
	}
	if ((v = mime_header_get(m, 0, "message-id")) == NULL)
		add(c, "MSGID_MISSING");
	else if (!msgid_valid(v))
		add(c, "MSGID_INVALID");
}

/* "from" clause of a Received field: is its first word a dotted IPv4 address without the
 * brackets of an address literal (RFC 5321 §4.1.3, §4.4)? Spamware writes such fields. */
static int
rcvd_helo_bare_ip(const char *v)
{
	size_t dots = 0, digits = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	if (strncasecmp(v, "from", 4) != 0 || (v[4] != ' ' && v[4] != '\t'))
		return 0;
	for (v += 4; *v == ' ' || *v == '\t'; v++)
		;
	for (; *v != '\0' && *v != ' ' && *v != '\t' && *v != '('; v++) {
		if (*v == '.') {
			if (digits == 0)
				return 0;
			dots++;
			digits = 0;
		} else if (*v >= '0' && *v <= '9') {
			if (++digits > 3)
				return 0;
		} else
			return 0;
	}
	return dots == 3 && digits > 0;
}

/* Received anomalies over the first RCVD_MAX fields (RFC 5321 §4.4: every relay prepends one,
 * ending "; date-time"): a bare-IP HELO, a missing or unparseable date, a relay that recorded
 * no reverse DNS name for its client ("unknown [" from Postfix and our own smtpd, which is
 * skipped: it never looks the name up), sendmail's "may be forged", and an older hop stamped
 * well after a newer one (forged chains; honest relays' clocks differ by minutes). */
static void
check_received(struct content_ctx *c, const struct mime_msg *m)
{
	const struct mime_part *top = m->parts;
	int bare = 0, bad_date = 0, disorder = 0, no_rdns = 0, forged = 0;
	long long newer = 0, t;
	size_t n = 0;

	if (m->n_parts == 0)
		return;
	for (size_t i = 0; i < top->n_headers && n < RCVD_MAX; i++) {
		const char *v = top->headers[i].value, *semi;

		if (top->headers[i].name == NULL || v == NULL ||
		    strcasecmp(top->headers[i].name, "received") != 0)
			continue;
		n++;
		bare |= rcvd_helo_bare_ip(v);
		if (strstr(v, "(unknown [") != NULL && strstr(v, "(MailGuard)") == NULL)
			no_rdns = 1;
		if (strstr(v, "may be forged") != NULL)
			forged = 1;
		if ((semi = strrchr(v, ';')) == NULL ||
		    mime_date_parse(semi + 1, strlen(semi + 1), &t) < 0) {
			bad_date = 1;
			continue;
		}
		if (newer != 0 && t > newer + RCVD_SKEW_MAX)
			disorder = 1;
		newer = t;
	}
	if (bare)
		add(c, "RCVD_HELO_BARE_IP");
	if (bad_date)
		add(c, "RCVD_DATE_INVALID");
	if (disorder)
		add(c, "RCVD_DATE_DISORDER");
	if (no_rdns)
		add(c, "RCVD_NO_RDNS");
	if (forged)
		add(c, "RCVD_MAY_BE_FORGED");
}

/* The role's content CPU totals (every worker adds to them): thread CPU time of content_check,
 * parse and every content layer included. Logged as running totals so that a reader can take
 * the difference between two lines (bench/protected.py). */
static _Atomic unsigned long long cpu_ns_total, cpu_msgs_total;

static unsigned long long
thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static void
account_cpu(unsigned long long t0)
{
	unsigned long long t1 = thread_cpu_ns(), d = t1 > t0 ? t1 - t0 : 0, ns, n;

	ns = atomic_fetch_add(&cpu_ns_total, d) + d;
	n = atomic_fetch_add(&cpu_msgs_total, 1) + 1;
	if (n % CONTENT_CPU_LOG_EVERY == 0)
		log_info("filter: content CPU: messages=%llu cpu_us=%llu (%.3f ms per message so far)",
		    n, ns / 1000, (double)ns / 1e6 / (double)n);
}

void
content_check(struct content_ctx *c)
{
	struct mime_msg *m;
	unsigned long long t0 = c->account_cpu ? thread_cpu_ns() : 0;

	m = mime_parse(c->msg, c->len, NULL);
	c->mime = m;
	if (!(c->disabled & MG_LAYER_MIME)) {
		check_flags(c, m);
		check_body(c, m);
		check_headers(c, m);
		check_received(c, m);
	}
	content_urls_check(c);
	content_attach_check(c);
	content_bayes_check(c);
	content_neural_check(c);
	c->mime = NULL;
	mime_msg_free(&m);
	if (c->account_cpu)
		account_cpu(t0);
}
