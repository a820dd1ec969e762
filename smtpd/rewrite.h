#ifndef SMTPD_REWRITE_H
#define SMTPD_REWRITE_H
/* The header_rewrite engine (mailguard.conf(5), issue B): applies a protected domain's rules to
 * the header section of its outbound messages and to their envelope sender. Pure functions: no
 * I/O, no global state, any thread; fuzzed by tests/fuzz/fuzz_header_rewrite.c.
 *
 * Rules, applied in the order written (config/values.c checks their syntax):
 *   add Name: value       appends the field "Name: value" to the end of the header section
 *   remove Name           deletes every field called Name (case-insensitive)
 *   replace Name: value   replaces the first field called Name with "Name: value" and deletes the
 *                         others; adds nothing when the message has none
 *   sender old new        in From, Sender, Reply-To, Resent-From and Resent-Sender, replaces the
 *                         address old (user@domain) with new, or the domain of every address
 *                         @old with @new (exact domain, case-insensitive); quoted strings and
 *                         comments (display names) are left alone. Also the envelope sender. */
#include <stddef.h>

#include "config/config.h"
#include "lib/buf.h"

/* Largest header section rewritten: the session rejects bigger ones anyway (limits.h). Added
 * fields and address replacements may grow it by at most this much again. */
#define REWRITE_OUT_MAX (2 * 1024 * 1024 + 64 * 1024)

/* Rewrites a message start: in holds the header fields, each line ending in LF (normally CRLF),
 * and possibly more (the empty line and body bytes, or the first line that is not a header
 * field): from the first line that is neither a field nor a continuation on, bytes are copied
 * unchanged. The result is appended to out (whose max should be REWRITE_OUT_MAX). Returns the
 * number of rules that changed something (0: out holds a copy of in), or -1 with *error_r when
 * out would overflow. */
int rewrite_header(const struct mg_header_rule *rules, size_t n_rules, struct slice in,
    struct buf *out, const char **error_r);

/* Applies the sender rules to an envelope address (no <>). Writes the result to out (size
 * outsize) and returns 1 when it changed, 0 when not (out holds a copy), -1 when it would not
 * fit (out holds a copy). */
int rewrite_envelope_sender(const struct mg_header_rule *rules, size_t n_rules, const char *addr,
    char *out, size_t outsize);

#endif
