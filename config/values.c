/* values.c: the value types of the settings table: parse a value's text into its field, format
 * it back in canonical form (what mailguard -P prints and config_static_changed compares), free
 * it, and describe what a valid value looks like for error messages.
 * Runs in the supervisor and tools. Input is a trimmed value from a config file: untrusted text,
 * already checked to be printable ASCII and at most CONFIG_LINE_MAX bytes long. */
#include "config/settings.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

#define FIELD(obj, off, T) ((T *)(void *)((char *)(obj) + (off)))
#define CFIELD(obj, off, T) ((const __typeof__(T) *)(const void *)((const char *)(obj) + (off)))
#define LIST_SEPS " \t,"

struct type_ops {
	const char *name;	/* for the manual */
	int comments;		/* trailing " # comment" allowed */
	int (*parse)(const struct setting *s, const char *v, void *obj, struct value_error *e);
	void (*format)(const struct setting *s, const void *obj, struct buf *out);
	void (*free)(const struct setting *s, void *obj);
	void (*expected)(const struct setting *s, struct buf *out);
};

static void
set_bad(struct value_error *e, const char *p, size_t len, const char *why)
{
	e->bad.p = p;
	e->bad.len = len;
	e->why = why;
}

/* ---- shared syntax checks ---- */

int
config_is_domain_name(const char *s, size_t len)
{
	size_t label = 0;
	int all_digits = 1;

	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			all_digits = 1;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-'))
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (c < '0' || c > '9')
			all_digits = 0;
		if (++label > 63)
			return 0;
	}
	/* The last label may not end in '-' and may not be all digits (that is an IP address). */
	return label > 0 && s[len - 1] != '-' && !all_digits;
}

/* RFC 5321 Dot-string local part: atext and single dots, not at the ends. */
static int
is_local_part(const char *s, size_t len)
{
	static const char specials[] = "!#$%&'*+-/=?^_`{|}~";

	if (len == 0 || len > 64 || s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (s[i + 1] == '.')
				return 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    (c != '\0' && strchr(specials, c) != NULL)))
			return 0;
	}
	return 1;
}

int
config_is_address(const char *s, size_t len)
{
	const char *at = memrchr(s, '@', len);

	if (at == NULL)
		return 0;
	return is_local_part(s, (size_t)(at - s)) &&
	    config_is_domain_name(at + 1, len - (size_t)(at - s) - 1);
}

int
config_is_ip_literal(const char *s, size_t len)
{
	char tmp[INET6_ADDRSTRLEN];
	unsigned char addr[16];

	if (len == 0 || len >= sizeof(tmp))
		return 0;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return inet_pton(memchr(tmp, ':', len) ? AF_INET6 : AF_INET, tmp, addr) == 1;
}

static void
format_scaled(long long v, const char *units, const long long *mult, size_t n, struct buf *out)
{
	for (size_t i = n; i-- > 0;)
		if (v != 0 && mult[i] > 1 && v % mult[i] == 0) {
			buf_printf(out, "%lld%c", v / mult[i], units[i]);
			return;
		}
	buf_printf(out, "%lld%s", v, n == 4 && v != 0 ? "s" : "");
}

void
config_format_size(long long v, struct buf *out)
{
	static const long long mult[] = { 1024LL, 1024LL * 1024, 1024LL * 1024 * 1024 };

	format_scaled(v, "kmg", mult, 3, out);
}

void
config_format_duration(long long v, struct buf *out)
{
	static const long long mult[] = { 1, 60, 3600, 86400 };

	format_scaled(v, "smhd", mult, 4, out);
}

/* Splits a list value on spaces, tabs and commas; calls item() on each; stops at the first
 * error. Returns 0 or -1. */
static int
for_each_item(const char *v, int (*item)(struct slice it, void *arg, struct value_error *e),
    void *arg, struct value_error *e)
{
	const char *p = v;

	for (;;) {
		size_t n;

		p += strspn(p, LIST_SEPS);
		if (*p == '\0')
			return 0;
		n = strcspn(p, LIST_SEPS);
		if (item((struct slice){ p, n }, arg, e) < 0)
			return -1;
		p += n;
	}
}

/* ---- string-like types ---- */

static int
parse_string(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	char **f = FIELD(obj, s->off, char *);

	if (*v == '\0' && !(s->flags & SET_EMPTY_OK)) {
		set_bad(e, v, 0, NULL);
		return -1;
	}
	xfree(*f);
	*f = xstrdup(v);
	return 0;
}

static void
format_string(const struct setting *s, const void *obj, struct buf *out)
{
	const char *v = *CFIELD(obj, s->off, char *);

	if (v != NULL)
		buf_append_str(out, v);
}

static void
free_string(const struct setting *s, void *obj)
{
	char **f = FIELD(obj, s->off, char *);

	xfree(*f);
	*f = NULL;
}

static void
expected_string(const struct setting *s, struct buf *out)
{
	buf_append_str(out, s->flags & SET_EMPTY_OK ? "text" : "non-empty text");
}

static int
parse_hostname(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	char host[256] = "";

	if (*v == '\0') {
		/* The system host name, if it is a usable one. */
		if (gethostname(host, sizeof(host)) < 0 || host[sizeof(host) - 1] != '\0' ||
		    !config_is_domain_name(host, strlen(host)))
			str_lcpy(host, "localhost", sizeof(host));
		v = host;
	} else if (!config_is_domain_name(v, strlen(v))) {
		set_bad(e, v, strlen(v), NULL);
		return -1;
	}
	return parse_string(s, v, obj, e);
}

