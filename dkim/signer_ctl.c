/* signer_ctl.c: the `mailguardctl dkim ...` commands, run inside the signer role (the only
 * process that may touch keys; the supervisor relays the command line as IPC_CTL_REQUEST).
 *   status [DOMAIN]              keys, rotation dates, DNS advice and alerts
 *   dns DOMAIN                   the TXT records to publish (zone-file lines, 255-octet strings)
 *   keygen DOMAIN                first key(s) of the domain's dkim_algorithm
 *   rotate DOMAIN --now          start a rotation now (next key, switch once DNS has it)
 *   import DOMAIN SELECTOR PATH  adopt a PEM private key (mode 0600, ours)
 *   clock [SECONDS|real]         test_mode only: set the signer's "now"
 * Arguments come from the operator via the supervisor: validated here (domain must be a
 * configured one, selectors DNS labels, paths checked by the key file reader). Main thread. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/role.h"
#include "dkim/signer.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

static struct sdom *
ctl_domain(const char *arg, struct buf *out)
{
	char name[MG_DKIM_DOMAIN_MAX + 1];
	struct sdom *d;

	if (str_lcpy(name, arg, sizeof(name)) >= sizeof(name)) {
		buf_printf(out, "error: domain name too long\n");
		return NULL;
	}
	str_lower(name);
	if ((d = signer_domain(name)) == NULL)
		buf_printf(out, "error: %s is not a protected domain (no domains.d/%s.conf)\n", name,
		    name);
	return d;
}

static void
status_domain(const struct sdom *d, struct buf *out, int *alerts)
{
	const struct mg_domain *cd = config_domain_find(role.cfg, d->st.domain);
	struct mg_dkim_rotation_cfg rc;
	static const char *const algn[] = { "rsa2048", "ed25519", "both" };

	signer_rotation_cfg(&rc);
	buf_printf(out, "domain %s sign=%s algorithm=%s keys=%zu\n", d->st.domain,
	    cd && cd->dkim_sign ? "yes" : "no", cd ? algn[cd->dkim_algorithm] : "?", d->st.n);
	for (size_t i = 0; i < d->st.n; i++) {
		const struct mg_dkim_keyent *k = &d->st.k[i];
		char c[32], a[32], r[32], advice[96];

		mg_dkim_time_str(k->created, c, sizeof(c));
		mg_dkim_time_str(k->activates, a, sizeof(a));
		mg_dkim_time_str(k->retires, r, sizeof(r));
		mg_dkim_rotation_dns_advice(&d->st, i, &rc, advice, sizeof(advice));
		buf_printf(out, "  key %s %s %s created=%s activates=%s retires=%s dns=%s\n",
		    k->selector, mg_dkim_keyalg_name(k->alg), mg_dkim_keystate_name(k->state), c, a, r,
		    advice);
	}
	if (d->error[0]) {
		buf_printf(out, "  alert %s\n", d->error);
		(*alerts)++;
	}
	for (int a = 0; a < MG_DKIM_ALG_COUNT; a++)
		if (d->alert[a][0]) {
			char since[32];

			mg_dkim_time_str(d->alert_since[a], since, sizeof(since));
			buf_printf(out, "  alert %s since %s: %s\n", mg_dkim_keyalg_name(
			    (enum mg_dkim_keyalg)a), since, d->alert[a]);
			(*alerts)++;
		}
}

static int
cmd_status(int argc, char **argv, struct buf *out)
{
	int alerts = 0;
	char now[32];
	struct sdom *d;

	mg_dkim_time_str(signer_now(), now, sizeof(now));
	if (argc == 2) {
		if ((d = ctl_domain(argv[1], out)) == NULL)
			return 1;
		status_domain(d, out, &alerts);
	} else {
		for (size_t i = 0; i < role.cfg->n_domains; i++)
			if ((d = signer_domain(role.cfg->domains[i].name)) != NULL &&
			    (d->st.n > 0 || role.cfg->domains[i].dkim_sign))
				status_domain(d, out, &alerts);
	}
	buf_printf(out, "now %s\nalerts %d\n", now, alerts);
	return 0;
}

/* One zone-file line for key i (public part derived from the private key file). */
static int
dns_line(const struct sdom *d, size_t i, struct buf *out)
{
	const struct mg_dkim_keyent *k = &d->st.k[i];
	struct mg_dkim_rotation_cfg rc;
	struct buf pem, rec;
	enum mg_dkim_keyalg alg;
	EVP_PKEY *pk = NULL;
	const char *err;
	char advice[96];
	int r = -1;

	signer_rotation_cfg(&rc);
	mg_dkim_rotation_dns_advice(&d->st, i, &rc, advice, sizeof(advice));
	if (k->state == MG_DKIM_KS_RETIRED) {
		buf_printf(out, "; %s._domainkey.%s. %s %s: %s\n", k->selector, d->st.domain,
		    mg_dkim_keyalg_name(k->alg), mg_dkim_keystate_name(k->state), advice);
		return 0;
	}
	buf_init(&pem, MG_DKIM_KEYFILE_MAX + 1);
	buf_init(&rec, 4096);
	if (mg_dkim_keyfile_load(signer_root(), d->st.domain, k->selector, &pem, &err) == 0)
		pk = mg_dkim_pem_load(pem.data, pem.len, &alg, &err);
	if (pk != NULL && mg_dkim_txt_record(pk, &rec) == 0) {
		buf_printf(out, "%s._domainkey.%s. IN TXT ", k->selector, d->st.domain);
		mg_dkim_txt_strings(rec.data, out);
		buf_printf(out, " ; %s %s: %s\n", mg_dkim_keyalg_name(k->alg),
		    mg_dkim_keystate_name(k->state), advice);
		r = 0;
	} else {
		buf_printf(out, "error: key %s cannot be read: %s\n", k->selector,
		    pk ? "no record" : err);
	}
	EVP_PKEY_free(pk);
	xwipe(pem.data, pem.cap);
	buf_free(&pem);
	buf_free(&rec);
	return r;
}

