#include "ingest/analytics.h"

#include "ingest/admin_run.h"

ingest_step_t ingest_analytics_usage(req_ctx_t *c)
{
    const char *p[5] = {ingest_ctx_query(c, "tenant"), ingest_ctx_query(c, "start_time"),
                        ingest_ctx_query(c, "end_time"), ingest_ctx_query(c, "bucket_width"),
                        ingest_ctx_query(c, "group_by")};

    return ingest_run_as_caller(c, "SELECT analytics_usage($1::jsonb, $2, $3, $4, $5, $6)::text", 5,
                                p, 200);
}

ingest_step_t ingest_analytics_top(req_ctx_t *c)
{
    const char *p[5] = {ingest_ctx_query(c, "tenant"), ingest_ctx_query(c, "start_time"),
                        ingest_ctx_query(c, "end_time"), ingest_ctx_query(c, "by"),
                        ingest_ctx_query(c, "limit")};

    return ingest_run_as_caller(c, "SELECT analytics_top($1::jsonb, $2, $3, $4, $5, $6)::text", 5,
                                p, 200);
}

ingest_step_t ingest_analytics_errors(req_ctx_t *c)
{
    const char *p[3] = {ingest_ctx_query(c, "tenant"), ingest_ctx_query(c, "start_time"),
                        ingest_ctx_query(c, "end_time")};

    return ingest_run_as_caller(c, "SELECT analytics_errors($1::jsonb, $2, $3, $4)::text", 3, p,
                                200);
}

ingest_step_t ingest_analytics_latency(req_ctx_t *c)
{
    const char *p[4] = {ingest_ctx_query(c, "tenant"), ingest_ctx_query(c, "start_time"),
                        ingest_ctx_query(c, "end_time"), ingest_ctx_query(c, "group_by")};

    return ingest_run_as_caller(c, "SELECT analytics_latency($1::jsonb, $2, $3, $4, $5)::text", 4,
                                p, 200);
}
