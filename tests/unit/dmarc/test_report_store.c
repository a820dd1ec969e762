/* Unit tests for dmarc/report_store.c in a temporary Berkeley DB environment: a report is
 * stored once (the second put is a duplicate), listed with its counts, its records read back,
 * the per-IP summary adds counts over records of one IP, and expiry removes everything
 * received before now - retention while keeping newer entries. */
#include <stdlib.h>

#include "unit.h"

#include "dmarc/dmarc.h"
#include "lib/kvdb.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static const char XML[] =
    "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>Org A</org_name>"
    "<email>a@a.test</email><report_id>r1</report_id><date_range><begin>1700000000</begin>"
    "<end>1700086399</end></date_range></report_metadata><policy_published><domain>example.com"
    "</domain><p>reject</p></policy_published>"
    "<record><row><source_ip>192.0.2.1</source_ip><count>3</count><policy_evaluated>"
    "<disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>"
    "<identifiers><header_from>example.com</header_from></identifiers></record>"
    "<record><row><source_ip>192.0.2.1</source_ip><count>2</count><policy_evaluated>"
    "<disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>"
    "<identifiers><header_from>example.com</header_from></identifiers></record>"
    "<record><row><source_ip>2001:db8::1</source_ip><count>4</count><policy_evaluated>"
    "<disposition>quarantine</disposition><dkim>fail</dkim><spf>pass</spf></policy_evaluated>"
    "</row><identifiers><header_from>example.com</header_from></identifiers></record>"
    "</feedback>";

static void
test_store_list_sum_expire(void)
{
	char tmpl[] = "/tmp/test_report_store.XXXXXX", dir[64], cmd[128];
	struct mg_report_err e;
	struct mg_report *r;
	struct mg_kvdb *kv;
	struct mg_rstore *s;
	struct mg_rstore_info *v = NULL;
	struct mg_rstore_sum *sum = NULL;
	size_t n = 0, removed = 0;
	const char *err = NULL;
	struct buf recs;

	log_init("test_report_store", 1, LOG_LVL_WARN);
	mg_report_init();
	CHECK(mkdtemp(tmpl) != NULL, "mkdtemp");
	snprintf(dir, sizeof(dir), "%s/db", tmpl);
	kv = mg_kvdb_open(dir, &err);
	CHECK(kv != NULL, "open: %s", err ? err : "-");
	s = mg_rstore_open(kv, &err);
	CHECK(s != NULL, "rstore: %s", err ? err : "-");
	r = mg_report_parse_xml(XML, sizeof(XML) - 1, NULL, &e);
	CHECK(r != NULL, "parse: %s", e.text);
	if (kv == NULL || s == NULL || r == NULL)
		return;
	CHECK_INT(mg_rstore_put(s, "example.com", r, 1000, &err), 1);
	CHECK_INT(mg_rstore_put(s, "example.com", r, 2000, &err), 0);
	CHECK_INT(mg_rstore_put(s, "sub.example.com", r, 3000, &err), 1);
	CHECK_INT(mg_rstore_list(s, "example.com", 10, &v, &n), 0);
	CHECK_INT(n, 1);
	if (n == 1) {
		CHECK_STR(v[0].org, "Org A");
		CHECK_STR(v[0].report_id, "r1");
		CHECK_INT(v[0].records, 3);
		CHECK_INT(v[0].total, 9);
		CHECK_INT(v[0].recv, 1000);
		buf_init(&recs, 1 << 20);
		CHECK_INT(mg_rstore_records(s, "example.com", v[0].identity, &recs), 3);
		CHECK(strstr(recs.data, "ip=2001:db8::1 n=4 dis=quarantine dkim=fail spf=pass") !=
		    NULL, "records: %s", recs.data);
		buf_free(&recs);
	}
	xfree(v);
	CHECK_INT(mg_rstore_summary(s, "example.com", 0, &sum, &n), 0);
	CHECK_INT(n, 2);
	if (n == 2) {		/* sorted by messages: 192.0.2.1 (5) first */
		CHECK_STR(sum[0].ip, "192.0.2.1");
		CHECK_INT(sum[0].n[MG_RSUM_MSGS], 5);
		CHECK_INT(sum[0].n[MG_RSUM_DMARC_PASS], 3);
		CHECK_INT(sum[0].n[MG_RSUM_DKIM_PASS], 3);
		CHECK_INT(sum[0].n[MG_RSUM_REJECT], 2);
		CHECK_INT(sum[1].n[MG_RSUM_SPF_PASS], 4);
		CHECK_INT(sum[1].n[MG_RSUM_QUARANTINE], 4);
	}
	xfree(sum);
	CHECK_INT(mg_rstore_summary(s, "example.com", 1800000000, &sum, &n), 0);
	CHECK_INT(n, 0);
	xfree(sum);
	/* retention 1500 at now 3000: the example.com entries (recv 1000) go, sub.* stays */
	for (int i = 0; i < 4; i++)
		CHECK(mg_rstore_expire(s, 3000, 1500, 1000, &removed) == 0, "expire");
	CHECK_INT(mg_rstore_list(s, "example.com", 10, &v, &n), 0);
	CHECK_INT(n, 0);
	xfree(v);
	CHECK_INT(mg_rstore_list(s, "sub.example.com", 10, &v, &n), 0);
	CHECK_INT(n, 1);
	xfree(v);
	CHECK_INT(removed, 1 + 1 + 2);
	mg_report_free(&r);
	mg_rstore_free(&s);
	mg_kvdb_close(&kv);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	CHECK_INT(system(cmd), 0);
}

static const struct unit_case cases[] = {
	{ "store_list_sum_expire", test_store_list_sum_expire },
};

UNIT_MAIN(cases)