static int
cmd_dns(int argc, char **argv, struct buf *out)
{
	struct sdom *d;
	int r = 0;

	if (argc != 2) {
		buf_printf(out, "usage: dkim dns DOMAIN\n");
		return 2;
	}
	if ((d = ctl_domain(argv[1], out)) == NULL)
		return 1;
	if (d->st.n == 0) {
		buf_printf(out, "error: %s has no DKIM keys (mailguardctl dkim keygen %s)\n",
		    d->st.domain, d->st.domain);
		return 1;
	}
	for (size_t i = 0; i < d->st.n; i++)
		if (dns_line(d, i, out) < 0)
			r = 1;
	return r;
}

/* Adds a freshly generated or imported key (file first, then state). */
static int
add_key(struct sdom *d, const char *selector, enum mg_dkim_keyalg alg, enum mg_dkim_keystate ks,
    const struct buf *pem, long long activates, struct buf *out)
{
	struct mg_dkim_rotation_cfg rc;
	struct mg_dkim_state st = d->st;
	long long now = signer_now();
	const char *err;

	signer_rotation_cfg(&rc);
	if (mg_dkim_rotation_add(&st, selector, alg, ks, now, activates, activates + rc.interval) < 0) {
		buf_printf(out, "error: %s: selector %s taken or no room for another key\n",
		    d->st.domain, selector);
		return 1;
	}
	if (mg_dkim_keyfile_save(signer_root(), d->st.domain, selector, pem->data, pem->len,
	    &err) < 0 || signer_commit_state(d, &st, &err) < 0) {
		buf_printf(out, "error: %s: cannot store key %s: %s\n", d->st.domain, selector, err);
		return 1;
	}
	log_info("dkim: %s: %s key %s added as %s", d->st.domain, mg_dkim_keyalg_name(alg),
	    selector, mg_dkim_keystate_name(ks));
	buf_printf(out, "%s: %s key %s is %s\n", d->st.domain, mg_dkim_keyalg_name(alg), selector,
	    mg_dkim_keystate_name(ks));
	return 0;
}

