/* dns-lookup: resolves one name through the MailGuard resolver (common/dns.c) and prints the
 * result in a stable text form for integration tests (tests/integ/test_dns_rig.py):
 *   status=<ok|nodata|nxdomain|tempfail|permfail> rcode=<n> secure=<0|1>[ error=<text>]
 *   A 192.0.2.1 | AAAA 2001:db8::1 | MX 10 mx.example | TXT <text, \\ and \DDD escaped>
 *   PTR name | CNAME name | NS name | TLSA 3 1 1 <hex> | TYPE<n> \# <len> <hex>
 * Names print lowercase without the final dot ("." for the root). elapsed_ms=N goes to stderr.
 * -W N resolves through mg_dns_query_wait from N worker threads against one resolver on the main
 * loop (the thread bridge); each worker's output must be identical or the tool fails.
 * Exit: 0 ok/nodata/nxdomain, 1 tempfail/permfail or workers disagreeing, 2 usage. */
#include <arpa/inet.h>
#include <ev.h>
#include <ldns/ldns.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/dns.h"
#include "lib/buf.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"

static const struct {
	const char *name;
	uint16_t type;
} types[] = {
	{ "A", LDNS_RR_TYPE_A }, { "AAAA", LDNS_RR_TYPE_AAAA }, { "MX", LDNS_RR_TYPE_MX },
	{ "TXT", LDNS_RR_TYPE_TXT }, { "PTR", LDNS_RR_TYPE_PTR }, { "CNAME", LDNS_RR_TYPE_CNAME },
	{ "NS", LDNS_RR_TYPE_NS }, { "TLSA", LDNS_RR_TYPE_TLSA }, { "SPF", LDNS_RR_TYPE_SPF },
	{ "SOA", LDNS_RR_TYPE_SOA },
};

static const char *
type_name(uint16_t t)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].type == t)
			return types[i].name;
	return NULL;
}

static void
put_hex(struct buf *b, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "%02x", p[i]);
}

static void
put_name(struct buf *b, const char *name)
{
	buf_append_str(b, name[0] ? name : ".");
}

static void
format_rr(struct buf *b, const struct mg_dns_rr *rr)
{
	char addr[INET6_ADDRSTRLEN];
	const char *tn = type_name(rr->type);

	if (tn != NULL)
		buf_printf(b, "%s ", tn);
	else
		buf_printf(b, "TYPE%u ", rr->type);
	switch (rr->type) {
	case LDNS_RR_TYPE_A:
	case LDNS_RR_TYPE_AAAA:
		inet_ntop(rr->u.a.family, rr->u.a.addr, addr, sizeof(addr));
		buf_append_str(b, addr);
		break;
	case LDNS_RR_TYPE_MX:
		buf_printf(b, "%u ", rr->u.mx.pref);
		put_name(b, rr->u.mx.host);
		break;
	case LDNS_RR_TYPE_CNAME:
	case LDNS_RR_TYPE_PTR:
	case LDNS_RR_TYPE_NS:
		put_name(b, rr->u.name);
		break;
	case LDNS_RR_TYPE_TXT:
	case LDNS_RR_TYPE_SPF:
		for (size_t i = 0; i < rr->u.txt.len; i++) {
			unsigned char c = (unsigned char)rr->u.txt.data[i];
			if (c == '\\')
				buf_append_str(b, "\\\\");
			else if (c >= 32 && c < 127)
				buf_append_char(b, (char)c);
			else
				buf_printf(b, "\\%03u", c);
		}
		break;
	case LDNS_RR_TYPE_TLSA:
		buf_printf(b, "%u %u %u ", rr->u.tlsa.usage, rr->u.tlsa.selector, rr->u.tlsa.mtype);
		put_hex(b, rr->u.tlsa.data, rr->u.tlsa.len);
		break;
	default:
		buf_printf(b, "\\# %zu ", rr->u.raw.len);
		put_hex(b, rr->u.raw.data, rr->u.raw.len);
		break;
	}
	buf_append_char(b, '\n');
}

static char *
format_result(const struct mg_dns_result *r)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	buf_printf(&b, "status=%s rcode=%d secure=%d", mg_dns_status_name(r->status), r->rcode,
	    r->secure);
	if (r->error != NULL)
		buf_printf(&b, " error=%s", r->error);
	buf_append_char(&b, '\n');
	for (size_t i = 0; i < r->n; i++)
		format_rr(&b, &r->rr[i]);
	return buf_steal(&b);
}

static void
usage(void)
{
	fprintf(stderr, "usage: dns-lookup [-s server]... [-t timeout_ms] [-a attempts] [-u udp_size]"
	    " [-D] [-d deadline_ms] [-W threads] name type\n");
	exit(2);
}

/* -W: workers block in mg_dns_query_wait while the main thread runs the loop. */
struct worker {
	pthread_t tid;
	struct mg_dns *d;
	const char *name;
	uint16_t type;
	long long deadline;
	struct mg_dns_result *res;
	struct ev_loop *loop;
	ev_async *done;
};

static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static int n_done;

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	w->res = mg_dns_query_wait(w->d, w->name, w->type, w->deadline);
	pthread_mutex_lock(&done_mu);
	n_done++;
	pthread_mutex_unlock(&done_mu);
	ev_async_send(w->loop, w->done);
	return NULL;
}

static void
done_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
}

