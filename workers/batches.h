/* workers/batches.h — batch jobs (a ChatRequest with batch_id: a line of a Batch API batch,
 * read from topic.batch, or read back from topic.deferred after being set aside) yield to
 * interactive traffic. The worker holds at most worker.batch_max_inflight of them (read and
 * not yet finished or released: queued, in flight, or on their way to topic.deferred; a line
 * that ends at once, cancelled or expired, is not held for its outputs' acknowledgement, so
 * the lines of a cancelled batch drain at the speed of reading); the batch partitions are paused at that bound and
 * while interactive jobs wait for a slot, and resumed once the batch jobs held are down to
 * half the bound and no interactive job waits. So under sustained interactive load batch work
 * gets the capacity left over and never fills the queue or the slots. A batch job whose
 * deadline (the batch's expiry, wall clock) passed when it is picked fails without a call. */
#ifndef LQ_WORKER_BATCHES_H
#define LQ_WORKER_BATCHES_H

#include <stddef.h>
#include <stdint.h>

#include "schemas/records.h"
#include "workers/worker_internal.h"

/* Interactive jobs waiting for a slot beyond which the batch partitions pause. */
#define BATCH_BACKLOG_PAUSE 4

#define BATCH_EXPIRED_MESSAGE \
    "This request could not be executed before the batch's completion window expired."

/** The bound on batch jobs held (worker.batch_max_inflight; 0 = a quarter of
 * worker.max_inflight, at least 1), the metrics. */
void batches_init(worker_t *w);

/** Whether the batch partitions should be paused (1) or read (0), given whether they are
 * paused now, the batch jobs held, the bound on them, and the interactive jobs waiting for a
 * slot (backlog): paused at the bound or beyond BATCH_BACKLOG_PAUSE waiting; resumed once at
 * most half the bound is held and nothing waits. Pure. */
int batches_pause_wanted(int paused, size_t held, size_t cap, size_t backlog);

/** Pause or resume the batch partitions as batches_pause_wanted says for the worker now. */
void batches_throttle(worker_t *w);

/** A rebalance resumed every partition: the batch partitions are read again. */
void batches_assigned(worker_t *w);

/** j (decoded) is a batch job: counted among those held until it is released. */
void batches_hold(job_t *j);

/** j finished (its outputs may still be on their way) or was released: no longer held (when
 * it was counted). */
void batches_done(job_t *j);

/** 1 when r is a batch job whose deadline (> 0) is before now_ms (wall clock). Pure. */
int batches_expired(const lq_chat_request_t *r, int64_t now_ms);

#endif
