/* tlsrpt.c: SMTP TLS Reporting (RFC 8460) aggregation, persistence and report building (see
 * tlsrpt.h). Pure (no I/O, no clock); any thread. Untrusted input: session results come from
 * our delivery role but carry peer-influenced text (MX names, reasons, the published rua), so
 * strings are cut and made printable ASCII; the state file is read back after restarts and is
 * parsed strictly with the same limits. JSON is built with jansson, gzip with zlib. */
#include "queue/tlsrpt.h"

#include <jansson.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "lib/str.h"
#include "lib/xalloc.h"
#include "queue/bounce.h"
#include "queue/statefile.h"

/* ---- aggregation ---- */

void
tlsrpt_agg_init(struct tlsrpt_agg *a, long long start, long long interval)
{
	memset(a, 0, sizeof(*a));
	a->start = start;
	a->interval = interval;
}

static void
policy_clear(struct tlsrpt_policy *p)
{
	for (size_t k = 0; k < p->n_fail; k++) {
		struct tlsrpt_failure *f = &p->fail[k];

		xfree(f->result_type);
		xfree(f->sending_ip);
		xfree(f->mx_host);
		xfree(f->receiving_ip);
		xfree(f->reason);
	}
	xfree(p->fail);
	xfree(p->type);
	xfree(p->policy_string);
	xfree(p->mx_host);
}

void
tlsrpt_agg_clear(struct tlsrpt_agg *a)
{
	for (size_t i = 0; i < a->n_dom; i++) {
		struct tlsrpt_domain *d = &a->dom[i];

		for (size_t j = 0; j < d->n_pol; j++)
			policy_clear(&d->pol[j]);
		xfree(d->pol);
		xfree(d->domain);
		xfree(d->rua);
	}
	xfree(a->dom);
	tlsrpt_agg_init(a, a->start, a->interval);
}

/* A copy cut to max octets with every byte outside printable ASCII made '?' (keep_nl: '\n'
 * stays, it separates policy strings). */
static char *
clean_dup(const char *s, size_t max, int keep_nl)
{
	size_t n = s != NULL ? strnlen(s, max) : 0;
	char *d = xmalloc(n + 1);

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		d[i] = (c >= 0x20 && c < 0x7f) || (keep_nl && c == '\n') ? (char)c : '?';
	}
	d[n] = '\0';
	return d;
}

/* What clean_dup() would leave unchanged: the state file must hold only such text. */
static int
is_clean(const struct statefile_line *l, int keep_nl_field)
{
	for (size_t i = 1; i < l->n; i++)
		for (size_t k = 0; k < l->len[i]; k++) {
			unsigned char c = (unsigned char)l->field[i][k];

			if (!((c >= 0x20 && c < 0x7f) || (c == '\n' && (int)i == keep_nl_field)))
				return 0;
		}
	return 1;
}

