#ifndef LIB_CIDR_H
#define LIB_CIDR_H
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

/* IPv4/IPv6 networks. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) matches IPv4 networks. */
struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];	/* network address, host bits zero */
	int prefix;
};
struct cidr_list {
	struct cidr *nets;
	size_t n;
};

/* Parses "192.0.2.1", "192.0.2.0/24", "2001:db8::/32", "[::1]/128". Host bits set beyond the
 * prefix are an error ("192.0.2.1/24"). Returns 0 or -1 with *error_r. */
int cidr_parse(const char *s, struct cidr *out, const char **error_r);
int cidr_match(const struct cidr *net, const struct sockaddr *sa);
int cidr_list_match(const struct cidr_list *list, const struct sockaddr *sa);
/* Appends a copy of net. */
void cidr_list_add(struct cidr_list *list, const struct cidr *net);
void cidr_list_free(struct cidr_list *list);
/* Formats as "a.b.c.d/n" or "x::/n" into dst (at least 64 bytes). */
void cidr_format(const struct cidr *net, char *dst, size_t size);

#endif
