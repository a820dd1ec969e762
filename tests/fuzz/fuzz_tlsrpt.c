/* fuzz_tlsrpt.c: libFuzzer target for incoming SMTP TLS reports (RFC 8460, issue I item 5):
 * the input is a whole message or a bare .json/.json.gz file, hostile either way; it goes
 * through mg_tlsrpt_extract (MIME, gzip) and every document through mg_tlsrpt_parse_json
 * (dmarc/tlsrpt_extract.c, tlsrpt_parse.c). Limits are lowered (1 MiB of JSON, ratio 50:1
 * past 64 KiB, 50 policies, 200 failure details) so caps are reached quickly. Invariants:
 * success gives 1..payloads NUL-terminated documents within json_max; a refusal has a reason
 * and printable text; a parsed report respects every cap, has a non-empty report-id, at least
 * one policy with a known type, sums that match its policies, strings without control
 * characters and at most MG_TLSRPT_STRING_MAX octets; its identity fits; nothing leaks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc/tlsrpt_in.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_str(const char *s)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) > MG_TLSRPT_STRING_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			abort();
}

static void
check_report(const struct mg_tlsrpt *r, const struct mg_tlsrpt_limits *l)
{
	char id[MG_TLSRPT_IDENTITY_MAX];
	unsigned long long ok = 0, fail = 0;
	size_t nf = 0;

	check_str(r->org);
	check_str(r->contact);
	check_str(r->report_id);
	if (r->report_id[0] == '\0' || r->n_policies == 0 || r->n_policies > l->policies ||
	    r->n_failures > l->failures || r->end < r->begin || r->begin < 0 ||
	    mg_tlsrpt_identity(r, id, sizeof(id)) < 0)
		abort();
	for (size_t i = 0; i < r->n_policies; i++) {
		const struct mg_tlsrpt_policy *p = &r->policies[i];

		if (mg_tlsrpt_ptype_name(p->type)[0] == '\0' || p->domain[0] == '\0' ||
		    p->successful > MG_TLSRPT_COUNT_MAX || p->failed > MG_TLSRPT_COUNT_MAX ||
		    p->n_strings > MG_TLSRPT_STRINGS_MAX || p->n_mx_hosts > MG_TLSRPT_STRINGS_MAX)
			abort();
		check_str(p->domain);
		for (size_t j = 0; j < p->n_strings; j++)
			check_str(p->strings[j]);
		for (size_t j = 0; j < p->n_mx_hosts; j++)
			check_str(p->mx_hosts[j]);
		for (size_t j = 0; j < p->n_failures; j++) {
			const struct mg_tlsrpt_failure *f = &p->failures[j];

			check_str(f->result_type);
			check_str(f->sending_mta_ip);
			check_str(f->receiving_ip);
			check_str(f->receiving_mx_hostname);
			check_str(f->receiving_mx_helo);
			check_str(f->additional_information);
			check_str(f->failure_reason_code);
			if (f->result_type[0] == '\0' || f->failed > MG_TLSRPT_COUNT_MAX)
				abort();
		}
		ok += p->successful;
		fail += p->failed;
		nf += p->n_failures;
	}
	if (ok != r->successful || fail != r->failed || nf != r->n_failures)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_tlsrpt_limits l;
	struct mg_tlsrpt_blobs b = { NULL, 0 };
	struct mg_tlsrpt_err e = { MG_TLSRPT_OK, "" };
	int rc;

	mg_tlsrpt_limits_default(&l);
	l.json_max = 1024 * 1024;
	l.ratio_free = 64 * 1024;
	l.ratio_max = 50;
	l.policies = 50;
	l.failures = 200;
	rc = mg_tlsrpt_extract((const char *)data, size, &l, &b, &e);
	if (rc != 0 && rc != -1)
		abort();
	if (rc == 0 && (b.n == 0 || b.n > (size_t)l.payloads))
		abort();
	if (rc < 0 && (e.reason == MG_TLSRPT_OK || e.text[0] == '\0'))
		abort();
	for (const char *p = e.text; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			abort();
	for (size_t i = 0; i < b.n; i++) {
		struct mg_tlsrpt_err pe = { MG_TLSRPT_OK, "" };
		struct mg_tlsrpt *r;

		if (b.v[i].data == NULL || b.v[i].len > l.json_max ||
		    b.v[i].data[b.v[i].len] != '\0')
			abort();
		r = mg_tlsrpt_parse_json(b.v[i].data, b.v[i].len, &l, &pe);
		if (r == NULL && (pe.reason == MG_TLSRPT_OK || pe.text[0] == '\0'))
			abort();
		if (r != NULL)
			check_report(r, &l);
		mg_tlsrpt_free(&r);
	}
	mg_tlsrpt_blobs_free(&b);
	return 0;
}
