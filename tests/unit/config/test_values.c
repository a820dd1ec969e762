/* test_values.c: config/values.c through the table: each value type parses what it should,
 * rejects what it should (with the offending part and reason), and formats back in canonical
 * form; defaults are replaced, not leaked; lists append only where repeatable. */
#include <fcntl.h>

#include "unit.h"

#include "config/settings.h"
#include "lib/xalloc.h"

struct value_case {
	const char *name;	/* setting */
	int domain;		/* scope */
	const char *in;
	const char *want;	/* canonical text, or NULL when the value must be rejected */
	const char *bad;	/* when rejected: the offending part reported (NULL = whole value) */
};

static const struct value_case value_cases[] = {
	/* int */
	{ "max_recipients", 0, "1", "1", NULL },
	{ "max_recipients", 0, "10000", "10000", NULL },
	{ "max_recipients", 0, "0", NULL, NULL },
	{ "max_recipients", 0, "10001", NULL, NULL },
	{ "max_recipients", 0, " 5", NULL, NULL },
	{ "max_recipients", 0, "5x", NULL, NULL },
	{ "max_recipients", 0, "+5", NULL, NULL },
	{ "max_recipients", 0, "", NULL, NULL },
	{ "max_recipients", 0, "99999999999999999999999", NULL, NULL },
	{ "commit_batch_usec", 0, "0", "0", NULL },
	{ "commit_batch_usec", 0, "-1", NULL, NULL },
	{ "config_version", 0, "1", "1", NULL },
	{ "config_version", 0, "2", NULL, NULL },
	/* size */
	{ "max_message_size", 0, "50m", "50m", NULL },
	{ "max_message_size", 0, "1024", "1k", NULL },
	{ "max_message_size", 0, "1025", "1025", NULL },
	{ "max_message_size", 0, "2048k", "2m", NULL },
	{ "max_message_size", 0, "2g", "2g", NULL },
	{ "max_message_size", 0, "2G", "2g", NULL },
	{ "max_message_size", 0, "1023", NULL, NULL },
	{ "max_message_size", 0, "3g", NULL, NULL },
	{ "max_message_size", 0, "10mb", NULL, NULL },
	{ "max_message_size", 0, "m", NULL, NULL },
	{ "max_message_size", 0, "99999999999g", NULL, NULL },
	/* duration */
	{ "smtpd_timeout", 0, "300", "5m", NULL },
	{ "smtpd_timeout", 0, "90s", "90s", NULL },
	{ "smtpd_timeout", 0, "1h", "1h", NULL },
	{ "smtpd_timeout", 0, "0", NULL, NULL },
	{ "smtpd_timeout", 0, "61m", NULL, NULL },
	{ "smtpd_timeout", 0, "5 m", NULL, NULL },
	{ "queue_lifetime", 0, "1w", "7d", NULL },
	{ "queue_lifetime", 0, "30d", "30d", NULL },
	{ "delay_warning", 0, "0", "0", NULL },
	{ "retry_min", 0, "86400", "1d", NULL },
	/* double */
	{ "spam_reject", 1, "15", "15", NULL },
	{ "spam_reject", 1, "12.5", "12.5", NULL },
	{ "spam_reject", 1, "-3", "-3", NULL },
	{ "spam_reject", 1, "1e3", NULL, NULL },
	{ "spam_reject", 1, "1000.5", NULL, NULL },
	{ "spam_reject", 1, "nan", NULL, NULL },
	{ "spam_reject", 1, ".5", NULL, NULL },
	/* bool */
	{ "dkim_sign", 1, "yes", "yes", NULL },
	{ "dkim_sign", 1, "No", "no", NULL },
	{ "dkim_sign", 1, "1", NULL, NULL },
	/* enum */
	{ "log_level", 0, "debug", "debug", NULL },
	{ "log_level", 0, "DEBUG", NULL, NULL },
	{ "tls_policy", 1, "dane", "dane", NULL },
	{ "tls_policy", 1, "none", "none", NULL },
	{ "tls_policy", 1, "", NULL, NULL },
	{ "dkim_algorithm", 1, "ed25519", "ed25519", NULL },
	/* strings */
	{ "smtpd_banner", 0, "Hello # there", "Hello # there", NULL },
	{ "smtpd_banner", 0, "", NULL, NULL },
	{ "hostname", 0, "mx.example.net", "mx.example.net", NULL },
	{ "hostname", 0, "localhost", "localhost", NULL },
	{ "hostname", 0, "mx..example", NULL, NULL },
	{ "hostname", 0, "-mx.example", NULL, NULL },
	{ "hostname", 0, "mx-.example", NULL, NULL },
	{ "hostname", 0, "192.0.2.1", NULL, NULL },
	{ "user", 0, "_mailguard", "_mailguard", NULL },
	{ "user", 0, "a b", NULL, NULL },
	{ "spool_dir", 0, "/var/spool/mg", "/var/spool/mg", NULL },
	{ "spool_dir", 0, "spool", "spool", NULL },
	{ "spool_dir", 0, "", NULL, NULL },
	{ "tls_key", 0, "", "", NULL },
	/* address */
	{ "dmarc_rua", 1, "", "", NULL },
	{ "dmarc_rua", 1, "rua@example.org", "rua@example.org", NULL },
	{ "dmarc_rua", 1, "first.last+tag@example.org", "first.last+tag@example.org", NULL },
	{ "dmarc_rua", 1, "a..b@example.org", NULL, NULL },
	{ "dmarc_rua", 1, ".a@example.org", NULL, NULL },
	{ "dmarc_rua", 1, "@example.org", NULL, NULL },
	{ "dmarc_rua", 1, "a@", NULL, NULL },
	{ "dmarc_rua", 1, "\"q\"@example.org", NULL, NULL },
	/* listen */
	{ "listen", 0, "127.0.0.1:25", "127.0.0.1:25", NULL },
	{ "listen", 0, "127.0.0.1:0, [::1]:2525", "127.0.0.1:0 [::1]:2525", NULL },
	{ "listen", 0, "0.0.0.0:25 [::]:25", "0.0.0.0:25 [::]:25", NULL },
	{ "listen", 0, "", NULL, NULL },
	{ "listen", 0, "127.0.0.1:25 ::1:25", NULL, "::1:25" },
	{ "listen", 0, "127.0.0.1", NULL, "127.0.0.1" },
	{ "listen", 0, "[192.0.2.1]:25", NULL, "[192.0.2.1]:25" },
	{ "listen", 0, "localhost:25", NULL, "localhost:25" },
	{ "listen", 0, "127.0.0.1:65536", NULL, "127.0.0.1:65536" },
	{ "listen", 0, "127.0.0.1:", NULL, "127.0.0.1:" },
	/* cidr list */
	{ "mynetworks", 0, "", "", NULL },
	{ "mynetworks", 0, "10.0.0.0/8,192.0.2.1", "10.0.0.0/8 192.0.2.1/32", NULL },
	{ "mynetworks", 0, "10.0.0.0/8 10.0.0.1/8", NULL, "10.0.0.1/8" },
	/* ip list */
	{ "outbound_ips", 1, "192.0.2.1 2001:db8::1", "192.0.2.1 2001:db8::1", NULL },
	{ "outbound_ips", 1, "192.0.2.1 192.0.2.0/24", NULL, "192.0.2.0/24" },
	/* layers */
	{ "disable_layers", 1, "dmarc rbl,rbl", "rbl dmarc", NULL },
	{ "disable_layers", 1, "rbl phishing suspicious_tld bayes neural greylist spf dkim dmarc",
	  "rbl phishing suspicious_tld bayes neural greylist spf dkim dmarc", NULL },
	{ "disable_layers", 1, "rbl virus", NULL, "virus" },
	/* transport */
	{ "transport", 1, "mail.example.org", "mail.example.org", NULL },
	{ "transport", 1, "mail.example.org:2525", "mail.example.org:2525", NULL },
	{ "transport", 1, "mail.example.org:25", "mail.example.org", NULL },
	{ "transport", 1, "[mail.example.org]", "[mail.example.org]", NULL },
	{ "transport", 1, "[mail.example.org]:587", "[mail.example.org]:587", NULL },
	{ "transport", 1, "192.0.2.5", "[192.0.2.5]", NULL },
	{ "transport", 1, "[2001:db8::5]:2525", "[2001:db8::5]:2525", NULL },
	{ "transport", 1, "2001:db8::5", NULL, NULL },
	{ "transport", 1, "[mail.example.org", NULL, NULL },
	{ "transport", 1, "[mail.example.org]x", NULL, NULL },
	{ "transport", 1, "mail.example.org:0", NULL, NULL },
	{ "transport", 1, "mail.example.org:x", NULL, NULL },
	{ "transport", 1, "", NULL, NULL },
	{ "transport", 1, "[]", NULL, NULL },
	/* rate */
	{ "outbound_rate", 1, "", "", NULL },
	{ "outbound_rate", 1, "200/min", "200/min", NULL },
	{ "outbound_rate", 1, "1/sec", "1/sec", NULL },
	{ "outbound_rate", 1, "5/hour", "5/hour", NULL },
	{ "outbound_rate", 1, "100000/day", "100000/day", NULL },
	{ "outbound_rate", 1, "0/min", NULL, NULL },
	{ "outbound_rate", 1, "200", NULL, NULL },
	{ "outbound_rate", 1, "/min", NULL, NULL },
	{ "outbound_rate", 1, "200/minute", NULL, NULL },
	/* header_rewrite */
	{ "header_rewrite", 1, "add X-Foo: bar", "add X-Foo: bar", NULL },
	{ "header_rewrite", 1, "add X-Foo:", "add X-Foo:", NULL },
	{ "header_rewrite", 1, "ADD X-Foo: bar # baz", "ADD X-Foo: bar # baz", NULL },
	{ "header_rewrite", 1, "remove Received", "remove Received", NULL },
	{ "header_rewrite", 1, "replace Subject: [ext] x", "replace Subject: [ext] x", NULL },
	{ "header_rewrite", 1, "sender a@example.org b@example.org",
	  "sender a@example.org b@example.org", NULL },
	{ "header_rewrite", 1, "sender @a.example @b.example", "sender @a.example @b.example",
	  NULL },
	{ "header_rewrite", 1, "add X-Foo bar", NULL, NULL },
	{ "header_rewrite", 1, "add : bar", NULL, NULL },
	{ "header_rewrite", 1, "remove X-Foo: bar", NULL, NULL },
	{ "header_rewrite", 1, "remove", NULL, NULL },
	{ "header_rewrite", 1, "sender a@example.org", NULL, NULL },
	{ "header_rewrite", 1, "sender a@example.org @b.example", NULL, NULL },
	{ "header_rewrite", 1, "sender a@example.org b@example.org c", NULL, NULL },
	{ "header_rewrite", 1, "rename X-A X-B", NULL, NULL },
};