static void
expected_hostname(const struct setting *s, struct buf *out)
{
	(void)s;
	buf_append_str(out, "a host name (letters, digits, '-' and '.') or nothing");
}

static int
parse_user(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	size_t n = strlen(v);

	if (n == 0 || n > 32 || v[0] == '-' || strspn(v, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n) {
		set_bad(e, v, n, NULL);
		return -1;
	}
	return parse_string(s, v, obj, e);
}

static void
expected_user(const struct setting *s, struct buf *out)
{
	(void)s;
	buf_append_str(out, "a user name");
}

static int
parse_path(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	if (strpbrk(v, " \t") != NULL) {
		set_bad(e, v, strlen(v), "spaces are not supported in paths");
		return -1;
	}
	return parse_string(s, v, obj, e);
}

static void
expected_path(const struct setting *s, struct buf *out)
{
	buf_append_str(out, s->flags & SET_EMPTY_OK ? "a path or nothing" : "a path");
}

static int
parse_address(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	char **f = FIELD(obj, s->off, char *);
	size_t n = strlen(v);

	if (n == 0 && (s->flags & SET_EMPTY_OK)) {
		xfree(*f);
		*f = NULL;
		return 0;
	}
	if (n > 254 || !config_is_address(v, n)) {
		set_bad(e, v, n, NULL);
		return -1;
	}
	xfree(*f);
	*f = xstrdup(v);
	return 0;
}

static void
expected_address(const struct setting *s, struct buf *out)
{
	buf_append_str(out, s->flags & SET_EMPTY_OK ? "an address (user@domain) or nothing" :
	    "an address (user@domain)");
}

/* ---- numbers ---- */

static void
store_int(void *p, size_t size, long long v)
{
	if (size == sizeof(int)) {
		int x = (int)v;
		memcpy(p, &x, sizeof(x));
	} else if (size == sizeof(long)) {
		long x = (long)v;
		memcpy(p, &x, sizeof(x));
	} else {
		memcpy(p, &v, sizeof(v));
	}
}

static long long
load_int(const void *p, size_t size)
{
	if (size == sizeof(int)) {
		int x;
		memcpy(&x, p, sizeof(x));
		return x;
	} else if (size == sizeof(long)) {
		long x;
		memcpy(&x, p, sizeof(x));
		return x;
	}
	long long x;
	memcpy(&x, p, sizeof(x));
	return x;
}

static int
parse_int(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	const char *why;
	long long x;

	if (strnum_ll(v, s->min, s->max, &x, &why) < 0) {
		set_bad(e, v, strlen(v), NULL);
		return -1;
	}
	store_int((char *)obj + s->off, s->size, x);
	return 0;
}

static void
format_int(const struct setting *s, const void *obj, struct buf *out)
{
	buf_printf(out, "%lld", load_int((const char *)obj + s->off, s->size));
}

static void
free_none(const struct setting *s, void *obj)
{
	(void)s;
	(void)obj;
}

static void
expected_int(const struct setting *s, struct buf *out)
{
	if (s->min == s->max)
		buf_printf(out, "%lld", s->min);
	else
		buf_printf(out, "an integer from %lld to %lld", s->min, s->max);
}

static int
parse_double(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	const char *why;
	double x;

	if (strnum_double(v, (double)s->min, (double)s->max, &x, &why) < 0) {
		set_bad(e, v, strlen(v), NULL);
		return -1;
	}
	*FIELD(obj, s->off, double) = x;
	return 0;
}

static void
format_double(const struct setting *s, const void *obj, struct buf *out)
{
	buf_printf(out, "%.15g", *CFIELD(obj, s->off, double));
}

static void
expected_double(const struct setting *s, struct buf *out)
{
	buf_printf(out, "a number from %lld to %lld", s->min, s->max);
}

static int
parse_size(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	const char *why;
	long long x;

	if (strnum_size(v, s->min, s->max, &x, &why) < 0) {
		set_bad(e, v, strlen(v), NULL);
		return -1;
	}
	store_int((char *)obj + s->off, s->size, x);
	return 0;
}

static void
format_size(const struct setting *s, const void *obj, struct buf *out)
{
	config_format_size(load_int((const char *)obj + s->off, s->size), out);
}

static void
expected_size(const struct setting *s, struct buf *out)
{
	buf_append_str(out, "a size from ");
	config_format_size(s->min, out);
	buf_append_str(out, " to ");
	config_format_size(s->max, out);
	buf_append_str(out, " (bytes, or with suffix k, m or g)");
}

static int
parse_duration(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	const char *why;
	long long x;

	if (strnum_duration(v, s->min, s->max, &x, &why) < 0) {
		set_bad(e, v, strlen(v), NULL);
		return -1;
	}
	store_int((char *)obj + s->off, s->size, x);
	return 0;
}

static void
format_duration(const struct setting *s, const void *obj, struct buf *out)
{
	config_format_duration(load_int((const char *)obj + s->off, s->size), out);
}

static void
expected_duration(const struct setting *s, struct buf *out)
{
	buf_append_str(out, "a duration from ");
	config_format_duration(s->min, out);
	buf_append_str(out, " to ");
	config_format_duration(s->max, out);
	buf_append_str(out, " (seconds, or with suffix s, m, h, d or w)");
}

static int
parse_bool(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	int x;

	if (strcasecmp(v, "yes") == 0)
		x = 1;
	else if (strcasecmp(v, "no") == 0)
		x = 0;
	else {
		set_bad(e, v, strlen(v), NULL);
		return -1;
	}
	*FIELD(obj, s->off, int) = x;
	return 0;
}

static void
format_bool(const struct setting *s, const void *obj, struct buf *out)
{
	buf_append_str(out, *CFIELD(obj, s->off, int) ? "yes" : "no");
}

static void
expected_bool(const struct setting *s, struct buf *out)
{
	(void)s;
	buf_append_str(out, "yes or no");
}

/* ---- enumerations ---- */

static int
choice_index(const char *const *choices, const char *p, size_t n)
{
	for (int i = 0; choices[i] != NULL; i++)
		if (strlen(choices[i]) == n && memcmp(choices[i], p, n) == 0)
			return i;
	return -1;
}

static void
append_choices(const char *const *choices, struct buf *out)
{
	for (int i = 0; choices[i] != NULL; i++)
		buf_printf(out, "%s%s", i == 0 ? "" : choices[i + 1] ? ", " : " or ", choices[i]);
}

static int
parse_enum(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	int i = choice_index(s->choices, v, strlen(v));

	if (i < 0) {
		set_bad(e, v, strlen(v), NULL);
		return -1;
	}
	if (s->flags & SET_ENUM_STR) {
		char **f = FIELD(obj, s->off, char *);

		xfree(*f);
		*f = xstrdup(s->choices[i]);
	} else {
		store_int((char *)obj + s->off, s->size, i);
	}
	return 0;
}

static void
format_enum(const struct setting *s, const void *obj, struct buf *out)
{
	if (s->flags & SET_ENUM_STR) {
		format_string(s, obj, out);
		return;
	}
	long long i = load_int((const char *)obj + s->off, s->size);
	buf_append_str(out, s->choices[i]);
}

static void
free_enum(const struct setting *s, void *obj)
{
	if (s->flags & SET_ENUM_STR)
		free_string(s, obj);
}

static void
expected_enum(const struct setting *s, struct buf *out)
{
	buf_append_str(out, "one of ");
	append_choices(s->choices, out);
}

struct layers_arg {
	const char *const *choices;
	unsigned bits;
};

static int
layer_item(struct slice it, void *arg, struct value_error *e)
{
	struct layers_arg *a = arg;
	int i = choice_index(a->choices, it.p, it.len);

	if (i < 0) {
		set_bad(e, it.p, it.len, NULL);
		return -1;
	}
	a->bits |= 1u << i;
	return 0;
}

static int
parse_layers(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	struct layers_arg a = { s->choices, 0 };

	if (for_each_item(v, layer_item, &a, e) < 0)
		return -1;
	*FIELD(obj, s->off, unsigned) = a.bits;
	return 0;
}

static void
format_layers(const struct setting *s, const void *obj, struct buf *out)
{
	unsigned bits = *CFIELD(obj, s->off, unsigned);
	int first = 1;

	for (int i = 0; s->choices[i] != NULL; i++)
		if (bits & (1u << i)) {
			buf_printf(out, "%s%s", first ? "" : " ", s->choices[i]);
			first = 0;
		}
}

static void
expected_layers(const struct setting *s, struct buf *out)
{
	buf_append_str(out, "a list of layers from ");
	append_choices(s->choices, out);
}

/* ---- string lists: listen, outbound_ips ---- */

struct strlist {
	char **v;
	size_t n;
};

static void
strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		xfree(l->v[i]);
	xfree(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
listen_item(struct slice it, void *arg, struct value_error *e)
{
	struct strlist *l = arg;
	const char *colon = memrchr(it.p, ':', it.len);
	const char *why = NULL;
	char port[8];
	long long x;
	size_t hlen, plen;

	if (colon == NULL) {
		set_bad(e, it.p, it.len, "no port");
		return -1;
	}
	hlen = (size_t)(colon - it.p);
	plen = it.len - hlen - 1;
	if (hlen >= 2 && it.p[0] == '[' && it.p[hlen - 1] == ']') {
		if (memchr(it.p + 1, ':', hlen - 2) == NULL ||
		    !config_is_ip_literal(it.p + 1, hlen - 2))
			why = "not an IPv6 address in brackets";
	} else if (memchr(it.p, ':', hlen) != NULL) {
		why = "IPv6 addresses need brackets: [::1]:25";
	} else if (!config_is_ip_literal(it.p, hlen)) {
		why = "not an IP address";
	}
	if (why == NULL && (plen == 0 || plen >= sizeof(port)))
		why = "bad port";
	if (why == NULL) {
		memcpy(port, colon + 1, plen);
		port[plen] = '\0';
		if (strnum_ll(port, 0, 65535, &x, &why) < 0)
			why = "port must be 0..65535";
	}
	if (why != NULL) {
		set_bad(e, it.p, it.len, why);
		return -1;
	}
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = xstrndup(it.p, it.len);
	return 0;
}

static int
ip_item(struct slice it, void *arg, struct value_error *e)
{
	struct strlist *l = arg;

	if (!config_is_ip_literal(it.p, it.len)) {
		set_bad(e, it.p, it.len, NULL);
		return -1;
	}
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = xstrndup(it.p, it.len);
	return 0;
}

static int
parse_strlist(const struct setting *s, const char *v, void *obj, struct value_error *e,
    int (*item)(struct slice, void *, struct value_error *))
{
	struct strlist l = { NULL, 0 };
	char ***f = FIELD(obj, s->off, char **);
	size_t *n = FIELD(obj, s->off2, size_t);
	struct strlist old = { *f, *n };

	if (for_each_item(v, item, &l, e) < 0) {
		strlist_free(&l);
		return -1;
	}
	if (l.n == 0 && !(s->flags & SET_EMPTY_OK)) {
		set_bad(e, v, strlen(v), NULL);
		return -1;
	}
	strlist_free(&old);
	*f = l.v;
	*n = l.n;
	return 0;
}

static int
parse_listen(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	return parse_strlist(s, v, obj, e, listen_item);
}

static int
parse_ip_list(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	return parse_strlist(s, v, obj, e, ip_item);
}

static void
format_strlist(const struct setting *s, const void *obj, struct buf *out)
{
	char *const *v = *CFIELD(obj, s->off, char **);
	size_t n = *CFIELD(obj, s->off2, size_t);

	for (size_t i = 0; i < n; i++)
		buf_printf(out, "%s%s", i ? " " : "", v[i]);
}

static void
free_strlist(const struct setting *s, void *obj)
{
	struct strlist l = { *FIELD(obj, s->off, char **), *FIELD(obj, s->off2, size_t) };

	strlist_free(&l);
	*FIELD(obj, s->off, char **) = NULL;
	*FIELD(obj, s->off2, size_t) = 0;
}

static void
expected_listen(const struct setting *s, struct buf *out)
{
	(void)s;
	buf_append_str(out, "a list of address:port (e.g. 127.0.0.1:25 [::1]:25)");
}

static void
expected_ip_list(const struct setting *s, struct buf *out)
{
	(void)s;
	buf_append_str(out, "a list of IP addresses");
}

/* ---- networks ---- */

static int
cidr_item(struct slice it, void *arg, struct value_error *e)
{
	struct cidr_list *l = arg;
	char tmp[INET6_ADDRSTRLEN + 8];
	struct cidr net;
	const char *why;

	if (it.len >= sizeof(tmp)) {
		set_bad(e, it.p, it.len, NULL);
		return -1;
	}
	memcpy(tmp, it.p, it.len);
	tmp[it.len] = '\0';
	if (cidr_parse(tmp, &net, &why) < 0) {
		set_bad(e, it.p, it.len, why);
		return -1;
	}
	cidr_list_add(l, &net);
	return 0;
}

static int
parse_cidr_list(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	struct cidr_list l = { NULL, 0 };
	struct cidr_list *f = FIELD(obj, s->off, struct cidr_list);

	if (for_each_item(v, cidr_item, &l, e) < 0) {
		cidr_list_free(&l);
		return -1;
	}
	if (l.n == 0 && !(s->flags & SET_EMPTY_OK)) {
		set_bad(e, v, strlen(v), NULL);
		return -1;
	}
	cidr_list_free(f);
	*f = l;
	return 0;
}

static void
format_cidr_list(const struct setting *s, const void *obj, struct buf *out)
{
	const struct cidr_list *l = CFIELD(obj, s->off, struct cidr_list);
	char tmp[64];

	for (size_t i = 0; i < l->n; i++) {
		cidr_format(&l->nets[i], tmp, sizeof(tmp));
		buf_printf(out, "%s%s", i ? " " : "", tmp);
	}
}

static void
free_cidr_list(const struct setting *s, void *obj)
{
	cidr_list_free(FIELD(obj, s->off, struct cidr_list));
}

static void
expected_cidr_list(const struct setting *s, struct buf *out)
{
	(void)s;
	buf_append_str(out, "a list of IP networks (e.g. 127.0.0.0/8 ::1/128)");
}

/* ---- transport: host, host:port, [host], [host]:port ---- */

static int
parse_hostport(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	size_t n = strlen(v), hlen;
	const char *host = v, *port = NULL;
	int mx = 1;
	long long p = 25;
	const char *why = NULL;

	if (v[0] == '[') {
		const char *close = strchr(v, ']');

		if (close == NULL) {
			set_bad(e, v, n, "missing ']'");
			return -1;
		}
		host = v + 1;
		hlen = (size_t)(close - host);
		mx = 0;
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			why = "junk after ']'";
	} else {
		const char *colon = strchr(v, ':');

		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			set_bad(e, v, n, "IPv6 addresses need brackets: [2001:db8::1]:25");
			return -1;
		}
		hlen = colon ? (size_t)(colon - v) : n;
		if (colon != NULL)
			port = colon + 1;
	}
	if (why == NULL && port != NULL && strnum_ll(port, 1, 65535, &p, &why) < 0)
		why = "port must be 1..65535";
	if (why == NULL && !config_is_domain_name(host, hlen) && !config_is_ip_literal(host, hlen))
		why = "not a host name or IP address";
	if (why != NULL) {
		set_bad(e, v, n, why);
		return -1;
	}
	/* An IP address has no MX records: never look them up. */
	if (config_is_ip_literal(host, hlen))
		mx = 0;
	char **hf = FIELD(obj, s->off, char *);
	xfree(*hf);
	*hf = xstrndup(host, hlen);
	*FIELD(obj, s->off2, int) = (int)p;
	*FIELD(obj, s->off3, int) = mx;
	return 0;
}

static void
format_hostport(const struct setting *s, const void *obj, struct buf *out)
{
	const char *host = *CFIELD(obj, s->off, char *);
	int port = *CFIELD(obj, s->off2, int), mx = *CFIELD(obj, s->off3, int);

	if (host == NULL)
		return;
	buf_printf(out, mx ? "%s" : "[%s]", host);
	if (port != 25)
		buf_printf(out, ":%d", port);
}

static void
expected_hostport(const struct setting *s, struct buf *out)
{
	(void)s;
	buf_append_str(out, "host, host:port, [host] or [host]:port");
}

/* ---- outbound_rate: N/sec|min|hour|day ---- */

static const struct {
	const char *unit;
	long seconds;
} rate_units[] = { { "sec", 1 }, { "min", 60 }, { "hour", 3600 }, { "day", 86400 } };

static int
parse_rate(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	const char *slash = strchr(v, '/');
	char num[24];
	long long count = 0;
	long period = 0;
	const char *why;

	if (*v != '\0') {
		size_t nlen = slash ? (size_t)(slash - v) : 0;

		if (slash == NULL || nlen == 0 || nlen >= sizeof(num)) {
			set_bad(e, v, strlen(v), NULL);
			return -1;
		}
		memcpy(num, v, nlen);
		num[nlen] = '\0';
		if (strnum_ll(num, 1, 1000000000, &count, &why) < 0) {
			set_bad(e, v, strlen(v), "the count must be 1..1000000000");
			return -1;
		}
		for (size_t i = 0; i < sizeof(rate_units) / sizeof(rate_units[0]); i++)
			if (strcmp(slash + 1, rate_units[i].unit) == 0)
				period = rate_units[i].seconds;
		if (period == 0) {
			set_bad(e, v, strlen(v), NULL);
			return -1;
		}
	}
	*FIELD(obj, s->off, long) = (long)count;
	*FIELD(obj, s->off2, long) = period;
	return 0;
}

static void
format_rate(const struct setting *s, const void *obj, struct buf *out)
{
	long count = *CFIELD(obj, s->off, long), period = *CFIELD(obj, s->off2, long);

	if (count == 0)
		return;
	for (size_t i = 0; i < sizeof(rate_units) / sizeof(rate_units[0]); i++)
		if (rate_units[i].seconds == period) {
			buf_printf(out, "%ld/%s", count, rate_units[i].unit);
			return;
		}
	buf_printf(out, "%ld/%lds", count, period);
}

static void
expected_rate(const struct setting *s, struct buf *out)
{
	(void)s;
	buf_append_str(out, "N/sec, N/min, N/hour or N/day, or nothing");
}

/* ---- header_rewrite rules ---- */

/* RFC 5322 §3.6.8: field-name = 1*ftext, ftext = %d33-57 / %d59-126 (printable except ':'). */
static size_t
field_name_len(const char *p)
{
	size_t n = 0;

	while (p[n] >= 33 && p[n] <= 126 && p[n] != ':')
		n++;
	return n;
}

static int
is_addr_or_at_domain(const char *p, size_t n, int *at_domain_r)
{
	*at_domain_r = n > 0 && p[0] == '@';
	return *at_domain_r ? config_is_domain_name(p + 1, n - 1) : config_is_address(p, n);
}

/* Checks one rule's syntax; returns NULL when valid, else the reason. */
static const char *
header_rule_check(const char *v)
{
	size_t kw = strcspn(v, " \t"), n;
	const char *p = v + kw;

	p += strspn(p, " \t");
	if (kw == 3 && strncasecmp(v, "add", 3) == 0)
		goto name_value;
	if (kw == 7 && strncasecmp(v, "replace", 7) == 0)
		goto name_value;
	if (kw == 6 && strncasecmp(v, "remove", 6) == 0) {
		n = field_name_len(p);
		if (n == 0)
			return "expected a header field name after 'remove'";
		return p[n] == '\0' ? NULL : "junk after the header field name";
	}
	if (kw == 6 && strncasecmp(v, "sender", 6) == 0) {
		size_t n1 = strcspn(p, " \t"), n2;
		const char *q = p + n1;
		int d1, d2;

		q += strspn(q, " \t");
		n2 = strcspn(q, " \t");
		if (n1 == 0 || n2 == 0 || q[n2] != '\0')
			return "expected 'sender old new'";
		if (!is_addr_or_at_domain(p, n1, &d1) || !is_addr_or_at_domain(q, n2, &d2))
			return "old and new must be user@domain or @domain";
		if (d1 != d2)
			return "old and new must both be addresses or both @domain";
		return NULL;
	}
	return "a rule starts with add, remove, replace or sender";
name_value:
	n = field_name_len(p);
	if (n == 0 || p[n] != ':')
		return "expected 'Name: value' (an RFC 5322 field name and a colon)";
	/* RFC 5322 §2.1.1: the field is written as one line of at most 998 octets. */
	if (strlen(p) > 998)
		return "the field is longer than 998 octets (RFC 5322 section 2.1.1)";
	return NULL;
}

static int
parse_header_rules(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	struct mg_header_rule **f = FIELD(obj, s->off, struct mg_header_rule *);
	size_t *n = FIELD(obj, s->off2, size_t);
	const char *why;

	if (*v == '\0')
		return 0;	/* "header_rewrite =" adds no rule */
	if ((why = header_rule_check(v)) != NULL) {
		set_bad(e, v, strlen(v), why);
		return -1;
	}
	*f = xreallocarray(*f, *n + 1, sizeof(**f));
	(*f)[(*n)++].text = xstrdup(v);
	return 0;
}

static void
format_header_rules(const struct setting *s, const void *obj, struct buf *out)
{
	const struct mg_header_rule *r = *CFIELD(obj, s->off, struct mg_header_rule *);
	size_t n = *CFIELD(obj, s->off2, size_t);

	for (size_t i = 0; i < n; i++)
		buf_printf(out, "%s%s", i ? "\n" : "", r[i].text);
}

static void
free_header_rules(const struct setting *s, void *obj)
{
	struct mg_header_rule **f = FIELD(obj, s->off, struct mg_header_rule *);
	size_t *n = FIELD(obj, s->off2, size_t);

	for (size_t i = 0; i < *n; i++)
		xfree((*f)[i].text);
	xfree(*f);
	*f = NULL;
	*n = 0;
}

static void
expected_header_rules(const struct setting *s, struct buf *out)
{
	(void)s;
	buf_append_str(out, "a rule 'add Name: value', 'remove Name', 'replace Name: value' or "
	    "'sender old new'");
}

/* ---- rbl and score lines ---- */

/* A DNS zone name: dot-separated labels of letters, digits, '-' and '_', 1-63 octets each. */
static int
zone_is_valid(const char *z)
{
	size_t label = 0, n = strlen(z);

	if (n == 0 || n > 240 || z[n - 1] == '.')
		return 0;
	for (const char *c = z; *c; c++) {
		if (*c == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)*c) || *c == '-' || *c == '_') {
			if (++label > 63)
				return 0;
		} else
			return 0;
	}
	return 1;
}

