#ifndef ADMIN_CTL_REMOTE_H
#define ADMIN_CTL_REMOTE_H
/* mailguardctl remote mode: the commands the console's JSON API covers (doc/api.md), run against
 * a console over HTTPS with an API token instead of the local control socket:
 *   mailguardctl --url https://HOST:PORT --token-file F [--ca-file F | --insecure] [--json]
 *       domains list|show|set|unset|add|remove, lists show|add|remove,
 *       queue list|show|flush|hold|release|delete, dkim status|dns|keygen|rotate, stats
 * admin/ctl_remote.c: options, the libcurl transport (certificate and host name verified unless
 * --insecure; https only; bounded reply) and the commands; admin/ctl_remote_fmt.c: the JSON
 * replies printed like the local commands (pure, fuzzed by tests/fuzz/fuzz_ctl_remote.c). */
#include <stddef.h>

#include "lib/buf.h"

struct json_t;

/* True when argv asks for remote mode: --url (or --url=...) among the options before the
 * command word. */
int ctl_remote_wanted(int argc, char **argv);

/* Runs a remote command; argv is mailguardctl's whole argument vector. Returns the process exit
 * status: 0 done, 1 refused or failed (message on stderr), 2 usage. */
int ctl_remote_main(int argc, char **argv);

/* Text forms of API replies (the same lines as the local commands where those exist). Each
 * appends to out and returns 0, or -1 when j does not have the expected shape (nothing is
 * trusted: missing members print as "-", wrong types are refused, strings are printed with
 * control characters as \xHH). Any thread; no I/O. */
enum ctl_remote_fmt {
	CTL_FMT_DOMAINS,	/* GET /api/v1/domains */
	CTL_FMT_DOMAIN,		/* GET /api/v1/domains/NAME */
	CTL_FMT_LISTS,		/* GET /api/v1/lists/NAME */
	CTL_FMT_QUEUE,		/* GET /api/v1/queue: like `queue list` */
	CTL_FMT_QMSG,		/* GET /api/v1/queue/QID: like `queue show QID` */
	CTL_FMT_DKIM,		/* GET /api/v1/dkim: like `dkim status` */
	CTL_FMT_DKIM_DOMAIN,	/* GET /api/v1/dkim/DOMAIN: like `dkim status DOMAIN` */
	CTL_FMT_DKIM_DNS,	/* GET /api/v1/dkim/DOMAIN: like `dkim dns DOMAIN` */
	CTL_FMT_STATS,		/* GET /api/v1/stats */
	CTL_FMT_COUNT_
};
int ctl_remote_format(enum ctl_remote_fmt kind, const struct json_t *j, struct buf *out);
/* Appends s (text from the server) with control bytes as \\xHH and C1 controls as \\u00HH;
 * the _text form keeps line breaks. */
void ctl_remote_clean(struct buf *out, const char *s);
void ctl_remote_clean_text(struct buf *out, const char *s);

#endif
