/* qlink_store.c: the state of the public one-click link endpoint (issue G): which release and
 * delete links were used (Berkeley DB table "qtoken_used" in the admin role's admin-db
 * environment, whose handle the metrics history owns: admin/metrics_int.h), and a per-address
 * request counter for the rate limit (memory only). Admin role, loop thread.
 *
 * A used-link record: key = the token's 8 nonce octets + "release:QID" (or "delete:QID"),
 * value = the token's expiry as decimal unix seconds; records past their expiry are deleted by
 * a bounded sweep on each mark (a token past its expiry is refused before the store is asked,
 * so forgetting it then is safe). The mark is one transaction (mg_kvdb_update) taken BEFORE
 * the action runs: two concurrent POSTs of one link cannot both act. */
#include <stdio.h>
#include <string.h>

#include "admin/metrics_int.h"
#include "admin/qlink.h"
#include "lib/kvdb.h"
#include "lib/log.h"
#include "lib/strnum.h"

#define USED_TABLE	"qtoken_used"
#define USED_KEY_MAX	(8 + 64)
#define SWEEP_ITEMS	64
#define RATE_SLOTS	4096	/* addresses tracked at once; the oldest window is evicted */

static struct mg_kvdb_table *
used_table(void)
{
	struct mg_kvdb *kv = metrics_hist_kvdb();
	const char *err;
	struct mg_kvdb_table *t;

	if (kv == NULL)
		return NULL;
	if ((t = mg_kvdb_table(kv, USED_TABLE, &err)) == NULL)
		log_err("qlink: table %s unavailable: %s", USED_TABLE, err);
	return t;
}

static size_t
used_key(unsigned char *key, const uint8_t nonce[8], const char *what)
{
	size_t n = strlen(what);

	if (n > USED_KEY_MAX - 8)
		n = USED_KEY_MAX - 8;
	memcpy(key, nonce, 8);
	memcpy(key + 8, what, n);
	return 8 + n;
}

struct mark_arg {
	long long expires;
	int was_used;
};

static int
mark_fn(void *arg, const void *old, size_t oldlen, struct buf *new_val)
{
	struct mark_arg *a = arg;

	(void)oldlen;
	a->was_used = old != NULL;
	if (old != NULL)
		return MG_KVDB_KEEP;
	buf_printf(new_val, "%lld", a->expires);
	return MG_KVDB_STORE;
}

/* Keeps records whose expiry (value) is not yet past; unreadable values go. */
static int
keep_fn(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	long long now = *(const long long *)arg, exp;
	char s[24];
	const char *err;

	(void)key;
	(void)klen;
	if (vlen == 0 || vlen >= sizeof(s))
		return 0;
	memcpy(s, val, vlen);
	s[vlen] = '\0';
	if (strnum_ll(s, 0, (long long)1 << 62, &exp, &err) < 0)
		return 0;
	return exp >= now;
}

int
qlink_used_mark(const uint8_t nonce[8], const char *what, long long expires, long long now)
{
	struct mg_kvdb_table *t = used_table();
	unsigned char key[USED_KEY_MAX];
	struct mark_arg a = { expires, 0 };
	size_t klen = used_key(key, nonce, what);

	if (t == NULL)
		return -1;
	(void)mg_kvdb_sweep(t, keep_fn, &now, SWEEP_ITEMS, NULL);
	if (mg_kvdb_update(t, key, klen, mark_fn, &a) < 0)
		return -1;
	return a.was_used;
}

int
qlink_used_check(const uint8_t nonce[8], const char *what)
{
	struct mg_kvdb_table *t = used_table();
	unsigned char key[USED_KEY_MAX];
	size_t klen = used_key(key, nonce, what);
	struct buf val;
	int rc;

	if (t == NULL)
		return -1;
	buf_init(&val, 64);
	rc = mg_kvdb_get(t, key, klen, &val);
	buf_free(&val);
	return rc;
}

void
qlink_used_unmark(const uint8_t nonce[8], const char *what)
{
	struct mg_kvdb_table *t = used_table();
	unsigned char key[USED_KEY_MAX];
	size_t klen = used_key(key, nonce, what);

	if (t != NULL)
		(void)mg_kvdb_del(t, key, klen);
}

/* ---- rate limit: fixed windows per address, open-addressed table ---- */

static struct rate_slot {
	char peer[64];
	double start;		/* window start */
	unsigned count;
} rate[RATE_SLOTS];

static uint32_t
rate_hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

int
qlink_rate_ok(const char *peer, double now)
{
	uint32_t h = rate_hash(peer);
	struct rate_slot *s = NULL, *oldest = NULL;

	for (unsigned i = 0; i < 8; i++) {	/* a bounded probe */
		struct rate_slot *c = &rate[(h + i) % RATE_SLOTS];

		if (strcmp(c->peer, peer) == 0) {
			s = c;
			break;
		}
		if (oldest == NULL || c->start < oldest->start)
			oldest = c;
	}
	if (s == NULL) {
		s = oldest;
		snprintf(s->peer, sizeof(s->peer), "%s", peer);
		s->start = now;
		s->count = 0;
	}
	if (now - s->start >= QLINK_RATE_WINDOW) {
		s->start = now;
		s->count = 0;
	}
	if (s->count >= QLINK_RATE)
		return 0;
	s->count++;
	return 1;
}
