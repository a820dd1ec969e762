/* fuzz_config: libFuzzer target for the config text parsers (no file system access). The first
 * byte picks the parser: global mailguard.conf, a domains.d file, or a list file; the rest is
 * the file's text. Any input must be parsed or rejected without crash, leak or overread, and a
 * text that parses must print (config_print) without crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text;
	struct mg_config *cfg;
	struct mg_domain d;
	struct mg_list l;
	FILE *devnull;

	if (size < 1)
		return 0;
	text = (const char *)data + 1;
	size--;
	devnull = fopen("/dev/null", "w");
	switch (data[0] % 3) {
	case 0:
		if ((cfg = config_parse_text("fuzz.conf", text, size, devnull)) != NULL) {
			config_print(cfg, devnull);
			config_free(&cfg);
		}
		break;
	case 1:
		(void)config_parse_domain_text("example.org", "example.org.conf", text, size, &d,
		    devnull);
		config_domain_clear(&d);
		break;
	default:
		if (config_parse_list_text("fuzz.block", text, size, &l, devnull) == 0)
			(void)config_list_match(&l, "user@sub.example.org", NULL);
		config_list_clear(&l);
		break;
	}
	if (devnull != NULL)
		fclose(devnull);
	return 0;
}
