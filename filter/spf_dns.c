/* spf_dns.c: the DNS layer under libspf2. A custom SPF_dns_server_t answers every query libspf2
 * makes (A, AAAA, MX, PTR, and TXT for explanations) from the caller's struct mg_dns_lookup, and
 * its get_spf hook fetches, selects (RFC 7208 §4.5), guards (spf_guard.c) and compiles the record
 * of include:/redirect= targets, so libspf2's own resolver and record selection never run.
 * Runs on the filter worker thread owning the struct mg_spf. Input: hostile DNS answers.
 * Enforces RFC 7208 §4.6.4 here, per check: 10 DNS-querying terms (A/AAAA after an MX or PTR
 * answer are the term's own address lookups, not terms), 2 void lookups, more than 10 MX
 * names = permerror, only the first 10 PTR names; DNS errors while validating PTR names are
 * "no match" (§5.5); names over 253 octets are cut from the left (§7.3). Once a limit is hit the
 * check is a permerror and every later query is answered "not found" without touching DNS. */
#include <netdb.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "filter/spf_int.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define MG_SPF_QUERIES_MAX 256	/* answers asked for in one check, a backstop to the limits */

static void
ctx_why(struct mg_spf_ctx *ctx, const char *fmt, const char *arg)
{
	if (str_fmt(ctx->why, sizeof(ctx->why), fmt, arg) < 0)
		ctx->why[sizeof(ctx->why) - 1] = '\0';
}

void
mg_spf_ctx_begin(struct mg_spf_ctx *ctx, const struct mg_dns_lookup *dns, int family,
    const unsigned char *addr)
{
	mg_spf_ctx_end(ctx);
	ctx->dns = dns;
	ctx->family = family;
	memcpy(ctx->addr, addr, family == AF_INET ? 4 : 16);
	ctx->lookups = ctx->voids = ctx->queries = 0;
	ctx->limit = NULL;
	ctx->n_expect = ctx->i_expect = ctx->expect_from_ptr = 0;
	ctx->why[0] = '\0';
}

void
mg_spf_ctx_end(struct mg_spf_ctx *ctx)
{
	for (int i = 0; i < ctx->n_cache; i++)
		mg_dns_result_free(&ctx->cache[i].res);
	ctx->n_cache = 0;
	ctx->dns = NULL;
}

/* libspf2's query name to the name we ask for: one final dot dropped, our /0 marker stripped
 * (*cidr0 set), labels cut from the left past 253 octets (RFC 7208 §7.3). -1 if the result is
 * empty or has an empty or over-long label: such a name is never sent. */
static int
norm_name(const char *in, char *out, size_t outsize, int *cidr0)
{
	size_t len = strlen(in), sfx = sizeof(MG_SPF_CIDR0_SUFFIX) - 1, label = 0;
	const char *p = in;

	*cidr0 = 0;
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len > sfx && strncasecmp(in + len - sfx, MG_SPF_CIDR0_SUFFIX, sfx) == 0) {
		*cidr0 = 1;
		len -= sfx;
	}
	while (len > MG_DNS_NAME_MAX) {
		const char *dot = memchr(p, '.', len);

		if (dot == NULL)
			return -1;
		len -= (size_t)(dot + 1 - p);
		p = dot + 1;
	}
	if (len == 0 || len >= outsize)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if (++label > 63 || p[i] == '\0') {
			return -1;
		}
	}
	if (label == 0)
		return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

/* The answer for (name, type), from the per-check cache or the caller's lookup. Valid until the
 * next query() (the cache evicts round-robin when full). Never NULL. */
