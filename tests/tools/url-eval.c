/* url-eval.c: measures the URL layers on corpora (doc/benchmarks.md, "URL layers").
 *   url-eval feed FEED            every URL of FEED embedded in a message (once as bare text,
 *                                 once as an HTML link), parsed with mime_parse, extracted and
 *                                 matched against the snapshot FEED builds: hits per form
 *   url-eval ham FEED DIR...      every message file in DIRs through extraction,
 *                                 url_check_set (default configuration, the system PSL, FEED as
 *                                 phishing feed, no URIBL) and attach_check_msg: messages with
 *                                 any PHISH_* symbol, per-symbol message counts, CPU time per
 *                                 message
 * Uses the daemon's own code (libmailguard.a); reads only the files named. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config/config.h"
#include "dmarc/dmarc.h"
#include "filter/attach.h"
#include "filter/filter_int.h"
#include "filter/phish.h"
#include "filter/url.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

static char *
slurp(const char *path, size_t *len_r)
{
	FILE *fp = fopen(path, "rb");
	struct buf b;
	char tmp[65536];
	size_t n;

	if (fp == NULL)
		return NULL;
	buf_init(&b, 64 * 1024 * 1024);
	while ((n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
		if (buf_append(&b, tmp, n) < 0)
			break;
	fclose(fp);
	*len_r = b.len;
	return buf_steal(&b);
}

static struct phish_feed *
load_feed(const char *path, size_t *n_lines)
{
	struct phish_feed *f = phish_feed_new();
	size_t len = 0, skipped = 0;
	char *text = slurp(path, &len);

	if (text == NULL) {
		fprintf(stderr, "url-eval: cannot read %s\n", path);
		exit(2);
	}
	(void)phish_feed_parse(f, text, len, &skipped);
	*n_lines = skipped;
	xfree(text);
	return f;
}

static int
msg_hits(const struct phish_feed *f, const char *msg)
{
	struct mime_msg *m = mime_parse(msg, strlen(msg), NULL);
	struct url_set set = { 0 };
	int hit = 0;

	url_extract_msg(m, &set);
	for (size_t i = 0; i < set.n && !hit; i++)
		hit = phish_feed_match(f, &set.v[i]) != PHISH_NO_MATCH;
	url_set_free(&set);
	mime_msg_free(&m);
	return hit;
}

static int
eval_feed(const char *path)
{
	size_t skipped = 0, total = 0, hit_text = 0, hit_html = 0, len = 0;
	struct phish_feed *f = load_feed(path, &skipped);
	char *text = slurp(path, &len), *save = NULL;

	for (char *line = strtok_r(text, "\r\n", &save); line != NULL;
	    line = strtok_r(NULL, "\r\n", &save)) {
		char *msg;

		if (*line == '\0' || *line == '#')
			continue;
		total++;
		msg = xasprintf("From: Security <security@bank.example>\r\nTo: u@example.org\r\n"
		    "Subject: Verify your account\r\nMIME-Version: 1.0\r\n"
		    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
		    "Dear customer,\r\nplease verify your account at %s within 24 hours.\r\n", line);
		hit_text += (size_t)msg_hits(f, msg);
		xfree(msg);
		msg = xasprintf("From: Security <security@bank.example>\r\nTo: u@example.org\r\n"
		    "Subject: Verify your account\r\nMIME-Version: 1.0\r\n"
		    "Content-Type: text/html; charset=utf-8\r\n\r\n"
		    "<html><body><p>Dear customer,</p><p><a href=\"%s\">Verify now</a></p>"
		    "</body></html>\r\n", line);
		hit_html += (size_t)msg_hits(f, msg);
		xfree(msg);
	}
	printf("feed %s: %zu URLs (%zu distinct in the snapshot, %zu lines not URLs)\n", path,
	    total, phish_feed_count(f), skipped);
	printf("bare text: %zu/%zu hit (%.2f %%)\n", hit_text, total,
	    total ? 100.0 * (double)hit_text / (double)total : 0.0);
	printf("html href: %zu/%zu hit (%.2f %%)\n", hit_html, total,
	    total ? 100.0 * (double)hit_html / (double)total : 0.0);
	xfree(text);
	phish_feed_unref(&f);
	return 0;
}

struct sym_count {
	char name[FILTER_SYM_NAME_MAX];
	size_t msgs;
};

struct ham_stats {
	size_t msgs, phish_msgs, urls;
	struct sym_count sym[128];
	size_t n_sym;
	double cpu;
};

static void
count_syms(struct ham_stats *st, const struct filter_score *s, const char *file)
{
	int phish = 0;

	for (size_t i = 0; i < s->n; i++) {
		size_t j;

		if (strncmp(s->sym[i].name, "PHISH_", 6) == 0) {
			phish = 1;
			if (getenv("URL_EVAL_VERBOSE") != NULL)
				printf("  %s: %s\n", file, s->sym[i].name);
		}
		for (j = 0; j < st->n_sym; j++)
			if (strcmp(st->sym[j].name, s->sym[i].name) == 0)
				break;
		if (j == st->n_sym && st->n_sym < 128)
			snprintf(st->sym[st->n_sym++].name, FILTER_SYM_NAME_MAX, "%s", s->sym[i].name);
		if (j < 128)
			st->sym[j].msgs++;
	}
	st->phish_msgs += (size_t)phish;
}

static void
eval_one(struct ham_stats *st, const struct url_check_in *in, const char *path)
{
	size_t len = 0;
	char *msg = slurp(path, &len);
	struct timespec a, b;
	struct mime_msg *m;
	struct url_set set = { 0 };
	struct filter_score score = { .n = 0 };

	if (msg == NULL)
		return;
	m = mime_parse(msg, len, NULL);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	url_extract_msg(m, &set);
	{
		struct url_check_in in2 = *in;
		in2.from = m->from;
		url_check_set(&in2, &set, &score);
		attach_check_msg(in->cfg, m, &score);
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	st->cpu += (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	st->msgs++;
	st->urls += set.n;
	count_syms(st, &score, path);
	if (getenv("URL_EVAL_ANCHORS") != NULL)
		for (size_t i = 0; i < set.n; i++) {
			char h[URL_HOST_MAX + 1];
			if (set.v[i].anchor != NULL &&
			    url_text_host(set.v[i].anchor, strlen(set.v[i].anchor), h, sizeof(h)))
				printf("  anchor %s -> %s\n", h, set.v[i].host);
		}
	url_set_free(&set);
	mime_msg_free(&m);
	xfree(msg);
}

static void
eval_dir(struct ham_stats *st, const struct url_check_in *in, const char *dir)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);

	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat sb;

		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		if (ents[i]->d_name[0] != '.' && stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    strcmp(ents[i]->d_name, "cmds") != 0)
			eval_one(st, in, path);
		free(ents[i]);	/* allocated by scandir */
	}
	free(ents);
}

