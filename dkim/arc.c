/* ARC chain validation (RFC 8617 §5.2), our own code (Debian ships no ARC library): collects the
 * ARC sets of a spool message, checks their structure (one AAR, AMS and AS per instance, i=1..N
 * without gaps, N <= 50, cv=none at i=1 and pass above, any cv=fail fails), verifies the newest
 * ARC-Message-Signature (dkim/sig.c) and every ARC-Seal over the §5.1.1 seal input. Runs on
 * filter pool threads; keys come only through the caller's struct mg_dns_lookup, one query per
 * distinct key (dkim/key.c cache). Untrusted input; limits: MG_ARC_INSTANCE_MAX, at most
 * MG_ARC_FIELDS_MAX ARC fields, tag-list caps from tags.h. */
#include "dkim/dkim.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dkim/key.h"
#include "dkim/msg.h"
#include "dkim/sig.h"
#include "dkim/tags.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define MG_ARC_FIELDS_MAX (3 * MG_ARC_INSTANCE_MAX)
#define SEAL_INPUT_MAX (3 * MG_ARC_INSTANCE_MAX * MG_DKIM_TAGLIST_MAX)

enum arc_kind { ARC_AAR = 0, ARC_AMS, ARC_AS };

struct arc_seal {
	struct mg_dkim_tags tags;
	struct slice d, s, b_value;
	unsigned char b[MG_DKIM_SIG_B_MAX];
	size_t blen;
	enum mg_arc_cv cv;
};

struct arc_set {
	size_t field[3];	/* index into msg fields, (size_t)-1 if missing */
	struct arc_seal seal;
};

struct arc_ctx {
	struct mg_dkim_msg msg;
	struct arc_set set[MG_ARC_INSTANCE_MAX + 1];	/* 1-based */
	int n;
	struct mg_arc_result *out;
};

static const char *const kind_name[] = { "ARC-Authentication-Results", "ARC-Message-Signature",
	"ARC-Seal" };

static void __attribute__((format(printf, 2, 3)))
set_fail(struct mg_arc_result *out, const char *fmt, ...)
{
	va_list ap;

	out->cv = MG_ARC_FAIL;
	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
}

/* AAR: "i=" instance ";" at the very start of the value, CFWS allowed around (§4.1.1). */
static int
aar_instance(struct slice v, unsigned *inst)
{
	size_t i = 0;
	unsigned long long x = 0;
	int depth, digits = 0;

	for (;;) {
		while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == '\r' || v.p[i] == '\n'))
			i++;
		if (i < v.len && v.p[i] == '(') {	/* a comment, nesting bounded by the value */
			for (depth = 0; i < v.len; i++) {
				if (v.p[i] == '\\' && i + 1 < v.len)
					i++;
				else if (v.p[i] == '(')
					depth++;
				else if (v.p[i] == ')' && --depth == 0)
					break;
			}
			if (i >= v.len)
				return -1;
			i++;
			continue;
		}
		break;
	}
	if (i + 1 >= v.len || v.p[i] != 'i')
		return -1;
	i++;
	while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
		i++;
	if (i >= v.len || v.p[i] != '=')
		return -1;
	i++;
	while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
		i++;
	for (; i < v.len && v.p[i] >= '0' && v.p[i] <= '9' && digits < 3; i++, digits++)
		x = x * 10 + (unsigned)(v.p[i] - '0');
	while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == '\r' || v.p[i] == '\n'))
		i++;
	if (digits == 0 || i >= v.len || v.p[i] != ';' || x < 1 || x > MG_ARC_INSTANCE_MAX)
		return -1;
	*inst = (unsigned)x;
	return 0;
}

static int
tag_instance(struct slice v, unsigned *inst, struct mg_dkim_tags *tags, const char **error_r)
{
	const struct slice *i;
	unsigned long long x;

	if (mg_dkim_tags_parse(v, tags, error_r) < 0)
		return -1;
	if ((i = mg_dkim_tags_get(tags, "i")) == NULL || mg_dkim_tag_ull(*i, &x) < 0 || x < 1 ||
	    x > MG_ARC_INSTANCE_MAX) {
		*error_r = i == NULL ? "no i= tag" : "invalid i= tag";
		return -1;
	}
	*inst = (unsigned)x;
	return 0;
}

