/* spf.c: check_host() (RFC 7208) for the filter pool: derives and validates the identity (§2.4,
 * §4.3), fetches the record through our DNS layer (spf_dns.c) and guard (spf_guard.c), lets
 * libspf2 interpret the canonical record, and maps the outcome, counters and explanation into a
 * struct mg_spf_result; also the RFC 8601 Authentication-Results fragment.
 * Runs on filter worker threads, one struct mg_spf (one SPF_server_t) per thread.
 * Trusts nothing it is given: the client address must parse, the sender and HELO are peer text
 * (non-printable octets are percent-encoded before libspf2 sees them), DNS text is guarded.
 * libspf2's localhost "free ride" is bypassed: we call its interpreter, not its query entry. */
#include <arpa/inet.h>
#include <pthread.h>
#include <string.h>

#include "filter/spf.h"
#include "filter/spf_int.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

/* The explanation when a domain gives none (RFC 7208 §6.2 lets the receiver choose). */
#define MG_SPF_DEFAULT_EXP "%{i}%_is%_not%_one%_of%_%{o}'s%_designated%_mail%_servers."

struct mg_spf {
	SPF_server_t *server;
	SPF_dns_server_t *dns;		/* ours unless libspf2 says it owns it (destroy_resolver) */
	struct mg_spf_ctx ctx;
};

static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;

static void __attribute__((noreturn))
spf_error_handler(const char *file, int line, const char *msg)
{
	panic("libspf2: %s:%d: %s", file != NULL ? file : "?", line, msg);
}

static void
spf_warning_handler(const char *file, int line, const char *msg)
{
	(void)file;
	(void)line;
	log_debug("libspf2: %s", msg);
}

/* libspf2's log hooks are process globals: set once, before the first server. */
static void
install_handlers(void)
{
	SPF_error_handler = spf_error_handler;
	SPF_warning_handler = spf_warning_handler;
	SPF_info_handler = NULL;
	SPF_debug_handler = NULL;
}

struct mg_spf *
mg_spf_new(const char **error_r)
{
	struct mg_spf *spf;
	SPF_dns_server_t *dns;
	SPF_response_t *resp = NULL;

	pthread_once(&handlers_once, install_handlers);
	spf = xcalloc(1, sizeof(*spf));
	buf_init(&spf->ctx.canon, 2 * MG_SPF_RECORD_MAX);
	dns = spf->dns = mg_spf_dns_new(&spf->ctx);
	spf->server = SPF_server_new_dns(dns, 0);
	if (spf->server == NULL) {
		xfree(dns);
		buf_free(&spf->ctx.canon);
		xfree(spf);
		*error_r = "libspf2: cannot create a server";
		return NULL;
	}
	if (SPF_server_set_explanation(spf->server, MG_SPF_DEFAULT_EXP, &resp) != SPF_E_SUCCESS) {
		if (resp != NULL)
			SPF_response_free(resp);
		mg_spf_free(&spf);
		*error_r = "libspf2: cannot compile the default explanation";
		return NULL;
	}
	SPF_response_free(resp);
	return spf;
}

void
mg_spf_free(struct mg_spf **spfp)
{
	struct mg_spf *spf = *spfp;

	if (spf == NULL)
		return;
	mg_spf_ctx_end(&spf->ctx);
	if (spf->server != NULL) {
		/* libspf2 1.2.10 frees a resolver given to SPF_server_new_dns() only when it set
		 * destroy_resolver (it does not): free ours unless it will. */
		int owned = spf->server->destroy_resolver;

		SPF_server_free(spf->server);
		if (!owned)
			SPF_dns_free(spf->dns);
	}
	buf_free(&spf->ctx.canon);
	xfree(spf);
	*spfp = NULL;
}

void
mg_spf_set_unguarded(struct mg_spf *spf, int unguarded)
{
	spf->ctx.unguarded = unguarded;
}

const char *
mg_spf_result_name(enum mg_spf_status st)
{
	static const char *const names[] = { "none", "neutral", "pass", "fail", "softfail",
	    "temperror", "permerror" };

	if ((unsigned)st >= sizeof(names) / sizeof(names[0]))
		return "permerror";
	return names[st];
}

/* §4.3: a multi-label name of 1..63-octet labels (LDH and '_'), at most 253 octets, one final
 * dot allowed. Anything else (domain literals, empty labels, 8-bit) makes the result "none". */
