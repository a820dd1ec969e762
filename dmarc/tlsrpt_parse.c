/* tlsrpt_parse.c: one SMTP TLS report (RFC 8460 §4, JSON) to a struct mg_tlsrpt (issue I
 * item 5). The document is hostile: its size is checked first, then its bracket nesting by a
 * linear pre-scan (jansson itself recurses up to JSON_PARSER_MAX_DEPTH = 2048 in Debian's
 * 2.14, far more than the format's 6 levels), then jansson parses it with
 * JSON_REJECT_DUPLICATES (and without JSON_DECODE_ANY, JSON_ALLOW_NUL: a top-level object,
 * no NUL in strings, no trailing garbage); only then are the fields read, with caps on the
 * number of policies and failure details and on every string. Known quirks (counts written as
 * strings, upper-case types, contact-info null, mx-host as one string) are tolerated and
 * flagged. Pure, any thread, no logging. */
#include <arpa/inet.h>
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "dmarc/report.h"
#include "dmarc/tlsrpt_in.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

/* ---- arena: every string and array of one report, freed at once ---- */

#define ARENA_CHUNK (64 * 1024)

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

struct mg_tlsrpt_arena {
	struct arena_chunk *head;
};

static void *
arena_alloc(struct mg_tlsrpt_arena *a, size_t n)
{
	struct arena_chunk *c = a->head;
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (c == NULL || c->cap - c->used < n) {
		size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;

		c = xmalloc(sizeof(*c) + cap);
		c->used = 0;
		c->cap = cap;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

void
mg_tlsrpt_free(struct mg_tlsrpt **rp)
{
	struct mg_tlsrpt *r = *rp;

	if (r == NULL)
		return;
	for (struct arena_chunk *c = r->arena->head, *next; c != NULL; c = next) {
		next = c->next;
		xfree(c);
	}
	xfree(r->arena);
	xfree(r);
	*rp = NULL;
}

const char *
mg_tlsrpt_ptype_name(enum mg_tlsrpt_ptype t)
{
	return t == MG_TLSRPT_P_STS ? "sts" : t == MG_TLSRPT_P_TLSA ? "tlsa" :
	    t == MG_TLSRPT_P_NONE ? "no-policy-found" : "";
}

/* ---- the parse context ---- */

struct pctx {
	struct mg_tlsrpt *r;
	const struct mg_tlsrpt_limits *l;
	struct mg_tlsrpt_err *err;
	const char *where;		/* "policies[3].summary": for error texts */
	char wbuf[96];
};

#define FAIL(c, reason, ...) mg_tlsrpt_fail((c)->err, (reason), __VA_ARGS__)

/* ---- nesting pre-scan ---- */

/* 0 if no object/array in json[0..len) is nested deeper than max (strings skipped). */
static int
depth_ok(const char *json, size_t len, int max)
{
	int depth = 0, in_str = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = json[i];

		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = 0;
		} else if (ch == '"')
			in_str = 1;
		else if (ch == '{' || ch == '[') {
			if (++depth > max)
				return -1;
		} else if (ch == '}' || ch == ']')
			depth--;
	}
	return 0;
}

/* ---- strings ---- */

