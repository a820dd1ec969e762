#ifndef ADMIN_FORM_H
#define ADMIN_FORM_H
/* form.h: application/x-www-form-urlencoded decoding (query strings and POST bodies) for the
 * admin role (admin/form.c). I/O-free; fuzzed by tests/fuzz/fuzz_form.c. */
#include <stddef.h>

#include "admin/http.h"

#define FORM_MAX_NAME	256
#define FORM_MAX_VALUE	(64 * 1024)

/* Decodes len bytes of "a=1&b=x+y%21" into fields (names and values percent- and '+'-decoded;
 * empty pairs skipped; a pair without '=' has the value ""). Refuses more than
 * HTTP_MAX_FORM_FIELDS fields, a name over FORM_MAX_NAME or a value over FORM_MAX_VALUE bytes,
 * invalid escapes and NUL (raw or %00). Returns 0 with *fields_r (owned by the caller:
 * form_fields_free) and *n_r, or -1 with *error_r (nothing allocated). */
int form_decode(const char *s, size_t len, struct http_field **fields_r, size_t *n_r,
    const char **error_r);
void form_fields_free(struct http_field *fields, size_t n);

#endif
