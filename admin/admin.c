/* admin.c: the admin role (`mailguard -x admin`): the HTTPS console and JSON API on the
 * admin_listen sockets and plain-HTTP /metrics on the metrics_listen sockets, both bound by the
 * supervisor and passed from descriptor 4 on (kinds in MAILGUARD_LISTENERS). It loads the TLS
 * key before dropping privileges, then acts only through the supervisor: control commands
 * (IPC_CTL_REQUEST, as mailguardctl's) and configuration change sets (IPC_CONFIG_COMMIT); it
 * never touches the spool, DKIM keys or the configuration files itself.
 * Trusts the supervisor channel after strict decoding; network input goes through httpd.c. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "admin/admin.h"
#include "admin/httpd.h"
#include "admin/metrics.h"
#include "admin/session.h"
#include "common/ipc_msg.h"
#include "common/role.h"
#include "common/tls.h"
#include "config/edit.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define ADMIN_CTL_TIMEOUT 30.0
#define ADMIN_LISTEN_MAX 32

/* A control command or change set waiting for the supervisor's answer. */
struct admin_wait {
	uint32_t id;
	admin_ctl_cb *ctl_cb;		/* one of the two callbacks is set */
	admin_commit_cb *commit_cb;
	void *arg;
	ev_timer timer;
	const char *early_error;	/* answered without asking the supervisor (timer 0) */
	struct admin_wait *next;
};

static struct {
	struct admin_wait *waits;
	uint32_t next_id;
	int stopping;
} ad;

const struct mg_config *
admin_config(void)
{
	return role.cfg;
}

static void
wait_unlink(struct admin_wait *w)
{
	for (struct admin_wait **p = &ad.waits; *p != NULL; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	ev_timer_stop(role.loop, &w->timer);
}

static void
wait_answer(struct admin_wait *w, int status, const char *text)
{
	wait_unlink(w);
	if (w->ctl_cb != NULL)
		w->ctl_cb(w->arg, status, text);
	else
		w->commit_cb(w->arg, status, text);
	xfree(w);
}

static void
wait_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct admin_wait *w = t->data;

	(void)loop;
	(void)revents;
	if (w->early_error != NULL) {
		wait_answer(w, 1, w->early_error);
		return;
	}
	log_warn("admin: supervisor did not answer request %u within %.0f s", w->id,
	    ADMIN_CTL_TIMEOUT);
	wait_answer(w, 1, "timeout");
}

static struct admin_wait *
wait_new(admin_ctl_cb *ctl_cb, admin_commit_cb *commit_cb, void *arg, const char *early_error)
{
	struct admin_wait *w = xcalloc(1, sizeof(*w));

	if (++ad.next_id == 0)
		ad.next_id = 1;
	w->id = ad.next_id;
	w->ctl_cb = ctl_cb;
	w->commit_cb = commit_cb;
	w->arg = arg;
	w->early_error = early_error;
	ev_timer_init(&w->timer, wait_timeout_cb, early_error ? 0.0 : ADMIN_CTL_TIMEOUT, 0);
	w->timer.data = w;
	ev_timer_start(role.loop, &w->timer);
	w->next = ad.waits;
	ad.waits = w;
	return w;
}

void
admin_ctl(int argc, const char *const *argv, admin_ctl_cb *cb, void *arg)
{
	struct admin_wait *w;
	struct ipc_out o;

	if (argc <= 0 || argc > 16) {
		wait_new(cb, NULL, arg, "error: bad number of arguments\n");
		return;
	}
	for (int i = 0; i < argc; i++)
		if (argv[i] == NULL || strpbrk(argv[i], "\r\n") != NULL) {
			wait_new(cb, NULL, arg, "error: invalid argument\n");
			return;
		}
	w = wait_new(cb, NULL, arg, NULL);
	ipc_out_init(&o);
	ipc_put_u32(&o, (uint32_t)argc);
	for (int i = 0; i < argc; i++)
		ipc_put_str(&o, argv[i]);
	ipc_send(role.sup, IPC_CTL_REQUEST, w->id, -1, &o);
	ipc_out_free(&o);
}

