/* ctl_remote.c: mailguardctl remote mode (admin/ctl_remote.h): options, the HTTPS transport and
 * the commands, each one or more calls of the console's JSON API (doc/api.md) with an API token.
 * Runs in mailguardctl, single-threaded. The server is not trusted beyond its certificate:
 * libcurl verifies the certificate chain and host name (CA from --ca-file or the system store)
 * unless --insecure, only https is spoken, redirects are not followed, a reply is at most
 * REMOTE_REPLY_MAX bytes and is parsed by jansson (duplicate keys refused) before
 * ctl_remote_fmt.c prints it. The token file must be a regular file that group and others
 * cannot read; the token (64 hex digits) goes only into the Authorization header. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/ctl_remote.h"
#include "admin/ops.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define REMOTE_REPLY_MAX	(64u * 1024 * 1024)	/* bytes of one API reply */
#define REMOTE_BODY_MAX		(256u * 1024)		/* a request body (the API's own cap) */
#define REMOTE_TOKEN_LEN	64
#define REMOTE_TIMEOUT		120L			/* seconds for one request */
#define REMOTE_QUEUE_ALL_MAX	10000			/* messages acted on by ... ALL */

struct remote {
	CURL *curl;
	char *base;		/* "https://host:port", no trailing '/' */
	char authz[REMOTE_TOKEN_LEN + 32];
	const char *ca_file;
	int insecure, json_out;
};

struct reply {
	long status;		/* HTTP status; 0 when the request failed */
	struct buf body;
	json_t *j;		/* parsed body, or NULL */
};

/* ---- options and token ---- */

static int __attribute__((format(printf, 1, 2)))
fail_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("mailguardctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nusage: mailguardctl --url https://HOST:PORT --token-file FILE [--ca-file FILE | "
	    "--insecure] [--json] COMMAND\n  (mailguardctl without arguments lists the remote "
	    "commands)\n", stderr);
	return 2;
}

/* Option value of "--name VALUE" or "--name=VALUE" at argv[*i]; NULL when argv[*i] is not it. */
static const char *
opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0' || *i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

int
ctl_remote_wanted(int argc, char **argv)
{
	for (int i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--url") == 0 || strncmp(argv[i], "--url=", 6) == 0)
			return 1;
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "-S") == 0 ||
		    strcmp(argv[i], "--token-file") == 0 || strcmp(argv[i], "--ca-file") == 0)
			i++;	/* skip the option's argument */
	}
	return 0;
}

/* Reads the token: a regular file not readable by group or others, holding 64 hex digits and
 * optional white space. */
static int
read_token(const char *path, char *tok, size_t size)
{
	char text[512];
	struct stat st;
	ssize_t n;
	size_t a, b;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "mailguardctl: token file %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
		fprintf(stderr, "mailguardctl: token file %s must be a regular file that group and "
		    "others cannot read or write (chmod 600)\n", path);
		close(fd);
		return -1;
	}
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		n = 0;
	text[n] = '\0';
	for (a = 0; text[a] == ' ' || text[a] == '\t' || text[a] == '\n' || text[a] == '\r'; a++)
		;
	for (b = a; (text[b] >= '0' && text[b] <= '9') || (text[b] >= 'a' && text[b] <= 'f') ||
	    (text[b] >= 'A' && text[b] <= 'F'); b++)
		;
	if (b - a != REMOTE_TOKEN_LEN || text[b + strspn(text + b, " \t\r\n")] != '\0' ||
	    size <= REMOTE_TOKEN_LEN) {
		fprintf(stderr, "mailguardctl: token file %s does not hold a token (64 hex digits, "
		    "as printed by mailguardctl admin token NAME)\n", path);
		xwipe(text, sizeof(text));
		return -1;
	}
	memcpy(tok, text + a, REMOTE_TOKEN_LEN);
	tok[REMOTE_TOKEN_LEN] = '\0';
	xwipe(text, sizeof(text));
	return 0;
}

