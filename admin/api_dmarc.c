/* api_dmarc.c: the DMARC views' request plumbing (admin/page_dmarc.h), the JSON API
 * /api/v1/dmarc... and /api/v1/tls-reports/... and the route table admin_dmarc_routes (listed
 * by admin/router.c). Query parameters are validated strictly before they reach a command (days
 * 1..366, limit 1..10000, a domain must be a DNS name and a protected domain, a report identity
 * printable and at most 1600 octets); a command's answer is relayed only after jansson accepted
 * it as one JSON object, its error text otherwise as {"error":...,"status":N} with 400, 404,
 * 502 or 504. Admin role, loop thread. */
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "admin/admin.h"
#include "admin/ops.h"
#include "admin/page_dmarc.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

/* Plumbing ----------------------------------------------------------------------------------- */

void
dv_free(struct dv *v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < DV_CMDS_MAX; i++) {
		xfree(v->r[i].text);
		json_decref(v->r[i].j);
	}
	xfree(v->id);
	xfree(v);
}

/* A strictly parsed query number (absent: def). 0, or -1 when present and not in min..max. */
static int
query_range(const struct http_request *req, const char *name, long long min, long long max,
    long long def, long long *out)
{
	const char *s = http_query_get(req, name), *err;

	*out = def;
	if (s == NULL)
		return 0;
	return strnum_ll(s, min, max, out, &err);
}

/* A day "YYYY-MM-DD" (1970..9999, a real date) as the unix time of its 00:00 UTC; -1 if not. */
static long long
parse_day(const char *s)
{
	struct tm tm;
	long long y, m, d;
	char part[5];
	const char *err;
	time_t t;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	memcpy(part, s, 4), part[4] = '\0';
	if (strnum_ll(part, 1970, 9999, &y, &err) < 0)
		return -1;
	memcpy(part, s + 5, 2), part[2] = '\0';
	if (strnum_ll(part, 1, 12, &m, &err) < 0)
		return -1;
	memcpy(part, s + 8, 2), part[2] = '\0';
	if (strnum_ll(part, 1, 31, &d, &err) < 0)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)y - 1900;
	tm.tm_mon = (int)m - 1;
	tm.tm_mday = (int)d;
	t = timegm(&tm);
	/* timegm normalises 02-31 to 03-03: refuse what does not come back the same */
	if (t == (time_t)-1 || gmtime_r(&t, &tm) == NULL || tm.tm_mday != (int)d ||
	    tm.tm_mon != (int)m - 1)
		return -1;
	return (long long)t;
}

static void
day_text(char *dst, size_t size, long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(dst, size, "%Y-%m-%d", &tm) == 0)
		str_lcpy(dst, "1970-01-01", size);
}

/* ?since=&until= into v; 0, or -1 with *error_r. */
static int
dv_absolute(struct dv *v, const char *since, const char *until, const char **error_r)
{
	long long today = (long long)time(NULL) / 86400 * 86400, s, u;

	if (http_query_get(v->req, "days") != NULL) {
		*error_r = "give either days or since / until";
		return -1;
	}
	if ((s = parse_day(since)) < 0 || (until != NULL && (u = parse_day(until)) < 0)) {
		*error_r = "since and until must be dates YYYY-MM-DD";
		return -1;
	}
	if (until == NULL)
		u = today;
	if (u < s || (u - s) / 86400 + 1 > DV_SPAN_MAX) {
		*error_r = "until must not be before since, the period at most 3660 days";
		return -1;
	}
	v->absolute = 1;
	v->since_t = s;
	v->days = (int)((u - s) / 86400 + 1);
	str_lcpy(v->since_s, since, sizeof(v->since_s));
	if (until != NULL)
		str_lcpy(v->until_s, until, sizeof(v->until_s));
	else
		day_text(v->until_s, sizeof(v->until_s), u);
	return 0;
}

