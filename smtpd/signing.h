#ifndef SMTPD_SIGNING_H
#define SMTPD_SIGNING_H
/* Internal to smtpd/: DKIM signing of outbound mail through the signer role (issue E), between
 * the end of DATA/BDAT (after header_rewrite) and the queue commit. Main loop thread only. */
struct session;

/* Opens the channel to the signer (ROLE_FD_PEER3). Called once at start. */
void smtpd_signer_open(void);
/* The signer was restarted (IPC_PEER_RESET): requests still waiting get 451 4.3.0, the old
 * channel is dropped, fd (owned from now on) is the new one. */
void smtpd_signer_reset(int fd);
/* At the end of a complete, acceptable message: if it must be signed (outbound, sender of a
 * protected domain with dkim_sign = yes), sends it to the signer and returns 1 (s waits in
 * SS_WAIT/SW_SIGN, or was already answered 451 4.3.0 if the signer cannot be asked; the body
 * descriptor is consumed either way); returns 0 when no signature is needed (nothing done). */
int smtpd_sign_start(struct session *s);
/* s has waited smtpd_timeout for the signer (a stuck signer): answers 451 4.3.0; a late
 * result finds the session no longer waiting and is dropped. */
void smtpd_sign_timeout(struct session *s);

#endif
