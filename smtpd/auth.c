/* auth.c: SMTP AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN (as deployed), offered and
 * accepted only under TLS. smtpd role: the exchange runs on the main thread; the Argon2id
 * verification (tens of milliseconds of CPU) runs on a small workq pool so the loop never
 * blocks, and resumes the session by request id when it is done. Unknown users are verified
 * against a dummy hash of the same cost, and every failure reply waits AUTH_FAIL_DELAY, so the
 * reply does not tell an unknown user from a wrong password. Failures are counted per client
 * address (IPv6: per /64): past auth_fail_limit within auth_fail_window, AUTH answers 454 4.7.0
 * without checking. Passwords and AUTH payloads are never logged; buffers holding them are
 * wiped. Limits: SASL_LINE_MAX (RFC 4954 §4), SASL_FIELD_MAX (RFC 4616 §2), AUTH_JOBS_MAX,
 * AUTH_LIMIT_ENTRIES_MAX. */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/random.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/metrics.h"
#include "common/role.h"
#include "config/config.h"
#include "lib/log.h"
#include "lib/pwhash.h"
#include "lib/sanitize.h"
#include "lib/workq.h"
#include "lib/xalloc.h"
#include "smtpd/sasl.h"
#include "smtpd/session.h"
#include "smtpd/smtpd.h"

#define AUTH_THREADS 2
#define AUTH_JOBS_MAX 64		/* verifications queued or running; more get 454 */
#define AUTH_FAIL_DELAY 1.0		/* seconds before a 535 (RFC 4954 §4 lets servers delay) */
#define AUTH_LIMIT_BUCKETS 4096
#define AUTH_LIMIT_ENTRIES_MAX 65536	/* client addresses tracked at once */
/* Successful logins are remembered for AUTH_CACHE_TTL seconds (like Dovecot's auth_cache), so a
 * client that authenticates on every connection costs one Argon2id verification per TTL, not one
 * per connection. An entry is SHA-256(per-process random secret, user, stored hash, password):
 * only a correct password finds it (wrong ones still get the full verification and the delay),
 * and a changed hash (new password, reload) misses it. */
#define AUTH_CACHE_SIZE 1024
#define AUTH_CACHE_TTL 300.0

static struct {
	struct sasl_users users;
	int loaded;
	char dummy[SMTPD_ARGON2_ENCODED_MAX];
	struct workq *wq;
} au;

struct auth_cache_ent {
	unsigned char key[32];
	double expires;
};

static struct {
	unsigned char secret[32];
	struct auth_cache_ent e[AUTH_CACHE_SIZE];
} cache;

struct auth_job {
	struct workq_job job;
	uint32_t req;
	int ok;
	unsigned char cache_key[32];
	size_t pass_len;
	char hash[SASL_HASH_MAX + 1];
	char pass[SASL_FIELD_MAX + 1];	/* wiped as soon as it was used */
};

/* ---- failed-attempt counting per client address ---- */

struct fail_entry {
	struct fail_entry *next;
	unsigned char key[16];
	int fails;
	double start;
};

static struct {
	struct fail_entry *b[AUTH_LIMIT_BUCKETS];
	size_t n;
} fl;

