/* DMARC aggregate reports we send (issue I), part 4: where a report may go. Runs in the daily
 * report job. The rua URIs come from DNS (hostile; record.c already kept only well-formed
 * mailto: URIs with their "!size"): each is decoded to a plain addr-spec, checked against the
 * operator's exclusion list (addresses that bounced) and its size limit, and, when its domain
 * is in another Organizational Domain than the policy domain, verified per RFC 7489 §7.1 with a
 * TXT lookup of "<policy-domain>._report._dmarc.<rua-domain>" through the caller's struct
 * mg_dns_lookup (so tests use a table). http(s): URIs are not standardised for DMARC reports and
 * never used; ruf (failure reports) is never looked at. Limits: MG_DMARC_URIS_MAX destinations,
 * MG_DMARC_URI_LEN octets per address, MG_DMARC_TXT_RECORDS_MAX records per answer. */
#include <string.h>
#include <strings.h>

#include "dmarc/dmarc.h"
#include "lib/str.h"

int
mg_dmarc_rua_address(const char *uri, char *addr, size_t addr_size, char *domain,
    size_t domain_size, const char **error_r)
{
	char raw[MG_DMARC_URI_LEN + 1];
	size_t n, o = 0, at = 0, ats = 0;

	if (uri == NULL || strncasecmp(uri, "mailto:", 7) != 0) {
		*error_r = "not a mailto: URI";
		return -1;
	}
	uri += 7;
	n = strcspn(uri, "?");		/* RFC 6068 hfields are not ours to honour */
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)uri[i];

		if (c == '%') {
			int hi = i + 2 < n ? str_hex_digit((unsigned char)uri[i + 1]) : -1;
			int lo = i + 2 < n ? str_hex_digit((unsigned char)uri[i + 2]) : -1;

			if (hi < 0 || lo < 0) {
				*error_r = "bad percent-encoding";
				return -1;
			}
			c = hi * 16 + lo;
			i += 2;
		}
		if (c <= 0x20 || c >= 0x7f || strchr("<>\"(),;\\", c) != NULL ||
		    o + 1 >= sizeof(raw)) {
			*error_r = "address holds a character we do not send to";
			return -1;
		}
		if (c == '@') {
			at = o;
			ats++;
		}
		raw[o++] = (char)c;
	}
	raw[o] = '\0';
	if (ats != 1 || at == 0 || at + 1 >= o) {
		*error_r = "not local@domain";
		return -1;
	}
	if (mg_dmarc_domain_canon(raw + at + 1, o - at - 1, domain, domain_size, error_r) < 0)
		return -1;
	raw[at] = '\0';
	if (str_fmt(addr, addr_size, "%s@%s", raw, domain) < 0 ||
	    strlen(addr) > MG_DMARC_URI_LEN) {
		*error_r = "address too long";
		return -1;
	}
	return 0;
}

enum mg_dmarc_rua_status
mg_dmarc_rua_authorised(const struct mg_psl *psl, const struct mg_dns_lookup *dns,
    const char *policy_domain, const char *rua_domain, const char **reason_r)
{
	char org_p[MG_DMARC_DOMAIN_MAX + 1], org_r[MG_DMARC_DOMAIN_MAX + 1];
	char name[MG_DNS_NAME_MAX + 2];
	struct mg_dns_result *res;
	enum mg_dmarc_rua_status st = MG_DMARC_RUA_UNAUTHORISED;

	if (strcasecmp(policy_domain, rua_domain) == 0 ||
	    (mg_psl_org_domain(psl, policy_domain, org_p, sizeof(org_p)) >= 0 &&
	    mg_psl_org_domain(psl, rua_domain, org_r, sizeof(org_r)) >= 0 &&
	    strcasecmp(org_p, org_r) == 0)) {
		*reason_r = "same organizational domain";
		return MG_DMARC_RUA_OK;
	}
	if (str_fmt(name, sizeof(name), "%s._report._dmarc.%s", policy_domain, rua_domain) < 0 ||
	    strlen(name) > MG_DNS_NAME_MAX) {
		*reason_r = "verification name too long";
		return MG_DMARC_RUA_UNAUTHORISED;
	}
	res = dns->fn(dns->ctx, name, 16);
	if (res == NULL || res->status == MG_DNS_TEMPFAIL) {
		*reason_r = "verification lookup failed temporarily";
		mg_dns_result_free(&res);
		return MG_DMARC_RUA_TEMPFAIL;
	}
	*reason_r = res->status == MG_DNS_OK ? "no v=DMARC1 record at the verification name" :
	    "no verification record";
	for (size_t i = 0; res->status == MG_DNS_OK && i < res->n &&
	    i < MG_DMARC_TXT_RECORDS_MAX; i++) {
		const struct mg_dns_rr *rr = &res->rr[i];

		if (rr->type == 16 && rr->u.txt.data != NULL &&
		    mg_dmarc_is_record(rr->u.txt.data, rr->u.txt.len)) {
			*reason_r = "authorised by the rua domain";
			st = MG_DMARC_RUA_OK;
			break;
		}
	}
	mg_dns_result_free(&res);
	return st;
}

/* An exclusion list entry with blanks trimmed, in *len_r; NULL when it is empty or a comment. */
static const char *
entry(const char *e, size_t *len_r)
{
	size_t n;

	while (*e == ' ' || *e == '\t')
		e++;
	n = strlen(e);
	while (n > 0 && (e[n - 1] == ' ' || e[n - 1] == '\t' || e[n - 1] == '\r' ||
	    e[n - 1] == '\n'))
		n--;
	*len_r = n;
	return n == 0 || e[0] == '#' ? NULL : e;
}