static void
test_values(void)
{
	for (size_t i = 0; i < sizeof(value_cases) / sizeof(value_cases[0]); i++) {
		const struct value_case *c = &value_cases[i];
		enum setting_scope scope = c->domain ? SCOPE_DOMAIN : SCOPE_GLOBAL;
		const struct setting *s = config_setting_find(c->name, scope);
		struct mg_config cfg;
		struct mg_domain dom;
		void *obj = c->domain ? (void *)&dom : (void *)&cfg;
		struct value_error e;
		struct buf out;
		int r;

		if (s == NULL) {
			CHECK(0, "no setting %s", c->name);
			continue;
		}
		memset(&cfg, 0, sizeof(cfg));
		memset(&dom, 0, sizeof(dom));
		config_defaults_apply(scope, obj);
		r = config_value_parse(s, c->in, obj, &e);
		CHECK(r == (c->want ? 0 : -1), "%s = \"%s\": got %d, want %d", c->name, c->in, r,
		    c->want ? 0 : -1);
		buf_init(&out, 65536);
		if (r == 0 && c->want != NULL) {
			config_value_format(s, obj, &out);
			CHECK(strcmp(out.data ? out.data : "", c->want) == 0, "%s = \"%s\": formats as "
			    "\"%s\", want \"%s\"", c->name, c->in, out.data ? out.data : "", c->want);
		} else if (r < 0 && c->bad != NULL) {
			CHECK(e.bad.len == strlen(c->bad) && memcmp(e.bad.p, c->bad, e.bad.len) == 0,
			    "%s = \"%s\": bad part \"%.*s\", want \"%s\"", c->name, c->in,
			    (int)e.bad.len, e.bad.p, c->bad);
		}
		buf_free(&out);
		config_settings_free(scope, obj);
	}
}

