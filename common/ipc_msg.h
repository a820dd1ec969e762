#ifndef COMMON_IPC_MSG_H
#define COMMON_IPC_MSG_H
/* The catalog of IPC messages between MailGuard roles (framing in lib/ipc.h; doc/ipc.md describes
 * each exchange). Bump IPC_VERSION whenever a message or its payload changes. Payload layouts are
 * written next to each type as the sequence of ipc_put_* calls; readers mirror them exactly. */

#define IPC_VERSION 5

enum ipc_type {
	/* role -> supervisor: u32 IPC_VERSION, str role name. Sent once set-up is complete. */
	IPC_HELLO = 1,
	/* supervisor -> role: re-read the configuration (already validated by the supervisor). */
	IPC_RELOAD,
	/* supervisor -> role: finish in-flight work quickly and exit 0. */
	IPC_SHUTDOWN,
	/* supervisor -> role, id = 0: str peer role name; fd = this role's end of a new channel
	 * to that peer. The peer died and was restarted: the role drops the old channel (failing
	 * what waited on it with temporary errors) and talks to the new process on fd. */
	IPC_PEER_RESET,
	/* role -> supervisor, id = 0: str what (printable, for the log). Set-up work that takes
	 * long with much data (the queue recovering a large spool or quarantine) still makes
	 * progress: the supervisor gives the role another SUP_HELLO_TIMEOUT. (IPC_VERSION 5) */
	IPC_SETUP_PROGRESS,

	/* smtpd -> queue, id = request: ask for a new message file. (empty) */
	IPC_QUEUE_CREATE = 20,
	/* queue -> smtpd, id = request: str qid; fd = the message file, open for writing. */
	IPC_QUEUE_CREATE_OK,
	/* queue -> smtpd, id = request: u32 smtp code, str enhanced status, str text. */
	IPC_QUEUE_CREATE_FAIL,
	/* smtpd -> queue, id = request: str qid, str envelope (envelope_write text). */
	IPC_QUEUE_COMMIT,
	/* queue -> smtpd, id = request: str qid. Sent only once the message is durable. */
	IPC_QUEUE_COMMIT_OK,
	/* queue -> smtpd, id = request: u32 code, str enhanced status, str text. */
	IPC_QUEUE_COMMIT_FAIL,
	/* smtpd -> queue, id = 0: str qid. The transaction was abandoned; remove the file. */
	IPC_QUEUE_ABORT,

	/* queue -> delivery, id = job: str qid, str envelope text, str host, u32 port, u32 use_mx,
	 * u32 n, n x u32 recipient index; fd = the message body, read-only. */
	IPC_DELIVER = 40,
	/* delivery -> queue, id = job: u32 n, n x (u32 index, u32 enum envelope_rcpt_state,
	 * str status, str diag), str relay (host[addr]:port or NULL), str tls (summary or NULL). */
	IPC_DELIVER_RESULT,
	/* delivery -> queue, id = 0: one TLS-RPT (RFC 8460) session outcome, for the daily report
	 * of the policy domain (the recipient domain). str policy domain, str policy type
	 * ("sts", "tlsa" or "no-policy-found"), str policy strings ('\n'-separated: the MTA-STS
	 * policy lines or the TLSA records in presentation form; "" for no-policy-found), str MX
	 * host ("" when unknown), str receiving IP ("" when no connection), str sending IP,
	 * u32 success (1 = TLS negotiated and the policy held), str result type (RFC 8460 §4.3
	 * name, e.g. "certificate-expired", "tlsa-invalid", "sts-webpki-invalid", "validation-failure";
	 * "" on success), str failure reason (free text, "" on success), str rua (the policy
	 * domain's published `_smtp._tls` TXT rua URIs, ',' separated as published; "" when none:
	 * delivery looks the record up and caches it by TTL; the queue role has no network).
	 * Sent once per SMTP connection attempt made under a policy, and once per connection
	 * without one. */
	IPC_TLSRPT_RESULT,
	/* queue -> delivery, id = post: str url (an https: rua URI, at most IPC_TLSRPT_URL_MAX
	 * octets), bytes body (the gzipped JSON report, at most IPC_TLSRPT_POST_MAX octets).
	 * Delivery POSTs it (RFC 8460 §5.4, Content-Type application/tlsrpt+gzip) and answers
	 * with IPC_TLSRPT_POST_RESULT; the queue retries. */
	IPC_TLSRPT_POST,
	/* delivery -> queue, id = post: u32 status (0 = accepted (2xx), 1 = temporary failure
	 * (network, TLS, DNS, 408/429/5xx), 2 = permanent failure (other replies)), str detail. */
	IPC_TLSRPT_POST_RESULT,

