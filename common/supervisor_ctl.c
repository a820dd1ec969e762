/* supervisor_ctl.c: the supervisor's control paths: the control socket (state_dir/control.sock, mode
 * 0600) for mailguardctl, one text line in, "status N" and text out; and the admin role's
 * IPC_CTL_REQUEST (the same commands) and IPC_CONFIG_COMMIT (validated, written by cfg_commit,
 * then a reload). reload, status and config ... run here; queue ... and dkim ... are relayed to
 * their roles, dmarc ... and tls-reports ... to the filter (with their first word). Supervisor
 * process, loop thread. Socket input is capped (CTL_LINE_MAX, one command a connection,
 * CTL_CLIENTS_MAX clients); admin frames are decoded strictly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/supervisor_int.h"
#include "config/edit.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/xalloc.h"

static void
ctl_reply(struct ctl_client *cl, int status, const char *text)
{
	if (cl->conn == NULL) {
		/* a request of the admin role: the answer goes back over its channel */
		struct ipc_out o;

		cl->active = 0;
		if (sup.chan[CHILD_ADMIN] == NULL)
			return;
		ipc_out_init(&o);
		ipc_put_u32(&o, (uint32_t)status);
		ipc_put_str(&o, text);
		ipc_send(sup.chan[CHILD_ADMIN], IPC_CTL_REPLY, cl->admin_id, -1, &o);
		ipc_out_free(&o);
		return;
	}
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


/* Hands a mailguardctl command (argv[1..]) to a role as IPC_CTL_REQUEST; its IPC_CTL_REPLY
 * answers the client. */
static void
ctl_forward(struct ctl_client *cl, enum sup_child role_id, int argc, char **argv)
{
	struct ipc_out o;

	cl->id = ++sup.ctl_next_id;
	ipc_out_init(&o);
	ipc_put_u32(&o, (uint32_t)(argc - 1));
	for (int i = 1; i < argc; i++)
		ipc_put_str(&o, argv[i]);
	ipc_send(sup.chan[role_id], IPC_CTL_REQUEST, cl->id, -1, &o);
	ipc_out_free(&o);
}

/* "config ...": edits of the configuration files (config/edit_ctl.c), then a reload. */
static void
ctl_config(struct ctl_client *cl, int argc, char **argv)
{
	struct buf out;
	int status;

	buf_init(&out, 1 << 20);
	status = config_ctl_command(sup.config_dir, argc, argv, &out);
	if (status == 0 && sup_reload(NULL) < 0) {
		status = 1;
		buf_append_str(&out, "written, but the reload failed: see the log\n");
	}
	ctl_reply(cl, status, out.data ? out.data : "");
	buf_free(&out);
}

/* One control command, from the control socket (split line) or the admin role (its argv). */
static void
ctl_command_argv(struct ctl_client *cl, int argc, char **argv)
{
	if (strcmp(argv[0], "reload") == 0 && argc == 1) {
		if (sup_reload(NULL) < 0)
			ctl_reply(cl, 1, "error: configuration has errors; see the log (or mailguard -n)\n");
		else
			ctl_reply(cl, 0, "reloaded\n");
		return;
	}
	if (strcmp(argv[0], "status") == 0 && argc == 1) {
		char txt[512];

		snprintf(txt, sizeof(txt), "ready %s\nsmtpd pid %d\nqueue pid %d\ndelivery pid %d\n"
		    "filter pid %d\nsigner pid %d\nadmin pid %d\n", sup.ready ? "yes" : "no",
		    (int)sup.pids[CHILD_SMTPD], (int)sup.pids[CHILD_QUEUE],
		    (int)sup.pids[CHILD_DELIVERY], (int)sup.pids[CHILD_FILTER],
		    (int)sup.pids[CHILD_SIGNER], (int)sup.pids[CHILD_ADMIN]);
		ctl_reply(cl, 0, txt);
		return;
	}
	/* queue commands go to the queue role; dkim ones to the signer (issue E: only it touches
	 * keys) */
	if (strcmp(argv[0], "queue") == 0 && sup.chan[CHILD_QUEUE] != NULL) {
		ctl_forward(cl, CHILD_QUEUE, argc, argv);
		return;
	}
	/* "quarantine ..." is the queue's "queue quarantine ..." (issue G: the queue owns it) */
	if (strcmp(argv[0], "quarantine") == 0 && sup.chan[CHILD_QUEUE] != NULL && argc < 16) {
		char *qargv[17] = { "queue" };

		for (int i = 0; i < argc; i++)
			qargv[i + 1] = argv[i];
		ctl_forward(cl, CHILD_QUEUE, argc + 1, qargv);
		return;
	}
	/* incoming DMARC and TLS reports live in the filter's database (issue I): the filter
	 * gets the whole line, first word included, since it serves both families */
	if ((strcmp(argv[0], "dmarc") == 0 || strcmp(argv[0], "tls-reports") == 0) &&
	    sup.chan[CHILD_FILTER] != NULL && argc <= 16) {
		char *fargv[17] = { "filter" };

		for (int i = 0; i < argc; i++)
			fargv[i + 1] = argv[i];
		ctl_forward(cl, CHILD_FILTER, argc + 1, fargv);
		return;
	}
	if (strcmp(argv[0], "dkim") == 0 && sup.chan[CHILD_SIGNER] != NULL) {
		ctl_forward(cl, CHILD_SIGNER, argc, argv);
		return;
	}
	if (strcmp(argv[0], "config") == 0) {
		ctl_config(cl, argc, argv);
		return;
	}
	ctl_reply(cl, 2, "error: unknown command (try: reload, status, queue list|show|flush|"
	    "delete|hold|release|rates|tlsrpt|compact, quarantine list|show|release|delete|confirm-spam|digest-now, dkim "
	    "status|dns|keygen|rotate|import, dmarc domains|summary|reports|show|rebuild, tls-reports "
	    "summary|reports, config ...)\n");
}

