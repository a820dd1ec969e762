/* smtp-auth-source: a load generator for authenticated submission (what Postfix's smtp-source
 * cannot do: STARTTLS or implicit TLS, then AUTH PLAIN). Used by the bench's outbound profile.
 *
 *   smtp-auth-source [-s SESSIONS] [-m COUNT] [-l BYTES] [-M PER_CONNECTION] [-f FROM]
 *       [-t RCPT] [-D DOMAINS] [-a USER:PASSWORD] [-T | -S] [-w WARMUP] HOST:PORT
 *
 * -s parallel sessions (threads, default 10); -m messages in all (default 100); -l body size
 * (default 2048); -M messages sent over one connection before QUIT (default 1); -f MAIL FROM;
 * -t recipient, where "%d" is replaced by the message number modulo -D (default 1), so
 * "rcpt@d%d.test" -D 50 spreads mail over d0.test..d49.test; -a AUTH PLAIN credentials (needs
 * -T or -S); -T STARTTLS; -S implicit TLS. Certificates are not verified (loopback bench).
 * Prints "sent=N failed=N seconds=S rate=R" and exits 1 if any message failed. Every socket
 * has a 30 s timeout, so a stuck server ends the run instead of hanging it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct {
	int sessions, per_conn, domains, starttls, smtps;
	long count, size;
	const char *from, *rcpt, *auth, *host, *port;
	char *body;
	SSL_CTX *ctx;
	pthread_mutex_t lock;
	long next, sent, failed;
} opt = { 10, 1, 1, 0, 0, 100, 2048, "from@bench.test", "rcpt@example.test", NULL, NULL, NULL,
	NULL, NULL, PTHREAD_MUTEX_INITIALIZER, 0, 0, 0 };

struct conn {
	int fd;
	SSL *ssl;
	char in[8192];
	size_t have;
};

static int
conn_write(struct conn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = c->ssl ? SSL_write(c->ssl, p, (int)n) : write(c->fd, p, n);

		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one whole reply (multi-line aware); returns its code or -1. */
static int
conn_reply(struct conn *c)
{
	for (;;) {
		char *nl;

		while ((nl = memchr(c->in, '\n', c->have)) != NULL) {
			size_t len = (size_t)(nl - c->in) + 1;
			int last = len >= 4 && c->in[3] != '-';
			int code = atoi(c->in);	/* three digits checked below */

			if (len < 4 || code < 200 || code > 599)
				return -1;
			memmove(c->in, c->in + len, c->have - len);
			c->have -= len;
			if (last)
				return code;
		}
		if (c->have == sizeof(c->in))
			return -1;
		{
			ssize_t r = c->ssl ? SSL_read(c->ssl, c->in + c->have, (int)(sizeof(c->in) - c->have))
			    : read(c->fd, c->in + c->have, sizeof(c->in) - c->have);

			if (r <= 0)
				return -1;
			c->have += (size_t)r;
		}
	}
}

static int
cmd(struct conn *c, int want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
cmd(struct conn *c, int want, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) || conn_write(c, line, (size_t)n) < 0)
		return -1;
	return conn_reply(c) / 100 == want / 100 ? 0 : -1;
}

static int
start_tls(struct conn *c)
{
	if ((c->ssl = SSL_new(opt.ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    SSL_connect(c->ssl) != 1)
		return -1;
	return 0;
}

static int
conn_open(struct conn *c)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	struct timeval tv = { 30, 0 };

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (getaddrinfo(opt.host, opt.port, &hints, &ai) != 0)
		return -1;
	c->fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	if (opt.smtps && start_tls(c) < 0)
		return -1;
	if (conn_reply(c) != 220 || cmd(c, 250, "EHLO load.bench.test\r\n") < 0)
		return -1;
	if (opt.starttls && (cmd(c, 220, "STARTTLS\r\n") < 0 || start_tls(c) < 0 ||
	    cmd(c, 250, "EHLO load.bench.test\r\n") < 0))
		return -1;
	if (opt.auth) {
		char plain[600], b64[900];
		size_t ulen = strcspn(opt.auth, ":");
		int n = snprintf(plain, sizeof(plain), "%c%.*s%c%s", 0, (int)ulen, opt.auth, 0,
		    opt.auth[ulen] ? opt.auth + ulen + 1 : "");

		if (n < 0 || (size_t)n >= sizeof(plain))
			return -1;
		EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)plain, n);
		if (cmd(c, 235, "AUTH PLAIN %s\r\n", b64) < 0)
			return -1;
	}
	return 0;
}

static void
conn_close(struct conn *c, int quit)
{
	if (quit && c->fd >= 0)
		cmd(c, 221, "QUIT\r\n");
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->ssl = NULL;
}