/* Parses the options; returns the index of the command word, or -1 after a message (usage). */
static int
remote_options(struct remote *r, int argc, char **argv)
{
	const char *url = NULL, *token_file = NULL, *v;
	char tok[REMOTE_TOKEN_LEN + 1];
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if ((v = opt_value(argc, argv, &i, "--url")) != NULL)
			url = v;
		else if ((v = opt_value(argc, argv, &i, "--token-file")) != NULL)
			token_file = v;
		else if ((v = opt_value(argc, argv, &i, "--ca-file")) != NULL)
			r->ca_file = v;
		else if (strcmp(argv[i], "--insecure") == 0)
			r->insecure = 1;
		else if (strcmp(argv[i], "--json") == 0)
			r->json_out = 1;
		else
			return fail_usage("remote mode: unknown option %s", argv[i]), -1;
	}
	if (url == NULL || strncmp(url, "https://", 8) != 0 || url[8] == '\0' ||
	    strpbrk(url, " \t\r\n?#") != NULL)
		return fail_usage("--url must be https://HOST[:PORT] (the console's address)"), -1;
	if (token_file == NULL)
		return fail_usage("remote mode needs --token-file"), -1;
	if (r->insecure && r->ca_file != NULL)
		return fail_usage("--ca-file and --insecure exclude each other"), -1;
	if (i >= argc)
		return fail_usage("no command"), -1;
	if (read_token(token_file, tok, sizeof(tok)) < 0)
		return -2;
	str_fmt(r->authz, sizeof(r->authz), "Authorization: Bearer %s", tok);
	xwipe(tok, sizeof(tok));
	r->base = xstrdup(url);
	for (size_t n = strlen(r->base); n > 8 && r->base[n - 1] == '/'; n--)
		r->base[n - 1] = '\0';
	return i;
}

/* ---- transport ---- */

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	if (buf_append(b, p, size * n) < 0)
		return 0;	/* over REMOTE_REPLY_MAX: libcurl aborts the transfer */
	return size * n;
}

/* METHOD base + path (escaped by the caller) with an optional JSON body; fills rep. Returns
 * 0 when an HTTP reply arrived (any status), -1 after printing why not. */
static int
remote_call(struct remote *r, const char *method, const char *path, const json_t *body,
    struct reply *rep)
{
	struct curl_slist *h = NULL;
	char *url = xasprintf("%s%s", r->base, path), *text = NULL;
	json_error_t jerr;
	CURLcode rc;

	memset(rep, 0, sizeof(*rep));
	buf_init(&rep->body, REMOTE_REPLY_MAX);
	curl_easy_reset(r->curl);
	h = curl_slist_append(h, r->authz);
	h = curl_slist_append(h, "Accept: application/json");
	curl_easy_setopt(r->curl, CURLOPT_URL, url);
	curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(r->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(r->curl, CURLOPT_SSL_VERIFYPEER, r->insecure ? 0L : 1L);
	curl_easy_setopt(r->curl, CURLOPT_SSL_VERIFYHOST, r->insecure ? 0L : 2L);
	if (r->ca_file != NULL)
		curl_easy_setopt(r->curl, CURLOPT_CAINFO, r->ca_file);
	curl_easy_setopt(r->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(r->curl, CURLOPT_TIMEOUT, REMOTE_TIMEOUT);
	curl_easy_setopt(r->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, &rep->body);
	if (body != NULL) {
		text = json_dumps(body, JSON_COMPACT);
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE, 0L);
	}
	curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, h);
	rc = curl_easy_perform(r->curl);
	curl_slist_free_all(h);
	free(text);	/* jansson's allocation */
	if (rc != CURLE_OK) {
		fprintf(stderr, "mailguardctl: %s %s: %s\n", method, url, rc == CURLE_WRITE_ERROR ?
		    "reply too large" : curl_easy_strerror(rc));
		xfree(url);
		return -1;
	}
	xfree(url);
	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &rep->status);
	rep->j = json_loadb(rep->body.data ? rep->body.data : "", rep->body.len,
	    JSON_REJECT_DUPLICATES, &jerr);
	return 0;
}

