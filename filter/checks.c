/* checks.c: the filter pool's jobs (STYLE.md §9). spf_job: check_host() for MAIL FROM, started at
 * MAIL. check_job: one message at the end of DATA: allow/block lists, SPF (when not done early),
 * DKIM, ARC, DMARC, the score and the domain's thresholds, greylisting, and the header fields to
 * prepend. Runs on worker threads with the worker's own libspf2 and libopendkim handles; reads
 * only the job's snapshot (envelope copy, read-only message fd, configuration generation it holds
 * a reference to). The message is hostile: it is read through the bounded parsers of common/,
 * dkim/ and dmarc/; all DNS waits share the message's deadline (filter_timeout). */
#include <arpa/inet.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/rfc5322.h"
#include "dkim/dkim.h"
#include "dmarc/dmarc.h"
#include "filter/content.h"
#include "filter/dmarc_rua.h"
#include "filter/filter_int.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define AR_HEADER_MAX 990		/* one unfolded header line stays under 998 octets */

void *
filter_thread_init(void *arg)
{
	struct filter_thread *t = xcalloc(1, sizeof(*t));
	const char *err;

	(void)arg;
	if ((t->spf = mg_spf_new(&err)) == NULL)
		fatal("filter: libspf2: %s", err);
	t->dkim = mg_dkim_verifier_new();
	buf_init(&t->msg, FILTER_READ_MAX);
	return t;
}

void
filter_thread_fini(void *ctx, void *arg)
{
	struct filter_thread *t = ctx;

	(void)arg;
	mg_spf_free(&t->spf);
	mg_dkim_verifier_free(&t->dkim);
	buf_free(&t->msg);
	xfree(t);
}

/* ---- SPF ---- */

struct spf_job *
spf_job_new(const struct fsession *s, const char *helo, const char *sender, long long deadline_ms)
{
	struct spf_job *j = xcalloc(1, sizeof(*j));

	str_lcpy(j->sid, s->sid, sizeof(j->sid));
	j->gen = s->gen;
	str_lcpy(j->client, s->client, sizeof(j->client));
	j->helo = xstrdup(helo);
	j->sender = xstrdup(sender);
	j->deadline_ms = deadline_ms;
	return j;
}

void
spf_job_free(struct spf_job **jp)
{
	struct spf_job *j = *jp;

	if (j == NULL)
		return;
	xfree(j->helo);
	xfree(j->sender);
	xfree(j);
	*jp = NULL;
}

static void
run_spf(struct filter_thread *t, long long deadline_ms, const char *client, const char *helo,
    const char *sender, struct mg_spf_result *out)
{
	struct mg_dns_wait_ctx wctx = { .d = filter.dns, .deadline_ms = deadline_ms };
	struct mg_dns_lookup dns = { .fn = mg_dns_lookup_fn_direct, .ctx = &wctx };

	memset(out, 0, sizeof(*out));
	if (mg_spf_check(t->spf, &dns, client, helo, sender, out) < 0)
		out->result = MG_SPF_NONE;
}

void
spf_job_run(struct workq_job *w, void *ctx)
{
	struct spf_job *j = (struct spf_job *)w;

	run_spf(ctx, j->deadline_ms, j->client, j->helo, j->sender, &j->res);
}

/* ---- the message check ---- */

void
check_job_free(struct check_job **jp)
{
	struct check_job *j = *jp;

	if (j == NULL)
		return;
	if (j->fd >= 0)
		close(j->fd);
	dmarc_rua_set_free(&j->rua);
	buf_free(&j->consumed);
	envelope_clear(&j->env);
	buf_free(&j->headers);
	filter_gen_unref(&j->g);
	xfree(j);
	*jp = NULL;
}

static const char *
spf_symbol(enum mg_spf_status st)
{
	switch (st) {
	case MG_SPF_PASS: return "SPF_PASS";
	case MG_SPF_FAIL: return "SPF_FAIL";
	case MG_SPF_SOFTFAIL: return "SPF_SOFTFAIL";
	case MG_SPF_NEUTRAL: return "SPF_NEUTRAL";
	case MG_SPF_TEMPERROR: return "SPF_TEMPERROR";
	case MG_SPF_PERMERROR: return "SPF_PERMERROR";
	case MG_SPF_NONE: break;
	}
	return "SPF_NONE";
}

