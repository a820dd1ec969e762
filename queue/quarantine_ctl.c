/* quarantine_ctl.c: `mailguardctl queue quarantine ...` (issue G), served by the queue role:
 *   list|search [domain= rcpt= from= subject= min= max= since= until= limit= offset=] [--json]
 *   show QID [--json]            envelope, verdict, decoded headers, text preview (64 KiB cap)
 *   release QID[,QID...]... [by=NAME]   back to delivery (logged with released-by)
 *   delete QID[,QID...]... [by=NAME]
 *   confirm-spam QID[,QID...]... [by=NAME]   learned as spam, then deleted (quarantine_learn.c)
 *   clock SECONDS|real           test_mode only: the retention sweep's "now", then a sweep
 *   digest-now                   a digest run now (queue/digest.c), synchronously
 * Queue role, main thread. Words come from the operator or the admin role through the
 * supervisor: queue ids are checked (16 lower-case hex) before any lookup, values bounded and
 * percent-decoded (quarantine_query.c); message text is shown only after MIME decoding and
 * cleaning (never raw HTML: HTML parts are reduced to text by common/mime.c). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/mime.h"
#include "common/role.h"
#include "config/config.h"
#include "lib/log.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"
#include "queue/digest.h"
#include "queue/quarantine.h"
#include "queue/quarantine_learn.h"
#include "queue/queue_int.h"

#define QUAR_SHOW_MAX (64 * 1024)		/* show output, headers and preview included */
#define QUAR_SHOW_READ_MAX (2 * 1024 * 1024)	/* message octets read for a preview */
#define QUAR_HEADER_SHOW_MAX 1000		/* octets of one header field shown */
#define QUAR_HEADERS_SHOW_MAX 100

static int
qid_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == QUEUE_ID_LEN;
}

static struct qmsg *
find_quarantined(const char *qid, struct buf *out)
{
	struct qmsg *m = qid_ok(qid) ? queue_find(qid) : NULL;

	if (m == NULL || !m->quarantined || m->receiving) {
		buf_printf(out, "error: no message %s in the quarantine\n", qid_ok(qid) ? qid : "?");
		return NULL;
	}
	return m;
}

static int
cmd_list(int argc, char **argv, struct buf *out)
{
	struct quar_query qq;
	struct quar_rec **recs, **page;
	size_t n, np, total;
	const char *err;

	if (quar_query_parse(argc, argv, &qq, &err) < 0) {
		buf_printf(out, "error: %s\n", err);
		return 2;
	}
	recs = quarantine_records(&n);
	total = quar_search(recs, n, &qq, &page, &np);
	(void)quar_format_list(page, np, total, &qq, out);
	xfree(page);
	return 0;
}

/* Reads at most QUAR_SHOW_READ_MAX octets of m's message; -1 when unreadable. */
static int
read_message(struct qmsg *m, struct buf *msg)
{
	int fd = queue_body_fd(m);
	off_t off = 0;

	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t r;

		if (buf_reserve(msg, 65536) < 0)
			break;	/* at the cap: the preview is of the beginning */
		if ((r = pread(fd, msg->data + msg->len, msg->cap - msg->len - 1, off)) < 0) {
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		msg->len += (size_t)r;
		msg->data[msg->len] = '\0';
		off += r;
	}
	close(fd);
	return 0;
}

/* Appends text cleaned line by line (quar_clean turns a line end into '?', so split first). */
static void
put_lines(struct buf *out, const char *text, size_t len, const char *indent, size_t budget)
{
	size_t start = out->len;

	while (len > 0 && out->len - start < budget) {
		const char *nl = memchr(text, '\n', len);
		size_t l = nl ? (size_t)(nl - text) : len;

		buf_append_str(out, indent);
		(void)quar_clean(text, l, budget - (out->len - start), out);
		buf_append_char(out, '\n');
		if (nl == NULL)
			break;
		len -= l + 1;
		text = nl + 1;
	}
}

/* A header field value unfolded (RFC 5322 §2.2.3: CRLF before white space removed) and
 * cleaned, at most max octets. */
static void
put_header_value(const char *v, size_t max, struct buf *out)
{
	char tmp[QUAR_HEADER_SHOW_MAX + 1];
	size_t n = 0;

	for (; *v && n < max && n < sizeof(tmp) - 1; v++)
		if (*v != '\r' && *v != '\n')
			tmp[n++] = *v;
	(void)quar_clean(tmp, n, max, out);
}

static void
show_text(const struct quar_rec *r, const struct envelope *env, const struct mime_msg *mm,
    struct buf *out)
{
	char t[32];
	time_t tt = (time_t)r->arrival;
	struct tm tm;
	const struct mime_part *p = &mm->parts[0];

