/* fuzz_spf_record: libFuzzer target for filter/spf_guard.c (the SPF record pre-filter) and, through
 * a table DNS fed from the input, mg_spf_check (filter/spf.c, spf_dns.c) with libspf2 behind it.
 * Input: first line = a TXT record (tried as SPF record and as explanation; the first byte's low
 * bit picks the client family), further lines = table DNS lines (test_spf_table.h format).
 * Invariants besides the sanitizers: an accepted record is printable ASCII starting "v=spf1",
 * filtering the canonical form again gives the same text, and libspf2 compiles every canonical
 * record and explanation without dying (its stack smashing shows as an abort). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <spf2/spf.h>

#include "filter/spf.h"
#include "lib/buf.h"
#include "tests/unit/filter/test_spf_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUST(cond) do { if (!(cond)) abort(); } while (0)

static SPF_server_t *server;
static struct mg_spf *spf;

static void
compile_record(const char *canon)
{
	SPF_response_t *resp = SPF_response_new(NULL);
	SPF_record_t *rec = NULL;

	MUST(resp != NULL);
	SPF_record_compile(server, resp, &rec, canon);
	if (rec != NULL)
		SPF_record_free(rec);
	SPF_response_free(resp);
}

static void
compile_explanation(const char *canon)
{
	SPF_response_t *resp = SPF_response_new(NULL);
	SPF_macro_t *mac = NULL;

	MUST(resp != NULL);
	if (SPF_record_compile_macro(server, resp, &mac, canon) == SPF_E_SUCCESS && mac != NULL)
		SPF_macro_free(mac);
	SPF_response_free(resp);
}

static void
fuzz_filters(const char *txt, size_t len, int family)
{
	struct buf out, again;
	const char *error;

	buf_init(&out, 2 * MG_SPF_RECORD_MAX);
	buf_init(&again, 2 * MG_SPF_RECORD_MAX);
	if (mg_spf_record_filter(txt, len, family, &out, &error) == 0) {
		MUST(out.len >= 6 && memcmp(out.data, "v=spf1", 6) == 0);
		for (size_t i = 0; i < out.len; i++)
			MUST(out.data[i] >= 0x20 && out.data[i] <= 0x7e);
		MUST(mg_spf_record_filter(out.data, out.len, family, &again, &error) == 0);
		MUST(again.len == out.len && memcmp(again.data, out.data, out.len) == 0);
		compile_record(out.data);
	} else {
		MUST(error != NULL);
	}
	buf_reset(&out);
	if (mg_spf_explanation_filter(txt, len, &out, &error) == 0) {
		for (size_t i = 0; i < out.len; i++)
			MUST(out.data[i] > 0x20 && out.data[i] <= 0x7e);
		compile_explanation(out.len > 0 ? out.data : "");
	}
	buf_free(&out);
	buf_free(&again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spf_table table = { 0 };
	struct mg_dns_lookup dns = { spf_table_lookup, &table };
	struct mg_spf_result res;
	const char *p = (const char *)data, *end = p + size, *nl, *error;
	int family = size > 0 && (data[0] & 1) ? AF_INET6 : AF_INET;
	char *rec, line[4096];

	if (server == NULL) {
		server = SPF_server_new(SPF_DNS_ZONE, 0);
		spf = mg_spf_new(&error);
		MUST(server != NULL && spf != NULL);
	}
	if (size > 8192)
		return 0;
	nl = memchr(p, '\n', size);
	fuzz_filters(p, nl != NULL ? (size_t)(nl - p) : size, family);

	/* The same first line as fuzz.example's TXT record, the rest as zone lines. */
	rec = xmalloc(4 * size + 32);
	memcpy(rec, "fuzz.example TXT ", 17);
	{
		size_t o = 17;

		for (const char *q = p; q < (nl ? nl : end); q++) {
			unsigned char c = (unsigned char)*q;

			if (c >= 0x20 && c < 0x7f && c != '\\') {
				rec[o++] = (char)c;
			} else {
				snprintf(rec + o, 5, "\\x%02x", c);
				o += 4;
			}
		}
		rec[o] = '\0';
	}
	spf_table_add(&table, rec, &error);
	xfree(rec);
	while (nl != NULL && nl + 1 < end) {
		const char *s = nl + 1;
		size_t n;

		nl = memchr(s, '\n', (size_t)(end - s));
		n = (size_t)((nl ? nl : end) - s);
		if (n < sizeof(line) && memchr(s, '\0', n) == NULL) {
			memcpy(line, s, n);
			line[n] = '\0';
			spf_table_add(&table, line, &error);
		}
	}
	MUST(mg_spf_check(spf, &dns, family == AF_INET6 ? "2001:db8::1" : "192.0.2.1",
	    "helo.example", "user@fuzz.example", &res) == 0);
	MUST(strlen(mg_spf_result_name(res.result)) > 0);
	MUST(res.dns_lookups <= MG_SPF_LOOKUP_LIMIT + 1);
	spf_table_free(&table);
	return 0;
}
