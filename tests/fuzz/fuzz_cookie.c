/* fuzz_cookie: libFuzzer target for the console's request-header parsers (admin/session_parse.c):
 * the first byte picks Cookie parsing, Authorization "Bearer" parsing, the post-login redirect
 * check, the address key or the users/tokens file parser; the rest is its input. Besides the
 * sanitizers it aborts when an invariant breaks: a found cookie value is non-empty, fits its
 * buffer and holds only RFC 6265 cookie-octets; a bearer token is 64 lower-case hex digits; a
 * redirect target is "/" or the input itself, starts with one '/' and has no "//", '\' or
 * controls; parsed names satisfy session_name_ok. Seeds: tests/fuzz/corpus/fuzz_cookie/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/session_int.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUST(cond) do { if (!(cond)) abort(); } while (0)

static void
fuzz_cookie(const char *s)
{
	char out[SESSION_HEX_LEN + 1];
	static const char *names[] = { SESSION_COOKIE, SESSION_PRE_COOKIE, "a" };

	for (size_t k = 0; k < 3; k++) {
		size_t n;

		if (session_cookie_find(s, names[k], out, sizeof(out)) < 0)
			continue;
		n = strlen(out);
		MUST(n > 0 && n < sizeof(out));
		for (size_t i = 0; i < n; i++)
			MUST(out[i] > 0x20 && out[i] < 0x7f && out[i] != '"' && out[i] != ',' &&
			    out[i] != ';' && out[i] != '\\');
		MUST(strstr(s, out) != NULL);
	}
}

static void
fuzz_bearer(const char *s)
{
	char out[SESSION_HEX_LEN + 1];

	if (session_bearer_parse(s, out, sizeof(out)) < 0)
		return;
	MUST(session_is_hex_id(out));
}

static void
fuzz_next(const char *s)
{
	const char *r = session_next_safe(s);

	MUST(r == s || strcmp(r, "/") == 0);
	MUST(r[0] == '/' && strstr(r, "//") == NULL && strchr(r, '\\') == NULL);
	for (const char *p = r; *p != '\0'; p++)
		MUST((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f);
}

static void
fuzz_addr(const char *s)
{
	char out[80];

	if (session_addr_key(s, out, sizeof(out)) == 0)
		MUST(strlen(out) > 0 && strlen(out) < sizeof(out));
}

static void
fuzz_creds(const char *s, size_t len, enum session_cred_kind kind)
{
	struct session_cred *c;
	const char *err;
	size_t n, line;

	if (session_creds_parse(s, len, kind, &c, &n, &line, &err) < 0) {
		MUST(err != NULL && line >= 1);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		MUST(session_name_ok(c[i].name));
		MUST(kind != SESSION_CRED_TOKENS || session_is_hex_id(c[i].secret));
		for (size_t j = 0; j < i; j++)
			MUST(strcmp(c[i].name, c[j].name) != 0);
	}
	session_creds_free(&c, &n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > 64 * 1024)
		return 0;
	s = xstrndup((const char *)data + 1, size - 1);	/* headers never hold NUL */
	switch (data[0] % 6) {
	case 0: fuzz_cookie(s); break;
	case 1: fuzz_bearer(s); break;
	case 2: fuzz_next(s); break;
	case 3: fuzz_addr(s); break;
	case 4: fuzz_creds((const char *)data + 1, size - 1, SESSION_CRED_USERS); break;
	default: fuzz_creds((const char *)data + 1, size - 1, SESSION_CRED_TOKENS); break;
	}
	xfree(s);
	return 0;
}
