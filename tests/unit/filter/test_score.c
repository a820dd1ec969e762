/* test_score.c: unit tests for filter/score.c: built-in scores, `score` overrides (case-
 * insensitive), the verdict against thresholds at and around each boundary, allow and block
 * short-circuits, greylisting only when enabled, symbol formatting, and the symbol cap (later
 * symbols still count), plus rbl_code_matches from filter/rbl.c. */
#include "unit.h"

#include "filter/filter_int.h"

static void
test_defaults(void)
{
	CHECK(filter_score_default("SPF_FAIL") == 3.0, "SPF_FAIL got %g", filter_score_default("SPF_FAIL"));
	CHECK(filter_score_default("DKIM_VALID") == -0.5, "DKIM_VALID");
	CHECK(filter_score_default("DMARC_POLICY_REJECT") == 8.0, "DMARC_POLICY_REJECT");
	CHECK(filter_score_default("NO_SUCH_SYMBOL") == 0.0, "unknown");
	CHECK(filter_score_value(NULL, "SPF_SOFTFAIL") == 1.5, "NULL cfg");
}

static void
test_overrides(void)
{
	struct mg_score sc[2] = { { "spf_fail", 7.25 }, { "RBL_X", 2 } };
	struct mg_config cfg;
	struct filter_score s;

	memset(&cfg, 0, sizeof(cfg));
	cfg.scores = sc;
	cfg.n_scores = 2;
	CHECK(filter_score_value(&cfg, "SPF_FAIL") == 7.25, "override got %g",
	    filter_score_value(&cfg, "SPF_FAIL"));
	CHECK(filter_score_value(&cfg, "SPF_PASS") == -0.5, "non-overridden");
	memset(&s, 0, sizeof(s));
	filter_score_add(&s, &cfg, "SPF_FAIL");
	filter_score_add(&s, &cfg, "DKIM_NONE");
	CHECK(s.total == 7.75, "total got %g", s.total);
	CHECK_INT(s.n, 2);
}

static const struct {
	const char *name;
	double total;
	int allow, block, grey;
	enum filter_action want;
} decide_cases[] = {
	{ "below_all", 1.0, 0, 0, 1, FILTER_DELIVER },
	{ "at_greylist", 4.0, 0, 0, 1, FILTER_GREYLIST },
	{ "greylist_disabled", 4.0, 0, 0, 0, FILTER_DELIVER },
	{ "just_below_quarantine", 5.99, 0, 0, 1, FILTER_GREYLIST },
	{ "at_quarantine", 6.0, 0, 0, 1, FILTER_QUARANTINE },
	{ "at_reject", 15.0, 0, 0, 1, FILTER_REJECT },
	{ "above_reject", 17.2, 0, 0, 0, FILTER_REJECT },
	{ "allow_beats_score", 50.0, 1, 0, 1, FILTER_DELIVER },
	{ "block_beats_low", -10.0, 0, 1, 1, FILTER_REJECT },
	{ "block_beats_allow", 0.0, 1, 1, 1, FILTER_REJECT },
	{ "negative", -3.0, 0, 0, 1, FILTER_DELIVER },
};

static void
test_decide(void)
{
	struct filter_thresholds t = { .reject = 15, .quarantine = 6, .greylist = 4 };

	for (size_t i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++) {
		struct filter_score s;
		enum filter_action got;

		memset(&s, 0, sizeof(s));
		s.total = decide_cases[i].total;
		s.allow = decide_cases[i].allow;
		s.block = decide_cases[i].block;
		t.greylist_enabled = decide_cases[i].grey;
		got = filter_score_decide(&s, &t);
		CHECK(got == decide_cases[i].want, "%s: got %s, want %s", decide_cases[i].name,
		    filter_action_name(got), filter_action_name(decide_cases[i].want));
	}
}

static void
test_symbols(void)
{
	struct filter_score s;
	struct buf b;

	memset(&s, 0, sizeof(s));
	buf_init(&b, 4096);
	filter_score_add(&s, NULL, "SPF_FAIL");
	filter_score_add(&s, NULL, "DKIM_NONE");
	filter_score_add_value(&s, "RBL_ZEN", -2);
	CHECK_INT(filter_score_symbols(&s, &b), 0);
	CHECK_STR(b.data, "SPF_FAIL(3.00), DKIM_NONE(0.50), RBL_ZEN(-2.00)");
	buf_free(&b);
}

static void
test_cap_and_merge(void)
{
	struct filter_score a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	for (int i = 0; i < FILTER_SYM_MAX + 5; i++)
		filter_score_add_value(&a, "X", 1.0);
	CHECK_INT(a.n, FILTER_SYM_MAX);
	CHECK(a.total == FILTER_SYM_MAX + 5, "total got %g", a.total);
	a.allow = 1;
	filter_score_merge(&b, &a);
	CHECK(b.total == FILTER_SYM_MAX + 5, "merged total got %g", b.total);
	CHECK_INT(b.allow, 1);
}

static void
test_rbl_codes(void)
{
	uint32_t codes[2] = { 0x7f000002, 0x7f00000a };

	CHECK_INT(rbl_code_matches(0x7f000002, NULL, 0), 1);
	CHECK_INT(rbl_code_matches(0x0a000002, NULL, 0), 0);	/* outside 127/8 */
	CHECK_INT(rbl_code_matches(0x7f000002, codes, 2), 1);
	CHECK_INT(rbl_code_matches(0x7f000003, codes, 2), 0);
	CHECK_INT(rbl_code_matches(0x7f00000a, codes, 2), 1);
}

static const struct unit_case cases[] = {
	{ "builtin_defaults", test_defaults },
	{ "score_overrides", test_overrides },
	{ "decide_thresholds", test_decide },
	{ "symbols_format", test_symbols },
	{ "cap_and_merge", test_cap_and_merge },
	{ "rbl_codes", test_rbl_codes },
};

UNIT_MAIN(cases)
