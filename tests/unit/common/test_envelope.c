/* test_envelope.c: unit tests for common/envelope.c: the exact text form, round trips of fixed
 * and random envelopes (write -> parse -> write is the identity), every parse error by name,
 * truncation at every offset, the writer's refusals and the helper functions. */
#include <fcntl.h>	/* unit.h uses open() */

#include "unit.h"

#include <limits.h>

#include "common/envelope.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

/* ---- helpers ---- */

static int
str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Field-by-field equality; returns the name of the first differing field or NULL. */
static const char *
env_diff(const struct envelope *a, const struct envelope *b)
{
	if (strcmp(a->qid, b->qid) != 0) return "qid";
	if (a->direction != b->direction) return "direction";
	if (!str_eq(a->sender, b->sender)) return "sender";
	if (!str_eq(a->helo, b->helo)) return "helo";
	if (!str_eq(a->client_addr, b->client_addr)) return "client_addr";
	if (!str_eq(a->client_name, b->client_name)) return "client_name";
	if (strcmp(a->session_id, b->session_id) != 0) return "session_id";
	if (a->arrival != b->arrival) return "arrival";
	if (a->released != b->released) return "released";
	if (a->size != b->size) return "size";
	if (a->body != b->body) return "body";
	if (a->smtputf8 != b->smtputf8) return "smtputf8";
	if (!str_eq(a->envid, b->envid)) return "envid";
	if (a->ret != b->ret) return "ret";
	if (a->is_bounce != b->is_bounce) return "is_bounce";
	if (a->is_tlsrpt != b->is_tlsrpt) return "is_tlsrpt";
	if (a->attempts != b->attempts) return "attempts";
	if (a->next_attempt != b->next_attempt) return "next_attempt";
	if (a->n_rcpts != b->n_rcpts) return "n_rcpts";
	for (size_t i = 0; i < a->n_rcpts; i++) {
		const struct envelope_rcpt *x = &a->rcpts[i], *y = &b->rcpts[i];

		if (!str_eq(x->addr, y->addr)) return "rcpt.addr";
		if (!str_eq(x->orcpt, y->orcpt)) return "rcpt.orcpt";
		if (x->notify != y->notify) return "rcpt.notify";
		if (x->state != y->state) return "rcpt.state";
		if (x->delay_warned != y->delay_warned) return "rcpt.delay_warned";
		if (x->done_time != y->done_time) return "rcpt.done_time";
		if (!str_eq(x->status, y->status)) return "rcpt.status";
		if (!str_eq(x->diag, y->diag)) return "rcpt.diag";
		if (!str_eq(x->remote_mta, y->remote_mta)) return "rcpt.remote_mta";
	}
	return NULL;
}

/* write(env) -> parse -> compare -> write again; checks both texts are identical. */
static void
check_round_trip(const char *name, const struct envelope *env)
{
	struct buf a, b;
	struct envelope back;
	const char *error = NULL, *diff;

	buf_init(&a, ENVELOPE_FILE_MAX);
	buf_init(&b, ENVELOPE_FILE_MAX);
	envelope_init(&back);
	CHECK(envelope_write(env, &a) == 0, "%s: write failed", name);
	CHECK(envelope_parse(buf_slice(&a), &back, &error) == 0, "%s: parse failed: %s\n%s", name,
	    error, a.data);
	diff = env_diff(env, &back);
	CHECK(diff == NULL, "%s: field %s differs after round trip", name, diff);
	CHECK(envelope_write(&back, &b) == 0, "%s: second write failed", name);
	CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
	    "%s: got\n%s\nwant\n%s", name, b.data, a.data);
	envelope_clear(&back);
	buf_free(&a);
	buf_free(&b);
}

static void
fill_basic(struct envelope *env)
{
	envelope_init(env);
	memcpy(env->qid, "0123456789abcdef", QUEUE_ID_LEN + 1);
	env->sender = xstrdup("alice@example.com");
	env->arrival = 1700000000;
	env->size = 1234;
	envelope_add_rcpt(env, "bob@example.org", NULL, 0);
}

static const char basic_text[] =
	"version 1\n"
	"qid 0123456789abcdef\n"
	"direction inbound\n"
	"arrival 1700000000\n"
	"size 1234\n"
	"body 7bit\n"
	"smtputf8 0\n"
	"ret unspec\n"
	"is_bounce 0\n"
	"attempts 0\n"
	"next_attempt 0\n"
	"sender alice@example.com\n"
	"rcpt addr=bob@example.org notify=default state=pending delay_warned=0 done_time=0\n"
	"end\n";

/* A fully populated envelope with values that need escaping. */
static void
fill_full(struct envelope *env)
{
	size_t i;

	envelope_init(env);
	memcpy(env->qid, "fedcba9876543210", QUEUE_ID_LEN + 1);
	env->direction = ENV_OUTBOUND;
	env->sender = xstrdup("\"john doe\"@example.com");
	env->helo = xstrdup("[IPv6:2001:db8::1]");
	env->client_addr = xstrdup("2001:db8::1");
	env->client_name = xstrdup("unknown");
	memcpy(env->session_id, "00112233aabbccdd", 17);
	env->arrival = 1700000001;
	env->size = 99999;
	env->body = ENV_BODY_8BITMIME;
	env->smtputf8 = 1;
	env->envid = xstrdup("QQ+2B100%");
	env->ret = ENV_RET_HDRS;
	env->is_bounce = 0;
	env->attempts = 7;
	env->next_attempt = 1700003600;
	i = envelope_add_rcpt(env, "j\xc3\xbcrgen@b\xc3\xbc" "cher.example", "utf-8;j\\x{FC}rgen@example",
	    ENV_NOTIFY_SUCCESS | ENV_NOTIFY_FAILURE | ENV_NOTIFY_DELAY);
	env->rcpts[i].state = ENV_RCPT_FAILED;
	env->rcpts[i].done_time = 1700002000;
	env->rcpts[i].status = xstrdup("5.1.1");
	env->rcpts[i].diag = xstrdup("550 5.1.1 <x>: 100% unknown\tuser");
	env->rcpts[i].remote_mta = xstrdup("mx.example.org");
	i = envelope_add_rcpt(env, "postmaster", NULL, ENV_NOTIFY_NEVER);
	env->rcpts[i].state = ENV_RCPT_DELIVERED;
	env->rcpts[i].done_time = 1700001000;
	env->rcpts[i].diag = xstrdup("");
	i = envelope_add_rcpt(env, "carol@example.org", "", ENV_NOTIFY_DELAY);
	env->rcpts[i].delay_warned = 1;
	env->rcpts[i].status = xstrdup("4.4.1");
}

static const char full_text[] =
	"version 1\n"
	"qid fedcba9876543210\n"
	"direction outbound\n"
	"session_id 00112233aabbccdd\n"
	"arrival 1700000001\n"
	"size 99999\n"
	"body 8bitmime\n"
	"smtputf8 1\n"
	"ret hdrs\n"
	"envid QQ+2B100%25\n"
	"is_bounce 0\n"
	"attempts 7\n"
	"next_attempt 1700003600\n"
	"client_addr 2001:db8::1\n"
	"client_name unknown\n"
	"helo [IPv6:2001:db8::1]\n"
	"sender \"john%20doe\"@example.com\n"
	"rcpt addr=j%C3%BCrgen@b%C3%BCcher.example orcpt=utf-8;j\\x{FC}rgen@example"
	" notify=success,failure,delay state=failed delay_warned=0 done_time=1700002000"
	" remote_mta=mx.example.org status=5.1.1 diag=550%205.1.1%20<x>:%20100%25%20unknown%09user\n"
	"rcpt addr=postmaster notify=never state=delivered delay_warned=0 done_time=1700001000 diag=\n"
	"rcpt addr=carol@example.org orcpt= notify=delay state=pending delay_warned=1 done_time=0"
	" status=4.4.1\n"
	"end\n";