static int
is_ws(unsigned char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* A copy of s[0..n) trimmed, control characters made '?', cut (on a UTF-8 boundary) to
 * MG_TLSRPT_STRING_MAX octets. *cut_r: 1 if it was cut. */
static const char *
str_copy(struct pctx *c, const char *s, size_t n, int *cut_r)
{
	char *out;

	while (n > 0 && is_ws((unsigned char)s[0])) {
		s++;
		n--;
	}
	while (n > 0 && is_ws((unsigned char)s[n - 1]))
		n--;
	*cut_r = 0;
	if (n > MG_TLSRPT_STRING_MAX) {
		*cut_r = 1;
		n = MG_TLSRPT_STRING_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)	/* s[n]: a continuation */
			n--;
	}
	out = arena_alloc(c->r->arena, n + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		out[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	out[n] = '\0';
	return out;
}

enum str_mode {
	S_OPTIONAL = 0,		/* missing or null -> "" */
	S_REQUIRED = 1,		/* missing -> E_SCHEMA */
};

/* The string member key of obj. Overlong: free text is cut (Q_TRUNCATED) when cut_ok, else
 * E_VALUE. Returns the copy, or NULL with *err. */
static const char *
get_str(struct pctx *c, json_t *obj, const char *key, enum str_mode mode, int cut_ok)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	int cut;

	if (v == NULL || json_is_null(v)) {
		if (mode == S_REQUIRED) {
			FAIL(c, MG_TLSRPT_E_SCHEMA, "%s: \"%s\" missing", c->where, key);
			return NULL;
		}
		return "";
	}
	if (!json_is_string(v)) {
		FAIL(c, MG_TLSRPT_E_SCHEMA, "%s: \"%s\" is not a string", c->where, key);
		return NULL;
	}
	s = str_copy(c, json_string_value(v), json_string_length(v), &cut);
	if (cut && !cut_ok) {
		FAIL(c, MG_TLSRPT_E_VALUE, "%s: \"%s\" longer than %d octets", c->where, key,
		    MG_TLSRPT_STRING_MAX);
		return NULL;
	}
	if (cut)
		c->r->quirks |= MG_TLSRPT_Q_TRUNCATED;
	return s;
}

/* A DNS name, lowercased, one trailing dot removed: letters, digits, '-', '_', labels of
 * 1..63 octets, at most 253 in all. Returns the name or NULL (E_VALUE). */
static const char *
get_domain(struct pctx *c, json_t *obj, const char *key, enum str_mode mode)
{
	const char *s = get_str(c, obj, key, mode, 0);
	char *d;
	size_t n, label = 0;

	if (s == NULL || (s[0] == '\0' && mode == S_OPTIONAL))
		return s;
	d = (char *)s;		/* our own arena copy */
	n = strlen(d);
	if (n > 1 && d[n - 1] == '.')
		d[--n] = '\0';
	for (size_t i = 0; i <= n; i++) {
		unsigned char ch = (unsigned char)d[i];

		if (ch >= 'A' && ch <= 'Z')
			d[i] = (char)(ch + 32);
		else if (ch == '.' || ch == '\0') {
			if (label == 0 || label > 63)
				goto bad;
			label = 0;
			continue;
		} else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		    ch == '_'))
			goto bad;
		label++;
	}
	if (n > 253)
		goto bad;
	return d;
bad:
	FAIL(c, MG_TLSRPT_E_VALUE, "%s: \"%s\" is not a DNS name", c->where, key);
	return NULL;
}

/* An optional IP address member, in inet_ntop form; "" when missing. NULL (E_VALUE) when bad. */
static const char *
get_ip(struct pctx *c, json_t *obj, const char *key)
{
	const char *s = get_str(c, obj, key, S_OPTIONAL, 0);
	unsigned char a[16];
	char txt[INET6_ADDRSTRLEN];
	int af;

	if (s == NULL || s[0] == '\0')
		return s;
	af = strchr(s, ':') != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(af, s, a) != 1 || inet_ntop(af, a, txt, sizeof(txt)) == NULL) {
		FAIL(c, MG_TLSRPT_E_VALUE, "%s: \"%s\" is not an IP address", c->where, key);
		return NULL;
	}
	if (strcmp(txt, s) != 0) {
		char *d = arena_alloc(c->r->arena, strlen(txt) + 1);

		memcpy(d, txt, strlen(txt) + 1);
		return d;
	}
	return s;
}

/* A session count: a JSON integer 0..MG_TLSRPT_COUNT_MAX; tolerated: a string of digits
 * (Q_STR_COUNT), an integral real (Q_REAL_COUNT). 0 or -1 (E_SCHEMA missing, E_VALUE bad). */
