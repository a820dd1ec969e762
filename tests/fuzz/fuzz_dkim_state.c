/* fuzz_dkim_state.c: libFuzzer target for the signer's key state file parser (dkim/keystore.c,
 * mg_dkim_state_parse: a file in state_dir/dkim/<domain>/state, untrusted bytes). Invariants
 * checked: no crash or leak; an accepted state has at most MG_DKIM_KEYS_MAX keys with valid
 * selectors, algorithms, states and times; it writes back to text that parses to the same state
 * and is byte-identical to the input (the format has one spelling); the rotation planner and
 * the DNS advice run on it without breaking the table's rules. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim/keystore.h"
#include "dkim/rotation.h"
#include "lib/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_plan(struct mg_dkim_state *st)
{
	static const struct mg_dkim_rotation_cfg rc = { 365 * 86400LL, 30 * 86400LL, 7 * 86400LL };
	long long nows[] = { 0, 1798761600LL, MG_DKIM_TIME_MAX };

	for (int a = 0; a < MG_DKIM_ALG_COUNT; a++)
		for (size_t t = 0; t < sizeof(nows) / sizeof(nows[0]); t++) {
			struct mg_dkim_rotation_plan p;
			char adv[96];

			mg_dkim_rotation_plan(st, (enum mg_dkim_keyalg)a, nows[t], &rc, &p);
			if (p.n_retire > st->n || p.check_dns >= (int)st->n)
				abort();
			if (p.generate && !mg_dkim_selector_is_valid(p.selector))
				abort();
			for (size_t i = 0; i < st->n; i++)
				mg_dkim_rotation_dns_advice(st, i, &rc, adv, sizeof(adv));
		}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_dkim_state st, st2;
	struct buf out;
	const char *err;

	if (mg_dkim_state_parse((struct slice){ (const char *)data, size }, &st, &err) < 0)
		return 0;
	if (st.n > MG_DKIM_KEYS_MAX || !mg_dkim_domain_is_valid(st.domain))
		abort();
	for (size_t i = 0; i < st.n; i++)
		if (!mg_dkim_selector_is_valid(st.k[i].selector) || st.k[i].alg >= MG_DKIM_ALG_COUNT ||
		    st.k[i].state > MG_DKIM_KS_RETIRED || st.k[i].retires > MG_DKIM_TIME_MAX)
			abort();
	buf_init(&out, MG_DKIM_STATE_MAX);
	if (mg_dkim_state_write(&st, &out) < 0)
		abort();
	if (out.len != size || memcmp(out.data, data, size) != 0)
		abort();
	if (mg_dkim_state_parse(buf_slice(&out), &st2, &err) < 0 || memcmp(&st, &st2, sizeof(st)) != 0)
		abort();
	buf_free(&out);
	check_plan(&st);
	return 0;
}
