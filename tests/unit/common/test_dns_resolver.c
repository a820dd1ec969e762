/* Unit tests for common/dns.c against fake DNS servers on 127.0.0.1 driven by the same libev
 * loop: the query's wire form (RD, EDNS0 size, DO and AD bits, random ids, source ports varying
 * over a reused socket pool, distinct ids per shared port, port rotation), callbacks never inside mg_dns_query(), spoofed datagrams ignored, TC -> TCP,
 * timeouts, deadline, server rotation on silence, SERVFAIL and ICMP refusal, cancel, freeing
 * with queries pending, invalid names, and the worker-thread bridge (answers, deadline,
 * abandoned requests, mg_dns_free waking a blocked worker), and direct resolution on a worker
 * (mg_dns_query_direct). */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

#include "unit.h"

#include "common/dns.h"
#include "lib/xalloc.h"

enum fake_mode { F_ANSWER, F_SILENT, F_SPOOF_FIRST, F_TC, F_SERVFAIL, F_MALFORMED };

struct fake {
	int udp, tcp, port;
	enum fake_mode mode;
	ev_io uw, tw;
	int n_udp, n_tcp;
	uint16_t ids[16];
	int src_ports[16];
	int edns_size, has_edns, do_bit, ad_bit, rd_bit;
	int ports[64], n_ports;		/* distinct UDP source ports seen */
};

struct tcp_conn {
	struct fake *f;
	int fd;
	ev_io w;
	unsigned char buf[2048];
	size_t len;
};

static struct ev_loop *loop;

/* The answer to query q for the fake's mode (NULL to stay silent). */
static unsigned char *
answer_for(struct fake *f, const ldns_pkt *q, int over_tcp, size_t *len_r)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_buffer *b = ldns_buffer_new(4096);
	const ldns_rr *qrr = ldns_rr_list_rr(ldns_pkt_question(q), 0);
	char *owner = ldns_rdf2str(ldns_rr_owner(qrr));
	unsigned char *out;
	char text[1200];
	ldns_rr *rr;

	ldns_pkt_set_id(p, ldns_pkt_id(q));
	ldns_pkt_set_qr(p, 1);
	ldns_pkt_set_rd(p, 1);
	ldns_pkt_set_ra(p, 1);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, ldns_rr_clone(qrr));
	if (f->mode == F_SERVFAIL) {
		ldns_pkt_set_rcode(p, LDNS_RCODE_SERVFAIL);
	} else if (f->mode == F_TC && !over_tcp) {
		ldns_pkt_set_tc(p, 1);
	} else if (f->mode == F_TC) {
		/* 1000 octets in four character-strings: more than fits 512 octets of UDP */
		int o = snprintf(text, sizeof(text), "%s IN TXT", owner);
		for (int i = 0; i < 4; i++) {
			memcpy(text + o, " \"", 2);
			memset(text + o + 2, 'y', 250);
			memcpy(text + o + 252, "\"", 2);
			o += 253;
		}
		if (ldns_rr_new_frm_str(&rr, text, 60, NULL, NULL) != LDNS_STATUS_OK)
			abort();
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	} else {
		snprintf(text, sizeof(text), "%s IN A 192.0.2.%d", owner, f->port % 200 + 1);
		if (ldns_rr_new_frm_str(&rr, text, 60, NULL, NULL) != LDNS_STATUS_OK)
			abort();
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	if (ldns_pkt2buffer_wire(b, p) != LDNS_STATUS_OK)
		abort();
	*len_r = ldns_buffer_position(b);
	out = xmemdup(ldns_buffer_begin(b), *len_r);
	if (f->mode == F_MALFORMED)
		memset(out + 12, 0xff, *len_r - 12);
	ldns_buffer_free(b);
	ldns_pkt_free(p);
	free(owner);	/* ldns allocation */
	return out;
}

static void
note_query(struct fake *f, const ldns_pkt *q, int src_port)
{
	int i = f->n_udp + f->n_tcp;

	if (i < 16) {
		f->ids[i] = ldns_pkt_id(q);
		f->src_ports[i] = src_port;
	}
	if (src_port != 0) {
		int k = 0;
		while (k < f->n_ports && f->ports[k] != src_port)
			k++;
		if (k == f->n_ports && f->n_ports < 64)
			f->ports[f->n_ports++] = src_port;
	}
	f->has_edns = ldns_pkt_edns(q);
	f->edns_size = ldns_pkt_edns_udp_size(q);
	f->do_bit = ldns_pkt_edns_do(q);
	f->ad_bit = ldns_pkt_ad(q);
	f->rd_bit = ldns_pkt_rd(q);
}

