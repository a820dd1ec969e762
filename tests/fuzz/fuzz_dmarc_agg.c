/* fuzz_dmarc_agg.c: libFuzzer target for the outside data our DMARC aggregate reports are built
 * from (dmarc/agg_*.c). The first byte picks the path:
 *   0: a policy record (DNS) whose rua URIs go through mg_dmarc_rua_select, the §7.1
 *      verification TXT answer being the rest of the input (split at the first '\n');
 *   1: one rua URI through mg_dmarc_rua_address;
 *   2: stored rows ('\n'-separated) through mg_dmarc_agg_add_line, then finish, the XML, the
 *      gzip and the message of every report.
 * Invariants: no crash or leak; addresses handed out are printable ASCII without blanks or
 * brackets, with one '@'; destination statuses agree with the count returned; the XML holds no
 * control byte but '\n', no "<" that is not one of our tags' and no invalid UTF-8 (checked
 * byte by byte); the message is built whenever the XML is. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc/dmarc.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mg_psl *psl;
static const char *txt_answer;
static size_t txt_len;

static struct mg_dns_result *
fake_lookup(void *ctx, const char *name, uint16_t type)
{
	struct mg_dns_result *r;

	(void)ctx;
	if (txt_len == 0)
		return mg_dns_result_new(name, type, MG_DNS_NXDOMAIN, NULL);
	if (txt_answer[0] == 'T')
		return mg_dns_result_new(name, type, MG_DNS_TEMPFAIL, "fuzz");
	r = mg_dns_result_new(name, type, MG_DNS_OK, NULL);
	r->rr = xcalloc(1, sizeof(*r->rr));
	r->rr[0].type = 16;
	r->rr[0].u.txt.data = xmalloc(txt_len + 1);
	memcpy(r->rr[0].u.txt.data, txt_answer, txt_len);
	r->rr[0].u.txt.data[txt_len] = '\0';
	r->rr[0].u.txt.len = txt_len;
	r->n = 1;
	return r;
}

static void
check_addr(const char *a)
{
	size_t at = 0;

	for (const char *p = a; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f || strchr("<>\"(),;\\", c) != NULL)
			abort();
		at += c == '@';
	}
	if (at != 1)
		abort();
}

static void
fuzz_select(const char *s, size_t n)
{
	const char *nl = memchr(s, '\n', n);
	size_t rlen = nl != NULL ? (size_t)(nl - s) : n;
	struct mg_dmarc_record rec;
	struct mg_dmarc_rua_dest d[MG_DMARC_URIS_MAX];
	struct mg_dns_lookup dns = { fake_lookup, NULL };
	const char *error, *ex[] = { "@excluded.example", "x@example.com" };
	size_t nd = 0;
	int ok = 0, count = 0;

	txt_answer = nl != NULL ? nl + 1 : "";
	txt_len = nl != NULL ? n - rlen - 1 : 0;
	if (mg_dmarc_policy_parse(s, rlen, &rec, &error) < 0)
		return;
	ok = mg_dmarc_rua_select(psl, &dns, "example.com", &rec, 5000, ex, 2, d, &nd);
	if (nd > MG_DMARC_URIS_MAX)
		abort();
	for (size_t i = 0; i < nd; i++) {
		if (d[i].reason == NULL)
			abort();
		if (d[i].status != MG_DMARC_RUA_BAD)
			check_addr(d[i].addr);
		count += d[i].status == MG_DMARC_RUA_OK;
	}
	if (count != ok)
		abort();
}

static void
check_xml(const struct buf *x)
{
	const unsigned char *p = (const unsigned char *)x->data;

	for (size_t i = 0; i < x->len; i++) {
		if ((p[i] < 0x20 && p[i] != '\n') || p[i] == 0x7f)
			abort();
		/* every '<' opens one of our tags: a lowercase name, '/', '?' */
		if (p[i] == '<' && !(i + 1 < x->len && ((p[i + 1] >= 'a' && p[i + 1] <= 'z') ||
		    p[i + 1] == '/' || p[i + 1] == '?')))
			abort();
		if (p[i] == '<' && i + 1 < x->len && p[i + 1] == 'x' && i + 2 < x->len &&
		    p[i + 2] == '>')
			abort();	/* "<x>" is not ours: a value's markup leaked */
	}
}

static void
fuzz_rows(const char *s, size_t n)
{
	struct mg_dmarc_agg a;
	const char *error, *to[] = { "d@example.com" };
	struct mg_dmarc_agg_meta m = { "org", "a@b.example", NULL, "mx.example", "r@mx.example", 0 };
	size_t start = 0;

	mg_dmarc_agg_init(&a, 0);
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '\n')
			continue;
		(void)mg_dmarc_agg_add_line(&a, s + start, i - start, &error);
		start = i + 1;
	}
	mg_dmarc_agg_finish(&a, "mx.example");
	for (size_t i = 0; i < a.n_rep; i++) {
		struct buf x, gz, msg;

		buf_init(&x, 1u << 24);
		buf_init(&gz, 1u << 24);
		buf_init(&msg, 1u << 25);
		if (mg_dmarc_agg_xml(&a, &a.rep[i], &m, &x, &error) == 0) {
			check_xml(&x);
			if (mg_dmarc_agg_gzip(x.data, x.len, &gz) < 0 ||
			    mg_dmarc_agg_message(&a, &a.rep[i], &m, &gz, to, 1, &msg, &error) < 0)
				abort();
		}
		buf_free(&x);
		buf_free(&gz);
		buf_free(&msg);
	}
	mg_dmarc_agg_clear(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > 65536)
		return 0;
	if (psl == NULL) {
		const char *error;

		psl = mg_psl_new(NULL, &error);
		if (psl == NULL)
			abort();
	}
	s = xmalloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 3) {
	case 0:
		fuzz_select(s, size - 1);
		break;
	case 1:
		if (strlen(s) == size - 1) {
			char addr[MG_DMARC_URI_LEN + 1], dom[MG_DMARC_DOMAIN_MAX + 1];
			const char *error;

			if (mg_dmarc_rua_address(s, addr, sizeof(addr), dom, sizeof(dom), &error) == 0)
				check_addr(addr);
		}
		break;
	default:
		fuzz_rows(s, size - 1);
		break;
	}
	xfree(s);
	return 0;
}
