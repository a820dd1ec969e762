/* dmarc_table.h: a table-driven struct mg_dns_lookup for DMARC tests (unit tests, dmarc-check -z,
 * the CPU measurement). Test code only: header-only, static functions.
 * One entry per line "NAME KIND [DATA]": KIND is TXT (DATA is the rest of the line, "\xHH" and
 * "\\" escapes, may be empty), TIMEOUT or SERVFAIL (TEMPFAIL), REFUSED (PERMFAIL) or EXISTS (the
 * name exists without TXT: NODATA). A name with TXT entries answers them all in table order; a
 * name in no entry is NXDOMAIN; only TXT is answered (other types: NODATA or NXDOMAIN). Names
 * compare case-insensitively, one final dot ignored. Every lookup is counted and the names
 * asked are remembered (the last 8), so tests can check what was queried. */
#ifndef TEST_DMARC_TABLE_H
#define TEST_DMARC_TABLE_H
#include "tests/unit/table_text.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/dns.h"
#include "lib/str.h"
#include "lib/xalloc.h"

enum dt_kind { DT_TXT, DT_TIMEOUT, DT_REFUSED, DT_EXISTS };

struct dt_ent {
	char name[MG_DNS_NAME_MAX + 2];
	enum dt_kind kind;
	char *data;		/* TXT, owned */
	size_t len;
};

struct dt_table {
	struct dt_ent *e;
	size_t n, cap;
	int calls;
	char asked[8][MG_DNS_NAME_MAX + 2];
};

/* Adds one "NAME KIND [DATA]" line (no newline). Returns 0, or -1 with *error_r. */
static int __attribute__((unused))
dt_add(struct dt_table *t, const char *line, const char **error_r)
{
	struct dt_ent e;
	const char *sp1 = strchr(line, ' '), *kind, *data;
	size_t klen;

	memset(&e, 0, sizeof(e));
	if (sp1 == NULL || sp1 == line) {
		*error_r = "expected NAME KIND [DATA]";
		return -1;
	}
	kind = sp1 + 1;
	data = strchr(kind, ' ');
	klen = data != NULL ? (size_t)(data - kind) : strlen(kind);
	data = data != NULL ? data + 1 : "";
	table_text_norm(e.name, sizeof(e.name), line, (size_t)(sp1 - line));
	if (klen == 3 && strncasecmp(kind, "TXT", 3) == 0) {
		e.kind = DT_TXT;
		e.data = table_text_unescape(data, &e.len);
	} else if ((klen == 7 && strncasecmp(kind, "TIMEOUT", 7) == 0) ||
	    (klen == 8 && strncasecmp(kind, "SERVFAIL", 8) == 0)) {
		e.kind = DT_TIMEOUT;
	} else if (klen == 7 && strncasecmp(kind, "REFUSED", 7) == 0) {
		e.kind = DT_REFUSED;
	} else if (klen == 6 && strncasecmp(kind, "EXISTS", 6) == 0) {
		e.kind = DT_EXISTS;
	} else {
		*error_r = "unknown kind";
		return -1;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->e = xreallocarray(t->e, t->cap, sizeof(*t->e));
	}
	t->e[t->n++] = e;
	return 0;
}

/* Adds every line of a NUL-terminated text ("\n"-separated; "#" comments, empty lines). */
static int __attribute__((unused))
dt_add_text(struct dt_table *t, const char *text, const char **error_r)
{
	char line[8192];

	while (*text != '\0') {
		const char *nl = strchr(text, '\n');
		size_t len = nl != NULL ? (size_t)(nl - text) : strlen(text);

		if (len >= sizeof(line)) {
			*error_r = "line too long";
			return -1;
		}
		memcpy(line, text, len);
		line[len] = '\0';
		text += len + (nl != NULL);
		if (len == 0 || line[0] == '#')
			continue;
		if (dt_add(t, line, error_r) < 0)
			return -1;
	}
	return 0;
}

static int __attribute__((unused))
dt_load(struct dt_table *t, FILE *f, const char **error_r)
{
	char line[8192];

	while (fgets(line, sizeof(line), f) != NULL) {
		size_t len = strlen(line);

		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if (dt_add(t, line, error_r) < 0)
			return -1;
	}
	return 0;
}

static void __attribute__((unused))
dt_free(struct dt_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		xfree(t->e[i].data);
	xfree(t->e);
	memset(t, 0, sizeof(*t));
}

/* struct mg_dns_lookup.fn over a struct dt_table (ctx). */
static struct mg_dns_result * __attribute__((unused))
dt_lookup(void *ctx, const char *qname, uint16_t type)
{
	struct dt_table *t = ctx;
	char name[MG_DNS_NAME_MAX + 2];
	size_t n = 0, k = 0;
	int exists = 0;
	struct mg_dns_result *r;

	table_text_norm(name, sizeof(name), qname, strlen(qname));
	str_lcpy(t->asked[t->calls % 8], name, sizeof(t->asked[0]));
	t->calls++;
	for (size_t i = 0; i < t->n; i++) {
		if (strcasecmp(t->e[i].name, name) != 0)
			continue;
		exists = 1;
		if (t->e[i].kind == DT_TIMEOUT)
			return mg_dns_result_new(name, type, MG_DNS_TEMPFAIL, "timeout");
		if (t->e[i].kind == DT_REFUSED)
			return mg_dns_result_new(name, type, MG_DNS_PERMFAIL, "refused");
		if (t->e[i].kind == DT_TXT)
			n++;
	}
	if (n == 0 || type != 16)
		return mg_dns_result_new(name, type, exists ? MG_DNS_NODATA : MG_DNS_NXDOMAIN, NULL);
	r = mg_dns_result_new(name, type, MG_DNS_OK, NULL);
	r->rcode = 0;
	r->rr = xcalloc(n, sizeof(*r->rr));
	for (size_t i = 0; i < t->n; i++) {
		if (strcasecmp(t->e[i].name, name) != 0 || t->e[i].kind != DT_TXT)
			continue;
		r->rr[k].type = 16;
		r->rr[k].ttl = 300;
		r->rr[k].u.txt.data = xmemdup(t->e[i].data, t->e[i].len + 1);
		r->rr[k].u.txt.len = t->e[i].len;
		k++;
	}
	r->n = k;
	return r;
}

#endif
