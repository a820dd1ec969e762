/* mta_sts.c: MTA-STS (RFC 8461) TXT record and policy parsers, MX pattern matching. Pure:
 * no I/O, no allocation; input is hostile (fetched over HTTPS from the recipient's domain)
 * and bounded by STS_POLICY_MAX, STS_LINE_MAX, STS_MX_MAX and the RFC's field limits.
 * Used by the delivery role (sts.c) and the fuzz target tests/fuzz/fuzz_mta_sts.c. */
#include "delivery/mta_sts.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "lib/str.h"

/* Next ';'-separated field of a TXT record, trimmed of spaces (RFC 8461 §3.1 sts-field-delim
 * allows *WSP around ';'). */
static int
txt_next(struct slice *rest, struct slice *field)
{
	const char *semi;

	if (rest->len == 0)
		return 0;
	semi = memchr(rest->p, ';', rest->len);
	field->p = rest->p;
	field->len = semi ? (size_t)(semi - rest->p) : rest->len;
	rest->p += field->len + (semi ? 1 : 0);
	rest->len -= field->len + (semi ? 1 : 0);
	*field = slice_trim(*field);
	return 1;
}

int
sts_txt_parse(struct slice txt, char *id_r, const char **error_r)
{
	struct slice rest = txt, f;
	int first = 1, have_id = 0;

	id_r[0] = '\0';
	if (txt.len > 4096) {
		*error_r = "TXT record too long";
		return -1;
	}
	while (txt_next(&rest, &f)) {
		if (first) {
			/* §3.1: the record MUST begin with v=STSv1 */
			if (f.len != 7 || memcmp(f.p, "v=STSv1", 7) != 0) {
				*error_r = "record does not start with v=STSv1";
				return -1;
			}
			first = 0;
			continue;
		}
		if (f.len == 0)
			continue;
		if (f.len > 3 && memcmp(f.p, "id=", 3) == 0 && !have_id) {
			size_t n = f.len - 3;

			if (n == 0 || n > STS_ID_MAX) {
				*error_r = "id must be 1 to 32 letters or digits";
				return -1;
			}
			for (size_t i = 0; i < n; i++)
				if (!isalnum((unsigned char)f.p[3 + i])) {
					*error_r = "id must be 1 to 32 letters or digits";
					return -1;
				}
			memcpy(id_r, f.p + 3, n);
			id_r[n] = '\0';
			have_id = 1;
		}
	}
	if (first) {
		*error_r = "empty record";
		return -1;
	}
	if (!have_id) {
		*error_r = "record has no id";
		return -1;
	}
	return 0;
}

