/* qlink_parse.c: parsers of the queue role's `quarantine show QID --json` and `quarantine
 * search ... --json` replies (queue/quarantine_ctl.c, quarantine_query.c) for the console's
 * Quarantine page and the public link endpoint, plus the encoding of search words. Admin role,
 * loop thread; pure functions, no I/O. The text comes from our own queue but carries
 * mail-controlled strings, so sizes and counts are capped (admin/qlink.h), types are checked
 * member by member, and unknown members are ignored (a newer queue may add some). Fuzzed by
 * tests/fuzz/fuzz_qlink.c. */
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "admin/qlink.h"
#include "lib/str.h"
#include "lib/xalloc.h"

int
qv_qid_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == 16;
}

/* A string member: copied (NULL when absent or not a string, or over QV_STR_MAX or with NUL).
 * Absent members give "" when optional. */
static int
get_str(json_t *o, const char *name, int optional, char **dst)
{
	json_t *v = json_object_get(o, name);
	const char *s;
	size_t n;

	if (v == NULL && optional) {
		*dst = xstrdup("");
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n > QV_STR_MAX || strlen(s) != n)
		return -1;
	*dst = xstrdup(s);
	return 0;
}

static int
get_int(json_t *o, const char *name, long long min, long long *dst)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_integer(v) || json_integer_value(v) < min)
		return -1;
	*dst = (long long)json_integer_value(v);
	return 0;
}

static int
get_strs(json_t *arr, size_t max, char ***dst, size_t *n_r)
{
	size_t n;

	if (!json_is_array(arr) || (n = json_array_size(arr)) > max)
		return -1;
	*dst = xcalloc(n + 1, sizeof(**dst));
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(arr, i);

		if (!json_is_string(v) || json_string_length(v) > QV_STR_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return -1;
		(*dst)[i] = xstrdup(json_string_value(v));
		*n_r = i + 1;
	}
	return 0;
}

/* The members of one message object (quar_format_json). */
static int
msg_from_json(json_t *o, struct qv_msg *m)
{
	json_t *score = json_object_get(o, "score");
	char *qid = NULL;
	int rc;

	if (!json_is_object(o) || get_str(o, "qid", 0, &qid) < 0 || !qv_qid_ok(qid)) {
		xfree(qid);
		return -1;
	}
	str_lcpy(m->qid, qid, sizeof(m->qid));
	xfree(qid);
	if (!json_is_number(score))
		return -1;
	m->score = json_number_value(score);
	rc = get_int(o, "arrival", 0, &m->arrival) | get_int(o, "size", 0, &m->size) |
	    get_int(o, "rcpt_count", 0, &m->rcpt_count) | get_str(o, "sender", 0, &m->sender) |
	    get_str(o, "subject", 0, &m->subject) | get_str(o, "symbols", 1, &m->symbols);
	if (rc != 0)
		return -1;
	return get_strs(json_object_get(o, "rcpts"), QV_RCPTS_MAX, &m->rcpts, &m->n_rcpts);
}

static void
msg_defaults(struct qv_msg *m)
{
	char **slots[] = { &m->sender, &m->subject, &m->symbols, &m->client_addr, &m->helo,
	    &m->preview };

	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++)
		if (*slots[i] == NULL)
			*slots[i] = xstrdup("");
}

void
qv_msg_clear(struct qv_msg *m)
{
	xfree(m->sender);
	xfree(m->subject);
	xfree(m->symbols);
	xfree(m->client_addr);
	xfree(m->helo);
	xfree(m->preview);
	for (size_t i = 0; m->rcpts != NULL && i < m->n_rcpts; i++)
		xfree(m->rcpts[i]);
	xfree(m->rcpts);
	for (size_t i = 0; i < m->n_headers; i++) {
		xfree(m->hnames[i]);
		xfree(m->hvalues[i]);
	}
	xfree(m->hnames);
	xfree(m->hvalues);
	memset(m, 0, sizeof(*m));
}

static json_t *
load(const char *text, size_t len, const char **error_r)
{
	json_error_t jerr;
	json_t *j;

	if (len > QV_TEXT_MAX) {
		*error_r = "reply too long";
		return NULL;
	}
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		*error_r = "reply is not a JSON object";
		return NULL;
	}
	return j;
}