static void
udp_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct fake *f = w->data;
	unsigned char buf[4096];
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	ssize_t n = recvfrom(f->udp, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
	ldns_pkt *q;
	size_t len;

	(void)l;
	(void)revents;
	if (n <= 0 || ldns_wire2pkt(&q, buf, (size_t)n) != LDNS_STATUS_OK)
		return;
	note_query(f, q, ntohs(from.sin_port));
	f->n_udp++;
	if (f->mode != F_SILENT) {
		unsigned char *a = answer_for(f, q, 0, &len);
		if (f->mode == F_SPOOF_FIRST) {
			/* wrong id, then right id with another question, then the answer */
			a[1] ^= 1;
			sendto(f->udp, a, len, 0, (struct sockaddr *)&from, flen);
			a[1] ^= 1;
			unsigned char *other = xmemdup(a, len);
			other[13] ^= 0x20;	/* flips the case of the first letter... */
			other[14] ^= 0x01;	/* ...and changes the second: another name */
			sendto(f->udp, other, len, 0, (struct sockaddr *)&from, flen);
			xfree(other);
		}
		sendto(f->udp, a, len, 0, (struct sockaddr *)&from, flen);
		xfree(a);
	}
	ldns_pkt_free(q);
}

static void
tcp_read_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct tcp_conn *c = w->data;
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	ldns_pkt *q;
	size_t need, len;

	(void)revents;
	if (n <= 0) {
		ev_io_stop(l, &c->w);
		close(c->fd);
		xfree(c);
		return;
	}
	c->len += (size_t)n;
	if (c->len < 2 || c->len < (need = 2 + (size_t)(c->buf[0] << 8 | c->buf[1])))
		return;
	if (ldns_wire2pkt(&q, c->buf + 2, need - 2) == LDNS_STATUS_OK) {
		note_query(c->f, q, 0);
		c->f->n_tcp++;
		unsigned char *a = answer_for(c->f, q, 1, &len);
		unsigned char hdr[2] = { (unsigned char)(len >> 8), (unsigned char)len };
		/* in two pieces, so the reader must reassemble */
		send(c->fd, hdr, 2, MSG_NOSIGNAL);
		send(c->fd, a, len, MSG_NOSIGNAL);
		xfree(a);
		ldns_pkt_free(q);
	}
	c->len = 0;
}

static void
accept_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct fake *f = w->data;
	int fd = accept4(f->tcp, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct tcp_conn *c;

	(void)revents;
	if (fd < 0)
		return;
	c = xcalloc(1, sizeof(*c));
	c->f = f;
	c->fd = fd;
	ev_io_init(&c->w, tcp_read_cb, fd, EV_READ);
	c->w.data = c;
	ev_io_start(l, &c->w);
}

/* A fake server on 127.0.0.1 (UDP and TCP on one port). */
static struct fake *
fake_new(enum fake_mode mode)
{
	struct fake *f = xcalloc(1, sizeof(*f));
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	for (int tries = 0; tries < 50; tries++) {
		sa.sin_port = 0;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		f->udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		f->tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (bind(f->udp, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    getsockname(f->udp, (struct sockaddr *)&sa, &len) < 0)
			abort();
		if (bind(f->tcp, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(f->tcp, 8) == 0)
			break;
		close(f->udp);
		close(f->tcp);
	}
	f->port = ntohs(sa.sin_port);
	f->mode = mode;
	ev_io_init(&f->uw, udp_cb, f->udp, EV_READ);
	ev_io_init(&f->tw, accept_cb, f->tcp, EV_READ);
	f->uw.data = f->tw.data = f;
	ev_io_start(loop, &f->uw);
	ev_io_start(loop, &f->tw);
	return f;
}

static void
fake_free(struct fake **fp)
{
	struct fake *f = *fp;

	ev_io_stop(loop, &f->uw);
	ev_io_stop(loop, &f->tw);
	close(f->udp);
	close(f->tcp);
	xfree(f);
	*fp = NULL;
}

static void
cfg_add(struct mg_dns_config *cfg, int port)
{
	snprintf(cfg->servers[cfg->n_servers++], sizeof(cfg->servers[0]), "127.0.0.1:%d", port);
}

struct got {
	struct mg_dns_result *res;
	int calls;
	long long at;
};

static void
got_cb(struct mg_dns_result *res, void *arg)
{
	struct got *g = arg;

	g->calls++;
	g->at = mg_dns_now_ms();
	mg_dns_result_free(&g->res);
	g->res = res;
}

static void
guard_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)revents;
	*(int *)w->data = 1;
}

/* Runs the loop until g has an answer or limit_ms passes. */
static void
run_until(struct got *g, long long limit_ms)
{
	ev_timer t;
	int fired = 0;

	ev_timer_init(&t, guard_cb, (double)limit_ms / 1000.0, 0.);
	t.data = &fired;
	ev_timer_start(loop, &t);
	while (g->calls == 0 && !fired)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &t);
}

/* Runs the loop for ms milliseconds (a timer guards against blocking in an idle loop). */
static void
run_for(long long ms)
{
	ev_timer t;
	int fired = 0;

	ev_timer_init(&t, guard_cb, (double)ms / 1000.0, 0.);
	t.data = &fired;
	ev_timer_start(loop, &t);
	while (!fired)
		ev_run(loop, EVRUN_ONCE);
}

