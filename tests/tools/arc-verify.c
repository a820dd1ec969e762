/* arc-verify: test driver for dkim/arc.c (mg_arc_verify, mg_arc_authres). Validates the ARC
 * chain of one message file and prints the result and the Authentication-Results fragment.
 *   arc-verify [--txt NAME=VALUE]... [--keys FILE] [--dns HOST[:PORT]] [--now T] [--raw]
 *              [--spool] [--oldest-pass] [--repeat N] FILE
 * Keys come from the TXT table (--txt, --keys: "name value" lines) or from a resolver (--dns,
 * through common/dns.c). The file is converted to CRLF lines unless --raw; --spool prepends a
 * Received: header as smtpd does; --now sets the clock for x= checks. Output:
 *   cv=pass n=2 oldest_pass=0 tempfail=0 sealer=example.org reason="2 sets verified"
 *   authres: arc=pass (i=2)
 *   queries=N            (table lookups; with --repeat: cpu_us_per_msg=X.Y)
 * Exit status 0 whatever the result (2 on bad usage or I/O errors). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/dns.h"
#include "dkim/dkim.h"
#include "lib/buf.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "tests/tools/verify_tool.h"

static int
usage(void)
{
	fprintf(stderr, "usage: arc-verify [--txt NAME=VALUE]... [--keys FILE] [--dns HOST[:PORT]] "
	    "[--now T] [--raw] [--spool] [--oldest-pass] [--repeat N] FILE\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct verify_tool t = { .name = "arc-verify", .table = mg_dkim_txt_table_new() };
	struct mg_dns_lookup dns;
	struct mg_arc_result res;
	unsigned flags = 0;
	struct buf ar;
	off_t size;
	int fd;

	for (int i = 1; i < argc; i++) {
		int r = verify_tool_arg(&t, argc, argv, &i);

		if (r == -2)
			return 2;
		if (r == -1)
			return usage();
		if (r == 0 && strcmp(argv[i], "--oldest-pass") == 0)
			flags |= MG_ARC_F_OLDEST_PASS;
		else if (r == 0)
			return usage();
	}
	if (t.file == NULL)
		return usage();
	if ((fd = verify_tool_prepare(&t, &size)) < 0) {
		perror("arc-verify");
		return 2;
	}
	verify_tool_lookup(&t, &dns);
	mg_arc_verify_flags(&dns, fd, size, t.now, flags, &res);
	printf("cv=%s n=%d oldest_pass=%d tempfail=%d sealer=%s reason=\"%s\"\n", mg_arc_cv_name(res.cv),
	    res.n, res.oldest_pass, res.tempfail, res.sealer, res.reason);
	buf_init(&ar, 4096);
	mg_arc_authres(&res, &ar);
	printf("authres: %s\n", ar.data ? ar.data : "");
	buf_free(&ar);
	printf("queries=%u\n", mg_dkim_txt_table_queries(t.table));
	if (t.repeat > 0) {
		double t0 = verify_tool_cpu_us();
		for (long long i = 0; i < t.repeat; i++)
			mg_arc_verify_flags(&dns, fd, size, t.now, flags, &res);
		printf("cpu_us_per_msg=%.1f size=%lld\n", (verify_tool_cpu_us() - t0) / (double)t.repeat,
		    (long long)size);
	}
	mg_dkim_txt_table_free(&t.table);
	close(fd);
	return 0;
}