/* ---- cases ---- */

static void
test_init_clear(void)
{
	struct envelope env;

	envelope_init(&env);
	CHECK_INT(env.n_rcpts, 0);
	CHECK(env.sender == NULL && env.rcpts == NULL, "init leaves pointers set");
	fill_full(&env);
	envelope_clear(&env);
	CHECK_INT(env.n_rcpts, 0);
	CHECK_INT(env.cap_rcpts, 0);
	CHECK(env.sender == NULL && env.rcpts == NULL && env.envid == NULL, "clear leaves pointers");
	CHECK_STR(env.qid, "");
	envelope_clear(&env);	/* twice is harmless */
}

static void
test_add_rcpt(void)
{
	struct envelope env;
	char addr[32];

	envelope_init(&env);
	for (int i = 0; i < 37; i++) {
		snprintf(addr, sizeof(addr), "u%d@example.org", i);
		CHECK_INT(envelope_add_rcpt(&env, addr, i % 2 ? "rfc822;x@y" : NULL, (unsigned)i & 0xe), i);
	}
	CHECK_INT(env.n_rcpts, 37);
	CHECK(env.cap_rcpts >= 37, "cap %zu", env.cap_rcpts);
	CHECK_STR(env.rcpts[36].addr, "u36@example.org");
	CHECK_STR(env.rcpts[35].orcpt, "rfc822;x@y");
	CHECK_STR(env.rcpts[36].orcpt, NULL);
	CHECK_INT(env.rcpts[6].notify, 6);
	CHECK_INT(env.rcpts[6].state, ENV_RCPT_PENDING);
	CHECK_INT(envelope_pending(&env), 37);
	env.rcpts[0].state = ENV_RCPT_DELIVERED;
	env.rcpts[1].state = ENV_RCPT_FAILED;
	env.rcpts[2].state = ENV_RCPT_BOUNCED;
	CHECK_INT(envelope_pending(&env), 34);
	envelope_clear(&env);
}