static struct mg_dns *
resolver(struct mg_dns_config *cfg)
{
	const char *err = NULL;
	struct mg_dns *d = mg_dns_new(loop, cfg, &err);

	if (d == NULL) {
		fprintf(stderr, "mg_dns_new: %s\n", err);
		abort();
	}
	return d;
}

static void
test_answer_and_wire(void)
{
	struct fake *f = fake_new(F_ANSWER);
	struct mg_dns_config cfg = { .timeout_ms = 1000, .attempts = 1, .udp_size = 1232,
		.dnssec_ok = 1 };
	struct got g = { 0 };
	struct mg_dns *d;

	cfg_add(&cfg, f->port);
	d = resolver(&cfg);
	CHECK(mg_dns_query(d, "Host.Example.", LDNS_RR_TYPE_A, 0, got_cb, &g) != NULL, "query");
	CHECK_INT(g.calls, 0);		/* never inside mg_dns_query() */
	CHECK_INT(f->n_udp, 0);		/* nothing sent before the loop turns */
	run_until(&g, 2000);
	CHECK_INT(g.calls, 1);
	if (g.res != NULL) {
		CHECK_INT(g.res->status, MG_DNS_OK);
		CHECK_STR(g.res->qname, "host.example");
		CHECK_INT(g.res->n, 1);
	}
	CHECK_INT(f->n_udp, 1);
	CHECK_INT(f->rd_bit, 1);
	CHECK_INT(f->has_edns, 1);
	CHECK_INT(f->edns_size, 1232);
	CHECK_INT(f->do_bit, 1);
	CHECK_INT(f->ad_bit, 1);
	mg_dns_result_free(&g.res);

	/* No EDNS0, no DO: a plain RFC 1035 query. Ids and source ports vary per query. */
	mg_dns_free(&d);
	cfg.udp_size = 0;
	cfg.dnssec_ok = 0;
	d = resolver(&cfg);
	for (int i = 0; i < 4; i++) {
		g.calls = 0;
		mg_dns_query(d, "host.example", LDNS_RR_TYPE_A, 0, got_cb, &g);
		run_until(&g, 2000);
		CHECK(g.res && g.res->status == MG_DNS_OK, "query %d", i);
	}
	CHECK_INT(f->has_edns, 0);
	CHECK_INT(f->ad_bit, 0);
	CHECK(f->ids[1] != f->ids[2] || f->ids[2] != f->ids[3] || f->ids[3] != f->ids[4],
	    "ids do not vary");
	CHECK(f->src_ports[1] != f->src_ports[2] || f->src_ports[2] != f->src_ports[3],
	    "source ports do not vary");
	mg_dns_result_free(&g.res);
	mg_dns_free(&d);
	fake_free(&f);
}

/* UDP sockets are shared (dns.h): concurrent queries use at most 4 source ports per server,
 * with distinct ids on a shared port, and a port is retired after 100 queries. */
static void
test_socket_reuse(void)
{
	struct fake *f = fake_new(F_ANSWER);
	struct mg_dns_config cfg = { .timeout_ms = 1000, .attempts = 1 };
	struct got g[8];
	struct mg_dns *d;
	int done = 0;

	memset(g, 0, sizeof(g));
	cfg_add(&cfg, f->port);
	d = resolver(&cfg);
	for (int i = 0; i < 8; i++)
		mg_dns_query(d, "host.example", LDNS_RR_TYPE_A, 0, got_cb, &g[i]);
	for (int spins = 0; spins < 1000 && done < 8; spins++) {
		run_for(5);
		done = 0;
		for (int i = 0; i < 8; i++)
			done += g[i].calls == 1 && g[i].res != NULL && g[i].res->status == MG_DNS_OK;
	}
	CHECK_INT(done, 8);
	CHECK_INT(f->n_udp, 8);
	CHECK(f->n_ports >= 2 && f->n_ports <= 4, "8 concurrent queries used %d ports, want 2..4",
	    f->n_ports);
	for (int i = 0; i < 8; i++)
		for (int k = i + 1; k < 8; k++)
			CHECK(f->src_ports[i] != f->src_ports[k] || f->ids[i] != f->ids[k],
			    "queries %d and %d share port %d and id %u", i, k, f->src_ports[i], f->ids[i]);
	for (int i = 0; i < 8; i++)
		mg_dns_result_free(&g[i].res);
	/* 4 sockets x 100 queries: the next ones need fresh ports */
	for (int i = 0; i < 4 * 100; i++) {
		g[0].calls = 0;
		mg_dns_query(d, "host.example", LDNS_RR_TYPE_A, 0, got_cb, &g[0]);
		run_until(&g[0], 2000);
		if (g[0].res == NULL || g[0].res->status != MG_DNS_OK) {
			CHECK(0, "sequential query %d failed", i);
			break;
		}
	}
	CHECK(f->n_ports > 4, "after 408 queries only %d source ports", f->n_ports);
	mg_dns_result_free(&g[0].res);
	mg_dns_free(&d);
	fake_free(&f);
}

