/* Our own DKIM-style signature check (RFC 6376 §3.5, §3.7, §6.1; RFC 8463; RFC 8301), used for
 * ARC-Message-Signatures (RFC 8617 §4.1.2) since libopendkim knows nothing of ARC, and kept
 * generic for DKIM-Signature so the signer and the fuzzers share it. Runs on filter pool threads.
 * Input: header values and body from the spool (untrusted) and key records from DNS (untrusted);
 * limits: tags.h list and value caps, MG_DKIM_SIG_B_MAX, MG_DKIM_HLIST_MAX, a 1 MiB cap on the
 * header-hash input. */
#include "dkim/sig.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/xalloc.h"

#define HEADER_INPUT_MAX (1024 * 1024 + 65536)

static int
slice_is(struct slice s, const char *want)
{
	size_t n = strlen(want);
	return s.len == n && memcmp(s.p, want, n) == 0;
}

static int
opt_number(const struct mg_dkim_tags *t, const char *name, long long *out)
{
	const struct slice *v = mg_dkim_tags_get(t, name);
	unsigned long long x;

	*out = -1;
	if (v == NULL)
		return 0;
	if (mg_dkim_tag_ull(*v, &x) < 0)
		return -1;
	*out = (long long)x;
	return 0;
}

static int
parse_alg(struct slice a, enum mg_dkim_sig_kind kind, enum mg_dkim_alg *alg, const char **error_r)
{
	if (slice_is(a, "rsa-sha256"))
		*alg = MG_DKIM_ALG_RSA_SHA256;
	else if (slice_is(a, "ed25519-sha256") && kind == MG_DKIM_SIG_DKIM)
		*alg = MG_DKIM_ALG_ED25519_SHA256;
	else {
		*error_r = slice_is(a, "rsa-sha1") ? "rsa-sha1 not accepted by RFC 8301" :
		    "unknown signature algorithm";
		return -1;
	}
	return 0;
}

/* i= of a DKIM-Signature: [local-part] "@" domain, domain equal to or inside d= (§3.5). */
static int
auid_ok(struct slice i, struct slice d)
{
	const char *at = memrchr(i.p, '@', i.len);
	struct slice dom;

	if (at == NULL)
		return 0;
	dom = (struct slice){ at + 1, i.len - (size_t)(at + 1 - i.p) };
	if (dom.len == d.len)
		return strncasecmp(dom.p, d.p, d.len) == 0;
	return dom.len > d.len && dom.p[dom.len - d.len - 1] == '.' &&
	    strncasecmp(dom.p + dom.len - d.len, d.p, d.len) == 0;
}

static int
parse_required(struct mg_dkim_sig *sig, const char **error_r)
{
	static const char *const req_dkim[] = { "v", "a", "b", "bh", "d", "h", "s", NULL };
	static const char *const req_ams[] = { "i", "a", "b", "bh", "d", "h", "s", NULL };
	const char *const *req = sig->kind == MG_DKIM_SIG_AMS ? req_ams : req_dkim;

	for (size_t k = 0; req[k] != NULL; k++) {
		const struct slice *v = mg_dkim_tags_get(&sig->tags, req[k]);
		if (v == NULL || (v->len == 0 && strcmp(req[k], "h") != 0)) {
			*error_r = v == NULL ? "required tag missing" : "required tag empty";
			return -1;
		}
	}
	return 0;
}

static int
parse_hashes(struct mg_dkim_sig *sig, const char **error_r)
{
	const struct slice *b = mg_dkim_tags_get(&sig->tags, "b");
	const struct slice *bh = mg_dkim_tags_get(&sig->tags, "bh");
	unsigned char tmp[64];
	size_t len;

	sig->b_value = *b;
	if (mg_dkim_b64_decode(*b, sig->b, sizeof(sig->b), &sig->blen, error_r) < 0)
		return -1;
	if (mg_dkim_b64_decode(*bh, tmp, sizeof(tmp), &len, error_r) < 0)
		return -1;
	if (len != 32) {
		*error_r = "bh= is not a SHA-256 digest";
		return -1;
	}
	memcpy(sig->bh, tmp, 32);
	return 0;
}

