/* fuzz_admin_dmarc.c: libFuzzer target for the console's DMARC views (admin/page_dmarc.c,
 * page_dmarc_domain.c): the JSON the filter prints for `dmarc domains|summary|reports|show` and
 * `tls-reports summary` carries strings from report mail (org names, report ids, domains, PTR
 * names), and members may be missing or of any type. The input is split at NUL bytes into up to
 * three replies (each parsed by jansson as the admin role does; a non-object is a failed
 * reply); the first byte picks the page and the exit status of the first reply. Invariants: no
 * crash, no leak, and no active markup in the output whatever the strings hold: no "<script",
 * "<img", "<iframe" or "<svg onload" (a hostile string must come out escaped). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "admin/page_dmarc.h"
#include "lib/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
has_ci(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(hay + i, needle, n) == 0)
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const bad[] = { "<script", "<img", "<iframe", "<svg onload" };
	struct dv v;
	struct buf o;
	size_t off = 1;
	int page, st;

	if (size < 1 || size > 256 * 1024)
		return 0;
	memset(&v, 0, sizeof(v));
	memcpy(v.domain, "example.org", sizeof("example.org"));
	v.days = 1 + data[0] % 366;
	v.n_cmds = 3;
	if (data[0] & 0x40) {	/* a since / until period */
		v.absolute = 1;
		v.days = 3660;
		memcpy(v.since_s, "2016-01-01", 11);
		memcpy(v.until_s, "2026-01-08", 11);
	}
	v.limit = 1 + data[0] % 7;
	page = data[0] % 3;
	for (size_t i = 0; i < 3; i++) {
		const uint8_t *end = off < size ? memchr(data + off, 0, size - off) : NULL;
		size_t len = off < size ? (end ? (size_t)(end - (data + off)) : size - off) : 0;
		json_error_t err;

		v.r[i].status = 0;
		v.r[i].j = json_loadb((const char *)data + off, len, JSON_REJECT_DUPLICATES, &err);
		if (v.r[i].j == NULL || !json_is_object(v.r[i].j)) {
			json_decref(v.r[i].j);
			v.r[i].j = NULL;
			v.r[i].status = (data[0] & 0x80) ? 1 : -1;
		}
		v.r[i].text = strdup("error: fuzz\n");
		off += len + 1;
	}
	buf_init(&o, 64u * 1024 * 1024);
	st = page == 0 ? dv_body_overview(&o, &v) : page == 1 ? dv_body_domain(&o, &v) :
	    dv_body_report(&o, &v);
	if (st < 200 || st > 599)
		abort();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (o.data != NULL && has_ci(o.data, o.len, bad[i]))
			abort();
	buf_free(&o);
	for (size_t i = 0; i < 3; i++) {
		json_decref(v.r[i].j);
		free(v.r[i].text);
	}
	return 0;
}