/* A rejected value leaves the previous one in place. */
static void
test_error_keeps_old(void)
{
	const struct setting *s = config_setting_find("listen", SCOPE_GLOBAL);
	struct mg_config cfg;
	struct value_error e;

	memset(&cfg, 0, sizeof(cfg));
	config_defaults_apply(SCOPE_GLOBAL, &cfg);
	CHECK_INT(config_value_parse(s, "127.0.0.1:25 bad", &cfg, &e), -1);
	CHECK_INT(cfg.n_listen, 1);
	CHECK_STR(cfg.listen[0], "127.0.0.1:2525");
	config_settings_free(SCOPE_GLOBAL, &cfg);
	CHECK(cfg.listen == NULL && cfg.n_listen == 0, "free left listen");
}

/* Repeatable settings append; others replace. */
static void
test_repeat(void)
{
	const struct setting *hr = config_setting_find("header_rewrite", SCOPE_DOMAIN);
	const struct setting *ips = config_setting_find("outbound_ips", SCOPE_DOMAIN);
	struct mg_domain d;
	struct value_error e;

	memset(&d, 0, sizeof(d));
	config_defaults_apply(SCOPE_DOMAIN, &d);
	CHECK_INT(d.n_header_rewrite, 0);
	CHECK_INT(config_value_parse(hr, "remove A", &d, &e), 0);
	CHECK_INT(config_value_parse(hr, "", &d, &e), 0);
	CHECK_INT(config_value_parse(hr, "remove B", &d, &e), 0);
	CHECK_INT(d.n_header_rewrite, 2);
	CHECK_STR(d.header_rewrite[1].text, "remove B");
	CHECK_INT(config_value_parse(ips, "192.0.2.1", &d, &e), 0);
	CHECK_INT(config_value_parse(ips, "192.0.2.2 192.0.2.3", &d, &e), 0);
	CHECK_INT(d.n_outbound_ips, 2);
	CHECK_STR(d.outbound_ips[0], "192.0.2.2");
	config_settings_free(SCOPE_DOMAIN, &d);
}

