/* DMARC policy discovery and evaluation for one message (RFC 7489 §6.6.2-§6.6.4, alignment
 * §3.1) and its Authentication-Results fragment. Runs on a filter pool thread (or in a tool):
 * the caller's struct mg_dns_lookup answers the at most two TXT queries, the shared PSL handle
 * is only read. DNS answers are hostile: TXT records are length-checked and parsed by record.c;
 * at most MG_DMARC_TXT_RECORDS_MAX records of one answer are looked at. SPF and DKIM results
 * come from our own checkers and are trusted, their domains are re-canonicalised before any
 * comparison. */
#include <string.h>

#include "dmarc/dmarc.h"
#include "lib/str.h"

enum discover { DISC_FOUND, DISC_NONE, DISC_MULTIPLE, DISC_TEMPFAIL, DISC_INVALID };

/* TXT _dmarc.<domain> (§6.6.3 steps 1-5). On DISC_FOUND fills *rec; *reason_r is static. */
static enum discover
discover_at(const struct mg_dns_lookup *dns, const char *domain, struct mg_dmarc_record *rec,
    int *queries, const char **reason_r)
{
	char name[MG_DNS_NAME_MAX + 1];
	struct mg_dns_result *res;
	const struct mg_dns_rr *found = NULL;
	int n = 0;
	enum discover d;

	if (str_fmt(name, sizeof(name), "_dmarc.%s", domain) < 0 ||
	    strlen(name) > MG_DNS_NAME_MAX) {
		*reason_r = "name too long for a policy";
		return DISC_NONE;
	}
	(*queries)++;
	res = dns->fn(dns->ctx, name, 16);
	if (res == NULL || res->status == MG_DNS_TEMPFAIL) {
		*reason_r = "dns temporary failure";
		mg_dns_result_free(&res);
		return DISC_TEMPFAIL;
	}
	if (res->status != MG_DNS_OK) {
		/* NXDOMAIN, NODATA, and PERMFAIL (refused, malformed): no record here. */
		*reason_r = res->status == MG_DNS_PERMFAIL ? "dns lookup failed" : "no record";
		mg_dns_result_free(&res);
		return DISC_NONE;
	}
	for (size_t i = 0; i < res->n && i < MG_DMARC_TXT_RECORDS_MAX; i++) {
		const struct mg_dns_rr *rr = &res->rr[i];

		if (rr->type != 16 || rr->u.txt.data == NULL ||
		    !mg_dmarc_is_record(rr->u.txt.data, rr->u.txt.len))
			continue;	/* §6.6.3 step 3: not DMARC, discarded */
		if (n++ == 0)
			found = rr;
	}
	if (n == 0) {
		*reason_r = "no record";
		d = DISC_NONE;
	} else if (n > 1) {
		*reason_r = "several records";	/* §6.6.3 step 5 */
		d = DISC_MULTIPLE;
	} else if (mg_dmarc_policy_parse(found->u.txt.data, found->u.txt.len, rec, reason_r) < 0) {
		d = DISC_INVALID;
	} else {
		*reason_r = NULL;
		d = DISC_FOUND;
	}
	mg_dns_result_free(&res);
	return d;
}

/* Identifier alignment (§3.1.1, §3.1.2): strict = equal, relaxed = same Organizational
 * Domain. from and from_org are canonical; id is canonicalised here. */
static int
aligned(const struct mg_psl *psl, const char *id, char mode, const char *from,
    const char *from_org, char *canon, size_t size)
{
	char org[MG_DMARC_DOMAIN_MAX + 1];
	const char *error;

	if (id == NULL || mg_dmarc_domain_canon(id, strlen(id), canon, size, &error) < 0)
		return 0;
	if (strcmp(canon, from) == 0)
		return 1;
	if (mode == 's' || mg_psl_org_domain(psl, canon, org, sizeof(org)) < 0)
		return 0;
	return strcmp(org, from_org) == 0;
}

