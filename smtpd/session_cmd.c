/* session_cmd.c: SMTP command handlers, dispatched through one table {verb, handler, flags}.
 * smtpd role, main thread. Input is a parsed struct smtp_cmd (smtpd/smtp_cmd_parse.c); this file
 * enforces sequencing (RFC 5321 §4.1.4), the relay decision (shared/DESIGN.md §1), recipient and
 * size limits, SMTPUTF8 rules (RFC 6531 §3.5) and pipelining rules (RFC 2920, RFC 3030). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/envelope.h"
#include "common/limits.h"
#include "config/config.h"
#include "lib/log.h"
#include "lib/sanitize.h"
#include "lib/str.h"
#include "lib/xalloc.h"
#include "smtpd/session.h"

#define CMD_NEEDS_HELO  0x1	/* 503 before HELO/EHLO */
#define CMD_NEEDS_MAIL  0x2	/* 503 without a MAIL transaction */
#define CMD_SYNC        0x4	/* must be the last in a pipelined group (RFC 2920 §3.1) */

struct cmd_entry {
	enum smtp_verb verb;
	void (*handler)(struct session *s, struct smtp_cmd *cmd);
	unsigned flags;
};

static const char *
host(void)
{
	return smtpd_cfg()->hostname;
}

void
session_greet(struct session *s)
{
	session_reply(s, "220 %s %s", host(), smtpd_cfg()->smtpd_banner);
}

static void
cmd_helo(struct session *s, struct smtp_cmd *cmd)
{
	session_reset_tx(s);
	str_lcpy(s->helo, cmd->arg, sizeof(s->helo));
	s->has_helo = 1;
	s->esmtp = cmd->verb == SMTP_VERB_EHLO;
	if (!s->esmtp) {
		session_reply(s, "250 %s", host());
		return;
	}
	session_reply(s, "250-%s", host());
	session_reply(s, "250-PIPELINING");
	session_reply(s, "250-SIZE %lld", smtpd_cfg()->max_message_size);
	if (!s->tls && smtpd_tls_ctx() != NULL)
		session_reply(s, "250-STARTTLS");
	/* RFC 4954 §4 and RFC 8314 §3: passwords only under TLS, so AUTH is listed only then. */
	if (s->tls && smtpd_auth_enabled())
		session_reply(s, "250-AUTH PLAIN LOGIN");
	session_reply(s, "250-ENHANCEDSTATUSCODES");
	session_reply(s, "250-8BITMIME");
	session_reply(s, "250-DSN");
	session_reply(s, "250-SMTPUTF8");
	session_reply(s, "250 CHUNKING");
}

static void
cmd_mail(struct session *s, struct smtp_cmd *cmd)
{
	const struct mg_config *cfg = smtpd_cfg();

	if (s->in_tx) {
		session_reply(s, "503 5.5.1 Error: nested MAIL command");
		s->errors++;
		return;
	}
	/* RFC 6409 §4.3 and RFC 8314: the submission ports take mail from authenticated users only. */
	if (s->kind != LISTENER_SMTP && s->auth_user == NULL) {
		session_reply(s, "530 5.7.0 Authentication required");
		s->errors++;
		return;
	}
	if (!s->esmtp && (cmd->has_size || cmd->body || cmd->smtputf8 || cmd->ret || cmd->has_envid)) {
		session_reply(s, "555 5.5.4 MAIL parameters need EHLO");
		s->errors++;
		return;
	}
	if (cmd->body == ENV_BODY_BINARYMIME) {
		session_reply(s, "555 5.5.4 BODY=BINARYMIME is not supported");
		s->errors++;
		return;
	}
	if (cmd->path_is_utf8 && !cmd->smtputf8) {
		session_reply(s, "553 5.6.7 Non-ASCII sender address needs SMTPUTF8");
		s->errors++;
		return;
	}
	if (cmd->has_size && cmd->size > (unsigned long long)cfg->max_message_size) {
		session_reply(s, "552 5.3.4 Message size exceeds fixed limit of %lld bytes",
		    cfg->max_message_size);
		return;
	}
	envelope_clear(&s->env);
	envelope_init(&s->env);
	s->env.sender = xstrdup(cmd->path);
	s->env.helo = xstrdup(s->helo);
	s->env.client_addr = xstrdup(s->peer_addr);
	s->env.client_name = xstrdup("unknown");
	memcpy(s->env.session_id, s->sid, sizeof(s->env.session_id));
	s->env.body = cmd->body == ENV_BODY_8BITMIME ? ENV_BODY_8BITMIME : ENV_BODY_7BIT;
	s->env.smtputf8 = cmd->smtputf8;
	s->env.ret = (enum envelope_ret)cmd->ret;
	s->env.envid = cmd->has_envid ? xstrdup(cmd->envid) : NULL;
	s->env.direction = ENV_INBOUND;
	s->in_tx = 1;
	s->policy[0] = '\0';
	if (s->auth_user == NULL)
		smtpd_filter_mail(s);	/* authenticated mail skips the inbound filter */
	session_reply(s, "250 2.1.0 Ok");
}