static int
get_count(struct pctx *c, json_t *obj, const char *key, unsigned long long *n_r)
{
	const char *serr;
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return FAIL(c, MG_TLSRPT_E_SCHEMA, "%s: \"%s\" missing", c->where, key);
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 0 || (unsigned long long)i > MG_TLSRPT_COUNT_MAX)
			goto range;
		*n_r = (unsigned long long)i;
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);

		if (!(d >= 0 && d <= (double)MG_TLSRPT_COUNT_MAX) || floor(d) != d)
			goto range;
		*n_r = (unsigned long long)d;
		c->r->quirks |= MG_TLSRPT_Q_REAL_COUNT;
		return 0;
	}
	if (json_is_string(v)) {
		struct slice sl = { json_string_value(v), json_string_length(v) };

		if (strnum_slice_ull(sl, MG_TLSRPT_COUNT_MAX, n_r, &serr) < 0)
			goto range;
		c->r->quirks |= MG_TLSRPT_Q_STR_COUNT;
		return 0;
	}
	return FAIL(c, MG_TLSRPT_E_SCHEMA, "%s: \"%s\" is not a number", c->where, key);
range:
	return FAIL(c, MG_TLSRPT_E_VALUE, "%s: \"%s\" is not a count 0..%llu", c->where, key,
	    MG_TLSRPT_COUNT_MAX);
}

/* A lowercase token ([a-z0-9-_.], 1..64 octets) from a required string member; upper case
 * tolerated with Q_CASE. */
static const char *
get_token(struct pctx *c, json_t *obj, const char *key)
{
	const char *s = get_str(c, obj, key, S_REQUIRED, 0);
	char *d = (char *)s;	/* our own arena copy */
	size_t n;

	if (s == NULL)
		return NULL;
	if ((n = strlen(s)) == 0 || n > 64)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)d[i];

		if (ch >= 'A' && ch <= 'Z') {
			d[i] = (char)(ch + 32);
			c->r->quirks |= MG_TLSRPT_Q_CASE;
		} else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		    ch == '_' || ch == '.'))
			goto bad;
	}
	return d;
bad:
	FAIL(c, MG_TLSRPT_E_VALUE, "%s: \"%s\" is not a keyword", c->where, key);
	return NULL;
}

/* A string list member (policy-string, mx-host): an array of strings, or one string
 * (Q_MX_STRING); at most MG_TLSRPT_STRINGS_MAX kept (Q_TRUNCATED). */
static int
get_list(struct pctx *c, json_t *obj, const char *key, const char ***v_r, size_t *n_r)
{
	json_t *v = json_object_get(obj, key), *e;
	size_t n, i;
	int cut;

	*v_r = NULL;
	*n_r = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		*v_r = arena_alloc(c->r->arena, sizeof(**v_r));
		(*v_r)[0] = str_copy(c, json_string_value(v), json_string_length(v), &cut);
		*n_r = 1;
		c->r->quirks |= MG_TLSRPT_Q_MX_STRING | (cut ? MG_TLSRPT_Q_TRUNCATED : 0);
		return 0;
	}
	if (!json_is_array(v))
		return FAIL(c, MG_TLSRPT_E_SCHEMA, "%s: \"%s\" is not a list", c->where, key);
	if ((n = json_array_size(v)) > MG_TLSRPT_STRINGS_MAX) {
		c->r->quirks |= MG_TLSRPT_Q_TRUNCATED;
		n = MG_TLSRPT_STRINGS_MAX;
	}
	*v_r = arena_alloc(c->r->arena, (n + 1) * sizeof(**v_r));
	for (i = 0; i < n; i++) {
		if (!json_is_string(e = json_array_get(v, i)))
			return FAIL(c, MG_TLSRPT_E_SCHEMA, "%s: \"%s\"[%zu] is not a string",
			    c->where, key, i);
		(*v_r)[i] = str_copy(c, json_string_value(e), json_string_length(e), &cut);
		if (cut)
			c->r->quirks |= MG_TLSRPT_Q_TRUNCATED;
	}
	*n_r = n;
	return 0;
}

