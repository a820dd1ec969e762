/* verify_tool.h: what the dkim-verify and arc-verify test drivers share: their common options
 * (--txt NAME=VALUE, --keys FILE, --dns HOST[:PORT], --now T, --repeat N, --raw, --spool), key
 * lookups from a TXT table or a resolver, the message file turned into an unlinked CRLF copy,
 * and process CPU time for --repeat. Header-only: each tool is one program (Makefile). */
#ifndef TESTS_TOOLS_VERIFY_TOOL_H
#define TESTS_TOOLS_VERIFY_TOOL_H
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "common/dns.h"
#include "dkim/dkim.h"
#include "lib/buf.h"
#include "lib/str.h"
#include "lib/strnum.h"

struct verify_tool {
	const char *name;		/* program name, for messages and the temporary file */
	struct mg_dkim_txt_table *table;
	struct mg_dns_config dns_cfg;
	int use_dns, raw, spool;
	long long now, repeat;
	const char *file;
};

static struct mg_dns_result *
verify_tool_resolver(void *ctx, const char *name, uint16_t type)
{
	return mg_dns_lookup_blocking(ctx, name, type);
}

/* Parses argv[*i] (and its value); returns 1 if it was a common option or the file, 0 if the
 * caller should look at it, -1 on a bad value (print usage), -2 on an I/O error (exit 2). */
static int
verify_tool_arg(struct verify_tool *t, int argc, char **argv, int *i)
{
	const char *a = argv[*i], *err;

	if (strcmp(a, "--txt") == 0 && *i + 1 < argc) {
		char *eq = strchr(argv[++*i], '=');
		if (eq == NULL)
			return -1;
		*eq = '\0';
		mg_dkim_txt_table_add(t->table, argv[*i], eq + 1);
	} else if (strcmp(a, "--keys") == 0 && *i + 1 < argc) {
		if (mg_dkim_txt_table_load(t->table, argv[++*i], &err) < 0) {
			fprintf(stderr, "%s: %s: %s\n", t->name, argv[*i], err);
			return -2;
		}
	} else if (strcmp(a, "--dns") == 0 && *i + 1 < argc) {
		str_lcpy(t->dns_cfg.servers[0], argv[++*i], sizeof(t->dns_cfg.servers[0]));
		t->dns_cfg.n_servers = 1;
		t->dns_cfg.timeout_ms = 2000;
		t->dns_cfg.attempts = 2;
		t->dns_cfg.udp_size = 1232;
		t->use_dns = 1;
	} else if (strcmp(a, "--now") == 0 && *i + 1 < argc) {
		if (strnum_ll(argv[++*i], 0, 1LL << 40, &t->now, &err) < 0)
			return -1;
	} else if (strcmp(a, "--repeat") == 0 && *i + 1 < argc) {
		if (strnum_ll(argv[++*i], 1, 10000000, &t->repeat, &err) < 0)
			return -1;
	} else if (strcmp(a, "--raw") == 0)
		t->raw = 1;
	else if (strcmp(a, "--spool") == 0)
		t->spool = 1;
	else if (a[0] == '-' && a[1] != '\0')
		return 0;
	else
		t->file = a;
	return 1;
}

/* The key lookup the options chose: the resolver (--dns) or the TXT table. */
static void
verify_tool_lookup(struct verify_tool *t, struct mg_dns_lookup *dns)
{
	if (t->use_dns) {
		dns->fn = verify_tool_resolver;
		dns->ctx = &t->dns_cfg;
	} else
		mg_dkim_txt_table_lookup(t->table, dns);
}

/* Reads t->file ("-" = stdin), converts bare LF to CRLF unless raw, prepends a Received: header
 * as smtpd does if spool, and returns an unlinked temporary copy (fd), or -1. */
static int
verify_tool_prepare(const struct verify_tool *t, off_t *size_r)
{
	FILE *f = strcmp(t->file, "-") == 0 ? stdin : fopen(t->file, "rb");
	char tmpl[64];
	struct buf out;
	int c, prev = 0, fd;

	if (f == NULL)
		return -1;
	snprintf(tmpl, sizeof(tmpl), "/tmp/%s-XXXXXX", t->name);
	buf_init(&out, 256u * 1024 * 1024);
	if (t->spool)
		buf_append_str(&out, "Received: from client.test (client.test [127.0.0.1])\r\n"
		    "\tby mailguard.test with ESMTP id 0123456789ABCDEF; Mon, 1 Jan 2024 00:00:00 +0000\r\n");
	while ((c = getc(f)) != EOF) {
		if (!t->raw && c == '\n' && prev != '\r')
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

/* Process CPU time in microseconds. */
static double
verify_tool_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

#endif
