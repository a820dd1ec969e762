/* digest-bench: times the real digest builder (queue/digest_build.c) for many recipients, the
 * figure doc/benchmarks.md quotes for issue G.
 * Usage: digest-bench [-n RECIPIENTS] [-m MESSAGES_PER_RECIPIENT] [-l LOGO_FILE] [-o SAMPLE.eml]
 * Defaults: 10000 recipients, 5 messages each. Timed (CLOCK_MONOTONIC), per recipient: filling
 * the item list, digest_build (header section, text and HTML parts quoted-printable, 3 tokens
 * per message + 1 list token, each an HMAC-SHA-256 under a key from a temporary state dir) into
 * a reused buffer. Not timed: key creation. Not included: the queue role's spool write and
 * commit of each digest (that is the cost of any locally generated message). -o writes the
 * first digest, to look at. Test tool: trusts its arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/qtoken.h"
#include "lib/buf.h"
#include "lib/str.h"
#include "lib/strnum.h"
#include "lib/xalloc.h"
#include "queue/digest.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = xmalloc(DIGEST_LOGO_MAX + 1);

	*len = f ? fread(data, 1, DIGEST_LOGO_MAX + 1, f) : 0;
	if (f)
		fclose(f);
	if (*len == 0 || *len > DIGEST_LOGO_MAX) {
		fprintf(stderr, "digest-bench: logo %s unreadable or over 256 KiB\n", path);
		exit(1);
	}
	return data;
}

int
main(int argc, char **argv)
{
	long long nr = 10000, nm = 5, v;
	const char *err, *logo_path = NULL, *sample = NULL;
	char dir[] = "/tmp/digest-bench.XXXXXX", rcpt[64], path[64];
	struct digest_params p = { .from = "quarantine@example.org", .brand_name = "MailGuard",
		.brand_color = "#1f6feb", .base_url = "https://mail.example.org:8443",
		.hostname = "mx.example.org" };
	struct digest_item *items;
	char (*qids)[17], (*senders)[64], (*subjects)[96];
	struct buf b;
	double t0, t1;
	size_t bytes = 0;
	int c;

	while ((c = getopt(argc, argv, "n:m:l:o:")) != -1) {
		if ((c == 'n' || c == 'm') && strnum_ll(optarg, 1, 10000000, &v, &err) < 0) {
			fprintf(stderr, "digest-bench: -%c: %s\n", c, err);
			return 2;
		}
		if (c == 'n')
			nr = v;
		else if (c == 'm')
			nm = v;
		else if (c == 'l')
			logo_path = optarg;
		else if (c == 'o')
			sample = optarg;
		else
			return 2;
	}
	p.now = (long long)time(NULL);
	p.link_expires = p.now + 14 * 86400;
	if (logo_path) {
		p.logo = read_file(logo_path, &p.logo_len);
		p.logo_type = digest_logo_type(p.logo, p.logo_len);
	}
	if (mkdtemp(dir) == NULL || qtoken_keys_load(dir, 1, 14 * 86400, p.now, &err) < 0) {
		fprintf(stderr, "digest-bench: keys in %s failed\n", dir);
		return 1;
	}
	items = xcalloc((size_t)nm, sizeof(*items));
	qids = xcalloc((size_t)nm, sizeof(*qids));
	senders = xcalloc((size_t)nm, sizeof(*senders));
	subjects = xcalloc((size_t)nm, sizeof(*subjects));
	buf_init(&b, DIGEST_MSG_MAX);
	t0 = now_s();
	for (long long r = 0; r < nr; r++) {
		(void)str_fmt(rcpt, sizeof(rcpt), "user%lld@example.org", r);
		p.rcpt = rcpt;
		for (long long i = 0; i < nm; i++) {
			(void)str_fmt(qids[i], sizeof(qids[i]), "%08llx%08llx", r, i);
			(void)str_fmt(senders[i], sizeof(senders[i]), "sender%lld@spam%lld.example", i, r);
			(void)str_fmt(subjects[i], sizeof(subjects[i]),
			    "Limited offer #%lld: cheap <watches> & more for user %lld", i, r);
			items[i] = (struct digest_item){ qids[i], senders[i], subjects[i],
				p.now - i * 600, 6.5 + (double)i / 10, (size_t)i };
		}
		buf_reset(&b);
		if (digest_build(&p, items, (size_t)nm, &b, &err) < 0) {
			fprintf(stderr, "digest-bench: %s\n", err);
			return 1;
		}
		bytes += b.len;
		if (r == 0 && sample != NULL) {
			FILE *f = fopen(sample, "wb");
			if (f) {
				fwrite(b.data, 1, b.len, f);
				fclose(f);
			}
		}
	}
	t1 = now_s();
	printf("digest-bench: %lld digests of %lld message(s) each (%lld links each) in %.3f s: "
	    "%.1f us per digest, %.0f digests/s, %.1f MB built (%.0f bytes each)%s\n", nr, nm,
	    3 * nm + 1, t1 - t0, (t1 - t0) / (double)nr * 1e6, (double)nr / (t1 - t0),
	    (double)bytes / 1e6, (double)bytes / (double)nr, p.logo ? ", with logo" : "");
	buf_free(&b);
	(void)str_fmt(path, sizeof(path), "%s/qtoken-keys", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}
