/* DKIM verification (RFC 6376, RFC 8463 ed25519, RFC 8301) and the RFC 8601 result fragments.
 * mg_dkim_verify, used by the filter, runs our own engine (dkim/sig.c, key.c, canon.c); the
 * libopendkim 2.11 path (mg_dkim_verify_opendkim, one DKIM_LIB per verifier) is kept as the
 * differential oracle of the unit tests. Keys come only through the caller's struct
 * mg_dns_lookup (never libopendkim's resolver). One verifier per filter pool thread. Input: the
 * spool message (untrusted; header section via dkim/msg.c, body by pread) and DNS key records
 * (untrusted; parsed by dkim/key.c). Limits: MG_DKIM_SIG_MAX signatures evaluated per message
 * (the rest ignored and counted), one key query per distinct key, key records within
 * libopendkim's 1 KiB callback buffer after FWS removal (oracle), RSA keys of 1024..8192 bits. */
#include "dkim/dkim.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <opendkim/dkim.h>

#include "dkim/key.h"
#include "dkim/msg.h"
#include "dkim/sig.h"
#include "dkim/tags.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

struct mg_dkim_verifier {
	DKIM_LIB *lib;
	long long now;		/* 0: the real clock */
};

/* What our key callback learnt about one signature (libopendkim only hears "not found"). */
struct key_note {
	DKIM_SIGINFO *sig;	/* borrowed: identity only */
	enum mg_dkim_key_status st;
	const char *reason;
	int testing;
	int policy;		/* refused for its size: "policy", not "permerror" */
};

/* Per-message context handed to the callbacks through dkim_set_user_context(). */
struct vctx {
	const struct mg_dns_lookup *dns;	/* borrowed */
	struct key_note note[MG_DKIM_SIG_MAX];
	size_t n_notes;
	size_t n_ignored;
	struct buf rec;
};

static struct key_note *
note_for(struct vctx *c, DKIM_SIGINFO *sig, int create)
{
	for (size_t i = 0; i < c->n_notes; i++)
		if (c->note[i].sig == sig)
			return &c->note[i];
	if (!create || c->n_notes == MG_DKIM_SIG_MAX)
		return NULL;
	memset(&c->note[c->n_notes], 0, sizeof(c->note[0]));
	c->note[c->n_notes].sig = sig;
	return &c->note[c->n_notes++];
}

/* Copies rec into buf without FWS (key records may be folded by the DNS splitting). */
static int
copy_record(struct slice rec, u_char *buf, size_t buflen)
{
	if (rec.len < buflen) {
		memcpy(buf, rec.p, rec.len);
		buf[rec.len] = '\0';
		return 0;
	}
	return mg_dkim_strip_fws(rec, (char *)buf, buflen);
}

static DKIM_CBSTAT
key_cb(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
	struct vctx *c = dkim_get_user_context(dkim);
	const char *sel = (const char *)dkim_sig_getselector(sig);
	const char *dom = (const char *)dkim_sig_getdomain(sig);
	struct key_note *n = note_for(c, sig, 1);
	struct mg_dkim_key key;
	const char *err = "no key for signature";
	enum mg_dkim_key_status st = MG_DKIM_KEY_PERMFAIL;

	if (n == NULL)
		return DKIM_CBSTAT_ERROR;	/* cannot happen: prescreen caps the signatures */
	if (sel != NULL && dom != NULL)
		st = mg_dkim_key_fetch_record(c->dns, sel, dom, &c->rec, &err);
	if (st == MG_DKIM_KEY_OK) {
		/* Our own parser gates the record: same rules as ARC, RSA size caps, and the size
		 * and test flag for the results. */
		st = mg_dkim_key_parse(buf_slice(&c->rec), &key, MG_DKIM_KEY_CHECK_ONLY, &err);
		if (st == MG_DKIM_KEY_OK) {
			n->testing = key.testing;
			if (copy_record(buf_slice(&c->rec), buf, buflen) < 0) {
				st = MG_DKIM_KEY_PERMFAIL;
				err = "key record too long";
			}
		}
	}
	n->st = st;
	n->reason = err;
	/* RFC 8301 §3.2: a short RSA key is refused by policy, as libopendkim's own check says. */
	n->policy = st == MG_DKIM_KEY_PERMFAIL && strcmp(err, "key too small") == 0;
	/* A temporary failure is reported as "not found" so libopendkim goes on with the other
	 * signatures (TRYAGAIN would abort the whole message); the note keeps the truth. */
	return st == MG_DKIM_KEY_OK ? DKIM_CBSTAT_CONTINUE : DKIM_CBSTAT_NOTFOUND;
}

