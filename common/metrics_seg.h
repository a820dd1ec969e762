#ifndef COMMON_METRICS_SEG_H
#define COMMON_METRICS_SEG_H
/* metrics_seg.h: the layout of one role's counter segment, state_dir/stats/<role>.stats, shared by
 * the writer (common/metrics.c, in every role) and the reader (admin/metrics.c). One fixed-size
 * file mapped MAP_SHARED; every field is naturally aligned and updated with relaxed atomics.
 * The header records the sizes below: a reader rejects a segment whose header differs from its own
 * compiled layout (a newer or older binary), and a writer recreates it (see metrics.c).
 *
 * Domain slots: state 0 = free, 1 = being claimed (name not yet complete), 2 = ready. A writer
 * claims a free slot with a compare-and-swap 0 -> 1, writes hash and name, then stores 2 with
 * release order; a reader looks at name and counters only after an acquire load that sees 2. */
#include <stdint.h>

#include "common/metrics.h"

#define METRICS_MAGIC		0x5453474du	/* "MGST" little-endian */
#define METRICS_VERSION		1
#define METRICS_BUCKETS		13		/* finite bucket bounds; one more for +Inf */
#define METRICS_NAME_MAX	256		/* domain name bytes including the NUL */
#define METRICS_ROLE_MAX	16

/* Upper bounds (seconds) of the histogram buckets, increasing; +Inf is implicit. */
extern const double metrics_bucket_bounds[METRICS_BUCKETS];

enum { METRICS_SLOT_FREE = 0, METRICS_SLOT_CLAIMING = 1, METRICS_SLOT_READY = 2 };

struct metrics_dom_slot {
	uint32_t state;
	uint32_t hash;			/* FNV-1a of name */
	char name[METRICS_NAME_MAX];
	uint64_t v[MD_METRIC_COUNT_];
};

struct metrics_hist {
	uint64_t bucket[METRICS_BUCKETS + 1];	/* per-bucket counts (not cumulative); last = +Inf */
	uint64_t sum_ns;			/* sum of observations in nanoseconds */
};

struct metrics_seg_header {
	uint32_t magic, version;
	uint32_t n_metrics, n_dom_metrics, n_hist, n_buckets, dom_slots, slot_size;
	uint64_t size;			/* sizeof(struct metrics_seg) */
	int64_t sup_pid;		/* the supervisor that started the roles writing it */
	int64_t created;		/* unix time the segment was (re)created at zero */
	char role[METRICS_ROLE_MAX];
};

struct metrics_seg {
	struct metrics_seg_header h;
	uint64_t v[M_METRIC_COUNT_];		/* counters; gauges hold an int64_t */
	struct metrics_hist hist[MH_METRIC_COUNT_];
	struct metrics_dom_slot other;		/* NULL domain, full table, unusable name */
	struct metrics_dom_slot dom[METRICS_DOMAIN_SLOTS];
};

/* Fills hdr with this binary's layout (magic .. slot_size, size); the rest is left as it is. */
void metrics_seg_layout(struct metrics_seg_header *hdr);
/* 1 when hdr describes this binary's layout, 0 otherwise. */
int metrics_seg_layout_ok(const struct metrics_seg_header *hdr);
/* The calling process's mapped segment (NULL when closed); for tests and tools. */
const struct metrics_seg *metrics_segment(void);
/* FNV-1a hash of the first len bytes of s. */
uint32_t metrics_name_hash(const char *s, size_t len);

#endif
