/* supervisor.c: the root process. Loads and validates the configuration, prepares spool and state
 * directories, bootstraps TLS, binds the listening sockets, wires socketpairs between roles and
 * re-executes itself once per role (-x ROLE) with descriptors at fixed numbers (common/ipc_msg.h).
 * It waits for every role's HELLO (with a deadline), then writes state_dir/listeners and logs
 * "mailguard ready". SIGHUP and `mailguardctl reload` re-validate and tell roles to reload;
 * SIGTERM stops the roles. If a role dies, the supervisor names it once and stops the others.
 * It also serves the control socket (state_dir/control.sock, mode 0600) for mailguardctl:
 * a one-line text request, a text reply; queue commands are relayed to the queue role. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/ipc_msg.h"
#include "common/role.h"
#include "common/tls.h"
#include "config/config.h"
#include "lib/atomicfile.h"
#include "lib/buf.h"
#include "lib/evconn.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define SUP_HELLO_TIMEOUT 30.0
#define SUP_STOP_TIMEOUT 15.0
#define CTL_LINE_MAX 4096
#define CTL_CLIENTS_MAX 32

enum sup_child { CHILD_SMTPD, CHILD_QUEUE, CHILD_DELIVERY, CHILD_FILTER, CHILD_SIGNER, CHILD_COUNT };
static const char *const child_names[CHILD_COUNT] = { "smtpd", "queue", "delivery", "filter",
	"signer" };

struct sup_listener {
	int fd;
	char addr[128];
	int port;
	const char *kind;	/* "smtp", "submission" or "submissions" (state_dir/listeners) */
};

struct ctl_client {
	struct evconn *conn;
	uint32_t id;
	int active;
};

static struct {
	struct ev_loop *loop;
	const char *config_dir;
	int foreground;
	struct mg_config *cfg;
	pid_t pids[CHILD_COUNT];
	ev_child child_w[CHILD_COUNT];
	struct ipc_chan *chan[CHILD_COUNT];
	int hello[CHILD_COUNT];
	int ready;
	int stopping;
	int exit_status;
	struct sup_listener *listeners;
	size_t n_listeners;
	ev_timer hello_timer, stop_timer;
	ev_signal sig_term, sig_int, sig_hup;
	int ctl_fd;
	ev_io ctl_w;
	struct ctl_client ctl[CTL_CLIENTS_MAX];
	uint32_t ctl_next_id;
} sup;

static void sup_stop(int status);
static void sup_stop_backends(void);

static int
sup_split_hostport(const char *s, char *host, size_t hsize, char *port, size_t psize)
{
	const char *colon;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL || end[1] != ':')
			return -1;
		if ((size_t)(end - s - 1) >= hsize)
			return -1;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		return str_lcpy(port, end + 2, psize) >= psize ? -1 : 0;
	}
	if ((colon = strrchr(s, ':')) == NULL || (size_t)(colon - s) >= hsize)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	return str_lcpy(port, colon + 1, psize) >= psize ? -1 : 0;
}

/* Binds the addresses of one listen-type setting (listen, submission_listen, ...), appending
 * to sup.listeners; smtpd learns each socket's kind from MAILGUARD_LISTENERS (sup_spawn). */
static void
sup_bind_kind(char **addrs, size_t n, const char *kind)
{
	sup.listeners = xreallocarray(sup.listeners, sup.n_listeners + n + 1,
	    sizeof(*sup.listeners));
	for (size_t k = 0; k < n; k++) {
		size_t i = sup.n_listeners++;
		struct addrinfo hints, *ai;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char host[128], port[16], sport[NI_MAXSERV];
		int fd, on = 1, r;

		if (sup_split_hostport(addrs[k], host, sizeof(host), port, sizeof(port)) < 0)
			fatal("listen: cannot parse %s", addrs[k]);
		memset(&hints, 0, sizeof(hints));
		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
		hints.ai_socktype = SOCK_STREAM;
		if ((r = getaddrinfo(host, port, &hints, &ai)) != 0)
			fatal("listen %s: %s", addrs[k], gai_strerror(r));
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			fatal("socket: %m");
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
			fatal("cannot bind %s: %m", addrs[k]);
		if (listen(fd, 4096) < 0)
			fatal("listen %s: %m", addrs[k]);
		freeaddrinfo(ai);
		getsockname(fd, (struct sockaddr *)&ss, &sl);
		getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), sport, sizeof(sport),
		    NI_NUMERICHOST | NI_NUMERICSERV);
		sup.listeners[i].fd = fd;
		str_lcpy(sup.listeners[i].addr, host, sizeof(sup.listeners[i].addr));
		sup.listeners[i].port = ntohs(ss.ss_family == AF_INET ?
		    ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
		sup.listeners[i].kind = kind;
		log_info("listening on %s port %d (%s)", host, sup.listeners[i].port, kind);
	}
}

