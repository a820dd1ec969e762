/* greylist.c: the greylisting layer: triplet keys, the NEW/EARLY/PASS state machine of
 * filter/greylist.h, the per-message batch, and expiry.
 * Runs in the filter role, on pool threads (every call after mg_greylist_new is thread-safe: the
 * object is immutable and each check is one kvdb transaction). Input: the client address from
 * the socket, sender and recipient from the SMTP parser (hostile but already bounded); they are
 * length-checked again here (MG_GREYLIST_ADDRESS_MAX) and only case-folded, never interpreted.
 * Stored records are parsed strictly; an unreadable one counts as absent and is replaced. */
#include "filter/greylist.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

/* Record (value) format, text so that a replicated store or a console can read it:
 *   "g1 <first> <last> <passed_until> <seen>"  (unix seconds; passed_until 0 = not passed yet)
 * Key: "<network>\0<sender>\0<recipient>", network "192.0.2.0/24" or "2001:db8:1:2::/64"; NUL
 * separators cannot occur in SMTP addresses, so no two triplets share a key. */

/* Longest record we write: "g1" and four 20-digit numbers with spaces. */
#define GREY_RECORD_MAX 128
/* Longest key: network text, two separators, two addresses. */
#define GREY_KEY_MAX (INET6_ADDRSTRLEN + 4 + 2 + 2 * MG_GREYLIST_ADDRESS_MAX)

struct mg_greylist {
	struct mg_kvdb_table *table; /* borrowed: owned by the kvdb handle */
	struct mg_greylist_params params;
};

struct grey_record {
	long long first;	/* first sighting of this cycle */
	long long last;		/* latest sighting */
	long long passed_until; /* 0: not passed yet */
	long long seen;		/* sightings in this cycle */
};

void
mg_greylist_params_init(struct mg_greylist_params *p)
{
	p->delay = MG_GREYLIST_DELAY_DEFAULT;
	p->retry_window = MG_GREYLIST_RETRY_WINDOW_DEFAULT;
	p->pass_lifetime = MG_GREYLIST_PASS_LIFETIME_DEFAULT;
}

static int
grey_params_check(const struct mg_greylist_params *p, const char **error_r)
{
	if (p->delay < 0 || p->delay > MG_GREYLIST_PARAM_MAX) {
		*error_r = "greylist delay out of range";
		return -1;
	}
	if (p->retry_window <= p->delay || p->retry_window > MG_GREYLIST_PARAM_MAX) {
		*error_r =
		    "greylist retry window must be longer than the delay (and at most a year)";
		return -1;
	}
	if (p->pass_lifetime <= 0 || p->pass_lifetime > MG_GREYLIST_PARAM_MAX) {
		*error_r = "greylist pass lifetime out of range";
		return -1;
	}
	return 0;
}

struct mg_greylist *
mg_greylist_new(struct mg_kvdb *kv, const struct mg_greylist_params *params, const char **error_r)
{
	struct mg_greylist_params p;
	struct mg_kvdb_table *t;
	struct mg_greylist *gl;

	if (params != NULL)
		p = *params;
	else
		mg_greylist_params_init(&p);
	if (grey_params_check(&p, error_r) < 0)
		return NULL;
	if ((t = mg_kvdb_table(kv, MG_GREYLIST_TABLE, error_r)) == NULL)
		return NULL;
	gl = xcalloc(1, sizeof(*gl));
	gl->table = t;
	gl->params = p;
	return gl;
}

void
mg_greylist_free(struct mg_greylist **glp)
{
	if (glp == NULL || *glp == NULL)
		return;
	xfree(*glp);
	*glp = NULL;
}

const char *
mg_greylist_verdict_name(enum mg_grey_verdict v)
{
	switch (v) {
	case MG_GREY_PASS:
		return "pass";
	case MG_GREY_NEW:
		return "new";
	case MG_GREY_EARLY:
		return "early";
	}
	return "?";
}

/* Appends the client network: the /24 of IPv4 (mapped IPv6 included), the /64 of IPv6. */
static int
grey_key_network(struct buf *key, const struct sockaddr *client)
{
	char text[INET6_ADDRSTRLEN];
	unsigned char a[16];

	if (client == NULL)
		return -1;
	if (client->sa_family == AF_INET) {
		memcpy(a, &((const struct sockaddr_in *)(const void *)client)->sin_addr, 4);
	} else if (client->sa_family == AF_INET6) {
		const struct in6_addr *in6 =
		    &((const struct sockaddr_in6 *)(const void *)client)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(in6)) {
			memcpy(a, in6->s6_addr + 12, 4);
		} else {
			memcpy(a, in6->s6_addr, 8);
			memset(a + 8, 0, 8);
			if (inet_ntop(AF_INET6, a, text, sizeof(text)) == NULL)
				return -1;
			return buf_printf(key, "%s/64", text);
		}
	} else {
		return -1;
	}
	return buf_printf(key, "%u.%u.%u.0/24", a[0], a[1], a[2]);
}

/* Appends NUL and s, ASCII-lowercased (bytes >= 0x80 of SMTPUTF8 addresses are kept). */
static int
grey_key_address(struct buf *key, const char *s)
{
	size_t n = strlen(s);

	if (n > MG_GREYLIST_ADDRESS_MAX || buf_append_char(key, '\0') < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (buf_append_char(key, c) < 0)
			return -1;
	}
	return 0;
}

