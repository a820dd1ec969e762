#ifndef CONFIG_CONFIG_H
#define CONFIG_CONFIG_H
/* The configuration: mailguard.conf (global), domains.d/<domain>.conf (one protected domain each)
 * and lists/ (allow/block lists), as described in doc/mailguard.conf.5 and shared/DESIGN.md §4.
 * Every setting is one row of the table in config/settings.c (name, scope, type, default, min, max,
 * reloadable, implemented-by). No default is defined anywhere else.
 * A struct mg_config is immutable once loaded: reload builds a new one and swaps the pointer. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "lib/cidr.h"

enum mg_tls_policy { MG_TLS_NONE = 0, MG_TLS_MAY, MG_TLS_ENCRYPT, MG_TLS_DANE };
enum mg_dkim_alg { MG_DKIM_RSA2048 = 0, MG_DKIM_ED25519, MG_DKIM_BOTH };

/* disable_layers bits */
#define MG_LAYER_RBL            0x001
#define MG_LAYER_PHISHING       0x002
#define MG_LAYER_SUSPICIOUS_TLD 0x004
#define MG_LAYER_BAYES          0x008
#define MG_LAYER_NEURAL         0x010
#define MG_LAYER_GREYLIST       0x020
#define MG_LAYER_SPF            0x040
#define MG_LAYER_DKIM           0x080
#define MG_LAYER_DMARC          0x100
#define MG_LAYER_URIBL          0x200	/* issue D: URIBL/SURBL lookups of message URLs */
#define MG_LAYER_ATTACHMENTS    0x400	/* issue D: attachment names and types */
#define MG_LAYER_MIME           0x800	/* issue D: structural MIME/HTML/Date/Message-ID symbols */

/* One allow/block list entry (lists/<name>.allow, lists/<name>.block). */
enum mg_list_kind {
	MG_LIST_ADDRESS,	/* user@example.org (the whole address compared case-insensitively) */
	MG_LIST_DOMAIN,		/* @example.org: exactly that domain */
	MG_LIST_SUBDOMAINS,	/* *.example.org: the domain's subdomains (and, by convention, itself) */
	MG_LIST_NETWORK,	/* 192.0.2.0/24, 2001:db8::/32, or a single IP */
};
struct mg_list_entry {
	enum mg_list_kind kind;
	char *value;		/* lower-cased address or domain (without '@' / '*.'), NULL for networks */
	struct cidr net;	/* for MG_LIST_NETWORK */
	int line;
};
struct mg_list {
	char *file;		/* path it came from, NULL if the file does not exist */
	struct mg_list_entry *entries;
	size_t n;
};

struct mg_header_rule {		/* header_rewrite: see mailguard.conf(5) */
	char *text;		/* the rule as written; parsed and applied by delivery (issue B) */
};

/* rbl = ZONE SCORE [CODE,...]: a DNSBL (positive score) or DNSWL (negative score) queried at
 * connect time (RFC 5782); CODEs are the 127.0.0.x answers that count (none = any 127/8). */
#define MG_RBL_CODES_MAX 16
struct mg_rbl {
	char *zone;
	char *symbol;		/* RBL_<ZONE> upper-cased, non-alphanumerics as '_' */
	double score;
	uint32_t codes[MG_RBL_CODES_MAX];	/* host byte order */
	size_t n_codes;
};
/* outbound_helo = IP NAME: the EHLO name used on connections bound to the local address IP. */
struct mg_helo_map {
	char *ip;		/* textual address, as in outbound_ips */
	char *name;
};
/* score = SYMBOL VALUE: overrides the built-in score of a filter symbol. */
struct mg_score {
	char *name;
	double value;
};

struct mg_domain {
	char *name;		/* lower-case domain, equal to the file name without .conf */
	char *file;
	char *transport_host;	/* back-end host or IP (no brackets) */
	int transport_port;	/* default 25 */
	int transport_mx;	/* 0 when written as [host] (no MX lookup) */
	double spam_reject, spam_quarantine, greylist;
	int dkim_sign;
	enum mg_dkim_alg dkim_algorithm;
	char *dmarc_rua;	/* address or NULL */
	char *tlsrpt_rua;	/* address or NULL (incoming RFC 8460 reports) */
	char *digest_from;	/* address or NULL */
	enum mg_tls_policy tls_policy;
	struct mg_header_rule *header_rewrite;
	size_t n_header_rewrite;
	long outbound_rate_count;	/* 0 = unlimited */
	long outbound_rate_period;	/* seconds */
	char **outbound_ips;	/* textual local addresses */
	size_t n_outbound_ips;
	unsigned disable_layers;	/* MG_LAYER_* */
	struct mg_list allow, block;	/* lists/<domain>.allow, lists/<domain>.block */
};

