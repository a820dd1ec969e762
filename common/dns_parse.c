/* DNS answer decoding for the resolver façade (common/dns.h): one wire response in, one bounded
 * struct mg_dns_result out, plus the result type's constructors, name validation, reverse names
 * and status names. No I/O and no global state, so it runs on any thread and is fuzzed
 * (tests/fuzz/fuzz_dns_response.c). Trusts nothing in the message: ldns_wire2pkt does the
 * framing, then the id, QR, opcode and question are checked against the query, CNAMEs are followed
 * only inside the answer section (at most MG_DNS_CNAME_MAX links, loops detected), at most
 * MG_DNS_RR_MAX records are kept and a TXT record's joined strings are capped at MG_DNS_TXT_MAX. */
#include "common/dns.h"

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <string.h>

#include "lib/str.h"
#include "lib/xalloc.h"

const char *
mg_dns_status_name(enum mg_dns_status st)
{
	switch (st) {
	case MG_DNS_OK: return "ok";
	case MG_DNS_NODATA: return "nodata";
	case MG_DNS_NXDOMAIN: return "nxdomain";
	case MG_DNS_TEMPFAIL: return "tempfail";
	case MG_DNS_PERMFAIL: return "permfail";
	}
	return "unknown";
}

/* Does s end with a dot that is not escaped? "a." yes; a backslash then a dot, no; two
 * backslashes (an escaped backslash) then a dot, yes. */
static int
has_final_dot(const char *s)
{
	size_t n = strlen(s), bs = 0;

	if (n == 0 || s[n - 1] != '.')
		return 0;
	while (bs + 1 < n && s[n - 2 - bs] == '\\')
		bs++;
	return bs % 2 == 0;
}

/* Copies name into out lowercased and without a final dot (truncating if it does not fit). */
static void
name_normalize(const char *name, char *out, size_t outsize)
{
	str_lcpy(out, name ? name : "", outsize);
	str_lower(out);
	if (has_final_dot(out))
		out[strlen(out) - 1] = '\0';	/* the root label */
}

int
mg_dns_name_check(const char *name, char *out, size_t outsize, const char **error_r)
{
	char norm[MG_DNS_NAME_MAX + 2];
	ldns_rdf *rdf;

	*error_r = "invalid name";
	if (name == NULL || name[0] == '\0' || strlen(name) > MG_DNS_NAME_MAX + 1)
		return -1;
	name_normalize(name, norm, sizeof(norm));
	if (norm[0] == '\0' || norm[0] == '.' || has_final_dot(norm) || strlen(norm) > MG_DNS_NAME_MAX)
		return -1;	/* empty, root, or an empty first/last label */
	/* ldns rejects empty labels ("a..b"), labels over 63 octets and names over 255 octets
	 * in wire form (RFC 1035 §2.3.4), and decodes \DDD and \X escapes. */
	if ((rdf = ldns_dname_new_frm_str(norm)) == NULL)
		return -1;
	ldns_rdf_deep_free(rdf);
	if (out != NULL && str_lcpy(out, norm, outsize) >= outsize)
		return -1;
	*error_r = NULL;
	return 0;
}

struct mg_dns_result *
mg_dns_result_new(const char *qname, uint16_t qtype, enum mg_dns_status st, const char *error)
{
	struct mg_dns_result *r = xcalloc(1, sizeof(*r));

	r->status = st;
	r->rcode = -1;
	r->qtype = qtype;
	r->error = error;
	name_normalize(qname, r->qname, sizeof(r->qname));
	return r;
}

static void
rr_clear(struct mg_dns_rr *rr)
{
	switch (rr->type) {
	case LDNS_RR_TYPE_A:
	case LDNS_RR_TYPE_AAAA:
		break;
	case LDNS_RR_TYPE_MX:
		xfree(rr->u.mx.host);
		break;
	case LDNS_RR_TYPE_CNAME:
	case LDNS_RR_TYPE_PTR:
	case LDNS_RR_TYPE_NS:
		xfree(rr->u.name);
		break;
	case LDNS_RR_TYPE_TXT:
	case LDNS_RR_TYPE_SPF:
		xfree(rr->u.txt.data);
		break;
	case LDNS_RR_TYPE_TLSA:
		xfree(rr->u.tlsa.data);
		break;
	default:
		xfree(rr->u.raw.data);
		break;
	}
}

