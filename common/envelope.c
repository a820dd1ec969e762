/* envelope.c: the envelope type and its one text serialisation (doc/queue-format.md, "Envelope
 * format"), shared by smtpd, queue (spool files) and delivery (IPC).
 * envelope_parse takes untrusted bytes (a spool file may be damaged; IPC input is fuzzed): it
 * never writes into its input, caps the input at ENVELOPE_FILE_MAX, recipients at SMTP_RCPT_CAP
 * and every field at the common/limits.h size, and accepts only the canonical form that
 * envelope_write produces, so a parsed envelope written again gives back the same bytes.
 * Values are %XX-escaped (enc_value) so that no value can hold a space, CR, LF or NUL. */
#include "common/envelope.h"

#include <limits.h>
#include <string.h>

#include "lib/strnum.h"
#include "lib/xalloc.h"

/* Top-level keys, in the one order the writer uses and the parser requires. */
enum env_key {
	K_VERSION, K_QID, K_DIRECTION, K_SESSION_ID, K_ARRIVAL, K_RELEASED, K_SIZE, K_BODY, K_SMTPUTF8,
	K_RET, K_ENVID, K_IS_BOUNCE, K_TLSRPT, K_DMARCRPT, K_ATTEMPTS, K_NEXT_ATTEMPT, K_CLIENT_ADDR,
	K_CLIENT_NAME, K_HELO, K_SENDER, K_QUARANTINE, K_HEADER, K_RCPT, K_END, K_COUNT
};

static const struct slice env_keys[K_COUNT] = {
	SLICE_LIT("version"), SLICE_LIT("qid"), SLICE_LIT("direction"), SLICE_LIT("session_id"),
	SLICE_LIT("arrival"), SLICE_LIT("released"), SLICE_LIT("size"), SLICE_LIT("body"), SLICE_LIT("smtputf8"),
	SLICE_LIT("ret"), SLICE_LIT("envid"), SLICE_LIT("is_bounce"), SLICE_LIT("tlsrpt"),
	SLICE_LIT("dmarcrpt"), SLICE_LIT("attempts"),
	SLICE_LIT("next_attempt"), SLICE_LIT("client_addr"), SLICE_LIT("client_name"),
	SLICE_LIT("helo"), SLICE_LIT("sender"), SLICE_LIT("quarantine"), SLICE_LIT("header"),
	SLICE_LIT("rcpt"), SLICE_LIT("end"),
};

#define KEY_BIT(k) (1u << (k))
/* Everything the writer always emits; the optional keys hold strings that may be NULL. */
#define KEYS_REQUIRED (KEY_BIT(K_VERSION) | KEY_BIT(K_QID) | KEY_BIT(K_DIRECTION) | \
	KEY_BIT(K_ARRIVAL) | KEY_BIT(K_SIZE) | KEY_BIT(K_BODY) | KEY_BIT(K_SMTPUTF8) | \
	KEY_BIT(K_RET) | KEY_BIT(K_IS_BOUNCE) | KEY_BIT(K_ATTEMPTS) | KEY_BIT(K_NEXT_ATTEMPT) | \
	KEY_BIT(K_SENDER) | KEY_BIT(K_RCPT) | KEY_BIT(K_END))

/* Recipient fields, in order; R_ADDR..R_DONE_TIME are required except R_ORCPT. */
enum rcpt_field {
	R_ADDR, R_ORCPT, R_NOTIFY, R_STATE, R_DELAY_WARNED, R_DONE_TIME, R_REMOTE_MTA, R_STATUS,
	R_DIAG, R_COUNT
};

static const struct slice rcpt_fields[R_COUNT] = {
	SLICE_LIT("addr"), SLICE_LIT("orcpt"), SLICE_LIT("notify"), SLICE_LIT("state"),
	SLICE_LIT("delay_warned"), SLICE_LIT("done_time"), SLICE_LIT("remote_mta"),
	SLICE_LIT("status"), SLICE_LIT("diag"),
};

#define RCPT_REQUIRED ((1u << R_ADDR) | (1u << R_NOTIFY) | (1u << R_STATE) | \
	(1u << R_DELAY_WARNED) | (1u << R_DONE_TIME))

static const char *const direction_names[] = { "inbound", "outbound" };
static const char *const body_names[] = { "7bit", "8bitmime", "binarymime" };
static const char *const ret_names[] = { "unspec", "full", "hdrs" };
static const char *const state_names[] = { "pending", "delivered", "failed", "bounced" };
/* NOTIFY keywords in bit order (ENV_NOTIFY_NEVER = 0x1 ... ENV_NOTIFY_DELAY = 0x8). */
static const char *const notify_names[] = { "never", "success", "failure", "delay" };
#define NOTIFY_DEFAULT_NAME "default"
#define N_NAMES(a) (sizeof(a) / sizeof((a)[0]))

static const char hex_upper[] = "0123456789ABCDEF";

/* dec_value decodes into a stack buffer of ENVELOPE_DIAG_MAX + 1 bytes. */
_Static_assert(ENVELOPE_DIAG_MAX >= ENVELOPE_ADDR_MAX && ENVELOPE_DIAG_MAX >= ENVELOPE_HELO_MAX &&
    ENVELOPE_DIAG_MAX >= ENVELOPE_HOST_MAX && ENVELOPE_DIAG_MAX >= SMTP_ORCPT_MAX &&
    ENVELOPE_DIAG_MAX >= SMTP_ENVID_MAX, "dec_value buffer too small");

