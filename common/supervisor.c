/* supervisor.c: the root process. Loads and validates the configuration, prepares spool and state
 * directories, bootstraps TLS, binds the listening sockets, wires socketpairs between roles and
 * re-executes itself once per role (-x ROLE) with descriptors at fixed numbers (common/ipc_msg.h).
 * It waits for every role's HELLO (with a deadline), then writes state_dir/listeners and logs
 * "mailguard ready". SIGHUP and `mailguardctl reload` re-validate and tell roles to reload;
 * SIGTERM stops the roles. If smtpd, filter, delivery, signer or admin dies, the supervisor names it,
 * makes new socketpairs for its links, hands the surviving peers their new ends
 * (IPC_PEER_RESET) and starts it again, at most SUP_RESTART_MAX times in SUP_RESTART_WINDOW
 * seconds per role; past that, or when the queue dies (it owns the spool and the journal:
 * a full restart recovers it, see doc/ARCHITECTURE.md), it stops everything.
 * The admin role (console and /metrics) runs when admin_listen or metrics_listen is set; it gets
 * its listening sockets from descriptor 4 on. The control socket for mailguardctl and the admin
 * role's control requests and configuration commits are in common/supervisor_ctl.c. */
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
#include "common/supervisor_int.h"
#include "common/tls.h"
#include "config/config.h"
#include "lib/atomicfile.h"
#include "lib/buf.h"
#include "lib/evconn.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

struct sup_state sup;
const char *const child_names[CHILD_COUNT] = { "smtpd", "queue", "delivery", "filter",
	"signer", "admin" };

/* The channels between roles and the descriptor number of each end (common/ipc_msg.h,
 * doc/ipc.md). */
static const struct sup_link {
	enum sup_child a, b;
	int a_fd, b_fd;
} sup_links[] = {
	{ CHILD_SMTPD, CHILD_QUEUE, ROLE_FD_PEER1, ROLE_FD_PEER1 },
	{ CHILD_QUEUE, CHILD_DELIVERY, ROLE_FD_PEER2, ROLE_FD_PEER1 },
	{ CHILD_SMTPD, CHILD_FILTER, ROLE_FD_PEER2, ROLE_FD_PEER1 },
	{ CHILD_SMTPD, CHILD_SIGNER, ROLE_FD_PEER3, ROLE_FD_PEER1 },
	{ CHILD_QUEUE, CHILD_SIGNER, ROLE_FD_PEER3, ROLE_FD_PEER2 },
};
#define SUP_N_LINKS (sizeof(sup_links) / sizeof(sup_links[0]))

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

/* Binds the addresses of one listen-type setting (listen, submission_listen, admin_listen, ...),
 * appending to set; the role learns each socket's kind from MAILGUARD_LISTENERS (sup_spawn). */
