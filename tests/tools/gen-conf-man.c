/* gen-conf-man: prints the mailguard.conf(5) manual page generated from the settings table.
 * Regenerate the checked-in page with: build/tests/tools/gen-conf-man > doc/mailguard.conf.5
 * (tests/unit/config/test_man.c fails while the two differ). No input. */
#include <stdio.h>

#include "config/config.h"

int
main(void)
{
	config_print_man(stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}