void
envelope_init(struct envelope *env)
{
	memset(env, 0, sizeof(*env));
	env->direction = ENV_INBOUND;
	env->body = ENV_BODY_7BIT;
	env->ret = ENV_RET_UNSPEC;
}

static void
rcpt_free(struct envelope_rcpt *r)
{
	xfree(r->addr);
	xfree(r->orcpt);
	xfree(r->status);
	xfree(r->diag);
	xfree(r->remote_mta);
}

void
envelope_clear(struct envelope *env)
{
	for (size_t i = 0; i < env->n_rcpts; i++)
		rcpt_free(&env->rcpts[i]);
	xfree(env->rcpts);
	xfree(env->sender);
	xfree(env->helo);
	xfree(env->client_addr);
	xfree(env->client_name);
	xfree(env->envid);
	xfree(env->quarantine);
	for (size_t i = 0; i < env->n_headers; i++)
		xfree(env->headers[i]);
	xfree(env->headers);
	envelope_init(env);
}

/* A zeroed new recipient slot at the end of the array. */
static struct envelope_rcpt *
rcpt_new(struct envelope *env)
{
	struct envelope_rcpt *r;

	if (env->n_rcpts == env->cap_rcpts) {
		size_t ncap = env->cap_rcpts ? env->cap_rcpts * 2 : 4;

		env->rcpts = xreallocarray(env->rcpts, ncap, sizeof(*env->rcpts));
		env->cap_rcpts = ncap;
	}
	r = &env->rcpts[env->n_rcpts++];
	memset(r, 0, sizeof(*r));
	r->state = ENV_RCPT_PENDING;
	return r;
}

size_t
envelope_add_rcpt(struct envelope *env, const char *addr, const char *orcpt, unsigned notify)
{
	struct envelope_rcpt *r = rcpt_new(env);

	r->addr = xstrdup(addr);
	r->orcpt = orcpt != NULL ? xstrdup(orcpt) : NULL;
	r->notify = notify;
	return env->n_rcpts - 1;
}

size_t
envelope_pending(const struct envelope *env)
{
	size_t n = 0;

	for (size_t i = 0; i < env->n_rcpts; i++)
		if (env->rcpts[i].state == ENV_RCPT_PENDING)
			n++;
	return n;
}

long long
envelope_headers_size(const struct envelope *env)
{
	long long n = 0;

	for (size_t i = 0; i < env->n_headers; i++)
		n += (long long)strlen(env->headers[i]) + 2;
	return n;
}

void
envelope_add_header(struct envelope *env, const char *field)
{
	env->headers = xreallocarray(env->headers, env->n_headers + 1, sizeof(*env->headers));
	env->headers[env->n_headers++] = xstrdup(field);
}

const char *
envelope_addr_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at != NULL ? at + 1 : "";
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

void
envelope_copy(struct envelope *dst, const struct envelope *src)
{
	*dst = *src;
	dst->sender = dup_or_null(src->sender);
	dst->helo = dup_or_null(src->helo);
	dst->client_addr = dup_or_null(src->client_addr);
	dst->client_name = dup_or_null(src->client_name);
	dst->envid = dup_or_null(src->envid);
	dst->quarantine = dup_or_null(src->quarantine);
	dst->headers = NULL;
	dst->n_headers = 0;
	for (size_t i = 0; i < src->n_headers; i++)
		envelope_add_header(dst, src->headers[i]);
	dst->rcpts = NULL;
	dst->n_rcpts = dst->cap_rcpts = 0;
	for (size_t i = 0; i < src->n_rcpts; i++) {
		const struct envelope_rcpt *s = &src->rcpts[i];
		struct envelope_rcpt *d = rcpt_new(dst);

		*d = *s;
		d->addr = dup_or_null(s->addr);
		d->orcpt = dup_or_null(s->orcpt);
		d->status = dup_or_null(s->status);
		d->diag = dup_or_null(s->diag);
		d->remote_mta = dup_or_null(s->remote_mta);
	}
}

/* Digits "1" to "999" (RFC 3463 §2: subject and detail have 1-3 digits). */
static const char *
status_part(const char *p)
{
	int n = 0;

	while (*p >= '0' && *p <= '9' && n < 4) {
		p++;
		n++;
	}
	return n >= 1 && n <= 3 ? p : NULL;
}

int
envelope_status_is_valid(const char *s)
{
	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	if ((s = status_part(s + 2)) == NULL || *s != '.')
		return 0;
	return (s = status_part(s + 1)) != NULL && *s == '\0';
}