static void
reply_free(struct reply *rep)
{
	json_decref(rep->j);
	rep->j = NULL;
	buf_free(&rep->body);
}

/* Writes the reply as it came for --json: re-encoded with every non-ASCII character escaped
 * (JSON_ENSURE_ASCII), so a hostile server cannot put terminal controls on the screen; a body
 * that is not JSON is printed cleaned. */
static void
print_json(FILE *f, const struct reply *rep)
{
	struct buf out;
	char *text;

	if (rep->j != NULL && (text = json_dumps(rep->j, JSON_ENSURE_ASCII | JSON_COMPACT)) != NULL) {
		fprintf(f, "%s\n", text);
		free(text);	/* jansson's allocation */
		return;
	}
	buf_init(&out, REMOTE_REPLY_MAX * 4);
	(void)buf_append(&out, "", 0);
	ctl_remote_clean_text(&out, rep->body.data ? rep->body.data : "");
	fwrite(out.data ? out.data : "", 1, out.len, f);
	buf_free(&out);
}

/* Prints a refusal: "error" with its "details", or "output"/"errors" (control text), cleaned. */
static void
print_refusal(const struct reply *rep)
{
	const json_t *e = json_object_get(rep->j, "error"), *d = json_object_get(rep->j, "details");
	const json_t *o = json_object_get(rep->j, "output"), *es = json_object_get(rep->j, "errors");
	size_t i;
	const json_t *v;
	struct buf out;

	buf_init(&out, REMOTE_REPLY_MAX * 4);
	if (json_is_string(o) && json_string_length(o) > 0) {
		ctl_remote_clean_text(&out, json_string_value(o));
	} else if (json_is_string(e) || json_is_string(es)) {
		(void)buf_append_str(&out, "error: ");
		ctl_remote_clean_text(&out, json_string_value(json_is_string(e) ? e : es));
		(void)buf_append_char(&out, '\n');
		json_array_foreach(d, i, v)
			if (json_is_string(v)) {
				(void)buf_append_str(&out, "  ");
				ctl_remote_clean(&out, json_string_value(v));
				(void)buf_append_char(&out, '\n');
			}
	} else {
		(void)buf_printf(&out, "error: the console answered HTTP %ld\n", rep->status);
	}
	if (out.len > 0 && out.data[out.len - 1] != '\n')
		(void)buf_append_char(&out, '\n');
	fwrite(out.data ? out.data : "", 1, out.len, stderr);
	buf_free(&out);
}

/* One call, printed: with --json the body as it came; else fmt's text, or the "output" member
 * of a control reply when kind < 0. Returns the exit status. */
static int
remote_run(struct remote *r, const char *method, const char *path, const json_t *body,
    int kind)
{
	struct reply rep;
	struct buf out;
	int status;

	if (remote_call(r, method, path, body, &rep) < 0) {
		reply_free(&rep);
		return 1;
	}
	status = rep.status >= 200 && rep.status < 300 ? 0 : 1;
	if (status != 0 && !r->json_out) {
		print_refusal(&rep);
	} else if (r->json_out) {
		print_json(status ? stderr : stdout, &rep);
	} else {
		const json_t *o = json_object_get(rep.j, "output");

		buf_init(&out, REMOTE_REPLY_MAX * 4);
		if (kind >= 0 && ctl_remote_format((enum ctl_remote_fmt)kind, rep.j, &out) < 0) {
			fprintf(stderr, "mailguardctl: unexpected reply from the console\n");
			status = 1;
		} else if (kind < 0 && json_is_string(o)) {
			ctl_remote_clean_text(&out, json_string_value(o));
		} else if (kind < 0) {
			(void)buf_append_str(&out, "ok\n");
		}
		fwrite(out.data ? out.data : "", 1, out.len, stdout);
		buf_free(&out);
	}
	reply_free(&rep);
	return status;
}