static void
test_spoofs_ignored(void)
{
	struct fake *f = fake_new(F_SPOOF_FIRST);
	struct mg_dns_config cfg = { .timeout_ms = 1000, .attempts = 1 };
	struct got g = { 0 };
	struct mg_dns *d;

	cfg_add(&cfg, f->port);
	d = resolver(&cfg);
	mg_dns_query(d, "spoof.example", LDNS_RR_TYPE_A, 0, got_cb, &g);
	run_until(&g, 2000);
	CHECK(g.res && g.res->status == MG_DNS_OK && g.res->n == 1, "spoofed datagrams not skipped");
	CHECK_INT(f->n_udp, 1);
	mg_dns_result_free(&g.res);
	mg_dns_free(&d);
	fake_free(&f);
}

static void
test_tc_falls_back_to_tcp(void)
{
	struct fake *f = fake_new(F_TC);
	struct mg_dns_config cfg = { .timeout_ms = 1000, .attempts = 1, .udp_size = 512 };
	struct got g = { 0 };
	struct mg_dns *d;

	cfg_add(&cfg, f->port);
	d = resolver(&cfg);
	mg_dns_query(d, "big.example", LDNS_RR_TYPE_TXT, 0, got_cb, &g);
	run_until(&g, 2000);
	CHECK_INT(f->n_udp, 1);
	CHECK_INT(f->n_tcp, 1);
	CHECK(g.res && g.res->status == MG_DNS_OK, "status %s",
	    g.res ? mg_dns_status_name(g.res->status) : "none");
	if (g.res && g.res->n == 1)
		CHECK_INT(g.res->rr[0].u.txt.len, 1000);
	mg_dns_result_free(&g.res);
	mg_dns_free(&d);
	fake_free(&f);
}

static void
test_timeout_and_deadline(void)
{
	struct fake *f = fake_new(F_SILENT);
	struct mg_dns_config cfg = { .timeout_ms = 100, .attempts = 2 };
	struct got g = { 0 };
	struct mg_dns *d;
	long long t0;

	cfg_add(&cfg, f->port);
	d = resolver(&cfg);
	t0 = mg_dns_now_ms();
	mg_dns_query(d, "silent.example", LDNS_RR_TYPE_A, 0, got_cb, &g);
	run_until(&g, 3000);
	CHECK(g.res && g.res->status == MG_DNS_TEMPFAIL, "want tempfail");
	CHECK_STR(g.res ? g.res->error : NULL, "timeout");
	CHECK_INT(g.res ? g.res->rcode : 0, -1);
	CHECK_INT(f->n_udp, 2);
	CHECK(g.at - t0 >= 200 && g.at - t0 < 1000, "2 x 100 ms took %lld ms", g.at - t0);
	mg_dns_result_free(&g.res);

	/* The deadline bounds the whole query, whatever the per-attempt timeout. */
	cfg.timeout_ms = 5000;
	mg_dns_free(&d);
	d = resolver(&cfg);
	g.calls = 0;
	t0 = mg_dns_now_ms();
	mg_dns_query(d, "silent.example", LDNS_RR_TYPE_A, t0 + 150, got_cb, &g);
	run_until(&g, 3000);
	CHECK_STR(g.res ? g.res->error : NULL, "deadline");
	CHECK(g.at - t0 >= 140 && g.at - t0 < 1000, "deadline 150 ms took %lld ms", g.at - t0);
	mg_dns_result_free(&g.res);
	/* A deadline already past: TEMPFAIL without a query, still from the loop. */
	g.calls = 0;
	int before = f->n_udp;
	mg_dns_query(d, "silent.example", LDNS_RR_TYPE_A, mg_dns_now_ms() - 1, got_cb, &g);
	CHECK_INT(g.calls, 0);
	run_until(&g, 1000);
	CHECK_STR(g.res ? g.res->error : NULL, "deadline");
	CHECK_INT(f->n_udp, before);
	mg_dns_result_free(&g.res);
	mg_dns_free(&d);
	fake_free(&f);
}

static void
test_rotation(void)
{
	struct fake *silent = fake_new(F_SILENT), *servfail = fake_new(F_SERVFAIL);
	struct fake *good = fake_new(F_ANSWER);
	struct mg_dns_config cfg = { .timeout_ms = 150, .attempts = 2 };
	struct got g = { 0 };
	struct mg_dns *d;
	long long t0;

	/* silent, then SERVFAIL, then an answer: both failures move on to the next server. */
	cfg_add(&cfg, silent->port);
	cfg_add(&cfg, servfail->port);
	cfg_add(&cfg, good->port);
	d = resolver(&cfg);
	t0 = mg_dns_now_ms();
	mg_dns_query(d, "rot.example", LDNS_RR_TYPE_A, 0, got_cb, &g);
	run_until(&g, 3000);
	CHECK(g.res && g.res->status == MG_DNS_OK, "rotation did not reach the third server");
	CHECK_INT(silent->n_udp, 1);
	CHECK_INT(servfail->n_udp, 1);
	CHECK_INT(good->n_udp, 1);
	CHECK(g.at - t0 >= 150, "answered before the first timeout (%lld ms)", g.at - t0);
	mg_dns_result_free(&g.res);
	mg_dns_free(&d);

	/* SERVFAIL everywhere: the SERVFAIL stands (not "timeout"), without further rounds. */
	cfg.n_servers = 0;
	cfg_add(&cfg, servfail->port);
	d = resolver(&cfg);
	g.calls = 0;
	mg_dns_query(d, "rot.example", LDNS_RR_TYPE_A, 0, got_cb, &g);
	run_until(&g, 3000);
	CHECK(g.res && g.res->status == MG_DNS_TEMPFAIL && g.res->rcode == 2, "want SERVFAIL");
	CHECK_STR(g.res ? g.res->error : NULL, "servfail");
	CHECK_INT(servfail->n_udp, 2);
	mg_dns_result_free(&g.res);
	mg_dns_free(&d);
	fake_free(&silent);
	fake_free(&servfail);
	fake_free(&good);
}

