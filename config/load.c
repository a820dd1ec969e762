/* load.c: config_load and friends: reads DIR/mailguard.conf, DIR/domains.d/<domain>.conf and
 * DIR/lists/, resolves relative paths, checks key file secrecy, and builds the immutable struct
 * mg_config (domains sorted for bsearch). Also the text-level entry points and the queries.
 * Runs in the supervisor at start and reload (and in tools); queries run in any role and thread.
 * Files are trusted to be the admin's, not to be well-formed: each is capped (CONFIG_FILE_MAX,
 * CONFIG_LIST_FILE_MAX), must be a regular file, and every problem is reported, not just the
 * first. config_load_overlay reads the same way with proposed edits (config/edit.h) laid over
 * the directory: read_file and list_dir are the only places that consult the disk. */
#include "config/settings.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/limits.h"
#include "config/edit.h"
#include "lib/str.h"
#include "lib/xalloc.h"

#define READ_CHUNK 65536

/* One load: the error sink, and the changes laid over the directory (config_load_overlay).
 * Paths under dir are matched against the changes by their name relative to dir. */
struct load {
	struct config_ctx ctx;
	const char *dir;	/* borrowed: the directory as given, trailing slashes dropped */
	size_t dirlen;
	const struct cfg_change *changes;	/* borrowed */
	size_t n_changes;
};

/* The change for path (dir/rel), or NULL when path is read from the disk. */
static const struct cfg_change *
overlay_find(const struct load *ld, const char *path)
{
	const char *rel;

	if (ld->n_changes == 0 || strncmp(path, ld->dir, ld->dirlen) != 0 ||
	    path[ld->dirlen] != '/')
		return NULL;
	rel = path + ld->dirlen + 1;
	for (size_t i = 0; i < ld->n_changes; i++)
		if (strcmp(ld->changes[i].rel, rel) == 0)
			return &ld->changes[i];
	return NULL;
}

/* Takes a changed file's text from its change: 1 when it has text, 0 when it is deleted (absent)
 * and missing_ok, -1 after reporting an error. */
static int
read_overlay(struct load *ld, const struct cfg_change *c, const char *path, size_t max,
    int missing_ok, struct buf *out)
{
	buf_init(out, max);
	if (c->text == NULL) {
		if (missing_ok)
			return 0;
		config_error(&ld->ctx, path, 0, "expected a file, found none");
		return -1;
	}
	if (buf_append(out, c->text, c->len) < 0) {
		config_error(&ld->ctx, path, 0, "expected a file of at most %zu bytes, found a "
		    "larger one", max);
		buf_free(out);
		return -1;
	}
	return 1;
}

/* Reads a whole regular file into out (capped at max bytes). Returns 1 when read, 0 when it
 * does not exist and missing_ok, -1 after reporting an error. */
static int
read_file(struct load *ld, const char *path, size_t max, int missing_ok, struct buf *out)
{
	struct config_ctx *ctx = &ld->ctx;
	const struct cfg_change *c = overlay_find(ld, path);
	struct stat st;
	int fd, ret = -1;

	if (c != NULL)
		return read_overlay(ld, c, path, max, missing_ok, out);
	buf_init(out, max);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		if (errno == ENOENT && missing_ok)
			return 0;
		if (errno == ENOENT)
			config_error(ctx, path, 0, "expected a file, found none");
		else
			config_error(ctx, path, 0, "expected a readable file, found error: %s",
			    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		config_error(ctx, path, 0, "expected a regular file, found something else");
		goto out;
	}
	for (;;) {
		char chunk[READ_CHUNK];
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			config_error(ctx, path, 0, "expected a readable file, found error: %s",
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (buf_append(out, chunk, (size_t)n) < 0) {
			config_error(ctx, path, 0, "expected a file of at most %zu bytes, found a "
			    "larger one", max);
			goto out;
		}
	}
	ret = 1;
out:
	close(fd);
	if (ret < 0)
		buf_free(out);
	return ret;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
has_name(char **names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

/* Lays the changes over the listing of path (dir/sub): a changed file with text is listed, a
 * deleted one is not. */
static char **
overlay_names(const struct load *ld, const char *path, char **names, size_t *n_r)
{
	const char *sub;
	size_t sl, n = *n_r;

	if (ld->n_changes == 0 || strncmp(path, ld->dir, ld->dirlen) != 0 ||
	    path[ld->dirlen] != '/')
		return names;
	sub = path + ld->dirlen + 1;
	sl = strlen(sub);
	for (size_t i = 0; i < ld->n_changes; i++) {
		const char *rel = ld->changes[i].rel, *name;

		if (strncmp(rel, sub, sl) != 0 || rel[sl] != '/')
			continue;
		name = rel + sl + 1;
		if (*name == '\0' || strchr(name, '/') != NULL)
			continue;
		if (ld->changes[i].text != NULL && !has_name(names, n, name)) {
			names = xreallocarray(names, n + 1, sizeof(*names));
			names[n++] = xstrdup(name);
		} else if (ld->changes[i].text == NULL) {
			for (size_t j = 0; j < n; j++)
				if (strcmp(names[j], name) == 0) {
					xfree(names[j]);
					names[j] = names[--n];
					break;
				}
		}
	}
	*n_r = n;
	return names;
}

/* Sorted names of the entries of path that do not start with '.' (with the changes laid over
 * them); NULL (with *n_r = 0) when there are none or the directory does not exist; reports other
 * errors. Free with free_names. */
static char **
list_dir(struct load *ld, const char *path, size_t *n_r)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;

	*n_r = 0;
	if ((d = opendir(path)) == NULL) {
		if (errno != ENOENT)
			config_error(&ld->ctx, path, 0, "expected a readable directory, found "
			    "error: %s", strerror(errno));
	} else {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			names = xreallocarray(names, n + 1, sizeof(*names));
			names[n++] = xstrdup(de->d_name);
		}
		closedir(d);
	}
	names = overlay_names(ld, path, names, &n);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_str);
	*n_r = n;
	return names;
}

