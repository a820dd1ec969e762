/* attach.c: the attachment layer of the content checks. For every attachment (or named leaf
 * part) of a parsed message: dangerous extensions (programs, scripts, shortcuts, disk images),
 * double extensions ("invoice.pdf.exe"), macro-enabled Office documents, the declared content
 * type and the extension against the kind the decoded octets' magic numbers show, and for zip
 * archives the names of their members (libzip reading from memory: ATTACH_ZIP_ENTRIES_MAX
 * members, nested archives never opened, encrypted members flagged). Runs on filter pool threads
 * (layer `attachments`) and in tools. Input is hostile: names are cut at ATTACH_NAME_MAX, the
 * decoded part is at most MIME_DECODED_MAX octets (common/mime.h), libzip only reads the
 * central directory of an archive in memory. */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <zip.h>

#include "filter/attach.h"
#include "filter/content.h"
#include "filter/filter_int.h"
#include "lib/str.h"

static const char *const dangerous_ext[] = {
	"exe", "scr", "pif", "com", "bat", "cmd", "js", "jse", "vbs", "vbe", "wsf", "wsh", "ws",
	"wsc", "hta", "lnk", "iso", "img", "vhd", "vhdx", "msi", "msp", "jar", "ps1", "psm1", "cpl",
	"reg", "scf", "msc", "chm", "hlp", "gadget", "application", "appx", "appxbundle", "msix",
	"xll", "inf", "sct", "url", NULL
};
static const char *const macro_ext[] = { "docm", "dotm", "xlsm", "xltm", "xlam", "pptm", "potm",
	"ppam", "ppsm", "sldm", NULL };
/* Extensions a user takes for a document: the inner one of a double extension. */
static const char *const document_ext[] = { "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx",
	"rtf", "txt", "jpg", "jpeg", "png", "gif", "htm", "html", "odt", "ods", "csv", "mp3",
	"mp4", "zip", "rar", NULL };
static const char *const archive_ext[] = { "zip", "rar", "7z", "gz", "tgz", "tar", "bz2",
	"xz", "cab", "arj", "lzh", "ace", "iso", "img", "z", NULL };

static int
in_list(const char *const *l, const char *s)
{
	for (size_t i = 0; l[i] != NULL; i++)
		if (strcmp(l[i], s) == 0)
			return 1;
	return 0;
}

int
attach_ext_is_dangerous(const char *ext)
{
	return in_list(dangerous_ext, ext);
}

enum attach_magic
attach_magic(const unsigned char *p, size_t len)
{
	static const struct {
		const char *sig;
		size_t len;
		enum attach_magic m;
	} sigs[] = {
		{ "MZ", 2, MAGIC_PE }, { "\x7f" "ELF", 4, MAGIC_ELF },
		{ "\xcf\xfa\xed\xfe", 4, MAGIC_MACHO }, { "\xfe\xed\xfa\xcf", 4, MAGIC_MACHO },
		{ "PK\x03\x04", 4, MAGIC_ZIP }, { "PK\x05\x06", 4, MAGIC_ZIP },
		{ "%PDF-", 5, MAGIC_PDF }, { "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8, MAGIC_OLE },
		{ "Rar!\x1a\x07", 6, MAGIC_RAR }, { "7z\xbc\xaf\x27\x1c", 6, MAGIC_7Z },
		{ "\x1f\x8b", 2, MAGIC_GZIP }, { "\x89PNG\r\n\x1a\n", 8, MAGIC_PNG },
		{ "\xff\xd8\xff", 3, MAGIC_JPEG }, { "GIF8", 4, MAGIC_GIF },
	};

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (len >= sigs[i].len && memcmp(p, sigs[i].sig, sigs[i].len) == 0)
			return sigs[i].m;
	return MAGIC_UNKNOWN;
}

const char *
attach_magic_name(enum attach_magic m)
{
	static const char *const names[] = { "unknown", "pe", "elf", "macho", "zip", "pdf", "ole",
		"rar", "7z", "gzip", "png", "jpeg", "gif" };

	return (size_t)m < sizeof(names) / sizeof(names[0]) ? names[m] : "unknown";
}

void
attach_ext(const char *name, char *ext, size_t extsize)
{
	size_t len = strnlen(name, ATTACH_NAME_MAX), dot;

	while (len > 0 && (name[len - 1] == '.' || name[len - 1] == ' '))
		len--;
	ext[0] = '\0';
	for (dot = len; dot > 0 && name[dot - 1] != '.' && name[dot - 1] != '/' &&
	    name[dot - 1] != '\\'; dot--)
		;
	if (dot == 0 || name[dot - 1] != '.' || len - dot >= extsize || len - dot == 0)
		return;
	for (size_t i = dot; i < len; i++)
		ext[i - dot] = (char)tolower((unsigned char)name[i]);
	ext[len - dot] = '\0';
}

/* The extension before the last one ("pdf" for "invoice.pdf   .exe"). */
static void
inner_ext(const char *name, char *ext, size_t extsize)
{
	char tmp[ATTACH_NAME_MAX + 1];
	size_t len;

	str_lcpy(tmp, name, sizeof(tmp));
	len = strlen(tmp);
	while (len > 0 && (tmp[len - 1] == '.' || tmp[len - 1] == ' '))
		len--;
	while (len > 0 && tmp[len - 1] != '.')
		len--;
	if (len == 0) {
		ext[0] = '\0';
		return;
	}
	tmp[len - 1] = '\0';
	attach_ext(tmp, ext, extsize);
}

/* The kind an extension promises (MAGIC_UNKNOWN: no promise we check). */
static enum attach_magic
ext_kind(const char *ext)
{
	static const struct { const char *ext; enum attach_magic m; } map[] = {
		{ "pdf", MAGIC_PDF }, { "zip", MAGIC_ZIP }, { "docx", MAGIC_ZIP },
		{ "xlsx", MAGIC_ZIP }, { "pptx", MAGIC_ZIP }, { "docm", MAGIC_ZIP },
		{ "xlsm", MAGIC_ZIP }, { "pptm", MAGIC_ZIP }, { "odt", MAGIC_ZIP },
		{ "ods", MAGIC_ZIP }, { "jar", MAGIC_ZIP }, { "xls", MAGIC_OLE },
		{ "ppt", MAGIC_OLE }, { "msi", MAGIC_OLE }, { "png", MAGIC_PNG },
		{ "jpg", MAGIC_JPEG }, { "jpeg", MAGIC_JPEG }, { "gif", MAGIC_GIF },
		{ "rar", MAGIC_RAR }, { "7z", MAGIC_7Z }, { "gz", MAGIC_GZIP }, { "exe", MAGIC_PE },
		{ "dll", MAGIC_PE }, { "scr", MAGIC_PE },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].ext, ext) == 0)
			return map[i].m;
	return MAGIC_UNKNOWN;
}