static DKIM_CBSTAT
prescreen_cb(DKIM *dkim, DKIM_SIGINFO **sigs, int nsigs)
{
	struct vctx *c = dkim_get_user_context(dkim);

	for (int i = MG_DKIM_SIG_MAX; i < nsigs; i++) {
		dkim_sig_ignore(sigs[i]);
		c->n_ignored++;
	}
	return DKIM_CBSTAT_CONTINUE;
}

struct mg_dkim_verifier *
mg_dkim_verifier_new(void)
{
	struct mg_dkim_verifier *v = xcalloc(1, sizeof(*v));
	unsigned flags = DKIM_LIBFLAGS_BADSIGHANDLES;

	if ((v->lib = dkim_init(NULL, NULL)) == NULL)
		panic("dkim_init failed");
	if (!dkim_libfeature(v->lib, DKIM_FEATURE_SHA256))
		panic("libopendkim lacks SHA-256");
	dkim_options(v->lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags));
	dkim_set_key_lookup(v->lib, key_cb);
	dkim_set_prescreen(v->lib, prescreen_cb);
	return v;
}

void
mg_dkim_verifier_free(struct mg_dkim_verifier **v)
{
	if (*v == NULL)
		return;
	dkim_close((*v)->lib);
	xfree(*v);
	*v = NULL;
}

void
mg_dkim_verifier_set_time(struct mg_dkim_verifier *v, long long now)
{
	uint64_t t = now > 0 ? (uint64_t)now : 0;

	v->now = now > 0 ? now : 0;
	dkim_options(v->lib, DKIM_OP_SETOPT, DKIM_OPTS_FIXEDTIME, &t, sizeof(t));
}

static void
copy_name(char *dst, size_t size, const char *src, int (*ok)(struct slice))
{
	dst[0] = '\0';
	if (src != NULL && ok(slice_from_str(src)) && strlen(src) < size) {
		str_lcpy(dst, src, size);
		str_lower(dst);
	}
}

static void
copy_alg(char *dst, size_t size, DKIM_SIGINFO *sig)
{
	const char *a = (const char *)dkim_sig_gettagvalue(sig, false, (u_char *)"a");
	size_t n = 0;

	for (; a != NULL && *a != '\0' && n + 1 < size; a++) {
		char ch = *a;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-')
			dst[n++] = ch;
	}
	dst[n] = '\0';
}