static const struct mg_dns_result *
query(struct mg_spf_ctx *ctx, const char *name, uint16_t type)
{
	struct mg_spf_cache_ent *e;
	int slot;

	for (int i = 0; i < ctx->n_cache; i++) {
		e = &ctx->cache[i];
		if (e->type == type && strcasecmp(e->name, name) == 0)
			return e->res;
	}
	ctx->queries++;
	slot = ctx->n_cache < MG_SPF_CACHE_MAX ? ctx->n_cache++ : ctx->queries % MG_SPF_CACHE_MAX;
	e = &ctx->cache[slot];
	mg_dns_result_free(&e->res);
	e->type = type;
	str_lcpy(e->name, name, sizeof(e->name));
	e->res = ctx->dns->fn(ctx->dns->ctx, name, type);
	if (e->res == NULL)
		panic("spf: DNS lookup returned NULL for %s", name);
	return e->res;
}

/* libspf2 allocates its RR sets itself (malloc); we only fill them. */
static SPF_dns_rr_t *
rr_new(SPF_dns_server_t *srv, const char *domain, ns_type type, int herrno)
{
	SPF_dns_rr_t *rr = SPF_dns_rr_new_init(srv, domain, type, 0, herrno);

	if (rr == NULL)
		fatal("spf: out of memory");
	return rr;
}

static void
rr_add(SPF_dns_rr_t *rr, const void *data, size_t len)
{
	if (SPF_dns_rr_buf_realloc(rr, rr->num_rr, len) != SPF_E_SUCCESS)
		fatal("spf: out of memory");
	memcpy(rr->rr[rr->num_rr], data, len);
	rr->num_rr++;
}

/* Names we hand back must be printable ASCII: libspf2 expands %{p} from them, and its
 * URL-encoding of 8-bit octets overflows (CVE-2021-33912). */