static int
domain_ok(const char *s)
{
	size_t n = s != NULL ? strnlen(s, SMTP_DOMAIN_MAX + 1) : 0;

	if (n == 0 || n > SMTP_DOMAIN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static int
type_ok(const char *t)
{
	return t != NULL && (strcmp(t, "sts") == 0 || strcmp(t, "tlsa") == 0 ||
	    strcmp(t, "no-policy-found") == 0);
}

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
	return a + b > TLSRPT_COUNT_MAX || a + b < a ? TLSRPT_COUNT_MAX : a + b;
}

static struct tlsrpt_domain *
domain_get(struct tlsrpt_agg *a, const char *name)
{
	struct tlsrpt_domain *d;

	for (size_t i = 0; i < a->n_dom; i++)
		if (strcmp(a->dom[i].domain, name) == 0)
			return &a->dom[i];
	if (a->n_dom == TLSRPT_DOMAINS_MAX)
		return NULL;
	if (a->n_dom == a->cap_dom) {
		a->cap_dom = a->cap_dom ? a->cap_dom * 2 : 8;
		a->dom = xreallocarray(a->dom, a->cap_dom, sizeof(*a->dom));
	}
	d = &a->dom[a->n_dom++];
	memset(d, 0, sizeof(*d));
	d->domain = xstrdup(name);
	d->rua = xstrdup("");
	return d;
}

/* The policy of a result: STS policies cover every MX (their mx patterns are in the policy
 * string), TLSA records and "no policy" are per MX host. */
static struct tlsrpt_policy *
policy_get(struct tlsrpt_domain *d, const char *type, const char *str, const char *mx)
{
	const char *key_mx = strcmp(type, "sts") == 0 ? "" : mx;
	struct tlsrpt_policy *p;

	for (size_t j = 0; j < d->n_pol; j++) {
		p = &d->pol[j];
		if (strcmp(p->type, type) == 0 && strcmp(p->policy_string, str) == 0 &&
		    strcmp(p->mx_host, key_mx) == 0)
			return p;
	}
	if (d->n_pol == TLSRPT_POLICIES_MAX)
		return NULL;
	d->pol = xreallocarray(d->pol, d->n_pol + 1, sizeof(*d->pol));
	p = &d->pol[d->n_pol++];
	memset(p, 0, sizeof(*p));
	p->type = xstrdup(type);
	p->policy_string = xstrdup(str);
	p->mx_host = xstrdup(key_mx);
	return p;
}

static void
failure_count(struct tlsrpt_policy *p, char *rt, char *sip, char *mx, char *rip, char *why,
    uint64_t n)
{
	struct tlsrpt_failure *f;

	for (size_t k = 0; k < p->n_fail; k++) {
		f = &p->fail[k];
		if (strcmp(f->result_type, rt) == 0 && strcmp(f->sending_ip, sip) == 0 &&
		    strcmp(f->mx_host, mx) == 0 && strcmp(f->receiving_ip, rip) == 0) {
			f->count = sat_add(f->count, n);
			goto done;
		}
	}
	if (p->n_fail == TLSRPT_FAILURES_MAX)
		goto done;	/* counted in the summary only */
	p->fail = xreallocarray(p->fail, p->n_fail + 1, sizeof(*p->fail));
	f = &p->fail[p->n_fail++];
	f->result_type = rt;
	f->sending_ip = sip;
	f->mx_host = mx;
	f->receiving_ip = rip;
	f->reason = why;	/* the first reason seen stands for the group */
	f->count = n;
	return;
done:
	xfree(rt);
	xfree(sip);
	xfree(mx);
	xfree(rip);
	xfree(why);
}

int
tlsrpt_agg_add(struct tlsrpt_agg *a, const struct tlsrpt_result *r)
{
	char *dom, *str, *mx;
	struct tlsrpt_domain *d;
	struct tlsrpt_policy *p;

	if (!domain_ok(r->domain) || !type_ok(r->policy_type) ||
	    (!r->success && (r->result_type == NULL || r->result_type[0] == '\0'))) {
		a->dropped++;
		return -1;
	}
	dom = clean_dup(r->domain, SMTP_DOMAIN_MAX, 0);
	str_lower(dom);
	d = domain_get(a, dom);
	xfree(dom);
	if (d == NULL) {
		a->dropped++;
		return -1;
	}
	if (r->rua != NULL && r->rua[0] != '\0') {
		xfree(d->rua);
		d->rua = clean_dup(r->rua, TLSRPT_RUA_MAX, 0);
	}
	str = clean_dup(r->policy_string, TLSRPT_POLICY_STRING_MAX, 1);
	mx = clean_dup(r->mx_host, SMTP_DOMAIN_MAX, 0);
	p = policy_get(d, r->policy_type, str, mx);
	xfree(str);
	if (p == NULL) {
		xfree(mx);
		a->dropped++;
		return -1;
	}
	if (r->success) {
		p->success = sat_add(p->success, 1);
		xfree(mx);
		return 0;
	}
	p->failure = sat_add(p->failure, 1);
	failure_count(p, clean_dup(r->result_type, TLSRPT_TEXT_MAX, 0),
	    clean_dup(r->sending_ip, TLSRPT_TEXT_MAX, 0), mx,
	    clean_dup(r->receiving_ip, TLSRPT_TEXT_MAX, 0),
	    clean_dup(r->reason, TLSRPT_TEXT_MAX, 0), 1);
	return 0;
}

/* ---- the state file ---- */

int
tlsrpt_state_format(const struct tlsrpt_agg *a, struct buf *out)
{
	if (buf_printf(out, "%s %d\nperiod %lld %lld\n", TLSRPT_STATE_MAGIC, TLSRPT_STATE_VERSION,
	    a->start, a->interval) < 0)
		return -1;
	for (size_t i = 0; i < a->n_dom; i++) {
		const struct tlsrpt_domain *d = &a->dom[i];

		if (buf_append_str(out, "domain ") < 0 || statefile_put(out, d->domain) < 0 ||
		    buf_append_char(out, ' ') < 0 || statefile_put(out, d->rua) < 0 ||
		    buf_append_char(out, '\n') < 0)
			return -1;
		for (size_t j = 0; j < d->n_pol; j++) {
			const struct tlsrpt_policy *p = &d->pol[j];

			if (buf_append_str(out, "policy ") < 0 || statefile_put(out, p->type) < 0 ||
			    buf_append_char(out, ' ') < 0 ||
			    statefile_put(out, p->policy_string) < 0 ||
			    buf_append_char(out, ' ') < 0 || statefile_put(out, p->mx_host) < 0 ||
			    buf_printf(out, " %llu %llu\n", (unsigned long long)p->success,
			    (unsigned long long)p->failure) < 0)
				return -1;
			for (size_t k = 0; k < p->n_fail; k++) {
				const struct tlsrpt_failure *f = &p->fail[k];

				if (buf_append_str(out, "failure ") < 0 ||
				    statefile_put(out, f->result_type) < 0 ||
				    buf_append_char(out, ' ') < 0 ||
				    statefile_put(out, f->sending_ip) < 0 ||
				    buf_append_char(out, ' ') < 0 ||
				    statefile_put(out, f->mx_host) < 0 ||
				    buf_append_char(out, ' ') < 0 ||
				    statefile_put(out, f->receiving_ip) < 0 ||
				    buf_printf(out, " %llu ", (unsigned long long)f->count) < 0 ||
				    statefile_put(out, f->reason) < 0 ||
				    buf_append_char(out, '\n') < 0)
					return -1;
			}
		}
	}
	return 0;
}

static int
parse_policy(struct tlsrpt_domain *d, const struct statefile_line *l, const char **error_r)
{
	long long s, f;
	struct tlsrpt_policy *p;

	if (l->n != 6 || !is_clean(l, 2) || !type_ok(l->field[1]) ||
	    l->len[2] > TLSRPT_POLICY_STRING_MAX || l->len[3] > SMTP_DOMAIN_MAX ||
	    (strcmp(l->field[1], "sts") == 0 && l->len[3] != 0)) {
		*error_r = "bad policy line";
		return -1;
	}
	if (statefile_ll(l, 4, (long long)TLSRPT_COUNT_MAX, &s, error_r) < 0 ||
	    statefile_ll(l, 5, (long long)TLSRPT_COUNT_MAX, &f, error_r) < 0)
		return -1;
	if (d->n_pol == TLSRPT_POLICIES_MAX) {
		*error_r = "too many policies";
		return -1;
	}
	for (size_t j = 0; j < d->n_pol; j++)
		if (strcmp(d->pol[j].type, l->field[1]) == 0 &&
		    strcmp(d->pol[j].policy_string, l->field[2]) == 0 &&
		    strcmp(d->pol[j].mx_host, l->field[3]) == 0) {
			*error_r = "policy listed twice";
			return -1;
		}
	d->pol = xreallocarray(d->pol, d->n_pol + 1, sizeof(*d->pol));
	p = &d->pol[d->n_pol++];
	memset(p, 0, sizeof(*p));
	p->type = xstrdup(l->field[1]);
	p->policy_string = clean_dup(l->field[2], TLSRPT_POLICY_STRING_MAX, 1);
	p->mx_host = clean_dup(l->field[3], SMTP_DOMAIN_MAX, 0);
	p->success = (uint64_t)s;
	p->failure = (uint64_t)f;
	return 0;
}

static int
parse_failure(struct tlsrpt_policy *p, const struct statefile_line *l, const char **error_r)
{
	long long n;

	if (l->n != 7 || !is_clean(l, 0) || l->len[1] == 0 || l->len[1] > TLSRPT_TEXT_MAX ||
	    l->len[2] > TLSRPT_TEXT_MAX || l->len[3] > SMTP_DOMAIN_MAX ||
	    l->len[4] > TLSRPT_TEXT_MAX || l->len[6] > TLSRPT_TEXT_MAX) {
		*error_r = "bad failure line";
		return -1;
	}
	if (statefile_ll(l, 5, (long long)TLSRPT_COUNT_MAX, &n, error_r) < 0)
		return -1;
	if (p->n_fail == TLSRPT_FAILURES_MAX) {
		*error_r = "too many failure details";
		return -1;
	}
	for (size_t k = 0; k < p->n_fail; k++)
		if (strcmp(p->fail[k].result_type, l->field[1]) == 0 &&
		    strcmp(p->fail[k].sending_ip, l->field[2]) == 0 &&
		    strcmp(p->fail[k].mx_host, l->field[3]) == 0 &&
		    strcmp(p->fail[k].receiving_ip, l->field[4]) == 0) {
			*error_r = "failure detail listed twice";
			return -1;
		}
	failure_count(p, clean_dup(l->field[1], TLSRPT_TEXT_MAX, 0),
	    clean_dup(l->field[2], TLSRPT_TEXT_MAX, 0), clean_dup(l->field[3], SMTP_DOMAIN_MAX, 0),
	    clean_dup(l->field[4], TLSRPT_TEXT_MAX, 0), clean_dup(l->field[6], TLSRPT_TEXT_MAX, 0),
	    (uint64_t)n);
	return 0;
}

static int
parse_domain(struct tlsrpt_agg *a, const struct statefile_line *l, const char **error_r)
{
	struct tlsrpt_domain *d;

	if (l->n != 3 || !is_clean(l, 0) || !domain_ok(l->field[1]) ||
	    l->len[2] > TLSRPT_RUA_MAX) {
		*error_r = "bad domain line";
		return -1;
	}
	for (size_t i = 0; i < a->n_dom; i++)
		if (strcmp(a->dom[i].domain, l->field[1]) == 0) {
			*error_r = "domain listed twice";
			return -1;
		}
	if ((d = domain_get(a, l->field[1])) == NULL) {
		*error_r = "too many domains";
		return -1;
	}
	xfree(d->rua);
	d->rua = clean_dup(l->field[2], TLSRPT_RUA_MAX, 0);
	return 0;
}

int
tlsrpt_state_parse(struct slice text, struct tlsrpt_agg *a, const char **error_r)
{
	struct statefile_line *l = xcalloc(1, sizeof(*l));
	size_t pos = 0;
	long long start, interval;
	int r;

	tlsrpt_agg_init(a, 0, 0);
	if (text.len > TLSRPT_STATE_FILE_MAX) {
		*error_r = "state file too large";
		goto fail;
	}
	if (statefile_header(text, &pos, TLSRPT_STATE_MAGIC, TLSRPT_STATE_VERSION, error_r) < 0)
		goto fail;
	if (statefile_next(text, &pos, l, error_r) != 1 || l->n != 3 ||
	    strcmp(l->field[0], "period") != 0 ||
	    statefile_ll(l, 1, 253402300799LL, &start, error_r) < 0 ||
	    statefile_ll(l, 2, 7 * 86400, &interval, error_r) < 0 || interval == 0) {
		*error_r = "bad or missing period line";
		goto fail;
	}
	tlsrpt_agg_init(a, start, interval);
	while ((r = statefile_next(text, &pos, l, error_r)) == 1) {
		struct tlsrpt_domain *d = a->n_dom ? &a->dom[a->n_dom - 1] : NULL;
		struct tlsrpt_policy *p = d && d->n_pol ? &d->pol[d->n_pol - 1] : NULL;

		if (strcmp(l->field[0], "domain") == 0)
			r = parse_domain(a, l, error_r);
		else if (strcmp(l->field[0], "policy") == 0 && d != NULL)
			r = parse_policy(d, l, error_r);
		else if (strcmp(l->field[0], "failure") == 0 && p != NULL)
			r = parse_failure(p, l, error_r);
		else {
			*error_r = "unexpected line";
			r = -1;
		}
		if (r < 0)
			goto fail;
	}
	if (r < 0)
		goto fail;
	xfree(l);
	return 0;
fail:
	xfree(l);
	tlsrpt_agg_clear(a);
	return -1;
}

/* ---- the report ---- */

static void
iso_time(long long t, char *dst, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	strftime(dst, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Lines of a '\n'-separated string as a JSON array; prefix non-NULL keeps only lines starting
 * with it (the value after it, trimmed): the "mx:" lines of an STS policy. */
static json_t *
lines_array(const char *s, const char *prefix)
{
	json_t *arr = json_array();

	while (s != NULL && *s != '\0') {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);

		if (prefix == NULL) {
			json_array_append_new(arr, json_stringn(s, n));
		} else if (n > strlen(prefix) && strncmp(s, prefix, strlen(prefix)) == 0) {
			const char *v = s + strlen(prefix);
			size_t vn = n - strlen(prefix);

			while (vn > 0 && *v == ' ') {
				v++;
				vn--;
			}
			while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\r'))
				vn--;
			if (vn > 0)
				json_array_append_new(arr, json_stringn(v, vn));
		}
		s = nl ? nl + 1 : s + n;
	}
	return arr;
}

static json_t *
policy_json(const struct tlsrpt_domain *d, const struct tlsrpt_policy *p)
{
	json_t *pol = json_object(), *item = json_object(), *sum = json_object();
	json_t *mx;

	json_object_set_new(pol, "policy-type", json_string(p->type));
	if (p->policy_string[0] != '\0')
		json_object_set_new(pol, "policy-string", lines_array(p->policy_string, NULL));
	json_object_set_new(pol, "policy-domain", json_string(d->domain));
	if (strcmp(p->type, "sts") == 0)
		mx = lines_array(p->policy_string, "mx:");
	else {
		mx = json_array();
		if (p->mx_host[0] != '\0')
			json_array_append_new(mx, json_string(p->mx_host));
	}
	if (json_array_size(mx) > 0)
		json_object_set_new(pol, "mx-host", mx);
	else
		json_decref(mx);
	json_object_set_new(item, "policy", pol);
	json_object_set_new(sum, "total-successful-session-count", json_integer((json_int_t)p->success));
	json_object_set_new(sum, "total-failure-session-count", json_integer((json_int_t)p->failure));
	json_object_set_new(item, "summary", sum);
	if (p->n_fail > 0) {
		json_t *arr = json_array();

		for (size_t k = 0; k < p->n_fail; k++) {
			const struct tlsrpt_failure *f = &p->fail[k];
			json_t *o = json_object();

			json_object_set_new(o, "result-type", json_string(f->result_type));
			if (f->sending_ip[0])
				json_object_set_new(o, "sending-mta-ip", json_string(f->sending_ip));
			if (f->mx_host[0])
				json_object_set_new(o, "receiving-mx-hostname", json_string(f->mx_host));
			if (f->receiving_ip[0])
				json_object_set_new(o, "receiving-ip", json_string(f->receiving_ip));
			json_object_set_new(o, "failed-session-count", json_integer((json_int_t)f->count));
			if (f->reason[0])
				json_object_set_new(o, "failure-reason-code", json_string(f->reason));
			json_array_append_new(arr, o);
		}
		json_object_set_new(item, "failure-details", arr);
	}
	return item;
}

int
tlsrpt_report_json(const struct tlsrpt_agg *a, const struct tlsrpt_domain *d,
    const struct tlsrpt_meta *m, struct buf *out, char *report_id_r, size_t id_size,
    const char **error_r)
{
	json_t *root = json_object(), *range = json_object(), *pols = json_array();
	char t0[32], t1[32];
	char *text;
	int r = 0;

	iso_time(a->start, t0, sizeof(t0));
	iso_time(a->start + a->interval - 1, t1, sizeof(t1));
	/* §4.4: a unique identifier; ours names the period, the domain and the submitter */
	(void)str_fmt(report_id_r, id_size, "%s_%s@%s", t0, d->domain, m->submitter);
	json_object_set_new(root, "organization-name", json_string(m->org_name));
	json_object_set_new(range, "start-datetime", json_string(t0));
	json_object_set_new(range, "end-datetime", json_string(t1));
	json_object_set_new(root, "date-range", range);
	json_object_set_new(root, "contact-info", json_string(m->contact));
	json_object_set_new(root, "report-id", json_string(report_id_r));
	for (size_t j = 0; j < d->n_pol; j++)
		json_array_append_new(pols, policy_json(d, &d->pol[j]));
	json_object_set_new(root, "policies", pols);
	if ((text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) == NULL ||
	    buf_append_str(out, text) < 0) {
		*error_r = "cannot serialise the JSON report (a string that is not UTF-8, or too big)";
		r = -1;
	}
	free(text);	/* jansson's allocator: plain malloc */
	json_decref(root);
	return r;
}

static int
gzip_buf(const struct buf *in, struct buf *out)
{
	z_stream z;
	unsigned char chunk[16384];
	int zr;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	z.next_in = (unsigned char *)in->data;
	z.avail_in = (uInt)in->len;
	do {
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		zr = deflate(&z, Z_FINISH);
		if (zr == Z_STREAM_ERROR || buf_append(out, chunk, sizeof(chunk) - z.avail_out) < 0) {
			deflateEnd(&z);
			return -1;
		}
	} while (zr != Z_STREAM_END);
	deflateEnd(&z);
	return 0;
}

static int
base64_lines(const struct buf *in, struct buf *out)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)in->data;
	size_t col = 0;

	for (size_t i = 0; i < in->len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		char q[4];

		if (i + 1 < in->len)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < in->len)
			v |= p[i + 2];
		q[0] = b64[(v >> 18) & 63];
		q[1] = b64[(v >> 12) & 63];
		q[2] = i + 1 < in->len ? b64[(v >> 6) & 63] : '=';
		q[3] = i + 2 < in->len ? b64[v & 63] : '=';
		if (buf_append(out, q, 4) < 0)
			return -1;
		if ((col += 4) == 76 && buf_append_str(out, "\r\n") < 0)
			return -1;
		if (col == 76)
			col = 0;
	}
	return col > 0 ? buf_append_str(out, "\r\n") : 0;
}

