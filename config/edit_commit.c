/* edit_commit.c: cfg_commit, the one place that writes configuration files for the console and
 * `mailguardctl config`: checks the names and versions of a change set, validates the whole
 * configuration with the changes laid over it (config_load_overlay, the loader `mailguard -n`
 * uses), then writes each file atomically (lib/atomicfile.h) and unlinks deleted ones.
 * Runs in the supervisor (and tools, tests). The change set comes from our own admin role or the
 * control socket: names are still checked against the allowed forms (no "..", no other
 * directories), at most CFG_EDIT_CHANGES_MAX files of at most CFG_EDIT_FILE_MAX bytes each. */
#include "config/edit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/edit_int.h"
#include "lib/atomicfile.h"
#include "lib/log.h"
#include "lib/xalloc.h"

/* Order of the steps, so that every intermediate state loads: global settings, then domains
 * before their lists; deletions of lists before their domains. */
enum step { STEP_GLOBAL, STEP_DOMAIN, STEP_LIST, STEP_UNLINK_LIST, STEP_UNLINK_DOMAIN, STEP_N };

static enum step
change_step(const struct cfg_change *c)
{
	int kind = cfg_rel_kind(c->rel);

	if (c->text == NULL)
		return kind == CFG_KIND_LIST ? STEP_UNLINK_LIST : STEP_UNLINK_DOMAIN;
	return kind == CFG_KIND_GLOBAL ? STEP_GLOBAL : kind == CFG_KIND_DOMAIN ? STEP_DOMAIN :
	    STEP_LIST;
}

static int
check_names(const struct cfg_change *changes, size_t n, struct buf *errors)
{
	int bad = 0;

	if (n > CFG_EDIT_CHANGES_MAX) {
		buf_printf(errors, "expected at most %d files in one change, found %zu\n",
		    CFG_EDIT_CHANGES_MAX, n);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct cfg_change *c = &changes[i];

		if (cfg_rel_kind(c->rel) < 0) {
			buf_printf(errors, "%.200s: expected a configuration file name "
			    "(mailguard.conf, domains.d/DOMAIN.conf, lists/global.allow, "
			    "lists/DOMAIN.block, ...)\n", c->rel);
			bad = 1;
			continue;
		}
		if (c->text == NULL && strcmp(c->rel, "mailguard.conf") == 0) {
			buf_printf(errors, "mailguard.conf: expected a file, the change deletes it\n");
			bad = 1;
		}
		if (c->text != NULL && c->len > CFG_EDIT_FILE_MAX) {
			buf_printf(errors, "%s: expected a file of at most %d bytes, found %zu\n",
			    c->rel, CFG_EDIT_FILE_MAX, c->len);
			bad = 1;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(changes[j].rel, c->rel) == 0) {
				buf_printf(errors, "%s: expected once in a change, found twice\n",
				    c->rel);
				bad = 1;
			}
	}
	return bad ? -1 : 0;
}

static int
check_versions(const char *dir, const struct cfg_change *changes, size_t n, struct buf *errors)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		const struct cfg_change *c = &changes[i];
		char version[CFG_VERSION_LEN + 1] = "";
		const char *err;
		struct buf cur;
		int missing;

		if (c->expect_version == NULL)
			continue;
		if (cfg_read_current(dir, c->rel, &cur, &missing, &err) < 0) {
			buf_printf(errors, "%s: cannot check whether it changed: %s (%s)\n", c->rel,
			    err, strerror(errno));
			bad = 1;
			continue;
		}
		if (!missing)
			cfg_sha256_hex(cur.data ? cur.data : "", cur.len, version);
		buf_free(&cur);
		if (strcmp(version, c->expect_version) != 0) {
			buf_printf(errors, "%s: changed since it was loaded; reload the page\n",
			    c->rel);
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

/* Runs the loader over dir with the changes laid over it; its error lines go to errors with
 * the directory prefix dropped ("domains.d/x.conf:3: ..."). */
static int
validate(const char *dir, const struct cfg_change *changes, size_t n, struct buf *errors)
{
	char *msg = NULL, *p, *nl;
	size_t msglen = 0, dl = strlen(dir);
	FILE *fp = open_memstream(&msg, &msglen);
	struct mg_config *cfg;

	if (fp == NULL) {
		buf_printf(errors, "cannot validate: %s\n", strerror(errno));
		return -1;
	}
	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	cfg = config_load_overlay(dir, changes, n, fp);
	fclose(fp);
	for (p = msg; p != NULL && *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p) - 1;
		if ((size_t)(nl - p) > dl && strncmp(p, dir, dl) == 0 && p[dl] == '/')
			p += dl + 1;
		buf_append(errors, p, (size_t)(nl - p) + 1);
	}
	xfree(msg);	/* open_memstream's malloc: xfree is free */
	if (cfg == NULL)
		return -1;
	config_free(&cfg);
	return 0;
}