void
envelope_rcpt_set_result(struct envelope_rcpt *r, enum envelope_rcpt_state state,
    const char *status, const char *diag, const char *remote_mta, long long when)
{
	xfree(r->status);
	xfree(r->diag);
	xfree(r->remote_mta);
	r->status = envelope_status_is_valid(status) ? xstrdup(status) : NULL;
	r->diag = NULL;
	if (diag != NULL) {
		size_t n = strnlen(diag, ENVELOPE_DIAG_MAX + 1);

		if (n > ENVELOPE_DIAG_MAX) {
			n = ENVELOPE_DIAG_MAX;
			/* Do not leave half a UTF-8 sequence at the cut. */
			while (n > 0 && ((unsigned char)diag[n] & 0xc0) == 0x80)
				n--;
		}
		r->diag = xstrndup(diag, n);
		for (char *p = r->diag; *p; p++) {
			unsigned char c = (unsigned char)*p;

			if (c == '\r' || c == '\n' || c == '\t')
				*p = ' ';
			else if (c < 0x20 || c == 0x7f)
				*p = '?';
		}
	}
	r->remote_mta = NULL;
	if (remote_mta != NULL && *remote_mta != '\0' &&
	    strnlen(remote_mta, ENVELOPE_HOST_MAX + 1) <= ENVELOPE_HOST_MAX) {
		const unsigned char *p = (const unsigned char *)remote_mta;

		while (*p > 0x20 && *p < 0x7f)
			p++;
		if (*p == '\0')
			r->remote_mta = xstrdup(remote_mta);
	}
	r->state = state;
	r->done_time = state == ENV_RCPT_PENDING ? 0 : when;
}

/* ---- validation (shared by the writer; the parser enforces the same rules as it reads) ---- */

static int
is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

/* NULL is fine unless required; otherwise at most max octets and no CR or LF. */
static int
check_str(const char *s, size_t max, int required, int nonempty)
{
	size_t n;

	if (s == NULL)
		return required ? -1 : 0;
	n = strnlen(s, max + 1);
	if (n > max || (nonempty && n == 0))
		return -1;
	return strpbrk(s, "\r\n") == NULL ? 0 : -1;
}

/* Each prepended field: "Name: value", one line, at most ENVELOPE_HEADER_MAX octets. */
/* "Name: value": a non-empty printable name without spaces before the colon. 0 or -1. */
static int
header_validate(const char *h)
{
	const char *colon;

	if (check_str(h, ENVELOPE_HEADER_MAX, 1, 1) < 0 || (colon = strchr(h, ':')) == NULL ||
	    colon == h)
		return -1;
	for (const char *c = h; c < colon; c++)
		if (*c <= ' ' || *c > '~')
			return -1;
	return 0;
}

static int
headers_validate(const struct envelope *env)
{
	for (size_t i = 0; i < env->n_headers; i++)
		if (header_validate(env->headers[i]) < 0)
			return -1;
	return 0;
}

static int
notify_is_valid(unsigned notify)
{
	if ((notify & ~(unsigned)ENV_NOTIFY_MASK) != 0)
		return 0;
	/* RFC 3461 §4.1: NEVER must appear alone. */
	return !(notify & ENV_NOTIFY_NEVER) || notify == ENV_NOTIFY_NEVER;
}

static int
time_is_valid(long long t)
{
	return t >= 0 && t <= ENVELOPE_TIME_MAX;
}

static int
rcpt_validate(const struct envelope_rcpt *r, const char **error_r)
{
	if (check_str(r->addr, ENVELOPE_ADDR_MAX, 1, 1) < 0)
		*error_r = "bad recipient address";
	else if (check_str(r->orcpt, SMTP_ORCPT_MAX, 0, 0) < 0)
		*error_r = "bad recipient orcpt";
	else if (!notify_is_valid(r->notify))
		*error_r = "bad recipient notify";
	else if ((unsigned)r->state >= N_NAMES(state_names))
		*error_r = "bad recipient state";
	else if (r->delay_warned != 0 && r->delay_warned != 1)
		*error_r = "bad recipient delay_warned";
	else if (!time_is_valid(r->done_time))
		*error_r = "bad recipient done_time";
	else if (check_str(r->remote_mta, ENVELOPE_HOST_MAX, 0, 0) < 0)
		*error_r = "bad recipient remote_mta";
	else if (r->status != NULL && !envelope_status_is_valid(r->status))
		*error_r = "bad recipient status";
	else if (check_str(r->diag, ENVELOPE_DIAG_MAX, 0, 0) < 0)
		*error_r = "bad recipient diag";
	else
		return 0;
	return -1;
}

int
envelope_validate(const struct envelope *env, const char **error_r)
{
	if (!is_lower_hex(env->qid, QUEUE_ID_LEN))
		*error_r = "bad qid";
	else if ((unsigned)env->direction >= N_NAMES(direction_names))
		*error_r = "bad direction";
	else if (env->session_id[0] != '\0' && !is_lower_hex(env->session_id, 16))
		*error_r = "bad session_id";
	else if (!time_is_valid(env->arrival))
		*error_r = "bad arrival";
	else if (!time_is_valid(env->released))
		*error_r = "bad released";
	else if (env->size < 0)
		*error_r = "bad size";
	else if ((unsigned)env->body >= N_NAMES(body_names))
		*error_r = "bad body";
	else if (env->smtputf8 != 0 && env->smtputf8 != 1)
		*error_r = "bad smtputf8";
	else if ((unsigned)env->ret >= N_NAMES(ret_names))
		*error_r = "bad ret";
	else if (check_str(env->envid, SMTP_ENVID_MAX, 0, 0) < 0)
		*error_r = "bad envid";
	else if (env->is_bounce != 0 && env->is_bounce != 1)
		*error_r = "bad is_bounce";
	else if (env->is_tlsrpt != 0 && env->is_tlsrpt != 1)
		*error_r = "bad tlsrpt";
	else if (env->is_dmarcrpt != 0 && env->is_dmarcrpt != 1)
		*error_r = "bad dmarcrpt";
	else if (env->attempts < 0)
		*error_r = "bad attempts";
	else if (!time_is_valid(env->next_attempt))
		*error_r = "bad next_attempt";
	else if (check_str(env->client_addr, ENVELOPE_HOST_MAX, 0, 0) < 0)
		*error_r = "bad client_addr";
	else if (check_str(env->client_name, ENVELOPE_HOST_MAX, 0, 0) < 0)
		*error_r = "bad client_name";
	else if (check_str(env->helo, ENVELOPE_HELO_MAX, 0, 0) < 0)
		*error_r = "bad helo";
	else if (check_str(env->sender, ENVELOPE_ADDR_MAX, 1, 0) < 0)
		*error_r = "bad sender";
	else if (check_str(env->quarantine, ENVELOPE_DIAG_MAX, 0, 0) < 0)
		*error_r = "bad quarantine";
	else if (env->n_headers > ENVELOPE_HEADERS_MAX)
		*error_r = "too many headers";
	else if (headers_validate(env) < 0)
		*error_r = "bad header";
	else if (env->n_rcpts == 0)
		*error_r = "no recipients";
	else if (env->n_rcpts > SMTP_RCPT_CAP)
		*error_r = "too many recipients";
	else {
		for (size_t i = 0; i < env->n_rcpts; i++)
			if (rcpt_validate(&env->rcpts[i], error_r) < 0)
				return -1;
		return 0;
	}
	return -1;
}

