/* common/otlp.h — export spans to an OpenTelemetry collector over OTLP/HTTP (JSON encoding,
 * POST to the trace endpoint, e.g. http://collector:4318/v1/traces). Spans are encoded on the
 * caller's thread into a pending batch and sent by the exporter's own thread (every second, or
 * sooner when a batch fills), so a slow or absent collector never holds a request: when the
 * pending spans reach the queue bound, new ones are dropped and counted. */
#ifndef LQ_OTLP_H
#define LQ_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

typedef struct lq_otlp lq_otlp_t;

/* OTLP SpanKind */
typedef enum lq_span_kind {
    LQ_SPAN_INTERNAL = 1,
    LQ_SPAN_SERVER = 2,
    LQ_SPAN_CLIENT = 3,
    LQ_SPAN_PRODUCER = 4,
    LQ_SPAN_CONSUMER = 5
} lq_span_kind_t;

typedef enum lq_attr_type { LQ_ATTR_STR, LQ_ATTR_INT, LQ_ATTR_DOUBLE } lq_attr_type_t;

typedef struct lq_span_attr {
    const char *key;
    lq_attr_type_t type;
    const char *s; /* LQ_ATTR_STR; NULL: the attribute is left out */
    int64_t i;
    double d;
} lq_span_attr_t;

typedef struct lq_otel_span {
    const uint8_t *trace_id;  /* 16 bytes */
    const uint8_t *span_id;   /* 8 bytes */
    const uint8_t *parent_id; /* 8 bytes, or NULL for a root span */
    const char *name;
    lq_span_kind_t kind;
    int64_t start_us, end_us; /* Unix time, microseconds */
    int error;                /* 1: status ERROR with error_message; 0: status unset */
    const char *error_message;
    const lq_span_attr_t *attrs;
    size_t n_attrs;
} lq_otel_span_t;

/** Start an exporter sending to endpoint (an http:// or https:// URL), with headers
 * ("Name=Value,Name=Value", e.g. a collector's credentials; NULL or "": none) as service_name
 * (resource attribute service.name; service.version is llmq's version). max_queue: spans
 * pending at most. Registers its metrics (llmq_otlp_spans_exported_total,
 * llmq_otlp_spans_dropped_total, llmq_otlp_export_failures_total). NULL on failure. */
lq_otlp_t *lq_otlp_start(const char *endpoint, const char *headers, const char *service_name,
                         size_t max_queue);

/** The exporter the settings ask for (tracing.*): *out NULL and LQ_OK when no endpoint is
 * set; LQ_ERR_CONFIG (errstr says why) for a bad endpoint or header list. */
lq_err_t lq_otlp_from_settings(const lq_common_settings_t *set, const char *service_name,
                               lq_otlp_t **out, char *errstr, size_t errstr_size);

/** Queue one span (copied: the caller's strings may go away afterwards). Thread-safe; does not
 * block on the network. A NULL exporter ignores the span. */
void lq_otlp_add(lq_otlp_t *x, const lq_otel_span_t *span);

/** Send what is pending (waiting at most timeout_ms for the collector), stop the thread and
 * free. NULL is a no-op. */
void lq_otlp_stop(lq_otlp_t *x, int timeout_ms);

#endif