static void
test_refused_port_and_malformed(void)
{
	struct fake *f = fake_new(F_MALFORMED);
	struct mg_dns_config cfg = { .timeout_ms = 2000, .attempts = 1 };
	struct got g = { 0 };
	struct mg_dns *d;
	long long t0;
	int dead_port;

	/* A port nobody listens on: ICMP port unreachable -> ECONNREFUSED, long before 2 s. */
	dead_port = f->port;
	fake_free(&f);
	cfg_add(&cfg, dead_port);
	d = resolver(&cfg);
	t0 = mg_dns_now_ms();
	mg_dns_query(d, "x.example", LDNS_RR_TYPE_A, 0, got_cb, &g);
	run_until(&g, 3000);
	CHECK_STR(g.res ? g.res->error : NULL, "connection refused");
	CHECK(g.at - t0 < 1000, "refusal took %lld ms", g.at - t0);
	mg_dns_result_free(&g.res);
	mg_dns_free(&d);

	f = fake_new(F_MALFORMED);
	cfg.n_servers = 0;
	cfg_add(&cfg, f->port);
	d = resolver(&cfg);
	g.calls = 0;
	mg_dns_query(d, "x.example", LDNS_RR_TYPE_A, 0, got_cb, &g);
	run_until(&g, 3000);
	CHECK(g.res && g.res->status == MG_DNS_PERMFAIL, "malformed: want permfail");
	CHECK_STR(g.res ? g.res->error : NULL, "malformed answer");
	mg_dns_result_free(&g.res);
	mg_dns_free(&d);
	fake_free(&f);
}

static void
cancel_in_cb(struct mg_dns_result *res, void *arg)
{
	struct mg_dns_query **q = arg;

	mg_dns_result_free(&res);
	mg_dns_cancel(q);	/* the handle of the query being answered: must be harmless */
}

static void
test_cancel_invalid_and_free(void)
{
	struct fake *f = fake_new(F_SILENT);
	struct mg_dns_config cfg = { .timeout_ms = 100, .attempts = 1 };
	struct got g = { 0 }, g2 = { 0 }, g3 = { 0 };
	struct mg_dns_query *q;
	struct mg_dns *d;

	cfg_add(&cfg, f->port);
	d = resolver(&cfg);
	q = mg_dns_query(d, "c.example", LDNS_RR_TYPE_A, 0, got_cb, &g);
	mg_dns_query(d, "other.example", LDNS_RR_TYPE_A, 0, got_cb, &g2);
	mg_dns_cancel(&q);
	CHECK(q == NULL, "cancel NULLs the handle");
	mg_dns_cancel(&q);	/* NULL: no-op */
	run_until(&g2, 2000);
	CHECK_INT(g.calls, 0);
	CHECK_INT(g2.calls, 1);
	mg_dns_result_free(&g2.res);

	/* Invalid names: PERMFAIL from the loop, nothing sent. */
	int before = f->n_udp;
	static const char *const bad[] = { "a..b", "", ".", "x..", "a.-.b.." };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		g.calls = 0;
		mg_dns_query(d, bad[i], LDNS_RR_TYPE_TXT, 0, got_cb, &g);
		CHECK_INT(g.calls, 0);
		run_until(&g, 1000);
		CHECK(g.res && g.res->status == MG_DNS_PERMFAIL, "%s: want permfail", bad[i]);
		CHECK_STR(g.res ? g.res->error : NULL, "invalid name");
		mg_dns_result_free(&g.res);
	}
	CHECK_INT(f->n_udp, before);

	/* Cancelling from inside the callback of the same query. */
	q = mg_dns_query(d, "c.example", LDNS_RR_TYPE_A, 0, cancel_in_cb, &q);
	for (int i = 0; i < 100 && q != NULL; i++)
		ev_run(loop, EVRUN_ONCE);
	CHECK(q == NULL, "callback did not run");

	/* Freeing with queries pending: no callback, no watcher left on the loop. */
	mg_dns_query(d, "p1.example", LDNS_RR_TYPE_A, 0, got_cb, &g3);
	mg_dns_query(d, "p2.example", LDNS_RR_TYPE_A, 0, got_cb, &g3);
	ev_run(loop, EVRUN_NOWAIT);
	mg_dns_free(&d);
	CHECK(d == NULL, "free NULLs");
	mg_dns_free(&d);
	fake_free(&f);
	ev_run(loop, EVRUN_NOWAIT);
	CHECK_INT(g3.calls, 0);
	CHECK_INT(ev_pending_count(loop), 0);
}