static void
free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		xfree(names[i]);
	xfree(names);
}

/* If name ends in ext, returns the length before it, else 0. */
static size_t
strip_ext(const char *name, const char *ext)
{
	size_t n = strlen(name), e = strlen(ext);

	return n > e && strcmp(name + n - e, ext) == 0 ? n - e : 0;
}

static int
is_lower_domain(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			return 0;
	return config_is_domain_name(s, n);
}

static void
parse_domain(struct config_ctx *ctx, const char *name, const char *file, const char *text,
    size_t len, struct mg_domain *d)
{
	int *lines = xcalloc(config_n_settings, sizeof(*lines));

	memset(d, 0, sizeof(*d));
	d->name = xstrdup(name);
	d->file = xstrdup(file);
	config_defaults_apply(SCOPE_DOMAIN, d);
	if (len > CONFIG_FILE_MAX)
		config_error(ctx, file, 0, "expected a file of at most %d bytes, found a larger one",
		    CONFIG_FILE_MAX);
	else
		config_parse_settings(ctx, SCOPE_DOMAIN, d, file, text, len, lines);
	config_validate_domain(ctx, d, lines);
	xfree(lines);
}

static void
parse_global(struct config_ctx *ctx, const char *file, const char *text, size_t len,
    struct mg_config *cfg, int *lines)
{
	config_defaults_apply(SCOPE_GLOBAL, cfg);
	if (len > CONFIG_FILE_MAX) {
		config_error(ctx, file, 0, "expected a file of at most %d bytes, found a larger one",
		    CONFIG_FILE_MAX);
		return;
	}
	config_parse_settings(ctx, SCOPE_GLOBAL, cfg, file, text, len, lines);
	config_validate_global(ctx, cfg, file, lines);
}

static void
load_domains(struct load *ld, struct mg_config *cfg)
{
	struct config_ctx *ctx = &ld->ctx;
	char *ddir = xasprintf("%s/domains.d", ld->dir);
	size_t n, dlen;
	char **names = list_dir(ld, ddir, &n);

	for (size_t i = 0; i < n; i++) {
		char *file, *dom;
		struct buf text;

		if ((dlen = strip_ext(names[i], ".conf")) == 0)
			continue;	/* README, editor backups, ... */
		file = xasprintf("%s/%s", ddir, names[i]);
		dom = xstrndup(names[i], dlen);
		if (!is_lower_domain(dom, dlen)) {
			struct buf m;

			buf_init(&m, 1024);
			buf_append_str(&m, "expected a file named after a lower-case domain "
			    "(example.org.conf), found ");
			config_quote(&m, names[i], strlen(names[i]));
			config_error(ctx, file, 0, "%s", m.data);
			buf_free(&m);
		} else if (read_file(ld, file, CONFIG_FILE_MAX, 0, &text) > 0) {
			cfg->domains = xreallocarray(cfg->domains, cfg->n_domains + 1,
			    sizeof(*cfg->domains));
			parse_domain(ctx, dom, file, text.data ? text.data : "", text.len,
			    &cfg->domains[cfg->n_domains++]);
			buf_free(&text);
		}
		xfree(dom);
		xfree(file);
	}
	free_names(names, n);
	xfree(ddir);
}

