/* ops_parse.c: parsers of the control replies the console's queue and DKIM pages show:
 * `mailguardctl queue list|show QID` (queue/ctl.c) and `mailguardctl dkim status` (dkim/
 * signer_ctl.c). Admin role, loop thread; pure functions, no I/O. The text comes from our own
 * roles but carries mail-controlled strings (addresses, diagnostics, headers; sanitised by the
 * queue role), so every line and count is capped (admin/ops.h) and unknown lines are skipped:
 * a newer queue or signer adding a line must not break the page. */
#include <string.h>
#include <strings.h>

#include "admin/ops.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

/* Next line of [*p, end): sets *line and *llen (without CR LF), advances *p. 0 at the end. */
static int
next_line(const char **p, const char *end, const char **line, size_t *llen)
{
	const char *s = *p, *nl;

	if (s >= end)
		return 0;
	nl = memchr(s, '\n', (size_t)(end - s));
	*line = s;
	*llen = nl ? (size_t)(nl - s) : (size_t)(end - s);
	*p = nl ? nl + 1 : end;
	if (*llen > 0 && s[*llen - 1] == '\r')
		(*llen)--;
	return 1;
}

static int
has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(s, prefix, n) == 0;
}

/* Copies the value after "key=" up to the next blank of line into dst. 0 or -1 when absent. */
static int
field(const char *line, const char *key, char *dst, size_t size)
{
	const char *v = strstr(line, key), *e;
	size_t n;

	if (v == NULL)
		return -1;
	v += strlen(key);
	e = strchr(v, ' ');
	n = e ? (size_t)(e - v) : strlen(v);
	if (n >= size)
		return -1;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

int
ops_qid_is_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'z') ||
		    (s[n] >= 'A' && s[n] <= 'Z')) || n >= 39)
			return 0;
	return n > 0;
}

int
ops_domain_is_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'z') || s[n] == '-' ||
		    s[n] == '.') || n >= 253)
			return 0;
	return n > 0 && s[0] != '.' && s[0] != '-' && strstr(s, "..") == NULL;
}

static void
qmsg_clear(struct ops_qmsg *m)
{
	for (size_t i = 0; i < m->n_rcpts; i++) {
		xfree(m->rcpts[i].addr);
		xfree(m->rcpts[i].diag);
	}
	for (size_t i = 0; i < m->n_headers; i++)
		xfree(m->headers[i]);
	xfree(m->rcpts);
	xfree(m->headers);
	xfree(m->sender);
	xfree(m->error);
	memset(m, 0, sizeof(*m));
}

void
ops_queue_free(struct ops_queue *q)
{
	for (size_t i = 0; i < q->n; i++)
		qmsg_clear(&q->msgs[i]);
	xfree(q->msgs);
	q->msgs = NULL;
	q->n = 0;
}

/* "QID STATE size=N arrival=T attempts=N next=T from=<ADDR>" or "QID unreadable envelope: E". */
static int
parse_msg_line(const char *line, struct ops_qmsg *m)
{
	char word[40], num[24];
	const char *sp = strchr(line, ' '), *from, *r;
	long long v;
	const char *err;

	if (sp == NULL || (size_t)(sp - line) >= sizeof(m->qid))
		return -1;
	memcpy(m->qid, line, (size_t)(sp - line));
	m->qid[sp - line] = '\0';
	if (!ops_qid_is_valid(m->qid))
		return -1;
	if (strncmp(sp + 1, "unreadable envelope:", 20) == 0) {
		m->error = xstrdup(sp + 1);
		m->sender = xstrdup("");
		return 0;
	}
	while (*sp == ' ')
		sp++;
	r = strchr(sp, ' ');
	if (r == NULL || (size_t)(r - sp) >= sizeof(m->state))
		return -1;
	memcpy(m->state, sp, (size_t)(r - sp));
	m->state[r - sp] = '\0';
	if (field(r, " size=", num, sizeof(num)) < 0 || strnum_ll(num, 0, 1LL << 50, &v, &err) < 0)
		return -1;
	m->size = v;
	if (field(r, " attempts=", word, sizeof(word)) < 0 ||
	    strnum_ll(word, 0, 1000000, &v, &err) < 0)
		return -1;
	m->attempts = (int)v;
	if (field(r, " arrival=", m->arrival, sizeof(m->arrival)) < 0 ||
	    field(r, " next=", m->next, sizeof(m->next)) < 0)
		return -1;
	/* from=<...> is last; the address may hold blanks, so take up to the final '>' */
	if ((from = strstr(r, " from=<")) == NULL || (r = strrchr(from, '>')) == NULL ||
	    r[1] != '\0')
		return -1;
	m->sender = xstrndup(from + 7, (size_t)(r - (from + 7)));
	return 0;
}

static int
is_rcpt_state(const char *s, size_t *len_r)
{
	static const char *const states[] = { "pending", "delivered", "failed", "bounced" };

	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		size_t n = strlen(states[i]);

		if (strncmp(s, states[i], n) == 0 && (s[n] == '\0' || s[n] == ' ')) {
			*len_r = n;
			return 1;
		}
	}
	return 0;
}