/* §5.2 steps 1-2: gather the sets; any malformed, duplicate or missing member fails. */
static int
collect(struct arc_ctx *c)
{
	struct mg_dkim_tags tags;
	size_t nfields = 0;
	const char *err;

	for (int i = 0; i <= MG_ARC_INSTANCE_MAX; i++)
		c->set[i].field[0] = c->set[i].field[1] = c->set[i].field[2] = (size_t)-1;
	for (size_t j = 0; j < c->msg.n; j++) {
		const struct rfc5322_field *f = &c->msg.field[j];
		unsigned inst = 0;
		int k;
		if (rfc5322_name_is(f->name, "ARC-Authentication-Results"))
			k = ARC_AAR;
		else if (rfc5322_name_is(f->name, "ARC-Message-Signature"))
			k = ARC_AMS;
		else if (rfc5322_name_is(f->name, "ARC-Seal"))
			k = ARC_AS;
		else
			continue;
		if (++nfields > MG_ARC_FIELDS_MAX) {
			set_fail(c->out, "more than %d ARC header fields", MG_ARC_FIELDS_MAX);
			return -1;
		}
		if (k == ARC_AAR ? aar_instance(f->value, &inst) < 0 :
		    tag_instance(f->value, &inst, &tags, &err) < 0) {
			set_fail(c->out, "%s: %s", kind_name[k], k == ARC_AAR ? "no valid i= prefix" : err);
			return -1;
		}
		if (c->set[inst].field[k] != (size_t)-1) {
			set_fail(c->out, "i=%u: duplicate %s", inst, kind_name[k]);
			return -1;
		}
		c->set[inst].field[k] = j;
		if ((int)inst > c->n)
			c->n = (int)inst;
	}
	if (nfields == 0)
		return 0;
	c->out->n = c->n;
	for (int i = 1; i <= c->n; i++) {
		for (int k = 0; k < 3; k++) {
			if (c->set[i].field[k] == (size_t)-1) {
				set_fail(c->out, "i=%d: %s missing", i, kind_name[k]);
				return -1;
			}
		}
	}
	return 0;
}

/* ARC-Seal tags (§4.1.3): a=rsa-sha256, b=, cv=, d=, i=, s=, optional numeric t=, no h=. */
static int
parse_seal(struct slice value, struct arc_seal *s, const char **error_r)
{
	const struct slice *a, *b, *cv, *t;
	unsigned long long x;

	if (mg_dkim_tags_parse(value, &s->tags, error_r) < 0)
		return -1;
	a = mg_dkim_tags_get(&s->tags, "a");
	b = mg_dkim_tags_get(&s->tags, "b");
	cv = mg_dkim_tags_get(&s->tags, "cv");
	if (a == NULL || b == NULL || cv == NULL || mg_dkim_tags_get(&s->tags, "d") == NULL ||
	    mg_dkim_tags_get(&s->tags, "s") == NULL) {
		*error_r = "required tag missing";
		return -1;
	}
	if (mg_dkim_tags_get(&s->tags, "h") != NULL) {
		*error_r = "h= not allowed in ARC-Seal";
		return -1;
	}
	if (a->len != 10 || memcmp(a->p, "rsa-sha256", 10) != 0) {
		*error_r = "unsupported algorithm";
		return -1;
	}
	if (cv->len == 4 && memcmp(cv->p, "none", 4) == 0)
		s->cv = MG_ARC_NONE;
	else if (cv->len == 4 && memcmp(cv->p, "pass", 4) == 0)
		s->cv = MG_ARC_PASS;
	else if (cv->len == 4 && memcmp(cv->p, "fail", 4) == 0)
		s->cv = MG_ARC_FAIL;
	else {
		*error_r = "invalid cv=";
		return -1;
	}
	s->d = *mg_dkim_tags_get(&s->tags, "d");
	s->s = *mg_dkim_tags_get(&s->tags, "s");
	if (!mg_dkim_is_domain(s->d) || !mg_dkim_is_selector(s->s)) {
		*error_r = !mg_dkim_is_domain(s->d) ? "invalid d=" : "invalid s=";
		return -1;
	}
	if ((t = mg_dkim_tags_get(&s->tags, "t")) != NULL && mg_dkim_tag_ull(*t, &x) < 0) {
		*error_r = "invalid t=";
		return -1;
	}
	s->b_value = *b;
	if (b->len == 0) {
		*error_r = "empty b=";
		return -1;
	}
	return mg_dkim_b64_decode(*b, s->b, sizeof(s->b), &s->blen, error_r);
}