/* Result for a signature libopendkim processed (or refused), refined by our key note. */
static void
classify(struct vctx *c, DKIM_SIGINFO *sig, struct mg_dkim_sig_result *r)
{
	unsigned flags = dkim_sig_getflags(sig);
	int err = dkim_sig_geterror(sig);
	struct key_note *n = note_for(c, sig, 0);

	unsigned bits = 0;

	if ((flags & DKIM_SIGFLAG_PROCESSED) && dkim_sig_getkeysize(sig, &bits) == DKIM_STAT_OK)
		r->key_bits = bits;
	if (n != NULL) {
		r->testing = n->testing;
		if (n->st != MG_DKIM_KEY_OK) {
			r->result = n->st == MG_DKIM_KEY_TEMPFAIL ? MG_DKIM_TEMPERROR :
			    n->policy ? MG_DKIM_POLICY : MG_DKIM_PERMERROR;
			r->reason = n->reason;
			return;
		}
	}
	if ((flags & DKIM_SIGFLAG_PASSED) && dkim_sig_getbh(sig) == DKIM_SIGBH_MATCH) {
		r->result = MG_DKIM_PASS;
		r->reason = "signature verified";
		if (strcmp(r->a, "rsa-sha1") == 0) {
			r->result = MG_DKIM_PERMERROR;	/* RFC 8301 §3.1: MUST NOT be valid */
			r->reason = "rsa-sha1 not accepted by RFC 8301";
		}
		return;
	}
	if ((flags & DKIM_SIGFLAG_PASSED) && dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH) {
		r->result = MG_DKIM_FAIL;
		r->reason = "body hash mismatch";
		return;
	}
	switch (err) {
	case DKIM_SIGERROR_BADSIG:
		r->result = MG_DKIM_FAIL;
		r->reason = "signature did not verify";
		return;
	case DKIM_SIGERROR_EXPIRED:
		r->result = MG_DKIM_FAIL;
		r->reason = "signature expired";
		return;
	case DKIM_SIGERROR_KEYTOOSMALL:
		r->result = MG_DKIM_POLICY;
		r->reason = "key too small for RFC 8301";
		return;
	case DKIM_SIGERROR_KEYFAIL:
		r->result = MG_DKIM_TEMPERROR;
		r->reason = "key unavailable";
		return;
	case DKIM_SIGERROR_OK:
		if (!(flags & DKIM_SIGFLAG_PROCESSED)) {
			r->result = MG_DKIM_TEMPERROR;
			r->reason = "signature not evaluated";
			return;
		}
		r->result = MG_DKIM_FAIL;
		r->reason = "signature did not verify";
		return;
	default:
		/* Syntax, version, d=/i= mismatch, From unsigned, l= too large, key record problems:
		 * RFC 6376 §6.1.1-§6.1.2 PERMFAIL cases. */
		r->result = MG_DKIM_PERMERROR;
		r->reason = dkim_sig_geterrorstr(err);
		if (r->reason == NULL)
			r->reason = "signature not usable";
		return;
	}
}

/* header.b: MG_DKIM_HEADER_B_MIN characters, more while two signatures would look alike. */
static void
fill_header_b(struct mg_dkim_results *out, char full[][MG_DKIM_HEADER_B_MAX + 1])
{
	for (size_t i = 0; i < out->n; i++) {
		size_t len = MG_DKIM_HEADER_B_MIN;
		for (size_t j = 0; j < out->n; j++) {
			if (j == i)
				continue;
			while (len < MG_DKIM_HEADER_B_MAX && strncmp(full[i], full[j], len) == 0 &&
			    full[i][len] != '\0')
				len++;
		}
		str_lcpy(out->sig[i].b, full[i], len + 1 < sizeof(out->sig[i].b) ? len + 1 :
		    sizeof(out->sig[i].b));
	}
}

