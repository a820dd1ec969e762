/* session.c: who is calling the console (admin/session.h). Admin role, main loop thread only,
 * except verify_run (a worker thread, touching only its job). Trusts nothing from the request:
 * cookies, Authorization and CSRF values go through the bounded parsers of session_parse.c and
 * are compared in constant time (CRYPTO_memcmp); user names are logged sanitised, passwords
 * never. Users (admin_users_file) and API tokens (admin_tokens_file) are re-read on reload and
 * whenever the file changes (one stat per request), so mailguardctl admin works at once.
 * Sessions live in memory only (SESSION_MAX, oldest evicted): restarting the admin role logs
 * everyone out. Login: lockout per user name and per client address (IPv6 /64) after
 * admin_login_fail_limit failures within admin_login_lockout, refused without verifying the
 * password; failures plus verifications in flight never exceed the limit for a key; all logins
 * together verify at most SESSION_VERIFY_PER_SEC passwords a second (503 beyond). Argon2id
 * (~90 ms) runs on SESSION_VERIFY_THREADS lib/workq threads, never on the loop: other console
 * requests are served while logins are verified (at most SESSION_VERIFY_QUEUE at once). */
#include "admin/session.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "admin/admin.h"
#include "admin/audit.h"
#include "admin/session_int.h"
#include "lib/log.h"
#include "lib/pwhash.h"
#include "lib/sanitize.h"
#include "lib/str.h"
#include "lib/workq.h"
#include "lib/xalloc.h"

#define SESSION_VERIFY_THREADS	2	/* argon2 workers (19 MiB each while verifying) */
#define SESSION_VERIFY_QUEUE	32	/* verifications queued or running; more: 503 */

/* One password verification: the loop fills it, a worker runs argon2 on its own copies, the
 * loop completes it (verify_done). */
struct login_job {
	struct workq_job w;
	char user[SESSION_NAME_MAX + 1];	/* "" when not a valid name */
	char su[SANITIZE_MAX + 4];		/* sanitised user name, for logs */
	char peer[64];
	char ukey[80], akey[80];
	char hash[PWHASH_ENCODED_MAX];		/* the user's hash as read, or the dummy */
	int known;				/* hash is the user's, not the dummy */
	char *password;				/* copy, wiped and freed after the check */
	size_t password_len;
	int ok;					/* result (worker) */
	session_login_cb *cb;
	void *arg;
	struct login_job *prev, *next;		/* S.pending */
};

struct admin_sess {
	char id[SESSION_HEX_LEN + 1];
	char csrf[SESSION_HEX_LEN + 1];
	char user[SESSION_NAME_MAX + 1];
	char tag[24];		/* end of the user's hash: a changed password ends the session */
	double created, last;
};

struct cred_file {
	char *path;
	enum session_cred_kind kind;
	struct session_cred *creds;
	size_t n;
	struct stat st;		/* of the loaded file; st_ino 0 = missing or not loaded */
};

static struct {
	int init;
	struct cred_file users, tokens;
	char dummy[PWHASH_ENCODED_MAX];
	double idle, max, lockout;
	unsigned fail_limit;
	struct admin_sess *sess;
	size_t n_sess;
	struct session_limits limits;
	struct session_rate rate;
	char current[SESSION_HEX_LEN + 1];	/* session of the request checked last */
	struct workq *wq;			/* argon2 workers, started at the first login */
	struct login_job *pending;		/* verifications in flight */
} S;

static double
real_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double (*clock_fn)(void) = real_clock;

void
session_set_clock(double (*fn)(void))
{
	clock_fn = fn != NULL ? fn : real_clock;
}

/* ---- users and tokens files ---- */

static int
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static void sessions_revalidate(void);

