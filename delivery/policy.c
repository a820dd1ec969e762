/* policy.c: the TLS and source-address policy of outbound connections, delivery role, main
 * thread. Turns the sender domain's tls_policy (none/may/encrypt/dane), the MX host's DNSSEC-
 * validated TLSA records (RFC 7672) and the recipient domain's MTA-STS policy (RFC 8461, sts.c)
 * into a requirement per connection, sets up OpenSSL for it (SSL_dane_enable/SSL_dane_tlsa_add,
 * SSL_set1_host) and judges the finished handshake; picks source addresses (outbound_ips,
 * round robin per family) and their EHLO names (outbound_helo); reports each outcome to the
 * queue for TLS-RPT (RFC 8460). Trusts DNS data only with the resolver's AD bit; the peer's
 * certificate only through OpenSSL's verification. */
#include <arpa/inet.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/ipc_msg.h"
#include "common/role.h"
#include "common/tls.h"
#include "config/config.h"
#include "delivery/delivery_int.h"
#include "delivery/sts.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/str.h"

int
policy_dane_applies(const struct dest *d, int i)
{
	int mx = i >= 0 && i < d->n_addrs ? d->addr_mx[i] : -1;

	return d->outbound && !d->tlsrpt_msg && d->tls_policy == MG_TLS_DANE && mx >= 0 &&
	    d->mx_secure && !d->mxh[mx].insecure_addr &&
	    (d->mxh[mx].tlsa_state == MXT_USABLE || d->mxh[mx].tlsa_state == MXT_UNUSABLE);
}

enum tls_req
policy_tls_req(const struct dest *d, int i)
{
	int mx = i >= 0 && i < d->n_addrs ? d->addr_mx[i] : -1;

	if (!d->outbound)
		return TREQ_LEGACY;
	if (d->tlsrpt_msg)
		return TREQ_MAY;	/* RFC 8460 §5.3: reports go out whatever the policy */
	switch (d->tls_policy) {
	case MG_TLS_NONE:
		return TREQ_NONE;
	case MG_TLS_DANE:
		/* RFC 7672 §2.2: DANE applies when the MX RRset, the host's addresses and its TLSA
		 * RRset are all secure; otherwise the destination's MTA-STS policy if it publishes
		 * one (RFC 8461 §2: DANE takes precedence where present), else opportunistic TLS */
		if (policy_dane_applies(d, i)) {
			if (d->mxh[mx].tlsa_state == MXT_USABLE)
				return TREQ_DANE;
			return TREQ_ENCRYPT;
		}
		return sts_enforced(d) ? TREQ_VERIFY : TREQ_MAY;
	case MG_TLS_ENCRYPT:
		return sts_enforced(d) ? TREQ_VERIFY : TREQ_ENCRYPT;
	case MG_TLS_MAY:
	default:
		return sts_enforced(d) ? TREQ_VERIFY : TREQ_MAY;
	}
}

int
policy_tlsa_usable(unsigned usage, unsigned selector, unsigned mtype, size_t len)
{
	/* RFC 7672 §3.1.3 / RFC 6698 §2.1: usages 2 and 3 with selector 0/1 and matching type
	 * 0/1/2 (SHA-256 32 octets, SHA-512 64) are usable for SMTP; PKIX-TA(0) and PKIX-EE(1)
	 * are not */
	return (usage == 2 || usage == 3) && selector <= 1 && mtype <= 2 && len > 0 &&
	    (mtype != 1 || len == 32) && (mtype != 2 || len == 64);
}

int
policy_dane_setup(SSL *ssl, const char *base, const struct dtlsa *t, int n)
{
	int added = 0;

	/* the TLSA base domain (the MX host) is also the reference identifier that DANE-TA(2)
	 * checks the certificate against (RFC 7672 §3.2.2) */
	if (SSL_dane_enable(ssl, base) <= 0)
		return -1;
	/* RFC 7672 §3.1.1: DANE-EE(3) ignores names and validity dates */
	SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	for (int i = 0; i < n; i++)
		if (SSL_dane_tlsa_add(ssl, t[i].usage, t[i].selector, t[i].mtype, t[i].data,
		    t[i].len) > 0)
			added++;
	return added > 0 ? 0 : -1;
}

int
policy_tls_setup(struct client *c, SSL *ssl)
{
	struct dest *d = c->dest;
	int mx = d->addr_mx[c->addr_idx];

	switch (c->treq) {
	case TREQ_DANE:
		if (mx < 0)
			return -1;
		return policy_dane_setup(ssl, c->mxname, d->mxh[mx].tlsa, d->mxh[mx].n_tlsa);
	case TREQ_VERIFY:
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		return SSL_set1_host(ssl, c->mxname) == 1 ? 0 : -1;
	default:
		if (c->sts_testing) {	/* checked and reported, never enforced */
			SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			(void)SSL_set1_host(ssl, c->mxname);
		}
		return 0;
	}
}

static const char *
verify_type(long v)
{
	switch (v) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return "certificate-host-mismatch";
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "certificate-expired";
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return "certificate-not-trusted";
	default:
		return "validation-failure";
	}
}

static const char *
treq_name(enum tls_req r)
{
	switch (r) {
	case TREQ_NONE: return "none";
	case TREQ_MAY: return "may";
	case TREQ_ENCRYPT: return "encrypt";
	case TREQ_VERIFY: return "sts-verified";
	case TREQ_DANE: return "dane-verified";
	default: return "";
	}
}