static void
test_config_errors(void)
{
	struct mg_dns_config cfg = { .timeout_ms = 100, .attempts = 1 };
	const char *err = NULL;
	static const char *const bad[] = { "localhost", "1.2.3.4:0", "1.2.3.4:65536", "[::1",
		"[::1]x", "1.2.3.4:53x", "" };
	static const char *const good[] = { "127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:5353" };

	CHECK(mg_dns_new(loop, &cfg, &err) == NULL, "no servers accepted");
	CHECK(err != NULL, "no error");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg.n_servers = 0;
		snprintf(cfg.servers[cfg.n_servers++], sizeof(cfg.servers[0]), "%s", bad[i]);
		CHECK(mg_dns_new(loop, &cfg, &err) == NULL, "%s accepted", bad[i]);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct mg_dns *d;
		cfg.n_servers = 0;
		snprintf(cfg.servers[cfg.n_servers++], sizeof(cfg.servers[0]), "%s", good[i]);
		d = mg_dns_new(loop, &cfg, &err);
		CHECK(d != NULL, "%s rejected: %s", good[i], err);
		mg_dns_free(&d);
	}
	cfg.udp_size = 100;
	CHECK(mg_dns_new(loop, &cfg, &err) == NULL, "udp_size 100 accepted");
	cfg.udp_size = 0;
	cfg.attempts = 0;
	CHECK(mg_dns_new(loop, &cfg, &err) == NULL, "0 attempts accepted");
	/* The blocking helper never returns NULL, even for a bad config. */
	struct mg_dns_result *r = mg_dns_lookup_blocking(&cfg, "x.example", LDNS_RR_TYPE_A);
	CHECK(r && r->status == MG_DNS_TEMPFAIL, "blocking with bad config");
	mg_dns_result_free(&r);
}

/* A one-shot UDP responder thread for the blocking helper, which runs its own private loop. */
static void *
serve_one(void *arg)
{
	struct fake *f = arg;
	struct pollfd pfd = { .fd = f->udp, .events = POLLIN };

	if (poll(&pfd, 1, 3000) == 1)
		udp_cb(NULL, &f->uw, 0);
	return NULL;
}

static void
test_blocking(void)
{
	struct fake *f = fake_new(F_ANSWER);
	struct mg_dns_config cfg = { .timeout_ms = 2000, .attempts = 1 };
	struct mg_dns_result *r;
	pthread_t t;

	cfg_add(&cfg, f->port);
	pthread_create(&t, NULL, serve_one, f);
	r = mg_dns_lookup_blocking(&cfg, "blocking.example", LDNS_RR_TYPE_A);
	pthread_join(t, NULL);
	CHECK(r && r->status == MG_DNS_OK && r->n == 1, "blocking lookup: %s",
	    r ? mg_dns_status_name(r->status) : "NULL");
	mg_dns_result_free(&r);
	r = mg_dns_lookup_blocking(&cfg, "bad..name", LDNS_RR_TYPE_A);
	CHECK_STR(r->error, "invalid name");
	mg_dns_result_free(&r);
	/* The same through the struct mg_dns_lookup adapter. */
	struct mg_dns_lookup lk = { mg_dns_lookup_fn_blocking, &cfg };
	pthread_create(&t, NULL, serve_one, f);
	r = lk.fn(lk.ctx, "adapter.example", LDNS_RR_TYPE_A);
	pthread_join(t, NULL);
	CHECK(r && r->status == MG_DNS_OK && r->n == 1, "adapter lookup");
	mg_dns_result_free(&r);
	fake_free(&f);
}

/* ---- the thread bridge ---- */

struct worker {
	struct mg_dns *d;
	const char *name;
	long long deadline;
	struct mg_dns_result *res;
	long long took;
	int done;			/* under mu */
	ev_async *wake;
	int direct;			/* mg_dns_query_direct instead of the bridge */
	uint16_t type;			/* direct only; 0 = A */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	long long t0 = mg_dns_now_ms();

	if (w->direct) {
		struct mg_dns_wait_ctx ctx = { w->d, w->deadline };
		struct mg_dns_lookup lk = { mg_dns_lookup_fn_direct, &ctx };
		w->res = lk.fn(lk.ctx, w->name, w->type ? w->type : LDNS_RR_TYPE_A);
	} else if (w->deadline == -1) {
		/* through the struct mg_dns_lookup adapter, no deadline */
		struct mg_dns_wait_ctx ctx = { w->d, 0 };
		struct mg_dns_lookup lk = { mg_dns_lookup_fn_wait, &ctx };
		w->res = lk.fn(lk.ctx, w->name, LDNS_RR_TYPE_A);
	} else {
		w->res = mg_dns_query_wait(w->d, w->name, LDNS_RR_TYPE_A, w->deadline);
	}
	w->took = mg_dns_now_ms() - t0;
	pthread_mutex_lock(&mu);
	w->done = 1;
	pthread_mutex_unlock(&mu);
	if (w->wake != NULL)
		ev_async_send(loop, w->wake);
	return NULL;
}