void
mg_dns_result_free(struct mg_dns_result **r)
{
	if (r == NULL || *r == NULL)
		return;
	for (size_t i = 0; i < (*r)->n; i++)
		rr_clear(&(*r)->rr[i]);
	xfree((*r)->rr);
	xfree(*r);
	*r = NULL;
}

/* Presentation form of a wire domain name: lowercase, no final dot ("" for the root), with
 * RFC 1035 §5.1 escapes for octets that are not plain hostname material. Bounded by the wire
 * form (at most 255 octets, each at most 4 characters). Returns an allocation. */
static char *
dname_to_str(const ldns_rdf *rdf)
{
	const uint8_t *p = ldns_rdf_data(rdf);
	size_t len = ldns_rdf_size(rdf), i = 0;
	char out[4 * 255 + 1];
	size_t o = 0;

	while (i < len && p[i] != 0) {
		size_t l = p[i++];
		if (l > 63 || i + l > len)
			break;		/* ldns validated the name; stay bounded anyway */
		if (o > 0)
			out[o++] = '.';
		for (size_t k = 0; k < l && o + 5 < sizeof(out); k++) {
			unsigned char c = p[i + k];
			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c - 'A' + 'a');
			if (c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' ||
			    c == '@' || c == '$') {
				out[o++] = '\\';
				out[o++] = (char)c;
			} else if (c > 32 && c < 127) {
				out[o++] = (char)c;
			} else {
				out[o++] = '\\';
				out[o++] = (char)('0' + c / 100);
				out[o++] = (char)('0' + c / 10 % 10);
				out[o++] = (char)('0' + c % 10);
			}
		}
		i += l;
	}
	out[o] = '\0';
	return xstrdup(out);
}

static int
is_name_rdf(const ldns_rdf *rdf)
{
	return rdf != NULL && ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_DNAME;
}

/* TXT/SPF: the character-strings joined (RFC 7208 §3.3, RFC 6376 §3.6.2.2). */
static int
decode_txt(const ldns_rr *rr, struct mg_dns_rr *out, const char **error_r)
{
	size_t total = 0, n = ldns_rr_rd_count(rr);
	char *data;

	for (size_t i = 0; i < n; i++) {
		const ldns_rdf *f = ldns_rr_rdf(rr, i);
		if (ldns_rdf_get_type(f) != LDNS_RDF_TYPE_STR || ldns_rdf_size(f) < 1) {
			*error_r = "malformed answer";
			return -1;
		}
		total += ldns_rdf_size(f) - 1;
	}
	if (total > MG_DNS_TXT_MAX) {
		*error_r = "TXT record too long";
		return -1;
	}
	data = xmalloc(total + 1);
	total = 0;
	for (size_t i = 0; i < n; i++) {
		const ldns_rdf *f = ldns_rr_rdf(rr, i);
		size_t l = ldns_rdf_size(f) - 1;
		memcpy(data + total, ldns_rdf_data(f) + 1, l);
		total += l;
	}
	data[total] = '\0';
	out->u.txt.data = data;
	out->u.txt.len = total;
	return 0;
}

static int
decode_tlsa(const ldns_rr *rr, struct mg_dns_rr *out)
{
	const ldns_rdf *f[4];

	if (ldns_rr_rd_count(rr) != 4)
		return -1;
	for (int i = 0; i < 4; i++)
		f[i] = ldns_rr_rdf(rr, (size_t)i);
	if (ldns_rdf_size(f[0]) != 1 || ldns_rdf_size(f[1]) != 1 || ldns_rdf_size(f[2]) != 1)
		return -1;
	out->u.tlsa.usage = ldns_rdf_data(f[0])[0];
	out->u.tlsa.selector = ldns_rdf_data(f[1])[0];
	out->u.tlsa.mtype = ldns_rdf_data(f[2])[0];
	out->u.tlsa.len = ldns_rdf_size(f[3]);
	out->u.tlsa.data = xmemdup(ldns_rdf_data(f[3]), out->u.tlsa.len);
	return 0;
}

