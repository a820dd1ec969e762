/* report_xml.c: one DMARC aggregate report document (RFC 7489 Appendix C, or DMARCbis in
 * urn:ietf:params:xml:ns:dmarc-2.0) to a struct mg_report (issue I). Runs on filter pool
 * threads, in tests and mailguardctl; the input is hostile. libxml2's streaming reader
 * (xmlReaderForMemory) with XML_PARSE_NONET and without NOENT, DTDLOAD, DTDATTR, XINCLUDE or
 * HUGE: memory stays bounded by one record whatever the document size, no entity is ever
 * substituted, nothing is fetched. A DOCTYPE is refused twice: by a scan of the raw octets
 * before parsing, and by the reader's DOCUMENT_TYPE node (other encodings). Limits: document
 * size (xml_max), element depth (MG_REPORT_DEPTH_MAX), records (limits.records), text per
 * element (MG_REPORT_VALUE_MAX), auth_results per record (MG_REPORT_DKIM_MAX/SPF_MAX).
 * Elements are matched by (parent, local name, namespace of the root); unknown ones are
 * skipped with their subtree. */
#include <arpa/inet.h>
#include <pthread.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlreader.h>

#include "dmarc/dmarc.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

/* --- Arena: every string and auth_results array of a report, freed in one call --- */

struct chunk {
	struct chunk *next;
	size_t used, cap;
	char data[];
};

struct mg_report_arena {
	struct chunk *head;
};

#define CHUNK_MIN (64 * 1024)