static void
test_addr_domain(void)
{
	static const struct { const char *addr, *want; } cases[] = {
		{ "a@example.org", "example.org" },
		{ "\"a@b\"@example.org", "example.org" },
		{ "postmaster", "" },
		{ "", "" },
		{ "a@", "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_STR(envelope_addr_domain(cases[i].addr), cases[i].want);
}

static void
test_write_basic_exact(void)
{
	struct envelope env;
	struct buf out;

	fill_basic(&env);
	buf_init(&out, 4096);
	buf_append_str(&out, "prefix:");
	CHECK_INT(envelope_write(&env, &out), 0);
	CHECK_STR(out.data + 7, basic_text);
	CHECK(memcmp(out.data, "prefix:", 7) == 0, "write did not append");
	envelope_clear(&env);
	buf_free(&out);
}

static void
test_write_full_exact(void)
{
	struct envelope env;
	struct buf out;

	fill_full(&env);
	buf_init(&out, 4096);
	CHECK_INT(envelope_write(&env, &out), 0);
	CHECK_STR(out.data, full_text);
	envelope_clear(&env);
	buf_free(&out);
}

static void
test_parse_full_fields(void)
{
	struct envelope env;
	const char *error = NULL;

	envelope_init(&env);
	CHECK(envelope_parse(SLICE_LIT(full_text), &env, &error) == 0, "parse: %s", error);
	CHECK_STR(env.qid, "fedcba9876543210");
	CHECK_INT(env.direction, ENV_OUTBOUND);
	CHECK_STR(env.sender, "\"john doe\"@example.com");
	CHECK_STR(env.envid, "QQ+2B100%");
	CHECK_STR(env.session_id, "00112233aabbccdd");
	CHECK_INT(env.ret, ENV_RET_HDRS);
	CHECK_INT(env.n_rcpts, 3);
	CHECK_STR(env.rcpts[0].addr, "j\xc3\xbcrgen@b\xc3\xbc" "cher.example");
	CHECK_STR(env.rcpts[0].diag, "550 5.1.1 <x>: 100% unknown\tuser");
	CHECK_INT(env.rcpts[0].notify, ENV_NOTIFY_SUCCESS | ENV_NOTIFY_FAILURE | ENV_NOTIFY_DELAY);
	CHECK_STR(env.rcpts[1].diag, "");
	CHECK_STR(env.rcpts[1].orcpt, NULL);
	CHECK_INT(env.rcpts[1].notify, ENV_NOTIFY_NEVER);
	CHECK_STR(env.rcpts[2].orcpt, "");
	CHECK_INT(env.rcpts[2].delay_warned, 1);
	envelope_clear(&env);
}

static void
test_round_trip_table(void)
{
	struct envelope env;
	size_t i;

	fill_basic(&env);
	check_round_trip("basic", &env);
	xfree(env.sender);
	env.sender = xstrdup("");
	check_round_trip("null sender", &env);
	env.helo = xstrdup("");
	env.client_addr = xstrdup("");
	env.client_name = xstrdup("");
	env.envid = xstrdup("");
	check_round_trip("empty optional strings", &env);
	env.arrival = ENVELOPE_TIME_MAX;
	env.next_attempt = ENVELOPE_TIME_MAX;
	env.size = LLONG_MAX;
	env.attempts = INT_MAX;
	check_round_trip("maximal numbers", &env);
	env.is_bounce = 1;
	env.body = ENV_BODY_BINARYMIME;
	env.ret = ENV_RET_FULL;
	check_round_trip("bounce binarymime full", &env);
	for (unsigned n = 0; n <= ENV_NOTIFY_MASK; n++) {
		if ((n & ENV_NOTIFY_NEVER) && n != ENV_NOTIFY_NEVER)
			continue;
		i = envelope_add_rcpt(&env, "x@example.org", "rfc822;x@example.org", n);
		env.rcpts[i].state = (enum envelope_rcpt_state)(n % 4);
	}
	check_round_trip("every notify and state", &env);
	envelope_clear(&env);
	fill_full(&env);
	check_round_trip("full", &env);
	envelope_clear(&env);
}

static void
test_round_trip_limits(void)
{
	struct envelope env;
	char big[ENVELOPE_DIAG_MAX + 1];

	fill_basic(&env);
	memset(big, '%', sizeof(big) - 1);	/* worst-case escaping */
	big[sizeof(big) - 1] = '\0';
	env.rcpts[0].diag = xstrdup(big);
	big[ENVELOPE_ADDR_MAX] = '\0';
	xfree(env.rcpts[0].addr);
	env.rcpts[0].addr = xstrdup(big);
	xfree(env.sender);
	env.sender = xstrdup(big);
	big[SMTP_ORCPT_MAX] = '\0';
	env.rcpts[0].orcpt = xstrdup(big);
	big[ENVELOPE_HOST_MAX] = '\0';
	env.rcpts[0].remote_mta = xstrdup(big);
	env.client_name = xstrdup(big);
	env.client_addr = xstrdup(big);
	memset(big, ' ', ENVELOPE_HELO_MAX);	/* spaces need escaping too */
	big[ENVELOPE_HELO_MAX] = '\0';
	env.helo = xstrdup(big);
	big[SMTP_ENVID_MAX] = '\0';
	env.envid = xstrdup(big);
	env.rcpts[0].status = xstrdup("5.999.999");
	check_round_trip("every field at its limit", &env);
	envelope_clear(&env);
}

static void
test_round_trip_max_rcpts(void)
{
	struct envelope env;
	struct buf out;

	fill_basic(&env);
	while (env.n_rcpts < SMTP_RCPT_CAP)
		envelope_add_rcpt(&env, "someone.with.a.long.name@example.org", NULL, 0);
	check_round_trip("SMTP_RCPT_CAP recipients", &env);
	envelope_add_rcpt(&env, "one-too-many@example.org", NULL, 0);
	buf_init(&out, ENVELOPE_FILE_MAX);
	CHECK_INT(envelope_write(&env, &out), -1);
	CHECK_INT(out.len, 0);
	buf_free(&out);
	envelope_clear(&env);
}

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned
rnd(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return n ? (unsigned)(rng_state % n) : 0;
}

/* A random string of up to max bytes, any byte but NUL, CR and LF; NULL sometimes. */
static char *
rnd_str(size_t max, int may_be_null, int nonempty)
{
	size_t n;
	char *s;

	if (may_be_null && rnd(4) == 0)
		return NULL;
	n = rnd(3) == 0 ? max - rnd((unsigned)max / 4 + 1) : rnd((unsigned)(max < 40 ? max : 40) + 1);
	if (nonempty && n == 0)
		n = 1;
	s = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned c;

		do
			c = rnd(3) ? 0x20 + rnd(0x5f) : rnd(256);
		while (c == 0 || c == '\r' || c == '\n');
		s[i] = (char)c;
	}
	s[n] = '\0';
	return s;
}

static long long
rnd_time(void)
{
	switch (rnd(4)) {
	case 0: return 0;
	case 1: return ENVELOPE_TIME_MAX;
	default: return 1600000000 + rnd(200000000);
	}
}

static void
fill_random(struct envelope *env)
{
	static const char hex[] = "0123456789abcdef";
	static const unsigned notifies[] = { 0, 1, 2, 4, 8, 6, 10, 12, 14 };
	static const char *const statuses[] = { NULL, "2.0.0", "4.4.1", "5.1.1", "5.7.26" };
	size_t n = 1 + rnd(rnd(10) == 0 ? 200 : 5);

	envelope_init(env);
	for (int i = 0; i < QUEUE_ID_LEN; i++)
		env->qid[i] = hex[rnd(16)];
	if (rnd(2))
		for (int i = 0; i < 16; i++)
			env->session_id[i] = hex[rnd(16)];
	env->direction = (enum envelope_direction)rnd(2);
	env->sender = rnd_str(ENVELOPE_ADDR_MAX, 0, 0);
	env->helo = rnd_str(ENVELOPE_HELO_MAX, 1, 0);
	env->client_addr = rnd_str(ENVELOPE_HOST_MAX, 1, 0);
	env->client_name = rnd_str(ENVELOPE_HOST_MAX, 1, 0);
	env->envid = rnd_str(SMTP_ENVID_MAX, 1, 0);
	env->arrival = rnd_time();
	env->size = rnd(2) ? (long long)rnd(1u << 30) : LLONG_MAX - rnd(1000);
	env->body = (enum envelope_body)rnd(3);
	env->smtputf8 = (int)rnd(2);
	env->ret = (enum envelope_ret)rnd(3);
	env->is_bounce = (int)rnd(2);
	env->attempts = rnd(2) ? (int)rnd(100) : INT_MAX;
	env->next_attempt = rnd_time();
	for (size_t i = 0; i < n; i++) {
		char *addr = rnd_str(ENVELOPE_ADDR_MAX, 0, 1);
		char *orcpt = rnd_str(SMTP_ORCPT_MAX, 1, 0);
		size_t k = envelope_add_rcpt(env, addr, orcpt, notifies[rnd(9)]);
		struct envelope_rcpt *r = &env->rcpts[k];

		xfree(addr);
		xfree(orcpt);
		r->state = (enum envelope_rcpt_state)rnd(4);
		r->delay_warned = (int)rnd(2);
		r->done_time = rnd_time();
		r->status = statuses[k % 5] != NULL ? xstrdup(statuses[rnd(5) % 4 + 1]) : NULL;
		r->diag = rnd_str(ENVELOPE_DIAG_MAX, 1, 0);
		r->remote_mta = rnd_str(ENVELOPE_HOST_MAX, 1, 0);
	}
}

static void
test_round_trip_random(void)
{
	char name[32];

	for (int i = 0; i < 3000 && !unit_case_failed; i++) {
		struct envelope env;

		fill_random(&env);
		snprintf(name, sizeof(name), "random #%d", i);
		check_round_trip(name, &env);
		envelope_clear(&env);
	}
}

static void
test_copy(void)
{
	struct envelope a, b;
	const char *diff;

	fill_full(&a);
	envelope_init(&b);
	envelope_copy(&b, &a);
	diff = env_diff(&a, &b);
	CHECK(diff == NULL, "copy differs in %s", diff);
	CHECK(a.sender != b.sender && a.rcpts != b.rcpts && a.rcpts[0].diag != b.rcpts[0].diag,
	    "copy shares memory");
	envelope_clear(&a);
	check_round_trip("copy after source freed", &b);
	envelope_clear(&b);
}

/* ---- parse errors ---- */

struct parse_case {
	const char *name;
	const char *text;	/* complete input; NULL: use basic_text with `from` replaced */
	const char *from, *to;
	const char *want;	/* expected error string */
};

#define H "version 1\nqid 0123456789abcdef\ndirection inbound\narrival 1700000000\nsize 1234\n" \
	"body 7bit\nsmtputf8 0\nret unspec\nis_bounce 0\nattempts 0\nnext_attempt 0\n"
#define S "sender alice@example.com\n"
#define R "rcpt addr=bob@example.org notify=default state=pending delay_warned=0 done_time=0\n"
#define RCPT(f) "rcpt addr=bob@example.org " f "\n"
#define RF(fields) { "rcpt addr=bob@example.org notify=default state=pending delay_warned=0 done_time=0\n", \
	"rcpt " fields "\n" }