	/* smtpd -> filter, id = 0: str sid, str client address, u32 FILTER_CLIENT_* flags. A
	 * session began: the filter starts connect-time work (RBL/DNSWL lookups). */
	IPC_FILTER_CONNECT = 80,
	/* smtpd -> filter, id = 0: str sid, str helo (may be empty), str sender ("" = null sender).
	 * MAIL was accepted: the filter forgets the previous transaction and starts SPF. */
	IPC_FILTER_MAIL,
	/* smtpd -> filter, id = request: str sid, str envelope text (envelope_write; qid set,
	 * direction, recipients all of one policy group); fd = the message, read-only. */
	IPC_FILTER_CHECK,
	/* filter -> smtpd, id = request: u32 enum filter_action, str enhanced status, str reply
	 * text (no code), str score ("%.2f"), str symbols ("NAME(score),..."), str headers (header
	 * fields to prepend, one per line, unfolded, '\n'-separated, no CR), str log detail, str
	 * consumed recipients ('\n' after each; issue I, dmarc_rua_keep = no: their incoming
	 * reports were stored and synced, smtpd records them delivered; "" = none). */
	IPC_FILTER_VERDICT,
	/* smtpd -> filter, id = 0: str sid. The session ended: drop its state. */
	IPC_FILTER_END,

	/* supervisor -> queue or signer, id = request: u32 argc, argc x str. A mailguardctl
	 * command. Also admin -> supervisor: a control command handled exactly like a mailguardctl
	 * control-socket line (reload, status, queue ..., dkim ..., config ...). */
	IPC_CTL_REQUEST = 60,
	/* queue/signer -> supervisor and supervisor -> admin, id = request: u32 exit status, str
	 * output text. */
	IPC_CTL_REPLY,
	/* admin -> supervisor, id = request: u32 n (1..64), n x (str rel, str text or absent =
	 * delete the file, str expect_version or absent = no check). A configuration change set:
	 * the supervisor validates and writes it (config/edit.h cfg_commit), reloads every role as for
	 * SIGHUP when it was written, and answers IPC_CONFIG_COMMIT_RESULT. */
	IPC_CONFIG_COMMIT = 62,
	/* supervisor -> admin, id = request: u32 status (0 applied, 1 invalid or conflicting: nothing
	 * written, 2 written but a setting that needs a restart changed), str errors. */
	IPC_CONFIG_COMMIT_RESULT,

	/* smtpd -> signer, id = request: str sid, str envelope text (envelope_write; direction
	 * outbound, sender of a protected domain with dkim_sign = yes); fd = the message as it will
	 * be delivered (our Received: first), read-only. (issue E) */
	IPC_SIGN_REQUEST = 100,
	/* signer -> smtpd, id = request: u32 status (0 = signed, 1 = temporary failure), str
	 * headers (the DKIM-Signature field(s), one unfolded line each, '\n'-separated, no CR; ""
	 * on failure), str detail (reason for the log; no key material). */
	IPC_SIGN_RESULT,
};

/* IPC_TLSRPT_POST limits */
#define IPC_TLSRPT_URL_MAX 512
#define IPC_TLSRPT_POST_MAX (1u << 20)

/* IPC_FILTER_CONNECT flags */
#define FILTER_CLIENT_MYNETWORKS 0x1	/* trusted network: outbound checks only */

/* IPC_FILTER_VERDICT actions, in increasing severity. */
enum filter_action {
	FILTER_DELIVER = 0,	/* 250; prepend the headers */
	FILTER_QUARANTINE,	/* 250; store in quarantine with the verdict */
	FILTER_GREYLIST,	/* 451 4.7.1 */
	FILTER_TEMPFAIL,	/* 451 4.3.x / 4.7.x: filter busy, DNS temporary failure */
	FILTER_REJECT,		/* 550 5.7.1 */
};

/* Fixed descriptor numbers in each role after exec (set by the supervisor). */
#define ROLE_FD_SUPERVISOR 3
#define ROLE_FD_PEER1 4		/* smtpd: queue; queue: smtpd; delivery: queue; filter: smtpd;
				 * signer: smtpd */
#define ROLE_FD_PEER2 5		/* queue: delivery; smtpd: filter; signer: queue */
#define ROLE_FD_PEER3 6		/* smtpd: signer (issue E); queue: signer (reports, digests) */
#define ROLE_FD_LISTEN0 7	/* smtpd: first listening socket */
#define ROLE_FD_ADMIN_LISTEN0 4	/* admin: first listening socket (kinds "admin" / "metrics" in
				 * MAILGUARD_LISTENERS); the admin role has no peer channels */
#define IPC_CONFIG_COMMIT_MAX 64	/* changes in one IPC_CONFIG_COMMIT */

#endif
