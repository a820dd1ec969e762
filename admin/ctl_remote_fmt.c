/* ctl_remote_fmt.c: mailguardctl remote mode's text forms of the console's JSON replies
 * (admin/ctl_remote.h): queue list/show and dkim status/dns print the lines the local commands
 * print (queue/ctl.c, dkim/signer_ctl.c), domains, lists and stats have forms of their own.
 * Runs in mailguardctl; pure (no I/O). The JSON comes from a server over the network: jansson
 * parsed it (bounded by the caller), every member is type-checked here, missing ones print as
 * "-", strings are printed with control bytes as \xHH so a reply cannot drive
 * the terminal, and arrays are capped at CTL_FMT_ITEMS_MAX items. */
#include <jansson.h>
#include <string.h>

#include "admin/ctl_remote.h"
#include "lib/xalloc.h"

#define CTL_FMT_ITEMS_MAX	1000000

/* Appends s with bytes below 0x20 and 0x7f as \xHH, C1 controls (U+0080..U+009F) as \u00HH,
 * other UTF-8 and backslashes as they are (the queue role's own \xHH escapes arrive that way
 * and print as the local command prints them). */
void
ctl_remote_clean(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			char e[4] = { '\\', 'x', hex[*p >> 4], hex[*p & 15] };

			(void)buf_append(out, e, 4);
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {	/* C1 controls */
			char e[6] = { '\\', 'u', '0', '0', hex[p[1] >> 4], hex[p[1] & 15] };

			(void)buf_append(out, e, 6);
			p++;
		} else {
			(void)buf_append_char(out, (char)*p);
		}
	}
}

void
ctl_remote_clean_text(struct buf *out, const char *s)
{
	while (*s != '\0') {
		size_t n = strcspn(s, "\n");
		char *line = xstrndup(s, n);

		ctl_remote_clean(out, line);
		xfree(line);
		s += n;
		if (*s == '\n') {
			(void)buf_append_char(out, '\n');
			s++;
		}
	}
}

/* The string member key of j, or "-" when absent or not a string. */
static const char *
str_of(const json_t *j, const char *key)
{
	const json_t *v = json_object_get(j, key);

	return json_is_string(v) ? json_string_value(v) : "-";
}

