#include "workers/tracing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/otlp.h"
#include "workers/routing.h"

lq_err_t worker_tracing_start(worker_t *w, char *errstr, size_t errstr_size)
{
    return lq_otlp_from_settings(&w->set.common, "llmq-worker", &w->otlp, errstr, errstr_size);
}

void worker_tracing_stop(worker_t *w)
{
    lq_otlp_stop(w->otlp, 2000);
    w->otlp = NULL;
}

void worker_tracing_read(worker_t *w, job_t *j, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t n;

    lq_trace_new_span_id(j->job_span);
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h) {
        if (rd_kafka_header_get_last(h, "traceparent", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR && v &&
            lq_traceparent_parse(v, n, &j->trace) == 0)
            j->trace_has_parent = 1;
        if (j->trace_has_parent &&
            rd_kafka_header_get_last(h, "tracestate", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR && v &&
            lq_tracestate_valid(v, n) && (j->tracestate = malloc(n + 1))) {
            memcpy(j->tracestate, v, n);
            j->tracestate[n] = '\0';
        }
    }
    /* a batch line, or a record from before tracing: a trace of its own */
    if (!j->trace_has_parent)
        lq_trace_start(&j->trace, (int)w->set.common.tracing.sample_percent);
}

rd_kafka_headers_t *worker_tracing_headers(const job_t *j)
{
    rd_kafka_headers_t *h;
    char tp[LQ_TRACEPARENT_LEN + 1];

    if (!j->trace_has_parent)
        return NULL;
    h = rd_kafka_headers_new(2);
    if (!h)
        return NULL;
    lq_traceparent_format(&j->trace, tp);
    rd_kafka_header_add(h, "traceparent", -1, tp, LQ_TRACEPARENT_LEN);
    if (j->tracestate)
        rd_kafka_header_add(h, "tracestate", -1, j->tracestate, -1);
    return h;
}

void worker_tracing_attempt(job_t *j)
{
    lq_trace_new_span_id(j->attempt_span);
}

void worker_tracing_call_headers(const job_t *j, char *tp, size_t tp_size, const char **ts)
{
    char v[LQ_TRACEPARENT_LEN + 1];

    lq_traceparent_of(&j->trace, j->attempt_span, v);
    snprintf(tp, tp_size, "traceparent: %s", v);
    *ts = j->tracestate;
}

void worker_tracing_trace_id(const job_t *j, char out[33])
{
    lq_hex(out, j->trace.trace_id, 16);
}

/* ---- the spans ---- */

#define SPAN(j_, id_, parent_, name_, kind_, start_, end_, a_)                                   \
    (lq_otel_span_t)                                                                             \
    {                                                                                            \
        .trace_id = (j_)->trace.trace_id, .span_id = (id_), .parent_id = (parent_),              \
        .name = (name_), .kind = (kind_), .start_us = (start_), .end_us = (end_), .attrs = (a_), \
        .n_attrs = sizeof(a_) / sizeof((a_)[0])                                                  \
    }

/* OpenTelemetry's names of the providers (gen_ai.provider.name) */
static const char *genai_provider(worker_wire_t wire)
{
    switch (wire) {
    case WORKER_WIRE_ANTHROPIC:
        return "anthropic";
    case WORKER_WIRE_GEMINI:
        return "gcp.gemini";
    case WORKER_WIRE_OPENAI:
    default:
        return "openai";
    }
}

/* Accepted to picked up by this worker for its first attempt. */
static void queue_span(worker_t *w, const job_t *j)
{
    uint8_t id[8];
    lq_span_attr_t a[] = {
        {"llmq.job_id", LQ_ATTR_STR, j->req.job_id, 0, 0},
        {"llmq.worker_wait_ms", LQ_ATTR_INT, NULL, j->picked_ms - j->arrived_ms, 0},
    };
    lq_otel_span_t sp =
        SPAN(j, id, j->trace_has_parent ? j->trace.span_id : j->job_span, "llmq.queue",
             LQ_SPAN_INTERNAL, j->req.created_at_ms * 1000, j->picked_ms * 1000, a);

    lq_trace_new_span_id(id);
    lq_otlp_add(w->otlp, &sp);
}

/* The job in this worker: its message read to its results published. */
static void job_span(worker_t *w, const job_t *j, int64_t end_us)
{
    const worker_result_t *r = &j->result;
    char name[200];
    lq_span_attr_t a[] = {
        {"messaging.system", LQ_ATTR_STR, "kafka", 0, 0},
        {"messaging.operation.type", LQ_ATTR_STR, "process", 0, 0},
        {"messaging.destination.name", LQ_ATTR_STR, w->topics->requests, 0, 0},
        {"llmq.job_id", LQ_ATTR_STR, j->req.job_id, 0, 0},
        {"llmq.tenant_id", LQ_ATTR_STR, j->req.tenant_id, 0, 0},
        {"llmq.worker_id", LQ_ATTR_STR, w->id, 0, 0},
        {"llmq.route", LQ_ATTR_STR, j->route, 0, 0},
        {"llmq.attempts", LQ_ATTR_INT, NULL, j->attempts, 0},
        {"llmq.fallbacks", LQ_ATTR_INT, NULL, j->fallbacks, 0},
        {"gen_ai.operation.name", LQ_ATTR_STR, "chat", 0, 0},
        {"gen_ai.request.model", LQ_ATTR_STR, j->req.model, 0, 0},
        {"gen_ai.response.model", LQ_ATTR_STR, r->ok ? r->provider_model : NULL, 0, 0},
        {"gen_ai.usage.input_tokens", LQ_ATTR_INT, NULL, r->prompt_tokens, 0},
        {"gen_ai.usage.output_tokens", LQ_ATTR_INT, NULL, r->completion_tokens, 0},
        {"error.type", LQ_ATTR_STR, r->ok ? NULL : (r->err_code ? r->err_code : r->err_type), 0, 0},
    };
    lq_otel_span_t sp = SPAN(j, j->job_span, j->trace_has_parent ? j->trace.span_id : NULL, name,
                             LQ_SPAN_CONSUMER, lq_cluster_us_at(j->arrived_us), end_us, a);

    snprintf(name, sizeof(name), "process %s", w->topics->requests);
    sp.error = !r->ok;
    sp.error_message = r->ok ? NULL : (j->cancelled ? "cancelled" : "the job failed");
    lq_otlp_add(w->otlp, &sp);
}

/* One span per call to a provider (kind CLIENT); the last one carries the answer's usage. */
static void attempt_span(worker_t *w, const job_t *j, int i)
{
    const attempt_rec_t *h = &j->hist[i];
    const route_endpoint_t *ep = routing_endpoint(w->routing, h->endpoint);
    int ok = strcmp(h->outcome, "ok") == 0, last = i == j->n_hist - 1;
    const worker_result_t *r = &j->result;
    char name[160];
    lq_span_attr_t a[] = {
        {"gen_ai.operation.name", LQ_ATTR_STR, "chat", 0, 0},
        {"gen_ai.provider.name", LQ_ATTR_STR, genai_provider(ep->wire), 0, 0},
        {"gen_ai.request.model", LQ_ATTR_STR, h->model, 0, 0},
        {"gen_ai.response.model", LQ_ATTR_STR, ok && last ? r->provider_model : NULL, 0, 0},
        {"gen_ai.usage.input_tokens", LQ_ATTR_INT, NULL, ok && last ? r->prompt_tokens : 0, 0},
        {"gen_ai.usage.output_tokens", LQ_ATTR_INT, NULL, ok && last ? r->completion_tokens : 0, 0},
        {"llmq.endpoint", LQ_ATTR_STR, ep->name, 0, 0},
        {"llmq.outcome", LQ_ATTR_STR, h->outcome, 0, 0},
        {"error.type", LQ_ATTR_STR, ok ? NULL : h->outcome, 0, 0},
    };
    lq_otel_span_t sp =
        SPAN(j, h->span_id, j->job_span, name, LQ_SPAN_CLIENT, h->start_us, h->end_us, a);

    snprintf(name, sizeof(name), "chat %s", h->model);
    sp.error = !ok;
    sp.error_message = ok ? NULL : h->outcome;
    lq_otlp_add(w->otlp, &sp);
}

/* The job's response, usage and trace records handed to the producer. */
static void publish_span(worker_t *w, const job_t *j, int64_t start_us, int64_t end_us)
{
    uint8_t id[8];
    char name[200];
    lq_span_attr_t a[] = {
        {"messaging.system", LQ_ATTR_STR, "kafka", 0, 0},
        {"messaging.operation.type", LQ_ATTR_STR, "send", 0, 0},
        {"messaging.destination.name", LQ_ATTR_STR, w->topics->responses, 0, 0},
    };
    lq_otel_span_t sp = SPAN(j, id, j->job_span, name, LQ_SPAN_PRODUCER, start_us, end_us, a);

    lq_trace_new_span_id(id);
    snprintf(name, sizeof(name), "send %s", w->topics->responses);
    lq_otlp_add(w->otlp, &sp);
}

void worker_tracing_export(worker_t *w, const job_t *j, int64_t publish_start_us)
{
    int64_t end_us;
    int i;

    if (!w->otlp || !(j->trace.flags & LQ_TRACE_SAMPLED))
        return;
    end_us = lq_cluster_us();
    queue_span(w, j);
    for (i = 0; i < j->n_hist; i++)
        if (j->hist[i].start_us) /* a call was made */
            attempt_span(w, j, i);
    publish_span(w, j, publish_start_us, end_us);
    job_span(w, j, end_us);
}
