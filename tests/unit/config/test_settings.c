/* test_settings.c: the settings table itself: unique names, sane rows, defaults that parse and
 * lie within bounds, layer and enum orders that match config.h, the restart-only set, and the
 * checked-in doc/mailguard.conf.5 equal to the page generated from the table. */
#include <fcntl.h>

#include "unit.h"

#include "config/settings.h"
#include "lib/buf.h"

static void
test_rows(void)
{
	for (size_t i = 0; i < config_n_settings; i++) {
		const struct setting *s = &config_settings[i];

		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(s->name, config_settings[j].name) != 0, "%s: duplicate name",
			    s->name);
		CHECK(s->doc != NULL && strlen(s->doc) > 10, "%s: no doc", s->name);
		CHECK(s->issue != NULL && strlen(s->issue) == 1 && s->issue[0] >= 'A' &&
		    s->issue[0] <= 'Z', "%s: issue \"%s\", want one capital letter", s->name,
		    s->issue ? s->issue : "(null)");
		CHECK((s->def == NULL) == ((s->flags & SET_REQUIRED) != 0),
		    "%s: default must be NULL exactly when required", s->name);
		CHECK(s->min <= s->max, "%s: min %lld > max %lld", s->name, s->min, s->max);
		CHECK(s->type < T_COUNT_, "%s: bad type", s->name);
		CHECK(strspn(s->name, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(s->name),
		    "%s: names are lower_snake", s->name);
		if (s->type == T_INT)
			CHECK(s->size == sizeof(int) || s->size == sizeof(long) ||
			    s->size == sizeof(long long), "%s: bad int size %zu", s->name, s->size);
		if (s->type == T_ENUM || s->type == T_LAYERS)
			CHECK(s->choices != NULL, "%s: no choices", s->name);
		CHECK(config_setting_find(s->name, s->scope) == s, "%s: find", s->name);
	}
	CHECK(config_setting_find("transport", SCOPE_GLOBAL) == NULL, "transport is per-domain");
	CHECK(config_setting_find("nonexistent", SCOPE_DOMAIN) == NULL, "found nonexistent");
}

/* Every default parses (config_defaults_apply panics otherwise) and survives a format and
 * re-parse unchanged (what -P prints is what a file may say). */
static void
test_defaults_roundtrip(void)
{
	for (size_t i = 0; i < config_n_settings; i++) {
		const struct setting *s = &config_settings[i];
		struct mg_config c1, c2;
		struct mg_domain d1, d2;
		void *o1 = s->scope == SCOPE_GLOBAL ? (void *)&c1 : (void *)&d1;
		void *o2 = s->scope == SCOPE_GLOBAL ? (void *)&c2 : (void *)&d2;
		struct buf a, b;
		struct value_error e;

		if (s->def == NULL || (s->flags & SET_REPEAT))
			continue;
		memset(&c1, 0, sizeof(c1));
		memset(&c2, 0, sizeof(c2));
		memset(&d1, 0, sizeof(d1));
		memset(&d2, 0, sizeof(d2));
		buf_init(&a, 65536);
		buf_init(&b, 65536);
		CHECK(config_value_parse(s, s->def, o1, &e) == 0, "%s: default '%s' does not parse",
		    s->name, s->def);
		config_value_format(s, o1, &a);
		CHECK(config_value_parse(s, a.data ? a.data : "", o2, &e) == 0, "%s: '%s' does not "
		    "parse back", s->name, a.data ? a.data : "");
		config_value_format(s, o2, &b);
		CHECK(strcmp(a.data ? a.data : "", b.data ? b.data : "") == 0, "%s: round trip: got "
		    "\"%s\", want \"%s\"", s->name, b.data ? b.data : "", a.data ? a.data : "");
		config_value_free(s, o1);
		config_value_free(s, o2);
		buf_free(&a);
		buf_free(&b);
	}
}

