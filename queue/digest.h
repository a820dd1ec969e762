#ifndef QUEUE_DIGEST_H
#define QUEUE_DIGEST_H
/* Quarantine digests (issue G). digest_build.c composes one user's digest message (pure apart
 * from minting tokens with common/qtoken.h and drawing random MIME boundaries; any thread once
 * the token keys are loaded, which happens on the queue's main thread). digest.c is the queue
 * role's scheduler: it finds the recipients with new quarantined mail, builds their digests and
 * queues them (declared here for queue.c and quarantine_ctl.c; main thread). */
#include <stddef.h>

#include "lib/buf.h"

#define DIGEST_LIST_MAX 200			/* messages listed in one digest ("and N more") */
#define DIGEST_LOGO_MAX (256 * 1024)		/* brand_logo octets embedded */
#define DIGEST_MSG_MAX (8 * 1024 * 1024)	/* a built digest message */
#define DIGEST_BRAND_MAX 64			/* octets of brand_name used */

/* One quarantined message as listed (strings borrowed, clean UTF-8 as in queue/quarantine.h). */
struct digest_item {
	const char *qid;
	const char *sender;	/* "" for the null sender */
	const char *subject;	/* decoded; "" if none */
	long long arrival;
	double score;
	size_t order;		/* position in the quarantine index: a deterministic order among
				 * messages of the same second (arrival has whole seconds) */
};

/* Everything a digest shows besides its items. Strings borrowed. */
struct digest_params {
	const char *rcpt;		/* recipient, lower case (To: and the tokens) */
	const char *from;		/* digest sender address (From:) */
	const char *brand_name;
	const char *brand_color;	/* #rrggbb; anything else: the default colour */
	const char *base_url;		/* links are <base_url>/q/TOKEN (trailing '/' ignored) */
	const char *hostname;		/* right-hand side of Message-ID and Content-ID */
	const void *logo;		/* brand_logo content, NULL for none */
	size_t logo_len;		/* at most DIGEST_LOGO_MAX */
	const char *logo_type;		/* "image/png" or "image/svg+xml" */
	long long now;			/* Date: and the tokens' clock */
	long long link_expires;		/* expiry of every token (unix seconds) */
};

/* Appends to out the whole digest message (RFC 5322 header section and MIME body, CRLF lines,
 * 7bit: quoted-printable text and HTML, base64 logo): multipart/alternative text/plain +
 * text/html, wrapped in multipart/related with the logo as an inline part when p->logo is set.
 * items are listed in the order given (callers pass newest first), at most DIGEST_LIST_MAX of
 * them, followed by "and N more" when n is larger; each with Release, Delete and Always allow
 * sender links (QT_RELEASE, QT_DELETE, QT_ALLOW) and one "Show all my quarantined mail" link
 * (QT_LIST). Peer text is HTML-escaped in the HTML part and RFC 2047-encoded in header fields.
 * Returns 0, or -1 with *error_r (static) when a token cannot be made (no key, bad recipient)
 * or out's max is reached. */
int digest_build(const struct digest_params *p, const struct digest_item *items, size_t n,
    struct buf *out, const char **error_r);

/* The MIME type of a logo from its first octets: "image/png", "image/svg+xml", or NULL. */
const char *digest_logo_type(const void *data, size_t len);
/* 1 when s is "#rrggbb" (hex digits, either case). */
int digest_color_ok(const char *s);

/* ---- digest.c: the queue role's digest scheduler (main thread) ---- */

/* After quarantine_init (needs its index and database): loads or creates the token keys and
 * arms the timer (digest_interval, digest_time; a run missed while the queue was down starts
 * shortly after the start). */
void digest_init(void);
void digest_reload(void);
/* Before quarantine_shutdown (which closes the database digest.c uses). */
void digest_shutdown(void);
/* `mailguardctl quarantine digest-now`: a complete run now, synchronously; writes a summary
 * line to out. Returns the exit status (0, or 1 when the run could not be made). */
int digest_ctl_now(int argc, char **argv, struct buf *out);

#endif