/* IPv4: the address; IPv6: its /64 (one subscriber's allocation, RFC 6177). */
static void
fail_key(const struct sockaddr_storage *ss, unsigned char key[16])
{
	memset(key, 0, 16);
	if (ss->ss_family == AF_INET)
		memcpy(key + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	else if (ss->ss_family == AF_INET6)
		memcpy(key, &((const struct sockaddr_in6 *)ss)->sin6_addr, 8);
}

static struct fail_entry **
fail_find(const unsigned char key[16])
{
	uint32_t h = 2166136261u;
	struct fail_entry **pp;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	for (pp = &fl.b[h % AUTH_LIMIT_BUCKETS]; *pp; pp = &(*pp)->next)
		if (memcmp((*pp)->key, key, 16) == 0)
			break;
	return pp;
}

static void
fail_purge(double now)
{
	double window = (double)smtpd_cfg()->auth_fail_window;

	for (size_t i = 0; i < AUTH_LIMIT_BUCKETS; i++)
		for (struct fail_entry **pp = &fl.b[i]; *pp;) {
			if (now - (*pp)->start >= window) {
				struct fail_entry *e = *pp;

				*pp = e->next;
				xfree(e);
				fl.n--;
			} else
				pp = &(*pp)->next;
		}
}

/* The entry of the client, NULL when it has none (or its window ended). */
static struct fail_entry *
fail_get(const struct session *s, double now)
{
	unsigned char key[16];
	struct fail_entry **pp, *e;

	fail_key(&s->peer, key);
	pp = fail_find(key);
	if ((e = *pp) != NULL && now - e->start >= (double)smtpd_cfg()->auth_fail_window) {
		*pp = e->next;
		xfree(e);
		fl.n--;
		return NULL;
	}
	return e;
}

static int
fail_blocked(const struct session *s)
{
	struct fail_entry *e = fail_get(s, ev_now(role.loop));

	return e != NULL && e->fails >= smtpd_cfg()->auth_fail_limit;
}

static void
fail_count(const struct session *s)
{
	double now = ev_now(role.loop);
	struct fail_entry *e = fail_get(s, now);

	if (e == NULL) {
		unsigned char key[16];
		struct fail_entry **pp;

		if (fl.n >= AUTH_LIMIT_ENTRIES_MAX)
			fail_purge(now);
		if (fl.n >= AUTH_LIMIT_ENTRIES_MAX) {
			log_warn("%s auth failure not counted: %d client addresses tracked already",
			    s->sid, AUTH_LIMIT_ENTRIES_MAX);
			return;
		}
		fail_key(&s->peer, key);
		pp = fail_find(key);
		e = xcalloc(1, sizeof(*e));
		memcpy(e->key, key, 16);
		e->start = now;
		*pp = e;
		fl.n++;
	}
	e->fails++;
}

/* ---- users file and verification pool ---- */

static int
users_load(const char *path, struct sasl_users *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	char *text = NULL;
	size_t len = 0, line;
	const char *err;
	int rc = -1;

	if (fd < 0) {
		log_err("auth_users_file %s: %m", path);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO)) ||
	    st.st_size > SASL_USERS_FILE_MAX) {
		log_err("auth_users_file %s: must be a regular file of at most %d octets that group "
		    "and others cannot access", path, SASL_USERS_FILE_MAX);
		goto out;
	}
	text = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, text + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (sasl_users_parse(text, len, out, &line, &err) < 0) {
		log_err("auth_users_file %s:%zu: %s", path, line, err);
		goto out;
	}
	rc = 0;
out:
	if (text) {
		xwipe(text, len);
		xfree(text);
	}
	close(fd);
	return rc;
}

static void
cache_key(const char *user, const char *hash, const char *pass, unsigned char key[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 32;

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, cache.secret, sizeof(cache.secret)) != 1 ||
	    EVP_DigestUpdate(md, user, strlen(user) + 1) != 1 ||
	    EVP_DigestUpdate(md, hash, strlen(hash) + 1) != 1 ||
	    EVP_DigestUpdate(md, pass, strlen(pass)) != 1 || EVP_DigestFinal_ex(md, key, &n) != 1)
		fatal("smtpd: SHA-256 failed");
	EVP_MD_CTX_free(md);
}

static struct auth_cache_ent *
cache_slot(const unsigned char key[32])
{
	uint32_t i;

	memcpy(&i, key, sizeof(i));
	return &cache.e[i % AUTH_CACHE_SIZE];
}

static int
cache_hit(const unsigned char key[32])
{
	struct auth_cache_ent *e = cache_slot(key);

	return e->expires > ev_now(role.loop) && CRYPTO_memcmp(e->key, key, 32) == 0;
}

