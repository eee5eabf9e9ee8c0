/* ingest/produce.h — a request becomes durable: its Avro record is produced to
 * llmq.requests (key = tenant), and Kafka's delivery report decides the answer of an async
 * job (202 only once Kafka acknowledged it, 413 when Kafka refuses its size, else 503). A
 * sync or streamed request waits for its reply from the moment before it is produced
 * (replies.h); it is sent at once by an eager producer (no linger) while few records await
 * acknowledgement there (ingest.eager_inflight_max), else it lingers with others. Async
 * submissions have a producer of their own that lingers longer (ingest.async_linger_ms):
 * their callers wait for the acknowledgement only. A record produced after another one was
 * acknowledged follows it in the partition whichever producer carries it; only concurrent
 * requests, which have no order, can interleave. The batched producer of sync requests
 * carries the cancellation of a stream whose client went away. */
#ifndef LQ_INGEST_PRODUCE_H
#define LQ_INGEST_PRODUCE_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "ingest/request_ctx.h"

/** Produce c's encoded record (buf is copied). Suspends the connection: the answer comes
 * from the delivery report (async), the reply topic (sync, stream), or at once on failure.
 * Returns INGEST_STEP_SUSPENDED. */
ingest_step_t ingest_produce_request(req_ctx_t *c, const void *buf, size_t len);

/** Answer 413 request_too_large: a record of len bytes is more than Kafka takes. */
void ingest_produce_set_too_large(req_ctx_t *c, size_t len);

/** The producer's delivery report callback (rd_kafka_conf_set_dr_msg_cb); opaque is the
 * ingest_node_t. */
void ingest_produce_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/** Ask the worker that runs c's job to stop it (llmq.cancels, key = tenant). */
void ingest_produce_cancel(req_ctx_t *c, const char *reason);

/** The Kafka key of c's request record (and of its cancellation, so that both reach the same
 * partition): its tenant's id, or for a tenant whose requests are spread over N > 1
 * partitions (tenants.request_shards) "<tenant>/<shard>", the shard picked from the job id.
 * Its length; out holds at most size - 1 characters. */
size_t ingest_request_key(const req_ctx_t *c, char *out, size_t size);

#endif