static int
parse_rbl(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	struct mg_rbl **f = FIELD(obj, s->off, struct mg_rbl *);
	size_t *n = FIELD(obj, s->off2, size_t);
	char tmp[1024], *fields[4];
	struct mg_rbl r = { 0 };
	const char *why;
	int nf;

	if (*v == '\0')
		return 0;
	if (str_lcpy(tmp, v, sizeof(tmp)) >= sizeof(tmp) ||
	    (nf = str_split(tmp, " \t", fields, 4)) < 2 || nf > 3) {
		set_bad(e, v, strlen(v), "expected ZONE SCORE [CODE,...]");
		return -1;
	}
	if (!zone_is_valid(fields[0])) {
		set_bad(e, fields[0] - tmp + v, strlen(fields[0]), "a DNS zone");
		return -1;
	}
	if (strnum_double(fields[1], -1000, 1000, &r.score, &why) < 0) {
		set_bad(e, fields[1] - tmp + v, strlen(fields[1]), "a score from -1000 to 1000");
		return -1;
	}
	if (nf == 3) {
		char *codes[MG_RBL_CODES_MAX + 1];
		int nc = str_split(fields[2], ",", codes, MG_RBL_CODES_MAX + 1);
		for (int i = 0; i < nc; i++) {
			struct in_addr a;
			if (nc > MG_RBL_CODES_MAX || inet_pton(AF_INET, codes[i], &a) != 1 ||
			    (ntohl(a.s_addr) >> 24) != 127) {
				set_bad(e, fields[2] - tmp + v, strlen(v) - (size_t)(fields[2] - tmp),
				    "at most 16 comma-separated 127.x.x.x answer codes");
				return -1;
			}
			r.codes[r.n_codes++] = ntohl(a.s_addr);
		}
	}
	r.zone = str_lower(xstrdup(fields[0]));
	r.symbol = xasprintf("RBL_%s", fields[0]);
	for (char *c = r.symbol + 4; *c; c++)
		*c = isalnum((unsigned char)*c) ? (char)toupper((unsigned char)*c) : '_';
	*f = xreallocarray(*f, *n + 1, sizeof(**f));
	(*f)[(*n)++] = r;
	return 0;
}

