/* metrics.c: the writer side of the role counters (common/metrics.h, layout in metrics_seg.h).
 * Runs in every role that calls metrics_open (smtpd, queue, delivery, filter, signer), from the
 * main loop thread and, in the filter, from its pool threads at once: every update is a relaxed
 * __atomic operation on the MAP_SHARED segment, with no lock and no system call.
 * Trusts its callers; domain names are checked ([a-z0-9._-], 1..253 bytes after lower-casing,
 * anything else counts under "other") because outbound sender domains come from the network.
 * Reset rule: the segment remembers the supervisor pid; a role opening it under another supervisor
 * (a new daemon start) replaces it with a zeroed file (written beside it, then renamed, so a reader
 * holding the old mapping never sees a truncated file); a restarted role keeps its counters. */
#include "common/metrics.h"
#include "common/metrics_seg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/envelope.h"
#include "lib/log.h"
#include "lib/str.h"

const double metrics_bucket_bounds[METRICS_BUCKETS] = {
	0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
};

/* How long a thread waits for another to finish claiming a slot before skipping it (a claimer
 * killed between its two steps leaves the slot at CLAIMING forever; it is then never used). */
#define METRICS_CLAIM_SPINS 1000

static struct metrics_seg *seg;	/* NULL: closed, every update is a no-op */
static int seg_is_filter;		/* metrics_observe_dns records */

void
metrics_seg_layout(struct metrics_seg_header *hdr)
{
	hdr->magic = METRICS_MAGIC;
	hdr->version = METRICS_VERSION;
	hdr->n_metrics = M_METRIC_COUNT_;
	hdr->n_dom_metrics = MD_METRIC_COUNT_;
	hdr->n_hist = MH_METRIC_COUNT_;
	hdr->n_buckets = METRICS_BUCKETS;
	hdr->dom_slots = METRICS_DOMAIN_SLOTS;
	hdr->slot_size = sizeof(struct metrics_dom_slot);
	hdr->size = sizeof(struct metrics_seg);
}

int
metrics_seg_layout_ok(const struct metrics_seg_header *hdr)
{
	struct metrics_seg_header want;

	metrics_seg_layout(&want);
	return hdr->magic == want.magic && hdr->version == want.version &&
	    hdr->n_metrics == want.n_metrics && hdr->n_dom_metrics == want.n_dom_metrics &&
	    hdr->n_hist == want.n_hist && hdr->n_buckets == want.n_buckets &&
	    hdr->dom_slots == want.dom_slots && hdr->slot_size == want.slot_size &&
	    hdr->size == want.size;
}

uint32_t
metrics_name_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

/* Maps an existing segment if it has our layout and our supervisor; NULL otherwise. */
static struct metrics_seg *
metrics_map_existing(const char *path, int64_t sup_pid)
{
	struct metrics_seg *m;
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != sizeof(struct metrics_seg)) {
		close(fd);
		return NULL;
	}
	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return NULL;
	if (!metrics_seg_layout_ok(&m->h) || m->h.sup_pid != sup_pid) {
		munmap(m, sizeof(*m));
		return NULL;
	}
	return m;
}

/* Creates a zeroed segment beside path and renames it into place. */
static struct metrics_seg *
metrics_create(const char *path, const char *role_name, int64_t sup_pid)
{
	struct metrics_seg *m;
	char tmp[4096];
	int fd;

	if (str_fmt(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) < 0)
		return NULL;
	(void)unlink(tmp);
	if ((fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return NULL;
	if (ftruncate(fd, (off_t)sizeof(*m)) < 0) {
		close(fd);
		(void)unlink(tmp);
		return NULL;
	}
	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		(void)unlink(tmp);
		return NULL;
	}
	metrics_seg_layout(&m->h);
	m->h.sup_pid = sup_pid;
	m->h.created = (int64_t)time(NULL);
	str_lcpy(m->h.role, role_name, sizeof(m->h.role));
	str_lcpy(m->other.name, "other", sizeof(m->other.name));
	m->other.state = METRICS_SLOT_READY;
	if (rename(tmp, path) < 0) {
		munmap(m, sizeof(*m));
		(void)unlink(tmp);
		return NULL;
	}
	return m;
}

void
metrics_open(const char *state_dir, const char *role_name)
{
	char dir[4096], path[4096];
	int64_t sup_pid = (int64_t)getppid();

	metrics_close();
	seg_is_filter = strcmp(role_name, "filter") == 0;
	if (str_fmt(dir, sizeof(dir), "%s/stats", state_dir) < 0 ||
	    str_fmt(path, sizeof(path), "%s/%s.stats", dir, role_name) < 0) {
		log_err("metrics: state_dir path too long; counters disabled");
		return;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_err("metrics: mkdir %s: %m; counters disabled", dir);
		return;
	}
	if ((seg = metrics_map_existing(path, sup_pid)) != NULL) {
		log_debug("metrics: %s continues its counters", path);
		return;
	}
	if ((seg = metrics_create(path, role_name, sup_pid)) == NULL)
		log_err("metrics: cannot create %s: %m; counters disabled", path);
}

void
metrics_close(void)
{
	if (seg != NULL)
		munmap(seg, sizeof(*seg));
	seg = NULL;
}

const struct metrics_seg *
metrics_segment(void)
{
	return seg;
}

void
metrics_inc(enum metric m, uint64_t by)
{
	if (seg != NULL && (unsigned)m < M_METRIC_COUNT_)
		__atomic_fetch_add(&seg->v[m], by, __ATOMIC_RELAXED);
}

void
metrics_set(enum metric m, int64_t value)
{
	if (seg != NULL && (unsigned)m < M_METRIC_COUNT_)
		__atomic_store_n(&seg->v[m], (uint64_t)value, __ATOMIC_RELAXED);
}

void
metrics_add(enum metric m, int64_t delta)
{
	/* Two's complement: adding the unsigned image of a negative delta subtracts. */
	if (seg != NULL && (unsigned)m < M_METRIC_COUNT_)
		__atomic_fetch_add(&seg->v[m], (uint64_t)delta, __ATOMIC_RELAXED);
}

/* Lower-cases domain into out; returns its length, or 0 when it is not a name we count. */
static size_t
metrics_norm_domain(const char *domain, char *out)
{
	size_t n = 0;

	if (domain == NULL)
		return 0;
	for (; domain[n] != '\0'; n++) {
		unsigned char c = (unsigned char)domain[n];

		if (n >= 253)
			return 0;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
		    c == '-' || c == '_'))
			return 0;
		out[n] = (char)c;
	}
	out[n] = '\0';
	return n;
}