void
admin_config_commit(const struct cfg_change *changes, size_t n, admin_commit_cb *cb, void *arg)
{
	struct admin_wait *w;
	struct ipc_out o;

	if (n == 0 || n > IPC_CONFIG_COMMIT_MAX) {
		wait_new(NULL, cb, arg, "too many (or no) files in one change\n");
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (changes[i].rel == NULL || (changes[i].text != NULL &&
		    memchr(changes[i].text, '\0', changes[i].len) != NULL)) {
			wait_new(NULL, cb, arg, "a changed file contains a NUL byte\n");
			return;
		}
	w = wait_new(NULL, cb, arg, NULL);
	ipc_out_init(&o);
	ipc_put_u32(&o, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		ipc_put_str(&o, changes[i].rel);
		if (changes[i].text != NULL)
			ipc_put_bytes(&o, changes[i].text, changes[i].len);
		else
			ipc_put_str(&o, NULL);
		ipc_put_str(&o, changes[i].expect_version);
	}
	ipc_send(role.sup, IPC_CONFIG_COMMIT, w->id, -1, &o);
	ipc_out_free(&o);
}

/* IPC_CTL_REPLY and IPC_CONFIG_COMMIT_RESULT from the supervisor. */
static void
admin_sup_msg(struct ipc_chan *chan, struct ipc_msg *msg, void *arg)
{
	uint32_t status;
	char *text;

	(void)chan;
	(void)arg;
	if (msg->type != IPC_CTL_REPLY && msg->type != IPC_CONFIG_COMMIT_RESULT)
		panic("admin: unexpected message type %u from supervisor", msg->type);
	status = ipc_get_u32(msg);
	text = ipc_get_str(msg);
	ipc_msg_end(msg);
	for (struct admin_wait *w = ad.waits; w != NULL; w = w->next)
		if (w->id == msg->id && w->early_error == NULL &&
		    (msg->type == IPC_CTL_REPLY) == (w->ctl_cb != NULL)) {
			wait_answer(w, (int)status, text ? text : "");
			break;
		}
	xfree(text);
}

/* The console's certificate: admin_tls_cert/key, else tls_cert/tls_key, else the one the
 * supervisor generated in state_dir/tls/. Keeps the previous context when loading fails. */
static void
admin_load_tls(void)
{
	const struct mg_config *cfg = role.cfg;
	char cert[4096], key[4096];
	const char *err;
	SSL_CTX *ctx;

	if (cfg->n_admin_listen == 0)
		return;
	if (cfg->admin_tls_cert[0] != '\0') {
		str_lcpy(cert, cfg->admin_tls_cert, sizeof(cert));
		str_lcpy(key, cfg->admin_tls_key, sizeof(key));
	} else if (cfg->tls_cert[0] != '\0') {
		str_lcpy(cert, cfg->tls_cert, sizeof(cert));
		str_lcpy(key, cfg->tls_key, sizeof(key));
	} else {
		str_fmt(cert, sizeof(cert), "%s/tls/cert.pem", cfg->state_dir);
		str_fmt(key, sizeof(key), "%s/tls/key.pem", cfg->state_dir);
	}
	if ((ctx = tls_server_ctx(cert, key, &err)) == NULL) {
		log_err("admin: console TLS certificate %s not loaded: %s", cert, err);
		return;
	}
	httpd_set_tls(ctx);
	log_debug("admin: console certificate %s loaded", cert);
}

static void
admin_configure(void)
{
	httpd_set_max_connections(role.cfg->admin_max_connections);
	admin_static_configure(role.cfg);
	admin_session_configure(role.cfg);
}

static void
admin_reload(struct mg_config *old)
{
	(void)old;
	admin_load_tls();
	admin_configure();
}

static void
admin_shutdown(void)
{
	if (ad.stopping)
		return;
	ad.stopping = 1;
	httpd_stop();
	admin_metrics_stop();
	role_exit(0);
}

/* The kind of the index-th listening socket ("admin" or "metrics") from MAILGUARD_LISTENERS. */
static int
listener_is_metrics(int index)
{
	const char *p = getenv("MAILGUARD_LISTENERS");

	for (int i = 0; p != NULL && *p != '\0'; i++) {
		size_t n = strcspn(p, ",");

		if (i == index)
			return n == 7 && strncmp(p, "metrics", 7) == 0;
		p += n + (p[n] == ',');
	}
	return 0;
}

static void
admin_listeners(void)
{
	int n = 0;

	for (int fd = ROLE_FD_ADMIN_LISTEN0; n < ADMIN_LISTEN_MAX; fd++, n++) {
		int acc = 0;
		socklen_t l = sizeof(acc);

		if (fcntl(fd, F_GETFD) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) < 0 || !acc)
			break;
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		httpd_listen(fd, listener_is_metrics(n));
	}
	if (n == 0)
		fatal("admin: started without listening sockets");
}

int
admin_main(void)
{
	const char *err;

	role.on_reload = admin_reload;
	role.on_shutdown = admin_shutdown;
	role.on_sup_msg = admin_sup_msg;
	httpd_init(role.loop);
	admin_listeners();
	/* before the privilege drop: the key may be readable by root only */
	admin_load_tls();
	admin_configure();
	role_drop_privileges();
	if (admin_metrics_start(role.loop, role.cfg->state_dir, &err) < 0)
		log_err("admin: metrics history unavailable: %s", err);
	role_ready();
	role_run();
	return 0;
}
