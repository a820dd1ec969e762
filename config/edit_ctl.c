/* edit_ctl.c: `mailguardctl config ...`, the scriptable face of config/edit.h. Each command
 * opens the file it names, edits it with the line editor (comments and order preserved) and
 * commits through cfg_commit, which validates the whole configuration with the loader first and
 * refuses a file that changed on disk meanwhile. Runs in the supervisor on the control socket
 * (which only the daemon's user can reach); arguments are still checked: file names against
 * the allowed forms, keys against the settings table, values by the loader's parsers. */
#include "config/edit.h"

#include <string.h>

#include "config/edit_int.h"
#include "config/settings.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define CTL_VALUE_MAX 4096

struct ctl_cmd {
	const char *name;
	int min_args, max_args;	/* after "config NAME" */
	int (*fn)(const char *dir, int argc, char **argv, struct buf *out);
	const char *usage;
};

/* Commits f's text (checked against the version it was read at). */
static int
commit_file(const char *dir, struct cfg_file *f, struct buf *out)
{
	const struct buf *t = cfg_file_text(f);
	struct cfg_change c = { cfg_file_rel(f), t->data ? t->data : "", t->len,
		cfg_file_version(f) };

	return cfg_commit(dir, &c, 1, out) < 0 ? 1 : 0;
}

static struct cfg_file *
open_or_report(const char *dir, const char *rel, struct buf *out)
{
	const char *err;
	struct cfg_file *f = cfg_file_open(dir, rel, &err);

	if (f == NULL)
		buf_printf(out, "%.200s: %s\n", rel, err);
	return f;
}

static int
ctl_get(const char *dir, int argc, char **argv, struct buf *out)
{
	struct cfg_file *f = open_or_report(dir, argv[0], out);
	const struct setting *s;
	const char *v;
	int st = 1;

	(void)argc;
	if (f == NULL)
		return 1;
	s = config_setting_find(argv[1], strncmp(argv[0], "domains.d/", 10) == 0 ?
	    SCOPE_DOMAIN : SCOPE_GLOBAL);
	if ((v = cfg_get(f, argv[1])) != NULL) {
		buf_printf(out, "%s\n", v);
		st = 0;
	} else if (s == NULL) {
		buf_printf(out, "unknown setting '%.64s' in %s\n", argv[1], argv[0]);
	} else {
		buf_printf(out, "%s is not set in %s (the default applies: '%s')\n", argv[1],
		    argv[0], s->def ? s->def : "");
	}
	cfg_file_free(&f);
	return st;
}

static int
ctl_set(const char *dir, int argc, char **argv, struct buf *out)
{
	struct cfg_file *f;
	struct buf v;
	const char *err;
	int st = 1;

	buf_init(&v, CTL_VALUE_MAX);
	for (int i = 2; i < argc; i++)
		if ((i > 2 && buf_append_char(&v, ' ') < 0) || buf_append_str(&v, argv[i]) < 0) {
			buf_printf(out, "value too long\n");
			buf_free(&v);
			return 1;
		}
	if ((f = open_or_report(dir, argv[0], out)) != NULL) {
		if (cfg_set(f, argv[1], v.data ? v.data : "", &err) < 0)
			buf_printf(out, "%s: %s\n", argv[0], err);
		else if ((st = commit_file(dir, f, out)) == 0)
			buf_printf(out, "%s: %s = %s\n", argv[0], argv[1], v.data ? v.data : "");
		cfg_file_free(&f);
	}
	buf_free(&v);
	return st;
}

/* Removes the key's lines, even for a key the table does not know (to repair a typo). */
static int
ctl_unset(const char *dir, int argc, char **argv, struct buf *out)
{
	struct cfg_file *f = open_or_report(dir, argv[0], out);
	const char *err;
	int st = 1;

	(void)argc;
	if (f == NULL)
		return 1;
	if (cfg_rel_kind(argv[0]) == CFG_KIND_LIST)
		buf_printf(out, "%s: expected a settings file, found a list file\n", argv[0]);
	else if (cfg_unset(f, argv[1]) == 1) {
		if ((st = commit_file(dir, f, out)) == 0)
			buf_printf(out, "%s: %s unset\n", argv[0], argv[1]);
	} else if (cfg_set_multi(f, argv[1], NULL, 0, &err) < 0) {
		buf_printf(out, "%s: %s\n", argv[0], err);	/* unknown key, not in the file */
	} else {
		buf_printf(out, "%s: %s was not set\n", argv[0], argv[1]);
		st = 0;
	}
	cfg_file_free(&f);
	return st;
}

static int
ctl_list(const char *dir, int argc, char **argv, struct buf *out, int add)
{
	struct cfg_file *f = open_or_report(dir, argv[0], out);
	const char *err;
	int st = 1, n = 0;

	(void)argc;
	if (f == NULL)
		return 1;
	if (cfg_rel_kind(argv[0]) != CFG_KIND_LIST)
		buf_printf(out, "%s: expected a list file (lists/...)\n", argv[0]);
	else if (add && cfg_list_add(f, argv[1], &err) < 0)
		buf_printf(out, "%s: %s\n", argv[0], err);
	else if (!add && (n = cfg_list_remove(f, argv[1])) == 0)
		buf_printf(out, "%s: no entry equal to '%.200s'\n", argv[0], argv[1]);
	else if ((st = commit_file(dir, f, out)) == 0)
		buf_printf(out, "%s: %s %.200s\n", argv[0], add ? "has" : "removed", argv[1]);
	cfg_file_free(&f);
	return st;
}