/* ---- writer ---- */

/* The writer fills a stack buffer per line (one buf_append per line keeps it fast). The bounds
 * hold because envelope_write validates the lengths first; an escaped byte takes 3 octets and
 * 512 (256) octets cover every key, number, keyword, separator and newline of the lines. */
#define HEAD_BOUND (512 + 3 * (SMTP_ENVID_MAX + 2 * ENVELOPE_HOST_MAX + ENVELOPE_HELO_MAX + \
	ENVELOPE_ADDR_MAX + ENVELOPE_DIAG_MAX))
#define RCPT_BOUND (256 + 3 * (ENVELOPE_ADDR_MAX + SMTP_ORCPT_MAX + ENVELOPE_HOST_MAX + \
	ENVELOPE_DIAG_MAX))
#define LINE_BOUND (HEAD_BOUND > RCPT_BOUND ? HEAD_BOUND : RCPT_BOUND)

static char *
put_bytes(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static char *
put_str(char *p, const char *s)
{
	return put_bytes(p, s, strlen(s));
}

static char *
put_num(char *p, long long v)
{
	char tmp[24], *t = tmp + sizeof(tmp);
	unsigned long long u = (unsigned long long)v;	/* v >= 0: validated */

	do {
		*--t = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	return put_bytes(p, t, (size_t)(tmp + sizeof(tmp) - t));
}

/* The escaping (doc/queue-format.md): bytes 0x21-0x7e other than '%' stand for themselves;
 * every other byte (space, controls, '%', 8-bit) is '%' and two upper-case hex digits. */
static int
byte_is_plain(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '%';
}

static char *
put_enc(char *p, const char *s)
{
	for (const unsigned char *u = (const unsigned char *)s; *u != '\0'; u++) {
		if (byte_is_plain(*u))
			*p++ = (char)*u;
		else {
			*p++ = '%';
			*p++ = hex_upper[*u >> 4];
			*p++ = hex_upper[*u & 0xf];
		}
	}
	return p;
}

static char *
put_key(char *p, enum env_key k)
{
	return put_bytes(p, env_keys[k].p, env_keys[k].len);
}

/* "key value\n", or "key\n" for the empty string, nothing for NULL. */
static char *
put_line_str(char *p, enum env_key k, const char *s)
{
	if (s == NULL)
		return p;
	p = put_key(p, k);
	if (*s != '\0') {
		*p++ = ' ';
		p = put_enc(p, s);
	}
	*p++ = '\n';
	return p;
}

static char *
put_line_word(char *p, enum env_key k, const char *word)
{
	p = put_key(p, k);
	*p++ = ' ';
	p = put_str(p, word);
	*p++ = '\n';
	return p;
}

static char *
put_line_num(char *p, enum env_key k, long long v)
{
	p = put_key(p, k);
	*p++ = ' ';
	p = put_num(p, v);
	*p++ = '\n';
	return p;
}

static char *
put_field(char *p, enum rcpt_field f)
{
	*p++ = ' ';
	p = put_bytes(p, rcpt_fields[f].p, rcpt_fields[f].len);
	*p++ = '=';
	return p;
}

static char *
put_notify(char *p, unsigned notify)
{
	const char *sep = "";

	if (notify == 0)
		return put_str(p, NOTIFY_DEFAULT_NAME);
	for (size_t i = 0; i < N_NAMES(notify_names); i++)
		if (notify & (1u << i)) {
			p = put_str(p, sep);
			p = put_str(p, notify_names[i]);
			sep = ",";
		}
	return p;
}

static char *
put_rcpt(char *p, const struct envelope_rcpt *r)
{
	p = put_key(p, K_RCPT);
	p = put_field(p, R_ADDR);
	p = put_enc(p, r->addr);
	if (r->orcpt != NULL) {
		p = put_field(p, R_ORCPT);
		p = put_enc(p, r->orcpt);
	}
	p = put_field(p, R_NOTIFY);
	p = put_notify(p, r->notify);
	p = put_field(p, R_STATE);
	p = put_str(p, state_names[r->state]);
	p = put_field(p, R_DELAY_WARNED);
	p = put_num(p, r->delay_warned);
	p = put_field(p, R_DONE_TIME);
	p = put_num(p, r->done_time);
	if (r->remote_mta != NULL) {
		p = put_field(p, R_REMOTE_MTA);
		p = put_enc(p, r->remote_mta);
	}
	if (r->status != NULL) {
		p = put_field(p, R_STATUS);
		p = put_str(p, r->status);
	}
	if (r->diag != NULL) {
		p = put_field(p, R_DIAG);
		p = put_enc(p, r->diag);
	}
	*p++ = '\n';
	return p;
}

/* 1 when env has a version-2 key (quarantine, header, tlsrpt). */
static int
envelope_needs_v2(const struct envelope *env)
{
	return env->quarantine != NULL || env->n_headers > 0 || env->is_tlsrpt;
}

/* The lowest version that can express env: 4 with `dmarcrpt`, 3 with `released`, 2 with a
 * version-2 key, else 1. */
static int
envelope_min_version(const struct envelope *env)
{
	if (env->is_dmarcrpt)
		return 4;
	if (env->released != 0)
		return 3;
	return envelope_needs_v2(env) ? 2 : 1;
}

long long
envelope_lifetime_start(const struct envelope *env)
{
	return env->released != 0 ? env->released : env->arrival;
}

/* Every line before the first recipient. */
static char *
put_head(char *p, const struct envelope *env)
{
	/* The lowest version that can express env, so older readers keep reading envelopes
	 * without filter results. */
	p = put_line_num(p, K_VERSION, envelope_min_version(env));
	p = put_line_word(p, K_QID, env->qid);
	p = put_line_word(p, K_DIRECTION, direction_names[env->direction]);
	if (env->session_id[0] != '\0')
		p = put_line_word(p, K_SESSION_ID, env->session_id);
	p = put_line_num(p, K_ARRIVAL, env->arrival);
	if (env->released != 0)	/* written only when set: one text per envelope */
		p = put_line_num(p, K_RELEASED, env->released);
	p = put_line_num(p, K_SIZE, env->size);
	p = put_line_word(p, K_BODY, body_names[env->body]);
	p = put_line_num(p, K_SMTPUTF8, env->smtputf8);
	p = put_line_word(p, K_RET, ret_names[env->ret]);
	p = put_line_str(p, K_ENVID, env->envid);
	p = put_line_num(p, K_IS_BOUNCE, env->is_bounce);
	if (env->is_tlsrpt)	/* written only when set: one text per envelope */
		p = put_line_num(p, K_TLSRPT, 1);
	if (env->is_dmarcrpt)	/* written only when set: one text per envelope */
		p = put_line_num(p, K_DMARCRPT, 1);
	p = put_line_num(p, K_ATTEMPTS, env->attempts);
	p = put_line_num(p, K_NEXT_ATTEMPT, env->next_attempt);
	p = put_line_str(p, K_CLIENT_ADDR, env->client_addr);
	p = put_line_str(p, K_CLIENT_NAME, env->client_name);
	p = put_line_str(p, K_HELO, env->helo);
	return put_line_str(p, K_SENDER, env->sender);
}

int
envelope_write(const struct envelope *env, struct buf *out)
{
	char line[LINE_BOUND];
	size_t start = out->len;
	const char *error;
	char *p;
	int failed;

	if (envelope_validate(env, &error) < 0)
		return -1;
	p = put_head(line, env);
	p = put_line_str(p, K_QUARANTINE, env->quarantine);
	failed = buf_append(out, line, (size_t)(p - line)) < 0;
	for (size_t i = 0; i < env->n_headers && !failed; i++) {
		p = put_line_str(line, K_HEADER, env->headers[i]);
		failed = buf_append(out, line, (size_t)(p - line)) < 0;
	}
	for (size_t i = 0; i < env->n_rcpts && !failed; i++) {
		p = put_rcpt(line, &env->rcpts[i]);
		failed = buf_append(out, line, (size_t)(p - line)) < 0;
	}
	if (!failed)
		failed = buf_append(out, "end\n", 4) < 0;
	/* Only a pathological envelope (thousands of recipients with long diagnostics) is too
	 * large; the parser would refuse it, so refuse to write it. */
	if (failed || out->len - start > ENVELOPE_FILE_MAX) {
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
		return -1;
	}
	return 0;
}

/* ---- parser ---- */

/* Short inline scans: keys, field names and tokens are a few bytes long, where a libc call
 * costs more than the loop (measured: memcmp and memchr were a third of parse time). */
static const char *
find_byte(const char *p, size_t n, char c)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] == c)
			return p + i;
	return NULL;
}