static void
sup_bind_listeners(void)
{
	sup.n_listeners = 0;
	sup_bind_kind(sup.cfg->listen, sup.cfg->n_listen, "smtp");
	sup_bind_kind(sup.cfg->submission_listen, sup.cfg->n_submission_listen, "submission");
	sup_bind_kind(sup.cfg->submissions_listen, sup.cfg->n_submissions_listen, "submissions");
}

static void
sup_mkdir(const char *path, uid_t uid, gid_t gid)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		fatal("cannot create %s: %m", path);
	if (geteuid() == 0 && chown(path, uid, gid) < 0)
		fatal("cannot chown %s: %m", path);
}

static void
sup_prepare_dirs(void)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char path[4096];

	if (geteuid() == 0) {
		struct passwd *pw = getpwnam(sup.cfg->user);

		if (pw == NULL)
			fatal("user %s does not exist (setting 'user')", sup.cfg->user);
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	sup_mkdir(sup.cfg->spool_dir, uid, gid);
	sup_mkdir(sup.cfg->state_dir, uid, gid);
	if (str_fmt(path, sizeof(path), "%s/tls", sup.cfg->state_dir) < 0)
		fatal("state_dir path too long");
	sup_mkdir(path, uid, gid);
}

static void
sup_tls_bootstrap(void)
{
	const char *err;

	if (sup.cfg->tls_cert[0] != '\0')
		return;
	{
		char cert[4096], key[4096];

		str_fmt(cert, sizeof(cert), "%s/tls/cert.pem", sup.cfg->state_dir);
		str_fmt(key, sizeof(key), "%s/tls/key.pem", sup.cfg->state_dir);
		if (tls_bootstrap(cert, key, sup.cfg->hostname, &err) < 0)
			fatal("TLS bootstrap: %s", err);
		if (geteuid() == 0) {
			struct passwd *pw = getpwnam(sup.cfg->user);

			if (pw && (chown(cert, pw->pw_uid, pw->pw_gid) < 0 ||
			    chown(key, pw->pw_uid, pw->pw_gid) < 0))
				fatal("chown TLS files: %m");
		}
	}
}

static void
sup_write_listeners(void)
{
	struct buf b;
	char path[4096];
	const char *err;

	buf_init(&b, 1 << 20);
	for (size_t i = 0; i < sup.n_listeners; i++)
		buf_printf(&b, "%s %s %d\n", sup.listeners[i].kind, sup.listeners[i].addr,
		    sup.listeners[i].port);
	str_fmt(path, sizeof(path), "%s/listeners", sup.cfg->state_dir);
	if (atomicfile_write(path, b.data ? b.data : "", b.len, 0644, &err) < 0)
		log_err("cannot write %s: %s", path, err);
	buf_free(&b);
}

static void sup_child_msg(struct ipc_chan *chan, struct ipc_msg *msg, void *arg);
static void sup_child_closed(struct ipc_chan *chan, void *arg);
static void sup_child_exited(struct ev_loop *loop, ev_child *w, int revents);

/* Moves each wanted descriptor to its fixed number in the child, clearing close-on-exec. */
static void
sup_child_fds(const int *fds, int n)
{
	int tmp[64];

	for (int i = 0; i < n; i++)
		if ((tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 100)) < 0)
			_exit(127);
	for (int i = 0; i < n; i++)
		if (dup2(tmp[i], ROLE_FD_SUPERVISOR + i) < 0)
			_exit(127);
}

/* In the smtpd child before exec: the kind of each listening socket, in descriptor order from
 * ROLE_FD_LISTEN0 ("smtp,submission,submissions"). */
static void
sup_listener_env(void)
{
	struct buf b;

	buf_init(&b, 64 * 1024);
	for (size_t i = 0; i < sup.n_listeners; i++)
		buf_printf(&b, "%s%s", i ? "," : "", sup.listeners[i].kind);
	if (setenv("MAILGUARD_LISTENERS", b.data ? b.data : "", 1) < 0)
		_exit(127);
	buf_free(&b);
}