static void *
arena_alloc(struct mg_report_arena *a, size_t n)
{
	struct chunk *c = a->head;

	n = (n + 7) & ~(size_t)7;
	if (c == NULL || c->cap - c->used < n) {
		size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;

		c = xmalloc(sizeof(*c) + cap);
		c->cap = cap;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	c->used += n;
	return c->data + c->used - n;
}

static const char *
arena_str(struct mg_report_arena *a, const char *s, size_t n)
{
	char *p;

	if (n == 0)
		return "";
	p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
mg_report_free(struct mg_report **rp)
{
	struct mg_report *r = rp != NULL ? *rp : NULL;

	if (r == NULL)
		return;
	if (r->arena != NULL) {
		for (struct chunk *c = r->arena->head, *next; c != NULL; c = next) {
			next = c->next;
			xfree(c);
		}
		xfree(r->arena);
	}
	xfree(r->records);
	xfree(r);
	*rp = NULL;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void
init_libxml(void)
{
	xmlInitParser();
}

void
mg_report_init(void)
{
	(void)pthread_once(&init_once, init_libxml);
}

/* --- Elements we know: (parent, name) -> id --- */

enum el {
	E_NONE = 0, E_UNKNOWN, E_FEEDBACK, E_META, E_ORG, E_EMAIL, E_EXTRA, E_RID, E_RANGE,
	E_BEGIN, E_END, E_POLICY, E_PDOMAIN, E_ADKIM, E_ASPF, E_P, E_SP, E_NP, E_PCT, E_FO,
	E_RECORD, E_ROW, E_SRCIP, E_COUNT, E_PEVAL, E_DISP, E_PE_DKIM, E_PE_SPF, E_REASON,
	E_RTYPE, E_IDENT, E_HFROM, E_EFROM, E_ETO, E_AUTH, E_AR_DKIM, E_AR_SPF, E_D_DOMAIN,
	E_D_SEL, E_D_RES, E_S_DOMAIN, E_S_SCOPE, E_S_RES, E_COUNT_
};

struct el_def {
	enum el parent;
	const char *name;
	enum el id;
	int leaf;		/* its text is collected */
};

static const struct el_def el_table[] = {
	{ E_FEEDBACK, "report_metadata", E_META, 0 },
	{ E_META, "org_name", E_ORG, 1 },
	{ E_META, "email", E_EMAIL, 1 },
	{ E_META, "extra_contact_info", E_EXTRA, 1 },
	{ E_META, "report_id", E_RID, 1 },
	{ E_META, "date_range", E_RANGE, 0 },
	{ E_RANGE, "begin", E_BEGIN, 1 },
	{ E_RANGE, "end", E_END, 1 },
	{ E_FEEDBACK, "policy_published", E_POLICY, 0 },
	{ E_POLICY, "domain", E_PDOMAIN, 1 },
	{ E_POLICY, "adkim", E_ADKIM, 1 },
	{ E_POLICY, "aspf", E_ASPF, 1 },
	{ E_POLICY, "p", E_P, 1 },
	{ E_POLICY, "sp", E_SP, 1 },
	{ E_POLICY, "np", E_NP, 1 },
	{ E_POLICY, "pct", E_PCT, 1 },
	{ E_POLICY, "fo", E_FO, 1 },
	{ E_FEEDBACK, "record", E_RECORD, 0 },
	{ E_RECORD, "row", E_ROW, 0 },
	{ E_ROW, "source_ip", E_SRCIP, 1 },
	{ E_ROW, "count", E_COUNT, 1 },
	{ E_ROW, "policy_evaluated", E_PEVAL, 0 },
	{ E_PEVAL, "disposition", E_DISP, 1 },
	{ E_PEVAL, "dkim", E_PE_DKIM, 1 },
	{ E_PEVAL, "spf", E_PE_SPF, 1 },
	{ E_PEVAL, "reason", E_REASON, 0 },
	{ E_REASON, "type", E_RTYPE, 1 },
	{ E_RECORD, "identifiers", E_IDENT, 0 },
	{ E_IDENT, "header_from", E_HFROM, 1 },
	{ E_IDENT, "envelope_from", E_EFROM, 1 },
	{ E_IDENT, "envelope_to", E_ETO, 1 },
	{ E_RECORD, "auth_results", E_AUTH, 0 },
	{ E_AUTH, "dkim", E_AR_DKIM, 0 },
	{ E_AUTH, "spf", E_AR_SPF, 0 },
	{ E_AR_DKIM, "domain", E_D_DOMAIN, 1 },
	{ E_AR_DKIM, "selector", E_D_SEL, 1 },
	{ E_AR_DKIM, "result", E_D_RES, 1 },
	{ E_AR_SPF, "domain", E_S_DOMAIN, 1 },
	{ E_AR_SPF, "scope", E_S_SCOPE, 1 },
	{ E_AR_SPF, "result", E_S_RES, 1 },
};

static const char *
el_name(enum el id)
{
	if (id == E_FEEDBACK)
		return "feedback";
	for (size_t i = 0; i < sizeof(el_table) / sizeof(el_table[0]); i++)
		if (el_table[i].id == id)
			return el_table[i].name;
	return "?";
}

static const struct el_def *
el_lookup(enum el parent, const char *name)
{
	for (size_t i = 0; i < sizeof(el_table) / sizeof(el_table[0]); i++)
		if (el_table[i].parent == parent && strcmp(el_table[i].name, name) == 0)
			return &el_table[i];
	return NULL;
}

/* --- Parse state --- */

struct px {
	xmlTextReaderPtr rd;
	const struct mg_report_limits *l;
	struct mg_report *r;
	struct mg_report_err *err;
	enum el stack[MG_REPORT_DEPTH_MAX + 1];
	int depth;		/* elements open */
	int leaf;		/* collecting the text of stack[depth - 1] */
	struct buf text;
	int text_over;		/* text longer than MG_REPORT_VALUE_MAX */
	unsigned long long seen;	/* singletons of metadata and policy seen (bit per el) */
	unsigned long long rseen;	/* the same for the current record */
	size_t rec_cap;
	struct mg_report_record rec;
	struct mg_report_dkim dkim[MG_REPORT_DKIM_MAX], cur_dkim;
	struct mg_report_spf spf[MG_REPORT_SPF_MAX], cur_spf;
	size_t n_dkim, n_spf;
	char xml_error[160];	/* first libxml2 message */
	int xml_line;
};

static void
xml_error_cb(void *arg, xmlErrorPtr e)
{
	struct px *x = arg;

	if (x->xml_error[0] != '\0' || e == NULL || e->message == NULL)
		return;
	(void)snprintf(x->xml_error, sizeof(x->xml_error), "%s", e->message);
	x->xml_error[strcspn(x->xml_error, "\n")] = '\0';
	x->xml_line = e->line;
}

/* The collected text, trimmed, tabs and line breaks made spaces; sets *len_r. */
static const char *
value(struct px *x, size_t *len_r)
{
	char *s = x->text.data;
	size_t n = x->text.len;

	if (s == NULL) {
		*len_r = 0;
		return "";
	}

	while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
	    s[n - 1] == '\n'))
		n--;
	s[n] = '\0';	/* our own buffer */
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\t' || s[i] == '\r' || s[i] == '\n')
			s[i] = ' ';
	*len_r = n;
	return s;
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + 32);
}