static int
name_is(struct slice name, struct slice want)
{
	if (name.len != want.len)
		return 0;
	for (size_t i = 0; i < name.len; i++)
		if (name.p[i] != want.p[i])
			return 0;
	return 1;
}

static int
hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;	/* lower case is not canonical */
}

/* Decodes an escaped value of at most max octets into a new string in *out_r. */
static int
dec_value(struct slice v, size_t max, char **out_r, const char **error_r)
{
	char tmp[ENVELOPE_DIAG_MAX + 1];
	size_t n = 0, i = 0;

	/* Fast path: nothing escaped, copy straight from the input. */
	while (i < v.len && byte_is_plain((unsigned char)v.p[i]))
		i++;
	if (i == v.len && v.len <= max) {
		*out_r = slice_dup(v);
		return 0;
	}
	for (i = 0; i < v.len; i++) {
		unsigned char c = (unsigned char)v.p[i];

		if (c == '%') {
			int hi, lo;

			if (v.len - i < 3 || (hi = hex_val(v.p[i + 1])) < 0 ||
			    (lo = hex_val(v.p[i + 2])) < 0) {
				*error_r = "bad escape in value";
				return -1;
			}
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
			if (c == '\0' || c == '\r' || c == '\n') {
				*error_r = "NUL, CR or LF in value";
				return -1;
			}
			if (byte_is_plain(c)) {
				*error_r = "needless escape in value";
				return -1;
			}
		} else if (!byte_is_plain(c)) {
			*error_r = "unescaped space, control or 8-bit byte in value";
			return -1;
		}
		if (n == max) {
			*error_r = "value too long";
			return -1;
		}
		tmp[n++] = (char)c;
	}
	tmp[n] = '\0';
	*out_r = xmemdup(tmp, n + 1);
	return 0;
}

