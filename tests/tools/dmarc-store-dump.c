/* dmarc-store-dump: lists the incoming DMARC reports stored in a state database (integration
 * tests; the daemon must be stopped). Usage: dmarc-store-dump <state_dir>/db <domain>
 * Prints one line per report, newest first:
 *   report TAB identity TAB org TAB report_id TAB records TAB total TAB records found stored
 * then one line per source IP of the summary (all days):
 *   sum <ip> <messages> <dmarc pass> <dkim pass> <spf pass> <quarantine> <reject> */
#include <stdio.h>
#include <stdlib.h>

#include "dmarc/dmarc.h"
#include "lib/kvdb.h"
#include "lib/log.h"
#include "lib/xalloc.h"

int
main(int argc, char **argv)
{
	struct mg_kvdb *kv;
	struct mg_rstore *s;
	struct mg_rstore_info *v = NULL;
	struct mg_rstore_sum *sum = NULL;
	size_t n = 0, ns = 0;
	const char *err;
	struct buf recs;
	int rc = 0;

	log_init("dmarc-store-dump", 1, LOG_LVL_WARN);
	if (argc != 3) {
		fprintf(stderr, "usage: dmarc-store-dump DBDIR DOMAIN\n");
		return 2;
	}
	if ((kv = mg_kvdb_open(argv[1], &err)) == NULL || (s = mg_rstore_open(kv, &err)) == NULL) {
		fprintf(stderr, "dmarc-store-dump: %s: %s\n", argv[1], err);
		return 1;
	}
	buf_init(&recs, 256u * 1024 * 1024);
	if (mg_rstore_list(s, argv[2], 1000000, &v, &n) < 0)
		rc = 1;
	for (size_t i = 0; i < n; i++) {
		long long nr;

		buf_reset(&recs);
		nr = mg_rstore_records(s, v[i].domain, v[i].identity, &recs);
		printf("report\t%s\t%s\t%s\t%llu\t%llu\t%lld\n",
		    v[i].identity, v[i].org, v[i].report_id, v[i].records, v[i].total, nr);
	}
	if (mg_rstore_summary(s, argv[2], 0, &sum, &ns) < 0)
		rc = 1;
	for (size_t i = 0; i < ns; i++)
		printf("sum %s %llu %llu %llu %llu %llu %llu\n", sum[i].ip, sum[i].n[0], sum[i].n[1],
		    sum[i].n[2], sum[i].n[3], sum[i].n[4], sum[i].n[5]);
	buf_free(&recs);
	xfree(v);
	xfree(sum);
	mg_rstore_free(&s);
	mg_kvdb_close(&kv);
	return rc;
}