struct mg_config {
	char *dir;		/* configuration directory (absolute) */
	int config_version;
	/* [global] MTA */
	char *hostname;
	char **listen;		/* "addr:port" strings; port 0 = ephemeral (see state_dir/listeners) */
	size_t n_listen;
	/* [global] submission (issue B, smtpd/auth*.c) */
	char **submission_listen;	/* STARTTLS + AUTH listeners (RFC 6409), like listen */
	size_t n_submission_listen;
	char **submissions_listen;	/* implicit-TLS listeners (RFC 8314) */
	size_t n_submissions_listen;
	char *auth_users_file;	/* "user:$argon2id$..." lines; "" = AUTH not offered */
	long auth_fail_limit;	/* failed AUTH per client IP (IPv6: /64) per window */
	long long auth_fail_window;
	int outbound_sender_check;	/* outbound MAIL FROM must be a protected domain */
	char *spool_dir;
	char *state_dir;
	char *user;		/* unprivileged user when started as root */
	struct cidr_list mynetworks;
	char *tls_cert, *tls_key;	/* PEM paths; empty = generated self-signed in state_dir */
	char *smtpd_banner;	/* text after "220 <hostname> " */
	long long max_message_size;
	long max_recipients;
	long max_connections;
	long max_connections_per_ip;
	long long smtpd_timeout;	/* RFC 5321 §4.5.3.2.7 server timeout: 5 min */
	long long queue_lifetime;	/* bounce after this: 5d */
	long long retry_min, retry_max;	/* first retry delay (5m), cap (1h) */
	long long delay_warning;	/* 0 = off */
	long delivery_concurrency;	/* per destination */
	long delivery_max_connections;	/* all destinations */
	long long delivery_timeout_connect;
	long long delivery_timeout_command;
	long long delivery_timeout_data;
	/* [global] outbound delivery (issue B, delivery/) */
	struct mg_helo_map *outbound_helo;	/* EHLO name per source address */
	size_t n_outbound_helo;
	char *tls_ca_file;	/* PEM CA bundle for PKIX checks (MTA-STS); NULL/empty = system */
	int mta_sts_test_port;	/* test only: HTTPS port of MTA-STS policy hosts; 0 = 443 */
	char *log_level;
	int commit_batch_usec;	/* group-commit gathering window */
	/* [global] DNS and filter (issue C) */
	char **resolvers;	/* "addr:port" of recursive resolvers */
	size_t n_resolvers;
	int dns_timeout_ms, dns_attempts;
	int filter_threads, filter_queue_max;
	long long filter_timeout;	/* seconds a message's checks may take, DNS included */
	struct mg_rbl *rbl;
	size_t n_rbl;
	struct mg_score *scores;
	size_t n_scores;
	long long greylist_delay, greylist_retry_window, greylist_pass_lifetime;
	long long filter_maintenance_interval;	/* s between DB checkpoints + greylist sweeps */
	char *psl_file;
	struct cidr_list xclient_networks;	/* clients allowed to send XCLIENT (tests) */
	/* [global] outbound (issue B, queue side) */
	int outbound_port;	/* port of MX hosts for outbound mail: 25 (tests: a loopback sink) */
	int tlsrpt;		/* send RFC 8460 TLS reports */
	long long tlsrpt_interval;	/* report period in seconds (1d) */
	char *tlsrpt_from;	/* report sender; NULL = postmaster@hostname */
	char *tlsrpt_org_name;	/* organization-name; "" = hostname */
	/* [global] DKIM signing (issue E) */
	long long dkim_rotation_interval;	/* key lifetime: 365 d */
	long long dkim_rotation_lead;	/* next key generated this long before the switch: 30 d */
	long long dkim_rotation_grace;	/* old selector kept published after the switch: 7 d */
	int test_mode;		/* test-only controls (mailguardctl dkim clock) */
	/* [global] URL and attachment layers (issue D: filter/url*.c, phish*.c, attach*.c) */
	char **phishing_feeds;	/* feed sources: file paths (absolute) or http(s) URLs */
	size_t n_phishing_feeds;
	long long phishing_feed_refresh;	/* seconds between feed refreshes */
	struct mg_score *suspicious_tlds;	/* name = TLD (lower case, A-label), value = score */
	size_t n_suspicious_tlds;
	struct mg_rbl *uribl;	/* URIBL/SURBL zones: registered domains of message URLs */
	size_t n_uribl;
	char **url_shorteners;	/* registered domains of URL shortener services */
	size_t n_url_shorteners;
	/* [global] learning layers (issue D: filter/bayes*.c, neural*.c) */
	int bayes_min_learned;	/* spam AND ham messages learned before Bayes scores */
	unsigned disable_layers;	/* MG_LAYER_* off for every domain (issue H: global switch) */
	long long quarantine_retention;	/* seconds a quarantined message is kept (issue G) */
	/* [global] quarantine digests and links (issue G: queue/digest*.c, admin/page_q*.c) */
	long long digest_interval;	/* between digests to one user (1d) */
	long long digest_time;		/* seconds after 00:00 UTC when daily digests go out */
	char *digest_from_default;	/* global fallback sender of digests; "" = postmaster@domain */
	char *public_url;		/* base URL of the console's public endpoint in digest links */
	long long digest_link_lifetime;	/* validity of one-click links */
	/* [global] DMARC aggregate reports (issue I: dmarc/agg*.c, dmarc/report*.c) */
	int dmarc_report;		/* send daily aggregate reports */
	char *dmarc_report_from;	/* "" = postmaster@hostname */
	char *dmarc_report_org;		/* "" = hostname */
	char *dmarc_report_contact;	/* "" = dmarc_report_from */
	char *dmarc_report_contact_info;
	char *dmarc_report_exclude;	/* addresses / @domains, blank-separated */
	int dmarc_report_bounce_limit;
	long long dmarc_report_retention;
	long long dmarc_report_delay;
	int dmarc_rua_keep;		/* deliver incoming report mail to the back-end too */
	int dmarc_rua_archive;		/* keep each stored report's XML in state_dir/dmarc-archive */
	long long dmarc_rua_retention;	/* parsed incoming reports kept this long */
	long long tlsrpt_rua_retention;	/* parsed incoming TLS reports kept this long */
	/* [global] admin console (issue H: admin/) */
	char **admin_listen;	/* HTTPS console listeners, like listen; empty = no console */
	size_t n_admin_listen;
	char **metrics_listen;	/* extra plain-HTTP listeners serving /metrics only */
	size_t n_metrics_listen;
	char *admin_tls_cert, *admin_tls_key;	/* empty = the (bootstrapped) tls_cert/tls_key */
	char *admin_users_file;	/* "user:$argon2id$..." lines; "" = state_dir/admin-users */
	char *admin_tokens_file;	/* API tokens: "name:sha256hex" lines; "" = state_dir/admin-tokens */
	char *audit_log;	/* "" = state_dir/audit.log */
	long long admin_session_idle;	/* idle timeout of a console session */
	long long admin_session_max;	/* absolute lifetime of a console session */
	long admin_login_fail_limit;	/* failed logins per user or client IP before lockout */
	long long admin_login_lockout;	/* how long a lockout lasts */
	long admin_max_connections;	/* concurrent console connections */
	char *brand_name;	/* product name shown in the console and digests */
	char *brand_logo;	/* PNG/SVG file shown in the console header; "" = none */
	char *brand_color;	/* primary colour, #rrggbb */
	/* protected domains, sorted by name */
	struct mg_domain *domains;
	size_t n_domains;
	struct mg_list global_allow, global_block;
};