/* "/api/v1/" + escaped segments joined by '/'. */
static char *
api_path(struct remote *r, const char *const *seg, size_t n)
{
	struct buf b;

	buf_init(&b, 64 * 1024);
	(void)buf_append_str(&b, "/api/v1");
	for (size_t i = 0; i < n; i++) {
		char *e = curl_easy_escape(r->curl, seg[i], 0);

		(void)buf_printf(&b, "/%s", e != NULL ? e : "");
		curl_free(e);
	}
	(void)buf_append_str(&b, "");
	return buf_steal(&b);
}

/* ---- commands ---- */

/* argv[0] is the group, argv[1] the verb, argv[2..] the arguments. */
typedef int remote_cmd_fn(struct remote *r, int argc, char **argv);

static int
get_fmt(struct remote *r, const char *const *seg, size_t n, int kind)
{
	char *path = api_path(r, seg, n);
	int st = remote_run(r, "GET", path, NULL, kind);

	xfree(path);
	return st;
}

static int
cmd_domains_list(struct remote *r, int argc, char **argv)
{
	static const char *const seg[] = { "domains" };

	(void)argc;
	(void)argv;
	return get_fmt(r, seg, 1, CTL_FMT_DOMAINS);
}

static int
cmd_domains_show(struct remote *r, int argc, char **argv)
{
	const char *seg[] = { "domains", argv[2] };

	(void)argc;
	return get_fmt(r, seg, 2, CTL_FMT_DOMAIN);
}

/* PUT/POST a domain object; prints "DOMAIN: done" (and a restart note). */
static int
domain_change(struct remote *r, const char *method, const char *name, json_t *body)
{
	const char *seg[] = { "domains", name };
	char *path = api_path(r, seg, strcmp(method, "POST") == 0 ? 1 : 2);
	struct reply rep;
	int st = 1;

	if (remote_call(r, method, path, body, &rep) == 0) {
		const json_t *note = json_object_get(rep.j, "restart_needed");

		st = rep.status >= 200 && rep.status < 300 ? 0 : 1;
		if (r->json_out) {
			print_json(st ? stderr : stdout, &rep);
		} else if (st != 0) {
			print_refusal(&rep);
		} else {
			struct buf n;

			buf_init(&n, 64 * 1024);
			(void)buf_append(&n, "", 0);
			if (json_is_string(note) && json_string_length(note) > 0) {
				(void)buf_append_str(&n, "; needs a restart: ");
				ctl_remote_clean(&n, json_string_value(note));
			}
			printf("%s: %s%s\n", name, strcmp(method, "POST") == 0 ? "added" : "changed",
			    n.data ? n.data : "");
			buf_free(&n);
		}
	}
	reply_free(&rep);
	xfree(path);
	json_decref(body);
	return st;
}

/* The words of argv[from..argc) joined by single spaces (as `config set` joins them). */
static char *
join_words(int argc, char **argv, int from)
{
	struct buf b;

	buf_init(&b, REMOTE_BODY_MAX);
	for (int i = from; i < argc; i++)
		(void)buf_printf(&b, "%s%s", i > from ? " " : "", argv[i]);
	(void)buf_append_str(&b, "");
	return buf_steal(&b);
}

static int
cmd_domains_set(struct remote *r, int argc, char **argv)
{
	char *v = join_words(argc, argv, 4);
	json_t *body = json_pack("{s:{s:s}}", "settings", argv[3], v);

	xfree(v);
	return domain_change(r, "PUT", argv[2], body);
}

static int
cmd_domains_unset(struct remote *r, int argc, char **argv)
{
	(void)argc;
	return domain_change(r, "PUT", argv[2], json_pack("{s:{s:n}}", "settings", argv[3]));
}

static int
cmd_domains_add(struct remote *r, int argc, char **argv)
{
	(void)argc;
	return domain_change(r, "POST", argv[2], json_pack("{s:s,s:{s:s}}", "name", argv[2],
	    "settings", "transport", argv[3]));
}