static int
ctl_list_add(const char *dir, int argc, char **argv, struct buf *out)
{
	return ctl_list(dir, argc, argv, out, 1);
}

static int
ctl_list_remove(const char *dir, int argc, char **argv, struct buf *out)
{
	return ctl_list(dir, argc, argv, out, 0);
}

static int
ctl_show(const char *dir, int argc, char **argv, struct buf *out)
{
	struct cfg_file *f = open_or_report(dir, argv[0], out);
	const struct buf *t;

	(void)argc;
	if (f == NULL)
		return 1;
	t = cfg_file_text(f);
	buf_printf(out, "# %s version %s\n", argv[0], cfg_file_version(f)[0] ?
	    cfg_file_version(f) : "(missing)");
	if (t->len > 0 && buf_append(out, t->data, t->len) < 0)
		buf_printf(out, "\n(output truncated)\n");
	cfg_file_free(&f);
	return 0;
}

/* The domain's lower-cased name and its three file names, or -1 with a message. */
static int
domain_files(const char *domain, char *name, size_t size, char rel[3][300], struct buf *out)
{
	if (str_lcpy(name, domain, size) >= size) {
		buf_printf(out, "domain name too long\n");
		return -1;
	}
	str_lower(name);
	(void)str_fmt(rel[0], sizeof(rel[0]), "domains.d/%s.conf", name);
	(void)str_fmt(rel[1], sizeof(rel[1]), "lists/%s.allow", name);
	(void)str_fmt(rel[2], sizeof(rel[2]), "lists/%s.block", name);
	if (cfg_rel_kind(rel[0]) != CFG_KIND_DOMAIN) {
		buf_printf(out, "expected a domain name, found '%.200s'\n", domain);
		return -1;
	}
	return 0;
}

static int
ctl_domain_add(const char *dir, int argc, char **argv, struct buf *out)
{
	char name[256], rel[3][300];
	struct cfg_file *f;
	const char *err;
	int st = 1;

	(void)argc;
	if (domain_files(argv[0], name, sizeof(name), rel, out) < 0 ||
	    (f = open_or_report(dir, rel[0], out)) == NULL)
		return 1;
	if (cfg_file_version(f)[0] != '\0')
		buf_printf(out, "%s is already a protected domain (%s)\n", name, rel[0]);
	else if (cfg_set(f, "transport", argv[1], &err) < 0)
		buf_printf(out, "%s: %s\n", rel[0], err);
	else if ((st = commit_file(dir, f, out)) == 0)
		buf_printf(out, "%s: added, transport = %s\n", name, argv[1]);
	cfg_file_free(&f);
	return st;
}

static int
ctl_domain_remove(const char *dir, int argc, char **argv, struct buf *out)
{
	char name[256], rel[3][300];
	char version[3][CFG_VERSION_LEN + 1];
	struct cfg_change c[3];
	size_t n = 0;

	(void)argc;
	if (domain_files(argv[0], name, sizeof(name), rel, out) < 0)
		return 1;
	for (int i = 0; i < 3; i++) {
		struct cfg_file *f = open_or_report(dir, rel[i], out);

		if (f == NULL)
			return 1;
		str_lcpy(version[i], cfg_file_version(f), sizeof(version[i]));
		cfg_file_free(&f);
		if (i == 0 && version[0][0] == '\0') {
			buf_printf(out, "%s is not a protected domain (no %s)\n", name, rel[0]);
			return 1;
		}
		if (version[i][0] != '\0')
			c[n++] = (struct cfg_change){ rel[i], NULL, 0, version[i] };
	}
	if (cfg_commit(dir, c, n, out) < 0)
		return 1;
	buf_printf(out, "%s: removed (%zu file%s)\n", name, n, n == 1 ? "" : "s");
	return 0;
}

static const struct ctl_cmd ctl_cmds[] = {
	{ "get", 2, 2, ctl_get, "config get FILE KEY" },
	{ "set", 3, 64, ctl_set, "config set FILE KEY VALUE..." },
	{ "unset", 2, 2, ctl_unset, "config unset FILE KEY" },
	{ "list-add", 2, 2, ctl_list_add, "config list-add FILE ENTRY" },
	{ "list-remove", 2, 2, ctl_list_remove, "config list-remove FILE ENTRY" },
	{ "show", 1, 1, ctl_show, "config show FILE" },
	{ "domain-add", 2, 2, ctl_domain_add, "config domain-add DOMAIN TRANSPORT" },
	{ "domain-remove", 1, 1, ctl_domain_remove, "config domain-remove DOMAIN" },
};

int
config_ctl_command(const char *dir, int argc, char **argv, struct buf *out)
{
	if (argc >= 2 && strcmp(argv[0], "config") == 0)
		for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++) {
			const struct ctl_cmd *c = &ctl_cmds[i];

			if (strcmp(argv[1], c->name) != 0)
				continue;
			if (argc - 2 < c->min_args || argc - 2 > c->max_args) {
				buf_printf(out, "usage: %s\n", c->usage);
				return 2;
			}
			return c->fn(dir, argc - 2, argv + 2, out);
		}
	buf_printf(out, "usage:");
	for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++)
		buf_printf(out, "%s%s\n", i == 0 ? " " : "       ", ctl_cmds[i].usage);
	return 2;
}

int
config_ctl_is_read_only(int argc, char **argv)
{
	return argc < 2 || strcmp(argv[0], "config") != 0 || strcmp(argv[1], "get") == 0 ||
	    strcmp(argv[1], "show") == 0;
}