static void
evaluate_alignment(const struct mg_dmarc_ctx *ctx, const struct mg_dmarc_input *in,
    struct mg_dmarc_result *out)
{
	char canon[MG_DMARC_DOMAIN_MAX + 1];
	size_t n = in->n_dkim < MG_DMARC_DKIM_MAX ? in->n_dkim : MG_DMARC_DKIM_MAX;

	for (size_t i = 0; in->dkim != NULL && i < n && !out->dkim_aligned; i++) {
		if (in->dkim[i].result != MG_DMARC_DKIM_PASS)
			continue;
		if (aligned(ctx->psl, in->dkim[i].domain, out->record.adkim, out->header_from,
		    out->org_domain, canon, sizeof(canon))) {
			out->dkim_aligned = 1;
			memcpy(out->dkim_domain, canon, sizeof(canon));
		}
	}
	if (in->spf_result == MG_DMARC_SPF_PASS)
		out->spf_aligned = aligned(ctx->psl, in->spf_domain, out->record.aspf,
		    out->header_from, out->org_domain, canon, sizeof(canon));
}

/* §6.6.4 with pct (§6.3): the full policy applies to sampled messages; the others get the
 * next policy down (reject -> quarantine, quarantine -> none). */
static void
apply_policy(const struct mg_dmarc_input *in, struct mg_dmarc_result *out)
{
	out->policy = out->record.p;
	if (strcmp(out->record_domain, out->header_from) != 0 &&
	    out->record.sp != MG_DMARC_POLICY_UNSET) {
		out->policy = out->record.sp;
		out->policy_is_sp = 1;
	}
	out->sampled = (int)(in->pct_random % 100) < out->record.pct;
	if (out->status != MG_DMARC_FAIL)
		return;
	switch (out->policy) {
	case MG_DMARC_POLICY_REJECT:
		out->disposition = out->sampled ? MG_DMARC_DIS_REJECT : MG_DMARC_DIS_QUARANTINE;
		break;
	case MG_DMARC_POLICY_QUARANTINE:
		out->disposition = out->sampled ? MG_DMARC_DIS_QUARANTINE : MG_DMARC_DIS_NONE;
		break;
	default:
		out->disposition = MG_DMARC_DIS_NONE;
		break;
	}
}

/* Maps a discovery outcome to the result; returns 1 when evaluation should go on. */
static int
discovery_done(enum discover d, const char *reason, struct mg_dmarc_result *out)
{
	out->reason = reason;
	switch (d) {
	case DISC_FOUND:
		out->has_record = 1;
		return 1;
	case DISC_TEMPFAIL:
		out->status = MG_DMARC_TEMPERROR;
		break;
	case DISC_INVALID:
		out->status = MG_DMARC_PERMERROR;
		break;
	case DISC_MULTIPLE:
	case DISC_NONE:
		out->status = MG_DMARC_NONE;
		break;
	}
	out->record_domain[0] = '\0';
	return 0;
}

