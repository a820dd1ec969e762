/* dmarc-check: runs DMARC evaluation (dmarc/evaluate.c) from the command line, for
 * tests/integ/test_dmarc_rig.py and by hand.
 *   dmarc-check (-s SERVER[:PORT] | -z ZONEFILE) [-p PSLFILE] [-t MS] [-r RANDOM] [-i IP] [-R]
 *               [-n N] [-S RESULT:DOMAIN[:helo]] [-d RESULT:DOMAIN[:SELECTOR]]... (FROM | -m FILE)
 *   dmarc-check [-p PSLFILE] -O DOMAIN...        organisational domains, one per line
 *   -s  resolve through common/dns.c (mg_dns_lookup_blocking) against SERVER (unbound in tests)
 *   -z  answer from a table (tests/unit/dmarc/dmarc_table.h format)
 *   -t  per-attempt DNS timeout in ms (one attempt; default 1500 ms, two attempts)
 *   -r  the pct sampling value 0..99 (default 0: always sampled)
 *   -S  the SPF result and the domain it checked (e.g. pass:example.com, fail:x.example:helo)
 *   -d  one DKIM signature result (repeatable, at most 8)
 *   -m  take the From domain from the header section of a message file
 *   -R  also print the stored report row;  -n  run N times, print CPU microseconds per run
 * Output, one line: status=... policy=... sp=0|1 sampled=0|1 dis=... dkim_aligned=0|1
 * spf_aligned=0|1 from=... org=... record=... queries=N reason="..." ar="..."; with -m a From
 * that cannot be used prints from_status=... error="..." instead. Exit 0 when it ran, 2 on usage
 * or setup errors. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/dns.h"
#include "common/rfc5322.h"
#include "dmarc/dmarc.h"
#include "lib/buf.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "tests/unit/dmarc/dmarc_table.h"

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
parse_spf(const char *name, enum mg_dmarc_spf *out)
{
	for (int i = MG_DMARC_SPF_NONE; i <= MG_DMARC_SPF_PERMERROR; i++) {
		if (strcmp(name, mg_dmarc_spf_name((enum mg_dmarc_spf)i)) == 0) {
			*out = (enum mg_dmarc_spf)i;
			return 0;
		}
	}
	return -1;
}

static int
parse_dkim(const char *name, enum mg_dmarc_dkim *out)
{
	for (int i = MG_DMARC_DKIM_NONE; i <= MG_DMARC_DKIM_PERMERROR; i++) {
		if (strcmp(name, mg_dmarc_dkim_name((enum mg_dmarc_dkim)i)) == 0) {
			*out = (enum mg_dmarc_dkim)i;
			return 0;
		}
	}
	return -1;
}

/* "a:b[:c]" split in place into up to 3 fields; returns the count. */
static int
split3(char *s, char **f)
{
	int n = 0;

	f[0] = f[1] = f[2] = NULL;
	while (s != NULL && n < 3) {
		char *c = strchr(s, ':');

		f[n++] = s;
		if (c != NULL)
			*c++ = '\0';
		s = c;
	}
	return n;
}

static int
from_message(const char *path, char *out, size_t size)
{
	FILE *f = fopen(path, "r");
	struct buf b;
	char chunk[4096];
	size_t n;
	const char *error = NULL;
	enum mg_dmarc_from_status st;

	if (f == NULL) {
		fprintf(stderr, "dmarc-check: cannot open %s\n", path);
		return -2;
	}
	buf_init(&b, RFC5322_HEADER_READ_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(&b, chunk, n) < 0)
			break;
	fclose(f);
	st = mg_dmarc_from_domain(buf_slice(&b), out, size, &error);
	buf_free(&b);
	if (st != MG_DMARC_FROM_OK) {
		printf("from_status=%s error=\"%s\"\n", mg_dmarc_from_status_name(st), error);
		return -1;
	}
	return 0;
}

static void
print_result(const struct mg_dmarc_result *res, const struct mg_dmarc_input *in, const char *ip,
    int row)
{
	char ar[512];

	if (mg_dmarc_authres(res, ar, sizeof(ar)) < 0)
		ar[0] = '\0';
	printf("status=%s policy=%s sp=%d sampled=%d dis=%s dkim_aligned=%d spf_aligned=%d from=%s "
	    "org=%s record=%s queries=%d reason=\"%s\" ar=\"%s\"\n", mg_dmarc_status_name(res->status),
	    res->policy ? mg_dmarc_policy_name(res->policy) : "-", res->policy_is_sp, res->sampled,
	    mg_dmarc_disposition_name(res->disposition), res->dkim_aligned, res->spf_aligned,
	    res->header_from[0] ? res->header_from : "-", res->org_domain[0] ? res->org_domain : "-",
	    res->record_domain[0] ? res->record_domain : "-", res->dns_queries,
	    res->reason ? res->reason : "", ar);
	if (row) {
		struct buf b;

		buf_init(&b, MG_DMARC_ROW_MAX + 1);
		if (mg_dmarc_record_format(res, in, ip, (long long)time(NULL), &b) == 0)
			printf("row: %s\n", b.data);
		buf_free(&b);
	}
}

