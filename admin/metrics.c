/* metrics.c: the admin role's reader of the role counter segments (common/metrics_seg.h) and the
 * Prometheus text rendering (format 0.0.4), dashboard totals and per-domain totals.
 * Runs on the admin role's loop thread. The segments are files other processes of the daemon
 * write: they are mapped read-only, checked against this binary's layout and the supervisor pid,
 * and their domain names are re-checked (NUL-terminated, bounded) and escaped when rendered.
 * A segment whose file was replaced (a new daemon start) is re-mapped on the next read; the old
 * mapping stays valid until then because writers never truncate a segment (they rename). */
#include "admin/metrics.h"
#include "admin/metrics_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define METRICS_MAX_SEGMENTS 32		/* files in state_dir/stats that we map */

struct mapped_seg {
	char file[64];
	dev_t dev;
	ino_t ino;
	const struct metrics_seg *m;
	int seen;
};

static struct {
	char dir[4096];
	int64_t sup_pid;
	struct mapped_seg segs[METRICS_MAX_SEGMENTS];
	size_t n_segs;
} rd;

static const struct {
	const char *name, *type, *help;
} metric_info[M_METRIC_COUNT_] = {
	[M_SMTP_CONNECTIONS] = { "smtp_connections_total", "counter",
		"Accepted SMTP connections (all listeners)." },
	[M_SMTP_SESSIONS] = { "smtp_sessions", "gauge", "Open SMTP sessions." },
	[M_SMTP_REFUSED_LIMIT] = { "smtp_refused_limit_total", "counter",
		"SMTP connections refused with 421 because of a limit." },
	[M_AUTH_FAILURES] = { "auth_failures_total", "counter", "Failed SMTP AUTH attempts." },
	[M_MESSAGES_OUTBOUND_IN] = { "messages_outbound_in_total", "counter",
		"Outbound messages accepted for relay (250 after DATA)." },
	[M_QUEUE_ACTIVE] = { "queue_active", "gauge", "Messages being delivered." },
	[M_QUEUE_DEFERRED] = { "queue_deferred", "gauge",
		"Messages waiting for a retry (including rate-limited)." },
	[M_QUEUE_HELD] = { "queue_held", "gauge", "Messages on hold." },
	[M_QUEUE_QUARANTINED] = { "queue_quarantined", "gauge", "Messages in quarantine." },
	[M_DKIM_SIGNATURES] = { "dkim_signatures_total", "counter",
		"DKIM-Signature headers made." },
	[M_DKIM_SIGN_FAILURES] = { "dkim_sign_failures_total", "counter",
		"DKIM signing failures." },
	[M_DKIM_ROTATION_ALERTS] = { "dkim_rotation_alerts", "gauge",
		"Domains whose DKIM key switch is withheld because DNS does not publish the new key." },
	[M_TLS_INBOUND] = { "tls_inbound_total", "counter",
		"Completed inbound TLS handshakes (STARTTLS and implicit TLS)." },
	[M_DMARC_REPORTS_STORED] = { "dmarc_reports_stored_total", "counter",
		"Incoming DMARC aggregate reports parsed and stored." },
	[M_DMARC_REPORTS_DUPLICATE] = { "dmarc_reports_duplicate_total", "counter",
		"Incoming DMARC aggregate reports already stored (same reporter and report id)." },
	[M_DMARC_REPORTS_REFUSED] = { "dmarc_reports_refused_total", "counter",
		"Incoming DMARC report mails or files refused (unparseable, over a limit, other domain)." },
	[M_TLS_REPORTS_STORED] = { "tls_reports_stored_total", "counter",
		"Incoming SMTP TLS reports (RFC 8460) parsed and stored." },
	[M_TLS_REPORTS_DUPLICATE] = { "tls_reports_duplicate_total", "counter",
		"Incoming SMTP TLS reports already stored." },
	[M_TLS_REPORTS_REFUSED] = { "tls_reports_refused_total", "counter",
		"Incoming SMTP TLS report mails or files refused." },
};