/* The policy group of a recipient: what decides the filter's verdict for it. Inbound recipients
 * share a group when their domains have the same thresholds and disabled layers and no lists of
 * their own; outbound recipients form one group. */
static void
rcpt_policy_key(const struct mg_config *cfg, const struct mg_domain *dom, char *key, size_t size)
{
	(void)cfg;
	if (dom == NULL) {
		str_lcpy(key, "outbound", size);
		return;
	}
	snprintf(key, size, "in %.6g %.6g %.6g %x %s", dom->spam_reject, dom->spam_quarantine,
	    dom->greylist, dom->disable_layers,
	    dom->allow.n || dom->block.n ? dom->name : "-");
}

/* Outbound mail (the recipient is not protected; the client is trusted or authenticated): the
 * sender must be one of ours (outbound_sender_check), and the null sender, which only our own
 * systems send (bounces, RFC 5321 §4.5.5), comes from mynetworks only. Answers and returns 0
 * when the sender may not relay. */
static int
rcpt_sender_ok(struct session *s, char clean[SANITIZE_MAX + 4])
{
	const struct mg_config *cfg = smtpd_cfg();
	char lower[SMTP_DOMAIN_MAX + 1];

	if (s->env.sender[0] == '\0') {
		if (s->is_mynetwork)
			return 1;
		session_reply(s, "553 5.7.1 <>: Sender address rejected: null sender not allowed "
		    "for outbound mail");
		return 0;
	}
	if (!cfg->outbound_sender_check)
		return 1;
	str_lcpy(lower, envelope_addr_domain(s->env.sender), sizeof(lower));
	str_lower(lower);
	if (config_domain_find(cfg, lower) != NULL)
		return 1;
	session_reply(s, "553 5.7.1 <%s>: Sender address rejected: not a protected domain",
	    sanitize(clean, s->env.sender, strlen(s->env.sender)));
	return 0;
}

