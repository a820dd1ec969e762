/* fuzz_dmarc_record.c: libFuzzer target for the DMARC policy record parser (dmarc/record.c) and
 * everything a hostile record reaches after it: the input is the TXT record at
 * _dmarc.example.com (and, after a NUL-free split at the first '\n', a second record at the
 * same name). Invariants: mg_dmarc_is_record false -> the parse fails; an accepted record has a
 * policy, pct 0..100, adkim/aspf 'r'|'s', at most MG_DMARC_URIS_MAX URIs each a NUL-terminated
 * "mailto:" of at most MG_DMARC_URI_LEN octets; mg_dmarc_evaluate gives a consistent result
 * (disposition only on fail, temperror never, the A-R fragment fits 512 octets) and its stored
 * row parses back to an identical line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/dns.h"
#include "dmarc/dmarc.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_dns {
	const char *rec[2];
	size_t len[2];
	int n;
};

static struct mg_dns_result *
fz_lookup(void *ctx, const char *name, uint16_t type)
{
	struct fz_dns *z = ctx;
	struct mg_dns_result *r;

	if (strcmp(name, "_dmarc.example.com") != 0 || type != 16)
		return mg_dns_result_new(name, type, MG_DNS_NXDOMAIN, NULL);
	r = mg_dns_result_new(name, type, MG_DNS_OK, NULL);
	r->rr = xcalloc((size_t)z->n, sizeof(*r->rr));
	for (int i = 0; i < z->n; i++) {
		r->rr[i].type = 16;
		r->rr[i].u.txt.data = xmalloc(z->len[i] + 1);
		memcpy(r->rr[i].u.txt.data, z->rec[i], z->len[i]);
		r->rr[i].u.txt.data[z->len[i]] = '\0';
		r->rr[i].u.txt.len = z->len[i];
	}
	r->n = (size_t)z->n;
	return r;
}

static void
check_record(const struct mg_dmarc_record *r)
{
	if (r->p == MG_DMARC_POLICY_UNSET || r->pct < 0 || r->pct > 100 ||
	    (r->adkim != 'r' && r->adkim != 's') || (r->aspf != 'r' && r->aspf != 's') ||
	    r->n_rua < 0 || r->n_rua > MG_DMARC_URIS_MAX || r->n_ruf < 0 ||
	    r->n_ruf > MG_DMARC_URIS_MAX)
		abort();
	for (int i = 0; i < r->n_rua + r->n_ruf; i++) {
		const char *u = i < r->n_rua ? r->rua[i].uri : r->ruf[i - r->n_rua].uri;
		size_t len = strnlen(u, MG_DMARC_URI_LEN + 1);

		if (len > MG_DMARC_URI_LEN || strncasecmp(u, "mailto:", 7) != 0)
			abort();
	}
	if (strnlen(r->fo, sizeof(r->fo)) >= sizeof(r->fo) ||
	    strnlen(r->rf, sizeof(r->rf)) >= sizeof(r->rf))
		abort();
}

static struct mg_psl *
psl(void)
{
	static struct mg_psl *p;
	const char *error;

	if (p == NULL && (p = mg_psl_new(NULL, &error)) == NULL)
		abort();
	return p;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *txt = (const char *)data, *error = NULL;
	struct mg_dmarc_record rec;
	int is = mg_dmarc_is_record(txt, size);
	int rc = mg_dmarc_policy_parse(txt, size, &rec, &error);

	if (rc == 0 && !is)
		abort();
	if (rc < 0 && error == NULL)
		abort();
	if (rc == 0)
		check_record(&rec);

	/* Through evaluation and storage. */
	struct fz_dns z = { { txt, NULL }, { size, 0 }, 1 };
	const char *nl = memchr(txt, '\n', size);
	if (nl != NULL) {
		z.len[0] = (size_t)(nl - txt);
		z.rec[1] = nl + 1;
		z.len[1] = size - z.len[0] - 1;
		z.n = 2;
	}
	struct mg_dmarc_ctx ctx = { psl() };
	struct mg_dns_lookup dns = { fz_lookup, &z };
	struct mg_dmarc_dkim_sig sig = { "mail.example.com", "s", MG_DMARC_DKIM_PASS };
	struct mg_dmarc_input in = { .header_from = "a.example.com", .spf_result = MG_DMARC_SPF_FAIL,
	    .spf_domain = "example.com", .envelope_from = "example.com", .dkim = &sig,
	    .n_dkim = size % 2, .pct_random = (unsigned)(size % 100) };
	struct mg_dmarc_result res;
	char ar[512];

	if (mg_dmarc_evaluate(&ctx, &dns, &in, &res) != 0 || res.reason == NULL ||
	    res.status == MG_DMARC_TEMPERROR || res.dns_queries < 1 || res.dns_queries > 2)
		abort();
	if (res.status != MG_DMARC_FAIL && res.disposition != MG_DMARC_DIS_NONE)
		abort();
	if ((res.status == MG_DMARC_PASS || res.status == MG_DMARC_FAIL) != res.has_record)
		abort();
	if (res.has_record)
		check_record(&res.record);
	if (mg_dmarc_authres(&res, ar, sizeof(ar)) < 0)
		abort();

	struct buf line, again;
	struct mg_dmarc_row row;

	buf_init(&line, MG_DMARC_ROW_MAX + 1);
	buf_init(&again, MG_DMARC_ROW_MAX + 1);
	if (mg_dmarc_record_format(&res, &in, "192.0.2.1", 1, &line) < 0 ||
	    mg_dmarc_row_parse(line.data, line.len, &row, &error) < 0 ||
	    mg_dmarc_row_format(&row, &again) < 0 || again.len != line.len ||
	    memcmp(again.data, line.data, line.len) != 0)
		abort();
	buf_free(&line);
	buf_free(&again);
	return 0;
}