/* "    to=<ADDR> STATE[ dsn=X][ (DIAG)]" */
static int
parse_rcpt_line(const char *line, struct ops_qmsg *m)
{
	const char *a = line + 8, *gt;
	struct ops_qrcpt *r;
	size_t n = 0;

	if (m->n_rcpts >= OPS_QUEUE_RCPTS_MAX)
		return -1;
	for (gt = strstr(a, "> "); gt != NULL; gt = strstr(gt + 1, "> "))
		if (is_rcpt_state(gt + 2, &n))
			break;
	if (gt == NULL)
		return -1;
	m->rcpts = xreallocarray(m->rcpts, m->n_rcpts + 1, sizeof(*m->rcpts));
	r = &m->rcpts[m->n_rcpts++];
	memset(r, 0, sizeof(*r));
	r->addr = xstrndup(a, (size_t)(gt - a));
	memcpy(r->state, gt + 2, n);
	r->state[n] = '\0';
	a = gt + 2 + n;
	if (strncmp(a, " dsn=", 5) == 0) {
		const char *e = strchr(a + 5, ' ');
		size_t dl = e ? (size_t)(e - (a + 5)) : strlen(a + 5);

		if (dl < sizeof(r->dsn)) {
			memcpy(r->dsn, a + 5, dl);
			r->dsn[dl] = '\0';
		}
		a = e ? e : a + 5 + dl;
	}
	if (strncmp(a, " (", 2) == 0) {
		size_t dl = strlen(a + 2);

		if (dl > 0 && a[2 + dl - 1] == ')')
			dl--;
		r->diag = xstrndup(a + 2, dl);
	}
	return 0;
}

static void
add_header(struct ops_qmsg *m, const char *line)
{
	/* folded lines start with a blank; the queue role prints a TAB as \x09 (sanitize) */
	size_t fold = line[0] == ' ' || line[0] == '\t' ? 1 : strncmp(line, "\\x09", 4) == 0 ? 4 : 0;

	if (m->n_headers > 0 && fold > 0) {
		char *prev = m->headers[m->n_headers - 1];

		if (strlen(prev) < OPS_LINE_MAX) {
			m->headers[m->n_headers - 1] = xasprintf("%s %s", prev, line + fold);
			xfree(prev);
		}
		return;
	}
	if (m->n_headers >= OPS_HEADERS_MAX)
		return;
	m->headers = xreallocarray(m->headers, m->n_headers + 1, sizeof(*m->headers));
	m->headers[m->n_headers++] = xstrdup(line);
}

int
ops_queue_parse(const char *text, size_t len, struct ops_queue *q, const char **error_r)
{
	const char *p = text, *end = text + len, *l;
	char line[OPS_LINE_MAX + 1];
	size_t ll;
	int in_headers = 0;

	memset(q, 0, sizeof(*q));
	if (len > OPS_TEXT_MAX) {
		*error_r = "queue reply too long";
		return -1;
	}
	while (next_line(&p, end, &l, &ll)) {
		struct ops_qmsg *m = q->n ? &q->msgs[q->n - 1] : NULL;

		if (ll > OPS_LINE_MAX || memchr(l, '\0', ll) != NULL) {
			*error_r = "overlong or binary line in the queue reply";
			goto fail;
		}
		memcpy(line, l, ll);
		line[ll] = '\0';
		if (ll == 0)
			continue;
		if (strcmp(line, "-- headers:") == 0) {
			in_headers = 1;
		} else if (has_prefix(line, ll, "-- ")) {
			in_headers = 0;		/* "-- N message(s) in the queue" */
		} else if (has_prefix(line, ll, "error: ")) {
			*error_r = "the queue refused the request";
			goto fail;
		} else if (in_headers && m != NULL) {
			add_header(m, line);
		} else if (has_prefix(line, ll, "    to=<")) {
			if (m == NULL || parse_rcpt_line(line, m) < 0) {
				*error_r = "malformed recipient line in the queue reply";
				goto fail;
			}
		} else if (line[0] != ' ') {
			if (q->n >= OPS_QUEUE_MSGS_MAX) {
				*error_r = "too many messages in the queue reply";
				goto fail;
			}
			q->msgs = xreallocarray(q->msgs, q->n + 1, sizeof(*q->msgs));
			m = &q->msgs[q->n++];
			memset(m, 0, sizeof(*m));
			if (parse_msg_line(line, m) < 0) {
				*error_r = "malformed message line in the queue reply";
				goto fail;
			}
		}
	}
	return 0;
fail:
	ops_queue_free(q);
	return -1;
}

const char *
ops_qmsg_header(const struct ops_qmsg *m, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < m->n_headers; i++) {
		const char *h = m->headers[i];

		if (strncasecmp(h, name, n) == 0 && h[n] == ':')
			return h[n + 1] == ' ' ? h + n + 2 : h + n + 1;
	}
	return NULL;
}

