/* test_bounce.c: unit tests for queue/bounce.c: who is owed a report (every state x NOTIFY x
 * kind), the null sender and is_bounce, RET and the size limit, line discipline (CRLF, <= 998),
 * folding, RFC 6533 "global" reports, read errors and the envelope of the report. */
#include <fcntl.h>	/* unit.h uses open() */

#include "unit.h"

#include <errno.h>
#include <sys/mman.h>

#include "common/envelope.h"
#include "lib/buf.h"
#include "lib/xalloc.h"
#include "queue/bounce.h"

#define NOW 1700000000LL
#define HOST "mx.example.net"

static const char message[] =
	"Received: from client.example.com\r\n"
	"\tby mx.example.net; Tue, 14 Nov 2023 19:26:40 +0000\r\n"
	"From: Alice <alice@example.com>\r\n"
	"Subject: Lunch\r\n"
	"\r\n"
	"Shall we meet at noon?\r\n"
	"BODY-MARKER\r\n";

/* A memory file holding the message; closed by the caller. */
static int
body_fd(const char *p, size_t n)
{
	int fd = memfd_create("body", 0);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n) {
		perror("memfd");
		exit(2);
	}
	return fd;
}

static void
make_env(struct envelope *env, size_t n_rcpts)
{
	char addr[64];

	envelope_init(env);
	memcpy(env->qid, "0123456789abcdef", QUEUE_ID_LEN + 1);
	env->sender = xstrdup("alice@example.com");
	env->arrival = NOW - 3600;
	env->size = (long long)sizeof(message) - 1;
	for (size_t i = 0; i < n_rcpts; i++) {
		snprintf(addr, sizeof(addr), "rcpt%zu@example.org", i);
		envelope_add_rcpt(env, addr, NULL, 0);
	}
}

static int
has(const struct buf *b, const char *needle)
{
	return b->data != NULL && strstr(b->data, needle) != NULL;
}

/* Every line CRLF-terminated, no bare CR or LF, none longer than 998 octets. */
static void
check_lines(const char *name, const struct buf *b)
{
	size_t col = 0, longest = 0;

	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '\r') {
			CHECK(i + 1 < b->len && b->data[i + 1] == '\n', "%s: bare CR at %zu", name, i);
			i++;
			col = 0;
			continue;
		}
		CHECK(b->data[i] != '\n', "%s: bare LF at %zu", name, i);
		if (++col > longest)
			longest = col;
	}
	CHECK(col == 0, "%s: last line not terminated", name);
	CHECK(longest <= BOUNCE_LINE_MAX, "%s: line of %zu octets", name, longest);
}

/* Builds with the message in a memory file; returns bounce_build's result. */
static int
build(const struct envelope *env, enum bounce_kind kind, size_t limit, struct buf *out,
    size_t *n_r)
{
	int fd = body_fd(message, sizeof(message) - 1), r;

	r = bounce_build(env, fd, kind, HOST, NOW, limit, out, n_r);
	close(fd);
	return r;
}

/* ---- who is owed what ---- */

