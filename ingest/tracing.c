#include "ingest/tracing.h"

#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/otlp.h"
#include "ingest/routes.h"

lq_err_t ingest_tracing_start(ingest_node_t *n, char *errstr, size_t errstr_size)
{
    return lq_otlp_from_settings(&n->set.common, "llmq-ingest", &n->otlp, errstr, errstr_size);
}

void ingest_tracing_stop(ingest_node_t *n)
{
    lq_otlp_stop(n->otlp, 2000);
    n->otlp = NULL;
}

/* The caller's context, or a new trace (sampled by tracing.sample_percent). */
static void begin(req_ctx_t *c)
{
    const char *tp = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "traceparent");

    c->traced = 1;
    c->trace_has_parent = tp && lq_traceparent_parse(tp, strlen(tp), &c->trace) == 0;
    if (!c->trace_has_parent)
        lq_trace_start(&c->trace, (int)c->node->set.common.tracing.sample_percent);
    lq_trace_new_span_id(c->server_span);
    lq_trace_new_span_id(c->produce_span);
    c->produce_us = lq_cluster_us();
}

rd_kafka_headers_t *ingest_tracing_headers(req_ctx_t *c)
{
    char tp[LQ_TRACEPARENT_LEN + 1];
    const char *ts;
    rd_kafka_headers_t *h;

    if (!c->traced)
        begin(c);
    h = rd_kafka_headers_new(2);
    if (!h)
        return NULL;
    lq_traceparent_of(&c->trace, c->produce_span, tp);
    rd_kafka_header_add(h, "traceparent", -1, tp, LQ_TRACEPARENT_LEN);
    ts = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "tracestate");
    if (ts && c->trace_has_parent && lq_tracestate_valid(ts, strlen(ts)))
        rd_kafka_header_add(h, "tracestate", -1, ts, (ssize_t)strlen(ts));
    return h;
}

void ingest_tracing_acked(req_ctx_t *c)
{
    c->acked_us = lq_cluster_us();
}

/* The HTTP request: the caller's span (when it sent one) is its parent. */
static void server_span(req_ctx_t *c, int64_t end_us)
{
    ingest_node_t *n = c->node;
    const char *method = c->route ? c->route->key.method : "POST";
    const char *route = c->route ? c->route->key.pattern : "";
    char name[160];
    lq_span_attr_t a[] = {
        {"http.request.method", LQ_ATTR_STR, method, 0, 0},
        {"http.route", LQ_ATTR_STR, route, 0, 0},
        {"http.response.status_code", LQ_ATTR_INT, NULL, c->status, 0},
        {"llmq.request_id", LQ_ATTR_STR, c->request_id, 0, 0},
        {"llmq.job_id", LQ_ATTR_STR, c->job_id[0] ? c->job_id : NULL, 0, 0},
        {"llmq.tenant_id", LQ_ATTR_STR, c->id.tenant_id[0] ? c->id.tenant_id : NULL, 0, 0},
        {"gen_ai.operation.name", LQ_ATTR_STR, "chat", 0, 0},
        {"gen_ai.request.model", LQ_ATTR_STR, c->model[0] ? c->model : NULL, 0, 0},
    };
    lq_otel_span_t sp = {.trace_id = c->trace.trace_id,
                         .span_id = c->server_span,
                         .parent_id = c->trace_has_parent ? c->trace.span_id : NULL,
                         .name = name,
                         .kind = LQ_SPAN_SERVER,
                         .start_us = lq_cluster_us_at(c->start_us),
                         .end_us = end_us,
                         .error = c->status >= 500,
                         .error_message = c->status >= 500 ? "answered with a server error" : NULL,
                         .attrs = a,
                         .n_attrs = sizeof(a) / sizeof(a[0])};

    snprintf(name, sizeof(name), "%s %s", method, route);
    lq_otlp_add(n->otlp, &sp);
}

/* Produce to Kafka's acknowledgement: the parent of the worker's spans. */
static void produce_span(req_ctx_t *c, int64_t end_us)
{
    ingest_node_t *n = c->node;
    char name[160];
    lq_span_attr_t a[] = {
        {"messaging.system", LQ_ATTR_STR, "kafka", 0, 0},
        {"messaging.operation.type", LQ_ATTR_STR, "send", 0, 0},
        {"messaging.destination.name", LQ_ATTR_STR, n->topics->requests, 0, 0},
        {"llmq.job_id", LQ_ATTR_STR, c->job_id, 0, 0},
    };
    lq_otel_span_t sp = {.trace_id = c->trace.trace_id,
                         .span_id = c->produce_span,
                         .parent_id = c->server_span,
                         .name = name,
                         .kind = LQ_SPAN_PRODUCER,
                         .start_us = c->produce_us,
                         .end_us = c->acked_us ? c->acked_us : end_us,
                         .error = !c->acked_us,
                         .error_message = c->acked_us ? NULL : "not acknowledged by Kafka",
                         .attrs = a,
                         .n_attrs = sizeof(a) / sizeof(a[0])};

    snprintf(name, sizeof(name), "send %s", n->topics->requests);
    lq_otlp_add(n->otlp, &sp);
}

void ingest_tracing_end(req_ctx_t *c)
{
    int64_t end_us;

    if (!c->traced || !c->node->otlp || !(c->trace.flags & LQ_TRACE_SAMPLED))
        return;
    end_us = lq_cluster_us();
    server_span(c, end_us);
    produce_span(c, end_us);
}
