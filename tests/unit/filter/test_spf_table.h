/* test_spf_table.h: a table-driven struct mg_dns_lookup for SPF tests (unit tests, spf-check
 * --zone-file, fuzz_spf_record). Test code only: header-only, static functions.
 * One record per line: "NAME TYPE DATA" with TYPE one of A, AAAA, MX ("PREF HOST"), PTR, CNAME,
 * TXT (DATA is the rest of the line, "\xHH" and "\\" escapes, may be empty) or TIMEOUT (DATA is a
 * type name or "*": that name times out for that type, or for every type it has no record of).
 * Semantics: records of the type -> OK; else an explicit TIMEOUT -> TEMPFAIL; else a CNAME is
 * followed (8 hops, then TEMPFAIL: a loop); else "*" TIMEOUT -> TEMPFAIL; else the name exists
 * -> NODATA; else NXDOMAIN. Names compare case-insensitively, one final dot ignored. */
#ifndef TEST_SPF_TABLE_H
#define TEST_SPF_TABLE_H
#include "tests/unit/table_text.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/dns.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define SPF_T_TIMEOUT_ALL 0xffff

struct spf_table_ent {
	char name[MG_DNS_NAME_MAX + 2];
	uint16_t type;		/* 1 A, 28 AAAA, 15 MX, 12 PTR, 5 CNAME, 16 TXT */
	uint16_t timeout;	/* 0, or the type that times out (SPF_T_TIMEOUT_ALL: any) */
	uint16_t pref;
	unsigned char addr[16];
	char *data;		/* host/name/TXT, owned */
	size_t len;
};

struct spf_table {
	struct spf_table_ent *e;
	size_t n, cap;
	int calls;		/* lookups answered */
};

static uint16_t __attribute__((unused))
spf_table_type(const char *s)
{
	static const struct { const char *n; uint16_t t; } types[] = { { "A", 1 }, { "AAAA", 28 },
	    { "MX", 15 }, { "PTR", 12 }, { "CNAME", 5 }, { "TXT", 16 }, { "SPF", 99 } };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(s, types[i].n) == 0)
			return types[i].t;
	return 0;
}

/* Adds one "NAME TYPE DATA" line (no newline). Returns 0, or -1 with *error_r. */
static int __attribute__((unused))
spf_table_add(struct spf_table *t, const char *line, const char **error_r)
{
	struct spf_table_ent e;
	const char *sp1 = strchr(line, ' '), *sp2, *data;
	char type[16];

	memset(&e, 0, sizeof(e));
	if (sp1 == NULL || sp1 == line) {
		*error_r = "expected NAME TYPE DATA";
		return -1;
	}
	sp2 = strchr(sp1 + 1, ' ');
	data = sp2 != NULL ? sp2 + 1 : "";
	if (str_fmt(type, sizeof(type), "%.*s", (int)((sp2 ? sp2 : sp1 + strlen(sp1)) - sp1 - 1),
	    sp1 + 1) < 0) {
		*error_r = "bad type";
		return -1;
	}
	{
		/* NAME may carry \xHH escapes (spaces and '%' in names of the RFC 7208 suite). */
		char raw[3 * MG_DNS_NAME_MAX], *un;
		size_t ulen;

		str_fmt(raw, sizeof(raw), "%.*s", (int)(sp1 - line), line);
		un = table_text_unescape(raw, &ulen);
		table_text_norm(e.name, sizeof(e.name), un, ulen);
		xfree(un);
	}
	if (strcasecmp(type, "TIMEOUT") == 0) {
		e.timeout = strcmp(data, "*") == 0 || *data == '\0' ? SPF_T_TIMEOUT_ALL :
		    spf_table_type(data);
		if (e.timeout == 0) {
			*error_r = "bad TIMEOUT type";
			return -1;
		}
	} else if ((e.type = spf_table_type(type)) == 0) {
		*error_r = "unknown type";
		return -1;
	}
	switch (e.type) {
	case 1:
		if (inet_pton(AF_INET, data, e.addr) != 1) {
			*error_r = "bad A";
			return -1;
		}
		break;
	case 28:
		if (inet_pton(AF_INET6, data, e.addr) != 1) {
			*error_r = "bad AAAA";
			return -1;
		}
		break;
	case 15: {
		const char *h = strchr(data, ' ');
		char tmp[MG_DNS_NAME_MAX + 2];

		e.pref = (uint16_t)strtoul(data, NULL, 10);
		h = h != NULL ? h + 1 : "";
		table_text_norm(tmp, sizeof(tmp), h, strlen(h));
		e.data = xstrdup(str_lower(tmp));
		break;
	}
	case 12:
	case 5: {
		char tmp[MG_DNS_NAME_MAX + 2];

		table_text_norm(tmp, sizeof(tmp), data, strlen(data));
		e.data = xstrdup(str_lower(tmp));
		break;
	}
	case 16:
	case 99:
		e.data = table_text_unescape(data, &e.len);
		break;
	default:
		break;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->e = xreallocarray(t->e, t->cap, sizeof(*t->e));
	}
	t->e[t->n++] = e;
	return 0;
}