static void
sup_bind_kind(struct sup_lset *set, char **addrs, size_t n, const char *kind)
{
	set->l = xreallocarray(set->l, set->n + n + 1, sizeof(*set->l));
	for (size_t k = 0; k < n; k++) {
		size_t i = set->n++;
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
		set->l[i].fd = fd;
		str_lcpy(set->l[i].addr, host, sizeof(set->l[i].addr));
		set->l[i].port = ntohs(ss.ss_family == AF_INET ?
		    ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
		set->l[i].kind = kind;
		log_info("listening on %s port %d (%s)", host, set->l[i].port, kind);
	}
}

static void
sup_bind_listeners(void)
{
	sup.smtp_ls.n = 0;
	sup_bind_kind(&sup.smtp_ls, sup.cfg->listen, sup.cfg->n_listen, "smtp");
	sup_bind_kind(&sup.smtp_ls, sup.cfg->submission_listen, sup.cfg->n_submission_listen,
	    "submission");
	sup_bind_kind(&sup.smtp_ls, sup.cfg->submissions_listen, sup.cfg->n_submissions_listen,
	    "submissions");
	/* The admin role serves the console (HTTPS) and plain-HTTP /metrics listeners; it runs
	 * only when one of them is configured. */
	sup.admin_ls.n = 0;
	sup_bind_kind(&sup.admin_ls, sup.cfg->admin_listen, sup.cfg->n_admin_listen, "admin");
	sup_bind_kind(&sup.admin_ls, sup.cfg->metrics_listen, sup.cfg->n_metrics_listen, "metrics");
	for (int i = 0; i < CHILD_COUNT; i++)
		sup.enabled[i] = i != CHILD_ADMIN || sup.admin_ls.n > 0;
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
	for (size_t i = 0; i < sup.smtp_ls.n; i++)
		buf_printf(&b, "%s %s %d\n", sup.smtp_ls.l[i].kind, sup.smtp_ls.l[i].addr,
		    sup.smtp_ls.l[i].port);
	for (size_t i = 0; i < sup.admin_ls.n; i++)
		buf_printf(&b, "%s %s %d\n", sup.admin_ls.l[i].kind, sup.admin_ls.l[i].addr,
		    sup.admin_ls.l[i].port);
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

/* In the smtpd or admin child before exec: the kind of each listening socket, in descriptor
 * order from ROLE_FD_LISTEN0 ("smtp,submission,submissions") or ROLE_FD_ADMIN_LISTEN0
 * ("admin,metrics"). */
static void
sup_listener_env(const struct sup_lset *set)
{
	struct buf b;

	buf_init(&b, 64 * 1024);
	for (size_t i = 0; i < set->n; i++)
		buf_printf(&b, "%s%s", i ? "," : "", set->l[i].kind);
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
			sup_listener_env(&sup.smtp_ls);
		else if (which == CHILD_ADMIN)
			sup_listener_env(&sup.admin_ls);
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

static int
sup_socketpair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv);
}

/* Starts one role with a new supervisor channel. peer_fds[k] is its end of sup_links[k] (or -1
 * when the link is not its own); smtpd also gets the listening sockets, which the supervisor
 * keeps open for restarts. Closes the descriptors passed. */
static void
sup_start_one(enum sup_child which, const int peer_fds[SUP_N_LINKS])
{
	int sp[2], fds[64], nfds = 1;

	if (sup_socketpair(sp) < 0)
		fatal("socketpair: %m");
	for (int i = 0; i < 64; i++)
		fds[i] = -1;
	fds[0] = sp[1];
	for (size_t k = 0; k < SUP_N_LINKS; k++) {
		int slot = -1;

		if (sup_links[k].a == which)
			slot = sup_links[k].a_fd - ROLE_FD_SUPERVISOR;
		else if (sup_links[k].b == which)
			slot = sup_links[k].b_fd - ROLE_FD_SUPERVISOR;
		if (slot > 0) {
			fds[slot] = peer_fds[k];
			if (slot + 1 > nfds)
				nfds = slot + 1;
		}
	}
	if (which == CHILD_SMTPD) {
		nfds = ROLE_FD_LISTEN0 - ROLE_FD_SUPERVISOR;
		for (size_t i = 0; i < sup.smtp_ls.n && i < 59; i++)
			fds[nfds++] = sup.smtp_ls.l[i].fd;
	} else if (which == CHILD_ADMIN) {
		nfds = ROLE_FD_ADMIN_LISTEN0 - ROLE_FD_SUPERVISOR;
		for (size_t i = 0; i < sup.admin_ls.n && i < 59; i++)
			fds[nfds++] = sup.admin_ls.l[i].fd;
	}
	sup_spawn(which, fds, nfds);
	close(sp[1]);
	for (size_t k = 0; k < SUP_N_LINKS; k++)
		if (peer_fds[k] >= 0 && (sup_links[k].a == which || sup_links[k].b == which))
			close(peer_fds[k]);
	sup.hello[which] = 0;
	sup.chan[which] = ipc_chan_new(sup.loop, sp[0], child_names[which], sup_child_msg,
	    sup_child_closed, (void *)(intptr_t)which);
}

static void
sup_start_children(void)
{
	int ends[SUP_N_LINKS][2];
	/* the order of the first start: smtpd last, once its peers exist */
	static const enum sup_child order[] = { CHILD_QUEUE, CHILD_DELIVERY, CHILD_FILTER,
		CHILD_SIGNER, CHILD_SMTPD, CHILD_ADMIN };

	for (size_t k = 0; k < SUP_N_LINKS; k++)
		if (sup_socketpair(ends[k]) < 0)
			fatal("socketpair: %m");
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		int mine[SUP_N_LINKS];

		if (!sup.enabled[order[i]])
			continue;
		for (size_t k = 0; k < SUP_N_LINKS; k++)
			mine[k] = sup_links[k].a == order[i] ? ends[k][0] :
			    sup_links[k].b == order[i] ? ends[k][1] : -1;
		sup_start_one(order[i], mine);
	}
}

/* Restarts a role that died: new socketpairs for each of its links, the surviving peer's end
 * sent with IPC_PEER_RESET (ipc_send closes it once sent). */
static void
sup_restart(enum sup_child which)
{
	int mine[SUP_N_LINKS];

	ipc_chan_free(&sup.chan[which]);
	for (size_t k = 0; k < SUP_N_LINKS; k++) {
		const struct sup_link *l = &sup_links[k];
		enum sup_child peer;
		int sv[2];
		struct ipc_out o;

		mine[k] = -1;
		if (l->a != which && l->b != which)
			continue;
		if (sup_socketpair(sv) < 0) {
			log_crit("socketpair: %m; cannot restart role %s; stopping", child_names[which]);
			for (size_t j = 0; j < k; j++)
				if (mine[j] >= 0)
					close(mine[j]);
			sup_stop(1);
			return;
		}
		peer = l->a == which ? l->b : l->a;
		mine[k] = sv[0];
		if (sup.chan[peer] == NULL || sup.pids[peer] <= 0) {
			close(sv[1]);
			continue;
		}
		ipc_out_init(&o);
		ipc_put_str(&o, child_names[which]);
		ipc_send(sup.chan[peer], IPC_PEER_RESET, 0, sv[1], &o);
		ipc_out_free(&o);
	}
	sup_start_one(which, mine);
	if (!ev_is_active(&sup.hello_timer)) {
		ev_timer_set(&sup.hello_timer, SUP_HELLO_TIMEOUT, 0);
		ev_timer_start(sup.loop, &sup.hello_timer);
	}
}

