/* qtoken.c: the signed one-click tokens of quarantine digests (common/qtoken.h) and their key
 * file state_dir/qtoken-keys. Runs in the queue role (mints, rotates keys) and the admin role
 * (verifies). Trusts nothing in a token: parsing is strict (canonical base64url, exact lengths,
 * bounded fields, no trailing octets) and the MAC is checked in constant time before any field
 * is believed. The key file is ours but still parsed strictly (size, line count, hex, mode 0600).
 * Keys live in one process-wide table: qtoken_keys_load replaces it, so call it from the thread
 * that also makes and parses tokens (the roles' main loops). */
#include "common/qtoken.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "lib/atomicfile.h"
#include "lib/buf.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

#define QTOKEN_VERSION 1
#define QTOKEN_KEY_LEN 32
#define QTOKEN_MAC_LEN 16
#define QTOKEN_KEYS_MAX 16
#define QTOKEN_KEYFILE_MAX 4096
#define QTOKEN_KEYFILE "qtoken-keys"
#define QTOKEN_ROTATE_SECS (30LL * 86400)
#define QTOKEN_TIME_MAX (1LL << 62)
/* version, key id, action, expires (8), nonce (8), qid length; then qid, rcpt length (2), rcpt */
#define QTOKEN_FIXED 20
#define QTOKEN_PAYLOAD_MAX (QTOKEN_FIXED + QTOKEN_QID_MAX + 2 + QTOKEN_RCPT_MAX)

struct qtoken_key {
	unsigned id;
	long long created;
	uint8_t key[QTOKEN_KEY_LEN];
};

static struct qtoken_key qt_keys[QTOKEN_KEYS_MAX];
static size_t qt_nkeys;

static const char qt_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding (RFC 4648 §5). Returns the length written, or -1 when out is small. */
static int
qt_b64_encode(const uint8_t *in, size_t n, char *out, size_t size)
{
	size_t o = 0;

	if ((n * 4 + 2) / 3 + 1 > size)
		return -1;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t rem = n - i;

		if (rem > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (rem > 2)
			v |= in[i + 2];
		out[o++] = qt_b64[(v >> 18) & 63];
		out[o++] = qt_b64[(v >> 12) & 63];
		if (rem > 1)
			out[o++] = qt_b64[(v >> 6) & 63];
		if (rem > 2)
			out[o++] = qt_b64[v & 63];
	}
	out[o] = '\0';
	return (int)o;
}

/* The url-safe alphabet (RFC 4648 §5): '-' and '_' where §4 has '+' and '/'. */
static int
qt_b64_val(unsigned char c)
{
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return c == '+' || c == '/' ? -1 : str_base64_digit(c);
}

/* Strict decoding: only the url alphabet, no padding, no length of 1 mod 4, and the unused low
 * bits of the last character must be zero (so every byte string has exactly one encoding).
 * Returns the decoded length, or -1. */