/* Loads lines from f; "#" comments and empty lines skipped; a line "---" ends the table. */
static int __attribute__((unused))
spf_table_load(struct spf_table *t, FILE *f, const char **error_r)
{
	char line[8192];

	while (fgets(line, sizeof(line), f) != NULL) {
		size_t len = strlen(line);

		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if (strcmp(line, "---") == 0)
			break;
		if (spf_table_add(t, line, error_r) < 0)
			return -1;
	}
	return 0;
}

static void __attribute__((unused))
spf_table_free(struct spf_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		xfree(t->e[i].data);
	xfree(t->e);
	memset(t, 0, sizeof(*t));
}

static struct mg_dns_result *
spf_table_answer(struct spf_table *t, const char *qname, const char *name, uint16_t type, int hops)
{
	struct mg_dns_result *r;
	size_t n = 0, k = 0;
	int exists = 0, timeout_type = 0, timeout_all = 0;
	const char *cname = NULL;

	for (size_t i = 0; i < t->n; i++) {
		const struct spf_table_ent *e = &t->e[i];

		if (strcasecmp(e->name, name) != 0)
			continue;
		exists = 1;
		if (e->timeout == type)
			timeout_type = 1;
		else if (e->timeout == SPF_T_TIMEOUT_ALL)
			timeout_all = 1;
		else if (e->type == type)
			n++;
		else if (e->type == 5)
			cname = e->data;
	}
	if (n == 0 && timeout_type)
		return mg_dns_result_new(qname, type, MG_DNS_TEMPFAIL, "timeout");
	if (n == 0 && cname != NULL && type != 5) {
		if (hops >= 8)
			return mg_dns_result_new(qname, type, MG_DNS_TEMPFAIL, "CNAME loop");
		return spf_table_answer(t, qname, cname, type, hops + 1);
	}
	if (n == 0 && timeout_all)
		return mg_dns_result_new(qname, type, MG_DNS_TEMPFAIL, "timeout");
	if (n == 0)
		return mg_dns_result_new(qname, type, exists ? MG_DNS_NODATA : MG_DNS_NXDOMAIN, NULL);
	r = mg_dns_result_new(qname, type, MG_DNS_OK, NULL);
	r->rcode = 0;
	r->rr = xcalloc(n, sizeof(*r->rr));
	for (size_t i = 0; i < t->n && k < n; i++) {
		const struct spf_table_ent *e = &t->e[i];
		struct mg_dns_rr *rr = &r->rr[k];

		if (strcasecmp(e->name, name) != 0 || e->timeout != 0 || e->type != type)
			continue;
		rr->type = type;
		rr->ttl = 300;
		switch (type) {
		case 1:
		case 28:
			rr->u.a.family = type == 1 ? AF_INET : AF_INET6;
			memcpy(rr->u.a.addr, e->addr, 16);
			break;
		case 15:
			rr->u.mx.pref = e->pref;
			rr->u.mx.host = xstrdup(e->data);
			break;
		case 16:
		case 99:
			rr->u.txt.data = xmemdup(e->data, e->len + 1);
			rr->u.txt.len = e->len;
			break;
		default:
			rr->u.name = xstrdup(e->data);
			break;
		}
		k++;
	}
	r->n = k;
	return r;
}

/* struct mg_dns_lookup.fn over a struct spf_table (ctx). */
static struct mg_dns_result * __attribute__((unused))
spf_table_lookup(void *ctx, const char *name, uint16_t type)
{
	struct spf_table *t = ctx;
	char norm[MG_DNS_NAME_MAX + 2];

	t->calls++;
	table_text_norm(norm, sizeof(norm), name, strlen(name));
	return spf_table_answer(t, norm, norm, type, 0);
}

#endif
