/* test_policy.c: delivery/policy.c without sockets: the TLS requirement per connection from the
 * sender domain's tls_policy and the MX host's DNSSEC/TLSA state (RFC 7672 §2.2), source
 * address round robin per family (outbound_ips) and the EHLO name per source address
 * (outbound_helo, parsed by the real config parser, which also rejects bad lines). */
#include "unit.h"

#include "common/role.h"
#include "config/config.h"
#include "delivery/delivery_int.h"

static struct mg_config *
parse(const char *text)
{
	return config_parse_text("test.conf", text, strlen(text), NULL);
}

static void
test_helo_map(void)
{
	struct mg_config *cfg = parse("config_version = 1\nhostname = mg.example.org\n"
	    "outbound_helo = 127.0.0.2 out2.example.net\noutbound_helo = ::1 six.example.net\n");

	CHECK(cfg != NULL, "config did not parse");
	if (cfg == NULL)
		return;
	role.cfg = cfg;
	CHECK_INT(cfg->n_outbound_helo, 2);
	CHECK_STR(policy_helo_name("127.0.0.2"), "out2.example.net");
	CHECK_STR(policy_helo_name("0:0::1"), "six.example.net");	/* compared as addresses */
	CHECK_STR(policy_helo_name("127.0.0.9"), "mg.example.org");
	CHECK_STR(policy_helo_name(""), "mg.example.org");
	config_free(&cfg);
	role.cfg = NULL;
}

static void
test_helo_map_errors(void)
{
	static const char *const bad[] = {
		"config_version = 1\noutbound_helo = mail.example 127.0.0.2\n",
		"config_version = 1\noutbound_helo = 127.0.0.2\n",
		"config_version = 1\noutbound_helo = 127.0.0.2 a.example extra\n",
		"config_version = 1\noutbound_helo = 127.0.0.2 bad_name!\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mg_config *cfg = parse(bad[i]);

		CHECK(cfg == NULL, "case %zu accepted: %s", i, bad[i]);
		config_free(&cfg);
	}
}

static void
test_pick_source(void)
{
	static char *ips[] = { "127.0.0.2", "::1", "127.0.0.3" };
	struct dest d;
	char out[64];

	memset(&d, 0, sizeof(d));
	CHECK_INT(policy_pick_source(&d, AF_INET, out, sizeof(out)), 0);
	CHECK_STR(out, "");	/* no outbound_ips: the system's choice */
	d.src_ips = ips;
	d.n_src = 3;
	CHECK_INT(policy_pick_source(&d, AF_INET, out, sizeof(out)), 0);
	CHECK_STR(out, "127.0.0.2");
	CHECK_INT(policy_pick_source(&d, AF_INET, out, sizeof(out)), 0);
	CHECK_STR(out, "127.0.0.3");
	CHECK_INT(policy_pick_source(&d, AF_INET, out, sizeof(out)), 0);
	CHECK_STR(out, "127.0.0.2");
	CHECK_INT(policy_pick_source(&d, AF_INET6, out, sizeof(out)), 0);
	CHECK_STR(out, "::1");
	d.n_src = 1;	/* IPv4 only */
	CHECK_INT(policy_pick_source(&d, AF_INET6, out, sizeof(out)), -1);
}

static void
test_tls_requirement(void)
{
	static struct dest d;	/* large: keep it off the stack */

	memset(&d, 0, sizeof(d));
	d.n_addrs = 1;
	d.addr_mx[0] = 0;
	d.n_mxh = 1;
	CHECK_INT(policy_tls_req(&d, 0), TREQ_LEGACY);	/* inbound relay */
	d.outbound = 1;
	d.tls_policy = MG_TLS_NONE;
	CHECK_INT(policy_tls_req(&d, 0), TREQ_NONE);
	d.tls_policy = MG_TLS_MAY;
	CHECK_INT(policy_tls_req(&d, 0), TREQ_MAY);
	d.tls_policy = MG_TLS_ENCRYPT;
	CHECK_INT(policy_tls_req(&d, 0), TREQ_ENCRYPT);
	d.tls_policy = MG_TLS_DANE;
	d.mxh[0].tlsa_state = MXT_USABLE;
	CHECK_INT(policy_tls_req(&d, 0), TREQ_MAY);	/* MX RRset insecure */
	d.mx_secure = 1;
	CHECK_INT(policy_tls_req(&d, 0), TREQ_DANE);
	d.mxh[0].insecure_addr = 1;
	CHECK_INT(policy_tls_req(&d, 0), TREQ_MAY);	/* address records insecure */
	d.mxh[0].insecure_addr = 0;
	d.mxh[0].tlsa_state = MXT_UNUSABLE;
	CHECK_INT(policy_tls_req(&d, 0), TREQ_ENCRYPT);	/* only PKIX-* records: TLS, no auth */
	d.mxh[0].tlsa_state = MXT_NONE;
	CHECK_INT(policy_tls_req(&d, 0), TREQ_MAY);
	d.addr_mx[0] = -1;	/* static transport */
	d.mxh[0].tlsa_state = MXT_USABLE;
	CHECK_INT(policy_tls_req(&d, 0), TREQ_MAY);
}

/* Which hosts DANE governs (the rest may fall back to MTA-STS, RFC 8461 §2), and TLS-RPT
 * report messages, which get opportunistic TLS under every policy (RFC 8460 §5.3). */
static void
test_dane_applies_and_reports(void)
{
	static struct dest d;
	static const enum mg_tls_policy pols[] = { MG_TLS_NONE, MG_TLS_MAY, MG_TLS_ENCRYPT,
		MG_TLS_DANE };

	memset(&d, 0, sizeof(d));
	d.n_addrs = 1;
	d.n_mxh = 1;
	d.outbound = 1;
	d.tls_policy = MG_TLS_DANE;
	d.mx_secure = 1;
	d.mxh[0].tlsa_state = MXT_USABLE;
	CHECK_INT(policy_dane_applies(&d, 0), 1);
	d.mxh[0].tlsa_state = MXT_UNUSABLE;
	CHECK_INT(policy_dane_applies(&d, 0), 1);
	d.mxh[0].tlsa_state = MXT_NONE;
	CHECK_INT(policy_dane_applies(&d, 0), 0);	/* no TLSA: MTA-STS may apply */
	d.mxh[0].tlsa_state = MXT_USABLE;
	d.mx_secure = 0;
	CHECK_INT(policy_dane_applies(&d, 0), 0);	/* insecure MX RRset */
	d.mx_secure = 1;
	CHECK_INT(policy_dane_applies(&d, 1), 0);	/* no such address */
	d.tls_policy = MG_TLS_ENCRYPT;
	CHECK_INT(policy_dane_applies(&d, 0), 0);	/* DANE only for tls_policy dane */
	d.tlsrpt_msg = 1;
	for (size_t i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
		d.tls_policy = pols[i];
		CHECK(policy_tls_req(&d, 0) == TREQ_MAY, "report message under policy %d: got %d",
		    (int)pols[i], (int)policy_tls_req(&d, 0));
		CHECK_INT(policy_dane_applies(&d, 0), 0);
	}
}

static const struct unit_case cases[] = {
	{ "helo_map", test_helo_map },
	{ "helo_map_errors", test_helo_map_errors },
	{ "pick_source", test_pick_source },
	{ "tls_requirement", test_tls_requirement },
	{ "dane_applies_and_reports", test_dane_applies_and_reports },
};

UNIT_MAIN(cases)