static int
worker_done(struct worker *w)
{
	int done;

	pthread_mutex_lock(&mu);
	done = w->done;
	pthread_mutex_unlock(&mu);
	return done;
}

static void
nop_async(struct ev_loop *l, ev_async *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
}

/* Runs one direct lookup on a worker thread while the loop serves the fake servers. */
static struct mg_dns_result *
direct_on_worker(struct mg_dns *d, const char *name, uint16_t type, long long deadline,
    long long *took_r)
{
	struct worker w = { d, name, deadline, NULL, 0, 0, NULL, 1, type };
	pthread_t t;

	pthread_create(&t, NULL, worker_main, &w);
	for (long long end = mg_dns_now_ms() + 5000; !worker_done(&w) && mg_dns_now_ms() < end;)
		run_for(2);
	pthread_join(t, NULL);
	if (took_r != NULL)
		*took_r = w.took;
	return w.res;
}

/* mg_dns_query_direct: answers, spoofed datagrams ignored, TC -> TCP, silence rotates to the
 * next server, the deadline bounds silence, the thread's socket is reused, invalid names. */
static void
test_direct(void)
{
	struct fake *f = fake_new(F_ANSWER), *spoof = fake_new(F_SPOOF_FIRST), *tc = fake_new(F_TC),
	    *silent = fake_new(F_SILENT);
	struct mg_dns_config cfg = { .timeout_ms = 300, .attempts = 1 };
	struct mg_dns_result *r;
	struct mg_dns *d;
	long long took;

	cfg_add(&cfg, f->port);
	d = resolver(&cfg);
	for (int i = 0; i < 3; i++) {
		r = direct_on_worker(d, "Direct.Example", LDNS_RR_TYPE_A, 0, NULL);
		CHECK(r && r->status == MG_DNS_OK && r->n == 1, "direct %d: %s", i,
		    r ? mg_dns_status_name(r->status) : "none");
		CHECK_STR(r ? r->qname : NULL, "direct.example");
		mg_dns_result_free(&r);
	}
	CHECK_INT(f->n_udp, 3);
	r = direct_on_worker(d, "bad..name", LDNS_RR_TYPE_A, 0, NULL);
	CHECK_STR(r ? r->error : NULL, "invalid name");
	mg_dns_result_free(&r);
	mg_dns_free(&d);

	cfg.n_servers = 0;
	cfg_add(&cfg, spoof->port);
	d = resolver(&cfg);
	r = direct_on_worker(d, "spoofed.example", LDNS_RR_TYPE_A, 0, NULL);
	CHECK(r && r->status == MG_DNS_OK && r->n == 1, "spoofs: %s", r ? mg_dns_status_name(r->status) : "none");
	mg_dns_result_free(&r);
	mg_dns_free(&d);

	cfg.n_servers = 0;
	cfg_add(&cfg, tc->port);
	d = resolver(&cfg);
	r = direct_on_worker(d, "big.example", LDNS_RR_TYPE_TXT, 0, NULL);
	CHECK(r && r->status == MG_DNS_OK && r->n == 1 && r->rr[0].u.txt.len == 1000,
	    "tc: %s", r ? mg_dns_status_name(r->status) : "none");
	CHECK_INT(tc->n_tcp, 1);
	mg_dns_result_free(&r);
	mg_dns_free(&d);

	/* silence on the first server: the second answers */
	cfg.n_servers = 0;
	cfg_add(&cfg, silent->port);
	cfg_add(&cfg, f->port);
	d = resolver(&cfg);
	r = direct_on_worker(d, "rotate.example", LDNS_RR_TYPE_A, 0, &took);
	CHECK(r && r->status == MG_DNS_OK, "rotation: %s", r ? mg_dns_status_name(r->status) : "none");
	CHECK(took >= 250 && took < 2000, "rotation took %lld ms", took);
	mg_dns_result_free(&r);
	mg_dns_free(&d);

	/* silence everywhere: the deadline ends it */
	cfg.n_servers = 0;
	cfg.timeout_ms = 5000;
	cfg_add(&cfg, silent->port);
	d = resolver(&cfg);
	r = direct_on_worker(d, "late.example", LDNS_RR_TYPE_A, mg_dns_now_ms() + 150, &took);
	CHECK(r && r->status == MG_DNS_TEMPFAIL, "silent: %s", r ? mg_dns_status_name(r->status) : "none");
	CHECK(took >= 100 && took < 1500, "deadline 150 ms took %lld ms", took);
	mg_dns_result_free(&r);
	mg_dns_free(&d);
	fake_free(&f);
	fake_free(&spoof);
	fake_free(&tc);
	fake_free(&silent);
}

