/* fuzz_admin_json: libFuzzer target for the JSON API's request decoding (admin/act_domain.c
 * act_json_value, as admin/api_main.c applies it to a {"settings": {...}} body, with jansson's
 * own limits and JSON_REJECT_DUPLICATES) and for the path splitting of the page and API routes
 * (act_path_name). Besides the sanitizers, aborts when an invariant breaks: a converted value
 * never contains NUL, holds a newline only for repeatable keys, null always means "unset", and
 * a path name is non-empty, has no '/', and fits its buffer. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/act_domain.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUST(cond) do { if (!(cond)) abort(); } while (0)

static void
check_settings(json_t *settings)
{
	const char *key;
	json_t *v;

	if (!json_is_object(settings))
		return;
	json_object_foreach(settings, key, v) {
		const struct act_key *k = act_domain_key(key);
		const struct act_key *keys;
		size_t n = act_domain_keys(&keys);
		struct buf out;
		int unset = 0;
		/* unknown keys are refused by the API; try the value with every kind anyway */
		for (size_t i = 0; i < n; i++) {
			if (k != NULL && &keys[i] != k)
				continue;
			buf_init(&out, 16 * 1024 * 1024);
			if (act_json_value(&keys[i], v, &out, &unset) == 0) {
				MUST(!unset || json_is_null(v));
				MUST(out.len == 0 || memchr(out.data, '\0', out.len) == NULL);
				if (keys[i].kind != ACT_LINES && out.len > 0 && !json_is_string(v) &&
				    !json_is_array(v))
					MUST(memchr(out.data, '\n', out.len) == NULL);
			}
			buf_free(&out);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t err;
	json_t *j;
	char *path, name[256];
	const char *rest;

	if (size > 256 * 1024)
		return 0;
	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
	if (j != NULL) {
		check_settings(json_object_get(j, "settings"));
		check_settings(j);
		json_decref(j);
	}
	path = xstrndup((const char *)data, size);
	rest = act_path_name(path, "/domains/", name, sizeof(name));
	if (rest != NULL) {
		MUST(name[0] != '\0' && strchr(name, '/') == NULL && strlen(name) < sizeof(name));
		MUST(*rest == '\0' || *rest == '/');
		MUST(act_domain_name_ok(name) == 0 || strlen(name) <= 253);
	}
	xfree(path);
	return 0;
}
