/* fuzz_qtoken: libFuzzer target for common/qtoken.c. The first byte picks the input kind:
 * even: a token for qtoken_parse under a fixed key (id 1, the key below, so the seeds in
 * tests/fuzz/corpus/fuzz_qtoken/ are validly signed); 1: the content of a qtoken-keys file,
 * loaded without rotation; 2: raw payload octets, which the harness encodes and signs with the
 * fixed key, so that arbitrary payloads reach the decoder behind the MAC check (kind = first
 * byte mod 3). Besides the sanitizers it
 * aborts when an invariant breaks: an accepted token has a valid action, a qid that is empty
 * exactly for QT_LIST, a non-empty bounded recipient, a positive expiry, and re-signing its
 * fields with the same nonce gives back exactly the input (one encoding per token). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/qtoken.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUST(cond) do { if (!(cond)) abort(); } while (0)

#define FUZZ_KEYLINE "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f 1700000000\n"

static char fuzz_dir[64];
static char fuzz_path[128];

static void fuzz_write_keys(const void *data, size_t size);

static void
fuzz_teardown(void)
{
	unlink(fuzz_path);
	rmdir(fuzz_dir);
}

static void
fuzz_setup(void)
{
	const char *err;

	if (fuzz_dir[0] != '\0')
		return;
	snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/fuzz_qtoken.XXXXXX");
	MUST(mkdtemp(fuzz_dir) != NULL);
	snprintf(fuzz_path, sizeof(fuzz_path), "%s/qtoken-keys", fuzz_dir);
	atexit(fuzz_teardown);
	fuzz_write_keys(FUZZ_KEYLINE, strlen(FUZZ_KEYLINE));
	MUST(qtoken_keys_load(fuzz_dir, 0, 86400, 1700000000, &err) == 0);
}

static void
fuzz_token(const char *s)
{
	struct qtoken t, again;
	char out[QTOKEN_MAX + 1];
	const char *err = NULL;
	size_t ql, rl;

	if (qtoken_parse(s, &t, &err) < 0) {
		MUST(err != NULL);
		return;
	}
	MUST(err == NULL);
	MUST(t.action >= QT_RELEASE && t.action <= QT_LIST);
	ql = strlen(t.qid);
	rl = strlen(t.rcpt);
	MUST((ql == 0) == (t.action == QT_LIST) && ql <= QTOKEN_QID_MAX);
	MUST(rl > 0 && rl <= QTOKEN_RCPT_MAX && t.expires > 0 && t.key_id == 1);
	again = t;
	MUST(qtoken_make(&again, out, sizeof(out)) == 0);
	MUST(strcmp(out, s) == 0);
}

/* Plain rewrite (no fsync: speed matters more than durability here). */
static void
fuzz_write_keys(const void *data, size_t size)
{
	FILE *f = fopen(fuzz_path, "w");

	MUST(f != NULL);
	if (size > 0)
		MUST(fwrite(data, 1, size, f) == size);
	MUST(fclose(f) == 0);
	MUST(chmod(fuzz_path, 0600) == 0);
}

static void
fuzz_keyfile(const uint8_t *data, size_t size)
{
	const char *err;

	fuzz_write_keys(data, size);
	(void)qtoken_keys_load(fuzz_dir, 0, 86400, 1700000000, &err);
	/* restore the fixed key for the token inputs */
	fuzz_write_keys(FUZZ_KEYLINE, strlen(FUZZ_KEYLINE));
	MUST(qtoken_keys_load(fuzz_dir, 0, 86400, 1700000000, &err) == 0);
}

static size_t
fuzz_b64url(const uint8_t *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
		    (i + 2 < n ? in[i + 2] : 0);
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		if (i + 1 < n)
			out[o++] = a[v >> 6 & 63];
		if (i + 2 < n)
			out[o++] = a[v & 63];
	}
	out[o] = '\0';
	return o;
}

static void
fuzz_signed(const uint8_t *p, size_t n)
{
	static const uint8_t key[32] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
		17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31 };
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned mlen = 0;
	char tok[1200];
	size_t o;

	if (n > 600)
		return;
	MUST(HMAC(EVP_sha256(), key, sizeof(key), p, n, mac, &mlen) != NULL);
	o = fuzz_b64url(p, n, tok);
	tok[o++] = '.';
	fuzz_b64url(mac, 16, tok + o);
	fuzz_token(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	fuzz_setup();
	if (size == 0 || size > 8192)
		return 0;
	if (data[0] % 3 == 1) {
		fuzz_keyfile(data + 1, size - 1);
		return 0;
	}
	if (data[0] % 3 == 2) {
		fuzz_signed(data + 1, size - 1);
		return 0;
	}
	s = xstrndup((const char *)data + 1, size - 1);
	fuzz_token(s);
	xfree(s);
	return 0;
}