/* ---- RFC 3339 date-time ---- */

static int
digits(const char *s, int n, int *v_r)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*v_r = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static long long
days_from_civil(int y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
month_days(int y, int m)
{
	static const int md[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : md[m - 1];
}

int
mg_tlsrpt_time_parse(const char *s, long long *t_r, unsigned *quirks)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	size_t n = strlen(s), i = 19;
	unsigned q = 0;
	long long t;

	if (n < 20 || digits(s, 4, &y) < 0 || s[4] != '-' || digits(s + 5, 2, &mo) < 0 ||
	    s[7] != '-' || digits(s + 8, 2, &d) < 0 || digits(s + 11, 2, &h) < 0 ||
	    s[13] != ':' || digits(s + 14, 2, &mi) < 0 || s[16] != ':' ||
	    digits(s + 17, 2, &sec) < 0)
		return -1;
	if (s[10] != 'T')
		q |= MG_TLSRPT_Q_TIME_FORM;
	if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
		return -1;
	if (s[i] == '.') {	/* time-secfrac: dropped */
		size_t f = ++i;

		while (i < n && i - f < 18 && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == f)
			return -1;
	}
	if (n - i == 1 && (s[i] == 'Z' || s[i] == 'z'))
		q |= s[i] == 'z' ? MG_TLSRPT_Q_TIME_FORM : 0;
	else if (n - i == 6 && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2, &oh) == 0 &&
	    s[i + 3] == ':' && digits(s + i + 4, 2, &om) == 0 && oh <= 23 && om <= 59)
		sign = s[i] == '-' ? -1 : 1;
	else
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 ||
	    mi > 59 || sec > 60)
		return -1;
	t = days_from_civil(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + sec;
	t -= sign * (oh * 3600LL + om * 60LL);
	if (t < 0)
		return -1;
	*t_r = t;
	if (quirks != NULL)
		*quirks |= q;
	return 0;
}

/* ---- the report ---- */

static const char *
where(struct pctx *c, const char *fmt, size_t i, const char *sub)
{
	(void)snprintf(c->wbuf, sizeof(c->wbuf), fmt, i, sub);
	return c->where = c->wbuf;
}