static long long
int_of(const json_t *j, const char *key)
{
	const json_t *v = json_object_get(j, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

/* Any scalar member as text: strings cleaned, numbers as %g / integers, booleans yes/no. */
static void
put_scalar(struct buf *out, const json_t *v)
{
	if (json_is_string(v))
		ctl_remote_clean(out, json_string_value(v));
	else if (json_is_integer(v))
		(void)buf_printf(out, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		(void)buf_printf(out, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		(void)buf_append_str(out, json_is_true(v) ? "yes" : "no");
	else
		(void)buf_append_str(out, "-");
}

/* " key=VALUE" of a member (any scalar). */
static void
put_kv(struct buf *out, const json_t *j, const char *key)
{
	(void)buf_printf(out, " %s=", key);
	put_scalar(out, json_object_get(j, key));
}

static int
array_ok(const json_t *a)
{
	return json_is_array(a) && json_array_size(a) <= CTL_FMT_ITEMS_MAX;
}

/* ---- domains and lists ---- */

static int
fmt_domains(const json_t *j, struct buf *out)
{
	static const char *const keys[] = { "transport", "spam_reject", "spam_quarantine",
		"greylist", "tls_policy", "dkim_sign", "dkim_algorithm" };
	const json_t *a = json_object_get(j, "domains"), *d;
	size_t i;

	if (!array_ok(a))
		return -1;
	json_array_foreach(a, i, d) {
		const json_t *t = json_object_get(d, "traffic");

		if (!json_is_object(d))
			return -1;
		ctl_remote_clean(out, str_of(d, "name"));
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			put_kv(out, d, keys[k]);
		if (json_is_object(t)) {
			put_kv(out, t, "in_deliver");
			put_kv(out, t, "in_quarantine");
			put_kv(out, t, "in_reject");
			put_kv(out, t, "out_delivered");
		}
		(void)buf_append_char(out, '\n');
	}
	(void)buf_printf(out, "-- %zu domain(s)\n", json_array_size(a));
	return 0;
}

/* One "key = value" line (or "# key = DEFAULT (default)" when not set in the file). */
static void
domain_line(struct buf *out, const char *key, const json_t *v, const json_t *def)
{
	if (json_is_null(v) || v == NULL) {
		(void)buf_append_str(out, "# ");
		ctl_remote_clean(out, key);
		if (def != NULL && !json_is_null(def)) {
			(void)buf_append_str(out, " = ");
			put_scalar(out, def);
			(void)buf_append_str(out, " (default)\n");
		} else {
			(void)buf_append_str(out, " (not set)\n");
		}
		return;
	}
	ctl_remote_clean(out, key);
	(void)buf_append_str(out, " = ");
	put_scalar(out, v);
	(void)buf_append_char(out, '\n');
}

static int
fmt_domain(const json_t *j, struct buf *out)
{
	const json_t *set = json_object_get(j, "settings"), *defs = json_object_get(j, "defaults");
	const char *key;
	const json_t *v;

	if (!json_is_object(set))
		return -1;
	(void)buf_append_str(out, "# ");
	ctl_remote_clean(out, str_of(j, "file"));
	(void)buf_append_str(out, " version ");
	ctl_remote_clean(out, str_of(j, "version"));
	(void)buf_append_char(out, '\n');
	json_object_foreach((json_t *)set, key, v) {
		const json_t *def = json_is_object(defs) ? json_object_get(defs, key) : NULL;

		if (json_is_array(v)) {	/* a repeatable key: one line each */
			size_t i;
			const json_t *e;

			if (!array_ok(v))
				return -1;
			if (json_array_size(v) == 0)
				domain_line(out, key, NULL, def);
			json_array_foreach(v, i, e)
				domain_line(out, key, e, NULL);
		} else {
			domain_line(out, key, v, def);
		}
	}
	return 0;
}

static int
fmt_lists(const json_t *j, struct buf *out)
{
	static const char *const kinds[] = { "allow", "block" };

	for (size_t k = 0; k < 2; k++) {
		const json_t *a = json_object_get(j, kinds[k]), *e;
		size_t i;

		if (a == NULL)
			continue;
		if (!array_ok(a))
			return -1;
		json_array_foreach(a, i, e) {
			(void)buf_printf(out, "%s ", kinds[k]);
			put_scalar(out, e);
			(void)buf_append_char(out, '\n');
		}
	}
	return 0;
}

/* ---- queue ---- */

/* One message as queue/ctl.c's list_one prints it. */
static int
qmsg_lines(const json_t *m, struct buf *out)
{
	const json_t *rc = json_object_get(m, "recipients"), *r;
	size_t i, mark;

	if (!json_is_object(m))
		return -1;
	ctl_remote_clean(out, str_of(m, "qid"));
	if (json_is_string(json_object_get(m, "error"))) {
		(void)buf_append_char(out, ' ');
		ctl_remote_clean(out, str_of(m, "error"));
		(void)buf_append_char(out, '\n');
		return 0;
	}
	(void)buf_append_char(out, ' ');
	mark = out->len;
	ctl_remote_clean(out, str_of(m, "state"));
	while (out->len < mark + 8)	/* "%-8s" as the queue role pads it */
		(void)buf_append_char(out, ' ');
	(void)buf_printf(out, " size=%lld arrival=", int_of(m, "size"));
	ctl_remote_clean(out, str_of(m, "arrival"));
	(void)buf_printf(out, " attempts=%lld next=", int_of(m, "attempts"));
	ctl_remote_clean(out, str_of(m, "next_attempt"));
	(void)buf_append_str(out, " from=<");
	ctl_remote_clean(out, json_is_string(json_object_get(m, "sender")) ? str_of(m, "sender") : "");
	(void)buf_append_str(out, ">\n");
	if (rc != NULL && !array_ok(rc))
		return -1;
	json_array_foreach(rc, i, r) {
		(void)buf_append_str(out, "    to=<");
		ctl_remote_clean(out, str_of(r, "address"));
		(void)buf_append_str(out, "> ");
		ctl_remote_clean(out, str_of(r, "state"));
		if (json_is_string(json_object_get(r, "dsn"))) {
			(void)buf_append_str(out, " dsn=");
			ctl_remote_clean(out, str_of(r, "dsn"));
		}
		if (json_is_string(json_object_get(r, "diagnostic"))) {
			(void)buf_append_str(out, " (");
			ctl_remote_clean(out, str_of(r, "diagnostic"));
			(void)buf_append_char(out, ')');
		}
		(void)buf_append_char(out, '\n');
	}
	return 0;
}

static int
fmt_queue(const json_t *j, struct buf *out)
{
	const json_t *a = json_object_get(j, "messages"), *m;
	size_t i;

	if (!array_ok(a))
		return -1;
	json_array_foreach(a, i, m)
		if (qmsg_lines(m, out) < 0)
			return -1;
	(void)buf_printf(out, "-- %lld message(s) in the queue\n", json_is_integer(
	    json_object_get(j, "total")) ? int_of(j, "total") : (long long)json_array_size(a));
	return 0;
}

static int
fmt_qmsg(const json_t *j, struct buf *out)
{
	const json_t *h = json_object_get(j, "headers"), *e;
	size_t i;

	if (qmsg_lines(j, out) < 0)
		return -1;
	if (h == NULL)
		return 0;
	if (!array_ok(h))
		return -1;
	(void)buf_append_str(out, "-- headers:\n");
	json_array_foreach(h, i, e) {
		put_scalar(out, e);
		(void)buf_append_char(out, '\n');
	}
	return 0;
}

/* ---- dkim ---- */

/* One domain as dkim/signer_ctl.c's status_domain prints it; *alerts counts its alerts. */
static int
dkim_domain_lines(const json_t *d, struct buf *out, size_t *alerts)
{
	const json_t *keys = json_object_get(d, "keys"), *al = json_object_get(d, "alerts"), *e;
	size_t i;

	if (!json_is_object(d) || (keys != NULL && !array_ok(keys)) || (al != NULL && !array_ok(al)))
		return -1;
	(void)buf_append_str(out, "domain ");
	ctl_remote_clean(out, str_of(d, "domain"));
	(void)buf_printf(out, " sign=%s algorithm=", json_is_true(json_object_get(d, "sign")) ?
	    "yes" : "no");
	ctl_remote_clean(out, str_of(d, "algorithm"));
	(void)buf_printf(out, " keys=%zu\n", json_array_size(keys));
	json_array_foreach(keys, i, e) {
		(void)buf_append_str(out, "  key ");
		ctl_remote_clean(out, str_of(e, "selector"));
		(void)buf_append_char(out, ' ');
		ctl_remote_clean(out, str_of(e, "algorithm"));
		(void)buf_append_char(out, ' ');
		ctl_remote_clean(out, str_of(e, "state"));
		put_kv(out, e, "created");
		put_kv(out, e, "activates");
		put_kv(out, e, "retires");
		put_kv(out, e, "dns");
		(void)buf_append_char(out, '\n');
	}
	json_array_foreach(al, i, e) {
		(void)buf_append_str(out, "  alert ");
		put_scalar(out, e);
		(void)buf_append_char(out, '\n');
	}
	*alerts += json_array_size(al);
	return 0;
}

static int
fmt_dkim(const json_t *j, struct buf *out)
{
	const json_t *a = json_object_get(j, "domains"), *d;
	size_t i, alerts = 0;

	if (!array_ok(a))
		return -1;
	json_array_foreach(a, i, d) {
		const json_t *k = json_object_get(d, "keys");

		/* as the signer: domains without keys only when they sign */
		if (json_is_array(k) && json_array_size(k) == 0 &&
		    !json_is_true(json_object_get(d, "sign")))
			continue;
		if (dkim_domain_lines(d, out, &alerts) < 0)
			return -1;
	}
	(void)buf_append_str(out, "now ");
	ctl_remote_clean(out, str_of(j, "now"));
	(void)buf_printf(out, "\nalerts %lld\n", json_is_integer(json_object_get(j, "alerts")) ?
	    int_of(j, "alerts") : (long long)alerts);
	return 0;
}

static int
fmt_dkim_domain(const json_t *j, struct buf *out)
{
	size_t alerts = 0;

	if (dkim_domain_lines(j, out, &alerts) < 0)
		return -1;
	(void)buf_printf(out, "alerts %zu\n", alerts);
	return 0;
}

static int
fmt_dkim_dns(const json_t *j, struct buf *out)
{
	const json_t *a = json_object_get(j, "dns"), *e;
	size_t i;

	if (!array_ok(a))
		return -1;
	json_array_foreach(a, i, e) {
		put_scalar(out, e);
		(void)buf_append_char(out, '\n');
	}
	return 0;
}

/* ---- stats ---- */

/* Every scalar member of o as "prefix key value" lines, in the reply's order. */
static void
object_lines(const json_t *o, struct buf *out)
{
	const char *key;
	const json_t *v;

	json_object_foreach((json_t *)o, key, v) {
		if (json_is_object(v) || json_is_array(v))
			continue;
		ctl_remote_clean(out, key);
		(void)buf_append_char(out, ' ');
		put_scalar(out, v);
		(void)buf_append_char(out, '\n');
	}
}

static int
fmt_stats(const json_t *j, struct buf *out)
{
	const json_t *t = json_object_get(j, "totals"), *a = json_object_get(j, "domains"), *d;
	size_t i;

	if (!json_is_object(t) || (a != NULL && !array_ok(a)))
		return -1;
	object_lines(t, out);
	json_array_foreach(a, i, d) {
		const char *key;
		const json_t *v;

		if (!json_is_object(d))
			return -1;
		(void)buf_append_str(out, "domain ");
		ctl_remote_clean(out, str_of(d, "domain"));
		json_object_foreach((json_t *)d, key, v) {
			if (strcmp(key, "domain") == 0 || json_is_object(v) || json_is_array(v))
				continue;
			(void)buf_append_char(out, ' ');
			ctl_remote_clean(out, key);
			(void)buf_append_char(out, '=');
			put_scalar(out, v);
		}
		(void)buf_append_char(out, '\n');
	}
	return 0;
}

int
ctl_remote_format(enum ctl_remote_fmt kind, const struct json_t *j, struct buf *out)
{
	static int (*const fmt[CTL_FMT_COUNT_])(const json_t *, struct buf *) = {
		[CTL_FMT_DOMAINS] = fmt_domains, [CTL_FMT_DOMAIN] = fmt_domain,
		[CTL_FMT_LISTS] = fmt_lists, [CTL_FMT_QUEUE] = fmt_queue,
		[CTL_FMT_QMSG] = fmt_qmsg, [CTL_FMT_DKIM] = fmt_dkim,
		[CTL_FMT_DKIM_DOMAIN] = fmt_dkim_domain, [CTL_FMT_DKIM_DNS] = fmt_dkim_dns,
		[CTL_FMT_STATS] = fmt_stats,
	};

	if ((unsigned)kind >= CTL_FMT_COUNT_ || !json_is_object(j))
		return -1;
	return fmt[kind](j, out);
}
