#ifndef FILTER_FILTER_INT_H
#define FILTER_FILTER_INT_H
/* Internal interfaces of the filter role (the filter/ sources only): the symbol and score table (score.c,
 * pure), the per-session state and IPC handlers (fsession.c), connect-time RBL lookups (rbl.c),
 * the pool jobs (checks.c) and the role's shared state (filter.c). Thread affinity is stated per
 * function: "loop" = the filter's main thread, "worker" = a pool thread. */
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/dns.h"
#include "common/envelope.h"
#include "common/ipc_msg.h"
#include "config/config.h"
#include "filter/greylist.h"
#include "filter/spf.h"
#include "lib/buf.h"
#include "lib/ipc.h"
#include "lib/kvdb.h"
#include "lib/workq.h"

/* ---- score.c: symbols and the verdict (pure, any thread) ---- */

#define FILTER_SYM_MAX 48		/* symbols kept per message; later ones still count */
#define FILTER_SYM_NAME_MAX 64

struct filter_sym {
	char name[FILTER_SYM_NAME_MAX];
	double score;
};

struct filter_score {
	struct filter_sym sym[FILTER_SYM_MAX];
	size_t n;
	double total;
	int allow;		/* an allow list matched: deliver whatever the score */
	int block;		/* a block list matched: reject whatever the score */
};

struct filter_thresholds {
	double reject, quarantine, greylist;
	int greylist_enabled;
};

/* The built-in score of a symbol; 0 for unknown names. */
double filter_score_default(const char *name);
/* The score cfg gives name: a `score` override if any, else the built-in one. */
double filter_score_value(const struct mg_config *cfg, const char *name);
/* Adds name with filter_score_value(cfg, name). */
void filter_score_add(struct filter_score *s, const struct mg_config *cfg, const char *name);
/* Adds name with an explicit value (RBL lists carry their own score). */
void filter_score_add_value(struct filter_score *s, const char *name, double value);
/* Appends every symbol of src to dst. */
void filter_score_merge(struct filter_score *dst, const struct filter_score *src);
/* The action the score asks for: block -> REJECT, allow -> DELIVER, then total >= reject ->
 * REJECT, >= quarantine -> QUARANTINE, >= greylist with greylisting enabled -> GREYLIST (the
 * caller then consults the triplet database), else DELIVER. */
enum filter_action filter_score_decide(const struct filter_score *s,
    const struct filter_thresholds *t);
/* "SPF_FAIL(3.00), DKIM_NONE(0.50)" appended to out. Returns 0 or -1 (out's max). */
int filter_score_symbols(const struct filter_score *s, struct buf *out);
/* "deliver", "quarantine", "greylist", "tempfail", "reject". */
const char *filter_action_name(enum filter_action a);

/* ---- filter.c: role state ---- */

/* One configuration generation: jobs keep theirs alive (refs, loop thread only) across reloads. */
struct filter_gen {
	struct mg_config *cfg;
	struct mg_greylist *gl;		/* NULL if greylisting could not start */
	int refs;
};

struct filter_state {
	struct mg_dns *dns;
	struct mg_kvdb *kv;		/* NULL: greylist and DMARC rows disabled */
	struct mg_kvdb_table *dmarc_tab;
	struct mg_psl *psl;		/* NULL: DMARC layer off */
	struct workq *wq;
	struct ipc_chan *smtpd;
	struct filter_gen *gen;		/* current */
	uint64_t next_gen;
	int shutting_down;
	ev_timer maint;			/* filter_maintenance_interval */
	int maint_busy;			/* a maintenance job is queued or running */
};
extern struct filter_state filter;

/* Per-worker library handles (STYLE.md §9: nothing shared that the library does not allow). */
struct filter_thread {
	struct mg_spf *spf;
	struct mg_dkim_verifier *dkim;
	struct buf msg;		/* the message read for the content layers (up to FILTER_READ_MAX) */
};

