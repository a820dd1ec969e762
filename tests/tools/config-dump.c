/* config-dump: test driver for config/ (golden tests, by hand): "config-dump check DIR" loads
 * DIR like mailguard -n (errors on stderr, exit 1 on any); "config-dump print DIR" also prints the
 * effective settings like mailguard -P. Runs as a plain tool; trusts only its arguments. */
#include <stdio.h>
#include <string.h>

#include "config/config.h"

int
main(int argc, char **argv)
{
	struct mg_config *cfg;

	if (argc != 3 || (strcmp(argv[1], "check") != 0 && strcmp(argv[1], "print") != 0)) {
		fprintf(stderr, "usage: config-dump check|print DIR\n");
		return 2;
	}
	fflush(stdout);
	if ((cfg = config_load(argv[2], stderr)) == NULL)
		return 1;
	if (strcmp(argv[1], "print") == 0)
		config_print(cfg, stdout);
	config_free(&cfg);
	return 0;
}