/* Canonical decimal: "0" or no leading zero, at most max. */
static int
dec_num(struct slice v, long long max, long long *out_r, const char **error_r)
{
	unsigned long long u;
	const char *e;

	if (v.len > 1 && v.p[0] == '0') {
		*error_r = "bad number";
		return -1;
	}
	if (strnum_slice_ull(v, (unsigned long long)max, &u, &e) < 0) {
		*error_r = "bad number";
		return -1;
	}
	*out_r = (long long)u;
	return 0;
}

static int
dec_flag(struct slice v, int *out_r, const char **error_r)
{
	if (v.len != 1 || (v.p[0] != '0' && v.p[0] != '1')) {
		*error_r = "bad flag (want 0 or 1)";
		return -1;
	}
	*out_r = v.p[0] - '0';
	return 0;
}

static int
slice_is(struct slice v, const char *s)
{
	size_t i;

	for (i = 0; i < v.len; i++)
		if (s[i] == '\0' || v.p[i] != s[i])
			return 0;
	return s[i] == '\0';
}

static int
dec_word(struct slice v, const char *const *names, size_t n, int *out_r, const char **error_r)
{
	for (size_t i = 0; i < n; i++)
		if (slice_is(v, names[i])) {
			*out_r = (int)i;
			return 0;
		}
	*error_r = "bad keyword value";
	return -1;
}

/* "default", or keywords in bit order joined by ','; NEVER alone. */
static int
dec_notify(struct slice v, unsigned *out_r, const char **error_r)
{
	unsigned mask = 0;
	size_t next = 0;

	if (slice_is(v, NOTIFY_DEFAULT_NAME)) {
		*out_r = 0;
		return 0;
	}
	while (v.len > 0) {
		const char *comma = find_byte(v.p, v.len, ',');
		struct slice word = { v.p, comma ? (size_t)(comma - v.p) : v.len };
		size_t i;

		for (i = next; i < N_NAMES(notify_names); i++)
			if (slice_is(word, notify_names[i]))
				break;
		if (i == N_NAMES(notify_names) || (comma != NULL && comma + 1 == v.p + v.len))
			goto bad;
		mask |= 1u << i;
		next = i + 1;
		v.len -= word.len + (comma != NULL);
		v.p += word.len + (comma != NULL);
	}
	if (mask == 0 || !notify_is_valid(mask))
		goto bad;
	*out_r = mask;
	return 0;
bad:
	*error_r = "bad notify";
	return -1;
}

static int
dec_hex_id(struct slice v, char *dst, size_t n, const char **error_r)
{
	if (v.len != n) {
		*error_r = "bad queue or session id";
		return -1;
	}
	memcpy(dst, v.p, n);
	dst[n] = '\0';
	if (!is_lower_hex(dst, n)) {
		dst[0] = '\0';
		*error_r = "bad queue or session id";
		return -1;
	}
	return 0;
}

static int
parse_rcpt_field(struct envelope_rcpt *r, enum rcpt_field f, struct slice v, const char **error_r)
{
	long long n;
	int i;

	switch (f) {
	case R_ADDR:
		if (v.len == 0) {
			*error_r = "empty recipient address";
			return -1;
		}
		return dec_value(v, ENVELOPE_ADDR_MAX, &r->addr, error_r);
	case R_ORCPT:
		return dec_value(v, SMTP_ORCPT_MAX, &r->orcpt, error_r);
	case R_NOTIFY:
		return dec_notify(v, &r->notify, error_r);
	case R_STATE:
		if (dec_word(v, state_names, N_NAMES(state_names), &i, error_r) < 0)
			return -1;
		r->state = (enum envelope_rcpt_state)i;
		return 0;
	case R_DELAY_WARNED:
		return dec_flag(v, &r->delay_warned, error_r);
	case R_DONE_TIME:
		if (dec_num(v, ENVELOPE_TIME_MAX, &n, error_r) < 0)
			return -1;
		r->done_time = n;
		return 0;
	case R_REMOTE_MTA:
		return dec_value(v, ENVELOPE_HOST_MAX, &r->remote_mta, error_r);
	case R_STATUS:
		if (dec_value(v, 16, &r->status, error_r) < 0)
			return -1;
		if (!envelope_status_is_valid(r->status)) {
			*error_r = "bad recipient status";
			return -1;
		}
		return 0;
	case R_DIAG:
		return dec_value(v, ENVELOPE_DIAG_MAX, &r->diag, error_r);
	default:
		break;
	}
	*error_r = "unknown recipient field";
	return -1;
}

