/* mailguardctl.c: the operator's command-line client. It reads the configuration only to find
 * state_dir, connects to the supervisor's control socket (state_dir/control.sock, mode 0600),
 * sends one command line and prints the reply; the exit status is the reply's status.
 * Trusts the daemon's reply only as text (printed, not interpreted beyond the status line). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin/ctl_admin.h"
#include "admin/ctl_auth.h"
#include "admin/ctl_remote.h"
#include "admin/ctl_train.h"
#include "config/config.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/str.h"

#define CTL_LINE_MAX 4096

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: mailguardctl [-c config_dir | -S control_socket] COMMAND\n"
	    "  -S PATH  talk to this control socket (state_dir/control.sock) without reading the\n"
	    "           configuration, e.g. to run reload while a configuration file has errors\n"
	    "commands:\n"
	    "  reload                 re-read the configuration (like SIGHUP)\n"
	    "  status                 show the roles' state\n"
	    "  queue list             list queued messages (like mailq)\n"
	    "  queue show QID         envelope, recipients and headers of one message\n"
	    "  queue flush [QID]      retry every deferred message (or one) now\n"
	    "  queue delete QID|ALL   remove messages (no bounce)\n"
	    "  queue hold QID|ALL     keep messages from delivery\n"
	    "  queue release QID|ALL  release held messages\n"
	    "  queue rates            outbound_rate token buckets of the sender domains\n"
	    "  queue tlsrpt           TLS-RPT session counts of the current report period\n"
	    "  queue compact          retire old journal segments now (survivors to queue/)\n"
	    "  quarantine list|search [domain= rcpt= from= subject= min= max= since= until=\n"
	    "                         limit= offset=] [--json]  quarantined mail, newest first\n"
	    "  quarantine show QID [--json]  verdict, headers and a text preview\n"
	    "  quarantine release QID... [by=NAME]  deliver quarantined messages\n"
	    "  quarantine delete QID... [by=NAME]   remove quarantined messages\n"
	    "  quarantine confirm-spam QID... [by=NAME]  learn as spam (Bayes), then delete\n"
	    "  quarantine digest-now  send the users' quarantine digests now\n"
	    "  auth hash              print an argon2id hash of a password (read from the tty or stdin)\n"
	    "  auth add USER          set USER's password in auth_users_file (atomic rewrite)\n"
	    "  admin add|passwd USER [--password-stdin]  console administrator (password from\n"
	    "                         the terminal, or the first line of stdin)\n"
	    "  admin remove USER      remove a console administrator (not the last one)\n"
	    "  admin list             console administrators\n"
	    "  admin token NAME       create a JSON API token (printed once)\n"
	    "  admin token-remove NAME  revoke an API token; admin tokens lists their names\n"
	    "  dkim status [DOMAIN]   DKIM keys, rotation dates, DNS advice and alerts\n"
	    "  dkim dns DOMAIN        the DKIM TXT records to publish (zone-file lines)\n"
	    "  dkim keygen DOMAIN     first key(s) for the domain's dkim_algorithm\n"
	    "  dkim rotate DOMAIN --now  start a key rotation now (switch once DNS has the key)\n"
	    "  dkim import DOMAIN SELECTOR PATH  adopt a PEM private key (mode 0600, owned by\n"
	    "                         the daemon's user)\n"
	    "  dkim clock SECONDS|real  test_mode only: set the signer's clock for rotation tests\n"
	    "  dmarc domains [PERIOD] [--json]  incoming DMARC reports per protected domain\n"
	    "  dmarc summary DOMAIN [PERIOD] [--json]  totals, daily pass/fail, reporters,\n"
	    "                         failing and top source IPs with reverse DNS\n"
	    "  dmarc reports DOMAIN [PERIOD] [--limit N] [--json]  stored reports, newest first\n"
	    "  dmarc show DOMAIN IDENTITY [--json]  one report with its rows\n"
	    "  dmarc rebuild [DOMAIN] store the archived reports (state_dir/dmarc-archive) again\n"
	    "                         PERIOD: --days N (1..366, default 30, ending today) or\n"
	    "                         --since YYYY-MM-DD [--until YYYY-MM-DD] (<= 3660 days, UTC)\n"
	    "  tls-reports summary|reports DOMAIN [PERIOD] [--limit N] [--json]  TLS-RPT reports\n"
	    "  config get FILE KEY    a setting as written in FILE (mailguard.conf,\n"
	    "                         domains.d/DOMAIN.conf, lists/global.allow, lists/DOMAIN.block)\n"
	    "  config set FILE KEY VALUE...  change or add a setting (comments and order kept)\n"
	    "  config unset FILE KEY  remove a setting (back to its default)\n"
	    "  config list-add|list-remove FILE ENTRY  edit an allow/block list\n"
	    "  config show FILE       print the file and its version\n"
	    "  config domain-add DOMAIN TRANSPORT  protect a new domain\n"
	    "  config domain-remove DOMAIN  remove a domain with its lists\n"
	    "                         (config edits are validated like mailguard -n, written\n"
	    "                         atomically and reloaded)\n"
	    "  train --spam|--ham PATH...  teach the Bayes layer (PATH: message, mbox or directory)\n"
	    "  train-neural --spam PATH... --ham PATH... [--epochs N] [--seed N]\n"
	    "                         train the neural layer afresh on labelled mail\n"
	    "remote mode, through the console's JSON API with an API token (admin token NAME):\n"
	    "  mailguardctl --url https://HOST:PORT --token-file FILE [--ca-file FILE | --insecure]\n"
	    "      [--json] COMMAND\n"
	    "  domains list | show DOMAIN | set DOMAIN KEY VALUE... | unset DOMAIN KEY\n"
	    "  domains add DOMAIN TRANSPORT | remove DOMAIN\n"
	    "  lists show global|DOMAIN [allow|block]\n"
	    "  lists add|remove global|DOMAIN allow|block ENTRY\n"
	    "  queue list [STATE] | show QID | flush [QID] | hold|release|delete QID|ALL\n"
	    "  dkim status [DOMAIN] | dns DOMAIN | keygen DOMAIN | rotate DOMAIN --now\n"
	    "  stats                  totals and per-domain counters since the daemon started\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *dir = "/etc/mailguard", *sock = NULL;
	struct mg_config *cfg = NULL;
	struct sockaddr_un sun;
	struct buf line, reply;
	int ch, fd, status = 1;
	char *nl;

	if (ctl_remote_wanted(argc, argv))	/* --url: through the console's JSON API */
		return ctl_remote_main(argc, argv);
	/* "+": options only before COMMAND, so its own arguments may start with '-' (rotate --now) */
	while ((ch = getopt(argc, argv, "+c:S:")) != -1) {
		if (ch == 'c')
			dir = optarg;
		else if (ch == 'S')
			sock = optarg;
		else
			usage();
	}
	if (optind >= argc)
		usage();
	log_init("mailguardctl", 1, LOG_LVL_WARN);
	if (strcmp(argv[optind], "auth") == 0)	/* local: no daemon involved */
		return ctl_auth_main(dir, argc - optind, argv + optind);
	if (strcmp(argv[optind], "admin") == 0)	/* local: the files the console reads */
		return ctl_admin_main(dir, argc - optind, argv + optind);
	if (strcmp(argv[optind], "train") == 0 || strcmp(argv[optind], "train-neural") == 0)
		return ctl_train_main(dir, argc - optind, argv + optind);	/* local */
	if (sock == NULL && (cfg = config_load(dir, stderr)) == NULL) {
		fprintf(stderr, "mailguardctl: configuration in %s has errors (the daemon keeps "
		    "running the last valid one; -S STATE_DIR/control.sock reaches it anyway)\n", dir);
		return 1;
	}
	buf_init(&line, CTL_LINE_MAX);
	for (int i = optind; i < argc; i++) {
		if (strpbrk(argv[i], " \t\r\n") != NULL || argv[i][0] == '\0') {
			fprintf(stderr, "mailguardctl: argument '%s' must be one word\n", argv[i]);
			return 2;
		}
		if ((i > optind && buf_append_char(&line, ' ') < 0) || buf_append_str(&line, argv[i]) < 0) {
			fprintf(stderr, "mailguardctl: command too long\n");
			return 2;
		}
	}
	buf_append_char(&line, '\n');
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((sock != NULL && str_fmt(sun.sun_path, sizeof(sun.sun_path), "%s", sock) < 0) ||
	    (sock == NULL &&
	    str_fmt(sun.sun_path, sizeof(sun.sun_path), "%s/control.sock", cfg->state_dir) < 0)) {
		fprintf(stderr, "mailguardctl: state_dir path too long\n");
		return 1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "mailguardctl: cannot connect to %s: %s (is mailguard running?)\n",
		    sun.sun_path, strerror(errno));
		return 1;
	}
	if (write(fd, line.data, line.len) != (ssize_t)line.len) {
		fprintf(stderr, "mailguardctl: write: %s\n", strerror(errno));
		return 1;
	}
	shutdown(fd, SHUT_WR);
	buf_init(&reply, 256u * 1024 * 1024);
	for (;;) {
		ssize_t n;

		if (buf_reserve(&reply, 65536) < 0)
			break;
		n = read(fd, reply.data + reply.len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		reply.len += (size_t)n;
		reply.data[reply.len] = '\0';
	}
	close(fd);
	if (reply.len == 0 || strncmp(reply.data, "status ", 7) != 0 ||
	    (nl = strchr(reply.data, '\n')) == NULL) {
		fprintf(stderr, "mailguardctl: no valid reply from the daemon\n");
		buf_free(&reply);
		buf_free(&line);
		config_free(&cfg);
		return 1;
	}
	*nl = '\0';
	status = (int)strtol(reply.data + 7, NULL, 10);
	fputs(nl + 1, status == 0 ? stdout : stderr);
	buf_free(&reply);
	buf_free(&line);
	config_free(&cfg);
	return status;
}