static void
test_enum_orders(void)
{
	static const struct {
		const char *setting, *choice;
		long long bit;
	} want[] = {
		{ "disable_layers", "rbl", MG_LAYER_RBL },
		{ "disable_layers", "phishing", MG_LAYER_PHISHING },
		{ "disable_layers", "suspicious_tld", MG_LAYER_SUSPICIOUS_TLD },
		{ "disable_layers", "bayes", MG_LAYER_BAYES },
		{ "disable_layers", "neural", MG_LAYER_NEURAL },
		{ "disable_layers", "greylist", MG_LAYER_GREYLIST },
		{ "disable_layers", "spf", MG_LAYER_SPF },
		{ "disable_layers", "dkim", MG_LAYER_DKIM },
		{ "disable_layers", "dmarc", MG_LAYER_DMARC },
		{ "tls_policy", "none", 1LL << MG_TLS_NONE },
		{ "tls_policy", "may", 1LL << MG_TLS_MAY },
		{ "tls_policy", "encrypt", 1LL << MG_TLS_ENCRYPT },
		{ "tls_policy", "dane", 1LL << MG_TLS_DANE },
		{ "dkim_algorithm", "rsa2048", 1LL << MG_DKIM_RSA2048 },
		{ "dkim_algorithm", "ed25519", 1LL << MG_DKIM_ED25519 },
		{ "dkim_algorithm", "both", 1LL << MG_DKIM_BOTH },
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct setting *s = config_setting_find(want[i].setting, SCOPE_DOMAIN);
		long long got = 0;

		for (int j = 0; s && s->choices[j]; j++)
			if (strcmp(s->choices[j], want[i].choice) == 0)
				got = 1LL << j;
		CHECK(got == want[i].bit, "%s %s: got bit 0x%llx, want 0x%llx", want[i].setting,
		    want[i].choice, got, want[i].bit);
	}
}

static void
test_restart_only(void)
{
	struct buf b;

	buf_init(&b, 1024);
	for (size_t i = 0; i < config_n_settings; i++)
		if (!config_settings[i].reloadable)
			buf_printf(&b, "%s%s", b.len ? " " : "", config_settings[i].name);
	CHECK_STR(b.data, "listen submission_listen submissions_listen spool_dir state_dir user resolvers dns_timeout_ms dns_attempts filter_threads filter_queue_max psl_file admin_listen metrics_listen");
	buf_free(&b);
}

static void
test_in_effect(void)
{
	struct buf b;

	buf_init(&b, 1024);
	for (size_t i = 0; i < config_n_settings; i++)
		if (config_settings[i].scope == SCOPE_DOMAIN &&
		    config_setting_in_effect(&config_settings[i]))
			buf_printf(&b, "%s%s", b.len ? " " : "", config_settings[i].name);
	CHECK_STR(b.data, "transport spam_reject spam_quarantine greylist dkim_sign dkim_algorithm "
	    "dmarc_rua tlsrpt_rua digest_from tls_policy header_rewrite outbound_rate outbound_ips "
	    "disable_layers");
	buf_free(&b);
}

/* doc/mailguard.conf.5 must be the generated page (run from the top of the tree). */
static void
test_man_page_current(void)
{
	char *gen = NULL, *disk = NULL;
	size_t glen = 0, dlen = 0;
	FILE *f = open_memstream(&gen, &glen);
	FILE *d = fopen("doc/mailguard.conf.5", "r");

	config_print_man(f);
	fclose(f);
	CHECK(d != NULL, "cannot open doc/mailguard.conf.5 (run from the top of the tree)");
	if (d != NULL) {
		FILE *m = open_memstream(&disk, &dlen);
		char chunk[4096];
		size_t n;

		while ((n = fread(chunk, 1, sizeof(chunk), d)) > 0)
			fwrite(chunk, 1, n, m);
		fclose(m);
		fclose(d);
		if (dlen != glen || memcmp(disk, gen, glen) != 0) {
			size_t line = 1;

			for (size_t i = 0; i < glen && i < dlen && disk[i] == gen[i]; i++)
				line += gen[i] == '\n';
			CHECK(0, "doc/mailguard.conf.5 differs from the table from line %zu: "
			    "regenerate with build/tests/tools/gen-conf-man > doc/mailguard.conf.5",
			    line);
		}
	}
	free(gen);
	free(disk);
}

static const struct unit_case cases[] = {
	{ "rows", test_rows },
	{ "defaults_roundtrip", test_defaults_roundtrip },
	{ "enum_orders", test_enum_orders },
	{ "restart_only", test_restart_only },
	{ "in_effect", test_in_effect },
	{ "man_page_current", test_man_page_current },
};

UNIT_MAIN(cases)
