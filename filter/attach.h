#ifndef FILTER_ATTACH_H
#define FILTER_ATTACH_H
/* Attachment checks (issue D), internal to filter/: file names, declared content types and
 * the magic bytes of decoded parts, and the member names of zip archives (libzip, read from
 * memory). Pure apart from libzip's in-memory reading; any thread. */
#include <stddef.h>

#include "common/mime.h"

struct filter_score;
struct mg_config;

#define ATTACH_ZIP_ENTRIES_MAX 1000	/* zip members whose names are looked at */
#define ATTACH_NAME_MAX 255		/* octets of a file name looked at (NAME_MAX) */

/* Kinds recognised from the first octets of a part. */
enum attach_magic {
	MAGIC_UNKNOWN = 0, MAGIC_PE, MAGIC_ELF, MAGIC_MACHO, MAGIC_ZIP, MAGIC_PDF, MAGIC_OLE,
	MAGIC_RAR, MAGIC_7Z, MAGIC_GZIP, MAGIC_PNG, MAGIC_JPEG, MAGIC_GIF,
};

enum attach_magic attach_magic(const unsigned char *p, size_t len);
const char *attach_magic_name(enum attach_magic m);
/* The last extension of name, lower case, without the dot, trailing dots and spaces ignored
 * (Windows drops them); "" if none. */
void attach_ext(const char *name, char *ext, size_t extsize);
/* 1 for extensions Windows runs or mounts (exe, scr, js, lnk, iso, ...). */
int attach_ext_is_dangerous(const char *ext);

/* Adds the ATTACH_* symbols of message m to score (each at most once): ATTACH_DANGEROUS_EXT,
 * ATTACH_DOUBLE_EXT, ATTACH_MACRO_DOC, ATTACH_TYPE_MISMATCH, ATTACH_EXEC_DISGUISED,
 * ATTACH_ZIP_DANGEROUS, ATTACH_ZIP_ENCRYPTED, ATTACH_ZIP_NESTED, ATTACH_ZIP_BAD. */
void attach_check_msg(const struct mg_config *cfg, const struct mime_msg *m,
    struct filter_score *score);

#endif
