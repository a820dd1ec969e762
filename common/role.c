/* role.c: common set-up of every role process after the supervisor re-executes the binary:
 * logging, configuration, the libev loop, and the supervisor channel (HELLO/RELOAD/SHUTDOWN).
 * IPC_PEER_RESET hands a role the new channel to a restarted peer (role.on_peer_reset).
 * Runs in every role. Trusts the supervisor channel after strict decoding. */
#include "common/role.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/ipc_msg.h"
#include "lib/log.h"
#include "lib/privdrop.h"

struct role role;

static void
role_sup_msg(struct ipc_chan *chan, struct ipc_msg *msg, void *arg)
{
	struct mg_config *ncfg, *old;

	switch (msg->type) {
	case IPC_RELOAD:
		ipc_msg_end(msg);
		ncfg = config_load(role.config_dir, NULL);
		if (ncfg == NULL) {
			log_err("reload: configuration has errors; keeping the running one");
			return;
		}
		old = role.cfg;
		role.cfg = ncfg;
		{
			int lvl = log_level_from_name(ncfg->log_level);
			if (lvl >= 0)
				log_set_level((enum log_level)lvl);
		}
		if (role.on_reload)
			role.on_reload(old);
		config_free(&old);
		log_info("configuration reloaded");
		break;
	case IPC_PEER_RESET: {
		char peer[32];

		ipc_get_strbuf(msg, peer, sizeof(peer));
		ipc_msg_end(msg);
		if (msg->fd < 0 || role.on_peer_reset == NULL)
			panic("IPC_PEER_RESET for %s without a descriptor or a handler", peer);
		log_info("peer %s restarted: switching to the new channel", peer);
		role.on_peer_reset(peer, msg->fd);
		break;
	}
	case IPC_SHUTDOWN:
		ipc_msg_end(msg);
		if (role.on_shutdown)
			role.on_shutdown();
		else
			role_exit(0);
		break;
	default:
		if (role.on_sup_msg) {
			role.on_sup_msg(chan, msg, arg);
			break;
		}
		panic("unexpected message type %u from supervisor", msg->type);
	}
}

static void
role_sup_closed(struct ipc_chan *chan, void *arg)
{
	(void)chan;
	(void)arg;
	/* The supervisor is gone: stop quietly (it logged the root cause). */
	if (role.on_shutdown)
		role.on_shutdown();
	role_exit(0);
}

void
role_init(const char *name, const char *config_dir, int foreground)
{
	int lvl;

	role.name = name;
	role.config_dir = config_dir;
	log_init(name, foreground, LOG_LVL_INFO);
	role.cfg = config_load(config_dir, stderr);
	if (role.cfg == NULL)
		fatal("configuration in %s has errors", config_dir);
	if ((lvl = log_level_from_name(role.cfg->log_level)) >= 0)
		log_set_level((enum log_level)lvl);
	{
		/* thousands of sessions (smtpd) and open message bodies (queue) need descriptors */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	role.loop = ev_default_loop(EVFLAG_AUTO);
	role.sup = ipc_chan_new(role.loop, ROLE_FD_SUPERVISOR, "supervisor", role_sup_msg,
	    role_sup_closed, NULL);
}

void
role_ready(void)
{
	struct ipc_out o;

	ipc_out_init(&o);
	ipc_put_u32(&o, IPC_VERSION);
	ipc_put_str(&o, role.name);
	ipc_send(role.sup, IPC_HELLO, 0, -1, &o);
	ipc_out_free(&o);
}

void
role_setup_progress(const char *fmt, ...)
{
	static double last;
	struct ipc_out o;
	struct timespec ts;
	char what[256];
	va_list ap;
	double now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	if (role.sup == NULL || (last > 0 && now - last < 5.0))
		return;
	last = now;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	ipc_out_init(&o);
	ipc_put_str(&o, what);
	ipc_send(role.sup, IPC_SETUP_PROGRESS, 0, -1, &o);
	ipc_out_free(&o);
	(void)ipc_flush(role.sup);
}

void
role_run(void)
{
	ev_run(role.loop, 0);
}

void
role_exit(int status)
{
	ipc_flush_all(1000);
	exit(status);
}

void
role_drop_privileges(void)
{
	const char *err;

	if (geteuid() != 0)
		return;
	if (privdrop(role.cfg->user, NULL, &err) < 0)
		fatal("cannot drop privileges to %s: %s", role.cfg->user, err);
	log_info("running as user %s", role.cfg->user);
}