static void
collect(struct vctx *c, DKIM *dkim, struct mg_dkim_results *out)
{
	static const enum mg_dkim_status rank[] = { MG_DKIM_NONE, MG_DKIM_PERMERROR, MG_DKIM_NEUTRAL,
		MG_DKIM_POLICY, MG_DKIM_FAIL, MG_DKIM_TEMPERROR, MG_DKIM_PASS };
	char full[MG_DKIM_SIG_MAX][MG_DKIM_HEADER_B_MAX + 1];
	DKIM_SIGINFO **sigs;
	int nsigs = 0, best = 0;

	if (dkim_getsiglist(dkim, &sigs, &nsigs) != DKIM_STAT_OK)
		nsigs = 0;
	for (int i = 0; i < nsigs && out->n < MG_DKIM_SIG_MAX; i++) {
		struct mg_dkim_sig_result *r = &out->sig[out->n];
		const char *b;
		if (dkim_sig_getflags(sigs[i]) & DKIM_SIGFLAG_IGNORE)
			continue;
		copy_name(r->d, sizeof(r->d), (const char *)dkim_sig_getdomain(sigs[i]), mg_dkim_is_domain);
		copy_name(r->s, sizeof(r->s), (const char *)dkim_sig_getselector(sigs[i]),
		    mg_dkim_is_selector);
		copy_alg(r->a, sizeof(r->a), sigs[i]);
		b = (const char *)dkim_sig_gettagvalue(sigs[i], false, (u_char *)"b");
		if (b == NULL || mg_dkim_strip_fws(slice_from_str(b), full[out->n], sizeof(full[0])) < 0) {
			full[out->n][0] = '\0';
			if (b != NULL)	/* longer than we keep: the prefix is all header.b needs */
				for (size_t k = 0, m = 0; b[k] != '\0' && m < MG_DKIM_HEADER_B_MAX; k++)
					if (b[k] != ' ' && b[k] != '\t' && b[k] != '\r' && b[k] != '\n') {
						full[out->n][m++] = b[k];
						full[out->n][m] = '\0';
					}
		}
		classify(c, sigs[i], r);
		for (int k = 0; k < (int)(sizeof(rank) / sizeof(rank[0])); k++)
			if (rank[k] == r->result && k > best)
				best = k;
		out->n++;
	}
	fill_header_b(out, full);
	out->status = rank[best];
}

static size_t
count_signatures(const struct mg_dkim_msg *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n; i++)
		n += rfc5322_name_is(m->field[i].name, "DKIM-Signature");
	return n;
}

static void
body_cb(void *arg, const char *p, size_t n)
{
	dkim_body(arg, (u_char *)(uintptr_t)p, n);
}

static int
fail_msg(struct mg_dkim_results *out, enum mg_dkim_status st, const char *why)
{
	out->status = st;
	out->error = why;
	return -1;
}

int
mg_dkim_verify_opendkim(struct mg_dkim_verifier *v, const struct mg_dns_lookup *dns, int fd,
    off_t size, struct mg_dkim_results *out)
{
	struct mg_dkim_msg m;
	struct vctx c;
	DKIM_STAT st;
	DKIM *dkim;
	const char *err;
	bool testkey;
	int io, rc = 0;

	memset(out, 0, sizeof(*out));
	if (mg_dkim_msg_load(&m, fd, size, &err, &io) < 0) {
		mg_dkim_msg_free(&m);
		return fail_msg(out, io ? MG_DKIM_TEMPERROR : MG_DKIM_PERMERROR, err);
	}
	if (count_signatures(&m) == 0) {
		mg_dkim_msg_free(&m);
		return 0;	/* unsigned: "none", no library work */
	}
	memset(&c, 0, sizeof(c));
	c.dns = dns;
	buf_init(&c.rec, MG_DKIM_KEY_RECORD_MAX + 1);
	if ((dkim = dkim_verify(v->lib, (const u_char *)"mg", NULL, &st)) == NULL) {
		rc = fail_msg(out, MG_DKIM_TEMPERROR, "libopendkim could not start");
		goto done;
	}
	dkim_set_user_context(dkim, &c);
	for (size_t i = 0; i < m.n; i++) {
		struct slice raw = m.field[i].raw;
		while (raw.len > 0 && (raw.p[raw.len - 1] == '\n' || raw.p[raw.len - 1] == '\r'))
			raw.len--;
		/* dkim_header copies the field; a refused field is only a field libopendkim skips. */
		(void)dkim_header(dkim, (u_char *)(uintptr_t)raw.p, raw.len);
	}
	st = dkim_eoh(dkim);
	if (st == DKIM_STAT_OK) {
		if (mg_dkim_msg_body(&m, body_cb, dkim) < 0)
			rc = fail_msg(out, MG_DKIM_TEMPERROR, "message read error");
		else
			(void)dkim_eom(dkim, &testkey);	/* per-signature results below */
	}
	if (rc == 0)
		collect(&c, dkim, out);
	out->n_ignored = c.n_ignored;
	dkim_free(dkim);
done:
	buf_free(&c.rec);
	mg_dkim_msg_free(&m);
	return rc;
}

