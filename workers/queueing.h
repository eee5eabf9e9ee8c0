/* workers/queueing.h — between consuming and the first attempt: a decoded request waits in
 * its tenant's queue (workers/fair_queue.c) until a worker.max_inflight slot is free, and the
 * weighted fair scheduler picks which tenant's job starts next. A request over its tenant's
 * bound (worker.tenant_queue_max) is set aside to topic.deferred (key tenant) and its message
 * is done once Kafka acknowledged the copy, and the tenant's later requests follow it there
 * (its order is kept). The deferred partitions are read back into the queues while the whole
 * queue is less than half full (worker.max_queued), whatever the tenant's bound. */
#ifndef LQ_WORKER_QUEUEING_H
#define LQ_WORKER_QUEUEING_H

#include "workers/worker_internal.h"

/** The fair queue, its metrics. */
lq_err_t queueing_init(worker_t *w, char *errstr, size_t errstr_size);

/** A decoded job: its route, then its tenant's queue, or set aside when the queue is full
 * (or the tenant has requests set aside already: its order is kept). A job with no route,
 * cancelled before it came (itself or its batch), or of a batch expired already fails at
 * once. */
void queueing_admit(worker_t *w, job_t *j);

/** j takes a slot (unless it holds one) and makes its first attempt. */
void queueing_start(worker_t *w, job_t *j);

/** Start queued jobs, picked fairly, while slots are free; each passes its limits first
 * (workers/limits_gate.h). A batch job whose batch expired fails instead (batch_expired). */
void queueing_dispatch(worker_t *w);

/** j joined / left the fair queue: the counts of queued jobs and of the batch jobs among them
 * (the caller updates the queued gauge). */
void queueing_count_in(worker_t *w, const job_t *j);
void queueing_count_out(worker_t *w, const job_t *j);

/** Take j out of the queue when it is queued there (a cancellation); 1 when it was. */
int queueing_unqueue(worker_t *w, job_t *j);

/** Pause the deferred partitions while the queue is half full; resume them at 3/8. */
void queueing_throttle_deferred(worker_t *w);

/** After a rebalance: drop the queued jobs of partitions no longer ours (never started; their
 * new owner runs them). */
void queueing_drop_revoked(worker_t *w);

/** Stopping (or destroyed): drop the queued jobs; their messages are left for redelivery. */
void queueing_drop(worker_t *w);
void queueing_free(worker_t *w);

#endif