static void
format_rbl(const struct setting *s, const void *obj, struct buf *out)
{
	const struct mg_rbl *r = *CFIELD(obj, s->off, struct mg_rbl *);
	size_t n = *CFIELD(obj, s->off2, size_t);

	for (size_t i = 0; i < n; i++) {
		buf_printf(out, "%s%s %.15g", i ? "\n" : "", r[i].zone, r[i].score);
		for (size_t j = 0; j < r[i].n_codes; j++)
			buf_printf(out, "%s%u.%u.%u.%u", j ? "," : " ", r[i].codes[j] >> 24,
			    (r[i].codes[j] >> 16) & 255, (r[i].codes[j] >> 8) & 255, r[i].codes[j] & 255);
	}
}

static void
free_rbl(const struct setting *s, void *obj)
{
	struct mg_rbl **f = FIELD(obj, s->off, struct mg_rbl *);
	size_t *n = FIELD(obj, s->off2, size_t);

	for (size_t i = 0; i < *n; i++) {
		xfree((*f)[i].zone);
		xfree((*f)[i].symbol);
	}
	xfree(*f);
	*f = NULL;
	*n = 0;
}

static void
expected_rbl(const struct setting *s, struct buf *out)
{
	(void)s;
	buf_append_str(out, "ZONE SCORE [CODE,...] (e.g. zen.example 3.5 127.0.0.2,127.0.0.4)");
}

