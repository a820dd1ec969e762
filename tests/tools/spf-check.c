/* spf-check: runs mg_spf_check (filter/spf.c) from the command line, for the RFC 7208 suite
 * (tests/integ/test_spf_suite.py) and by hand.
 *   spf-check [-s SERVER[:PORT] | -z ZONEFILE] [-u] [-b] [-n N] IP HELO SENDER
 *   -s  resolve through common/dns.c (mg_dns_lookup_blocking) against SERVER (unbound in tests)
 *   -z  answer from a table (tests/unit/filter/test_spf_table.h format)
 *   -u  unguarded: libspf2 gets raw DNS text (test-only, shows what the guard prevents)
 *   -b  batch: read "IP<TAB>HELO<TAB>SENDER" lines from stdin, one result line each
 *   -n  benchmark: run the check N times, print CPU microseconds per check
 * Output, one line per check:
 *   RESULT identity=... lookups=N voids=N queries=N ar="spf=..." reason="..." exp="..."
 * Exit 0 when every check ran, 2 on usage or setup errors. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/dns.h"
#include "filter/spf.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "tests/unit/filter/test_spf_table.h"

struct server_ctx {
	struct mg_dns_config cfg;
};

static struct mg_dns_result *
server_lookup(void *ctx, const char *name, uint16_t type)
{
	struct server_ctx *s = ctx;

	return mg_dns_lookup_blocking(&s->cfg, name, type);
}

static int
run_one(struct mg_spf *spf, const struct mg_dns_lookup *dns, const char *ip, const char *helo,
    const char *sender)
{
	struct mg_spf_result res;
	char ar[512];
	int rc = mg_spf_check(spf, dns, ip, helo, sender, &res);

	if (mg_spf_auth_results(&res, ar, sizeof(ar)) < 0)
		ar[0] = '\0';
	printf("%s identity=%s lookups=%d voids=%d queries=%d ar=\"%s\" reason=\"%s\" exp=\"%s\"%s\n",
	    mg_spf_result_name(res.result), res.identity, res.dns_lookups, res.void_lookups,
	    res.dns_queries, ar, res.reason, res.explanation, rc < 0 ? " error=1" : "");
	fflush(stdout);
	return rc;
}

static int
run_batch(struct mg_spf *spf, const struct mg_dns_lookup *dns)
{
	char line[4096];

	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *f[3] = { NULL, NULL, NULL };
		char *p = line;
		size_t len = strlen(line);

		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		for (int i = 0; i < 3; i++) {
			f[i] = p;
			p = p != NULL ? strchr(p, '\t') : NULL;
			if (p != NULL)
				*p++ = '\0';
		}
		if (f[1] == NULL || f[2] == NULL) {
			printf("permerror error=1 reason=\"bad batch line\"\n");
			continue;
		}
		run_one(spf, dns, f[0], f[1], f[2]);
	}
	return 0;
}

static void
bench(struct mg_spf *spf, const struct mg_dns_lookup *dns, long long n, char **argv)
{
	struct timespec t0, t1;
	struct mg_spf_result res;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (long long i = 0; i < n; i++)
		mg_spf_check(spf, dns, argv[0], argv[1], argv[2], &res);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	printf("%s checks=%lld cpu_us_per_check=%.2f\n", mg_spf_result_name(res.result), n,
	    ((t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3) / (double)n);
}

int
main(int argc, char **argv)
{
	struct spf_table table = { 0 };
	struct server_ctx srv;
	struct mg_dns_lookup dns = { NULL, NULL };
	struct mg_spf *spf;
	const char *error, *zone = NULL, *server = NULL;
	long long n = 0;
	int c, batch = 0, unguarded = 0;

	memset(&srv, 0, sizeof(srv));
	while ((c = getopt(argc, argv, "s:z:ubn:")) != -1) {
		switch (c) {
		case 's':
			server = optarg;
			break;
		case 'z':
			zone = optarg;
			break;
		case 'u':
			unguarded = 1;
			break;
		case 'b':
			batch = 1;
			break;
		case 'n':
			if (strnum_ll(optarg, 1, 100000000, &n, &error) < 0) {
				fprintf(stderr, "spf-check: -n: %s\n", error);
				return 2;
			}
			break;
		default:
			goto usage;
		}
	}
	argc -= optind;
	argv += optind;
	if ((server == NULL) == (zone == NULL) || (!batch && argc != 3))
		goto usage;
	if (zone != NULL) {
		FILE *f = strcmp(zone, "-") == 0 ? stdin : fopen(zone, "r");

		if (f == NULL || spf_table_load(&table, f, &error) < 0) {
			fprintf(stderr, "spf-check: %s: %s\n", zone, f ? error : "cannot open");
			return 2;
		}
		if (f != stdin)
			fclose(f);
		dns = (struct mg_dns_lookup){ spf_table_lookup, &table };
	} else {
		str_lcpy(srv.cfg.servers[0], server, sizeof(srv.cfg.servers[0]));
		srv.cfg.n_servers = 1;
		srv.cfg.timeout_ms = 1500;
		srv.cfg.attempts = 2;
		srv.cfg.udp_size = 1232;
		dns = (struct mg_dns_lookup){ server_lookup, &srv };
	}
	if ((spf = mg_spf_new(&error)) == NULL) {
		fprintf(stderr, "spf-check: %s\n", error);
		return 2;
	}
	mg_spf_set_unguarded(spf, unguarded);
	if (n > 0)
		bench(spf, &dns, n, argv);
	else if (batch)
		run_batch(spf, &dns);
	else
		run_one(spf, &dns, argv[0], argv[1], argv[2]);
	mg_spf_free(&spf);
	spf_table_free(&table);
	return 0;
usage:
	fprintf(stderr, "usage: spf-check (-s SERVER[:PORT] | -z ZONEFILE) [-u] [-b | -n N] "
	    "IP HELO SENDER\n");
	return 2;
}
