/* workers/job.h — a job's lifetime: made when its message arrives, released once it finished
 * and Kafka acknowledged each of its outputs (j->pending counts both). */
#ifndef LQ_WORKER_JOB_H
#define LQ_WORKER_JOB_H

#include "workers/worker_internal.h"

/** A job for message m of src's topic (tracked in its partition); NULL when out of memory
 * (the message is then left for redelivery). It holds no in-flight slot yet. */
job_t *job_new(worker_t *w, const rd_kafka_message_t *m, job_source_t src);

/** j takes one of the worker.max_inflight slots (given back when it is released). */
void job_take_slot(job_t *j);

/** Drop one hold on j; the last one marks its message done, gives its slot back and frees
 * it. */
void job_release(job_t *j);

#endif