/* Index of name in rcpt_fields, trying the expected one first; R_COUNT if unknown. */
static size_t
field_lookup(struct slice name, size_t from)
{
	for (size_t n = 0; n < R_COUNT; n++) {
		size_t f = (from + n) % R_COUNT;

		if (name_is(name, rcpt_fields[f]))
			return f;
	}
	return R_COUNT;
}

/* v: the fields after "rcpt ", each " name=value", in rcpt_fields order. */
static int
parse_rcpt(struct envelope *env, struct slice v, const char **error_r)
{
	struct envelope_rcpt *r;
	unsigned seen = 0;
	size_t next = 0;

	if (env->n_rcpts >= SMTP_RCPT_CAP) {
		*error_r = "too many recipients";
		return -1;
	}
	r = rcpt_new(env);
	while (v.len > 0) {
		const char *sp = memchr(v.p, ' ', v.len);	/* tokens can be long */
		struct slice tok = { v.p, sp ? (size_t)(sp - v.p) : v.len };
		const char *eq = find_byte(tok.p, tok.len, '=');
		struct slice name, val;
		size_t f;

		if (eq == NULL || (sp != NULL && sp + 1 == v.p + v.len)) {
			*error_r = "bad recipient field";
			return -1;
		}
		name = (struct slice){ tok.p, (size_t)(eq - tok.p) };
		val = (struct slice){ eq + 1, tok.len - name.len - 1 };
		f = field_lookup(name, next);
		if (f == R_COUNT) {
			*error_r = "unknown recipient field";
			return -1;
		}
		if (f < next) {
			*error_r = (seen & (1u << f)) ? "duplicate recipient field" :
			    "recipient field out of order";
			return -1;
		}
		if (parse_rcpt_field(r, (enum rcpt_field)f, val, error_r) < 0)
			return -1;
		seen |= 1u << f;
		next = f + 1;
		v.len -= tok.len + (sp != NULL);
		v.p += tok.len + (sp != NULL);
	}
	if ((seen & RCPT_REQUIRED) != RCPT_REQUIRED) {
		*error_r = "missing recipient field";
		return -1;
	}
	return 0;
}

static int
parse_str_key(struct slice v, int has_value, size_t max, char **out_r, const char **error_r)
{
	if (!has_value) {
		*out_r = xstrdup("");
		return 0;
	}
	return dec_value(v, max, out_r, error_r);
}

static int
parse_key(struct envelope *env, enum env_key k, struct slice v, int has_value,
    const char **error_r)
{
	long long n;
	int i;

	/* Only the string keys may have an empty value (written as the bare key). */
	if (!has_value && k != K_ENVID && k != K_CLIENT_ADDR && k != K_CLIENT_NAME &&
	    k != K_HELO && k != K_SENDER && k != K_END) {
		*error_r = "missing value";
		return -1;
	}
	switch (k) {
	case K_QID:
		return dec_hex_id(v, env->qid, QUEUE_ID_LEN, error_r);
	case K_DIRECTION:
		if (dec_word(v, direction_names, N_NAMES(direction_names), &i, error_r) < 0)
			return -1;
		env->direction = (enum envelope_direction)i;
		return 0;
	case K_SESSION_ID:
		return dec_hex_id(v, env->session_id, sizeof(env->session_id) - 1, error_r);
	case K_ARRIVAL:
		return dec_num(v, ENVELOPE_TIME_MAX, &env->arrival, error_r);
	case K_RELEASED:
		/* never 0: the writer leaves the key out when the message was not released */
		if (dec_num(v, ENVELOPE_TIME_MAX, &env->released, error_r) < 0)
			return -1;
		if (env->released == 0) {
			*error_r = "bad released (0)";
			return -1;
		}
		return 0;
	case K_SIZE:
		return dec_num(v, LLONG_MAX, &env->size, error_r);
	case K_BODY:
		if (dec_word(v, body_names, N_NAMES(body_names), &i, error_r) < 0)
			return -1;
		env->body = (enum envelope_body)i;
		return 0;
	case K_SMTPUTF8:
		return dec_flag(v, &env->smtputf8, error_r);
	case K_RET:
		if (dec_word(v, ret_names, N_NAMES(ret_names), &i, error_r) < 0)
			return -1;
		env->ret = (enum envelope_ret)i;
		return 0;
	case K_ENVID:
		return parse_str_key(v, has_value, SMTP_ENVID_MAX, &env->envid, error_r);
	case K_IS_BOUNCE:
		return dec_flag(v, &env->is_bounce, error_r);
	case K_TLSRPT:
		/* only "1": the writer leaves the key out when the flag is clear */
		if (v.len != 1 || v.p[0] != '1') {
			*error_r = "bad tlsrpt (want 1)";
			return -1;
		}
		env->is_tlsrpt = 1;
		return 0;
	case K_DMARCRPT:
		/* only "1": the writer leaves the key out when the flag is clear */
		if (v.len != 1 || v.p[0] != '1') {
			*error_r = "bad dmarcrpt (want 1)";
			return -1;
		}
		env->is_dmarcrpt = 1;
		return 0;
	case K_ATTEMPTS:
		if (dec_num(v, INT_MAX, &n, error_r) < 0)
			return -1;
		env->attempts = (int)n;
		return 0;
	case K_NEXT_ATTEMPT:
		return dec_num(v, ENVELOPE_TIME_MAX, &env->next_attempt, error_r);
	case K_CLIENT_ADDR:
		return parse_str_key(v, has_value, ENVELOPE_HOST_MAX, &env->client_addr, error_r);
	case K_CLIENT_NAME:
		return parse_str_key(v, has_value, ENVELOPE_HOST_MAX, &env->client_name, error_r);
	case K_HELO:
		return parse_str_key(v, has_value, ENVELOPE_HELO_MAX, &env->helo, error_r);
	case K_SENDER:
		return parse_str_key(v, has_value, ENVELOPE_ADDR_MAX, &env->sender, error_r);
	case K_QUARANTINE:
		return dec_value(v, ENVELOPE_DIAG_MAX, &env->quarantine, error_r);
	case K_HEADER: {
		char *h;
		if (env->n_headers == ENVELOPE_HEADERS_MAX) {
			*error_r = "too many headers";
			return -1;
		}
		if (dec_value(v, ENVELOPE_HEADER_MAX, &h, error_r) < 0)
			return -1;
		if (header_validate(h) < 0) {
			/* what envelope_write refuses is no envelope (found by fuzz_envelope) */
			xfree(h);
			*error_r = "bad header";
			return -1;
		}
		env->headers = xreallocarray(env->headers, env->n_headers + 1, sizeof(*env->headers));
		env->headers[env->n_headers++] = h;
		return 0;
	}
	case K_RCPT:
		return parse_rcpt(env, v, error_r);
	case K_END:
		if (has_value) {
			*error_r = "bad end marker";
			return -1;
		}
		return 0;
	default:
		break;
	}
	*error_r = "unexpected key";
	return -1;
}

