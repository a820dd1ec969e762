/* fuzz_config_edit: libFuzzer target for the configuration line editor (config/edit.c). The
 * first byte picks the file (mailguard.conf, a domains.d file, a list file); the text up to the
 * first NUL is the file; the rest is a script of edits, one a line: "s KEYINDEX VALUE" (cfg_set
 * of config_settings[KEYINDEX % n]), "m KEYINDEX V1|V2" (cfg_set_multi), "u KEYINDEX" (cfg_unset),
 * "a ENTRY" / "r ENTRY" (list add / remove). Must never crash, leak or overread, and:
 *   - an unedited file renders byte for byte as read;
 *   - a successful set reads back with cfg_get, also after re-reading the rendered text;
 *   - a successful list add is found again by list remove of the same entry. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/edit.h"
#include "config/edit_int.h"
#include "config/settings.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const files[] = { "mailguard.conf", "domains.d/example.org.conf",
	"lists/example.org.block" };

/* After a successful set of key to value: f and a re-read of its text both give value back. */
static void
check_readback(const struct cfg_file *f, const char *key, const char *value)
{
	const struct buf *t = cfg_file_text(f);
	const char *got = cfg_get(f, key), *err;
	struct cfg_file *again;

	if (got == NULL || strcmp(got, value) != 0)
		abort();
	again = cfg_file_from_text(cfg_file_rel(f), t->data ? t->data : "", t->len, 1, &err);
	if (again == NULL)
		return;	/* over a limit after the edit: nothing to compare */
	got = cfg_get(again, key);
	if (got == NULL || strcmp(got, value) != 0)
		abort();
	cfg_file_free(&again);
}

static void
run_op(struct cfg_file *f, char *line)
{
	const struct setting *s;
	const char *err, *vals[2];
	char *arg = strchr(line, ' '), *val, *bar;
	struct cfg_file *probe;

	if (arg == NULL)
		return;
	*arg++ = '\0';
	s = &config_settings[strtoul(arg, &val, 10) % config_n_settings];
	if (*val == ' ')
		val++;
	switch (line[0]) {
	case 's':
		if (cfg_set(f, s->name, val, &err) == 0)
			check_readback(f, s->name, val);
		break;
	case 'm':
		vals[0] = val;
		vals[1] = "";
		if ((bar = strchr(val, '|')) != NULL) {
			*bar = '\0';
			vals[1] = bar + 1;
		}
		if (cfg_set_multi(f, s->name, vals, bar ? 2 : 1, &err) == 0)
			check_readback(f, s->name, vals[bar ? 1 : 0]);	/* the last line wins */
		break;
	case 'u':
		(void)cfg_unset(f, s->name);
		if (cfg_get(f, s->name) != NULL)
			abort();
		break;
	case 'a':
		if (cfg_list_add(f, arg, &err) == 0) {
			/* a probe copy: remove must find what add accepted */
			const struct buf *t = cfg_file_text(f);

			probe = cfg_file_from_text(cfg_file_rel(f), t->data ? t->data : "", t->len, 1,
			    &err);
			if (probe != NULL && cfg_list_remove(probe, arg) < 1)
				abort();
			cfg_file_free(&probe);
		}
		break;
	case 'r':
		(void)cfg_list_remove(f, arg);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text, *err, **entries;
	const uint8_t *nul;
	struct cfg_file *f;
	size_t tlen;
	char *script, *line, *next;

	if (size < 1)
		return 0;
	text = (const char *)data + 1;
	size--;
	nul = memchr(text, '\0', size);
	tlen = nul ? (size_t)((const char *)nul - text) : size;
	if ((f = cfg_file_from_text(files[data[0] % 3], text, tlen, 1, &err)) == NULL)
		return 0;
	if (cfg_file_text(f)->len != tlen || memcmp(cfg_file_text(f)->data ? cfg_file_text(f)->data :
	    "", text, tlen) != 0)
		abort();	/* unedited: byte for byte */
	(void)cfg_list_entries(f, &entries);
	if (nul != NULL) {
		script = xstrndup((const char *)nul + 1, size - tlen - 1);
		for (line = script; line != NULL && *line != '\0'; line = next) {
			if ((next = strchr(line, '\n')) != NULL)
				*next++ = '\0';
			run_op(f, line);
		}
		xfree(script);
	}
	cfg_file_free(&f);
	return 0;
}