/* Loads dir/mailguard.conf, dir/domains.d/ *.conf and dir/lists/. On error returns NULL and
 * writes every problem found as "file:line: expected X, found Y" lines to errors (which the
 * caller owns; may be NULL to discard). Never exits. */
struct mg_config *config_load(const char *dir, FILE *errors);
void config_free(struct mg_config **cfg);
/* Prints every setting with its effective value, global then per domain, one "name = value" line
 * each, marking values that are defaults and features not yet implemented (mailguard -P). */
void config_print(const struct mg_config *cfg, FILE *out);
/* Finds a protected domain (case-insensitive, exact match); NULL if not protected. O(log n). */
const struct mg_domain *config_domain_find(const struct mg_config *cfg, const char *domain);
/* True when addr is inside mynetworks. */
int config_is_mynetwork(const struct mg_config *cfg, const struct sockaddr *sa);
/* Compares the settings that need a restart (reloadable = no in mailguard.conf(5): listen,
 * spool_dir, state_dir, user). Returns 1 and sets *name_r (static) to the first that differs,
 * or 0 when a reload can apply b in place of a. */
int config_static_changed(const struct mg_config *a, const struct mg_config *b,
    const char **name_r);

/* First entry of l that matches: sender (an address without <>, may be NULL or "" for the null
 * sender) against address, @domain and *.domain entries, client (may be NULL) against network
 * entries. NULL when nothing matches. Pure; any thread. The entry is borrowed from l. */
const struct mg_list_entry *config_list_match(const struct mg_list *l, const char *sender,
    const struct sockaddr *client);

/* Text-level parsers: one file's text, no file system access (relative paths stay relative, no
 * secrecy checks). For the fuzz target, tests, and the admin console validating an edit before
 * it writes the file. file names the text in error lines. All errors go to errors (may be NULL).
 * config_parse_text parses a mailguard.conf; the result has no domains and empty lists; NULL
 * on error. config_parse_domain_text parses domains.d/<domain>.conf into *out (which it
 * initialises; clear it with config_domain_clear even after an error), returns 0 or -1.
 * config_parse_list_text parses a list file likewise (clear with config_list_clear). */
struct mg_config *config_parse_text(const char *file, const char *text, size_t len, FILE *errors);
int config_parse_domain_text(const char *domain, const char *file, const char *text, size_t len,
    struct mg_domain *out, FILE *errors);
int config_parse_list_text(const char *file, const char *text, size_t len, struct mg_list *out,
    FILE *errors);
void config_domain_clear(struct mg_domain *d);
void config_list_clear(struct mg_list *l);

/* Writes the mailguard.conf(5) manual page (roff), generated from the settings table;
 * doc/mailguard.conf.5 is this output (tests/tools/gen-conf-man regenerates it). */
void config_print_man(FILE *out);

#endif