/* Per-domain families: each MD_* counter is one label value of one family. */
static const struct {
	const char *family, *label, *value;
} dom_info[MD_METRIC_COUNT_] = {
	[MD_IN_DELIVER] = { "inbound_messages_total", "verdict", "deliver" },
	[MD_IN_QUARANTINE] = { "inbound_messages_total", "verdict", "quarantine" },
	[MD_IN_REJECT] = { "inbound_messages_total", "verdict", "reject" },
	[MD_IN_GREYLIST] = { "inbound_messages_total", "verdict", "greylist" },
	[MD_IN_TEMPFAIL] = { "inbound_messages_total", "verdict", "tempfail" },
	[MD_OUT_DELIVERED] = { "delivery_recipients_total", "result", "delivered" },
	[MD_OUT_DEFERRED] = { "delivery_recipients_total", "result", "deferred" },
	[MD_OUT_BOUNCED] = { "delivery_recipients_total", "result", "bounced" },
	[MD_OUT_SENT] = { "outbound_sent_total", NULL, NULL },
};

static const struct {
	const char *family, *help;
} family_help[] = {
	{ "inbound_messages_total", "Inbound messages by protected recipient domain and filter "
	    "verdict (one per recipient domain and transaction)." },
	{ "delivery_recipients_total", "Delivery outcomes by domain (recipient domain inbound, "
	    "sender domain outbound); deferred counts failed attempts." },
	{ "outbound_sent_total", "Outbound recipients delivered to a remote MX, by sender domain." },
};

static const struct {
	const char *name, *help;
} hist_info[MH_METRIC_COUNT_] = {
	[MH_FILTER_SECONDS] = { "filter_seconds", "Filter time per message (check to verdict)." },
	[MH_DNS_SECONDS] = { "dns_seconds", "DNS query latency of the filter's resolver." },
	[MH_DELIVERY_SECONDS] = { "delivery_seconds", "Duration of one delivery transaction." },
};

void
metrics_reader_init(const char *state_dir, int64_t sup_pid)
{
	metrics_reader_close();
	if (str_fmt(rd.dir, sizeof(rd.dir), "%s/stats", state_dir) < 0)
		rd.dir[0] = '\0';
	rd.sup_pid = sup_pid;
}

int64_t
metrics_reader_sup_pid(void)
{
	return rd.sup_pid;
}

void
metrics_reader_close(void)
{
	for (size_t i = 0; i < rd.n_segs; i++)
		munmap((void *)rd.segs[i].m, sizeof(struct metrics_seg));
	rd.n_segs = 0;
}