static const char *
dkim_symbol(enum mg_dkim_status st)
{
	switch (st) {
	case MG_DKIM_PASS: return "DKIM_VALID";
	case MG_DKIM_NONE: return "DKIM_NONE";
	case MG_DKIM_TEMPERROR: return "DKIM_TEMPERROR";
	default: return "DKIM_INVALID";
	}
}

static enum mg_dmarc_dkim
dkim_to_dmarc(enum mg_dkim_status st)
{
	switch (st) {
	case MG_DKIM_PASS: return MG_DMARC_DKIM_PASS;
	case MG_DKIM_FAIL: return MG_DMARC_DKIM_FAIL;
	case MG_DKIM_NEUTRAL: return MG_DMARC_DKIM_NEUTRAL;
	case MG_DKIM_POLICY: return MG_DMARC_DKIM_POLICY;
	case MG_DKIM_TEMPERROR: return MG_DMARC_DKIM_TEMPERROR;
	case MG_DKIM_PERMERROR: return MG_DMARC_DKIM_PERMERROR;
	case MG_DKIM_NONE: break;
	}
	return MG_DMARC_DKIM_NONE;
}

static const char *
dmarc_symbol(const struct mg_dmarc_result *r)
{
	switch (r->status) {
	case MG_DMARC_PASS: return "DMARC_PASS";
	case MG_DMARC_FAIL:
		if (r->disposition == MG_DMARC_DIS_REJECT)
			return "DMARC_POLICY_REJECT";
		if (r->disposition == MG_DMARC_DIS_QUARANTINE)
			return "DMARC_POLICY_QUARANTINE";
		return "DMARC_POLICY_NONE";
	case MG_DMARC_TEMPERROR: return "DMARC_TEMPERROR";
	case MG_DMARC_PERMERROR: return "DMARC_PERMERROR";
	case MG_DMARC_NONE: break;
	}
	return "DMARC_NONE";
}

/* Allow/block lists: the recipient domain's first, then the global ones (DESIGN.md §5). Within
 * one level a block entry wins over an allow entry. Returns 1 when a list decided. */
static int
check_lists(struct check_job *j, const struct mg_domain *d, struct buf *ar)
{
	const struct mg_config *cfg = j->g->cfg;
	const struct sockaddr *sa = j->has_addr ? (const struct sockaddr *)&j->ss : NULL;
	const struct mg_list *allow[2], *block[2];
	const struct mg_list_entry *e;

	(void)ar;
	allow[0] = d != NULL ? &d->allow : NULL;
	block[0] = d != NULL ? &d->block : NULL;
	allow[1] = &cfg->global_allow;
	block[1] = &cfg->global_block;
	for (int lvl = 0; lvl < 2; lvl++) {
		if (block[lvl] != NULL &&
		    (e = config_list_match(block[lvl], j->env.sender, sa)) != NULL) {
			filter_score_add(&j->score, cfg, "BLOCKLIST");
			j->score.block = 1;
			str_fmt(j->detail, sizeof(j->detail), "list=%s line=%d",
			    block[lvl]->file != NULL ? block[lvl]->file : "block", e->line);
			return 1;
		}
		if (allow[lvl] != NULL &&
		    (e = config_list_match(allow[lvl], j->env.sender, sa)) != NULL) {
			filter_score_add(&j->score, cfg, "ALLOWLIST");
			j->score.allow = 1;
			str_fmt(j->detail, sizeof(j->detail), "list=%s line=%d",
			    allow[lvl]->file != NULL ? allow[lvl]->file : "allow", e->line);
			return 1;
		}
	}
	return 0;
}

static void
ar_add(struct buf *ar, const char *frag)
{
	/* unfold: the dkim/arc fragments separate resinfos with ";\r\n\t" */
	for (const char *p = frag; *p; p++) {
		if (*p == '\r' || *p == '\n')
			continue;
		if (*p == '\t') {
			(void)buf_append_char(ar, ' ');
			continue;
		}
		(void)buf_append_char(ar, *p);
	}
}

static void
record_dmarc(struct check_job *j, const struct mg_dmarc_result *res,
    const struct mg_dmarc_input *in)
{
	struct buf row, key;

	if (filter.dmarc_tab == NULL || res->status == MG_DMARC_NONE)
		return;
	buf_init(&row, MG_DMARC_ROW_MAX + 1);
	buf_init(&key, 128);
	if (mg_dmarc_record_format(res, in, j->env.client_addr != NULL ? j->env.client_addr : "",
	    (long long)time(NULL), &row) == 0 &&
	    buf_printf(&key, "%020lld.%s.%s", (long long)time(NULL), j->env.qid, j->sid) == 0)
		(void)mg_kvdb_put(filter.dmarc_tab, key.data, key.len, row.data, row.len);
	buf_free(&row);
	buf_free(&key);
}

