#ifndef DELIVERY_STS_CACHE_H
#define DELIVERY_STS_CACHE_H
/* The on-disk form of the MTA-STS policy cache (state_dir/mta-sts.cache), see sts_cache.c. */
#include "delivery/mta_sts.h"
#include "lib/buf.h"

#define STS_CACHE_MAX_ENTRIES 20000
#define STS_CACHE_FILE_MAX (32 * 1024 * 1024)

struct sts_cache_entry {
	char domain[256];
	char id[STS_ID_MAX + 1];
	long long expires;	/* unix seconds */
	struct sts_policy pol;
};

/* Appends "policy DOMAIN ID EXPIRES HEX\n" to out. */
void sts_cache_format_line(struct buf *out, const char *domain, const char *id, long long expires,
    const struct sts_policy *pol);
/* Parses one line (without its newline). Returns 0 with *e filled, else -1 with *error_r. */
int sts_cache_parse_line(struct slice line, struct sts_cache_entry *e, const char **error_r);

#endif