static int
parse_score(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	struct mg_score **f = FIELD(obj, s->off, struct mg_score *);
	size_t *n = FIELD(obj, s->off2, size_t);
	char tmp[256], *fields[3];
	const char *why;
	double x;
	int nf;

	if (*v == '\0')
		return 0;
	if (str_lcpy(tmp, v, sizeof(tmp)) >= sizeof(tmp) ||
	    (nf = str_split(tmp, " \t", fields, 3)) != 2) {
		set_bad(e, v, strlen(v), "expected SYMBOL VALUE");
		return -1;
	}
	for (const char *c = fields[0]; *c; c++)
		if (!isupper((unsigned char)*c) && !isdigit((unsigned char)*c) && *c != '_') {
			set_bad(e, v, strlen(fields[0]), "a symbol of A-Z, 0-9 and _");
			return -1;
		}
	if (strlen(fields[0]) > 64 || strnum_double(fields[1], -1000, 1000, &x, &why) < 0) {
		set_bad(e, v, strlen(v), "a symbol and a score from -1000 to 1000");
		return -1;
	}
	*f = xreallocarray(*f, *n + 1, sizeof(**f));
	(*f)[*n].name = xstrdup(fields[0]);
	(*f)[(*n)++].value = x;
	return 0;
}

static void
format_score(const struct setting *s, const void *obj, struct buf *out)
{
	const struct mg_score *r = *CFIELD(obj, s->off, struct mg_score *);
	size_t n = *CFIELD(obj, s->off2, size_t);

	for (size_t i = 0; i < n; i++)
		buf_printf(out, "%s%s %.15g", i ? "\n" : "", r[i].name, r[i].value);
}

