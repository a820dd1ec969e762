/* fuzz_tlsrpt_rua.c: libFuzzer target for the TLS-RPT rua value of a policy domain's
 * `_smtp._tls` TXT record (RFC 8460 §3), DNS data the queue turns into report destinations:
 * tlsrpt_rua_mailto() and tlsrpt_rua_https(). Invariants: no crash or leak; every address
 * handed out has one '@' and no space or control, at most SMTP_PATH_MAX octets; every URL
 * handed out passes tlsrpt_https_url_ok() and fits TLSRPT_URL_MAX; the counts agree with the
 * callbacks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "queue/tlsrpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t calls;

static void
check_addr(const char *addr, void *arg)
{
	size_t len = strlen(addr);
	const char *at = strchr(addr, '@');

	(void)arg;
	calls++;
	if (len == 0 || len > SMTP_PATH_MAX || at == NULL || strchr(at + 1, '@') != NULL)
		abort();
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)addr[i] <= 0x20 || (unsigned char)addr[i] >= 0x7f)
			abort();
}

static void
check_url(const char *url, void *arg)
{
	(void)arg;
	calls++;
	if (strlen(url) > TLSRPT_URL_MAX || !tlsrpt_https_url_ok(url, strlen(url)))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *rua;
	size_t others = 0, n;

	if (size > TLSRPT_RUA_MAX * 4)
		return 0;
	rua = xmalloc(size + 1);
	memcpy(rua, data, size);
	rua[size] = '\0';	/* the TXT text as delivery passes it: a C string */
	calls = 0;
	n = tlsrpt_rua_mailto(rua, check_addr, NULL, &others);
	if (n != calls)
		abort();
	calls = 0;
	n = tlsrpt_rua_https(rua, check_url, NULL);
	if (n != calls || n > others)	/* https: URIs are among the non-mailto: ones */
		abort();
	xfree(rua);
	return 0;
}