static void
test_bridge(void)
{
	struct fake *f = fake_new(F_ANSWER), *silent = fake_new(F_SILENT);
	struct mg_dns_config cfg = { .timeout_ms = 2000, .attempts = 1 };
	struct worker w[4];
	ev_async wake;
	struct mg_dns *d;
	pthread_t t[4];

	ev_async_init(&wake, nop_async);
	ev_async_start(loop, &wake);
	cfg_add(&cfg, f->port);
	d = resolver(&cfg);
	/* Four workers at once, the loop serving them and the fake server. */
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ d, i == 3 ? "bad..name" : "w.example", i == 2 ? -1 : 0, NULL,
			0, 0, &wake, 0, 0 };
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		long long end = mg_dns_now_ms() + 5000;
		while (!worker_done(&w[i]) && mg_dns_now_ms() < end)
			ev_run(loop, EVRUN_ONCE);
		pthread_join(t[i], NULL);
		CHECK(w[i].res != NULL, "worker %d: no result", i);
	}
	for (int i = 0; i < 3; i++)
		CHECK(w[i].res->status == MG_DNS_OK && w[i].res->n == 1, "worker %d: %s", i,
		    mg_dns_status_name(w[i].res->status));
	CHECK_STR(w[3].res->error, "invalid name");
	for (int i = 0; i < 4; i++)
		mg_dns_result_free(&w[i].res);
	mg_dns_free(&d);

	/* Deadline while the loop does not even run: the worker gives up on time, and the
	 * abandoned request is released when the loop picks it up later. */
	cfg.n_servers = 0;
	cfg_add(&cfg, silent->port);
	d = resolver(&cfg);
	w[0] = (struct worker){ d, "late.example", mg_dns_now_ms() + 100, NULL, 0, 0, NULL, 0, 0 };
	pthread_create(&t[0], NULL, worker_main, &w[0]);
	pthread_join(t[0], NULL);
	CHECK(w[0].res && w[0].res->status == MG_DNS_TEMPFAIL, "want tempfail");
	CHECK_STR(w[0].res ? w[0].res->error : NULL, "deadline");
	CHECK(w[0].took >= 90 && w[0].took < 1000, "deadline 100 ms took %lld ms", w[0].took);
	mg_dns_result_free(&w[0].res);
	ev_run(loop, EVRUN_NOWAIT);
	CHECK_INT(silent->n_udp, 0);	/* abandoned before the loop saw it: never sent */

	/* Deadline while the query is in flight: the loop's query ends on the same deadline,
	 * whichever side finishes first. Repeat to shake both orders. */
	for (int i = 0; i < 5; i++) {
		w[0] = (struct worker){ d, "late.example", mg_dns_now_ms() + 60, NULL, 0, 0, &wake, 0, 0 };
		pthread_create(&t[0], NULL, worker_main, &w[0]);
		long long end = mg_dns_now_ms() + 3000;
		while (!worker_done(&w[0]) && mg_dns_now_ms() < end)
			ev_run(loop, EVRUN_ONCE);
		pthread_join(t[0], NULL);
		CHECK_STR(w[0].res ? w[0].res->error : NULL, "deadline");
		mg_dns_result_free(&w[0].res);
	}
	run_for(300);	/* lets the loop-side queries reach their deadline */

	/* mg_dns_free wakes a worker blocked on a long deadline. */
	w[0] = (struct worker){ d, "blocked.example", mg_dns_now_ms() + 10000, NULL, 0, 0, &wake, 0, 0 };
	int before = silent->n_udp;
	pthread_create(&t[0], NULL, worker_main, &w[0]);
	for (long long end = mg_dns_now_ms() + 3000; silent->n_udp == before && mg_dns_now_ms() < end;)
		ev_run(loop, EVRUN_ONCE);
	CHECK_INT(silent->n_udp, before + 1);
	mg_dns_free(&d);
	pthread_join(t[0], NULL);
	CHECK_STR(w[0].res ? w[0].res->error : NULL, "resolver closed");
	CHECK(w[0].took < 5000, "free did not wake the worker (%lld ms)", w[0].took);
	mg_dns_result_free(&w[0].res);

	ev_async_stop(loop, &wake);
	fake_free(&f);
	fake_free(&silent);
}

static const struct unit_case cases[] = {
	{ "answer_and_wire", test_answer_and_wire },
	{ "socket_reuse", test_socket_reuse },
	{ "spoofs_ignored", test_spoofs_ignored },
	{ "tc_falls_back_to_tcp", test_tc_falls_back_to_tcp },
	{ "timeout_and_deadline", test_timeout_and_deadline },
	{ "rotation", test_rotation },
	{ "refused_port_and_malformed", test_refused_port_and_malformed },
	{ "cancel_invalid_and_free", test_cancel_invalid_and_free },
	{ "config_errors", test_config_errors },
	{ "blocking", test_blocking },
	{ "bridge", test_bridge },
	{ "direct", test_direct },
};

int unit_main(int argc, char **argv);
#define main unit_main
UNIT_MAIN(cases)
#undef main

int
main(int argc, char **argv)
{
	loop = ev_loop_new(EVFLAG_AUTO);
	return unit_main(argc, argv);
}
