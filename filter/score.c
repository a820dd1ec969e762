/* score.c: the filter's symbol table with built-in scores, `score` overrides from the config,
 * and the verdict as a pure function of the summed score and the domain's thresholds
 * (shared/DESIGN.md §5). Runs on filter pool threads and in unit tests; no I/O, no globals
 * written. Limits: FILTER_SYM_MAX symbols kept per message (all of them still count). */
#include <string.h>
#include <strings.h>

#include "filter/filter_int.h"
#include "lib/str.h"

static const struct {
	const char *name;
	double score;
} builtin[] = {
	{ "SPF_PASS", -0.5 },
	{ "SPF_FAIL", 3.0 },
	{ "SPF_SOFTFAIL", 1.5 },
	{ "SPF_NEUTRAL", 0.0 },
	{ "SPF_NONE", 0.5 },
	{ "SPF_TEMPERROR", 0.0 },
	{ "SPF_PERMERROR", 1.0 },
	{ "DKIM_VALID", -0.5 },
	{ "DKIM_INVALID", 2.0 },
	{ "DKIM_NONE", 0.5 },
	{ "DKIM_TEMPERROR", 0.0 },
	{ "ARC_PASS", -0.2 },
	{ "ARC_FAIL", 1.0 },
	{ "ARC_NONE", 0.0 },
	{ "ARC_TEMPERROR", 0.0 },
	{ "DMARC_PASS", -1.0 },
	{ "DMARC_POLICY_REJECT", 8.0 },
	{ "DMARC_POLICY_QUARANTINE", 4.0 },
	{ "DMARC_POLICY_NONE", 1.0 },
	{ "DMARC_NONE", 0.0 },
	{ "DMARC_TEMPERROR", 0.0 },
	{ "DMARC_PERMERROR", 0.0 },
	{ "FROM_INVALID", 3.0 },
	{ "ALLOWLIST", -100.0 },
	{ "BLOCKLIST", 100.0 },
	{ "GREYLIST_ERROR", 0.0 },
};

double
filter_score_default(const char *name)
{
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (strcmp(builtin[i].name, name) == 0)
			return builtin[i].score;
	return 0.0;
}

double
filter_score_value(const struct mg_config *cfg, const char *name)
{
	if (cfg != NULL)
		for (size_t i = 0; i < cfg->n_scores; i++)
			if (strcasecmp(cfg->scores[i].name, name) == 0)
				return cfg->scores[i].value;
	return filter_score_default(name);
}

void
filter_score_add_value(struct filter_score *s, const char *name, double value)
{
	s->total += value;
	if (s->n >= FILTER_SYM_MAX)
		return;
	str_lcpy(s->sym[s->n].name, name, sizeof(s->sym[s->n].name));
	s->sym[s->n].score = value;
	s->n++;
}

void
filter_score_add(struct filter_score *s, const struct mg_config *cfg, const char *name)
{
	filter_score_add_value(s, name, filter_score_value(cfg, name));
}

void
filter_score_merge(struct filter_score *dst, const struct filter_score *src)
{
	for (size_t i = 0; i < src->n; i++)
		filter_score_add_value(dst, src->sym[i].name, src->sym[i].score);
	/* symbols past the cap were counted in src->total only */
	if (src->n == FILTER_SYM_MAX) {
		double kept = 0;
		for (size_t i = 0; i < src->n; i++)
			kept += src->sym[i].score;
		dst->total += src->total - kept;
	}
	dst->allow |= src->allow;
	dst->block |= src->block;
}

enum filter_action
filter_score_decide(const struct filter_score *s, const struct filter_thresholds *t)
{
	if (s->block)
		return FILTER_REJECT;
	if (s->allow)
		return FILTER_DELIVER;
	if (s->total >= t->reject)
		return FILTER_REJECT;
	if (s->total >= t->quarantine)
		return FILTER_QUARANTINE;
	if (t->greylist_enabled && s->total >= t->greylist)
		return FILTER_GREYLIST;
	return FILTER_DELIVER;
}

int
filter_score_symbols(const struct filter_score *s, struct buf *out)
{
	for (size_t i = 0; i < s->n; i++)
		if (buf_printf(out, "%s%s(%.2f)", i ? ", " : "", s->sym[i].name,
		    s->sym[i].score + 0.0) < 0)
			return -1;
	return 0;
}

const char *
filter_action_name(enum filter_action a)
{
	switch (a) {
	case FILTER_DELIVER: return "deliver";
	case FILTER_QUARANTINE: return "quarantine";
	case FILTER_GREYLIST: return "greylist";
	case FILTER_TEMPFAIL: return "tempfail";
	case FILTER_REJECT: return "reject";
	}
	return "?";
}