/* A string field: at most max octets, once per scope (bitmask *seen). */
static int
set_str(struct px *x, enum el id, unsigned long long *seen, const char **dst, size_t max,
    int lowercase)
{
	size_t n;
	const char *v = value(x, &n);

	if (*seen & (1ULL << id))
		return mg_report_fail(x->err, MG_REPORT_E_SCHEMA, "<%s> given twice", el_name(id));
	*seen |= 1ULL << id;
	if (x->text_over || n > max)
		return mg_report_fail(x->err, MG_REPORT_E_VALUE, "<%s> longer than %zu octets",
		    el_name(id), max);
	if (lowercase)
		lower((char *)v);
	*dst = arena_str(x->r->arena, v, n);
	return 0;
}

static int
end_meta(struct px *x, enum el id)
{
	struct mg_report *r = x->r;
	size_t n;
	const char *v;

	switch (id) {
	case E_ORG:
		return set_str(x, id, &x->seen, &r->org_name, MG_REPORT_NAME_MAX, 0);
	case E_EMAIL:
		return set_str(x, id, &x->seen, &r->email, MG_REPORT_NAME_MAX, 0);
	case E_EXTRA:
		return set_str(x, id, &x->seen, &r->extra_contact, MG_REPORT_VALUE_MAX, 0);
	case E_RID:
		return set_str(x, id, &x->seen, &r->report_id, MG_REPORT_NAME_MAX, 0);
	case E_BEGIN:
	case E_END:
		if (x->seen & (1ULL << id))
			return mg_report_fail(x->err, MG_REPORT_E_SCHEMA, "<%s> given twice",
			    el_name(id));
		x->seen |= 1ULL << id;
		v = value(x, &n);
		if (mg_report_time_parse(v, id == E_BEGIN ? &r->begin : &r->end, &r->quirks) < 0)
			return mg_report_fail(x->err, MG_REPORT_E_VALUE,
			    "<%s>: not a timestamp", el_name(id));
		return 0;
	default:
		return 0;
	}
}

static int
end_policy(struct px *x, enum el id)
{
	struct mg_report *r = x->r;
	char canon[MG_DMARC_DOMAIN_MAX + 1];
	const char *v, *error;
	long long pct;
	size_t n;

	if (x->seen & (1ULL << id))
		return mg_report_fail(x->err, MG_REPORT_E_SCHEMA, "<%s> given twice", el_name(id));
	if (id == E_FO)
		return set_str(x, id, &x->seen, &r->policy.fo, 32, 1);
	if (id == E_PDOMAIN) {
		if (set_str(x, id, &x->seen, &r->policy.domain, MG_REPORT_NAME_MAX, 1) < 0)
			return -1;
		if (mg_dmarc_domain_canon(r->policy.domain, strlen(r->policy.domain), canon,
		    sizeof(canon), &error) == 0)
			r->policy.domain = arena_str(r->arena, canon, strlen(canon));
		else
			r->quirks |= MG_REPORT_Q_BAD_DOMAIN;
		return 0;
	}
	x->seen |= 1ULL << id;
	v = value(x, &n);
	switch (id) {
	case E_ADKIM:
	case E_ASPF: {
		char c = n == 1 && (v[0] == 'r' || v[0] == 'R') ? 'r' :
		    n == 1 && (v[0] == 's' || v[0] == 'S') ? 's' : 0;

		if (c == 0 && n > 0)
			r->quirks |= MG_REPORT_Q_OTHER_VALUE;
		*(id == E_ADKIM ? &r->policy.adkim : &r->policy.aspf) = c;
		return 0;
	}
	case E_P:
		r->policy.p = mg_report_policy_parse(v, &r->quirks);
		return 0;
	case E_SP:
		r->policy.sp = mg_report_policy_parse(v, &r->quirks);
		return 0;
	case E_NP:
		r->policy.np = mg_report_policy_parse(v, &r->quirks);
		return 0;
	case E_PCT:
		if (strnum_ll(v, 0, 100, &pct, &error) == 0)
			r->policy.pct = (int)pct;
		else if (n > 0)
			r->quirks |= MG_REPORT_Q_OTHER_VALUE;
		return 0;
	default:
		return 0;
	}
}

