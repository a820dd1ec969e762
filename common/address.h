#ifndef COMMON_ADDRESS_H
#define COMMON_ADDRESS_H
/* Mail address syntax (RFC 5321 §4.1.2, §4.1.3, §4.5.3.1; RFC 6531 for UTF-8) and xtext (RFC 3461
 * §4). Pure functions over untrusted slices: no I/O, no allocation, no global state, so every
 * function is thread-safe. Checks are syntax only (no DNS). Every -1 return sets *error_r to a
 * static, human-readable reason suitable for logs. */
#include <stddef.h>
#include "lib/buf.h"

/* Flags for the check and parse functions. */
#define ADDRESS_ALLOW_UTF8	 0x01	/* RFC 6531: UTF-8 in local parts, U-labels in domains,
					 * raw UTF-8 in xtext (RFC 6533 unitext) */
#define ADDRESS_ALLOW_NULL	 0x02	/* path "<>" (MAIL reverse-path only) */
#define ADDRESS_ALLOW_POSTMASTER 0x04	/* bare "<postmaster>" (RCPT only, RFC 5321 §4.1.1.3) */

/* Domain = sub-domain *("." sub-domain), LDH labels of 1..63 octets that start and end with a
 * letter or digit, at most SMTP_DOMAIN_MAX octets, no trailing dot. With ADDRESS_ALLOW_UTF8 a
 * label may also hold non-ASCII bytes that form valid UTF-8 (a U-label; IDNA rules beyond that
 * are not checked). Returns 0 or -1. */
int address_domain_check(struct slice domain, unsigned flags, const char **error_r);

/* Address literal including its brackets: "[192.0.2.1]", "[IPv6:2001:db8::1]" (both checked with
 * inet_pton), or a general literal "[tag:content]" (RFC 5321 §4.1.3: tag is an Ldh-str that
 * we also require to start with a letter, content 1*dcontent). Returns 0 or -1. */
int address_literal_check(struct slice literal, const char **error_r);

/* Local-part = Dot-string / Quoted-string (RFC 5321 §4.1.2), at most SMTP_LOCAL_PART_MAX octets
 * as written (quotes and backslashes included). ADDRESS_ALLOW_UTF8 admits UTF-8 in atext and
 * qtext (RFC 6531 §3.3). Returns 0 or -1. */
int address_local_part_check(struct slice local, unsigned flags, const char **error_r);

/* Splits a mailbox at the '@' that ends its local part (a quoted local part may itself contain
 * '@'). The slices borrow from mailbox. Returns 0, or -1 if there is no such '@'. No validation:
 * use address_mailbox_check for that. */
int address_split(struct slice mailbox, struct slice *local_r, struct slice *domain_r);

/* Mailbox = Local-part "@" ( Domain / address-literal ). Returns 0 or -1. */
int address_mailbox_check(struct slice mailbox, unsigned flags, const char **error_r);

/* Finds the end of a path that starts at in.p[0] == '<': the first '>' that is neither inside a
 * quoted local part nor inside an address literal. Sets *len_r to the length including both
 * brackets and returns 0; returns -1 if in does not start with '<' or has no closing '>'. */
int address_path_span(struct slice in, size_t *len_r);

/* Path = "<" [ A-d-l ":" ] Mailbox ">" (RFC 5321 §4.1.2). path must be exactly the bracketed
 * text (see address_path_span) and at most SMTP_PATH_MAX octets. The obsolete source route
 * ("@a,@b:") is checked and dropped (RFC 5321 §3.3, §4.1.2: accept and ignore). *mailbox_r
 * borrows from path: empty for "<>" (only with ADDRESS_ALLOW_NULL), the bare word for
 * "<postmaster>" in any case (only with ADDRESS_ALLOW_POSTMASTER). Returns 0 or -1. */
int address_path_parse(struct slice path, unsigned flags, struct slice *mailbox_r,
    const char **error_r);

/* What a HELO/EHLO argument looked like. Only the first two are what RFC 5321 §4.1.1.1 asks
 * for; the others are accepted because real clients send them, and are worth a filter symbol. */
enum address_helo_kind {
	ADDRESS_HELO_DOMAIN = 0,	/* valid ASCII Domain (may be a single label) */
	ADDRESS_HELO_LITERAL = 1,	/* valid address literal, e.g. "[192.0.2.1]" */
	ADDRESS_HELO_BARE_IP = 2,	/* IPv4 or IPv6 address without brackets */
	ADDRESS_HELO_LENIENT = 3,	/* other printable ASCII without spaces ("my_host", "[x") */
};

/* Classifies a HELO/EHLO argument. Accepts 1..SMTP_DOMAIN_MAX octets of printable ASCII
 * (0x21-0x7e) and sets *kind_r; anything else (empty, spaces, controls, 8-bit) gives -1. */
int address_helo_check(struct slice arg, enum address_helo_kind *kind_r, const char **error_r);

/* Decodes xtext (RFC 3461 §4): xchar (printable ASCII except '+' and '=') stands for itself,
 * "+" HEXCHAR HEXCHAR for one octet (hex digits in either case; RFC 3461 writes upper case, and
 * lower case is unambiguous). With ADDRESS_ALLOW_UTF8 raw UTF-8 sequences are also accepted and
 * copied (RFC 6533 unitext). A decoded control character (< 0x20 or 0x7f) is refused, since
 * every value we decode (ENVID, ORCPT, AUTH=) must be printable. Writes the result NUL-terminated
 * to dst (dstsize bytes) and its length to *len_r (may be NULL). Returns 0, or -1 on malformed
 * input or when the result does not fit (dst then holds an unspecified prefix). */
int address_xtext_decode(struct slice in, unsigned flags, char *dst, size_t dstsize,
    size_t *len_r, const char **error_r);

/* Copies the domain of a mailbox (the part after the '@' found by address_split) into dst,
 * lower-cased (ASCII letters only; UTF-8 bytes are copied unchanged), NUL-terminated.
 * Returns 0, or -1 if the mailbox has no domain or dst is too small. No syntax check. */
int address_domain_lower(struct slice mailbox, char *dst, size_t dstsize, const char **error_r);

/* 1 if every byte is 7-bit ASCII, else 0. */
int address_is_ascii(struct slice s);

/* 1 if s is well-formed UTF-8 (RFC 3629: no overlongs, surrogates or code points past
 * U+10FFFF), else 0. Pure ASCII is well-formed. */
int address_is_utf8(struct slice s);

#endif