static int
is_valid_domain(const char *d)
{
	size_t len = strlen(d), label = 0;
	int labels = 1;

	if (len > 0 && d[len - 1] == '.')
		len--;
	if (len == 0 || len > MG_DNS_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = d[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			labels++;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_'))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && labels >= 2;
}

/* Copies n octets of peer or DNS text, percent-encoding every octet outside lowest..0x7e
 * ('%' itself stays): libspf2 must never see 8-bit octets (its URL-encoding of them overflows,
 * CVE-2021-33912), logs never see control characters. -1 if it does not fit. */
static int
copy_encoded(char *out, size_t outsize, const char *s, size_t n, unsigned char lowest)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= lowest && c <= 0x7e) {
			if (o + 1 >= outsize)
				return -1;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= outsize)
				return -1;
			out[o++] = '%';
			out[o++] = "0123456789ABCDEF"[c >> 4];
			out[o++] = "0123456789ABCDEF"[c & 15];
		}
	}
	if (outsize == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

static void
set_reason(struct mg_spf_result *out, const char *why)
{
	if (copy_encoded(out->reason, sizeof(out->reason), why, strlen(why), 0x20) < 0)
		out->reason[sizeof(out->reason) - 1] = '\0';
}

/* MAIL FROM, or postmaster@HELO for the null sender (§2.4); no local-part: postmaster (§4.3).
 * Fills out->identity, out->domain. Returns 0, -1 when the identity cannot be used ("none"). */
static int
make_identity(const char *helo, const char *sender, struct mg_spf_result *out)
{
	char local[MG_SPF_LOCAL_MAX + 1];
	const char *at, *dom;
	size_t llen;

	if (*sender == '\0') {
		out->identity_is_helo = 1;
		at = NULL;
		dom = helo;
		llen = 0;
	} else {
		at = strrchr(sender, '@');
		dom = at != NULL ? at + 1 : sender;
		llen = at != NULL ? (size_t)(at - sender) : 0;
	}
	if (llen == 0)
		str_lcpy(local, "postmaster", sizeof(local));
	else if (copy_encoded(local, sizeof(local), sender, llen, 0x20) < 0)
		return -1;
	if (str_lcpy(out->domain, dom, sizeof(out->domain)) >= sizeof(out->domain))
		return -1;
	if (str_fmt(out->identity, sizeof(out->identity), "%s@%s", local, dom) < 0)
		return -1;
	return is_valid_domain(dom) ? 0 : -1;
}

static enum mg_spf_status
map_result(SPF_result_t r)
{
	switch (r) {
	case SPF_RESULT_PASS:
		return MG_SPF_PASS;
	case SPF_RESULT_FAIL:
		return MG_SPF_FAIL;
	case SPF_RESULT_SOFTFAIL:
		return MG_SPF_SOFTFAIL;
	case SPF_RESULT_NEUTRAL:
		return MG_SPF_NEUTRAL;
	case SPF_RESULT_NONE:
		return MG_SPF_NONE;
	case SPF_RESULT_TEMPERROR:
		return MG_SPF_TEMPERROR;
	default:
		return MG_SPF_PERMERROR;
	}
}

/* Runs libspf2's interpreter on the compiled top-level record. */
static void
interpret(struct mg_spf *spf, SPF_request_t *req, SPF_response_t *resp, SPF_record_t *rec,
    struct mg_spf_result *out)
{
	resp->spf_record_exp = rec;
	SPF_record_interpret(rec, req, resp, 0);
	/* After a redirect resp->spf_record_exp may point at a freed record: not used again. */
	resp->spf_record_exp = NULL;
	out->result = map_result(resp->result);
	switch (out->result) {
	case MG_SPF_TEMPERROR:
	case MG_SPF_PERMERROR:
		set_reason(out, spf->ctx.why[0] != '\0' ? spf->ctx.why : SPF_strerror(resp->err));
		break;
	default:
		set_reason(out, resp->reason == SPF_REASON_DEFAULT ? "no mechanism matched" :
		    "a mechanism matched");
		break;
	}
	if (out->result == MG_SPF_FAIL && resp->explanation != NULL &&
	    copy_encoded(out->explanation, sizeof(out->explanation), resp->explanation,
	    strlen(resp->explanation), 0x20) < 0)
		out->explanation[sizeof(out->explanation) - 1] = '\0';
}

static int
parse_client(const char *ip, int *family_r, unsigned char *addr)
{
	if (inet_pton(AF_INET, ip, addr) == 1) {
		*family_r = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, ip, addr) != 1)
		return -1;
	*family_r = AF_INET6;
	if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)addr)) {
		/* §5: an IPv4-mapped client is checked as the IPv4 address it carries. */
		memmove(addr, addr + 12, 4);
		*family_r = AF_INET;
	}
	return 0;
}

