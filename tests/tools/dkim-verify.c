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

static struct mg_dns_config dns_cfg;

static struct mg_dns_result *
resolver_fn(void *ctx, const char *name, uint16_t type)
{
	return mg_dns_lookup_blocking(ctx, name, type);
}

static int
usage(void)
{
	fprintf(stderr, "usage: dkim-verify [--txt NAME=VALUE]... [--keys FILE] [--dns HOST[:PORT]] "
	    "[--now T] [--raw] [--spool] [--repeat N] FILE\n");
	return 2;
}

/* Reads path, converts bare LF to CRLF unless raw, writes an unlinked temporary file. */
static int
prepare(const char *path, int raw, int spool, off_t *size_r)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char tmpl[] = "/tmp/dkim-verify-XXXXXX";
	struct buf out;
	int c, prev = 0, fd;

	if (f == NULL)
		return -1;
	buf_init(&out, 256u * 1024 * 1024);
	if (spool)
		buf_append_str(&out, "Received: from client.test (client.test [127.0.0.1])\r\n"
		    "\tby mailguard.test with ESMTP id 0123456789ABCDEF; Mon, 1 Jan 2024 00:00:00 +0000\r\n");
	while ((c = getc(f)) != EOF) {
		if (!raw && c == '\n' && prev != '\r')
			buf_append_char(&out, '\r');
		buf_append_char(&out, (char)c);
		prev = c;
	}
	if (f != stdin)
		fclose(f);
	if ((fd = mkstemp(tmpl)) < 0)
		return -1;
	unlink(tmpl);
	if (write(fd, out.data, out.len) != (ssize_t)out.len)
		return -1;
	*size_r = (off_t)out.len;
	buf_free(&out);
	return fd;
}

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
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
	struct mg_dkim_txt_table *table = mg_dkim_txt_table_new();
	struct mg_dkim_verifier *v;
	struct mg_dns_lookup dns;
	struct mg_dkim_results res;
	const char *file = NULL, *err;
	long long now = 0, repeat = 0;
	int raw = 0, spool = 0, use_dns = 0, fd;
	off_t size;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--txt") == 0 && i + 1 < argc) {
			char *eq = strchr(argv[++i], '=');
			if (eq == NULL)
				return usage();
			*eq = '\0';
			mg_dkim_txt_table_add(table, argv[i], eq + 1);
		} else if (strcmp(a, "--keys") == 0 && i + 1 < argc) {
			if (mg_dkim_txt_table_load(table, argv[++i], &err) < 0) {
				fprintf(stderr, "dkim-verify: %s: %s\n", argv[i], err);
				return 2;
			}
		} else if (strcmp(a, "--dns") == 0 && i + 1 < argc) {
			str_lcpy(dns_cfg.servers[0], argv[++i], sizeof(dns_cfg.servers[0]));
			dns_cfg.n_servers = 1;
			dns_cfg.timeout_ms = 2000;
			dns_cfg.attempts = 2;
			dns_cfg.udp_size = 1232;
			use_dns = 1;
		} else if (strcmp(a, "--now") == 0 && i + 1 < argc) {
			if (strnum_ll(argv[++i], 0, 1LL << 40, &now, &err) < 0)
				return usage();
		} else if (strcmp(a, "--repeat") == 0 && i + 1 < argc) {
			if (strnum_ll(argv[++i], 1, 10000000, &repeat, &err) < 0)
				return usage();
		} else if (strcmp(a, "--raw") == 0)
			raw = 1;
		else if (strcmp(a, "--spool") == 0)
			spool = 1;
		else if (a[0] == '-' && a[1] != '\0')
			return usage();
		else
			file = a;
	}
	if (file == NULL)
		return usage();
	if ((fd = prepare(file, raw, spool, &size)) < 0) {
		perror("dkim-verify");
		return 2;
	}
	if (use_dns) {
		dns.fn = resolver_fn;
		dns.ctx = &dns_cfg;
	} else
		mg_dkim_txt_table_lookup(table, &dns);
	v = mg_dkim_verifier_new();
	if (now > 0)
		mg_dkim_verifier_set_time(v, now);
	mg_dkim_verify(v, &dns, fd, size, &res);
	print_results(&res);
	printf("queries=%u\n", mg_dkim_txt_table_queries(table));
	if (repeat > 0) {
		double t0 = cpu_now();
		for (long long i = 0; i < repeat; i++)
			mg_dkim_verify(v, &dns, fd, size, &res);
		printf("cpu_us_per_msg=%.1f size=%lld\n", (cpu_now() - t0) / (double)repeat,
		    (long long)size);
	}
	mg_dkim_verifier_free(&v);
	mg_dkim_txt_table_free(&table);
	close(fd);
	return 0;
}
