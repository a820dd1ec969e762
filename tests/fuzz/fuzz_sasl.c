/* fuzz_sasl: libFuzzer target for smtpd/sasl.c: the first byte picks the parser (AUTH command
 * argument, base64 decode + PLAIN split + LOGIN field, users file), the rest is its input.
 * Besides the sanitizers it aborts when an invariant breaks: decoded length within 3/4 of the
 * input, re-encoding a decoded value gives the input back (strict base64 is canonical), PLAIN
 * fields NUL-terminated and within 255 octets, the initial response a span of the argument,
 * users sorted and findable. Seeds: tests/fuzz/corpus/fuzz_sasl/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "smtpd/sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUST(cond) do { if (!(cond)) abort(); } while (0)

static void
fuzz_cmd(struct slice in)
{
	struct sasl_auth_cmd c;
	const char *err;

	if (sasl_auth_cmd_parse(in, &c, &err) < 0)
		return;
	MUST(c.mech <= SASL_MECH_LOGIN);
	MUST(c.initial.len == 0 || (c.initial.p >= in.p && c.initial.p + c.initial.len <= in.p + in.len));
}

static void
fuzz_decode(struct slice in)
{
	unsigned char *out = xmalloc(in.len / 4 * 3 + 1);
	char *enc;
	size_t n;
	struct sasl_plain p;
	char field[SASL_FIELD_MAX + 1];
	const char *err;

	if (sasl_base64_decode(in, out, in.len / 4 * 3 + 1, &n) == 0) {
		MUST(n <= in.len / 4 * 3);
		enc = xmalloc(in.len + 8);
		MUST(sasl_base64_encode(out, n, enc, in.len + 8) == 0);
		MUST(strlen(enc) == in.len && memcmp(enc, in.p, in.len) == 0);
		xfree(enc);
		if (sasl_plain_parse(out, n, &p, &err) == 0) {
			MUST(strlen(p.authcid) > 0 && strlen(p.authcid) <= SASL_FIELD_MAX);
			MUST(strlen(p.passwd) > 0 && strlen(p.passwd) <= SASL_FIELD_MAX);
		}
		if (sasl_login_field(out, n, 1, field) == 0)
			MUST(strlen(field) == n);
	}
	xfree(out);
}

static void
fuzz_users(struct slice in)
{
	struct sasl_users u;
	size_t line;
	const char *err;

	if (sasl_users_parse(in.p, in.len, &u, &line, &err) < 0) {
		MUST(u.n == 0 && err != NULL);
		return;
	}
	for (size_t i = 0; i < u.n; i++) {
		MUST(i == 0 || strcmp(u.v[i - 1].name, u.v[i].name) < 0);
		MUST(sasl_users_find(&u, u.v[i].name) == &u.v[i]);
		MUST(strncmp(u.v[i].hash, "$argon2id$", 10) == 0 && strlen(u.v[i].hash) <= SASL_HASH_MAX);
	}
	sasl_users_free(&u);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice in;

	if (size == 0 || size > 64 * 1024)
		return 0;
	in = (struct slice){ (const char *)data + 1, size - 1 };
	switch (data[0] % 3) {
	case 0:
		fuzz_cmd(in);
		break;
	case 1:
		fuzz_decode(in);
		break;
	default:
		fuzz_users(in);
		break;
	}
	return 0;
}