/* Loads f when forced or when the file changed since it was loaded. */
static void
cred_reload(struct cred_file *f, int force)
{
	struct session_cred *creds;
	struct stat st;
	char err[128];
	size_t n;

	if (stat(f->path, &st) < 0)
		memset(&st, 0, sizeof(st));
	if (!force && same_file(&st, &f->st))
		return;
	if (session_file_load(f->path, f->kind, &creds, &n, err, sizeof(err)) < 0) {
		log_warn("admin: %s: %s; %s", f->path, err, f->kind == SESSION_CRED_USERS ?
		    "nobody can log in to the console" : "API tokens are not accepted");
		creds = NULL;
		n = 0;
	} else
		log_info("admin: loaded %zu %s from %s", n,
		    f->kind == SESSION_CRED_USERS ? "admin user(s)" : "API token(s)", f->path);
	session_creds_free(&f->creds, &f->n);
	f->creds = creds;
	f->n = n;
	f->st = st;
	if (f->kind == SESSION_CRED_USERS)
		sessions_revalidate();
}

/* Re-reads f if it changed (one stat: cheap enough for every request, and a user removed or
 * a password changed with mailguardctl takes effect at once). */
static void
cred_refresh(struct cred_file *f)
{
	cred_reload(f, 0);
}

static const struct session_cred *
cred_find(const struct cred_file *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->creds[i].name, name) == 0)
			return &f->creds[i];
	return NULL;
}

static void
hash_tag(const char *hash, char *tag, size_t size)
{
	size_t n = strlen(hash);

	str_lcpy(tag, n >= size - 1 ? hash + n - (size - 1) : hash, size);
}

static void
file_path(char **dst, const char *set, const char *state_dir, const char *name)
{
	xfree(*dst);
	*dst = set != NULL && set[0] != '\0' ? xstrdup(set) : xasprintf("%s/%s", state_dir, name);
}

void
admin_session_configure(const struct mg_config *cfg)
{
	const char *err;

	if (!S.init) {
		S.sess = xcalloc(SESSION_MAX, sizeof(*S.sess));
		session_limits_init(&S.limits, SESSION_LIMIT_ENTRIES);
		if (pwhash_dummy(S.dummy, sizeof(S.dummy), &err) < 0)
			log_err("admin: cannot make the dummy password hash: %s", err);
		S.users.kind = SESSION_CRED_USERS;
		S.tokens.kind = SESSION_CRED_TOKENS;
		S.init = 1;
	}
	file_path(&S.users.path, cfg->admin_users_file, cfg->state_dir, "admin-users");
	file_path(&S.tokens.path, cfg->admin_tokens_file, cfg->state_dir, "admin-tokens");
	S.idle = (double)cfg->admin_session_idle;
	S.max = (double)cfg->admin_session_max;
	S.lockout = (double)cfg->admin_login_lockout;
	S.fail_limit = (unsigned)cfg->admin_login_fail_limit;
	cred_reload(&S.users, 1);
	cred_reload(&S.tokens, 1);
	admin_audit_configure(cfg);
}

/* ---- sessions ---- */

static void
sess_drop(size_t i)
{
	xwipe(&S.sess[i], sizeof(S.sess[i]));
	S.sess[i] = S.sess[--S.n_sess];
	memset(&S.sess[S.n_sess], 0, sizeof(S.sess[0]));
}

/* Ends the sessions of user (all of them, or all but `keep` when keep is not NULL). */
static void
sess_end_user(const char *user, const char *keep)
{
	for (size_t i = S.n_sess; i > 0; i--) {
		struct admin_sess *s = &S.sess[i - 1];

		if (strcmp(s->user, user) == 0 && (keep == NULL || keep[0] == '\0' ||
		    CRYPTO_memcmp(s->id, keep, SESSION_HEX_LEN) != 0))
			sess_drop(i - 1);
	}
}