/* Field of the current record (row, identifiers, policy_evaluated). */
static int
end_row(struct px *x, enum el id)
{
	struct mg_report_record *rec = &x->rec;
	unsigned *q = &x->r->quirks;
	unsigned char addr[16];
	const char *v, *error;
	long long cnt;
	size_t n;

	if (id != E_RTYPE && (x->rseen & (1ULL << id)))
		return mg_report_fail(x->err, MG_REPORT_E_SCHEMA, "record %zu: <%s> given twice",
		    x->r->n_records + 1, el_name(id));
	switch (id) {
	case E_HFROM:
		return set_str(x, id, &x->rseen, &rec->header_from, MG_REPORT_NAME_MAX, 1);
	case E_EFROM:
		return set_str(x, id, &x->rseen, &rec->envelope_from, MG_REPORT_NAME_MAX, 1);
	case E_ETO:
		return set_str(x, id, &x->rseen, &rec->envelope_to, MG_REPORT_NAME_MAX, 1);
	case E_RTYPE:
		if (x->rseen & (1ULL << id))
			return 0;	/* the first reason is kept */
		return set_str(x, id, &x->rseen, &rec->reason, 64, 1);
	default:
		break;
	}
	x->rseen |= 1ULL << id;
	v = value(x, &n);
	switch (id) {
	case E_SRCIP:
		if (inet_pton(AF_INET, v, addr) == 1)
			(void)inet_ntop(AF_INET, addr, rec->source_ip, sizeof(rec->source_ip));
		else if (inet_pton(AF_INET6, v, addr) == 1)
			(void)inet_ntop(AF_INET6, addr, rec->source_ip, sizeof(rec->source_ip));
		else
			return mg_report_fail(x->err, MG_REPORT_E_VALUE,
			    "record %zu: <source_ip> is not an IP address", x->r->n_records + 1);
		return 0;
	case E_COUNT:
		if (strnum_ll(v, 0, 1000000000000LL, &cnt, &error) < 0)
			return mg_report_fail(x->err, MG_REPORT_E_VALUE, "record %zu: <count>: %s",
			    x->r->n_records + 1, error);
		rec->count = (unsigned long long)cnt;
		return 0;
	case E_DISP:
		rec->disposition = mg_report_disp_parse(v, q);
		return 0;
	case E_PE_DKIM:
		rec->pol_dkim = mg_report_result_parse(v, q);
		return 0;
	case E_PE_SPF:
		rec->pol_spf = mg_report_result_parse(v, q);
		return 0;
	default:
		return 0;
	}
}

/* auth_results/dkim and auth_results/spf children (repeats: the last one wins). */
static int
end_auth_field(struct px *x, enum el id)
{
	unsigned *q = &x->r->quirks;
	unsigned long long any = 0;
	size_t n;
	const char *v;

	switch (id) {
	case E_D_DOMAIN:
		return set_str(x, id, &any, &x->cur_dkim.domain, MG_REPORT_NAME_MAX, 1);
	case E_D_SEL:
		return set_str(x, id, &any, &x->cur_dkim.selector, MG_REPORT_NAME_MAX, 0);
	case E_S_DOMAIN:
		return set_str(x, id, &any, &x->cur_spf.domain, MG_REPORT_NAME_MAX, 1);
	default:
		break;
	}
	v = value(x, &n);
	if (id == E_D_RES)
		x->cur_dkim.result = mg_report_result_parse(v, q);
	else if (id == E_S_RES)
		x->cur_spf.result = mg_report_result_parse(v, q);
	else if (id == E_S_SCOPE)
		x->cur_spf.scope = mg_report_scope_parse(v, q);
	return 0;
}

static void
start_record(struct px *x)
{
	memset(&x->rec, 0, sizeof(x->rec));
	x->rec.reason = x->rec.header_from = x->rec.envelope_from = x->rec.envelope_to = "";
	x->rseen = 0;
	x->n_dkim = x->n_spf = 0;
}