/* Other types: the uncompressed RDATA as on the wire (RFC 3597 style). */
static int
decode_raw(const ldns_rr *rr, struct mg_dns_rr *out)
{
	ldns_buffer *b = ldns_buffer_new(512);
	int rc = -1;

	if (b == NULL)
		return -1;
	if (ldns_rr_rdata2buffer_wire(b, rr) == LDNS_STATUS_OK) {
		out->u.raw.len = ldns_buffer_position(b);
		out->u.raw.data = xmemdup(ldns_buffer_begin(b), out->u.raw.len + 1);
		out->u.raw.data[out->u.raw.len] = 0;
		rc = 0;
	}
	ldns_buffer_free(b);
	return rc;
}

/* Decodes one record of the asked type into out (type and ttl set). */
static int
decode_rr(const ldns_rr *rr, struct mg_dns_rr *out, const char **error_r)
{
	const ldns_rdf *f0 = ldns_rr_rd_count(rr) > 0 ? ldns_rr_rdf(rr, 0) : NULL;

	memset(out, 0, sizeof(*out));
	out->type = (uint16_t)ldns_rr_get_type(rr);
	out->ttl = ldns_rr_ttl(rr);
	*error_r = "malformed answer";
	switch (out->type) {
	case LDNS_RR_TYPE_A:
	case LDNS_RR_TYPE_AAAA: {
		size_t want = out->type == LDNS_RR_TYPE_A ? 4 : 16;
		if (f0 == NULL || ldns_rdf_size(f0) != want)
			return -1;
		out->u.a.family = out->type == LDNS_RR_TYPE_A ? AF_INET : AF_INET6;
		memcpy(out->u.a.addr, ldns_rdf_data(f0), want);
		return 0;
	}
	case LDNS_RR_TYPE_MX: {
		const ldns_rdf *f1 = ldns_rr_rd_count(rr) > 1 ? ldns_rr_rdf(rr, 1) : NULL;
		if (f0 == NULL || ldns_rdf_size(f0) != 2 || !is_name_rdf(f1))
			return -1;
		out->u.mx.pref = (uint16_t)(ldns_rdf_data(f0)[0] << 8 | ldns_rdf_data(f0)[1]);
		out->u.mx.host = dname_to_str(f1);
		return 0;
	}
	case LDNS_RR_TYPE_CNAME:
	case LDNS_RR_TYPE_PTR:
	case LDNS_RR_TYPE_NS:
		if (!is_name_rdf(f0))
			return -1;
		out->u.name = dname_to_str(f0);
		return 0;
	case LDNS_RR_TYPE_TXT:
	case LDNS_RR_TYPE_SPF:
		return decode_txt(rr, out, error_r);
	case LDNS_RR_TYPE_TLSA:
		return decode_tlsa(rr, out);
	default:
		return decode_raw(rr, out);
	}
}

/* Is the question section exactly (qname, qtype, IN)? */
static int
question_matches(const ldns_pkt *pkt, const ldns_rdf *qrdf, uint16_t qtype)
{
	const ldns_rr_list *q = ldns_pkt_question(pkt);
	const ldns_rr *rr;

	if (q == NULL || ldns_rr_list_rr_count(q) != 1)
		return 0;
	rr = ldns_rr_list_rr(q, 0);
	return ldns_rr_get_type(rr) == qtype && ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN &&
	    ldns_dname_compare(ldns_rr_owner(rr), qrdf) == 0;
}