int
tlsrpt_report_message(const struct tlsrpt_agg *a, const struct tlsrpt_domain *d,
    const struct tlsrpt_meta *m, const char *to, struct buf *out, const char **error_r)
{
	struct buf json, gz;
	char id[400], date[64], boundary[128];
	int r = -1;

	buf_init(&json, 32u * 1024 * 1024);
	buf_init(&gz, 32u * 1024 * 1024);
	if (tlsrpt_report_json(a, d, m, &json, id, sizeof(id), error_r) < 0)
		goto done;
	if (gzip_buf(&json, &gz) < 0) {
		*error_r = "gzip failed";
		goto done;
	}
	bounce_format_date(m->now, date, sizeof(date));
	(void)str_fmt(boundary, sizeof(boundary), "=_mgtlsrpt_%lld_%zu", a->start, gz.len);
	/* RFC 8460 §5.3 headers; the Subject carries domain, submitter and report-id */
	buf_printf(out, "From: <%s>\r\nDate: %s\r\nTo: <%s>\r\n", m->from, date, to);
	buf_printf(out, "Subject: Report Domain: %s\r\n Submitter: %s\r\n Report-ID: <%s>\r\n",
	    d->domain, m->submitter, id);
	buf_printf(out, "Message-ID: <tlsrpt.%lld.%s@%s>\r\n", a->start, d->domain, m->submitter);
	buf_printf(out, "TLS-Report-Domain: %s\r\nTLS-Report-Submitter: %s\r\n", d->domain,
	    m->submitter);
	buf_append_str(out, "Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n");
	buf_printf(out, "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
	    "\tboundary=\"%s\"\r\n\r\nThis is a multipart message in MIME format.\r\n\r\n", boundary);
	buf_printf(out, "--%s\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n"
	    "This is an aggregate TLS report from %s\r\nfor %s, report-id %s.\r\n\r\n",
	    boundary, m->submitter, d->domain, id);
	/* §5.1 file name: sender "!" policy-domain "!" begin-timestamp "!" end-timestamp */
	buf_printf(out, "--%s\r\nContent-Type: application/tlsrpt+gzip\r\n"
	    "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment;\r\n"
	    "\tfilename=\"%s!%s!%lld!%lld.json.gz\"\r\n\r\n", boundary, m->submitter, d->domain,
	    a->start, a->start + a->interval - 1);
	if (base64_lines(&gz, out) < 0 || buf_printf(out, "\r\n--%s--\r\n", boundary) < 0) {
		*error_r = "report message too large";
		goto done;
	}
	r = 0;
done:
	buf_free(&json);
	buf_free(&gz);
	return r;
}

