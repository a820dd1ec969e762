/* sasl.c: I/O-free parsers for SMTP AUTH: the AUTH command argument (RFC 4954 §4), strict
 * base64 (RFC 4648 §4), RFC 4616 PLAIN messages, LOGIN fields, and the users file.
 * Runs in smtpd (main thread and tools) and in fuzz targets; no global state. Input is
 * untrusted and may hold passwords: nothing here logs, and the callers wipe what they decoded.
 * Limits: SASL_LINE_MAX (RFC 4954 §4), SASL_FIELD_MAX (RFC 4616 §2), SASL_USERS_FILE_MAX,
 * SASL_USERS_MAX and SASL_HASH_MAX. */
#include "smtpd/sasl.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/str.h"
#include "lib/xalloc.h"

static int
is_b64(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '+' || c == '/';
}

int
sasl_auth_cmd_parse(struct slice arg, struct sasl_auth_cmd *cmd_r, const char **error_r)
{
	size_t i = 0, mlen;
	const char *m;

	memset(cmd_r, 0, sizeof(*cmd_r));
	cmd_r->initial.p = "";
	/* RFC 4422 §3.1: sasl-mech = 1*20 (UPPER-ALPHA / DIGIT / "-" / "_") (any case accepted). */
	while (i < arg.len && (arg.p[i] == ' ' || arg.p[i] == '\t'))
		i++;
	m = arg.p + i;
	for (mlen = 0; i < arg.len && arg.p[i] != ' '; i++, mlen++) {
		unsigned char c = (unsigned char)arg.p[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_')) {
			*error_r = "Syntax error in mechanism name";
			return -1;
		}
	}
	if (mlen == 0 || mlen > 20) {
		*error_r = "Syntax: AUTH mechanism [initial-response]";
		return -1;
	}
	if (mlen == 5 && strncasecmp(m, "PLAIN", 5) == 0)
		cmd_r->mech = SASL_MECH_PLAIN;
	else if (mlen == 5 && strncasecmp(m, "LOGIN", 5) == 0)
		cmd_r->mech = SASL_MECH_LOGIN;
	while (i < arg.len && arg.p[i] == ' ')
		i++;
	if (i == arg.len)
		return 0;
	cmd_r->has_initial = 1;
	cmd_r->initial.p = arg.p + i;
	while (i < arg.len && (is_b64((unsigned char)arg.p[i]) || arg.p[i] == '='))
		i++;
	cmd_r->initial.len = (size_t)(arg.p + i - cmd_r->initial.p);
	while (i < arg.len && (arg.p[i] == ' ' || arg.p[i] == '\t'))
		i++;
	if (i != arg.len) {
		*error_r = "Syntax error in initial response";
		return -1;
	}
	/* RFC 4954 §4: "=" is an initial response of zero length. */
	if (cmd_r->initial.len == 1 && cmd_r->initial.p[0] == '=')
		cmd_r->initial.len = 0;
	return 0;
}


int
sasl_base64_decode(struct slice in, unsigned char *out, size_t outsize, size_t *outlen_r)
{
	size_t o = 0;

	*outlen_r = 0;
	if (in.len % 4 != 0 || in.len / 4 * 3 > outsize)
		return -1;
	for (size_t i = 0; i < in.len; i += 4) {
		int v[4], pad = 0;
		unsigned long w;

		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in.p[i + k];

			if (c == '=' && i + 4 == in.len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = str_base64_digit(c)) < 0)
				return -1;	/* '=' in the middle, or a character outside the alphabet */
		}
		w = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
		    ((unsigned long)v[2] << 6) | (unsigned long)v[3];
		/* RFC 4648 §3.5: the bits left over by padding must be zero. */
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return -1;
		out[o++] = (unsigned char)(w >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(w >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)w;
	}
	*outlen_r = o;
	return 0;
}