/* ---- our own engine (dkim/sig.c), the verifier the filter uses ---- */

/* Why DKIM-Signature is verified by our code and libopendkim kept only as the oracle: libopendkim
 * 2.11 decodes every key record with OpenSSL 3's generic d2i_PUBKEY (~85 us per RSA-2048 key)
 * and cannot be handed a decoded key, so each message paid that on top of its own verify
 * (141-152 us in all); dkim/sig.c + key.c (the ARC engine) take ~56 us for the same signature.
 * tests/unit/dkim/test_verify.c runs both engines on every vector and requires equal results. */

static const enum mg_dkim_status status_rank[] = { MG_DKIM_NONE, MG_DKIM_PERMERROR,
	MG_DKIM_NEUTRAL, MG_DKIM_POLICY, MG_DKIM_FAIL, MG_DKIM_TEMPERROR, MG_DKIM_PASS };

static int
rank_of(enum mg_dkim_status st)
{
	for (int k = 0; k < (int)(sizeof(status_rank) / sizeof(status_rank[0])); k++)
		if (status_rank[k] == st)
			return k;
	return 0;
}

/* The value of tag name in a tag list, found leniently (a list with a syntax error elsewhere
 * still names its d=, s=, a= for the results, as libopendkim reports them). */
static struct slice
lenient_tag(struct slice v, const char *name)
{
	size_t n = strlen(name), i = 0;

	while (i < v.len) {
		size_t start = i, end, eq;
		while (i < v.len && v.p[i] != ';')
			i++;
		end = i++;
		while (start < end && (v.p[start] == ' ' || v.p[start] == '\t' || v.p[start] == '\r' ||
		    v.p[start] == '\n'))
			start++;
		for (eq = start; eq < end && v.p[eq] != '='; eq++)
			;
		if (eq == end)
			continue;
		size_t ne = eq;
		while (ne > start && (v.p[ne - 1] == ' ' || v.p[ne - 1] == '\t'))
			ne--;
		if (ne - start != n || memcmp(v.p + start, name, n) != 0)
			continue;
		struct slice val = { v.p + eq + 1, end - eq - 1 };
		while (val.len > 0 && strchr(" \t\r\n", val.p[0]) != NULL) {
			val.p++;
			val.len--;
		}
		while (val.len > 0 && strchr(" \t\r\n", val.p[val.len - 1]) != NULL)
			val.len--;
		return val;
	}
	return (struct slice){ NULL, 0 };
}

/* d=, s=, a= and the b= prefix of a signature for the results, even one that does not parse. */
static void
own_names(struct slice value, struct mg_dkim_sig_result *r, char *full, size_t fullsize)
{
	struct slice t;
	char tmp[MG_DNS_NAME_MAX + 1];
	size_t m = 0;

	t = lenient_tag(value, "d");
	if (t.p != NULL && t.len < sizeof(tmp)) {
		memcpy(tmp, t.p, t.len);
		tmp[t.len] = '\0';
		copy_name(r->d, sizeof(r->d), tmp, mg_dkim_is_domain);
	}
	t = lenient_tag(value, "s");
	if (t.p != NULL && t.len < sizeof(tmp)) {
		memcpy(tmp, t.p, t.len);
		tmp[t.len] = '\0';
		copy_name(r->s, sizeof(r->s), tmp, mg_dkim_is_selector);
	}
	t = lenient_tag(value, "a");
	for (size_t k = 0; k < t.len && m + 1 < sizeof(r->a); k++) {
		char ch = t.p[k];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-')
			r->a[m++] = ch;
	}
	r->a[m] = '\0';
	/* only a prefix of b= matters for header.b (RFC 6008) */
	t = lenient_tag(value, "b");
	m = 0;
	for (size_t k = 0; k < t.len && m + 1 < fullsize; k++)
		if (t.p[k] != ' ' && t.p[k] != '\t' && t.p[k] != '\r' && t.p[k] != '\n')
			full[m++] = t.p[k];
	full[m] = '\0';
}

