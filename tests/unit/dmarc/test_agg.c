/* Unit tests for dmarc/agg_build.c, agg_xml.c and agg_mail.c: our DMARC aggregate reports from
 * synthetic stored rows (several policy domains, a policy changed mid-day, IPv4, IPv6, IPv4-mapped
 * IPv6, pass/fail mixes, sampled_out, pre-counted rows, rows of another day, without a policy,
 * with a bad source IP, a line that does not parse), the report IP form, reproducible output
 * (rows in another order give the same bytes and report ids), the limits, hostile domains and
 * selectors. EVERY generated XML is validated with `xmllint --schema` against the corpus schema
 * (dmarc-reports/mail-dmarc/rua-schema.xsd, with its targetNamespace attribute dropped: as
 * shipped its type references resolve in no namespace and xmllint refuses to compile it; the
 * element set is untouched) and read back by an independent implementation, Python's
 * xml.etree.ElementTree + gzip + email, which checks record counts and totals, the gzip, the
 * Subject and the attachment. A document with a required element removed must fail the schema
 * (the validation is real). Corpora: $MG_CORPORA, ../shared/corpora, /work/shared/corpora. */
#include <errno.h>
#include <spawn.h>

#include "unit.h"

#include "dmarc/dmarc.h"
#include "lib/buf.h"
#include "lib/str.h"
#include "lib/xalloc.h"

extern char **environ;

#define DAY0 1700006400LL	/* 2023-11-15 00:00:00 UTC */
#define RECEIVER "mx.receiver.example"

static char tmpdir[64];
static char schema[128];

/* ---- helpers: files, processes ---- */

static int
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int r;

	if (f == NULL)
		return -1;
	r = fwrite(p, 1, n, f) == n ? 0 : -1;
	return fclose(f) == 0 ? r : -1;
}

static char *
read_file(const char *path, size_t *n_r)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[4096];
	size_t n;

	if (f == NULL)
		return NULL;
	buf_init(&b, 16u << 20);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		(void)buf_append(&b, chunk, n);
	fclose(f);
	if (n_r != NULL)
		*n_r = b.len;
	if (b.data == NULL)
		buf_append_str(&b, "");
	return buf_steal(&b);
}

/* Runs argv (PATH search), stdout and stderr to tmpdir/out.txt. Returns the exit status (-1 if
 * it could not run or died by a signal); *out_r gets the output (caller frees). */