int
mg_dmarc_rua_is_excluded(const char *addr, const char *const *excluded, size_t n_excluded)
{
	const char *at = strrchr(addr, '@');

	for (size_t i = 0; i < n_excluded; i++) {
		size_t n;
		const char *e = excluded[i] != NULL ? entry(excluded[i], &n) : NULL;

		if (e == NULL)
			continue;
		if (e[0] == '@' ? at != NULL && strlen(at) == n && strncasecmp(at, e, n) == 0 :
		    strlen(addr) == n && strncasecmp(addr, e, n) == 0)
			return 1;
	}
	return 0;
}

struct verdict_cache {
	char domain[MG_DMARC_URIS_MAX][MG_DMARC_DOMAIN_MAX + 1];
	enum mg_dmarc_rua_status st[MG_DMARC_URIS_MAX];
	const char *reason[MG_DMARC_URIS_MAX];
	size_t n;
};

static enum mg_dmarc_rua_status
verify_cached(struct verdict_cache *c, const struct mg_psl *psl,
    const struct mg_dns_lookup *dns, const char *policy_domain, const char *rua_domain,
    const char **reason_r)
{
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->domain[i], rua_domain) == 0) {
			*reason_r = c->reason[i];
			return c->st[i];
		}
	}
	enum mg_dmarc_rua_status st = mg_dmarc_rua_authorised(psl, dns, policy_domain, rua_domain,
	    reason_r);

	if (c->n < MG_DMARC_URIS_MAX) {
		str_lcpy(c->domain[c->n], rua_domain, sizeof(c->domain[0]));
		c->st[c->n] = st;
		c->reason[c->n++] = *reason_r;
	}
	return st;
}

int
mg_dmarc_rua_select(const struct mg_psl *psl, const struct mg_dns_lookup *dns,
    const char *policy_domain, const struct mg_dmarc_record *rec, size_t gz_size,
    const char *const *excluded, size_t n_excluded, struct mg_dmarc_rua_dest *dests,
    size_t *n_dests)
{
	struct verdict_cache cache;
	int ok = 0;

	cache.n = 0;
	*n_dests = 0;
	for (int i = 0; i < rec->n_rua && i < MG_DMARC_URIS_MAX; i++) {
		struct mg_dmarc_rua_dest *d = &dests[(*n_dests)++];

		memset(d, 0, sizeof(*d));
		d->max_size = rec->rua[i].max_size;
		d->status = MG_DMARC_RUA_BAD;
		if (mg_dmarc_rua_address(rec->rua[i].uri, d->addr, sizeof(d->addr), d->domain,
		    sizeof(d->domain), &d->reason) < 0) {
			d->addr[0] = d->domain[0] = '\0';
			continue;
		}
		for (size_t j = 0; j + 1 < *n_dests; j++) {
			if (strcasecmp(dests[j].addr, d->addr) == 0) {
				d->reason = "duplicate address";
				break;
			}
		}
		if (d->reason != NULL)
			continue;
		if (mg_dmarc_rua_is_excluded(d->addr, excluded, n_excluded)) {
			d->status = MG_DMARC_RUA_EXCLUDED;
			d->reason = "on the exclusion list";
		} else if (d->max_size != 0 && gz_size > d->max_size) {
			d->status = MG_DMARC_RUA_TOO_BIG;
			d->reason = "report larger than the URI's size limit";
		} else {
			d->status = verify_cached(&cache, psl, dns, policy_domain, d->domain,
			    &d->reason);
			ok += d->status == MG_DMARC_RUA_OK;
		}
	}
	return ok;
}

int
mg_dmarc_agg_policy_lookup(const struct mg_dns_lookup *dns, const char *policy_domain,
    struct mg_dmarc_record *rec, const char **reason_r)
{
	char name[MG_DNS_NAME_MAX + 2];
	struct mg_dns_result *res;
	const struct mg_dns_rr *found = NULL;
	int n = 0, r = 1;

	if (str_fmt(name, sizeof(name), "_dmarc.%s", policy_domain) < 0 ||
	    strlen(name) > MG_DNS_NAME_MAX) {
		*reason_r = "name too long for a policy";
		return 1;
	}
	res = dns->fn(dns->ctx, name, 16);
	if (res == NULL || res->status == MG_DNS_TEMPFAIL) {
		*reason_r = "dns temporary failure";
		mg_dns_result_free(&res);
		return -1;
	}
	*reason_r = "no record";
	for (size_t i = 0; res->status == MG_DNS_OK && i < res->n &&
	    i < MG_DMARC_TXT_RECORDS_MAX; i++) {
		const struct mg_dns_rr *rr = &res->rr[i];

		if (rr->type == 16 && rr->u.txt.data != NULL &&
		    mg_dmarc_is_record(rr->u.txt.data, rr->u.txt.len) && n++ == 0)
			found = rr;
	}
	if (n > 1)
		*reason_r = "several records";	/* §6.6.3 step 5 */
	else if (n == 1 && mg_dmarc_policy_parse(found->u.txt.data, found->u.txt.len, rec,
	    reason_r) == 0)
		r = 0;
	mg_dns_result_free(&res);
	return r;
}
