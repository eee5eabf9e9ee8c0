/* workers/tracing.h — a job's part of its trace (docs/observability.md, tracing): the context
 * its request record came with (Kafka headers traceparent / tracestate from the ingest node; a
 * new trace when it has none), a traceparent on every provider call naming that attempt's span,
 * and the spans the worker exports when the job ends: the queue wait, the job (kind CONSUMER),
 * one per attempt (kind CLIENT, GenAI attributes) and the publishing of its results. */
#ifndef LQ_WORKER_TRACING_H
#define LQ_WORKER_TRACING_H

#include <librdkafka/rdkafka.h>

#include "workers/worker_internal.h"

/** Start the worker's exporter when tracing.otlp_endpoint is set (LQ_OK also when not). */
lq_err_t worker_tracing_start(worker_t *w, char *errstr, size_t errstr_size);
void worker_tracing_stop(worker_t *w);

/** Read j's trace context from its message's headers, or start a trace. */
void worker_tracing_read(worker_t *w, job_t *j, const rd_kafka_message_t *m);

/** The headers that carry j's context on a copy of its request record (the deferred topic);
 * NULL without memory. */
rd_kafka_headers_t *worker_tracing_headers(const job_t *j);

/** A new attempt begins: its span id and start. */
void worker_tracing_attempt(job_t *j);

/** The provider call's header lines ("traceparent: ...", "tracestate: ...") into
 * tp (LQ_TRACEPARENT_LEN + 14 bytes) and *ts (NULL when none; points into j). */
void worker_tracing_call_headers(const job_t *j, char *tp, size_t tp_size, const char **ts);

/** j's trace id as 32 hex characters (33 bytes). */
void worker_tracing_trace_id(const job_t *j, char out[33]);

/** j ended: its spans go to the exporter when it is sampled (publish_start_us: when its
 * results began to be published, the cluster's time). */
void worker_tracing_export(worker_t *w, const job_t *j, int64_t publish_start_us);

#endif