/* The key step (RFC 6376 §6.1.2) before any hashing, as libopendkim orders it: a missing or
 * unusable key decides the result whatever the body says. Returns 0 to go on, -1 when r is set. */
static int
own_key(struct mg_dkim_keycache *kc, const struct mg_dkim_sig *sig, struct mg_dkim_sig_result *r)
{
	const struct mg_dkim_key *key;
	const char *err = NULL;

	switch (mg_dkim_keycache_get(kc, sig->s, sig->d, &key, &err)) {
	case MG_DKIM_KEY_OK:
		break;
	case MG_DKIM_KEY_TEMPFAIL:
		r->result = MG_DKIM_TEMPERROR;
		r->reason = err;
		return -1;
	default:
		/* RFC 8301 §3.2: a short RSA key is refused by policy */
		r->result = err != NULL && strcmp(err, "key too small") == 0 ? MG_DKIM_POLICY :
		    MG_DKIM_PERMERROR;
		r->reason = err;
		return -1;
	}
	r->key_bits = key->bits;
	r->testing = key->testing;
	if (key->strict) {
		/* §3.6.1 t=s: the i= domain must be d= itself */
		const struct slice *i = mg_dkim_tags_get(&sig->tags, "i");
		const char *at = i != NULL ? memrchr(i->p, '@', i->len) : NULL;
		if (at != NULL && (size_t)(i->p + i->len - at - 1) != sig->d.len) {
			r->result = MG_DKIM_PERMERROR;
			r->reason = "i= is a subdomain of d= but the key has t=s";
			return -1;
		}
	}
	return 0;
}

static void
own_one(struct mg_dkim_verifier *v, struct mg_dkim_keycache *kc, const struct mg_dkim_msg *m,
    size_t f, struct mg_dkim_sig *sig, struct mg_dkim_sig_result *r, char *full, size_t fullsize)
{
	const char *err = NULL;

	own_names(m->field[f].value, r, full, fullsize);
	if (mg_dkim_sig_parse(m->field[f].value, MG_DKIM_SIG_DKIM, sig, &err) < 0) {
		r->result = MG_DKIM_PERMERROR;
		r->reason = err;
		return;
	}
	if (own_key(kc, sig, r) < 0)
		return;
	switch (mg_dkim_sig_verify(sig, m, f, v->now, kc, &err)) {
	case MG_DKIM_SIG_PASS: r->result = MG_DKIM_PASS; break;
	case MG_DKIM_SIG_FAIL: r->result = MG_DKIM_FAIL; break;
	case MG_DKIM_SIG_TEMPERROR: r->result = MG_DKIM_TEMPERROR; break;
	default: r->result = MG_DKIM_PERMERROR; break;
	}
	r->reason = err;
}

int
mg_dkim_verify(struct mg_dkim_verifier *v, const struct mg_dns_lookup *dns, int fd, off_t size,
    struct mg_dkim_results *out)
{
	char full[MG_DKIM_SIG_MAX][MG_DKIM_HEADER_B_MAX + 1];
	struct mg_dkim_keycache kc;
	struct mg_dkim_sig *sig = NULL;
	struct mg_dkim_msg m;
	const char *err;
	int io, best = 0;

