/* Unit tests for common/dns_parse.c: wire responses built with ldns (ldns_pkt_* + wire encoding)
 * for every status, foreign messages (wrong id, QR clear, other question), TC, truncated and
 * malformed packets, CNAME chains, loops and over-long chains, the record cap, long multi-string
 * TXT, MX/TLSA/PTR/AAAA/unknown-type decoding, name validation and RFC 5782 reverse names. */
#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <netinet/in.h>

#include "unit.h"

#include "common/dns.h"
#include "lib/xalloc.h"

struct pkt_spec {
	uint16_t id;
	const char *question;		/* "name. IN TYPE", NULL = no question section */
	int rcode;			/* 0..15; 16+ sets the EDNS0 extended RCODE */
	int tc, ad, qr_clear, opcode;
	const char *const *answers;	/* NULL-terminated RR strings */
};

/* Encodes spec into a fresh allocation (xfree it); *len_r gets its size. */
static unsigned char *
mkpkt(const struct pkt_spec *s, size_t *len_r)
{
	ldns_pkt *pkt = ldns_pkt_new();
	ldns_buffer *b = ldns_buffer_new(4096);
	unsigned char *out;
	ldns_rr *rr;

	ldns_pkt_set_id(pkt, s->id);
	ldns_pkt_set_qr(pkt, !s->qr_clear);
	ldns_pkt_set_rd(pkt, 1);
	ldns_pkt_set_ra(pkt, 1);
	ldns_pkt_set_tc(pkt, s->tc != 0);
	ldns_pkt_set_ad(pkt, s->ad != 0);
	ldns_pkt_set_opcode(pkt, (ldns_pkt_opcode)s->opcode);
	ldns_pkt_set_rcode(pkt, (uint8_t)(s->rcode & 15));
	if (s->rcode > 15) {
		ldns_pkt_set_edns_udp_size(pkt, 1232);
		ldns_pkt_set_edns_extended_rcode(pkt, (uint8_t)(s->rcode >> 4));
	}
	if (s->question != NULL) {
		if (ldns_rr_new_question_frm_str(&rr, s->question, NULL, NULL) != LDNS_STATUS_OK)
			abort();
		ldns_pkt_push_rr(pkt, LDNS_SECTION_QUESTION, rr);
	}
	for (size_t i = 0; s->answers != NULL && s->answers[i] != NULL; i++) {
		if (ldns_rr_new_frm_str(&rr, s->answers[i], 300, NULL, NULL) != LDNS_STATUS_OK) {
			fprintf(stderr, "bad test RR: %s\n", s->answers[i]);
			abort();
		}
		ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, rr);
	}
	if (ldns_pkt2buffer_wire(b, pkt) != LDNS_STATUS_OK)
		abort();
	*len_r = ldns_buffer_position(b);
	out = xmemdup(ldns_buffer_begin(b), *len_r);
	ldns_buffer_free(b);
	ldns_pkt_free(pkt);
	return out;
}

/* Builds spec and parses it as an answer to (qname, qtype) with id 0x1234. */
static int
parse(const struct pkt_spec *s, const char *qname, uint16_t qtype, struct mg_dns_result **res_r,
    int *foreign_r, const char **err_r)
{
	size_t len;
	unsigned char *w = mkpkt(s, &len);
	int rc = mg_dns_parse_reply(w, len, 0x1234, qname, qtype, res_r, foreign_r, err_r);

	xfree(w);
	return rc;
}