static int
cmd_domains_remove(struct remote *r, int argc, char **argv)
{
	const char *seg[] = { "domains", argv[2] };
	char *path = api_path(r, seg, 2);
	int st = remote_run(r, "DELETE", path, NULL, -1);

	(void)argc;
	xfree(path);
	return st;
}

static int
cmd_lists_show(struct remote *r, int argc, char **argv)
{
	const char *seg[] = { "lists", argv[2], argc > 3 ? argv[3] : NULL };

	if (argc > 3 && strcmp(argv[3], "allow") != 0 && strcmp(argv[3], "block") != 0)
		return fail_usage("lists show NAME [allow|block]");
	return get_fmt(r, seg, argc > 3 ? 3 : 2, CTL_FMT_LISTS);
}

/* lists add|remove NAME allow|block ENTRY */
static int
cmd_lists_edit(struct remote *r, int argc, char **argv)
{
	const char *seg[] = { "lists", argv[2], argv[3] };
	int add = strcmp(argv[1], "add") == 0, st = 1;
	char *path, *full, *e;
	struct reply rep;
	json_t *body = NULL;

	(void)argc;
	if (strcmp(argv[3], "allow") != 0 && strcmp(argv[3], "block") != 0)
		return fail_usage("lists %s NAME allow|block ENTRY", argv[1]);
	path = api_path(r, seg, 3);
	e = curl_easy_escape(r->curl, argv[4], 0);
	full = add ? xstrdup(path) : xasprintf("%s?entry=%s", path, e != NULL ? e : "");
	curl_free(e);
	if (add)
		body = json_pack("{s:s}", "entry", argv[4]);
	if (remote_call(r, add ? "POST" : "DELETE", full, body, &rep) == 0) {
		st = rep.status >= 200 && rep.status < 300 ? 0 : 1;
		if (r->json_out)
			print_json(st ? stderr : stdout, &rep);
		else if (st != 0)
			print_refusal(&rep);
		else
			printf("%s %s.%s: %s\n", argv[4], argv[2], argv[3],
			    !json_is_true(json_object_get(rep.j, "changed")) ? (add ?
			    "already listed" : "not listed") : add ? "added" : "removed");
	}
	reply_free(&rep);
	json_decref(body);
	xfree(full);
	xfree(path);
	return st;
}

static int
cmd_queue_list(struct remote *r, int argc, char **argv)
{
	char *path;
	int st;

	if (argc > 2 && strpbrk(argv[2], "&=?#/%") != NULL)
		return fail_usage("queue list [active|deferred|hold|quarantine|rate-limited]");
	path = argc > 2 ? xasprintf("/api/v1/queue?limit=%d&state=%s", REMOTE_QUEUE_ALL_MAX,
	    argv[2]) : xasprintf("/api/v1/queue?limit=%d", REMOTE_QUEUE_ALL_MAX);
	st = remote_run(r, "GET", path, NULL, CTL_FMT_QUEUE);
	xfree(path);
	return st;
}

static int
cmd_queue_show(struct remote *r, int argc, char **argv)
{
	const char *seg[] = { "queue", argv[2] };

	(void)argc;
	if (!ops_qid_is_valid(argv[2]))
		return fail_usage("queue show QID");
	return get_fmt(r, seg, 2, CTL_FMT_QMSG);
}

/* One queue action on one message: POST .../QID/VERB, or DELETE .../QID. */
static int
queue_one(struct remote *r, const char *verb, const char *qid)
{
	const char *seg[] = { "queue", qid, verb };
	int del = strcmp(verb, "delete") == 0;
	char *path = api_path(r, seg, del ? 2 : 3);
	int st = remote_run(r, del ? "DELETE" : "POST", path, NULL, -1);

	xfree(path);
	return st;
}

/* ... ALL for hold, release and delete: the API acts on one message, so list and act on each
 * (messages arriving meanwhile are not included). */
