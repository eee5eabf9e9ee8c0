/* ingest/analytics.h — the analytics API (docs/analytics.md): usage and cost by hour or day
 * and by model, project, user or key; the top spenders; error rates by provider and model;
 * latency and time-to-first-token percentiles by model. Read from the hourly rollups the
 * sinks maintain (ops/migrations/0012_analytics.sql), for the caller's tenant (any tenant,
 * or all, for a platform key) and its key's project. */
#ifndef LQ_INGEST_ANALYTICS_H
#define LQ_INGEST_ANALYTICS_H

#include "ingest/request_ctx.h"

ingest_step_t ingest_analytics_usage(req_ctx_t *c);   /* GET /v1/analytics/usage */
ingest_step_t ingest_analytics_top(req_ctx_t *c);     /* GET /v1/analytics/top */
ingest_step_t ingest_analytics_errors(req_ctx_t *c);  /* GET /v1/analytics/errors */
ingest_step_t ingest_analytics_latency(req_ctx_t *c); /* GET /v1/analytics/latency */

#endif
