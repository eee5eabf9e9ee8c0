/* common/trace.h — W3C Trace Context (traceparent / tracestate): parsed at ingest, carried in
 * Kafka headers to the worker, sent on each provider call; and the spans that llmq's daemons
 * export over OTLP/HTTP (common/otlp.h). docs/observability.md describes the spans. */
#ifndef LQ_TRACE_H
#define LQ_TRACE_H

#include <stddef.h>
#include <stdint.h>

#define LQ_TRACEPARENT_LEN 55  /* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define LQ_TRACESTATE_MAX  512 /* the W3C limit; a longer one is dropped, not cut */
#define LQ_TRACE_SAMPLED   0x01

typedef struct lq_trace_ctx {
    uint8_t trace_id[16];
    uint8_t span_id[8]; /* the parent of the next span made in this context */
    uint8_t flags;
} lq_trace_ctx_t;

/** Parse a traceparent header value (W3C Trace Context level 1: version 00, or a later version
 * read as 00 when its first 55 characters have 00's form). Surrounding spaces and tabs are
 * ignored. 0 and *out set, or -1 (bad form, an all-zero id, version ff). */
int lq_traceparent_parse(const char *s, size_t len, lq_trace_ctx_t *out);

/** The traceparent of ctx: out must hold LQ_TRACEPARENT_LEN + 1 bytes. */
void lq_traceparent_format(const lq_trace_ctx_t *ctx, char out[LQ_TRACEPARENT_LEN + 1]);
/** The traceparent that names span_id (a span of ctx's trace) as the parent. */
void lq_traceparent_of(const lq_trace_ctx_t *ctx, const uint8_t span_id[8],
                       char out[LQ_TRACEPARENT_LEN + 1]);

/** 1 when s (len bytes) may be forwarded as a tracestate: at most LQ_TRACESTATE_MAX printable
 * ASCII characters (the list's members are not checked one by one; a receiver drops what it
 * does not understand). */
int lq_tracestate_valid(const char *s, size_t len);

/** New random ids (not all zero; not cryptographic: a per-thread generator seeded from the
 * system's random source). */
void lq_trace_new_trace_id(uint8_t out[16]);
void lq_trace_new_span_id(uint8_t out[8]);

/** A new trace: random trace id and parent span id, sampled when a random draw falls under
 * sample_percent (0..100). */
void lq_trace_start(lq_trace_ctx_t *ctx, int sample_percent);

#endif