/* DKIM, ARC and DMARC over the header section hdr; adds symbols and A-R fragments. */
static void
check_auth(struct check_job *j, struct filter_thread *t, unsigned disabled, struct buf *hdr,
    struct buf *ar)
{
	const struct mg_config *cfg = j->g->cfg;
	struct mg_dns_wait_ctx wctx = { .d = filter.dns, .deadline_ms = j->deadline_ms };
	struct mg_dns_lookup dns = { .fn = mg_dns_lookup_fn_direct, .ctx = &wctx };
	struct mg_dkim_results dk;
	struct mg_arc_result arc;
	struct buf frag;
	int dkim_ran = 0;

	buf_init(&frag, 4096);
	memset(&dk, 0, sizeof(dk));
	if ((disabled & MG_LAYER_DKIM) && !(disabled & MG_LAYER_DMARC) && filter.psl != NULL) {
		/* DKIM off as a layer (no symbol, no A-R) but DMARC on: DMARC still needs the
		 * signatures (RFC 7489 §4.2), else mail aligned only by DKIM would fail p=reject */
		(void)mg_dkim_verify(t->dkim, &dns, j->fd, j->size, &dk);
		dkim_ran = 1;
	}
	if (!(disabled & MG_LAYER_DKIM)) {
		(void)mg_dkim_verify(t->dkim, &dns, j->fd, j->size, &dk);
		dkim_ran = 1;
		filter_score_add(&j->score, cfg, dkim_symbol(dk.status));
		buf_reset(&frag);
		if (mg_dkim_authres(&dk, &frag) == 0) {
			(void)buf_append_str(ar, "; ");
			ar_add(ar, frag.data);
		}
		/* ARC (RFC 8617) rides with the DKIM layer: same keys, same machinery */
		memset(&arc, 0, sizeof(arc));
		(void)mg_arc_verify(&dns, j->fd, j->size, 0, &arc);
		if (arc.cv == MG_ARC_PASS)
			filter_score_add(&j->score, cfg, "ARC_PASS");
		else if (arc.cv == MG_ARC_FAIL)
			filter_score_add(&j->score, cfg, arc.tempfail ? "ARC_TEMPERROR" : "ARC_FAIL");
		buf_reset(&frag);
		if (mg_arc_authres(&arc, &frag) == 0) {
			(void)buf_append_str(ar, "; ");
			ar_add(ar, frag.data);
		}
	}
	if (!(disabled & MG_LAYER_DMARC) && filter.psl != NULL) {
		char from[MG_DMARC_DOMAIN_MAX + 1], arbuf[1024];
		const char *err;
		struct mg_dmarc_ctx dctx = { .psl = filter.psl };
		struct mg_dmarc_dkim_sig sigs[MG_DKIM_SIG_MAX];
		struct mg_dmarc_input in;
		struct mg_dmarc_result res;
		unsigned r = 0;

		if (mg_dmarc_from_domain(buf_slice(hdr), from, sizeof(from), &err) !=
		    MG_DMARC_FROM_OK) {
			filter_score_add(&j->score, cfg, "FROM_INVALID");
			(void)buf_append_str(ar, "; dmarc=none");
		} else {
			memset(&in, 0, sizeof(in));
			in.header_from = from;
			if (j->spf_done) {
				in.spf_result = (enum mg_dmarc_spf)j->spf.result;
				in.spf_domain = j->spf.domain;
				in.spf_is_helo = j->spf.identity_is_helo;
			}
			in.envelope_from = envelope_addr_domain(j->env.sender);
			for (size_t i = 0; dkim_ran && i < dk.n; i++) {
				sigs[i].domain = dk.sig[i].d;
				sigs[i].selector = dk.sig[i].s;
				sigs[i].result = dkim_to_dmarc(dk.sig[i].result);
			}
			in.dkim = sigs;
			in.n_dkim = dkim_ran ? dk.n : 0;
			if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
				r = 0;
			in.pct_random = r % 100;
			(void)mg_dmarc_evaluate(&dctx, &dns, &in, &res);
			filter_score_add(&j->score, cfg, dmarc_symbol(&res));
			if (mg_dmarc_authres(&res, arbuf, sizeof(arbuf)) == 0) {
				(void)buf_append_str(ar, "; ");
				ar_add(ar, arbuf);
			}
			record_dmarc(j, &res, &in);
		}
	}
	buf_free(&frag);
}