/* ---- rua ---- */

static int
mailto_decode(const char *p, size_t n, char *dst, size_t size)
{
	size_t o = 0, at = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '%' && i + 2 < n) {
			char hx[3] = { p[i + 1], p[i + 2], 0 };
			char *end;
			unsigned long v = strtoul(hx, &end, 16);

			if (*end != '\0')
				return -1;
			c = (unsigned char)v;
			i += 2;
		}
		if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == ',' || o + 1 >= size)
			return -1;
		if (c == '@')
			at++;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return at == 1 && dst[0] != '@' && dst[o - 1] != '@' ? 0 : -1;
}

size_t
tlsrpt_rua_mailto(const char *rua, void (*fn)(const char *addr, void *arg), void *arg,
    size_t *others_r)
{
	size_t n = 0;
	const char *s = rua;

	*others_r = 0;
	while (s != NULL && *s != '\0') {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		char addr[SMTP_PATH_MAX + 1];

		while (len > 0 && (*s == ' ' || *s == '\t')) {
			s++;
			len--;
		}
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (len > 7 && strncasecmp(s, "mailto:", 7) == 0) {
			const char *q = memchr(s + 7, '?', len - 7);
			size_t alen = q ? (size_t)(q - (s + 7)) : len - 7;

			if (alen > 0 && mailto_decode(s + 7, alen, addr, sizeof(addr)) == 0) {
				fn(addr, arg);
				n++;
			} else {
				(*others_r)++;
			}
		} else if (len > 0) {
			(*others_r)++;
		}
		if (end == NULL)
			break;
		s = end + 1;
	}
	return n;
}

