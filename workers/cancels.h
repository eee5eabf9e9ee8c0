/* workers/cancels.h — cancellations from the cancels topic (co-partitioned with the
 * requests): a job in flight or queued here stops now; one not seen yet (or set aside to the
 * deferred topic) is remembered (the last CANCEL_MEMORY ids) and skipped when it arrives. A
 * cancellation whose job id is a batch id ("batch_…") cancels every job of that batch: those
 * here stop now, and the batch is remembered (the last BATCH_CANCEL_MEMORY batches) so that
 * its jobs still to come are skipped. */
#ifndef LQ_WORKER_CANCELS_H
#define LQ_WORKER_CANCELS_H

#include "workers/worker_internal.h"

#define CANCELS_BATCH_PREFIX  "batch_"
#define CANCELS_BATCH_MESSAGE "The batch was cancelled before this request ran."

/** The memory of the batches cancelled. */
lq_err_t cancels_init(worker_t *w, char *errstr, size_t errstr_size);

/** A message of the cancels topic: cancel its job (or batch), and store the message's offset. */
void cancels_handle(worker_t *w, const rd_kafka_message_t *m);

/** 1 when job_id was cancelled before its request arrived. */
int cancels_known(const worker_t *w, const char *job_id);

/** 1 when batch_id (NULL: none) is a batch cancelled here. */
int cancels_batch_known(const worker_t *w, const char *batch_id);

/** Forget every remembered cancellation. */
void cancels_free(worker_t *w);

#endif