/* After the users file changed: sessions of removed users or changed passwords end. */
static void
sessions_revalidate(void)
{
	for (size_t i = S.n_sess; i > 0; i--) {
		struct admin_sess *s = &S.sess[i - 1];
		const struct session_cred *c = cred_find(&S.users, s->user);
		char tag[sizeof(s->tag)];

		if (c != NULL)
			hash_tag(c->secret, tag, sizeof(tag));
		if (c == NULL || strcmp(tag, s->tag) != 0) {
			log_info("admin: session of %s ended: user removed or password changed",
			    s->user);
			sess_drop(i - 1);
		}
	}
}

static struct admin_sess *
sess_new(const char *user, const char *hash)
{
	struct admin_sess *s;
	double now = clock_fn();

	if (S.n_sess == SESSION_MAX) {
		size_t oldest = 0;

		for (size_t i = 1; i < S.n_sess; i++)
			if (S.sess[i].created < S.sess[oldest].created)
				oldest = i;
		log_info("admin: %d sessions: ending the oldest (%s)", SESSION_MAX,
		    S.sess[oldest].user);
		sess_drop(oldest);
	}
	s = &S.sess[S.n_sess];
	memset(s, 0, sizeof(*s));
	if (session_random_hex(s->id, sizeof(s->id)) < 0 ||
	    session_random_hex(s->csrf, sizeof(s->csrf)) < 0) {
		log_err("admin: getrandom failed: %s", strerror(errno));
		return NULL;
	}
	str_lcpy(s->user, user, sizeof(s->user));
	hash_tag(hash, s->tag, sizeof(s->tag));
	s->created = s->last = now;
	S.n_sess++;
	return s;
}

/* The live session named by the request's cookie (touched), or NULL. */
static struct admin_sess *
sess_from_request(const struct http_request *req, int touch)
{
	char id[SESSION_HEX_LEN + 1];
	double now = clock_fn();
	size_t found = SIZE_MAX;

	if (session_cookie_find(http_header_get(req, "cookie"), SESSION_COOKIE, id,
	    sizeof(id)) < 0 || !session_is_hex_id(id))
		return NULL;
	cred_refresh(&S.users);
	for (size_t i = 0; i < S.n_sess; i++)	/* every entry compared: no early exit */
		if (CRYPTO_memcmp(S.sess[i].id, id, SESSION_HEX_LEN) == 0)
			found = i;
	if (found == SIZE_MAX)
		return NULL;
	if (now - S.sess[found].last >= S.idle || now - S.sess[found].created >= S.max) {
		log_info("admin: session of %s expired (%s)", S.sess[found].user,
		    now - S.sess[found].created >= S.max ? "admin_session_max" :
		    "admin_session_idle");
		sess_drop(found);
		return NULL;
	}
	if (touch)
		S.sess[found].last = now;
	return &S.sess[found];
}

int
session_logout(const struct http_request *req)
{
	struct admin_sess *s = sess_from_request(req, 0);

	if (s == NULL)
		return 0;
	log_info("admin: %s logged out from %s", s->user, req->peer);
	sess_drop((size_t)(s - S.sess));
	return 1;
}

/* Fills the request's own copy of who (valid for the request's life, also while it waits). */
static void
who_set(struct http_request *req, const char *user, int is_api)
{
	str_lcpy(req->who_store.user, user, sizeof(req->who_store.user));
	req->who_store.is_api = is_api;
	req->who = &req->who_store;
}

/* ---- login ---- */

static void
limit_keys(const char *user, const char *peer, char *ukey, size_t usize, char *akey,
    size_t asize)
{
	char a[72];

	str_fmt(ukey, usize, "u:%.70s", user);
	if (session_addr_key(peer, a, sizeof(a)) < 0)
		str_lcpy(a, peer, sizeof(a));
	str_fmt(akey, asize, "a:%s", a);
}

