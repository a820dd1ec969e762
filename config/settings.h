#ifndef CONFIG_SETTINGS_H
#define CONFIG_SETTINGS_H
/* Internal to config/ (and its unit tests): the settings table, the value types, and the helpers
 * the files of config/ share. Other subsystems use config/config.h only. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "config/config.h"
#include "lib/buf.h"

enum setting_scope { SCOPE_GLOBAL = 0, SCOPE_DOMAIN = 1 };

/* Value types. Each has a parser, a formatter (canonical text, as -P prints it), a destructor and
 * an "expected ..." description, all in config/values.c. */
enum setting_type {
	T_STRING,	/* free text; '#' is part of the value (no trailing comments) */
	T_HOSTNAME,	/* a domain name; empty = the system host name */
	T_USER,		/* a user name */
	T_PATH,		/* a file or directory; relative = relative to the config directory */
	T_BOOL,		/* yes / no */
	T_INT,		/* integer in [min, max]; stored in an int, long or long long (size) */
	T_DOUBLE,	/* decimal in [min, max] */
	T_SIZE,		/* bytes with k/m/g suffix, in [min, max] */
	T_DURATION,	/* seconds with s/m/h/d/w suffix, in [min, max] */
	T_ENUM,		/* one of choices; stored as int index, or as char * with SET_ENUM_STR */
	T_LISTEN,	/* list of addr:port ([v6]:port); char ** at off, size_t count at off2 */
	T_CIDR_LIST,	/* list of networks; struct cidr_list at off */
	T_IP_LIST,	/* list of IP address literals; char ** at off, size_t count at off2 */
	T_LAYERS,	/* list of choices; unsigned bit mask (bit i = choices[i]) at off */
	T_ADDRESS,	/* user@domain; char * (NULL when empty) */
	T_HOSTPORT,	/* host, host:port, [host], [host]:port; host char * at off, int port at
			 * off2, int "use MX" at off3 */
	T_RATE,		/* N/sec|min|hour|day or empty; long count at off, long period at off2 */
	T_HEADER_RULES,	/* header_rewrite rules; struct mg_header_rule * at off, size_t at off2 */
	T_RBL,		/* "ZONE SCORE [CODE,...]"; struct mg_rbl * at off, size_t at off2 */
	T_SCORE,	/* "SYMBOL SCORE"; struct mg_score * at off, size_t at off2 */
	T_HELO_MAP,	/* "IP NAME"; struct mg_helo_map * at off, size_t at off2 (issue B) */
	T_FEEDS,	/* one path or http(s) URL a line (issue D); char ** at off, size_t at off2 */
	T_TLD_SCORES,	/* "TLD SCORE[, ...]" (issue D); struct mg_score * at off, size_t at off2 */
	T_DOMAIN_LIST,	/* list of domain names (issue D); char ** at off, size_t count at off2 */
	T_COUNT_
};

#define SET_REQUIRED	0x01	/* must be given; def is NULL */
#define SET_REPEAT	0x02	/* may be given on several lines, each appends */
#define SET_EMPTY_OK	0x04	/* the empty value is valid */
#define SET_ENUM_STR	0x08	/* T_ENUM stored as its name (char *) */
#define SET_SECRET	0x10	/* T_PATH to a file group and others must not be able to read */

/* One row of the settings table (config/settings.c). */
struct setting {
	const char *name;
	enum setting_scope scope;
	enum setting_type type;
	const char *def;	/* default as written in a file; NULL for SET_REQUIRED */
	long long min, max;	/* T_INT, T_DOUBLE, T_SIZE, T_DURATION */
	int reloadable;		/* 0: a change needs a restart (config_static_changed) */
	const char *issue;	/* "A" = in effect now; else the issue letter that implements it */
	size_t off, off2, off3;	/* into struct mg_config or struct mg_domain (by scope) */
	size_t size;		/* sizeof the field at off (T_INT) */
	const char *const *choices;	/* T_ENUM, T_LAYERS: NULL-terminated */
	unsigned flags;		/* SET_* */
	const char *doc;	/* one or two sentences for mailguard.conf(5) */
};

