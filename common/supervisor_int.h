#ifndef COMMON_SUPERVISOR_INT_H
#define COMMON_SUPERVISOR_INT_H
/* supervisor_int.h: state shared by the supervisor's files (common/supervisor.c: roles,
 * listeners, reload, shutdown; common/supervisor_ctl.c: the control socket and the admin role's
 * requests). Supervisor process only, its loop thread. */
#include <ev.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/ipc_msg.h"
#include "config/config.h"
#include "lib/evconn.h"
#include "lib/ipc.h"

#define SUP_HELLO_TIMEOUT 30.0
#define SUP_STOP_TIMEOUT 15.0
#define CTL_LINE_MAX 4096
#define CTL_CLIENTS_MAX 32
#define CTL_ADMIN_MAX 64		/* control requests of the admin role in flight */
#define CTL_ADMIN_STALE 120.0		/* an unanswered admin request's slot is reused after */
#define SUP_RESTART_MAX 5		/* restarts of one role ... */
#define SUP_RESTART_WINDOW 60.0		/* ... within this many seconds; one more stops all */

enum sup_child { CHILD_SMTPD, CHILD_QUEUE, CHILD_DELIVERY, CHILD_FILTER, CHILD_SIGNER,
	CHILD_ADMIN, CHILD_COUNT };
extern const char *const child_names[CHILD_COUNT];


struct sup_listener {
	int fd;
	char addr[128];
	int port;
	const char *kind;	/* "smtp", "submission", "submissions" (smtpd), "admin", "metrics"
				 * (admin role); also the word in state_dir/listeners */
};

struct sup_lset {
	struct sup_listener *l;
	size_t n;
};

/* A control request in flight: from the control socket (conn set) or from the admin role
 * (conn NULL; admin_id is the admin's request id, the answer goes back as IPC_CTL_REPLY). */
struct ctl_client {
	struct evconn *conn;
	uint32_t id;
	int active;
	uint32_t admin_id;
	double since;		/* ev_now() at creation: admin slots are reclaimed after a while */
};

struct sup_state {
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
	struct sup_lset smtp_ls;	/* passed to smtpd */
	struct sup_lset admin_ls;	/* passed to admin */
	int enabled[CHILD_COUNT];	/* roles this configuration runs (admin: a console or metrics
					 * listener is configured) */
	ev_timer hello_timer, stop_timer;
	double restarts[CHILD_COUNT][SUP_RESTART_MAX];	/* ev_now() of the last restarts */
	unsigned n_restarts[CHILD_COUNT];
	ev_signal sig_term, sig_int, sig_hup;
	int ctl_fd;
	ev_io ctl_w;
	struct ctl_client ctl[CTL_CLIENTS_MAX + CTL_ADMIN_MAX];
	uint32_t ctl_next_id;
};
extern struct sup_state sup;

/* common/supervisor.c */
/* Re-validates and, when valid, tells every role to reload. *static_name_r (when not NULL) is
 * set to the name of a changed setting that needs a restart, or NULL. 0 or -1. */
int sup_reload(const char **static_name_r);

/* common/supervisor_ctl.c */
/* Opens state_dir/control.sock (mode 0600) for mailguardctl. */
void sup_ctl_open(void);
/* IPC_CTL_REPLY of queue or signer to a relayed command. */
void sup_ctl_role_reply(struct ipc_msg *msg);
/* IPC_CTL_REQUEST and IPC_CONFIG_COMMIT of the admin role. */
void sup_admin_ctl(struct ipc_msg *msg);
void sup_config_commit(struct ipc_msg *msg);

#endif