static int
parse_hlist(struct mg_dkim_sig *sig, const char **error_r)
{
	const struct slice *h = mg_dkim_tags_get(&sig->tags, "h");
	int n, has_from = 0;

	if (h->len == 0 && sig->kind == MG_DKIM_SIG_AMS) {
		sig->nh = 0;	/* RFC 8617 does not require any field; the suite accepts h= empty */
		return 0;
	}
	if ((n = mg_dkim_hlist_split(*h, sig->h, MG_DKIM_HLIST_MAX, error_r)) < 0)
		return -1;
	sig->nh = (size_t)n;
	for (size_t k = 0; k < sig->nh; k++) {
		if (slice_eq_ci(sig->h[k], "from"))
			has_from = 1;
		if (sig->kind == MG_DKIM_SIG_AMS && slice_eq_ci(sig->h[k], "arc-seal")) {
			*error_r = "h= includes ARC-Seal";
			return -1;
		}
	}
	if (sig->kind == MG_DKIM_SIG_DKIM && !has_from) {
		*error_r = "From not signed";
		return -1;
	}
	return 0;
}

int
mg_dkim_sig_parse(struct slice value, enum mg_dkim_sig_kind kind, struct mg_dkim_sig *sig,
    const char **error_r)
{
	const struct slice *v;
	unsigned long long inst;

	memset(sig, 0, offsetof(struct mg_dkim_sig, b));
	sig->kind = kind;
	if (mg_dkim_tags_parse(value, &sig->tags, error_r) < 0)
		return -1;
	if (parse_required(sig, error_r) < 0)
		return -1;
	if (kind == MG_DKIM_SIG_DKIM && !slice_is(*mg_dkim_tags_get(&sig->tags, "v"), "1")) {
		*error_r = "unsupported signature version";
		return -1;
	}
	if (kind == MG_DKIM_SIG_AMS) {
		v = mg_dkim_tags_get(&sig->tags, "i");
		if (mg_dkim_tag_ull(*v, &inst) < 0 || inst < 1 || inst > 50) {
			*error_r = "invalid instance";
			return -1;
		}
		sig->instance = (unsigned)inst;
	}
	if (parse_alg(*mg_dkim_tags_get(&sig->tags, "a"), kind, &sig->alg, error_r) < 0)
		return -1;
	if (kind == MG_DKIM_SIG_AMS)
		sig->hc = sig->bc = MG_DKIM_CANON_RELAXED;
	if ((v = mg_dkim_tags_get(&sig->tags, "c")) != NULL)
		sig->c_given = 1;
	if (v != NULL && mg_dkim_canon_parse(v->p, v->len, &sig->hc, &sig->bc) < 0) {
		*error_r = "invalid canonicalization";
		return -1;
	}
	sig->d = *mg_dkim_tags_get(&sig->tags, "d");
	sig->s = *mg_dkim_tags_get(&sig->tags, "s");
	if (!mg_dkim_is_domain(sig->d) || !mg_dkim_is_selector(sig->s)) {
		*error_r = !mg_dkim_is_domain(sig->d) ? "invalid d=" : "invalid s=";
		return -1;
	}
	if ((v = mg_dkim_tags_get(&sig->tags, "q")) != NULL && !slice_is(*v, "dns/txt")) {
		*error_r = "unsupported query method";
		return -1;
	}
	if (opt_number(&sig->tags, "l", &sig->l) < 0 || opt_number(&sig->tags, "t", &sig->t) < 0 ||
	    opt_number(&sig->tags, "x", &sig->x) < 0) {
		*error_r = "invalid l=, t= or x=";
		return -1;
	}
	if (sig->x >= 0 && sig->t >= 0 && sig->x < sig->t) {
		*error_r = "x= before t=";
		return -1;
	}
	if (kind == MG_DKIM_SIG_DKIM && (v = mg_dkim_tags_get(&sig->tags, "i")) != NULL &&
	    !auid_ok(*v, sig->d)) {
		*error_r = "i= not within d=";
		return -1;
	}
	if (parse_hlist(sig, error_r) < 0)
		return -1;
	return parse_hashes(sig, error_r);
}

