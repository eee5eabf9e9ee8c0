/* workers/cancels.h — cancellations from the cancels topic (co-partitioned with the
 * requests): a job in flight or queued here stops now; one not seen yet (or set aside to the
 * deferred topic) is remembered (the last CANCEL_MEMORY ids) and skipped when it arrives. */
#ifndef LQ_WORKER_CANCELS_H
#define LQ_WORKER_CANCELS_H

#include "workers/worker_internal.h"

/** A message of the cancels topic: cancel its job, and store the message's offset. */
void cancels_handle(worker_t *w, const rd_kafka_message_t *m);

/** 1 when job_id was cancelled before its request arrived. */
int cancels_known(const worker_t *w, const char *job_id);

/** Forget every remembered cancellation. */
void cancels_free(worker_t *w);

#endif