/* RCODE -> status (common/dns.h): NOERROR is refined by the answer section later. */
static enum mg_dns_status
rcode_status(int rcode, const char **error_r)
{
	*error_r = NULL;
	switch (rcode) {
	case LDNS_RCODE_NOERROR: return MG_DNS_OK;
	case LDNS_RCODE_NXDOMAIN: return MG_DNS_NXDOMAIN;
	case LDNS_RCODE_SERVFAIL: *error_r = "servfail"; return MG_DNS_TEMPFAIL;
	case LDNS_RCODE_FORMERR: *error_r = "formerr"; return MG_DNS_PERMFAIL;
	case LDNS_RCODE_NOTIMPL: *error_r = "notimp"; return MG_DNS_PERMFAIL;
	case LDNS_RCODE_REFUSED: *error_r = "refused"; return MG_DNS_PERMFAIL;
	default: *error_r = "unexpected rcode"; return MG_DNS_TEMPFAIL;	/* when unsure, tempfail */
	}
}

/* Marks res failed and drops any record collected so far: records come only with MG_DNS_OK. */
static void
answer_fail(struct mg_dns_result *res, const char *error)
{
	for (size_t i = 0; i < res->n; i++)
		rr_clear(&res->rr[i]);
	xfree(res->rr);
	res->rr = NULL;
	res->n = 0;
	res->status = MG_DNS_PERMFAIL;
	res->error = error;
}

/* Follows the CNAME chain from qname inside the answer and collects the records of qtype owned
 * by its last name. Fails res for a loop, an over-long chain or a bad record. */
static void
collect_answer(const ldns_pkt *pkt, const ldns_rdf *qrdf, uint16_t qtype,
    struct mg_dns_result *res)
{
	const ldns_rr_list *ans = ldns_pkt_answer(pkt);
	size_t count = ans ? ldns_rr_list_rr_count(ans) : 0;
	const ldns_rdf *chain[MG_DNS_CNAME_MAX + 1];
	int links = 0;
	const char *err;

	chain[0] = qrdf;
	for (;;) {
		const ldns_rdf *cur = chain[links], *next = NULL;
		for (size_t i = 0; i < count; i++) {
			const ldns_rr *rr = ldns_rr_list_rr(ans, i);
			if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN ||
			    ldns_dname_compare(ldns_rr_owner(rr), cur) != 0)
				continue;
			if (ldns_rr_get_type(rr) == qtype) {
				if (res->n >= MG_DNS_RR_MAX)
					continue;	/* keep the first MG_DNS_RR_MAX */
				if (res->rr == NULL)
					res->rr = xcalloc(MG_DNS_RR_MAX, sizeof(*res->rr));
				if (decode_rr(rr, &res->rr[res->n], &err) < 0) {
					rr_clear(&res->rr[res->n]);
					answer_fail(res, err);
					return;
				}
				res->n++;
			} else if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME && next == NULL &&
			    ldns_rr_rd_count(rr) == 1 && is_name_rdf(ldns_rr_rdf(rr, 0))) {
				next = ldns_rr_rdf(rr, 0);
			}
		}
		if (res->n > 0 || next == NULL || qtype == LDNS_RR_TYPE_CNAME)
			return;
		for (int k = 0; k <= links; k++) {
			if (ldns_dname_compare(chain[k], next) == 0) {
				answer_fail(res, "cname loop");
				return;
			}
		}
		if (links == MG_DNS_CNAME_MAX) {
			answer_fail(res, "cname chain too long");
			return;
		}
		chain[++links] = next;
	}
}