static int
parse_failure(struct pctx *c, json_t *o, struct mg_tlsrpt_failure *f)
{
	if (!json_is_object(o))
		return FAIL(c, MG_TLSRPT_E_SCHEMA, "%s: not an object", c->where);
	if ((f->result_type = get_token(c, o, "result-type")) == NULL ||
	    (f->sending_mta_ip = get_ip(c, o, "sending-mta-ip")) == NULL ||
	    (f->receiving_ip = get_ip(c, o, "receiving-ip")) == NULL ||
	    (f->receiving_mx_hostname = get_str(c, o, "receiving-mx-hostname", S_OPTIONAL, 0)) ==
	    NULL ||
	    (f->receiving_mx_helo = get_str(c, o, "receiving-mx-helo", S_OPTIONAL, 1)) == NULL ||
	    (f->additional_information = get_str(c, o, "additional-information", S_OPTIONAL,
	    1)) == NULL ||
	    (f->failure_reason_code = get_str(c, o, "failure-reason-code", S_OPTIONAL, 1)) ==
	    NULL || get_count(c, o, "failed-session-count", &f->failed) < 0)
		return -1;
	/* receiving-mx-hostname: compared and grouped as a name */
	for (char *p = (char *)f->receiving_mx_hostname; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	if (f->receiving_mx_hostname[0] != '\0' &&
	    f->receiving_mx_hostname[strlen(f->receiving_mx_hostname) - 1] == '.')
		((char *)f->receiving_mx_hostname)[strlen(f->receiving_mx_hostname) - 1] = '\0';
	return 0;
}

static int
parse_ptype(struct pctx *c, json_t *pol, enum mg_tlsrpt_ptype *t_r)
{
	const char *s = get_token(c, pol, "policy-type");

	if (s == NULL)
		return -1;
	if (strcmp(s, "sts") == 0)
		*t_r = MG_TLSRPT_P_STS;
	else if (strcmp(s, "tlsa") == 0)
		*t_r = MG_TLSRPT_P_TLSA;
	else if (strcmp(s, "no-policy-found") == 0)
		*t_r = MG_TLSRPT_P_NONE;
	else
		return FAIL(c, MG_TLSRPT_E_VALUE, "%s: unknown policy-type \"%s\"", c->where, s);
	return 0;
}

static int
parse_policy(struct pctx *c, size_t idx, json_t *o, struct mg_tlsrpt_policy *p)
{
	json_t *pol, *sum, *fd;
	size_t n;

	if (!json_is_object(o))
		return FAIL(c, MG_TLSRPT_E_SCHEMA, "%s: not an object", where(c, "policies[%zu]%s",
		    idx, ""));
	where(c, "policies[%zu]%s", idx, ".policy");
	if (!json_is_object(pol = json_object_get(o, "policy")))
		return FAIL(c, MG_TLSRPT_E_SCHEMA, "%s: missing or not an object", c->where);
	if (parse_ptype(c, pol, &p->type) < 0 ||
	    (p->domain = get_domain(c, pol, "policy-domain", S_REQUIRED)) == NULL ||
	    get_list(c, pol, "policy-string", &p->strings, &p->n_strings) < 0 ||
	    get_list(c, pol, "mx-host", &p->mx_hosts, &p->n_mx_hosts) < 0)
		return -1;
	where(c, "policies[%zu]%s", idx, ".summary");
	if (!json_is_object(sum = json_object_get(o, "summary")))
		return FAIL(c, MG_TLSRPT_E_SCHEMA, "%s: missing or not an object", c->where);
	if (get_count(c, sum, "total-successful-session-count", &p->successful) < 0 ||
	    get_count(c, sum, "total-failure-session-count", &p->failed) < 0)
		return -1;
	where(c, "policies[%zu]%s", idx, ".failure-details");
	if ((fd = json_object_get(o, "failure-details")) == NULL || json_is_null(fd))
		return 0;
	if (!json_is_array(fd))
		return FAIL(c, MG_TLSRPT_E_SCHEMA, "%s: not a list", c->where);
	if ((n = json_array_size(fd)) > c->l->failures - c->r->n_failures)
		return FAIL(c, MG_TLSRPT_E_FAILURES, "more than %zu failure-details",
		    c->l->failures);
	p->failures = arena_alloc(c->r->arena, (n + 1) * sizeof(*p->failures));
	for (size_t i = 0; i < n; i++) {
		(void)snprintf(c->wbuf, sizeof(c->wbuf), "policies[%zu].failure-details[%zu]", idx,
		    i);
		c->where = c->wbuf;
		if (parse_failure(c, json_array_get(fd, i), &p->failures[i]) < 0)
			return -1;
	}
	p->n_failures = n;
	c->r->n_failures += n;
	return 0;
}

static int
parse_dates(struct pctx *c, json_t *root)
{
	json_t *dr = json_object_get(root, "date-range");
	const char *b, *e;

	c->where = "date-range";
	if (!json_is_object(dr))
		return FAIL(c, MG_TLSRPT_E_SCHEMA, "\"date-range\" missing or not an object");
	if ((b = get_str(c, dr, "start-datetime", S_REQUIRED, 0)) == NULL ||
	    (e = get_str(c, dr, "end-datetime", S_REQUIRED, 0)) == NULL)
		return -1;
	if (mg_tlsrpt_time_parse(b, &c->r->begin, &c->r->quirks) < 0)
		return FAIL(c, MG_TLSRPT_E_VALUE, "start-datetime \"%.40s\" is not RFC 3339", b);
	if (mg_tlsrpt_time_parse(e, &c->r->end, &c->r->quirks) < 0)
		return FAIL(c, MG_TLSRPT_E_VALUE, "end-datetime \"%.40s\" is not RFC 3339", e);
	if (c->r->end < c->r->begin)
		return FAIL(c, MG_TLSRPT_E_VALUE, "date-range ends before it starts");
	return 0;
}

static int
parse_root(struct pctx *c, json_t *root)
{
	json_t *pols, *ci;
	size_t n;

	c->where = "report";
	if (!json_is_object(root))
		return FAIL(c, MG_TLSRPT_E_SCHEMA, "not a JSON object");
	ci = json_object_get(root, "contact-info");
	if (ci == NULL || json_is_null(ci))
		c->r->quirks |= MG_TLSRPT_Q_NO_CONTACT;
	if ((c->r->org = get_str(c, root, "organization-name", S_REQUIRED, 0)) == NULL ||
	    (c->r->contact = get_str(c, root, "contact-info", S_OPTIONAL, 0)) == NULL ||
	    (c->r->report_id = get_str(c, root, "report-id", S_REQUIRED, 0)) == NULL)
		return -1;
	if (c->r->report_id[0] == '\0')
		return FAIL(c, MG_TLSRPT_E_VALUE, "report-id is empty");
	if (parse_dates(c, root) < 0)
		return -1;
	if (!json_is_array(pols = json_object_get(root, "policies")))
		return FAIL(c, MG_TLSRPT_E_SCHEMA, "\"policies\" missing or not a list");
	if ((n = json_array_size(pols)) == 0)
		return FAIL(c, MG_TLSRPT_E_POLICIES, "no policies");
	if (n > c->l->policies)
		return FAIL(c, MG_TLSRPT_E_POLICIES, "%zu policies (at most %zu)", n,
		    c->l->policies);
	c->r->policies = arena_alloc(c->r->arena, n * sizeof(*c->r->policies));
	for (size_t i = 0; i < n; i++) {
		if (parse_policy(c, i, json_array_get(pols, i), &c->r->policies[i]) < 0)
			return -1;
		c->r->successful += c->r->policies[i].successful;
		c->r->failed += c->r->policies[i].failed;
	}
	c->r->n_policies = n;
	return 0;
}

struct mg_tlsrpt *
mg_tlsrpt_parse_json(const char *json, size_t len, const struct mg_tlsrpt_limits *l,
    struct mg_tlsrpt_err *err)
{
	struct mg_tlsrpt_limits def;
	struct pctx c = { .l = l, .err = err, .where = "report" };
	json_error_t je;
	json_t *root;

	if (l == NULL) {
		mg_tlsrpt_limits_default(&def);
		c.l = l = &def;
	}
	if (len > l->json_max) {
		mg_tlsrpt_fail(err, MG_TLSRPT_E_SIZE, "json: %zu octets (at most %zu)", len,
		    l->json_max);
		return NULL;
	}
	if (depth_ok(json, len, l->depth) < 0) {
		mg_tlsrpt_fail(err, MG_TLSRPT_E_DEPTH, "json: nested deeper than %d", l->depth);
		return NULL;
	}
	if ((root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		mg_tlsrpt_fail(err, MG_TLSRPT_E_JSON, "json: line %d column %d: %s", je.line,
		    je.column, je.text);
		return NULL;
	}
	c.r = xcalloc(1, sizeof(*c.r));
	c.r->arena = xcalloc(1, sizeof(*c.r->arena));
	if (parse_root(&c, root) < 0) {
		if (err != NULL && err->reason == MG_TLSRPT_OK)
			mg_tlsrpt_fail(err, MG_TLSRPT_E_SCHEMA, "invalid report");
		mg_tlsrpt_free(&c.r);
	}
	json_decref(root);
	return c.r;
}

/* ---- identity ---- */

int
mg_tlsrpt_identity(const struct mg_tlsrpt *r, char *out, size_t size)
{
	return mg_report_identity_of(r->org, r->report_id, out, size);
}
