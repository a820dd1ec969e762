/* qtoken-mint: makes (or checks) one-click quarantine link tokens (common/qtoken.h) with the
 * keys of a state directory, for tests and for operators debugging digest links.
 * Usage: qtoken-mint [-r] STATE_DIR release|delete|allow|list QID|- RCPT EXPIRES
 *        qtoken-mint -p STATE_DIR TOKEN
 * EXPIRES is unix seconds, or +N / -N seconds from now. -r creates the key file (or rotates it)
 * like the queue role does; without it the file must exist. Prints the token. -p parses TOKEN
 * and prints "action qid rcpt expires key_id nonce-hex" (exit 1 with the reason when invalid).
 * Test tool: trusts its arguments, exits 1 with a message on any error. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/qtoken.h"
#include "lib/str.h"
#include "lib/strnum.h"

static const char *const names[] = { "", "release", "delete", "allow", "list" };

static int
usage(void)
{
	fprintf(stderr, "usage: qtoken-mint [-r] STATE_DIR release|delete|allow|list QID|- RCPT "
	    "EXPIRES\n       qtoken-mint -p STATE_DIR TOKEN\n");
	return 2;
}

static int
parse(const char *dir, const char *tok)
{
	struct qtoken t;
	const char *err;

	if (qtoken_keys_load(dir, 0, 0, (long long)time(NULL), &err) < 0) {
		fprintf(stderr, "qtoken-mint: %s\n", err);
		return 1;
	}
	if (qtoken_parse(tok, &t, &err) < 0) {
		fprintf(stderr, "qtoken-mint: %s\n", err);
		return 1;
	}
	printf("%s %s %s %lld %u ", t.action >= 1 && t.action <= 4 ? names[t.action] : "?",
	    t.qid[0] ? t.qid : "-", t.rcpt, t.expires, t.key_id);
	for (size_t i = 0; i < sizeof(t.nonce); i++)
		printf("%02x", t.nonce[i]);
	printf("\n");
	return 0;
}

int
main(int argc, char **argv)
{
	struct qtoken t;
	char out[QTOKEN_MAX + 1];
	const char *err;
	long long now = (long long)time(NULL), exp;
	int rotate = 0, a;

	if (argc == 4 && strcmp(argv[1], "-p") == 0)
		return parse(argv[2], argv[3]);
	if (argc > 1 && strcmp(argv[1], "-r") == 0) {
		rotate = 1;
		argc--;
		argv++;
	}
	if (argc != 6)
		return usage();
	memset(&t, 0, sizeof(t));
	for (a = 1; a <= 4 && strcmp(argv[2], names[a]) != 0; a++)
		;
	if (a > 4)
		return usage();
	if (strnum_ll(argv[5] + (argv[5][0] == '+'), -(1LL << 40), 1LL << 40, &exp, &err) < 0) {
		fprintf(stderr, "qtoken-mint: EXPIRES: %s\n", err);
		return 1;
	}
	if (argv[5][0] == '+' || argv[5][0] == '-')
		exp += now;
	t.action = (enum qtoken_action)a;
	t.expires = exp;
	str_lcpy(t.qid, strcmp(argv[3], "-") == 0 ? "" : argv[3], sizeof(t.qid));
	str_lcpy(t.rcpt, argv[4], sizeof(t.rcpt));
	if (qtoken_keys_load(argv[1], rotate, 7 * 86400, now, &err) < 0) {
		fprintf(stderr, "qtoken-mint: keys: %s\n", err);
		return 1;
	}
	if (qtoken_make(&t, out, sizeof(out)) < 0) {
		fprintf(stderr, "qtoken-mint: token not made\n");
		return 1;
	}
	printf("%s\n", out);
	return 0;
}