static int
queue_all(struct remote *r, const char *verb)
{
	char *path = xasprintf("/api/v1/queue?limit=%d", REMOTE_QUEUE_ALL_MAX);
	const json_t *a, *m;
	struct reply rep;
	size_t i;
	int st = 1, held;

	if (remote_call(r, "GET", path, NULL, &rep) == 0) {
		st = rep.status == 200 && json_is_array(a = json_object_get(rep.j, "messages")) ?
		    0 : 1;
		if (st != 0)
			print_refusal(&rep);
		else
			json_array_foreach(a, i, m) {
				const json_t *q = json_object_get(m, "qid");

				if (!json_is_string(q) || !ops_qid_is_valid(json_string_value(q)))
					continue;
				held = json_is_string(json_object_get(m, "state")) && strcmp(
				    json_string_value(json_object_get(m, "state")), "hold") == 0;
				/* release: held messages; hold: the others */
				if ((strcmp(verb, "release") == 0 && !held) ||
				    (strcmp(verb, "hold") == 0 && held))
					continue;
				st |= queue_one(r, verb, json_string_value(q));
			}
	}
	reply_free(&rep);
	xfree(path);
	return st;
}

static int
cmd_queue_act(struct remote *r, int argc, char **argv)
{
	const char *verb = argv[1];

	if (strcmp(verb, "flush") == 0 && argc == 2) {
		static const char *const seg[] = { "queue", "flush" };
		char *path = api_path(r, seg, 2);
		int st = remote_run(r, "POST", path, NULL, -1);

		xfree(path);
		return st;
	}
	if (argc != 3)
		return fail_usage("queue %s QID%s", verb, strcmp(verb, "flush") ? "|ALL" : "");
	if (strcmp(argv[2], "ALL") == 0 && strcmp(verb, "flush") != 0)
		return queue_all(r, verb);
	if (!ops_qid_is_valid(argv[2]))
		return fail_usage("queue %s: not a queue id: %s", verb, argv[2]);
	return queue_one(r, verb, argv[2]);
}

static int
cmd_dkim_status(struct remote *r, int argc, char **argv)
{
	const char *seg[] = { "dkim", argc > 2 ? argv[2] : NULL };

	return get_fmt(r, seg, argc > 2 ? 2 : 1, argc > 2 ? CTL_FMT_DKIM_DOMAIN : CTL_FMT_DKIM);
}

static int
cmd_dkim_dns(struct remote *r, int argc, char **argv)
{
	const char *seg[] = { "dkim", argv[2] };

	(void)argc;
	return get_fmt(r, seg, 2, CTL_FMT_DKIM_DNS);
}

/* dkim keygen DOMAIN, dkim rotate DOMAIN --now */
static int
cmd_dkim_act(struct remote *r, int argc, char **argv)
{
	const char *seg[] = { "dkim", argv[2], argv[1] };
	char *path;
	int st;

	if (strcmp(argv[1], "rotate") == 0 && (argc != 4 || strcmp(argv[3], "--now") != 0))
		return fail_usage("dkim rotate DOMAIN --now");
	if (strcmp(argv[1], "keygen") == 0 && argc != 3)
		return fail_usage("dkim keygen DOMAIN");
	path = api_path(r, seg, 3);
	st = remote_run(r, "POST", path, NULL, -1);
	xfree(path);
	return st;
}

static int
cmd_stats(struct remote *r, int argc, char **argv)
{
	static const char *const seg[] = { "stats" };

	(void)argc;
	(void)argv;
	return get_fmt(r, seg, 1, CTL_FMT_STATS);
}