static void
test_ok_a(void)
{
	static const char *const ans[] = { "Example.COM. 60 IN A 192.0.2.1",
		"example.com. IN A 192.0.2.2", "other.example. IN A 192.0.2.99", NULL };
	struct pkt_spec s = { 0x1234, "example.com. IN A", 0, 0, 0, 0, 0, ans };
	struct mg_dns_result *r;
	const char *err;
	int foreign;
	unsigned char want[4] = { 192, 0, 2, 1 };

	CHECK_INT(parse(&s, "EXAMPLE.com.", LDNS_RR_TYPE_A, &r, &foreign, &err), 0);
	CHECK_INT(r->status, MG_DNS_OK);
	CHECK_INT(r->rcode, 0);
	CHECK_INT(r->secure, 0);
	CHECK_STR(r->qname, "example.com");
	CHECK_INT(r->qtype, LDNS_RR_TYPE_A);
	CHECK_INT(r->n, 2);
	CHECK_INT(r->rr[0].type, LDNS_RR_TYPE_A);
	CHECK_INT(r->rr[0].ttl, 60);
	CHECK_INT(r->rr[0].u.a.family, AF_INET);
	CHECK(memcmp(r->rr[0].u.a.addr, want, 4) == 0, "first address");
	CHECK_INT(r->rr[1].u.a.addr[3], 2);
	CHECK(r->error == NULL, "error %s", r->error);
	mg_dns_result_free(&r);
	CHECK(r == NULL, "free NULLs the pointer");
	/* The same bytes answer the query case-insensitively (0x20 mixing by the resolver). */
	s.question = "eXaMpLe.CoM. IN A";
	CHECK_INT(parse(&s, "example.com", LDNS_RR_TYPE_A, &r, &foreign, &err), 0);
	CHECK_INT(r->n, 2);
	mg_dns_result_free(&r);
}

static void
test_statuses(void)
{
	static const char *const ad[] = { "a.example. IN A 192.0.2.1", NULL };
	static const struct {
		int rcode, ad;
		const char *const *ans;
		enum mg_dns_status st;
		const char *error;
		int secure;
	} cases[] = {
		{ 0, 1, ad, MG_DNS_OK, NULL, 1 },
		{ 0, 0, NULL, MG_DNS_NODATA, NULL, 0 },
		{ 0, 1, NULL, MG_DNS_NODATA, NULL, 1 },
		{ 3, 0, NULL, MG_DNS_NXDOMAIN, NULL, 0 },
		{ 3, 1, NULL, MG_DNS_NXDOMAIN, NULL, 1 },
		{ 2, 0, NULL, MG_DNS_TEMPFAIL, "servfail", 0 },
		{ 1, 0, NULL, MG_DNS_PERMFAIL, "formerr", 0 },
		{ 4, 0, NULL, MG_DNS_PERMFAIL, "notimp", 0 },
		{ 5, 0, NULL, MG_DNS_PERMFAIL, "refused", 0 },
		{ 6, 0, NULL, MG_DNS_TEMPFAIL, "unexpected rcode", 0 },	/* YXDOMAIN */
		{ 16, 0, NULL, MG_DNS_TEMPFAIL, "unexpected rcode", 0 },	/* BADVERS (EDNS0) */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pkt_spec s = { 0x1234, "a.example. IN A", cases[i].rcode, 0, cases[i].ad, 0, 0,
			cases[i].ans };
		struct mg_dns_result *r = NULL;
		const char *err;
		int foreign;
		int rc = parse(&s, "a.example", LDNS_RR_TYPE_A, &r, &foreign, &err);

		CHECK(rc == 0, "case %zu: rc %d (%s)", i, rc, err);
		if (rc != 0)
			continue;
		CHECK(r->status == cases[i].st, "case %zu: status %s, want %s", i,
		    mg_dns_status_name(r->status), mg_dns_status_name(cases[i].st));
		CHECK(r->rcode == cases[i].rcode, "case %zu: rcode %d", i, r->rcode);
		CHECK(r->secure == cases[i].secure, "case %zu: secure %d", i, r->secure);
		CHECK((r->error == NULL && cases[i].error == NULL) ||
		    (r->error && cases[i].error && strcmp(r->error, cases[i].error) == 0),
		    "case %zu: error %s, want %s", i, r->error ? r->error : "(null)",
		    cases[i].error ? cases[i].error : "(null)");
		mg_dns_result_free(&r);
	}
}

