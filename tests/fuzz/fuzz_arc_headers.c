/* fuzz_arc_headers.c: libFuzzer target for ARC chain validation (dkim/arc.c with dkim/sig.c,
 * dkim/canon.c, dkim/key.c): the input is a whole message (header section and body) handed to
 * mg_arc_verify through an fd, with a table DNS holding the ValiMail suite's keys plus failing
 * names (tempfail, revoked, malformed). Invariants: no crash or leak; the result is consistent
 * (none only with n = 0; pass only with 1 <= n <= 50; tempfail only with fail; a NUL-terminated
 * reason); mg_arc_authres succeeds; a second run gives the same result. */
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
static int fd = -1;

static void
setup(void)
{
	table = mg_dkim_txt_table_new();
	mg_dkim_txt_table_add(table, "dummy._domainkey.example.org", "v=DKIM1; k=rsa; "
	    "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J1"
	    "6JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2E"
	    "eC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB");
	mg_dkim_txt_table_add(table, "tmp._domainkey.example.org", "!tempfail");
	mg_dkim_txt_table_add(table, "rev._domainkey.example.org", "v=DKIM1; p=");
	mg_dkim_txt_table_add(table, "bad._domainkey.example.org", "v=DKIM1; k=rsa; omgwhatsgoingon");
	mg_dkim_txt_table_add(table, "ed._domainkey.example.org",
	    "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
	mg_dkim_txt_table_lookup(table, &dns);
	fd = memfd_create("fuzz_arc", 0);
	if (fd < 0)
		abort();
}

static void
check(const struct mg_arc_result *r)
{
	struct buf ar;

	if (r->cv == MG_ARC_NONE && r->n != 0)
		abort();
	if (r->cv == MG_ARC_PASS && (r->n < 1 || r->n > MG_ARC_INSTANCE_MAX))
		abort();
	if (r->tempfail && r->cv != MG_ARC_FAIL)
		abort();
	if (memchr(r->reason, '\0', sizeof(r->reason)) == NULL ||
	    memchr(r->sealer, '\0', sizeof(r->sealer)) == NULL)
		abort();
	buf_init(&ar, 4096);
	if (mg_arc_authres(r, &ar) < 0)
		abort();
	buf_free(&ar);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_arc_result r1, r2;

	if (fd < 0)
		setup();
	if (ftruncate(fd, 0) < 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	if (mg_arc_verify_flags(&dns, fd, (off_t)size, 1000000, MG_ARC_F_OLDEST_PASS, &r1) < 0)
		return 0;
	check(&r1);
	mg_arc_verify_flags(&dns, fd, (off_t)size, 1000000, MG_ARC_F_OLDEST_PASS, &r2);
	if (r1.cv != r2.cv || r1.n != r2.n || r1.oldest_pass != r2.oldest_pass ||
	    strcmp(r1.reason, r2.reason) != 0)
		abort();
	return 0;
}