static int
end_record(struct px *x)
{
	struct mg_report *r = x->r;
	struct mg_report_record *rec = &x->rec;

	if (!(x->rseen & (1ULL << E_SRCIP)) || !(x->rseen & (1ULL << E_COUNT)))
		return mg_report_fail(x->err, MG_REPORT_E_SCHEMA,
		    "record %zu: <row> without <source_ip> and <count>", r->n_records + 1);
	if (x->n_dkim > 0) {
		rec->dkim = arena_alloc(r->arena, x->n_dkim * sizeof(*rec->dkim));
		memcpy(rec->dkim, x->dkim, x->n_dkim * sizeof(*rec->dkim));
	}
	if (x->n_spf > 0) {
		rec->spf = arena_alloc(r->arena, x->n_spf * sizeof(*rec->spf));
		memcpy(rec->spf, x->spf, x->n_spf * sizeof(*rec->spf));
	}
	rec->n_dkim = x->n_dkim;
	rec->n_spf = x->n_spf;
	if (r->n_records == x->rec_cap) {
		x->rec_cap = x->rec_cap ? x->rec_cap * 2 : 16;
		r->records = xreallocarray(r->records, x->rec_cap, sizeof(*r->records));
	}
	r->records[r->n_records++] = *rec;
	r->total += rec->count;
	return 0;
}

static int
end_element(struct px *x, enum el id)
{
	switch (id) {
	case E_ORG: case E_EMAIL: case E_EXTRA: case E_RID: case E_BEGIN: case E_END:
		return end_meta(x, id);
	case E_PDOMAIN: case E_ADKIM: case E_ASPF: case E_P: case E_SP: case E_NP: case E_PCT:
	case E_FO:
		return end_policy(x, id);
	case E_SRCIP: case E_COUNT: case E_DISP: case E_PE_DKIM: case E_PE_SPF: case E_RTYPE:
	case E_HFROM: case E_EFROM: case E_ETO:
		return end_row(x, id);
	case E_D_DOMAIN: case E_D_SEL: case E_D_RES: case E_S_DOMAIN: case E_S_SCOPE: case E_S_RES:
		return end_auth_field(x, id);
	case E_AR_DKIM:
		if (x->n_dkim < MG_REPORT_DKIM_MAX)
			x->dkim[x->n_dkim++] = x->cur_dkim;
		else
			x->r->quirks |= MG_REPORT_Q_TRUNCATED;
		return 0;
	case E_AR_SPF:
		if (x->n_spf < MG_REPORT_SPF_MAX)
			x->spf[x->n_spf++] = x->cur_spf;
		else
			x->r->quirks |= MG_REPORT_Q_TRUNCATED;
		return 0;
	case E_RECORD:
		return end_record(x);
	case E_FEEDBACK:
		x->seen |= 1ULL << E_FEEDBACK;
		return 0;
	case E_META:
		if ((x->seen & (1ULL << E_META)))
			return mg_report_fail(x->err, MG_REPORT_E_SCHEMA,
			    "<report_metadata> given twice");
		x->seen |= 1ULL << E_META;
		return 0;
	case E_POLICY:
		if ((x->seen & (1ULL << E_POLICY)))
			return mg_report_fail(x->err, MG_REPORT_E_SCHEMA,
			    "<policy_published> given twice");
		x->seen |= 1ULL << E_POLICY;
		return 0;
	default:
		return 0;
	}
}

/* The id of a starting element from its parent, local name and namespace. */
static enum el
element_id(struct px *x, enum el parent)
{
	const char *name = (const char *)xmlTextReaderConstLocalName(x->rd);
	const char *ns = (const char *)xmlTextReaderConstNamespaceUri(x->rd);
	const struct el_def *d;
	int in_ns = x->r->bis ? ns != NULL && strcmp(ns, MG_REPORT_NS_BIS) == 0 : ns == NULL;

	if (name == NULL)
		return E_UNKNOWN;
	if (parent == E_NONE) {
		if (strcmp(name, "feedback") != 0) {
			(void)mg_report_fail(x->err, MG_REPORT_E_SCHEMA,
			    "root element is not <feedback>");
			return E_NONE;
		}
		if (ns != NULL && strcmp(ns, MG_REPORT_NS_BIS) != 0) {
			(void)mg_report_fail(x->err, MG_REPORT_E_SCHEMA,
			    "<feedback> in an unknown namespace");
			return E_NONE;
		}
		x->r->bis = ns != NULL;
		return E_FEEDBACK;
	}
	if (!in_ns || (d = el_lookup(parent, name)) == NULL)
		return E_UNKNOWN;
	return d->id;
}

