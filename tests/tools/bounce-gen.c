/* bounce-gen: golden-test driver for queue/bounce.c. Reads an envelope file and a message body
 * file, builds the DSN of the given kind with a fixed "now" and reporting host, prints it.
 * Usage: bounce-gen [-k failure|delay|success] [-l return_limit] [-u retry_until] [-e] [-n]
 *                   ENVELOPE BODY NOW HOST
 * -e prints the envelope of the report (bounce_envelope, qid ffff...) instead of the report;
 * -n builds as if the body could not be read (body_fd -1).
 * Test tool: trusts its arguments, exits 1 with a message on any error. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/envelope.h"
#include "lib/buf.h"
#include "lib/strnum.h"
#include "queue/bounce.h"

static int
read_file(const char *path, struct buf *b)
{
	int fd = open(path, O_RDONLY);
	char tmp[65536];
	ssize_t r;

	if (fd < 0)
		return -1;
	while ((r = read(fd, tmp, sizeof(tmp))) > 0)
		if (buf_append(b, tmp, (size_t)r) < 0) {
			r = -1;
			errno = EFBIG;
			break;
		}
	close(fd);
	return r < 0 ? -1 : 0;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: bounce-gen [-k failure|delay|success] [-l return_limit] "
	    "[-u retry_until] [-e] [-n] ENVELOPE BODY NOW HOST\n");
	_exit(1);
}

int
main(int argc, char **argv)
{
	struct bounce_params p = { NULL, 0, 0, 100 * 1024 };
	enum bounce_kind kind = BOUNCE_FAILURE;
	struct envelope env, benv;
	struct buf text, out;
	const char *error;
	long long v;
	size_t n = 0;
	int c, fd = -1, print_env = 0, no_body = 0, status = 1;

	while ((c = getopt(argc, argv, "k:l:u:en")) != -1) {
		switch (c) {
		case 'k':
			if (strcmp(optarg, "failure") == 0)
				kind = BOUNCE_FAILURE;
			else if (strcmp(optarg, "delay") == 0)
				kind = BOUNCE_DELAY;
			else if (strcmp(optarg, "success") == 0)
				kind = BOUNCE_SUCCESS;
			else
				usage();
			break;
		case 'l':
			if (strnum_ll(optarg, 0, 1LL << 40, &v, &error) < 0)
				usage();
			p.return_limit = (size_t)v;
			break;
		case 'u':
			if (strnum_ll(optarg, 0, ENVELOPE_TIME_MAX, &p.retry_until, &error) < 0)
				usage();
			break;
		case 'e':
			print_env = 1;
			break;
		case 'n':
			no_body = 1;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 4 || strnum_ll(argv[optind + 2], 0, ENVELOPE_TIME_MAX, &p.now,
	    &error) < 0)
		usage();
	p.reporting_mta = argv[optind + 3];
	buf_init(&text, ENVELOPE_FILE_MAX + 1);
	buf_init(&out, 64 * 1024 * 1024);
	envelope_init(&env);
	if (read_file(argv[optind], &text) < 0) {
		fprintf(stderr, "bounce-gen: %s: %s\n", argv[optind], strerror(errno));
		goto done;
	}
	if (envelope_parse(buf_slice(&text), &env, &error) < 0) {
		printf("envelope error: %s\n", error);
		goto done;
	}
	if (!no_body && (fd = open(argv[optind + 1], O_RDONLY)) < 0) {
		fprintf(stderr, "bounce-gen: %s: %s\n", argv[optind + 1], strerror(errno));
		goto done;
	}
	if (bounce_build_params(&env, fd, kind, &p, &out, &n) < 0) {
		printf("bounce error: %s\n", strerror(errno));
		goto done;
	}
	if (n == 0)
		printf("no report owed\n");
	else if (print_env) {
		struct buf eout;

		envelope_init(&benv);
		bounce_envelope(&env, "ffffffffffffffff", p.now, buf_slice(&out), &benv);
		buf_init(&eout, ENVELOPE_FILE_MAX);
		if (envelope_write(&benv, &eout) == 0)
			fwrite(eout.data, 1, eout.len, stdout);
		else
			printf("bounce envelope does not write\n");
		buf_free(&eout);
		envelope_clear(&benv);
	} else
		fwrite(out.data, 1, out.len, stdout);
	status = 0;
done:
	if (fd >= 0)
		close(fd);
	buf_free(&out);
	buf_free(&text);
	envelope_clear(&env);
	return status;
}
