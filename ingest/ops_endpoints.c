#include "ingest/ops_endpoints.h"

#include "common/metrics.h"

ingest_step_t ingest_healthz(req_ctx_t *c)
{
    ingest_ctx_set_json(c, 200, json_pack("{s:s}", "status", "ok"));
    return INGEST_STEP_ANSWER;
}

ingest_step_t ingest_readyz(req_ctx_t *c)
{
    int kafka = atomic_load(&c->node->kafka_ok), pg = ingest_pg_ready(c->node->pg);

    ingest_ctx_set_json(c, kafka && pg ? 200 : 503,
                        json_pack("{s:s,s:b,s:b}", "status", kafka && pg ? "ready" : "not ready",
                                  "kafka", kafka, "postgres", pg));
    return INGEST_STEP_ANSWER;
}

ingest_step_t ingest_metrics_page(req_ctx_t *c)
{
    size_t len = 0;
    char *text = lq_metrics_render(&len);

    ingest_ctx_set_text(c, 200, text, len);
    c->content_type = "text/plain; version=0.0.4";
    return INGEST_STEP_ANSWER;
}