static int
cmd_keygen(int argc, char **argv, struct buf *out)
{
	struct sdom *d;
	unsigned wanted;
	int made = 0;

	if (argc != 2) {
		buf_printf(out, "usage: dkim keygen DOMAIN\n");
		return 2;
	}
	if ((d = ctl_domain(argv[1], out)) == NULL)
		return 1;
	wanted = signer_wanted_algs(d->st.domain);
	for (int a = 0; a < MG_DKIM_ALG_COUNT; a++) {
		char sel[MG_DKIM_SELECTOR_MAX + 1];
		const char *err;
		struct buf pem;
		int r;

		if (!(wanted & (1u << a)) ||
		    mg_dkim_state_find(&d->st, (enum mg_dkim_keyalg)a, MG_DKIM_KS_CURRENT) >= 0)
			continue;
		mg_dkim_selector_pick(&d->st, signer_now(), sel, sizeof(sel));
		buf_init(&pem, MG_DKIM_KEYFILE_MAX + 1);
		if (mg_dkim_keygen((enum mg_dkim_keyalg)a, &pem, &err) < 0) {
			buf_printf(out, "error: %s\n", err);
			r = 1;
		} else {
			r = add_key(d, sel, (enum mg_dkim_keyalg)a, MG_DKIM_KS_CURRENT, &pem,
			    signer_now(), out);
		}
		xwipe(pem.data, pem.cap);
		buf_free(&pem);
		if (r != 0)
			return r;
		made++;
	}
	if (made == 0) {
		buf_printf(out, "error: %s already has a current key for each algorithm of "
		    "dkim_algorithm (use: dkim rotate %s --now)\n", d->st.domain, d->st.domain);
		return 1;
	}
	buf_printf(out, "publish these records before enabling dkim_sign:\n");
	return cmd_dns(2, argv, out) ? 1 : 0;
}

static int
cmd_rotate(int argc, char **argv, struct buf *out)
{
	struct mg_dkim_rotation_cfg rc;
	struct mg_dkim_state st;
	const char *dom, *err;
	struct sdom *d;
	long long now = signer_now();

	if (argc == 3 && strcmp(argv[2], "--now") == 0)
		dom = argv[1];
	else if (argc == 3 && strcmp(argv[1], "--now") == 0)
		dom = argv[2];
	else {
		buf_printf(out, "usage: dkim rotate DOMAIN --now\n");
		return 2;
	}
	if ((d = ctl_domain(dom, out)) == NULL)
		return 1;
	signer_rotation_cfg(&rc);
	st = d->st;
	for (int a = 0; a < MG_DKIM_ALG_COUNT; a++) {
		int cur = mg_dkim_state_find(&st, (enum mg_dkim_keyalg)a, MG_DKIM_KS_CURRENT);
		int next = mg_dkim_state_find(&st, (enum mg_dkim_keyalg)a, MG_DKIM_KS_NEXT);

		if (cur < 0)
			continue;
		/* due now: the tick generates a missing next key and checks DNS at once */
		st.k[cur].retires = now;
		if (next >= 0)
			st.k[next].activates = now;
		d->next_check[a] = 0;
	}
	if (st.n == 0) {
		buf_printf(out, "error: %s has no current key (dkim keygen %s)\n", d->st.domain,
		    d->st.domain);
		return 1;
	}
	if (signer_commit_state(d, &st, &err) < 0) {
		buf_printf(out, "error: %s\n", err);
		return 1;
	}
	signer_tick_all();
	buf_printf(out, "%s: rotation started; the switch happens once DNS publishes the new "
	    "key (see dkim status, dkim dns %s)\n", d->st.domain, d->st.domain);
	return cmd_dns(2, argv + (argv[1] == dom ? 0 : 1), out) ? 1 : 0;
}

