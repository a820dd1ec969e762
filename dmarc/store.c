/* Stored DMARC rows for aggregate reports (issue I): one message's evaluation as one versioned
 * text line holding everything RFC 7489 Appendix C's <record> needs (row, identifiers,
 * auth_results) plus the policy_published it was judged by; the lead stores the lines in
 * Berkeley DB and the report builder reads them back. Runs on filter pool threads (format) and
 * in the report job (parse). Format: "mgdmarc1" then " key=value" fields in a fixed order,
 * values percent-encoded outside [A-Za-z0-9.-_@:], so a line never holds a space, control byte
 * or newline. The parser is strict (bounded copies, every key once, known names only) and
 * ignores unknown keys so a later version may add fields. Limit: MG_DMARC_ROW_MAX octets. */
#include <string.h>

#include "dmarc/dmarc.h"
#include "lib/str.h"
#include "lib/strnum.h"

#define ROW_MAGIC "mgdmarc1"

enum row_key { K_T, K_IP, K_N, K_RES, K_DIS, K_DKIM, K_SPF, K_RSN, K_HF, K_EF, K_SIG, K_SPFD,
	K_SPFS, K_SPFR, K_PD, K_P, K_SP, K_PCT, K_ADKIM, K_ASPF, K_FO, K_COUNT };

static const char *const key_names[K_COUNT] = { "t", "ip", "n", "res", "dis", "dkim", "spf", "rsn",
	"hf", "ef", "sig", "spfd", "spfs", "spfr", "pd", "p", "sp", "pct", "adkim", "aspf", "fo" };

static int
is_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '.' || c == '-' || c == '_' || c == '@' || c == ':';
}

static int
put_enc(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };

		if (is_safe(*p) ? buf_append_char(b, (char)*p) < 0 : buf_append(b, e, 3) < 0)
			return -1;
	}
	return 0;
}

static int
put(struct buf *b, enum row_key k, const char *value)
{
	if (buf_printf(b, " %s=", key_names[k]) < 0)
		return -1;
	return put_enc(b, value);
}

static const char *
mode_name(char m)
{
	return m == 'r' ? "r" : m == 's' ? "s" : "";
}

static int
put_sigs(struct buf *b, const struct mg_dmarc_row *row)
{
	if (buf_printf(b, " %s=", key_names[K_SIG]) < 0)
		return -1;
	for (int i = 0; i < row->n_dkim; i++) {
		if ((i > 0 && buf_append_char(b, ',') < 0) || put_enc(b, row->dkim[i].domain) < 0 ||
		    buf_append_char(b, '/') < 0 || put_enc(b, row->dkim[i].selector) < 0 ||
		    buf_append_char(b, '/') < 0 ||
		    buf_append_str(b, mg_dmarc_dkim_name(row->dkim[i].result)) < 0)
			return -1;
	}
	return 0;
}

int
mg_dmarc_row_format(const struct mg_dmarc_row *row, struct buf *out)
{
	size_t old = out->len;
	char num[32];

	if (buf_printf(out, "%s t=%lld", ROW_MAGIC, row->when) < 0 ||
	    put(out, K_IP, row->source_ip) < 0 ||
	    buf_printf(out, " n=%d res=%s dis=%s dkim=%s spf=%s", row->count,
	    mg_dmarc_status_name(row->status), mg_dmarc_disposition_name(row->disposition),
	    row->dkim_aligned ? "pass" : "fail", row->spf_aligned ? "pass" : "fail") < 0 ||
	    put(out, K_RSN, row->sampled_out ? "sampled_out" : "") < 0 ||
	    put(out, K_HF, row->header_from) < 0 || put(out, K_EF, row->envelope_from) < 0 ||
	    put_sigs(out, row) < 0 || put(out, K_SPFD, row->spf_domain) < 0 ||
	    put(out, K_SPFS, row->spf_is_helo ? "helo" : "mfrom") < 0 ||
	    put(out, K_SPFR, mg_dmarc_spf_name(row->spf_result)) < 0 ||
	    put(out, K_PD, row->policy_domain) < 0 || put(out, K_P, mg_dmarc_policy_name(row->p)) < 0 ||
	    put(out, K_SP, mg_dmarc_policy_name(row->sp)) < 0 ||
	    str_fmt(num, sizeof(num), "%d", row->pct) < 0 || put(out, K_PCT, num) < 0 ||
	    put(out, K_ADKIM, mode_name(row->adkim)) < 0 ||
	    put(out, K_ASPF, mode_name(row->aspf)) < 0 || put(out, K_FO, row->fo) < 0 ||
	    out->len - old > MG_DMARC_ROW_MAX) {
		out->len = old;
		if (out->data != NULL)
			out->data[old] = '\0';
		return -1;
	}
	return 0;
}

