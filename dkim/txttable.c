/* A static table of TXT records behind struct mg_dns_lookup, for the tools (tests/tools/
 * dkim-verify, arc-verify with --txt/--keys), unit tests and fuzz targets: the verifiers take
 * keys through the same interface whether they come from the async resolver or from here.
 * Trusted input (test data); records are capped at MG_DNS_TXT_MAX like real answers. Lookups may
 * run on any thread once the table is filled; filling is single-threaded. */
#include "dkim/dkim.h"

#include <stdio.h>
#include <string.h>

#include "lib/str.h"
#include "lib/xalloc.h"

struct txt_entry {
	char name[MG_DNS_NAME_MAX + 1];
	char *value;
	size_t len;
};

struct mg_dkim_txt_table {
	struct txt_entry *e;
	size_t n, cap;
	unsigned queries;
};

struct mg_dkim_txt_table *
mg_dkim_txt_table_new(void)
{
	return xcalloc(1, sizeof(struct mg_dkim_txt_table));
}

void
mg_dkim_txt_table_free(struct mg_dkim_txt_table **t)
{
	if (*t == NULL)
		return;
	for (size_t i = 0; i < (*t)->n; i++)
		xfree((*t)->e[i].value);
	xfree((*t)->e);
	xfree(*t);
	*t = NULL;
}

static void
norm_name(char *dst, size_t size, const char *name)
{
	str_lcpy(dst, name, size);
	str_lower(dst);
	size_t n = strlen(dst);
	if (n > 0 && dst[n - 1] == '.')
		dst[n - 1] = '\0';
}

void
mg_dkim_txt_table_add(struct mg_dkim_txt_table *t, const char *name, const char *value)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->e = xreallocarray(t->e, t->cap, sizeof(*t->e));
	}
	norm_name(t->e[t->n].name, sizeof(t->e[t->n].name), name);
	t->e[t->n].len = strlen(value);
	if (t->e[t->n].len > MG_DNS_TXT_MAX)
		t->e[t->n].len = MG_DNS_TXT_MAX;
	t->e[t->n].value = xstrndup(value, t->e[t->n].len);
	t->n++;
}

int
mg_dkim_txt_table_load(struct mg_dkim_txt_table *t, const char *path, const char **error_r)
{
	FILE *f = fopen(path, "r");
	char line[MG_DNS_TXT_MAX + MG_DNS_NAME_MAX + 8];

	if (f == NULL) {
		*error_r = "cannot open key file";
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strlen(line);
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		char *sp = strchr(line, ' ');
		if (sp == NULL)
			continue;
		*sp = '\0';
		mg_dkim_txt_table_add(t, line, sp + 1);
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		*error_r = "cannot read key file";
		return -1;
	}
	return 0;
}

static struct mg_dns_result *
table_fn(void *ctx, const char *name, uint16_t type)
{
	struct mg_dkim_txt_table *t = ctx;
	char key[MG_DNS_NAME_MAX + 1];
	struct mg_dns_result *r;
	size_t found = 0;

	__atomic_fetch_add(&t->queries, 1, __ATOMIC_RELAXED);
	norm_name(key, sizeof(key), name);
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->e[i].name, key) != 0)
			continue;
		if (strcmp(t->e[i].value, "!tempfail") == 0)
			return mg_dns_result_new(key, type, MG_DNS_TEMPFAIL, "table tempfail");
		if (strcmp(t->e[i].value, "!permfail") == 0)
			return mg_dns_result_new(key, type, MG_DNS_PERMFAIL, "table permfail");
		found++;
	}
	if (found == 0)
		return mg_dns_result_new(key, type, MG_DNS_NXDOMAIN, NULL);
	if (type != 16)
		return mg_dns_result_new(key, type, MG_DNS_NODATA, NULL);
	r = mg_dns_result_new(key, type, MG_DNS_OK, NULL);
	if (found > MG_DNS_RR_MAX)
		found = MG_DNS_RR_MAX;
	r->rr = xcalloc(found, sizeof(*r->rr));
	r->rcode = 0;
	for (size_t i = 0; i < t->n && r->n < found; i++) {
		if (strcmp(t->e[i].name, key) != 0)
			continue;
		struct mg_dns_rr *rr = &r->rr[r->n++];
		rr->type = 16;
		rr->ttl = 300;
		rr->u.txt.data = xmemdup(t->e[i].value, t->e[i].len + 1);
		rr->u.txt.len = t->e[i].len;
	}
	return r;
}

void
mg_dkim_txt_table_lookup(struct mg_dkim_txt_table *t, struct mg_dns_lookup *l)
{
	l->fn = table_fn;
	l->ctx = t;
}

unsigned
mg_dkim_txt_table_queries(const struct mg_dkim_txt_table *t)
{
	return __atomic_load_n(&t->queries, __ATOMIC_RELAXED);
}