/* Messages up to this size are read into the thread's buffer; larger ones are mapped. (A map
 * costs a page fault per 4 KiB and an munmap that interrupts the other cores to flush their
 * TLBs: for the usual few-KiB message it cost more than the read.) */
#define FILTER_READ_MAX (1024 * 1024)

struct filter_gen *filter_gen_ref(void);		/* loop */
void filter_gen_unref(struct filter_gen **g);	/* loop */

/* ---- fsession.c: sessions and IPC (loop) ---- */

struct check_job;
struct spf_job;

struct fsession {
	char sid[17];
	uint64_t gen;			/* changes on MAIL: results for an older one are dropped */
	char client[64];
	struct sockaddr_storage ss;
	int has_addr;
	int mynet;
	/* RBL */
	struct rbl_query *rbl;
	size_t n_rbl, rbl_pending;
	struct filter_score rbl_score;
	/* SPF (started at MAIL) */
	int spf_state;			/* 0 not started, 1 running, 2 done */
	struct mg_spf_result spf;
	struct check_job *waiting;	/* CHECK parked until RBL and SPF are done */
	struct fsession *hnext;
};

void fsession_init(void);
void fsession_free_all(void);
struct fsession *fsession_find(const char *sid);
/* Called when an RBL query or the SPF job of s finished: submits a parked CHECK if ready. */
void fsession_progress(struct fsession *s);
void filter_smtpd_msg(struct ipc_chan *chan, struct ipc_msg *msg, void *arg);
/* Sends the verdict of a finished check job (loop). */
void fsession_send_verdict(struct check_job *j);

/* ---- rbl.c (loop) ---- */

struct rbl_query {
	struct fsession *s;
	struct mg_dns_query *q;
	size_t idx;			/* into the generation's cfg->rbl */
	char zone_symbol[FILTER_SYM_NAME_MAX];
	double score;
	uint32_t codes[MG_RBL_CODES_MAX];
	size_t n_codes;
};
/* Starts one query per configured list for s (skipped for mynetworks clients). */
void rbl_start(struct fsession *s, const struct mg_config *cfg);
/* Cancels pending queries of s. */
void rbl_cancel(struct fsession *s);
/* 1 if an A answer addr (host byte order) counts for a list with these codes. Pure. */
int rbl_code_matches(uint32_t addr, const uint32_t *codes, size_t n_codes);

/* ---- checks.c: pool jobs ---- */

struct spf_job {
	struct workq_job w;
	char sid[17];
	uint64_t gen;
	char client[64];
	char *helo, *sender;
	long long deadline_ms;
	struct mg_spf_result res;
};

struct check_job {
	struct workq_job w;
	uint32_t req;
	char sid[17];
	uint64_t gen;
	struct filter_gen *g;		/* counted reference */
	struct envelope env;
	int fd;
	off_t size;
	struct sockaddr_storage ss;
	int has_addr;
	int mynet;
	long long start_ms, deadline_ms;
	int spf_done;
	struct mg_spf_result spf;
	struct filter_score rbl;
	/* results */
	enum filter_action action;
	char status[8];
	char text[160];
	struct filter_score score;
	struct buf headers;
	char detail[256];
	/* incoming reports (dmarc_rua_keep = no): parsed by the job, recipients consumed */
	struct rua_set *rua;
	struct buf consumed;		/* '\n' after each consumed recipient */
};

void *filter_thread_init(void *arg);			/* worker */
void filter_thread_fini(void *ctx, void *arg);		/* worker */
struct spf_job *spf_job_new(const struct fsession *s, const char *helo, const char *sender,
    long long deadline_ms);
void spf_job_free(struct spf_job **j);
void spf_job_run(struct workq_job *w, void *ctx);	/* worker */
void check_job_run(struct workq_job *w, void *ctx);	/* worker */
void check_job_free(struct check_job **j);		/* loop */

#endif
