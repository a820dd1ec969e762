/* signer.c: the signer role (issue E), the only process that opens DKIM private keys. smtpd
 * sends IPC_SIGN_REQUEST (envelope + read-only message fd) for outbound mail of a domain with
 * dkim_sign = yes and gets IPC_SIGN_RESULT with the DKIM-Signature field(s) to prepend. The role
 * also drives key rotation (dkim/rotation.c) on a timer: it generates the next key `lead` before
 * the switch, switches only once DNS (our resolver, common/dns.c, async on this loop) publishes
 * exactly the new public key, otherwise keeps the current key, raises an alert and re-checks a
 * day later; replaced keys are retired after the grace period. mailguardctl dkim commands arrive
 * from the supervisor (signer_ctl.c). Runs as the unprivileged user; key files must be mode 0600
 * and ours (checked at every load: start, reload, switch). Trusts smtpd and the supervisor after
 * lib/ipc's strict decoding; DNS answers and state files are parsed with hard limits. Keys and
 * signatures' private inputs are never logged. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/envelope.h"
#include "common/ipc_msg.h"
#include "common/metrics.h"
#include "common/role.h"
#include "dkim/key.h"
#include "dkim/sign.h"
#include "dkim/signer.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define SIGNER_TICK 60.0		/* seconds between rotation steps (real clock) */
#define SIGNER_RECHECK (24LL * 3600)	/* a withheld switch is re-checked daily */
#define SIGNER_DNS_DEADLINE_MS 20000	/* one DNS check, retries included */

static void alert_gauge(void);

static struct {
	struct ipc_chan *smtpd, *queue;	/* clients: signing requests */
	struct mg_dkim_sign *sign;
	struct mg_dns *dns;
	char root[4096];
	struct sdom **doms;
	size_t n_doms;
	long long clock;	/* test clock (test_mode), 0 = real */
	ev_timer tick;
} sg;

long long
signer_now(void)
{
	return sg.clock ? sg.clock : (long long)time(NULL);
}

void
signer_set_clock(long long t)
{
	sg.clock = t;
}

const char *
signer_root(void)
{
	return sg.root;
}

void
signer_rotation_cfg(struct mg_dkim_rotation_cfg *c)
{
	c->interval = role.cfg->dkim_rotation_interval;
	c->lead = role.cfg->dkim_rotation_lead;
	c->grace = role.cfg->dkim_rotation_grace;
}

unsigned
signer_wanted_algs(const char *domain)
{
	const struct mg_domain *d = config_domain_find(role.cfg, domain);

	if (d == NULL)
		return 0;
	switch (d->dkim_algorithm) {
	case MG_DKIM_ED25519: return 1u << MG_DKIM_ALG_ED25519;
	case MG_DKIM_BOTH: return (1u << MG_DKIM_ALG_RSA) | (1u << MG_DKIM_ALG_ED25519);
	default: return 1u << MG_DKIM_ALG_RSA;
	}
}

struct sdom *
signer_domain(const char *name)
{
	for (size_t i = 0; i < sg.n_doms; i++)	/* slots are NULL while load_domains moves them */
		if (sg.doms[i] != NULL && strcmp(sg.doms[i]->st.domain, name) == 0)
			return sg.doms[i];
	return NULL;
}

/* ---- loading keys ---- */

static void
pem_wipe(struct buf *b)
{
	if (b->data != NULL)
		xwipe(b->data, b->cap);
	buf_free(b);
}

/* Loads the current key of each algorithm named in st into pem[]; all or nothing. */
static int
load_current_keys(const struct mg_dkim_state *st, struct buf pem[MG_DKIM_ALG_COUNT],
    const char **error_r)
{
	for (int a = 0; a < MG_DKIM_ALG_COUNT; a++)
		buf_init(&pem[a], MG_DKIM_KEYFILE_MAX + 1);
	for (int a = 0; a < MG_DKIM_ALG_COUNT; a++) {
		int i = mg_dkim_state_find(st, (enum mg_dkim_keyalg)a, MG_DKIM_KS_CURRENT);
		enum mg_dkim_keyalg got;
		EVP_PKEY *pk;

		if (i < 0)
			continue;
		if (mg_dkim_keyfile_load(sg.root, st->domain, st->k[i].selector, &pem[a], error_r) < 0)
			goto fail;
		if ((pk = mg_dkim_pem_load(pem[a].data, pem[a].len, &got, error_r)) == NULL)
			goto fail;
		EVP_PKEY_free(pk);
		if ((int)got != a) {
			*error_r = "key file holds a key of another algorithm";
			goto fail;
		}
	}
	return 0;
fail:
	for (int a = 0; a < MG_DKIM_ALG_COUNT; a++)
		pem_wipe(&pem[a]);
	return -1;
}

