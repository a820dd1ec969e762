/* session_parse.c: the pure parts of console authentication (admin/session_int.h): Cookie and
 * Authorization header parsing, the post-login redirect check, client address keys, name rules,
 * users/tokens file parsing, failure counting for the login lockout and the verification rate
 * cap. No I/O and no clock: callers pass the time. Input is hostile (request headers, files an
 * operator may have mangled): every scan is bounded by the input length and the limits of
 * session_int.h; nothing here allocates more than the parsed file's line count. */
#include "admin/session_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "lib/str.h"
#include "lib/xalloc.h"

static int
is_cookie_octet(unsigned char c)
{
	/* RFC 6265 §4.1.1 cookie-octet */
	return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) ||
	    (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

int
session_cookie_find(const char *header, const char *name, char *out, size_t outsize)
{
	size_t nlen = strlen(name), hlen;
	const char *p, *end;
	int found = 0;

	if (header == NULL || (hlen = strnlen(header, SESSION_COOKIE_HDR_MAX + 1)) >
	    SESSION_COOKIE_HDR_MAX || outsize == 0)
		return -1;
	p = header;
	end = header + hlen;
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p)), *pe = semi ? semi : end;
		const char *eq;

		while (p < pe && (*p == ' ' || *p == '\t'))
			p++;
		eq = memchr(p, '=', (size_t)(pe - p));
		if (eq != NULL && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
			const char *v = eq + 1, *ve = pe;
			size_t vlen;

			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if (ve - v >= 2 && v[0] == '"' && ve[-1] == '"') {	/* DQUOTE value */
				v++;
				ve--;
			}
			vlen = (size_t)(ve - v);
			if (found || vlen == 0 || vlen >= outsize)
				return -1;
			for (size_t i = 0; i < vlen; i++)
				if (!is_cookie_octet((unsigned char)v[i]))
					return -1;
			memcpy(out, v, vlen);
			out[vlen] = '\0';
			found = 1;
		}
		p = semi ? semi + 1 : end;
	}
	return found ? 0 : -1;
}

int
session_is_hex_id(const char *s)
{
	size_t i;

	for (i = 0; i < SESSION_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[i] == '\0';
}

int
session_bearer_parse(const char *header, char *out, size_t outsize)
{
	const char *p;
	size_t n;

	if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0 || outsize <= SESSION_HEX_LEN)
		return -1;
	p = header + 7;
	while (*p == ' ')
		p++;
	n = strnlen(p, SESSION_HEX_LEN + 1);
	if (n != SESSION_HEX_LEN)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (str_hex_digit((unsigned char)p[i]) < 0)
			return -1;
		out[i] = (char)((p[i] >= 'A' && p[i] <= 'F') ? p[i] - 'A' + 'a' : p[i]);
	}
	out[n] = '\0';
	return 0;
}

const char *
session_next_safe(const char *next)
{
	size_t n;

	if (next == NULL || next[0] != '/' || (n = strnlen(next, 1025)) > 1024)
		return "/";
	if (strstr(next, "//") != NULL || strchr(next, '\\') != NULL)
		return "/";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)next[i] <= 0x20 || (unsigned char)next[i] >= 0x7f)
			return "/";
	return next;
}

int
session_addr_key(const char *peer, char *out, size_t outsize)
{
	struct in6_addr a6;
	struct in_addr a4;
	char txt[INET6_ADDRSTRLEN];

	if (peer == NULL)
		return -1;
	if (inet_pton(AF_INET, peer, &a4) == 1)
		return str_fmt(out, outsize, "%s", peer);
	if (inet_pton(AF_INET6, peer, &a6) != 1)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		memcpy(&a4, &a6.s6_addr[12], 4);
		if (inet_ntop(AF_INET, &a4, txt, sizeof(txt)) == NULL)
			return -1;
		return str_fmt(out, outsize, "%s", txt);
	}
	memset(&a6.s6_addr[8], 0, 8);	/* one site's /64 is one client */
	if (inet_ntop(AF_INET6, &a6, txt, sizeof(txt)) == NULL)
		return -1;
	return str_fmt(out, outsize, "%s/64", txt);
}

int
session_name_ok(const char *s)
{
	size_t n = strnlen(s, SESSION_NAME_MAX + 1);

	if (n == 0 || n > SESSION_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '@' || c == '+' || c == '-'))
			return 0;
	}
	return 1;
}