static void
ctl_command(struct ctl_client *cl, char *line)
{
	char *argv[16];
	int argc = str_split(line, " \t", argv, 16);

	if (argc <= 0) {
		ctl_reply(cl, 2, "error: empty or overlong command\n");
		return;
	}
	ctl_command_argv(cl, argc, argv);
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

void
sup_ctl_open(void)
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

void
sup_ctl_role_reply(struct ipc_msg *msg)
{
	uint32_t status = ipc_get_u32(msg);
	char *text = ipc_get_str(msg);

	ipc_msg_end(msg);
	for (int i = 0; i < CTL_CLIENTS_MAX + CTL_ADMIN_MAX; i++)
		if (sup.ctl[i].active && sup.ctl[i].id == msg->id) {
			ctl_reply(&sup.ctl[i], (int)status, text ? text : "");
			break;
		}
	xfree(text);
}

/* ---- requests of the admin role ---- */

/* IPC_CTL_REQUEST from the admin role: the same command set as the control socket. */
void
sup_admin_ctl(struct ipc_msg *msg)
{
	uint32_t argc = ipc_get_u32(msg);
	char *argv[16];
	struct ctl_client *cl = NULL;
	double now = ev_now(sup.loop);

	if (argc == 0 || argc > 64)
		panic("admin: IPC_CTL_REQUEST with %u arguments", argc);
	for (uint32_t i = 0; i < argc; i++) {
		char *a = ipc_get_str(msg);

		if (a == NULL)
			panic("admin: IPC_CTL_REQUEST with an absent argument");
		if (i < 16)
			argv[i] = a;
		else
			xfree(a);
	}
	ipc_msg_end(msg);
	for (int i = CTL_CLIENTS_MAX; i < CTL_CLIENTS_MAX + CTL_ADMIN_MAX; i++)
		if (!sup.ctl[i].active || now - sup.ctl[i].since > CTL_ADMIN_STALE) {
			cl = &sup.ctl[i];
			break;
		}
	if (cl == NULL) {
		struct ctl_client busy = { .conn = NULL, .admin_id = msg->id };

		ctl_reply(&busy, 1, "error: too many control requests in flight\n");
	} else {
		memset(cl, 0, sizeof(*cl));
		cl->active = 1;
		cl->admin_id = msg->id;
		cl->since = now;
		cl->id = UINT32_MAX;
		if (argc > 16)
			ctl_reply(cl, 2, "error: too many arguments\n");
		else
			ctl_command_argv(cl, (int)argc, argv);
	}
	for (uint32_t i = 0; i < argc && i < 16; i++)
		xfree(argv[i]);
}

static void
sup_commit_reply(uint32_t id, int status, const char *errors)
{
	struct ipc_out o;

	if (sup.chan[CHILD_ADMIN] == NULL)
		return;
	ipc_out_init(&o);
	ipc_put_u32(&o, (uint32_t)status);
	ipc_put_str(&o, errors);
	ipc_send(sup.chan[CHILD_ADMIN], IPC_CONFIG_COMMIT_RESULT, id, -1, &o);
	ipc_out_free(&o);
}

/* IPC_CONFIG_COMMIT from the admin role: validate and write the change set (cfg_commit), then
 * reload as for SIGHUP. The supervisor alone writes configuration files. */
void
sup_config_commit(struct ipc_msg *msg)
{
	uint32_t n = ipc_get_u32(msg);
	struct cfg_change ch[IPC_CONFIG_COMMIT_MAX];
	char *strs[IPC_CONFIG_COMMIT_MAX * 3];
	struct buf errors;
	const char *static_name = NULL;
	int status = 0;

	if (n == 0 || n > IPC_CONFIG_COMMIT_MAX)
		panic("admin: IPC_CONFIG_COMMIT with %u changes", n);
	memset(ch, 0, sizeof(ch));
	for (uint32_t i = 0; i < n; i++) {
		strs[3 * i] = ipc_get_str(msg);
		strs[3 * i + 1] = ipc_get_str(msg);
		strs[3 * i + 2] = ipc_get_str(msg);
		if (strs[3 * i] == NULL)
			panic("admin: IPC_CONFIG_COMMIT change without a file name");
		ch[i].rel = strs[3 * i];
		ch[i].text = strs[3 * i + 1];
		ch[i].len = ch[i].text ? strlen(ch[i].text) : 0;
		ch[i].expect_version = strs[3 * i + 2];
	}
	ipc_msg_end(msg);
	buf_init(&errors, 256 * 1024);
	if (cfg_commit(sup.config_dir, ch, n, &errors) < 0) {
		status = 1;
	} else if (sup_reload(&static_name) < 0) {
		/* cfg_commit validated with the same loader: only a file changed meanwhile by hand */
		status = 1;
		buf_append_str(&errors, "written, but the reload failed: see the log\n");
	} else if (static_name != NULL) {
		status = 2;
		buf_printf(&errors, "%s changed: it takes effect after a restart of mailguard\n",
		    static_name);
	}
	log_info("admin: configuration change of %u file(s): status %d", n, status);
	sup_commit_reply(msg->id, status, errors.data ? errors.data : "");
	buf_free(&errors);
	for (uint32_t i = 0; i < 3 * n; i++)
		xfree(strs[i]);
}