/* Fields written by multi-field types. */
static void
test_fields(void)
{
	const struct setting *t = config_setting_find("transport", SCOPE_DOMAIN);
	const struct setting *r = config_setting_find("outbound_rate", SCOPE_DOMAIN);
	const struct setting *l = config_setting_find("disable_layers", SCOPE_DOMAIN);
	const struct setting *a = config_setting_find("dkim_algorithm", SCOPE_DOMAIN);
	struct mg_domain d;
	struct value_error e;

	memset(&d, 0, sizeof(d));
	config_defaults_apply(SCOPE_DOMAIN, &d);
	CHECK_INT(config_value_parse(t, "mx.example.org", &d, &e), 0);
	CHECK_STR(d.transport_host, "mx.example.org");
	CHECK_INT(d.transport_port, 25);
	CHECK_INT(d.transport_mx, 1);
	CHECK_INT(config_value_parse(t, "[2001:db8::1]:2525", &d, &e), 0);
	CHECK_STR(d.transport_host, "2001:db8::1");
	CHECK_INT(d.transport_port, 2525);
	CHECK_INT(d.transport_mx, 0);
	CHECK_INT(config_value_parse(t, "192.0.2.1:26", &d, &e), 0);
	CHECK_INT(d.transport_mx, 0);
	CHECK_INT(d.transport_port, 26);
	CHECK_INT(d.outbound_rate_count, 0);
	CHECK_INT(config_value_parse(r, "200/min", &d, &e), 0);
	CHECK_INT(d.outbound_rate_count, 200);
	CHECK_INT(d.outbound_rate_period, 60);
	CHECK_INT(config_value_parse(r, "3/day", &d, &e), 0);
	CHECK_INT(d.outbound_rate_period, 86400);
	CHECK_INT(config_value_parse(l, "rbl dmarc greylist", &d, &e), 0);
	CHECK_INT(d.disable_layers, MG_LAYER_RBL | MG_LAYER_DMARC | MG_LAYER_GREYLIST);
	CHECK_INT(config_value_parse(a, "both", &d, &e), 0);
	CHECK_INT(d.dkim_algorithm, MG_DKIM_BOTH);
	CHECK_INT(d.tls_policy, MG_TLS_MAY);
	CHECK(d.spam_reject == 15.0 && d.spam_quarantine == 6.0 && d.greylist == 4.0,
	    "thresholds: got %g %g %g, want 15 6 4", d.spam_reject, d.spam_quarantine, d.greylist);
	config_settings_free(SCOPE_DOMAIN, &d);
}

