/* dkim-verify: test driver for dkim/verify.c (mg_dkim_verify, mg_dkim_authres). Verifies one
 * message file and prints one line per signature plus the Authentication-Results fragment.
 *   dkim-verify [--txt NAME=VALUE]... [--keys FILE] [--dns HOST[:PORT]] [--now T] [--raw]
 *               [--spool] [--repeat N] FILE
 * Keys come from the TXT table (--txt, --keys: "name value" lines) or from a resolver (--dns,
 * through common/dns.c). The file is converted to CRLF lines unless --raw; --spool prepends a
 * Received: header as smtpd does. --repeat N verifies N times and prints the CPU time per
 * message. Output:
 *   status=pass n=2 ignored=0
 *   sig=1 result=pass d=example.com s=sel a=rsa-sha256 b=abcdefgh bits=1024 testing=0 reason="..."
 *   authres: dkim=pass header.d=...
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
	fprintf(stderr, "usage: dkim-verify [--txt NAME=VALUE]... [--keys FILE] [--dns HOST[:PORT]] "
	    "[--now T] [--raw] [--spool] [--repeat N] FILE\n");
	return 2;
}

static void
print_results(const struct mg_dkim_results *r)
{
	struct buf ar;

	printf("status=%s n=%zu ignored=%zu", mg_dkim_status_name(r->status), r->n, r->n_ignored);
	if (r->error)
		printf(" error=\"%s\"", r->error);
	printf("\n");
	for (size_t i = 0; i < r->n; i++) {
		const struct mg_dkim_sig_result *s = &r->sig[i];
		printf("sig=%zu result=%s d=%s s=%s a=%s b=%s bits=%u testing=%d reason=\"%s\"\n", i + 1,
		    mg_dkim_status_name(s->result), s->d, s->s, s->a, s->b, s->key_bits, s->testing,
		    s->reason ? s->reason : "");
	}
	buf_init(&ar, 65536);
	mg_dkim_authres(r, &ar);
	for (size_t i = 0; i < ar.len; i++)
		if (ar.data[i] == '\r' || ar.data[i] == '\n' || ar.data[i] == '\t')
			ar.data[i] = ' ';
	printf("authres: %s\n", ar.data ? ar.data : "");
	buf_free(&ar);
}

int
main(int argc, char **argv)
{
	struct verify_tool t = { .name = "dkim-verify", .table = mg_dkim_txt_table_new() };
	struct mg_dkim_verifier *v;
	struct mg_dns_lookup dns;
	struct mg_dkim_results res;
	off_t size;
	int fd;

	for (int i = 1; i < argc; i++) {
		int r = verify_tool_arg(&t, argc, argv, &i);

		if (r == -2)
			return 2;
		if (r <= 0)
			return usage();
	}
	if (t.file == NULL)
		return usage();
	if ((fd = verify_tool_prepare(&t, &size)) < 0) {
		perror("dkim-verify");
		return 2;
	}
	verify_tool_lookup(&t, &dns);
	v = mg_dkim_verifier_new();
	if (t.now > 0)
		mg_dkim_verifier_set_time(v, t.now);
	mg_dkim_verify(v, &dns, fd, size, &res);
	print_results(&res);
	printf("queries=%u\n", mg_dkim_txt_table_queries(t.table));
	if (t.repeat > 0) {
		double t0 = verify_tool_cpu_us();
		for (long long i = 0; i < t.repeat; i++)
			mg_dkim_verify(v, &dns, fd, size, &res);
		printf("cpu_us_per_msg=%.1f size=%lld\n", (verify_tool_cpu_us() - t0) / (double)t.repeat,
		    (long long)size);
	}
	mg_dkim_verifier_free(&v);
	mg_dkim_txt_table_free(&t.table);
	close(fd);
	return 0;
}