/* Makes st (with its keys) the domain's state in memory: keys first, then one swap. */
static int
sdom_install(struct sdom *d, const struct mg_dkim_state *st, const char **error_r)
{
	struct buf pem[MG_DKIM_ALG_COUNT];

	if (load_current_keys(st, pem, error_r) < 0)
		return -1;
	for (int a = 0; a < MG_DKIM_ALG_COUNT; a++) {
		pem_wipe(&d->pem[a]);
		d->pem[a] = pem[a];
	}
	d->st = *st;
	return 0;
}

static int
sdom_load(struct sdom *d, const char *name, const char **error_r)
{
	struct mg_dkim_state st;
	int r;

	if ((r = mg_dkim_state_load(sg.root, name, &st, error_r)) < 0)
		return -1;
	if (r == 0) {
		memset(&st, 0, sizeof(st));
		str_lcpy(st.domain, name, sizeof(st.domain));
	}
	return sdom_install(d, &st, error_r);
}

int
signer_commit_state(struct sdom *d, const struct mg_dkim_state *st, const char **error_r)
{
	struct buf pem[MG_DKIM_ALG_COUNT];

	/* the keys the new state names must load before the state is written */
	if (load_current_keys(st, pem, error_r) < 0)
		return -1;
	for (int a = 0; a < MG_DKIM_ALG_COUNT; a++)
		pem_wipe(&pem[a]);
	if (mg_dkim_state_save(sg.root, st, error_r) < 0)
		return -1;
	return sdom_install(d, st, error_r);
}

static void
sdom_free(struct sdom **dp)
{
	struct sdom *d = *dp;

	for (int a = 0; a < MG_DKIM_ALG_COUNT; a++) {
		mg_dns_cancel(&d->q[a]);
		pem_wipe(&d->pem[a]);
	}
	xfree(d);
	*dp = NULL;
}

/* Builds the domain table for the current config, reusing entries of domains still there.
 * A domain whose keys do not load keeps the keys it had (and reports the error). */
static void
load_domains(void)
{
	struct sdom **nd = xcalloc(role.cfg->n_domains + 1, sizeof(*nd));
	size_t n = 0;

	for (size_t i = 0; i < role.cfg->n_domains; i++) {
		const char *name = role.cfg->domains[i].name;
		struct sdom *d = signer_domain(name);
		const char *err;

		if (!mg_dkim_domain_is_valid(name))
			continue;
		if (d == NULL) {
			d = xcalloc(1, sizeof(*d));
			for (int a = 0; a < MG_DKIM_ALG_COUNT; a++)
				buf_init(&d->pem[a], MG_DKIM_KEYFILE_MAX + 1);
			str_lcpy(d->st.domain, name, sizeof(d->st.domain));
		} else {
			for (size_t j = 0; j < sg.n_doms; j++)
				if (sg.doms[j] == d)
					sg.doms[j] = NULL;
		}
		d->error[0] = '\0';
		if (sdom_load(d, name, &err) < 0) {
			snprintf(d->error, sizeof(d->error), "keys not loaded: %s", err);
			log_err("dkim: %s: %s (signing with the keys loaded before, if any)", name,
			    d->error);
		}
		nd[n++] = d;
	}
	for (size_t j = 0; j < sg.n_doms; j++)
		if (sg.doms[j] != NULL)
			sdom_free(&sg.doms[j]);
	xfree(sg.doms);
	sg.doms = nd;
	sg.n_doms = n;
}

/* ---- rotation ---- */

