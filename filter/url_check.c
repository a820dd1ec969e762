/* url_check.c: the URL layers of the content checks on the URLs url_extract.c found: phishing
 * feed matches (phish_feed.c), anchor text naming another registered domain than its href, IP
 * literal hosts, userinfo tricks, obfuscated and punycode URLs, URL shorteners (layer
 * phishing), suspicious TLDs (layer suspicious_tld) and URIBL/SURBL lookups of registered
 * domains (layer uribl, RFC 5782 §2.1 answers, at most URIBL_DOMAINS_MAX domains per message,
 * each within the message's DNS deadline). Runs on filter pool threads; the only I/O is the
 * DNS lookups through the caller's struct mg_dns_lookup. Every symbol is added at most once. */
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "dmarc/dmarc.h"
#include "filter/content.h"
#include "filter/filter_int.h"
#include "filter/phish.h"
#include "filter/url.h"
#include "lib/str.h"

#define SYM_DONE_MAX 48

/* The symbols this message already got (each is added once). */
struct seen {
	char name[SYM_DONE_MAX][FILTER_SYM_NAME_MAX];
	size_t n;
};

static void
add_once(struct seen *s, struct filter_score *score, const struct mg_config *cfg,
    const char *name, double value, int explicit_value)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->name[i], name) == 0)
			return;
	if (s->n < SYM_DONE_MAX)
		str_lcpy(s->name[s->n++], name, FILTER_SYM_NAME_MAX);
	if (explicit_value)
		filter_score_add_value(score, name, value);
	else
		filter_score_add(score, cfg, name);
}

void
url_regdom(const struct mg_psl *psl, const char *host, char *out, size_t outsize)
{
	char ip[16];
	int odd;

	if (psl == NULL || url_parse_ipv4(host, strlen(host), ip, &odd) == 0 ||
	    mg_psl_org_domain(psl, host, out, outsize) < 0)
		str_lcpy(out, host, outsize);
}

static int
is_shortener(const struct mg_config *cfg, const char *host, const char *regdom)
{
	for (size_t i = 0; i < cfg->n_url_shorteners; i++)
		if (strcmp(cfg->url_shorteners[i], regdom) == 0 ||
		    strcmp(cfg->url_shorteners[i], host) == 0)
			return 1;
	return 0;
}

/* The registered domain of the address in a From field ("Name <user@host>"), "" if none. */
static void
from_regdom(const struct mg_psl *psl, const char *from, char *out, size_t outsize)
{
	const char *at, *end;
	char host[URL_HOST_MAX + 1];
	size_t n;

	out[0] = '\0';
	if (from == NULL || (at = strrchr(from, '@')) == NULL)
		return;
	at++;
	end = at + strcspn(at, "> \t\r\n\"),;");
	n = (size_t)(end - at);
	if (n == 0 || n >= sizeof(host))
		return;
	memcpy(host, at, n);
	host[n] = '\0';
	str_lower(host);
	url_regdom(psl, host, out, outsize);
}

static void
check_phishing(const struct url_check_in *in, const struct url *u, const char *regdom,
    const char *sender_regdom, struct seen *seen, struct filter_score *score)
{
	const struct mg_config *cfg = in->cfg;
	char ahost[URL_HOST_MAX + 1], areg[URL_HOST_MAX + 1];

	if (in->feed != NULL && phish_feed_match(in->feed, u) != PHISH_NO_MATCH)
		add_once(seen, score, cfg, "PHISH_URL", 0, 0);
	if (u->anchor != NULL && url_text_host(u->anchor, strlen(u->anchor), ahost, sizeof(ahost))) {
		url_regdom(in->psl, ahost, areg, sizeof(areg));
		/* a sender linking through its own domain (its click tracker) names
		 * itself, not someone else */
		if (strcmp(areg, regdom) != 0 && strcmp(regdom, sender_regdom) != 0)
			add_once(seen, score, cfg, "PHISH_ANCHOR_MISMATCH", 0, 0);
	}
	if (u->flags & URL_F_IP)
		add_once(seen, score, cfg, "URL_IP", 0, 0);
	if (u->flags & URL_F_IP_ODD)
		add_once(seen, score, cfg, "URL_IP_OBFUSCATED", 0, 0);
	if (u->flags & URL_F_USERINFO)
		add_once(seen, score, cfg, "URL_USERINFO", 0, 0);
	if (u->flags & URL_F_OBFUSCATED)
		add_once(seen, score, cfg, "URL_OBFUSCATED", 0, 0);
	if (u->flags & URL_F_PUNYCODE)
		add_once(seen, score, cfg, "URL_PUNYCODE", 0, 0);
	if (is_shortener(cfg, u->host, regdom))
		add_once(seen, score, cfg, "URL_SHORTENER", 0, 0);
}

static void
check_tld(const struct url_check_in *in, const struct url *u, struct seen *seen,
    struct filter_score *score)
{
	const struct mg_config *cfg = in->cfg;
	const char *tld = strrchr(u->host, '.');
	const struct mg_score *hit = NULL;
	char sym[FILTER_SYM_NAME_MAX];