static void
sup_spawn(enum sup_child which, const int *fds, int nfds)
{
	char exe[4096];
	ssize_t n;
	pid_t pid;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) < 0)
		fatal("readlink /proc/self/exe: %m");
	exe[n] = '\0';
	if ((pid = fork()) < 0)
		fatal("fork: %m");
	if (pid == 0) {
		char *argv[8];
		int a = 0;

		sup_child_fds(fds, nfds);
		if (which == CHILD_SMTPD)
			sup_listener_env();
		argv[a++] = "mailguard";
		argv[a++] = "-x";
		argv[a++] = (char *)child_names[which];
		argv[a++] = "-c";
		argv[a++] = (char *)sup.config_dir;
		if (sup.foreground)
			argv[a++] = "-d";
		argv[a] = NULL;
		execv(exe, argv);
		_exit(127);
	}
	sup.pids[which] = pid;
	ev_child_init(&sup.child_w[which], sup_child_exited, pid, 0);
	sup.child_w[which].data = (void *)(intptr_t)which;
	ev_child_start(sup.loop, &sup.child_w[which]);
}

static void
sup_start_children(void)
{
	int sp[CHILD_COUNT][2], sq[2], qd[2], sf[2], ss[2];
	int fds[64];

	for (int i = 0; i < CHILD_COUNT; i++)
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp[i]) < 0)
			fatal("socketpair: %m");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sq) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, qd) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sf) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, ss) < 0)
		fatal("socketpair: %m");

	fds[0] = sp[CHILD_QUEUE][1];
	fds[1] = sq[1];
	fds[2] = qd[0];
	sup_spawn(CHILD_QUEUE, fds, 3);

	fds[0] = sp[CHILD_DELIVERY][1];
	fds[1] = qd[1];
	sup_spawn(CHILD_DELIVERY, fds, 2);

	fds[0] = sp[CHILD_FILTER][1];
	fds[1] = sf[1];
	sup_spawn(CHILD_FILTER, fds, 2);

	fds[0] = sp[CHILD_SIGNER][1];	/* issue E: the key-holding signer, peer of smtpd */
	fds[1] = ss[1];
	sup_spawn(CHILD_SIGNER, fds, 2);

	fds[0] = sp[CHILD_SMTPD][1];
	fds[1] = sq[0];
	fds[2] = sf[0];
	fds[3] = ss[0];	/* ROLE_FD_PEER3: signer */
	for (size_t i = 0; i < sup.n_listeners && i < 59; i++)
		fds[4 + i] = sup.listeners[i].fd;
	sup_spawn(CHILD_SMTPD, fds, 4 + (int)sup.n_listeners);
	close(ss[0]);
	close(ss[1]);

	close(sq[0]);
	close(sq[1]);
	close(qd[0]);
	close(qd[1]);
	close(sf[0]);
	close(sf[1]);
	for (size_t i = 0; i < sup.n_listeners; i++)
		close(sup.listeners[i].fd);
	for (int i = 0; i < CHILD_COUNT; i++) {
		close(sp[i][1]);
		sup.chan[i] = ipc_chan_new(sup.loop, sp[i][0], child_names[i], sup_child_msg,
		    sup_child_closed, (void *)(intptr_t)i);
	}
}

static void
sup_broadcast(enum ipc_type type)
{
	for (int i = 0; i < CHILD_COUNT; i++)
		if (sup.chan[i])
			ipc_send(sup.chan[i], (uint16_t)type, 0, -1, NULL);
}

/* ---- control socket ---- */

static void
ctl_reply(struct ctl_client *cl, int status, const char *text)
{
	evconn_printf(cl->conn, "status %d\n%s", status, text);
	if (text[0] && text[strlen(text) - 1] != '\n')
		evconn_write(cl->conn, "\n", 1);
	evconn_notify_drained(cl->conn);
}

static void
ctl_free(struct ctl_client *cl)
{
	evconn_free(&cl->conn);
	cl->active = 0;
}

static int sup_reload(void);