/* The content layers (filter/content.c) over the whole message, at most max_message_size
 * octets (smtpd enforced it already): read into the thread's buffer when it is small
 * (FILTER_READ_MAX), else mapped read-only (or read into a copy if it cannot be mapped). */
static void
check_content(struct check_job *j, struct filter_thread *t, unsigned disabled)
{
	const struct mg_config *cfg = j->g->cfg;
	struct mg_dns_wait_ctx wctx = { .d = filter.dns, .deadline_ms = j->deadline_ms };
	struct content_ctx c;
	size_t len = j->size > 0 ? (size_t)j->size : 0, got = 0;
	char *copy = NULL, *dst = NULL;
	void *map = MAP_FAILED;
	ssize_t r;

	if (cfg->max_message_size > 0 && len > (size_t)cfg->max_message_size)
		len = (size_t)cfg->max_message_size;
	memset(&c, 0, sizeof(c));
	c.cfg = cfg;
	c.disabled = disabled;
	c.dns.fn = mg_dns_lookup_fn_direct;
	c.dns.ctx = &wctx;
	c.score = &j->score;
	c.account_cpu = 1;
	if (len > 0 && len <= FILTER_READ_MAX && buf_reserve(&t->msg, len) == 0)
		dst = t->msg.data;
	else if (len > 0 &&
	    (map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, j->fd, 0)) == MAP_FAILED)
		dst = copy = xmalloc(len);
	if (map != MAP_FAILED) {
		c.msg = map;
	} else if (dst != NULL) {
		while (got < len && (r = pread(j->fd, dst + got, len - got, (off_t)got)) > 0)
			got += (size_t)r;
		c.msg = dst;
		len = got;
	} else {
		c.msg = "";
	}
	c.len = len;
	content_check(&c);
	if (map != MAP_FAILED)
		munmap(map, len);
	xfree(copy);
}

static void
set_reply(struct check_job *j)
{
	switch (j->action) {
	case FILTER_REJECT:
		str_lcpy(j->status, "5.7.1", sizeof(j->status));
		if (j->score.block)
			str_lcpy(j->text, "Message rejected by policy (block list)", sizeof(j->text));
		else
			str_fmt(j->text, sizeof(j->text), "Message rejected as spam (score %.1f)",
			    j->score.total + 0.0);
		break;
	case FILTER_GREYLIST:
		str_lcpy(j->status, "4.7.1", sizeof(j->status));
		str_lcpy(j->text, "Greylisted, try again later", sizeof(j->text));
		break;
	case FILTER_TEMPFAIL:
		str_lcpy(j->status, "4.3.2", sizeof(j->status));
		str_lcpy(j->text, "Filter busy, try again later", sizeof(j->text));
		break;
	case FILTER_QUARANTINE:
	case FILTER_DELIVER:
		str_lcpy(j->status, "2.0.0", sizeof(j->status));
		str_lcpy(j->text, "Ok", sizeof(j->text));
		break;
	}
}

static void
greylist_step(struct check_job *j)
{
	const char **rcpts = xcalloc(j->env.n_rcpts, sizeof(*rcpts));
	enum mg_grey_verdict v;

	for (size_t i = 0; i < j->env.n_rcpts; i++)
		rcpts[i] = j->env.rcpts[i].addr;
	if (j->g->gl == NULL || !j->has_addr ||
	    mg_greylist_check_message(j->g->gl, (const struct sockaddr *)&j->ss, j->env.sender,
	    rcpts, j->env.n_rcpts, (long long)time(NULL), NULL, &v) < 0) {
		/* a broken triplet store must not hold mail back: skip the layer */
		filter_score_add(&j->score, j->g->cfg, "GREYLIST_ERROR");
		j->action = FILTER_DELIVER;
	} else {
		j->action = v == MG_GREY_PASS ? FILTER_DELIVER : FILTER_GREYLIST;
		str_fmt(j->detail, sizeof(j->detail), "greylist=%s", mg_greylist_verdict_name(v));
	}
	xfree(rcpts);
}

