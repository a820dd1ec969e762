/* audit.c: the console's audit log (admin/audit.h, admin_audit of admin.h). Admin role, main
 * loop thread. Every change made through the console or the API, and every login, logout and
 * lockout, becomes one JSON line appended with a single write() and fsynced before the call
 * returns, so a record the operator was shown as done is on disk. The values come from users
 * and peers: they are JSON-escaped (invalid UTF-8 replaced) and capped at AUDIT_VALUE_MAX octets
 * each. The file is opened for each record (O_APPEND, mode 0600), so rotating it needs no
 * signal. Reading walks the file backwards in blocks, bounded by AUDIT_LINE_MAX per line. */
#include "admin/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define AUDIT_BLOCK 65536

static char *audit_path;

void
admin_audit_configure(const struct mg_config *cfg)
{
	xfree(audit_path);
	if (cfg->audit_log != NULL && cfg->audit_log[0] != '\0')
		audit_path = xstrdup(cfg->audit_log);
	else
		audit_path = xasprintf("%s/audit.log", cfg->state_dir);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is not valid (RFC 3629 §4). */
static size_t
utf8_len(const unsigned char *p, size_t avail)
{
	size_t n;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

int
audit_json_str(struct buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	int rc = buf_append_char(out, '"');

	while (i < len && rc == 0) {
		unsigned char c = p[i];
		size_t n;

		if (c == '"' || c == '\\') {
			rc = buf_printf(out, "\\%c", c);
			i++;
		} else if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&') {
			rc = buf_printf(out, "\\u%04x", c);
			i++;
		} else if ((n = utf8_len(p + i, len - i)) == 0) {
			rc = buf_append_str(out, "\\ufffd");
			i++;
		} else {
			rc = buf_append(out, p + i, n);
			i += n;
		}
	}
	if (rc == 0)
		rc = buf_append_char(out, '"');
	return rc;
}

static void
field(struct buf *b, const char *name, const char *value)
{
	size_t n;

	buf_printf(b, ",\"%s\":", name);
	if (value == NULL) {
		buf_append_str(b, "null");
		return;
	}
	n = strlen(value);
	if (n <= AUDIT_VALUE_MAX) {
		audit_json_str(b, value, n);
		return;
	}
	/* cut, and say so inside the string (drop the closing quote, add the note) */
	audit_json_str(b, value, AUDIT_VALUE_MAX);
	b->len--;
	buf_append_str(b, " [truncated]\"");
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

void
admin_audit_as(const char *who, const char *peer, const char *action, const char *target,
    const char *before, const char *after)
{
	struct buf b;
	char ts[32];
	struct tm tm;
	time_t now = time(NULL);
	int fd;

	if (audit_path == NULL)
		panic("admin_audit before admin_audit_configure");
	buf_init(&b, 3 * 6 * AUDIT_VALUE_MAX);
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	buf_printf(&b, "{\"time\":\"%s\"", ts);
	field(&b, "who", who ? who : "-");
	field(&b, "peer", peer ? peer : "-");
	field(&b, "action", action ? action : "-");
	field(&b, "target", target);
	field(&b, "before", before);
	field(&b, "after", after);
	buf_append_str(&b, "}\n");
	fd = open(audit_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write_all(fd, b.data, b.len) < 0 || fsync(fd) < 0)
		log_err("admin: cannot write the audit log %s: %s (action %s lost)", audit_path,
		    strerror(errno), action ? action : "-");
	if (fd >= 0)
		close(fd);
	buf_free(&b);
}

void
admin_audit(const struct http_request *req, const char *action, const char *target,
    const char *before, const char *after)
{
	admin_audit_as(req->who ? req->who->user : NULL, req->peer, action, target, before,
	    after);
}

/* Emits the line in line (without '\n') when it is past skip; returns 1 when done. */
static int
emit(struct buf *out, const struct buf *line, size_t *seen, size_t skip, size_t max,
    size_t *added)
{
	if (line->len == 0)
		return 0;
	if ((*seen)++ < skip)
		return 0;
	if (buf_append(out, line->data, line->len) < 0 || buf_append_char(out, '\n') < 0)
		return 1;
	return ++*added >= max;
}

/* Prepends n bytes at p to the line being assembled backwards (line holds it reversed). */
static void
take_rev(struct buf *rev, const char *p, size_t n, int *too_long)
{
	for (size_t i = n; i > 0 && !*too_long; i--)
		if (buf_append_char(rev, p[i - 1]) < 0)
			*too_long = 1;
}

static void
reverse_into(struct buf *line, const struct buf *rev)
{
	buf_reset(line);
	for (size_t i = rev->len; i > 0; i--)
		buf_append_char(line, rev->data[i - 1]);
}

size_t
admin_audit_read(struct buf *out, size_t max_records, size_t skip)
{
	struct buf rev, line;
	char *blk = NULL;
	size_t seen = 0, added = 0;
	int fd, too_long = 0, done = 0;
	off_t pos;

	if (audit_path == NULL || max_records == 0 ||
	    (fd = open(audit_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return 0;
	if ((pos = lseek(fd, 0, SEEK_END)) < 0) {
		close(fd);
		return 0;
	}
	blk = xmalloc(AUDIT_BLOCK);
	buf_init(&rev, AUDIT_LINE_MAX);
	buf_init(&line, AUDIT_LINE_MAX);
	while (pos > 0 && !done) {
		size_t n = pos > AUDIT_BLOCK ? AUDIT_BLOCK : (size_t)pos;
		size_t end;

		pos -= (off_t)n;
		if (pread(fd, blk, n, pos) != (ssize_t)n)
			break;
		end = n;
		for (size_t i = n; i > 0 && !done; i--) {
			if (blk[i - 1] != '\n')
				continue;
			take_rev(&rev, blk + i, end - i, &too_long);
			end = i - 1;
			if (!too_long) {
				reverse_into(&line, &rev);
				done = emit(out, &line, &seen, skip, max_records, &added);
			}
			buf_reset(&rev);
			too_long = 0;
		}
		if (!done)
			take_rev(&rev, blk, end, &too_long);
	}
	if (!done && pos == 0 && !too_long && rev.len > 0) {
		reverse_into(&line, &rev);
		emit(out, &line, &seen, skip, max_records, &added);
	}
	close(fd);
	xfree(blk);
	buf_free(&rev);
	buf_free(&line);
	return added;
}