static void
run_check(struct mg_spf *spf, int family, const unsigned char *addr, const char *helo,
    struct mg_spf_result *out)
{
	SPF_request_t *req = SPF_request_new(spf->server);
	SPF_response_t *resp;
	SPF_record_t *rec = NULL;
	char domain[MG_DNS_NAME_MAX + 1];
	struct in_addr a4;
	struct in6_addr a6;

	if (req == NULL)
		fatal("spf: out of memory");
	if (family == AF_INET) {
		memcpy(&a4, addr, 4);
		SPF_request_set_ipv4(req, a4);
	} else {
		memcpy(&a6, addr, 16);
		SPF_request_set_ipv6(req, a6);
	}
	if (SPF_request_set_helo_dom(req, helo) != SPF_E_SUCCESS ||
	    SPF_request_set_env_from(req, out->identity) != 0)
		fatal("spf: out of memory");
	str_lcpy(domain, out->domain, sizeof(domain));
	if (domain[0] != '\0' && domain[strlen(domain) - 1] == '.')
		domain[strlen(domain) - 1] = '\0';
	req->cur_dom = domain;
	if ((resp = SPF_response_new(req)) == NULL)
		fatal("spf: out of memory");
	switch (mg_spf_fetch_record(&spf->ctx, spf->server, resp, domain, &rec)) {
	case MG_SPF_FETCH_OK:
		interpret(spf, req, resp, rec, out);
		SPF_record_free(rec);
		break;
	case MG_SPF_FETCH_NONE:
		out->result = MG_SPF_NONE;
		set_reason(out, spf->ctx.why);
		break;
	case MG_SPF_FETCH_TEMP:
		out->result = MG_SPF_TEMPERROR;
		set_reason(out, spf->ctx.why);
		break;
	default:
		out->result = MG_SPF_PERMERROR;
		set_reason(out, spf->ctx.why);
		break;
	}
	SPF_response_free(resp);
	SPF_request_free(req);
}

int
mg_spf_check(struct mg_spf *spf, const struct mg_dns_lookup *dns, const char *client_ip,
    const char *helo, const char *sender, struct mg_spf_result *out)
{
	unsigned char addr[16];
	char helo_p[MG_DNS_NAME_MAX + 1];
	int family;

	memset(out, 0, sizeof(*out));
	out->result = MG_SPF_PERMERROR;
	if (spf == NULL || dns == NULL || dns->fn == NULL || client_ip == NULL) {
		set_reason(out, "missing argument");
		return -1;
	}
	if (parse_client(client_ip, &family, addr) < 0) {
		set_reason(out, "invalid client address");
		return -1;
	}
	helo = helo != NULL ? helo : "";
	if (copy_encoded(helo_p, sizeof(helo_p), helo, strlen(helo), 0x20) < 0)
		helo_p[0] = '\0';	/* unusable as %{h}; an over-long HELO is no domain anyway */
	if (make_identity(helo_p, sender != NULL ? sender : "", out) < 0) {
		out->result = MG_SPF_NONE;
		set_reason(out, "no valid domain in the identity");
		return 0;
	}
	mg_spf_ctx_begin(&spf->ctx, dns, family, addr);
	run_check(spf, family, addr, helo_p, out);
	if (spf->ctx.limit != NULL) {
		out->result = MG_SPF_PERMERROR;
		set_reason(out, spf->ctx.limit);
		out->explanation[0] = '\0';
	}
	out->dns_lookups = spf->ctx.lookups;
	out->void_lookups = spf->ctx.voids;
	out->dns_queries = spf->ctx.queries;
	mg_spf_ctx_end(&spf->ctx);
	return 0;
}

int
mg_spf_auth_results(const struct mg_spf_result *res, char *out, size_t size)
{
	char dom[MG_DNS_NAME_MAX + 1];
	size_t len;

	str_lcpy(dom, res->domain, sizeof(dom));
	len = strlen(dom);
	if (len > 0 && dom[len - 1] == '.')
		dom[len - 1] = '\0';
	if (!is_valid_domain(dom))
		return str_fmt(out, size, "spf=%s", mg_spf_result_name(res->result));
	/* RFC 8601 §2.7.2: smtp.mailfrom carries the domain of the identity checked (for the
	 * null sender that is the HELO domain, RFC 7208 §2.4). */
	return str_fmt(out, size, "spf=%s smtp.mailfrom=%s", mg_spf_result_name(res->result),
	    str_lower(dom));
}
