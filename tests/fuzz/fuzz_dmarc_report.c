/* fuzz_dmarc_report.c: libFuzzer target for the DMARC aggregate report XML handler
 * (dmarc/report_xml.c, dmarc/report_values.c) over libxml2's reader. The input is one XML
 * document; the record cap is lowered to 64. Invariants: a parsed report has a non-empty
 * report_id and policy domain, every string non-NULL and NUL-terminated, at most 64 records,
 * a total equal to the sum of the counts, auth_results within their caps, enums in range, an
 * identity that fits MG_REPORT_IDENTITY_MAX; a refused one has a reason and printable text. Needs -lxml2
 * (issue I Makefile change request); move to tests/fuzz/ once LDLIBS has it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc/dmarc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_str(const char *s)
{
	if (s == NULL || strlen(s) > MG_REPORT_VALUE_MAX)
		abort();
}

static void
check_report(const struct mg_report *r)
{
	unsigned long long sum = 0;
	char id[MG_REPORT_IDENTITY_MAX];

	check_str(r->org_name);
	check_str(r->email);
	check_str(r->report_id);
	check_str(r->policy.domain);
	check_str(r->policy.fo);
	if (r->report_id[0] == '\0' || r->policy.domain[0] == '\0' || r->n_records > 64 ||
	    r->policy.pct < -1 || r->policy.pct > 100)
		abort();
	for (size_t i = 0; i < r->n_records; i++) {
		const struct mg_report_record *x = &r->records[i];

		if (x->n_dkim > MG_REPORT_DKIM_MAX || x->n_spf > MG_REPORT_SPF_MAX ||
		    x->disposition > MG_RD_OTHER || x->pol_dkim > MG_RR_OTHER ||
		    x->pol_spf > MG_RR_OTHER || x->source_ip[0] == '\0')
			abort();
		check_str(x->header_from);
		check_str(x->envelope_from);
		check_str(x->reason);
		for (size_t j = 0; j < x->n_dkim; j++) {
			check_str(x->dkim[j].domain);
			check_str(x->dkim[j].selector);
		}
		for (size_t j = 0; j < x->n_spf; j++)
			check_str(x->spf[j].domain);
		sum += x->count;
	}
	if (sum != r->total || mg_report_identity(r, id, sizeof(id)) < 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_report_limits l;
	struct mg_report_err e;
	struct mg_report *r;

	mg_report_limits_default(&l);
	l.records = 64;
	r = mg_report_parse_xml((const char *)data, size, &l, &e);
	if (r != NULL)
		check_report(r);
	else if (e.reason == MG_REPORT_OK || e.text[0] == '\0')
		abort();
	mg_report_free(&r);
	return 0;
}
