/* content-bench: CPU cost of the content layers (filter/content.c: mime_parse, the structural
 * symbols, URLs, attachments, Bayes, neural) per message, and symbol statistics over corpora.
 *   content-bench [-c CONFDIR] [-n ITER] -g SIZE[,SIZE...] SEEDFILE
 *       builds a multipart/alternative message of each SIZE octets (k/m suffixes) from the text
 *       of SEEDFILE (a real message: its lines become a quoted-printable text part and a
 *       base64 HTML part with paragraphs and links) and prints the thread CPU time per
 *       content_check over ITER runs (default: enough runs for >= 0.5 s per size).
 *   content-bench [-c CONFDIR] [-n ITER] FILE...     the same for stored messages
 *   content-bench [-c CONFDIR] -s DIR...             per-symbol counts of the content layers
 *       over every file in each DIR ("DIR SYMBOL COUNT PERCENT" lines)
 *   -d BITS  MG_LAYER_* bits (config/config.h) switched off, e.g. -d 0x18 (bayes, neural)
 * With -c the configuration and the state directory of CONFDIR are loaded (trained Bayes
 * store and neural weights, phishing feeds), so every layer that has data runs; without it the
 * built-in defaults are used and the learning layers have no model (they return early). */
#include <dirent.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "filter/content.h"
#include "filter/filter_int.h"
#include "filter/phish.h"
#include "lib/buf.h"
#include "lib/kvdb.h"
#include "lib/xalloc.h"

#define BENCH_FILE_MAX (64 * 1024 * 1024)
#define BENCH_SYMS_MAX 256

static struct mg_config *cfg;
static unsigned disabled;	/* -d: MG_LAYER_* bits off, to attribute the cost per layer */

static int
read_file(const char *path, struct buf *out)
{
	char chunk[65536];
	size_t n;
	FILE *f = fopen(path, "rb");

	if (f == NULL)
		return -1;
	buf_init(out, BENCH_FILE_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(out, chunk, n) < 0)
			break;
	fclose(f);
	return 0;
}

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
run_one(const char *msg, size_t len, struct filter_score *score)
{
	struct content_ctx c;

	memset(&c, 0, sizeof(c));
	memset(score, 0, sizeof(*score));
	c.cfg = cfg;
	c.disabled = disabled;
	c.msg = msg;
	c.len = len;
	c.score = score;
	content_check(&c);
}

/* Runs content_check over msg (iter runs, or until 0.5 s of CPU) and prints the cost. */
static void
bench(const char *label, const char *msg, size_t len, long iter)
{
	struct filter_score score;
	struct buf syms;
	double t0, t;
	long n = 0;

	run_one(msg, len, &score);	/* warm-up: iconv modules, snapshots */
	t0 = cpu_now();
	do {
		run_one(msg, len, &score);
		n++;
	} while (iter > 0 ? n < iter : cpu_now() - t0 < 0.5);
	t = cpu_now() - t0;
	buf_init(&syms, 65536);
	(void)filter_score_symbols(&score, &syms);
	printf("%-24s %9zu octets %7ld runs %10.3f ms/msg %8.1f MB/s  %s\n", label, len, n,
	    t * 1e3 / (double)n, (double)len * (double)n / t / 1e6, syms.len ? syms.data : "-");
	buf_free(&syms);
}

/* A realistic generated message of about size octets from the words of the seed text. */
static void
generate(const struct buf *seed, size_t size, struct buf *out)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct buf html, text;
	size_t i, k, col = 0, para = 0;

	buf_init(&html, BENCH_FILE_MAX);
	buf_init(&text, BENCH_FILE_MAX);
	buf_reset(out);
	(void)buf_printf(out, "Received: from mx.example.net (mx.example.net [192.0.2.1])\r\n"
	    "\tby mail.example.org (MailGuard) with ESMTP id 0123456789ABCDEF;\r\n"
	    "\tMon, 24 Nov 2025 10:00:00 +0000\r\nFrom: \"Sender\" <sender@example.net>\r\n"
	    "To: <user@example.org>\r\nSubject: =?utf-8?Q?Gen=C3=A9rated_message?=\r\n"
	    "Date: Mon, 24 Nov 2025 09:59:00 +0000\r\nMessage-ID: <gen.%zu@example.net>\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"
	    "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n", size);
	/* half the octets for each part: the text repeated from the seed */
	while (out->len + text.len + html.len * 4 / 3 < size) {
		for (i = 0; i < seed->len && out->len + text.len + html.len * 4 / 3 < size; i++) {
			char ch = seed->data[i];
			if (ch == '\r')
				continue;
			if (ch == '\n' || col >= 72) {
				(void)buf_append_str(&text, ch == '\n' ? "\r\n" : "=\r\n");
				col = 0;
				if (ch == '\n' && ++para % 8 == 0)
					(void)buf_printf(&html, "</p>\n<p>See <a href=\"https://www"
					    ".example.com/p/%zu\">our offer</a> now.\n", para);
				if (ch == '\n')
					continue;
			}
			if ((unsigned char)ch >= 0x80 || ch == '=')
				(void)buf_printf(&text, "=%02X", (unsigned char)ch);
			else
				(void)buf_append_char(&text, ch);
			col++;
			if (ch == '<')
				(void)buf_append_str(&html, "&lt;");
			else
				(void)buf_append_char(&html, ch);
		}
	}
	(void)buf_append(out, text.data, text.len);
	(void)buf_append_str(out, "\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n");
	for (i = 0, k = 0; i < html.len; i += 3) {
		unsigned v = (unsigned char)html.data[i] << 16;
		v |= i + 1 < html.len ? (unsigned char)html.data[i + 1] << 8 : 0;
		v |= i + 2 < html.len ? (unsigned char)html.data[i + 2] : 0;
		(void)buf_append_char(out, b64[(v >> 18) & 63]);
		(void)buf_append_char(out, b64[(v >> 12) & 63]);
		(void)buf_append_char(out, i + 1 < html.len ? b64[(v >> 6) & 63] : '=');
		(void)buf_append_char(out, i + 2 < html.len ? b64[v & 63] : '=');
		if ((k += 4) >= 76) {
			(void)buf_append_str(out, "\r\n");
			k = 0;
		}
	}
	(void)buf_append_str(out, "\r\n--b1--\r\n");
	buf_free(&html);
	buf_free(&text);
}

