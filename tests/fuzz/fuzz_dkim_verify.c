/* fuzz_dkim_verify.c: libFuzzer target for DKIM verification of a whole message (dkim/verify.c,
 * our engine over dkim/sig.c, canon.c, key.c, tags.c, plus the lenient d=/s=/a=/b= reader for
 * the results): the input is a message (header section and body) handed to mg_dkim_verify through
 * an fd, with a table DNS holding good, revoked, malformed, ed25519 and temporarily failing keys.
 * Invariants: no crash or leak; at most MG_DKIM_SIG_MAX results; the status is the best of the
 * per-signature results; every reason is set; names are NUL-terminated; mg_dkim_authres
 * succeeds; a second run gives the same results. */
#define _GNU_SOURCE 1
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dkim/dkim.h"
#include "lib/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mg_dkim_txt_table *table;
static struct mg_dns_lookup dns;
static struct mg_dkim_verifier *verifier;
static int fd = -1;

static void
setup(void)
{
	table = mg_dkim_txt_table_new();
	mg_dkim_txt_table_add(table, "test._domainkey.football.example.com", "v=DKIM1; k=rsa; "
	    "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J1"
	    "6JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2E"
	    "eC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB");
	mg_dkim_txt_table_add(table, "brisbane._domainkey.football.example.com",
	    "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
	mg_dkim_txt_table_add(table, "tmp._domainkey.example.org", "!tempfail");
	mg_dkim_txt_table_add(table, "rev._domainkey.example.org", "v=DKIM1; p=");
	mg_dkim_txt_table_add(table, "bad._domainkey.example.org", "v=DKIM1; k=rsa; omgwhatsgoingon");
	mg_dkim_txt_table_add(table, "strict._domainkey.example.org", "v=DKIM1; t=s; k=ed25519; "
	    "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
	mg_dkim_txt_table_lookup(table, &dns);
	verifier = mg_dkim_verifier_new();
	mg_dkim_verifier_set_time(verifier, 1700000000);
	fd = memfd_create("fuzz_dkim_verify", 0);
	if (fd < 0)
		abort();
}

static int
rank(enum mg_dkim_status st)
{
	static const enum mg_dkim_status order[] = { MG_DKIM_NONE, MG_DKIM_PERMERROR,
		MG_DKIM_NEUTRAL, MG_DKIM_POLICY, MG_DKIM_FAIL, MG_DKIM_TEMPERROR, MG_DKIM_PASS };

	for (int k = 0; k < (int)(sizeof(order) / sizeof(order[0])); k++)
		if (order[k] == st)
			return k;
	abort();
}

static void
check(const struct mg_dkim_results *r)
{
	int best = 0;
	struct buf ar;

	if (r->n > MG_DKIM_SIG_MAX)
		abort();
	for (size_t i = 0; i < r->n; i++) {
		const struct mg_dkim_sig_result *s = &r->sig[i];
		if (s->reason == NULL || memchr(s->d, '\0', sizeof(s->d)) == NULL ||
		    memchr(s->s, '\0', sizeof(s->s)) == NULL || memchr(s->a, '\0', sizeof(s->a)) == NULL ||
		    memchr(s->b, '\0', sizeof(s->b)) == NULL)
			abort();
		if (rank(s->result) > best)
			best = rank(s->result);
	}
	if (rank(r->status) != best)
		abort();
	buf_init(&ar, 1 << 16);
	if (mg_dkim_authres(r, &ar) < 0)
		abort();
	buf_free(&ar);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_dkim_results r1, r2;

	if (fd < 0)
		setup();
	if (ftruncate(fd, 0) < 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	if (mg_dkim_verify(verifier, &dns, fd, (off_t)size, &r1) < 0)
		return 0;
	check(&r1);
	if (mg_dkim_verify(verifier, &dns, fd, (off_t)size, &r2) < 0 || r1.status != r2.status ||
	    r1.n != r2.n || r1.n_ignored != r2.n_ignored)
		abort();
	for (size_t i = 0; i < r1.n; i++)
		if (r1.sig[i].result != r2.sig[i].result || strcmp(r1.sig[i].d, r2.sig[i].d) != 0 ||
		    strcmp(r1.sig[i].b, r2.sig[i].b) != 0)
			abort();
	return 0;
}
