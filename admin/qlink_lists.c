/* qlink_lists.c: the allow-sender / block-sender edit of the quarantine pages (issue G): one
 * entry appended to lists/OWNER.allow or .block with config/edit.h (comments and other lines
 * kept; the entry checked by the loader's own entry parser), sent to the supervisor as a change
 * set (validated like `mailguard -n`, written atomically, reloaded: admin_config_commit) and
 * audited with the file's old and new text. Used by the console (who = the admin) and by the
 * public link endpoint (who = "link:<recipient>"). Admin role, loop thread. */
#include <string.h>

#include "admin/act_domain.h"
#include "admin/admin.h"
#include "admin/audit.h"
#include "admin/qlink.h"
#include "config/edit.h"
#include "lib/str.h"
#include "lib/xalloc.h"

struct list_add {
	char who[400];
	char peer[64];
	char rel[300];
	char *before, *after;
	struct cfg_file *f;
	qlink_list_cb *done;
	void *arg;
};

static void
list_add_done(void *arg, int status, const char *errors)
{
	struct list_add *a = arg;

	if (status == 0 || status == 2)
		admin_audit_as(a->who, a->peer, "list.add", a->rel, a->before, a->after);
	a->done(a->arg, status, errors);
	xfree(a->before);
	xfree(a->after);
	cfg_file_free(&a->f);
	xfree(a);
}

int
qlink_list_add(const struct http_request *req, const char *who, const char *owner, int block,
    const char *sender, qlink_list_cb *done, void *arg, const char **error_r)
{
	struct list_add *a;
	struct cfg_change ch;
	const struct buf *text;

	if (strcmp(owner, "global") != 0 && !act_domain_exists(owner)) {
		*error_r = "not a protected domain";
		return -1;
	}
	if (sender[0] == '\0') {
		*error_r = "the message has no sender address (null sender)";
		return -1;
	}
	a = xcalloc(1, sizeof(*a));
	str_lcpy(a->who, who ? who : req->who ? req->who->user : "-", sizeof(a->who));
	str_lcpy(a->peer, req->peer, sizeof(a->peer));
	act_list_rel(a->rel, sizeof(a->rel), owner, block);
	if ((a->f = cfg_file_open(admin_config()->dir, a->rel, error_r)) == NULL) {
		xfree(a);
		return -1;
	}
	text = cfg_file_text(a->f);
	a->before = xstrndup(text->data ? text->data : "", text->len);
	if (cfg_list_add(a->f, sender, error_r) < 0) {
		/* *error_r points into the file, freed here: copy it (loop thread only) */
		static char msg[512];

		str_lcpy(msg, *error_r, sizeof(msg));
		*error_r = msg;
		xfree(a->before);
		cfg_file_free(&a->f);
		xfree(a);
		return -1;
	}
	text = cfg_file_text(a->f);
	a->after = xstrndup(text->data ? text->data : "", text->len);
	a->done = done;
	a->arg = arg;
	if (strcmp(a->before, a->after) == 0) {
		/* already listed: nothing to write (answered synchronously) */
		done(arg, 3, NULL);
		xfree(a->before);
		xfree(a->after);
		cfg_file_free(&a->f);
		xfree(a);
		return 0;
	}
	ch = (struct cfg_change){ .rel = cfg_file_rel(a->f), .text = a->after,
	    .len = strlen(a->after), .expect_version = cfg_file_version(a->f) };
	admin_config_commit(&ch, 1, list_add_done, a);
	return 0;
}