static size_t
parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (*end == 'k' || *end == 'K')
		v *= 1024;
	else if (*end == 'm' || *end == 'M')
		v *= 1024 * 1024;
	return (size_t)v;
}

struct symcount {
	char name[FILTER_SYM_NAME_MAX];
	long n;
};

static void
stats_dir(const char *dir)
{
	struct symcount sc[BENCH_SYMS_MAX];
	size_t n_sc = 0, i, j;
	long files = 0;
	struct filter_score score;
	struct dirent *de;
	struct buf msg;
	char path[4096];
	DIR *d = opendir(dir);

	if (d == NULL) {
		perror(dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (read_file(path, &msg) < 0)
			continue;
		run_one(msg.data ? msg.data : "", msg.len, &score);
		buf_free(&msg);
		files++;
		for (i = 0; i < score.n; i++) {
			for (j = 0; j < n_sc && strcmp(sc[j].name, score.sym[i].name) != 0; j++)
				;
			if (j == n_sc && n_sc < BENCH_SYMS_MAX) {
				snprintf(sc[n_sc].name, sizeof(sc[0].name), "%s", score.sym[i].name);
				sc[n_sc++].n = 0;
			}
			if (j < n_sc)
				sc[j].n++;
		}
	}
	closedir(d);
	for (j = 0; j < n_sc; j++)
		printf("%s %s %ld %.1f\n", dir, sc[j].name, sc[j].n,
		    files ? 100.0 * (double)sc[j].n / (double)files : 0.0);
	printf("%s FILES %ld\n", dir, files);
}

static void
setup(const char *confdir)
{
	static const char minimal[] = "config_version = 1\n";
	struct mg_kvdb *kv = NULL;
	const char *err;
	char *db;

	if (confdir != NULL) {
		if ((cfg = config_load(confdir, stderr)) == NULL)
			exit(1);
		db = xasprintf("%s/db", cfg->state_dir);
		if ((kv = mg_kvdb_open(db, &err)) == NULL)
			fprintf(stderr, "content-bench: %s: %s (no Bayes)\n", db, err);
		xfree(db);
	} else if ((cfg = config_parse_text("content-bench", minimal, sizeof(minimal) - 1,
	    stderr)) == NULL)
		exit(1);
	if (content_init(ev_default_loop(0), cfg, kv, &err) < 0) {
		fprintf(stderr, "content-bench: content_init: %s\n", err);
		exit(1);
	}
	/* let a configured phishing feed load (bounded: 5 s) */
	for (int i = 0; i < 50 && cfg->n_phishing_feeds > 0 && phish_current() == NULL; i++) {
		ev_run(ev_default_loop(0), EVRUN_NOWAIT);
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

int
main(int argc, char **argv)
{
	const char *confdir = NULL, *gen = NULL;
	struct buf seed, msg;
	long iter = 0;
	int stats = 0, i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			confdir = argv[++i];
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			iter = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-g") == 0 && i + 1 < argc)
			gen = argv[++i];
		else if (strcmp(argv[i], "-s") == 0)
			stats = 1;
		else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
			disabled = (unsigned)strtoul(argv[++i], NULL, 0);
		else
			break;
	}
	if (i >= argc) {
		fputs("usage: content-bench [-c CONFDIR] [-n ITER] (-g SIZES SEED | -s DIR... | "
		    "FILE...)\n", stderr);
		return 2;
	}
	setup(confdir);
	if (gen != NULL) {
		char *list = xstrdup(gen), *save = NULL, *tok;
		if (read_file(argv[i], &seed) < 0 || seed.len == 0) {
			perror(argv[i]);
			return 1;
		}
		buf_init(&msg, BENCH_FILE_MAX);
		for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			generate(&seed, parse_size(tok), &msg);
			bench(tok, msg.data, msg.len, iter);
		}
		xfree(list);
	} else
		for (; i < argc; i++) {
			if (stats) {
				stats_dir(argv[i]);
				continue;
			}
			if (read_file(argv[i], &msg) < 0) {
				perror(argv[i]);
				continue;
			}
			bench(argv[i], msg.data ? msg.data : "", msg.len, iter);
			buf_free(&msg);
		}
	content_fini();
	config_free(&cfg);
	return 0;
}