static void
cache_put(const unsigned char key[32])
{
	struct auth_cache_ent *e = cache_slot(key);

	memcpy(e->key, key, 32);
	e->expires = ev_now(role.loop) + AUTH_CACHE_TTL;
}

static void
auth_run(struct workq_job *job, void *ctx)
{
	struct auth_job *j = (struct auth_job *)job;

	(void)ctx;
	j->ok = pwhash_verify(j->hash, j->pass, j->pass_len);
	xwipe(j->pass, sizeof(j->pass));
}

static void auth_verified(struct session *s, int ok);

static void
auth_done(struct workq_job *job, int cancelled)
{
	struct auth_job *j = (struct auth_job *)job;
	struct session *s = smtpd_req_session(j->req);

	if (!cancelled && j->ok)
		cache_put(j->cache_key);
	if (!cancelled && s != NULL && s->wait == SW_AUTH)
		auth_verified(s, j->ok);
	xwipe(j, sizeof(*j));
	xfree(j);
}

int
smtpd_auth_init(void)
{
	const char *err;
	const char *path = smtpd_cfg()->auth_users_file;

	if (path == NULL || path[0] == '\0')
		return 0;
	if (users_load(path, &au.users) < 0)
		return -1;
	if (getrandom(cache.secret, sizeof(cache.secret), 0) != (ssize_t)sizeof(cache.secret))
		fatal("smtpd: getrandom failed");
	au.loaded = 1;
	/* The dummy hash of a random password: unknown users cost one verification too. */
	if (pwhash_dummy(au.dummy, sizeof(au.dummy), &err) < 0)
		fatal("smtpd: cannot make the dummy password hash: %s", err);
	au.wq = workq_new(role.loop, AUTH_THREADS, AUTH_JOBS_MAX, NULL, NULL, NULL);
	log_info("smtpd: AUTH PLAIN LOGIN enabled for %zu user(s)", au.users.n);
	return 0;
}

void
smtpd_auth_reload(void)
{
	struct sasl_users nu;
	const char *path = smtpd_cfg()->auth_users_file;

	if (path == NULL || path[0] == '\0') {
		if (au.loaded)
			log_warn("smtpd: auth_users_file removed; AUTH stays as loaded at start until "
			    "a restart");
		return;
	}
	if (!au.loaded) {
		if (smtpd_auth_init() < 0)
			log_err("smtpd: AUTH stays disabled");
		return;
	}
	if (users_load(path, &nu) < 0) {
		log_err("smtpd: keeping the previous %zu AUTH user(s)", au.users.n);
		return;
	}
	sasl_users_free(&au.users);
	au.users = nu;
	log_info("smtpd: reloaded %zu AUTH user(s)", au.users.n);
}

int
smtpd_auth_enabled(void)
{
	return au.loaded;
}

/* ---- the exchange ---- */

static const char *
mech_name(int mech)
{
	return mech == SASL_MECH_PLAIN ? "PLAIN" : "LOGIN";
}

int
session_auth_wants(const struct session *s, const char *line, size_t n)
{
	if (s->auth_step != AUTH_STEP_NONE)
		return 1;
	return n >= 4 && strncasecmp(line, "AUTH", 4) == 0 && (n == 4 || line[4] == ' ');
}

static void
auth_end(struct session *s)
{
	s->auth_step = AUTH_STEP_NONE;
	if (s->auth_pending) {
		xwipe(s->auth_pending, strlen(s->auth_pending));
		xfree(s->auth_pending);
		s->auth_pending = NULL;
	}
}

void
session_auth_free(struct session *s)
{
	ev_timer_stop(role.loop, &s->auth_delay);
	auth_end(s);
	xfree(s->auth_user);
	s->auth_user = NULL;
}

static void
auth_fail_reply(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct session *s = w->data;

	(void)loop;
	(void)revents;
	if (s->state != SS_WAIT || s->wait != SW_AUTH)
		return;	/* closed meanwhile (shutdown with the queue gone) */
	s->wait = SW_NONE;
	session_enter_state(s, SS_CMD);
	session_reply(s, "535 5.7.8 Authentication credentials invalid");
	if (smtpd_is_stopping()) {
		session_shutdown(s, 0);
		return;
	}
	session_process_input(s);
}