static int
grey_key(struct buf *key, const struct sockaddr *client, const char *sender, const char *rcpt)
{
	buf_reset(key);
	if (sender == NULL || rcpt == NULL)
		return -1;
	if (grey_key_network(key, client) < 0 || grey_key_address(key, sender) < 0 ||
	    grey_key_address(key, rcpt) < 0)
		return -1;
	return 0;
}

/* Parses a stored record strictly. Returns 0, or -1 for anything else (treated as absent). */
static int
grey_record_parse(const void *v, size_t vl, struct grey_record *rec)
{
	char text[GREY_RECORD_MAX], *f[6];
	long long n[4];
	const char *error;

	if (v == NULL || vl == 0 || vl >= sizeof(text) || memchr(v, '\0', vl) != NULL)
		return -1;
	memcpy(text, v, vl);
	text[vl] = '\0';
	if (str_split(text, " ", f, 6) != 5 || strcmp(f[0], "g1") != 0)
		return -1;
	for (int i = 0; i < 4; i++)
		if (strnum_ll(f[i + 1], 0, (long long)1 << 62, &n[i], &error) < 0)
			return -1;
	rec->first = n[0];
	rec->last = n[1];
	rec->passed_until = n[2];
	rec->seen = n[3];
	return 0;
}

static int
grey_record_format(struct buf *b, const struct grey_record *rec)
{
	return buf_printf(b, "g1 %lld %lld %lld %lld", rec->first, rec->last, rec->passed_until,
	    rec->seen);
}

/* The state machine (filter/greylist.h): from the stored record (or none) and now, the verdict
 * and the record to store. */
static enum mg_grey_verdict
grey_transition(const struct mg_greylist_params *p, const struct grey_record *old, long long now,
    struct grey_record *rec)
{
	if (now < 0)
		now = 0;
	if (old != NULL) {
		*rec = *old;
		rec->last = now;
		rec->seen = old->seen < (long long)1 << 62 ? old->seen + 1 : old->seen;
		if (old->passed_until > 0 && now < old->passed_until) {
			rec->passed_until = now + p->pass_lifetime;
			return MG_GREY_PASS;
		}
		if (old->passed_until == 0) {
			/* A clock that went back counts as early: never a pass before the delay. */
			if (now - old->first < p->delay)
				return MG_GREY_EARLY;
			if (now - old->first <= p->retry_window) {
				rec->passed_until = now + p->pass_lifetime;
				return MG_GREY_PASS;
			}
		}
	}
	/* First sighting, a window missed, or a pass expired: start over. */
	rec->first = rec->last = now;
	rec->passed_until = 0;
	rec->seen = 1;
	return MG_GREY_NEW;
}

struct grey_update {
	const struct mg_greylist_params *params;
	long long now;
	enum mg_grey_verdict verdict;
};

/* mg_kvdb_update callback; may run more than once (retried transaction), so it only computes. */
static int
grey_update_fn(void *arg, const void *old, size_t oldlen, struct buf *nv)
{
	struct grey_update *u = arg;
	struct grey_record prev, rec;
	int have = old != NULL && grey_record_parse(old, oldlen, &prev) == 0;

	u->verdict = grey_transition(u->params, have ? &prev : NULL, u->now, &rec);
	return grey_record_format(nv, &rec) < 0 ? -1 : MG_KVDB_STORE;
}

int
mg_greylist_check(struct mg_greylist *gl, const struct sockaddr *client, const char *sender,
    const char *rcpt, long long now, enum mg_grey_verdict *out)
{
	struct grey_update u = { .params = &gl->params, .now = now, .verdict = MG_GREY_NEW };
	struct buf key;
	int r = -1;

	buf_init(&key, GREY_KEY_MAX);
	if (grey_key(&key, client, sender, rcpt) < 0)
		goto out;
	if (mg_kvdb_update(gl->table, key.data, key.len, grey_update_fn, &u) < 0)
		goto out;
	*out = u.verdict;
	r = 0;
out:
	buf_free(&key);
	return r;
}

int
mg_greylist_check_message(struct mg_greylist *gl, const struct sockaddr *client, const char *sender,
    const char *const *rcpts, size_t nrcpts, long long now, enum mg_grey_verdict *verdicts_r,
    enum mg_grey_verdict *out)
{
	int any_new = 0, any_early = 0;

	for (size_t i = 0; i < nrcpts; i++) {
		enum mg_grey_verdict v;

		if (mg_greylist_check(gl, client, sender, rcpts[i], now, &v) < 0)
			return -1;
		if (verdicts_r != NULL)
			verdicts_r[i] = v;
		any_new |= v == MG_GREY_NEW;
		any_early |= v == MG_GREY_EARLY;
	}
	*out = any_new ? MG_GREY_NEW : any_early ? MG_GREY_EARLY : MG_GREY_PASS;
	return 0;
}

struct grey_sweep {
	const struct mg_greylist_params *params;
	long long now;
};

/* mg_kvdb_sweep callback: 1 keeps a live triplet, 0 removes an expired or unreadable one. */
static int
grey_keep_fn(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	const struct grey_sweep *s = arg;
	struct grey_record rec;

	(void)k;
	(void)kl;
	if (grey_record_parse(v, vl, &rec) < 0)
		return 0;
	if (rec.passed_until > 0)
		return s->now < rec.passed_until;
	return s->now - rec.first <= s->params->retry_window;
}

int
mg_greylist_sweep(struct mg_greylist *gl, long long now, size_t max_items, size_t *removed_r)
{
	struct grey_sweep s = { .params = &gl->params, .now = now };

	return mg_kvdb_sweep(gl->table, grey_keep_fn, &s, max_items, removed_r);
}
