/* settings.c: THE settings table. One row per setting: name, scope (mailguard.conf or
 * domains.d/<domain>.conf), type, default (as written in a file), bounds, reloadability, the issue
 * that puts it in effect, where it is stored, and its documentation. No default exists anywhere
 * else: the loader applies these rows, mailguard -P and doc/mailguard.conf.5 print them.
 * Runs in the supervisor (load, reload) and in tools; the table is read-only data.
 * Model: Postfix's typed parameter tables (smtpd.c, mail_params.h). */
#include "config/settings.h"

#include <stddef.h>
#include <string.h>

#include "common/limits.h"

/* offsetof that fails to compile unless the field has type T. */
#define TYPED_OFF(st, f, T) (offsetof(st, f) + 0 * sizeof(char[1 - 2 * \
	!__builtin_types_compatible_p(__typeof__(((st *)0)->f), T)]))
#define G(f, T) TYPED_OFF(struct mg_config, f, T)
#define D(f, T) TYPED_OFF(struct mg_domain, f, T)
/* Integer fields of any width: the value parser stores by size. */
#define GI(f) .off = offsetof(struct mg_config, f), .size = sizeof(((struct mg_config *)0)->f)

#define KB 1024LL
#define MB (1024LL * 1024)
#define GB (1024LL * 1024 * 1024)
#define MIN 60LL
#define HOUR 3600LL
#define DAY 86400LL

static const char *const log_levels[] = { "crit", "err", "warn", "info", "debug", NULL };
static const char *const dkim_algorithms[] = { "rsa2048", "ed25519", "both", NULL };
static const char *const tls_policies[] = { "none", "may", "encrypt", "dane", NULL };
/* Bit i is MG_LAYER_* with value 1 << i (config.h). */
static const char *const layer_names[] = { "rbl", "phishing", "suspicious_tld", "bayes", "neural",
	"greylist", "spf", "dkim", "dmarc", "uribl", "attachments", "mime", NULL };