/* Does the DNS answer publish exactly the public key of st's key i? why gets the reason if not. */
static int
dns_matches(const struct sdom *d, int i, const struct mg_dns_result *res, char *why, size_t size)
{
	struct mg_dkim_key key;
	enum mg_dkim_keyalg alg;
	struct buf pem;
	EVP_PKEY *ours;
	const char *err;
	int eq;

	if (res->status != MG_DNS_OK) {
		snprintf(why, size, "DNS has no key record at %s (%s%s%s)", res->qname,
		    mg_dns_status_name(res->status), res->error ? ": " : "", res->error ? res->error : "");
		return 0;
	}
	if (res->n != 1) {
		snprintf(why, size, "DNS has %zu TXT records at %s, want exactly one", res->n,
		    res->qname);
		return 0;
	}
	memset(&key, 0, sizeof(key));
	if (mg_dkim_key_parse((struct slice){ res->rr[0].u.txt.data, res->rr[0].u.txt.len }, &key, 0,
	    &err) != MG_DKIM_KEY_OK) {
		snprintf(why, size, "the record at %s is not a usable key (%s)", res->qname, err);
		mg_dkim_key_clear(&key);
		return 0;
	}
	buf_init(&pem, MG_DKIM_KEYFILE_MAX + 1);
	ours = NULL;
	if (mg_dkim_keyfile_load(sg.root, d->st.domain, d->st.k[i].selector, &pem, &err) == 0)
		ours = mg_dkim_pem_load(pem.data, pem.len, &alg, &err);
	pem_wipe(&pem);
	if (ours == NULL) {
		snprintf(why, size, "the new key cannot be loaded (%s)", err);
		mg_dkim_key_clear(&key);
		return 0;
	}
	eq = EVP_PKEY_eq(key.pkey, ours) == 1;
	EVP_PKEY_free(ours);
	mg_dkim_key_clear(&key);
	if (!eq)
		snprintf(why, size, "DNS at %s publishes a different key", res->qname);
	return eq;
}

static void
check_done(struct mg_dns_result *res, void *arg)
{
	struct sdom_check *c = arg;
	struct sdom *d = c->d;
	enum mg_dkim_keyalg alg = (enum mg_dkim_keyalg)c->alg;
	struct mg_dkim_rotation_cfg rc;
	struct mg_dkim_state st;
	long long now = signer_now();
	int next = mg_dkim_state_find(&d->st, alg, MG_DKIM_KS_NEXT);
	char why[512], date[32];
	const char *err;

	d->q[alg] = NULL;
	if (next < 0)
		goto out;
	signer_rotation_cfg(&rc);
	if (dns_matches(d, next, res, why, sizeof(why))) {
		char old[MG_DKIM_SELECTOR_MAX + 1] = "-";
		int cur = mg_dkim_state_find(&d->st, alg, MG_DKIM_KS_CURRENT);

		if (cur >= 0)
			str_lcpy(old, d->st.k[cur].selector, sizeof(old));
		st = d->st;
		mg_dkim_rotation_switch(&st, alg, now, &rc);
		if (signer_commit_state(d, &st, &err) < 0) {
			log_err("dkim: %s: switch to %s failed: %s", d->st.domain, d->st.k[next].selector,
			    err);
			d->next_check[alg] = now + 3600;
			goto out;
		}
		d->alert[alg][0] = '\0';
		mg_dkim_time_str(now + rc.grace, date, sizeof(date));
		log_info("dkim: %s: %s signing switched from %s to %s (DNS publishes the new key); "
		    "keep %s published until %s", d->st.domain, mg_dkim_keyalg_name(alg), old,
		    d->st.k[next].selector, old, date);
		goto out;
	}
	if (d->alert[alg][0] == '\0')
		d->alert_since[alg] = now;
	(void)str_fmt(d->alert[alg], sizeof(d->alert[alg]), "switch to %s withheld: %s",
	    d->st.k[next].selector, why);	/* cut if long: the log line has it all */
	d->next_check[alg] = now + SIGNER_RECHECK;
	log_warn("dkim: %s: ALERT %s; still signing with the current %s key, next check in a day",
	    d->st.domain, d->alert[alg], mg_dkim_keyalg_name(alg));
out:
	mg_dns_result_free(&res);
	alert_gauge();
}

static void
start_check(struct sdom *d, enum mg_dkim_keyalg alg, int next)
{
	char name[MG_DNS_NAME_MAX + 2];

	if (str_fmt(name, sizeof(name), "%s._domainkey.%s", d->st.k[next].selector,
	    d->st.domain) < 0) {
		log_err("dkim: %s: key name too long for DNS", d->st.domain);
		return;
	}
	d->chk[alg].d = d;
	d->chk[alg].alg = (int)alg;
	d->q[alg] = mg_dns_query(sg.dns, name, 16 /* TXT */, mg_dns_now_ms() + SIGNER_DNS_DEADLINE_MS,
	    check_done, &d->chk[alg]);
}