int
policy_tls_check(struct client *c, SSL *ssl, char *why, size_t whysize, const char **rpt_type_r)
{
	char desc[128];
	long v;

	tls_describe(ssl, desc, sizeof(desc));
	*rpt_type_r = "";
	if (c->treq == TREQ_LEGACY) {
		str_lcpy(c->tlsdesc, desc, sizeof(c->tlsdesc));
		return 0;
	}
	if (SSL_version(ssl) < TLS1_2_VERSION && c->treq >= TREQ_ENCRYPT) {
		snprintf(why, whysize, "TLS version %s below the required TLSv1.2", desc);
		*rpt_type_r = "validation-failure";
		return -1;
	}
	v = SSL_get_verify_result(ssl);
	if (c->treq == TREQ_DANE && (v != X509_V_OK || SSL_get0_dane_authority(ssl, NULL, NULL) < 0)) {
		snprintf(why, whysize, "DANE authentication of %s failed: %s (RFC 7672)", c->mxname,
		    v != X509_V_OK ? X509_verify_cert_error_string(v) : "no TLSA record matched");
		*rpt_type_r = "tlsa-invalid";
		return -1;
	}
	if (c->treq == TREQ_VERIFY && v != X509_V_OK) {
		snprintf(why, whysize, "certificate of %s not valid under the MTA-STS policy of %s: "
		    "%s (RFC 8461 section 4.2)", c->mxname, c->dest->host,
		    X509_verify_cert_error_string(v));
		*rpt_type_r = verify_type(v);
		return -1;
	}
	snprintf(c->tlsdesc, sizeof(c->tlsdesc), "%s/%s", treq_name(c->treq), desc);
	if (c->sts_testing && v != X509_V_OK) {
		snprintf(why, whysize, "certificate of %s not valid under the MTA-STS policy of %s "
		    "(testing mode: delivering anyway): %s", c->mxname, c->dest->host,
		    X509_verify_cert_error_string(v));
		*rpt_type_r = verify_type(v);
		return 1;
	}
	return 0;
}

const char *
policy_helo_name(const char *src)
{
	unsigned char a[16], b[16];
	int fam;

	if (src == NULL || *src == '\0')
		return role.cfg->hostname;
	fam = strchr(src, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(fam, src, a) != 1)
		return role.cfg->hostname;
	for (size_t i = 0; i < role.cfg->n_outbound_helo; i++) {
		const struct mg_helo_map *h = &role.cfg->outbound_helo[i];
		int hf = strchr(h->ip, ':') ? AF_INET6 : AF_INET;

		if (hf == fam && inet_pton(hf, h->ip, b) == 1 &&
		    memcmp(a, b, fam == AF_INET ? 4 : 16) == 0)
			return h->name;
	}
	return role.cfg->hostname;
}

int
policy_pick_source(struct dest *d, int fam, char *out, size_t outsize)
{
	out[0] = '\0';
	if (d->n_src == 0)
		return 0;
	for (size_t k = 0; k < d->n_src; k++) {
		size_t i = (d->src_next + k) % d->n_src;
		int f = strchr(d->src_ips[i], ':') ? AF_INET6 : AF_INET;

		if (f == fam) {
			str_lcpy(out, d->src_ips[i], outsize);
			d->src_next = (unsigned)(i + 1);
			return 0;
		}
	}
	return -1;
}

/* A failed MTA-STS discovery or fetch of the recipient domain (RFC 8460 §4.3.2.2) is
 * reported once, with the next connection to the domain. */
static void
policy_tlsrpt_sts_failure(struct client *c, const char *raddr, const char *laddr)
{
	struct ipc_out o;
	const char *type;
	char reason[300];

	if (!sts_take_failure(c->dest, &type, reason, sizeof(reason)))
		return;
	ipc_out_init(&o);
	ipc_put_str(&o, c->dest->host);
	ipc_put_str(&o, "sts");
	ipc_put_str(&o, "");
	ipc_put_str(&o, c->mxname);
	ipc_put_str(&o, raddr);
	ipc_put_str(&o, laddr);
	ipc_put_u32(&o, 0);
	ipc_put_str(&o, type);
	ipc_put_str(&o, reason);
	ipc_put_str(&o, c->dest->rua);
	delivery_send_queue(IPC_TLSRPT_RESULT, &o);
	ipc_out_free(&o);
}

void
policy_tlsrpt(struct client *c, int success, const char *type, const char *reason)
{
	struct dest *d = c->dest;
	struct ipc_out o;
	int mx = d->addr_mx[c->addr_idx];
	const char *ptype = "no-policy-found", *pstr = "";
	char raddr[64] = "", laddr[64] = "";

	if (!d->outbound || d->tlsrpt_msg || c->tls_reported || c->treq == TREQ_NONE ||
	    c->treq == TREQ_LEGACY)
		return;	/* report messages are not counted in reports (RFC 8460 §5.3) */
	c->tls_reported = 1;
	if (mx >= 0 && policy_dane_applies(d, c->addr_idx)) {
		ptype = "tlsa";
		pstr = d->mxh[mx].tlsa_text;
	} else if (sts_policy_text(d) != NULL) {
		ptype = "sts";
		pstr = sts_policy_text(d);
	}
	delivery_addr_text(&d->addrs[c->addr_idx], raddr, sizeof(raddr));
	delivery_local_addr(c, laddr, sizeof(laddr));
	ipc_out_init(&o);
	ipc_put_str(&o, d->host);
	ipc_put_str(&o, ptype);
	ipc_put_str(&o, pstr);
	ipc_put_str(&o, c->mxname);
	ipc_put_str(&o, raddr);
	ipc_put_str(&o, laddr);
	ipc_put_u32(&o, success ? 1 : 0);
	ipc_put_str(&o, success ? "" : type);
	ipc_put_str(&o, success ? "" : reason);
	ipc_put_str(&o, d->rua);
	delivery_send_queue(IPC_TLSRPT_RESULT, &o);
	ipc_out_free(&o);
	policy_tlsrpt_sts_failure(c, raddr, laddr);
}
