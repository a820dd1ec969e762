#ifndef COMMON_ROLE_H
#define COMMON_ROLE_H
/* What every role process shares after exec: its libev loop, its current configuration and the
 * channel to the supervisor (RELOAD, SHUTDOWN, HELLO). Main loop thread only. */
#include <ev.h>
#include "config/config.h"
#include "lib/ipc.h"

struct role {
	const char *name;
	const char *config_dir;
	struct ev_loop *loop;
	struct mg_config *cfg;		/* current; replaced on reload */
	struct ipc_chan *sup;
	/* Called after a successful reload with the previous config (freed after the call). */
	void (*on_reload)(struct mg_config *old);
	/* Called on IPC_SHUTDOWN or when the supervisor goes away. */
	void (*on_shutdown)(void);
	/* IPC_PEER_RESET: the peer role `peer` was restarted; fd is the new channel (owned by
	 * the callee). NULL = this role has no restartable peer (a reset is then a bug). */
	void (*on_peer_reset)(const char *peer, int fd);
	/* Extra supervisor messages (IPC_CTL_REQUEST for queue); NULL = none expected. */
	ipc_msg_cb *on_sup_msg;
};

extern struct role role;

/* Sets up logging, loads the configuration (fatal on errors), creates the loop and the
 * supervisor channel on ROLE_FD_SUPERVISOR. */
void role_init(const char *name, const char *config_dir, int foreground);
/* Tells the supervisor this role is ready (IPC_HELLO). */
void role_ready(void);
/* During long set-up work (before role_ready), called often: at most every 5 s it tells the
 * supervisor that set-up is progressing (IPC_SETUP_PROGRESS, flushed at once since the loop
 * does not run yet), which extends the set-up deadline. what: printf format for the log. */
void role_setup_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runs the loop until role_exit(). */
void role_run(void);
/* Leaves the loop and exits the process with status, after flushing every open IPC channel
 * (at most about a second each), so answers already queued reach their peers. */
void role_exit(int status) __attribute__((noreturn));
/* Drops privileges when running as root (to cfg->user); no-op otherwise. */
void role_drop_privileges(void);

int smtpd_main(void);
int queue_main(void);
int delivery_main(void);
int filter_main(void);
int signer_main(void);
int admin_main(void);
int supervisor_main(const char *config_dir, int foreground);

#endif