static void
build_headers(struct check_job *j, struct buf *ar)
{
	struct buf sym;

	buf_init(&sym, 8192);
	if (ar->len > AR_HEADER_MAX) {
		/* cut at the last resinfo that fits: header lines stay under 998 octets */
		size_t cut = AR_HEADER_MAX;

		while (cut > 0 && ar->data[cut] != ';')
			cut--;
		ar->len = cut;
		ar->data[cut] = '\0';
	}
	(void)buf_printf(&j->headers, "%s\n", ar->data);
	(void)buf_printf(&j->headers, "X-MailGuard-Score: %.2f\n", j->score.total + 0.0);
	(void)filter_score_symbols(&j->score, &sym);
	if (sym.len > AR_HEADER_MAX - 22) {
		size_t cut = AR_HEADER_MAX - 22;

		while (cut > 0 && sym.data[cut] != ',')
			cut--;
		sym.len = cut;
		sym.data[cut] = '\0';
	}
	(void)buf_printf(&j->headers, "X-MailGuard-Symbols: %s\n", sym.len ? sym.data : "none");
	buf_free(&sym);
}

void
check_job_run(struct workq_job *w, void *ctx)
{
	struct check_job *j = (struct check_job *)w;
	struct filter_thread *t = ctx;
	const struct mg_config *cfg = j->g->cfg;
	const struct mg_domain *d;
	struct filter_thresholds th;
	struct buf hdr, ar;
	struct stat st;
	unsigned disabled;
	char spf_frag[512];

	buf_init(&hdr, RFC5322_HEADER_READ_MAX + 1);
	buf_init(&ar, 16384);
	(void)buf_printf(&ar, "Authentication-Results: %s", cfg->hostname);
	d = config_domain_find(cfg, envelope_addr_domain(j->env.rcpts[0].addr));
	/* the global switch (global_disable_layers) and the domain's own list add up */
	disabled = cfg->disable_layers | (d != NULL ? d->disable_layers : 0);
	th.reject = d != NULL ? d->spam_reject : 15;
	th.quarantine = d != NULL ? d->spam_quarantine : 6;
	th.greylist = d != NULL ? d->greylist : 4;
	th.greylist_enabled = d != NULL && !(disabled & MG_LAYER_GREYLIST);
	if (j->env.direction == ENV_OUTBOUND || j->mynet) {
		/* our own users' mail: outbound checks only (none yet) */
		j->action = FILTER_DELIVER;
		str_lcpy(j->detail, "trusted client", sizeof(j->detail));
		goto done;
	}
	if (fstat(j->fd, &st) < 0 || rfc5322_read_header(j->fd, &hdr) < 0) {
		j->action = FILTER_TEMPFAIL;
		str_lcpy(j->detail, "cannot read message", sizeof(j->detail));
		goto done;
	}
	j->size = st.st_size;
	if (check_lists(j, d, &ar)) {
		(void)buf_append_str(&ar, "; none");
		j->action = filter_score_decide(&j->score, &th);
		goto headers;
	}
	if (!(disabled & MG_LAYER_RBL))
		filter_score_merge(&j->score, &j->rbl);
	/* SPF off as a layer still feeds DMARC (RFC 7489 §4.2) when DMARC is on; the early
	 * result from MAIL (recipients unknown then) simply does not count otherwise. */
	if ((!(disabled & MG_LAYER_SPF) || !(disabled & MG_LAYER_DMARC)) && !j->spf_done &&
	    j->has_addr && j->env.client_addr != NULL) {
		run_spf(t, j->deadline_ms, j->env.client_addr,
		    j->env.helo != NULL ? j->env.helo : "", j->env.sender, &j->spf);
		j->spf_done = 1;
	}
	if (!(disabled & MG_LAYER_SPF)) {
		if (j->spf_done) {
			filter_score_add(&j->score, cfg, spf_symbol(j->spf.result));
			if (mg_spf_auth_results(&j->spf, spf_frag, sizeof(spf_frag)) == 0)
				(void)buf_printf(&ar, "; %s", spf_frag);
		} else {
			filter_score_add(&j->score, cfg, "SPF_NONE");
			(void)buf_append_str(&ar, "; spf=none");
		}
	}
	check_auth(j, t, disabled, &hdr, &ar);
	check_content(j, t, disabled);
	j->action = filter_score_decide(&j->score, &th);
	if (j->action == FILTER_GREYLIST)
		greylist_step(j);
headers:
	build_headers(j, &ar);
done:
	set_reply(j);
	/* report mail: stored before the verdict; consumed only if delivered (a quarantined one
	 * stays whole for the operator) */
	if (j->rua != NULL && (j->action == FILTER_DELIVER || j->action == FILTER_QUARANTINE))
		dmarc_rua_ingest(j->rua, j->fd, j->action == FILTER_DELIVER, &j->consumed);
	buf_free(&hdr);
	buf_free(&ar);
}
