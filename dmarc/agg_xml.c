/* DMARC aggregate reports we send (issue I), part 2: the XML document of one report. Runs in the
 * daily report job. Shape: RFC 7489 Appendix C as narrowed by the DMARC aggregate schema the
 * project validates against (shared corpora, mail-dmarc rua-schema.xsd, DMARCbis element set):
 * no <version>, no <pct> (neither is in that schema), a pct-spared message reported as reason
 * "other" with the comment "sampled_out" (RFC 7489's own override name, absent there), every
 * DKIM result with a <selector> (required there), no namespace (what RFC 7489 receivers get from
 * the big senders). Every text value comes from stored rows and the config: it is escaped, and
 * bytes that are not UTF-8 or not XML 1.0 characters become '?', so hostile domains can neither
 * break the markup nor make the document ill-formed. Written by hand into a struct buf rather
 * than through libxml2's xmlTextWriter: the document has a fixed shape, libxml2's writer does
 * not validate UTF-8 or control bytes either, and the binaries do not link libxml2 yet.
 * Limit: MG_DMARC_AGG_XML_MAX octets (or out's max). Pure; any thread. */
#include <string.h>

#include "dmarc/dmarc.h"
#include "lib/str.h"

/* Length of the valid UTF-8 sequence of an XML 1.0 Char at s (n octets left), 0 if none. */
static size_t
xml_char_len(const unsigned char *s, size_t n)
{
	unsigned cp;
	size_t len;

	if (s[0] < 0x80)
		return s[0] >= 0x20 ? 1 : 0;	/* no C0 controls, not even TAB/LF/CR */
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;	/* overlong or out of range */
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
		return 0;	/* surrogates and the two non-characters XML excludes */
	return len;
}

/* Appends s as XML character data. */
static int
put_text(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	for (size_t i = 0; i < n;) {
		size_t l = xml_char_len(p + i, n - i);
		int r;

		if (l == 0) {
			r = buf_append_char(b, '?');
			l = 1;
		} else if (p[i] == '&') {
			r = buf_append_str(b, "&amp;");
		} else if (p[i] == '<') {
			r = buf_append_str(b, "&lt;");
		} else if (p[i] == '>') {
			r = buf_append_str(b, "&gt;");
		} else {
			r = buf_append(b, p + i, l);
		}
		if (r < 0)
			return -1;
		i += l;
	}
	return 0;
}

/* <name>text</name> on its own line at depth. */
static int
el(struct buf *b, int depth, const char *name, const char *text)
{
	return buf_printf(b, "%*s<%s>", depth * 2, "", name) < 0 || put_text(b, text) < 0 ||
	    buf_printf(b, "</%s>\n", name) < 0 ? -1 : 0;
}

static int
open_el(struct buf *b, int depth, const char *name)
{
	return buf_printf(b, "%*s<%s>\n", depth * 2, "", name);
}

static int
close_el(struct buf *b, int depth, const char *name)
{
	return buf_printf(b, "%*s</%s>\n", depth * 2, "", name);
}

static int
el_ll(struct buf *b, int depth, const char *name, long long v)
{
	return buf_printf(b, "%*s<%s>%lld</%s>\n", depth * 2, "", name, v, name);
}

static int
metadata(struct buf *b, const struct mg_dmarc_agg *a, const struct mg_dmarc_agg_report *r,
    const struct mg_dmarc_agg_meta *m)
{
	if (open_el(b, 1, "report_metadata") < 0 || el(b, 2, "org_name", m->org_name) < 0 ||
	    el(b, 2, "email", m->email) < 0)
		return -1;
	if (m->extra_contact != NULL && m->extra_contact[0] != '\0' &&
	    el(b, 2, "extra_contact_info", m->extra_contact) < 0)
		return -1;
	return el(b, 2, "report_id", r->report_id) < 0 || open_el(b, 2, "date_range") < 0 ||
	    el_ll(b, 3, "begin", a->begin) < 0 || el_ll(b, 3, "end", a->end) < 0 ||
	    close_el(b, 2, "date_range") < 0 || close_el(b, 1, "report_metadata") < 0 ? -1 : 0;
}

