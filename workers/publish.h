/* workers/publish.h — what a job publishes: its RUNNING status, the pieces of a streamed
 * answer, and when it finishes its response (and reply), dead-letter copy, usage and trace. */
#ifndef LQ_WORKER_PUBLISH_H
#define LQ_WORKER_PUBLISH_H

#include "workers/worker_internal.h"

/** An async job started: its status to the responses topic. */
void publish_status(worker_t *w, job_t *j, lq_job_status_t status);

/** A piece of answer text (a worker_delta_cb; arg = the job): a ChatChunk to the requester's
 * reply topic, for streaming requests. */
void publish_chunk(void *arg, const char *text, size_t len);

/** The job is over (j->result, j->cancelled): mask credentials in the answer, publish the
 * response (and the reply), the dead-letter copy of a retriable failure, the usage event and
 * the trace, then drop the job's own hold (its outputs hold it until delivered). */
void publish_finish(worker_t *w, job_t *j);

#endif