static void
free_score(const struct setting *s, void *obj)
{
	struct mg_score **f = FIELD(obj, s->off, struct mg_score *);
	size_t *n = FIELD(obj, s->off2, size_t);

	for (size_t i = 0; i < *n; i++)
		xfree((*f)[i].name);
	xfree(*f);
	*f = NULL;
	*n = 0;
}

static void
expected_score(const struct setting *s, struct buf *out)
{
	(void)s;
	buf_append_str(out, "SYMBOL VALUE (e.g. SPF_FAIL 3)");
}

/* ---- T_HELO_MAP: "IP NAME" (outbound_helo) ---- */

static int
parse_helo_map(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	struct mg_helo_map **f = FIELD(obj, s->off, struct mg_helo_map *);
	size_t *n = FIELD(obj, s->off2, size_t);
	char tmp[400], *fields[3];

	if (*v == '\0')
		return 0;
	if (str_lcpy(tmp, v, sizeof(tmp)) >= sizeof(tmp) ||
	    str_split(tmp, " \t", fields, 3) != 2) {
		set_bad(e, v, strlen(v), "expected IP NAME");
		return -1;
	}
	if (!config_is_ip_literal(fields[0], strlen(fields[0]))) {
		set_bad(e, v, strlen(fields[0]), "an IP address literal");
		return -1;
	}
	if (!config_is_domain_name(fields[1], strlen(fields[1]))) {
		set_bad(e, v, strlen(v), "a host name after the address");
		return -1;
	}
	*f = xreallocarray(*f, *n + 1, sizeof(**f));
	(*f)[*n].ip = xstrdup(fields[0]);
	(*f)[(*n)++].name = xstrdup(fields[1]);
	return 0;
}

