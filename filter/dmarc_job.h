#ifndef FILTER_DMARC_JOB_H
#define FILTER_DMARC_JOB_H
/* The daily DMARC aggregate report job of the filter role (dmarc_job.c): a loop timer that
 * submits a pool job which turns one UTC day's stored rows into report files for the queue
 * (state_dir/dmarc-out/, doc/queue-format.md). Loop thread only. */
#include "config/config.h"

/* (Re)arms the check timer for cfg (start and reload); stops it when dmarc_report = no. */
void dmarc_job_arm(const struct mg_config *cfg);
/* Stops the timer (shutdown); a job in the pool finishes or is cancelled with the pool. */
void dmarc_job_stop(void);

#endif
