/* form.c: decoding of application/x-www-form-urlencoded data (WHATWG URL §5.1: '&'-separated
 * name=value pairs, '+' for space, %XX escapes) from query strings and POST bodies of the
 * console, plus the request accessors of admin/http.h. Runs in the admin role on hostile input:
 * at most HTTP_MAX_FORM_FIELDS fields, names <= FORM_MAX_NAME and values <= FORM_MAX_VALUE
 * bytes after decoding; invalid escapes and NUL are refused (the request gets a 400). */
#include "admin/form.h"

#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/str.h"
#include "lib/xalloc.h"

/* Decodes s[0..len) into out (capped at max). Returns 0, or -1 with *error_r. */
static int
form_unescape(const char *s, size_t len, struct buf *out, const char **error_r)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int h, l;

			if (i + 2 >= len) {
				*error_r = "invalid percent escape in form data";
				return -1;
			}
			h = str_hex_digit((unsigned char)s[i + 1]);
			l = str_hex_digit((unsigned char)s[i + 2]);
			if (h < 0 || l < 0) {
				*error_r = "invalid percent escape in form data";
				return -1;
			}
			c = (unsigned char)(h * 16 + l);
			i += 2;
		}
		if (c == '\0') {
			*error_r = "NUL in form data";
			return -1;
		}
		if (buf_append_char(out, (char)c) < 0) {
			*error_r = "form field too long";
			return -1;
		}
	}
	return 0;
}

void
form_fields_free(struct http_field *fields, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		xfree(fields[i].name);
		xfree(fields[i].value);
	}
	xfree(fields);
}

int
form_decode(const char *s, size_t len, struct http_field **fields_r, size_t *n_r,
    const char **error_r)
{
	struct http_field *f = NULL;
	size_t n = 0, pos = 0;
	struct buf name, value;

	*fields_r = NULL;
	*n_r = 0;
	buf_init(&name, FORM_MAX_NAME);
	buf_init(&value, FORM_MAX_VALUE);
	while (pos < len) {
		const char *amp = memchr(s + pos, '&', len - pos);
		size_t end = amp ? (size_t)(amp - s) : len;
		const char *eq = memchr(s + pos, '=', end - pos);
		size_t name_end = eq ? (size_t)(eq - s) : end;

		if (end == pos) {
			pos++;
			continue;
		}
		if (n >= HTTP_MAX_FORM_FIELDS) {
			*error_r = "too many form fields";
			goto fail;
		}
		buf_reset(&name);
		buf_reset(&value);
		if (form_unescape(s + pos, name_end - pos, &name, error_r) < 0)
			goto fail;
		if (eq != NULL && form_unescape(eq + 1, end - name_end - 1, &value, error_r) < 0)
			goto fail;
		f = xreallocarray(f, n + 1, sizeof(*f));
		f[n].name = xstrndup(name.data ? name.data : "", name.len);
		f[n].value = xstrndup(value.data ? value.data : "", value.len);
		n++;
		pos = end + 1;
	}
	buf_free(&name);
	buf_free(&value);
	*fields_r = f;
	*n_r = n;
	return 0;
fail:
	buf_free(&name);
	buf_free(&value);
	form_fields_free(f, n);
	return -1;
}

const char *
http_header_get(const struct http_request *req, const char *name)
{
	const char *v = NULL;

	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			v = req->headers[i].value;
	return v;
}

static const char *
field_get(const struct http_field *f, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(f[i].name, name) == 0)
			return f[i].value;
	return NULL;
}

const char *
http_query_get(const struct http_request *req, const char *name)
{
	return field_get(req->query, req->n_query, name);
}

const char *
http_form_get(const struct http_request *req, const char *name)
{
	return field_get(req->form, req->n_form, name);
}