static void
format_helo_map(const struct setting *s, const void *obj, struct buf *out)
{
	const struct mg_helo_map *r = *CFIELD(obj, s->off, struct mg_helo_map *);
	size_t n = *CFIELD(obj, s->off2, size_t);

	for (size_t i = 0; i < n; i++)
		buf_printf(out, "%s%s %s", i ? "\n" : "", r[i].ip, r[i].name);
}

static void
free_helo_map(const struct setting *s, void *obj)
{
	struct mg_helo_map **f = FIELD(obj, s->off, struct mg_helo_map *);
	size_t *n = FIELD(obj, s->off2, size_t);

	for (size_t i = 0; i < *n; i++) {
		xfree((*f)[i].ip);
		xfree((*f)[i].name);
	}
	xfree(*f);
	*f = NULL;
	*n = 0;
}

static void
expected_helo_map(const struct setting *s, struct buf *out)
{
	(void)s;
	buf_append_str(out, "IP NAME (e.g. 192.0.2.1 mail1.example.org)");
}

/* ---- dispatch ---- */

/* ---- issue D (URL layers): T_FEEDS, T_TLD_SCORES, T_DOMAIN_LIST ---- */

/* T_FEEDS: one feed source per line (a path or an http(s) URL), each line appends. */
static int
parse_feeds(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	char ***f = FIELD(obj, s->off, char **);
	size_t *n = FIELD(obj, s->off2, size_t);
	size_t len = strlen(v);

	if (len == 0)
		return 0;
	if (len > 1024 || strcspn(v, " \t") != len) {
		set_bad(e, v, len, "one path or http(s) URL without spaces");
		return -1;
	}
	if (strstr(v, "://") != NULL && strncasecmp(v, "http://", 7) != 0 &&
	    strncasecmp(v, "https://", 8) != 0) {
		set_bad(e, v, len, "only http:// and https:// URLs can be fetched");
		return -1;
	}
	*f = xreallocarray(*f, *n + 1, sizeof(**f));
	(*f)[(*n)++] = xstrdup(v);
	return 0;
}

static void
format_feeds(const struct setting *s, const void *obj, struct buf *out)
{
	char *const *v = *CFIELD(obj, s->off, char **);
	size_t n = *CFIELD(obj, s->off2, size_t);

	for (size_t i = 0; i < n; i++)
		buf_printf(out, "%s%s", i ? "\n" : "", v[i]);
}

/* T_TLD_SCORES: "TLD SCORE[, TLD SCORE...]"; each line appends; stored as struct mg_score
 * with the TLD (lower case, without dot) as name. */
static int
tld_score_item(char *item, const char *v, struct mg_score **f, size_t *n, struct value_error *e)
{
	char *fields[3];
	const char *why;
	double x;
	int nf = str_split(item, " \t", fields, 3);

	if (nf != 2) {
		set_bad(e, v, strlen(v), "expected TLD SCORE");
		return -1;
	}
	if (*fields[0] == '.')
		fields[0]++;
	if (!config_is_domain_name(fields[0], strlen(fields[0])) || strchr(fields[0], '.')) {
		set_bad(e, v, strlen(v), "a top-level domain such as zip or xn--p1ai");
		return -1;
	}
	if (strnum_double(fields[1], -1000, 1000, &x, &why) < 0) {
		set_bad(e, v, strlen(v), "a score from -1000 to 1000");
		return -1;
	}
	*f = xreallocarray(*f, *n + 1, sizeof(**f));
	(*f)[*n].name = str_lower(xstrdup(fields[0]));
	(*f)[(*n)++].value = x;
	return 0;
}