const struct setting config_settings[] = {
	/* ---- mailguard.conf ---- */
	{ .name = "config_version", .scope = SCOPE_GLOBAL, .type = T_INT, .min = 1, .max = 1,
	  .reloadable = 1, .issue = "A", GI(config_version), .flags = SET_REQUIRED,
	  .doc = "Version of the configuration format. Required in mailguard.conf and must be 1; "
		 "a per-domain file may repeat it." },
	{ .name = "hostname", .scope = SCOPE_GLOBAL, .type = T_HOSTNAME, .def = "",
	  .reloadable = 1, .issue = "A", .off = G(hostname, char *), .flags = SET_EMPTY_OK,
	  .doc = "Name of this host, used in the SMTP greeting, EHLO and Received headers. "
		 "Empty means the system host name." },
	{ .name = "listen", .scope = SCOPE_GLOBAL, .type = T_LISTEN, .def = "127.0.0.1:2525",
	  .reloadable = 0, .issue = "A", .off = G(listen, char **), .off2 = G(n_listen, size_t),
	  .doc = "Addresses the SMTP server listens on, as address:port separated by spaces or "
		 "commas; IPv6 in brackets ([::1]:25). Port 0 picks a free port." },
	{ .name = "submission_listen", .scope = SCOPE_GLOBAL, .type = T_LISTEN, .def = "",
	  .reloadable = 0, .issue = "B", .off = G(submission_listen, char **),
	  .off2 = G(n_submission_listen, size_t), .flags = SET_EMPTY_OK,
	  .doc = "Message submission listeners (RFC 6409; the standard port is 587), as "
		 "address:port like listen: STARTTLS is offered, AUTH only after it, and MAIL needs "
		 "AUTH (530 5.7.0). Empty: none." },
	{ .name = "submissions_listen", .scope = SCOPE_GLOBAL, .type = T_LISTEN, .def = "",
	  .reloadable = 0, .issue = "B", .off = G(submissions_listen, char **),
	  .off2 = G(n_submissions_listen, size_t), .flags = SET_EMPTY_OK,
	  .doc = "Submission over implicit TLS (RFC 8314; the standard port is 465): the TLS "
		 "handshake comes before the greeting and must finish within 30 s; MAIL needs AUTH. "
		 "Empty: none." },
	{ .name = "auth_users_file", .scope = SCOPE_GLOBAL, .type = T_PATH, .def = "",
	  .reloadable = 1, .issue = "B", .off = G(auth_users_file, char *),
	  .flags = SET_EMPTY_OK | SET_SECRET,
	  .doc = "Users of SMTP AUTH PLAIN and LOGIN (RFC 4954), one \"user:hash\" line "
		 "each (# comments), hash in the $argon2id$ encoded form that \"mailguardctl auth "
		 "hash\" prints. Must not be readable by group or others. Re-read on reload. Empty: "
		 "AUTH is not offered." },
	{ .name = "auth_fail_limit", .scope = SCOPE_GLOBAL, .type = T_INT, .def = "5",
	  .min = 1, .max = 100000, .reloadable = 1, .issue = "B", GI(auth_fail_limit),
	  .doc = "Failed AUTH attempts from one client address (IPv6: its /64) within "
		 "auth_fail_window after which AUTH answers 454 4.7.0 without checking passwords." },
	{ .name = "auth_fail_window", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "15m",
	  .min = 1, .max = DAY, .reloadable = 1, .issue = "B", GI(auth_fail_window),
	  .doc = "Window over which auth_fail_limit counts failures." },
	{ .name = "outbound_sender_check", .scope = SCOPE_GLOBAL, .type = T_BOOL, .def = "yes",
	  .reloadable = 1, .issue = "B", .off = G(outbound_sender_check, int),
	  .doc = "Outbound mail (authenticated or mynetworks clients writing to other domains) "
		 "must have a MAIL FROM address in a protected domain, else 553 5.7.1; the null "
		 "sender is accepted from mynetworks only." },
	{ .name = "spool_dir", .scope = SCOPE_GLOBAL, .type = T_PATH, .def = "/var/spool/mailguard",
	  .reloadable = 0, .issue = "A", .off = G(spool_dir, char *),
	  .doc = "Queue directory. A relative path is relative to the configuration directory." },
	{ .name = "state_dir", .scope = SCOPE_GLOBAL, .type = T_PATH, .def = "/var/lib/mailguard",
	  .reloadable = 0, .issue = "A", .off = G(state_dir, char *),
	  .doc = "Directory for databases, generated keys and runtime state. A relative path is "
		 "relative to the configuration directory." },
	{ .name = "user", .scope = SCOPE_GLOBAL, .type = T_USER, .def = "_mailguard",
	  .reloadable = 0, .issue = "A", .off = G(user, char *),
	  .doc = "Unprivileged user the processes run as when started as root." },
	{ .name = "mynetworks", .scope = SCOPE_GLOBAL, .type = T_CIDR_LIST,
	  .def = "127.0.0.0/8 ::1/128", .reloadable = 1, .issue = "A",
	  .off = G(mynetworks, struct cidr_list), .flags = SET_EMPTY_OK,
	  .doc = "Trusted client networks (address/prefix, separated by spaces or commas) that may "
		 "relay outbound mail without authentication." },
	{ .name = "tls_cert", .scope = SCOPE_GLOBAL, .type = T_PATH, .def = "",
	  .reloadable = 1, .issue = "A", .off = G(tls_cert, char *), .flags = SET_EMPTY_OK,
	  .doc = "PEM certificate chain for STARTTLS. Empty means a self-signed certificate "
		 "generated in state_dir. Set together with tls_key." },
	{ .name = "tls_key", .scope = SCOPE_GLOBAL, .type = T_PATH, .def = "",
	  .reloadable = 1, .issue = "A", .off = G(tls_key, char *),
	  .flags = SET_EMPTY_OK | SET_SECRET,
	  .doc = "PEM private key for tls_cert. The file must not be readable by group or others." },
	{ .name = "smtpd_banner", .scope = SCOPE_GLOBAL, .type = T_STRING, .def = "MailGuard ESMTP",
	  .reloadable = 1, .issue = "A", .off = G(smtpd_banner, char *),
	  .doc = "Text after \"220 hostname \" in the SMTP greeting." },
	{ .name = "max_message_size", .scope = SCOPE_GLOBAL, .type = T_SIZE, .def = "50m",
	  .min = KB, .max = 2 * GB, .reloadable = 1, .issue = "A", GI(max_message_size),
	  .doc = "Largest message accepted, announced with the SIZE extension (RFC 1870)." },
	{ .name = "max_recipients", .scope = SCOPE_GLOBAL, .type = T_INT, .def = "100",
	  .min = 1, .max = SMTP_RCPT_CAP, .reloadable = 1, .issue = "A", GI(max_recipients),
	  .doc = "Recipients accepted per message; further RCPT commands get 452 "
		 "(RFC 5321 section 4.5.3.1.8 asks for at least 100)." },
	{ .name = "max_connections", .scope = SCOPE_GLOBAL, .type = T_INT, .def = "2000",
	  .min = 1, .max = 100000, .reloadable = 1, .issue = "A", GI(max_connections),
	  .doc = "Concurrent inbound SMTP connections, all clients together." },
	{ .name = "max_connections_per_ip", .scope = SCOPE_GLOBAL, .type = T_INT, .def = "50",
	  .min = 1, .max = 100000, .reloadable = 1, .issue = "A", GI(max_connections_per_ip),
	  .doc = "Concurrent inbound SMTP connections from one client address." },
	{ .name = "smtpd_timeout", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "5m",
	  .min = 1, .max = HOUR, .reloadable = 1, .issue = "A", GI(smtpd_timeout),
	  .doc = "Idle time allowed to an SMTP client between commands or data "
		 "(RFC 5321 section 4.5.3.2.7)." },
	{ .name = "queue_lifetime", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "5d",
	  .min = 1, .max = 30 * DAY, .reloadable = 1, .issue = "A", GI(queue_lifetime),
	  .doc = "How long a message is retried before it is returned to its sender." },
	{ .name = "retry_min", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "5m",
	  .min = 1, .max = DAY, .reloadable = 1, .issue = "A", GI(retry_min),
	  .doc = "Delay before the first retry of a deferred delivery; later retries back off." },
	{ .name = "retry_max", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "1h",
	  .min = 1, .max = 7 * DAY, .reloadable = 1, .issue = "A", GI(retry_max),
	  .doc = "Longest delay between retries. Must not be less than retry_min." },
	{ .name = "delay_warning", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "0",
	  .min = 0, .max = 30 * DAY, .reloadable = 1, .issue = "A", GI(delay_warning),
	  .doc = "Send the sender a delay notice after a message waited this long; 0 turns the "
		 "notices off. Must be less than queue_lifetime." },
	{ .name = "delivery_concurrency", .scope = SCOPE_GLOBAL, .type = T_INT, .def = "20",
	  .min = 1, .max = 1000, .reloadable = 1, .issue = "A", GI(delivery_concurrency),
	  .doc = "Parallel outbound connections to one destination." },
	{ .name = "delivery_max_connections", .scope = SCOPE_GLOBAL, .type = T_INT, .def = "100",
	  .min = 1, .max = 10000, .reloadable = 1, .issue = "A", GI(delivery_max_connections),
	  .doc = "Parallel outbound connections, all destinations together." },
	{ .name = "delivery_timeout_connect", .scope = SCOPE_GLOBAL, .type = T_DURATION,
	  .def = "30s", .min = 1, .max = 10 * MIN, .reloadable = 1, .issue = "A",
	  GI(delivery_timeout_connect),
	  .doc = "Time allowed to connect to a remote server and receive its greeting." },
	{ .name = "delivery_timeout_command", .scope = SCOPE_GLOBAL, .type = T_DURATION,
	  .def = "5m", .min = 1, .max = HOUR, .reloadable = 1, .issue = "A",
	  GI(delivery_timeout_command),
	  .doc = "Time allowed for a reply to each SMTP command (RFC 5321 section 4.5.3.2)." },
	{ .name = "delivery_timeout_data", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "10m",
	  .min = 1, .max = HOUR, .reloadable = 1, .issue = "A", GI(delivery_timeout_data),
	  .doc = "Time allowed for the reply after the message data (RFC 5321 section 4.5.3.2.6)." },
	{ .name = "outbound_helo", .scope = SCOPE_GLOBAL, .type = T_HELO_MAP, .def = "",
	  .reloadable = 1, .issue = "B", .off = G(outbound_helo, struct mg_helo_map *),
	  .off2 = G(n_outbound_helo, size_t), .flags = SET_REPEAT | SET_EMPTY_OK,
	  .doc = "\"IP NAME\": the EHLO name sent on outbound connections bound to the local "
		 "address IP (see outbound_ips). Repeat the line for more addresses; connections "
		 "from other addresses use hostname." },
	{ .name = "tls_ca_file", .scope = SCOPE_GLOBAL, .type = T_PATH, .def = "",
	  .reloadable = 1, .issue = "B", .off = G(tls_ca_file, char *), .flags = SET_EMPTY_OK,
	  .doc = "PEM file of the certificate authorities trusted when outbound delivery checks "
		 "certificates the WebPKI way (MTA-STS policy hosts and MX hosts of an enforced "
		 "MTA-STS policy). Empty: the system's default CA store." },
	{ .name = "mta_sts_test_port", .scope = SCOPE_GLOBAL, .type = T_INT, .def = "0",
	  .min = 0, .max = 65535, .reloadable = 1, .issue = "B", GI(mta_sts_test_port),
	  .doc = "For tests only: the HTTPS port MTA-STS policies are fetched from instead of "
		 "443 (RFC 8461 section 3.3 requires 443). 0: port 443." },
	{ .name = "log_level", .scope = SCOPE_GLOBAL, .type = T_ENUM, .def = "info",
	  .reloadable = 1, .issue = "A", .off = G(log_level, char *), .choices = log_levels,
	  .flags = SET_ENUM_STR,
	  .doc = "Least severe level logged." },
	{ .name = "commit_batch_usec", .scope = SCOPE_GLOBAL, .type = T_INT, .def = "0",
	  .min = 0, .max = 100000, .reloadable = 1, .issue = "A", GI(commit_batch_usec),
	  .doc = "Microseconds the queue waits to gather more messages into one disk commit; 0 "
		 "commits as soon as a message is complete." },

	{ .name = "resolvers", .scope = SCOPE_GLOBAL, .type = T_LISTEN, .def = "127.0.0.1:53",
	  .reloadable = 0, .issue = "C", .off = G(resolvers, char **), .off2 = G(n_resolvers, size_t),
	  .doc = "Recursive DNS resolvers (address:port, at most 4) the filter asks; a validating "
		 "resolver such as unbound on the same host is recommended." },
	{ .name = "dns_timeout_ms", .scope = SCOPE_GLOBAL, .type = T_INT, .def = "2000",
	  .min = 50, .max = 30000, .reloadable = 0, .issue = "C", GI(dns_timeout_ms),
	  .doc = "Milliseconds to wait for one DNS answer before trying the next resolver." },
	{ .name = "dns_attempts", .scope = SCOPE_GLOBAL, .type = T_INT, .def = "2",
	  .min = 1, .max = 5, .reloadable = 0, .issue = "C", GI(dns_attempts),
	  .doc = "Rounds over all resolvers before a DNS query fails temporarily." },
	{ .name = "filter_threads", .scope = SCOPE_GLOBAL, .type = T_INT, .def = "4",
	  .min = 1, .max = 64, .reloadable = 0, .issue = "C", GI(filter_threads),
	  .doc = "Worker threads of the filter role (SPF, DKIM, ARC, DMARC, greylisting)." },
	{ .name = "filter_queue_max", .scope = SCOPE_GLOBAL, .type = T_INT, .def = "512",
	  .min = 1, .max = 100000, .reloadable = 0, .issue = "C", GI(filter_queue_max),
	  .doc = "Jobs waiting for a filter thread; when full, messages get 451 4.3.2." },
	{ .name = "filter_timeout", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "20s",
	  .min = 1, .max = 300, .reloadable = 1, .issue = "C", GI(filter_timeout),
	  .doc = "Time a message's checks may take, DNS included (its DNS budget); layers not "
		 "done by then count as temporary errors." },
	{ .name = "rbl", .scope = SCOPE_GLOBAL, .type = T_RBL, .def = "", .reloadable = 1,
	  .issue = "C", .off = G(rbl, struct mg_rbl *), .off2 = G(n_rbl, size_t),
	  .flags = SET_REPEAT | SET_EMPTY_OK,
	  .doc = "A DNS block or allow list queried when a client connects: \"ZONE SCORE "
		 "[CODE,...]\", e.g. \"zen.example 3.5 127.0.0.2,127.0.0.3\"; a negative score makes "
		 "it an allow list (DNSWL). CODEs are the answers that count (default: any "
		 "127.0.0.0/8 address). Repeat the line for more lists." },
	{ .name = "score", .scope = SCOPE_GLOBAL, .type = T_SCORE, .def = "", .reloadable = 1,
	  .issue = "C", .off = G(scores, struct mg_score *), .off2 = G(n_scores, size_t),
	  .flags = SET_REPEAT | SET_EMPTY_OK,
	  .doc = "\"SYMBOL VALUE\": the score a filter symbol adds (e.g. \"SPF_FAIL 3\"), "
		 "replacing its built-in value. Repeat the line for more symbols." },
	{ .name = "greylist_delay", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "5m",
	  .min = 0, .max = DAY, .reloadable = 1, .issue = "C", GI(greylist_delay),
	  .doc = "A greylisted triplet retried sooner than this after its first attempt is "
		 "deferred again." },
	{ .name = "greylist_retry_window", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "4h",
	  .min = 1, .max = 7 * DAY, .reloadable = 1, .issue = "C", GI(greylist_retry_window),
	  .doc = "Time after the first attempt within which a retry passes; later, greylisting "
		 "starts over. Must exceed greylist_delay." },
	{ .name = "greylist_pass_lifetime", .scope = SCOPE_GLOBAL, .type = T_DURATION,
	  .def = "35d", .min = 1, .max = 366 * DAY, .reloadable = 1, .issue = "C",
	  GI(greylist_pass_lifetime),
	  .doc = "How long a triplet that passed keeps passing without delay; refreshed by each "
		 "message." },
	{ .name = "filter_maintenance_interval", .scope = SCOPE_GLOBAL, .type = T_DURATION,
	  .def = "5m", .min = 1, .max = DAY, .reloadable = 1, .issue = "C",
	  GI(filter_maintenance_interval),
	  .doc = "How often the filter checkpoints its Berkeley DB environment (removing log "
		 "files no longer needed) and sweeps expired greylist triplets, on a worker "
		 "thread." },
	{ .name = "bayes_min_learned", .scope = SCOPE_GLOBAL, .type = T_INT, .def = "200",
	  .min = 1, .max = 1000000, .reloadable = 1, .issue = "D", GI(bayes_min_learned),
	  .doc = "Spam messages and ham messages (each) the Bayes token store must have learned "
		 "(mailguardctl train) before the Bayes layer adds symbols; with fewer, its "
		 "probabilities are noise." },
	{ .name = "quarantine_retention", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "14d",
	  .min = HOUR, .max = 365 * DAY, .reloadable = 1, .issue = "A", GI(quarantine_retention),
	  .doc = "How long a quarantined message is kept (counted from its arrival) before the "
		 "queue deletes it; checked at start and every 10 minutes." },
	{ .name = "psl_file", .scope = SCOPE_GLOBAL, .type = T_PATH,
	  .def = "/usr/share/publicsuffix/public_suffix_list.dat", .reloadable = 0, .issue = "C",
	  .off = G(psl_file, char *),
	  .doc = "Public Suffix List used to find organisational domains for DMARC." },
	{ .name = "phishing_feed", .scope = SCOPE_GLOBAL, .type = T_FEEDS, .def = "",
	  .reloadable = 1, .issue = "D", .off = G(phishing_feeds, char **),
	  .off2 = G(n_phishing_feeds, size_t), .flags = SET_REPEAT | SET_EMPTY_OK,
	  .doc = "A phishing URL feed: a file (relative to the configuration directory) or an "
		 "http(s) URL, in OpenPhish format (one URL a line) or PhishTank CSV (a header "
		 "line with a url column). A message linking to a listed URL gets PHISH_URL. The "
		 "filter role reads files as the unprivileged user. Repeat the line for more feeds." },
	{ .name = "phishing_feed_refresh", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "1h",
	  .min = 10, .max = 7 * DAY, .reloadable = 1, .issue = "D", GI(phishing_feed_refresh),
	  .doc = "How often every phishing_feed source is read or downloaded again, off the "
		 "filter's event loop; a source that fails keeps its previous content." },
	{ .name = "suspicious_tld", .scope = SCOPE_GLOBAL, .type = T_TLD_SCORES,
	  .def = "zip 1, mov 1, top 0.5, xyz 0.5, click 0.5, gq 1, tk 1, ml 1, cf 1, ga 1, "
		 "country 0.5, loan 1, men 0.5, cam 0.5, bid 0.5, icu 0.5, cyou 0.5, sbs 0.5, cfd 0.5",
	  .reloadable = 1, .issue = "D", .off = G(suspicious_tlds, struct mg_score *),
	  .off2 = G(n_suspicious_tlds, size_t), .flags = SET_REPEAT | SET_EMPTY_OK,
	  .doc = "\"TLD SCORE[, TLD SCORE...]\": a message linking to a host under TLD gets "
		 "SUSPICIOUS_TLD_<TLD> with SCORE (once per TLD). Lines add to the built-in list of "
		 "small scores (TLDs abused far above their share of registrations); a later entry "
		 "for the same TLD wins, so \"top 0\" turns one off." },
	{ .name = "uribl", .scope = SCOPE_GLOBAL, .type = T_RBL, .def = "", .reloadable = 1,
	  .issue = "D", .off = G(uribl, struct mg_rbl *), .off2 = G(n_uribl, size_t),
	  .flags = SET_REPEAT | SET_EMPTY_OK,
	  .doc = "A URI block list (URIBL/SURBL) queried with the registered domain of each "
		 "message URL (at most 8 per message, within filter_timeout): \"ZONE SCORE "
		 "[CODE,...]\" like rbl; a hit adds URIBL_<ZONE>. Repeat the line for more lists." },
	{ .name = "url_shorteners", .scope = SCOPE_GLOBAL, .type = T_DOMAIN_LIST,
	  .def = "bit.ly bitly.com tinyurl.com t.co goo.gl ow.ly is.gd buff.ly rebrand.ly cutt.ly "
		 "shorturl.at rb.gy t.ly tiny.cc bl.ink v.gd s.id soo.gd clck.ru qrco.de x.co "
		 "adf.ly tr.im shorte.st",
	  .reloadable = 1, .issue = "D", .off = G(url_shorteners, char **),
	  .off2 = G(n_url_shorteners, size_t), .flags = SET_EMPTY_OK,
	  .doc = "Registered domains of URL shortener services; a message linking to one gets "
		 "URL_SHORTENER. The value replaces the built-in list." },
	{ .name = "xclient_networks", .scope = SCOPE_GLOBAL, .type = T_CIDR_LIST, .def = "",
	  .reloadable = 1, .issue = "C", .off = G(xclient_networks, struct cidr_list),
	  .flags = SET_EMPTY_OK,
	  .doc = "Clients allowed to use XCLIENT ADDR=/NAME=/HELO= to present another client's "
		 "identity (a test harness or a trusted front-end proxy). Empty: nobody." },

	{ .name = "outbound_port", .scope = SCOPE_GLOBAL, .type = T_INT, .def = "25",
	  .min = 1, .max = 65535, .reloadable = 1, .issue = "B", GI(outbound_port),
	  .doc = "TCP port of the MX hosts that outbound mail (recipients outside the protected "
		 "domains) is delivered to. Special purpose: leave at 25 (RFC 5321 section 4.5.4 "
		 "relays use port 25); tests point it at an unprivileged loopback receiver." },
	{ .name = "tlsrpt", .scope = SCOPE_GLOBAL, .type = T_BOOL, .def = "yes",
	  .reloadable = 1, .issue = "B", .off = G(tlsrpt, int),
	  .doc = "Send SMTP TLS reports (RFC 8460) to the mailto: and https: addresses that "
		 "recipient domains publish in their _smtp._tls TXT record (https: by POST, the "
		 "server certificate checked against tls_ca_file, retried up to 5 times)." },
	{ .name = "tlsrpt_interval", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "1d",
	  .min = 1, .max = 7 * DAY, .reloadable = 1, .issue = "B", GI(tlsrpt_interval),
	  .doc = "Length of one TLS report period; periods are aligned to multiples of it since "
		 "1970-01-01 UTC (1d: one report per UTC day, as RFC 8460 section 4.1 asks). Short "
		 "values are for tests." },
	{ .name = "tlsrpt_from", .scope = SCOPE_GLOBAL, .type = T_ADDRESS, .def = "",
	  .reloadable = 1, .issue = "B", .off = G(tlsrpt_from, char *), .flags = SET_EMPTY_OK,
	  .doc = "Sender and contact-info address of TLS reports. Empty: postmaster@hostname." },
	{ .name = "tlsrpt_org_name", .scope = SCOPE_GLOBAL, .type = T_STRING, .def = "",
	  .reloadable = 1, .issue = "B", .off = G(tlsrpt_org_name, char *), .flags = SET_EMPTY_OK,
	  .doc = "organization-name of TLS reports (RFC 8460 section 4.4). Empty: hostname." },
	{ .name = "dkim_rotation_interval", .scope = SCOPE_GLOBAL, .type = T_DURATION,
	  .def = "365d", .min = 2 * DAY, .max = 5 * 366 * DAY, .reloadable = 1, .issue = "E",
	  GI(dkim_rotation_interval),
	  .doc = "Lifetime of a DKIM signing key: the signer switches to a new key (new selector) "
		 "this long after the current one started, once DNS publishes the new key." },
	{ .name = "dkim_rotation_lead", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "30d",
	  .min = DAY, .max = 366 * DAY, .reloadable = 1, .issue = "E", GI(dkim_rotation_lead),
	  .doc = "How long before the switch the next DKIM key is generated, so its DNS record "
		 "(mailguardctl dkim dns) can be published in time. Must be less than "
		 "dkim_rotation_interval." },
	{ .name = "dkim_rotation_grace", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "7d",
	  .min = 0, .max = 366 * DAY, .reloadable = 1, .issue = "E", GI(dkim_rotation_grace),
	  .doc = "How long a replaced DKIM selector must stay published after the switch (mail "
		 "signed with it may still be in transit); afterwards its record may be removed." },
	{ .name = "test_mode", .scope = SCOPE_GLOBAL, .type = T_BOOL, .def = "no",
	  .reloadable = 1, .issue = "A", .off = G(test_mode, int),
	  .doc = "Test-only controls: allows mailguardctl dkim clock SECONDS, which sets the "
		 "signer's notion of now for the key rotation timeline. Never set in production." },

	{ .name = "global_disable_layers", .scope = SCOPE_GLOBAL, .type = T_LAYERS, .def = "",
	  .reloadable = 1, .issue = "A", .off = G(disable_layers, unsigned), .choices = layer_names,
	  .flags = SET_EMPTY_OK,
	  .doc = "Detection layers turned off for every protected domain (the global switch, e.g. "
		 "for the classifiers: bayes, neural); a domain's own disable_layers adds to it. Same "
		 "names as the per-domain setting." },
	{ .name = "digest_interval", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "1d",
	  .min = 60, .max = 30 * DAY, .reloadable = 1, .issue = "A", GI(digest_interval),
	  .doc = "How often a user with new quarantined mail gets a digest (one digest per "
		 "recipient address listing the messages quarantined since the previous one; none "
		 "when nothing is new). With 1d digests go out daily at digest_time." },
	{ .name = "digest_time", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "7h",
	  .min = 0, .max = DAY - 1, .reloadable = 1, .issue = "A", GI(digest_time),
	  .doc = "Time of day (UTC, as a duration after midnight, e.g. 7h30m) at which daily "
		 "digests are sent; ignored when digest_interval is not a whole number of days." },
	{ .name = "digest_from_default", .scope = SCOPE_GLOBAL, .type = T_ADDRESS, .def = "",
	  .reloadable = 1, .issue = "A", .off = G(digest_from_default, char *),
	  .flags = SET_EMPTY_OK,
	  .doc = "Sender of digests for domains without digest_from. Empty: postmaster@ the "
		 "recipient's domain." },
	{ .name = "public_url", .scope = SCOPE_GLOBAL, .type = T_STRING, .def = "",
	  .reloadable = 1, .issue = "A", .off = G(public_url, char *), .flags = SET_EMPTY_OK,
	  .doc = "Base URL under which users reach the console's public quarantine links, e.g. "
		 "https://mail.example.org:8443 (the links are <public_url>/q/TOKEN). Empty: "
		 "https://<hostname>:<port of the first admin_listen>." },
	{ .name = "digest_link_lifetime", .scope = SCOPE_GLOBAL, .type = T_DURATION,
	  .def = "14d", .min = 3600, .max = 90 * DAY, .reloadable = 1, .issue = "A",
	  GI(digest_link_lifetime),
	  .doc = "How long the release, delete and allow-sender links of a digest stay valid. "
		 "Release and delete links work once." },
	{ .name = "dmarc_report", .scope = SCOPE_GLOBAL, .type = T_BOOL, .def = "no",
	  .reloadable = 1, .issue = "A", .off = G(dmarc_report, int),
	  .doc = "Send daily DMARC aggregate reports (RFC 7489 section 7.2) to the mailto: rua of "
		 "the domains whose mail was evaluated, after the external-destination check." },
	{ .name = "dmarc_report_from", .scope = SCOPE_GLOBAL, .type = T_ADDRESS, .def = "",
	  .reloadable = 1, .issue = "A", .off = G(dmarc_report_from, char *),
	  .flags = SET_EMPTY_OK,
	  .doc = "From and envelope sender of our aggregate reports (DKIM-signed when its domain "
		 "signs). Empty: postmaster@hostname." },
	{ .name = "dmarc_report_org", .scope = SCOPE_GLOBAL, .type = T_STRING, .def = "",
	  .reloadable = 1, .issue = "A", .off = G(dmarc_report_org, char *), .flags = SET_EMPTY_OK,
	  .doc = "org_name in our aggregate reports. Empty: hostname." },
	{ .name = "dmarc_report_contact", .scope = SCOPE_GLOBAL, .type = T_ADDRESS, .def = "",
	  .reloadable = 1, .issue = "A", .off = G(dmarc_report_contact, char *),
	  .flags = SET_EMPTY_OK,
	  .doc = "report_metadata email of our aggregate reports. Empty: dmarc_report_from." },
	{ .name = "dmarc_report_contact_info", .scope = SCOPE_GLOBAL, .type = T_STRING, .def = "",
	  .reloadable = 1, .issue = "A", .off = G(dmarc_report_contact_info, char *),
	  .flags = SET_EMPTY_OK,
	  .doc = "extra_contact_info (e.g. a URL) of our aggregate reports. Empty: none." },
	{ .name = "dmarc_report_exclude", .scope = SCOPE_GLOBAL, .type = T_STRING, .def = "",
	  .reloadable = 1, .issue = "A", .off = G(dmarc_report_exclude, char *),
	  .flags = SET_EMPTY_OK,
	  .doc = "rua addresses (or @domain) never sent aggregate reports, separated by blanks." },
	{ .name = "dmarc_report_bounce_limit", .scope = SCOPE_GLOBAL, .type = T_INT, .def = "3",
	  .min = 0, .max = 100, .reloadable = 1, .issue = "A", GI(dmarc_report_bounce_limit),
	  .doc = "Permanent delivery failures after which a rua address gets no more reports; 0: "
		 "never excluded automatically." },
	{ .name = "dmarc_report_retention", .scope = SCOPE_GLOBAL, .type = T_DURATION,
	  .def = "7d", .min = DAY, .max = 90 * DAY, .reloadable = 1, .issue = "A",
	  GI(dmarc_report_retention),
	  .doc = "How long the per-message DMARC results kept for our reports are stored." },
	{ .name = "dmarc_report_delay", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "1h",
	  .min = 0, .max = 23 * HOUR, .reloadable = 1, .issue = "A", GI(dmarc_report_delay),
	  .doc = "Time after 00:00 UTC at which the previous day's aggregate reports are made." },
	{ .name = "dmarc_rua_keep", .scope = SCOPE_GLOBAL, .type = T_BOOL, .def = "no",
	  .reloadable = 1, .issue = "A", .off = G(dmarc_rua_keep, int),
	  .doc = "Also deliver mail to a domain's dmarc_rua (and tlsrpt_rua) address to its "
		 "back-end after parsing the report. no: a message whose reports were all stored "
		 "(synced to disk before the 250 reply) is not delivered; one with nothing "
		 "parseable in it is delivered as usual, so no mail is lost." },
	{ .name = "dmarc_rua_archive", .scope = SCOPE_GLOBAL, .type = T_BOOL, .def = "yes",
	  .reloadable = 1, .issue = "A", .off = G(dmarc_rua_archive, int),
	  .doc = "Keep the original XML of every stored incoming DMARC report in "
		 "state_dir/dmarc-archive (gzip, synced to disk before the report counts as stored), "
		 "for as long as dmarc_rua_retention; mailguardctl dmarc rebuild re-reads it into "
		 "the report store." },
	{ .name = "dmarc_rua_retention", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "180d",
	  .min = DAY, .max = 3650 * DAY, .reloadable = 1, .issue = "A", GI(dmarc_rua_retention),
	  .doc = "How long parsed incoming DMARC aggregate reports and their per-source-IP "
		 "summaries are kept." },
	{ .name = "tlsrpt_rua_retention", .scope = SCOPE_GLOBAL, .type = T_DURATION,
	  .def = "180d", .min = DAY, .max = 3650 * DAY, .reloadable = 1, .issue = "A",
	  GI(tlsrpt_rua_retention),
	  .doc = "How long parsed incoming TLS reports (RFC 8460) are kept." },
	{ .name = "admin_listen", .scope = SCOPE_GLOBAL, .type = T_LISTEN, .def = "127.0.0.1:8443",
	  .reloadable = 0, .issue = "A", .off = G(admin_listen, char **),
	  .off2 = G(n_admin_listen, size_t), .flags = SET_EMPTY_OK,
	  .doc = "Addresses of the HTTPS admin console and JSON API, as address:port like listen. "
		 "Empty: no console." },
	{ .name = "metrics_listen", .scope = SCOPE_GLOBAL, .type = T_LISTEN, .def = "",
	  .reloadable = 0, .issue = "A", .off = G(metrics_listen, char **),
	  .off2 = G(n_metrics_listen, size_t), .flags = SET_EMPTY_OK,
	  .doc = "Extra plain-HTTP listeners that serve only /metrics (Prometheus text format) "
		 "without login, for a scraper on a trusted network. Empty: /metrics is served on the "
		 "console listeners only (API token required)." },
	{ .name = "admin_tls_cert", .scope = SCOPE_GLOBAL, .type = T_PATH, .def = "",
	  .reloadable = 1, .issue = "A", .off = G(admin_tls_cert, char *), .flags = SET_EMPTY_OK,
	  .doc = "PEM certificate chain of the console. Empty: the SMTP certificate (tls_cert, "
		 "or the one generated in state_dir at first start). Set together with admin_tls_key." },
	{ .name = "admin_tls_key", .scope = SCOPE_GLOBAL, .type = T_PATH, .def = "",
	  .reloadable = 1, .issue = "A", .off = G(admin_tls_key, char *),
	  .flags = SET_EMPTY_OK | SET_SECRET,
	  .doc = "PEM private key for admin_tls_cert; must not be readable by group or others." },
	{ .name = "admin_users_file", .scope = SCOPE_GLOBAL, .type = T_PATH, .def = "",
	  .reloadable = 1, .issue = "A", .off = G(admin_users_file, char *),
	  .flags = SET_EMPTY_OK | SET_SECRET,
	  .doc = "Console administrators, one \"user:hash\" line each (# comments), hash in the "
		 "$argon2id$ form of \"mailguardctl auth hash\". Every administrator sees every "
		 "domain. Empty: state_dir/admin-users (mailguardctl admin add USER writes it)." },
	{ .name = "admin_tokens_file", .scope = SCOPE_GLOBAL, .type = T_PATH, .def = "",
	  .reloadable = 1, .issue = "A", .off = G(admin_tokens_file, char *),
	  .flags = SET_EMPTY_OK | SET_SECRET,
	  .doc = "JSON API tokens, one \"name:sha256-hex-of-token\" line each; a request sends "
		 "\"Authorization: Bearer TOKEN\". Empty: state_dir/admin-tokens (mailguardctl "
		 "admin token NAME creates one)." },
	{ .name = "audit_log", .scope = SCOPE_GLOBAL, .type = T_PATH, .def = "",
	  .reloadable = 1, .issue = "A", .off = G(audit_log, char *), .flags = SET_EMPTY_OK,
	  .doc = "Audit log of every change made through the console or API (who, when, what, "
		 "before and after), one JSON object a line. Empty: state_dir/audit.log." },
	{ .name = "admin_session_idle", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "30m",
	  .min = 1, .max = DAY, .reloadable = 1, .issue = "A", GI(admin_session_idle),
	  .doc = "A console session unused this long ends (log in again)." },
	{ .name = "admin_session_max", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "8h",
	  .min = 1, .max = 7 * DAY, .reloadable = 1, .issue = "A", GI(admin_session_max),
	  .doc = "A console session ends this long after login, however busy." },
	{ .name = "admin_login_fail_limit", .scope = SCOPE_GLOBAL, .type = T_INT, .def = "5",
	  .min = 1, .max = 1000, .reloadable = 1, .issue = "A", GI(admin_login_fail_limit),
	  .doc = "Failed console logins for one user name, or from one client address, after "
		 "which logins from it are refused for admin_login_lockout." },
	{ .name = "admin_login_lockout", .scope = SCOPE_GLOBAL, .type = T_DURATION, .def = "15m",
	  .min = 1, .max = DAY, .reloadable = 1, .issue = "A", GI(admin_login_lockout),
	  .doc = "How long a console lockout lasts (see admin_login_fail_limit)." },
	{ .name = "admin_max_connections", .scope = SCOPE_GLOBAL, .type = T_INT, .def = "64",
	  .min = 1, .max = 10000, .reloadable = 1, .issue = "A", GI(admin_max_connections),
	  .doc = "Concurrent console and metrics connections; more are closed at once." },
	{ .name = "brand_name", .scope = SCOPE_GLOBAL, .type = T_STRING, .def = "MailGuard",
	  .reloadable = 1, .issue = "A", .off = G(brand_name, char *),
	  .doc = "Product name shown in the console and in quarantine digests." },
	{ .name = "brand_logo", .scope = SCOPE_GLOBAL, .type = T_PATH, .def = "",
	  .reloadable = 1, .issue = "A", .off = G(brand_logo, char *), .flags = SET_EMPTY_OK,
	  .doc = "Logo (PNG or SVG, at most 256 KiB) shown in the console header and digests. "
		 "Empty: the product name only." },
	{ .name = "brand_color", .scope = SCOPE_GLOBAL, .type = T_STRING, .def = "#1f6feb",
	  .reloadable = 1, .issue = "A", .off = G(brand_color, char *),
	  .doc = "Primary colour of the console and digests, as #rrggbb." },

	/* ---- domains.d/<domain>.conf ---- */
	{ .name = "transport", .scope = SCOPE_DOMAIN, .type = T_HOSTPORT, .reloadable = 1,
	  .issue = "A", .off = D(transport_host, char *), .off2 = D(transport_port, int),
	  .off3 = D(transport_mx, int), .flags = SET_REQUIRED,
	  .doc = "Back-end server that receives the domain's accepted mail: host, host:port, "
		 "[host] or [host]:port (IPv6: [2001:db8::1]:25). Brackets or an IP address skip "
		 "the MX lookup. The port defaults to 25. Required." },
	{ .name = "spam_reject", .scope = SCOPE_DOMAIN, .type = T_DOUBLE, .def = "15",
	  .min = -1000, .max = 1000, .reloadable = 1, .issue = "C",
	  .off = D(spam_reject, double),
	  .doc = "Score at or above which a message is refused with 550 at the end of DATA." },
	{ .name = "spam_quarantine", .scope = SCOPE_DOMAIN, .type = T_DOUBLE, .def = "6",
	  .min = -1000, .max = 1000, .reloadable = 1, .issue = "C",
	  .off = D(spam_quarantine, double),
	  .doc = "Score at or above which a message is accepted into quarantine. Must not be more "
		 "than spam_reject." },
	{ .name = "greylist", .scope = SCOPE_DOMAIN, .type = T_DOUBLE, .def = "4",
	  .min = -1000, .max = 1000, .reloadable = 1, .issue = "C", .off = D(greylist, double),
	  .doc = "Score at or above which a first attempt is deferred with 451 (greylisting). Must "
		 "not be more than spam_quarantine." },
	{ .name = "dkim_sign", .scope = SCOPE_DOMAIN, .type = T_BOOL, .def = "no",
	  .reloadable = 1, .issue = "E", .off = D(dkim_sign, int),
	  .doc = "Sign the domain's outbound mail with DKIM." },
	{ .name = "dkim_algorithm", .scope = SCOPE_DOMAIN, .type = T_ENUM, .def = "rsa2048",
	  .reloadable = 1, .issue = "E", .off = D(dkim_algorithm, enum mg_dkim_alg),
	  .size = sizeof(enum mg_dkim_alg), .choices = dkim_algorithms,
	  .doc = "DKIM key type: rsa2048, ed25519 (RFC 8463) or both (two signatures)." },
	{ .name = "dmarc_rua", .scope = SCOPE_DOMAIN, .type = T_ADDRESS, .def = "",
	  .reloadable = 1, .issue = "A", .off = D(dmarc_rua, char *), .flags = SET_EMPTY_OK,
	  .doc = "Address of the domain that receives DMARC aggregate reports; MailGuard parses "
		 "the reports sent there. Empty: none." },
	{ .name = "tlsrpt_rua", .scope = SCOPE_DOMAIN, .type = T_ADDRESS, .def = "",
	  .reloadable = 1, .issue = "A", .off = D(tlsrpt_rua, char *), .flags = SET_EMPTY_OK,
	  .doc = "Address of the domain that receives SMTP TLS reports (RFC 8460, the rua of its "
		 "_smtp._tls record); MailGuard parses the reports sent there. Empty: none." },
	{ .name = "digest_from", .scope = SCOPE_DOMAIN, .type = T_ADDRESS, .def = "",
	  .reloadable = 1, .issue = "A", .off = D(digest_from, char *), .flags = SET_EMPTY_OK,
	  .doc = "Sender address of the quarantine digests sent to the domain's users. Empty: "
		 "postmaster of the domain." },
	{ .name = "tls_policy", .scope = SCOPE_DOMAIN, .type = T_ENUM, .def = "may",
	  .reloadable = 1, .issue = "B", .off = D(tls_policy, enum mg_tls_policy),
	  .size = sizeof(enum mg_tls_policy), .choices = tls_policies,
	  .doc = "TLS for the domain's outbound mail: none (never STARTTLS), may (opportunistic: "
		 "TLS when offered, else or after a failed handshake plaintext), encrypt (TLS 1.2 "
		 "or later required, certificate not checked; failure defers with 4.7.5) or dane "
		 "(RFC 7672: MX hosts with DNSSEC-validated TLSA records must present a matching "
		 "certificate, else delivery defers; without secure TLSA records the recipient "
		 "domain's MTA-STS policy if it has one, else as may). With may, encrypt and dane "
		 "(for MX hosts without DANE), a recipient domain's MTA-STS policy (RFC 8461) in "
		 "enforce mode restricts the MX hosts and requires a certificate valid for them "
		 "(tls_ca_file). TLS reports (tlsrpt) are sent opportunistically whatever this "
		 "policy (RFC 8460 section 5.3)." },
	{ .name = "header_rewrite", .scope = SCOPE_DOMAIN, .type = T_HEADER_RULES, .def = "",
	  .reloadable = 1, .issue = "B",
	  .off = D(header_rewrite, struct mg_header_rule *), .off2 = D(n_header_rewrite, size_t),
	  .flags = SET_REPEAT | SET_EMPTY_OK,
	  .doc = "One rewriting rule for the domain's outbound mail (MAIL FROM in the domain, "
		 "recipient elsewhere), applied by the SMTP server while the message is received, "
		 "before it is queued and signed; repeat the line for more rules, applied in order. "
		 "\"add Name: value\" appends that field to the header section (the line, at most "
		 "998 octets, is kept as written). \"remove Name\" deletes every field of that "
		 "name (case-insensitive). \"replace Name: value\" puts \"Name: value\" in place "
		 "of the first such field and deletes the others; it adds nothing to a message "
		 "without one. \"sender old new\", where old and new are both addresses "
		 "(noreply@example.org info@example.org) or both @domain (@internal.example.org "
		 "@example.org, exact domain, case-insensitive), rewrites matching addresses in "
		 "From, Sender, Reply-To, Resent-From and Resent-Sender (display names in quotes "
		 "and comments are left alone) and the envelope sender. The body is never changed. "
		 "Example: \"header_rewrite = remove X-Originating-IP\" then \"header_rewrite = "
		 "sender @internal.example.org @example.org\"." },
	{ .name = "outbound_rate", .scope = SCOPE_DOMAIN, .type = T_RATE, .def = "",
	  .reloadable = 1, .issue = "B", .off = D(outbound_rate_count, long),
	  .off2 = D(outbound_rate_period, long), .flags = SET_EMPTY_OK,
	  .doc = "Most messages the domain may send, as N/sec, N/min, N/hour or N/day (e.g. "
		 "200/min). Empty: unlimited." },
	{ .name = "outbound_ips", .scope = SCOPE_DOMAIN, .type = T_IP_LIST, .def = "",
	  .reloadable = 1, .issue = "B", .off = D(outbound_ips, char **),
	  .off2 = D(n_outbound_ips, size_t), .flags = SET_EMPTY_OK,
	  .doc = "Local IPv4/IPv6 addresses the domain's outbound mail is sent from, separated by "
		 "spaces or commas. Empty: the system's choice." },
	{ .name = "disable_layers", .scope = SCOPE_DOMAIN, .type = T_LAYERS, .def = "",
	  .reloadable = 1, .issue = "C", .off = D(disable_layers, unsigned), .choices = layer_names,
	  .flags = SET_EMPTY_OK,
	  .doc = "Detection layers not applied to the domain's inbound mail, any of: rbl, "
		 "phishing, suspicious_tld, bayes, neural, greylist, spf, dkim, dmarc, uribl, "
		 "attachments, mime (the structural content symbols: MIME_*, HTML_*, DATE_*, "
		 "MSGID_*)." },
};

const size_t config_n_settings = sizeof(config_settings) / sizeof(config_settings[0]);

const struct setting *
config_setting_find(const char *name, enum setting_scope scope)
{
	for (size_t i = 0; i < config_n_settings; i++)
		if (config_settings[i].scope == scope && strcmp(config_settings[i].name, name) == 0)
			return &config_settings[i];
	return NULL;
}

int
config_setting_in_effect(const struct setting *s)
{
	/* Issues whose settings the daemon applies today. */
	return strchr("ABCDE", s->issue[0]) != NULL && s->issue[1] == '\0';
}