struct dv *
dv_new(struct http_request *req, struct http_response *resp, int api)
{
	const char *since = http_query_get(req, "since"), *until = http_query_get(req, "until");
	const char *err;
	struct dv *v;
	long long days, limit;

	if (query_range(req, "days", 1, DV_DAYS_MAX, DV_DAYS_DEFAULT, &days) < 0) {
		http_error(req, resp, 400, "days must be a number from 1 to 366");
		return NULL;
	}
	if (query_range(req, "limit", 1, DV_LIMIT_MAX, DV_LIMIT_DEFAULT, &limit) < 0) {
		http_error(req, resp, 400, "limit must be a number from 1 to 10000");
		return NULL;
	}
	v = xcalloc(1, sizeof(*v));
	v->req = req;
	v->api = api;
	v->days = (int)days;
	v->limit = limit;
	if (since == NULL && until != NULL) {
		err = "until needs since";
		goto fail;
	}
	if (since != NULL && dv_absolute(v, since, until, &err) < 0)
		goto fail;
	str_fmt(v->days_s, sizeof(v->days_s), "%d", v->days);
	str_fmt(v->limit_s, sizeof(v->limit_s), "%lld", limit);
	return v;
fail:
	http_error(req, resp, 400, err);
	dv_free(v);
	return NULL;
}

int
dv_add_cmd(struct dv *v, const char *w0, const char *w1, const char *w2, int limit)
{
	const char *argv[DV_ARGS_MAX];
	int n = 0;

	argv[n++] = w0;
	argv[n++] = w1;
	if (w2 != NULL)
		argv[n++] = w2;
	/* dmarc and tls-reports take the same periods (filter/ctl_opts.c) */
	if (v->absolute) {
		argv[n++] = "--since";
		argv[n++] = v->since_s;
		argv[n++] = "--until";
		argv[n++] = v->until_s;
	} else {
		argv[n++] = "--days";
		argv[n++] = v->days_s;
	}
	if (limit) {
		argv[n++] = "--limit";
		argv[n++] = v->limit_s;
	}
	argv[n++] = "--json";
	dv_add(v, n, argv);
	return 0;
}

void
dv_period_query(struct buf *o, const struct dv *v)
{
	if (v->absolute)
		html_printf(o, "since=%s&amp;until=%s", v->since_s, v->until_s);
	else
		html_printf(o, "days=%d", v->days);
}

/* A DNS name as a protected domain may be written: lower-case labels of [a-z0-9-], 1..63
 * octets, not starting or ending with '-', at most 253 octets in all. */
static int
dns_name_ok(const char *s)
{
	size_t label = 0, n = strlen(s);

	if (n == 0 || n > 253 || !ops_domain_is_valid(s))
		return 0;
	for (size_t i = 0; i <= n; i++) {
		if (s[i] == '.' || s[i] == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
				return 0;
			label = 0;
		} else {
			label++;
		}
	}
	return 1;
}

const char *
dv_path_domain(struct dv *v, struct http_response *resp, const char *prefix)
{
	const char *tail = ops_path_tail(v->req, prefix), *verb;

	if (tail == NULL || (verb = ops_path_split(tail, v->domain, sizeof(v->domain))) == NULL ||
	    (str_lower(v->domain), !dns_name_ok(v->domain))) {
		http_error(v->req, resp, 400, "not a domain name");
		dv_free(v);
		return NULL;
	}
	if (config_domain_find(admin_config(), v->domain) == NULL) {
		http_error(v->req, resp, 404, "not a protected domain");
		dv_free(v);
		return NULL;
	}
	return verb;
}

