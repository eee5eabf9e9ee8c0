/* workers/consumer.h — taking requests, deferred requests, batch jobs and cancellations from
 * Kafka: a bounded number of messages per turn, a job per request for the fair queue (or its
 * dead-letter copy when it cannot be decoded), the request partitions paused while
 * worker.max_queued jobs wait, the batch partitions while interactive work needs the room
 * (workers/batches.h), and rebalances. */
#ifndef LQ_WORKER_CONSUMER_H
#define LQ_WORKER_CONSUMER_H

#include "workers/worker_internal.h"

/** Read what is waiting, as long as there is room (when stopping, requests read are left for
 * redelivery); 1 when the batch's budget ran out (more may be waiting). */
int consumer_poll(worker_t *w, int stopping);

/** Pause the request partitions when the queue is full, resume them once down to three
 * quarters; the deferred partitions as queueing_throttle_deferred says, the batch partitions
 * as batches_throttle says. */
void consumer_throttle(worker_t *w);

/** Pause (1) or resume (0) the request partitions; cancellations always flow. */
void consumer_pause(worker_t *w, int pause);

/** The consumer's rebalance callback (rd_kafka_conf_set_rebalance_cb; opaque = the worker). */
void consumer_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t *parts, void *opaque);

#endif