static int
cmd_import(int argc, char **argv, struct buf *out)
{
	enum mg_dkim_keyalg alg;
	struct buf pem;
	struct sdom *d;
	EVP_PKEY *pk = NULL;
	const char *err;
	int r = 1, cur;

	if (argc != 4) {
		buf_printf(out, "usage: dkim import DOMAIN SELECTOR PATH\n");
		return 2;
	}
	if ((d = ctl_domain(argv[1], out)) == NULL)
		return 1;
	if (!mg_dkim_selector_is_valid(argv[2])) {
		buf_printf(out, "error: selector must be a lowercase DNS label ([a-z0-9-], 63 max)\n");
		return 1;
	}
	buf_init(&pem, MG_DKIM_KEYFILE_MAX + 1);
	if (mg_dkim_keyfile_read_path(argv[3], &pem, &err) < 0 ||
	    (pk = mg_dkim_pem_load(pem.data, pem.len, &alg, &err)) == NULL) {
		buf_printf(out, "error: %s: %s\n", argv[3], err);
		goto out;
	}
	cur = mg_dkim_state_find(&d->st, alg, MG_DKIM_KS_CURRENT);
	if (cur < 0)
		r = add_key(d, argv[2], alg, MG_DKIM_KS_CURRENT, &pem, signer_now(), out);
	else if (mg_dkim_state_find(&d->st, alg, MG_DKIM_KS_NEXT) < 0)
		r = add_key(d, argv[2], alg, MG_DKIM_KS_NEXT, &pem, d->st.k[cur].retires, out);
	else
		buf_printf(out, "error: %s already has a current and a next %s key\n", d->st.domain,
		    mg_dkim_keyalg_name(alg));
out:
	EVP_PKEY_free(pk);
	xwipe(pem.data, pem.cap);
	buf_free(&pem);
	return r;
}

static int
cmd_clock(int argc, char **argv, struct buf *out)
{
	long long t;
	const char *err;
	char now[32];

	if (!role.cfg->test_mode) {
		buf_printf(out, "error: dkim clock is a test-only command (needs test_mode = yes)\n");
		return 1;
	}
	if (argc == 2 && strcmp(argv[1], "real") == 0) {
		signer_set_clock(0);
	} else if (argc == 2) {
		if (strnum_ll(argv[1], 1, MG_DKIM_TIME_MAX, &t, &err) < 0) {
			buf_printf(out, "error: SECONDS: %s\n", err);
			return 2;
		}
		signer_set_clock(t);
	} else if (argc != 1) {
		buf_printf(out, "usage: dkim clock [SECONDS|real]\n");
		return 2;
	}
	signer_tick_all();
	mg_dkim_time_str(signer_now(), now, sizeof(now));
	buf_printf(out, "now %s (%lld)\n", now, signer_now());
	return 0;
}

int
signer_ctl(int argc, char **argv, struct buf *out)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **, struct buf *);
		int min, max;
	} cmds[] = {
		{ "status", cmd_status, 1, 2 }, { "dns", cmd_dns, 1, 2 },
		{ "keygen", cmd_keygen, 1, 2 }, { "rotate", cmd_rotate, 1, 3 },
		{ "import", cmd_import, 1, 4 }, { "clock", cmd_clock, 1, 2 },
	};

	for (size_t i = 0; argc >= 1 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[0], cmds[i].name) == 0) {
			if (argc < cmds[i].min || argc > cmds[i].max) {
				buf_printf(out, "error: wrong number of arguments for dkim %s\n",
				    cmds[i].name);
				return 2;
			}
			return cmds[i].fn(argc, argv, out);
		}
	buf_printf(out, "error: unknown dkim command (try: status [DOMAIN], dns DOMAIN, keygen "
	    "DOMAIN, rotate DOMAIN --now, import DOMAIN SELECTOR PATH)\n");
	return 2;
}