static void
test_owed_table(void)
{
	static const struct {
		const char *name;
		enum envelope_rcpt_state state;
		unsigned notify;
		int warned;
		int failure, delay, success;	/* expected bounce_is_owed per kind */
	} cases[] = {
		{ "failed, notify default", ENV_RCPT_FAILED, 0, 0, 1, 0, 0 },
		{ "failed, FAILURE", ENV_RCPT_FAILED, ENV_NOTIFY_FAILURE, 0, 1, 0, 0 },
		{ "failed, SUCCESS only", ENV_RCPT_FAILED, ENV_NOTIFY_SUCCESS, 0, 0, 0, 0 },
		{ "failed, DELAY only", ENV_RCPT_FAILED, ENV_NOTIFY_DELAY, 0, 0, 0, 0 },
		{ "failed, SUCCESS,FAILURE", ENV_RCPT_FAILED, ENV_NOTIFY_SUCCESS | ENV_NOTIFY_FAILURE, 0,
		    1, 0, 0 },
		{ "failed, NEVER", ENV_RCPT_FAILED, ENV_NOTIFY_NEVER, 0, 0, 0, 0 },
		{ "failed, warned before", ENV_RCPT_FAILED, 0, 1, 1, 0, 0 },
		{ "pending, default", ENV_RCPT_PENDING, 0, 0, 0, 1, 0 },
		{ "pending, DELAY", ENV_RCPT_PENDING, ENV_NOTIFY_DELAY, 0, 0, 1, 0 },
		{ "pending, FAILURE only", ENV_RCPT_PENDING, ENV_NOTIFY_FAILURE, 0, 0, 0, 0 },
		{ "pending, FAILURE,DELAY", ENV_RCPT_PENDING, ENV_NOTIFY_FAILURE | ENV_NOTIFY_DELAY, 0,
		    0, 1, 0 },
		{ "pending, NEVER", ENV_RCPT_PENDING, ENV_NOTIFY_NEVER, 0, 0, 0, 0 },
		{ "pending, already warned", ENV_RCPT_PENDING, 0, 1, 0, 0, 0 },
		{ "pending, DELAY, already warned", ENV_RCPT_PENDING, ENV_NOTIFY_DELAY, 1, 0, 0, 0 },
		{ "delivered, default", ENV_RCPT_DELIVERED, 0, 0, 0, 0, 0 },
		{ "delivered, SUCCESS", ENV_RCPT_DELIVERED, ENV_NOTIFY_SUCCESS, 0, 0, 0, 1 },
		{ "delivered, all three", ENV_RCPT_DELIVERED, ENV_NOTIFY_SUCCESS | ENV_NOTIFY_FAILURE |
		    ENV_NOTIFY_DELAY, 0, 0, 0, 1 },
		{ "delivered, NEVER", ENV_RCPT_DELIVERED, ENV_NOTIFY_NEVER, 0, 0, 0, 0 },
		{ "bounced, default", ENV_RCPT_BOUNCED, 0, 0, 0, 0, 0 },
		{ "bounced, FAILURE", ENV_RCPT_BOUNCED, ENV_NOTIFY_FAILURE, 0, 0, 0, 0 },
		{ "bounced, SUCCESS", ENV_RCPT_BOUNCED, ENV_NOTIFY_SUCCESS, 0, 0, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct envelope env;
		int got[3];

		make_env(&env, 1);
		env.rcpts[0].state = cases[i].state;
		env.rcpts[0].notify = cases[i].notify;
		env.rcpts[0].delay_warned = cases[i].warned;
		got[0] = bounce_is_owed(&env, 0, BOUNCE_FAILURE);
		got[1] = bounce_is_owed(&env, 0, BOUNCE_DELAY);
		got[2] = bounce_is_owed(&env, 0, BOUNCE_SUCCESS);
		CHECK(got[0] == cases[i].failure && got[1] == cases[i].delay &&
		    got[2] == cases[i].success, "%s: got failure=%d delay=%d success=%d, "
		    "want %d %d %d", cases[i].name, got[0], got[1], got[2], cases[i].failure,
		    cases[i].delay, cases[i].success);
		/* Never for the null sender, never for a report. */
		xfree(env.sender);
		env.sender = xstrdup("");
		for (int k = 0; k < 3; k++)
			CHECK(!bounce_is_owed(&env, 0, (enum bounce_kind)k), "%s: owed to null sender",
			    cases[i].name);
		xfree(env.sender);
		env.sender = xstrdup("alice@example.com");
		env.is_bounce = 1;
		for (int k = 0; k < 3; k++)
			CHECK(!bounce_is_owed(&env, 0, (enum bounce_kind)k), "%s: owed for is_bounce",
			    cases[i].name);
		CHECK(!bounce_is_owed(&env, 1, BOUNCE_FAILURE), "index out of range owed");
		envelope_clear(&env);
	}
}

/* Nothing owed: returns 0 with n = 0 and leaves out alone. */
static void
test_nothing_owed(void)
{
	static const char *const names[] = { "null sender", "is_bounce", "notify never",
		"all delivered", "all bounced", "NULL sender" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct envelope env;
		struct buf out;
		size_t n = 99;

		make_env(&env, 2);
		env.rcpts[0].state = env.rcpts[1].state = ENV_RCPT_FAILED;
		switch (i) {
		case 0: xfree(env.sender); env.sender = xstrdup(""); break;
		case 1: env.is_bounce = 1; break;
		case 2: env.rcpts[0].notify = env.rcpts[1].notify = ENV_NOTIFY_NEVER; break;
		case 3: env.rcpts[0].state = env.rcpts[1].state = ENV_RCPT_DELIVERED; break;
		case 4: env.rcpts[0].state = env.rcpts[1].state = ENV_RCPT_BOUNCED; break;
		case 5: xfree(env.sender); env.sender = NULL; break;
		}
		buf_init(&out, 1 << 20);
		buf_append_str(&out, "keep");
		CHECK(build(&env, BOUNCE_FAILURE, 1 << 20, &out, &n) == 0, "%s: error", names[i]);
		CHECK(n == 0, "%s: got %zu recipients, want 0", names[i], n);
		CHECK(out.len == 4 && strcmp(out.data, "keep") == 0, "%s: out changed", names[i]);
		buf_free(&out);
		envelope_clear(&env);
	}
}

/* ---- the report ---- */

static void
test_failure_structure(void)
{
	struct envelope env;
	struct buf out;
	size_t n = 0;

	make_env(&env, 3);
	env.rcpts[0].state = ENV_RCPT_FAILED;
	env.rcpts[0].status = xstrdup("5.1.1");
	env.rcpts[0].diag = xstrdup("550 5.1.1 no such user");
	env.rcpts[0].remote_mta = xstrdup("mx.example.org");
	env.rcpts[0].done_time = NOW - 60;
	env.rcpts[1].state = ENV_RCPT_DELIVERED;
	env.rcpts[2].state = ENV_RCPT_FAILED;	/* no status, no diag */
	env.rcpts[2].orcpt = xstrdup("rfc822;first+last@example.org");
	env.envid = xstrdup("ENV=ID");
	buf_init(&out, 1 << 20);
	buf_append_str(&out, "prefix");
	CHECK_INT(build(&env, BOUNCE_FAILURE, 1 << 20, &out, &n), 0);
	CHECK_INT(n, 2);
	CHECK(strncmp(out.data, "prefix", 6) == 0, "not appended");
	buf_consume(&out, 6);
	check_lines("failure", &out);
	CHECK(strncmp(out.data, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n", 39) == 0,
	    "first line: %.60s", out.data);
	CHECK(has(&out, "\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"), "From");
	CHECK(has(&out, "\r\nTo: <alice@example.com>\r\n"), "To");
	CHECK(has(&out, "\r\nSubject: Undelivered Mail Returned to Sender\r\n"), "Subject");
	CHECK(has(&out, "\r\nMessage-ID: <0123456789abcdef.1700000000@mx.example.net>\r\n"), "Msg-ID");
	CHECK(has(&out, "\r\nAuto-Submitted: auto-replied\r\n"), "Auto-Submitted");
	CHECK(has(&out, "\r\nMIME-Version: 1.0\r\n"), "MIME-Version");
	CHECK(has(&out, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"=_mgdsn_0123456789abcdef_6553f100\"\r\n"), "Content-Type");
	CHECK(has(&out, "\r\nContent-Type: message/delivery-status\r\n"), "part 2 type");
	CHECK(has(&out, "\r\nReporting-MTA: dns; mx.example.net\r\n"), "Reporting-MTA");
	CHECK(has(&out, "\r\nX-MailGuard-Queue-ID: 0123456789abcdef\r\n"), "queue id");
	CHECK(has(&out, "\r\nOriginal-Envelope-Id: ENV=ID\r\n"), "envid");
	CHECK(has(&out, "\r\nArrival-Date: Tue, 14 Nov 2023 21:13:20 +0000\r\n"), "Arrival-Date");
	CHECK(has(&out, "\r\n\r\nFinal-Recipient: rfc822; rcpt0@example.org\r\nAction: failed\r\n"
	    "Status: 5.1.1\r\nRemote-MTA: dns; mx.example.org\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"
	    "Last-Attempt-Date: Tue, 14 Nov 2023 22:12:20 +0000\r\n"), "rcpt 0 block");
	CHECK(has(&out, "\r\n\r\nOriginal-Recipient: rfc822;first+last@example.org\r\n"
	    "Final-Recipient: rfc822; rcpt2@example.org\r\nAction: failed\r\nStatus: 5.0.0\r\n"),
	    "rcpt 2 block with default status");
	CHECK(!has(&out, "rcpt1@example.org"), "delivered recipient reported");
	CHECK(has(&out, "<rcpt0@example.org>: host mx.example.org said: 550 5.1.1 no such user\r\n"),
	    "part 1 rcpt 0");
	CHECK(has(&out, "<rcpt2@example.org>: delivery failed (status 5.0.0)\r\n"), "part 1 rcpt 2");
	CHECK(has(&out, "\r\nContent-Type: message/rfc822\r\n\r\nReceived: from client.example.com"),
	    "full message returned");
	CHECK(has(&out, "BODY-MARKER\r\n\r\n--=_mgdsn_0123456789abcdef_6553f100--\r\n"), "closing");
	CHECK(!has(&out, "Will-Retry-Until"), "Will-Retry-Until in a failure report");
	CHECK(!has(&out, "Content-Transfer-Encoding"), "7bit report declares a CTE");
	buf_free(&out);
	envelope_clear(&env);
}

static void
test_deterministic(void)
{
	struct envelope env;
	struct buf a, b;
	size_t n;

	make_env(&env, 2);
	env.rcpts[0].state = env.rcpts[1].state = ENV_RCPT_FAILED;
	buf_init(&a, 1 << 20);
	buf_init(&b, 1 << 20);
	CHECK_INT(build(&env, BOUNCE_FAILURE, 1 << 20, &a, &n), 0);
	CHECK_INT(build(&env, BOUNCE_FAILURE, 1 << 20, &b, &n), 0);
	CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0, "two builds differ");
	buf_free(&a);
	buf_free(&b);
	envelope_clear(&env);
}

static void
test_delay(void)
{
	struct envelope env;
	struct buf out;
	struct bounce_params p = { HOST, NOW, NOW + 86400, 1 << 20 };
	size_t n = 0;
	int fd;

	make_env(&env, 4);
	env.rcpts[0].status = xstrdup("4.4.1");
	env.rcpts[0].diag = xstrdup("connection timed out");
	env.rcpts[1].delay_warned = 1;				/* already told */
	env.rcpts[2].notify = ENV_NOTIFY_FAILURE;		/* did not ask */
	env.rcpts[3].state = ENV_RCPT_FAILED;			/* not delayed */
	buf_init(&out, 1 << 20);
	fd = body_fd(message, sizeof(message) - 1);
	CHECK_INT(bounce_build_params(&env, fd, BOUNCE_DELAY, &p, &out, &n), 0);
	close(fd);
	CHECK_INT(n, 1);
	check_lines("delay", &out);
	CHECK(has(&out, "Subject: Delayed Mail (still being retried)\r\n"), "subject");
	CHECK(has(&out, "Final-Recipient: rfc822; rcpt0@example.org\r\nAction: delayed\r\n"
	    "Status: 4.4.1\r\nDiagnostic-Code: X-MailGuard; connection timed out\r\n"
	    "Will-Retry-Until: Wed, 15 Nov 2023 22:13:20 +0000\r\n"), "delayed block");
	CHECK(!has(&out, "rcpt1@") && !has(&out, "rcpt2@") && !has(&out, "rcpt3@"), "extra rcpts");
	CHECK(!has(&out, "Last-Attempt-Date"), "Last-Attempt-Date without done_time");
	/* Without RET only the headers come back with a delay notice. */
	CHECK(has(&out, "Content-Type: text/rfc822-headers\r\n"), "headers only");
	CHECK(!has(&out, "BODY-MARKER"), "body returned with a delay notice");
	CHECK(has(&out, "Only the headers of the message are returned."), "note");
	/* The default lifetime when no retry_until is given. */
	buf_reset(&out);
	CHECK_INT(build(&env, BOUNCE_DELAY, 1 << 20, &out, &n), 0);
	CHECK(has(&out, "Will-Retry-Until: Sun, 19 Nov 2023 21:13:20 +0000\r\n"),
	    "default Will-Retry-Until");
	CHECK(has(&out, "Status: 4.0.0\r\n") == 0, "status of rcpt0 was given");
	buf_free(&out);
	envelope_clear(&env);
}

static void
test_delay_default_status(void)
{
	struct envelope env;
	struct buf out;
	size_t n = 0;

	make_env(&env, 1);
	buf_init(&out, 1 << 20);
	CHECK_INT(build(&env, BOUNCE_DELAY, 1 << 20, &out, &n), 0);
	CHECK_INT(n, 1);
	CHECK(has(&out, "Action: delayed\r\nStatus: 4.0.0\r\n"), "default 4.0.0");
	CHECK(has(&out, "<rcpt0@example.org>: not delivered yet (status 4.0.0)\r\n"), "part 1");
	buf_free(&out);
	envelope_clear(&env);
}

static void
test_success(void)
{
	struct envelope env;
	struct buf out;
	size_t n = 0;

	make_env(&env, 3);
	env.rcpts[0].state = ENV_RCPT_DELIVERED;
	env.rcpts[0].notify = ENV_NOTIFY_SUCCESS | ENV_NOTIFY_FAILURE;
	env.rcpts[0].done_time = NOW - 5;
	env.rcpts[1].state = ENV_RCPT_DELIVERED;		/* no SUCCESS asked */
	env.rcpts[2].state = ENV_RCPT_DELIVERED;
	env.rcpts[2].notify = ENV_NOTIFY_SUCCESS;
	env.rcpts[2].status = xstrdup("2.6.0");
	env.rcpts[2].diag = xstrdup("250 2.6.0 queued as ABC");
	env.rcpts[2].remote_mta = xstrdup("mx.example.org");
	buf_init(&out, 1 << 20);
	CHECK_INT(build(&env, BOUNCE_SUCCESS, 1 << 20, &out, &n), 0);
	CHECK_INT(n, 2);
	check_lines("success", &out);
	CHECK(has(&out, "Subject: Successful Mail Delivery Report\r\n"), "subject");
	CHECK(has(&out, "rfc822; rcpt0@example.org\r\nAction: relayed\r\nStatus: 2.0.0\r\n"),
	    "rcpt0 relayed, default 2.0.0");
	CHECK(has(&out, "rfc822; rcpt2@example.org\r\nAction: relayed\r\nStatus: 2.6.0\r\n"
	    "Remote-MTA: dns; mx.example.org\r\nDiagnostic-Code: smtp; 250 2.6.0 queued as ABC\r\n"),
	    "rcpt2");
	CHECK(!has(&out, "rcpt1@"), "rcpt1 reported");
	CHECK(!has(&out, "BODY-MARKER"), "body returned with a success notice");
	buf_free(&out);
	envelope_clear(&env);
}

/* RET and the size limit decide what part 3 holds. */
static void
test_return_table(void)
{
	static const struct {
		const char *name;
		enum bounce_kind kind;
		enum envelope_ret ret;
		enum envelope_body body;
		size_t limit;
		long long size_delta;	/* added to the true size in the envelope */
		int want_full;
		const char *note;	/* expected in part 1, or NULL */
	} cases[] = {
		{ "failure, no RET", BOUNCE_FAILURE, ENV_RET_UNSPEC, ENV_BODY_7BIT, 1 << 20, 0, 1, NULL },
		{ "failure, RET=FULL", BOUNCE_FAILURE, ENV_RET_FULL, ENV_BODY_7BIT, 1 << 20, 0, 1, NULL },
		{ "failure, RET=HDRS", BOUNCE_FAILURE, ENV_RET_HDRS, ENV_BODY_7BIT, 1 << 20, 0, 0,
		    "as its sender asked" },
		{ "failure, exactly the limit", BOUNCE_FAILURE, ENV_RET_FULL, ENV_BODY_7BIT,
		    sizeof(message) - 1, 0, 1, NULL },
		{ "failure, one over the limit", BOUNCE_FAILURE, ENV_RET_FULL, ENV_BODY_7BIT,
		    sizeof(message) - 2, 0, 0, "bytes, so only its headers are returned" },
		{ "failure, envelope size too big", BOUNCE_FAILURE, ENV_RET_UNSPEC, ENV_BODY_7BIT, 200,
		    100, 0, "larger than 200 bytes" },
		{ "failure, file larger than envelope says", BOUNCE_FAILURE, ENV_RET_UNSPEC,
		    ENV_BODY_7BIT, 100, -100, 0, "larger than 100 bytes" },
		{ "failure, limit SIZE_MAX", BOUNCE_FAILURE, ENV_RET_FULL, ENV_BODY_7BIT, (size_t)-1, 0,
		    1, NULL },
		{ "failure, limit 0", BOUNCE_FAILURE, ENV_RET_FULL, ENV_BODY_7BIT, 0, 0, 0,
		    "larger than 0 bytes" },
		{ "failure, BINARYMIME", BOUNCE_FAILURE, ENV_RET_FULL, ENV_BODY_BINARYMIME, 1 << 20, 0,
		    0, "binary MIME" },
		{ "failure, 8BITMIME", BOUNCE_FAILURE, ENV_RET_FULL, ENV_BODY_8BITMIME, 1 << 20, 0, 1,
		    NULL },
		{ "delay, no RET", BOUNCE_DELAY, ENV_RET_UNSPEC, ENV_BODY_7BIT, 1 << 20, 0, 0,
		    "Only the headers of the message are returned." },
		{ "delay, RET=FULL", BOUNCE_DELAY, ENV_RET_FULL, ENV_BODY_7BIT, 1 << 20, 0, 1, NULL },
		{ "success, RET=FULL", BOUNCE_SUCCESS, ENV_RET_FULL, ENV_BODY_7BIT, 1 << 20, 0, 1, NULL },
		{ "success, RET=HDRS", BOUNCE_SUCCESS, ENV_RET_HDRS, ENV_BODY_7BIT, 1 << 20, 0, 0,
		    "as its sender asked" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct envelope env;
		struct buf out;
		size_t n = 0;

		make_env(&env, 1);
		env.ret = cases[i].ret;
		env.body = cases[i].body;
		env.size += cases[i].size_delta;
		env.rcpts[0].state = cases[i].kind == BOUNCE_FAILURE ? ENV_RCPT_FAILED :
		    cases[i].kind == BOUNCE_DELAY ? ENV_RCPT_PENDING : ENV_RCPT_DELIVERED;
		env.rcpts[0].notify = cases[i].kind == BOUNCE_SUCCESS ? ENV_NOTIFY_SUCCESS : 0;
		buf_init(&out, 1 << 20);
		CHECK(build(&env, cases[i].kind, cases[i].limit, &out, &n) == 0 && n == 1,
		    "%s: build failed", cases[i].name);
		check_lines(cases[i].name, &out);
		CHECK(has(&out, "BODY-MARKER") == cases[i].want_full, "%s: body %s", cases[i].name,
		    cases[i].want_full ? "missing" : "returned");
		CHECK(has(&out, cases[i].want_full ? "Content-Type: message/rfc822\r\n" :
		    "Content-Type: text/rfc822-headers\r\n"), "%s: part 3 type", cases[i].name);
		CHECK(has(&out, "From: Alice <alice@example.com>\r\nSubject: Lunch\r\n"),
		    "%s: headers not returned", cases[i].name);
		if (cases[i].note != NULL)
			CHECK(has(&out, cases[i].note), "%s: note \"%s\" missing", cases[i].name,
			    cases[i].note);
		buf_free(&out);
		envelope_clear(&env);
	}
}

/* Bare LF, bare CR, no final newline, over-long lines: all made CRLF lines of <= 998. */
static void
test_line_normalisation(void)
{
	struct envelope env;
	struct buf out, msg;
	size_t n;
	int fd;

	make_env(&env, 1);
	env.rcpts[0].state = ENV_RCPT_FAILED;
	buf_init(&msg, 1 << 20);
	buf_append_str(&msg, "Subject: lf\nX-Long: ");
	for (int i = 0; i < 2500; i++)
		buf_append_char(&msg, 'h');
	buf_append_str(&msg, "\nX-CR: a\rb\r\n\nbody line\n");
	for (int i = 0; i < 3000; i++)
		buf_append_char(&msg, 'b');
	buf_append_str(&msg, "\nlast line without newline");
	env.size = (long long)msg.len;
	fd = body_fd(msg.data, msg.len);
	buf_init(&out, 1 << 20);
	CHECK_INT(bounce_build(&env, fd, BOUNCE_FAILURE, HOST, NOW, 1 << 20, &out, &n), 0);
	close(fd);
	check_lines("normalised", &out);
	CHECK(has(&out, "Subject: lf\r\nX-Long: hhh"), "LF not made CRLF");
	CHECK(has(&out, "hhh\r\n hhh"), "long header not continued");
	CHECK(has(&out, "X-CR: a\r\nb\r\n\r\nbody line\r\n"), "CR handling");
	CHECK(has(&out, "bbb\r\nbbb"), "long body line not broken");
	CHECK(has(&out, "last line without newline\r\n\r\n--="), "last line");
	buf_free(&out);
	buf_free(&msg);
	envelope_clear(&env);
}

/* Long diagnostics fold at spaces within 78 columns; a long word is split under 998. */
static void
test_folding(void)
{
	struct envelope env;
	struct buf out;
	char diag[ENVELOPE_DIAG_MAX + 1];
	size_t n;

	make_env(&env, 2);
	env.rcpts[0].state = env.rcpts[1].state = ENV_RCPT_FAILED;
	memset(diag, 0, sizeof(diag));
	for (size_t i = 0; i + 1 < sizeof(diag); i++)
		diag[i] = i % 9 == 8 ? ' ' : 'w';
	memcpy(diag, "550 ", 4);
	env.rcpts[0].diag = xstrdup(diag);
	memset(diag, 'z', sizeof(diag) - 1);
	memcpy(diag, "451 ", 4);
	env.rcpts[1].diag = xstrdup(diag);
	buf_init(&out, 1 << 20);
	CHECK_INT(build(&env, BOUNCE_FAILURE, 1 << 20, &out, &n), 0);
	check_lines("folding", &out);
	CHECK(has(&out, "Diagnostic-Code: smtp; 550 wwww"), "diag start");
	CHECK(has(&out, "wwww\r\n wwwwwwww wwww"), "folded at a space");
	CHECK(has(&out, "Diagnostic-Code: smtp; 451\r\n zzzz"), "long word moved to its own line");
	CHECK(has(&out, "zzz\r\n zzz"), "long word split");
	/* Part 1 wraps with a four-space indent. */
	CHECK(has(&out, "\r\n    wwwwwwww"), "part 1 indent");
	/* In header mode no line except the long word's exceeds 78 octets. */
	{
		const char *p = strstr(out.data, "Diagnostic-Code: smtp; 550");
		const char *end = strstr(p, "Last-Attempt") ? strstr(p, "Last-Attempt") :
		    strstr(p, "\r\n\r\n");

		while (p < end) {
			const char *eol = strstr(p, "\r\n");

			CHECK(eol - p <= 78, "folded line of %td octets", eol - p);
			p = eol + 2;
		}
	}
	buf_free(&out);
	envelope_clear(&env);
}

/* CR/LF smuggled into a diag (bypassing the envelope checks) cannot start a header. */
static void
test_no_header_injection(void)
{
	struct envelope env;
	struct buf out;
	size_t n;

	make_env(&env, 1);
	env.rcpts[0].state = ENV_RCPT_FAILED;
	env.rcpts[0].diag = xstrdup("550 no\r\nX-Injected: yes\r\n\r\n--=_mgdsn_x");
	env.rcpts[0].remote_mta = xstrdup("evil\r\nX-Evil: 1");
	buf_init(&out, 1 << 20);
	CHECK_INT(build(&env, BOUNCE_FAILURE, 1 << 20, &out, &n), 0);
	check_lines("injection", &out);
	CHECK(!has(&out, "\r\nX-Injected") && !has(&out, "\r\nX-Evil"), "header injected");
	CHECK(has(&out, "550 no?" "?X-Injected: yes?" "?" "?" "?--=_mgdsn_x"), "sanitised diag");
	buf_free(&out);
	envelope_clear(&env);
}

static void
test_global_report(void)
{
	struct envelope env;
	struct buf out;
	size_t n;

	make_env(&env, 2);
	env.smtputf8 = 1;
	xfree(env.rcpts[0].addr);
	env.rcpts[0].addr = xstrdup("j\xc3\xbcrgen@example.org");
	env.rcpts[0].state = env.rcpts[1].state = ENV_RCPT_FAILED;
	env.rcpts[1].diag = xstrdup("550 unknown user \xc3\xbc");
	buf_init(&out, 1 << 20);
	CHECK_INT(build(&env, BOUNCE_FAILURE, 1 << 20, &out, &n), 0);
	check_lines("global", &out);
	CHECK(has(&out, "report-type=global-delivery-status;"), "report-type");
	CHECK(has(&out, "\r\nContent-Type: message/global-delivery-status\r\n"), "part 2 type");
	CHECK(has(&out, "\r\nContent-Type: message/global\r\n"), "part 3 type");
	CHECK(has(&out, "Final-Recipient: utf-8; j\xc3\xbcrgen@example.org\r\n"), "utf-8 type");
	CHECK(has(&out, "Final-Recipient: rfc822; rcpt1@example.org\r\n"), "ASCII stays rfc822");
	CHECK(has(&out, "Diagnostic-Code: smtp; 550 unknown user \xc3\xbc\r\n"), "8-bit diag kept");
	CHECK(has(&out, "charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"), "part 1 charset");
	buf_free(&out);
	/* Without SMTPUTF8 and ASCII addresses, 8-bit diag bytes become '?'. */
	env.smtputf8 = 0;
	xfree(env.rcpts[0].addr);
	env.rcpts[0].addr = xstrdup("rcpt0@example.org");
	buf_init(&out, 1 << 20);
	CHECK_INT(build(&env, BOUNCE_FAILURE, 1 << 20, &out, &n), 0);
	CHECK(has(&out, "Diagnostic-Code: smtp; 550 unknown user ??\r\n"), "8-bit diag replaced");
	CHECK(has(&out, "report-type=delivery-status;"), "plain report-type");
	CHECK(!has(&out, "Content-Transfer-Encoding"), "CTE in 7-bit report");
	buf_free(&out);
	envelope_clear(&env);
}

static void
test_boundary_collision(void)
{
	static const char msg[] = "Subject: tricky\r\n\r\n--=_mgdsn_0123456789abcdef_6553f100\r\n";
	struct envelope env;
	struct buf out;
	size_t n;
	int fd = body_fd(msg, sizeof(msg) - 1);

	make_env(&env, 1);
	env.size = (long long)sizeof(msg) - 1;
	env.rcpts[0].state = ENV_RCPT_FAILED;
	buf_init(&out, 1 << 20);
	CHECK_INT(bounce_build(&env, fd, BOUNCE_FAILURE, HOST, NOW, 1 << 20, &out, &n), 0);
	close(fd);
	CHECK(has(&out, "boundary=\"=_mgdsn_0123456789abcdef_6553f100_1\""), "boundary not moved");
	CHECK(has(&out, "\r\n--=_mgdsn_0123456789abcdef_6553f100_1--\r\n"), "closing delimiter");
	buf_free(&out);
	envelope_clear(&env);
}

static void
test_no_body(void)
{
	struct envelope env;
	struct buf out;
	size_t n;

	make_env(&env, 1);
	env.rcpts[0].state = ENV_RCPT_FAILED;
	buf_init(&out, 1 << 20);
	CHECK_INT(bounce_build(&env, -1, BOUNCE_FAILURE, HOST, NOW, 1 << 20, &out, &n), 0);
	CHECK_INT(n, 1);
	check_lines("no body", &out);
	CHECK(has(&out, "could not be read and is not included"), "note");
	CHECK(!has(&out, "rfc822-headers") && !has(&out, "message/rfc822"), "part 3 present");
	CHECK(has(&out, "Arrival-Date: Tue, 14 Nov 2023 21:13:20 +0000\r\n\r\nFinal-Recipient"),
	    "part 2");
	buf_free(&out);
	envelope_clear(&env);
}

static void
test_errors(void)
{
	struct envelope env;
	struct buf out;
	size_t n = 7;
	int fd;

	make_env(&env, 1);
	env.rcpts[0].state = ENV_RCPT_FAILED;
	/* A directory cannot be read: pread fails with EISDIR. */
	fd = open("/", O_RDONLY | O_DIRECTORY);
	buf_init(&out, 1 << 20);
	buf_append_str(&out, "keep");
	errno = 0;
	CHECK_INT(bounce_build(&env, fd, BOUNCE_FAILURE, HOST, NOW, 1 << 20, &out, &n), -1);
	CHECK_INT(errno, EISDIR);
	CHECK_INT(n, 0);
	CHECK(out.len == 4, "out changed on read error");
	close(fd);
	/* Output cap reached. */
	buf_free(&out);
	buf_init(&out, 500);
	buf_append_str(&out, "keep");
	CHECK_INT(build(&env, BOUNCE_FAILURE, 1 << 20, &out, &n), -1);
	CHECK_INT(errno, EMSGSIZE);
	CHECK(out.len == 4 && strcmp(out.data, "keep") == 0, "out changed when full");
	buf_free(&out);
	/* Bad reporting host names. */
	buf_init(&out, 1 << 20);
	CHECK_INT(bounce_build(&env, -1, BOUNCE_FAILURE, "", NOW, 0, &out, &n), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(bounce_build(&env, -1, BOUNCE_FAILURE, "a b", NOW, 0, &out, &n), -1);
	CHECK_INT(bounce_build(&env, -1, BOUNCE_FAILURE, "x\r\nBcc: y", NOW, 0, &out, &n), -1);
	CHECK_INT(bounce_build(&env, -1, BOUNCE_FAILURE, NULL, NOW, 0, &out, &n), -1);
	CHECK_INT(bounce_build(&env, -1, (enum bounce_kind)9, HOST, NOW, 0, &out, &n), -1);
	CHECK_INT(out.len, 0);
	buf_free(&out);
	envelope_clear(&env);
}

static void
test_bounce_envelope(void)
{
	struct envelope env, b, back;
	struct buf out, text;
	const char *error = NULL;
	size_t n;

	make_env(&env, 1);
	env.rcpts[0].state = ENV_RCPT_FAILED;
	buf_init(&out, 1 << 20);
	CHECK_INT(build(&env, BOUNCE_FAILURE, 1 << 20, &out, &n), 0);
	envelope_init(&b);
	bounce_envelope(&env, "fedcba9876543210", NOW, buf_slice(&out), &b);
	CHECK_STR(b.qid, "fedcba9876543210");
	CHECK_STR(b.sender, "");
	CHECK_INT(b.is_bounce, 1);
	CHECK_INT(b.direction, ENV_OUTBOUND);
	CHECK_INT(b.n_rcpts, 1);
	CHECK_STR(b.rcpts[0].addr, "alice@example.com");
	CHECK_INT(b.rcpts[0].state, ENV_RCPT_PENDING);
	CHECK_INT(b.arrival, NOW);
	CHECK_INT(b.size, out.len);
	CHECK_INT(b.body, ENV_BODY_7BIT);
	CHECK_INT(b.smtputf8, 0);
	/* It is a valid envelope, and a report about it is never owed. */
	buf_init(&text, ENVELOPE_FILE_MAX);
	CHECK_INT(envelope_write(&b, &text), 0);
	envelope_init(&back);
	CHECK(envelope_parse(buf_slice(&text), &back, &error) == 0, "parse: %s", error);
	back.rcpts[0].state = ENV_RCPT_FAILED;
	CHECK(!bounce_is_owed(&back, 0, BOUNCE_FAILURE), "report owed for a report");
	envelope_clear(&back);
	envelope_clear(&b);
	buf_free(&text);
	/* 8-bit content or a UTF-8 sender. */
	envelope_init(&b);
	xfree(env.sender);
	env.sender = xstrdup("\xc3\xa4lice@example.com");
	bounce_envelope(&env, "fedcba9876543210", NOW, SLICE_LIT("x\xc3\xa4"), &b);
	CHECK_INT(b.body, ENV_BODY_8BITMIME);
	CHECK_INT(b.smtputf8, 1);
	envelope_clear(&b);
	buf_free(&out);
	envelope_clear(&env);
}

static const struct unit_case cases[] = {
	{ "owed_table", test_owed_table },
	{ "nothing_owed", test_nothing_owed },
	{ "failure_structure", test_failure_structure },
	{ "deterministic", test_deterministic },
	{ "delay", test_delay },
	{ "delay_default_status", test_delay_default_status },
	{ "success", test_success },
	{ "return_table", test_return_table },
	{ "line_normalisation", test_line_normalisation },
	{ "folding", test_folding },
	{ "no_header_injection", test_no_header_injection },
	{ "global_report", test_global_report },
	{ "boundary_collision", test_boundary_collision },
	{ "no_body", test_no_body },
	{ "errors", test_errors },
	{ "bounce_envelope", test_bounce_envelope },
};

UNIT_MAIN(cases)