/* The kind a declared content type promises. */
static enum attach_magic
type_kind(const struct mime_part *p)
{
	if (strcmp(p->type, "image") == 0) {
		if (strcmp(p->subtype, "png") == 0)
			return MAGIC_PNG;
		if (strcmp(p->subtype, "jpeg") == 0 || strcmp(p->subtype, "jpg") == 0)
			return MAGIC_JPEG;
		if (strcmp(p->subtype, "gif") == 0)
			return MAGIC_GIF;
		return MAGIC_UNKNOWN;
	}
	if (strcmp(p->type, "application") != 0)
		return MAGIC_UNKNOWN;
	if (strcmp(p->subtype, "pdf") == 0)
		return MAGIC_PDF;
	if (strcmp(p->subtype, "zip") == 0 || strcmp(p->subtype, "x-zip-compressed") == 0 ||
	    strncmp(p->subtype, "vnd.openxmlformats-", 19) == 0)
		return MAGIC_ZIP;
	if (strcmp(p->subtype, "x-msdownload") == 0 || strcmp(p->subtype, "x-dosexec") == 0 ||
	    strcmp(p->subtype, "x-msdos-program") == 0)
		return MAGIC_PE;
	return MAGIC_UNKNOWN;
}

static int
is_exec(enum attach_magic m)
{
	return m == MAGIC_PE || m == MAGIC_ELF || m == MAGIC_MACHO;
}

struct attach_seen {
	unsigned bits;
};

static void
add_once(struct attach_seen *s, unsigned bit, struct filter_score *score,
    const struct mg_config *cfg, const char *name)
{
	if (s->bits & bit)
		return;
	s->bits |= bit;
	filter_score_add(score, cfg, name);
}

/* Checks of one file name (an attachment's or a zip member's). zip = 1 for members. */
static void
check_name(const char *name, int zip, struct attach_seen *seen, struct filter_score *score,
    const struct mg_config *cfg)
{
	char ext[16], inner[16];

	attach_ext(name, ext, sizeof(ext));
	if (ext[0] == '\0')
		return;
	inner_ext(name, inner, sizeof(inner));
	if (attach_ext_is_dangerous(ext)) {
		add_once(seen, zip ? 0x100 : 0x1, score, cfg,
		    zip ? "ATTACH_ZIP_DANGEROUS" : "ATTACH_DANGEROUS_EXT");
		if (inner[0] != '\0' && in_list(document_ext, inner))
			add_once(seen, 0x2, score, cfg, "ATTACH_DOUBLE_EXT");
	}
	if (in_list(macro_ext, ext))
		add_once(seen, 0x4, score, cfg, "ATTACH_MACRO_DOC");
	if (zip && in_list(archive_ext, ext))
		add_once(seen, 0x400, score, cfg, "ATTACH_ZIP_NESTED");
}

