/* lists.c: allow/block list files (lists/global.allow, lists/<domain>.block, ...): one entry a
 * line (user@domain, @domain, *.domain, IP address or network), '#' comments, and the pure
 * matcher the filter uses against a sender address and a client address.
 * Parsing runs in the supervisor and tools; config_list_match in any role and thread (it only
 * reads the immutable list). Input is untrusted text, capped per line at CONFIG_LINE_MAX. */
#include "config/settings.h"

#include <string.h>
#include <strings.h>

#include "lib/str.h"
#include "lib/xalloc.h"

static void
list_add(struct mg_list *l, enum mg_list_kind kind, const char *value, size_t len,
    const struct cidr *net, int line)
{
	struct mg_list_entry *e;

	l->entries = xreallocarray(l->entries, l->n + 1, sizeof(*l->entries));
	e = &l->entries[l->n++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->line = line;
	if (value != NULL)
		e->value = str_lower(xstrndup(value, len));
	if (net != NULL)
		e->net = *net;
}

/* Number of leading bytes of s that are in set (bounded by s.len). */
static size_t
slice_span(struct slice s, const char *set)
{
	size_t n = 0;

	while (n < s.len && s.p[n] != '\0' && strchr(set, s.p[n]) != NULL)
		n++;
	return n;
}

static int
slice_has_blank(struct slice s)
{
	return memchr(s.p, ' ', s.len) != NULL || memchr(s.p, '\t', s.len) != NULL;
}

/* Parses one entry; returns NULL when added, else the reason it is bad. */
static const char *
parse_entry(struct mg_list *l, struct slice v, int line)
{
	char tmp[128];
	struct cidr net;
	const char *why;

	if (v.len > 2 && v.p[0] == '*' && v.p[1] == '.') {
		if (!config_is_domain_name(v.p + 2, v.len - 2))
			return "not a domain name after '*.'";
		list_add(l, MG_LIST_SUBDOMAINS, v.p + 2, v.len - 2, NULL, line);
		return NULL;
	}
	if (v.p[0] == '@') {
		if (!config_is_domain_name(v.p + 1, v.len - 1))
			return "not a domain name after '@'";
		list_add(l, MG_LIST_DOMAIN, v.p + 1, v.len - 1, NULL, line);
		return NULL;
	}
	if (memchr(v.p, '@', v.len) != NULL) {
		if (v.len > 254 || !config_is_address(v.p, v.len))
			return "not a valid address";
		list_add(l, MG_LIST_ADDRESS, v.p, v.len, NULL, line);
		return NULL;
	}
	if (v.len < sizeof(tmp) && (memchr(v.p, ':', v.len) != NULL ||
	    slice_span(v, "0123456789./") == v.len)) {
		memcpy(tmp, v.p, v.len);
		tmp[v.len] = '\0';
		if (cidr_parse(tmp, &net, &why) < 0)
			return why;
		list_add(l, MG_LIST_NETWORK, NULL, 0, &net, line);
		return NULL;
	}
	if (config_is_domain_name(v.p, v.len))
		return "a domain is written @domain (that domain) or *.domain (and its subdomains)";
	return "";
}

void
config_parse_list(struct config_ctx *ctx, const char *file, const char *text, size_t len,
    struct mg_list *out)
{
	struct config_lines it;
	struct slice l;
	const char *why;
	struct buf m;

	buf_init(&m, 4096);
	config_lines_init(&it, text, len);
	while (config_lines_next(ctx, file, &it, &l)) {
		l = config_strip_comment(slice_trim(l));
		if (l.len == 0)
			continue;
		if (config_find_unprintable(l) != NULL)
			why = "not printable ASCII";
		else if (slice_has_blank(l))
			why = "one entry per line";
		else
			why = parse_entry(out, l, it.line);
		if (why != NULL) {
			buf_reset(&m);
			buf_append_str(&m, "expected an address, @domain, *.domain, IP address or "
			    "network, found ");
			config_quote(&m, l.p, l.len);
			if (*why != '\0')
				buf_printf(&m, " (%s)", why);
			config_error(ctx, file, it.line, "%s", m.data);
		}
	}
	buf_free(&m);
}

void
config_list_clear(struct mg_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		xfree(l->entries[i].value);
	xfree(l->entries);
	xfree(l->file);
	memset(l, 0, sizeof(*l));
}

/* 1 when domain equals d or is a subdomain of d (case-insensitive). */
static int
domain_within(const char *domain, const char *d)
{
	size_t n = strlen(domain), m = strlen(d);

	if (n == m)
		return strcasecmp(domain, d) == 0;
	return n > m && domain[n - m - 1] == '.' && strcasecmp(domain + n - m, d) == 0;
}

const struct mg_list_entry *
config_list_match(const struct mg_list *l, const char *sender, const struct sockaddr *client)
{
	const char *at = sender ? strrchr(sender, '@') : NULL;
	const char *domain = at ? at + 1 : NULL;

	for (size_t i = 0; i < l->n; i++) {
		const struct mg_list_entry *e = &l->entries[i];

		switch (e->kind) {
		case MG_LIST_ADDRESS:
			if (sender != NULL && strcasecmp(sender, e->value) == 0)
				return e;
			break;
		case MG_LIST_DOMAIN:
			if (domain != NULL && strcasecmp(domain, e->value) == 0)
				return e;
			break;
		case MG_LIST_SUBDOMAINS:
			if (domain != NULL && domain_within(domain, e->value))
				return e;
			break;
		case MG_LIST_NETWORK:
			if (client != NULL && cidr_match(&e->net, client))
				return e;
			break;
		}
	}
	return NULL;
}