static int
cmp_domain(const void *a, const void *b)
{
	return strcmp(((const struct mg_domain *)a)->name, ((const struct mg_domain *)b)->name);
}

/* Reads path into l (missing = empty list, l->file stays NULL). */
static void
load_list(struct load *ld, const char *path, struct mg_list *l)
{
	struct buf text;

	if (read_file(ld, path, CONFIG_LIST_FILE_MAX, 1, &text) <= 0)
		return;
	l->file = xstrdup(path);
	config_parse_list(&ld->ctx, path, text.data ? text.data : "", text.len, l);
	buf_free(&text);
}

static void
load_lists(struct load *ld, struct mg_config *cfg)
{
	struct config_ctx *ctx = &ld->ctx;
	char *ldir = xasprintf("%s/lists", ld->dir), *path;
	size_t n, blen;
	char **names = list_dir(ld, ldir, &n);

	path = xasprintf("%s/global.allow", ldir);
	load_list(ld, path, &cfg->global_allow);
	xfree(path);
	path = xasprintf("%s/global.block", ldir);
	load_list(ld, path, &cfg->global_block);
	xfree(path);
	for (size_t i = 0; i < n; i++) {
		int allow = 1;
		struct mg_domain *d;
		char *dom;

		if ((blen = strip_ext(names[i], ".allow")) == 0) {
			allow = 0;
			if ((blen = strip_ext(names[i], ".block")) == 0)
				continue;
		}
		dom = xstrndup(names[i], blen);
		path = xasprintf("%s/%s", ldir, names[i]);
		if (strcmp(dom, "global") == 0) {
			/* loaded above */
		} else if ((d = (struct mg_domain *)config_domain_find(cfg, dom)) == NULL ||
		    strcmp(d->name, dom) != 0) {
			struct buf m;

			buf_init(&m, 1024);
			buf_append_str(&m, "expected a list file named after a protected domain, "
			    "found ");
			config_quote(&m, dom, blen);
			buf_printf(&m, " (there is no domains.d/%.200s.conf)", dom);
			config_error(ctx, path, 0, "%s", m.data);
			buf_free(&m);
		} else {
			load_list(ld, path, allow ? &d->allow : &d->block);
		}
		xfree(path);
		xfree(dom);
	}
	free_names(names, n);
	xfree(ldir);
}

/* Makes relative T_PATH settings absolute against the configuration directory. */
static void
resolve_paths(struct mg_config *cfg)
{
	for (size_t i = 0; i < config_n_settings; i++) {
		const struct setting *s = &config_settings[i];
		char **f;

		if (s->scope != SCOPE_GLOBAL || s->type != T_PATH)
			continue;
		f = (char **)(void *)((char *)cfg + s->off);
		if (*f != NULL && (*f)[0] != '\0' && (*f)[0] != '/') {
			char *abs = xasprintf("%s/%s", cfg->dir, *f);

			xfree(*f);
			*f = abs;
		}
	}
}

struct mg_config *
config_load_overlay(const char *dir, const struct cfg_change *changes, size_t n, FILE *errors)
{
	struct load ld = { { errors, 0 }, NULL, 0, changes, n };
	struct mg_config *cfg = xcalloc(1, sizeof(*cfg));
	int *lines = xcalloc(config_n_settings, sizeof(*lines));
	char absdir[PATH_MAX], *d = xstrdup(dir), *file;
	size_t dl = strlen(d);
	struct buf text;

	while (dl > 1 && d[dl - 1] == '/')
		d[--dl] = '\0';	/* "conf/" and "conf" name files the same way */
	ld.dir = d;
	ld.dirlen = dl;
	file = xasprintf("%s/mailguard.conf", d);
	if (realpath(d, absdir) == NULL) {
		config_error(&ld.ctx, d, 0, "expected a configuration directory, found error: %s",
		    strerror(errno));
		config_defaults_apply(SCOPE_GLOBAL, cfg);
		goto out;
	}
	cfg->dir = xstrdup(absdir);
	if (read_file(&ld, file, CONFIG_FILE_MAX, 0, &text) > 0) {
		parse_global(&ld.ctx, file, text.data ? text.data : "", text.len, cfg, lines);
		buf_free(&text);
	} else {
		config_defaults_apply(SCOPE_GLOBAL, cfg);
	}
	resolve_paths(cfg);
	config_check_secrets(&ld.ctx, cfg, file, lines);
	load_domains(&ld, cfg);
	if (cfg->n_domains > 1)
		qsort(cfg->domains, cfg->n_domains, sizeof(*cfg->domains), cmp_domain);
	load_lists(&ld, cfg);
out:
	xfree(lines);
	xfree(file);
	xfree(d);
	if (ld.ctx.n_errors > 0)
		config_free(&cfg);
	return cfg;
}