static void
cmd_rcpt(struct session *s, struct smtp_cmd *cmd)
{
	const struct mg_config *cfg = smtpd_cfg();
	char addr[SMTP_PATH_MAX + 64], clean[SANITIZE_MAX + 4];
	const struct mg_domain *dom = NULL;
	const char *domain;

	s->rcpt_seen = 1;
	/* RFC 3461 §4: NOTIFY and ORCPT exist only where EHLO offered DSN. */
	if (!s->esmtp && (cmd->notify || cmd->orcpt[0])) {
		session_reply(s, "555 5.5.4 RCPT parameters need EHLO");
		s->errors++;
		return;
	}
	if (s->env.n_rcpts >= (size_t)cfg->max_recipients) {
		session_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if (cmd->path_is_utf8 && !s->env.smtputf8) {
		session_reply(s, "553 5.6.7 Non-ASCII recipient address needs SMTPUTF8 on MAIL");
		s->errors++;
		return;
	}
	if (cmd->is_postmaster)
		snprintf(addr, sizeof(addr), "postmaster@%s", cfg->hostname);
	else
		str_lcpy(addr, cmd->path, sizeof(addr));
	domain = envelope_addr_domain(addr);
	{
		char lower[SMTP_DOMAIN_MAX + 1];

		str_lcpy(lower, domain, sizeof(lower));
		str_lower(lower);
		dom = config_domain_find(cfg, lower);
	}
	if (dom == NULL && !s->is_mynetwork && s->auth_user == NULL && !cmd->is_postmaster) {
		session_reply(s, "554 5.7.1 <%s>: Relay access denied",
		    sanitize(clean, addr, strlen(addr)));
		s->errors++;
		return;
	}
	{
		char key[sizeof(s->policy)];

		rcpt_policy_key(cfg, dom, key, sizeof(key));
		/* Bare postmaster (RFC 5321 §4.5.1) must always be accepted; it joins any group. */
		if (cmd->is_postmaster && s->env.n_rcpts > 0)
			str_lcpy(key, s->policy, sizeof(key));
		if (s->env.n_rcpts > 0 && strcmp(key, s->policy) != 0) {
			/* One end-of-data reply covers every recipient, so recipients whose filter
			 * policy differs go in another transaction (RFC 5321 §3.3: the client retries
			 * a 452 recipient later). */
			session_reply(s, "452 4.5.3 <%s>: Recipient has a different filtering policy; "
			    "send it in a separate transaction", sanitize(clean, addr, strlen(addr)));
			return;
		}
		str_lcpy(s->policy, key, sizeof(s->policy));
	}
	if (dom == NULL && !cmd->is_postmaster && !rcpt_sender_ok(s, clean))
		return;
	if (s->env.n_rcpts == 0)
		s->env.direction = dom ? ENV_INBOUND : ENV_OUTBOUND;
	envelope_add_rcpt(&s->env, addr, cmd->orcpt[0] ? cmd->orcpt : NULL, cmd->notify);
	session_reply(s, "250 2.1.5 Ok");
}

static int
session_data_allowed(struct session *s)
{
	/* RFC 5321 §4.1.1.4 allows 503 or 554 here: 503 when the client skipped RCPT (a sequence
	 * error), 554 when every recipient it gave was refused (what a pipelining client needs). */
	if (s->env.n_rcpts == 0 && !s->rcpt_seen) {
		session_reply(s, "503 5.5.1 Error: need RCPT command");
		s->errors++;
		return 0;
	}
	if (s->env.n_rcpts == 0) {
		session_reply(s, "554 5.5.1 Error: no valid recipients");
		return 0;
	}
	return 1;
}

static void
cmd_data(struct session *s, struct smtp_cmd *cmd)
{
	(void)cmd;
	if (s->used_bdat) {
		session_reply(s, "503 5.5.1 Error: DATA after BDAT");
		s->errors++;
		return;
	}
	if (!session_data_allowed(s))
		return;
	/* RFC 2920 §3.1: DATA ends a pipelined group; bytes after it are the client not waiting
	 * for 354, which is how SMTP smuggling and spam bots behave. */
	if (evconn_in(s->conn)->len > 0) {
		session_close_with(s, "554 5.5.0 %s Error: improper pipelining after DATA", host());
		return;
	}
	smtpd_queue_create(s);
}

static void
cmd_bdat(struct session *s, struct smtp_cmd *cmd)
{
	if (!s->in_tx || s->env.n_rcpts == 0) {
		/* RFC 3030 §2: the chunk must still be read; it is dropped. */
		session_bdat_begin(s, cmd->chunk_size, cmd->last);
		s->bdat_discard = 1;
		s->body_flags |= BODY_SEQUENCE;
		return;
	}
	if (!s->used_bdat) {
		s->used_bdat = 1;
		session_bdat_begin(s, cmd->chunk_size, cmd->last);
		smtpd_queue_create(s);
		return;
	}
	session_bdat_begin(s, cmd->chunk_size, cmd->last);
}

static void
cmd_rset(struct session *s, struct smtp_cmd *cmd)
{
	(void)cmd;
	session_reset_tx(s);
	session_reply(s, "250 2.0.0 Ok");
}

static void
cmd_noop(struct session *s, struct smtp_cmd *cmd)
{
	(void)cmd;
	session_reply(s, "250 2.0.0 Ok");
}

static void
cmd_quit(struct session *s, struct smtp_cmd *cmd)
{
	(void)cmd;
	session_close_with(s, "221 2.0.0 %s Bye", host());
}

static void
cmd_vrfy(struct session *s, struct smtp_cmd *cmd)
{
	(void)cmd;
	session_reply(s, "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
}

static void
cmd_expn(struct session *s, struct smtp_cmd *cmd)
{
	(void)cmd;
	session_reply(s, "502 5.5.1 EXPN not available");
}

static void
cmd_help(struct session *s, struct smtp_cmd *cmd)
{
	(void)cmd;
	session_reply(s, "214-2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP");
	session_reply(s, "214 2.0.0 STARTTLS; see RFC 5321");
}

static void
cmd_starttls(struct session *s, struct smtp_cmd *cmd)
{
	struct buf *in = evconn_in(s->conn);

	(void)cmd;
	if (s->tls) {
		session_reply(s, "503 5.5.1 Error: TLS already active");
		s->errors++;
		return;
	}
	if (smtpd_tls_ctx() == NULL) {
		session_reply(s, "454 4.7.0 TLS not available due to local problem");
		return;
	}
	/* CVE-2011-0411: plaintext pipelined after STARTTLS must not be run inside TLS. */
	if (in->len > 0) {
		log_warn("%s client=%s pipelined %zu bytes after STARTTLS; discarded", s->sid,
		    s->peer_addr, in->len);
		buf_reset(in);
	}
	session_reply(s, "220 2.0.0 Ready to start TLS");
	session_enter_state(s, SS_TLS);
	evconn_notify_drained(s->conn);
}

/* XCLIENT ADDR=ip [NAME=..] [HELO=..] (the Postfix extension, RFC-less): only from
 * xclient_networks, outside a transaction; the session continues as if the given client had
 * connected (new greeting), so tests and trusted proxies can present real client addresses. */
static void
cmd_xclient(struct session *s, struct smtp_cmd *cmd)
{
	const struct mg_config *cfg = smtpd_cfg();
	char buf[SMTP_CMD_LINE_MAX + 1], *attrs[8];
	struct sockaddr_storage ss;
	int n;

	if (!cidr_list_match(&cfg->xclient_networks, (struct sockaddr *)&s->peer)) {
		session_reply(s, "550 5.7.0 XCLIENT not allowed from this client");
		s->errors++;
		return;
	}
	if (s->in_tx) {
		session_reply(s, "503 5.5.1 Error: XCLIENT inside a transaction");
		return;
	}
	memset(&ss, 0, sizeof(ss));
	str_lcpy(buf, cmd->arg, sizeof(buf));
	n = str_split(buf, " ", attrs, 8);
	for (int i = 0; i < n; i++) {
		if (strncasecmp(attrs[i], "ADDR=", 5) == 0) {
			const char *a = attrs[i] + 5;
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

			if (strncasecmp(a, "IPV6:", 5) == 0)
				a += 5;
			if (inet_pton(AF_INET, a, &sin->sin_addr) == 1)
				sin->sin_family = AF_INET;
			else if (inet_pton(AF_INET6, a, &sin6->sin6_addr) == 1)
				sin6->sin6_family = AF_INET6;
		} else if (strncasecmp(attrs[i], "HELO=", 5) == 0)
			str_lcpy(s->helo, attrs[i] + 5, sizeof(s->helo));
		else if (strncasecmp(attrs[i], "NAME=", 5) != 0) {
			session_reply(s, "501 5.5.4 Bad XCLIENT attribute");
			return;
		}
	}
	if (ss.ss_family == 0) {
		session_reply(s, "501 5.5.4 XCLIENT needs ADDR=");
		return;
	}
	smtpd_filter_end(s);
	session_auth_free(s);	/* a new client: any AUTH was the proxy's, not its */
	session_set_client(s, (struct sockaddr *)&ss);
	s->xclient = 1;
	smtpd_filter_connect(s);
	session_greet(s);
}

static const struct cmd_entry cmd_table[] = {
	{ SMTP_VERB_HELO, cmd_helo, CMD_SYNC },
	{ SMTP_VERB_EHLO, cmd_helo, CMD_SYNC },
	{ SMTP_VERB_MAIL, cmd_mail, CMD_NEEDS_HELO },
	{ SMTP_VERB_RCPT, cmd_rcpt, CMD_NEEDS_HELO | CMD_NEEDS_MAIL },
	{ SMTP_VERB_DATA, cmd_data, CMD_NEEDS_HELO | CMD_NEEDS_MAIL | CMD_SYNC },
	{ SMTP_VERB_BDAT, cmd_bdat, 0 },
	{ SMTP_VERB_RSET, cmd_rset, 0 },
	{ SMTP_VERB_NOOP, cmd_noop, CMD_SYNC },
	{ SMTP_VERB_QUIT, cmd_quit, CMD_SYNC },
	{ SMTP_VERB_VRFY, cmd_vrfy, CMD_SYNC },
	{ SMTP_VERB_EXPN, cmd_expn, CMD_SYNC },
	{ SMTP_VERB_HELP, cmd_help, CMD_SYNC },
	{ SMTP_VERB_STARTTLS, cmd_starttls, CMD_NEEDS_HELO | CMD_SYNC },
	/* AUTH lines never get here: session.c hands them to auth.c (longer lines, secrets). */
	{ SMTP_VERB_XCLIENT, cmd_xclient, CMD_SYNC },
};

void
session_command(struct session *s, struct slice line)
{
	struct smtp_cmd cmd;
	struct smtp_parse_error err;
	const struct cmd_entry *e = NULL;

	if (smtp_cmd_parse(line, &cmd, &err) < 0) {
		session_reply(s, "%d %s %s", err.code, err.enh, err.text);
		s->errors++;
		return;
	}
	for (size_t i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++)
		if (cmd_table[i].verb == cmd.verb) {
			e = &cmd_table[i];
			break;
		}
	if (e == NULL) {
		session_reply(s, "502 5.5.1 Error: command not implemented");
		s->errors++;
		return;
	}
	if (cmd.verb == SMTP_VERB_BDAT && !s->esmtp && s->has_helo) {
		/* CHUNKING is advertised only after EHLO; still read the chunk (RFC 3030 §2). */
		session_bdat_begin(s, cmd.chunk_size, cmd.last);
		s->bdat_discard = 1;
		s->body_flags |= BODY_SEQUENCE;
		return;
	}
	if ((e->flags & CMD_NEEDS_HELO) && !s->has_helo) {
		session_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		s->errors++;
		return;
	}
	if ((e->flags & CMD_NEEDS_MAIL) && !s->in_tx) {
		session_reply(s, "503 5.5.1 Error: need MAIL command");
		s->errors++;
		return;
	}
	/* Without PIPELINING (HELO sessions), a client must wait for each reply. */
	if (!s->esmtp && s->has_helo && evconn_in(s->conn)->len > 0 && cmd.verb != SMTP_VERB_QUIT) {
		session_close_with(s, "554 5.5.0 %s Error: command pipelining without PIPELINING "
		    "(EHLO) is not permitted", host());
		return;
	}
	e->handler(s, &cmd);
}