static int
is_printable_name(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

static void
expect_names(struct mg_spf_ctx *ctx, int from_ptr)
{
	ctx->expect_type = ctx->family == AF_INET ? ns_t_a : ns_t_aaaa;
	ctx->expect_from_ptr = from_ptr;
	ctx->i_expect = 0;
}

/* MX or PTR answer: names (with our /0 marker re-appended for MX) become the next expected
 * address lookups. */
static void
add_names(struct mg_spf_ctx *ctx, SPF_dns_rr_t *rr, const struct mg_dns_result *res, int cidr0)
{
	char name[MG_SPF_QNAME_MAX];
	int is_mx = res->qtype == ns_t_mx;

	ctx->n_expect = 0;
	for (size_t i = 0; i < res->n && ctx->n_expect < MG_SPF_PTR_LIMIT; i++) {
		const char *host = is_mx ? res->rr[i].u.mx.host : res->rr[i].u.name;

		if (host == NULL || !is_printable_name(host))
			continue;
		if (str_fmt(name, sizeof(name), "%s%s", host, cidr0 ? MG_SPF_CIDR0_SUFFIX : "") < 0)
			continue;
		rr_add(rr, name, strlen(name) + 1);
		str_lcpy(ctx->expect[ctx->n_expect++], name, sizeof(ctx->expect[0]));
	}
	expect_names(ctx, !is_mx);
}

static void
add_addresses(struct mg_spf_ctx *ctx, SPF_dns_rr_t *rr, const struct mg_dns_result *res,
    ns_type type, int cidr0)
{
	int af = type == ns_t_a ? AF_INET : AF_INET6;
	size_t alen = af == AF_INET ? 4 : 16;
	SPF_dns_rr_data_t d;

	for (size_t i = 0; i < res->n; i++) {
		if (res->rr[i].type != type || res->rr[i].u.a.family != af)
			continue;
		memset(&d, 0, sizeof(d));
		if (cidr0) {
			/* An a/0 or mx/0 term matches when the name has any address of the
			 * client's family: answer with the client's own address. */
			if (af != ctx->family)
				return;
			memcpy(&d, ctx->addr, alen);
			rr_add(rr, &d, sizeof(d));
			return;
		}
		memcpy(&d, res->rr[i].u.a.addr, alen);
		rr_add(rr, &d, sizeof(d));
	}
}

/* An explanation TXT (§6.2): exactly one record, guarded, else "none" (default explanation). */
static void
add_explanation(struct mg_spf_ctx *ctx, SPF_dns_rr_t *rr, const struct mg_dns_result *res)
{
	const char *error;

	if (res->n != 1)
		return;
	buf_reset(&ctx->canon);
	if (ctx->unguarded) {
		rr_add(rr, res->rr[0].u.txt.data, strlen(res->rr[0].u.txt.data) + 1);
		return;
	}
	if (mg_spf_explanation_filter(res->rr[0].u.txt.data, res->rr[0].u.txt.len, &ctx->canon,
	    &error) < 0) {
		log_debug("spf: explanation refused: %s", error);
		return;
	}
	rr_add(rr, ctx->canon.len > 0 ? ctx->canon.data : "", ctx->canon.len + 1);
}

static int
herrno_of(const struct mg_dns_result *res, ns_type type, int sub_of_ptr)
{
	switch (res->status) {
	case MG_DNS_OK:
		return NETDB_SUCCESS;
	case MG_DNS_NODATA:
		return NO_DATA;
	case MG_DNS_NXDOMAIN:
		return HOST_NOT_FOUND;
	case MG_DNS_TEMPFAIL:
		/* §5.5: a failed PTR lookup is no match; a failed address lookup of a PTR name
		 * skips that name. Everything else is a temperror. */
		if (type == ns_t_ptr)
			return HOST_NOT_FOUND;
		return sub_of_ptr ? NO_DATA : TRY_AGAIN;
	case MG_DNS_PERMFAIL:
	default:
		/* An answer with RCODE other than 0 or 3 is a temperror (§4.4, §5); a query that
		 * never left (invalid name) matches nothing. */
		if (type == ns_t_ptr || sub_of_ptr)
			return HOST_NOT_FOUND;
		return res->rcode >= 0 ? TRY_AGAIN : NO_RECOVERY;
	}
}

/* SPF_dns_server_t.lookup. should_cache is FALSE only for the %{p} validation and exists:
 * a PTR without it is the macro's, not a ptr term. */
static SPF_dns_rr_t *
dns_lookup(SPF_dns_server_t *srv, const char *domain, ns_type type, int should_cache)
{
	struct mg_spf_ctx *ctx = srv->hook;
	const struct mg_dns_result *res;
	char name[MG_DNS_NAME_MAX + 1];
	int sub = 0, term = 0, cidr0, herrno;
	SPF_dns_rr_t *rr;

	if ((type == ns_t_a || type == ns_t_aaaa) && ctx->i_expect < ctx->n_expect &&
	    type == ctx->expect_type && strcmp(domain, ctx->expect[ctx->i_expect]) == 0) {
		sub = ctx->expect_from_ptr ? 2 : 1;
		ctx->i_expect++;
	} else if (type != ns_t_txt) {
		ctx->n_expect = ctx->i_expect = 0;
		term = type == ns_t_a || type == ns_t_aaaa || type == ns_t_mx ||
		    (type == ns_t_ptr && should_cache);
	}
	if (term && ctx->limit == NULL && ++ctx->lookups > MG_SPF_LOOKUP_LIMIT)
		ctx->limit = "more than 10 DNS lookups";
	if (ctx->limit == NULL && ctx->queries >= MG_SPF_QUERIES_MAX)
		ctx->limit = "too many DNS queries";
	if (ctx->limit != NULL)
		return rr_new(srv, domain, type, HOST_NOT_FOUND);
	if (norm_name(domain, name, sizeof(name), &cidr0) < 0 ||
	    (type != ns_t_a && type != ns_t_aaaa && type != ns_t_mx && type != ns_t_ptr &&
	    type != ns_t_txt))
		return rr_new(srv, domain, type, (type == ns_t_ptr || sub == 2) ? HOST_NOT_FOUND :
		    NO_RECOVERY);
	res = query(ctx, name, type);
	herrno = herrno_of(res, type, sub == 2);
	if (term && (res->status == MG_DNS_NXDOMAIN || res->status == MG_DNS_NODATA) &&
	    ++ctx->voids > MG_SPF_VOID_LIMIT) {
		ctx->limit = "more than 2 void lookups";
		return rr_new(srv, domain, type, HOST_NOT_FOUND);
	}
	if (herrno != NETDB_SUCCESS)
		return rr_new(srv, domain, type, herrno);
	if (type == ns_t_mx && res->n > MG_SPF_MX_LIMIT) {
		ctx->limit = "more than 10 MX records";
		return rr_new(srv, domain, type, HOST_NOT_FOUND);
	}
	rr = rr_new(srv, domain, type, NETDB_SUCCESS);
	switch (type) {
	case ns_t_mx:
	case ns_t_ptr:
		add_names(ctx, rr, res, cidr0 && type == ns_t_mx);
		break;
	case ns_t_txt:
		add_explanation(ctx, rr, res);
		break;
	default:
		add_addresses(ctx, rr, res, type, cidr0);
		break;
	}
	if (rr->num_rr == 0)
		rr->herrno = NO_DATA;
	return rr;
}

/* Counts and selects the v=spf1 records of one TXT answer; returns the count, *idx_r the last. */
static int
select_record(const struct mg_dns_result *res, size_t *idx_r)
{
	int n = 0;

	for (size_t i = 0; i < res->n; i++) {
		if (res->rr[i].type == ns_t_txt &&
		    mg_spf_record_is_spf(res->rr[i].u.txt.data, res->rr[i].u.txt.len)) {
			n++;
			*idx_r = i;
		}
	}
	return n;
}

/* Mechanisms in a canonical record (spf_guard.c): every term but "exp=" (libspf2 compiles
 * redirect= as a mechanism). */
static unsigned
count_mechanisms(const char *canon)
{
	unsigned n = 0;

	for (const char *p = strchr(canon, ' '); p != NULL; p = strchr(p + 1, ' '))
		if (strncmp(p + 1, "exp=", 4) != 0)
			n++;
	return n;
}

static enum mg_spf_fetch
compile_record(struct mg_spf_ctx *ctx, SPF_server_t *server, SPF_response_t *resp,
    const char *txt, size_t len, SPF_record_t **rec_r)
{
	const char *error;
	char *raw = NULL;
	SPF_errcode_t err;

	buf_reset(&ctx->canon);
	if (ctx->unguarded) {
		raw = xstrndup(txt, len);
	} else if (mg_spf_record_filter(txt, len, ctx->family, &ctx->canon, &error) < 0) {
		ctx_why(ctx, "invalid SPF record: %s", error);
		return MG_SPF_FETCH_PERM;
	}
	err = SPF_record_compile(server, resp, rec_r, raw != NULL ? raw : ctx->canon.data);
	xfree(raw);
	if (err == SPF_E_SUCCESS && !ctx->unguarded &&
	    (*rec_r)->num_mech != count_mechanisms(ctx->canon.data)) {
		/* libspf2 stops adding mechanisms past 511 compiled bytes (about 25 ip6 terms)
		 * without reporting an error: "-all" would silently vanish. */
		err = SPF_E_BIG_MECH;
	}
	if (err != SPF_E_SUCCESS) {
		if (*rec_r != NULL)
			SPF_record_free(*rec_r);
		*rec_r = NULL;
		ctx_why(ctx, "SPF record refused by libspf2: %s", SPF_strerror(err));
		return MG_SPF_FETCH_PERM;
	}
	return MG_SPF_FETCH_OK;
}

enum mg_spf_fetch
mg_spf_fetch_record(struct mg_spf_ctx *ctx, SPF_server_t *server, SPF_response_t *resp,
    const char *domain, SPF_record_t **rec_r)
{
	const struct mg_dns_result *res;
	char name[MG_DNS_NAME_MAX + 1];
	size_t idx = 0;
	int cidr0, n;

	*rec_r = NULL;
	ctx->n_expect = ctx->i_expect = 0;
	if (norm_name(domain, name, sizeof(name), &cidr0) < 0 || cidr0) {
		ctx_why(ctx, "%s", "invalid domain name");
		return MG_SPF_FETCH_NONE;
	}
	if (ctx->queries >= MG_SPF_QUERIES_MAX) {
		ctx->limit = "too many DNS queries";
		ctx_why(ctx, "%s", ctx->limit);
		return MG_SPF_FETCH_PERM;
	}
	res = query(ctx, name, ns_t_txt);
	switch (res->status) {
	case MG_DNS_OK:
		break;
	case MG_DNS_NODATA:
		ctx_why(ctx, "%s", "no SPF record");
		return MG_SPF_FETCH_NONE;
	case MG_DNS_NXDOMAIN:
		ctx_why(ctx, "%s", "no such domain");
		return MG_SPF_FETCH_NONE;
	case MG_DNS_PERMFAIL:
		if (res->rcode < 0) {
			ctx_why(ctx, "invalid domain name (%s)", res->error ? res->error : "refused");
			return MG_SPF_FETCH_NONE;
		}
		/* An answer with RCODE other than 0 or 3 is a temperror (§4.4). */
		/* fall through */
	default:
		ctx_why(ctx, "DNS failure for the SPF record (%s)", res->error ? res->error : "error");
		return MG_SPF_FETCH_TEMP;
	}
	n = select_record(res, &idx);
	if (n == 0) {
		ctx_why(ctx, "%s", "no SPF record");
		return MG_SPF_FETCH_NONE;
	}
	if (n > 1) {
		ctx_why(ctx, "%s", "more than one SPF record");
		return MG_SPF_FETCH_PERM;
	}
	return compile_record(ctx, server, resp, res->rr[idx].u.txt.data, res->rr[idx].u.txt.len,
	    rec_r);
}

/* SPF_dns_server_t.get_spf: the record of an include:/redirect= target (one term each). */
static SPF_errcode_t
dns_get_spf(SPF_server_t *server, SPF_request_t *req, SPF_response_t *resp, SPF_record_t **rec_r)
{
	struct mg_spf_ctx *ctx = server->resolver->hook;

	*rec_r = NULL;
	ctx->n_expect = ctx->i_expect = 0;
	if (ctx->limit == NULL && ++ctx->lookups > MG_SPF_LOOKUP_LIMIT)
		ctx->limit = "more than 10 DNS lookups";
	if (ctx->limit != NULL)
		return SPF_response_add_error(resp, SPF_E_BIG_DNS, "%s", ctx->limit);
	switch (mg_spf_fetch_record(ctx, server, resp, req->cur_dom, rec_r)) {
	case MG_SPF_FETCH_OK:
		return SPF_E_SUCCESS;
	case MG_SPF_FETCH_NONE:
		return SPF_response_add_error(resp, SPF_E_NOT_SPF, "%s", ctx->why);
	case MG_SPF_FETCH_TEMP:
		return SPF_response_add_error(resp, SPF_E_DNS_ERROR, "%s", ctx->why);
	default:
		return SPF_response_add_error(resp, SPF_E_SYNTAX, "%s", ctx->why);
	}
}

static void
dns_destroy(SPF_dns_server_t *srv)
{
	xfree(srv);
}

SPF_dns_server_t *
mg_spf_dns_new(struct mg_spf_ctx *ctx)
{
	SPF_dns_server_t *srv = xcalloc(1, sizeof(*srv));

	srv->destroy = dns_destroy;
	srv->lookup = dns_lookup;
	srv->get_spf = dns_get_spf;
	srv->name = "mailguard";
	srv->hook = ctx;
	return srv;
}
