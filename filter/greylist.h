#ifndef FILTER_GREYLIST_H
#define FILTER_GREYLIST_H
/* Greylisting (shared/DESIGN.md §5): a message whose score reaches the domain's `greylist`
 * threshold is deferred with 451 4.7.1 until its (client network, sender, recipient) triplet has
 * been retried after a delay. Triplets live in the "greylist" table of the filter's kvdb
 * environment (lib/kvdb.h), so they survive restarts and are shared by every pool thread.
 *
 * Timeline of one triplet (times in seconds, `now` injected by the caller):
 *   first sighting                              -> NEW    (recorded, first = now)
 *   retry before first + delay                  -> EARLY  (still greylisted; first unchanged)
 *   retry in [first + delay, first + retry_window] -> PASS (passed until now + pass_lifetime)
 *   retry after first + retry_window, not passed   -> NEW  (starts over)
 *   any sighting before passed-until            -> PASS   (passed-until refreshed)
 *   any sighting at or after passed-until       -> NEW    (starts over)
 * The client network is the /24 of an IPv4 address (IPv4-mapped IPv6 included) and the /64 of an
 * IPv6 address, since big senders retry from another host of the same pool. Sender and recipient
 * are ASCII case-folded: RFC 5321 §2.4 lets a server treat local parts case-sensitively, but
 * greylisting keys are conventionally folded (a retry from "Bob@" after "bob@" is the same mail),
 * and a fold can only make greylisting more lenient, never lose mail. */
#include <stddef.h>
#include <sys/socket.h>

#include "lib/kvdb.h"

enum mg_grey_verdict {
	MG_GREY_PASS = 0, /* retried after the delay, or passed recently: accept */
	MG_GREY_NEW,	  /* first sighting (or starting over): recorded, answer 451 */
	MG_GREY_EARLY,	  /* seen, delay not elapsed yet: answer 451 */
};

/* Defaults of the parameters (used for a NULL params pointer and by mg_greylist_params_init). */
#define MG_GREYLIST_DELAY_DEFAULT 300LL
#define MG_GREYLIST_RETRY_WINDOW_DEFAULT (4LL * 3600)
#define MG_GREYLIST_PASS_LIFETIME_DEFAULT (35LL * 86400)
/* Upper bound of every parameter (one year), so time arithmetic never overflows. */
#define MG_GREYLIST_PARAM_MAX (366LL * 86400)
/* Longest sender or recipient accepted, in octets (RFC 5321 §4.5.3.1.3 allows 256 for a path;
 * generous for SMTPUTF8 addresses). */
#define MG_GREYLIST_ADDRESS_MAX 512
/* The kvdb table holding the triplets. */
#define MG_GREYLIST_TABLE "greylist"

struct mg_greylist_params {
	long long delay;	 /* s: a retry earlier than this after the first is EARLY */
	long long retry_window;	 /* s after the first sighting in which a retry passes */
	long long pass_lifetime; /* s a passed triplet keeps passing, refreshed on each pass */
};

struct mg_greylist;

/* Fills p with the defaults. */
void mg_greylist_params_init(struct mg_greylist_params *p);

/* Creates a greylist over kv's "greylist" table (opened or created). params NULL means the
 * defaults; it is copied. Constraints: 0 <= delay < retry_window <= MG_GREYLIST_PARAM_MAX,
 * 0 < pass_lifetime <= MG_GREYLIST_PARAM_MAX. kv is borrowed and must outlive the greylist.
 * Returns the object (free with mg_greylist_free) or NULL with *error_r (static). One thread. */
struct mg_greylist *mg_greylist_new(struct mg_kvdb *kv, const struct mg_greylist_params *params,
    const char **error_r);

/* Frees the object (not the kvdb) and NULLs *glp; NULL is a no-op. */
void mg_greylist_free(struct mg_greylist **glp);

/* Looks up and records one triplet at time now (seconds, e.g. time(NULL)) in one atomic
 * read-modify-write, so concurrent checks of one triplet never lose a sighting. client is the
 * SMTP client's address (AF_INET or AF_INET6); sender is the reverse-path without brackets ("" for
 * the null sender), rcpt the forward-path. Returns 0 with *out set, or -1 (unsupported address
 * family, an address over MG_GREYLIST_ADDRESS_MAX, a database error: logged by kvdb) with *out
 * untouched; the caller decides whether an error skips greylisting or tempfails.
 * Any thread. */
int mg_greylist_check(struct mg_greylist *gl, const struct sockaddr *client, const char *sender,
    const char *rcpt, long long now, enum mg_grey_verdict *out);

/* The batch form for one message with nrcpts recipients: every triplet is checked and recorded
 * (each in its own transaction), verdicts_r[i] (may be NULL) gets each verdict, and *out the
 * message's: PASS only if every triplet passed (all-or-nothing, so the retry of a partly
 * greylisted message carries every recipient), otherwise NEW if any triplet was new, otherwise
 * EARLY. nrcpts 0 gives PASS. Returns 0, or -1 at the first failing triplet (the earlier ones are
 * recorded; *out untouched). Any thread. */
int mg_greylist_check_message(struct mg_greylist *gl, const struct sockaddr *client,
    const char *sender, const char *const *rcpts, size_t nrcpts, long long now,
    enum mg_grey_verdict *verdicts_r, enum mg_grey_verdict *out);

/* Removes expired triplets: never-passed ones older than first + retry_window, passed ones at or
 * after their passed-until time, and unreadable records. Visits at most max_items records per
 * call, continuing where the previous call stopped (lib/kvdb.h mg_kvdb_sweep); adds the number
 * removed to *removed_r (may be NULL). Returns 1 when a full pass over the table ended, 0 when
 * more remain, -1 on error. Any thread (sweeps are serialised). */
int mg_greylist_sweep(struct mg_greylist *gl, long long now, size_t max_items, size_t *removed_r);

/* "pass", "new", "early" (static), or "?" for an unknown value. */
const char *mg_greylist_verdict_name(enum mg_grey_verdict v);

#endif
