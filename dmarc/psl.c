/* The Organizational Domain (RFC 7489 §3.2) from the Public Suffix List, through libpsl. Loaded
 * once at startup from a list file (Debian's publicsuffix package by default), then shared
 * read-only by every filter pool thread. Thread safety: libpsl documents itself as thread-safe;
 * in 0.21 psl_registrable_domain and psl_is_public_suffix on a context from psl_load_file only
 * read it (a sorted rule vector searched with bsearch, the punycode forms of IDN rules added at
 * load time, no lazy state, no static buffers), so concurrent lookups need no lock
 * (tests/unit/dmarc/test_psl.c runs them from four threads). Input (domains from mail) is
 * untrusted: it is length-checked, lowercased into a local buffer and never written. */
#include <libpsl.h>
#include <string.h>

#include "dmarc/dmarc.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define PSL_INPUT_MAX 1023	/* octets of a (possibly UTF-8) name handed to libpsl */

struct mg_psl {
	psl_ctx_t *ctx;		/* owned; read-only after load */
};

struct mg_psl *
mg_psl_new(const char *path, const char **error_r)
{
	struct mg_psl *psl;
	psl_ctx_t *ctx;

	if (path == NULL)
		path = MG_PSL_DEFAULT_PATH;
	if ((ctx = psl_load_file(path)) == NULL) {
		*error_r = "cannot load the public suffix list";
		return NULL;
	}
	if (psl_suffix_count(ctx) <= 0) {
		psl_free(ctx);
		*error_r = "the public suffix list holds no rule";
		return NULL;
	}
	psl = xcalloc(1, sizeof(*psl));
	psl->ctx = ctx;
	return psl;
}

void
mg_psl_free(struct mg_psl **pslp)
{
	if (*pslp == NULL)
		return;
	psl_free((*pslp)->ctx);
	xfree(*pslp);
	*pslp = NULL;
}

/* Copies domain lowercased (ASCII only; U-labels must already be lowercase, as libpsl wants)
 * without one final dot; -1 on an empty label or an oversized name. */
static int
psl_prepare(const char *domain, char *buf, size_t size)
{
	size_t len = strlen(domain);

	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0 || len >= size || len > PSL_INPUT_MAX || domain[len - 1] == '.')
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = domain[i];

		if (c == '.' && (i == 0 || domain[i - 1] == '.'))
			return -1;
		buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	buf[len] = '\0';
	return 0;
}

int
mg_psl_org_domain(const struct mg_psl *psl, const char *domain, char *out, size_t outsize)
{
	char buf[PSL_INPUT_MAX + 1];
	const char *reg;

	if (outsize > 0)
		out[0] = '\0';
	if (psl == NULL || domain == NULL || psl_prepare(domain, buf, sizeof(buf)) < 0)
		return -1;
	/* libpsl walks from the left and returns the name just before the first public suffix:
	 * the longest matching suffix plus one label, exactly RFC 7489 §3.2 steps 3-4 (rules,
	 * wildcards and exceptions as the PSL algorithm defines them, the implicit "*" rule). */
	reg = psl_registrable_domain(psl->ctx, buf);
	if (reg == NULL) {
		/* The name is itself a public suffix: no label to add (§3.2 is silent); the
		 * domain stands for itself. */
		if (str_lcpy(out, buf, outsize) >= outsize) {
			if (outsize > 0)
				out[0] = '\0';
			return -1;
		}
		return 1;
	}
	if (str_lcpy(out, reg, outsize) >= outsize) {
		if (outsize > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}
