/* rotation.c: the DKIM key rotation state machine (see rotation.h): which key to generate,
 * when to look the next key up in DNS, when a replaced key's grace period ends. Pure functions
 * over struct mg_dkim_state; the signer role (dkim/signer.c) performs the I/O they ask for, so
 * the timeline is unit-tested without clocks or files (tests/unit/dkim/test_dkim_state.c).
 * Trusts its input (already validated by the state parser). */
#include "dkim/rotation.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/str.h"

void
mg_dkim_time_str(long long t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		str_lcpy(out, "?", size);
}

void
mg_dkim_selector_pick(const struct mg_dkim_state *st, long long activates, char *out, size_t size)
{
	time_t tt = (time_t)activates;
	struct tm tm;
	int year = 1970;

	if (gmtime_r(&tt, &tm) != NULL)
		year = tm.tm_year + 1900;
	for (char c = 'a'; c <= 'z'; c++) {
		char sel[MG_DKIM_SELECTOR_MAX + 1];
		int used = 0;

		snprintf(sel, sizeof(sel), "mg%04d%c", year, c);
		for (size_t i = 0; i < st->n && !used; i++)
			used = strcmp(st->k[i].selector, sel) == 0;
		if (!used) {
			str_lcpy(out, sel, size);
			return;
		}
	}
	str_lcpy(out, "", size);
}

void
mg_dkim_rotation_plan(const struct mg_dkim_state *st, enum mg_dkim_keyalg alg, long long now,
    const struct mg_dkim_rotation_cfg *cfg, struct mg_dkim_rotation_plan *out)
{
	int cur = mg_dkim_state_find(st, alg, MG_DKIM_KS_CURRENT);
	int next = mg_dkim_state_find(st, alg, MG_DKIM_KS_NEXT);

	memset(out, 0, sizeof(*out));
	out->check_dns = -1;
	for (size_t i = 0; i < st->n; i++)
		if (st->k[i].alg == alg && st->k[i].state == MG_DKIM_KS_RETIRING &&
		    now >= st->k[i].retires + cfg->grace)
			out->retire[out->n_retire++] = (int)i;
	if (cur < 0)
		return;
	if (next < 0 && now >= st->k[cur].retires - cfg->lead) {
		/* T-lead: the next key, due at the current key's planned end (or now if overdue) */
		out->generate = 1;
		out->activates = st->k[cur].retires > now ? st->k[cur].retires : now;
		out->retires = out->activates + cfg->interval;
		mg_dkim_selector_pick(st, out->activates, out->selector, sizeof(out->selector));
		if (out->selector[0] == '\0')
			out->generate = 0;
	}
	if (next >= 0 && now >= st->k[next].activates)
		out->check_dns = next;
}

int
mg_dkim_rotation_add(struct mg_dkim_state *st, const char *selector, enum mg_dkim_keyalg alg,
    enum mg_dkim_keystate ks, long long created, long long activates, long long retires)
{
	struct mg_dkim_keyent *k;

	if (!mg_dkim_selector_is_valid(selector))
		return -1;
	for (size_t i = 0; i < st->n; i++)
		if (strcmp(st->k[i].selector, selector) == 0)
			return -1;
	if ((ks == MG_DKIM_KS_NEXT || ks == MG_DKIM_KS_CURRENT) && mg_dkim_state_find(st, alg, ks) >= 0)
		return -1;
	if (st->n == MG_DKIM_KEYS_MAX) {
		/* make room: forget the retired entry that stopped signing first */
		int old = -1;

		for (size_t i = 0; i < st->n; i++)
			if (st->k[i].state == MG_DKIM_KS_RETIRED &&
			    (old < 0 || st->k[i].retires < st->k[old].retires))
				old = (int)i;
		if (old < 0)
			return -1;
		memmove(&st->k[old], &st->k[old + 1], (st->n - (size_t)old - 1) * sizeof(st->k[0]));
		st->n--;
	}
	k = &st->k[st->n];
	memset(k, 0, sizeof(*k));
	str_lcpy(k->selector, selector, sizeof(k->selector));
	k->alg = alg;
	k->state = ks;
	k->created = created;
	k->activates = activates;
	k->retires = retires;
	return (int)st->n++;
}

int
mg_dkim_rotation_switch(struct mg_dkim_state *st, enum mg_dkim_keyalg alg, long long now,
    const struct mg_dkim_rotation_cfg *cfg)
{
	int cur = mg_dkim_state_find(st, alg, MG_DKIM_KS_CURRENT);
	int next = mg_dkim_state_find(st, alg, MG_DKIM_KS_NEXT);

	if (next < 0)
		return -1;
	if (cur >= 0) {
		st->k[cur].state = MG_DKIM_KS_RETIRING;
		st->k[cur].retires = now;
	}
	st->k[next].state = MG_DKIM_KS_CURRENT;
	st->k[next].activates = now;
	st->k[next].retires = now + cfg->interval;
	return 0;
}

void
mg_dkim_rotation_retire(struct mg_dkim_state *st, size_t i)
{
	if (i < st->n)
		st->k[i].state = MG_DKIM_KS_RETIRED;
}

void
mg_dkim_rotation_dns_advice(const struct mg_dkim_state *st, size_t i,
    const struct mg_dkim_rotation_cfg *cfg, char *out, size_t size)
{
	char date[32];

	switch (st->k[i].state) {
	case MG_DKIM_KS_NEXT:
	case MG_DKIM_KS_CURRENT:
		str_lcpy(out, "publish", size);
		break;
	case MG_DKIM_KS_RETIRING:
		mg_dkim_time_str(st->k[i].retires + cfg->grace, date, sizeof(date));
		snprintf(out, size, "keep published until %s", date);
		break;
	default:
		str_lcpy(out, "may be removed", size);
		break;
	}
}