	gmtime_r(&tt, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
	buf_printf(out, "%s quarantine arrival=%s size=%lld score=%.2f\nfrom=<%s>\n", r->qid, t,
	    r->size, r->score, r->sender);
	for (size_t i = 0; i < r->n_rcpts; i++)
		buf_printf(out, "to=<%s>\n", r->rcpts[i]);
	if (r->n_rcpts_total > r->n_rcpts)
		buf_printf(out, "(%zu more recipients)\n", r->n_rcpts_total - r->n_rcpts);
	buf_append_str(out, "client=");
	(void)quar_clean(env->client_addr ? env->client_addr : "", env->client_addr ?
	    strlen(env->client_addr) : 0, 255, out);
	buf_append_str(out, " helo=");
	(void)quar_clean(env->helo ? env->helo : "", env->helo ? strlen(env->helo) : 0, 255, out);
	buf_printf(out, "\nsymbols=%s\n-- headers:\n", r->symbols);
	for (size_t i = 0; i < p->n_headers && i < QUAR_HEADERS_SHOW_MAX; i++) {
		(void)quar_clean(p->headers[i].name, strlen(p->headers[i].name), 100, out);
		buf_append_str(out, ": ");
		put_header_value(p->headers[i].value, QUAR_HEADER_SHOW_MAX, out);
		buf_append_char(out, '\n');
		if (out->len > QUAR_SHOW_MAX / 2)
			break;
	}
	buf_append_str(out, "-- text preview:\n");
	if (out->len < QUAR_SHOW_MAX)
		put_lines(out, mm->text.data ? mm->text.data : "", mm->text.len, "| ",
		    QUAR_SHOW_MAX - out->len);
}

static void
show_json(const struct quar_rec *r, const struct envelope *env, const struct mime_msg *mm,
    struct buf *out)
{
	const struct mime_part *p = &mm->parts[0];
	struct buf tmp;

	buf_init(&tmp, QUAR_SHOW_MAX);
	buf_append_str(out, "{\"message\":");
	(void)quar_format_json(r, out);
	buf_append_str(out, ",\"client_addr\":");
	(void)quar_clean(env->client_addr ? env->client_addr : "", env->client_addr ?
	    strlen(env->client_addr) : 0, 255, &tmp);
	(void)quar_json_str(out, tmp.data ? tmp.data : "");
	buf_reset(&tmp);
	buf_append_str(out, ",\"helo\":");
	(void)quar_clean(env->helo ? env->helo : "", env->helo ? strlen(env->helo) : 0, 255, &tmp);
	(void)quar_json_str(out, tmp.data ? tmp.data : "");
	buf_append_str(out, ",\"headers\":[");
	for (size_t i = 0; i < p->n_headers && i < QUAR_HEADERS_SHOW_MAX &&
	    out->len < QUAR_SHOW_MAX / 2; i++) {
		buf_append_str(out, i ? ",[" : "[");
		buf_reset(&tmp);
		(void)quar_clean(p->headers[i].name, strlen(p->headers[i].name), 100, &tmp);
		(void)quar_json_str(out, tmp.data ? tmp.data : "");
		buf_append_char(out, ',');
		buf_reset(&tmp);
		put_header_value(p->headers[i].value, QUAR_HEADER_SHOW_MAX, &tmp);
		(void)quar_json_str(out, tmp.data ? tmp.data : "");
		buf_append_char(out, ']');
	}
	buf_append_str(out, "],\"preview\":");
	buf_reset(&tmp);
	put_lines(&tmp, mm->text.data ? mm->text.data : "", mm->text.len, "",
	    out->len < QUAR_SHOW_MAX ? QUAR_SHOW_MAX - out->len : 0);
	(void)quar_json_str(out, tmp.data ? tmp.data : "");
	buf_append_str(out, "}\n");
	buf_free(&tmp);
}

static int
cmd_show(int argc, char **argv, struct buf *out)
{
	struct qmsg *m;
	struct quar_rec *r;
	struct envelope env;
	struct mime_msg *mm;
	struct buf msg;
	const char *err;
	int json = argc == 2 && (strcmp(argv[1], "--json") == 0 || strcmp(argv[1], "json") == 0);

	if (argc < 1 || argc > 2 || (argc == 2 && !json)) {
		buf_printf(out, "error: usage: queue quarantine show QID [--json]\n");
		return 2;
	}
	if ((m = find_quarantined(argv[0], out)) == NULL)
		return 1;
	if ((r = quarantine_lookup(m->qid)) == NULL) {
		buf_printf(out, "error: %s is not indexed (see the log)\n", m->qid);
		return 1;
	}
	envelope_init(&env);
	if (spool_read_env(q.spool, m->area, m->qid, &env, &err) < 0 && m->env == NULL) {
		buf_printf(out, "error: envelope unreadable: %s\n", err);
		return 1;
	}
	buf_init(&msg, QUAR_SHOW_READ_MAX);
	if (read_message(m, &msg) < 0) {
		buf_printf(out, "error: message unreadable\n");
		buf_free(&msg);
		envelope_clear(&env);
		return 1;
	}
	mm = mime_parse(msg.data ? msg.data : "", msg.len, NULL);
	if (json)
		show_json(r, env.qid[0] ? &env : m->env, mm, out);
	else
		show_text(r, env.qid[0] ? &env : m->env, mm, out);
	mime_msg_free(&mm);
	buf_free(&msg);
	envelope_clear(&env);
	return 0;
}

enum quar_act { ACT_DELETE = 0, ACT_RELEASE = 1, ACT_CONFIRM_SPAM = 2 };
static const char *const act_names[] = { "delete", "release", "confirm-spam" };

/* release / delete / confirm-spam: queue ids as words or comma lists, and by=NAME (who, for
 * the log). */
static int
cmd_act(int argc, char **argv, struct buf *out, enum quar_act act)
{
	char by[401] = "operator", ids[QUAR_ARG_MAX * 16 + 1];
	char *list[QUAR_IDS_MAX];
	int n = 0, status = 0;

	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "by=", 3) == 0) {
			if (quar_arg_decode(argv[i] + 3, by, sizeof(by)) < 0 || by[0] == '\0') {
				buf_printf(out, "error: by= takes a name of 1 to 400 octets\n");
				return 2;
			}
			continue;
		}
		if (strlen(argv[i]) >= sizeof(ids)) {
			buf_printf(out, "error: queue id list too long\n");
			return 2;
		}
		memcpy(ids, argv[i], strlen(argv[i]) + 1);
		for (char *s = ids, *tok; (tok = strsep(&s, ",")) != NULL;) {
			if (!qid_ok(tok) || n >= QUAR_IDS_MAX) {
				buf_printf(out, "error: not a queue id (or over %d): %.32s\n",
				    QUAR_IDS_MAX, qid_ok(tok) ? tok : "?");
				for (int k = 0; k < n; k++)
					xfree(list[k]);
				return 2;
			}
			list[n++] = xstrdup(tok);
		}
	}
	if (n == 0) {
		buf_printf(out, "error: usage: queue quarantine %s QID[,QID...]... [by=NAME]\n",
		    act_names[act]);
		return 2;
	}
	for (int k = 0; k < n; k++) {
		struct qmsg *m = find_quarantined(list[k], out);
		const char *err;

		if (m == NULL) {
			status = 1;
		} else if (act == ACT_CONFIRM_SPAM) {
			buf_printf(out, "%s confirmed spam: deleted%s\n", list[k],
			    quarantine_confirm_spam(m, by) == 0 ? ", queued to be learned as spam" :
			    "; not learned (see the log)");
		} else if (act == ACT_DELETE) {
			quarantine_delete(m, by);
			buf_printf(out, "%s deleted\n", list[k]);
		} else if (quarantine_release(m, by, &err) < 0) {
			buf_printf(out, "error: %s not released: %s\n", list[k], err);
			status = 1;
		} else {
			buf_printf(out, "%s released\n", list[k]);
		}
		xfree(list[k]);
	}
	return status;
}