void
session_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int
session_random_hex(char *out, size_t outsize)
{
	unsigned char r[SESSION_HEX_LEN / 2];

	if (outsize <= SESSION_HEX_LEN || getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -1;
	session_hex(r, sizeof(r), out);
	xwipe(r, sizeof(r));
	return 0;
}

/* Checks the secret part of one line. */
static const char *
secret_check(const char *s, size_t n, enum session_cred_kind kind)
{
	if (kind == SESSION_CRED_TOKENS) {
		if (n != SESSION_HEX_LEN)
			return "expected name:sha256-hex (64 hex digits)";
		for (size_t i = 0; i < n; i++)
			if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
				return "expected name:sha256-hex (64 lower-case hex digits)";
		return NULL;
	}
	if (n < 10 || n > 512 || memcmp(s, "$argon2id$", 10) != 0)
		return "expected name:$argon2id$... (mailguardctl admin add NAME)";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return "the hash contains a space or a control character";
	return NULL;
}

/* Parses one non-comment line into c; returns NULL or the problem. */
static const char *
cred_line(const char *p, size_t n, enum session_cred_kind kind, struct session_cred *c)
{
	const char *colon = memchr(p, ':', n), *err;
	size_t nl;

	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (colon == NULL)
		return "expected name:secret";
	nl = (size_t)(colon - p);
	if (nl == 0 || nl > SESSION_NAME_MAX)
		return "the name must be 1 to 48 characters";
	memcpy(c->name, p, nl);
	c->name[nl] = '\0';
	if (!session_name_ok(c->name))
		return "a name may hold letters, digits and . _ @ + - only";
	if ((err = secret_check(colon + 1, n - nl - 1, kind)) != NULL)
		return err;
	c->secret = xstrndup(colon + 1, n - nl - 1);
	return NULL;
}

int
session_creds_parse(const char *text, size_t len, enum session_cred_kind kind,
    struct session_cred **creds_r, size_t *n_r, size_t *line_r, const char **error_r)
{
	struct session_cred *v = NULL;
	size_t n = 0, cap = 0, off = 0, line = 0;
	const char *err = NULL;

	while (off < len && err == NULL) {
		const char *p = text + off, *nl = memchr(p, '\n', len - off);
		size_t ln = nl ? (size_t)(nl - p) : len - off;
		size_t lead = 0;

		line++;
		off += ln + (nl ? 1 : 0);
		while (lead < ln && (p[lead] == ' ' || p[lead] == '\t'))
			lead++;
		if (lead == ln || p[lead] == '#' || (ln - lead == 1 && p[lead] == '\r'))
			continue;
		if (n >= SESSION_CREDS_MAX) {
			err = "too many lines";
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		memset(&v[n], 0, sizeof(v[n]));
		if ((err = cred_line(p + lead, ln - lead, kind, &v[n])) != NULL)
			break;
		for (size_t i = 0; i < n; i++)
			if (strcmp(v[i].name, v[n].name) == 0) {
				xfree(v[n].secret);
				err = "the name appears twice";
				break;
			}
		if (err == NULL)
			n++;
	}
	if (err != NULL) {
		session_creds_free(&v, &n);
		*line_r = line;
		*error_r = err;
		return -1;
	}
	*creds_r = v;
	*n_r = n;
	return 0;
}

void
session_creds_free(struct session_cred **creds, size_t *n)
{
	for (size_t i = 0; *creds != NULL && i < *n; i++) {
		if ((*creds)[i].secret != NULL)
			xwipe((*creds)[i].secret, strlen((*creds)[i].secret));
		xfree((*creds)[i].secret);
	}
	xfree(*creds);
	*creds = NULL;
	*n = 0;
}

void
session_limits_init(struct session_limits *l, size_t max)
{
	l->ents = xcalloc(max, sizeof(*l->ents));
	l->n = 0;
	l->max = max;
}

void
session_limits_free(struct session_limits *l)
{
	xfree(l->ents);
	l->ents = NULL;
	l->n = l->max = 0;
}

static struct session_limit_ent *
limits_find(const struct session_limits *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->ents[i].key, key) == 0)
			return &l->ents[i];
	return NULL;
}

double
session_limits_locked(const struct session_limits *l, const char *key, double now)
{
	const struct session_limit_ent *e = limits_find(l, key);

	return e != NULL && e->locked_until > now ? e->locked_until - now : 0;
}

/* A slot for a new key: a free one, else the unlocked entry used longest ago, else the lock
 * that ends first. */
static struct session_limit_ent *
limits_slot(struct session_limits *l, double now)
{
	struct session_limit_ent *best = NULL;

	if (l->n < l->max)
		return &l->ents[l->n++];
	for (size_t i = 0; i < l->n; i++) {
		struct session_limit_ent *e = &l->ents[i];
		int unlocked = e->locked_until <= now, best_unlocked;

		if (best == NULL) {
			best = e;
			continue;
		}
		best_unlocked = best->locked_until <= now;
		if (unlocked && (!best_unlocked || e->last < best->last))
			best = e;
		else if (!unlocked && !best_unlocked && e->locked_until < best->locked_until)
			best = e;
	}
	return best;
}

int
session_limits_fail(struct session_limits *l, const char *key, double now, unsigned limit,
    double lockout)
{
	struct session_limit_ent *e = limits_find(l, key);

	if (e == NULL) {
		if (l->max == 0)
			return 0;
		e = limits_slot(l, now);
		memset(e, 0, sizeof(*e));
		str_lcpy(e->key, key, sizeof(e->key));
	}
	e->last = now;
	if (e->locked_until > now)
		return 0;	/* already locked: not counted again */
	if (e->count == 0 || now - e->window_start >= lockout || e->locked_until > 0) {
		e->count = 0;	/* a fresh window (also after a lockout has passed) */
		e->window_start = now;
		e->locked_until = 0;
	}
	if (++e->count < limit)
		return 0;
	e->locked_until = now + lockout;
	return 1;
}

unsigned
session_limits_count(const struct session_limits *l, const char *key, double now,
    double lockout)
{
	const struct session_limit_ent *e = limits_find(l, key);

	if (e == NULL)
		return 0;
	if (e->locked_until > now)
		return e->count;
	/* the rules of session_limits_fail: a passed window or an ended lockout starts afresh */
	if (e->count == 0 || now - e->window_start >= lockout || e->locked_until > 0)
		return 0;
	return e->count;
}

void
session_limits_clear(struct session_limits *l, const char *key)
{
	struct session_limit_ent *e = limits_find(l, key);

	if (e != NULL) {
		*e = l->ents[l->n - 1];
		l->n--;
	}
}

int
session_rate_take(struct session_rate *r, double now, unsigned per_sec)
{
	if (now - r->window >= 1.0 || now < r->window) {
		r->window = now;
		r->n = 0;
	}
	if (r->n >= per_sec)
		return 0;
	r->n++;
	return 1;
}