static int
qt_b64_decode(const char *in, size_t n, uint8_t *out, size_t size)
{
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

	if (n % 4 == 1 || (n * 3) / 4 > size)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = qt_b64_val((unsigned char)in[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;
	return (int)o;
}

static const struct qtoken_key *
qt_key_newest(void)
{
	const struct qtoken_key *best = NULL;

	for (size_t i = 0; i < qt_nkeys; i++)
		if (best == NULL || qt_keys[i].created >= best->created)
			best = &qt_keys[i];
	return best;
}

static const struct qtoken_key *
qt_key_find(unsigned id)
{
	for (size_t i = 0; i < qt_nkeys; i++)
		if (qt_keys[i].id == id)
			return &qt_keys[i];
	return NULL;
}

/* qid: 0..QTOKEN_QID_MAX of [0-9A-Za-z]; rcpt: 1..QTOKEN_RCPT_MAX octets, no controls, space,
 * DEL or upper-case ASCII. */
static int
qt_fields_ok(const struct qtoken *t, size_t qlen, size_t rlen)
{
	if (t->action < QT_RELEASE || t->action > QT_LIST)
		return 0;
	if ((t->action == QT_LIST) != (qlen == 0) || qlen > QTOKEN_QID_MAX)
		return 0;
	if (rlen == 0 || rlen > QTOKEN_RCPT_MAX || t->expires <= 0 || t->expires >= QTOKEN_TIME_MAX)
		return 0;
	for (size_t i = 0; i < qlen; i++) {
		unsigned char c = (unsigned char)t->qid[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return 0;
	}
	for (size_t i = 0; i < rlen; i++) {
		unsigned char c = (unsigned char)t->rcpt[i];
		if (c <= 0x20 || c == 0x7f || (c >= 'A' && c <= 'Z'))
			return 0;
	}
	return 1;
}

static void
qt_mac(const struct qtoken_key *k, const uint8_t *p, size_t n, uint8_t mac[QTOKEN_MAC_LEN])
{
	uint8_t full[EVP_MAX_MD_SIZE];
	unsigned flen = 0;

	if (HMAC(EVP_sha256(), k->key, QTOKEN_KEY_LEN, p, n, full, &flen) == NULL || flen < 32)
		abort();	/* OpenSSL cannot do SHA-256: nothing sensible to continue with */
	memcpy(mac, full, QTOKEN_MAC_LEN);
	OPENSSL_cleanse(full, sizeof(full));
}

int
qtoken_make(struct qtoken *t, char *out, size_t size)
{
	const struct qtoken_key *k = qt_key_newest();
	uint8_t p[QTOKEN_PAYLOAD_MAX], mac[QTOKEN_MAC_LEN];
	size_t qlen, rlen, n = 0;
	unsigned long long e;
	int len, mlen;
	static const uint8_t zero[8];

	if (k == NULL)
		return -1;
	qlen = strnlen(t->qid, sizeof(t->qid));
	rlen = strnlen(t->rcpt, sizeof(t->rcpt));
	if (qlen >= sizeof(t->qid) || rlen >= sizeof(t->rcpt))
		return -1;
	for (size_t i = 0; i < rlen; i++)
		if (t->rcpt[i] >= 'A' && t->rcpt[i] <= 'Z')
			t->rcpt[i] = (char)(t->rcpt[i] - 'A' + 'a');
	if (!qt_fields_ok(t, qlen, rlen))
		return -1;
	if (memcmp(t->nonce, zero, sizeof(zero)) == 0 && RAND_bytes(t->nonce, sizeof(t->nonce)) != 1)
		return -1;
	t->key_id = k->id;
	p[n++] = QTOKEN_VERSION;
	p[n++] = (uint8_t)k->id;
	p[n++] = (uint8_t)t->action;
	e = (unsigned long long)t->expires;
	for (int i = 7; i >= 0; i--)
		p[n++] = (uint8_t)(e >> (i * 8));
	memcpy(p + n, t->nonce, 8);
	n += 8;
	p[n++] = (uint8_t)qlen;
	memcpy(p + n, t->qid, qlen);
	n += qlen;
	p[n++] = (uint8_t)(rlen >> 8);
	p[n++] = (uint8_t)rlen;
	memcpy(p + n, t->rcpt, rlen);
	n += rlen;
	qt_mac(k, p, n, mac);
	if ((len = qt_b64_encode(p, n, out, size)) < 0 || (size_t)len + 2 > size)
		return -1;
	out[len++] = '.';
	mlen = qt_b64_encode(mac, sizeof(mac), out + len, size - (size_t)len);
	if (mlen < 0 || len + mlen > QTOKEN_MAX)
		return -1;
	return 0;
}

/* Decodes the payload layout into t; 0 or -1. */
static int
qt_payload_decode(const uint8_t *p, size_t n, struct qtoken *t)
{
	unsigned long long e = 0;
	size_t qlen, rlen, off;

	if (n < QTOKEN_FIXED + 2 || p[0] != QTOKEN_VERSION)
		return -1;
	t->key_id = p[1];
	t->action = (enum qtoken_action)p[2];
	for (int i = 0; i < 8; i++)
		e = (e << 8) | p[3 + i];
	if (e >= (unsigned long long)QTOKEN_TIME_MAX)
		return -1;
	t->expires = (long long)e;
	memcpy(t->nonce, p + 11, 8);
	if (memcmp(t->nonce, (const uint8_t[8]){ 0 }, 8) == 0)
		return -1;	/* qtoken_make never leaves it zero */
	qlen = p[19];
	if (qlen > QTOKEN_QID_MAX || QTOKEN_FIXED + qlen + 2 > n)
		return -1;
	memcpy(t->qid, p + QTOKEN_FIXED, qlen);
	t->qid[qlen] = '\0';
	off = QTOKEN_FIXED + qlen;
	rlen = ((size_t)p[off] << 8) | p[off + 1];
	off += 2;
	if (rlen > QTOKEN_RCPT_MAX || off + rlen != n)
		return -1;
	memcpy(t->rcpt, p + off, rlen);
	t->rcpt[rlen] = '\0';
	return qt_fields_ok(t, qlen, rlen) ? 0 : -1;
}

int
qtoken_parse(const char *s, struct qtoken *t, const char **error_r)
{
	uint8_t p[QTOKEN_PAYLOAD_MAX + 3], mac[QTOKEN_MAC_LEN + 3], want[QTOKEN_MAC_LEN];
	const struct qtoken_key *k;
	const char *dot;
	size_t len = strnlen(s, QTOKEN_MAX + 1);
	int n, m;

	memset(t, 0, sizeof(*t));
	*error_r = "malformed";
	if (len > QTOKEN_MAX || (dot = memchr(s, '.', len)) == NULL)
		return -1;
	n = qt_b64_decode(s, (size_t)(dot - s), p, sizeof(p));
	m = qt_b64_decode(dot + 1, len - (size_t)(dot - s) - 1, mac, sizeof(mac));
	if (n < 2 || m != QTOKEN_MAC_LEN || n > QTOKEN_PAYLOAD_MAX || p[0] != QTOKEN_VERSION)
		return -1;
	if ((k = qt_key_find(p[1])) == NULL) {
		*error_r = "unknown key";
		return -1;
	}
	qt_mac(k, p, (size_t)n, want);
	if (CRYPTO_memcmp(want, mac, QTOKEN_MAC_LEN) != 0) {
		*error_r = "bad signature";
		return -1;
	}
	/* Authentic, so written by our own qtoken_make; still decoded strictly. */
	if (qt_payload_decode(p, (size_t)n, t) < 0) {
		memset(t, 0, sizeof(*t));
		return -1;
	}
	*error_r = NULL;
	return 0;
}

/* Parses one "ID HEXKEY CREATED" line into k; 0 or -1. */
static int
qt_key_line(char *line, struct qtoken_key *k)
{
	char *f[4];
	long long v;
	const char *err;

	if (str_split(line, " \t", f, 4) != 3)
		return -1;
	if (strnum_ll(f[0], 1, 255, &v, &err) < 0)
		return -1;
	k->id = (unsigned)v;
	if (strlen(f[1]) != QTOKEN_KEY_LEN * 2)
		return -1;
	for (size_t i = 0; i < QTOKEN_KEY_LEN; i++) {
		int hi = str_hex_digit((unsigned char)f[1][2 * i]);
		int lo = str_hex_digit((unsigned char)f[1][2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		k->key[i] = (uint8_t)(hi << 4 | lo);
	}
	if (strnum_ll(f[2], 0, QTOKEN_TIME_MAX - 1, &v, &err) < 0)
		return -1;
	k->created = v;
	return 0;
}

/* Reads and parses the key file into keys (at most QTOKEN_KEYS_MAX). Returns the count, 0 when
 * the file does not exist, -1 with *error_r. */
static int
qt_keys_read(const char *path, struct qtoken_key *keys, const char **error_r)
{
	char data[QTOKEN_KEYFILE_MAX + 1], *line, *next;
	struct stat st;
	ssize_t r;
	size_t len = 0;
	int fd, n = 0;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		*error_r = "cannot open the key file";
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
		close(fd);
		*error_r = "key file is not a regular file of mode 0600";
		return -1;
	}
	while (len < sizeof(data) && (r = read(fd, data + len, sizeof(data) - len)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (len > QTOKEN_KEYFILE_MAX) {
		*error_r = "key file too large";
		return -1;
	}
	data[len] = '\0';
	*error_r = "malformed key file";
	if (memchr(data, '\0', len) != NULL)
		return -1;
	for (line = data; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (*line == '\0' || *line == '#')
			continue;
		if (n == QTOKEN_KEYS_MAX || qt_key_line(line, &keys[n]) < 0)
			goto fail;
		for (int i = 0; i < n; i++)
			if (keys[i].id == keys[n].id)
				goto fail;
		n++;
	}
	xwipe(data, sizeof(data));
	return n;
fail:
	xwipe(data, sizeof(data));
	xwipe(keys, sizeof(*keys) * QTOKEN_KEYS_MAX);
	return -1;
}

static int
qt_key_find_in(const struct qtoken_key *keys, int n, unsigned id)
{
	for (int i = 0; i < n; i++)
		if (keys[i].id == id)
			return 1;
	return 0;
}

static void
qt_drop_oldest(struct qtoken_key *keys, int *n)
{
	int old = 0;

	for (int i = 1; i < *n; i++)
		if (keys[i].created < keys[old].created)
			old = i;
	keys[old] = keys[*n - 1];
	xwipe(&keys[*n - 1], sizeof(keys[0]));
	(*n)--;
}

/* Rotation: adds a key when none is younger than QTOKEN_ROTATE_SECS, then drops every key whose
 * successor (the next newer key, which took over signing) was created more than lifetime ago:
 * no unexpired token can carry it. Returns 1 when keys changed, 0 when not, -1 (no randomness). */
static int
qt_rotate(struct qtoken_key *keys, int *n, long long lifetime, long long now)
{
	struct qtoken_key *newest = NULL;
	int changed = 0, out = 0;

	for (int i = 0; i < *n; i++)
		if (newest == NULL || keys[i].created >= newest->created)
			newest = &keys[i];
	if (newest == NULL || now - newest->created >= QTOKEN_ROTATE_SECS) {
		unsigned id = newest ? newest->id % 255 + 1 : 1;
		struct qtoken_key k = { 0 };

		for (int tries = 0; tries < 256 && qt_key_find_in(keys, *n, id); tries++)
			id = id % 255 + 1;
		if (*n == QTOKEN_KEYS_MAX)
			qt_drop_oldest(keys, n);
		k.id = id;
		k.created = now;
		if (RAND_bytes(k.key, sizeof(k.key)) != 1)
			return -1;
		keys[(*n)++] = k;
		xwipe(&k, sizeof(k));
		changed = 1;
	}
	for (int i = 0; i < *n; i++) {
		long long succ = -1;

		for (int j = 0; j < *n; j++)
			if (keys[j].created > keys[i].created && (succ < 0 || keys[j].created < succ))
				succ = keys[j].created;
		if (succ >= 0 && succ + lifetime < now) {
			changed = 1;
			continue;
		}
		keys[out++] = keys[i];
	}
	for (int i = out; i < *n; i++)
		xwipe(&keys[i], sizeof(keys[i]));
	*n = out;
	return changed;
}

/* Writes keys (oldest first) to path atomically with mode 0600. 0 or -1 with *error_r. */
static int
qt_keys_write(const char *path, struct qtoken_key *keys, int n, const char **error_r)
{
	struct buf b;
	int rc = 0;

	buf_init(&b, QTOKEN_KEYFILE_MAX);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (keys[j].created < keys[i].created) {
				struct qtoken_key tmp = keys[i];
				keys[i] = keys[j];
				keys[j] = tmp;
				xwipe(&tmp, sizeof(tmp));
			}
	rc |= buf_append_str(&b, "# MailGuard quarantine link keys: ID HEXKEY CREATED (written by the "
	    "queue role)\n");
	for (int i = 0; i < n && rc == 0; i++) {
		rc |= buf_printf(&b, "%u ", keys[i].id);
		for (size_t k = 0; k < QTOKEN_KEY_LEN; k++)
			rc |= buf_printf(&b, "%02x", keys[i].key[k]);
		rc |= buf_printf(&b, " %lld\n", keys[i].created);
	}
	if (rc != 0)
		*error_r = "key file too large";
	else
		rc = atomicfile_write(path, b.data, b.len, 0600, error_r);
	xwipe(b.data, b.cap);
	buf_free(&b);
	return rc < 0 ? -1 : 0;
}

int
qtoken_keys_load(const char *state_dir, int rotate, long long lifetime, long long now,
    const char **error_r)
{
	struct qtoken_key keys[QTOKEN_KEYS_MAX];
	char path[4096];
	int n, changed = 0;

	if (str_fmt(path, sizeof(path), "%s/%s", state_dir, QTOKEN_KEYFILE) < 0) {
		*error_r = "state_dir path too long";
		return -1;
	}
	memset(keys, 0, sizeof(keys));
	if ((n = qt_keys_read(path, keys, error_r)) < 0)
		return -1;
	if (rotate && (changed = qt_rotate(keys, &n, lifetime < 0 ? 0 : lifetime, now)) < 0) {
		*error_r = "no randomness for a new key";
		goto fail;
	}
	if (changed && qt_keys_write(path, keys, n, error_r) < 0)
		goto fail;
	if (n == 0) {
		*error_r = "no key (the queue role creates state_dir/qtoken-keys)";
		goto fail;
	}
	xwipe(qt_keys, sizeof(qt_keys));
	memcpy(qt_keys, keys, sizeof(keys[0]) * (size_t)n);
	qt_nkeys = (size_t)n;
	xwipe(keys, sizeof(keys));
	return 0;
fail:
	xwipe(keys, sizeof(keys));
	return -1;
}