int
sasl_base64_encode(const void *p, size_t n, char *out, size_t outsize)
{
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = p;
	size_t o = 0;

	if (outsize < 4 * ((n + 2) / 3) + 1)
		return -1;
	for (size_t i = 0; i < n; i += 3) {
		unsigned long w = (unsigned long)s[i] << 16;

		if (i + 1 < n)
			w |= (unsigned long)s[i + 1] << 8;
		if (i + 2 < n)
			w |= s[i + 2];
		out[o++] = alpha[(w >> 18) & 63];
		out[o++] = alpha[(w >> 12) & 63];
		out[o++] = i + 1 < n ? alpha[(w >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? alpha[w & 63] : '=';
	}
	out[o] = '\0';
	return 0;
}

/* A user name: printable ASCII or UTF-8 octets, no controls, no NUL. */
static int
name_octets_ok(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	return 1;
}

int
sasl_login_field(const unsigned char *p, size_t n, int is_user, char *out)
{
	if (n == 0 || n > SASL_FIELD_MAX || memchr(p, '\0', n) != NULL)
		return -1;
	if (is_user && !name_octets_ok(p, n))
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

int
sasl_plain_parse(const unsigned char *p, size_t n, struct sasl_plain *out, const char **error_r)
{
	const unsigned char *nul1 = memchr(p, '\0', n), *nul2;
	size_t zlen, clen, plen;

	memset(out, 0, sizeof(*out));
	if (nul1 == NULL || (nul2 = memchr(nul1 + 1, '\0', n - (size_t)(nul1 + 1 - p))) == NULL) {
		*error_r = "PLAIN message needs authzid NUL authcid NUL passwd";
		return -1;
	}
	zlen = (size_t)(nul1 - p);
	clen = (size_t)(nul2 - nul1 - 1);
	plen = n - (size_t)(nul2 + 1 - p);
	if (clen == 0 || plen == 0 || clen > SASL_FIELD_MAX || plen > SASL_FIELD_MAX ||
	    zlen > SASL_FIELD_MAX) {
		*error_r = "PLAIN field empty or over 255 octets";
		return -1;
	}
	if (memchr(nul2 + 1, '\0', plen) != NULL || !name_octets_ok(nul1 + 1, clen)) {
		*error_r = "PLAIN field with a forbidden character";
		return -1;
	}
	/* Proxy authorisation is not offered: an authzid, if any, must name the same user. */
	if (zlen != 0 && (zlen != clen || memcmp(p, nul1 + 1, clen) != 0)) {
		*error_r = "authorization identity differs from authentication identity";
		return -1;
	}
	memcpy(out->authcid, nul1 + 1, clen);
	memcpy(out->passwd, nul2 + 1, plen);
	return 0;
}

static int
user_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sasl_user *)a)->name, ((const struct sasl_user *)b)->name);
}

/* Checks one "name:hash" line (no newline); returns NULL or the reason. */
static const char *
users_line_check(const char *p, size_t n, size_t *colon_r)
{
	const char *colon = memchr(p, ':', n);
	size_t nlen, hlen;

	if (colon == NULL)
		return "expected user:hash";
	nlen = (size_t)(colon - p);
	hlen = n - nlen - 1;
	if (nlen == 0 || nlen > SASL_FIELD_MAX)
		return "user name empty or over 255 octets";
	for (size_t i = 0; i < nlen; i++)
		if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f)
			return "user name with a space or control character";
	if (hlen < 10 || hlen > SASL_HASH_MAX || memcmp(colon + 1, "$argon2id$", 10) != 0)
		return "hash must be an $argon2id$ encoded string (mailguardctl auth hash)";
	for (size_t i = 0; i < hlen; i++) {
		unsigned char c = (unsigned char)colon[1 + i];

		if (c <= ' ' || c >= 0x7f)
			return "junk in or after the hash";
	}
	*colon_r = nlen;
	return NULL;
}

int
sasl_users_parse(const char *text, size_t len, struct sasl_users *out, size_t *line_r,
    const char **error_r)
{
	size_t off = 0, line = 0, cap = 0;

	memset(out, 0, sizeof(*out));
	*line_r = 0;
	if (len > SASL_USERS_FILE_MAX) {
		*error_r = "file too large";
		goto fail;
	}
	while (off < len) {
		const char *p = text + off, *nl = memchr(p, '\n', len - off);
		size_t n = nl ? (size_t)(nl - p) : len - off, colon, s = 0;
		const char *why;

		off += n + (nl ? 1 : 0);
		line++;
		*line_r = line;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		while (s < n && (p[s] == ' ' || p[s] == '\t'))
			s++;
		if (s == n || p[s] == '#')
			continue;
		if (s > 0 || memchr(p, '\0', n) != NULL) {
			*error_r = "expected user:hash at the start of the line";
			goto fail;
		}
		if ((why = users_line_check(p, n, &colon)) != NULL) {
			*error_r = why;
			goto fail;
		}
		if (out->n == SASL_USERS_MAX) {
			*error_r = "too many users";
			goto fail;
		}
		if (out->n == cap) {
			cap = cap ? cap * 2 : 16;
			out->v = xreallocarray(out->v, cap, sizeof(*out->v));
		}
		out->v[out->n].name = xstrndup(p, colon);
		out->v[out->n].hash = xstrndup(p + colon + 1, n - colon - 1);
		out->n++;
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), user_cmp);
	for (size_t i = 1; i < out->n; i++)
		if (strcmp(out->v[i - 1].name, out->v[i].name) == 0) {
			*line_r = 0;
			*error_r = "a user name is given twice";
			goto fail;
		}
	*line_r = 0;
	return 0;
fail:
	sasl_users_free(out);
	return -1;
}

const struct sasl_user *
sasl_users_find(const struct sasl_users *u, const char *name)
{
	struct sasl_user key = { (char *)name, NULL };

	if (u->n == 0)
		return NULL;
	return bsearch(&key, u->v, u->n, sizeof(*u->v), user_cmp);
}

void
sasl_users_free(struct sasl_users *u)
{
	for (size_t i = 0; i < u->n; i++) {
		xfree(u->v[i].name);
		xfree(u->v[i].hash);
	}
	xfree(u->v);
	u->v = NULL;
	u->n = 0;
}