/* Counts a failure for both keys; logs and audits a lockout that starts now. */
static void
login_failed(const char *peer, const char *ukey, const char *akey, const char *su)
{
	double now = clock_fn();
	int lu = session_limits_fail(&S.limits, ukey, now, S.fail_limit, S.lockout);
	int la = session_limits_fail(&S.limits, akey, now, S.fail_limit, S.lockout);

	log_warn("admin: login failed: user=%s addr=%s", su, peer);
	if (lu || la) {
		log_warn("admin: login lockout for %.0f s: %s%s%s (addr=%s)", S.lockout,
		    lu ? "user=" : "", lu ? su : "", lu && la ? " and address" : la ? "address" : "",
		    peer);
		admin_audit_as(NULL, peer, "lockout", lu ? ukey : akey, NULL, NULL);
	}
}

/* Verifications of key in flight (either of a job's keys). */
static unsigned
pending_for(const char *key)
{
	unsigned n = 0;

	for (const struct login_job *j = S.pending; j != NULL; j = j->next)
		n += strcmp(j->ukey, key) == 0 || strcmp(j->akey, key) == 0;
	return n;
}

static void
job_unlink(struct login_job *j)
{
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		S.pending = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	j->prev = j->next = NULL;
}

static void
job_free(struct login_job **jp)
{
	struct login_job *j = *jp;

	if (j == NULL)
		return;
	if (j->password != NULL) {
		xwipe(j->password, j->password_len);
		xfree(j->password);
	}
	xwipe(j, sizeof(*j));
	xfree(j);
	*jp = NULL;
}

/* Worker thread: argon2 over the job's own copies only. */
static void
verify_run(struct workq_job *w, void *ctx)
{
	struct login_job *j = (struct login_job *)w;

	(void)ctx;
	j->ok = pwhash_verify(j->hash, j->password, j->password_len) && j->known;
	xwipe(j->password, j->password_len);
}

/* Loop thread: the verdict of a finished verification. The users file may have changed while
 * argon2 ran: a session is made only when the user still has the very hash that matched. */
static enum session_login_rc
verify_result(struct login_job *j, char sid_r[SESSION_HEX_LEN + 1])
{
	const struct session_cred *c;
	struct admin_sess *s;

	cred_refresh(&S.users);
	c = j->ok ? cred_find(&S.users, j->user) : NULL;
	if (c == NULL || strcmp(c->secret, j->hash) != 0) {
		if (j->ok)
			log_warn("admin: login of %s not completed: user removed or password "
			    "changed during the check", j->su);
		login_failed(j->peer, j->ukey, j->akey, j->su);
		return SESSION_LOGIN_BAD;
	}
	session_limits_clear(&S.limits, j->ukey);
	if ((s = sess_new(c->name, c->secret)) == NULL)
		return SESSION_LOGIN_BUSY;
	memcpy(sid_r, s->id, SESSION_HEX_LEN + 1);
	log_info("admin: login: user=%s addr=%s", j->su, j->peer);
	admin_audit_as(c->name, j->peer, "login", NULL, NULL, NULL);
	return SESSION_LOGIN_OK;
}

static void
verify_done(struct workq_job *w, int cancelled)
{
	struct login_job *j = (struct login_job *)w;
	char sid[SESSION_HEX_LEN + 1] = "";
	enum session_login_rc rc;

	job_unlink(j);
	rc = cancelled ? SESSION_LOGIN_BUSY : verify_result(j, sid);
	j->cb(j->arg, rc, sid, 0);
	xwipe(sid, sizeof(sid));
	job_free(&j);
}