static void
ctl_command(struct ctl_client *cl, char *line)
{
	char *argv[16];
	int argc = str_split(line, " \t", argv, 16);

	if (argc <= 0) {
		ctl_reply(cl, 2, "error: empty or overlong command\n");
		return;
	}
	if (strcmp(argv[0], "reload") == 0 && argc == 1) {
		if (sup_reload() < 0)
			ctl_reply(cl, 1, "error: configuration has errors; see the log (or mailguard -n)\n");
		else
			ctl_reply(cl, 0, "reloaded\n");
		return;
	}
	if (strcmp(argv[0], "status") == 0 && argc == 1) {
		char txt[512];

		snprintf(txt, sizeof(txt), "ready %s\nsmtpd pid %d\nqueue pid %d\ndelivery pid %d\n",
		    sup.ready ? "yes" : "no", (int)sup.pids[CHILD_SMTPD], (int)sup.pids[CHILD_QUEUE],
		    (int)sup.pids[CHILD_DELIVERY]);
		ctl_reply(cl, 0, txt);
		return;
	}
	if (strcmp(argv[0], "queue") == 0 && sup.chan[CHILD_QUEUE] != NULL) {
		struct ipc_out o;

		cl->id = ++sup.ctl_next_id;
		ipc_out_init(&o);
		ipc_put_u32(&o, (uint32_t)(argc - 1));
		for (int i = 1; i < argc; i++)
			ipc_put_str(&o, argv[i]);
		ipc_send(sup.chan[CHILD_QUEUE], IPC_CTL_REQUEST, cl->id, -1, &o);
		ipc_out_free(&o);
		return;
	}
	if (strcmp(argv[0], "dkim") == 0 && sup.chan[CHILD_SIGNER] != NULL) {
		/* issue E: only the signer touches keys */
		struct ipc_out o;

		cl->id = ++sup.ctl_next_id;
		ipc_out_init(&o);
		ipc_put_u32(&o, (uint32_t)(argc - 1));
		for (int i = 1; i < argc; i++)
			ipc_put_str(&o, argv[i]);
		ipc_send(sup.chan[CHILD_SIGNER], IPC_CTL_REQUEST, cl->id, -1, &o);
		ipc_out_free(&o);
		return;
	}
	ctl_reply(cl, 2, "error: unknown command (try: reload, status, queue list|show|flush|"
	    "delete|hold|release|rates|tlsrpt, dkim status|dns|keygen|rotate|import)\n");
}

static void
ctl_conn_cb(struct evconn *c, enum evconn_event ev, void *arg)
{
	struct ctl_client *cl = arg;
	struct buf *in;
	char *nl;

	switch (ev) {
	case EVCONN_READ:
		in = evconn_in(c);
		if (cl->id != 0)
			return;	/* one command per connection */
		if ((nl = memchr(in->data, '\n', in->len)) == NULL) {
			if (in->len >= CTL_LINE_MAX - 1) {
				ctl_reply(cl, 2, "error: command too long\n");
				cl->id = UINT32_MAX;
			}
			return;
		}
		*nl = '\0';
		if (memchr(in->data, '\0', (size_t)(nl - in->data)) != NULL) {
			ctl_reply(cl, 2, "error: NUL in command\n");
			cl->id = UINT32_MAX;
			return;
		}
		cl->id = UINT32_MAX;
		ctl_command(cl, in->data);
		return;
	case EVCONN_DRAINED:
	case EVCONN_EOF:
	case EVCONN_ERROR:
	case EVCONN_TIMEOUT:
		ctl_free(cl);
		return;
	default:
		return;
	}
}

static void
ctl_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	int fd;

	(void)loop;
	(void)revents;
	while ((fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct ctl_client *cl = NULL;

		for (int i = 0; i < CTL_CLIENTS_MAX; i++)
			if (!sup.ctl[i].active) {
				cl = &sup.ctl[i];
				break;
			}
		if (cl == NULL) {
			close(fd);
			continue;
		}
		cl->active = 1;
		cl->id = 0;
		cl->conn = evconn_new(sup.loop, fd, CTL_LINE_MAX, ctl_conn_cb, cl);
		evconn_set_timeout(cl->conn, 60);
	}
}