/* DKIM ------------------------------------------------------------------------------------ */

void
ops_dkim_free(struct ops_dkim *d)
{
	for (size_t i = 0; i < d->n; i++)
		for (size_t k = 0; k < d->doms[i].n_alerts; k++)
			xfree(d->doms[i].alerts[k]);
	xfree(d->doms);
	memset(d, 0, sizeof(*d));
}

const struct ops_ddom *
ops_dkim_find(const struct ops_dkim *d, const char *domain)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->doms[i].domain, domain) == 0)
			return &d->doms[i];
	return NULL;
}

/* "domain D sign=yes algorithm=X keys=N" */
static int
parse_domain_line(const char *line, struct ops_ddom *dom)
{
	char sign[8];

	if (field(line, "domain ", dom->domain, sizeof(dom->domain)) < 0 ||
	    field(line, " sign=", sign, sizeof(sign)) < 0 ||
	    field(line, " algorithm=", dom->alg, sizeof(dom->alg)) < 0)
		return -1;
	dom->sign = strcmp(sign, "yes") == 0;
	return 0;
}

/* "  key SEL ALG STATE created=T activates=T retires=T dns=ADVICE" */
static int
parse_key_line(const char *line, struct ops_ddom *dom)
{
	struct ops_dkey *k;
	const char *w = line + 6;
	char *dst[3];
	size_t sizes[3];
	const char *dns;

	if (dom->n_keys >= OPS_DKIM_KEYS_MAX)
		return 0;	/* more than we show: ignored */
	k = &dom->keys[dom->n_keys];
	memset(k, 0, sizeof(*k));
	dst[0] = k->selector, sizes[0] = sizeof(k->selector);
	dst[1] = k->alg, sizes[1] = sizeof(k->alg);
	dst[2] = k->state, sizes[2] = sizeof(k->state);
	for (int i = 0; i < 3; i++) {
		const char *e = strchr(w, ' ');

		if (e == NULL || e == w || (size_t)(e - w) >= sizes[i])
			return -1;
		memcpy(dst[i], w, (size_t)(e - w));
		dst[i][e - w] = '\0';
		w = e + 1;
	}
	if (field(line, " created=", k->created, sizeof(k->created)) < 0 ||
	    field(line, " activates=", k->activates, sizeof(k->activates)) < 0 ||
	    field(line, " retires=", k->retires, sizeof(k->retires)) < 0 ||
	    (dns = strstr(line, " dns=")) == NULL)
		return -1;
	str_lcpy(k->dns, dns + 5, sizeof(k->dns));
	dom->n_keys++;
	return 0;
}

int
ops_dkim_parse(const char *text, size_t len, struct ops_dkim *d, const char **error_r)
{
	const char *p = text, *end = text + len, *l;
	char line[OPS_LINE_MAX + 1];
	size_t ll;

	memset(d, 0, sizeof(*d));
	if (len > OPS_TEXT_MAX) {
		*error_r = "dkim reply too long";
		return -1;
	}
	while (next_line(&p, end, &l, &ll)) {
		struct ops_ddom *dom = d->n ? &d->doms[d->n - 1] : NULL;

		if (ll > OPS_LINE_MAX || memchr(l, '\0', ll) != NULL) {
			*error_r = "overlong or binary line in the dkim reply";
			goto fail;
		}
		memcpy(line, l, ll);
		line[ll] = '\0';
		if (has_prefix(line, ll, "error: ")) {
			*error_r = "the signer refused the request";
			goto fail;
		} else if (has_prefix(line, ll, "domain ")) {
			if (d->n >= OPS_DKIM_DOMAINS_MAX) {
				*error_r = "too many domains in the dkim reply";
				goto fail;
			}
			d->doms = xreallocarray(d->doms, d->n + 1, sizeof(*d->doms));
			dom = &d->doms[d->n++];
			memset(dom, 0, sizeof(*dom));
			if (parse_domain_line(line, dom) < 0) {
				*error_r = "malformed domain line in the dkim reply";
				goto fail;
			}
		} else if (has_prefix(line, ll, "  key ")) {
			if (dom == NULL || parse_key_line(line, dom) < 0) {
				*error_r = "malformed key line in the dkim reply";
				goto fail;
			}
		} else if (has_prefix(line, ll, "  alert ")) {
			if (dom != NULL && dom->n_alerts < OPS_DKIM_ALERTS_MAX)
				dom->alerts[dom->n_alerts++] = xstrdup(line + 8);
		} else if (has_prefix(line, ll, "now ")) {
			str_lcpy(d->now, line + 4, sizeof(d->now));
		} else if (has_prefix(line, ll, "alerts ")) {
			long long v;
			const char *err;

			if (strnum_ll(line + 7, 0, 1000000000, &v, &err) == 0)
				d->alerts = (int)v;
		}
	}
	return 0;
fail:
	ops_dkim_free(d);
	return -1;
}