/* 1 if which may be restarted now (and counts the restart), 0 when it died too often. */
static int
sup_restart_allowed(enum sup_child which)
{
	double now = ev_now(sup.loop);
	unsigned n = 0;

	for (unsigned i = 0; i < SUP_RESTART_MAX && i < sup.n_restarts[which]; i++)
		if (now - sup.restarts[which][i] < SUP_RESTART_WINDOW)
			n++;
	if (n >= SUP_RESTART_MAX)
		return 0;
	sup.restarts[which][sup.n_restarts[which]++ % SUP_RESTART_MAX] = now;
	return 1;
}

static void
sup_broadcast(enum ipc_type type)
{
	for (int i = 0; i < CHILD_COUNT; i++)
		if (sup.chan[i])
			ipc_send(sup.chan[i], (uint16_t)type, 0, -1, NULL);
}

/* ---- children ---- */

static void
sup_hello_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	for (int i = 0; i < CHILD_COUNT; i++)
		if (sup.enabled[i] && !sup.hello[i])
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
	case IPC_SETUP_PROGRESS: {
		char what[256];

		ipc_get_strbuf(msg, what, sizeof(what));
		ipc_msg_end(msg);
		for (char *c = what; *c; c++)
			if (*c < 0x20 || *c > 0x7e)
				*c = '?';
		log_info("role %s: set-up in progress: %s", child_names[which], what);
		if (!sup.hello[which] && ev_is_active(&sup.hello_timer)) {
			ev_timer_stop(sup.loop, &sup.hello_timer);
			ev_timer_set(&sup.hello_timer, SUP_HELLO_TIMEOUT, 0);
			ev_timer_start(sup.loop, &sup.hello_timer);
		}
		return;
	}
	case IPC_HELLO: {
		uint32_t v = ipc_get_u32(msg);
		char name[32];

		ipc_get_strbuf(msg, name, sizeof(name));
		ipc_msg_end(msg);
		if (v != IPC_VERSION || strcmp(name, child_names[which]) != 0)
			panic("role %s: bad hello (version %u, name %s)", child_names[which], v, name);
		sup.hello[which] = 1;
		for (int i = 0; i < CHILD_COUNT; i++)
			if (sup.enabled[i] && !sup.hello[i])
				return;
		ev_timer_stop(sup.loop, &sup.hello_timer);
		if (sup.ready) {
			log_info("role %s (pid %d) restarted and ready", child_names[which],
			    (int)sup.pids[which]);
			return;
		}
		sup.ready = 1;
		sup_write_listeners();
		log_info("mailguard ready: %zu listener(s), spool %s", sup.smtp_ls.n + sup.admin_ls.n,
		    sup.cfg->spool_dir);
		return;
	}
	case IPC_CTL_REPLY:
		sup_ctl_role_reply(msg);
		return;
	case IPC_CTL_REQUEST:
		if (which != CHILD_ADMIN)
			break;
		sup_admin_ctl(msg);
		return;
	case IPC_CONFIG_COMMIT:
		if (which != CHILD_ADMIN)
			break;
		sup_config_commit(msg);
		return;
	default:
		break;
	}
	panic("unexpected message type %u from %s", msg->type, child_names[which]);
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
		char how[64];
		const char *why = NULL;

		if (WIFSIGNALED(st))
			(void)str_fmt(how, sizeof(how), "killed by signal %d", WTERMSIG(st));
		else
			(void)str_fmt(how, sizeof(how), "exited with status %d", WEXITSTATUS(st));
		if (which == CHILD_QUEUE)
			why = "the queue is not restarted alone";
		else if (!sup.ready)
			why = "it died during start-up";
		if (why != NULL) {
			log_crit("role %s (pid %d) %s; stopping (%s)", child_names[which], w->rpid,
			    how, why);
			sup_stop(1);
		} else if (!sup_restart_allowed((enum sup_child)which)) {
			log_crit("role %s (pid %d) %s; restart limit reached (%d restarts within %.0f "
			    "s); stopping", child_names[which], w->rpid, how, SUP_RESTART_MAX,
			    SUP_RESTART_WINDOW);
			sup_stop(1);
		} else {
			log_crit("role %s (pid %d) %s; restarting it", child_names[which], w->rpid,
			    how);
			sup_restart((enum sup_child)which);
		}
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

int
sup_reload(const char **static_name_r)
{
	struct mg_config *ncfg = config_load(sup.config_dir, NULL);
	const char *name;

	if (static_name_r != NULL)
		*static_name_r = NULL;
	if (ncfg == NULL) {
		log_err("reload: configuration has errors; keeping the running one (run mailguard -n)");
		return -1;
	}
	if (config_static_changed(sup.cfg, ncfg, &name)) {
		log_warn("reload: setting %s changed but takes effect only after a restart", name);
		if (static_name_r != NULL)
			*static_name_r = name;	/* static: a settings table name */
	}
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
		(void)sup_reload(NULL);
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
	sup_ctl_open();
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