static void
ctl_open(void)
{
	struct sockaddr_un sun;
	mode_t old;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (str_fmt(sun.sun_path, sizeof(sun.sun_path), "%s/control.sock", sup.cfg->state_dir) < 0)
		fatal("state_dir too long for a control socket path");
	unlink(sun.sun_path);
	if ((sup.ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		fatal("socket: %m");
	old = umask(0177);
	if (bind(sup.ctl_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		fatal("bind %s: %m", sun.sun_path);
	umask(old);
	if (listen(sup.ctl_fd, 16) < 0)
		fatal("listen %s: %m", sun.sun_path);
	ev_io_init(&sup.ctl_w, ctl_accept_cb, sup.ctl_fd, EV_READ);
	ev_io_start(sup.loop, &sup.ctl_w);
}

static void
ctl_queue_reply(struct ipc_msg *msg)
{
	uint32_t status = ipc_get_u32(msg);
	char *text = ipc_get_str(msg);

	ipc_msg_end(msg);
	for (int i = 0; i < CTL_CLIENTS_MAX; i++)
		if (sup.ctl[i].active && sup.ctl[i].id == msg->id) {
			ctl_reply(&sup.ctl[i], (int)status, text ? text : "");
			break;
		}
	xfree(text);
}

/* ---- children ---- */

static void
sup_hello_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	for (int i = 0; i < CHILD_COUNT; i++)
		if (!sup.hello[i])
			log_crit("role %s did not finish set-up within %.0f s", child_names[i],
			    SUP_HELLO_TIMEOUT);
	sup_stop(1);
}

static void
sup_child_msg(struct ipc_chan *chan, struct ipc_msg *msg, void *arg)
{
	int which = (int)(intptr_t)arg;

	(void)chan;
	switch (msg->type) {
	case IPC_HELLO: {
		uint32_t v = ipc_get_u32(msg);
		char name[32];

		ipc_get_strbuf(msg, name, sizeof(name));
		ipc_msg_end(msg);
		if (v != IPC_VERSION || strcmp(name, child_names[which]) != 0)
			panic("role %s: bad hello (version %u, name %s)", child_names[which], v, name);
		sup.hello[which] = 1;
		for (int i = 0; i < CHILD_COUNT; i++)
			if (!sup.hello[i])
				return;
		ev_timer_stop(sup.loop, &sup.hello_timer);
		sup.ready = 1;
		sup_write_listeners();
		log_info("mailguard ready: %zu listener(s), spool %s", sup.n_listeners,
		    sup.cfg->spool_dir);
		return;
	}
	case IPC_CTL_REPLY:
		ctl_queue_reply(msg);
		return;
	default:
		panic("unexpected message type %u from %s", msg->type, child_names[which]);
	}
}

static void
sup_child_closed(struct ipc_chan *chan, void *arg)
{
	int which = (int)(intptr_t)arg;

	ipc_chan_free(&chan);
	sup.chan[which] = NULL;
}

static void
sup_check_done(void)
{
	for (int i = 0; i < CHILD_COUNT; i++)
		if (sup.pids[i] > 0)
			return;
	ev_break(sup.loop, EVBREAK_ALL);
}

static void
sup_child_exited(struct ev_loop *loop, ev_child *w, int revents)
{
	int which = (int)(intptr_t)w->data;
	int st = w->rstatus;

	(void)revents;
	ev_child_stop(loop, w);
	sup.pids[which] = 0;
	if (!sup.stopping) {
		if (WIFSIGNALED(st))
			log_crit("role %s (pid %d) killed by signal %d; stopping", child_names[which],
			    w->rpid, WTERMSIG(st));
		else
			log_crit("role %s (pid %d) exited with status %d; stopping", child_names[which],
			    w->rpid, WEXITSTATUS(st));
		sup_stop(1);
	} else if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		log_warn("role %s (pid %d) ended with status 0x%x during shutdown", child_names[which],
		    w->rpid, st);
	}
	if (sup.stopping && which == CHILD_SMTPD)
		sup_stop_backends();
	sup_check_done();
}

static void
sup_stop_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	for (int i = 0; i < CHILD_COUNT; i++)
		if (sup.pids[i] > 0) {
			log_warn("role %s (pid %d) did not stop in time; killing it", child_names[i],
			    (int)sup.pids[i]);
			kill(sup.pids[i], SIGKILL);
		}
}

static void
sup_stop_backends(void)
{
	for (int i = 0; i < CHILD_COUNT; i++)
		if (i != CHILD_SMTPD && sup.chan[i] != NULL && sup.pids[i] > 0) {
			ipc_send(sup.chan[i], IPC_SHUTDOWN, 0, -1, NULL);
			(void)ipc_flush(sup.chan[i]);
		}
}

static void
sup_stop(int status)
{
	if (sup.stopping)
		return;
	sup.stopping = 1;
	sup.exit_status = status;
	ev_timer_stop(sup.loop, &sup.hello_timer);
	/* smtpd first: no new mail, open transactions answered; queue and delivery follow once it
	 * is gone (sup_child_exited), so commits in flight still get their answers. */
	if (sup.pids[CHILD_SMTPD] > 0 && sup.chan[CHILD_SMTPD] != NULL) {
		ipc_send(sup.chan[CHILD_SMTPD], IPC_SHUTDOWN, 0, -1, NULL);
		(void)ipc_flush(sup.chan[CHILD_SMTPD]);
	} else {
		sup_stop_backends();
	}
	ev_timer_init(&sup.stop_timer, sup_stop_timeout, SUP_STOP_TIMEOUT, 0);
	ev_timer_start(sup.loop, &sup.stop_timer);
	sup_check_done();
}

/* Started as root, smtpd reads auth_users_file as the unprivileged user on reload: give the
 * file (mode 0600, checked by config_load) to that user. "mailguardctl auth add" replaces the
 * file as root, so this runs at start and at every reload. */
static void
sup_own_users_file(void)
{
	struct passwd *pw;

	if (geteuid() != 0 || sup.cfg->auth_users_file == NULL || sup.cfg->auth_users_file[0] == '\0')
		return;
	if ((pw = getpwnam(sup.cfg->user)) != NULL &&
	    chown(sup.cfg->auth_users_file, pw->pw_uid, pw->pw_gid) < 0 && errno != ENOENT)
		log_err("chown %s: %m", sup.cfg->auth_users_file);
}

static int
sup_reload(void)
{
	struct mg_config *ncfg = config_load(sup.config_dir, NULL);
	const char *name;

	if (ncfg == NULL) {
		log_err("reload: configuration has errors; keeping the running one (run mailguard -n)");
		return -1;
	}
	if (config_static_changed(sup.cfg, ncfg, &name))
		log_warn("reload: setting %s changed but takes effect only after a restart", name);
	config_free(&sup.cfg);
	sup.cfg = ncfg;
	sup_own_users_file();
	sup_broadcast(IPC_RELOAD);
	log_info("reload: configuration valid; roles reloading");
	return 0;
}

static void
sup_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	if (w->signum == SIGHUP) {
		(void)sup_reload();
		return;
	}
	log_info("signal %d: stopping", w->signum);
	sup_stop(0);
}

