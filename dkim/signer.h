#ifndef DKIM_SIGNER_H
#define DKIM_SIGNER_H
/* Internal to the signer role (dkim/signer.c: role, IPC, rotation ticks, DNS checks;
 * dkim/signer_ctl.c: mailguardctl dkim commands). Main loop thread only. */
#include "common/dns.h"
#include "dkim/keystore.h"
#include "dkim/rotation.h"
#include "lib/buf.h"

/* One signing domain in memory: its state file and the PEM of each current key, replaced
 * together only after both loaded and checked (no message is signed with a half-loaded key). */
struct sdom {
	struct mg_dkim_state st;
	struct buf pem[MG_DKIM_ALG_COUNT];	/* current key per algorithm; len 0 = none */
	char error[256];			/* why the state could not be loaded, "" if fine */
	/* rotation */
	char alert[MG_DKIM_ALG_COUNT][640];	/* withheld switch, "" if none */
	long long alert_since[MG_DKIM_ALG_COUNT];
	long long next_check[MG_DKIM_ALG_COUNT];	/* signer clock: earliest DNS re-check */
	struct mg_dns_query *q[MG_DKIM_ALG_COUNT];	/* DNS check in flight */
	struct sdom_check { struct sdom *d; int alg; } chk[MG_DKIM_ALG_COUNT];	/* its context */
};

/* signer.c */
long long signer_now(void);			/* the test clock, else time(NULL) */
void signer_set_clock(long long t);		/* 0 = back to the real clock */
const char *signer_root(void);			/* state_dir/dkim */
void signer_rotation_cfg(struct mg_dkim_rotation_cfg *c);
struct sdom *signer_domain(const char *name);	/* NULL if not a configured signing domain */
/* Which algorithms the domain's config asks for (mask of 1 << enum mg_dkim_keyalg). */
unsigned signer_wanted_algs(const char *domain);
/* Writes st (after a change) and reloads the domain's keys; 0 or -1 with *error_r. */
int signer_commit_state(struct sdom *d, const struct mg_dkim_state *st, const char **error_r);
/* Runs the rotation step for every domain now (also after a clock change). */
void signer_tick_all(void);

/* signer_ctl.c: one mailguardctl dkim command; writes the reply text into out, returns the
 * exit status (0 ok, 1 failed, 2 usage). */
int signer_ctl(int argc, char **argv, struct buf *out);

#endif