/* Waits (bounded) for a slot being claimed by another thread; 1 when it became ready. */
static int
metrics_wait_ready(struct metrics_dom_slot *s)
{
	for (int i = 0; i < METRICS_CLAIM_SPINS; i++) {
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == METRICS_SLOT_READY)
			return 1;
		sched_yield();
	}
	return 0;
}

/* Finds or claims the slot of name (open addressing, linear probing); NULL when full. */
static struct metrics_dom_slot *
metrics_slot(const char *name, size_t len)
{
	uint32_t h = metrics_name_hash(name, len);

	for (uint32_t i = 0; i < METRICS_DOMAIN_SLOTS; i++) {
		struct metrics_dom_slot *s = &seg->dom[(h + i) % METRICS_DOMAIN_SLOTS];
		uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);

		if (st == METRICS_SLOT_FREE) {
			uint32_t want = METRICS_SLOT_FREE;

			if (__atomic_compare_exchange_n(&s->state, &want, METRICS_SLOT_CLAIMING, 0,
			    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
				s->hash = h;
				memcpy(s->name, name, len + 1);
				__atomic_store_n(&s->state, METRICS_SLOT_READY, __ATOMIC_RELEASE);
				return s;
			}
			st = want;	/* somebody else claimed it first: look at what it holds */
		}
		if (st == METRICS_SLOT_CLAIMING && !metrics_wait_ready(s))
			continue;
		if (s->hash == h && memcmp(s->name, name, len + 1) == 0)
			return s;
	}
	return NULL;
}

void
metrics_inc_domain(enum metric_dom m, const char *domain, uint64_t by)
{
	struct metrics_dom_slot *s = NULL;
	char name[METRICS_NAME_MAX];
	size_t len;

	if (seg == NULL || (unsigned)m >= MD_METRIC_COUNT_)
		return;
	if ((len = metrics_norm_domain(domain, name)) > 0)
		s = metrics_slot(name, len);
	if (s == NULL)
		s = &seg->other;
	__atomic_fetch_add(&s->v[m], by, __ATOMIC_RELAXED);
}

void
metrics_observe(enum metric_hist hm, double seconds)
{
	struct metrics_hist *hist;
	size_t b = 0;

	if (seg == NULL || (unsigned)hm >= MH_METRIC_COUNT_)
		return;
	if (!(seconds >= 0))	/* negative or NaN: a clock step, count it as zero */
		seconds = 0;
	while (b < METRICS_BUCKETS && seconds > metrics_bucket_bounds[b])
		b++;
	hist = &seg->hist[hm];
	__atomic_fetch_add(&hist->bucket[b], 1, __ATOMIC_RELAXED);
	if (seconds > 1e9)
		seconds = 1e9;
	__atomic_fetch_add(&hist->sum_ns, (uint64_t)(seconds * 1e9), __ATOMIC_RELAXED);
}

void
metrics_observe_dns(double seconds)
{
	if (seg_is_filter)
		metrics_observe(MH_DNS_SECONDS, seconds);
}

void
metrics_inc_rcpt_domains(enum metric_dom m, const struct envelope *env, uint64_t by)
{
	if (seg == NULL)
		return;
	for (size_t i = 0; i < env->n_rcpts; i++) {
		const char *d = envelope_addr_domain(env->rcpts[i].addr);
		size_t j;

		for (j = 0; j < i; j++)
			if (strcasecmp(envelope_addr_domain(env->rcpts[j].addr), d) == 0)
				break;
		if (j == i)
			metrics_inc_domain(m, d, by);
	}
}

void
metrics_reset_all(const char *state_dir)
{
	char dir[4096], path[4096];
	struct dirent *de;
	DIR *d;

	if (str_fmt(dir, sizeof(dir), "%s/stats", state_dir) < 0 || (d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		if (n > 6 && strcmp(de->d_name + n - 6, ".stats") == 0 &&
		    str_fmt(path, sizeof(path), "%s/%s", dir, de->d_name) == 0)
			(void)unlink(path);
	}
	closedir(d);
}