/* Refusals decided before any verification; SESSION_LOGIN_PENDING when it may go on. */
static enum session_login_rc
login_precheck(const char *su, const char *peer, const char *ukey, const char *akey,
    double *retry_r)
{
	double now = clock_fn(), lu, la;
	unsigned fu, fa;

	lu = session_limits_locked(&S.limits, ukey, now);
	la = session_limits_locked(&S.limits, akey, now);
	if (lu > 0 || la > 0) {
		*retry_r = lu > la ? lu : la;
		log_warn("admin: login refused (locked out): user=%s addr=%s", su, peer);
		return SESSION_LOGIN_LOCKED;
	}
	/* failures so far plus checks in flight may not pass the limit: parallel guesses get no
	 * more verifications than sequential ones */
	fu = session_limits_count(&S.limits, ukey, now, S.lockout) + pending_for(ukey);
	fa = session_limits_count(&S.limits, akey, now, S.lockout) + pending_for(akey);
	if (fu >= S.fail_limit || fa >= S.fail_limit) {
		log_warn("admin: login refused (checks in flight would pass the failure limit): "
		    "user=%s addr=%s", su, peer);
		return SESSION_LOGIN_BUSY;
	}
	if (!session_rate_take(&S.rate, now, SESSION_VERIFY_PER_SEC)) {
		log_warn("admin: login refused (over %d verifications a second): user=%s addr=%s",
		    SESSION_VERIFY_PER_SEC, su, peer);
		return SESSION_LOGIN_BUSY;
	}
	return SESSION_LOGIN_PENDING;
}

enum session_login_rc
session_login_start(const char *user, const char *password, size_t password_len,
    const char *peer, double *retry_r, session_login_cb *cb, void *arg)
{
	struct login_job *j = xcalloc(1, sizeof(*j));
	const struct session_cred *c;
	enum session_login_rc rc;

	sanitize(j->su, user, strnlen(user, SESSION_NAME_MAX + 16));
	str_lcpy(j->peer, peer, sizeof(j->peer));
	limit_keys(user, peer, j->ukey, sizeof(j->ukey), j->akey, sizeof(j->akey));
	if ((rc = login_precheck(j->su, j->peer, j->ukey, j->akey, retry_r)) !=
	    SESSION_LOGIN_PENDING) {
		job_free(&j);
		return rc;
	}
	if (S.wq == NULL)	/* after the privilege drop: the threads share the dropped ids */
		S.wq = workq_new(ev_default_loop(0), SESSION_VERIFY_THREADS, SESSION_VERIFY_QUEUE,
		    NULL, NULL, NULL);
	cred_refresh(&S.users);
	c = session_name_ok(user) ? cred_find(&S.users, user) : NULL;
	if (c != NULL)
		str_lcpy(j->user, c->name, sizeof(j->user));
	/* unknown users cost one verification too, against the dummy hash */
	str_lcpy(j->hash, c != NULL ? c->secret : S.dummy, sizeof(j->hash));
	j->known = c != NULL && password_len >= 1 && password_len <= SESSION_PASSWORD_MAX;
	j->password_len = password_len <= SESSION_PASSWORD_MAX ? password_len : 0;
	j->password = xmalloc(j->password_len + 1);
	memcpy(j->password, password, j->password_len);
	j->cb = cb;
	j->arg = arg;
	j->w.run = verify_run;
	j->w.done = verify_done;
	if (workq_submit(S.wq, &j->w) < 0) {
		log_warn("admin: login refused (%d checks queued): user=%s addr=%s",
		    SESSION_VERIFY_QUEUE, j->su, j->peer);
		job_free(&j);
		return SESSION_LOGIN_BUSY;
	}
	j->next = S.pending;
	if (S.pending != NULL)
		S.pending->prev = j;
	S.pending = j;
	return SESSION_LOGIN_PENDING;
}

/* ---- per-request checks ---- */

static int
is_state_changing(enum http_method m)
{
	return m == HTTP_POST || m == HTTP_PUT || m == HTTP_DELETE || m == HTTP_OTHER;
}

/* A present Origin header must name this server (https://HOST as the client sent Host). */
int
session_origin_ok(const struct http_request *req)
{
	const char *origin = http_header_get(req, "origin"), *host;

	if (origin == NULL)
		return 1;
	host = http_header_get(req, "host");
	return host != NULL && strncasecmp(origin, "https://", 8) == 0 &&
	    strcasecmp(origin + 8, host) == 0;
}