	if (tld == NULL || (u->flags & URL_F_IP))
		return;
	tld++;
	for (size_t i = 0; i < cfg->n_suspicious_tlds; i++)
		if (strcmp(cfg->suspicious_tlds[i].name, tld) == 0)
			hit = &cfg->suspicious_tlds[i];		/* the last entry wins */
	if (hit == NULL || hit->value == 0)
		return;
	str_fmt(sym, sizeof(sym), "SUSPICIOUS_TLD_%s", tld);
	for (char *c = sym + 15; *c; c++)
		*c = isalnum((unsigned char)*c) ? (char)toupper((unsigned char)*c) : '_';
	add_once(seen, score, cfg, sym, hit->value, 1);
}

/* One URIBL zone for one registered domain: 1 if listed. */
static int
uribl_listed(const struct mg_dns_lookup *dns, const struct mg_rbl *z, const char *regdom)
{
	char name[MG_DNS_NAME_MAX + 2];
	struct mg_dns_result *res;
	int hit = 0;

	if (str_fmt(name, sizeof(name), "%s.%s", regdom, z->zone) < 0 ||
	    strlen(name) > MG_DNS_NAME_MAX)
		return 0;
	res = dns->fn(dns->ctx, name, 1);
	if (res->status == MG_DNS_OK) {
		for (size_t i = 0; i < res->n && !hit; i++) {
			uint32_t a;

			if (res->rr[i].type != 1 || res->rr[i].u.a.family != AF_INET)
				continue;
			memcpy(&a, res->rr[i].u.a.addr, 4);
			hit = rbl_code_matches(ntohl(a), z->codes, z->n_codes);
		}
	}
	mg_dns_result_free(&res);
	return hit;
}

static void
check_uribl(const struct url_check_in *in, char (*doms)[URL_HOST_MAX + 1], size_t n_doms,
    struct seen *seen, struct filter_score *score)
{
	const struct mg_config *cfg = in->cfg;

	for (size_t z = 0; z < cfg->n_uribl; z++) {
		const struct mg_rbl *zone = &cfg->uribl[z];
		char sym[FILTER_SYM_NAME_MAX];

		/* mg_rbl.symbol is "RBL_<ZONE>": the URIBL symbol is "URIBL_<ZONE>" */
		str_fmt(sym, sizeof(sym), "URIBL_%s", zone->symbol + 4);
		for (size_t i = 0; i < n_doms; i++)
			if (uribl_listed(in->dns, zone, doms[i])) {
				add_once(seen, score, cfg, sym, zone->score, 1);
				break;
			}
	}
}

void
url_check_set(const struct url_check_in *in, const struct url_set *set,
    struct filter_score *score)
{
	struct seen seen = { .n = 0 };
	char doms[URIBL_DOMAINS_MAX][URL_HOST_MAX + 1], sender[URL_HOST_MAX + 1];
	size_t n_doms = 0;

	from_regdom(in->psl, in->from, sender, sizeof(sender));

	for (size_t i = 0; i < set->n; i++) {
		const struct url *u = &set->v[i];
		char regdom[URL_HOST_MAX + 1];
		int dup = 0;

		url_regdom(in->psl, u->host, regdom, sizeof(regdom));
		if (!(in->disabled & MG_LAYER_PHISHING))
			check_phishing(in, u, regdom, sender, &seen, score);
		if (!(in->disabled & MG_LAYER_SUSPICIOUS_TLD))
			check_tld(in, u, &seen, score);
		if (u->flags & URL_F_IP)
			continue;	/* URIBLs list domains (SURBL's IP lists are not used) */
		for (size_t j = 0; j < n_doms && !dup; j++)
			dup = strcmp(doms[j], regdom) == 0;
		if (!dup && n_doms < URIBL_DOMAINS_MAX)
			str_lcpy(doms[n_doms++], regdom, sizeof(doms[0]));
	}
	if (!(in->disabled & MG_LAYER_PHISHING) && (set->flags & URL_SET_F_LIMIT))
		add_once(&seen, score, in->cfg, "URL_LIMIT", 0, 0);	/* the rest was not looked at */
	if (!(in->disabled & MG_LAYER_URIBL) && in->dns != NULL && in->cfg->n_uribl > 0)
		check_uribl(in, doms, n_doms, &seen, score);
}

int
content_urls_init(struct ev_loop *loop, const struct mg_config *cfg, const char **error_r)
{
	return phish_init(loop, cfg, error_r);
}

void
content_urls_reload(const struct mg_config *cfg)
{
	phish_reload(cfg);
}

void
content_urls_fini(void)
{
	phish_fini();
}

void
content_urls_check(struct content_ctx *c)
{
	struct url_set set = { 0 };
	struct phish_feed *feed;
	struct url_check_in in;

	if ((c->disabled & (MG_LAYER_PHISHING | MG_LAYER_SUSPICIOUS_TLD | MG_LAYER_URIBL)) ==
	    (MG_LAYER_PHISHING | MG_LAYER_SUSPICIOUS_TLD | MG_LAYER_URIBL) || c->mime == NULL)
		return;
	feed = (c->disabled & MG_LAYER_PHISHING) ? NULL : phish_current();
	in = (struct url_check_in){ .cfg = c->cfg, .disabled = c->disabled, .psl = filter.psl,
		.feed = feed, .dns = c->dns.fn != NULL ? &c->dns : NULL, .from = c->mime->from };
	url_extract_msg(c->mime, &set);
	url_check_set(&in, &set, c->score);
	url_set_free(&set);
	phish_feed_unref(&feed);
}
