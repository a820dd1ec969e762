/* main.c: the mailguard binary's entry point: option parsing and role dispatch.
 * Runs as the supervisor (default), or as a role when re-executed with -x ROLE by the supervisor.
 * -n checks the configuration, -P prints effective settings; both exit without starting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/role.h"
#include "config/config.h"
#include "lib/log.h"

#define DEFAULT_CONFIG_DIR "/etc/mailguard"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: mailguard [-d] [-n] [-P] [-c config_dir]\n"
	    "  -c DIR  configuration directory (default " DEFAULT_CONFIG_DIR ")\n"
	    "  -d      stay in the foreground and log to stderr\n"
	    "  -n      check the configuration and exit\n"
	    "  -P      print the effective settings (with defaults) and exit\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *dir = DEFAULT_CONFIG_DIR, *xrole = NULL;
	int foreground = 0, check = 0, print = 0, ch;
	struct mg_config *cfg;

	while ((ch = getopt(argc, argv, "c:dnPx:")) != -1) {
		switch (ch) {
		case 'c': dir = optarg; break;
		case 'd': foreground = 1; break;
		case 'n': check = 1; break;
		case 'P': print = 1; break;
		case 'x': xrole = optarg; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (check || print) {
		log_init("mailguard", 1, LOG_LVL_WARN);
		if ((cfg = config_load(dir, stderr)) == NULL)
			return 1;
		if (print)
			config_print(cfg, stdout);
		config_free(&cfg);
		return 0;
	}
	if (xrole == NULL)
		return supervisor_main(dir, foreground);
	role_init(xrole, dir, foreground);
	if (strcmp(xrole, "smtpd") == 0)
		return smtpd_main();
	if (strcmp(xrole, "queue") == 0)
		return queue_main();
	if (strcmp(xrole, "delivery") == 0)
		return delivery_main();
	if (strcmp(xrole, "filter") == 0)
		return filter_main();
	if (strcmp(xrole, "signer") == 0)
		return signer_main();
	if (strcmp(xrole, "admin") == 0)
		return admin_main();
	fatal("unknown role %s", xrole);
}