static int
cmd_clock(int argc, char **argv, struct buf *out)
{
	long long t = 0;
	size_t n;
	const char *ignored;

	if (!role.cfg->test_mode) {
		buf_printf(out, "error: quarantine clock is a test-only command (needs test_mode = yes)\n");
		return 2;
	}
	if (argc != 1 || (strcmp(argv[0], "real") != 0 &&
	    strnum_ll(argv[0], 1, ENVELOPE_TIME_MAX, &t, &ignored) < 0)) {
		buf_printf(out, "error: usage: queue quarantine clock SECONDS|real\n");
		return 2;
	}
	quarantine_set_clock(t);
	n = quarantine_sweep();
	buf_printf(out, "clock %lld; %zu expired message(s) deleted\n", quarantine_now(), n);
	return 0;
}

int
quarantine_ctl(int argc, char **argv, struct buf *out)
{
	if (argc >= 1 && (strcmp(argv[0], "list") == 0 || strcmp(argv[0], "search") == 0))
		return cmd_list(argc - 1, argv + 1, out);
	if (argc >= 1 && strcmp(argv[0], "show") == 0)
		return cmd_show(argc - 1, argv + 1, out);
	if (argc >= 1 && strcmp(argv[0], "release") == 0)
		return cmd_act(argc - 1, argv + 1, out, ACT_RELEASE);
	if (argc >= 1 && strcmp(argv[0], "delete") == 0)
		return cmd_act(argc - 1, argv + 1, out, ACT_DELETE);
	if (argc >= 1 && strcmp(argv[0], "confirm-spam") == 0)
		return cmd_act(argc - 1, argv + 1, out, ACT_CONFIRM_SPAM);
	if (argc >= 1 && strcmp(argv[0], "clock") == 0)
		return cmd_clock(argc - 1, argv + 1, out);
	if (argc >= 1 && strcmp(argv[0], "digest-now") == 0)
		return digest_ctl_now(argc - 1, argv + 1, out);	/* digest.c */
	buf_printf(out, "error: usage: queue quarantine list [domain=D rcpt=ADDR from=TEXT "
	    "subject=TEXT min=S max=S since=T until=T limit=N offset=N] [--json] | show QID [--json] "
	    "| release QID... [by=NAME] | delete QID... [by=NAME] | confirm-spam QID... [by=NAME] "
	    "| digest-now\n");
	return 2;
}