static int
start_element(struct px *x)
{
	enum el parent = x->depth > 0 ? x->stack[x->depth - 1] : E_NONE;
	enum el id;
	const struct el_def *d;

	if (x->depth == 0 && (x->seen & (1ULL << E_FEEDBACK)))
		return mg_report_fail(x->err, MG_REPORT_E_XML, "content after </feedback>");
	if (x->depth >= MG_REPORT_DEPTH_MAX)
		return mg_report_fail(x->err, MG_REPORT_E_XML, "elements nested deeper than %d",
		    MG_REPORT_DEPTH_MAX);
	id = parent == E_UNKNOWN ? E_UNKNOWN : element_id(x, parent);
	if (id == E_NONE)
		return -1;
	if (id == E_RECORD) {
		if (x->r->n_records >= x->l->records)
			return mg_report_fail(x->err, MG_REPORT_E_RECORDS,
			    "more than %zu records", x->l->records);
		start_record(x);
	} else if (id == E_AR_DKIM) {
		memset(&x->cur_dkim, 0, sizeof(x->cur_dkim));
		x->cur_dkim.domain = x->cur_dkim.selector = "";
	} else if (id == E_AR_SPF) {
		memset(&x->cur_spf, 0, sizeof(x->cur_spf));
		x->cur_spf.domain = "";
	}
	x->stack[x->depth++] = id;
	d = id > E_FEEDBACK ? el_lookup(parent, (const char *)xmlTextReaderConstLocalName(x->rd)) :
	    NULL;
	x->leaf = d != NULL && d->leaf;
	buf_reset(&x->text);
	x->text_over = 0;
	if (xmlTextReaderIsEmptyElement(x->rd) == 1) {
		x->depth--;
		x->leaf = 0;
		return end_element(x, id);
	}
	return 0;
}

static int
on_text(struct px *x)
{
	const char *t = (const char *)xmlTextReaderConstValue(x->rd);

	if (!x->leaf || t == NULL || x->text_over)
		return 0;
	if (buf_append_str(&x->text, t) < 0)
		x->text_over = 1;
	return 0;
}

static int
on_node(struct px *x)
{
	int type = xmlTextReaderNodeType(x->rd);
	enum el id;

	switch (type) {
	case XML_READER_TYPE_DOCUMENT_TYPE:
	case XML_READER_TYPE_ENTITY_REFERENCE:
	case XML_READER_TYPE_ENTITY:
		return mg_report_fail(x->err, MG_REPORT_E_DTD,
		    "DOCTYPE or entity reference (refused: reports have no DTD)");
	case XML_READER_TYPE_ELEMENT:
		return start_element(x);
	case XML_READER_TYPE_TEXT:
	case XML_READER_TYPE_CDATA:
	case XML_READER_TYPE_SIGNIFICANT_WHITESPACE:
		return on_text(x);
	case XML_READER_TYPE_END_ELEMENT:
		if (x->depth == 0)
			return mg_report_fail(x->err, MG_REPORT_E_XML, "unbalanced end tag");
		id = x->stack[--x->depth];
		x->leaf = 0;
		return end_element(x, id);
	default:
		return 0;
	}
}

/* Required content, once the document is read. */
static int
check_complete(struct px *x)
{
	struct mg_report *r = x->r;

	if (!(x->seen & (1ULL << E_FEEDBACK)))
		return mg_report_fail(x->err, MG_REPORT_E_XML, "document ends inside <feedback>");
	if (!(x->seen & (1ULL << E_META)) || !(x->seen & (1ULL << E_RID)) || r->report_id[0] == '\0')
		return mg_report_fail(x->err, MG_REPORT_E_SCHEMA, "no <report_id>");
	if (!(x->seen & (1ULL << E_BEGIN)) || !(x->seen & (1ULL << E_END)))
		return mg_report_fail(x->err, MG_REPORT_E_SCHEMA, "no <date_range> begin and end");
	if (!(x->seen & (1ULL << E_POLICY)) || r->policy.domain[0] == '\0')
		return mg_report_fail(x->err, MG_REPORT_E_SCHEMA, "no <policy_published> domain");
	if (r->org_name[0] == '\0')
		r->quirks |= MG_REPORT_Q_EMPTY_ORG;
	return 0;
}

/* --- Entry point --- */

/* The quirk of some reporters (parsedmarc's ikea.com sample): a stray, unclosed
 * <xs:schema ...> tag before <feedback>. Blanks every <xs:schema...> and </xs:schema> tag of a
 * copy with spaces (line numbers stay). Returns the copy, or NULL when there is none. */