struct fmt_case {
	long long v;
	const char *size, *duration;
};

static const struct fmt_case fmt_cases[] = {
	{ 0, "0", "0" },
	{ 1, "1", "1s" },
	{ 60, "60", "1m" },
	{ 90, "90", "90s" },
	{ 1024, "1k", "1024s" },
	{ 3600, "3600", "1h" },
	{ 86400, "86400", "1d" },
	{ 604800, "604800", "7d" },
	{ 52428800, "50m", "52428800s" },
	{ 2147483648LL, "2g", "2147483648s" },
};

static void
test_format(void)
{
	for (size_t i = 0; i < sizeof(fmt_cases) / sizeof(fmt_cases[0]); i++) {
		struct buf b;

		buf_init(&b, 100);
		config_format_size(fmt_cases[i].v, &b);
		CHECK_STR(b.data, fmt_cases[i].size);
		buf_reset(&b);
		config_format_duration(fmt_cases[i].v, &b);
		CHECK_STR(b.data, fmt_cases[i].duration);
		buf_free(&b);
	}
}

static void
test_hostname_default(void)
{
	struct mg_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	config_defaults_apply(SCOPE_GLOBAL, &cfg);
	CHECK(cfg.hostname != NULL && config_is_domain_name(cfg.hostname, strlen(cfg.hostname)),
	    "default hostname: got \"%s\", want a valid host name", cfg.hostname);
	CHECK_STR(cfg.log_level, "info");
	CHECK_INT(cfg.max_message_size, 50LL * 1024 * 1024);
	CHECK_INT(cfg.queue_lifetime, 5 * 86400);
	CHECK_INT(cfg.mynetworks.n, 2);
	config_settings_free(SCOPE_GLOBAL, &cfg);
}

static const struct unit_case cases[] = {
	{ "values", test_values },
	{ "error_keeps_old", test_error_keeps_old },
	{ "repeat", test_repeat },
	{ "fields", test_fields },
	{ "format", test_format },
	{ "hostname_default", test_hostname_default },
};

UNIT_MAIN(cases)
