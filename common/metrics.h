#ifndef COMMON_METRICS_H
#define COMMON_METRICS_H
/* metrics.h: the counters every role keeps for /metrics and the console's charts (issue H).
 * Each role writes only its own segment: state_dir/stats/<role>.stats, a fixed-size versioned file
 * mapped MAP_SHARED; an update is one relaxed atomic add on the mapped memory (no syscall, no lock,
 * safe from the filter's worker threads). The admin role maps every segment read-only, renders them
 * in Prometheus text format and samples them into Berkeley DB every minute for the charts
 * (admin/metrics.h). A segment records the supervisor pid; a role opening a segment written under
 * another supervisor replaces it with a zeroed one, so counters start at zero with the daemon
 * (Prometheus handles counter resets) and survive the restart of one role. */
#include <stddef.h>
#include <stdint.h>

/* Plain counters and gauges (one value each). Names in /metrics: "mailguard_" + name. */
enum metric {
	M_SMTP_CONNECTIONS,		/* counter: accepted SMTP connections (all listeners) */
	M_SMTP_SESSIONS,		/* gauge: open SMTP sessions */
	M_SMTP_REFUSED_LIMIT,		/* counter: connections closed with 421 (limits) */
	M_AUTH_FAILURES,		/* counter: failed SMTP AUTH */
	M_MESSAGES_OUTBOUND_IN,		/* counter: outbound messages accepted (250) for relay */
	M_QUEUE_ACTIVE,			/* gauge: messages being delivered */
	M_QUEUE_DEFERRED,		/* gauge: messages waiting for a retry (incl. rate-limited) */
	M_QUEUE_HELD,			/* gauge */
	M_QUEUE_QUARANTINED,		/* gauge: messages in quarantine */
	M_DKIM_SIGNATURES,		/* counter: DKIM-Signature headers made */
	M_DKIM_SIGN_FAILURES,		/* counter */
	M_DKIM_ROTATION_ALERTS,		/* gauge: domains whose key switch is withheld (DNS) */
	M_TLS_INBOUND,			/* counter: STARTTLS/implicit TLS handshakes completed */
	M_DMARC_REPORTS_STORED,		/* counter: incoming DMARC aggregate reports stored */
	M_DMARC_REPORTS_DUPLICATE,	/* counter: ... already stored (same org and report id) */
	M_DMARC_REPORTS_REFUSED,	/* counter: ... refused (garbage, caps, foreign domain) */
	M_TLS_REPORTS_STORED,		/* counter: incoming TLS reports (RFC 8460) stored */
	M_TLS_REPORTS_DUPLICATE,	/* counter */
	M_TLS_REPORTS_REFUSED,		/* counter */
	M_METRIC_COUNT_
};

/* Counters per protected domain (recipient domain inbound, sender domain outbound). */
enum metric_dom {
	MD_IN_DELIVER,			/* inbound messages accepted for delivery (verdict deliver) */
	MD_IN_QUARANTINE,		/* verdict quarantine */
	MD_IN_REJECT,			/* verdict reject (550) */
	MD_IN_GREYLIST,			/* verdict greylist (451) */
	MD_IN_TEMPFAIL,			/* filter tempfail (451) */
	MD_OUT_DELIVERED,		/* recipients delivered (inbound to transport or outbound MX) */
	MD_OUT_DEFERRED,		/* delivery attempts that failed temporarily */
	MD_OUT_BOUNCED,			/* recipients bounced (5xx or lifetime) */
	MD_OUT_SENT,			/* outbound recipients delivered to remote MX (subset) */
	MD_METRIC_COUNT_
};

/* Histograms (seconds; fixed buckets 1ms..30s, see metrics.c). */
enum metric_hist {
	MH_FILTER_SECONDS,		/* filter time per message (check to verdict) */
	MH_DNS_SECONDS,			/* DNS query latency (filter's resolver) */
	MH_DELIVERY_SECONDS,		/* one delivery transaction */
	MH_METRIC_COUNT_
};

#define METRICS_DOMAIN_SLOTS 4096	/* per role; further domains count under "other" */

/* Opens (creating) state_dir/stats/<role>.stats and maps it; call once in the role after the
 * privilege drop. On failure logs once and every update becomes a no-op. */
void metrics_open(const char *state_dir, const char *role);
/* Unmaps the segment (updates become no-ops); for tests and tools. */
void metrics_close(void);
void metrics_inc(enum metric m, uint64_t by);
void metrics_set(enum metric m, int64_t value);	/* gauges */
void metrics_add(enum metric m, int64_t delta);	/* gauges */
/* domain: lower-case protected domain name; NULL or unknown-slot overflow counts as "other". */
void metrics_inc_domain(enum metric_dom m, const char *domain, uint64_t by);
void metrics_observe(enum metric_hist h, double seconds);
/* MH_DNS_SECONDS, recorded only in the filter role: the resolver (common/dns.c) is shared with
 * delivery and tools, and the metric is the filter's lookup latency. Any thread. */
void metrics_observe_dns(double seconds);
/* Counts m once for each distinct recipient domain of env (inbound verdicts: the recipient
 * domain is the protected domain). Main loop thread or any thread. */
struct envelope;
void metrics_inc_rcpt_domains(enum metric_dom m, const struct envelope *env, uint64_t by);
/* Tools: removes every segment (roles keep counting into their unlinked mapping until they
 * reopen). Not needed at daemon start: see the reset rule above. */
void metrics_reset_all(const char *state_dir);

#endif
