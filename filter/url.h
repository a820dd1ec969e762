#ifndef FILTER_URL_H
#define FILTER_URL_H
/* URL layer of the content checks (issue D), internal to filter/: extraction and normalisation
 * (url_extract.c, pure, fuzzed by tests/fuzz/fuzz_url.c), the phishing feed snapshot
 * (phish_feed.c pure set + phish.c loading/refresh) and the checks (url_check.c).
 * Everything here except phish.c's loading is pure and runs on any thread. */
#include <stddef.h>
#include <stdint.h>

#include "common/mime.h"

/* Hard limits. Browsers cap URLs near 2 KiB (IE's 2083); RFC 9110 §4.1 only asks for 8000
 * octets of support, so longer ones are cut off at URL_LEN_MAX (flag URL_F_LONG). Host names:
 * RFC 1035 §2.3.4 (253 octets without the final dot, 63 per label). */
#define URL_LEN_MAX 2048		/* octets of one normalised URL kept */
#define URL_HOST_MAX 253
#define URL_PER_MSG_MAX 512		/* distinct URLs kept per message (set flag URL_SET_F_LIMIT) */
#define URL_SCAN_MAX (1024 * 1024)	/* octets of text scanned for bare URLs (= MIME_TEXT_MAX) */
#define URL_CANDIDATES_MAX 4096		/* URL candidates normalised per message (each may cost an
					 * IDNA conversion, ~3 us: bounds the layer's CPU) */

/* url.flags */
#define URL_F_IP	0x0001	/* the host is an IP literal */
#define URL_F_IP_ODD	0x0002	/* ... written in a non-canonical form (hex, octal, dword) */
#define URL_F_USERINFO	0x0004	/* user@host or user:pass@host before the host */
#define URL_F_IDN	0x0008	/* the host had non-ASCII labels (converted to A-labels) */
#define URL_F_PUNYCODE	0x0010	/* the host has an xn-- label (as written or converted) */
#define URL_F_OBFUSCATED 0x0020	/* hxxp, h**p, [.], (dot) and similar rewrites were undone */
#define URL_F_HTML	0x0040	/* found in HTML (href/src/action) */
#define URL_F_PORT	0x0080	/* a non-default port */
#define URL_F_PCT_HOST	0x0100	/* percent-encoded octets in the host */
#define URL_F_LONG	0x0200	/* longer than URL_LEN_MAX: cut */

struct url {
	char *norm;		/* scheme://host[:port]/path[?query]: scheme and host lower case,
				 * host in A-labels without a final dot, default port and fragment
				 * dropped, empty path = "/"; path and query as written */
	char host[URL_HOST_MAX + 1];
	size_t key_off;		/* norm + key_off = host[:port]/path[?query] (the feed key) */
	size_t query_off;	/* offset of '?' in norm, or strlen(norm) */
	char *anchor;		/* HTML anchor text (UTF-8, trimmed), NULL if none */
	unsigned flags;		/* URL_F_* */
	unsigned long hash;	/* of norm (url_set's index) */
};

#define URL_SET_F_LIMIT	0x1	/* more than URL_PER_MSG_MAX URLs or URL_CANDIDATES_MAX candidates */

struct url_set {
	struct url *v;
	size_t n, cap;
	unsigned flags;
	size_t candidates;	/* url_set_add calls so far */
	uint32_t slot[2 * URL_PER_MSG_MAX];	/* hash index: v index + 1, 0 = empty */
};

/* Normalises one URL (with or without "scheme://"; "www." without a scheme is http).
 * Understands the obfuscations hxxp, hXXp, h**p, h__p, "[:]//", "[.]", "(.)", "[dot]",
 * "(dot)" and "{.}". Accepts http and https only. Fills *out (out->norm allocated, free with
 * url_free) and returns 0; returns -1 with *error_r (static) for anything that is not an
 * http(s) URL with a usable host. Pure, any thread. */
int url_normalise(const char *in, size_t len, struct url *out, const char **error_r);
void url_free(struct url *u);

/* Parses an IPv4 host written in any form inet_aton/browsers accept (WHATWG URL §4.4:
 * 1-4 parts, each decimal, 0x hex or 0 octal, the last part filling the remaining octets).
 * Writes the dotted quad to out (at least 16 octets), sets *odd_r when the form was not
 * canonical dotted decimal. Returns 0, or -1 when host is not such a number. Pure. */
int url_parse_ipv4(const char *host, size_t len, char *out, int *odd_r);

/* Finds bare URLs (scheme://..., www.host..., and the obfuscated forms above) in UTF-8
 * text and adds them to set (duplicates by norm are merged). Scans at most URL_SCAN_MAX
 * octets. Pure. */
void url_extract_text(const char *text, size_t len, struct url_set *set);
/* Adds one link (e.g. an HTML href with its anchor text). Returns 0 if a URL was added or
 * merged, -1 if the link is not an http(s) URL. */
int url_set_add(struct url_set *set, const char *url, size_t len, const char *anchor,
    unsigned extra_flags);
/* All URLs of a parsed message: m->links (with anchors) first, then bare URLs of m->text. */
void url_extract_msg(const struct mime_msg *m, struct url_set *set);
void url_set_free(struct url_set *set);

/* 1 if s (a trimmed anchor text) looks like a URL or a host name (a dotted name whose last
 * label is 2+ letters, optionally with scheme and path); the host goes to host (A-labels,
 * lower case). Pure. */
int url_text_host(const char *s, size_t len, char *host, size_t hostsize);

/* ---- url_check.c: the checks over a message's URLs ---- */

struct filter_score;
struct mg_config;
struct mg_dns_lookup;
struct mg_psl;
struct phish_feed;

#define URIBL_DOMAINS_MAX 8	/* distinct registered domains looked up per message */

struct url_check_in {
	const struct mg_config *cfg;	/* borrowed: scores, suspicious_tld, uribl, url_shorteners */
	unsigned disabled;		/* MG_LAYER_* off */
	const struct mg_psl *psl;	/* borrowed; NULL: the host itself is its registered domain */
	const struct phish_feed *feed;	/* borrowed; NULL: no feed */
	const struct mg_dns_lookup *dns;	/* NULL: no URIBL lookups */
	const char *from;		/* decoded From field (mime_msg.from) or NULL: a link to
					 * the sender's own registered domain is no anchor mismatch */
};

/* Adds the URL symbols of set to score: PHISH_URL (feed match), PHISH_ANCHOR_MISMATCH, URL_IP,
 * URL_IP_OBFUSCATED, URL_USERINFO, URL_OBFUSCATED, URL_PUNYCODE, URL_SHORTENER, URL_LIMIT
 * (layer phishing), SUSPICIOUS_TLD_<TLD> (suspicious_tld), URIBL_<ZONE> (uribl); each symbol at most
 * once per message. Worker thread (DNS lookups block within the lookup's deadline). */
void url_check_set(const struct url_check_in *in, const struct url_set *set,
    struct filter_score *score);
/* The registered domain of host (PSL; the host itself for IPs or without a PSL). */
void url_regdom(const struct mg_psl *psl, const char *host, char *out, size_t outsize);

#endif