static int
csrf_ok(const struct http_request *req, const struct admin_sess *s)
{
	const char *t = http_header_get(req, "x-csrf-token");

	if (t == NULL)
		t = http_form_get(req, "csrf");
	return t != NULL && strlen(t) == SESSION_HEX_LEN &&
	    CRYPTO_memcmp(t, s->csrf, SESSION_HEX_LEN) == 0 && session_origin_ok(req);
}

/* "Authorization: Bearer TOKEN": 1 = valid (who set), 0 = invalid. */
static int
token_auth(struct http_request *req, const char *authz)
{
	char tok[SESSION_HEX_LEN + 1], digest[SESSION_HEX_LEN + 1], name[64];
	size_t found = SIZE_MAX;

	if (session_bearer_parse(authz, tok, sizeof(tok)) < 0)
		return 0;
	cred_refresh(&S.tokens);
	session_token_digest(tok, digest);
	xwipe(tok, sizeof(tok));
	for (size_t i = 0; i < S.tokens.n; i++)	/* every entry compared: no early exit */
		if (CRYPTO_memcmp(S.tokens.creds[i].secret, digest, SESSION_HEX_LEN) == 0)
			found = i;
	if (found == SIZE_MAX)
		return 0;
	str_fmt(name, sizeof(name), "token:%s", S.tokens.creds[found].name);
	who_set(req, name, 1);
	return 1;
}

/* 303 to /login?next=PATH[?QUERY], percent-encoding what is not unreserved or '/'. */
static void
redirect_to_login(const struct http_request *req, struct http_response *resp)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b;
	const char *parts[2] = { req->path, req->raw_query };

	buf_init(&b, 4 * HTTP_MAX_URL);
	buf_append_str(&b, "/login?next=");
	for (int k = 0; k < 2; k++) {
		const unsigned char *p = (const unsigned char *)parts[k];

		if (k == 1 && (p == NULL || *p == '\0'))
			break;
		if (k == 1)
			buf_append_str(&b, "%3F");
		for (; p != NULL && *p != '\0'; p++) {
			if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || strchr("-._~/", *p) != NULL)
				buf_append_char(&b, (char)*p);
			else
				buf_printf(&b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
		}
	}
	http_redirect(resp, b.len < HTTP_MAX_URL ? b.data : "/login");
	buf_free(&b);
}