/* A domain for the row: canonical if it can be, else the raw text cut to fit. */
static void
row_domain(char *dst, size_t size, const char *src)
{
	const char *error;

	if (src == NULL || src[0] == '\0') {
		dst[0] = '\0';
		return;
	}
	if (mg_dmarc_domain_canon(src, strlen(src), dst, size, &error) < 0)
		str_lcpy(dst, src, size);
}

void
mg_dmarc_row_from_result(const struct mg_dmarc_result *res, const struct mg_dmarc_input *in,
    const char *client_ip, long long when, struct mg_dmarc_row *row)
{
	size_t n = in->dkim != NULL ? in->n_dkim : 0;

	memset(row, 0, sizeof(*row));
	row->when = when;
	str_lcpy(row->source_ip, client_ip != NULL ? client_ip : "", sizeof(row->source_ip));
	row->count = 1;
	row->status = res->status;
	row->disposition = res->disposition;
	row->dkim_aligned = res->dkim_aligned;
	row->spf_aligned = res->spf_aligned;
	/* RFC 7489 Appendix C PolicyOverrideType "sampled_out": pct spared a failing message. */
	row->sampled_out = res->status == MG_DMARC_FAIL && !res->sampled &&
	    res->policy != MG_DMARC_POLICY_NONE;
	if (res->header_from[0] != '\0')
		str_lcpy(row->header_from, res->header_from, sizeof(row->header_from));
	else
		row_domain(row->header_from, sizeof(row->header_from), in->header_from);
	row_domain(row->envelope_from, sizeof(row->envelope_from), in->envelope_from);
	for (size_t i = 0; i < n && i < MG_DMARC_DKIM_MAX; i++) {
		row_domain(row->dkim[i].domain, sizeof(row->dkim[i].domain), in->dkim[i].domain);
		str_lcpy(row->dkim[i].selector, in->dkim[i].selector != NULL ? in->dkim[i].selector :
		    "", sizeof(row->dkim[i].selector));
		row->dkim[i].result = in->dkim[i].result;
		row->n_dkim++;
	}
	row_domain(row->spf_domain, sizeof(row->spf_domain), in->spf_domain);
	row->spf_is_helo = in->spf_is_helo;
	row->spf_result = in->spf_result;
	row->pct = 100;
	if (res->has_record) {
		str_lcpy(row->policy_domain, res->record_domain, sizeof(row->policy_domain));
		row->p = res->record.p;
		row->sp = res->record.sp;
		row->pct = res->record.pct;
		row->adkim = res->record.adkim;
		row->aspf = res->record.aspf;
		str_lcpy(row->fo, res->record.fo, sizeof(row->fo));
	}
}

int
mg_dmarc_record_format(const struct mg_dmarc_result *res, const struct mg_dmarc_input *in,
    const char *client_ip, long long when, struct buf *out)
{
	struct mg_dmarc_row row;

	mg_dmarc_row_from_result(res, in, client_ip, when, &row);
	return mg_dmarc_row_format(&row, out);
}

/* --- parsing --- */


/* Decodes v into dst (size), rejecting NUL, stray '%', and anything that does not fit. */
static int
dec(struct slice v, char *dst, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < v.len; i++) {
		int c = (unsigned char)v.p[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= v.len)
				return -1;
			if ((hi = str_hex_digit(v.p[i + 1])) < 0 || (lo = str_hex_digit(v.p[i + 2])) < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		} else if (!is_safe((unsigned char)c)) {
			return -1;
		}
		if (c == 0 || o + 1 >= size)
			return -1;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return 0;
}

