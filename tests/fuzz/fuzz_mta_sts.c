/* fuzz_mta_sts.c: libFuzzer target for the MTA-STS parsers (delivery/mta_sts.c): the input is
 * parsed both as a _mta-sts TXT record and as a policy body; accepted policies must satisfy the
 * parser's invariants (bounded patterns, max_age range, mx present unless mode none) and
 * format and match without overrunning. The input is also parsed as a line of the on-disk policy
 * cache (delivery/sts_cache.c): an accepted line must format back to a line that parses to the
 * same policy. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "delivery/mta_sts.h"
#include "delivery/sts_cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_cache_line(struct slice in)
{
	struct sts_cache_entry e, again;
	const char *err = NULL;
	struct buf out;

	if (sts_cache_parse_line(in, &e, &err) < 0) {
		assert(err != NULL);
		return;
	}
	buf_init(&out, 1 << 20);
	sts_cache_format_line(&out, e.domain, e.id, e.expires, &e.pol);
	assert(out.len > 0 && out.data[out.len - 1] == '\n');
	assert(sts_cache_parse_line((struct slice){ out.data, out.len - 1 }, &again, &err) == 0);
	assert(strcmp(again.domain, e.domain) == 0 && strcmp(again.id, e.id) == 0);
	assert(again.expires == e.expires && again.pol.mode == e.pol.mode);
	assert(again.pol.max_age == e.pol.max_age && again.pol.n_mx == e.pol.n_mx);
	buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice in = { (const char *)data, size };
	struct sts_policy p;
	char id[STS_ID_MAX + 1], text[4096];
	const char *err = NULL;

	if (sts_txt_parse(in, id, &err) == 0)
		assert(strlen(id) >= 1 && strlen(id) <= STS_ID_MAX);
	else
		assert(err != NULL);
	err = NULL;
	if (sts_policy_parse(in, &p, &err) == 0) {
		assert(p.max_age >= 0 && p.max_age <= STS_MAX_AGE_MAX);
		assert(p.n_mx >= 0 && p.n_mx <= STS_MX_MAX);
		assert(p.mode == STS_MODE_NONE || p.n_mx > 0);
		for (int i = 0; i < p.n_mx; i++)
			assert(strlen(p.mx[i]) < sizeof(p.mx[i]));
		sts_policy_format(&p, text, sizeof(text));
		assert(strlen(text) < sizeof(text));
		(void)sts_mx_match(&p, "mail.example.com");
		(void)sts_mx_match(&p, p.n_mx > 0 ? p.mx[0] : "x");
	} else {
		assert(err != NULL);
	}
	check_cache_line(in);
	return 0;
}
