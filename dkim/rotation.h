#ifndef DKIM_ROTATION_H
#define DKIM_ROTATION_H
/* The DKIM key rotation state machine, pure (no I/O, no clock): the signer feeds it the key
 * state, "now" (real or the test clock) and the settings, and carries out what it asks (generate
 * a key, look the next key up in DNS, save the state). Per algorithm the life of a key is
 *   next (generated `lead` before the switch date T) -> current (at or after T, only once DNS
 *   publishes exactly its public key) -> retiring (replaced: keep the selector published for
 *   `grace`) -> retired (the record may be removed; the private key file is deleted).
 * Internal to dkim/. Any thread. */
#include "dkim/keystore.h"

struct mg_dkim_rotation_cfg {
	long long interval;	/* key lifetime (dkim_rotation_interval, 365 d) */
	long long lead;		/* next key generated this long before the switch (30 d) */
	long long grace;	/* old selector kept published after the switch (7 d) */
};

struct mg_dkim_rotation_plan {
	int generate;		/* make a next key: selector, activates, retires below */
	char selector[MG_DKIM_SELECTOR_MAX + 1];
	long long activates, retires;
	int check_dns;		/* index of a next key due to switch (DNS check first), or -1 */
	int retire[MG_DKIM_KEYS_MAX];	/* indexes of retiring keys past their grace */
	size_t n_retire;
};

/* What is due for alg at now. Never plans anything without a current key (the first key comes
 * from keygen or import). */
void mg_dkim_rotation_plan(const struct mg_dkim_state *st, enum mg_dkim_keyalg alg,
    long long now, const struct mg_dkim_rotation_cfg *cfg, struct mg_dkim_rotation_plan *out);

/* A selector "mg<YYYY><letter>" for a key activating at `activates` (UTC year), with the first
 * letter a..z not used in st; "" if every letter is taken. */
void mg_dkim_selector_pick(const struct mg_dkim_state *st, long long activates, char *out,
    size_t size);

/* Adds a key entry (dropping the oldest retired entry when the table is full). Returns its
 * index, or -1 when the table is full of live keys, the selector is taken, or a key of alg
 * already holds the state ks where only one is allowed. */
int mg_dkim_rotation_add(struct mg_dkim_state *st, const char *selector, enum mg_dkim_keyalg alg,
    enum mg_dkim_keystate ks, long long created, long long activates, long long retires);

/* The switch: the next key of alg becomes current (activates = now, retires = now + interval)
 * and the current one retiring (retires = now). Returns 0, -1 if there is no next key. */
int mg_dkim_rotation_switch(struct mg_dkim_state *st, enum mg_dkim_keyalg alg, long long now,
    const struct mg_dkim_rotation_cfg *cfg);

/* Marks key i retired. */
void mg_dkim_rotation_retire(struct mg_dkim_state *st, size_t i);

/* What DNS should hold for key i at now: "publish" (next, current), "keep published until
 * <date>" (retiring) or "may be removed" (retired), written into out. */
void mg_dkim_rotation_dns_advice(const struct mg_dkim_state *st, size_t i,
    const struct mg_dkim_rotation_cfg *cfg, char *out, size_t size);

/* ISO 8601 UTC date-time of t ("2027-01-01T00:00:00Z"). */
void mg_dkim_time_str(long long t, char *out, size_t size);

#endif