/* Maps dir/file read-only when it is a segment of our layout; NULL otherwise. */
static const struct metrics_seg *
seg_map(int dfd, const char *file, struct stat *st)
{
	const struct metrics_seg *m;
	int fd;

	if ((fd = openat(dfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return NULL;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) ||
	    (uint64_t)st->st_size != sizeof(struct metrics_seg)) {
		close(fd);
		return NULL;
	}
	m = mmap(NULL, sizeof(*m), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return NULL;
	if (!metrics_seg_layout_ok(&m->h)) {
		munmap((void *)m, sizeof(*m));
		return NULL;
	}
	return m;
}

/* Brings rd.segs up to date with the directory: maps new or replaced files, drops gone ones. */
static void
seg_refresh(void)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	size_t i;

	for (i = 0; i < rd.n_segs; i++)
		rd.segs[i].seen = 0;
	if (rd.dir[0] != '\0' && (d = opendir(rd.dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			size_t n = strlen(de->d_name);

			if (n <= 6 || n >= sizeof(rd.segs[0].file) || de->d_name[0] == '.' ||
			    strcmp(de->d_name + n - 6, ".stats") != 0 ||
			    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			for (i = 0; i < rd.n_segs; i++)
				if (strcmp(rd.segs[i].file, de->d_name) == 0)
					break;
			if (i < rd.n_segs && rd.segs[i].dev == st.st_dev &&
			    rd.segs[i].ino == st.st_ino) {
				rd.segs[i].seen = 1;
				continue;
			}
			if (i < rd.n_segs) {	/* replaced: drop the old mapping */
				munmap((void *)rd.segs[i].m, sizeof(struct metrics_seg));
				rd.segs[i] = rd.segs[--rd.n_segs];
			}
			if (rd.n_segs == METRICS_MAX_SEGMENTS)
				continue;
			struct mapped_seg *s = &rd.segs[rd.n_segs];
			if ((s->m = seg_map(dirfd(d), de->d_name, &st)) == NULL)
				continue;
			str_lcpy(s->file, de->d_name, sizeof(s->file));
			s->dev = st.st_dev;
			s->ino = st.st_ino;
			s->seen = 1;
			rd.n_segs++;
		}
		closedir(d);
	}
	for (i = 0; i < rd.n_segs;) {
		if (rd.segs[i].seen) {
			i++;
			continue;
		}
		munmap((void *)rd.segs[i].m, sizeof(struct metrics_seg));
		rd.segs[i] = rd.segs[--rd.n_segs];
	}
}

/* Appends the ready domain slots of m (and its "other" slot) to the view's array. */
static void
view_add_domains(struct metrics_view *v, size_t *cap, const struct metrics_seg *m)
{
	for (size_t i = 0; i <= METRICS_DOMAIN_SLOTS; i++) {
		const struct metrics_dom_slot *s = i == 0 ? &m->other : &m->dom[i - 1];
		struct metrics_dom_total *d;
		size_t len;

		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != METRICS_SLOT_READY)
			continue;
		len = strnlen(s->name, sizeof(s->name));
		if (len == 0 || len == sizeof(s->name))
			continue;	/* never written by us: ignore */
		if (v->n_dom == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			v->dom = xreallocarray(v->dom, *cap, sizeof(*v->dom));
		}
		d = &v->dom[v->n_dom++];
		memcpy(d->name, s->name, len);
		d->name[len] = '\0';
		for (int k = 0; k < MD_METRIC_COUNT_; k++)
			d->v[k] = __atomic_load_n(&s->v[k], __ATOMIC_RELAXED);
	}
}

static int
dom_cmp(const void *a, const void *b)
{
	return strcmp(((const struct metrics_dom_total *)a)->name,
	    ((const struct metrics_dom_total *)b)->name);
}

/* Sorts the domains and merges entries of one name (several roles count the same domain). */
static void
view_merge_domains(struct metrics_view *v)
{
	size_t out = 0;

	if (v->n_dom == 0)
		return;
	qsort(v->dom, v->n_dom, sizeof(*v->dom), dom_cmp);
	for (size_t i = 1; i < v->n_dom; i++) {
		if (strcmp(v->dom[i].name, v->dom[out].name) == 0) {
			for (int k = 0; k < MD_METRIC_COUNT_; k++)
				v->dom[out].v[k] += v->dom[i].v[k];
		} else {
			v->dom[++out] = v->dom[i];
		}
	}
	v->n_dom = out + 1;
}

void
metrics_view_read(struct metrics_view *v)
{
	size_t cap = 0;

	memset(v, 0, sizeof(*v));
	seg_refresh();
	for (size_t i = 0; i < rd.n_segs; i++) {
		const struct metrics_seg *m = rd.segs[i].m;

		if (m->h.sup_pid != rd.sup_pid)
			continue;	/* left by an earlier daemon; its role has not started yet */
		v->n_segments++;
		for (int k = 0; k < M_METRIC_COUNT_; k++)
			v->v[k] += __atomic_load_n(&m->v[k], __ATOMIC_RELAXED);
		for (int h = 0; h < MH_METRIC_COUNT_; h++) {
			for (int b = 0; b <= METRICS_BUCKETS; b++)
				v->hist[h].bucket[b] +=
				    __atomic_load_n(&m->hist[h].bucket[b], __ATOMIC_RELAXED);
			v->hist[h].sum_ns += __atomic_load_n(&m->hist[h].sum_ns, __ATOMIC_RELAXED);
		}
		view_add_domains(v, &cap, m);
	}
	view_merge_domains(v);
}

void
metrics_view_free(struct metrics_view *v)
{
	xfree(v->dom);
	v->dom = NULL;
	v->n_dom = 0;
}

/* A label value in the text format: backslash, double quote and line feed escaped. */
static void
label_esc(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			buf_append_str(out, "\\\\");
		else if (*s == '"')
			buf_append_str(out, "\\\"");
		else if (*s == '\n')
			buf_append_str(out, "\\n");
		else
			buf_append_char(out, *s);
	}
}

static void
render_plain(const struct metrics_view *v, struct buf *out)
{
	for (int k = 0; k < M_METRIC_COUNT_; k++) {
		const char *type = metric_info[k].type;

		buf_printf(out, "# HELP mailguard_%s %s\n# TYPE mailguard_%s %s\n",
		    metric_info[k].name, metric_info[k].help, metric_info[k].name, type);
		if (strcmp(type, "gauge") == 0)
			buf_printf(out, "mailguard_%s %lld\n", metric_info[k].name,
			    (long long)(int64_t)v->v[k]);
		else
			buf_printf(out, "mailguard_%s %llu\n", metric_info[k].name,
			    (unsigned long long)v->v[k]);
	}
}

static void
render_domains(const struct metrics_view *v, struct buf *out)
{
	for (size_t f = 0; f < sizeof(family_help) / sizeof(family_help[0]); f++) {
		const char *fam = family_help[f].family;

		buf_printf(out, "# HELP mailguard_%s %s\n# TYPE mailguard_%s counter\n", fam,
		    family_help[f].help, fam);
		for (size_t d = 0; d < v->n_dom; d++) {
			for (int k = 0; k < MD_METRIC_COUNT_; k++) {
				if (strcmp(dom_info[k].family, fam) != 0)
					continue;
				buf_printf(out, "mailguard_%s{domain=\"", fam);
				label_esc(out, v->dom[d].name);
				if (dom_info[k].label != NULL)
					buf_printf(out, "\",%s=\"%s", dom_info[k].label,
					    dom_info[k].value);
				buf_printf(out, "\"} %llu\n", (unsigned long long)v->dom[d].v[k]);
			}
		}
	}
}

static void
render_hist(const struct metrics_view *v, struct buf *out)
{
	for (int h = 0; h < MH_METRIC_COUNT_; h++) {
		const char *n = hist_info[h].name;
		unsigned long long cum = 0;

		buf_printf(out, "# HELP mailguard_%s %s\n# TYPE mailguard_%s histogram\n", n,
		    hist_info[h].help, n);
		for (int b = 0; b < METRICS_BUCKETS; b++) {
			cum += v->hist[h].bucket[b];
			buf_printf(out, "mailguard_%s_bucket{le=\"%g\"} %llu\n", n,
			    metrics_bucket_bounds[b], cum);
		}
		cum += v->hist[h].bucket[METRICS_BUCKETS];
		buf_printf(out, "mailguard_%s_bucket{le=\"+Inf\"} %llu\n", n, cum);
		buf_printf(out, "mailguard_%s_sum %.9f\n", n, (double)v->hist[h].sum_ns / 1e9);
		buf_printf(out, "mailguard_%s_count %llu\n", n, cum);
	}
}

void
metrics_view_render(const struct metrics_view *v, struct buf *out)
{
	render_plain(v, out);
	render_domains(v, out);
	render_hist(v, out);
}

void
admin_metrics_render(struct buf *out)
{
	struct metrics_view v;

	metrics_view_read(&v);
	metrics_view_render(&v, out);
	metrics_view_free(&v);
}

void
admin_metrics_totals(struct admin_totals *t)
{
	struct metrics_view v;
	unsigned long long s[MD_METRIC_COUNT_] = { 0 };

	metrics_view_read(&v);
	for (size_t d = 0; d < v.n_dom; d++)
		for (int k = 0; k < MD_METRIC_COUNT_; k++)
			s[k] += v.dom[d].v[k];
	memset(t, 0, sizeof(*t));
	t->in_deliver = s[MD_IN_DELIVER];
	t->in_quarantine = s[MD_IN_QUARANTINE];
	t->in_reject = s[MD_IN_REJECT];
	t->in_greylist = s[MD_IN_GREYLIST];
	t->in_tempfail = s[MD_IN_TEMPFAIL];
	t->out_delivered = s[MD_OUT_DELIVERED];
	t->out_deferred = s[MD_OUT_DEFERRED];
	t->out_bounced = s[MD_OUT_BOUNCED];
	t->out_sent = s[MD_OUT_SENT];
	t->connections = v.v[M_SMTP_CONNECTIONS];
	t->sessions = (int64_t)v.v[M_SMTP_SESSIONS];
	t->queue_active = (int64_t)v.v[M_QUEUE_ACTIVE];
	t->queue_deferred = (int64_t)v.v[M_QUEUE_DEFERRED];
	t->queue_held = (int64_t)v.v[M_QUEUE_HELD];
	t->queue_quarantined = (int64_t)v.v[M_QUEUE_QUARANTINED];
	t->dkim_rotation_alerts = (int64_t)v.v[M_DKIM_ROTATION_ALERTS];
	metrics_view_free(&v);
}

size_t
admin_metrics_domains(struct admin_domain_totals *out, size_t max)
{
	struct metrics_view v;
	size_t n = 0;

	metrics_view_read(&v);
	for (size_t d = 0; d < v.n_dom && n < max; d++, n++) {
		memset(&out[n], 0, sizeof(out[n]));
		str_lcpy(out[n].domain, v.dom[d].name, sizeof(out[n].domain));
		for (int k = 0; k < MD_METRIC_COUNT_; k++)
			out[n].v[k] = v.dom[d].v[k];
	}
	metrics_view_free(&v);
	return n;
}