extern const struct setting config_settings[];
extern const size_t config_n_settings;

/* Finds the row for name in scope; NULL if there is none. */
const struct setting *config_setting_find(const char *name, enum setting_scope scope);
/* 1 when the setting is in effect in this build (issue "A"). */
int config_setting_in_effect(const struct setting *s);

/* A problem found in a value: the offending part (a slice of the value) and an optional reason. */
struct value_error {
	struct slice bad;
	const char *why;
};

/* Parses value into obj (struct mg_config or struct mg_domain, by s->scope). On success the old
 * value is freed and replaced (SET_REPEAT types append) and 0 is returned; on error obj is
 * unchanged and -1 is returned with *e filled in. */
int config_value_parse(const struct setting *s, const char *value, void *obj,
    struct value_error *e);
/* Appends the canonical text of the value (SET_REPEAT: one item per line, '\n'-separated). */
void config_value_format(const struct setting *s, const void *obj, struct buf *out);
void config_value_free(const struct setting *s, void *obj);
/* Appends what a valid value looks like, e.g. "an integer from 1 to 10000". */
void config_value_expected(const struct setting *s, struct buf *out);
/* Short type name for documentation ("size", "duration", ...). */
const char *config_type_name(enum setting_type t);
/* Whether a trailing " # comment" is stripped from values of this type. */
int config_type_allows_comment(enum setting_type t);

/* Syntax checks shared by the value parsers and the list parser. */
int config_is_domain_name(const char *s, size_t len);
int config_is_address(const char *s, size_t len);
int config_is_ip_literal(const char *s, size_t len);
/* Formats bytes / seconds with the largest exact unit ("50m", "5d", "0"). */
void config_format_size(long long v, struct buf *out);
void config_format_duration(long long v, struct buf *out);

/* Error sink shared by one load or parse: counts errors and writes "file:line: message" lines. */
struct config_ctx {
	FILE *errors;		/* borrowed: may be NULL */
	int n_errors;
};
void config_error(struct config_ctx *ctx, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Appends 'text' for the "found ..." part of a message: quoted, sanitised, capped. */
void config_quote(struct buf *out, const char *p, size_t len);

/* Line iterator over a file's text. Lines are split on '\n'; a trailing '\r' is dropped. Lines
 * longer than CONFIG_LINE_MAX and lines with NUL bytes are reported and skipped. */
struct config_lines {
	const char *p, *end;
	int line;
};
void config_lines_init(struct config_lines *it, const char *text, size_t len);
int config_lines_next(struct config_ctx *ctx, const char *file, struct config_lines *it,
    struct slice *line_r);
/* Drops a trailing comment (whitespace then '#') from a value; 1 if one was dropped. */
struct slice config_strip_comment(struct slice v);
/* First byte that is not printable ASCII or tab, or NULL. */
const char *config_find_unprintable(struct slice v);

/* Settings files (parse.c). lines[i] receives the line of config_settings[i] (0 = not given). */
void config_defaults_apply(enum setting_scope scope, void *obj);
void config_settings_free(enum setting_scope scope, void *obj);
void config_parse_settings(struct config_ctx *ctx, enum setting_scope scope, void *obj,
    const char *file, const char *text, size_t len, int *lines);
/* Cross-setting checks (validate.c); lines as filled by config_parse_settings. */
void config_validate_global(struct config_ctx *ctx, const struct mg_config *cfg, const char *file,
    const int *lines);
void config_validate_domain(struct config_ctx *ctx, const struct mg_domain *d, const int *lines);
/* Checks the secrecy of SET_SECRET files that exist (after path resolution). */
void config_check_secrets(struct config_ctx *ctx, const struct mg_config *cfg, const char *file,
    const int *lines);

/* List files (lists.c). */
void config_parse_list(struct config_ctx *ctx, const char *file, const char *text, size_t len,
    struct mg_list *out);

#endif
