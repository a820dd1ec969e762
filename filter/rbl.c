/* rbl.c: connect-time DNS block and allow list lookups (RFC 5782) for a filter session: one A
 * query per configured `rbl` zone on the loop's async resolver, bounded by filter_timeout. An
 * answer inside 127.0.0.0/8 that matches the list's codes (none given: any 127/8 address, RFC
 * 5782 §2.1) adds the list's symbol with its score. Loop thread only. Answers are hostile: only
 * A records of the asked name are looked at (common/dns.h parsed and capped them). */
#include <arpa/inet.h>
#include <string.h>

#include "filter/filter_int.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

int
rbl_code_matches(uint32_t addr, const uint32_t *codes, size_t n_codes)
{
	if ((addr >> 24) != 127)
		return 0;	/* RFC 5782 §2.1: list entries answer 127.0.0.0/8 */
	if (n_codes == 0)
		return 1;
	for (size_t i = 0; i < n_codes; i++)
		if (codes[i] == addr)
			return 1;
	return 0;
}

static void
rbl_answer(struct mg_dns_result *res, void *arg)
{
	struct rbl_query *rq = arg;
	struct fsession *s = rq->s;
	int hit = 0;

	rq->q = NULL;
	if (res->status == MG_DNS_OK) {
		for (size_t i = 0; i < res->n && !hit; i++) {
			uint32_t a;

			if (res->rr[i].type != 1 || res->rr[i].u.a.family != AF_INET)
				continue;
			memcpy(&a, res->rr[i].u.a.addr, 4);
			hit = rbl_code_matches(ntohl(a), rq->codes, rq->n_codes);
		}
	}
	if (hit)
		filter_score_add_value(&s->rbl_score, rq->zone_symbol, rq->score);
	log_debug("%s rbl %s status=%s hit=%d", s->sid, res->qname,
	    mg_dns_status_name(res->status), hit);
	mg_dns_result_free(&res);
	s->rbl_pending--;
	fsession_progress(s);
}

void
rbl_start(struct fsession *s, const struct mg_config *cfg)
{
	char name[MG_DNS_NAME_MAX + 64];
	long long deadline = mg_dns_now_ms() + cfg->filter_timeout * 1000;

	/* off globally: off for every recipient, so the lookups would be wasted */
	if (s->mynet || !s->has_addr || cfg->n_rbl == 0 || (cfg->disable_layers & MG_LAYER_RBL))
		return;
	s->rbl = xcalloc(cfg->n_rbl, sizeof(*s->rbl));
	s->n_rbl = cfg->n_rbl;
	for (size_t i = 0; i < cfg->n_rbl; i++) {
		struct rbl_query *rq = &s->rbl[i];

		rq->s = s;
		rq->idx = i;
		str_lcpy(rq->zone_symbol, cfg->rbl[i].symbol, sizeof(rq->zone_symbol));
		rq->score = cfg->rbl[i].score;
		rq->n_codes = cfg->rbl[i].n_codes;
		memcpy(rq->codes, cfg->rbl[i].codes, sizeof(rq->codes));
		if (mg_dns_reverse_name((const struct sockaddr *)&s->ss, cfg->rbl[i].zone, name,
		    sizeof(name)) < 0)
			continue;
		s->rbl_pending++;
		rq->q = mg_dns_query(filter.dns, name, 1, deadline, rbl_answer, rq);
	}
}

void
rbl_cancel(struct fsession *s)
{
	for (size_t i = 0; i < s->n_rbl; i++)
		if (s->rbl[i].q != NULL) {
			mg_dns_cancel(&s->rbl[i].q);
			s->rbl_pending--;
		}
	xfree(s->rbl);
	s->rbl = NULL;
	s->n_rbl = 0;
}