int
admin_session_check(struct http_request *req, unsigned route_flags, struct http_response *resp)
{
	const char *authz = http_header_get(req, "authorization");
	struct admin_sess *s;

	req->who = NULL;
	req->csrf = NULL;
	S.current[0] = '\0';
	if ((route_flags & (ROUTE_API | ROUTE_METRICS)) && authz != NULL &&
	    !(route_flags & ROUTE_PUBLIC)) {
		if (token_auth(req, authz))
			return 0;
		http_response_header(resp, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
		http_error(req, resp, 401, "invalid API token");
		return -1;
	}
	s = sess_from_request(req, 1);
	if (s != NULL) {
		/* copies: S.sess is compacted when another session ends */
		who_set(req, s->user, 0);
		str_lcpy(req->csrf_store, s->csrf, sizeof(req->csrf_store));
		req->csrf = req->csrf_store;
		memcpy(S.current, s->id, sizeof(S.current));
	}
	if (route_flags & ROUTE_PUBLIC)
		return 0;
	if (s == NULL) {
		if (route_flags & ROUTE_PAGE) {
			redirect_to_login(req, resp);
			return -1;
		}
		http_response_header(resp, "WWW-Authenticate", "Bearer");
		http_error(req, resp, 401, "authentication required");
		return -1;
	}
	if (is_state_changing(req->method) && !csrf_ok(req, s)) {
		log_warn("admin: %s %s from %s (%s): missing or wrong CSRF token", "state change",
		    req->path, req->peer, s->user);
		http_error(req, resp, 403, "missing or wrong CSRF token (reload the page)");
		return -1;
	}
	return 0;
}

/* ---- users and tokens, for the users page ---- */

int
admin_user_set(const char *user, const char *password, const char **error_r)
{
	char hash[PWHASH_ENCODED_MAX];
	size_t n = strlen(password);
	int existed;

	if (!session_name_ok(user)) {
		*error_r = "a user name is 1 to 48 letters, digits or . _ @ + -";
		return -1;
	}
	if (n < SESSION_PASSWORD_MIN || n > SESSION_PASSWORD_MAX) {
		*error_r = "a password is 12 to 1024 characters";
		return -1;
	}
	if (pwhash_make(password, n, hash, sizeof(hash), error_r) < 0 ||
	    session_file_update(S.users.path, user, hash, 0, &existed, error_r) < 0)
		return -1;
	/* the caller's own session survives its password change; the user's others end */
	sess_end_user(user, S.current);
	for (size_t i = 0; i < S.n_sess; i++)	/* the kept session follows the new hash */
		if (strcmp(S.sess[i].user, user) == 0)
			hash_tag(hash, S.sess[i].tag, sizeof(S.sess[i].tag));
	cred_reload(&S.users, 1);
	log_info("admin: admin user %s %s", user, existed ? "password changed" : "added");
	return 0;
}

int
admin_user_remove(const char *user, const char **error_r)
{
	int existed;

	if (!session_name_ok(user)) {
		*error_r = "no such user";
		return -1;
	}
	if (session_file_update(S.users.path, user, NULL, 1, &existed, error_r) < 0)
		return -1;
	sess_end_user(user, NULL);
	cred_reload(&S.users, 1);
	log_info("admin: admin user %s removed", user);
	return 0;
}

static size_t
names(struct cred_file *f, char (*out)[64], size_t max)
{
	size_t n = 0;

	cred_refresh(f);
	for (size_t i = 0; i < f->n && n < max; i++)
		str_lcpy(out[n++], f->creds[i].name, 64);
	return n;
}

size_t
admin_user_list(char (*out)[64], size_t max)
{
	return names(&S.users, out, max);
}

int
admin_token_create(const char *name, char *token_r, size_t size, const char **error_r)
{
	char tok[SESSION_HEX_LEN + 1], digest[SESSION_HEX_LEN + 1];
	int existed;

	if (!session_name_ok(name)) {
		*error_r = "a token name is 1 to 48 letters, digits or . _ @ + -";
		return -1;
	}
	if (size <= SESSION_HEX_LEN) {
		*error_r = "token buffer too small";
		return -1;
	}
	cred_refresh(&S.tokens);
	if (cred_find(&S.tokens, name) != NULL) {
		*error_r = "a token of that name exists (remove it first)";
		return -1;
	}
	if (session_random_hex(tok, sizeof(tok)) < 0) {
		*error_r = "getrandom failed";
		return -1;
	}
	session_token_digest(tok, digest);
	if (session_file_update(S.tokens.path, name, digest, 0, &existed, error_r) < 0) {
		xwipe(tok, sizeof(tok));
		return -1;
	}
	memcpy(token_r, tok, sizeof(tok));
	xwipe(tok, sizeof(tok));
	cred_reload(&S.tokens, 1);
	log_info("admin: API token %s created", name);
	return 0;
}

int
admin_token_remove(const char *name, const char **error_r)
{
	int existed;

	if (!session_name_ok(name)) {
		*error_r = "no such token";
		return -1;
	}
	if (session_file_update(S.tokens.path, name, NULL, 0, &existed, error_r) < 0)
		return -1;
	cred_reload(&S.tokens, 1);
	log_info("admin: API token %s removed", name);
	return 0;
}

size_t
admin_token_list(char (*out)[64], size_t max)
{
	return names(&S.tokens, out, max);
}