int
mg_dmarc_evaluate(const struct mg_dmarc_ctx *ctx, const struct mg_dns_lookup *dns,
    const struct mg_dmarc_input *in, struct mg_dmarc_result *out)
{
	const char *reason = NULL;
	enum discover d;

	if (out == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	out->status = MG_DMARC_NONE;
	if (ctx == NULL || ctx->psl == NULL || dns == NULL || dns->fn == NULL || in == NULL) {
		out->reason = "bad arguments";
		return -1;
	}
	if (in->header_from == NULL || mg_dmarc_domain_canon(in->header_from,
	    strlen(in->header_from), out->header_from, sizeof(out->header_from), &reason) < 0) {
		out->reason = "unusable From domain";
		return 0;
	}
	if (mg_psl_org_domain(ctx->psl, out->header_from, out->org_domain,
	    sizeof(out->org_domain)) < 0) {
		out->reason = "unusable From domain";
		return 0;
	}
	memcpy(out->record_domain, out->header_from, sizeof(out->record_domain));
	d = discover_at(dns, out->header_from, &out->record, &out->dns_queries, &reason);
	if (d == DISC_NONE && strcmp(out->org_domain, out->header_from) != 0) {
		/* §6.6.3 step 4: nothing at the From domain, try the Organizational Domain. */
		memcpy(out->record_domain, out->org_domain, sizeof(out->record_domain));
		d = discover_at(dns, out->org_domain, &out->record, &out->dns_queries, &reason);
	}
	if (!discovery_done(d, reason, out))
		return 0;
	evaluate_alignment(ctx, in, out);
	if (out->dkim_aligned || out->spf_aligned) {
		out->status = MG_DMARC_PASS;
		out->reason = out->dkim_aligned ? "aligned dkim" : "aligned spf";
	} else {
		out->status = MG_DMARC_FAIL;
		out->reason = "no aligned pass";
	}
	apply_policy(in, out);
	return 0;
}

const char *
mg_dmarc_status_name(enum mg_dmarc_status st)
{
	switch (st) {
	case MG_DMARC_NONE: return "none";
	case MG_DMARC_PASS: return "pass";
	case MG_DMARC_FAIL: return "fail";
	case MG_DMARC_TEMPERROR: return "temperror";
	case MG_DMARC_PERMERROR: return "permerror";
	}
	return "?";
}

const char *
mg_dmarc_disposition_name(enum mg_dmarc_disposition d)
{
	switch (d) {
	case MG_DMARC_DIS_NONE: return "none";
	case MG_DMARC_DIS_QUARANTINE: return "quarantine";
	case MG_DMARC_DIS_REJECT: return "reject";
	}
	return "?";
}

const char *
mg_dmarc_spf_name(enum mg_dmarc_spf r)
{
	switch (r) {
	case MG_DMARC_SPF_NONE: return "none";
	case MG_DMARC_SPF_NEUTRAL: return "neutral";
	case MG_DMARC_SPF_PASS: return "pass";
	case MG_DMARC_SPF_FAIL: return "fail";
	case MG_DMARC_SPF_SOFTFAIL: return "softfail";
	case MG_DMARC_SPF_TEMPERROR: return "temperror";
	case MG_DMARC_SPF_PERMERROR: return "permerror";
	}
	return "?";
}

const char *
mg_dmarc_dkim_name(enum mg_dmarc_dkim r)
{
	switch (r) {
	case MG_DMARC_DKIM_NONE: return "none";
	case MG_DMARC_DKIM_PASS: return "pass";
	case MG_DMARC_DKIM_FAIL: return "fail";
	case MG_DMARC_DKIM_POLICY: return "policy";
	case MG_DMARC_DKIM_NEUTRAL: return "neutral";
	case MG_DMARC_DKIM_TEMPERROR: return "temperror";
	case MG_DMARC_DKIM_PERMERROR: return "permerror";
	}
	return "?";
}

int
mg_dmarc_authres(const struct mg_dmarc_result *res, char *out, size_t size)
{
	char comment[96] = "", from[MG_DMARC_DOMAIN_MAX + 16] = "";

	if (res->has_record && (res->status == MG_DMARC_PASS || res->status == MG_DMARC_FAIL)) {
		char sp[32] = "";

		if (res->policy_is_sp)
			str_fmt(sp, sizeof(sp), " sp=%s", mg_dmarc_policy_name(res->record.sp));
		str_fmt(comment, sizeof(comment), " (p=%s%s dis=%s)",
		    mg_dmarc_policy_name(res->record.p), sp,
		    mg_dmarc_disposition_name(res->disposition));
	}
	if (res->header_from[0] != '\0')
		str_fmt(from, sizeof(from), " header.from=%s", res->header_from);
	return str_fmt(out, size, "dmarc=%s%s%s", mg_dmarc_status_name(res->status), comment, from);
}