static int
run(char *const argv[], char **out_r)
{
	posix_spawn_file_actions_t fa;
	char out[128];
	pid_t pid;
	int st, r;

	str_fmt(out, sizeof(out), "%s/out.txt", tmpdir);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	*out_r = NULL;
	if (r != 0) {
		*out_r = xasprintf("cannot run %s: %s", argv[0], strerror(r));
		return -1;
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*out_r = read_file(out, NULL);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *
corpora(void)
{
	static const char *const dirs[] = { "../shared/corpora", "/work/shared/corpora" };
	const char *e = getenv("MG_CORPORA");

	if (e != NULL)
		return e;
	for (size_t i = 0; i < 2; i++)
		if (access(dirs[i], R_OK) == 0)
			return dirs[i];
	return dirs[1];
}

/* The corpus schema with its targetNamespace attribute removed, in tmpdir. */
static int
prepare_schema(void)
{
	char path[512];
	size_t n;
	char *x, *t, *q;

	str_fmt(path, sizeof(path), "%s/dmarc-reports/mail-dmarc/rua-schema.xsd", corpora());
	if ((x = read_file(path, &n)) == NULL) {
		CHECK(0, "cannot read %s", path);
		return -1;
	}
	if ((t = strstr(x, " targetNamespace=\"")) != NULL &&
	    (q = strchr(t + 18, '"')) != NULL)
		memmove(t, q + 1, strlen(q + 1) + 1);
	str_fmt(schema, sizeof(schema), "%s/rua-schema.xsd", tmpdir);
	CHECK(write_file(schema, x, strlen(x)) == 0, "write %s", schema);
	xfree(x);
	return 0;
}

/* 0 if the file validates against the schema; *out_r: xmllint's words. */
static int
xmllint(const char *file, char **out_r)
{
	char *argv[] = { "xmllint", "--noout", "--nonet", "--schema", schema, (char *)file, NULL };

	return run(argv, out_r);
}

/* Python's independent read-back (see the file comment). argv: xml gz msg domain records
 * total report_id [header_from that must occur]. */
static const char readback_py[] =
	"import sys, gzip, email, email.policy, xml.etree.ElementTree as ET\n"
	"xf, gf, mf, dom, nrec, total, rid = sys.argv[1:8]\n"
	"x = open(xf, 'rb').read()\n"
	"assert gzip.decompress(open(gf, 'rb').read()) == x, 'gzip differs from the xml'\n"
	"m = email.message_from_bytes(open(mf, 'rb').read(), policy=email.policy.default)\n"
	"subj = ' '.join(str(m['Subject']).split())\n"
	"want = 'Report Domain: %s Submitter: " RECEIVER " Report-ID: <%s>' % (dom, rid)\n"
	"assert subj == want, 'subject %r' % subj\n"
	"att = list(m.iter_attachments())\n"
	"assert len(att) == 1 and att[0].get_content_type() == 'application/gzip', att\n"
	"fn = att[0].get_filename()\n"
	"assert fn.startswith('" RECEIVER "!' + dom + '!') and fn.endswith('.xml.gz'), fn\n"
	"assert gzip.decompress(att[0].get_content()) == x, 'attachment differs'\n"
	"root = ET.fromstring(x)\n"
	"assert root.tag == 'feedback', root.tag\n"
	"assert root.findtext('policy_published/domain') == dom\n"
	"assert root.findtext('report_metadata/report_id') == rid\n"
	"b, e = int(root.findtext('report_metadata/date_range/begin')), "
	"int(root.findtext('report_metadata/date_range/end'))\n"
	"assert fn == '" RECEIVER "!%s!%d!%d.xml.gz' % (dom, b, e), fn\n"
	"recs = root.findall('record')\n"
	"assert len(recs) == int(nrec), 'records %d' % len(recs)\n"
	"got = sum(int(r.findtext('row/count')) for r in recs)\n"
	"assert got == int(total), 'total %d' % got\n"
	"for r in recs:\n"
	"    assert r.find('auth_results/spf/result') is not None\n"
	"    assert r.findtext('row/policy_evaluated/disposition') in ('none', 'quarantine', 'reject')\n"
	"if len(sys.argv) > 8:\n"
	"    hf = [r.findtext('identifiers/header_from') for r in recs]\n"
	"    assert sys.argv[8] in hf, hf\n"
	"print('readback ok')\n";

/* ---- rows ---- */

struct rowspec {
	long long when;
	const char *ip;
	const char *pd;			/* policy domain */
	enum mg_dmarc_policy p;
	int count;
	int dkim_al, spf_al;
	enum mg_dmarc_disposition dis;
	int sampled_out;
	const char *hf, *ef;
	const char *sig_d, *sig_s;	/* one DKIM result, NULL for none */
	enum mg_dmarc_dkim sig_r;
	const char *spfd;
	int helo;
	enum mg_dmarc_spf spfr;
};

static void
row_of(const struct rowspec *s, struct mg_dmarc_row *r)
{
	memset(r, 0, sizeof(*r));
	r->when = s->when;
	str_lcpy(r->source_ip, s->ip, sizeof(r->source_ip));
	r->count = s->count > 0 ? s->count : 1;
	r->status = s->dkim_al || s->spf_al ? MG_DMARC_PASS : MG_DMARC_FAIL;
	r->disposition = s->dis;
	r->dkim_aligned = s->dkim_al;
	r->spf_aligned = s->spf_al;
	r->sampled_out = s->sampled_out;
	str_lcpy(r->header_from, s->hf, sizeof(r->header_from));
	str_lcpy(r->envelope_from, s->ef, sizeof(r->envelope_from));
	if (s->sig_d != NULL) {
		str_lcpy(r->dkim[0].domain, s->sig_d, sizeof(r->dkim[0].domain));
		str_lcpy(r->dkim[0].selector, s->sig_s, sizeof(r->dkim[0].selector));
		r->dkim[0].result = s->sig_r;
		r->n_dkim = 1;
	}
	str_lcpy(r->spf_domain, s->spfd, sizeof(r->spf_domain));
	r->spf_is_helo = s->helo;
	r->spf_result = s->spfr;
	str_lcpy(r->policy_domain, s->pd, sizeof(r->policy_domain));
	r->p = s->p;
	r->sp = s->pd[0] != '\0' ? MG_DMARC_POLICY_QUARANTINE : MG_DMARC_POLICY_UNSET;
	r->pct = 100;
	r->adkim = s->pd[0] != '\0' ? 'r' : '\0';
	r->aspf = s->pd[0] != '\0' ? 's' : '\0';
	str_lcpy(r->fo, s->pd[0] != '\0' ? "1" : "", sizeof(r->fo));
}

#define R MG_DMARC_POLICY_REJECT
#define N MG_DMARC_POLICY_NONE
#define DN MG_DMARC_DIS_NONE
#define DR MG_DMARC_DIS_REJECT
#define DQ MG_DMARC_DIS_QUARANTINE
#define KP MG_DMARC_DKIM_PASS
#define KF MG_DMARC_DKIM_FAIL
#define SPASS MG_DMARC_SPF_PASS
#define SSOFT MG_DMARC_SPF_SOFTFAIL
#define SNONE MG_DMARC_SPF_NONE

/* Each spec repeated `times`. */
static const struct { int times; struct rowspec s; } day_rows[] = {
	{ 5, { DAY0 + 10, "192.0.2.1", "example.com", R, 1, 1, 1, DN, 0, "example.com",
	  "example.com", "example.com", "s1", KP, "example.com", 0, SPASS } },
	{ 3, { DAY0 + 3600, "192.0.2.1", "example.com", R, 1, 0, 0, DR, 0, "example.com",
	  "example.com", "example.com", "s1", KF, "example.com", 0, SSOFT } },
	{ 2, { DAY0 + 7200, "2001:db8::25", "example.com", R, 1, 1, 0, DN, 0, "example.com",
	  "bounce.example.net", "example.com", "s2", KP, "bounce.example.net", 0, SPASS } },
	{ 1, { DAY0 + 7300, "2001:DB8:0::25", "example.com", R, 1, 1, 0, DN, 0, "example.com",
	  "bounce.example.net", "example.com", "s2", KP, "bounce.example.net", 0, SPASS } },
	{ 1, { DAY0 + 9000, "::ffff:198.51.100.7", "example.com", R, 1, 0, 0, DR, 0,
	  "example.com", "", NULL, NULL, 0, "helo.example.org", 1, SNONE } },
	{ 1, { DAY0 + 9100, "203.0.113.9", "example.com", R, 1, 0, 0, DN, 1, "example.com",
	  "example.com", NULL, NULL, 0, "example.com", 0, SSOFT } },
	{ 1, { DAY0 + 86399, "203.0.113.10", "example.com", R, 4, 1, 1, DN, 0, "example.com",
	  "example.com", "example.com", "s1", KP, "example.com", 0, SPASS } },
	/* the same domain after it changed its policy: its own report */
	{ 1, { DAY0 + 50000, "192.0.2.1", "example.com", N, 1, 0, 0, DN, 0, "example.com",
	  "example.com", NULL, NULL, 0, "example.com", 0, SSOFT } },
	{ 1, { DAY0 + 50001, "192.0.2.2", "example.com", N, 1, 1, 1, DN, 0, "example.com",
	  "example.com", "example.com", "s1", KP, "example.com", 0, SPASS } },
	/* not counted: another day, no policy record, not an IP address */
	{ 1, { DAY0 - 1, "192.0.2.1", "example.com", R, 1, 1, 1, DN, 0, "example.com",
	  "example.com", NULL, NULL, 0, "example.com", 0, SPASS } },
	{ 1, { DAY0 + 86400, "192.0.2.1", "example.com", R, 1, 1, 1, DN, 0, "example.com",
	  "example.com", NULL, NULL, 0, "example.com", 0, SPASS } },
	{ 1, { DAY0 + 5, "192.0.2.1", "", R, 1, 1, 1, DN, 0, "nopolicy.example",
	  "nopolicy.example", NULL, NULL, 0, "nopolicy.example", 0, SPASS } },
	{ 1, { DAY0 + 5, "not-an-ip", "example.com", R, 1, 1, 1, DN, 0, "example.com",
	  "example.com", NULL, NULL, 0, "example.com", 0, SPASS } },
};

/* Builds the day's aggregate: day_rows, then ten example.org rows from ten IPv4 addresses, all
 * through their stored text form; reverse adds everything in the opposite order. */
static void
build_day(struct mg_dmarc_agg *a, int reverse)
{
	struct buf line;
	struct mg_dmarc_row r;
	const char *error;
	size_t n = sizeof(day_rows) / sizeof(day_rows[0]);

	mg_dmarc_agg_init(a, DAY0 + 12345);
	buf_init(&line, MG_DMARC_ROW_MAX + 1);
	for (size_t k = 0; k < n + 10; k++) {
		size_t i = reverse ? n + 10 - 1 - k : k;
		char ip[32];

		if (i >= n) {
			struct rowspec s = { DAY0 + 100, ip, "example.org", N, 1, 0, 1, DN, 0,
			    "example.org", "example.org", "example.org", "sel", KF, "example.org",
			    0, SPASS };

			str_fmt(ip, sizeof(ip), "198.51.100.%zu", 20 + i - n);
			row_of(&s, &r);
			buf_reset(&line);
			CHECK(mg_dmarc_row_format(&r, &line) == 0, "format");
			(void)mg_dmarc_agg_add_line(a, line.data, line.len, &error);
			continue;
		}
		row_of(&day_rows[i].s, &r);
		buf_reset(&line);
		CHECK(mg_dmarc_row_format(&r, &line) == 0, "format");
		for (int t = 0; t < day_rows[i].times; t++)
			(void)mg_dmarc_agg_add_line(a, line.data, line.len, &error);
	}
	CHECK(mg_dmarc_agg_add_line(a, "mgdmarc1 t=x", 12, &error) == -1, "bad line accepted");
	buf_free(&line);
	mg_dmarc_agg_finish(a, RECEIVER);
}

static const struct mg_dmarc_agg_meta meta = { "Receiver & Co <Test>", "dmarc@receiver.example",
	"https://receiver.example/dmarc", RECEIVER, "dmarc-reports@receiver.example",
	DAY0 + 86400 + 3600 };

/* Writes r's XML, gzip and message, validates the XML, runs the Python read-back. */
static void
check_report(const struct mg_dmarc_agg *a, const struct mg_dmarc_agg_report *r, size_t nrec,
    unsigned long long total, const char *must_hf)
{
	struct buf xml, gz, msg;
	const char *error = NULL, *to[] = { "d@example.com", "r@reports.example.net" };
	char xf[128], gf[128], mf[128], sn[32], st[32], *out = NULL;
	int rc;

	buf_init(&xml, MG_DMARC_AGG_XML_MAX);
	buf_init(&gz, MG_DMARC_AGG_XML_MAX);
	buf_init(&msg, MG_DMARC_AGG_MSG_MAX);
	CHECK(mg_dmarc_agg_xml(a, r, &meta, &xml, &error) == 0, "xml: %s", error ? error : "?");
	CHECK(mg_dmarc_agg_gzip(xml.data, xml.len, &gz) == 0, "gzip");
	CHECK(mg_dmarc_agg_message(a, r, &meta, &gz, to, 2, &msg, &error) == 0, "message: %s",
	    error ? error : "?");
	str_fmt(xf, sizeof(xf), "%s/%s.xml", tmpdir, r->report_id);
	str_fmt(gf, sizeof(gf), "%s/%s.xml.gz", tmpdir, r->report_id);
	str_fmt(mf, sizeof(mf), "%s/%s.eml", tmpdir, r->report_id);
	CHECK(write_file(xf, xml.data, xml.len) == 0 && write_file(gf, gz.data, gz.len) == 0 &&
	    write_file(mf, msg.data, msg.len) == 0, "write files");
	rc = xmllint(xf, &out);
	CHECK(rc == 0, "%s: xmllint says (%d): %s", r->policy_domain, rc, out ? out : "?");
	xfree(out);
	str_fmt(sn, sizeof(sn), "%zu", nrec);
	str_fmt(st, sizeof(st), "%llu", total);
	{
		char *argv[] = { "python3", "-c", (char *)readback_py, xf, gf, mf,
			(char *)r->policy_domain, sn, st, (char *)r->report_id, (char *)must_hf,
			NULL };

		rc = run(argv, &out);
		CHECK(rc == 0, "%s: python read-back (%d): %s", r->policy_domain, rc,
		    out ? out : "?");
		xfree(out);
	}
	/* every body line of the message fits 78 octets */
	const char *body = msg.data != NULL ? strstr(msg.data, "\r\n\r\n") : NULL;

	for (const char *p = body; p != NULL && *p != '\0';) {
		const char *e = strstr(p, "\r\n");
		size_t len = e != NULL ? (size_t)(e - p) : strlen(p);

		CHECK(len <= 78, "%s: body line of %zu octets", r->policy_domain, len);
		p = e != NULL ? e + 2 : NULL;
	}
	buf_free(&xml);
	buf_free(&gz);
	buf_free(&msg);
}

/* ---- cases ---- */

static void
test_ip_form(void)
{
	static const struct { const char *in, *want; } c[] = {
		{ "192.0.2.1", "192.0.2.1" },
		{ "2001:db8::1", "2001:db8:0:0:0:0:0:1" },
		{ "2001:DB8:0:0:0:0:0:1", "2001:db8:0:0:0:0:0:1" },
		{ "::", "0:0:0:0:0:0:0:0" },
		{ "fe80::ffff:1:2", "fe80:0:0:0:0:ffff:1:2" },
		{ "::ffff:192.0.2.7", "192.0.2.7" },
		{ "::192.0.2.7", "0:0:0:0:0:0:c000:207" },
		{ "1.2.3", NULL }, { "", NULL }, { "1.2.3.4<x>", NULL }, { "256.1.1.1", NULL },
		{ "2001:db8::1%eth0", NULL }, { " 192.0.2.1", NULL },
	};
	char out[MG_DMARC_IP_MAX + 1];

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int r = mg_dmarc_ip_report_form(c[i].in, out, sizeof(out));

		if (c[i].want == NULL)
			CHECK(r == -1, "%s: got %s, want refused", c[i].in, out);
		else
			CHECK(r == 0 && strcmp(out, c[i].want) == 0, "%s: got %s, want %s",
			    c[i].in, r == 0 ? out : "refused", c[i].want);
	}
	CHECK_INT(mg_dmarc_ip_report_form("192.0.2.1", out, 8), -1);
}

static void
test_aggregate(void)
{
	struct mg_dmarc_agg a;

	build_day(&a, 0);
	CHECK_INT(a.begin, DAY0);
	CHECK_INT(a.end, DAY0 + 86399);
	CHECK_INT(a.n_rep, 3);
	CHECK_INT(a.rows, 5 + 3 + 2 + 1 + 1 + 1 + 1 + 2 + 10);
	CHECK_INT(a.skipped, 4);
	CHECK_INT(a.bad, 1);
	CHECK_INT(a.dropped, 0);
	if (a.n_rep == 3) {
		const struct mg_dmarc_agg_report *none = &a.rep[0], *rej = &a.rep[1];

		CHECK_STR(none->policy_domain, "example.com");
		CHECK_INT(none->p, MG_DMARC_POLICY_NONE);
		CHECK_INT(none->n_rec, 2);
		CHECK_INT(none->messages, 2);
		CHECK_STR(rej->policy_domain, "example.com");
		CHECK_INT(rej->p, MG_DMARC_POLICY_REJECT);
		/* pass, fail, IPv6 (two spellings), mapped IPv4, sampled_out, counted 4 */
		CHECK_INT(rej->n_rec, 6);
		CHECK_INT(rej->messages, 5 + 3 + 3 + 1 + 1 + 4);
		CHECK_STR(a.rep[2].policy_domain, "example.org");
		CHECK_INT(a.rep[2].n_rec, 10);
		CHECK_INT(a.rep[2].messages, 10);
		CHECK(strcmp(none->report_id, rej->report_id) != 0, "report ids collide");
		CHECK(strncmp(rej->report_id, "1700006400.example.com.", 23) == 0, "id %s",
		    rej->report_id);
		for (size_t i = 0; i < rej->n_rec; i++) {
			const char *k = rej->rec[i].key;
			unsigned long long want = strstr(k, "ip=2001:db8:0:0:0:0:0:25") ? 3 :
			    strstr(k, "ip=203.0.113.10") ? 4 : strstr(k, "dkim=fail spf=fail") &&
			    strstr(k, "ip=192.0.2.1 ") ? 3 : strstr(k, "ip=192.0.2.1 ") ? 5 : 1;

			CHECK(rej->rec[i].count == want, "%s: count %llu, want %llu", k,
			    rej->rec[i].count, want);
		}
		check_report(&a, none, 2, 2, NULL);
		check_report(&a, rej, 6, 17, "example.com");
		check_report(&a, &a.rep[2], 10, 10, "example.org");
	}
	mg_dmarc_agg_clear(&a);
	CHECK_INT(a.n_rep, 0);
}

static void
test_reproducible(void)
{
	struct mg_dmarc_agg a, b;

	build_day(&a, 0);
	build_day(&b, 1);
	CHECK_INT(a.n_rep, b.n_rep);
	for (size_t i = 0; i < a.n_rep && i < b.n_rep; i++) {
		struct buf xa, xb, ga, gb;
		const char *error;

		buf_init(&xa, MG_DMARC_AGG_XML_MAX);
		buf_init(&xb, MG_DMARC_AGG_XML_MAX);
		buf_init(&ga, MG_DMARC_AGG_XML_MAX);
		buf_init(&gb, MG_DMARC_AGG_XML_MAX);
		CHECK_STR(a.rep[i].report_id, b.rep[i].report_id);
		CHECK(mg_dmarc_agg_xml(&a, &a.rep[i], &meta, &xa, &error) == 0 &&
		    mg_dmarc_agg_xml(&b, &b.rep[i], &meta, &xb, &error) == 0, "xml");
		CHECK(xa.len == xb.len && memcmp(xa.data, xb.data, xa.len) == 0,
		    "report %zu differs with the rows in another order", i);
		CHECK(mg_dmarc_agg_gzip(xa.data, xa.len, &ga) == 0 &&
		    mg_dmarc_agg_gzip(xb.data, xb.len, &gb) == 0, "gzip");
		CHECK(ga.len == gb.len && memcmp(ga.data, gb.data, ga.len) == 0, "gzip differs");
		buf_free(&xa);
		buf_free(&xb);
		buf_free(&ga);
		buf_free(&gb);
	}
	/* another receiver name gives other report ids */
	mg_dmarc_agg_finish(&b, "mx2.receiver.example");
	CHECK(a.n_rep > 0 && strcmp(a.rep[0].report_id, b.rep[0].report_id) != 0, "same id");
	mg_dmarc_agg_clear(&a);
	mg_dmarc_agg_clear(&b);
}

static void
test_hostile(void)
{
	struct mg_dmarc_agg a;
	struct mg_dmarc_row r;
	struct rowspec s = { DAY0 + 1, "2001:db8::bad", "example.net", R, 1, 0, 0, DR, 0,
		"<evil>&\"'\x01\xff.example", "a]]>b<!--", "</domain><x>", "</selector><x>",
		KF, "<spf>&amp;", 0, SSOFT };
	struct buf xml;
	const char *error = NULL;

	mg_dmarc_agg_init(&a, DAY0);
	row_of(&s, &r);
	CHECK_INT(mg_dmarc_agg_add(&a, &r, &error), 0);
	s.hf = "b\xc3\xbc" "cher.example";	/* valid UTF-8 stays */
	s.ip = "192.0.2.99";
	row_of(&s, &r);
	CHECK_INT(mg_dmarc_agg_add(&a, &r, &error), 0);
	s.hf = "\xed\xa0\x80x.example\xc3";	/* a surrogate and a cut sequence */
	s.ip = "192.0.2.98";
	row_of(&s, &r);
	CHECK_INT(mg_dmarc_agg_add(&a, &r, &error), 0);
	/* a hostile policy domain or source IP never reaches a report */
	s.pd = "evil<.example";
	row_of(&s, &r);
	CHECK_INT(mg_dmarc_agg_add(&a, &r, &error), -1);
	s.pd = "Example.NET";
	row_of(&s, &r);
	CHECK_INT(mg_dmarc_agg_add(&a, &r, &error), -1);
	s.pd = "example.net";
	s.ip = "1.2.3.4<x>";
	row_of(&s, &r);
	CHECK_INT(mg_dmarc_agg_add(&a, &r, &error), -1);
	CHECK_INT(a.skipped, 3);
	mg_dmarc_agg_finish(&a, RECEIVER);
	CHECK_INT(a.n_rep, 1);
	buf_init(&xml, MG_DMARC_AGG_XML_MAX);
	if (a.n_rep == 1) {
		CHECK(mg_dmarc_agg_xml(&a, &a.rep[0], &meta, &xml, &error) == 0, "xml");
		CHECK(xml.data != NULL && strstr(xml.data, "<evil>") == NULL &&
		    strstr(xml.data, "<x>") == NULL && strstr(xml.data, "<!--") == NULL,
		    "markup leaked: %s", xml.data ? xml.data : "");
		CHECK(xml.data != NULL && strstr(xml.data, "&lt;evil&gt;&amp;\"'??.example"),
		    "escaping: %s", xml.data ? xml.data : "");
		CHECK(xml.data != NULL && strstr(xml.data, "<org_name>Receiver &amp; Co &lt;Test&gt;"),
		    "org_name escaping");
		check_report(&a, &a.rep[0], 3, 3, "<evil>&\"'??.example");
		check_report(&a, &a.rep[0], 3, 3, "b\xc3\xbc" "cher.example");
		check_report(&a, &a.rep[0], 3, 3, "???x.example?");
	}
	buf_free(&xml);
	mg_dmarc_agg_clear(&a);
}

/* The validation is real: a report without a required element fails the schema. */
static void
test_schema_negative(void)
{
	struct mg_dmarc_agg a;
	struct buf xml;
	const char *error = NULL;
	char f[128], *out = NULL, *p, *e;
	int rc;

	build_day(&a, 0);
	buf_init(&xml, MG_DMARC_AGG_XML_MAX);
	CHECK(a.n_rep > 0 && mg_dmarc_agg_xml(&a, &a.rep[0], &meta, &xml, &error) == 0, "xml");
	str_fmt(f, sizeof(f), "%s/negative.xml", tmpdir);
	if (xml.data != NULL && (p = strstr(xml.data, "<header_from>")) != NULL &&
	    (e = strstr(p, "</header_from>")) != NULL) {
		e += strlen("</header_from>");
		memmove(p, e, strlen(e) + 1);
		CHECK(write_file(f, xml.data, strlen(xml.data)) == 0, "write");
		rc = xmllint(f, &out);
		CHECK(rc != 0 && out != NULL && strstr(out, "header_from") != NULL,
		    "xmllint accepted a record without header_from (%d): %s", rc, out ? out : "");
		xfree(out);
	} else {
		CHECK(0, "no header_from in the report");
	}
	buf_free(&xml);
	mg_dmarc_agg_clear(&a);
}

static void
test_limits(void)
{
	struct mg_dmarc_agg a;
	struct mg_dmarc_row r;
	struct rowspec s = { DAY0 + 1, "192.0.2.1", "example.com", R, 1, 1, 1, DN, 0,
		"example.com", "example.com", NULL, NULL, 0, "example.com", 0, SPASS };
	const char *error;
	char dom[64], ip[64];

	mg_dmarc_agg_init(&a, DAY0);
	for (int i = 0; i <= MG_DMARC_AGG_REPORTS_MAX; i++) {
		str_fmt(dom, sizeof(dom), "d%d.example", i);
		s.pd = dom;
		row_of(&s, &r);
		(void)mg_dmarc_agg_add(&a, &r, &error);
	}
	CHECK_INT(a.n_rep, MG_DMARC_AGG_REPORTS_MAX);
	CHECK_INT(a.dropped, 1);
	s.pd = "d0.example";	/* an existing report still takes rows */
	row_of(&s, &r);
	CHECK_INT(mg_dmarc_agg_add(&a, &r, &error), 0);
	mg_dmarc_agg_clear(&a);

	mg_dmarc_agg_init(&a, DAY0);
	s.pd = "example.com";
	for (int i = 0; i <= MG_DMARC_AGG_RECORDS_MAX; i++) {
		str_fmt(ip, sizeof(ip), "2001:db8::%x:%x", i >> 16, i & 0xffff);
		s.ip = ip;
		row_of(&s, &r);
		(void)mg_dmarc_agg_add(&a, &r, &error);
	}
	CHECK_INT(a.n_records, MG_DMARC_AGG_RECORDS_MAX);
	CHECK_INT(a.dropped, 1);
	CHECK_STR(error, "too many records");
	s.ip = "2001:db8::0:5";	/* an existing record is still counted */
	row_of(&s, &r);
	CHECK_INT(mg_dmarc_agg_add(&a, &r, &error), 0);
	mg_dmarc_agg_finish(&a, RECEIVER);
	CHECK_INT(a.n_rep, 1);
	CHECK_INT(a.rep[0].messages, MG_DMARC_AGG_RECORDS_MAX + 1);
	/* saturating counts */
	a.rep[0].rec[0].count = MG_DMARC_AGG_COUNT_MAX - 1;
	str_lcpy(ip, a.rep[0].rec[0].key + strlen("mgdmarc1 t=0 ip="), sizeof(ip));
	*strchr(ip, ' ') = '\0';
	s.ip = ip;
	s.count = 5;
	row_of(&s, &r);
	CHECK_INT(mg_dmarc_agg_add(&a, &r, &error), 0);
	CHECK_INT(a.rep[0].rec[0].count, MG_DMARC_AGG_COUNT_MAX);
	mg_dmarc_agg_clear(&a);
}

static void
test_message(void)
{
	struct mg_dmarc_agg a;
	struct buf gz, msg;
	const char *error = NULL, *to[] = { "d@example.com" }, *bad[] = { "x@y>\r\nBcc: z@w" };
	char name[600];
	struct mg_dmarc_agg_meta m = meta;

	build_day(&a, 0);
	buf_init(&gz, 1 << 20);
	buf_init(&msg, MG_DMARC_AGG_MSG_MAX);
	CHECK(mg_dmarc_agg_gzip("<x/>", 4, &gz) == 0, "gzip");
	CHECK_INT(mg_dmarc_agg_filename(&a, &a.rep[1], RECEIVER, name, sizeof(name)), 0);
	CHECK_STR(name, RECEIVER "!example.com!1700006400!1700092799.xml.gz");
	CHECK_INT(mg_dmarc_agg_filename(&a, &a.rep[1], "Bad Host", name, sizeof(name)), -1);
	CHECK_INT(mg_dmarc_agg_filename(&a, &a.rep[1], RECEIVER, name, 20), -1);
	CHECK_INT(mg_dmarc_agg_message(&a, &a.rep[1], &meta, &gz, to, 1, &msg, &error), 0);
	CHECK(msg.data != NULL && strstr(msg.data, "\r\nSubject: Report Domain: example.com\r\n"
	    " Submitter: " RECEIVER "\r\n Report-ID: <1700006400.example.com.") != NULL,
	    "subject: %s", msg.data ? msg.data : "");
	CHECK(msg.data != NULL && strstr(msg.data, "Date: Thu, 16 Nov 2023 01:00:00 +0000\r\n"),
	    "date");
	CHECK(msg.data != NULL && strstr(msg.data, "From: <dmarc-reports@receiver.example>\r\n"),
	    "from");
	CHECK_INT(mg_dmarc_agg_message(&a, &a.rep[1], &meta, &gz, bad, 1, &msg, &error), -1);
	CHECK_INT(mg_dmarc_agg_message(&a, &a.rep[1], &meta, &gz, to, 0, &msg, &error), -1);
	m.from = "a b@receiver.example";
	CHECK_INT(mg_dmarc_agg_message(&a, &a.rep[1], &m, &gz, to, 1, &msg, &error), -1);
	m = meta;
	m.receiver = "mx\r\nBcc: x@y";
	CHECK_INT(mg_dmarc_agg_message(&a, &a.rep[1], &m, &gz, to, 1, &msg, &error), -1);
	/* out's max is honoured and out is left as it was */
	buf_free(&msg);
	buf_init(&msg, 200);
	buf_append_str(&msg, "keep");
	CHECK_INT(mg_dmarc_agg_message(&a, &a.rep[1], &meta, &gz, to, 1, &msg, &error), -1);
	CHECK_STR(msg.data, "keep");
	buf_free(&gz);
	buf_free(&msg);
	mg_dmarc_agg_clear(&a);
}

static void
setup(void)
{
	str_lcpy(tmpdir, "/tmp/mg-agg-XXXXXX", sizeof(tmpdir));
	CHECK(mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno));
	prepare_schema();
}

static void
cleanup(void)
{
	char *argv[] = { "rm", "-rf", tmpdir, NULL }, *out = NULL;

	if (getenv("MG_AGG_KEEP") != NULL)	/* for a look at the generated files */
		printf("# kept %s\n", tmpdir);
	else if (strncmp(tmpdir, "/tmp/mg-agg-", 12) == 0)
		(void)run(argv, &out);
	xfree(out);
}

static const struct unit_case cases[] = {
	{ "setup", setup },
	{ "ip_form", test_ip_form },
	{ "aggregate", test_aggregate },
	{ "reproducible", test_reproducible },
	{ "hostile", test_hostile },
	{ "schema_negative", test_schema_negative },
	{ "limits", test_limits },
	{ "message", test_message },
	{ "cleanup", cleanup },
};

UNIT_MAIN(cases)