static const struct parse_case parse_cases[] = {
	{ "empty input", "", NULL, NULL, "missing version line" },
	{ "no version line", "qid 0123456789abcdef\nend\n", NULL, NULL, "missing version line" },
	{ "version without newline", "version 1", NULL, NULL, "missing version line" },
	{ "version 5", NULL, "version 1\n", "version 5\n", "unsupported envelope version" },
	{ "version 3 without released", NULL, "version 1\n", "version 3\n",
	  "version 3 without released" },
	{ "released key in version 1", NULL, "arrival 1700000000\n",
	  "arrival 1700000000\nreleased 1700000100\n", "unknown key" },
	{ "header key in version 1", NULL, "sender alice@example.com\n",
	  "sender alice@example.com\nheader X-A:%20b\n", "unknown key" },
	{ "quarantine key in version 1", NULL, "sender alice@example.com\n",
	  "sender alice@example.com\nquarantine x\n", "unknown key" },
	{ "tlsrpt key in version 1", NULL, "is_bounce 0\n", "is_bounce 0\ntlsrpt 1\n",
	  "unknown key" },
	{ "version 0", NULL, "version 1\n", "version 0\n", "unsupported envelope version" },
	{ "version 01", NULL, "version 1\n", "version 01\n", "bad version line" },
	{ "version word", NULL, "version 1\n", "version one\n", "bad version line" },
	{ "version bare", NULL, "version 1\n", "version\n", "missing version line" },
	{ "version twice", NULL, "qid ", "version 1\nqid ", "duplicate key" },
	{ "unknown key", NULL, "size 1234\n", "size 1234\ncolour blue\n", "unknown key" },
	{ "key in upper case", NULL, "size 1234\n", "SIZE 1234\n", "unknown key" },
	{ "duplicate single key", NULL, "size 1234\n", "size 1234\nsize 1234\n", "duplicate key" },
	{ "duplicate sender", NULL, S, S S, "duplicate key" },
	{ "key out of order", NULL, "arrival 1700000000\nsize 1234\n",
	    "size 1234\narrival 1700000000\n", "key out of order" },
	{ "sender after rcpt", NULL, S R, R S, "key out of order" },
	{ "missing qid", NULL, "qid 0123456789abcdef\n", "", "missing required key" },
	{ "missing direction", NULL, "direction inbound\n", "", "missing required key" },
	{ "missing arrival", NULL, "arrival 1700000000\n", "", "missing required key" },
	{ "missing size", NULL, "size 1234\n", "", "missing required key" },
	{ "missing body", NULL, "body 7bit\n", "", "missing required key" },
	{ "missing smtputf8", NULL, "smtputf8 0\n", "", "missing required key" },
	{ "missing ret", NULL, "ret unspec\n", "", "missing required key" },
	{ "missing is_bounce", NULL, "is_bounce 0\n", "", "missing required key" },
	{ "missing attempts", NULL, "attempts 0\n", "", "missing required key" },
	{ "missing next_attempt", NULL, "next_attempt 0\n", "", "missing required key" },
	{ "missing sender", NULL, S, "", "missing required key" },
	{ "no recipients", NULL, R, "", "no recipients" },
	{ "qid upper case", NULL, "0123456789abcdef", "0123456789ABCDEF", "bad queue or session id" },
	{ "qid short", NULL, "0123456789abcdef", "0123456789abcde", "bad queue or session id" },
	{ "qid long", NULL, "0123456789abcdef", "0123456789abcdef0", "bad queue or session id" },
	{ "qid not hex", NULL, "0123456789abcdef", "0123456789abcdeg", "bad queue or session id" },
	{ "qid empty", NULL, "qid 0123456789abcdef\n", "qid\n", "missing value" },
	{ "session_id short", NULL, "arrival ", "session_id 0011\narrival ", "bad queue or session id" },
	{ "session_id empty", NULL, "arrival ", "session_id\narrival ", "missing value" },
	{ "direction unknown", NULL, "inbound", "sideways", "bad keyword value" },
	{ "direction case", NULL, "inbound", "Inbound", "bad keyword value" },
	{ "body unknown", NULL, "body 7bit", "body 9bit", "bad keyword value" },
	{ "ret unknown", NULL, "ret unspec", "ret all", "bad keyword value" },
	{ "arrival negative", NULL, "arrival 1700000000", "arrival -1", "bad number" },
	{ "arrival plus", NULL, "arrival 1700000000", "arrival +1", "bad number" },
	{ "arrival leading zero", NULL, "arrival 1700000000", "arrival 01700000000", "bad number" },
	{ "arrival too large", NULL, "arrival 1700000000", "arrival 253402300800", "bad number" },
	{ "arrival hex", NULL, "arrival 1700000000", "arrival 0x10", "bad number" },
	{ "arrival trailing junk", NULL, "arrival 1700000000", "arrival 17x", "bad number" },
	{ "arrival inner space", NULL, "arrival 1700000000", "arrival 1 7", "bad number" },
	{ "size overflow", NULL, "size 1234", "size 9223372036854775808", "bad number" },
	{ "size 20 digits", NULL, "size 1234", "size 99999999999999999999", "bad number" },
	{ "attempts over int", NULL, "attempts 0", "attempts 2147483648", "bad number" },
	{ "smtputf8 2", NULL, "smtputf8 0", "smtputf8 2", "bad flag (want 0 or 1)" },
	{ "is_bounce yes", NULL, "is_bounce 0", "is_bounce yes", "bad flag (want 0 or 1)" },
	{ "trailing space", NULL, "size 1234\n", "size 1234 \n", "bad number" },
	{ "key with trailing space only", NULL, S, "sender \n", "trailing space after key" },
	{ "CRLF line ends", NULL, "size 1234\n", "size 1234\r\n", "bad number" },
	{ "CR in string value", NULL, S, "sender alice@example.com\r\n",
	    "unescaped space, control or 8-bit byte in value" },
	{ "raw space in value", NULL, S, "sender a b@example.com\n",
	    "unescaped space, control or 8-bit byte in value" },
	{ "raw tab in value", NULL, S, "sender a\tb@example.com\n",
	    "unescaped space, control or 8-bit byte in value" },
	{ "raw 8-bit in value", NULL, S, "sender j\xc3\xbcrgen@example.com\n",
	    "unescaped space, control or 8-bit byte in value" },
	{ "escaped NUL", NULL, S, "sender a%00b\n", "NUL, CR or LF in value" },
	{ "escaped CR", NULL, S, "sender a%0Db\n", "NUL, CR or LF in value" },
	{ "escaped LF", NULL, S, "sender a%0Ab\n", "NUL, CR or LF in value" },
	{ "escape lower case", NULL, S, "sender a%c3b\n", "bad escape in value" },
	{ "escape not hex", NULL, S, "sender a%G1b\n", "bad escape in value" },
	{ "escape cut short", NULL, S, "sender a%4\n", "bad escape in value" },
	{ "escape at end", NULL, S, "sender a%\n", "bad escape in value" },
	{ "needless escape", NULL, S, "sender %41lice\n", "needless escape in value" },
	{ "rcpt without fields", NULL, R, "rcpt\n", "missing value" },
	{ "rcpt unknown field", NULL, "done_time=0\n", "done_time=0 colour=blue\n",
	    "unknown recipient field" },
	{ "rcpt field without =", NULL, "done_time=0\n", "done_time=0 diag\n", "bad recipient field" },
	{ "rcpt double space", NULL, "notify=default state", "notify=default  state",
	    "bad recipient field" },
	{ "rcpt trailing space", NULL, "done_time=0\n", "done_time=0 \n", "bad recipient field" },
	{ "rcpt duplicate field", NULL, "done_time=0\n", "done_time=0 done_time=0\n",
	    "duplicate recipient field" },
	{ "rcpt field out of order", NULL, "notify=default state=pending",
	    "state=pending notify=default", "recipient field out of order" },
	{ "rcpt missing addr", NULL, "rcpt addr=bob@example.org ", "rcpt ", "missing recipient field" },
	{ "rcpt missing state", NULL, " state=pending", "", "missing recipient field" },
	{ "rcpt missing done_time", NULL, " done_time=0", "", "missing recipient field" },
	{ "rcpt empty addr", NULL, "addr=bob@example.org", "addr=", "empty recipient address" },
	{ "rcpt bad state", NULL, "state=pending", "state=lost", "bad keyword value" },
	{ "rcpt notify empty", NULL, "notify=default", "notify=", "bad notify" },
	{ "rcpt notify unknown", NULL, "notify=default", "notify=always", "bad notify" },
	{ "rcpt notify never with other", NULL, "notify=default", "notify=never,failure",
	    "bad notify" },
	{ "rcpt notify repeated", NULL, "notify=default", "notify=failure,failure", "bad notify" },
	{ "rcpt notify out of order", NULL, "notify=default", "notify=delay,failure", "bad notify" },
	{ "rcpt notify trailing comma", NULL, "notify=default", "notify=failure,", "bad notify" },
	{ "rcpt notify leading comma", NULL, "notify=default", "notify=,failure", "bad notify" },
	{ "rcpt notify upper case", NULL, "notify=default", "notify=FAILURE", "bad notify" },
	{ "rcpt delay_warned 2", NULL, "delay_warned=0", "delay_warned=2", "bad flag (want 0 or 1)" },
	{ "rcpt done_time negative", NULL, "done_time=0", "done_time=-5", "bad number" },
	{ "rcpt status class 3", NULL, "done_time=0\n", "done_time=0 status=3.0.0\n",
	    "bad recipient status" },
	{ "rcpt status short", NULL, "done_time=0\n", "done_time=0 status=5.1\n",
	    "bad recipient status" },
	{ "rcpt status 4 digits", NULL, "done_time=0\n", "done_time=0 status=5.1000.1\n",
	    "bad recipient status" },
	{ "rcpt status junk", NULL, "done_time=0\n", "done_time=0 status=5.1.1x\n",
	    "bad recipient status" },
	{ "rcpt status too long", NULL, "done_time=0\n", "done_time=0 status=5.1.11111111111111111\n",
	    "value too long" },
	{ "missing end marker", NULL, "end\n", "", "truncated envelope (no end marker)" },
	{ "end without newline", NULL, "end\n", "end", "truncated envelope (no end marker)" },
	{ "end with value", NULL, "end\n", "end now\n", "bad end marker" },
	{ "end twice", NULL, "end\n", "end\nend\n", "data after end marker" },
	{ "data after end", NULL, "end\n", "end\nx", "data after end marker" },
	{ "blank line", NULL, "size 1234\n", "size 1234\n\n", "unknown key" },
	{ "end too early", NULL, "size 1234\n", "size 1234\nend\n", "data after end marker" },
};

