/* Unit tests for dmarc/domain.c: canonical domains (case, final dot, label and length limits,
 * characters) and U-label to A-label conversion (RFC 3492 punycode, checked against the
 * punycoded vectors of the PSL test file and RFC 3492 §7.1 samples), invalid UTF-8. */
#include "unit.h"

#include "dmarc/dmarc.h"

static void
test_canon_table(void)
{
	static const struct {
		const char *in;
		int rc;
		const char *out;
	} cases[] = {
		{ "example.com", 0, "example.com" },
		{ "EXAMPLE.Com.", 0, "example.com" },
		{ "_dmarc.example.com", 0, "_dmarc.example.com" },
		{ "a-b.c0.example", 0, "a-b.c0.example" },
		{ "xn--85x722f.com.cn", 0, "xn--85x722f.com.cn" },
		{ "XN--85X722F.COM.CN", 0, "xn--85x722f.com.cn" },
		{ "食狮.com.cn", 0, "xn--85x722f.com.cn" },
		{ "食狮.公司.cn", 0, "xn--85x722f.xn--55qx5d.cn" },
		{ "www.食狮.中国", 0, "www.xn--85x722f.xn--fiqs8s" },
		{ "bücher.example", 0, "xn--bcher-kva.example" },
		{ "Bücher.example", 0, "xn--bcher-kva.example" },	/* ASCII case folds */
		{ "münchen.de", 0, "xn--mnchen-3ya.de" },
		/* RFC 3492 §7.1 (A) Arabic (Egyptian), (L) 3<nen>B<gumi><kinpachi><sensei> */
		{ "\xd9\x84\xd9\x8a\xd9\x87\xd9\x85\xd8\xa7\xd8\xa8\xd8\xaa\xd9\x83\xd9\x84\xd9\x85"
		  "\xd9\x88\xd8\xb4\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a\xd8\x9f.example", 0,
		  "xn--egbpdaj6bu4bxfgehfvwxn.example" },
		{ "3\xe5\xb9\xb4" "b\xe7\xb5\x84\xe9\x87\x91\xe5\x85\xab\xe5\x85\x88\xe7\x94\x9f.example", 0,
		  "xn--3b-ww4c5e180e575a65lsy2b.example" },
		{ "", -1, "" },
		{ ".", -1, "" },
		{ "..", -1, "" },
		{ ".example.com", -1, "" },
		{ "a..b", -1, "" },
		{ "exa mple.com", -1, "" },
		{ "exa!mple.com", -1, "" },
		{ "a@b.com", -1, "" },
		{ "\xff.com", -1, "" },			/* invalid UTF-8 */
		{ "\xc0\xae.com", -1, "" },		/* overlong */
		{ "\xed\xa0\x80.com", -1, "" },		/* surrogate */
		{ "\xe4\xb8.com", -1, "" },		/* truncated sequence */
	};
	char out[256];
	const char *error;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		error = NULL;
		int rc = mg_dmarc_domain_canon(cases[i].in, strlen(cases[i].in), out, sizeof(out),
		    &error);

		CHECK(rc == cases[i].rc && strcmp(out, cases[i].out) == 0,
		    "case %zu \"%s\": got %d \"%s\" (%s), want %d \"%s\"", i, cases[i].in, rc, out,
		    error ? error : "-", cases[i].rc, cases[i].out);
		CHECK(rc == 0 || error != NULL, "case %zu: no error text", i);
	}
}

static void
test_limits(void)
{
	char in[600], out[300];
	const char *error;

	/* 63-octet label ok, 64 not. */
	memset(in, 'a', 63);
	memcpy(in + 63, ".com", 5);
	CHECK_INT(mg_dmarc_domain_canon(in, strlen(in), out, sizeof(out), &error), 0);
	memset(in, 'a', 64);
	memcpy(in + 64, ".com", 5);
	CHECK_INT(mg_dmarc_domain_canon(in, strlen(in), out, sizeof(out), &error), -1);
	/* 253 octets ok, 255 not. */
	size_t o = 0;
	while (o + 50 < 253) {
		memset(in + o, 'b', 49);
		in[o + 49] = '.';
		o += 50;
	}
	memset(in + o, 'c', 253 - o);
	in[253] = '\0';
	CHECK_INT(mg_dmarc_domain_canon(in, 253, out, sizeof(out), &error), 0);
	CHECK_INT(strlen(out), 253);
	in[253] = 'c';
	in[254] = 'c';
	CHECK_INT(mg_dmarc_domain_canon(in, 255, out, sizeof(out), &error), -1);
	/* Output buffer too small. */
	CHECK_INT(mg_dmarc_domain_canon("example.com", 11, out, 11, &error), -1);
	CHECK_INT(mg_dmarc_domain_canon("example.com", 11, out, 12, &error), 0);
	/* Not NUL-terminated input: only len octets are read. */
	CHECK_INT(mg_dmarc_domain_canon("example.comXYZ", 11, out, sizeof(out), &error), 0);
	CHECK_STR(out, "example.com");
	/* U+4E00 + 37*i: 22 code points give a 49-octet A-label (Python's punycode codec
	 * agrees), 30 give 72 octets: too long for a label. */
	{
		char big[200];
		size_t n = 0;

		for (int i = 0; i < 30; i++) {
			unsigned cp = 0x4e00 + 37 * (unsigned)i;

			if (i == 22) {
				memcpy(big + n, ".cn", 4);
				CHECK_INT(mg_dmarc_domain_canon(big, strlen(big), out, sizeof(out),
				    &error), 0);
				CHECK_STR(out, "xn--4gq6c1e7f9goiqjqkolwmrnyoqpwq2r8svt0u5vexjyoz.cn");
			}
			big[n++] = (char)(0xe0 | (cp >> 12));
			big[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			big[n++] = (char)(0x80 | (cp & 0x3f));
		}
		memcpy(big + n, ".cn", 4);
		CHECK_INT(mg_dmarc_domain_canon(big, strlen(big), out, sizeof(out), &error), -1);
		CHECK_STR(out, "");
	}
}

static const struct unit_case cases[] = {
	{ "canon_table", test_canon_table },
	{ "limits", test_limits },
};

UNIT_MAIN(cases)