/* The user is authenticated: remember, log, answer 235. */
static void
auth_success(struct session *s, const char *user, int cached)
{
	char clean[SANITIZE_MAX + 4];

	s->auth_user = xstrdup(user);
	auth_end(s);
	log_info("%s NOQUEUE auth client=%s sasl_method=%s sasl_username=%s%s", s->sid,
	    s->peer_addr, mech_name(s->auth_mech),
	    sanitize(clean, s->auth_user, strlen(s->auth_user)), cached ? " cached=yes" : "");
	session_reply(s, "235 2.7.0 Authentication successful");
}

static void
auth_verified(struct session *s, int ok)
{
	if (ok && s->auth_pending_known) {
		char *user = s->auth_pending;

		s->auth_pending = NULL;
		auth_success(s, user, 0);
		xfree(user);
		s->wait = SW_NONE;
		session_enter_state(s, SS_CMD);
		if (smtpd_is_stopping()) {
			session_shutdown(s, 0);
			return;
		}
		session_process_input(s);
		return;
	}
	auth_end(s);
	fail_count(s);
	metrics_inc(M_AUTH_FAILURES, 1);
	/* No user name: it may be a password typed into the wrong field. */
	log_info("%s NOQUEUE auth-failed client=%s sasl_method=%s reason=credentials", s->sid,
	    s->peer_addr, mech_name(s->auth_mech));
	ev_timer_init(&s->auth_delay, auth_fail_reply, AUTH_FAIL_DELAY, 0);
	s->auth_delay.data = s;
	ev_timer_start(role.loop, &s->auth_delay);	/* s stays in SS_WAIT/SW_AUTH */
}