/* Generates the next key of alg as planned: key file first, then the state naming it. */
static int
generate_next(struct sdom *d, struct mg_dkim_state *st, enum mg_dkim_keyalg alg,
    const struct mg_dkim_rotation_plan *p, long long now, const char **error_r)
{
	struct buf pem;
	int r;

	buf_init(&pem, MG_DKIM_KEYFILE_MAX + 1);
	r = mg_dkim_keygen(alg, &pem, error_r);
	if (r == 0)
		r = mg_dkim_keyfile_save(sg.root, d->st.domain, p->selector, pem.data, pem.len, error_r);
	pem_wipe(&pem);
	if (r == 0 && mg_dkim_rotation_add(st, p->selector, alg, MG_DKIM_KS_NEXT, now, p->activates,
	    p->retires) < 0) {
		*error_r = "no room for another key";
		r = -1;
	}
	return r;
}

static void
sdom_tick_alg(struct sdom *d, enum mg_dkim_keyalg alg, long long now,
    const struct mg_dkim_rotation_cfg *rc)
{
	struct mg_dkim_rotation_plan p;
	struct mg_dkim_state st;
	char gone[MG_DKIM_KEYS_MAX][MG_DKIM_SELECTOR_MAX + 1], date[32];
	const char *err;
	size_t n_gone = 0;

	mg_dkim_rotation_plan(&d->st, alg, now, rc, &p);
	if (p.n_retire > 0 || p.generate) {
		st = d->st;
		for (size_t i = 0; i < p.n_retire; i++) {
			mg_dkim_rotation_retire(&st, (size_t)p.retire[i]);
			str_lcpy(gone[n_gone++], st.k[p.retire[i]].selector, sizeof(gone[0]));
		}
		if (p.generate && generate_next(d, &st, alg, &p, now, &err) < 0) {
			log_err("dkim: %s: cannot generate the next %s key: %s", d->st.domain,
			    mg_dkim_keyalg_name(alg), err);
			p.generate = 0;
		}
		if (signer_commit_state(d, &st, &err) < 0) {
			log_err("dkim: %s: cannot save the key state: %s", d->st.domain, err);
			return;
		}
		for (size_t i = 0; i < n_gone; i++) {
			mg_dkim_keyfile_remove(sg.root, d->st.domain, gone[i]);
			log_info("dkim: %s: selector %s retired: its DNS record may be removed",
			    d->st.domain, gone[i]);
		}
		if (p.generate) {
			mg_dkim_time_str(p.activates, date, sizeof(date));
			log_info("dkim: %s: next %s key %s generated, switch due %s; publish its record "
			    "(mailguardctl dkim dns %s)", d->st.domain, mg_dkim_keyalg_name(alg),
			    p.selector, date, d->st.domain);
		}
		mg_dkim_rotation_plan(&d->st, alg, now, rc, &p);
	}
	if (p.check_dns >= 0 && d->q[alg] == NULL && now >= d->next_check[alg])
		start_check(d, alg, p.check_dns);
}

void
signer_tick_all(void)
{
	struct mg_dkim_rotation_cfg rc;
	long long now = signer_now();

	signer_rotation_cfg(&rc);
	for (size_t i = 0; i < sg.n_doms; i++) {
		struct sdom *d = sg.doms[i];

		if (d->error[0] != '\0' || d->st.n == 0)
			continue;
		for (int a = 0; a < MG_DKIM_ALG_COUNT; a++)
			sdom_tick_alg(d, (enum mg_dkim_keyalg)a, now, &rc);
	}
}

/* M_DKIM_ROTATION_ALERTS: the number of domains with a withheld switch (any algorithm). */
static void
alert_gauge(void)
{
	int64_t n = 0;

	for (size_t i = 0; i < sg.n_doms; i++) {
		int any = 0;

		for (int a = 0; sg.doms[i] != NULL && a < MG_DKIM_ALG_COUNT; a++)
			any |= sg.doms[i]->alert[a][0] != '\0';
		n += any;
	}
	metrics_set(M_DKIM_ROTATION_ALERTS, n);
}

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	signer_tick_all();
	alert_gauge();
}