static int
send_one(struct conn *c, long n)
{
	char rcpt[512];
	const char *pct = strstr(opt.rcpt, "%d");

	if (pct)
		snprintf(rcpt, sizeof(rcpt), "%.*s%ld%s", (int)(pct - opt.rcpt), opt.rcpt,
		    n % opt.domains, pct + 2);
	else
		snprintf(rcpt, sizeof(rcpt), "%s", opt.rcpt);
	if (cmd(c, 250, "MAIL FROM:<%s>\r\n", opt.from) < 0 || cmd(c, 250, "RCPT TO:<%s>\r\n", rcpt) < 0 ||
	    cmd(c, 354, "DATA\r\n") < 0)
		return -1;
	{
		char hdr[1024];
		int h = snprintf(hdr, sizeof(hdr), "From: <%s>\r\nTo: <%s>\r\nSubject: bench %ld\r\n"
		    "Message-ID: <%ld.%ld@load.bench.test>\r\n\r\n", opt.from, rcpt, n, n, (long)getpid());

		if (conn_write(c, hdr, (size_t)h) < 0 || conn_write(c, opt.body, strlen(opt.body)) < 0)
			return -1;
	}
	return cmd(c, 250, ".\r\n");
}

static long
take(void)
{
	long n;

	pthread_mutex_lock(&opt.lock);
	n = opt.next < opt.count ? opt.next++ : -1;
	pthread_mutex_unlock(&opt.lock);
	return n;
}

static void
count(int ok)
{
	pthread_mutex_lock(&opt.lock);
	if (ok)
		opt.sent++;
	else
		opt.failed++;
	pthread_mutex_unlock(&opt.lock);
}

static void *
worker(void *arg)
{
	long n;

	(void)arg;
	while ((n = take()) >= 0) {
		struct conn c;
		int i = 0, ok = conn_open(&c) == 0;

		if (!ok)
			count(0);
		while (ok) {
			ok = send_one(&c, n) == 0;
			count(ok);
			if (!ok || ++i >= opt.per_conn || (n = take()) < 0)
				break;
		}
		conn_close(&c, ok);
	}
	return NULL;
}

static void
make_body(void)
{
	static const char line[] = "The quick brown fox jumps over the lazy dog 0123456789 abcdefghij\r\n";
	size_t ll = sizeof(line) - 1, n = (size_t)opt.size / ll + 1;

	opt.body = calloc(n * ll + 1, 1);
	if (opt.body == NULL)
		exit(2);
	for (size_t i = 0; i < n; i++)
		memcpy(opt.body + i * ll, line, ll);
	opt.body[(size_t)opt.size >= ll ? (size_t)opt.size / ll * ll : ll] = '\0';
}

static void usage(void) __attribute__((noreturn));

static void
usage(void)
{
	fprintf(stderr, "usage: smtp-auth-source [-s sessions] [-m count] [-l bytes] [-M per_conn] "
	    "[-f from] [-t rcpt] [-D domains] [-a user:pass] [-T|-S] host:port\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int ch;
	char *colon;
	pthread_t *th;
	struct timespec t0, t1;
	double secs;

	while ((ch = getopt(argc, argv, "s:m:l:M:f:t:D:a:TS")) != -1) {
		switch (ch) {
		case 's': opt.sessions = atoi(optarg); break;
		case 'm': opt.count = atol(optarg); break;
		case 'l': opt.size = atol(optarg); break;
		case 'M': opt.per_conn = atoi(optarg); break;
		case 'f': opt.from = optarg; break;
		case 't': opt.rcpt = optarg; break;
		case 'D': opt.domains = atoi(optarg); break;
		case 'a': opt.auth = optarg; break;
		case 'T': opt.starttls = 1; break;
		case 'S': opt.smtps = 1; break;
		default: usage();
		}
	}
	if (optind != argc - 1 || opt.sessions < 1 || opt.sessions > 1000 || opt.count < 0 ||
	    opt.size < 1 || opt.per_conn < 1 || opt.domains < 1 || (colon = strrchr(argv[optind], ':')) == NULL)
		usage();
	*colon = '\0';
	opt.host = argv[optind][0] == '[' ? argv[optind] + 1 : argv[optind];
	if (colon > opt.host && colon[-1] == ']')
		colon[-1] = '\0';
	opt.port = colon + 1;
	make_body();
	if ((opt.ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return 2;
	SSL_CTX_set_verify(opt.ctx, SSL_VERIFY_NONE, NULL);
	th = calloc((size_t)opt.sessions, sizeof(*th));
	if (th == NULL)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < opt.sessions; i++)
		if (pthread_create(&th[i], NULL, worker, NULL) != 0)
			return 2;
	for (int i = 0; i < opt.sessions; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("sent=%ld failed=%ld seconds=%.3f rate=%.1f\n", opt.sent, opt.failed, secs,
	    secs > 0 ? (double)opt.sent / secs : 0.0);
	return opt.failed ? 1 : 0;
}