/* Replaces the first occurrence of from in basic_text. */
static char *
edited(const char *from, const char *to)
{
	const char *at = strstr(basic_text, from);
	char *s;

	if (at == NULL)
		return NULL;
	s = xasprintf("%.*s%s%s", (int)(at - basic_text), basic_text, to, at + strlen(from));
	return s;
}

static void
expect_parse_error(const char *name, struct slice text, const char *want)
{
	struct envelope env;
	const char *error = NULL;
	int r;

	envelope_init(&env);
	r = envelope_parse(text, &env, &error);
	CHECK(r == -1, "%s: parse succeeded", name);
	if (r == -1 && want != NULL)
		CHECK(error != NULL && strcmp(error, want) == 0, "%s: got \"%s\", want \"%s\"", name,
		    error ? error : "(null)", want);
	CHECK(env.n_rcpts == 0 && env.rcpts == NULL && env.sender == NULL && env.qid[0] == '\0',
	    "%s: envelope not cleared after error", name);
	envelope_clear(&env);
}

static void
test_parse_errors(void)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		char *text;

		if (c->text != NULL) {
			expect_parse_error(c->name, slice_from_str(c->text), c->want);
			continue;
		}
		text = edited(c->from, c->to);
		CHECK(text != NULL, "%s: bad test, \"%s\" not in basic_text", c->name, c->from);
		if (text != NULL)
			expect_parse_error(c->name, slice_from_str(text), c->want);
		xfree(text);
	}
}

static void
test_parse_nul_byte(void)
{
	static const char text[] = H "sender alice\0@example.com\n" R "end\n";
	/* Found by fuzz_envelope: a NUL right after a keyword made the compare read past it. */
	static const char kw[] = "version 1\nqid 0123456789abcdef\ndirection inbound\n"
	    "arrival 1700000000\nsize 1234\nbody 7bit\nsmtputf8 0\nret hdrs\0x\n";

	expect_parse_error("raw NUL in value", (struct slice){ text, sizeof(text) - 1 },
	    "unescaped space, control or 8-bit byte in value");
	expect_parse_error("NUL after keyword", (struct slice){ kw, sizeof(kw) - 1 },
	    "bad keyword value");
}

static void
test_parse_accepts_basic(void)
{
	struct envelope env;
	const char *error = NULL;

	envelope_init(&env);
	CHECK(envelope_parse(SLICE_LIT(H S R "end\n"), &env, &error) == 0, "parse: %s", error);
	CHECK_STR(env.sender, "alice@example.com");
	CHECK_INT(env.size, 1234);
	envelope_clear(&env);
	/* The null sender is the bare key. */
	CHECK(envelope_parse(SLICE_LIT(H "sender\n" R "end\n"), &env, &error) == 0, "parse: %s",
	    error);
	CHECK_STR(env.sender, "");
	envelope_clear(&env);
}

/* Every proper prefix of a valid envelope is refused (a torn write is detected). */
static void
test_parse_truncated(void)
{
	static const char *const texts[] = { basic_text, full_text };

	for (size_t t = 0; t < 2; t++) {
		size_t n = strlen(texts[t]);

		for (size_t len = 0; len < n; len++) {
			struct envelope env;
			const char *error = NULL;

			envelope_init(&env);
			CHECK(envelope_parse((struct slice){ texts[t], len }, &env, &error) == -1,
			    "text %zu: prefix of %zu bytes parsed", t, len);
			envelope_clear(&env);
		}
	}
}

static void
test_parse_too_many_rcpts(void)
{
	struct buf text;
	struct envelope env;
	const char *error = NULL;

	buf_init(&text, ENVELOPE_FILE_MAX);
	buf_append_str(&text, H S);
	for (int i = 0; i < SMTP_RCPT_CAP; i++)
		buf_append_str(&text, R);
	buf_append_str(&text, "end\n");
	envelope_init(&env);
	CHECK(envelope_parse(buf_slice(&text), &env, &error) == 0, "cap: %s", error);
	CHECK_INT(env.n_rcpts, SMTP_RCPT_CAP);
	envelope_clear(&env);
	text.len -= 4;
	buf_append_str(&text, R "end\n");
	expect_parse_error("one over SMTP_RCPT_CAP", buf_slice(&text), "too many recipients");
	buf_free(&text);
}

static void
test_parse_too_large(void)
{
	struct buf text;

	buf_init(&text, ENVELOPE_FILE_MAX + 2);
	buf_append_str(&text, H S R);
	while (text.len <= ENVELOPE_FILE_MAX)
		buf_append_char(&text, 'x');
	expect_parse_error("over ENVELOPE_FILE_MAX", buf_slice(&text), "envelope too large");
	buf_free(&text);
}