/* ---- signing ---- */

/* Signs fd for the envelope's sender domain; headers get the field lines. 0 or -1 + detail. */
static int
sign_message(const struct envelope *env, int fd, struct buf *headers, char *detail, size_t dsize)
{
	char domain[MG_DKIM_DOMAIN_MAX + 1];
	const struct mg_domain *cd;
	unsigned wanted;
	struct sdom *d;
	struct stat sb;
	const char *err;

	str_lcpy(domain, envelope_addr_domain(env->sender), sizeof(domain));
	str_lower(domain);
	if (env->direction != ENV_OUTBOUND || (cd = config_domain_find(role.cfg, domain)) == NULL ||
	    !cd->dkim_sign || (d = signer_domain(domain)) == NULL) {
		snprintf(detail, dsize, "domain %s does not sign outbound mail", domain);
		return -1;
	}
	if (fstat(fd, &sb) < 0) {
		snprintf(detail, dsize, "cannot stat the message: %s", strerror(errno));
		return -1;
	}
	wanted = signer_wanted_algs(domain);
	for (int a = 0; a < MG_DKIM_ALG_COUNT; a++) {
		int i = mg_dkim_state_find(&d->st, (enum mg_dkim_keyalg)a, MG_DKIM_KS_CURRENT);

		if (!(wanted & (1u << a)))
			continue;
		if (i < 0 || d->pem[a].len == 0) {
			(void)str_fmt(detail, dsize, "no current %s key for %s (mailguardctl dkim keygen %s)%s%s",
			    mg_dkim_keyalg_name((enum mg_dkim_keyalg)a), domain, domain,
			    d->error[0] ? ": " : "", d->error);
			return -1;
		}
		if (headers->len > 0 && buf_append_char(headers, '\n') < 0)
			return -1;
		if (mg_dkim_sign_fd(sg.sign, d->pem[a].data, d->pem[a].len, (enum mg_dkim_keyalg)a,
		    domain, d->st.k[i].selector, fd, sb.st_size, ENVELOPE_HEADER_MAX, headers,
		    &err) < 0) {
			snprintf(detail, dsize, "%s signature with %s failed: %s",
			    mg_dkim_keyalg_name((enum mg_dkim_keyalg)a), d->st.k[i].selector, err);
			return -1;
		}
		metrics_inc(M_DKIM_SIGNATURES, 1);
	}
	snprintf(detail, dsize, "signed d=%s", domain);
	return 0;
}

static void
on_sign_request(struct ipc_chan *chan, struct ipc_msg *m)
{
	char *sid = ipc_get_str(m), *text = ipc_get_str(m);
	struct envelope env;
	struct ipc_out o;
	struct buf headers;
	char detail[512];
	const char *err;
	int fd = m->fd, r = -1;

	ipc_msg_end(m);
	buf_init(&headers, 4 * (ENVELOPE_HEADER_MAX + 1));
	envelope_init(&env);
	if (fd < 0 || text == NULL) {
		snprintf(detail, sizeof(detail), "request without message or envelope");
	} else if (envelope_parse(slice_from_str(text), &env, &err) < 0) {
		snprintf(detail, sizeof(detail), "bad envelope: %s", err);
	} else {
		r = sign_message(&env, fd, &headers, detail, sizeof(detail));
	}
	if (r < 0) {
		metrics_inc(M_DKIM_SIGN_FAILURES, 1);
		log_err("%s %s dkim: not signed: %s", sid ? sid : "-", env.qid[0] ? env.qid : "NOQUEUE",
		    detail);
	}
	ipc_out_init(&o);
	ipc_put_u32(&o, r == 0 ? 0 : 1);
	ipc_put_str(&o, r == 0 ? headers.data : "");
	ipc_put_str(&o, detail);
	ipc_send(chan, IPC_SIGN_RESULT, m->id, -1, &o);
	ipc_out_free(&o);
	envelope_clear(&env);
	buf_free(&headers);
	if (fd >= 0)
		close(fd);
	xfree(sid);
	xfree(text);
}

/* smtpd and the queue (its own messages: TLS reports, digests) send the same requests; the
 * answer goes back on the channel the request came from. */
static void
client_msg(struct ipc_chan *chan, struct ipc_msg *m, void *arg)
{
	if (m->type != IPC_SIGN_REQUEST)
		panic("signer: unexpected message type %u from %s", m->type, (const char *)arg);
	on_sign_request(chan, m);
}

