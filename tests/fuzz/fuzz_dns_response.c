/* fuzz_dns_response.c: libFuzzer target for common/dns_parse.c (mg_dns_parse_reply and the
 * public mg_dns_parse_response). The input is one DNS message as a resolver might send it; the
 * harness answers the question the message itself carries (so the answer-section logic is
 * reached) and also a fixed question, with the message's own id, and checks the result's
 * bounds: record count, TXT size and termination, NUL-terminated names, consistent statuses. */
#include <assert.h>
#include <ldns/ldns.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_result(int rc, struct mg_dns_result *res, int foreign, const char *err)
{
	assert(rc >= -1 && rc <= 1);
	if (rc != 0) {
		assert(res == NULL);
		assert(err != NULL);
		if (rc == 1)
			assert(!foreign);
		return;
	}
	assert(res != NULL);
	assert(res->status >= MG_DNS_OK && res->status <= MG_DNS_PERMFAIL);
	assert(res->n <= MG_DNS_RR_MAX);
	assert(res->n == 0 || res->status == MG_DNS_OK);
	assert(res->status != MG_DNS_OK || res->n > 0);
	assert(strlen(res->qname) <= MG_DNS_NAME_MAX);
	assert(res->rcode >= 0 && res->rcode < 4096);
	for (size_t i = 0; i < res->n; i++) {
		const struct mg_dns_rr *rr = &res->rr[i];
		assert(rr->type == res->qtype);
		switch (rr->type) {
		case LDNS_RR_TYPE_TXT:
		case LDNS_RR_TYPE_SPF:
			assert(rr->u.txt.len <= MG_DNS_TXT_MAX);
			assert(rr->u.txt.data[rr->u.txt.len] == '\0');
			break;
		case LDNS_RR_TYPE_MX:
			assert(strlen(rr->u.mx.host) < 4 * 255 + 1);
			break;
		case LDNS_RR_TYPE_CNAME:
		case LDNS_RR_TYPE_PTR:
		case LDNS_RR_TYPE_NS:
			assert(strlen(rr->u.name) < 4 * 255 + 1);
			break;
		case LDNS_RR_TYPE_A:
			assert(rr->u.a.family == AF_INET);
			break;
		case LDNS_RR_TYPE_AAAA:
			assert(rr->u.a.family == AF_INET6);
			break;
		default:
			break;
		}
	}
	mg_dns_result_free(&res);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_dns_result *res;
	const char *err;
	int foreign, rc;
	uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
	ldns_pkt *pkt = NULL;

	/* The question the message carries, when ldns can read one. */
	if (ldns_wire2pkt(&pkt, data, size) == LDNS_STATUS_OK) {
		const ldns_rr_list *q = ldns_pkt_question(pkt);
		if (q != NULL && ldns_rr_list_rr_count(q) == 1) {
			const ldns_rr *qrr = ldns_rr_list_rr(q, 0);
			char *name = ldns_rdf2str(ldns_rr_owner(qrr));
			if (name != NULL) {
				res = NULL;
				rc = mg_dns_parse_reply(data, size, id, name,
				    (uint16_t)ldns_rr_get_type(qrr), &res, &foreign, &err);
				check_result(rc, res, foreign, err);
				free(name);	/* ldns allocation */
			}
		}
		ldns_pkt_free(pkt);
	}
	res = NULL;
	rc = mg_dns_parse_reply(data, size, id, "a.example", LDNS_RR_TYPE_TXT, &res, &foreign, &err);
	check_result(rc, res, foreign, err);
	res = NULL;
	rc = mg_dns_parse_response(data, size, (uint16_t)(id ^ 1), "a.example", LDNS_RR_TYPE_A, &res,
	    &err);
	assert(rc == -1 && res == NULL);	/* another id is always foreign */
	return 0;
}
