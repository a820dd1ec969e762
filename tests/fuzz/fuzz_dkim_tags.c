/* fuzz_dkim_tags.c: libFuzzer target for the DKIM value parsers in dkim/ (untrusted header values
 * and DNS key records): mg_dkim_tags_parse, mg_dkim_sig_parse (DKIM-Signature and AMS),
 * mg_dkim_key_parse (both modes), base64, h= lists, header and body canonicalisation.
 * Invariants checked: no crash or leak; parsed tags lie inside the input, have valid distinct
 * names and values without ';'; a relaxed header ends in exactly one CRLF and holds no other CR
 * or LF; simple header output is the input; the body digest does not depend on how the input is
 * split into chunks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim/canon.h"
#include "dkim/key.h"
#include "dkim/sig.h"
#include "dkim/tags.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_tags(struct slice in)
{
	struct mg_dkim_tags t;
	const char *err;

	if (mg_dkim_tags_parse(in, &t, &err) < 0)
		return;
	if (t.n == 0 || t.n > MG_DKIM_TAGS_MAX)
		abort();
	for (size_t i = 0; i < t.n; i++) {
		struct mg_dkim_tag *g = &t.tag[i];
		if (g->name.p < in.p || g->name.p + g->name.len > in.p + in.len || g->name.len == 0)
			abort();
		if (g->value.len > 0 && (g->value.p < in.p || g->value.p + g->value.len > in.p + in.len))
			abort();
		if (memchr(g->value.p, ';', g->value.len) != NULL)
			abort();
		for (size_t j = 0; j < i; j++)
			if (t.tag[j].name.len == g->name.len && memcmp(t.tag[j].name.p, g->name.p, g->name.len) == 0)
				abort();
		if (mg_dkim_tags_get(&t, "zz-not-a-name") != NULL)
			abort();
	}
}

static void
check_header_canon(struct slice in)
{
	struct buf raw, out;
	struct slice skip = { NULL, 0 };

	buf_init(&raw, 1 << 20);
	buf_init(&out, 1 << 21);
	buf_append_str(&raw, "DKIM-Signature:");
	buf_append(&raw, in.p, in.len);
	if (in.len > 4) {	/* leave out a range inside the value, as for b= */
		skip.p = raw.data + 15 + in.len / 4;
		skip.len = in.len / 2;
	}
	if (mg_dkim_canon_header(MG_DKIM_CANON_RELAXED, buf_slice(&raw), skip, &out) == 0) {
		if (out.len < 2 || out.data[out.len - 2] != '\r' || out.data[out.len - 1] != '\n')
			abort();
		for (size_t i = 0; i + 2 < out.len; i++)
			if (out.data[i] == '\r' || out.data[i] == '\n')
				abort();
	}
	buf_reset(&out);
	if (mg_dkim_canon_header(MG_DKIM_CANON_SIMPLE, buf_slice(&raw), (struct slice){ NULL, 0 }, &out) == 0 &&
	    (out.len != raw.len || memcmp(out.data, raw.data, raw.len) != 0))
		abort();
	buf_free(&raw);
	buf_free(&out);
}

static void
check_body(struct slice in)
{
	for (int c = 0; c < 2; c++) {
		struct mg_dkim_body a, b;
		unsigned char da[EVP_MAX_MD_SIZE], db[EVP_MAX_MD_SIZE];
		unsigned la, lb;
		long long ta, tb;
		long long limit = in.len > 0 ? (long long)(unsigned char)in.p[0] - 1 : -1;
		size_t step = in.len > 1 ? (size_t)(unsigned char)in.p[1] % 7 + 1 : 1;

		if (mg_dkim_body_init(&a, c, EVP_sha256(), limit) < 0 ||
		    mg_dkim_body_init(&b, c, EVP_sha256(), limit) < 0)
			abort();
		mg_dkim_body_update(&a, in.p, in.len);
		for (size_t off = 0; off < in.len; off += step)
			mg_dkim_body_update(&b, in.p + off, in.len - off < step ? in.len - off : step);
		if (mg_dkim_body_final(&a, da, &la, &ta) < 0 || mg_dkim_body_final(&b, db, &lb, &tb) < 0)
			abort();
		if (la != lb || memcmp(da, db, la) != 0 || ta != tb)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice in = { (const char *)data, size };
	struct mg_dkim_sig *sig = xmalloc(sizeof(*sig));
	struct mg_dkim_key key;
	unsigned char out[MG_DKIM_B64_MAX];
	struct slice names[MG_DKIM_HLIST_MAX];
	size_t len;
	const char *err;

	check_tags(in);
	(void)mg_dkim_sig_parse(in, MG_DKIM_SIG_DKIM, sig, &err);
	if (mg_dkim_sig_parse(in, MG_DKIM_SIG_AMS, sig, &err) == 0 &&
	    (sig->instance < 1 || sig->instance > 50 || sig->blen > sizeof(sig->b)))
		abort();
	if (mg_dkim_key_parse(in, &key, 0, &err) == MG_DKIM_KEY_OK && key.pkey == NULL)
		abort();
	mg_dkim_key_clear(&key);
	(void)mg_dkim_key_parse(in, &key, MG_DKIM_KEY_CHECK_ONLY, &err);
	if (key.pkey != NULL)
		abort();
	if (mg_dkim_b64_decode(in, out, sizeof(out), &len, &err) == 0 && len > sizeof(out))
		abort();
	int n = mg_dkim_hlist_split(in, names, MG_DKIM_HLIST_MAX, &err);
	for (int i = 0; i < n; i++)
		if (names[i].len == 0 || memchr(names[i].p, ':', names[i].len) != NULL)
			abort();
	(void)mg_dkim_is_domain(in);
	(void)mg_dkim_is_selector(in);
	check_header_canon(in);
	check_body(in);
	xfree(sig);
	return 0;
}
