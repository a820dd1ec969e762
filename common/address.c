/* address.c: mail address syntax checks (RFC 5321 §4.1.2/§4.1.3, RFC 6531 UTF-8) and xtext
 * decoding (RFC 3461 §4). Used by smtpd's command parser and by anything else that must judge
 * an address; any role, any thread (no state, no allocation, no I/O).
 * Input is fully untrusted peer data (fuzzed through tests/fuzz/fuzz_smtp_cmd.c). Enforces
 * SMTP_LOCAL_PART_MAX, SMTP_DOMAIN_MAX, 63-octet labels and SMTP_PATH_MAX (common/limits.h).
 * Character classes are spelled out here rather than taken from <ctype.h>, whose answers depend
 * on the locale. */
#include "common/address.h"

#include <arpa/inet.h>
#include <string.h>

#include "common/limits.h"
#include "lib/str.h"

#define DNS_LABEL_MAX 63	/* RFC 1035 §2.3.4 */

static int
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int
is_let_dig(unsigned char c)
{
	return is_alpha(c) || is_digit(c);
}

/* RFC 5322 §3.2.3 atext, as used by RFC 5321 Atom. */
static int
is_atext(unsigned char c)
{
	return is_let_dig(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* RFC 5321 §4.1.2 qtextSMTP: %d32-33 / %d35-91 / %d93-126. */
static int
is_qtext(unsigned char c)
{
	return c >= 32 && c <= 126 && c != '"' && c != '\\';
}


/* Length of the well-formed UTF-8 sequence at p (at most len bytes), or 0 if there is none
 * (RFC 3629 §4: no overlong forms, no surrogates, nothing past U+10FFFF). */
static size_t
utf8_seq_len(const unsigned char *p, size_t len)
{
	unsigned char c = p[0];
	unsigned cp;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else
		return 0;
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
		return 0;
	if (n == 4 && (cp < 0x10000 || cp > 0x10ffff))
		return 0;
	return n;
}

int
address_is_ascii(struct slice s)
{
	for (size_t i = 0; i < s.len; i++)
		if ((unsigned char)s.p[i] >= 0x80)
			return 0;
	return 1;
}

int
address_is_utf8(struct slice s)
{
	const unsigned char *p = (const unsigned char *)s.p;
	size_t i = 0;

	while (i < s.len) {
		size_t n = utf8_seq_len(p + i, s.len - i);

		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

/* Copies s into a NUL-terminated stack buffer for inet_pton; -1 if it does not fit. */
static int
copy_for_pton(struct slice s, char *dst, size_t dstsize)
{
	if (s.len >= dstsize || (s.len > 0 && memchr(s.p, '\0', s.len) != NULL))
		return -1;
	memcpy(dst, s.p, s.len);
	dst[s.len] = '\0';
	return 0;
}

/* Checks one label [start, end) of a domain; see address_domain_check. */
static int
domain_label_check(const unsigned char *p, size_t len, unsigned flags, const char **error_r)
{
	size_t i = 0;

	if (len == 0) {
		*error_r = "empty label in domain";
		return -1;
	}
	if (len > DNS_LABEL_MAX) {
		*error_r = "domain label longer than 63 octets";
		return -1;
	}
	while (i < len) {
		size_t n;

		if (p[i] < 0x80) {
			if (!is_let_dig(p[i]) && p[i] != '-') {
				*error_r = "invalid character in domain";
				return -1;
			}
			i++;
			continue;
		}
		if (!(flags & ADDRESS_ALLOW_UTF8)) {
			*error_r = "non-ASCII domain without SMTPUTF8";
			return -1;
		}
		if ((n = utf8_seq_len(p + i, len - i)) == 0) {
			*error_r = "invalid UTF-8 in domain";
			return -1;
		}
		i += n;
	}
	/* RFC 5321 sub-domain = Let-dig [Ldh-str]: no hyphen at either end. */
	if (p[0] == '-' || p[len - 1] == '-') {
		*error_r = "domain label starts or ends with a hyphen";
		return -1;
	}
	return 0;
}

int
address_domain_check(struct slice domain, unsigned flags, const char **error_r)
{
	const unsigned char *p = (const unsigned char *)domain.p;
	size_t start = 0;

	if (domain.len == 0) {
		*error_r = "empty domain";
		return -1;
	}
	if (domain.len > SMTP_DOMAIN_MAX) {
		*error_r = "domain too long";
		return -1;
	}
	for (size_t i = 0; i <= domain.len; i++) {
		if (i < domain.len && p[i] != '.')
			continue;
		if (domain_label_check(p + start, i - start, flags, error_r) < 0)
			return -1;
		start = i + 1;
	}
	return 0;
}

/* RFC 5321 §4.1.3 General-address-literal: Standardized-tag ":" 1*dcontent. */
static int
general_literal_check(struct slice tag, struct slice content, const char **error_r)
{
	for (size_t i = 0; i < tag.len; i++) {
		unsigned char c = (unsigned char)tag.p[i];

		if (!is_let_dig(c) && c != '-') {
			*error_r = "invalid address literal tag";
			return -1;
		}
	}
	/* Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig. We also want a letter first: tags are
	 * IANA-registered names (only "IPv6" so far), and "[2001:db8::1]", a common mistake for
	 * "[IPv6:2001:db8::1]", must not pass as the general literal with tag "2001". */
	if (tag.len == 0 || !is_alpha((unsigned char)tag.p[0]) || tag.p[tag.len - 1] == '-') {
		*error_r = "invalid address literal tag";
		return -1;
	}
	if (content.len == 0) {
		*error_r = "empty address literal";
		return -1;
	}
	for (size_t i = 0; i < content.len; i++) {
		unsigned char c = (unsigned char)content.p[i];

		/* dcontent = %d33-90 / %d94-126 */
		if (c < 33 || c > 126 || c == '[' || c == '\\' || c == ']') {
			*error_r = "invalid character in address literal";
			return -1;
		}
	}
	return 0;
}

int
address_literal_check(struct slice literal, const char **error_r)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	unsigned char addr[sizeof(struct in6_addr)];
	struct slice inner, tag, content;
	const char *colon;

	if (literal.len < 3 || literal.p[0] != '[' || literal.p[literal.len - 1] != ']') {
		*error_r = "malformed address literal";
		return -1;
	}
	inner = (struct slice){ literal.p + 1, literal.len - 2 };
	if ((colon = memchr(inner.p, ':', inner.len)) == NULL) {
		if (copy_for_pton(inner, tmp, sizeof(tmp)) < 0 || inet_pton(AF_INET, tmp, addr) != 1) {
			*error_r = "invalid IPv4 address literal";
			return -1;
		}
		return 0;
	}
	tag = (struct slice){ inner.p, (size_t)(colon - inner.p) };
	content = (struct slice){ colon + 1, inner.len - tag.len - 1 };
	if (slice_eq_ci(tag, "IPv6")) {
		if (copy_for_pton(content, tmp, sizeof(tmp)) < 0 ||
		    inet_pton(AF_INET6, tmp, addr) != 1) {
			*error_r = "invalid IPv6 address literal";
			return -1;
		}
		return 0;
	}
	return general_literal_check(tag, content, error_r);
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE, the whole of s. */
static int
quoted_string_check(struct slice s, unsigned flags, const char **error_r)
{
	const unsigned char *p = (const unsigned char *)s.p;
	size_t i = 1;

	while (i < s.len) {
		size_t n;

		if (p[i] == '"') {
			if (i != s.len - 1) {
				*error_r = "text after quoted local part";
				return -1;
			}
			return 0;
		}
		if (p[i] == '\\') {
			/* quoted-pairSMTP = %d92 %d32-126 */
			if (i + 1 >= s.len || p[i + 1] < 32 || p[i + 1] > 126) {
				*error_r = "invalid quoted pair in local part";
				return -1;
			}
			i += 2;
			continue;
		}
		if (is_qtext(p[i])) {
			i++;
			continue;
		}
		if (p[i] >= 0x80 && (flags & ADDRESS_ALLOW_UTF8) &&
		    (n = utf8_seq_len(p + i, s.len - i)) != 0) {
			i += n;
			continue;
		}
		*error_r = p[i] >= 0x80 ? "non-ASCII or invalid UTF-8 in local part" :
		    "invalid character in quoted local part";
		return -1;
	}
	*error_r = "unterminated quoted local part";
	return -1;
}

/* Dot-string = Atom *("." Atom), the whole of s. */
static int
dot_string_check(struct slice s, unsigned flags, const char **error_r)
{
	const unsigned char *p = (const unsigned char *)s.p;
	size_t i = 0;

	if (p[0] == '.' || p[s.len - 1] == '.') {
		*error_r = "local part starts or ends with a dot";
		return -1;
	}
	while (i < s.len) {
		size_t n;

		if (p[i] == '.') {
			if (p[i + 1] == '.') {	/* safe: the last byte is not a dot */
				*error_r = "consecutive dots in local part";
				return -1;
			}
			i++;
			continue;
		}
		if (is_atext(p[i])) {
			i++;
			continue;
		}
		if (p[i] >= 0x80 && (flags & ADDRESS_ALLOW_UTF8) &&
		    (n = utf8_seq_len(p + i, s.len - i)) != 0) {
			i += n;
			continue;
		}
		*error_r = p[i] >= 0x80 ? "non-ASCII or invalid UTF-8 in local part" :
		    "invalid character in local part";
		return -1;
	}
	return 0;
}

int
address_local_part_check(struct slice local, unsigned flags, const char **error_r)
{
	if (local.len == 0) {
		*error_r = "empty local part";
		return -1;
	}
	if (local.len > SMTP_LOCAL_PART_MAX) {
		*error_r = "local part longer than 64 octets";
		return -1;
	}
	if (local.p[0] == '"')
		return quoted_string_check(local, flags, error_r);
	return dot_string_check(local, flags, error_r);
}

int
address_split(struct slice mailbox, struct slice *local_r, struct slice *domain_r)
{
	size_t i = 0;

	if (mailbox.len > 0 && mailbox.p[0] == '"') {
		i = 1;
		while (i < mailbox.len && mailbox.p[i] != '"')
			i += mailbox.p[i] == '\\' ? 2 : 1;
		if (i >= mailbox.len)
			return -1;
		i++;
		if (i >= mailbox.len || mailbox.p[i] != '@')
			return -1;
	} else {
		const char *at = mailbox.len ? memchr(mailbox.p, '@', mailbox.len) : NULL;

		if (at == NULL)
			return -1;
		i = (size_t)(at - mailbox.p);
	}
	*local_r = (struct slice){ mailbox.p, i };
	*domain_r = (struct slice){ mailbox.p + i + 1, mailbox.len - i - 1 };
	return 0;
}

int
address_mailbox_check(struct slice mailbox, unsigned flags, const char **error_r)
{
	struct slice local, domain;

	if (address_split(mailbox, &local, &domain) < 0) {
		*error_r = "missing '@' after local part";
		return -1;
	}
	if (address_local_part_check(local, flags, error_r) < 0)
		return -1;
	if (domain.len > 0 && domain.p[0] == '[')
		return address_literal_check(domain, error_r);
	return address_domain_check(domain, flags & ADDRESS_ALLOW_UTF8, error_r);
}

int
address_path_span(struct slice in, size_t *len_r)
{
	int in_quote = 0, in_literal = 0;

	if (in.len == 0 || in.p[0] != '<')
		return -1;
	for (size_t i = 1; i < in.len; i++) {
		char c = in.p[i];

		if (in_literal) {
			/* dcontent may hold '>' and '"' but never ']' (RFC 5321 §4.1.3) */
			in_literal = c != ']';
		} else if (in_quote) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_quote = 0;
		} else if (c == '"') {
			in_quote = 1;
		} else if (c == '[') {
			in_literal = 1;
		} else if (c == '>') {
			*len_r = i + 1;
			return 0;
		}
	}
	return -1;
}

/* A-d-l = At-domain *( "," At-domain ) ":"  with At-domain = "@" Domain. Returns the number of
 * bytes the route takes (including the ':'), or 0 with *error_r set. in.p[0] is '@'. */
static size_t
source_route_skip(struct slice in, unsigned flags, const char **error_r)
{
	size_t i = 0;

	for (;;) {
		size_t start;

		if (i >= in.len || in.p[i] != '@') {
			*error_r = "malformed source route";
			return 0;
		}
		start = ++i;
		while (i < in.len && in.p[i] != ',' && in.p[i] != ':')
			i++;
		if (address_domain_check((struct slice){ in.p + start, i - start }, flags, error_r) < 0)
			return 0;
		if (i >= in.len) {
			*error_r = "source route without mailbox";
			return 0;
		}
		if (in.p[i++] == ':')
			return i;
	}
}

int
address_path_parse(struct slice path, unsigned flags, struct slice *mailbox_r,
    const char **error_r)
{
	struct slice inner;

	if (path.len < 2 || path.p[0] != '<' || path.p[path.len - 1] != '>') {
		*error_r = "path not in angle brackets";
		return -1;
	}
	if (path.len > SMTP_PATH_MAX) {
		*error_r = "path too long";
		return -1;
	}
	inner = (struct slice){ path.p + 1, path.len - 2 };
	if (inner.len == 0) {
		if (!(flags & ADDRESS_ALLOW_NULL)) {
			*error_r = "null path not allowed here";
			return -1;
		}
		*mailbox_r = inner;
		return 0;
	}
	if (inner.p[0] == '@') {
		/* RFC 5321 §3.3: servers MUST accept the route syntax and SHOULD ignore it. */
		size_t n = source_route_skip(inner, flags & ADDRESS_ALLOW_UTF8, error_r);

		if (n == 0)
			return -1;
		inner.p += n;
		inner.len -= n;
	}
	if ((flags & ADDRESS_ALLOW_POSTMASTER) && slice_eq_ci(inner, "postmaster")) {
		*mailbox_r = inner;
		return 0;
	}
	if (address_mailbox_check(inner, flags, error_r) < 0)
		return -1;
	*mailbox_r = inner;
	return 0;
}

/* A bare IPv4 or IPv6 address (no brackets). */
static int
is_bare_ip(struct slice s)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	unsigned char addr[sizeof(struct in6_addr)];

	if (copy_for_pton(s, tmp, sizeof(tmp)) < 0)
		return 0;
	return inet_pton(AF_INET, tmp, addr) == 1 || inet_pton(AF_INET6, tmp, addr) == 1;
}

int
address_helo_check(struct slice arg, enum address_helo_kind *kind_r, const char **error_r)
{
	const char *e;

	if (arg.len == 0) {
		*error_r = "empty HELO argument";
		return -1;
	}
	if (arg.len > SMTP_DOMAIN_MAX) {
		*error_r = "HELO argument too long";
		return -1;
	}
	for (size_t i = 0; i < arg.len; i++) {
		unsigned char c = (unsigned char)arg.p[i];

		if (c < 0x21 || c > 0x7e) {
			*error_r = "invalid character in HELO argument";
			return -1;
		}
	}
	if (arg.p[0] == '[' && address_literal_check(arg, &e) == 0)
		*kind_r = ADDRESS_HELO_LITERAL;
	else if (is_bare_ip(arg))
		*kind_r = ADDRESS_HELO_BARE_IP;
	else if (address_domain_check(arg, 0, &e) == 0)
		*kind_r = ADDRESS_HELO_DOMAIN;
	else
		*kind_r = ADDRESS_HELO_LENIENT;
	return 0;
}

int
address_xtext_decode(struct slice in, unsigned flags, char *dst, size_t dstsize,
    size_t *len_r, const char **error_r)
{
	size_t o = 0, i = 0;

	while (i < in.len) {
		unsigned char c = (unsigned char)in.p[i];

		if (c == '+') {
			int hi, lo;

			if (in.len - i < 3) {
				*error_r = "truncated xtext escape";
				return -1;
			}
			if ((hi = str_hex_digit((unsigned char)in.p[i + 1])) < 0 ||
			    (lo = str_hex_digit((unsigned char)in.p[i + 2])) < 0) {
				*error_r = "malformed xtext escape";
				return -1;
			}
			c = (unsigned char)(hi << 4 | lo);
			i += 3;
			if (c < 0x20 || c == 0x7f) {
				*error_r = "control character in xtext";
				return -1;
			}
		} else if (c == '=') {
			*error_r = "'=' must be encoded in xtext";
			return -1;
		} else if ((c >= 0x21 && c <= 0x7e) || (c >= 0x80 && (flags & ADDRESS_ALLOW_UTF8))) {
			i++;
		} else {
			*error_r = "invalid character in xtext";
			return -1;
		}
		if (o + 1 >= dstsize) {
			*error_r = "decoded xtext too long";
			return -1;
		}
		dst[o++] = (char)c;
	}
	if (dstsize == 0) {
		*error_r = "decoded xtext too long";
		return -1;
	}
	dst[o] = '\0';
	/* Encoded octets past 0x7f must still make UTF-8, and only where UTF-8 is allowed. */
	if (flags & ADDRESS_ALLOW_UTF8) {
		if (!address_is_utf8((struct slice){ dst, o })) {
			*error_r = "invalid UTF-8 in xtext";
			return -1;
		}
	} else if (!address_is_ascii((struct slice){ dst, o })) {
		*error_r = "non-ASCII octet in xtext";
		return -1;
	}
	if (len_r != NULL)
		*len_r = o;
	return 0;
}

int
address_domain_lower(struct slice mailbox, char *dst, size_t dstsize, const char **error_r)
{
	struct slice local, domain;

	if (address_split(mailbox, &local, &domain) < 0 || domain.len == 0) {
		*error_r = "address has no domain";
		return -1;
	}
	if (domain.len >= dstsize) {
		*error_r = "domain too long";
		return -1;
	}
	for (size_t i = 0; i < domain.len; i++) {
		char c = domain.p[i];

		dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	dst[domain.len] = '\0';
	return 0;
}