/* Index of key in env_keys, searching from the expected position first; -1 if unknown. */
static int
key_lookup(struct slice key, int from)
{
	for (int n = 0; n < K_COUNT; n++) {
		int k = (from + n) % K_COUNT;

		if (name_is(key, env_keys[k]))
			return k;
	}
	return -1;
}

static int
parse_version(struct slice line, const char **error_r)
{
	static const struct slice prefix = SLICE_LIT("version ");
	struct slice v;
	long long n;

	if (line.len < prefix.len || memcmp(line.p, prefix.p, prefix.len) != 0) {
		*error_r = "missing version line";
		return -1;
	}
	v = (struct slice){ line.p + prefix.len, line.len - prefix.len };
	if (dec_num(v, INT_MAX, &n, error_r) < 0) {
		*error_r = "bad version line";
		return -1;
	}
	if (n < 1 || n > ENVELOPE_VERSION) {
		*error_r = "unsupported envelope version";
		return -1;
	}
	return (int)n;
}

int
envelope_parse(struct slice text, struct envelope *env, const char **error_r)
{
	const char *p = text.p, *end = text.p + text.len;
	unsigned seen = 0;
	int last = -1, version = 0;

	if (text.len > ENVELOPE_FILE_MAX) {
		*error_r = "envelope too large";
		goto fail;
	}
	while (last != K_END) {
		const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
		struct slice line, key, val;
		const char *sp;
		int k;

		if (nl == NULL) {
			*error_r = p == text.p ? "missing version line" :
			    "truncated envelope (no end marker)";
			goto fail;
		}
		line = (struct slice){ p, (size_t)(nl - p) };
		p = nl + 1;
		if (last < 0) {
			if ((version = parse_version(line, error_r)) < 0)
				goto fail;
			seen |= KEY_BIT(K_VERSION);
			last = K_VERSION;
			continue;
		}
		sp = find_byte(line.p, line.len, ' ');
		key = (struct slice){ line.p, sp ? (size_t)(sp - line.p) : line.len };
		val = (struct slice){ sp ? sp + 1 : line.p + line.len,
		    sp ? line.len - key.len - 1 : 0 };
		if (sp != NULL && val.len == 0) {
			*error_r = "trailing space after key";
			goto fail;
		}
		if ((k = key_lookup(key, last + 1)) < 0 ||
		    (version < 2 && (k == K_QUARANTINE || k == K_HEADER || k == K_TLSRPT)) ||
		    (version < 3 && k == K_RELEASED) || (version < 4 && k == K_DMARCRPT)) {
			*error_r = "unknown key";
			goto fail;
		}
		if (k < last || (k == last && k != K_RCPT && k != K_HEADER)) {
			*error_r = (seen & KEY_BIT(k)) ? "duplicate key" : "key out of order";
			goto fail;
		}
		if (parse_key(env, (enum env_key)k, val, sp != NULL, error_r) < 0)
			goto fail;
		seen |= KEY_BIT(k);
		last = k;
	}
	if (p != end) {
		*error_r = "data after end marker";
		goto fail;
	}
	if (version != envelope_min_version(env)) {
		/* one text per envelope: the writer uses the lowest version that can express it */
		*error_r = version == 4 ? "version 4 without dmarcrpt" :
		    version == 3 ? "version 3 without released" :
		    "version 2 without quarantine, header or tlsrpt";
		goto fail;
	}
	if ((seen & KEYS_REQUIRED) != KEYS_REQUIRED) {
		*error_r = (seen & KEY_BIT(K_RCPT)) || !(seen & KEY_BIT(K_SENDER)) ?
		    "missing required key" : "no recipients";
		goto fail;
	}
	return 0;
fail:
	envelope_clear(env);
	return -1;
}
