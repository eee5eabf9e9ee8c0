/* workers/job.h — a job's lifetime: made when its message arrives, released once it finished
 * and Kafka acknowledged each of its outputs (j->pending counts both). */
#ifndef LQ_WORKER_JOB_H
#define LQ_WORKER_JOB_H

#include "workers/worker_internal.h"

/** A job for message m (tracked in its partition), counted in flight; NULL when out of
 * memory (the message is then left for redelivery). */
job_t *job_new(worker_t *w, const rd_kafka_message_t *m);

/** Drop one hold on j; the last one marks its message done, takes it out of the jobs in
 * flight and frees it. */
void job_release(job_t *j);

#endif