static void
client_closed(struct ipc_chan *chan, void *arg)
{
	/* peers stop first at shutdown; the supervisor tells us when to exit */
	if (chan == sg.smtpd)
		sg.smtpd = NULL;
	else if (chan == sg.queue)
		sg.queue = NULL;
	(void)arg;
	ipc_chan_free(&chan);
}

/* IPC_PEER_RESET: smtpd or the queue was restarted; signing is synchronous, so nothing is in
 * flight. */
static void
signer_peer_reset(const char *peer, int fd)
{
	if (strcmp(peer, "smtpd") == 0) {
		ipc_chan_free(&sg.smtpd);
		sg.smtpd = ipc_chan_new(role.loop, fd, "smtpd", client_msg, client_closed,
		    (void *)"smtpd");
	} else if (strcmp(peer, "queue") == 0) {
		ipc_chan_free(&sg.queue);
		sg.queue = ipc_chan_new(role.loop, fd, "queue", client_msg, client_closed,
		    (void *)"queue");
	} else {
		panic("signer: IPC_PEER_RESET for unknown peer %s", peer);
	}
}

/* ---- control and life cycle ---- */

static void
sup_msg(struct ipc_chan *chan, struct ipc_msg *m, void *arg)
{
	char *argv[16];
	struct ipc_out o;
	struct buf out;
	uint32_t argc;
	int status;

	(void)arg;
	if (m->type != IPC_CTL_REQUEST)
		panic("signer: unexpected message type %u from supervisor", m->type);
	argc = ipc_get_u32(m);
	if (argc > 16)
		panic("signer: control request with %u arguments", argc);
	for (uint32_t i = 0; i < argc; i++)
		argv[i] = ipc_get_str(m);
	ipc_msg_end(m);
	buf_init(&out, 1 << 20);
	status = signer_ctl((int)argc, argv, &out);
	ipc_out_init(&o);
	ipc_put_u32(&o, (uint32_t)status);
	ipc_put_str(&o, out.data ? out.data : "");
	ipc_send(chan, IPC_CTL_REPLY, m->id, -1, &o);
	ipc_out_free(&o);
	buf_free(&out);
	for (uint32_t i = 0; i < argc; i++)
		xfree(argv[i]);
}

static void
signer_reload(struct mg_config *old)
{
	(void)old;
	load_domains();
	signer_tick_all();
}

static void
open_resolver(void)
{
	struct mg_dns_config dc;
	const char *err;

	memset(&dc, 0, sizeof(dc));
	for (size_t i = 0; i < role.cfg->n_resolvers && dc.n_servers < MG_DNS_SERVERS_MAX; i++)
		str_lcpy(dc.servers[dc.n_servers++], role.cfg->resolvers[i], sizeof(dc.servers[0]));
	dc.timeout_ms = role.cfg->dns_timeout_ms;
	dc.attempts = role.cfg->dns_attempts;
	dc.udp_size = 1232;
	if ((sg.dns = mg_dns_new(role.loop, &dc, &err)) == NULL)
		fatal("signer: resolver: %s", err);
}

int
signer_main(void)
{
	role.on_reload = signer_reload;
	role.on_sup_msg = sup_msg;
	role.on_peer_reset = signer_peer_reset;
	role_drop_privileges();
	metrics_open(role.cfg->state_dir, "signer");
	umask(077);
	if (str_fmt(sg.root, sizeof(sg.root), "%s/dkim", role.cfg->state_dir) < 0)
		fatal("signer: state_dir path too long");
	if (mkdir(sg.root, 0700) < 0 && errno != EEXIST)
		fatal("signer: cannot create %s: %m", sg.root);
	sg.sign = mg_dkim_sign_new();
	open_resolver();
	sg.smtpd = ipc_chan_new(role.loop, ROLE_FD_PEER1, "smtpd", client_msg, client_closed,
	    (void *)"smtpd");
	sg.queue = ipc_chan_new(role.loop, ROLE_FD_PEER2, "queue", client_msg, client_closed,
	    (void *)"queue");
	load_domains();
	ev_timer_init(&sg.tick, tick_cb, 0.0, SIGNER_TICK);
	ev_timer_start(role.loop, &sg.tick);
	role_ready();
	role_run();
	return 0;
}