/* The enum value 0..count-1 whose name (by the name function) is s. */
static int
name_to_enum(const char *s, const char *(*name)(int), int count, int *out)
{
	for (int i = 0; i < count; i++) {
		if (strcmp(s, name(i)) == 0) {
			*out = i;
			return 0;
		}
	}
	return -1;
}

static const char *
status_name_i(int i)
{
	return mg_dmarc_status_name((enum mg_dmarc_status)i);
}

static const char *
dis_name_i(int i)
{
	return mg_dmarc_disposition_name((enum mg_dmarc_disposition)i);
}

static const char *
spf_name_i(int i)
{
	return mg_dmarc_spf_name((enum mg_dmarc_spf)i);
}

static const char *
dkim_name_i(int i)
{
	return mg_dmarc_dkim_name((enum mg_dmarc_dkim)i);
}

static const char *
policy_name_i(int i)
{
	return mg_dmarc_policy_name((enum mg_dmarc_policy)i);
}

static int
parse_pass(const char *s, int *out)
{
	if (strcmp(s, "pass") == 0)
		*out = 1;
	else if (strcmp(s, "fail") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

static int
parse_mode(const char *s, char *out)
{
	if (strcmp(s, "r") != 0 && strcmp(s, "s") != 0 && s[0] != '\0')
		return -1;
	*out = s[0];
	return 0;
}

/* sig = item *("," item), item = domain "/" selector "/" result, each part encoded. */
static int
parse_sigs(struct slice v, struct mg_dmarc_row *row)
{
	size_t start = 0;

	if (v.len == 0)
		return 0;
	for (size_t i = 0; i <= v.len; i++) {
		if (i < v.len && v.p[i] != ',')
			continue;
		struct slice item = { v.p + start, i - start };
		const char *s1 = memchr(item.p, '/', item.len), *s2;
		char res[16];
		int r;

		start = i + 1;
		if (row->n_dkim >= MG_DMARC_DKIM_MAX || s1 == NULL ||
		    (s2 = memchr(s1 + 1, '/', (size_t)(item.p + item.len - s1 - 1))) == NULL)
			return -1;
		if (dec((struct slice){ item.p, (size_t)(s1 - item.p) }, row->dkim[row->n_dkim].domain,
		    sizeof(row->dkim[0].domain)) < 0 ||
		    dec((struct slice){ s1 + 1, (size_t)(s2 - s1 - 1) },
		    row->dkim[row->n_dkim].selector, sizeof(row->dkim[0].selector)) < 0 ||
		    dec((struct slice){ s2 + 1, (size_t)(item.p + item.len - s2 - 1) }, res,
		    sizeof(res)) < 0 || name_to_enum(res, dkim_name_i, MG_DMARC_DKIM_PERMERROR + 1,
		    &r) < 0)
			return -1;
		row->dkim[row->n_dkim++].result = (enum mg_dmarc_dkim)r;
	}
	return 0;
}

static int
copy(char *dst, size_t size, const char *s)
{
	return str_lcpy(dst, s, size) < size ? 0 : -1;
}

/* One key's value (decoded as needed) into the row. */
static int
parse_field(enum row_key k, struct slice v, struct mg_dmarc_row *row)
{
	char s[MG_DMARC_DOMAIN_MAX + 1];
	long long n;
	const char *error;
	int e = 0;

	if (k == K_SIG)
		return parse_sigs(v, row);
	if (dec(v, s, sizeof(s)) < 0)
		return -1;
	switch (k) {
	case K_T: return strnum_ll(s, 0, 0x7fffffffffffffffLL, &row->when, &error);
	case K_IP: return copy(row->source_ip, sizeof(row->source_ip), s);
	case K_N:
		if (strnum_ll(s, 1, 0x7fffffff, &n, &error) < 0)
			return -1;
		row->count = (int)n;
		return 0;
	case K_RES:
		if (name_to_enum(s, status_name_i, MG_DMARC_PERMERROR + 1, &e) < 0)
			return -1;
		row->status = (enum mg_dmarc_status)e;
		return 0;
	case K_DIS:
		if (name_to_enum(s, dis_name_i, MG_DMARC_DIS_REJECT + 1, &e) < 0)
			return -1;
		row->disposition = (enum mg_dmarc_disposition)e;
		return 0;
	case K_DKIM: return parse_pass(s, &row->dkim_aligned);
	case K_SPF: return parse_pass(s, &row->spf_aligned);
	case K_RSN:
		if (s[0] != '\0' && strcmp(s, "sampled_out") != 0)
			return -1;
		row->sampled_out = s[0] != '\0';
		return 0;
	case K_HF: return copy(row->header_from, sizeof(row->header_from), s);
	case K_EF: return copy(row->envelope_from, sizeof(row->envelope_from), s);
	case K_SPFD: return copy(row->spf_domain, sizeof(row->spf_domain), s);
	case K_PD: return copy(row->policy_domain, sizeof(row->policy_domain), s);
	case K_SPFS:
		if (strcmp(s, "helo") != 0 && strcmp(s, "mfrom") != 0)
			return -1;
		row->spf_is_helo = s[0] == 'h';
		return 0;
	case K_SPFR:
		if (name_to_enum(s, spf_name_i, MG_DMARC_SPF_PERMERROR + 1, &e) < 0)
			return -1;
		row->spf_result = (enum mg_dmarc_spf)e;
		return 0;
	case K_P:
	case K_SP:
		if (name_to_enum(s, policy_name_i, MG_DMARC_POLICY_REJECT + 1, &e) < 0)
			return -1;
		*(k == K_P ? &row->p : &row->sp) = (enum mg_dmarc_policy)e;
		return 0;
	case K_PCT:
		if (strnum_ll(s, 0, 100, &n, &error) < 0)
			return -1;
		row->pct = (int)n;
		return 0;
	case K_ADKIM: return parse_mode(s, &row->adkim);
	case K_ASPF: return parse_mode(s, &row->aspf);
	case K_FO: return copy(row->fo, sizeof(row->fo), s);
	case K_SIG:
	case K_COUNT:
		break;
	}
	return -1;
}

int
mg_dmarc_row_parse(const char *line, size_t len, struct mg_dmarc_row *row, const char **error_r)
{
	unsigned seen = 0;
	size_t start, mlen = strlen(ROW_MAGIC);

	memset(row, 0, sizeof(*row));
	if (len > MG_DMARC_ROW_MAX) {
		*error_r = "row too long";
		return -1;
	}
	if (len < mlen || memcmp(line, ROW_MAGIC, mlen) != 0 || (len > mlen && line[mlen] != ' ')) {
		*error_r = "not a version 1 DMARC row";
		return -1;
	}
	start = mlen + 1;
	for (size_t i = start; i <= len && start <= len; i++) {
		if (i < len && line[i] != ' ')
			continue;
		struct slice f = { line + start, i - start };
		const char *eq = memchr(f.p, '=', f.len);
		struct slice key, val;
		int k;

		start = i + 1;
		if (eq == NULL) {
			*error_r = "field without '='";
			goto fail;
		}
		key = (struct slice){ f.p, (size_t)(eq - f.p) };
		val = (struct slice){ eq + 1, (size_t)(f.p + f.len - eq - 1) };
		for (k = 0; k < K_COUNT; k++)
			if (key.len == strlen(key_names[k]) && memcmp(key.p, key_names[k], key.len) == 0)
				break;
		if (k == K_COUNT)
			continue;	/* a later version's field */
		if (seen & (1u << k)) {
			*error_r = "repeated field";
			goto fail;
		}
		seen |= 1u << k;
		if (parse_field((enum row_key)k, val, row) != 0) {
			*error_r = "bad field value";
			goto fail;
		}
	}
	if (seen != (1u << K_COUNT) - 1) {
		*error_r = "missing field";
		goto fail;
	}
	return 0;
fail:
	memset(row, 0, sizeof(*row));
	return -1;
}