static char *
strip_xs_schema(const char *xml, size_t len)
{
	static const char *const tags[] = { "<xs:schema", "</xs:schema" };
	char *copy = NULL;

	for (int t = 0; t < 2; t++) {
		size_t tl = strlen(tags[t]);
		const char *base = copy != NULL ? copy : xml, *p = base;

		while ((p = memmem(p, len - (size_t)(p - base), tags[t], tl)) != NULL) {
			const char *gt = memchr(p, '>', len - (size_t)(p - base));
			size_t off = (size_t)(p - base), end = gt != NULL ? (size_t)(gt - base) + 1 : len;

			if (copy == NULL) {
				copy = xmemdup(xml, len);
				base = copy;
			}
			memset(copy + off, ' ', end - off);
			p = copy + end;
		}
	}
	return copy;
}

/* libxml2 reports some errors (encoding conversion) through its generic handler, which
 * prints to stderr; this thread's handler is silenced while we parse, then restored. */
static void
silent_error(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static int
read_all(struct px *x, const char *xml, size_t len)
{
	xmlGenericErrorFunc old_fn = xmlGenericError;
	void *old_ctx = xmlGenericErrorContext;
	int rc;

	if (len > INT32_MAX)
		return mg_report_fail(x->err, MG_REPORT_E_SIZE, "XML over 2 GiB");
	/* No XML_PARSE_NOENT (no substitution), DTDLOAD, DTDATTR, XINCLUDE or HUGE. */
	x->rd = xmlReaderForMemory(xml, (int)len, NULL, NULL,
	    XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
	    XML_PARSE_NOCDATA);
	if (x->rd == NULL)
		return mg_report_fail(x->err, MG_REPORT_E_XML, "libxml2 reader failed");
	xmlTextReaderSetStructuredErrorHandler(x->rd, xml_error_cb, x);
	xmlSetGenericErrorFunc(NULL, silent_error);
	while ((rc = xmlTextReaderRead(x->rd)) == 1)
		if (on_node(x) < 0)
			break;
	xmlSetGenericErrorFunc(old_ctx, old_fn);
	xmlFreeTextReader(x->rd);
	x->rd = NULL;
	if (x->err->reason != MG_REPORT_OK)
		return -1;
	if (rc < 0)
		return mg_report_fail(x->err, MG_REPORT_E_XML, "line %d: %s", x->xml_line,
		    x->xml_error[0] != '\0' ? x->xml_error : "not well-formed XML");
	return check_complete(x);
}

struct mg_report *
mg_report_parse_xml(const char *xml, size_t len, const struct mg_report_limits *l,
    struct mg_report_err *err)
{
	struct mg_report_limits def;
	struct mg_report_err dummy;
	struct px x;
	char *copy = NULL;
	int rc;

	if (l == NULL) {
		mg_report_limits_default(&def);
		l = &def;
	}
	if (err == NULL)
		err = &dummy;
	err->reason = MG_REPORT_OK;
	err->text[0] = '\0';
	if (len > l->xml_max) {
		(void)mg_report_fail(err, MG_REPORT_E_SIZE, "XML of %zu octets (at most %zu)", len,
		    l->xml_max);
		return NULL;
	}
	if (len == 0) {
		(void)mg_report_fail(err, MG_REPORT_E_XML, "empty document");
		return NULL;
	}
	if (memmem(xml, len, "<!DOCTYPE", 9) != NULL || memmem(xml, len, "<!ENTITY", 8) != NULL) {
		(void)mg_report_fail(err, MG_REPORT_E_DTD,
		    "DOCTYPE or entity declaration (refused: reports have no DTD)");
		return NULL;
	}
	mg_report_init();
	memset(&x, 0, sizeof(x));
	x.l = l;
	x.err = err;
	x.r = xcalloc(1, sizeof(*x.r));
	x.r->arena = xcalloc(1, sizeof(*x.r->arena));
	x.r->org_name = x.r->email = x.r->extra_contact = x.r->report_id = "";
	x.r->policy.domain = x.r->policy.fo = "";
	x.r->policy.pct = -1;
	buf_init(&x.text, MG_REPORT_VALUE_MAX);
	if ((copy = strip_xs_schema(xml, len)) != NULL)
		x.r->quirks |= MG_REPORT_Q_XS_SCHEMA;
	rc = read_all(&x, copy != NULL ? copy : xml, len);
	xfree(copy);
	buf_free(&x.text);
	if (rc < 0)
		mg_report_free(&x.r);
	return x.r;
}