/* §5.2 step 2.1 and 5.1/5.2 (done early: no crypto, no DNS): every seal parses and its cv
 * fits its place in the chain. */
static int
check_seals(struct arc_ctx *c)
{
	const char *err;

	for (int i = c->n; i >= 1; i--) {
		struct arc_set *set = &c->set[i];
		if (parse_seal(c->msg.field[set->field[ARC_AS]].value, &set->seal, &err) < 0) {
			set_fail(c->out, "i=%d ARC-Seal: %s", i, err);
			return -1;
		}
		if (i == c->n)
			mg_dkim_strip_fws(set->seal.d, c->out->sealer, sizeof(c->out->sealer));
	}
	for (int i = c->n; i >= 1; i--) {
		enum mg_arc_cv cv = c->set[i].seal.cv;
		if (cv == MG_ARC_FAIL) {
			set_fail(c->out, "i=%d ARC-Seal: cv=fail", i);
			return -1;
		}
		if ((i == 1 && cv != MG_ARC_NONE) || (i > 1 && cv != MG_ARC_PASS)) {
			set_fail(c->out, "i=%d ARC-Seal: cv=%s out of place", i, mg_arc_cv_name(cv));
			return -1;
		}
	}
	return 0;
}

static enum mg_dkim_sig_status
verify_ams(struct arc_ctx *c, int i, long long now, struct mg_dkim_keycache *keys, const char **err)
{
	struct mg_dkim_sig *sig = xmalloc(sizeof(*sig));
	size_t f = c->set[i].field[ARC_AMS];
	enum mg_dkim_sig_status st;

	if (mg_dkim_sig_parse(c->msg.field[f].value, MG_DKIM_SIG_AMS, sig, err) < 0)
		st = MG_DKIM_SIG_PERMERROR;
	else {
		st = mg_dkim_sig_verify(sig, &c->msg, f, now, keys, err);
		if (st == MG_DKIM_SIG_FAIL && !sig->c_given) {
			/* No c=: relaxed/relaxed failed; RFC 6376's default simple/simple may hold. */
			sig->hc = sig->bc = MG_DKIM_CANON_SIMPLE;
			st = mg_dkim_sig_verify(sig, &c->msg, f, now, keys, err);
		}
	}
	xfree(sig);
	return st;
}

/* §5.1.1: AAR, AMS, AS of instances 1..i, relaxed, the AS of i without b= and final CRLF. */
static enum mg_dkim_sig_status
verify_seal(struct arc_ctx *c, int i, struct mg_dkim_keycache *keys, const char **err)
{
	const struct arc_seal *s = &c->set[i].seal;
	const struct mg_dkim_key *key;
	unsigned char hash[32];
	unsigned hlen = 0;
	struct buf in;
	int bad = 0;

	buf_init(&in, SEAL_INPUT_MAX);
	for (int j = 1; j <= i && !bad; j++) {
		for (int k = 0; k < 3 && !bad; k++) {
			const struct rfc5322_field *f = &c->msg.field[c->set[j].field[k]];
			struct slice skip = (j == i && k == ARC_AS) ? s->b_value : (struct slice){ NULL, 0 };
			bad = mg_dkim_canon_header(MG_DKIM_CANON_RELAXED, f->raw, skip, &in) < 0;
		}
	}
	if (bad || in.len < 2) {
		buf_free(&in);
		*err = "seal input too large";
		return MG_DKIM_SIG_PERMERROR;
	}
	in.len -= 2;	/* the CRLF relaxed canonicalisation put after the AS being verified */
	bad = EVP_Digest(in.data, in.len, hash, &hlen, EVP_sha256(), NULL) != 1;
	buf_free(&in);
	if (bad) {
		*err = "digest unavailable";
		return MG_DKIM_SIG_TEMPERROR;
	}
	switch (mg_dkim_keycache_get(keys, s->s, s->d, &key, err)) {
	case MG_DKIM_KEY_OK:
		break;
	case MG_DKIM_KEY_TEMPFAIL:
		return MG_DKIM_SIG_TEMPERROR;
	default:
		return MG_DKIM_SIG_PERMERROR;
	}
	if (key->type != MG_DKIM_KEY_RSA) {
		*err = "inappropriate key algorithm";
		return MG_DKIM_SIG_PERMERROR;
	}
	if (!mg_dkim_key_verify(key, hash, s->b, s->blen)) {
		*err = "signature did not verify";
		return MG_DKIM_SIG_FAIL;
	}
	return MG_DKIM_SIG_PASS;
}