static int
run_workers(const struct mg_dns_config *cfg, int nthreads, const char *name, uint16_t type,
    long long deadline, char **out_r)
{
	struct ev_loop *loop = EV_DEFAULT;
	struct worker *w = xcalloc((size_t)nthreads, sizeof(*w));
	struct mg_dns *d;
	ev_async done;
	const char *err;
	int agree = 1, finished;

	if ((d = mg_dns_new(loop, cfg, &err)) == NULL) {
		fprintf(stderr, "dns-lookup: %s\n", err);
		exit(2);
	}
	ev_async_init(&done, done_cb);
	ev_async_start(loop, &done);
	for (int i = 0; i < nthreads; i++) {
		w[i] = (struct worker){ .d = d, .name = name, .type = type, .deadline = deadline,
		    .loop = loop, .done = &done };
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "dns-lookup: pthread_create failed\n");
			exit(2);
		}
	}
	do {
		ev_run(loop, EVRUN_ONCE);
		pthread_mutex_lock(&done_mu);
		finished = n_done == nthreads;
		pthread_mutex_unlock(&done_mu);
	} while (!finished);
	for (int i = 0; i < nthreads; i++)
		pthread_join(w[i].tid, NULL);
	*out_r = format_result(w[0].res);
	for (int i = 0; i < nthreads; i++) {
		char *o = format_result(w[i].res);
		if (strcmp(o, *out_r) != 0) {
			fprintf(stderr, "dns-lookup: worker %d disagrees:\n%s", i, o);
			agree = 0;
		}
		xfree(o);
	}
	int failed = w[0].res->status == MG_DNS_TEMPFAIL || w[0].res->status == MG_DNS_PERMFAIL;
	for (int i = 0; i < nthreads; i++)
		mg_dns_result_free(&w[i].res);
	ev_async_stop(loop, &done);
	mg_dns_free(&d);
	xfree(w);
	return !agree || failed ? 1 : 0;
}

static void
set_res(struct mg_dns_result *r, void *arg)
{
	*(struct mg_dns_result **)arg = r;
}

int
main(int argc, char **argv)
{
	struct mg_dns_config cfg = { .timeout_ms = 2000, .attempts = 2, .udp_size = 1232 };
	long long v, deadline_ms = 0, start;
	int nthreads = 0, c, rc;
	const char *err;
	uint16_t type = 0;
	char *out;

	while ((c = getopt(argc, argv, "s:t:a:u:Dd:W:")) != -1) {
		switch (c) {
		case 's':
			if (cfg.n_servers >= MG_DNS_SERVERS_MAX ||
			    str_lcpy(cfg.servers[cfg.n_servers], optarg, sizeof(cfg.servers[0])) >=
			    sizeof(cfg.servers[0]))
				usage();
			cfg.n_servers++;
			break;
		case 't':
			if (strnum_ll(optarg, 1, 600000, &v, &err) < 0)
				usage();
			cfg.timeout_ms = (int)v;
			break;
		case 'a':
			if (strnum_ll(optarg, 1, 100, &v, &err) < 0)
				usage();
			cfg.attempts = (int)v;
			break;
		case 'u':
			if (strnum_ll(optarg, 0, MG_DNS_UDP_MAX, &v, &err) < 0)
				usage();
			cfg.udp_size = (int)v;
			break;
		case 'D':
			cfg.dnssec_ok = 1;
			break;
		case 'd':
			if (strnum_ll(optarg, 1, 3600000, &deadline_ms, &err) < 0)
				usage();
			break;
		case 'W':
			if (strnum_ll(optarg, 1, 256, &v, &err) < 0)
				usage();
			nthreads = (int)v;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	if (cfg.n_servers == 0) {
		str_lcpy(cfg.servers[0], "127.0.0.1", sizeof(cfg.servers[0]));
		cfg.n_servers = 1;
	}
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(argv[optind + 1], types[i].name) == 0)
			type = types[i].type;
	if (type == 0) {
		if (strnum_ll(argv[optind + 1], 1, 65535, &v, &err) < 0)
			usage();
		type = (uint16_t)v;
	}
	start = mg_dns_now_ms();
	if (deadline_ms > 0)
		deadline_ms += start;
	if (nthreads > 0) {
		rc = run_workers(&cfg, nthreads, argv[optind], type, deadline_ms, &out);
	} else if (deadline_ms > 0) {
		/* The blocking helper has no deadline parameter: use the async API directly. */
		struct mg_dns_result *res = NULL;
		struct mg_dns *d = mg_dns_new(EV_DEFAULT, &cfg, &err);
		if (d == NULL) {
			fprintf(stderr, "dns-lookup: %s\n", err);
			return 2;
		}
		mg_dns_query(d, argv[optind], type, deadline_ms, set_res, &res);
		while (res == NULL)
			ev_run(EV_DEFAULT, EVRUN_ONCE);
		mg_dns_free(&d);
		out = format_result(res);
		rc = res->status == MG_DNS_TEMPFAIL || res->status == MG_DNS_PERMFAIL;
		mg_dns_result_free(&res);
	} else {
		struct mg_dns_result *res = mg_dns_lookup_blocking(&cfg, argv[optind], type);
		out = format_result(res);
		rc = res->status == MG_DNS_TEMPFAIL || res->status == MG_DNS_PERMFAIL;
		mg_dns_result_free(&res);
	}
	fputs(out, stdout);
	fprintf(stderr, "elapsed_ms=%lld\n", mg_dns_now_ms() - start);
	xfree(out);
	return rc;
}