/* Oversize values by one byte, each refused; the same at the limit accepted. */
static void
test_parse_field_limits(void)
{
	static const struct { const char *name, *from, *fmt; size_t max; } cases[] = {
		{ "sender", S, "sender %s\n", ENVELOPE_ADDR_MAX },
		{ "helo", S, "helo %s\n" S, ENVELOPE_HELO_MAX },
		{ "client_addr", S, "client_addr %s\n" S, ENVELOPE_HOST_MAX },
		{ "client_name", S, "client_name %s\n" S, ENVELOPE_HOST_MAX },
		{ "envid", "is_bounce", "envid %s\nis_bounce", SMTP_ENVID_MAX },
		{ "addr", "addr=bob@example.org", "addr=%s", ENVELOPE_ADDR_MAX },
		{ "orcpt", "addr=bob@example.org", "addr=b orcpt=%s", SMTP_ORCPT_MAX },
		{ "remote_mta", "done_time=0", "done_time=0 remote_mta=%s", ENVELOPE_HOST_MAX },
		{ "diag", "done_time=0", "done_time=0 diag=%s", ENVELOPE_DIAG_MAX },
	};
	char val[3 * ENVELOPE_DIAG_MAX + 8], to[3 * ENVELOPE_DIAG_MAX + 64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int over = 0; over <= 1; over++) {
			size_t n = cases[i].max + (size_t)over;
			struct envelope env;
			const char *error = NULL;
			char *text, *v = val;

			/* Alternate plain and escaped bytes: the limit counts decoded octets. */
			for (size_t k = 0; k < n; k++) {
				memcpy(v, k % 2 ? "%20" : "a", k % 2 ? 3 : 1);
				v += k % 2 ? 3 : 1;
			}
			*v = '\0';
			snprintf(to, sizeof(to), cases[i].fmt, val);
			text = edited(cases[i].from, to);
			envelope_init(&env);
			if (over)
				expect_parse_error(cases[i].name, slice_from_str(text), "value too long");
			else
				CHECK(envelope_parse(slice_from_str(text), &env, &error) == 0,
				    "%s at limit: %s", cases[i].name, error);
			envelope_clear(&env);
			xfree(text);
		}
	}
}

/* ---- the writer refuses what the parser would refuse ---- */

static void
test_write_refuses_invalid(void)
{
	static const char *const names[] = {
		"bad qid", "upper-case qid", "NULL sender", "no recipients", "CR in diag", "LF in sender",
		"NEVER with FAILURE", "unknown notify bit", "state 4", "delay_warned 2", "long addr",
		"empty addr", "NULL addr", "bad status", "negative size", "negative attempts",
		"arrival past 9999", "smtputf8 2", "direction 2", "body 3", "ret 3", "bad session id",
		"long envid", "long helo", "long diag", "negative done_time",
	};
	char big[ENVELOPE_HELO_MAX + 2];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct envelope env;
		struct envelope_rcpt *r;
		struct buf out;
		const char *error = NULL;

		fill_basic(&env);
		r = &env.rcpts[0];
		switch (i) {
		case 0: env.qid[3] = 'x'; break;
		case 1: env.qid[3] = 'A'; break;
		case 2: xfree(env.sender); env.sender = NULL; break;
		case 3: xfree(r->addr); env.n_rcpts = 0; break;
		case 4: r->diag = xstrdup("550 no\r\nX-Injected: yes"); break;
		case 5: xfree(env.sender); env.sender = xstrdup("a\n@b"); break;
		case 6: r->notify = ENV_NOTIFY_NEVER | ENV_NOTIFY_FAILURE; break;
		case 7: r->notify = 0x10; break;
		case 8: r->state = (enum envelope_rcpt_state)4; break;
		case 9: r->delay_warned = 2; break;
		case 10: xfree(r->addr); big[ENVELOPE_ADDR_MAX + 1] = '\0'; r->addr = xstrdup(big);
			big[ENVELOPE_ADDR_MAX + 1] = 'a'; break;
		case 11: xfree(r->addr); r->addr = xstrdup(""); break;
		case 12: xfree(r->addr); r->addr = NULL; break;
		case 13: r->status = xstrdup("5.1"); break;
		case 14: env.size = -1; break;
		case 15: env.attempts = -1; break;
		case 16: env.arrival = ENVELOPE_TIME_MAX + 1; break;
		case 17: env.smtputf8 = 2; break;
		case 18: env.direction = (enum envelope_direction)2; break;
		case 19: env.body = (enum envelope_body)3; break;
		case 20: env.ret = (enum envelope_ret)3; break;
		case 21: memcpy(env.session_id, "00112233", 9); break;
		case 22: big[SMTP_ENVID_MAX + 1] = '\0'; env.envid = xstrdup(big);
			big[SMTP_ENVID_MAX + 1] = 'a'; break;
		case 23: env.helo = xstrdup(big); break;
		case 24: r->diag = xmalloc(ENVELOPE_DIAG_MAX + 2); memset(r->diag, 'd', ENVELOPE_DIAG_MAX + 1);
			r->diag[ENVELOPE_DIAG_MAX + 1] = '\0'; break;
		case 25: r->done_time = -1; break;
		}
		buf_init(&out, 4096);
		buf_append_str(&out, "keep");
		CHECK(envelope_write(&env, &out) == -1, "%s: write succeeded", names[i]);
		CHECK(out.len == 4 && strcmp(out.data, "keep") == 0, "%s: out changed", names[i]);
		CHECK(envelope_validate(&env, &error) == -1 && error != NULL,
		    "%s: validate accepted", names[i]);
		buf_free(&out);
		envelope_clear(&env);
	}
}

static void
test_write_buffer_full(void)
{
	struct envelope env;
	struct buf out;

	fill_basic(&env);
	for (size_t max = 0; max < sizeof(basic_text) - 1; max += 7) {
		buf_init(&out, max);
		CHECK(envelope_write(&env, &out) == -1, "max %zu: write succeeded", max);
		CHECK_INT(out.len, 0);
		buf_free(&out);
	}
	buf_init(&out, sizeof(basic_text) - 1);
	CHECK_INT(envelope_write(&env, &out), 0);
	CHECK_STR(out.data, basic_text);
	buf_free(&out);
	envelope_clear(&env);
}

static void
test_validate_ok(void)
{
	struct envelope env;
	const char *error = NULL;

	fill_full(&env);
	CHECK(envelope_validate(&env, &error) == 0, "validate: %s", error);
	envelope_clear(&env);
}

