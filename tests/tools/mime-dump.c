/* mime-dump: parses a message file with mime_parse (common/mime.h) and prints the result as one
 * JSON object on stdout, for tests/integ/test_mime_corpus.py (compared with the stalwart
 * mail-parser expectations) and for debugging. Usage: mime-dump [-t] FILE
 *   -t  text only: print mime_msg.text and exit (no JSON)
 * Per part: parent, depth, type, subtype, charset, encoding, filename, attachment, flags,
 * headers, "utf8" (text leaves: decoded body converted to UTF-8, HTML not reduced), "hex"
 * (other leaves: decoded octets), "text" (the part's share of mime_msg.text). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mime.h"
#include "common/mime_int.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

#define DUMP_FILE_MAX (64 * 1024 * 1024)

static void
jstr(const char *s, size_t n)
{
	size_t i;

	putchar('"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\r')
			fputs("\\r", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void
jcstr(const char *s)
{
	if (s == NULL)
		fputs("null", stdout);
	else
		jstr(s, strlen(s));
}

static void
dump_part(const struct mime_msg *m, size_t i)
{
	const struct mime_part *p = &m->parts[i];
	struct mime_conv cv;
	struct buf u;
	unsigned fl = 0;
	size_t j;

	printf("{\"parent\":%d,\"depth\":%d,\"type\":", p->parent, p->depth);
	jcstr(p->type);
	fputs(",\"subtype\":", stdout);
	jcstr(p->subtype);
	fputs(",\"charset\":", stdout);
	jcstr(p->charset);
	fputs(",\"encoding\":", stdout);
	jcstr(p->encoding);
	fputs(",\"filename\":", stdout);
	jcstr(p->filename);
	printf(",\"attachment\":%d,\"flags\":%u,\"decoded_total\":%zu,\"headers\":[",
	    p->is_attachment, p->flags, p->decoded_total);
	for (j = 0; j < p->n_headers; j++) {
		fputs(j ? ",[" : "[", stdout);
		jcstr(p->headers[j].name);
		putchar(',');
		jcstr(p->headers[j].value);
		putchar(']');
	}
	putchar(']');
	if (strcmp(p->type, "text") == 0 || strcmp(p->type, "multipart") == 0) {
		mime_conv_init(&cv);
		buf_init(&u, (size_t)-1);
		(void)mime_to_utf8(&cv, p->charset, p->decoded.data ? p->decoded.data : "",
		    p->decoded.len, &u, &fl);
		fputs(",\"utf8\":", stdout);
		jstr(u.data ? u.data : "", u.len);
		buf_free(&u);
		mime_conv_fini(&cv);
	} else {
		fputs(",\"hex\":\"", stdout);
		for (j = 0; j < p->decoded.len; j++)
			printf("%02x", (unsigned char)p->decoded.data[j]);
		putchar('"');
	}
	fputs(",\"text\":", stdout);
	jstr(m->text.data ? m->text.data + p->text_off : "", p->text_len);
	putchar('}');
}

static void
dump(const struct mime_msg *m)
{
	size_t i;

	fputs("{\"subject\":", stdout);
	jcstr(m->subject);
	fputs(",\"from\":", stdout);
	jcstr(m->from);
	printf(",\"flags\":%u,\"html_parts\":%zu,\"text_parts\":%zu,\"attachments\":%zu,"
	    "\"images\":%zu,\"html_text_len\":%zu,\"html_hidden_len\":%zu,\"parts\":[",
	    m->flags, m->html_parts, m->text_parts, m->attachments, m->images, m->html_text_len,
	    m->html_hidden_len);
	for (i = 0; i < m->n_parts; i++) {
		if (i)
			putchar(',');
		dump_part(m, i);
	}
	fputs("],\"links\":[", stdout);
	for (i = 0; i < m->n_links; i++) {
		printf("%s{\"part\":%d,\"url\":", i ? "," : "", m->links[i].part);
		jcstr(m->links[i].url);
		fputs(",\"anchor\":", stdout);
		jcstr(m->links[i].anchor);
		putchar('}');
	}
	fputs("],\"text\":", stdout);
	jstr(m->text.data ? m->text.data : "", m->text.len);
	fputs("}\n", stdout);
}

int
main(int argc, char **argv)
{
	struct mime_msg *m;
	struct buf in;
	char chunk[65536];
	size_t n;
	FILE *f;
	int text_only = 0;

	if (argc > 1 && strcmp(argv[1], "-t") == 0) {
		text_only = 1;
		argc--;
		argv++;
	}
	if (argc != 2) {
		fputs("usage: mime-dump [-t] FILE\n", stderr);
		return 2;
	}
	if ((f = fopen(argv[1], "rb")) == NULL) {
		perror(argv[1]);
		return 1;
	}
	buf_init(&in, DUMP_FILE_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(&in, chunk, n) < 0) {
			fputs("mime-dump: file too large\n", stderr);
			return 1;
		}
	fclose(f);
	m = mime_parse(in.data ? in.data : "", in.len, NULL);
	if (text_only)
		fwrite(m->text.data ? m->text.data : "", 1, m->text.len, stdout);
	else
		dump(m);
	mime_msg_free(&m);
	buf_free(&in);
	return 0;
}