/* §5.2 step 4: walk older AMSs down from N-1 while they verify. */
static void
oldest_pass(struct arc_ctx *c, long long now, struct mg_dkim_keycache *keys)
{
	const char *err;
	int i;

	for (i = c->n - 1; i >= 1; i--)
		if (verify_ams(c, i, now, keys, &err) != MG_DKIM_SIG_PASS)
			break;
	c->out->oldest_pass = i + 1;
}

static void
chain(struct arc_ctx *c, long long now, unsigned flags, struct mg_dkim_keycache *keys)
{
	enum mg_dkim_sig_status st;
	const char *err;

	if (collect(c) < 0 || c->n == 0 || check_seals(c) < 0)
		return;
	if ((st = verify_ams(c, c->n, now, keys, &err)) != MG_DKIM_SIG_PASS) {
		c->out->tempfail = st == MG_DKIM_SIG_TEMPERROR;
		set_fail(c->out, "i=%d ARC-Message-Signature: %s", c->n, err);
		return;
	}
	for (int i = c->n; i >= 1; i--) {
		if ((st = verify_seal(c, i, keys, &err)) != MG_DKIM_SIG_PASS) {
			c->out->tempfail = st == MG_DKIM_SIG_TEMPERROR;
			set_fail(c->out, "i=%d ARC-Seal: %s", i, err);
			return;
		}
	}
	c->out->cv = MG_ARC_PASS;
	str_fmt(c->out->reason, sizeof(c->out->reason), "%d set%s verified", c->n, c->n > 1 ? "s" : "");
	if (flags & MG_ARC_F_OLDEST_PASS)
		oldest_pass(c, now, keys);
}

int
mg_arc_verify_flags(const struct mg_dns_lookup *dns, int fd, off_t size, long long now,
    unsigned flags, struct mg_arc_result *out)
{
	struct arc_ctx *c = xcalloc(1, sizeof(*c));
	struct mg_dkim_keycache keys;
	const char *err;
	int io, rc = 0;

	memset(out, 0, sizeof(*out));
	str_lcpy(out->reason, "no ARC sets", sizeof(out->reason));
	c->out = out;
	mg_dkim_keycache_init(&keys, dns);
	if (mg_dkim_msg_load(&c->msg, fd, size, &err, &io) < 0) {
		set_fail(out, "%s", err);
		out->tempfail = io;
		rc = io ? -1 : 0;
	} else
		chain(c, now, flags, &keys);
	mg_dkim_keycache_clear(&keys);
	mg_dkim_msg_free(&c->msg);
	xfree(c);
	return rc;
}

int
mg_arc_verify(const struct mg_dns_lookup *dns, int fd, off_t size, long long now,
    struct mg_arc_result *out)
{
	return mg_arc_verify_flags(dns, fd, size, now, 0, out);
}

const char *
mg_arc_cv_name(enum mg_arc_cv cv)
{
	switch (cv) {
	case MG_ARC_PASS:
		return "pass";
	case MG_ARC_FAIL:
		return "fail";
	case MG_ARC_NONE:
	default:
		return "none";
	}
}

int
mg_arc_authres(const struct mg_arc_result *r, struct buf *out)
{
	if (r->cv == MG_ARC_NONE)
		return buf_append_str(out, "arc=none");
	if (buf_printf(out, "arc=%s (i=%d", mg_arc_cv_name(r->cv), r->n) < 0)
		return -1;
	if (r->cv == MG_ARC_FAIL && buf_printf(out, ", %s", r->reason) < 0)
		return -1;
	if (buf_append_char(out, ')') < 0)
		return -1;
	if (r->cv == MG_ARC_PASS && r->oldest_pass > 0 &&
	    buf_printf(out, " header.oldest-pass=%d", r->oldest_pass) < 0)
		return -1;
	return 0;
}