static int
eval_ham(const char *feed_path, char **dirs, int n_dirs)
{
	const char *conf = "config_version = 1\n", *err = NULL;
	struct mg_config *cfg = config_parse_text("url-eval", conf, strlen(conf), stderr);
	struct mg_psl *psl = mg_psl_new(NULL, &err);
	size_t skipped;
	struct phish_feed *f = load_feed(feed_path, &skipped);
	struct url_check_in in = { .cfg = cfg, .psl = psl, .feed = f };
	struct ham_stats st = { 0 };

	if (cfg == NULL || psl == NULL) {
		fprintf(stderr, "url-eval: no configuration or PSL (%s)\n", err ? err : "");
		return 2;
	}
	for (int i = 0; i < n_dirs; i++)
		eval_dir(&st, &in, dirs[i]);
	printf("messages: %zu, URLs: %zu, messages with any PHISH_* symbol: %zu (%.2f %%)\n",
	    st.msgs, st.urls, st.phish_msgs,
	    st.msgs ? 100.0 * (double)st.phish_msgs / (double)st.msgs : 0.0);
	for (size_t i = 0; i < st.n_sym; i++)
		printf("  %-28s %6zu messages (%.2f %%)\n", st.sym[i].name, st.sym[i].msgs,
		    100.0 * (double)st.sym[i].msgs / (double)(st.msgs ? st.msgs : 1));
	printf("CPU (URL extraction + checks + attachments, parse excluded): %.1f us/message\n",
	    st.msgs ? st.cpu * 1e6 / (double)st.msgs : 0.0);
	phish_feed_unref(&f);
	mg_psl_free(&psl);
	config_free(&cfg);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "feed") == 0)
		return eval_feed(argv[2]);
	if (argc >= 4 && strcmp(argv[1], "ham") == 0)
		return eval_ham(argv[2], argv + 3, argc - 3);
	fprintf(stderr, "usage: url-eval feed FEED | url-eval ham FEED DIR...\n");
	return 2;
}
