#ifndef FILTER_FILTER_CTL_H
#define FILTER_FILTER_CTL_H
/* Control commands answered by the filter role (filter_ctl.c): the supervisor relays
 * `mailguardctl dmarc ...` and `mailguardctl tls-reports ...` lines as IPC_CTL_REQUEST (argv
 * with its first word); each runs as a pool job (workq) and is answered with IPC_CTL_REPLY
 * (u32 exit status, str text) from the job's done callback on the loop. */
#include "lib/ipc.h"

/* Output of one command, capped below the IPC frame limit (lib/ipc.c, 16 MiB). */
#define FILTER_CTL_OUT_MAX (16u * 1024 * 1024 - 64u * 1024)
#define FILTER_CTL_ARGS_MAX 16

/* role.on_sup_msg of the filter (loop thread): IPC_CTL_REQUEST, decoded strictly (1..16
 * arguments, none absent; anything else is a bug of the supervisor and panics). */
void filter_ctl_msg(struct ipc_chan *chan, struct ipc_msg *msg, void *arg);

#endif