static int
parse_tld_scores(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	struct mg_score **f = FIELD(obj, s->off, struct mg_score *);
	size_t *n = FIELD(obj, s->off2, size_t);
	char tmp[4096], *items[128];
	int ni;

	if (*v == '\0')
		return 0;
	if (str_lcpy(tmp, v, sizeof(tmp)) >= sizeof(tmp) ||
	    (ni = str_split(tmp, ",", items, 128)) < 1 || ni >= 128) {
		set_bad(e, v, strlen(v), "at most 127 comma-separated TLD SCORE pairs");
		return -1;
	}
	for (int i = 0, n0 = (int)*n; i < ni; i++)
		if (tld_score_item(items[i], v, f, n, e) < 0) {
			while (*n > (size_t)n0)		/* obj unchanged on error */
				xfree((*f)[--*n].name);
			return -1;
		}
	return 0;
}

static void
format_tld_scores(const struct setting *s, const void *obj, struct buf *out)
{
	const struct mg_score *r = *CFIELD(obj, s->off, struct mg_score *);
	size_t n = *CFIELD(obj, s->off2, size_t);

	for (size_t i = 0; i < n; i++)
		buf_printf(out, "%s%s %.15g", i ? "\n" : "", r[i].name, r[i].value);
}

static int
domain_item(struct slice it, void *arg, struct value_error *e)
{
	struct strlist *l = arg;

	if (!config_is_domain_name(it.p, it.len)) {
		set_bad(e, it.p, it.len, NULL);
		return -1;
	}
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = str_lower(xstrndup(it.p, it.len));
	return 0;
}

static int
parse_domain_list(const struct setting *s, const char *v, void *obj, struct value_error *e)
{
	return parse_strlist(s, v, obj, e, domain_item);
}

static void
expected_issue_d(const struct setting *s, struct buf *out)
{
	buf_append_str(out, s->type == T_FEEDS ? "a feed file path or an http(s) URL" :
	    s->type == T_TLD_SCORES ? "TLD SCORE[, TLD SCORE...] (e.g. zip 1.5, top 1)" :
	    "a list of domain names");
}

static const struct type_ops type_ops[T_COUNT_] = {
	[T_STRING] = { "text", 0, parse_string, format_string, free_string, expected_string },
	[T_HOSTNAME] = { "host name", 1, parse_hostname, format_string, free_string,
		expected_hostname },
	[T_USER] = { "user name", 1, parse_user, format_string, free_string, expected_user },
	[T_PATH] = { "path", 1, parse_path, format_string, free_string, expected_path },
	[T_BOOL] = { "yes/no", 1, parse_bool, format_bool, free_none, expected_bool },
	[T_INT] = { "integer", 1, parse_int, format_int, free_none, expected_int },
	[T_DOUBLE] = { "number", 1, parse_double, format_double, free_none, expected_double },
	[T_SIZE] = { "size", 1, parse_size, format_size, free_none, expected_size },
	[T_DURATION] = { "duration", 1, parse_duration, format_duration, free_none,
		expected_duration },
	[T_ENUM] = { "choice", 1, parse_enum, format_enum, free_enum, expected_enum },
	[T_LISTEN] = { "list of address:port", 1, parse_listen, format_strlist, free_strlist,
		expected_listen },
	[T_CIDR_LIST] = { "list of networks", 1, parse_cidr_list, format_cidr_list,
		free_cidr_list, expected_cidr_list },
	[T_IP_LIST] = { "list of IP addresses", 1, parse_ip_list, format_strlist, free_strlist,
		expected_ip_list },
	[T_LAYERS] = { "list of layers", 1, parse_layers, format_layers, free_none,
		expected_layers },
	[T_ADDRESS] = { "address", 1, parse_address, format_string, free_string,
		expected_address },
	[T_HOSTPORT] = { "host[:port]", 1, parse_hostport, format_hostport, free_string,
		expected_hostport },
	[T_RATE] = { "rate", 1, parse_rate, format_rate, free_none, expected_rate },
	[T_HEADER_RULES] = { "rule", 0, parse_header_rules, format_header_rules,
		free_header_rules, expected_header_rules },
	[T_RBL] = { "list entry", 0, parse_rbl, format_rbl, free_rbl, expected_rbl },
	[T_SCORE] = { "score", 0, parse_score, format_score, free_score, expected_score },
	[T_HELO_MAP] = { "address and name", 0, parse_helo_map, format_helo_map, free_helo_map,
		expected_helo_map },
	[T_FEEDS] = { "feed source", 0, parse_feeds, format_feeds, free_strlist, expected_issue_d },
	[T_TLD_SCORES] = { "TLD scores", 0, parse_tld_scores, format_tld_scores, free_score,
		expected_issue_d },
	[T_DOMAIN_LIST] = { "list of domains", 1, parse_domain_list, format_strlist, free_strlist,
		expected_issue_d },
};

int
config_value_parse(const struct setting *s, const char *value, void *obj, struct value_error *e)
{
	set_bad(e, value, strlen(value), NULL);
	return type_ops[s->type].parse(s, value, obj, e);
}

void
config_value_format(const struct setting *s, const void *obj, struct buf *out)
{
	type_ops[s->type].format(s, obj, out);
}

void
config_value_free(const struct setting *s, void *obj)
{
	type_ops[s->type].free(s, obj);
}

void
config_value_expected(const struct setting *s, struct buf *out)
{
	type_ops[s->type].expected(s, out);
}

const char *
config_type_name(enum setting_type t)
{
	return type_ops[t].name;
}

int
config_type_allows_comment(enum setting_type t)
{
	return type_ops[t].comments;
}