/* "headers": [[name, value], ...] */
static int
headers_from_json(json_t *arr, struct qv_msg *m)
{
	size_t n;

	if (!json_is_array(arr) || (n = json_array_size(arr)) > QV_HEADERS_MAX)
		return -1;
	m->hnames = xcalloc(n + 1, sizeof(char *));
	m->hvalues = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		json_t *pair = json_array_get(arr, i), *a, *b;

		if (!json_is_array(pair) || json_array_size(pair) != 2)
			return -1;
		a = json_array_get(pair, 0);
		b = json_array_get(pair, 1);
		if (!json_is_string(a) || !json_is_string(b) ||
		    json_string_length(a) > QV_STR_MAX || json_string_length(b) > QV_STR_MAX ||
		    strlen(json_string_value(a)) != json_string_length(a) ||
		    strlen(json_string_value(b)) != json_string_length(b))
			return -1;
		m->hnames[i] = xstrdup(json_string_value(a));
		m->hvalues[i] = xstrdup(json_string_value(b));
		m->n_headers = i + 1;
	}
	return 0;
}

int
qv_show_parse(const char *text, size_t len, struct qv_msg *m, const char **error_r)
{
	json_t *j;
	int rc;

	memset(m, 0, sizeof(*m));
	if ((j = load(text, len, error_r)) == NULL)
		return -1;
	rc = msg_from_json(json_object_get(j, "message"), m);
	if (rc == 0)
		rc = get_str(j, "client_addr", 1, &m->client_addr) |
		    get_str(j, "helo", 1, &m->helo) | get_str(j, "preview", 1, &m->preview);
	if (rc == 0 && json_object_get(j, "headers") != NULL)
		rc = headers_from_json(json_object_get(j, "headers"), m);
	json_decref(j);
	if (rc != 0) {
		qv_msg_clear(m);
		*error_r = "unexpected quarantine show reply";
		return -1;
	}
	msg_defaults(m);
	return 0;
}

int
qv_list_parse(const char *text, size_t len, struct qv_list *l, const char **error_r)
{
	json_t *j, *arr;
	size_t n;
	int rc;

	memset(l, 0, sizeof(*l));
	if ((j = load(text, len, error_r)) == NULL)
		return -1;
	arr = json_object_get(j, "messages");
	rc = get_int(j, "total", 0, &l->total) | get_int(j, "offset", 0, &l->offset) |
	    get_int(j, "limit", 0, &l->limit);
	if (rc != 0 || !json_is_array(arr) || (n = json_array_size(arr)) > QV_MSGS_MAX) {
		json_decref(j);
		*error_r = "unexpected quarantine search reply";
		return -1;
	}
	l->msgs = xcalloc(n + 1, sizeof(*l->msgs));
	for (size_t i = 0; i < n; i++) {
		l->n = i + 1;
		if (msg_from_json(json_array_get(arr, i), &l->msgs[i]) < 0) {
			json_decref(j);
			qv_list_free(l);
			*error_r = "unexpected message in the quarantine search reply";
			return -1;
		}
		msg_defaults(&l->msgs[i]);
	}
	json_decref(j);
	return 0;
}

void
qv_list_free(struct qv_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		qv_msg_clear(&l->msgs[i]);
	xfree(l->msgs);
	memset(l, 0, sizeof(*l));
}

int
qv_msg_has_rcpt(const struct qv_msg *m, const char *rcpt)
{
	for (size_t i = 0; i < m->n_rcpts; i++)
		if (strcasecmp(m->rcpts[i], rcpt) == 0)
			return 1;
	return 0;
}

const char *
qv_addr_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : "";
}

int
qv_word(struct buf *out, const char *key, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";

	buf_reset(out);
	if (strlen(value) > QV_ARG_MAX)
		return -1;
	buf_append_str(out, key);
	buf_append_char(out, '=');
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("@._+-", *p) != NULL) {
			buf_append_char(out, (char)*p);
		} else {
			buf_append_char(out, '%');
			buf_append_char(out, hex[*p >> 4]);
			buf_append_char(out, hex[*p & 15]);
		}
	}
	return 0;
}
