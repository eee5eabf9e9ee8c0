/* ingest/tracing.h — a request's part of its trace (docs/observability.md, tracing): the
 * caller's W3C traceparent is read (or a trace is started), the request record carries the
 * context to the worker in Kafka headers, and the node exports two spans: the HTTP request
 * (kind SERVER, the caller's span its parent) and the enqueue (PRODUCER: produce to Kafka's
 * acknowledgement), whose id is the parent the worker's spans name. */
#ifndef LQ_INGEST_TRACING_H
#define LQ_INGEST_TRACING_H

#include <librdkafka/rdkafka.h>

#include "ingest/request_ctx.h"

/** Start the node's exporter when tracing.otlp_endpoint is set; LQ_OK also when it is not. */
lq_err_t ingest_tracing_start(ingest_node_t *n, char *errstr, size_t errstr_size);
void ingest_tracing_stop(ingest_node_t *n);

/** The trace context of c's request record, as Kafka headers (traceparent naming c's enqueue
 * span; tracestate as the caller sent it). NULL without memory: the record goes without. */
rd_kafka_headers_t *ingest_tracing_headers(req_ctx_t *c);

/** The enqueue was acknowledged (or failed). */
void ingest_tracing_acked(req_ctx_t *c);

/** The request is over: its spans go to the exporter when it is sampled. */
void ingest_tracing_end(req_ctx_t *c);

#endif