static int
org_domains(const struct mg_psl *psl, int argc, char **argv)
{
	char out[1024];

	for (int i = 0; i < argc; i++) {
		int rc = mg_psl_org_domain(psl, argv[i], out, sizeof(out));

		printf("%s %s%s\n", argv[i], rc < 0 ? "invalid" : out, rc == 1 ? " suffix" : "");
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct dt_table table;
	struct server_ctx srv;
	struct mg_dns_lookup dns = { NULL, NULL };
	struct mg_dmarc_dkim_sig sigs[MG_DMARC_DKIM_MAX];
	struct mg_dmarc_input in;
	struct mg_dmarc_result res;
	struct mg_psl *psl;
	char from[MG_DMARC_DOMAIN_MAX + 1];
	const char *error, *zone = NULL, *server = NULL, *pslpath = NULL, *msg = NULL;
	const char *ip = "192.0.2.1";
	long long n = 0, timeout = 0, rnd = 0;
	int c, row = 0, orgmode = 0, rc = 0;
	char *f[3];

	memset(&table, 0, sizeof(table));
	memset(&srv, 0, sizeof(srv));
	memset(&in, 0, sizeof(in));
	in.dkim = sigs;
	while ((c = getopt(argc, argv, "s:z:p:t:r:i:Rn:S:d:m:O")) != -1) {
		switch (c) {
		case 's': server = optarg; break;
		case 'z': zone = optarg; break;
		case 'p': pslpath = optarg; break;
		case 'i': ip = optarg; break;
		case 'm': msg = optarg; break;
		case 'R': row = 1; break;
		case 'O': orgmode = 1; break;
		case 't':
		case 'r':
		case 'n':
			if (strnum_ll(optarg, c == 'n' ? 1 : 0, c == 'r' ? 99 : 100000000,
			    c == 't' ? &timeout : c == 'r' ? &rnd : &n, &error) < 0) {
				fprintf(stderr, "dmarc-check: -%c: %s\n", c, error);
				return 2;
			}
			break;
		case 'S':
			if (split3(optarg, f) < 2 || parse_spf(f[0], &in.spf_result) < 0)
				goto usage;
			in.spf_domain = f[1];
			in.envelope_from = f[1];
			in.spf_is_helo = f[2] != NULL && strcmp(f[2], "helo") == 0;
			break;
		case 'd':
			if (in.n_dkim >= MG_DMARC_DKIM_MAX || split3(optarg, f) < 2 ||
			    parse_dkim(f[0], &sigs[in.n_dkim].result) < 0)
				goto usage;
			sigs[in.n_dkim].domain = f[1];
			sigs[in.n_dkim].selector = f[2];
			in.n_dkim++;
			break;
		default:
			goto usage;
		}
	}
	argc -= optind;
	argv += optind;
	if ((psl = mg_psl_new(pslpath, &error)) == NULL) {
		fprintf(stderr, "dmarc-check: %s: %s\n", pslpath ? pslpath : MG_PSL_DEFAULT_PATH, error);
		return 2;
	}
	if (orgmode) {
		org_domains(psl, argc, argv);
		mg_psl_free(&psl);
		return 0;
	}
	if ((server == NULL) == (zone == NULL) || (msg == NULL ? argc != 1 : argc != 0))
		goto usage;
	if (zone != NULL) {
		FILE *zf = strcmp(zone, "-") == 0 ? stdin : fopen(zone, "r");

		if (zf == NULL || dt_load(&table, zf, &error) < 0) {
			fprintf(stderr, "dmarc-check: %s: %s\n", zone, zf ? error : "cannot open");
			return 2;
		}
		if (zf != stdin)
			fclose(zf);
		dns = (struct mg_dns_lookup){ dt_lookup, &table };
	} else {
		str_lcpy(srv.cfg.servers[0], server, sizeof(srv.cfg.servers[0]));
		srv.cfg.n_servers = 1;
		srv.cfg.timeout_ms = timeout > 0 ? (int)timeout : 1500;
		srv.cfg.attempts = timeout > 0 ? 1 : 2;
		srv.cfg.udp_size = 1232;
		dns = (struct mg_dns_lookup){ server_lookup, &srv };
	}
	if (msg != NULL) {
		if ((rc = from_message(msg, from, sizeof(from))) < 0)
			goto out;
		in.header_from = from;
	} else {
		in.header_from = argv[0];
	}
	in.pct_random = (unsigned)rnd;
	{
		struct mg_dmarc_ctx ctx = { psl };
		struct timespec t0, t1;

		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
		for (long long i = 0; i < (n > 0 ? n : 1); i++)
			mg_dmarc_evaluate(&ctx, &dns, &in, &res);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
		print_result(&res, &in, ip, row);
		if (n > 0)
			printf("runs=%lld cpu_us_per_run=%.2f\n", n, ((t1.tv_sec - t0.tv_sec) * 1e6 +
			    (t1.tv_nsec - t0.tv_nsec) / 1e3) / (double)n);
	}
out:
	dt_free(&table);
	mg_psl_free(&psl);
	return rc == -2 ? 2 : 0;
usage:
	fprintf(stderr, "usage: dmarc-check (-s SERVER[:PORT] | -z ZONEFILE) [-p PSLFILE] [-t MS] "
	    "[-r 0..99] [-i IP] [-R] [-n N] [-S RESULT:DOMAIN[:helo]] [-d RESULT:DOMAIN[:SEL]]... "
	    "(FROM | -m FILE)\n       dmarc-check [-p PSLFILE] -O DOMAIN...\n");
	return 2;
}
