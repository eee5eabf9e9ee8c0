/* ingest/ops_endpoints.h — /healthz, /readyz and /metrics: answered without a key. */
#ifndef LQ_INGEST_OPS_ENDPOINTS_H
#define LQ_INGEST_OPS_ENDPOINTS_H

#include "ingest/request_ctx.h"

ingest_step_t ingest_healthz(req_ctx_t *c);
/** 200 when Kafka and PostgreSQL are reachable, else 503 naming which is not. */
ingest_step_t ingest_readyz(req_ctx_t *c);
/** The process's metrics in Prometheus text. */
ingest_step_t ingest_metrics_page(req_ctx_t *c);

#endif