static void
test_status_is_valid(void)
{
	static const struct { const char *s; int want; } cases[] = {
		{ "2.0.0", 1 }, { "4.4.1", 1 }, { "5.7.26", 1 }, { "5.999.999", 1 }, { "5.1.1", 1 },
		{ NULL, 0 }, { "", 0 }, { "3.0.0", 0 }, { "5.0", 0 }, { "5..0", 0 }, { "5.0.", 0 },
		{ "5.1000.0", 0 }, { "5.0.1000", 0 }, { "5.0.0 ", 0 }, { "55.0.0", 0 }, { "5,0,0", 0 },
		{ "x.0.0", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(envelope_status_is_valid(cases[i].s) == cases[i].want, "\"%s\": got %d, want %d",
		    cases[i].s ? cases[i].s : "(null)", !cases[i].want, cases[i].want);
}

static void
test_set_result(void)
{
	struct envelope env;
	struct envelope_rcpt *r;
	char long_diag[ENVELOPE_DIAG_MAX + 20];

	fill_basic(&env);
	r = &env.rcpts[0];
	envelope_rcpt_set_result(r, ENV_RCPT_FAILED, "5.1.1", "550 5.1.1\r\nno\tsuch\x01user",
	    "mx.example.org", 1700000100);
	CHECK_INT(r->state, ENV_RCPT_FAILED);
	CHECK_INT(r->done_time, 1700000100);
	CHECK_STR(r->status, "5.1.1");
	CHECK_STR(r->diag, "550 5.1.1  no such?user");
	CHECK_STR(r->remote_mta, "mx.example.org");
	check_round_trip("after set_result", &env);
	envelope_rcpt_set_result(r, ENV_RCPT_PENDING, "4.7", NULL, "bad host name", 1700000200);
	CHECK_INT(r->done_time, 0);
	CHECK_STR(r->status, NULL);
	CHECK_STR(r->diag, NULL);
	CHECK_STR(r->remote_mta, NULL);
	/* Cut at the limit, never inside a UTF-8 sequence. */
	memset(long_diag, 'x', sizeof(long_diag) - 1);
	long_diag[sizeof(long_diag) - 1] = '\0';
	long_diag[ENVELOPE_DIAG_MAX - 1] = (char)0xc3;
	long_diag[ENVELOPE_DIAG_MAX] = (char)0xbc;
	envelope_rcpt_set_result(r, ENV_RCPT_DELIVERED, "2.0.0", long_diag, NULL, 5);
	CHECK_INT(strlen(r->diag), ENVELOPE_DIAG_MAX - 1);
	check_round_trip("after long set_result", &env);
	envelope_clear(&env);
}

/* Filter results: quarantine verdict and prepended header fields survive a round trip in
 * order; malformed fields are refused by write and parse. */
static void
test_filter_fields(void)
{
	struct envelope env, back;
	struct buf a;
	const char *error = NULL;

	fill_basic(&env);
	env.quarantine = xstrdup("score=7.50 symbols=SPF_FAIL(3.00) 100%");
	envelope_add_header(&env, "Authentication-Results: mx.example; spf=fail smtp.mailfrom=a.example");
	envelope_add_header(&env, "X-MailGuard-Score: 7.50");
	check_round_trip("filter_fields", &env);
	buf_init(&a, ENVELOPE_FILE_MAX);
	envelope_init(&back);
	CHECK(envelope_write(&env, &a) == 0, "write");
	CHECK(strstr(a.data, "quarantine score=7.50%20symbols") != NULL, "got\n%s", a.data);
	CHECK(envelope_parse(buf_slice(&a), &back, &error) == 0, "parse: %s", error);
	CHECK_INT(back.n_headers, 2);
	if (back.n_headers == 2)
		CHECK_STR(back.headers[1], "X-MailGuard-Score: 7.50");
	envelope_clear(&back);
	buf_reset(&a);
	envelope_add_header(&env, "no colon here");
	CHECK(envelope_write(&env, &a) == -1, "a field without a name was written");
	envelope_clear(&env);
	buf_free(&a);
}

/* The TLS-RPT report flag (version 2): written as "tlsrpt 1" only when set, so an envelope
 * without it stays version 1; "tlsrpt 0", a version-2 text with nothing of version 2 and a
 * misplaced key are refused. */
/* The DMARC report flag (version 4): written as "dmarcrpt 1" after tlsrpt only when set; a
 * version-4 text needs it, an older version refuses it, a value other than 1 is refused. */
static void
test_dmarcrpt_flag(void)
{
	struct envelope env, back, cp;
	struct buf a;
	const char *error = NULL;
	char text[4096];
	const char *at;

	fill_basic(&env);
	buf_init(&a, ENVELOPE_FILE_MAX);
	env.is_dmarcrpt = 1;
	check_round_trip("dmarcrpt", &env);
	CHECK(envelope_write(&env, &a) == 0, "write");
	CHECK(strncmp(a.data, "version 4\n", 10) == 0, "flagged: got\n%s", a.data);
	CHECK(strstr(a.data, "\nis_bounce 0\ndmarcrpt 1\nattempts ") != NULL, "got\n%s", a.data);
	at = strstr(a.data, "dmarcrpt 1\n");
	/* version 3 with the key: unknown key */
	snprintf(text, sizeof(text), "version 3\n%s", strchr(a.data, '\n') + 1);
	envelope_init(&back);
	CHECK(envelope_parse(slice_from_str(text), &back, &error) == -1, "v3 accepted");
	/* version 4 without it */
	snprintf(text, sizeof(text), "%.*s%s", (int)(at - a.data), a.data, at + 11);
	envelope_init(&back);
	error = NULL;
	CHECK(envelope_parse(slice_from_str(text), &back, &error) == -1 && error != NULL &&
	    strcmp(error, "version 4 without dmarcrpt") == 0, "v4 without: %s", error);
	snprintf(text, sizeof(text), "%.*sdmarcrpt 2\n%s", (int)(at - a.data), a.data, at + 11);
	envelope_init(&back);
	error = NULL;
	CHECK(envelope_parse(slice_from_str(text), &back, &error) == -1 && error != NULL &&
	    strcmp(error, "bad dmarcrpt (want 1)") == 0, "dmarcrpt 2: %s", error);
	envelope_copy(&cp, &env);
	CHECK_INT(cp.is_dmarcrpt, 1);
	envelope_clear(&cp);
	envelope_clear(&env);
	buf_free(&a);
}

static void
test_tlsrpt_flag(void)
{
	static const struct {
		const char *name, *to, *want;	/* to replaces "tlsrpt 1\n"; NULL: see below */
	} bad[] = {
		{ "tlsrpt 0", "tlsrpt 0\n", "bad tlsrpt (want 1)" },
		{ "tlsrpt yes", "tlsrpt yes\n", "bad tlsrpt (want 1)" },
		{ "tlsrpt bare", "tlsrpt\n", "missing value" },
		{ "tlsrpt twice", "tlsrpt 1\ntlsrpt 1\n", "duplicate key" },
		{ "version 2 without v2 keys", "", "version 2 without quarantine, header or tlsrpt" },
		{ "tlsrpt after sender", NULL, "key out of order" },
	};
	struct envelope env, back;
	struct buf a;
	const char *error = NULL;

	fill_basic(&env);
	buf_init(&a, ENVELOPE_FILE_MAX);
	CHECK(envelope_write(&env, &a) == 0, "write");
	CHECK(strncmp(a.data, "version 1\n", 10) == 0, "unflagged: got\n%s", a.data);
	CHECK(strstr(a.data, "tlsrpt") == NULL, "unflagged: got\n%s", a.data);
	buf_reset(&a);
	env.is_tlsrpt = 1;
	check_round_trip("tlsrpt", &env);
	CHECK(envelope_write(&env, &a) == 0, "write");
	CHECK(strncmp(a.data, "version 2\n", 10) == 0, "flagged: got\n%s", a.data);
	CHECK(strstr(a.data, "\nis_bounce 0\ntlsrpt 1\nattempts ") != NULL, "got\n%s", a.data);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[4096];
		const char *at = strstr(a.data, "tlsrpt 1\n"), *rest = at + 9;
		int pre = (int)(at - a.data);

		if (bad[i].to != NULL) {
			snprintf(text, sizeof(text), "%.*s%s%s", pre, a.data, bad[i].to, rest);
		} else {	/* moved behind the sender line */
			const char *snd = strstr(rest, "\nsender ") + 1;
			const char *eol = strchr(snd, '\n') + 1;

			snprintf(text, sizeof(text), "%.*s%.*stlsrpt 1\n%s", pre, a.data,
			    (int)(eol - rest), rest, eol);
		}
		envelope_init(&back);
		error = NULL;
		CHECK(envelope_parse(slice_from_str(text), &back, &error) == -1, "%s: accepted",
		    bad[i].name);
		if (error != NULL)
			CHECK(strcmp(error, bad[i].want) == 0, "%s: got %s, want %s", bad[i].name,
			    error, bad[i].want);
	}
	{
		struct envelope cp;

		envelope_copy(&cp, &env);
		CHECK_INT(cp.is_tlsrpt, 1);
		envelope_clear(&cp);
	}
	envelope_clear(&env);
	buf_free(&a);
}

/* The release time (version 3): written as "released T" after arrival only when set, so an
 * envelope never released keeps its version; 0, a version-3 text without it, a misplaced key
 * and a version-2 text carrying it are refused; the lifetime counts from it. */
static void
test_released_field(void)
{
	static const struct {
		const char *name, *to, *want;	/* to replaces "released 1700000500\n" */
	} bad[] = {
		{ "released 0", "released 0\n", "bad released (0)" },
		{ "released word", "released soon\n", "bad number" },
		{ "released bare", "released\n", "missing value" },
		{ "released twice", "released 1700000500\nreleased 1700000500\n", "duplicate key" },
		{ "released too late", "released 253402300800\n", "bad number" },
		{ "version 3 without it", "", "version 3 without released" },
	};
	struct envelope env, back;
	struct buf a;
	const char *error = NULL;

	fill_basic(&env);
	buf_init(&a, ENVELOPE_FILE_MAX);
	CHECK_INT((int)(envelope_lifetime_start(&env) == env.arrival), 1);
	CHECK(envelope_write(&env, &a) == 0, "write");
	CHECK(strstr(a.data, "released") == NULL, "not released: got\n%s", a.data);
	buf_reset(&a);
	env.released = 1700000500;
	CHECK_INT((int)(envelope_lifetime_start(&env) == 1700000500), 1);
	check_round_trip("released", &env);
	CHECK(envelope_write(&env, &a) == 0, "write");
	CHECK(strncmp(a.data, "version 3\n", 10) == 0, "released: got\n%s", a.data);
	CHECK(strstr(a.data, "\narrival 1700000000\nreleased 1700000500\nsize ") != NULL,
	    "got\n%s", a.data);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[4096];
		const char *at = strstr(a.data, "released 1700000500\n"), *rest = at + 20;
		int pre = (int)(at - a.data);

		snprintf(text, sizeof(text), "%.*s%s%s", pre, a.data, bad[i].to, rest);
		envelope_init(&back);
		error = NULL;
		CHECK(envelope_parse(slice_from_str(text), &back, &error) == -1, "%s: accepted",
		    bad[i].name);
		if (error != NULL)
			CHECK(strcmp(error, bad[i].want) == 0, "%s: got %s, want %s", bad[i].name,
			    error, bad[i].want);
	}
	{	/* a version-2 text (headers) with released is refused: version 3 is needed */
		char text[4096];
		const char *at = strstr(a.data, "\nsender ");

		envelope_add_header(&env, "X-A: b");
		buf_reset(&a);
		CHECK(envelope_write(&env, &a) == 0, "write");
		CHECK(strncmp(a.data, "version 3\n", 10) == 0, "released+header: got\n%s", a.data);
		check_round_trip("released+header", &env);
		at = strchr(a.data, '\n');
		snprintf(text, sizeof(text), "version 2%s", at);
		envelope_init(&back);
		CHECK(envelope_parse(slice_from_str(text), &back, &error) == -1, "v2 with released");
		CHECK(strcmp(error, "unknown key") == 0, "got %s", error);
	}
	{
		struct envelope cp;

		envelope_copy(&cp, &env);
		CHECK(cp.released == 1700000500, "copy lost released");
		envelope_clear(&cp);
	}
	envelope_clear(&env);
	buf_free(&a);
}

