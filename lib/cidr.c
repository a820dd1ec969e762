/* cidr.c: IPv4/IPv6 networks (parse, format, match against a socket address, lists of them).
 * Library code, any role and thread; no allocation except in cidr_list_add.
 * Input is configuration text: parsed strictly (inet_pton, bounded prefix, no host bits set).
 * An IPv4-mapped IPv6 network (::ffff:a.b.c.d/n, n >= 96) is stored as the IPv4 network, and a
 * mapped client address matches IPv4 networks, so dual-stack listeners need no special case. */
#include "lib/cidr.h"

#include <arpa/inet.h>
#include <string.h>

#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

static const unsigned char v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* Compares the first prefix bits of a and b: 1 when equal. */
static int
prefix_equal(const unsigned char *a, const unsigned char *b, int prefix)
{
	int bytes = prefix / 8, bits = prefix % 8;

	if (memcmp(a, b, (size_t)bytes) != 0)
		return 0;
	if (bits == 0)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - bits));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

/* 1 when any bit past prefix is set in addr (len bytes). */
static int
has_host_bits(const unsigned char *addr, size_t len, int prefix)
{
	for (size_t i = 0; i < len; i++) {
		int first = (int)i * 8;
		unsigned char mask;

		if (first + 8 <= prefix)
			continue;
		mask = first >= prefix ? 0xff : (unsigned char)(0xff >> (prefix - first));
		if (addr[i] & mask)
			return 1;
	}
	return 0;
}

int
cidr_parse(const char *s, struct cidr *out, const char **error_r)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	long long prefix;
	struct cidr n;

	memset(&n, 0, sizeof(n));
	if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
		s++;
		hlen -= 2;
		if (memchr(s, ':', hlen) == NULL) {
			*error_r = "brackets are only for IPv6 addresses";
			return -1;
		}
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		*error_r = "not an IP address";
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (memchr(host, ':', hlen) != NULL) {
		n.family = AF_INET6;
		if (inet_pton(AF_INET6, host, n.addr) != 1) {
			*error_r = "not an IPv6 address";
			return -1;
		}
	} else {
		n.family = AF_INET;
		if (inet_pton(AF_INET, host, n.addr) != 1) {
			*error_r = "not an IPv4 address";
			return -1;
		}
	}
	n.prefix = n.family == AF_INET ? 32 : 128;
	if (slash != NULL) {
		const char *perr;

		if (strnum_ll(slash + 1, 0, n.prefix, &prefix, &perr) < 0) {
			*error_r = n.family == AF_INET ? "prefix length must be 0..32" :
			    "prefix length must be 0..128";
			return -1;
		}
		n.prefix = (int)prefix;
	}
	if (has_host_bits(n.addr, n.family == AF_INET ? 4 : 16, n.prefix)) {
		*error_r = "host bits set beyond the prefix length";
		return -1;
	}
	/* ::ffff:a.b.c.d/n with n >= 96 is an IPv4 network written the IPv6 way. */
	if (n.family == AF_INET6 && n.prefix >= 96 &&
	    memcmp(n.addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
		memmove(n.addr, n.addr + 12, 4);
		memset(n.addr + 4, 0, 12);
		n.family = AF_INET;
		n.prefix -= 96;
	}
	*out = n;
	return 0;
}

int
cidr_match(const struct cidr *net, const struct sockaddr *sa)
{
	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

		return net->family == AF_INET &&
		    prefix_equal(net->addr, (const unsigned char *)&sin->sin_addr, net->prefix);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		const unsigned char *a = sin6->sin6_addr.s6_addr;

		if (net->family == AF_INET6)
			return prefix_equal(net->addr, a, net->prefix);
		if (net->family == AF_INET && memcmp(a, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0)
			return prefix_equal(net->addr, a + 12, net->prefix);
	}
	return 0;
}

int
cidr_list_match(const struct cidr_list *list, const struct sockaddr *sa)
{
	for (size_t i = 0; i < list->n; i++)
		if (cidr_match(&list->nets[i], sa))
			return 1;
	return 0;
}

void
cidr_list_add(struct cidr_list *list, const struct cidr *net)
{
	list->nets = xreallocarray(list->nets, list->n + 1, sizeof(*list->nets));
	list->nets[list->n++] = *net;
}

void
cidr_list_free(struct cidr_list *list)
{
	xfree(list->nets);
	list->nets = NULL;
	list->n = 0;
}

void
cidr_format(const struct cidr *net, char *dst, size_t size)
{
	char a[INET6_ADDRSTRLEN];

	if (inet_ntop(net->family, net->addr, a, sizeof(a)) == NULL)
		str_lcpy(a, "?", sizeof(a));
	if (str_fmt(dst, size, "%s/%d", a, net->prefix) < 0 && size > 0)
		dst[0] = '\0';
}