static void
check_zip(const struct mime_part *p, struct attach_seen *seen, struct filter_score *score,
    const struct mg_config *cfg)
{
	zip_error_t err;
	zip_source_t *src;
	zip_t *z;
	zip_int64_t n;

	if (p->decoded_total > p->decoded.len)
		return;		/* truncated by MIME_DECODED_MAX: the central directory is gone */
	zip_error_init(&err);
	src = zip_source_buffer_create(p->decoded.data, p->decoded.len, 0, &err);
	if (src == NULL) {
		zip_error_fini(&err);
		return;
	}
	if ((z = zip_open_from_source(src, ZIP_RDONLY, &err)) == NULL) {
		zip_source_free(src);
		zip_error_fini(&err);
		add_once(seen, 0x800, score, cfg, "ATTACH_ZIP_BAD");
		return;
	}
	n = zip_get_num_entries(z, 0);
	for (zip_int64_t i = 0; i < n && i < ATTACH_ZIP_ENTRIES_MAX; i++) {
		zip_stat_t st;

		zip_stat_init(&st);
		if (zip_stat_index(z, (zip_uint64_t)i, ZIP_FL_ENC_GUESS, &st) < 0)
			continue;
		if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
			add_once(seen, 0x200, score, cfg, "ATTACH_ZIP_ENCRYPTED");
		if ((st.valid & ZIP_STAT_NAME) && st.name != NULL) {
			const char *base = strrchr(st.name, '/');
			if (strcmp(st.name, "word/vbaProject.bin") == 0 ||
			    strcmp(st.name, "xl/vbaProject.bin") == 0 ||
			    strcmp(st.name, "ppt/vbaProject.bin") == 0)
				add_once(seen, 0x4, score, cfg, "ATTACH_MACRO_DOC");
			check_name(base != NULL ? base + 1 : st.name, 1, seen, score, cfg);
		}
	}
	zip_discard(z);		/* frees src too */
	zip_error_fini(&err);
}

static void
check_part(const struct mime_part *p, struct attach_seen *seen, struct filter_score *score,
    const struct mg_config *cfg)
{
	enum attach_magic magic, want_ext = MAGIC_UNKNOWN, want_type = type_kind(p);
	char ext[16] = "";

	magic = attach_magic((const unsigned char *)p->decoded.data, p->decoded.len);
	if (p->filename != NULL) {
		check_name(p->filename, 0, seen, score, cfg);
		attach_ext(p->filename, ext, sizeof(ext));
		want_ext = ext_kind(ext);
	}
	/* programs dressed as something else: by extension or by declared type */
	if (is_exec(magic) && !attach_ext_is_dangerous(ext) && ext_kind(ext) != MAGIC_PE &&
	    (ext[0] != '\0' || (want_type != MAGIC_UNKNOWN && want_type != MAGIC_PE)))
		add_once(seen, 0x8, score, cfg, "ATTACH_EXEC_DISGUISED");
	else if (magic != MAGIC_UNKNOWN && want_ext != MAGIC_UNKNOWN && magic != want_ext &&
	    !(want_ext == MAGIC_ZIP && magic == MAGIC_OLE))	/* encrypted OOXML is OLE */
		add_once(seen, 0x10, score, cfg, "ATTACH_TYPE_MISMATCH");
	else if (want_type != MAGIC_UNKNOWN && want_ext != MAGIC_UNKNOWN && want_type != want_ext &&
	    (is_exec(want_ext) || is_exec(want_type)))
		add_once(seen, 0x10, score, cfg, "ATTACH_TYPE_MISMATCH");
	if (magic == MAGIC_ZIP)
		check_zip(p, seen, score, cfg);
}

void
attach_check_msg(const struct mg_config *cfg, const struct mime_msg *m,
    struct filter_score *score)
{
	struct attach_seen seen = { 0 };

	for (size_t i = 0; i < m->n_parts; i++) {
		const struct mime_part *p = &m->parts[i];

		if (strcmp(p->type, "multipart") == 0 ||
		    (strcmp(p->type, "message") == 0 && strcmp(p->subtype, "rfc822") == 0))
			continue;
		if (!p->is_attachment && p->filename == NULL)
			continue;
		check_part(p, &seen, score, cfg);
	}
}

void
content_attach_check(struct content_ctx *c)
{
	if ((c->disabled & MG_LAYER_ATTACHMENTS) || c->mime == NULL)
		return;
	attach_check_msg(c->cfg, c->mime, c->score);
}