int
tlsrpt_report_gzip(const struct tlsrpt_agg *a, const struct tlsrpt_domain *d,
    const struct tlsrpt_meta *m, struct buf *out, const char **error_r)
{
	struct buf json;
	char id[400];
	int r = -1;

	buf_init(&json, 32u * 1024 * 1024);
	if (tlsrpt_report_json(a, d, m, &json, id, sizeof(id), error_r) < 0)
		goto done;
	if (gzip_buf(&json, out) < 0) {
		*error_r = "gzip failed or report too large";
		goto done;
	}
	r = 0;
done:
	buf_free(&json);
	return r;
}

int
tlsrpt_https_url_ok(const char *url, size_t len)
{
	static const char scheme[] = "https://";

	if (len <= sizeof(scheme) - 1 || len > TLSRPT_URL_MAX ||
	    strncasecmp(url, scheme, sizeof(scheme) - 1) != 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];

		/* RFC 3986 characters only: no spaces, controls, quotes, angle brackets, 8-bit */
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' ||
		    c == '^' || c == '`' || c == '{' || c == '|' || c == '}')
			return 0;
	}
	/* a host must follow the scheme */
	return url[sizeof(scheme) - 1] != '/' && url[sizeof(scheme) - 1] != '?' &&
	    url[sizeof(scheme) - 1] != '#';
}

size_t
tlsrpt_rua_https(const char *rua, void (*fn)(const char *url, void *arg), void *arg)
{
	size_t n = 0;
	const char *s = rua;

	while (s != NULL && *s != '\0') {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		char url[TLSRPT_URL_MAX + 1];

		while (len > 0 && (*s == ' ' || *s == '\t')) {
			s++;
			len--;
		}
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (tlsrpt_https_url_ok(s, len)) {
			memcpy(url, s, len);
			url[len] = '\0';
			fn(url, arg);
			n++;
		}
		if (end == NULL)
			break;
		s = end + 1;
	}
	return n;
}
