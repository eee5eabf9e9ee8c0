#include "ingest/analytics.h"

#include "ingest/admin_run.h"

/* Call an analytics function as the caller with these query parameters ($2...), in order:
 * every call takes the tenant (a platform key's choice) and the range first. */
static ingest_step_t call(req_ctx_t *c, const char *sql, const char *const *names)
{
    const char *p[6];
    int n = 0;

    for (; n < 6 && names[n]; n++)
        p[n] = ingest_ctx_query(c, names[n]);
    return ingest_run_as_caller(c, sql, n, p, 200);
}

ingest_step_t ingest_analytics_usage(req_ctx_t *c)
{
    static const char *const q[] = {"tenant",       "start_time", "end_time",
                                    "bucket_width", "group_by",   NULL};

    return call(c, "SELECT analytics_usage($1::jsonb, $2, $3, $4, $5, $6)::text", q);
}

ingest_step_t ingest_analytics_top(req_ctx_t *c)
{
    static const char *const q[] = {"tenant", "start_time", "end_time", "by", "limit", NULL};

    return call(c, "SELECT analytics_top($1::jsonb, $2, $3, $4, $5, $6)::text", q);
}

ingest_step_t ingest_analytics_errors(req_ctx_t *c)
{
    static const char *const q[] = {"tenant", "start_time", "end_time", NULL};

    return call(c, "SELECT analytics_errors($1::jsonb, $2, $3, $4)::text", q);
}

ingest_step_t ingest_analytics_latency(req_ctx_t *c)
{
    static const char *const q[] = {"tenant", "start_time", "end_time", "group_by", NULL};

    return call(c, "SELECT analytics_latency($1::jsonb, $2, $3, $4, $5)::text", q);
}