struct mg_config *
config_load(const char *dir, FILE *errors)
{
	return config_load_overlay(dir, NULL, 0, errors);
}

void
config_domain_clear(struct mg_domain *d)
{
	config_settings_free(SCOPE_DOMAIN, d);
	config_list_clear(&d->allow);
	config_list_clear(&d->block);
	xfree(d->name);
	xfree(d->file);
	memset(d, 0, sizeof(*d));
}

void
config_free(struct mg_config **cfgp)
{
	struct mg_config *cfg = *cfgp;

	if (cfg == NULL)
		return;
	config_settings_free(SCOPE_GLOBAL, cfg);
	for (size_t i = 0; i < cfg->n_domains; i++)
		config_domain_clear(&cfg->domains[i]);
	xfree(cfg->domains);
	config_list_clear(&cfg->global_allow);
	config_list_clear(&cfg->global_block);
	xfree(cfg->dir);
	xfree(cfg);
	*cfgp = NULL;
}

struct mg_config *
config_parse_text(const char *file, const char *text, size_t len, FILE *errors)
{
	struct config_ctx ctx = { errors, 0 };
	struct mg_config *cfg = xcalloc(1, sizeof(*cfg));
	int *lines = xcalloc(config_n_settings, sizeof(*lines));

	parse_global(&ctx, file, text, len, cfg, lines);
	xfree(lines);
	if (ctx.n_errors > 0)
		config_free(&cfg);
	return cfg;
}

int
config_parse_domain_text(const char *domain, const char *file, const char *text, size_t len,
    struct mg_domain *out, FILE *errors)
{
	struct config_ctx ctx = { errors, 0 };

	if (!is_lower_domain(domain, strlen(domain))) {
		struct buf m;

		memset(out, 0, sizeof(*out));
		buf_init(&m, 1024);
		buf_append_str(&m, "expected a lower-case domain name, found ");
		config_quote(&m, domain, strlen(domain));
		config_error(&ctx, file, 0, "%s", m.data);
		buf_free(&m);
		return -1;
	}
	parse_domain(&ctx, domain, file, text, len, out);
	return ctx.n_errors > 0 ? -1 : 0;
}

int
config_parse_list_text(const char *file, const char *text, size_t len, struct mg_list *out,
    FILE *errors)
{
	struct config_ctx ctx = { errors, 0 };

	memset(out, 0, sizeof(*out));
	if (len > CONFIG_LIST_FILE_MAX) {
		config_error(&ctx, file, 0, "expected a file of at most %d bytes, found a larger one",
		    CONFIG_LIST_FILE_MAX);
		return -1;
	}
	out->file = xstrdup(file);
	config_parse_list(&ctx, file, text, len, out);
	return ctx.n_errors > 0 ? -1 : 0;
}

static int
cmp_domain_key(const void *key, const void *elem)
{
	return strcasecmp(key, ((const struct mg_domain *)elem)->name);
}

const struct mg_domain *
config_domain_find(const struct mg_config *cfg, const char *domain)
{
	if (cfg == NULL || domain == NULL || cfg->n_domains == 0)
		return NULL;
	return bsearch(domain, cfg->domains, cfg->n_domains, sizeof(*cfg->domains),
	    cmp_domain_key);
}

int
config_is_mynetwork(const struct mg_config *cfg, const struct sockaddr *sa)
{
	return cidr_list_match(&cfg->mynetworks, sa);
}

int
config_static_changed(const struct mg_config *a, const struct mg_config *b, const char **name_r)
{
	struct buf va, vb;
	int changed = 0;

	buf_init(&va, SIZE_MAX / 2);
	buf_init(&vb, SIZE_MAX / 2);
	for (size_t i = 0; i < config_n_settings && !changed; i++) {
		const struct setting *s = &config_settings[i];

		if (s->scope != SCOPE_GLOBAL || s->reloadable)
			continue;
		buf_reset(&va);
		buf_reset(&vb);
		config_value_format(s, a, &va);
		config_value_format(s, b, &vb);
		if (va.len != vb.len || (va.len > 0 && memcmp(va.data, vb.data, va.len) != 0)) {
			changed = 1;
			*name_r = s->name;
		}
	}
	buf_free(&va);
	buf_free(&vb);
	return changed;
}