int
dv_id_is_valid(const char *s)
{
	size_t n = strnlen(s, DV_ID_MAX + 1);

	if (n == 0 || n > DV_ID_MAX || strchr(s, '|') == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

void
dv_add(struct dv *v, int argc, const char *const *argv)
{
	if (v->n_cmds >= DV_CMDS_MAX || argc > DV_ARGS_MAX)
		panic("dv_add: too many commands or arguments");
	for (int i = 0; i < argc; i++)
		v->cmd[v->n_cmds].argv[i] = argv[i];
	v->cmd[v->n_cmds].argc = argc;
	v->n_cmds++;
}

static void dv_step(struct dv *v);

static void
dv_reply_cb(void *arg, int status, const char *text)
{
	struct dv *v = arg;
	struct dv_reply *r = &v->r[v->next];
	json_error_t jerr;

	r->status = status;
	r->text = xstrdup(text ? text : "");
	if (status == 0) {
		r->j = json_loads(r->text, JSON_REJECT_DUPLICATES, &jerr);
		if (r->j == NULL || !json_is_object(r->j)) {
			json_decref(r->j);
			r->j = NULL;
			r->status = -1;
		}
	}
	v->next++;
	dv_step(v);
}

static void
dv_step(struct dv *v)
{
	struct http_response resp;

	if (v->next < v->n_cmds) {
		admin_ctl(v->cmd[v->next].argc, v->cmd[v->next].argv, dv_reply_cb, v);
		return;
	}
	ops_resp_init(&resp);
	v->render(v, &resp);
	http_finish(v->req, &resp);
	ops_resp_free(&resp);
	dv_free(v);
}

enum http_result
dv_run(struct dv *v, void (*render)(struct dv *v, struct http_response *resp))
{
	v->render = render;
	v->next = 0;
	dv_step(v);
	return HTTP_PENDING;
}

int
dv_error_status(const struct dv_reply *r)
{
	const char *t = r->text ? r->text : "";

	if (r->status == 2)
		return 400;
	if (r->status == 1 && (strstr(t, "not a protected domain") != NULL ||
	    strstr(t, "no such report") != NULL))
		return 404;
	if (r->status == 1 && strncmp(t, "timeout", 7) == 0)
		return 504;
	return 502;
}

void
dv_error_text(const struct dv_reply *r, char *dst, size_t size)
{
	const char *t = r->text ? r->text : "";
	size_t n;

	if (r->status == -1) {
		str_lcpy(dst, "the filter's answer is not a JSON object", size);
		return;
	}
	if (strncmp(t, "error: ", 7) == 0)
		t += 7;
	str_lcpy(dst, *t ? t : "the filter did not answer", size);
	n = strlen(dst);
	while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == '\r' || dst[n - 1] == ' '))
		dst[--n] = '\0';
}

long long
dv_int(const json_t *o, const char *key)
{
	json_t *x = o ? json_object_get(o, key) : NULL;

	return json_is_integer(x) ? (long long)json_integer_value(x) : 0;
}

const char *
dv_str(const json_t *o, const char *key)
{
	json_t *x = o ? json_object_get(o, key) : NULL;

	return json_is_string(x) ? json_string_value(x) : "";
}

json_t *
dv_arr(const json_t *o, const char *key)
{
	json_t *x = o ? json_object_get(o, key) : NULL;

	return json_is_array(x) ? x : NULL;
}

json_t *
dv_obj(const json_t *o, const char *key)
{
	json_t *x = o ? json_object_get(o, key) : NULL;

	return json_is_object(x) ? x : NULL;
}

/* JSON API ----------------------------------------------------------------------------------- */

/* Relays the single command's object, or its error. */
static void
api_render(struct dv *v, struct http_response *resp)
{
	const struct dv_reply *r = &v->r[0];
	char msg[512];
	int code;

	if (r->status == 0 && r->j != NULL) {
		ops_json(resp, 200, json_incref(r->j));
		return;
	}
	code = dv_error_status(r);
	dv_error_text(r, msg, sizeof(msg));
	ops_json(resp, code, json_pack("{s:s,s:i}", "error", msg, "status", code));
}

/* GET /api/v1/dmarc?days=N */
static enum http_result
api_domains(struct http_request *req, struct http_response *resp)
{
	struct dv *v = dv_new(req, resp, 1);

	if (v == NULL)
		return HTTP_DONE;
	(void)dv_add_cmd(v, "dmarc", "domains", NULL, 0);
	return dv_run(v, api_render);
}

