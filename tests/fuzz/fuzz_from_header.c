/* fuzz_from_header.c: libFuzzer target for RFC5322.From extraction (dmarc/from.c) and domain
 * canonicalisation (dmarc/domain.c). The input is used three ways: as a whole header section
 * (mg_dmarc_from_domain), as one From field value (mg_dmarc_from_value) and as a raw domain
 * (mg_dmarc_domain_canon). Invariants: OK gives a non-empty canonical domain of at most
 * MG_DMARC_DOMAIN_MAX octets that canonicalises to itself; every other status comes with an
 * error text and an empty output; canonicalisation is idempotent; a header section made of
 * "From: " + input + CRLFCRLF agrees with mg_dmarc_from_value on the input when the input holds
 * no line break. libFuzzer's exact-size buffers let ASan catch any read past the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc/dmarc.h"
#include "lib/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_out(enum mg_dmarc_from_status st, const char *out, const char *error)
{
	char again[MG_DMARC_DOMAIN_MAX + 1];
	const char *e2;

	if (st == MG_DMARC_FROM_OK) {
		size_t len = strlen(out);

		if (len == 0 || len > MG_DMARC_DOMAIN_MAX ||
		    mg_dmarc_domain_canon(out, len, again, sizeof(again), &e2) < 0 ||
		    strcmp(again, out) != 0)
			abort();
	} else if (error == NULL || out[0] != '\0') {
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice in = { (const char *)data, size };
	char out[MG_DMARC_DOMAIN_MAX + 1], out2[MG_DMARC_DOMAIN_MAX + 1];
	const char *error = NULL, *error2 = NULL;
	enum mg_dmarc_from_status st, st2;

	st = mg_dmarc_from_domain(in, out, sizeof(out), &error);
	check_out(st, out, error);

	error = NULL;
	st = mg_dmarc_from_value(in, out, sizeof(out), &error);
	check_out(st, out, error);

	if (size < 4096 && memchr(data, '\n', size) == NULL && memchr(data, '\r', size) == NULL) {
		struct buf h;

		buf_init(&h, 8192);
		buf_append_str(&h, "From: ");
		buf_append(&h, data, size);
		buf_append_str(&h, "\r\n\r\n");
		st2 = mg_dmarc_from_domain(buf_slice(&h), out2, sizeof(out2), &error2);
		/* The header iterator may refuse bytes the value parser never sees (NUL). */
		if (st2 != MG_DMARC_FROM_HEADER && (st2 != st || strcmp(out, out2) != 0))
			abort();
		buf_free(&h);
	}

	error = NULL;
	if (mg_dmarc_domain_canon(in.p, in.len, out, sizeof(out), &error) == 0) {
		if (mg_dmarc_domain_canon(out, strlen(out), out2, sizeof(out2), &error2) < 0 ||
		    strcmp(out, out2) != 0 || strlen(out) > MG_DMARC_DOMAIN_MAX)
			abort();
	} else if (error == NULL || out[0] != '\0') {
		abort();
	}
	return 0;
}