/* Creates dir/sub when a change writes into it (mode 0750) and makes that durable. */
static int
ensure_subdir(const char *dir, const char *sub, struct buf *errors)
{
	char *path = xasprintf("%s/%s", dir, sub);
	const char *err;
	int ret = 0;

	if (mkdir(path, 0750) == 0) {
		if (atomicfile_fsync_dir(path, &err) < 0) {
			buf_printf(errors, "%s: %s: %s\n", sub, err, strerror(errno));
			ret = -1;
		}
	} else if (errno != EEXIST) {
		buf_printf(errors, "%s: cannot create the directory: %s\n", sub, strerror(errno));
		ret = -1;
	}
	xfree(path);
	return ret;
}

/* Writes or unlinks one file; -1 with errno and *error_r on failure. A rewritten file keeps its
 * mode, owner and group; a new one gets mailguard.conf's owner and group and mode 0640 (0644
 * when mailguard.conf is world-readable), so the roles, which re-read the files after dropping
 * privileges, can read it whenever they can read mailguard.conf. atomicfile_write creates the
 * file as the caller (root in production): the ownership is restored right after the rename. */
static int
apply_one(const char *dir, const struct cfg_change *c, const char **error_r)
{
	char *path = xasprintf("%s/%s", dir, c->rel), *main_conf;
	struct stat st;
	mode_t mode;
	int ret, have;

	if (c->text == NULL) {
		if (unlink(path) < 0 && errno != ENOENT) {
			*error_r = "unlink";
			ret = -1;
		} else {
			ret = atomicfile_fsync_dir(path, error_r);
		}
		xfree(path);
		return ret;
	}
	if ((have = stat(path, &st) == 0 && S_ISREG(st.st_mode))) {
		mode = st.st_mode & 07777;
	} else {
		main_conf = xasprintf("%s/mailguard.conf", dir);
		have = stat(main_conf, &st) == 0;
		xfree(main_conf);
		mode = have ? 0640 | (st.st_mode & 0004) : 0640;
	}
	ret = atomicfile_write(path, c->text, c->len, mode, error_r);
	if (ret == 0 && have && (st.st_uid != geteuid() || st.st_gid != getegid()) &&
	    chown(path, st.st_uid, st.st_gid) < 0) {
		if (geteuid() == 0) {
			*error_r = "chown";	/* root could not: something is wrong */
			ret = -1;
		} else {
			log_warn("config: %s: cannot keep owner %u:%u (%s); it is now ours",
			    c->rel, (unsigned)st.st_uid, (unsigned)st.st_gid, strerror(errno));
		}
	}
	xfree(path);
	return ret;
}

/* Lists the files of order[from..n) in errors after "label: ". */
static void
report_files(const struct cfg_change *changes, const size_t *order, size_t from, size_t to,
    const char *label, struct buf *errors)
{
	if (from >= to)
		return;
	buf_printf(errors, "%s:", label);
	for (size_t k = from; k < to; k++)
		buf_printf(errors, " %s%s", changes[order[k]].rel,
		    changes[order[k]].text == NULL ? " (delete)" : "");
	buf_append_char(errors, '\n');
}

static int
apply(const char *dir, const struct cfg_change *changes, size_t n, struct buf *errors)
{
	size_t order[CFG_EDIT_CHANGES_MAX], k = 0;
	const char *err;

	for (int step = 0; step < STEP_N; step++)
		for (size_t i = 0; i < n; i++)
			if ((int)change_step(&changes[i]) == step)
				order[k++] = i;
	for (size_t i = 0; i < n; i++) {
		const char *sub = change_step(&changes[i]) == STEP_DOMAIN ? "domains.d" :
		    change_step(&changes[i]) == STEP_LIST ? "lists" : NULL;

		if (sub != NULL && ensure_subdir(dir, sub, errors) < 0)
			return -1;
	}
	for (k = 0; k < n; k++) {
		const struct cfg_change *c = &changes[order[k]];

		if (apply_one(dir, c, &err) < 0) {
			buf_printf(errors, "%s: not %s (%s: %s)\n", c->rel,
			    c->text == NULL ? "deleted" : "written", err, strerror(errno));
			report_files(changes, order, 0, k, "done before the failure", errors);
			report_files(changes, order, k + 1, n, "not done", errors);
			return -1;
		}
	}
	return 0;
}

int
cfg_commit(const char *dir, const struct cfg_change *changes, size_t n, struct buf *errors)
{
	if (check_names(changes, n, errors) < 0 || check_versions(dir, changes, n, errors) < 0 ||
	    validate(dir, changes, n, errors) < 0)
		return -1;
	return apply(dir, changes, n, errors);
}