/* §3.2 sts-policy-mx-value: ["*."] 1*(label "."), letters/digits/hyphens, at most 253. */
static int
mx_pattern_ok(struct slice v)
{
	size_t i = 0, label = 0;

	if (v.len == 0 || v.len > 253)
		return 0;
	if (v.len >= 2 && v.p[0] == '*' && v.p[1] == '.')
		i = 2;
	if (i == v.len)
		return 0;
	for (; i < v.len; i++) {
		unsigned char c = (unsigned char)v.p[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 || v.p[v.len - 1] == '.';
}

static int
parse_max_age(struct slice v, long *out)
{
	long n = 0;

	/* §3.2: max_age = 1*10DIGIT, at most 31557600 */
	if (v.len == 0 || v.len > 10)
		return -1;
	for (size_t i = 0; i < v.len; i++) {
		if (!isdigit((unsigned char)v.p[i]))
			return -1;
		n = n * 10 + (v.p[i] - '0');
	}
	if (n > STS_MAX_AGE_MAX)
		return -1;
	*out = n;
	return 0;
}

struct seen {
	int version, mode, max_age;
};

static int
policy_field(struct slice key, struct slice v, struct sts_policy *out, struct seen *seen,
    const char **error_r)
{
	if (key.len == 7 && memcmp(key.p, "version", 7) == 0) {
		if (seen->version++)
			return 0;
		if (v.len != 5 || memcmp(v.p, "STSv1", 5) != 0) {
			*error_r = "version is not STSv1";
			return -1;
		}
	} else if (key.len == 4 && memcmp(key.p, "mode", 4) == 0) {
		if (seen->mode++)
			return 0;
		if (v.len == 7 && memcmp(v.p, "enforce", 7) == 0)
			out->mode = STS_MODE_ENFORCE;
		else if (v.len == 7 && memcmp(v.p, "testing", 7) == 0)
			out->mode = STS_MODE_TESTING;
		else if (v.len == 4 && memcmp(v.p, "none", 4) == 0)
			out->mode = STS_MODE_NONE;
		else {
			*error_r = "mode is not enforce, testing or none";
			return -1;
		}
	} else if (key.len == 7 && memcmp(key.p, "max_age", 7) == 0) {
		if (seen->max_age++)
			return 0;
		if (parse_max_age(v, &out->max_age) < 0) {
			*error_r = "max_age is not a number from 0 to 31557600";
			return -1;
		}
	} else if (key.len == 2 && memcmp(key.p, "mx", 2) == 0) {
		if (!mx_pattern_ok(v)) {
			*error_r = "invalid mx pattern";
			return -1;
		}
		if (out->n_mx >= STS_MX_MAX) {
			*error_r = "too many mx patterns";
			return -1;
		}
		memcpy(out->mx[out->n_mx], v.p, v.len);
		out->mx[out->n_mx][v.len] = '\0';
		if (v.len > 0 && out->mx[out->n_mx][v.len - 1] == '.')
			out->mx[out->n_mx][v.len - 1] = '\0';
		str_lower(out->mx[out->n_mx]);
		out->n_mx++;
	}
	/* §3.2: unknown fields are ignored */
	return 0;
}

static int
policy_line(struct slice line, struct sts_policy *out, struct seen *seen, const char **error_r)
{
	const char *colon;
	struct slice key, v;

	if (line.len > 0 && line.p[line.len - 1] == '\r')
		line.len--;
	if (line.len == 0)
		return 0;
	if (line.len > STS_LINE_MAX) {
		*error_r = "policy line too long";
		return -1;
	}
	if ((colon = memchr(line.p, ':', line.len)) == NULL) {
		*error_r = "policy line without ':'";
		return -1;
	}
	key.p = line.p;
	key.len = (size_t)(colon - line.p);
	v.p = colon + 1;
	v.len = line.len - key.len - 1;
	key = slice_trim(key);
	v = slice_trim(v);
	if (key.len == 0) {
		*error_r = "policy line without a field name";
		return -1;
	}
	for (size_t i = 0; i < key.len; i++)
		if (!isalnum((unsigned char)key.p[i]) && key.p[i] != '_') {
			*error_r = "invalid field name";
			return -1;
		}
	for (size_t i = 0; i < v.len; i++)
		if ((unsigned char)v.p[i] < 0x20 && v.p[i] != '\t') {
			*error_r = "control character in a value";
			return -1;
		}
	return policy_field(key, v, out, seen, error_r);
}

int
sts_policy_parse(struct slice body, struct sts_policy *out, const char **error_r)
{
	struct seen seen = { 0, 0, 0 };
	struct slice rest = body;

	memset(out, 0, sizeof(*out));
	if (body.len > STS_POLICY_MAX) {
		*error_r = "policy larger than 64 KiB";
		return -1;
	}
	while (rest.len > 0) {
		const char *nl = memchr(rest.p, '\n', rest.len);
		struct slice line = { rest.p, nl ? (size_t)(nl - rest.p) : rest.len };

		rest.p += line.len + (nl ? 1 : 0);
		rest.len -= line.len + (nl ? 1 : 0);
		if (policy_line(line, out, &seen, error_r) < 0)
			return -1;
	}
	if (!seen.version) {
		*error_r = "policy has no version";
		return -1;
	}
	if (!seen.mode) {
		*error_r = "policy has no mode";
		return -1;
	}
	if (!seen.max_age) {
		*error_r = "policy has no max_age";
		return -1;
	}
	if (out->mode != STS_MODE_NONE && out->n_mx == 0) {
		*error_r = "policy has no mx";
		return -1;
	}
	return 0;
}

int
sts_mx_match(const struct sts_policy *p, const char *host)
{
	char h[256];
	size_t n;

	if (str_lcpy(h, host, sizeof(h)) >= sizeof(h))
		return 0;
	n = strlen(h);
	if (n > 0 && h[n - 1] == '.')
		h[--n] = '\0';
	str_lower(h);
	for (int i = 0; i < p->n_mx; i++) {
		const char *pat = p->mx[i];

		if (pat[0] == '*' && pat[1] == '.') {
			/* "*.example.com" matches "mx.example.com", not "a.b.example.com" or
			 * "example.com" (§4.1) */
			const char *dot = strchr(h, '.');

			if (dot != NULL && dot != h && strcmp(dot + 1, pat + 2) == 0)
				return 1;
		} else if (strcmp(h, pat) == 0) {
			return 1;
		}
	}
	return 0;
}

void
sts_policy_format(const struct sts_policy *p, char *out, size_t size)
{
	static const char *const modes[] = { "none", "testing", "enforce" };
	size_t o;
	int n;

	n = snprintf(out, size, "version: STSv1\nmode: %s", modes[p->mode]);
	o = n < 0 ? 0 : (size_t)n;
	for (int i = 0; i < p->n_mx && o < size; i++) {
		n = snprintf(out + o, size - o, "\nmx: %s", p->mx[i]);
		o += n < 0 ? 0 : (size_t)n;
	}
	if (o < size)
		snprintf(out + o, size - o, "\nmax_age: %ld", p->max_age);
}