int
supervisor_main(const char *config_dir, int foreground)
{
	char *abs;

	log_init("supervisor", foreground, LOG_LVL_INFO);
	if ((abs = realpath(config_dir, NULL)) == NULL)
		fatal("configuration directory %s: %m", config_dir);
	sup.config_dir = abs;	/* roles get an absolute path */
	sup.foreground = foreground;
	if ((sup.cfg = config_load(sup.config_dir, stderr)) == NULL)
		fatal("configuration in %s has errors (run mailguard -n -c %s)", config_dir, config_dir);
	{
		int lvl = log_level_from_name(sup.cfg->log_level);

		if (lvl >= 0)
			log_set_level((enum log_level)lvl);
	}
	signal(SIGPIPE, SIG_IGN);
	if (!foreground && daemon(1, 0) < 0)
		fatal("daemon: %m");
	sup.loop = ev_default_loop(EVFLAG_AUTO);
	sup_prepare_dirs();
	sup_tls_bootstrap();
	sup_own_users_file();
	sup_bind_listeners();
	ctl_open();
	sup_start_children();
	ev_timer_init(&sup.hello_timer, sup_hello_timeout, SUP_HELLO_TIMEOUT, 0);
	ev_timer_start(sup.loop, &sup.hello_timer);
	ev_signal_init(&sup.sig_term, sup_signal, SIGTERM);
	ev_signal_init(&sup.sig_int, sup_signal, SIGINT);
	ev_signal_init(&sup.sig_hup, sup_signal, SIGHUP);
	ev_signal_start(sup.loop, &sup.sig_term);
	ev_signal_start(sup.loop, &sup.sig_int);
	ev_signal_start(sup.loop, &sup.sig_hup);
	ev_run(sup.loop, 0);
	{
		char path[4096];

		str_fmt(path, sizeof(path), "%s/control.sock", sup.cfg->state_dir);
		unlink(path);
		str_fmt(path, sizeof(path), "%s/listeners", sup.cfg->state_dir);
		unlink(path);
	}
	log_info("mailguard stopped");
	return sup.exit_status;
}