static void
test_foreign(void)
{
	static const char *const ans[] = { "a.example. IN A 192.0.2.1", NULL };
	static const struct {
		struct pkt_spec s;
		const char *error;
	} cases[] = {
		{ { 0x1235, "a.example. IN A", 0, 0, 0, 0, 0, ans }, "id mismatch" },
		{ { 0x1234, "a.example. IN A", 0, 0, 0, 1, 0, ans }, "not a response" },
		{ { 0x1234, "b.example. IN A", 0, 0, 0, 0, 0, ans }, "question mismatch" },
		{ { 0x1234, "a.example. IN AAAA", 0, 0, 0, 0, 0, ans }, "question mismatch" },
		{ { 0x1234, "a.example. CH A", 0, 0, 0, 0, 0, ans }, "question mismatch" },
		{ { 0x1234, "a.example.a.example. IN A", 0, 0, 0, 0, 0, ans }, "question mismatch" },
		{ { 0x1234, NULL, 0, 0, 0, 0, 0, ans }, "question mismatch" },
		{ { 0x1234, NULL, 5, 0, 0, 0, 0, NULL }, "question mismatch" },	/* bare REFUSED */
		{ { 0x1234, "a.example. IN A", 0, 0, 0, 0, LDNS_PACKET_NOTIFY, ans },
		    "not a query response" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mg_dns_result *r = (struct mg_dns_result *)1;
		const char *err = NULL;
		int foreign = 0;

		CHECK(parse(&cases[i].s, "a.example", LDNS_RR_TYPE_A, &r, &foreign, &err) == -1,
		    "case %zu: accepted", i);
		CHECK(r == NULL, "case %zu: result set", i);
		CHECK(foreign == 1, "case %zu: not foreign", i);
		CHECK(err && strcmp(err, cases[i].error) == 0, "case %zu: error %s, want %s", i,
		    err ? err : "(null)", cases[i].error);
	}
	/* Two questions. */
	struct pkt_spec s = { 0x1234, "a.example. IN A", 0, 0, 0, 0, 0, ans };
	size_t len;
	unsigned char *w = mkpkt(&s, &len);
	struct mg_dns_result *r;
	const char *err;
	int foreign;
	w[5] = 2;	/* QDCOUNT 2: the answer RR is read as a second question, then ANCOUNT lies */
	CHECK_INT(mg_dns_parse_reply(w, len, 0x1234, "a.example", LDNS_RR_TYPE_A, &r, &foreign,
	    &err), -1);
	xfree(w);
}

static void
test_truncated_flag(void)
{
	struct pkt_spec s = { 0x1234, "a.example. IN TXT", 0, 1, 0, 0, 0, NULL };
	struct mg_dns_result *r = (struct mg_dns_result *)1;
	const char *err;
	int foreign = 1;

	CHECK_INT(parse(&s, "a.example", LDNS_RR_TYPE_TXT, &r, &foreign, &err), 1);
	CHECK(r == NULL, "result on TC");
	CHECK_INT(foreign, 0);
	/* TC on a message that is not ours stays foreign: no TCP retry for a spoof. */
	s.id = 1;
	CHECK_INT(parse(&s, "a.example", LDNS_RR_TYPE_TXT, &r, &foreign, &err), -1);
	CHECK_INT(foreign, 1);
}

static void
test_cut_and_garbage(void)
{
	static const char *const ans[] = { "a.example. IN MX 10 mx.a.example.",
		"a.example. IN MX 20 mx2.a.example.", NULL };
	struct pkt_spec s = { 0x1234, "a.example. IN MX", 0, 0, 0, 0, 0, ans };
	size_t len;
	unsigned char *w = mkpkt(&s, &len);
	struct mg_dns_result *r;
	const char *err;
	int foreign;

	CHECK_INT(mg_dns_parse_reply(w, len, 0x1234, "a.example", LDNS_RR_TYPE_MX, &r, &foreign,
	    &err), 0);
	CHECK_INT(r->n, 2);
	mg_dns_result_free(&r);
	for (size_t cut = 0; cut < len; cut++) {
		int rc = mg_dns_parse_reply(w, cut, 0x1234, "a.example", LDNS_RR_TYPE_MX, &r,
		    &foreign, &err);
		CHECK(rc == -1, "cut at %zu: rc %d", cut, rc);
		CHECK(foreign == (cut < 12), "cut at %zu: foreign %d", cut, foreign);
		if (rc == 0)
			mg_dns_result_free(&r);
	}
	/* Our id, then garbage: malformed, not foreign. */
	unsigned char junk[64];
	memset(junk, 0xc0, sizeof(junk));
	junk[0] = 0x12;
	junk[1] = 0x34;
	junk[2] = 0x80;
	CHECK_INT(mg_dns_parse_reply(junk, sizeof(junk), 0x1234, "a.example", LDNS_RR_TYPE_A, &r,
	    &foreign, &err), -1);
	CHECK_INT(foreign, 0);
	CHECK_STR(err, "malformed answer");
	/* A compression pointer pointing at itself in the question. */
	unsigned char loop[] = { 0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1 };
	CHECK_INT(mg_dns_parse_reply(loop, sizeof(loop), 0x1234, "a.example", LDNS_RR_TYPE_A, &r,
	    &foreign, &err), -1);
	/* The public wrapper gives the same answers. */
	CHECK_INT(mg_dns_parse_response(w, len, 0x1234, "a.example", LDNS_RR_TYPE_MX, &r, &err), 0);
	mg_dns_result_free(&r);
	CHECK_INT(mg_dns_parse_response(w, len, 0x9999, "a.example", LDNS_RR_TYPE_MX, &r, &err), -1);
	xfree(w);
}

static void
test_cname_chain(void)
{
	static const char *const ans[] = { "b.example. IN CNAME c.example.",
		"x.example. IN A 192.0.2.66", "a.example. IN CNAME B.example.",
		"c.example. IN A 192.0.2.3", NULL };
	static const char *const dangling[] = { "a.example. IN CNAME b.example.", NULL };
	struct pkt_spec s = { 0x1234, "a.example. IN A", 0, 0, 0, 0, 0, ans };
	struct mg_dns_result *r;
	const char *err;
	int foreign;

	CHECK_INT(parse(&s, "a.example", LDNS_RR_TYPE_A, &r, &foreign, &err), 0);
	CHECK_INT(r->status, MG_DNS_OK);
	CHECK_INT(r->n, 1);
	CHECK_INT(r->rr[0].u.a.addr[3], 3);
	CHECK_STR(r->qname, "a.example");
	mg_dns_result_free(&r);
	/* Asking for the CNAME itself: no following. */
	s.question = "a.example. IN CNAME";
	CHECK_INT(parse(&s, "a.example", LDNS_RR_TYPE_CNAME, &r, &foreign, &err), 0);
	CHECK_INT(r->n, 1);
	CHECK_STR(r->rr[0].u.name, "b.example");
	mg_dns_result_free(&r);
	/* Chain ending nowhere: NODATA under NOERROR, NXDOMAIN under RCODE 3 (RFC 6604). */
	s.question = "a.example. IN A";
	s.answers = dangling;
	CHECK_INT(parse(&s, "a.example", LDNS_RR_TYPE_A, &r, &foreign, &err), 0);
	CHECK_INT(r->status, MG_DNS_NODATA);
	mg_dns_result_free(&r);
	s.rcode = 3;
	CHECK_INT(parse(&s, "a.example", LDNS_RR_TYPE_A, &r, &foreign, &err), 0);
	CHECK_INT(r->status, MG_DNS_NXDOMAIN);
	mg_dns_result_free(&r);
}

static void
test_cname_loops_and_length(void)
{
	static const char *const loop2[] = { "a.example. IN CNAME b.example.",
		"b.example. IN CNAME a.example.", "a.example. IN A 192.0.2.1", NULL };
	static const char *const self[] = { "a.example. IN CNAME A.EXAMPLE.", NULL };
	char rrs[MG_DNS_CNAME_MAX + 2][80];
	const char *chain[MG_DNS_CNAME_MAX + 3];
	struct mg_dns_result *r;
	const char *err;
	int foreign;
	struct pkt_spec s = { 0x1234, "n0.example. IN A", 0, 0, 0, 0, 0, NULL };

	/* a -> b -> a: the A record at a is not reached by the chain rule (a has a CNAME and
	 * the first name with records wins), so the loop is detected. */
	s.question = "a.example. IN TXT";
	s.answers = loop2;
	CHECK_INT(parse(&s, "a.example", LDNS_RR_TYPE_TXT, &r, &foreign, &err), 0);
	CHECK_INT(r->status, MG_DNS_PERMFAIL);
	CHECK_STR(r->error, "cname loop");
	mg_dns_result_free(&r);
	s.answers = self;
	CHECK_INT(parse(&s, "a.example", LDNS_RR_TYPE_TXT, &r, &foreign, &err), 0);
	CHECK_STR(r->error, "cname loop");
	mg_dns_result_free(&r);

	/* n0 -> n1 -> ... -> nK with an A at nK: K = MG_DNS_CNAME_MAX works, one more does not. */
	for (int k = MG_DNS_CNAME_MAX; k <= MG_DNS_CNAME_MAX + 1; k++) {
		int i;
		for (i = 0; i < k; i++) {
			snprintf(rrs[i], sizeof(rrs[i]), "n%d.example. IN CNAME n%d.example.", i, i + 1);
			chain[i] = rrs[i];
		}
		snprintf(rrs[i], sizeof(rrs[i]), "n%d.example. IN A 192.0.2.%d", k, k);
		chain[i] = rrs[i];
		chain[i + 1] = NULL;
		s.question = "n0.example. IN A";
		s.answers = chain;
		CHECK_INT(parse(&s, "n0.example", LDNS_RR_TYPE_A, &r, &foreign, &err), 0);
		if (k == MG_DNS_CNAME_MAX) {
			CHECK_INT(r->status, MG_DNS_OK);
			CHECK_INT(r->n, 1);
		} else {
			CHECK_INT(r->status, MG_DNS_PERMFAIL);
			CHECK_STR(r->error, "cname chain too long");
		}
		mg_dns_result_free(&r);
	}
}

static void
test_record_cap(void)
{
	enum { N = MG_DNS_RR_MAX + 36 };
	char rrs[N][64];
	const char *ans[N + 1];
	struct mg_dns_result *r;
	const char *err;
	int foreign;

	for (int i = 0; i < N; i++) {
		snprintf(rrs[i], sizeof(rrs[i]), "many.example. IN A 10.0.%d.%d", i / 256, i % 256);
		ans[i] = rrs[i];
	}
	ans[N] = NULL;
	struct pkt_spec s = { 0x1234, "many.example. IN A", 0, 0, 0, 0, 0, ans };
	CHECK_INT(parse(&s, "many.example", LDNS_RR_TYPE_A, &r, &foreign, &err), 0);
	CHECK_INT(r->status, MG_DNS_OK);
	CHECK_INT(r->n, MG_DNS_RR_MAX);
	CHECK_INT(r->rr[MG_DNS_RR_MAX - 1].u.a.addr[3], MG_DNS_RR_MAX - 1);
	mg_dns_result_free(&r);
}

/* A TXT RR string of n 255-octet character-strings of 'x'. */
static char *
long_txt(int n)
{
	size_t size = 64 + (size_t)n * 258;
	char *s = xmalloc(size), *p;

	p = s + snprintf(s, size, "t.example. IN TXT");
	for (int i = 0; i < n; i++) {
		*p++ = ' ';
		*p++ = '"';
		memset(p, 'x', 255);
		p += 255;
		*p++ = '"';
	}
	*p = '\0';
	return s;
}

static void
test_txt(void)
{
	static const char *const multi[] = { "t.example. IN TXT \"v=spf1 \" \"ip4:192.0.2.0/24\" \" -all\"",
		"t.example. IN TXT \"a\\000b\"", "t.example. IN TXT \"\"", NULL };
	struct pkt_spec s = { 0x1234, "t.example. IN TXT", 0, 0, 0, 0, 0, multi };
	struct mg_dns_result *r;
	const char *err;
	int foreign;

	CHECK_INT(parse(&s, "t.example", LDNS_RR_TYPE_TXT, &r, &foreign, &err), 0);
	CHECK_INT(r->n, 3);
	CHECK_STR(r->rr[0].u.txt.data, "v=spf1 ip4:192.0.2.0/24 -all");
	CHECK_INT(r->rr[0].u.txt.len, strlen("v=spf1 ip4:192.0.2.0/24 -all"));
	CHECK_INT(r->rr[1].u.txt.len, 3);
	CHECK(memcmp(r->rr[1].u.txt.data, "a\0b", 4) == 0, "NUL inside TXT");
	CHECK_INT(r->rr[2].u.txt.len, 0);
	CHECK_STR(r->rr[2].u.txt.data, "");
	mg_dns_result_free(&r);

	/* 16 strings of 255 = 4080 octets fit MG_DNS_TXT_MAX (4096); 17 do not. */
	char *ok = long_txt(16), *big = long_txt(17);
	const char *a1[] = { ok, NULL }, *a2[] = { big, NULL };
	s.answers = a1;
	CHECK_INT(parse(&s, "t.example", LDNS_RR_TYPE_TXT, &r, &foreign, &err), 0);
	CHECK_INT(r->status, MG_DNS_OK);
	CHECK_INT(r->rr[0].u.txt.len, 16 * 255);
	CHECK_INT(strlen(r->rr[0].u.txt.data), 16 * 255);
	mg_dns_result_free(&r);
	s.answers = a2;
	CHECK_INT(parse(&s, "t.example", LDNS_RR_TYPE_TXT, &r, &foreign, &err), 0);
	CHECK_INT(r->status, MG_DNS_PERMFAIL);
	CHECK_STR(r->error, "TXT record too long");
	CHECK_INT(r->n, 0);
	mg_dns_result_free(&r);
	/* A good record before the bad one is dropped too: records come only with OK. */
	const char *a3[] = { "t.example. IN TXT \"fine\"", big, NULL };
	s.answers = a3;
	CHECK_INT(parse(&s, "t.example", LDNS_RR_TYPE_TXT, &r, &foreign, &err), 0);
	CHECK_INT(r->status, MG_DNS_PERMFAIL);
	CHECK_INT(r->n, 0);
	CHECK(r->rr == NULL, "records kept on failure");
	mg_dns_result_free(&r);
	xfree(ok);
	xfree(big);
}

static void
test_decode_types(void)
{
	static const char *const mx[] = { "d.example. IN MX 10 MX1.Example.COM.",
		"d.example. IN MX 0 .", NULL };
	static const char *const tlsa[] = { "_25._tcp.d.example. IN TLSA 3 1 1 "
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL };
	static const char *const ptr[] = { "1.2.0.192.in-addr.arpa. IN PTR Host\\032Name.example.",
		NULL };
	static const char *const aaaa[] = { "d.example. IN AAAA 2001:db8::1", NULL };
	static const char *const ns[] = { "d.example. IN NS ns1.d.example.", NULL };
	static const char *const unk[] = { "d.example. IN TYPE65280 \\# 3 010203", NULL };
	struct mg_dns_result *r;
	const char *err;
	int foreign;
	struct pkt_spec s = { 0x1234, "d.example. IN MX", 0, 0, 0, 0, 0, mx };

	CHECK_INT(parse(&s, "d.example", LDNS_RR_TYPE_MX, &r, &foreign, &err), 0);
	CHECK_INT(r->n, 2);
	CHECK_INT(r->rr[0].u.mx.pref, 10);
	CHECK_STR(r->rr[0].u.mx.host, "mx1.example.com");
	CHECK_INT(r->rr[1].u.mx.pref, 0);
	CHECK_STR(r->rr[1].u.mx.host, "");	/* null MX, RFC 7505 */
	mg_dns_result_free(&r);

	s.question = "_25._tcp.d.example. IN TLSA";
	s.answers = tlsa;
	CHECK_INT(parse(&s, "_25._tcp.d.example", LDNS_RR_TYPE_TLSA, &r, &foreign, &err), 0);
	CHECK_INT(r->n, 1);
	CHECK_INT(r->rr[0].u.tlsa.usage, 3);
	CHECK_INT(r->rr[0].u.tlsa.selector, 1);
	CHECK_INT(r->rr[0].u.tlsa.mtype, 1);
	CHECK_INT(r->rr[0].u.tlsa.len, 32);
	CHECK_INT(r->rr[0].u.tlsa.data[0], 0x01);
	CHECK_INT(r->rr[0].u.tlsa.data[31], 0xef);
	mg_dns_result_free(&r);

	s.question = "1.2.0.192.in-addr.arpa. IN PTR";
	s.answers = ptr;
	CHECK_INT(parse(&s, "1.2.0.192.in-addr.arpa", LDNS_RR_TYPE_PTR, &r, &foreign, &err), 0);
	CHECK_INT(r->n, 1);
	CHECK_STR(r->rr[0].u.name, "host\\032name.example");
	mg_dns_result_free(&r);

	s.question = "d.example. IN AAAA";
	s.answers = aaaa;
	CHECK_INT(parse(&s, "d.example", LDNS_RR_TYPE_AAAA, &r, &foreign, &err), 0);
	CHECK_INT(r->n, 1);
	CHECK_INT(r->rr[0].u.a.family, AF_INET6);
	CHECK_INT(r->rr[0].u.a.addr[0], 0x20);
	CHECK_INT(r->rr[0].u.a.addr[15], 1);
	mg_dns_result_free(&r);

	s.question = "d.example. IN NS";
	s.answers = ns;
	CHECK_INT(parse(&s, "d.example", LDNS_RR_TYPE_NS, &r, &foreign, &err), 0);
	CHECK_STR(r->n ? r->rr[0].u.name : NULL, "ns1.d.example");
	mg_dns_result_free(&r);

	s.question = "d.example. IN TYPE65280";
	s.answers = unk;
	CHECK_INT(parse(&s, "d.example", 65280, &r, &foreign, &err), 0);
	CHECK_INT(r->n, 1);
	CHECK_INT(r->rr[0].u.raw.len, 3);
	CHECK(r->n && memcmp(r->rr[0].u.raw.data, "\1\2\3", 3) == 0, "raw rdata");
	mg_dns_result_free(&r);
}

static void
test_name_check(void)
{
	char label63[64], label64[65], long254[260], out[MG_DNS_NAME_MAX + 1];
	const char *err;
	static const struct {
		const char *in, *out;
	} good[] = {
		{ "Example.COM", "example.com" }, { "example.com.", "example.com" },
		{ "_dmarc.example.com", "_dmarc.example.com" }, { "*.x.example", "*.x.example" },
		{ "a\\.b.example", "a\\.b.example" }, { "x", "x" }, { "a.b\\.", "a.b\\." },
		{ "a.b\\\\.", "a.b\\\\" },
	};
	static const char *const bad[] = { "", ".", "a..b", "..", "a.b..", ".a" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK(mg_dns_name_check(good[i].in, out, sizeof(out), &err) == 0, "%s rejected",
		    good[i].in);
		CHECK_STR(out, good[i].out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(mg_dns_name_check(bad[i], out, sizeof(out), &err) == -1, "\"%s\" accepted",
		    bad[i]);
		CHECK_STR(err, "invalid name");
	}
	CHECK(mg_dns_name_check(NULL, out, sizeof(out), &err) == -1, "NULL accepted");
	memset(label63, 'a', 63);
	label63[63] = '\0';
	memset(label64, 'a', 64);
	label64[64] = '\0';
	CHECK_INT(mg_dns_name_check(label63, out, sizeof(out), &err), 0);
	CHECK_INT(mg_dns_name_check(label64, out, sizeof(out), &err), -1);
	/* 253 characters pass, 254 do not (a final dot does not count). */
	for (int n = 253; n <= 254; n++) {
		int i;
		for (i = 0; i < n; i++)
			long254[i] = (i % 50 == 49) ? '.' : 'a';
		long254[i] = '\0';
		CHECK_INT(mg_dns_name_check(long254, out, sizeof(out), &err), n == 253 ? 0 : -1);
		long254[i] = '.';
		long254[i + 1] = '\0';
		CHECK_INT(mg_dns_name_check(long254, NULL, 0, &err), n == 253 ? 0 : -1);
	}
}

static void
test_reverse(void)
{
	struct sockaddr_in in4 = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	struct sockaddr sa_unix = { .sa_family = AF_UNIX };
	char out[128], tiny[8];

	inet_pton(AF_INET, "192.0.2.99", &in4.sin_addr);
	CHECK_INT(mg_dns_reverse_name((struct sockaddr *)&in4, "zen.example", out, sizeof(out)), 0);
	CHECK_STR(out, "99.2.0.192.zen.example");	/* RFC 5782 §2.1 */
	CHECK_INT(mg_dns_reverse_name((struct sockaddr *)&in4, "in-addr.arpa", out, sizeof(out)), 0);
	CHECK_STR(out, "99.2.0.192.in-addr.arpa");
	CHECK_INT(mg_dns_reverse_name((struct sockaddr *)&in4, NULL, out, sizeof(out)), 0);
	CHECK_STR(out, "99.2.0.192");
	CHECK_INT(mg_dns_reverse_name((struct sockaddr *)&in4, "", out, sizeof(out)), 0);
	CHECK_STR(out, "99.2.0.192");
	CHECK_INT(mg_dns_reverse_name((struct sockaddr *)&in4, "zen.example", tiny, sizeof(tiny)), -1);
	CHECK_INT(mg_dns_reverse_name((struct sockaddr *)&in4, "zen.example", out, 22), -1);
	CHECK_INT(mg_dns_reverse_name((struct sockaddr *)&in4, "zen.example", out, 23), 0);

	inet_pton(AF_INET6, "2001:db8:1:2::a:bc", &in6.sin6_addr);
	CHECK_INT(mg_dns_reverse_name((struct sockaddr *)&in6, "ip6.arpa", out, sizeof(out)), 0);
	/* RFC 5782 §2.4: 32 nibbles, least significant first. */
	CHECK_STR(out, "c.b.0.0.a.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	CHECK_INT(mg_dns_reverse_name((struct sockaddr *)&in6, "ip6.arpa", out, 72), -1);
	CHECK_INT(mg_dns_reverse_name(&sa_unix, "x", out, sizeof(out)), -1);
}

static void
test_result_helpers(void)
{
	struct mg_dns_result *r = mg_dns_result_new("Bad..Name.", 16, MG_DNS_PERMFAIL, "invalid name");
	struct mg_dns_result *none = NULL;

	CHECK_INT(r->status, MG_DNS_PERMFAIL);
	CHECK_INT(r->rcode, -1);
	CHECK_INT(r->n, 0);
	CHECK(r->rr == NULL, "rr");
	CHECK_STR(r->qname, "bad..name");
	CHECK_STR(r->error, "invalid name");
	mg_dns_result_free(&r);
	mg_dns_result_free(&none);
	mg_dns_result_free(NULL);
	CHECK_STR(mg_dns_status_name(MG_DNS_OK), "ok");
	CHECK_STR(mg_dns_status_name(MG_DNS_NODATA), "nodata");
	CHECK_STR(mg_dns_status_name(MG_DNS_NXDOMAIN), "nxdomain");
	CHECK_STR(mg_dns_status_name(MG_DNS_TEMPFAIL), "tempfail");
	CHECK_STR(mg_dns_status_name(MG_DNS_PERMFAIL), "permfail");
}

static const struct unit_case cases[] = {
	{ "ok_a", test_ok_a },
	{ "statuses", test_statuses },
	{ "foreign", test_foreign },
	{ "truncated_flag", test_truncated_flag },
	{ "cut_and_garbage", test_cut_and_garbage },
	{ "cname_chain", test_cname_chain },
	{ "cname_loops_and_length", test_cname_loops_and_length },
	{ "record_cap", test_record_cap },
	{ "txt", test_txt },
	{ "decode_types", test_decode_types },
	{ "name_check", test_name_check },
	{ "reverse", test_reverse },
	{ "result_helpers", test_result_helpers },
};

UNIT_MAIN(cases)