	memset(out, 0, sizeof(*out));
	if (mg_dkim_msg_load(&m, fd, size, &err, &io) < 0) {
		mg_dkim_msg_free(&m);
		return fail_msg(out, io ? MG_DKIM_TEMPERROR : MG_DKIM_PERMERROR, err);
	}
	mg_dkim_keycache_init(&kc, dns);
	for (size_t f = 0; f < m.n; f++) {
		if (!rfc5322_name_is(m.field[f].name, "DKIM-Signature"))
			continue;
		if (out->n == MG_DKIM_SIG_MAX) {
			out->n_ignored++;	/* STYLE.md §9 budget */
			continue;
		}
		if (sig == NULL)
			sig = xmalloc(sizeof(*sig));
		own_one(v, &kc, &m, f, sig, &out->sig[out->n], full[out->n], sizeof(full[0]));
		if (out->sig[out->n].reason == NULL)
			out->sig[out->n].reason = "signature not usable";
		if (rank_of(out->sig[out->n].result) > best)
			best = rank_of(out->sig[out->n].result);
		out->n++;
	}
	fill_header_b(out, full);
	out->status = status_rank[best];
	xfree(sig);
	mg_dkim_keycache_clear(&kc);
	mg_dkim_msg_free(&m);
	return 0;
}

const char *
mg_dkim_status_name(enum mg_dkim_status st)
{
	static const char *const names[] = { "none", "pass", "fail", "neutral", "policy",
		"temperror", "permerror" };

	return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "permerror";
}

/* A reason inside an RFC 8601 comment: no parentheses or backslashes. */
static int
append_comment(struct buf *out, const char *reason, int testing)
{
	if (buf_append_str(out, " (") < 0)
		return -1;
	for (const char *p = reason; p != NULL && *p != '\0'; p++) {
		char ch = (*p == '(' || *p == ')' || *p == '\\' || (unsigned char)*p < 32 ||
		    (unsigned char)*p > 126) ? ' ' : *p;
		if (buf_append_char(out, ch) < 0)
			return -1;
	}
	if (testing && buf_append_str(out, reason ? ", test mode" : "test mode") < 0)
		return -1;
	return buf_append_char(out, ')');
}

/* RFC 8601 values are RFC 2045 tokens: b= characters like '/' and '=' need quoting. */
static int
append_prop(struct buf *out, const char *name, const char *value)
{
	if (value[0] == '\0')
		return 0;
	if (strpbrk(value, "()<>@,;:\\\"/[]?= ") != NULL)
		return buf_printf(out, " %s=\"%s\"", name, value);
	return buf_printf(out, " %s=%s", name, value);
}

int
mg_dkim_authres(const struct mg_dkim_results *r, struct buf *out)
{
	if (r->n == 0) {
		if (buf_printf(out, "dkim=%s", mg_dkim_status_name(r->status)) < 0)
			return -1;
		return r->error != NULL ? append_comment(out, r->error, 0) : 0;
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct mg_dkim_sig_result *s = &r->sig[i];
		if (i > 0 && buf_append_str(out, ";\r\n\t") < 0)
			return -1;
		if (buf_printf(out, "dkim=%s", mg_dkim_status_name(s->result)) < 0)
			return -1;
		if ((s->result != MG_DKIM_PASS || s->testing) &&
		    append_comment(out, s->result != MG_DKIM_PASS ? s->reason : NULL, s->testing) < 0)
			return -1;
		if (append_prop(out, "header.d", s->d) < 0 || append_prop(out, "header.s", s->s) < 0 ||
		    append_prop(out, "header.a", s->a) < 0 || append_prop(out, "header.b", s->b) < 0)
			return -1;
	}
	return 0;
}

size_t
mg_dkim_pass_domains(const struct mg_dkim_results *r, const char **domains, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n && n < max; i++) {
		int seen = 0;
		if (r->sig[i].result != MG_DKIM_PASS || r->sig[i].d[0] == '\0')
			continue;
		for (size_t k = 0; k < n; k++)
			seen |= strcmp(domains[k], r->sig[i].d) == 0;
		if (!seen)
			domains[n++] = r->sig[i].d;
	}
	return n;
}