/* Starts the verification of user/password off the loop; the session waits (SS_WAIT). */
static void
auth_verify(struct session *s, const char *user, const char *pass)
{
	const struct sasl_user *u = sasl_users_find(&au.users, user);
	struct auth_job *j = xcalloc(1, sizeof(*j));

	j->job.run = auth_run;
	j->job.done = auth_done;
	snprintf(j->hash, sizeof(j->hash), "%s", u ? u->hash : au.dummy);
	cache_key(user, j->hash, pass, j->cache_key);
	if (u != NULL && cache_hit(j->cache_key)) {
		xwipe(j, sizeof(*j));
		xfree(j);
		auth_success(s, user, 1);	/* the session goes on in the caller's loop */
		return;
	}
	j->pass_len = strlen(pass);
	memcpy(j->pass, pass, j->pass_len);
	s->auth_step = AUTH_STEP_NONE;
	s->auth_pending = xstrdup(user);
	s->auth_pending_known = u != NULL;
	j->req = smtpd_req_id(s);
	if (workq_submit(au.wq, &j->job) < 0) {
		xwipe(j, sizeof(*j));
		xfree(j);
		auth_end(s);
		session_reply(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
	s->wait_id = j->req;
	s->wait = SW_AUTH;
	session_enter_state(s, SS_WAIT);
}

/* Handles one decoded client response for the current step. */
static void
auth_response(struct session *s, const unsigned char *p, size_t n)
{
	struct sasl_plain pl;
	char pass[SASL_FIELD_MAX + 1];
	const char *err;

	switch (s->auth_step) {
	case AUTH_STEP_PLAIN:
		if (sasl_plain_parse(p, n, &pl, &err) < 0) {
			xwipe(&pl, sizeof(pl));
			auth_end(s);
			session_reply(s, "501 5.5.2 Malformed PLAIN response");
			s->errors++;
			return;
		}
		auth_verify(s, pl.authcid, pl.passwd);
		xwipe(&pl, sizeof(pl));
		return;
	case AUTH_STEP_LOGIN_USER:
		if (sasl_login_field(p, n, 1, pass) < 0) {
			auth_end(s);
			session_reply(s, "501 5.5.2 Malformed user name");
			s->errors++;
			return;
		}
		s->auth_pending = xstrdup(pass);
		s->auth_step = AUTH_STEP_LOGIN_PASS;
		session_reply(s, "334 UGFzc3dvcmQ6");	/* "Password:" */
		return;
	case AUTH_STEP_LOGIN_PASS: {
		char *user = s->auth_pending;

		s->auth_pending = NULL;
		if (sasl_login_field(p, n, 0, pass) < 0) {
			xfree(user);
			auth_end(s);
			session_reply(s, "501 5.5.2 Malformed password");
			s->errors++;
			return;
		}
		auth_verify(s, user, pass);
		xwipe(pass, sizeof(pass));
		xfree(user);
		return;
	}
	default:
		return;
	}
}

/* A response line (or an initial response): "*" cancels, else strict base64. */
static void
auth_response_line(struct session *s, struct slice b64)
{
	unsigned char *dec;
	size_t n;

	if (b64.len == 1 && b64.p[0] == '*') {
		auth_end(s);
		session_reply(s, "501 5.0.0 Authentication cancelled");	/* RFC 4954 §4 */
		return;
	}
	dec = xmalloc(b64.len / 4 * 3 + 1);
	if (sasl_base64_decode(b64, dec, b64.len / 4 * 3 + 1, &n) < 0) {
		xfree(dec);
		auth_end(s);
		session_reply(s, "501 5.5.2 Cannot decode response");
		s->errors++;
		return;
	}
	auth_response(s, dec, n);
	xwipe(dec, n);
	xfree(dec);
}

/* The refusals that come before looking at the mechanism; returns 1 when it answered. */
static int
auth_refused(struct session *s)
{
	if (!s->has_helo || !s->esmtp) {
		session_reply(s, "503 5.5.1 Error: send EHLO first");
		s->errors++;
	} else if (!au.loaded) {
		session_reply(s, "502 5.5.1 Error: authentication not enabled");
		s->errors++;
	} else if (!s->tls) {
		session_reply(s, "538 5.7.11 Encryption required for requested authentication "
		    "mechanism");
		s->errors++;
	} else if (s->auth_user != NULL) {
		session_reply(s, "503 5.5.1 Error: already authenticated");
		s->errors++;
	} else if (s->in_tx) {
		session_reply(s, "503 5.5.1 Error: MAIL transaction in progress");
		s->errors++;
	} else
		return 0;
	return 1;
}

static void
auth_command(struct session *s, struct slice arg)
{
	struct sasl_auth_cmd c;
	const char *err;

	if (auth_refused(s))
		return;
	if (sasl_auth_cmd_parse(arg, &c, &err) < 0) {
		session_reply(s, "501 5.5.4 %s", err);
		s->errors++;
		return;
	}
	if (c.mech == SASL_MECH_NONE) {
		session_reply(s, "504 5.5.4 Unrecognized authentication type");
		s->errors++;
		return;
	}
	if (fail_blocked(s)) {
		log_info("%s NOQUEUE auth-throttled client=%s", s->sid, s->peer_addr);
		session_reply(s, "454 4.7.0 Too many failed authentication attempts, try again later");
		return;
	}
	s->auth_mech = (int)c.mech;
	s->auth_step = c.mech == SASL_MECH_PLAIN ? AUTH_STEP_PLAIN : AUTH_STEP_LOGIN_USER;
	if (c.has_initial) {
		auth_response_line(s, c.initial);
		return;
	}
	/* RFC 4616: PLAIN starts with an empty challenge; LOGIN asks "Username:". */
	session_reply(s, s->auth_step == AUTH_STEP_PLAIN ? "334 " : "334 VXNlcm5hbWU6");
}

void
session_auth_line(struct session *s, struct slice line)
{
	if (s->auth_step != AUTH_STEP_NONE) {
		auth_response_line(s, slice_trim(line));
		return;
	}
	auth_command(s, (struct slice){ line.p + 4, line.len - 4 });
}