int
mg_dns_parse_reply(const unsigned char *wire, size_t len, uint16_t id, const char *qname,
    uint16_t qtype, struct mg_dns_result **res_r, int *foreign_r, const char **error_r)
{
	ldns_pkt *pkt = NULL;
	ldns_rdf *qrdf = NULL;
	struct mg_dns_result *res;
	enum mg_dns_status st;
	int foreign = 1, rc = -1, rcode;
	const char *err;

	*res_r = NULL;
	*error_r = "malformed answer";
	/* Header fields first, from the raw octets: a datagram that is not a response to this
	 * query is foreign even when ldns cannot decode it (RFC 5452 §9.1). */
	if (len < LDNS_HEADER_SIZE) {
		*error_r = "short message";
		goto out;
	}
	if ((uint16_t)(wire[0] << 8 | wire[1]) != id) {
		*error_r = "id mismatch";
		goto out;
	}
	if (!(wire[2] & 0x80)) {
		*error_r = "not a response";
		goto out;
	}
	if ((qrdf = ldns_dname_new_frm_str(qname)) == NULL) {
		*error_r = "invalid name";
		goto out;
	}
	foreign = 0;
	if (ldns_wire2pkt(&pkt, wire, len) != LDNS_STATUS_OK) {
		pkt = NULL;
		goto out;
	}
	if (ldns_pkt_get_opcode(pkt) != LDNS_PACKET_QUERY) {
		*error_r = "not a query response";
		foreign = 1;
		goto out;
	}
	if (!question_matches(pkt, qrdf, qtype)) {
		*error_r = "question mismatch";
		foreign = 1;
		goto out;
	}
	if (ldns_pkt_tc(pkt)) {
		*error_r = "truncated";
		rc = 1;
		goto out;
	}
	/* EDNS0 extends the RCODE with 8 high bits (RFC 6891 §6.1.3). */
	rcode = (int)ldns_pkt_get_rcode(pkt) | (int)ldns_pkt_edns_extended_rcode(pkt) << 4;
	st = rcode_status(rcode, &err);
	res = mg_dns_result_new(qname, qtype, st, err);
	res->rcode = rcode;
	res->secure = ldns_pkt_ad(pkt) ? 1 : 0;
	if (rcode == LDNS_RCODE_NOERROR) {
		collect_answer(pkt, qrdf, qtype, res);
		if (res->status == MG_DNS_OK && res->n == 0)
			res->status = MG_DNS_NODATA;
	}
	*res_r = res;
	*error_r = NULL;
	rc = 0;
out:
	if (foreign_r != NULL)
		*foreign_r = rc < 0 ? foreign : 0;
	if (pkt != NULL)
		ldns_pkt_free(pkt);
	if (qrdf != NULL)
		ldns_rdf_deep_free(qrdf);
	return rc;
}

int
mg_dns_parse_response(const unsigned char *wire, size_t len, uint16_t id, const char *qname,
    uint16_t qtype, struct mg_dns_result **res_r, const char **error_r)
{
	return mg_dns_parse_reply(wire, len, id, qname, qtype, res_r, NULL, error_r);
}

static int
append(char *out, size_t outsize, size_t *o, const char *s)
{
	size_t n = strlen(s);

	if (*o + n >= outsize)
		return -1;
	memcpy(out + *o, s, n + 1);
	*o += n;
	return 0;
}

int
mg_dns_reverse_name(const struct sockaddr *addr, const char *zone, char *out, size_t outsize)
{
	static const char hex[] = "0123456789abcdef";
	char part[8];
	size_t o = 0;

	if (outsize == 0)
		return -1;
	out[0] = '\0';
	if (addr->sa_family == AF_INET) {
		const unsigned char *a =
		    (const unsigned char *)&((const struct sockaddr_in *)(const void *)addr)->sin_addr;
		for (int i = 3; i >= 0; i--) {
			if (str_fmt(part, sizeof(part), i == 3 ? "%u" : ".%u", a[i]) < 0 ||
			    append(out, outsize, &o, part) < 0)
				return -1;
		}
	} else if (addr->sa_family == AF_INET6) {
		const unsigned char *a =
		    ((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr.s6_addr;
		for (int i = 15; i >= 0; i--) {
			char nib[5] = { hex[a[i] & 15], '.', hex[a[i] >> 4], i > 0 ? '.' : '\0', 0 };
			if (append(out, outsize, &o, nib) < 0)
				return -1;
		}
	} else {
		return -1;
	}
	if (zone != NULL && zone[0] != '\0' && strcmp(zone, ".") != 0) {
		if (append(out, outsize, &o, ".") < 0 || append(out, outsize, &o, zone) < 0)
			return -1;
	}
	return 0;
}