int
mg_dkim_sig_header_input(const struct mg_dkim_sig *sig, const struct rfc5322_field *fields,
    size_t n, size_t self, struct buf *out)
{
	unsigned char *used = xcalloc(n ? n : 1, 1);
	int rc = -1;

	for (size_t k = 0; k < sig->nh; k++) {
		/* §5.4.2: the last unused instance of the name, going up; none means nothing. */
		for (size_t j = n; j-- > 0;) {
			if (used[j] || j == self || fields[j].name.len != sig->h[k].len ||
			    strncasecmp(fields[j].name.p, sig->h[k].p, sig->h[k].len) != 0)
				continue;
			used[j] = 1;
			if (mg_dkim_canon_header(sig->hc, fields[j].raw, (struct slice){ NULL, 0 }, out) < 0)
				goto out;
			break;
		}
	}
	if (mg_dkim_canon_header(sig->hc, fields[self].raw, sig->b_value, out) < 0)
		goto out;
	/* §3.7: the signature field is hashed without its final CRLF. */
	if (out->len >= 2 && out->data[out->len - 2] == '\r' && out->data[out->len - 1] == '\n')
		out->len -= 2;
	else if (out->len >= 1 && out->data[out->len - 1] == '\n')
		out->len -= 1;
	rc = 0;
out:
	xfree(used);
	return rc;
}

static void
body_cb(void *arg, const char *p, size_t n)
{
	mg_dkim_body_update(arg, p, n);
}

static enum mg_dkim_sig_status
check_body(const struct mg_dkim_sig *sig, const struct mg_dkim_msg *m, const char **error_r)
{
	struct mg_dkim_body body;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned dlen;
	long long total;

	if (mg_dkim_body_init(&body, sig->bc, EVP_sha256(), sig->l) < 0) {
		*error_r = "digest unavailable";
		return MG_DKIM_SIG_TEMPERROR;
	}
	if (mg_dkim_msg_body(m, body_cb, &body) < 0) {
		mg_dkim_body_abort(&body);
		*error_r = "message read error";
		return MG_DKIM_SIG_TEMPERROR;
	}
	if (mg_dkim_body_final(&body, digest, &dlen, &total) < 0 || dlen != 32) {
		*error_r = "digest unavailable";
		return MG_DKIM_SIG_TEMPERROR;
	}
	if (sig->l >= 0 && sig->l > total) {
		/* §3.4.5: l= larger than the canonical body cannot have been signed as is. */
		*error_r = "l= exceeds body length";
		return MG_DKIM_SIG_PERMERROR;
	}
	if (memcmp(digest, sig->bh, 32) != 0) {
		*error_r = "body hash mismatch";
		return MG_DKIM_SIG_FAIL;
	}
	return MG_DKIM_SIG_PASS;
}

enum mg_dkim_sig_status
mg_dkim_sig_verify(const struct mg_dkim_sig *sig, const struct mg_dkim_msg *m, size_t self,
    long long now, struct mg_dkim_keycache *keys, const char **error_r)
{
	const struct mg_dkim_key *key;
	enum mg_dkim_sig_status st;
	unsigned char hash[32];
	unsigned hlen = 0;
	struct buf in;

	if (now <= 0)
		now = (long long)time(NULL);
	if (sig->x >= 0 && sig->x < now) {
		*error_r = "signature expired";
		return MG_DKIM_SIG_FAIL;
	}
	if ((st = check_body(sig, m, error_r)) != MG_DKIM_SIG_PASS)
		return st;
	switch (mg_dkim_keycache_get(keys, sig->s, sig->d, &key, error_r)) {
	case MG_DKIM_KEY_OK:
		break;
	case MG_DKIM_KEY_TEMPFAIL:
		return MG_DKIM_SIG_TEMPERROR;
	default:
		return MG_DKIM_SIG_PERMERROR;
	}
	if ((key->type == MG_DKIM_KEY_ED25519) != (sig->alg == MG_DKIM_ALG_ED25519_SHA256)) {
		*error_r = "inappropriate key algorithm";
		return MG_DKIM_SIG_PERMERROR;
	}
	buf_init(&in, HEADER_INPUT_MAX);
	if (mg_dkim_sig_header_input(sig, m->field, m->n, self, &in) < 0 ||
	    EVP_Digest(in.data, in.len, hash, &hlen, EVP_sha256(), NULL) != 1) {
		buf_free(&in);
		*error_r = "header hash input too large";
		return MG_DKIM_SIG_PERMERROR;
	}
	buf_free(&in);
	if (!mg_dkim_key_verify(key, hash, sig->b, sig->blen)) {
		*error_r = "signature did not verify";
		return MG_DKIM_SIG_FAIL;
	}
	*error_r = "signature verified";
	return MG_DKIM_SIG_PASS;
}