static const struct remote_cmd {
	const char *group, *verb;	/* verb NULL: the group alone (stats) */
	int min_args, max_args;		/* after the verb */
	remote_cmd_fn *fn;
	const char *usage;
} remote_cmds[] = {
	{ "domains", "list", 0, 0, cmd_domains_list, "domains list" },
	{ "domains", "show", 1, 1, cmd_domains_show, "domains show DOMAIN" },
	{ "domains", "set", 3, 1000, cmd_domains_set, "domains set DOMAIN KEY VALUE..." },
	{ "domains", "unset", 2, 2, cmd_domains_unset, "domains unset DOMAIN KEY" },
	{ "domains", "add", 2, 2, cmd_domains_add, "domains add DOMAIN TRANSPORT" },
	{ "domains", "remove", 1, 1, cmd_domains_remove, "domains remove DOMAIN" },
	{ "lists", "show", 1, 2, cmd_lists_show, "lists show global|DOMAIN [allow|block]" },
	{ "lists", "add", 3, 3, cmd_lists_edit, "lists add global|DOMAIN allow|block ENTRY" },
	{ "lists", "remove", 3, 3, cmd_lists_edit, "lists remove global|DOMAIN allow|block ENTRY" },
	{ "queue", "list", 0, 1, cmd_queue_list, "queue list [STATE]" },
	{ "queue", "show", 1, 1, cmd_queue_show, "queue show QID" },
	{ "queue", "flush", 0, 1, cmd_queue_act, "queue flush [QID]" },
	{ "queue", "hold", 1, 1, cmd_queue_act, "queue hold QID|ALL" },
	{ "queue", "release", 1, 1, cmd_queue_act, "queue release QID|ALL" },
	{ "queue", "delete", 1, 1, cmd_queue_act, "queue delete QID|ALL" },
	{ "dkim", "status", 0, 1, cmd_dkim_status, "dkim status [DOMAIN]" },
	{ "dkim", "dns", 1, 1, cmd_dkim_dns, "dkim dns DOMAIN" },
	{ "dkim", "keygen", 1, 1, cmd_dkim_act, "dkim keygen DOMAIN" },
	{ "dkim", "rotate", 2, 2, cmd_dkim_act, "dkim rotate DOMAIN --now" },
	{ "stats", NULL, 0, 0, cmd_stats, "stats" },
};

static const struct remote_cmd *
find_cmd(int argc, char **argv, int *nargs_r)
{
	for (size_t i = 0; i < sizeof(remote_cmds) / sizeof(remote_cmds[0]); i++) {
		const struct remote_cmd *c = &remote_cmds[i];
		int skip = c->verb ? 2 : 1;

		if (strcmp(argv[0], c->group) != 0 ||
		    (c->verb != NULL && (argc < 2 || strcmp(argv[1], c->verb) != 0)))
			continue;
		*nargs_r = argc - skip;
		return c;
	}
	return NULL;
}

static int
remote_usage(const char *what)
{
	fprintf(stderr, "mailguardctl: remote mode: %s\nremote commands:\n", what);
	for (size_t i = 0; i < sizeof(remote_cmds) / sizeof(remote_cmds[0]); i++)
		fprintf(stderr, "  %s\n", remote_cmds[i].usage);
	return 2;
}

int
ctl_remote_main(int argc, char **argv)
{
	struct remote r;
	const struct remote_cmd *c;
	int first, nargs = 0, st;

	memset(&r, 0, sizeof(r));
	if ((first = remote_options(&r, argc, argv)) < 0)
		return first == -2 ? 1 : 2;
	argc -= first;
	argv += first;
	if ((c = find_cmd(argc, argv, &nargs)) == NULL) {
		xfree(r.base);
		xwipe(r.authz, sizeof(r.authz));
		return remote_usage("unknown command");
	}
	if (nargs < c->min_args || nargs > c->max_args) {
		fprintf(stderr, "mailguardctl: usage: %s\n", c->usage);
		xfree(r.base);
		xwipe(r.authz, sizeof(r.authz));
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || (r.curl = curl_easy_init()) == NULL) {
		fprintf(stderr, "mailguardctl: cannot initialise libcurl\n");
		return 1;
	}
	st = c->fn(&r, argc, argv);
	curl_easy_cleanup(r.curl);
	curl_global_cleanup();
	xwipe(r.authz, sizeof(r.authz));
	xfree(r.base);
	return st;
}