static int
policy_published(struct buf *b, const struct mg_dmarc_agg_report *r)
{
	char mode[2] = { 0, 0 };

	if (open_el(b, 1, "policy_published") < 0 || el(b, 2, "domain", r->policy_domain) < 0)
		return -1;
	if (r->adkim == 'r' || r->adkim == 's') {
		mode[0] = r->adkim;
		if (el(b, 2, "adkim", mode) < 0)
			return -1;
	}
	if (r->aspf == 'r' || r->aspf == 's') {
		mode[0] = r->aspf;
		if (el(b, 2, "aspf", mode) < 0)
			return -1;
	}
	if (r->p != MG_DMARC_POLICY_UNSET && el(b, 2, "p", mg_dmarc_policy_name(r->p)) < 0)
		return -1;
	if (r->sp != MG_DMARC_POLICY_UNSET && el(b, 2, "sp", mg_dmarc_policy_name(r->sp)) < 0)
		return -1;
	if (r->fo[0] != '\0' && el(b, 2, "fo", r->fo) < 0)
		return -1;
	return close_el(b, 1, "policy_published");
}

static int
record_row(struct buf *b, const struct mg_dmarc_row *row, unsigned long long count)
{
	if (open_el(b, 2, "row") < 0 || el(b, 3, "source_ip", row->source_ip) < 0 ||
	    buf_printf(b, "      <count>%llu</count>\n", count) < 0 ||
	    open_el(b, 3, "policy_evaluated") < 0 ||
	    el(b, 4, "disposition", mg_dmarc_disposition_name(row->disposition)) < 0 ||
	    el(b, 4, "dkim", row->dkim_aligned ? "pass" : "fail") < 0 ||
	    el(b, 4, "spf", row->spf_aligned ? "pass" : "fail") < 0)
		return -1;
	/* RFC 7489 PolicyOverrideType sampled_out is not in the schema's enumeration */
	if (row->sampled_out && (open_el(b, 4, "reason") < 0 || el(b, 5, "type", "other") < 0 ||
	    el(b, 5, "comment", "sampled_out") < 0 || close_el(b, 4, "reason") < 0))
		return -1;
	return close_el(b, 3, "policy_evaluated") < 0 || close_el(b, 2, "row") < 0 ? -1 : 0;
}

static int
record_auth(struct buf *b, const struct mg_dmarc_row *row)
{
	if (open_el(b, 2, "identifiers") < 0 || el(b, 3, "envelope_from", row->envelope_from) < 0 ||
	    el(b, 3, "header_from", row->header_from) < 0 || close_el(b, 2, "identifiers") < 0 ||
	    open_el(b, 2, "auth_results") < 0)
		return -1;
	for (int i = 0; i < row->n_dkim; i++) {
		if (open_el(b, 3, "dkim") < 0 || el(b, 4, "domain", row->dkim[i].domain) < 0 ||
		    el(b, 4, "selector", row->dkim[i].selector) < 0 ||
		    el(b, 4, "result", mg_dmarc_dkim_name(row->dkim[i].result)) < 0 ||
		    close_el(b, 3, "dkim") < 0)
			return -1;
	}
	/* the schema wants at least one SPF result: "none" with the domain checked (or "") */
	return open_el(b, 3, "spf") < 0 || el(b, 4, "domain", row->spf_domain) < 0 ||
	    el(b, 4, "scope", row->spf_is_helo ? "helo" : "mfrom") < 0 ||
	    el(b, 4, "result", mg_dmarc_spf_name(row->spf_result)) < 0 ||
	    close_el(b, 3, "spf") < 0 || close_el(b, 2, "auth_results") < 0 ? -1 : 0;
}

int
mg_dmarc_agg_xml(const struct mg_dmarc_agg *a, const struct mg_dmarc_agg_report *r,
    const struct mg_dmarc_agg_meta *m, struct buf *out, const char **error_r)
{
	size_t old = out->len;
	struct mg_dmarc_row row;

	*error_r = "report too large";
	if (buf_append_str(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feedback>\n") < 0 ||
	    metadata(out, a, r, m) < 0 || policy_published(out, r) < 0)
		goto fail;
	for (size_t i = 0; i < r->n_rec; i++) {
		if (mg_dmarc_row_parse(r->rec[i].key, strlen(r->rec[i].key), &row, error_r) < 0)
			goto fail;
		*error_r = "report too large";
		if (open_el(out, 1, "record") < 0 || record_row(out, &row, r->rec[i].count) < 0 ||
		    record_auth(out, &row) < 0 || close_el(out, 1, "record") < 0 ||
		    out->len - old > MG_DMARC_AGG_XML_MAX)
			goto fail;
	}
	if (buf_append_str(out, "</feedback>\n") < 0 || out->len - old > MG_DMARC_AGG_XML_MAX)
		goto fail;
	return 0;
fail:
	out->len = old;
	if (out->data != NULL)
		out->data[old] = '\0';
	return -1;
}
