/* report_values.c: the small value grammars of DMARC aggregate reports (issue I) -- result,
 * disposition, policy and scope keywords (case-insensitive, aliases for real-world spellings),
 * date_range timestamps (integer or float seconds), their printable names, and the
 * de-duplication identity of a report. Pure functions over NUL-terminated, already trimmed
 * values that report_xml.c has capped at MG_REPORT_VALUE_MAX; any thread. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dmarc/report.h"
#include "lib/strnum.h"

struct kw {
	const char *name;
	int value;
};

static const struct kw result_kw[] = {
	{ "none", MG_RR_NONE }, { "pass", MG_RR_PASS }, { "fail", MG_RR_FAIL },
	{ "softfail", MG_RR_SOFTFAIL }, { "neutral", MG_RR_NEUTRAL }, { "policy", MG_RR_POLICY },
	{ "temperror", MG_RR_TEMPERROR }, { "permerror", MG_RR_PERMERROR },
	/* seen in the wild (cry-inc hardfail.xml; RFC 4408-era spellings) */
	{ "hardfail", MG_RR_FAIL }, { "tempfail", MG_RR_TEMPERROR }, { "permfail", MG_RR_PERMERROR },
	{ NULL, 0 },
};

static const struct kw disp_kw[] = {
	{ "none", MG_RD_NONE }, { "pass", MG_RD_PASS }, { "quarantine", MG_RD_QUARANTINE },
	{ "reject", MG_RD_REJECT }, { NULL, 0 },
};

static const struct kw policy_kw[] = {
	{ "none", MG_RP_NONE }, { "quarantine", MG_RP_QUARANTINE }, { "reject", MG_RP_REJECT },
	{ NULL, 0 },
};

static const struct kw scope_kw[] = {
	{ "mfrom", MG_RS_MFROM }, { "helo", MG_RS_HELO }, { NULL, 0 },
};

/* The value of s in t (UNSET 0 for "", other for unknown words), noting case quirks. */
static int
kw_parse(const struct kw *t, const char *s, int other, unsigned *quirks)
{
	if (*s == '\0')
		return 0;
	for (size_t i = 0; t[i].name != NULL; i++) {
		if (strcmp(s, t[i].name) == 0)
			return t[i].value;
		if (strcasecmp(s, t[i].name) == 0) {
			*quirks |= MG_REPORT_Q_CASE;
			return t[i].value;
		}
	}
	*quirks |= MG_REPORT_Q_OTHER_VALUE;
	return other;
}

enum mg_report_result
mg_report_result_parse(const char *s, unsigned *quirks)
{
	return (enum mg_report_result)kw_parse(result_kw, s, MG_RR_OTHER, quirks);
}

enum mg_report_disp
mg_report_disp_parse(const char *s, unsigned *quirks)
{
	return (enum mg_report_disp)kw_parse(disp_kw, s, MG_RD_OTHER, quirks);
}

enum mg_report_policy
mg_report_policy_parse(const char *s, unsigned *quirks)
{
	return (enum mg_report_policy)kw_parse(policy_kw, s, MG_RP_OTHER, quirks);
}

enum mg_report_scope
mg_report_scope_parse(const char *s, unsigned *quirks)
{
	return (enum mg_report_scope)kw_parse(scope_kw, s, MG_RS_OTHER, quirks);
}

/* Upper bound for timestamps: 9999-12-31T23:59:59Z. */
#define TIME_MAX 253402300799LL

int
mg_report_time_parse(const char *s, long long *t_r, unsigned *quirks)
{
	const char *dot = strchr(s, '.'), *error;
	char whole[24];
	size_t n = dot != NULL ? (size_t)(dot - s) : strlen(s);

	if (n == 0 || n >= sizeof(whole))
		return -1;
	if (dot != NULL) {
		/* "1530133200.0", "1530133200.123456": digits only after the dot */
		if (dot[1] == '\0' || strspn(dot + 1, "0123456789") != strlen(dot + 1))
			return -1;
		*quirks |= MG_REPORT_Q_FLOAT_TIME;
	}
	memcpy(whole, s, n);
	whole[n] = '\0';
	return strnum_ll(whole, 0, TIME_MAX, t_r, &error);
}

static const char *const result_names[] = { "", "none", "pass", "fail", "softfail", "neutral",
	"policy", "temperror", "permerror", "other" };
static const char *const disp_names[] = { "", "none", "pass", "quarantine", "reject", "other" };
static const char *const policy_names[] = { "", "none", "quarantine", "reject", "other" };
static const char *const scope_names[] = { "", "mfrom", "helo", "other" };

#define NAME_OF(tab, v) ((unsigned)(v) < sizeof(tab) / sizeof(tab[0]) ? tab[v] : "other")

const char *
mg_report_result_name(enum mg_report_result v)
{
	return NAME_OF(result_names, v);
}

const char *
mg_report_disp_name(enum mg_report_disp v)
{
	return NAME_OF(disp_names, v);
}

const char *
mg_report_policy_name(enum mg_report_policy v)
{
	return NAME_OF(policy_names, v);
}

const char *
mg_report_scope_name(enum mg_report_scope v)
{
	return NAME_OF(scope_names, v);
}

static int
id_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '.' || c == '-' || c == '_' || c == '@' || c == ':' || c == '+';
}

/* Appends c percent-encoded when needed; -1 when out is full. */
static int
id_put(char *out, size_t size, size_t *pos, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t need = id_safe(c) ? 1 : 3;

	if (*pos + need >= size)
		return -1;
	if (need == 1)
		out[(*pos)++] = (char)c;
	else {
		out[(*pos)++] = '%';
		out[(*pos)++] = hex[c >> 4];
		out[(*pos)++] = hex[c & 15];
	}
	return 0;
}

static int
is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
mg_report_identity(const struct mg_report *r, char *out, size_t size)
{
	return mg_report_identity_of(r->org_name, r->report_id, out, size);
}

int
mg_report_identity_of(const char *org, const char *report_id, char *out, size_t size)
{
	const unsigned char *s = (const unsigned char *)org;
	size_t pos = 0;
	int space = 0;

	if (size == 0)
		return -1;
	while (*s != '\0' && is_ws(*s))
		s++;
	for (; *s != '\0'; s++) {
		if (is_ws(*s)) {
			space = 1;
			continue;
		}
		if (space && id_put(out, size, &pos, ' ') < 0)
			goto full;
		space = 0;
		if (id_put(out, size, &pos, (unsigned char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s)) < 0)
			goto full;
	}
	if (pos + 1 >= size)
		goto full;
	out[pos++] = '|';
	for (s = (const unsigned char *)report_id; *s != '\0'; s++)
		if (id_put(out, size, &pos, *s) < 0)
			goto full;
	out[pos] = '\0';
	return 0;
full:
	out[0] = '\0';
	return -1;
}