/* GET /api/v1/dmarc/DOMAIN/summary|reports|report */
static enum http_result
api_dmarc_domain(struct http_request *req, struct http_response *resp)
{
	struct dv *v = dv_new(req, resp, 1);
	const char *verb, *id;

	if (v == NULL || (verb = dv_path_domain(v, resp, "/api/v1/dmarc/")) == NULL)
		return HTTP_DONE;
	if (strcmp(verb, "summary") == 0) {
		(void)dv_add_cmd(v, "dmarc", "summary", v->domain, 0);
	} else if (strcmp(verb, "reports") == 0) {
		(void)dv_add_cmd(v, "dmarc", "reports", v->domain, 1);
	} else if (strcmp(verb, "report") == 0) {
		if ((id = http_query_get(req, "id")) == NULL || !dv_id_is_valid(id)) {
			http_error(req, resp, 400, "id must be a report identity (printable, "
			    "at most 1600 octets)");
			dv_free(v);
			return HTTP_DONE;
		}
		v->id = xstrdup(id);
		const char *argv[] = { "dmarc", "show", v->domain, v->id, "--json" };
		dv_add(v, 5, argv);
	} else {
		http_error(req, resp, 404, "unknown DMARC resource");
		dv_free(v);
		return HTTP_DONE;
	}
	return dv_run(v, api_render);
}

/* GET /api/v1/tls-reports/DOMAIN/summary|reports */
static enum http_result
api_tls_domain(struct http_request *req, struct http_response *resp)
{
	struct dv *v = dv_new(req, resp, 1);
	const char *verb;

	if (v == NULL || (verb = dv_path_domain(v, resp, "/api/v1/tls-reports/")) == NULL)
		return HTTP_DONE;
	if (strcmp(verb, "summary") != 0 && strcmp(verb, "reports") != 0) {
		http_error(req, resp, 404, "unknown TLS report resource");
		dv_free(v);
		return HTTP_DONE;
	}
	(void)dv_add_cmd(v, "tls-reports", verb, v->domain, strcmp(verb, "reports") == 0);
	return dv_run(v, api_render);
}

/* Pages -------------------------------------------------------------------------------------- */

/* GET /dmarc?days=N */
static enum http_result
page_overview(struct http_request *req, struct http_response *resp)
{
	struct dv *v = dv_new(req, resp, 0);

	if (v == NULL)
		return HTTP_DONE;
	(void)dv_add_cmd(v, "dmarc", "domains", NULL, 0);
	return dv_run(v, dv_render_overview);
}

/* GET /dmarc/DOMAIN?days=N, /dmarc/DOMAIN/report?id=IDENTITY */
static enum http_result
page_domain(struct http_request *req, struct http_response *resp)
{
	struct dv *v = dv_new(req, resp, 0);
	const char *verb, *id;

	if (v == NULL || (verb = dv_path_domain(v, resp, "/dmarc/")) == NULL)
		return HTTP_DONE;
	if (*verb == '\0') {
		(void)dv_add_cmd(v, "dmarc", "summary", v->domain, 0);
		(void)dv_add_cmd(v, "dmarc", "reports", v->domain, 1);
		(void)dv_add_cmd(v, "tls-reports", "summary", v->domain, 0);
		return dv_run(v, dv_render_domain);
	}
	if (strcmp(verb, "report") != 0) {
		http_error(req, resp, 404, "Not found");
		dv_free(v);
		return HTTP_DONE;
	}
	if ((id = http_query_get(req, "id")) == NULL || !dv_id_is_valid(id)) {
		http_error(req, resp, 400, "id must be a report identity (printable, at most 1600 "
		    "octets)");
		dv_free(v);
		return HTTP_DONE;
	}
	v->id = xstrdup(id);
	const char *argv[] = { "dmarc", "show", v->domain, v->id, "--json" };
	dv_add(v, 5, argv);
	return dv_run(v, dv_render_report);
}

const struct admin_route admin_dmarc_routes[] = {
	/* console pages */
	{ HTTP_GET, "/dmarc", ROUTE_PAGE, page_overview },
	{ HTTP_GET, "/dmarc/", ROUTE_PAGE | ROUTE_PREFIX, page_domain },
	/* JSON API */
	{ HTTP_GET, "/api/v1/dmarc", ROUTE_API, api_domains },
	{ HTTP_GET, "/api/v1/dmarc/", ROUTE_API | ROUTE_PREFIX, api_dmarc_domain },
	{ HTTP_GET, "/api/v1/tls-reports/", ROUTE_API | ROUTE_PREFIX, api_tls_domain },
	{ 0, NULL, 0, NULL },
};