/* A header field the writer would refuse (no colon, space in the name, empty name) is refused by
 * the parser too, so every accepted envelope can be written back (found by fuzz_envelope). */
static void
test_parse_bad_header(void)
{
	static const struct {
		const char *field, *want;
	} tc[] = {
		{ "X-Az%20b", "bad header" },
		{ "X%20A:%20b", "bad header" },
		{ ":%20b", "bad header" },
		{ "X-A:%20b", NULL },
	};

	for (size_t i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
		char text[1024];
		struct envelope env;
		const char *error = NULL;
		int r;

		snprintf(text, sizeof(text), "version 2\nqid 0123456789abcdef\ndirection inbound\n"
		    "arrival 1700000000\nsize 1234\nbody 7bit\nsmtputf8 0\nret unspec\nis_bounce 0\n"
		    "attempts 0\nnext_attempt 0\nsender alice@example.com\nheader %s\n"
		    "rcpt addr=bob@example.org notify=default state=pending delay_warned=0 "
		    "done_time=0\nend\n", tc[i].field);
		envelope_init(&env);
		r = envelope_parse(slice_from_str(text), &env, &error);
		if (tc[i].want == NULL)
			CHECK(r == 0, "%s: refused: %s", tc[i].field, error ? error : "?");
		else
			CHECK(r == -1 && error != NULL && strcmp(error, tc[i].want) == 0,
			    "%s: got %s, want %s", tc[i].field, r == 0 ? "accepted" : error, tc[i].want);
		envelope_clear(&env);
	}
}

static const struct unit_case cases[] = {
	{ "init_clear", test_init_clear },
	{ "add_rcpt", test_add_rcpt },
	{ "addr_domain", test_addr_domain },
	{ "write_basic_exact", test_write_basic_exact },
	{ "write_full_exact", test_write_full_exact },
	{ "parse_full_fields", test_parse_full_fields },
	{ "parse_accepts_basic", test_parse_accepts_basic },
	{ "round_trip_table", test_round_trip_table },
	{ "round_trip_limits", test_round_trip_limits },
	{ "round_trip_max_rcpts", test_round_trip_max_rcpts },
	{ "round_trip_random", test_round_trip_random },
	{ "copy", test_copy },
	{ "parse_errors", test_parse_errors },
	{ "parse_nul_byte", test_parse_nul_byte },
	{ "parse_truncated", test_parse_truncated },
	{ "parse_too_many_rcpts", test_parse_too_many_rcpts },
	{ "parse_too_large", test_parse_too_large },
	{ "parse_field_limits", test_parse_field_limits },
	{ "write_refuses_invalid", test_write_refuses_invalid },
	{ "write_buffer_full", test_write_buffer_full },
	{ "validate_ok", test_validate_ok },
	{ "status_is_valid", test_status_is_valid },
	{ "set_result", test_set_result },
	{ "filter_fields", test_filter_fields },
	{ "tlsrpt_flag", test_tlsrpt_flag },
	{ "dmarcrpt_flag", test_dmarcrpt_flag },
	{ "released_field", test_released_field },
	{ "parse_bad_header", test_parse_bad_header },
};

UNIT_MAIN(cases)
